//! A running service's `--metrics` page (docs/operations.md, "Metrics"
//! and "Ledger metrics"), fetched and parsed for `veil node status` and
//! `veil ledger status`: where it is, `GET /metrics`, and its samples.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use prometheus_parse::{Scrape, Value as Sample};

/// Where a metrics page is: `HOST:PORT`, or `http://HOST:PORT[/metrics]`
/// (the endpoint is local: plain HTTP, no proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsUrl {
    /// `HOST:PORT`.
    authority: String,
}

impl FromStr for MetricsUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("https://") {
            return Err("the metrics endpoint serves plain HTTP: use http:// or HOST:PORT".into());
        }
        let rest = s.strip_prefix("http://").unwrap_or(s);
        let authority = rest
            .strip_suffix("/metrics")
            .unwrap_or(rest)
            .trim_end_matches('/');
        let port_ok = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || authority.contains('/') {
            return Err(format!(
                "expected HOST:PORT or http://HOST:PORT/metrics, got {s:?}"
            ));
        }
        Ok(Self {
            authority: authority.to_owned(),
        })
    }
}

impl std::fmt::Display for MetricsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}/metrics", self.authority)
    }
}

impl MetricsUrl {
    /// `GET /metrics` over HTTP/1.1; `service` names what serves it in errors.
    pub fn fetch(&self, service: &str) -> anyhow::Result<String> {
        let timeout = Duration::from_secs(10);
        let at = || format!("connecting to the {service}'s metrics at {self}");
        let addr = self
            .authority
            .to_socket_addrs()
            .with_context(at)?
            .next()
            .with_context(at)?;
        let mut s = TcpStream::connect_timeout(&addr, timeout).with_context(at)?;
        s.set_read_timeout(Some(timeout))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut raw = Vec::new();
        s.take(16 << 20).read_to_end(&mut raw)?;
        let raw = String::from_utf8(raw).context("the metrics page is not UTF-8")?;
        let Some((head, body)) = raw.split_once("\r\n\r\n") else {
            bail!("{self} did not answer HTTP");
        };
        if !head.starts_with("HTTP/1.1 200") {
            bail!(
                "{self} answered {}",
                head.lines().next().unwrap_or_default()
            );
        }
        Ok(body.to_owned())
    }
}

/// The samples of one scrape, names without their `prefix`: plain values
/// by name, labelled ones by name and label values (`op` first, then the
/// others by label name, joined by `/`: `open_escrow/nullifier_spent`),
/// histograms as (sum, count) by name and label values (`""` unlabelled).
#[derive(Default)]
pub struct Samples {
    plain: BTreeMap<String, f64>,
    labelled: BTreeMap<String, BTreeMap<String, f64>>,
    histograms: BTreeMap<String, BTreeMap<String, (f64, f64)>>,
}

impl Samples {
    /// Fetches `url` and parses the page.
    pub fn scrape(url: &MetricsUrl, service: &str, prefix: &str) -> anyhow::Result<Self> {
        Self::parse(&url.fetch(service)?, prefix)
    }

    /// Parses Prometheus text.
    pub fn parse(text: &str, prefix: &str) -> anyhow::Result<Self> {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .context("the endpoint's answer is not Prometheus text")?;
        Ok(Self::of(&scrape, prefix))
    }

