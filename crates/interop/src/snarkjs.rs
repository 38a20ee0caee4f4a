//! snarkjs' JSON files for Groth16 over BN254 (`bn128` in snarkjs):
//! `verification_key.json`, `proof.json` and `public.json`, both ways.
//!
//! The shapes are those snarkjs 0.7.6 writes (`zkey_export_verificationkey.js`,
//! `groth16_prove.js`): numbers are canonical decimal strings; a G1 point is
//! `[x, y, "1"]`, a G2 point `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]`
//! (`c0 + c1·u`), a target-group element `[[a.c0, a.c1, a.c2], [b.c0, b.c1,
//! b.c2]]` of `Fq2` pairs (the tower `Fq12 = Fq6[w]`, `Fq6 = Fq2[v]`, the
//! same as arkworks'). Decoding accepts exactly that: every coordinate below
//! `p`, `z = 1`, every point on its curve, in the prime-order subgroup and
//! not at infinity, every public input below `r`; anything else is refused
//! with the place and the reason.

use ark_bn254::{Bn254, Fq, Fq2, Fq6, Fq12, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ec::pairing::Pairing;
use ark_ff::{One, Zero};
use ark_groth16::VerifyingKey;
use ark_serialize::CanonicalSerialize;
use serde::{Deserialize, Serialize};
use veil_proofs::Proof;

use crate::decimal::{parse_at, to_decimal};
use crate::error::InteropError;

/// snarkjs' name of the protocol.
pub const PROTOCOL: &str = "groth16";
/// snarkjs' name of BN254.
pub const CURVE: &str = "bn128";

type G1Json = [String; 3];
type Fq2Json = [String; 2];
type G2Json = [Fq2Json; 3];
type GtJson = [[Fq2Json; 3]; 2];

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VkJson {
    protocol: String,
    curve: String,
    #[serde(rename = "nPublic")]
    n_public: usize,
    vk_alpha_1: G1Json,
    vk_beta_2: G2Json,
    vk_gamma_2: G2Json,
    vk_delta_2: G2Json,
    vk_alphabeta_12: GtJson,
    #[serde(rename = "IC")]
    ic: Vec<G1Json>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofJson {
    pi_a: G1Json,
    pi_b: G2Json,
    pi_c: G1Json,
    protocol: String,
    curve: String,
}

/// snarkjs' layout: one-space indentation.
fn pretty<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serialising strings, numbers and arrays into memory cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8_lossy(&out).into_owned()
}

fn json<T: for<'de> Deserialize<'de>>(text: &str, file: &'static str) -> Result<T, InteropError> {
    serde_json::from_str(text).map_err(|e| InteropError::Json {
        file,
        reason: e.to_string(),
    })
}

fn check_name(
    file: &'static str,
    field: &'static str,
    found: &str,
    expected: &str,
) -> Result<(), InteropError> {
    if found == expected {
        return Ok(());
    }
    Err(InteropError::Unsupported {
        file,
        field,
        expected: format!("{expected:?}"),
        found: format!("{:?}", found.chars().take(32).collect::<String>()),
    })
}

fn fq2_json(x: &Fq2) -> Fq2Json {
    [to_decimal(&x.c0), to_decimal(&x.c1)]
}

fn g1_json(p: &G1Affine) -> G1Json {
    match p.xy() {
        Some((x, y)) => [to_decimal(&x), to_decimal(&y), "1".into()],
        None => ["0".into(), "1".into(), "0".into()],
    }
}

fn g2_json(p: &G2Affine) -> G2Json {
    match p.xy() {
        Some((x, y)) => [fq2_json(&x), fq2_json(&y), fq2_json(&Fq2::one())],
        None => [
            fq2_json(&Fq2::zero()),
            fq2_json(&Fq2::one()),
            fq2_json(&Fq2::zero()),
        ],
    }
}

fn gt_json(x: &Fq12) -> GtJson {
    let f6 = |y: &Fq6| [fq2_json(&y.c0), fq2_json(&y.c1), fq2_json(&y.c2)];
    [f6(&x.c0), f6(&x.c1)]
}

fn fq(s: &str, what: &str) -> Result<Fq, InteropError> {
    parse_at(s, || what.to_string())
}

fn fq2(v: &Fq2Json, what: &str) -> Result<Fq2, InteropError> {
    Ok(Fq2::new(
        fq(&v[0], &format!("{what}.c0"))?,
        fq(&v[1], &format!("{what}.c1"))?,
    ))
}

fn point_err(what: &str, reason: &'static str) -> InteropError {
    InteropError::Point {
        what: what.to_string(),
        reason,
    }
}

/// A G1 point: `z = 1`, on the curve (G1 has cofactor 1), not infinity.
fn g1(v: &G1Json, what: &str) -> Result<G1Affine, InteropError> {
    let x = fq(&v[0], &format!("{what}.x"))?;
    let y = fq(&v[1], &format!("{what}.y"))?;
    let z = fq(&v[2], &format!("{what}.z"))?;
    if z.is_zero() {
        return Err(point_err(what, "point at infinity"));
    }
    if !z.is_one() {
        return Err(point_err(
            what,
            "z must be \"1\" (affine, as snarkjs writes)",
        ));
    }
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(point_err(what, "not on the curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(point_err(what, "not in the prime-order subgroup"));
    }
    Ok(p)
}

/// A G2 point: `z = 1`, on the twist, in the prime-order subgroup, not
/// infinity.
fn g2(v: &G2Json, what: &str) -> Result<G2Affine, InteropError> {
    let x = fq2(&v[0], &format!("{what}.x"))?;
    let y = fq2(&v[1], &format!("{what}.y"))?;
    let z = fq2(&v[2], &format!("{what}.z"))?;
    if z.is_zero() {
        return Err(point_err(what, "point at infinity"));
    }
    if !z.is_one() {
        return Err(point_err(
            what,
            "z must be [\"1\", \"0\"] (affine, as snarkjs writes)",
        ));
    }
    let p = G2Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(point_err(what, "not on the curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(point_err(what, "not in the prime-order subgroup"));
    }
    Ok(p)
}

fn gt(v: &GtJson, what: &str) -> Result<Fq12, InteropError> {
    let f6 = |y: &[Fq2Json; 3], i: usize| -> Result<Fq6, InteropError> {
        Ok(Fq6::new(
            fq2(&y[0], &format!("{what}[{i}][0]"))?,
            fq2(&y[1], &format!("{what}[{i}][1]"))?,
            fq2(&y[2], &format!("{what}[{i}][2]"))?,
        ))
    };
    Ok(Fq12::new(f6(&v[0], 0)?, f6(&v[1], 1)?))
}

/// `verification_key.json` of `vk`, as `snarkjs zkey export
/// verificationkey` writes it (including `vk_alphabeta_12`).
pub fn vk_to_json(vk: &VerifyingKey<Bn254>) -> String {
    let alphabeta = Bn254::pairing(vk.alpha_g1, vk.beta_g2).0;
    pretty(&VkJson {
        protocol: PROTOCOL.into(),
        curve: CURVE.into(),
        n_public: vk.gamma_abc_g1.len().saturating_sub(1),
        vk_alpha_1: g1_json(&vk.alpha_g1),
        vk_beta_2: g2_json(&vk.beta_g2),
        vk_gamma_2: g2_json(&vk.gamma_g2),
        vk_delta_2: g2_json(&vk.delta_g2),
        vk_alphabeta_12: gt_json(&alphabeta),
        ic: vk.gamma_abc_g1.iter().map(g1_json).collect(),
    })
}

/// Parses a snarkjs Groth16/bn128 `verification_key.json`: every point
/// validated, `IC` of length `nPublic + 1`, `vk_alphabeta_12` equal to
/// `e(vk_alpha_1, vk_beta_2)`. Compare the number of public inputs with the
/// circuit's before use.
pub fn vk_from_json(text: &str) -> Result<VerifyingKey<Bn254>, InteropError> {
    const FILE: &str = "verification_key.json";
    let v: VkJson = json(text, FILE)?;
    check_name(FILE, "protocol", &v.protocol, PROTOCOL)?;
    check_name(FILE, "curve", &v.curve, CURVE)?;
    if v.ic.len() != v.n_public.saturating_add(1) {
        return Err(InteropError::PublicCount {
            n_public: v.n_public,
            ic: v.ic.len(),
        });
    }
    let vk = VerifyingKey {
        alpha_g1: g1(&v.vk_alpha_1, "vk_alpha_1")?,
        beta_g2: g2(&v.vk_beta_2, "vk_beta_2")?,
        gamma_g2: g2(&v.vk_gamma_2, "vk_gamma_2")?,
        delta_g2: g2(&v.vk_delta_2, "vk_delta_2")?,
        gamma_abc_g1: v
            .ic
            .iter()
            .enumerate()
            .map(|(i, p)| g1(p, &format!("IC[{i}]")))
            .collect::<Result<_, _>>()?,
    };
    let alphabeta = gt(&v.vk_alphabeta_12, "vk_alphabeta_12")?;
    if Bn254::pairing(vk.alpha_g1, vk.beta_g2).0 != alphabeta {
        return Err(InteropError::AlphaBeta);
    }
    Ok(vk)
}

/// `proof.json` of `proof`, as `snarkjs groth16 prove` writes it.
pub fn proof_to_json(proof: &Proof) -> String {
    let p = proof.as_ark();
    pretty(&ProofJson {
        pi_a: g1_json(&p.a),
        pi_b: g2_json(&p.b),
        pi_c: g1_json(&p.c),
        protocol: PROTOCOL.into(),
        curve: CURVE.into(),
    })
}

/// Parses a snarkjs Groth16/bn128 `proof.json` into a veil [`Proof`]
/// (every point validated; the result is what [`Proof::from_bytes`] accepts).
pub fn proof_from_json(text: &str) -> Result<Proof, InteropError> {
    const FILE: &str = "proof.json";
    let v: ProofJson = json(text, FILE)?;
    check_name(FILE, "protocol", &v.protocol, PROTOCOL)?;
    check_name(FILE, "curve", &v.curve, CURVE)?;
    let a = g1(&v.pi_a, "pi_a")?;
    let b = g2(&v.pi_b, "pi_b")?;
    let c = g1(&v.pi_c, "pi_c")?;
    let mut bytes = Vec::with_capacity(Proof::BYTES);
    // Valid affine points serialise into a Vec without error.
    let _ = a.serialize_compressed(&mut bytes);
    let _ = b.serialize_compressed(&mut bytes);
    let _ = c.serialize_compressed(&mut bytes);
    // Re-checks every point: a `Proof` is only ever made by its decoder.
    Ok(Proof::from_bytes(&bytes)?)
}

/// `public.json`: the public inputs in the circuit's order (veil's statement
/// order, `to_field_elements`), decimal.
pub fn public_to_json(inputs: &[Fr]) -> String {
    pretty(&inputs.iter().map(to_decimal).collect::<Vec<_>>())
}

/// Parses `public.json`: an array of canonical decimals below `r`.
pub fn public_from_json(text: &str) -> Result<Vec<Fr>, InteropError> {
    let v: Vec<String> = json(text, "public.json")?;
    v.iter()
        .enumerate()
        .map(|(i, s)| parse_at(s, || format!("public.json[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::{Field, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use serde_json::Value;
    use veil_proofs::CircuitId;
    use veil_proofs::params::ParamStore;

    /// `e(G1, G2)` and `G2` as snarkjs 0.7.6 prints them
    /// (`Gt.toObject(pairing(G1.g, G2.g))`, `G2.toObject(G2.g)`): pins the
    /// coordinate order and the `Fq12` tower.
    const SNARKJS_E_G1_G2: &str = r#"[[["17264119758069723980713015158403419364912226240334615592005620718956030922389","1300711225518851207585954685848229181392358478699795190245709208408267917898"],["8894217292938489450175280157304813535227569267786222825147475294561798790624","1829859855596098509359522796979920150769875799037311140071969971193843357227"],["4968700049505451466697923764727215585075098085662966862137174841375779106779","12814315002058128940449527172080950701976819591738376253772993495204862218736"]],[["4233474252585134102088637248223601499779641130562251948384759786370563844606","9420544134055737381096389798327244442442230840902787283326002357297404128074"],["13457906610892676317612909831857663099224588803620954529514857102808143524905","5122435115068592725432309312491733755581898052459744089947319066829791570839"],["8891987925005301465158626530377582234132838601606565363865129986128301774627","440796048150724096437130979851431985500142692666486515369083499585648077975"]]]"#;
    const SNARKJS_G2: &str = r#"[["10857046999023057135944570762232829481370756359578518086990519993285655852781","11559732032986387107991004021392285783925812861821192530917403151452391805634"],["8495653923123431417604973247489272438418190587263600148770280649306958101930","4082367875863433681332203403145435568316851327593401208105741076214120093531"],["1","0"]]"#;

    #[test]
    fn target_group_and_g2_layout_match_snarkjs() {
        let e = Bn254::pairing(G1Affine::generator(), G2Affine::generator()).0;
        let ours = serde_json::to_string(&gt_json(&e)).unwrap();
        assert_eq!(ours, SNARKJS_E_G1_G2);
        assert_eq!(
            serde_json::to_string(&g2_json(&G2Affine::generator())).unwrap(),
            SNARKJS_G2
        );
        let parsed: GtJson = serde_json::from_str(SNARKJS_E_G1_G2).unwrap();
        assert_eq!(gt(&parsed, "gt").unwrap(), e);
        assert_eq!(
            g1_json(&G1Affine::generator()),
            ["1".to_string(), "2".into(), "1".into()]
        );
        assert_eq!(
            g1_json(&G1Affine::zero()),
            ["0".to_string(), "1".into(), "0".into()]
        );
    }

    fn access_vk() -> VerifyingKey<Bn254> {
        let dir = tempfile::tempdir().unwrap();
        ParamStore::open_dir(dir.path(), veil_proofs::KeySet::Dev)
            .unwrap()
            .verifying_key(CircuitId::Access, None)
            .unwrap()
    }

    fn vk_value() -> Value {
        serde_json::from_str(&vk_to_json(&access_vk())).unwrap()
    }

    fn parse_vk(v: &Value) -> Result<VerifyingKey<Bn254>, InteropError> {
        vk_from_json(&v.to_string())
    }

    #[test]
    fn vk_roundtrip() {
        let vk = access_vk();
        let text = vk_to_json(&vk);
        assert_eq!(vk_from_json(&text).unwrap(), vk);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["nPublic"], 9);
        assert_eq!(v["IC"].as_array().unwrap().len(), 10);
        assert_eq!(v["protocol"], "groth16");
        assert_eq!(v["curve"], "bn128");
    }

    #[test]
    fn vk_truncated_or_malformed_json_is_refused() {
        let text = vk_to_json(&access_vk());
        for cut in [0, 1, text.len() / 2, text.len() - 2] {
            assert!(
                matches!(vk_from_json(&text[..cut]), Err(InteropError::Json { .. })),
                "cut {cut}"
            );
        }
        let mut v = vk_value();
        v["extra"] = Value::from(1);
        assert!(matches!(parse_vk(&v), Err(InteropError::Json { .. })));
        let mut v = vk_value();
        v.as_object_mut().unwrap().remove("vk_delta_2");
        assert!(matches!(parse_vk(&v), Err(InteropError::Json { .. })));
        let mut v = vk_value();
        v["vk_alpha_1"][0] = Value::from(1);
        assert!(
            matches!(parse_vk(&v), Err(InteropError::Json { .. })),
            "a number, not a string"
        );
        let mut v = vk_value();
        v["vk_beta_2"][0].as_array_mut().unwrap().pop();
        assert!(
            matches!(parse_vk(&v), Err(InteropError::Json { .. })),
            "Fq2 with one coordinate"
        );
    }

    #[test]
    fn vk_wrong_protocol_curve_or_npublic_is_refused() {
        for (field, bad) in [("protocol", "plonk"), ("curve", "bls12381")] {
            let mut v = vk_value();
            v[field] = Value::from(bad);
            assert!(
                matches!(parse_vk(&v), Err(InteropError::Unsupported { .. })),
                "{field}"
            );
        }
        for n in [0, 8, 10, 1000] {
            let mut v = vk_value();
            v["nPublic"] = Value::from(n);
            assert!(
                matches!(parse_vk(&v), Err(InteropError::PublicCount { ic: 10, .. })),
                "nPublic {n}"
            );
        }
        let mut v = vk_value();
        v["nPublic"] = Value::from(-1);
        assert!(parse_vk(&v).is_err());
        let mut v = vk_value();
        v["IC"].as_array_mut().unwrap().pop();
        assert!(matches!(
            parse_vk(&v),
            Err(InteropError::PublicCount { n_public: 9, ic: 9 })
        ));
    }

    /// An edit of a parsed JSON file.
    type Edit = Box<dyn Fn(&mut Value)>;

    fn bump(s: &Value) -> Value {
        // y + 1: on no curve point with the same x (y and -y are the only ones).
        let y: Fq = crate::decimal::from_decimal(s.as_str().unwrap()).unwrap();
        Value::from(to_decimal(&(y + Fq::ONE)))
    }

    #[test]
    fn vk_bad_points_are_refused() {
        let p = "21888242871839275222246405745257275088696311157297823662689037894645226208583";
        let cases: Vec<(&str, Edit)> = vec![
            (
                "off-curve G1",
                Box::new(|v| v["IC"][3][1] = bump(&v["IC"][3][1])),
            ),
            (
                "off-curve G2",
                Box::new(|v| v["vk_gamma_2"][1][0] = bump(&v["vk_gamma_2"][1][0])),
            ),
            (
                "x ≥ p",
                Box::new(move |v| v["vk_alpha_1"][0] = Value::from(p)),
            ),
            (
                "G2 coordinate ≥ p",
                Box::new(move |v| v["vk_delta_2"][0][1] = Value::from(p)),
            ),
            (
                "leading zero",
                Box::new(|v| {
                    let s = format!("0{}", v["IC"][0][0].as_str().unwrap());
                    v["IC"][0][0] = Value::from(s);
                }),
            ),
            (
                "infinity",
                Box::new(|v| v["IC"][1] = serde_json::json!(["0", "1", "0"])),
            ),
            ("jacobian z", Box::new(|v| v["IC"][1][2] = Value::from("2"))),
            (
                "G2 z",
                Box::new(|v| v["vk_beta_2"][2] = serde_json::json!(["1", "1"])),
            ),
        ];
        for (name, edit) in cases {
            let mut v = vk_value();
            edit(&mut v);
            let err = parse_vk(&v).unwrap_err();
            assert!(
                matches!(
                    err,
                    InteropError::Point { .. } | InteropError::Number { .. }
                ),
                "{name}: {err}"
            );
        }
    }

    /// A point on the twist outside the prime-order subgroup.
    fn g2_off_subgroup() -> G2Affine {
        let mut x = Fq2::new(Fq::from(1u64), Fq::from(1u64));
        loop {
            if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false)
                && !p.is_in_correct_subgroup_assuming_on_curve()
            {
                return p;
            }
            x += Fq2::ONE;
        }
    }

    #[test]
    fn vk_g2_outside_subgroup_and_wrong_alphabeta_are_refused() {
        let mut v = vk_value();
        v["vk_delta_2"] = serde_json::to_value(g2_json(&g2_off_subgroup())).unwrap();
        let err = parse_vk(&v).unwrap_err();
        assert!(
            matches!(&err, InteropError::Point { reason, .. } if reason.contains("subgroup")),
            "{err}"
        );

        let mut v = vk_value();
        let other = Bn254::pairing(G1Affine::generator(), G2Affine::generator()).0;
        v["vk_alphabeta_12"] = serde_json::to_value(gt_json(&other)).unwrap();
        assert!(matches!(parse_vk(&v), Err(InteropError::AlphaBeta)));
    }

    fn random_proof(seed: u64) -> Proof {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut bytes = Vec::new();
        G1Projective::rand(&mut rng)
            .into_affine()
            .serialize_compressed(&mut bytes)
            .unwrap();
        G2Projective::rand(&mut rng)
            .into_affine()
            .serialize_compressed(&mut bytes)
            .unwrap();
        G1Projective::rand(&mut rng)
            .into_affine()
            .serialize_compressed(&mut bytes)
            .unwrap();
        Proof::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn proof_roundtrip_and_refusals() {
        let proof = random_proof(1);
        let text = proof_to_json(&proof);
        assert_eq!(proof_from_json(&text).unwrap(), proof);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["protocol"], "groth16");

        assert!(matches!(
            proof_from_json(&text[..text.len() - 3]),
            Err(InteropError::Json { .. })
        ));
        let edits: Vec<Edit> = vec![
            Box::new(|v| v["pi_a"][1] = bump(&v["pi_a"][1])),
            Box::new(|v| {
                v["pi_c"][0] = Value::from(
                    "21888242871839275222246405745257275088696311157297823662689037894645226208583",
                )
            }),
            Box::new(|v| v["pi_b"] = serde_json::to_value(g2_json(&g2_off_subgroup())).unwrap()),
            Box::new(|v| v["pi_c"] = serde_json::json!(["0", "1", "0"])),
            Box::new(|v| v["protocol"] = Value::from("plonk")),
            Box::new(|v| v["curve"] = Value::from("bls12381")),
            Box::new(|v| v["pi_a"] = serde_json::json!(["1", "2"])),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut w = v.clone();
            edit(&mut w);
            assert!(proof_from_json(&w.to_string()).is_err(), "edit {i}");
        }
        // G1 generator as pi_a: a valid point, accepted (control).
        let mut w = v.clone();
        w["pi_a"] = serde_json::json!(["1", "2", "1"]);
        assert!(proof_from_json(&w.to_string()).is_ok());
        let _ = G2Projective::generator();
    }

    #[test]
    fn public_roundtrip_and_refusals() {
        let inputs = vec![Fr::from(0u64), Fr::from(7u64), -Fr::ONE];
        let text = public_to_json(&inputs);
        assert_eq!(public_from_json(&text).unwrap(), inputs);
        let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
        for bad in [
            format!(r#"["{r}"]"#),
            r#"["-1"]"#.to_string(),
            r#"[1]"#.to_string(),
            r#"["01"]"#.to_string(),
            r#"{"0": "1"}"#.to_string(),
            r#"["1""#.to_string(),
        ] {
            assert!(public_from_json(&bad).is_err(), "{bad}");
        }
        assert_eq!(public_from_json("[]").unwrap(), Vec::<Fr>::new());
    }
}
