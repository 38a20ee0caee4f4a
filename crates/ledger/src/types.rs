//! Typed domain values of the ledger and its records (docs/protocol.md §8).
//!
//! Every field element here is canonical by construction: the only ways in
//! are `from_bytes` (rejects `>= r`, never reduces) and `from_fr`. Storage keys are built from these types only (`schema.rs`).

use veil_primitives::eddsa::{Signature, SigningKey, VerifyingKey};
use veil_primitives::poseidon::DomainTag;
use veil_primitives::{EncodingError, Fr, poseidon};

use veil_circuits::settle::SettlePublic;
use veil_primitives::escrow::EscrowTerms;
use veil_proofs::SettleSize;

use crate::error::LedgerError;
use crate::profile::{NodeProfile, ProfileError, profile_digest};

pub use veil_primitives::ids::{AccountId, BlockHeight, NodeId, SessionId, SessionKeyHash};
pub use veil_primitives::keys::OwnerKey;
pub use veil_primitives::merkle::MerkleRoot;
pub use veil_primitives::note::{Address, NoteCommitment, Nullifier};
pub use veil_primitives::value::Value;

// The public statements are the circuits' own types (one definition each).
pub use veil_circuits::access::AccessPublic;
pub use veil_circuits::settle::SlotPublic;
pub use veil_circuits::withdraw::WithdrawPublic;

/// A Groth16 proof, 128 bytes compressed (docs/protocol.md §2.1). Decoded and
/// validated by the verifier, never keyed on (adversarial B2).
#[derive(Clone, PartialEq, Eq)]
pub struct Proof(pub [u8; Proof::LEN]);

impl Proof {
    pub const LEN: usize = 128;
    pub fn from_slice(b: &[u8]) -> Result<Self, EncodingError> {
        let arr: [u8; Self::LEN] = b.try_into().map_err(|_| EncodingError::Length {
            expected: Self::LEN,
            actual: b.len(),
        })?;
        Ok(Proof(arr))
    }
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proof({}…)", hex::encode(&self.0[..4]))
    }
}

/// A settlement request as the node sends it. The ledger rebuilds every
/// per-slot public input from its own escrow records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleRequest {
    pub node_id: NodeId,
    /// Batch size of the `settle_K` circuit used.
    pub k: u32,
    pub session_ids: Vec<SessionId>,
    pub total: Value,
    pub cm_refunds: Vec<NoteCommitment>,
    pub proof: Proof,
    /// The node's authorisation: `sig_N` over [`settle_auth_message`] of the
    /// statement, by the node's registered key `N` (§8.3.3). `None` is
    /// refused (only the node may settle its sessions).
    pub authorisation: Option<Signature>,
}

impl SettleRequest {
    /// The request for `statement` with `proof`, authorised by the node key
    /// (§8.3.3). `statement` must be the one the ledger will build: the
    /// node's escrow records as read from the ledger, in batch order.
    pub fn signed(
        key: &SigningKey,
        statement: &SettleBatch,
        proof: Proof,
    ) -> Result<Self, LedgerError> {
        let m = statement.auth_message()?;
        Ok(Self {
            node_id: statement.node_id,
            k: statement.k,
            session_ids: statement.slots.iter().map(|s| s.session_id).collect(),
            total: statement.total,
            cm_refunds: statement.slots.iter().map(|s| s.public.cm_refund).collect(),
            proof,
            authorisation: Some(key.sign(&m)),
        })
    }
}

/// The statement a node authorises a settlement with (§8.3.3):
/// `H(SETTLE_AUTH, node_id, K, digest, T)`, `digest` the statement's
/// [`SettlePublic::digest`]: it binds the price, every escrow commitment
/// (hence every session and its terms) in order and every refund
/// commitment; with `T` the signature covers the whole request but the
/// proof.
pub fn settle_auth_message(node_id: &NodeId, k: u32, digest: Fr, total: Value) -> Fr {
    poseidon::hash_tagged(
        DomainTag::SettleAuth,
        &[
            node_id.inner(),
            Fr::from(u64::from(k)),
            digest,
            total.to_fr(),
        ],
    )
}

