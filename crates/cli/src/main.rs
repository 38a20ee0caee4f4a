//! `veil`: the command-line tool. One file per subcommand under `cmd/`.

use clap::{CommandFactory, Parser, Subcommand};

mod argv;
mod cmd;
mod config;

/// veil — anonymous paid bandwidth: shielded pool, Groth16 access tokens,
/// metered relays, batch settlement.
#[derive(Parser)]
#[command(name = "veil", version, about, long_about = None)]
struct Cli {
    /// Use the INSECURE development keys (params/dev/, made from a public
    /// seed: anyone can forge every proof). Tests and demos only; without
    /// it every command uses the ceremony keys pinned in params/.
    #[arg(long, global = true)]
    dev_keys: bool,
    /// Read the command's flags from a TOML file: each key is a long flag
    /// (`price-per-kib = 2`, switches `true`/`false`, repeated flags as
    /// arrays); a flag given on the command line replaces its key, unknown
    /// keys are refused. See docs/operations.md.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Log lines on stderr as text, or as one JSON object per line for a
    /// log shipper. The privacy rules of docs/protocol.md §9.2 (C10) hold in both.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Groth16 keys: install a ceremony's (--from-ceremony), re-check them
    /// (--verify), or make the INSECURE development keys (--dev).
    Setup(cmd::setup::Args),
    /// Measure constraints, setup/prove/verify times and sizes.
    Bench(cmd::bench::Args),
    /// Run or inspect the settlement ledger.
    #[command(subcommand)]
    Ledger(cmd::ledger::Command),
    /// Run a bandwidth node.
    #[command(subcommand)]
    Node(cmd::node::Command),
    /// List the nodes registered on a ledger: terms, endpoint, capacity.
    Nodes(cmd::nodes::Args),
    /// Manage a wallet: keys, notes, deposits, withdrawals.
    #[command(subcommand)]
    Wallet(cmd::wallet::Command),
    /// Open an anonymous session with a node and serve a local SOCKS5 proxy.
    Connect(cmd::connect::Args),
    /// Buy and inspect vouchers (unlinkable prepaid credit at one node).
    #[command(subcommand)]
    Voucher(cmd::voucher::Command),
    /// Run ledger, node and clients end to end on this machine.
    Demo(cmd::demo::Args),
    /// Export circuits, keys, witnesses and proofs in snarkjs/circom formats.
    #[command(subcommand)]
    Export(cmd::export::Command),
    /// A Groth16 ceremony's phase 2 (snarkjs .zkey): new, contribute,
    /// beacon, verify, finalize.
    #[command(subcommand)]
    Ceremony(cmd::ceremony::Command),
    /// The bandwidth market: the bonding curve and the invisible hand.
    #[command(subcommand)]
    Market(cmd::market::Command),
    /// Audit nodes as a staked monitor: register, show, run, target.
    #[command(subcommand)]
    Monitor(cmd::monitor::Command),
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr at `$RUST_LOG`, else at `default` (a node's failed
/// settlement is a warning an operator must see), in `format`.
fn init_logging(default: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

fn main() -> std::process::ExitCode {
    if let Some(flag) = argv::secret_flag(std::env::args_os().skip(1)) {
        eprintln!("{}", argv::refusal(flag));
        // clap's exit code for a usage error.
        return std::process::ExitCode::from(2);
    }
    let args = match config::expand(std::env::args_os().collect(), &Cli::command()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    // Long-running services log what they do; other commands, and every
    // dependency, only warnings (a dependency's info events flooded a
    // node's stderr and stalled it: tests/e2e_connect.rs).
    let servers = matches!(cli.command, Command::Node(_) | Command::Ledger(_));
    let level = if servers {
        "warn,veil_node=info,veil_ledger=info"
    } else {
        "warn"
    };
    init_logging(level, cli.log_format);
    cmd::keys::choose(cli.dev_keys);
    let result = match cli.command {
        Command::Setup(a) => cmd::setup::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Ledger(c) => cmd::ledger::run(c),
        Command::Node(c) => cmd::node::run(c),
        Command::Wallet(c) => cmd::wallet::run(c),
        Command::Connect(a) => cmd::connect::run(a),
        Command::Voucher(c) => cmd::voucher::run(c),
        Command::Nodes(a) => cmd::nodes::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Export(c) => cmd::export::run(c),
        Command::Ceremony(c) => cmd::ceremony::run(c),
        Command::Market(c) => cmd::market::run(c),
        Command::Monitor(c) => cmd::monitor::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, outermost first, joined by `: `. A library
/// error that already shows its source in its own message (`"{path}:
/// {source}"`) is not followed by that source again.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cause once, in order, even when a layer's message already
    /// ends with its source's.
    #[test]
    fn an_error_report_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("ledger: {0}")]
        struct Shows(#[source] std::io::Error);
        let io = || std::io::Error::other("stake locked until height 7");
        let e = anyhow::Error::new(Shows(io())).context("releasing the node's stake");
        assert_eq!(
            report(&e),
            "releasing the node's stake: ledger: stake locked until height 7"
        );
        let plain = anyhow::Error::new(io()).context("reading the wallet");
        assert_eq!(
            report(&plain),
            "reading the wallet: stake locked until height 7"
        );
    }

    /// docs/examples/node.toml parses against `veil node serve`'s real
    /// flags: the annotated example cannot drift from the command.
    #[test]
    fn the_example_node_config_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/node.toml");
        let args = ["veil", "node", "serve", "--config", path].map(std::ffi::OsString::from);
        let expanded = config::expand(args.to_vec(), &Cli::command()).expect("valid config");
        assert!(expanded.len() > args.len() + 10, "every key became a flag");
        let cli = Cli::try_parse_from(expanded).expect("clap accepts every key");
        assert!(matches!(cli.command, Command::Node(_)));
    }

    /// docs/examples/ledger.toml parses against `veil ledger serve`'s flags.
    #[test]
    fn the_example_ledger_config_is_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/examples/ledger.toml"
        );
        let args = ["veil", "ledger", "serve", "--config", path].map(std::ffi::OsString::from);
        let expanded = config::expand(args.to_vec(), &Cli::command()).expect("valid config");
        assert!(
            expanded.iter().any(|a| a == "--metrics=127.0.0.1:9740"),
            "{expanded:?}"
        );
        let cli = Cli::try_parse_from(expanded).expect("clap accepts every key");
        assert!(matches!(cli.command, Command::Ledger(_)));
    }
}
