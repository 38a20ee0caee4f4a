//! The engine: runs each operation as read-only checks on a snapshot →
//! proof verification (no transaction held) → execution on the single
//! writer thread, which re-checks and group-commits queued operations in one
//! durable transaction and answers each only after that commit.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use crate::challenge::{ChallengeAnswer, ChallengeRecord, ChallengeRequest};
use crate::error::LedgerError;
use crate::exit::ExitRequest;
use crate::machine::{self, Checked, LedgerConfig};
use crate::monitor::{
    AuditReport, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView, StoredReport,
};
use crate::state::{StateRead, StateWrite};
use crate::store::Store;
use crate::trade::{HandState, MarketState, Tokens, TradeReceipt, TradeRequest};
use crate::types::*;
use crate::verifier::ProofVerifier;

/// Operations the writer executes. Spends arrive already verified.
enum Op {
    Deposit(DepositRequest),
    Open(AccessPublic),
    Settle(SettleRequest),
    Reclaim(SessionId),
    Withdraw(WithdrawPublic),
    Register(NodeRegistration),
    Update(NodeUpdate),
    Faucet(AccountId, Value),
    Trade(TradeRequest),
    Exit(ExitRequest),
    RegisterMonitor(MonitorRegistration),
    Report(AuditReport),
    Challenge(ChallengeRequest),
    Answer(ChallengeAnswer),
    ExitMonitor(MonitorExitRequest),
    Advance(u64),
}

enum Done {
    Deposit(DepositReceipt),
    Open(Escrow),
    Settle(SettleReceipt),
    Reclaim(ReclaimReceipt),
    Withdraw(WithdrawReceipt),
    Register(NodeRecord),
    Balance(Value),
    Trade(TradeReceipt),
    Monitor(MonitorRecord),
    Report(StoredReport),
    Challenge(ChallengeRecord),
    Height(BlockHeight),
}

type Reply = mpsc::SyncSender<Result<Done, LedgerError>>;

/// Most operations folded into one durable transaction.
pub const GROUP_COMMIT_MAX: usize = 256;

