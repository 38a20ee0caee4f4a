//! Poseidon over BN254, identical to circomlib's `Poseidon(n)`, and the
//! domain-separated hash `H(tag, x1..xn)` of the protocol.
//!
//! Spec: `docs/protocol.md` §2.2. Parameters are circomlib's (x^5 S-box,
//! 8 full rounds, circomlib partial rounds), taken from `light-poseidon`.
//! The state is `[0, inputs…]`, the output `state[0]` after the permutation.
//! The in-circuit gadget (`veil-circuits`) reads the same [`params`]; the
//! native [`permute`] runs the partial rounds in the sparse-matrix form
//! derived once per width from them. Tests check it against the
//! straightforward [`permute_reference`], `light-poseidon` and the
//! circomlibjs vectors in `shared/vectors/`.

use std::sync::OnceLock;

use ark_ff::Zero;
use light_poseidon::PoseidonParameters;

use crate::field::Fr;

/// Largest width (t = inputs + 1) circomlib defines for BN254 x^5.
pub const MAX_WIDTH: usize = 13;

/// Domain tags: the first input of every tagged hash (protocol §2.2).
///
/// The Merkle node hash is the only untagged use (arity t = 3 separates it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum DomainTag {
    /// `pk = H(OWNER, sk)`
    Owner = 1,
    /// `addr = H(ADDR, pk, ρ)`
    Addr = 2,
    /// `cm = H(NOTE, v, addr)`
    Note = 3,
    /// `nf = H(NULLIFIER, sk, ρ)`
    Nullifier = 4,
    /// `h_S = H(SESSION, S.x, S.y)`
    Session = 5,
    /// receipt message `H(RECEIPT, session_id, kib)`
    Receipt = 6,
    /// EdDSA challenge `H(CHALLENGE, R.x, R.y, A.x, A.y, m)`
    Challenge = 7,
    /// settlement slot digest
    SettleSlot = 8,
    /// settlement batch digest chain
    SettleBatch = 9,
    /// withdrawal binding of the recipient account
    Withdraw = 10,
    /// node identifier derived from the node's public key
    NodeId = 11,
    /// deterministic EdDSA nonce derivation
    Nonce = 12,
    /// a session key binding a Relay to its session `H(RELAY_BIND, session_id, node_id)`
    RelayBind = 13,
    /// `ρ` of a settlement refund note `H(REFUND, S.x, S.y)`: only the client
    /// and the node know the session key `S` (§5.4, §6)
    Refund = 14,
    /// `ρ` of a reclaim note `H(RECLAIM, session_id)` (§8.3.4)
    Reclaim = 15,
    /// a session's refund spending key `sk_r = H(REFUND_KEY, sk, ρ_r)` (§6)
    RefundKey = 16,
    /// a node's authorisation of a settlement (§8.3.3)
    SettleAuth = 17,
    /// account id `H(ACCOUNT, A.x, A.y)` of an account key `A` (§8.3)
    Account = 18,
    /// an operation signed by an account key (§8.3)
    AccountOp = 19,
    /// escrow commitment `H(ESCROW, session_id, node_id, E, h_S, rk, expiry)` (§3.3)
    Escrow = 20,
}

impl DomainTag {
    /// The tag as a field element.
    pub fn fr(self) -> Fr {
        Fr::from(self as u64)
    }
}

static PARAMS: [OnceLock<PoseidonParameters<Fr>>; MAX_WIDTH + 1] =
    [const { OnceLock::new() }; MAX_WIDTH + 1];

/// circomlib's parameters for width `t` (2..=13).
///
/// # Panics
/// If `t` is outside 2..=13: widths are fixed by the protocol, never chosen by input.
pub fn params(t: usize) -> &'static PoseidonParameters<Fr> {
    assert!(
        (2..=MAX_WIDTH).contains(&t),
        "Poseidon width {t} out of range"
    );
    PARAMS[t].get_or_init(|| {
        light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Fr>(t as u8)
            .expect("circomlib parameters exist for 2 <= t <= 13")
    })
}

