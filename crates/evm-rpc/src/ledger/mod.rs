//! `LedgerApi` over the ledger contract on an EVM chain (`docs/evm.md`
//! §8): the same calls, answers and errors as the embedded ledger, with
//! one difference in who may act. On chain an account is an EVM address
//! and the transaction's sender authorises its own debits: an
//! [`EvmLedger`] acts as the one key it holds ([`LedgerApi::acting_account`]),
//! where the embedded ledger takes an account signature in the request.
//!
//! Reads come from the contract's getters and from its events
//! ([`index::LogIndex`], refreshed before each read). Every mutating call
//! is first simulated (a refusal sends nothing) and is idempotent on
//! retry like the embedded ledger's (§8.2): a second open of the same
//! token, a settlement of the same batch, a withdrawal already applied
//! return the first one's result instead of the contract's refusal.

pub mod error;
pub mod index;
pub mod sequencer;
pub mod spec;

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use tokio::sync::Mutex;
use veil_circuits::settle::{SettleError, SettlePublic};
use veil_evm::abi::Word;
use veil_evm::escrow::{self, AccessWords, EscrowTerms, SpendWord, WithdrawWords};
use veil_evm::ledger::{self as contract, LedgerEvent, LedgerRevert, NodeUpdateCall, Registration};
use veil_evm::settle::SettleCall;
use veil_evm::solidity::fr_word;
use veil_evm::token;
use veil_ledger::types::{
    AccessPublic, AccountId, AccountState, DepositReceipt, DepositRequest, Escrow, LedgerStatus,
    MerkleRoot, NodeId, NodeRecord, NodeRegistration, NodeUpdate, NoteCommitment, Nullifier, Proof,
    ReclaimReceipt, SessionId, SettleReceipt, SettleRequest, SlotPublic, Value, WithdrawPublic,
    WithdrawReceipt,
};
use veil_ledger::{LedgerApi, LedgerError, machine};
use veil_primitives::escrow::EscrowCommitment;

use crate::chain::{Receipt, RpcChain, RpcError};
use error::{from_rpc, revert_of};
use index::LogIndex;
pub use sequencer::Sequencer;
pub use spec::EvmLedgerSpec;

mod audit;
mod challenge;
mod market;

/// Blocks read per `eth_getLogs` request.
const LOG_CHUNK: u64 = 5_000;

/// Gas money the development faucet gives an account that has less
/// (0.1 ETH): enough for a few hundred ledger transactions on a dev chain.
const FAUCET_GAS_WEI: u128 = 100_000_000_000_000_000;

/// The ledger contract at `ledger`, acting as `chain`'s key.
#[derive(Clone)]
pub struct EvmLedger {
    chain: RpcChain,
    ledger: Address,
    token: Address,
    /// `VeilAudits` (`auditor()`), or `None` for a ledger without audits.
    auditor: Option<Address>,
    /// `BandwidthMarket` (`market()`), or `None` for a ledger without one.
    market: Option<Address>,
    /// The market's `epochBlocks` (immutable; 0 without a market).
    market_epoch_blocks: u64,
    from_block: u64,
    challenge_window: u64,
    max_expiry_delta: u64,
    index: Arc<Mutex<LogIndex>>,
    /// DEVELOPMENT ONLY: the test token's minter, for [`LedgerApi::faucet`].
    faucet: Option<RpcChain>,
    /// Appends waiting leaves before answering `commitments` (§8.4).
    sequencer: Option<Arc<Sequencer>>,
    /// Proves challenge answers (`answer`), for a node's handle.
    answer_prover: Option<Arc<veil_proofs::Prover>>,
}

fn chain_err(e: RpcError) -> LedgerError {
    from_rpc(e)
}

fn abi_err(e: veil_evm::abi::AbiError) -> LedgerError {
    LedgerError::Unavailable(format!("unexpected answer from the ledger contract: {e}"))
}

/// The EVM address an account id names: an address is an integer below
/// 2^160 (`veil_evm::escrow::recipient_account`).
pub fn evm_address(account: &AccountId) -> Result<Address, LedgerError> {
    let b = account.to_bytes();
    if b[..12].iter().any(|x| *x != 0) {
        return Err(LedgerError::InvalidArgument(
            "on an EVM ledger an account is an address (an integer below 2^160)",
        ));
    }
    Ok(Address::from_slice(&b[12..]))
}

