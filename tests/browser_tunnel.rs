//! A real browser through the tunnel (issue 16; docs/operations.md,
//! "Browser tests"): headless Chromium, its proxy set to `veil connect`'s
//! SOCKS5 port with loopback *not* bypassed, loads a page from a server on
//! loopback — HTML, one script and [`IMAGES`] images of varied sizes, a few
//! MiB in all, so the session needs many receipts (docs/protocol.md §9.3) —
//! over the browser's parallel keep-alive connections.
//!
//! Checked: every resource answered 200 through the proxy and none failed;
//! the page's script saw every image decode; the server served each path
//! exactly once, on fewer connections than requests (keep-alive) but more
//! than one (parallel); the node relayed at least the page's bytes, on one
//! session, with receipts accepted during the load and none refused; and
//! once the client stops and the node settles, the node is paid exactly
//! the KiB it relayed (the client's last receipt covers every byte it
//! counted, §9.3). A control run with the proxy on a closed port loads
//! nothing and reaches the server not once.
//!
//! Skips loudly without Chromium and `tools/browser/node_modules`, unless
//! `VEIL_REQUIRE_BROWSER=1` (`.ci/run`). Needs the `veil` binary.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use browser::{Browser, Load, PageReport};
use stack::{Setup, Stack};

/// Images on the page (the issue asks for 20 or more).
const IMAGES: usize = 24;
/// Price 1 per KiB; an escrow far above the page, so one session carries it.
const ESCROW: u64 = 16_384;
/// A small receipt interval: the node serves at most this many KiB past
/// the last receipt, so a page of several MiB needs receipts to finish.
const INTERVAL_KIB: u64 = 256;

/// The page: path → (content type, body).
struct Site {
    files: HashMap<String, (&'static str, Vec<u8>)>,
    /// Requests and body bytes served, by path (unknown paths too).
    served: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Distinct client connections (peer addresses) seen.
    peers: Mutex<HashSet<SocketAddr>>,
}

impl Site {
    fn new() -> Self {
        let mut files = HashMap::new();
        let mut imgs = String::new();
        for i in 0..IMAGES {
            let (w, h) = (40 + 29 * i, 30 + 17 * (i % 7) + 3 * i);
            files.insert(format!("/img/{i}.bmp"), ("image/bmp", bmp(w, h, i)));
            imgs.push_str(&format!(
                "<img src=\"/img/{i}.bmp\" width=\"{w}\" height=\"{h}\">\n"
            ));
        }
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>loading</title>\
             <link rel=\"icon\" href=\"data:,\"></head><body>\n{imgs}\
             <script src=\"/app.js\"></script></body></html>\n"
        );
        files.insert("/".into(), ("text/html; charset=utf-8", html.into_bytes()));
        files.insert(
            "/app.js".into(),
            ("text/javascript", APP_JS.as_bytes().to_vec()),
        );
        Site {
            files,
            served: Mutex::default(),
            peers: Mutex::default(),
        }
    }

    fn page_bytes(&self) -> u64 {
        self.files.values().map(|(_, b)| b.len() as u64).sum()
    }

    fn served(&self) -> BTreeMap<String, (u64, u64)> {
        self.served.lock().expect("served lock").clone()
    }

    fn connections(&self) -> usize {
        self.peers.lock().expect("peers lock").len()
    }
}

/// Counts every image that loaded or failed, including those done before
/// the script ran, and then sets the title the test waits for.
const APP_JS: &str = r#"
const imgs = Array.from(document.images);
let loaded = 0, failed = 0;
function done() {
  if (loaded + failed === imgs.length) document.title = `loaded ${loaded}/${imgs.length}`;
}
for (const img of imgs) {
  if (img.complete) {
    if (img.naturalWidth > 0) loaded++; else failed++;
  } else {
    img.addEventListener("load", () => { loaded++; done(); });
    img.addEventListener("error", () => { failed++; done(); });
  }
}
done();
"#;

/// A 24-bit BMP of `w × h` pixels, coloured by `seed` (a real image, so
/// the browser decodes it or reports an error).
fn bmp(w: usize, h: usize, seed: usize) -> Vec<u8> {
    let row = (w * 3 + 3) & !3;
    let size = 54 + row * h;
    let le32 = |v: usize| u32::try_from(v).expect("small").to_le_bytes();
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&le32(size));
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&le32(54));
    b.extend_from_slice(&le32(40));
    b.extend_from_slice(&le32(w));
    b.extend_from_slice(&le32(h));
    b.extend_from_slice(&[1, 0, 24, 0]);
    b.extend_from_slice(&[0; 24]);
    for y in 0..h {
        for x in 0..w {
            b.extend_from_slice(&[(x * 7 + seed * 31) as u8, (y * 5) as u8, (seed * 53) as u8]);
        }
        b.resize(54 + row * (y + 1), 0);
    }
    b
}

