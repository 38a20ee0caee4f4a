//! Parameters: the committed setup records, verifying keys loaded only by
//! pinned hash, and the proving-key cache.
//!
//! Spec: `docs/protocol.md` §7.3. Two records are compiled into the binary:
//! `params/setup.json` pins the keys of a phase-2 ceremony, used by default,
//! and `params/dev/setup.json` the INSECURE development keys from a public
//! seed, used only when a caller asks for [`KeySet::Dev`] (`--dev-keys`).
//! Each pins, per circuit, the SHA-256 of the verifying key (compressed
//! arkworks encoding, `<name>.vk` beside the record) and of the proving key
//! (uncompressed arkworks encoding, cached, never committed). A key whose
//! hash differs from the pin is refused (adversarial B8): neither a peer nor
//! a stray file can choose a key.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr};
use ark_groth16::VerifyingKey;
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::circuit::CircuitId;
use crate::error::{ParamsError, ProofError};
use crate::groth16::{self, DEV_SEED_LABEL, INSECURE_WARNING, ProvingKey};
use crate::qap::Reduction;

/// Which committed keys a store pins (`docs/protocol.md` §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySet {
    /// Keys from a phase-2 ceremony, pinned in `params/setup.json` with
    /// their verifying keys beside it: the default everywhere.
    Ceremony,
    /// The INSECURE development keys from a public seed, pinned in
    /// `params/dev/`: only when explicitly asked for (`--dev-keys`; tests).
    Dev,
}

impl KeySet {
    /// The directory, relative to the repository root, holding this set's
    /// `setup.json` and `<name>.vk` files.
    pub const fn dir(self) -> &'static str {
        match self {
            KeySet::Ceremony => "params",
            KeySet::Dev => "params/dev",
        }
    }

    fn committed_record(self) -> &'static str {
        match self {
            KeySet::Ceremony => include_str!("../../../params/setup.json"),
            KeySet::Dev => include_str!("../../../params/dev/setup.json"),
        }
    }
}

/// The committed verifying keys that exist, compiled in by `build.rs`
/// (still checked against the pins before use).
static COMMITTED_VKS: &[(KeySet, &str, &[u8])] =
    include!(concat!(env!("OUT_DIR"), "/committed_vks.rs"));

/// The compiled-in `<set dir>/<name>.vk` of `id`, if committed.
fn committed_vk(set: KeySet, id: CircuitId) -> Option<&'static [u8]> {
    COMMITTED_VKS
        .iter()
        .find(|(s, name, _)| *s == set && *name == id.name())
        .map(|(_, _, bytes)| *bytes)
}

/// The arkworks release the keys were made and are read with.
pub const ARKWORKS_VERSION: &str = "ark-groth16 0.6.0 (BN254)";

/// The security label of every development key.
pub const DEV_SECURITY: &str = "INSECURE development setup";

/// Environment variable naming the proving-key cache directory.
pub const CACHE_ENV: &str = "VEIL_PARAMS_CACHE";

/// Environment variable naming the directory holding `<name>.vk` files.
pub const PARAMS_DIR_ENV: &str = "VEIL_PARAMS_DIR";

/// One circuit's entry in `params/setup.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitRecord {
    /// Where the keys come from (`"source"`: `dev` or `ceremony`).
    #[serde(flatten)]
    pub origin: KeyOrigin,
    /// R1CS constraints of the circuit the keys are for.
    pub constraints: usize,
    /// Public inputs (not counting the constant one).
    pub public_inputs: usize,
    /// SHA-256 of `<name>.vk` beside the record (compressed verifying
    /// key), hex.
    pub vk_sha256: String,
    /// Size of `<name>.vk` in bytes.
    pub vk_bytes: usize,
    /// SHA-256 of the cached proving key (uncompressed arkworks), hex.
    pub pk_sha256: String,
    /// Size of the cached proving key in bytes.
    pub pk_bytes: u64,
    /// [`ARKWORKS_VERSION`].
    pub arkworks: String,
    /// The R1CS-to-QAP reduction the proving key was made for.
    pub reduction: Reduction,
}

impl CircuitRecord {
    /// True for the INSECURE development keys.
    pub fn is_dev(&self) -> bool {
        matches!(self.origin, KeyOrigin::Dev { .. })
    }

