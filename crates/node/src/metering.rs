//! Metering and credit: the sans-IO session state machine
//! (`docs/protocol.md` §9.3).
//!
//! Bytes in both directions count. A session of escrow `E` at price `p`
//! has a credit of `⌊E / p⌋` KiB. With `k` the highest valid receipt (KiB,
//! cumulative) and `I` the receipt interval, the node serves at most
//! `min(k + I, ⌊E / p⌋) · 1024` bytes: one interval beyond the last receipt,
//! never beyond the escrow. Receipts must name this session, be strictly
//! higher than the one held, and arrive before expiry (adversarial E1, E3,
//! E4, E5, E10); only the highest is kept.
//!
//! ```text
//! Opened ──serve/receipt──▶ Active ──served = credit──▶ Exhausted
//!    │                        │                           │
//!    └──────────── expiry ────┴───────────────────────────┴──▶ Closed
//! ```
//! The state machine does no I/O and reads no clock: the caller passes the
//! ledger height (the only clock, adversarial D10).
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::KIB;

/// The immutable terms of one session, fixed at `OpenSession`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTerms {
    /// The session (the access nullifier).
    pub session_id: SessionId,
    /// `⌊E / price⌋` KiB.
    pub credit_kib: u64,
    /// A receipt is required every `interval_kib` KiB (≥ 1).
    pub interval_kib: u64,
    /// Last ledger height at which the session serves and receipts count.
    pub expiry: BlockHeight,
}

impl SessionTerms {
    fn credit_bytes(&self) -> u64 {
        self.credit_kib.saturating_mul(KIB)
    }
}

/// A receipt whose signature the caller has verified under the session key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt<R> {
    /// The session named in the signed message.
    pub session_id: SessionId,
    /// Cumulative KiB signed for.
    pub kib: u64,
    /// The signed receipt itself (kept for settlement).
    pub receipt: R,
}

/// A session that has served nothing and holds no receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub terms: SessionTerms,
}

/// A session being served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active<R> {
    pub terms: SessionTerms,
    /// Bytes served so far, both directions.
    pub served_bytes: u64,
    /// The highest valid receipt, if any.
    pub highest: Option<(u64, R)>,
    /// The limit (bytes) for which `CreditLow` was already signalled.
    credit_low_at: u64,
}

/// The whole escrow has been served; receipts are still accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhausted<R> {
    pub terms: SessionTerms,
    pub highest: Option<(u64, R)>,
}

/// Why a session is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedReason {
    /// The ledger height passed the session's expiry.
    Expired,
    /// The session was settled on the ledger.
    Settled,
}

/// A session that neither serves nor accepts receipts any more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed<R> {
    pub terms: SessionTerms,
    /// Bytes served before closing.
    pub served_bytes: u64,
    pub highest: Option<(u64, R)>,
    pub reason: ClosedReason,
}

/// A session's metering state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState<R> {
    Opened(Opened),
    Active(Active<R>),
    Exhausted(Exhausted<R>),
    Closed(Closed<R>),
}

/// Why bytes may not be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// One interval beyond the last receipt has been served: a receipt is due.
    #[error("receipt required: served {served_kib} KiB, last receipt {receipted_kib} KiB")]
    ReceiptRequired { served_kib: u64, receipted_kib: u64 },
    /// The escrow is used up.
    #[error("credit exhausted ({credit_kib} KiB)")]
    CreditExhausted { credit_kib: u64 },
    /// The session expired.
    #[error("session expired")]
    Expired,
    /// The session was settled.
    #[error("session closed")]
    Closed,
}

/// Why a receipt was refused. The refused receipt changes no state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt names another session (E3).
    #[error("receipt is for another session")]
    Foreign,
    /// Not strictly above the highest receipt held (E1, E4).
    #[error("receipt for {kib} KiB is not above the highest held ({highest} KiB)")]
    Stale { kib: u64, highest: u64 },
    /// Zero KiB: signs for nothing.
    #[error("receipt for 0 KiB")]
    Zero,
    /// After the session's expiry (E10).
    #[error("session expired")]
    Expired,
    /// The session was settled; nothing more can be claimed.
    #[error("session closed")]
    Closed,
}

/// Result of serving bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// Set once per credit level when the remaining allowance falls under
    /// half an interval: the client should send a receipt.
    pub credit_low: bool,
}

/// Summary figures, for `CreditLow` and `ReceiptAck`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// `⌈served_bytes / 1024⌉`.
    pub served_kib: u64,
    /// Highest receipt (0 without one).
    pub receipted_kib: u64,
    /// `min(receipted + interval, credit)`.
    pub limit_kib: u64,
    /// Bytes that may still be served now.
    pub allowance_bytes: u64,
}

