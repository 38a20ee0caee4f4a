//! What a reader learns of the ledger contract from its events
//! (`docs/evm.md` §8.2): the leaves in index order, the escrows and their
//! states, the nodes and the roots. Sans-IO: it is fed decoded events in
//! chain order and answers in the embedded ledger's types.

use std::collections::{HashMap, VecDeque};

use veil_evm::abi::Word;
use veil_evm::escrow::{EscrowTerms, recipient_account};
use veil_evm::ledger::LedgerEvent;
use veil_ledger::LedgerError;
use veil_ledger::convert;
use veil_ledger::types::{
    AppliedStep, AppliedUpdate, BlockHeight, Escrow, EscrowState, NodeExit, NodeRecord,
    NodeRegistration, NodeUpdate, NoteCommitment, Value,
};
use veil_primitives::eddsa::Signature;
use veil_primitives::ids::NodeId;
use veil_primitives::merkle::{MerkleRoot, ROOT_HISTORY};

/// An escrow as its `EscrowOpened` event published it, and what happened
/// to it since.
#[derive(Debug, Clone)]
pub struct EscrowEntry {
    pub terms: EscrowTerms,
    pub session_key_hash: Word,
    pub cm_change: Word,
    pub opened_at: u64,
    pub state: EscrowState,
}

/// A withdrawal as its `Withdrawn` event published it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    pub cm_change: Word,
    pub amount: u64,
    pub recipient: veil_evm::sandbox::EvmAddress,
    /// The change note's leaf.
    pub leaf_index: u64,
}

impl Withdrawal {
    /// The same withdrawal (a retry): the same change, amount and
    /// recipient (the leaf is where it landed, not part of the request).
    pub fn same_as(&self, other: &Withdrawal) -> bool {
        (self.cm_change, self.amount, self.recipient)
            == (other.cm_change, other.amount, other.recipient)
    }
}

/// A settlement as its `Settled` event published it.
#[derive(Debug, Clone)]
pub struct SettledBatch {
    pub total: u64,
    pub first_index: u64,
    pub cm_refunds: Vec<Word>,
}

/// The ledger as its logs tell it.
#[derive(Debug)]
pub struct LogIndex {
    /// Every queued leaf, by index (a pad leaf is zero).
    leaves: Vec<Word>,
    /// Leaves under the contract's root (a multiple of 64).
    tree_size: u64,
    /// The initial root, then one per appended batch; at most
    /// `ROOT_HISTORY`.
    roots: VecDeque<Word>,
    escrows: HashMap<Word, EscrowEntry>,
    /// Settlements by their first session id.
    settlements: HashMap<Word, SettledBatch>,
    /// Each node's `NodeRegistered` and its block.
    nodes: HashMap<Word, (LedgerEvent, u64)>,
    /// Each updated node's latest `NodeUpdated` and its block (§8.3.8).
    updates: HashMap<Word, (LedgerEvent, u64)>,
    /// `cm → (index, value, account)` of every deposit.
    deposits: HashMap<Word, (u64, u64, veil_evm::sandbox::EvmAddress)>,
    /// Every withdrawal, by nullifier.
    withdrawals: HashMap<Word, Withdrawal>,
    /// Σ `Slashed` amounts per node (docs/market.md §5.1).
    slashed: HashMap<Word, u64>,
    /// How many of each node's challenges were closed as missed, from the
    /// audits contract's `ChallengeMissed` events.
    missed: HashMap<Word, u32>,
    /// Each retired node's exit (§8.3.12), from `NodeRetiring` and
    /// `NodeReleased` (no account nonce on chain: 0).
    exits: HashMap<Word, NodeExit>,
    /// The last block applied.
    pub scanned_to: Option<u64>,
    /// The hash of `scanned_to` when it was read: if the chain's block at
    /// that height has another hash later, a reorg replaced what was
    /// indexed, and the index is rebuilt.
    pub scanned_hash: Option<[u8; 32]>,
}

/// The index cannot follow the logs: a leaf index out of order, or an
/// event that does not decode. Either the address is not a `VeilLedger`
/// or the logs were read with a gap.
fn corrupted(what: &str) -> LedgerError {
    LedgerError::Corrupted(format!("ledger contract logs: {what}"))
}

