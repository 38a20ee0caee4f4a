//! Bandwidth receipts: the client's signature over the cumulative KiB a
//! node delivered in one session.
//!
//! Spec: `docs/protocol.md` §6. The signed message is
//! `m = H(RECEIPT, session_id, kib)` under the session key `S` whose hash
//! `h_S = H(SESSION, S.x, S.y)` was bound in the escrow at session open; the
//! settlement circuit (§5) checks the same signature in-circuit.

use thiserror::Error;

use crate::{
    eddsa::{
        SIGNATURE_BYTES, Signature, SignatureCheckError, SignatureError, SigningKey,
        UncheckedSignature, Verifier,
    },
    error::EncodingError,
    field::{FR_BYTES, Fr, fr_from_bytes, fr_to_bytes},
    poseidon::{DomainTag, hash_tagged},
};

/// Bytes per KiB, the unit receipts count in (§6, §9.3).
pub const KIB: u64 = 1024;

/// Version byte of the signed receipt encoding.
pub const RECEIPT_VERSION: u8 = 1;
/// Length of an encoded [`SignedReceipt`]: version, session id, kib, signature.
pub const SIGNED_RECEIPT_BYTES: usize = 1 + FR_BYTES + 8 + SIGNATURE_BYTES;

/// Why a receipt is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    /// The signature does not verify under the session key.
    #[error("invalid receipt signature: {0}")]
    Signature(#[from] SignatureError),
    /// The receipt names another session.
    #[error("receipt is for another session")]
    WrongSession,
    /// The receipt does not raise the cumulative KiB (receipts are monotonic).
    #[error("receipt is not newer than the last one ({got} <= {last} KiB)")]
    NotNewer {
        /// KiB in the refused receipt.
        got: u64,
        /// KiB in the last accepted receipt.
        last: u64,
    },
}

/// A receipt: "session `session_id` has delivered `kib` KiB in total".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The escrow's session id (the access nullifier, §3).
    pub session_id: Fr,
    /// Cumulative KiB delivered since the session opened.
    pub kib: u64,
}

impl Receipt {
    /// The signed message `m = H(RECEIPT, session_id, kib)` (§6).
    pub fn message(&self) -> Fr {
        receipt_message(&self.session_id, self.kib)
    }

    /// Signs the receipt with the session key.
    pub fn sign(self, session_key: &SigningKey) -> SignedReceipt {
        SignedReceipt {
            receipt: self,
            signature: session_key.sign(&self.message()),
        }
    }

    /// Whether `self` supersedes `other`: same session, strictly more KiB.
    pub fn is_newer_than(&self, other: &Receipt) -> bool {
        self.session_id == other.session_id && self.kib > other.kib
    }

    /// Checks that `self` may follow `last` (the last accepted receipt, if any)
    /// in session `session_id` (§6: monotonic, same session).
    pub fn check_successor(
        &self,
        session_id: &Fr,
        last: Option<&Receipt>,
    ) -> Result<(), ReceiptError> {
        if self.session_id != *session_id {
            return Err(ReceiptError::WrongSession);
        }
        match last {
            Some(prev) if !self.is_newer_than(prev) => Err(ReceiptError::NotNewer {
                got: self.kib,
                last: prev.kib,
            }),
            _ => Ok(()),
        }
    }
}

/// `H(RECEIPT, session_id, kib)` (§6).
pub fn receipt_message(session_id: &Fr, kib: u64) -> Fr {
    hash_tagged(DomainTag::Receipt, &[*session_id, Fr::from(kib)])
}

/// `H(RELAY_BIND, session_id, node_id)`: what the session key signs to
/// bind a Relay stream to its session (§9.4). The session id is public (it
/// is the nullifier), so naming it alone proves nothing.
pub fn relay_bind_message(session_id: &Fr, node_id: &Fr) -> Fr {
    hash_tagged(DomainTag::RelayBind, &[*session_id, *node_id])
}

/// `H(NONCE, nonce)`: what a node's key signs to answer a client's
/// bandwidth challenge (§9.5).
pub fn challenge_message(nonce: &Fr) -> Fr {
    hash_tagged(DomainTag::Nonce, &[*nonce])
}

/// A receipt with the session key's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedReceipt {
    /// What is attested.
    pub receipt: Receipt,
    /// `sig_S(H(RECEIPT, session_id, kib))`.
    pub signature: Signature,
}

