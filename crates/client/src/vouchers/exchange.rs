//! Exchanging previous-epoch credentials after a node rotated its voucher
//! key (`docs/vouchers.md` §3.2): each is spent for `0` on `ExchangeVoucher`
//! and replaced by a credential on the same balance under the current key,
//! checked against it. Only during the node's grace period; after it the
//! node refuses with `FAILED_PRECONDITION` and the credential is worthless.

use rand::{CryptoRng, RngCore};
use tonic::transport::Channel;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;
use veil_proto::node::v1::node_client::NodeClient;
use veil_vouchers::context::exchange_context;
use veil_vouchers::{Balance, SpendResponse};

use super::error::VoucherError;
use super::spend::challenge_nonce;
use super::store::VoucherWallet;
use super::terms::VoucherTerms;

/// Exchanges credential `index` of `wallet` (under `terms.previous`) for a
/// current-epoch one and stores it in its place.
pub async fn exchange_one<R: RngCore + CryptoRng>(
    node: &mut NodeClient<Channel>,
    terms: &VoucherTerms,
    wallet: &mut VoucherWallet,
    index: usize,
    rng: &mut R,
) -> Result<Balance, VoucherError> {
    if !wallet.previous_epoch(terms).contains(&index) {
        return Err(VoucherError::Terms(
            "not a credential of the node's previous voucher epoch".into(),
        ));
    }
    let credential = wallet
        .credentials()
        .get(index)
        .cloned()
        .ok_or_else(|| VoucherError::Terms("no such credential".into()))?;
    let nonce = challenge_nonce(node).await?;
    let (spend, pending) =
        credential.prepare_spend(Balance::ZERO, &exchange_context(&nonce), rng)?;
    let resp = node
        .exchange_voucher(pb::ExchangeVoucherRequest {
            version: WIRE_VERSION,
            nonce: nonce.to_vec(),
            spend_request: spend.to_bytes(),
        })
        .await?
        .into_inner();
    let response = SpendResponse::from_bytes(&resp.spend_response)?;
    let next = pending.finish_spend(&response, &terms.key)?;
    let balance = next.balance();
    wallet.replace(index, Some(next))?;
    Ok(balance)
}

/// Exchanges every previous-epoch credential at the node of `terms`;
/// returns the balance moved to the current epoch. Stops at the first
/// refusal (the ones exchanged so far are stored).
pub async fn exchange_previous<R: RngCore + CryptoRng>(
    node: &mut NodeClient<Channel>,
    terms: &VoucherTerms,
    wallet: &mut VoucherWallet,
    rng: &mut R,
) -> Result<Balance, VoucherError> {
    let mut moved = Balance::ZERO;
    // From the end: `replace` drops an empty credential, which shifts only
    // the indices after it.
    for index in wallet.previous_epoch(terms).into_iter().rev() {
        let b = exchange_one(node, terms, wallet, index, rng).await?;
        moved = Balance::from_kib(moved.kib().saturating_add(b.kib()));
    }
    Ok(moved)
}
