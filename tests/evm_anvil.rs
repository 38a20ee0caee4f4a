//! The EVM ledger on a real anvil over JSON-RPC (docs/evm.md §6).
//!
//! - `veil ledger deploy` puts the ledger and everything it calls on the
//!   chain and prints their addresses; a key file others may read, or an
//!   unreachable endpoint, is refused with nothing deployed.
//! - The sample operations of `veil_evm::sample` (64 deposits, their
//!   proven append, a node, a batch of escrows, a withdrawal, a settlement
//!   of three escrows by the node's operator with a `settle_8` proof, a
//!   reclaim after the window) run through `veil_evm_rpc::RpcChain` with the same
//!   results, events and gas as in the in-process sandbox (the bytes are
//!   the same; anvil runs Cancun like the sandbox).
//! - A node's batch of opens drops, after simulating each token alone, a
//!   token a front-runner opened first and a token listed twice, and
//!   opens the rest in one transaction.
//! - A transaction dropped from the mempool, or undone by a reorg, is
//!   broadcast again as the same signed bytes and applies exactly once;
//!   sending the operation again is refused by the contract
//!   (`NullifierSpent`): retries never double.
//!
//! anvil comes from `tools/anvil` (npm, pinned). Without it these tests
//! print a loud skip line and pass, unless `VEIL_REQUIRE_ANVIL=1` (CI sets
//! it), when they fail.

#[path = "support/bin.rs"]
mod bin;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use alloy::primitives::Address;
use alloy::providers::Provider;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::access::AccessPublic;
use veil_evm::abi::{Word, selector, word_u64};
use veil_evm::escrow::{self, AccessWords, EscrowTerms, WithdrawWords};
use veil_evm::ledger::{self, LedgerEvent, LedgerRevert};
use veil_evm::{sample, token};
use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
use veil_evm_rpc::{RpcChain, RpcError, deploy_ledger, key};
use veil_proofs::{CircuitId, ParamStore, Prover};

fn anvil(what: &str) -> Option<Anvil> {
    Anvil::for_test(what)
}

