//! Benchmark, not a test (docs/benchmarks.md "Two-hop routes"): one hop
//! against two hops (issue 15, `docs/protocol.md` §9.9) with real
//! processes on loopback: a `veil ledger serve`, an entry and an exit
//! `veil node serve` (TLS), the client library in this process and a
//! loopback source.
//!
//! - Opening: time from connecting to the entry to the first byte of a
//!   1-byte fetch, for a one-hop session, a two-hop route whose exit token
//!   is proved after the entry session opens (exit named by address only)
//!   and one whose exit token is proved in parallel (`ExitNode::node`).
//! - Throughput: [`TOTAL`] bytes through one stream of a one-hop session
//!   and of a two-hop route, interleaved.
//!
//! Each of `VEIL_BENCH_RUNS` rounds (default 3) runs every configuration
//! once; medians are printed. No assertion on times.
//!
//! `cargo test --workspace --test two_hop_bench -- --ignored --nocapture`

#[path = "support/bin.rs"]
mod bin;
#[path = "support/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use stack::{Setup, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use veil_client::flow::start_session;
use veil_client::proxy::{Payer, serve};
use veil_client::relay::Relay;
use veil_client::session::NodeConnection;
use veil_client::socks5::{self, Host, Target};
use veil_client::sync::LocalTree;
use veil_client::two_hop::{ExitNode, RouteEscrows, start_route};
use veil_client::wallet::Wallet;
use veil_ledger::RemoteLedger;
use veil_primitives::ids::NodeId;
use veil_proofs::{CircuitId, ParamStore, Prover};

/// Credit of each session (price 1 per KiB): enough for every round.
const ESCROW: u64 = 1 << 22;
const INTERVAL_KIB: u64 = 4096;
/// Bytes of one throughput run.
const TOTAL: usize = 256 * 1024 * 1024;

/// `GET /N` answers N bytes, written from one buffer (no per-byte work).
async fn source() -> SocketAddr {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Some(n) = http::requested_size(&mut s).await else {
                    return;
                };
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\n\r\n");
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![7u8; 256 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if s.write_all(&chunk[..k]).await.is_err() {
                        return;
                    }
                    left -= k;
                }
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Fetches `GET /n` through SOCKS5: the time to the first byte of the
/// response and the bytes read until the source closes.
async fn fetch(socks: SocketAddr, dest: SocketAddr, n: usize) -> (Duration, usize) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(socks).await.expect("socks");
    let target = Target {
        host: Host::Ip(dest.ip()),
        port: dest.port(),
    };
    assert_eq!(
        socks5::client_connect(&mut s, &target)
            .await
            .expect("socks5"),
        0
    );
    s.write_all(format!("GET /{n} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut buf = vec![0u8; 256 * 1024];
    let mut first = None;
    let mut got = 0;
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                first.get_or_insert_with(|| t0.elapsed());
                got += k;
            }
        }
    }
    (first.unwrap_or_default(), got)
}

