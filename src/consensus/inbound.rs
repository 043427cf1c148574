//! What this node does for its peers: raft RPCs go to openraft; a leader
//! logs forwarded commands, hands out read indexes and takes session
//! touches; anyone says whether it holds a log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::raft::AppendEntriesResponse;
use openraft::{Raft, ServerState};
use tokio::sync::{mpsc, oneshot};

use super::StateMachine;
use super::proposer::Proposal;
use super::rpc::{BoxFuture, PeerRequest, PeerResponse, Service};
use super::types::{NodeId, TypeConfig};

/// When this node last heard from a leader that it accepted as leader.
#[derive(Default)]
pub(crate) struct Contact {
    at: Mutex<Option<Instant>>,
    /// On an observer: when its leader last heard from a quorum, as the
    /// leader reported it.
    quorum: Mutex<Option<Instant>>,
}

impl Contact {
    pub fn heard(&self) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    pub fn last(&self) -> Option<Instant> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leader heard from a quorum at `at`.
    pub fn quorum_seen(&self, at: Instant) {
        let mut q = self.quorum.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_none_or(|old| old < at) {
            *q = Some(at);
        }
    }

    pub fn last_quorum(&self) -> Option<Instant> {
        *self.quorum.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A node that joined with an empty data directory while the cluster already
/// had a log does not vote until it holds the log up to the commit index of
/// the first leader that replicates to it: its empty log must not help elect
/// a leader that lacks writes this node (before it lost its data) helped
/// commit. The target comes from a leader, not from a peer's say-so: a peer
/// that is itself behind would name too low an index. Until some leader
/// (elected without this node's vote) reaches it, it does not vote at all.
/// Kept in a marker file so a restart in the middle keeps the rule.
pub(crate) struct CatchUp {
    /// 0: not catching up; WAITING: no leader heard yet; else index to reach + 1.
    until: AtomicU64,
    /// The highest term a peer reported when this node joined: a leader of an
    /// older term (cut off, deposed) may name too low a commit index.
    min_term: AtomicU64,
    marker: Arc<Marker>,
}

const WAITING: u64 = u64::MAX;

/// The marker file, written on a blocking thread (never on an async worker).
/// Writes may finish out of order; only the newest one is carried out.
struct Marker {
    path: PathBuf,
    newest: AtomicU64,
    writing: Mutex<()>,
}

impl Marker {
    /// Write `contents`, or remove the file for None, in the background.
    fn record(self: &Arc<Self>, contents: Option<String>) {
        let mine = self.newest.fetch_add(1, Ordering::AcqRel) + 1;
        let marker = self.clone();
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = marker.writing.lock().unwrap_or_else(|p| p.into_inner());
            if marker.newest.load(Ordering::Acquire) != mine {
                return;
            }
            let done = match contents {
                Some(text) => std::fs::write(&marker.path, text),
                None => match std::fs::remove_file(&marker.path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    r => r,
                },
            };
            if let Err(e) = done {
                tracing::error!(path = %marker.path.display(), error = %e, "cannot record the catch-up marker");
            }
        });
    }
}

impl CatchUp {
    /// Reads the marker file. Blocking: call from a blocking thread.
    pub fn load(marker: PathBuf) -> Self {
        // "N": catching up to index N; "waiting T": no leader of term T or later yet.
        let (until, min_term) = match std::fs::read_to_string(&marker) {
            Err(_) => (0, 0),
            Ok(s) => match s.trim().strip_prefix("waiting ") {
                Some(t) => (WAITING, t.parse::<u64>().unwrap_or(u64::MAX - 1)),
                None => (s.trim().parse::<u64>().map_or(WAITING, |i| i + 1), 0),
            },
        };
        CatchUp {
            until: AtomicU64::new(until),
            min_term: AtomicU64::new(min_term),
            marker: Arc::new(Marker {
                path: marker,
                newest: AtomicU64::new(0),
                writing: Mutex::new(()),
            }),
        }
    }

