//! A node's exit (docs/protocol.md §8.3.12) against the engine with a fake
//! verifier: a retired node takes no new escrow and no update but settles
//! the sessions it has; its stake stays locked until every such session is
//! past settling plus the evidence window, then returns to its account
//! once; only the node's registered account key takes either step; every
//! refusal changes nothing; the books balance; the exit survives a reopen;
//! and the gRPC ledger answers exactly like the embedded one.

use std::sync::Arc;

use proptest::prelude::*;
use veil_ledger::audit::audit;
use veil_ledger::exit::{EVIDENCE_WINDOW_BLOCKS, ExitRequest, ExitStep};
use veil_ledger::state::StateRead;
use veil_ledger::testing;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, Engine, LedgerApi, LedgerConfig, LedgerError};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

const E: Value = Value(1_000);
const STAKE: Value = Value(300);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

struct Fx {
    engine: Engine,
    node_key: SigningKey,
    node: NodeId,
    account_key: SigningKey,
    account: AccountId,
}

fn fixture_on(engine: Engine) -> Fx {
    let (node_key, account_key) = (key(11), key(12));
    let account = account_key.verifying_key().account_id();
    engine.faucet(account, Value(1_000)).expect("faucet");
    let g = testing::registration(
        &engine,
        &node_key,
        &account_key,
        Value(2),
        vec![E],
        STAKE,
        [1; 32],
    )
    .expect("registration");
    engine.register_node(g).expect("register");
    let wallet = key(41);
    engine
        .faucet(wallet.verifying_key().account_id(), Value(50_000))
        .expect("faucet");
    testing::deposit(
        &engine,
        &wallet,
        Value(20_000),
        Address::from_fr(Fr::from(1u64)),
    )
    .expect("deposit");
    Fx {
        node: node_key.verifying_key().node_id(),
        account,
        engine,
        node_key,
        account_key,
    }
}

fn fixture() -> Fx {
    fixture_on(
        Engine::in_memory(
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        )
        .expect("engine"),
    )
}

/// Everything an exit step could touch.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    status: LedgerStatus,
    staked: u64,
    node: Option<NodeRecord>,
    account: AccountState,
}

impl Fx {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            status: self.engine.status().expect("status"),
            staked: self.staked(),
            node: self.engine.get_node(&self.node).expect("node"),
            account: self.engine.account(&self.account).expect("account"),
        }
    }

    fn staked(&self) -> u64 {
        let r = self.engine.store().read().expect("read");
        r.totals().expect("totals").staked
    }

    fn nonce(&self, k: &SigningKey) -> u64 {
        self.engine
            .account(&k.verifying_key().account_id())
            .expect("account")
            .next_nonce
    }

    fn step(&self, step: ExitStep) -> ExitRequest {
        ExitRequest::signed(
            &self.account_key,
            self.nonce(&self.account_key),
            self.node,
            step,
        )
    }

    /// `x` is refused as `want`, and nothing changed.
    fn refused(&self, x: ExitRequest, want: LedgerError) {
        let before = self.snapshot();
        assert_eq!(self.engine.exit_node(x), Err(want));
        assert_eq!(self.snapshot(), before, "a refused exit step changed state");
    }

    fn token(&self, nf: u64, expiry: u64) -> AccessPublic {
        AccessPublic {
            root: *self.engine.roots().expect("roots").last().expect("a root"),
            nullifier: Nullifier::from_fr(Fr::from(10_000 + nf)),
            cm_change: NoteCommitment::from_fr(Fr::from(20_000 + nf)),
            escrow: E,
            node_id: self.node,
            session_key_hash: SessionKeyHash::from_fr(Fr::from(30_000 + nf)),
            refund_owner: OwnerKey::from_fr(Fr::from(40_000 + nf)),
            expiry: BlockHeight(expiry),
        }
    }

    fn open(&self, nf: u64, expiry: u64) -> Result<Escrow, LedgerError> {
        self.engine
            .open_escrow(self.token(nf, expiry), &FakeVerifier::valid_proof())
    }

    fn settle(&self, e: &Escrow) -> Result<SettleReceipt, LedgerError> {
        let mut r = SettleRequest {
            node_id: self.node,
            k: 1,
            cm_refunds: vec![NoteCommitment::from_fr(Fr::from(50_000u64))],
            session_ids: vec![e.session_id],
            total: Value(10),
            proof: FakeVerifier::valid_proof(),
            authorisation: None,
        };
        testing::authorise_settle(&self.engine, &self.node_key, &mut r).expect("sign");
        self.engine.settle(r)
    }

    fn audit_ok(&self) {
        let r = audit(self.engine.store()).expect("audit");
        assert!(r.ok(), "{:?}", r.violations);
    }
}

/// The first height a release applies for a node retired at `retired_at`
/// under the default parameters: 10,000 + 20 + 1 + 200 blocks later.
fn releasable(retired_at: BlockHeight) -> BlockHeight {
    let cfg = LedgerConfig::default();
    BlockHeight(
        retired_at.0 + cfg.max_expiry_delta + cfg.challenge_window + 1 + EVIDENCE_WINDOW_BLOCKS,
    )
}

