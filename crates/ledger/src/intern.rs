//! Error texts received over a wire as `&'static str`: `LedgerError`'s
//! variants carry static texts, and a client rebuilding them from a gRPC
//! status or a contract revert leaks each distinct text once, up to a cap
//! (a ledger's texts are a fixed, small set; an answer beyond the cap is
//! not a ledger's, and gets a generic text).

use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct texts kept process-wide.
pub const MAX_INTERNED: usize = 256;

/// What a text past the cap becomes.
pub const GENERIC: &str = "refused by the ledger";

/// Texts made `&'static str` by leaking each distinct one once, at most
/// `cap` of them.
pub struct Interner {
    seen: HashSet<&'static str>,
    cap: usize,
}

impl Interner {
    pub fn new(cap: usize) -> Self {
        Interner {
            seen: HashSet::new(),
            cap,
        }
    }

    pub fn get(&mut self, s: &str) -> &'static str {
        if let Some(k) = self.seen.get(s) {
            return k;
        }
        if self.seen.len() >= self.cap {
            return GENERIC;
        }
        let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
        self.seen.insert(k);
        k
    }
}

/// `s` as a `&'static str`, through the process-wide [`Interner`].
pub fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Option<Interner>> = Mutex::new(None);
    let Ok(mut guard) = SEEN.lock() else {
        return GENERIC;
    };
    guard
        .get_or_insert_with(|| Interner::new(MAX_INTERNED))
        .get(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leak_per_text_and_a_cap() {
        let mut i = Interner::new(3);
        let a = i.get("a");
        assert!(std::ptr::eq(a, i.get("a")));
        i.get("b");
        i.get("c");
        assert_eq!(i.get("d"), GENERIC);
        assert_eq!(i.get("a"), "a");
    }
}
