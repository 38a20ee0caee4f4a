//! `veil export`: veil's circuits, keys and proofs in snarkjs' and circom's
//! formats (`docs/interop.md`), for inspection with, and verification by,
//! the ecosystem's tools.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use veil_interop::{export, snarkjs};
use veil_proofs::CircuitId;
use veil_proofs::groth16::PreparedKey;
use veil_proofs::params::write_atomic;
use veil_proofs::{ParamStore, Prover};

/// `veil export …`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// `verification_key.json` (snarkjs) of the committed verifying key
    /// `params/<circuit>.vk` (`params/dev/` with --dev-keys), checked
    /// against its pinned hash.
    Vk(Target),
    /// `<circuit>.r1cs` (circom binary): the exact constraint system veil's
    /// setup and prover use; wire 0 is one, then the public inputs in
    /// statement order, then the private witness.
    R1cs(Target),
    /// `<circuit>.wtns` (circom binary): a satisfying witness of the
    /// circuit's deterministic sample statement.
    Witness(Target),
    /// `proof.json` and `public.json` (snarkjs): a proof of the sample
    /// statement under the INSECURE development keys.
    Proof(Target),
    /// The Groth16 Solidity verifier of each circuit, written from its
    /// pinned verifying key into contracts/src/verifiers/ (or `--check`ed).
    Solidity(super::export_solidity::Args),
    /// The Poseidon contracts (t = 2..4), written from veil's own hash
    /// parameters into contracts/src/poseidon/ (or `--check`ed).
    Poseidon(super::export_solidity::PoseidonArgs),
}

/// Which circuit, and where to write.
#[derive(clap::Args)]
pub struct Target {
    /// access, withdraw, settle_1, settle_8, settle_64 or tree_insert_64.
    #[arg(long)]
    pub circuit: CircuitId,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let t = match cmd {
        Command::Solidity(a) => return super::export_solidity::run(a),
        Command::Poseidon(a) => return super::export_solidity::run_poseidon(a),
        Command::Vk(ref t)
        | Command::R1cs(ref t)
        | Command::Witness(ref t)
        | Command::Proof(ref t) => t,
    };
    // Before any work, and before anything is created: the key is pinned.
    let store = match cmd {
        Command::Vk(_) | Command::Proof(_) => {
            let store = super::keys::store()?;
            store.record().get(t.circuit)?;
            Some(store)
        }
        _ => None,
    };
    // Then a bad output path fails fast.
    fs::create_dir_all(&t.out).with_context(|| format!("creating {}", t.out.display()))?;
    match (cmd, store) {
        (Command::Vk(t), Some(store)) => vk(&t, &store),
        (Command::Proof(t), Some(store)) => proof(&t, &store),
        (Command::R1cs(t), _) => r1cs(&t),
        (Command::Witness(t), _) => witness(&t),
        _ => Ok(()),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

fn vk(t: &Target, store: &ParamStore) -> anyhow::Result<()> {
    let vk = store
        .verifying_key(t.circuit, None)
        .with_context(|| format!("verifying key of {}", t.circuit))?;
    write(
        &t.out,
        "verification_key.json",
        snarkjs::vk_to_json(&vk).as_bytes(),
    )
}

fn r1cs(t: &Target) -> anyhow::Result<()> {
    let r1cs = export::circuit_r1cs(t.circuit).with_context(|| format!("R1CS of {}", t.circuit))?;
    eprintln!(
        "{}: {} constraints, {} public inputs, {} wires",
        t.circuit,
        r1cs.constraints.len(),
        r1cs.num_public,
        r1cs.num_wires
    );
    write(&t.out, &format!("{}.r1cs", t.circuit), &r1cs.to_bytes())
}

fn witness(t: &Target) -> anyhow::Result<()> {
    let (_, w) = export::sample_witness(t.circuit)
        .with_context(|| format!("sample witness of {}", t.circuit))?;
    write(&t.out, &format!("{}.wtns", t.circuit), &w.to_bytes())
}

fn proof(t: &Target, store: &ParamStore) -> anyhow::Result<()> {
    let prover = Prover::from_store(store, &[t.circuit], None)
        .with_context(|| format!("proving key of {}", t.circuit))?;
    let ctx = prover.context(t.circuit)?;
    let (statement, proof) = export::sample_proof(t.circuit, ctx, &mut rand::rngs::OsRng)
        .with_context(|| format!("proving the sample statement of {}", t.circuit))?;
    // The committed key must accept it: what is exported verifies.
    let vk = store.verifying_key(t.circuit, None)?;
    PreparedKey::new(&vk)
        .verify(&statement, &proof)
        .with_context(|| {
            format!(
                "the committed verifying key of {} refuses the proof",
                t.circuit
            )
        })?;
    write(
        &t.out,
        "proof.json",
        snarkjs::proof_to_json(&proof).as_bytes(),
    )?;
    write(
        &t.out,
        "public.json",
        snarkjs::public_to_json(&statement).as_bytes(),
    )
}
