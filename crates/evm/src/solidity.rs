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
//! # The batched contract
//!
//! [`groth16_batch_verifier`] writes, from the same key, a contract whose
//! only function is
//!
//! ```solidity
//! function verifyBatch(uint256[8][] calldata proofs, uint256[N][] calldata inputs)
//!     external view returns (bool ok)
//! ```
//!
//! with `proofs[i]` = [`ProofWords::words`] (`[a.x, a.y, b.x.c1, b.x.c0,
//! b.y.c1, b.y.c0, c.x, c.y]`, G2 in EIP-197 order) and `inputs[i]` its
//! public inputs ([`verify_batch_calldata`]). It returns `true` iff every
//! proof is valid for its inputs, checked as ONE pairing product of `n + 3`
//! pairs (`docs/protocol.md` §7.5 adapted to the chain, `docs/evm.md` §1.5):
//!
//! `Π_i e(−ρ_i·A_i, B_i) · e((Σρ_i)·α, β) · e(L, γ) · e(Σρ_i·C_i, δ) = 1`,
//! with `L = (Σρ_i)·IC₀ + Σ_j (Σ_i ρ_i·x_ij mod r)·IC_{j+1}`:
//!
//! two ecMuls and an ecAdd per proof, `N + 2` ecMuls per batch (the input
//! MSM is done once, on the weighted sums of the inputs). It returns
//! `false`, never reverting, for `n = 0`, `n >` [`MAX_BATCH`],
//! `proofs.length ≠ inputs.length`, any word traps 3 and 4 below refuse,
//! any failed precompile call (it returns at once: the failed call has used
//! 63/64 of the gas left, trap 5), and a product ≠ 1. Calldata that is not
//! an ABI encoding of the two arrays reverts in Solidity's decoder.
//!
//! **Weights (Fiat–Shamir).** `seed = keccak256(proofs' words ‖ inputs'
//! words)`, every calldata word the check reads, and `ρ_i =
//! (uint256(keccak256(seed ‖ i)) >> 128) | (1 << 127)`: 128 bits with the
//! top bit set, so never 0 (a zero weight would drop proof `i` from the
//! check) and below `r`. Why this is sound with no randomness on chain:
//! G1 and GT have prime order `r`, so the product is `Π_i g^{ρ_i·e_i}`,
//! where `e_i` is proof `i`'s own error (0 iff it verifies alone). A batch
//! with a bad proof passes only if `Σ ρ_i·e_i ≡ 0 (mod r)`. The weights
//! hash everything that fixes the `e_i`, so no proof can be chosen after
//! its weight; for a fixed batch with some `e_k ≠ 0`, at most one value of
//! `ρ_k` makes the sum 0. With keccak as a random oracle, each attempt
//! (change or re-randomise a proof, hash again) passes with probability at
//! most 2⁻¹²⁷ (127 free bits per weight): grinding a bad batch through
//! costs about 2¹²⁷ hashes, beyond the ~100-bit security estimated for
//! BN254 itself. Distinct weights per position also refuse errors that
//! would cancel under equal weights (two proofs' inputs swapped, `C₁ + D`
//! with `C₂ − D`).
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
//!    value must `require(verifyProof(..))` (or `verifyBatch`) and never
//!    read `false` as "bad proof, go on" (an estimator finds the gas at
//!    which it returns false).
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
    write_contract(vk, contract_name, write_header, write_verify)
}

/// Checks the key and the name, then writes header, constants and
/// function: the layout of both verifier contracts.
fn write_contract(
    vk: &VerifyingKey<Bn254>,
    name: &str,
    header: for<'a> fn(&mut String, &'a str, usize) -> std::fmt::Result,
    function: fn(&mut String, usize) -> std::fmt::Result,
) -> Result<String, GenerateError> {
    check_key(vk)?;
    check_name(name)?;
    let n = vk.gamma_abc_g1.len() - 1;
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = header(&mut s, name, n);
    let _ = write_constants(&mut s, vk);
    let _ = function(&mut s, n);
    s.push_str("}\n");
    Ok(s)
}