/// A SOCKS5 front end on `relay` (kept alive by the returned senders).
async fn socks_on(relay: &Relay) -> (SocketAddr, impl Drop) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let (relay_tx, relay_rx) = watch::channel(Some(relay.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(serve(l, Payer::Session(relay_rx), stop_rx));
    struct Keep(
        #[allow(dead_code)] watch::Sender<Option<Relay>>,
        watch::Sender<bool>,
    );
    impl Drop for Keep {
        fn drop(&mut self) {
            let _ = self.1.send(true);
        }
    }
    (addr, Keep(relay_tx, stop_tx))
}

struct Client {
    ledger: RemoteLedger,
    prover: Prover,
    wallet: Wallet,
    tree: LocalTree,
    entry_url: String,
    n: u32,
}

impl Client {
    fn intent(&mut self) -> String {
        self.n += 1;
        format!("bench{}", self.n)
    }

    /// A one-hop session on the entry; the time it took to open.
    async fn one_hop(&mut self) -> (Relay, Duration) {
        let t0 = Instant::now();
        let intent = self.intent();
        let mut conn = NodeConnection::connect_via_ledger(&self.entry_url, &self.ledger)
            .await
            .expect("entry");
        let live = start_session(
            &self.ledger,
            &mut conn,
            &self.prover,
            &mut self.wallet,
            &mut self.tree,
            ESCROW,
            &intent,
            &mut OsRng,
        )
        .await
        .expect("session");
        (live.relay, t0.elapsed())
    }

    /// A two-hop route to `exit`; the time it took to open.
    async fn two_hop(&mut self, exit: &ExitNode) -> (veil_client::two_hop::Route, Duration) {
        let t0 = Instant::now();
        let intent = self.intent();
        let mut conn = NodeConnection::connect_via_ledger(&self.entry_url, &self.ledger)
            .await
            .expect("entry");
        let escrows = RouteEscrows {
            entry: ESCROW,
            exit: ESCROW,
        };
        let route = start_route(
            &self.ledger,
            &mut conn,
            exit,
            &self.prover,
            &mut self.wallet,
            &mut self.tree,
            escrows,
            &intent,
            &mut OsRng,
        )
        .await
        .expect("route");
        assert_eq!(route.exit_token_ahead, exit.node.is_some());
        (route, t0.elapsed())
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints the median and every run of one configuration.
fn report(name: &str, unit: &str, v: &[f64]) {
    println!("{name:<34} median {:>8.2} {unit}  runs {v:.2?}", median(v));
}

async fn timed<F: Future<Output = (Duration, usize)>>(f: F) -> (f64, f64) {
    let t0 = Instant::now();
    let (first, got) = f.await;
    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {TOTAL}\r\n\r\n");
    assert_eq!(got, TOTAL + head.len(), "bytes");
    let secs = t0.elapsed().as_secs_f64();
    (first.as_secs_f64() * 1e3, got as f64 * 8.0 / secs / 1e9)
}

#[test]
#[ignore = "benchmark: a minute of loopback traffic and proofs"]
fn two_hop_against_one_hop() {
    let rounds: usize = std::env::var("VEIL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut stack = Stack::start(Setup {
        escrow: ESCROW,
        deposit: ESCROW,
        receipt_interval_kib: INTERVAL_KIB,
        // 1000 blocks of 100 ms: sessions outlive the run.
        block_interval_ms: 100,
        ..Setup::default()
    });
    let (exit_url, _) = stack.start_node("exit");
    let exit_id = {
        let p = stack.procs.iter().find(|p| p.name == "exit").expect("exit");
        let hex_id = p.out.wait_for("node id ", "veil node serve").0;
        NodeId::from_slice(&hex::decode(hex_id).expect("hex")).expect("node id")
    };
    let wallet = stack.funded_wallet("bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ledger = RemoteLedger::connect(&stack.ledger_url)
            .await
            .expect("ledger");
        let mut w = Wallet::open(Path::new(&wallet)).expect("wallet");
        // Per round: 1 + 2 + 2 sessions opened; plus the throughput pair (3).
        for _ in 0..(5 * rounds + 3) {
            veil_client::ops::deposit(&ledger, &mut w, ESCROW, true, &mut OsRng)
                .await
                .expect("deposit");
        }
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("keys");
        let mut c = Client {
            ledger,
            prover: Prover::from_store(&store, &[CircuitId::Access], None).expect("prover"),
            wallet: w,
            tree: LocalTree::new(),
            entry_url: stack.node_url.clone(),
            n: 0,
        };
        let dest = source().await;
        let by_address = ExitNode {
            url: exit_url.clone(),
            pin: None,
            node: None,
        };
        let by_id = ExitNode {
            node: Some(exit_id),
            ..by_address.clone()
        };

        // Opening: connect to the entry … first byte of a 1-byte fetch.
        let mut open: [Vec<f64>; 3] = Default::default();
        let mut first: [Vec<f64>; 3] = Default::default();
        for _ in 0..rounds {
            let (relay, t) = c.one_hop().await;
            let (addr, _keep) = socks_on(&relay).await;
            let (fb, _) = fetch(addr, dest, 1).await;
            open[0].push(t.as_secs_f64() * 1e3);
            first[0].push((t + fb).as_secs_f64() * 1e3);
            relay.close();
            for (i, exit) in [(1, &by_address), (2, &by_id)] {
                let (route, t) = c.two_hop(exit).await;
                let (addr, _keep) = socks_on(route.relay()).await;
                let (fb, _) = fetch(addr, dest, 1).await;
                open[i].push(t.as_secs_f64() * 1e3);
                first[i].push((t + fb).as_secs_f64() * 1e3);
                route.exit.relay.close();
                route.entry.relay.close();
            }
        }
        let names = [
            "one hop",
            "two hops, exit proof after",
            "two hops, proofs in parallel",
        ];
        for i in 0..3 {
            report(&format!("{}: open", names[i]), "ms", &open[i]);
            report(&format!("{}: first byte", names[i]), "ms", &first[i]);
        }

        // Throughput: one stream, interleaved.
        let (one, _) = c.one_hop().await;
        let (route, _) = c.two_hop(&by_id).await;
        let (one_addr, _k1) = socks_on(&one).await;
        let (two_addr, _k2) = socks_on(route.relay()).await;
        let (mut g1, mut g2) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            g1.push(timed(fetch(one_addr, dest, TOTAL)).await.1);
            g2.push(timed(fetch(two_addr, dest, TOTAL)).await.1);
        }
        report("one hop: 256 MiB", "Gbit/s", &g1);
        report("two hops: 256 MiB", "Gbit/s", &g2);
        println!(
            "two hops / one hop: {:.0}% (medians)",
            100.0 * median(&g2) / median(&g1)
        );
    });
}
