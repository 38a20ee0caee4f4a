//! snarkjs' Groth16 proving-key file (`.zkey`, version 1) for phase 2 of a
//! ceremony: [`Zkey::new`] is `snarkjs zkey new` (δ = 1, no contribution),
//! byte for byte; [`Zkey::from_bytes`] reads any Groth16 `.zkey` strictly;
//! [`Zkey::proving_key`] is the arkworks key, to be used with
//! [`veil_proofs::qap::CircomReduction`] (issue 11; `docs/interop.md`).
//!
//! Layout (`zkey_new.js`, `zkey_utils.js`), sections in `zkey new`'s file
//! order (a contribution rewrites them in id order, [`Zkey::to_bytes`]):
//! 1 protocol (`1` = Groth16); 2 header (`n8q`, `q`, `n8r`, `r`, wires,
//! public inputs, domain size `m`, `α·G1`, `β·G1`, `β·G2`, `γ·G2`, `δ·G1`,
//! `δ·G2`); 4 the A and B coefficients `(matrix, row, wire, value·R²)`
//! (`R = 2^256 mod r`; rows `n..n+nPublic` are the input rows, A only);
//! 3 `IC`; 9 `H` (`m` points); 8 `C` (private wires); 5 `A`, 6 `B·G1`,
//! 7 `B·G2` (every wire; unused wires are the point at infinity);
//! 10 the circuit hash and the contributions. Points in LEM ([`crate::lem`]).
//!
//! With `ℓ_j` the Lagrange basis of the size-`m` domain evaluated at τ:
//! `A_w = Σ_j A_jw·ℓ_j·G1`, `B_w = Σ_j B_jw·ℓ_j`, and for `IC` (public `w`)
//! and `C` (private `w`, divided by δ) `Σ_j (β·A_jw + α·B_jw + C_jw)·ℓ_j·G1`;
//! `H_i = ℓ'_{2i+1}·G1/δ` in the Lagrange basis `ℓ'` of the size-`2m` domain
//! (snarkjs' odd-coset form, hence [`veil_proofs::qap::CircomReduction`]).

use ark_bn254::{Bn254, Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{BigInteger, Field, One, PrimeField, UniformRand, Zero};
use ark_groth16::{ProvingKey, VerifyingKey};
use blake2::{Blake2b512, Digest};
use rand::{CryptoRng, RngCore};

use crate::binfile::{self, Reader, Sections, Writer};
use crate::error::InteropError;
use crate::lem::{self, G1_BYTES, G2_BYTES};
use crate::ptau::{self, Beacon, KeyPart, Lagrange, Ptau};
use crate::r1cs::R1cs;

const FILE: &str = ".zkey";
const MAGIC: &[u8; 4] = b"zkey";
const VERSION: u32 = 1;
const PROTOCOL: u32 = 1;
const HEADER: u32 = 2;
const IC: u32 = 3;
const COEFFS: u32 = 4;
const A: u32 = 5;
const B1: u32 = 6;
const B2: u32 = 7;
const C: u32 = 8;
const H: u32 = 9;
const MPC: u32 = 10;
/// snarkjs hashes the `H` points in chunks of this many (`hashHPoints`).
const H_HASH_CHUNK: usize = 1 << 14;

/// Which QAP matrix a coefficient belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    /// The left factor (snarkjs' `0`).
    A,
    /// The right factor (`1`).
    B,
}

/// One entry of section 4: `matrix[row][wire] = value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coefficient {
    /// A or B.
    pub matrix: Matrix,
    /// The constraint (row) index; rows `n..=n+nPublic` are the input rows.
    pub row: u32,
    /// The wire.
    pub wire: u32,
    /// The coefficient (stored times `R²`).
    pub value: Fr,
}

/// A phase-2 contribution record (section 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkeyContribution {
    /// `δ·G1` after this contribution.
    pub delta_after: G1Affine,
    /// The contributor's key: `s·G1`, `s·δ'·G1`, `δ'·sp`.
    pub key: KeyPart,
    /// The transcript hash the key's `sp` is derived from.
    pub transcript: [u8; 64],
    /// The contributor's name, if any.
    pub name: Option<String>,
    /// `Some` for a beacon.
    pub beacon: Option<Beacon>,
}