/// One session of a settlement batch: its id and escrow (the ledger's
/// bookkeeping) and its public inputs (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettleSlot {
    pub session_id: SessionId,
    pub escrow: Value,
    pub public: SlotPublic,
}

/// A settlement batch as the ledger builds it from its own escrow records:
/// `slots.len() <= k`; the remaining `k - slots.len()` slots are zero
/// padding (docs/protocol.md §5.1). [`SettleBatch::public`] is its
/// `settle_K` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleBatch {
    pub node_id: NodeId,
    pub k: u32,
    pub total: Value,
    /// The node's registered price per KiB.
    pub price: Value,
    pub slots: Vec<SettleSlot>,
}

impl SettleBatch {
    /// [`settle_auth_message`] of this statement; an invalid batch (no
    /// `settle_K` circuit, more than `K` slots, a repeated escrow) is
    /// `InvalidArgument`.
    pub fn auth_message(&self) -> Result<Fr, LedgerError> {
        let (_, public) = self
            .public()
            .ok_or(LedgerError::InvalidArgument("not a valid settle_K batch"))?;
        Ok(settle_auth_message(
            &self.node_id,
            self.k,
            public.digest(),
            self.total,
        ))
    }

    /// The `settle_K` statement of a ledger-built settlement (§5.1, §5.3):
    /// the real slots in submitted order, zero-padded to `K`. `None` if `K`
    /// has no circuit or the slots are not a valid batch (more than `K`, a
    /// repeated escrow).
    pub fn public(&self) -> Option<(SettleSize, SettlePublic)> {
        let k = SettleSize::new(u64::from(self.k)).ok()?;
        let real: Vec<SlotPublic> = self.slots.iter().map(|s| s.public).collect();
        let public =
            SettlePublic::for_ledger(self.node_id, k.get(), self.total, self.price, &real).ok()?;
        Some((k, public))
    }

    /// The slot of `escrow` with the submitted refund commitment (§5.1):
    /// its escrow commitment recomputed from the record.
    pub fn slot(escrow: &Escrow, cm_refund: NoteCommitment) -> SettleSlot {
        SettleSlot {
            session_id: escrow.session_id,
            escrow: escrow.escrow,
            public: SlotPublic {
                escrow_commitment: escrow.terms().commitment(),
                cm_refund,
            },
        }
    }
}

/// Lifecycle of an escrow. Transitions: Open → Settled | Reclaimed, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscrowState {
    Open,
    /// Settled in the batch whose first session id is `batch`.
    Settled {
        batch: SessionId,
        cm_refund: NoteCommitment,
    },
    /// Refunded in full by `reclaim`; the refund note is leaf `leaf_index`.
    Reclaimed {
        leaf_index: u64,
    },
}

/// An escrow record (docs/protocol.md §8.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escrow {
    pub session_id: SessionId,
    pub node_id: NodeId,
    pub escrow: Value,
    pub price_per_kib: Value,
    pub session_key_hash: SessionKeyHash,
    pub refund_owner: OwnerKey,
    pub expiry: BlockHeight,
    /// The change commitment appended by the open (identifies a retry).
    pub cm_change: NoteCommitment,
    pub opened_at: BlockHeight,
    pub state: EscrowState,
}

impl Escrow {
    /// The terms its escrow commitment binds (§3.3).
    pub fn terms(&self) -> EscrowTerms {
        EscrowTerms {
            session_id: self.session_id,
            node_id: self.node_id,
            escrow: self.escrow,
            session_key_hash: self.session_key_hash,
            refund_owner: self.refund_owner,
            expiry: self.expiry,
        }
    }

    /// The note a reclaim appends: `(E, rk, H(RECLAIM, session_id))` (§8.3.4,
    /// [`veil_primitives::refund::reclaim_note`]).
    pub fn reclaim_commitment(&self) -> NoteCommitment {
        veil_primitives::refund::reclaim_note(self.escrow, self.refund_owner, &self.session_id)
            .commitment()
    }
}

/// The first Poseidon input of the registration message (§8.3.6), in the
/// position of a [`veil_primitives::poseidon::DomainTag`]. `DomainTag`
/// uses 1..=19; values from 64 on are reserved for the ledger, so no
/// protocol hash can equal a registration message.
pub const REGISTRATION_TAG: u64 = 64;

