//! The node's voucher issuing keys by epoch (`docs/vouchers.md` §3.2,
//! `docs/node.md` "Rotating the voucher key"): the rule deciding which
//! epochs a spend may be under at a given time (sans-IO: the caller passes
//! `now`), and the key files of the node directory.
//!
//! # Files in the node directory (0600, each written atomically)
//! * `voucher.key`: the current epoch's key (`IssuerSecretKey::to_bytes`);
//! * `voucher.next.key`: the next epoch's key, staged by
//!   `veil node rotate-voucher-key` until the node's ledger profile names it;
//! * `voucher.prev.key`: the previous epoch's key with the end of its grace
//!   period, `version (1) ‖ grace end (8, BE, Unix seconds) ‖ key (41)`,
//!   written when the staged key is promoted, so a restart keeps the same
//!   deadline.
//!
//! A promotion writes `voucher.prev.key` (the current key) and then renames
//! `voucher.next.key` over `voucher.key`; a crash between the two leaves a
//! previous key of the current epoch next to a staged one, which
//! [`load`] recognises and finishes.
use std::path::Path;

use veil_primitives::secret::Zeroizing;
use veil_vouchers::{Epoch, IssuerSecretKey};

use crate::keys::{KeyFileError, read_secret, write_secret};

/// The current epoch's key file.
pub const CURRENT_FILE: &str = "voucher.key";
/// The staged next epoch's key file.
pub const STAGED_FILE: &str = "voucher.next.key";
/// The previous epoch's key file, with its grace end.
pub const PREVIOUS_FILE: &str = "voucher.prev.key";
/// Default `voucher_grace_secs`: spends under the previous epoch's key are
/// accepted for 24 hours after the next key is in force.
pub const DEFAULT_GRACE_SECS: u64 = 24 * 60 * 60;

const PREVIOUS_VERSION: u8 = 1;
const PREVIOUS_LEN: usize = 1 + 8 + IssuerSecretKey::ENCODED_LEN;

/// Seconds since the Unix epoch on the node's clock: the clock of a grace
/// deadline (persisted, so a wall clock rather than an `Instant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixSecs(pub u64);

impl UnixSecs {
    /// The system clock now (the I/O shell reads it; the rule never does).
    pub fn now() -> Self {
        Self(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }

    /// `self + secs`, saturating.
    pub fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }
}

impl std::fmt::Display for UnixSecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (Unix seconds)", self.0)
    }
}

/// The previous epoch while its spends may still be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grace {
    pub epoch: Epoch,
    /// The first second at which its spends are refused.
    pub until: UnixSecs,
}

/// Why a spend's epoch is not accepted now (§3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EpochRefused {
    /// The previous epoch's grace period is over.
    #[error("voucher epoch {epoch} is no longer accepted: its grace period ended at {ended}")]
    GraceOver { epoch: Epoch, ended: UnixSecs },
    /// Neither the current epoch nor the previous one in its grace period.
    #[error("voucher epoch {epoch} is not accepted (current epoch {current})")]
    Unknown { epoch: Epoch, current: Epoch },
}

/// The acceptance rule (§3.2): a spend under the current epoch is
/// accepted; under the previous epoch while `now` is before its grace end;
/// under any other epoch never.
pub fn check_epoch(
    current: Epoch,
    grace: Option<Grace>,
    epoch: Epoch,
    now: UnixSecs,
) -> Result<(), EpochRefused> {
    match grace {
        _ if epoch == current => Ok(()),
        Some(g) if g.epoch == epoch && now < g.until => Ok(()),
        Some(g) if g.epoch == epoch => Err(EpochRefused::GraceOver {
            epoch,
            ended: g.until,
        }),
        _ => Err(EpochRefused::Unknown { epoch, current }),
    }
}

