//! One suite of ledger behaviour, written once against `LedgerApi`
//! (`suite<B: Backend>`), run unchanged against the three backends:
//!
//! - `embedded`: `EmbeddedLedger` in process (redb in memory, Groth16 over
//!   the pinned development keys, dev faucet on);
//! - `grpc`: the same ledger served by `veil_ledger::service::serve` on
//!   loopback, reached through `RemoteLedger`;
//! - `evm`: `veil_evm_rpc::EvmLedger` over JSON-RPC on a real anvil, the
//!   contract deployed with `deploy_ledger` (challenge window 20, max expiry
//!   delta 10 000: the embedded ledger's defaults), a faucet (the deployer,
//!   who mints the test token) and a sequencer (`tree_insert_64`). Skipped
//!   with a loud line when anvil is not installed, unless
//!   `VEIL_REQUIRE_ANVIL=1`, when it fails.
//!
//! Every case checks the call's `Ok` value or its `LedgerError` variant,
//! and for each refusal that nothing observable changed (every party's
//! balance, `status().pool` and `commitment_count`, the escrow, the
//! watched nullifiers).
//!
//! Differences between the backends the suite normalises (and nothing
//! else is special-cased):
//!
//! - Who acts. Embedded/gRPC: an account is `H(ACCOUNT, A)` of an EdDSA key
//!   and every debit carries that key's signature with the account's next
//!   nonce (`DepositRequest::signed`, `NodeRegistration::signed`). EVM:
//!   `acting_account()` is `Some(sender)`, the handle's secp256k1 key is
//!   the account, requests are `DepositRequest::from_sender` /
//!   `NodeRegistration::signed_for_sender`. A [`Party`] (its ledger
//!   handle, its account, its EdDSA key) builds its requests by branching
//!   on `acting_account()` exactly like `veil_client::ops::deposit` and
//!   `veil_node::register`. "A deposit claiming another party's account"
//!   is, embedded, a request signed by the party's key naming the other
//!   account; on EVM, `from_sender(other account)` sent by the party.
//! - Settlement authority. Embedded/gRPC check the node key's signature
//!   (`SettleRequest::signed`); the contract checks that the sender is the
//!   node's operator. The node settles through its operator's handle with a
//!   request signed by the node key (valid for both); "someone else" sends
//!   through their own handle a request signed with their own key (refused
//!   by both, for their own reason). Not tested, because the backends
//!   differ by design: a node-signed request relayed by a third party
//!   (accepted embedded, refused on chain).
//! - Registration retry. Embedded, a retry is the same request (same
//!   account nonce); a re-signed registration with the next nonce is
//!   `NodeExists`. On chain there is no nonce and any same-terms
//!   registration is answered with the record. The suite retries with the
//!   identical request only.
//! - Leaf indexes. On chain leaves are queued and a partial batch is padded
//!   to 64 with zero leaves when appended, so indexes of later leaves jump.
//!   The suite checks relative facts only: `commitments()[receipt.leaf_index]`
//!   is the receipt's commitment, later deposits have larger indexes.
//! - Roots. On chain a root appears only when a batch of 64 is appended;
//!   the sequencer does it when `commitments()` is read past the tree. The
//!   suite always reads `commitments` (to the end) and then `roots`
//!   before proving, and checks that the local tree's root is among them.
//! - Heights. The embedded clock stands still, the chain mines a block per
//!   transaction: expiries are `status().height + 500`; the reclaim
//!   refusal's height is computed from the escrow's expiry.
//! - Faucet and `status().minted`. Embedded: `minted` is the sum of faucet
//!   mints; EVM: the token's total supply (and the faucet also gives gas).
//!   The suite only checks that a faucet of `x` raises the balance and
//!   `minted` by `x`.
//! - `NodeRecord`. On chain the record is rebuilt from the event and has
//!   no signatures (`unsigned_on_chain`, `account_auth: None`): records are
//!   compared with records of the same backend, and with the request by
//!   `same_terms` only.
//! - `account().next_nonce`: its values are not compared (on chain it is
//!   the sender's transaction count, which the token approvals of a debit
//!   also raise); only that a refused call leaves it unchanged (embedded: no
//!   nonce consumed; on chain: no transaction sent).
//!
//! - Node updates (§8.3.8, `update_suite`, all three backends). Who
//!   authorises an update: embedded/gRPC the account's signature, on chain
//!   the sender, who must be the node's operator. Updates are built with
//!   `NodeUpdate::signed` on every backend (on chain its account is the
//!   operator's address and the account signature is not read). "An
//!   update without the account's signature" is embedded/gRPC only (on
//!   chain there is none to leave out); "an update its node key signed
//!   for another account, sent by that account" is refused by all three
//!   (`AccountUnauthenticated`). On chain the returned record's update
//!   carries no account signature (`account_auth: None`), as above.
//!
//! Checks of the correct behaviour that a backend is known to fail are
//! listed in [`KNOWN_BUGS`]: they print a loud `KNOWN BUG` line instead of
//! failing, and a loud `FIXED?` line once they pass.

#[path = "support/grpc_ledger.rs"]
mod grpc_ledger;

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rand::rngs::OsRng;
use veil_circuits::settle::{SettlePublic, Slot};
use veil_circuits::spend::SpendPrivate;
use veil_ledger::challenge::{ChallengeAnswer, ChallengeKey, ChallengeRequest, ChallengeState};
use veil_ledger::exit::ExitStep;
use veil_ledger::monitor::{AuditReport, Measurement, MonitorExitRequest, MonitorRegistration};
use veil_ledger::trade::{Order, Tokens, TradeRequest};
use veil_ledger::types::*;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, RemoteLedger};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::keys::SpendingKey;
use veil_primitives::merkle::Tree;
use veil_primitives::note::Rho;
use veil_primitives::receipt::Receipt;
use veil_proofs::{CircuitId, KeySet, ParamStore, Prover, SettleSize};

/// The node's one escrow size.
const E: Value = Value(1024);
/// The node's price per KiB.
const PRICE: Value = Value(1);
/// The node's stake.
const STAKE: Value = Value(100);
/// KiB the session's receipt pays for.
const KIB: u64 = 40;
/// The embedded ledger's defaults, deployed on chain alike.
const CHALLENGE_WINDOW: u64 = 20;
const MAX_EXPIRY_DELTA: u64 = 10_000;

/// `(backend, check id, why)`: checks of the correct behaviour that the
/// backend is known to fail (see the report / the check's comment).
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

/// Records the verdict of one check: panics unless it is a known bug.
fn verdict(backend: &str, id: &str, ok: bool, detail: impl FnOnce() -> String) {
    let known = KNOWN_BUGS
        .iter()
        .find(|(b, i, _)| *b == backend && *i == id);
    match (ok, known) {
        (true, None) => {}
        (true, Some(_)) => {
            eprintln!("FIXED? [{backend}] {id}: passes now; remove it from KNOWN_BUGS")
        }
        (false, Some((_, _, why))) => {
            eprintln!("KNOWN BUG [{backend}] {id}: {} — {why}", detail())
        }
        (false, None) => panic!("[{backend}] {id}: {}", detail()),
    }
}

// ------------------------------------------------------------------ parties

/// Someone who acts on the ledger: their handle, their account and their
/// EdDSA key (the account key embedded/gRPC; on EVM it only signs what a
/// non-node party would sign).
struct Party<L> {
    ledger: L,
    account: AccountId,
    key: SigningKey,
}

impl<L: LedgerApi> Party<L> {
    /// A deposit of `value` to `addr` debiting `account` (this party's own,
    /// or — to test the refusal — another's), built as a wallet builds it
    /// (`veil_client::ops::deposit`).
    async fn deposit_request(
        &self,
        account: AccountId,
        value: Value,
        addr: Address,
    ) -> DepositRequest {
        match self.ledger.acting_account() {
            Some(_) => DepositRequest::from_sender(account, value, addr),
            None => {
                let nonce = self
                    .ledger
                    .account(self.account)
                    .await
                    .expect("account")
                    .next_nonce;
                DepositRequest {
                    account,
                    ..DepositRequest::signed(&self.key, nonce, value, addr)
                }
            }
        }
    }

    /// A registration of the node of `node_key` staked from this party's
    /// account, built as the node builds it (`veil_node::register`).
    async fn registration(
        &self,
        node_key: &SigningKey,
        price: Value,
        stake: Value,
    ) -> NodeRegistration {
        match self.ledger.acting_account() {
            Some(operator) => NodeRegistration::signed_for_sender(
                node_key,
                operator,
                price,
                vec![E],
                stake,
                [7; 32],
            ),
            None => {
                let nonce = self
                    .ledger
                    .account(self.account)
                    .await
                    .expect("account")
                    .next_nonce;
                NodeRegistration::signed(node_key, &self.key, nonce, price, vec![E], stake, [7; 32])
            }
        }
    }
}

/// A ledger under test: makes parties with their own accounts (no
/// balance; on EVM with gas money).
trait Backend {
    type L: LedgerApi;
    fn name(&self) -> &'static str;
    async fn party(&self) -> Party<Self::L>;
    /// Moves the clock so that the next operation is the first of the
    /// next market epoch (§8.3.11): embedded and gRPC advance the logical
    /// clock, the chain mines blocks.
    async fn next_market_epoch(&self);
    /// Moves the clock into the next audit epoch, past its seed reveal
    /// window where it has one, and has the epoch's seed drawn (the
    /// embedded and gRPC ledgers draw it as their clock passes).
    async fn next_audit_epoch(&self) {
        self.next_market_epoch().await;
    }
    /// Moves the clock so that the next operation happens at `height` or
    /// later (on chain: the next transaction lands in block `height`).
    async fn next_op_at(&self, height: u64);
}

