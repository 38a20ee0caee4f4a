//! The `veil` binary as a user runs it: `veil demo` (the README's first
//! command) end to end, embedded and against a ledger process, and bad
//! input refused with a clear error, a non-zero exit and nothing changed.
//!
//! Dev proving keys come from `$VEIL_PARAMS_CACHE` (generated on first use).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// The demo runs proofs on every core: one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

/// `veil --dev-keys`: the tests opt into the INSECURE development keys
/// (params/dev/); [`veil_default`] is the binary as users run it.
fn veil() -> Command {
    let mut c = veil_default();
    c.arg("--dev-keys");
    c
}

/// `veil` without `--dev-keys`: the ceremony keys of params/.
fn veil_default() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veil"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run veil")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child on drop (a failing assertion must not leak a server).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns a serving `veil` command with its stdout piped (stderr to
/// `stderr`): the process (killed on drop) and its stdout's lines.
fn spawn_serving(
    cmd: &mut Command,
    stderr: Stdio,
) -> (Killed, std::io::Lines<BufReader<ChildStdout>>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn veil");
    let stdout = child.stdout.take().expect("stdout");
    (Killed(child), BufReader::new(stdout).lines())
}

/// The next line a serving command prints.
fn next_line(lines: &mut std::io::Lines<BufReader<ChildStdout>>) -> String {
    lines.next().expect("a line").expect("read a line")
}

/// The one JSON object `veil demo --json` prints, checked field by field
/// against what the scenario must achieve (issue 4: "Done when").
fn check_demo_json(out: &Output, ledger: &str) -> Value {
    check_demo_json_with(out, ledger, true)
}

/// [`check_demo_json`]; `honest`: the audit round must clear the node.
fn check_demo_json_with(out: &Output, ledger: &str, honest: bool) -> Value {
    assert!(
        out.status.success(),
        "demo failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON object in {stdout:?}"));
    let v: Value = serde_json::from_str(line).expect("demo --json prints valid JSON");
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    };
    assert!(n("sessions") >= 3, "{v}");
    // At least 2 MiB fetched through each session, metered by the node.
    assert!(n("bytes_relayed") >= 3 * 2 * 1024 * 1024, "{v}");
    assert!(n("receipts") >= 3, "{v}");
    assert!(n("settled_sessions") >= n("sessions"), "{v}");
    assert_eq!(
        n("settle_batches"),
        1,
        "one batch proof for all sessions: {v}"
    );
    assert!(n("node_paid") > 0, "{v}");
    let refunds = v["refunds"].as_array().expect("refunds");
    assert!(refunds.len() as u64 >= n("sessions"), "{v}");
    assert!(n("refund_spends") >= 1, "{v}");
    assert_eq!(v["audit_ok"], Value::Bool(true), "{v}");
    assert_eq!(v["ledger"], Value::String(ledger.into()), "{v}");
    for k in ["relay", "settle", "total"] {
        assert!(v["timings_ms"][k].is_u64(), "timings_ms.{k} missing: {v}");
    }
    let proves = v["timings_ms"]["access_prove"]
        .as_array()
        .expect("one access proof time per session");
    assert_eq!(proves.len() as u64, n("sessions"), "{v}");
    // One two-hop route (issue 15): fetched, and neither node recorded the
    // other side.
    let th = &v["two_hop"];
    assert_eq!(th["bytes_fetched"].as_u64(), Some(1024 * 1024), "{v}");
    assert_eq!(th["entry_saw_destination"], Value::Bool(false), "{v}");
    assert_eq!(th["exit_saw_client"], Value::Bool(false), "{v}");
    // The market round (issue 14, docs/market.md §7, §7.2): a buy and a
    // sale on the ledger's curve, on every backend.
    let m = &v["market"];
    {
        assert!(m["tokens_bought"].as_u64() > Some(0), "{v}");
        assert_eq!(
            m["tokens_sold"].as_u64(),
            m["tokens_bought"].as_u64().map(|t| t / 2),
            "{v}"
        );
        assert_eq!(m["value_spent"].as_u64(), Some(5_000), "{v}");
        let (before, after) = (m["price_before"].as_f64(), m["price_after"].as_f64());
        assert!(
            after > before,
            "half the bought tokens stay out: the price rose: {v}"
        );
    }
    // The audit round (issue 14, docs/market.md §7.1): where the demo
    // moves the clock (its embedded ledger, anvil) three monitors audit the
    // honest node, which keeps its stake.
    if ledger != "remote" && honest {
        assert_eq!(m["audits"].as_u64(), Some(3), "{v}");
        assert_eq!(m["slashed"], Value::Bool(false), "{v}");
        let scores = m["node_scores"].as_object().expect("node_scores");
        assert_eq!(scores.len(), 1, "{v}");
        let score = scores.values().next().expect("a score");
        assert_eq!(score["reports"].as_u64(), Some(3), "{v}");
        assert!(score["delivered_ppm"].as_u64() >= Some(800_000), "{v}");
        // Each monitor challenged the node on the ledger; it answered all
        // (on the EVM ledger as `answer` proofs).
        let issued = 3;
        let c = &m["ledger_challenges"];
        assert_eq!(
            (
                c["issued"].as_u64(),
                c["answered"].as_u64(),
                c["missed"].as_u64()
            ),
            (Some(issued), Some(issued), Some(0)),
            "{v}"
        );
    } else if honest {
        assert!(
            m["audits"].is_null(),
            "skipped where the demo cannot move the clock: {v}"
        );
    }
    v
}

