//! Scalar multiplication on BabyJubJub for EdDSA (§2.6).
//!
//! Extended twisted Edwards coordinates `(X : Y : T : Z)` with `x = X/Z`,
//! `y = Y/Z`, `T = XY/Z` and the Hisil–Wong–Carter–Dawson formulas for
//! `a = 1`. The curve is complete (`a` a square, `d` not), so one addition
//! formula serves every pair of inputs, identity and doubling included.
//!
//! - [`mul_generator`]: `k·G` from a fixed-base table of `j·16^i·G`
//!   (`i < 64`, `1 ≤ j ≤ 8`, 512 affine entries, 48 KiB, built once on
//!   first use) and signed radix-16 digits: 64 mixed additions, no doubling.
//!   The table is scanned in full for each digit (no secret-indexed memory
//!   access: `k` is a signing nonce).
//! - [`FixedBase`]: the same table for any point (the generator's, a
//!   prepared verifying key's), with a variable-time lookup for public
//!   scalars (verification): `k·B` in at most 64 mixed additions.
//! - [`mul`]: `k·P` for a public scalar and variable `P`: a table of
//!   `1..8·P`, then 4 doublings and one addition per radix-16 digit.
//!
//! Only a table's construction allocates.
//!
//! Results are exactly the group elements ark's `mul_bigint` computes (the
//! tests compare them); only the work differs.

use std::sync::OnceLock;

use ark_ff::{AdditiveGroup, BigInt, Field, One, Zero};

use super::{EdwardsAffine, EdwardsProjective};
use crate::field::Fr;

/// Radix-16 digits of a 256-bit integer.
const DIGITS: usize = 64;
/// Table entries per digit position: `1..=8` times the position's base.
const TABLE_WIDTH: usize = 8;

fn coeff_d() -> Fr {
    <ark_ed_on_bn254::EdwardsConfig as ark_ec::twisted_edwards::TECurveConfig>::COEFF_D
}

/// A point in extended coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extended {
    x: Fr,
    y: Fr,
    t: Fr,
    z: Fr,
}

/// An affine point prepared for mixed addition: `(x, y, d·x·y)`.
#[derive(Clone, Copy, Debug)]
struct Niels {
    x: Fr,
    y: Fr,
    dxy: Fr,
}

/// An extended point prepared for addition: `(X, Y, Z, d·T)`.
#[derive(Clone, Copy, Debug)]
struct Cached {
    x: Fr,
    y: Fr,
    z: Fr,
    dt: Fr,
}

impl Niels {
    const IDENTITY: Self = Self {
        x: Fr::ZERO,
        y: Fr::ONE,
        dxy: Fr::ZERO,
    };

    fn from_affine(p: &EdwardsAffine) -> Self {
        Self {
            x: p.x,
            y: p.y,
            dxy: coeff_d() * p.x * p.y,
        }
    }

    fn neg(&self) -> Self {
        Self {
            x: -self.x,
            y: self.y,
            dxy: -self.dxy,
        }
    }
}

impl Cached {
    fn neg(&self) -> Self {
        Self {
            x: -self.x,
            y: self.y,
            z: self.z,
            dt: -self.dt,
        }
    }
}

impl Extended {
    pub(crate) const IDENTITY: Self = Self {
        x: Fr::ZERO,
        y: Fr::ONE,
        t: Fr::ZERO,
        z: Fr::ONE,
    };

    pub(crate) fn from_affine(p: &EdwardsAffine) -> Self {
        Self {
            x: p.x,
            y: p.y,
            t: p.x * p.y,
            z: Fr::one(),
        }
    }

    fn cached(&self) -> Cached {
        Cached {
            x: self.x,
            y: self.y,
            z: self.z,
            dt: coeff_d() * self.t,
        }
    }

