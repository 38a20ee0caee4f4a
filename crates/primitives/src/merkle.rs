//! The note commitment tree: binary, depth 32, append-only, Poseidon nodes.
//!
//! Spec: `docs/protocol.md` §2.4. Node `= Poseidon_2(left, right)` (untagged,
//! t = 3); empty leaf `= 0`; `Z_0 = 0`, `Z_{i+1} = Poseidon_2(Z_i, Z_i)`.
//! Leaf `i` has path bits `b_k = (i >> k) & 1`; `b_k = 1` means the current
//! node is the right child at level `k`.
//!
//! Three structures:
//! - [`Frontier`]: the ledger's O(depth) state (append and root only), persisted as bytes;
//! - [`RootHistory`]: the last [`ROOT_HISTORY`] roots a proof may use;
//! - [`Tree`]: a client's full tree (every node, level by level) that can produce [`AuthPath`]s.

use std::{collections::VecDeque, sync::OnceLock, time::Instant};

use thiserror::Error;

use crate::{
    error::EncodingError,
    field::{FR_BYTES, Fr, fr_from_bytes, fr_to_bytes},
    ids::fr_newtype,
    note::NoteCommitment,
    poseidon::hash_node,
};

/// Depth of the tree: it holds `2^32` leaves.
pub const DEPTH: usize = 32;

/// Number of leaves the tree can hold.
pub const CAPACITY: u64 = 1 << DEPTH;

/// Number of recent roots the ledger accepts (§2.4).
pub const ROOT_HISTORY: usize = 128;

fr_newtype!(
    /// A root of the note commitment tree (§2.4).
    MerkleRoot
);

impl MerkleRoot {
    /// The root of the empty tree, `Z_32`.
    pub fn empty() -> Self {
        Self::from_fr(empty_roots()[DEPTH])
    }
}

/// The tree is full: `2^32` leaves were appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("the note commitment tree is full ({CAPACITY} leaves)")]
pub struct TreeFull;

/// A request for a leaf the tree does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("no leaf at index {index} (tree holds {size})")]
pub struct NoSuchLeaf {
    /// The requested index.
    pub index: u64,
    /// The number of leaves.
    pub size: u64,
}

/// The position of a leaf, `< 2^32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafIndex(u32);

impl LeafIndex {
    /// The index `i`, if `i < 2^32`.
    pub fn new(i: u64) -> Option<Self> {
        u32::try_from(i).ok().map(Self)
    }

    /// The index as an integer.
    pub fn get(self) -> u64 {
        u64::from(self.0)
    }

    /// Path bit at level `k`: `1` iff the node on the path is a right child.
    pub fn bit(self, level: usize) -> bool {
        (self.0 >> level) & 1 == 1
    }
}

/// `Ok` iff `extra` more leaves fit in a tree of `size` leaves.
fn check_capacity(size: u64, extra: u64) -> Result<(), TreeFull> {
    match size.checked_add(extra) {
        Some(total) if total <= CAPACITY => Ok(()),
        _ => Err(TreeFull),
    }
}

/// `Z_0 ..= Z_32`, computed once.
pub fn empty_roots() -> &'static [Fr; DEPTH + 1] {
    static Z: OnceLock<[Fr; DEPTH + 1]> = OnceLock::new();
    Z.get_or_init(|| {
        let mut z = [Fr::from(0u64); DEPTH + 1];
        for k in 0..DEPTH {
            z[k + 1] = hash_node(&z[k], &z[k]);
        }
        z
    })
}

/// Hashes `node` up along `siblings` (bottom up): at step `i`, bit `i` of
/// `position` set means the current node is the right child (§2.4). From a
/// leaf, `position` is its index; from the root of an aligned subtree of
/// `2^j` leaves, the index of its first leaf shifted right by `j`.
pub fn climb(mut node: Fr, siblings: &[Fr], position: u64) -> Fr {
    for (i, sib) in siblings.iter().enumerate() {
        node = if (position >> i) & 1 == 1 {
            hash_node(sib, &node)
        } else {
            hash_node(&node, sib)
        };
    }
    node
}