/// `veil demo --scenario cheating-node`: the demo node claims 100 Mbit/s
/// and relays at 10; three monitors measure it as ordinary clients and the
/// verdict slashes its stake in proportion (docs/market.md §7.1): about
/// (80% − 10%) / 80% × 20% of 10,000.
#[test]
fn demo_slashes_a_cheating_node() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(veil().args(["demo", "--json", "--scenario", "cheating-node"]));
    let v = check_demo_json_with(&out, "embedded", false);
    check_cheating_node_slashed(&v);
}

/// What the cheating node's audit round must show, on every ledger.
fn check_cheating_node_slashed(v: &Value) {
    let m = &v["market"];
    assert_eq!(m["audits"].as_u64(), Some(3), "{v}");
    assert_eq!(m["slashed"], Value::Bool(true), "{v}");
    let slashed = m["slashed_amount"].as_u64().expect("slashed_amount");
    assert!((1_500..=2_000).contains(&slashed), "{v}");
    let score = m["node_scores"]
        .as_object()
        .and_then(|s| s.values().next())
        .expect("a score");
    let delivered = score["delivered_ppm"].as_u64().expect("delivered_ppm");
    assert!((50_000..=150_000).contains(&delivered), "{v}");
    assert_eq!(score["slashed"].as_u64(), Some(slashed), "{v}");
}

/// `veil demo --scenario silent-node`: the node relays honestly but leaves
/// the monitors' ledger challenges unanswered; when their deadline passes
/// the ledger takes its whole stake (docs/protocol.md §8.3.14), whatever
/// the verdict on its throughput.
#[test]
fn demo_slashes_a_silent_node() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(veil().args(["demo", "--json", "--scenario", "silent-node"]));
    let v = check_demo_json_with(&out, "embedded", false);
    check_silent_node_slashed(&v);
}

/// What the silent node's audit round must show, on every ledger.
fn check_silent_node_slashed(v: &Value) {
    let m = &v["market"];
    let c = &m["ledger_challenges"];
    assert_eq!(
        (
            c["issued"].as_u64(),
            c["answered"].as_u64(),
            c["missed"].as_u64()
        ),
        (Some(3), Some(0), Some(3)),
        "{v}"
    );
    assert_eq!(m["slashed"], Value::Bool(true), "{v}");
    assert_eq!(m["slashed_amount"].as_u64(), Some(10_000), "{v}");
    assert_eq!(m["stake_before"].as_u64(), Some(10_000), "{v}");
    let score = m["node_scores"]
        .as_object()
        .and_then(|s| s.values().next())
        .expect("a score");
    // The verdict on its throughput slashed nothing: the evidence did.
    assert_eq!(score["slashed"].as_u64(), Some(0), "{v}");
}

