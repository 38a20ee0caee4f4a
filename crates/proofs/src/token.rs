//! Proof-carrying messages and their canonical, versioned, exact-length
//! encodings: the access token, the withdrawal proof, the settlement proof.
//!
//! Spec: `docs/protocol.md` §7.6. Decoding rejects an unknown version, any
//! other length, a non-canonical field element (never reduced mod r, B1)
//! and an invalid proof point (B3–B5). Identity is the statement's
//! nullifier (or a settlement's first session), never the proof bytes: Groth16 proofs are
//! re-randomisable (B2), so these types deliberately do not implement
//! `Hash`.

use veil_circuits::access::AccessPublic;
use veil_circuits::settle::{SettlePublic, SlotPublic};
use veil_circuits::withdraw::WithdrawPublic;
use veil_primitives::EncodingError;
use veil_primitives::escrow::EscrowCommitment;
use veil_primitives::ids::{AccountId, BlockHeight, NodeId, SessionId, SessionKeyHash};
use veil_primitives::keys::OwnerKey;
use veil_primitives::merkle::MerkleRoot;
use veil_primitives::note::{NoteCommitment, Nullifier};
use veil_primitives::value::Value;

use crate::circuit::SettleSize;
use crate::error::ProofError;
use crate::proof::Proof;

/// The only encoding version so far.
pub const VERSION: u8 = 1;

/// Reads fixed-size fields from a buffer whose total length was checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Checks the version byte and the exact length, then reads after the version.
    fn new(bytes: &'a [u8], len: usize) -> Result<Self, ProofError> {
        let (&version, rest) = bytes.split_first().ok_or(ProofError::Length {
            expected: len,
            actual: 0,
        })?;
        if version != VERSION {
            return Err(ProofError::Version(version));
        }
        if bytes.len() != len {
            return Err(ProofError::Length {
                expected: len,
                actual: bytes.len(),
            });
        }
        Ok(Reader { buf: rest })
    }

    fn take<const N: usize>(&mut self) -> Result<&'a [u8; N], ProofError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(ProofError::Length {
                expected: N,
                actual: self.buf.len(),
            })?;
        self.buf = rest;
        Ok(head)
    }

    fn field<T>(
        &mut self,
        name: &'static str,
        decode: impl FnOnce(&[u8; 32]) -> Result<T, EncodingError>,
    ) -> Result<T, ProofError> {
        let bytes = self.take::<32>()?;
        decode(bytes).map_err(|source| ProofError::PublicInput {
            field: name,
            source,
        })
    }

    fn u64(&mut self) -> Result<u64, ProofError> {
        Ok(u64::from_be_bytes(*self.take::<8>()?))
    }

    fn proof(mut self) -> Result<Proof, ProofError> {
        let bytes = self.take::<{ Proof::BYTES }>()?;
        Proof::from_bytes(bytes)
    }
}

/// A session-opening token: the access statement and its proof (§7.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The public statement.
    pub public: AccessPublic,
    /// The Groth16 proof of the access circuit for `public`.
    pub proof: Proof,
}

impl AccessToken {
    /// Encoded length.
    pub const BYTES: usize = 1 + 3 * 32 + 8 + 3 * 32 + 8 + Proof::BYTES;

    /// The token's identity: its nullifier, which names the session.
    pub fn session_id(&self) -> SessionId {
        SessionId::from(self.public.nullifier)
    }

    /// # Layout
    ///
    /// 337 bytes; field elements 32 bytes big-endian `< r`, integers `u64`
    /// big-endian:
    ///
    /// | bytes | content |
    /// |---|---|
    /// | 0 | version `1` |
    /// | 1..33 | `root` |
    /// | 33..65 | `nf` (nullifier, the session id) |
    /// | 65..97 | `cm_change` |
    /// | 97..105 | `E` (escrow) |
    /// | 105..137 | `node_id` |
    /// | 137..169 | `h_S` (session key hash) |
    /// | 169..201 | `rk` (refund owner key) |
    /// | 201..209 | `expiry` (block height) |
    /// | 209..337 | proof `A ‖ B ‖ C` ([`Proof::to_bytes`]) |
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.public;
        let mut out = Vec::with_capacity(Self::BYTES);
        out.push(VERSION);
        out.extend_from_slice(&p.root.to_bytes());
        out.extend_from_slice(&p.nullifier.to_bytes());
        out.extend_from_slice(&p.cm_change.to_bytes());
        out.extend_from_slice(&p.escrow.to_bytes());
        out.extend_from_slice(&p.node_id.to_bytes());
        out.extend_from_slice(&p.session_key_hash.to_bytes());
        out.extend_from_slice(&p.refund_owner.to_bytes());
        out.extend_from_slice(&p.expiry.to_bytes());
        out.extend_from_slice(&self.proof.to_bytes());
        out
    }

    /// Decodes exactly the [layout](Self::to_bytes). Does not verify the proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let mut r = Reader::new(bytes, Self::BYTES)?;
        let public = AccessPublic {
            root: r.field("root", MerkleRoot::from_bytes)?,
            nullifier: r.field("nullifier", Nullifier::from_bytes)?,
            cm_change: r.field("cm_change", NoteCommitment::from_bytes)?,
            escrow: Value(r.u64()?),
            node_id: r.field("node_id", NodeId::from_bytes)?,
            session_key_hash: r.field("session_key_hash", SessionKeyHash::from_bytes)?,
            refund_owner: r.field("refund_owner", OwnerKey::from_bytes)?,
            expiry: BlockHeight(r.u64()?),
        };
        Ok(AccessToken {
            public,
            proof: r.proof()?,
        })
    }
}