/// The blocks from `height` (the last operation's; on chain the latest
/// block, the next transaction landing one later) to the first block of
/// the next market epoch.
fn blocks_to_next_epoch(next_op_height: u64) -> u64 {
    let epoch = veil_ledger::trade::MARKET_EPOCH_BLOCKS;
    (next_op_height / epoch + 1) * epoch - next_op_height
}

struct Embedded(EmbeddedLedger);

impl Backend for Embedded {
    type L = EmbeddedLedger;
    fn name(&self) -> &'static str {
        "embedded"
    }
    async fn party(&self) -> Party<EmbeddedLedger> {
        key_party(self.0.clone())
    }
    async fn next_market_epoch(&self) {
        next_embedded_epoch(&self.0).await;
    }
    async fn next_op_at(&self, height: u64) {
        embedded_op_at(&self.0, height).await;
    }
}

async fn embedded_op_at(l: &EmbeddedLedger, height: u64) {
    let h = l.status().await.expect("status").height.0;
    if height > h {
        l.advance(height - h).await.expect("advance");
    }
}

async fn next_embedded_epoch(l: &EmbeddedLedger) {
    let h = l.status().await.expect("status").height.0;
    l.advance(blocks_to_next_epoch(h)).await.expect("advance");
}

fn key_party<L>(ledger: L) -> Party<L> {
    let key = SigningKey::generate(&mut OsRng);
    Party {
        ledger,
        account: key.verifying_key().account_id(),
        key,
    }
}

fn embedded() -> EmbeddedLedger {
    EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet()).expect("ledger")
}

struct Grpc {
    remote: RemoteLedger,
    /// The served ledger, for its clock.
    inner: EmbeddedLedger,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Backend for Grpc {
    type L = RemoteLedger;
    fn name(&self) -> &'static str {
        "grpc"
    }
    async fn party(&self) -> Party<RemoteLedger> {
        key_party(self.remote.clone())
    }
    async fn next_market_epoch(&self) {
        next_embedded_epoch(&self.inner).await;
    }
    async fn next_op_at(&self, height: u64) {
        embedded_op_at(&self.inner, height).await;
    }
}

/// The embedded ledger served over gRPC on loopback.
async fn grpc() -> Grpc {
    let inner = embedded();
    let (remote, stop) = grpc_ledger::serve_over_grpc(inner.clone()).await;
    Grpc {
        remote,
        inner,
        _stop: stop,
    }
}

mod evm {
    use super::*;
    use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
    use veil_evm_rpc::{EvmLedger, EvmLedgerSpec, RpcChain, Sequencer, deploy_ledger, key};

    pub struct Evm {
        pub base: EvmLedger,
        pub url: String,
        pub _anvil: Anvil,
    }

    impl Backend for Evm {
        type L = EvmLedger;
        fn name(&self) -> &'static str {
            "evm"
        }
        /// A fresh secp256k1 key, given gas money by the faucet.
        async fn party(&self) -> Party<EvmLedger> {
            let signer = key::Signer::random();
            let addr = signer.address();
            let chain = RpcChain::connect(&self.url, signer).await.expect("connect");
            let ledger = self.base.acting_as(chain);
            ledger.faucet_gas(addr).await.expect("gas");
            Party {
                account: ledger
                    .acting_account()
                    .expect("an EVM handle acts as its key"),
                ledger,
                key: SigningKey::generate(&mut OsRng),
            }
        }
        /// anvil mines the blocks up to the epoch's; the next
        /// transaction lands in its first block.
        async fn next_market_epoch(&self) {
            let signer = key::Signer::random();
            let chain = RpcChain::connect(&self.url, signer).await.expect("connect");
            let latest = chain.block_number().await.expect("height");
            let blocks = blocks_to_next_epoch(latest + 1) - 1;
            if blocks > 0 {
                chain.mine(blocks).await.expect("mine");
            }
        }
        /// The audits' epochs start at their deployment block: past the
        /// next one's reveal window, its seed drawn by anyone.
        async fn next_audit_epoch(&self) {
            let l = &self.base;
            let next = l.current_audit_epoch().await.expect("epoch") + 1;
            let start = l.audit_epoch_start(next).await.expect("start");
            let window = l.audit_reveal_blocks().await.expect("window");
            self.next_op_at(start + window).await;
            l.draw_audit_seed().await.expect("draw the seed");
        }
        async fn next_op_at(&self, height: u64) {
            let chain = self.base.chain();
            let latest = chain.block_number().await.expect("height");
            if height > latest + 1 {
                chain.mine(height - latest - 1).await.expect("mine");
            }
        }
    }

    /// anvil with the ledger deployed, or `None` (a loud skip) when anvil
    /// is not installed and `VEIL_REQUIRE_ANVIL` is not `1`.
    pub async fn start() -> Option<Evm> {
        let anvil = Anvil::for_test("ledger conformance on EVM")?;
        let signer =
            key::Signer::from_slice(&alloy::hex::decode(FIRST_DEV_KEY).expect("hex")).expect("key");
        let deployer = RpcChain::connect(&anvil.url, signer)
            .await
            .expect("connect");
        let d = deploy_ledger(&deployer, None, CHALLENGE_WINDOW, MAX_EXPIRY_DELTA)
            .await
            .expect("deploy");
        let spec = EvmLedgerSpec {
            rpc: anvil.url.clone(),
            ledger: d.ledger,
            from_block: d.block,
        };
        let prover = tokio::task::spawn_blocking(|| {
            let store = ParamStore::open_default(KeySet::Dev).expect("params");
            let ids = [CircuitId::TreeInsert64, CircuitId::Answer];
            Prover::from_store(&store, &ids, None).expect("tree and answer keys")
        })
        .await
        .expect("load");
        let prover = Arc::new(prover);
        let base = EvmLedger::connect(deployer.clone(), &spec)
            .await
            .expect("ledger")
            .with_faucet(deployer)
            .with_sequencer(Arc::new(Sequencer::new(prover.clone())))
            .with_answer_prover(prover);
        Some(Evm {
            url: anvil.url.clone(),
            base,
            _anvil: anvil,
        })
    }
}

// ------------------------------------------------------------------- proofs

/// The access, withdraw and settle_1 proving keys, loaded once.
fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| {
        let store = ParamStore::open_default(KeySet::Dev).expect("params");
        Prover::from_store(
            &store,
            &[
                CircuitId::Access,
                CircuitId::Withdraw,
                CircuitId::Settle(SettleSize::K1),
            ],
            None,
        )
        .expect("proving keys")
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("proving task")
}

async fn prove_access(st: AccessPublic, p: SpendPrivate) -> Proof {
    blocking(move || {
        let t = prover().prove_access(&st, &p, &mut OsRng).expect("access");
        Proof(t.proof.to_bytes())
    })
    .await
}

async fn prove_withdraw(st: WithdrawPublic, p: SpendPrivate) -> Proof {
    blocking(move || {
        let w = prover()
            .prove_withdraw(&st, &p, &mut OsRng)
            .expect("withdraw");
        Proof(w.proof.to_bytes())
    })
    .await
}

// ---------------------------------------------------------------- snapshots

/// What a refused call must leave unchanged.
#[derive(Debug, PartialEq)]
struct Snap {
    /// Balance and next nonce of every party (a refusal sends nothing and
    /// consumes no nonce; on chain the nonce is the sender's transaction
    /// count).
    accounts: Vec<AccountState>,
    pool: Value,
    commitment_count: u64,
    escrows: Vec<Option<Escrow>>,
    spent: Vec<bool>,
}

/// The accounts, escrows and nullifiers the suite watches so far.
#[derive(Default)]
struct Watch {
    accounts: Vec<AccountId>,
    escrows: Vec<SessionId>,
    nullifiers: Vec<Nullifier>,
}

impl Watch {
    async fn snap<L: LedgerApi>(&self, l: &L) -> Snap {
        let mut s = Snap {
            accounts: Vec::new(),
            pool: Value(0),
            commitment_count: 0,
            escrows: Vec::new(),
            spent: Vec::new(),
        };
        for a in &self.accounts {
            s.accounts.push(l.account(*a).await.expect("account"));
        }
        let st = l.status().await.expect("status");
        s.pool = st.pool;
        s.commitment_count = st.commitment_count;
        for e in &self.escrows {
            s.escrows.push(l.get_escrow(*e).await.expect("escrow"));
        }
        for n in &self.nullifiers {
            s.spent
                .push(l.nullifier_spent(*n).await.expect("nullifier"));
        }
        s
    }
}

/// Checks refusals on one backend: its name, handle and watched state, and
/// the snapshot the last check left.
struct Refusals<'a, L> {
    backend: &'a str,
    l: &'a L,
    watch: &'a Watch,
    before: Snap,
}

impl<'a, L: LedgerApi> Refusals<'a, L> {
    /// Starts from the state now.
    async fn start(backend: &'a str, l: &'a L, watch: &'a Watch) -> Self {
        let before = watch.snap(l).await;
        Refusals {
            backend,
            l,
            watch,
            before,
        }
    }

