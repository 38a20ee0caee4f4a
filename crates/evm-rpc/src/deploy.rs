//! `veil ledger deploy`: the ledger's dependencies, `VeilAudits` and
//! `BandwidthMarket`, then `VeilLedger` naming them as its auditor and
//! market, over JSON-RPC — the same list and constructor as the sandbox's
//! `veil_evm::ledger::deploy` (`Dependency::ALL`, `LedgerParams`) — then
//! the audits bound to the ledger (docs/market.md §5.1) and the market
//! opened with the genesis reserve and bound (§7.2).

use alloy::primitives::{Address, U256};
use veil_evm::Artifact;
use veil_evm::ledger::{self, Contracts, Dependency, LedgerParams};
use veil_evm::verifier_contract_name;
use veil_evm::{audits, market, token};
use veil_ledger::trade::{GENESIS_FLOAT, GENESIS_RATIO_PPM, GENESIS_RESERVE, trade_fee};
use veil_proofs::CircuitId;

/// The audits' epoch, in blocks: the embedded ledger's market epoch
/// (`MARKET_EPOCH_BLOCKS`).
pub const AUDIT_EPOCH_BLOCKS: u64 = veil_ledger::trade::MARKET_EPOCH_BLOCKS;
/// The first blocks of an epoch that take reveals of its seed.
pub const AUDIT_REVEAL_BLOCKS: u64 = 10;

use crate::chain::{RpcChain, RpcError};

/// A deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Artifact(#[from] veil_evm::artifact::ArtifactError),
    #[error("deploying {what}: {source}")]
    Rpc { what: String, source: RpcError },
    #[error("deploying {0}: the receipt names no contract")]
    NoAddress(String),
}

/// What [`deploy_ledger`] put on the chain.
#[derive(Debug, Clone, Copy)]
pub struct RpcDeployment {
    /// Every contract the ledger calls, the token included.
    pub contracts: Contracts,
    /// `AnswerVerifier`, which `VeilAudits` calls for challenge answers.
    pub answer_verifier: Address,
    pub ledger: Address,
    /// Whether the token is the development `TestToken` deployed here.
    pub test_token: bool,
    /// The block the ledger was created in (clients sync logs from it).
    pub block: u64,
    /// Gas of every deployment, the ledger's included.
    pub gas: u64,
}

impl RpcDeployment {
    /// The addresses as JSON (what `veil ledger deploy` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.contracts;
        serde_json::json!({
            "ledger": self.ledger.to_string(),
            "token": c.token.to_string(),
            "test_token": self.test_token,
            "poseidon_t3": c.poseidon_t3.to_string(),
            "poseidon_t4": c.poseidon_t4.to_string(),
            "tree_insert_verifier": c.tree_insert_verifier.to_string(),
            "access_verifier": c.access_verifier.to_string(),
            "access_batch_verifier": c.access_batch_verifier.to_string(),
            "withdraw_verifier": c.withdraw_verifier.to_string(),
            "settle_1_verifier": c.settle_1_verifier.to_string(),
            "settle_8_verifier": c.settle_8_verifier.to_string(),
            "settle_64_verifier": c.settle_64_verifier.to_string(),
            "audits": c.auditor.to_string(),
            "answer_verifier": self.answer_verifier.to_string(),
            "market": c.market.to_string(),
            "block": self.block,
            "gas": self.gas,
        })
    }
}

