//! The per-connection relay state machine (`docs/protocol.md` §9.3–§9.5).
//!
//! One [`Conn`] per `Relay` call: the session it is bound to, its streams,
//! who pays for each, and client data parked until a receipt pays for it.
//! It does no I/O and reads no clock: it is fed [`RelayCommand`]s and the
//! ends of stream tasks, reads the ledger height and the session table
//! through [`Host`], and returns [`Action`]s for the shell (`super`) to
//! carry out in order.
//!
//! ```text
//! Open ──(paid, id free, egress ok)──▶ Connect ──▶ stream: Open send side
//!   Data: charged ──▶ Write            │ unpaid ──▶ parked (≤ MAX_PARKED_UPLOAD)
//!   Close ──▶ Shutdown (after parked)  │ Receipt ──▶ Check … Applied ──▶ drain parked … Stored ──▶ Ack
//!   task end / refusal ──▶ Release + Closed
//! ```
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use veil_ledger::types::NodeId;
use veil_primitives::eddsa::Signature;
use veil_primitives::field::Fr;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::{SignedReceipt, UncheckedReceipt, relay_bind_message};
use veil_proto::node::v1 as pb;
use veil_vouchers::Balance;

use super::command::{OpenStream, ParseError, Payment, RelayCommand};
use super::event::{Event, Refusal, receipt_error_code, serve_error_code};
use super::receipts::ReceiptCheck;
use crate::metering::{ReceiptError, ServeError, SessionState};
use crate::session::Meter;
use crate::state::{Metrics, SessionSlot, lock};
use crate::vouchers::VoucherPayment;

/// Client bytes a Relay (all its streams together) may hold back while they
/// wait for the receipt that pays for them (§9.3): an upload that arrives
/// just before the receipt for bytes still in flight to the client waits
/// for it instead of closing the stream. Beyond this the stream is closed
/// `CreditExhausted`. Per Relay, not per stream, so 256 streams cannot make
/// the node hold 256 MiB.
pub(crate) const MAX_PARKED_UPLOAD: usize = 1 << 20;

/// What the state machine reads from the node (the shell implements it on
/// the node state; tests on a table).
pub(crate) trait Host {
    /// The ledger height (the only clock).
    fn height(&self) -> BlockHeight;
    /// An open session's meter.
    fn session(&self, id: &SessionId) -> Option<Arc<SessionSlot>>;
    /// This node's id (bound into `session_auth`, §9.4).
    fn node_id(&self) -> NodeId;
    /// The node key's signature of `H(NONCE, nonce)` (§9.5).
    fn sign_challenge(&self, nonce: &Fr) -> Signature;
    /// A fresh meter for a voucher-paid stream of `amount` KiB.
    fn voucher_meter(&self, amount: Balance) -> Arc<SessionSlot>;
    /// Whether the egress policy allows `port` (the refusal's text if not).
    /// Whether a stream to `host:port` may open (before resolution).
    fn check_port(&self, host: &str, port: u16) -> Result<(), String>;
    fn max_streams(&self) -> usize;
    fn max_frame_bytes(&self) -> usize;
    fn metrics(&self) -> &Metrics;
}

/// Who pays for a stream.
#[derive(Debug)]
pub(crate) enum Payer {
    /// The session this Relay is bound to (§9.4).
    Session(Meter),
    /// A voucher spend with its own meter; the spend is checked once the
    /// upstream connection is up (docs/vouchers.md §9).
    Voucher {
        meter: Meter,
        payment: VoucherPayment,
    },
}

impl Payer {
    /// The meter the stream's bytes are charged to.
    pub fn meter(&self) -> &Meter {
        match self {
            Payer::Session(meter) | Payer::Voucher { meter, .. } => meter,
        }
    }
}

/// A stream to connect: the shell starts its upstream task.
#[derive(Debug)]
pub(crate) struct Connect {
    pub stream: u32,
    /// Tells this stream's end from that of an earlier stream of the same id.
    pub generation: u64,
    pub host: String,
    pub port: u16,
    pub payer: Payer,
}

/// A stream task's end: its id, its generation, and why it ended.
#[derive(Debug)]
pub(crate) struct StreamEnd {
    pub stream: u32,
    pub generation: u64,
    pub reason: pb::CloseReason,
    pub message: String,
}

