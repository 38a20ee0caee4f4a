//! `VeilLedger` stage 1 (docs/evm.md §4) in revm: deposits into the leaf
//! queue and node registration. Every accepted path with its events and
//! state; every refusal with its custom error (named like the embedded
//! ledger's `LedgerError`) and nothing changed; the queue's keccak chain
//! recomputed here; exact gas. The differential test against the embedded
//! engine is `ledger_differential.rs`.

mod chain;

use ark_ff::UniformRand;
use chain::{DEPOSIT_CHECKPOINT_GAS, DEPOSIT_GAS, LedgerChain, LedgerState, refusal};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_evm::abi::{Word, word_u64};
use veil_evm::ledger::{
    self, LedgerEvent, LedgerRevert, NodeUpdateCall, NodeView, Registration, queue_head, view,
    word_u256,
};
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_evm::solidity::fr_word;
use veil_evm::token::TokenEvent;
use veil_primitives::eddsa::{SigningKey, VerifyingKey};
use veil_primitives::field::{Fr, fr_from_bytes};
use veil_primitives::note::{Address, NoteCommitment};
use veil_primitives::value::Value;

/// Gas (receipt `gasUsed`) of a deposit: the ledger's first, a later one
/// by an account that deposited before, the 64th (which writes a
/// checkpoint); of a registration with 3 sizes. Deterministic.
const DEPOSIT_FIRST_GAS: u64 = 165_845;
const REGISTER_GAS: u64 = 195_565;
/// Gas of `commitRegistration`, the first half of a registration.
const COMMIT_REGISTRATION_GAS: u64 = 45_688;
/// Gas of a node's first `updateNode` (2 sizes for 3, a 7-byte profile).
const UPDATE_GAS: u64 = 56_448;

