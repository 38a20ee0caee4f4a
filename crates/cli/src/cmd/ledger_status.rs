//! `veil ledger status`: a running ledger's metrics (docs/operations.md,
//! "Ledger metrics"), fetched from its `--metrics` endpoint and summarised
//! for a person, or as JSON.

use std::collections::BTreeMap;

use super::metrics_page::{MetricsUrl, Samples, ms};

/// The prefix of the ledger's metric names.
const PREFIX: &str = "veil_ledger_";
const ACCEPTED: &str = "requests_accepted_total";
const REFUSED: &str = "requests_refused_total";
const SECONDS: &str = "request_seconds";
const COMMIT: &str = "store_commit_seconds";

/// `veil ledger status` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The ledger's metrics: `HOST:PORT` (`veil ledger serve --metrics
    /// ADDR`) or `http://HOST:PORT/metrics`.
    #[arg(long, value_name = "URL-OR-ADDR", default_value = "127.0.0.1:9740")]
    metrics: MetricsUrl,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let m = Samples::scrape(&args.metrics, "ledger", PREFIX)?;
    if args.json {
        println!("{}", serde_json::to_string(&json(&m))?);
    } else {
        print!("{}", summary(&m));
    }
    Ok(())
}

/// One operation's counts.
struct OpLine {
    accepted: u64,
    refused: u64,
    /// `"kind n, …"` or `"none"`.
    refused_by: String,
    mean_ms: Option<f64>,
}

/// The operations that were called at least once, by `op` label.
fn ops(m: &Samples) -> BTreeMap<String, OpLine> {
    let mut names: Vec<&str> = m.labelled(ACCEPTED).map(|(op, _)| op).collect();
    names.extend(m.labelled(REFUSED).filter_map(|(k, _)| k.split('/').next()));
    names
        .into_iter()
        .map(|op| {
            let within = format!("{op}/");
            let line = OpLine {
                accepted: m
                    .labelled(ACCEPTED)
                    .find(|(k, _)| *k == op)
                    .map_or(0, |(_, v)| v),
                refused: m.total(REFUSED, &within),
                refused_by: m.by(REFUSED, &within),
                mean_ms: m.mean_ms(SECONDS, op),
            };
            (op.to_owned(), line)
        })
        .filter(|(_, l)| l.accepted + l.refused > 0)
        .collect()
}

fn summary(m: &Samples) -> String {
    let mut out = format!(
        "ledger       height {}, note tree leaves {}, nullifiers spent {}, escrows open {}, settled batches {}, nodes {}\n\
         value        pool {}, escrowed {}, staked {}, minted {} base units\n\
         store        commits {} (mean {}){}\n\
         requests     accepted {}, refused {}\n",
        m.get("height"),
        m.get("note_tree_leaves"),
        m.get("nullifiers_spent"),
        m.get("escrows_open"),
        m.get("settled_batches"),
        m.get("registered_nodes"),
        m.get("pool_value"),
        m.get("escrowed_value"),
        m.get("staked_value"),
        m.get("minted_value"),
        m.count(COMMIT, ""),
        ms(m.mean_ms(COMMIT, "")),
        if m.get("store_poisoned") > 0 {
            ", POISONED: writes refused, restart required"
        } else {
            ""
        },
        m.total(ACCEPTED, ""),
        m.total(REFUSED, ""),
    );
    for (op, l) in ops(m) {
        out.push_str(&format!(
            "  {op:<20} accepted {}, refused {} ({}), mean {}\n",
            l.accepted,
            l.refused,
            l.refused_by,
            ms(l.mean_ms)
        ));
    }
    out
}

fn json(m: &Samples) -> serde_json::Value {
    let ops: serde_json::Map<String, serde_json::Value> = ops(m)
        .into_iter()
        .map(|(op, l)| {
            let within = format!("{op}/");
            let by_kind: BTreeMap<&str, u64> = m
                .labelled(REFUSED)
                .filter_map(|(k, v)| Some((k.strip_prefix(within.as_str())?, v)))
                .filter(|(_, v)| *v > 0)
                .collect();
            let v = serde_json::json!({
                "accepted": l.accepted,
                "refused": l.refused,
                "refused_by_kind": by_kind,
                "mean_ms": l.mean_ms,
            });
            (op, v)
        })
        .collect();
    let mut out = m.json();
    out["ops"] = ops.into();
    out["store_commits"] = m.count(COMMIT, "").into();
    out["store_commit_mean_ms"] = m.mean_ms(COMMIT, "").into();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_scrape() {
        let text = "\
# TYPE veil_ledger_note_tree_leaves gauge
veil_ledger_note_tree_leaves 5
# TYPE veil_ledger_requests_accepted_total counter
veil_ledger_requests_accepted_total{op=\"open_escrow\"} 2
veil_ledger_requests_accepted_total{op=\"status\"} 0
# TYPE veil_ledger_requests_refused_total counter
veil_ledger_requests_refused_total{op=\"open_escrow\",kind=\"nullifier_spent\"} 1
veil_ledger_requests_refused_total{op=\"faucet\",kind=\"overflow\"} 1
# TYPE veil_ledger_request_seconds histogram
veil_ledger_request_seconds_bucket{op=\"open_escrow\",le=\"+Inf\"} 3
veil_ledger_request_seconds_sum{op=\"open_escrow\"} 0.006
veil_ledger_request_seconds_count{op=\"open_escrow\"} 3
# TYPE veil_ledger_store_commit_seconds histogram
veil_ledger_store_commit_seconds_bucket{le=\"+Inf\"} 4
veil_ledger_store_commit_seconds_sum 0.004
veil_ledger_store_commit_seconds_count 4
";
        let m = Samples::parse(text, PREFIX).expect("parses");
        let s = summary(&m);
        assert!(s.contains("note tree leaves 5,"), "{s}");
        assert!(s.contains("commits 4 (mean 1.0 ms)\n"), "{s}");
        assert!(s.contains("requests     accepted 2, refused 2\n"), "{s}");
        assert!(
            s.contains(
                "open_escrow          accepted 2, refused 1 (nullifier_spent 1), mean 2.0 ms"
            ),
            "{s}"
        );
        assert!(
            s.contains("faucet               accepted 0, refused 1 (overflow 1), mean -"),
            "{s}"
        );
        assert!(
            !s.contains("status "),
            "an op never called is left out: {s}"
        );
        let j = json(&m);
        assert_eq!(
            j["ops"]["open_escrow"]["refused_by_kind"]["nullifier_spent"],
            1
        );
        assert_eq!(j["ops"]["faucet"]["accepted"], 0);
        assert_eq!(j["store_commits"], 4);
        assert!(j["ops"].get("status").is_none());
    }
}