impl SignedReceipt {
    /// Verifies the signature under the session key committed in the escrow
    /// (a [`VerifyingKey`](crate::eddsa::VerifyingKey) or, for many
    /// receipts under one key, its [`PreparedVerifyingKey`](crate::eddsa::PreparedVerifyingKey)).
    pub fn verify(&self, session_key: &impl Verifier) -> Result<(), ReceiptError> {
        session_key
            .verify_signature(&self.receipt.message(), &self.signature)
            .map_err(ReceiptError::from)
    }

    /// # Layout
    /// `version (1) ‖ session_id (32, BE) ‖ kib (8, BE) ‖ R.x ‖ R.y ‖ S` — 137 bytes.
    pub fn to_bytes(&self) -> [u8; SIGNED_RECEIPT_BYTES] {
        let mut out = [0u8; SIGNED_RECEIPT_BYTES];
        out[0] = RECEIPT_VERSION;
        out[1..1 + FR_BYTES].copy_from_slice(&fr_to_bytes(&self.receipt.session_id));
        out[1 + FR_BYTES..1 + FR_BYTES + 8].copy_from_slice(&self.receipt.kib.to_be_bytes());
        out[1 + FR_BYTES + 8..].copy_from_slice(&self.signature.to_bytes());
        out
    }

    /// Decodes exactly [`SIGNED_RECEIPT_BYTES`] bytes: known version,
    /// canonical session id, canonical signature (subgroup `R`, `S < l`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let (receipt, sig) = split_receipt(bytes)?;
        Ok(Self {
            receipt,
            signature: Signature::from_bytes(&sig)?,
        })
    }

    /// [`SignedReceipt::from_bytes`] then [`SignedReceipt::verify`] in one,
    /// without the subgroup check of `R` (what a node does per receipt, §6,
    /// §9.3): same verdict, and the same error (`Encoding` for the decoder's,
    /// `Signature` for the verifier's).
    pub fn decode_verify(
        bytes: &[u8],
        session_key: &impl Verifier,
    ) -> Result<Self, SignatureCheckError> {
        UncheckedReceipt::from_bytes(bytes)?.verify(session_key)
    }
}

/// A signed receipt after the decoder's cheap checks only (the signature
/// as an [`UncheckedSignature`]): what a node can parse before it knows the
/// session key. [`UncheckedReceipt::verify`] finishes decoding and verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UncheckedReceipt {
    /// What is attested (decoded: canonical session id).
    pub receipt: Receipt,
    /// The signature, `R` not yet known to be in the subgroup, `S` not range-checked.
    pub signature: UncheckedSignature,
}

impl UncheckedReceipt {
    /// Decodes as [`SignedReceipt::from_bytes`] but for `R`'s subgroup
    /// check and the range check of `S`, with the same errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let (receipt, sig) = split_receipt(bytes)?;
        Ok(Self {
            receipt,
            signature: UncheckedSignature::from_bytes(&sig)?,
        })
    }

    /// The verified [`SignedReceipt`], or the error decode-then-verify gives
    /// ([`Verifier::verify_unchecked`]).
    pub fn verify(
        &self,
        session_key: &impl Verifier,
    ) -> Result<SignedReceipt, SignatureCheckError> {
        let signature = session_key.verify_unchecked(&self.receipt.message(), &self.signature)?;
        Ok(SignedReceipt {
            receipt: self.receipt,
            signature,
        })
    }
}

