//! The client's receipt policy: when to sign the next cumulative receipt,
//! and for how many KiB (`docs/protocol.md` §9.3). The sans-IO twin of the
//! node's metering state machine (`crates/node/src/metering.rs`): it does no
//! I/O, reads no clock and holds no key. The relay reports payload bytes and
//! the node's signals; the policy answers with the receipt that is due, if
//! any (it is *issued*); the relay's signer signs it off the data path and
//! sends it. Receipts are cumulative, so when several are issued while one
//! is being signed, the signer signs only the highest: the policy's record
//! is of receipts issued, the relay's (`Relay::signed_kibs`) of receipts
//! signed.
//!
//! Rules (the node serves at most one interval `I` beyond the highest
//! receipt, never beyond the credit `⌊E / price⌋`):
//! - a receipt is for `⌈bytes / 1024⌉` KiB of payload counted in both
//!   directions, capped at the credit: never for bytes the client has not
//!   itself sent or received, never beyond the escrow;
//! - one is due once it is at least a step above the last one — `I / 2`
//!   from a 4 MiB interval, `I / 4` below (so bytes keep flowing while a
//!   receipt is in flight; [`PaymentTerms::step_kib`]) — when it reaches
//!   the credit, or at once when the node reports `CreditLow` — unless a
//!   receipt above the node's `receipted_kib` is already issued: it is in
//!   flight and will raise the node's limit (answering every `CreditLow`
//!   made a fast download sign a receipt per round trip, a few KiB each);
//! - when the client closes the relay, a last one pays every byte counted;
//! - receipts are strictly increasing; once the whole credit is issued
//!   nothing more is due;
//! - a node that failed a challenge, or a relay the client closed, is paid
//!   nothing more.
//!
//! ```text
//! Paying ──issued the credit──▶ FullyIssued
//!    │                               │
//!    └──── distrust / close ─────────┴──▶ Stopped
//! ```
//! Every KiB value issued is kept, in order.

use veil_primitives::ids::SessionId;
use veil_primitives::receipt::KIB;

/// The interval (KiB) from which a receipt is due every half interval
/// rather than every quarter.
pub const HALF_STEP_FROM_KIB: u64 = 4 * 1024;

/// What the client pays under, fixed when the session opens (§9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentTerms {
    /// The session receipts name.
    pub session_id: SessionId,
    /// `⌊E / price⌋` KiB: no receipt is signed above it.
    pub credit_kib: u64,
    /// The node's receipt interval `I`, KiB (0 is read as 1).
    pub interval_kib: u64,
}

impl PaymentTerms {
    /// KiB between two receipts: `I / 2` from [`HALF_STEP_FROM_KIB`], else
    /// `max(1, I / 4)`. The node stalls once it is `I` past the highest
    /// receipt it holds, so a step leaves `I − step` for the receipt's round
    /// trip and the bytes in flight; each receipt costs a signature, a
    /// verification and a store. Measured (docs/benchmarks.md, "Metered
    /// relay"): half steps are best from 4 MiB, where `I / 2` still covers
    /// the round trip; quarter steps are best at 1 MiB.
    pub fn step_kib(&self) -> u64 {
        let interval = self.interval_kib.max(1);
        let per_interval = if interval >= HALF_STEP_FROM_KIB { 2 } else { 4 };
        (interval / per_interval).max(1)
    }
}

/// The receipt the caller must now sign under the session key and send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptDue {
    pub session_id: SessionId,
    /// Cumulative KiB.
    pub kib: u64,
}

/// Paying as bytes flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paying {
    pub terms: PaymentTerms,
    /// Payload bytes, both directions.
    pub bytes: u64,
    /// Every KiB value issued, strictly increasing.
    pub issued: Vec<u64>,
}

/// The whole credit is issued: nothing more can be due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullyIssued {
    pub terms: PaymentTerms,
    pub bytes: u64,
    pub issued: Vec<u64>,
}

/// Why the client pays no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The node failed a bandwidth challenge (§9.5).
    Distrusted,
    /// The client closed the relay.
    Closed,
}