    /// `r` was refused as `want` (`is`), and the watched state did not
    /// change since the last check; the state now becomes the reference.
    async fn check<T: Debug>(
        &mut self,
        id: &str,
        r: Result<T, LedgerError>,
        want: &str,
        is: impl Fn(&LedgerError) -> bool,
    ) {
        let got = format!("{r:?}");
        verdict(self.backend, id, matches!(&r, Err(e) if is(e)), || {
            format!("expected Err({want}), got {got}")
        });
        let after = self.watch.snap(self.l).await;
        let before = &self.before;
        verdict(
            self.backend,
            &format!("{id}/unchanged"),
            &after == before,
            || format!("a refused call changed state:\n before {before:?}\n after  {after:?}"),
        );
        // The next refusal is compared with what this one left (a known bug
        // must not hide the next check).
        self.before = after;
    }
}

/// Reads every commitment (on chain this appends the waiting leaves:
/// `commitments` past the tree runs the sequencer) and the roots; builds
/// the local tree and checks its root is one the ledger accepts.
async fn sync<L: LedgerApi>(backend: &str, l: &L) -> (Vec<NoteCommitment>, Tree) {
    let mut all = Vec::new();
    loop {
        let page = l
            .commitments(all.len() as u64, veil_ledger::api::MAX_COMMITMENT_PAGE)
            .await
            .expect("commitments");
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    let mut tree = Tree::new();
    for cm in &all {
        tree.append(*cm).expect("append");
    }
    let roots = l.roots().await.expect("roots");
    verdict(
        backend,
        "sync/root-known",
        roots.contains(&tree.root()),
        || {
            format!(
                "the root of the {} commitments read is not in roots()",
                all.len()
            )
        },
    );
    (all, tree)
}

// -------------------------------------------------------------------- suite

/// A note the suite owns.
struct Note {
    sk: SpendingKey,
    rho: Rho,
    value: Value,
    leaf: u64,
}

impl Note {
    fn spend(&self, tree: &Tree, rho_change: Rho) -> SpendPrivate {
        SpendPrivate {
            sk: self.sk.clone(),
            value: self.value,
            rho: self.rho,
            path: tree.path(self.leaf).expect("path"),
            rho_change,
        }
    }
}

async fn suite<B: Backend>(b: &B) {
    let started = Instant::now();
    let name = b.name();
    let user = b.party().await;
    let operator = b.party().await;
    let outsider = b.party().await;
    let l = user.ledger.clone();
    let mut watch = Watch {
        accounts: vec![user.account, operator.account, outsider.account],
        ..Watch::default()
    };
    let st0 = l.status().await.expect("status");
    verdict(
        name,
        "status/params",
        (st0.challenge_window, st0.max_expiry_delta) == (CHALLENGE_WINDOW, MAX_EXPIRY_DELTA),
        || format!("{st0:?}"),
    );

    // ---- 1. faucet + deposit
    let minted = st0.minted;
    let got = l.faucet(user.account, Value(10_000)).await;
    verdict(name, "faucet/balance", got == Ok(Value(10_000)), || {
        format!("{got:?}")
    });
    let st = l.status().await.expect("status");
    verdict(
        name,
        "faucet/minted",
        st.minted.0 == minted.0 + 10_000,
        || format!("minted {minted:?} → {:?}", st.minted),
    );
    let note = |value: u64| {
        let sk = SpendingKey::random(&mut OsRng);
        let rho = Rho::random(&mut OsRng);
        let addr = veil_primitives::note::Address::derive(&sk.owner_key(), &rho);
        (sk, rho, Value(value), addr)
    };
    let (sk_a, rho_a, v_a, addr_a) = note(5_000);
    let req_a = user.deposit_request(user.account, v_a, addr_a).await;
    let pool0 = l.status().await.expect("status").pool;
    let dep_a = l.deposit(req_a.clone()).await.expect("deposit A");
    verdict(
        name,
        "deposit/receipt",
        dep_a.commitment == req_a.commitment(),
        || format!("{dep_a:?}"),
    );
    let bal = l.balance(user.account).await.expect("balance");
    verdict(name, "deposit/debited", bal == Value(5_000), || {
        format!("{bal:?}")
    });
    let pool = l.status().await.expect("status").pool;
    verdict(name, "deposit/pool", pool.0 == pool0.0 + 5_000, || {
        format!("pool {pool0:?} → {pool:?}")
    });
    // The same request again: the same receipt, nothing debited twice.
    let again = l.deposit(req_a.clone()).await;
    verdict(name, "deposit/retry", again == Ok(dep_a), || {
        format!("{again:?}")
    });
    let bal = l.balance(user.account).await.expect("balance");
    verdict(name, "deposit/retry-once", bal == Value(5_000), || {
        format!("{bal:?}")
    });
    let (sk_b, rho_b, v_b, addr_b) = note(2_000);
    let dep_b = l
        .deposit(user.deposit_request(user.account, v_b, addr_b).await)
        .await
        .expect("deposit B");
    verdict(
        name,
        "deposit/order",
        dep_b.leaf_index > dep_a.leaf_index,
        || format!("{dep_a:?} then {dep_b:?}"),
    );
    // Refused: another party's account; more than the balance.
    let mut rf = Refusals::start(name, &l, &watch).await;
    let (_, _, v, addr) = note(100);
    let r = l
        .deposit(user.deposit_request(operator.account, v, addr).await)
        .await;
    rf.check(
        "deposit/foreign-account",
        r,
        "AccountUnauthenticated",
        |e| matches!(e, LedgerError::AccountUnauthenticated(_)),
    )
    .await;
    let (_, _, _, addr) = note(0);
    let r = l
        .deposit(
            user.deposit_request(user.account, Value(1_000_000), addr)
                .await,
        )
        .await;
    rf.check("deposit/overdraft", r, "InsufficientBalance", |e| {
        matches!(e, LedgerError::InsufficientBalance)
    })
    .await;
    let r = l
        .deposit(user.deposit_request(user.account, Value(0), addr).await)
        .await;
    rf.check("deposit/zero", r, "InvalidArgument", |e| {
        matches!(e, LedgerError::InvalidArgument(_))
    })
    .await;
    // The same note deposited from another account (the operator's).
    let r = operator
        .ledger
        .deposit(
            operator
                .deposit_request(operator.account, v_a, addr_a)
                .await,
        )
        .await;
    rf.check(
        "deposit/same-note-other-account",
        r,
        "DuplicateDeposit",
        |e| matches!(e, LedgerError::DuplicateDeposit),
    )
    .await;
    // Both deposits are in commitments(), at their receipts' indexes.
    let (cms, tree) = sync(name, &l).await;
    for (what, d) in [("A", dep_a), ("B", dep_b)] {
        let at = cms.get(d.leaf_index as usize).copied();
        verdict(
            name,
            "deposit/in-commitments",
            at == Some(d.commitment),
            || format!("deposit {what}: leaf {} is {at:?}", d.leaf_index),
        );
    }
    let note_a = Note {
        sk: sk_a,
        rho: rho_a,
        value: v_a,
        leaf: dep_a.leaf_index,
    };
    let note_b = Note {
        sk: sk_b,
        rho: rho_b,
        value: v_b,
        leaf: dep_b.leaf_index,
    };

    // ---- 2. register_node
    operator
        .ledger
        .faucet(operator.account, Value(1_000))
        .await
        .expect("faucet");
    let node_key = SigningKey::generate(&mut OsRng);
    let reg = operator.registration(&node_key, PRICE, STAKE).await;
    let node_id = reg.node_id;
    let record = operator
        .ledger
        .register_node(reg.clone())
        .await
        .expect("register");
    verdict(
        name,
        "register/record",
        record.registration.same_terms(&reg),
        || format!("{record:?}"),
    );
    let bal = l.balance(operator.account).await.expect("balance");
    verdict(
        name,
        "register/staked",
        bal == Value(1_000 - STAKE.0),
        || format!("{bal:?}"),
    );
    let again = operator.ledger.register_node(reg.clone()).await;
    verdict(
        name,
        "register/retry",
        again.as_ref() == Ok(&record),
        || format!("{again:?}"),
    );
    let got = l.get_node(node_id).await;
    verdict(
        name,
        "register/get_node",
        got.as_ref() == Ok(&Some(record.clone())),
        || format!("{got:?}"),
    );
    let mut rf = Refusals::start(name, &l, &watch).await;
    let other_terms = operator.registration(&node_key, Value(2), STAKE).await;
    let r = operator.ledger.register_node(other_terms).await;
    rf.check("register/other-terms", r, "NodeExists", |e| {
        matches!(e, LedgerError::NodeExists)
    })
    .await;
    let big = SigningKey::generate(&mut OsRng);
    let r = operator
        .ledger
        .register_node(operator.registration(&big, PRICE, Value(1_000_000)).await)
        .await;
    rf.check("register/overdraft", r, "InsufficientBalance", |e| {
        matches!(e, LedgerError::InsufficientBalance)
    })
    .await;
    let got = l.get_node(big.verifying_key().node_id()).await;
    verdict(name, "register/get_node-unknown", got == Ok(None), || {
        format!("{got:?}")
    });
    let got = l.get_node(node_id).await;
    verdict(
        name,
        "register/get_node-unchanged",
        got == Ok(Some(record.clone())),
        || format!("{got:?}"),
    );

    // ---- 3. open_escrow
    let session_key = SigningKey::generate(&mut OsRng);
    let refund = veil_primitives::refund::refund_spending_key(&note_a.sk, &Rho::random(&mut OsRng))
        .owner_key();
    let height = l.status().await.expect("status").height;
    let expiry = BlockHeight(height.0 + 500);
    let spend_a = note_a.spend(&tree, Rho::random(&mut OsRng));
    let st = AccessPublic::derive(
        &spend_a,
        E,
        node_id,
        session_key.verifying_key().session_key_hash(),
        refund,
        expiry,
    )
    .expect("access statement");
    let sid = SessionId::from(st.nullifier);
    // A second token for the same note and terms with another change note:
    // not a retry of the first (embedded `same_token` compares cm_change).
    let spend_a2 = note_a.spend(&tree, Rho::random(&mut OsRng));
    let st_other_change =
        AccessPublic::derive(&spend_a2, E, node_id, st.session_key_hash, refund, expiry)
            .expect("access statement");
    // The withdrawals of note B (to the outsider), made now: same root.
    let rho_change_b = Rho::random(&mut OsRng);
    let spend_b = note_b.spend(&tree, rho_change_b);
    let w_st = WithdrawPublic::derive(&spend_b, Value(500), outsider.account).expect("withdraw");
    // Not retries: another amount; the same amount and change note to
    // another recipient.
    let w_other_amount =
        WithdrawPublic::derive(&spend_b, Value(300), outsider.account).expect("withdraw");
    let w_other_recipient =
        WithdrawPublic::derive(&spend_b, Value(500), user.account).expect("withdraw");
    let proof = prove_access(st, spend_a.clone()).await;
    let proof_other_change = prove_access(st_other_change, spend_a2).await;
    let w_proof = prove_withdraw(w_st, spend_b.clone()).await;
    let w_proof_other_amount = prove_withdraw(w_other_amount, spend_b.clone()).await;
    let w_proof_other_recipient = prove_withdraw(w_other_recipient, spend_b.clone()).await;

    watch.escrows.push(sid);
    watch.nullifiers.push(st.nullifier);
    watch.nullifiers.push(w_st.nullifier);
    let mut rf = Refusals::start(name, &l, &watch).await;
    verdict(
        name,
        "open/unspent-before",
        rf.before.spent == vec![false, false],
        || format!("{:?}", rf.before.spent),
    );
    // Refused before any pairing (both check the statement first).
    let unseen = AccessPublic {
        root: MerkleRoot::from_fr(veil_primitives::Fr::from(0x5eed_u64)),
        ..st
    };
    let r = l.open_escrow(unseen, proof.clone()).await;
    rf.check("open/unknown-root", r, "UnknownRoot", |e| {
        matches!(e, LedgerError::UnknownRoot(_))
    })
    .await;
    let r = l
        .open_escrow(
            AccessPublic {
                escrow: Value(2048),
                ..st
            },
            proof.clone(),
        )
        .await;
    rf.check(
        "open/size-not-accepted",
        r,
        "EscrowSizeNotAccepted(2048)",
        |e| *e == LedgerError::EscrowSizeNotAccepted(Value(2048)),
    )
    .await;
    let r = l
        .open_escrow(
            AccessPublic {
                node_id: SigningKey::generate(&mut OsRng).verifying_key().node_id(),
                ..st
            },
            proof.clone(),
        )
        .await;
    rf.check("open/unknown-node", r, "UnknownNode", |e| {
        matches!(e, LedgerError::UnknownNode)
    })
    .await;
    let too_late = BlockHeight(height.0 + MAX_EXPIRY_DELTA + 1_000);
    let r = l
        .open_escrow(
            AccessPublic {
                expiry: too_late,
                ..st
            },
            proof.clone(),
        )
        .await;
    rf.check("open/expiry-out-of-range", r, "ExpiryOutOfRange", |e| {
        matches!(e, LedgerError::ExpiryOutOfRange { expiry, max_delta, .. }
            if *expiry == too_late && *max_delta == MAX_EXPIRY_DELTA)
    })
    .await;
    // A valid statement with another statement's (well-formed) proof.
    let r = l.open_escrow(st, w_proof.clone()).await;
    rf.check("open/tampered-proof", r, "InvalidProof", |e| {
        matches!(e, LedgerError::InvalidProof)
    })
    .await;
    // The valid proof with a tampered statement (another session key).
    let tampered = AccessPublic {
        session_key_hash: SigningKey::generate(&mut OsRng)
            .verifying_key()
            .session_key_hash(),
        ..st
    };
    let r = l.open_escrow(tampered, proof.clone()).await;
    rf.check("open/tampered-statement", r, "InvalidProof", |e| {
        matches!(e, LedgerError::InvalidProof)
    })
    .await;
    // Opened.
    let pool0 = l.status().await.expect("status").pool;
    let escrow = l.open_escrow(st, proof.clone()).await.expect("open");
    let want = |e: &Escrow| {
        e.session_id == sid
            && e.node_id == node_id
            && e.escrow == E
            && e.price_per_kib == PRICE
            && e.session_key_hash == st.session_key_hash
            && e.refund_owner == refund
            && e.expiry == expiry
            && e.cm_change == st.cm_change
            && e.state == EscrowState::Open
    };
    verdict(name, "open/escrow", want(&escrow), || format!("{escrow:?}"));
    let got = l.get_escrow(sid).await;
    verdict(
        name,
        "open/get_escrow",
        got.as_ref() == Ok(&Some(escrow.clone())),
        || format!("{got:?}"),
    );
    let pool = l.status().await.expect("status").pool;
    verdict(name, "open/pool", pool.0 + E.0 == pool0.0, || {
        format!("pool {pool0:?} → {pool:?}")
    });
    let spent = l.nullifier_spent(st.nullifier).await;
    verdict(name, "open/nullifier-spent", spent == Ok(true), || {
        format!("{spent:?}")
    });
    // The same token again (by anyone): the same escrow.
    let again = outsider.ledger.open_escrow(st, proof.clone()).await;
    verdict(name, "open/retry", again.as_ref() == Ok(&escrow), || {
        format!("{again:?}")
    });
    let mut rf = Refusals::start(name, &l, &watch).await;
    // Another token of the same note (same terms, another change note) is
    // a second spend, not a retry.
    let r = l.open_escrow(st_other_change, proof_other_change).await;
    rf.check("open/second-token-same-note", r, "NullifierSpent", |e| {
        matches!(e, LedgerError::NullifierSpent)
    })
    .await;

    // ---- 5. reclaim before the window
    let r = l.reclaim(sid).await;
    let deadline = BlockHeight(expiry.0 + CHALLENGE_WINDOW + 1);
    rf.check(
        "reclaim/too-early",
        r,
        "NotYetReclaimable(expiry + window + 1)",
        |e| *e == LedgerError::NotYetReclaimable(deadline),
    )
    .await;

    let unknown = SessionId::from(Nullifier::from_fr(veil_primitives::Fr::from(0xdead_u64)));
    let r = l.reclaim(unknown).await;
    rf.check("reclaim/unknown", r, "UnknownEscrow", |e| {
        matches!(e, LedgerError::UnknownEscrow)
    })
    .await;
    let got = l.get_escrow(unknown).await;
    verdict(name, "get_escrow/unknown", got == Ok(None), || {
        format!("{got:?}")
    });
    let got = l
        .nullifier_spent(Nullifier::from_fr(veil_primitives::Fr::from(0xdead_u64)))
        .await;
    verdict(name, "nullifier_spent/unknown", got == Ok(false), || {
        format!("{got:?}")
    });

    // ---- 4. settle
    let receipt = Receipt {
        session_id: sid.inner(),
        kib: KIB,
    }
    .sign(&session_key);
    let slot = Slot::new(
        escrow.terms(),
        escrow.price_per_kib,
        &session_key.verifying_key(),
        &receipt,
    );
    let public =
        SettlePublic::for_slots(node_id, escrow.price_per_kib, std::slice::from_ref(&slot));
    let total = public.total;
    verdict(name, "settle/total", total == Value(KIB * PRICE.0), || {
        format!("{total:?}")
    });
    let statement = SettleBatch {
        node_id,
        k: 1,
        total,
        price: escrow.price_per_kib,
        slots: vec![SettleBatch::slot(&escrow, slot.public.cm_refund)],
    };
    let settle_proof = blocking(move || {
        let p = prover()
            .prove_settle::<1>(&public, vec![slot], &mut OsRng)
            .expect("settle");
        Proof(p.proof.to_bytes())
    })
    .await;
    // Someone else: the outsider with its own key, from its own handle.
    let r = outsider
        .ledger
        .settle(
            SettleRequest::signed(&outsider.key, &statement, settle_proof.clone()).expect("sign"),
        )
        .await;
    rf.check("settle/not-the-node", r, "SettleUnauthorized", |e| {
        matches!(e, LedgerError::SettleUnauthorized(_))
    })
    .await;
    // The node, through its operator.
    let request = SettleRequest::signed(&node_key, &statement, settle_proof).expect("sign");
    let op_before = l.balance(operator.account).await.expect("balance");
    let pool0 = l.status().await.expect("status").pool;
    let settled = operator
        .ledger
        .settle(request.clone())
        .await
        .expect("settle");
    verdict(name, "settle/receipt", settled.total == total, || {
        format!("{settled:?}")
    });
    let got = l.get_escrow(sid).await.expect("escrow").map(|e| e.state);
    let want_state = EscrowState::Settled {
        batch: sid,
        cm_refund: statement.slots[0].public.cm_refund,
    };
    verdict(
        name,
        "settle/escrow-settled",
        got == Some(want_state),
        || format!("{got:?}"),
    );
    let bal = l.balance(operator.account).await.expect("balance");
    verdict(name, "settle/paid", bal.0 == op_before.0 + total.0, || {
        format!("{op_before:?} → {bal:?}")
    });
    let pool = l.status().await.expect("status").pool;
    verdict(
        name,
        "settle/pool",
        pool.0 == pool0.0 + E.0 - total.0,
        || format!("pool {pool0:?} → {pool:?}"),
    );
    let again = operator.ledger.settle(request.clone()).await;
    verdict(name, "settle/retry", again == Ok(settled), || {
        format!("{again:?}")
    });
    let mut rf = Refusals::start(name, &l, &watch).await;
    let r = l.reclaim(sid).await;
    rf.check("reclaim/settled", r, "EscrowNotOpen", |e| {
        matches!(e, LedgerError::EscrowNotOpen)
    })
    .await;

    // ---- 6. withdraw
    let mut rf = Refusals::start(name, &l, &watch).await;
    let unseen = WithdrawPublic {
        root: MerkleRoot::from_fr(veil_primitives::Fr::from(0x5eed_u64)),
        ..w_st
    };
    let r = l.withdraw(unseen, w_proof.clone()).await;
    rf.check("withdraw/unknown-root", r, "UnknownRoot", |e| {
        matches!(e, LedgerError::UnknownRoot(_))
    })
    .await;
    // A valid statement with another statement's (well-formed) proof.
    let r = l.withdraw(w_st, w_proof_other_amount.clone()).await;
    rf.check("withdraw/tampered-proof", r, "InvalidProof", |e| {
        matches!(e, LedgerError::InvalidProof)
    })
    .await;
    let out_before = l.balance(outsider.account).await.expect("balance");
    let pool0 = l.status().await.expect("status").pool;
    let w = l.withdraw(w_st, w_proof.clone()).await.expect("withdraw");
    let bal = l.balance(outsider.account).await.expect("balance");
    verdict(
        name,
        "withdraw/credited",
        bal.0 == out_before.0 + 500,
        || format!("{out_before:?} → {bal:?}"),
    );
    let pool = l.status().await.expect("status").pool;
    verdict(name, "withdraw/pool", pool.0 + 500 == pool0.0, || {
        format!("pool {pool0:?} → {pool:?}")
    });
    let spent = l.nullifier_spent(w_st.nullifier).await;
    verdict(name, "withdraw/nullifier-spent", spent == Ok(true), || {
        format!("{spent:?}")
    });
    let again = l.withdraw(w_st, w_proof.clone()).await;
    verdict(name, "withdraw/retry", again == Ok(w), || {
        format!("{again:?}")
    });
    let mut rf = Refusals::start(name, &l, &watch).await;
    let r = l.withdraw(w_other_amount, w_proof_other_amount).await;
    rf.check("withdraw/second-other-amount", r, "NullifierSpent", |e| {
        matches!(e, LedgerError::NullifierSpent)
    })
    .await;
    let r = l.withdraw(w_other_recipient, w_proof_other_recipient).await;
    rf.check(
        "withdraw/second-other-recipient",
        r,
        "NullifierSpent",
        |e| matches!(e, LedgerError::NullifierSpent),
    )
    .await;

    eprintln!(
        "[{name}] ledger conformance suite done in {:.1?}",
        started.elapsed()
    );
}

/// `update_node` (§8.3.8) on every backend. The node's own update
/// applies and reads back; a retry answers the record; a replay after a
/// later update, a stale sequence, another key, another account, invalid
/// terms and an over-long profile are refused with the same variant on
/// each, and change neither the watched state nor the record.
async fn update_suite<B: Backend>(b: &B) {
    let name = b.name();
    let operator = b.party().await;
    let l = &operator.ledger;
    l.faucet(operator.account, Value(1_000))
        .await
        .expect("faucet");
    let node_key = SigningKey::generate(&mut OsRng);
    let node_id = node_key.verifying_key().node_id();
    let reg = operator.registration(&node_key, PRICE, STAKE).await;
    let record = l.register_node(reg).await.expect("register");
    let signed = |nonce, rec: &NodeRecord, price, tls| {
        NodeUpdate::signed(
            &node_key,
            &operator.key,
            nonce,
            rec,
            price,
            vec![E],
            [tls; 32],
        )
    };
    let nonce = |l: &B::L| {
        let l = l.clone();
        let a = operator.account;
        async move { l.account(a).await.expect("account").next_nonce }
    };
    let first = signed(nonce(l).await, &record, Value(2), 8);
    let applied = l.update_node(first.clone()).await.expect("update");
    let in_force = (
        applied.tls_key_hash(),
        applied.price_per_kib(),
        applied.sequence(),
    );
    verdict(
        name,
        "update/applied",
        in_force == ([8; 32], Value(2), 1),
        || format!("{applied:?}"),
    );
    let got = l.get_node(node_id).await;
    verdict(
        name,
        "update/get_node",
        got == Ok(Some(applied.clone())),
        || format!("{got:?}"),
    );
    let again = l.update_node(first.clone()).await;
    verdict(name, "update/retry", again == Ok(applied.clone()), || {
        format!("{again:?}")
    });
    let second = signed(nonce(l).await, &applied, Value(3), 9);
    let current = l.update_node(second).await.expect("second update");

    // Someone else: the node key signs an update naming their account,
    // which they send (their signature; on chain their transaction).
    let stranger = b.party().await;
    let theirs = NodeRecord {
        registration: NodeRegistration {
            account: stranger.account,
            ..current.registration.clone()
        },
        ..current.clone()
    };
    let stranger_nonce = stranger
        .ledger
        .account(stranger.account)
        .await
        .expect("account")
        .next_nonce;
    let by_stranger = NodeUpdate::signed(
        &node_key,
        &stranger.key,
        stranger_nonce,
        &theirs,
        Value(3),
        vec![E],
        [10; 32],
    );
    let long_profile = NodeTerms {
        profile: vec![1; 1025],
        ..NodeTerms::new(Value(3), vec![E], [10; 32])
    };
    let watch = Watch {
        accounts: vec![operator.account, stranger.account],
        escrows: vec![],
        nullifiers: vec![],
    };
    let mut rf = Refusals::start(name, l, &watch).await;
    let stale = |e: &LedgerError| matches!(e, LedgerError::StaleNodeUpdate);
    let unauth = |e: &LedgerError| matches!(e, LedgerError::RegistrationUnauthenticated(_));
    let account = |e: &LedgerError| matches!(e, LedgerError::AccountUnauthenticated(_));
    let invalid = |e: &LedgerError| matches!(e, LedgerError::InvalidArgument(_));
    type Case<'c, L> = (
        &'c str,
        &'c L,
        NodeUpdate,
        &'c str,
        &'c dyn Fn(&LedgerError) -> bool,
    );
    let mut cases: Vec<Case<B::L>> = vec![
        ("update/replay", l, first.clone(), "StaleNodeUpdate", &stale),
        (
            "update/stale-sequence",
            l,
            signed(nonce(l).await, &applied, Value(3), 10),
            "StaleNodeUpdate",
            &stale,
        ),
        (
            "update/other-key",
            l,
            NodeUpdate {
                signature: SigningKey::generate(&mut OsRng).sign(&first.message()),
                ..signed(nonce(l).await, &current, Value(3), 10)
            },
            "RegistrationUnauthenticated",
            &unauth,
        ),
        (
            "update/other-account",
            &stranger.ledger,
            by_stranger,
            "AccountUnauthenticated",
            &account,
        ),
        (
            "update/zero-price",
            l,
            signed(nonce(l).await, &current, Value(0), 10),
            "InvalidArgument",
            &invalid,
        ),
        (
            "update/profile-too-long",
            l,
            NodeUpdate::sign(
                &node_key,
                &operator.key,
                nonce(l).await,
                &current,
                long_profile,
            ),
            "InvalidArgument",
            &invalid,
        ),
    ];
    if l.acting_account().is_none() {
        cases.push((
            "update/no-account-signature",
            l,
            NodeUpdate {
                account_auth: None,
                ..signed(nonce(l).await, &current, Value(3), 10)
            },
            "AccountUnauthenticated",
            &account,
        ));
    }
    for (id, sender, u, want, is) in cases {
        let r = sender.update_node(u).await;
        rf.check(id, r, want, is).await;
        let got = l.get_node(node_id).await;
        verdict(
            name,
            &format!("{id}/record"),
            got == Ok(Some(current.clone())),
            || format!("{got:?}"),
        );
    }
}

