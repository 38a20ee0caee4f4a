//! The settlement circuit `settle_K`: a node proves that the client-signed
//! receipts it holds entitle it to `T` over a batch of up to `K` sessions.
//!
//! Spec: `docs/protocol.md` §5. One generic circuit, instantiated for
//! `K ∈ {1, 8, 64}`.
//!
//! Public inputs, in order ([`offsets`]): `node_id`, `T`, `batch_digest`.
//! The per-slot escrow data is *not* public: the ledger rebuilds
//! `batch_digest` from its own escrow records and the submitted refund
//! commitments ([`ledger_batch_digest`]), so verification costs three public
//! inputs whatever `K` is, and the public learns only `T` (§5.1, deviation).
//!
//! Per slot `i` the circuit enforces (`en_i` the slot's enabled flag):
//!
//! | relation | gated by |
//! |---|---|
//! | `slot_i = H(SETTLE_SLOT, sid_i, E_i, price_i, h_S_i, rk_i, cm_refund_i)`, chained into the digest | — |
//! | `kib_i, price_i, E_i < 2^64` | — |
//! | `A_i`, `R_i` on the curve, `S_i < l` | — |
//! | `h_S_i = H(SESSION, A_i.x, A_i.y)` | `en_i` |
//! | EdDSA `(R_i, S_i)` valid on `H(RECEIPT, sid_i, kib_i)` under `A_i` | `en_i` |
//! | `pay_i = min(kib_i·price_i, E_i)` (128-bit comparison), `refund_i = E_i − pay_i` | — |
//! | `cm_refund_i = H(NOTE, refund_i, H(ADDR, rk_i, H(REFUND, A_i.x, A_i.y)))` | `en_i` |
//! | `sid_i = 0`, `cm_refund_i = 0`, `kib_i = 0` | `¬en_i` |
//!
//! and `T = Σ pay_i` with `T < 2^64`. A padding slot has `kib = 0`, hence
//! `pay = 0`.

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
    ids::{NodeId, SessionId, SessionKeyHash},
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

/// Number of public inputs (without the constant one).
pub const PUBLIC_INPUTS: usize = 3;

/// Positions of the public inputs (§5.1).
pub mod offsets {
    /// `node_id`.
    pub const NODE_ID: usize = 0;
    /// `T`, the total paid to the node.
    pub const TOTAL: usize = 1;
    /// `batch_digest`.
    pub const BATCH_DIGEST: usize = 2;
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
    /// The ledger's batch names one session twice (A15).
    #[error("session listed twice in the batch (slot {slot})")]
    DuplicateSession {
        /// The second occurrence.
        slot: usize,
    },
    /// A real slot has session id 0 (reserved for padding).
    #[error("slot {slot}: session id 0 is reserved for padding")]
    ZeroSession {
        /// The slot.
        slot: usize,
    },
    /// A padding slot carries a session, bytes or a refund (A17).
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
    /// `H(SESSION, A)` is not the escrow's `h_S` (A14).
    #[error("slot {slot}: receipt key does not match the escrow's session key")]
    SessionKeyMismatch {
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
    /// The slots do not hash to `batch_digest`.
    #[error("batch digest mismatch")]
    DigestMismatch,
}

/// The ledger-known part of a slot: the escrow record plus the submitted
/// refund commitment (§5.2). All zero for a padding slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotPublic {
    /// `session_id` (the access nullifier).
    pub session_id: SessionId,
    /// `E`, the escrowed amount.
    pub escrow: Value,
    /// Price per KiB.
    pub price: Value,
    /// `h_S`, the session-key commitment.
    pub session_key_hash: SessionKeyHash,
    /// `rk`, the owner key of the session's refund key (§3.1 input #6).
    pub refund_owner: OwnerKey,
    /// `cm_refund`, submitted by the node.
    pub cm_refund: NoteCommitment,
}

impl SlotPublic {
    /// The all-zero padding slot.
    pub fn padding() -> Self {
        Self {
            session_id: SessionId::from_fr(Fr::ZERO),
            escrow: Value::ZERO,
            price: Value::ZERO,
            session_key_hash: SessionKeyHash::from_fr(Fr::ZERO),
            refund_owner: OwnerKey::from_fr(Fr::ZERO),
            cm_refund: NoteCommitment::from_fr(Fr::ZERO),
        }
    }

