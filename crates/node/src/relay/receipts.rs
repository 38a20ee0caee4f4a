//! Receipts off the relay loop (`docs/protocol.md` §9.3): the sans-IO part.
//!
//! The relay loop checks only what is free (the Relay is bound, the receipt
//! names its session) and hands the receipt to its Relay's receipt worker
//! (`super::worker`). The worker takes the **highest** waiting receipt,
//! [`check`]s it on its own task (signature, expiry, staleness),
//! [`accept`]s it into the session's meter (the allowance grows, waiting
//! upstream readers wake, the loop releases held uploads) and hands it to
//! the Relay's store, which writes the highest applied receipt ([`Unstored`])
//! while the next ones are checked; only once stored is a receipt
//! acknowledged. Client and upstream bytes keep flowing meanwhile, and the
//! store's latency (an fsync) is off the allowance's path: a node that
//! crashes in between loses that receipt's payment (it settles the stored
//! one below), never a client's money. Receipts still waiting with no more
//! KiB than an accepted one are superseded, as are applied receipts a higher
//! one overtook before they were stored: neither acknowledged nor refused
//! (a cumulative receipt covers them, §6). So a client that signs faster
//! than the node verifies costs the node one verification per accepted
//! step, not one per receipt, and one store per store's latency.
//!
//! ```text
//! Receipt ─(bound, own session)─▶ Waiting ─highest─▶ check ─▶ accept ─▶ wake, drain
//!                                    ▲                  │ refused  │
//!                                    └── superseded ◀───┴──────────┤
//!                                                        Unstored ◀┘ ─highest─▶ store ─▶ Ack
//! ```

use veil_primitives::eddsa::SignatureCheckError;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::{KIB, SignedReceipt, UncheckedReceipt};
use veil_proto::node::v1 as pb;

use super::event::{Refusal, receipt_error_code};
use crate::metering::VerifiedReceipt;
use crate::session::Meter;
use crate::state::lock;

/// Receipts a Relay may have waiting for its worker. Beyond this the
/// lowest waiting one is dropped unanswered: a higher one is behind it.
pub(crate) const MAX_WAITING: usize = 16;

/// A receipt for the Relay's session, to be checked by the worker.
#[derive(Debug)]
pub(crate) struct ReceiptCheck {
    pub meter: Meter,
    pub unchecked: UncheckedReceipt,
}

impl ReceiptCheck {
    fn kib(&self) -> u64 {
        self.unchecked.receipt.kib
    }
}

/// A receipt that passed [`check`], to be stored before it is [`accept`]ed (§9.6).
#[derive(Debug)]
pub(crate) struct PendingReceipt {
    meter: Meter,
    verified: VerifiedReceipt<SignedReceipt>,
}

impl PendingReceipt {
    pub fn signed(&self) -> &SignedReceipt {
        &self.verified.receipt
    }
}

/// A receipt stored and applied: what the loop acknowledges.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub meter: Meter,
    pub kib: u64,
    pub allowance_kib: u64,
}

/// The receipts waiting for one Relay's worker, and whether the Relay ended.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    queue: Vec<ReceiptCheck>,
    closed: bool,
}

impl Waiting {
    /// Queues a receipt; if [`MAX_WAITING`] are waiting, the lowest is dropped.
    pub fn push(&mut self, c: ReceiptCheck) {
        if self.queue.len() >= MAX_WAITING
            && let Some(lowest) = self.position_by(|a, b| a < b)
        {
            self.queue.swap_remove(lowest);
        }
        self.queue.push(c);
    }

    /// Removes and returns the waiting receipt with the most KiB.
    pub fn take_highest(&mut self) -> Option<ReceiptCheck> {
        let i = self.position_by(|a, b| a > b)?;
        Some(self.queue.swap_remove(i))
    }

    /// Drops the waiting receipts an accepted receipt of `kib` KiB covers.
    pub fn supersede(&mut self, kib: u64) {
        self.queue.retain(|c| c.kib() > kib);
    }

