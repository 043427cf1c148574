//! Who the members are, and changing that (ZooKeeper's reconfig). The raft
//! log's membership is the truth once the cluster exists: each member is a
//! raft node whose `BasicNode` address holds its ZooKeeper server spec
//! without the role (`host:quorumPort:electionPort[;clientHost:clientPort]`;
//! clusters formed before reconfig existed hold just `host:port`), voters
//! are participants and learners observers. A change runs on the leader in
//! idempotent steps (add nodes, replace the voters, remove nodes), each a
//! raft membership change that commits before the next; whoever asks
//! repeats until the membership is the one asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::rpc::Transport;
use super::types::{NodeId, TypeConfig};

/// A membership: every member's spec, and which of them vote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Membership {
    pub voters: BTreeSet<NodeId>,
    /// id → `host:quorumPort:electionPort[;clientHost:clientPort]`.
    pub nodes: BTreeMap<NodeId, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReconfigError {
    /// The new voters would not have a quorum of members the leader hears
    /// from (ZooKeeper's NewConfigNoQuorum).
    NoQuorum,
    /// Nothing was decided: no leader, a leader change, another change in
    /// progress, shutting down. The client may try again.
    Unavailable(String),
}

impl std::fmt::Display for ReconfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReconfigError::NoQuorum => f.write_str("the new voters would have no quorum"),
            ReconfigError::Unavailable(why) => write!(f, "membership not changed: {why}"),
        }
    }
}

/// How long a change may wait for new voters to catch up with the leader.
const CATCH_UP: Duration = Duration::from_secs(5);

impl Membership {
    pub(super) fn of(raft: &Raft<TypeConfig>) -> Membership {
        let m = raft.metrics().borrow().membership_config.clone();
        let m = m.membership();
        Membership {
            voters: m.voter_ids().collect(),
            nodes: m.nodes().map(|(id, n)| (*id, n.addr.clone())).collect(),
        }
    }
}

/// The peer address in a node's spec: its host and first port.
pub fn peer_addr_of(spec: &str) -> Option<(String, u16)> {
    let server = spec.split(';').next()?;
    let (host, rest) = if let Some(v6) = server.strip_prefix('[') {
        let (h, r) = v6.split_once(']')?;
        (h.to_string(), r.strip_prefix(':')?)
    } else {
        let (h, r) = server.split_once(':')?;
        (h.to_string(), r)
    };
    let port = rest.split(':').next()?.trim().parse().ok()?;
    Some((host, port))
}

/// On the leader: one pass towards `target`. Ok(true) when the membership is
/// `target`; Ok(false) when a step was taken and another may follow (or this
/// node stopped leading: the asker retries on the new leader).
pub(super) async fn step(
    raft: &Raft<TypeConfig>,
    target: &Membership,
) -> Result<bool, ReconfigError> {
    let unavailable = |e: &dyn std::fmt::Display| ReconfigError::Unavailable(e.to_string());
    if raft.metrics().borrow().state != ServerState::Leader {
        return Err(ReconfigError::Unavailable("not the leader".into()));
    }
    let current = Membership::of(raft);
    if current == *target {
        return Ok(true);
    }
    let node = |id: &NodeId| BasicNode::new(target.nodes.get(id).cloned().unwrap_or_default());
    let added: BTreeMap<NodeId, BasicNode> = target
        .nodes
        .keys()
        .filter(|id| !current.nodes.contains_key(id))
        .map(|id| (*id, node(id)))
        .collect();
    let changed: BTreeMap<NodeId, BasicNode> = target
        .nodes
        .iter()
        .filter(|(id, spec)| current.nodes.get(id).is_some_and(|s| s != *spec))
        .map(|(id, _)| (*id, node(id)))
        .collect();
    let change = if !added.is_empty() {
        ChangeMembers::AddNodes(added)
    } else if !changed.is_empty() {
        ChangeMembers::SetNodes(changed)
    } else if current.voters != target.voters {
        let joining: BTreeSet<NodeId> =
            target.voters.difference(&current.voters).copied().collect();
        if !quorum_in_reach(raft, &target.voters, &joining).await {
            return Err(ReconfigError::NoQuorum);
        }
        ChangeMembers::ReplaceAllVoters(target.voters.clone())
    } else {
        let removed: BTreeSet<NodeId> = current
            .nodes
            .keys()
            .filter(|id| !target.nodes.contains_key(id))
            .copied()
            .collect();
        ChangeMembers::RemoveNodes(removed)
    };
    tracing::info!(change = ?change, "changing the membership");
    // retain: a voter that stops voting stays a learner until removed.
    raft.change_membership(change, true)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(false)
}

