//! Differential test of `VeilLedger` stage 1 against the embedded ledger
//! (`veil_ledger::Engine`, docs/protocol.md §8.3.1, §8.3.6): the same
//! deposits and registrations, from a fixed table and from a seeded random
//! sequence, are accepted or refused alike, with the same `LedgerError`
//! variant names, the same leaf indices and commitments; after every step
//! balances, pool, stakes, leaf count and the queue (the embedded ledger's
//! leaves, keccak-chained here) agree. With batched appends (docs/evm.md
//! §4.6): at every 64-aligned leaf count, the contract's root after
//! appending the batch equals the engine's root after the same deposits.
//!
//! Mapping (docs/evm.md §4.3): an embedded account is an EVM address; its
//! signed authorisation of a debit is the token allowance, so "no account
//! signature" is "no allowance" (and is only generated for a non-zero
//! amount: on chain the transaction's own signature authorises the rest).
//! The node key's EdDSA signature is not checked on chain: every embedded
//! registration here is signed by its node key.

mod chain;
mod differential;

use std::sync::Arc;

use chain::{LedgerChain, Mirror};
use differential::{Res, chain_err, embedded_err};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_evm::abi::{Word, word_u64};
use veil_evm::ledger::{self, Registration, queue_head};
use veil_evm::sandbox::{EvmAddress, Status};
use veil_ledger::types::{Address, Value};
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, LedgerError, convert, testing};
use veil_primitives::eddsa::SigningKey;

const ACTORS: usize = 3;
const START_BALANCE: u64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        actor: usize,
        value: u64,
        /// A raw 32-byte address (may be non-canonical).
        addr: Word,
        authorised: bool,
    },
    Register {
        actor: usize,
        node_seed: u8,
        /// Replaces the node key's encoding (an invalid key).
        raw_key: Option<[Word; 2]>,
        price: u64,
        sizes: Vec<u64>,
        stake: u64,
        authorised: bool,
    },
}

struct World {
    engine: Engine,
    keys: Vec<SigningKey>,
    l: LedgerChain,
    evm: Vec<EvmAddress>,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

impl World {
    fn new() -> Self {
        let engine = Engine::in_memory(
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        )
        .expect("engine");
        let mut l = LedgerChain::new();
        let keys: Vec<SigningKey> = (0..ACTORS).map(|i| key(100 + i as u8)).collect();
        let evm: Vec<EvmAddress> = (0..ACTORS).map(|_| l.c.account()).collect();
        for (k, a) in keys.iter().zip(&evm) {
            let id = k.verifying_key().account_id();
            engine.faucet(id, Value(START_BALANCE)).expect("faucet");
            l.c.mint(*a, START_BALANCE);
        }
        World {
            engine,
            keys,
            l,
            evm,
        }
    }

    fn apply(&mut self, op: &Op) -> (Res, Res) {
        match op {
            Op::Deposit {
                actor,
                value,
                addr,
                authorised,
            } => (
                self.embedded_deposit(*actor, *value, addr, *authorised),
                self.chain_deposit(*actor, *value, addr, *authorised),
            ),
            Op::Register { actor, .. } => {
                let reg = self.chain_registration(op);
                (
                    self.embedded_register(op),
                    self.chain_register(*actor, &reg, op),
                )
            }
        }
    }

    fn embedded_deposit(&self, actor: usize, value: u64, addr: &Word, auth: bool) -> Res {
        let addr: Address = match convert::address(addr) {
            Ok(a) => a,
            Err(e) => return embedded_err(&e),
        };
        let mut d = testing::signed_deposit(&self.engine, &self.keys[actor], Value(value), addr)
            .expect("sign");
        if !auth {
            d.auth = None;
        }
        match self.engine.deposit(d) {
            Ok(r) => Res::Ok(r.leaf_index, r.commitment.to_bytes()),
            Err(e) => embedded_err(&e),
        }
    }

    fn chain_deposit(&mut self, actor: usize, value: u64, addr: &Word, auth: bool) -> Res {
        let a = self.evm[actor];
        self.l.approve(a, U256::from(if auth { value } else { 0 }));
        let out = self.l.tx(a, &ledger::deposit(*addr, word_u64(value)));
        if out.status != Status::Success {
            return chain_err(&out);
        }
        let index = ledger::decode_u64(&out.output).expect("index");
        let cm = match ledger::LedgerEvent::decode(out.logs.last().expect("event")) {
            Ok(ledger::LedgerEvent::Deposited { commitment, .. }) => commitment,
            other => panic!("not a Deposited event: {other:?}"),
        };
        Res::Ok(index, cm)
    }

    fn chain_registration(&self, op: &Op) -> Registration {
        let Op::Register {
            node_seed,
            raw_key,
            price,
            sizes,
            stake,
            ..
        } = op
        else {
            unreachable!()
        };
        let b = key(*node_seed).verifying_key().to_bytes();
        let node_key =
            raw_key.unwrap_or([b[..32].try_into().unwrap(), b[32..].try_into().unwrap()]);
        Registration {
            node_key,
            node_signature: [[0; 32]; 3],
            price_per_kib: word_u64(*price),
            escrow_sizes: sizes.iter().map(|s| word_u64(*s)).collect(),
            stake: word_u64(*stake),
            tls_key_hash: [*node_seed; 32],
        }
    }

