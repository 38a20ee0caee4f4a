//! Two-hop routes over real gRPC on loopback (issue 15, `docs/protocol.md`
//! §9.9): a ledger, an entry node and an exit node, each its own `veil`
//! process, a destination HTTP server, and a client going through both.
//!
//! - `curl_through_two_hops_and_what_each_node_holds`: `veil connect --hops
//!   2` (both pins from the ledger registrations) fetches byte-equal
//!   content with our SOCKS5 client and `curl`; every connection the exit
//!   accepted comes from a socket of the entry process, none from the
//!   client's; the entry's logs and store hold no destination or payload;
//!   the exit's hold neither the client's source ports nor the entry
//!   session's id; the two escrows share no wallet-derived field.
//! - `ciphertext_at_the_entry_a_rewriting_entry_and_a_stalling_exit`: the
//!   library client ([`veil_client::two_hop`]) with a test-only TCP relay
//!   in front of the exit playing the entry's part in the inner stream: the
//!   bytes the entry carries hold no destination or payload; the client's
//!   first TLS records there are of the padded size class, where an
//!   unpadded one-hop gRPC request's are not, and so are the exit's on
//!   every connection (§9.9 "Traffic shape"); an
//!   exit named by another node's id fails the route before the exit token
//!   made ahead is sent or saved (§9.9 "Proofs in parallel"); one rewritten
//!   byte fails the inner TLS (an error, never wrong data); an exit that
//!   stops relaying is paid, at each hop, at most one receipt interval past
//!   the bytes the client counted there.
//! - `a_route_chosen_from_the_registry`: `veil connect --hops 2` without
//!   `--entry`/`--exit`, then with `--entry` only, chooses the hops not
//!   named from the ledger's registry: two distinct nodes, the exit read
//!   ahead, content byte-equal (docs/client.md "Choosing nodes").
//!
//! Needs the `veil` binary (target/debug/veil, or VEIL_BIN).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/http.rs"]
mod http;
#[path = "support/log_scan.rs"]
mod log_scan;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use procs::expected_body;
use rand::rngs::OsRng;
use stack::{Setup, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use veil_client::pin::TlsKeyHash;
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::socks5::{self, Host, Target};
use veil_client::sync::{LocalTree, sync};
use veil_client::two_hop::{
    ExitNode, FLIGHT_CLASS, Route, RouteEscrows, finish_route, start_route,
};
use veil_client::wallet::{NoteOrigin, NoteStatus, SessionRecord, Wallet};
use veil_ledger::{LedgerApi, RemoteLedger};
use veil_primitives::ids::NodeId;
use veil_primitives::receipt::KIB;
use veil_proofs::{CircuitId, ParamStore, Prover};

const ESCROW: u64 = 4096;
/// KiB the nodes serve past the highest receipt (§9.3).
const INTERVAL_KIB: u64 = 64;
/// Bytes fetched through the route.
const FETCH: usize = 200_000;

fn setup() -> Setup {
    Setup {
        escrow: ESCROW,
        deposit: ESCROW,
        receipt_interval_kib: INTERVAL_KIB,
        rust_log: Some(log_scan::TRACE_FILTER.to_owned()),
        ..Setup::default()
    }
}

/// A ledger, the entry (`node`) and the exit (`exit`), and a wallet with
/// `notes` notes of one escrow each (a route spends two).
fn start(notes: usize) -> (Stack, String, String) {
    let mut stack = Stack::start(setup());
    let (exit_url, _) = stack.start_node("exit");
    let wallet = stack.funded_wallet("alice");
    for _ in 1..notes {
        stack.veil(&[
            "wallet",
            "deposit",
            "--wallet",
            &wallet,
            "--ledger",
            &stack.ledger_url,
            "--dev-faucet",
            &ESCROW.to_string(),
        ]);
    }
    (stack, exit_url, wallet)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively, as `(path, bytes)`.
fn read_tree(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            read_tree(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).expect("read")));
        }
    }
}

/// Everything a node process holds: its store's files and every line it
/// printed (its logs, at trace level).
fn held_by(stack: &Stack, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut held = Vec::new();
    read_tree(Path::new(&stack.path(name)), &mut held);
    assert!(!held.is_empty(), "{name} stores nothing");
    let p = stack.procs.iter().find(|p| p.name == name).expect("proc");
    let lines: Vec<String> = p.out.all().into_iter().chain(p.err.all()).collect();
    assert!(!lines.is_empty(), "{name} logged nothing");
    held.push((format!("{name} logs"), lines.join("\n").into_bytes()));
    held
}

