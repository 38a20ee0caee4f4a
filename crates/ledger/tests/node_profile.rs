//! The node profile (docs/protocol.md §8.3.9) through the engine, the
//! store and the wire: the ledger stores the bytes a node signed and
//! serves them back unchanged, after a restart too; the node key's
//! signature binds them (a profile swapped in by anyone else is refused);
//! the one rule the ledger enforces is the size bound; and every refusal
//! changes nothing.

use std::sync::Arc;

use veil_ledger::convert::{node_from_pb, node_to_pb, registration_from_pb, registration_to_pb};
use veil_ledger::limits::MAX_PROFILE_BYTES;
use veil_ledger::profile::{Endpoint, NodeProfile, PublishedVoucherKey};
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, LedgerError};
use veil_primitives::eddsa::SigningKey;

const E: Value = Value(1_000);
const STAKE: Value = Value(300);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

fn engine_at(path: &std::path::Path) -> Engine {
    Engine::open(
        path,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("engine")
}

fn profile(port: u16, epochs: &[u64]) -> Vec<u8> {
    NodeProfile {
        endpoint: Some(Endpoint::parse(&format!("node.example:{port}")).expect("endpoint")),
        // What STAKE backs (100 per Mbit/s, §8.3.6).
        capacity_mbit_s: 3,
        voucher_grace_secs: 3_600,
        voucher_keys: epochs
            .iter()
            .map(|&epoch| PublishedVoucherKey {
                epoch,
                public_key: [epoch as u8; 32],
                proof: [9; 64],
            })
            .collect(),
    }
    .encode()
    .expect("encodes")
}

fn terms(profile: Vec<u8>) -> NodeTerms {
    NodeTerms {
        profile,
        ..NodeTerms::new(Value(2), vec![E], [1; 32])
    }
}

struct Fx {
    engine: Engine,
    node_key: SigningKey,
    account_key: SigningKey,
}

impl Fx {
    fn in_memory() -> Self {
        let engine = Engine::in_memory(
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        );
        Self::new(engine.expect("engine"))
    }

    fn new(engine: Engine) -> Self {
        let fx = Self {
            engine,
            node_key: key(11),
            account_key: key(12),
        };
        let account = fx.account_key.verifying_key().account_id();
        fx.engine.faucet(account, Value(1_000)).expect("faucet");
        fx
    }

    fn nonce(&self) -> u64 {
        let a = self.account_key.verifying_key().account_id();
        self.engine.account(&a).expect("account").next_nonce
    }

    fn registration(&self, profile: Vec<u8>) -> NodeRegistration {
        NodeRegistration::sign(
            &self.node_key,
            &self.account_key,
            self.nonce(),
            STAKE,
            terms(profile),
        )
    }

    fn update(&self, profile: Vec<u8>) -> NodeUpdate {
        NodeUpdate::sign(
            &self.node_key,
            &self.account_key,
            self.nonce(),
            &self.record().expect("registered"),
            terms(profile),
        )
    }

    fn record(&self) -> Option<NodeRecord> {
        let id = self.node_key.verifying_key().node_id();
        self.engine.get_node(&id).expect("read")
    }

    fn state(&self) -> (Option<NodeRecord>, AccountState, LedgerStatus) {
        let a = self.account_key.verifying_key().account_id();
        let status = self.engine.status().expect("status");
        (
            self.record(),
            self.engine.account(&a).expect("account"),
            status,
        )
    }
}

#[test]
fn a_registered_and_an_updated_profile_are_served_as_signed_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let (first, second) = (profile(7443, &[0]), profile(7444, &[1, 0]));
    {
        let fx = Fx::new(engine_at(&path));
        let record = fx
            .engine
            .register_node(fx.registration(first.clone()))
            .expect("register");
        assert_eq!(record.profile_bytes(), &first[..]);
        assert_eq!(
            record
                .profile()
                .expect("parses")
                .expect("some")
                .voucher_keys
                .len(),
            1
        );
        let record = fx
            .engine
            .update_node(fx.update(second.clone()))
            .expect("update");
        assert_eq!(record.profile_bytes(), &second[..]);
        assert_eq!(
            record.registration.profile, first,
            "the registration is kept as signed"
        );
    }
    let fx = Fx::new(engine_at(&path));
    let record = fx.record().expect("still registered");
    assert_eq!(record.registration.profile, first);
    assert_eq!(record.profile_bytes(), &second[..]);
    let parsed = record.profile().expect("parses").expect("some");
    assert_eq!(parsed.endpoint.as_ref().map(|e| e.port()), Some(7444));
    assert_eq!(parsed.voucher_key(1).map(|k| k.public_key), Some([1; 32]));
    // Anyone holding the record can check the node key signed it all.
    record
        .registration
        .authenticate_node()
        .expect("registration signed");
    let update = record.update.expect("updated").update;
    update.authenticate().expect("update signed");
}