    /// The fields in which `other` differs from this record (empty if
    /// they are equal), for a mismatch that says what differs.
    pub fn differences(&self, other: &CircuitRecord) -> Vec<&'static str> {
        let mut d = Vec::new();
        match (&self.origin, &other.origin) {
            (KeyOrigin::Ceremony(a), KeyOrigin::Ceremony(b)) => {
                let fields = [
                    (
                        "transcript_sha256",
                        a.transcript_sha256 == b.transcript_sha256,
                    ),
                    ("transcript_bytes", a.transcript_bytes == b.transcript_bytes),
                    ("ptau_sha256", a.ptau_sha256 == b.ptau_sha256),
                    ("circuit_hash", a.circuit_hash == b.circuit_hash),
                    ("contributions", a.contributions == b.contributions),
                ];
                d.extend(fields.iter().filter(|(_, eq)| !eq).map(|(n, _)| *n));
            }
            (a, b) if a != b => d.push("source"),
            _ => {}
        }
        let fields = [
            ("constraints", self.constraints == other.constraints),
            ("public_inputs", self.public_inputs == other.public_inputs),
            ("vk_sha256", self.vk_sha256 == other.vk_sha256),
            ("vk_bytes", self.vk_bytes == other.vk_bytes),
            ("pk_sha256", self.pk_sha256 == other.pk_sha256),
            ("pk_bytes", self.pk_bytes == other.pk_bytes),
            ("arkworks", self.arkworks == other.arkworks),
            ("reduction", self.reduction == other.reduction),
        ];
        d.extend(fields.iter().filter(|(_, eq)| !eq).map(|(n, _)| *n));
        d
    }
}

/// Where a circuit's keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum KeyOrigin {
    /// The INSECURE development setup from a public seed
    /// (`docs/protocol.md` §7.3): anyone can forge proofs.
    Dev {
        /// Always [`DEV_SECURITY`].
        security: String,
        /// How the setup randomness was derived (public).
        seed_label: String,
        /// The 32-byte ChaCha20 seed, hex.
        seed: String,
    },
    /// The final key of a phase-2 ceremony (`docs/ceremony.md`).
    Ceremony(CeremonyRecord),
}

/// What pins a ceremony key to its transcript (`docs/ceremony.md`,
/// "What is pinned").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyRecord {
    /// SHA-256 of the final `.zkey` (it carries every contribution's
    /// record: it is the phase-2 transcript), hex.
    pub transcript_sha256: String,
    /// Size of the final `.zkey` in bytes.
    pub transcript_bytes: u64,
    /// SHA-256 of the prepared phase-1 `.ptau` the transcript starts from.
    pub ptau_sha256: String,
    /// snarkjs' circuit hash of the initial key (BLAKE2b-512), hex.
    pub circuit_hash: String,
    /// The contributions, oldest first.
    pub contributions: Vec<ContributionRecord>,
}

/// One phase-2 contribution, as `snarkjs zkey verify` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionRecord {
    /// The contribution hash (BLAKE2b-512 of its public key), hex.
    pub hash: String,
    /// The contributor's public name, if given.
    pub name: Option<String>,
    /// For a beacon: the public random value (hex) and the iteration
    /// exponent (it was hashed `2^exp` times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon: Option<BeaconRecord>,
}

/// A beacon contribution's public parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconRecord {
    /// The beacon value, hex.
    pub hash: String,
    /// The iteration exponent.
    pub iterations_exp: u8,
}

/// The whole setup record: one entry per circuit name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRecord {
    /// A human-readable warning.
    pub warning: String,
    /// Entries by circuit name (`access`, `settle_8`, …).
    pub circuits: BTreeMap<String, CircuitRecord>,
}

impl SetupRecord {
    /// The record of `set` committed in `<set dir>/setup.json` and
    /// compiled in.
    pub fn committed(set: KeySet) -> Result<Self, ParamsError> {
        let path = Path::new(set.dir()).join("setup.json");
        let record = Self::parse(set.committed_record(), &path)?;
        record.check_set(set, &path)?;
        Ok(record)
    }