impl LogIndex {
    /// The index of a ledger whose empty tree has root `initial_root`.
    pub fn new(initial_root: Word) -> Self {
        LogIndex {
            leaves: Vec::new(),
            tree_size: 0,
            roots: VecDeque::from([initial_root]),
            escrows: HashMap::new(),
            settlements: HashMap::new(),
            nodes: HashMap::new(),
            updates: HashMap::new(),
            deposits: HashMap::new(),
            withdrawals: HashMap::new(),
            slashed: HashMap::new(),
            missed: HashMap::new(),
            exits: HashMap::new(),
            scanned_to: None,
            scanned_hash: None,
        }
    }

    /// Counts a `ChallengeMissed` of `node_id` (docs/evm.md §8.6).
    pub fn missed_challenge(&mut self, node_id: Word) {
        let n = self.missed.entry(node_id).or_default();
        *n = n.saturating_add(1);
    }

    /// Applies one event of block `block`.
    pub fn apply(&mut self, block: u64, e: LedgerEvent) -> Result<(), LedgerError> {
        match e {
            LedgerEvent::Deposited {
                account,
                index,
                commitment,
                value,
            } => {
                self.leaf(index, commitment)?;
                self.deposits.insert(commitment, (index, value, account));
            }
            LedgerEvent::QueuePadded { start, count } => {
                for i in 0..count {
                    self.leaf(start + i, [0u8; 32])?;
                }
            }
            LedgerEvent::BatchAppended {
                start, new_root, ..
            } => {
                if start != self.tree_size || start + 64 > self.leaves.len() as u64 {
                    return Err(corrupted("a batch out of order"));
                }
                self.tree_size += 64;
                self.roots.push_back(new_root);
                if self.roots.len() > ROOT_HISTORY {
                    self.roots.pop_front();
                }
            }
            LedgerEvent::NodeRegistered { node_id, .. } => {
                self.nodes.insert(node_id, (e, block));
            }
            LedgerEvent::NodeUpdated {
                node_id, sequence, ..
            } => {
                let latest = match self.updates.get(&node_id) {
                    Some((LedgerEvent::NodeUpdated { sequence, .. }, _)) => *sequence,
                    _ => 0,
                };
                if !self.nodes.contains_key(&node_id) || Some(sequence) != latest.checked_add(1) {
                    return Err(corrupted("a node update out of order"));
                }
                self.updates.insert(node_id, (e, block));
            }
            LedgerEvent::RegistrationCommitted { .. } => {}
            LedgerEvent::Slashed {
                node_id, amount, ..
            } => {
                if !self.nodes.contains_key(&node_id) {
                    return Err(corrupted("a slash of an unknown node"));
                }
                let total = self.slashed.entry(node_id).or_default();
                *total = total
                    .checked_add(amount)
                    .ok_or_else(|| corrupted("slashes above u64"))?;
            }
            LedgerEvent::NodeRetiring { node_id, .. } => {
                if !self.nodes.contains_key(&node_id) || self.exits.contains_key(&node_id) {
                    return Err(corrupted("a retirement out of order"));
                }
                let retired = AppliedStep {
                    at: BlockHeight(block),
                    nonce: 0,
                };
                let exit = NodeExit {
                    retired,
                    released: None,
                };
                self.exits.insert(node_id, exit);
            }
            LedgerEvent::NodeReleased { node_id, .. } => {
                let exit = self
                    .exits
                    .get_mut(&node_id)
                    .filter(|x| x.released.is_none())
                    .ok_or_else(|| corrupted("a release out of order"))?;
                exit.released = Some(AppliedStep {
                    at: BlockHeight(block),
                    nonce: 0,
                });
            }
            LedgerEvent::EscrowOpened {
                session_id,
                terms,
                session_key_hash,
                cm_change,
                change_index,
            } => {
                self.leaf(change_index, cm_change)?;
                let entry = EscrowEntry {
                    terms,
                    session_key_hash,
                    cm_change,
                    opened_at: block,
                    state: EscrowState::Open,
                };
                self.escrows.insert(session_id, entry);
            }
            LedgerEvent::Settled {
                total,
                first_index,
                session_ids,
                cm_refunds,
                ..
            } => self.settled(total, first_index, session_ids, cm_refunds)?,
            LedgerEvent::Reclaimed {
                session_id,
                commitment,
                index,
            } => {
                self.leaf(index, commitment)?;
                let e = self
                    .escrows
                    .get_mut(&session_id)
                    .ok_or_else(|| corrupted("a reclaim of an unknown escrow"))?;
                e.state = EscrowState::Reclaimed { leaf_index: index };
            }
            LedgerEvent::Withdrawn {
                nullifier,
                recipient,
                amount,
                cm_change,
                change_index,
            } => {
                self.leaf(change_index, cm_change)?;
                let w = Withdrawal {
                    cm_change,
                    amount,
                    recipient,
                    leaf_index: change_index,
                };
                self.withdrawals.insert(nullifier, w);
            }
        }
        Ok(())
    }