/// What identifies the destination and the payload of a fetch of `n`
/// bytes from `dest`: its address, its request line, and a window of the
/// body (deep inside it, so no protocol header can hold it by chance).
fn destination_needles(dest: SocketAddr, n: usize) -> Vec<(String, Vec<u8>)> {
    vec![
        ("destination address".into(), dest.to_string().into_bytes()),
        (
            "destination port".into(),
            format!("port {}", dest.port()).into_bytes(),
        ),
        ("request line".into(), format!("GET /{n} HTTP").into_bytes()),
        (
            "payload".into(),
            expected_body(n)
                .get(100_000..100_064)
                .expect("window")
                .to_vec(),
        ),
    ]
}

/// An established IPv4 TCP socket of this host: local and remote port and
/// its inode (from `/proc/net/tcp`; every address here is 127.0.0.1).
struct Sock {
    local: u16,
    remote: u16,
    inode: u64,
}

fn established() -> Vec<Sock> {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap_or(""), 16).ok();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"01")).then_some(())?;
            Some(Sock {
                local: port(f.get(1)?)?,
                remote: port(f.get(2)?)?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: i32) -> HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// The node id child `name` printed at start.
fn node_id_of(stack: &Stack, name: &str) -> String {
    let p = stack.procs.iter().find(|p| p.name == name).expect("proc");
    p.out.wait_for("node id ", "veil node serve").0
}

fn pid_of(stack: &Stack, name: &str) -> i32 {
    let p = stack.procs.iter().find(|p| p.name == name).expect("proc");
    stack.kids.pid(p.index)
}

/// The local ports of `pid`'s connections to `port`.
fn ports_towards(socks: &[Sock], pid: i32, port: u16) -> Vec<u16> {
    let mine = socket_inodes(pid);
    socks
        .iter()
        .filter(|s| s.remote == port && mine.contains(&s.inode))
        .map(|s| s.local)
        .collect()
}

/// The wallet's session records of the route opened under `intent`:
/// (entry, exit).
fn route_records(w: &Wallet, intent: &str) -> (SessionRecord, SessionRecord) {
    let find = |i: &str| {
        w.data
            .sessions
            .iter()
            .find(|s| s.intent == i)
            .cloned()
            .unwrap_or_else(|| panic!("no session {i}"))
    };
    (
        find(intent),
        find(&veil_client::two_hop::exit_intent(intent)),
    )
}

#[test]
fn curl_through_two_hops_and_what_each_node_holds() {
    let (mut stack, exit_url, wallet) = start(2);
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let mut connect = stack.command();
    connect
        .args([
            "connect",
            "--wallet",
            &wallet,
            "--ledger",
            &stack.ledger_url,
        ])
        .args([
            "--hops",
            "2",
            "--entry",
            &stack.node_url,
            "--exit",
            &exit_url,
            "--exit-node",
            &node_id_of(&stack, "exit"),
        ])
        .args(["--socks", &socks, "--escrow", &ESCROW.to_string()]);
    let p = stack.spawn("connect", connect);
    let ci = p.index;
    let (_, before) = p.err.wait_for("SOCKS5 on ", "veil connect --hops 2");
    // With --exit-node the exit's token is proved while the entry's session opens.
    assert!(
        before
            .iter()
            .any(|l| l.starts_with("two-hop route open")
                && l.contains("exit token proved in parallel")),
        "{before:#?}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let socks_addr: SocketAddr = socks.parse().expect("socks addr");
    let dest = rt.block_on(http::http_server());
    let body = rt.block_on(http::fetch(socks_addr, dest, FETCH));
    assert!(
        body == expected_body(FETCH),
        "bytes through two hops differ"
    );
    match Command::new("curl")
        .args(["-sS", "--max-time", "30", "--socks5-hostname", &socks])
        .arg(format!("http://{dest}/50000"))
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "curl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout == expected_body(50_000), "curl got other bytes");
        }
        Err(_) => eprintln!("curl not on PATH: fetched with the built-in SOCKS5 client only"),
    }

    // While the route is up: every connection the exit accepted comes from
    // the entry process; the client's sockets reach the entry only.
    let socks_now = established();
    let (entry_port, exit_port) = (port_of(&stack.node_url), port_of(&exit_url));
    let (entry_pid, client_pid) = (pid_of(&stack, "node"), pid_of(&stack, "connect"));
    let exit_peers: Vec<u16> = socks_now
        .iter()
        .filter(|s| s.local == exit_port)
        .map(|s| s.remote)
        .collect();
    assert!(!exit_peers.is_empty(), "no connection at the exit");
    let from_entry = ports_towards(&socks_now, entry_pid, exit_port);
    for peer in &exit_peers {
        assert!(
            from_entry.contains(peer),
            "the exit's peer port {peer} is not a socket of the entry ({from_entry:?})"
        );
    }
    assert!(ports_towards(&socks_now, client_pid, exit_port).is_empty());
    let client_ports = ports_towards(&socks_now, client_pid, entry_port);
    assert!(
        !client_ports.is_empty(),
        "the client holds no connection to the entry"
    );

    stack.stop_connect(ci);
    let w = Wallet::open(Path::new(&wallet)).expect("wallet");
    let (entry_rec, exit_rec) = route_records(&w, "connect");

    // The entry holds no destination and no payload.
    let entry_held = held_by(&stack, "node");
    for (what, hay) in &entry_held {
        for (name, needle) in destination_needles(dest, FETCH) {
            assert!(
                !contains(hay, &needle),
                "{name} found in the entry's {what}"
            );
        }
    }
    // The exit holds neither the client's source ports nor the entry
    // session's id (raw or hex); it does hold its own session's id (the
    // search is not vacuous).
    let exit_held = held_by(&stack, "exit");
    let entry_sid = entry_rec.session_id().to_bytes();
    let exit_sid = exit_rec.session_id().to_bytes();
    let seen = |sid: &[u8; 32], held: &[(String, Vec<u8>)]| {
        held.iter()
            .any(|(_, h)| contains(h, sid) || contains(h, hex::encode(sid).as_bytes()))
    };
    assert!(
        seen(&exit_sid, &exit_held),
        "the exit does not know its session"
    );
    assert!(
        seen(&entry_sid, &entry_held),
        "the entry does not know its session"
    );
    assert!(
        !seen(&entry_sid, &exit_held),
        "the entry session's id is at the exit"
    );
    assert!(
        !seen(&exit_sid, &entry_held),
        "the exit session's id is at the entry"
    );
    let exit_logs = &exit_held.last().expect("logs").1;
    for port in &client_ports {
        let addr = format!("127.0.0.1:{port}");
        assert!(
            !contains(exit_logs, addr.as_bytes()),
            "client address {addr} in the exit's logs"
        );
    }

    // The two escrows share no field derived from the wallet.
    rt.block_on(async {
        let ledger = RemoteLedger::connect(&stack.ledger_url)
            .await
            .expect("ledger");
        let e = ledger
            .get_escrow(entry_rec.session_id())
            .await
            .expect("get")
            .expect("entry escrow");
        let x = ledger
            .get_escrow(exit_rec.session_id())
            .await
            .expect("get")
            .expect("exit escrow");
        assert_ne!(e.session_id, x.session_id, "nullifiers");
        assert_ne!(e.node_id, x.node_id, "nodes");
        assert_ne!(e.session_key_hash, x.session_key_hash, "session keys");
        assert_ne!(e.refund_owner, x.refund_owner, "refund keys");
        assert_ne!(e.cm_change, x.cm_change, "change commitments");
    });
    assert_ne!(
        entry_rec.spent_rho.0, exit_rec.spent_rho.0,
        "one note paid both"
    );
}