    /// The Relay ended: the worker stops once nothing is waiting.
    pub fn close(&mut self) {
        self.closed = true;
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Index of the receipt whose KiB beats every other's under `better`.
    fn position_by(&self, better: impl Fn(u64, u64) -> bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, c) in self.queue.iter().enumerate() {
            if best.is_none_or(|b| better(c.kib(), self.queue[b].kib())) {
                best = Some(i);
            }
        }
        best
    }
}

/// An applied receipt still to be stored.
#[derive(Debug)]
pub(crate) struct ToStore {
    pub signed: SignedReceipt,
    pub kib: u64,
    pub allowance_kib: u64,
}

/// Receipts applied but not yet stored. Only the highest is kept: a
/// cumulative receipt covers the lower ones (§6), so while one store (an
/// fsync) is under way, the receipts applied meanwhile cost one more store,
/// not one each, and verification never waits for the disk. A receipt
/// dropped here is neither acknowledged nor refused, as a superseded one.
#[derive(Debug, Default)]
pub(crate) struct Unstored {
    highest: Option<ToStore>,
    closed: bool,
}

impl Unstored {
    /// Keeps `r` unless a receipt with at least as many KiB is waiting.
    pub fn offer(&mut self, r: ToStore) {
        if self.highest.as_ref().is_none_or(|h| h.kib < r.kib) {
            self.highest = Some(r);
        }
    }

    /// The receipt to store next, if any.
    pub fn take(&mut self) -> Option<ToStore> {
        self.highest.take()
    }

    /// Nothing more will be applied: the store stops once this is empty.
    pub fn close(&mut self) {
        self.closed = true;
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Verifies a receipt under the session key and against the session's
/// meter (§9.3: canonical signature, signature, expiry, strictly above the
/// highest held). The costly half (one EdDSA verification under the
/// prepared session key, which also settles `R`'s subgroup membership and
/// `S < l`: a failure there is `MALFORMED`, as at decoding), ≈ 75 µs, off
/// the relay loop; changes nothing.
pub(crate) fn check(c: ReceiptCheck, now: BlockHeight) -> Result<PendingReceipt, Refusal> {
    let ReceiptCheck { meter, unchecked } = c;
    let signed = match unchecked.verify(meter.receipt_verifier()) {
        Ok(signed) => signed,
        Err(SignatureCheckError::Encoding(e)) => {
            let msg = format!("receipt: {e}");
            return Err(Refusal::new(pb::ErrorCode::Malformed, msg, 0));
        }
        Err(SignatureCheckError::Signature(e)) => {
            let msg = format!("invalid receipt signature: {e}");
            return Err(Refusal::new(pb::ErrorCode::ReceiptBadSignature, msg, 0));
        }
    };
    let verified = VerifiedReceipt {
        session_id: SessionId::from_fr(signed.receipt.session_id),
        kib: signed.receipt.kib,
        receipt: signed,
    };
    if let Err(e) = lock(&meter.state).check_receipt(&verified, now) {
        return Err(Refusal::new(receipt_error_code(e), e.to_string(), 0));
    }
    Ok(PendingReceipt { meter, verified })
}

/// Applies a stored receipt to its meter: the allowance grows to `kib + I`
/// (§9.3). Refused (and nothing changes) if the session closed or a higher
/// receipt was accepted since [`check`].
pub(crate) fn accept(p: PendingReceipt, now: BlockHeight) -> Result<Accepted, Refusal> {
    let PendingReceipt { meter, verified } = p;
    let kib = verified.kib;
    let accepted = lock(&meter.state).accept_receipt(verified, now);
    match accepted {
        Ok(pos) => Ok(Accepted {
            meter,
            kib,
            allowance_kib: pos.allowance_bytes / KIB,
        }),
        Err(e) => Err(Refusal::new(receipt_error_code(e), e.to_string(), 0)),
    }
}
