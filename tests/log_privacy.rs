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
//!
//! The same lines, and the messages of errors provoked on purpose (a
//! tampered wallet, bad key files of the wallet, the node and an EVM
//! account, an access proof that does not verify), are searched for every
//! secret of the run (issue 17; docs/security.md, "Secrets in memory"):
//! the wallet's spending key, account key, session keys and refund keys,
//! the node's node, account, voucher issuer (both epochs: the run rotates
//! it with `veil node rotate-voucher-key`) and TLS keys from its
//! directory, and the voucher credentials the run buys and spends.

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

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use log_scan::{Finding, Needle, TRACE_FILTER, scan};
use stack::{Setup, Stack};
use veil_client::vouchers::VoucherWallet;
use veil_client::wallet::{NoteStatus, Wallet};
use veil_ledger::{LedgerApi, RemoteLedger};
use veil_primitives::Fr;
use veil_primitives::ids::SessionId;
use veil_primitives::note::Nullifier;
use veil_proofs::AccessToken;

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

/// Every secret of the run: the wallet's keys (its file), the node's keys
/// (its directory) and the wallet's voucher credentials.
fn secret_needles(wallet: &str, node_dir: &Path) -> Vec<Needle> {
    let w = Wallet::open(Path::new(wallet)).expect("open wallet");
    let sk = w.spending_key();
    let mut needles = vec![
        Needle::fr("wallet spending key", &sk.inner()),
        Needle::bytes("wallet account key", w.account_key().seed()),
    ];
    for (i, s) in w.data.sessions.iter().enumerate() {
        needles.push(Needle::bytes(
            &format!("session key {i}"),
            &s.session_seed.0,
        ));
        let refund = s.refund_key(&sk).inner();
        needles.push(Needle::fr(&format!("refund key {i}"), &refund));
    }
    let file = |name: &str| std::fs::read(node_dir.join(name)).expect(name);
    for name in ["node.key", "account.key"] {
        let seed: [u8; 32] = file(name).try_into().expect("32-byte seed");
        needles.push(Needle::bytes(name, &seed));
    }
    // IssuerSecretKey::to_bytes: version, epoch (8 bytes), then x; the
    // previous epoch's file puts a version and its grace end (8) before it.
    // The run rotated the key: both epochs' keys are searched.
    needles.push(Needle::secret(
        "voucher issuer key x",
        &file("voucher.key")[9..],
    ));
    needles.push(Needle::secret(
        "previous voucher issuer key x",
        &file("voucher.prev.key")[18..],
    ));
    let pem = String::from_utf8(file("tls.key")).expect("pem");
    let (der, lines) = log_scan::pem_body(&pem).expect("tls.key is PEM");
    needles.push(Needle::secret("tls key (DER)", &der));
    let scalar = log_scan::ec_private_scalar(&der).expect("an EC key");
    needles.push(Needle::bytes("tls key scalar", &scalar));
    for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.len() >= 16) {
        needles.push(Needle::text(&format!("tls key PEM line {i}"), l));
    }
    let vouchers = VoucherWallet::open(Path::new(wallet)).expect("vouchers");
    assert!(
        !vouchers.credentials().is_empty(),
        "the run holds a voucher"
    );
    for (i, c) in vouchers.credentials().iter().enumerate() {
        // Credential::to_bytes: k, r, e at 81, 113, 145; A at 177.
        let b = c.to_bytes();
        needles.push(Needle::secret(&format!("voucher {i}"), &b));
        for (name, at) in [("k", 81), ("r", 113), ("e", 145), ("A", 177)] {
            needles.push(Needle::secret(
                &format!("voucher {i} {name}"),
                &b[at..at + 32],
            ));
        }
    }
    needles
}

