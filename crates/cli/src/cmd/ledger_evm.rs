//! `veil ledger deploy` and `veil ledger evm-key`: the ledger contract on an
//! EVM chain (docs/evm.md §6). Who may deploy: anyone with a funded key;
//! the deployment has no owner and no admin function, so the deployer gains
//! no power over the ledger (the development `TestToken`'s minter is the
//! deployer: development only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use veil_evm_rpc::{EvmLedger, EvmLedgerSpec, RpcChain, Sequencer, deploy_ledger, key};
use veil_proofs::{CircuitId, Prover};

/// The environment variable naming the key file a wallet or client sends
/// its transactions with on an `evm:` ledger (docs/evm.md §8.1).
pub const KEY_ENV: &str = "VEIL_EVM_KEY_FILE";

/// Arguments of `veil ledger deploy`.
#[derive(clap::Args)]
pub struct DeployArgs {
    /// JSON-RPC endpoint, e.g. http://127.0.0.1:8545
    #[arg(long)]
    pub rpc: String,
    /// secp256k1 key file of the deploying account (0x + 64 hex digits,
    /// mode 0600; `veil ledger evm-key` writes one).
    #[arg(long)]
    pub key_file: PathBuf,
    /// The ERC-20 value token. Without it a DEVELOPMENT `TestToken` is
    /// deployed too, mintable by the deployer.
    #[arg(long)]
    pub token: Option<String>,
    /// Blocks after an escrow's expiry during which its node may settle.
    #[arg(long, default_value_t = 20)]
    pub challenge_window: u64,
    /// Largest `expiry − height` an access token may ask for, in blocks.
    #[arg(long, default_value_t = 10_000)]
    pub max_expiry_delta: u64,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let token = match &args.token {
        Some(t) => Some(
            t.parse()
                .with_context(|| format!("--token {t:?} is not an address"))?,
        ),
        None => None,
    };
    let signer = key::load(&args.key_file)?;
    let chain = RpcChain::connect(&args.rpc, signer)
        .await
        .with_context(|| format!("connecting to {}", args.rpc))?;
    if token.is_none() {
        eprintln!("deploy: no --token: deploying a DEVELOPMENT TestToken (its deployer mints)");
    }
    let d = deploy_ledger(&chain, token, args.challenge_window, args.max_expiry_delta).await?;
    let mut out = d.to_json();
    let spec = EvmLedgerSpec {
        rpc: args.rpc.clone(),
        ledger: d.ledger,
        from_block: d.block,
    };
    out["ledger_spec"] = spec.to_string().into();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// The key file of `$VEIL_EVM_KEY_FILE`.
pub fn key_from_env() -> anyhow::Result<PathBuf> {
    std::env::var_os(KEY_ENV)
        .map(PathBuf::from)
        .with_context(|| {
            format!(
                "an evm: ledger is used through a key of your own: set {KEY_ENV} to a 0600 key \
             file (`veil ledger evm-key --out F`, then fund its address)"
            )
        })
}

/// Opens `--ledger evm:URL#ADDRESS[@BLOCK]` acting as the key in
/// `key_file`. `dev_faucet`: the key is the development token's minter
/// (`veil wallet deposit --dev-faucet`). `sequence`: appends waiting leaves
/// before a sync reads past the tree (a wallet; loads the `tree_insert_64`
/// proving key).
pub async fn open_as(
    spec: &str,
    key_file: &Path,
    dev_faucet: bool,
    sequence: bool,
) -> anyhow::Result<EvmLedger> {
    let spec = EvmLedgerSpec::parse(spec)?;
    let signer = key::load(key_file)?;
    let chain = RpcChain::connect(&spec.rpc, signer)
        .await
        .with_context(|| format!("connecting to {}", spec.rpc))?;
    let mut ledger = EvmLedger::connect(chain.clone(), &spec)
        .await
        .with_context(|| format!("the ledger contract at {}", spec.ledger))?;
    if dev_faucet {
        ledger = ledger.with_faucet(chain);
    }
    if sequence {
        ledger = ledger.with_sequencer(sequencer().await?);
    }
    Ok(ledger)
}

/// A sequencer with the `tree_insert_64` proving key of the key store.
pub async fn sequencer() -> anyhow::Result<Arc<Sequencer>> {
    let store = super::keys::store()?;
    let prover = tokio::task::spawn_blocking(move || {
        Prover::from_store(&store, &[CircuitId::TreeInsert64], None)
    })
    .await??;
    Ok(Arc::new(Sequencer::new(Arc::new(prover))))
}

/// A prover with the `answer` proving key of the key store: a node's EVM
/// handle carries its key's challenge answers as proofs (docs/evm.md §8.6).
pub async fn answer_prover() -> anyhow::Result<Arc<Prover>> {
    let store = super::keys::store()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Answer], None))
            .await??;
    Ok(Arc::new(prover))
}

pub fn new_key(out: &Path) -> anyhow::Result<()> {
    let signer = key::Signer::random();
    key::write_new(out, &signer)?;
    println!("{}", signer.address());
    Ok(())
}

/// Where the node operator's EVM key is: `$VEIL_EVM_KEY_FILE`, else
/// `evm.key` in the node directory.
fn node_key_path(dir: &Path) -> PathBuf {
    std::env::var_os(KEY_ENV).map_or_else(|| dir.join("evm.key"), PathBuf::from)
}

/// The node operator's existing EVM key ([`node_key_path`]), for a
/// command acting for a node that registered with it (`veil node
/// rotate-tls`): never created, a new key would not be the operator.
pub fn existing_node_key_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = node_key_path(dir);
    if !path.exists() {
        bail!(
            "no EVM key at {}: the node's operator key (set {KEY_ENV}, as for `veil node serve`)",
            path.display()
        );
    }
    Ok(path)
}

/// The node operator's EVM key ([`node_key_path`]), created (0600) on
/// first use; its address must be funded with gas money and the stake.
pub fn node_key_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = node_key_path(dir);
    if std::env::var_os(KEY_ENV).is_none() && !path.exists() {
        let signer = key::Signer::random();
        key::write_new(&path, &signer)?;
        eprintln!(
            "created {} (address {}): fund it",
            path.display(),
            signer.address()
        );
    }
    Ok(path)
}
