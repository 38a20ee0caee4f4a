//! `VeilLedger.appendBatch` in revm (docs/evm.md §4.6): the note tree on
//! chain, advanced by a `tree_insert_64` proof over the next 64 queued
//! leaves. Two consecutive batches with their events, roots equal to the
//! ledger's own `Frontier` and the root window; every refusal with its
//! custom error, no event and tree size, root, root window and queue
//! unchanged; exact gas. `padQueue` (§4.7): a partial batch padded with
//! zero leaves and appended, its root the real leaves' alone; the
//! refusals; exact gas. Roots against `veil_ledger::Engine` after the
//! same deposits: `ledger_differential.rs`.

mod chain;

use ark_ff::UniformRand;
use chain::{LedgerChain, LedgerState, Mirror, refusal};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_circuits::tree_insert::TreeInsertCircuit;
use veil_evm::abi::{Word, word_u64};
use veil_evm::ledger::{self, BatchAppend, LedgerEvent, LedgerRevert, append_batch, root_word};
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_evm::solidity::{ProofWords, fr_word};
use veil_primitives::Fr;
use veil_primitives::merkle::{Frontier, ROOT_HISTORY, RootHistory};
use veil_primitives::note::NoteCommitment;
use veil_proofs::{Proof, groth16};

/// Receipt `gasUsed` of an `appendBatch` (the first batch, its seeded
/// proof). Deterministic.
const APPEND_GAS: u64 = 751_098;

/// Receipt `gasUsed` of a `padQueue` after 1 real leaf of the batch (63
/// zero leaves) and after 63 (1 zero leaf). Deterministic.
const PAD_63_GAS: u64 = 62_288;
const PAD_1_GAS: u64 = 55_592;

struct Fx {
    l: LedgerChain,
    m: Mirror,
    alice: EvmAddress,
    relayer: EvmAddress,
    rng: ChaCha20Rng,
}

fn fixture() -> Fx {
    let mut l = LedgerChain::new();
    let (alice, relayer) = (l.c.account(), l.c.account());
    l.c.mint(alice, 1_000_000);
    l.approve(alice, U256::MAX);
    Fx {
        l,
        m: Mirror::default(),
        alice,
        relayer,
        rng: ChaCha20Rng::seed_from_u64(64),
    }
}

impl Fx {
    /// `n` deposits of 1 by Alice, queued in the mirror.
    fn deposits(&mut self, n: usize) {
        for _ in 0..n {
            let addr = fr_word(&Fr::rand(&mut self.rng));
            let out = self.l.tx(self.alice, &ledger::deposit(addr, word_u64(1)));
            assert_eq!(out.status, Status::Success);
            match LedgerEvent::decode(out.logs.last().expect("event")) {
                Ok(LedgerEvent::Deposited { commitment, .. }) => self.m.queue(&commitment),
                other => panic!("not a Deposited event: {other:?}"),
            }
        }
    }

    /// What a refused append must leave as it was: the ledger's state and
    /// which of `roots` are known.
    fn snapshot(&mut self, roots: &[Word]) -> (LedgerState, Vec<bool>) {
        let a = self.alice;
        let st = self.l.state(&[a]);
        let known = roots.iter().map(|r| self.l.is_known_root(*r)).collect();
        (st, known)
    }

    /// The relayer sends `data`: refused with `expected`, no event,
    /// nothing changed (the roots in `roots` neither learned nor forgotten).
    fn refused(&mut self, data: &[u8], expected: LedgerRevert, roots: &[Word]) {
        let before = self.snapshot(roots);
        let out = self.l.tx(self.relayer, data);
        assert_eq!(refusal(&out), expected);
        assert_eq!(
            self.snapshot(roots),
            before,
            "a refused append changed state"
        );
    }

    fn root(&mut self) -> Word {
        self.l.state(&[]).current_root
    }