/// On the leader: step towards `target` until the membership is it.
pub(super) async fn drive(
    raft: &Raft<TypeConfig>,
    target: &Membership,
) -> Result<(), ReconfigError> {
    // Add, set, replace voters, remove: four steps at most, one extra pass
    // for the check.
    for _ in 0..6 {
        if step(raft, target).await? {
            return Ok(());
        }
    }
    Err(ReconfigError::Unavailable(
        "the membership did not settle".into(),
    ))
}

/// Whether the new voters can work: a majority of them is this leader or
/// members whose log is up to the commit index. Members that are to start
/// voting get a while to catch up first (a new one may be receiving a
/// snapshot); past that, a majority in reach is enough, as for ZooKeeper,
/// which only asks that a quorum of the new configuration be in sync.
async fn quorum_in_reach(
    raft: &Raft<TypeConfig>,
    voters: &BTreeSet<NodeId>,
    joining: &BTreeSet<NodeId>,
) -> bool {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let synced: BTreeSet<NodeId> = {
            let m = raft.metrics().borrow().clone();
            let commit = m.last_applied.map(|l| l.index);
            voters
                .iter()
                .filter(|id| {
                    **id == m.id
                        || m.replication.as_ref().is_some_and(|r| {
                            r.get(id)
                                .is_some_and(|matched| matched.map(|l| l.index) >= commit)
                        })
                })
                .copied()
                .collect()
        };
        let majority = synced.len() > voters.len() / 2;
        if majority && joining.is_subset(&synced) {
            return true;
        }
        if Instant::now() >= deadline {
            if majority {
                tracing::warn!(
                    behind = ?joining.difference(&synced).collect::<Vec<_>>(),
                    "new voters not caught up; a quorum of the new voters is, so going ahead"
                );
            }
            return majority;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keep the transport's peer addresses those of the log's membership (the
/// configured ones as a base, for members the log does not name yet).
pub(super) async fn track_members(
    raft: Raft<TypeConfig>,
    transport: Arc<dyn Transport>,
    configured: BTreeMap<NodeId, SocketAddr>,
    configured_hosts: BTreeMap<NodeId, String>,
    stop: CancellationToken,
) {
    let mut rx = raft.metrics();
    let mut last: Option<Membership> = None;
    loop {
        let current = Membership::of(&raft);
        if last.as_ref() != Some(&current) {
            let mut addrs = configured.clone();
            let mut hosts = configured_hosts.clone();
            for (id, spec) in &current.nodes {
                let Some((host, port)) = peer_addr_of(spec) else {
                    tracing::warn!(node = id, spec, "member without a peer address");
                    continue;
                };
                // Named by host: the transport looks it up again when needed.
                if host.parse::<std::net::IpAddr>().is_err() {
                    hosts.insert(*id, host.clone());
                } else {
                    hosts.remove(id);
                }
                match tokio::net::lookup_host((host.as_str(), port)).await {
                    Ok(mut found) => {
                        if let Some(a) = found.next() {
                            addrs.insert(*id, a);
                        }
                    }
                    Err(e) => tracing::warn!(node = id, host, error = %e, "cannot resolve member"),
                }
            }
            transport.set_members(addrs, hosts);
            last = Some(current);
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::peer_addr_of;

    #[test]
    fn peer_address_from_specs_old_and_new() {
        let p = |s: &str| peer_addr_of(s);
        assert_eq!(p("127.0.0.1:2888"), Some(("127.0.0.1".into(), 2888)));
        assert_eq!(
            p("zoo1:2888:3888;0.0.0.0:2181"),
            Some(("zoo1".into(), 2888))
        );
        assert_eq!(p("[::1]:2888:3888"), Some(("::1".into(), 2888)));
        assert_eq!(p("nonsense"), None);
        assert_eq!(p("h:notaport:1"), None);
    }
}
