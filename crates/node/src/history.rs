//! The node's recent history for the operator's status page
//! (docs/operations.md, "Status page"): a fixed-capacity ring of samples of
//! the node-wide counters, and a record of each settlement batch.
//!
//! Sans-IO: no clock and no lock inside; the caller passes the time of each
//! sample and batch ([`UnixTime`]). Memory is bounded by the capacities
//! given to [`History::new`]; [`History::default`] keeps
//! [`DEFAULT_SAMPLES`] samples and [`DEFAULT_BATCHES`] batches (40 bytes
//! each, together under 400 KB). Nothing here names a session or a peer:
//! a sample holds node-wide totals only, a batch its size and timing.

use std::collections::VecDeque;
use std::time::Duration;

/// Seconds since the Unix epoch (UTC), as the caller's clock read them.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct UnixTime(pub f64);

impl UnixTime {
    /// The time `t` on the system clock (the epoch if the clock is before it).
    pub fn from_system(t: std::time::SystemTime) -> Self {
        Self(
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        )
    }
}

/// One reading of the node-wide counters and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub at: UnixTime,
    /// Base units paid to the node by settlements, since start.
    pub earnings: u64,
    /// Sessions not closed now.
    pub sessions_open: u64,
    /// Sessions opened since start.
    pub sessions_total: u64,
    /// Payload bytes relayed since start, both directions.
    pub bytes_relayed: u64,
}

/// One settlement batch accepted by the ledger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchRecord {
    pub at: UnixTime,
    /// Sessions it settled (at most its circuit size `K`).
    pub sessions: u32,
    /// Time spent proving it.
    pub prove_time: Duration,
    /// Base units it paid the node.
    pub paid: u64,
}

/// A throughput reading: the mean rate between two samples, at the later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub at: UnixTime,
    pub bytes_per_second: f64,
}

/// 24 hours of samples at the default interval.
pub const DEFAULT_SAMPLES: usize = 8640;
/// Settlement batches kept.
pub const DEFAULT_BATCHES: usize = 1024;
/// How often the operator's endpoint samples by default.
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Why a sample was not recorded.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum HistoryError {
    #[error("a sample at {at} s is older than the last one, at {last} s")]
    OutOfOrder { at: f64, last: f64 },
}

/// The recent samples (oldest first) and settlement batches, each kept up
/// to a fixed capacity: the oldest goes when a new one arrives at capacity.
#[derive(Debug)]
pub struct History {
    samples: VecDeque<Sample>,
    batches: VecDeque<BatchRecord>,
    sample_capacity: usize,
    batch_capacity: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::new(DEFAULT_SAMPLES, DEFAULT_BATCHES)
    }
}

impl History {
    /// An empty history keeping at most `samples` samples and `batches`
    /// batches (each at least one).
    pub fn new(samples: usize, batches: usize) -> Self {
        let (sample_capacity, batch_capacity) = (samples.max(1), batches.max(1));
        Self {
            samples: VecDeque::with_capacity(sample_capacity),
            batches: VecDeque::with_capacity(batch_capacity),
            sample_capacity,
            batch_capacity,
        }
    }

    /// Appends `sample`; one older than the last is refused (a clock
    /// stepped back), so the samples stay in time order.
    pub fn record(&mut self, sample: Sample) -> Result<(), HistoryError> {
        if let Some(last) = self.samples.back()
            && sample.at < last.at
        {
            return Err(HistoryError::OutOfOrder {
                at: sample.at.0,
                last: last.at.0,
            });
        }
        push_bounded(&mut self.samples, sample, self.sample_capacity);
        Ok(())
    }

    /// Appends a settled batch.
    pub fn record_batch(&mut self, batch: BatchRecord) {
        push_bounded(&mut self.batches, batch, self.batch_capacity);
    }

    /// The samples, oldest first, followed by `now` when it is not older
    /// than the last (what a page rendered now draws).
    pub fn samples_until(&self, now: Sample) -> Vec<Sample> {
        let mut out: Vec<Sample> = self.samples.iter().copied().collect();
        if out.last().is_none_or(|last| last.at <= now.at) {
            out.push(now);
        }
        out
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = &Sample> {
        self.samples.iter()
    }

    /// The settlement batches, oldest first.
    pub fn batches(&self) -> impl ExactSizeIterator<Item = &BatchRecord> {
        self.batches.iter()
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, capacity: usize) {
    while ring.len() >= capacity {
        ring.pop_front();
    }
    ring.push_back(item);
}

/// The throughput between consecutive `samples` (time ordered): relayed
/// bytes over elapsed time, at the later sample. Pairs with no time between
/// them are skipped; a counter that went down (a restarted node) reads 0.
pub fn throughput(samples: &[Sample]) -> Vec<Rate> {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].at.0 - w[0].at.0;
            (dt > 0.0).then(|| Rate {
                at: w[1].at,
                bytes_per_second: w[1].bytes_relayed.saturating_sub(w[0].bytes_relayed) as f64 / dt,
            })
        })
        .collect()
}