    /// `slot = H(SETTLE_SLOT, session_id, E, price, h_S, rk, cm_refund)` (§5.2).
    pub fn digest(&self) -> Fr {
        hash_tagged(
            DomainTag::SettleSlot,
            &[
                self.session_id.inner(),
                self.escrow.to_fr(),
                self.price.to_fr(),
                self.session_key_hash.inner(),
                self.refund_owner.inner(),
                self.cm_refund.inner(),
            ],
        )
    }
}

/// `batch_digest` over exactly `K = slots.len()` slots (§5.2):
/// `acc_0 = H(SETTLE_BATCH, node_id, K)`, `acc_{i+1} = H(SETTLE_BATCH, acc_i, slot_i)`.
pub fn settle_batch_digest(node_id: &NodeId, slots: &[SlotPublic]) -> Fr {
    let k = Fr::from(slots.len() as u64);
    slots.iter().fold(
        hash_tagged(DomainTag::SettleBatch, &[node_id.inner(), k]),
        |acc, s| hash_tagged(DomainTag::SettleBatch, &[acc, s.digest()]),
    )
}

/// The digest the ledger builds for a settle call (§5.3): the real slots in
/// the submitted order, padded with zero slots to `k`. Rejects an empty
/// batch, more than `k` slots, a session id of 0 and a session listed twice
/// (A15).
pub fn ledger_batch_digest(
    node_id: &NodeId,
    k: usize,
    real: &[SlotPublic],
) -> Result<Fr, SettleError> {
    if real.is_empty() || real.len() > k {
        return Err(SettleError::SlotCount {
            expected: k,
            actual: real.len(),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(real.len());
    for (slot, s) in real.iter().enumerate() {
        if s.session_id.inner() == Fr::ZERO {
            return Err(SettleError::ZeroSession { slot });
        }
        if !seen.insert(s.session_id) {
            return Err(SettleError::DuplicateSession { slot });
        }
    }
    let mut all = real.to_vec();
    all.resize(k, SlotPublic::padding());
    Ok(settle_batch_digest(node_id, &all))
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

/// The prover-only part of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotWitness {
    /// Whether the slot carries a session (`false` for padding).
    pub enabled: bool,
    /// Cumulative KiB of the receipt used.
    pub kib: u64,
    /// The session key `A` (raw: the circuit checks it).
    pub session_key: EdwardsAffine,
    /// The receipt signature (raw: the circuit checks it).
    pub signature: RawSignature,
}

impl SlotWitness {
    /// A padding slot's witness: identity key and nonce, `S = 0`, no bytes.
    pub fn padding() -> Self {
        Self {
            enabled: false,
            kib: 0,
            session_key: eddsa_gadget::identity(),
            signature: RawSignature {
                r: eddsa_gadget::identity(),
                s: BigInt::new([0; 4]),
            },
        }
    }
}

/// One slot: what the ledger knows and what only the prover knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Ledger-known data.
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

    /// A real slot settled with `receipt` (the node's highest for the
    /// session); computes `cm_refund` from the escrow terms.
    pub fn new(
        session_id: SessionId,
        escrow: Value,
        price: Value,
        refund_owner: OwnerKey,
        session_key: &VerifyingKey,
        receipt: &SignedReceipt,
    ) -> Self {
        let kib = receipt.receipt.kib;
        Self {
            public: SlotPublic {
                session_id,
                escrow,
                price,
                session_key_hash: session_key.session_key_hash(),
                refund_owner,
                cm_refund: refund_commitment(
                    escrow,
                    price,
                    kib,
                    &refund_owner,
                    &session_key.point().to_affine(),
                ),
            },
            witness: SlotWitness {
                enabled: true,
                kib,
                session_key: session_key.point().to_affine(),
                signature: receipt.signature.into(),
            },
        }
    }

    /// What this slot pays (0 for padding).
    pub fn pay(&self) -> Value {
        slot_pay(self.witness.kib, self.public.price, self.public.escrow)
    }
}

/// The public statement of `settle_K` (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlePublic {
    /// The settling node.
    pub node_id: NodeId,
    /// `T`, paid to the node.
    pub total: Value,
    /// The ledger-rebuilt digest of the slots.
    pub batch_digest: Fr,
}

impl SettlePublic {
    /// The public inputs in the order of [`offsets`].
    pub fn to_field_elements(&self) -> Vec<Fr> {
        vec![self.node_id.inner(), self.total.to_fr(), self.batch_digest]
    }

    /// The statement for `slots` as an honest prover computes it (saturating
    /// `T` on overflow, which the check then refuses).
    pub fn for_slots(node_id: NodeId, slots: &[Slot]) -> Self {
        let total = slots
            .iter()
            .filter(|s| s.witness.enabled)
            .try_fold(Value::ZERO, |acc, s| acc.checked_add(s.pay()))
            .unwrap_or(Value::MAX);
        let publics: Vec<SlotPublic> = slots.iter().map(|s| s.public).collect();
        Self {
            node_id,
            total,
            batch_digest: settle_batch_digest(&node_id, &publics),
        }
    }
}

/// A settlement statement with its witness, checked natively (§5): the
/// twin of [`SettleCircuit`]'s constraints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleStatement {
    /// Public inputs.
    pub public: SettlePublic,
    /// Every slot, padding included.
    pub slots: Vec<Slot>,
}