/// Paying stopped; bytes are still counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub terms: PaymentTerms,
    pub bytes: u64,
    pub issued: Vec<u64>,
    pub reason: StopReason,
}

/// The receipt policy of one session's relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptPolicy {
    Paying(Paying),
    FullyIssued(FullyIssued),
    Stopped(Stopped),
}

impl ReceiptPolicy {
    /// A session that has moved no byte and issued nothing.
    pub fn new(terms: PaymentTerms) -> Self {
        ReceiptPolicy::Paying(Paying {
            terms,
            bytes: 0,
            issued: Vec::new(),
        })
    }

    /// The terms paid under.
    pub fn terms(&self) -> &PaymentTerms {
        match self {
            ReceiptPolicy::Paying(s) => &s.terms,
            ReceiptPolicy::FullyIssued(s) => &s.terms,
            ReceiptPolicy::Stopped(s) => &s.terms,
        }
    }

    /// Payload bytes counted, both directions.
    pub fn bytes(&self) -> u64 {
        match self {
            ReceiptPolicy::Paying(s) => s.bytes,
            ReceiptPolicy::FullyIssued(s) => s.bytes,
            ReceiptPolicy::Stopped(s) => s.bytes,
        }
    }

    /// Every KiB value issued, in order.
    pub fn issued(&self) -> &[u64] {
        match self {
            ReceiptPolicy::Paying(s) => &s.issued,
            ReceiptPolicy::FullyIssued(s) => &s.issued,
            ReceiptPolicy::Stopped(s) => &s.issued,
        }
    }

    /// The highest KiB issued (0: none).
    pub fn highest_kib(&self) -> u64 {
        self.issued().last().copied().unwrap_or(0)
    }

    /// KiB of credit not yet used, by the client's own count.
    pub fn remaining_kib(&self) -> u64 {
        self.terms()
            .credit_kib
            .saturating_sub(self.bytes().div_ceil(KIB))
    }

    /// Counts `n` payload bytes sent or received; returns the receipt due.
    pub fn on_bytes(&mut self, n: u64) -> Option<ReceiptDue> {
        match self {
            ReceiptPolicy::Paying(s) => s.bytes = s.bytes.saturating_add(n),
            ReceiptPolicy::FullyIssued(s) => s.bytes = s.bytes.saturating_add(n),
            ReceiptPolicy::Stopped(s) => s.bytes = s.bytes.saturating_add(n),
        }
        self.due(false)
    }

    /// The node reported low credit (`CreditLow`, §9.3) holding a receipt
    /// for `receipted_kib`: pays every byte counted so far, if not paid yet
    /// and no receipt above `receipted_kib` is on its way.
    pub fn on_credit_low(&mut self, receipted_kib: u64) -> Option<ReceiptDue> {
        if self.highest_kib() > receipted_kib {
            return None;
        }
        self.due(true)
    }

    /// The client is closing the relay: pays every byte counted so far, if
    /// not paid yet (a step is a cost bound, not a discount: a clean close
    /// leaves the node unpaid for nothing it moved). The caller then
    /// [`stop`](Self::stop)s.
    pub fn on_close(&mut self) -> Option<ReceiptDue> {
        self.due(true)
    }

    /// Pays nothing more (`reason`); what was issued is kept.
    pub fn stop(&mut self, reason: StopReason) {
        let (terms, bytes, issued) = match self {
            ReceiptPolicy::Stopped(_) => return,
            ReceiptPolicy::Paying(s) => (s.terms, s.bytes, std::mem::take(&mut s.issued)),
            ReceiptPolicy::FullyIssued(s) => (s.terms, s.bytes, std::mem::take(&mut s.issued)),
        };
        *self = ReceiptPolicy::Stopped(Stopped {
            terms,
            bytes,
            issued,
            reason,
        });
    }

