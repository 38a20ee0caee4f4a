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
//! registration and update here is signed by its node key. Node updates
//! (§8.3.8, docs/evm.md §4.8): the embedded account's signature is the
//! sender, so an update by another actor is refused on both
//! (`AccountUnauthenticated`); a replay is of an update older than the
//! node's latest (the embedded ledger answers a retry of the latest with
//! the record, the contract refuses it: `EvmLedger` answers it from the
//! logs); after every step each node's terms in force, sequence and stake
//! agree.

mod chain;
mod differential;

use std::collections::HashMap;
use std::sync::Arc;

use chain::{LedgerChain, Mirror};
use differential::{Res, chain_err, embedded_err};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_evm::abi::{Word, word_u64};
use veil_evm::ledger::{self, NodeUpdateCall, NodeView, Registration, queue_head};
use veil_evm::sandbox::{EvmAddress, Status};
use veil_ledger::types::{
    AccountAuth, AccountOp, Address, BlockHeight, NodeRecord, NodeRegistration, NodeTerms,
    NodeUpdate, Value,
};
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
    Update {
        actor: usize,
        node_seed: u8,
        /// The sequence after the next (one skipped).
        skip: bool,
        /// Send again the node's first applied update, if it has a later
        /// one (else the next update is sent).
        replay: bool,
        price: u64,
        sizes: Vec<u64>,
        profile_len: usize,
    },
}

/// Node seeds the operations use (1..5); 9 is never registered.
const NODE_SEEDS: [u8; 5] = [1, 2, 3, 4, 9];

