//! `veil ledger deploy` and `veil ledger evm-key`: the ledger contract on an
//! EVM chain (docs/evm.md §6). Who may deploy: anyone with a funded key;
//! the deployment has no owner and no admin function, so the deployer gains
//! no power over the ledger (the development `TestToken`'s minter is the
//! deployer: development only).

use std::path::{Path, PathBuf};

use anyhow::Context;
use veil_evm_rpc::{RpcChain, deploy_ledger, key};

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
    println!("{}", serde_json::to_string_pretty(&d.to_json())?);
    Ok(())
}

pub fn new_key(out: &Path) -> anyhow::Result<()> {
    let signer = key::Signer::random();
    key::write_new(out, &signer)?;
    println!("{}", signer.address());
    Ok(())
}