    /// Every entry of a ceremony record comes from a ceremony and every
    /// entry of a development record from the public seed: a development
    /// key never sits among the keys used by default.
    pub fn check_set(&self, set: KeySet, path: &Path) -> Result<(), ParamsError> {
        let stray = self
            .circuits
            .iter()
            .find(|(_, r)| r.is_dev() != (set == KeySet::Dev));
        match stray {
            None => Ok(()),
            Some((name, r)) => Err(ParamsError::Record {
                path: path.to_owned(),
                reason: format!(
                    "{name} is pinned as a {} key; {} keys are pinned in {}/setup.json",
                    if r.is_dev() {
                        "development"
                    } else {
                        "ceremony"
                    },
                    if r.is_dev() {
                        "development"
                    } else {
                        "ceremony"
                    },
                    if r.is_dev() {
                        KeySet::Dev.dir()
                    } else {
                        KeySet::Ceremony.dir()
                    },
                ),
            }),
        }
    }

    /// Parses a record.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ParamsError> {
        serde_json::from_str(text).map_err(|e| ParamsError::Record {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The pinned entry of `id`.
    pub fn get(&self, id: CircuitId) -> Result<&CircuitRecord, ParamsError> {
        self.circuits.get(id.name()).ok_or(ParamsError::NotPinned {
            circuit: id,
            ceremony: self.circuits.values().all(|r| !r.is_dev()),
        })
    }

    /// The record's headline: which keys are INSECURE, if any.
    pub fn summary(&self) -> String {
        let dev: Vec<&str> = self
            .circuits
            .iter()
            .filter(|(_, r)| r.is_dev())
            .map(|(n, _)| n.as_str())
            .collect();
        if self.circuits.is_empty() {
            return "No keys are pinned here yet.".into();
        }
        if dev.is_empty() {
            return "Keys from the phase-2 ceremony whose transcript these entries pin; re-check them with `veil setup --verify DIR` (docs/ceremony.md).".into();
        }
        format!(
            "{INSECURE_WARNING} Development keys: {}. Regenerate with `veil setup --dev --circuit all --write-params`; replace with `veil setup --from-ceremony DIR --write-params` (docs/ceremony.md).",
            dev.join(", ")
        )
    }

    /// Pretty JSON, as committed.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Progress of key loading or generation, for the CLI's progress bar.
#[derive(Debug, Clone, Copy)]
pub enum SetupEvent {
    /// Found in the cache and checked against the pin.
    Cached(CircuitId),
    /// Generating development keys (slow).
    Generating(CircuitId),
    /// Generated in this much time.
    Generated(CircuitId, Duration),
}

/// A progress callback.
pub type Progress<'a> = &'a (dyn Fn(SetupEvent) + Sync);

/// The keys of one circuit with their record: made by the development
/// setup ([`dev_keys`]) or installed from a ceremony transcript.
#[derive(Clone)]
pub struct SetupKeys {
    /// The circuit.
    pub circuit: CircuitId,
    /// The proving key (contains the verifying key).
    pub pk: Arc<ProvingKey>,
    /// The record entry describing these keys.
    pub record: CircuitRecord,
    /// The compressed verifying key (`<name>.vk`).
    pub vk_bytes: Vec<u8>,
    /// The uncompressed proving key (the cache file).
    pub pk_bytes: Vec<u8>,
    /// Time the setup took.
    pub setup_time: Duration,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn vk_to_bytes(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    let mut v = Vec::new();
    // Serialising into a Vec cannot fail.
    let _ = vk.serialize_compressed(&mut v);
    v
}

impl std::fmt::Debug for SetupKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupKeys")
            .field("circuit", &self.circuit)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl SetupKeys {
    /// Describes `pk`, a key of `id` (a circuit of `constraints`
    /// constraints) made for `reduction`, from `origin`.
    pub fn new(
        id: CircuitId,
        pk: ProvingKey,
        origin: KeyOrigin,
        reduction: Reduction,
        constraints: usize,
        setup_time: Duration,
    ) -> Result<Self, ParamsError> {
        let vk_bytes = vk_to_bytes(&pk.vk);
        let mut pk_bytes = Vec::with_capacity(pk.uncompressed_size());
        pk.serialize_uncompressed(&mut pk_bytes)
            .map_err(|e| ParamsError::Setup {
                circuit: id,
                source: ProofError::Synthesis(e.to_string()),
            })?;
        let record = CircuitRecord {
            origin,
            constraints,
            public_inputs: pk.vk.gamma_abc_g1.len().saturating_sub(1),
            vk_sha256: sha256_hex(&vk_bytes),
            vk_bytes: vk_bytes.len(),
            pk_sha256: sha256_hex(&pk_bytes),
            pk_bytes: pk_bytes.len() as u64,
            arkworks: ARKWORKS_VERSION.into(),
            reduction,
        };
        Ok(SetupKeys {
            circuit: id,
            pk: Arc::new(pk),
            record,
            vk_bytes,
            pk_bytes,
            setup_time,
        })
    }
}

/// Runs the development setup of one circuit, given its blank circuit, and
/// describes it. INSECURE (see [`INSECURE_WARNING`]); unpinned: this is how
/// pins are made (`veil setup --dev --write-params`).
pub fn dev_keys_for<C: ConstraintSynthesizer<Fr> + Clone>(
    id: CircuitId,
    blank: C,
) -> Result<SetupKeys, ParamsError> {
    let setup_err = |source| ParamsError::Setup {
        circuit: id,
        source,
    };
    let shape = groth16::circuit_shape(blank.clone()).map_err(setup_err)?;
    let t = Instant::now();
    let pk = groth16::dev_setup(id.name(), blank).map_err(setup_err)?;
    let origin = KeyOrigin::Dev {
        security: DEV_SECURITY.into(),
        seed_label: format!("SHA-256(\"{DEV_SEED_LABEL}\" ‖ \"{}\")", id.name()),
        seed: hex::encode(groth16::dev_seed(id.name())),
    };
    SetupKeys::new(
        id,
        pk,
        origin,
        Reduction::Libsnark,
        shape.constraints,
        t.elapsed(),
    )
}

/// Runs the development setup of `id` on the current circuit definition.
pub fn dev_keys(id: CircuitId) -> Result<SetupKeys, ParamsError> {
    crate::circuits::with_blank(id, DevKeysFor)
}

struct DevKeysFor;
impl crate::circuits::BlankVisitor for DevKeysFor {
    type Output = Result<SetupKeys, ParamsError>;
    fn visit<C: ConstraintSynthesizer<Fr> + Clone>(self, id: CircuitId, blank: C) -> Self::Output {
        dev_keys_for(id, blank)
    }
    fn unavailable(self, id: CircuitId) -> Self::Output {
        Err(ParamsError::Setup {
            circuit: id,
            source: ProofError::Synthesis("circuit not available in this build".into()),
        })
    }
}

/// Writes `bytes` to `path` atomically: a unique temporary file in the same
/// directory, fsync, rename, fsync of the directory. Concurrent writers of
/// the same content are harmless (the last rename wins).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ParamsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| ParamsError::io(dir, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp.{}.{nanos}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| ParamsError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| ParamsError::io(&tmp, e))?;
        f.sync_all().map_err(|e| ParamsError::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| ParamsError::io(path, e))?;
        if let Ok(d) = fs::File::open(dir) {
            d.sync_all().map_err(|e| ParamsError::io(dir, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `<dir>/<name>.vk` for each of `keys` and merges their entries
/// into `<dir>/setup.json`, the record of `set` (`veil setup --dev
/// --write-params`, and `veil setup --from-ceremony DIR --write-params`).
/// Keys of the other set are refused before anything is written.
pub fn write_params(dir: &Path, set: KeySet, keys: &[&SetupKeys]) -> Result<(), ParamsError> {
    let record_path = dir.join("setup.json");
    let mut record = match fs::read_to_string(&record_path) {
        Ok(text) => SetupRecord::parse(&text, &record_path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SetupRecord::default(),
        Err(e) => return Err(ParamsError::io(&record_path, e)),
    };
    for k in keys {
        record
            .circuits
            .insert(k.circuit.name().to_owned(), k.record.clone());
    }
    record.check_set(set, &record_path)?;
    for k in keys {
        write_atomic(&dir.join(format!("{}.vk", k.circuit.name())), &k.vk_bytes)?;
    }
    record.warning = record.summary();
    write_atomic(&record_path, record.to_json().as_bytes())
}

/// Where proving keys are cached and verifying keys are found, and the pins
/// they are checked against.
#[derive(Debug, Clone)]
pub struct ParamStore {
    set: KeySet,
    cache_dir: PathBuf,
    params_dir: Option<PathBuf>,
    record: SetupRecord,
}

impl ParamStore {
    /// The default store of `set`: cache in `$VEIL_PARAMS_CACHE`, else
    /// `${XDG_CACHE_HOME:-~/.cache}/veil/params`; verifying keys from
    /// `$VEIL_PARAMS_DIR` if set, else compiled in; pins compiled in.
    pub fn open_default(set: KeySet) -> Result<Self, ParamsError> {
        let params_dir = std::env::var_os(PARAMS_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(ParamStore {
            params_dir,
            ..Self::open_dir(default_cache_dir()?, set)?
        })
    }

    /// A store of `set` caching proving keys in `cache_dir`, with the
    /// compiled-in pins and no verifying-key directory.
    pub fn open_dir(cache_dir: impl Into<PathBuf>, set: KeySet) -> Result<Self, ParamsError> {
        Ok(ParamStore {
            set,
            cache_dir: cache_dir.into(),
            params_dir: None,
            record: SetupRecord::committed(set)?,
        })
    }

    /// The committed keys this store pins.
    pub fn set(&self) -> KeySet {
        self.set
    }

    /// Reads verifying keys from `dir` (`<name>.vk`), still checked by pin.
    pub fn with_params_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.params_dir = Some(dir.into());
        self
    }

    /// Replaces the pins (tests, and tools that check a fresh record).
    pub fn with_record(mut self, record: SetupRecord) -> Self {
        self.record = record;
        self
    }

    /// The pins.
    pub fn record(&self) -> &SetupRecord {
        &self.record
    }

    /// The proving-key cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// [`INSECURE_WARNING`] if any of `circuits` has development keys
    /// (callers must show it), `None` if all come from a ceremony.
    pub fn insecure_warning(&self, circuits: &[CircuitId]) -> Option<&'static str> {
        circuits
            .iter()
            .any(|id| self.record.get(*id).map_or(true, CircuitRecord::is_dev))
            .then_some(INSECURE_WARNING)
    }

    /// The cache file of `id`'s proving key (named by its pinned hash, so
    /// keys of an older circuit never collide with the current ones).
    pub fn pk_cache_path(&self, id: CircuitId) -> Result<PathBuf, ParamsError> {
        Ok(self.pk_cache_path_for(id, self.record.get(id)?))
    }

    fn pk_cache_path_for(&self, id: CircuitId, rec: &CircuitRecord) -> PathBuf {
        let tag = rec.pk_sha256.get(..16).unwrap_or(&rec.pk_sha256);
        self.cache_dir.join(format!("{}-{tag}.pk", id.name()))
    }

    /// Caches keys under their own hash (regeneration or installation: the
    /// pins are `keys.record`, already checked or about to be written).
    pub fn cache_keys(&self, keys: &SetupKeys) -> Result<PathBuf, ParamsError> {
        let path = self.pk_cache_path_for(keys.circuit, &keys.record);
        write_atomic(&path, &keys.pk_bytes)?;
        Ok(path)
    }

    /// The proving key of `id`: from the cache if its hash matches the pin,
    /// else, for development keys, generated, checked against the pin and
    /// cached; a ceremony key that is not installed is an error naming the
    /// command that installs it. A cached file with the wrong hash is
    /// refused, not replaced.
    pub fn proving_key(
        &self,
        id: CircuitId,
        progress: Option<Progress<'_>>,
    ) -> Result<Arc<ProvingKey>, ParamsError> {
        self.proving_key_with(id, progress, || dev_keys(id))
    }

    pub(crate) fn proving_key_with(
        &self,
        id: CircuitId,
        progress: Option<Progress<'_>>,
        generate: impl FnOnce() -> Result<SetupKeys, ParamsError>,
    ) -> Result<Arc<ProvingKey>, ParamsError> {
        let pin = self.record.get(id)?.clone();
        let path = self.pk_cache_path(id)?;
        let emit = |e| {
            if let Some(p) = progress {
                p(e)
            }
        };
        match fs::read(&path) {
            Ok(bytes) => {
                let actual = sha256_hex(&bytes);
                if actual != pin.pk_sha256 {
                    return Err(ParamsError::HashMismatch {
                        circuit: id,
                        what: "cached proving key",
                        expected: pin.pk_sha256,
                        actual,
                        hint: "; the cache file is corrupted: delete it to regenerate",
                    });
                }
                // The bytes are exactly the pinned key: skip re-validation.
                let pk =
                    ProvingKey::deserialize_with_mode(bytes.as_slice(), Compress::No, Validate::No)
                        .map_err(|e| ParamsError::Malformed {
                            circuit: id,
                            what: "cached proving key",
                            reason: e.to_string(),
                        })?;
                emit(SetupEvent::Cached(id));
                Ok(Arc::new(pk))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !pin.is_dev() => {
                Err(ParamsError::NotInstalled(id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                emit(SetupEvent::Generating(id));
                let keys = generate()?;
                check_pin(id, &pin, &keys.record)?;
                write_atomic(&path, &keys.pk_bytes)?;
                emit(SetupEvent::Generated(id, keys.setup_time));
                Ok(keys.pk)
            }
            Err(e) => Err(ParamsError::io(&path, e)),
        }
    }

    /// The verifying key of `id`, checked against the pinned hash: from
    /// `<params_dir>/<name>.vk` if a directory is set and holds it, else the
    /// compiled-in `<set dir>/<name>.vk`. Never needs the proving key.
    pub fn verifying_key(
        &self,
        id: CircuitId,
        _progress: Option<Progress<'_>>,
    ) -> Result<VerifyingKey<Bn254>, ParamsError> {
        let pin = self.record.get(id)?;
        if let Some(dir) = &self.params_dir {
            let path = dir.join(format!("{}.vk", id.name()));
            match fs::read(&path) {
                Ok(bytes) => return vk_from_pinned_bytes(id, pin, &bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ParamsError::io(&path, e)),
            }
        }
        match committed_vk(self.set, id) {
            Some(bytes) => vk_from_pinned_bytes(id, pin, bytes),
            None => Err(ParamsError::io(
                Path::new(self.set.dir()).join(format!("{}.vk", id.name())),
                std::io::Error::new(std::io::ErrorKind::NotFound, "pinned but not compiled in"),
            )),
        }
    }
}

/// Decodes a verifying key only if its bytes hash to the pin (B8).
pub fn vk_from_pinned_bytes(
    id: CircuitId,
    pin: &CircuitRecord,
    bytes: &[u8],
) -> Result<VerifyingKey<Bn254>, ParamsError> {
    let actual = sha256_hex(bytes);
    if actual != pin.vk_sha256 {
        return Err(ParamsError::HashMismatch {
            circuit: id,
            what: "verifying key",
            expected: pin.vk_sha256.clone(),
            actual,
            hint: "",
        });
    }
    let vk = VerifyingKey::<Bn254>::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes)
        .map_err(|e| ParamsError::Malformed {
            circuit: id,
            what: "verifying key",
            reason: e.to_string(),
        })?;
    if vk.gamma_abc_g1.len() != pin.public_inputs + 1 {
        return Err(ParamsError::Malformed {
            circuit: id,
            what: "verifying key",
            reason: format!(
                "{} public inputs, the record says {}",
                vk.gamma_abc_g1.len().saturating_sub(1),
                pin.public_inputs
            ),
        });
    }
    Ok(vk)
}

/// Freshly generated keys must equal the pinned ones.
fn check_pin(id: CircuitId, pin: &CircuitRecord, fresh: &CircuitRecord) -> Result<(), ParamsError> {
    const HINT: &str = "; the circuit changed since params/ was written: run `veil setup --dev --write-params` and commit params/dev/";
    if fresh.vk_sha256 != pin.vk_sha256 {
        return Err(ParamsError::HashMismatch {
            circuit: id,
            what: "generated verifying key",
            expected: pin.vk_sha256.clone(),
            actual: fresh.vk_sha256.clone(),
            hint: HINT,
        });
    }
    if fresh.pk_sha256 != pin.pk_sha256 {
        return Err(ParamsError::HashMismatch {
            circuit: id,
            what: "generated proving key",
            expected: pin.pk_sha256.clone(),
            actual: fresh.pk_sha256.clone(),
            hint: HINT,
        });
    }
    Ok(())
}

/// `$VEIL_PARAMS_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/veil/params`.
pub fn default_cache_dir() -> Result<PathBuf, ParamsError> {
    let non_empty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = non_empty(CACHE_ENV) {
        return Ok(p);
    }
    let base = non_empty("XDG_CACHE_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".cache")))
        .ok_or(ParamsError::NoCacheDir)?;
    Ok(base.join("veil").join("params"))
}
