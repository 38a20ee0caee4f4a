//! The node's voucher hooks (`docs/vouchers.md` §9): the `BuyVoucher`
//! pipeline over the sans-IO [`crate::purchase`] and the
//! [`VoucherDesk`](crate::voucher_desk::VoucherDesk), and the hooks the
//! relay uses for voucher-paid streams.
use std::sync::Arc;

use veil_ledger::LedgerApi;
use veil_primitives::field::fr_from_u64;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_proto::node::v1 as pb;
use veil_vouchers::context::VoucherNonce;
use veil_vouchers::{
    Balance, IssuanceResponse, IssuerPublicKey, SpendError, SpendRequest, SpendResponse,
};

use crate::metering::SessionTerms;
use crate::purchase::{Purchase, PurchaseError, PurchaseOrder, check_order};
use crate::session::SessionSlot;
use crate::state::Inner;
use crate::sync::lock;
use crate::voucher_desk::DeskError;
use crate::voucher_keys::{EpochRefused, UnixSecs};

impl<L: LedgerApi> Inner<L> {
    /// The voucher key published in `GetTerms`.
    pub(crate) fn voucher_key(&self) -> IssuerPublicKey {
        self.vouchers.current_key()
    }

    /// `VoucherChallenge`: a fresh single-use nonce.
    pub(crate) fn voucher_challenge(&self) -> Result<VoucherNonce, DeskError> {
        self.vouchers.issue_challenge()
    }

    /// `BuyVoucher` (§9.2): the session must exist, be authorised by its
    /// session key, come with a receipt for its full credit, and be unused
    /// (nothing served, no receipt). The session is reserved first (it
    /// serves nothing more), the voucher issued and recorded once together
    /// with the receipt, and the receipt held for settlement.
    pub(crate) async fn buy_voucher(
        self: &Arc<Self>,
        order: PurchaseOrder,
    ) -> Result<IssuanceResponse, PurchaseError> {
        let slot = self
            .session(&order.session_id)
            .ok_or(PurchaseError::UnknownSession)?;
        let terms = *lock(&slot.state).terms();
        let now = self.height();
        check_order(&order, &slot.session_key, &terms, now)?;
        let purchase = Purchase::reserve(&mut lock(&slot.state));
        match self.issue_and_record(&order, &purchase, terms).await {
            Ok(response) => {
                purchase.commit(&mut lock(&slot.state), order.receipt, now)?;
                Ok(response)
            }
            Err(e) => {
                purchase.release(&mut lock(&slot.state));
                Err(e)
            }
        }
    }

    /// Issues the voucher and commits it with the receipt (one
    /// transaction, blocking pool). On a used session only a retry of the
    /// recorded request goes on.
    async fn issue_and_record(
        &self,
        order: &PurchaseOrder,
        purchase: &Purchase,
        terms: SessionTerms,
    ) -> Result<IssuanceResponse, PurchaseError> {
        let desk = self.vouchers.clone();
        let order = order.clone();
        let digest = order.request_digest();
        let retry = purchase.is_retry();
        let credit = Balance::from_kib(terms.credit_kib);
        tokio::task::spawn_blocking(move || {
            if retry {
                let recorded = desk.purchase_of(&order.session_id)?;
                if recorded.map(|r| r.request_digest) != Some(digest) {
                    return Err(PurchaseError::SessionUsed);
                }
            }
            let response = desk.purchase(
                &order.session_id,
                credit,
                &order.request,
                digest,
                &order.receipt,
            )?;
            Ok(response)
        })
        .await
        .map_err(|_| PurchaseError::Desk(DeskError::Task))?
    }
}

// ------------------------------------------------------------- exchange

/// An `ExchangeVoucher` request, decoded but not yet checked.
#[derive(Debug)]
pub(crate) struct VoucherExchange {
    request: SpendRequest,
    nonce: VoucherNonce,
}

impl VoucherExchange {
    /// Decodes the nonce and the spend request (canonical encodings).
    pub(crate) fn decode(v: &pb::ExchangeVoucherRequest) -> Result<Self, DeskError> {
        let nonce: VoucherNonce = v
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| DeskError::UnknownChallenge)?;
        let request = SpendRequest::from_bytes(&v.spend_request)?;
        Ok(Self { request, nonce })
    }
}

impl<L: LedgerApi> Inner<L> {
    /// `ExchangeVoucher` (§3.2): a previous-epoch credential for a
    /// current-epoch one during the grace period, on the blocking pool.
    pub(crate) async fn exchange_voucher(
        &self,
        exchange: VoucherExchange,
    ) -> Result<SpendResponse, DeskError> {
        let desk = self.vouchers.clone();
        let (_, response) = tokio::task::spawn_blocking(move || {
            desk.exchange(&exchange.request, &exchange.nonce, UnixSecs::now())
        })
        .await
        .map_err(|_| DeskError::Task)??;
        Ok(response)
    }
}