#[test]
fn demo_runs_end_to_end_on_the_embedded_ledger() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(veil().args(["demo", "--json", "--mib-per-session", "2"]));
    let v = check_demo_json(&out, "embedded");
    assert_eq!(v["voucher_spends"].as_u64(), Some(3), "{v}");
}

#[test]
fn demo_runs_against_a_ledger_process() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let (guard, mut lines) = spawn_serving(
        veil()
            .args([
                "ledger",
                "serve",
                "--dev-faucet",
                "--listen",
                "127.0.0.1:0",
                "--block-interval",
                "200",
            ])
            .arg("--db")
            .arg(dir.path().join("ledger.redb")),
        Stdio::null(),
    );
    let line = next_line(&mut lines);
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let out = run(veil().args(["demo", "--json", "--ledger", &format!("http://{addr}")]));
    check_demo_json(&out, "remote");
    drop(guard);
    // The ledger's database passes the offline audit after the run.
    let audit = run(veil()
        .args(["ledger", "audit", "--db"])
        .arg(dir.path().join("ledger.redb")));
    assert!(audit.status.success(), "{}", text(&audit.stderr));
    assert!(text(&audit.stdout).contains("audit: OK"));
}

/// A fresh deployment on `anvil` by its first development key (written to
/// `dir`), and `veil demo --json --scenario scenario` on it: the deploy's
/// JSON, the key file and the demo's output.
fn demo_on_anvil(
    anvil: &veil_evm_rpc::anvil::Anvil,
    dir: &Path,
    scenario: &str,
) -> (Value, std::path::PathBuf, Output) {
    let key = dir.join("deployer.key");
    std::fs::write(&key, format!("{}\n", veil_evm_rpc::anvil::FIRST_DEV_KEY)).expect("key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let deploy = run(veil_default()
        .args(["ledger", "deploy", "--rpc", &anvil.url, "--key-file"])
        .arg(&key));
    assert!(deploy.status.success(), "{}", text(&deploy.stderr));
    let d: Value = serde_json::from_slice(&deploy.stdout).expect("deploy prints JSON");
    let spec = d["ledger_spec"].as_str().expect("ledger_spec");
    let out = run(veil()
        .args(["demo", "--json", "--scenario", scenario, "--ledger", spec])
        .arg("--evm-key-file")
        .arg(&key));
    (d, key, out)
}