/// An authentication path: the 32 siblings of a leaf, bottom up, and its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthPath {
    /// `siblings[k]` is the sibling at level `k` (level 0 = leaves).
    pub siblings: [Fr; DEPTH],
    /// The leaf's position; its bits choose left/right at each level.
    pub index: LeafIndex,
}

impl AuthPath {
    /// The root reached from `leaf` along this path (twin of the in-circuit
    /// `veil_circuits::gadgets::merkle::AuthPathVar::root_for`).
    pub fn root_for(&self, leaf: &NoteCommitment) -> MerkleRoot {
        MerkleRoot::from_fr(climb(leaf.inner(), &self.siblings, self.index.get()))
    }

    /// A path of the empty tree at index 0 (setup-only dummy witness).
    pub fn empty() -> Self {
        let z = empty_roots();
        let mut siblings = [Fr::from(0u64); DEPTH];
        siblings.copy_from_slice(&z[..DEPTH]);
        Self {
            siblings,
            index: LeafIndex(0),
        }
    }
}

/// The ledger's incremental tree (§2.4): O(depth) state, 32 hashes per
/// append, O(1) [`Frontier::root`].
///
/// `filled[k]` is the last node written at level `k` by an append whose path
/// bit `k` was 0 (a left child). It is the completed left subtree waiting for
/// its right sibling iff bit `k` of `size` is 1; otherwise it is a leftover of
/// earlier appends that no later append reads. It is kept, and encoded, so
/// that the state is a function of the leaves alone and the encoding is the
/// one ledgers have always stored (`meta/frontier`, docs/ledger.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    filled: [Fr; DEPTH],
    root: Fr,
}

impl Default for Frontier {
    fn default() -> Self {
        Self::new()
    }
}

/// Version byte of [`Frontier::to_bytes`].
pub const FRONTIER_VERSION: u8 = 1;

/// Length of [`Frontier::to_bytes`]: version, size, 32 nodes, root.
pub const FRONTIER_BYTES: usize = 1 + 8 + (DEPTH + 1) * FR_BYTES;

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self {
            size: 0,
            filled: [Fr::from(0u64); DEPTH],
            root: empty_roots()[DEPTH],
        }
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `cm` and returns its index (32 hashes: the path to the root).
    pub fn append(&mut self, cm: NoteCommitment) -> Result<LeafIndex, TreeFull> {
        let index = LeafIndex::new(self.size).ok_or(TreeFull)?;
        let z = empty_roots();
        let mut node = cm.inner();
        for (k, (filled, zk)) in self.filled.iter_mut().zip(z).enumerate() {
            node = if index.bit(k) {
                hash_node(filled, &node)
            } else {
                *filled = node;
                hash_node(&node, zk)
            };
        }
        self.root = node;
        self.size += 1;
        Ok(index)
    }

    /// The siblings, bottom up from level `log_k`, of the empty aligned
    /// subtree of `2^log_k` leaves that the next appends fill: at level
    /// `l`, the completed left subtree `filled[l]` where bit `l` of the size
    /// is 1, else the empty root `Z_l`. `None` if the size is not a multiple
    /// of `2^log_k`, `log_k > 32`, or the subtree does not fit.
    ///
    /// A batched append proves this path twice (empty subtree to the old
    /// root, filled subtree to the new one; `veil_circuits::tree_insert`).
    pub fn subtree_siblings(&self, log_k: usize) -> Option<Vec<Fr>> {
        let k = 1u64.checked_shl(u32::try_from(log_k).ok()?)?;
        if log_k > DEPTH || self.size % k != 0 || self.size + k > CAPACITY {
            return None;
        }
        let z = empty_roots();
        Some(
            (log_k..DEPTH)
                .map(|l| {
                    if (self.size >> l) & 1 == 1 {
                        self.filled[l]
                    } else {
                        z[l]
                    }
                })
                .collect(),
        )
    }

    /// The current root (`Z_32` when empty).
    pub fn root(&self) -> MerkleRoot {
        MerkleRoot::from_fr(self.root)
    }

    /// Encoding for storage: the ledger's `meta/frontier` record.
    ///
    /// # Layout
    /// `version 1 (1) ‖ size (8, big-endian) ‖ filled[0..32] (32 × 32 bytes) ‖ root (32)`.
    /// Golden bytes: `testdata/frontier-v1-5-leaves.hex`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRONTIER_BYTES);
        out.push(FRONTIER_VERSION);
        out.extend_from_slice(&self.size.to_be_bytes());
        for f in self.filled.iter().chain([&self.root]) {
            out.extend_from_slice(&fr_to_bytes(f));
        }
        out
    }

    /// Decodes [`Frontier::to_bytes`]: exact length, known version,
    /// `size <= 2^32`, canonical field elements.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        if bytes.len() != FRONTIER_BYTES {
            return Err(EncodingError::Length {
                expected: FRONTIER_BYTES,
                actual: bytes.len(),
            });
        }
        let (version, rest) = bytes.split_at(1);
        if version != [FRONTIER_VERSION] {
            return Err(EncodingError::Version(
                version.first().copied().unwrap_or(0),
            ));
        }
        let (size_bytes, rest) = rest.split_at(8);
        let mut s = [0u8; 8];
        s.copy_from_slice(size_bytes);
        let size = u64::from_be_bytes(s);
        if size > CAPACITY {
            return Err(EncodingError::OutOfRange("frontier size above 2^32"));
        }
        let mut nodes = [Fr::from(0u64); DEPTH + 1];
        for (x, chunk) in nodes.iter_mut().zip(rest.chunks_exact(FR_BYTES)) {
            let mut b = [0u8; FR_BYTES];
            b.copy_from_slice(chunk);
            *x = fr_from_bytes(&b)?;
        }
        let mut filled = [Fr::from(0u64); DEPTH];
        filled.copy_from_slice(&nodes[..DEPTH]);
        Ok(Self {
            size,
            filled,
            root: nodes[DEPTH],
        })
    }
}

