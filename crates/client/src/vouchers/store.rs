//! The credentials file of a wallet.
//!
//!
//! Credentials live next to the wallet file, in `<wallet>.vouchers.json`
//! (mode 0600, every write atomic, see [`crate::fsutil`]):
//!
//! ```text
//! { "version": 1,
//!   "vouchers": [ { "credential": "<418 hex>" } ... ] }
//! ```
//!
//! Each credential is veil-vouchers `Credential::to_bytes` (209 bytes:
//! node id, epoch, issuer key, balance and the secrets). Whoever holds the
//! file can spend the balance.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use veil_primitives::secret::{Zeroize, Zeroizing};
use veil_vouchers::{Balance, Credential, NodeId};

use super::error::VoucherError;
use super::terms::VoucherTerms;
use crate::fsutil;

/// Current voucher file format version.
pub const VOUCHER_FILE_VERSION: u32 = 1;
/// No valid voucher file is larger (bounds the read of a hostile file).
pub const MAX_VOUCHER_FILE_BYTES: u64 = 16 << 20;

/// One credential in the file: secret, so its hex is wiped on drop and
/// never shown by `Debug`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredVoucher {
    credential: String,
}

impl Drop for StoredVoucher {
    fn drop(&mut self) {
        self.credential.zeroize();
    }
}

impl std::fmt::Debug for StoredVoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredVoucher(<redacted>)")
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoucherFile {
    version: u32,
    #[serde(default)]
    vouchers: Vec<StoredVoucher>,
}

/// The voucher file of a wallet: `<wallet>.vouchers.json`.
pub fn voucher_path(wallet: &Path) -> PathBuf {
    let mut name = wallet
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".vouchers.json");
    wallet.with_file_name(name)
}

/// The credentials of one wallet. Every mutation is saved atomically.
#[derive(Debug)]
pub struct VoucherWallet {
    path: PathBuf,
    credentials: Vec<Credential>,
}

