//! `veil ledger audit`: recomputes everything the ledger stores as a
//! counter from its records and checks every cross-table invariant
//! (docs/ledger.md "Audit").
//!
//! * turnstile: `minted + R0 = Σ accounts + pool + escrowed + staked +
//!   monitor_staked + reserve + burnt` (`R0` the curve's genesis reserve,
//!   §8.4), with `pool`, `escrowed`, `staked` and `monitor_staked`
//!   recomputed from deposits, escrows, settlements, withdrawals, nodes and
//!   monitors, and equal to the stored counters;
//! * market: the curve's supply is its float plus Σ token balances;
//! * tree: leaves `0..n` contiguous, root recomputed from the leaves equals
//!   the frontier's root and the newest root of the history;
//! * every nullifier has its escrow or withdrawal record, and every escrow
//!   its nullifier; every deposit, withdrawal and reclaim leaf holds its
//!   commitment; every settled session names an existing batch.

use std::collections::HashMap;

use veil_primitives::Fr;
use veil_primitives::merkle::{DEPTH, empty_roots};
use veil_primitives::poseidon::hash_node;

use crate::error::LedgerError;
use crate::records::*;
use crate::schema::*;
use crate::state::StateRead;
use crate::store::{ReadState, Store, scan};
use crate::types::*;

/// What the audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub commitments: u64,
    pub nullifiers: u64,
    pub escrows: u64,
    pub open_escrows: u64,
    pub minted: u64,
    pub accounts: u64,
    pub pool: u64,
    pub escrowed: u64,
    pub staked: u64,
    /// Σ monitors' stakes (§8.3.13).
    pub monitor_staked: u64,
    /// Value slashes destroyed (stored; not recomputable from records).
    pub burnt: u64,
    /// The curve's reserve (§8.3.11).
    pub reserve: u64,
    /// Σ token balances.
    pub tokens: u128,
    /// Every violated invariant, in words. Empty means the ledger is sound.
    pub violations: Vec<String>,
}

impl AuditReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

fn root_of(leaves: Vec<Fr>) -> Fr {
    let z = empty_roots();
    let mut level = leaves;
    for zd in z.iter().take(DEPTH) {
        if level.is_empty() {
            level.push(*zd);
        }
        level = level
            .chunks(2)
            .map(|p| hash_node(&p[0], p.get(1).unwrap_or(zd)))
            .collect();
    }
    level.first().copied().unwrap_or(z[DEPTH])
}

/// Audits the store. `Err` only if the database cannot be read at all.
pub fn audit(store: &Store) -> Result<AuditReport, LedgerError> {
    let r: ReadState = store.read()?;
    let mut a = Audit {
        leaves: leaves(&r)?,
        ..Audit::default()
    };
    a.tree(&r)?;
    a.accounts_and_nodes(&r)?;
    a.deposits(&r)?;
    a.escrows(&r)?;
    a.settlements(&r)?;
    a.nullifiers(&r)?;
    a.market(&r)?;
    a.totals(&r)
}

/// The leaves `0..n` in order; `Err(Corrupted)` for a non-canonical one, a
/// gap is reported by [`Audit::tree`] through the count.
fn leaves(r: &ReadState) -> Result<Vec<(u64, Fr)>, LedgerError> {
    let mut leaves = Vec::new();
    scan(r, COMMITMENTS, |i, cm| {
        let cm = NoteCommitment::from_bytes(&cm)
            .map_err(|_| LedgerError::Corrupted("non-canonical leaf".into()))?;
        leaves.push((i, cm.inner()));
        Ok(())
    })?;
    Ok(leaves)
}

/// The audit's running state: what was recomputed so far and every
/// violation found.
#[derive(Default)]
struct Audit {
    /// `(index, leaf)` in table order.
    leaves: Vec<(u64, Fr)>,
    rep: AuditReport,
    v: Vec<String>,
    /// Pool recomputed from records (i128: intermediate sums may dip).
    pool: i128,
    escrow_state: HashMap<[u8; 32], (Value, EscrowState)>,
}

impl Audit {
    /// Whether leaf `i` holds `cm`.
    fn leaf_is(&self, i: u64, cm: &NoteCommitment) -> bool {
        self.leaves.get(i as usize).map(|(_, l)| l) == Some(&cm.inner())
    }

