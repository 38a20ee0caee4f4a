//! The ledger state machine (docs/protocol.md §8.3): for each operation,
//! stateless checks, then read-only checks against state, then execution.
//!
//! No I/O beyond the [`StateRead`]/[`StateWrite`] handles it is given, no
//! clock (heights come from state: adversarial D10), no proof verification
//! (the engine verifies between the read-only checks and execution, outside
//! the write transaction). Every `apply_*` re-runs its read-only checks and
//! performs all of them before its first write, so a refused operation
//! writes nothing even inside a shared (group-commit) transaction.

use veil_primitives::merkle::{Frontier, ROOT_HISTORY, RootHistory};

mod audit;
mod challenge;
mod exit;
mod hand;
mod trade;
pub use audit::{
    apply_exit_monitor, apply_register_monitor, apply_report, assigned_to, check_exit_monitor,
    check_monitor_stateless, check_register_monitor, check_report, monitor_view,
};
pub use challenge::{
    apply_answer, apply_challenge, check_answer, check_challenge, recent_challenges,
};
pub use exit::{apply_exit, check_exit, check_exit_stateless};
pub use trade::{Fill, apply_trade, check_trade, check_trade_stateless};

use crate::error::LedgerError;
use crate::limits::{MAX_BATCH, MAX_ESCROW_SIZES, MAX_PROFILE_BYTES};
use crate::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use crate::state::{StateRead, StateWrite};
use crate::types::*;

/// Ledger parameters (docs/protocol.md §8.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Blocks after `expiry` during which the node may still settle.
    pub challenge_window: u64,
    /// Largest `expiry − height` an access token may ask for.
    pub max_expiry_delta: u64,
    /// Batch sizes `K` accepted; each needs a `settle_K` verifying key
    /// (circuits exist for 1, 8 and 64: `veil_proofs::circuit::SETTLE_SIZES`).
    pub settle_batch_sizes: Vec<u32>,
    /// DEVELOPMENT ONLY (§8.3.7): whether `faucet` mints. Off by default;
    /// `veil ledger serve --dev-faucet` and the demo's embedded ledger turn
    /// it on explicitly.
    pub dev_faucet: bool,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            challenge_window: 20,
            max_expiry_delta: 10_000,
            settle_batch_sizes: vec![1, 8, 64],
            dev_faucet: false,
        }
    }
}

impl LedgerConfig {
    /// The default parameters with the development faucet on (demo, tests).
    pub fn with_dev_faucet() -> Self {
        Self {
            dev_faucet: true,
            ..Self::default()
        }
    }
}

/// The account nonce rule (§8.3): a new operation must carry exactly the
/// account's next nonce (the retry of an applied one was answered before).
fn check_nonce(s: &impl StateRead, account: &AccountId, nonce: u64) -> Result<(), LedgerError> {
    if s.account_nonce(account)? != nonce {
        return Err(LedgerError::BadNonce);
    }
    nonce.checked_add(1).ok_or(LedgerError::Overflow)?;
    Ok(())
}

fn add(a: u64, b: u64) -> Result<u64, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}
fn sub(a: u64, b: u64, e: LedgerError) -> Result<u64, LedgerError> {
    a.checked_sub(b).ok_or(e)
}

/// Consumes `nonce`, which the caller checked is the account's next (§8.3).
fn consume_nonce(
    w: &mut impl StateWrite,
    account: &AccountId,
    nonce: u64,
) -> Result<(), LedgerError> {
    let next = nonce.checked_add(1).ok_or(LedgerError::Overflow)?;
    w.set_account_nonce(account, next)
}

/// Appends commitments to the tree (§2.4): the leaves, the frontier and one
/// new history root. Returns the index of the first.
fn append(w: &mut impl StateWrite, cms: &[NoteCommitment]) -> Result<u64, LedgerError> {
    let mut f = w.frontier()?;
    let mut roots = w.roots()?;
    let first = f.size();
    for cm in cms {
        let i = f
            .append(*cm)
            .map_err(|_| LedgerError::InvalidArgument("commitment tree is full"))?;
        w.put_commitment(i.get(), cm)?;
    }
    roots.push(f.root());
    w.set_frontier(&f)?;
    w.set_roots(&roots)?;
    Ok(first)
}

