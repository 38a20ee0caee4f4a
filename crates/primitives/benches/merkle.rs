//! Append throughput of the note commitment tree (`docs/protocol.md` §2.4).
//!
//! `cargo bench -p veil-primitives --bench merkle`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use veil_primitives::{
    Fr,
    merkle::{Frontier, Tree},
    note::NoteCommitment,
};

const N: u64 = 100_000;

fn leaves(n: u64) -> Vec<NoteCommitment> {
    (1..=n)
        .map(|i| NoteCommitment::from_fr(Fr::from(i)))
        .collect()
}

fn appends(c: &mut Criterion) {
    let cms = leaves(N);
    let mut g = c.benchmark_group("merkle_append");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_with_input(BenchmarkId::new("frontier", N), &cms, |b, cms| {
        b.iter(|| {
            let mut f = Frontier::new();
            for c in cms {
                f.append(*c).expect("fits");
            }
            f.root()
        })
    });
    // The ledger's pattern: append, then publish the root (33 hashes per leaf).
    g.throughput(Throughput::Elements(1_000));
    g.bench_with_input(
        BenchmarkId::new("frontier_root_each", 1_000),
        &cms[..1_000],
        |b, cms| {
            b.iter(|| {
                let mut f = Frontier::new();
                for c in cms {
                    f.append(*c).expect("fits");
                    std::hint::black_box(f.root());
                }
            })
        },
    );
    g.throughput(Throughput::Elements(N));
    g.bench_with_input(BenchmarkId::new("tree_append_many", N), &cms, |b, cms| {
        b.iter(|| {
            let mut t = Tree::new();
            t.append_many(cms.iter().copied()).expect("fits");
            t.root()
        })
    });
    g.finish();
    println!(
        "bench_append_rate(1e5) = {:.0} appends/s",
        veil_primitives::merkle::bench_append_rate(N)
    );
}

criterion_group!(benches, appends);
criterion_main!(benches);
