//! Decoder robustness at the ledger's and node's edges (adversarial G5, C9,
//! D8, B10; `docs/protocol.md` §8.5): protobuf → domain conversions of
//! `veil.ledger.v1`, raw protobuf decoding of every request type of both
//! services, and the ledger's stored records (what a corrupted database
//! file feeds the decoders on restart).
//!
//! Properties: no input panics; a converted request maps back to exactly the
//! protobuf message it came from (every byte field has one valid length and
//! one canonical value, so nothing is reduced, truncated or defaulted); an
//! accepted stored record re-encodes to the identical bytes.

#[path = "support/seeds.rs"]
mod seeds;

use proptest::prelude::*;
use prost::Message;
use veil_ledger::{
    convert,
    records::{DepositRecord, NullifierUse, SettlementRecord, Totals},
    schema,
};
use veil_primitives::{Fr, field::fr_to_bytes};
use veil_proto::{ledger::v1 as lpb, node::v1 as npb};

/// A bytes field: usually a canonical element, sometimes any 32 bytes
/// (often `>= r`), sometimes another length.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => any::<u64>().prop_map(|v| fr_to_bytes(&(Fr::from(v) * Fr::from(u64::MAX) - Fr::from(1u64))).to_vec()),
        2 => prop::collection::vec(any::<u8>(), 32),
        1 => prop::collection::vec(any::<u8>(), 0..70),
    ]
}

fn proof_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 128),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn access_token() -> impl Strategy<Value = lpb::AccessToken> {
    (
        (field_bytes(), field_bytes(), field_bytes(), any::<u64>()),
        (
            field_bytes(),
            field_bytes(),
            field_bytes(),
            any::<u64>(),
            proof_bytes(),
        ),
    )
        .prop_map(
            |((root, nullifier, cm_change, escrow), (node_id, h_s, addr, expiry, proof))| {
                lpb::AccessToken {
                    root,
                    nullifier,
                    cm_change,
                    escrow,
                    node_id,
                    session_key_hash: h_s,
                    refund_owner: addr,
                    expiry,
                    proof,
                }
            },
        )
}

fn settle_request() -> impl Strategy<Value = lpb::SettleRequest> {
    (
        field_bytes(),
        prop_oneof![Just(1u32), Just(8), Just(64), any::<u32>()],
        prop::collection::vec(field_bytes(), 0..70),
        any::<u64>(),
        prop::collection::vec(field_bytes(), 0..70),
        proof_bytes(),
    )
        .prop_map(
            |(node_id, k, session_ids, total, cm_refunds, proof)| lpb::SettleRequest {
                node_id,
                k,
                session_ids,
                total,
                cm_refunds,
                // Mostly the right length, so decoding reaches the signature.
                node_signature: proof.get(..96).map(<[u8]>::to_vec).unwrap_or_default(),
                proof,
            },
        )
}

fn withdraw_request() -> impl Strategy<Value = lpb::WithdrawRequest> {
    (
        field_bytes(),
        field_bytes(),
        field_bytes(),
        any::<u64>(),
        field_bytes(),
        proof_bytes(),
    )
        .prop_map(|(root, nullifier, cm_change, amount, recipient, proof)| {
            lpb::WithdrawRequest {
                root,
                nullifier,
                cm_change,
                amount,
                recipient,
                proof,
            }
        })
}

/// Decodes `bytes` as `M`; if it decodes, re-encoding and decoding again
/// gives the same message (prost is total and deterministic on its output).
fn proto_stable<M: Message + Default + PartialEq + std::fmt::Debug>(
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    if let Ok(m) = M::decode(bytes) {
        let again = M::decode(m.encode_to_vec().as_slice());
        prop_assert_eq!(again.ok(), Some(m));
    }
    Ok(())
}

fn stored_round_trip<T>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, veil_ledger::LedgerError>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Result<(), TestCaseError> {
    if let Ok(v) = decode(bytes) {
        prop_assert_eq!(encode(&v), bytes.to_vec(), "stored record is not canonical");
    }
    Ok(())
}

