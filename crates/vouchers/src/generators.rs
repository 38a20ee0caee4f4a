//! Fixed generators (docs/vouchers.md §2).

use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens};
use curve25519_dalek::ristretto::RistrettoPoint;
use sha2::Sha512;

/// Bit size of the range proof on the remaining balance (§6).
pub(crate) const RANGE_BITS: usize = 64;

pub(crate) struct Generators {
    /// Issuer key base: `W = x·G_w`.
    pub g_w: RistrettoPoint,
    /// Constant term of the MAC'd message.
    pub g_0: RistrettoPoint,
    /// Balance attribute.
    pub h_c: RistrettoPoint,
    /// Nullifier attribute.
    pub h_k: RistrettoPoint,
    /// Blinding attribute.
    pub h_r: RistrettoPoint,
    pub pedersen: PedersenGens,
    pub bulletproofs: BulletproofGens,
}

fn derive(name: &str) -> RistrettoPoint {
    let label = format!("veil.voucher.generator.v1.{name}");
    RistrettoPoint::hash_from_bytes::<Sha512>(label.as_bytes())
}

pub(crate) fn generators() -> &'static Generators {
    static GENS: OnceLock<Generators> = OnceLock::new();
    GENS.get_or_init(|| Generators {
        g_w: derive("G_w"),
        g_0: derive("G_0"),
        h_c: derive("H_c"),
        h_k: derive("H_k"),
        h_r: derive("H_r"),
        pedersen: PedersenGens::default(),
        bulletproofs: BulletproofGens::new(RANGE_BITS, 1),
    })
}