    /// The unified formula (`add-2008-hwcd`, `a = 1`) given `Z2` and `d·T2`.
    #[inline(always)]
    fn add_parts(&self, x2: Fr, y2: Fr, z2: Option<Fr>, dt2: Fr) -> Self {
        let a = self.x * x2;
        let b = self.y * y2;
        let c = self.t * dt2;
        let d = match z2 {
            Some(z2) => self.z * z2,
            None => self.z,
        };
        let e = (self.x + self.y) * (x2 + y2) - a - b;
        let f = d - c;
        let g = d + c;
        let h = b - a;
        Self {
            x: e * f,
            y: g * h,
            t: e * h,
            z: f * g,
        }
    }

    fn add_niels(&self, q: &Niels) -> Self {
        self.add_parts(q.x, q.y, None, q.dxy)
    }

    fn add_cached(&self, q: &Cached) -> Self {
        self.add_parts(q.x, q.y, Some(q.z), q.dt)
    }

    /// `dbl-2008-hwcd` with `a = 1`.
    pub(crate) fn double(&self) -> Self {
        let a = self.x.square();
        let b = self.y.square();
        let c = self.z.square().double();
        let e = (self.x + self.y).square() - a - b;
        let g = a + b;
        let f = g - c;
        let h = a - b;
        Self {
            x: e * f,
            y: g * h,
            t: e * h,
            z: f * g,
        }
    }

    /// `self + q` for an affine `q`.
    #[cfg(test)]
    pub(crate) fn add_affine(&self, q: &EdwardsAffine) -> Self {
        self.add_niels(&Niels::from_affine(q))
    }

    /// `self − q` for an affine `q`.
    pub(crate) fn sub_affine(&self, q: &EdwardsAffine) -> Self {
        self.add_niels(&Niels::from_affine(q).neg())
    }

    /// `self + q`.
    pub(crate) fn add(&self, q: &Self) -> Self {
        self.add_cached(&q.cached())
    }

    /// `−self`.
    pub(crate) fn neg(&self) -> Self {
        Self {
            x: -self.x,
            y: self.y,
            t: -self.t,
            z: self.z,
        }
    }

    /// `8·self`.
    pub(crate) fn mul_by_cofactor(&self) -> Self {
        self.double().double().double()
    }

    /// Whether this is the identity `(0, 1)`: `X = 0` and `Y = Z`.
    pub(crate) fn is_identity(&self) -> bool {
        self.x.is_zero() && self.y == self.z
    }

    /// Whether `self` and `q` are the same point: `X = x·Z`, `Y = y·Z`.
    pub(crate) fn eq_affine(&self, q: &EdwardsAffine) -> bool {
        self.x == q.x * self.z && self.y == q.y * self.z
    }

    /// The affine point (one inversion).
    pub(crate) fn to_affine(self) -> EdwardsAffine {
        match self.z.inverse() {
            Some(zi) => EdwardsAffine::new_unchecked(self.x * zi, self.y * zi),
            // Z ≠ 0 for every point the complete formulas produce.
            None => EdwardsAffine::new_unchecked(Fr::zero(), Fr::one()),
        }
    }

    /// As ark's projective point.
    #[cfg(test)]
    pub(crate) fn to_projective(self) -> EdwardsProjective {
        EdwardsProjective::new_unchecked(self.x, self.y, self.t, self.z)
    }
}

/// Signed radix-16 digits `d_i ∈ [−8, 8]` with `k = Σ d_i·16^i`, for any
/// `k < 2^255` (the top digit absorbs the final carry: `≤ 7 + 1`).
fn radix16(k: &BigInt<4>) -> [i8; DIGITS] {
    let mut d = [0i8; DIGITS];
    for (i, di) in d.iter_mut().enumerate() {
        *di = ((k.0[i / 16] >> (4 * (i % 16))) & 15) as i8;
    }
    for i in 0..DIGITS - 1 {
        let carry = (d[i] + 8) >> 4;
        d[i] -= carry << 4;
        d[i + 1] += carry;
    }
    d
}

type Table = [[Niels; TABLE_WIDTH]; DIGITS];

/// A fixed-base table of a point `B`: `table[i][j] = (j + 1)·16^i·B`,
/// affine (64 rows of 8, 48 KiB).
#[derive(Clone)]
pub(crate) struct FixedBase(Box<Table>);

