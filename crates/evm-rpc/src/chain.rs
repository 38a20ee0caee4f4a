//! One account on one EVM chain over JSON-RPC: read-only calls and
//! transactions that are signed here and broadcast as raw bytes.
//!
//! **Retries never double.** A transaction gets its nonce, gas and fees
//! once, is signed once, and from then on only those bytes are broadcast:
//! if it is dropped (or the answer is lost) they are broadcast again and
//! the receipt is looked up by their hash. A second copy of a signed
//! transaction cannot apply twice (the nonce is spent), and nothing is
//! ever re-signed with a fresh nonce. A call the chain would revert is
//! refused before anything is signed: gas estimation runs it and returns
//! the contract's revert data ([`RpcError::Reverted`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::consensus::TxEnvelope;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::simulate::{SimBlock, SimulatePayload};
use alloy::rpc::types::{BlockOverrides, Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError as AlloyRpcError, TransportErrorKind};
use veil_evm::Event;

/// A JSON-RPC request failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The endpoint URL does not parse.
    #[error("bad RPC URL {0}")]
    Url(String),
    /// The node could not be reached or answered with an error.
    #[error("JSON-RPC: {0}")]
    Transport(String),
    /// The contract reverted with this data (a custom error of the
    /// ledger, decoded by `veil_evm::ledger::LedgerRevert`).
    #[error("reverted: 0x{}", hex::encode(.data))]
    Reverted { data: Vec<u8> },
    /// Mined, but reverted (the state changed between estimation and
    /// inclusion).
    #[error("transaction {hash} was mined and reverted")]
    MinedReverted { hash: B256 },
    /// No receipt within the timeout, after broadcasting the same bytes
    /// again; it may still be mined (the caller may wait for `hash`).
    #[error("transaction {hash} not mined within {secs} s")]
    Timeout { hash: B256, secs: u64 },
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
    /// Transactions of this account stayed pending (sent before a restart,
    /// or by another process with the same key) for the whole timeout.
    #[error("{count} transaction(s) of this account pending for {secs} s")]
    Pending { count: u64, secs: u64 },
    /// The account cannot pay the transaction's gas at the current fees.
    #[error("the account holds {have} wei, the transaction may cost {need}: fund it first")]
    InsufficientFunds { have: U256, need: U256 },
}

impl From<AlloyRpcError<TransportErrorKind>> for RpcError {
    fn from(e: AlloyRpcError<TransportErrorKind>) -> Self {
        match e.as_error_resp().and_then(|p| p.as_revert_data()) {
            Some(data) => RpcError::Reverted {
                data: data.to_vec(),
            },
            None => RpcError::Transport(e.to_string()),
        }
    }
}

/// A mined transaction that succeeded.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
    /// A deployment's new contract.
    pub contract: Option<Address>,
    /// Its logs, as the sandbox reports them (`veil_evm::Event`).
    pub logs: Vec<Event>,
}

/// One signing account on one chain.
#[derive(Clone)]
pub struct RpcChain {
    provider: DynProvider,
    wallet: EthereumWallet,
    /// The key, for [`RpcChain::derive_secret`].
    signer: PrivateKeySigner,
    from: Address,
    chain_id: u64,
    /// Held from choosing a nonce until the transaction is mined, so that
    /// clones sending at once (a node opening several sessions) never
    /// sign two transactions with one nonce.
    sending: Arc<tokio::sync::Mutex<()>>,
    /// How long to wait for a receipt before broadcasting again.
    pub rebroadcast_after: Duration,
    /// How long to wait for a receipt in all.
    pub timeout: Duration,
}

