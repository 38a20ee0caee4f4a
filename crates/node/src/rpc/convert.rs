//! The domain layer at the proto edge: requests parsed once into domain
//! types (`TryFrom`), answers built from domain values.
use veil_primitives::eddsa::{Signature, VerifyingKey};
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::SignedReceipt;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;
use veil_vouchers::IssuanceRequest;
use veil_vouchers::context::VoucherNonce;

use crate::error::WireError;
use crate::metering::SessionTerms;
use crate::open::ACCESS_TOKEN_BYTES;
use crate::purchase::PurchaseOrder;
use crate::voucher_desk::CHALLENGE_TTL;

/// Checks a request's wire version (§9.2).
pub(crate) fn check_version(got: u32) -> Result<(), WireError> {
    if got == WIRE_VERSION {
        Ok(())
    } else {
        Err(WireError::Version {
            got,
            expected: WIRE_VERSION,
        })
    }
}

fn field(field: &'static str, e: impl std::fmt::Display) -> WireError {
    WireError::Field {
        field,
        reason: e.to_string(),
    }
}

/// A decoded `OpenSession` request; the token itself is decoded by the
/// proof backend in the open pipeline.
pub(crate) struct OpenRequest {
    pub access_token: Vec<u8>,
    pub session_key: VerifyingKey,
}

impl TryFrom<pb::OpenSessionRequest> for OpenRequest {
    type Error = WireError;

    fn try_from(req: pb::OpenSessionRequest) -> Result<Self, WireError> {
        check_version(req.version)?;
        if req.access_token.len() != ACCESS_TOKEN_BYTES {
            return Err(WireError::TokenLength {
                expected: ACCESS_TOKEN_BYTES,
                got: req.access_token.len(),
            });
        }
        let key: &[u8; 64] = req
            .session_public_key
            .as_slice()
            .try_into()
            .map_err(|_| WireError::SessionKeyLength)?;
        let session_key = VerifyingKey::from_bytes(key).map_err(|e| field("session key", e))?;
        Ok(Self {
            access_token: req.access_token,
            session_key,
        })
    }
}

impl TryFrom<pb::BuyVoucherRequest> for PurchaseOrder {
    type Error = WireError;

    fn try_from(req: pb::BuyVoucherRequest) -> Result<Self, WireError> {
        check_version(req.version)?;
        let session_id =
            SessionId::from_slice(&req.session_id).map_err(|e| field("session id", e))?;
        let request = IssuanceRequest::from_bytes(&req.issuance_request)
            .map_err(|e| field("malformed voucher message", e))?;
        let receipt =
            SignedReceipt::from_bytes(&req.full_receipt).map_err(|e| field("receipt", e))?;
        let authorization =
            Signature::from_slice(&req.authorization).map_err(|e| field("authorization", e))?;
        Ok(Self {
            session_id,
            request,
            request_bytes: req.issuance_request,
            receipt,
            authorization,
        })
    }
}

/// The answer to an accepted `OpenSession`.
pub(crate) fn opened(session_id: SessionId, terms: SessionTerms) -> pb::OpenSessionResponse {
    pb::OpenSessionResponse {
        version: WIRE_VERSION,
        session_id: session_id.to_bytes().to_vec(),
        credit_kib: terms.credit_kib,
        receipt_interval_kib: terms.interval_kib,
        expiry_height: terms.expiry.0,
    }
}

/// The answer to `VoucherChallenge`.
pub(crate) fn challenge(nonce: VoucherNonce) -> pb::VoucherChallengeResponse {
    pb::VoucherChallengeResponse {
        version: WIRE_VERSION,
        nonce: nonce.to_vec(),
        ttl_seconds: u32::try_from(CHALLENGE_TTL.as_secs()).unwrap_or(u32::MAX),
    }
}