/// A parsed (or newly made) Groth16 `.zkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zkey {
    /// Wires, counting the constant one.
    pub n_vars: u32,
    /// Public inputs, not counting the constant one.
    pub n_public: u32,
    /// The QAP domain size `m` (a power of two).
    pub domain_size: u32,
    /// `α·G1`.
    pub alpha_g1: G1Affine,
    /// `β·G1`.
    pub beta_g1: G1Affine,
    /// `β·G2`.
    pub beta_g2: G2Affine,
    /// `γ·G2` (the generator: snarkjs never changes γ).
    pub gamma_g2: G2Affine,
    /// `δ·G1`.
    pub delta_g1: G1Affine,
    /// `δ·G2`.
    pub delta_g2: G2Affine,
    /// Section 4, in file order.
    pub coefficients: Vec<Coefficient>,
    /// `IC_w`, `w ≤ nPublic`.
    pub ic: Vec<G1Affine>,
    /// `H_i`, `i < m`.
    pub h: Vec<G1Affine>,
    /// `C_w` for the private wires.
    pub c: Vec<G1Affine>,
    /// `A_w`, every wire.
    pub a: Vec<G1Affine>,
    /// `B_w·G1`, every wire.
    pub b_g1: Vec<G1Affine>,
    /// `B_w·G2`, every wire.
    pub b_g2: Vec<G2Affine>,
    /// snarkjs' circuit hash (BLAKE2b-512 of the initial key).
    pub cs_hash: [u8; 64],
    /// Phase-2 contributions, oldest first.
    pub contributions: Vec<ZkeyContribution>,
}

/// `log2` of snarkjs' domain for `rows` constraint rows plus `public` input
/// rows (and the constant's): `⌊log2(rows + public)⌋ + 1`.
fn domain_power(rows: usize, public: usize) -> u32 {
    (rows + public).max(1).ilog2() + 1
}

/// `x·R²` with `R = 2^256 mod r`: the section-4 encoding of `x`.
fn r_squared() -> Fr {
    Fr::from(2u64).pow([512])
}

/// snarkjs' uncompressed ("U") encoding, as hashed: big-endian canonical
/// coordinates (G2: `c1` before `c0`), infinity all zeros.
fn put_u_fq(out: &mut Vec<u8>, x: &Fq) {
    let mut b = x.into_bigint().to_bytes_le();
    b.reverse();
    out.extend_from_slice(&b);
}

pub(crate) fn u_g1(p: &G1Affine) -> Vec<u8> {
    let mut out = Vec::with_capacity(G1_BYTES);
    match p.xy() {
        Some((x, y)) => {
            put_u_fq(&mut out, &x);
            put_u_fq(&mut out, &y);
        }
        None => out.resize(G1_BYTES, 0),
    }
    out
}

pub(crate) fn u_g2(p: &G2Affine) -> Vec<u8> {
    let mut out = Vec::with_capacity(G2_BYTES);
    match p.xy() {
        Some((x, y)) => {
            for c in [x.c1, x.c0, y.c1, y.c0] {
                put_u_fq(&mut out, &c);
            }
        }
        None => out.resize(G2_BYTES, 0),
    }
    out
}

fn hash_len(h: &mut Blake2b512, n: usize) {
    h.update((n as u32).to_be_bytes());
}

/// `Σ_j c_j·b_j`: a multi-scalar multiplication from 8 terms on (veil's
/// columns are mostly full-size coefficients, up to thousands per wire);
/// below, additions for `c = ±1` and single scalar multiplications.
fn combination<P: CurveGroup<ScalarField = Fr>>(terms: &[(P::Affine, Fr)]) -> P {
    if terms.len() >= 8 {
        let (b, s): (Vec<P::Affine>, Vec<Fr>) = terms.iter().copied().unzip();
        return P::msm_unchecked(&b, &s);
    }
    let one = Fr::one();
    terms.iter().fold(P::zero(), |acc, (b, c)| {
        if *c == one {
            acc + b
        } else if *c == -one {
            acc - b
        } else {
            acc + *b * c
        }
    })
}

/// `Σ_j coeff_j·bases[row_j]` for each wire's column. Sequential: the
/// MSMs run in parallel inside, and rayon jobs stolen while a nested MSM
/// waits would pile up on one worker's stack (a stack overflow on `access`).
fn columns<P: CurveGroup<ScalarField = Fr>>(
    cols: &[Vec<(usize, Fr)>],
    bases: &[P::Affine],
) -> Vec<P::Affine> {
    let points: Vec<P> = cols
        .iter()
        .map(|col| {
            let terms: Vec<_> = col.iter().map(|(row, c)| (bases[*row], *c)).collect();
            combination::<P>(&terms)
        })
        .collect();
    P::normalize_batch(&points)
}

/// `A`, `B·G1`, `B·G2` of every wire.
type AbPoints = (Vec<G1Affine>, Vec<G1Affine>, Vec<G2Affine>);

