//! Shared fixture of the escrow, reclaim and withdrawal tests
//! (docs/evm.md §5): a ledger holding the sample state of
//! `veil_evm::sample` (64 notes of known owners, their batch appended, two
//! nodes registered), and real access and withdraw proofs against its
//! root.
//!
//! Everything is deterministic (seeded keys, notes and proofs), so the
//! tree, its root and every proof are the same in every test: they are
//! proved once per test binary and each test replays them on a fresh chain.

#![allow(dead_code)]

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_circuits::withdraw::WithdrawPublic;
use veil_evm::abi::{Word, word_u64};
use veil_evm::escrow::{self, AccessWords, EscrowTerms, SpendWord, WithdrawWords};
use veil_evm::ledger::{self, BatchAppend};
use veil_evm::sample;
use veil_evm::sandbox::{EvmAddress, Outcome};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::merkle::{Frontier, Tree};
use veil_proofs::{CircuitId, ParamStore, Proof, Prover};

use crate::chain::{LedgerChain, LedgerState, Mirror, refusal};

#[allow(unused_imports)]
pub use veil_evm::sample::{EXPIRY, NOTE_VALUE, PRICE, SIZES, deposit_addrs};

/// Notes the tests spend (leaves 0..8).
pub const OWNED: usize = 8;

/// The registered node and a second one (for redirections).
pub const NODE: u8 = 1;
pub const OTHER_NODE: u8 = 2;

/// `p − y` for a base-field coordinate `y` (negating a G1 point).
pub fn fq_neg(y: &Word) -> Word {
    use ark_ff::{BigInteger, PrimeField};
    let y = ark_bn254::Fq::from_be_bytes_mod_order(y);
    (-y).into_bigint()
        .to_bytes_be()
        .try_into()
        .expect("32 bytes")
}

pub fn node_key(seed: u8) -> SigningKey {
    sample::node_key(seed).expect("seed")
}

pub fn node_id(seed: u8) -> Word {
    sample::node_id(seed).expect("seed")
}

fn tree() -> &'static Tree {
    static T: OnceLock<Tree> = OnceLock::new();
    T.get_or_init(sample::tree)
}

/// The private witness of spending sample note `i`.
pub fn spend(i: usize) -> AccessPrivate {
    sample::spend(tree(), i).expect("leaf")
}

fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| {
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
        Prover::from_store(&store, &[CircuitId::Access, CircuitId::Withdraw], None)
            .expect("access and withdraw keys")
    })
}

/// A real access token: note `i`, escrow `e`, for `node`.
pub fn token(i: usize, e: u64, node: u8) -> (AccessPublic, AccessWords) {
    let (st, words, _) = token_with_proof(i, e, node);
    (st, words)
}

/// [`token`] with the proof (for the embedded ledger).
pub fn token_with_proof(i: usize, e: u64, node: u8) -> (AccessPublic, AccessWords, Proof) {
    let st = sample::access_statement(&spend(i), i, e, node).expect("honest statement");
    let mut rng = ChaCha20Rng::seed_from_u64(100 + i as u64 + e);
    let t = prover()
        .prove_access(&st, &spend(i), &mut rng)
        .expect("prove access");
    (st, AccessWords::new(&st, &t.proof), t.proof)
}

/// The tokens of notes `0..n` for escrows of 300 at [`NODE`], proved once
/// per test binary.
pub fn tokens(n: usize) -> Vec<(AccessPublic, AccessWords)> {
    static T: OnceLock<Vec<(AccessPublic, AccessWords)>> = OnceLock::new();
    let all = T.get_or_init(|| (0..OWNED).map(|i| token(i, 300, NODE)).collect());
    all[..n].to_vec()
}

/// A real withdrawal of `amount` from note `i` to `recipient`.
pub fn withdrawal(i: usize, amount: u64, recipient: EvmAddress) -> (WithdrawPublic, WithdrawWords) {
    let (st, words, _) = withdrawal_with_proof(i, amount, recipient);
    (st, words)
}

/// [`withdrawal`] with the proof (for the embedded ledger).
pub fn withdrawal_with_proof(
    i: usize,
    amount: u64,
    recipient: EvmAddress,
) -> (WithdrawPublic, WithdrawWords, Proof) {
    let st = sample::withdraw_statement(&spend(i), amount, recipient).expect("honest statement");
    let mut rng = ChaCha20Rng::seed_from_u64(200 + i as u64);
    let w = prover()
        .prove_withdraw(&st, &spend(i), &mut rng)
        .expect("prove withdraw");
    (st, WithdrawWords::new(&st, &w.proof), w.proof)
}