/// `veil demo --ledger evm:…` on a real anvil (docs/evm.md §8.5): the
/// same scenario and checks as the embedded run, each party acting
/// through its own EVM key, the audit round included (anvil mines the
/// epochs on request; the monitors commit and reveal the seed); then the
/// chain itself is read back: one `Settled` event with every one-hop
/// session of the run, one for the two-hop route's exit session and one
/// for the audit sessions; one `Withdrawn` per refund spend, and the
/// withdrawals' recipient paid exactly what the demo says it withdrew;
/// the audited epoch's seed mixes the monitors' revealed secrets.
/// Skipped (loudly) without anvil unless `VEIL_REQUIRE_ANVIL=1` (CI).
#[test]
fn demo_runs_on_the_ledger_contract_on_anvil() {
    use veil_evm::ledger::LedgerEvent;
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(anvil) = veil_evm_rpc::anvil::Anvil::for_test("the demo on anvil") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, key, out) = demo_on_anvil(&anvil, dir.path(), "honest");
    let v = check_demo_json(&out, "evm");
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    };
    let audited = v["market"]["node_scores"]
        .as_object()
        .and_then(|s| s.values().next())
        .and_then(|s| s["epoch"].as_u64())
        .expect("the audited epoch");

    // The chain's own record of the run.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (events, mix) = rt.block_on(async {
        let signer = veil_evm_rpc::key::load(&key).expect("key");
        let chain = veil_evm_rpc::RpcChain::connect(&anvil.url, signer)
            .await
            .expect("rpc");
        let address = |k: &str| d[k].as_str().expect(k).parse().expect("address");
        let to = chain.block_number().await.expect("height");
        let logs = chain.logs(address("ledger"), 0, to).await.expect("logs");
        let events: Vec<LedgerEvent> = logs
            .iter()
            .map(|(_, e)| LedgerEvent::decode(e).expect("decode"))
            .collect();
        let mix = chain
            .call(address("audits"), &veil_evm::audits::seed_mix(audited))
            .await
            .expect("seedMix");
        (events, mix)
    });
    assert!(
        mix.iter().any(|b| *b != 0),
        "the monitors revealed their secrets for epoch {audited}"
    );
    let settled: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::Settled {
                session_ids, total, ..
            } => Some((session_ids.len() as u64, *total)),
            _ => None,
        })
        .collect();
    // The demo node settles every session it served in one batch, then the
    // two-hop route's exit its one session, then the demo node the audit
    // round's sessions; both nodes send from the operator's one account on
    // a chain, so `node_paid` is the sum.
    let [(sessions, entry_paid), (1, exit_paid), (3, audits_paid)] = settled[..] else {
        panic!("one batch per node and round: {settled:?} {v}");
    };
    assert_eq!(sessions, n("settled_sessions"), "{v}");
    assert_eq!(entry_paid + exit_paid + audits_paid, n("node_paid"), "{v}");
    let withdrawn: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::Withdrawn { amount, .. } => Some(*amount),
            _ => None,
        })
        .collect();
    assert_eq!(withdrawn.len() as u64, n("refund_spends"), "{v}");
    assert_eq!(withdrawn.iter().sum::<u64>(), n("withdrawn"), "{v}");
}

/// `veil demo --scenario cheating-node` on anvil: the EVM ledger's
/// verdict slashes the throttling node as the embedded ledger's does; in
/// `silent-node` the three challenges the node leaves unanswered take its
/// whole stake there too (`slashMissed`, docs/evm.md §8.6).
#[test]
fn demo_slashes_a_cheating_node_on_anvil() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(anvil) = veil_evm_rpc::anvil::Anvil::for_test("the cheating node on anvil") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, out) = demo_on_anvil(&anvil, dir.path(), "cheating-node");
    let v = check_demo_json_with(&out, "evm", false);
    check_cheating_node_slashed(&v);
}

#[test]
fn demo_slashes_a_silent_node_on_anvil() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(anvil) = veil_evm_rpc::anvil::Anvil::for_test("the silent node on anvil") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, out) = demo_on_anvil(&anvil, dir.path(), "silent-node");
    let v = check_demo_json_with(&out, "evm", false);
    check_silent_node_slashed(&v);
}

fn assert_refused(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "should have failed: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "stderr should name the problem ({needle:?}): {err}"
    );
    assert!(
        !err.contains("panicked"),
        "a panic is not an error message: {err}"
    );
}

fn digest(p: &Path) -> Vec<u8> {
    std::fs::read(p).expect("read file")
}