/// Whether `claimed[w] = Σ_(row, c) ∈ cols[w] c·bases[row]` for every
/// wire `w`: `Σ_w r_w·claimed[w] = Σ_row (Σ_w r_w·c_(row, w))·bases[row]`
/// for random `r_w` (two multi-scalar multiplications instead of one per
/// wire; a false claim passes with probability ≤ 1/r).
fn columns_match<P: CurveGroup<ScalarField = Fr>, R: RngCore + CryptoRng>(
    cols: &[Vec<(usize, Fr)>],
    bases: &[P::Affine],
    claimed: &[P::Affine],
    rng: &mut R,
) -> bool {
    if claimed.len() != cols.len() {
        return false;
    }
    let r: Vec<Fr> = (0..cols.len()).map(|_| Fr::rand(rng)).collect();
    let mut s = vec![Fr::zero(); bases.len()];
    for (col, rw) in cols.iter().zip(&r) {
        for (row, c) in col {
            match s.get_mut(*row) {
                Some(x) => *x += *c * rw,
                None => return false,
            }
        }
    }
    P::msm_unchecked(claimed, &r) == P::msm_unchecked(bases, &s)
}

/// The Lagrange levels of a prepared ptau that a circuit of domain `2^k`
/// needs.
struct Levels<'a> {
    tau_g1: &'a [G1Affine],
    tau_g2: &'a [G2Affine],
    alpha_tau_g1: &'a [G1Affine],
    beta_tau_g1: &'a [G1Affine],
    /// `τ·G1` at level `k + 1` (the odd points are `H`).
    tau_g1_2m: &'a [G1Affine],
}

impl<'a> Levels<'a> {
    fn of(ptau: &'a Ptau, k: u32) -> Result<Self, InteropError> {
        if k > ptau.power {
            return Err(too_small(ptau.power, k));
        }
        let lagrange = ptau
            .lagrange
            .as_ref()
            .ok_or_else(|| InteropError::Unsupported {
                file: ".ptau",
                field: "phase-2 preparation",
                expected: "sections 12-15 (snarkjs powersoftau prepare phase2)".into(),
                found: "none".into(),
            })?;
        let level = |k| Lagrange::level(&lagrange.tau_g1, k);
        let (Some(tau_g1), Some(tau_g2), Some(alpha_tau_g1), Some(beta_tau_g1), Some(tau_g1_2m)) = (
            level(k),
            Lagrange::level(&lagrange.tau_g2, k),
            Lagrange::level(&lagrange.alpha_tau_g1, k),
            Lagrange::level(&lagrange.beta_tau_g1, k),
            level(k + 1),
        ) else {
            return Err(too_small(ptau.power, k));
        };
        Ok(Levels {
            tau_g1,
            tau_g2,
            alpha_tau_g1,
            beta_tau_g1,
            tau_g1_2m,
        })
    }
}

fn too_small(power: u32, needed: u32) -> InteropError {
    InteropError::Unsupported {
        file: ".ptau",
        field: "power",
        expected: format!("at least {needed} for this circuit"),
        found: power.to_string(),
    }
}

/// The columns of an R1CS as `zkey new` needs them, and section 4.
struct Columns {
    coefficients: Vec<Coefficient>,
    /// Per wire: `(row, coefficient)` of A, input rows included.
    a: Vec<Vec<(usize, Fr)>>,
    /// Per wire: `(row, coefficient)` of B.
    b: Vec<Vec<(usize, Fr)>>,
    /// Per wire: `(basis, row, coefficient)` of `β·A + α·B + C`, basis
    /// 0 = `ℓ`, 1 = `βℓ`, 2 = `αℓ`.
    k: Vec<Vec<(usize, usize, Fr)>>,
}

impl Columns {
    /// Refuses a wire beyond `num_wires` or public inputs not below it.
    fn of(r1cs: &R1cs) -> Result<Self, InteropError> {
        let (n_vars, n_public) = (r1cs.num_wires as usize, r1cs.num_public as usize);
        let rows = r1cs.constraints.len();
        let bad = || InteropError::binary(".r1cs", "a wire beyond the wire count");
        if n_public >= n_vars {
            return Err(bad());
        }
        let mut cols = Columns {
            coefficients: Vec::new(),
            a: vec![Vec::new(); n_vars],
            b: vec![Vec::new(); n_vars],
            k: vec![Vec::new(); n_vars],
        };
        for (j, con) in r1cs.constraints.iter().enumerate() {
            for (matrix, lc, basis) in [
                (Matrix::A, &con.a, 1),
                (Matrix::B, &con.b, 2),
                (Matrix::A, &con.c, 0),
            ] {
                for (w, c) in lc {
                    let wire = *w as usize;
                    cols.k.get_mut(wire).ok_or_else(bad)?.push((basis, j, *c));
                    if basis == 0 {
                        continue;
                    }
                    let col = if basis == 1 { &mut cols.a } else { &mut cols.b };
                    col[wire].push((j, *c));
                    cols.coefficients.push(Coefficient {
                        matrix,
                        row: j as u32,
                        wire: *w,
                        value: *c,
                    });
                }
            }
        }
        for w in 0..=n_public {
            cols.a[w].push((rows + w, Fr::one()));
            cols.k[w].push((1, rows + w, Fr::one()));
            cols.coefficients.push(Coefficient {
                matrix: Matrix::A,
                row: (rows + w) as u32,
                wire: w as u32,
                value: Fr::one(),
            });
        }
        Ok(cols)
    }
}

