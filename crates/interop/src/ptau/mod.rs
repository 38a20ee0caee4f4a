//! snarkjs' phase-1 file (`.ptau`, version 1): the powers of tau of a
//! Groth16 ceremony's first phase, as the Perpetual Powers of Tau publish
//! them (issue 11; `docs/interop.md`).
//!
//! Layout (`powersoftau_new.js`, `powersoftau_utils.js`,
//! `powersoftau_preparephase2.js`), `n = 2^power`, points in snarkjs' LEM
//! encoding ([`crate::lem`]):
//! 1 header (`n8 = 32`, `q`, power, ceremony power); 2 `τ^i·G1`,
//! `i < 2n−1`; 3 `τ^i·G2`, 4 `ατ^i·G1`, 5 `βτ^i·G1`, `i < n`; 6 `β·G2`;
//! 7 the contributions; and, once prepared for phase 2, 12–15 the same four
//! in the Lagrange basis of every domain `2^k`, `k ≤ power` (section 12
//! also `k = power+1`, from the `2n−1` powers padded with the identity),
//! level `k` at offset `2^k − 1`.
//!
//! [`Ptau::from_bytes`] checks the form of every byte; [`Ptau::check_powers`]
//! that the points are what they claim to be (same-ratio pairing checks on
//! random linear combinations); [`Ptau::verify_chain`] the contribution
//! chain (the contributors' proofs of knowledge and the last challenge
//! hash), as `snarkjs powersoftau verify` does.

mod chain;
mod check;
mod insecure;

use ark_bn254::{Fq, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};

use crate::binfile::{Reader, Sections};
use crate::error::InteropError;
use crate::lem::{self, G1_BYTES, G2_BYTES};

pub use chain::{Phase1Contribution, first_challenge};
pub use insecure::{INSECURE_CONTRIBUTOR, MAX_POWER, insecure_prepared_ptau};

const FILE: &str = ".ptau";
const MAGIC: &[u8; 4] = b"ptau";
const VERSION: u32 = 1;
const HEADER: u32 = 1;
const TAU_G1: u32 = 2;
const TAU_G2: u32 = 3;
const ALPHA_TAU_G1: u32 = 4;
const BETA_TAU_G1: u32 = 5;
const BETA_G2: u32 = 6;
const CONTRIBUTIONS: u32 = 7;
const LAGRANGE: [u32; 4] = [12, 13, 14, 15];

/// The largest power BN254's scalar field has domains for (`2^28`).
pub const MAX_READ_POWER: u32 = 28;

/// One part (τ, α or β) of a contributor's public key: `s·G1`, `s·x·G1`
/// and `x·sp` where `sp` is a G2 point derived from the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPart {
    /// `g1_s`.
    pub g1_s: G1Affine,
    /// `g1_sx`.
    pub g1_sx: G1Affine,
    /// `g2_spx`.
    pub g2_spx: G2Affine,
}

/// A beacon contribution's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// The beacon is hashed `2^iterations_exp` times.
    pub iterations_exp: u8,
    /// The beacon value.
    pub hash: Vec<u8>,
}

/// One record of section 7, as snarkjs writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// `τ·G1` after this contribution.
    pub tau_g1: G1Affine,
    /// `τ·G2` after it.
    pub tau_g2: G2Affine,
    /// `α·G1` after it.
    pub alpha_g1: G1Affine,
    /// `β·G1` after it.
    pub beta_g1: G1Affine,
    /// `β·G2` after it.
    pub beta_g2: G2Affine,
    /// The contributor's public key: τ, α, β.
    pub key: [KeyPart; 3],
    /// The BLAKE2b state after hashing the response without the key.
    pub partial_hash: [u8; 216],
    /// The challenge hash for the next contributor.
    pub next_challenge: [u8; 64],
    /// The contributor's name, if any (UTF-8, at most 255 bytes).
    pub name: Option<String>,
    /// `Some` for a beacon contribution (snarkjs' type 1).
    pub beacon: Option<Beacon>,
}

