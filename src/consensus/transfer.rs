//! Handing leadership to a chosen voter (`corral cluster transfer-leader`),
//! which openraft 0.9 has no call for. Its followers refuse every candidate
//! while the leader's lease runs (the longest election timeout since they
//! last heard from it), so the leader goes quiet first: it holds new entries
//! and heartbeats, waits until the target holds its whole log, lets the
//! lease run out and asks the target to campaign. The target's log is as
//! long as anyone's, so it wins, and the old leader steps down on its vote
//! request. Writes wait out the hand-over (about one lease) and then reach
//! the new leader as after any election. Members keep serving their
//! clients meanwhile: the leader tells them it is there outside raft, which
//! would renew the lease (`keep_present`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::{Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::rpc::{PeerRequest, PeerResponse, Transport};
use super::types::{NodeId, TypeConfig};

/// Why leadership did not move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferError {
    /// The target is not a voter of the current membership.
    NotVoter(NodeId),
    /// The target did not catch up with the leader's log in time (it may be down).
    Behind(NodeId),
    /// The target did not answer the leader's call to campaign.
    Unreachable(NodeId),
    /// No leader, or the leader could not be reached.
    Unavailable(String),
    /// The target was asked to campaign but did not win; `leader` leads now.
    NotElected { leader: Option<NodeId> },
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::NotVoter(id) => write!(f, "node {id} is not a voting member"),
            TransferError::Behind(id) => write!(
                f,
                "node {id} did not catch up with the leader's log (is it running?)"
            ),
            TransferError::Unreachable(id) => {
                write!(f, "node {id} did not answer (is it running?)")
            }
            TransferError::Unavailable(why) => write!(f, "no leader to hand over: {why}"),
            TransferError::NotElected { leader: Some(l) } => {
                write!(f, "the target did not win the election; node {l} leads")
            }
            TransferError::NotElected { leader: None } => {
                write!(f, "the target did not win the election; no leader yet")
            }
        }
    }
}

/// Everything the leader side of a hand-over needs.
pub(crate) struct Handover {
    pub raft: Raft<TypeConfig>,
    pub transport: Option<Arc<dyn Transport>>,
    /// Taken for writing, it keeps the proposer from submitting entries.
    pub gate: Arc<RwLock<()>>,
    /// How long followers refuse candidates after the leader's last append.
    pub lease: Duration,
    /// The shortest election timeout.
    pub election: Duration,
    pub round_trips: Arc<super::network::RoundTrips>,
    /// While quiet: when a quorum of voters last answered `keep_present`.
    pub quiet_quorum: QuietQuorum,
}

