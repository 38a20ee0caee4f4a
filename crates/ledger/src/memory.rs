//! [`MemState`]: ledger state in ordinary maps, the reference implementation
//! of [`StateRead`]/[`StateWrite`] (no redb). For tests and models of the
//! state machine; it has no durability and no atomicity beyond `Clone`.

use std::collections::BTreeMap;

use veil_primitives::merkle::{Frontier, RootHistory};

use veil_market::curve::Curve;

use crate::challenge::{ChallengeKey, ChallengeRecord};
use crate::error::LedgerError;
use crate::machine;
use crate::monitor::{AuditSeeds, MonitorRecord, StoredReport};
use crate::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use crate::state::{StateRead, StateWrite};
use crate::trade::{Tokens, TradeReceipt};
use crate::types::{
    AccountId, BlockHeight, Escrow, NodeId, NodeRecord, NoteCommitment, Nullifier, SessionId, Value,
};

/// Ledger state in memory, keyed by the canonical bytes of each id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemState {
    height: BlockHeight,
    totals: Totals,
    frontier: Frontier,
    roots: RootHistory,
    commitments: BTreeMap<u64, NoteCommitment>,
    nullifiers: BTreeMap<[u8; 32], NullifierUse>,
    escrows: BTreeMap<[u8; 32], Escrow>,
    nodes: BTreeMap<[u8; 32], NodeRecord>,
    accounts: BTreeMap<[u8; 32], Value>,
    nonces: BTreeMap<[u8; 32], u64>,
    deposits: BTreeMap<[u8; 32], DepositRecord>,
    settlements: BTreeMap<[u8; 32], SettlementRecord>,
    curve: Curve,
    tokens: BTreeMap<[u8; 32], Tokens>,
    trades: BTreeMap<([u8; 32], u64), TradeReceipt>,
    epoch_escrowed: u64,
    monitors: BTreeMap<[u8; 32], MonitorRecord>,
    reports: BTreeMap<(u64, [u8; 32], [u8; 32]), StoredReport>,
    audit_seeds: AuditSeeds,
    challenges: BTreeMap<([u8; 32], u64, [u8; 32]), ChallengeRecord>,
    challenges_due: BTreeMap<(u64, [u8; 32], u64, [u8; 32]), ChallengeKey>,
}

impl MemState {
    /// A new ledger ([`machine::genesis`]).
    pub fn new() -> Result<Self, LedgerError> {
        let mut s = Self {
            height: BlockHeight(0),
            totals: Totals::default(),
            frontier: Frontier::new(),
            roots: RootHistory::new(),
            commitments: BTreeMap::new(),
            nullifiers: BTreeMap::new(),
            escrows: BTreeMap::new(),
            nodes: BTreeMap::new(),
            accounts: BTreeMap::new(),
            nonces: BTreeMap::new(),
            deposits: BTreeMap::new(),
            settlements: BTreeMap::new(),
            curve: crate::trade::genesis_curve()?,
            tokens: BTreeMap::new(),
            trades: BTreeMap::new(),
            epoch_escrowed: 0,
            monitors: BTreeMap::new(),
            reports: BTreeMap::new(),
            audit_seeds: AuditSeeds::genesis(),
            challenges: BTreeMap::new(),
            challenges_due: BTreeMap::new(),
        };
        machine::genesis(&mut s)?;
        Ok(s)
    }
}

