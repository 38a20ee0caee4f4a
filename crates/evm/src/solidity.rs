//! Groth16 verifiers in Solidity, written from a verifying key, and the one
//! encoding of a proof into their calldata words.
//!
//! Spec: `docs/protocol.md` §7 (the statements and keys); `docs/evm.md`
//! ("Verifiers") for the contract, its gas and its build.
//!
//! # The contract
//!
//! [`groth16_verifier`] writes a self-contained contract whose verifying key
//! is a set of `uint256 constant`s and whose only function is
//!
//! ```solidity
//! function verifyProof(uint256[2] calldata a, uint256[2][2] calldata b,
//!     uint256[2] calldata c, uint256[N] calldata input) public view returns (bool)
//! ```
//!
//! It returns `true` iff `e(−A, B)·e(α, β)·e(vk_x, γ)·e(C, δ) = 1` with
//! `vk_x = IC₀ + Σ input[i]·IC_{i+1}`: the arkworks verification equation.
//!
//! # Traps it avoids (`docs/evm.md`, "Traps")
//!
//! 1. **G2 coordinate order.** The ecPairing precompile (EIP-197) takes a G2
//!    point as `[x.c1, x.c0, y.c1, y.c0]`, imaginary part first; arkworks
//!    stores `c0` first. Both the key's constants and the caller's `b` use
//!    the EIP-197 order ([`ProofWords`] writes it); in the arkworks order
//!    the point is invalid and the verifier silently returns `false`.
//! 2. **Negation.** `A` is negated on chain (`p − A.y`) and the key's points
//!    are used as they are: exactly one of the two, never both.
//! 3. **Public-input range.** Every `input[i] ≥ r` is refused. Without it
//!    `input[i] + r` verifies with the same proof (the precompile reduces
//!    scalars mod r): a malleable nullifier or amount, i.e. a double spend.
//! 4. **Canonical proof points.** Every coordinate of `A`, `B`, `C` must be
//!    `< p` and none of them the point at infinity `(0, 0)`: the same proofs
//!    as `veil_proofs::Proof::from_bytes` accepts (adversarial B4, B5).
//! 5. **Out of gas looks like `false`.** A precompile call that runs out of
//!    gas fails, and the verifier returns `false`: a caller that settles
//!    value must `require(verifyProof(..))` and never read `false` as "bad
//!    proof, go on" (an estimator finds the gas at which it returns false).
//! 6. **Degenerate keys.** A key with a point at infinity in α, β, γ or δ,
//!    or with γ = δ, is refused by the generator: with such a key proofs can
//!    be forged without a trapdoor (an all-zero key accepts `B = ∞`).

use std::fmt::Write as _;

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::VerifyingKey;
use veil_proofs::CircuitId;

use crate::abi::{self, Word};

/// The Solidity compiler every contract is pinned to (`contracts/package.json`).
pub const SOLC_VERSION: &str = "0.8.28";

/// Why no verifier was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// α, β, γ or δ is the point at infinity.
    #[error("degenerate verifying key: {0} is the point at infinity")]
    PointAtInfinity(&'static str),
    /// γ = δ lets anyone move terms between the two pairings.
    #[error("degenerate verifying key: gamma equals delta")]
    GammaEqualsDelta,
    /// The key has no `IC₀` (it is not a Groth16 key of any circuit).
    #[error("malformed verifying key: no IC points")]
    NoIcPoints,
    /// The contract name is not a plain Solidity identifier.
    #[error("contract name {0:?} is not a Solidity identifier ([A-Za-z_][A-Za-z0-9_]*)")]
    BadContractName(String),
}

/// The contract name of `id`'s verifier: `AccessVerifier`, `WithdrawVerifier`,
/// `Settle1Verifier`, `Settle8Verifier`, `Settle64Verifier`,
/// `TreeInsert64Verifier`. It also names
/// `contracts/src/verifiers/<Name>.sol` and `contracts/artifacts/<Name>.json`.
pub fn verifier_contract_name(id: CircuitId) -> String {
    let mut name = String::new();
    for part in id.name().split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    name + "Verifier"
}

/// The ABI signature of `verifyProof` for `n` public inputs (its selector is
/// `keccak256` of this).
pub fn verify_proof_signature(n: usize) -> String {
    format!("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{n}])")
}

