//! `veil bench`: constraints, setup/prove/verify times and sizes per
//! circuit, batch verification, Merkle append rate, voucher costs, and the
//! gas of the EVM contracts executed in revm on the benchmark's own proofs.
//! Results and targets: `docs/benchmarks.md`. `--peer` runs the snarkjs
//! peer kit in the same sitting; `--plot DIR` draws the report
//! (`bench/plot.rs`).

mod plot;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rand::rngs::OsRng;
use serde_json::{Value as Json, json};
use veil_proofs::groth16::{self, PreparedKey, ProveProfile, ProvingContext};
use veil_proofs::params::{self, SetupKeys};
use veil_proofs::{AccessToken, CircuitId, Proof, SettleProof, SettleSize, WithdrawProof, samples};

use super::progress::{Progress, Reporter, Step};

/// Arguments of `veil bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Proving/verification runs per circuit (medians are reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Comma-separated circuits: access, withdraw, settle_1, settle_8, settle_64,
    /// tree_insert_64.
    #[arg(long, default_value = "access,withdraw,settle_8,settle_64")]
    pub circuits: String,
    /// Also write SVG charts of the report into DIR (created if missing):
    /// circuits.svg, settle.svg and, with --peer, peer.svg.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Run the snarkjs peer kit's script (e.g. `shared/peer/run.sh`, which
    /// prints one JSON line with `prove_ms`, `verify_ms`, `constraints`)
    /// after veil's runs, and report it as `"peer"`.
    #[arg(long, value_name = "SCRIPT")]
    pub peer: Option<PathBuf>,
}