    /// `from` pads the queue: accepted, `QueuePadded` its one event, the
    /// zero leaves queued in the mirror. Returns the outcome.
    fn pad(&mut self, from: EvmAddress) -> Outcome {
        let before = self.l.state(&[]).leaf_count;
        let out = self.l.tx(from, &ledger::pad_queue());
        assert_eq!(
            out.status,
            Status::Success,
            "padQueue refused: 0x{}",
            hex::encode(&out.output)
        );
        let count = 64 - before % 64;
        assert_eq!(ledger::decode_u64(&out.output), Ok(count));
        assert_eq!(
            appended(&self.l, &out),
            LedgerEvent::QueuePadded {
                start: before,
                count
            }
        );
        let after = self.l.state(&[]).leaf_count;
        assert_eq!((after, after % 64), (before + count, 0));
        for _ in 0..count {
            self.m.queued.push(Fr::from(0u64));
        }
        out
    }

    fn checkpoint(&mut self, k: u64) -> Word {
        ledger::decode_word(&self.l.view(&ledger::view::checkpoint(k))).expect("word")
    }

    /// The relayer's `padQueue` is refused with `NothingToPad`, no event,
    /// nothing changed (the checkpoints included).
    fn pad_refused(&mut self) {
        let n = self.l.state(&[]).leaf_count / 64;
        let checkpoints = |f: &mut Self| [n, n + 1].map(|k| f.checkpoint(k));
        let before = checkpoints(self);
        let root = self.root();
        self.refused(&ledger::pad_queue(), LedgerRevert::NothingToPad, &[root]);
        assert_eq!(checkpoints(self), before);
    }

    /// The queued leaves of the mirror as words.
    fn queued_words(&self) -> Vec<Word> {
        self.m.queued.iter().map(fr_word).collect()
    }
}

fn leaves_of(b: &BatchAppend) -> Vec<Word> {
    b.public.leaves.iter().map(fr_word).collect()
}

fn new_root_of(b: &BatchAppend) -> Word {
    root_word(&b.public.new_root)
}

fn appended(l: &LedgerChain, out: &Outcome) -> LedgerEvent {
    assert_eq!(out.logs.len(), 1, "one event");
    assert_eq!(out.logs[0].address, l.ledger);
    LedgerEvent::decode(&out.logs[0]).expect("ledger event")
}

#[test]
fn two_consecutive_batches_are_appended_by_anyone() {
    let mut f = fixture();
    f.deposits(128);
    let empty = f.root();
    assert_eq!(empty, ledger::empty_root());

    // The first batch, sent by an account that deposited nothing.
    let relayer = f.relayer;
    let out = f.l.append_next(&mut f.m, relayer);
    let first = root_word(&f.m.tree.root());
    assert_eq!(
        appended(&f.l, &out),
        LedgerEvent::BatchAppended {
            start: 0,
            new_root: first,
            submitter: relayer,
        }
    );
    let st = f.l.state(&[]);
    assert_eq!(
        (st.tree_size, st.current_root, st.leaf_count),
        (64, first, 128)
    );
    println!(
        "appendBatch gas: {} (intrinsic {}, per leaf {})",
        out.gas_used,
        out.intrinsic_gas,
        out.gas_used / 64
    );
    assert_eq!(out.gas_used, APPEND_GAS);

    // The second batch, by a depositor.
    let alice = f.alice;
    let out = f.l.append_next(&mut f.m, alice);
    let second = root_word(&f.m.tree.root());
    assert_eq!(
        appended(&f.l, &out),
        LedgerEvent::BatchAppended {
            start: 64,
            new_root: second,
            submitter: alice,
        }
    );
    assert_eq!(f.m.tree.size(), 128);
    assert!(f.m.queued.is_empty());
    let st = f.l.state(&[]);
    assert_eq!((st.tree_size, st.current_root), (128, second));
    // Every root so far is in the window; others are not.
    for r in [empty, first, second] {
        assert!(f.l.is_known_root(r));
    }
    assert!(!f.l.is_known_root(word_u64(0)));
    assert!(!f.l.is_known_root(fr_word(&Fr::from(12345u64))));
}

/// A proof of `public` under a `tree_insert_64` key from another setup
/// (another seed): a proof the pinned verifier must not accept.
fn proof_under_another_key(b: &BatchAppend, siblings: Vec<Fr>) -> Proof {
    let blank = TreeInsertCircuit::<64>::blank().expect("blank");
    let pk = groth16::dev_setup("tree_insert_64, another setup", blank).expect("setup");
    let circuit = TreeInsertCircuit::<64>::new(b.public.clone(), siblings).expect("honest");
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    groth16::prove(&pk, circuit, &b.public.to_field_elements(), &mut rng).expect("prove")
}