impl EvmLedger {
    /// Connects to the ledger at `spec.ledger` as `chain`'s key: reads its
    /// token and parameters and indexes its logs from `spec.from_block`.
    pub async fn connect(chain: RpcChain, spec: &EvmLedgerSpec) -> Result<Self, LedgerError> {
        let ledger = spec.ledger;
        let word = |sig: &'static str| {
            let chain = chain.clone();
            async move {
                let data = chain
                    .call(ledger, &veil_evm::abi::selector(sig))
                    .await
                    .map_err(chain_err)?;
                contract::decode_word(&data).map_err(abi_err)
            }
        };
        let token = Address::from_slice(&word("token()").await?[12..]);
        let challenge_window = u64_of(&word("challengeWindow()").await?)?;
        let max_expiry_delta = u64_of(&word("maxExpiryDelta()").await?)?;
        let auditor = Address::from_slice(&word("auditor()").await?[12..]);
        let market = Address::from_slice(&word("market()").await?[12..]);
        let market_epoch_blocks = match market {
            Address::ZERO => 0,
            at => {
                let data = chain
                    .call(at, &veil_evm::market::getter("epochBlocks"))
                    .await
                    .map_err(chain_err)?;
                u64_of(&contract::decode_word(&data).map_err(abi_err)?)?
            }
        };
        Ok(EvmLedger {
            chain,
            ledger,
            token,
            auditor: (auditor != Address::ZERO).then_some(auditor),
            market: (market != Address::ZERO).then_some(market),
            market_epoch_blocks,
            from_block: spec.from_block,
            challenge_window,
            max_expiry_delta,
            index: Arc::new(Mutex::new(LogIndex::new(contract::empty_root()))),
            faucet: None,
            sequencer: None,
            answer_prover: None,
        })
    }

    /// DEVELOPMENT ONLY: mint through `minter` (the test token's deployer)
    /// in [`LedgerApi::faucet`], and give gas money to accounts that have
    /// none.
    pub fn with_faucet(mut self, minter: RpcChain) -> Self {
        self.faucet = Some(minter);
        self
    }

    /// Appends leaves waiting in the queue before `commitments` answers
    /// past the tree (§8.4); handles may share one sequencer.
    pub fn with_sequencer(mut self, sequencer: Arc<Sequencer>) -> Self {
        self.sequencer = Some(sequencer);
        self
    }

    /// `account` is this handle's sender: on a chain the transaction's
    /// signature is the account's authorisation, so a request naming
    /// another account is refused with `why` before anything is sent.
    fn require_sender(&self, account: &AccountId, why: &'static str) -> Result<(), LedgerError> {
        if evm_address(account).ok() == Some(self.chain.address()) {
            Ok(())
        } else {
            Err(LedgerError::AccountUnauthenticated(why))
        }
    }

    /// The same ledger acting as another key (sharing the log index, the
    /// faucet and the sequencer).
    pub fn acting_as(&self, chain: RpcChain) -> Self {
        EvmLedger {
            chain,
            ..self.clone()
        }
    }

    /// DEVELOPMENT ONLY: gives `to` gas money from the faucet's key if it
    /// has less than a tenth of [`FAUCET_GAS_WEI`].
    pub async fn faucet_gas(&self, to: Address) -> Result<(), LedgerError> {
        let minter = self.faucet.as_ref().ok_or(LedgerError::FaucetDisabled)?;
        if minter.balance_of(to).await.map_err(chain_err)? < U256::from(FAUCET_GAS_WEI / 10) {
            minter
                .send_value(to, U256::from(FAUCET_GAS_WEI))
                .await
                .map_err(chain_err)?;
        }
        Ok(())
    }

    /// The chain's turnstile (docs/evm.md §8.2): the tokens the contract
    /// holds equal the value it accounts for, `pool + escrowed + staked +
    /// burnt`.
    /// Unlike `minted = Σ balances + pool` it holds on a shared token too.
    pub async fn turnstile(&self) -> Result<Turnstile, LedgerError> {
        let held = self.token_u256(&token::balance_of(self.ledger)).await?;
        Ok(Turnstile {
            held: u64::try_from(held).map_err(|_| LedgerError::Overflow)?,
            pool: self.view_u64(&contract::view::pool()).await?,
            escrowed: self.view_u64(&escrow::view::escrowed()).await?,
            staked: self.view_u64(&contract::view::staked()).await?,
            burnt: self.view_u64(&contract::view::burnt()).await?,
        })
    }

    pub fn chain(&self) -> &RpcChain {
        &self.chain
    }

    pub fn address(&self) -> Address {
        self.ledger
    }

    pub fn token(&self) -> Address {
        self.token
    }

    async fn view(&self, data: &[u8]) -> Result<Vec<u8>, LedgerError> {
        self.chain.call(self.ledger, data).await.map_err(chain_err)
    }

    async fn view_u64(&self, data: &[u8]) -> Result<u64, LedgerError> {
        contract::decode_u64(&self.view(data).await?).map_err(abi_err)
    }

    async fn token_u256(&self, data: &[u8]) -> Result<U256, LedgerError> {
        let out = self.chain.call(self.token, data).await.map_err(chain_err)?;
        token::decode_u256(&out).map_err(abi_err)
    }

    /// The record with its latest verdict and open challenges read from
    /// the audits (the index counts the missed ones).
    async fn with_verdict(&self, mut r: NodeRecord) -> Result<NodeRecord, LedgerError> {
        let node = &r.registration.node_id;
        r.audit.last = self.latest_verdict(node).await?;
        r.audit.open_challenges = self.open_challenges(node).await?;
        Ok(r)
    }

    /// Simulates `data` (a refusal is returned, nothing sent), then sends it.
    async fn transact(&self, data: &[u8]) -> Result<Receipt, RpcError> {
        self.chain.wait_until_idle().await?;
        self.chain.call(self.ledger, data).await?;
        self.chain.send(self.ledger, data).await
    }

    /// Brings the log index up to the latest block and returns it locked.
    /// A reorg below the indexed height (the indexed block's hash changed,
    /// or changed while a range was read) discards the index, which is
    /// read again from the deployment; so does a log the index refuses.
    async fn synced(&self) -> Result<tokio::sync::MutexGuard<'_, LogIndex>, LedgerError> {
        let mut index = self.index.lock().await;
        if let (Some(b), Some(h)) = (index.scanned_to, index.scanned_hash) {
            let now = self.chain.block_hash(b).await.map_err(chain_err)?;
            if now.map(|x| x.0) != Some(h) {
                *index = LogIndex::new(contract::empty_root());
            }
        }
        let latest = self.chain.block_number().await.map_err(chain_err)?;
        let mut from = index.scanned_to.map_or(self.from_block, |b| b + 1);
        while from <= latest {
            let to = latest.min(from + LOG_CHUNK - 1);
            match self.scan(&mut index, from, to).await {
                Ok(true) => from = to + 1,
                Ok(false) => {
                    *index = LogIndex::new(contract::empty_root());
                    from = self.from_block;
                }
                Err(e) => {
                    *index = LogIndex::new(contract::empty_root());
                    return Err(e);
                }
            }
        }
        Ok(index)
    }

    /// Applies the logs of blocks `from..=to`; `false` if block `to`
    /// changed while they were read (a reorg: start again).
    async fn scan(&self, index: &mut LogIndex, from: u64, to: u64) -> Result<bool, LedgerError> {
        let before = self.chain.block_hash(to).await.map_err(chain_err)?;
        let logs = self
            .chain
            .logs(self.ledger, from, to)
            .await
            .map_err(chain_err)?;
        let audit_logs = match self.auditor {
            Some(a) => self.chain.logs(a, from, to).await.map_err(chain_err)?,
            None => Vec::new(),
        };
        let after = self.chain.block_hash(to).await.map_err(chain_err)?;
        if before != after {
            return Ok(false);
        }
        for (block, e) in logs {
            index.apply(block, LedgerEvent::decode(&e).map_err(abi_err)?)?;
        }
        for (_, e) in audit_logs {
            if let Some(node) = veil_evm::audits::challenge_missed(&e) {
                index.missed_challenge(node);
            }
        }
        index.scanned_to = Some(to);
        index.scanned_hash = after.map(|x| x.0);
        Ok(true)
    }

    /// Sends `data`, whose debit of `value` needs an allowance. The call is
    /// simulated in the next block first (`eth_simulateV1`). If it is
    /// refused for the allowance alone,
    /// the `approve` and the call are simulated together: a call refused
    /// anyway (`DuplicateDeposit`, `InsufficientBalance`, `NodeExists`, …)
    /// sends nothing, not even the approval.
    async fn transact_debit(&self, data: &[u8], value: u64) -> Result<Receipt, RpcError> {
        self.chain.wait_until_idle().await?;
        match self.chain.simulate(&[(self.ledger, data)]).await {
            Err(e) if matches!(revert_of(&e), Some(LedgerRevert::AccountUnauthenticated(_))) => {
                let approve = token::approve(self.ledger, U256::from(value));
                self.chain
                    .simulate(&[(self.token, &approve), (self.ledger, data)])
                    .await?;
                self.chain.send(self.token, &approve).await?;
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        self.chain.send(self.ledger, data).await
    }

    /// Sends a registration (docs/evm.md §4.2): this account's commitment
    /// to `node_key` unless the chain holds it already (a retry), the
    /// stake's approval if the allowance is short, then `registerNode`
    /// (`data`) in a later block. All of it is simulated first, in
    /// consecutive blocks: a registration that would be refused sends
    /// nothing, not even its commitment.
    async fn send_registration(
        &self,
        node_key: &[Word; 2],
        data: &[u8],
        stake: u64,
    ) -> Result<(), RpcError> {
        self.chain.wait_until_idle().await?;
        let me = self.chain.address();
        let commitment = contract::registration_commitment(me, node_key);
        let stored = self
            .chain
            .call(
                self.ledger,
                &contract::view::registration_commit(commitment),
            )
            .await?;
        let committed = contract::decode_u64(&stored) != Ok(0);
        let allowance = self
            .chain
            .call(self.token, &token::allowance(me, self.ledger))
            .await?;
        let approve_needed = token::decode_u256(&allowance).map_or(true, |a| a < U256::from(stake));
        let commit = contract::commit_registration(commitment);
        let approve = token::approve(self.ledger, U256::from(stake));
        let mut blocks: Vec<Vec<(Address, &[u8])>> = Vec::new();
        if !committed {
            blocks.push(vec![(self.ledger, &commit)]);
        }
        let mut last: Vec<(Address, &[u8])> = Vec::new();
        if approve_needed {
            last.push((self.token, &approve));
        }
        last.push((self.ledger, data));
        blocks.push(last);
        self.chain.simulate_blocks(&blocks).await?;
        if !committed {
            self.chain.send(self.ledger, &commit).await?;
        }
        if approve_needed {
            self.chain.send(self.token, &approve).await?;
        }
        self.chain.send(self.ledger, data).await?;
        Ok(())
    }
}

/// What [`EvmLedger::turnstile`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turnstile {
    /// The token balance of the contract.
    pub held: u64,
    pub pool: u64,
    pub escrowed: u64,
    pub staked: u64,
    /// Slashed stake not paid to monitors (docs/market.md §5.1).
    pub burnt: u64,
}