impl<R: Clone> SessionState<R> {
    /// A freshly opened session.
    pub fn new(terms: SessionTerms) -> Self {
        SessionState::Opened(Opened { terms })
    }

    /// Restores a session from a persisted receipt and byte count (restart).
    pub fn restore(terms: SessionTerms, served_bytes: u64, highest: Option<(u64, R)>) -> Self {
        let mut s = SessionState::Active(Active {
            terms,
            served_bytes,
            highest,
            credit_low_at: 0,
        });
        s.settle_exhaustion();
        s
    }

    /// The session's terms.
    pub fn terms(&self) -> &SessionTerms {
        match self {
            SessionState::Opened(s) => &s.terms,
            SessionState::Active(s) => &s.terms,
            SessionState::Exhausted(s) => &s.terms,
            SessionState::Closed(s) => &s.terms,
        }
    }

    /// The highest receipt held.
    pub fn highest(&self) -> Option<&(u64, R)> {
        match self {
            SessionState::Opened(_) => None,
            SessionState::Active(s) => s.highest.as_ref(),
            SessionState::Exhausted(s) => s.highest.as_ref(),
            SessionState::Closed(s) => s.highest.as_ref(),
        }
    }

    fn highest_kib(&self) -> u64 {
        self.highest().map_or(0, |(k, _)| *k)
    }

    /// Bytes served so far.
    pub fn served_bytes(&self) -> u64 {
        match self {
            SessionState::Opened(_) => 0,
            SessionState::Active(s) => s.served_bytes,
            SessionState::Exhausted(s) => s.terms.credit_bytes(),
            SessionState::Closed(s) => s.served_bytes,
        }
    }

    /// Where the session stands.
    pub fn position(&self) -> Position {
        let terms = self.terms();
        let receipted_kib = self.highest_kib();
        let limit_kib = receipted_kib
            .saturating_add(terms.interval_kib)
            .min(terms.credit_kib);
        let served = self.served_bytes();
        let allowance_bytes = match self {
            SessionState::Opened(_) | SessionState::Active(_) => {
                limit_kib.saturating_mul(KIB).saturating_sub(served)
            }
            _ => 0,
        };
        Position {
            served_kib: served.div_ceil(KIB),
            receipted_kib,
            limit_kib,
            allowance_bytes,
        }
    }

    /// Closes the session if `now` is past its expiry. Returns whether it is
    /// (now) closed.
    pub fn observe_height(&mut self, now: BlockHeight) -> bool {
        if let SessionState::Closed(_) = self {
            return true;
        }
        if now > self.terms().expiry {
            self.close(ClosedReason::Expired);
            return true;
        }
        false
    }

    /// Marks the session closed for `reason`, keeping its highest receipt.
    pub fn close(&mut self, reason: ClosedReason) {
        let terms = *self.terms();
        let highest = self.highest().cloned();
        let served_bytes = self.served_bytes();
        *self = SessionState::Closed(Closed {
            terms,
            served_bytes,
            highest,
            reason,
        });
    }

    /// Bytes that may be served now (0 when closed, exhausted, or a receipt is due).
    pub fn allowance(&mut self, now: BlockHeight) -> u64 {
        if self.observe_height(now) {
            return 0;
        }
        self.position().allowance_bytes
    }

    /// Serves `n` bytes, all or nothing.
    pub fn serve(&mut self, n: u64, now: BlockHeight) -> Result<Served, ServeError> {
        if self.observe_height(now) {
            return Err(self.closed_error());
        }
        let pos = self.position();
        if n > pos.allowance_bytes {
            return Err(self.refusal(&pos));
        }
        if n == 0 {
            return Ok(Served { credit_low: false });
        }
        let terms = *self.terms();
        if let SessionState::Opened(_) = self {
            *self = SessionState::Active(Active {
                terms,
                served_bytes: 0,
                highest: None,
                credit_low_at: 0,
            });
        }
        let mut credit_low = false;
        if let SessionState::Active(a) = self {
            a.served_bytes = a.served_bytes.saturating_add(n);
            let limit = pos.limit_kib.saturating_mul(KIB);
            let remaining = limit.saturating_sub(a.served_bytes);
            let half = terms.interval_kib.saturating_mul(KIB) / 2;
            // Signal once per limit, and never for the final stretch of the
            // escrow (no receipt can extend it).
            if remaining <= half && a.credit_low_at != limit && pos.limit_kib < terms.credit_kib {
                a.credit_low_at = limit;
                credit_low = true;
            }
        }
        self.settle_exhaustion();
        Ok(Served { credit_low })
    }