#[test]
fn a_retired_node_settles_what_it_has_and_gets_its_stake_back_after_the_lock_up() {
    let fx = fixture();
    fx.engine.advance(5).expect("advance");
    // Opened at the longest expiry allowed, just before the retirement.
    let last = fx
        .open(1, 5 + LedgerConfig::default().max_expiry_delta)
        .expect("open");
    let staked = fx.staked();
    let retired = fx
        .engine
        .exit_node(fx.step(ExitStep::Retire))
        .expect("retire");
    let exit = retired.exit.expect("retired");
    assert_eq!(exit.retired.at, BlockHeight(5));
    assert_eq!(exit.released, None);
    assert_eq!(
        fx.engine.get_node(&fx.node).expect("read"),
        Some(retired.clone())
    );

    // No new escrow, no update; the open session still settles.
    let before = fx.snapshot();
    assert_eq!(fx.open(2, 100), Err(LedgerError::NodeRetired));
    assert_eq!(fx.snapshot(), before);
    let u = testing::update(
        &fx.engine,
        &fx.node_key,
        &fx.account_key,
        Value(3),
        vec![E],
        [2; 32],
    )
    .expect("update");
    assert_eq!(fx.engine.update_node(u), Err(LedgerError::NodeRetired));
    assert_eq!(fx.snapshot(), before);

    // Locked until the last session is past settling plus the evidence window.
    let at = releasable(BlockHeight(5));
    assert!(
        last.expiry.0 + LedgerConfig::default().challenge_window < at.0 - EVIDENCE_WINDOW_BLOCKS
    );
    fx.refused(fx.step(ExitStep::Release), LedgerError::StakeLocked(at));
    let deadline = last.expiry.0 + LedgerConfig::default().challenge_window;
    fx.engine.advance(deadline - 5).expect("advance");
    fx.settle(&last)
        .expect("the last session settles at its deadline");
    fx.refused(fx.step(ExitStep::Release), LedgerError::StakeLocked(at));
    fx.engine.advance(at.0 - 1 - deadline).expect("advance");
    fx.refused(fx.step(ExitStep::Release), LedgerError::StakeLocked(at));
    fx.engine.advance(1).expect("advance");
    let balance = fx.engine.account(&fx.account).expect("account").balance;
    let release = fx.step(ExitStep::Release);
    let released = fx.engine.exit_node(release.clone()).expect("release");
    assert_eq!(
        released.exit.and_then(|x| x.released).map(|s| s.at),
        Some(at)
    );
    let after = fx.snapshot();
    assert_eq!(after.account.balance, Value(balance.0 + STAKE.0));
    assert_eq!(after.staked, staked - STAKE.0);
    fx.audit_ok();

    // A retry answers the record and pays nothing twice; a fresh release
    // or retirement is refused.
    assert_eq!(fx.engine.exit_node(release), Ok(released));
    assert_eq!(fx.snapshot(), after);
    fx.refused(fx.step(ExitStep::Release), LedgerError::StakeReleased);
    fx.refused(fx.step(ExitStep::Retire), LedgerError::NodeRetired);
    fx.audit_ok();
}

#[test]
fn a_retirement_retried_answers_the_record_and_a_second_one_is_refused() {
    let fx = fixture();
    let retire = fx.step(ExitStep::Retire);
    let record = fx.engine.exit_node(retire.clone()).expect("retire");
    let after = fx.snapshot();
    assert_eq!(fx.engine.exit_node(retire), Ok(record));
    assert_eq!(fx.snapshot(), after, "a retry consumed a nonce");
    fx.refused(fx.step(ExitStep::Retire), LedgerError::NodeRetired);
    fx.audit_ok();
}

#[test]
fn only_the_nodes_registered_account_key_takes_either_step() {
    let fx = fixture();
    let stranger = key(77);
    fx.engine
        .faucet(stranger.verifying_key().account_id(), Value(1))
        .expect("faucet");
    let unauthenticated = |x: ExitRequest| {
        let before = fx.snapshot();
        let e = fx.engine.exit_node(x).expect_err("refused");
        assert!(matches!(e, LedgerError::AccountUnauthenticated(_)), "{e:?}");
        assert_eq!(fx.snapshot(), before);
    };
    for step in [ExitStep::Retire, ExitStep::Release] {
        // A stranger's own, valid signature: not the node's account.
        unauthenticated(ExitRequest::signed(&stranger, 0, fx.node, step));
        // The node's account named, a stranger's key signing.
        let mut forged = ExitRequest::signed(&stranger, 0, fx.node, step);
        forged.account = fx.account;
        unauthenticated(forged);
        // The node key is not the account key.
        let mut by_node = ExitRequest::signed(&fx.node_key, 0, fx.node, step);
        by_node.account = fx.account;
        unauthenticated(by_node);
        // Unsigned.
        let mut bare = fx.step(step);
        bare.auth = None;
        unauthenticated(bare);
    }
    // A signature over one step does not carry another, or another node.
    let mut swapped = fx.step(ExitStep::Retire);
    swapped.step = ExitStep::Release;
    unauthenticated(swapped);
    let mut elsewhere = fx.step(ExitStep::Retire);
    elsewhere.node_id = key(99).verifying_key().node_id();
    unauthenticated(elsewhere);
    assert_eq!(
        fx.engine
            .get_node(&fx.node)
            .expect("read")
            .and_then(|n| n.exit),
        None
    );
}

