//! Phase 2 of a snarkjs Groth16 ceremony (issue 11; `docs/interop.md`,
//! "Phase 2 contributions"): [`Zkey::contribute`] is `snarkjs zkey
//! contribute`, [`Zkey::beacon`] is `snarkjs zkey beacon` (byte for byte:
//! it is deterministic), [`verify_transcript`] is `snarkjs zkey verify`.
//!
//! A contribution with secret `x` (snarkjs 0.7.6 `zkey_contribute.js`):
//! `δ·G1`, `δ·G2` times `x`; every point of `C` (snarkjs' "L") and `H`
//! times `1/x`; a record of `δ·G1` after it and the proof of knowledge of
//! `x`: `g1_s` (a random point), `g1_sx = x·g1_s`, `g2_spx = x·sp` with
//! `sp = hashToG2(transcript)` and `transcript = BLAKE2b-512(csHash ‖ every
//! earlier record's public key ‖ U(g1_s) ‖ U(g1_sx))`. A record's public key
//! is `U(δ_after) ‖ U(g1_s) ‖ U(g1_sx) ‖ U(g2_spx) ‖ transcript` (`U`:
//! snarkjs' big-endian uncompressed encoding) and its BLAKE2b-512 is the
//! contribution hash snarkjs prints.

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::CurveConfig;
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInt, Field, PrimeField, Zero};
use blake2::{Blake2b512, Digest};
use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::Sha256;
use veil_primitives::secret::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{ContributionFailure, InteropError};
use crate::ptau::{Beacon, KeyPart, Ptau};
use crate::r1cs::R1cs;
use crate::zkey::{Zkey, ZkeyContribution, u_g1, u_g2};

/// The smallest and largest beacon iteration exponents snarkjs accepts
/// (`zkey_beacon.js`): the beacon is hashed `2^exp` times.
pub const BEACON_ITERATIONS_EXP: std::ops::RangeInclusive<u8> = 10..=63;

/// BLAKE2b-512 of a contribution's public key: what snarkjs prints as the
/// "Contribution Hash" and lists in `zkey verify`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ContributionHash(pub [u8; 64]);

impl ContributionHash {
    /// Lower-case hex, 128 characters (snarkjs prints the same digits in
    /// groups of eight).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for ContributionHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContributionHash({})", self.to_hex())
    }
}

impl std::fmt::Display for ContributionHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// One verified contribution of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedContribution {
    /// Its hash, as snarkjs prints it.
    pub hash: ContributionHash,
    /// The contributor's name, if any.
    pub name: Option<String>,
    /// `Some` for a beacon.
    pub beacon: Option<Beacon>,
}

/// A phase-2 transcript that [`verify_transcript`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// snarkjs' circuit hash of the initial key.
    pub circuit_hash: [u8; 64],
    /// The contributions, oldest first.
    pub contributions: Vec<VerifiedContribution>,
}

/// ffjavascript's `ChaCha` (`chacha.js`): ChaCha20 keyed with eight `u32`
/// words, block counter from 0, nonce 0; its words in keystream order.
pub(crate) struct SnarkjsRng(ChaCha20Rng);

impl SnarkjsRng {
    /// Keyed with the first 32 bytes of `hash` read as eight big-endian
    /// words, as `hashToG2`, `getRandomRng` and `rngFromBeaconParams` do.
    fn from_hash(hash: &[u8; 32]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        for (k, h) in key.chunks_exact_mut(4).zip(hash.chunks_exact(4)) {
            k.copy_from_slice(h);
            k.reverse();
        }
        SnarkjsRng(ChaCha20Rng::from_seed(*key))
    }

    /// `nextU64`: the first word is the high half.
    fn u64(&mut self) -> u64 {
        let hi = u64::from(self.0.next_u32());
        (hi << 32) | u64::from(self.0.next_u32())
    }

    fn bool(&mut self) -> bool {
        self.0.next_u32() & 1 == 1
    }

