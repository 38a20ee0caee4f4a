//! Timing summary for `veil bench --json` (docs/vouchers.md §11).

use std::time::Instant;

use crate::{Balance, Credential, Epoch, Issuer, IssuerSecretKey, MemoryNullifierStore, NodeId};

/// Median wall times of one spend, and its size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchSummary {
    /// Client: build a spend request (range proof + proof of knowledge).
    pub spend_ms: f64,
    /// Node: verify a spend, record its nullifier, re-issue.
    pub verify_reissue_ms: f64,
    /// Encoded spend request.
    pub spend_bytes: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs a chain of `iterations` (at least 1) spends of 1 KiB, each from the
/// credential re-issued by the previous one, and reports medians.
///
/// # Panics
///
/// Only if an honest spend fails to verify, which would be a bug.
pub fn bench_summary(iterations: usize) -> BenchSummary {
    let iterations = iterations.max(1);
    let mut rng = rand::thread_rng();
    let key = IssuerSecretKey::generate(Epoch::new(1), &mut rng);
    let issuer = Issuer::new(NodeId::new([7; 32]), key, MemoryNullifierStore::new());
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        *issuer.node_id(),
        Balance::from_kib(u64::from(u32::MAX)),
        b"bench",
        &mut rng,
    );
    let response = issuer
        .issue(&req, b"bench")
        .expect("honest issuance request verifies");
    let mut credential = awaiting
        .finish_issuance(&response)
        .expect("honest issuance response verifies");
    let mut spend_ms = Vec::with_capacity(iterations);
    let mut verify_ms = Vec::with_capacity(iterations);
    let mut spend_bytes = 0;
    for i in 0..iterations {
        let context = (i as u64).to_le_bytes();
        let start = Instant::now();
        let (spend, pending) = credential
            .prepare_spend(Balance::from_kib(1), &context, &mut rng)
            .expect("balance covers the spend");
        spend_ms.push(start.elapsed().as_secs_f64() * 1e3);
        spend_bytes = spend.to_bytes().len();
        let start = Instant::now();
        let (_, response) = issuer
            .verify_spend(&spend, &context)
            .expect("honest spend verifies");
        verify_ms.push(start.elapsed().as_secs_f64() * 1e3);
        credential = pending
            .finish_spend(&response, issuer.current_key())
            .expect("honest re-issuance verifies");
    }
    BenchSummary {
        spend_ms: median(spend_ms),
        verify_reissue_ms: median(verify_ms),
        spend_bytes,
    }
}