/// The field modulus r as a big-endian word (not an element: the first
/// non-canonical value).
fn r_word() -> Word {
    hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001")
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn random_addr(rng: &mut ChaCha20Rng) -> Word {
    fr_word(&Fr::rand(rng))
}

/// `H(NOTE, v, addr)` natively (§2.3).
fn commitment(v: u64, addr: &Word) -> Word {
    let addr = Address::from_bytes(addr).expect("canonical");
    NoteCommitment::from_value_and_address(Value(v), &addr).to_bytes()
}

fn node_key(seed: u8) -> VerifyingKey {
    SigningKey::from_seed([seed; 32])
        .expect("seed")
        .verifying_key()
}

fn key_words(k: &VerifyingKey) -> [Word; 2] {
    let b = k.to_bytes();
    [
        b[..32].try_into().expect("x"),
        b[32..].try_into().expect("y"),
    ]
}

fn registration(k: &VerifyingKey, sizes: &[u64], stake: u64) -> Registration {
    Registration {
        node_key: key_words(k),
        node_signature: [[0; 32]; 3],
        price_per_kib: word_u64(3),
        escrow_sizes: sizes.iter().map(|s| word_u64(*s)).collect(),
        stake: word_u64(stake),
        tls_key_hash: [0x5a; 32],
        profile: Vec::new(),
    }
}

struct Fx {
    l: LedgerChain,
    alice: EvmAddress,
    bob: EvmAddress,
    rng: ChaCha20Rng,
}

fn fixture() -> Fx {
    let mut l = LedgerChain::new();
    let (alice, bob) = (l.c.account(), l.c.account());
    l.c.mint(alice, 1_000_000);
    l.c.mint(bob, 1_000_000);
    Fx {
        l,
        alice,
        bob,
        rng: ChaCha20Rng::seed_from_u64(10),
    }
}

impl Fx {
    fn state(&mut self) -> LedgerState {
        let (a, b) = (self.alice, self.bob);
        self.l.state(&[a, b])
    }

    fn deposit(&mut self, from: EvmAddress, addr: Word, value: u64) -> Outcome {
        self.l.tx(from, &ledger::deposit(addr, word_u64(value)))
    }

    /// Approves and deposits; must succeed.
    fn deposit_ok(&mut self, from: EvmAddress, value: u64) -> (Word, Outcome) {
        let addr = random_addr(&mut self.rng);
        self.l.approve(from, U256::from(value));
        let out = self.deposit(from, addr, value);
        assert_eq!(
            out.status,
            Status::Success,
            "0x{}",
            hex::encode(&out.output)
        );
        (commitment(value, &addr), out)
    }

    /// `data` from `from` is refused with `expected` and changes nothing.
    fn refused(&mut self, from: EvmAddress, data: &[u8], expected: LedgerRevert) {
        let before = self.state();
        let out = self.l.tx(from, data);
        assert_eq!(refusal(&out), expected);
        assert_eq!(self.state(), before, "a refused call changed state");
    }

    fn node(&mut self, k: &VerifyingKey) -> NodeView {
        let id = k.node_id().to_bytes();
        NodeView::decode(&self.l.view(&view::node(id))).expect("node")
    }
}

fn events(l: &LedgerChain, out: &Outcome) -> (Vec<TokenEvent>, Vec<LedgerEvent>) {
    let (mut t, mut e) = (vec![], vec![]);
    for log in &out.logs {
        if log.address == l.c.token {
            t.push(TokenEvent::decode(log).expect("token event"));
        } else {
            assert_eq!(log.address, l.ledger);
            e.push(LedgerEvent::decode(log).expect("ledger event"));
        }
    }
    (t, e)
}

// --------------------------------------------------------- constructor

#[test]
fn the_ledger_keeps_its_parameters_and_refuses_a_token_or_hash_without_code() {
    use veil_evm::abi::{selector, word_address};
    use veil_evm::sandbox::SandboxError;
    let mut l = LedgerChain::new();
    let get = |l: &mut LedgerChain, sig: &str| {
        ledger::decode_word(&l.view(&selector(sig))).expect("word")
    };
    assert_eq!(get(&mut l, "token()"), word_address(l.c.token));
    let c = l.contracts;
    for (getter, at) in [
        ("poseidonT3()", c.poseidon_t3),
        ("poseidonT4()", c.poseidon_t4),
        ("treeInsertVerifier()", c.tree_insert_verifier),
        ("accessVerifier()", c.access_verifier),
        ("accessBatchVerifier()", c.access_batch_verifier),
        ("withdrawVerifier()", c.withdraw_verifier),
        ("settle1Verifier()", c.settle_1_verifier),
        ("settle8Verifier()", c.settle_8_verifier),
        ("settle64Verifier()", c.settle_64_verifier),
    ] {
        assert_eq!(get(&mut l, getter), word_address(at), "{getter}");
    }
    assert_eq!(
        get(&mut l, "challengeWindow()"),
        word_u64(chain::CHALLENGE_WINDOW)
    );
    assert_eq!(
        get(&mut l, "maxExpiryDelta()"),
        word_u64(chain::MAX_EXPIRY_DELTA)
    );
    assert_eq!(
        get(&mut l, "CHECKPOINT_INTERVAL()"),
        word_u64(ledger::CHECKPOINT_INTERVAL)
    );
    assert_eq!(
        get(&mut l, "rootHistorySize()"),
        word_u64(veil_primitives::merkle::ROOT_HISTORY as u64)
    );
    // The initial root is the embedded ledger's empty tree root, known.
    let empty = veil_primitives::merkle::Frontier::new().root();
    assert_eq!(empty, veil_primitives::merkle::MerkleRoot::empty());
    assert_eq!(ledger::empty_root(), ledger::root_word(&empty));
    assert_eq!(get(&mut l, "currentRoot()"), ledger::root_word(&empty));
    assert_eq!(get(&mut l, "treeSize()"), word_u64(0));
    let known = |l: &mut LedgerChain, root: Word| {
        veil_evm::abi::decode_bool(&l.view(&view::is_known_root(root))).expect("bool")
    };
    assert!(known(&mut l, ledger::root_word(&empty)));
    assert!(!known(&mut l, word_u64(0)));
    assert!(!known(&mut l, word_u64(1)));

    let eoa = l.c.account();
    let art = chain::artifact(ledger::CONTRACT);
    let good = ledger::LedgerParams::new(l.contracts, 1, 1);
    let without = |f: fn(&mut ledger::Contracts) -> &mut EvmAddress| {
        let mut contracts = good.contracts;
        *f(&mut contracts) = eoa;
        ledger::LedgerParams { contracts, ..good }
    };
    let not_code = |what: &str| LedgerRevert::InvalidArgument(format!("{what} is not a contract"));
    let bad = [
        (without(|c| &mut c.token), not_code("token")),
        (without(|c| &mut c.poseidon_t3), not_code("poseidon")),
        (without(|c| &mut c.poseidon_t4), not_code("poseidon")),
        (
            without(|c| &mut c.tree_insert_verifier),
            not_code("verifier"),
        ),
        (without(|c| &mut c.access_verifier), not_code("verifier")),
        (
            without(|c| &mut c.access_batch_verifier),
            not_code("verifier"),
        ),
        (without(|c| &mut c.withdraw_verifier), not_code("verifier")),
        (without(|c| &mut c.settle_1_verifier), not_code("verifier")),
        (without(|c| &mut c.settle_8_verifier), not_code("verifier")),
        (without(|c| &mut c.settle_64_verifier), not_code("verifier")),
        (
            ledger::LedgerParams {
                initial_root: r_word(),
                ..good
            },
            LedgerRevert::Encoding("initial_root".into()),
        ),
        (
            ledger::LedgerParams {
                root_history: 0,
                ..good
            },
            LedgerRevert::InvalidArgument("the root history holds at least one root".into()),
        ),
    ];
    for (params, why) in bad {
        let d = l.c.deployer;
        match l.c.sandbox.deploy(d, &params.initcode(&art)) {
            Err(SandboxError::DeployFailed { status, output, .. }) => {
                assert_eq!(status, Status::Revert);
                let data = hex::decode(output).expect("hex");
                assert_eq!(LedgerRevert::decode(&data), Ok(why));
            }
            other => panic!("{why:?}: deployed anyway: {other:?}"),
        }
    }
    let d = l.c.deployer;
    assert!(l.c.sandbox.deploy(d, &good.initcode(&art)).is_ok());
}

// ------------------------------------------------------------- deposit

#[test]
fn deposits_queue_their_commitments_and_pull_their_value() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    let (cm0, out0) = f.deposit_ok(alice, 700);
    assert_eq!(ledger::decode_u64(&out0.output), Ok(0), "returns the index");
    assert_eq!(
        events(&f.l, &out0),
        (
            vec![TokenEvent::Transfer {
                from: alice,
                to: f.l.ledger,
                value: U256::from(700)
            }],
            vec![LedgerEvent::Deposited {
                account: alice,
                index: 0,
                commitment: cm0,
                value: 700
            }]
        )
    );
    let (cm1, out1) = f.deposit_ok(bob, 5);
    assert_eq!(ledger::decode_u64(&out1.output), Ok(1));
    let st = f.state();
    assert_eq!(
        st,
        LedgerState {
            balances: vec![U256::from(1_000_000 - 700), U256::from(1_000_000 - 5)],
            ledger_balance: U256::from(705),
            queue_head: queue_head(&[cm0, cm1]),
            leaf_count: 2,
            pool: 705,
            staked: 0,
            // Queued, in no root yet: the tree is still empty.
            tree_size: 0,
            current_root: ledger::empty_root(),
        }
    );
    assert_ne!(st.queue_head, queue_head(&[cm1, cm0]), "order matters");
    assert_eq!(f.l.u64_view(&view::deposit_index_plus_one(cm0)), 1);
    assert_eq!(f.l.u64_view(&view::deposit_index_plus_one(cm1)), 2);
    assert_eq!(f.l.u64_view(&view::deposit_index_plus_one([7; 32])), 0);
    // The allowance was spent exactly.
    let l = f.l.ledger;
    assert_eq!(f.l.c.allowance(alice, l), U256::ZERO);
}