    /// `WasmField1.fromRng`: four `nextU64` limbs, least significant
    /// first, masked to 254 bits, drawn again until below `modulus`; the
    /// value is then taken as the element's Montgomery form (snarkjs does
    /// not convert it), which is arkworks' internal form too.
    fn limbs(&mut self, modulus: BigInt<4>) -> BigInt<4> {
        loop {
            let mut limbs = [self.u64(), self.u64(), self.u64(), self.u64()];
            limbs[3] &= (1 << 62) - 1;
            if BigInt(limbs) < modulus {
                return BigInt(limbs);
            }
        }
    }

    pub(crate) fn fr(&mut self) -> Fr {
        Fr::new_unchecked(self.limbs(Fr::MODULUS))
    }

    fn fq(&mut self) -> Fq {
        Fq::new_unchecked(self.limbs(Fq::MODULUS))
    }

    fn fq2(&mut self) -> Fq2 {
        Fq2::new(self.fq(), self.fq())
    }

    /// `WasmCurve.fromRng` on G1 (cofactor 1): `x` and a sign bit until
    /// `x³ + b` is a square; `y` its root whose "negative" flag is the bit.
    pub(crate) fn g1(&mut self) -> G1Affine {
        loop {
            let x = self.fq();
            let sign = self.bool();
            let rhs = x.square() * x + ark_bn254::g1::Config::COEFF_B;
            if let Some(y) = rhs.sqrt() {
                let y = if neg_fq(&y) == sign { y } else { -y };
                return G1Affine::new_unchecked(x, y);
            }
        }
    }

    /// The same on the twist, times snarkjs' G2 cofactor.
    fn g2(&mut self) -> G2Affine {
        loop {
            let x = self.fq2();
            let sign = self.bool();
            let rhs = x.square() * x + ark_bn254::g2::Config::COEFF_B;
            if let Some(y) = rhs.sqrt() {
                let y = if neg_fq2(&y) == sign { y } else { -y };
                let p = G2Affine::new_unchecked(x, y);
                return p.mul_bigint(ark_bn254::g2::Config::COFACTOR).into_affine();
            }
        }
    }
}

/// wasmcurves' `isNegative`: the canonical value is above `(q − 1)/2`.
fn neg_fq(x: &Fq) -> bool {
    x.into_bigint() > Fq::MODULUS_MINUS_ONE_DIV_TWO
}

/// On `Fq2`: the sign of `c1`, or of `c0` when `c1 = 0`.
fn neg_fq2(x: &Fq2) -> bool {
    if x.c1.is_zero() {
        neg_fq(&x.c0)
    } else {
        neg_fq(&x.c1)
    }
}

fn first32(h: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&h[..32]);
    out
}

/// snarkjs' `hashToG2` (`keypair.js`): the G2 point drawn from ChaCha keyed
/// with the transcript hash.
pub(crate) fn hash_to_g2(transcript: &[u8; 64]) -> G2Affine {
    SnarkjsRng::from_hash(&first32(transcript)).g2()
}

/// `rngFromBeaconParams` (`misc.js`): SHA-256 iterated `2^exp` times.
pub(crate) fn beacon_rng(b: &Beacon) -> Result<SnarkjsRng, InteropError> {
    if !BEACON_ITERATIONS_EXP.contains(&b.iterations_exp) || b.hash.is_empty() {
        return Err(InteropError::Unsupported {
            file: ".zkey",
            field: "beacon",
            expected: "a non-empty hash of at most 255 bytes, iterations exponent 10 to 63".into(),
            found: format!("{} bytes, exponent {}", b.hash.len(), b.iterations_exp),
        });
    }
    let mut cur = Sha256::digest(&b.hash);
    for _ in 1..(1u64 << b.iterations_exp) {
        cur = Sha256::digest(cur);
    }
    Ok(SnarkjsRng::from_hash(&cur.into()))
}