/// Sections 12–15: the points in the Lagrange basis of every domain
/// `2^k`, level `k` at offset `2^k − 1` (see [`Lagrange::level`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lagrange {
    /// `ℓ_i(τ)·G1`, levels `0..=power+1`.
    pub tau_g1: Vec<G1Affine>,
    /// `ℓ_i(τ)·G2`, levels `0..=power`.
    pub tau_g2: Vec<G2Affine>,
    /// `α·ℓ_i(τ)·G1`, levels `0..=power`.
    pub alpha_tau_g1: Vec<G1Affine>,
    /// `β·ℓ_i(τ)·G1`, levels `0..=power`.
    pub beta_tau_g1: Vec<G1Affine>,
}

impl Lagrange {
    /// The `2^k` points of level `k` of `points` (`None` past the end).
    pub fn level<P>(points: &[P], k: u32) -> Option<&[P]> {
        let m = 1usize.checked_shl(k)?;
        points.get(m - 1..(2 * m).checked_sub(1)?)
    }
}

/// A parsed `.ptau` file; every point canonical, on its curve, in its
/// prime-order subgroup and not the point at infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ptau {
    /// `log2` of the number of τ powers in G2 (`n = 2^power`).
    pub power: u32,
    /// The power of the ceremony the file was cut from (`≥ power`).
    pub ceremony_power: u32,
    /// `τ^i·G1`, `i < 2n − 1`.
    pub tau_g1: Vec<G1Affine>,
    /// `τ^i·G2`, `i < n`.
    pub tau_g2: Vec<G2Affine>,
    /// `α·τ^i·G1`, `i < n`.
    pub alpha_tau_g1: Vec<G1Affine>,
    /// `β·τ^i·G1`, `i < n`.
    pub beta_tau_g1: Vec<G1Affine>,
    /// `β·G2`.
    pub beta_g2: G2Affine,
    /// The contribution records, oldest first.
    pub contributions: Vec<Contribution>,
    /// The phase-2 preparation (sections 12–15), if the file has it.
    pub lagrange: Option<Lagrange>,
}

fn unsupported(field: &'static str, expected: impl Into<String>, found: u32) -> InteropError {
    InteropError::Unsupported {
        file: FILE,
        field,
        expected: expected.into(),
        found: found.to_string(),
    }
}

/// Header: `(power, ceremony_power)`.
fn header(s: &Sections<'_>) -> Result<(u32, u32), InteropError> {
    let mut h = s.exact(HEADER, 4 + 32 + 4 + 4)?;
    let n8 = h.u32()?;
    if n8 != 32 {
        return Err(unsupported("field size n8", "32", n8));
    }
    if h.take(32)? != Fq::MODULUS.to_bytes_le().as_slice() {
        return Err(InteropError::Unsupported {
            file: FILE,
            field: "prime",
            expected: "the BN254 base field order q".into(),
            found: "another prime".into(),
        });
    }
    let power = h.u32()?;
    let ceremony_power = h.u32()?;
    if !(1..=MAX_READ_POWER).contains(&ceremony_power) {
        return Err(unsupported(
            "ceremony power",
            format!("1..={MAX_READ_POWER}"),
            ceremony_power,
        ));
    }
    if !(1..=ceremony_power).contains(&power) {
        return Err(unsupported(
            "power",
            format!("1..={ceremony_power} (the ceremony power)"),
            power,
        ));
    }
    Ok((power, ceremony_power))
}

fn g1_section(
    s: &Sections<'_>,
    id: u32,
    n: usize,
    what: &str,
) -> Result<Vec<G1Affine>, InteropError> {
    let mut r = s.exact(id, (n * G1_BYTES) as u64)?;
    let v = lem::g1_vec(&mut r, n, &format!("{FILE} section {id} ({what})"))?;
    r.finish()?;
    Ok(v)
}