#[test]
fn every_false_append_is_refused_and_changes_nothing() {
    let mut f = fixture();
    f.deposits(64 + 63);
    let (honest, after) = f.m.prove_next(0);
    let empty = f.root();
    let next = new_root_of(&honest);
    let roots = [empty, next];
    let words = ProofWords::from_proof(&honest.proof);
    let leaves = leaves_of(&honest);
    let send = |leaves: &[Word], new_root: Word, start: u64, proof: &ProofWords| {
        append_batch(word_u64(start), new_root, leaves, proof)
    };

    // A leaf that is not the queued one; two queued leaves swapped.
    let mut wrong = leaves.clone();
    wrong[5] = fr_word(&Fr::from(5u64));
    f.refused(
        &send(&wrong, next, 0, &words),
        LedgerRevert::QueueMismatch,
        &roots,
    );
    let mut swapped = leaves.clone();
    swapped.swap(3, 4);
    f.refused(
        &send(&swapped, next, 0, &words),
        LedgerRevert::QueueMismatch,
        &roots,
    );

    // The queued leaves with another new root, honest proof.
    let other_root = fr_word(&Fr::from(7u64));
    f.refused(
        &send(&leaves, other_root, 0, &words),
        LedgerRevert::InvalidProof,
        &roots,
    );

    // A valid proof of another statement (the sample batch at 64).
    let (sample, sample_siblings) = veil_proofs::samples::tree_insert_64(1).expect("sample");
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let other = chain::tree_insert_prover()
        .prove_tree_insert_64(&sample, sample_siblings, &mut rng)
        .expect("prove");
    let other = ProofWords::from_proof(&other);
    f.refused(
        &send(&leaves, next, 0, &other),
        LedgerRevert::InvalidProof,
        &roots,
    );

    // The honest proof tampered with: A negated (a valid point), C moved.
    let mut neg = words;
    let p = U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208583",
        10,
    )
    .expect("p");
    neg.a[1] = (p - U256::from_be_bytes(neg.a[1])).to_be_bytes();
    f.refused(
        &send(&leaves, next, 0, &neg),
        LedgerRevert::InvalidProof,
        &roots,
    );
    let mut moved = words;
    moved.c = words.a;
    f.refused(
        &send(&leaves, next, 0, &moved),
        LedgerRevert::InvalidProof,
        &roots,
    );

    // A proof of the honest statement under another key.
    let (_, siblings, _) =
        veil_circuits::tree_insert::prepare(&Frontier::new(), &honest.public.leaves)
            .expect("statement");
    let foreign = ProofWords::from_proof(&proof_under_another_key(&honest, siblings));
    f.refused(
        &send(&leaves, next, 0, &foreign),
        LedgerRevert::InvalidProof,
        &roots,
    );

    // A later batch first.
    f.refused(
        &send(&leaves, next, 64, &words),
        LedgerRevert::WrongBatchStart {
            expected: 0,
            given: word_u64(64),
        },
        &roots,
    );

    // The honest call is accepted...
    let out = f.l.tx(f.relayer, &honest.calldata());
    assert_eq!(out.status, Status::Success);
    f.m.appended(after);
    assert_eq!(f.root(), next);
    let roots = [empty, next];
    // ...once: replayed, its start is no longer the tree's size.
    f.refused(
        &honest.calldata(),
        LedgerRevert::WrongBatchStart {
            expected: 64,
            given: word_u64(0),
        },
        &roots,
    );
    // The next batch has 63 of its 64 leaves.
    let mut short = f.m.queued.iter().map(fr_word).collect::<Vec<_>>();
    short.push(word_u64(0));
    f.refused(
        &send(&short, other_root, 64, &words),
        LedgerRevert::BatchNotFull {
            queued: 63,
            needed: 64,
        },
        &roots,
    );
    // With the 64th leaf queued, the same batch proves and is accepted.
    f.deposits(1);
    let relayer = f.relayer;
    f.l.append_next(&mut f.m, relayer);
    assert_eq!(f.l.state(&[]).tree_size, 128);
}