/// What the shell must do, in order.
#[derive(Debug)]
pub(crate) enum Action {
    /// Send a frame to the client.
    Send(Event),
    /// Start a stream's upstream task.
    Connect(Connect),
    /// Write paid client bytes to a stream's upstream.
    Write { stream: u32, bytes: Vec<u8> },
    /// Half-close a stream's upstream write side (§9.4).
    Shutdown { stream: u32 },
    /// Forget a stream's upstream task, aborting it if still running.
    Release { stream: u32 },
    /// Hand a receipt to the Relay's receipt worker (`super::receipts`),
    /// whose verdicts come back through [`Conn::receipt_applied`] then
    /// [`Conn::receipt_stored`], or [`Conn::receipt_refused`]; a storage
    /// failure ends the call.
    Check(ReceiptCheck),
}

/// Whether the client may still send on a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendSide {
    Open,
    /// `Close` arrived while data was parked: shut down once it is through.
    CloseAfterParked,
    Closed,
}

struct Stream {
    generation: u64,
    meter: Meter,
    send: SendSide,
    /// Client data not yet paid for, in order.
    parked: VecDeque<Vec<u8>>,
    parked_bytes: usize,
}

/// One `Relay` call's state.
#[derive(Default)]
pub(crate) struct Conn {
    /// The session `Open`s with a session id bound this Relay to.
    bound: Option<(SessionId, Meter)>,
    streams: HashMap<u32, Stream>,
    generation: u64,
}

impl Conn {
    /// Whether any stream is open (an idle Relay with none is ended).
    pub fn has_streams(&self) -> bool {
        !self.streams.is_empty()
    }

    /// Applies one client command.
    pub fn apply(&mut self, cmd: RelayCommand, host: &impl Host) -> Vec<Action> {
        match cmd {
            RelayCommand::Open(open) => self.open(open, host),
            RelayCommand::Data { stream, bytes } => self.data(stream, bytes, host),
            RelayCommand::Close { stream } => self.close(stream),
            RelayCommand::Receipt(signed) => self.receipt(*signed, host),
            RelayCommand::Challenge { nonce, raw } => {
                let signature = host.sign_challenge(&nonce).to_bytes().to_vec();
                vec![Action::Send(Event::ChallengeResponse {
                    nonce: raw,
                    signature,
                })]
            }
        }
    }

    /// Answers a frame that could not be decoded. A bad receipt is a
    /// refused receipt (§9.3): counted, and followed by a drain like any.
    pub fn refuse(&mut self, e: ParseError, host: &impl Host) -> Vec<Action> {
        if let ParseError::Receipt(_) = e {
            let refusal = match self.bound {
                None => unbound_receipt(),
                Some(_) => Refusal::new(e.code(), e.to_string(), 0),
            };
            return self.receipt_refused(refusal, host);
        }
        vec![Action::Send(Event::Error(Refusal::new(
            e.code(),
            e.to_string(),
            e.stream(),
        )))]
    }

    /// A stream task ended: frees the stream unless it was already freed
    /// (and perhaps its id reused).
    pub fn stream_ended(&mut self, end: StreamEnd) -> Vec<Action> {
        let current = self.streams.get(&end.stream);
        if current.is_none_or(|s| s.generation != end.generation) {
            return Vec::new();
        }
        self.streams.remove(&end.stream);
        vec![
            Action::Release { stream: end.stream },
            Action::Send(Event::closed(end.stream, end.reason, end.message)),
        ]
    }

    fn open(&mut self, open: OpenStream, host: &impl Host) -> Vec<Action> {
        let id = open.stream;
        let payer = match self.payer(open.payment, id, host) {
            Ok(p) => p,
            Err(r) => return vec![Action::Send(Event::Error(r))],
        };
        let port = match self.admit(id, payer.meter(), (&open.host, open.port), host) {
            Ok(port) => port,
            Err(event) => return vec![Action::Send(event)],
        };
        self.generation += 1;
        self.streams.insert(
            id,
            Stream {
                generation: self.generation,
                meter: payer.meter().clone(),
                send: SendSide::Open,
                parked: VecDeque::new(),
                parked_bytes: 0,
            },
        );
        vec![Action::Connect(Connect {
            stream: id,
            generation: self.generation,
            host: open.host,
            port,
            payer,
        })]
    }

