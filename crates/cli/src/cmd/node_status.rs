//! `veil node status`: a running node's metrics (docs/operations.md,
//! "Metrics"), fetched from its `--metrics` endpoint and summarised for a
//! person, or as JSON.

use super::metrics_page::{MetricsUrl, Samples, ms};

/// The prefix of the node's metric names.
const PREFIX: &str = "veil_node_";

/// `veil node status` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The node's metrics: `HOST:PORT` (`veil node serve --metrics ADDR`)
    /// or `http://HOST:PORT/metrics`.
    #[arg(long, value_name = "URL-OR-ADDR", default_value = "127.0.0.1:9750")]
    metrics: MetricsUrl,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let m = Samples::scrape(&args.metrics, "node", PREFIX)?;
    if args.json {
        println!("{}", serde_json::to_string(&json(&m))?);
    } else {
        print!("{}", summary(&m));
    }
    Ok(())
}

fn summary(m: &Samples) -> String {
    format!(
        "sessions     open {}, opened {}, pending settlement {}, streams {}\n\
         relayed      {} bytes\n\
         receipts     accepted {}, refused {} ({})\n\
         tokens       verified {} (mean {}), refused {} ({}), queue {}, banned peers {}\n\
         settlement   batches {}, sessions {}, earnings {} base units, failed runs {}, prove mean {}\n\
         ledger errors {}\n",
        m.get("sessions_open"),
        m.get("sessions_opened_total"),
        m.get("sessions_pending_settlement"),
        m.get("streams_open"),
        m.get("relayed_bytes_total"),
        m.get("receipts_accepted_total"),
        m.total("receipts_refused_total", ""),
        m.by("receipts_refused_total", ""),
        m.get("token_verifications_total"),
        ms(m.mean_ms("token_verify_seconds", "")),
        m.total("tokens_refused_total", ""),
        m.by("tokens_refused_total", ""),
        m.get("verify_queue_depth"),
        m.get("banned_peers"),
        m.get("settled_batches_total"),
        m.get("settled_sessions_total"),
        m.get("earnings_total"),
        m.get("settlements_failed_total"),
        ms(m.mean_ms("settle_prove_seconds", "")),
        m.by("ledger_errors_total", ""),
    )
}

fn json(m: &Samples) -> serde_json::Value {
    let mut out = m.json();
    out["token_verify_mean_ms"] = m.mean_ms("token_verify_seconds", "").into();
    out["settle_prove_mean_ms"] = m.mean_ms("settle_prove_seconds", "").into();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_scrape() {
        let text = "\
# TYPE veil_node_sessions_open gauge
veil_node_sessions_open 2
# TYPE veil_node_receipts_refused_total counter
veil_node_receipts_refused_total{reason=\"receipt_stale\"} 3
veil_node_receipts_refused_total{reason=\"malformed\"} 1
# TYPE veil_node_token_verify_seconds histogram
veil_node_token_verify_seconds_bucket{le=\"0.005\"} 2
veil_node_token_verify_seconds_bucket{le=\"+Inf\"} 2
veil_node_token_verify_seconds_sum 0.008
veil_node_token_verify_seconds_count 2
";
        let m = Samples::parse(text, PREFIX).expect("parses");
        let s = summary(&m);
        assert!(s.contains("open 2,"), "{s}");
        assert!(
            s.contains("refused 4 (malformed 1, receipt_stale 3)"),
            "{s}"
        );
        assert!(s.contains("mean 4.0 ms"), "{s}");
        let j = json(&m);
        assert_eq!(j["values"]["sessions_open"], 2.0);
        assert_eq!(j["token_verify_mean_ms"], 4.0);
        assert!(j["settle_prove_mean_ms"].is_null());
    }
}