/// One circuit's measurements.
struct CircuitBench {
    id: CircuitId,
    constraints: usize,
    setup_ms: f64,
    prove_ms: f64,
    verify_ms: f64,
    proof_bytes: usize,
    token_bytes: usize,
    profile: ProveProfile,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Rounds to 3 decimals for the report.
fn r3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// A statement (public inputs), the circuit to prove it, and its encoding.
struct Instance<C> {
    statement: Vec<veil_primitives::Fr>,
    circuit: C,
    encode: Box<dyn Fn(Proof) -> Vec<u8>>,
}

/// Proves and verifies `runs` statements of `keys.circuit`, each run
/// reported to `progress`.
fn bench_one<C>(
    keys: &SetupKeys,
    runs: u32,
    progress: &dyn Progress,
    make: &dyn Fn(u64) -> anyhow::Result<Instance<C>>,
) -> anyhow::Result<(CircuitBench, Vec<(Vec<veil_primitives::Fr>, Proof)>)>
where
    C: groth16::ConstraintSynthesizer<veil_primitives::Fr>,
{
    let pvk = PreparedKey::new(&keys.pk.vk);
    // Built once per circuit, as `Prover` does: the matrices are cached.
    let ctx = ProvingContext::new(keys.pk.clone(), keys.record.reduction, make(0)?.circuit)?;
    let mut rng = OsRng;
    let (mut prove, mut verify, mut proofs) = (Vec::new(), Vec::new(), Vec::new());
    let mut token_bytes = 0;
    let step = format!("{}: proving", keys.circuit);
    for run in 0..u64::from(runs) {
        progress.report(Step::new(&step, run, u64::from(runs)));
        let inst = make(run)?;
        let t = Instant::now();
        let proof = ctx
            .prove(inst.circuit, &inst.statement, &mut rng)
            .with_context(|| format!("proving {}", keys.circuit))?;
        prove.push(ms(t.elapsed()));
        let t = Instant::now();
        pvk.verify(&inst.statement, &proof)
            .map_err(|e| anyhow!("{} proof did not verify: {e}", keys.circuit))?;
        verify.push(ms(t.elapsed()));
        token_bytes = (inst.encode)(proof.clone()).len();
        proofs.push((inst.statement, proof));
    }
    progress.report(Step::new(&step, u64::from(runs), u64::from(runs)));
    let inst = make(u64::from(runs))?;
    let (_, profile) = ctx.prove_profiled(inst.circuit, &inst.statement, &mut rng)?;
    Ok((
        CircuitBench {
            id: keys.circuit,
            constraints: keys.record.constraints,
            setup_ms: ms(keys.setup_time),
            prove_ms: median(prove),
            verify_ms: median(verify),
            proof_bytes: Proof::BYTES,
            token_bytes,
            profile,
        },
        proofs,
    ))
}

fn access_instance(seed: u64) -> anyhow::Result<Instance<veil_circuits::access::AccessCircuit>> {
    let (public, private) = samples::access(seed, 100 + seed).ok_or_else(|| anyhow!("sample"))?;
    Ok(Instance {
        statement: public.to_field_elements(),
        circuit: veil_circuits::access::AccessCircuit::new(&public, &private),
        encode: Box::new(move |proof| AccessToken { public, proof }.to_bytes()),
    })
}

fn withdraw_instance(
    seed: u64,
) -> anyhow::Result<Instance<veil_circuits::withdraw::WithdrawCircuit>> {
    let (public, private) = samples::withdraw(seed, 100 + seed).ok_or_else(|| anyhow!("sample"))?;
    Ok(Instance {
        statement: public.to_field_elements(),
        circuit: veil_circuits::withdraw::WithdrawCircuit::new(&public, &private),
        encode: Box::new(move |proof| WithdrawProof { public, proof }.to_bytes()),
    })
}

fn settle_instance<const K: usize>(
    seed: u64,
) -> anyhow::Result<Instance<veil_circuits::settle::SettleCircuit<K>>> {
    let (public, slots) = samples::settle(K, seed).ok_or_else(|| anyhow!("sample"))?;
    let k = SettleSize::new(K as u64)?;
    Ok(Instance {
        statement: public.to_field_elements(),
        circuit: veil_circuits::settle::SettleCircuit::<K>::from_slots(public.clone(), &slots)
            .map_err(|e| anyhow!("{e}"))?,
        encode: Box::new(move |proof| {
            SettleProof {
                k,
                public: public.clone(),
                proof,
            }
            .to_bytes()
        }),
    })
}

/// A batched append of 64 leaves; its message is the proof alone (the
/// statement travels as calldata, docs/evm.md §4).
fn tree_insert_64_instance(
    seed: u64,
) -> anyhow::Result<Instance<veil_circuits::tree_insert::TreeInsertCircuit<64>>> {
    let (public, siblings) = samples::tree_insert_64(seed).ok_or_else(|| anyhow!("sample"))?;
    Ok(Instance {
        statement: public.to_field_elements(),
        circuit: veil_circuits::tree_insert::TreeInsertCircuit::<64>::new(public, siblings)
            .map_err(|e| anyhow!("{e}"))?,
        encode: Box::new(|proof: Proof| proof.to_bytes().to_vec()),
    })
}

fn answer_instance(seed: u64) -> anyhow::Result<Instance<veil_circuits::answer::AnswerCircuit>> {
    let (public, private) = samples::answer(seed).ok_or_else(|| anyhow!("sample"))?;
    Ok(Instance {
        statement: public.to_field_elements(),
        circuit: veil_circuits::answer::AnswerCircuit::new(&public, &private),
        encode: Box::new(|proof: Proof| proof.to_bytes().to_vec()),
    })
}

/// Batch verification of 64 access proofs: milliseconds per proof.
fn batch_verify_64(
    keys: &SetupKeys,
    proofs: &[(Vec<veil_primitives::Fr>, Proof)],
) -> anyhow::Result<f64> {
    let pvk = PreparedKey::new(&keys.pk.vk);
    let mut rng = OsRng;
    // Re-randomise the measured proofs into 64 distinct valid ones.
    let batch: Vec<(Vec<veil_primitives::Fr>, Proof)> = (0..64)
        .filter_map(|i| {
            let (s, p) = &proofs[i % proofs.len()];
            p.rerandomize(&keys.pk.vk, &mut rng).map(|q| (s.clone(), q))
        })
        .collect();
    let items: Vec<(&[veil_primitives::Fr], &Proof)> =
        batch.iter().map(|(s, p)| (s.as_slice(), p)).collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        pvk.batch_verify(&items, &mut rng)
            .map_err(|e| anyhow!("batch of honest proofs rejected: {e}"))?;
        times.push(ms(t.elapsed()) / items.len() as f64);
    }
    Ok(median(times))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let circuits = super::setup::parse_circuits(&args.circuits)?;
    // Benchmarks measure the setup too: they make and use development
    // keys whatever --dev-keys says; nothing they prove leaves the process.
    super::keys::print_insecure_banner();
    let mut results: Vec<CircuitBench> = Vec::new();
    let mut samples = Vec::new();
    let mut batch_ms = None;
    let progress = Reporter::new(args.json);
    for id in circuits {
        progress.stage(&format!("{id}: development setup"));
        let keys = params::dev_keys(id).with_context(|| format!("setup of {id}"))?;
        let (runs, p) = (args.runs, &progress);
        let (b, proofs) = match id {
            CircuitId::Access => bench_one(&keys, runs, p, &access_instance)?,
            CircuitId::Withdraw => bench_one(&keys, runs, p, &withdraw_instance)?,
            CircuitId::Settle(k) if k == SettleSize::K1 => {
                bench_one(&keys, runs, p, &settle_instance::<1>)?
            }
            CircuitId::Settle(k) if k == SettleSize::K8 => {
                bench_one(&keys, runs, p, &settle_instance::<8>)?
            }
            CircuitId::Settle(_) => bench_one(&keys, runs, p, &settle_instance::<64>)?,
            CircuitId::TreeInsert64 => bench_one(&keys, runs, p, &tree_insert_64_instance)?,
            CircuitId::Answer => bench_one(&keys, runs, p, &answer_instance)?,
        };
        if id == CircuitId::Access {
            progress.stage("access: batch verification of 64 proofs");
            batch_ms = Some(batch_verify_64(&keys, &proofs)?);
        }
        if let Some((statement, proof)) = proofs.into_iter().next() {
            samples.push((id, statement, proof));
        }
        results.push(b);
    }
    progress.stage("merkle appends and vouchers");
    let appends = veil_primitives::merkle::bench_append_rate(20_000);
    let voucher = veil_vouchers::bench_summary(20);
    progress.stage("evm gas (revm)");
    let evm = evm_report(&samples)?;
    let peer = match &args.peer {
        Some(script) => {
            progress.stage(&format!("peer: {}", script.display()));
            run_peer(script)?
        }
        None => Json::Null,
    };
    progress.finish();

