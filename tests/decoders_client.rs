//! Decoder robustness for what the client reads from outside (adversarial
//! G5, F1, F2, F8): the wallet file, hex field elements and amounts typed by
//! a person, and the SOCKS5 request of a local application.
//!
//! Properties: no input panics; an accepted wallet file re-encodes to a file
//! that decodes to the same wallet (JSON whitespace is not canonical, the
//! value is); an accepted amount or hex value has exactly one spelling; an
//! accepted SOCKS5 request is the canonical request for the parsed target.

#[path = "support/seeds.rs"]
mod seeds;

use proptest::prelude::*;
use veil_client::{
    amount::parse_amount,
    socks5::{self, Host, Target},
    wallet::{WalletData, parse_field_hex, parse_field_hex_exact},
};
use veil_primitives::{Fr, field::fr_to_bytes};

/// A freshly created wallet file, as `Wallet::create` writes it.
fn wallet_file() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.json");
    veil_client::wallet::Wallet::create(&path, Fr::from(12345u64), [6u8; 32])
        .expect("create wallet");
    std::fs::read(&path).expect("read wallet")
}

fn wallet_round_trips(bytes: &[u8]) -> Result<bool, TestCaseError> {
    match WalletData::from_bytes(bytes) {
        Ok(w) => {
            let again = WalletData::from_bytes(&w.to_bytes());
            prop_assert_eq!(again.as_ref().ok(), Some(&w), "re-encoded wallet differs");
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// Runs the server side of the SOCKS5 handshake over `input` (then EOF).
fn socks_accept(input: &[u8]) -> Result<Target, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (mut app, mut proxy) = tokio::io::duplex(64 * 1024);
        tokio::io::AsyncWriteExt::write_all(&mut app, input)
            .await
            .map_err(|e| e.to_string())?;
        tokio::io::AsyncWriteExt::shutdown(&mut app)
            .await
            .map_err(|e| e.to_string())?;
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            socks5::accept(&mut proxy),
        )
        .await
        .map_err(|_| "handshake hung on a closed stream".to_string())?;
        r.map_err(|e| e.to_string())
    })
}

/// The canonical client bytes for `target`: greeting offering no-auth only,
/// then CONNECT (RFC 1928).
fn socks_request(target: &Target) -> Vec<u8> {
    let mut out = vec![5, 1, 0, 5, 1, 0];
    match &target.host {
        Host::Ip(std::net::IpAddr::V4(a)) => {
            out.push(1);
            out.extend_from_slice(&a.octets());
        }
        Host::Ip(std::net::IpAddr::V6(a)) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        Host::Domain(d) => {
            out.push(3);
            out.push(d.len() as u8);
            out.extend_from_slice(d.as_bytes());
        }
    }
    out.extend_from_slice(&target.port.to_be_bytes());
    out
}

#[test]
fn seeds_are_accepted() {
    assert!(WalletData::from_bytes(&wallet_file()).is_ok());
    let t = Target {
        host: Host::Domain("example.org".into()),
        port: 443,
    };
    assert_eq!(socks_accept(&socks_request(&t)), Ok(t));
    let t6 = Target {
        host: Host::Ip("2001:db8::1".parse().expect("ip")),
        port: 80,
    };
    assert_eq!(socks_accept(&socks_request(&t6)), Ok(t6));
}

#[test]
fn socks_truncated_requests_are_rejected() {
    let t = Target {
        host: Host::Domain("a.example".into()),
        port: 8080,
    };
    let full = socks_request(&t);
    for keep in 0..full.len() {
        assert!(
            socks_accept(&full[..keep]).is_err(),
            "accepted {keep} bytes"
        );
    }
}