#[test]
fn the_queue_is_checkpointed_every_64_leaves() {
    let mut f = fixture();
    let alice = f.alice;
    let mut cms = vec![];
    for i in 0..65 {
        let (cm, out) = f.deposit_ok(alice, 1 + i);
        assert_eq!(ledger::decode_u64(&out.output), Ok(i));
        cms.push(cm);
    }
    let cp = |f: &mut Fx, k| ledger::decode_word(&f.l.view(&view::checkpoint(k))).unwrap();
    assert_eq!(cp(&mut f, 1), queue_head(&cms[..64]));
    assert_eq!(cp(&mut f, 0), [0; 32], "the empty queue's head");
    assert_eq!(cp(&mut f, 2), [0; 32], "not yet written");
    assert_eq!(f.queue_head_now(), queue_head(&cms));
}

impl Fx {
    fn queue_head_now(&mut self) -> Word {
        self.l.queue_head()
    }
}

#[test]
fn a_deposit_without_allowance_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let alice = f.alice;
    f.deposit_ok(alice, 10);
    let addr = random_addr(&mut f.rng);
    let unauth = LedgerRevert::AccountUnauthenticated("token allowance below the amount".into());
    f.refused(alice, &ledger::deposit(addr, word_u64(10)), unauth.clone());
    f.l.approve(alice, U256::from(9));
    f.refused(alice, &ledger::deposit(addr, word_u64(10)), unauth);
}

#[test]
fn a_deposit_beyond_the_balance_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let alice = f.alice;
    let addr = random_addr(&mut f.rng);
    f.l.approve(alice, U256::MAX);
    f.refused(
        alice,
        &ledger::deposit(addr, word_u64(1_000_001)),
        LedgerRevert::InsufficientBalance,
    );
}

#[test]
fn a_non_canonical_address_is_refused_as_the_native_decoder_refuses_it() {
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    for bad in [r_word(), [0xff; 32]] {
        assert!(Address::from_bytes(&bad).is_err());
        assert!(fr_from_bytes(&bad).is_err());
        f.refused(
            alice,
            &ledger::deposit(bad, word_u64(1)),
            LedgerRevert::Encoding("addr".into()),
        );
    }
    // r − 1 is canonical.
    let mut top = r_word();
    top[31] -= 1;
    assert_eq!(f.deposit(alice, top, 1).status, Status::Success);
}

#[test]
fn a_zero_or_over_u64_value_is_refused() {
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let addr = random_addr(&mut f.rng);
    f.refused(
        alice,
        &ledger::deposit(addr, word_u64(0)),
        LedgerRevert::InvalidArgument("deposit value must be positive".into()),
    );
    for v in [U256::from(u64::MAX) + U256::from(1), U256::MAX] {
        f.refused(
            alice,
            &ledger::deposit(addr, word_u256(v)),
            LedgerRevert::Encoding("value".into()),
        );
    }
}

#[test]
fn a_commitment_deposited_twice_is_refused() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    let addr = random_addr(&mut f.rng);
    f.l.approve(alice, U256::MAX);
    f.l.approve(bob, U256::MAX);
    assert_eq!(f.deposit(alice, addr, 8).status, Status::Success);
    for who in [alice, bob] {
        f.refused(
            who,
            &ledger::deposit(addr, word_u64(8)),
            LedgerRevert::DuplicateDeposit,
        );
    }
    // Another value with the same address is another commitment.
    assert_eq!(f.deposit(bob, addr, 9).status, Status::Success);
}

#[test]
fn the_pool_never_exceeds_u64() {
    let mut l = LedgerChain::new();
    let a = l.c.account();
    let (d, t) = (l.c.deployer, l.c.token);
    l.c.ok(d, t, &veil_evm::token::mint(a, U256::MAX));
    l.approve(a, U256::MAX);
    let out = l.tx(a, &ledger::deposit([1; 32], word_u64(u64::MAX)));
    assert_eq!(out.status, Status::Success);
    let before = l.state(&[a]);
    let out = l.tx(a, &ledger::deposit([2; 32], word_u64(1)));
    assert_eq!(refusal(&out), LedgerRevert::Overflow);
    assert_eq!(l.state(&[a]), before);
}

/// Creation code of a token that reports an unlimited balance and
/// allowance but whose `transferFrom` returns `false` (hand-assembled:
/// selector `0x23b872dd` → return 0, anything else → return 2^256 − 1).
fn false_token_initcode() -> Vec<u8> {
    // PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR PUSH4 sel EQ
    let mut runtime = hex::decode("60003560e01c6323b872dd14").unwrap();
    runtime.extend_from_slice(&[0x60, 0x38, 0x57]); // PUSH1 56 JUMPI
    runtime.push(0x7f); // PUSH32 2^256 − 1
    runtime.extend_from_slice(&[0xff; 32]);
    runtime.extend_from_slice(&hex::decode("60005260206000f3").unwrap()); // MSTORE; RETURN 32
    assert_eq!(runtime.len(), 56);
    runtime.extend_from_slice(&hex::decode("5b600060005260206000f3").unwrap()); // JUMPDEST; return 0
    let mut init = vec![
        0x60,
        runtime.len() as u8,
        0x80,
        0x60,
        11,
        0x60,
        0,
        0x39,
        0x60,
        0,
        0xf3,
    ];
    init.extend_from_slice(&runtime);
    init
}

