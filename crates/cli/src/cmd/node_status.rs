//! `veil node status`: a running node's metrics (docs/operations.md,
//! "Metrics"), fetched from its `--metrics` endpoint and summarised for a
//! person, or as JSON.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use prometheus_parse::{Scrape, Value as Sample};

/// `veil node status` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The node's metrics address (`veil node serve --metrics ADDR`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9750")]
    metrics: SocketAddr,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let body = fetch(args.metrics)?;
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .context("the endpoint's answer is not Prometheus text")?;
    let m = Metrics::of(&scrape);
    if args.json {
        println!("{}", serde_json::to_string(&m.json())?);
    } else {
        print!("{}", m.summary());
    }
    Ok(())
}

/// `GET /metrics` over HTTP/1.1 (the endpoint is local: no TLS, no proxy).
fn fetch(addr: SocketAddr) -> anyhow::Result<String> {
    let timeout = Duration::from_secs(10);
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to the node's metrics at {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.take(16 << 20).read_to_end(&mut raw)?;
    let raw = String::from_utf8(raw).context("the metrics page is not UTF-8")?;
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        bail!("{addr} did not answer HTTP");
    };
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "{addr} answered {}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(body.to_owned())
}

/// The samples of one scrape: plain values by name, labelled ones by name
/// and label value, histograms as (sum, count).
#[derive(Default)]
struct Metrics {
    plain: BTreeMap<String, f64>,
    labelled: BTreeMap<String, BTreeMap<String, f64>>,
    histograms: BTreeMap<String, (f64, f64)>,
}

impl Metrics {
    fn of(scrape: &Scrape) -> Self {
        let mut m = Metrics::default();
        for s in &scrape.samples {
            let name = s.metric.trim_start_matches("veil_node_").to_owned();
            match &s.value {
                Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => {
                    match s.labels.values().next() {
                        Some(label) => {
                            m.labelled
                                .entry(name)
                                .or_default()
                                .insert(label.clone(), *v);
                        }
                        None => {
                            m.plain.insert(name, *v);
                        }
                    }
                }
                Sample::Histogram(_) | Sample::Summary(_) => {}
            }
        }
        // prometheus-parse keeps a histogram's buckets; its sum and count
        // come as `_sum` / `_count` samples, read here.
        for base in ["token_verify_seconds", "settle_prove_seconds"] {
            let sum = m.plain.remove(&format!("{base}_sum")).unwrap_or(0.0);
            let count = m.plain.remove(&format!("{base}_count")).unwrap_or(0.0);
            m.histograms.insert(base.to_owned(), (sum, count));
        }
        m
    }

    fn get(&self, name: &str) -> u64 {
        self.plain.get(name).copied().unwrap_or(0.0) as u64
    }

    /// `"reason a 2, reason b 1"`, or `"none"`.
    fn by(&self, name: &str) -> String {
        let parts: Vec<String> = self
            .labelled
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{k} {}", *v as u64))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    fn total(&self, name: &str) -> u64 {
        self.labelled
            .get(name)
            .map_or(0.0, |m| m.values().sum::<f64>()) as u64
    }

    /// The mean of a histogram, in milliseconds (`None`: no observation).
    fn mean_ms(&self, name: &str) -> Option<f64> {
        let (sum, count) = self.histograms.get(name).copied()?;
        (count > 0.0).then(|| 1000.0 * sum / count)
    }

    fn summary(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} ms"));
        format!(
            "sessions     open {}, opened {}, pending settlement {}, streams {}\n\
             relayed      {} bytes\n\
             receipts     accepted {}, refused {} ({})\n\
             tokens       verified {} (mean {}), refused {} ({}), queue {}, banned peers {}\n\
             settlement   batches {}, sessions {}, earnings {} base units, failed runs {}, prove mean {}\n\
             ledger errors {}\n",
            self.get("sessions_open"),
            self.get("sessions_opened_total"),
            self.get("sessions_pending_settlement"),
            self.get("streams_open"),
            self.get("relayed_bytes_total"),
            self.get("receipts_accepted_total"),
            self.total("receipts_refused_total"),
            self.by("receipts_refused_total"),
            self.get("token_verifications_total"),
            ms(self.mean_ms("token_verify_seconds")),
            self.total("tokens_refused_total"),
            self.by("tokens_refused_total"),
            self.get("verify_queue_depth"),
            self.get("banned_peers"),
            self.get("settled_batches_total"),
            self.get("settled_sessions_total"),
            self.get("earnings_total"),
            self.get("settlements_failed_total"),
            ms(self.mean_ms("settle_prove_seconds")),
            self.by("ledger_errors_total"),
        )
    }

    fn json(&self) -> serde_json::Value {
        let labelled: BTreeMap<&str, &BTreeMap<String, f64>> =
            self.labelled.iter().map(|(k, v)| (k.as_str(), v)).collect();
        serde_json::json!({
            "values": self.plain,
            "by_label": labelled,
            "token_verify_mean_ms": self.mean_ms("token_verify_seconds"),
            "settle_prove_mean_ms": self.mean_ms("settle_prove_seconds"),
        })
    }
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
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
        let m = Metrics::of(&scrape);
        let s = m.summary();
        assert!(s.contains("open 2,"), "{s}");
        assert!(
            s.contains("refused 4 (malformed 1, receipt_stale 3)"),
            "{s}"
        );
        assert!(s.contains("mean 4.0 ms"), "{s}");
        assert_eq!(m.json()["values"]["sessions_open"], 2.0);
    }
}