/// The state of a new ledger (§8.1): height 0, zero counters, the empty
/// tree and its root as the only history entry, and the market's genesis
/// curve (§8.3.11).
pub fn genesis(w: &mut impl StateWrite) -> Result<(), LedgerError> {
    let frontier = Frontier::new();
    let mut roots = RootHistory::new();
    roots.push(frontier.root());
    w.set_height(BlockHeight(0))?;
    w.set_totals(&Totals::default())?;
    w.set_frontier(&frontier)?;
    w.set_roots(&roots)?;
    w.set_curve(&crate::trade::genesis_curve()?)?;
    w.set_audit_seeds(&crate::monitor::AuditSeeds::genesis())?;
    w.set_epoch_escrowed(0)
}

/// Outcome of the read-only checks of a spend: either new work, or the
/// retry of an operation already applied (idempotence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked<N, D> {
    New(N),
    Done(D),
}

// ---------------------------------------------------------------- deposit

/// Checks of a deposit (§8.3.1): the account's signature first (stateless),
/// then a retry (same commitment, account, value and nonce) is answered with
/// its receipt; otherwise the nonce must be the account's next and the
/// balance must cover `value`. On `New`, carries the nonce to consume.
pub fn check_deposit(
    s: &impl StateRead,
    d: &DepositRequest,
) -> Result<Checked<u64, DepositReceipt>, LedgerError> {
    if d.value == Value::ZERO {
        return Err(LedgerError::InvalidArgument(
            "deposit value must be positive",
        ));
    }
    let nonce = d.authenticate()?;
    let cm = d.commitment();
    if let Some(r) = s.deposit(&cm)? {
        return if r.account == d.account && r.value == d.value && r.nonce == nonce {
            Ok(Checked::Done(DepositReceipt {
                commitment: cm,
                leaf_index: r.leaf_index,
            }))
        } else {
            Err(LedgerError::DuplicateDeposit)
        };
    }
    check_nonce(s, &d.account, nonce)?;
    if s.account(&d.account)? < d.value {
        return Err(LedgerError::InsufficientBalance);
    }
    add(s.totals()?.pool, d.value.0)?;
    Ok(Checked::New(nonce))
}

/// §8.3.1 deposit: account → pool, appends `cm = H(NOTE, v, addr)`,
/// consumes the account nonce.
pub fn apply_deposit(
    w: &mut impl StateWrite,
    d: &DepositRequest,
) -> Result<DepositReceipt, LedgerError> {
    let nonce = match check_deposit(w, d)? {
        Checked::Done(r) => return Ok(r),
        Checked::New(nonce) => nonce,
    };
    let (account, value, cm) = (d.account, d.value, d.commitment());
    let bal = w.account(&account)?;
    let mut t = w.totals()?;
    t.pool = add(t.pool, value.0)?;
    let bal = sub(bal.0, value.0, LedgerError::InsufficientBalance)?;
    w.set_account(&account, Value(bal))?;
    consume_nonce(w, &account, nonce)?;
    w.set_totals(&t)?;
    let leaf_index = append(w, &[cm])?;
    w.put_deposit(
        &cm,
        &DepositRecord {
            account,
            value,
            leaf_index,
            nonce,
        },
    )?;
    Ok(DepositReceipt {
        commitment: cm,
        leaf_index,
    })
}

// ------------------------------------------------------------ open_escrow

/// Stateless checks of an access token.
pub fn check_open_stateless(st: &AccessPublic) -> Result<(), LedgerError> {
    if st.escrow == Value::ZERO {
        return Err(LedgerError::InvalidArgument("escrow must be positive"));
    }
    Ok(())
}

fn same_token(e: &Escrow, st: &AccessPublic) -> bool {
    e.node_id == st.node_id
        && e.escrow == st.escrow
        && e.session_key_hash == st.session_key_hash
        && e.refund_owner == st.refund_owner
        && e.expiry == st.expiry
        && e.cm_change == st.cm_change
}

