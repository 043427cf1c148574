//! Observers: members that receive the log and serve clients but do not vote
//! (raft learners). The leader adds the configured ones; an observer checks
//! that its leader still has a quorum, since heartbeats alone would not say.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, Raft, ServerState};
use tokio_util::sync::CancellationToken;

use super::StateMachine;
use super::inbound::Contact;
use super::rpc::{PeerRequest, PeerResponse, Transport};
use super::types::{NodeId, TypeConfig};

/// On the leader: make every configured observer a learner (it then gets the log and
/// heartbeats but no vote). Checked every election timeout, so a new leader, or one whose
/// earlier attempt met a membership change in progress, tries again.
pub(super) async fn admit_observers(
    raft: Raft<TypeConfig>,
    app: Arc<dyn StateMachine>,
    observers: BTreeMap<NodeId, BasicNode>,
    every: Duration,
    stop: CancellationToken,
) {
    while pause(every, &stop).await {
        // After a reconfig the log's membership is the truth, not the
        // server lines (an observer removed by one stays removed).
        if app.reconfigured() {
            return;
        }
        let missing: Vec<(NodeId, BasicNode)> = {
            let m = raft.metrics().borrow().clone();
            if m.state != ServerState::Leader {
                continue;
            }
            let membership = m.membership_config.membership();
            observers
                .iter()
                .filter(|(id, _)| membership.get_node(id).is_none())
                .map(|(id, node)| (*id, node.clone()))
                .collect()
        };
        for (id, node) in missing {
            // Not blocking: the learner catches up on its own; we only need the
            // membership entry committed.
            match raft.add_learner(id, node, false).await {
                Ok(_) => tracing::info!(observer = id, "observer added"),
                Err(e) => tracing::debug!(observer = id, error = %e, "observer not added yet"),
            }
        }
    }
}

/// On an observer: ask the leader, every `every`, when it last heard from a
/// quorum of voters. A leader that lost its quorum keeps sending heartbeats
/// (openraft 0.9 does not step down), which a follower sees through (it is
/// part of the quorum) but an observer does not: without this it would go
/// on serving clients whose sessions the majority may be expiring.
pub(super) async fn watch_leader_quorum(
    me: NodeId,
    raft: Raft<TypeConfig>,
    transport: Arc<dyn Transport>,
    contact: Arc<Contact>,
    every: Duration,
    stop: CancellationToken,
) {
    while pause(every, &stop).await {
        let (leader, voter) = {
            let m = raft.metrics();
            let m = m.borrow();
            (
                m.current_leader,
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == me),
            )
        };
        // A voter is part of any quorum its leader has: its own heartbeats tell.
        let Some(leader) = leader.filter(|l| *l != me && !voter) else {
            continue;
        };
        let asked = Instant::now();
        if let Ok(PeerResponse::LeaderQuorum(Some(ms))) =
            transport.call(leader, PeerRequest::LeaderQuorum).await
        {
            // As of when we asked: the answer's own travel time is not credited.
            contact.quorum_seen(
                asked
                    .checked_sub(Duration::from_millis(ms))
                    .unwrap_or(asked),
            );
        }
    }
}

/// Wait `every`; false once `stop` is cancelled.
async fn pause(every: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(every) => true,
        _ = stop.cancelled() => false,
    }
}
