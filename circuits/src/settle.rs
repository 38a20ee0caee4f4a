//! The settlement circuit `settle_K`: a node proves that the client-signed
//! receipts it holds entitle it to `T` over a batch of up to `K` sessions.
//!
//! Spec: `docs/protocol.md` §5. One generic circuit, instantiated for
//! `K ∈ {1, 8, 64}`.
//!
//! Public inputs, in order ([`offsets`]): `node_id`, `T`, `price`, then
//! `esc_0 … esc_{K−1}` (each slot's escrow commitment, §3.3), then
//! `cm_refund_0 … cm_refund_{K−1}`. A ledger never hashes to build them: it
//! has `esc` from the access proof (the contract stores it) or recomputes it
//! from its record (the embedded ledger), and takes `cm_refund` from the
//! node. The public learns `T`; the per-slot terms stay private witnesses
//! bound by `esc` (§5.1).
//!
//! Per slot `i` the circuit enforces (`en_i` the slot's enabled flag, terms
//! `sid_i, E_i, rk_i, expiry_i` private):
//!
//! | relation | gated by |
//! |---|---|
//! | `kib_i, E_i < 2^64` | — |
//! | `A_i`, `R_i` on the curve, `S_i < l` | — |
//! | `esc_i = en_i · H(ESCROW, sid_i, node_id, E_i, H(SESSION, A_i), rk_i, expiry_i)` | — |
//! | EdDSA `(R_i, S_i)` valid on `H(RECEIPT, sid_i, kib_i)` under `A_i` | `en_i` |
//! | `pay_i = min(kib_i·price, E_i)` (128-bit comparison), `refund_i = E_i − pay_i` | — |
//! | `cm_refund_i = H(NOTE, refund_i, H(ADDR, rk_i, H(REFUND, A_i.x, A_i.y)))` | `en_i` |
//! | `cm_refund_i = 0`, `kib_i = 0` | `¬en_i` |
//!
//! and `price < 2^64`, `T = Σ pay_i` with `T < 2^64`. A padding slot has
//! `esc = 0` (no escrow has it: a Poseidon preimage of 0) and `kib = 0`,
//! hence `pay = 0`.

use ark_ff::{AdditiveGroup, BigInt, PrimeField};
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use thiserror::Error;
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsAffine, ScalarField},
    eddsa::{RawSignature, SignatureError, VerifyingKey, verify_raw},
    escrow::{EscrowCommitment, EscrowTerms},
    ids::{BlockHeight, NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    note::NoteCommitment,
    poseidon::{DomainTag, hash_tagged},
    receipt::{SignedReceipt, receipt_message},
    refund::refund_note,
    value::Value,
};

use crate::gadgets::{
    eddsa as eddsa_gadget, note as note_gadget,
    poseidon::hash_tagged as hash_tagged_var,
    range::{enforce_u64, min},
};

/// Batch sizes the protocol uses (§5).
pub const BATCH_SIZES: [usize; 3] = [1, 8, 64];

/// Number of public inputs of `settle_K` (without the constant one): `2K + 3`.
pub const fn public_inputs(k: usize) -> usize {
    offsets::FIXED + 2 * k
}

/// Positions of the public inputs (§5.1).
pub mod offsets {
    /// `node_id`.
    pub const NODE_ID: usize = 0;
    /// `T`, the total paid to the node.
    pub const TOTAL: usize = 1;
    /// `price`, the node's price per KiB.
    pub const PRICE: usize = 2;
    /// Inputs before the slots.
    pub const FIXED: usize = 3;
    /// `esc_i`.
    pub const fn escrow_commitment(i: usize) -> usize {
        FIXED + i
    }
    /// `cm_refund_i` of a batch of `k` slots.
    pub const fn cm_refund(k: usize, i: usize) -> usize {
        FIXED + k + i
    }
}

/// Bits of `kib · price` (both `< 2^64`).
const COST_BITS: usize = 128;