/// The key files of a node directory, as read at start.
#[derive(Debug)]
pub struct KeyFiles {
    pub current: IssuerSecretKey,
    /// The previous epoch's key and its grace end, if it is the epoch just
    /// before the current one (an older file is ignored).
    pub previous: Option<(IssuerSecretKey, UnixSecs)>,
}

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum VoucherKeyError {
    #[error(transparent)]
    File(#[from] KeyFileError),
    #[error("voucher key file {0} is not a valid key")]
    Invalid(&'static str),
    #[error("voucher key file: {0}")]
    Io(#[from] std::io::Error),
}

fn read_key(dir: &Path, name: &'static str) -> Result<Option<IssuerSecretKey>, VoucherKeyError> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = Zeroizing::new(read_secret(&path)?);
    IssuerSecretKey::from_bytes(&bytes)
        .map(Some)
        .map_err(|_| VoucherKeyError::Invalid(name))
}

fn read_previous(dir: &Path) -> Result<Option<(IssuerSecretKey, UnixSecs)>, VoucherKeyError> {
    let path = dir.join(PREVIOUS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = Zeroizing::new(read_secret(&path)?);
    let invalid = VoucherKeyError::Invalid(PREVIOUS_FILE);
    if bytes.len() != PREVIOUS_LEN || bytes[0] != PREVIOUS_VERSION {
        return Err(invalid);
    }
    let mut until = [0u8; 8];
    until.copy_from_slice(&bytes[1..9]);
    let key = IssuerSecretKey::from_bytes(&bytes[9..]).map_err(|_| invalid)?;
    Ok(Some((key, UnixSecs(u64::from_be_bytes(until)))))
}

/// Writes a secret file atomically: a 0600 temporary file, synced, renamed
/// over `name`, and the directory synced.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), VoucherKeyError> {
    let tmp = dir.join(format!("{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_file(&tmp)?;
    }
    write_secret(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), VoucherKeyError> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn write_key(dir: &Path, name: &str, key: &IssuerSecretKey) -> Result<(), VoucherKeyError> {
    write_atomic(dir, name, &key.to_bytes())
}

/// Reads the key files of `dir`, creating the epoch-0 key at first start
/// and finishing a promotion a crash cut short.
pub fn load(dir: &Path) -> Result<KeyFiles, VoucherKeyError> {
    let current = match read_key(dir, CURRENT_FILE)? {
        Some(k) => k,
        None => {
            let k = IssuerSecretKey::generate(Epoch::new(0), &mut rand::rngs::OsRng);
            write_key(dir, CURRENT_FILE, &k)?;
            k
        }
    };
    let previous = read_previous(dir)?;
    let cut = previous
        .as_ref()
        .is_some_and(|(p, _)| p.epoch() == current.epoch());
    if cut && let Some(staged) = read_key(dir, STAGED_FILE)? {
        std::fs::rename(dir.join(STAGED_FILE), dir.join(CURRENT_FILE))?;
        sync_dir(dir)?;
        return Ok(KeyFiles {
            current: staged,
            previous,
        });
    }
    let previous = previous.filter(|(p, _)| current.epoch().previous() == Some(p.epoch()));
    Ok(KeyFiles { current, previous })
}

/// The staged next key of `dir`, if a rotation is under way.
pub fn staged(dir: &Path) -> Result<Option<IssuerSecretKey>, VoucherKeyError> {
    read_key(dir, STAGED_FILE)
}

/// Stages the next epoch's key in `dir` (`veil node rotate-voucher-key`)
/// and returns it with the current key. A key already staged for the
/// epoch after the current one is reused, so a retried rotation publishes
/// the same key.
pub fn stage(dir: &Path) -> Result<(IssuerSecretKey, IssuerSecretKey), VoucherKeyError> {
    let files = load(dir)?;
    let next = Epoch::new(files.current.epoch().get().saturating_add(1));
    if let Some(k) = staged(dir)?
        && k.epoch() == next
    {
        return Ok((files.current, k));
    }
    let k = IssuerSecretKey::generate(next, &mut rand::rngs::OsRng);
    write_key(dir, STAGED_FILE, &k)?;
    Ok((files.current, k))
}

/// Makes the staged key current in `dir` and keeps the current one as the
/// previous key until `until`. The caller has checked that the staged key
/// is the one the ledger publishes.
pub fn promote(dir: &Path, until: UnixSecs) -> Result<(), VoucherKeyError> {
    let current = read_key(dir, CURRENT_FILE)?.ok_or(VoucherKeyError::Invalid(CURRENT_FILE))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(PREVIOUS_LEN));
    bytes.push(PREVIOUS_VERSION);
    bytes.extend_from_slice(&until.0.to_be_bytes());
    bytes.extend_from_slice(&current.to_bytes());
    write_atomic(dir, PREVIOUS_FILE, &bytes)?;
    std::fs::rename(dir.join(STAGED_FILE), dir.join(CURRENT_FILE))?;
    sync_dir(dir)
}

/// Deletes the previous key once its grace period is over (its spends are
/// refused by [`check_epoch`] either way; this drops the secret).
pub fn forget_previous(dir: &Path) -> Result<(), VoucherKeyError> {
    match std::fs::remove_file(dir.join(PREVIOUS_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => sync_dir(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: fn(u64) -> Epoch = Epoch::new;

    #[test]
    fn the_rule_accepts_the_current_epoch_and_the_previous_one_until_its_grace_end() {
        let grace = Some(Grace {
            epoch: E(4),
            until: UnixSecs(100),
        });
        assert_eq!(check_epoch(E(5), grace, E(5), UnixSecs(1_000)), Ok(()));
        assert_eq!(check_epoch(E(5), grace, E(4), UnixSecs(99)), Ok(()));
        let over = Err(EpochRefused::GraceOver {
            epoch: E(4),
            ended: UnixSecs(100),
        });
        assert_eq!(check_epoch(E(5), grace, E(4), UnixSecs(100)), over);
        assert_eq!(check_epoch(E(5), grace, E(4), UnixSecs(u64::MAX)), over);
        for other in [3, 6, u64::MAX] {
            assert_eq!(
                check_epoch(E(5), grace, E(other), UnixSecs(0)),
                Err(EpochRefused::Unknown {
                    epoch: E(other),
                    current: E(5)
                })
            );
        }
        assert!(check_epoch(E(5), None, E(4), UnixSecs(0)).is_err());
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn staging_is_idempotent_private_and_promotion_keeps_the_deadline() {
        let dir = tempfile::tempdir().expect("dir");
        let first = load(dir.path()).expect("load");
        assert_eq!(first.current.epoch(), E(0));
        assert!(first.previous.is_none());
        let (cur, next) = stage(dir.path()).expect("stage");
        assert_eq!(cur.public_key(), first.current.public_key());
        assert_eq!(next.epoch(), E(1));
        let (_, again) = stage(dir.path()).expect("stage again");
        assert_eq!(again.public_key(), next.public_key(), "the same staged key");
        assert_eq!(mode(&dir.path().join(STAGED_FILE)), 0o600);
        // Not promoted yet: a restart still serves epoch 0.
        assert_eq!(load(dir.path()).expect("load").current.epoch(), E(0));

        promote(dir.path(), UnixSecs(1234)).expect("promote");
        let after = load(dir.path()).expect("restart");
        assert_eq!(after.current.public_key(), next.public_key());
        let (prev, until) = after.previous.expect("previous");
        assert_eq!(
            (prev.public_key(), until),
            (cur.public_key(), UnixSecs(1234))
        );
        assert!(staged(dir.path()).expect("staged").is_none());
        assert_eq!(mode(&dir.path().join(PREVIOUS_FILE)), 0o600);
        assert_eq!(mode(&dir.path().join(CURRENT_FILE)), 0o600);

        forget_previous(dir.path()).expect("forget");
        assert!(load(dir.path()).expect("load").previous.is_none());
        forget_previous(dir.path()).expect("forgetting twice is fine");
    }

    #[test]
    fn a_promotion_cut_by_a_crash_is_finished_at_the_next_start() {
        let dir = tempfile::tempdir().expect("dir");
        let (cur, next) = stage(dir.path()).expect("stage");
        // The crash: the previous key written, the rename not done.
        promote(dir.path(), UnixSecs(77)).expect("promote");
        std::fs::rename(dir.path().join(CURRENT_FILE), dir.path().join(STAGED_FILE))
            .expect("undo rename");
        write_key(dir.path(), CURRENT_FILE, &cur).expect("old current");
        let files = load(dir.path()).expect("restart");
        assert_eq!(files.current.public_key(), next.public_key());
        assert_eq!(
            files.previous.map(|(k, t)| (*k.public_key(), t)),
            Some((*cur.public_key(), UnixSecs(77)))
        );
        assert!(staged(dir.path()).expect("staged").is_none());
    }

    #[test]
    fn an_older_or_corrupt_previous_key_is_not_taken() {
        let dir = tempfile::tempdir().expect("dir");
        stage(dir.path()).expect("stage");
        promote(dir.path(), UnixSecs(5)).expect("promote 1");
        stage(dir.path()).expect("stage 2");
        promote(dir.path(), UnixSecs(6)).expect("promote 2");
        let files = load(dir.path()).expect("load");
        assert_eq!(files.current.epoch(), E(2));
        assert_eq!(files.previous.map(|(k, _)| k.epoch()), Some(E(1)));
        // A previous key two epochs back (a hand-edited directory) is ignored.
        stage(dir.path()).expect("stage 3");
        promote(dir.path(), UnixSecs(7)).expect("promote 3");
        write_key(
            dir.path(),
            CURRENT_FILE,
            &IssuerSecretKey::generate(E(9), &mut rand::rngs::OsRng),
        )
        .expect("jump");
        assert!(load(dir.path()).expect("load").previous.is_none());
        // A truncated previous key file is an error, not a silent drop.
        write_atomic(dir.path(), PREVIOUS_FILE, &[1, 2, 3]).expect("write");
        assert!(matches!(
            load(dir.path()),
            Err(VoucherKeyError::Invalid(PREVIOUS_FILE))
        ));
    }
}
