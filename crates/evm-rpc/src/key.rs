//! secp256k1 key files: one line, `0x` and 64 hex digits, readable by its
//! owner only (mode 0600). A key file that others may read is refused, as
//! `ssh` refuses one.
//!
//! The signer wipes its scalar on drop (k256's `SigningKey`) and its
//! `Debug` shows the address only; the file's text and bytes read here are
//! wiped too (`docs/security.md`, "Secrets in memory"). Errors name the
//! path, never the content.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;
use veil_primitives::secret::Zeroizing;

/// The signer a key file holds.
pub type Signer = PrivateKeySigner;

/// A key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Group or others may read or write it.
    #[error("{path}: mode {mode:o} lets others read the key; chmod 600 it")]
    Permissions { path: PathBuf, mode: u32 },
    /// Not `0x` and 64 hex digits (a trailing newline allowed).
    #[error("{path}: not a secp256k1 key (0x and 64 hex digits)")]
    Format { path: PathBuf },
    /// Zero or not below the curve order.
    #[error("{path}: not a valid secp256k1 secret key")]
    Invalid { path: PathBuf },
}

/// Reads the signer of the key file at `path`.
pub fn load(path: &Path) -> Result<PrivateKeySigner, KeyError> {
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.into(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    parse(&text)
        .ok_or(KeyError::Format { path: path.into() })?
        .map_err(|()| KeyError::Invalid { path: path.into() })
}

/// `Some(Ok)` a key, `Some(Err)` a well-formed but invalid scalar, `None`
/// not the format.
fn parse(text: &str) -> Option<Result<PrivateKeySigner, ()>> {
    let hex = text.strip_suffix('\n').unwrap_or(text).strip_prefix("0x")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    alloy::hex::decode_to_slice(hex, bytes.as_mut()).ok()?;
    Some(PrivateKeySigner::from_bytes(&B256::from(*bytes)).map_err(|_| ()))
}

/// Writes `signer`'s key to a new file at `path` (mode 0600); an existing
/// file is never overwritten.
pub fn write_new(path: &Path, signer: &PrivateKeySigner) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let key = Zeroizing::new(signer.to_bytes().0);
    let hex = Zeroizing::new(alloy::hex::encode(*key));
    let line = Zeroizing::new(format!("0x{}\n", hex.as_str()));
    f.write_all(line.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "veil-key-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn a_written_key_loads_back_and_is_never_overwritten() {
        let d = dir();
        let p = d.join("k");
        let s = PrivateKeySigner::random();
        write_new(&p, &s).expect("write");
        assert_eq!(load(&p).expect("load").address(), s.address());
        assert!(matches!(
            write_new(&p, &PrivateKeySigner::random()),
            Err(KeyError::Io { .. })
        ));
        assert_eq!(load(&p).expect("load").address(), s.address());
    }

    #[test]
    fn debug_and_errors_never_show_the_key() {
        let s = PrivateKeySigner::random();
        let key = s.to_bytes();
        let shown = format!("{s:?}");
        for form in veil_primitives::secret::testing::hex_forms(key.as_slice()) {
            assert!(!shown.contains(&form), "{shown}");
        }
        assert!(shown.contains("address"), "{shown}");
        // A key file with the key and a stray character: the error names
        // the path only.
        let d = dir();
        let p = d.join("bad");
        std::fs::write(&p, format!("0x{}z\n", alloy::hex::encode(key))).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = load(&p).expect_err("malformed");
        let text = format!("{err} {err:?}");
        for form in veil_primitives::secret::testing::hex_forms(key.as_slice()) {
            assert!(!text.contains(&form), "{text}");
        }
    }

    #[test]
    fn a_key_others_may_read_is_refused() {
        let d = dir();
        let p = d.join("k");
        write_new(&p, &PrivateKeySigner::random()).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load(&p),
            Err(KeyError::Permissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn malformed_and_invalid_keys_are_refused() {
        let d = dir();
        let cases = [
            ("", false),
            ("0x12", false),
            (
                "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                false,
            ),
            (
                "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n\n",
                false,
            ),
            (
                "0xzz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                false,
            ),
            (
                "0x0000000000000000000000000000000000000000000000000000000000000000",
                true,
            ),
            (
                "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                true,
            ),
        ];
        for (i, (text, well_formed)) in cases.iter().enumerate() {
            let p = d.join(format!("k{i}"));
            std::fs::write(&p, text).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            match load(&p) {
                Err(KeyError::Invalid { .. }) if *well_formed => {}
                Err(KeyError::Format { .. }) if !*well_formed => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let p = d.join("ok");
        std::fs::write(
            &p,
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n",
        )
        .expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            load(&p).expect("anvil's first key").address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }
}
