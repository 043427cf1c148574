//! A connection's flow control: what it has queued for the client, what it
//! has in the log, and the server-wide count of requests in the log. The
//! connection's reader consults these before it reads another request, so a
//! client that pipelines without reading its replies is pushed back by TCP
//! instead of growing the server's memory (ZooKeeper's globalOutstandingLimit
//! does the same by no longer reading from its sockets).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Out {
    /// A whole frame, length prefix included.
    Frame(Bytes),
    /// Flush and close the connection.
    Close,
}

/// The queue to a connection's writer, counting the bytes not yet written.
///
/// Replies are bounded by the reader's throttle, but notifications are not:
/// they come from other sessions' writes. So the queue has a hard cap too;
/// past it the client is a slow consumer and its connection is dropped at
/// once (queued frames freed), as a stalled reader would otherwise hold
/// server memory without bound.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Out>,
    state: Arc<OutboxState>,
}

struct OutboxState {
    unsent: AtomicUsize,
    written: Notify,
    cap: usize,
    /// Cancelled when the cap was passed: the writer stops mid-write.
    overflowed: CancellationToken,
}

impl Outbox {
    /// A queue that drops its connection once more than `cap` bytes wait.
    pub fn new(cap: usize) -> (Outbox, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(OutboxState {
            unsent: AtomicUsize::new(0),
            written: Notify::new(),
            cap,
            overflowed: CancellationToken::new(),
        });
        (Outbox { tx, state }, rx)
    }

    /// Queue a frame (dropped if the writer is gone or the cap was passed).
    pub fn frame(&self, frame: Bytes) {
        if self.state.overflowed.is_cancelled() {
            return;
        }
        let len = frame.len();
        let before = self.state.unsent.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.state.cap {
            self.state.unsent.fetch_sub(len, Ordering::AcqRel);
            self.state.overflowed.cancel();
            return;
        }
        if self.tx.send(Out::Frame(frame)).is_err() {
            self.state.unsent.fetch_sub(len, Ordering::AcqRel);
        }
    }

    /// Whether the client fell more than the cap behind.
    pub fn overflowed(&self) -> bool {
        self.state.overflowed.is_cancelled()
    }

    /// Resolves once the client falls more than the cap behind.
    pub fn overflow(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.state.overflowed.cancelled()
    }

    /// Flush what is queued, then close.
    pub fn close(&self) {
        let _ = self.tx.send(Out::Close);
    }

    /// Bytes queued and not yet written to the socket.
    pub fn unsent(&self) -> usize {
        self.state.unsent.load(Ordering::Acquire)
    }

    /// The writer wrote `n` queued bytes.
    pub fn wrote(&self, n: usize) {
        self.state.unsent.fetch_sub(n, Ordering::AcqRel);
        self.state.written.notify_waiters();
    }

    /// Resolves after the writer next makes progress.
    pub fn written(&self) -> tokio::sync::futures::Notified<'_> {
        self.state.written.notified()
    }
}

/// Requests in the log and not yet answered, across the whole server.
#[derive(Default)]
pub struct Outstanding {
    count: AtomicUsize,
    released: Notify,
}

impl Outstanding {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves after some request is next answered.
    pub fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }
}

/// Writes of a connection that went to the log and have no reply yet. Reads
/// wait for them so a session always sees its own writes, and every reply
/// leaves in request order.
pub struct Inflight {
    count: AtomicUsize,
    changed: Notify,
    global: Arc<Outstanding>,
}

impl Inflight {
    pub fn new(global: Arc<Outstanding>) -> Self {
        Inflight {
            count: AtomicUsize::new(0),
            changed: Notify::new(),
            global,
        }
    }

    pub fn begin(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.global.count.fetch_add(1, Ordering::SeqCst);
    }

    pub fn end(&self) {
        // Never below zero: a write whose logging failed is ended by its
        // proposer, and must not wrap the counts if it is answered anyway
        // (a wrapped server-wide count would stop every connection).
        if decrement(&self.count, 1) > 0 {
            decrement(&self.global.count, 1);
        }
        self.changed.notify_waiters();
        self.global.released.notify_waiters();
    }

    pub fn pending(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Wait until every write sent so far has been answered.
    pub async fn drained(&self) {
        loop {
            let changed = self.changed.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            changed.await;
        }
    }

    /// Resolves after one of this connection's writes is next answered.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

impl Drop for Inflight {
    /// Writes still in the log when the connection goes are no longer
    /// waited for by anyone here; they stop counting against the server.
    fn drop(&mut self) {
        let left = *self.count.get_mut();
        if left > 0 {
            decrement(&self.global.count, left);
            self.global.released.notify_waiters();
        }
    }
}

/// Subtract `n`, stopping at zero; returns how much was subtracted.
fn decrement(count: &AtomicUsize, n: usize) -> usize {
    let before = count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
            Some(c.saturating_sub(n))
        })
        .unwrap_or(0);
    before.min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_nothing_more_is_queued() {
        let (outbox, mut rx) = Outbox::new(10);
        outbox.frame(Bytes::from_static(b"123456"));
        assert!(!outbox.overflowed());
        outbox.frame(Bytes::from_static(b"12345"));
        assert!(outbox.overflowed());
        outbox.frame(Bytes::from_static(b"1"));
        assert_eq!(outbox.unsent(), 6);
        assert!(matches!(rx.try_recv(), Ok(Out::Frame(f)) if f.len() == 6));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn counts_never_wrap() {
        let global = Arc::new(Outstanding::default());
        let a = Inflight::new(global.clone());
        let b = Inflight::new(global.clone());
        a.begin();
        b.begin();
        a.end();
        // A second end for the same write (failed to log, answered anyway).
        a.end();
        assert_eq!((a.pending(), b.pending(), global.count()), (0, 1, 1));
        drop(b);
        assert_eq!(global.count(), 0);
    }
}
