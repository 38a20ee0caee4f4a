//! The wallet: one file holding the spending key, the notes and the
//! session intents of one client.
//!
//! # Format (version 1)
//!
//! A JSON object, written atomically with mode 0600 (see [`crate::fsutil`]):
//!
//! ```text
//! { "version": 2,
//!   "spending_key": "<64 hex>",      // sk, canonical field element (§2.1)
//!   "account_key": "<64 hex>",       // seed of the account key A (§2.6); the public
//!                                    // account is H(ACCOUNT, A.x, A.y) (§8.3)
//!   "synced_leaves": 0,              // commitments scanned so far
//!   "notes": [ NoteRecord ... ],
//!   "sessions": [ SessionRecord ... ] }
//! ```
//!
//! Version 2 replaced the bare `account` of version 1 by the account key
//! that signs the account's debits (§8.3); a version-1 file is refused.
//!
//! Every field element is exactly 64 lowercase hex digits of its canonical
//! 32-byte big-endian encoding (`docs/protocol.md` §2.1); a value `>= r`,
//! another length or unknown field is a load error (never reduced). Values
//! are JSON integers (`u64`, exact in serde_json).
//!
//! # Write-ahead (F4, F6)
//!
//! A note's secret (`ρ`) is persisted, with status `Pending`, before the
//! deposit or token that creates it is submitted; a session's token and
//! secrets are persisted before `OpenSession` is called. A retry after a
//! crash or timeout reuses them: never a second nullifier for one intent.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use veil_primitives::Fr;
use veil_primitives::eddsa::{SEED_BYTES, SigningKey};
use veil_primitives::field::{fr_from_bytes, fr_to_bytes};
use veil_primitives::ids::AccountId;
use veil_primitives::ids::SessionId;
use veil_primitives::keys::{OwnerKey, SpendingKey};
use veil_primitives::note::{Address, NoteCommitment, Rho};
use veil_primitives::refund::refund_spending_key;
use veil_primitives::secret::{Redacted, Zeroize, ZeroizeOnDrop, Zeroizing};
use veil_primitives::value::Value;

use crate::fsutil::{self, FsError};

/// Current wallet format version.
pub const WALLET_VERSION: u32 = 2;
/// No valid wallet is larger (bounds the read of a hostile file).
pub const MAX_WALLET_BYTES: u64 = 64 << 20;

/// A wallet failure.
#[derive(Debug, Error)]
pub enum WalletError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("wallet file is malformed: {0}")]
    Format(String),
    #[error("unsupported wallet version {0} (this build reads version {WALLET_VERSION})")]
    Version(u32),
    #[error("{0}: a wallet already exists here")]
    Exists(PathBuf),
}

/// A canonical field element in the wallet file: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexFr(pub Fr);

impl std::fmt::Debug for HexFr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", hex::encode(fr_to_bytes(&self.0)))
    }
}

impl Serialize for HexFr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(fr_to_bytes(&self.0)))
    }
}

impl<'de> Deserialize<'de> for HexFr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_field_hex_exact(&s)
            .map(HexFr)
            .map_err(serde::de::Error::custom)
    }
}

/// The seed of an EdDSA key in the file (the account key, a session key):
/// 64 lowercase hex digits (32 bytes, §2.6). Secret: `Debug` is redacted
/// and it is wiped on drop (`docs/security.md`, "Secrets in memory"); the
/// wallet file's writer is the only way out.
#[derive(Clone, PartialEq, Eq)]
pub struct HexSeed(pub [u8; SEED_BYTES]);

impl Zeroize for HexSeed {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for HexSeed {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for HexSeed {}

impl std::fmt::Debug for HexSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HexSeed").field(&Redacted).finish()
    }
}

impl Serialize for HexSeed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(hex::encode(self.0)))
    }
}

impl<'de> Deserialize<'de> for HexSeed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(serde::de::Error::custom(HexError::NotHex(c)));
        }
        let mut seed = HexSeed([0u8; SEED_BYTES]);
        hex::decode_to_slice(s.as_str(), &mut seed.0)
            .map_err(|_| serde::de::Error::custom(HexError::Length(s.len())))?;
        Ok(seed)
    }
}

/// The wallet's spending key in the file: 64 lowercase hex digits of a
/// canonical field element. Secret: `Debug` is redacted and the key is
/// wiped on drop ([`SpendingKey`]); the wallet file's writer is the only
/// way out.
#[derive(Clone)]
pub struct HexSpendingKey(pub SpendingKey);

