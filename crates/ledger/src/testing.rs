//! TEST AND BENCHMARK HELPERS: requests signed the way a wallet or a node
//! signs them, against an [`Engine`]'s current state (§8.3). Never used by
//! the ledger itself.

use veil_primitives::eddsa::SigningKey;

use crate::engine::Engine;
use crate::error::LedgerError;
use crate::types::*;

/// A deposit from the account of `key`, signed with its next nonce.
pub fn signed_deposit(
    engine: &Engine,
    key: &SigningKey,
    value: Value,
    addr: Address,
) -> Result<DepositRequest, LedgerError> {
    let nonce = engine
        .account(&key.verifying_key().account_id())?
        .next_nonce;
    Ok(DepositRequest::signed(key, nonce, value, addr))
}

/// Deposits as the account of `key` (see [`signed_deposit`]).
pub fn deposit(
    engine: &Engine,
    key: &SigningKey,
    value: Value,
    addr: Address,
) -> Result<DepositReceipt, LedgerError> {
    engine.deposit(signed_deposit(engine, key, value, addr)?)
}

/// A registration of the node of `node_key`, staked from and paid to the
/// account of `account_key` at its next nonce.
pub fn registration(
    engine: &Engine,
    node_key: &SigningKey,
    account_key: &SigningKey,
    price_per_kib: Value,
    escrow_sizes: Vec<Value>,
    stake: Value,
    tls_key_hash: [u8; 32],
) -> Result<NodeRegistration, LedgerError> {
    let nonce = engine
        .account(&account_key.verifying_key().account_id())?
        .next_nonce;
    Ok(NodeRegistration::signed(
        node_key,
        account_key,
        nonce,
        price_per_kib,
        escrow_sizes,
        stake,
        tls_key_hash,
    ))
}

/// An update of the node of `node_key` to the given terms (§8.3.8),
/// signed by the node key and by its account's key at the account's next
/// nonce, with the record's next sequence number.
pub fn update(
    engine: &Engine,
    node_key: &SigningKey,
    account_key: &SigningKey,
    price_per_kib: Value,
    escrow_sizes: Vec<Value>,
    tls_key_hash: [u8; 32],
) -> Result<NodeUpdate, LedgerError> {
    let record = engine
        .get_node(&node_key.verifying_key().node_id())?
        .ok_or(LedgerError::UnknownNode)?;
    let nonce = engine
        .account(&account_key.verifying_key().account_id())?
        .next_nonce;
    Ok(NodeUpdate::signed(
        node_key,
        account_key,
        nonce,
        &record,
        price_per_kib,
        escrow_sizes,
        tls_key_hash,
    ))
}

/// Authorises `r` with `node_key` over the statement built from the
/// engine's escrow records (§8.3.3), as the node does. Leaves `r` unsigned
/// if a session has no escrow record (the ledger refuses it before the
/// signature matters).
pub fn authorise_settle(
    engine: &Engine,
    node_key: &SigningKey,
    r: &mut SettleRequest,
) -> Result<(), LedgerError> {
    let mut slots = Vec::with_capacity(r.session_ids.len());
    let mut escrows = Vec::with_capacity(r.session_ids.len());
    for (id, cm) in r.session_ids.iter().zip(&r.cm_refunds) {
        match engine.get_escrow(id)? {
            Some(e) => {
                slots.push(SettleBatch::slot(&e, *cm));
                escrows.push(e);
            }
            None => return Ok(()),
        }
    }
    let Ok(price) = crate::machine::batch_price(&escrows) else {
        return Ok(());
    };
    let statement = SettleBatch {
        node_id: r.node_id,
        k: r.k,
        total: r.total,
        price,
        slots,
    };
    if let Ok(m) = statement.auth_message() {
        r.authorisation = Some(node_key.sign(&m));
    }
    Ok(())
}

/// An in-memory development ledger (fake verifier, faucet on) served over
/// gRPC on a loopback port for the rest of the process: the ledger, a
/// client of it, and its URL.
pub async fn served_in_memory()
-> Result<(crate::EmbeddedLedger, crate::RemoteLedger, String), LedgerError> {
    let ledger = crate::EmbeddedLedger::in_memory(
        std::sync::Arc::new(crate::verifier::FakeVerifier::default()),
        crate::LedgerConfig::with_dev_faucet(),
    )?;
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (listener, addr) = crate::service::bind(loopback)
        .await
        .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
    let served = ledger.clone();
    tokio::spawn(
        async move { crate::service::serve(served, listener, std::future::pending()).await },
    );
    let url = format!("http://{addr}");
    let remote = crate::RemoteLedger::connect(&url).await?;
    Ok((ledger, remote, url))
}