async fn serve_file(
    State(site): State<Arc<Site>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
) -> Response {
    site.peers.lock().expect("peers lock").insert(peer);
    let path = uri.path().to_owned();
    let file = site.files.get(&path);
    let len = file.map_or(0, |(_, b)| b.len() as u64);
    let mut served = site.served.lock().expect("served lock");
    let e = served.entry(path).or_default();
    e.0 += 1;
    e.1 += len;
    drop(served);
    match file {
        Some((ct, body)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `site` on loopback (HTTP/1.1, keep-alive, any number of
/// connections); returns its address.
async fn serve_site(site: Arc<Site>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(serve_file).with_state(site);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// The sum of a labelled counter of `veil node status --json`.
fn labelled_total(status: &serde_json::Value, name: &str) -> f64 {
    status["by_label"][name].as_object().map_or(0.0, |m| {
        m.values().filter_map(serde_json::Value::as_f64).sum()
    })
}

fn load(browser: &Browser, url: &str, proxy: &str) -> PageReport {
    browser.load(&Load {
        url,
        proxy: Some(proxy),
        wait_for_title: Some("loaded"),
        timeout_ms: Some(60_000),
        ..Load::default()
    })
}

#[test]
fn a_page_of_many_resources_loads_through_the_tunnel() {
    let Some(browser) = Browser::for_test("browser_tunnel") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let site = Arc::new(Site::new());
    let dest = rt.block_on(serve_site(site.clone()));
    let url = format!("http://{dest}/");
    let page_bytes = site.page_bytes();
    assert!(
        page_bytes > 4 * INTERVAL_KIB * 1024,
        "the page must need several receipts"
    );

    // Control: a proxy on a closed port loads nothing, and nothing reaches
    // the server (so loopback is not bypassed).
    let closed = format!("socks5://127.0.0.1:{}", procs::free_port());
    let control = load(&browser, &url, &closed);
    assert!(
        !control.ok && control.status.is_none(),
        "control run loaded: {:?}",
        control.raw
    );
    assert!(
        control.failed_requests.iter().any(|(u, _)| *u == url),
        "the main request did not fail: {:?}",
        control.raw
    );
    assert!(
        site.served().is_empty(),
        "the server was reached: {:?}",
        site.served()
    );

    // The tunnel.
    let mut stack = Stack::start(Setup {
        escrow: ESCROW,
        deposit: 2 * ESCROW,
        receipt_interval_kib: INTERVAL_KIB,
        // 20 blocks/s: the session (1000 blocks) lives ~50 s, enough for
        // the browser; the node settles it after that.
        block_interval_ms: 50,
        metrics: true,
        ..Setup::default()
    });
    let wallet = stack.funded_wallet("alice");
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let (connect, _) = stack.connect(&wallet, &socks);
    let t = Instant::now();
    let report = load(&browser, &url, &format!("socks5://{socks}"));
    let load_ms = t.elapsed().as_millis();
    let expected_title = format!("loaded {IMAGES}/{IMAGES}");
    assert!(
        report.ok && report.title == expected_title,
        "page: {:?}",
        report.raw
    );
    assert_eq!(report.status, Some(200));
    assert!(
        report.failed_requests.is_empty(),
        "failed: {:?}",
        report.failed_requests
    );
    assert!(
        report.page_errors.is_empty(),
        "page errors: {:?}",
        report.page_errors
    );
    assert!(
        report.console_errors.is_empty(),
        "console: {:?}",
        report.console_errors
    );
    // Every resource answered 200 to the browser, each once.
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for (u, status) in &report.responses {
        assert_eq!(*status, 200, "{u} answered {status}");
        let path = u.strip_prefix(&format!("http://{dest}")).unwrap_or(u);
        *got.entry(path.to_owned()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> = site.files.keys().map(|p| (p.clone(), 1)).collect();
    assert_eq!(got, want, "responses seen by the browser");
    // The server served exactly the page: each path once, all its bytes.
    let served = site.served();
    let want_served: BTreeMap<String, (u64, u64)> = site
        .files
        .iter()
        .map(|(p, (_, b))| (p.clone(), (1, b.len() as u64)))
        .collect();
    assert_eq!(served, want_served, "what the server served");
    let requests = want_served.len();
    let conns = site.connections();
    assert!(
        (2..requests).contains(&conns),
        "{conns} connections for {requests} requests: parallel and kept alive"
    );

    // The node relayed it all on one session, and receipts kept pace.
    let during = stack.node_status();
    let value = |s: &serde_json::Value, n: &str| Stack::node_value(s, n);
    let relayed = value(&during, "relayed_bytes_total");
    assert!(
        relayed >= page_bytes,
        "relayed {relayed} < page {page_bytes}"
    );
    assert_eq!(value(&during, "sessions_opened_total"), 1, "{during}");
    assert!(value(&during, "receipts_accepted_total") > 0, "{during}");
    assert_eq!(
        labelled_total(&during, "receipts_refused_total"),
        0.0,
        "{during}"
    );
    assert_eq!(
        labelled_total(&during, "tokens_refused_total"),
        0.0,
        "{during}"
    );

    // The client stops; its last receipt covers every byte it counted. The
    // node settles after expiry, paid for its highest receipt: exactly the
    // KiB it relayed (the node serves no more than I past the highest
    // receipt, the client signs for no byte it did not count, §9.3).
    stack.stop_connect(connect);
    let settled = stack.wait_node("settlement", 300, |s| {
        value(s, "settled_sessions_total") >= 1
    });
    let relayed_total = value(&settled, "relayed_bytes_total");
    assert_eq!(
        relayed_total, relayed,
        "bytes relayed after the browser closed"
    );
    let paid_kib = value(&settled, "earnings_total") / stack.setup.price_per_kib;
    assert_eq!(
        paid_kib,
        relayed.div_ceil(1024),
        "paid KiB against relayed bytes: {settled}"
    );
    let receipts = value(&settled, "receipts_accepted_total");
    eprintln!(
        "browser_tunnel: page {page_bytes} bytes in {requests} resources over {conns} connections, \
         loaded in {load_ms} ms; node relayed {relayed} bytes, {receipts} receipts accepted \
         ({} before the client stopped), paid {paid_kib} KiB",
        value(&during, "receipts_accepted_total"),
    );
}