#[test]
fn a_token_whose_transfer_fails_fails_the_deposit_and_changes_nothing() {
    let mut l = LedgerChain::with_token(Some(&false_token_initcode()));
    let a = l.c.account();
    let before = (
        l.queue_head(),
        l.u64_view(&view::leaf_count()),
        l.u64_view(&view::pool()),
    );
    let out = l.tx(a, &ledger::deposit([1; 32], word_u64(5)));
    assert_eq!(refusal(&out), LedgerRevert::TokenTransferFailed);
    let out = l.register(a, &registration(&node_key(1), &[1], 5));
    assert_eq!(refusal(&out), LedgerRevert::TokenTransferFailed);
    let after = (
        l.queue_head(),
        l.u64_view(&view::leaf_count()),
        l.u64_view(&view::pool()),
    );
    assert_eq!(after, before);
    assert_eq!(l.u64_view(&view::staked()), 0);
}

/// Storage slot of `leafCount` (low 64 bits), `pool` (next 64) and
/// `staked` (next 64): slot 1, after `queueHead` (the immutables take none).
const COUNTERS_SLOT: u64 = 1;

#[test]
fn the_queue_refuses_a_leaf_past_two_to_the_32() {
    let mut f = fixture();
    let alice = f.alice;
    f.deposit_ok(alice, 10);
    let (l, slot) = (f.l.ledger, U256::from(COUNTERS_SLOT));
    let counters = f.l.c.sandbox.storage(l, slot);
    assert_eq!(counters, U256::from(1) | (U256::from(10) << 64), "layout");
    // The last leaf of the tree is accepted...
    let last = U256::from((1u64 << 32) - 1) | (U256::from(10) << 64);
    f.l.c.sandbox.set_storage(l, slot, last);
    let (_, out) = f.deposit_ok(alice, 1);
    assert_eq!(ledger::decode_u64(&out.output), Ok((1 << 32) - 1));
    // ...and no leaf after it.
    f.l.approve(alice, U256::from(1));
    let addr = random_addr(&mut f.rng);
    f.refused(
        alice,
        &ledger::deposit(addr, word_u64(1)),
        LedgerRevert::InvalidArgument("commitment tree is full".into()),
    );
}

// -------------------------------------------------------- registration

#[test]
fn a_registration_records_the_node_and_pulls_the_stake() {
    let mut f = fixture();
    let alice = f.alice;
    let k = node_key(1);
    f.l.approve(alice, U256::from(500));
    let r = Registration {
        profile: b"a profile: bytes the contract only emits".to_vec(),
        ..registration(&k, &[100, 1_000, 50], 500)
    };
    let out = f.l.register(alice, &r);
    assert_eq!(
        out.status,
        Status::Success,
        "0x{}",
        hex::encode(&out.output)
    );
    let id = k.node_id().to_bytes();
    assert_eq!(
        ledger::decode_word(&out.output),
        Ok(id),
        "node_id = H(NODE_ID, N)"
    );
    assert_eq!(
        events(&f.l, &out),
        (
            vec![TokenEvent::Transfer {
                from: alice,
                to: f.l.ledger,
                value: U256::from(500)
            }],
            vec![LedgerEvent::NodeRegistered {
                node_id: id,
                operator: alice,
                price_per_kib: 3,
                escrow_sizes: vec![100, 1_000, 50],
                stake: 500,
                tls_key_hash: [0x5a; 32],
                node_key: key_words(&k),
                node_signature: [[0; 32]; 3],
                profile: r.profile.clone(),
            }]
        )
    );
    assert_eq!(
        f.node(&k),
        NodeView {
            operator: alice,
            price_per_kib: 3,
            escrow_sizes: vec![100, 1_000, 50],
            stake: 500,
            registered_at: 1,
            sequence: 0,
        }
    );
    let st = f.state();
    assert_eq!((st.staked, st.pool, st.leaf_count), (500, 0, 0));
    assert_eq!(st.balances[0], U256::from(1_000_000 - 500));
    assert_eq!(st.ledger_balance, U256::from(500));
    // A zero stake is accepted, as by the embedded ledger (no minimum).
    let k2 = node_key(2);
    let out = f.l.register(f.bob, &registration(&k2, &[7], 0));
    assert_eq!(out.status, Status::Success);
    assert_eq!(f.node(&k2).operator, f.bob);
    assert_eq!(
        f.node(&node_key(3)).operator,
        EvmAddress::ZERO,
        "unregistered"
    );
}

#[test]
fn a_profile_longer_than_1024_bytes_is_refused_at_registration() {
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let k = node_key(1);
    let long = Registration {
        profile: vec![7; 1025],
        ..registration(&k, &[100], 10)
    };
    f.l.commit(alice, &long);
    f.refused(
        alice,
        &ledger::register_node(&long),
        LedgerRevert::InvalidArgument("node profile longer than 1024 bytes".into()),
    );
    assert_eq!(f.node(&k).operator, EvmAddress::ZERO);
    let longest = Registration {
        profile: vec![7; 1024],
        ..long
    };
    let out = f.l.tx(alice, &ledger::register_node(&longest));
    assert_eq!(out.status, Status::Success);
    assert!(matches!(&events(&f.l, &out).1[..],
        [LedgerEvent::NodeRegistered { profile, .. }] if *profile == vec![7; 1024]));
}

// -------------------------------------------------------------- update

/// The update of `k`'s node to `price` and `sizes` with sequence `seq`
/// (the TLS key hash, profile and node signature are only emitted).
fn update(k: &VerifyingKey, seq: u64, price: u64, sizes: &[u64]) -> NodeUpdateCall {
    NodeUpdateCall {
        node_id: k.node_id().to_bytes(),
        sequence: word_u64(seq),
        price_per_kib: word_u64(price),
        escrow_sizes: sizes.iter().map(|s| word_u64(*s)).collect(),
        tls_key_hash: [0x6b; 32],
        profile: b"profile".to_vec(),
        node_signature: [[1; 32], [2; 32], [seq as u8; 32]],
    }
}

