//! `veil demo` (being written).

/// Arguments of `veil demo`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`veil demo` is not available in this build yet")
}
