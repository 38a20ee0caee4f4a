#!/usr/bin/env python3
"""Refresh tools/advisories/advisories.json from a RustSec advisory-db checkout.

    git clone https://github.com/rustsec/advisory-db /tmp/advisory-db
    python3 tools/advisories/refresh.py /tmp/advisory-db

Keeps, for every crate advisory (crates/*/RUSTSEC-*.md), what the gate
needs: id, package, date, title, informational kind, withdrawn, and the
patched/unaffected version requirements. The prose stays upstream. The
snapshot names the database commit it came from. The gate
(tests/tests/advisories.rs) reads it offline in `cargo test`.
"""
import json
import pathlib
import subprocess
import sys
import tomllib


def front_matter(text):
    """The ```toml block at the top of an advisory, and its title."""
    start = text.index("```toml") + len("```toml")
    end = text.index("```", start)
    title = next((l[2:].strip() for l in text[end:].splitlines() if l.startswith("# ")), "")
    return tomllib.loads(text[start:end]), title


def entry(path):
    meta, title = front_matter(path.read_text(encoding="utf-8"))
    adv, versions = meta["advisory"], meta.get("versions", {})
    return {
        "id": adv["id"],
        "package": adv["package"],
        "date": str(adv["date"]),
        "title": title,
        "informational": adv.get("informational"),
        "withdrawn": "withdrawn" in adv,
        "patched": versions.get("patched", []),
        "unaffected": versions.get("unaffected", []),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: refresh.py ADVISORY_DB_CHECKOUT")
    db = pathlib.Path(sys.argv[1])
    commit = subprocess.run(["git", "-C", str(db), "log", "-1", "--format=%H %cI"],
                            capture_output=True, text=True, check=True).stdout.split()
    advisories = sorted((entry(p) for p in db.glob("crates/*/RUSTSEC-*.md")), key=lambda a: a["id"])
    out = {"source": "https://github.com/rustsec/advisory-db", "commit": commit[0], "date": commit[1],
           "advisories": advisories}
    target = pathlib.Path(__file__).with_name("advisories.json")
    target.write_text(json.dumps(out, indent=0, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(advisories)} advisories from {commit[0][:12]} ({commit[1]}) -> {target}")


main()