/// The node id `veil connect` printed for `role` ("entry node", "exit
/// node") when it chose that hop from the registry.
fn chosen(lines: &[String], role: &str) -> Option<String> {
    let prefix = format!("chose {role} ");
    lines.iter().find_map(|l| {
        let rest = l.strip_prefix(&prefix)?;
        rest.split(' ').next().map(str::to_owned)
    })
}

#[test]
fn a_route_chosen_from_the_registry() {
    let (mut stack, _, wallet) = start(4);
    let ids = [node_id_of(&stack, "node"), node_id_of(&stack, "exit")];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dest = rt.block_on(http::http_server());
    // Neither hop named, then the entry only: the hops not named are
    // chosen from the registry, never both of one operator.
    for named_entry in [None, Some(stack.node_url.clone())] {
        let socks = format!("127.0.0.1:{}", procs::free_port());
        let mut connect = stack.command();
        connect
            .args([
                "connect",
                "--wallet",
                &wallet,
                "--ledger",
                &stack.ledger_url,
            ])
            .args([
                "--hops",
                "2",
                "--socks",
                &socks,
                "--escrow",
                &ESCROW.to_string(),
            ])
            .args([
                "--intent",
                if named_entry.is_some() {
                    "named"
                } else {
                    "auto"
                },
            ]);
        if let Some(url) = &named_entry {
            connect.args(["--entry", url]);
        }
        let p = stack.spawn("connect", connect);
        let ci = p.index;
        let (_, before) = p.err.wait_for("SOCKS5 on ", "veil connect --hops 2");
        let exit = chosen(&before, "exit node").unwrap_or_else(|| panic!("{before:#?}"));
        let entry = match named_entry {
            None => chosen(&before, "entry node").unwrap_or_else(|| panic!("{before:#?}")),
            Some(_) => {
                assert!(chosen(&before, "entry node").is_none(), "{before:#?}");
                ids[0].clone()
            }
        };
        assert_ne!(entry, exit, "one node on both hops");
        assert!(
            ids.contains(&entry) && ids.contains(&exit),
            "{entry} {exit} {ids:?}"
        );
        // The exit chosen is read ahead: its token proved in parallel.
        assert!(
            before
                .iter()
                .any(|l| l.contains("exit token proved in parallel")),
            "{before:#?}"
        );
        let body = rt.block_on(http::fetch(socks.parse().expect("socks"), dest, 50_000));
        assert!(
            body == expected_body(50_000),
            "bytes through the chosen route differ"
        );
        stack.stop_connect(ci);
    }
}