impl Zkey {
    /// `snarkjs zkey new r1cs ptau`: the initial key (δ = 1) of `r1cs` from
    /// the prepared `ptau`, with snarkjs' circuit hash. Does not check the
    /// ptau's powers: call [`Ptau::check_powers`] first.
    pub fn new(r1cs: &R1cs, ptau: &Ptau) -> Result<Self, InteropError> {
        Self::initial(r1cs, ptau, |cols, l| {
            Ok((
                columns::<G1Projective>(&cols.a, l.tau_g1),
                columns::<G1Projective>(&cols.b, l.tau_g1),
                columns::<G2Projective>(&cols.b, l.tau_g2),
            ))
        })
    }

    /// The initial key of `r1cs` over `ptau` that this key claims to
    /// descend from: [`Zkey::new`]'s, byte for byte, at a fraction of its
    /// cost. Contributions never change `A`, `B·G1` and `B·G2`, so they are
    /// taken from this key once a random linear combination (drawn from
    /// `rng`; wrong with probability ≤ 1/r) shows they are the circuit's;
    /// most of [`Zkey::new`]'s time is computing them (`B·G2` above all).
    pub fn initial_for<R: RngCore + CryptoRng>(
        &self,
        r1cs: &R1cs,
        ptau: &Ptau,
        rng: &mut R,
    ) -> Result<Self, InteropError> {
        Self::initial(r1cs, ptau, |cols, l| {
            let ok = columns_match::<G1Projective, R>(&cols.a, l.tau_g1, &self.a, rng)
                && columns_match::<G1Projective, R>(&cols.b, l.tau_g1, &self.b_g1, rng)
                && columns_match::<G2Projective, R>(&cols.b, l.tau_g2, &self.b_g2, rng);
            if !ok {
                return Err(mismatch("A, B·G1 and B·G2 are the circuit's"));
            }
            Ok((self.a.clone(), self.b_g1.clone(), self.b_g2.clone()))
        })
    }