fn key_file(dir: &Path, mode: u32) -> std::path::PathBuf {
    let p = dir.join(format!("deployer-{mode:o}.key"));
    std::fs::write(&p, format!("{FIRST_DEV_KEY}\n")).expect("write key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

/// The ledger deployed on `a` by anvil's first development key (challenge
/// window 20, max expiry delta 10,000), and that key's chain handle.
async fn deployed_by_first_dev_key(a: &Anvil) -> (RpcChain, veil_evm_rpc::RpcDeployment) {
    let signer =
        key::Signer::from_slice(&alloy::hex::decode(FIRST_DEV_KEY).expect("hex")).expect("key");
    let chain = RpcChain::connect(&a.url, signer).await.expect("connect");
    let d = deploy_ledger(&chain, None, 20, 10_000)
        .await
        .expect("deploy");
    (chain, d)
}

/// [`deployed_by_first_dev_key`] and the ledger backend over it, its
/// faucet the deployer (the development token's minter).
async fn faucet_ledger(
    a: &Anvil,
) -> (
    RpcChain,
    veil_evm_rpc::RpcDeployment,
    veil_evm_rpc::EvmLedger,
) {
    let (chain, d) = deployed_by_first_dev_key(a).await;
    let spec = veil_evm_rpc::EvmLedgerSpec {
        rpc: a.url.clone(),
        ledger: d.ledger,
        from_block: d.block,
    };
    let ledger = veil_evm_rpc::EvmLedger::connect(chain.clone(), &spec)
        .await
        .expect("ledger")
        .with_faucet(chain.clone());
    (chain, d, ledger)
}

/// A fresh key on `base`'s ledger holding `value` from the faucet: its
/// handle, account and chain.
async fn funded_party(
    a: &Anvil,
    base: &veil_evm_rpc::EvmLedger,
    value: u64,
) -> (
    veil_evm_rpc::EvmLedger,
    veil_ledger::types::AccountId,
    RpcChain,
) {
    use veil_ledger::LedgerApi;
    let c = RpcChain::connect(&a.url, key::Signer::random())
        .await
        .expect("connect");
    let l = base.acting_as(c.clone());
    let me = l.acting_account().expect("sender");
    l.faucet(me, veil_ledger::types::Value(value))
        .await
        .expect("faucet");
    (l, me, c)
}

async fn nonce(chain: &RpcChain) -> u64 {
    chain
        .provider()
        .get_transaction_count(chain.address())
        .await
        .expect("nonce")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veil_ledger_deploy_puts_the_ledger_on_anvil() {
    let Some(a) = anvil("veil ledger deploy") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = key::load(&key_file(dir.path(), 0o600)).expect("key");
    let chain = RpcChain::connect(&a.url, signer).await.expect("connect");
    let deploy = |key: &Path, rpc: &str| {
        Command::new(bin::veil_bin())
            .args(["ledger", "deploy", "--rpc", rpc, "--key-file"])
            .arg(key)
            .output()
            .expect("run veil")
    };
    // Refused, nothing sent: a key others may read, an unreachable node.
    let open_key = key_file(dir.path(), 0o644);
    let out = deploy(&open_key, &a.url);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let good_key = key_file(dir.path(), 0o600);
    let out = deploy(&good_key, "http://127.0.0.1:9");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        nonce(&chain).await,
        0,
        "a refused deploy sent a transaction"
    );
    // A new key (veil ledger evm-key) holds no ETH: the node refuses its
    // first transaction at once, and the deploy fails without waiting for a
    // receipt that cannot come.
    let fresh = dir.path().join("fresh.key");
    let new_key = || {
        Command::new(bin::veil_bin())
            .args(["ledger", "evm-key", "--out"])
            .arg(&fresh)
            .output()
            .expect("run veil")
    };
    let out = new_key();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&fresh).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let started = std::time::Instant::now();
    let out = deploy(&fresh, &a.url);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fund it first"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "a transaction the account cannot pay is refused, not waited for"
    );
    assert_eq!(
        new_key().status.code(),
        Some(1),
        "an existing key file is never overwritten"
    );

    let out = deploy(&good_key, &a.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let addr = |k: &str| -> Address { json[k].as_str().expect(k).parse().expect("address") };
    assert_eq!(json["test_token"], true);
    let ledger_at = addr("ledger");
    for k in [
        "ledger",
        "token",
        "poseidon_t3",
        "poseidon_t4",
        "tree_insert_verifier",
        "access_verifier",
        "access_batch_verifier",
        "withdraw_verifier",
        "settle_1_verifier",
        "settle_8_verifier",
        "settle_64_verifier",
        "audits",
        "answer_verifier",
    ] {
        let code = chain.provider().get_code_at(addr(k)).await.expect("code");
        assert!(!code.is_empty(), "{k}: no code");
    }
    // The ledger calls what the JSON names.
    for (getter, k) in [
        ("token()", "token"),
        ("accessBatchVerifier()", "access_batch_verifier"),
        ("withdrawVerifier()", "withdraw_verifier"),
        ("settle64Verifier()", "settle_64_verifier"),
    ] {
        let w = chain
            .call(ledger_at, &selector(getter))
            .await
            .expect("call");
        assert_eq!(&w[12..], addr(k).as_slice(), "{getter}");
    }
    // The audits verify answers with the verifier the JSON names.
    let w = chain
        .call(addr("audits"), &selector("answerVerifier()"))
        .await
        .expect("call");
    assert_eq!(&w[12..], addr("answer_verifier").as_slice());
    let root = chain
        .call(ledger_at, &selector("currentRoot()"))
        .await
        .expect("root");
    assert_eq!(root, ledger::empty_root());
}

/// The sample state's proofs, made once.
struct Proofs {
    batch: ledger::BatchAppend,
    tokens: Vec<(AccessPublic, AccessWords)>,
    /// The settlement of the escrows of tokens 1..=3 (`settle_8`).
    settle: veil_evm::settle::SettleCall,
}

fn prove(recipient: Address) -> (Proofs, WithdrawWords) {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("params");
    let ids = [
        CircuitId::TreeInsert64,
        CircuitId::Access,
        CircuitId::Withdraw,
        CircuitId::Settle(veil_proofs::SettleSize::K8),
    ];
    let prover = Prover::from_store(&store, &ids, None).expect("keys");
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let tree = sample::tree();
    let leaves: Vec<_> = (0..64)
        .filter_map(|i| tree.leaf(i).map(|c| c.inner()))
        .collect();
    let frontier = veil_primitives::merkle::Frontier::new();
    let (batch, _) =
        ledger::prove_next_batch(&prover, &frontier, &leaves, &mut rng).expect("batch");
    let tokens = (0..4)
        .map(|i| {
            let p = sample::spend(&tree, i).expect("note");
            let st = sample::access_statement(&p, i, 300, 1).expect("statement");
            let t = prover.prove_access(&st, &p, &mut rng).expect("prove");
            (st, AccessWords::new(&st, &t.proof))
        })
        .collect::<Vec<(AccessPublic, AccessWords)>>();
    let mut slots: Vec<veil_circuits::settle::Slot> = (1..4)
        .map(|i| sample::settle_slot(&tokens[i].0, i, 20).expect("slot"))
        .collect();
    slots.resize(8, veil_circuits::settle::Slot::padding());
    let public = veil_circuits::settle::SettlePublic::for_slots(
        tokens[0].0.node_id,
        veil_primitives::value::Value(sample::PRICE),
        &slots,
    );
    let proof = prover
        .prove_settle::<8>(&public, slots, &mut rng)
        .expect("prove settle");
    let escrows: Vec<_> = tokens[1..]
        .iter()
        .map(|(st, w)| (w.nullifier(), EscrowTerms::of_token(st, sample::PRICE)))
        .collect();
    let settle = veil_evm::settle::SettleCall::new(&public, &escrows, &proof.proof)
        .expect("the settle call");
    let p = sample::spend(&tree, 10).expect("note");
    let st = sample::withdraw_statement(&p, 250, recipient).expect("statement");
    let w = prover.prove_withdraw(&st, &p, &mut rng).expect("prove");
    (
        Proofs {
            batch,
            tokens,
            settle,
        },
        WithdrawWords::new(&st, &w.proof),
    )
}

fn revert_of(e: RpcError) -> LedgerRevert {
    match e {
        RpcError::Reverted { data } => LedgerRevert::decode(&data).expect("a ledger error"),
        other => panic!("expected a revert, got {other}"),
    }
}

fn events(r: &veil_evm_rpc::Receipt, at: Address) -> Vec<LedgerEvent> {
    r.logs
        .iter()
        .filter(|l| l.address == at)
        .map(|l| LedgerEvent::decode(l).expect("event"))
        .collect()
}

/// Waits (a bounded guard) until anvil's pool is empty. Anvil shows a
/// mined transaction's receipt before it prunes the transaction from its
/// pool: an `evm_revert` in between would leave it there, valid again on
/// the reverted state, and anvil would mine it again unasked.
async fn pool_drained(chain: &RpcChain) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s: serde_json::Value = chain
            .provider()
            .raw_request("txpool_status".into(), ())
            .await
            .expect("txpool_status");
        let empty = |k: &str| s[k].as_str().is_some_and(|v| v == "0x0") || s[k] == 0;
        if empty("pending") && empty("queued") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "anvil's pool never drained: {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn u64_view(chain: &RpcChain, at: Address, sig: &str) -> u64 {
    let w = chain.call(at, &selector(sig)).await.expect("view");
    ledger::decode_u64(&w).expect("u64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_operations_run_on_anvil_and_retries_never_double() {
    let Some(a) = anvil("sample operations on anvil") else {
        return;
    };
    let (chain, d) = deployed_by_first_dev_key(&a).await;
    let (l, t) = (d.ledger, d.contracts.token);
    let me = chain.address();
    chain
        .send(t, &token::mint(me, alloy::primitives::U256::from(u64::MAX)))
        .await
        .expect("mint");
    chain
        .send(t, &token::approve(l, alloy::primitives::U256::MAX))
        .await
        .expect("approve");

    // Deposits: the sandbox's exact gas (bench: the second deposit).
    let mut deposit_gas = Vec::new();
    for addr in sample::deposit_addrs() {
        let r = chain
            .send(l, &ledger::deposit(addr, word_u64(sample::NOTE_VALUE)))
            .await
            .expect("deposit");
        deposit_gas.push(r.gas_used);
    }
    assert_eq!(
        deposit_gas[1], BENCH_DEPOSIT_GAS,
        "the sandbox measured the same bytes"
    );
    let recipient = Address::repeat_byte(0x42);
    let (proofs, withdrawal) = tokio::task::spawn_blocking(move || prove(recipient))
        .await
        .expect("prove");
    let r = chain
        .send(l, &proofs.batch.calldata())
        .await
        .expect("append");
    assert!(matches!(
        events(&r, l)[..],
        [LedgerEvent::BatchAppended { start: 0, .. }]
    ));
    // A registration: the commitment, then `registerNode` in a later
    // block (anvil mines each transaction in a block of its own).
    let registration = sample::registration(1).expect("node");
    let commitment = ledger::registration_commitment(chain.address(), &registration.node_key);
    chain
        .send(l, &ledger::commit_registration(commitment))
        .await
        .expect("commit");
    chain
        .send(l, &ledger::register_node(&registration))
        .await
        .expect("register");

    // A node's batch, sent by anyone (here: the deployer). A front-runner
    // opened token 1 alone first, and token 2 is listed twice: both are
    // dropped after simulation, the rest opens in one transaction.
    let node = sample::node_id(1).expect("node");
    let words: Vec<AccessWords> = proofs.tokens.iter().map(|(_, w)| *w).collect();
    chain
        .send(l, &escrow::open_escrow(node, &words[1]))
        .await
        .expect("front-run");
    let list = [words[1], words[2], words[3], words[2]];
    let b = veil_evm_rpc::open_batch(&chain, l, node, &list)
        .await
        .expect("open batch");
    assert_eq!(b.opened, vec![words[2].nullifier(), words[3].nullifier()]);
    assert_eq!(
        b.refused,
        vec![
            (words[1].nullifier(), LedgerRevert::NullifierSpent),
            (words[2].nullifier(), LedgerRevert::NullifierSpent),
        ]
    );
    assert_eq!(events(b.receipt.as_ref().expect("sent"), l).len(), 2);
    // Nothing left to open: nothing is sent.
    let none = veil_evm_rpc::open_batch(&chain, l, node, &list[..2])
        .await
        .expect("simulate");
    assert!(none.receipt.is_none() && none.opened.is_empty());

    // Dropped from the mempool: the same bytes again, applied once.
    dropped_open_is_broadcast_again_once(&chain, l, node, &words[0]).await;
    // Undone by a reorg (snapshot/revert): the same bytes again, once.
    reorged_withdrawal_is_broadcast_again_once(&chain, l, &withdrawal).await;
    assert_eq!(u64_view(&chain, l, "escrowed()").await, 4 * 300);

    // The node's operator (the deployer registered the node) settles
    // tokens 1..=3: 3 × 20 KiB × 3 paid, the rest back to the pool, three
    // refunds queued; a second settle of the same sessions is refused.
    let leaves = u64_view(&chain, l, "leafCount()").await;
    let r = chain
        .send(l, &proofs.settle.calldata())
        .await
        .expect("settle");
    assert!(matches!(
        &events(&r, l)[..],
        [LedgerEvent::Settled { total: 180, first_index, session_ids, .. }]
            if *first_index == leaves && session_ids.len() == 3
    ));
    assert_eq!(u64_view(&chain, l, "escrowed()").await, 300);
    assert_eq!(u64_view(&chain, l, "leafCount()").await, leaves + 3);
    let again = chain
        .send(l, &proofs.settle.calldata())
        .await
        .expect_err("a second settle");
    assert_eq!(revert_of(again), LedgerRevert::AlreadySettled);

    // Reclaim after the window, by anyone.
    let (st, w) = &proofs.tokens[0];
    let terms = EscrowTerms::of_token(st, sample::PRICE);
    let call = escrow::reclaim(w.nullifier(), &terms.words());
    let early = chain.send(l, &call).await.expect_err("before the window");
    assert!(matches!(
        revert_of(early),
        LedgerRevert::NotYetReclaimable(121)
    ));
    let height = chain.block_number().await.expect("height");
    let blocks = (sample::EXPIRY + 21).saturating_sub(height);
    chain.mine(blocks).await.expect("mine");
    let r = chain.send(l, &call).await.expect("reclaim");
    assert!(matches!(events(&r, l)[..], [LedgerEvent::Reclaimed { .. }]));
    assert_eq!(u64_view(&chain, l, "escrowed()").await, 0);
}

/// The bench's second deposit on the sandbox (`ledger_escrow.rs`,
/// `BENCH_GAS`): the same calldata costs the same on anvil.
const BENCH_DEPOSIT_GAS: u64 = 116_259;

async fn dropped_open_is_broadcast_again_once(
    chain: &RpcChain,
    l: Address,
    node: Word,
    w: &AccessWords,
) {
    let p = chain.provider();
    let _: serde_json::Value = p
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .expect("automine off");
    let signed = chain
        .sign(
            alloy::primitives::TxKind::Call(l),
            &escrow::open_escrow(node, w),
        )
        .await
        .expect("sign");
    let hash = *signed.tx_hash();
    let raw = alloy::eips::eip2718::Encodable2718::encoded_2718(&signed);
    let _ = p.send_raw_transaction(&raw).await.expect("broadcast");
    let _: serde_json::Value = p
        .raw_request("anvil_dropTransaction".into(), (hash,))
        .await
        .expect("drop");
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.expect("mine");
    assert!(
        p.get_transaction_receipt(hash)
            .await
            .expect("rpc")
            .is_none(),
        "dropped, not mined"
    );
    let _: serde_json::Value = p
        .raw_request("evm_setAutomine".into(), (true,))
        .await
        .expect("automine on");
    let r = chain.broadcast(&signed).await.expect("broadcast again");
    assert_eq!(r.hash, hash);
    assert_eq!(events(&r, l).len(), 1);
    // Again: the receipt of the same transaction, nothing new.
    let again = chain.broadcast(&signed).await.expect("once more");
    assert_eq!(again.block, r.block);
    // The operation itself, sent anew, is refused by the contract.
    let e = chain
        .send(l, &escrow::open_escrow(node, w))
        .await
        .expect_err("a second open");
    assert_eq!(revert_of(e), LedgerRevert::NullifierSpent);
}

async fn reorged_withdrawal_is_broadcast_again_once(
    chain: &RpcChain,
    l: Address,
    w: &WithdrawWords,
) {
    let p = chain.provider();
    let leaves = u64_view(chain, l, "leafCount()").await;
    let snapshot: serde_json::Value = p
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("snapshot");
    let signed = chain
        .sign(alloy::primitives::TxKind::Call(l), &escrow::withdraw(w))
        .await
        .expect("sign");
    let first = chain.broadcast(&signed).await.expect("withdraw");
    assert_eq!(u64_view(chain, l, "leafCount()").await, leaves + 1);
    pool_drained(chain).await;
    let reverted: bool = p
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("revert");
    assert!(reverted);
    assert_eq!(
        u64_view(chain, l, "leafCount()").await,
        leaves,
        "the reorg undid it"
    );
    let second = chain.broadcast(&signed).await.expect("withdraw again");
    assert_eq!(second.hash, first.hash);
    assert_eq!(
        u64_view(chain, l, "leafCount()").await,
        leaves + 1,
        "applied once"
    );
    let e = chain
        .send(l, &escrow::withdraw(w))
        .await
        .expect_err("a second withdrawal");
    assert_eq!(revert_of(e), LedgerRevert::NullifierSpent);
    let bal = chain
        .call(
            chain_token(chain, l).await,
            &token::balance_of(Address::repeat_byte(0x42)),
        )
        .await
        .expect("balance");
    assert_eq!(
        token::decode_u256(&bal).expect("u256"),
        alloy::primitives::U256::from(250u64)
    );
}

async fn chain_token(chain: &RpcChain, l: Address) -> Address {
    let w = chain.call(l, &selector("token()")).await.expect("token");
    Address::from_slice(&w[12..])
}

/// `EvmLedger`'s log index after a reorg (docs/evm.md §8.2): a deposit the
/// index has seen is undone by `evm_revert`, blocks are mined on the new
/// branch (the same heights, other hashes) with another deposit; the next
/// read rebuilds the index, so the undone deposit is gone and the new one
/// is there, at the same leaf index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_backend_follows_a_reorg() {
    use veil_evm_rpc::{EvmLedger, EvmLedgerSpec};
    use veil_ledger::LedgerApi;
    use veil_ledger::types::{DepositRequest, Value};
    let Some(a) = anvil("the log index after a reorg") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = key::load(&key_file(dir.path(), 0o600)).expect("key");
    let chain = RpcChain::connect(&a.url, signer).await.expect("connect");
    let d = deploy_ledger(&chain, None, 20, 10_000)
        .await
        .expect("deploy");
    let spec = EvmLedgerSpec {
        rpc: a.url.clone(),
        ledger: d.ledger,
        from_block: d.block,
    };
    let ledger = EvmLedger::connect(chain.clone(), &spec)
        .await
        .expect("ledger")
        .with_faucet(chain.clone());
    let me = ledger
        .acting_account()
        .expect("an EVM ledger acts as its key");
    ledger.faucet(me, Value(1_000)).await.expect("mint");
    let addr = |i: u64| veil_ledger::types::Address::from_fr(veil_primitives::Fr::from(i));
    let first = DepositRequest::from_sender(me, Value(10), addr(1));
    let r1 = ledger.deposit(first.clone()).await.expect("deposit");
    let p = chain.provider();
    let snapshot: serde_json::Value = p
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("snapshot");
    let undone = DepositRequest::from_sender(me, Value(20), addr(2));
    let r2 = ledger.deposit(undone.clone()).await.expect("deposit");
    assert_eq!(r2.leaf_index, r1.leaf_index + 1);
    pool_drained(&chain).await;
    let reverted: bool = p
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("revert");
    assert!(reverted);
    chain.mine(3).await.expect("mine");
    let other = DepositRequest::from_sender(me, Value(30), addr(3));
    let r3 = ledger
        .deposit(other)
        .await
        .expect("deposit on the new branch");
    assert_eq!(
        r3.leaf_index, r2.leaf_index,
        "the same index on the new branch"
    );
    assert_ne!(r3.commitment, r2.commitment);
    // The undone deposit is not applied: depositing it again is a new
    // deposit at the next index, not a retry of the old receipt.
    let again = ledger
        .deposit(undone)
        .await
        .expect("deposit the undone one again");
    assert_eq!(again.leaf_index, r3.leaf_index + 1);
    // A retry of a deposit that stands returns its receipt.
    assert_eq!(ledger.deposit(first).await.expect("retry"), r1);
    assert_eq!(
        ledger.balance(me).await.expect("balance"),
        Value(1_000 - 10 - 30 - 20)
    );
}