/// A contributor's secret and the G1 half of its public key, drawn as
/// snarkjs draws them: `x = Fr.fromRng`, `g1_s = G1.fromRng`. The secret
/// `x` (the toxic waste of a contribution) is wiped on drop, and the type
/// has no `Debug` (`docs/security.md`, "Secrets in memory").
struct DeltaKey {
    x: Fr,
    g1_s: G1Affine,
    g1_sx: G1Affine,
}

impl Zeroize for DeltaKey {
    /// The secret only; the points are the contribution's public key.
    fn zeroize(&mut self) {
        self.x.zeroize();
    }
}

impl Drop for DeltaKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for DeltaKey {}

impl DeltaKey {
    fn draw(rng: &mut SnarkjsRng) -> Self {
        let x = rng.fr();
        let g1_s = rng.g1();
        DeltaKey {
            x,
            g1_s,
            g1_sx: (g1_s * x).into_affine(),
        }
    }
}

/// `hashPubKey` (`zkey_utils.js`).
fn hash_pub_key(h: &mut Blake2b512, c: &ZkeyContribution) {
    h.update(u_g1(&c.delta_after));
    h.update(u_g1(&c.key.g1_s));
    h.update(u_g1(&c.key.g1_sx));
    h.update(u_g2(&c.key.g2_spx));
    h.update(c.transcript);
}

fn contribution_hash(c: &ZkeyContribution) -> ContributionHash {
    let mut h = Blake2b512::new();
    hash_pub_key(&mut h, c);
    ContributionHash(h.finalize().into())
}

/// The transcript hash of a contribution after `earlier` with key
/// `(g1_s, g1_sx)`.
fn transcript_hash(
    cs_hash: &[u8; 64],
    earlier: &[ZkeyContribution],
    g1_s: &G1Affine,
    g1_sx: &G1Affine,
) -> [u8; 64] {
    let mut h = Blake2b512::new();
    h.update(cs_hash);
    earlier.iter().for_each(|c| hash_pub_key(&mut h, c));
    h.update(u_g1(g1_s));
    h.update(u_g1(g1_sx));
    h.finalize().into()
}

fn scale(points: &[G1Affine], s: Fr) -> Vec<G1Affine> {
    let v: Vec<G1Projective> = points.par_iter().map(|p| *p * s).collect();
    G1Projective::normalize_batch(&v)
}

impl Zkey {
    /// `snarkjs zkey contribute`: a new key with one more contribution,
    /// its secret drawn from ChaCha keyed with `BLAKE2b-512(64 bytes from
    /// the OS ‖ entropy)` (snarkjs' `getRandomRng`; `entropy` is optional
    /// extra input from the contributor, never needed for secrecy), and its
    /// contribution hash. The secret is dropped on return.
    pub fn contribute(
        &self,
        entropy: &[u8],
        name: Option<&str>,
    ) -> Result<(Zkey, ContributionHash), InteropError> {
        let mut os = Zeroizing::new([0u8; 64]);
        OsRng.fill_bytes(os.as_mut());
        let mut h = Blake2b512::new();
        h.update(os.as_ref());
        h.update(entropy);
        let digest: Zeroizing<[u8; 64]> = Zeroizing::new(h.finalize().into());
        let seed = Zeroizing::new(first32(digest.as_ref()));
        self.apply(&mut SnarkjsRng::from_hash(&seed), name, None)
    }