impl RpcChain {
    /// Connects to `url` as `signer`.
    pub async fn connect(url: &str, signer: PrivateKeySigner) -> Result<Self, RpcError> {
        let url = url.parse().map_err(|_| RpcError::Url(url.to_owned()))?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url)
            .erased();
        let chain_id = provider.get_chain_id().await?;
        Ok(RpcChain {
            provider,
            from: signer.address(),
            wallet: EthereumWallet::from(signer.clone()),
            signer,
            chain_id,
            sending: Arc::new(tokio::sync::Mutex::new(())),
            rebroadcast_after: Duration::from_secs(4),
            timeout: Duration::from_secs(60),
        })
    }

    /// The signing account.
    pub fn address(&self) -> Address {
        self.from
    }

    /// A secret only this key can compute:
    /// `keccak256(len(domain) ‖ domain ‖ key ‖ data)`, one per domain and
    /// data (an audit seed's secret per epoch, docs/market.md §5.1), so
    /// nothing needs storing between runs.
    pub fn derive_secret(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        let mut pre = Vec::with_capacity(8 + domain.len() + 32 + data.len());
        pre.extend_from_slice(&(domain.len() as u64).to_be_bytes());
        pre.extend_from_slice(domain);
        pre.extend_from_slice(&self.signer.to_bytes()[..]);
        pre.extend_from_slice(data);
        alloy::primitives::keccak256(&pre).0
    }

    /// The underlying provider (for node-specific requests).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub async fn block_number(&self) -> Result<u64, RpcError> {
        Ok(self.provider.get_block_number().await?)
    }

    /// DEVELOPMENT ONLY: asks the node to mine `blocks` empty blocks now
    /// (`anvil_mine`; a production chain refuses the method).
    pub async fn mine(&self, blocks: u64) -> Result<(), RpcError> {
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_mine".into(), (blocks,))
            .await?;
        Ok(())
    }

    /// Whether the node mines on request ([`RpcChain::mine`]): anvil names
    /// itself in `web3_clientVersion`.
    pub async fn mines_on_request(&self) -> Result<bool, RpcError> {
        let v: String = self
            .provider
            .raw_request("web3_clientVersion".into(), ())
            .await?;
        Ok(v.to_ascii_lowercase().starts_with("anvil"))
    }

    /// `eth_call` of `data` at `to` from this account, at the latest block.
    pub async fn call(&self, to: Address, data: &[u8]) -> Result<Vec<u8>, RpcError> {
        let tx = self.request(TxKind::Call(to), data);
        Ok(self.provider.call(tx).await?.to_vec())
    }

    /// Simulates `calls` in order from this account in the block after the
    /// latest: [`RpcChain::simulate_blocks`] with one block.
    pub async fn simulate(&self, calls: &[(Address, &[u8])]) -> Result<(), RpcError> {
        self.simulate_blocks(&[calls.to_vec()]).await
    }

    /// Simulates `blocks` of calls from this account (`eth_simulateV1`),
    /// the first in the block after the latest and each in the next
    /// (numbers set: anvil would otherwise reuse the latest's), each call
    /// seeing the state the ones before it left: the first refused call's
    /// revert data, or `Ok`. Nothing is sent. Used where a call needs
    /// earlier ones (an `approve`, a registration's commitment a block
    /// before) that must not be sent if the later call would be refused.
    pub async fn simulate_blocks(&self, blocks: &[Vec<(Address, &[u8])>]) -> Result<(), RpcError> {
        let latest = self.block_number().await?;
        let mut payload = SimulatePayload::default();
        for (n, calls) in (1u64..).zip(blocks) {
            let overrides = BlockOverrides {
                number: Some(U256::from(latest.saturating_add(n))),
                ..Default::default()
            };
            let first = SimBlock::default().with_block_overrides(overrides);
            payload = payload.extend(calls.iter().fold(first, |b, (to, data)| {
                b.call(self.request(TxKind::Call(*to), data))
            }));
        }
        let blocks = self.provider.simulate(&payload).await?;
        for result in blocks.iter().flat_map(|b| &b.calls) {
            if !result.status {
                let data = match &result.error {
                    Some(e) => e.data.clone().unwrap_or_default().to_vec(),
                    None => result.return_data.to_vec(),
                };
                let data = if data.is_empty() {
                    result.return_data.to_vec()
                } else {
                    data
                };
                return Err(RpcError::Reverted { data });
            }
        }
        Ok(())
    }

    /// Sends `data` to `to` and waits for it to be mined.
    pub async fn send(&self, to: Address, data: &[u8]) -> Result<Receipt, RpcError> {
        let _one_at_a_time = self.sending.lock().await;
        let signed = self.sign(TxKind::Call(to), data).await?;
        self.broadcast(&signed).await
    }

    /// Deploys `initcode`; the receipt names the new contract.
    pub async fn deploy(&self, initcode: &[u8]) -> Result<Receipt, RpcError> {
        let _one_at_a_time = self.sending.lock().await;
        let signed = self.sign(TxKind::Create, initcode).await?;
        self.broadcast(&signed).await
    }

    /// Sends `wei` of the chain's own coin to `to` (gas money for another
    /// key, on a development chain).
    pub async fn send_value(&self, to: Address, wei: U256) -> Result<Receipt, RpcError> {
        let _one_at_a_time = self.sending.lock().await;
        let tx = self.request(TxKind::Call(to), &[]).with_value(wei);
        let signed = self.sign_request(tx).await?;
        self.broadcast(&signed).await
    }

    /// The hash of block `n`, `None` if the chain has no such block.
    pub async fn block_hash(&self, n: u64) -> Result<Option<B256>, RpcError> {
        let block = self.provider.get_block_by_number(n.into()).await?;
        Ok(block.map(|b| b.header.hash))
    }

    /// The chain coin balance of `who`, in wei.
    pub async fn balance_of(&self, who: Address) -> Result<U256, RpcError> {
        Ok(self.provider.get_balance(who).await?)
    }

    /// The number of transactions `who` has sent (mined).
    pub async fn nonce_of(&self, who: Address) -> Result<u64, RpcError> {
        Ok(self.provider.get_transaction_count(who).await?)
    }

    /// Waits until no transaction of this account is pending (its pending
    /// nonce equals its mined one), at most [`RpcChain::timeout`]. Called
    /// before a call is simulated: a transaction sent before a restart (a
    /// settlement, docs/evm.md §8.3) is mined or dropped first, so the
    /// simulation sees its effect and a retry sends nothing.
    pub async fn wait_until_idle(&self) -> Result<(), RpcError> {
        let start = Instant::now();
        loop {
            let mined = self.provider.get_transaction_count(self.from).await?;
            let pending = self
                .provider
                .get_transaction_count(self.from)
                .pending()
                .await?;
            if pending <= mined {
                return Ok(());
            }
            if start.elapsed() >= self.timeout {
                return Err(RpcError::Pending {
                    count: pending - mined,
                    secs: self.timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The logs of `address` in blocks `from..=to`, with their block
    /// numbers, in chain order.
    pub async fn logs(
        &self,
        address: Address,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Event)>, RpcError> {
        let filter = Filter::new().address(address).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await?;
        Ok(logs
            .into_iter()
            .map(|l| {
                let block = l.block_number.unwrap_or_default();
                (block, event(&l.inner))
            })
            .collect())
    }

    /// Estimates (a revert is refused here, with its data), fills the
    /// nonce and fees and signs: the bytes every broadcast sends.
    pub async fn sign(&self, kind: TxKind, data: &[u8]) -> Result<TxEnvelope, RpcError> {
        self.sign_request(self.request(kind, data)).await
    }

    async fn sign_request(&self, tx: TransactionRequest) -> Result<TxEnvelope, RpcError> {
        let gas = self.provider.estimate_gas(tx.clone()).await?;
        let nonce = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await?;
        let fees = self.provider.estimate_eip1559_fees().await?;
        // A node may queue a transaction its sender cannot pay for (anvil
        // does) and never mine it: refuse it here instead of waiting.
        let need = U256::from(gas) * U256::from(fees.max_fee_per_gas);
        let have = self.provider.get_balance(self.from).await?;
        if have < need {
            return Err(RpcError::InsufficientFunds { have, need });
        }
        let tx = tx
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        tx.build(&self.wallet)
            .await
            .map_err(|e| RpcError::Sign(e.to_string()))
    }

    /// Broadcasts `signed` and waits for its receipt, broadcasting the same
    /// bytes again every [`RpcChain::rebroadcast_after`] until
    /// [`RpcChain::timeout`].
    pub async fn broadcast(&self, signed: &TxEnvelope) -> Result<Receipt, RpcError> {
        let raw = signed.encoded_2718();
        let hash = *signed.tx_hash();
        let start = Instant::now();
        loop {
            if let Err(e) = self.provider.send_raw_transaction(&raw).await {
                // Refused for another reason than being known or mined
                // already (its nonce spent): that will not change.
                if !is_known(&e) && self.provider.get_transaction_receipt(hash).await?.is_none() {
                    return Err(e.into());
                }
            }
            let round = Instant::now();
            while round.elapsed() < self.rebroadcast_after {
                if let Some(r) = self.provider.get_transaction_receipt(hash).await? {
                    return receipt(hash, r);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if start.elapsed() >= self.timeout {
                let secs = self.timeout.as_secs();
                return Err(RpcError::Timeout { hash, secs });
            }
        }
    }

    fn request(&self, kind: TxKind, data: &[u8]) -> TransactionRequest {
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_input(Bytes::copy_from_slice(data));
        match kind {
            TxKind::Call(to) => tx.with_to(to),
            TxKind::Create => tx.into_create(),
        }
    }
}

/// Whether a node refused a raw transaction because it has it already, or
/// because its nonce is spent (mined, possibly by this very transaction).
/// Nodes word this differently (geth, reth, anvil).
fn is_known(e: &AlloyRpcError<TransportErrorKind>) -> bool {
    let text = e.to_string().to_lowercase();
    [
        "already known",
        "known transaction",
        "nonce too low",
        "already imported",
    ]
    .iter()
    .any(|k| text.contains(k))
}

fn receipt(hash: B256, r: TransactionReceipt) -> Result<Receipt, RpcError> {
    if !r.status() {
        return Err(RpcError::MinedReverted { hash });
    }
    let logs = r.inner.logs().iter().map(|l| event(&l.inner)).collect();
    Ok(Receipt {
        hash,
        block: r.block_number.unwrap_or_default(),
        gas_used: r.gas_used,
        contract: r.contract_address,
        logs,
    })
}

/// A log as the sandbox reports it.
fn event(l: &alloy::primitives::Log) -> Event {
    Event {
        address: l.address,
        topics: l.topics().iter().map(|t| t.0).collect(),
        data: l.data.data.to_vec(),
    }
}
