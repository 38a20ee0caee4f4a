//! `veil wallet …` (being written).

/// Subcommands of `veil wallet`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until this subcommand lands.
    Placeholder,
}

pub fn run(_cmd: Command) -> anyhow::Result<()> {
    anyhow::bail!("`veil wallet` is not available in this build yet")
}
