//! Consensus: the raft log every write goes through, behind a narrow API.
//!
//! Everything openraft-specific stays in this module. The rest of the server sees
//! [`Consensus`] (start, propose, metrics, shutdown) and implements [`StateMachine`].
//!
//! Write path: [`Consensus::submit`] numbers a command and queues it in this node's
//! [`sender`]; the sender hands it to the leader: the local [`proposer`] when this node
//! leads, or the leader over the peer [`rpc::Transport`] (`peer.rs` is TCP). The leader's
//! proposer packs queued commands into one raft entry while the previous one is in flight
//! (group commit: openraft 0.9 fsyncs one entry at a time). Peers' requests arrive in
//! [`inbound`].

mod formation;
mod inbound;
mod log_store;
mod membership;
pub mod memnet;
mod network;
mod observer;
mod peer;
mod proposer;
pub mod rpc;
mod sender;
mod state_machine;
mod transfer;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::error::{Fatal, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::storage::{OpenError, RaftDb};
use formation::{ELECTION_GRACE, allow_elections, form};
use inbound::{CatchUp, Contact, Inbound};
use log_store::LogStore;
pub use membership::{Membership, ReconfigError};
use network::NetworkFactory;
use observer::{admit_observers, watch_leader_quorum};
use proposer::Counters;
use rpc::{PeerRequest, PeerResponse, Transport};
use sender::{SendLoop, Sender};
use state_machine::SmStore;
pub use transfer::TransferError;
use types::{NodeId, TypeConfig};

/// Serializes a state taken by [`StateMachine::snapshot`].
pub type Encoder = Box<dyn FnOnce() -> Vec<u8> + Send + Sync>;

/// The replicated application (the data tree). Called by consensus only.
pub trait StateMachine: Send + Sync + 'static {
    /// Apply the commands of one committed log entry, in order. Deterministic; business errors
    /// are results inside the app. Called exactly once per committed entry (after a restart:
    /// again for entries after the last snapshot), in log order. An `Err` means this replica
    /// cannot apply a committed entry: consensus stops (see [`Consensus::failed`]) rather than
    /// let the replica diverge from the others.
    fn apply(&self, index: u64, cmds: &[Bytes]) -> Result<(), String>;
    /// The whole app state as of the last applied entry (called on the apply path, so it is
    /// consistent with the last index passed to apply), as a function that serializes it.
    /// Take what is needed quickly and encode in the function: it runs later, on a blocking
    /// thread, while apply goes on.
    fn snapshot(&self) -> Encoder;
    /// Replace the whole app state with a snapshot's.
    fn restore(&self, data: &[u8]) -> Result<(), String>;
    /// On the leader: a peer's clients were heard from in these sessions.
    fn touched(&self, _sessions: &[i64]) {}
    /// Whether a reconfig has been applied: from then on the log's
    /// membership is the truth, not the configured member list.
    fn reconfigured(&self) -> bool {
        false
    }
}

#[derive(Clone)]
pub struct ConsensusConfig {
    /// 1 for the single-node default.
    pub node_id: u64,
    /// Every member's peer address, this node's included. One entry: a single
    /// node, which opens no peer port.
    pub members: BTreeMap<u64, SocketAddr>,
    /// Members that do not vote (raft learners): the leader adds them, they
    /// receive the log and forward their clients' writes like any member.
    pub observers: BTreeSet<u64>,
    /// How each member appears in the log's membership and /zookeeper/config
    /// (`host:quorumPort:electionPort[;client]`); its peer address if absent.
    pub specs: BTreeMap<u64, String>,
    /// The host names of members configured by name: the TCP transport looks
    /// them up again, as a restarted container may have a new IP.
    pub member_hosts: BTreeMap<u64, String>,
    /// Raft election timeout, ms (randomised up to twice this); heartbeats
    /// go every fifth of it.
    pub election_timeout_ms: u64,
    /// How peers reach each other; None: TCP on the members' addresses.
    pub transport: Option<Arc<dyn Transport>>,
    /// Consensus owns this directory: `raft/` holds the fjall log, `snapshots/` the snapshots.
    pub data_dir: PathBuf,
    /// true: an append returns only after fdatasync; false: left in OS buffers.
    pub fsync: bool,
    /// Build a snapshot after this many log entries since the last one, then purge the log
    /// behind it. 0 disables snapshots.
    pub snapshot_every: u64,
    /// Most commands per raft entry.
    pub max_batch_cmds: usize,
    /// Most payload bytes per raft entry (a single larger command still gets an entry alone).
    pub max_batch_bytes: usize,
}

