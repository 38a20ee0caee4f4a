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
        Needle::secret(name, b)
    }

    /// Secret bytes of any length (at least 4): hex of either byte order.
    pub fn secret(name: &str, b: &[u8]) -> Self {
        let mut le = b.to_vec();
        le.reverse();
        Needle {
            name: name.to_owned(),
            forms: vec![hex::encode(b), hex::encode(&le)],
            prefixes: vec![hex::encode(&b[..4]), hex::encode(&le[..4])],
        }
    }

    /// Secret text, as a file holds it (a line of a PEM body), compared
    /// case-insensitively; no prefix rule.
    pub fn text(name: &str, s: &str) -> Self {
        Needle {
            name: name.to_owned(),
            forms: vec![s.to_lowercase()],
            prefixes: Vec::new(),
        }
    }
}

/// The DER bytes of the first PEM block of `pem` and the body's base64
/// lines (`None` if it holds no well-formed block).
pub fn pem_body(pem: &str) -> Option<(Vec<u8>, Vec<String>)> {
    let lines: Vec<&str> = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .collect();
    let text: String = lines.concat();
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text
        .trim_end_matches('=')
        .bytes()
        .map(value)
        .collect::<Option<_>>()?;
    let der = digits
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().fold(0u32, |n, &d| n << 6 | u32::from(d)) << (6 * (4 - c.len()));
            n.to_be_bytes()[1..c.len()].to_vec()
        })
        .collect::<Vec<u8>>();
    (!der.is_empty()).then(|| (der, lines.iter().map(|l| (*l).to_owned()).collect()))
}

/// The 32-byte private scalar of an EC private key in PKCS#8 or SEC1 DER
/// (`ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING … }`).
pub fn ec_private_scalar(der: &[u8]) -> Option<[u8; 32]> {
    let at = der
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])?;
    der.get(at + 5..at + 37)?.try_into().ok()
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
    fn reads_a_pem_key_and_finds_its_scalar() {
        // A P-256 PKCS#8 key from `openssl genpkey` (RFC 5915 inside RFC
        // 5958), made for this test; its scalar as `openssl pkey -text` shows it.
        let pem = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEV36V6aiQp4JrxY7\n\
bCakF/eCgQBRNYK+HOkQOSHcpC6hRANCAATzheO3Rljb1ByhMpeLYvj8bpLD8nhX\n\
/yuRAAkWoJ7da/yO5pX3roM8SfD0yub6EsBEo4L1eFR+vMCW6HtwQlEK\n\
-----END PRIVATE KEY-----\n";
        let (der, lines) = pem_body(pem).expect("pem");
        assert_eq!(der.len(), 138);
        assert_eq!(lines.len(), 3);
        let scalar = ec_private_scalar(&der).expect("scalar");
        assert_eq!(
            hex::encode(scalar),
            "115dfa57a6a2429e09af163b6c26a417f7828100513582be1ce9103921dca42e"
        );
        let needles = [
            Needle::secret("tls key", &scalar),
            Needle::text("pem line", &lines[1]),
        ];
        assert_eq!(
            scan(
                &format!("key {}", hex::encode(scalar).to_uppercase()),
                &needles
            ),
            [Finding::Value("tls key".into())]
        );
        assert_eq!(
            scan(&format!("pem: {}", lines[1]), &needles),
            [Finding::Value("pem line".into())]
        );
        assert!(pem_body("no pem here").is_none());
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