/// A registration request, signed by the node key `N` and by the key of
/// the account it stakes from and is paid to (docs/protocol.md §8.3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRegistration {
    /// Must equal `H(NODE_ID, N.x, N.y)`.
    pub node_id: NodeId,
    /// Account the stake is taken from and payouts are paid to.
    pub account: AccountId,
    pub price_per_kib: Value,
    /// Escrow sizes `E` the node accepts (non-empty, distinct, non-zero).
    pub escrow_sizes: Vec<Value>,
    pub stake: Value,
    /// SHA-256 of the node's TLS certificate key.
    pub tls_key_hash: [u8; 32],
    /// The node's profile (§8.3.9): bytes of at most
    /// [`crate::limits::MAX_PROFILE_BYTES`], empty for none.
    pub profile: Vec<u8>,
    /// The node's public key `N`.
    pub node_key: VerifyingKey,
    /// EdDSA signature by `N` over [`NodeRegistration::message`].
    pub signature: Signature,
    /// The account's authorisation of [`AccountOp::RegisterNode`] over
    /// [`NodeRegistration::message`] (§8.3); `None` is refused.
    pub account_auth: Option<AccountAuth>,
}

/// The terms a node signs (§8.3.6) and an update may change (§8.3.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTerms {
    pub price_per_kib: Value,
    pub escrow_sizes: Vec<Value>,
    pub tls_key_hash: [u8; 32],
    /// The node profile's bytes (§8.3.9); empty: none.
    pub profile: Vec<u8>,
}

impl NodeTerms {
    /// Terms without a profile.
    pub fn new(price_per_kib: Value, escrow_sizes: Vec<Value>, tls_key_hash: [u8; 32]) -> Self {
        Self {
            price_per_kib,
            escrow_sizes,
            tls_key_hash,
            profile: Vec::new(),
        }
    }
}

impl NodeRegistration {
    /// [`Self::sign`] with terms that carry no profile.
    pub fn signed(
        key: &SigningKey,
        account_key: &SigningKey,
        nonce: u64,
        price_per_kib: Value,
        escrow_sizes: Vec<Value>,
        stake: Value,
        tls_key_hash: [u8; 32],
    ) -> Self {
        let terms = NodeTerms::new(price_per_kib, escrow_sizes, tls_key_hash);
        Self::sign(key, account_key, nonce, stake, terms)
    }

    /// Builds a registration of `terms` for the node whose key is `key`,
    /// paid to and staked from the account of `account_key` (whose next
    /// nonce is `nonce`), and signs it with both keys.
    pub fn sign(
        key: &SigningKey,
        account_key: &SigningKey,
        nonce: u64,
        stake: Value,
        terms: NodeTerms,
    ) -> Self {
        let account = account_key.verifying_key().account_id();
        let mut r = Self::sign_for_sender(key, account, stake, terms);
        let m = r.message();
        r.account_auth = Some(AccountAuth::sign(
            account_key,
            AccountOp::RegisterNode,
            nonce,
            m,
        ));
        r
    }

    /// [`Self::sign_for_sender`] with terms that carry no profile.
    pub fn signed_for_sender(
        key: &SigningKey,
        account: AccountId,
        price_per_kib: Value,
        escrow_sizes: Vec<Value>,
        stake: Value,
        tls_key_hash: [u8; 32],
    ) -> Self {
        let terms = NodeTerms::new(price_per_kib, escrow_sizes, tls_key_hash);
        Self::sign_for_sender(key, account, stake, terms)
    }

    /// A registration for a ledger that authenticates its sender
    /// ([`crate::LedgerApi::acting_account`], an EVM chain): staked from
    /// and paid to `account`, the sender's; signed by the node key only.
    pub fn sign_for_sender(
        key: &SigningKey,
        account: AccountId,
        stake: Value,
        terms: NodeTerms,
    ) -> Self {
        let node_key = key.verifying_key();
        let node_id = node_key.node_id();
        let m = registration_message(&node_id, &account, stake, &terms);
        Self {
            node_id,
            account,
            price_per_kib: terms.price_per_kib,
            escrow_sizes: terms.escrow_sizes,
            stake,
            tls_key_hash: terms.tls_key_hash,
            profile: terms.profile,
            node_key,
            signature: key.sign(&m),
            account_auth: None,
        }
    }

