//! Double spends racing on several threads: exactly one wins (docs/vouchers.md §6).

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use veil_vouchers::*;

const THREADS: usize = 8;

#[test]
fn exactly_one_of_concurrent_spends_of_one_credential_succeeds() {
    let mut rng = rng(21);
    let issuer = Arc::new(issuer(1, &mut rng));
    let cred = credential(&issuer, 1000, &mut rng);
    // Distinct, individually valid spends of the same credential.
    let spends: Vec<(Vec<u8>, SpendRequest)> = (0..THREADS)
        .map(|i| {
            let ctx = vec![i as u8; 16];
            let (req, _) = cred
                .prepare_spend(Balance::from_kib(1 + i as u64), &ctx, &mut rng)
                .expect("prepare");
            (ctx, req)
        })
        .collect();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = spends
        .into_iter()
        .map(|(ctx, req)| {
            let issuer = Arc::clone(&issuer);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                issuer.verify_spend(&req, &ctx)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let already = results
        .iter()
        .filter(|r| matches!(r, Err(SpendError::AlreadySpent)))
        .count();
    assert_eq!((ok, already), (1, THREADS - 1), "{results:?}");
    assert_eq!(issuer.store().len(), 1);
}

#[test]
fn store_insert_is_atomic_under_contention() {
    let store = Arc::new(MemoryNullifierStore::new());
    let nf = VoucherNullifier::from_bytes([4; 32]).expect("canonical");
    let barrier = Arc::new(Barrier::new(THREADS));
    let wins: usize = (0..THREADS)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                (0..1000)
                    .filter(|i| {
                        let epoch = Epoch::new(*i);
                        store.insert_if_absent(epoch, &nf).is_ok()
                    })
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .sum();
    // 1000 distinct (epoch, nullifier) pairs, each won exactly once.
    assert_eq!(wins, 1000);
    assert_eq!(store.len(), 1000);
    store.prune_before(Epoch::new(990));
    assert_eq!(store.len(), 10);
}