impl Fx {
    /// Alice registers `k`'s node: price 3, sizes 100, 1000 and 50, stake
    /// 500.
    fn registered(&mut self, k: &VerifyingKey) {
        let alice = self.alice;
        self.l.approve(alice, U256::from(500));
        let out = self
            .l
            .register(alice, &registration(k, &[100, 1_000, 50], 500));
        assert_eq!(out.status, Status::Success);
    }

    /// `u` from `from` is refused with `expected`; neither the ledger nor
    /// the node's record changed.
    fn update_refused(&mut self, from: EvmAddress, u: &NodeUpdateCall, expected: LedgerRevert) {
        let ids = [node_key(1), node_key(2)];
        let before: Vec<NodeView> = ids.iter().map(|k| self.node(k)).collect();
        self.refused(from, &ledger::update_node(u), expected);
        let after: Vec<NodeView> = ids.iter().map(|k| self.node(k)).collect();
        assert_eq!(after, before, "a refused update changed a node");
    }
}

/// §8.3.8: the operator replaces price and sizes; operator, stake and
/// registration height stay; `NodeUpdated` carries every signed field.
#[test]
fn the_operator_updates_its_node_and_keeps_operator_and_stake() {
    let mut f = fixture();
    let alice = f.alice;
    let k = node_key(1);
    f.registered(&k);
    let before = f.state();
    let u = update(&k, 1, 7, &[50, 500]);
    let out = f.l.tx(alice, &ledger::update_node(&u));
    assert_eq!(
        out.status,
        Status::Success,
        "0x{}",
        hex::encode(&out.output)
    );
    assert_eq!(
        events(&f.l, &out),
        (
            vec![],
            vec![LedgerEvent::NodeUpdated {
                node_id: k.node_id().to_bytes(),
                sequence: 1,
                price_per_kib: 7,
                escrow_sizes: vec![50, 500],
                tls_key_hash: [0x6b; 32],
                profile: b"profile".to_vec(),
                node_signature: u.node_signature,
            }]
        )
    );
    let want = NodeView {
        operator: alice,
        price_per_kib: 7,
        escrow_sizes: vec![50, 500],
        stake: 500,
        registered_at: 1,
        sequence: 1,
    };
    assert_eq!(f.node(&k), want);
    assert_eq!(f.state(), before, "no value moves");
    // The next one, with one size and no profile.
    let second = NodeUpdateCall {
        profile: vec![],
        ..update(&k, 2, 8, &[9])
    };
    assert_eq!(
        f.l.tx(alice, &ledger::update_node(&second)).status,
        Status::Success
    );
    let node = f.node(&k);
    assert_eq!(
        (node.price_per_kib, node.escrow_sizes, node.sequence),
        (8, vec![9], 2)
    );
    assert_eq!(
        (node.operator, node.stake, node.registered_at),
        (alice, 500, 1)
    );
    eprintln!("updateNode gas {}", out.gas_used);
    assert_eq!(out.gas_used, UPDATE_GAS);
}

/// Who may update: the node's operator, with the sequence after the
/// latest; everyone else and every other sequence (a replay, a skip) is
/// refused and changes nothing.
#[test]
fn only_the_operator_updates_and_only_with_the_next_sequence() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    let k = node_key(1);
    f.registered(&k);
    let not_operator =
        LedgerRevert::AccountUnauthenticated("sender is not the node's operator".into());
    f.update_refused(bob, &update(&k, 1, 7, &[5]), not_operator.clone());
    f.update_refused(
        alice,
        &update(&node_key(2), 1, 7, &[5]),
        LedgerRevert::UnknownNode,
    );
    for seq in [0, 2, u64::MAX] {
        f.update_refused(
            alice,
            &update(&k, seq, 7, &[5]),
            LedgerRevert::StaleNodeUpdate,
        );
    }
    let first = update(&k, 1, 7, &[5]);
    assert_eq!(
        f.l.tx(alice, &ledger::update_node(&first)).status,
        Status::Success
    );
    f.update_refused(alice, &first, LedgerRevert::StaleNodeUpdate);
    f.update_refused(bob, &update(&k, 2, 7, &[5]), not_operator);
    assert_eq!(f.node(&k).sequence, 1);
}

/// An update's terms pass the registration's rules, in the embedded
/// ledger's order, and its profile is at most 1024 bytes.
#[test]
fn update_terms_are_checked_as_at_registration() {
    let mut f = fixture();
    let alice = f.alice;
    let k = node_key(1);
    f.registered(&k);
    let bad = |m: &str| LedgerRevert::InvalidArgument(m.into());
    let enc = |m: &str| LedgerRevert::Encoding(m.into());
    let mut over = update(&k, 1, 7, &[5]);
    over.price_per_kib[23] = 1;
    let mut big_size = update(&k, 1, 7, &[5]);
    big_size.escrow_sizes[0][23] = 1;
    let mut big_seq = update(&k, 1, 7, &[5]);
    big_seq.sequence[23] = 1;
    let mut bad_id = update(&k, 1, 7, &[5]);
    bad_id.node_id = r_word();
    let long = NodeUpdateCall {
        profile: vec![7; 1025],
        ..update(&k, 1, 7, &[5])
    };
    for (u, expected) in [
        (update(&k, 1, 0, &[5]), bad("price must be positive")),
        (
            update(&k, 1, 7, &[]),
            bad("a node accepts 1..=16 escrow sizes"),
        ),
        (
            update(&k, 1, 7, &[1; 17]),
            bad("a node accepts 1..=16 escrow sizes"),
        ),
        (
            update(&k, 1, 7, &[5, 0]),
            bad("escrow sizes must be positive and distinct"),
        ),
        (
            update(&k, 1, 7, &[5, 5]),
            bad("escrow sizes must be positive and distinct"),
        ),
        (long, bad("node profile longer than 1024 bytes")),
        (over, enc("price_per_kib")),
        (big_size, enc("escrow_sizes")),
        (big_seq, enc("sequence")),
        (bad_id, enc("node_id")),
    ] {
        f.update_refused(alice, &u, expected);
    }
    let longest = NodeUpdateCall {
        profile: vec![7; 1024],
        ..update(&k, 1, 7, &[5])
    };
    let out = f.l.tx(alice, &ledger::update_node(&longest));
    assert_eq!(out.status, Status::Success);
    assert!(matches!(&events(&f.l, &out).1[..],
        [LedgerEvent::NodeUpdated { profile, .. }] if *profile == vec![7; 1024]));
}