    /// The registered terms.
    pub fn terms(&self) -> NodeTerms {
        NodeTerms {
            price_per_kib: self.price_per_kib,
            escrow_sizes: self.escrow_sizes.clone(),
            tls_key_hash: self.tls_key_hash,
            profile: self.profile.clone(),
        }
    }

    /// The signed message: see [`registration_message`].
    pub fn message(&self) -> Fr {
        registration_message(&self.node_id, &self.account, self.stake, &self.terms())
    }

    /// Checks `node_id = H(NODE_ID, N)`, the signature by `N` (§8.3.6) and
    /// the account's signature (§8.3); returns the account nonce used.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        self.authenticate_node()?;
        AccountAuth::verify(
            self.account_auth.as_ref(),
            AccountOp::RegisterNode,
            &self.account,
            self.message(),
        )
    }

    /// Checks `node_id = H(NODE_ID, N)` and the signature by `N` (§8.3.6):
    /// the node key's consent to these terms and this account.
    pub fn authenticate_node(&self) -> Result<(), LedgerError> {
        authenticate_node_key(
            &self.node_id,
            &self.node_key,
            self.message(),
            &self.signature,
        )
    }

    /// Same terms (everything but the signatures, which a retry may redo).
    pub fn same_terms(&self, other: &Self) -> bool {
        self.node_id == other.node_id
            && self.account == other.account
            && self.price_per_kib == other.price_per_kib
            && self.escrow_sizes == other.escrow_sizes
            && self.stake == other.stake
            && self.tls_key_hash == other.tls_key_hash
            && self.profile == other.profile
            && self.node_key == other.node_key
    }

    /// A retry of this applied registration (§8.2): same terms, signed by
    /// the same account key with the same nonce.
    pub fn is_retry_of(&self, applied: &Self) -> bool {
        self.same_terms(applied)
            && match (&self.account_auth, &applied.account_auth) {
                (Some(a), Some(b)) => a.key == b.key && a.nonce == b.nonce,
                _ => false,
            }
    }
}

// ---------------------------------------------------------------- accounts

/// The operations an account key signs (§8.3): debits of the account and
/// bindings to it. The value is the second input of [`account_op_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum AccountOp {
    /// `digest` = the deposited commitment `H(NOTE, v, addr)` (binds `v` and `addr`).
    Deposit = 1,
    /// `digest` = the registration message (binds every term, stake included).
    RegisterNode = 2,
    /// `digest` = the update message (binds the sequence and every new term).
    UpdateNode = 3,
    /// `digest` = the order's digest (`crate::trade::Order::digest`: side,
    /// amount and slippage limit).
    Trade = 4,
    /// `digest` = the exit step's digest (`crate::exit::ExitRequest::digest`:
    /// the step and the node id).
    ExitNode = 5,
    /// `digest` = the monitor registration's digest
    /// (`crate::monitor::MonitorRegistration::digest`: the stake).
    RegisterMonitor = 6,
    /// `digest` = the report's digest (`crate::monitor::AuditReport::digest`:
    /// epoch, node and every measured value).
    Report = 7,
    /// `digest` = the challenge request's digest
    /// (`crate::challenge::ChallengeRequest::digest`: epoch and node).
    Challenge = 8,
    /// `digest` = the monitor exit step's digest
    /// (`crate::monitor::MonitorExitRequest::digest`: the step).
    ExitMonitor = 9,
}

/// `H(ACCOUNT_OP, op, account, nonce, digest)`: what an account key signs
/// (§8.3). The single definition used by wallets, nodes and the ledger.
pub fn account_op_message(op: AccountOp, account: &AccountId, nonce: u64, digest: Fr) -> Fr {
    poseidon::hash_tagged(
        DomainTag::AccountOp,
        &[
            Fr::from(op as u64),
            account.inner(),
            Fr::from(nonce),
            digest,
        ],
    )
}

/// An account's authorisation of one operation (§8.3): the account key
/// `A` (the account is `H(ACCOUNT, A.x, A.y)`), the account's nonce and
/// `sig_A` over [`account_op_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountAuth {
    pub key: VerifyingKey,
    pub nonce: u64,
    pub signature: Signature,
}