/// The last [`ROOT_HISTORY`] roots, oldest first (§2.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootHistory {
    roots: VecDeque<MerkleRoot>,
}

impl RootHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self {
            roots: VecDeque::with_capacity(ROOT_HISTORY),
        }
    }

    /// Records a new root, forgetting the oldest beyond [`ROOT_HISTORY`].
    pub fn push(&mut self, root: MerkleRoot) {
        if self.roots.len() == ROOT_HISTORY {
            self.roots.pop_front();
        }
        self.roots.push_back(root);
    }

    /// Whether `root` is one of the recent roots.
    pub fn contains(&self, root: &MerkleRoot) -> bool {
        self.roots.contains(root)
    }

    /// The most recent root.
    pub fn latest(&self) -> Option<MerkleRoot> {
        self.roots.back().copied()
    }

    /// The recent roots, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &MerkleRoot> {
        self.roots.iter()
    }

    /// Number of roots held (at most [`ROOT_HISTORY`]).
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Whether no root was recorded.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Encoding for storage: the ledger's `meta/roots` record.
    ///
    /// # Layout
    /// `version 1 (1) ‖ roots oldest first (n × 32 bytes)`, `n <= 128`.
    /// Golden bytes: `testdata/root-history-v1-2-roots.hex`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.roots.len() * FR_BYTES);
        out.push(ROOT_HISTORY_VERSION);
        for r in &self.roots {
            out.extend_from_slice(&r.to_bytes());
        }
        out
    }

    /// Decodes [`RootHistory::to_bytes`]: known version, a whole number of
    /// roots, at most 128, canonical.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let (&version, rest) = bytes.split_first().ok_or(EncodingError::Length {
            expected: 1,
            actual: 0,
        })?;
        if version != ROOT_HISTORY_VERSION {
            return Err(EncodingError::Version(version));
        }
        if rest.len() % FR_BYTES != 0 {
            return Err(EncodingError::Length {
                expected: 1 + (rest.len() / FR_BYTES) * FR_BYTES,
                actual: bytes.len(),
            });
        }
        if rest.len() / FR_BYTES > ROOT_HISTORY {
            return Err(EncodingError::OutOfRange("more than 128 roots"));
        }
        let roots = rest
            .chunks_exact(FR_BYTES)
            .map(MerkleRoot::from_slice)
            .collect::<Result<_, _>>()?;
        Ok(Self { roots })
    }
}