    /// Who pays for a new stream; binds this Relay to a session on its
    /// first session-paid `Open` (§9.4).
    fn payer(&mut self, payment: Payment, id: u32, host: &impl Host) -> Result<Payer, Refusal> {
        let (session_id, auth) = match payment {
            Payment::Voucher(payment) => {
                let meter = Meter(host.voucher_meter(payment.amount()));
                return Ok(Payer::Voucher { meter, payment });
            }
            Payment::Session { id, auth } => (id, auth),
        };
        if let Some((bound, meter)) = &self.bound {
            if *bound != session_id {
                return Err(Refusal::new(
                    pb::ErrorCode::SessionMismatch,
                    "this relay is bound to another session",
                    id,
                ));
            }
            return Ok(Payer::Session(meter.clone()));
        }
        let Some(meter) = host.session(&session_id).map(Meter) else {
            return Err(Refusal::new(
                pb::ErrorCode::UnknownSession,
                "unknown session",
                id,
            ));
        };
        // The session id is the public nullifier: only the session key's
        // signature binds this Relay to the session (§9.4).
        if !session_auth_ok(host, &meter, &session_id, auth.as_ref()) {
            return Err(Refusal::new(
                pb::ErrorCode::SessionAuthFailed,
                "session_auth is not the session key's signature of H(RELAY_BIND, session_id, node_id)",
                id,
            ));
        }
        self.bound = Some((session_id, meter.clone()));
        Ok(Payer::Session(meter))
    }

    /// Whether a paid `Open` may have its stream: id, stream limit,
    /// session expiry and egress port, in that order.
    fn admit(
        &self,
        id: u32,
        meter: &SessionSlot,
        (name, port): (&str, u32),
        host: &impl Host,
    ) -> Result<u16, Event> {
        use pb::CloseReason::{EgressDenied, Refused, SessionExpired};
        if id == 0 {
            return Err(Event::closed(id, Refused, "stream id 0 is reserved"));
        }
        if self.streams.contains_key(&id) {
            return Err(Event::error(
                pb::ErrorCode::StreamIdInUse,
                "stream id in use",
                id,
            ));
        }
        if self.streams.len() >= host.max_streams() {
            return Err(Event::closed(id, Refused, "too many streams"));
        }
        if lock(&meter.state).observe_height(host.height()) {
            return Err(Event::closed(id, SessionExpired, "session expired"));
        }
        let port = u16::try_from(port)
            .map_err(|_| Event::closed(id, EgressDenied, "port out of range"))?;
        host.check_port(name, port)
            .map_err(|e| Event::closed(id, EgressDenied, e))?;
        Ok(port)
    }

    fn data(&mut self, id: u32, bytes: Vec<u8>, host: &impl Host) -> Vec<Action> {
        use pb::ErrorCode::{FrameTooLarge, UnknownStream};
        if self.bound.is_none() && self.streams.is_empty() {
            return vec![Action::Send(Event::error(
                UnknownStream,
                "no stream open",
                id,
            ))];
        }
        let Some(stream) = self.streams.get(&id) else {
            // The node may have closed it already: not an error of the client.
            return Vec::new();
        };
        if bytes.len() > host.max_frame_bytes() {
            return vec![Action::Send(Event::error(
                FrameTooLarge,
                "data frame too large",
                id,
            ))];
        }
        if stream.send != SendSide::Open {
            let msg = "stream already closed for sending";
            return vec![Action::Send(Event::error(UnknownStream, msg, id))];
        }
        if !stream.parked.is_empty() {
            // Keep the stream's byte order: queue behind the parked data.
            let mut actions = Vec::new();
            self.park_or_close(id, bytes, &mut actions);
            return actions;
        }
        let meter = stream.meter.clone();
        let n = bytes.len() as u64;
        let mut actions = Vec::new();
        let served = lock(&meter.state).serve(n, host.height());
        match served {
            Ok(s) => {
                relayed(host, n);
                if s.credit_low {
                    actions.push(credit_low(&meter));
                }
                actions.push(Action::Write { stream: id, bytes });
            }
            // Unpaid yet: the receipt for bytes in flight to the client may
            // be right behind this frame. Wait for it.
            Err(ServeError::ReceiptRequired { .. }) => {
                if self.park_or_close(id, bytes, &mut actions) {
                    actions.push(credit_low(&meter));
                }
            }
            Err(e) => self.close_refused(id, e, &mut actions),
        }
        actions
    }

