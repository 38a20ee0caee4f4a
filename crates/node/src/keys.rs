//! The node's long-term EdDSA keys, persisted in the node directory with
//! mode 0600: the node key `N` (`docs/protocol.md` §9.1) and the key `A` of
//! the account it stakes from and is paid to (§8.3).
use std::io::Write;
use std::path::Path;

use veil_primitives::eddsa::{SEED_BYTES, SigningKey};
use veil_primitives::secret::Zeroizing;

/// File name of the node key seed inside the node directory.
pub const NODE_KEY_FILE: &str = "node.key";
/// File name of the account key seed inside the node directory.
pub const ACCOUNT_KEY_FILE: &str = "account.key";

/// Errors loading or creating a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {0} is readable by group or others (must be 0600)")]
    Permissions(String),
    #[error("key file {0} is not a valid key")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to a new file with mode 0600 (fails if it exists).
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(())
}

/// Reads a secret file, refusing one readable by group or others.
pub(crate) fn read_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyFileError::Permissions(path.display().to_string()));
        }
    }
    std::fs::read(path).map_err(io(path))
}

/// Loads the node key from `dir`, creating it on first start.
pub fn load_or_create_node_key(dir: &Path) -> Result<SigningKey, KeyFileError> {
    load_or_create_key(&dir.join(NODE_KEY_FILE))
}

/// Loads the node's account key from `dir`, creating it on first use; the
/// account is `H(ACCOUNT, A.x, A.y)` (§8.3).
pub fn load_or_create_account_key(dir: &Path) -> Result<SigningKey, KeyFileError> {
    load_or_create_key(&dir.join(ACCOUNT_KEY_FILE))
}

/// An EdDSA key seed in a 0600 file, created if absent.
fn load_or_create_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let path = path.to_path_buf();
    if !path.exists() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_secret(&path, key.seed())?;
        return Ok(key);
    }
    let bytes = Zeroizing::new(read_secret(&path)?);
    let seed = <[u8; SEED_BYTES]>::try_from(bytes.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| KeyFileError::Invalid(path.display().to_string()))?;
    SigningKey::from_seed(*seed).ok_or_else(|| KeyFileError::Invalid(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_persists_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_node_key(dir.path()).unwrap();
        let b = load_or_create_node_key(dir.path()).unwrap();
        assert_eq!(a.verifying_key(), b.verifying_key());
        let acct = load_or_create_account_key(dir.path()).unwrap();
        assert_eq!(
            acct.verifying_key(),
            load_or_create_account_key(dir.path())
                .unwrap()
                .verifying_key()
        );
        assert_ne!(acct.verifying_key(), a.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(NODE_KEY_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let acct_path = dir.path().join(ACCOUNT_KEY_FILE);
            let mode = std::fs::metadata(&acct_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&acct_path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(matches!(
                load_or_create_account_key(dir.path()),
                Err(KeyFileError::Permissions(_))
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                load_or_create_node_key(dir.path()),
                Err(KeyFileError::Permissions(_))
            ));
        }
    }

    #[test]
    fn truncated_key_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_secret(&dir.path().join(NODE_KEY_FILE), &[1u8; 31]).unwrap();
        assert!(matches!(
            load_or_create_node_key(dir.path()),
            Err(KeyFileError::Invalid(_))
        ));
    }
}
