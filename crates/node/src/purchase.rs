//! Buying a voucher with an escrow session: the sans-IO checks and the
//! reservation of the session (`docs/vouchers.md` §9.2), in the shape of
//! [`crate::metering`]. No I/O, no clock: the caller passes the ledger
//! height and the session's meter, and does the issuing and recording
//! ([`crate::voucher_desk`]) between [`Purchase::reserve`] and
//! [`Purchase::commit`] / [`Purchase::release`].
//!
//! ```text
//!           ┌─ unused session ─▶ Reserved ──commit──▶ Committed
//! reserve ──┤                       └──release──▶ Released (serves again)
//!           └─ used session ───▶ Retry (only the recorded request goes on)
//! ```
use sha2::{Digest, Sha256};
use veil_primitives::eddsa::{Signature, VerifyingKey};
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::{KIB, SignedReceipt};
use veil_vouchers::context::purchase_message;
use veil_vouchers::{Balance, IssuanceRequest};

use crate::metering::{ReceiptError, SessionState, SessionTerms, VerifiedReceipt};
use crate::voucher_desk::DeskError;

/// A decoded `BuyVoucher` request (§9.2 step 3).
#[derive(Clone, Debug)]
pub struct PurchaseOrder {
    pub session_id: SessionId,
    /// The blind issuance request, decoded.
    pub request: IssuanceRequest,
    /// Its bytes as received (signed by the session key).
    pub request_bytes: Vec<u8>,
    /// The receipt for the session's full credit.
    pub receipt: SignedReceipt,
    /// The session key's signature on the purchase message.
    pub authorization: Signature,
}

impl PurchaseOrder {
    /// SHA-256 of the request bytes: what a retry must repeat.
    pub fn request_digest(&self) -> [u8; 32] {
        Sha256::digest(&self.request_bytes).into()
    }
}

/// Why a purchase was refused. A refusal changes no state.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    #[error("unknown session")]
    UnknownSession,
    #[error("purchase not signed by the session key")]
    NotAuthorised,
    #[error("receipt is for another session")]
    ForeignReceipt,
    #[error("receipt: {0}")]
    BadReceipt(#[from] veil_primitives::receipt::ReceiptError),
    #[error("the receipt must cover the session's full credit ({credit} KiB), not {kib} KiB")]
    NotFullCredit { credit: u64, kib: u64 },
    #[error("session expired")]
    Expired,
    #[error("session already used (relayed bytes, receipts or another voucher)")]
    SessionUsed,
    /// The meter refused the receipt at commit.
    #[error("receipt: {0}")]
    Meter(ReceiptError),
    #[error(transparent)]
    Desk(#[from] DeskError),
}

/// Checks an order against its session before anything changes (§9.2
/// step 4): the session key signed the purchase message; the receipt names
/// the session, is signed by the session key and is for exactly the
/// credit; the session has not expired.
pub fn check_order(
    order: &PurchaseOrder,
    session_key: &VerifyingKey,
    terms: &SessionTerms,
    now: BlockHeight,
) -> Result<(), PurchaseError> {
    let message = purchase_message(&order.session_id.to_bytes(), &order.request_bytes);
    session_key
        .verify(&message, &order.authorization)
        .map_err(|_| PurchaseError::NotAuthorised)?;
    if SessionId::from_fr(order.receipt.receipt.session_id) != order.session_id {
        return Err(PurchaseError::ForeignReceipt);
    }
    order.receipt.verify(session_key)?;
    if order.receipt.receipt.kib != terms.credit_kib {
        return Err(PurchaseError::NotFullCredit {
            credit: terms.credit_kib,
            kib: order.receipt.receipt.kib,
        });
    }
    if now > terms.expiry {
        return Err(PurchaseError::Expired);
    }
    Ok(())
}

/// The state of one purchase with respect to its session's meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purchase {
    /// The session was unused and is reserved: its meter is exhausted, it
    /// serves nothing, until the purchase commits or is released.
    Reserved(SessionTerms),
    /// The session was already used: only a retry of the purchase recorded
    /// for it may go on; the meter is left alone.
    Retry(SessionTerms),
    /// The voucher is issued and recorded; the receipt is the session's.
    Committed,
    /// Refused after reserving: the session is unused again.
    Released,
}

impl Purchase {
    /// Reserves the session behind `meter` if nothing was served on it and
    /// it holds no receipt (under the caller's meter lock).
    pub fn reserve<R: Clone>(meter: &mut SessionState<R>) -> Self {
        let terms = *meter.terms();
        let unused = matches!(meter, SessionState::Opened(_) | SessionState::Active(_))
            && meter.served_bytes() == 0
            && meter.highest().is_none();
        if !unused {
            return Purchase::Retry(terms);
        }
        *meter = SessionState::restore(terms, terms.credit_kib.saturating_mul(KIB), None);
        Purchase::Reserved(terms)
    }

    /// The voucher balance the session paid for.
    pub fn credit(&self) -> Option<Balance> {
        match self {
            Purchase::Reserved(t) | Purchase::Retry(t) => Some(Balance::from_kib(t.credit_kib)),
            _ => None,
        }
    }

    /// Whether only a retry of the recorded request may go on.
    pub fn is_retry(&self) -> bool {
        matches!(self, Purchase::Retry(_))
    }

    /// The purchase failed: a reservation is released (the session may
    /// serve again) unless a receipt arrived meanwhile.
    pub fn release<R: Clone>(self, meter: &mut SessionState<R>) -> Self {
        if let Purchase::Reserved(terms) = self
            && meter.highest().is_none()
            && matches!(meter, SessionState::Exhausted(_))
        {
            *meter = SessionState::new(terms);
        }
        Purchase::Released
    }

