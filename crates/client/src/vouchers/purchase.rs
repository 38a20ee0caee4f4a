//! Buying a voucher with an escrow session (`docs/vouchers.md` §9).

use rand::{CryptoRng, RngCore};
use tonic::transport::Channel;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::field::fr_from_slice;
use veil_primitives::receipt::Receipt;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;
use veil_proto::node::v1::node_client::NodeClient;
use veil_vouchers::context::{purchase_context, purchase_message};
use veil_vouchers::{Balance, Credential, IssuanceResponse};

use super::error::VoucherError;
use super::store::VoucherWallet;
use super::terms::VoucherTerms;

/// The escrow session paying for a voucher: opened by the client like any
/// session, unused (no stream, no receipt).
#[derive(Debug)]
pub struct PaidSession<'a> {
    /// The session id (the access token's nullifier, 32 bytes).
    pub session_id: [u8; 32],
    /// The session key S.
    pub session_key: &'a SigningKey,
    /// The session's credit, `⌊E / price⌋` KiB.
    pub credit_kib: u64,
}

/// Buys a voucher for the session's full credit (§9): signs the
/// full-credit receipt (the node may claim the whole escrow at once),
/// sends a blind issuance request authorised by the session key, and checks
/// the node's proof against the published key. The caller stores the
/// result ([`VoucherWallet::add`]).
pub async fn buy<R: RngCore + CryptoRng>(
    node: &mut NodeClient<Channel>,
    terms: &VoucherTerms,
    session: PaidSession<'_>,
    rng: &mut R,
) -> Result<Credential, VoucherError> {
    let sid = session.session_id;
    let (request, awaiting) = Credential::request_issuance(
        &terms.key,
        terms.node_id,
        Balance::from_kib(session.credit_kib),
        &purchase_context(&sid),
        rng,
    );
    let request_bytes = request.to_bytes();
    let session_fr = fr_from_slice(&sid).map_err(|e| VoucherError::Terms(e.to_string()))?;
    let receipt = Receipt {
        session_id: session_fr,
        kib: session.credit_kib,
    }
    .sign(session.session_key);
    let authorization = session
        .session_key
        .sign(&purchase_message(&sid, &request_bytes));
    let resp = node
        .buy_voucher(pb::BuyVoucherRequest {
            version: WIRE_VERSION,
            session_id: sid.to_vec(),
            full_receipt: receipt.to_bytes().to_vec(),
            issuance_request: request_bytes,
            authorization: authorization.to_bytes().to_vec(),
        })
        .await?
        .into_inner();
    let response = IssuanceResponse::from_bytes(&resp.issuance_response)?;
    Ok(awaiting.finish_issuance(&response)?)
}

/// Wallet intent of the escrow session that pays for a voucher (a retry
/// after a crash resumes the same token, F6).
pub const PURCHASE_INTENT: &str = "voucher-purchase";

/// What [`buy_with_escrow`] did.
#[derive(Debug)]
pub struct Purchase {
    pub terms: VoucherTerms,
    /// KiB bought (the session's credit).
    pub balance: Balance,
    /// Whether the session was resumed from a persisted token (F6).
    pub resumed: bool,
    /// Time spent proving the access token, milliseconds.
    pub prove_ms: u128,
}

/// Buys a voucher end to end (§9): syncs the wallet, checks the node's
/// voucher key against its ledger profile ([`VoucherTerms::published`]:
/// no per-client key, §3.1), opens an escrow session of `escrow` with the
/// node (an ordinary anonymous session), buys
/// a voucher for its full credit, stores the credential in the voucher file
/// and records the full-credit receipt in the wallet (refund discovery).
///
/// The node learns that this voucher was bought by that session; the
/// session itself is unlinkable to the wallet, and the voucher's later
/// spends are unlinkable to the purchase.
#[allow(clippy::too_many_arguments)]
pub async fn buy_with_escrow<L: veil_ledger::LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    node: &mut crate::session::NodeConnection,
    prover: &veil_proofs::Prover,
    wallet: &mut crate::wallet::Wallet,
    vouchers: &mut VoucherWallet,
    tree: &mut crate::sync::LocalTree,
    escrow: u64,
    rng: &mut R,
) -> Result<Purchase, VoucherError> {
    crate::sync::sync(ledger, wallet, tree).await?;
    let node_terms = crate::flow::terms_accepting(node, tree).await?;
    let terms = VoucherTerms::published(&node_terms, ledger).await?;
    vouchers.check_key(&terms)?;
    let session = crate::session::open_session(
        node,
        &node_terms,
        prover,
        wallet,
        tree,
        escrow,
        PURCHASE_INTENT,
        rng,
    )
    .await?;
    let credential = buy(
        &mut node.client,
        &terms,
        PaidSession {
            session_id: session.session_id.to_bytes(),
            session_key: &session.session_key,
            credit_kib: session.credit_kib,
        },
        rng,
    )
    .await?;
    let balance = credential.balance();
    vouchers.add(credential)?;
    crate::session::record_receipts(wallet, &session.session_id, &[session.credit_kib], true)?;
    Ok(Purchase {
        terms,
        balance,
        resumed: session.resumed,
        prove_ms: session.prove_ms,
    })
}
