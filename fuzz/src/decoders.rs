//! The decoder targets (adversarial G5, C9, F8; docs/security.md §4): every
//! decoder of untrusted bytes never panics, and an accepted input re-encodes
//! to exactly the same bytes. The same properties as `tests/decoders_*.rs`,
//! there as proptests over structured inputs, here over raw bytes.

use prost::Message;
use tokio::io::AsyncWriteExt;
use veil_client::{
    amount::parse_amount,
    wallet::{WalletData, parse_field_hex, parse_field_hex_exact},
};
use veil_ledger::convert;
use veil_ledger::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use veil_ledger::schema;
use veil_primitives::{
    babyjubjub::{Point, Scalar},
    eddsa::{Signature, VerifyingKey},
    field::{fr_from_slice, fr_to_bytes},
    merkle::{Frontier, RootHistory},
    receipt::SignedReceipt,
};
use veil_proto::{ledger::v1 as lpb, node::v1 as npb};
use veil_vouchers::{
    Credential, IssuanceRequest, IssuanceResponse, IssuerPublicKey, IssuerSecretKey, SpendRequest,
    SpendResponse, VoucherNullifier,
};

/// `Proof`, `AccessToken`, `WithdrawProof`, `SettleProof`
/// (docs/protocol.md §7.2, §7.6).
pub fn proofs_decode(data: &[u8]) {
    use veil_proofs::{AccessToken, Proof, SettleProof, WithdrawProof};
    if let Ok(p) = Proof::from_bytes(data) {
        assert_eq!(p.to_bytes().as_slice(), data);
    }
    if let Ok(t) = AccessToken::from_bytes(data) {
        assert_eq!(t.to_bytes(), data);
    }
    if let Ok(w) = WithdrawProof::from_bytes(data) {
        assert_eq!(w.to_bytes(), data);
    }
    if let Ok(s) = SettleProof::from_bytes(data) {
        assert_eq!(s.to_bytes(), data);
    }
}

/// Field element, BabyJubJub point and scalar, EdDSA signature and key,
/// signed receipt, stored frontier and root history (docs/protocol.md §2, §6).
pub fn primitives_decode(data: &[u8]) {
    if let Ok(x) = fr_from_slice(data) {
        assert_eq!(fr_to_bytes(&x).as_slice(), data);
    }
    if let Ok(p) = Point::from_slice(data) {
        assert_eq!(p.to_bytes().as_slice(), data);
    }
    if let Ok(arr) = <&[u8; 64]>::try_from(data)
        && let Ok(k) = VerifyingKey::from_bytes(arr)
    {
        assert_eq!(k.to_bytes().as_slice(), data);
    }
    if let Ok(arr) = <&[u8; 32]>::try_from(data)
        && let Ok(s) = Scalar::from_bytes(arr)
    {
        assert_eq!(s.to_bytes().as_slice(), data);
    }
    if let Ok(s) = Signature::from_slice(data) {
        assert_eq!(s.to_bytes().as_slice(), data);
    }
    if let Ok(r) = SignedReceipt::from_bytes(data) {
        assert_eq!(r.to_bytes().as_slice(), data);
    }
    if let Ok(f) = Frontier::from_bytes(data) {
        assert_eq!(f.to_bytes(), data);
    }
    if let Ok(h) = RootHistory::from_bytes(data) {
        assert_eq!(h.to_bytes(), data);
    }
}

macro_rules! round_trip {
    ($ty:ty, $data:expr) => {
        if let Ok(v) = <$ty>::from_bytes($data) {
            assert_eq!(v.to_bytes().as_slice(), $data, stringify!($ty));
        }
    };
}

/// Every voucher message (docs/vouchers.md).
pub fn vouchers_decode(data: &[u8]) {
    round_trip!(IssuanceRequest, data);
    round_trip!(IssuanceResponse, data);
    round_trip!(Credential, data);
    round_trip!(IssuerPublicKey, data);
    round_trip!(IssuerSecretKey, data);
    round_trip!(SpendRequest, data);
    round_trip!(SpendResponse, data);
    if let Ok(arr) = <[u8; 32]>::try_from(data)
        && let Ok(n) = VoucherNullifier::from_bytes(arr)
    {
        assert_eq!(n.to_bytes(), arr);
    }
}