/// Gives each of `parties` 1,000 from the faucet.
async fn fund<L: LedgerApi>(parties: &[&Party<L>]) {
    for p in parties {
        p.ledger
            .faucet(p.account, Value(1_000))
            .await
            .expect("faucet");
    }
}

impl<L: LedgerApi> Party<L> {
    /// A fresh node key's node registered from this party's account at
    /// `PRICE`, staking `STAKE`: its key and id.
    async fn register_fresh_node(&self) -> (SigningKey, NodeId) {
        let node_key = SigningKey::generate(&mut OsRng);
        let reg = self.registration(&node_key, PRICE, STAKE).await;
        self.ledger.register_node(reg).await.expect("node");
        let node = node_key.verifying_key().node_id();
        (node_key, node)
    }
}

// ------------------------------------------------------------------ audits

/// A monitor party's requests, built as `veil monitor` builds them: signed
/// by its account key, or (a ledger that authenticates its sender) from
/// the sender.
impl<L: LedgerApi> Party<L> {
    async fn nonce(&self) -> u64 {
        self.ledger
            .account(self.account)
            .await
            .expect("account")
            .next_nonce
    }

    async fn monitor_registration(&self, stake: Value) -> MonitorRegistration {
        match self.ledger.acting_account() {
            Some(me) => MonitorRegistration::from_sender(me, stake),
            None => MonitorRegistration::signed(&self.key, self.nonce().await, stake),
        }
    }