    /// Leaves contiguous from 0; the frontier's count and root and the
    /// newest root of the history agree with them.
    fn tree(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        if self
            .leaves
            .iter()
            .enumerate()
            .any(|(k, (i, _))| *i != k as u64)
        {
            self.v
                .push("commitment indices are not contiguous from 0".into());
        }
        self.rep.commitments = self.leaves.len() as u64;
        let frontier = r.frontier()?;
        if frontier.size() != self.rep.commitments {
            self.v.push(format!(
                "frontier counts {} leaves, table holds {}",
                frontier.size(),
                self.rep.commitments
            ));
        }
        let leaves = self.leaves.iter().map(|(_, l)| *l).collect();
        if root_of(leaves) != frontier.root().inner() {
            (self.v).push(
                "root recomputed from the leaves differs from the stored frontier root".into(),
            );
        }
        if r.roots()?.latest() != Some(frontier.root()) {
            (self.v).push("newest root of the history is not the current root".into());
        }
        Ok(())
    }

    /// The curve's reserve, and its supply against Σ token balances.
    fn market(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let curve = r.curve()?;
        let mut held = 0u128;
        scan(r, TOKENS, |_, t| {
            held = held.checked_add(t).ok_or(LedgerError::Overflow)?;
            Ok(())
        })?;
        if curve.float().checked_add(held) != Some(curve.supply()) {
            self.v.push(format!(
                "token supply {} != float {} + balances {held}",
                curve.supply(),
                curve.float()
            ));
        }
        self.rep.tokens = held;
        self.rep.reserve = crate::trade::reserve_value(&curve)?.get();
        Ok(())
    }

    /// Σ account balances and Σ node stakes not yet released (§8.3.12).
    fn accounts_and_nodes(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let mut accounts = 0u64;
        scan(r, ACCOUNTS, |_, bal| {
            accounts = accounts.checked_add(bal).ok_or(LedgerError::Overflow)?;
            Ok(())
        })?;
        let mut staked = 0u64;
        scan(r, NODES, |_, rec| {
            let stake = decode_node(rec)?.locked_stake().0;
            staked = staked.checked_add(stake).ok_or(LedgerError::Overflow)?;
            Ok(())
        })?;
        let mut monitors = 0u64;
        scan(r, MONITORS, |_, rec| {
            let stake = decode_monitor(rec)?.stake.get();
            monitors = monitors.checked_add(stake).ok_or(LedgerError::Overflow)?;
            Ok(())
        })?;
        self.rep.accounts = accounts;
        self.rep.staked = staked;
        self.rep.monitor_staked = monitors;
        Ok(())
    }

    /// Every deposit adds its value to the pool and holds its leaf.
    fn deposits(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let mut found = Vec::new();
        scan(r, DEPOSITS, |cm, rec| {
            let d = DepositRecord::decode(rec)?;
            let cm = NoteCommitment::from_bytes(&cm)
                .map_err(|_| LedgerError::Corrupted("deposit key".into()))?;
            found.push((d, cm));
            Ok(())
        })?;
        for (d, cm) in found {
            if !self.leaf_is(d.leaf_index, &cm) {
                (self.v).push(format!(
                    "deposit leaf {} does not hold its commitment",
                    d.leaf_index
                ));
            }
            self.pool += i128::from(d.value.0);
        }
        Ok(())
    }

    /// Every escrow has its nullifier and leaves the pool; open escrows sum
    /// to `escrowed`; a reclaim returns its value and holds its leaf.
    fn escrows(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let mut found = Vec::new();
        scan(r, ESCROWS, |key, rec| {
            found.push((key, decode_escrow(rec)?));
            Ok(())
        })?;
        for (key, e) in found {
            self.rep.escrows += 1;
            if e.session_id.to_bytes() != key {
                self.v.push("escrow stored under another session id".into());
            }
            let nf = Nullifier::from_bytes(&key)
                .map_err(|_| LedgerError::Corrupted("escrow key".into()))?;
            if r.nullifier(&nf)? != Some(NullifierUse::Escrow) {
                (self.v).push(format!(
                    "escrow {} has no nullifier record",
                    hex::encode(key)
                ));
            }
            self.pool -= i128::from(e.escrow.0);
            match e.state {
                EscrowState::Open => {
                    self.rep.open_escrows += 1;
                    self.rep.escrowed = (self.rep.escrowed)
                        .checked_add(e.escrow.0)
                        .ok_or(LedgerError::Overflow)?;
                }
                EscrowState::Reclaimed { leaf_index } => {
                    self.pool += i128::from(e.escrow.0);
                    if !self.leaf_is(leaf_index, &e.reclaim_commitment()) {
                        (self.v).push(format!(
                            "reclaim leaf {leaf_index} does not hold the refund"
                        ));
                    }
                }
                EscrowState::Settled { .. } => {}
            }
            self.escrow_state.insert(key, (e.escrow, e.state));
        }
        Ok(())
    }