/// Deploys the ledger over `token`, or over a fresh development
/// `TestToken` (minted by the deployer) when `token` is `None`. The market
/// opens with the embedded ledger's genesis curve (`veil_ledger::trade`):
/// the deployer pays its reserve, `GENESIS_RESERVE` of `token` (minted
/// here on a `TestToken`; held already on another token, or the deployment
/// fails at `BandwidthMarket.open`).
pub async fn deploy_ledger(
    chain: &RpcChain,
    token: Option<Address>,
    challenge_window: u64,
    max_expiry_delta: u64,
) -> Result<RpcDeployment, DeployError> {
    let mut gas = 0;
    let mut put = async |what: &str, code: Vec<u8>| -> Result<(Address, u64), DeployError> {
        let r = chain.deploy(&code).await.map_err(rpc_err(what))?;
        gas += r.gas_used;
        Ok((
            r.contract.ok_or(DeployError::NoAddress(what.to_owned()))?,
            r.block,
        ))
    };
    let token_at = match token {
        Some(t) => t,
        None => {
            put(
                token::CONTRACT,
                Artifact::embedded(token::CONTRACT)?.bytecode,
            )
            .await?
            .0
        }
    };
    let answer = verifier_contract_name(CircuitId::Answer);
    let answer_verifier = put(&answer, Artifact::embedded(&answer)?.bytecode).await?.0;
    let audits_code = audits_initcode(token_at, answer_verifier)?;
    let market_code = market_initcode(token_at)?;
    let mut contracts = Contracts {
        token: token_at,
        auditor: put(audits::CONTRACT, audits_code).await?.0,
        market: put(market::MARKET, market_code).await?.0,
        ..Contracts::default()
    };
    let tree = ledger::tree_insert_verifier_name();
    for d in Dependency::ALL {
        let name = d.artifact(&tree);
        let code = Artifact::embedded(&name)?.bytecode;
        *d.slot(&mut contracts) = put(&name, code).await?.0;
    }
    let params = LedgerParams::new(contracts, challenge_window, max_expiry_delta);
    let initcode = params.initcode(&Artifact::embedded(ledger::CONTRACT)?);
    let (ledger, block) = put(ledger::CONTRACT, initcode).await?;
    for (what, to, data) in binding_calls(chain, &contracts, ledger, token.is_none()) {
        gas += chain.send(to, &data).await.map_err(rpc_err(what))?.gas_used;
    }
    Ok(RpcDeployment {
        contracts,
        answer_verifier,
        ledger,
        test_token: token.is_none(),
        block,
        gas,
    })
}

fn rpc_err(what: &str) -> impl FnOnce(RpcError) -> DeployError + '_ {
    move |source| DeployError::Rpc {
        what: what.to_owned(),
        source,
    }
}

fn audits_initcode(token: Address, answer_verifier: Address) -> Result<Vec<u8>, DeployError> {
    let args = audits::constructor(
        token,
        answer_verifier,
        AUDIT_EPOCH_BLOCKS,
        AUDIT_REVEAL_BLOCKS,
    );
    Ok([Artifact::embedded(audits::CONTRACT)?.bytecode, args].concat())
}

/// `BandwidthMarket` with the embedded ledger's genesis curve, fee and
/// market epoch (`veil_ledger::trade`).
fn market_initcode(token: Address) -> Result<Vec<u8>, DeployError> {
    let args = market::market_constructor(
        token,
        GENESIS_FLOAT.get(),
        GENESIS_RATIO_PPM,
        trade_fee().ppm(),
        veil_ledger::trade::MARKET_EPOCH_BLOCKS,
    );
    Ok([Artifact::embedded(market::MARKET)?.bytecode, args].concat())
}

/// The calls after the ledger exists: the audits bound to it, the genesis
/// reserve (minted first on a development `TestToken`) approved and paid
/// into the market, the market bound.
fn binding_calls(
    chain: &RpcChain,
    c: &Contracts,
    ledger: Address,
    test_token: bool,
) -> Vec<(&'static str, Address, Vec<u8>)> {
    let reserve = U256::from(GENESIS_RESERVE.get());
    let mut calls = vec![("VeilAudits.bind", c.auditor, audits::bind(ledger))];
    if test_token {
        calls.push((
            "TestToken.mint",
            c.token,
            token::mint(chain.address(), reserve),
        ));
    }
    calls.extend([
        ("approve", c.token, token::approve(c.market, reserve)),
        (
            "BandwidthMarket.open",
            c.market,
            market::open(GENESIS_RESERVE.get().into()),
        ),
        ("BandwidthMarket.bind", c.market, market::bind(ledger)),
    ]);
    calls
}