/// Audits through the EVM backend (docs/market.md §5.1), as `veil monitor`
/// drives them over `LedgerApi`: a node claiming 100 Mbit/s on 10,000 of
/// stake, six monitors; once the epoch after their registration has its
/// seed, `monitor()` tells each which nodes it audits, exactly as the
/// contract's assignment; the assigned monitors report 40 Mbit/s; a report
/// two epochs later runs the verdict (the backend judges what is due):
/// 1,000 slashed, 50 to each reporter, 750 burnt, shown by `get_node` and
/// in `status()`, the chain's turnstile holding; a retired monitor that
/// reported is released only once its report is judged, and then paid.
/// A node staking 10,000 for 100 Mbit/s and six monitors staking 500,
/// each party with its own key, the chain moved into the next audit epoch
/// past its reveal window and that epoch's seed drawn.
struct AuditWorld {
    op: veil_evm_rpc::EvmLedger,
    node: veil_ledger::types::NodeId,
    node_key: veil_primitives::eddsa::SigningKey,
    monitors: Vec<(veil_evm_rpc::EvmLedger, veil_ledger::types::AccountId)>,
    /// The epoch the seed was drawn for.
    epoch: u64,
}

async fn audit_world(
    a: &Anvil,
    chain: &RpcChain,
    d: &veil_evm_rpc::RpcDeployment,
    base: &veil_evm_rpc::EvmLedger,
) -> AuditWorld {
    use veil_ledger::LedgerApi;
    use veil_ledger::monitor::MonitorRegistration;
    use veil_ledger::profile::NodeProfile;
    use veil_ledger::types::{NodeRegistration, NodeTerms, Value};
    use veil_primitives::eddsa::SigningKey;
    let (op, op_account, _) = funded_party(a, base, 20_000).await;
    let node_key = SigningKey::from_seed([3; 32]).expect("seed");
    let terms = NodeTerms {
        profile: NodeProfile {
            capacity_mbit_s: 100,
            ..Default::default()
        }
        .encode()
        .expect("profile"),
        ..NodeTerms::new(Value(1), vec![Value(1_000)], [7; 32])
    };
    let reg = NodeRegistration::sign_for_sender(&node_key, op_account, Value(10_000), terms);
    let node = op
        .register_node(reg)
        .await
        .expect("register")
        .registration
        .node_id;
    let mut monitors = Vec::new();
    for _ in 0..6 {
        let (l, me, _) = funded_party(a, base, 1_000).await;
        l.register_monitor(MonitorRegistration::from_sender(me, Value(500)))
            .await
            .expect("monitor");
        monitors.push((l, me));
    }
    // Into the next epoch, past its reveal window: the seed can be drawn.
    let (l0, me0) = &monitors[0];
    let e0 = l0.monitor(*me0).await.expect("view").epoch;
    let height = op.status().await.expect("status").height.0;
    let next = (e0 + 1) * 100 + veil_evm_rpc::deploy::AUDIT_REVEAL_BLOCKS + d.block;
    chain
        .mine(next.saturating_sub(height) + 1)
        .await
        .expect("mine");
    l0.draw_audit_seed().await.expect("draw the seed");
    AuditWorld {
        op,
        node,
        node_key,
        monitors,
        epoch: e0 + 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_node_is_slashed_through_the_evm_backend() {
    use veil_ledger::LedgerApi;
    use veil_ledger::exit::ExitStep;
    use veil_ledger::monitor::{AuditReport, Measurement, MonitorExitRequest};
    use veil_ledger::types::Value;
    let Some(a) = anvil("audits through the EVM backend") else {
        return;
    };
    let (chain, d, base) = faucet_ledger(&a).await;
    let AuditWorld {
        op,
        node,
        monitors,
        epoch: e1,
        ..
    } = audit_world(&a, &chain, &d, &base).await;
    let mine = async |blocks: u64| {
        chain.mine(blocks).await.expect("mine");
    };
    let measured = Measurement {
        throughput_kbps: 40_000,
        rtt_ms: 30,
        ..Default::default()
    };
    let mut reporters = Vec::new();
    for (l, me) in &monitors {
        let view = l.monitor(*me).await.expect("view");
        let epoch = view.epoch;
        assert_eq!(epoch, e1);
        let r = l
            .submit_report(AuditReport::from_sender(*me, epoch, node, measured))
            .await;
        match (view.assigned.contains(&node), r) {
            (true, Ok(_)) => reporters.push((l.clone(), *me)),
            (false, Err(veil_ledger::LedgerError::NotAssigned)) => {}
            other => panic!("assignment and report disagree: {other:?}"),
        }
    }
    assert_eq!(reporters.len(), 5, "five of six monitors audit the node");
    let (retiring, retiring_me) = reporters[0].clone();
    retiring
        .exit_monitor(MonitorExitRequest::from_sender(
            retiring_me,
            ExitStep::Retire,
        ))
        .await
        .expect("retire");
    let balances = async || {
        let mut b = Vec::new();
        for (l, me) in &reporters {
            b.push(l.balance(*me).await.expect("balance"));
        }
        b
    };
    let before = balances().await;
    // Two epochs later the next report on the node judges the verdict.
    mine(200).await;
    // Five monitors are eligible now (one retired): all audit the node.
    let (l, me) = &reporters[1];
    l.draw_audit_seed().await.expect("draw the seed");
    let view = l.monitor(*me).await.expect("view");
    assert_eq!(view.epoch, e1 + 2);
    assert!(view.assigned.contains(&node));
    l.submit_report(AuditReport::from_sender(*me, view.epoch, node, measured))
        .await
        .expect("a report two epochs later");
    let record = op.get_node(node).await.expect("node").expect("registered");
    let last = record.audit.last.expect("a verdict");
    assert_eq!(
        (last.epoch, last.reports, last.throughput_kbps),
        (e1, 5, 40_000)
    );
    assert_eq!((last.delivered_ppm, last.slashed), (400_000, Value(1_000)));
    assert_eq!(record.audit.slashed, Value(1_000));
    assert_eq!(record.locked_stake(), Value(9_000));
    let after = balances().await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.get(), b.get() + 50);
    }
    let status = op.status().await.expect("status");
    assert_eq!(status.burnt, Value(750));
    assert!(op.turnstile().await.expect("turnstile").holds());
    // The retired reporter is paid its stake back (its report judged).
    let paid = retiring
        .exit_monitor(MonitorExitRequest::from_sender(
            retiring_me,
            ExitStep::Release,
        ))
        .await
        .expect("release");
    assert!(paid.exit.and_then(|x| x.released).is_some());
    assert_eq!(
        retiring.balance(retiring_me).await.expect("balance"),
        Value(after[0].get() + 500)
    );
}

