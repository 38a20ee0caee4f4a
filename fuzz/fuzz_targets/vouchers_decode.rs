//! Voucher messages (docs/vouchers.md): never panic; accepted ⇒ canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_vouchers::{
    Credential, IssuanceRequest, IssuanceResponse, IssuerPublicKey, IssuerSecretKey, SpendRequest,
    SpendResponse, VoucherNullifier,
};

macro_rules! round_trip {
    ($ty:ty, $data:expr) => {
        if let Ok(v) = <$ty>::from_bytes($data) {
            assert_eq!(v.to_bytes(), $data, stringify!($ty));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    round_trip!(IssuanceRequest, data);
    round_trip!(IssuanceResponse, data);
    round_trip!(Credential, data);
    round_trip!(IssuerPublicKey, data);
    round_trip!(IssuerSecretKey, data);
    round_trip!(SpendRequest, data);
    round_trip!(SpendResponse, data);
    if let Ok(arr) = <[u8; 32]>::try_from(data)
        && let Ok(n) = VoucherNullifier::from_bytes(arr)
    {
        assert_eq!(n.to_bytes(), arr);
    }
});
