//! Where the prover's time goes: synthesis (witness generation), witness
//! map (FFTs) and MSMs, for access and settle_8. Run with
//! `cargo run --release -p veil-proofs --example prove_profile`.

use std::time::Instant;

use rand::rngs::OsRng;
use veil_circuits::access::AccessCircuit;
use veil_circuits::settle::SettleCircuit;
use veil_proofs::groth16::{ProvingContext, prove_profiled};
use veil_proofs::{CircuitId, ParamStore, SettleSize, samples};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev)?;
    let circuits = [CircuitId::Access, CircuitId::Settle(SettleSize::K8)];
    if let Some(w) = store.insecure_warning(&circuits) {
        eprintln!("{w}");
    }
    let runs = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u64);

    let pk = store.proving_key(CircuitId::Access, None)?;
    let ctx = ProvingContext::new(
        pk.clone(),
        store.record().get(CircuitId::Access)?.reduction,
        AccessCircuit::dummy(),
    )?;
    let t = Instant::now();
    let tables = ctx.tables().memory();
    println!(
        "access   fixed-base tables {:.1} MB, built in {:.0} ms",
        tables as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    );
    for i in 0..runs {
        let (public, private) = samples::access(i, 100).ok_or("sample")?;
        let t = Instant::now();
        let (_, p) = ctx.prove_profiled(
            AccessCircuit::new(&public, &private),
            &public.to_field_elements(),
            &mut OsRng,
        )?;
        println!(
            "access   (cached matrices) total {:7.1} ms  witness+check {:7.1}  witness_map {:7.1}  msm {:7.1}",
            t.elapsed().as_secs_f64() * 1e3,
            p.synthesis.as_secs_f64() * 1e3,
            p.witness_map.as_secs_f64() * 1e3,
            (p.proving - p.witness_map).as_secs_f64() * 1e3
        );
    }
    for i in 0..runs {
        let (public, private) = samples::access(i, 100).ok_or("sample")?;
        let t = Instant::now();
        let (_, p) = prove_profiled(
            &pk,
            AccessCircuit::new(&public, &private),
            &public.to_field_elements(),
            &mut OsRng,
        )?;
        println!(
            "access   total {:7.1} ms  synthesis {:7.1}  witness_map {:7.1}  msm {:7.1}",
            t.elapsed().as_secs_f64() * 1e3,
            p.synthesis.as_secs_f64() * 1e3,
            p.witness_map.as_secs_f64() * 1e3,
            (p.proving - p.witness_map).as_secs_f64() * 1e3
        );
    }
    let pk = store.proving_key(CircuitId::Settle(SettleSize::K8), None)?;
    let ctx = ProvingContext::new(
        pk.clone(),
        store
            .record()
            .get(CircuitId::Settle(SettleSize::K8))?
            .reduction,
        SettleCircuit::<8>::dummy(),
    )?;
    let t = Instant::now();
    let tables = ctx.tables().memory();
    println!(
        "settle_8 fixed-base tables {:.1} MB, built in {:.0} ms",
        tables as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    );
    for i in 0..runs.min(3) {
        let (public, slots) = samples::settle(8, i).ok_or("sample")?;
        let c = SettleCircuit::<8>::from_slots(public.clone(), &slots)?;
        let t = Instant::now();
        let (_, p) = ctx.prove_profiled(c, &public.to_field_elements(), &mut OsRng)?;
        println!(
            "settle_8 (cached matrices) total {:7.1} ms  witness+check {:7.1}  witness_map {:7.1}  msm {:7.1}",
            t.elapsed().as_secs_f64() * 1e3,
            p.synthesis.as_secs_f64() * 1e3,
            p.witness_map.as_secs_f64() * 1e3,
            (p.proving - p.witness_map).as_secs_f64() * 1e3
        );
    }
    for i in 0..runs.min(3) {
        let (public, slots) = samples::settle(8, i).ok_or("sample")?;
        let c = SettleCircuit::<8>::from_slots(public.clone(), &slots)?;
        let t = Instant::now();
        let (_, p) = prove_profiled(&pk, c, &public.to_field_elements(), &mut OsRng)?;
        println!(
            "settle_8 total {:7.1} ms  synthesis {:7.1}  witness_map {:7.1}  msm {:7.1}",
            t.elapsed().as_secs_f64() * 1e3,
            p.synthesis.as_secs_f64() * 1e3,
            p.witness_map.as_secs_f64() * 1e3,
            (p.proving - p.witness_map).as_secs_f64() * 1e3
        );
    }
    Ok(())
}
