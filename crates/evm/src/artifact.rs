//! Compiled contracts: `contracts/artifacts/<Name>.json`, written by
//! `contracts/build.js` (solc-js, pinned; `docs/evm.md`, "Build").

macro_rules! embed {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../contracts/artifacts/", $name, ".json")),
        )
    };
}

use std::path::{Path, PathBuf};

/// The repository's `contracts/` directory (for tests and tools run from a
/// checkout).
pub fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

/// The committed artifacts, compiled into the binary so that tools (`veil
/// bench`, later `veil ledger deploy`) need no checkout. `include_str!`
/// tracks the files: a rebuilt artifact rebuilds the crate.
const EMBEDDED: [(&str, &str); 17] = [
    embed!("AccessVerifier"),
    embed!("AccessBatchVerifier"),
    embed!("WithdrawVerifier"),
    embed!("Settle1Verifier"),
    embed!("Settle8Verifier"),
    embed!("Settle64Verifier"),
    embed!("TreeInsert64Verifier"),
    embed!("AnswerVerifier"),
    embed!("PoseidonT2"),
    embed!("PoseidonT3"),
    embed!("PoseidonT4"),
    embed!("TestToken"),
    embed!("VeilAudits"),
    embed!("VeilLedger"),
    embed!("CurveMath"),
    embed!("CurveQuoter"),
    embed!("BandwidthMarket"),
];

/// The names of the embedded artifacts.
pub fn embedded_names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}

/// A compiled contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The contract name.
    pub name: String,
    /// Creation code (constructor arguments are appended to it).
    pub bytecode: Vec<u8>,
    /// Runtime code, as deployed.
    pub deployed_bytecode: Vec<u8>,
}

/// An artifact that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an artifact of build.js.
    #[error("malformed artifact {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Artifact {
    /// Reads `<dir>/<name>.json`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, ArtifactError> {
        let path = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).map_err(|source| ArtifactError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// The artifact of `name` compiled into this binary.
    pub fn embedded(name: &str) -> Result<Self, ArtifactError> {
        let path = Path::new("contracts/artifacts").join(format!("{name}.json"));
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Self::parse(text, &path),
            None => Err(ArtifactError::Malformed {
                path,
                reason: "no such artifact in this build".into(),
            }),
        }
    }

    /// Parses the JSON of an artifact.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ArtifactError> {
        let bad = |reason: String| ArtifactError::Malformed {
            path: path.to_owned(),
            reason,
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let field = |k: &str| -> Result<&str, ArtifactError> {
            v.get(k)
                .and_then(|x| x.as_str())
                .ok_or_else(|| bad(format!("no string field `{k}`")))
        };
        let code = |k: &str| -> Result<Vec<u8>, ArtifactError> {
            let h = field(k)?;
            let h = h.strip_prefix("0x").unwrap_or(h);
            let bytes = hex::decode(h).map_err(|e| bad(format!("`{k}`: {e}")))?;
            if bytes.is_empty() {
                return Err(bad(format!("`{k}` is empty")));
            }
            Ok(bytes)
        };
        Ok(Artifact {
            name: field("contractName")?.to_owned(),
            bytecode: code("bytecode")?,
            deployed_bytecode: code("deployedBytecode")?,
        })
    }
}
