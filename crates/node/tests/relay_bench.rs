//! Benchmark, not a test (docs/benchmarks.md "Node relay"): the client
//! library's relay (`veil_client::relay`, what `veil connect` runs) against
//! the node over plaintext gRPC on 127.0.0.1. One session downloads 512 MiB
//! from a loopback source through 1 or 64 parallel streams, unmetered (no
//! receipt ever due) and at receipt intervals of 1, 4, 8 and 16 MiB. Runs
//! are interleaved (every configuration once per round) so that a change in
//! the machine's load hits all alike; the median of `VEIL_BENCH_RUNS`
//! rounds (default 3) is reported.
//!
//! `cargo test --workspace --test relay_bench -- --ignored --nocapture`
mod client_support;
mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use client_support::live_session;
use common::*;
use tokio::io::AsyncReadExt;
use veil_client::socks5::{Host, Target};
use veil_ledger::types::Value;

const TOTAL: usize = 512 * 1024 * 1024;
/// "Unmetered": an interval no download reaches.
const UNMETERED: u64 = 1 << 30;
const INTERVALS_KIB: [u64; 5] = [UNMETERED, 1024, 4096, 8192, 16384];

/// One measurement: Gbit/s, receipts signed by the client, acknowledged by the node.
struct Run {
    gbit: f64,
    signed: u64,
    acked: u64,
}

/// Downloads [`TOTAL`] bytes over `streams` streams of one session.
async fn download(interval_kib: u64, streams: usize) -> Run {
    const BIG: u64 = 1 << 40;
    let w = World::with(|c| {
        c.escrow_sizes = vec![Value(BIG)];
        c.price_per_kib = Value(1);
        c.receipt_interval_kib = interval_kib;
        c.limits.max_streams_per_relay = c.limits.max_streams_per_relay.max(streams);
    })
    .await;
    fund_pool(&w.ledger, 2 * BIG).await;
    let s = w.session_with(|st| st.escrow = Value(BIG)).await;
    let live = live_session(&w, &s).await;
    let per_stream = TOTAL / streams;
    let port = source_server(per_stream).await;
    let target = Target {
        host: Host::Ip(Ipv4Addr::LOCALHOST.into()),
        port,
    };
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let stream = live.relay.open_stream(&target).await.expect("stream");
        let (local, mut app) = tokio::io::duplex(1 << 20);
        tokio::spawn(stream.pump(local));
        readers.spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = 0usize;
            loop {
                match app.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got += n,
                }
            }
        });
    }
    let mut got = 0;
    while let Some(n) = readers.join_next().await {
        got += n.expect("reader");
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(got, per_stream * streams, "every byte arrived");
    let stats = live.relay.stats();
    Run {
        gbit: got as f64 * 8.0 / secs / 1e9,
        signed: stats.receipts_sent.load(Ordering::Relaxed),
        acked: stats.receipts_acked.load(Ordering::Relaxed),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn label(interval_kib: u64) -> String {
    match interval_kib {
        UNMETERED => "unmetered".into(),
        i => format!("{} MiB", i / 1024),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: tens of seconds of loopback traffic"]
async fn relay_throughput_client() {
    let rounds: usize = std::env::var("VEIL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut results: BTreeMap<(usize, u64), Vec<Run>> = BTreeMap::new();
    for _ in 0..rounds {
        for streams in [1usize, 64] {
            for interval in INTERVALS_KIB {
                let run = download(interval, streams).await;
                results.entry((streams, interval)).or_default().push(run);
            }
        }
    }
    for streams in [1usize, 64] {
        let base = median(&gbits(&results[&(streams, UNMETERED)]));
        for interval in INTERVALS_KIB {
            let runs = &results[&(streams, interval)];
            let rates = gbits(runs);
            let m = median(&rates);
            let signed: Vec<u64> = runs.iter().map(|r| r.signed).collect();
            let acked: Vec<u64> = runs.iter().map(|r| r.acked).collect();
            println!(
                "streams {streams:>2}  {:>9}: median {m:.2} Gbit/s ({:.0}% of unmetered)  runs {:.2?}  receipts signed {signed:?} acked {acked:?}",
                label(interval),
                100.0 * m / base,
                rates,
            );
        }
    }
}

fn gbits(runs: &[Run]) -> Vec<f64> {
    runs.iter().map(|r| r.gbit).collect()
}
