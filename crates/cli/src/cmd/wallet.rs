//! `veil wallet …`: keys, notes, deposits, withdrawals (`docs/client.md`).
//!
//! Secrets never come from the command line (adversarial F3): a spending
//! key is generated, or read from a 0600 file, or from stdin. Amounts are
//! parsed strictly (F1); hex strictly (F2).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use veil_client::amount::parse_positive_amount;
use veil_client::fsutil::read_secret_file;
use veil_client::sync::{LocalTree, sync_with};
use veil_client::wallet::{Wallet, parse_field_hex};
use veil_ledger::{EmbeddedLedger, LedgerApi, RemoteLedger};
use veil_primitives::Fr;
use veil_primitives::ids::AccountId;
use veil_proofs::{CircuitId, Prover};

use super::progress::Reporter;

/// Options shared by every subcommand.
#[derive(clap::Args)]
pub struct WalletOpts {
    /// The wallet file (created with mode 0600; a group/world-readable one is refused).
    #[arg(long)]
    wallet: PathBuf,
}

/// Ledger selection.
#[derive(clap::Args)]
pub struct LedgerOpts {
    /// `http://HOST:PORT` (a `veil ledger serve`), `embedded:PATH` (a redb
    /// file) or `evm:URL#ADDRESS[@BLOCK]` (the ledger contract; the
    /// wallet's EVM key file is `$VEIL_EVM_KEY_FILE`).
    #[arg(long)]
    ledger: String,
}

/// Subcommands of `veil wallet`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a wallet (a fresh spending key, or one from a 0600 file or stdin).
    New {
        #[command(flatten)]
        w: WalletOpts,
        /// Read the spending key (64 hex digits, optional 0x) from this 0600 file.
        #[arg(long, conflicts_with = "key_stdin")]
        key_file: Option<PathBuf>,
        /// Read the spending key from standard input.
        #[arg(long)]
        key_stdin: bool,
    },
    /// Print the wallet's public account (deposit source, withdraw default).
    Address {
        #[command(flatten)]
        w: WalletOpts,
    },
    /// Deposit AMOUNT from the wallet's account into the pool (signed by
    /// the wallet's account key).
    Deposit {
        #[command(flatten)]
        w: WalletOpts,
        #[command(flatten)]
        l: LedgerOpts,
        /// Base units (plain decimal digits).
        amount: String,
        /// DEVELOPMENT ONLY: first mint the shortfall with the ledger's faucet
        /// (a ledger run with `--dev-faucet`; enables it on an embedded one).
        #[arg(long)]
        dev_faucet: bool,
    },
    /// Sync, then print spendable and pending value.
    Balance {
        #[command(flatten)]
        w: WalletOpts,
        #[command(flatten)]
        l: LedgerOpts,
    },
    /// Download new commitments; find deposits, change and refunds.
    Sync {
        #[command(flatten)]
        w: WalletOpts,
        #[command(flatten)]
        l: LedgerOpts,
    },
    /// Spend AMOUNT from one note to a public account (withdraw proof).
    Withdraw {
        #[command(flatten)]
        w: WalletOpts,
        #[command(flatten)]
        l: LedgerOpts,
        /// Base units.
        amount: String,
        /// Recipient account (64 hex digits); default: this wallet's account.
        #[arg(long)]
        to: Option<String>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cmd))
}

/// A ledger given on the command line.
// One per process, passed by value to generic code: boxing would only
// move the size behind a pointer the generic code cannot take.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum AnyLedger {
    Remote(RemoteLedger),
    Embedded(EmbeddedLedger),
    Evm(veil_evm_rpc::EvmLedger),
}

/// `$body` with `$l` bound to the ledger inside `$any`, whichever it is.
macro_rules! with_ledger {
    ($any:expr, $l:ident => $body:expr) => {
        match $any {
            $crate::cmd::wallet::AnyLedger::Remote($l) => $body,
            $crate::cmd::wallet::AnyLedger::Embedded($l) => $body,
            $crate::cmd::wallet::AnyLedger::Evm($l) => $body,
        }
    };
}
pub(crate) use with_ledger;

/// Opens `--ledger`: a URL, `embedded:PATH` or `evm:URL#ADDRESS[@BLOCK]`.
pub async fn open_ledger(spec: &str) -> anyhow::Result<AnyLedger> {
    open_ledger_with(spec, false).await
}

/// Opens `--ledger`; an embedded one with the development faucet if `dev_faucet`.
pub(crate) async fn open_ledger_with(spec: &str, dev_faucet: bool) -> anyhow::Result<AnyLedger> {
    if let Some(path) = spec.strip_prefix("embedded:") {
        let store = super::keys::store()?;
        let config = veil_ledger::LedgerConfig {
            dev_faucet,
            ..Default::default()
        };
        let verifier =
            veil_ledger::verifier::Groth16Verifier::from_store(&store, &config.settle_batch_sizes)?;
        let l = EmbeddedLedger::open(
            std::path::Path::new(path),
            std::sync::Arc::new(verifier),
            config,
        )
        .with_context(|| format!("opening ledger {path}"))?;
        Ok(AnyLedger::Embedded(l))
    } else if spec.starts_with(veil_evm_rpc::EvmLedgerSpec::PREFIX) {
        let key = super::ledger_evm::key_from_env()?;
        let l = super::ledger_evm::open_as(spec, &key, dev_faucet, true).await?;
        Ok(AnyLedger::Evm(l))
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        Ok(AnyLedger::Remote(
            RemoteLedger::connect(spec)
                .await
                .with_context(|| format!("ledger {spec}"))?,
        ))
    } else {
        bail!("--ledger must be http://HOST:PORT, embedded:PATH or evm:URL#ADDRESS[@BLOCK]")
    }
}