    fn embedded_register(&self, op: &Op) -> Res {
        let Op::Register {
            actor,
            node_seed,
            raw_key,
            price,
            sizes,
            stake,
            authorised,
        } = op
        else {
            unreachable!()
        };
        if sizes.len() > 16 {
            // The wire decoder's first check (convert::registration_from_pb).
            return embedded_err(&LedgerError::InvalidArgument(
                "a node accepts 1..=16 escrow sizes",
            ));
        }
        if let Some(k) = raw_key
            && let Err(e) = convert::node_key(&[k[0], k[1]].concat())
        {
            return embedded_err(&e);
        }
        let mut g = testing::registration(
            &self.engine,
            &key(*node_seed),
            &self.keys[*actor],
            Value(*price),
            sizes.iter().map(|s| Value(*s)).collect(),
            Value(*stake),
            [*node_seed; 32],
        )
        .expect("sign");
        if !authorised {
            g.account_auth = None;
        }
        match self.engine.register_node(g) {
            Ok(rec) => Res::Ok(0, rec.registration.node_id.to_bytes()),
            Err(e) => embedded_err(&e),
        }
    }

    fn chain_register(&mut self, actor: usize, reg: &Registration, op: &Op) -> Res {
        let Op::Register {
            stake, authorised, ..
        } = op
        else {
            unreachable!()
        };
        let a = self.evm[actor];
        self.l
            .approve(a, U256::from(if *authorised { *stake } else { 0 }));
        let out = self.l.register(a, reg);
        if out.status != Status::Success {
            return chain_err(&out);
        }
        Res::Ok(0, ledger::decode_word(&out.output).expect("node id"))
    }

    /// Balances, pool, stakes, leaf count and queue agree.
    fn check_state(&mut self, step: usize) {
        let status = self.engine.status().expect("status");
        let mut sum = 0u64;
        for (k, a) in self.keys.iter().zip(&self.evm) {
            let b = self
                .engine
                .balance(&k.verifying_key().account_id())
                .expect("balance");
            assert_eq!(
                U256::from(b.0),
                self.l.c.balance(*a),
                "step {step}: balance"
            );
            sum += b.0;
        }
        let st = self.l.state(&[]);
        assert_eq!(st.pool, status.pool.0, "step {step}: pool");
        let staked = status.minted.0 - sum - status.pool.0;
        assert_eq!(st.staked, staked, "step {step}: stakes");
        assert_eq!(
            st.leaf_count, status.commitment_count,
            "step {step}: leaves"
        );
        let leaves: Vec<Word> = self
            .engine
            .commitments(0, 4096)
            .expect("leaves")
            .iter()
            .map(|c| c.to_bytes())
            .collect();
        assert_eq!(st.queue_head, queue_head(&leaves), "step {step}: queue");
        assert_eq!(
            st.ledger_balance,
            U256::from(st.pool) + U256::from(st.staked),
            "step {step}: the contract holds pool + stakes"
        );
    }
}

fn run(ops: &[Op]) -> (usize, usize) {
    let mut w = World::new();
    let (mut accepted, mut refused) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        let (embedded, chain) = w.apply(op);
        assert_eq!(chain, embedded, "step {i}: {op:?}");
        match chain {
            Res::Ok(..) => accepted += 1,
            Res::Err(..) => refused += 1,
        }
        w.check_state(i);
    }
    (accepted, refused)
}

fn addr(n: u8) -> Word {
    let mut w = [0u8; 32];
    w[1] = n;
    w
}

fn r_plus(k: u8) -> Word {
    // r = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
    let mut w: Word =
        hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001")
            .unwrap()
            .try_into()
            .unwrap();
    w[31] += k;
    w
}

fn deposit(actor: usize, value: u64, a: Word, authorised: bool) -> Op {
    Op::Deposit {
        actor,
        value,
        addr: a,
        authorised,
    }
}

fn register(actor: usize, node_seed: u8, sizes: &[u64], stake: u64) -> Op {
    Op::Register {
        actor,
        node_seed,
        raw_key: None,
        price: 2,
        sizes: sizes.to_vec(),
        stake,
        authorised: true,
    }
}

