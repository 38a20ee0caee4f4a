//! The curve against a high-precision reference: 10,000 random cases of
//! each operation computed by `curve_reference.py` (Python's `decimal`, 160
//! digits) must match veil-market to the base unit, refusals included
//! (`docs/market.md` §2.3, issue 14's target).

use std::io::Write;
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use veil_market::{Amount, Curve, ReserveRatio};

const CASES: usize = 10_000;

#[derive(Clone, Copy, Debug)]
enum Op {
    Buy,
    BuyExact,
    Sell,
}

#[derive(Debug)]
struct Case {
    op: Op,
    curve: Curve,
    amount: Amount,
}

/// Log-uniform in `[1, 2^bits)`: every magnitude equally often.
fn magnitude(rng: &mut StdRng, bits: u32) -> Amount {
    let b = rng.gen_range(1..=bits);
    let top: Amount = 1 << (b - 1);
    top | (rng.r#gen::<Amount>() & (top - 1))
}

fn ratio(rng: &mut StdRng) -> ReserveRatio {
    let ppm = match rng.gen_range(0..10) {
        0 => ReserveRatio::MIN_PPM,
        1 => ReserveRatio::PPM,
        2 => 500_000,
        _ => rng.gen_range(ReserveRatio::MIN_PPM..=ReserveRatio::PPM),
    };
    ReserveRatio::from_ppm(ppm).unwrap()
}

fn case(rng: &mut StdRng, op: Op) -> Case {
    let reserve = magnitude(rng, 112);
    let supply = magnitude(rng, 112).max(2);
    let float = rng.gen_range(1..supply);
    let curve = Curve::from_state(reserve, supply, float, ratio(rng)).unwrap();
    let amount = match op {
        // Up to 2^20 times the reserve or supply: past the cap sometimes.
        Op::Buy => magnitude(rng, (reserve.ilog2() + 21).min(113)),
        Op::BuyExact => magnitude(rng, (supply.ilog2() + 4).min(113)),
        // Up to the circulating supply, and past it sometimes.
        Op::Sell => magnitude(rng, (supply - float).max(1).ilog2() + 2),
    };
    Case { op, curve, amount }
}

fn ours(c: &Case) -> String {
    let result = match c.op {
        Op::Buy => c.curve.quote_buy(c.amount),
        Op::BuyExact => c.curve.quote_buy_exact(c.amount),
        Op::Sell => c.curve.quote_sell(c.amount),
    };
    result.map_or_else(|_| "err".to_string(), |v| v.to_string())
}

fn json(c: &Case) -> String {
    let op = match c.op {
        Op::Buy => "buy",
        Op::BuyExact => "buy_exact",
        Op::Sell => "sell",
    };
    let cv = &c.curve;
    format!(
        r#"{{"op":"{op}","reserve":"{}","supply":"{}","float":"{}","ppm":"{}","amount":"{}"}}"#,
        cv.reserve(),
        cv.supply(),
        cv.float(),
        cv.ratio().ppm(),
        c.amount
    )
}

fn reference(cases: &[Case]) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/curve_reference.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the curve reference (it is on every CI machine)");
    let input: String = cases.iter().map(|c| json(c) + "\n").collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "curve_reference.py failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_curve_matches_python_decimal_to_the_base_unit() {
    let mut rng = StdRng::seed_from_u64(0x5eed_c0de);
    let cases: Vec<Case> = [Op::Buy, Op::BuyExact, Op::Sell]
        .into_iter()
        .flat_map(|op| (0..CASES).map(move |i| (op, i)))
        .map(|(op, _)| case(&mut rng, op))
        .collect();
    let expected = reference(&cases);
    assert_eq!(expected.len(), cases.len());
    let mismatches: Vec<String> = cases
        .iter()
        .zip(&expected)
        .filter(|(c, want)| ours(c) != **want)
        .map(|(c, want)| format!("{} → ours {} reference {want}", json(c), ours(c)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    // The cases reach both outcomes of every operation.
    for op in ["buy", "buy_exact", "sell"] {
        let of_op = cases
            .iter()
            .zip(&expected)
            .filter(|(c, _)| json(c).contains(&format!("\"{op}\"")));
        let refused = of_op.clone().filter(|(_, e)| *e == "err").count();
        assert!(refused > 0 && refused < CASES, "{op}: {refused} refusals");
    }
}
