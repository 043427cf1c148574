//! How members come together: a fresh set of members forms one cluster, a
//! member that starts into an existing one joins it, and a starting member
//! holds its campaign until it has heard whether a leader exists.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Raft};
use tokio_util::sync::CancellationToken;

use super::inbound::{CatchUp, Contact};
use super::rpc::{PeerRequest, PeerResponse, Transport};
use super::types::{NodeId, TypeConfig};

/// How many of the longest election timeouts a starting member waits to hear
/// from a leader before it may campaign.
pub(super) const ELECTION_GRACE: u64 = 4;

/// Lets a member campaign once it has heard from a leader, or after `grace`.
///
/// A member that restarts while the others still have a leader would
/// otherwise time out before that leader reconnects to it (its redial backs
/// off), campaign with a higher term, and make the healthy leader step down
/// (openraft 0.9 has no pre-vote): a needless leaderless half second after
/// every restart. With no leader anywhere (the whole cluster restarting) it
/// campaigns after the grace period.
pub(super) async fn allow_elections(
    raft: Raft<TypeConfig>,
    contact: Arc<Contact>,
    grace: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    while contact.last().is_none() && started.elapsed() < grace {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = stop.cancelled() => return,
        }
    }
    raft.runtime_config().elect(true);
}

/// How long a fresh member waits for the member with the smallest id to form the
/// cluster before it initializes too.
const FORMATION_FALLBACK: Duration = Duration::from_secs(3);

/// A fresh member's first start: form the cluster with the other members, or join the
/// one they already formed.
///
/// Every fresh member may initialize with the same member list (openraft writes the same
/// entry at index 0 everywhere, so they form one cluster whichever starts first), but only
/// after it has heard from a majority of the members (itself included) and none of them
/// holds more than that first entry. Of the fresh members it hears from, the one with the
/// smallest id initializes and the others vote for it: several initializing at once would
/// split the first vote (a fallback lets the others initialize too if it does not).
///
/// If a member already holds more than the first entry, the cluster exists: this node
/// waits for the leader to send it the log and withholds its vote until it has caught up
/// (it may be a member that lost its data, whose vote would otherwise help elect a leader
/// lacking writes it once acknowledged).
pub(super) async fn form(
    me: NodeId,
    raft: Raft<TypeConfig>,
    transport: Arc<dyn Transport>,
    members: BTreeMap<NodeId, BasicNode>,
    catch_up: Arc<CatchUp>,
    stop: CancellationToken,
) {
    let majority = members.len() / 2 + 1;
    let mut waited = Instant::now();
    // Since when a fresh majority has been in reach.
    let mut formable: Option<Instant> = None;
    loop {
        // Initialized meanwhile: by our own earlier attempt, or a leader's log reached us.
        if raft.is_initialized().await.unwrap_or(true) {
            return;
        }
        let mut fresh = 1; // this node
        let mut first_fresh = me;
        let mut existing: Option<u64> = None;
        let mut max_term = 0;
        for id in members.keys().filter(|id| **id != me) {
            if let Ok(PeerResponse::Status {
                last_log_index,
                committed,
                term,
            }) = transport.call(*id, PeerRequest::Status).await
            {
                max_term = max_term.max(term);
                if last_log_index.unwrap_or(0) > 0 {
                    let c = committed.unwrap_or(0);
                    existing = Some(existing.map_or(c, |e: u64| e.max(c)));
                } else {
                    fresh += 1;
                    first_fresh = first_fresh.min(*id);
                }
            }
        }
        if let Some(committed) = existing {
            tracing::info!(
                committed,
                "the cluster already exists; joining it, not voting until this node holds \
                 the log of a leader"
            );
            catch_up.start(max_term);
            return;
        }
        if fresh >= majority {
            let since = *formable.get_or_insert_with(Instant::now);
            if first_fresh != me && since.elapsed() < FORMATION_FALLBACK {
                // Member `first_fresh` forms it; we vote when it asks.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stop.cancelled() => return,
                }
                continue;
            }
            tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "forming the cluster");
            match raft.initialize(members.clone()).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => tracing::error!(error = %e, "cannot initialize the cluster"),
            }
            return;
        }
        if waited.elapsed() > Duration::from_secs(5) {
            tracing::info!(
                reachable = fresh,
                needed = majority,
                "waiting for peers to form the cluster"
            );
            waited = Instant::now();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