/// Why a settlement statement is false (native twin of the circuit, §5).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettleError {
    /// The batch does not have exactly `K` slots, or no real session, or more than `K`.
    #[error("wrong number of slots: expected {expected}, got {actual}")]
    SlotCount {
        /// `K`.
        expected: usize,
        /// Slots given.
        actual: usize,
    },
    /// The ledger's batch names one escrow twice (A15).
    #[error("session listed twice in the batch (slot {slot})")]
    DuplicateSession {
        /// The second occurrence.
        slot: usize,
    },
    /// A real slot carries the padding commitment 0.
    #[error("slot {slot}: escrow commitment 0 is reserved for padding")]
    ZeroSession {
        /// The slot.
        slot: usize,
    },
    /// A padding slot carries an escrow, bytes or a refund (A17).
    #[error("slot {slot}: padding slot is not empty")]
    PaddingNotEmpty {
        /// The slot.
        slot: usize,
    },
    /// A session key or nonce point is off the curve, or `S >= l`
    /// (checked on every slot, as in the circuit).
    #[error("slot {slot}: malformed signature witness")]
    MalformedWitness {
        /// The slot.
        slot: usize,
    },
    /// The slot's terms with `H(SESSION, A)` do not hash to its public
    /// `esc` (another escrow, another node, another session key: A14).
    #[error("slot {slot}: the terms and receipt key do not open the escrow commitment")]
    EscrowMismatch {
        /// The slot.
        slot: usize,
    },
    /// The receipt signature does not verify (A12, A13).
    #[error("slot {slot}: {source}")]
    Signature {
        /// The slot.
        slot: usize,
        /// Why.
        source: SignatureError,
    },
    /// `cm_refund` is not the refund note `(E − pay, rk, H(REFUND, A))` (§5.4).
    #[error("slot {slot}: refund commitment does not match")]
    RefundMismatch {
        /// The slot.
        slot: usize,
    },
    /// `Σ pay_i` does not fit in 64 bits (A16).
    #[error("total pay overflows 64 bits")]
    TotalOverflow,
    /// `Σ pay_i ≠ T`.
    #[error("claimed total {claimed} differs from the receipts' total {computed}")]
    TotalMismatch {
        /// `T`.
        claimed: u64,
        /// `Σ pay_i`.
        computed: u64,
    },
}

/// A slot's public inputs (§5.1): the escrow commitment and the refund
/// commitment. Both zero for a padding slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotPublic {
    /// `esc`, from the access proof (§3.3).
    pub escrow_commitment: EscrowCommitment,
    /// `cm_refund`, submitted by the node.
    pub cm_refund: NoteCommitment,
}

impl SlotPublic {
    /// The all-zero padding slot.
    pub fn padding() -> Self {
        Self {
            escrow_commitment: EscrowCommitment::PADDING,
            cm_refund: NoteCommitment::from_fr(Fr::ZERO),
        }
    }
}

/// What a session pays: `min(kib · price, E)`, computed without overflow (E5, A16).
pub fn slot_pay(kib: u64, price: Value, escrow: Value) -> Value {
    let cost = u128::from(kib) * u128::from(price.get());
    Value(u64::try_from(cost.min(u128::from(escrow.get()))).unwrap_or(escrow.get()))
}

/// `E − min(kib·price, E)`: what a settlement with `kib` refunds.
pub fn slot_refund(kib: u64, price: Value, escrow: Value) -> Value {
    // pay <= escrow by construction.
    escrow
        .checked_sub(slot_pay(kib, price, escrow))
        .unwrap_or(Value::ZERO)
}

/// The refund note commitment of a settlement with `kib` (§5.4, §6):
/// `(E − min(kib·price, E), rk, H(REFUND, S))`
/// ([`veil_primitives::refund::refund_note`]). The node computes it for
/// `cm_refund`; the client recomputes it for each receipt it signed to find
/// its refund on the ledger. Without `S` nobody else can.
pub fn refund_commitment(
    escrow: Value,
    price: Value,
    kib: u64,
    refund_owner: &OwnerKey,
    session_key: &EdwardsAffine,
) -> NoteCommitment {
    refund_note(slot_refund(kib, price, escrow), *refund_owner, session_key).commitment()
}

