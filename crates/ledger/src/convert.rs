//! Conversions between `veil.ledger.v1` messages and domain types, at the
//! edge only (docs/protocol.md §8.5). Decoding is strict: exact lengths,
//! canonical field elements (never reduced), nothing defaulted.

use veil_primitives::EncodingError;
use veil_proto::ledger::v1 as pb;

use veil_primitives::babyjubjub::POINT_BYTES;
use veil_primitives::eddsa::{Signature, VerifyingKey};

use crate::error::LedgerError;
use crate::types::*;

mod audit;
mod challenge;
mod exit;
mod market;
pub use audit::{
    monitor_exit_from_pb, monitor_exit_to_pb, monitor_registration_from_pb,
    monitor_registration_to_pb, monitor_view_from_pb, monitor_view_to_pb, node_audit_from_pb,
    node_audit_to_pb, report_from_pb, report_to_pb,
};
pub use challenge::{
    answer_from_pb, answer_to_pb, challenge_from_pb, challenge_request_from_pb,
    challenge_request_to_pb, challenge_response_from_pb, challenge_to_pb,
};
pub use exit::{exit_from_pb, exit_to_pb, node_exit_from_pb, node_exit_to_pb};
pub use market::{
    market_account, market_from_pb, market_to_pb, receipt_from_pb, receipt_to_pb, tokens,
    trade_from_pb, trade_to_pb,
};

fn field<T>(
    name: &'static str,
    b: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T, EncodingError>,
) -> Result<T, LedgerError> {
    f(b).map_err(|source| LedgerError::Encoding {
        field: name,
        source,
    })
}

pub fn account(b: &[u8]) -> Result<AccountId, LedgerError> {
    field("account", b, AccountId::from_slice)
}
pub fn address(b: &[u8]) -> Result<Address, LedgerError> {
    field("addr", b, Address::from_slice)
}
pub fn node_id(b: &[u8]) -> Result<NodeId, LedgerError> {
    field("node_id", b, NodeId::from_slice)
}
pub fn session_id(b: &[u8]) -> Result<SessionId, LedgerError> {
    field("session_id", b, SessionId::from_slice)
}
pub fn nullifier(b: &[u8]) -> Result<Nullifier, LedgerError> {
    field("nullifier", b, Nullifier::from_slice)
}
pub fn commitment(name: &'static str, b: &[u8]) -> Result<NoteCommitment, LedgerError> {
    field(name, b, NoteCommitment::from_slice)
}
/// A node public key `N`: 64 bytes, a valid point of the prime-order subgroup.
pub fn node_key(b: &[u8]) -> Result<VerifyingKey, LedgerError> {
    let arr: [u8; POINT_BYTES] = b.try_into().map_err(|_| LedgerError::Encoding {
        field: "node_key",
        source: EncodingError::Length {
            expected: POINT_BYTES,
            actual: b.len(),
        },
    })?;
    VerifyingKey::from_bytes(&arr).map_err(|source| LedgerError::Encoding {
        field: "node_key",
        source,
    })
}

/// An EdDSA signature (`R ‖ s`, 96 bytes, canonical).
pub fn signature(b: &[u8]) -> Result<Signature, LedgerError> {
    Signature::from_slice(b).map_err(|source| LedgerError::Encoding {
        field: "signature",
        source,
    })
}

/// An account key `A`: 64 bytes, a valid point of the prime-order subgroup.
fn account_key(b: &[u8]) -> Result<VerifyingKey, LedgerError> {
    node_key(b).map_err(|e| match e {
        LedgerError::Encoding { source, .. } => LedgerError::Encoding {
            field: "account_key",
            source,
        },
        other => other,
    })
}

/// An account authorisation (§8.3). Empty key and signature: absent
/// (refused by the ledger as unauthenticated); anything else must decode.
pub fn account_auth(
    key: &[u8],
    nonce: u64,
    sig: &[u8],
) -> Result<Option<AccountAuth>, LedgerError> {
    if key.is_empty() && sig.is_empty() {
        return Ok(None);
    }
    Ok(Some(AccountAuth {
        key: account_key(key)?,
        nonce,
        signature: signature(sig)?,
    }))
}

/// The wire fields `(account_key, nonce, signature)` of an authorisation.
pub fn account_auth_to_pb(a: &Option<AccountAuth>) -> (Vec<u8>, u64, Vec<u8>) {
    match a {
        Some(a) => (
            a.key.to_bytes().to_vec(),
            a.nonce,
            a.signature.to_bytes().to_vec(),
        ),
        None => (vec![], 0, vec![]),
    }
}