/// Records of the client's first flights checked for their size class.
const FIRST_RECORDS: usize = 8;

/// Which end's TLS records [`first_records`] reads.
#[derive(Clone, Copy, Debug)]
enum Side {
    Client,
    Exit,
}

/// The plaintext lengths of `side`'s first `n` application-data records
/// after its handshake on `m`'s one connection, from the TLS record headers
/// the entry sees (TLS 1.3: a record carries its plaintext, one
/// content-type byte and a 16-byte tag). The client's first record must be
/// the ClientHello, the exit's the ServerHello; the first application-data
/// record of either is its encrypted handshake (the client's Finished, the
/// exit's EncryptedExtensions to Finished in one flight).
fn first_records(m: &Middle, side: Side, n: usize) -> Vec<usize> {
    let conns = match side {
        Side::Client => m.ups.lock().expect("ups"),
        Side::Exit => m.downs.lock().expect("downs"),
    };
    assert_eq!(conns.len(), 1, "one connection to the exit (no probe)");
    let bytes = conns[0].lock().expect("bytes").clone();
    assert_eq!(
        bytes.first(),
        Some(&22),
        "{side:?}: a TLS handshake record first"
    );
    let (mut at, mut app, mut out) = (0, 0, Vec::new());
    while at + 5 <= bytes.len() && out.len() < n {
        let len = usize::from(u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]));
        if bytes[at] == 23 {
            app += 1;
            if app > 1 {
                out.push(len - 17);
            }
        }
        at += 5 + len;
    }
    out
}

/// A test-only TCP relay in front of the exit: it carries the inner
/// stream between the entry and the exit as the entry does, keeping a copy
/// of every byte, and tampers with the exit's direction if told to.
#[derive(Clone, Copy)]
enum Tamper {
    None,
    /// Flip one bit of the exit's `at`-th byte (counted over connections).
    Flip {
        at: u64,
    },
    /// Stop carrying the exit's bytes after `after` of them.
    Stall {
        after: u64,
    },
}

#[derive(Clone)]
struct Middle {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    /// Per connection, the bytes the entry forwards to the exit.
    ups: Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>,
    /// Per connection, the bytes the exit sends back (as forwarded).
    downs: Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>,
    down: Arc<AtomicU64>,
    tampered: Arc<AtomicBool>,
    /// The connection (index into `downs`) whose byte was flipped.
    flipped_in: Arc<Mutex<Option<usize>>>,
}

impl Middle {
    /// The connection whose exit bytes were the most: the one that carried
    /// a fetch's body.
    fn longest_down(&self) -> usize {
        let downs = self.downs.lock().expect("downs");
        (0..downs.len())
            .max_by_key(|i| downs[*i].lock().expect("down").len())
            .unwrap_or(0)
    }
}