impl FixedBase {
    /// Builds the table of `base`: 448 additions, 64 doublings and one
    /// batch normalization (a single inversion) of the 512 entries.
    pub(crate) fn new(base: &EdwardsAffine) -> Self {
        use ark_ec::{AffineRepr, CurveGroup};
        let mut points = Vec::with_capacity(DIGITS * TABLE_WIDTH);
        let mut row_base = base.into_group();
        for _ in 0..DIGITS {
            let mut acc = row_base;
            points.push(acc);
            for _ in 1..TABLE_WIDTH {
                acc += row_base;
                points.push(acc);
            }
            // 16·base = 2·(8·base).
            row_base = acc.double();
        }
        let affine = EdwardsProjective::normalize_batch(&points);
        let mut table = Box::new([[Niels::IDENTITY; TABLE_WIDTH]; DIGITS]);
        for (slot, p) in table.iter_mut().flatten().zip(&affine) {
            *slot = Niels::from_affine(p);
        }
        Self(table)
    }

    /// The table of the generator `G`, built once on first use.
    pub(crate) fn generator() -> &'static Self {
        static TABLE: OnceLock<FixedBase> = OnceLock::new();
        TABLE.get_or_init(|| {
            use ark_ec::AffineRepr;
            Self::new(&EdwardsAffine::generator())
        })
    }

    /// `acc + k·B` for a public `k < 2^255`: variable time (the entry read
    /// depends on `k`), for verification only, never for a secret scalar.
    pub(crate) fn add_mul_vartime(&self, acc: Extended, k: &BigInt<4>) -> Extended {
        self.add_digits(acc, k, 1)
    }

    /// `acc − k·B`, as [`FixedBase::add_mul_vartime`].
    pub(crate) fn sub_mul_vartime(&self, acc: Extended, k: &BigInt<4>) -> Extended {
        self.add_digits(acc, k, -1)
    }

    fn add_digits(&self, mut acc: Extended, k: &BigInt<4>, sign: i8) -> Extended {
        for (row, &d) in self.0.iter().zip(radix16(k).iter()) {
            if let Some(q) = pick_vartime(row, sign * d) {
                acc = acc.add_niels(&q);
            }
        }
        acc
    }
}

/// `digit·base` from a row (`None` for 0), by index: variable time.
fn pick_vartime(row: &[Niels; TABLE_WIDTH], digit: i8) -> Option<Niels> {
    let entry = row.get(usize::from(digit.unsigned_abs()).checked_sub(1)?)?;
    Some(if digit < 0 { entry.neg() } else { *entry })
}

/// All-ones if `a == b`, else zero, without a branch.
fn eq_mask(a: u8, b: u8) -> u64 {
    let x = u64::from(a ^ b);
    // x − 1 borrows (top bit set) only when x = 0.
    0u64.wrapping_sub((x.wrapping_sub(1)) >> 63)
}

fn select_fr(dst: &mut Fr, src: &Fr, mask: u64) {
    for (d, s) in dst.0.0.iter_mut().zip(src.0.0.iter()) {
        *d ^= mask & (*d ^ *s);
    }
}

fn neg_fr_masked(x: &mut Fr, mask: u64) {
    let n = -*x;
    select_fr(x, &n, mask);
}

/// `|digit|·base` (identity for 0), negated for a negative digit, reading
/// every entry of `row`.
fn select_niels(row: &[Niels; TABLE_WIDTH], digit: i8) -> Niels {
    let neg_mask = 0u64.wrapping_sub(u64::from((digit as u8) >> 7));
    let abs = digit.unsigned_abs();
    let mut out = Niels::IDENTITY;
    for (j, entry) in row.iter().enumerate() {
        let m = eq_mask(abs, j as u8 + 1);
        select_fr(&mut out.x, &entry.x, m);
        select_fr(&mut out.y, &entry.y, m);
        select_fr(&mut out.dxy, &entry.dxy, m);
    }
    neg_fr_masked(&mut out.x, neg_mask);
    neg_fr_masked(&mut out.dxy, neg_mask);
    out
}