impl AccountAuth {
    /// Signs `op` over `digest` for the account of `key` with `nonce`.
    pub fn sign(key: &SigningKey, op: AccountOp, nonce: u64, digest: Fr) -> Self {
        let public = key.verifying_key();
        let m = account_op_message(op, &public.account_id(), nonce, digest);
        Self {
            key: public,
            nonce,
            signature: key.sign(&m),
        }
    }

    /// Stateless check (§8.3): present, `account = H(ACCOUNT, A)`, and the
    /// signature by `A` verifies over `(op, account, nonce, digest)`.
    /// Returns the nonce, which the ledger then checks against its state.
    pub fn verify(
        auth: Option<&Self>,
        op: AccountOp,
        account: &AccountId,
        digest: Fr,
    ) -> Result<u64, LedgerError> {
        use LedgerError::AccountUnauthenticated as E;
        let a = auth.ok_or(E("missing account signature"))?;
        if a.key.account_id() != *account {
            return Err(E("account is not H(ACCOUNT, A) of the signing key"));
        }
        a.key
            .verify(
                &account_op_message(op, account, a.nonce, digest),
                &a.signature,
            )
            .map_err(|_| E("signature by the account key does not verify"))?;
        Ok(a.nonce)
    }
}

/// A deposit (§8.3.1): `value` from `account` into the pool as
/// `H(NOTE, value, addr)`, authorised by the account key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositRequest {
    pub account: AccountId,
    pub value: Value,
    pub addr: Address,
    pub auth: Option<AccountAuth>,
}

impl DepositRequest {
    /// A deposit from the account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, value: Value, addr: Address) -> Self {
        let digest = NoteCommitment::from_value_and_address(value, &addr).inner();
        Self {
            account: key.verifying_key().account_id(),
            value,
            addr,
            auth: Some(AccountAuth::sign(key, AccountOp::Deposit, nonce, digest)),
        }
    }

    /// A deposit for a ledger that authenticates its sender
    /// ([`crate::LedgerApi::acting_account`], an EVM chain): from
    /// `account`, the sender's, with no account signature.
    pub fn from_sender(account: AccountId, value: Value, addr: Address) -> Self {
        Self {
            account,
            value,
            addr,
            auth: None,
        }
    }

    /// The commitment appended, `H(NOTE, value, addr)`.
    pub fn commitment(&self) -> NoteCommitment {
        NoteCommitment::from_value_and_address(self.value, &self.addr)
    }

    /// [`AccountAuth::verify`] for this deposit; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::Deposit,
            &self.account,
            self.commitment().inner(),
        )
    }
}

/// An account as the ledger reports it (§8.3): its balance and the nonce
/// its next debit must carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    pub balance: Value,
    pub next_nonce: u64,
}

/// The registration message (§8.3.6), with `t = REGISTRATION_TAG`:
/// `h_0 = Poseidon(t, node_id, account, price, stake, tls_hi, tls_lo, n)`
/// where `tls_hi`, `tls_lo` are the two big-endian 16-byte halves of the
/// TLS key hash as integers and `n` the number of escrow sizes; then
/// `h_{i+1} = Poseidon(t, h_i, E_i)` over the sizes in order; then, for a
/// non-empty profile, `Poseidon(t, h_n, d)` with
/// `d = `[`profile_digest`]`(profile)` (§8.3.9); `m` is the last `h`.
pub fn registration_message(
    node_id: &NodeId,
    account: &AccountId,
    stake: Value,
    terms: &NodeTerms,
) -> Fr {
    terms_message(REGISTRATION_TAG, node_id, account, stake.to_fr(), terms)
}

/// The update message (§8.3.8): [`registration_message`]'s construction
/// with `t = UPDATE_TAG` and the update's sequence number where the
/// registration has the stake.
pub fn update_message(
    node_id: &NodeId,
    account: &AccountId,
    sequence: u64,
    terms: &NodeTerms,
) -> Fr {
    terms_message(UPDATE_TAG, node_id, account, Fr::from(sequence), terms)
}