impl VoucherWallet {
    /// Opens the voucher file of the wallet at `wallet` (empty if absent).
    pub fn open(wallet: &Path) -> Result<Self, VoucherError> {
        let path = voucher_path(wallet);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(Self {
                path,
                credentials: Vec::new(),
            });
        }
        let bytes = fsutil::read_secret_file(&path, MAX_VOUCHER_FILE_BYTES)?;
        let credentials = Self::decode(&bytes)?;
        Ok(Self { path, credentials })
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Credential>, VoucherError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| VoucherError::Format(e.to_string()))?;
        if v.version != VOUCHER_FILE_VERSION {
            return Err(VoucherError::Version {
                found: v.version,
                supported: VOUCHER_FILE_VERSION,
            });
        }
        let file: VoucherFile =
            serde_json::from_slice(bytes).map_err(|e| VoucherError::Format(e.to_string()))?;
        file.vouchers
            .iter()
            .map(|v| {
                let raw = hex::decode(&v.credential)
                    .map(Zeroizing::new)
                    .map_err(|e| VoucherError::Format(format!("credential hex: {e}")))?;
                Ok(Credential::from_bytes(&raw)?)
            })
            .collect()
    }

    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let file = VoucherFile {
            version: VOUCHER_FILE_VERSION,
            vouchers: self
                .credentials
                .iter()
                .map(|c| StoredVoucher {
                    credential: hex::encode(c.to_bytes()),
                })
                .collect(),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&file).unwrap_or_default());
        // Sized up front: a push that reallocated would leave a copy behind.
        let mut v = Zeroizing::new(Vec::with_capacity(json.len() + 1));
        v.extend_from_slice(&json);
        v.push(b'\n');
        v
    }

    /// Atomically rewrites the voucher file (mode 0600).
    pub fn save(&self) -> Result<(), VoucherError> {
        fsutil::write_atomic(&self.path, &self.encode())?;
        Ok(())
    }

    /// The voucher file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored credential.
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// Total balance, at one node or at all.
    pub fn balance(&self, node: Option<&NodeId>) -> Balance {
        Balance::from_kib(
            self.credentials
                .iter()
                .filter(|c| node.is_none_or(|n| c.node_id() == n))
                .map(|c| c.balance().kib())
                .fold(0u64, u64::saturating_add),
        )
    }

    /// Refuses a node key that differs from one this wallet already holds
    /// credentials under for the same node and epoch (a per-client key
    /// would let the node tag this client's spends, `docs/vouchers.md` §10).
    pub fn check_key(&self, terms: &VoucherTerms) -> Result<(), VoucherError> {
        for key in core::iter::once(&terms.key).chain(terms.previous.as_ref()) {
            let changed = self.credentials.iter().any(|c| {
                c.node_id() == &terms.node_id && c.epoch() == key.epoch() && c.issuer_key() != key
            });
            if changed {
                return Err(VoucherError::KeyChanged {
                    epoch: key.epoch().get(),
                });
            }
        }
        Ok(())
    }

    /// The indices of the credentials at the node of `terms` under its
    /// previous epoch's key (to spend or exchange during the grace period,
    /// `docs/vouchers.md` §3.2).
    pub fn previous_epoch(&self, terms: &VoucherTerms) -> Vec<usize> {
        self.credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.node_id() == &terms.node_id && Some(c.issuer_key()) == terms.previous.as_ref()
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds a credential and saves.
    pub fn add(&mut self, credential: Credential) -> Result<(), VoucherError> {
        self.credentials.push(credential);
        self.save()
    }

    /// The index of the credential at the node of `terms` that covers
    /// `amount`: under the previous epoch's key first (it expires), then
    /// the smallest (keeps big balances for big spends). Only the keys of
    /// `terms` count.
    pub(crate) fn pick(
        &self,
        terms: &VoucherTerms,
        amount: Balance,
    ) -> Result<usize, VoucherError> {
        let usable = |c: &&Credential| {
            c.node_id() == &terms.node_id
                && (c.issuer_key() == &terms.key || Some(c.issuer_key()) == terms.previous.as_ref())
        };
        self.credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| usable(c) && c.balance() >= amount)
            .min_by_key(|(_, c)| (c.issuer_key() == &terms.key, c.balance()))
            .map(|(i, _)| i)
            .ok_or_else(|| VoucherError::InsufficientBalance {
                needed: amount,
                largest: self
                    .credentials
                    .iter()
                    .filter(usable)
                    .map(Credential::balance)
                    .max()
                    .unwrap_or(Balance::ZERO),
            })
    }

    /// Replaces credential `index` by its successor (or drops it) and saves.
    pub(crate) fn replace(
        &mut self,
        index: usize,
        next: Option<Credential>,
    ) -> Result<(), VoucherError> {
        if index < self.credentials.len() {
            match next {
                Some(c) if c.balance() > Balance::ZERO => self.credentials[index] = c,
                _ => {
                    self.credentials.remove(index);
                }
            }
        }
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_vouchers::{Epoch, Issuer, IssuerSecretKey, MemoryNullifierStore};

    const NODE: NodeId = NodeId::new([3; 32]);

    fn issuer() -> Issuer {
        Issuer::new(
            NODE,
            IssuerSecretKey::generate(Epoch::new(0), &mut rand::thread_rng()),
            MemoryNullifierStore::new(),
        )
    }

    fn credential(issuer: &Issuer, kib: u64) -> Credential {
        let (req, awaiting) = Credential::request_issuance(
            issuer.current_key(),
            NODE,
            Balance::from_kib(kib),
            b"test",
            &mut rand::thread_rng(),
        );
        awaiting
            .finish_issuance(&issuer.issue(&req, b"test").unwrap())
            .unwrap()
    }

    fn terms(issuer: &Issuer) -> VoucherTerms {
        VoucherTerms {
            node_id: NODE,
            key: *issuer.current_key(),
            previous: None,
            price_per_kib: 1,
        }
    }

    /// A stored credential's hex never reaches a log through `Debug`.
    #[test]
    fn a_stored_voucher_is_redacted_in_debug() {
        let cred = credential(&issuer(), 10);
        let hex = hex::encode(cred.to_bytes());
        let file = VoucherFile {
            version: VOUCHER_FILE_VERSION,
            vouchers: vec![StoredVoucher {
                credential: hex.clone(),
            }],
        };
        let shown = format!("{file:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&hex[..16]), "{shown}");
    }

    #[test]
    fn file_round_trips_with_mode_0600() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let issuer = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        assert_eq!(w.balance(None), Balance::ZERO);
        w.add(credential(&issuer, 10)).unwrap();
        w.add(credential(&issuer, 32)).unwrap();
        let meta = std::fs::metadata(voucher_path(&wallet)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let again = VoucherWallet::open(&wallet).unwrap();
        assert_eq!(again.credentials(), w.credentials());
        assert_eq!(again.balance(Some(&NODE)), Balance::from_kib(42));
        assert_eq!(again.balance(Some(&NodeId::new([4; 32]))), Balance::ZERO);
    }

    proptest::proptest! {
        /// A hostile voucher file never panics the loader.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = VoucherWallet::decode(&bytes);
        }
    }

    #[test]
    fn malformed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let path = voucher_path(&wallet);
        let cases: [&[u8]; 4] = [
            b"{\"version\":2,\"vouchers\":[]}",
            b"{\"version\":1,\"vouchers\":[{\"credential\":\"00\"}]}",
            b"{\"version\":1,\"vouchers\":[],\"extra\":1}",
            b"not json",
        ];
        for bytes in cases {
            fsutil::write_atomic(&path, bytes).unwrap();
            assert!(VoucherWallet::open(&wallet).is_err());
        }
    }

    #[test]
    fn pick_takes_the_smallest_sufficient_credential_of_this_key() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let b = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 100)).unwrap();
        w.add(credential(&a, 20)).unwrap();
        w.add(credential(&b, 5)).unwrap();
        assert_eq!(w.pick(&terms(&a), Balance::from_kib(10)).unwrap(), 1);
        assert_eq!(w.pick(&terms(&a), Balance::from_kib(50)).unwrap(), 0);
        assert!(matches!(
            w.pick(&terms(&a), Balance::from_kib(101)),
            Err(VoucherError::InsufficientBalance { largest, .. }) if largest == Balance::from_kib(100)
        ));
        // The credential under b's key is not usable with a's terms.
        assert!(
            w.pick(&terms(&a), Balance::from_kib(5))
                .is_ok_and(|i| i != 2)
        );
    }

    /// After a rotation (§3.2) credentials under the previous key are
    /// usable, and picked first; a key not in the terms is not.
    #[test]
    fn previous_epoch_credentials_are_picked_first_during_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let mut node = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&node, 50)).unwrap();
        let old_key = *node.current_key();
        node.rotate(IssuerSecretKey::generate(
            Epoch::new(1),
            &mut rand::thread_rng(),
        ))
        .unwrap();
        w.add(credential(&node, 10)).unwrap();
        let mut t = terms(&node);
        // Without the previous key in the terms only the new credential counts.
        assert_eq!(w.pick(&t, Balance::from_kib(5)).unwrap(), 1);
        assert!(w.previous_epoch(&t).is_empty());
        assert!(w.pick(&t, Balance::from_kib(20)).is_err());
        t.previous = Some(old_key);
        assert_eq!(w.previous_epoch(&t), vec![0]);
        assert_eq!(
            w.pick(&t, Balance::from_kib(5)).unwrap(),
            0,
            "previous epoch first"
        );
        assert!(w.check_key(&t).is_ok());
        // Another key published for the previous epoch: a tagging attempt.
        t.previous = Some(*issuer().current_key());
        assert!(matches!(
            w.check_key(&t),
            Err(VoucherError::KeyChanged { epoch: 0 })
        ));
    }

    #[test]
    fn a_second_key_for_a_known_epoch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 10)).unwrap();
        assert!(w.check_key(&terms(&a)).is_ok());
        // Same node id, same epoch, another key: a tagging attempt.
        let other = issuer();
        assert!(matches!(
            w.check_key(&terms(&other)),
            Err(VoucherError::KeyChanged { epoch: 0 })
        ));
    }

    #[test]
    fn replace_drops_empty_and_spent_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 10)).unwrap();
        w.add(credential(&a, 20)).unwrap();
        w.replace(0, Some(credential(&a, 0))).unwrap();
        assert_eq!(w.credentials().len(), 1);
        w.replace(0, None).unwrap();
        assert!(
            VoucherWallet::open(&wallet)
                .unwrap()
                .credentials()
                .is_empty()
        );
    }
}