    /// Start withholding votes until a leader has been caught up with.
    pub fn start(&self, min_term: u64) {
        self.min_term.store(min_term, Ordering::Release);
        self.until.store(WAITING, Ordering::Release);
        self.marker.record(Some(format!("waiting {min_term}\n")));
    }

    /// A leader sent entries, with its commit index: the target, if none yet.
    pub fn leader_commit(&self, term: u64, committed: Option<u64>) {
        if self.until.load(Ordering::Acquire) != WAITING
            || term < self.min_term.load(Ordering::Acquire)
        {
            return;
        }
        let index = committed.unwrap_or(0);
        self.until.store(index + 1, Ordering::Release);
        self.marker.record(Some(format!("{index}\n")));
        tracing::info!(index, "catching up with the leader's log before voting");
    }

    /// Whether votes are still withheld, given the last log index held here.
    pub fn withholding(&self, last_log_index: Option<u64>) -> bool {
        let until = self.until.load(Ordering::Acquire);
        if until == 0 {
            return false;
        }
        if until != WAITING && last_log_index.is_some_and(|i| i + 1 >= until) {
            self.until.store(0, Ordering::Release);
            self.marker.record(None);
            tracing::info!("caught up with the cluster's log; voting again");
            return false;
        }
        true
    }

    /// What is awaited: None if not catching up, Some(None) for a leader,
    /// Some(Some(i)) for log index i.
    pub fn target(&self) -> Option<Option<u64>> {
        match self.until.load(Ordering::Acquire) {
            0 => None,
            WAITING => Some(None),
            n => Some(Some(n - 1)),
        }
    }
}

pub(crate) struct Inbound {
    pub me: NodeId,
    /// Voters, this node included.
    pub voters: Vec<NodeId>,
    /// How long after the leader's last heartbeat followers refuse other candidates.
    pub lease: Duration,
    pub raft: Raft<TypeConfig>,
    pub proposer: mpsc::UnboundedSender<Proposal>,
    pub app: Arc<dyn StateMachine>,
    pub contact: Arc<Contact>,
    pub catch_up: Arc<CatchUp>,
    pub committed: Arc<AtomicU64>,
    pub handover: Arc<super::transfer::Handover>,
}

fn refused(why: impl Into<String>) -> PeerResponse {
    PeerResponse::Refused(why.into())
}