struct World {
    engine: Engine,
    keys: Vec<SigningKey>,
    l: LedgerChain,
    evm: Vec<EvmAddress>,
    /// The updates the embedded ledger applied, per node seed, with the
    /// actor who sent them.
    applied: HashMap<u8, Vec<(usize, NodeUpdate)>>,
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
            applied: HashMap::new(),
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
            Op::Update {
                actor, node_seed, ..
            } => {
                // A replay is sent again by the one who sent it.
                let (sender, u) = self
                    .update(op)
                    .unwrap_or_else(|| (*actor, self.fresh_update(op)));
                let embedded = match self.engine.update_node(u.clone()) {
                    Ok(rec) => {
                        self.applied
                            .entry(*node_seed)
                            .or_default()
                            .push((sender, u.clone()));
                        Res::Ok(0, rec.registration.node_id.to_bytes())
                    }
                    Err(e) => embedded_err(&e),
                };
                (embedded, self.chain_update(sender, &u))
            }
        }
    }

    /// The replay `op` asks for, with its first sender: the node's first
    /// applied update if a later one applied too.
    fn update(&self, op: &Op) -> Option<(usize, NodeUpdate)> {
        let Op::Update {
            node_seed, replay, ..
        } = op
        else {
            unreachable!()
        };
        let applied = self.applied.get(node_seed).map_or(&[][..], Vec::as_slice);
        (*replay && applied.len() >= 2).then(|| applied[0].clone())
    }

    /// The update `op` sends, signed by its node key and by its actor's
    /// account key at the actor's next nonce: the update of the node's
    /// record (of a made-up record naming the actor's account for an
    /// unregistered node) to the next sequence, or the one after.
    fn fresh_update(&self, op: &Op) -> NodeUpdate {
        let Op::Update {
            actor,
            node_seed,
            skip,
            price,
            sizes,
            profile_len,
            ..
        } = op
        else {
            unreachable!()
        };
        let (node_key, account_key) = (key(*node_seed), &self.keys[*actor]);
        let account = account_key.verifying_key().account_id();
        let id = node_key.verifying_key().node_id();
        let record = self.engine.get_node(&id).expect("read").unwrap_or_else(|| {
            let g = NodeRegistration::signed_for_sender(
                &node_key,
                account,
                Value(1),
                vec![Value(1)],
                Value(0),
                [0; 32],
            );
            NodeRecord::registered(g, BlockHeight(0))
        });
        let nonce = self.engine.account(&account).expect("account").next_nonce;
        let terms = NodeTerms {
            profile: vec![7; *profile_len],
            ..NodeTerms::new(
                Value(*price),
                sizes.iter().map(|s| Value(*s)).collect(),
                [*node_seed; 32],
            )
        };
        let mut u = NodeUpdate::sign(&node_key, account_key, nonce, &record, terms);
        if *skip {
            u.sequence += 1;
            u.signature = node_key.sign(&u.message());
            u.account_auth = Some(AccountAuth::sign(
                account_key,
                AccountOp::UpdateNode,
                nonce,
                u.message(),
            ));
        }
        u
    }

    fn chain_update(&mut self, actor: usize, u: &NodeUpdate) -> Res {
        let sig = u.signature.to_bytes();
        let call = NodeUpdateCall {
            node_id: u.node_id.to_bytes(),
            sequence: word_u64(u.sequence),
            price_per_kib: word_u64(u.price_per_kib.0),
            escrow_sizes: u.escrow_sizes.iter().map(|v| word_u64(v.0)).collect(),
            tls_key_hash: u.tls_key_hash,
            profile: u.profile.clone(),
            node_signature: [0, 1, 2].map(|i| sig[32 * i..32 * (i + 1)].try_into().expect("32")),
        };
        let out = self.l.tx(self.evm[actor], &ledger::update_node(&call));
        if out.status != Status::Success {
            return chain_err(&out);
        }
        Res::Ok(0, u.node_id.to_bytes())
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
            profile: Vec::new(),
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
        for seed in NODE_SEEDS {
            let id = key(seed).verifying_key().node_id();
            let chain =
                NodeView::decode(&self.l.view(&ledger::view::node(id.to_bytes()))).expect("node");
            let terms = self.engine.get_node(&id).expect("read").map(|r| {
                let sizes = r.escrow_sizes().iter().map(|v| v.0).collect::<Vec<_>>();
                (
                    r.price_per_kib().0,
                    sizes,
                    r.sequence(),
                    r.registration.stake.0,
                )
            });
            let on_chain = (chain.operator != EvmAddress::ZERO).then(|| {
                let v = chain.clone();
                (v.price_per_kib, v.escrow_sizes, v.sequence, v.stake)
            });
            assert_eq!(on_chain, terms, "step {step}: node {seed}");
        }
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

fn update(actor: usize, node_seed: u8, price: u64, sizes: &[u64]) -> Op {
    Op::Update {
        actor,
        node_seed,
        skip: false,
        replay: false,
        price,
        sizes: sizes.to_vec(),
        profile_len: 0,
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
        update(0, 1, 3, &[30, 40]), // the operator: sequence 1
        update(1, 1, 4, &[30]),     // not the operator: AccountUnauthenticated
        update(0, 9, 4, &[30]),     // UnknownNode
        update(0, 1, 0, &[30]),     // price 0
        update(0, 1, 4, &[30, 30]), // sizes not distinct
        with(update(0, 1, 4, &[30]), &|o| {
            if let Op::Update { skip, .. } = o {
                *skip = true // StaleNodeUpdate
            }
        }),
        with(update(0, 1, 4, &[30]), &|o| {
            if let Op::Update { profile_len, .. } = o {
                *profile_len = 1025 // InvalidArgument
            }
        }),
        with(update(0, 1, 4, &[30]), &|o| {
            if let Op::Update { profile_len, .. } = o {
                *profile_len = 1024 // sequence 2
            }
        }),
        with(update(0, 1, 5, &[30]), &|o| {
            if let Op::Update { replay, .. } = o {
                *replay = true // sequence 1 again: StaleNodeUpdate
            }
        }),
        update(1, 2, 9, &[7]), // node 2's operator: sequence 1
    ];
    let (accepted, refused) = run(&ops);
    assert_eq!((accepted, refused), (9, 24));
}

fn random_op(rng: &mut ChaCha20Rng) -> Op {
    let actor = rng.gen_range(0..ACTORS);
    if rng.gen_bool(0.2) {
        return Op::Update {
            actor,
            node_seed: NODE_SEEDS[rng.gen_range(0..NODE_SEEDS.len())],
            skip: rng.gen_bool(0.1),
            replay: rng.gen_bool(0.15),
            price: [0, 1, 50][rng.gen_range(0..3)],
            sizes: [vec![], vec![5, 5], vec![10, 100], vec![3]][rng.gen_range(0..4)].clone(),
            profile_len: [0, 7, 1024, 1025][rng.gen_range(0..4)],
        };
    }
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