impl SettleStatement {
    /// Checks every relation the circuit enforces, slot by slot.
    pub fn check(&self) -> Result<(), SettleError> {
        let mut total: u128 = 0;
        for (slot, s) in self.slots.iter().enumerate() {
            let (p, w) = (&s.public, &s.witness);
            if !w.session_key.is_on_curve()
                || !w.signature.r.is_on_curve()
                || w.signature.s >= ScalarField::MODULUS
            {
                return Err(SettleError::MalformedWitness { slot });
            }
            if w.enabled {
                let a = w.session_key;
                if hash_tagged(DomainTag::Session, &[a.x, a.y]) != p.session_key_hash.inner() {
                    return Err(SettleError::SessionKeyMismatch { slot });
                }
                let m = receipt_message(&p.session_id.inner(), w.kib);
                verify_raw(&a, &m, &w.signature)
                    .map_err(|source| SettleError::Signature { slot, source })?;
                if refund_commitment(p.escrow, p.price, w.kib, &p.refund_owner, &a) != p.cm_refund {
                    return Err(SettleError::RefundMismatch { slot });
                }
                total += u128::from(s.pay().get());
            } else if p.session_id.inner() != Fr::ZERO
                || p.cm_refund.inner() != Fr::ZERO
                || w.kib != 0
            {
                return Err(SettleError::PaddingNotEmpty { slot });
            }
        }
        let total = u64::try_from(total).map_err(|_| SettleError::TotalOverflow)?;
        if total != self.public.total.get() {
            return Err(SettleError::TotalMismatch {
                claimed: self.public.total.get(),
                computed: total,
            });
        }
        let publics: Vec<SlotPublic> = self.slots.iter().map(|s| s.public).collect();
        if settle_batch_digest(&self.public.node_id, &publics) != self.public.batch_digest {
            return Err(SettleError::DigestMismatch);
        }
        Ok(())
    }
}

/// The `settle_K` circuit (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleCircuit<const K: usize> {
    statement: SettleStatement,
    /// Test hook: replaces the public `T` by an arbitrary field element, to
    /// exercise the in-circuit 64-bit range check of the sum (A16).
    total_override: Option<Fr>,
}

impl<const K: usize> SettleCircuit<K> {
    /// A statement over exactly `K` slots (pad with [`Slot::padding`]).
    pub fn new(public: SettlePublic, slots: Vec<Slot>) -> Result<Self, SettleError> {
        if slots.len() != K {
            return Err(SettleError::SlotCount {
                expected: K,
                actual: slots.len(),
            });
        }
        Ok(Self {
            statement: SettleStatement { public, slots },
            total_override: None,
        })
    }

    /// An all-padding, satisfiable instance: for setup and shape pinning.
    pub fn dummy() -> Self {
        let slots = vec![Slot::padding(); K];
        let public = SettlePublic::for_slots(NodeId::from_fr(Fr::ZERO), &slots);
        Self {
            statement: SettleStatement { public, slots },
            total_override: None,
        }
    }

    /// The statement (public inputs and slots).
    pub fn statement(&self) -> &SettleStatement {
        &self.statement
    }

    /// The public inputs as field elements.
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut v = self.statement.public.to_field_elements();
        if let Some(t) = self.total_override {
            v[offsets::TOTAL] = t;
        }
        v
    }

    /// Test hook (see the field): sets the public `T` to any field element.
    #[doc(hidden)]
    pub fn with_raw_total(mut self, total: Fr) -> Self {
        self.total_override = Some(total);
        self
    }
}

/// Allocates a `u64` as a range-checked witness.
fn witness_u64(cs: &ConstraintSystemRef<Fr>, v: u64) -> Result<FpVar<Fr>, SynthesisError> {
    let x = FpVar::new_witness(cs.clone(), || Ok(Fr::from(v)))?;
    enforce_u64(&x)?;
    Ok(x)
}