/// The one construction of a node's signed terms (§8.3.6, §8.3.8).
fn terms_message(tag: u64, node_id: &NodeId, account: &AccountId, x: Fr, terms: &NodeTerms) -> Fr {
    let tag = Fr::from(tag);
    let (hi, lo) = terms.tls_key_hash.split_at(16);
    let half = |b: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Fr::from(u128::from_be_bytes(a))
    };
    let h0 = poseidon::hash(&[
        tag,
        node_id.inner(),
        account.inner(),
        terms.price_per_kib.to_fr(),
        x,
        half(hi),
        half(lo),
        Fr::from(terms.escrow_sizes.len() as u64),
    ]);
    let h = terms
        .escrow_sizes
        .iter()
        .fold(h0, |h, e| poseidon::hash(&[tag, h, e.to_fr()]));
    match terms.profile.is_empty() {
        true => h,
        false => poseidon::hash(&[tag, h, profile_digest(&terms.profile)]),
    }
}

/// A registered node: its registration as signed, and the latest update
/// applied to it as signed (§8.3.8). Both are kept whole, so that anyone
/// can check the node key's signature over the terms in force; the
/// accessors give those terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub registration: NodeRegistration,
    pub registered_at: BlockHeight,
    /// `None` until the first update: the registered terms hold.
    pub update: Option<AppliedUpdate>,
    /// `None` while the node is active (§8.3.12).
    pub exit: Option<NodeExit>,
    /// What audits concluded and slashed (§8.3.13).
    pub audit: NodeAudit,
}

/// A node's audit history as recorded (§8.3.13, §8.3.14): the value
/// slashed from its stake so far, the latest verdict a quorum reached, and
/// its ledger challenges still open and missed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeAudit {
    pub slashed: Value,
    pub last: Option<AuditOutcome>,
    /// Challenges waiting for the node's answer: its stake cannot be
    /// released while any is open (evidence pending, §8.3.12).
    pub open_challenges: u32,
    /// Challenges the clock passed unanswered (each slashed at once).
    pub missed_challenges: u32,
}

/// One epoch's verdict on a node: the quorum's median measurements, the
/// share of the claimed capacity delivered, and the slash it caused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditOutcome {
    pub epoch: u64,
    pub reports: u32,
    pub throughput_kbps: u64,
    pub rtt_ms: u64,
    pub delivered_ppm: u32,
    pub slashed: Value,
}

/// A step the ledger applied: the height and the account nonce it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedStep {
    pub at: BlockHeight,
    pub nonce: u64,
}

/// A node's exit as recorded (§8.3.12): retired, and perhaps released
/// (`crate::exit` takes the steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeExit {
    pub retired: AppliedStep,
    pub released: Option<AppliedStep>,
}

/// An update the ledger applied, and the height it applied it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedUpdate {
    pub update: NodeUpdate,
    pub applied_at: BlockHeight,
}

impl NodeRecord {
    /// A record of `registration` at `registered_at`, never updated.
    pub fn registered(registration: NodeRegistration, registered_at: BlockHeight) -> Self {
        Self {
            registration,
            registered_at,
            update: None,
            exit: None,
            audit: NodeAudit::default(),
        }
    }

    /// Whether the node was retired (§8.3.12): no new escrow opens with it.
    pub fn is_retired(&self) -> bool {
        self.exit.is_some()
    }

    /// The stake still locked with the ledger: the registered stake less
    /// what audits slashed (§8.3.13) until it is released (§8.3.12), then
    /// zero.
    pub fn locked_stake(&self) -> Value {
        match self.exit.and_then(|x| x.released) {
            Some(_) => Value::ZERO,
            None => Value(
                self.registration
                    .stake
                    .get()
                    .saturating_sub(self.audit.slashed.get()),
            ),
        }
    }

    /// The price per KiB in force (new escrows record it, §8.3.2).
    pub fn price_per_kib(&self) -> Value {
        self.update
            .as_ref()
            .map_or(self.registration.price_per_kib, |u| u.update.price_per_kib)
    }

    /// The escrow sizes in force.
    pub fn escrow_sizes(&self) -> &[Value] {
        self.update
            .as_ref()
            .map_or(&self.registration.escrow_sizes, |u| &u.update.escrow_sizes)
    }

