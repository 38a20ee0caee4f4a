//! `veil ceremony …`: phase 2 of a Groth16 ceremony in snarkjs' `.zkey`
//! format, thin over `veil_interop::phase2` (`docs/interop.md`, "Phase 2
//! contributions"). Files are interchangeable with `snarkjs zkey
//! contribute | beacon | verify`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use veil_interop::ceremony::{PTAU_FILE, Policy};
use veil_interop::phase2::{Transcript, verify_transcript};
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;
use veil_interop::{R1cs, export};
use veil_proofs::CircuitId;
use veil_proofs::params::write_atomic;

use super::progress::Reporter;

/// `veil ceremony …`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// The initial `.zkey` of a circuit from a prepared phase-1 `.ptau`
    /// (`snarkjs zkey new`). It has no contribution: not a usable key.
    New(NewArgs),
    /// Add a contribution (`snarkjs zkey contribute`). The secret comes from
    /// the OS; extra entropy only from stdin (`--entropy-stdin`), never
    /// from the command line.
    Contribute(ContributeArgs),
    /// Add a beacon contribution (`snarkjs zkey beacon`): deterministic
    /// from a public random value.
    Beacon(BeaconArgs),
    /// Verify a `.zkey`'s whole transcript against its circuit and phase-1
    /// file (`snarkjs zkey verify`); prints the contribution hashes.
    Verify(VerifyArgs),
    /// The coordinator's last step: verify every circuit's final key in a
    /// ceremony directory (phase 1's chain, each transcript against veil's
    /// R1CS, at least --min-contributions then a beacon), pin them in
    /// --params-dir, install the proving keys, and write the report to
    /// DIR/transcript.txt. Nothing is pinned or installed unless every
    /// circuit verifies.
    Finalize(FinalizeArgs),
}

/// `veil ceremony finalize`.
#[derive(clap::Args)]
pub struct FinalizeArgs {
    /// The ceremony directory: the final `<circuit>.zkey` of each circuit
    /// and, unless --ptau, `phase1.ptau`.
    #[arg(long)]
    pub dir: PathBuf,
    /// The prepared phase-1 file (default: DIR/phase1.ptau).
    #[arg(long)]
    pub ptau: Option<PathBuf>,
    /// Which circuits: a comma-separated list or all.
    #[arg(long, default_value = "all")]
    pub circuit: String,
    /// Contributions each transcript needs before its final beacon.
    #[arg(long, default_value_t = Policy::PROJECT.min_contributions)]
    pub min_contributions: usize,
    /// Where the pins and verifying keys are written (default `params`).
    #[arg(long)]
    pub params_dir: Option<PathBuf>,
}

/// Input and output keys, and the contributor's name.
#[derive(clap::Args)]
pub struct Step {
    /// The `.zkey` to contribute to.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Where to write the new `.zkey` (atomically; must not exist, so no
    /// step overwrites a key of the transcript).
    #[arg(long)]
    pub out: PathBuf,
    /// A public name recorded with the contribution (at most 64 characters).
    #[arg(long)]
    pub name: Option<String>,
}

/// `veil ceremony contribute`.
#[derive(clap::Args)]
pub struct ContributeArgs {
    #[command(flatten)]
    pub step: Step,
    /// Also mix all of stdin into the secret (optional: the OS's randomness
    /// suffices).
    #[arg(long)]
    pub entropy_stdin: bool,
}

/// `veil ceremony beacon`.
#[derive(clap::Args)]
pub struct BeaconArgs {
    #[command(flatten)]
    pub step: Step,
    /// The beacon value, hex (1 to 255 bytes).
    #[arg(long)]
    pub beacon: String,
    /// The beacon is hashed 2^this times with SHA-256 (10 to 63).
    #[arg(long)]
    pub iterations_exp: u32,
}

/// The circuit a key is for: one of veil's, or a circom `.r1cs` file.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Circuit {
    /// One of veil's circuits (access, withdraw, settle_1, …).
    #[arg(long)]
    pub circuit: Option<CircuitId>,
    /// A circom `.r1cs` file (as `veil export r1cs` writes).
    #[arg(long)]
    pub r1cs: Option<PathBuf>,
}

/// `veil ceremony new`.
#[derive(clap::Args)]
pub struct NewArgs {
    #[command(flatten)]
    pub circuit: Circuit,
    /// The prepared phase-1 file.
    #[arg(long)]
    pub ptau: PathBuf,
    /// Where to write the initial `.zkey` (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

/// `veil ceremony verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub circuit: Circuit,
    /// The prepared phase-1 file the ceremony started from.
    #[arg(long)]
    pub ptau: PathBuf,
    /// The `.zkey` to verify.
    #[arg(long)]
    pub zkey: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::New(a) => new(a),
        Command::Contribute(a) => contribute(a),
        Command::Beacon(a) => beacon(a),
        Command::Verify(a) => verify(a),
        Command::Finalize(a) => finalize(a),
    }
}

fn finalize(a: FinalizeArgs) -> anyhow::Result<()> {
    let c = super::setup_ceremony::Ceremony {
        dir: &a.dir,
        ptau: a.ptau.clone().unwrap_or_else(|| a.dir.join(PTAU_FILE)),
        circuits: super::setup::parse_circuits(&a.circuit)?,
        policy: Policy {
            min_contributions: a.min_contributions,
            ..Policy::PROJECT
        },
        params_dir: a.params_dir.as_deref(),
        write_params: true,
    };
    let report = super::setup_ceremony::install(&c)?;
    let path = a.dir.join(TRANSCRIPT_FILE);
    write_atomic(&path, report.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {}: publish it with the ceremony directory",
        path.display()
    );
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_r1cs(c: &Circuit) -> anyhow::Result<R1cs> {
    match (c.circuit, &c.r1cs) {
        (Some(id), _) => export::circuit_r1cs(id).with_context(|| format!("R1CS of {id}")),
        (None, Some(path)) => {
            R1cs::from_bytes(&read(path)?).with_context(|| format!("reading {}", path.display()))
        }
        (None, None) => bail!("name a --circuit or an --r1cs file"),
    }
}

fn read_ptau(path: &Path) -> anyhow::Result<Ptau> {
    Ptau::from_bytes(&read(path)?).with_context(|| format!("reading {}", path.display()))
}

/// Refuses an output that exists: a step never replaces a key.
fn fresh(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists: choose a new output path", out.display());
    }
    Ok(())
}

