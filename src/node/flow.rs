//! A connection's flow control: what it has queued for the client, what it
//! has in the log, and the server-wide count of requests in the log. The
//! connection's reader consults these before it reads another request, so a
//! client that pipelines without reading its replies is pushed back by TCP
//! instead of growing the server's memory (ZooKeeper's globalOutstandingLimit
//! does the same by no longer reading from its sockets).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// The queue to a connection's writer, counting the bytes not yet written.
///
/// Replies are bounded by the reader's throttle, but notifications are not:
/// they come from other sessions' writes. So the queue has a hard cap too;
/// past it the client is a slow consumer and its connection is dropped at
/// once (queued frames freed), as a stalled reader would otherwise hold
/// server memory without bound.
///
/// A deque under a lock rather than a channel: a channel allocates a block
/// of slots up front, a kilobyte or more per connection whether anything is
/// queued or not, and connections are mostly idle.
#[derive(Clone)]
pub struct Outbox {
    state: Arc<OutboxState>,
}

struct OutboxState {
    queue: Mutex<Queue>,
    /// Wakes the writer (a permit is kept if it is not waiting yet).
    ready: Notify,
    unsent: AtomicUsize,
    written: Notify,
    cap: usize,
    /// Set when the cap was passed: the writer stops mid-write.
    overflowed: AtomicBool,
    /// Set when the writer stopped: the reader stops too.
    finished: AtomicBool,
    /// Set when the reader stopped (it needs no waking).
    reader_stopped: AtomicBool,
    /// Wakes whoever waits for either flag. (Flags and a Notify rather than
    /// cancellation tokens, which are an allocation each per connection.)
    signal: Notify,
}

#[derive(Default)]
struct Queue {
    /// Whole frames, length prefix included, in the order they are sent.
    frames: VecDeque<Bytes>,
    /// Flush what is queued, then close; nothing more is queued.
    closing: bool,
}

impl Outbox {
    /// A queue that drops its connection once more than `cap` bytes wait.
    pub fn new(cap: usize) -> Outbox {
        Outbox {
            state: Arc::new(OutboxState {
                queue: Mutex::new(Queue::default()),
                ready: Notify::new(),
                unsent: AtomicUsize::new(0),
                written: Notify::new(),
                cap,
                overflowed: AtomicBool::new(false),
                finished: AtomicBool::new(false),
                reader_stopped: AtomicBool::new(false),
                signal: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a frame (dropped once closing or past the cap).
    pub fn frame(&self, frame: Bytes) {
        if self.overflowed() {
            return;
        }
        let len = frame.len();
        let before = self.state.unsent.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.state.cap {
            self.state.unsent.fetch_sub(len, Ordering::AcqRel);
            self.state.overflowed.store(true, Ordering::Release);
            self.state.signal.notify_waiters();
            return;
        }
        {
            let mut q = self.lock();
            if q.closing {
                drop(q);
                self.state.unsent.fetch_sub(len, Ordering::AcqRel);
                return;
            }
            q.frames.push_back(frame);
        }
        self.state.ready.notify_one();
    }

    /// Whether the client fell more than the cap behind.
    pub fn overflowed(&self) -> bool {
        self.state.overflowed.load(Ordering::Acquire)
    }

    /// Resolves once the client falls more than the cap behind.
    pub async fn overflow(&self) {
        self.until(&self.state.overflowed).await;
    }

    /// For the writer, when it stopped (and will send nothing more).
    pub fn finish(&self) {
        self.state.finished.store(true, Ordering::Release);
        self.state.signal.notify_waiters();
    }

    /// For the reader, when it stops reading for good.
    pub fn reader_stopped(&self) {
        self.state.reader_stopped.store(true, Ordering::Release);
    }

    /// Whether the reader may still be waiting for the client.
    pub fn reading(&self) -> bool {
        !self.state.reader_stopped.load(Ordering::Acquire)
    }

    /// Resolves once the writer stopped.
    pub async fn finished(&self) {
        self.until(&self.state.finished).await;
    }

    async fn until(&self, flag: &AtomicBool) {
        loop {
            let signalled = self.state.signal.notified();
            tokio::pin!(signalled);
            // Registered before the flag is read, so a set in between wakes us.
            signalled.as_mut().enable();
            if flag.load(Ordering::Acquire) {
                return;
            }
            signalled.await;
        }
    }

    /// Flush what is queued, then close.
    pub fn close(&self) {
        self.lock().closing = true;
        self.state.ready.notify_one();
    }

    /// For the writer: move queued frames into `out` (up to about `max`
    /// bytes), waiting for some if there are none. None once closing and
    /// everything queued has been taken.
    pub async fn take(&self, out: &mut Vec<Bytes>, max: usize) -> Option<()> {
        loop {
            {
                let mut q = self.lock();
                if !q.frames.is_empty() {
                    let mut len = 0;
                    while len < max {
                        let Some(f) = q.frames.pop_front() else { break };
                        len += f.len();
                        out.push(f);
                    }
                    // Given back once drained: most connections are idle
                    // most of the time.
                    if q.frames.is_empty() {
                        q.frames = VecDeque::new();
                    }
                    return Some(());
                }
                if q.closing {
                    return None;
                }
            }
            self.state.ready.notified().await;
        }
    }

    /// For the writer, when it stops: frames still queued are freed, and
    /// nothing more is queued.
    pub fn discard(&self) {
        let dropped = {
            let mut q = self.lock();
            q.closing = true;
            std::mem::take(&mut q.frames)
        };
        let len: usize = dropped.iter().map(|f| f.len()).sum();
        self.state.unsent.fetch_sub(len, Ordering::AcqRel);
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

    #[tokio::test]
    async fn past_the_cap_nothing_more_is_queued() {
        let outbox = Outbox::new(10);
        outbox.frame(Bytes::from_static(b"123456"));
        assert!(!outbox.overflowed());
        outbox.frame(Bytes::from_static(b"12345"));
        assert!(outbox.overflowed());
        outbox.frame(Bytes::from_static(b"1"));
        assert_eq!(outbox.unsent(), 6);
        let mut out = Vec::new();
        assert!(outbox.take(&mut out, usize::MAX).await.is_some());
        assert_eq!(out.iter().map(|f| f.len()).collect::<Vec<_>>(), [6]);
    }

    #[tokio::test]
    async fn close_flushes_what_was_queued_and_nothing_after() {
        let outbox = Outbox::new(100);
        outbox.frame(Bytes::from_static(b"ab"));
        outbox.frame(Bytes::from_static(b"cde"));
        outbox.close();
        outbox.frame(Bytes::from_static(b"late"));
        assert_eq!(outbox.unsent(), 5);
        let mut out = Vec::new();
        // Taken up to about 2 bytes: one frame, then the rest, then closed.
        assert!(outbox.take(&mut out, 2).await.is_some());
        assert_eq!(out.len(), 1);
        assert!(outbox.take(&mut out, 2).await.is_some());
        assert_eq!(out.len(), 2);
        assert!(outbox.take(&mut out, 2).await.is_none());
    }

    #[tokio::test]
    async fn the_writer_is_woken_by_a_frame_queued_while_it_waits() {
        let outbox = Outbox::new(100);
        let writer = outbox.clone();
        let task = tokio::spawn(async move {
            let mut out = Vec::new();
            writer.take(&mut out, 100).await.map(|()| out.len())
        });
        tokio::task::yield_now().await;
        outbox.frame(Bytes::from_static(b"x"));
        assert_eq!(task.await.ok().flatten(), Some(1));
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