#[test]
fn a_node_registers_once() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    let k = node_key(1);
    f.l.approve(alice, U256::MAX);
    f.l.approve(bob, U256::MAX);
    let first = registration(&k, &[100], 10);
    assert_eq!(f.l.register(alice, &first).status, Status::Success);
    // Same terms, other terms, another operator: all refused.
    let mut other = registration(&k, &[200], 20);
    other.tls_key_hash = [1; 32];
    for (who, r) in [(alice, &first), (alice, &other), (bob, &first)] {
        f.l.commit(who, r);
        f.refused(who, &ledger::register_node(r), LedgerRevert::NodeExists);
    }
    assert_eq!(f.node(&k).operator, alice);
}

#[test]
fn a_registration_without_allowance_or_balance_is_refused() {
    let mut f = fixture();
    let alice = f.alice;
    let k = node_key(1);
    let r = registration(&k, &[100], 10);
    f.l.commit(alice, &r);
    f.refused(
        alice,
        &ledger::register_node(&r),
        LedgerRevert::AccountUnauthenticated("token allowance below the amount".into()),
    );
    f.l.approve(alice, U256::MAX);
    f.refused(
        alice,
        &ledger::register_node(&registration(&k, &[100], 1_000_001)),
        LedgerRevert::InsufficientBalance,
    );
    assert_eq!(f.node(&k).operator, EvmAddress::ZERO);
}

#[test]
fn registration_terms_are_checked_as_the_embedded_ledger_checks_them() {
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let k = node_key(1);
    let invalid = |s: &str| LedgerRevert::InvalidArgument(s.into());
    let sizes_msg = "escrow sizes must be positive and distinct";
    let count_msg = "a node accepts 1..=16 escrow sizes";
    let mut cases: Vec<(Registration, LedgerRevert)> = vec![];
    let mut r = registration(&k, &[100], 10);
    r.price_per_kib = word_u64(0);
    cases.push((r, invalid("price must be positive")));
    cases.push((registration(&k, &[], 10), invalid(count_msg)));
    let seventeen: Vec<u64> = (1..=17).collect();
    cases.push((registration(&k, &seventeen, 10), invalid(count_msg)));
    cases.push((registration(&k, &[5, 0], 10), invalid(sizes_msg)));
    cases.push((registration(&k, &[5, 6, 5], 10), invalid(sizes_msg)));
    let over = word_u256(U256::from(u64::MAX) + U256::from(1));
    let mut r = registration(&k, &[100], 10);
    r.price_per_kib = over;
    cases.push((r, LedgerRevert::Encoding("price_per_kib".into())));
    let mut r = registration(&k, &[100], 10);
    r.stake = over;
    cases.push((r, LedgerRevert::Encoding("stake".into())));
    let mut r = registration(&k, &[100], 10);
    r.escrow_sizes.push(over);
    cases.push((r, LedgerRevert::Encoding("escrow_sizes".into())));
    for (r, expected) in cases {
        f.refused(alice, &ledger::register_node(&r), expected);
    }
    // Sixteen distinct sizes are accepted.
    let sixteen: Vec<u64> = (1..=16).collect();
    let out = f.l.register(alice, &registration(&k, &sixteen, 10));
    assert_eq!(out.status, Status::Success);
    assert_eq!(f.node(&k).escrow_sizes, sixteen);
}

/// Who may register `N`: the sender who committed to `N` in an earlier
/// block (docs/evm.md §4.2). Everyone else is refused and nothing changes.
#[test]
fn a_registration_needs_the_senders_commitment_from_an_earlier_block() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    f.l.approve(alice, U256::MAX);
    f.l.approve(bob, U256::MAX);
    let r = registration(&node_key(1), &[100], 10);
    let unauth = |s: &str| LedgerRevert::RegistrationUnauthenticated(s.into());
    let none = unauth("no registration commitment by the sender");
    let same_block = unauth("registration commitment not yet in an earlier block");
    // No commitment at all.
    f.refused(alice, &ledger::register_node(&r), none.clone());
    // Bob's commitment does not authorise alice, nor a commitment to
    // another key.
    f.l.commit(bob, &r);
    f.refused(alice, &ledger::register_node(&r), none.clone());
    f.l.commit(alice, &registration(&node_key(2), &[100], 10));
    f.refused(alice, &ledger::register_node(&r), none.clone());
    // A commitment in the current block: not yet.
    let c = ledger::registration_commitment(alice, &r.node_key);
    let out = f.l.tx(alice, &ledger::commit_registration(c));
    assert_eq!(
        events(&f.l, &out).1,
        vec![LedgerEvent::RegistrationCommitted {
            operator: alice,
            commitment: c
        }]
    );
    let at = f.l.c.sandbox.block_number();
    f.refused(alice, &ledger::register_node(&r), same_block);
    // Committing again keeps the first block and emits nothing.
    f.l.c.sandbox.set_block_number(at + 5);
    let again = f.l.tx(alice, &ledger::commit_registration(c));
    assert_eq!((again.status, again.logs.len()), (Status::Success, 0));
    let stored = ledger::decode_u64(&f.l.view(&view::registration_commit(c)));
    assert_eq!(stored, Ok(at + 1), "block + 1 of the first commitment");
    // The next block: accepted, for alice.
    let out = f.l.tx(alice, &ledger::register_node(&r));
    assert_eq!(out.status, Status::Success);
    assert_eq!(f.node(&node_key(1)).operator, alice);
}