    fn of(scrape: &Scrape, prefix: &str) -> Self {
        // prometheus-parse keeps a histogram's buckets under its base name;
        // its sum and count come as `_sum` / `_count` samples.
        let bases: BTreeSet<String> = scrape
            .samples
            .iter()
            .filter(|s| matches!(s.value, Sample::Histogram(_)))
            .map(|s| s.metric.trim_start_matches(prefix).to_owned())
            .collect();
        let mut m = Samples::default();
        for s in &scrape.samples {
            let name = s.metric.trim_start_matches(prefix);
            let (Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v)) = &s.value else {
                continue;
            };
            let key = label_key(&s.labels);
            if let Some((base, part)) = histogram_part(name, &bases) {
                let entry = m
                    .histograms
                    .entry(base.to_owned())
                    .or_default()
                    .entry(key)
                    .or_default();
                match part {
                    Part::Sum => entry.0 = *v,
                    Part::Count => entry.1 = *v,
                }
            } else if key.is_empty() {
                m.plain.insert(name.to_owned(), *v);
            } else {
                m.labelled
                    .entry(name.to_owned())
                    .or_default()
                    .insert(key, *v);
            }
        }
        m
    }

    /// A plain value (0 when absent).
    pub fn get(&self, name: &str) -> u64 {
        self.plain.get(name).copied().unwrap_or(0.0) as u64
    }

    /// The values of `name` by label key (empty when absent).
    pub fn labelled(&self, name: &str) -> impl Iterator<Item = (&str, u64)> {
        self.labelled
            .get(name)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), *v as u64))
    }

    /// `"reason a 2, reason b 1"` of the non-zero values of `name` whose
    /// label key starts with `within` (`""`: all), or `"none"`.
    pub fn by(&self, name: &str, within: &str) -> String {
        let parts: Vec<String> = self
            .labelled(name)
            .filter(|(k, v)| *v > 0 && k.starts_with(within))
            .map(|(k, v)| format!("{} {v}", &k[within.len()..]))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// The sum of the values of `name` whose label key starts with `within`.
    pub fn total(&self, name: &str, within: &str) -> u64 {
        self.labelled(name)
            .filter(|(k, _)| k.starts_with(within))
            .map(|(_, v)| v)
            .sum()
    }

    /// The mean of histogram `name` at label key `key` (`""`: unlabelled),
    /// in milliseconds (`None`: no observation).
    pub fn mean_ms(&self, name: &str, key: &str) -> Option<f64> {
        let (sum, count) = self.histograms.get(name)?.get(key).copied()?;
        (count > 0.0).then(|| 1000.0 * sum / count)
    }

    /// The observations of histogram `name` at label key `key`.
    pub fn count(&self, name: &str, key: &str) -> u64 {
        self.histograms
            .get(name)
            .and_then(|h| h.get(key))
            .map_or(0, |(_, count)| *count as u64)
    }

    /// `{"values": {...}, "by_label": {...}}` (histograms left to the caller).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "values": self.plain,
            "by_label": self.labelled,
        })
    }
}

/// A mean for a person: `"4.0 ms"`, or `"-"`.
pub fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1} ms"))
}

enum Part {
    Sum,
    Count,
}

/// `(base, part)` if `name` is the `_sum` or `_count` of a histogram.
fn histogram_part<'a>(name: &'a str, bases: &BTreeSet<String>) -> Option<(&'a str, Part)> {
    let (base, part) = name
        .strip_suffix("_sum")
        .map(|b| (b, Part::Sum))
        .or_else(|| name.strip_suffix("_count").map(|b| (b, Part::Count)))?;
    bases.contains(base).then_some((base, part))
}

/// Label values, `op` first, then by label name, joined by `/`.
fn label_key(labels: &prometheus_parse::Labels) -> String {
    let mut names: Vec<&String> = labels.keys().collect();
    names.sort_by_key(|n| (n.as_str() != "op", n.as_str()));
    let values: Vec<&str> = names
        .iter()
        .filter_map(|n| labels.get(n.as_str()))
        .collect();
    values.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_addresses_are_accepted_others_refused() {
        for (given, shown) in [
            ("127.0.0.1:9750", "http://127.0.0.1:9750/metrics"),
            ("http://127.0.0.1:9750", "http://127.0.0.1:9750/metrics"),
            (
                "http://localhost:9740/metrics",
                "http://localhost:9740/metrics",
            ),
            ("http://[::1]:9740/", "http://[::1]:9740/metrics"),
        ] {
            let url: MetricsUrl = given.parse().expect(given);
            assert_eq!(url.to_string(), shown);
        }
        for bad in [
            "",
            "127.0.0.1",
            "https://h:1",
            "http://h:1/other",
            "h:99999",
            ":80",
        ] {
            assert!(bad.parse::<MetricsUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_histograms_and_plain_values_are_kept_apart() {
        let text = "\
# TYPE p_up gauge
p_up 2
# TYPE p_refused_total counter
p_refused_total{kind=\"busy\",op=\"settle\"} 3
p_refused_total{op=\"settle\",kind=\"storage\"} 1
p_refused_total{op=\"deposit\",kind=\"bad_nonce\"} 0
# TYPE p_seconds histogram
p_seconds_bucket{op=\"settle\",le=\"+Inf\"} 2
p_seconds_sum{op=\"settle\"} 0.008
p_seconds_count{op=\"settle\"} 2
p_seconds_bucket{op=\"status\",le=\"+Inf\"} 0
p_seconds_sum{op=\"status\"} 0
p_seconds_count{op=\"status\"} 0
";
        let m = Samples::parse(text, "p_").expect("parses");
        assert_eq!(m.get("up"), 2);
        assert_eq!(m.total("refused_total", ""), 4);
        assert_eq!(m.total("refused_total", "settle/"), 4);
        assert_eq!(m.by("refused_total", "settle/"), "busy 3, storage 1");
        assert_eq!(m.by("refused_total", "deposit/"), "none");
        assert_eq!(m.mean_ms("seconds", "settle"), Some(4.0));
        assert_eq!(m.mean_ms("seconds", "status"), None);
        assert_eq!(m.count("seconds", "settle"), 2);
        assert!(m.json()["values"].get("seconds_sum").is_none());
    }
}