/// A proof as the verifier's `(a, b, c)` calldata words: G1 as `[x, y]`, G2
/// as `[[x.c1, x.c0], [y.c1, y.c0]]` (EIP-197, imaginary part first), each a
/// big-endian `uint256`; the point at infinity as all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofWords {
    /// `A`.
    pub a: [Word; 2],
    /// `B`, EIP-197 order.
    pub b: [[Word; 2]; 2],
    /// `C`.
    pub c: [Word; 2],
}

impl ProofWords {
    /// Encodes an arkworks proof.
    pub fn from_ark(proof: &ark_groth16::Proof<Bn254>) -> Self {
        let (bx, by) = g2_words(&proof.b);
        ProofWords {
            a: g1_words(&proof.a),
            b: [bx, by],
            c: g1_words(&proof.c),
        }
    }

    /// Encodes a veil proof.
    pub fn from_proof(proof: &veil_proofs::Proof) -> Self {
        Self::from_ark(proof.as_ark())
    }

    /// The eight words in ABI order: `a`, `b[0]`, `b[1]`, `c`.
    pub fn words(&self) -> [Word; 8] {
        let [a0, a1] = self.a;
        let [[b00, b01], [b10, b11]] = self.b;
        let [c0, c1] = self.c;
        [a0, a1, b00, b01, b10, b11, c0, c1]
    }
}

/// The calldata of `verifyProof(a, b, c, input)`: selector, the proof's
/// words, then one word per public input. Callers that want to send
/// non-canonical inputs (tests) use [`verify_proof_calldata_words`].
pub fn verify_proof_calldata(proof: &ProofWords, input: &[Fr]) -> Vec<u8> {
    let words: Vec<Word> = input.iter().map(fr_word).collect();
    verify_proof_calldata_words(proof, &words)
}

/// [`verify_proof_calldata`] with the public inputs as raw words.
pub fn verify_proof_calldata_words(proof: &ProofWords, input: &[Word]) -> Vec<u8> {
    let selector = abi::selector(&verify_proof_signature(input.len()));
    let words: Vec<Word> = proof
        .words()
        .into_iter()
        .chain(input.iter().copied())
        .collect();
    abi::encode_call(selector, &words)
}

/// A scalar-field element as a big-endian word.
pub fn fr_word(x: &Fr) -> Word {
    be_word(x.into_bigint().to_bytes_be())
}

/// A base-field element as a big-endian word.
pub fn fq_word(x: &Fq) -> Word {
    be_word(x.into_bigint().to_bytes_be())
}

pub(crate) fn be_word(bytes: Vec<u8>) -> Word {
    let mut w = [0u8; 32];
    // BN254 field elements are 32 bytes big-endian, never longer.
    let start = 32usize.saturating_sub(bytes.len());
    w[start..].copy_from_slice(&bytes[bytes.len().saturating_sub(32)..]);
    w
}

fn g1_words(p: &G1Affine) -> [Word; 2] {
    match p.xy() {
        Some((x, y)) => [fq_word(&x), fq_word(&y)],
        None => [[0; 32]; 2],
    }
}

/// `([x.c1, x.c0], [y.c1, y.c0])`: EIP-197 order.
fn g2_words(p: &G2Affine) -> ([Word; 2], [Word; 2]) {
    let fq2 = |v: &Fq2| [fq_word(&v.c1), fq_word(&v.c0)];
    match p.xy() {
        Some((x, y)) => (fq2(&x), fq2(&y)),
        None => ([[0; 32]; 2], [[0; 32]; 2]),
    }
}

pub(crate) fn hex_word(w: &Word) -> String {
    format!("0x{}", hex::encode(w))
}

/// Refuses keys with which proofs can be forged without a trapdoor.
fn check_key(vk: &VerifyingKey<Bn254>) -> Result<(), GenerateError> {
    if vk.alpha_g1.is_zero() {
        return Err(GenerateError::PointAtInfinity("alpha"));
    }
    for (name, p) in [
        ("beta", &vk.beta_g2),
        ("gamma", &vk.gamma_g2),
        ("delta", &vk.delta_g2),
    ] {
        if p.is_zero() {
            return Err(GenerateError::PointAtInfinity(name));
        }
    }
    if vk.gamma_g2 == vk.delta_g2 {
        return Err(GenerateError::GammaEqualsDelta);
    }
    if vk.gamma_abc_g1.is_empty() {
        return Err(GenerateError::NoIcPoints);
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), GenerateError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(GenerateError::BadContractName(
            name.chars().take(64).collect(),
        ))
    }
}

