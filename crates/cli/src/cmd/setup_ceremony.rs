//! `veil setup --from-ceremony DIR` and `veil setup --verify DIR`: a
//! ceremony's final keys, verified against veil's own circuits and pinned
//! by hash (`docs/ceremony.md`; checks in `veil_interop::ceremony`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use veil_interop::ceremony::{Policy, Reference, zkey_file};
use veil_interop::ptau::{Phase1Contribution, Ptau};
use veil_proofs::params::{self, CircuitRecord, KeyOrigin, ParamStore, SetupKeys, SetupRecord};
use veil_proofs::{CircuitId, KeySet};

use super::progress::Reporter;

/// What `--from-ceremony` and `--verify` act on.
pub struct Ceremony<'a> {
    /// The ceremony directory (`<circuit>.zkey`).
    pub dir: &'a Path,
    /// The prepared phase-1 file.
    pub ptau: PathBuf,
    /// The circuits to install or verify.
    pub circuits: Vec<CircuitId>,
    /// What each transcript must hold.
    pub policy: Policy,
    /// Where pins are written (`--write-params`, default `params`) or read
    /// (`--verify`, default: the compiled-in pins and keys).
    pub params_dir: Option<&'a Path>,
    /// Write the pins instead of checking them against the compiled-in
    /// ones (`--from-ceremony` only).
    pub write_params: bool,
}

