//! Poseidon over BN254, identical to circomlib's `Poseidon(n)`, and the
//! domain-separated hash `H(tag, x1..xn)` of the protocol.
//!
//! Spec: `docs/protocol.md` §2.2. Parameters are circomlib's (x^5 S-box,
//! 8 full rounds, circomlib partial rounds), taken from `light-poseidon`.
//! The state is `[0, inputs…]`, the output `state[0]` after the permutation.
//! The permutation is implemented here once, over the cached parameters, and
//! is shared with the in-circuit gadget (`veil-circuits`), which reads the
//! same [`params`]. Tests check it against `light-poseidon` and against the
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

/// The Poseidon permutation in place (circomlib round structure).
pub fn permute(state: &mut [Fr]) {
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
