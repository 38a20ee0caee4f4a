//! Progress of long operations (key generation, proving a settlement,
//! wallet sync, ceremony steps), reported by the libraries that do them
//! to whoever drives them. The libraries only emit typed [`Step`] events;
//! the CLI renders them (a bar on a terminal, a few plain lines otherwise,
//! nothing in `--json` mode: `docs/operations.md`, "Progress").
//!
//! This is the one progress hook of the workspace: every library that
//! reports progress takes a `&dyn Progress`.

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

    #[test]
    fn events_reach_the_receiver_through_a_trait_object() {
        let log = Log(Mutex::new(Vec::new()));
        let p: &dyn Progress = &log;
        p.report(Step::new("a", 1, 2));
        Silent.report(Step::new("b", 0, 0));
        assert_eq!(log.0.lock().unwrap().as_slice(), &[("a".to_owned(), 1, 2)]);
    }
}