/// The Poseidon permutation in place (circomlib round structure, §2.2).
///
/// Full rounds as in [`permute_reference`]; the partial rounds in the
/// sparse-matrix form of the Poseidon paper (Grassi et al., appendix B):
/// `2t − 1` multiplications per partial round instead of `t²`. Same output,
/// bit for bit (tests compare both on random states of every width).
pub fn permute(state: &mut [Fr]) {
    let t = state.len();
    let p = params(t);
    match sparse(t, p) {
        Some(s) => permute_sparse(state, p, s),
        None => permute_reference(state),
    }
}

/// The straightforward circomlib permutation: every round adds its
/// constants, applies the S-box (to every element in a full round, to
/// `state[0]` in a partial one) and multiplies by the dense MDS matrix.
/// The oracle of [`permute`]'s tests, and its fallback.
#[doc(hidden)]
pub fn permute_reference(state: &mut [Fr]) {
    let t = state.len();
    let p = params(t);
    let half = p.full_rounds / 2;
    let total = p.full_rounds + p.partial_rounds;
    let mut tmp = [Fr::zero(); MAX_WIDTH];
    let tmp = &mut tmp[..t];
    for round in 0..total {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.ark[round * t + i];
        }
        let full = round < half || round >= half + p.partial_rounds;
        if full {
            state.iter_mut().for_each(sbox);
        } else {
            sbox(&mut state[0]);
        }
        for (i, out) in tmp.iter_mut().enumerate() {
            *out = state
                .iter()
                .zip(&p.mds[i])
                .fold(Fr::zero(), |acc, (a, m)| acc + *a * m);
        }
        state.copy_from_slice(tmp);
    }
}

/// The partial rounds of one width in sparse form.
///
/// Through the partial rounds the state is kept as `z` with the true state
/// `x = A_r·z`, `A_r = diag(1, Â_r)`, `Â_0 = I`. Since `A_r` fixes element
/// 0, the S-box on `x[0]` commutes with it, so round `r`,
/// `x' = M·S0(x + c_r)`, becomes `z' = M''_r·S0(z + A_r⁻¹·c_r)` with
/// `x' = A_{r+1}·z'`, where `B = M·A_r = diag(1, B̂)·M''_r`,
/// `M''_r = [[b00, b_row], [B̂⁻¹·b_col, I]]` and `Â_{r+1} = B̂ = M̂·Â_r`.
/// After the last partial round `x = A·z` is applied once.
#[derive(Debug)]
struct Sparse {
    /// Per partial round, `A_r⁻¹·c_r` (t entries).
    constants: Vec<Fr>,
    /// Per partial round, the first row of `B = M·A_r` (t entries).
    rows: Vec<Fr>,
    /// Per partial round, `ŵ = B̂⁻¹·b_col` (t − 1 entries).
    w_hat: Vec<Fr>,
    /// `Â` after the last partial round, row-major, (t − 1)².
    last: Vec<Fr>,
}

static SPARSE: [OnceLock<Option<Sparse>>; MAX_WIDTH + 1] =
    [const { OnceLock::new() }; MAX_WIDTH + 1];

/// The sparse form for `p`'s width, derived once; `None` only if `M̂` is
/// singular, which cannot happen for an MDS matrix.
fn sparse(t: usize, p: &PoseidonParameters<Fr>) -> Option<&'static Sparse> {
    SPARSE[t].get_or_init(|| Sparse::derive(t, p)).as_ref()
}

type Matrix = Vec<Vec<Fr>>;