    /// Decides and records the next receipt, if one is due.
    fn due(&mut self, force: bool) -> Option<ReceiptDue> {
        let ReceiptPolicy::Paying(s) = self else {
            return None;
        };
        let credit = s.terms.credit_kib;
        let kib = s.bytes.div_ceil(KIB).min(credit);
        let last = s.issued.last().copied().unwrap_or(0);
        let step_reached = kib >= last.saturating_add(s.terms.step_kib());
        if kib == 0 || kib <= last || !(force || step_reached || kib == credit) {
            return None;
        }
        s.issued.push(kib);
        let due = ReceiptDue {
            session_id: s.terms.session_id,
            kib,
        };
        if kib == credit {
            *self = ReceiptPolicy::FullyIssued(FullyIssued {
                terms: s.terms,
                bytes: s.bytes,
                issued: std::mem::take(&mut s.issued),
            });
        }
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use veil_primitives::Fr;

    fn terms(credit_kib: u64, interval_kib: u64) -> PaymentTerms {
        PaymentTerms {
            session_id: SessionId::from_fr(Fr::from(7u64)),
            credit_kib,
            interval_kib,
        }
    }

    fn kib_of(d: Option<ReceiptDue>) -> Option<u64> {
        d.map(|d| d.kib)
    }

    #[test]
    fn signs_every_quarter_of_a_small_interval() {
        let mut p = ReceiptPolicy::new(terms(1000, 64));
        assert_eq!(p.terms().step_kib(), 16);
        // 1 byte: 1 KiB owed, below one step.
        assert_eq!(p.on_bytes(1), None);
        assert_eq!(kib_of(p.on_bytes(15 * KIB)), Some(16));
        assert_eq!(p.on_bytes(15 * KIB), None);
        assert_eq!(kib_of(p.on_bytes(KIB)), Some(32));
        assert_eq!(p.issued(), &[16, 32]);
        assert_eq!(p.remaining_kib(), 1000 - 32);
    }

    #[test]
    fn signs_every_half_of_a_large_interval() {
        let below = terms(1 << 20, HALF_STEP_FROM_KIB - 4);
        assert_eq!(below.step_kib(), (HALF_STEP_FROM_KIB - 4) / 4);
        let at = terms(1 << 20, HALF_STEP_FROM_KIB);
        assert_eq!(at.step_kib(), HALF_STEP_FROM_KIB / 2);
        let mut p = ReceiptPolicy::new(terms(1 << 20, 8192));
        assert_eq!(p.on_bytes(4095 * KIB), None);
        assert_eq!(kib_of(p.on_bytes(KIB)), Some(4096));
        assert_eq!(kib_of(p.on_bytes(4096 * KIB)), Some(8192));
    }

    #[test]
    fn credit_low_pays_what_was_counted_at_once() {
        let mut p = ReceiptPolicy::new(terms(1000, 64));
        assert_eq!(p.on_credit_low(0), None, "nothing counted, nothing due");
        assert_eq!(p.on_bytes(3 * KIB + 1), None);
        assert_eq!(kib_of(p.on_credit_low(0)), Some(4));
        assert_eq!(p.on_credit_low(4), None, "already paid");
    }

    #[test]
    fn credit_low_waits_for_a_receipt_in_flight() {
        let mut p = ReceiptPolicy::new(terms(1000, 64));
        assert_eq!(kib_of(p.on_bytes(16 * KIB)), Some(16));
        assert_eq!(p.on_bytes(3 * KIB), None);
        // The node holds nothing yet, but 16 is on its way: no new receipt.
        assert_eq!(p.on_credit_low(0), None);
        // The node holds 16 and is still low: pay the 19 counted.
        assert_eq!(kib_of(p.on_credit_low(16)), Some(19));
    }

    #[test]
    fn never_signs_beyond_the_credit_then_nothing_more() {
        let mut p = ReceiptPolicy::new(terms(10, 64));
        // Below a step, but the credit is reached: due.
        assert_eq!(kib_of(p.on_bytes(50 * KIB)), Some(10));
        assert!(matches!(p, ReceiptPolicy::FullyIssued(_)));
        assert_eq!(p.on_bytes(KIB), None);
        assert_eq!(p.on_credit_low(0), None);
        assert_eq!(p.remaining_kib(), 0);
        assert_eq!(p.issued(), &[10]);
    }

    #[test]
    fn a_distrusted_or_closed_relay_is_paid_nothing_more() {
        for reason in [StopReason::Distrusted, StopReason::Closed] {
            let mut p = ReceiptPolicy::new(terms(1000, 4));
            assert_eq!(kib_of(p.on_bytes(KIB)), Some(1));
            p.stop(reason);
            assert_eq!(p.on_bytes(100 * KIB), None);
            assert_eq!(p.on_credit_low(1), None);
            assert_eq!(p.issued(), &[1], "what was issued is kept");
            assert_eq!(p.bytes(), 101 * KIB, "bytes are still counted");
        }
    }

    #[test]
    fn closing_pays_every_byte_counted_once() {
        let mut p = ReceiptPolicy::new(terms(1000, 64));
        assert_eq!(kib_of(p.on_bytes(16 * KIB)), Some(16));
        assert_eq!(p.on_bytes(5 * KIB + 1), None, "below a step");
        assert_eq!(kib_of(p.on_close()), Some(22));
        assert_eq!(p.on_close(), None, "already paid");
        p.stop(StopReason::Closed);
        assert_eq!(p.issued(), &[16, 22]);
        // A distrusted node is not paid at close either.
        let mut p = ReceiptPolicy::new(terms(1000, 64));
        assert_eq!(p.on_bytes(5 * KIB), None);
        p.stop(StopReason::Distrusted);
        assert_eq!(p.on_close(), None);
        // Below a step and below the credit: paid in full at close.
        let mut p = ReceiptPolicy::new(terms(10, 64));
        assert_eq!(p.on_bytes(9 * KIB), None);
        assert_eq!(kib_of(p.on_close()), Some(9));
    }

    #[test]
    fn a_zero_interval_is_read_as_one() {
        let mut p = ReceiptPolicy::new(terms(100, 0));
        assert_eq!(p.terms().step_kib(), 1);
        assert_eq!(kib_of(p.on_bytes(1)), Some(1));
    }

    #[derive(Clone, Debug)]
    enum Event {
        Bytes(u64),
        CreditLow,
        /// `CreditLow` from a node that does not hold the last receipt yet.
        CreditLowBehind,
        Stop,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            8 => (0u64..40_000).prop_map(Event::Bytes),
            2 => Just(Event::CreditLow),
            1 => Just(Event::CreditLowBehind),
            1 => Just(Event::Stop),
        ]
    }