    /// The initial key, with `A`, `B·G1`, `B·G2` from `ab`.
    fn initial(
        r1cs: &R1cs,
        ptau: &Ptau,
        ab: impl FnOnce(&Columns, &Levels<'_>) -> Result<AbPoints, InteropError>,
    ) -> Result<Self, InteropError> {
        let n_public = r1cs.num_public as usize;
        let k = domain_power(r1cs.constraints.len(), n_public);
        let l = Levels::of(ptau, k)?;
        let cols = Columns::of(r1cs)?;
        let k_points: Vec<G1Affine> = {
            let bases = [l.tau_g1, l.beta_tau_g1, l.alpha_tau_g1];
            let pts: Vec<G1Projective> = cols
                .k
                .iter()
                .map(|col| {
                    let terms: Vec<_> = col
                        .iter()
                        .map(|(sec, j, c)| (bases[*sec][*j], *c))
                        .collect();
                    combination::<G1Projective>(&terms)
                })
                .collect();
            G1Projective::normalize_batch(&pts)
        };
        let (a, b_g1, b_g2) = ab(&cols, &l)?;
        let mut zkey = Zkey {
            n_vars: r1cs.num_wires,
            n_public: r1cs.num_public,
            domain_size: 1 << k,
            alpha_g1: *ptau.alpha_tau_g1.first().ok_or_else(|| too_small(0, k))?,
            beta_g1: *ptau.beta_tau_g1.first().ok_or_else(|| too_small(0, k))?,
            beta_g2: ptau.beta_g2,
            gamma_g2: G2Affine::generator(),
            delta_g1: G1Affine::generator(),
            delta_g2: G2Affine::generator(),
            coefficients: cols.coefficients,
            ic: k_points[..=n_public].to_vec(),
            h: l.tau_g1_2m.iter().skip(1).step_by(2).copied().collect(),
            c: k_points[n_public + 1..].to_vec(),
            a,
            b_g1,
            b_g2,
            cs_hash: [0; 64],
            contributions: Vec::new(),
        };
        zkey.cs_hash = zkey.initial_hash(&ptau.tau_g1)?;
        Ok(zkey)
    }

    /// snarkjs' circuit hash of an initial key (`zkey_new.js`): the header
    /// points, then `IC`, the `H` points in the monomial basis
    /// (`(τ^(i+m) − τ^i)·G1`, from `tau_g1`), `C`, `A`, `B·G1`, `B·G2`, each
    /// list preceded by its length (u32 big-endian).
    fn initial_hash(&self, tau_g1: &[G1Affine]) -> Result<[u8; 64], InteropError> {
        let mut h = Blake2b512::new();
        for p in [self.alpha_g1, self.beta_g1] {
            h.update(u_g1(&p));
        }
        h.update(u_g2(&self.beta_g2));
        h.update(u_g2(&self.gamma_g2));
        h.update(u_g1(&self.delta_g1));
        h.update(u_g2(&self.delta_g2));
        let g1_list = |h: &mut Blake2b512, v: &[G1Affine]| {
            hash_len(h, v.len());
            v.iter().for_each(|p| h.update(u_g1(p)));
        };
        g1_list(&mut h, &self.ic);
        // snarkjs hashes chunks of min(m − 1, 2^14) points from each
        // multiple of that size below m − 1 (for m > 2^14 one more than
        // m − 1 points, the last reaching τ^(2m−1)).
        let m = self.domain_size as usize;
        hash_len(&mut h, m - 1);
        let chunk = (m - 1).min(H_HASH_CHUNK);
        let count = if chunk == 0 {
            0
        } else {
            (m - 1).div_ceil(chunk) * chunk
        };
        let hi = tau_g1
            .get(m..m + count)
            .ok_or_else(|| too_small_for_hash(m))?;
        let diffs: Vec<G1Projective> = hi
            .iter()
            .zip(tau_g1)
            .map(|(a, b)| a.into_group() - b)
            .collect();
        G1Projective::normalize_batch(&diffs)
            .iter()
            .for_each(|p| h.update(u_g1(p)));
        g1_list(&mut h, &self.c);
        g1_list(&mut h, &self.a);
        g1_list(&mut h, &self.b_g1);
        hash_len(&mut h, self.b_g2.len());
        self.b_g2.iter().for_each(|p| h.update(u_g2(p)));
        let mut out = [0u8; 64];
        out.copy_from_slice(&h.finalize());
        Ok(out)
    }
}

fn g1_bytes(v: &[G1Affine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * G1_BYTES);
    v.iter().for_each(|p| lem::put_g1(&mut out, p));
    out
}

fn too_small_for_hash(m: usize) -> InteropError {
    InteropError::Unsupported {
        file: ".ptau",
        field: "power",
        expected: format!("above log2 of the domain {m} (snarkjs' circuit hash reads τ^(2m−1))"),
        found: "equal to it".into(),
    }
}

impl Zkey {
    /// The `.zkey` file, sections in snarkjs' order: `zkey new`'s (1, 2,
    /// 4, 3, 9, 8, 5, 6, 7, 10) without contributions, and in id order
    /// (1 to 10) after any, as `zkey contribute` and `zkey beacon` rewrite
    /// it; so every file snarkjs writes is reproduced byte for byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sections: Vec<(u32, Vec<u8>)> = vec![
            (1, PROTOCOL.to_le_bytes().to_vec()),
            (HEADER, self.header_bytes()),
            (COEFFS, self.coefficient_bytes()),
            (IC, g1_bytes(&self.ic)),
            (H, g1_bytes(&self.h)),
            (C, g1_bytes(&self.c)),
            (A, g1_bytes(&self.a)),
            (B1, g1_bytes(&self.b_g1)),
            (B2, {
                let mut b2 = Vec::with_capacity(self.b_g2.len() * G2_BYTES);
                self.b_g2.iter().for_each(|p| lem::put_g2(&mut b2, p));
                b2
            }),
            (MPC, self.mpc_bytes()),
        ];
        if !self.contributions.is_empty() {
            sections.sort_by_key(|(id, _)| *id);
        }
        let mut w = Writer::new(MAGIC, VERSION, 10);
        sections.iter().for_each(|(id, body)| w.section(*id, body));
        w.finish()
    }

    fn coefficient_bytes(&self) -> Vec<u8> {
        let r2 = r_squared();
        let mut coeffs = (self.coefficients.len() as u32).to_le_bytes().to_vec();
        for c in &self.coefficients {
            let m: u32 = match c.matrix {
                Matrix::A => 0,
                Matrix::B => 1,
            };
            for v in [m, c.row, c.wire] {
                coeffs.extend_from_slice(&v.to_le_bytes());
            }
            binfile::put_fr(&mut coeffs, &(c.value * r2));
        }
        coeffs
    }

    fn header_bytes(&self) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&32u32.to_le_bytes());
        h.extend_from_slice(&Fq::MODULUS.to_bytes_le());
        binfile::put_field_header(&mut h);
        for v in [self.n_vars, self.n_public, self.domain_size] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        lem::put_g1(&mut h, &self.alpha_g1);
        lem::put_g1(&mut h, &self.beta_g1);
        lem::put_g2(&mut h, &self.beta_g2);
        lem::put_g2(&mut h, &self.gamma_g2);
        lem::put_g1(&mut h, &self.delta_g1);
        lem::put_g2(&mut h, &self.delta_g2);
        h
    }

    fn mpc_bytes(&self) -> Vec<u8> {
        let mut out = self.cs_hash.to_vec();
        out.extend_from_slice(&(self.contributions.len() as u32).to_le_bytes());
        for c in &self.contributions {
            lem::put_g1(&mut out, &c.delta_after);
            lem::put_g1(&mut out, &c.key.g1_s);
            lem::put_g1(&mut out, &c.key.g1_sx);
            lem::put_g2(&mut out, &c.key.g2_spx);
            out.extend_from_slice(&c.transcript);
            out.extend_from_slice(&u32::from(c.beacon.is_some()).to_le_bytes());
            let params = ptau::put_params(c.name.as_deref(), c.beacon.as_ref());
            out.extend_from_slice(&(params.len() as u32).to_le_bytes());
            out.extend_from_slice(&params);
        }
        out
    }

    /// The arkworks proving key (with its verifying key), for
    /// [`veil_proofs::qap::CircomReduction`]: `a_query = A`, `b_g1_query`,
    /// `b_g2_query`, `h_query = H`, `l_query = C`, `gamma_abc_g1 = IC`.
    pub fn proving_key(&self) -> ProvingKey<Bn254> {
        ProvingKey {
            vk: VerifyingKey {
                alpha_g1: self.alpha_g1,
                beta_g2: self.beta_g2,
                gamma_g2: self.gamma_g2,
                delta_g2: self.delta_g2,
                gamma_abc_g1: self.ic.clone(),
            },
            beta_g1: self.beta_g1,
            delta_g1: self.delta_g1,
            a_query: self.a.clone(),
            b_g1_query: self.b_g1.clone(),
            b_g2_query: self.b_g2.clone(),
            h_query: self.h.clone(),
            l_query: self.c.clone(),
        }
    }
}