/// The escrow terms of a padding slot: all zero.
fn padding_terms() -> EscrowTerms {
    EscrowTerms {
        session_id: SessionId::from_fr(Fr::ZERO),
        node_id: NodeId::from_fr(Fr::ZERO),
        escrow: Value::ZERO,
        session_key_hash: SessionKeyHash::from_fr(Fr::ZERO),
        refund_owner: OwnerKey::from_fr(Fr::ZERO),
        expiry: BlockHeight(0),
    }
}

/// The prover-only part of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotWitness {
    /// Whether the slot carries a session (`false` for padding).
    pub enabled: bool,
    /// The escrow's terms. The circuit hashes the statement's `node_id`
    /// and `H(SESSION, A)` in place of `node_id` and `h_S` here.
    pub terms: EscrowTerms,
    /// Cumulative KiB of the receipt used.
    pub kib: u64,
    /// The session key `A` (raw: the circuit checks it).
    pub session_key: EdwardsAffine,
    /// The receipt signature (raw: the circuit checks it).
    pub signature: RawSignature,
}

impl SlotWitness {
    /// A padding slot's witness: zero terms, identity key and nonce, `S = 0`, no bytes.
    pub fn padding() -> Self {
        Self {
            enabled: false,
            terms: padding_terms(),
            kib: 0,
            session_key: eddsa_gadget::identity(),
            signature: RawSignature {
                r: eddsa_gadget::identity(),
                s: BigInt::new([0; 4]),
            },
        }
    }

    /// The slot's escrow commitment as the circuit computes it (§5.4):
    /// the terms with `node_id` and `H(SESSION, A)`.
    fn computed_commitment(&self, node_id: NodeId) -> EscrowCommitment {
        let a = self.session_key;
        EscrowTerms {
            node_id,
            session_key_hash: SessionKeyHash::from_fr(hash_tagged(DomainTag::Session, &[a.x, a.y])),
            ..self.terms
        }
        .commitment()
    }
}

/// One slot: its public inputs and what only the prover knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Public inputs.
    pub public: SlotPublic,
    /// Prover data.
    pub witness: SlotWitness,
}

impl Slot {
    /// A padding slot.
    pub fn padding() -> Self {
        Self {
            public: SlotPublic::padding(),
            witness: SlotWitness::padding(),
        }
    }

    /// A real slot of the escrow `terms` at `price`, settled with `receipt`
    /// (the node's highest for the session); computes `cm_refund`.
    pub fn new(
        terms: EscrowTerms,
        price: Value,
        session_key: &VerifyingKey,
        receipt: &SignedReceipt,
    ) -> Self {
        let kib = receipt.receipt.kib;
        let a = session_key.point().to_affine();
        Self {
            public: SlotPublic {
                escrow_commitment: terms.commitment(),
                cm_refund: refund_commitment(terms.escrow, price, kib, &terms.refund_owner, &a),
            },
            witness: SlotWitness {
                enabled: true,
                terms,
                kib,
                session_key: a,
                signature: receipt.signature.into(),
            },
        }
    }

    /// What this slot pays at `price` (0 for padding).
    pub fn pay(&self, price: Value) -> Value {
        slot_pay(self.witness.kib, price, self.witness.terms.escrow)
    }
}

/// The public statement of `settle_K` (§5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlePublic {
    /// The settling node.
    pub node_id: NodeId,
    /// `T`, paid to the node.
    pub total: Value,
    /// The node's price per KiB (fixed at registration).
    pub price: Value,
    /// Every slot's public inputs, padding included (`K` of them).
    pub slots: Vec<SlotPublic>,
}