    proptest! {
        /// Whatever the traffic: receipts strictly increase, never exceed
        /// the credit nor the bytes counted, and while paying, the unpaid
        /// part is under one step (none right after a `CreditLow` from a
        /// node that holds the highest receipt issued).
        #[test]
        fn receipts_are_monotone_bounded_and_keep_up(
            credit in 1u64..400,
            interval in 0u64..200,
            events in proptest::collection::vec(event(), 0..80),
        ) {
            let t = terms(credit, interval);
            let mut p = ReceiptPolicy::new(t);
            let mut stopped = false;
            for e in events {
                let before = p.highest_kib();
                let due = match e {
                    Event::Bytes(n) => p.on_bytes(n),
                    Event::CreditLow => p.on_credit_low(before),
                    Event::CreditLowBehind => {
                        let due = p.on_credit_low(before.saturating_sub(1));
                        if before > 0 {
                            prop_assert_eq!(due, None, "a receipt is in flight");
                        }
                        due
                    }
                    Event::Stop => { p.stop(StopReason::Distrusted); stopped = true; None }
                };
                let owed = p.bytes().div_ceil(KIB).min(credit);
                if let Some(d) = due {
                    prop_assert!(!stopped);
                    prop_assert!(d.kib > before);
                    prop_assert!(d.kib <= credit);
                    prop_assert!(d.kib <= owed);
                    prop_assert_eq!(d.session_id, t.session_id);
                    prop_assert_eq!(p.highest_kib(), d.kib);
                } else {
                    prop_assert_eq!(p.highest_kib(), before);
                }
                if !stopped {
                    prop_assert!(owed - p.highest_kib() < t.step_kib());
                    if matches!(e, Event::CreditLow) {
                        prop_assert_eq!(p.highest_kib(), owed);
                    }
                }
            }
            prop_assert!(p.issued().windows(2).all(|w| w[0] < w[1]));
        }
    }
}