async fn middle(exit: SocketAddr, tamper: Tamper) -> Middle {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let m = Middle {
        addr: l.local_addr().expect("addr"),
        seen: Arc::default(),
        ups: Arc::default(),
        downs: Arc::default(),
        down: Arc::default(),
        tampered: Arc::default(),
        flipped_in: Arc::default(),
    };
    let mm = m.clone();
    tokio::spawn(async move {
        while let Ok((from_entry, _)) = l.accept().await {
            let Ok(to_exit) = TcpStream::connect(exit).await else {
                return;
            };
            let (er, ew) = from_entry.into_split();
            let (xr, xw) = to_exit.into_split();
            let (up, down) = (Arc::default(), Arc::default());
            mm.ups.lock().expect("ups").push(Arc::clone(&up));
            let conn = {
                let mut downs = mm.downs.lock().expect("downs");
                downs.push(Arc::clone(&down));
                downs.len() - 1
            };
            tokio::spawn(carry(er, xw, mm.clone(), Direction::Up(up)));
            tokio::spawn(carry(
                xr,
                ew,
                mm.clone(),
                Direction::Down(tamper, down, conn),
            ));
        }
    });
    m
}

/// Which way [`carry`] copies: towards the exit, or the exit's bytes
/// (tampered with as told); either keeps the connection's own copy too.
enum Direction {
    Up(Arc<Mutex<Vec<u8>>>),
    /// The exit's bytes of connection `usize` (an index into `downs`).
    Down(Tamper, Arc<Mutex<Vec<u8>>>, usize),
}

/// Copies `r` to `w`, keeping a copy.
async fn carry(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    m: Middle,
    direction: Direction,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        if let Direction::Up(up) = &direction {
            up.lock().expect("up").extend_from_slice(chunk);
        }
        if let Direction::Down(tamper, _, conn) = direction {
            let start = m.down.fetch_add(n as u64, Ordering::SeqCst);
            match tamper {
                Tamper::Flip { at } if (start..start + n as u64).contains(&at) => {
                    chunk[(at - start) as usize] ^= 1;
                    m.tampered.store(true, Ordering::SeqCst);
                    *m.flipped_in.lock().expect("flipped") = Some(conn);
                }
                Tamper::Stall { after } if start + n as u64 > after => {
                    m.tampered.store(true, Ordering::SeqCst);
                    // Hold both sockets open, carry nothing more.
                    std::future::pending::<()>().await;
                }
                _ => {}
            }
        }
        if let Direction::Down(_, down, _) = &direction {
            down.lock().expect("down").extend_from_slice(chunk);
        }
        m.seen.lock().expect("seen").extend_from_slice(chunk);
        if w.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Fetches `GET /n` through SOCKS5, reading until EOF or error; returns
/// what arrived after the header (possibly short).
async fn fetch_some(socks: SocketAddr, dest: SocketAddr, n: usize, got: Arc<AtomicU64>) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(socks).await else {
        return Vec::new();
    };
    let target = Target {
        host: Host::Ip(dest.ip()),
        port: dest.port(),
    };
    if !matches!(socks5::client_connect(&mut s, &target).await, Ok(0)) {
        return Vec::new();
    }
    if s.write_all(format!("GET /{n} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .is_err()
    {
        return Vec::new();
    }
    let mut resp = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(k) = s.read(&mut buf).await {
        if k == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..k]);
        got.store(resp.len() as u64, Ordering::SeqCst);
    }
    match resp.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => resp.split_off(p + 4),
        None => Vec::new(),
    }
}

/// The library client's side of the second test.
struct Client {
    ledger: RemoteLedger,
    prover: Prover,
    wallet: Wallet,
    tree: LocalTree,
    entry_url: String,
}

impl Client {
    /// A route to `exit`, named by its node id `node` (the exit's token
    /// proved in parallel, §9.9) or by its address alone.
    async fn route(
        &mut self,
        exit: SocketAddr,
        node: Option<NodeId>,
        intent: &str,
    ) -> Result<Route, veil_client::ClientError> {
        let mut entry = NodeConnection::connect_via_ledger(&self.entry_url, &self.ledger).await?;
        let exit = ExitNode {
            url: format!("https://{exit}"),
            pin: None,
            node,
        };
        let escrows = RouteEscrows {
            entry: ESCROW,
            exit: ESCROW,
        };
        start_route(
            &self.ledger,
            &mut entry,
            &exit,
            &self.prover,
            &mut self.wallet,
            &mut self.tree,
            escrows,
            intent,
            &mut OsRng,
        )
        .await
    }