    fn settle_exhaustion(&mut self) {
        if let SessionState::Active(a) = self
            && a.served_bytes >= a.terms.credit_bytes()
        {
            let (terms, highest) = (a.terms, a.highest.take());
            *self = SessionState::Exhausted(Exhausted { terms, highest });
        }
    }

    fn closed_error(&self) -> ServeError {
        match self {
            SessionState::Closed(Closed {
                reason: ClosedReason::Expired,
                ..
            }) => ServeError::Expired,
            _ => ServeError::Closed,
        }
    }

    fn refusal(&self, pos: &Position) -> ServeError {
        match self {
            SessionState::Closed(_) => self.closed_error(),
            SessionState::Exhausted(s) => ServeError::CreditExhausted {
                credit_kib: s.terms.credit_kib,
            },
            _ if pos.limit_kib >= self.terms().credit_kib => ServeError::CreditExhausted {
                credit_kib: self.terms().credit_kib,
            },
            _ => ServeError::ReceiptRequired {
                served_kib: pos.served_kib,
                receipted_kib: pos.receipted_kib,
            },
        }
    }

    /// Checks a receipt without changing state (so the caller can persist
    /// it before [`Self::accept_receipt`] commits it).
    pub fn check_receipt(
        &self,
        r: &VerifiedReceipt<R>,
        now: BlockHeight,
    ) -> Result<(), ReceiptError> {
        let terms = self.terms();
        if r.session_id != terms.session_id {
            return Err(ReceiptError::Foreign);
        }
        match self {
            SessionState::Closed(Closed {
                reason: ClosedReason::Expired,
                ..
            }) => {
                return Err(ReceiptError::Expired);
            }
            SessionState::Closed(_) => return Err(ReceiptError::Closed),
            _ => {}
        }
        if now > terms.expiry {
            return Err(ReceiptError::Expired);
        }
        if r.kib == 0 {
            return Err(ReceiptError::Zero);
        }
        let highest = self.highest_kib();
        if r.kib <= highest {
            return Err(ReceiptError::Stale {
                kib: r.kib,
                highest,
            });
        }
        Ok(())
    }