/// `veil node rotate-voucher-key` on the running node, then waits (a
/// bounded guard) until the node has promoted the staged key, so the
/// previous epoch's key file exists and the node logged the promotion.
fn rotate_the_voucher_key(stack: &Stack) {
    let db = stack.path("node");
    let out = stack.veil(&[
        "node",
        "rotate-voucher-key",
        "--ledger",
        &stack.ledger_url,
        "--db",
        &db,
    ]);
    assert!(out.contains("voucher epoch 1 "), "{out}");
    let prev = Path::new(&db).join("voucher.prev.key");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !prev.exists() {
        assert!(
            Instant::now() < deadline,
            "the node did not promote the rotated key"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `cmd` to its end (killed, and the test failed, after `secs`).
fn run_to_end(mut cmd: Command, secs: u64) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil");
    let id = child.id();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    loop {
        if let Ok(out) = rx.try_recv() {
            return out.expect("wait veil");
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) on the child this function spawned.
            unsafe { libc::kill(id as i32, libc::SIGKILL) };
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A file only its owner may read (the key files' rule), or others too.
fn write_file(path: &str, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Commands that fail on a bad secret file, each with a word its message
/// must carry; returns every line they printed.
fn provoke_key_file_errors(stack: &Stack, wallet: &str) -> Vec<(String, String)> {
    let saved = std::fs::read_to_string(wallet).expect("wallet");
    let w = Wallet::open(Path::new(wallet)).expect("open wallet");
    let sk_hex = hex::encode(w.spending_key().to_bytes());
    let node_dir = Path::new(&stack.path("node")).to_owned();
    let node_seed = std::fs::read(node_dir.join("node.key")).expect("node.key");
    let account_seed = std::fs::read(node_dir.join("account.key")).expect("account.key");

    // The wallet's key in upper case (refused: the file is lower case),
    // the wallet readable by others, a spending-key file 2 digits long.
    let upper = stack.path("upper.wallet");
    write_file(
        &upper,
        saved.replace(&sk_hex, &sk_hex.to_uppercase()).as_bytes(),
        0o600,
    );
    let open = stack.path("open.wallet");
    write_file(&open, saved.as_bytes(), 0o644);
    let long_key = stack.path("long.key");
    write_file(&long_key, format!("{sk_hex}00\n").as_bytes(), 0o600);
    // A node key with a byte too many; an account key others may read.
    let bad_nodes = [
        ("node.key", [&node_seed[..], b"\n"].concat(), 0o600),
        ("account.key", account_seed, 0o644),
    ];
    // An EVM key file with a secret and a stray digit.
    let evm = stack.path("evm.key");
    write_file(
        &evm,
        format!("0x{}z\n", hex::encode(&node_seed)).as_bytes(),
        0o600,
    );

    let mut cases: Vec<(String, Command, &str)> = Vec::new();
    let veil = |args: &[&str]| {
        let mut c = stack.command();
        c.args(args);
        c
    };
    cases.push((
        "upper".into(),
        veil(&["wallet", "address", "--wallet", &upper]),
        "hex digit",
    ));
    cases.push((
        "open".into(),
        veil(&["wallet", "address", "--wallet", &open]),
        "chmod 600",
    ));
    let fresh = stack.path("fresh.wallet");
    let new = ["wallet", "new", "--wallet", &fresh, "--key-file", &long_key];
    cases.push(("long key".into(), veil(&new), "64 hex digits"));
    for (i, (file, bytes, mode)) in bad_nodes.into_iter().enumerate() {
        let dir = stack.path(&format!("bad-node-{i}"));
        std::fs::create_dir(&dir).expect("mkdir");
        write_file(&format!("{dir}/{file}"), &bytes, mode);
        let mut c = veil(&["node", "serve", "--ledger", &stack.ledger_url]);
        c.args([
            "--listen",
            "127.0.0.1:0",
            "--price-per-kib",
            "1",
            "--escrow-sizes",
            "4096",
        ])
        .args(["--egress-allow", "127.0.0.1/32", "--db", &dir]);
        let word = if mode == 0o600 {
            "not a valid key"
        } else {
            "0600"
        };
        cases.push((format!("node {file}"), c, word));
    }
    let deploy = [
        "ledger",
        "deploy",
        "--rpc",
        "http://127.0.0.1:9",
        "--key-file",
        &evm,
    ];
    cases.push(("evm key".into(), veil(&deploy), "secp256k1"));

    let mut lines = Vec::new();
    for (who, cmd, word) in cases {
        let out = run_to_end(cmd, 120);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{who}: succeeded: {text}");
        assert!(text.contains(word), "{who}: no {word:?} in {text}");
        lines.extend(
            text.lines()
                .map(|l| (format!("error: {who}"), l.to_owned())),
        );
    }
    lines
}

/// An access token whose statement the proof does not prove (a fresh
/// nullifier, the current root, a valid expiry: it passes the cheap
/// checks), sent to the ledger; the error's `Display` and `Debug`.
async fn provoke_a_bad_proof(ledger_url: &str, wallet: &str) -> Vec<(String, String)> {
    let w = Wallet::open(Path::new(wallet)).expect("open wallet");
    let session = w.data.sessions.first().expect("a session");
    let token = AccessToken::from_bytes(&hex::decode(&session.token).expect("hex")).expect("token");
    let ledger = RemoteLedger::connect(ledger_url).await.expect("ledger");
    let status = ledger.status().await.expect("status");
    let mut public = token.public;
    public.nullifier = Nullifier::from_fr(Fr::from(0x5eed_u64) + token.public.nullifier.inner());
    public.root = status.root;
    public.expiry = veil_primitives::ids::BlockHeight(status.height.0 + 100);
    let err = ledger
        .open_escrow(public, veil_ledger::types::Proof(token.proof.to_bytes()))
        .await
        .expect_err("a proof of another statement");
    let text = format!("{err}\n{err:?}");
    assert!(
        text.to_lowercase().contains("proof"),
        "not a proof error: {text}"
    );
    text.lines()
        .map(|l| ("error: bad proof".to_owned(), l.to_owned()))
        .collect()
}

/// Buys a voucher with an escrow session and spends it on one connection
/// (`veil voucher buy`, `veil connect --voucher`; docs/vouchers.md §9).
fn buy_and_spend_a_voucher(stack: &mut Stack, rt: &tokio::runtime::Runtime, wallet: &str) {
    let (ledger, node) = (stack.ledger_url.clone(), stack.node_url.clone());
    let escrow = stack.setup.escrow.to_string();
    stack.veil(&[
        "voucher", "buy", "--wallet", wallet, "--ledger", &ledger, "--node", &node, "--escrow",
        &escrow,
    ]);
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let mut cmd = stack.connect_command(wallet, &socks);
    cmd.args(["--voucher", "--voucher-kib", "256"]);
    let p = stack.spawn("connect", cmd);
    let index = p.index;
    p.err.wait_for("SOCKS5 on ", "veil connect --voucher");
    let dest = rt.block_on(http::http_server());
    let n = 50_000;
    let body = rt.block_on(http::fetch(socks.parse().expect("socks"), dest, n));
    assert!(
        body == procs::expected_body(n),
        "bytes through the voucher-paid connection differ"
    );
    stack.stop_connect(index);
}

#[test]
fn json_logs_of_a_run_carry_no_nullifier_commitment_or_secret() {
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

    // While the pool still holds an escrow's worth (the cheap checks pass).
    let mut errors = rt.block_on(provoke_a_bad_proof(&stack.ledger_url, &wallet));
    buy_and_spend_a_voucher(&mut stack, &rt, &wallet);
    rotate_the_voucher_key(&stack);

    let (mut needles, sids) = rt.block_on(needles(&stack.ledger_url, &wallet));
    let linking = needles.len();
    let secrets = secret_needles(&wallet, Path::new(&stack.path("node")));
    let secret_count = secrets.len();
    needles.extend(secrets);
    errors.extend(provoke_key_file_errors(&stack, &wallet));
    let error_count = errors.len();
    // The servers log what the errors did to them: read their lines after.
    let mut lines = stack.all_lines();
    lines.extend(errors);

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
        "{} lines reveal linking data or a secret:\n{}",
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
    // A secret is found wherever it would show: the spending key as a
    // little-endian `Debug` in capitals, a node key seed in an error.
    let w = Wallet::open(Path::new(&wallet)).expect("open wallet");
    let mut le = w.spending_key().to_bytes();
    le.reverse();
    let planted = format!("wallet error: key Fr(0x{})", hex::encode_upper(le));
    assert_eq!(
        scan(&planted, &needles),
        [Finding::Value("wallet spending key".into())]
    );
    let seed = std::fs::read(Path::new(&stack.path("node")).join("node.key")).expect("node.key");
    let planted = format!("key file node.key: bad seed {}", hex::encode(seed));
    assert_eq!(
        scan(&planted, &needles),
        [Finding::Value("node.key".into())]
    );
    let with_address = lines.iter().filter(|(_, l)| log_scan::has_ipv4(l)).count();
    assert!(with_address > 0, "no line names an address");
    if let Some(path) = std::env::var_os("VEIL_LOG_DUMP") {
        let text: Vec<String> = lines.iter().map(|(w, l)| format!("{w}\t{l}")).collect();
        std::fs::write(path, text.join("\n")).expect("write VEIL_LOG_DUMP");
    }
    eprintln!(
        "log_privacy: {} lines ({} JSON, {with_address} naming an address, {error_count} of \
         provoked errors) from {} processes and {} commands, {linking} linking values and \
         {secret_count} secrets searched",
        lines.len(),
        lines.iter().filter(|(_, l)| is_json_log(l)).count(),
        stack.procs.len(),
        stack.runs.lock().map(|r| r.len()).unwrap_or(0),
    );
}