    async fn report(&self, epoch: u64, node: NodeId) -> AuditReport {
        let measured = Measurement {
            throughput_kbps: 50_000,
            rtt_ms: 20,
            ..Default::default()
        };
        match self.ledger.acting_account() {
            Some(me) => AuditReport::from_sender(me, epoch, node, measured),
            None => AuditReport::signed(&self.key, self.nonce().await, epoch, node, measured),
        }
    }

    async fn challenge_request(&self, epoch: u64, node: NodeId) -> ChallengeRequest {
        match self.ledger.acting_account() {
            Some(me) => ChallengeRequest::from_sender(me, epoch, node),
            None => ChallengeRequest::signed(&self.key, self.nonce().await, epoch, node),
        }
    }

    async fn monitor_exit(&self, step: ExitStep) -> MonitorExitRequest {
        match self.ledger.acting_account() {
            Some(me) => MonitorExitRequest::from_sender(me, step),
            None => MonitorExitRequest::signed(&self.key, self.nonce().await, step),
        }
    }
}

/// Monitors (§8.3.13) on every backend: registration and its retry, a
/// monitor's view, reports refused in the embedded ledger's order (not a
/// monitor, window closed, unknown node, not assigned — a monitor
/// registered this epoch audits from the next), retiring and the locked
/// release; every refusal changes neither the watched balances nor the
/// monitor's record. Verdicts need epochs to pass: the clock is the
/// backend's own (tested per backend: `ledger/tests/audits.rs`,
/// `evm/tests/audits.rs`).
async fn audit_suite<B: Backend>(b: &B) {
    let name = b.name();
    let (m, other, operator) = (b.party().await, b.party().await, b.party().await);
    let l = &m.ledger;
    fund(&[&m, &other, &operator]).await;
    let (_, node) = operator.register_fresh_node().await;
    let watch = Watch {
        accounts: vec![m.account, other.account],
        escrows: vec![],
        nullifiers: vec![],
    };
    let record = |p: &Party<B::L>| {
        let (l, a) = (p.ledger.clone(), p.account);
        async move { l.monitor(a).await.expect("monitor").record }
    };

    let mut rf = Refusals::start(name, l, &watch).await;
    let r = l
        .register_monitor(m.monitor_registration(Value(0)).await)
        .await;
    rf.check("monitor/zero-stake", r, "InvalidArgument", |e| {
        matches!(e, LedgerError::InvalidArgument(_))
    })
    .await;
    let r = l
        .register_monitor(m.monitor_registration(Value(1_001)).await)
        .await;
    rf.check("monitor/over-balance", r, "InsufficientBalance", |e| {
        matches!(e, LedgerError::InsufficientBalance)
    })
    .await;
    let r = l.exit_monitor(m.monitor_exit(ExitStep::Retire).await).await;
    rf.check("monitor/retire-not-a-monitor", r, "NotAMonitor", |e| {
        matches!(e, LedgerError::NotAMonitor)
    })
    .await;
    let r = l.submit_report(m.report(0, node).await).await;
    rf.check("report/not-a-monitor", r, "NotAMonitor", |e| {
        matches!(e, LedgerError::NotAMonitor)
    })
    .await;

    let request = m.monitor_registration(Value(500)).await;
    let rec = l.register_monitor(request.clone()).await.expect("register");
    verdict(
        name,
        "monitor/registered",
        rec.stake == Value(500) && rec.exit.is_none(),
        || format!("{rec:?}"),
    );
    let balance = l.balance(m.account).await.expect("balance");
    verdict(name, "monitor/staked", balance == Value(500), || {
        format!("{balance:?}")
    });
    let again = l.register_monitor(request).await;
    verdict(name, "monitor/retry", again.as_ref() == Ok(&rec), || {
        format!("{again:?}")
    });
    let view = l.monitor(m.account).await.expect("view");
    verdict(
        name,
        "monitor/view",
        view.record.as_ref() == Some(&rec) && view.assigned.is_empty(),
        || format!("{view:?}"),
    );
    let epoch = view.epoch;

    let mut rf = Refusals::start(name, l, &watch).await;
    let before = record(&m).await;
    let r = l
        .register_monitor(m.monitor_registration(Value(400)).await)
        .await;
    rf.check("monitor/second", r, "MonitorExists", |e| {
        matches!(e, LedgerError::MonitorExists)
    })
    .await;
    let r = l.submit_report(m.report(epoch + 5, node).await).await;
    rf.check("report/window", r, "ReportNotOpen", |e| {
        matches!(e, LedgerError::ReportNotOpen)
    })
    .await;
    let unknown = SigningKey::generate(&mut OsRng).verifying_key().node_id();
    let r = l.submit_report(m.report(epoch, unknown).await).await;
    rf.check("report/unknown-node", r, "UnknownNode", |e| {
        matches!(e, LedgerError::UnknownNode)
    })
    .await;
    let r = l.submit_report(m.report(epoch, node).await).await;
    rf.check("report/not-yet-assigned", r, "NotAssigned", |e| {
        matches!(e, LedgerError::NotAssigned)
    })
    .await;
    let r = l
        .exit_monitor(m.monitor_exit(ExitStep::Release).await)
        .await;
    rf.check(
        "monitor/release-before-retiring",
        r,
        "MonitorNotRetired",
        |e| matches!(e, LedgerError::MonitorNotRetired),
    )
    .await;
    let after = record(&m).await;
    verdict(
        name,
        "monitor/refusals-keep-the-record",
        after == before,
        || format!("{before:?} -> {after:?}"),
    );

    let retired = l
        .exit_monitor(m.monitor_exit(ExitStep::Retire).await)
        .await
        .expect("retire");
    let exit = retired.exit.expect("retired");
    verdict(name, "monitor/retired", exit.released.is_none(), || {
        format!("{exit:?}")
    });
    let mut rf = Refusals::start(name, l, &watch).await;
    let r = l.exit_monitor(m.monitor_exit(ExitStep::Retire).await).await;
    rf.check("monitor/retire-twice", r, "MonitorRetired", |e| {
        matches!(e, LedgerError::MonitorRetired)
    })
    .await;
    let r = l
        .exit_monitor(m.monitor_exit(ExitStep::Release).await)
        .await;
    rf.check("monitor/release-locked", r, "StakeLocked", |e| {
        matches!(e, LedgerError::StakeLocked(_))
    })
    .await;
    let still = record(&m).await;
    verdict(
        name,
        "monitor/locked-keeps-the-stake",
        still == Some(retired.clone()),
        || format!("{still:?}"),
    );
}