impl Sparse {
    /// Derives the per-round data. One inversion (of `M̂`, the MDS matrix
    /// without its first row and column): `B̂⁻¹ = Â_r⁻¹·M̂⁻¹`.
    fn derive(t: usize, p: &PoseidonParameters<Fr>) -> Option<Self> {
        let m_hat: Matrix = p.mds[1..].iter().map(|r| r[1..].to_vec()).collect();
        let m_hat_inv = invert(&m_hat)?;
        let m_col: Vec<Fr> = p.mds[1..].iter().map(|r| r[0]).collect();
        let v = mat_vec(&m_hat_inv, &m_col);
        let (mut a_hat, mut a_hat_inv) = (identity(t - 1), identity(t - 1));
        let first = p.full_rounds / 2;
        let mut s = Self {
            constants: Vec::new(),
            rows: Vec::new(),
            w_hat: Vec::new(),
            last: Vec::new(),
        };
        for c in p.ark.chunks_exact(t).skip(first).take(p.partial_rounds) {
            s.constants.push(c[0]);
            s.constants.extend(mat_vec(&a_hat_inv, &c[1..]));
            s.rows.push(p.mds[0][0]);
            s.rows.extend(vec_mat(&p.mds[0][1..], &a_hat));
            s.w_hat.extend(mat_vec(&a_hat_inv, &v));
            a_hat = mat_mul(&m_hat, &a_hat);
            a_hat_inv = mat_mul(&a_hat_inv, &m_hat_inv);
        }
        s.last = a_hat.concat();
        Some(s)
    }
}

fn permute_sparse(state: &mut [Fr], p: &PoseidonParameters<Fr>, s: &Sparse) {
    let t = state.len();
    let half = p.full_rounds / 2;
    let rounds = p.ark.chunks_exact(t);
    for c in rounds.clone().take(half) {
        full_round(state, c, &p.mds);
    }
    let partial = s.constants.chunks_exact(t);
    for ((c, row), w) in partial
        .zip(s.rows.chunks_exact(t))
        .zip(s.w_hat.chunks_exact(t - 1))
    {
        partial_round(state, c, row, w);
    }
    let mut x = [Fr::zero(); MAX_WIDTH];
    for (out, row) in x.iter_mut().zip(s.last.chunks_exact(t - 1)) {
        *out = dot(row, &state[1..]);
    }
    state[1..].copy_from_slice(&x[..t - 1]);
    for c in rounds.skip(half + p.partial_rounds) {
        full_round(state, c, &p.mds);
    }
}

/// `x' = M·S(x + c)`.
fn full_round(state: &mut [Fr], c: &[Fr], mds: &[Vec<Fr>]) {
    for (s, c) in state.iter_mut().zip(c) {
        *s += c;
        sbox(s);
    }
    let mut x = [Fr::zero(); MAX_WIDTH];
    for (out, row) in x.iter_mut().zip(mds) {
        *out = dot(row, state);
    }
    state.copy_from_slice(&x[..state.len()]);
}

/// `z' = M''·S0(z + c)`: `z'_0 = row·w`, `z'_i = w_i + ŵ_i·w_0`.
fn partial_round(state: &mut [Fr], c: &[Fr], row: &[Fr], w_hat: &[Fr]) {
    for (s, c) in state.iter_mut().zip(c) {
        *s += c;
    }
    sbox(&mut state[0]);
    let w0 = state[0];
    let z0 = dot(row, state);
    for (s, w) in state[1..].iter_mut().zip(w_hat) {
        *s += *w * w0;
    }
    state[0] = z0;
}

/// `Σ a_i·b_i`, three products per Montgomery reduction (ark's
/// `sum_of_products`: BN254's two spare bits allow three lazy terms).
#[inline(always)]
fn dot(a: &[Fr], b: &[Fr]) -> Fr {
    use ark_ff::Field;
    let (ca, cb) = (a.chunks_exact(3), b.chunks_exact(3));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(Fr::zero(), |acc, (x, y)| acc + *x * y);
    ca.zip(cb).fold(tail, |acc, (x, y)| {
        acc + Fr::sum_of_products(&[x[0], x[1], x[2]], &[y[0], y[1], y[2]])
    })
}

fn identity(n: usize) -> Matrix {
    (0..n)
        .map(|i| (0..n).map(|j| Fr::from(u64::from(i == j))).collect())
        .collect()
}

