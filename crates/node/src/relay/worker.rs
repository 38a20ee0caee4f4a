//! A Relay's receipt worker: the I/O half of [`super::receipts`]. One task
//! per Relay that has received a receipt: it verifies on the blocking pool,
//! applies the receipt to the session's meter and wakes its upstream
//! readers (reporting `Applied`: the relay loop releases held uploads),
//! then stores it and reports `Stored` (the loop acknowledges it, §9.3). The loop waits for it to
//! stop before the call ends, so a node that has returned from `join` no
//! longer holds its database through a receipt in flight.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tonic::Status;
use veil_ledger::LedgerApi;

use super::event::Refusal;
use super::receipts::{self, ReceiptCheck, Waiting};
use crate::state::{Inner, lock};
use veil_primitives::receipt::SignedReceipt;

/// The worker's report on one receipt.
#[derive(Debug)]
pub(crate) enum Checked {
    /// Verified and applied to the meter: held uploads may go.
    Applied,
    /// Stored too: to be acknowledged.
    Stored {
        kib: u64,
        allowance_kib: u64,
    },
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
        // Once the loop has ended nobody reads reports: still store the rest.
        let _ = match apply(&inner, c).await {
            Ok((signed, stored)) => {
                lock(&waiting).supersede(stored.0);
                let _ = report.send(Checked::Applied);
                report.send(match persist(&inner, signed).await {
                    Ok(()) => Checked::Stored {
                        kib: stored.0,
                        allowance_kib: stored.1,
                    },
                    Err(status) => Checked::Failed(status),
                })
            }
            Err(checked) => report.send(checked),
        };
    }
}

/// One receipt through [`receipts::check`] (blocking pool) and
/// [`receipts::accept`]; wakes the session's upstream readers. Returns the
/// receipt to store with its KiB and the allowance it gave.
async fn apply<L: LedgerApi>(
    inner: &Arc<Inner<L>>,
    c: ReceiptCheck,
) -> Result<(SignedReceipt, (u64, u64)), Checked> {
    let now = inner.height();
    let verdict = tokio::task::spawn_blocking(move || receipts::check(c, now))
        .await
        .map_err(|_| Checked::Failed(Status::internal("receipt check task failed")))?;
    let pending = verdict.map_err(Checked::Refused)?;
    let signed = *pending.signed();
    let accepted = receipts::accept(pending, inner.height()).map_err(Checked::Refused)?;
    accepted.meter.notify.notify_waiters();
    Ok((signed, (accepted.kib, accepted.allowance_kib)))
}

/// Stores an applied receipt before it is acknowledged (§9.3, §9.6).
async fn persist<L>(inner: &Arc<Inner<L>>, signed: SignedReceipt) -> Result<(), Status> {
    let store = inner.store.clone();
    tokio::task::spawn_blocking(move || store.put_receipt_if_higher(&signed))
        .await
        .map_err(|_| Status::internal("receipt persistence task failed"))?
        .map_err(|e| Status::internal(format!("node database: {e}")))?;
    Ok(())
}
