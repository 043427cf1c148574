//! A node's own commands on their way into the log: numbered in the order
//! they were submitted, sent to whoever leads (the local proposer, or the
//! leader over the transport), and sent again, from the oldest one not
//! confirmed, whenever a send fails (the leader died or changed). The tree
//! skips a command whose number it has applied, so every command is applied
//! once, in this node's order, whichever leader logs it.
//!
//! One batch is in flight at a time: a batch is resent only after the
//! previous send has resolved, so no later command can overtake an earlier
//! one at a new leader. While it is in flight, new commands gather for the
//! next batch, so batches grow with the load.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use openraft::{Raft, ServerState};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::ConsensusError;
use super::proposer::Proposal;
use super::rpc::{PeerRequest, PeerResponse, Transport};
use super::types::{Batch, NodeId, TypeConfig};

struct Item {
    cmd: Bytes,
    done: Option<oneshot::Sender<Result<(), ConsensusError>>>,
}

#[derive(Default)]
struct Queue {
    /// The last sequence number handed out.
    seq: u64,
    /// Commands not yet confirmed, oldest first.
    items: VecDeque<Item>,
    /// Items at the front that are in the batch in flight.
    in_flight: usize,
    stopped: bool,
}

pub(crate) struct Sender {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Sender {
    pub fn new() -> Self {
        Sender {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number the command (`make` gets its sequence number) and queue it.
    pub fn submit(
        &self,
        make: impl FnOnce(u64) -> Bytes,
    ) -> oneshot::Receiver<Result<(), ConsensusError>> {
        let (tx, rx) = oneshot::channel();
        let mut q = self.lock();
        if q.stopped {
            let _ = tx.send(Err(ConsensusError::ShuttingDown));
            return rx;
        }
        q.seq += 1;
        let cmd = make(q.seq);
        q.items.push_back(Item {
            cmd,
            done: Some(tx),
        });
        drop(q);
        self.wake.notify_one();
        rx
    }

    /// Fail everything queued (shutdown).
    pub fn stop(&self) {
        self.fail(ConsensusError::ShuttingDown);
    }

    /// Fail everything queued and anything submitted later with `e`.
    fn fail(&self, e: ConsensusError) {
        let mut q = self.lock();
        q.stopped = true;
        for mut item in q.items.drain(..) {
            if let Some(d) = item.done.take() {
                let _ = d.send(Err(e.clone()));
            }
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Commands not yet confirmed.
    pub fn pending(&self) -> usize {
        self.lock().items.len()
    }

    /// The next batch: everything not yet confirmed, oldest first, up to the limits.
    fn next_batch(&self, max_cmds: usize, max_bytes: usize) -> Option<Vec<Bytes>> {
        let mut q = self.lock();
        if q.items.is_empty() || q.stopped {
            return None;
        }
        let mut bytes = 0;
        let mut out = Vec::new();
        for item in &q.items {
            if out.len() >= max_cmds || (!out.is_empty() && bytes + item.cmd.len() > max_bytes) {
                break;
            }
            bytes += item.cmd.len();
            out.push(item.cmd.clone());
        }
        q.in_flight = out.len();
        Some(out)
    }

    fn confirmed(&self) {
        let mut q = self.lock();
        let n = q.in_flight.min(q.items.len());
        for mut item in q.items.drain(..n) {
            if let Some(d) = item.done.take() {
                let _ = d.send(Ok(()));
            }
        }
        q.in_flight = 0;
    }
}

/// Why a batch was not confirmed.
enum NotSent {
    /// Try again, at whoever leads next.
    Retry(String),
    /// Consensus itself stopped (a storage fault, a replica that cannot
    /// apply): nothing will ever be logged from here.
    Stopped(ConsensusError),
}

pub(crate) struct SendLoop {
    pub me: NodeId,
    pub raft: Raft<TypeConfig>,
    pub sender: Arc<Sender>,
    pub proposer: mpsc::UnboundedSender<Proposal>,
    pub transport: Option<Arc<dyn Transport>>,
    pub max_cmds: usize,
    pub max_bytes: usize,
    pub stop: CancellationToken,
}

impl SendLoop {
    pub async fn run(self) {
        let mut metrics = self.raft.metrics();
        loop {
            let batch = loop {
                let wake = self.sender.wake.notified();
                if let Some(b) = self.sender.next_batch(self.max_cmds, self.max_bytes) {
                    break b;
                }
                tokio::select! {
                    _ = wake => {}
                    _ = self.stop.cancelled() => return,
                }
            };
            let (state, leader) = {
                let m = metrics.borrow_and_update();
                (m.state, m.current_leader)
            };
            let sent = match leader {
                Some(l) if l == self.me && state == ServerState::Leader => {
                    self.propose_here(batch).await
                }
                Some(l) if l != self.me => self.forward(l, batch).await,
                _ => Err(NotSent::Retry("no leader".into())),
            };
            match sent {
                Ok(()) => self.sender.confirmed(),
                Err(NotSent::Stopped(e)) => {
                    tracing::error!(error = %e, "consensus stopped; failing queued commands");
                    self.sender.fail(e);
                    return;
                }
                Err(NotSent::Retry(why)) => {
                    debug!(error = %why, pending = self.sender.pending(), "commands not confirmed; sending again");
                    // Wait for a leader change, or a short while (the same leader may be back).
                    tokio::select! {
                        _ = metrics.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = self.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn propose_here(&self, batch: Vec<Bytes>) -> Result<(), NotSent> {
        let mut waits = Vec::with_capacity(batch.len());
        for cmd in batch {
            let (done, rx) = oneshot::channel();
            if self.proposer.send(Proposal { cmd, done }).is_err() {
                return Err(NotSent::Stopped(ConsensusError::ShuttingDown));
            }
            waits.push(rx);
        }
        for w in waits {
            match w.await {
                Ok(Ok(())) => {}
                Ok(Err(ConsensusError::NotLeader { .. })) => {
                    return Err(NotSent::Retry("lost leadership".into()));
                }
                Ok(Err(e)) => return Err(NotSent::Stopped(e)),
                Err(_) => return Err(NotSent::Stopped(ConsensusError::ShuttingDown)),
            }
        }
        Ok(())
    }

    async fn forward(&self, leader: NodeId, batch: Vec<Bytes>) -> Result<(), NotSent> {
        let Some(t) = &self.transport else {
            return Err(NotSent::Retry("no transport".into()));
        };
        let call = t.call(leader, PeerRequest::Forward(Batch(batch)));
        // A new leader means a new term, in which the old leader can commit
        // nothing more: whatever it has not committed is either in the new
        // leader's log already or lost. Stop waiting for it and resend (the
        // tree skips what was applied), rather than wait out the call's
        // timeout behind a paused or cut-off leader.
        let mut metrics = self.raft.metrics();
        let replaced = async move {
            loop {
                let now = metrics.borrow_and_update().current_leader;
                if now.is_some() && now != Some(leader) {
                    return now;
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
            }
        };
        let why = tokio::select! {
            r = call => match r {
                Ok(PeerResponse::Forwarded) => return Ok(()),
                Ok(PeerResponse::Refused(why)) => format!("leader {leader} refused: {why}"),
                Ok(other) => format!("leader {leader}: unexpected answer {other:?}"),
                Err(e) => e.to_string(),
            },
            new = replaced => format!("leader {leader} replaced by {new:?}"),
        };
        Err(NotSent::Retry(why))
    }
}
