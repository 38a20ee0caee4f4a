//! The ledger's stored records, as a corrupted database would feed them on
//! restart (adversarial D8, docs/ledger.md): never panic; accepted ⇒ canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_ledger::{
    schema::{self, DepositRecord, NullifierUse, SettlementRecord, Totals},
    tree::Frontier,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = NullifierUse::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = DepositRecord::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = schema::decode_escrow(data) {
        assert_eq!(schema::encode_escrow(&v), data);
    }
    if let Ok(v) = schema::decode_node(data) {
        assert_eq!(schema::encode_node(&v), data);
    }
    if let Ok(v) = SettlementRecord::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = Totals::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = schema::decode_roots(data) {
        assert_eq!(schema::encode_roots(&v), data);
    }
    if let Ok(v) = Frontier::from_bytes(data) {
        assert_eq!(v.to_bytes(), data);
    }
});