/// The batch append of the 64 deposits, proved once per test binary.
fn first_batch() -> &'static (BatchAppend, Frontier) {
    static B: OnceLock<(BatchAppend, Frontier)> = OnceLock::new();
    B.get_or_init(|| {
        let mut m = Mirror::default();
        for i in 0..ledger::BATCH as u64 {
            m.queue(&tree().leaf(i).expect("leaf").to_bytes());
        }
        m.prove_next(0)
    })
}

/// A ledger with the 64 sample deposits appended and [`NODE`] and
/// [`OTHER_NODE`] registered.
pub struct Fx {
    pub l: LedgerChain,
    /// Deposited everything.
    pub alice: EvmAddress,
    /// Operates both nodes.
    pub operator: EvmAddress,
    /// Sends tokens it did not make (anyone may).
    pub relayer: EvmAddress,
    /// An account with no tokens: a withdrawal's recipient.
    pub recipient: EvmAddress,
}

impl Fx {
    pub fn new() -> Self {
        Self::on(LedgerChain::new(), 0)
    }

    /// The fixture on ledger `l`, each node staking `stake`.
    pub fn on(mut l: LedgerChain, stake: u64) -> Self {
        let (alice, operator, relayer) = (l.c.account(), l.c.account(), l.c.account());
        let recipient = l.c.account();
        l.c.mint(alice, 1_000_000);
        l.approve(alice, U256::MAX);
        l.c.mint(operator, 2 * stake);
        l.approve(operator, U256::MAX);
        for a in deposit_addrs() {
            let out = l.tx(alice, &ledger::deposit(a, word_u64(NOTE_VALUE)));
            assert_eq!(out.status, veil_evm::Status::Success);
        }
        let out = l.tx(relayer, &first_batch().0.calldata());
        assert_eq!(out.status, veil_evm::Status::Success, "append");
        for seed in [NODE, OTHER_NODE] {
            let reg = ledger::Registration {
                stake: word_u64(stake),
                ..sample::registration(seed).expect("seed")
            };
            let out = l.register(operator, &reg);
            assert_eq!(out.status, veil_evm::Status::Success, "register");
        }
        Fx {
            l,
            alice,
            operator,
            relayer,
            recipient,
        }
    }

    pub fn state(&mut self) -> EscrowState {
        let accounts = [self.alice, self.operator, self.relayer, self.recipient];
        EscrowState {
            ledger: self.l.state(&accounts),
            escrowed: self.l.u64_view(&escrow::view::escrowed()),
        }
    }

    pub fn spend_word(&mut self, nf: Word) -> SpendWord {
        let w = ledger::decode_word(&self.l.view(&escrow::view::nullifier(nf))).expect("word");
        SpendWord::decode(&w).expect("a spend word the contract writes")
    }

    /// `data` from `from` is refused with `expected` and changes nothing
    /// (`nfs`: spend words that must not change either).
    pub fn refused(
        &mut self,
        from: EvmAddress,
        data: &[u8],
        expected: ledger::LedgerRevert,
        nfs: &[Word],
    ) {
        let before = (self.state(), self.words(nfs));
        let out = self.l.tx(from, data);
        assert_eq!(refusal(&out), expected);
        assert_eq!(
            (self.state(), self.words(nfs)),
            before,
            "a refused call changed state"
        );
    }

    fn words(&mut self, nfs: &[Word]) -> Vec<SpendWord> {
        nfs.iter().map(|nf| self.spend_word(*nf)).collect()
    }

    /// A committed transaction that must succeed.
    pub fn ok(&mut self, from: EvmAddress, data: &[u8]) -> Outcome {
        let out = self.l.tx(from, data);
        assert_eq!(
            out.status,
            veil_evm::Status::Success,
            "refused: {:?}",
            ledger::LedgerRevert::decode(&out.output)
        );
        out
    }

    /// The terms an honest open of `st` records.
    pub fn terms(st: &AccessPublic) -> EscrowTerms {
        EscrowTerms::of_token(st, PRICE)
    }
}

/// Ledger state plus the escrowed total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowState {
    pub ledger: LedgerState,
    pub escrowed: u64,
}