#[test]
fn wallet_with_non_canonical_key_is_rejected() {
    // F2 in the file: the spending key as r (>= r, would reduce to 0).
    let w = String::from_utf8(wallet_file()).expect("utf-8 wallet");
    let key = hex::encode(fr_to_bytes(&Fr::from(12345u64)));
    assert!(w.contains(&key));
    let r_hex = "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
    let bad = w.replace(&key, r_hex);
    assert!(WalletData::from_bytes(bad.as_bytes()).is_err());
    // Upper case is not the file's spelling either.
    let upper = w.replace(&key, &key.to_ascii_uppercase());
    assert!(key.chars().any(|c| c.is_ascii_alphabetic()) || upper == w);
    if upper != w {
        assert!(WalletData::from_bytes(upper.as_bytes()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wallet_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        wallet_round_trips(&bytes)?;
    }

    #[test]
    fn wallet_mutations_never_panic(at in any::<usize>(), value in any::<u8>(), keep in any::<usize>(), tail in ".{0,20}") {
        let valid = wallet_file();
        let mut flipped = valid.clone();
        let n = flipped.len();
        flipped[at % n] = value;
        wallet_round_trips(&flipped)?;
        wallet_round_trips(&valid[..keep % n])?;
        let mut extended = valid.clone();
        extended.extend_from_slice(tail.as_bytes());
        wallet_round_trips(&extended)?;
    }

    #[test]
    fn amount_has_one_spelling(s in "\\PC{0,24}|[0-9]{0,22}") {
        if let Ok(v) = parse_amount(&s) {
            prop_assert_eq!(v.to_string(), s);
        }
    }

    #[test]
    fn hex_field_has_one_spelling(s in "(0[xX])?[0-9a-fA-F]{62,66}|\\PC{0,70}") {
        if let Ok(x) = parse_field_hex_exact(&s) {
            prop_assert_eq!(hex::encode(fr_to_bytes(&x)), s.clone());
        }
        if let Ok(x) = parse_field_hex(&s) {
            let body = s.trim_start_matches("0x").trim_start_matches("0X").to_ascii_lowercase();
            prop_assert_eq!(hex::encode(fr_to_bytes(&x)), body);
        }
    }

    #[test]
    fn socks_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(t) = socks_accept(&bytes) {
            let canonical = socks_request(&t);
            // The greeting may offer several methods; the CONNECT request
            // follows it and must be the canonical one (trailing bytes are
            // application data, not part of the handshake).
            let greeting = 2 + usize::from(bytes[1]);
            prop_assert!(bytes[greeting..].starts_with(&canonical[3..]), "accepted {:?} as {:?}", bytes, t);
        }
    }

    #[test]
    fn socks_valid_prefix_with_random_request(
        head in prop::collection::vec(any::<u8>(), 4),
        body in prop::collection::vec(any::<u8>(), 0..270),
    ) {
        let mut input = vec![5, 1, 0];
        input.extend_from_slice(&head);
        input.extend_from_slice(&body);
        if let Ok(t) = socks_accept(&input) {
            let canonical = socks_request(&t);
            prop_assert!(input.starts_with(&canonical), "accepted {:?} as {:?}", input, t);
        }
    }
}

/// The committed fuzz seed corpus is current (support/seeds.rs).
#[test]
fn fuzz_seed_corpus_is_current() {
    seeds::seed_corpus(
        "client_inputs",
        &[
            ("wallet", wallet_file()),
            ("amount", b"18446744073709551615".to_vec()),
            (
                "hex",
                hex::encode(fr_to_bytes(&Fr::from(99u64))).into_bytes(),
            ),
        ],
    );
    let domain = Target {
        host: Host::Domain("example.org".into()),
        port: 443,
    };
    let v6 = Target {
        host: Host::Ip("2001:db8::1".parse().expect("ip")),
        port: 80,
    };
    let v4 = Target {
        host: Host::Ip("192.0.2.7".parse().expect("ip")),
        port: 22,
    };
    seeds::seed_corpus(
        "socks5_request",
        &[
            ("domain", socks_request(&domain)),
            ("ipv6", socks_request(&v6)),
            ("ipv4", socks_request(&v4)),
        ],
    );
}