fn write_header(s: &mut String, name: &str, n: usize) -> std::fmt::Result {
    let notice = [
        format!("/// @notice Groth16 verifier over BN254 with {n} public inputs."),
        "/// @dev Returns false for an invalid proof AND when a precompile runs out of gas:".into(),
        "///      a caller that moves value must `require(verifyProof(...))`.".into(),
    ];
    write_contract_open(s, name, &notice)?;
    write_field_constants(s, n)?;
    writeln!(s)
}

/// The file header, the contract's NatSpec (`notice` lines) and its opening.
fn write_contract_open(s: &mut String, name: &str, notice: &[String]) -> std::fmt::Result {
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
    for line in notice {
        writeln!(s, "{line}")?;
    }
    writeln!(s, "contract {name} {{")
}

/// `R`, `P` and `PUBLIC_INPUTS`.
fn write_field_constants(s: &mut String, n: usize) -> std::fmt::Result {
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
    writeln!(s, "    uint256 internal constant PUBLIC_INPUTS = {n};")
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

/// The largest batch [`groth16_batch_verifier`]'s `verifyBatch` takes; a
/// longer one reads as `false`.
pub const MAX_BATCH: usize = 64;

/// The contract name of `id`'s batched verifier: `AccessBatchVerifier` for
/// `access` (only `access` has one committed:
/// [`crate::verifiers::BATCH_VERIFIED`]).
pub fn batch_verifier_contract_name(id: CircuitId) -> String {
    let single = verifier_contract_name(id);
    let stem = single.strip_suffix("Verifier").unwrap_or(&single);
    format!("{stem}BatchVerifier")
}

/// The ABI signature of `verifyBatch` for `n` public inputs per proof.
pub fn verify_batch_signature(n: usize) -> String {
    format!("verifyBatch(uint256[8][],uint256[{n}][])")
}

/// The calldata of `verifyBatch(proofs, inputs)`: selector, the two offsets
/// (`0x40`, then `0x60 + 0x100·proofs.len()`), `proofs.len()` and every
/// proof's [`ProofWords::words`], `inputs.len()` and every row's `N` words.
/// The two lengths are written as given (they may differ: tests).
pub fn verify_batch_calldata<const N: usize>(
    proofs: &[ProofWords],
    inputs: &[[Word; N]],
) -> Vec<u8> {
    let selector = abi::selector(&verify_batch_signature(N));
    let inputs_at = 0x60 + 0x100 * proofs.len() as u64;
    let mut words = vec![abi::word_u64(0x40), abi::word_u64(inputs_at)];
    words.push(abi::word_u64(proofs.len() as u64));
    words.extend(proofs.iter().flat_map(ProofWords::words));
    words.push(abi::word_u64(inputs.len() as u64));
    words.extend(inputs.iter().flatten().copied());
    abi::encode_call(selector, &words)
}

/// Writes the batched verifier contract of `vk` (module documentation,
/// "The batched contract"). Deterministic; refuses the keys and names
/// [`groth16_verifier`] refuses.
pub fn groth16_batch_verifier(
    vk: &VerifyingKey<Bn254>,
    contract_name: &str,
) -> Result<String, GenerateError> {
    write_contract(vk, contract_name, write_batch_header, write_batch_function)
}

fn write_batch_header(s: &mut String, name: &str, n: usize) -> std::fmt::Result {
    let notice = [
        format!(
            "/// @notice Batched Groth16 verifier over BN254, {n} public inputs per proof: n proofs"
        ),
        "///         of one key checked by ONE pairing product with Fiat-Shamir weights.".into(),
        "/// @dev Returns false for an invalid batch AND when a precompile runs out of gas:".into(),
        "///      a caller that moves value must `require(verifyBatch(...))`.".into(),
    ];
    write_contract_open(s, name, &notice)?;
    write_field_constants(s, n)?;
    writeln!(
        s,
        "    /// The largest batch: a longer one reads as false (ecPairing input grows with n)."
    )?;
    writeln!(s, "    uint256 internal constant MAX_BATCH = {MAX_BATCH};")?;
    writeln!(s)
}

/// `verifyBatch`: its NatSpec, the length checks, and the assembly block.
fn write_batch_function(s: &mut String, n: usize) -> std::fmt::Result {
    s.push_str(BATCH_DOC);
    writeln!(s, "    function verifyBatch(")?;
    writeln!(s, "        uint256[8][] calldata proofs,")?;
    writeln!(s, "        uint256[{n}][] calldata inputs")?;
    writeln!(s, "    ) external view returns (bool ok) {{")?;
    writeln!(s, "        uint256 n = proofs.length;")?;
    writeln!(
        s,
        "        if (n == 0 || n > MAX_BATCH || inputs.length != n) return false;"
    )?;
    writeln!(s, "        assembly (\"memory-safe\") {{")?;
    s.push_str(YUL_CHECKS);
    s.push_str(YUL_WEIGHTS);
    s.push_str(YUL_TERMS);
    write_yul_linear(s, n)?;
    write_yul_fixed_pairs(s)?;
    s.push_str(YUL_MAIN);
    writeln!(s, "        }}")?;
    writeln!(s, "    }}")
}

const BATCH_DOC: &str = r#"    /// @notice True iff 1 <= n <= MAX_BATCH, inputs.length == n, and every proofs[i] is a
    ///         valid proof for inputs[i]; otherwise false, never a revert (for calldata
    ///         that is an ABI encoding of the two arrays).
    /// @param proofs proofs[i] = [a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y]
    ///        (G2 in EIP-197 order), every coordinate < P, none of A, B, C = (0, 0).
    /// @param inputs inputs[i] = the public inputs of proofs[i], each < R.
    /// @dev Checks prod_i e(-rho_i A_i, B_i) * e((sum rho_i) alpha, beta) * e(L, gamma)
    ///      * e(sum rho_i C_i, delta) == 1 in one ecPairing call of n + 3 pairs, with
    ///      L = (sum rho_i) IC0 + sum_j (sum_i rho_i inputs[i][j] mod R) IC(j+1),
    ///      seed = keccak256(proofs' words ‖ inputs' words) as in calldata, and
    ///      rho_i = (uint256(keccak256(seed ‖ i)) >> 128) | (1 << 127): 128 bits, never 0.
"#;

const YUL_CHECKS: &str = r#"            // A failed precompile call has used 63/64 of the gas left: false at once.
            function fail() {
                mstore(0, 0)
                return(0, 0x20)
            }
            // Canonical words (as veil_proofs::Proof::from_bytes): coordinates < P,
            // none of A, B, C the point at infinity (0, 0), every input < R.
            function canonical(pr, inp) -> v {
                v := 1
                for { let k := 0 } lt(k, 0x100) { k := add(k, 0x20) } {
                    v := and(v, lt(calldataload(add(pr, k)), P))
                }
                let a := or(calldataload(pr), calldataload(add(pr, 0x20)))
                let b := or(calldataload(add(pr, 0x40)), calldataload(add(pr, 0x60)))
                b := or(b, or(calldataload(add(pr, 0x80)), calldataload(add(pr, 0xa0))))
                let c := or(calldataload(add(pr, 0xc0)), calldataload(add(pr, 0xe0)))
                v := and(v, and(iszero(iszero(a)), and(iszero(iszero(b)), iszero(iszero(c)))))
                for { let k := 0 } lt(k, mul(PUBLIC_INPUTS, 0x20)) { k := add(k, 0x20) } {
                    v := and(v, lt(calldataload(add(inp, k)), R))
                }
            }
"#;

const YUL_WEIGHTS: &str = r#"            // seed = keccak256 of every proof word then every input word (copied to mem).
            function seedOf(mem, pr, inp, count) -> seed {
                let pl := mul(count, 0x100)
                let il := mul(count, mul(PUBLIC_INPUTS, 0x20))
                calldatacopy(mem, pr, pl)
                calldatacopy(add(mem, pl), inp, il)
                seed := keccak256(mem, add(pl, il))
            }
            // rho_i = (keccak256(seed ‖ i) >> 128) | (1 << 127).
            function weight(seed, i) -> rho {
                mstore(0, seed)
                mstore(0x20, i)
                rho := or(shr(128, keccak256(0, 0x40)), shl(127, 1))
            }
"#;

const YUL_TERMS: &str = r#"            // The G1 point at m += s * (x, y) (ecMul 0x07, ecAdd 0x06; m + 0x40..0xa0 scratch).
            function mulAdd(m, x, y, s) {
                mstore(add(m, 0x40), x)
                mstore(add(m, 0x60), y)
                mstore(add(m, 0x80), s)
                if iszero(staticcall(gas(), 0x07, add(m, 0x40), 0x60, add(m, 0x40), 0x40)) { fail() }
                if iszero(staticcall(gas(), 0x06, m, 0x80, m, 0x40)) { fail() }
            }
            // sums[0] += rho; sums[j + 1] += rho * inputs[i][j] mod R.
            function addInputs(sums, inp, rho) {
                mstore(sums, add(mload(sums), rho))
                for { let j := 0 } lt(j, PUBLIC_INPUTS) { j := add(j, 1) } {
                    let at := add(sums, mul(add(j, 1), 0x20))
                    let x := calldataload(add(inp, mul(j, 0x20)))
                    mstore(at, addmod(mload(at), mulmod(rho, x, R), R))
                }
            }
            // Pair i at q: (rho * -A, B); rho * C added to the point at m.
            function addProof(m, q, pr, rho) {
                mstore(q, calldataload(pr))
                mstore(add(q, 0x20), mod(sub(P, calldataload(add(pr, 0x20))), P))
                mstore(add(q, 0x40), rho)
                if iszero(staticcall(gas(), 0x07, q, 0x60, q, 0x40)) { fail() }
                calldatacopy(add(q, 0x40), add(pr, 0x40), 0x80)
                mulAdd(m, calldataload(add(pr, 0xc0)), calldataload(add(pr, 0xe0)), rho)
            }
"#;

/// `linear(m, sums)`: `L = sums[0]·IC0 + Σ_j sums[j+1]·IC(j+1)` at `m`,
/// unrolled (the key's points are constants).
fn write_yul_linear(s: &mut String, n: usize) -> std::fmt::Result {
    writeln!(
        s,
        "            // L = sums[0] * IC0 + sum_j sums[j + 1] * IC(j + 1), at m: N + 1 ecMuls per batch."
    )?;
    writeln!(s, "            function linear(m, sums) {{")?;
    writeln!(s, "                mstore(m, 0)")?;
    writeln!(s, "                mstore(add(m, 0x20), 0)")?;
    writeln!(s, "                mulAdd(m, IC0_X, IC0_Y, mload(sums))")?;
    for j in 1..=n {
        writeln!(
            s,
            "                mulAdd(m, IC{j}_X, IC{j}_Y, mload(add(sums, {:#x})))",
            32 * j
        )?;
    }
    writeln!(s, "            }}")
}

/// `fixedPairs(q, m, sums)`: pairs n, n+1, n+2 at `q`.
fn write_yul_fixed_pairs(s: &mut String) -> std::fmt::Result {
    writeln!(
        s,
        "            // Pairs n..n+2 at q: ((sum rho) * alpha, beta), (L, gamma), (sum rho_i * C_i, delta)."
    )?;
    writeln!(s, "            function fixedPairs(q, m, sums) {{")?;
    writeln!(s, "                mstore(q, ALPHA_X)")?;
    writeln!(s, "                mstore(add(q, 0x20), ALPHA_Y)")?;
    writeln!(s, "                mstore(add(q, 0x40), mload(sums))")?;
    writeln!(
        s,
        "                if iszero(staticcall(gas(), 0x07, q, 0x60, q, 0x40)) {{ fail() }}"
    )?;
    write_yul_g2(s, 0x40, "BETA")?;
    writeln!(s, "                mstore(add(q, 0x180), mload(m))")?;
    writeln!(
        s,
        "                mstore(add(q, 0x1a0), mload(add(m, 0x20)))"
    )?;
    write_yul_g2(s, 0x1c0, "DELTA")?;
    writeln!(s, "                linear(m, sums)")?;
    writeln!(s, "                mstore(add(q, 0xc0), mload(m))")?;
    writeln!(
        s,
        "                mstore(add(q, 0xe0), mload(add(m, 0x20)))"
    )?;
    write_yul_g2(s, 0x100, "GAMMA")?;
    writeln!(s, "            }}")
}

/// Four `mstore`s of the G2 constant `name` at `q + at`, EIP-197 order.
fn write_yul_g2(s: &mut String, at: usize, name: &str) -> std::fmt::Result {
    for (k, suffix) in ["X1", "X0", "Y1", "Y0"].iter().enumerate() {
        writeln!(
            s,
            "                mstore(add(q, {:#x}), {name}_{suffix})",
            at + 32 * k
        )?;
    }
    Ok(())
}

const YUL_MAIN: &str = r#"            // Memory from m: the point sum rho_i C_i (0x40), scratch (0x60), the N + 1 sums,
            // then the n + 3 pairs of 0xc0 bytes each (first used to hash the batch).
            let m := mload(0x40)
            let sums := add(m, 0xa0)
            let pairs := add(sums, mul(add(PUBLIC_INPUTS, 1), 0x20))
            let row := mul(PUBLIC_INPUTS, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let pr := add(proofs.offset, mul(i, 0x100))
                if iszero(canonical(pr, add(inputs.offset, mul(i, row)))) { fail() }
            }
            let seed := seedOf(pairs, proofs.offset, inputs.offset, n)
            for { let k := m } lt(k, pairs) { k := add(k, 0x20) } { mstore(k, 0) }
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let rho := weight(seed, i)
                addInputs(sums, add(inputs.offset, mul(i, row)), rho)
                addProof(m, add(pairs, mul(i, 0xc0)), add(proofs.offset, mul(i, 0x100)), rho)
            }
            fixedPairs(add(pairs, mul(n, 0xc0)), m, sums)
            if iszero(staticcall(gas(), 0x08, pairs, mul(add(n, 3), 0xc0), 0, 0x20)) { fail() }
            ok := eq(mload(0), 1)