    fn settled(
        &mut self,
        total: u64,
        first_index: u64,
        session_ids: Vec<Word>,
        cm_refunds: Vec<Word>,
    ) -> Result<(), LedgerError> {
        let batch = *session_ids
            .first()
            .ok_or_else(|| corrupted("an empty settlement"))?;
        let batch_id = convert::session_id(&batch)?;
        for (i, (sid, cm)) in session_ids.iter().zip(&cm_refunds).enumerate() {
            self.leaf(first_index + i as u64, *cm)?;
            let e = self
                .escrows
                .get_mut(sid)
                .ok_or_else(|| corrupted("a settlement of an unknown escrow"))?;
            e.state = EscrowState::Settled {
                batch: batch_id,
                cm_refund: convert::commitment("cm_refund", cm)?,
            };
        }
        let s = SettledBatch {
            total,
            first_index,
            cm_refunds,
        };
        self.settlements.insert(batch, s);
        Ok(())
    }

    fn leaf(&mut self, index: u64, cm: Word) -> Result<(), LedgerError> {
        if index != self.leaves.len() as u64 {
            return Err(corrupted("a leaf index out of order"));
        }
        self.leaves.push(cm);
        Ok(())
    }

    /// Every queued leaf, in index order (those from [`Self::tree_size`]
    /// on are not under the root yet).
    pub fn leaves(&self) -> &[Word] {
        &self.leaves
    }

    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// Leaves `from..` under the root, at most `limit`.
    pub fn commitments(&self, from: u64, limit: u64) -> Result<Vec<NoteCommitment>, LedgerError> {
        let end = self.tree_size.min(from.saturating_add(limit));
        (from..end)
            .map(|i| convert::commitment("commitment", &self.leaves[i as usize]))
            .collect()
    }

    /// The roots a proof may use, oldest first.
    pub fn roots(&self) -> Result<Vec<MerkleRoot>, LedgerError> {
        self.roots
            .iter()
            .map(|w| MerkleRoot::from_bytes(w).map_err(|_| corrupted("a root ≥ r")))
            .collect()
    }

    pub fn escrow_entry(&self, session_id: &Word) -> Option<&EscrowEntry> {
        self.escrows.get(session_id)
    }

    pub fn settlement(&self, first_session: &Word) -> Option<&SettledBatch> {
        self.settlements.get(first_session)
    }

    pub fn deposit(&self, cm: &Word) -> Option<(u64, u64, veil_evm::sandbox::EvmAddress)> {
        self.deposits.get(cm).copied()
    }

    pub fn withdrawal(&self, nf: &Word) -> Option<Withdrawal> {
        self.withdrawals.get(nf).copied()
    }