/// Ledger challenges through the EVM backend (docs/evm.md §8.6): only the
/// sender may challenge in its own name; a challenge past its deadline is
/// neither answered (refused before any proving, the client holds no
/// `answer` key here) nor closed by anyone's keeper but its challenger's
/// (`close_missed_challenges`), which slashes the node's whole stake and
/// pays the challenger a quarter; the node record counts the miss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_challenge_is_closed_by_its_challengers_keeper_on_the_evm_backend() {
    use veil_ledger::challenge::{ChallengeAnswer, ChallengeRequest, ChallengeState};
    use veil_ledger::{LedgerApi, LedgerError};
    let Some(a) = anvil("challenges through the EVM backend") else {
        return;
    };
    let (chain, d, base) = faucet_ledger(&a).await;
    let w = audit_world(&a, &chain, &d, &base).await;
    let mut assigned = Vec::new();
    for (l, me) in &w.monitors {
        if l.monitor(*me)
            .await
            .expect("view")
            .assigned
            .contains(&w.node)
        {
            assigned.push((l.clone(), *me));
        }
    }
    let [(m, me), (other, _), ..] = &assigned[..] else {
        panic!("two monitors assigned to the node: {}", assigned.len());
    };
    let request = ChallengeRequest::from_sender(*me, w.epoch, w.node);

    // Someone else's transaction cannot challenge in this monitor's name.
    let sent_before = nonce(other.chain()).await;
    let r = other.challenge_node(request.clone()).await;
    assert!(
        matches!(r, Err(LedgerError::AccountUnauthenticated(_))),
        "{r:?}"
    );
    assert_eq!(nonce(other.chain()).await, sent_before);
    assert!(
        w.op.challenges(w.node)
            .await
            .expect("challenges")
            .is_empty()
    );

    let record = m.challenge_node(request).await.expect("challenge");
    assert!(record.is_open());
    let node = w.op.get_node(w.node).await.expect("node").expect("record");
    assert_eq!(node.audit.open_challenges, 1);
    // Before the deadline nobody closes it.
    assert_eq!(m.close_missed_challenges().await.expect("keeper"), 0);

    // Past the deadline: an answer is refused before proving.
    let now = w.op.status().await.expect("status").height.0;
    chain
        .mine(record.deadline.0.saturating_sub(now))
        .await
        .expect("mine");
    let answer = ChallengeAnswer::sign(&w.node_key, &record);
    let r = w.op.answer_challenge(answer.clone()).await;
    assert_eq!(r, Err(LedgerError::ChallengeClosed));
    // Another monitor's keeper closes only its own challenges.
    assert_eq!(other.close_missed_challenges().await.expect("keeper"), 0);
    let before = m.balance(*me).await.expect("balance");
    assert_eq!(m.close_missed_challenges().await.expect("keeper"), 1);
    assert_eq!(m.close_missed_challenges().await.expect("keeper"), 0);
    let paid = m.balance(*me).await.expect("balance").get() - before.get();
    assert_eq!(paid, 2_500, "a quarter of the whole stake");
    let node = w.op.get_node(w.node).await.expect("node").expect("record");
    assert_eq!(
        (node.audit.open_challenges, node.audit.missed_challenges),
        (0, 1)
    );
    assert_eq!(node.audit.slashed.get(), 10_000);
    let closed = w.op.challenges(w.node).await.expect("challenges");
    assert!(
        matches!(closed[..], [ref c] if matches!(c.state, ChallengeState::Missed { .. })),
        "{closed:?}"
    );
    assert_eq!(
        w.op.answer_challenge(answer).await,
        Err(LedgerError::ChallengeClosed)
    );
}