#[test]
fn an_update_withdrawing_the_profile_and_records_without_one_read_back() {
    let fx = Fx::in_memory();
    fx.engine
        .register_node(fx.registration(Vec::new()))
        .expect("register");
    assert_eq!(fx.record().expect("record").profile(), Ok(None));
    fx.engine
        .update_node(fx.update(profile(1, &[])))
        .expect("publish");
    fx.engine
        .update_node(fx.update(Vec::new()))
        .expect("withdraw");
    let record = fx.record().expect("record");
    assert_eq!(record.profile(), Ok(None));
    assert_eq!(record.sequence(), 2);
}

#[test]
fn the_node_keys_signature_binds_the_profile() {
    let fx = Fx::in_memory();
    let before = fx.state();
    // Someone swaps the endpoint of a signed registration for their own.
    let swapped = NodeRegistration {
        profile: profile(6666, &[0]),
        ..fx.registration(profile(7443, &[0]))
    };
    let e = fx.engine.register_node(swapped).expect_err("refused");
    assert!(
        matches!(e, LedgerError::RegistrationUnauthenticated(_)),
        "{e:?}"
    );
    assert_eq!(fx.state(), before);
    // The same for an update.
    fx.engine
        .register_node(fx.registration(profile(7443, &[0])))
        .expect("register");
    let before = fx.state();
    let swapped = NodeUpdate {
        profile: profile(6666, &[1, 0]),
        ..fx.update(profile(7443, &[1, 0]))
    };
    let e = fx.engine.update_node(swapped).expect_err("refused");
    assert!(
        matches!(e, LedgerError::RegistrationUnauthenticated(_)),
        "{e:?}"
    );
    assert_eq!(fx.state(), before);
}

#[test]
fn only_the_size_is_the_ledgers_rule() {
    let fx = Fx::in_memory();
    let before = fx.state();
    let e = fx
        .engine
        .register_node(fx.registration(vec![0; MAX_PROFILE_BYTES + 1]))
        .expect_err("too long");
    assert_eq!(
        e,
        LedgerError::InvalidArgument("node profile longer than 1024 bytes")
    );
    assert_eq!(fx.state(), before);
    // Bytes that are no canonical profile are stored (the readers judge
    // them), up to the bound.
    let record = fx
        .engine
        .register_node(fx.registration(vec![0xff; MAX_PROFILE_BYTES]))
        .expect("stored");
    assert!(record.profile().is_err(), "a reader refuses it");
    let before = fx.state();
    let e = fx
        .engine
        .update_node(fx.update(vec![1; MAX_PROFILE_BYTES + 1]))
        .expect_err("too long");
    assert_eq!(
        e,
        LedgerError::InvalidArgument("node profile longer than 1024 bytes")
    );
    assert_eq!(fx.state(), before);
}

#[test]
fn the_wire_carries_the_profiles_and_refuses_an_oversized_one_before_copying_it() {
    let fx = Fx::in_memory();
    let g = fx.registration(profile(7443, &[0]));
    assert_eq!(registration_from_pb(&registration_to_pb(&g)), Ok(g.clone()));
    fx.engine.register_node(g).expect("register");
    fx.engine
        .update_node(fx.update(profile(7444, &[1, 0])))
        .expect("update");
    let record = fx.record().expect("record");
    assert_eq!(node_from_pb(&node_to_pb(&record)), Ok(record));
    let mut pb = registration_to_pb(&fx.registration(Vec::new()));
    pb.profile = vec![0; MAX_PROFILE_BYTES + 1];
    assert_eq!(
        registration_from_pb(&pb),
        Err(LedgerError::InvalidArgument(
            "node profile longer than 1024 bytes"
        ))
    );
}