#[test]
fn a_fixed_table_is_judged_alike() {
    let with = |op: Op, f: &dyn Fn(&mut Op)| {
        let mut op = op;
        f(&mut op);
        op
    };
    let ops = vec![
        deposit(0, 100, addr(1), true),
        deposit(0, 0, addr(2), true),                 // InvalidArgument
        deposit(0, 100, addr(3), false),              // AccountUnauthenticated
        deposit(1, 100, addr(1), true),               // same commitment: DuplicateDeposit
        deposit(1, 101, addr(1), true),               // another value: another commitment
        deposit(2, START_BALANCE + 1, addr(4), true), // InsufficientBalance
        deposit(2, 5, r_plus(0), true),               // Encoding(addr)
        deposit(2, 5, [0xff; 32], true),              // Encoding(addr)
        deposit(2, START_BALANCE, addr(5), true),     // the whole balance
        register(0, 1, &[10, 20], 500),
        register(1, 1, &[10, 20], 500), // NodeExists
        register(0, 1, &[30], 1),       // NodeExists (other terms)
        with(register(1, 2, &[10], 5), &|o| {
            if let Op::Register { price, .. } = o {
                *price = 0
            }
        }),
        register(1, 2, &[], 5),
        register(1, 2, &(1..=17).collect::<Vec<_>>(), 5),
        register(1, 2, &[0], 5),
        register(1, 2, &[4, 4], 5),
        register(1, 2, &[4], START_BALANCE), // InsufficientBalance
        with(register(1, 2, &[4], 5), &|o| {
            if let Op::Register { authorised, .. } = o {
                *authorised = false
            }
        }),
        with(register(1, 2, &[4], 5), &|o| {
            if let Op::Register { raw_key, .. } = o {
                *raw_key = Some([word_u64(0), word_u64(1)]) // the identity
            }
        }),
        with(register(1, 2, &[4], 5), &|o| {
            if let Op::Register { raw_key, .. } = o {
                *raw_key = Some([word_u64(5), word_u64(7)]) // off the curve
            }
        }),
        register(1, 2, &[4], 0), // zero stake: accepted
        register(2, 3, &(1..=16).collect::<Vec<_>>(), 0),
    ];
    let (accepted, refused) = run(&ops);
    assert_eq!((accepted, refused), (6, 17));
}

fn random_op(rng: &mut ChaCha20Rng) -> Op {
    let actor = rng.gen_range(0..ACTORS);
    if rng.gen_bool(0.6) {
        let value = [0, 1, 7, 100, 2_500, 9_000, START_BALANCE + 1][rng.gen_range(0..7)];
        let a = match rng.gen_range(0..10) {
            0 => r_plus(rng.gen_range(0..3)),
            _ => addr(rng.gen_range(0..8)),
        };
        return deposit(actor, value, a, value == 0 || rng.gen_bool(0.85));
    }
    let sizes: Vec<u64> = match rng.gen_range(0..7) {
        0 => vec![],
        1 => (1..=17).collect(),
        2 => vec![5, 0],
        3 => vec![9, 9],
        4 => (1..=16).collect(),
        _ => vec![10, 100],
    };
    let stake = [0, 1, 300, 6_000, START_BALANCE + 1][rng.gen_range(0..5)];
    Op::Register {
        actor,
        node_seed: rng.gen_range(1..5),
        raw_key: if rng.gen_bool(0.1) {
            Some([word_u64(rng.gen_range(0..3)), word_u64(1)])
        } else {
            None
        },
        price: [0, 1, 50][rng.gen_range(0..3)],
        sizes,
        stake,
        authorised: stake == 0 || rng.gen_bool(0.85),
    }
}

#[test]
fn random_sequences_are_judged_alike() {
    for seed in 0..4u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ops: Vec<Op> = (0..60).map(|_| random_op(&mut rng)).collect();
        let (accepted, refused) = run(&ops);
        assert!(
            accepted > 5 && refused > 5,
            "seed {seed}: {accepted}/{refused}"
        );
    }
}

/// Roots agree at every 64-aligned point of a random sequence with at
/// least 128 accepted deposits: each full batch is proved from the
/// contract's queue and appended, and the contract's root is then the
/// engine's (which has one root per deposit), known on chain.
#[test]
fn roots_agree_at_every_batch() {
    let mut rng = ChaCha20Rng::seed_from_u64(128);
    let mut w = World::new();
    let mut m = Mirror::default();
    let submitter = w.l.c.account();
    let (mut deposits, mut batches) = (0, 0);
    for step in 0.. {
        assert!(step < 1_000, "too few deposits accepted");
        // Small deposits, so that the balances last 128 of them.
        let mut op = random_op(&mut rng);
        if let Op::Deposit { value, .. } = &mut op {
            *value = (*value).min(rng.gen_range(1..40));
        }
        let (embedded, chain) = w.apply(&op);
        assert_eq!(chain, embedded, "step {step}: {op:?}");
        if let (Op::Deposit { .. }, Res::Ok(_, cm)) = (&op, &chain) {
            m.queue(cm);
            deposits += 1;
        }
        w.check_state(step);
        if m.queued.len() == ledger::BATCH {
            w.l.append_next(&mut m, submitter);
            batches += 1;
            let status = w.engine.status().expect("status");
            let st = w.l.state(&[]);
            assert_eq!(st.tree_size, status.commitment_count, "step {step}");
            assert_eq!(
                st.current_root,
                status.root.to_bytes(),
                "step {step}: root after batch {batches}"
            );
            assert!(w.l.is_known_root(status.root.to_bytes()));
            if batches >= 2 {
                break;
            }
        }
    }
    assert_eq!((deposits, batches), (128, 2));
}