impl Service for Inbound {
    /// The leader's connection broke: its process is gone. Waiting out the
    /// election timeout would cost one or two timeouts, because openraft 0.9
    /// refuses votes while the old leader's lease (the longest election
    /// timeout, counted from its last heartbeat) runs. So the surviving voter
    /// with the smallest id campaigns the moment that lease ends, unless a
    /// leader was heard from meanwhile. One campaigner only, or the survivors
    /// split the vote.
    fn peer_lost(&self, from: NodeId) {
        let (leader, state) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.state)
        };
        let first = self.voters.iter().find(|id| **id != from).copied();
        if leader != Some(from) || state != ServerState::Follower || first != Some(self.me) {
            return;
        }
        let heard = self.contact.last();
        let at = heard.map_or_else(Instant::now, |t| t + self.lease + Duration::from_millis(10));
        tracing::info!(
            leader = from,
            "lost the leader's connection; campaigning when its lease ends"
        );
        let raft = self.raft.clone();
        let contact = self.contact.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let m = raft.metrics().borrow().clone();
            // Someone else took over, or the old leader is back.
            if contact.last() != heard || m.state != ServerState::Follower {
                return;
            }
            if m.current_leader.is_some() && m.current_leader != Some(from) {
                return;
            }
            let _ = raft.trigger().elect().await;
        });
    }

    fn handle(&self, from: NodeId, req: PeerRequest) -> BoxFuture<PeerResponse> {
        let raft = self.raft.clone();
        match req {
            PeerRequest::Append(rpc) => {
                self.catch_up.leader_commit(
                    rpc.vote.leader_id().get_term(),
                    rpc.leader_commit.map(|l| l.index),
                );
                let contact = self.contact.clone();
                Box::pin(async move {
                    let r = raft.append_entries(rpc).await;
                    // Success or a log conflict: the sender is our leader.
                    if let Ok(AppendEntriesResponse::Success | AppendEntriesResponse::Conflict) = &r
                    {
                        contact.heard();
                    }
                    if let Ok(AppendEntriesResponse::PartialSuccess(_)) = &r {
                        contact.heard();
                    }
                    PeerResponse::Append(r)
                })
            }
            PeerRequest::Vote(rpc) => {
                let last = raft.metrics().borrow().last_log_index;
                if self.catch_up.withholding(last) {
                    tracing::debug!(candidate = from, "vote withheld while catching up");
                    return Box::pin(async { refused("catching up; not voting") });
                }
                Box::pin(async move { PeerResponse::Vote(raft.vote(rpc).await) })
            }
            PeerRequest::Snapshot(rpc) => {
                let contact = self.contact.clone();
                Box::pin(async move {
                    let r = raft.install_snapshot(rpc).await;
                    if r.is_ok() {
                        contact.heard();
                    }
                    PeerResponse::Snapshot(r)
                })
            }
            PeerRequest::Forward(batch) => {
                if raft.metrics().borrow().state != ServerState::Leader {
                    return Box::pin(async { refused("not the leader") });
                }
                // Queued now, before the future runs: batches from one peer
                // keep their order.
                let mut waits = Vec::with_capacity(batch.0.len());
                for cmd in batch.0 {
                    let (done, rx) = oneshot::channel();
                    if self.proposer.send(Proposal { cmd, done }).is_err() {
                        return Box::pin(async { refused("shutting down") });
                    }
                    waits.push(rx);
                }
                Box::pin(async move {
                    for w in waits {
                        match w.await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return refused(e.to_string()),
                            Err(_) => return refused("shutting down"),
                        }
                    }
                    PeerResponse::Forwarded
                })
            }
            PeerRequest::ReadIndex => Box::pin(async move {
                match raft.get_read_log_id().await {
                    Ok((read, _applied)) => PeerResponse::ReadIndex(read.map_or(0, |l| l.index)),
                    Err(e) => refused(e.to_string()),
                }
            }),
            PeerRequest::Touch(sessions) => {
                if raft.metrics().borrow().state == ServerState::Leader {
                    self.app.touched(&sessions);
                }
                Box::pin(async { PeerResponse::Touched })
            }
            PeerRequest::Reconfigure(target) => Box::pin(async move {
                PeerResponse::Reconfigured(super::membership::drive(&raft, &target).await)
            }),
            PeerRequest::TransferLeader(to) => {
                let parts = self.handover.clone();
                let me = self.me;
                Box::pin(async move { PeerResponse::Transferred(parts.run(me, to).await) })
            }
            PeerRequest::LeaderPresent => {
                if raft.metrics().borrow().current_leader == Some(from) {
                    self.contact.heard();
                }
                Box::pin(async { PeerResponse::Touched })
            }
            PeerRequest::Campaign => {
                Box::pin(async move { super::transfer::campaign(&raft).await })
            }
            PeerRequest::LeaderQuorum => {
                let age = {
                    let m = raft.metrics();
                    let m = m.borrow();
                    match (m.state, self.voters.len()) {
                        (ServerState::Leader, 0 | 1) => Some(0),
                        (ServerState::Leader, _) => self
                            .handover
                            .quorum_age(m.millis_since_quorum_ack)
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        _ => None,
                    }
                };
                Box::pin(async move { PeerResponse::LeaderQuorum(age) })
            }
            PeerRequest::Status => {
                let (last_log_index, term) = {
                    let m = raft.metrics();
                    let m = m.borrow();
                    (m.last_log_index, m.current_term)
                };
                let committed = self.committed.load(Ordering::Relaxed).checked_sub(1);
                Box::pin(async move {
                    PeerResponse::Status {
                        last_log_index,
                        committed,
                        term,
                    }
                })
            }
        }
    }
}