#[test]
fn out_of_order_steps_unknown_nodes_and_stale_nonces_are_refused() {
    let fx = fixture();
    fx.refused(fx.step(ExitStep::Release), LedgerError::NodeNotRetired);
    let unknown = ExitRequest::signed(
        &fx.account_key,
        fx.nonce(&fx.account_key),
        key(99).verifying_key().node_id(),
        ExitStep::Retire,
    );
    fx.refused(unknown, LedgerError::UnknownNode);
    let stale = ExitRequest::signed(&fx.account_key, 0, fx.node, ExitStep::Retire);
    assert_ne!(
        fx.nonce(&fx.account_key),
        0,
        "registration consumed nonce 0"
    );
    fx.refused(stale, LedgerError::BadNonce);
    let ahead = ExitRequest::signed(&fx.account_key, 9, fx.node, ExitStep::Retire);
    fx.refused(ahead, LedgerError::BadNonce);
}

#[test]
fn the_exit_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let open = || {
        Engine::open(
            &path,
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        )
        .expect("open")
    };
    let before = {
        let fx = fixture_on(open());
        fx.engine
            .exit_node(fx.step(ExitStep::Retire))
            .expect("retire");
        fx.engine
            .advance(releasable(BlockHeight(0)).0)
            .expect("advance");
        fx.engine
            .exit_node(fx.step(ExitStep::Release))
            .expect("release");
        fx.snapshot()
    };
    let fx = Fx {
        engine: open(),
        node_key: key(11),
        node: key(11).verifying_key().node_id(),
        account_key: key(12),
        account: key(12).verifying_key().account_id(),
    };
    assert_eq!(fx.snapshot(), before);
    fx.audit_ok();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the parameters, heights and expiries: a session opened
    /// before the retirement is past its last settling height before the
    /// stake is releasable, by the whole evidence window.
    #[test]
    fn the_lock_outlasts_every_session_the_node_could_settle(
        challenge_window in 0u64..5_000,
        max_expiry_delta in 1u64..50_000,
        opened in 0u64..1_000_000,
        later in 0u64..100_000,
        ahead in any::<u64>(),
    ) {
        let retired_at = opened + later;
        let expiry = opened + 1 + ahead % max_expiry_delta;
        let exit = veil_ledger::exit::NodeExit {
            retired: veil_ledger::exit::AppliedStep { at: BlockHeight(retired_at), nonce: 0 },
            released: None,
        };
        let at = exit.releasable_at(max_expiry_delta, challenge_window);
        prop_assert!(expiry + challenge_window + EVIDENCE_WINDOW_BLOCKS < at.0);
    }
}

fn embedded() -> EmbeddedLedger {
    EmbeddedLedger::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("ledger")
}

/// The same exit script on an embedded ledger and through gRPC to
/// another: every record and every error, with its values, are equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_exactly_like_the_embedded_ledger() {
    let local = embedded();
    let (clock, remote, _) = testing::served_in_memory().await.expect("served ledger");
    let local_run = script(&local, &local).await;
    let remote_run = script(&remote, &clock).await;
    assert_eq!(local_run, remote_run);
    assert!(local_run.iter().any(|r| r.is_err()) && local_run.iter().any(|r| r.is_ok()));
}

async fn script(
    l: &impl LedgerApi,
    clock: &EmbeddedLedger,
) -> Vec<Result<NodeRecord, LedgerError>> {
    let (node_key, account_key) = (key(11), key(12));
    let account = account_key.verifying_key().account_id();
    let node = node_key.verifying_key().node_id();
    l.faucet(account, Value(1_000)).await.expect("faucet");
    let g = NodeRegistration::sign(
        &node_key,
        &account_key,
        0,
        STAKE,
        NodeTerms::new(Value(2), vec![E], [1; 32]),
    );
    l.register_node(g).await.expect("register");
    let mut out = Vec::new();
    for (step, blocks) in [
        (ExitStep::Release, 0),
        (ExitStep::Retire, 0),
        (ExitStep::Retire, 0),
        (ExitStep::Release, 10),
        (ExitStep::Release, releasable(BlockHeight(0)).0),
        (ExitStep::Release, 0),
    ] {
        if blocks > 0 {
            clock.advance(blocks).await.expect("advance");
        }
        let n = l.account(account).await.expect("account").next_nonce;
        out.push(
            l.exit_node(ExitRequest::signed(&account_key, n, node, step))
                .await,
        );
    }
    let mut forged = ExitRequest::signed(&key(5), 0, node, ExitStep::Retire);
    forged.account = account;
    out.push(l.exit_node(forged).await);
    out
}
