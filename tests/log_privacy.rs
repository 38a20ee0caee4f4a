//! The privacy rule of docs/protocol.md §9.2 (C10) in the JSON logs of a
//! whole run (issue 16; docs/operations.md, "Logs"): `veil ledger serve`,
//! `veil node serve`, `veil wallet …` and `veil connect`, each its own
//! process with `--log-format json` at the trace filter of the privacy
//! tests, through deposit, session, relay, receipts, settlement, the
//! refund sync and a withdrawal.
//!
//! Afterwards the run's session ids, the nullifier of every note of the
//! wallet (spent or not), the escrows' change commitments, session key
//! hashes, refund owners and reclaim notes, and every commitment of the
//! ledger's tree are read from the wallet file and the ledger, and every
//! line every process wrote is searched for them
//! (hex of either byte order, either case, and decimal), and for the first
//! four bytes of any of them on a line naming an address
//! (`support/log_scan.rs`). Every log line is JSON. The in-process
//! counterpart, with the text format, is `privacy_sessions.rs` (d).

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

use log_scan::{Finding, Needle, TRACE_FILTER, scan};
use stack::{Setup, Stack};
use veil_client::wallet::{NoteStatus, Wallet};
use veil_ledger::{LedgerApi, RemoteLedger};
use veil_primitives::ids::SessionId;
use veil_primitives::note::Nullifier;

/// Whether `line` is a tracing line in the text format
/// (`2026-12-06T04:50:00.123Z  INFO target: …`), which `--log-format json`
/// must not produce.
fn is_text_log(line: &str) -> bool {
    let ts = line.split_whitespace().next().unwrap_or_default();
    let dated = ts.len() > 10 && ts.as_bytes()[4] == b'-' && ts.contains('T');
    dated
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
            .iter()
            .any(|l| line.split_whitespace().nth(1) == Some(l))
}

/// A JSON log line as `tracing-subscriber` writes it: an object with
/// `timestamp`, `level`, `target` and `fields`.
fn is_json_log(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
        ["timestamp", "level", "target", "fields"]
            .iter()
            .all(|k| v.get(k).is_some())
    })
}

#[test]
fn recognises_both_log_formats() {
    assert!(is_text_log(
        "2026-12-06T04:50:00.123456Z  INFO veil_node::server: node serving"
    ));
    assert!(!is_text_log("SOCKS5 on 127.0.0.1:1080"));
    let json = r#"{"timestamp":"2026-12-06T04:50:00.1Z","level":"INFO","fields":{"message":"node serving"},"target":"veil_node::server"}"#;
    assert!(is_json_log(json) && !is_text_log(json));
    assert!(!is_json_log("{\"level\":\"INFO\"}"));
}

/// What the run must not log, from the wallet file and the public ledger.
async fn needles(ledger_url: &str, wallet: &str) -> (Vec<Needle>, Vec<SessionId>) {
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wallet).expect("wallet file")).expect("wallet json");
    let sids: Vec<SessionId> = saved["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let hex = s["nullifier"].as_str().expect("nullifier");
            let b: [u8; 32] = hex::decode(hex).expect("hex").try_into().expect("32 bytes");
            SessionId::from_bytes(&b).expect("canonical")
        })
        .collect();
    assert!(!sids.is_empty(), "no session in {saved}");
    let ledger = RemoteLedger::connect(ledger_url).await.expect("ledger");
    let mut needles = Vec::new();
    for (i, sid) in sids.iter().enumerate() {
        let e = ledger
            .get_escrow(*sid)
            .await
            .expect("get_escrow")
            .expect("escrow");
        needles.push(Needle::fr(&format!("nullifier {i}"), &sid.inner()));
        needles.push(Needle::bytes(
            &format!("cm_change {i}"),
            &e.cm_change.to_bytes(),
        ));
        needles.push(Needle::bytes(
            &format!("h_S {i}"),
            &e.session_key_hash.to_bytes(),
        ));
        needles.push(Needle::bytes(
            &format!("rk {i}"),
            &e.refund_owner.to_bytes(),
        ));
        let reclaim = e.reclaim_commitment().to_bytes();
        needles.push(Needle::bytes(&format!("reclaim note {i}"), &reclaim));
    }
    // The nullifier of every other note of the wallet, spent or not (the
    // deposit's is the session id): the change, the refund, the
    // withdrawal's change.
    let w = Wallet::open(std::path::Path::new(wallet)).expect("open wallet");
    let sk = w.spending_key();
    let mut spent = 0;
    for (i, note) in w.data.notes.iter().enumerate() {
        let nf = Nullifier::derive(&note.spending_key(&sk), &note.rho());
        spent += usize::from(note.status == NoteStatus::Spent);
        if !sids.contains(&SessionId::from(nf)) {
            needles.push(Needle::fr(&format!("note {i} nullifier"), &nf.inner()));
        }
    }
    assert!(
        spent >= 2 && needles.len() >= 5 * sids.len() + 2,
        "two notes spent (deposit, withdrawal), other notes' nullifiers: {:?}",
        w.data.notes
    );
    let cms = ledger.commitments(0, 4096).await.expect("commitments");
    // Deposit, change, refund (and the filler of other tests: none here).
    assert!(cms.len() >= 3, "{} commitments", cms.len());
    for (i, cm) in cms.iter().enumerate() {
        needles.push(Needle::bytes(&format!("commitment {i}"), &cm.to_bytes()));
    }
    (needles, sids)
}