/// At most `max` of `samples`, evenly spaced, always keeping the last (so a
/// long history draws as a light chart; counters stay exact at the points
/// kept, and rates between them are means over the wider interval).
pub fn thin(samples: &[Sample], max: usize) -> Vec<Sample> {
    let max = max.max(2);
    if samples.len() <= max {
        return samples.to_vec();
    }
    let stride = samples.len().div_ceil(max - 1);
    let last = samples.len() - 1;
    let mut out: Vec<Sample> = samples.iter().step_by(stride).copied().collect();
    if (last % stride) != 0 {
        out.push(samples[last]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, bytes: u64) -> Sample {
        Sample {
            at: UnixTime(t),
            bytes_relayed: bytes,
            ..Sample::default()
        }
    }

    #[test]
    fn the_default_history_stays_under_its_documented_bound() {
        // docs/operations.md, "Status page": under 400 KB.
        let bytes = DEFAULT_SAMPLES * std::mem::size_of::<Sample>()
            + DEFAULT_BATCHES * std::mem::size_of::<BatchRecord>();
        assert!(bytes < 400_000, "{bytes} bytes");
        let mut h = History::default();
        for t in 0..2 * DEFAULT_SAMPLES {
            h.record(at(t as f64, 0)).unwrap();
        }
        assert_eq!(h.samples().len(), DEFAULT_SAMPLES);
    }

    #[test]
    fn an_empty_history_draws_the_sample_now() {
        let h = History::default();
        assert_eq!(h.samples().len(), 0);
        assert_eq!(h.batches().len(), 0);
        assert_eq!(h.samples_until(at(5.0, 0)), vec![at(5.0, 0)]);
        assert!(throughput(&h.samples_until(at(5.0, 0))).is_empty());
    }

    #[test]
    fn it_keeps_at_most_its_capacity_dropping_the_oldest() {
        let mut h = History::new(3, 2);
        for t in 0..10 {
            h.record(at(t as f64, t)).unwrap();
            h.record_batch(BatchRecord {
                at: UnixTime(t as f64),
                sessions: 1,
                prove_time: Duration::from_millis(t),
                paid: t,
            });
        }
        let kept: Vec<f64> = h.samples().map(|s| s.at.0).collect();
        assert_eq!(kept, vec![7.0, 8.0, 9.0]);
        let batches: Vec<u64> = h.batches().map(|b| b.paid).collect();
        assert_eq!(batches, vec![8, 9]);
        // A zero capacity still keeps the last one.
        let mut one = History::new(0, 0);
        one.record(at(1.0, 1)).unwrap();
        one.record(at(2.0, 2)).unwrap();
        assert_eq!(one.samples().len(), 1);
    }

    #[test]
    fn samples_stay_in_time_order() {
        let mut h = History::new(10, 1);
        h.record(at(10.0, 0)).unwrap();
        h.record(at(10.0, 1)).unwrap();
        assert_eq!(
            h.record(at(9.0, 2)),
            Err(HistoryError::OutOfOrder {
                at: 9.0,
                last: 10.0
            })
        );
        assert_eq!(h.samples().len(), 2);
        // A "now" older than the history is not drawn after it.
        assert_eq!(h.samples_until(at(3.0, 0)).len(), 2);
        assert_eq!(h.samples_until(at(11.0, 0)).len(), 3);
    }

    #[test]
    fn throughput_is_bytes_over_time_between_samples() {
        let samples = [
            at(0.0, 0),
            at(10.0, 1000),
            at(10.0, 5000),
            at(20.0, 3000),
            at(30.0, 4000),
        ];
        let rates = throughput(&samples);
        let got: Vec<(f64, f64)> = rates.iter().map(|r| (r.at.0, r.bytes_per_second)).collect();
        // The pair with no time between them is skipped; the counter that
        // went down reads 0.
        assert_eq!(got, vec![(10.0, 100.0), (20.0, 0.0), (30.0, 100.0)]);
    }

    #[test]
    fn thinning_keeps_the_first_and_last_and_at_most_max() {
        let samples: Vec<Sample> = (0..1000).map(|t| at(t as f64, t)).collect();
        let thinned = thin(&samples, 100);
        assert!(thinned.len() <= 100, "{}", thinned.len());
        assert_eq!(thinned.first(), samples.first());
        assert_eq!(thinned.last(), samples.last());
        assert!(thinned.windows(2).all(|w| w[0].at < w[1].at));
        assert_eq!(thin(&samples[..5], 100), samples[..5].to_vec());
    }
}
