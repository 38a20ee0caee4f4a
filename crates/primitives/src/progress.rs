//! Progress of long operations (key generation, proving a settlement,
//! wallet sync, ceremony steps), reported by the libraries that do them
//! to whoever drives them. The libraries only emit typed [`Step`] events;
//! the CLI renders them (a bar on a terminal, a few plain lines otherwise,
//! nothing in `--json` mode: `docs/operations.md`, "Progress").
//!
//! This is the one progress hook of the workspace: every library that
//! reports progress takes a `&dyn Progress`. How a step becomes a few plain
//! lines ([`Throttle`], [`line`]) is here too, so every renderer of lines
//! (the CLI, the load test) prints the same ones.

use std::time::Duration;

/// One progress event: `done` of `total` units of the step named `name`
/// (`total == 0`: the size is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// What is being done, e.g. `"sync: commitments"`.
    pub name: &'a str,
    /// Units done so far.
    pub done: u64,
    /// Units in all, or 0 if unknown.
    pub total: u64,
}

impl<'a> Step<'a> {
    /// `done` of `total` units of `name`.
    pub fn new(name: &'a str, done: u64, total: u64) -> Self {
        Self { name, done, total }
    }
}

/// Receives progress events. Called from loops and from worker threads:
/// implementations must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// One event.
    fn report(&self, step: Step<'_>);
}

/// Reports nothing: for callers that do not show progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _: Step<'_>) {}
}

/// Which plain lines to print: the first event of a step, each quarter of
/// its total crossed, and otherwise one line per `every` (the clock is
/// passed in, so this is tested without one).
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    current: Option<Printed>,
}

/// The step last printed, its quarter (0 to 4) and when.
#[derive(Debug)]
struct Printed {
    name: String,
    quarter: u64,
    at: Duration,
}

/// Quarters of `step` done (0 to 4; 0 when the total is unknown).
fn quarter(step: Step<'_>) -> u64 {
    match step.total {
        0 => 0,
        t => step.done.min(t) * 4 / t,
    }
}

impl Throttle {
    /// Lines at least `every` apart unless a quarter is crossed.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            current: None,
        }
    }

    /// Whether `step`, reported at `now` (time since any fixed start),
    /// gets a line.
    pub fn admit(&mut self, step: Step<'_>, now: Duration) -> bool {
        let q = quarter(step);
        match &mut self.current {
            Some(p) if p.name == step.name => {
                if q <= p.quarter && now.saturating_sub(p.at) < self.every {
                    return false;
                }
                p.quarter = p.quarter.max(q);
                p.at = now;
                true
            }
            _ => {
                self.current = Some(Printed {
                    name: step.name.to_owned(),
                    quarter: q,
                    at: now,
                });
                true
            }
        }
    }
}

/// One plain progress line.
pub fn line(step: Step<'_>) -> String {
    match (step.done, step.total) {
        (0, 0) => format!("{}…", step.name),
        (d, 0) => format!("{}: {d}", step.name),
        (d, t) => format!("{}: {d}/{t} ({}%)", step.name, d.min(t) * 100 / t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Log(Mutex<Vec<(String, u64, u64)>>);
    impl Progress for Log {
        fn report(&self, s: Step<'_>) {
            if let Ok(mut v) = self.0.lock() {
                v.push((s.name.to_owned(), s.done, s.total));
            }
        }
    }

    fn s(at: u64) -> Duration {
        Duration::from_secs(at)
    }

    /// The events of a 100-unit step, one per unit, one per 100 ms.
    fn admitted(throttle: &mut Throttle, name: &str) -> Vec<u64> {
        (0..=100)
            .filter(|&d| throttle.admit(Step::new(name, d, 100), Duration::from_millis(d * 100)))
            .collect()
    }

    #[test]
    fn a_step_prints_at_its_start_and_each_quarter_only() {
        let mut t = Throttle::new(Duration::from_secs(10));
        assert_eq!(admitted(&mut t, "sync"), vec![0, 25, 50, 75, 100]);
        // Repeating the last event prints nothing more.
        assert!(!t.admit(Step::new("sync", 100, 100), s(10)));
    }

    #[test]
    fn a_new_step_prints_at_once_whatever_the_clock() {
        let mut t = Throttle::new(Duration::from_secs(10));
        assert!(t.admit(Step::new("a", 3, 10), s(0)));
        assert!(t.admit(Step::new("b", 3, 10), s(0)));
        assert!(!t.admit(Step::new("b", 4, 10), s(0)));
        assert!(t.admit(Step::new("a", 4, 10), s(0)));
    }

    #[test]
    fn a_slow_step_prints_a_heartbeat_and_no_more() {
        let mut t = Throttle::new(Duration::from_secs(10));
        assert!(t.admit(Step::new("scan", 0, 0), s(0)));
        assert!(!t.admit(Step::new("scan", 5, 0), s(9)));
        assert!(t.admit(Step::new("scan", 6, 0), s(10)));
        assert!(!t.admit(Step::new("scan", 7, 0), s(19)));
        assert!(t.admit(Step::new("scan", 8, 0), s(20)));
        // Within a quarter of a sized step too.
        assert!(t.admit(Step::new("prove", 0, 1000), s(20)));
        assert!(!t.admit(Step::new("prove", 1, 1000), s(29)));
        assert!(t.admit(Step::new("prove", 2, 1000), s(30)));
    }

    #[test]
    fn a_jump_or_an_overshoot_prints_once() {
        let mut t = Throttle::new(Duration::from_secs(10));
        assert!(t.admit(Step::new("x", 0, 8), s(0)));
        assert!(t.admit(Step::new("x", 9, 8), s(0)));
        assert!(!t.admit(Step::new("x", 8, 8), s(0)));
        assert!(!t.admit(Step::new("x", 3, 8), s(0)));
    }

    #[test]
    fn lines_read_as_counts_and_percentages() {
        assert_eq!(line(Step::new("setup", 0, 0)), "setup…");
        assert_eq!(line(Step::new("scan", 7, 0)), "scan: 7");
        assert_eq!(line(Step::new("sync", 50, 200)), "sync: 50/200 (25%)");
        assert_eq!(line(Step::new("sync", 300, 200)), "sync: 300/200 (100%)");
    }

    #[test]
    fn events_reach_the_receiver_through_a_trait_object() {
        let log = Log(Mutex::new(Vec::new()));
        let p: &dyn Progress = &log;
        p.report(Step::new("a", 1, 2));
        Silent.report(Step::new("b", 0, 0));
        assert_eq!(log.0.lock().unwrap().as_slice(), &[("a".to_owned(), 1, 2)]);
    }
}