fn mat_vec(m: &[Vec<Fr>], v: &[Fr]) -> Vec<Fr> {
    m.iter().map(|row| dot(row, v)).collect()
}

/// The row vector `v·m`.
fn vec_mat(v: &[Fr], m: &[Vec<Fr>]) -> Vec<Fr> {
    (0..m.len())
        .map(|j| {
            v.iter()
                .zip(m)
                .fold(Fr::zero(), |acc, (x, row)| acc + *x * row[j])
        })
        .collect()
}

fn mat_mul(a: &[Vec<Fr>], b: &[Vec<Fr>]) -> Matrix {
    a.iter().map(|row| vec_mat(row, b)).collect()
}

/// Gauss–Jordan inversion with row pivoting; `None` if `m` is singular.
fn invert(m: &[Vec<Fr>]) -> Option<Matrix> {
    use ark_ff::Field;
    let n = m.len();
    let (mut a, mut inv) = (m.to_vec(), identity(n));
    for col in 0..n {
        let pivot = (col..n).find(|&r| !a[r][col].is_zero())?;
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let scale = a[col][col].inverse()?;
        a[col].iter_mut().for_each(|x| *x *= scale);
        inv[col].iter_mut().for_each(|x| *x *= scale);
        let (pa, pi) = (a[col].clone(), inv[col].clone());
        for r in (0..n).filter(|&r| r != col) {
            let f = a[r][col];
            a[r].iter_mut().zip(&pa).for_each(|(x, p)| *x -= f * p);
            inv[r].iter_mut().zip(&pi).for_each(|(x, p)| *x -= f * p);
        }
    }
    Some(inv)
}

#[inline(always)]
fn sbox(x: &mut Fr) {
    use ark_ff::Field;
    let x2 = x.square();
    let x4 = x2.square();
    *x *= x4;
}

/// circomlib `Poseidon(n)(inputs)`: 1 <= n <= 12.
///
/// # Panics
/// If `inputs` is empty or longer than 12 (a programming error: arities are fixed).
pub fn hash(inputs: &[Fr]) -> Fr {
    let mut state = [Fr::zero(); MAX_WIDTH];
    let t = inputs.len() + 1;
    state[1..t].copy_from_slice(inputs);
    permute(&mut state[..t]);
    state[0]
}

/// Domain-separated hash `H(tag, x1..xn)` = `Poseidon(n+1)(tag, x1..xn)`.
pub fn hash_tagged(tag: DomainTag, inputs: &[Fr]) -> Fr {
    let mut state = [Fr::zero(); MAX_WIDTH];
    let t = inputs.len() + 2;
    state[1] = tag.fr();
    state[2..t].copy_from_slice(inputs);
    permute(&mut state[..t]);
    state[0]
}