/// `treeSize` is the top 64 bits of slot 1, after `leafCount`, `pool` and
/// `staked`.
const COUNTERS_SLOT: u64 = 1;

/// The window of `isKnownRoot` is the embedded ledger's `RootHistory`: the
/// current root and the `ROOT_HISTORY − 1` before it, one root per batch
/// here. The batches are skipped by setting `treeSize` in storage (a real
/// run would prove 128 batches), so only the window arithmetic is tested.
#[test]
fn the_root_window_is_the_embedded_ledgers() {
    let mut f = fixture();
    f.deposits(64);
    let empty = f.root();
    let relayer = f.relayer;
    f.l.append_next(&mut f.m, relayer);
    let first = f.root();
    let (l, slot) = (f.l.ledger, U256::from(COUNTERS_SLOT));
    let counters = f.l.c.sandbox.storage(l, slot);
    assert_eq!(counters >> 192, U256::from(64), "layout");
    let low = counters & ((U256::from(1) << 192) - U256::from(1));

    // The native history: the empty root, then one root per batch.
    let mut native = RootHistory::new();
    native.push(veil_primitives::merkle::MerkleRoot::empty());
    native.push(f.m.tree.root());
    let filler = veil_primitives::merkle::MerkleRoot::from_fr(Fr::from(3u64));
    for batches in 1..=(ROOT_HISTORY as u64 + 1) {
        f.l.c
            .sandbox
            .set_storage(l, slot, low | (U256::from(64 * batches) << 192));
        let empty_known = f.l.is_known_root(empty);
        let first_known = f.l.is_known_root(first);
        assert_eq!(
            (empty_known, first_known),
            (
                native.contains(&veil_primitives::merkle::MerkleRoot::empty()),
                native.contains(&f.m.tree.root())
            ),
            "after {batches} batches"
        );
        native.push(filler);
    }
    assert!(!f.l.is_known_root(empty) && !f.l.is_known_root(first));
}

// ---------------------------------------------------------- padQueue

/// The root of the leaves `real` alone, appended one by one to the
/// ledger's own `Frontier` (the embedded ledger's tree).
fn root_of(real: &[Fr]) -> Word {
    let mut t = Frontier::new();
    for leaf in real {
        t.append(NoteCommitment::from_fr(*leaf)).expect("room");
    }
    root_word(&t.root())
}

#[test]
fn a_padded_partial_batch_is_appended_and_the_queue_goes_on() {
    let mut f = fixture();
    f.deposits(5);
    let real = f.m.queued.clone();
    let relayer = f.relayer;
    f.pad(relayer);
    // The chain went on over 59 zero leaves; the batch's checkpoint is the
    // head after them.
    let mut words: Vec<Word> = real.iter().map(fr_word).collect();
    words.extend([[0u8; 32]; 59]);
    assert_eq!(f.queued_words(), words);
    let head = ledger::queue_head(&words);
    assert_eq!(f.l.queue_head(), head);
    assert_eq!(f.checkpoint(1), head);
    assert_eq!(f.checkpoint(2), [0u8; 32]);

    // The padded batch proves and is appended; its root is that of the
    // five real leaves alone.
    let out = f.l.append_next(&mut f.m, relayer);
    let first = root_of(&real);
    assert_eq!(
        appended(&f.l, &out),
        LedgerEvent::BatchAppended {
            start: 0,
            new_root: first,
            submitter: relayer,
        }
    );
    let st = f.l.state(&[]);
    assert_eq!(
        (st.tree_size, st.leaf_count, st.current_root),
        (64, 64, first)
    );
    assert!(f.l.is_known_root(first));

    // The next deposit is leaf 64; its batch fills and is appended as any.
    let alice = f.alice;
    let addr = fr_word(&Fr::from(4242u64));
    let out = f.l.tx(alice, &ledger::deposit(addr, word_u64(1)));
    match LedgerEvent::decode(out.logs.last().expect("event")) {
        Ok(LedgerEvent::Deposited {
            index, commitment, ..
        }) => {
            assert_eq!(index, 64);
            f.m.queue(&commitment);
        }
        other => panic!("not a Deposited event: {other:?}"),
    }
    f.deposits(63);
    let next = f.m.queued.clone();
    f.l.append_next(&mut f.m, relayer);
    // The tree holds the real leaves, 59 empty ones, then the next 64.
    let mut native = Frontier::new();
    for leaf in real.iter().copied().chain([Fr::from(0u64); 59]) {
        native.append(NoteCommitment::from_fr(leaf)).expect("room");
    }
    assert_eq!(root_word(&native.root()), first);
    for leaf in &next {
        native.append(NoteCommitment::from_fr(*leaf)).expect("room");
    }
    let second = root_word(&native.root());
    assert_eq!(root_word(&f.m.tree.root()), second);
    let st = f.l.state(&[]);
    assert_eq!(
        (st.tree_size, st.leaf_count, st.current_root),
        (128, 128, second)
    );
    assert!(f.l.is_known_root(first) && f.l.is_known_root(second));
}

