//! File-system discipline of the wallet (adversarial F3, F5, F7).
//!
//! - Every write is atomic: a temporary file in the same directory, written,
//!   `fsync`ed, renamed over the target, then the directory is `fsync`ed, so
//!   after a crash (kill -9, power loss) either the old or the new file is
//!   intact (F5).
//! - Secret files are created with mode `0600`, and a file readable by group
//!   or others is refused on open (F3).
//! - A secret file must be a regular file, not a symlink (F7: a symlink to
//!   a system file is neither read nor written through); every write lands
//!   in the directory of the target and nowhere else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use veil_primitives::secret::Zeroizing;

/// Mode of every secret file written by veil.
pub const SECRET_MODE: u32 = 0o600;

/// A file-system failure, with the path it concerns.
#[derive(Debug, Error)]
pub enum FsError {
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file can be read by group or others.
    #[error(
        "{path}: mode {mode:04o} lets other users read this secret file; run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    /// The path is a symlink, a directory, or another non-regular file.
    #[error("{path}: not a regular file (symlinks are refused)")]
    NotRegular { path: PathBuf },
    /// The path has no file name or no usable parent directory.
    #[error("{path}: not a file path")]
    BadPath { path: PathBuf },
    /// The file is larger than any valid file of its kind.
    #[error("{path}: larger than {max} bytes")]
    TooLarge { path: PathBuf, max: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Splits `path` into its (existing) parent directory and file name.
fn parent_and_name(path: &Path) -> Result<(PathBuf, std::ffi::OsString), FsError> {
    let bad = || FsError::BadPath {
        path: path.to_path_buf(),
    };
    let name = path.file_name().ok_or_else(bad)?.to_os_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Reads a secret file: it must be a regular file (not a symlink), owned
/// mode without group/other access, and at most `max` bytes.
pub fn read_secret_file(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, FsError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FsError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > max {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    // O_NOFOLLOW closes the race between the check above and the open.
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow())
        .open(path)
        .map_err(io_err(path))?;
    // Wiped on every path out; sized so that reading a file that did not
    // grow since the check never reallocates (which would leave a copy).
    let mut buf = Zeroizing::new(Vec::with_capacity(
        usize::try_from(meta.len().saturating_add(1)).unwrap_or(0),
    ));
    Read::by_ref(&mut f)
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > max {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(buf)
}

const fn libc_o_nofollow() -> i32 {
    libc::O_NOFOLLOW
}

/// Atomically replaces `path` with `bytes` (mode 0600): temp file in the same
/// directory, write, fsync, rename, fsync the directory (F5).
///
/// If `path` exists it must be a regular file (a symlink is refused rather
/// than replaced, F7).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(FsError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(FsError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    let (dir, name) = parent_and_name(path)?;
    let mut tmp_name = name.clone();
    tmp_name.push(format!(
        ".tmp.{}.{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SECRET_MODE)
            .custom_flags(libc_o_nofollow())
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        // create_new + mode is subject to the umask; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(SECRET_MODE))
            .map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        let d = File::open(&dir).map_err(io_err(&dir))?;
        d.sync_all().map_err(io_err(&dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a new secret file (mode 0600) atomically; fails if it exists.
pub fn create_new_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(FsError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "already exists"),
        });
    }
    write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_is_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w");
        write_atomic(&p, b"hello").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(read_secret_file(&p, 100).unwrap().as_slice(), b"hello");
        write_atomic(&p, b"world!").unwrap();
        assert_eq!(read_secret_file(&p, 100).unwrap().as_slice(), b"world!");
        // No temp file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn f3_group_or_world_readable_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w");
        write_atomic(&p, b"x").unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            assert!(
                matches!(read_secret_file(&p, 10), Err(FsError::TooOpen { .. })),
                "{mode:o}"
            );
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read_secret_file(&p, 10).is_ok());
    }

    #[test]
    fn f7_symlinks_are_neither_read_nor_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        write_atomic(&target, b"secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            read_secret_file(&link, 10),
            Err(FsError::NotRegular { .. })
        ));
        assert!(matches!(
            write_atomic(&link, b"x"),
            Err(FsError::NotRegular { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"secret");
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w");
        write_atomic(&p, &[0u8; 11]).unwrap();
        assert!(matches!(
            read_secret_file(&p, 10),
            Err(FsError::TooLarge { .. })
        ));
    }

    #[test]
    fn create_new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w");
        create_new_atomic(&p, b"a").unwrap();
        assert!(create_new_atomic(&p, b"b").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"a");
    }
}
