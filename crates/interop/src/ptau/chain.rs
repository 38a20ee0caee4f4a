//! Phase 1's contribution chain, checked as `snarkjs powersoftau verify`
//! does (`powersoftau_verify.js` `verifyContribution`, snarkjs 0.7.6).
//!
//! Contribution `i` multiplies the accumulator by secrets `(t, a, b)` and
//! records, per secret `x`, a proof of knowledge `g1_s`, `g1_sx = x·g1_s`,
//! `g2_spx = x·sp` with `sp = hashToG2(BLAKE2b-512(p ‖ challenge ‖
//! U(g1_s) ‖ U(g1_sx)))`, `p` = 0, 1, 2 for τ, α, β and `challenge` the
//! previous record's next challenge (for the first, snarkjs'
//! `calculateFirstChallengeHash` of the ceremony's power). Its record's
//! `τ·G1`, `τ·G2`, `α·G1`, `β·G1`, `β·G2` must be the previous ones times
//! those secrets (same-ratio pairings against the proof of knowledge). A
//! beacon's key must be the one its beacon value gives. The last record
//! must name the file's points ([`Ptau::check_powers`]) and, unless the
//! file was cut from a larger ceremony, its next challenge must be
//! BLAKE2b-512 of its response hash and every point of sections 2–6.
//! Intermediate next challenges cannot be recomputed (the intermediate
//! points are gone); they bind through the next contribution's `sp`.