// ------------------------------------------------------------ relay hooks

impl DeskError {
    /// The relay `Error` code of a refused voucher-paid `Open`.
    pub(crate) fn error_code(&self) -> pb::ErrorCode {
        match self {
            DeskError::Spend(SpendError::AlreadySpent) => pb::ErrorCode::VoucherSpent,
            DeskError::Epoch(EpochRefused::GraceOver { .. }) => pb::ErrorCode::VoucherEpochExpired,
            DeskError::Spend(SpendError::Store(_))
            | DeskError::Store(_)
            | DeskError::Key(_)
            | DeskError::KeyFile(_)
            | DeskError::Task => pb::ErrorCode::Internal,
            DeskError::UnknownChallenge | DeskError::TooManyChallenges => {
                pb::ErrorCode::VoucherChallengeUnknown
            }
            DeskError::Malformed(_) | DeskError::ZeroSpend => pb::ErrorCode::Malformed,
            _ => pb::ErrorCode::VoucherInvalid,
        }
    }
}

/// A voucher payment carried by an `Open`, decoded but not yet checked.
#[derive(Debug)]
pub(crate) struct VoucherPayment {
    request: SpendRequest,
    nonce: VoucherNonce,
}

impl VoucherPayment {
    /// Decodes `Open.voucher_spend` (canonical encodings, non-zero amount).
    pub(crate) fn decode(v: &pb::VoucherSpend) -> Result<Self, DeskError> {
        let nonce: VoucherNonce = v
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| DeskError::UnknownChallenge)?;
        let request = SpendRequest::from_bytes(&v.spend_request)?;
        if request.amount() == Balance::ZERO {
            return Err(DeskError::ZeroSpend);
        }
        Ok(Self { request, nonce })
    }

    /// The KiB this payment buys for its stream.
    pub(crate) fn amount(&self) -> Balance {
        self.request.amount()
    }
}

/// The meter of one voucher-paid stream: `amount` KiB, no receipts (one
/// interval spans the whole credit), no expiry. It never enters the session
/// table, so settlement never sees it; its session key is never used.
pub(crate) fn stream_slot<L>(inner: &Inner<L>, amount: Balance) -> Arc<SessionSlot> {
    let terms = SessionTerms {
        session_id: SessionId::from_fr(fr_from_u64(0)),
        credit_kib: amount.kib(),
        interval_kib: amount.kib().max(1),
        expiry: BlockHeight(u64::MAX),
    };
    Arc::new(SessionSlot::new(inner.node_key.verifying_key(), terms))
}

/// Checks and records a stream's voucher payment once its upstream
/// connection is up (so a failed connect never costs the client), and
/// builds the `VoucherAccepted` frame with the re-issued credential.
pub(crate) async fn pay_stream<L: LedgerApi>(
    inner: &Arc<Inner<L>>,
    payment: VoucherPayment,
    stream_id: u32,
    host: &str,
    port: u16,
) -> Result<pb::VoucherAccepted, DeskError> {
    let desk = inner.vouchers.clone();
    let host = host.to_owned();
    let (verified, response) = tokio::task::spawn_blocking(move || {
        desk.spend(
            &payment.request,
            &payment.nonce,
            &host,
            port,
            UnixSecs::now(),
        )
    })
    .await
    .map_err(|_| DeskError::Task)??;
    Ok(pb::VoucherAccepted {
        stream_id,
        amount_kib: verified.amount.kib(),
        spend_response: response.to_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_vouchers::context::NONCE_BYTES;

    proptest::proptest! {
        /// Untrusted voucher payments never panic the decoder; only exact
        /// lengths can decode.
        #[test]
        fn payment_decoder_never_panics(
            nonce in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            spend in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
        ) {
            let decoded = VoucherPayment::decode(&pb::VoucherSpend {
                nonce: nonce.clone(),
                spend_request: spend.clone(),
            });
            if nonce.len() != NONCE_BYTES || spend.len() != SpendRequest::ENCODED_LEN {
                proptest::prop_assert!(decoded.is_err());
            }
        }

        /// The same for `ExchangeVoucher` requests.
        #[test]
        fn exchange_decoder_never_panics(
            nonce in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            spend in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
        ) {
            let decoded = VoucherExchange::decode(&pb::ExchangeVoucherRequest {
                version: 1,
                nonce: nonce.clone(),
                spend_request: spend.clone(),
            });
            if nonce.len() != NONCE_BYTES || spend.len() != SpendRequest::ENCODED_LEN {
                proptest::prop_assert!(decoded.is_err());
            }
        }
    }
}
