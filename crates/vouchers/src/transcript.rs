//! Merlin transcripts and their domain separation (docs/vouchers.md §7).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;

use crate::types::{Epoch, KeyId, NodeId};

/// Transcript label of the issuance request's proof of opening.
pub(crate) const ISSUE_REQUEST_LABEL: &[u8] = b"veil.voucher.issue-request.v1";
/// Transcript label of the issuer's proof of correct issuance.
pub(crate) const ISSUE_LABEL: &[u8] = b"veil.voucher.issue.v1";
/// Transcript label of a spend (range proof and proof of knowledge).
pub(crate) const SPEND_LABEL: &[u8] = b"veil.voucher.spend.v1";
/// Transcript label of the issuer's proof of correct re-issuance.
pub(crate) const REISSUE_LABEL: &[u8] = b"veil.voucher.reissue.v1";
/// Transcript label of an epoch key's proof of well-formedness (§3.1).
pub(crate) const KEY_PROOF_LABEL: &[u8] = b"veil.voucher.key.v1";

/// Starts a transcript bound to the label, the node, the key and the
/// connection context, in the order of §7.
pub(crate) fn new_transcript(
    label: &'static [u8],
    node_id: &NodeId,
    key_id: &KeyId,
    epoch: Epoch,
    context: &[u8],
) -> Transcript {
    let mut t = Transcript::new(label);
    t.append_message(b"node-id", node_id.as_bytes());
    t.append_message(b"key-id", key_id.as_bytes());
    t.append_u64(b"epoch", epoch.get());
    t.append_message(b"context", context);
    t
}

pub(crate) trait TranscriptExt {
    fn append_point(&mut self, label: &'static [u8], point: &RistrettoPoint);
    fn append_scalar(&mut self, label: &'static [u8], scalar: &Scalar);
    fn challenge_scalar(&mut self, label: &'static [u8]) -> Scalar;
}

impl TranscriptExt for Transcript {
    fn append_point(&mut self, label: &'static [u8], point: &RistrettoPoint) {
        self.append_message(label, point.compress().as_bytes());
    }

    fn append_scalar(&mut self, label: &'static [u8], scalar: &Scalar) {
        self.append_message(label, scalar.as_bytes());
    }

    fn challenge_scalar(&mut self, label: &'static [u8]) -> Scalar {
        let mut buf = [0u8; 64];
        self.challenge_bytes(label, &mut buf);
        Scalar::from_bytes_mod_order_wide(&buf)
    }
}