impl PartialEq for HexSpendingKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.inner() == other.0.inner()
    }
}

impl Eq for HexSpendingKey {}

impl std::fmt::Debug for HexSpendingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for HexSpendingKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(hex::encode(self.0.to_bytes())))
    }
}

impl<'de> Deserialize<'de> for HexSpendingKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        let mut sk = Zeroizing::new(parse_field_hex_exact(&s).map_err(serde::de::Error::custom)?);
        let key = HexSpendingKey(SpendingKey::from_fr(*sk));
        sk.zeroize();
        Ok(key)
    }
}

/// Why a hex field element was refused (adversarial F2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    #[error("expected 64 hex digits (32 bytes), got {0} characters")]
    Length(usize),
    #[error("not a hex digit: {0:?}")]
    NotHex(char),
    #[error("value is not a canonical field element (>= r); it is never reduced")]
    NonCanonical,
}

/// Strict form used inside the wallet file: exactly 64 lowercase hex digits, `< r`.
pub fn parse_field_hex_exact(s: &str) -> Result<Fr, HexError> {
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(HexError::NotHex(c));
    }
    if s.len() != 64 {
        return Err(HexError::Length(s.len()));
    }
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).map_err(|_| HexError::Length(s.len()))?;
    fr_from_bytes(&b).map_err(|_| HexError::NonCanonical)
}

/// Form accepted from a person or a key file (F2): an optional `0x`
/// prefix, then exactly 64 hex digits of either case, `< r`.
pub fn parse_field_hex(s: &str) -> Result<Fr, HexError> {
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    parse_field_hex_exact(&body.to_ascii_lowercase())
}

/// Where a note came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteOrigin {
    Deposit,
    Change,
    Refund,
    Withdrawal,
}

/// The life cycle of a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// Secret persisted; the transaction creating it may or may not have
    /// landed (F4). Becomes `Unspent` when sync finds its commitment.
    Pending,
    /// In the tree at `leaf`, spendable.
    Unspent,
    /// Its nullifier was submitted (maybe not yet accepted; see `spent_by`).
    Spent,
}

/// One note the wallet can (or will be able to) spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRecord {
    pub value: u64,
    pub rho: HexFr,
    pub origin: NoteOrigin,
    pub status: NoteStatus,
    /// Leaf index once found in the tree.
    #[serde(default)]
    pub leaf: Option<u64>,
    /// Who owns the note. Absent: the wallet key `sk`. Present: `ρ_r` of the
    /// session whose refund key `sk_r = H(REFUND_KEY, sk, ρ_r)` owns it — the
    /// session's refund or reclaim note, and the change of spending either
    /// (the change goes to the spent note's owner, §3.2). Absent in files
    /// written before refund keys existed, which therefore still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_key_rho: Option<HexFr>,
}

impl NoteRecord {
    /// The note's randomness.
    pub fn rho(&self) -> Rho {
        Rho::from_fr(self.rho.0)
    }

    /// The key that spends this note, given the wallet key `sk`.
    pub fn spending_key(&self, wallet_key: &SpendingKey) -> SpendingKey {
        match &self.refund_key_rho {
            None => wallet_key.clone(),
            Some(rho_r) => refund_spending_key(wallet_key, &Rho::from_fr(rho_r.0)),
        }
    }

    /// `cm = H(NOTE, v, H(ADDR, pk, ρ))` (§2.3), `pk` of [`Self::spending_key`].
    pub fn commitment(&self, wallet_key: &SpendingKey) -> NoteCommitment {
        Self::commitment_for(
            &self.spending_key(wallet_key).owner_key(),
            self.value,
            &self.rho(),
        )
    }

    /// `cm = H(NOTE, v, H(ADDR, pk, ρ))` (§2.3).
    pub fn commitment_for(owner: &OwnerKey, value: u64, rho: &Rho) -> NoteCommitment {
        NoteCommitment::from_value_and_address(Value(value), &Address::derive(owner, rho))
    }
}

/// The life cycle of a session, from intent to refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Token built and persisted; `OpenSession` not yet confirmed (F6).
    Pending,
    /// The node confirmed the session.
    Open,
    /// The client stopped using it; refund not yet found.
    Closed,
    /// The refund note was found (or the session was found never opened).
    Finished,
}

