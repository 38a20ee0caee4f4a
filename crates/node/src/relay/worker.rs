//! A Relay's receipt worker: the I/O half of [`super::receipts`]. Two tasks
//! per Relay that has received a receipt. The checker verifies (≈ 75 µs
//! under the prepared key, on its task: the blocking pool's hand-offs
//! lengthened each receipt's round trip more than they saved), applies the receipt to the session's meter and wakes its
//! upstream readers (reporting `Applied`: the relay loop releases held
//! uploads). The storer stores the highest applied receipt and reports
//! `Stored` (the loop acknowledges it, §9.3) while the checker goes on, so
//! the allowance never waits for the disk. The loop waits for both to stop
//! before the call ends, so a node that has returned from `join` no longer
//! holds its database through a receipt in flight.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tonic::Status;
use veil_ledger::LedgerApi;

use super::event::Refusal;
use super::receipts::{self, ReceiptCheck, ToStore, Unstored, Waiting};
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

/// The loop's handle on its worker: a checking task and a storing task,
/// so a receipt is verified and applied while the previous one is written.
pub(crate) struct ReceiptWorker {
    waiting: Arc<Slot<Waiting>>,
    unstored: Arc<Slot<Unstored>>,
    checker: JoinHandle<()>,
    storer: JoinHandle<()>,
}

/// A sans-IO queue shared by two tasks, and the wake-up for its consumer.
struct Slot<T> {
    state: Mutex<T>,
    wake: Notify,
}

impl<T: Default> Slot<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(T::default()),
            wake: Notify::new(),
        })
    }

    /// Changes the state, then wakes the consumer.
    fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut lock(&self.state));
        self.wake.notify_one();
    }
}

impl ReceiptWorker {
    /// Starts the worker; its reports arrive on `report`.
    pub fn start<L: LedgerApi>(
        inner: Arc<Inner<L>>,
        report: mpsc::UnboundedSender<Checked>,
    ) -> Self {
        let waiting = Slot::<Waiting>::new();
        let unstored = Slot::<Unstored>::new();
        let checker = tokio::spawn(check_loop(
            inner.clone(),
            waiting.clone(),
            unstored.clone(),
            report.clone(),
        ));
        let storer = tokio::spawn(store_loop(inner, unstored.clone(), report));
        Self {
            waiting,
            unstored,
            checker,
            storer,
        }
    }

    /// Queues a receipt for checking.
    pub fn push(&self, c: ReceiptCheck) {
        self.waiting.update(|w| w.push(c));
    }

    /// Stops the worker once every receipt queued is through (at most
    /// [`receipts::MAX_WAITING`] and the one it is on: a client's last
    /// receipt before it ends the call is still stored), and waits for it.
    pub async fn stop(self) {
        self.waiting.update(Waiting::close);
        let _ = self.checker.await;
        // The checker closes it as it ends; again here in case it panicked.
        self.unstored.update(Unstored::close);
        let _ = self.storer.await;
    }
}

/// Checks and applies the highest waiting receipt, over and over; hands
/// each applied one to the store. Closes the store when it ends.
async fn check_loop<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    waiting: Arc<Slot<Waiting>>,
    unstored: Arc<Slot<Unstored>>,
    report: mpsc::UnboundedSender<Checked>,
) {
    loop {
        let next = {
            let mut w = lock(&waiting.state);
            (w.take_highest(), w.is_closed())
        };
        let c = match next {
            (Some(c), _) => c,
            (None, true) => break,
            (None, false) => {
                waiting.wake.notified().await;
                continue;
            }
        };
        // Once the loop has ended nobody reads reports: still store the rest.
        match apply(&inner, c).await {
            Ok(applied) => {
                lock(&waiting.state).supersede(applied.kib);
                let _ = report.send(Checked::Applied);
                unstored.update(|u| u.offer(applied));
            }
            Err(checked) => {
                let _ = report.send(checked);
            }
        }
    }
    unstored.update(Unstored::close);
}

/// Stores the highest applied receipt, over and over, reporting each
/// stored one (the loop acknowledges it); ends once closed and empty.
async fn store_loop<L>(
    inner: Arc<Inner<L>>,
    unstored: Arc<Slot<Unstored>>,
    report: mpsc::UnboundedSender<Checked>,
) {
    loop {
        let next = {
            let mut u = lock(&unstored.state);
            (u.take(), u.is_closed())
        };
        let r = match next {
            (Some(r), _) => r,
            (None, true) => return,
            (None, false) => {
                unstored.wake.notified().await;
                continue;
            }
        };
        let ToStore {
            signed,
            kib,
            allowance_kib,
        } = r;
        let _ = report.send(match persist(&inner, signed).await {
            Ok(()) => Checked::Stored { kib, allowance_kib },
            Err(status) => Checked::Failed(status),
        });
    }
}

/// One receipt through [`receipts::check`] and
/// [`receipts::accept`]; wakes the session's upstream readers. Returns the
/// receipt to store with its KiB and the allowance it gave.
async fn apply<L: LedgerApi>(inner: &Arc<Inner<L>>, c: ReceiptCheck) -> Result<ToStore, Checked> {
    let now = inner.height();
    let pending = receipts::check(c, now).map_err(Checked::Refused)?;
    let signed = *pending.signed();
    let accepted = receipts::accept(pending, inner.height()).map_err(Checked::Refused)?;
    accepted.meter.notify.notify_waiters();
    Ok(ToStore {
        signed,
        kib: accepted.kib,
        allowance_kib: accepted.allowance_kib,
    })
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