impl Turnstile {
    /// `held = pool + escrowed + staked + burnt`.
    pub fn holds(&self) -> bool {
        u128::from(self.held)
            == u128::from(self.pool)
                + u128::from(self.escrowed)
                + u128::from(self.staked)
                + u128::from(self.burnt)
    }
}

/// A node key's signature as the contract's `[R.x, R.y, S]`.
fn signature_words(sig: &veil_primitives::eddsa::Signature) -> [Word; 3] {
    let b = sig.to_bytes();
    [0, 1, 2].map(|i| {
        let mut w = [0u8; 32];
        w.copy_from_slice(&b[32 * i..32 * (i + 1)]);
        w
    })
}

fn u64_of(w: &Word) -> Result<u64, LedgerError> {
    veil_evm::abi::word_to_u64(w)
        .ok_or_else(|| LedgerError::Unavailable("a ledger parameter above 2^64".into()))
}

/// The ledger's proof bytes as the contract's words.
fn proof_of(p: &Proof) -> Result<veil_proofs::Proof, LedgerError> {
    veil_proofs::Proof::from_bytes(&p.0).map_err(|_| LedgerError::InvalidProof)
}

impl LedgerApi for EvmLedger {
    fn acting_account(&self) -> Option<AccountId> {
        Some(escrow::recipient_account(self.chain.address()))
    }

