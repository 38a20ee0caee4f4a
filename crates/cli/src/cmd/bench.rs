//! `veil bench` (being written).

/// Arguments of `veil bench`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`veil bench` is not available in this build yet")
}
