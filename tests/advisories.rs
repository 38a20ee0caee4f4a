//! The dependency-advisory gate (docs/security.md §5, row G1; issue 17):
//! every package in `Cargo.lock` against a RustSec advisory-db snapshot
//! kept in the repository (`tools/advisories/advisories.json`, refreshed
//! by `tools/advisories/refresh.py`), offline, in `cargo test`. A package
//! whose version no advisory's `patched` or `unaffected` requirement
//! covers fails the gate unless `tools/advisories/accepted.toml` accepts
//! that advisory with a reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One advisory of the snapshot.
#[derive(Debug, Clone)]
struct Advisory {
    id: String,
    package: String,
    title: String,
    informational: Option<String>,
    withdrawn: bool,
    safe: Vec<VersionReq>,
}

impl Advisory {
    fn from_json(v: &Value) -> Self {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let reqs = |k: &str| -> Vec<VersionReq> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    VersionReq::parse(r.as_str().unwrap())
                        .unwrap_or_else(|e| panic!("{}: {r}: {e}", text("id")))
                })
                .collect()
        };
        Advisory {
            id: text("id"),
            package: text("package"),
            title: text("title"),
            informational: v["informational"].as_str().map(str::to_string),
            withdrawn: v["withdrawn"].as_bool().unwrap_or(false),
            safe: [reqs("patched"), reqs("unaffected")].concat(),
        }
    }

    /// Does this advisory apply to `version` of its package?
    fn affects(&self, version: &Version) -> bool {
        !self.withdrawn && !self.safe.iter().any(|r| r.matches(version))
    }
}

fn snapshot() -> Vec<Advisory> {
    let text = std::fs::read_to_string(root().join("tools/advisories/advisories.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(Advisory::from_json)
        .collect()
}

/// `(name, version)` of every registry package in a `Cargo.lock`.
fn locked_packages(lock: &str) -> Vec<(String, Version)> {
    let lock: toml::Table = toml::from_str(lock).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                Version::parse(p["version"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// The advisories that apply to the locked packages: `(package@version, advisory)`.
fn findings<'a>(packages: &[(String, Version)], db: &'a [Advisory]) -> Vec<(String, &'a Advisory)> {
    let mut by_package: BTreeMap<&str, Vec<&Advisory>> = BTreeMap::new();
    for a in db {
        by_package.entry(&a.package).or_default().push(a);
    }
    packages
        .iter()
        .flat_map(|(name, version)| {
            by_package
                .get(name.as_str())
                .into_iter()
                .flatten()
                .filter(|a| a.affects(version))
                .map(move |a| (format!("{name}@{version}"), *a))
        })
        .collect()
}

/// Advisory ids accepted in `accepted.toml`, with their reasons.
fn accepted() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("tools/advisories/accepted.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table
        .get("accepted")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default();
            assert!(
                reason.len() >= 20,
                "{:?}: an acceptance needs a reason",
                e.get("id")
            );
            (e["id"].as_str().unwrap().to_string(), reason.to_string())
        })
        .collect()
}

#[test]
fn no_locked_dependency_has_an_unaccepted_advisory() {
    let db = snapshot();
    assert!(db.len() > 1_000, "the snapshot is the whole database");
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let packages = locked_packages(&lock);
    let accepted = accepted();
    let found = findings(&packages, &db);
    let open: Vec<String> = found
        .iter()
        .filter(|(_, a)| !accepted.contains_key(&a.id))
        .map(|(p, a)| {
            format!(
                "{p}: {} {} ({})",
                a.id,
                a.title,
                a.informational.as_deref().unwrap_or("vulnerability")
            )
        })
        .collect();
    assert!(
        open.is_empty(),
        "advisories against Cargo.lock (upgrade, or accept with a reason in tools/advisories/accepted.toml):\n{}",
        open.join("\n")
    );
    // Every acceptance still matches something: stale ones are removed.
    for id in accepted.keys() {
        assert!(
            found.iter().any(|(_, a)| &a.id == id),
            "{id} is accepted but no longer applies"
        );
    }
}

#[test]
fn the_gate_catches_a_vulnerable_version_and_passes_a_patched_one() {
    let db = snapshot();
    let lock = |v: &str| {
        format!(
            "version = 4\n[[package]]\nname = \"h2\"\nversion = \"{v}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        )
    };
    // The reset flood (adversarial.md C3) is fixed from 0.4.2; every h2
    // advisory of the snapshot, the newest included, from 0.4.16.
    let old = findings(&locked_packages(&lock("0.4.1")), &db);
    assert!(
        old.iter().any(|(_, a)| a.id == "RUSTSEC-2024-0003"),
        "{old:?}"
    );
    assert!(findings(&locked_packages(&lock("0.4.16")), &db).is_empty());
    // Path and git packages are not on the registry: not checked.
    let local = "version = 4\n[[package]]\nname = \"h2\"\nversion = \"0.4.1\"\n";
    assert!(locked_packages(local).is_empty());
}

#[test]
fn withdrawn_advisories_apply_to_nothing() {
    let db = snapshot();
    let withdrawn: Vec<&Advisory> = db.iter().filter(|a| a.withdrawn).collect();
    assert!(!withdrawn.is_empty());
    for a in withdrawn {
        assert!(!a.affects(&Version::new(0, 0, 1)), "{}", a.id);
    }
}