impl Handover {
    /// On the leader: how long ago a quorum of voters last answered it.
    /// `raft_ms` is openraft's figure (`millis_since_quorum_ack`), which
    /// stops while a hand-over keeps quiet; `keep_present`'s answers count then.
    pub fn quorum_age(&self, raft_ms: Option<u64>) -> Option<Duration> {
        let raft = raft_ms.map(Duration::from_millis);
        let quiet = self
            .quiet_quorum
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|at| at.elapsed());
        match (raft, quiet) {
            (Some(a), Some(q)) => Some(a.min(q)),
            (a, q) => a.or(q),
        }
    }

    /// On the leader: hand leadership to `to` and return once it leads.
    pub async fn run(&self, me: NodeId, to: NodeId) -> Result<(), TransferError> {
        let voters: Vec<NodeId> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            if m.state != ServerState::Leader {
                return Err(TransferError::Unavailable(
                    "this node no longer leads".into(),
                ));
            }
            m.membership_config.membership().voter_ids().collect()
        };
        if to == me {
            return Ok(());
        }
        if !voters.contains(&to) {
            return Err(TransferError::NotVoter(to));
        }
        let Some(transport) = &self.transport else {
            return Err(TransferError::Unavailable("no peers".into()));
        };
        // First, with heartbeats on: the target answers and is nearly level.
        self.nearly_level(to).await?;
        // Then quiet: no entry after the one the proposer may be submitting now, no
        // heartbeat. Followers campaign once the lease and an election timeout have
        // passed without one, so a hand-over that fails here must give up well before.
        let _held = self.gate.write().await;
        let _quiet = Quiet::new(&self.raft, &self.quiet_quorum);
        let _present = Abort(tokio::spawn(keep_present(
            transport.clone(),
            voters,
            me,
            self.election / 5,
            self.quiet_quorum.clone(),
        )));
        tracing::info!(to, "handing leadership over");
        self.level(to).await?;
        // Followers count the lease from the last append they took, which came before now.
        tokio::time::sleep(self.lease + self.election / 5).await;
        let asked = tokio::time::timeout(self.election, transport.call(to, PeerRequest::Campaign));
        match asked.await {
            Ok(Ok(PeerResponse::Campaigning)) => {}
            Ok(Ok(other)) => return Err(TransferError::Unavailable(format!("{other:?}"))),
            Ok(Err(e)) => {
                tracing::info!(to, error = %e, "hand-over target unreachable");
                return Err(TransferError::Unreachable(to));
            }
            Err(_) => return Err(TransferError::Unreachable(to)),
        }
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + self.election * 4;
        loop {
            let leader = {
                let m = rx.borrow_and_update();
                (m.state != ServerState::Leader).then_some(m.current_leader)
            };
            match leader {
                Some(Some(l)) if l == to => return Ok(()),
                Some(Some(l)) => return Err(TransferError::NotElected { leader: Some(l) }),
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(TransferError::Unavailable("shutting down".into())),
                Err(_) => {
                    let leader = self.raft.metrics().borrow().current_leader;
                    return Err(TransferError::NotElected { leader });
                }
            }
        }
    }

    /// The leader's last log index and the one `to` has acknowledged.
    fn progress(&self, to: NodeId) -> (Option<u64>, Option<u64>) {
        let m = self.raft.metrics();
        let m = m.borrow();
        let matched = m
            .replication
            .as_ref()
            .and_then(|r| r.get(&to).copied())
            .flatten()
            .map(|l| l.index);
        (m.last_log_index, matched)
    }

    /// Before going quiet: `to` answers heartbeats and lacks at most
    /// [`NEARLY`] entries, within eight election timeouts.
    async fn nearly_level(&self, to: NodeId) -> Result<(), TransferError> {
        let deadline = Instant::now() + self.election * 8;
        while Instant::now() < deadline {
            let answers = self
                .round_trips
                .recent(self.election)
                .iter()
                .any(|(id, _)| *id == to);
            if let (true, (Some(last), Some(matched))) = (answers, self.progress(to))
                && matched + NEARLY >= last
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(TransferError::Behind(to))
    }

    /// While quiet: `to` has acknowledged the leader's last entry, within
    /// half an election timeout. Its acknowledgement is the proof it
    /// answers (heartbeat figures stop with the heartbeats). The entry the
    /// proposer submitted last may not be in the metrics yet, so the same
    /// figure must be seen twice, apart.
    async fn level(&self, to: NodeId) -> Result<(), TransferError> {
        let deadline = Instant::now() + self.election / 2;
        let mut seen = None;
        while Instant::now() < deadline {
            match self.progress(to) {
                (Some(last), Some(matched)) if matched == last => {
                    if seen == Some(last) {
                        return Ok(());
                    }
                    seen = Some(last);
                }
                _ => seen = None,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(TransferError::Behind(to))
    }
}

/// Log entries the target may lack before the leader goes quiet: under
/// load a few entries are always on their way.
const NEARLY: u64 = 16;

/// The leader's contact with a quorum while quiet, which openraft no longer
/// measures: when a quorum last answered `keep_present`.
pub(crate) type QuietQuorum = Arc<Mutex<Option<Instant>>>;

fn set(q: &QuietQuorum, at: Option<Instant>) {
    *q.lock().unwrap_or_else(|p| p.into_inner()) = at;
}

/// Heartbeats off for as long as it lives.
struct Quiet<'a>(&'a Raft<TypeConfig>, &'a QuietQuorum);

impl<'a> Quiet<'a> {
    fn new(raft: &'a Raft<TypeConfig>, quorum: &'a QuietQuorum) -> Self {
        raft.runtime_config().heartbeat(false);
        // It was in touch a moment ago: the target has just answered.
        set(quorum, Some(Instant::now()));
        Quiet(raft, quorum)
    }
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        // Whichever way the hand-over went: a leader (still this one, or again) must beat.
        self.0.runtime_config().heartbeat(true);
        set(self.1, None);
    }
}

struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// While quiet, every `every`: tell the other voters the leader is there
/// (they keep serving their clients, as through a short election), and note
/// when a quorum answered (so does the leader).
async fn keep_present(
    transport: Arc<dyn Transport>,
    voters: Vec<NodeId>,
    me: NodeId,
    every: Duration,
    quorum: QuietQuorum,
) {
    let others: Vec<NodeId> = voters.iter().copied().filter(|id| *id != me).collect();
    loop {
        let round = Instant::now();
        let calls = others.iter().map(|id| {
            let call = transport.call(*id, PeerRequest::LeaderPresent);
            async move {
                matches!(
                    tokio::time::timeout(every, call).await,
                    Ok(Ok(PeerResponse::Touched))
                )
            }
        });
        let answered = futures::future::join_all(calls)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count();
        if (answered + 1) * 2 > voters.len() {
            set(&quorum, Some(round));
        }
        tokio::time::sleep_until((round + every).into()).await;
    }
}

/// On the target: campaign now. Called by the leader once its lease is over.
pub(crate) async fn campaign(raft: &Raft<TypeConfig>) -> PeerResponse {
    if raft.metrics().borrow().state != ServerState::Follower {
        return PeerResponse::Refused("not a follower".into());
    }
    match raft.trigger().elect().await {
        Ok(()) => PeerResponse::Campaigning,
        Err(e) => PeerResponse::Refused(e.to_string()),
    }
}