use ark_bn254::{Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use blake2::{Blake2b512, Digest};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use super::{Beacon, Contribution, KeyPart, Ptau};
use crate::blake2b::Blake2b;
use crate::error::{InteropError, Phase1Failure};
use crate::phase2::{beacon_rng, hash_to_g2, same_ratio};
use crate::zkey::{u_g1, u_g2};

/// One verified phase-1 contribution, as `snarkjs powersoftau verify`
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase1Contribution {
    /// The contributor's name, if any.
    pub name: Option<String>,
    /// BLAKE2b-512 of the contributor's response: what a contributor
    /// publishes to show their contribution is in the chain.
    pub response_hash: [u8; 64],
    /// The challenge the next contributor answered.
    pub next_challenge: [u8; 64],
    /// `Some` for a beacon.
    pub beacon: Option<Beacon>,
}

/// The accumulator's first points after a contribution, and its challenge.
struct State {
    tau_g1: G1Affine,
    tau_g2: G2Affine,
    alpha_g1: G1Affine,
    beta_g1: G1Affine,
    beta_g2: G2Affine,
    next_challenge: [u8; 64],
}

impl State {
    fn initial(ceremony_power: u32) -> Self {
        State {
            tau_g1: G1Affine::generator(),
            tau_g2: G2Affine::generator(),
            alpha_g1: G1Affine::generator(),
            beta_g1: G1Affine::generator(),
            beta_g2: G2Affine::generator(),
            next_challenge: first_challenge(ceremony_power),
        }
    }

    fn after(c: &Contribution) -> Self {
        State {
            tau_g1: c.tau_g1,
            tau_g2: c.tau_g2,
            alpha_g1: c.alpha_g1,
            beta_g1: c.beta_g1,
            beta_g2: c.beta_g2,
            next_challenge: c.next_challenge,
        }
    }
}

/// `calculateFirstChallengeHash`: BLAKE2b-512 of the empty hash and the
/// uncompressed generators in place of every point of a fresh
/// accumulator of `2^power`. Hashes about `400·2^power` bytes.
pub fn first_challenge(power: u32) -> [u8; 64] {
    let n = 1u64 << power;
    let mut h = Blake2b512::new();
    h.update(Blake2b512::digest(b""));
    let (g1, g2) = (u_g1(&G1Affine::generator()), u_g2(&G2Affine::generator()));
    repeat(&mut h, &g1, 2 * n - 1);
    repeat(&mut h, &g2, n);
    repeat(&mut h, &g1, n);
    repeat(&mut h, &g1, n);
    h.update(&g2);
    h.finalize().into()
}

fn repeat(h: &mut Blake2b512, unit: &[u8], times: u64) {
    const BATCH: u64 = 4096;
    let block = unit.repeat(BATCH as usize);
    for _ in 0..times / BATCH {
        h.update(&block);
    }
    h.update(&block[..(times % BATCH) as usize * unit.len()]);
}

/// `getG2sp`: the G2 point a proof of knowledge of part `p` answers.
fn g2_sp(p: u8, challenge: &[u8; 64], g1_s: &G1Affine, g1_sx: &G1Affine) -> G2Affine {
    let mut h = Blake2b512::new();
    h.update([p]);
    h.update(challenge);
    h.update(u_g1(g1_s));
    h.update(u_g1(g1_sx));
    hash_to_g2(&h.finalize().into())
}

/// Part `p` (0 τ, 1 α, 2 β) of a contributor's key for secret `x`, its
/// proof of knowledge built on `g1_s` and answering `challenge`
/// (`calculatePubKey`).
pub(crate) fn key_part(p: u8, challenge: &[u8; 64], g1_s: G1Affine, x: Fr) -> KeyPart {
    let g1_sx = (g1_s * x).into_affine();
    let g2_spx = (g2_sp(p, challenge, &g1_s, &g1_sx) * x).into_affine();
    KeyPart {
        g1_s,
        g1_sx,
        g2_spx,
    }
}

/// `keyFromBeacon`: the secrets `(t, a, b)` and the key a beacon gives
/// after `challenge` (`createPTauKey`: the three secrets, then each part's
/// `g1_s` in turn).
fn beacon_key(challenge: &[u8; 64], beacon: &Beacon) -> Result<[KeyPart; 3], InteropError> {
    let mut rng = beacon_rng(beacon)?;
    let secrets = [rng.fr(), rng.fr(), rng.fr()];
    Ok([0u8, 1, 2].map(|p| key_part(p, challenge, rng.g1(), secrets[usize::from(p)])))
}

/// `toPtauPubKeyRpr` uncompressed: the six G1 points, then the three G2.
pub(crate) fn public_key_bytes(key: &[KeyPart; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in key {
        out.extend(u_g1(&k.g1_s));
        out.extend(u_g1(&k.g1_sx));
    }
    for k in key {
        out.extend(u_g2(&k.g2_spx));
    }
    out
}

/// The response hash: the record's saved BLAKE2b state finished with its
/// public key.
fn response_hash(c: &Contribution) -> Option<[u8; 64]> {
    let mut h = Blake2b::from_partial(&c.partial_hash)?;
    h.update(&public_key_bytes(&c.key));
    Some(h.finalize())
}

/// BLAKE2b-512 of `response` and the uncompressed points of sections 2–6
/// in file order: the next challenge after the last contribution.
pub(crate) fn next_challenge(
    response: &[u8; 64],
    tau_g1: &[G1Affine],
    tau_g2: &[G2Affine],
    alpha_tau_g1: &[G1Affine],
    beta_tau_g1: &[G1Affine],
    beta_g2: &G2Affine,
) -> [u8; 64] {
    let mut h = Blake2b512::new();
    h.update(response);
    absorb(&mut h, tau_g1, u_g1);
    absorb(&mut h, tau_g2, u_g2);
    absorb(&mut h, alpha_tau_g1, u_g1);
    absorb(&mut h, beta_tau_g1, u_g1);
    h.update(u_g2(beta_g2));
    h.finalize().into()
}

/// Hashes `points` encoded by `enc`, encoding each chunk in parallel.
fn absorb<P: Sync>(h: &mut Blake2b512, points: &[P], enc: fn(&P) -> Vec<u8>) {
    for c in points.chunks(1 << 14) {
        let bytes: Vec<u8> = c.par_iter().flat_map_iter(enc).collect();
        h.update(&bytes);
    }
}

fn fail(index: usize, failure: Phase1Failure) -> InteropError {
    InteropError::Phase1Contribution { index, failure }
}

/// Contribution `i` follows from `prev`: a beacon's key is its beacon's,
/// each part's proof of knowledge holds, and each point is the previous
/// one times that part's secret.
fn check(i: usize, c: &Contribution, prev: &State) -> Result<(), InteropError> {
    if let Some(b) = &c.beacon {
        let key = beacon_key(&prev.next_challenge, b)
            .map_err(|_| fail(i, Phase1Failure::BeaconParameters))?;
        if key != c.key {
            return Err(fail(i, Phase1Failure::BeaconKey));
        }
    }
    let mut sp = [G2Affine::generator(); 3];
    for ((p, k), name) in (0u8..).zip(&c.key).zip(["τ", "α", "β"]) {
        sp[usize::from(p)] = g2_sp(p, &prev.next_challenge, &k.g1_s, &k.g1_sx);
        if !same_ratio(k.g1_s, k.g1_sx, sp[usize::from(p)], k.g2_spx) {
            return Err(fail(i, Phase1Failure::ProofOfKnowledge(name)));
        }
    }
    let [t, a, b] = &c.key;
    let follows = [
        ("τ·G1", same_ratio(prev.tau_g1, c.tau_g1, sp[0], t.g2_spx)),
        ("τ·G2", same_ratio(t.g1_s, t.g1_sx, prev.tau_g2, c.tau_g2)),
        (
            "α·G1",
            same_ratio(prev.alpha_g1, c.alpha_g1, sp[1], a.g2_spx),
        ),
        ("β·G1", same_ratio(prev.beta_g1, c.beta_g1, sp[2], b.g2_spx)),
        ("β·G2", same_ratio(b.g1_s, b.g1_sx, prev.beta_g2, c.beta_g2)),
    ];
    match follows.iter().find(|(_, ok)| !ok) {
        Some((what, _)) => Err(fail(i, Phase1Failure::DoesNotFollow(what))),
        None => Ok(()),
    }
}

impl Ptau {
    /// Everything `snarkjs powersoftau verify` checks: the points
    /// ([`Ptau::check_powers`], randomized with `rng`) and the contribution
    /// chain ([`Ptau::verify_chain`]), whose records it returns.
    pub fn verify<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
    ) -> Result<Vec<Phase1Contribution>, InteropError> {
        self.check_powers(rng)?;
        self.verify_chain()
    }

    /// `snarkjs powersoftau verify`'s chain (module docs): every
    /// contribution follows from the one before, starting from the
    /// generators, and the last one's next challenge is the hash of the
    /// file's points. A file without a contribution is refused (its τ is
    /// nobody's secret: "It cannot be used in production"). Run
    /// [`Ptau::check_powers`] too: it checks that the last record names
    /// the file's points and that the points are powers.
    pub fn verify_chain(&self) -> Result<Vec<Phase1Contribution>, InteropError> {
        if self.contributions.is_empty() {
            return Err(InteropError::Inconsistent {
                file: ".ptau",
                check: "at least one contribution (a file without one is nobody's secret)",
            });
        }
        let mut prev = State::initial(self.ceremony_power);
        let mut out = Vec::with_capacity(self.contributions.len());
        for (i, c) in self.contributions.iter().enumerate() {
            check(i, c, &prev)?;
            let response_hash =
                response_hash(c).ok_or_else(|| fail(i, Phase1Failure::PartialHash))?;
            out.push(Phase1Contribution {
                name: c.name.clone(),
                response_hash,
                next_challenge: c.next_challenge,
                beacon: c.beacon.clone(),
            });
            prev = State::after(c);
        }
        self.check_next_challenge(&out)?;
        Ok(out)
    }

    fn check_next_challenge(&self, chain: &[Phase1Contribution]) -> Result<(), InteropError> {
        let Some(last) = chain.last() else {
            return Ok(());
        };
        if self.power != self.ceremony_power {
            // Cut from a larger ceremony: the hash covered points this
            // file no longer has.
            return Ok(());
        }
        let next = next_challenge(
            &last.response_hash,
            &self.tau_g1,
            &self.tau_g2,
            &self.alpha_tau_g1,
            &self.beta_tau_g1,
            &self.beta_g2,
        );
        if next != last.next_challenge {
            return Err(fail(chain.len() - 1, Phase1Failure::NextChallenge));
        }
        Ok(())
    }
}
