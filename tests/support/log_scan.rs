//! Searching log output for values the privacy rules keep out of it
//! (docs/protocol.md §9.2, C10: no nullifier — the session id — next to a
//! peer address). Included with `#[path]` by `privacy_sessions.rs` (logs
//! captured in process) and `log_privacy.rs` (the JSON logs of every
//! process of a run).
#![allow(dead_code)]

use veil_primitives::Fr;
use veil_primitives::field::fr_to_bytes;

/// The log filter of the privacy tests: every level of the veil crates and
/// of the transport; not arkworks, whose instrumented spans format whole
/// constraint systems.
pub const TRACE_FILTER: &str = "warn,veil_node=trace,veil_client=trace,veil_ledger=trace,\
veil_proto=trace,veil_cli=trace,tonic=debug,hyper=debug,h2=debug,tower=debug";

/// One value to look for, under a name for failure messages.
pub struct Needle {
    pub name: String,
    /// Lower-case forms: hex of the big-endian encoding, of its reverse
    /// (as a little-endian `Debug` might print it), and decimal.
    forms: Vec<String>,
    /// Lower-case hex of the first 4 bytes of each byte order: enough to
    /// link a line to the value, so never on a line with an address.
    prefixes: Vec<String>,
}

impl Needle {
    /// A field element (nullifier, commitment, key hash).
    pub fn fr(name: &str, x: &Fr) -> Self {
        let mut n = Needle::bytes(name, &fr_to_bytes(x));
        n.forms.push(x.to_string());
        n
    }

    /// 32 bytes in their canonical (big-endian) encoding.
    pub fn bytes(name: &str, b: &[u8; 32]) -> Self {
        let mut le = *b;
        le.reverse();
        Needle {
            name: name.to_owned(),
            forms: vec![hex::encode(b), hex::encode(le)],
            prefixes: vec![hex::encode(&b[..4]), hex::encode(&le[..4])],
        }
    }
}

/// Why a line breaks the rules.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// The whole value, in any of its forms.
    Value(String),
    /// Its first 4 bytes, on a line that names a peer address.
    NextToAddress(String),
}

/// What `line` reveals of `needles` (hex in either case).
pub fn scan(line: &str, needles: &[Needle]) -> Vec<Finding> {
    let lower = line.to_lowercase();
    let address = has_ipv4(&lower);
    let mut found = Vec::new();
    for n in needles {
        if n.forms.iter().any(|f| lower.contains(f.as_str())) {
            found.push(Finding::Value(n.name.clone()));
        } else if address && n.prefixes.iter().any(|p| lower.contains(p.as_str())) {
            found.push(Finding::NextToAddress(n.name.clone()));
        }
    }
    found
}

/// Whether `s` holds a dotted IPv4 address (`a.b.c.d`, each 0–255).
pub fn has_ipv4(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len())
        .any(|i| (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.')) && ipv4_at(&b[i..]))
}

fn ipv4_at(b: &[u8]) -> bool {
    let mut i = 0;
    for part in 0..4 {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            i += 1;
        }
        let ok = i > start
            && std::str::from_utf8(&b[start..i])
                .ok()
                .and_then(|d| d.parse::<u16>().ok())
                .is_some_and(|v| v <= 255);
        if !ok {
            return false;
        }
        if part < 3 {
            if b.get(i) != Some(&b'.') {
                return false;
            }
            i += 1;
        }
    }
    let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    !digit(i) && !(b.get(i) == Some(&b'.') && digit(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nf() -> Fr {
        // A value whose bytes are all distinct from a short counter's.
        Fr::from(0x1234_5678_9abc_def0_u64) * Fr::from(0x0fed_cba9_8765_4321_u64)
    }

    #[test]
    fn finds_a_planted_nullifier_in_every_form() {
        let x = nf();
        let needles = [Needle::fr("nf", &x)];
        let be = hex::encode(fr_to_bytes(&x));
        let mut le = fr_to_bytes(&x);
        le.reverse();
        for planted in [
            format!(r#"{{"fields":{{"message":"session opened","session":"{be}"}}}}"#),
            format!("session {}", be.to_uppercase()),
            format!("session 0x{}", hex::encode(le)),
            format!("session {x}"),
            format!("session {x:?}"),
        ] {
            assert_eq!(
                scan(&planted, &needles),
                [Finding::Value("nf".into())],
                "{planted}"
            );
        }
        let prefix = &be[..8];
        let near = format!(r#"{{"fields":{{"peer":"127.0.0.1:50412","sid":"{prefix}…"}}}}"#);
        assert_eq!(scan(&near, &needles), [Finding::NextToAddress("nf".into())]);
        // The same prefix away from an address, and an address alone, pass.
        assert!(scan(&format!("sid {prefix}"), &needles).is_empty());
        assert!(scan("peer 127.0.0.1:50412 connected", &needles).is_empty());
        // Decimal is found as such (Display of a field element).
        assert_eq!(Fr::from(12_345u64).to_string(), "12345");
    }

    #[test]
    fn tells_addresses_from_versions_and_numbers() {
        assert!(has_ipv4("peer=127.0.0.1:9"));
        assert!(has_ipv4("10.0.0.255"));
        assert!(!has_ipv4("version 0.8.1"));
        assert!(!has_ipv4("1.2.3.4.5"));
        assert!(!has_ipv4("256.1.1.1"));
        assert!(!has_ipv4("took 12.5 ms"));
    }
}