/// The Merkle node hash `Poseidon(left, right)` (untagged, t = 3).
pub fn hash_node(left: &Fr, right: &Fr) -> Fr {
    let mut state = [Fr::zero(), *left, *right];
    permute(&mut state);
    state[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_decimal;
    use light_poseidon::{Poseidon, PoseidonHasher};
    use proptest::prelude::*;

    fn vectors() -> serde_json::Value {
        // `shared/vectors/` sits beside the repository (or beside a worktree's
        // ancestors): look upwards from this crate for it.
        const FILE: &str = "shared/vectors/poseidon_circomlib_bn254.json";
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = here
            .ancestors()
            .map(|dir| dir.join(FILE))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{FILE} not found above {}", here.display()));
        let text = std::fs::read_to_string(&path).expect("vector file is readable");
        serde_json::from_str(&text).expect("vector file is JSON")
    }

    #[test]
    fn circomlib_vectors() {
        let v = vectors();
        let mut n = 0;
        for case in v["vectors"].as_array().expect("vectors array") {
            let inputs: Vec<Fr> = case["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(|s| fr_from_decimal(s.as_str().expect("decimal string")).expect("canonical"))
                .collect();
            let want =
                fr_from_decimal(case["output"].as_str().expect("output")).expect("canonical");
            assert_eq!(hash(&inputs), want, "vector {case}");
            n += 1;
        }
        assert!(n >= 10, "expected the full vector set, found {n}");
        let k = &v["known_reference"];
        let inputs: Vec<Fr> = k["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| fr_from_decimal(s.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(
            hash(&inputs),
            fr_from_decimal(k["output"].as_str().unwrap()).unwrap()
        );
    }

    #[test]
    fn tags_separate_domains() {
        // A9: the same inputs under different tags, or with an extra zero, differ.
        let x = Fr::from(7u64);
        let y = Fr::from(9u64);
        assert_ne!(
            hash_tagged(DomainTag::Note, &[x, y]),
            hash_tagged(DomainTag::Nullifier, &[x, y])
        );
        assert_ne!(
            hash_tagged(DomainTag::Note, &[x]),
            hash_tagged(DomainTag::Note, &[x, Fr::zero()])
        );
        assert_ne!(hash_node(&x, &y), hash_tagged(DomainTag::Owner, &[x, y]));
    }

    fn fr(bytes: &[u8; 32]) -> Fr {
        use ark_ff::PrimeField;
        Fr::from_le_bytes_mod_order(bytes)
    }

    /// The sparse form exists for every width: no silent fallback.
    #[test]
    fn sparse_form_derives_for_every_width() {
        for t in 2..=MAX_WIDTH {
            assert!(sparse(t, params(t)).is_some(), "width {t}");
        }
    }

    #[test]
    fn fast_equals_reference_on_edge_states() {
        for t in 2..=MAX_WIDTH {
            for fill in [Fr::zero(), -Fr::from(1u64), Fr::from(1u64)] {
                let mut fast = vec![fill; t];
                let mut slow = fast.clone();
                permute(&mut fast);
                permute_reference(&mut slow);
                assert_eq!(fast, slow, "width {t}");
            }
        }
    }

    #[test]
    fn invert_inverts_and_refuses_singular() {
        for t in 2..=MAX_WIDTH {
            let m = &params(t).mds;
            let inv = invert(m).expect("an MDS matrix is invertible");
            assert_eq!(mat_mul(&inv, m), identity(t));
            assert_eq!(mat_mul(m, &inv), identity(t));
        }
        let mut singular = params(4).mds.clone();
        singular[2] = singular[1].clone();
        assert_eq!(invert(&singular), None);
        assert_eq!(invert(&[vec![Fr::zero()]]), None);
        // A zero first pivot is not singularity: row pivoting handles it.
        let swap = vec![
            vec![Fr::zero(), Fr::from(1u64)],
            vec![Fr::from(1u64), Fr::zero()],
        ];
        assert_eq!(invert(&swap), Some(swap.clone()));
    }

    /// Parameters whose `M̂` is singular derive no sparse form (the
    /// permutation then falls back to the reference one) instead of panicking.
    #[test]
    fn singular_mds_derives_nothing() {
        let q = params(3);
        let mut mds = q.mds.clone();
        mds[2] = mds[1].clone();
        let p = PoseidonParameters {
            mds,
            ark: q.ark.clone(),
            ..*q
        };
        assert!(Sparse::derive(3, &p).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn fast_equals_reference(t in 2usize..=MAX_WIDTH, words in proptest::collection::vec(proptest::array::uniform32(any::<u8>()), MAX_WIDTH)) {
            let mut fast: Vec<Fr> = words[..t].iter().map(fr).collect();
            let mut slow = fast.clone();
            permute(&mut fast);
            permute_reference(&mut slow);
            prop_assert_eq!(fast, slow);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn agrees_with_light_poseidon(seed in any::<u64>(), n in 1usize..=12) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let inputs: Vec<Fr> = (0..n).map(|_| Fr::from(rng.r#gen::<u128>()) * Fr::from(rng.r#gen::<u128>())).collect();
            let mut lp = Poseidon::<Fr>::new_circom(n).unwrap();
            prop_assert_eq!(hash(&inputs), lp.hash(&inputs).unwrap());
        }
    }
}