#[test]
fn json_logs_of_a_run_carry_no_nullifier_or_commitment() {
    let mut stack = Stack::start(Setup {
        json_logs: true,
        rust_log: Some(TRACE_FILTER.to_owned()),
        ..Setup::default()
    });
    let wallet = stack.funded_wallet("alice");
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let (connect, _) = stack.connect(&wallet, &socks);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dest = rt.block_on(http::http_server());
    let n = 100_000;
    let body = rt.block_on(http::fetch(socks.parse().expect("socks"), dest, n));
    assert!(
        body == procs::expected_body(n),
        "bytes through the SOCKS5 port differ"
    );
    stack.stop_connect(connect);
    let after_open = stack.setup.deposit - stack.setup.escrow;
    let refund = stack.wait_refund(&wallet, after_open, 60);
    assert!(
        refund < stack.setup.escrow,
        "the node was paid: refund {refund}"
    );
    // Withdraw (a withdraw proof spends a note): another nullifier.
    let ledger = stack.ledger_url.clone();
    let amount = refund.to_string();
    stack.veil(&[
        "wallet", "withdraw", "--wallet", &wallet, "--ledger", &ledger, &amount,
    ]);

    let (needles, sids) = rt.block_on(needles(&stack.ledger_url, &wallet));
    let lines = stack.all_lines();

    // Every log line is JSON, and the servers did log (at trace level).
    for (who, line) in stack.stderr_lines() {
        assert!(
            !is_text_log(&line),
            "{who} logged text with --log-format json: {line}"
        );
    }
    for who in ["ledger", "node", "connect"] {
        let json = lines
            .iter()
            .filter(|(w, l)| w == who && is_json_log(l))
            .count();
        assert!(json > 0, "{who} wrote no JSON log line");
    }

    // No line of any process reveals what it must not.
    let mut bad = Vec::new();
    for (who, line) in &lines {
        for f in scan(line, &needles) {
            bad.push(format!("{who}: {f:?}: {line}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} lines reveal linking data:\n{}",
        bad.len(),
        bad.join("\n")
    );

    // The search is not vacuous: lines name addresses (the transport's
    // debug events, the servers' own), and a line pairing this run's session id with
    // an address, as a careless `info!(%peer, %sid)` would write it, is found.
    let planted = format!(
        r#"{{"level":"INFO","fields":{{"message":"session opened","peer":"127.0.0.1:40000","session":"{}"}}}}"#,
        sids[0]
    );
    assert_eq!(
        scan(&planted, &needles),
        [Finding::Value("nullifier 0".into())]
    );
    let with_address = lines.iter().filter(|(_, l)| log_scan::has_ipv4(l)).count();
    assert!(with_address > 0, "no line names an address");
    if let Some(path) = std::env::var_os("VEIL_LOG_DUMP") {
        let text: Vec<String> = lines.iter().map(|(w, l)| format!("{w}\t{l}")).collect();
        std::fs::write(path, text.join("\n")).expect("write VEIL_LOG_DUMP");
    }
    eprintln!(
        "log_privacy: {} lines ({} JSON, {with_address} naming an address) from {} processes \
         and {} commands, {} values searched",
        lines.len(),
        lines.iter().filter(|(_, l)| is_json_log(l)).count(),
        stack.procs.len(),
        stack.runs.lock().map(|r| r.len()).unwrap_or(0),
        needles.len()
    );
}
