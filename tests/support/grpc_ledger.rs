//! An embedded ledger served over gRPC on loopback, reached through
//! `RemoteLedger` (the `veil ledger serve` path without a process).

use veil_ledger::{EmbeddedLedger, RemoteLedger};

/// Serves `ledger` on 127.0.0.1 until the returned sender is dropped or
/// fires; the client connected to it.
pub async fn serve_over_grpc(
    ledger: EmbeddedLedger,
) -> (RemoteLedger, tokio::sync::oneshot::Sender<()>) {
    let (listener, addr) = veil_ledger::service::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = veil_ledger::service::serve(ledger, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    let remote = RemoteLedger::connect(&format!("http://{addr}"))
        .await
        .expect("connect");
    (remote, stop)
}