fn g2_section(
    s: &Sections<'_>,
    id: u32,
    n: usize,
    what: &str,
) -> Result<Vec<G2Affine>, InteropError> {
    let mut r = s.exact(id, (n * G2_BYTES) as u64)?;
    let v = lem::g2_vec(&mut r, n, &format!("{FILE} section {id} ({what})"))?;
    r.finish()?;
    Ok(v)
}

fn contribution(r: &mut Reader<'_>, i: usize) -> Result<Contribution, InteropError> {
    let at = |field: &'static str| move || format!("{FILE} contribution {i} {field}");
    let tau_g1 = lem::g1(r, &at("tau_g1"))?;
    let tau_g2 = lem::g2(r, &at("tau_g2"))?;
    let alpha_g1 = lem::g1(r, &at("alpha_g1"))?;
    let beta_g1 = lem::g1(r, &at("beta_g1"))?;
    let beta_g2 = lem::g2(r, &at("beta_g2"))?;
    let mut g1s = [G1Affine::default(); 6];
    for g in &mut g1s {
        *g = lem::g1(r, &at("key"))?;
    }
    let mut g2s = [G2Affine::default(); 3];
    for g in &mut g2s {
        *g = lem::g2(r, &at("key"))?;
    }
    let part = |j: usize| KeyPart {
        g1_s: g1s[2 * j],
        g1_sx: g1s[2 * j + 1],
        g2_spx: g2s[j],
    };
    let key = [part(0), part(1), part(2)];
    let mut partial_hash = [0u8; 216];
    partial_hash.copy_from_slice(r.take(216)?);
    let mut next_challenge = [0u8; 64];
    next_challenge.copy_from_slice(r.take(64)?);
    let kind = r.u32()?;
    let param_len = r.u32()? as usize;
    let (name, beacon) = params(Reader::new(r.take(param_len)?, FILE), kind, i)?;
    Ok(Contribution {
        tau_g1,
        tau_g2,
        alpha_g1,
        beta_g1,
        beta_g2,
        key,
        partial_hash,
        next_challenge,
        name,
        beacon,
    })
}

/// A contribution's parameters: `(1, len, name)`, then for a beacon
/// (type 1) `(2, iterations_exp)` and `(3, len, hash)`, ids increasing.
pub(crate) fn params(
    mut r: Reader<'_>,
    kind: u32,
    i: usize,
) -> Result<(Option<String>, Option<Beacon>), InteropError> {
    let bad = |why: &str| InteropError::binary(FILE, format!("contribution {i}: {why}"));
    if kind > 1 {
        return Err(bad("type is neither 0 (contribution) nor 1 (beacon)"));
    }
    let (mut name, mut exp, mut hash) = (None, None, None);
    let mut last = 0u8;
    while r.remaining() > 0 {
        let id = r.take(1)?[0];
        if id <= last {
            return Err(bad("parameters not in increasing order"));
        }
        last = id;
        match id {
            1 => {
                let len = usize::from(r.take(1)?[0]);
                let s = std::str::from_utf8(r.take(len)?).map_err(|_| bad("name is not UTF-8"))?;
                name = Some(s.to_owned());
            }
            2 if kind == 1 => exp = Some(r.take(1)?[0]),
            3 if kind == 1 => {
                let len = usize::from(r.take(1)?[0]);
                hash = Some(r.take(len)?.to_vec());
            }
            _ => return Err(bad("unknown parameter")),
        }
    }
    let beacon = match (kind, exp, hash) {
        (0, _, _) => None,
        (_, Some(iterations_exp), Some(hash)) => Some(Beacon {
            iterations_exp,
            hash,
        }),
        _ => return Err(bad("a beacon without its iterations or hash")),
    };
    Ok((name, beacon))
}