/// Protobuf requests of both services and the ledger's protobuf → domain
/// conversions (docs/protocol.md §8.5): a converted request maps back to
/// exactly the message it came from.
pub fn ledger_proto(data: &[u8]) {
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
    if let Ok(m) = lpb::TradeRequest::decode(data)
        && let Ok(t) = convert::trade_from_pb(&m)
    {
        assert_eq!(
            convert::trade_from_pb(&convert::trade_to_pb(&t)).ok(),
            Some(t)
        );
    }
    if let Ok(m) = lpb::ExitNodeRequest::decode(data)
        && let Ok(x) = convert::exit_from_pb(&m)
    {
        assert_eq!(
            convert::exit_from_pb(&convert::exit_to_pb(&x)).ok(),
            Some(x)
        );
    }
    if let Ok(m) = lpb::RegisterMonitorRequest::decode(data)
        && let Ok(r) = convert::monitor_registration_from_pb(&m)
    {
        assert_eq!(
            convert::monitor_registration_from_pb(&convert::monitor_registration_to_pb(&r)).ok(),
            Some(r)
        );
    }
    if let Ok(m) = lpb::SubmitReportRequest::decode(data)
        && let Ok(r) = convert::report_from_pb(&m)
    {
        assert_eq!(
            convert::report_from_pb(&convert::report_to_pb(&r)).ok(),
            Some(r)
        );
    }
    if let Ok(m) = lpb::ExitMonitorRequest::decode(data)
        && let Ok(x) = convert::monitor_exit_from_pb(&m)
    {
        assert_eq!(
            convert::monitor_exit_from_pb(&convert::monitor_exit_to_pb(&x)).ok(),
            Some(x)
        );
    }
    if let Ok(m) = lpb::ChallengeNodeRequest::decode(data)
        && let Ok(r) = convert::challenge_request_from_pb(&m)
    {
        let again = convert::challenge_request_to_pb(&r);
        assert_eq!(convert::challenge_request_from_pb(&again).ok(), Some(r));
    }
    if let Ok(m) = lpb::AnswerChallengeRequest::decode(data)
        && let Ok(a) = convert::answer_from_pb(&m)
    {
        assert_eq!(
            convert::answer_from_pb(&convert::answer_to_pb(&a)).ok(),
            Some(a)
        );
    }
    if let Ok(m) = lpb::Challenge::decode(data)
        && let Ok(c) = convert::challenge_from_pb(&m)
    {
        let again = convert::challenge_to_pb(&c);
        assert_eq!(convert::challenge_from_pb(&again).ok(), Some(c));
    }
    if let Ok(m) = lpb::MonitorResponse::decode(data)
        && let Ok(v) = convert::monitor_view_from_pb(&m)
    {
        let again = convert::monitor_view_to_pb(&v);
        assert_eq!(convert::monitor_view_from_pb(&again).ok(), Some(v));
    }
    if let Ok(m) = lpb::GetMarketResponse::decode(data)
        && let Ok(state) = convert::market_from_pb(&m)
    {
        let again = convert::market_to_pb(&state, None);
        assert_eq!(convert::market_from_pb(&again).ok(), Some(state));
    }
    let _ = npb::OpenSessionRequest::decode(data);
    let _ = npb::ClientFrame::decode(data);
    let _ = npb::BuyVoucherRequest::decode(data);
    let _ = npb::VoucherChallengeRequest::decode(data);
}

/// The ledger's stored records, as a corrupted database would feed them on
/// restart (adversarial D8, docs/ledger.md). The frontier and root history
/// records are `veil_primitives::merkle` encodings, in [`primitives_decode`].
pub fn ledger_records(data: &[u8]) {
    if let Ok(v) = NullifierUse::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = DepositRecord::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = schema::decode_escrow(data) {
        assert_eq!(schema::encode_escrow(&v), data);
    }
    if let Ok(v) = schema::decode_node(data) {
        assert_eq!(schema::encode_node(&v), data);
    }
    if let Ok(v) = SettlementRecord::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = Totals::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = schema::decode_curve(data) {
        assert_eq!(schema::encode_curve(&v), data);
    }
    if let Ok(v) = schema::decode_trade(data) {
        assert_eq!(schema::encode_trade(&v), data);
    }
    if let Ok(v) = schema::decode_monitor(data) {
        assert_eq!(schema::encode_monitor(&v), data);
    }
    if let Ok(v) = schema::decode_report(data) {
        assert_eq!(schema::encode_report(&v), data);
    }
    if let Ok(v) = schema::decode_seeds(data) {
        assert_eq!(schema::encode_seeds(&v), data);
    }
    if let Ok(k) = schema::challenge_key_from(([1; 32], 3, [2; 32]))
        && let Ok(v) = schema::decode_challenge(k, data)
    {
        assert_eq!(schema::encode_challenge(&v), data);
    }
}

fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a person or a file gives the client (adversarial F1, F2, F8): the
/// wallet file, amounts and hex field elements. An accepted amount or
/// wallet-file hex value has exactly one spelling; an accepted wallet
/// re-encodes to a file that decodes to the same wallet.
pub fn client_inputs(data: &[u8]) {
    if let Ok(w) = WalletData::from_bytes(data) {
        assert_eq!(WalletData::from_bytes(&w.to_bytes()).ok(), Some(w));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = parse_amount(s) {
            assert_eq!(v.to_string(), s);
        }
        if let Ok(x) = parse_field_hex_exact(s) {
            assert_eq!(hex32(&fr_to_bytes(&x)), s);
        }
        let _ = parse_field_hex(s);
    }
}

/// The SOCKS5 handshake parser of the client's local proxy (RFC 1928):
/// never panics and never hangs on a closed stream.
pub fn socks5_request(data: &[u8]) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (mut app, mut proxy) = tokio::io::duplex(64 * 1024);
        if app.write_all(data).await.is_err() || app.shutdown().await.is_err() {
            return;
        }
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            veil_client::socks5::accept(&mut proxy),
        )
        .await;
        assert!(r.is_ok(), "SOCKS5 handshake hung on a closed stream");
    });
}