    fn close(&mut self, id: u32) -> Vec<Action> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Vec::new();
        };
        match (stream.send, stream.parked.is_empty()) {
            (SendSide::Open, true) => {
                stream.send = SendSide::Closed;
                vec![Action::Shutdown { stream: id }]
            }
            (SendSide::Open, false) => {
                stream.send = SendSide::CloseAfterParked;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Takes a receipt (§9.3): one for the Relay's session goes to the
    /// receipt worker ([`Action::Check`]: signature, expiry and staleness
    /// are checked off the loop); one before any session-paid `Open`, or
    /// naming another session, is refused here. Every refusal is an
    /// `Error` and changes nothing.
    fn receipt(&mut self, unchecked: UncheckedReceipt, host: &impl Host) -> Vec<Action> {
        let Some((session_id, meter)) = &self.bound else {
            return self.receipt_refused(unbound_receipt(), host);
        };
        if SessionId::from_fr(unchecked.receipt.session_id) != *session_id {
            let e = ReceiptError::Foreign;
            let refusal = Refusal::new(receipt_error_code(e), e.to_string(), 0);
            return self.receipt_refused(refusal, host);
        }
        let meter = meter.clone();
        vec![Action::Check(ReceiptCheck { meter, unchecked })]
    }

    /// The worker verified a receipt and applied it to the session's
    /// meter: send parked data as far as the new allowance reaches.
    pub fn receipt_applied(&mut self, host: &impl Host) -> Vec<Action> {
        host.metrics().receipts_accepted.inc();
        let mut actions = Vec::new();
        self.drain_parked(host, &mut actions);
        actions
    }

    /// The worker stored an applied receipt: acknowledge it (§9.3).
    pub fn receipt_stored(&mut self, kib: u64, allowance_kib: u64) -> Vec<Action> {
        vec![Action::Send(Event::ReceiptAck { kib, allowance_kib })]
    }

    /// A receipt was refused (here or by the worker): say so, and drain
    /// parked data as far as the allowance reaches.
    pub fn receipt_refused(&mut self, refusal: Refusal, host: &impl Host) -> Vec<Action> {
        host.metrics().receipt_refused(&reason(refusal.code));
        let mut actions = vec![Action::Send(Event::Error(refusal))];
        self.drain_parked(host, &mut actions);
        actions
    }

    /// Bytes held back on this Relay (only computed when parking, which is rare).
    fn parked_total(&self) -> usize {
        self.streams.values().map(|s| s.parked_bytes).sum()
    }

    /// Holds `bytes` at the end of stream `id`'s parked data, or closes the
    /// stream if the Relay would hold more than [`MAX_PARKED_UPLOAD`].
    /// Returns whether the bytes were held.
    fn park_or_close(&mut self, id: u32, bytes: Vec<u8>, actions: &mut Vec<Action>) -> bool {
        if self.parked_total() + bytes.len() <= MAX_PARKED_UPLOAD
            && let Some(stream) = self.streams.get_mut(&id)
        {
            stream.parked_bytes += bytes.len();
            stream.parked.push_back(bytes);
            return true;
        }
        let msg = "upload beyond the receipted allowance";
        self.close_with(
            id,
            pb::ErrorCode::CreditExhausted,
            pb::CloseReason::CreditExhausted,
            msg,
            actions,
        );
        false
    }

    /// Tells the client why its data was refused and closes the stream.
    fn close_refused(&mut self, id: u32, e: ServeError, actions: &mut Vec<Action>) {
        let (code, reason) = serve_error_code(e);
        self.close_with(id, code, reason, &e.to_string(), actions);
    }

    fn close_with(
        &mut self,
        id: u32,
        code: pb::ErrorCode,
        reason: pb::CloseReason,
        msg: &str,
        actions: &mut Vec<Action>,
    ) {
        actions.push(Action::Send(Event::error(code, msg, id)));
        if self.streams.remove(&id).is_some() {
            actions.push(Action::Release { stream: id });
            actions.push(Action::Send(Event::closed(id, reason, msg)));
        }
    }

    /// Sends parked client data upstream as far as the allowance now
    /// reaches; a stream whose parked data can never be paid (escrow
    /// exhausted, session closed) is closed.
    fn drain_parked(&mut self, host: &impl Host, actions: &mut Vec<Action>) {
        let ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.parked.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Err(e) = self.drain_stream(id, host, actions) {
                self.close_refused(id, e, actions);
            }
        }
    }

    /// Drains one stream; `Err` if its meter refuses for good.
    fn drain_stream(
        &mut self,
        id: u32,
        host: &impl Host,
        actions: &mut Vec<Action>,
    ) -> Result<(), ServeError> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        while let Some(front_len) = stream.parked.front().map(Vec::len) {
            let served = lock(&stream.meter.state).serve(front_len as u64, host.height());
            match served {
                Ok(s) if s.credit_low => actions.push(credit_low(&stream.meter)),
                Ok(_) => {}
                Err(ServeError::ReceiptRequired { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
            relayed(host, front_len as u64);
            let bytes = stream.parked.pop_front().unwrap_or_default();
            stream.parked_bytes = stream.parked_bytes.saturating_sub(front_len);
            actions.push(Action::Write { stream: id, bytes });
        }
        if stream.send == SendSide::CloseAfterParked {
            stream.send = SendSide::Closed;
            actions.push(Action::Shutdown { stream: id });
        }
        Ok(())
    }
}

/// A refusal's code as a metric label: `ERROR_CODE_RECEIPT_STALE` →
/// `receipt_stale`.
fn reason(code: pb::ErrorCode) -> String {
    let name = code.as_str_name();
    name.strip_prefix("ERROR_CODE_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// Counts client or upstream bytes charged and relayed.
pub(crate) fn relayed(host: &impl Host, n: u64) {
    host.metrics().bytes_relayed.inc_by(n);
}

fn unbound_receipt() -> Refusal {
    Refusal::new(
        pb::ErrorCode::UnknownSession,
        "receipt before any Open on this relay",
        0,
    )
}

/// A `CreditLow` with the meter's position now.
fn credit_low(meter: &SessionSlot) -> Action {
    Action::Send(Event::CreditLow(lock(&meter.state).position()))
}

/// Whether `auth` is the session key's signature of
/// `H(RELAY_BIND, session_id, node_id)` (§9.4).
fn session_auth_ok(
    host: &impl Host,
    meter: &SessionSlot,
    session_id: &SessionId,
    auth: Option<&Signature>,
) -> bool {
    let Some(sig) = auth else { return false };
    let m = relay_bind_message(&session_id.inner(), &host.node_id().inner());
    meter.session_key.verify(&m, sig).is_ok()
}

/// What an upstream reader may do with `want` bytes read for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Send this many (charged now); `credit_low`: also send `CreditLow`.
    Send { n: u64, credit_low: bool },
    /// A receipt is due: send `CreditLow` and wait for it.
    ReceiptDue,
    /// Nothing may be sent now, for no stated reason: wait and retry.
    Wait,
    /// The meter refuses for good: close the stream.
    Refused(ServeError),
}

/// Charges as much of `want` upstream bytes as the allowance covers (§9.3:
/// never beyond it).
pub(crate) fn grant(st: &mut SessionState<SignedReceipt>, want: u64, now: BlockHeight) -> Grant {
    let g = st.allowance(now).min(want);
    let served = if g == 0 {
        st.serve(want, now)
    } else {
        st.serve(g, now)
    };
    match served {
        Ok(_) if g == 0 => Grant::Wait,
        Ok(s) => Grant::Send {
            n: g,
            credit_low: s.credit_low,
        },
        Err(ServeError::ReceiptRequired { .. }) => Grant::ReceiptDue,
        Err(e) => Grant::Refused(e),
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