    /// The registered node `node_id` with its latest update, in the
    /// embedded ledger's type, if the node key signed both. The contract
    /// does not check those signatures (docs/evm.md §4.2, §8.2): a
    /// registration without a valid one — a key registered by someone who
    /// does not hold it — is not a node to a reader, as the embedded
    /// ledger would have refused it; nor is a node whose terms in force
    /// come from an update its key did not sign (until a later update it
    /// did sign).
    pub fn node(&self, node_id: &Word) -> Result<Option<NodeRecord>, LedgerError> {
        let Some(mut record) = self.registered(node_id)? else {
            return Ok(None);
        };
        if record.registration.authenticate_node().is_err() {
            return Ok(None);
        }
        record.audit.slashed = Value(self.slashed.get(node_id).copied().unwrap_or(0));
        record.audit.missed_challenges = self.missed.get(node_id).copied().unwrap_or(0);
        record.exit = self.exits.get(node_id).copied();
        match self.updates.get(node_id) {
            None => Ok(Some(record)),
            Some((e, block)) => {
                let Some(update) = update_of(&record.registration, e)? else {
                    return Ok(None);
                };
                if update.authenticate_node().is_err() {
                    return Ok(None);
                }
                record.update = Some(AppliedUpdate {
                    update,
                    applied_at: BlockHeight(*block),
                });
                Ok(Some(record))
            }
        }
    }

    /// The registration of `node_id` as the chain recorded it, whether or
    /// not its node signature verifies; `None` also for a signature that
    /// does not decode.
    fn registered(&self, node_id: &Word) -> Result<Option<NodeRecord>, LedgerError> {
        let Some((
            LedgerEvent::NodeRegistered {
                node_id,
                operator,
                price_per_kib,
                escrow_sizes,
                stake,
                tls_key_hash,
                node_key,
                node_signature,
                profile,
            },
            block,
        )) = self.nodes.get(node_id)
        else {
            return Ok(None);
        };
        let registration = NodeRegistration {
            node_id: convert::node_id(node_id)?,
            account: recipient_account(*operator),
            price_per_kib: Value(*price_per_kib),
            escrow_sizes: escrow_sizes.iter().map(|v| Value(*v)).collect(),
            stake: Value(*stake),
            tls_key_hash: *tls_key_hash,
            profile: profile.clone(),
            node_key: convert::node_key(&node_key.concat())?,
            signature: match Signature::from_slice(&node_signature.concat()) {
                Ok(sig) => sig,
                Err(_) => return Ok(None),
            },
            account_auth: None,
        };
        Ok(Some(NodeRecord::registered(
            registration,
            BlockHeight(*block),
        )))
    }

