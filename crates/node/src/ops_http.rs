//! The operator's local HTTP endpoint (docs/operations.md, "Metrics"):
//! `GET /metrics` serves every metric in Prometheus text format. It is for
//! the operator's scraper, not for clients: bind it to loopback or a
//! management network (`veil node serve --metrics 127.0.0.1:PORT`). It
//! reads counters only; nothing it serves names a session or a peer.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

/// Renders the node's metrics ([`crate::NodeHandle::metrics_source`]).
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The content type of Prometheus' text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `/metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics<F>(
    listener: TcpListener,
    source: MetricsSource,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let source = source.clone();
            async move { ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], source()).into_response() }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