fn header(s: &Sections<'_>) -> Result<HeaderFields, InteropError> {
    let mut p = s.exact(1, 4)?;
    let protocol = p.u32()?;
    if protocol != PROTOCOL {
        return Err(InteropError::Unsupported {
            file: FILE,
            field: "protocol",
            expected: "1 (Groth16)".into(),
            found: protocol.to_string(),
        });
    }
    let len = 4 + 32 + 4 + 32 + 12 + 3 * G1_BYTES + 3 * G2_BYTES;
    let mut h = s.exact(HEADER, len as u64)?;
    let n8q = h.u32()?;
    if n8q != 32 || h.take(32)? != Fq::MODULUS.to_bytes_le().as_slice() {
        return Err(InteropError::Unsupported {
            file: FILE,
            field: "base field",
            expected: "n8q = 32 and the BN254 base field order q".into(),
            found: "another field".into(),
        });
    }
    h.field_header()?;
    let (n_vars, n_public, domain_size) = (h.u32()?, h.u32()?, h.u32()?);
    let at = |f: &'static str| move || format!("{FILE} header {f}");
    let f = HeaderFields {
        n_vars,
        n_public,
        domain_size,
        alpha_g1: lem::g1(&mut h, &at("alpha_g1"))?,
        beta_g1: lem::g1(&mut h, &at("beta_g1"))?,
        beta_g2: lem::g2(&mut h, &at("beta_g2"))?,
        gamma_g2: lem::g2(&mut h, &at("gamma_g2"))?,
        delta_g1: lem::g1(&mut h, &at("delta_g1"))?,
        delta_g2: lem::g2(&mut h, &at("delta_g2"))?,
    };
    h.finish()?;
    let shape_ok = n_public < n_vars
        && domain_size.is_power_of_two()
        && domain_size.ilog2() <= ptau::MAX_READ_POWER;
    if !shape_ok {
        return Err(InteropError::binary(
            FILE,
            format!(
                "header: {n_vars} wires, {n_public} public inputs, domain {domain_size} is not a Groth16 shape"
            ),
        ));
    }
    Ok(f)
}

struct HeaderFields {
    n_vars: u32,
    n_public: u32,
    domain_size: u32,
    alpha_g1: G1Affine,
    beta_g1: G1Affine,
    beta_g2: G2Affine,
    gamma_g2: G2Affine,
    delta_g1: G1Affine,
    delta_g2: G2Affine,
}