fn parse_key_text(text: &str) -> anyhow::Result<Fr> {
    let t = text.strip_suffix('\n').unwrap_or(text);
    parse_field_hex(t).map_err(|e| anyhow::anyhow!("spending key: {e}"))
}

async fn run_async(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::New {
            w,
            key_file,
            key_stdin,
        } => new_wallet(&w.wallet, key_file.as_deref(), key_stdin),
        Command::Address { w } => {
            let wallet = Wallet::open(&w.wallet)?;
            println!("{}", hex::encode(wallet.account().to_bytes()));
            Ok(())
        }
        Command::Deposit {
            w,
            l,
            amount,
            dev_faucet,
        } => deposit(&w.wallet, &l.ledger, &amount, dev_faucet).await,
        Command::Balance { w, l } | Command::Sync { w, l } => {
            sync_wallet(&w.wallet, &l.ledger).await
        }
        Command::Withdraw { w, l, amount, to } => {
            withdraw_cmd(&w.wallet, &l.ledger, &amount, to.as_deref()).await
        }
    }
}

/// `veil wallet new`: the spending key from a file, stdin (never argv) or
/// the OS; a fresh account seed from the OS.
fn new_wallet(path: &Path, key_file: Option<&Path>, key_stdin: bool) -> anyhow::Result<()> {
    let sk = match (key_file, key_stdin) {
        (Some(p), _) => {
            let bytes = read_secret_file(p, 4096)?;
            parse_key_text(std::str::from_utf8(&bytes).context("key file is not UTF-8")?)?
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().take(4096).read_to_string(&mut s)?;
            parse_key_text(&s)?
        }
        (None, false) => veil_primitives::keys::SpendingKey::random(&mut OsRng).inner(),
    };
    let mut account_seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut OsRng, &mut account_seed);
    let wallet = Wallet::create(path, sk, account_seed)?;
    println!("created {} (mode 0600)", wallet.path().display());
    println!("account {}", wallet.account());
    Ok(())
}

/// `veil wallet deposit`.
async fn deposit(path: &Path, ledger: &str, amount: &str, dev_faucet: bool) -> anyhow::Result<()> {
    let amount = parse_positive_amount(amount)?;
    let mut wallet = Wallet::open(path)?;
    if dev_faucet {
        eprintln!("DEVELOPMENT: the account is funded by the ledger's faucet");
    }
    let leaf = with_ledger!(open_ledger_with(ledger, dev_faucet).await?, x => {
        veil_client::ops::deposit(&x, &mut wallet, amount, dev_faucet, &mut OsRng).await?
    });
    println!(
        "deposited {amount} from account {} (leaf {leaf})",
        wallet.account()
    );
    Ok(())
}

/// `veil wallet balance` / `sync`.
async fn sync_wallet(path: &Path, ledger: &str) -> anyhow::Result<()> {
    let mut wallet = Wallet::open(path)?;
    let mut tree = LocalTree::new();
    let progress = Reporter::new(false);
    let r = with_ledger!(open_ledger(ledger).await?, x => sync_with(&x, &mut wallet, &mut tree, &progress).await?);
    progress.finish();
    println!(
        "leaves {}, notes found {}, refunds found {:?}\nbalance {} (+{} pending)",
        r.leaves,
        r.notes_found,
        r.refunds_found,
        wallet.balance(),
        wallet.pending()
    );
    if r.refunds_recovered_by_scan > 0 {
        println!(
            "{} refund(s) recovered by scanning every possible value (receipts were not saved)",
            r.refunds_recovered_by_scan
        );
    }
    for s in &r.scans_refused {
        eprintln!("warning: {s}");
    }
    Ok(())
}

/// `veil wallet withdraw` (to the wallet's own account unless `--to`).
async fn withdraw_cmd(
    path: &Path,
    ledger: &str,
    amount: &str,
    to: Option<&str>,
) -> anyhow::Result<()> {
    let amount = parse_positive_amount(amount)?;
    let mut wallet = Wallet::open(path)?;
    let recipient = match to {
        Some(h) => {
            AccountId::from_fr(parse_field_hex(h).map_err(|e| anyhow::anyhow!("--to: {e}"))?)
        }
        None => wallet.account(),
    };
    let store = super::keys::store()?;
    let prover = Prover::from_store(&store, &[CircuitId::Withdraw], None)?;
    let mut tree = LocalTree::new();
    with_ledger!(open_ledger(ledger).await?, x => {
        withdraw(&x, &prover, &mut wallet, &mut tree, amount, recipient).await?
    });
    println!(
        "withdrew {amount}; balance {} (+{} pending)",
        wallet.balance(),
        wallet.pending()
    );
    Ok(())
}

async fn withdraw<L: LedgerApi>(
    ledger: &L,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    amount: u64,
    recipient: AccountId,
) -> anyhow::Result<()> {
    let progress = Reporter::new(false);
    sync_with(ledger, wallet, tree, &progress).await?;
    progress.stage("withdraw: proving");
    veil_client::ops::withdraw(ledger, prover, wallet, tree, amount, recipient, &mut OsRng).await?;
    sync_with(ledger, wallet, tree, &progress).await?;
    progress.finish();
    Ok(())
}