    /// `snarkjs zkey beacon`: the contribution whose secret is drawn from
    /// ChaCha keyed with SHA-256 iterated `2^iterations_exp` times on
    /// `beacon_hash` (1 to 255 bytes; exponent 10 to 63). Deterministic:
    /// the same input key and beacon give snarkjs' file byte for byte.
    pub fn beacon(
        &self,
        beacon_hash: &[u8],
        iterations_exp: u32,
        name: Option<&str>,
    ) -> Result<(Zkey, ContributionHash), InteropError> {
        let beacon = Beacon {
            iterations_exp: u8::try_from(iterations_exp).unwrap_or(u8::MAX),
            hash: beacon_hash.to_vec(),
        };
        if beacon_hash.len() > 255 {
            return Err(InteropError::Unsupported {
                file: ".zkey",
                field: "beacon",
                expected: "a hash of at most 255 bytes".into(),
                found: format!("{} bytes", beacon_hash.len()),
            });
        }
        let mut rng = beacon_rng(&beacon)?;
        self.apply(&mut rng, name, Some(beacon))
    }

    /// The contribution of the key drawn from `rng`.
    fn apply(
        &self,
        rng: &mut SnarkjsRng,
        name: Option<&str>,
        beacon: Option<Beacon>,
    ) -> Result<(Zkey, ContributionHash), InteropError> {
        let k = DeltaKey::draw(rng);
        let inv =
            k.x.inverse()
                .map(Zeroizing::new)
                .ok_or(InteropError::Unsupported {
                    file: ".zkey",
                    field: "contribution secret",
                    expected: "non-zero".into(),
                    found: "zero".into(),
                })?;
        let transcript = transcript_hash(&self.cs_hash, &self.contributions, &k.g1_s, &k.g1_sx);
        let g2_spx = (hash_to_g2(&transcript) * k.x).into_affine();
        let mut next = self.clone();
        next.delta_g1 = (self.delta_g1 * k.x).into_affine();
        next.delta_g2 = (self.delta_g2 * k.x).into_affine();
        next.c = scale(&self.c, *inv);
        next.h = scale(&self.h, *inv);
        let c = ZkeyContribution {
            delta_after: next.delta_g1,
            key: KeyPart {
                g1_s: k.g1_s,
                g1_sx: k.g1_sx,
                g2_spx,
            },
            transcript,
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            beacon,
        };
        let hash = contribution_hash(&c);
        next.contributions.push(c);
        Ok((next, hash))
    }
}

/// `e(a, d) = e(b, c)`, none of them infinity (`misc.js` `sameRatio`).
pub(crate) fn same_ratio(a: G1Affine, b: G1Affine, c: G2Affine, d: G2Affine) -> bool {
    use ark_bn254::Bn254;
    use ark_ec::pairing::Pairing;
    if a.is_zero() || b.is_zero() || c.is_zero() || d.is_zero() {
        return false;
    }
    Bn254::multi_pairing([a, (-b.into_group()).into_affine()], [d, c]).is_zero()
}

fn fail(index: usize, failure: ContributionFailure) -> InteropError {
    InteropError::Contribution { index, failure }
}

/// Contribution `i` follows from `before` (δ·G1 before it): its transcript
/// hash, its proof of knowledge, its δ, and for a beacon its key.
fn check_contribution(
    zkey: &Zkey,
    i: usize,
    before: G1Affine,
) -> Result<VerifiedContribution, InteropError> {
    let c = &zkey.contributions[i];
    let earlier = &zkey.contributions[..i];
    if transcript_hash(&zkey.cs_hash, earlier, &c.key.g1_s, &c.key.g1_sx) != c.transcript {
        return Err(fail(i, ContributionFailure::Transcript));
    }
    let sp = hash_to_g2(&c.transcript);
    if !same_ratio(c.key.g1_s, c.key.g1_sx, sp, c.key.g2_spx) {
        return Err(fail(i, ContributionFailure::ProofOfKnowledge));
    }
    if !same_ratio(before, c.delta_after, sp, c.key.g2_spx) {
        return Err(fail(i, ContributionFailure::DeltaAfter));
    }
    if let Some(b) = &c.beacon {
        let k = DeltaKey::draw(
            &mut beacon_rng(b).map_err(|_| fail(i, ContributionFailure::BeaconParameters))?,
        );
        if k.g1_s != c.key.g1_s || k.g1_sx != c.key.g1_sx {
            return Err(fail(i, ContributionFailure::BeaconKey));
        }
    }
    Ok(VerifiedContribution {
        hash: contribution_hash(c),
        name: c.name.clone(),
        beacon: c.beacon.clone(),
    })
}

