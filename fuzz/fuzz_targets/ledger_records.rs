//! The ledger's stored records, as a corrupted database would feed them on
//! restart (adversarial D8, docs/ledger.md): never panic; accepted ⇒ canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
// The frontier and root history records are `veil_primitives::merkle`
// encodings, fuzzed by `primitives_decode`.
use veil_ledger::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use veil_ledger::schema;

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
});