    let mut circuits_json = BTreeMap::new();
    for b in &results {
        let mut o = json!({
            "constraints": b.constraints,
            "setup_ms": r3(b.setup_ms),
            "prove_ms": r3(b.prove_ms),
            "verify_ms": r3(b.verify_ms),
            "proof_bytes": b.proof_bytes,
            "token_bytes": b.token_bytes,
            "prove_profile_ms": {
                "synthesis": r3(ms(b.profile.synthesis)),
                "witness_map_fft": r3(ms(b.profile.witness_map)),
                "msm": r3(ms(b.profile.proving.saturating_sub(b.profile.witness_map))),
            },
            "msm_profile": msm_json(&b.profile.msm),
        });
        if let CircuitId::Settle(k) = b.id {
            o["sessions"] = json!(k.get());
            o["prove_ms_per_session"] = json!(r3(b.prove_ms / k.get() as f64));
        }
        circuits_json.insert(b.id.name().to_owned(), o);
    }
    let report = json!({
        "circuits": circuits_json,
        "batch_verify_64_ms_per_proof": batch_ms.map(r3),
        "merkle_appends_per_s": appends.round(),
        "voucher": {
            "spend_ms": r3(voucher.spend_ms),
            "verify_reissue_ms": r3(voucher.verify_reissue_ms),
            "spend_bytes": voucher.spend_bytes,
        },
        "evm": evm,
        "peer": peer,
        "runs": args.runs,
        "insecure_dev_setup": true,
    });
    if let Some(dir) = &args.plot {
        let written = plot::write(dir, &report)?;
        if !args.json {
            for path in written {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    print_table(&results, batch_ms, appends, &report["voucher"]);
    println!("evm gas (revm, Cancun): {}", report["evm"]);
    if !report["peer"].is_null() {
        println!("peer: {}", report["peer"]);
    }
    Ok(())
}

/// Runs the peer kit's `script` and parses the JSON object on the last
/// line of its output (`shared/peer/README.md`); it must hold `prove_ms`.
fn run_peer(script: &std::path::Path) -> anyhow::Result<Json> {
    let out = std::process::Command::new(script)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running the peer {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "the peer {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let peer: Json = serde_json::from_str(line)
        .with_context(|| format!("the peer's last line is not JSON: {line:?}"))?;
    if !peer["prove_ms"].is_number() {
        anyhow::bail!("the peer's report has no prove_ms: {peer}");
    }
    Ok(peer)
}

/// Gas of the verifiers on the benchmark's proofs, of the Poseidon
/// contracts and of the ledger contract's operations built so far
/// (docs/evm.md §4.5, §5.4, §7.4), executed in revm
/// (`veil_evm::measure`). The settle of 64 sessions (64 access proofs and a
/// `settle_64` proof) is measured when `settle_64` is among the benchmarked
/// circuits, else `null`.
fn evm_report(samples: &[(CircuitId, Vec<veil_primitives::Fr>, Proof)]) -> anyhow::Result<Json> {
    use veil_evm::measure::{Gas, ledger_gas, poseidon_gas, settle_gas, verify_gas};
    let gas = |g: Gas| json!({ "tx": g.tx, "execution": g.execution });
    let mut verify = BTreeMap::new();
    for (id, statement, proof) in samples {
        let g =
            verify_gas(*id, proof, statement).with_context(|| format!("EVM verifier of {id}"))?;
        verify.insert(id.name().to_owned(), gas(g));
    }
    let mut poseidon = BTreeMap::new();
    for t in veil_evm::poseidon::WIDTHS {
        poseidon.insert(format!("t{t}"), gas(poseidon_gas(t)?));
    }
    let store = veil_proofs::ParamStore::open_default(veil_proofs::KeySet::Dev)?;
    let ids = [
        CircuitId::TreeInsert64,
        CircuitId::Access,
        CircuitId::Withdraw,
    ];
    let prover = veil_proofs::Prover::from_store(&store, &ids, None)
        .context("the tree_insert_64, access and withdraw keys")?;
    let ledger =
        ledger_gas(&prover, OPEN_BATCH, &mut OsRng).context("the ledger contract's gas")?;
    let k64 = CircuitId::Settle(SettleSize::K64);
    let settle_64 = if samples.iter().any(|(id, _, _)| *id == k64) {
        let ids = [CircuitId::TreeInsert64, CircuitId::Access, k64];
        let prover = veil_proofs::Prover::from_store(&store, &ids, None)
            .context("the tree_insert_64, access and settle_64 keys")?;
        let g = settle_gas(&prover, 64, 64, &mut OsRng).context("the settle gas")?;
        json!({
            "sessions": g.sessions,
            "tx": g.settle.tx,
            "execution": g.settle.execution,
            "per_session": g.per_session(),
        })
    } else {
        Json::Null
    };
    Ok(json!({
        "verify_proof_gas": verify,
        "poseidon_hash_gas": poseidon,
        "deposit_gas": ledger.deposit.tx,
        "deposit_gas_all_in": ledger.deposit_all_in,
        "append_batch_gas": gas(ledger.append_batch),
        "open_gas": ledger.open.tx,
        "open_gas_per_session_batched": ledger.open_per_session_batched(),
        "open_batch_size": ledger.open_batch_size,
        "open_batch_gas": gas(ledger.open_batch),
        "withdraw_gas": ledger.withdraw.tx,
        "reclaim_gas": ledger.reclaim.tx,
        "settle_gas_per_session_k64": settle_64.get("per_session").cloned().unwrap_or(Json::Null),
        "settle_64_gas": settle_64,
        "ledger_contract": "stage 4: deposits, node registration, batched tree appends, escrows (one or batched), settlement, reclaim, withdrawal (docs/evm.md §5, §7)",
    }))
}

/// Tokens the EVM measurement opens in one `openEscrows` (docs/evm.md §5.4).
const OPEN_BATCH: usize = 16;

fn print_table(results: &[CircuitBench], batch_ms: Option<f64>, appends: f64, voucher: &Json) {
    println!(
        "{:<10} {:>11} {:>10} {:>10} {:>10} {:>7} {:>7} {:>14}   prove = synth + fft + msm (ms)",
        "circuit",
        "constraints",
        "setup ms",
        "prove ms",
        "verify ms",
        "proof B",
        "msg B",
        "prove/session"
    );
    for b in results {
        let per_session = match b.id {
            CircuitId::Settle(k) => format!("{:.1}", b.prove_ms / k.get() as f64),
            _ => "-".into(),
        };
        println!(
            "{:<10} {:>11} {:>10.0} {:>10.1} {:>10.2} {:>7} {:>7} {:>14}   {:.1} + {:.1} + {:.1}",
            b.id.name(),
            b.constraints,
            b.setup_ms,
            b.prove_ms,
            b.verify_ms,
            b.proof_bytes,
            b.token_bytes,
            per_session,
            ms(b.profile.synthesis),
            ms(b.profile.witness_map),
            ms(b.profile.proving.saturating_sub(b.profile.witness_map)),
        );
    }
    for b in results {
        let m = &b.profile.msm;
        let runs = [
            ("A", m.a_g1),
            ("B1", m.b_g1),
            ("B2", m.b_g2),
            ("H", m.h_g1),
            ("L", m.l_g1),
        ];
        let line: Vec<String> = runs
            .iter()
            .map(|(n, r)| format!("{n} {:.1} ms ({}/{} wide)", ms(r.time), r.wide, r.terms))
            .collect();
        println!("{:<10} msm: {}", b.id.name(), line.join(", "));
    }
    if let Some(b) = batch_ms {
        println!(
            "batch verify (64 access proofs): {b:.3} ms/proof = {:.0} proofs/s",
            1e3 / b
        );
    }
    println!("merkle appends: {appends:.0}/s");
    println!(
        "voucher: spend {} ms, verify+reissue {} ms, spend {} bytes",
        voucher["spend_ms"], voucher["verify_reissue_ms"], voucher["spend_bytes"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}

/// The five MSMs of a profiled proof: time, terms, non-zero and wide
/// terms (`veil_proofs::assemble::MsmRun`).
fn msm_json(m: &veil_proofs::assemble::MsmTimes) -> serde_json::Value {
    let run = |r: veil_proofs::assemble::MsmRun| json!({"ms": r3(ms(r.time)), "terms": r.terms, "nonzero": r.nonzero, "wide": r.wide});
    json!({
        "a_g1": run(m.a_g1),
        "b_g1": run(m.b_g1),
        "b_g2": run(m.b_g2),
        "h_g1": run(m.h_g1),
        "l_g1": run(m.l_g1),
    })
}