/// `snarkjs zkey verify r1cs ptau zkey`: `zkey` is the key of `r1cs` over
/// `ptau` after the contributions it records, each following from the one
/// before (transcript hash, proof of knowledge of its secret, its δ; a
/// beacon's key is the beacon's), the last one's δ the key's, and
/// everything else as [`Zkey::check_against`] checks (random linear
/// combinations drawn from the OS). Does not check the ptau's own powers
/// or transcript: do that first ([`Ptau::check_powers`]). Returns the
/// circuit hash and the contributions, with the hashes snarkjs prints.
/// The initial key is [`Zkey::initial_for`]'s (the circuit's, reusing
/// the key's `A` and `B` once checked); [`verify_from_initial`] takes one
/// made before.
pub fn verify_transcript(
    zkey: &Zkey,
    r1cs: &R1cs,
    ptau: &Ptau,
) -> Result<Transcript, InteropError> {
    verify_from_initial(zkey, &zkey.initial_for(r1cs, ptau, &mut OsRng)?)
}

/// `snarkjs zkey verify init initial.zkey ptau zkey`: [`verify_transcript`]
/// against the circuit's initial key `initial`, which must be
/// [`Zkey::new`]'s for that circuit and ptau (made once, or read and
/// compared byte for byte with a pinned one): it is the reference.
pub fn verify_from_initial(zkey: &Zkey, initial: &Zkey) -> Result<Transcript, InteropError> {
    let mut before = G1Affine::generator();
    let mut contributions = Vec::with_capacity(zkey.contributions.len());
    for i in 0..zkey.contributions.len() {
        contributions.push(check_contribution(zkey, i, before)?);
        before = zkey.contributions[i].delta_after;
    }
    zkey.check_against_initial(initial, &mut OsRng)?;
    Ok(Transcript {
        circuit_hash: zkey.cs_hash,
        contributions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cofactor_is_snarkjs_g2_cofactor() {
        // ffjavascript bn128.js cofactorG2.
        let hex = "30644e72e131a029b85045b68181585e06ceecda572a2489345f2299c0f9fa8d";
        let c = ark_bn254::g2::Config::COFACTOR;
        let ours: String = c.iter().rev().map(|l| format!("{l:016x}")).collect();
        assert_eq!(ours, hex);
    }

    #[test]
    fn zeroize_wipes_the_contribution_secret() {
        let mut k = DeltaKey::draw(&mut SnarkjsRng::from_hash(&[9; 32]));
        let public = (k.g1_s, k.g1_sx);
        assert!(!k.x.is_zero());
        // What drop runs, observed before the memory is freed.
        k.zeroize();
        assert!(k.x.is_zero());
        assert_eq!((k.g1_s, k.g1_sx), public, "the public key stays");
    }

    #[test]
    fn drawn_points_are_in_the_groups() {
        let mut rng = SnarkjsRng::from_hash(&[7; 32]);
        for _ in 0..4 {
            let p = rng.g1();
            assert!(p.is_on_curve());
            let q = rng.g2();
            assert!(q.is_on_curve() && q.is_in_correct_subgroup_assuming_on_curve());
            assert!(!q.is_zero());
        }
    }

    #[test]
    fn chacha_is_the_rfc_keystream() {
        // ChaCha20 block function, key 0, counter 0, nonce 0 (RFC 7539
        // A.1 test vector 1): first word 0xade0b876 (bytes 76 b8 e0 ad).
        let mut rng = SnarkjsRng::from_hash(&[0; 32]);
        assert_eq!(rng.0.next_u32(), 0xade0_b876);
    }
}