/// The parameters [`params`] reads, as snarkjs writes them (a name cut to
/// 64 characters).
pub(crate) fn put_params(name: Option<&str>, beacon: Option<&Beacon>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        let cut: String = name.chars().take(64).collect();
        out.push(1);
        out.push(cut.len() as u8);
        out.extend_from_slice(cut.as_bytes());
    }
    if let Some(b) = beacon {
        out.extend_from_slice(&[2, b.iterations_exp, 3, b.hash.len() as u8]);
        out.extend_from_slice(&b.hash);
    }
    out
}

fn contributions(s: &Sections<'_>) -> Result<Vec<Contribution>, InteropError> {
    let mut r = s.unique(CONTRIBUTIONS)?;
    let n = r.u32()? as usize;
    // Each record is at least its fixed part: no allocation from a bare count.
    let fixed = 3 * G1_BYTES + 2 * G2_BYTES + 6 * G1_BYTES + 3 * G2_BYTES + 216 + 64 + 8;
    if n.saturating_mul(fixed) > r.remaining() {
        return Err(InteropError::binary(FILE, "truncated contributions"));
    }
    let v = (0..n)
        .map(|i| contribution(&mut r, i))
        .collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(v)
}

fn lagrange(s: &Sections<'_>, n: usize) -> Result<Option<Lagrange>, InteropError> {
    let present = LAGRANGE.map(|id| s.has(id));
    if present == [false; 4] {
        return Ok(None);
    }
    // `exact` names the first missing one.
    Ok(Some(Lagrange {
        tau_g1: g1_section(s, LAGRANGE[0], 4 * n - 1, "Lagrange τ·G1")?,
        tau_g2: g2_section(s, LAGRANGE[1], 2 * n - 1, "Lagrange τ·G2")?,
        alpha_tau_g1: g1_section(s, LAGRANGE[2], 2 * n - 1, "Lagrange ατ·G1")?,
        beta_tau_g1: g1_section(s, LAGRANGE[3], 2 * n - 1, "Lagrange βτ·G1")?,
    }))
}

impl Ptau {
    /// `2^power`: the largest Groth16 domain the file serves.
    pub fn domain_size(&self) -> usize {
        1 << self.power
    }

    /// Parses a `.ptau` file over BN254: magic `ptau`, version 1, the header
    /// above, sections 1–7 and optionally all of 12–15, each exactly once
    /// and of exactly its length, nothing else, no trailing bytes; every
    /// point decoded strictly ([`Ptau`]). Does not check that the powers
    /// are consistent: [`Ptau::check_powers`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InteropError> {
        let s = Sections::parse(bytes, FILE, MAGIC, VERSION)?;
        s.only(&[
            HEADER,
            TAU_G1,
            TAU_G2,
            ALPHA_TAU_G1,
            BETA_TAU_G1,
            BETA_G2,
            CONTRIBUTIONS,
            LAGRANGE[0],
            LAGRANGE[1],
            LAGRANGE[2],
            LAGRANGE[3],
        ])?;
        let (power, ceremony_power) = header(&s)?;
        let n = 1usize << power;
        let beta_g2 = g2_section(&s, BETA_G2, 1, "β·G2")?[0];
        Ok(Ptau {
            power,
            ceremony_power,
            tau_g1: g1_section(&s, TAU_G1, 2 * n - 1, "τ·G1")?,
            tau_g2: g2_section(&s, TAU_G2, n, "τ·G2")?,
            alpha_tau_g1: g1_section(&s, ALPHA_TAU_G1, n, "ατ·G1")?,
            beta_tau_g1: g1_section(&s, BETA_TAU_G1, n, "βτ·G1")?,
            beta_g2,
            contributions: contributions(&s)?,
            lagrange: lagrange(&s, n)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_levels_partition_the_section() {
        let v: Vec<u32> = (0..15).collect();
        assert_eq!(Lagrange::level(&v, 0), Some(&v[0..1]));
        assert_eq!(Lagrange::level(&v, 1), Some(&v[1..3]));
        assert_eq!(Lagrange::level(&v, 3), Some(&v[7..15]));
        assert_eq!(Lagrange::level(&v, 4), None);
    }
}
