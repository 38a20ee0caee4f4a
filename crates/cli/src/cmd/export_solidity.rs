//! `veil export solidity`: write the Groth16 Solidity verifier of each
//! circuit from its pinned verifying key (`params/`), or check that the
//! committed ones are current (`--check`, run by CI). docs/evm.md.

use std::path::PathBuf;

use anyhow::bail;
use veil_evm::verifiers::{Freshness, GeneratedVerifier, VERIFIERS_DIR};
use veil_proofs::{CircuitId, ParamStore};

/// The circuits selected by `--circuit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuits(pub Vec<CircuitId>);

fn parse_circuits(s: &str) -> anyhow::Result<Circuits> {
    super::setup::parse_circuits(s).map(Circuits)
}

/// Arguments of `veil export solidity`.
#[derive(clap::Args)]
pub struct Args {
    /// Which circuit: access, withdraw, settle_1, settle_8, settle_64, a
    /// comma-separated list, or all.
    #[arg(long, value_parser = parse_circuits)]
    pub circuit: Circuits,
    /// Directory of the `<Name>Verifier.sol` files.
    #[arg(long, default_value = VERIFIERS_DIR)]
    pub out: PathBuf,
    /// Write nothing; exit non-zero naming every file that is missing or
    /// differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = ParamStore::open_default()?;
    let mut stale = Vec::new();
    for &id in &args.circuit.0 {
        let verifier = GeneratedVerifier::from_store(id, &store)?;
        let path = verifier.path_in(&args.out);
        if args.check {
            match verifier.freshness(&args.out)? {
                Freshness::Same => println!("{}: up to date", path.display()),
                Freshness::Differs => stale.push(format!("{} differs", path.display())),
                Freshness::Missing => stale.push(format!("{} is missing", path.display())),
            }
        } else {
            verifier.write_to(&args.out)?;
            println!("{}: written ({id})", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "{}; regenerate with `veil export solidity --circuit all` and rebuild the artifacts \
             (`cd contracts && node build.js`)",
            stale.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_selection_is_strict() {
        assert_eq!(parse_circuits("all").unwrap().0, CircuitId::ALL.to_vec());
        assert_eq!(
            parse_circuits("settle_8").unwrap().0,
            vec!["settle_8".parse().unwrap()]
        );
        for bad in ["", "settle_2", "ALL", "../access"] {
            assert!(parse_circuits(bad).is_err(), "{bad:?}");
        }
    }
}
