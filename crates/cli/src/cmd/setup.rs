//! `veil setup`: generate Groth16 keys. Only the INSECURE development setup
//! exists (public seed, `docs/protocol.md` §7.3); there is no ceremony yet.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use veil_proofs::params::{self, DevKeys, ParamStore, SetupEvent};
use veil_proofs::{CircuitId, INSECURE_WARNING};

/// Arguments of `veil setup`.
#[derive(clap::Args)]
pub struct Args {
    /// Generate INSECURE development keys from a public seed (required: no
    /// ceremony is implemented yet).
    #[arg(long)]
    pub dev: bool,
    /// Which circuit: access, withdraw, settle_1, settle_8, settle_64,
    /// tree_insert_64, or all.
    #[arg(long, default_value = "all")]
    pub circuit: String,
    /// Also (re)write the committed verifying keys `params/<name>.vk` and the
    /// record `params/setup.json` from the current circuits.
    #[arg(long)]
    pub write_params: bool,
    /// Where `--write-params` writes.
    #[arg(long, default_value = "params")]
    pub params_dir: PathBuf,
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

/// The banner shown wherever development keys are made or used.
pub fn print_insecure_banner() {
    let line = "!".repeat(78);
    eprintln!("{line}\n!! {INSECURE_WARNING}\n{line}");
}

fn spinner(msg: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.dev {
        bail!(
            "only the development setup exists: no multi-party ceremony is implemented yet. \
             Run `veil setup --dev` for INSECURE keys from a public seed."
        );
    }
    let circuits = parse_circuits(&args.circuit)?;
    print_insecure_banner();
    let store = ParamStore::open_default()?;
    eprintln!("proving-key cache: {}", store.cache_dir().display());

    let mut fresh: Vec<DevKeys> = Vec::new();
    for id in circuits {
        let pb = spinner(format!("{id}: development setup"));
        if args.write_params {
            // Regeneration: the current circuit defines the new pins.
            let keys = params::dev_keys(id).with_context(|| format!("setup of {id}"))?;
            let path = store.cache_dev_keys(&keys)?;
            pb.finish_and_clear();
            eprintln!(
                "{id}: {} constraints, setup {:.1} s, vk sha256 {}, pk cached at {}",
                keys.record.constraints,
                keys.setup_time.as_secs_f64(),
                keys.record.vk_sha256,
                path.display()
            );
            fresh.push(keys);
        } else {
            let progress = |e: SetupEvent| match e {
                SetupEvent::Cached(c) => {
                    pb.set_message(format!("{c}: found in cache, hash checked"))
                }
                SetupEvent::Generating(c) => pb.set_message(format!("{c}: generating")),
                SetupEvent::Generated(c, t) => {
                    pb.set_message(format!("{c}: generated in {:.1} s", t.as_secs_f64()))
                }
            };
            store
                .proving_key(id, Some(&progress))
                .with_context(|| format!("keys of {id}"))?;
            pb.finish_and_clear();
            eprintln!("{id}: proving key ready (matches params/setup.json)");
        }
    }
    if args.write_params {
        let refs: Vec<&DevKeys> = fresh.iter().collect();
        params::write_params(&args.params_dir, &refs)?;
        eprintln!(
            "wrote {} verifying key(s) and {}/setup.json; rebuild to compile in the new pins, and commit params/",
            refs.len(),
            args.params_dir.display()
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
    fn refuses_without_dev() {
        let args = Args {
            dev: false,
            circuit: "access".into(),
            write_params: false,
            params_dir: PathBuf::from("params"),
        };
        let err = run(args).unwrap_err().to_string();
        assert!(err.contains("no multi-party ceremony"), "{err}");
    }
}