/// Anyone may send `commitRegistration`, for any hash: the hash names
/// the operator, so a commitment sent by bob for alice's hash helps
/// alice only, and never bob.
#[test]
fn a_commitment_is_usable_only_by_the_operator_it_names() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    f.l.approve(alice, U256::MAX);
    f.l.approve(bob, U256::MAX);
    let r = registration(&node_key(1), &[100], 10);
    let for_alice = ledger::registration_commitment(alice, &r.node_key);
    let ledger_address = f.l.ledger;
    f.l.c
        .ok(bob, ledger_address, &ledger::commit_registration(for_alice));
    let n = f.l.c.sandbox.block_number();
    f.l.c.sandbox.set_block_number(n + 1);
    f.refused(
        bob,
        &ledger::register_node(&r),
        LedgerRevert::RegistrationUnauthenticated(
            "no registration commitment by the sender".into(),
        ),
    );
    assert_eq!(
        f.l.tx(alice, &ledger::register_node(&r)).status,
        Status::Success
    );
    assert_eq!(f.node(&node_key(1)).operator, alice);
}

/// The front-running a commitment prevents: bob copies `N` from alice's
/// pending registration and commits to it in the same block; alice's
/// registration is mined first and bob's is refused (docs/evm.md §4.2).
#[test]
fn a_copied_node_key_cannot_be_registered_first() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    f.l.approve(alice, U256::MAX);
    f.l.approve(bob, U256::MAX);
    let r = registration(&node_key(1), &[100], 10);
    f.l.commit(alice, &r);
    // Bob sees alice's registerNode in the mempool and commits in its block.
    let c = ledger::registration_commitment(bob, &r.node_key);
    f.l.c.ok(bob, f.l.ledger, &ledger::commit_registration(c));
    f.refused(
        bob,
        &ledger::register_node(&r),
        LedgerRevert::RegistrationUnauthenticated(
            "registration commitment not yet in an earlier block".into(),
        ),
    );
    assert_eq!(
        f.l.tx(alice, &ledger::register_node(&r)).status,
        Status::Success
    );
    // A block later bob's commitment is old enough; the key is taken.
    let n = f.l.c.sandbox.block_number();
    f.l.c.sandbox.set_block_number(n + 1);
    f.refused(bob, &ledger::register_node(&r), LedgerRevert::NodeExists);
    assert_eq!(f.node(&node_key(1)).operator, alice);
}

/// The subgroup hint: any `Q` with `8·Q = N` is accepted (they differ by
/// 8-torsion), anything else refused as `Encoding("node_key")`.
#[test]
fn the_node_key_hint_must_be_a_point_whose_eightfold_is_the_key() {
    use ark_ec::CurveGroup;
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let r = registration(&node_key(1), &[100], 10);
    f.l.commit(alice, &r);
    let hint = ledger::key_hint(&r.node_key);
    let q = veil_primitives::babyjubjub::raw_point_from_bytes(&hint.concat().try_into().unwrap())
        .unwrap();
    let t = veil_primitives::eddsa::testing::order_eight();
    let call = |h: [Word; 2]| {
        let mut data = ledger::register_node(&r);
        // nodeKey (2 words) then keyHint (2 words), after the selector.
        data[4 + 64..4 + 96].copy_from_slice(&h[0]);
        data[4 + 96..4 + 128].copy_from_slice(&h[1]);
        data
    };
    let n = [
        fr_from_bytes(&r.node_key[0]).unwrap(),
        fr_from_bytes(&r.node_key[1]).unwrap(),
    ];
    let wrong: Vec<(&str, [Word; 2])> = vec![
        ("zero", [[0; 32]; 2]),
        ("N itself", r.node_key),
        ("Q doubled", {
            let d = (q + q).into_affine();
            [fr_word(&d.x), fr_word(&d.y)]
        }),
        ("−Q", [fr_word(&-q.x), fr_word(&q.y)]),
        (
            "Q off the curve",
            [
                hint[0],
                fr_word(&(fr_from_bytes(&hint[1]).unwrap() + Fr::from(1u64))),
            ],
        ),
        ("Q.x = r", [r_word(), hint[1]]),
        (
            "Q.x + r (the same x mod r)",
            [
                word_u256(U256::from_be_bytes(hint[0]) + U256::from_be_bytes(r_word())),
                hint[1],
            ],
        ),
        (
            "the identity",
            [fr_word(&Fr::from(0u64)), fr_word(&Fr::from(1u64))],
        ),
        ("N's coordinates swapped", [fr_word(&n[1]), fr_word(&n[0])]),
    ];
    for (what, h) in wrong {
        let before = f.state();
        let out = f.l.tx(alice, &call(h));
        assert_eq!(
            refusal(&out),
            LedgerRevert::Encoding("node_key".into()),
            "{what}"
        );
        assert_eq!(f.state(), before, "{what}");
    }
    // Q + T for T of order 8: 8·(Q + T) = N as well.
    let other = (q + t).into_affine();
    assert_ne!(other, q);
    let out = f.l.tx(alice, &call([fr_word(&other.x), fr_word(&other.y)]));
    assert_eq!(out.status, Status::Success, "Q plus 8-torsion");
}