/// The seed's commit-reveal through the EVM backend (docs/market.md §5.1),
/// as `veil monitor run` takes a monitor's turn (`take_seed_turn`): two
/// monitors registered in epoch e0 commit, during e0 + 1, to the secrets
/// their keys derive for e0 + 2 (a second turn changes nothing); in the
/// reveal window of e0 + 2 each reveals its secret (the commitment becomes
/// the "revealed" mark) and commits for e0 + 3; the epoch's mix is the XOR
/// of the two secrets' hashes, and the seed drawn after the window is set.
/// A third monitor commits and never reveals: the first turn after the
/// window reports it, its stake loses `WITHHELD_SLASH_PPM` and the
/// reporter is paid a quarter of that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_commit_and_reveal_the_audit_seed_through_the_evm_backend() {
    use veil_evm::audits;
    use veil_ledger::LedgerApi;
    use veil_ledger::monitor::MonitorRegistration;
    use veil_ledger::types::Value;
    let Some(a) = anvil("the audit seed's commit-reveal through the EVM backend") else {
        return;
    };
    let (chain, d, base) = faucet_ledger(&a).await;
    let mut monitors = Vec::new();
    for _ in 0..3 {
        let (l, me, c) = funded_party(&a, &base, 1_000).await;
        l.register_monitor(MonitorRegistration::from_sender(me, Value(500)))
            .await
            .expect("monitor");
        monitors.push((l, c));
    }
    let (withholder, withholder_chain) = monitors.pop().expect("three");
    let at = d.contracts.auditor;
    let u64_of = async |data: Vec<u8>| {
        ledger::decode_u64(&chain.call(at, &data).await.expect("view")).expect("u64")
    };
    let word_of = async |data: Vec<u8>| {
        ledger::decode_word(&chain.call(at, &data).await.expect("view")).expect("word")
    };
    let mine_until_next_tx_at = async |height: u64| {
        let latest = chain.block_number().await.expect("height");
        let blocks = height.saturating_sub(latest + 1);
        if blocks > 0 {
            chain.mine(blocks).await.expect("mine");
        }
    };
    let secret =
        |c: &RpcChain, e: u64| c.derive_secret(b"veil/evm/audit-seed-secret/v1", &e.to_be_bytes());
    let e0 = u64_of(audits::current_epoch()).await;
    let (e1, e2) = (e0 + 1, e0 + 2);

    // In e1 (past its reveal window): each commits for e2, once.
    mine_until_next_tx_at(u64_of(audits::epoch_start(e1)).await + 20).await;
    for _ in 0..2 {
        for (l, _) in &monitors {
            l.take_seed_turn().await.expect("turn");
        }
    }
    withholder.take_seed_turn().await.expect("turn");
    for (_, c) in &monitors {
        let me = c.address();
        let want = audits::seed_commitment(secret(c, e2), me, e2);
        assert_eq!(word_of(audits::seed_commit(e2, me)).await, want);
    }

    // In e2's reveal window: each reveals, and commits for e3.
    let start = u64_of(audits::epoch_start(e2)).await;
    mine_until_next_tx_at(start).await;
    let mut mix = [0u8; 32];
    for (l, c) in &monitors {
        l.take_seed_turn().await.expect("turn");
        let me = c.address();
        let mut revealed = [0u8; 32];
        revealed[31] = 1;
        assert_eq!(
            word_of(audits::seed_commit(e2, me)).await,
            revealed,
            "revealed"
        );
        let next = audits::seed_commitment(secret(c, e2 + 1), me, e2 + 1);
        assert_eq!(word_of(audits::seed_commit(e2 + 1, me)).await, next);
        for (m, x) in mix.iter_mut().zip(audits::mix_of(secret(c, e2))) {
            *m ^= x;
        }
    }
    assert!(
        chain.block_number().await.expect("height")
            < start + veil_evm_rpc::deploy::AUDIT_REVEAL_BLOCKS,
        "the reveals landed in the window"
    );
    assert_eq!(word_of(audits::seed_mix(e2)).await, mix);
    // After the window the withholder is reported by the next turn, and
    // the seed is drawn over the two reveals' mix.
    mine_until_next_tx_at(start + veil_evm_rpc::deploy::AUDIT_REVEAL_BLOCKS).await;
    let (reporter, reporter_chain) = &monitors[0];
    let me = |c: &RpcChain| veil_evm::escrow::recipient_account(c.address());
    let paid_before = reporter.balance(me(reporter_chain)).await.expect("balance");
    reporter.take_seed_turn().await.expect("turn");
    let w = withholder_chain.address();
    assert_eq!(
        audits::SeedCommit::decode(
            &chain
                .call(at, &audits::seed_commit(e2, w))
                .await
                .expect("view")
        ),
        Ok(audits::SeedCommit::Withheld)
    );
    let slash = 500 * audits::WITHHELD_SLASH_PPM / 1_000_000;
    let stake = withholder
        .monitor(me(&withholder_chain))
        .await
        .expect("view")
        .record
        .expect("a monitor")
        .stake;
    assert_eq!(stake, Value(500 - slash));
    assert_eq!(
        reporter.balance(me(reporter_chain)).await.expect("balance"),
        Value(paid_before.get() + slash / 4)
    );
    reporter
        .take_seed_turn()
        .await
        .expect("a second turn reports nothing more");
    monitors[0].0.draw_audit_seed().await.expect("draw");
    assert_ne!(word_of(audits::seed_of(e2)).await, [0u8; 32], "drawn");
}