    /// Up to `limit` nodes after `start_after` in the order of their ids'
    /// canonical bytes, as the embedded ledger lists them (§8.3.10); a
    /// registration whose node key did not sign it is no node.
    pub fn nodes_after(
        &self,
        start_after: Option<&NodeId>,
        limit: usize,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        let after = start_after.map(NodeId::to_bytes);
        let mut ids: Vec<([u8; 32], &Word)> = self
            .nodes
            .keys()
            .filter_map(|w| Some((convert::node_id(w).ok()?.to_bytes(), w)))
            .filter(|(b, _)| after.is_none_or(|a| *b > a))
            .collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for (_, w) in ids {
            if out.len() == limit {
                break;
            }
            if let Some(record) = self.node(w)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The escrow `session_id`, in the embedded ledger's type.
    pub fn escrow(&self, session_id: &Word) -> Result<Option<Escrow>, LedgerError> {
        let Some(e) = self.escrows.get(session_id) else {
            return Ok(None);
        };
        if !self.nodes.contains_key(&e.terms.node_id) {
            return Err(corrupted("an escrow of an unknown node"));
        }
        Ok(Some(Escrow {
            session_id: convert::session_id(session_id)?,
            node_id: convert::node_id(&e.terms.node_id)?,
            escrow: Value(e.terms.escrow),
            // The price recorded when it was opened (§8.3.8).
            price_per_kib: Value(e.terms.price_per_kib),
            session_key_hash: veil_primitives::ids::SessionKeyHash::from_bytes(&e.session_key_hash)
                .map_err(|_| corrupted("h_S ≥ r"))?,
            refund_owner: veil_primitives::keys::OwnerKey::from_bytes(&e.terms.refund_owner)
                .map_err(|_| corrupted("rk ≥ r"))?,
            expiry: BlockHeight(e.terms.expiry),
            cm_change: convert::commitment("cm_change", &e.cm_change)?,
            opened_at: BlockHeight(e.opened_at),
            state: e.state,
        }))
    }
}

/// The update a `NodeUpdated` event records, for the node registered as
/// `registration` (its key and account: an update changes neither);
/// `None` if its signature does not decode.
fn update_of(
    registration: &NodeRegistration,
    e: &LedgerEvent,
) -> Result<Option<NodeUpdate>, LedgerError> {
    let LedgerEvent::NodeUpdated {
        sequence,
        price_per_kib,
        escrow_sizes,
        tls_key_hash,
        profile,
        node_signature,
        ..
    } = e
    else {
        return Err(corrupted("a node update that is not NodeUpdated"));
    };
    let Ok(signature) = Signature::from_slice(&node_signature.concat()) else {
        return Ok(None);
    };
    Ok(Some(NodeUpdate {
        node_id: registration.node_id,
        account: registration.account,
        sequence: *sequence,
        price_per_kib: Value(*price_per_kib),
        escrow_sizes: escrow_sizes.iter().map(|v| Value(*v)).collect(),
        tls_key_hash: *tls_key_hash,
        profile: profile.clone(),
        node_key: registration.node_key,
        signature,
        account_auth: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_evm::sandbox::EvmAddress;
    use veil_evm::solidity::fr_word;
    use veil_primitives::eddsa::SigningKey;

    /// The `NodeRegistered` event of `key`'s registration by `operator`,
    /// carrying `signature`.
    fn registered(key: &SigningKey, operator: EvmAddress, signature: [Word; 3]) -> LedgerEvent {
        let n = key.verifying_key();
        LedgerEvent::NodeRegistered {
            node_id: n.node_id().to_bytes(),
            operator,
            price_per_kib: 3,
            escrow_sizes: vec![100, 200],
            stake: 7,
            tls_key_hash: [0x5a; 32],
            node_key: [fr_word(&n.point().x()), fr_word(&n.point().y())],
            node_signature: signature,
            profile: Vec::new(),
        }
    }

    /// The node key's signature of the registration `event` describes.
    fn signed_by(key: &SigningKey, operator: EvmAddress) -> [Word; 3] {
        let reg = NodeRegistration::signed_for_sender(
            key,
            recipient_account(operator),
            Value(3),
            vec![Value(100), Value(200)],
            Value(7),
            [0x5a; 32],
        );
        let b = reg.signature.to_bytes();
        [0, 1, 2].map(|i| b[32 * i..32 * (i + 1)].try_into().expect("32 bytes"))
    }

    /// The `NodeUpdated` event of `u`, carrying `signature`.
    fn updated(u: &NodeUpdate, signature: [Word; 3]) -> LedgerEvent {
        LedgerEvent::NodeUpdated {
            node_id: u.node_id.to_bytes(),
            sequence: u.sequence,
            price_per_kib: u.price_per_kib.0,
            escrow_sizes: u.escrow_sizes.iter().map(|v| v.0).collect(),
            tls_key_hash: u.tls_key_hash,
            profile: u.profile.clone(),
            node_signature: signature,
        }
    }

    fn words(sig: &Signature) -> [Word; 3] {
        let b = sig.to_bytes();
        [0, 1, 2].map(|i| b[32 * i..32 * (i + 1)].try_into().expect("32 bytes"))
    }

    /// §8.3.8 on chain: the latest `NodeUpdated` is the record's update
    /// when the node key signed it; one it did not sign hides the node
    /// until a signed one follows; an update out of sequence or of an
    /// unknown node is not a `VeilLedger`'s log.
    #[test]
    fn the_latest_signed_update_is_the_records() {
        let key = SigningKey::from_seed([7; 32]).expect("key");
        let operator = EvmAddress::repeat_byte(1);
        let id = key.verifying_key().node_id().to_bytes();
        let mut index = LogIndex::new([0; 32]);
        index
            .apply(5, registered(&key, operator, signed_by(&key, operator)))
            .expect("applies");
        let record = index.node(&id).expect("reads").expect("a node");
        let account_key = SigningKey::from_seed([9; 32]).expect("key");
        let u1 = NodeUpdate::signed(
            &key,
            &account_key,
            0,
            &record,
            Value(4),
            vec![Value(50)],
            [1; 32],
        );
        index
            .apply(9, updated(&u1, words(&u1.signature)))
            .expect("applies");
        let got = index.node(&id).expect("reads").expect("a node");
        let applied = got.update.as_ref().expect("updated");
        assert_eq!(applied.applied_at, BlockHeight(9));
        assert_eq!(
            applied.update,
            NodeUpdate {
                account_auth: None,
                ..u1.clone()
            }
        );
        assert_eq!(
            (got.price_per_kib(), got.tls_key_hash(), got.sequence()),
            (Value(4), [1; 32], 1)
        );
        assert_eq!(got.registration, record.registration);

        let u2 = NodeUpdate::signed(
            &key,
            &account_key,
            0,
            &got,
            Value(6),
            vec![Value(60)],
            [2; 32],
        );
        let forged = SigningKey::from_seed([8; 32])
            .expect("key")
            .sign(&u2.message());
        index
            .apply(10, updated(&u2, words(&forged)))
            .expect("applies");
        assert_eq!(
            index.node(&id).expect("reads"),
            None,
            "an update its key did not sign"
        );
        let mut u3 = NodeUpdate::signed(
            &key,
            &account_key,
            0,
            &got,
            Value(7),
            vec![Value(70)],
            [3; 32],
        );
        u3.sequence = 3;
        u3.signature = key.sign(&u3.message());
        index
            .apply(11, updated(&u3, words(&u3.signature)))
            .expect("applies");
        let last = index.node(&id).expect("reads").expect("signed again");
        assert_eq!((last.price_per_kib(), last.sequence()), (Value(7), 3));

        for (what, event) in [
            (
                "a skipped sequence",
                updated(
                    &NodeUpdate {
                        sequence: 5,
                        ..u3.clone()
                    },
                    words(&u3.signature),
                ),
            ),
            ("a replay", updated(&u3, words(&u3.signature))),
            (
                "an unknown node",
                updated(
                    &NodeUpdate {
                        node_id: veil_ledger::types::NodeId::from_bytes(&[0; 32]).expect("id"),
                        ..u1.clone()
                    },
                    words(&u1.signature),
                ),
            ),
        ] {
            assert!(
                matches!(index.apply(12, event), Err(LedgerError::Corrupted(_))),
                "{what}"
            );
        }
    }

    /// A registration is a node to a reader only if the node key signed
    /// these terms for this operator (docs/evm.md §8.2).
    #[test]
    fn a_registration_is_a_node_only_if_its_key_signed_it() {
        let key = SigningKey::from_seed([7; 32]).expect("key");
        let (operator, squatter) = (EvmAddress::repeat_byte(1), EvmAddress::repeat_byte(2));
        let id = key.verifying_key().node_id().to_bytes();
        let good = signed_by(&key, operator);
        let other_key = SigningKey::from_seed([8; 32]).expect("key");
        let mut s_too_big = good;
        s_too_big[2] = [0xff; 32];
        for (what, event, visible) in [
            ("signed", registered(&key, operator, good), true),
            (
                "zero signature",
                registered(&key, operator, [[0; 32]; 3]),
                false,
            ),
            (
                "copied to another operator",
                registered(&key, squatter, good),
                false,
            ),
            (
                "signed by another key",
                registered(&key, operator, signed_by(&other_key, operator)),
                false,
            ),
            ("S ≥ l", registered(&key, operator, s_too_big), false),
        ] {
            let mut index = LogIndex::new([0; 32]);
            index.apply(5, event).expect("applies");
            let node = index.node(&id).expect("reads");
            assert_eq!(node.is_some(), visible, "{what}");
            if let Some(n) = node {
                assert_eq!(n.registered_at, BlockHeight(5));
                assert_eq!(n.registration.account, recipient_account(operator));
                n.registration.authenticate_node().expect("authenticated");
            }
        }
    }
}