    /// Accepts a receipt: it becomes the highest held, extending the
    /// allowance to one interval beyond it (capped by the escrow).
    pub fn accept_receipt(
        &mut self,
        r: VerifiedReceipt<R>,
        now: BlockHeight,
    ) -> Result<Position, ReceiptError> {
        if self.observe_height(now) {
            return Err(self
                .check_receipt(&r, now)
                .err()
                .unwrap_or(ReceiptError::Expired));
        }
        self.check_receipt(&r, now)?;
        let terms = *self.terms();
        let held = Some((r.kib, r.receipt));
        match self {
            SessionState::Opened(_) => {
                *self = SessionState::Active(Active {
                    terms,
                    served_bytes: 0,
                    highest: held,
                    credit_low_at: 0,
                });
            }
            SessionState::Active(a) => a.highest = held,
            SessionState::Exhausted(e) => e.highest = held,
            SessionState::Closed(_) => return Err(ReceiptError::Closed),
        }
        Ok(self.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use veil_primitives::field::fr_from_u64;

    fn sid(n: u64) -> SessionId {
        SessionId::from_fr(fr_from_u64(n))
    }

    fn terms() -> SessionTerms {
        SessionTerms {
            session_id: sid(7),
            credit_kib: 100,
            interval_kib: 10,
            expiry: BlockHeight(50),
        }
    }

    fn rc(kib: u64) -> VerifiedReceipt<u64> {
        VerifiedReceipt {
            session_id: sid(7),
            kib,
            receipt: kib,
        }
    }

    const NOW: BlockHeight = BlockHeight(10);

    #[test]
    fn serves_one_interval_without_receipt() {
        let mut s = SessionState::<u64>::new(terms());
        assert_eq!(s.allowance(NOW), 10 * KIB);
        s.serve(10 * KIB, NOW).unwrap();
        assert_eq!(
            s.serve(1, NOW),
            Err(ServeError::ReceiptRequired {
                served_kib: 10,
                receipted_kib: 0
            })
        );
        s.accept_receipt(rc(10), NOW).unwrap();
        assert_eq!(s.allowance(NOW), 10 * KIB);
        s.serve(1, NOW).unwrap();
    }

    #[test]
    fn serve_is_all_or_nothing() {
        let mut s = SessionState::<u64>::new(terms());
        assert!(s.serve(10 * KIB + 1, NOW).is_err());
        assert_eq!(s.served_bytes(), 0);
        assert_eq!(s, SessionState::new(terms()));
    }

    #[test]
    fn highest_receipt_wins_stale_refused_e1_e4() {
        let mut s = SessionState::<u64>::new(terms());
        s.accept_receipt(rc(15), NOW).unwrap();
        assert_eq!(
            s.accept_receipt(rc(15), NOW),
            Err(ReceiptError::Stale {
                kib: 15,
                highest: 15
            })
        );
        assert_eq!(
            s.accept_receipt(rc(3), NOW),
            Err(ReceiptError::Stale {
                kib: 3,
                highest: 15
            })
        );
        assert_eq!(s.highest(), Some(&(15, 15)));
        s.accept_receipt(rc(20), NOW).unwrap();
        assert_eq!(s.highest(), Some(&(20, 20)));
    }

    #[test]
    fn foreign_receipt_refused_e3() {
        let mut s = SessionState::<u64>::new(terms());
        let r = VerifiedReceipt {
            session_id: sid(8),
            kib: 5,
            receipt: 5,
        };
        assert_eq!(s.accept_receipt(r, NOW), Err(ReceiptError::Foreign));
        assert_eq!(s.highest(), None);
    }

    #[test]
    fn zero_receipt_refused() {
        let mut s = SessionState::<u64>::new(terms());
        assert_eq!(s.accept_receipt(rc(0), NOW), Err(ReceiptError::Zero));
    }

    #[test]
    fn never_beyond_escrow_e5() {
        let mut s = SessionState::<u64>::new(terms());
        s.accept_receipt(rc(1_000), NOW).unwrap();
        assert_eq!(s.allowance(NOW), 100 * KIB);
        s.serve(100 * KIB, NOW).unwrap();
        assert!(matches!(s, SessionState::Exhausted(_)));
        assert_eq!(
            s.serve(1, NOW),
            Err(ServeError::CreditExhausted { credit_kib: 100 })
        );
        // Still accepts a higher receipt (the payout is capped at E anyway).
        s.accept_receipt(rc(1_001), NOW).unwrap();
    }

    #[test]
    fn expiry_closes_e10() {
        let mut s = SessionState::<u64>::new(terms());
        s.accept_receipt(rc(5), NOW).unwrap();
        let later = BlockHeight(51);
        assert_eq!(s.serve(1, later), Err(ServeError::Expired));
        assert_eq!(s.accept_receipt(rc(9), later), Err(ReceiptError::Expired));
        assert!(matches!(
            s,
            SessionState::Closed(Closed {
                reason: ClosedReason::Expired,
                ..
            })
        ));
        assert_eq!(s.highest(), Some(&(5, 5)));
        // At the expiry height itself the session still counts.
        let mut s = SessionState::<u64>::new(terms());
        s.accept_receipt(rc(5), BlockHeight(50)).unwrap();
    }

    #[test]
    fn credit_low_once_per_level() {
        let mut s = SessionState::<u64>::new(terms());
        assert!(!s.serve(4 * KIB, NOW).unwrap().credit_low);
        assert!(s.serve(2 * KIB, NOW).unwrap().credit_low);
        assert!(!s.serve(KIB, NOW).unwrap().credit_low);
        s.accept_receipt(rc(7), NOW).unwrap();
        assert!(s.serve(6 * KIB, NOW).unwrap().credit_low);
    }

    #[test]
    fn restore_keeps_position() {
        let s = SessionState::restore(terms(), 12 * KIB, Some((8, 8u64)));
        assert_eq!(s.position().allowance_bytes, 6 * KIB);
        let s = SessionState::restore(terms(), 100 * KIB, Some((100, 100u64)));
        assert!(matches!(s, SessionState::Exhausted(_)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Serve(u64),
        Receipt(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..20 * KIB).prop_map(Op::Serve),
            (0u64..150).prop_map(Op::Receipt)
        ]
    }

    proptest! {
        /// Whatever the client does: served bytes never exceed one interval
        /// beyond the highest receipt, nor the escrow; the highest receipt
        /// never decreases.
        #[test]
        fn invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let t = terms();
            let mut s = SessionState::<u64>::new(t);
            let mut last_high = 0;
            for o in ops {
                match o {
                    Op::Serve(n) => { let _ = s.serve(n, NOW); }
                    Op::Receipt(k) => { let _ = s.accept_receipt(rc(k), NOW); }
                }
                let high = s.highest().map_or(0, |h| h.0);
                prop_assert!(high >= last_high);
                last_high = high;
                let served = s.served_bytes();
                prop_assert!(served <= t.credit_kib * KIB);
                prop_assert!(served <= (high + t.interval_kib) * KIB);
            }
        }
    }
}
