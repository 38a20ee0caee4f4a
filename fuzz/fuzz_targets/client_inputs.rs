//! What a person or a file gives the client (adversarial F1, F2, F8): the
//! wallet file, amounts and hex field elements. Never panic; an accepted
//! amount or wallet-file hex value has exactly one spelling; an accepted
//! wallet re-encodes to a file that decodes to the same wallet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_client::{
    amount::parse_amount,
    wallet::{WalletData, parse_field_hex, parse_field_hex_exact},
};
use veil_primitives::field::fr_to_bytes;

fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = WalletData::from_bytes(data) {
        assert_eq!(WalletData::from_bytes(&w.to_bytes()).ok(), Some(w));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = parse_amount(s) {
            assert_eq!(v.to_string(), s);
        }
        if let Ok(x) = parse_field_hex_exact(s) {
            assert_eq!(hex32(&fr_to_bytes(&x)), s);
        }
        let _ = parse_field_hex(s);
    }
});
