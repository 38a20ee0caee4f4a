//! The note commitment tree as the ledger keeps it: an incremental frontier
//! (docs/protocol.md §2.4) and the history of the last 128 roots.

use std::collections::VecDeque;

use veil_primitives::Fr;
use veil_primitives::poseidon::hash_node;

use crate::error::LedgerError;
use crate::types::{MerkleRoot, NoteCommitment};

/// Tree depth (docs/protocol.md §2.4).
pub const DEPTH: usize = 32;
/// Number of recent roots a proof may be made against.
pub const ROOT_HISTORY: usize = 128;
/// Capacity of the tree.
pub const MAX_LEAVES: u64 = 1 << DEPTH;

/// `Z_0 = 0`, `Z_{i+1} = Poseidon_2(Z_i, Z_i)`.
pub(crate) fn empty_roots() -> &'static [Fr; DEPTH + 1] {
    static Z: std::sync::OnceLock<[Fr; DEPTH + 1]> = std::sync::OnceLock::new();
    Z.get_or_init(|| {
        let mut z = [Fr::from(0u64); DEPTH + 1];
        for i in 0..DEPTH {
            z[i + 1] = hash_node(&z[i], &z[i]);
        }
        z
    })
}

/// The rightmost path of the tree: enough to append and to compute the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves appended.
    count: u64,
    /// `filled[k]`: root of the last complete left subtree at level `k`.
    filled: [Fr; DEPTH],
    root: Fr,
}

impl Default for Frontier {
    fn default() -> Self {
        Self {
            count: 0,
            filled: [Fr::from(0u64); DEPTH],
            root: empty_roots()[DEPTH],
        }
    }
}

impl Frontier {
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn root(&self) -> MerkleRoot {
        MerkleRoot::from_fr(self.root)
    }

    /// Appends a leaf and returns its index.
    pub fn append(&mut self, cm: &NoteCommitment) -> Result<u64, LedgerError> {
        if self.count >= MAX_LEAVES {
            return Err(LedgerError::InvalidArgument("commitment tree is full"));
        }
        let z = empty_roots();
        let index = self.count;
        let mut node = cm.inner();
        let mut idx = index;
        for (level, filled) in self.filled.iter_mut().enumerate() {
            if idx & 1 == 0 {
                *filled = node;
                node = hash_node(&node, &z[level]);
            } else {
                node = hash_node(filled, &node);
            }
            idx >>= 1;
        }
        self.root = node;
        self.count += 1;
        Ok(index)
    }

    /// Layout: version byte 1, `count` (u64 BE), 32 × `filled[k]`, root.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 32 * (DEPTH + 1));
        out.push(1);
        out.extend_from_slice(&self.count.to_be_bytes());
        for f in &self.filled {
            out.extend_from_slice(&veil_primitives::field::fr_to_bytes(f));
        }
        out.extend_from_slice(&veil_primitives::field::fr_to_bytes(&self.root));
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, LedgerError> {
        let bad = || LedgerError::Corrupted("malformed frontier record".into());
        if b.len() != 1 + 8 + 32 * (DEPTH + 1) || b.first() != Some(&1) {
            return Err(bad());
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&b[1..9]);
        let count = u64::from_be_bytes(count);
        if count > MAX_LEAVES {
            return Err(bad());
        }
        let mut fields = b[9..]
            .chunks_exact(32)
            .map(|c| veil_primitives::field::fr_from_slice(c).map_err(|_| bad()));
        let mut filled = [Fr::from(0u64); DEPTH];
        for f in filled.iter_mut() {
            *f = fields.next().ok_or_else(bad)??;
        }
        let root = fields.next().ok_or_else(bad)??;
        Ok(Self {
            count,
            filled,
            root,
        })
    }
}

/// The last [`ROOT_HISTORY`] roots, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootHistory(pub VecDeque<MerkleRoot>);

impl RootHistory {
    pub fn push(&mut self, root: MerkleRoot) {
        if self.0.len() == ROOT_HISTORY {
            self.0.pop_front();
        }
        self.0.push_back(root);
    }
    pub fn contains(&self, root: &MerkleRoot) -> bool {
        self.0.contains(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive root over a full list of leaves, for comparison.
    fn naive_root(leaves: &[Fr]) -> Fr {
        let z = empty_roots();
        let mut level: Vec<Fr> = leaves.to_vec();
        for (d, zd) in z.iter().enumerate().take(DEPTH) {
            let mut next = Vec::new();
            for pair in level.chunks(2) {
                let l = pair[0];
                let r = pair.get(1).copied().unwrap_or(*zd);
                next.push(hash_node(&l, &r));
            }
            if next.is_empty() {
                next.push(z[d + 1]);
            }
            level = next;
        }
        level[0]
    }

    #[test]
    fn frontier_matches_naive_tree_and_round_trips() {
        let mut f = Frontier::default();
        assert_eq!(f.root().inner(), naive_root(&[]));
        let mut leaves = Vec::new();
        for i in 0..9u64 {
            let cm = NoteCommitment::from_fr(Fr::from(1000 + i));
            leaves.push(cm.inner());
            assert_eq!(f.append(&cm).unwrap(), i);
            assert_eq!(
                f.root().inner(),
                naive_root(&leaves),
                "after {} leaves",
                i + 1
            );
        }
        assert_eq!(Frontier::from_bytes(&f.to_bytes()).unwrap(), f);
        let b = f.to_bytes();
        assert!(Frontier::from_bytes(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn history_keeps_the_last_128() {
        let mut h = RootHistory::default();
        for i in 0..200u64 {
            h.push(MerkleRoot::from_fr(Fr::from(i)));
        }
        assert_eq!(h.0.len(), ROOT_HISTORY);
        assert!(!h.contains(&MerkleRoot::from_fr(Fr::from(71u64))));
        assert!(h.contains(&MerkleRoot::from_fr(Fr::from(72u64))));
    }
}