/// Node keys the native decoder refuses (§2.1): each is refused on chain
/// as `Encoding("node_key")`.
#[test]
fn node_keys_outside_the_prime_order_subgroup_are_refused() {
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let good = key_words(&node_key(1));
    let (x, y) = (
        fr_from_bytes(&good[0]).unwrap(),
        fr_from_bytes(&good[1]).unwrap(),
    );
    let w = |a: Fr, b: Fr| [fr_word(&a), fr_word(&b)];
    let mut off_curve = good;
    off_curve[1][31] ^= 1;
    let bad: Vec<(&str, [Word; 2])> = vec![
        ("x = r", [r_word(), good[1]]),
        ("y = r", [good[0], r_word()]),
        ("off the curve", off_curve),
        ("identity", w(Fr::from(0u64), Fr::from(1u64))),
        ("order two", w(Fr::from(0u64), -Fr::from(1u64))),
        ("P + (0, −1): on the curve, not in the subgroup", w(-x, -y)),
        ("zero", [[0; 32], [0; 32]]),
    ];
    for (what, key) in bad {
        let bytes = [key[0], key[1]].concat();
        let arr: [u8; 64] = bytes.try_into().unwrap();
        assert!(VerifyingKey::from_bytes(&arr).is_err(), "{what}: native");
        let mut r = registration(&node_key(1), &[100], 10);
        r.node_key = key;
        f.refused(
            alice,
            &ledger::register_node(&r),
            LedgerRevert::Encoding("node_key".into()),
        );
    }
    // −P is in the subgroup: accepted by both.
    let neg = w(-x, y);
    let arr: [u8; 64] = [neg[0], neg[1]].concat().try_into().unwrap();
    assert!(VerifyingKey::from_bytes(&arr).is_ok());
    let mut r = registration(&node_key(1), &[100], 10);
    r.node_key = neg;
    assert_eq!(f.l.register(alice, &r).status, Status::Success);
}

/// Random points of the whole curve (order `8·l`: most have a torsion
/// component, `1/8` of them none): the contract accepts exactly those the
/// native decoder accepts.
#[test]
fn the_subgroup_check_agrees_with_the_native_decoder_on_random_curve_points() {
    use ark_ff::Field;
    let d = veil_primitives::field::fr_from_decimal(
        "9706598848417545097372247223557719406784115219466060233080913168975159366771",
    )
    .expect("d");
    let mut f = fixture();
    let alice = f.alice;
    f.l.approve(alice, U256::MAX);
    let (mut accepted, mut refused) = (0, 0);
    while accepted + refused < 48 {
        // x² = (1 − y²) / (1 − d·y²) on x² + y² = 1 + d·x²·y².
        let y = Fr::rand(&mut f.rng);
        let Some(x) = (Fr::from(1u64) - d * y * y)
            .inverse()
            .and_then(|inv| ((Fr::from(1u64) - y * y) * inv).sqrt())
        else {
            continue;
        };
        let key = [fr_word(&x), fr_word(&y)];
        let arr: [u8; 64] = key.concat().try_into().unwrap();
        let native = VerifyingKey::from_bytes(&arr).is_ok();
        let mut r = registration(&node_key(1), &[100], 0);
        r.node_key = key;
        let out = f.l.register(alice, &r);
        if native {
            assert_eq!(out.status, Status::Success, "subgroup point refused");
            accepted += 1;
        } else {
            assert_eq!(refusal(&out), LedgerRevert::Encoding("node_key".into()));
            refused += 1;
        }
    }
    assert!(accepted >= 1 && refused >= 24, "{accepted} / {refused}");
}

#[test]
fn total_stake_never_exceeds_u64() {
    let mut l = LedgerChain::new();
    let a = l.c.account();
    let (d, t) = (l.c.deployer, l.c.token);
    l.c.ok(d, t, &veil_evm::token::mint(a, U256::MAX));
    l.approve(a, U256::MAX);
    let out = l.register(a, &registration(&node_key(1), &[1], u64::MAX));
    assert_eq!(out.status, Status::Success);
    let second = registration(&node_key(2), &[1], 1);
    l.commit(a, &second);
    let before = l.state(&[a]);
    let out = l.tx(a, &ledger::register_node(&second));
    assert_eq!(refusal(&out), LedgerRevert::Overflow);
    assert_eq!(l.state(&[a]), before);
}

// ---------------------------------------------------------------- gas

#[test]
fn deposit_and_registration_gas_is_exact() {
    let mut f = fixture();
    let (alice, bob) = (f.alice, f.bob);
    let (_, first) = f.deposit_ok(alice, 10);
    let (_, second) = f.deposit_ok(bob, 10);
    let (_, later) = f.deposit_ok(alice, 10);
    let mut last = later.clone();
    for _ in 3..64 {
        last = f.deposit_ok(alice, 10).1;
    }
    f.l.approve(bob, U256::from(100));
    let registration_1 = registration(&node_key(1), &[10, 100, 1_000], 100);
    let commitment = ledger::registration_commitment(bob, &registration_1.node_key);
    let commit = f.l.tx(bob, &ledger::commit_registration(commitment));
    assert_eq!(commit.status, Status::Success);
    f.l.c.sandbox.set_block_number(1);
    let reg = f.l.tx(bob, &ledger::register_node(&registration_1));
    assert_eq!(reg.status, Status::Success);
    let measured = [
        first.gas_used,
        second.gas_used,
        later.gas_used,
        last.gas_used,
        commit.gas_used,
        reg.gas_used,
    ];
    // Where a registration's gas goes: a request refused just after the
    // node key's subgroup check (price 0) against one refused just before
    // it (17 sizes), same calldata length.
    let mut after = registration(&node_key(2), &[1; 17], 100);
    after.escrow_sizes.pop();
    after.price_per_kib = word_u64(0);
    let before_check = f.l.tx(
        bob,
        &ledger::register_node(&registration(&node_key(2), &[1; 17], 100)),
    );
    let after_check = f.l.tx(bob, &ledger::register_node(&after));
    println!(
        "deposit first/second/later/64th, commit, register: {measured:?}; deposit intrinsic {}; \
         subgroup check ≈ {}; deploy {}",
        later.intrinsic_gas,
        after_check.gas_used as i64 - before_check.gas_used as i64,
        f.l.deploy_gas
    );
    assert_eq!(
        measured,
        [
            DEPOSIT_FIRST_GAS,
            DEPOSIT_GAS,
            DEPOSIT_GAS,
            DEPOSIT_CHECKPOINT_GAS,
            COMMIT_REGISTRATION_GAS,
            REGISTER_GAS
        ]
    );
}
