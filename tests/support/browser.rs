//! Headless Chromium for tests (docs/operations.md, "Browser tests"): Debian's
//! binary driven by `tools/browser/load.mjs` (playwright-core, pinned), which
//! loads one page and reports what happened as one JSON line.
//!
//! Without Chromium or the npm install, a browser test prints a loud skip
//! line and passes, unless `VEIL_REQUIRE_BROWSER=1` (`.ci/run` sets it,
//! after `tools/browser/install.sh`), when it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The page loader, if the browser tests can run here.
pub struct Browser {
    script: PathBuf,
}

/// What one page load did (the loader's JSON report).
#[derive(Debug)]
pub struct PageReport {
    /// The loader's whole report, for failure messages.
    pub raw: Value,
    /// The page loaded (and its title matched, when asked).
    pub ok: bool,
    /// The main document's HTTP status.
    pub status: Option<u64>,
    pub title: String,
    pub console_errors: Vec<String>,
    pub page_errors: Vec<String>,
    /// `(url, error)` of every request that failed.
    pub failed_requests: Vec<(String, String)>,
    /// `(url, status)` of every response the page received.
    pub responses: Vec<(String, u64)>,
    pub error: Option<String>,
}

/// One load: the URL and its options.
#[derive(Default)]
pub struct Load<'a> {
    pub url: &'a str,
    /// `socks5://HOST:PORT`: every request, loopback included, goes through it.
    pub proxy: Option<&'a str>,
    pub screenshot: Option<&'a Path>,
    /// Wait until `document.title` starts with this.
    pub wait_for_title: Option<&'a str>,
    pub timeout_ms: Option<u64>,
}

impl Browser {
    /// The loader, or `None` (with a loud line) when Chromium or the npm
    /// install is missing; panics instead under `VEIL_REQUIRE_BROWSER=1`.
    pub fn for_test(what: &str) -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("tools/browser");
        let chromium = std::env::var_os("VEIL_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        let missing = if !chromium.exists() {
            Some(format!("{} is missing", chromium.display()))
        } else if !dir.join("node_modules/playwright-core").exists() {
            Some("tools/browser/node_modules is missing (run tools/browser/install.sh)".into())
        } else {
            None
        };
        match missing {
            None => Some(Browser {
                script: dir.join("load.mjs"),
            }),
            Some(why) if std::env::var("VEIL_REQUIRE_BROWSER").as_deref() == Ok("1") => {
                panic!("{what}: VEIL_REQUIRE_BROWSER=1 but {why}")
            }
            Some(why) => {
                eprintln!("SKIPPED {what}: {why}; run tools/browser/install.sh");
                None
            }
        }
    }

    /// Loads `load.url` in a fresh headless Chromium and returns its report.
    pub fn load(&self, load: &Load<'_>) -> PageReport {
        let mut cmd = Command::new("node");
        cmd.arg(&self.script).args(["--url", load.url]);
        if let Some(p) = load.proxy {
            cmd.args(["--proxy", p]);
        }
        if let Some(s) = load.screenshot {
            cmd.arg("--screenshot").arg(s);
        }
        if let Some(t) = load.wait_for_title {
            cmd.args(["--wait-for-title", t]);
        }
        if let Some(ms) = load.timeout_ms {
            cmd.args(["--timeout-ms", &ms.to_string()]);
        }
        let out = cmd.output().expect("run node tools/browser/load.mjs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let raw: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "load.mjs printed no JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        PageReport::from_json(raw)
    }
}

impl PageReport {
    fn from_json(raw: Value) -> Self {
        let strings = |k: &str| -> Vec<String> {
            raw[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let pairs = |k: &str, a: &str, b: &str| -> Vec<(String, Value)> {
            raw[k]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| (v[a].as_str().unwrap_or_default().to_string(), v[b].clone()))
                .collect()
        };
        PageReport {
            ok: raw["ok"].as_bool().unwrap_or(false),
            status: raw["status"].as_u64(),
            title: raw["title"].as_str().unwrap_or_default().to_string(),
            console_errors: strings("consoleErrors"),
            page_errors: strings("pageErrors"),
            failed_requests: pairs("failedRequests", "url", "error")
                .into_iter()
                .map(|(u, e)| (u, e.as_str().unwrap_or_default().to_string()))
                .collect(),
            responses: pairs("responses", "url", "status")
                .into_iter()
                .map(|(u, s)| (u, s.as_u64().unwrap_or(0)))
                .collect(),
            error: raw["error"].as_str().map(String::from),
            raw,
        }
    }
}
