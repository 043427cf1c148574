//! openraft's network, over the [`Transport`](super::rpc::Transport): raft
//! RPCs become peer requests; a peer that cannot be reached is reported as
//! `Unreachable`, so openraft backs off instead of retrying hot.

use std::sync::Arc;

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
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            transport: self.transport.clone(),
            min_ttl: self.min_ttl,
        }
    }
}

pub(crate) struct PeerClient {
    target: NodeId,
    transport: Arc<dyn Transport>,
    min_ttl: std::time::Duration,
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
        match self.call(PeerRequest::Append(rpc), &option).await {
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