"#;

#[cfg(test)]
mod tests {
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};

    use super::*;

    /// A well-formed key with `n` public inputs (small multiples of the
    /// generators: a test key, not a Groth16 setup).
    fn key(n: u64) -> VerifyingKey<Bn254> {
        let g1 = |k: u64| (G1Projective::generator() * Fr::from(k)).into_affine();
        let g2 = |k: u64| (G2Projective::generator() * Fr::from(k)).into_affine();
        VerifyingKey {
            alpha_g1: g1(2),
            beta_g2: g2(3),
            gamma_g2: g2(5),
            delta_g2: g2(7),
            gamma_abc_g1: (0..=n).map(|i| g1(11 + i)).collect(),
        }
    }

    #[test]
    fn batch_verifier_is_deterministic_with_one_function() {
        let k = key(3);
        let src = groth16_batch_verifier(&k, "B").expect("generate");
        assert_eq!(src, groth16_batch_verifier(&k, "B").expect("generate"));
        assert!(src.contains("pragma solidity 0.8.28;\n"));
        assert!(src.contains("contract B {\n"));
        assert!(src.contains("uint256 internal constant MAX_BATCH = 64;\n"));
        assert!(
            src.contains("uint256[8][] calldata proofs,\n        uint256[3][] calldata inputs\n")
        );
        // One Solidity function (the rest is Yul inside it), no getters.
        let functions: Vec<&str> = src
            .lines()
            .filter(|l| l.starts_with("    function "))
            .collect();
        assert_eq!(functions, ["    function verifyBatch("]);
        let code = src.lines().filter(|l| !l.trim_start().starts_with("//"));
        assert_eq!(code.filter(|l| l.contains("public")).count(), 0);
        // The input MSM is unrolled over IC0..IC3, each once.
        for j in 0..=3 {
            assert_eq!(
                src.matches(&format!("mulAdd(m, IC{j}_X, IC{j}_Y,")).count(),
                1
            );
        }
        assert!(!src.contains("IC4_X"));
        // The key is the single verifier's: same constants block.
        let single = groth16_verifier(&k, "B").expect("generate");
        let consts = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| l.contains("internal constant"))
                .map(str::to_owned)
                .collect()
        };
        let batch_consts: Vec<String> = consts(&src)
            .into_iter()
            .filter(|l| !l.contains("MAX_BATCH"))
            .collect();
        assert_eq!(batch_consts, consts(&single));
    }

    #[test]
    fn batch_verifier_refuses_what_the_single_one_refuses() {
        type Spoil = fn(&mut VerifyingKey<Bn254>);
        let spoils: [(Spoil, GenerateError); 6] = [
            (
                |k| k.alpha_g1 = G1Affine::zero(),
                GenerateError::PointAtInfinity("alpha"),
            ),
            (
                |k| k.beta_g2 = G2Affine::zero(),
                GenerateError::PointAtInfinity("beta"),
            ),
            (
                |k| k.gamma_g2 = G2Affine::zero(),
                GenerateError::PointAtInfinity("gamma"),
            ),
            (
                |k| k.delta_g2 = G2Affine::zero(),
                GenerateError::PointAtInfinity("delta"),
            ),
            (|k| k.delta_g2 = k.gamma_g2, GenerateError::GammaEqualsDelta),
            (|k| k.gamma_abc_g1.clear(), GenerateError::NoIcPoints),
        ];
        for (spoil, expected) in spoils {
            let mut k = key(2);
            spoil(&mut k);
            assert_eq!(groth16_batch_verifier(&k, "B"), Err(expected.clone()));
            assert_eq!(groth16_verifier(&k, "B"), Err(expected));
        }
        for bad in ["", "1B", "B-1", "B;contract"] {
            assert!(matches!(
                groth16_batch_verifier(&key(2), bad),
                Err(GenerateError::BadContractName(_))
            ));
        }
    }

    #[test]
    fn batch_names_and_signature() {
        let names: Vec<String> = CircuitId::ALL
            .iter()
            .map(|&c| batch_verifier_contract_name(c))
            .collect();
        assert_eq!(names[0], "AccessBatchVerifier");
        assert_eq!(names[5], "TreeInsert64BatchVerifier");
        assert_eq!(
            verify_batch_signature(8),
            "verifyBatch(uint256[8][],uint256[8][])"
        );
    }

    #[test]
    fn batch_calldata_layout() {
        let proof = ProofWords {
            a: [abi::word_u64(1), abi::word_u64(2)],
            b: [
                [abi::word_u64(3), abi::word_u64(4)],
                [abi::word_u64(5), abi::word_u64(6)],
            ],
            c: [abi::word_u64(7), abi::word_u64(8)],
        };
        let rows = [[abi::word_u64(9), abi::word_u64(10)]; 3];
        let data = verify_batch_calldata(&[proof, proof], &rows);
        let word = |k: usize| &data[4 + 32 * k..4 + 32 * (k + 1)];
        let words = |ks: std::ops::RangeInclusive<usize>| -> Vec<&[u8]> { ks.map(word).collect() };
        let w = |v: u64| abi::word_u64(v).to_vec();
        assert_eq!(&data[..4], abi::selector(&verify_batch_signature(2)));
        assert_eq!(data.len(), 4 + 32 * (2 + 1 + 16 + 1 + 6));
        // Offsets 0x40 and 0x60 + 2·0x100, then proofs.length = 2, its words.
        assert_eq!(words(0..=2), [w(0x40), w(0x260), w(2)]);
        assert_eq!(words(3..=10), (1..=8).map(w).collect::<Vec<_>>());
        assert_eq!(words(11..=18), (1..=8).map(w).collect::<Vec<_>>());
        // inputs.length = 3 (as given), then the rows.
        assert_eq!(words(19..=21), [w(3), w(9), w(10)]);
        assert_eq!(word(25), w(10));
    }
}