/// Ledger challenges (§8.3.14) on every backend: refused in the embedded
/// ledger's order (another account's, not a monitor, another epoch, an
/// unknown node, a monitor the epoch does not assign), each changing
/// nothing; a challenge and its retry; answers by another key or to no
/// challenge refused; the node key's answer closes it; a second challenge
/// left past its deadline is refused an answer, closed as missed (the
/// embedded and gRPC clocks close it, on chain its challenger's keeper,
/// `close_missed_challenges`), slashes the whole stake and pays the
/// challenger its share; the node record counts open and missed.
async fn challenge_suite<B: Backend>(b: &B) {
    let name = b.name();
    let operator = b.party().await;
    let outsider = b.party().await;
    let mut monitors = Vec::new();
    for _ in 0..6 {
        monitors.push(b.party().await);
    }
    let everyone: Vec<&Party<B::L>> = monitors.iter().chain([&operator, &outsider]).collect();
    fund(&everyone).await;
    let (node_key, node) = operator.register_fresh_node().await;
    for m in &monitors {
        let r = m.monitor_registration(Value(500)).await;
        m.ledger.register_monitor(r).await.expect("monitor");
    }
    b.next_audit_epoch().await;
    let (mut assigned, mut idle) = (Vec::new(), Vec::new());
    let mut epoch = 0;
    for m in &monitors {
        let view = m.ledger.monitor(m.account).await.expect("view");
        epoch = view.epoch;
        match view.assigned.contains(&node) {
            true => assigned.push(m),
            false => idle.push(m),
        }
    }
    let [a, c, ..] = assigned[..] else {
        panic!("[{name}] two of six monitors assigned: {}", assigned.len());
    };
    let l = &operator.ledger;
    let watch = Watch {
        accounts: monitors.iter().map(|m| m.account).collect(),
        escrows: vec![],
        nullifiers: vec![],
    };

    let mut rf = Refusals::start(name, l, &watch).await;
    let theirs = c.challenge_request(epoch, node).await;
    let named = ChallengeRequest {
        key: ChallengeKey {
            monitor: a.account,
            ..theirs.key
        },
        ..theirs
    };
    let r = c.ledger.challenge_node(named).await;
    rf.check(
        "challenge/other-account",
        r,
        "AccountUnauthenticated",
        |e| matches!(e, LedgerError::AccountUnauthenticated(_)),
    )
    .await;
    let r = outsider
        .ledger
        .challenge_node(outsider.challenge_request(epoch, node).await)
        .await;
    rf.check("challenge/not-a-monitor", r, "NotAMonitor", |e| {
        matches!(e, LedgerError::NotAMonitor)
    })
    .await;
    let r = a
        .ledger
        .challenge_node(a.challenge_request(epoch + 1, node).await)
        .await;
    rf.check("challenge/epoch", r, "ChallengeEpoch", |e| {
        *e == LedgerError::ChallengeEpoch(epoch)
    })
    .await;
    let unknown = SigningKey::generate(&mut OsRng).verifying_key().node_id();
    let r = a
        .ledger
        .challenge_node(a.challenge_request(epoch, unknown).await)
        .await;
    rf.check("challenge/unknown-node", r, "UnknownNode", |e| {
        matches!(e, LedgerError::UnknownNode)
    })
    .await;
    if let Some(i) = idle.first() {
        let r = i
            .ledger
            .challenge_node(i.challenge_request(epoch, node).await)
            .await;
        rf.check("challenge/not-assigned", r, "NotAssigned", |e| {
            matches!(e, LedgerError::NotAssigned)
        })
        .await;
    }
    let none = l.challenges(node).await.expect("challenges");
    verdict(
        name,
        "challenge/refusals-record-nothing",
        none.is_empty(),
        || format!("{none:?}"),
    );

    let request = a.challenge_request(epoch, node).await;
    let first = a
        .ledger
        .challenge_node(request.clone())
        .await
        .expect("challenge");
    verdict(
        name,
        "challenge/open",
        first.key == request.key && first.is_open() && first.deadline > first.issued_at,
        || format!("{first:?}"),
    );
    let again = a.ledger.challenge_node(request).await;
    verdict(
        name,
        "challenge/retry",
        again.as_ref() == Ok(&first),
        || format!("{again:?}"),
    );
    let open = l.get_node(node).await.expect("node").expect("record").audit;
    verdict(
        name,
        "challenge/open-count",
        open.open_challenges == 1,
        || format!("{open:?}"),
    );

    let mut rf = Refusals::start(name, l, &watch).await;
    let forged = ChallengeAnswer::sign(&SigningKey::generate(&mut OsRng), &first);
    let r = l.answer_challenge(forged).await;
    rf.check("answer/other-key", r, "BadChallengeAnswer", |e| {
        matches!(e, LedgerError::BadChallengeAnswer)
    })
    .await;
    let nothing = ChallengeAnswer {
        key: ChallengeKey {
            monitor: c.account,
            ..first.key
        },
        ..ChallengeAnswer::sign(&node_key, &first)
    };
    let r = l.answer_challenge(nothing).await;
    rf.check("answer/no-challenge", r, "UnknownChallenge", |e| {
        matches!(e, LedgerError::UnknownChallenge)
    })
    .await;
    let answer = ChallengeAnswer::sign(&node_key, &first);
    let answered = l.answer_challenge(answer.clone()).await.expect("answer");
    verdict(
        name,
        "answer/answered",
        matches!(answered.state, ChallengeState::Answered(_)),
        || format!("{answered:?}"),
    );
    let again = l.answer_challenge(answer).await;
    verdict(
        name,
        "answer/retry",
        again.as_ref() == Ok(&answered),
        || format!("{again:?}"),
    );

    // The second challenge is left unanswered past its deadline.
    let second = c
        .ledger
        .challenge_node(c.challenge_request(epoch, node).await)
        .await
        .expect("second challenge");
    let paid_before = l.balance(c.account).await.expect("balance");
    b.next_op_at(second.deadline.0 + 1).await;
    let late = ChallengeAnswer::sign(&node_key, &second);
    let r = l.answer_challenge(late.clone()).await;
    verdict(
        name,
        "answer/late",
        r == Err(LedgerError::ChallengeClosed),
        || format!("{r:?}"),
    );
    c.ledger.close_missed_challenges().await.expect("keeper");
    let idle_keeper = c.ledger.close_missed_challenges().await;
    verdict(name, "missed/closed-once", idle_keeper == Ok(0), || {
        format!("{idle_keeper:?}")
    });
    let record = l.get_node(node).await.expect("node").expect("record");
    let audit = record.audit;
    verdict(
        name,
        "missed/record",
        (
            audit.open_challenges,
            audit.missed_challenges,
            audit.slashed,
        ) == (0, 1, STAKE),
        || format!("{audit:?}"),
    );
    let rule = veil_ledger::monitor::audit_rule();
    let challenger = veil_market::audit::Party(c.account.to_bytes());
    let slash = veil_market::audit::slash_for_evidence(&rule, STAKE.get().into(), vec![challenger]);
    let paid = l.balance(c.account).await.expect("balance").get();
    let want = u128::from(paid_before.get()) + slash.reward_each;
    verdict(
        name,
        "missed/challenger-paid",
        u128::from(paid) == want && slash.amount == u128::from(STAKE.get()),
        || format!("{paid}, want {want} ({slash:?})"),
    );
    let all = l.challenges(node).await.expect("challenges");
    let missed = all.iter().find(|x| x.key == second.key).map(|x| x.state);
    verdict(
        name,
        "missed/state",
        missed == Some(ChallengeState::Missed { slashed: STAKE }),
        || format!("{all:?}"),
    );
    let r = l.answer_challenge(late).await;
    verdict(
        name,
        "answer/after-close",
        r == Err(LedgerError::ChallengeClosed),
        || format!("{r:?}"),
    );
}