/// A ledger: store, verifier, parameters and the writer thread.
pub struct Engine {
    store: Arc<Store>,
    verifier: Arc<dyn ProofVerifier>,
    config: LedgerConfig,
    writer: Option<mpsc::SyncSender<(Op, Reply)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Engine {
    /// Stops the writer after it has drained its queue, so the database
    /// file is closed when the engine is gone.
    fn drop(&mut self) {
        self.writer.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn execute(w: &mut impl StateWrite, cfg: &LedgerConfig, op: &Op) -> Result<Done, LedgerError> {
    Ok(match op {
        Op::Deposit(d) => Done::Deposit(machine::apply_deposit(w, d)?),
        Op::Open(st) => Done::Open(machine::apply_open(w, cfg, st)?),
        Op::Settle(r) => Done::Settle(machine::apply_settle(w, cfg, r)?),
        Op::Reclaim(id) => Done::Reclaim(machine::apply_reclaim(w, cfg, id)?),
        Op::Withdraw(st) => Done::Withdraw(machine::apply_withdraw(w, st)?),
        Op::Register(g) => Done::Register(machine::apply_register(w, g)?),
        Op::Update(u) => Done::Register(machine::apply_update(w, u)?),
        Op::Faucet(a, v) => Done::Balance(machine::apply_faucet(w, cfg, a, *v)?),
        Op::Trade(t) => Done::Trade(machine::apply_trade(w, t)?),
        Op::Exit(x) => Done::Register(machine::apply_exit(w, cfg, x)?),
        Op::RegisterMonitor(m) => Done::Monitor(machine::apply_register_monitor(w, m)?),
        Op::Report(r) => Done::Report(machine::apply_report(w, r)?),
        Op::Challenge(r) => Done::Challenge(machine::apply_challenge(w, r)?),
        Op::Answer(a) => Done::Challenge(machine::apply_answer(w, a)?),
        Op::ExitMonitor(x) => Done::Monitor(machine::apply_exit_monitor(w, x)?),
        Op::Advance(n) => Done::Height(machine::apply_advance(w, *n)?),
    })
}

fn is_fatal(e: &LedgerError) -> bool {
    matches!(
        e,
        LedgerError::Storage(_) | LedgerError::Corrupted(_) | LedgerError::Poisoned
    )
}

fn writer_loop(store: Arc<Store>, cfg: LedgerConfig, rx: mpsc::Receiver<(Op, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = store.write(|w| {
            let mut outcomes = Vec::with_capacity(batch.len());
            for (op, _) in &batch {
                let r = execute(w, &cfg, op);
                // A storage failure aborts the whole transaction.
                if let Err(e) = &r
                    && is_fatal(e)
                {
                    return Err(e.clone());
                }
                outcomes.push(r);
            }
            Ok(outcomes)
        });
        match result {
            Ok(outcomes) => {
                for ((_, reply), out) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(out);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger write failed; store is now read-only");
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl Engine {
    /// Opens (or creates) the ledger at `path`; refuses a corrupt file.
    pub fn open(
        path: &Path,
        verifier: Arc<dyn ProofVerifier>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        Ok(Self::with_store(
            Store::open_or_create(path)?,
            verifier,
            config,
        ))
    }

    /// A fresh in-memory ledger.
    pub fn in_memory(
        verifier: Arc<dyn ProofVerifier>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        Ok(Self::with_store(Store::in_memory()?, verifier, config))
    }

    pub fn with_store(
        store: Store,
        verifier: Arc<dyn ProofVerifier>,
        config: LedgerConfig,
    ) -> Self {
        let store = Arc::new(store);
        let (tx, rx) = mpsc::sync_channel(4 * GROUP_COMMIT_MAX);
        let (s, c) = (store.clone(), config.clone());
        let thread = std::thread::Builder::new()
            .name("veil-ledger-writer".into())
            .spawn(move || writer_loop(s, c, rx))
            .map_err(|e| tracing::error!(error = %e, "cannot spawn the ledger writer"))
            .ok();
        Self {
            store,
            verifier,
            config,
            writer: Some(tx),
            thread,
        }
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn submit(&self, op: Op) -> Result<Done, LedgerError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.writer
            .as_ref()
            .ok_or_else(|| LedgerError::Storage("ledger writer stopped".into()))?
            .send((op, tx))
            .map_err(|_| LedgerError::Storage("ledger writer stopped".into()))?;
        rx.recv()
            .map_err(|_| LedgerError::Storage("ledger writer stopped".into()))?
    }

    /// §8.3.1: the account signature is checked here, off the writer
    /// thread, and again (with the state checks) by the writer.
    pub fn deposit(&self, d: DepositRequest) -> Result<DepositReceipt, LedgerError> {
        d.authenticate()?;
        match self.submit(Op::Deposit(d))? {
            Done::Deposit(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.2: cheap checks on a snapshot, then the pairing, then execution.
    pub fn open_escrow(&self, st: AccessPublic, proof: &Proof) -> Result<Escrow, LedgerError> {
        match machine::check_open(&self.store.read()?, &self.config, &st)? {
            Checked::Done(e) => return Ok(e),
            Checked::New(_) => {}
        }
        if !self.verifier.verify_access(&st, proof) {
            return Err(LedgerError::InvalidProof);
        }
        match self.submit(Op::Open(st))? {
            Done::Open(e) => Ok(e),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.3: shape, escrow records and the node's authorisation on a
    /// snapshot, then the pairing, then execution (which re-checks all).
    pub fn settle(&self, r: SettleRequest) -> Result<SettleReceipt, LedgerError> {
        let statement = match machine::check_settle(&self.store.read()?, &self.config, &r)? {
            Checked::Done(receipt) => return Ok(receipt),
            Checked::New(st) => st,
        };
        if !self.verifier.verify_settle(&statement, &r.proof) {
            return Err(LedgerError::InvalidProof);
        }
        // The writer rebuilds the statement; it must be the one verified:
        // any change of an escrow in between makes the batch fail its checks.
        match self.submit(Op::Settle(r))? {
            Done::Settle(x) => Ok(x),
            _ => Err(unexpected()),
        }
    }

    pub fn reclaim(&self, id: SessionId) -> Result<ReclaimReceipt, LedgerError> {
        match self.submit(Op::Reclaim(id))? {
            Done::Reclaim(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub fn withdraw(
        &self,
        st: WithdrawPublic,
        proof: &Proof,
    ) -> Result<WithdrawReceipt, LedgerError> {
        if let Checked::Done(r) = machine::check_withdraw(&self.store.read()?, &st)? {
            return Ok(r);
        }
        if !self.verifier.verify_withdraw(&st, proof) {
            return Err(LedgerError::InvalidProof);
        }
        match self.submit(Op::Withdraw(st))? {
            Done::Withdraw(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.6: the signature is checked here, off the writer thread, and
    /// again (with the other stateless checks) by the writer.
    pub fn register_node(&self, g: NodeRegistration) -> Result<NodeRecord, LedgerError> {
        machine::check_register_stateless(&g)?;
        match self.submit(Op::Register(g))? {
            Done::Register(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.8: the signatures are checked here, off the writer thread, and
    /// again (with the state checks) by the writer.
    pub fn update_node(&self, u: NodeUpdate) -> Result<NodeRecord, LedgerError> {
        machine::check_update_stateless(&u)?;
        match self.submit(Op::Update(u))? {
            Done::Register(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.12: the signature is checked here, off the writer thread, and
    /// again (with the state checks) by the writer.
    pub fn exit_node(&self, x: ExitRequest) -> Result<NodeRecord, LedgerError> {
        machine::check_exit_stateless(&x)?;
        match self.submit(Op::Exit(x))? {
            Done::Register(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// DEVELOPMENT ONLY: mint into an account (refused without `dev_faucet`).
    pub fn faucet(&self, a: AccountId, v: Value) -> Result<Value, LedgerError> {
        if !self.config.dev_faucet {
            return Err(LedgerError::FaucetDisabled);
        }
        match self.submit(Op::Faucet(a, v))? {
            Done::Balance(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.11: the amount and the signature are checked here, off the
    /// writer thread; the writer runs every check again before it trades.
    pub fn trade(&self, t: TradeRequest) -> Result<TradeReceipt, LedgerError> {
        machine::check_trade_stateless(&t)?;
        match self.submit(Op::Trade(t))? {
            Done::Trade(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.13: the signature is checked here, off the writer thread, and
    /// again (with the state checks) by the writer.
    pub fn register_monitor(&self, m: MonitorRegistration) -> Result<MonitorRecord, LedgerError> {
        machine::check_monitor_stateless(&m)?;
        match self.submit(Op::RegisterMonitor(m))? {
            Done::Monitor(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.13: the signature is checked here, the rest by the writer.
    pub fn submit_report(&self, r: AuditReport) -> Result<StoredReport, LedgerError> {
        r.authenticate()?;
        match self.submit(Op::Report(r))? {
            Done::Report(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.13: a monitor's exit step; the signature is checked here, the
    /// rest by the writer.
    pub fn exit_monitor(&self, x: MonitorExitRequest) -> Result<MonitorRecord, LedgerError> {
        x.authenticate()?;
        match self.submit(Op::ExitMonitor(x))? {
            Done::Monitor(m) => Ok(m),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.14: the signature is checked here, the rest by the writer.
    pub fn challenge_node(&self, r: ChallengeRequest) -> Result<ChallengeRecord, LedgerError> {
        r.authenticate()?;
        match self.submit(Op::Challenge(r))? {
            Done::Challenge(c) => Ok(c),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.14: checked on a snapshot first (the signature is the costly
    /// part), then again by the writer.
    pub fn answer_challenge(&self, a: ChallengeAnswer) -> Result<ChallengeRecord, LedgerError> {
        machine::check_answer(&self.store.read()?, &a)?;
        match self.submit(Op::Answer(a))? {
            Done::Challenge(c) => Ok(c),
            _ => Err(unexpected()),
        }
    }

    /// §8.3.14: the node's challenges of the current and previous epoch.
    pub fn challenges(&self, node: &NodeId) -> Result<Vec<ChallengeRecord>, LedgerError> {
        machine::recent_challenges(&self.store.read()?, node)
    }

    /// §8.3.13: a monitor's record and the active nodes assigned to it in
    /// the current epoch (every node checked: O(nodes × monitors) hashes).
    pub fn monitor(&self, a: &AccountId) -> Result<MonitorView, LedgerError> {
        let r = self.store.read()?;
        let (mut nodes, mut cursor) = (Vec::new(), None);
        loop {
            let page = r.nodes_after(cursor.as_ref(), crate::api::MAX_NODE_PAGE as usize)?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.registration.node_id);
            nodes.extend(
                page.iter()
                    .filter(|n| !n.is_retired())
                    .map(|n| n.registration.node_id),
            );
        }
        machine::monitor_view(&r, a, &nodes)
    }

    /// The curve's public state (§8.3.11).
    pub fn market(&self) -> Result<MarketState, LedgerError> {
        let r = self.store.read()?;
        let hand = HandState::at(
            r.height()?,
            Value(r.epoch_escrowed()?),
            Value(r.totals()?.staked),
        );
        MarketState::of(&r.curve()?, hand)
    }

    /// An account's token balance (§8.3.11).
    pub fn tokens(&self, a: &AccountId) -> Result<Tokens, LedgerError> {
        self.store.read()?.tokens(a)
    }

    /// Advances the logical clock (the `--block-interval` ticker, tests).
    pub fn advance(&self, blocks: u64) -> Result<BlockHeight, LedgerError> {
        match self.submit(Op::Advance(blocks))? {
            Done::Height(h) => Ok(h),
            _ => Err(unexpected()),
        }
    }

    pub fn get_node(&self, id: &NodeId) -> Result<Option<NodeRecord>, LedgerError> {
        self.store.read()?.node(id)
    }

    /// §8.3.10: a page of the node registry.
    pub fn list_nodes(
        &self,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        let limit = limit.min(crate::api::MAX_NODE_PAGE) as usize;
        self.store.read()?.nodes_after(start_after.as_ref(), limit)
    }

    pub fn get_escrow(&self, id: &SessionId) -> Result<Option<Escrow>, LedgerError> {
        self.store.read()?.escrow(id)
    }

    pub fn nullifier_spent(&self, nf: &Nullifier) -> Result<bool, LedgerError> {
        Ok(self.store.read()?.nullifier(nf)?.is_some())
    }

    pub fn balance(&self, a: &AccountId) -> Result<Value, LedgerError> {
        self.store.read()?.account(a)
    }

    /// Balance and next nonce of an account (§8.3).
    pub fn account(&self, a: &AccountId) -> Result<AccountState, LedgerError> {
        let r = self.store.read()?;
        Ok(AccountState {
            balance: r.account(a)?,
            next_nonce: r.account_nonce(a)?,
        })
    }

    pub fn roots(&self) -> Result<Vec<MerkleRoot>, LedgerError> {
        Ok(self.store.read()?.roots()?.iter().copied().collect())
    }

    pub fn commitments(&self, from: u64, limit: u32) -> Result<Vec<NoteCommitment>, LedgerError> {
        let limit = limit.min(crate::api::MAX_COMMITMENT_PAGE);
        self.store.read()?.commitments(from, u64::from(limit))
    }

    pub fn status(&self) -> Result<LedgerStatus, LedgerError> {
        let r = self.store.read()?;
        let f = r.frontier()?;
        let t = r.totals()?;
        Ok(LedgerStatus {
            height: r.height()?,
            commitment_count: f.size(),
            root: f.root(),
            schema_version: crate::schema::SCHEMA_VERSION,
            challenge_window: self.config.challenge_window,
            max_expiry_delta: self.config.max_expiry_delta,
            minted: Value(t.minted),
            pool: Value(t.pool),
            escrowed: Value(t.escrowed),
            staked: Value(t.staked),
            monitor_staked: Value(t.monitor_staked),
            burnt: Value(t.burnt),
        })
    }
}

fn unexpected() -> LedgerError {
    LedgerError::Storage("writer returned a mismatched outcome".into())
}