impl ConsensusConfig {
    /// Single-node defaults under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ConsensusConfig {
            node_id: 1,
            members: BTreeMap::from([(1, SocketAddr::from(([127, 0, 0, 1], 2888)))]),
            observers: BTreeSet::new(),
            specs: BTreeMap::new(),
            member_hosts: BTreeMap::new(),
            election_timeout_ms: 1000,
            transport: None,
            data_dir: data_dir.into(),
            fsync: true,
            snapshot_every: 100_000,
            max_batch_cmds: 1000,
            max_batch_bytes: 4 << 20,
        }
    }
}

impl fmt::Debug for ConsensusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsensusConfig")
            .field("node_id", &self.node_id)
            .field("members", &self.members)
            .field("observers", &self.observers)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Plain-number view of the raft state. Index fields are `None` until something exists
/// (the first log index is 0: the initial membership entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsensusMetrics {
    pub node_id: u64,
    pub term: u64,
    pub leader: Option<u64>,
    pub is_leader: bool,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// Raft entries the proposer submitted since start, and the commands they carried.
    pub batches_proposed: u64,
    pub cmds_proposed: u64,
    /// Voters, this node included.
    pub voters: usize,
    /// On the leader: other voters, and those whose log matches up to the commit index.
    pub followers: usize,
    pub synced_followers: usize,
    /// On the leader: observers it replicates to, and those up to the commit index.
    pub observers: usize,
    pub synced_observers: usize,
    /// This node is an observer (a raft learner) in the current membership.
    pub observer: bool,
    /// On the leader: each other member, and how many log entries it lacks.
    pub peer_lag: Vec<(u64, u64)>,
    /// On the leader: each other member's last heartbeat round trip.
    pub peer_rtt: Vec<(u64, Duration)>,
    /// Times a leader became known (elections seen, the first included).
    pub leader_changes: u64,
    /// How long the last election left this node without a leader, ms.
    pub last_election_ms: u64,
    /// How long ago this node last heard from a leader (the leader: from a
    /// quorum), also while an election is under way; None if never.
    pub leader_contact: Option<Duration>,
    /// This node's commands not yet confirmed by a leader.
    pub unconfirmed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsensusError {
    NotLeader {
        leader: Option<u64>,
    },
    ShuttingDown,
    Storage(String),
    /// Another process has this data directory's log open.
    DataDirInUse(PathBuf),
    /// The peer address could not be bound.
    PeerPort(String),
    Fatal(String),
}

impl fmt::Display for ConsensusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsensusError::NotLeader { leader: Some(l) } => write!(f, "not leader (leader: {l})"),
            ConsensusError::NotLeader { leader: None } => write!(f, "not leader (leader unknown)"),
            ConsensusError::ShuttingDown => write!(f, "consensus is shutting down"),
            ConsensusError::Storage(e) => write!(f, "storage error: {e}"),
            ConsensusError::DataDirInUse(dir) => write!(
                f,
                "data directory {} is locked: another Corral is probably using it \
                 (stop that one, or give this one another --data-dir)",
                dir.display()
            ),
            ConsensusError::PeerPort(e) => write!(f, "cannot listen for peers: {e}"),
            ConsensusError::Fatal(e) => write!(f, "fatal consensus error: {e}"),
        }
    }
}

impl std::error::Error for ConsensusError {}

impl From<Fatal<NodeId>> for ConsensusError {
    fn from(f: Fatal<NodeId>) -> Self {
        match f {
            Fatal::Stopped => ConsensusError::ShuttingDown,
            Fatal::StorageError(e) => ConsensusError::Storage(e.to_string()),
            Fatal::Panicked => ConsensusError::Fatal("raft core panicked".into()),
        }
    }
}

impl From<crate::storage::StoreError> for ConsensusError {
    fn from(e: crate::storage::StoreError) -> Self {
        ConsensusError::Storage(e.0)
    }
}

fn from_raft_err<E: fmt::Display>(e: RaftError<NodeId, E>) -> ConsensusError {
    match e {
        RaftError::Fatal(f) => f.into(),
        RaftError::APIError(e) => ConsensusError::Fatal(e.to_string()),
    }
}