fn write_zkey(out: &Path, z: &Zkey) -> anyhow::Result<()> {
    let bytes = z.to_bytes();
    write_new(out, &bytes)?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

/// Writes `bytes` to `out` only if `out` does not exist, atomically: a
/// complete, synced temporary file beside it is hard-linked to `out`, which
/// fails if `out` exists — also if another process made it after [`fresh`]
/// checked — so no step ever replaces a key of the transcript.
fn write_new(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = out.with_file_name(format!(
        ".{}.new.{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    write_atomic(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    let linked = fs::hard_link(&tmp, out);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .with_context(|| format!("syncing {}", dir.display()))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists: choose a new output path", out.display())
        }
        Err(e) => Err(e).with_context(|| format!("writing {}", out.display())),
    }
}

fn new(a: NewArgs) -> anyhow::Result<()> {
    fresh(&a.out)?;
    let pb = Reporter::new(false);
    pb.stage("new: reading the circuit");
    let r1cs = read_r1cs(&a.circuit)?;
    pb.stage(&format!("new: reading {}", a.ptau.display()));
    let ptau = read_ptau(&a.ptau)?;
    pb.stage("new: building the initial key");
    let z = Zkey::new(&r1cs, &ptau).context("building the initial key")?;
    pb.stage(&format!("new: writing {}", a.out.display()));
    write_zkey(&a.out, &z)?;
    pb.finish();
    println!("circuit hash: {}", hex::encode(z.cs_hash));
    eprintln!("no contribution yet: this key is not usable until contributed to");
    Ok(())
}

fn read_zkey(path: &Path) -> anyhow::Result<Zkey> {
    Zkey::from_bytes(&read(path)?).with_context(|| format!("reading {}", path.display()))
}

fn finish(step: &Step, z: &Zkey, hash: &impl std::fmt::Display) -> anyhow::Result<()> {
    write_zkey(&step.out, z)?;
    println!("contribution #{} hash: {hash}", z.contributions.len());
    Ok(())
}

fn contribute(a: ContributeArgs) -> anyhow::Result<()> {
    fresh(&a.step.out)?;
    let z = read_zkey(&a.step.input)?;
    // Wiped on drop, as the contribution's secret (docs/security.md).
    let mut entropy = veil_primitives::secret::Zeroizing::new(Vec::new());
    if a.entropy_stdin {
        std::io::stdin()
            .read_to_end(&mut entropy)
            .context("reading entropy from stdin")?;
    }
    let pb = Reporter::new(false);
    pb.stage("contribute: computing the contribution");
    let (next, hash) = z.contribute(&entropy, a.step.name.as_deref())?;
    pb.stage(&format!("contribute: writing {}", a.step.out.display()));
    finish(&a.step, &next, &hash)
}

fn beacon(a: BeaconArgs) -> anyhow::Result<()> {
    let Ok(value) = hex::decode(&a.beacon) else {
        bail!("--beacon must be hex");
    };
    fresh(&a.step.out)?;
    let z = read_zkey(&a.step.input)?;
    let pb = Reporter::new(false);
    pb.stage(&format!(
        "beacon: hashing 2^{} times and contributing",
        a.iterations_exp
    ));
    let (next, hash) = z.beacon(&value, a.iterations_exp, a.step.name.as_deref())?;
    pb.stage(&format!("beacon: writing {}", a.step.out.display()));
    finish(&a.step, &next, &hash)
}

fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let pb = Reporter::new(false);
    pb.stage("verify: reading the circuit");
    let r1cs = read_r1cs(&a.circuit)?;
    pb.stage(&format!(
        "verify: reading and checking {}",
        a.ptau.display()
    ));
    let ptau = read_ptau(&a.ptau)?;
    let chain = ptau
        .verify(&mut rand::rngs::OsRng)
        .with_context(|| format!("checking {}", a.ptau.display()))?;
    pb.finish();
    print!("{}", super::setup_ceremony::phase1_report(&chain));
    pb.stage(&format!(
        "verify: checking the transcript in {}",
        a.zkey.display()
    ));
    let z = read_zkey(&a.zkey)?;
    let t = verify_transcript(&z, &r1cs, &ptau)
        .with_context(|| format!("{} is not a valid transcript", a.zkey.display()))?;
    pb.finish();
    print_transcript(&t);
    Ok(())
}

/// The report `veil ceremony finalize` writes in the ceremony directory.
pub const TRANSCRIPT_FILE: &str = "transcript.txt";

fn print_transcript(t: &Transcript) {
    println!("circuit hash: {}", hex::encode(t.circuit_hash));
    for (i, c) in t.contributions.iter().enumerate() {
        let name = c.name.as_deref().unwrap_or("");
        println!("contribution #{} {name}: {}", i + 1, c.hash);
        if let Some(b) = &c.beacon {
            println!(
                "  beacon {} iterations 2^{}",
                hex::encode(&b.hash),
                b.iterations_exp
            );
        }
    }
    println!("transcript OK ({} contributions)", t.contributions.len());
}
