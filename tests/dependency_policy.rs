//! The licence and duplicate-version policies of the dependency graph
//! (docs/security.md §5; issue 17), from `cargo tree` of the locked
//! workspace: every third-party package in the build has a licence
//! the allow-list of `tools/dependencies.toml` satisfies, and every crate
//! built in more than one version is one the policy records with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn policy() -> toml::Table {
    toml::from_str(&std::fs::read_to_string(root().join("tools/dependencies.toml")).unwrap())
        .unwrap()
}

/// `(name, version, licence)` of every third-party package in the build:
/// `cargo tree` of the workspace with features resolved, normal, build and
/// dev edges, for this (the build's) platform. `cargo metadata`'s resolve
/// would also list optional dependencies no feature turns on. Not
/// `--offline`: CI's build downloads only this platform's packages, and
/// cargo may fetch a manifest it lacks.
fn resolved_packages() -> Vec<(String, String, Option<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-q",
            "--locked",
            "--workspace",
            "-e",
            "normal,build,dev",
        ])
        .args(["--prefix", "none", "--format", "{p}|{l}"])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let packages: BTreeSet<(String, String, Option<String>)> = text
        .lines()
        .filter_map(|line| {
            let (package, licence) = line.trim_end_matches(" (*)").split_once('|')?;
            let mut words = package.split(' ');
            let (name, version) = (words.next()?, words.next()?);
            // Workspace members carry their path: not third-party.
            let local = words.any(|w| w.starts_with("(/"));
            (!local).then(|| {
                (
                    name.into(),
                    version.trim_start_matches('v').into(),
                    Some(licence.to_string()).filter(|l| !l.is_empty()),
                )
            })
        })
        .collect();
    assert!(packages.len() > 100, "cargo tree listed the build graph");
    packages.into_iter().collect()
}

/// Whether an SPDX expression (with crates.io's legacy `/` for OR) is
/// satisfied by the allowed licences: OR needs one side, AND both, and
/// `X WITH exception` counts as `X WITH exception` if allowed, else as `X`.
fn satisfied(expr: &str, allowed: &BTreeSet<String>) -> bool {
    let tokens: Vec<String> = expr
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('/', " OR ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut pos = 0;
    let ok = or_expr(&tokens, &mut pos, allowed);
    ok == Some(true) && pos == tokens.len()
}

fn or_expr(t: &[String], pos: &mut usize, allowed: &BTreeSet<String>) -> Option<bool> {
    let mut value = and_expr(t, pos, allowed)?;
    while t.get(*pos).is_some_and(|s| s == "OR") {
        *pos += 1;
        value |= and_expr(t, pos, allowed)?;
    }
    Some(value)
}

fn and_expr(t: &[String], pos: &mut usize, allowed: &BTreeSet<String>) -> Option<bool> {
    let mut value = term(t, pos, allowed)?;
    while t.get(*pos).is_some_and(|s| s == "AND") {
        *pos += 1;
        value &= term(t, pos, allowed)?;
    }
    Some(value)
}

fn term(t: &[String], pos: &mut usize, allowed: &BTreeSet<String>) -> Option<bool> {
    let token = t.get(*pos)?.clone();
    *pos += 1;
    if token == "(" {
        let value = or_expr(t, pos, allowed)?;
        (t.get(*pos)? == ")").then(|| *pos += 1)?;
        return Some(value);
    }
    if t.get(*pos).is_some_and(|s| s == "WITH") {
        let exception = t.get(*pos + 1)?.clone();
        *pos += 2;
        return Some(
            allowed.contains(&format!("{token} WITH {exception}")) || allowed.contains(&token),
        );
    }
    Some(allowed.contains(&token))
}

fn strings(table: &toml::Table, key: &str) -> BTreeSet<String> {
    table[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_dependency_has_an_allowed_licence() {
    let allowed = strings(&policy(), "allowed_licences");
    let refused: Vec<String> = resolved_packages()
        .into_iter()
        .filter(|(_, _, licence)| !licence.as_deref().is_some_and(|l| satisfied(l, &allowed)))
        .map(|(n, v, l)| format!("{n}@{v}: {}", l.as_deref().unwrap_or("no SPDX licence")))
        .collect();
    assert!(
        refused.is_empty(),
        "licences outside tools/dependencies.toml:\n{}",
        refused.join("\n")
    );
}

#[test]
fn only_recorded_crates_are_built_in_two_versions() {
    let policy = policy();
    let recorded: BTreeMap<String, String> = policy["duplicates"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, version, _) in resolved_packages() {
        versions.entry(name).or_default().insert(version);
    }
    let duplicated: BTreeSet<&String> = versions
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(n, _)| n)
        .collect();
    let new: Vec<String> = duplicated
        .iter()
        .filter(|n| !recorded.contains_key(n.as_str()))
        .map(|n| format!("{n}: {:?}", versions[n.as_str()]))
        .collect();
    assert!(
        new.is_empty(),
        "crates newly built in two versions (unify them, or record why):\n{}",
        new.join("\n")
    );
    let stale: Vec<&String> = recorded
        .keys()
        .filter(|n| !duplicated.contains(n))
        .collect();
    assert!(
        stale.is_empty(),
        "recorded duplicates that are gone (remove them): {stale:?}"
    );
}

#[test]
fn licence_expressions_are_evaluated_not_pattern_matched() {
    let allowed: BTreeSet<String> = ["MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception"]
        .map(String::from)
        .into();
    for ok in [
        "MIT",
        "MIT OR GPL-3.0",
        "MIT/Apache-2.0",
        "(MIT OR GPL-3.0) AND Apache-2.0",
        "Apache-2.0 WITH LLVM-exception",
    ] {
        assert!(satisfied(ok, &allowed), "{ok}");
    }
    for refused in [
        "GPL-3.0",
        "MIT AND GPL-3.0",
        "(MIT OR Apache-2.0) AND GPL-3.0",
        "MIT OR",
        "(MIT",
        "MIT)",
    ] {
        assert!(!satisfied(refused, &allowed), "{refused}");
    }
}
