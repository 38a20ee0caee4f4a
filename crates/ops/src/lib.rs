//! The operator's side of every veil service (docs/operations.md,
//! "Metrics" and "Ledger metrics"): registering Prometheus metrics and
//! serving them at `GET /metrics`. The node adds its status page to
//! [`metrics_router`] (`veil_node::ops_http`); the ledger serves the
//! router alone ([`serve_prometheus`]). The endpoint has no
//! authentication: it is for the operator's scraper, bound to loopback or a
//! management network.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::Registry;
use prometheus::core::Collector;
use tokio::net::TcpListener;

/// The content type of Prometheus' text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders a service's metrics page in Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Registers `metric` with `registry` and returns it. Metrics are built
/// from constant names: creation and registration fail only on an invalid
/// or duplicate name, a programming error that each service's
/// "every metric is registered once" test catches.
pub fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    #[allow(clippy::expect_used)]
    let m = metric.expect("metric names are valid constants");
    #[allow(clippy::expect_used)]
    registry
        .register(Box::new(m.clone()))
        .expect("metric names are unique constants");
    m
}

/// The sum of a counter family over all its label values.
pub fn counter_sum(family: &impl Collector) -> u64 {
    family
        .collect()
        .iter()
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// A router serving `GET /metrics`: `render`'s page, rendered on the
/// blocking pool (a ledger's page reads its store). Other paths are 404
/// unless the caller adds routes.
pub fn metrics_router(render: RenderMetrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move {
                match tokio::task::spawn_blocking(move || render()).await {
                    Ok(body) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], body).into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    )
}

/// Serves [`metrics_router`] alone on `listener` until `shutdown` resolves
/// (`veil ledger serve --metrics ADDR`).
pub async fn serve_prometheus<F>(
    listener: TcpListener,
    render: RenderMetrics,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, metrics_router(render))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{IntCounterVec, Opts};

    #[test]
    fn a_counter_family_sums_over_its_labels() {
        let registry = Registry::new();
        let family = register(
            &registry,
            IntCounterVec::new(Opts::new("refused_total", "refused"), &["reason"]),
        );
        assert_eq!(counter_sum(&family), 0);
        family.with_label_values(&["a"]).inc_by(2);
        family.with_label_values(&["b"]).inc();
        assert_eq!(counter_sum(&family), 3);
        assert_eq!(registry.gather().len(), 1);
    }

    #[test]
    #[should_panic(expected = "unique")]
    fn a_name_registered_twice_is_a_programming_error() {
        let registry = Registry::new();
        let a = prometheus::IntCounter::new("x_total", "x");
        let b = prometheus::IntCounter::new("x_total", "x");
        register(&registry, a);
        register(&registry, b);
    }

    #[tokio::test]
    async fn metrics_are_served_and_other_paths_are_404() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_prometheus(
            listener,
            Arc::new(|| "up 1\n".to_string()),
            async move {
                let _ = rx.await;
            },
        ));
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            out
        };
        let page = get("/metrics").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(
            page.contains(PROMETHEUS_TEXT) && page.ends_with("up 1\n"),
            "{page}"
        );
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
        let _ = tx.send(());
        server.await.expect("join").expect("serve");
    }
}