impl StateRead for MemState {
    fn nullifier(&self, nf: &Nullifier) -> Result<Option<NullifierUse>, LedgerError> {
        Ok(self.nullifiers.get(&nf.to_bytes()).cloned())
    }
    fn escrow(&self, id: &SessionId) -> Result<Option<Escrow>, LedgerError> {
        Ok(self.escrows.get(&id.to_bytes()).cloned())
    }
    fn node(&self, id: &NodeId) -> Result<Option<NodeRecord>, LedgerError> {
        Ok(self.nodes.get(&id.to_bytes()).cloned())
    }
    fn account(&self, a: &AccountId) -> Result<Value, LedgerError> {
        Ok(self
            .accounts
            .get(&a.to_bytes())
            .copied()
            .unwrap_or(Value(0)))
    }
    fn account_nonce(&self, a: &AccountId) -> Result<u64, LedgerError> {
        Ok(self.nonces.get(&a.to_bytes()).copied().unwrap_or(0))
    }
    fn deposit(&self, cm: &NoteCommitment) -> Result<Option<DepositRecord>, LedgerError> {
        Ok(self.deposits.get(&cm.to_bytes()).copied())
    }
    fn settlement(&self, batch: &SessionId) -> Result<Option<SettlementRecord>, LedgerError> {
        Ok(self.settlements.get(&batch.to_bytes()).cloned())
    }
    fn commitments(&self, from: u64, limit: u64) -> Result<Vec<NoteCommitment>, LedgerError> {
        let range = from..from.saturating_add(limit);
        Ok(self.commitments.range(range).map(|(_, cm)| *cm).collect())
    }
    fn height(&self) -> Result<BlockHeight, LedgerError> {
        Ok(self.height)
    }
    fn totals(&self) -> Result<Totals, LedgerError> {
        Ok(self.totals)
    }
    fn frontier(&self) -> Result<Frontier, LedgerError> {
        Ok(self.frontier.clone())
    }
    fn roots(&self) -> Result<RootHistory, LedgerError> {
        Ok(self.roots.clone())
    }
    fn curve(&self) -> Result<Curve, LedgerError> {
        Ok(self.curve.clone())
    }
    fn tokens(&self, a: &AccountId) -> Result<Tokens, LedgerError> {
        Ok(self.tokens.get(&a.to_bytes()).copied().unwrap_or_default())
    }
    fn trade(&self, a: &AccountId, nonce: u64) -> Result<Option<TradeReceipt>, LedgerError> {
        Ok(self.trades.get(&(a.to_bytes(), nonce)).copied())
    }
    fn epoch_escrowed(&self) -> Result<u64, LedgerError> {
        Ok(self.epoch_escrowed)
    }
    fn monitor(&self, a: &AccountId) -> Result<Option<MonitorRecord>, LedgerError> {
        Ok(self.monitors.get(&a.to_bytes()).cloned())
    }
    fn monitors(&self) -> Result<Vec<MonitorRecord>, LedgerError> {
        Ok(self.monitors.values().cloned().collect())
    }
    fn report(
        &self,
        epoch: u64,
        node: &NodeId,
        monitor: &AccountId,
    ) -> Result<Option<StoredReport>, LedgerError> {
        Ok(self
            .reports
            .get(&(epoch, node.to_bytes(), monitor.to_bytes()))
            .copied())
    }
    fn reports(&self, epoch: u64) -> Result<Vec<(NodeId, AccountId, StoredReport)>, LedgerError> {
        let corrupt = |_| LedgerError::Corrupted("report key".into());
        self.reports
            .range((epoch, [0u8; 32], [0u8; 32])..=(epoch, [0xff; 32], [0xff; 32]))
            .map(|((_, n, m), r)| {
                Ok((
                    NodeId::from_bytes(n).map_err(corrupt)?,
                    AccountId::from_bytes(m).map_err(corrupt)?,
                    *r,
                ))
            })
            .collect()
    }
    fn audit_seeds(&self) -> Result<AuditSeeds, LedgerError> {
        Ok(self.audit_seeds)
    }
    fn challenge(&self, k: &ChallengeKey) -> Result<Option<ChallengeRecord>, LedgerError> {
        Ok(self.challenges.get(&bytes_key(k)).copied())
    }
    fn challenges_of(
        &self,
        node: &NodeId,
        from_epoch: u64,
    ) -> Result<Vec<ChallengeRecord>, LedgerError> {
        let n = node.to_bytes();
        Ok(self
            .challenges
            .range((n, from_epoch, [0u8; 32])..=(n, u64::MAX, [0xff; 32]))
            .map(|(_, c)| *c)
            .collect())
    }
    fn challenges_due(&self, before: BlockHeight) -> Result<Vec<ChallengeKey>, LedgerError> {
        Ok(self
            .challenges_due
            .range(..(before.0, [0u8; 32], 0, [0u8; 32]))
            .map(|(_, k)| *k)
            .collect())
    }
}