#[test]
fn non_canonical_field_in_a_request_is_invalid_argument() {
    // B1 at the wire: r itself (== 0 mod r) as the nullifier.
    let r_bytes = hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001")
        .expect("hex");
    let ok = fr_to_bytes(&Fr::from(5u64)).to_vec();
    let t = lpb::AccessToken {
        root: ok.clone(),
        nullifier: r_bytes,
        cm_change: ok.clone(),
        escrow: 10,
        node_id: ok.clone(),
        session_key_hash: ok.clone(),
        refund_owner: ok.clone(),
        expiry: 9,
        proof: vec![0; 128],
    };
    assert!(convert::access_from_pb(&t).is_err());
    let fixed = lpb::AccessToken { nullifier: ok, ..t };
    assert!(convert::access_from_pb(&fixed).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn access_token_converts_back_exactly(m in access_token()) {
        if let Ok((st, proof)) = convert::access_from_pb(&m) {
            prop_assert_eq!(convert::access_to_pb(&st, &proof), m);
        }
    }

    #[test]
    fn settle_request_converts_back_exactly(m in settle_request()) {
        if let Ok(r) = convert::settle_from_pb(&m) {
            prop_assert!(r.session_ids.len() <= 64 && r.cm_refunds.len() <= 64);
            prop_assert_eq!(convert::settle_to_pb(&r), m);
        }
    }

    #[test]
    fn withdraw_request_converts_back_exactly(m in withdraw_request()) {
        if let Ok((st, proof)) = convert::withdraw_from_pb(&m) {
            prop_assert_eq!(convert::withdraw_to_pb(&st, &proof), m);
        }
    }

    #[test]
    fn random_protobuf_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        // Ledger requests, then through the domain conversion where one exists.
        proto_stable::<lpb::DepositRequest>(&bytes)?;
        proto_stable::<lpb::OpenEscrowRequest>(&bytes)?;
        proto_stable::<lpb::SettleRequest>(&bytes)?;
        proto_stable::<lpb::ReclaimRequest>(&bytes)?;
        proto_stable::<lpb::WithdrawRequest>(&bytes)?;
        proto_stable::<lpb::RegisterNodeRequest>(&bytes)?;
        proto_stable::<lpb::GetNodeRequest>(&bytes)?;
        proto_stable::<lpb::GetEscrowRequest>(&bytes)?;
        proto_stable::<lpb::GetBalanceRequest>(&bytes)?;
        proto_stable::<lpb::StreamCommitmentsRequest>(&bytes)?;
        proto_stable::<lpb::FaucetRequest>(&bytes)?;
        proto_stable::<lpb::Node>(&bytes)?;
        proto_stable::<lpb::Escrow>(&bytes)?;
        if let Ok(m) = lpb::OpenEscrowRequest::decode(bytes.as_slice())
            && let Some(t) = m.token
        {
            let _ = convert::access_from_pb(&t);
        }
        if let Ok(m) = lpb::SettleRequest::decode(bytes.as_slice())
            && let Ok(r) = convert::settle_from_pb(&m)
        {
            prop_assert_eq!(convert::settle_from_pb(&convert::settle_to_pb(&r)).ok(), Some(r));
        }
        if let Ok(m) = lpb::DepositRequest::decode(bytes.as_slice())
            && let Ok(d) = convert::deposit_from_pb(&m)
        {
            prop_assert_eq!(convert::deposit_from_pb(&convert::deposit_to_pb(&d)).ok(), Some(d));
        }
        if let Ok(m) = lpb::RegisterNodeRequest::decode(bytes.as_slice())
            && let Ok(g) = convert::registration_from_pb(&m)
        {
            let back = convert::registration_from_pb(&convert::registration_to_pb(&g));
            prop_assert_eq!(back.ok(), Some(g));
        }
        if let Ok(m) = lpb::Node::decode(bytes.as_slice())
            && let Ok(n) = convert::node_from_pb(&m)
        {
            prop_assert_eq!(convert::node_from_pb(&convert::node_to_pb(&n)).ok(), Some(n));
        }
        if let Ok(m) = lpb::Escrow::decode(bytes.as_slice())
            && let Ok(e) = convert::escrow_from_pb(&m)
        {
            prop_assert_eq!(convert::escrow_from_pb(&convert::escrow_to_pb(&e)).ok(), Some(e));
        }
        // Node requests.
        proto_stable::<npb::GetTermsRequest>(&bytes)?;
        proto_stable::<npb::OpenSessionRequest>(&bytes)?;
        proto_stable::<npb::ClientFrame>(&bytes)?;
        proto_stable::<npb::BuyVoucherRequest>(&bytes)?;
        proto_stable::<npb::VoucherChallengeRequest>(&bytes)?;
    }

    #[test]
    fn stored_records_never_panic_and_are_canonical(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        stored_round_trip(&bytes, NullifierUse::decode, NullifierUse::encode)?;
        stored_round_trip(&bytes, DepositRecord::decode, DepositRecord::encode)?;
        stored_round_trip(&bytes, schema::decode_escrow, schema::encode_escrow)?;
        stored_round_trip(&bytes, schema::decode_node, schema::encode_node)?;
        stored_round_trip(&bytes, SettlementRecord::decode, SettlementRecord::encode)?;
        stored_round_trip(&bytes, Totals::decode, Totals::encode)?;
        stored_round_trip(&bytes, |b| schema::decode_u64(b, "fuzz"), |v| schema::encode_u64(*v))?;
    }

    #[test]
    fn stored_records_with_a_valid_tag_never_panic(
        tag in 0u8..4,
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // Past the version byte and the variant tag, into the field decoders.
        let mut bytes = vec![1, tag];
        bytes.extend_from_slice(&body);
        stored_round_trip(&bytes, NullifierUse::decode, NullifierUse::encode)?;
        stored_round_trip(&bytes, schema::decode_escrow, schema::encode_escrow)?;
        stored_round_trip(&bytes, schema::decode_node, schema::encode_node)?;
        stored_round_trip(&bytes, SettlementRecord::decode, SettlementRecord::encode)?;
        stored_round_trip(&bytes, DepositRecord::decode, DepositRecord::encode)?;
    }
}

