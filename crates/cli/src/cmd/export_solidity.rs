//! `veil export solidity` and `veil export poseidon`: write the Groth16
//! Solidity verifier of each circuit from its pinned verifying key
//! (`params/`; `access` also gets its batched verifier,
//! `AccessBatchVerifier.sol`) and the Poseidon contracts from veil's hash
//! parameters, or check that the committed ones are current (`--check`, run
//! by CI). docs/evm.md.

use std::path::{Path, PathBuf};

use anyhow::bail;
use veil_evm::generated::{Freshness, GeneratedSource};
use veil_evm::poseidon::{self, POSEIDON_DIR};
use veil_evm::verifiers::{GeneratedVerifier, VERIFIERS_DIR};
use veil_proofs::CircuitId;

/// The circuits selected by `--circuit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuits(pub Vec<CircuitId>);

fn parse_circuits(s: &str) -> anyhow::Result<Circuits> {
    super::setup::parse_circuits(s).map(Circuits)
}

/// Arguments of `veil export solidity`.
#[derive(clap::Args)]
pub struct Args {
    /// Which circuit: access, withdraw, settle_1, settle_8, settle_64,
    /// tree_insert_64, answer, a comma-separated list, or all.
    #[arg(long, value_parser = parse_circuits)]
    pub circuit: Circuits,
    /// Directory of the `<Name>Verifier.sol` (and `<Name>BatchVerifier.sol`)
    /// files.
    #[arg(long, default_value = VERIFIERS_DIR)]
    pub out: PathBuf,
    /// Write nothing; exit non-zero naming every file that is missing or
    /// differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `veil export poseidon`.
#[derive(clap::Args)]
pub struct PoseidonArgs {
    /// Directory of the `PoseidonT<t>.sol` files.
    #[arg(long, default_value = POSEIDON_DIR)]
    pub out: PathBuf,
    /// Write nothing; exit non-zero naming every file that is missing or
    /// differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = super::keys::store()?;
    let mut files = Vec::new();
    for &id in &args.circuit.0 {
        let verifiers = GeneratedVerifier::all_from_store(id, &store)?;
        files.extend(verifiers.into_iter().map(|v| v.file));
    }
    sync(&files, &args.out, args.check, "solidity --circuit all")
}

pub fn run_poseidon(args: PoseidonArgs) -> anyhow::Result<()> {
    let files = poseidon::WIDTHS
        .map(poseidon::generated)
        .collect::<Result<Vec<_>, _>>()?;
    sync(&files, &args.out, args.check, "poseidon")
}

/// Writes `files` into `dir`, or with `check` compares and fails naming
/// every stale file.
fn sync(files: &[GeneratedSource], dir: &Path, check: bool, again: &str) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for file in files {
        let path = file.path_in(dir);
        if !check {
            file.write_to(dir)?;
            println!("{}: written", path.display());
            continue;
        }
        match file.freshness(dir)? {
            Freshness::Same => println!("{}: up to date", path.display()),
            Freshness::Differs => stale.push(format!("{} differs", path.display())),
            Freshness::Missing => stale.push(format!("{} is missing", path.display())),
        }
    }
    if !stale.is_empty() {
        bail!(
            "{}; regenerate with `veil export {again}` and rebuild the artifacts \
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
