//! A settlement run reports its progress to the hook it is given
//! (`NodeHandle::settle_now_with`, docs/operations.md "Progress"): the
//! sessions ready, before and after each batch proof, and nothing when
//! there is nothing to settle.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use veil_node::settle::SETTLE_STEP;
use veil_primitives::progress::{Progress, Step};
use veil_proto::node::v1::node_frame;

/// Records every progress event.
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, u64, u64)>>);

impl Progress for Recorded {
    fn report(&self, s: Step<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((s.name.to_owned(), s.done, s.total));
    }
}

impl Recorded {
    fn take(&self) -> Vec<(String, u64, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Opens `s` on a relay of its own and has the node accept a receipt for
/// `kib` (the relay is kept open until the end of the test).
async fn paid_session(w: &World, s: &Session, port: u16, kib: u64) -> Relay {
    w.open(s).await.unwrap();
    let mut relay = Relay::start(w).await;
    relay.open(s, 1, port).await;
    relay.next().await;
    relay.receipt(s.receipt(kib)).await;
    match relay.next().await {
        node_frame::Frame::ReceiptAck(a) => assert_eq!(a.kib, kib),
        other => panic!("expected ack {kib}, got {other:?}"),
    }
    relay
}

#[tokio::test]
async fn settle_now_with_reports_each_batch_before_and_after_its_proof() {
    let w = World::new().await;
    let port = echo_server().await;
    let (a, b) = (w.session().await, w.session().await);
    let _relays = (
        paid_session(&w, &a, port, 20).await,
        paid_session(&w, &b, port, 30).await,
    );
    let seen = Arc::new(Recorded::default());
    let report = w.node.settle_now_with(seen.clone()).await.unwrap();
    assert_eq!(report.sessions, 2);
    assert_eq!(
        seen.take(),
        vec![
            (SETTLE_STEP.to_owned(), 0, 2),
            (SETTLE_STEP.to_owned(), 2, 2)
        ]
    );
    // Nothing left to settle: nothing reported.
    let report = w.node.settle_now_with(seen.clone()).await.unwrap();
    assert_eq!(report.sessions, 0);
    assert!(seen.take().is_empty());
}
