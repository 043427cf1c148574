//! What peers say to each other: raft's RPCs plus the requests a node sends
//! its leader (forwarded writes, session touches, read index for sync), and
//! the [`Transport`] that carries them. TCP in production (`peer.rs`); tests
//! plug in a network they control.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::types::{Batch, NodeId, TypeConfig};

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// Commands of the sending node, in its order, for the leader to log.
    Forward(Batch),
    /// The leader's read index: the log index a sync must see applied.
    ReadIndex,
    /// Sessions the sender's clients were heard from since its last touch.
    Touch(Vec<i64>),
    /// Whether the receiver holds any log: asked by a node starting with an
    /// empty data directory before it joins.
    Status,
    /// How long ago the receiver, as leader, last heard from a quorum of
    /// voters: asked by observers, whose own heartbeats from a leader say
    /// nothing about whether that leader still has a quorum.
    LeaderQuorum,
    /// Change the membership to this one (reconfig), on the leader.
    Reconfigure(super::membership::Membership),
    /// Hand leadership to this voter, on the leader.
    TransferLeader(NodeId),
    /// Campaign now: sent by a leader handing over to the receiver, once its lease is over.
    Campaign,
    /// The leader is there, though quiet while it hands over (no raft
    /// heartbeat, which would renew its lease); answered with Touched.
    LeaderPresent,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The forwarded commands are committed and applied on the leader.
    Forwarded,
    ReadIndex(u64),
    Touched,
    Status {
        /// Last log index, None for an empty log.
        last_log_index: Option<u64>,
        /// Highest index known committed, None if nothing.
        committed: Option<u64>,
        /// The receiver's current term.
        term: u64,
    },
    /// The receiver cannot do it: not the leader, shutting down, a vote
    /// refused while it catches up, ... The sender retries elsewhere or later.
    Refused(String),
    /// Milliseconds since the leader's last quorum acknowledgement; None
    /// when it is not the leader or has had none.
    LeaderQuorum(Option<u64>),
    /// The membership is the one asked for, or why not.
    Reconfigured(Result<(), super::membership::ReconfigError>),
    /// The target of a TransferLeader leads now, or why not.
    Transferred(Result<(), super::transfer::TransferError>),
    Campaigning,
}

/// Why a call to a peer got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Could not reach it (no connection, connection lost, timed out).
    Unreachable(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "unreachable: {e}"),
        }
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Answers peers' requests on this node.
pub trait Service: Send + Sync + 'static {
    /// Handle one request from `from`. Forwarded batches must be queued for
    /// logging before this returns its future, so batches from one peer keep
    /// the order in which they arrived.
    fn handle(&self, from: NodeId, req: PeerRequest) -> BoxFuture<PeerResponse>;
    /// The connection from `from` broke (reset or closed: its process died or
    /// restarted), which is news long before any timeout.
    fn peer_lost(&self, _from: NodeId) {}
}

/// Carries requests between nodes.
pub trait Transport: Send + Sync + 'static {
    /// Start answering peers with `service` (bind the peer port, or join the
    /// test network).
    fn serve(&self, service: Arc<dyn Service>) -> BoxFuture<std::io::Result<()>>;
    /// Send `req` to node `to` and wait for its answer. Calls to one peer are
    /// delivered in the order they were made.
    fn call(&self, to: NodeId, req: PeerRequest) -> BoxFuture<Result<PeerResponse, CallError>>;
    /// Stop serving and drop connections.
    fn close(&self);
    /// The members' peer addresses changed (a reconfig): dial and accept
    /// these from now on. A test network routes by id and ignores it.
    fn set_members(
        &self,
        _addrs: std::collections::BTreeMap<NodeId, std::net::SocketAddr>,
        _hosts: std::collections::BTreeMap<NodeId, String>,
    ) {
    }
}

/// The transport of a single node: there is nobody to call.
pub struct Nowhere;

impl Transport for Nowhere {
    fn serve(&self, _service: Arc<dyn Service>) -> BoxFuture<std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn call(&self, to: NodeId, _req: PeerRequest) -> BoxFuture<Result<PeerResponse, CallError>> {
        Box::pin(async move { Err(CallError::Unreachable(format!("no peers (node {to})"))) })
    }

    fn close(&self) {}
}
