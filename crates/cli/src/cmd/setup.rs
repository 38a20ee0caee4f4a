//! `veil setup`: Groth16 keys. `--from-ceremony DIR` installs a phase-2
//! ceremony's final keys and `--verify DIR` re-checks the pinned ones
//! against the transcript (`setup_ceremony.rs`, `docs/ceremony.md`);
//! `--dev` makes the INSECURE development keys from a public seed
//! (`docs/protocol.md` §7.3).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use veil_interop::ceremony::{PTAU_FILE, Policy};
use veil_proofs::params::{self, ParamStore, SetupEvent, SetupKeys};
use veil_proofs::{CircuitId, KeySet};

use super::keys::{self, print_insecure_banner};
use super::progress::{Progress, Reporter, Step};
use super::setup_ceremony::{self, Ceremony};

/// Arguments of `veil setup`.
#[derive(clap::Args)]
pub struct Args {
    /// Generate INSECURE development keys from a public seed, pinned in
    /// params/dev/ (used only with --dev-keys: tests and the demo's quick
    /// path).
    #[arg(long, conflicts_with_all = ["from_ceremony", "verify"])]
    pub dev: bool,
    /// Install the final keys of a ceremony from DIR (`phase1.ptau`,
    /// `<circuit>.zkey`): each transcript is verified against veil's own
    /// R1CS and must equal the pinned record (or, with --write-params,
    /// becomes it). Nothing is installed from a transcript that fails.
    #[arg(long, value_name = "DIR", conflicts_with = "verify")]
    pub from_ceremony: Option<PathBuf>,
    /// Re-check the keys pinned in --params-dir (record and verifying
    /// keys) against the ceremony transcript in DIR; exits non-zero on any
    /// mismatch or development key.
    #[arg(long, value_name = "DIR")]
    pub verify: Option<PathBuf>,
    /// The prepared phase-1 file (default: DIR/phase1.ptau).
    #[arg(long, value_name = "FILE")]
    pub ptau: Option<PathBuf>,
    /// Contributions each transcript needs before its final beacon.
    #[arg(long, default_value_t = Policy::PROJECT.min_contributions)]
    pub min_contributions: usize,
    /// Which circuit: access, withdraw, settle_1, settle_8, settle_64,
    /// tree_insert_64, answer, a comma-separated list, or all.
    #[arg(long, default_value = "all")]
    pub circuit: String,
    /// Also (re)write the verifying keys `<params-dir>/<name>.vk` and the
    /// record `<params-dir>/setup.json` from these keys.
    #[arg(long)]
    pub write_params: bool,
    /// Where --write-params writes (default `params` for ceremony keys,
    /// `params/dev` for --dev) and --verify reads (default: the ceremony
    /// record and verifying keys compiled into this binary, the ones it
    /// uses).
    #[arg(long)]
    pub params_dir: Option<PathBuf>,
}

/// Parses `all` or one circuit name.
pub fn parse_circuits(s: &str) -> anyhow::Result<Vec<CircuitId>> {
    if s == "all" {
        return Ok(CircuitId::ALL.to_vec());
    }
    s.split(',')
        .map(|name| {
            name.trim()
                .parse::<CircuitId>()
                .map_err(anyhow::Error::from)
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if keys::set() == KeySet::Dev && (args.from_ceremony.is_some() || args.verify.is_some()) {
        bail!("--dev-keys does not apply to ceremony keys: drop it (or use --dev)");
    }
    if let Some(dir) = &args.from_ceremony {
        return setup_ceremony::install(&ceremony(&args, dir)?).map(drop);
    }
    if let Some(dir) = &args.verify {
        return setup_ceremony::verify(&ceremony(&args, dir)?);
    }
    if !args.dev {
        bail!(
            "choose where keys come from: --from-ceremony DIR (a ceremony's final keys), \
             --verify DIR (re-check the pinned ones), or --dev (INSECURE keys from a public seed)"
        );
    }
    dev(&args)
}

fn ceremony<'a>(args: &'a Args, dir: &'a Path) -> anyhow::Result<Ceremony<'a>> {
    Ok(Ceremony {
        dir,
        ptau: args.ptau.clone().unwrap_or_else(|| dir.join(PTAU_FILE)),
        circuits: parse_circuits(&args.circuit)?,
        policy: Policy {
            min_contributions: args.min_contributions,
            ..Policy::PROJECT
        },
        params_dir: args.params_dir.as_deref(),
        write_params: args.write_params,
    })
}

fn dev(args: &Args) -> anyhow::Result<()> {
    let circuits = parse_circuits(&args.circuit)?;
    print_insecure_banner();
    let store = ParamStore::open_default(KeySet::Dev)?;
    eprintln!("proving-key cache: {}", store.cache_dir().display());

    let mut fresh: Vec<SetupKeys> = Vec::new();
    let progress = Reporter::new(false);
    let total = circuits.len() as u64;
    for (done, id) in (0u64..).zip(circuits) {
        progress.report(Step::new("development keys", done, total));
        if args.write_params {
            // Regeneration: the current circuit defines the new pins.
            progress.note(&format!("{id}: generating"));
            let keys = params::dev_keys(id).with_context(|| format!("setup of {id}"))?;
            let path = store.cache_keys(&keys)?;
            progress.note(&format!(
                "{id}: {} constraints, setup {:.1} s, vk sha256 {}, pk cached at {}",
                keys.record.constraints,
                keys.setup_time.as_secs_f64(),
                keys.record.vk_sha256,
                path.display()
            ));
            fresh.push(keys);
        } else {
            let event = |e: SetupEvent| match e {
                SetupEvent::Cached(c) => {
                    progress.note(&format!("{c}: found in cache, hash checked"))
                }
                SetupEvent::Generating(c) => progress.note(&format!("{c}: generating")),
                SetupEvent::Generated(c, t) => {
                    progress.note(&format!("{c}: generated in {:.1} s", t.as_secs_f64()))
                }
            };
            store
                .proving_key(id, Some(&event))
                .with_context(|| format!("keys of {id}"))?;
            progress.note(&format!(
                "{id}: proving key ready (matches params/dev/setup.json)"
            ));
        }
    }
    progress.report(Step::new("development keys", total, total));
    progress.finish();
    if args.write_params {
        let refs: Vec<&SetupKeys> = fresh.iter().collect();
        let dir = args
            .params_dir
            .as_deref()
            .unwrap_or(Path::new(KeySet::Dev.dir()));
        params::write_params(dir, KeySet::Dev, &refs)?;
        eprintln!(
            "wrote {} verifying key(s) and {}/setup.json; rebuild to compile in the new pins, and commit params/",
            refs.len(),
            dir.display()
        );
    }
    print_insecure_banner();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_lists_parse_strictly() {
        assert_eq!(parse_circuits("all").unwrap(), CircuitId::ALL.to_vec());
        assert_eq!(
            parse_circuits("access,settle_8").unwrap(),
            vec![CircuitId::Access, "settle_8".parse().unwrap()]
        );
        for bad in [
            "",
            "acces",
            "settle_2",
            "access,,withdraw",
            "ALL",
            "../access",
        ] {
            assert!(parse_circuits(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_without_a_source() {
        let args = Args {
            dev: false,
            from_ceremony: None,
            verify: None,
            ptau: None,
            min_contributions: 3,
            circuit: "access".into(),
            write_params: false,
            params_dir: None,
        };
        let err = run(args).unwrap_err().to_string();
        assert!(err.contains("--from-ceremony DIR"), "{err}");
    }
}
