//! openraft's network, over the [`Transport`](super::rpc::Transport): raft
//! RPCs become peer requests; a peer that cannot be reached is reported as
//! `Unreachable`, so openraft backs off instead of retrying hot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::rpc::{CallError, PeerRequest, PeerResponse, Transport};
use super::types::{NodeId, TypeConfig};

type RpcErr<E = RaftError<NodeId>> = RPCError<NodeId, BasicNode, E>;

#[derive(Clone)]
pub(crate) struct NetworkFactory {
    pub transport: Arc<dyn Transport>,
    /// The shortest wait for any raft RPC (see `PeerClient::call`).
    pub min_ttl: std::time::Duration,
    pub round_trips: Arc<RoundTrips>,
}

/// The leader's last heartbeat round trip to each member, for operators
/// (`mntr`, /metrics). A heartbeat is an AppendEntries without entries: its
/// time is the network and the peer's scheduling, not a disk write.
#[derive(Default)]
pub(crate) struct RoundTrips(Mutex<BTreeMap<NodeId, (Duration, Instant)>>);

impl RoundTrips {
    fn record(&self, peer: NodeId, rtt: Option<Duration>) {
        let Ok(mut m) = self.0.lock() else { return };
        match rtt {
            Some(rtt) => m.insert(peer, (rtt, Instant::now())),
            // A peer that does not answer has no round trip, not its last good one.
            None => m.remove(&peer),
        };
    }

    /// Each peer heard from within `fresh`, with its round trip; a node that
    /// stopped leading stops sending heartbeats, and its figures go stale.
    pub fn recent(&self, fresh: Duration) -> Vec<(NodeId, Duration)> {
        let Ok(m) = self.0.lock() else {
            return Vec::new();
        };
        m.iter()
            .filter(|(_, (_, at))| at.elapsed() <= fresh)
            .map(|(id, (rtt, _))| (*id, *rtt))
            .collect()
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            transport: self.transport.clone(),
            min_ttl: self.min_ttl,
            round_trips: self.round_trips.clone(),
        }
    }
}

pub(crate) struct PeerClient {
    target: NodeId,
    transport: Arc<dyn Transport>,
    min_ttl: std::time::Duration,
    round_trips: Arc<RoundTrips>,
}

fn unreachable<E: std::error::Error>(why: String) -> RpcErr<E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why)))
}

impl PeerClient {
    async fn call(&self, req: PeerRequest, option: &RPCOption) -> Result<PeerResponse, String> {
        let call = self.transport.call(self.target, req);
        // openraft 0.9 gives an AppendEntries a heartbeat interval (50 ms by default) and
        // backs off 500 ms after a timeout: on a loaded machine a batch of entries misses
        // that and writes stall for half a second. A timeout is for a peer that is gone,
        // so no RPC gets less than the election timeout.
        let ttl = option.hard_ttl().max(self.min_ttl);
        match tokio::time::timeout(ttl, call).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(CallError::Unreachable(e))) => Err(e),
            Err(_) => Err(format!("node {}: timed out", self.target)),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let heartbeat = rpc.entries.is_empty();
        let sent = Instant::now();
        let answer = self.call(PeerRequest::Append(rpc), &option).await;
        if heartbeat {
            let rtt = matches!(answer, Ok(PeerResponse::Append(Ok(_)))).then(|| sent.elapsed());
            self.round_trips.record(self.target, rtt);
        }
        match answer {
            Ok(PeerResponse::Append(Ok(r))) => Ok(r),
            Ok(PeerResponse::Append(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(unreachable(format!("unexpected answer {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(PeerRequest::Snapshot(rpc), &option).await {
            Ok(PeerResponse::Snapshot(Ok(r))) => Ok(r),
            Ok(PeerResponse::Snapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(unreachable(format!("unexpected answer {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        match self.call(PeerRequest::Vote(rpc), &option).await {
            Ok(PeerResponse::Vote(Ok(r))) => Ok(r),
            Ok(PeerResponse::Vote(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            // A refused vote (the peer is catching up) is no vote.
            Ok(other) => Err(unreachable(format!("no vote: {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }
}