/// A running raft node with its log, snapshots, proposer and peers.
pub struct Consensus {
    node_id: u64,
    raft: Raft<TypeConfig>,
    sender: Arc<Sender>,
    /// The local proposer's queue (used directly only by `propose_as_leader`).
    proposer: mpsc::UnboundedSender<proposer::Proposal>,
    transport: Option<Arc<dyn Transport>>,
    app: Arc<dyn StateMachine>,
    /// Proposer, send loop, formation: stopped at shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stop: CancellationToken,
    /// Logs leadership changes; stopped before raft so a shutdown is not reported as one.
    leader_log: JoinHandle<()>,
    db: Mutex<Option<Arc<RaftDb>>>,
    /// Committed index + 1 (0 = none), updated by the log store.
    committed: Arc<AtomicU64>,
    counters: Arc<Counters>,
    contact: Arc<Contact>,
    catch_up: Arc<CatchUp>,
    voters: usize,
    leader_stats: Arc<LeaderStats>,
    /// Also holds the heartbeat round trips and the election timeout.
    handover: Arc<transfer::Handover>,
    stopping: AtomicBool,
}

fn blocking_err(e: tokio::task::JoinError) -> ConsensusError {
    ConsensusError::Fatal(format!("storage task failed: {e}"))
}

impl Consensus {
    /// Open storage, restore the latest snapshot into `sm` (sm.restore) and start openraft.
    ///
    /// A single node initializes itself on first start and returns once it leads and has
    /// applied everything committed before a restart. A cluster member starts answering
    /// peers and returns at once; a fresh cluster forms in the background (see `form`), and
    /// [`Consensus::metrics`] tells when a leader is known.
    pub async fn start(
        cfg: ConsensusConfig,
        sm: Arc<dyn StateMachine>,
    ) -> Result<Consensus, ConsensusError> {
        // openraft's tasks are spawned inside this span and keep it: their logs carry node_id,
        // which tells nodes apart in in-process cluster tests.
        let span = tracing::info_span!("raft", node_id = cfg.node_id);
        Self::start_inner(cfg, sm).instrument(span).await
    }