/// Version byte of [`RootHistory::to_bytes`].
pub const ROOT_HISTORY_VERSION: u8 = 1;

/// A client's full tree: every non-empty node, level by level.
///
/// `levels[k]` holds the nodes of level `k` that have a non-empty
/// descendant (`ceil(size / 2^k)` of them); absent nodes are `Z_k`.
/// Memory: about two field elements per leaf (64 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<Fr>>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new(); DEPTH + 1],
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves().len() as u64
    }

    fn leaves(&self) -> &[Fr] {
        self.levels.first().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Appends one leaf (32 hashes).
    pub fn append(&mut self, cm: NoteCommitment) -> Result<LeafIndex, TreeFull> {
        let first = self.size();
        self.append_many(std::iter::once(cm))?;
        LeafIndex::new(first).ok_or(TreeFull)
    }

    /// Appends leaves in order and recomputes each changed node once.
    /// Returns the index of the first appended leaf (`None` if `cms` is empty).
    /// Nothing is appended if the leaves would not fit.
    pub fn append_many<I: IntoIterator<Item = NoteCommitment>>(
        &mut self,
        cms: I,
    ) -> Result<Option<LeafIndex>, TreeFull> {
        let first = self.size();
        let new: Vec<Fr> = cms.into_iter().map(|c| c.inner()).collect();
        if new.is_empty() {
            return Ok(None);
        }
        check_capacity(first, new.len() as u64)?;
        let z = empty_roots();
        self.levels[0].extend_from_slice(&new);
        let mut changed_from = first as usize;
        for (k, zk) in z.iter().enumerate().take(DEPTH) {
            let (lower, upper) = self.levels.split_at_mut(k + 1);
            let (Some(child), Some(parent)) = (lower.last(), upper.first_mut()) else {
                unreachable!("levels has DEPTH + 1 entries");
            };
            let start = changed_from / 2;
            let end = child.len().div_ceil(2);
            parent.truncate(start);
            for j in start..end {
                let left = child[2 * j];
                let right = child.get(2 * j + 1).copied().unwrap_or(*zk);
                parent.push(hash_node(&left, &right));
            }
            changed_from = start;
        }
        Ok(LeafIndex::new(first))
    }

    /// The current root.
    pub fn root(&self) -> MerkleRoot {
        match self.levels.get(DEPTH).and_then(|l| l.first()) {
            Some(r) => MerkleRoot::from_fr(*r),
            None => MerkleRoot::empty(),
        }
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Option<NoteCommitment> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.leaves().get(i))
            .map(|x| NoteCommitment::from_fr(*x))
    }

    /// The authentication path of leaf `index` against the current root.
    pub fn path(&self, index: u64) -> Result<AuthPath, NoSuchLeaf> {
        let err = NoSuchLeaf {
            index,
            size: self.size(),
        };
        if index >= self.size() {
            return Err(err);
        }
        let leaf_index = LeafIndex::new(index).ok_or(err)?;
        let z = empty_roots();
        let mut siblings = [Fr::from(0u64); DEPTH];
        for (k, s) in siblings.iter_mut().enumerate() {
            let sib = ((index >> k) ^ 1) as usize;
            *s = self.levels[k].get(sib).copied().unwrap_or(z[k]);
        }
        Ok(AuthPath {
            siblings,
            index: leaf_index,
        })
    }
}