/// Writes the verifier contract of `vk` (see the module documentation).
/// Deterministic: the same key and name give the same bytes.
pub fn groth16_verifier(
    vk: &VerifyingKey<Bn254>,
    contract_name: &str,
) -> Result<String, GenerateError> {
    check_key(vk)?;
    check_name(contract_name)?;
    let n = vk.gamma_abc_g1.len() - 1;
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write_header(&mut s, contract_name, n);
    let _ = write_constants(&mut s, vk);
    let _ = write_verify(&mut s, n);
    s.push_str("}\n");
    Ok(s)
}

fn write_header(s: &mut String, name: &str, n: usize) -> std::fmt::Result {
    writeln!(s, "// SPDX-License-Identifier: MIT OR Apache-2.0")?;
    writeln!(
        s,
        "// Generated by `veil export solidity` from a verifying key in params/. Do not edit:"
    )?;
    writeln!(
        s,
        "// regenerate (crates/evm/src/solidity.rs documents the contract and its traps)."
    )?;
    writeln!(s, "pragma solidity {SOLC_VERSION};")?;
    writeln!(s)?;
    writeln!(s, "/// @title {name}")?;
    writeln!(
        s,
        "/// @notice Groth16 verifier over BN254 with {n} public inputs."
    )?;
    writeln!(
        s,
        "/// @dev Returns false for an invalid proof AND when a precompile runs out of gas:"
    )?;
    writeln!(
        s,
        "///      a caller that moves value must `require(verifyProof(...))`."
    )?;
    writeln!(s, "contract {name} {{")?;
    writeln!(
        s,
        "    /// Order of the BN254 scalar field: public inputs must be below it."
    )?;
    writeln!(
        s,
        "    uint256 internal constant R = {};",
        hex_word(&be_word(Fr::MODULUS.to_bytes_be()))
    )?;
    writeln!(
        s,
        "    /// The BN254 base field prime: proof coordinates must be below it."
    )?;
    writeln!(
        s,
        "    uint256 internal constant P = {};",
        hex_word(&be_word(Fq::MODULUS.to_bytes_be()))
    )?;
    writeln!(s, "    uint256 internal constant PUBLIC_INPUTS = {n};")?;
    writeln!(s)
}

fn write_constants(s: &mut String, vk: &VerifyingKey<Bn254>) -> std::fmt::Result {
    writeln!(
        s,
        "    // Verifying key. G2 points in EIP-197 order: X1 = x.c1, X0 = x.c0 (imaginary first)."
    )?;
    let [ax, ay] = g1_words(&vk.alpha_g1);
    writeln!(
        s,
        "    uint256 internal constant ALPHA_X = {};",
        hex_word(&ax)
    )?;
    writeln!(
        s,
        "    uint256 internal constant ALPHA_Y = {};",
        hex_word(&ay)
    )?;
    for (name, p) in [
        ("BETA", &vk.beta_g2),
        ("GAMMA", &vk.gamma_g2),
        ("DELTA", &vk.delta_g2),
    ] {
        let ([x1, x0], [y1, y0]) = g2_words(p);
        for (suffix, w) in [("X1", x1), ("X0", x0), ("Y1", y1), ("Y0", y0)] {
            writeln!(
                s,
                "    uint256 internal constant {name}_{suffix} = {};",
                hex_word(&w)
            )?;
        }
    }
    for (i, p) in vk.gamma_abc_g1.iter().enumerate() {
        let [x, y] = g1_words(p);
        writeln!(
            s,
            "    uint256 internal constant IC{i}_X = {};",
            hex_word(&x)
        )?;
        writeln!(
            s,
            "    uint256 internal constant IC{i}_Y = {};",
            hex_word(&y)
        )?;
    }
    writeln!(s)
}