    /// The TLS key hash in force: the only key a client pins (§9.8).
    pub fn tls_key_hash(&self) -> [u8; 32] {
        self.update
            .as_ref()
            .map_or(self.registration.tls_key_hash, |u| u.update.tls_key_hash)
    }

    /// The profile bytes in force (§8.3.9); empty: none published.
    pub fn profile_bytes(&self) -> &[u8] {
        self.update
            .as_ref()
            .map_or(&self.registration.profile, |u| &u.update.profile)
    }

    /// The profile in force, parsed; `None` if the node published none.
    /// Readers treat a node whose profile does not parse as unlisted.
    pub fn profile(&self) -> Result<Option<NodeProfile>, ProfileError> {
        match self.profile_bytes() {
            [] => Ok(None),
            b => NodeProfile::decode(b).map(Some),
        }
    }

    /// The terms in force: what an update keeps unless it changes them.
    pub fn terms(&self) -> NodeTerms {
        self.update
            .as_ref()
            .map_or_else(|| self.registration.terms(), |u| u.update.terms())
    }

    /// The sequence number of the latest update (0: the registration);
    /// the next update must carry this plus one (§8.3.8).
    pub fn sequence(&self) -> u64 {
        self.update.as_ref().map_or(0, |u| u.update.sequence)
    }
}

/// The first Poseidon input of the update message (§8.3.8), in the
/// ledger's reserved range beside [`REGISTRATION_TAG`]: no update message
/// can equal a registration message or a protocol hash.
pub const UPDATE_TAG: u64 = 65;

/// An update of a registered node's terms (docs/protocol.md §8.3.8): the
/// TLS key hash, price and escrow sizes; the account and stake stay.
/// Signed by the node key `N` and by the node's account key, like the
/// registration; `sequence` must be the record's [`NodeRecord::sequence`]
/// plus one, so no signed update applies twice or out of order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeUpdate {
    pub node_id: NodeId,
    /// The node's registered account (the update does not change it).
    pub account: AccountId,
    pub sequence: u64,
    pub price_per_kib: Value,
    pub escrow_sizes: Vec<Value>,
    pub tls_key_hash: [u8; 32],
    /// The new profile (§8.3.9); empty: none.
    pub profile: Vec<u8>,
    /// The node's public key `N` (`node_id = H(NODE_ID, N)`).
    pub node_key: VerifyingKey,
    /// EdDSA signature by `N` over [`NodeUpdate::message`].
    pub signature: Signature,
    /// The account's authorisation of [`AccountOp::UpdateNode`] over
    /// [`NodeUpdate::message`] (§8.3); `None` is refused.
    pub account_auth: Option<AccountAuth>,
}

impl NodeUpdate {
    /// [`Self::sign`] with terms that carry no profile.
    pub fn signed(
        key: &SigningKey,
        account_key: &SigningKey,
        nonce: u64,
        record: &NodeRecord,
        price_per_kib: Value,
        escrow_sizes: Vec<Value>,
        tls_key_hash: [u8; 32],
    ) -> Self {
        let terms = NodeTerms::new(price_per_kib, escrow_sizes, tls_key_hash);
        Self::sign(key, account_key, nonce, record, terms)
    }

    /// The update of `record` to `terms`, signed by the node key and by
    /// the account key (whose next nonce is `nonce`), with the next
    /// sequence number.
    pub fn sign(
        key: &SigningKey,
        account_key: &SigningKey,
        nonce: u64,
        record: &NodeRecord,
        terms: NodeTerms,
    ) -> Self {
        let mut u = Self::sign_for_sender(key, record, terms);
        let m = u.message();
        u.account_auth = Some(AccountAuth::sign(
            account_key,
            AccountOp::UpdateNode,
            nonce,
            m,
        ));
        u
    }

    /// The update of `record` to `terms` for a ledger that authenticates
    /// its sender ([`crate::LedgerApi::acting_account`], an EVM chain: the
    /// operator sends it), signed by the node key only.
    pub fn sign_for_sender(key: &SigningKey, record: &NodeRecord, terms: NodeTerms) -> Self {
        let node_key = key.verifying_key();
        let (node_id, account) = (node_key.node_id(), record.registration.account);
        let sequence = record.sequence().saturating_add(1);
        let m = update_message(&node_id, &account, sequence, &terms);
        Self {
            node_id,
            account,
            sequence,
            price_per_kib: terms.price_per_kib,
            escrow_sizes: terms.escrow_sizes,
            tls_key_hash: terms.tls_key_hash,
            profile: terms.profile,
            node_key,
            signature: key.sign(&m),
            account_auth: None,
        }
    }