#[test]
fn a_corrupt_ledger_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.redb");
    std::fs::write(
        &db,
        b"this is not a redb file, and must not be re-initialised",
    )
    .unwrap();
    let before = digest(&db);
    let out = run(veil().args(["ledger", "audit", "--db"]).arg(&db));
    assert_refused(&out, "error");
    assert_eq!(digest(&db), before, "a failed open must not touch the file");
    // `serve` refuses it too, rather than starting on a fresh database.
    let out = run(veil()
        .args(["ledger", "serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db));
    assert_refused(&out, "error");
    assert_eq!(digest(&db), before);
}

#[test]
fn a_missing_database_is_not_created_by_audit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("absent.redb");
    let out = run(veil().args(["ledger", "audit", "--db"]).arg(&db));
    assert_refused(&out, "error");
    assert!(!db.exists(), "audit must not create a database");
}

#[test]
fn connect_refuses_a_non_loopback_socks_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(veil()
        .args([
            "connect",
            "--ledger",
            "http://127.0.0.1:9",
            "--node",
            "http://127.0.0.1:9",
        ])
        .args(["--socks", "0.0.0.0:1080", "--escrow", "4096", "--wallet"])
        .arg(dir.path().join("w.json")));
    assert_refused(&out, "loopback");
}

#[test]
fn wallet_commands_on_a_missing_wallet_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("missing.json");
    let out = run(veil().args(["wallet", "address", "--wallet"]).arg(&w));
    assert_refused(&out, "error");
    assert!(!w.exists(), "a failed command must not create a wallet");
}

#[test]
fn a_corrupt_wallet_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("w.json");
    std::fs::write(&w, b"{\"version\": 1, \"truncated").unwrap();
    let before = digest(&w);
    let out = run(veil().args(["wallet", "address", "--wallet"]).arg(&w));
    assert_refused(&out, "error");
    assert_eq!(digest(&w), before);
}