fn write_verify(s: &mut String, n: usize) -> std::fmt::Result {
    writeln!(
        s,
        "    /// @notice True iff (a, b, c) is a valid proof for `input`."
    )?;
    writeln!(
        s,
        "    /// @param b G2 in EIP-197 order: [[x.c1, x.c0], [y.c1, y.c0]]."
    )?;
    writeln!(s, "    function verifyProof(")?;
    writeln!(s, "        uint256[2] calldata a,")?;
    writeln!(s, "        uint256[2][2] calldata b,")?;
    writeln!(s, "        uint256[2] calldata c,")?;
    writeln!(s, "        uint256[{n}] calldata input")?;
    writeln!(s, "    ) public view returns (bool ok) {{")?;
    writeln!(
        s,
        "        // Canonical public inputs: without this, input[i] + r verifies too."
    )?;
    writeln!(s, "        for (uint256 i = 0; i < PUBLIC_INPUTS; ++i) {{")?;
    writeln!(s, "            if (input[i] >= R) return false;")?;
    writeln!(s, "        }}")?;
    writeln!(
        s,
        "        // Canonical proof points, none at infinity (as veil_proofs::Proof::from_bytes)."
    )?;
    writeln!(
        s,
        "        if (a[0] >= P || a[1] >= P || c[0] >= P || c[1] >= P) return false;"
    )?;
    writeln!(
        s,
        "        if (b[0][0] >= P || b[0][1] >= P || b[1][0] >= P || b[1][1] >= P) return false;"
    )?;
    writeln!(
        s,
        "        if ((a[0] | a[1]) == 0 || (c[0] | c[1]) == 0) return false;"
    )?;
    writeln!(
        s,
        "        if ((b[0][0] | b[0][1] | b[1][0] | b[1][1]) == 0) return false;"
    )?;
    writeln!(s, "        assembly (\"memory-safe\") {{")?;
    writeln!(s, "            let m := mload(0x40)")?;
    writeln!(
        s,
        "            // vk_x = IC0 + sum input[i] * IC(i+1), accumulated at m (ecMul 0x07, ecAdd 0x06)."
    )?;
    writeln!(s, "            mstore(m, IC0_X)")?;
    writeln!(s, "            mstore(add(m, 0x20), IC0_Y)")?;
    writeln!(s, "            ok := 1")?;
    for i in 0..n {
        let j = i + 1;
        writeln!(s, "            mstore(add(m, 0x40), IC{j}_X)")?;
        writeln!(s, "            mstore(add(m, 0x60), IC{j}_Y)")?;
        writeln!(
            s,
            "            mstore(add(m, 0x80), calldataload(add(input, {:#x})))",
            i * 32
        )?;
        writeln!(
            s,
            "            ok := and(ok, staticcall(gas(), 0x07, add(m, 0x40), 0x60, add(m, 0x40), 0x40))"
        )?;
        writeln!(
            s,
            "            ok := and(ok, staticcall(gas(), 0x06, m, 0x80, m, 0x40))"
        )?;
    }
    writeln!(
        s,
        "            // e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) == 1 (ecPairing 0x08)."
    )?;
    writeln!(s, "            let x := mload(m)")?;
    writeln!(s, "            let y := mload(add(m, 0x20))")?;
    writeln!(s, "            mstore(m, calldataload(a))")?;
    writeln!(
        s,
        "            mstore(add(m, 0x20), mod(sub(P, calldataload(add(a, 0x20))), P))"
    )?;
    writeln!(s, "            calldatacopy(add(m, 0x40), b, 0x80)")?;
    let middle = [
        "ALPHA_X", "ALPHA_Y", "BETA_X1", "BETA_X0", "BETA_Y1", "BETA_Y0", "x", "y", "GAMMA_X1",
        "GAMMA_X0", "GAMMA_Y1", "GAMMA_Y0",
    ];
    for (k, v) in middle.iter().enumerate() {
        writeln!(s, "            mstore(add(m, {:#x}), {v})", 0xc0 + 32 * k)?;
    }
    writeln!(s, "            calldatacopy(add(m, 0x240), c, 0x40)")?;
    for (k, v) in ["DELTA_X1", "DELTA_X0", "DELTA_Y1", "DELTA_Y0"]
        .iter()
        .enumerate()
    {
        writeln!(s, "            mstore(add(m, {:#x}), {v})", 0x280 + 32 * k)?;
    }
    writeln!(
        s,
        "            ok := and(ok, staticcall(gas(), 0x08, m, 0x300, m, 0x20))"
    )?;
    writeln!(s, "            ok := and(ok, eq(mload(m), 1))")?;
    writeln!(s, "        }}")?;
    writeln!(s, "    }}")
}