/// One session intent and its secrets, persisted before the token is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    /// Client-chosen intent label; re-running the same intent reuses this record.
    pub intent: String,
    pub node_id: HexFr,
    pub escrow: u64,
    pub price_per_kib: u64,
    pub expiry: u64,
    /// The note spent (its `ρ`), the nullifier = session id.
    pub spent_rho: HexFr,
    pub nullifier: HexFr,
    /// `ρ` of the change note, and `ρ_r` of the session's refund key
    /// `sk_r = H(REFUND_KEY, sk, ρ_r)` (§6).
    pub change_rho: HexFr,
    pub refund_rho: HexFr,
    /// Seed of the session EdDSA key S (32 bytes, hex).
    pub session_seed: HexSeed,
    /// The encoded access token (hex), sent verbatim on a retry.
    pub token: String,
    /// Every cumulative KiB value signed in a receipt (refund candidates).
    #[serde(default)]
    pub receipts_kib: Vec<u64>,
    pub status: SessionStatus,
}

impl SessionRecord {
    /// `ρ_r`, the randomness of the session's refund key.
    pub fn refund_rho(&self) -> Rho {
        Rho::from_fr(self.refund_rho.0)
    }

    /// The session's refund spending key `sk_r = H(REFUND_KEY, sk, ρ_r)` (§6).
    pub fn refund_key(&self, wallet_key: &SpendingKey) -> SpendingKey {
        refund_spending_key(wallet_key, &self.refund_rho())
    }

    /// The session id (the access nullifier).
    pub fn session_id(&self) -> SessionId {
        SessionId::from_fr(self.nullifier.0)
    }

    /// The session key `S` (from the stored seed), `None` if the seed
    /// derives the zero key.
    pub fn session_key(&self) -> Option<SigningKey> {
        SigningKey::from_seed(self.session_seed.0)
    }
}

/// The whole wallet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletData {
    pub version: u32,
    pub spending_key: HexSpendingKey,
    pub account_key: HexSeed,
    #[serde(default)]
    pub synced_leaves: u64,
    #[serde(default)]
    pub notes: Vec<NoteRecord>,
    #[serde(default)]
    pub sessions: Vec<SessionRecord>,
}

impl WalletData {
    /// Encodes the wallet file (it holds the keys: wiped on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(serde_json::to_vec_pretty(self).unwrap_or_default());
        v.push(b'\n');
        v
    }

    /// Decodes and checks a wallet file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WalletError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| WalletError::Format(e.to_string()))?;
        if v.version != WALLET_VERSION {
            return Err(WalletError::Version(v.version));
        }
        serde_json::from_slice(bytes).map_err(|e| WalletError::Format(e.to_string()))
    }
}

/// A wallet loaded from its file. Every mutation is followed by [`Wallet::save`].
#[derive(Debug)]
pub struct Wallet {
    path: PathBuf,
    pub data: WalletData,
    /// Derived from `data.account_key` when the wallet is loaded.
    account_key: SigningKey,
}

fn account_key(seed: &HexSeed) -> Result<SigningKey, WalletError> {
    SigningKey::from_seed(seed.0)
        .ok_or_else(|| WalletError::Format("account key seed derives the zero key".into()))
}