    /// The voucher is issued and recorded with `receipt`: the receipt
    /// becomes the session's highest (held for settlement) unless the
    /// meter already holds one (a retry).
    pub fn commit(
        self,
        meter: &mut SessionState<SignedReceipt>,
        receipt: SignedReceipt,
        now: BlockHeight,
    ) -> Result<Self, PurchaseError> {
        if meter.highest().is_none() {
            let verified = VerifiedReceipt {
                session_id: meter.terms().session_id,
                kib: receipt.receipt.kib,
                receipt,
            };
            meter
                .accept_receipt(verified, now)
                .map_err(PurchaseError::Meter)?;
        }
        Ok(Purchase::Committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::ServeError;
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::field::fr_from_u64;
    use veil_primitives::receipt::Receipt;

    const CREDIT: u64 = 100;

    fn terms() -> SessionTerms {
        SessionTerms {
            session_id: SessionId::from_fr(fr_from_u64(7)),
            credit_kib: CREDIT,
            interval_kib: 10,
            expiry: BlockHeight(50),
        }
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32]).unwrap()
    }

    fn receipt(sk: &SigningKey, session: u64, kib: u64) -> SignedReceipt {
        Receipt {
            session_id: fr_from_u64(session),
            kib,
        }
        .sign(sk)
    }

    /// An order signed by `signer`, paid by a receipt signed by `payer`.
    fn order(signer: &SigningKey, rcpt: SignedReceipt) -> PurchaseOrder {
        let session_id = terms().session_id;
        let request_bytes = vec![1, 2, 3];
        let m = purchase_message(&session_id.to_bytes(), &request_bytes);
        let (request, _) = veil_vouchers::Credential::request_issuance(
            veil_vouchers::IssuerSecretKey::generate(
                veil_vouchers::Epoch::new(0),
                &mut rand::thread_rng(),
            )
            .public_key(),
            veil_vouchers::NodeId::new([1; 32]),
            Balance::from_kib(CREDIT),
            b"ctx",
            &mut rand::thread_rng(),
        );
        PurchaseOrder {
            session_id,
            request,
            request_bytes,
            receipt: rcpt,
            authorization: signer.sign(&m),
        }
    }

    #[test]
    fn a_valid_order_passes_and_every_bad_one_is_refused() {
        let (sk, other) = (key(1), key(2));
        let vk = sk.verifying_key();
        let now = BlockHeight(10);
        let ok = order(&sk, receipt(&sk, 7, CREDIT));
        assert!(check_order(&ok, &vk, &terms(), now).is_ok());
        let refused = |o: &PurchaseOrder, now| check_order(o, &vk, &terms(), now).unwrap_err();
        assert!(matches!(
            refused(&order(&other, receipt(&sk, 7, CREDIT)), now),
            PurchaseError::NotAuthorised
        ));
        let mut altered = ok.clone();
        altered.request_bytes.push(0);
        assert!(matches!(
            refused(&altered, now),
            PurchaseError::NotAuthorised
        ));
        assert!(matches!(
            refused(&order(&sk, receipt(&sk, 8, CREDIT)), now),
            PurchaseError::ForeignReceipt
        ));
        assert!(matches!(
            refused(&order(&sk, receipt(&other, 7, CREDIT)), now),
            PurchaseError::BadReceipt(_)
        ));
        assert!(matches!(
            refused(&order(&sk, receipt(&sk, 7, CREDIT - 1)), now),
            PurchaseError::NotFullCredit { .. }
        ));
        assert!(matches!(
            refused(&ok, BlockHeight(51)),
            PurchaseError::Expired
        ));
    }

    #[test]
    fn a_reserved_session_serves_nothing_and_a_release_restores_it() {
        let mut meter = SessionState::<SignedReceipt>::new(terms());
        let p = Purchase::reserve(&mut meter);
        assert_eq!(p, Purchase::Reserved(terms()));
        assert_eq!(p.credit(), Some(Balance::from_kib(CREDIT)));
        assert!(matches!(
            meter.clone().serve(1, BlockHeight(1)),
            Err(ServeError::CreditExhausted { .. })
        ));
        // A second purchase on the reserved session is only a retry.
        assert!(Purchase::reserve(&mut meter).is_retry());
        assert_eq!(p.release(&mut meter), Purchase::Released);
        assert_eq!(meter, SessionState::new(terms()));
    }

    #[test]
    fn a_used_session_is_not_reserved_and_release_leaves_it_alone() {
        let mut meter = SessionState::<SignedReceipt>::new(terms());
        meter.serve(1, BlockHeight(1)).unwrap();
        let before = meter.clone();
        let p = Purchase::reserve(&mut meter);
        assert!(p.is_retry());
        assert_eq!(meter, before);
        p.release(&mut meter);
        assert_eq!(meter, before);
    }

    #[test]
    fn commit_holds_the_receipt_for_settlement_once() {
        let sk = key(1);
        let mut meter = SessionState::<SignedReceipt>::new(terms());
        let p = Purchase::reserve(&mut meter);
        let r = receipt(&sk, 7, CREDIT);
        let now = BlockHeight(2);
        assert_eq!(p.commit(&mut meter, r, now).unwrap(), Purchase::Committed);
        assert_eq!(meter.highest().map(|(k, _)| *k), Some(CREDIT));
        // A retry commits again without touching the held receipt.
        let again = Purchase::reserve(&mut meter);
        assert!(again.is_retry());
        assert!(again.commit(&mut meter, r, now).is_ok());
        assert_eq!(meter.highest().map(|(k, _)| *k), Some(CREDIT));
    }
}