    async fn deposit(&self, request: DepositRequest) -> Result<DepositReceipt, LedgerError> {
        let me = self.chain.address();
        self.require_sender(
            &request.account,
            "on chain a deposit is debited from the transaction's sender",
        )?;
        let cm = fr_word(&request.commitment().inner());
        let data = contract::deposit(
            fr_word(&request.addr.inner()),
            veil_evm::abi::word_u64(request.value.get()),
        );
        match self.transact_debit(&data, request.value.get()).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::DuplicateDeposit) => {}
            Err(e) => return Err(chain_err(e)),
        }
        // A retry of a deposit already applied returns its receipt (§8.2).
        let index = self.synced().await?;
        match index.deposit(&cm) {
            Some((leaf_index, value, from)) if from == me && value == request.value.get() => {
                Ok(DepositReceipt {
                    commitment: request.commitment(),
                    leaf_index,
                })
            }
            _ => Err(LedgerError::DuplicateDeposit),
        }
    }

    async fn open_escrow(&self, token: AccessPublic, proof: Proof) -> Result<Escrow, LedgerError> {
        let words = AccessWords::new(&token, &proof_of(&proof)?);
        let data = escrow::open_escrow(words.node_id(), &words);
        let sid = words.nullifier();
        match self.transact(&data).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::NullifierSpent) => {
                // The same token opened before (the same terms and the same
                // change note) is a retry (§8.2); another spend of the
                // note is not. The price is the one the escrow recorded.
                let opened = self.synced().await?.escrow_entry(&sid).cloned();
                let word = contract::decode_word(&self.view(&escrow::view::nullifier(sid)).await?)
                    .map_err(abi_err)?;
                let spent = SpendWord::decode(&word).map_err(abi_err)?;
                let change = fr_word(&token.cm_change.inner());
                let same = opened.is_some_and(|e| {
                    let terms = EscrowTerms::of_token(&token, e.terms.price_per_kib);
                    e.cm_change == change
                        && matches!(spent, SpendWord::Escrow { terms_hash, .. } if terms_hash == terms.hash())
                });
                if !same {
                    return Err(LedgerError::NullifierSpent);
                }
            }
            Err(e) => return Err(chain_err(e)),
        }
        self.synced()
            .await?
            .escrow(&sid)?
            .ok_or_else(|| LedgerError::Unavailable("an open without its event".into()))
    }

    async fn settle(&self, request: SettleRequest) -> Result<SettleReceipt, LedgerError> {
        let call = self.settle_call(&request).await?;
        match self.transact(&call.calldata()).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::AlreadySettled) => {}
            Err(e) => return Err(chain_err(e)),
        }
        // Applied now or before: the batch's `Settled` event, with these
        // very refunds, is the receipt (a retry, §8.2).
        let first = call
            .sessions
            .first()
            .ok_or(LedgerError::InvalidArgument("an empty settlement"))?
            .session_id;
        let index = self.synced().await?;
        let refunds: Vec<Word> = call.sessions.iter().map(|s| s.cm_refund).collect();
        match index.settlement(&first) {
            Some(s) if s.cm_refunds == refunds && s.total == request.total.get() => {
                Ok(SettleReceipt {
                    total: Value(s.total),
                    first_leaf_index: s.first_index,
                })
            }
            _ => Err(LedgerError::AlreadySettled),
        }
    }

    async fn reclaim(&self, session_id: SessionId) -> Result<ReclaimReceipt, LedgerError> {
        let sid = fr_word(&session_id.inner());
        let terms = {
            let index = self.synced().await?;
            index
                .escrow_entry(&sid)
                .ok_or(LedgerError::UnknownEscrow)?
                .terms
        };
        match self.transact(&escrow::reclaim(sid, &terms.words())).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::EscrowNotOpen) => {}
            Err(e) => return Err(chain_err(e)),
        }
        let index = self.synced().await?;
        match index.escrow(&sid)? {
            Some(e) => match e.state {
                veil_ledger::types::EscrowState::Reclaimed { leaf_index } => Ok(ReclaimReceipt {
                    commitment: e.reclaim_commitment(),
                    leaf_index,
                }),
                _ => Err(LedgerError::EscrowNotOpen),
            },
            None => Err(LedgerError::UnknownEscrow),
        }
    }

    async fn withdraw(
        &self,
        statement: WithdrawPublic,
        proof: Proof,
    ) -> Result<WithdrawReceipt, LedgerError> {
        let words = WithdrawWords::new(&statement, &proof_of(&proof)?);
        let nf = fr_word(&statement.nullifier.inner());
        match self.transact(&escrow::withdraw(&words)).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::NullifierSpent) => {}
            Err(e) => return Err(chain_err(e)),
        }
        // Applied now or before: the same withdrawal (change, amount and
        // recipient) is a retry; another spend of the note is not.
        let applied = index::Withdrawal {
            cm_change: fr_word(&statement.cm_change.inner()),
            amount: statement.amount.get(),
            recipient: evm_address(&statement.recipient)?,
            leaf_index: 0,
        };
        match self.synced().await?.withdrawal(&nf) {
            Some(w) if w.same_as(&applied) => Ok(WithdrawReceipt {
                leaf_index: w.leaf_index,
            }),
            _ => Err(LedgerError::NullifierSpent),
        }
    }

    async fn register_node(&self, r: NodeRegistration) -> Result<NodeRecord, LedgerError> {
        use LedgerError::RegistrationUnauthenticated as Unauth;
        self.require_sender(
            &r.account,
            "on chain the operator is the transaction's sender",
        )?;
        if r.node_key.node_id() != r.node_id {
            return Err(Unauth("node_id is not H(NODE_ID, N)"));
        }
        r.node_key
            .verify(&r.message(), &r.signature)
            .map_err(|_| Unauth("bad node key signature"))?;
        let node_key = [r.node_key.point().x(), r.node_key.point().y()].map(|c| fr_word(&c));
        let call = Registration {
            node_key,
            node_signature: signature_words(&r.signature),
            price_per_kib: veil_evm::abi::word_u64(r.price_per_kib.get()),
            escrow_sizes: r
                .escrow_sizes
                .iter()
                .map(|v| veil_evm::abi::word_u64(v.get()))
                .collect(),
            stake: veil_evm::abi::word_u64(r.stake.get()),
            tls_key_hash: r.tls_key_hash,
            profile: r.profile.clone(),
        };
        match self
            .send_registration(&node_key, &contract::register_node(&call), r.stake.get())
            .await
        {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::NodeExists) => {}
            Err(e) => return Err(chain_err(e)),
        }
        let node_id = fr_word(&r.node_id.inner());
        match self.synced().await?.node(&node_id)? {
            Some(existing) if existing.registration.same_terms(&r) => Ok(existing),
            _ => Err(LedgerError::NodeExists),
        }
    }

    /// `updateNode` (docs/protocol.md §8.3.8, docs/evm.md §8.1), sent by
    /// the node's operator, who is the sender: the account signature is
    /// not read. Checked first as the embedded ledger checks it
    /// (`check_update_stateless`: the terms, the profile, the node key's
    /// signature, which the contract does not check), then simulated. A
    /// retry of the latest update (`StaleNodeUpdate` on chain, and the
    /// record holds this very update) returns the record.
    async fn update_node(&self, u: NodeUpdate) -> Result<NodeRecord, LedgerError> {
        machine::check_terms(u.price_per_kib, &u.escrow_sizes)?;
        machine::check_profile(&u.profile)?;
        u.authenticate_node()?;
        self.require_sender(
            &u.account,
            "on chain the node's operator is the transaction's sender",
        )?;
        let node_id = fr_word(&u.node_id.inner());
        let call = NodeUpdateCall {
            node_id,
            sequence: veil_evm::abi::word_u64(u.sequence),
            price_per_kib: veil_evm::abi::word_u64(u.price_per_kib.get()),
            escrow_sizes: u
                .escrow_sizes
                .iter()
                .map(|v| veil_evm::abi::word_u64(v.get()))
                .collect(),
            tls_key_hash: u.tls_key_hash,
            profile: u.profile.clone(),
            node_signature: signature_words(&u.signature),
        };
        match self.transact(&contract::update_node(&call)).await {
            Ok(_) => {}
            Err(e) if revert_of(&e) == Some(LedgerRevert::StaleNodeUpdate) => {}
            Err(e) => return Err(chain_err(e)),
        }
        let sent = NodeUpdate {
            account_auth: None,
            ..u
        };
        match self.synced().await?.node(&node_id)? {
            Some(r) if r.update.as_ref().is_some_and(|a| a.update == sent) => Ok(r),
            _ => Err(LedgerError::StaleNodeUpdate),
        }
    }

    /// §8.3.12 on chain: the operator (the sender) retires its node or,
    /// after the lock-up, releases its stake. No account nonce on chain: a
    /// second retirement is `NodeRetired` and a second release
    /// `StakeReleased`, as a re-signed one is on the embedded ledger.
    async fn exit_node(
        &self,
        request: veil_ledger::exit::ExitRequest,
    ) -> Result<NodeRecord, LedgerError> {
        use veil_ledger::exit::ExitStep;
        self.require_sender(
            &request.account,
            "on chain a node's exit is sent by its operator",
        )?;
        let id = fr_word(&request.node_id.inner());
        let data = match request.step {
            ExitStep::Retire => contract::retire_node(id),
            ExitStep::Release => contract::release_node(id),
        };
        self.transact(&data).await.map_err(from_rpc)?;
        match self.synced().await?.node(&id)? {
            Some(r) => self.with_verdict(r).await,
            None => Err(LedgerError::UnknownNode),
        }
    }

    async fn register_monitor(
        &self,
        registration: veil_ledger::monitor::MonitorRegistration,
    ) -> Result<veil_ledger::monitor::MonitorRecord, LedgerError> {
        self.register_monitor_on_chain(registration).await
    }

    async fn submit_report(
        &self,
        report: veil_ledger::monitor::AuditReport,
    ) -> Result<veil_ledger::monitor::StoredReport, LedgerError> {
        self.submit_report_on_chain(report).await
    }

    async fn monitor(
        &self,
        account: AccountId,
    ) -> Result<veil_ledger::monitor::MonitorView, LedgerError> {
        self.monitor_view_on_chain(account).await
    }

    async fn draw_audit_seed(&self) -> Result<(), LedgerError> {
        let epoch = self.current_audit_epoch().await?;
        self.draw_seed_if_due(epoch).await
    }

    async fn take_seed_turn(&self) -> Result<(), LedgerError> {
        self.seed_turn_on_chain().await
    }

    async fn close_missed_challenges(&self) -> Result<usize, LedgerError> {
        self.close_own_missed().await
    }

    async fn exit_monitor(
        &self,
        request: veil_ledger::monitor::MonitorExitRequest,
    ) -> Result<veil_ledger::monitor::MonitorRecord, LedgerError> {
        self.exit_monitor_on_chain(request).await
    }

    async fn challenge_node(
        &self,
        request: veil_ledger::challenge::ChallengeRequest,
    ) -> Result<veil_ledger::challenge::ChallengeRecord, LedgerError> {
        self.challenge_on_chain(request).await
    }

    async fn answer_challenge(
        &self,
        answer: veil_ledger::challenge::ChallengeAnswer,
    ) -> Result<veil_ledger::challenge::ChallengeRecord, LedgerError> {
        self.answer_on_chain(answer).await
    }

    async fn challenges(
        &self,
        node_id: NodeId,
    ) -> Result<Vec<veil_ledger::challenge::ChallengeRecord>, LedgerError> {
        self.challenges_on_chain(node_id).await
    }

    async fn trade(
        &self,
        request: veil_ledger::trade::TradeRequest,
    ) -> Result<veil_ledger::trade::TradeReceipt, LedgerError> {
        self.trade_on_chain(request).await
    }

    async fn market(&self) -> Result<veil_ledger::trade::MarketState, LedgerError> {
        self.market_on_chain().await
    }

    async fn tokens(&self, account: AccountId) -> Result<veil_ledger::trade::Tokens, LedgerError> {
        self.tokens_on_chain(account).await
    }

    async fn faucet(&self, account: AccountId, amount: Value) -> Result<Value, LedgerError> {
        let to = evm_address(&account)?;
        self.faucet_gas(to).await?;
        let minter = self.faucet.as_ref().ok_or(LedgerError::FaucetDisabled)?;
        minter
            .send(self.token, &token::mint(to, U256::from(amount.get())))
            .await
            .map_err(|e| match e {
                RpcError::Reverted { .. } => LedgerError::FaucetDisabled,
                other => chain_err(other),
            })?;
        self.balance(account).await
    }

    async fn get_node(&self, node_id: NodeId) -> Result<Option<NodeRecord>, LedgerError> {
        let record = self.synced().await?.node(&fr_word(&node_id.inner()))?;
        match record {
            Some(r) => Ok(Some(self.with_verdict(r).await?)),
            None => Ok(None),
        }
    }

    async fn list_nodes(
        &self,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        let limit = limit.min(veil_ledger::api::MAX_NODE_PAGE) as usize;
        let nodes = self
            .synced()
            .await?
            .nodes_after(start_after.as_ref(), limit)?;
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            out.push(self.with_verdict(n).await?);
        }
        Ok(out)
    }

    async fn get_escrow(&self, session_id: SessionId) -> Result<Option<Escrow>, LedgerError> {
        self.synced().await?.escrow(&fr_word(&session_id.inner()))
    }

    async fn balance(&self, account: AccountId) -> Result<Value, LedgerError> {
        let v = self
            .token_u256(&token::balance_of(evm_address(&account)?))
            .await?;
        u64::try_from(v)
            .map(Value)
            .map_err(|_| LedgerError::Overflow)
    }

    async fn account(&self, account: AccountId) -> Result<AccountState, LedgerError> {
        let balance = self.balance(account).await?;
        let next_nonce = self
            .chain
            .nonce_of(evm_address(&account)?)
            .await
            .map_err(chain_err)?;
        Ok(AccountState {
            balance,
            next_nonce,
        })
    }

    async fn nullifier_spent(&self, nullifier: Nullifier) -> Result<bool, LedgerError> {
        let data = escrow::view::nullifier(fr_word(&nullifier.inner()));
        let word = contract::decode_word(&self.view(&data).await?).map_err(abi_err)?;
        Ok(SpendWord::decode(&word).map_err(abi_err)? != SpendWord::Unspent)
    }

    async fn roots(&self) -> Result<Vec<MerkleRoot>, LedgerError> {
        self.synced().await?.roots()
    }

    async fn commitments(
        &self,
        from_index: u64,
        limit: u32,
    ) -> Result<Vec<NoteCommitment>, LedgerError> {
        if let Some(s) = &self.sequencer
            && from_index >= self.synced().await?.tree_size()
        {
            s.append_waiting(self).await?;
        }
        let limit = limit.min(veil_ledger::api::MAX_COMMITMENT_PAGE);
        self.synced()
            .await?
            .commitments(from_index, u64::from(limit))
    }

    async fn status(&self) -> Result<LedgerStatus, LedgerError> {
        let height = self.chain.block_number().await.map_err(chain_err)?;
        let root = contract::decode_word(&self.view(&contract::view::current_root()).await?)
            .map_err(abi_err)?;
        let minted = self.token_u256(&token::total_supply()).await?;
        let audit_totals = self.audit_totals().await?;
        Ok(LedgerStatus {
            height: veil_ledger::types::BlockHeight(height),
            commitment_count: self.view_u64(&contract::view::tree_size()).await?,
            root: MerkleRoot::from_bytes(&root)
                .map_err(|_| abi_err(veil_evm::abi::AbiError::Malformed("root")))?,
            schema_version: EVM_SCHEMA_VERSION,
            challenge_window: self.challenge_window,
            max_expiry_delta: self.max_expiry_delta,
            minted: Value(u64::try_from(minted).map_err(|_| LedgerError::Overflow)?),
            pool: Value(self.view_u64(&contract::view::pool()).await?),
            escrowed: Value(self.view_u64(&escrow::view::escrowed()).await?),
            staked: Value(self.view_u64(&contract::view::staked()).await?),
            monitor_staked: Value(audit_totals.0),
            burnt: Value(self.view_u64(&contract::view::burnt()).await? + audit_totals.1),
        })
    }
}