/// The committed fuzz seed corpus is current (support/seeds.rs).
#[test]
fn fuzz_seed_corpus_is_current() {
    let f = |v: u64| fr_to_bytes(&Fr::from(v)).to_vec();
    let token = lpb::AccessToken {
        root: f(1),
        nullifier: f(2),
        cm_change: f(3),
        escrow: 1000,
        node_id: f(4),
        session_key_hash: f(5),
        refund_owner: f(6),
        expiry: 50,
        proof: vec![7; 128],
    };
    let settle = lpb::SettleRequest {
        node_id: f(4),
        k: 8,
        session_ids: vec![f(2), f(8)],
        total: 300,
        cm_refunds: vec![f(9), f(10)],
        proof: vec![7; 128],
        node_signature: vec![8; 96],
    };
    let withdraw = lpb::WithdrawRequest {
        root: f(1),
        nullifier: f(11),
        cm_change: f(12),
        amount: 5,
        recipient: f(13),
        proof: vec![7; 128],
    };
    seeds::seed_corpus(
        "ledger_proto",
        &[
            (
                "open",
                lpb::OpenEscrowRequest { token: Some(token) }.encode_to_vec(),
            ),
            ("settle", settle.encode_to_vec()),
            ("withdraw", withdraw.encode_to_vec()),
        ],
    );
    seeds::seed_corpus(
        "ledger_records",
        &[
            ("nullifier-escrow", NullifierUse::Escrow.encode()),
            ("totals", Totals::default().encode()),
        ],
    );
}