impl SettlePublic {
    /// The public inputs in the order of [`offsets`].
    pub fn to_field_elements(&self) -> Vec<Fr> {
        let mut v = Vec::with_capacity(public_inputs(self.slots.len()));
        v.extend([self.node_id.inner(), self.total.to_fr(), self.price.to_fr()]);
        v.extend(self.slots.iter().map(|s| s.escrow_commitment.inner()));
        v.extend(self.slots.iter().map(|s| s.cm_refund.inner()));
        v
    }

    /// The statement for `slots` as an honest prover computes it (saturating
    /// `T` on overflow, which the check then refuses).
    pub fn for_slots(node_id: NodeId, price: Value, slots: &[Slot]) -> Self {
        let total = slots
            .iter()
            .filter(|s| s.witness.enabled)
            .try_fold(Value::ZERO, |acc, s| acc.checked_add(s.pay(price)))
            .unwrap_or(Value::MAX);
        Self {
            node_id,
            total,
            price,
            slots: slots.iter().map(|s| s.public).collect(),
        }
    }

    /// The statement a ledger builds for a settle call (§5.3): the real
    /// slots in the submitted order, padded with zero slots to `k`. Rejects
    /// an empty batch, more than `k` slots, the padding commitment and an
    /// escrow listed twice (A15).
    pub fn for_ledger(
        node_id: NodeId,
        k: usize,
        total: Value,
        price: Value,
        real: &[SlotPublic],
    ) -> Result<Self, SettleError> {
        if real.is_empty() || real.len() > k {
            return Err(SettleError::SlotCount {
                expected: k,
                actual: real.len(),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(real.len());
        for (slot, s) in real.iter().enumerate() {
            if s.escrow_commitment == EscrowCommitment::PADDING {
                return Err(SettleError::ZeroSession { slot });
            }
            if !seen.insert(s.escrow_commitment) {
                return Err(SettleError::DuplicateSession { slot });
            }
        }
        let mut slots = real.to_vec();
        slots.resize(k, SlotPublic::padding());
        Ok(Self {
            node_id,
            total,
            price,
            slots,
        })
    }

    /// A digest of the statement but `T` (native only; the node signs it
    /// with `T`, §8.3.3): `acc_0 = H(SETTLE_BATCH, node_id, K, price)`,
    /// `acc_{i+1} = H(SETTLE_BATCH, acc_i, H(SETTLE_SLOT, esc_i, cm_refund_i))`.
    pub fn digest(&self) -> Fr {
        let k = Fr::from(self.slots.len() as u64);
        let first = hash_tagged(
            DomainTag::SettleBatch,
            &[self.node_id.inner(), k, self.price.to_fr()],
        );
        self.slots.iter().fold(first, |acc, s| {
            let slot = hash_tagged(
                DomainTag::SettleSlot,
                &[s.escrow_commitment.inner(), s.cm_refund.inner()],
            );
            hash_tagged(DomainTag::SettleBatch, &[acc, slot])
        })
    }
}

/// A settlement statement with its witness, checked natively (§5): the
/// twin of [`SettleCircuit`]'s constraints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleStatement {
    /// Public inputs.
    pub public: SettlePublic,
    /// Every slot's witness, padding included.
    pub slots: Vec<SlotWitness>,
}

impl SettleStatement {
    /// Checks every relation the circuit enforces, slot by slot.
    pub fn check(&self) -> Result<(), SettleError> {
        let public = &self.public;
        if public.slots.len() != self.slots.len() {
            return Err(SettleError::SlotCount {
                expected: public.slots.len(),
                actual: self.slots.len(),
            });
        }
        let mut total: u128 = 0;
        for (slot, (p, w)) in public.slots.iter().zip(&self.slots).enumerate() {
            if !w.session_key.is_on_curve()
                || !w.signature.r.is_on_curve()
                || w.signature.s >= ScalarField::MODULUS
            {
                return Err(SettleError::MalformedWitness { slot });
            }
            if w.enabled {
                if w.computed_commitment(public.node_id) != p.escrow_commitment {
                    return Err(SettleError::EscrowMismatch { slot });
                }
                let a = w.session_key;
                let m = receipt_message(&w.terms.session_id.inner(), w.kib);
                verify_raw(&a, &m, &w.signature)
                    .map_err(|source| SettleError::Signature { slot, source })?;
                let t = &w.terms;
                if refund_commitment(t.escrow, public.price, w.kib, &t.refund_owner, &a)
                    != p.cm_refund
                {
                    return Err(SettleError::RefundMismatch { slot });
                }
                total += u128::from(slot_pay(w.kib, public.price, t.escrow).get());
            } else if *p != SlotPublic::padding() || w.kib != 0 {
                return Err(SettleError::PaddingNotEmpty { slot });
            }
        }
        let total = u64::try_from(total).map_err(|_| SettleError::TotalOverflow)?;
        if total != public.total.get() {
            return Err(SettleError::TotalMismatch {
                claimed: public.total.get(),
                computed: total,
            });
        }
        Ok(())
    }
}

/// The `settle_K` circuit (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleCircuit<const K: usize> {
    statement: SettleStatement,
    /// Test hook: replaces public inputs (`T`, `price`) by arbitrary field
    /// elements, to exercise the in-circuit 64-bit range checks (A16).
    raw_inputs: Vec<(usize, Fr)>,
}

impl<const K: usize> SettleCircuit<K> {
    /// A statement over exactly `K` slots (pad with [`Slot::padding`]).
    pub fn new(public: SettlePublic, slots: Vec<SlotWitness>) -> Result<Self, SettleError> {
        for actual in [slots.len(), public.slots.len()] {
            if actual != K {
                return Err(SettleError::SlotCount {
                    expected: K,
                    actual,
                });
            }
        }
        Ok(Self {
            statement: SettleStatement { public, slots },
            raw_inputs: Vec::new(),
        })
    }

