//! `veil node …` (being written).

/// Subcommands of `veil node`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until this subcommand lands.
    Placeholder,
}

pub fn run(_cmd: Command) -> anyhow::Result<()> {
    anyhow::bail!("`veil node` is not available in this build yet")
}