/// The phase-1 file, read once and its powers checked.
struct Phase1 {
    ptau: Ptau,
    sha256: String,
    /// Its contributions, listed for the report.
    report: String,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn phase1(c: &Ceremony<'_>) -> anyhow::Result<Phase1> {
    let path = &c.ptau;
    let pb = Reporter::new(false);
    pb.stage(&format!(
        "{}: reading and checking the powers",
        path.display()
    ));
    let bytes = read(&path)?;
    let ptau = Ptau::from_bytes(&bytes).with_context(|| format!("reading {}", path.display()))?;
    let chain = ptau
        .verify(&mut rand::rngs::OsRng)
        .with_context(|| format!("checking {}", path.display()))?;
    pb.finish();
    let report = phase1_report(&chain);
    print!("{report}");
    Ok(Phase1 {
        ptau,
        sha256: hex::encode(Sha256::digest(&bytes)),
        report,
    })
}

/// `id`'s keys from `dir/<id>.zkey`, its transcript verified.
fn transcript_keys(
    dir: &Path,
    id: CircuitId,
    p1: &Phase1,
    policy: &Policy,
) -> anyhow::Result<SetupKeys> {
    let pb = Reporter::new(false);
    pb.stage(&format!("{id}: veil's R1CS"));
    let reference = Reference::new(id, &p1.ptau, p1.sha256.clone())
        .with_context(|| format!("the initial key of {id}"))?;
    let path = dir.join(zkey_file(id));
    pb.stage(&format!("{id}: verifying {}", path.display()));
    let bytes = read(&path)?;
    let keys = reference
        .keys(&bytes, policy)
        .with_context(|| format!("{} is not a valid transcript for {id}", path.display()))?;
    pb.finish();
    Ok(keys)
}

/// Phase 1's verified contributions, as `snarkjs powersoftau verify`
/// lists them (a contributor finds theirs by its response hash).
pub fn phase1_report(chain: &[Phase1Contribution]) -> String {
    use std::fmt::Write as _;
    let mut out = format!("phase 1: {} contribution(s), chain verified\n", chain.len());
    for (i, c) in chain.iter().enumerate() {
        let name = c.name.as_deref().unwrap_or("");
        let kind = if c.beacon.is_some() {
            "beacon"
        } else {
            "contribution"
        };
        let _ = writeln!(
            out,
            "  phase-1 {kind} #{} {name}: response hash {}",
            i + 1,
            hex::encode(c.response_hash)
        );
    }
    out
}

/// A ceremony key's transcript, contributions and verifying key, printed
/// as they are checked.
fn describe(id: CircuitId, rec: &CircuitRecord) -> String {
    use std::fmt::Write as _;
    let KeyOrigin::Ceremony(c) = &rec.origin else {
        return String::new();
    };
    let mut out = format!("{id}: transcript sha256 {}\n", c.transcript_sha256);
    for (i, k) in c.contributions.iter().enumerate() {
        let what = if k.beacon.is_some() {
            "beacon"
        } else {
            "contribution"
        };
        let name = k.name.as_deref().unwrap_or("");
        let _ = writeln!(out, "  {what} #{} {name}: {}", i + 1, k.hash);
    }
    let _ = writeln!(out, "  vk sha256 {}", rec.vk_sha256);
    print!("{out}");
    out
}

/// `veil setup --from-ceremony DIR` and `veil ceremony finalize`: verifies
/// every transcript first, then caches the proving keys (and, with
/// `--write-params`, writes the pins). Without `--write-params` each key
/// must equal the compiled-in pin. Returns the report it printed.
pub fn install(c: &Ceremony<'_>) -> anyhow::Result<String> {
    let store = ParamStore::open_default(KeySet::Ceremony)?;
    let p1 = phase1(c)?;
    let mut report = p1.report.clone();
    let mut all = Vec::new();
    for &id in &c.circuits {
        let keys = transcript_keys(c.dir, id, &p1, &c.policy)?;
        if !c.write_params {
            let pin = store
                .record()
                .get(id)
                .with_context(|| format!("{id}: nothing installed"))?;
            let diff = pin.differences(&keys.record);
            if !diff.is_empty() {
                bail!(
                    "{id}: the transcript's keys differ from the pinned ones in {}; nothing installed",
                    diff.join(", ")
                );
            }
        }
        report.push_str(&describe(id, &keys.record));
        all.push(keys);
    }
    for keys in &all {
        let path = store.cache_keys(keys)?;
        eprintln!(
            "{}: proving key installed at {}",
            keys.circuit,
            path.display()
        );
    }
    if c.write_params {
        let refs: Vec<&SetupKeys> = all.iter().collect();
        let dir = c.params_dir.unwrap_or(Path::new(KeySet::Ceremony.dir()));
        params::write_params(dir, KeySet::Ceremony, &refs)?;
        eprintln!(
            "wrote {} verifying key(s) and {}/setup.json; rebuild to compile in the new pins, and commit params/",
            refs.len(),
            dir.display()
        );
    }
    Ok(report)
}

/// The pins and verifying keys in `dir` (`setup.json`, `<name>.vk`).
fn pinned_store(dir: &Path) -> anyhow::Result<ParamStore> {
    let path: PathBuf = dir.join("setup.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let record = SetupRecord::parse(&text, &path)?;
    Ok(ParamStore::open_default(KeySet::Ceremony)?
        .with_record(record)
        .with_params_dir(dir))
}

/// One circuit of `--verify`: its pin is a ceremony's, its verifying key
/// file hashes to the pin, and the transcript gives exactly the pin.
fn verify_one(
    store: &ParamStore,
    c: &Ceremony<'_>,
    id: CircuitId,
    p1: &Phase1,
) -> anyhow::Result<()> {
    let pin = store.record().get(id)?;
    if pin.is_dev() {
        bail!("{id}: pinned to an INSECURE development key, not a ceremony's");
    }
    store
        .verifying_key(id, None)
        .with_context(|| format!("{id}: the verifying key file"))?;
    let keys = transcript_keys(c.dir, id, p1, &c.policy)?;
    let diff = pin.differences(&keys.record);
    if !diff.is_empty() {
        bail!(
            "{id}: the transcript gives other keys than the pinned ones: {}",
            diff.join(", ")
        );
    }
    describe(id, &keys.record);
    Ok(())
}

/// `veil setup --verify DIR`: every selected circuit checked; a failure
/// does not stop the others; any failure exits non-zero.
pub fn verify(c: &Ceremony<'_>) -> anyhow::Result<()> {
    let store = match c.params_dir {
        Some(dir) => pinned_store(dir)?,
        None => ParamStore::open_default(KeySet::Ceremony)?,
    };
    match c.params_dir {
        Some(dir) if store.record() != &SetupRecord::committed(KeySet::Ceremony)? => eprintln!(
            "note: {}/setup.json is not the record compiled into this binary",
            dir.display()
        ),
        Some(_) => {}
        None => eprintln!("checking the pins and verifying keys compiled into this binary"),
    }
    let p1 = phase1(c)?;
    let mut failed = Vec::new();
    for &id in &c.circuits {
        match verify_one(&store, c, id, &p1) {
            Ok(()) => println!("{id}: OK"),
            Err(e) => {
                println!("{id}: FAILED: {e:#}");
                failed.push(id.name());
            }
        }
    }
    if !failed.is_empty() {
        bail!("keys not verified: {}", failed.join(", "));
    }
    println!("every selected key is the ceremony's");
    Ok(())
}