    /// The circuit of `slots` (public and witness parts together) at `price`.
    pub fn from_slots(public: SettlePublic, slots: &[Slot]) -> Result<Self, SettleError> {
        Self::new(public, slots.iter().map(|s| s.witness).collect())
    }

    /// An all-padding, satisfiable instance: for setup and shape pinning.
    pub fn dummy() -> Self {
        let slots = vec![Slot::padding(); K];
        let public = SettlePublic::for_slots(NodeId::from_fr(Fr::ZERO), Value::ZERO, &slots);
        Self {
            statement: SettleStatement {
                public,
                slots: vec![SlotWitness::padding(); K],
            },
            raw_inputs: Vec::new(),
        }
    }

    /// The statement (public inputs and slots).
    pub fn statement(&self) -> &SettleStatement {
        &self.statement
    }

    /// The public inputs as field elements.
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut v = self.statement.public.to_field_elements();
        for &(i, x) in &self.raw_inputs {
            v[i] = x;
        }
        v
    }

    /// Test hook (see the field): sets the public `T` to any field element.
    #[doc(hidden)]
    pub fn with_raw_total(mut self, total: Fr) -> Self {
        self.raw_inputs.push((offsets::TOTAL, total));
        self
    }

    /// Test hook (see the field): sets the public `price` to any field element.
    #[doc(hidden)]
    pub fn with_raw_price(mut self, price: Fr) -> Self {
        self.raw_inputs.push((offsets::PRICE, price));
        self
    }
}

/// Allocates a `u64` as a range-checked witness.
fn witness_u64(cs: &ConstraintSystemRef<Fr>, v: u64) -> Result<FpVar<Fr>, SynthesisError> {
    let x = FpVar::new_witness(cs.clone(), || Ok(Fr::from(v)))?;
    enforce_u64(&x)?;
    Ok(x)
}

/// The batch-wide public inputs a slot uses.
struct BatchVars {
    node_id: FpVar<Fr>,
    price: FpVar<Fr>,
}