/// A withdrawal: the withdraw statement and its proof (§7.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawProof {
    /// The public statement.
    pub public: WithdrawPublic,
    /// The Groth16 proof of the withdraw circuit for `public`.
    pub proof: Proof,
}

impl WithdrawProof {
    /// Encoded length.
    pub const BYTES: usize = 1 + 3 * 32 + 8 + 32 + Proof::BYTES;

    /// The withdrawal's identity: its nullifier.
    pub fn nullifier(&self) -> Nullifier {
        self.public.nullifier
    }

    /// # Layout
    ///
    /// 265 bytes:
    ///
    /// | bytes | content |
    /// |---|---|
    /// | 0 | version `1` |
    /// | 1..33 | `root` |
    /// | 33..65 | `nf` |
    /// | 65..97 | `cm_change` |
    /// | 97..105 | `amount`, `u64` big-endian |
    /// | 105..137 | `recipient` account |
    /// | 137..265 | proof `A ‖ B ‖ C` |
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.public;
        let mut out = Vec::with_capacity(Self::BYTES);
        out.push(VERSION);
        out.extend_from_slice(&p.root.to_bytes());
        out.extend_from_slice(&p.nullifier.to_bytes());
        out.extend_from_slice(&p.cm_change.to_bytes());
        out.extend_from_slice(&p.amount.to_bytes());
        out.extend_from_slice(&p.recipient.to_bytes());
        out.extend_from_slice(&self.proof.to_bytes());
        out
    }

    /// Decodes exactly the [layout](Self::to_bytes). Does not verify the proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let mut r = Reader::new(bytes, Self::BYTES)?;
        let public = WithdrawPublic {
            root: r.field("root", MerkleRoot::from_bytes)?,
            nullifier: r.field("nullifier", Nullifier::from_bytes)?,
            cm_change: r.field("cm_change", NoteCommitment::from_bytes)?,
            amount: Value(r.u64()?),
            recipient: r.field("recipient", AccountId::from_bytes)?,
        };
        Ok(WithdrawProof {
            public,
            proof: r.proof()?,
        })
    }
}

/// A settlement proof: batch size, statement and proof (§7.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleProof {
    /// The batch size `K` (which circuit and key).
    pub k: SettleSize,
    /// The public statement.
    pub public: SettlePublic,
    /// The Groth16 proof of `settle_K` for `public`.
    pub proof: Proof,
}

impl SettleProof {
    /// Encoded length of a proof for batch size `k`: `2·K + 3` public inputs.
    pub fn bytes_for(k: SettleSize) -> usize {
        1 + 1 + 32 + 8 + 8 + 2 * 32 * k.get() + Proof::BYTES
    }

    /// # Layout
    ///
    /// `178 + 64·K` bytes (242, 690, 4,274 for K = 1, 8, 64):
    ///
    /// | bytes | content |
    /// |---|---|
    /// | 0 | version `1` |
    /// | 1 | `K` (1, 8 or 64) |
    /// | 2..34 | `node_id` |
    /// | 34..42 | `T` (total), `u64` big-endian |
    /// | 42..50 | `price`, `u64` big-endian |
    /// | 50..50+32K | `esc_0 … esc_{K−1}` |
    /// | …+32K | `cm_refund_0 … cm_refund_{K−1}` |
    /// | last 128 | proof `A ‖ B ‖ C` |
    ///
    /// The ledger rebuilds the statement from its own escrow records and
    /// never trusts this copy (§5.3).
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.public;
        let mut out = Vec::with_capacity(Self::bytes_for(self.k));
        out.push(VERSION);
        out.push(self.k.get() as u8);
        out.extend_from_slice(&p.node_id.to_bytes());
        out.extend_from_slice(&p.total.to_bytes());
        out.extend_from_slice(&p.price.to_bytes());
        for s in &p.slots {
            out.extend_from_slice(&s.escrow_commitment.to_bytes());
        }
        for s in &p.slots {
            out.extend_from_slice(&s.cm_refund.to_bytes());
        }
        out.extend_from_slice(&self.proof.to_bytes());
        out
    }

    /// Decodes exactly the [layout](Self::to_bytes). Does not verify the proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let k = match bytes {
            [VERSION, k, ..] => SettleSize::new(u64::from(*k))?,
            [VERSION] | [] => {
                return Err(ProofError::Length {
                    expected: 2,
                    actual: bytes.len(),
                });
            }
            [version, ..] => return Err(ProofError::Version(*version)),
        };
        let mut r = Reader::new(bytes, Self::bytes_for(k))?;
        r.take::<1>()?;
        let node_id = r.field("node_id", NodeId::from_bytes)?;
        let total = Value(r.u64()?);
        let price = Value(r.u64()?);
        let escs = (0..k.get())
            .map(|_| r.field("esc", EscrowCommitment::from_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let slots = escs
            .into_iter()
            .map(|escrow_commitment| {
                Ok(SlotPublic {
                    escrow_commitment,
                    cm_refund: r.field("cm_refund", NoteCommitment::from_bytes)?,
                })
            })
            .collect::<Result<Vec<_>, ProofError>>()?;
        let public = SettlePublic {
            node_id,
            total,
            price,
            slots,
        };
        Ok(SettleProof {
            k,
            public,
            proof: r.proof()?,
        })
    }
}