fn points_g1(
    s: &Sections<'_>,
    id: u32,
    n: usize,
    zero_ok: bool,
    what: &str,
) -> Result<Vec<G1Affine>, InteropError> {
    let mut r = s.exact(id, (n * G1_BYTES) as u64)?;
    let name = format!("{FILE} section {id} ({what})");
    let v = (0..n)
        .map(|i| {
            let at = || format!("{name} point {i}");
            if zero_ok {
                lem::g1_or_zero(&mut r, &at)
            } else {
                lem::g1(&mut r, &at)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(v)
}

fn coefficients(s: &Sections<'_>, f: &HeaderFields) -> Result<Vec<Coefficient>, InteropError> {
    let mut r = s.unique(COEFFS)?;
    let n = r.u32()? as usize;
    if r.remaining() != n.saturating_mul(12 + 32) {
        return Err(InteropError::binary(
            FILE,
            "section 4 length disagrees with its count",
        ));
    }
    let r2_inv = r_squared().inverse().unwrap_or_default();
    let v = (0..n)
        .map(|i| coefficient(&mut r, i, f, r2_inv))
        .collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(v)
}

fn coefficient(
    r: &mut Reader<'_>,
    i: usize,
    f: &HeaderFields,
    r2_inv: Fr,
) -> Result<Coefficient, InteropError> {
    let (m, row, wire) = (r.u32()?, r.u32()?, r.u32()?);
    let stored = r.fr(|| format!("{FILE} coefficient {i}"))?;
    let matrix = match m {
        0 => Matrix::A,
        1 => Matrix::B,
        _ => {
            return Err(InteropError::binary(
                FILE,
                format!("coefficient {i}: matrix {m}"),
            ));
        }
    };
    if row >= f.domain_size || wire >= f.n_vars {
        return Err(InteropError::binary(
            FILE,
            format!("coefficient {i}: row {row} or wire {wire} out of range"),
        ));
    }
    Ok(Coefficient {
        matrix,
        row,
        wire,
        value: stored * r2_inv,
    })
}

fn mpc(s: &Sections<'_>) -> Result<([u8; 64], Vec<ZkeyContribution>), InteropError> {
    let mut r = s.unique(MPC)?;
    let mut cs_hash = [0u8; 64];
    cs_hash.copy_from_slice(r.take(64)?);
    let n = r.u32()? as usize;
    let fixed = 3 * G1_BYTES + G2_BYTES + 64 + 8;
    if n.saturating_mul(fixed) > r.remaining() {
        return Err(InteropError::binary(FILE, "truncated contributions"));
    }
    let v = (0..n)
        .map(|i| {
            let at = |f: &'static str| move || format!("{FILE} contribution {i} {f}");
            let delta_after = lem::g1(&mut r, &at("delta_after"))?;
            let key = KeyPart {
                g1_s: lem::g1(&mut r, &at("g1_s"))?,
                g1_sx: lem::g1(&mut r, &at("g1_sx"))?,
                g2_spx: lem::g2(&mut r, &at("g2_spx"))?,
            };
            let mut transcript = [0u8; 64];
            transcript.copy_from_slice(r.take(64)?);
            let kind = r.u32()?;
            let len = r.u32()? as usize;
            let (name, beacon) = ptau::params(Reader::new(r.take(len)?, FILE), kind, i)?;
            Ok(ZkeyContribution {
                delta_after,
                key,
                transcript,
                name,
                beacon,
            })
        })
        .collect::<Result<Vec<_>, InteropError>>()?;
    r.finish()?;
    Ok((cs_hash, v))
}

impl Zkey {
    /// Parses a Groth16 `.zkey` over BN254: magic `zkey`, version 1, the ten
    /// sections above each exactly once, of exactly their length, nothing
    /// else; header fields and every point strict (canonical, on the curve,
    /// G2 in the subgroup; infinity only where a wire may be unused: `IC`,
    /// `C`, `A`, `B`); coefficients canonical with rows below the domain
    /// and wires below the wire count. Does not check that the points
    /// match any circuit or ptau: that is phase-2 verification.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InteropError> {
        let s = Sections::parse(bytes, FILE, MAGIC, VERSION)?;
        s.only(&[1, HEADER, IC, COEFFS, A, B1, B2, C, H, MPC])?;
        let f = header(&s)?;
        let (nv, np, m) = (
            f.n_vars as usize,
            f.n_public as usize,
            f.domain_size as usize,
        );
        let coefficients = coefficients(&s, &f)?;
        let b_g2 = {
            let mut r = s.exact(B2, (nv * G2_BYTES) as u64)?;
            let v = (0..nv)
                .map(|i| lem::g2_or_zero(&mut r, &|| format!("{FILE} section 7 (B·G2) point {i}")))
                .collect::<Result<Vec<_>, _>>()?;
            r.finish()?;
            v
        };
        let (cs_hash, contributions) = mpc(&s)?;
        Ok(Zkey {
            ic: points_g1(&s, IC, np + 1, true, "IC")?,
            h: points_g1(&s, H, m, false, "H")?,
            c: points_g1(&s, C, nv - np - 1, true, "C")?,
            a: points_g1(&s, A, nv, true, "A")?,
            b_g1: points_g1(&s, B1, nv, true, "B·G1")?,
            b_g2,
            n_vars: f.n_vars,
            n_public: f.n_public,
            domain_size: f.domain_size,
            alpha_g1: f.alpha_g1,
            beta_g1: f.beta_g1,
            beta_g2: f.beta_g2,
            gamma_g2: f.gamma_g2,
            delta_g1: f.delta_g1,
            delta_g2: f.delta_g2,
            coefficients,
            cs_hash,
            contributions,
        })
    }
}

fn mismatch(check: &'static str) -> InteropError {
    InteropError::Inconsistent { file: FILE, check }
}

impl Zkey {
    /// Checks that this key, after any number of contributions, is a Groth16
    /// key of `r1cs` over `ptau` for the δ it names: everything
    /// contributions leave alone equals [`Zkey::new`]'s (shape, α, β, γ,
    /// coefficients, `IC`, `A`, `B`, circuit hash); `δ·G1` and `δ·G2` share
    /// δ, and the last contribution (if any) names it, else δ = 1; `C` and
    /// `H` are the initial ones divided by that δ (one pairing equation on
    /// a random linear combination). Does NOT check the contribution chain
    /// (each contributor's proof of knowledge and transcript): whether an
    /// honest contributor took part is not decided here.
    pub fn check_against<R: RngCore + CryptoRng>(
        &self,
        r1cs: &R1cs,
        ptau: &Ptau,
        rng: &mut R,
    ) -> Result<(), InteropError> {
        let init = self.initial_for(r1cs, ptau, rng)?;
        self.check_against_initial(&init, rng)
    }

    /// [`Zkey::check_against`] with the circuit's initial key already made
    /// (`init` must be [`Zkey::new`]'s for the circuit and ptau: it is the
    /// reference, and is not checked here).
    pub fn check_against_initial<R: RngCore + CryptoRng>(
        &self,
        init: &Zkey,
        rng: &mut R,
    ) -> Result<(), InteropError> {
        fn fixed(z: &Zkey) -> impl PartialEq + '_ {
            (
                (z.n_vars, z.n_public, z.domain_size),
                (z.alpha_g1, z.beta_g1, z.beta_g2, z.gamma_g2),
                (&z.coefficients, &z.ic, &z.a, &z.b_g1, &z.b_g2, z.cs_hash),
            )
        }
        if !init.contributions.is_empty() || fixed(self) != fixed(init) {
            return Err(mismatch(
                "the parts contributions keep equal the circuit's initial key",
            ));
        }
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        let delta_ok = match self.contributions.last() {
            Some(c) => c.delta_after == self.delta_g1,
            None => self.delta_g1 == g1 && self.delta_g2 == g2,
        };
        if !delta_ok {
            return Err(mismatch("δ·G1 is the last contribution's"));
        }
        let pair = |a: G1Projective, b: G2Affine, c: G1Projective, d: G2Affine| {
            Bn254::multi_pairing([a.into_affine(), (-c).into_affine()], [b, d]).is_zero()
        };
        if !pair(self.delta_g1.into(), g2, g1.into(), self.delta_g2) {
            return Err(mismatch("δ·G1 and δ·G2 share δ"));
        }
        if self.c.len() != init.c.len() || self.h.len() != init.h.len() {
            return Err(mismatch("C and H have the circuit's lengths"));
        }
        if !divided_by_delta(&self.c, &init.c, self.delta_g2, rng) {
            return Err(mismatch(
                "C (snarkjs' L section) is the circuit's divided by δ",
            ));
        }
        if !divided_by_delta(&self.h, &init.h, self.delta_g2, rng) {
            return Err(mismatch("H section is the circuit's divided by δ"));
        }
        Ok(())
    }
}

/// `e(Σ r_i·ours_i, δ·G2) = e(Σ r_i·initial_i, G2)` for random 128-bit
/// `r_i` (snarkjs `sectionHasSameRatio`): `ours = initial/δ` but with
/// probability about `2^-128`. Empty lists agree.
fn divided_by_delta<R: RngCore + CryptoRng>(
    ours: &[G1Affine],
    initial: &[G1Affine],
    delta_g2: G2Affine,
    rng: &mut R,
) -> bool {
    let r: Vec<Fr> = (0..ours.len())
        .map(|_| Fr::from(rng.next_u64()) + Fr::from(rng.next_u64()) * Fr::from(1u128 << 64))
        .collect();
    let lhs = G1Projective::msm_unchecked(ours, &r).into_affine();
    let rhs = G1Projective::msm_unchecked(initial, &r).into_affine();
    if lhs.is_zero() && rhs.is_zero() {
        return true;
    }
    Bn254::multi_pairing(
        [lhs, (-rhs.into_group()).into_affine()],
        [delta_g2, G2Affine::generator()],
    )
    .is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_matches_snarkjs_log2() {
        // snarkjs: log2(nConstraints + nPublic) + 1 with log2 = ⌊log2⌋.
        assert_eq!(domain_power(9537, 8), 14);
        assert_eq!(domain_power(7860, 3), 13);
        assert_eq!(domain_power(7, 1), 4);
        assert_eq!(domain_power(6, 1), 3);
    }

    #[test]
    fn r_squared_is_two_to_the_512() {
        let r = Fr::from(2u64).pow([256]);
        assert_eq!(r_squared(), r * r);
    }
}
