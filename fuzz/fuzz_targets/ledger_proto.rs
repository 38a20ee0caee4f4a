//! Protobuf requests of both services and the ledger's protobuf → domain
//! conversions (docs/protocol.md §8.5): never panic; a converted request
//! maps back to exactly the message it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use veil_ledger::convert;
use veil_proto::{ledger::v1 as lpb, node::v1 as npb};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = lpb::OpenEscrowRequest::decode(data)
        && let Some(t) = m.token
        && let Ok((st, proof)) = convert::access_from_pb(&t)
    {
        assert_eq!(convert::access_to_pb(&st, &proof), t);
    }
    if let Ok(m) = lpb::SettleRequest::decode(data)
        && let Ok(r) = convert::settle_from_pb(&m)
    {
        assert_eq!(convert::settle_to_pb(&r), m);
    }
    if let Ok(m) = lpb::WithdrawRequest::decode(data)
        && let Ok((st, proof)) = convert::withdraw_from_pb(&m)
    {
        assert_eq!(convert::withdraw_to_pb(&st, &proof), m);
    }
    if let Ok(m) = lpb::RegisterNodeRequest::decode(data)
        && let Ok(g) = convert::registration_from_pb(&m)
    {
        assert_eq!(
            convert::registration_from_pb(&convert::registration_to_pb(&g)).ok(),
            Some(g)
        );
    }
    if let Ok(m) = lpb::Escrow::decode(data)
        && let Ok(e) = convert::escrow_from_pb(&m)
    {
        assert_eq!(
            convert::escrow_from_pb(&convert::escrow_to_pb(&e)).ok(),
            Some(e)
        );
    }
    let _ = npb::OpenSessionRequest::decode(data);
    let _ = npb::ClientFrame::decode(data);
    let _ = npb::BuyVoucherRequest::decode(data);
    let _ = npb::VoucherChallengeRequest::decode(data);
});