/// Read-only checks (§8.3.2), cheapest first and all before any pairing
/// (adversarial C5): a retry of an applied token returns its escrow.
/// On `New`, carries the node's price.
pub fn check_open(
    s: &impl StateRead,
    cfg: &LedgerConfig,
    st: &AccessPublic,
) -> Result<Checked<Value, Escrow>, LedgerError> {
    check_open_stateless(st)?;
    let session_id = SessionId::from(st.nullifier);
    if s.nullifier(&st.nullifier)?.is_some() {
        return match s.escrow(&session_id)? {
            Some(e) if same_token(&e, st) => Ok(Checked::Done(e)),
            _ => Err(LedgerError::NullifierSpent),
        };
    }
    if !s.roots()?.contains(&st.root) {
        return Err(LedgerError::UnknownRoot(ROOT_HISTORY));
    }
    let node = s.node(&st.node_id)?.ok_or(LedgerError::UnknownNode)?;
    if node.is_retired() {
        return Err(LedgerError::NodeRetired);
    }
    if !node.escrow_sizes().contains(&st.escrow) {
        return Err(LedgerError::EscrowSizeNotAccepted(st.escrow));
    }
    let height = s.height()?;
    let max = height
        .checked_add(cfg.max_expiry_delta)
        .unwrap_or(BlockHeight(u64::MAX));
    if st.expiry <= height || st.expiry > max {
        return Err(LedgerError::ExpiryOutOfRange {
            expiry: st.expiry,
            height,
            max_delta: cfg.max_expiry_delta,
        });
    }
    let t = s.totals()?;
    sub(t.pool, st.escrow.0, LedgerError::PoolUnderflow)?;
    add(t.escrowed, st.escrow.0)?;
    Ok(Checked::New(node.price_per_kib()))
}

/// §8.3.2 open_escrow, after the proof verified: inserts `nf`, appends
/// `cm_change`, records the escrow, pool → escrow. Atomic (one transaction).
pub fn apply_open(
    w: &mut impl StateWrite,
    cfg: &LedgerConfig,
    st: &AccessPublic,
) -> Result<Escrow, LedgerError> {
    let price = match check_open(w, cfg, st)? {
        Checked::Done(e) => return Ok(e),
        Checked::New(price) => price,
    };
    let mut t = w.totals()?;
    t.pool = sub(t.pool, st.escrow.0, LedgerError::PoolUnderflow)?;
    t.escrowed = add(t.escrowed, st.escrow.0)?;
    let escrow = Escrow {
        session_id: SessionId::from(st.nullifier),
        node_id: st.node_id,
        escrow: st.escrow,
        price_per_kib: price,
        session_key_hash: st.session_key_hash,
        refund_owner: st.refund_owner,
        expiry: st.expiry,
        cm_change: st.cm_change,
        opened_at: w.height()?,
        state: EscrowState::Open,
    };
    w.set_totals(&t)?;
    w.put_nullifier(&st.nullifier, &NullifierUse::Escrow)?;
    append(w, &[st.cm_change])?;
    w.put_escrow(&escrow)?;
    hand::count_escrow(w, st.escrow)?;
    Ok(escrow)
}

// ----------------------------------------------------------------- settle

/// Stateless checks of a settlement request (§8.3.3).
pub fn check_settle_stateless(cfg: &LedgerConfig, r: &SettleRequest) -> Result<(), LedgerError> {
    if !cfg.settle_batch_sizes.contains(&r.k) || r.k as usize > MAX_BATCH {
        return Err(LedgerError::InvalidArgument("unsupported batch size k"));
    }
    if r.session_ids.is_empty() || r.session_ids.len() > r.k as usize {
        return Err(LedgerError::InvalidArgument(
            "batch must hold 1..=k sessions",
        ));
    }
    if r.cm_refunds.len() != r.session_ids.len() {
        return Err(LedgerError::InvalidArgument(
            "one refund commitment per session",
        ));
    }
    let mut ids = r.session_ids.clone();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(LedgerError::DuplicateSession);
    }
    Ok(())
}

/// The slots of a settlement from the ledger's own escrow records, in the
/// submitted order: every session must be an escrow of `r.node_id`.
fn settle_slots(
    s: &impl StateRead,
    r: &SettleRequest,
) -> Result<Vec<(Escrow, SettleSlot)>, LedgerError> {
    r.session_ids
        .iter()
        .zip(&r.cm_refunds)
        .map(|(id, cm_refund)| {
            let e = s.escrow(id)?.ok_or(LedgerError::UnknownEscrow)?;
            if e.node_id != r.node_id {
                return Err(LedgerError::WrongNode);
            }
            let slot = SettleBatch::slot(&e, *cm_refund);
            Ok((e, slot))
        })
        .collect()
}