/// `LedgerStatus::schema_version` of a contract ledger: the version of
/// its events and getters (`docs/evm.md` §8), not of a database.
pub const EVM_SCHEMA_VERSION: u32 = 1;

impl EvmLedger {
    /// The `settle` call of `request`: each session's terms as its
    /// `EscrowOpened` published them, the statement as the embedded
    /// ledger builds it (`SettlePublic::for_ledger`) at the price the
    /// first escrow recorded when it was opened (§8.3.8). A batch whose
    /// escrows recorded different prices is the contract's to refuse, in
    /// the embedded ledger's order (`batch_price` after `WrongNode`).
    async fn settle_call(&self, request: &SettleRequest) -> Result<SettleCall, LedgerError> {
        if request.session_ids.len() != request.cm_refunds.len() {
            return Err(LedgerError::InvalidArgument(
                "session_ids and cm_refunds differ in length",
            ));
        }
        let index = self.synced().await?;
        index
            .node(&fr_word(&request.node_id.inner()))?
            .ok_or(LedgerError::UnknownNode)?;
        let mut escrows = Vec::with_capacity(request.session_ids.len());
        let mut slots = Vec::with_capacity(request.session_ids.len());
        for (sid, cm_refund) in request.session_ids.iter().zip(&request.cm_refunds) {
            let sid = fr_word(&sid.inner());
            let e = index.escrow_entry(&sid).ok_or(LedgerError::UnknownEscrow)?;
            let esc = EscrowCommitment::from_bytes(&e.terms.esc)
                .map_err(|_| abi_err(veil_evm::abi::AbiError::Malformed("esc")))?;
            slots.push(SlotPublic {
                escrow_commitment: esc,
                cm_refund: *cm_refund,
            });
            escrows.push((sid, e.terms));
        }
        drop(index);
        let price = escrows.first().map_or(0, |(_, t)| t.price_per_kib);
        let public = SettlePublic::for_ledger(
            request.node_id,
            request.k as usize,
            request.total,
            Value(price),
            &slots,
        )
        .map_err(|e| match e {
            SettleError::DuplicateSession { .. } => LedgerError::DuplicateSession,
            _ => LedgerError::InvalidArgument("settlement batch size or padding"),
        })?;
        SettleCall::new(&public, &escrows, &proof_of(&request.proof)?)
            .map_err(|_| LedgerError::InvalidArgument("settlement batch size"))
    }
}
