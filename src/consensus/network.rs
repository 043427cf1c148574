//! Raft network. A single node never sends RPCs, so this is a stub whose clients report every
//! peer as unreachable (`Unreachable` rather than `NetworkError`, so openraft backs off instead of
//! retrying hot). A TCP transport (one long-lived connection per peer, postcard envelopes) slots
//! in here by replacing [`StubClient`] with a real client; nothing outside this file changes.

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::types::{NodeId, TypeConfig};

type RpcErr<E = RaftError<NodeId>> = RPCError<NodeId, BasicNode, E>;

#[derive(Clone, Default)]
pub(crate) struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = StubClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> StubClient {
        StubClient { target }
    }
}

pub(crate) struct StubClient {
    target: NodeId,
}

impl StubClient {
    fn unreachable<E: std::error::Error>(&self) -> RpcErr<E> {
        let e = std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!("no raft transport to node {}", self.target),
        );
        RPCError::Unreachable(Unreachable::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for StubClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        Err(self.unreachable())
    }
}
