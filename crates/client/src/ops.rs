//! Wallet operations against a ledger: deposit, withdraw, and the spend
//! planning shared with session opening (`docs/protocol.md` §3, §4, §8.3).
//!
//! Write-ahead discipline (F4): every new note's secret is saved (status
//! `Pending`) before the transaction that creates it is submitted, and a
//! spent note is marked `Spent` before its nullifier leaves the wallet.

use rand::{CryptoRng, RngCore};
use veil_circuits::spend::SpendPrivate;
use veil_circuits::withdraw::WithdrawPublic;
use veil_ledger::LedgerApi;
use veil_ledger::types::{DepositRequest, Proof as LedgerProof};
use veil_primitives::ids::AccountId;
use veil_primitives::note::{Address, Rho};
use veil_primitives::value::Value;
use veil_proofs::Prover;

use crate::error::ClientError;
use crate::sync::LocalTree;
use crate::wallet::{HexFr, NoteOrigin, NoteRecord, NoteStatus, Wallet};

/// Deposits `amount` from the wallet's account into the pool as a fresh
/// note, signed by the wallet's account key with the account's next nonce
/// (§8.3.1). With `use_faucet` (DEVELOPMENT ONLY, a ledger run with
/// `--dev-faucet`) the shortfall is minted first. The note secret is saved
/// before the deposit is submitted (F4).
pub async fn deposit<L: LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    wallet: &mut Wallet,
    amount: u64,
    use_faucet: bool,
    rng: &mut R,
) -> Result<u64, ClientError> {
    if amount == 0 {
        return Err(ClientError::Input("deposit amount must be positive".into()));
    }
    // On a ledger that authenticates its sender (an EVM chain) the wallet
    // deposits from the account it sends as; elsewhere from its own.
    let account = ledger.acting_account().unwrap_or_else(|| wallet.account());
    if use_faucet {
        let have = ledger.balance(account).await?.get();
        if have < amount {
            ledger.faucet(account, Value(amount - have)).await?;
        }
    }
    let rho = Rho::random(rng);
    wallet.data.notes.push(NoteRecord {
        value: amount,
        rho: HexFr(rho.inner()),
        origin: NoteOrigin::Deposit,
        status: NoteStatus::Pending,
        leaf: None,
        refund_key_rho: None,
    });
    wallet.save()?;
    let addr = Address::derive(&wallet.spending_key().owner_key(), &rho);
    let request = match ledger.acting_account() {
        Some(sender) => DepositRequest::from_sender(sender, Value(amount), addr),
        None => {
            let nonce = ledger.account(account).await?.next_nonce;
            DepositRequest::signed(wallet.account_key(), nonce, Value(amount), addr)
        }
    };
    let receipt = ledger.deposit(request).await?;
    Ok(receipt.leaf_index)
}

/// A note chosen to pay `amount`, with its witness against the local tree.
pub struct Spend {
    /// Position of the spent note in `wallet.data.notes`.
    pub note_index: usize,
    /// The private witness (spent note, path, change randomness).
    pub private: SpendPrivate,
    /// `v − amount`.
    pub change: u64,
}

/// Picks the smallest unspent note holding at least `amount` and builds its
/// witness against `tree` (which must contain it).
pub fn plan_spend<R: RngCore + CryptoRng>(
    wallet: &Wallet,
    tree: &LocalTree,
    amount: u64,
    rng: &mut R,
) -> Result<Spend, ClientError> {
    plan_spend_excluding(wallet, tree, amount, None, rng)
}

/// [`plan_spend`], leaving aside the note at `exclude` (one planned for
/// another spend that is not recorded yet: a two-hop route plans both of
/// its tokens before saving either, [`crate::two_hop`]).
pub fn plan_spend_excluding<R: RngCore + CryptoRng>(
    wallet: &Wallet,
    tree: &LocalTree,
    amount: u64,
    exclude: Option<usize>,
    rng: &mut R,
) -> Result<Spend, ClientError> {
    let candidate = wallet
        .data
        .notes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            Some(*i) != exclude && n.status == NoteStatus::Unspent && n.value >= amount
        })
        .filter_map(|(i, n)| n.leaf.filter(|&l| l < tree.size()).map(|l| (i, n, l)))
        .min_by_key(|(_, n, _)| n.value);
    let Some((note_index, note, leaf)) = candidate else {
        let largest = wallet
            .data
            .notes
            .iter()
            .filter(|n| n.status == NoteStatus::Unspent)
            .map(|n| n.value)
            .max()
            .unwrap_or(0);
        return Err(ClientError::InsufficientFunds {
            need: amount,
            largest,
        });
    };
    let private = SpendPrivate {
        sk: note.spending_key(&wallet.spending_key()),
        value: Value(note.value),
        rho: note.rho(),
        path: tree.path(leaf)?,
        rho_change: Rho::random(rng),
    };
    Ok(Spend {
        note_index,
        private,
        change: note.value - amount,
    })
}

/// Records the effects of a spend in the wallet before it is submitted:
/// the note becomes `Spent`, the change note is saved `Pending`.
/// The change belongs to the spent note's owner (§3.2): a refund key's
/// change stays with that refund key.
pub fn record_spend(wallet: &mut Wallet, spend: &Spend) -> Result<(), ClientError> {
    let mut owner = None;
    if let Some(n) = wallet.data.notes.get_mut(spend.note_index) {
        n.status = NoteStatus::Spent;
        owner = n.refund_key_rho;
    }
    wallet.data.notes.push(NoteRecord {
        value: spend.change,
        rho: HexFr(spend.private.rho_change.inner()),
        origin: NoteOrigin::Change,
        status: NoteStatus::Pending,
        leaf: None,
        refund_key_rho: owner,
    });
    wallet.save()?;
    Ok(())
}

/// Withdraws `amount` from one note to the public account `recipient`
/// with a withdraw proof (§4). The tree must be synced.
pub async fn withdraw<L: LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &LocalTree,
    amount: u64,
    recipient: AccountId,
    rng: &mut R,
) -> Result<(), ClientError> {
    if amount == 0 {
        return Err(ClientError::Input(
            "withdraw amount must be positive".into(),
        ));
    }
    let spend = plan_spend(wallet, tree, amount, rng)?;
    let public = WithdrawPublic::derive(&spend.private, Value(amount), recipient)
        .map_err(|e| ClientError::Input(e.to_string()))?;
    let proof = prover.prove_withdraw(&public, &spend.private, rng)?;
    record_spend(wallet, &spend)?;
    let proof = LedgerProof::from_slice(&proof.proof.to_bytes())
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    ledger.withdraw(public, proof).await?;
    Ok(())
}