/// A node's exit (§8.3.12) on every backend: someone else's retirement,
/// a release before retiring, then retiring; a second retirement, an
/// update of the retired node and an early release (with the same
/// releasable height, `retired + max_expiry_delta + challenge_window + 1
/// + 200`) are refused the same way and change nothing.
async fn exit_suite<B: Backend>(b: &B) {
    let name = b.name();
    let (operator, stranger) = (b.party().await, b.party().await);
    let l = &operator.ledger;
    l.faucet(operator.account, Value(1_000))
        .await
        .expect("faucet");
    let node_key = SigningKey::generate(&mut OsRng);
    let node_id = node_key.verifying_key().node_id();
    let reg = operator.registration(&node_key, PRICE, STAKE).await;
    let record = l.register_node(reg).await.expect("register");
    let exit = |p: &Party<B::L>, step: ExitStep| {
        let (l, key, account) = (p.ledger.clone(), p.key.clone(), p.account);
        async move {
            match l.acting_account() {
                Some(me) => veil_ledger::exit::ExitRequest {
                    node_id,
                    account: me,
                    step,
                    auth: None,
                },
                None => {
                    let nonce = l.account(account).await.expect("account").next_nonce;
                    veil_ledger::exit::ExitRequest::signed(&key, nonce, node_id, step)
                }
            }
        }
    };
    let watch = Watch {
        accounts: vec![operator.account, stranger.account],
        escrows: vec![],
        nullifiers: vec![],
    };
    let mut rf = Refusals::start(name, l, &watch).await;
    let r = stranger
        .ledger
        .exit_node(exit(&stranger, ExitStep::Retire).await)
        .await;
    rf.check("exit/someone-else", r, "AccountUnauthenticated", |e| {
        matches!(e, LedgerError::AccountUnauthenticated(_))
    })
    .await;
    let r = l.exit_node(exit(&operator, ExitStep::Release).await).await;
    rf.check("exit/release-before-retiring", r, "NodeNotRetired", |e| {
        matches!(e, LedgerError::NodeNotRetired)
    })
    .await;
    let unchanged = l.get_node(node_id).await;
    verdict(
        name,
        "exit/refusals-keep-the-record",
        unchanged == Ok(Some(record.clone())),
        || format!("{unchanged:?}"),
    );

    let retired = l
        .exit_node(exit(&operator, ExitStep::Retire).await)
        .await
        .expect("retire");
    let at = retired.exit.map(|x| x.retired.at.0);
    verdict(
        name,
        "exit/retired",
        at.is_some() && retired.exit.is_some_and(|x| x.released.is_none()),
        || format!("{retired:?}"),
    );
    let read = l.get_node(node_id).await;
    verdict(
        name,
        "exit/get_node",
        read == Ok(Some(retired.clone())),
        || format!("{read:?}"),
    );
    let releasable = at.map(|h| h + MAX_EXPIRY_DELTA + CHALLENGE_WINDOW + 1 + 200);
    let mut rf = Refusals::start(name, l, &watch).await;
    let r = l.exit_node(exit(&operator, ExitStep::Retire).await).await;
    rf.check("exit/retire-twice", r, "NodeRetired", |e| {
        matches!(e, LedgerError::NodeRetired)
    })
    .await;
    let nonce = l
        .account(operator.account)
        .await
        .expect("account")
        .next_nonce;
    let update = NodeUpdate::signed(
        &node_key,
        &operator.key,
        nonce,
        &retired,
        PRICE,
        vec![E],
        [9; 32],
    );
    let r = l.update_node(update).await;
    rf.check("exit/update-retired", r, "NodeRetired", |e| {
        matches!(e, LedgerError::NodeRetired)
    })
    .await;
    let r = l.exit_node(exit(&operator, ExitStep::Release).await).await;
    rf.check(
        "exit/release-locked",
        r,
        "StakeLocked(retired + lock)",
        |e| matches!(e, LedgerError::StakeLocked(h) if Some(h.0) == releasable),
    )
    .await;
    let still = l.get_node(node_id).await;
    verdict(
        name,
        "exit/locked-keeps-the-stake",
        still == Ok(Some(retired.clone())),
        || format!("{still:?}"),
    );
}