/// The price of a settlement batch (§8.3.3): the price its escrows
/// recorded when they opened (§8.3.2), which must be one price. A node
/// update (§8.3.8) changes the price of new escrows only, never that of a
/// session already open.
pub fn batch_price(escrows: &[Escrow]) -> Result<Value, LedgerError> {
    let price = escrows
        .first()
        .map(|e| e.price_per_kib)
        .ok_or(LedgerError::InvalidArgument("an empty batch"))?;
    if escrows.iter().any(|e| e.price_per_kib != price) {
        return Err(LedgerError::InvalidArgument(
            "escrows of one batch record different prices",
        ));
    }
    Ok(price)
}

/// The node's authorisation (§8.3.3): `sig_N` by the node's REGISTERED key
/// over `H(SETTLE_AUTH, node_id, K, digest, T)` of the statement the
/// ledger built. Cheap (one EdDSA verification), before any pairing.
pub fn check_settle_authorised(
    node: &NodeRecord,
    r: &SettleRequest,
    statement: &SettleBatch,
) -> Result<(), LedgerError> {
    use LedgerError::SettleUnauthorized as E;
    let sig = r
        .authorisation
        .as_ref()
        .ok_or(E("missing node signature"))?;
    node.registration
        .node_key
        .verify(&statement.auth_message()?, sig)
        .map_err(|_| E("signature by the registered node key does not verify"))
}

/// Read-only checks of a settlement, cheapest first: batch shape, the
/// node's escrow records, the node's authorisation; then a retry of the
/// applied batch returns its receipt; then state (Open, window, `T ≤ ΣE`).
/// On `New`, the statement the proof must satisfy.
pub fn check_settle(
    s: &impl StateRead,
    cfg: &LedgerConfig,
    r: &SettleRequest,
) -> Result<Checked<SettleBatch, SettleReceipt>, LedgerError> {
    check_settle_stateless(cfg, r)?;
    let node = s.node(&r.node_id)?.ok_or(LedgerError::UnknownNode)?;
    let (escrows, slots): (Vec<Escrow>, Vec<SettleSlot>) = settle_slots(s, r)?.into_iter().unzip();
    let statement = SettleBatch {
        node_id: r.node_id,
        k: r.k,
        total: r.total,
        price: batch_price(&escrows)?,
        slots,
    };
    check_settle_authorised(&node, r, &statement)?;
    let batch = r.session_ids[0];
    if let Some(done) = s.settlement(&batch)? {
        let identical =
            done.node_id == r.node_id && done.total == r.total && done.session_ids == r.session_ids;
        let refunds_match = escrows.iter().zip(&r.cm_refunds).all(|(e, cm)| {
            matches!(e.state, EscrowState::Settled { batch: b, cm_refund } if b == batch && cm_refund == *cm)
        });
        if identical && refunds_match {
            return Ok(Checked::Done(SettleReceipt {
                total: done.total,
                first_leaf_index: done.first_leaf_index,
            }));
        }
    }
    let height = s.height()?;
    let mut sum = 0u64;
    for e in &escrows {
        match e.state {
            EscrowState::Open => {}
            EscrowState::Settled { .. } => return Err(LedgerError::AlreadySettled),
            EscrowState::Reclaimed { .. } => return Err(LedgerError::EscrowNotOpen),
        }
        let deadline = e
            .expiry
            .checked_add(cfg.challenge_window)
            .unwrap_or(BlockHeight(u64::MAX));
        if height > deadline {
            return Err(LedgerError::SettleWindowClosed);
        }
        sum = add(sum, e.escrow.0)?;
    }
    if r.total.0 > sum {
        return Err(LedgerError::TotalExceedsEscrow);
    }
    let t = s.totals()?;
    add(t.pool, sum - r.total.0)?;
    add(s.account(&node.registration.account)?.0, r.total.0)?;
    Ok(Checked::New(statement))
}

