//! Progress of long operations on stderr (`docs/operations.md`,
//! "Progress"): `indicatif` bars when stderr is a terminal, a few plain
//! lines when it is not (at 0, 25, 50, 75 and 100 % of a step, and at most
//! one more every [`HEARTBEAT`]; [`Throttle`]), nothing in `--json` mode.
//! This renders the libraries' one progress hook, [`veil_primitives::progress`].

use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
pub use veil_primitives::progress::{Progress, Step, Throttle, line};

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
