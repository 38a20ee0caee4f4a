//! Field element, BabyJubJub point and scalar, EdDSA signature and key,
//! signed receipt, stored frontier and root history (docs/protocol.md §2,
//! §6): never panic; accepted ⇒ canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_primitives::{
    babyjubjub::{Point, Scalar},
    eddsa::{Signature, VerifyingKey},
    field::{fr_from_slice, fr_to_bytes},
    merkle::{Frontier, RootHistory},
    receipt::SignedReceipt,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(x) = fr_from_slice(data) {
        assert_eq!(fr_to_bytes(&x).as_slice(), data);
    }
    if let Ok(p) = Point::from_slice(data) {
        assert_eq!(p.to_bytes().as_slice(), data);
    }
    if let Ok(arr) = <&[u8; 64]>::try_from(data)
        && let Ok(k) = VerifyingKey::from_bytes(arr)
    {
        assert_eq!(k.to_bytes().as_slice(), data);
    }
    if let Ok(arr) = <&[u8; 32]>::try_from(data)
        && let Ok(s) = Scalar::from_bytes(arr)
    {
        assert_eq!(s.to_bytes().as_slice(), data);
    }
    if let Ok(s) = Signature::from_slice(data) {
        assert_eq!(s.to_bytes().as_slice(), data);
    }
    if let Ok(r) = SignedReceipt::from_bytes(data) {
        assert_eq!(r.to_bytes().as_slice(), data);
    }
    if let Ok(f) = Frontier::from_bytes(data) {
        assert_eq!(f.to_bytes(), data);
    }
    if let Ok(h) = RootHistory::from_bytes(data) {
        assert_eq!(h.to_bytes(), data);
    }
});