/// §8.3.3 settle, after the proof verified: pays `T` to the node's account,
/// appends every refund, marks the sessions Settled. All or nothing.
pub fn apply_settle(
    w: &mut impl StateWrite,
    cfg: &LedgerConfig,
    r: &SettleRequest,
) -> Result<SettleReceipt, LedgerError> {
    let statement = match check_settle(w, cfg, r)? {
        Checked::Done(receipt) => return Ok(receipt),
        Checked::New(st) => st,
    };
    let node = w.node(&r.node_id)?.ok_or(LedgerError::UnknownNode)?;
    let payee = node.registration.account;
    let sum: u64 = statement.slots.iter().map(|s| s.escrow.0).sum();
    let mut t = w.totals()?;
    t.escrowed = sub(t.escrowed, sum, LedgerError::PoolUnderflow)?;
    t.pool = add(t.pool, sum - r.total.0)?;
    let bal = add(w.account(&payee)?.0, r.total.0)?;
    let batch = r.session_ids[0];
    let mut escrows = Vec::with_capacity(r.session_ids.len());
    for (id, cm_refund) in r.session_ids.iter().zip(&r.cm_refunds) {
        let mut e = w.escrow(id)?.ok_or(LedgerError::UnknownEscrow)?;
        e.state = EscrowState::Settled {
            batch,
            cm_refund: *cm_refund,
        };
        escrows.push(e);
    }
    // All checks done: write.
    w.set_totals(&t)?;
    w.set_account(&payee, Value(bal))?;
    let first_leaf_index = append(w, &r.cm_refunds)?;
    for e in &escrows {
        w.put_escrow(e)?;
    }
    w.put_settlement(
        &batch,
        &SettlementRecord {
            node_id: r.node_id,
            total: r.total,
            first_leaf_index,
            session_ids: r.session_ids.clone(),
        },
    )?;
    Ok(SettleReceipt {
        total: r.total,
        first_leaf_index,
    })
}

// ---------------------------------------------------------------- reclaim

/// §8.3.4 reclaim: after `expiry + challenge_window`, refund `E` in full as
/// the reclaim note [`Escrow::reclaim_commitment`]. Anyone may call it; a retry returns the same leaf.
pub fn apply_reclaim(
    w: &mut impl StateWrite,
    cfg: &LedgerConfig,
    id: &SessionId,
) -> Result<ReclaimReceipt, LedgerError> {
    let mut e = w.escrow(id)?.ok_or(LedgerError::UnknownEscrow)?;
    let commitment = e.reclaim_commitment();
    match e.state {
        EscrowState::Reclaimed { leaf_index } => {
            return Ok(ReclaimReceipt {
                commitment,
                leaf_index,
            });
        }
        EscrowState::Settled { .. } => return Err(LedgerError::EscrowNotOpen),
        EscrowState::Open => {}
    }
    let deadline = e
        .expiry
        .checked_add(cfg.challenge_window)
        .unwrap_or(BlockHeight(u64::MAX));
    if w.height()? <= deadline {
        return Err(LedgerError::NotYetReclaimable(BlockHeight(
            deadline.0.saturating_add(1),
        )));
    }
    let mut t = w.totals()?;
    t.escrowed = sub(t.escrowed, e.escrow.0, LedgerError::PoolUnderflow)?;
    t.pool = add(t.pool, e.escrow.0)?;
    w.set_totals(&t)?;
    let leaf_index = append(w, &[commitment])?;
    e.state = EscrowState::Reclaimed { leaf_index };
    w.put_escrow(&e)?;
    Ok(ReclaimReceipt {
        commitment,
        leaf_index,
    })
}

// --------------------------------------------------------------- withdraw

pub fn check_withdraw(
    s: &impl StateRead,
    st: &WithdrawPublic,
) -> Result<Checked<(), WithdrawReceipt>, LedgerError> {
    if st.amount == Value::ZERO {
        return Err(LedgerError::InvalidArgument(
            "withdraw amount must be positive",
        ));
    }
    if let Some(used) = s.nullifier(&st.nullifier)? {
        return match used {
            NullifierUse::Withdrawal {
                recipient,
                amount,
                cm_change,
                leaf_index,
            } if recipient == st.recipient && amount == st.amount && cm_change == st.cm_change => {
                Ok(Checked::Done(WithdrawReceipt { leaf_index }))
            }
            _ => Err(LedgerError::NullifierSpent),
        };
    }
    if !s.roots()?.contains(&st.root) {
        return Err(LedgerError::UnknownRoot(ROOT_HISTORY));
    }
    sub(s.totals()?.pool, st.amount.0, LedgerError::PoolUnderflow)?;
    add(s.account(&st.recipient)?.0, st.amount.0)?;
    Ok(Checked::New(()))
}