    /// Checks `node_id = H(NODE_ID, N)` and the signature by `N` (§8.3.8):
    /// the node key's consent to these terms, whoever sends them.
    pub fn authenticate_node(&self) -> Result<(), LedgerError> {
        authenticate_node_key(
            &self.node_id,
            &self.node_key,
            self.message(),
            &self.signature,
        )
    }

    /// The terms this update puts in force.
    pub fn terms(&self) -> NodeTerms {
        NodeTerms {
            price_per_kib: self.price_per_kib,
            escrow_sizes: self.escrow_sizes.clone(),
            tls_key_hash: self.tls_key_hash,
            profile: self.profile.clone(),
        }
    }

    /// The signed message: see [`update_message`].
    pub fn message(&self) -> Fr {
        update_message(&self.node_id, &self.account, self.sequence, &self.terms())
    }

    /// Stateless checks (§8.3.8): the node key as for a registration,
    /// then the account's signature; returns the account nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        self.authenticate_node()?;
        AccountAuth::verify(
            self.account_auth.as_ref(),
            AccountOp::UpdateNode,
            &self.account,
            self.message(),
        )
    }

    /// A retry of this applied update (§8.2): the same signed fields and
    /// the same account key and nonce.
    pub fn is_retry_of(&self, applied: &Self) -> bool {
        let auth = |u: &Self| u.account_auth.map(|a| (a.key, a.nonce));
        self.node_id == applied.node_id
            && self.account == applied.account
            && self.sequence == applied.sequence
            && self.price_per_kib == applied.price_per_kib
            && self.escrow_sizes == applied.escrow_sizes
            && self.tls_key_hash == applied.tls_key_hash
            && self.profile == applied.profile
            && self.node_key == applied.node_key
            && auth(self).is_some()
            && auth(self) == auth(applied)
    }
}

/// The node key's consent (§8.3.6, §8.3.8): `node_id = H(NODE_ID, N)` and
/// `sig` by `N` over `m`; else `RegistrationUnauthenticated`. One rule for
/// registrations and updates: nobody signs for a node id whose key they do
/// not hold.
fn authenticate_node_key(
    node_id: &NodeId,
    node_key: &VerifyingKey,
    m: Fr,
    sig: &Signature,
) -> Result<(), LedgerError> {
    use LedgerError::RegistrationUnauthenticated;
    if node_key.node_id() != *node_id {
        return Err(RegistrationUnauthenticated(
            "node_id is not H(NODE_ID, N) of the node key",
        ));
    }
    node_key
        .verify(&m, sig)
        .map_err(|_| RegistrationUnauthenticated("signature by the node key does not verify"))
}

/// Result of a deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepositReceipt {
    pub commitment: NoteCommitment,
    pub leaf_index: u64,
}

/// Result of a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettleReceipt {
    pub total: Value,
    /// Index of the first refund commitment appended by the batch.
    pub first_leaf_index: u64,
}

/// Result of a reclaim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReclaimReceipt {
    pub commitment: NoteCommitment,
    pub leaf_index: u64,
}

/// Result of a withdrawal: where its change commitment landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithdrawReceipt {
    pub leaf_index: u64,
}

/// A snapshot of the ledger's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerStatus {
    pub height: BlockHeight,
    pub commitment_count: u64,
    pub root: MerkleRoot,
    pub schema_version: u32,
    pub challenge_window: u64,
    pub max_expiry_delta: u64,
    /// Σ faucet mints (the turnstile's left side).
    pub minted: Value,
    /// Value inside the shielded pool.
    pub pool: Value,
    /// The rest of the turnstile's right side (§8.4): value in open
    /// escrows, nodes' locked stakes, monitors' stakes, value burnt by
    /// slashes. With `minted`, anyone can check the sum against the
    /// public balances.
    pub escrowed: Value,
    pub staked: Value,
    pub monitor_staked: Value,
    pub burnt: Value,
}