#[test]
fn nothing_to_pad_is_refused_and_changes_nothing() {
    let mut f = fixture();
    // An empty queue.
    f.pad_refused();
    // A full batch queued, not yet appended.
    f.deposits(64);
    f.pad_refused();
    // The same batch appended.
    let relayer = f.relayer;
    f.l.append_next(&mut f.m, relayer);
    f.pad_refused();
    assert_eq!(f.l.state(&[]).leaf_count, 64);
}

#[test]
fn padding_twice_in_a_row_is_refused_the_second_time() {
    let mut f = fixture();
    f.deposits(3);
    let relayer = f.relayer;
    f.pad(relayer);
    let alice = f.alice;
    let st = f.l.state(&[]);
    f.pad_refused();
    assert_eq!(f.l.state(&[]), st);
    // By another account too.
    let out = f.l.tx(alice, &ledger::pad_queue());
    assert_eq!(refusal(&out), LedgerRevert::NothingToPad);
}

/// `leafCount` is the low 64 bits of slot 1 (`COUNTERS_SLOT`).
#[test]
fn padding_stops_at_the_trees_capacity() {
    let mut f = fixture();
    f.deposits(1);
    let (l, slot) = (f.l.ledger, U256::from(COUNTERS_SLOT));
    let counters = f.l.c.sandbox.storage(l, slot);
    let mask = U256::from(u64::MAX);
    assert_eq!(counters & mask, U256::from(1), "layout");
    // The last leaf but one queued: one zero leaf fills the tree.
    let high = counters & !mask;
    f.l.c
        .sandbox
        .set_storage(l, slot, high | U256::from((1u64 << 32) - 1));
    let relayer = f.relayer;
    let out = f.l.tx(relayer, &ledger::pad_queue());
    assert_eq!(out.status, Status::Success);
    assert_eq!(
        appended(&f.l, &out),
        LedgerEvent::QueuePadded {
            start: (1 << 32) - 1,
            count: 1
        }
    );
    assert_eq!(f.l.state(&[]).leaf_count, 1 << 32);
    let head = f.l.queue_head();
    assert_eq!(f.checkpoint(1 << 26), head);
    // Full: nothing to pad, and no deposit.
    f.pad_refused();
    let alice = f.alice;
    let out = f.l.tx(
        alice,
        &ledger::deposit(fr_word(&Fr::from(77u64)), word_u64(1)),
    );
    assert_eq!(
        refusal(&out),
        LedgerRevert::InvalidArgument("commitment tree is full".into())
    );
}

#[test]
fn pad_queue_gas_is_exact() {
    let mut f = fixture();
    let relayer = f.relayer;
    f.deposits(1);
    let one_real = f.pad(relayer);
    f.deposits(63);
    let many_real = f.pad(relayer);
    println!(
        "padQueue gas: 63 zero leaves {} (intrinsic {}), 1 zero leaf {}",
        one_real.gas_used, one_real.intrinsic_gas, many_real.gas_used
    );
    assert_eq!(
        (one_real.gas_used, many_real.gas_used),
        (PAD_63_GAS, PAD_1_GAS)
    );
}