pub fn deposit_from_pb(r: &pb::DepositRequest) -> Result<DepositRequest, LedgerError> {
    Ok(DepositRequest {
        account: account(&r.account)?,
        value: Value(r.value),
        addr: address(&r.addr)?,
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn deposit_to_pb(d: &DepositRequest) -> pb::DepositRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&d.auth);
    pb::DepositRequest {
        account: d.account.to_bytes().to_vec(),
        value: d.value.0,
        addr: d.addr.to_bytes().to_vec(),
        account_key,
        nonce,
        signature,
    }
}

/// A node's settle authorisation: empty is absent (refused by the ledger).
fn node_signature(b: &[u8]) -> Result<Option<Signature>, LedgerError> {
    if b.is_empty() {
        return Ok(None);
    }
    signature(b).map(Some)
}

pub fn proof(b: &[u8]) -> Result<Proof, LedgerError> {
    field("proof", b, Proof::from_slice)
}
fn bytes32(name: &'static str, b: &[u8]) -> Result<[u8; 32], LedgerError> {
    b.try_into().map_err(|_| LedgerError::Encoding {
        field: name,
        source: EncodingError::Length {
            expected: 32,
            actual: b.len(),
        },
    })
}

pub fn access_from_pb(t: &pb::AccessToken) -> Result<(AccessPublic, Proof), LedgerError> {
    Ok((
        AccessPublic {
            root: field("root", &t.root, MerkleRoot::from_slice)?,
            nullifier: field("nullifier", &t.nullifier, Nullifier::from_slice)?,
            cm_change: commitment("cm_change", &t.cm_change)?,
            escrow: Value(t.escrow),
            node_id: node_id(&t.node_id)?,
            session_key_hash: field(
                "session_key_hash",
                &t.session_key_hash,
                SessionKeyHash::from_slice,
            )?,
            refund_owner: field("refund_owner", &t.refund_owner, OwnerKey::from_slice)?,
            expiry: BlockHeight(t.expiry),
        },
        proof(&t.proof)?,
    ))
}

pub fn access_to_pb(s: &AccessPublic, p: &Proof) -> pb::AccessToken {
    pb::AccessToken {
        root: s.root.to_bytes().to_vec(),
        nullifier: s.nullifier.to_bytes().to_vec(),
        cm_change: s.cm_change.to_bytes().to_vec(),
        escrow: s.escrow.0,
        node_id: s.node_id.to_bytes().to_vec(),
        session_key_hash: s.session_key_hash.to_bytes().to_vec(),
        refund_owner: s.refund_owner.to_bytes().to_vec(),
        expiry: s.expiry.0,
        proof: p.0.to_vec(),
    }
}

pub fn settle_from_pb(r: &pb::SettleRequest) -> Result<SettleRequest, LedgerError> {
    if r.session_ids.len() > crate::limits::MAX_BATCH
        || r.cm_refunds.len() > crate::limits::MAX_BATCH
    {
        return Err(LedgerError::InvalidArgument("batch too large"));
    }
    Ok(SettleRequest {
        node_id: node_id(&r.node_id)?,
        k: r.k,
        session_ids: r
            .session_ids
            .iter()
            .map(|b| session_id(b))
            .collect::<Result<_, _>>()?,
        total: Value(r.total),
        cm_refunds: r
            .cm_refunds
            .iter()
            .map(|b| commitment("cm_refund", b))
            .collect::<Result<_, _>>()?,
        proof: proof(&r.proof)?,
        authorisation: node_signature(&r.node_signature)?,
    })
}

pub fn settle_to_pb(r: &SettleRequest) -> pb::SettleRequest {
    pb::SettleRequest {
        node_id: r.node_id.to_bytes().to_vec(),
        k: r.k,
        session_ids: r
            .session_ids
            .iter()
            .map(|s| s.to_bytes().to_vec())
            .collect(),
        total: r.total.0,
        cm_refunds: r.cm_refunds.iter().map(|c| c.to_bytes().to_vec()).collect(),
        proof: r.proof.0.to_vec(),
        node_signature: r
            .authorisation
            .map(|s| s.to_bytes().to_vec())
            .unwrap_or_default(),
    }
}

pub fn withdraw_from_pb(r: &pb::WithdrawRequest) -> Result<(WithdrawPublic, Proof), LedgerError> {
    Ok((
        WithdrawPublic {
            root: field("root", &r.root, MerkleRoot::from_slice)?,
            nullifier: field("nullifier", &r.nullifier, Nullifier::from_slice)?,
            cm_change: commitment("cm_change", &r.cm_change)?,
            amount: Value(r.amount),
            recipient: account(&r.recipient)?,
        },
        proof(&r.proof)?,
    ))
}

pub fn withdraw_to_pb(s: &WithdrawPublic, p: &Proof) -> pb::WithdrawRequest {
    pb::WithdrawRequest {
        root: s.root.to_bytes().to_vec(),
        nullifier: s.nullifier.to_bytes().to_vec(),
        cm_change: s.cm_change.to_bytes().to_vec(),
        amount: s.amount.0,
        recipient: s.recipient.to_bytes().to_vec(),
        proof: p.0.to_vec(),
    }
}

pub fn registration_from_pb(r: &pb::RegisterNodeRequest) -> Result<NodeRegistration, LedgerError> {
    Ok(NodeRegistration {
        node_id: node_id(&r.node_id)?,
        account: account(&r.account)?,
        price_per_kib: Value(r.price_per_kib),
        escrow_sizes: escrow_sizes(&r.escrow_sizes)?,
        stake: Value(r.stake),
        tls_key_hash: bytes32("tls_key_hash", &r.tls_key_hash)?,
        profile: profile(&r.profile)?,
        node_key: node_key(&r.node_key)?,
        signature: signature(&r.signature)?,
        account_auth: account_auth(&r.account_key, r.account_nonce, &r.account_signature)?,
    })
}

pub fn registration_to_pb(g: &NodeRegistration) -> pb::RegisterNodeRequest {
    let (account_key, account_nonce, account_signature) = account_auth_to_pb(&g.account_auth);
    pb::RegisterNodeRequest {
        account_key,
        account_nonce,
        account_signature,
        node_id: g.node_id.to_bytes().to_vec(),
        account: g.account.to_bytes().to_vec(),
        price_per_kib: g.price_per_kib.0,
        escrow_sizes: g.escrow_sizes.iter().map(|v| v.0).collect(),
        stake: g.stake.0,
        tls_key_hash: g.tls_key_hash.to_vec(),
        node_key: g.node_key.to_bytes().to_vec(),
        signature: g.signature.to_bytes().to_vec(),
        profile: g.profile.clone(),
    }
}

/// A profile beyond the limit is refused before it is copied (§8.3.9).
fn profile(bytes: &[u8]) -> Result<Vec<u8>, LedgerError> {
    crate::machine::check_profile(bytes)?;
    Ok(bytes.to_vec())
}

/// Sizes beyond the limit are refused before they are collected.
fn escrow_sizes(sizes: &[u64]) -> Result<Vec<Value>, LedgerError> {
    if sizes.len() > crate::limits::MAX_ESCROW_SIZES {
        return Err(LedgerError::InvalidArgument(
            "a node accepts 1..=16 escrow sizes",
        ));
    }
    Ok(sizes.iter().map(|v| Value(*v)).collect())
}

pub fn update_from_pb(r: &pb::UpdateNodeRequest) -> Result<NodeUpdate, LedgerError> {
    Ok(NodeUpdate {
        node_id: node_id(&r.node_id)?,
        account: account(&r.account)?,
        sequence: r.sequence,
        price_per_kib: Value(r.price_per_kib),
        escrow_sizes: escrow_sizes(&r.escrow_sizes)?,
        tls_key_hash: bytes32("tls_key_hash", &r.tls_key_hash)?,
        profile: profile(&r.profile)?,
        node_key: node_key(&r.node_key)?,
        signature: signature(&r.signature)?,
        account_auth: account_auth(&r.account_key, r.account_nonce, &r.account_signature)?,
    })
}

pub fn update_to_pb(u: &NodeUpdate) -> pb::UpdateNodeRequest {
    let (account_key, account_nonce, account_signature) = account_auth_to_pb(&u.account_auth);
    pb::UpdateNodeRequest {
        account_key,
        account_nonce,
        account_signature,
        node_id: u.node_id.to_bytes().to_vec(),
        account: u.account.to_bytes().to_vec(),
        sequence: u.sequence,
        price_per_kib: u.price_per_kib.0,
        escrow_sizes: u.escrow_sizes.iter().map(|v| v.0).collect(),
        tls_key_hash: u.tls_key_hash.to_vec(),
        node_key: u.node_key.to_bytes().to_vec(),
        signature: u.signature.to_bytes().to_vec(),
        profile: u.profile.clone(),
    }
}

pub fn node_to_pb(n: &NodeRecord) -> pb::Node {
    let g = &n.registration;
    let (account_key, account_nonce, account_signature) = account_auth_to_pb(&g.account_auth);
    pb::Node {
        account_key,
        account_nonce,
        account_signature,
        node_id: g.node_id.to_bytes().to_vec(),
        account: g.account.to_bytes().to_vec(),
        price_per_kib: g.price_per_kib.0,
        escrow_sizes: g.escrow_sizes.iter().map(|v| v.0).collect(),
        stake: g.stake.0,
        tls_key_hash: g.tls_key_hash.to_vec(),
        registered_at: n.registered_at.0,
        node_key: g.node_key.to_bytes().to_vec(),
        signature: g.signature.to_bytes().to_vec(),
        update: n.update.as_ref().map(|u| pb::AppliedNodeUpdate {
            update: Some(update_to_pb(&u.update)),
            applied_at: u.applied_at.0,
        }),
        profile: g.profile.clone(),
        exit: n.exit.as_ref().map(node_exit_to_pb),
        audit: node_audit_to_pb(&n.audit),
    }
}

pub fn node_from_pb(n: &pb::Node) -> Result<NodeRecord, LedgerError> {
    Ok(NodeRecord {
        registration: NodeRegistration {
            node_id: node_id(&n.node_id)?,
            account: account(&n.account)?,
            price_per_kib: Value(n.price_per_kib),
            escrow_sizes: n.escrow_sizes.iter().map(|v| Value(*v)).collect(),
            stake: Value(n.stake),
            tls_key_hash: bytes32("tls_key_hash", &n.tls_key_hash)?,
            profile: profile(&n.profile)?,
            node_key: node_key(&n.node_key)?,
            signature: signature(&n.signature)?,
            account_auth: account_auth(&n.account_key, n.account_nonce, &n.account_signature)?,
        },
        registered_at: BlockHeight(n.registered_at),
        update: n.update.as_ref().map(applied_update_from_pb).transpose()?,
        exit: n.exit.as_ref().map(node_exit_from_pb).transpose()?,
        audit: node_audit_from_pb(n.audit.as_ref())?,
    })
}

fn applied_update_from_pb(u: &pb::AppliedNodeUpdate) -> Result<AppliedUpdate, LedgerError> {
    let update = u.update.as_ref().ok_or(LedgerError::InvalidArgument(
        "an applied node update without its update",
    ))?;
    Ok(AppliedUpdate {
        update: update_from_pb(update)?,
        applied_at: BlockHeight(u.applied_at),
    })
}

pub fn escrow_to_pb(e: &Escrow) -> pb::Escrow {
    let (state, cm_refund) = match &e.state {
        EscrowState::Open => (pb::EscrowState::Open, vec![]),
        EscrowState::Settled { cm_refund, .. } => {
            (pb::EscrowState::Settled, cm_refund.to_bytes().to_vec())
        }
        EscrowState::Reclaimed { .. } => (pb::EscrowState::Reclaimed, vec![]),
    };
    pb::Escrow {
        session_id: e.session_id.to_bytes().to_vec(),
        node_id: e.node_id.to_bytes().to_vec(),
        escrow: e.escrow.0,
        price_per_kib: e.price_per_kib.0,
        session_key_hash: e.session_key_hash.to_bytes().to_vec(),
        refund_owner: e.refund_owner.to_bytes().to_vec(),
        expiry: e.expiry.0,
        state: state as i32,
        opened_at: e.opened_at.0,
        cm_refund,
        cm_change: e.cm_change.to_bytes().to_vec(),
        batch: match &e.state {
            EscrowState::Settled { batch, .. } => batch.to_bytes().to_vec(),
            _ => vec![],
        },
        reclaim_leaf_index: match &e.state {
            EscrowState::Reclaimed { leaf_index } => *leaf_index,
            _ => 0,
        },
    }
}

pub fn escrow_from_pb(e: &pb::Escrow) -> Result<Escrow, LedgerError> {
    let state = match pb::EscrowState::try_from(e.state) {
        Ok(pb::EscrowState::Open) => EscrowState::Open,
        Ok(pb::EscrowState::Settled) => EscrowState::Settled {
            batch: session_id(&e.batch)?,
            cm_refund: commitment("cm_refund", &e.cm_refund)?,
        },
        Ok(pb::EscrowState::Reclaimed) => EscrowState::Reclaimed {
            leaf_index: e.reclaim_leaf_index,
        },
        _ => return Err(LedgerError::InvalidArgument("unknown escrow state")),
    };
    Ok(Escrow {
        session_id: session_id(&e.session_id)?,
        node_id: node_id(&e.node_id)?,
        escrow: Value(e.escrow),
        price_per_kib: Value(e.price_per_kib),
        session_key_hash: field(
            "session_key_hash",
            &e.session_key_hash,
            SessionKeyHash::from_slice,
        )?,
        refund_owner: field("refund_owner", &e.refund_owner, OwnerKey::from_slice)?,
        expiry: BlockHeight(e.expiry),
        cm_change: commitment("cm_change", &e.cm_change)?,
        opened_at: BlockHeight(e.opened_at),
        state,
    })
}