/// Synthesizes one slot against its public `esc` and `cm_refund`; returns its pay.
fn synthesize_slot(
    cs: &ConstraintSystemRef<Fr>,
    batch: &BatchVars,
    w: &SlotWitness,
    esc: &FpVar<Fr>,
    cm_refund: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let witness = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x));

    // The escrow's terms (private, bound through esc).
    let t = &w.terms;
    let session_id = witness(t.session_id.inner())?;
    let escrow = witness_u64(cs, t.escrow.get())?;
    let rk = witness(t.refund_owner.inner())?;
    let expiry = witness(t.expiry.to_fr())?;

    // Prover data.
    let enabled = Boolean::new_witness(cs.clone(), || Ok(w.enabled))?;
    let disabled = !&enabled;
    let kib = witness_u64(cs, w.kib)?;
    let a = eddsa_gadget::alloc_point(cs.clone(), Some(w.session_key), AllocationMode::Witness)?;
    let r = eddsa_gadget::alloc_point(cs.clone(), Some(w.signature.r), AllocationMode::Witness)?;
    let s_bits = eddsa_gadget::alloc_scalar_bits(cs.clone(), Some(w.signature.s))?;

    // esc = en · H(ESCROW, sid, node_id, E, H(SESSION, A), rk, expiry) (A14:
    // the receipt key is the escrow's session key).
    let h_s = hash_tagged_var(DomainTag::Session, &[a.x.clone(), a.y.clone()])?;
    let computed = hash_tagged_var(
        DomainTag::Escrow,
        &[
            session_id.clone(),
            batch.node_id.clone(),
            escrow.clone(),
            h_s,
            rk.clone(),
            expiry,
        ],
    )?;
    let en = FpVar::from(enabled.clone());
    (&en * &computed).enforce_equal(esc)?;

    // The receipt signature on H(RECEIPT, session_id, kib).
    let m = hash_tagged_var(DomainTag::Receipt, &[session_id, kib.clone()])?;
    eddsa_gadget::verify(&a, &m, &r, &s_bits, &enabled)?;

    // pay = min(kib·price, E) on range-checked operands (< 2^128, no wrap); refund = E − pay.
    let cost = &kib * &batch.price;
    let pay = min(&cost, &escrow, COST_BITS)?;
    let refund = &escrow - &pay;
    // The refund note (refund, rk, ρ_ref = H(REFUND, A)): only the client and the node know A.
    let rho_ref = hash_tagged_var(DomainTag::Refund, &[a.x.clone(), a.y.clone()])?;
    let addr_ref = note_gadget::address(&rk, &rho_ref)?;
    note_gadget::commitment(&refund, &addr_ref)?.conditional_enforce_equal(cm_refund, &enabled)?;

    // Padding slots are empty (A17): no refund, no bytes (hence no pay);
    // esc = 0 already.
    let zero = FpVar::<Fr>::zero();
    cm_refund.conditional_enforce_equal(&zero, &disabled)?;
    kib.conditional_enforce_equal(&zero, &disabled)?;
    Ok(pay)
}

impl<const K: usize> ConstraintSynthesizer<Fr> for SettleCircuit<K> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        if self.statement.slots.len() != K || self.statement.public.slots.len() != K {
            return Err(SynthesisError::Unsatisfiable);
        }
        let inputs = self
            .public_inputs()
            .into_iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(x)))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = BatchVars {
            node_id: inputs[offsets::NODE_ID].clone(),
            price: inputs[offsets::PRICE].clone(),
        };
        // price < 2^64: with kib < 2^64 the cost cannot wrap.
        enforce_u64(&batch.price)?;
        let mut sum = FpVar::<Fr>::zero();
        for (i, w) in self.statement.slots.iter().enumerate() {
            sum += synthesize_slot(
                &cs,
                &batch,
                w,
                &inputs[offsets::escrow_commitment(i)],
                &inputs[offsets::cm_refund(K, i)],
            )?;
        }
        // T = Σ pay_i < 2^64 (A16); the sum of K < 2^64 values < 2^71 cannot wrap.
        enforce_u64(&sum)?;
        sum.enforce_equal(&inputs[offsets::TOTAL])
    }
}
