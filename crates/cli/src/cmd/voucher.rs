//! `veil voucher …` (being written).

/// Subcommands of `veil voucher`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until this subcommand lands.
    Placeholder,
}

pub fn run(_cmd: Command) -> anyhow::Result<()> {
    anyhow::bail!("`veil voucher` is not available in this build yet")
}
