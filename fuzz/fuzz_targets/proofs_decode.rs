//! Proof, access token, withdraw proof and settle proof decoders
//! (docs/protocol.md §7.2, §7.6): never panic; accepted ⇒ canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_proofs::{AccessToken, Proof, SettleProof, WithdrawProof};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Proof::from_bytes(data) {
        assert_eq!(p.to_bytes().as_slice(), data);
    }
    if let Ok(t) = AccessToken::from_bytes(data) {
        assert_eq!(t.to_bytes(), data);
    }
    if let Ok(w) = WithdrawProof::from_bytes(data) {
        assert_eq!(w.to_bytes(), data);
    }
    if let Ok(s) = SettleProof::from_bytes(data) {
        assert_eq!(s.to_bytes(), data);
    }
});