/// Length, version, session id and kib of an encoded signed receipt, and
/// its signature bytes.
fn split_receipt(bytes: &[u8]) -> Result<(Receipt, [u8; SIGNATURE_BYTES]), EncodingError> {
    let arr: &[u8; SIGNED_RECEIPT_BYTES] = bytes.try_into().map_err(|_| EncodingError::Length {
        expected: SIGNED_RECEIPT_BYTES,
        actual: bytes.len(),
    })?;
    if arr[0] != RECEIPT_VERSION {
        return Err(EncodingError::Version(arr[0]));
    }
    let mut sid = [0u8; FR_BYTES];
    sid.copy_from_slice(&arr[1..1 + FR_BYTES]);
    let mut kib = [0u8; 8];
    kib.copy_from_slice(&arr[1 + FR_BYTES..1 + FR_BYTES + 8]);
    let mut sig = [0u8; SIGNATURE_BYTES];
    sig.copy_from_slice(&arr[1 + FR_BYTES + 8..]);
    let receipt = Receipt {
        session_id: fr_from_bytes(&sid)?,
        kib: u64::from_be_bytes(kib),
    };
    Ok((receipt, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eddsa::{
        PreparedVerifyingKey, VerifyingKey,
        testing::{add_l, identity, off_curve, order_eight, order_two},
    };
    use ark_ff::{BigInteger, PrimeField};
    use proptest::prelude::*;

    const SIG_AT: usize = 1 + FR_BYTES + 8;

    fn fixture() -> (SigningKey, SignedReceipt) {
        let key = SigningKey::from_seed([9; 32]).expect("test key");
        let r = Receipt {
            session_id: Fr::from(1234u64),
            kib: 4096,
        };
        (key.clone(), r.sign(&key))
    }

    fn affine_bytes(p: &crate::babyjubjub::EdwardsAffine) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&fr_to_bytes(&p.x));
        b[32..].copy_from_slice(&fr_to_bytes(&p.y));
        b
    }

    #[test]
    fn roundtrip_and_verify() {
        let (key, sr) = fixture();
        let bytes = sr.to_bytes();
        assert_eq!(bytes.len(), 137);
        let back = SignedReceipt::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, sr);
        assert_eq!(back.verify(&key.verifying_key()), Ok(()));
    }

    #[test]
    fn tampered_fields_fail() {
        let (key, sr) = fixture();
        let vk = key.verifying_key();
        let mut more = sr;
        more.receipt.kib += 1;
        assert_eq!(
            more.verify(&vk),
            Err(ReceiptError::Signature(SignatureError::Equation))
        );
        let mut other = sr;
        other.receipt.session_id += Fr::from(1u64);
        assert_eq!(
            other.verify(&vk),
            Err(ReceiptError::Signature(SignatureError::Equation))
        );
        // Signed by another key (A14 natively).
        let stranger = SigningKey::from_seed([10; 32]).expect("test key");
        assert!(sr.verify(&stranger.verifying_key()).is_err());
    }

    #[test]
    fn s_plus_l_and_bad_points_rejected_at_decode() {
        let (_, sr) = fixture();
        let bytes = sr.to_bytes();
        // A12/B12: S + l.
        let mut b = bytes;
        let s_plus_l = add_l(&sr.signature.s.inner().into_bigint());
        b[SIG_AT + 64..].copy_from_slice(&s_plus_l.to_bytes_be());
        assert_eq!(
            SignedReceipt::from_bytes(&b),
            Err(EncodingError::NonCanonicalScalar)
        );
        // B12: low-order R, identity R.
        for p in [
            order_two(),
            order_eight(),
            crate::eddsa::testing::identity(),
        ] {
            let mut b = bytes;
            b[SIG_AT..SIG_AT + 64].copy_from_slice(&affine_bytes(&p));
            assert!(matches!(
                SignedReceipt::from_bytes(&b),
                Err(EncodingError::InvalidPoint(_))
            ));
            // A13: such a point is not a session key either.
            assert!(VerifyingKey::from_bytes(&affine_bytes(&p)).is_err());
        }
        // B11: R.y >= p (all ones is above r).
        let mut b = bytes;
        b[SIG_AT + 32..SIG_AT + 64].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            SignedReceipt::from_bytes(&b),
            Err(EncodingError::NonCanonicalField)
        );
        // Session id >= r.
        let mut b = bytes;
        b[1..33].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            SignedReceipt::from_bytes(&b),
            Err(EncodingError::NonCanonicalField)
        );
    }

    #[test]
    fn version_and_length_checked() {
        let (_, sr) = fixture();
        let bytes = sr.to_bytes();
        let mut b = bytes;
        b[0] = 2;
        assert_eq!(
            SignedReceipt::from_bytes(&b),
            Err(EncodingError::Version(2))
        );
        assert!(SignedReceipt::from_bytes(&bytes[..136]).is_err());
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(SignedReceipt::from_bytes(&long).is_err());
    }

    #[test]
    fn monotonicity() {
        let sid = Fr::from(5u64);
        let r1 = Receipt {
            session_id: sid,
            kib: 10,
        };
        let r2 = Receipt {
            session_id: sid,
            kib: 11,
        };
        let other = Receipt {
            session_id: Fr::from(6u64),
            kib: 99,
        };
        assert!(r2.is_newer_than(&r1));
        assert!(!r1.is_newer_than(&r2));
        assert!(!r1.is_newer_than(&r1));
        assert!(!other.is_newer_than(&r1));
        assert_eq!(r2.check_successor(&sid, Some(&r1)), Ok(()));
        assert_eq!(r1.check_successor(&sid, None), Ok(()));
        assert_eq!(
            r1.check_successor(&sid, Some(&r2)),
            Err(ReceiptError::NotNewer { got: 10, last: 11 })
        );
        assert_eq!(
            other.check_successor(&sid, Some(&r1)),
            Err(ReceiptError::WrongSession)
        );
    }

    /// Decode, then verify, as before: the oracle of `decode_verify`.
    fn decode_then_verify(
        bytes: &[u8],
        vk: &VerifyingKey,
    ) -> Result<SignedReceipt, SignatureCheckError> {
        let sr = SignedReceipt::from_bytes(bytes)?;
        match sr.verify(vk) {
            Ok(()) => Ok(sr),
            Err(ReceiptError::Signature(e)) => Err(e.into()),
            Err(e) => panic!("verify gave {e:?}"),
        }
    }

    /// `decode_verify` under the plain and the prepared key, checked equal
    /// to [`decode_then_verify`].
    fn one_step(
        bytes: &[u8],
        vk: &VerifyingKey,
        prepared: &PreparedVerifyingKey,
    ) -> Result<SignedReceipt, SignatureCheckError> {
        let want = decode_then_verify(bytes, vk);
        assert_eq!(
            SignedReceipt::decode_verify(bytes, vk),
            want,
            "{}",
            hex::encode(bytes)
        );
        assert_eq!(
            SignedReceipt::decode_verify(bytes, prepared),
            want,
            "{}",
            hex::encode(bytes)
        );
        if let Ok(sr) = SignedReceipt::from_bytes(bytes) {
            assert_eq!(sr.verify(prepared), sr.verify(vk));
        }
        want
    }

    #[test]
    fn decode_verify_agrees_on_edge_cases() {
        use ark_ec::{AffineRepr, CurveGroup};
        let (key, sr) = fixture();
        let vk = key.verifying_key();
        let prepared = vk.prepare();
        let bytes = sr.to_bytes();
        assert_eq!(one_step(&bytes, &vk, &prepared), Ok(sr));
        let r = sr.signature.r.to_affine();
        let mut cases = Vec::new();
        for p in [
            order_two(),
            order_eight(),
            identity(),
            off_curve(),
            (r + order_two()).into_affine(),
            (r + order_eight()).into_affine(),
            crate::babyjubjub::EdwardsAffine::generator(),
        ] {
            let mut b = bytes;
            b[SIG_AT..SIG_AT + 64].copy_from_slice(&affine_bytes(&p));
            cases.push(b);
        }
        let s_plus_l = add_l(&sr.signature.s.inner().into_bigint()).to_bytes_be();
        for base in cases.clone() {
            let mut b = base;
            b[SIG_AT + 64..].copy_from_slice(&s_plus_l);
            cases.push(b);
        }
        let mut b = bytes;
        b[0] = 2;
        cases.push(b);
        b = bytes;
        b[1..33].copy_from_slice(&[0xff; 32]);
        cases.push(b);
        b = bytes;
        b[40] ^= 1; // kib
        cases.push(b);
        for b in &cases {
            assert!(one_step(b, &vk, &prepared).is_err());
        }
        assert!(one_step(&bytes[..136], &vk, &prepared).is_err());
        let other = SigningKey::from_seed([10; 32])
            .expect("test key")
            .verifying_key();
        assert!(one_step(&bytes, &other, &other.prepare()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn decode_verify_agrees_on_any_bit_flip(pos in 0usize..SIGNED_RECEIPT_BYTES, bit in 0u8..8) {
            let (key, sr) = fixture();
            let vk = key.verifying_key();
            let mut b = sr.to_bytes();
            b[pos] ^= 1 << bit;
            prop_assert!(one_step(&b, &vk, &vk.prepare()).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_byte_flip_is_refused(pos in 0usize..SIGNED_RECEIPT_BYTES, bit in 0u8..8) {
            let (key, sr) = fixture();
            let mut b = sr.to_bytes();
            b[pos] ^= 1 << bit;
            if let Ok(decoded) = SignedReceipt::from_bytes(&b) {
                prop_assert!(decoded.verify(&key.verifying_key()).is_err());
            }
        }
    }
}