    /// Serves SOCKS5 through `route` on a fresh loopback port.
    async fn socks(route: &Route) -> SocketAddr {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (relay_tx, relay_rx) = tokio::sync::watch::channel(Some(route.relay().clone()));
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _keep = (relay_tx, _stop_tx);
            let _ = serve(l, Payer::Session(relay_rx), stop_rx).await;
        });
        addr
    }

    /// KiB paid for the session: the escrow minus the refund the wallet
    /// found once the node settled it (waits for it, at most `secs`).
    async fn paid_kib(&mut self, rec: &SessionRecord, secs: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            sync(&self.ledger, &mut self.wallet, &mut self.tree)
                .await
                .expect("sync");
            let refund = self.wallet.data.notes.iter().find(|n| {
                n.origin == NoteOrigin::Refund && n.refund_key_rho == Some(rec.refund_rho)
            });
            if let Some(n) = refund {
                return ESCROW - n.value;
            }
            assert!(Instant::now() < deadline, "no refund within {secs} s");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[test]
fn ciphertext_at_the_entry_a_rewriting_entry_and_a_stalling_exit() {
    let (stack, exit_url, wallet) = start(9);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let exit: SocketAddr = exit_url
            .trim_start_matches("https://")
            .parse()
            .expect("exit");
        let id_of = |name| {
            NodeId::from_slice(&hex::decode(node_id_of(&stack, name)).expect("hex"))
                .expect("node id")
        };
        let (exit_id, entry_id) = (id_of("exit"), id_of("node"));
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("keys");
        let mut c = Client {
            ledger: RemoteLedger::connect(&stack.ledger_url)
                .await
                .expect("ledger"),
            prover: Prover::from_store(&store, &[CircuitId::Access], None).expect("prover"),
            wallet: Wallet::open(Path::new(&wallet)).expect("wallet"),
            tree: LocalTree::new(),
            entry_url: stack.node_url.clone(),
        };
        let dest = http::http_server().await;

        // What the entry carries between the client and the exit: ciphertext.
        let clear = middle(exit, Tamper::None).await;
        let route = c
            .route(clear.addr, Some(exit_id), "clear")
            .await
            .expect("route");
        assert!(route.exit_token_ahead, "the exit's token was not made ahead");
        let socks = Client::socks(&route).await;
        let body = http::fetch(socks, dest, FETCH).await;
        assert!(
            body == expected_body(FETCH),
            "bytes through two hops differ"
        );
        finish_route(&mut c.wallet, &route).expect("finish");
        let two_hop = first_records(&clear, Side::Client, FIRST_RECORDS);
        let exit_two_hop = first_records(&clear, Side::Exit, FIRST_RECORDS);
        let pin = TlsKeyHash::in_force(
            &c.ledger
                .get_node(exit_id)
                .await
                .expect("ledger")
                .expect("exit record"),
        );
        let plain = middle(exit, Tamper::None).await;
        let mut one_hop = NodeConnection::connect_pinned(&format!("https://{}", plain.addr), pin)
            .await
            .expect("one hop");
        one_hop.terms().await.expect("terms");
        let one_hop = first_records(&plain, Side::Client, FIRST_RECORDS);
        let exit_one_hop = first_records(&plain, Side::Exit, FIRST_RECORDS);
        eprintln!("plaintext bytes of the client's first records: two hops {two_hop:?}, one hop {one_hop:?}");
        assert_eq!(two_hop.len(), FIRST_RECORDS, "too few records to judge");
        assert!(
            two_hop.iter().all(|n| n % FLIGHT_CLASS == 0),
            "a setup record's size is visible at the entry: {two_hop:?}"
        );
        assert!(
            one_hop.iter().any(|n| n % FLIGHT_CLASS != 0),
            "the unpadded control is in class by chance: {one_hop:?}"
        );
        // The exit pads its own first flights on every connection (it
        // cannot tell a route's from a client's own).
        eprintln!("plaintext bytes of the exit's first records: two hops {exit_two_hop:?}, one hop {exit_one_hop:?}");
        assert_eq!(exit_two_hop.len(), FIRST_RECORDS, "too few exit records to judge");
        for records in [&exit_two_hop, &exit_one_hop] {
            assert!(
                records.iter().all(|n| n % FLIGHT_CLASS == 0),
                "an exit record's size is visible at the entry: {records:?}"
            );
        }
        let seen = clear.seen.lock().expect("seen").clone();

        // An exit named by another node's id (the entry's): the route fails
        // at the exit's pin; the exit token made ahead is neither sent nor
        // saved, and only the entry's note was spent.
        let spent = |w: &Wallet| {
            w.data
                .notes
                .iter()
                .filter(|n| n.status == NoteStatus::Spent)
                .count()
        };
        let before = spent(&c.wallet);
        match c.route(exit, Some(entry_id), "wrong").await {
            Ok(_) => panic!("a route to an exit under another node's id"),
            Err(e) => eprintln!("exit under the entry's node id: {e}"),
        }
        assert!(
            c.wallet.data.sessions.iter().all(|s| s.intent != "wrong/exit"),
            "the exit token made ahead was saved"
        );
        assert_eq!(spent(&c.wallet), before + 1, "only the entry's note is spent");
        assert!(seen.len() > FETCH, "the payload did not pass the middle");
        for (name, needle) in destination_needles(dest, FETCH) {
            assert!(!contains(&seen, &needle), "{name} in the entry's stream");
        }

        // One rewritten byte of the exit's: the inner TLS fails, at setup or
        // mid-fetch; what arrived is a prefix of the true body, never other bytes.
        for at in [1_000u64, 40_000] {
            let flip = middle(exit, Tamper::Flip { at }).await;
            match c.route(flip.addr, None, &format!("flip{at}")).await {
                Err(e) => eprintln!("flip at {at}: the route failed: {e}"),
                Ok(route) => {
                    assert!(!route.exit_token_ahead, "no node id, yet a token ahead");
                    let socks = Client::socks(&route).await;
                    let got = fetch_some(socks, dest, FETCH, Arc::default()).await;
                    eprintln!("flip at {at}: the fetch stopped after {} bytes", got.len());
                    // A flip in a connection the route had done with (the
                    // exit's byte counts run over every connection through
                    // the middle) changes nothing; one in the connection
                    // that carried the body stops it.
                    let carried = flip.longest_down();
                    let flipped = *flip.flipped_in.lock().expect("flipped");
                    assert!(
                        got.len() < FETCH || flipped != Some(carried),
                        "flip at {at}: the whole body arrived through the flipped connection"
                    );
                    assert!(
                        got == expected_body(FETCH)[..got.len()],
                        "flip at {at}: wrong bytes"
                    );
                    finish_route(&mut c.wallet, &route).expect("finish");
                }
            }
            assert!(
                flip.tampered.load(Ordering::SeqCst),
                "flip at {at} never happened"
            );
        }

        // An exit that stops relaying mid-fetch.
        let stall = middle(exit, Tamper::Stall { after: 600_000 }).await;
        let route = c
            .route(stall.addr, Some(exit_id), "stall")
            .await
            .expect("route");
        let socks = Client::socks(&route).await;
        let got = Arc::new(AtomicU64::new(0));
        let fetch = tokio::spawn(fetch_some(socks, dest, 2_000_000, got.clone()));
        while !stall.tampered.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let what is in flight land, then give up on the route.
        tokio::time::sleep(Duration::from_secs(2)).await;
        fetch.abort();
        finish_route(&mut c.wallet, &route).expect("finish");
        let received = got.load(Ordering::SeqCst);
        assert!(received < 2_000_000, "the stall stopped nothing");
        let (entry_rec, exit_rec) = route_records(&c.wallet, "stall");
        for (hop, live, rec) in [
            ("entry", &route.entry, entry_rec),
            ("exit", &route.exit, exit_rec),
        ] {
            let counted = live.relay.stats().bytes();
            let paid = c.paid_kib(&rec, 120).await;
            eprintln!("stalling exit, {hop}: counted {counted} B, paid {paid} KiB");
            assert!(paid > 0, "{hop} was paid nothing");
            assert!(
                paid * KIB <= counted + INTERVAL_KIB * KIB,
                "{hop}: paid {paid} KiB for {counted} counted bytes"
            );
        }
        // The exit carried what the client received and was paid no more
        // than that plus one interval (its bytes are the client's payload).
        let exit_paid = c.paid_kib(&route_records(&c.wallet, "stall").1, 1).await;
        assert!(exit_paid * KIB <= received + INTERVAL_KIB * KIB + 64 * KIB);
    });
}
