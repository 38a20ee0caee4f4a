//! The operator's local HTTP endpoint (docs/operations.md, "Metrics" and
//! "Status page"): `GET /metrics` serves every metric in Prometheus text
//! format; `GET /` (or `/status`) the status page ([`crate::status_page`]);
//! anything else is 404. It is for the operator, not for clients: it has no
//! authentication, so bind it to loopback or a management network (`veil
//! node serve --metrics 127.0.0.1:PORT`). It reads node-wide counters
//! only; nothing it serves names a session or a peer.
//!
//! While it serves, a task samples the node's counters into its
//! [`History`] every `sample_every` ([`DEFAULT_SAMPLE_EVERY`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::debug;

pub use crate::history::DEFAULT_SAMPLE_EVERY;
use crate::history::{History, Sample, UnixTime};
use crate::status_page::{CONTENT_SECURITY_POLICY, PageInput, render};
use crate::sync::lock;

/// What the operator's endpoint reads from a running node
/// ([`crate::NodeHandle::metrics_source`]); it outlives the handle.
#[derive(Clone)]
pub struct MetricsSource {
    metrics: RenderMetrics,
    sample: Arc<dyn Fn(UnixTime) -> Sample + Send + Sync>,
    history: Arc<Mutex<History>>,
}

pub use veil_ops::PROMETHEUS_TEXT;
use veil_ops::{RenderMetrics, metrics_router};

impl MetricsSource {
    /// A source rendering metrics with `metrics`, reading a sample at a
    /// given time with `sample`, and keeping them in `history`.
    pub fn new(
        metrics: Arc<dyn Fn() -> String + Send + Sync>,
        sample: Arc<dyn Fn(UnixTime) -> Sample + Send + Sync>,
        history: Arc<Mutex<History>>,
    ) -> Self {
        Self {
            metrics,
            sample,
            history,
        }
    }

    /// Every metric in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        (self.metrics)()
    }

    /// Samples the counters now into the history.
    pub fn record_sample(&self) {
        let sample = (self.sample)(UnixTime::from_system(SystemTime::now()));
        if let Err(e) = lock(&self.history).record(sample) {
            debug!("status history: {e}");
        }
    }

    /// The status page as of now, for samples taken every `sample_every`.
    pub fn status_page(&self, sample_every: Duration) -> String {
        let now = (self.sample)(UnixTime::from_system(SystemTime::now()));
        let (samples, batches) = {
            let history = lock(&self.history);
            let batches: Vec<_> = history.batches().copied().collect();
            (history.samples_until(now), batches)
        };
        render(&PageInput {
            samples: &samples,
            batches: &batches,
            sample_every,
        })
    }
}

/// Serves `/metrics` and the status page on `listener` until `shutdown`
/// resolves, sampling every [`DEFAULT_SAMPLE_EVERY`].
pub async fn serve_metrics<F>(
    listener: TcpListener,
    source: MetricsSource,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_ops(listener, source, DEFAULT_SAMPLE_EVERY, shutdown).await
}

/// [`serve_metrics`], sampling every `sample_every`.
pub async fn serve_ops<F>(
    listener: TcpListener,
    source: MetricsSource,
    sample_every: Duration,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let metrics = source.metrics.clone();
    let sampler = tokio::spawn(sample_loop(source.clone(), sample_every));
    let page = move || {
        let source = source.clone();
        async move { status_response(source.status_page(sample_every)) }
    };
    let app = metrics_router(metrics)
        .route("/", get(page.clone()))
        .route("/status", get(page));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    sampler.abort();
    served
}

/// Samples every `every` (the first at once) until aborted.
async fn sample_loop(source: MetricsSource, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        source.record_sample();
    }
}

/// The page with headers that let it load nothing else and keep it out of
/// caches and frames.
fn status_response(html: String) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}
