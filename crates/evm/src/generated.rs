//! A generated Solidity source and its committed copy: one rule for writing
//! it and for checking that the committed file is what the generator writes
//! now (`veil export … --check`, CI, and tests).

use std::path::{Path, PathBuf};

/// Whether a committed file is what the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Byte-identical.
    Same,
    /// Present, but different.
    Differs,
    /// No such file.
    Missing,
}

/// A generated file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SourceIoError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// One generated contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedSource {
    /// The contract name.
    pub contract: String,
    /// The Solidity source.
    pub source: String,
}

impl GeneratedSource {
    /// `<Name>.sol`.
    pub fn file_name(&self) -> String {
        format!("{}.sol", self.contract)
    }

    /// `<dir>/<Name>.sol`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// Compares with `<dir>/<Name>.sol`.
    pub fn freshness(&self, dir: &Path) -> Result<Freshness, SourceIoError> {
        let path = self.path_in(dir);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == self.source.as_bytes() => Ok(Freshness::Same),
            Ok(_) => Ok(Freshness::Differs),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Freshness::Missing),
            Err(source) => Err(SourceIoError { path, source }),
        }
    }

    /// Writes `<dir>/<Name>.sol` (creating `dir`).
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, SourceIoError> {
        let path = self.path_in(dir);
        let io = |source| SourceIoError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(&path, &self.source).map_err(io)?;
        Ok(path)
    }
}