/// Synthesizes one slot; returns its pay and the updated digest accumulator.
fn synthesize_slot(
    cs: &ConstraintSystemRef<Fr>,
    slot: &Slot,
    acc: &FpVar<Fr>,
) -> Result<(FpVar<Fr>, FpVar<Fr>), SynthesisError> {
    let (p, w) = (&slot.public, &slot.witness);
    let witness = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x));

    // Ledger-known slot data (private, bound through the digest).
    let session_id = witness(p.session_id.inner())?;
    let escrow = witness_u64(cs, p.escrow.get())?;
    let price = witness_u64(cs, p.price.get())?;
    let h_s = witness(p.session_key_hash.inner())?;
    let rk = witness(p.refund_owner.inner())?;
    let cm_refund = witness(p.cm_refund.inner())?;

    // Prover data.
    let enabled = Boolean::new_witness(cs.clone(), || Ok(w.enabled))?;
    let disabled = !&enabled;
    let kib = witness_u64(cs, w.kib)?;
    let a = eddsa_gadget::alloc_point(cs.clone(), Some(w.session_key), AllocationMode::Witness)?;
    let r = eddsa_gadget::alloc_point(cs.clone(), Some(w.signature.r), AllocationMode::Witness)?;
    let s_bits = eddsa_gadget::alloc_scalar_bits(cs.clone(), Some(w.signature.s))?;

    // h_S = H(SESSION, A) (A14).
    hash_tagged_var(DomainTag::Session, &[a.x.clone(), a.y.clone()])?
        .conditional_enforce_equal(&h_s, &enabled)?;

    // The receipt signature on H(RECEIPT, session_id, kib).
    let m = hash_tagged_var(DomainTag::Receipt, &[session_id.clone(), kib.clone()])?;
    eddsa_gadget::verify(&a, &m, &r, &s_bits, &enabled)?;

    // pay = min(kib·price, E) on range-checked operands (< 2^128, no wrap); refund = E − pay.
    let cost = &kib * &price;
    let pay = min(&cost, &escrow, COST_BITS)?;
    let refund = &escrow - &pay;
    // The refund note (refund, rk, ρ_ref = H(REFUND, A)): only the client and the node know A.
    let rho_ref = hash_tagged_var(DomainTag::Refund, &[a.x.clone(), a.y.clone()])?;
    let addr_ref = note_gadget::address(&rk, &rho_ref)?;
    note_gadget::commitment(&refund, &addr_ref)?.conditional_enforce_equal(&cm_refund, &enabled)?;

    // Padding slots are empty (A17): no session, no refund, no bytes (hence no pay).
    let zero = FpVar::<Fr>::zero();
    session_id.conditional_enforce_equal(&zero, &disabled)?;
    cm_refund.conditional_enforce_equal(&zero, &disabled)?;
    kib.conditional_enforce_equal(&zero, &disabled)?;

    // Chain the slot into the digest (binds every slot to its position).
    let slot_digest = hash_tagged_var(
        DomainTag::SettleSlot,
        &[session_id, escrow, price, h_s, rk, cm_refund],
    )?;
    let acc = hash_tagged_var(DomainTag::SettleBatch, &[acc.clone(), slot_digest])?;
    Ok((pay, acc))
}

impl<const K: usize> ConstraintSynthesizer<Fr> for SettleCircuit<K> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        if self.statement.slots.len() != K {
            return Err(SynthesisError::Unsatisfiable);
        }
        let inputs = self.public_inputs();
        let input = |i: usize| FpVar::new_input(cs.clone(), || Ok(inputs[i]));
        let node_id = input(offsets::NODE_ID)?;
        let total = input(offsets::TOTAL)?;
        let batch_digest = input(offsets::BATCH_DIGEST)?;

        let mut acc = hash_tagged_var(
            DomainTag::SettleBatch,
            &[node_id, FpVar::constant(Fr::from(K as u64))],
        )?;
        let mut sum = FpVar::<Fr>::zero();
        for slot in &self.statement.slots {
            let (pay, next) = synthesize_slot(&cs, slot, &acc)?;
            sum += pay;
            acc = next;
        }
        // T = Σ pay_i < 2^64 (A16); the sum of K < 2^64 values < 2^71 cannot wrap.
        enforce_u64(&sum)?;
        sum.enforce_equal(&total)?;
        acc.enforce_equal(&batch_digest)
    }
}
