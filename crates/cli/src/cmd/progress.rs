//! Progress of long operations on stderr (`docs/operations.md`,
//! "Progress"): `indicatif` bars when stderr is a terminal, a few plain
//! lines when it is not (at 0, 25, 50, 75 and 100 % of a step, and at most
//! one more every [`HEARTBEAT`]), nothing in `--json` mode. This renders
//! the libraries' one progress hook, [`veil_primitives::progress`].

use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
pub use veil_primitives::progress::{Progress, Step};

/// Longest silence of a plain-line step that is still running.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `indicatif` bars and spinners (stderr is a terminal).
    Bars,
    /// Plain, throttled lines (stderr is a file or a pipe).
    Lines,
    /// Nothing (`--json`).
    Quiet,
}

impl Mode {
    /// Quiet with `json`, else bars on a terminal and lines otherwise.
    pub fn detect(json: bool) -> Self {
        match (json, std::io::stderr().is_terminal()) {
            (true, _) => Self::Quiet,
            (false, true) => Self::Bars,
            (false, false) => Self::Lines,
        }
    }
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

/// The bar of the step being shown.
struct Bar {
    name: String,
    bar: ProgressBar,
}

/// Renders progress events on stderr in one [`Mode`].
pub struct Reporter {
    mode: Mode,
    started: Instant,
    bar: Mutex<Option<Bar>>,
    lines: Mutex<Throttle>,
}

impl Reporter {
    /// A reporter for a command with (`json`) or without `--json`.
    pub fn new(json: bool) -> Self {
        Self::with_mode(Mode::detect(json))
    }

    /// A reporter in `mode`.
    pub fn with_mode(mode: Mode) -> Self {
        Self {
            mode,
            started: Instant::now(),
            bar: Mutex::new(None),
            lines: Mutex::new(Throttle::new(HEARTBEAT)),
        }
    }

    /// A step of unknown size begins (a spinner, or one line).
    pub fn stage(&self, name: &str) {
        self.report(Step::new(name, 0, 0));
    }

    /// A line of text above the bar (on stderr; nothing when quiet).
    pub fn note(&self, text: &str) {
        match (self.mode, lock(&self.bar).as_ref()) {
            (Mode::Quiet, _) => {}
            (Mode::Bars, Some(b)) => b.bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    /// Clears the current bar, e.g. before printing a result.
    pub fn finish(&self) {
        if let Some(b) = lock(&self.bar).take() {
            b.bar.finish_and_clear();
        }
    }

    fn draw(&self, step: Step<'_>) {
        let mut current = lock(&self.bar);
        match current.as_mut() {
            Some(b) if b.name == step.name => {
                if step.total > 0 {
                    b.bar.set_length(step.total);
                }
                b.bar.set_position(step.done);
            }
            _ => {
                if let Some(old) = current.take() {
                    old.bar.finish_and_clear();
                }
                *current = Some(Bar {
                    name: step.name.to_owned(),
                    bar: new_bar(step),
                });
            }
        }
    }
}

impl Progress for Reporter {
    fn report(&self, step: Step<'_>) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bars => self.draw(step),
            Mode::Lines => {
                if lock(&self.lines).admit(step, self.started.elapsed()) {
                    eprintln!("{}", line(step));
                }
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A bar for a step of known size, else a spinner.
fn new_bar(step: Step<'_>) -> ProgressBar {
    let (bar, template) = match step.total {
        0 => (
            ProgressBar::new_spinner(),
            "{spinner} [{elapsed_precise}] {msg}",
        ),
        t => (
            ProgressBar::new(t),
            "{msg} [{bar:30}] {pos}/{len} [{elapsed_precise}, eta {eta}]",
        ),
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(step.name.to_owned());
    bar.set_position(step.done);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A poisoned lock still holds usable progress state.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut t = Throttle::new(HEARTBEAT);
        assert_eq!(admitted(&mut t, "sync"), vec![0, 25, 50, 75, 100]);
        // Repeating the last event prints nothing more.
        assert!(!t.admit(Step::new("sync", 100, 100), s(10)));
    }

    #[test]
    fn a_new_step_prints_at_once_whatever_the_clock() {
        let mut t = Throttle::new(HEARTBEAT);
        assert!(t.admit(Step::new("a", 3, 10), s(0)));
        assert!(t.admit(Step::new("b", 3, 10), s(0)));
        assert!(!t.admit(Step::new("b", 4, 10), s(0)));
        assert!(t.admit(Step::new("a", 4, 10), s(0)));
    }

    #[test]
    fn a_slow_step_prints_a_heartbeat_and_no_more() {
        let mut t = Throttle::new(HEARTBEAT);
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
        let mut t = Throttle::new(HEARTBEAT);
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
    fn quiet_and_bar_reporters_accept_events_from_threads() {
        for mode in [Mode::Quiet, Mode::Bars] {
            let r = Reporter::with_mode(mode);
            std::thread::scope(|sc| {
                for i in 0..4 {
                    let r = &r;
                    sc.spawn(move || r.report(Step::new("t", i, 4)));
                }
            });
            r.stage("next");
            r.finish();
        }
    }
}
