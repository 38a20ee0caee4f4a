//! The operator's cap on the node's relay rate (`--relay-limit-kbps`): one
//! schedule shared by every stream, so the node as a whole relays at most
//! that many kbit/s toward its clients. No clock of its own: callers pass
//! `now` and sleep for what [`Pace::reserve`] answers.
//!
//! A node that caps itself below the capacity its profile claims
//! (docs/protocol.md §8.3.9) is what audits measure and slash
//! (docs/market.md §6–7): the demo's `cheating-node` scenario runs one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// A byte schedule at a fixed rate.
#[derive(Debug)]
pub struct Pace {
    bytes_per_sec: u64,
    /// When the bytes reserved so far have all been sent.
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// A cap of `kbps` kbit/s (`None` for zero: no cap is a missing `Pace`).
    pub fn new(kbps: u64) -> Option<Self> {
        (kbps > 0).then(|| Self {
            bytes_per_sec: kbps.saturating_mul(1_000) / 8,
            next: Mutex::new(None),
        })
    }

    /// Reserves `n` bytes at `now`; returns how long to wait before
    /// sending them so that the total rate stays at the cap. A schedule
    /// that fell behind restarts at `now` (idle time is not banked).
    pub fn reserve(&self, n: usize, now: Instant) -> Duration {
        let mut next = lock(&self.next);
        let start = next.map_or(now, |t| t.max(now));
        let span = Duration::from_secs_f64(n as f64 / self.bytes_per_sec.max(1) as f64);
        *next = Some(start + span);
        start.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_no_cap() {
        assert!(Pace::new(0).is_none());
    }

    #[test]
    fn reservations_are_spaced_at_the_rate_and_idle_time_is_not_banked() {
        // 8,000 kbit/s = 1,000,000 bytes/s: 100,000 bytes take 100 ms.
        let p = Pace::new(8_000).expect("a cap");
        let t0 = Instant::now();
        assert_eq!(p.reserve(100_000, t0), Duration::ZERO);
        assert_eq!(p.reserve(100_000, t0), Duration::from_millis(100));
        assert_eq!(p.reserve(100_000, t0), Duration::from_millis(200));
        // Later than the schedule: no wait, and no credit for the gap.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(p.reserve(100_000, later), Duration::ZERO);
        assert_eq!(p.reserve(100_000, later), Duration::from_millis(100));
    }

    #[test]
    fn a_second_of_reservations_is_the_rate() {
        let p = Pace::new(800).expect("a cap"); // 100,000 bytes/s
        let t0 = Instant::now();
        let mut wait = Duration::ZERO;
        for _ in 0..100 {
            wait = p.reserve(1_000, t0);
        }
        // The 100th kilobyte waits 990 ms: 100 KB in one second.
        assert_eq!(wait, Duration::from_millis(990));
    }
}
