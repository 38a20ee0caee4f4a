//! `veil connect` (being written).

/// Arguments of `veil connect`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`veil connect` is not available in this build yet")
}
