//! `veil ledger …` (being written).

/// Subcommands of `veil ledger`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until this subcommand lands.
    Placeholder,
}

pub fn run(_cmd: Command) -> anyhow::Result<()> {
    anyhow::bail!("`veil ledger` is not available in this build yet")
}
