//! Monitors end to end (docs/market.md §7.1, docs/protocol.md §8.3.13),
//! every party its own `veil` process over real gRPC on loopback: three
//! wallets register as monitors (`veil monitor register`; a second
//! registration is refused and the monitor's record is unchanged); before
//! the next epoch none is
//! assigned; then each audits the node with `veil monitor run` through an
//! ordinary paid session, fetching from `veil monitor target`, and signs
//! its report and challenges the node on the ledger, which the node
//! process answers with its key; when the report window closes `veil
//! nodes` shows the ledger's verdict with three reports and no challenge
//! open or missed; a monitor retires and an early release of its stake is
//! refused with the height it may leave at.
//!
//! Needs the `veil` binary (target/debug/veil, or VEIL_BIN).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use stack::{Setup, Stack};

/// Blocks per market epoch (`veil_ledger::trade::MARKET_EPOCH_BLOCKS`).
const EPOCH_BLOCKS: u64 = 100;
/// A guard against a hung test only, never a measurement.
const WAIT: Duration = Duration::from_secs(180);

fn show(stack: &Stack, wallet: &str) -> serde_json::Value {
    let out = stack.veil(&[
        "monitor",
        "show",
        "--wallet",
        wallet,
        "--ledger",
        &stack.ledger_url,
        "--json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("monitor show JSON ({e}): {out}"))
}

fn epoch(stack: &Stack, wallet: &str) -> u64 {
    show(stack, wallet)["epoch"].as_u64().expect("epoch")
}

fn the_node(stack: &Stack) -> serde_json::Value {
    let out = stack.veil(&["nodes", "--ledger", &stack.ledger_url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("nodes JSON");
    v["nodes"][0].clone()
}

#[test]
fn monitors_audit_a_node_as_ordinary_clients_and_the_ledger_judges_it() {
    // 200 ms blocks: an epoch lasts 20 s, a report window 40 s.
    let mut stack = Stack::start(Setup {
        block_interval_ms: 200,
        ..Setup::default()
    });
    let target = format!("127.0.0.1:{}", procs::free_port());
    let cmd = {
        let mut c = stack.command();
        c.args(["monitor", "target", "--listen", &target]);
        c
    };
    stack
        .spawn("target", cmd)
        .err
        .wait_for("measurement target on ", "veil monitor target");

    let monitors: Vec<String> = (0..3)
        .map(|i| stack.funded_wallet(&format!("monitor{i}")))
        .collect();
    let ledger = stack.ledger_url.clone();
    for m in &monitors {
        let out = stack.veil(&[
            "monitor",
            "register",
            "--wallet",
            m,
            "--ledger",
            &ledger,
            "500",
            "--dev-faucet",
        ]);
        assert!(out.contains("staked 500"), "{out}");
    }
    // A second registration is refused with the ledger's reason.
    let again = stack
        .command()
        .args([
            "monitor",
            "register",
            "--wallet",
            &monitors[0],
            "--ledger",
            &ledger,
            "1",
        ])
        .output()
        .expect("run veil");
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already a monitor"), "{err}");
    let registered = show(&stack, &monitors[0]);
    assert_eq!(registered["monitor"]["stake"].as_u64(), Some(500));
    assert!(
        registered["assigned"]
            .as_array()
            .is_some_and(|a| a.is_empty())
    );

    // The next epoch assigns all three to the only node.
    let first = epoch(&stack, &monitors[0]);
    let deadline = Instant::now() + WAIT;
    while epoch(&stack, &monitors[0]) == first {
        assert!(
            Instant::now() < deadline,
            "the clock did not reach the next epoch"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let node_id = the_node(&stack)["node_id"]
        .as_str()
        .expect("node id")
        .to_owned();
    for m in &monitors {
        let view = show(&stack, m);
        assert_eq!(view["assigned"], serde_json::json!([node_id]), "{view}");
    }
    // The three audits at once, early in the epoch: one epoch's quorum.
    let runs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = monitors
            .iter()
            .map(|m| {
                let mut c = stack.command();
                c.args(["monitor", "run", "--wallet", m, "--ledger", &ledger])
                    .args(["--target", &target, "--escrow", "4096"])
                    .args(["--bytes", "1048576", "--json"]);
                scope.spawn(move || c.output().expect("run veil monitor run"))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut epochs = Vec::new();
    for out in &runs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("monitor run JSON");
        let r = &v["reports"][0];
        assert_eq!(r["node"].as_str(), Some(node_id.as_str()), "{v}");
        assert!(r["throughput_kbps"].as_u64() > Some(0), "{v}");
        assert_eq!(r["challenges_ok"].as_u64(), Some(1), "{v}");
        assert!(r["ledger_challenge_deadline"].as_u64() > Some(0), "{v}");
        epochs.push(r["epoch"].as_u64().expect("epoch"));
    }
    epochs.dedup();
    assert_eq!(epochs.len(), 1, "the audits straddled an epoch: {epochs:?}");
    let audited = epochs[0];

    // Two epochs on, the verdict is in the node's record.
    let deadline = Instant::now() + WAIT;
    let (verdict, challenges) = loop {
        let node = the_node(&stack);
        if !node["audit"].is_null() {
            break (node["audit"].clone(), node["ledger_challenges"].clone());
        }
        assert!(Instant::now() < deadline, "no verdict: {node}");
        std::thread::sleep(Duration::from_millis(500));
    };
    // Each run also challenged the node on the ledger (§8.3.14); the node
    // process answered all three with its key before their deadline, which
    // the clock has passed by now: none open, none missed.
    assert_eq!(
        challenges,
        serde_json::json!({ "open": 0, "missed": 0 }),
        "the node left ledger challenges unanswered"
    );
    assert_eq!(verdict["epoch"].as_u64(), Some(audited), "{verdict}");
    assert_eq!(verdict["reports"].as_u64(), Some(3), "{verdict}");
    // The node claims no capacity: nothing to under-deliver.
    assert_eq!(
        verdict["delivered_ppm"].as_u64(),
        Some(1_000_000),
        "{verdict}"
    );
    assert_eq!(verdict["slashed_total"].as_u64(), Some(0), "{verdict}");
    // Judged when the clock entered the epoch two after the audited one.
    let now = epoch(&stack, &monitors[0]);
    assert!(
        now >= audited + 2,
        "epoch {now} after auditing {audited} ({EPOCH_BLOCKS} blocks each)"
    );

    // A monitor leaves: retired, it is told when its stake comes back, and
    // an early release is refused with that height.
    let exit = |step: &str| {
        stack
            .command()
            .args([
                "monitor",
                step,
                "--wallet",
                &monitors[2],
                "--ledger",
                &ledger,
            ])
            .output()
            .expect("run veil")
    };
    let retired = exit("retire");
    assert!(
        retired.status.success(),
        "{}",
        String::from_utf8_lossy(&retired.stderr)
    );
    let view = show(&stack, &monitors[2]);
    let releasable = view["monitor"]["releasable_at"]
        .as_u64()
        .unwrap_or_else(|| panic!("retired: {view}"));
    let early = exit("release");
    assert!(!early.status.success(), "released two epochs early");
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(
        err.contains(&format!("stake locked until height {releasable}")),
        "{err}"
    );
    assert_eq!(
        show(&stack, &monitors[2])["monitor"]["stake"].as_u64(),
        Some(500)
    );
}