/// Appends per second of a [`Frontier`] over `n` distinct leaves. Used by
/// `veil bench`.
pub fn bench_append_rate(n: u64) -> f64 {
    let mut f = Frontier::new();
    let start = Instant::now();
    for i in 0..n {
        if f.append(NoteCommitment::from_fr(Fr::from(i + 1))).is_err() {
            break;
        }
    }
    let root = f.root();
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(root);
    if secs > 0.0 {
        f.size() as f64 / secs
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cm(i: u64) -> NoteCommitment {
        NoteCommitment::from_fr(Fr::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1))
    }

    /// The root by definition: hash the full level of 2^k-leaf subtrees bottom up.
    fn reference_root(leaves: &[Fr]) -> Fr {
        let z = empty_roots();
        let mut level = leaves.to_vec();
        for zk in z.iter().take(DEPTH) {
            if level.is_empty() {
                level.push(*zk);
            }
            level = level
                .chunks(2)
                .map(|c| hash_node(&c[0], c.get(1).unwrap_or(zk)))
                .collect();
        }
        level[0]
    }

    #[test]
    fn empty_tree_root_is_z32() {
        let z = empty_roots();
        assert_eq!(z[0], Fr::from(0u64));
        assert_eq!(z[1], hash_node(&Fr::from(0u64), &Fr::from(0u64)));
        assert_eq!(Frontier::new().root().inner(), z[DEPTH]);
        assert_eq!(Tree::new().root(), MerkleRoot::empty());
        assert_eq!(reference_root(&[]), z[DEPTH]);
    }

    #[test]
    fn small_trees_match_the_definition() {
        let mut f = Frontier::new();
        let mut t = Tree::new();
        let mut leaves = Vec::new();
        for i in 0..37 {
            leaves.push(cm(i).inner());
            assert_eq!(f.append(cm(i)).map(LeafIndex::get), Ok(i));
            assert_eq!(t.append(cm(i)).map(LeafIndex::get), Ok(i));
            let want = reference_root(&leaves);
            assert_eq!(f.root().inner(), want, "frontier after {} leaves", i + 1);
            assert_eq!(t.root().inner(), want, "tree after {} leaves", i + 1);
        }
    }

    #[test]
    fn paths_verify_and_wrong_paths_fail() {
        let mut t = Tree::new();
        t.append_many((0..21).map(cm)).expect("fits");
        let root = t.root();
        for i in 0..21 {
            let p = t.path(i).expect("leaf exists");
            assert_eq!(p.root_for(&cm(i)), root);
            // Wrong leaf, wrong index, wrong sibling: each fails.
            assert_ne!(p.root_for(&cm(i + 100)), root);
            let mut q = p.clone();
            q.index = LeafIndex::new(i ^ 1).expect("small");
            assert_ne!(q.root_for(&cm(i)), root);
            let mut q = p.clone();
            q.siblings[5] += Fr::from(1u64);
            assert_ne!(q.root_for(&cm(i)), root);
        }
        assert_eq!(
            t.path(21),
            Err(NoSuchLeaf {
                index: 21,
                size: 21
            })
        );
    }

    #[test]
    fn inner_node_is_not_a_leaf() {
        // A8: the level-1 node H(leaf0, leaf1) presented as a leaf, with the
        // remaining siblings shifted down, does not reach the root: depth is fixed.
        let mut t = Tree::new();
        t.append_many((0..4).map(cm)).expect("fits");
        let p = t.path(0).expect("leaf 0");
        let inner = NoteCommitment::from_fr(hash_node(&cm(0).inner(), &cm(1).inner()));
        let mut siblings = [Fr::from(0u64); DEPTH];
        siblings[..DEPTH - 1].copy_from_slice(&p.siblings[1..]);
        siblings[DEPTH - 1] = empty_roots()[DEPTH - 1];
        let shallow = AuthPath {
            siblings,
            index: LeafIndex::new(0).expect("0"),
        };
        assert_ne!(shallow.root_for(&inner), t.root());
        // The empty leaf is not a spendable note either: Z_0 = 0 and its path
        // in a non-empty tree does not give the root.
        assert_ne!(
            t.path(0)
                .expect("leaf")
                .root_for(&NoteCommitment::from_fr(Fr::from(0u64))),
            t.root()
        );
    }

    #[test]
    fn tree_full_at_two_to_the_32() {
        assert!(LeafIndex::new(CAPACITY - 1).is_some());
        assert!(LeafIndex::new(CAPACITY).is_none());
        // A frontier one leaf short of full (decoded, not filled): every
        // left subtree holds empty leaves.
        let mut bytes = vec![FRONTIER_VERSION];
        bytes.extend_from_slice(&(CAPACITY - 1).to_be_bytes());
        for k in 0..DEPTH {
            bytes.extend_from_slice(&fr_to_bytes(&empty_roots()[k]));
        }
        bytes.extend_from_slice(&fr_to_bytes(&Fr::from(0u64)));
        let mut f = Frontier::from_bytes(&bytes).expect("valid frontier");
        assert_eq!(f.append(cm(1)).map(LeafIndex::get), Ok(CAPACITY - 1));
        assert_eq!(f.size(), CAPACITY);
        assert_eq!(f.append(cm(2)), Err(TreeFull));
        // The full root is the path of the last leaf over the empty subtrees.
        let mut path = AuthPath::empty();
        path.index = LeafIndex::new(CAPACITY - 1).expect("fits");
        let root = f.root();
        assert_eq!(root, path.root_for(&cm(1)));
        assert_eq!(
            Frontier::from_bytes(&f.to_bytes())
                .expect("roundtrip")
                .root(),
            root
        );
    }

    #[test]
    fn frontier_decoding_is_strict() {
        let mut f = Frontier::new();
        for i in 0..5 {
            f.append(cm(i)).expect("fits");
        }
        let bytes = f.to_bytes();
        assert_eq!(Frontier::from_bytes(&bytes).as_ref(), Ok(&f));
        assert!(Frontier::from_bytes(&bytes[1..]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Frontier::from_bytes(&extra).is_err());
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert_eq!(Frontier::from_bytes(&bad), Err(EncodingError::Version(2)));
        // Non-canonical entry 0.
        let mut bad = bytes.clone();
        bad[9..9 + FR_BYTES].copy_from_slice(&[0xff; FR_BYTES]);
        assert_eq!(
            Frontier::from_bytes(&bad),
            Err(EncodingError::NonCanonicalField)
        );
        let mut bad = bytes;
        bad[1..9].copy_from_slice(&(CAPACITY + 1).to_be_bytes());
        assert!(Frontier::from_bytes(&bad).is_err());
    }

    #[test]
    fn root_history_keeps_the_last_128() {
        let mut h = RootHistory::new();
        for i in 0..200u64 {
            h.push(MerkleRoot::from_fr(Fr::from(i)));
        }
        assert_eq!(h.len(), ROOT_HISTORY);
        assert!(h.contains(&MerkleRoot::from_fr(Fr::from(199u64))));
        assert!(h.contains(&MerkleRoot::from_fr(Fr::from(200 - ROOT_HISTORY as u64))));
        assert!(!h.contains(&MerkleRoot::from_fr(Fr::from(199 - ROOT_HISTORY as u64))));
        assert_eq!(h.latest(), Some(MerkleRoot::from_fr(Fr::from(199u64))));
    }

    #[test]
    fn capacity_logic() {
        assert_eq!(check_capacity(0, CAPACITY), Ok(()));
        assert_eq!(check_capacity(CAPACITY - 1, 1), Ok(()));
        assert_eq!(check_capacity(CAPACITY - 1, 2), Err(TreeFull));
        assert_eq!(check_capacity(CAPACITY, 1), Err(TreeFull));
        assert_eq!(check_capacity(u64::MAX, 1), Err(TreeFull));
    }

    #[test]
    fn root_history_encoding_is_strict() {
        let mut h = RootHistory::new();
        assert_eq!(h.to_bytes(), vec![ROOT_HISTORY_VERSION]);
        assert_eq!(RootHistory::from_bytes(&h.to_bytes()), Ok(h.clone()));
        for i in 0..130u64 {
            h.push(MerkleRoot::from_fr(Fr::from(i)));
        }
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), 1 + ROOT_HISTORY * FR_BYTES);
        assert_eq!(RootHistory::from_bytes(&bytes), Ok(h));
        assert!(RootHistory::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(RootHistory::from_bytes(&extra).is_err());
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert_eq!(
            RootHistory::from_bytes(&bad),
            Err(EncodingError::Version(9))
        );
        let mut bad = bytes.clone();
        bad[1..1 + FR_BYTES].copy_from_slice(&[0xff; FR_BYTES]);
        assert_eq!(
            RootHistory::from_bytes(&bad),
            Err(EncodingError::NonCanonicalField)
        );
        let mut too_many = bytes;
        too_many.extend_from_slice(&[0u8; FR_BYTES]);
        assert_eq!(
            RootHistory::from_bytes(&too_many),
            Err(EncodingError::OutOfRange("more than 128 roots"))
        );
        assert!(RootHistory::from_bytes(&[]).is_err());
    }

    fn golden(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("golden file");
        hex::decode(text.trim()).expect("golden hex")
    }

    /// The ledger's stored frontier record, as the ledger wrote it before the
    /// frontier moved here (leaves 1..=5): still decoded, and still written
    /// byte for byte.
    #[test]
    fn frontier_golden_bytes() {
        let stored = golden("frontier-v1-5-leaves.hex");
        let mut f = Frontier::new();
        for i in 1..=5u64 {
            f.append(NoteCommitment::from_fr(Fr::from(i)))
                .expect("fits");
        }
        assert_eq!(f.to_bytes(), stored);
        let decoded = Frontier::from_bytes(&stored).expect("stored frontier decodes");
        assert_eq!(decoded, f);
        assert_eq!(decoded.size(), 5);
        assert_eq!(
            hex::encode(decoded.root().to_bytes()),
            "18f6db605506c4cba55a593d42ddf26d31885b45b9ce7a713e4c0746ab335940"
        );
        let leaves: Vec<Fr> = (1..=5u64).map(Fr::from).collect();
        assert_eq!(decoded.root().inner(), reference_root(&leaves));
        // Appending to the decoded frontier continues the same tree.
        let mut g = decoded;
        let mut t = Tree::new();
        t.append_many((1..=6u64).map(|i| NoteCommitment::from_fr(Fr::from(i))))
            .expect("fits");
        g.append(NoteCommitment::from_fr(Fr::from(6u64)))
            .expect("fits");
        assert_eq!(g.root(), t.root());
        // The empty frontier: version, zero size, zero nodes, root Z_32.
        let empty = Frontier::new().to_bytes();
        assert_eq!(empty.len(), FRONTIER_BYTES);
        assert!(
            empty[..FRONTIER_BYTES - FR_BYTES]
                .iter()
                .skip(1)
                .all(|b| *b == 0)
        );
        assert_eq!(
            empty[FRONTIER_BYTES - FR_BYTES..],
            fr_to_bytes(&empty_roots()[DEPTH])
        );
    }

    /// The ledger's stored root history record (two roots), golden bytes.
    #[test]
    fn root_history_golden_bytes() {
        let stored = golden("root-history-v1-2-roots.hex");
        let mut h = RootHistory::new();
        h.push(MerkleRoot::from_fr(Fr::from(7u64)));
        let mut f = Frontier::new();
        for i in 1..=5u64 {
            f.append(NoteCommitment::from_fr(Fr::from(i)))
                .expect("fits");
        }
        h.push(f.root());
        assert_eq!(h.to_bytes(), stored);
        assert_eq!(RootHistory::from_bytes(&stored), Ok(h));
    }

    #[test]
    fn bench_rate_is_positive() {
        assert!(bench_append_rate(100) > 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn frontier_equals_tree(batches in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 0..20), 1..6)) {
            let mut f = Frontier::new();
            let mut t = Tree::new();
            let mut one_by_one = Tree::new();
            let mut all = Vec::new();
            for batch in &batches {
                let cms: Vec<NoteCommitment> = batch.iter().map(|x| cm(*x)).collect();
                for c in &cms {
                    f.append(*c).expect("fits");
                    one_by_one.append(*c).expect("fits");
                    prop_assert_eq!(f.root(), one_by_one.root());
                }
                t.append_many(cms.iter().copied()).expect("fits");
                all.extend(cms.iter().map(|c| c.inner()));
                prop_assert_eq!(f.root(), t.root());
                prop_assert_eq!(&t, &one_by_one);
            }
            prop_assert_eq!(t.root().inner(), reference_root(&all));
            for i in 0..t.size() {
                let leaf = t.leaf(i).expect("exists");
                prop_assert_eq!(t.path(i).expect("exists").root_for(&leaf), t.root());
            }
            prop_assert_eq!(Frontier::from_bytes(&f.to_bytes()), Ok(f));
        }
    }
}
