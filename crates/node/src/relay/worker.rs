//! A Relay's receipt worker: the I/O half of [`super::receipts`]. One task
//! per Relay that has received a receipt; it verifies on the blocking pool
//! and stores, then reports to the relay loop, whose machine applies the
//! receipt ([`super::conn::Conn::receipt_stored`]: the allowance grows, the
//! client is acknowledged before any byte the receipt releases). The loop waits for it to
//! stop before the call ends, so a node that has returned from `join` no
//! longer holds its database through a receipt in flight.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tonic::Status;
use veil_ledger::LedgerApi;

use super::event::Refusal;
use super::receipts::{self, PendingReceipt, ReceiptCheck, Waiting};
use crate::state::{Inner, lock};

/// The worker's report on one receipt.
#[derive(Debug)]
pub(crate) enum Checked {
    /// Verified and stored: to be applied.
    Stored(PendingReceipt),
    Refused(Refusal),
    /// The receipt could not be stored: the call ends (§9.6).
    Failed(Status),
}

/// The loop's handle on its worker.
pub(crate) struct ReceiptWorker {
    waiting: Arc<Mutex<Waiting>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl ReceiptWorker {
    /// Starts the worker; its reports arrive on `report`.
    pub fn start<L: LedgerApi>(
        inner: Arc<Inner<L>>,
        report: mpsc::UnboundedSender<Checked>,
    ) -> Self {
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(inner, waiting.clone(), wake.clone(), report));
        Self {
            waiting,
            wake,
            task,
        }
    }

    /// Queues a receipt for checking.
    pub fn push(&self, c: ReceiptCheck) {
        lock(&self.waiting).push(c);
        self.wake.notify_one();
    }

    /// Stops the worker once every receipt queued is through (at most
    /// [`receipts::MAX_WAITING`] and the one it is on: a client's last
    /// receipt before it ends the call is still stored), and waits for it.
    pub async fn stop(self) {
        lock(&self.waiting).close();
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

async fn run<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    waiting: Arc<Mutex<Waiting>>,
    wake: Arc<Notify>,
    report: mpsc::UnboundedSender<Checked>,
) {
    loop {
        let next = {
            let mut w = lock(&waiting);
            (w.take_highest(), w.is_closed())
        };
        let c = match next {
            (Some(c), _) => c,
            (None, true) => return,
            (None, false) => {
                wake.notified().await;
                continue;
            }
        };
        let checked = check_and_store(&inner, c).await;
        if let Checked::Stored(p) = &checked {
            lock(&waiting).supersede(p.kib());
        }
        // Once the loop has ended nobody reads reports: still store the rest.
        let _ = report.send(checked);
    }
}

/// One receipt through [`receipts::check`] (blocking pool) and the store.
async fn check_and_store<L: LedgerApi>(inner: &Arc<Inner<L>>, c: ReceiptCheck) -> Checked {
    let now = inner.height();
    let verdict = match tokio::task::spawn_blocking(move || receipts::check(c, now)).await {
        Ok(v) => v,
        Err(_) => return Checked::Failed(Status::internal("receipt check task failed")),
    };
    let pending = match verdict {
        Ok(p) => p,
        Err(refusal) => return Checked::Refused(refusal),
    };
    match persist(inner, &pending).await {
        Ok(()) => Checked::Stored(pending),
        Err(status) => Checked::Failed(status),
    }
}

/// Stores a receipt before it is applied and acknowledged (§9.6).
async fn persist<L>(inner: &Arc<Inner<L>>, pending: &PendingReceipt) -> Result<(), Status> {
    let store = inner.store.clone();
    let signed = *pending.signed();
    tokio::task::spawn_blocking(move || store.put_receipt_if_higher(&signed))
        .await
        .map_err(|_| Status::internal("receipt persistence task failed"))?
        .map_err(|e| Status::internal(format!("node database: {e}")))?;
    Ok(())
}