    /// Every settlement names sessions it settled and returns their escrows
    /// minus its total to the pool; every settled session's batch exists.
    fn settlements(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let (states, v, pool) = (&self.escrow_state, &mut self.v, &mut self.pool);
        scan(r, SETTLEMENTS, |key, rec| {
            let s = SettlementRecord::decode(rec)?;
            let mut sum = 0i128;
            for id in &s.session_ids {
                match states.get(&id.to_bytes()) {
                    Some((e, EscrowState::Settled { batch, .. })) if batch.to_bytes() == key => {
                        sum += i128::from(e.0)
                    }
                    _ => v.push(format!(
                        "settlement {} names a session not settled by it",
                        hex::encode(key)
                    )),
                }
            }
            *pool += sum - i128::from(s.total.0);
            Ok(())
        })?;
        for (key, (_, st)) in &self.escrow_state {
            if let EscrowState::Settled { batch, .. } = st
                && r.settlement(batch)?.is_none()
            {
                (self.v).push(format!(
                    "session {} settled by a missing batch",
                    hex::encode(key)
                ));
            }
        }
        Ok(())
    }

    /// Every escrow nullifier has its escrow; a withdrawal leaves the pool
    /// and holds its change leaf.
    fn nullifiers(&mut self, r: &ReadState) -> Result<(), LedgerError> {
        let mut found = Vec::new();
        scan(r, NULLIFIERS, |key, rec| {
            found.push((key, NullifierUse::decode(rec)?));
            Ok(())
        })?;
        for (key, used) in found {
            self.rep.nullifiers += 1;
            match used {
                NullifierUse::Escrow if !self.escrow_state.contains_key(&key) => {
                    (self.v).push(format!(
                        "nullifier {} spent without an escrow",
                        hex::encode(key)
                    ));
                }
                NullifierUse::Escrow => {}
                NullifierUse::Withdrawal {
                    amount,
                    cm_change,
                    leaf_index,
                    ..
                } => {
                    self.pool -= i128::from(amount.0);
                    if !self.leaf_is(leaf_index, &cm_change) {
                        (self.v).push(format!(
                            "withdrawal leaf {leaf_index} does not hold its change"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The recomputed counters equal the stored ones, and the turnstile
    /// `minted + R0 = accounts + pool + escrowed + staked + monitor_staked +
    /// reserve + burnt` holds.
    fn totals(mut self, r: &ReadState) -> Result<AuditReport, LedgerError> {
        let t = r.totals()?;
        let mut rep = std::mem::take(&mut self.rep);
        let mut v = std::mem::take(&mut self.v);
        rep.minted = t.minted;
        rep.pool = u64::try_from(self.pool).unwrap_or_else(|_| {
            v.push(format!(
                "recomputed pool value is out of range: {}",
                self.pool
            ));
            0
        });
        for (what, stored, recomputed) in [
            ("pool", t.pool, rep.pool),
            ("escrowed", t.escrowed, rep.escrowed),
            ("staked", t.staked, rep.staked),
            ("monitor_staked", t.monitor_staked, rep.monitor_staked),
        ] {
            if stored != recomputed {
                v.push(format!("{what}: stored {stored} recomputed {recomputed}"));
            }
        }
        rep.burnt = t.burnt;
        let held = [
            rep.pool,
            rep.escrowed,
            rep.staked,
            rep.monitor_staked,
            rep.reserve,
            rep.burnt,
        ]
        .into_iter()
        .try_fold(u128::from(rep.accounts), |s, x| {
            s.checked_add(u128::from(x))
        });
        let issued = u128::from(t.minted) + u128::from(crate::trade::GENESIS_RESERVE.get());
        match held {
            Some(sum) if sum == issued => {}
            Some(sum) => v.push(format!(
                "turnstile violated: minted {} + genesis reserve {} != accounts {} + pool {} + escrowed {} + staked {} + monitors {} + reserve {} + burnt {} = {sum}",
                t.minted, crate::trade::GENESIS_RESERVE.get(), rep.accounts, rep.pool, rep.escrowed, rep.staked, rep.monitor_staked, rep.reserve, rep.burnt
            )),
            None => v.push("overflow summing the turnstile".into()),
        }
        rep.violations = v;
        Ok(rep)
    }
}