/// `k·G` for any `k < 2^255` (§2.6: signing nonces, `S·G` in verification).
pub(crate) fn mul_generator(k: &BigInt<4>) -> Extended {
    let table = &FixedBase::generator().0;
    let digits = radix16(k);
    let mut acc = Extended::IDENTITY;
    for (row, &d) in table.iter().zip(digits.iter()) {
        acc = acc.add_niels(&select_niels(row, d));
    }
    acc
}

/// `k·P` for a public `k < 2^255` and any curve point `P` (variable time).
pub(crate) fn mul(p: &Extended, k: &BigInt<4>) -> Extended {
    let mut multiples = [p.cached(); TABLE_WIDTH];
    let mut acc = *p;
    for m in multiples.iter_mut().skip(1) {
        acc = acc.add(p);
        *m = acc.cached();
    }
    let pick = |d: i8| -> Option<Cached> {
        let abs = usize::from(d.unsigned_abs());
        let entry = multiples.get(abs.checked_sub(1)?)?;
        Some(if d < 0 { entry.neg() } else { *entry })
    };
    let digits = radix16(k);
    let mut acc = Extended::IDENTITY;
    for &d in digits.iter().rev() {
        acc = acc.double().double().double().double();
        if let Some(q) = pick(d) {
            acc = acc.add_cached(&q);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
    use ark_ff::{BigInteger, PrimeField};
    use proptest::prelude::*;

    use crate::babyjubjub::ScalarField;
    use crate::eddsa::testing::{order_eight, order_two};

    fn bigint(bytes: [u8; 32]) -> BigInt<4> {
        let mut b = bytes;
        b[0] &= 0x7f; // < 2^255
        crate::babyjubjub::bigint_from_be(&b)
    }

    fn reference(p: &EdwardsAffine, k: &BigInt<4>) -> EdwardsAffine {
        p.mul_bigint(k).into_affine()
    }

    #[test]
    fn radix16_recomposes() {
        for k in [
            BigInt::<4>::zero(),
            BigInt::one(),
            BigInt::new([u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1]),
            ScalarField::MODULUS,
            Fr::MODULUS,
            BigInt::new([
                0x8888_8888_8888_8888,
                0x8888_8888_8888_8888,
                0x8888_8888_8888_8888,
                0x7888_8888_8888_8888,
            ]),
        ] {
            let d = radix16(&k);
            assert!(d.iter().all(|&x| (-8..=8).contains(&x)));
            // Σ d_i·16^i evaluated in F_r, compared with k mod r.
            let sixteen = Fr::from(16u64);
            let got = d
                .iter()
                .rev()
                .fold(Fr::zero(), |acc, &x| acc * sixteen + Fr::from(i64::from(x)));
            assert_eq!(got, Fr::from_le_bytes_mod_order(&k.to_bytes_le()));
        }
    }

    #[test]
    fn edge_scalars_match_ark() {
        let g = EdwardsAffine::generator();
        let l = ScalarField::MODULUS;
        let mut l_minus_1 = l;
        l_minus_1.sub_with_borrow(&BigInt::one());
        let mut l_plus_1 = l;
        l_plus_1.add_with_carry(&BigInt::one());
        for k in [
            BigInt::zero(),
            BigInt::one(),
            l,
            l_minus_1,
            l_plus_1,
            Fr::MODULUS,
            BigInt::new([u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1]),
        ] {
            assert_eq!(mul_generator(&k).to_affine(), reference(&g, &k));
            for p in [
                g,
                order_two(),
                order_eight(),
                (g + order_eight()).into_affine(),
            ] {
                assert_eq!(
                    mul(&Extended::from_affine(&p), &k).to_affine(),
                    reference(&p, &k)
                );
            }
        }
        assert!(mul_generator(&l).is_identity());
        assert!(
            Extended::from_affine(&order_eight())
                .mul_by_cofactor()
                .is_identity()
        );
        assert!(
            !Extended::from_affine(&order_eight())
                .double()
                .double()
                .is_identity()
        );
    }

    #[test]
    fn group_law_matches_ark() {
        let g = EdwardsAffine::generator();
        let p = (g + order_eight()).into_affine();
        let e = Extended::from_affine(&g);
        assert_eq!(e.add_affine(&p).to_affine(), (g + p).into_affine());
        assert_eq!(
            e.sub_affine(&p).to_affine(),
            (g.into_group() - p).into_affine()
        );
        assert_eq!(
            e.double().to_affine(),
            g.into_group().double().into_affine()
        );
        assert_eq!(e.add(&e).to_affine(), e.double().to_affine());
        assert_eq!(e.to_projective(), g.into_group());
        assert!(e.sub_affine(&g).is_identity());
        assert!(e.eq_affine(&g) && !e.eq_affine(&p));
        assert!(Extended::IDENTITY.eq_affine(&crate::eddsa::testing::identity()));
    }

    #[test]
    fn select_reads_the_right_entry() {
        let row = &FixedBase::generator().0[3];
        for d in -8i8..=8 {
            let got = select_niels(row, d);
            let want = match d {
                0 => Niels::IDENTITY,
                d if d > 0 => row[(d - 1) as usize],
                d => row[(-d - 1) as usize].neg(),
            };
            assert_eq!(
                (got.x, got.y, got.dxy),
                (want.x, want.y, want.dxy),
                "digit {d}"
            );
        }
        assert_eq!(eq_mask(3, 3), u64::MAX);
        assert_eq!(eq_mask(3, 4), 0);
        assert_eq!(eq_mask(0, 0), u64::MAX);
    }

    #[test]
    fn vartime_edge_scalars_match_ark() {
        let g = EdwardsAffine::generator();
        let p_t = (g + order_eight()).into_affine();
        let table = FixedBase::new(&p_t);
        let mut l_minus_1 = ScalarField::MODULUS;
        l_minus_1.sub_with_borrow(&BigInt::one());
        for k in [
            BigInt::zero(),
            BigInt::one(),
            l_minus_1,
            ScalarField::MODULUS,
            Fr::MODULUS,
            BigInt::new([u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1]),
        ] {
            let id = Extended::IDENTITY;
            let gk = FixedBase::generator().add_mul_vartime(id, &k);
            assert_eq!(gk.to_affine(), reference(&g, &k));
            assert_eq!(
                table.add_mul_vartime(id, &k).to_affine(),
                reference(&p_t, &k)
            );
            assert!(
                table
                    .sub_mul_vartime(table.add_mul_vartime(id, &k), &k)
                    .is_identity()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_scalars_match_ark(k in proptest::array::uniform32(any::<u8>()), seed in any::<u64>()) {
            let k = bigint(k);
            let g = EdwardsAffine::generator();
            prop_assert_eq!(mul_generator(&k).to_affine(), reference(&g, &k));
            let p = EdwardsProjective::generator()
                .mul_bigint([seed | 1])
                .into_affine();
            let p_t = (p + order_eight()).into_affine();
            prop_assert_eq!(mul(&Extended::from_affine(&p), &k).to_affine(), reference(&p, &k));
            prop_assert_eq!(mul(&Extended::from_affine(&p_t), &k).to_affine(), reference(&p_t, &k));
            // Variable-time table lookups: k·G, and acc − k·P from P's table.
            prop_assert_eq!(FixedBase::generator().add_mul_vartime(Extended::IDENTITY, &k).to_affine(), reference(&g, &k));
            let acc = Extended::from_affine(&g);
            let diff = FixedBase::new(&p).sub_mul_vartime(acc, &k);
            prop_assert_eq!(diff.to_affine(), (g.into_group() - p.mul_bigint(k)).into_affine());
            prop_assert!(diff.eq_affine(&diff.to_affine()) && !diff.eq_affine(&diff.add_affine(&g).to_affine()));
        }
    }
}