impl Wallet {
    /// Creates a new wallet file at `path` (refused if one exists) with the
    /// spending key and the seed of the account key (§8.3).
    pub fn create(
        path: &Path,
        spending_key: Fr,
        account_seed: [u8; SEED_BYTES],
    ) -> Result<Self, WalletError> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(WalletError::Exists(path.to_path_buf()));
        }
        let data = WalletData {
            version: WALLET_VERSION,
            spending_key: HexSpendingKey(SpendingKey::from_fr(spending_key)),
            account_key: HexSeed(account_seed),
            synced_leaves: 0,
            notes: Vec::new(),
            sessions: Vec::new(),
        };
        let account_key = account_key(&data.account_key)?;
        fsutil::create_new_atomic(path, &data.to_bytes())?;
        Ok(Wallet {
            path: path.to_path_buf(),
            data,
            account_key,
        })
    }

    /// Opens a wallet: regular file, mode without group/other access (F3).
    pub fn open(path: &Path) -> Result<Self, WalletError> {
        let bytes = fsutil::read_secret_file(path, MAX_WALLET_BYTES)?;
        let data = WalletData::from_bytes(&bytes)?;
        let account_key = account_key(&data.account_key)?;
        Ok(Wallet {
            path: path.to_path_buf(),
            data,
            account_key,
        })
    }

    /// Atomically rewrites the wallet file (F5).
    pub fn save(&self) -> Result<(), WalletError> {
        fsutil::write_atomic(&self.path, &self.data.to_bytes())?;
        Ok(())
    }

    /// The spending key.
    pub fn spending_key(&self) -> SpendingKey {
        self.data.spending_key.0.clone()
    }

    /// The public account used for deposits and withdrawals:
    /// `H(ACCOUNT, A.x, A.y)` of the account key (§8.3).
    pub fn account(&self) -> AccountId {
        self.account_key.verifying_key().account_id()
    }

    /// The account key `A` that signs the account's debits (§8.3).
    pub fn account_key(&self) -> &SigningKey {
        &self.account_key
    }

    /// Sum of spendable notes.
    pub fn balance(&self) -> u64 {
        self.data
            .notes
            .iter()
            .filter(|n| n.status == NoteStatus::Unspent)
            .fold(0u64, |a, n| a.saturating_add(n.value))
    }

    /// Sum of notes whose creating transaction is not yet seen in the tree.
    pub fn pending(&self) -> u64 {
        self.data
            .notes
            .iter()
            .filter(|n| n.status == NoteStatus::Pending)
            .fold(0u64, |a, n| a.saturating_add(n.value))
    }

    /// The wallet file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> WalletData {
        WalletData {
            version: WALLET_VERSION,
            spending_key: HexSpendingKey(SpendingKey::from_fr(Fr::from(7u64))),
            account_key: HexSeed([9u8; SEED_BYTES]),
            synced_leaves: 3,
            notes: vec![NoteRecord {
                value: u64::MAX,
                rho: HexFr(-Fr::from(1u64)),
                origin: NoteOrigin::Deposit,
                status: NoteStatus::Pending,
                leaf: Some(2),
                refund_key_rho: None,
            }],
            sessions: vec![],
        }
    }

    #[test]
    fn debug_of_the_wallet_shows_no_key() {
        let mut data = sample();
        let sk = SpendingKey::random(&mut rand::rngs::OsRng);
        data.spending_key = HexSpendingKey(sk.clone());
        data.account_key = HexSeed([0x3c; SEED_BYTES]);
        let session = [0xa7; SEED_BYTES];
        data.sessions.push(SessionRecord {
            intent: "i".into(),
            node_id: HexFr(Fr::from(1u64)),
            escrow: 1,
            price_per_kib: 1,
            expiry: 1,
            spent_rho: HexFr(Fr::from(2u64)),
            nullifier: HexFr(Fr::from(3u64)),
            change_rho: HexFr(Fr::from(4u64)),
            refund_rho: HexFr(Fr::from(5u64)),
            session_seed: HexSeed(session),
            token: String::new(),
            receipts_kib: vec![],
            status: SessionStatus::Pending,
        });
        let secrets: [&[u8]; 3] = [&sk.to_bytes(), &[0x3c; SEED_BYTES], &session];
        let shown = format!("{data:?}");
        veil_primitives::secret::testing::assert_debug_redacted(&shown, &secrets);
        assert!(!shown.contains(&sk.inner().to_string()), "decimal: {shown}");
        // The file itself holds them, and reads back.
        let back = WalletData::from_bytes(&data.to_bytes()).unwrap();
        assert_eq!(back, data);
        assert_eq!(back.sessions[0].session_seed.0, session);
    }

    #[test]
    fn zeroize_wipes_a_seed() {
        let mut seed = HexSeed([0x3c; SEED_BYTES]);
        // What drop runs, observed before the memory is freed.
        seed.zeroize();
        assert_eq!(seed.0, [0; SEED_BYTES]);
    }

    #[test]
    fn note_owner_is_recorded_and_old_files_load() {
        // A file written before refund keys: no `refund_key_rho`, owned by sk.
        let mut json: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        assert!(json["notes"][0].get("refund_key_rho").is_none());
        json["notes"][0]
            .as_object_mut()
            .unwrap()
            .remove("refund_key_rho");
        let old = WalletData::from_bytes(&serde_json::to_vec(&json).unwrap()).unwrap();
        let sk = old.spending_key.0.clone();
        let note = &old.notes[0];
        assert_eq!(note.spending_key(&sk).owner_key(), sk.owner_key());
        // A refund-owned note is spent with sk_r, and round-trips.
        let mut w = sample();
        w.notes[0].refund_key_rho = Some(HexFr(Fr::from(5u64)));
        let back = WalletData::from_bytes(&w.to_bytes()).unwrap();
        assert_eq!(back, w);
        let sk_r = refund_spending_key(&sk, &Rho::from_fr(Fr::from(5u64)));
        assert_eq!(
            back.notes[0].spending_key(&sk).owner_key(),
            sk_r.owner_key()
        );
        assert_ne!(sk_r.owner_key(), sk.owner_key());
        assert_eq!(
            back.notes[0].commitment(&sk),
            NoteRecord::commitment_for(&sk_r.owner_key(), u64::MAX, &back.notes[0].rho())
        );
    }

    #[test]
    fn roundtrip_is_exact() {
        let w = sample();
        assert_eq!(WalletData::from_bytes(&w.to_bytes()).unwrap(), w);
    }

    #[test]
    fn f2_hex_parsing_is_strict() {
        let r_hex = "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
        let r_minus_1 = "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000";
        assert_eq!(parse_field_hex(r_minus_1), Ok(-Fr::from(1u64)));
        assert_eq!(
            parse_field_hex(&format!("0x{r_minus_1}")),
            Ok(-Fr::from(1u64))
        );
        assert_eq!(
            parse_field_hex(&r_minus_1.to_uppercase()),
            Ok(-Fr::from(1u64))
        );
        assert_eq!(parse_field_hex(r_hex), Err(HexError::NonCanonical));
        assert_eq!(
            parse_field_hex(&format!("0x{r_hex}")),
            Err(HexError::NonCanonical)
        );
        assert_eq!(
            parse_field_hex(&"f".repeat(64)),
            Err(HexError::NonCanonical)
        );
        assert_eq!(parse_field_hex(&"0".repeat(63)), Err(HexError::Length(63)));
        assert_eq!(parse_field_hex(&"0".repeat(66)), Err(HexError::Length(66)));
        assert_eq!(parse_field_hex(&"0".repeat(62)), Err(HexError::Length(62)));
        assert_eq!(
            parse_field_hex(&format!("{}g", "0".repeat(63))),
            Err(HexError::NotHex('g'))
        );
        assert_eq!(parse_field_hex(" 00"), Err(HexError::NotHex(' ')));
        assert_eq!(parse_field_hex(""), Err(HexError::Length(0)));
        // The file form admits no prefix and no upper case.
        assert!(parse_field_hex_exact(&format!("0x{}", "0".repeat(62))).is_err());
        assert!(parse_field_hex_exact(&"A".repeat(64)).is_err());
    }

    #[test]
    fn non_canonical_key_in_file_is_refused() {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        json["spending_key"] = serde_json::Value::String("f".repeat(64));
        let bytes = serde_json::to_vec(&json).unwrap();
        assert!(matches!(
            WalletData::from_bytes(&bytes),
            Err(WalletError::Format(_))
        ));
    }

    #[test]
    fn unknown_version_and_fields_are_refused() {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        for old_or_future in [1u32, WALLET_VERSION + 1] {
            json["version"] = old_or_future.into();
            let bytes = serde_json::to_vec(&json).unwrap();
            assert!(matches!(
                WalletData::from_bytes(&bytes),
                Err(WalletError::Version(v)) if v == old_or_future
            ));
        }
        json["version"] = WALLET_VERSION.into();
        json["extra"] = 1.into();
        let bytes = serde_json::to_vec(&json).unwrap();
        assert!(matches!(
            WalletData::from_bytes(&bytes),
            Err(WalletError::Format(_))
        ));
    }

    #[test]
    fn create_open_save_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wallet.json");
        let mut w = Wallet::create(&p, Fr::from(1u64), [2u8; SEED_BYTES]).unwrap();
        assert!(matches!(
            Wallet::create(&p, Fr::from(1u64), [2u8; SEED_BYTES]),
            Err(WalletError::Exists(_))
        ));
        w.data.synced_leaves = 10;
        w.save().unwrap();
        assert_eq!(Wallet::open(&p).unwrap().data.synced_leaves, 10);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Wallet::open(&p),
            Err(WalletError::Fs(FsError::TooOpen { .. }))
        ));
    }

    #[test]
    fn truncated_file_is_an_error() {
        let bytes = sample().to_bytes();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 3] {
            assert!(WalletData::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
