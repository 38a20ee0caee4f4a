//! `veil ledger audit`: recomputes everything the ledger stores as a
//! counter from its records and checks every cross-table invariant
//! (docs/ledger.md "Audit").
//!
//! * turnstile: `minted = Σ accounts + pool + escrowed + staked`, with `pool`,
//!   `escrowed` and `staked` recomputed from deposits, escrows, settlements,
//!   withdrawals and nodes, and equal to the stored counters;
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
    let mut rep = AuditReport::default();
    let mut v = Vec::new();
    let overflow = |v: &mut Vec<String>, what: &str| v.push(format!("overflow summing {what}"));

    // Leaves.
    let mut leaves: Vec<Fr> = Vec::new();
    let mut contiguous = true;
    scan(&r, COMMITMENTS, |i, cm| {
        if i != leaves.len() as u64 {
            contiguous = false;
        }
        leaves.push(
            NoteCommitment::from_bytes(&cm)
                .map_err(|_| LedgerError::Corrupted("non-canonical leaf".into()))?
                .inner(),
        );
        Ok(())
    })?;
    if !contiguous {
        v.push("commitment indices are not contiguous from 0".into());
    }
    rep.commitments = leaves.len() as u64;
    let leaf_is = |i: u64, cm: &NoteCommitment| leaves.get(i as usize) == Some(&cm.inner());
    let frontier = r.frontier()?;
    if frontier.size() != rep.commitments {
        v.push(format!(
            "frontier counts {} leaves, table holds {}",
            frontier.size(),
            rep.commitments
        ));
    }
    if root_of(leaves.clone()) != frontier.root().inner() {
        v.push("root recomputed from the leaves differs from the stored frontier root".into());
    }
    if r.roots()?.latest() != Some(frontier.root()) {
        v.push("newest root of the history is not the current root".into());
    }

    // Accounts and nodes.
    let mut accounts = 0u64;
    scan(&r, ACCOUNTS, |_, bal| {
        accounts = accounts.checked_add(bal).ok_or(LedgerError::Overflow)?;
        Ok(())
    })?;
    let mut staked = 0u64;
    scan(&r, NODES, |_, rec| {
        staked = staked
            .checked_add(decode_node(rec)?.registration.stake.0)
            .ok_or(LedgerError::Overflow)?;
        Ok(())
    })?;

    // Pool recomputed from records (i128: intermediate sums may dip).
    let mut pool: i128 = 0;
    scan(&r, DEPOSITS, |cm, rec| {
        let d = DepositRecord::decode(rec)?;
        let cm = NoteCommitment::from_bytes(&cm)
            .map_err(|_| LedgerError::Corrupted("deposit key".into()))?;
        if !leaf_is(d.leaf_index, &cm) {
            v.push(format!(
                "deposit leaf {} does not hold its commitment",
                d.leaf_index
            ));
        }
        pool += i128::from(d.value.0);
        Ok(())
    })?;

    let mut escrowed = 0u64;
    let mut escrow_state: HashMap<[u8; 32], (Value, EscrowState)> = HashMap::new();
    scan(&r, ESCROWS, |key, rec| {
        let e = decode_escrow(rec)?;
        rep.escrows += 1;
        if e.session_id.to_bytes() != key {
            v.push("escrow stored under another session id".into());
        }
        let nf =
            Nullifier::from_bytes(&key).map_err(|_| LedgerError::Corrupted("escrow key".into()))?;
        if r.nullifier(&nf)? != Some(NullifierUse::Escrow) {
            v.push(format!(
                "escrow {} has no nullifier record",
                hex::encode(key)
            ));
        }
        pool -= i128::from(e.escrow.0);
        match e.state {
            EscrowState::Open => {
                rep.open_escrows += 1;
                escrowed = escrowed
                    .checked_add(e.escrow.0)
                    .ok_or(LedgerError::Overflow)?;
            }
            EscrowState::Reclaimed { leaf_index } => {
                pool += i128::from(e.escrow.0);
                if !leaf_is(leaf_index, &e.reclaim_commitment()) {
                    v.push(format!(
                        "reclaim leaf {leaf_index} does not hold the refund"
                    ));
                }
            }
            EscrowState::Settled { .. } => {}
        }
        escrow_state.insert(key, (e.escrow, e.state));
        Ok(())
    })?;

    scan(&r, SETTLEMENTS, |key, rec| {
        let s = SettlementRecord::decode(rec)?;
        let mut sum = 0i128;
        for id in &s.session_ids {
            match escrow_state.get(&id.to_bytes()) {
                Some((e, EscrowState::Settled { batch, .. })) if batch.to_bytes() == key => {
                    sum += i128::from(e.0)
                }
                _ => v.push(format!(
                    "settlement {} names a session not settled by it",
                    hex::encode(key)
                )),
            }
        }
        pool += sum - i128::from(s.total.0);
        Ok(())
    })?;
    for (key, (_, st)) in &escrow_state {
        if let EscrowState::Settled { batch, .. } = st
            && r.settlement(batch)?.is_none()
        {
            v.push(format!(
                "session {} settled by a missing batch",
                hex::encode(key)
            ));
        }
    }

    scan(&r, NULLIFIERS, |key, rec| {
        rep.nullifiers += 1;
        match NullifierUse::decode(rec)? {
            NullifierUse::Escrow => {
                if !escrow_state.contains_key(&key) {
                    v.push(format!(
                        "nullifier {} spent without an escrow",
                        hex::encode(key)
                    ));
                }
            }
            NullifierUse::Withdrawal {
                amount,
                cm_change,
                leaf_index,
                ..
            } => {
                pool -= i128::from(amount.0);
                if !leaf_is(leaf_index, &cm_change) {
                    v.push(format!(
                        "withdrawal leaf {leaf_index} does not hold its change"
                    ));
                }
            }
        }
        Ok(())
    })?;

    let t = r.totals()?;
    rep.minted = t.minted;
    rep.accounts = accounts;
    rep.escrowed = escrowed;
    rep.staked = staked;
    rep.pool = u64::try_from(pool).unwrap_or_else(|_| {
        v.push(format!("recomputed pool value is out of range: {pool}"));
        0
    });
    if rep.pool != t.pool {
        v.push(format!("pool: stored {} recomputed {}", t.pool, rep.pool));
    }
    if escrowed != t.escrowed {
        v.push(format!(
            "escrowed: stored {} recomputed {}",
            t.escrowed, escrowed
        ));
    }
    if staked != t.staked {
        v.push(format!("staked: stored {} recomputed {}", t.staked, staked));
    }
    match accounts.checked_add(rep.pool).and_then(|x| x.checked_add(escrowed)).and_then(|x| x.checked_add(staked)) {
        Some(sum) if sum == t.minted => {}
        Some(sum) => v.push(format!(
            "turnstile violated: minted {} != accounts {} + pool {} + escrowed {} + staked {} = {sum}",
            t.minted, accounts, rep.pool, escrowed, staked
        )),
        None => overflow(&mut v, "the turnstile"),
    }
    rep.violations = v;
    Ok(rep)
}