/// §8.3.5 withdraw, after the proof verified: pool → recipient account,
/// appends `cm_change`, inserts `nf`.
pub fn apply_withdraw(
    w: &mut impl StateWrite,
    st: &WithdrawPublic,
) -> Result<WithdrawReceipt, LedgerError> {
    if let Checked::Done(r) = check_withdraw(w, st)? {
        return Ok(r);
    }
    let mut t = w.totals()?;
    t.pool = sub(t.pool, st.amount.0, LedgerError::PoolUnderflow)?;
    let bal = add(w.account(&st.recipient)?.0, st.amount.0)?;
    w.set_totals(&t)?;
    w.set_account(&st.recipient, Value(bal))?;
    let leaf_index = append(w, &[st.cm_change])?;
    w.put_nullifier(
        &st.nullifier,
        &NullifierUse::Withdrawal {
            recipient: st.recipient,
            amount: st.amount,
            cm_change: st.cm_change,
            leaf_index,
        },
    )?;
    Ok(WithdrawReceipt { leaf_index })
}

// ----------------------------------------------------- register, faucet, clock

/// §8.3.6 register_node: takes `stake` from the node's account and
/// consumes the account nonce. A retry of the applied registration (same
/// terms, same account key and nonce) returns the record; anything else
/// for a registered node id is refused.
pub fn apply_register(
    w: &mut impl StateWrite,
    g: &NodeRegistration,
) -> Result<NodeRecord, LedgerError> {
    let nonce = check_register_stateless(g)?;
    if let Some(existing) = w.node(&g.node_id)? {
        return if g.is_retry_of(&existing.registration) {
            Ok(existing)
        } else {
            Err(LedgerError::NodeExists)
        };
    }
    check_nonce(w, &g.account, nonce)?;
    let bal = sub(
        w.account(&g.account)?.0,
        g.stake.0,
        LedgerError::InsufficientBalance,
    )?;
    let mut t = w.totals()?;
    t.staked = add(t.staked, g.stake.0)?;
    let record = NodeRecord::registered(g.clone(), w.height()?);
    w.set_account(&g.account, Value(bal))?;
    consume_nonce(w, &g.account, nonce)?;
    w.set_totals(&t)?;
    w.put_node(&record)?;
    Ok(record)
}

/// Stateless checks of a registration (§8.3.6): terms well formed, then
/// `node_id = H(NODE_ID, N)` and the signature by `N` (adversarial: nobody
/// registers a node id whose key they do not hold), then the account's
/// signature (nobody stakes from, or is paid to, an account whose key they
/// do not hold). Returns the account nonce.
pub fn check_register_stateless(g: &NodeRegistration) -> Result<u64, LedgerError> {
    check_terms(g.price_per_kib, &g.escrow_sizes)?;
    check_profile(&g.profile)?;
    crate::monitor::check_stake_backs(g.stake, &g.profile)?;
    g.authenticate()
}

/// The terms a node may offer (§8.3.6, §8.3.8), the same at registration
/// and at every update: a positive price and 1–16 distinct positive
/// escrow sizes.
pub fn check_terms(price_per_kib: Value, escrow_sizes: &[Value]) -> Result<(), LedgerError> {
    if price_per_kib == Value::ZERO {
        return Err(LedgerError::InvalidArgument("price must be positive"));
    }
    if escrow_sizes.is_empty() || escrow_sizes.len() > MAX_ESCROW_SIZES {
        return Err(LedgerError::InvalidArgument(
            "a node accepts 1..=16 escrow sizes",
        ));
    }
    let mut sizes = escrow_sizes.to_vec();
    sizes.sort();
    if sizes.first() == Some(&Value::ZERO) || sizes.windows(2).any(|p| p[0] == p[1]) {
        return Err(LedgerError::InvalidArgument(
            "escrow sizes must be positive and distinct",
        ));
    }
    Ok(())
}

/// The ledger's rule on a node profile's form (§8.3.9): at most
/// [`MAX_PROFILE_BYTES`]. Its contents are the readers' to check, except
/// the claimed capacity, which the stake must back
/// ([`crate::monitor::check_stake_backs`]).
pub fn check_profile(profile: &[u8]) -> Result<(), LedgerError> {
    if profile.len() > MAX_PROFILE_BYTES {
        return Err(LedgerError::InvalidArgument(
            "node profile longer than 1024 bytes",
        ));
    }
    Ok(())
}