    async fn start_inner(
        cfg: ConsensusConfig,
        sm: Arc<dyn StateMachine>,
    ) -> Result<Consensus, ConsensusError> {
        let t0 = Instant::now();
        let single = cfg.members.len() <= 1;

        let committed = Arc::new(AtomicU64::new(0));
        let (db, log_store, sm_store, catch_up) = {
            let cfg = cfg.clone();
            let committed = committed.clone();
            let sm = sm.clone();
            tokio::task::spawn_blocking(move || -> Result<_, ConsensusError> {
                std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
                    ConsensusError::Storage(format!(
                        "cannot create data directory {}: {e}",
                        cfg.data_dir.display()
                    ))
                })?;
                let db = RaftDb::open(&cfg.data_dir.join("raft")).map_err(|e| match e {
                    OpenError::Locked => ConsensusError::DataDirInUse(cfg.data_dir.clone()),
                    OpenError::Store(e) => e.into(),
                })?;
                let db = Arc::new(db);
                let log = LogStore::open(db.clone(), cfg.fsync, committed)
                    .map_err(|e| ConsensusError::Storage(e.to_string()))?;
                let sm = SmStore::open(sm, &cfg.data_dir.join("snapshots"), cfg.snapshot_every)?;
                let catch_up = CatchUp::load(cfg.data_dir.join("catching-up"));
                Ok((db, log, sm, catch_up))
            })
            .await
            .map_err(blocking_err)??
        };
        let restored = sm_store.last_applied();
        let snapshot_due = sm_store.due.clone();
        let t_open = t0.elapsed();

        let election = cfg.election_timeout_ms.max(10);
        let raft_config = openraft::Config {
            cluster_name: "corral".into(),
            // openraft's defaults (50 ms / 150-300 ms) are too tight for a disk-bound
            // service; a single node does not wait for them (see below).
            heartbeat_interval: (election / 5).max(1),
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: if cfg.snapshot_every == 0 {
                SnapshotPolicy::Never
            } else {
                SnapshotPolicy::LogsSinceLast(cfg.snapshot_every)
            },
            // Enough for a lagging follower to catch up from the log instead of a snapshot,
            // without keeping much more than one snapshot interval around.
            max_in_snapshot_log_to_keep: cfg.snapshot_every.min(1000),
            // Entries can be up to max_batch_bytes each: keep AppendEntries frames bounded
            // (see `max_frame`).
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK,
            // A member does not campaign on its own until it has heard from a
            // leader or waited a grace period (see `allow_elections`).
            enable_elect: single,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ConsensusError::Fatal(format!("raft config: {e}")))?;

        let transport: Option<Arc<dyn Transport>> = if single {
            None
        } else {
            Some(match &cfg.transport {
                Some(t) => t.clone(),
                None => Arc::new(peer::TcpTransport::new(
                    cfg.node_id,
                    cfg.members.clone(),
                    cfg.member_hosts.clone(),
                    max_frame(cfg.max_batch_bytes),
                    // Raft's RPCs carry their own, shorter deadlines (network.rs). A
                    // forwarded batch waits for the leader's commit, which a busy
                    // disk can hold up: giving up early would only resend it.
                    Duration::from_millis((election * 4).max(10_000)),
                )),
            })
        };
        let round_trips = Arc::new(network::RoundTrips::default());
        let network = NetworkFactory {
            transport: transport.clone().unwrap_or_else(|| Arc::new(rpc::Nowhere)),
            min_ttl: Duration::from_millis(election),
            round_trips: round_trips.clone(),
        };
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            sm_store,
        )
        .await?;

        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let handover = Arc::new(transfer::Handover {
            raft: raft.clone(),
            transport: transport.clone(),
            gate: Arc::default(),
            lease: Duration::from_millis(election * 2),
            election: Duration::from_millis(election),
            round_trips,
            quiet_quorum: Arc::default(),
        });
        let stop = CancellationToken::new();
        let sender = Arc::new(Sender::new());
        let contact = Arc::new(Contact::default());
        let catch_up = Arc::new(catch_up);
        let mut tasks = vec![tokio::spawn(
            snapshot_when_due(raft.clone(), snapshot_due, stop.clone()).in_current_span(),
        )];
        tasks.push(tokio::spawn(
            proposer::run(
                raft.clone(),
                rx,
                cfg.max_batch_cmds.max(1),
                cfg.max_batch_bytes.max(1),
                counters.clone(),
                handover.gate.clone(),
            )
            .in_current_span(),
        ));
        tasks.push(tokio::spawn(
            SendLoop {
                me: cfg.node_id,
                raft: raft.clone(),
                sender: sender.clone(),
                proposer: tx.clone(),
                transport: transport.clone(),
                max_cmds: cfg.max_batch_cmds.max(1),
                max_bytes: cfg.max_batch_bytes.max(1),
                stop: stop.clone(),
            }
            .run()
            .in_current_span(),
        ));

        let node = |id: &u64, addr: &SocketAddr| {
            BasicNode::new(
                cfg.specs
                    .get(id)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| addr.to_string()),
            )
        };
        // Observers join as learners once a leader adds them (`admit_observers`).
        let members: BTreeMap<NodeId, BasicNode> = cfg
            .members
            .iter()
            .filter(|(id, _)| !cfg.observers.contains(id))
            .map(|(id, addr)| (*id, node(id, addr)))
            .collect();
        let observing = cfg.observers.contains(&cfg.node_id);
        let voters = members.len();
        if let Some(t) = &transport {
            let inbound = Inbound {
                me: cfg.node_id,
                voters: members.keys().copied().collect(),
                lease: Duration::from_millis(election * 2),
                raft: raft.clone(),
                proposer: tx.clone(),
                app: sm.clone(),
                contact: contact.clone(),
                catch_up: catch_up.clone(),
                committed: committed.clone(),
                handover: handover.clone(),
            };
            if let Err(e) = t.serve(Arc::new(inbound)).await {
                let _ = raft.shutdown().await;
                return Err(ConsensusError::PeerPort(e.to_string()));
            }
            tasks.push(tokio::spawn(
                allow_elections(
                    raft.clone(),
                    contact.clone(),
                    Duration::from_millis(election * 2 * ELECTION_GRACE),
                    stop.clone(),
                )
                .in_current_span(),
            ));
            if !cfg.observers.is_empty() {
                let observers = cfg
                    .members
                    .iter()
                    .filter(|(id, _)| cfg.observers.contains(id))
                    .map(|(id, addr)| (*id, node(id, addr)))
                    .collect();
                tasks.push(tokio::spawn(
                    admit_observers(
                        raft.clone(),
                        sm.clone(),
                        observers,
                        Duration::from_millis(election),
                        stop.clone(),
                    )
                    .in_current_span(),
                ));
            }
            tasks.push(tokio::spawn(
                membership::track_members(
                    raft.clone(),
                    t.clone(),
                    cfg.members.clone(),
                    cfg.member_hosts.clone(),
                    stop.clone(),
                )
                .in_current_span(),
            ));
            // Any member may be made an observer by a reconfig.
            tasks.push(tokio::spawn(
                watch_leader_quorum(
                    cfg.node_id,
                    raft.clone(),
                    t.clone(),
                    contact.clone(),
                    Duration::from_millis((election / 5).max(1)),
                    stop.clone(),
                )
                .in_current_span(),
            ));
            // An observer never forms the cluster: it waits to be added.
            if !observing && !raft.is_initialized().await? {
                tasks.push(tokio::spawn(
                    form(
                        cfg.node_id,
                        raft.clone(),
                        t.clone(),
                        members.clone(),
                        catch_up.clone(),
                        stop.clone(),
                    )
                    .in_current_span(),
                ));
            }
        } else {
            if !raft.is_initialized().await? {
                match raft.initialize(members).await {
                    Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                    Err(e) => return Err(from_raft_err(e)),
                }
            }
            // A restarted single voter comes back as leader at once (its vote is committed);
            // a fresh one elects itself in initialize. Only if neither happened, campaign now
            // rather than waiting out the election timeout.
            if raft
                .wait(Some(Duration::from_millis(200)))
                .state(ServerState::Leader, "leader")
                .await
                .is_err()
            {
                raft.trigger().elect().await?;
                raft.wait(Some(Duration::from_secs(10)))
                    .state(ServerState::Leader, "leader after election")
                    .await
                    .map_err(|e| ConsensusError::Fatal(format!("no leadership: {e}")))?;
            }
            // Everything in the log was committed by us (single voter) or is committed by our
            // new term; wait until it is applied so reads never go back in time after a restart.
            let last = raft.metrics().borrow().last_log_index;
            raft.wait(None)
                .applied_index_at_least(last, "applied after start")
                .await
                .map_err(|e| ConsensusError::Fatal(format!("catching up after start: {e}")))?;
        }
        let server_metrics = raft.server_metrics();
        let (leader, term) = {
            let m = server_metrics.borrow();
            (m.current_leader, m.vote.leader_id().get_term())
        };
        if leader == Some(cfg.node_id) {
            tracing::info!(node_id = cfg.node_id, term, "this node is the leader");
        }
        let leader_stats = Arc::new(LeaderStats::default());
        let leader_log = tokio::spawn(log_leader_changes(
            cfg.node_id,
            leader_stats.clone(),
            server_metrics,
            leader,
        ));

        tracing::debug!(
            dir = %cfg.data_dir.display(),
            open_ms = t_open.as_secs_f64() * 1e3,
            ready_ms = t0.elapsed().as_secs_f64() * 1e3,
            restored_snapshot = ?restored,
            "consensus started"
        );
        Ok(Consensus {
            node_id: cfg.node_id,
            raft,
            sender,
            proposer: tx,
            transport,
            app: sm,
            tasks: Mutex::new(tasks),
            stop,
            leader_log,
            db: Mutex::new(Some(db)),
            committed,
            counters,
            contact,
            catch_up,
            voters,
            leader_stats,
            handover,
            stopping: AtomicBool::new(false),
        })
    }

    /// Append a command to the log: `make` builds it given its sequence number on this
    /// node (1, 2, 3... in submission order, for the app to deduplicate). Queued right away
    /// (before the returned future is first polled), so a connection task can submit several
    /// requests in order and await the results later. Resolves Ok once a leader has
    /// committed and applied it; while no leader can be reached the command waits (and is
    /// sent again after a leader change), so it resolves Err only at shutdown.
    pub fn submit(
        &self,
        make: impl FnOnce(u64) -> Bytes,
    ) -> impl Future<Output = Result<(), ConsensusError>> + Send + 'static {
        let rx = if self.stopping.load(Ordering::Acquire) {
            None
        } else {
            Some(self.sender.submit(make))
        };
        async move {
            match rx {
                Some(rx) => rx.await.unwrap_or(Err(ConsensusError::ShuttingDown)),
                None => Err(ConsensusError::ShuttingDown),
            }
        }
    }

    /// Log a command only if this node leads now, straight to the proposer: for decisions
    /// only the current leader may take (session expiry, reaping). Never sent again after
    /// a leader change, as [`submit`](Self::submit) would: a deposed leader's expiry must
    /// not reach its successor, which gives every session a fresh timeout.
    pub fn propose_as_leader(
        &self,
        cmd: Bytes,
    ) -> impl Future<Output = Result<(), ConsensusError>> + Send + 'static {
        let queued = if self.stopping.load(Ordering::Acquire) {
            Err(ConsensusError::ShuttingDown)
        } else if self.raft.metrics().borrow().state != ServerState::Leader {
            Err(ConsensusError::NotLeader { leader: None })
        } else {
            let (done, rx) = tokio::sync::oneshot::channel();
            self.proposer
                .send(proposer::Proposal { cmd, done })
                .map(|()| rx)
                .map_err(|_| ConsensusError::ShuttingDown)
        };
        async move {
            match queued {
                Ok(rx) => rx.await.unwrap_or(Err(ConsensusError::ShuttingDown)),
                Err(e) => Err(e),
            }
        }
    }

    /// [`submit`](Self::submit) a ready-made command (no use for its sequence number).
    pub async fn propose(&self, cmd: Bytes) -> Result<(), ConsensusError> {
        self.submit(move |_| cmd).await
    }

    /// Linearizable read barrier (ZooKeeper's sync): waits until everything committed
    /// before the call is applied here. The leader confirms its leadership with a quorum;
    /// a follower asks the leader for that index. Returns the index it waited for.
    pub async fn read_barrier(&self) -> Result<Option<u64>, ConsensusError> {
        let (state, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state, m.current_leader)
        };
        if state == ServerState::Leader {
            return match self.raft.ensure_linearizable().await {
                Ok(log_id) => Ok(log_id.map(|l| l.index)),
                Err(RaftError::Fatal(f)) => Err(f.into()),
                Err(RaftError::APIError(e)) => Err(ConsensusError::NotLeader {
                    leader: match e {
                        openraft::error::CheckIsLeaderError::ForwardToLeader(f) => f.leader_id,
                        openraft::error::CheckIsLeaderError::QuorumNotEnough(_) => None,
                    },
                }),
            };
        }
        let (Some(leader), Some(t)) = (leader, &self.transport) else {
            return Err(ConsensusError::NotLeader { leader: None });
        };
        let index = match t.call(leader, PeerRequest::ReadIndex).await {
            Ok(PeerResponse::ReadIndex(i)) => i,
            _ => {
                return Err(ConsensusError::NotLeader {
                    leader: Some(leader),
                });
            }
        };
        self.raft
            .wait(Some(Duration::from_secs(30)))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map_err(|e| ConsensusError::Fatal(format!("waiting for the read index: {e}")))?;
        Ok(Some(index))
    }

    /// This node's clients were heard from in `sessions`: tell the leader, which
    /// decides expiry (fire and forget; the next touch repeats it).
    pub fn touch(&self, sessions: Vec<i64>) {
        if sessions.is_empty() {
            return;
        }
        let (state, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state, m.current_leader)
        };
        if state == ServerState::Leader {
            self.app.touched(&sessions);
            return;
        }
        if let (Some(l), Some(t)) = (leader, &self.transport) {
            let call = t.call(l, PeerRequest::Touch(sessions));
            tokio::spawn(async move {
                let _ = call.await;
            });
        }
    }

    /// Resolves if consensus stops on its own (a fatal storage or apply error), with the
    /// reason; the server must stop serving then. Pending forever while consensus runs.
    pub async fn failed(&self) -> String {
        let mut rx = self.raft.metrics();
        loop {
            if let Err(e) = &rx.borrow_and_update().running_state {
                return e.to_string();
            }
            if rx.changed().await.is_err() {
                return "raft core is gone".to_string();
            }
        }
    }

    pub fn metrics(&self) -> ConsensusMetrics {
        let m = self.raft.metrics().borrow().clone();
        let committed = self.committed.load(Ordering::Relaxed);
        let is_leader = m.state == ServerState::Leader;
        let commit_index = committed.checked_sub(1);
        // The log's voters (a reconfig changes them); before the cluster
        // has formed, the configured ones.
        let membership = m.membership_config.membership();
        let voter_ids: BTreeSet<NodeId> = membership.voter_ids().collect();
        let voters = match voter_ids.len() {
            0 => self.voters,
            n => n,
        };
        // A learner: configured as an observer, or made one by a reconfig.
        let observer =
            membership.get_node(&self.node_id).is_some() && !voter_ids.contains(&self.node_id);
        // (followers, synced, observers, synced observers)
        let mut peers = [0usize; 4];
        let mut peer_lag = Vec::new();
        if let (Some(r), true) = (&m.replication, is_leader) {
            for (id, matched) in r.iter().filter(|(id, _)| **id != self.node_id) {
                let last = m.last_log_index.unwrap_or(0);
                let have = matched.map_or(0, |l| l.index + 1);
                peer_lag.push((*id, (last + 1).saturating_sub(have)));
                let at = if voter_ids.contains(id) { 0 } else { 2 };
                peers[at] += 1;
                if matched.map(|l| l.index) >= commit_index {
                    peers[at + 1] += 1;
                }
            }
        }
        let [followers, synced_followers, observers, synced_observers] = peers;
        let leader_contact = if is_leader {
            if voters <= 1 {
                Some(Duration::ZERO)
            } else {
                self.handover.quorum_age(m.millis_since_quorum_ack)
            }
        } else if observer {
            // The leader's heartbeat and its last quorum, whichever is older.
            match (self.contact.last(), self.contact.last_quorum()) {
                (Some(heard), Some(quorum)) => Some(heard.min(quorum).elapsed()),
                _ => None,
            }
        } else {
            // Also during an election: the last leader was heard this long ago.
            self.contact.last().map(|t| t.elapsed())
        };
        ConsensusMetrics {
            node_id: self.node_id,
            term: m.current_term,
            leader: m.current_leader,
            is_leader,
            last_log_index: m.last_log_index,
            commit_index,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            batches_proposed: self.counters.batches.load(Ordering::Relaxed),
            cmds_proposed: self.counters.cmds.load(Ordering::Relaxed),
            voters,
            followers,
            synced_followers,
            observers,
            synced_observers,
            observer,
            peer_lag,
            peer_rtt: if is_leader {
                // Heartbeats go out five times per election timeout: an older
                // figure is a peer that stopped answering.
                self.handover.round_trips.recent(self.handover.election)
            } else {
                Vec::new()
            },
            leader_changes: self.leader_stats.changes.load(Ordering::Relaxed),
            last_election_ms: self.leader_stats.last_election_ms.load(Ordering::Relaxed),
            leader_contact,
            unconfirmed: self.sender.pending(),
        }
    }

    /// The current membership (the log's, once the cluster exists).
    pub fn membership(&self) -> Membership {
        Membership::of(&self.raft)
    }

    /// Change the membership to `target` (reconfig), through whichever node
    /// leads; returns once the log holds it. Gives up after a while without
    /// a leader that can do it.
    pub async fn reconfigure(&self, target: Membership) -> Result<(), ReconfigError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = ReconfigError::Unavailable("no leader".into());
        while Instant::now() < deadline {
            let result = self
                .on_leader(
                    || membership::drive(&self.raft, &target),
                    || PeerRequest::Reconfigure(target.clone()),
                    |answer| match answer {
                        PeerResponse::Reconfigured(r) => r,
                        other => Err(ReconfigError::Unavailable(format!("{other:?}"))),
                    },
                )
                .await
                .unwrap_or_else(|why| Err(ReconfigError::Unavailable(why)));
            match result {
                Ok(()) => return Ok(()),
                Err(ReconfigError::NoQuorum) => return Err(ReconfigError::NoQuorum),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    /// Hand leadership to voter `to`, through whichever node leads; returns
    /// once `to` leads. Writes pause for about one election timeout meanwhile.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), TransferError> {
        self.on_leader(
            || self.handover.run(self.node_id, to),
            || PeerRequest::TransferLeader(to),
            |answer| match answer {
                PeerResponse::Transferred(r) => r,
                other => Err(TransferError::Unavailable(format!("{other:?}"))),
            },
        )
        .await
        .unwrap_or_else(|why| Err(TransferError::Unavailable(why)))
    }

    /// Runs `here` if this node leads, else sends `request` to the leader
    /// and reads its answer with `answer`; Err when no leader is known or it
    /// could not be asked.
    async fn on_leader<T, F: Future<Output = T>>(
        &self,
        here: impl FnOnce() -> F,
        request: impl FnOnce() -> PeerRequest,
        answer: impl FnOnce(PeerResponse) -> T,
    ) -> Result<T, String> {
        let leader = self.raft.metrics().borrow().current_leader;
        match (leader, &self.transport) {
            (Some(l), _) if l == self.node_id => Ok(here().await),
            (Some(l), Some(t)) => match t.call(l, request()).await {
                Ok(r) => Ok(answer(r)),
                Err(e) => Err(format!("leader {l}: {e}")),
            },
            (Some(_), None) => Err("no peers".into()),
            (None, _) => Err("no leader".into()),
        }
    }

    /// Whether this node is still withholding votes after joining with an empty data
    /// directory (see `inbound::CatchUp`): Some(None) while no leader has reached it,
    /// Some(Some(i)) while it catches up to log index i.
    pub fn catching_up(&self) -> Option<Option<u64>> {
        let last = self.raft.metrics().borrow().last_log_index;
        if self.catch_up.withholding(last) {
            self.catch_up.target()
        } else {
            None
        }
    }

    /// Clean stop: pending proposals fail with ShuttingDown, raft stops, the log is synced to
    /// disk and the database closed. Calling it again is a no-op.
    pub async fn shutdown(&self) -> Result<(), ConsensusError> {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        tracing::debug!(node_id = self.node_id, "consensus shutting down");
        self.leader_log.abort();
        self.stop.cancel();
        self.sender.stop();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            // Queued proposals are dropped with the proposer; their callers see ShuttingDown.
            t.abort();
            let _ = t.await;
        }
        if let Some(t) = &self.transport {
            t.close();
        }
        self.raft
            .shutdown()
            .await
            .map_err(|e| ConsensusError::Fatal(format!("raft shutdown: {e}")))?;
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(db) = db {
            // Dropping the database joins fjall's threads: keep that off the async workers too.
            tokio::task::spawn_blocking(move || {
                let r = db.persist_all();
                drop(db);
                r
            })
            .await
            .map_err(blocking_err)??;
        }
        tracing::debug!(node_id = self.node_id, "consensus stopped");
        Ok(())
    }
}

