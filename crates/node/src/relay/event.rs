//! Node → client relay events, and the one place they become `NodeFrame`s
//! (`docs/protocol.md` §9.3–§9.5).
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_frame::Frame;

use crate::metering::{Position, ReceiptError, ServeError};

/// A refusal reported with an `Error` frame (`stream` 0: not about a stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: pb::ErrorCode,
    pub message: String,
    pub stream: u32,
}

impl Refusal {
    pub fn new(code: pb::ErrorCode, message: impl Into<String>, stream: u32) -> Self {
        Self {
            code,
            message: message.into(),
            stream,
        }
    }
}

/// What the node tells the client on a `Relay` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The stream's upstream connection is up (§9.4).
    Opened { stream: u32 },
    /// Upstream bytes, already charged to the stream's payer.
    Data { stream: u32, bytes: Vec<u8> },
    /// Upstream reached end of stream; no more `Data` follows (§9.4).
    Eof { stream: u32 },
    /// The stream is freed.
    Closed {
        stream: u32,
        reason: pb::CloseReason,
        message: String,
    },
    /// A receipt was checked, stored and applied (§9.3).
    ReceiptAck { kib: u64, allowance_kib: u64 },
    /// The node key's signature of `H(NONCE, nonce)` (§9.5).
    ChallengeResponse { nonce: Vec<u8>, signature: Vec<u8> },
    /// The allowance is running low: a receipt is due (§9.3).
    CreditLow(Position),
    /// A refused frame; changes nothing unless a `Closed` follows.
    Error(Refusal),
    /// A voucher-paid stream's payment was accepted (docs/vouchers.md §9).
    VoucherAccepted(pb::VoucherAccepted),
}

impl Event {
    pub fn closed(stream: u32, reason: pb::CloseReason, message: impl Into<String>) -> Self {
        Event::Closed {
            stream,
            reason,
            message: message.into(),
        }
    }

    pub fn error(code: pb::ErrorCode, message: impl Into<String>, stream: u32) -> Self {
        Event::Error(Refusal::new(code, message, stream))
    }
}

impl From<Event> for pb::NodeFrame {
    fn from(event: Event) -> Self {
        let frame = match event {
            Event::Opened { stream } => Frame::Opened(pb::Opened { stream_id: stream }),
            Event::Data { stream, bytes } => Frame::Data(pb::Data {
                stream_id: stream,
                bytes,
            }),
            Event::Eof { stream } => Frame::Eof(pb::Eof { stream_id: stream }),
            Event::Closed {
                stream,
                reason,
                message,
            } => Frame::Closed(pb::Closed {
                stream_id: stream,
                reason: reason as i32,
                message,
            }),
            Event::ReceiptAck { kib, allowance_kib } => {
                Frame::ReceiptAck(pb::ReceiptAck { kib, allowance_kib })
            }
            Event::ChallengeResponse { nonce, signature } => {
                Frame::ChallengeResponse(pb::ChallengeResponse { nonce, signature })
            }
            Event::CreditLow(pos) => Frame::CreditLow(pb::CreditLow {
                served_kib: pos.served_kib,
                receipted_kib: pos.receipted_kib,
                limit_kib: pos.limit_kib,
            }),
            Event::Error(r) => Frame::Error(pb::Error {
                code: r.code as i32,
                message: r.message,
                stream_id: r.stream,
            }),
            Event::VoucherAccepted(v) => Frame::VoucherAccepted(v),
        };
        pb::NodeFrame { frame: Some(frame) }
    }
}

/// The `Error` code and the `Closed` reason of bytes the meter refuses.
pub(crate) fn serve_error_code(e: ServeError) -> (pb::ErrorCode, pb::CloseReason) {
    match e {
        ServeError::Expired | ServeError::Closed => (
            pb::ErrorCode::SessionExpired,
            pb::CloseReason::SessionExpired,
        ),
        ServeError::ReceiptRequired { .. } | ServeError::CreditExhausted { .. } => (
            pb::ErrorCode::CreditExhausted,
            pb::CloseReason::CreditExhausted,
        ),
    }
}

/// The `Error` code of a refused receipt.
pub(crate) fn receipt_error_code(e: ReceiptError) -> pb::ErrorCode {
    match e {
        ReceiptError::Foreign => pb::ErrorCode::ReceiptForeign,
        ReceiptError::Stale { .. } | ReceiptError::Zero => pb::ErrorCode::ReceiptStale,
        ReceiptError::Expired | ReceiptError::Closed => pb::ErrorCode::SessionExpired,
    }
}