/// `--config FILE` (docs/operations.md): a ledger started from a file;
/// a flag on the command line replaces the file's key (the file's listen
/// address is invalid and unused); an unknown key, a value of the wrong
/// kind and a missing file are usage errors that name the problem, and
/// nothing is created.
#[test]
fn ledger_serve_reads_its_flags_from_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.redb");
    let config = dir.path().join("ledger.toml");
    let write = |body: &str| std::fs::write(&config, body).expect("write config");
    write(&format!(
        "# a comment\nlisten = \"not an address\"\ndb = {:?}\ndev_faucet = true\nblock-interval = 200\n",
        db.display().to_string()
    ));
    let (guard, mut lines) = spawn_serving(
        veil()
            .args(["ledger", "serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config),
        Stdio::null(),
    );
    let line = next_line(&mut lines);
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line:?}");
    drop(guard);
    assert!(db.exists(), "the file's --db was used");

    let other = dir.path().join("other.redb");
    for (body, needle) in [
        (
            "listen = \"127.0.0.1:0\"\ndbb = \"x\"\n",
            "unknown key `dbb`",
        ),
        ("dev-faucet = \"yes\"\n", "key `dev-faucet`"),
        ("listen = [1, 2]\n", "key `listen`"),
        ("listen = \n", "not valid TOML"),
    ] {
        write(body);
        let out = run(veil()
            .args(["ledger", "serve", "--db"])
            .arg(&other)
            .arg("--config")
            .arg(&config));
        assert_eq!(out.status.code(), Some(2), "{body}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(needle),
            "{body}: {}",
            text(&out.stderr)
        );
        assert!(!other.exists(), "{body}: nothing created");
    }
    let out = run(veil().args(["ledger", "serve", "--config", "/nonexistent/ledger.toml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/ledger.toml"));
}

/// Issue 16, "Done when": a node started from a config file serves
/// metrics that a Prometheus scrape parser accepts (`--metrics` is a key
/// of the file like any flag, and so is the global `--log-format`: its
/// stderr is one JSON object per line).
#[test]
fn a_node_started_from_a_config_file_serves_prometheus_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("node.toml");
    let ledger = dir.path().join("ledger.redb");
    std::fs::write(
        &config,
        format!(
            "ledger = \"embedded:{}\"\nlisten = \"127.0.0.1:0\"\ndb = {:?}\nprice-per-kib = \"1\"\n\
             escrow-sizes = \"4096\"\nsettle-every = 0\ninsecure-plaintext = true\nmetrics = \"127.0.0.1:0\"\n\
             log-format = \"json\"\n",
            ledger.display(),
            dir.path().join("node").display().to_string(),
        ),
    )
    .expect("write config");
    let log = dir.path().join("node.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let (_guard, mut lines) = spawn_serving(
        veil().args(["node", "serve", "--config"]).arg(&config),
        stderr.into(),
    );
    let url = loop {
        let line = next_line(&mut lines);
        if let Some(url) = line.strip_prefix("metrics on http://") {
            break url.trim_end_matches("/metrics").to_owned();
        }
    };
    let mut s = std::net::TcpStream::connect(&url).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("a Prometheus scrape parser accepts the page");
    let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in [
        "veil_node_sessions_opened_total",
        "veil_node_relayed_bytes_total",
        "veil_node_earnings_total",
        "veil_node_verify_queue_depth",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // `veil node status` summarises the same page.
    let out = run(veil().args(["node", "status", "--metrics", &url]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("sessions     open 0, opened 0"),
        "{summary}"
    );
    assert!(summary.contains("earnings 0 base units"), "{summary}");
    let out = run(veil().args(["node", "status", "--json", "--metrics", &url]));
    let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(json["values"]["sessions_opened_total"], 0.0);
    // Nothing listening: a clear error, not a hang.
    drop(_guard);
    let logged = std::fs::read_to_string(&log).expect("node log");
    let mut serving = false;
    for line in logged.lines().filter(|l| l.starts_with('{')) {
        let event: Value = serde_json::from_str(line).expect("a JSON log line");
        serving |= event["fields"]["message"] == "node serving";
    }
    assert!(serving, "the JSON log has the node's start: {logged}");
    let out = run(veil().args(["node", "status", "--metrics", &url]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("metrics at"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unknown_arguments_are_usage_errors() {
    let out = run(veil().args(["demo", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    let out = run(veil().args(["demo", "--mib-per-session", "0"]));
    assert_eq!(out.status.code(), Some(2), "out-of-range value");
}

/// Issue 8 §5: a secret on the command line is refused with a usage error
/// (exit 2) that names the flag and never prints the secret back, in both
/// spellings, for every secret flag, and nothing is created.
#[test]
fn secret_flags_are_refused_without_echoing_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("w.json");
    let secret = "0badc0ffee5ecret0badc0ffee5ecret0badc0ffee5ecret0badc0ffee5ecre";
    for flag in [
        "--spending-key",
        "--secret",
        "--secret-key",
        "--private-key",
        "--session-key",
        "--node-key",
    ] {
        let joined = format!("{flag}={secret}");
        for args in [vec![flag, secret], vec![joined.as_str()]] {
            let out = run(veil()
                .args(["wallet", "new", "--wallet"])
                .arg(&w)
                .args(&args));
            assert_eq!(out.status.code(), Some(2), "{flag}: {}", text(&out.stderr));
            assert_refused(&out, flag);
            for stream in [&out.stderr, &out.stdout] {
                assert!(
                    !text(stream).contains(secret),
                    "{flag}: the secret was printed back: {}",
                    text(stream)
                );
            }
            assert!(!w.exists(), "a refused command must not create a wallet");
        }
    }
    // Anywhere on the line, in any subcommand.
    let out = run(veil().args(["--secret", secret, "demo"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out.stderr).contains(secret));
}

/// `veil bench --json` measures what it reports: one JSON object whose EVM
/// section comes from executing the committed contracts on the bench's own
/// proof (execution gas is exact; tx gas varies with the proof's zero
/// bytes), with the ledger contract's deposit and batched append measured
/// on a fresh chain, and the operations not built yet `null`.
#[test]
fn bench_json_reports_evm_gas_measured_on_its_own_proofs() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(veil().args(["bench", "--json", "--runs", "1", "--circuits", "settle_1"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let evm = &v["evm"];
    assert_eq!(evm["verify_proof_gas"]["settle_1"]["execution"], 215_806);
    let tx = evm["verify_proof_gas"]["settle_1"]["tx"]
        .as_u64()
        .expect("tx gas");
    // Intrinsic: 21,000 and 4 or 16 gas per calldata byte (selector, 8 proof
    // words, 5 inputs = 420 bytes).
    let calldata = tx - 215_806 - 21_000;
    assert!((4 * 420..=16 * 420).contains(&calldata), "{tx}");
    assert_eq!(evm["poseidon_hash_gas"]["t3"]["execution"], 22_287);
    assert_eq!(evm["deposit_gas"], BENCH_DEPOSIT_GAS, "{evm}");
    let all_in = evm["deposit_gas_all_in"].as_u64().expect("all-in gas");
    let append = evm["append_batch_gas"]["tx"].as_u64().expect("append gas");
    assert!(all_in > BENCH_DEPOSIT_GAS + append / 64, "{evm}");
    // Stages 3 and 4 (docs/evm.md §5, §7): opens, withdrawal and reclaim are
    // measured on the contract; the settlement of 64 sessions only when
    // settle_64 is benchmarked (it needs 64 access proofs and a settle_64
    // proof), so not here.
    let gas = |op: &str| evm[op].as_u64().unwrap_or_else(|| panic!("{op}: {evm}"));
    assert_eq!(evm["open_batch_size"], 16);
    assert!(
        gas("open_gas_per_session_batched") < gas("open_gas"),
        "{evm}"
    );
    assert!(
        gas("withdraw_gas") > 242_806,
        "more than its verifier alone: {evm}"
    );
    assert!(gas("reclaim_gas") > 0);
    assert!(
        evm["settle_gas_per_session_k64"].is_null() && evm["settle_64_gas"].is_null(),
        "settle_64 was not benchmarked, so its gas is not reported: {evm}"
    );
    assert_eq!(v["circuits"]["settle_1"]["constraints"], 7_346);
}

/// A deposit's gas as `veil_evm::measure::ledger_gas` makes it (pinned in
/// `crates/evm/tests/ledger_escrow.rs` too).
const BENCH_DEPOSIT_GAS: u64 = 116_259;

/// Without `--dev-keys`, every command that proves or verifies uses the
/// ceremony keys of params/: none are pinned yet, so each refuses with an
/// error naming both ways out, and creates nothing.
#[test]
fn without_dev_keys_no_command_uses_the_development_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cache = d.join("cache");
    let db = d.join("ledger.redb");
    let out_dir = d.join("out");
    let commands: Vec<Vec<String>> = vec![
        vec!["demo".into()],
        vec![
            "ledger".into(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--db".into(),
            db.display().to_string(),
        ],
        vec![
            "export".into(),
            "proof".into(),
            "--circuit".into(),
            "access".into(),
            "--out".into(),
            out_dir.display().to_string(),
        ],
        vec![
            "export".into(),
            "vk".into(),
            "--circuit".into(),
            "withdraw".into(),
            "--out".into(),
            out_dir.display().to_string(),
        ],
        vec![
            "export".into(),
            "solidity".into(),
            "--circuit".into(),
            "access".into(),
            "--out".into(),
            out_dir.display().to_string(),
        ],
    ];
    for args in &commands {
        let out = run(veil_default().args(args).env("VEIL_PARAMS_CACHE", &cache));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("no ceremony key is pinned") && err.contains("--dev-keys"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("INSECURE development setup"),
            "{args:?}: {err}"
        );
    }
    assert!(!cache.exists() && !db.exists() && !out_dir.exists());
    // With the flag, the same export works and says loudly what it used.
    let out = run(veil()
        .args(["export", "vk", "--circuit", "withdraw", "--out"])
        .arg(&out_dir)
        .env("VEIL_PARAMS_CACHE", &cache));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("INSECURE"),
        "{}",
        text(&out.stderr)
    );
    assert!(out_dir.join("verification_key.json").exists());
}