impl StateWrite for MemState {
    fn set_height(&mut self, h: BlockHeight) -> Result<(), LedgerError> {
        self.height = h;
        Ok(())
    }
    fn set_totals(&mut self, t: &Totals) -> Result<(), LedgerError> {
        self.totals = *t;
        Ok(())
    }
    fn set_frontier(&mut self, f: &Frontier) -> Result<(), LedgerError> {
        self.frontier = f.clone();
        Ok(())
    }
    fn set_roots(&mut self, r: &RootHistory) -> Result<(), LedgerError> {
        self.roots = r.clone();
        Ok(())
    }
    fn put_commitment(&mut self, index: u64, cm: &NoteCommitment) -> Result<(), LedgerError> {
        self.commitments.insert(index, *cm);
        Ok(())
    }
    fn put_nullifier(&mut self, nf: &Nullifier, u: &NullifierUse) -> Result<(), LedgerError> {
        self.nullifiers.insert(nf.to_bytes(), u.clone());
        Ok(())
    }
    fn put_escrow(&mut self, e: &Escrow) -> Result<(), LedgerError> {
        self.escrows.insert(e.session_id.to_bytes(), e.clone());
        Ok(())
    }
    fn put_node(&mut self, n: &NodeRecord) -> Result<(), LedgerError> {
        self.nodes
            .insert(n.registration.node_id.to_bytes(), n.clone());
        Ok(())
    }
    fn set_account(&mut self, a: &AccountId, v: Value) -> Result<(), LedgerError> {
        self.accounts.insert(a.to_bytes(), v);
        Ok(())
    }
    fn set_account_nonce(&mut self, a: &AccountId, next: u64) -> Result<(), LedgerError> {
        self.nonces.insert(a.to_bytes(), next);
        Ok(())
    }
    fn put_deposit(&mut self, cm: &NoteCommitment, d: &DepositRecord) -> Result<(), LedgerError> {
        self.deposits.insert(cm.to_bytes(), *d);
        Ok(())
    }
    fn put_settlement(
        &mut self,
        batch: &SessionId,
        s: &SettlementRecord,
    ) -> Result<(), LedgerError> {
        self.settlements.insert(batch.to_bytes(), s.clone());
        Ok(())
    }
    fn set_curve(&mut self, c: &Curve) -> Result<(), LedgerError> {
        self.curve = c.clone();
        Ok(())
    }
    fn set_tokens(&mut self, a: &AccountId, t: Tokens) -> Result<(), LedgerError> {
        self.tokens.insert(a.to_bytes(), t);
        Ok(())
    }
    fn put_trade(&mut self, a: &AccountId, t: &TradeReceipt) -> Result<(), LedgerError> {
        self.trades.insert((a.to_bytes(), t.nonce), *t);
        Ok(())
    }
    fn set_epoch_escrowed(&mut self, v: u64) -> Result<(), LedgerError> {
        self.epoch_escrowed = v;
        Ok(())
    }
    fn put_monitor(&mut self, m: &MonitorRecord) -> Result<(), LedgerError> {
        self.monitors.insert(m.account.to_bytes(), m.clone());
        Ok(())
    }
    fn put_report(
        &mut self,
        epoch: u64,
        node: &NodeId,
        monitor: &AccountId,
        r: &StoredReport,
    ) -> Result<(), LedgerError> {
        self.reports
            .insert((epoch, node.to_bytes(), monitor.to_bytes()), *r);
        Ok(())
    }
    fn set_audit_seeds(&mut self, s: &AuditSeeds) -> Result<(), LedgerError> {
        self.audit_seeds = *s;
        Ok(())
    }
    fn put_challenge(&mut self, c: &ChallengeRecord) -> Result<(), LedgerError> {
        let (n, e, m) = bytes_key(&c.key);
        let due = (c.deadline.0, n, e, m);
        if c.is_open() {
            self.challenges_due.insert(due, c.key);
        } else {
            self.challenges_due.remove(&due);
        }
        self.challenges.insert((n, e, m), *c);
        Ok(())
    }
}

fn bytes_key(k: &ChallengeKey) -> ([u8; 32], u64, [u8; 32]) {
    (k.node_id.to_bytes(), k.epoch, k.monitor.to_bytes())
}

#[cfg(test)]
mod tests {
    use veil_primitives::Fr;
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::merkle::Tree;

    use super::*;
    use crate::machine::{LedgerConfig, apply_advance, apply_deposit, apply_faucet};
    use crate::types::{Address, DepositRequest};

    fn key() -> SigningKey {
        SigningKey::from_seed([7; 32]).expect("seed")
    }

    /// The machine runs on plain maps: faucet, two deposits, a block; the
    /// counters, the tree and the nonce move as §8.3 says.
    #[test]
    fn machine_runs_on_an_in_memory_state() {
        let cfg = LedgerConfig::with_dev_faucet();
        let mut s = MemState::new().expect("genesis");
        let account = key().verifying_key().account_id();
        apply_faucet(&mut s, &cfg, &account, Value(100)).expect("faucet");
        let mut tree = Tree::new();
        for (nonce, v) in [(0, 30), (1, 50)] {
            let d = DepositRequest::signed(&key(), nonce, Value(v), Address::from_fr(Fr::from(v)));
            let r = apply_deposit(&mut s, &d).expect("deposit");
            assert_eq!(r.leaf_index, nonce);
            tree.append(d.commitment()).expect("fits");
        }
        assert_eq!(apply_advance(&mut s, 3).expect("advance"), BlockHeight(3));
        assert_eq!(s.account(&account).expect("read"), Value(20));
        assert_eq!(s.account_nonce(&account).expect("read"), 2);
        let t = s.totals().expect("read");
        assert_eq!((t.minted, t.pool), (100, 80));
        assert_eq!(s.frontier().expect("read").root(), tree.root());
        assert_eq!(s.roots().expect("read").latest(), Some(tree.root()));
        assert_eq!(s.commitments(0, 10).expect("read").len(), 2);
    }

    /// Refused operations (replayed nonce, overdraft, faucet off) change nothing.
    #[test]
    fn refused_operations_change_nothing() {
        let cfg = LedgerConfig::with_dev_faucet();
        let mut s = MemState::new().expect("genesis");
        let account = key().verifying_key().account_id();
        apply_faucet(&mut s, &cfg, &account, Value(10)).expect("faucet");
        let before = s.clone();
        let addr = Address::from_fr(Fr::from(1u64));
        let stale = DepositRequest::signed(&key(), 1, Value(5), addr);
        assert_eq!(apply_deposit(&mut s, &stale), Err(LedgerError::BadNonce));
        let overdraft = DepositRequest::signed(&key(), 0, Value(11), addr);
        assert!(apply_deposit(&mut s, &overdraft).is_err());
        let off = LedgerConfig::default();
        assert_eq!(
            apply_faucet(&mut s, &off, &account, Value(1)),
            Err(LedgerError::FaucetDisabled)
        );
        assert_eq!(s, before);
    }
}
