//! Client → node relay commands, parsed once from `ClientFrame`s
//! (`docs/protocol.md` §9.3–§9.5).
//!
//! Everything a frame carries is decoded here (ids, signatures, receipts,
//! voucher spends, nonces); what depends on the connection's state (is the
//! session known, is the stream open) is the state machine's
//! ([`super::conn`]).
use veil_primitives::eddsa::Signature;
use veil_primitives::error::EncodingError;
use veil_primitives::field::{Fr, fr_from_slice};
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::UncheckedReceipt;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::client_frame::Frame;

use crate::voucher_desk::DeskError;
use crate::vouchers::VoucherPayment;

/// One client frame, decoded.
#[derive(Debug)]
pub(crate) enum RelayCommand {
    /// Open a stream to `host:port` (§9.4).
    Open(OpenStream),
    /// Client bytes for a stream's upstream.
    Data { stream: u32, bytes: Vec<u8> },
    /// The client is done sending on a stream (half-close, §9.4).
    Close { stream: u32 },
    /// A signed receipt for the bound session (§9.3).
    /// Decoded but for `R`'s subgroup check and `S < l`, which verification
    /// settles ([`UncheckedReceipt::verify`], off the relay loop).
    Receipt(Box<UncheckedReceipt>),
    /// A liveness challenge to the node key (§9.5); `raw` is echoed back.
    Challenge { nonce: Fr, raw: Vec<u8> },
}

/// An `Open` frame.
#[derive(Debug)]
pub(crate) struct OpenStream {
    pub stream: u32,
    pub payment: Payment,
    pub host: String,
    /// As sent: the wire's `uint32`; range-checked in order by the
    /// state machine (an out-of-range port is an egress refusal).
    pub port: u32,
}

/// How an `Open` pays.
#[derive(Debug)]
pub(crate) enum Payment {
    /// From a session: binds this Relay to it on first use. `auth` is
    /// `None` when `session_auth` is not a signature encoding (§9.4).
    Session {
        id: SessionId,
        auth: Option<Signature>,
    },
    /// A voucher spend, decoded but not yet checked (docs/vouchers.md §9).
    Voucher(VoucherPayment),
}

/// Why a frame could not be decoded. Each is answered with an `Error`
/// frame ([`ParseError::code`], [`ParseError::stream`]) and changes nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("empty frame")]
    Empty,
    #[error("open without payment")]
    NoPayment { stream: u32 },
    #[error("session id")]
    SessionId { stream: u32 },
    #[error("{error}")]
    Voucher { stream: u32, error: DeskError },
    #[error("receipt: {0}")]
    Receipt(EncodingError),
    #[error("challenge nonce: {0}")]
    ChallengeNonce(EncodingError),
}

impl ParseError {
    /// The relay `Error` code reported for it.
    pub fn code(&self) -> pb::ErrorCode {
        match self {
            ParseError::Voucher { error, .. } => error.error_code(),
            _ => pb::ErrorCode::Malformed,
        }
    }

    /// The stream the refused frame named (0 for none).
    pub fn stream(&self) -> u32 {
        match self {
            ParseError::NoPayment { stream }
            | ParseError::SessionId { stream }
            | ParseError::Voucher { stream, .. } => *stream,
            _ => 0,
        }
    }
}

impl TryFrom<pb::ClientFrame> for RelayCommand {
    type Error = ParseError;

    fn try_from(f: pb::ClientFrame) -> Result<Self, ParseError> {
        Ok(match f.frame.ok_or(ParseError::Empty)? {
            Frame::Open(open) => RelayCommand::Open(OpenStream::try_from(open)?),
            Frame::Data(d) => RelayCommand::Data {
                stream: d.stream_id,
                bytes: d.bytes,
            },
            Frame::Close(c) => RelayCommand::Close {
                stream: c.stream_id,
            },
            Frame::Receipt(r) => RelayCommand::Receipt(Box::new(
                UncheckedReceipt::from_bytes(&r.signed_receipt).map_err(ParseError::Receipt)?,
            )),
            Frame::Challenge(c) => RelayCommand::Challenge {
                nonce: fr_from_slice(&c.nonce).map_err(ParseError::ChallengeNonce)?,
                raw: c.nonce,
            },
        })
    }
}

impl TryFrom<pb::Open> for OpenStream {
    type Error = ParseError;

    fn try_from(open: pb::Open) -> Result<Self, ParseError> {
        let stream = open.stream_id;
        let payment = match open.payment {
            Some(pb::open::Payment::VoucherSpend(v)) => Payment::Voucher(
                VoucherPayment::decode(&v)
                    .map_err(|error| ParseError::Voucher { stream, error })?,
            ),
            Some(pb::open::Payment::SessionId(id)) => Payment::Session {
                id: SessionId::from_slice(&id).map_err(|_| ParseError::SessionId { stream })?,
                auth: Signature::from_slice(&open.session_auth).ok(),
            },
            None => return Err(ParseError::NoPayment { stream }),
        };
        Ok(OpenStream {
            stream,
            payment,
            host: open.host,
            port: open.port,
        })
    }
}
