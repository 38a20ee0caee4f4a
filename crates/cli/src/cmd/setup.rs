//! `veil setup` (being written).

/// Arguments of `veil setup`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`veil setup` is not available in this build yet")
}