/// Stateless checks of a node update (§8.3.8): the terms as at
/// registration ([`check_terms`]), then the node key and the account's
/// signature ([`NodeUpdate::authenticate`]). Returns the account nonce.
pub fn check_update_stateless(u: &NodeUpdate) -> Result<u64, LedgerError> {
    check_terms(u.price_per_kib, &u.escrow_sizes)?;
    check_profile(&u.profile)?;
    u.authenticate()
}

/// Checks of a node update (§8.3.8): stateless first; then the node is
/// registered with this account; a retry of the latest applied update
/// returns the record; otherwise the sequence must be the record's next
/// (`StaleNodeUpdate`) and the account nonce the account's next. On
/// `New`, carries the record and the nonce to consume.
pub fn check_update(
    s: &impl StateRead,
    u: &NodeUpdate,
) -> Result<Checked<(NodeRecord, u64), NodeRecord>, LedgerError> {
    let nonce = check_update_stateless(u)?;
    let node = s.node(&u.node_id)?.ok_or(LedgerError::UnknownNode)?;
    if node.registration.account != u.account {
        return Err(LedgerError::AccountUnauthenticated(
            "the update is not signed by the node's registered account",
        ));
    }
    if let Some(last) = &node.update
        && u.is_retry_of(&last.update)
    {
        return Ok(Checked::Done(node));
    }
    if node.is_retired() {
        return Err(LedgerError::NodeRetired);
    }
    if Some(u.sequence) != node.sequence().checked_add(1) {
        return Err(LedgerError::StaleNodeUpdate);
    }
    crate::monitor::check_stake_backs(node.locked_stake(), &u.profile)?;
    check_nonce(s, &u.account, nonce)?;
    Ok(Checked::New((node, nonce)))
}

/// §8.3.8 update_node: the record's terms become the update's (new escrows
/// use them; open ones keep theirs); consumes the account nonce. The
/// account and stake stay.
pub fn apply_update(w: &mut impl StateWrite, u: &NodeUpdate) -> Result<NodeRecord, LedgerError> {
    let (mut node, nonce) = match check_update(w, u)? {
        Checked::Done(node) => return Ok(node),
        Checked::New(new) => new,
    };
    node.update = Some(AppliedUpdate {
        update: u.clone(),
        applied_at: w.height()?,
    });
    consume_nonce(w, &u.account, nonce)?;
    w.put_node(&node)?;
    Ok(node)
}

/// DEVELOPMENT ONLY (§8.3.7): mints `amount` into `account`, only on a
/// ledger configured with `dev_faucet`.
pub fn apply_faucet(
    w: &mut impl StateWrite,
    cfg: &LedgerConfig,
    account: &AccountId,
    amount: Value,
) -> Result<Value, LedgerError> {
    if !cfg.dev_faucet {
        return Err(LedgerError::FaucetDisabled);
    }
    if amount == Value::ZERO {
        return Err(LedgerError::InvalidArgument(
            "faucet amount must be positive",
        ));
    }
    let mut t = w.totals()?;
    t.minted = add(t.minted, amount.0)?;
    let bal = add(w.account(account)?.0, amount.0)?;
    w.set_totals(&t)?;
    w.set_account(account, Value(bal))?;
    Ok(Value(bal))
}

/// Advances the logical clock by `blocks` (§8.1).
/// Each market epoch boundary crossed moves the reserve ratio one step
/// (§8.3.11) and closes an epoch's audit reports (§8.3.13); every open
/// challenge whose deadline it passes slashes its node (§8.3.14).
pub fn apply_advance(w: &mut impl StateWrite, blocks: u64) -> Result<BlockHeight, LedgerError> {
    let from = w.height()?;
    let h = from.checked_add(blocks).ok_or(LedgerError::Overflow)?;
    hand::on_advance(w, from, h)?;
    challenge::on_advance(w, h)?;
    audit::on_advance(w, from, h)?;
    w.set_height(h)?;
    Ok(h)
}

/// The turnstile as stored: `minted = Σ accounts + pool + escrowed + staked`
/// is checked by [`crate::audit`]; this is the stored half.
pub fn totals(s: &impl StateRead) -> Result<Totals, LedgerError> {
    s.totals()
}