// ------------------------------------------------------------------ market

impl<L: LedgerApi> Party<L> {
    /// A trade as `veil_client::market::trade` builds it: signed by the
    /// account key at its next nonce, or from the sender; `account`
    /// names the party's own account or (to test the refusal) another's.
    async fn trade_request(&self, account: AccountId, order: Order) -> TradeRequest {
        match self.ledger.acting_account() {
            Some(_) => TradeRequest::from_sender(account, order),
            None => TradeRequest {
                account,
                ..TradeRequest::signed(&self.key, self.nonce().await, order)
            },
        }
    }
}

/// The bandwidth market (§8.3.11, docs/market.md §7, §7.2) on every
/// backend, against the numbers `veil-market` computes from the genesis
/// curve: a zero-demand step of the hand at the first epoch boundary, a
/// buy and a sale at their quotes (fee included), every refusal changing
/// nothing, and the step after an epoch with stake and no escrow.
async fn market_suite<B: Backend>(b: &B) {
    use veil_ledger::trade::{GENESIS_FLOAT, GENESIS_RATIO_PPM, GENESIS_RESERVE, HandState};
    use veil_ledger::trade::{genesis_curve, step_hand, trade_fee};
    let name = b.name();
    let (trader, other) = (b.party().await, b.party().await);
    let l = &trader.ledger;
    let genesis = l.market().await.expect("market");
    verdict(
        name,
        "market/genesis",
        (
            genesis.reserve,
            genesis.supply.get(),
            genesis.float.get(),
            genesis.ratio_ppm,
        ) == (
            GENESIS_RESERVE,
            GENESIS_FLOAT.get(),
            GENESIS_FLOAT.get(),
            GENESIS_RATIO_PPM,
        ),
        || format!("{genesis:?}"),
    );
    // The first boundary: nothing escrowed, so one step down (embedded
    // at the boundary, on chain at the next trade; `market()` shows it).
    let mut curve = genesis_curve().expect("curve");
    let idle = |staked| HandState::at(BlockHeight(0), Value(0), Value(staked));
    step_hand(&mut curve, idle(0), 1);
    b.next_market_epoch().await;
    l.faucet(trader.account, Value(10_000))
        .await
        .expect("faucet");
    let shows = |m: &veil_ledger::trade::MarketState, c: &veil_market::Curve| {
        (
            m.reserve.get() as u128,
            m.supply.get(),
            m.float.get(),
            m.ratio_ppm,
        ) == (c.reserve(), c.supply(), c.float(), c.ratio().ppm())
    };
    let stepped = l.market().await.expect("market");
    verdict(
        name,
        "market/first-step",
        shows(&stepped, &curve) && stepped.ratio_ppm == 475_000,
        || format!("{stepped:?}"),
    );

    let (quote, _) = trade_fee().quote_buy(&curve, 5_000).expect("quote");
    let buy = |spend: u64, min: u128| Order::Buy {
        spend: Value(spend),
        min_tokens: Tokens(min),
    };
    let sell = |tokens: u128, min: u64| Order::Sell {
        tokens: Tokens(tokens),
        min_value: Value(min),
    };
    let watch = Watch {
        accounts: vec![trader.account, other.account],
        escrows: vec![],
        nullifiers: vec![],
    };
    let mut rf = Refusals::start(name, l, &watch).await;
    let cases: Vec<(
        &str,
        &Party<B::L>,
        AccountId,
        Order,
        &str,
        fn(&LedgerError) -> bool,
    )> = vec![
        (
            "trade/past-the-limit",
            &trader,
            trader.account,
            buy(5_000, quote + 1),
            "Market(BelowMinimum)",
            |e| {
                matches!(
                    e,
                    LedgerError::Market(veil_market::CurveError::BelowMinimum { .. })
                )
            },
        ),
        (
            "trade/over-balance",
            &trader,
            trader.account,
            buy(10_001, 0),
            "InsufficientBalance",
            |e| matches!(e, LedgerError::InsufficientBalance),
        ),
        (
            "trade/zero",
            &trader,
            trader.account,
            buy(0, 0),
            "Market(Zero)",
            |e| matches!(e, LedgerError::Market(veil_market::CurveError::Zero)),
        ),
        (
            "trade/sell-unheld",
            &trader,
            trader.account,
            sell(1, 0),
            "InsufficientTokens",
            |e| matches!(e, LedgerError::InsufficientTokens),
        ),
        (
            "trade/someone-else",
            &other,
            trader.account,
            buy(1_000, 0),
            "AccountUnauthenticated",
            |e| matches!(e, LedgerError::AccountUnauthenticated(_)),
        ),
    ];
    for (id, p, account, order, want, is) in cases {
        let r = p.ledger.trade(p.trade_request(account, order).await).await;
        rf.check(id, r, want, is).await;
    }
    let exact = match l
        .trade(
            trader
                .trade_request(trader.account, buy(5_000, quote + 1))
                .await,
        )
        .await
    {
        Err(LedgerError::Market(veil_market::CurveError::BelowMinimum { got, min })) => (got, min),
        other => panic!("[{name}] {other:?}"),
    };
    verdict(
        name,
        "trade/limit-values",
        exact == (quote, quote + 1),
        || format!("{exact:?}"),
    );
    let unchanged = l.market().await.expect("market");
    verdict(
        name,
        "trade/refusals-keep-the-curve",
        unchanged == stepped,
        || format!("{unchanged:?}"),
    );

    let bought = l
        .trade(
            trader
                .trade_request(trader.account, buy(5_000, quote))
                .await,
        )
        .await
        .expect("buy");
    trade_fee().buy(&mut curve, 5_000, quote).expect("rust buy");
    let held = l.tokens(trader.account).await.expect("tokens");
    verdict(
        name,
        "trade/buy",
        (bought.tokens.get(), bought.value, held.get()) == (quote, Value(5_000), quote),
        || format!("{bought:?}, holding {held}"),
    );
    let half = quote / 2;
    let (paid, _) = trade_fee().quote_sell(&curve, half).expect("quote");
    let sold = l
        .trade(
            trader
                .trade_request(trader.account, sell(half, paid as u64))
                .await,
        )
        .await
        .expect("sell");
    trade_fee().sell(&mut curve, half, paid).expect("rust sell");
    let balance = l.balance(trader.account).await.expect("balance");
    verdict(
        name,
        "trade/sell",
        (
            sold.tokens.get(),
            sold.value.get() as u128,
            balance.get() as u128,
        ) == (half, paid, 5_000 + paid),
        || format!("{sold:?}, balance {balance:?}"),
    );
    let after = l.market().await.expect("market");
    verdict(name, "trade/curve", shows(&after, &curve), || {
        format!("{after:?}")
    });

    // A node stakes; an epoch without escrows steps the ratio down again.
    other
        .ledger
        .faucet(other.account, Value(1_000))
        .await
        .expect("faucet");
    let node_key = SigningKey::generate(&mut OsRng);
    let reg = other.registration(&node_key, PRICE, STAKE).await;
    other.ledger.register_node(reg).await.expect("node");
    let staked = l.market().await.expect("market");
    verdict(
        name,
        "market/hand-state",
        staked.hand.staked == STAKE && staked.hand.epoch_escrowed == Value(0),
        || format!("{:?}", staked.hand),
    );
    b.next_market_epoch().await;
    step_hand(&mut curve, idle(STAKE.get()), 1);
    let (quote, _) = trade_fee().quote_buy(&curve, 1_000).expect("quote");
    let again = l
        .trade(
            trader
                .trade_request(trader.account, buy(1_000, quote))
                .await,
        )
        .await
        .expect("buy after the step");
    trade_fee().buy(&mut curve, 1_000, quote).expect("rust buy");
    let end = l.market().await.expect("market");
    verdict(
        name,
        "market/second-step",
        again.tokens.get() == quote && shows(&end, &curve) && end.ratio_ppm == 450_000,
        || format!("{again:?}, {end:?}"),
    );
}

/// The three tests of one suite: `<name>_embedded`, `<name>_grpc` and
/// `<name>_evm` (a loud skip without anvil, unless `VEIL_REQUIRE_ANVIL`).
macro_rules! on_every_backend {
    ($suite:ident: $embedded:ident, $grpc:ident, $evm:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $embedded() {
            $suite(&Embedded(embedded())).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $grpc() {
            $suite(&grpc().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $evm() {
            let Some(b) = evm::start().await else {
                return;
            };
            $suite(&b).await;
        }
    };
}

on_every_backend!(suite: conformance_embedded, conformance_grpc, conformance_evm);
on_every_backend!(update_suite: node_update_embedded, node_update_grpc, node_update_evm);
on_every_backend!(audit_suite: audits_embedded, audits_grpc, audits_evm);
on_every_backend!(challenge_suite: challenges_embedded, challenges_grpc, challenges_evm);
on_every_backend!(exit_suite: exit_embedded, exit_grpc, exit_evm);
on_every_backend!(market_suite: market_embedded, market_grpc, market_evm);
