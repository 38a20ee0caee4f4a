//! Shared by the tests that run every party as its own process: children
//! killed on drop, reading a child's output up to a line, a free port, the
//! destination's byte pattern. Included with `#[path]`; each test uses
//! what it needs.
#![allow(dead_code)]

use std::io::BufRead;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Every child process, killed (and reaped) when the test ends, even on panic.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Children {
    pub fn add(&mut self, c: Child) -> usize {
        self.0.push(c);
        self.0.len() - 1
    }

    pub fn pid(&self, i: usize) -> i32 {
        i32::try_from(self.0[i].id()).expect("pid")
    }

    pub fn alive(&mut self, i: usize) -> bool {
        matches!(self.0[i].try_wait(), Ok(None))
    }

    /// Signals child `i` and waits (at most `secs`) for it to exit.
    pub fn signal_and_wait(&mut self, i: usize, sig: i32, secs: u64) -> ExitStatus {
        self.signal_and_wait_or(i, sig, secs, String::new)
    }

    /// [`Self::signal_and_wait`], with `context` (a log, say) in the
    /// failure when the child does not stop in time.
    pub fn signal_and_wait_or(
        &mut self,
        i: usize,
        sig: i32,
        secs: u64,
        context: impl Fn() -> String,
    ) -> ExitStatus {
        let pid = self.pid(i);
        // SAFETY: signalling our own child process by its id.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.0[i].try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "child {pid} did not stop on signal {sig} within {secs} s: {}",
                context()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads lines until one starts with `prefix`; returns the rest of it and
/// the lines read before it.
pub fn read_until<R: BufRead>(r: &mut R, prefix: &str, what: &str) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap_or(0);
        assert!(
            n > 0,
            "{what} ended before printing {prefix:?}; it printed {seen:#?}"
        );
        let line = line.trim_end().to_owned();
        if let Some(rest) = line.strip_prefix(prefix) {
            return (rest.to_owned(), seen);
        }
        seen.push(line);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The bytes the test destination answers to `GET /n`.
pub fn expected_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Writes the hex private key `hex_key` to `dir/name`, mode 0600 (as
/// `veil` requires of a key file).
pub fn key_file(dir: &std::path::Path, name: &str, hex_key: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{hex_key}\n")).expect("write key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}