impl Drop for Consensus {
    fn drop(&mut self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        // Dropped without shutdown: stop the background tasks so they don't outlive us.
        self.leader_log.abort();
        self.stop.cancel();
        self.sender.stop();
        for t in self
            .tasks
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if let Some(t) = &self.transport {
            t.close();
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let raft = self.raft.clone();
            rt.spawn(async move {
                let _ = raft.shutdown().await;
            });
        }
    }
}

/// Most entries per AppendEntries.
const MAX_PAYLOAD_ENTRIES: u64 = 8;
/// Snapshots travel in chunks of this size.
const SNAPSHOT_CHUNK: u64 = 1 << 20;

/// Largest peer frame: a full AppendEntries (entries of up to `max_batch_bytes` plus their
/// framing, each command up to ZooKeeper's 1 MiB jute.maxbuffer) or a snapshot chunk.
fn max_frame(max_batch_bytes: usize) -> usize {
    (MAX_PAYLOAD_ENTRIES as usize) * (max_batch_bytes + (2 << 20)) + (4 << 20)
}

/// Leadership as operators follow it: how often it changed, and how long
/// the last election left this node without a leader.
#[derive(Default)]
struct LeaderStats {
    changes: AtomicU64,
    last_election_ms: AtomicU64,
}

/// Logs who leads whenever that changes: the first thing an operator asks of a cluster.
async fn log_leader_changes(
    node_id: u64,
    stats: Arc<LeaderStats>,
    mut metrics: tokio::sync::watch::Receiver<
        openraft::metrics::RaftServerMetrics<NodeId, BasicNode>,
    >,
    mut known: Option<u64>,
) {
    // Since when no leader has been known.
    let mut lost: Option<Instant> = None;
    while metrics.changed().await.is_ok() {
        let (leader, term) = {
            let m = metrics.borrow_and_update();
            (m.current_leader, m.vote.leader_id().get_term())
        };
        if leader == known {
            continue;
        }
        known = leader;
        match leader {
            None => lost = Some(Instant::now()),
            Some(_) => {
                stats.changes.fetch_add(1, Ordering::Relaxed);
                if let Some(at) = lost.take() {
                    let ms = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                    stats.last_election_ms.store(ms, Ordering::Relaxed);
                }
            }
        }
        match leader {
            Some(l) if l == node_id => tracing::info!(node_id, term, "this node is the leader"),
            Some(l) => tracing::info!(node_id, leader = l, term, "following the leader"),
            None => tracing::warn!(node_id, term, "no leader"),
        }
    }
}

/// Take a snapshot each time snapCount commands have been applied since the
/// last (openraft's own policy counts entries, which hold whole batches).
async fn snapshot_when_due(
    raft: Raft<TypeConfig>,
    due: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = due.notified() => {
                if let Err(e) = raft.trigger().snapshot().await {
                    tracing::warn!(error = %e, "could not start a snapshot");
                }
            }
            _ = stop.cancelled() => return,
        }
    }
}
