//! Consensus: the raft log every write goes through, behind a narrow API.
//!
//! Everything openraft-specific stays in this module. The rest of the server sees
//! [`Consensus`] (start, propose, metrics, shutdown) and implements [`StateMachine`].
//!
//! Write path: [`Consensus::propose`] queues a command; a proposer task packs queued commands
//! into one raft entry ([`types::Batch`]) while the previous entries are in flight, because
//! openraft 0.9 appends and fsyncs one client write at a time. Many concurrent writers thus share
//! one fsync (group commit).

mod log_store;
mod network;
mod state_machine;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::storage::{OpenError, RaftDb};
use log_store::LogStore;
use network::NetworkFactory;
use state_machine::SmStore;
use types::{Batch, NodeId, TypeConfig};

/// The replicated application (the data tree). Called by consensus only.
pub trait StateMachine: Send + Sync + 'static {
    /// Apply the commands of one committed log entry, in order. Deterministic; business errors
    /// are results inside the app. Called exactly once per committed entry (after a restart:
    /// again for entries after the last snapshot), in log order. An `Err` means this replica
    /// cannot apply a committed entry: consensus stops (see [`Consensus::failed`]) rather than
    /// let the replica diverge from the others.
    fn apply(&self, index: u64, cmds: &[Bytes]) -> Result<(), String>;
    /// Serialize the whole app state as of the last applied entry (called on the apply path,
    /// so it is consistent with the last index passed to apply).
    fn snapshot(&self) -> Vec<u8>;
    /// Replace the whole app state with a snapshot's.
    fn restore(&self, data: &[u8]) -> Result<(), String>;
}

#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    /// 1 for the single-node default.
    pub node_id: u64,
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
            data_dir: data_dir.into(),
            fsync: true,
            snapshot_every: 100_000,
            max_batch_cmds: 1000,
            max_batch_bytes: 4 << 20,
        }
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

/// Raft entries in flight at once. openraft 0.9 appends (and fsyncs) one entry at a time anyway,
/// so a second in-flight entry only splits the queue into smaller batches: measured with 64
/// writers, 1 gave ~63 cmds/entry and ~100k cmds/s, 2 gave ~21 cmds/entry and ~47k cmds/s.
const MAX_INFLIGHT: usize = 1;

struct Proposal {
    cmd: Bytes,
    done: oneshot::Sender<Result<(), ConsensusError>>,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    cmds: AtomicU64,
}

/// A running raft node with its log, snapshots and proposer.
pub struct Consensus {
    node_id: u64,
    raft: Raft<TypeConfig>,
    tx: mpsc::UnboundedSender<Proposal>,
    proposer: Mutex<Option<JoinHandle<()>>>,
    /// Logs leadership changes; stopped before raft so a shutdown is not reported as one.
    leader_log: JoinHandle<()>,
    db: Mutex<Option<Arc<RaftDb>>>,
    /// Committed index + 1 (0 = none), updated by the log store.
    committed: Arc<AtomicU64>,
    counters: Arc<Counters>,
    stopping: AtomicBool,
}

fn blocking_err(e: tokio::task::JoinError) -> ConsensusError {
    ConsensusError::Fatal(format!("storage task failed: {e}"))
}

impl Consensus {
    /// Open storage, restore the latest snapshot into `sm` (sm.restore), start openraft,
    /// initialize a one-voter cluster {node_id} on first start, and return once this node is
    /// leader and has applied everything committed before the restart (so reads after start never
    /// see a state older than acknowledged writes).
    pub async fn start(
        cfg: ConsensusConfig,
        sm: Arc<dyn StateMachine>,
    ) -> Result<Consensus, ConsensusError> {
        // openraft's tasks are spawned inside this span and keep it: their logs carry node_id,
        // which tells nodes apart in in-process cluster tests.
        let span = tracing::debug_span!("raft", node_id = cfg.node_id);
        Self::start_inner(cfg, sm).instrument(span).await
    }

    async fn start_inner(
        cfg: ConsensusConfig,
        sm: Arc<dyn StateMachine>,
    ) -> Result<Consensus, ConsensusError> {
        let t0 = Instant::now();

        let committed = Arc::new(AtomicU64::new(0));
        let (db, log_store, sm_store) = {
            let cfg = cfg.clone();
            let committed = committed.clone();
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
                let sm = SmStore::open(sm, &cfg.data_dir.join("snapshots"))?;
                Ok((db, log, sm))
            })
            .await
            .map_err(blocking_err)??
        };
        let restored = sm_store.last_applied();
        let t_open = t0.elapsed();

        let raft_config = openraft::Config {
            cluster_name: "corral".into(),
            // ClickHouse Keeper's defaults; openraft's (50 ms / 150-300 ms) are too tight for a
            // disk-bound service. A single node does not wait for them (see below).
            heartbeat_interval: 500,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            snapshot_policy: if cfg.snapshot_every == 0 {
                SnapshotPolicy::Never
            } else {
                SnapshotPolicy::LogsSinceLast(cfg.snapshot_every)
            },
            // Enough for a lagging follower to catch up from the log instead of a snapshot,
            // without keeping much more than one snapshot interval around.
            max_in_snapshot_log_to_keep: cfg.snapshot_every.min(1000),
            // Entries can be up to max_batch_bytes each; keep AppendEntries RPCs bounded.
            max_payload_entries: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ConsensusError::Fatal(format!("raft config: {e}")))?;

        let raft = Raft::new(
            cfg.node_id,
            Arc::new(raft_config),
            NetworkFactory,
            log_store,
            sm_store,
        )
        .await?;

        if !raft.is_initialized().await? {
            let members = BTreeMap::from([(cfg.node_id, BasicNode::default())]);
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(from_raft_err(e)),
            }
        }

        // A restarted single voter comes back as leader at once (its vote is committed); a fresh
        // one elects itself in initialize. Only if neither happened, campaign now rather than
        // waiting out the election timeout.
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
        let t_leader = t0.elapsed();
        let server_metrics = raft.server_metrics();
        let term = server_metrics.borrow().vote.leader_id().get_term();
        tracing::info!(node_id = cfg.node_id, term, "this node is the leader");
        let leader_log = tokio::spawn(log_leader_changes(
            cfg.node_id,
            server_metrics,
            Some(cfg.node_id),
        ));

        // Everything in the log was committed by us (single voter) or is committed by our new
        // term; wait until it is applied so reads never go back in time after a restart.
        let last = raft.metrics().borrow().last_log_index;
        raft.wait(None)
            .applied_index_at_least(last, "applied after start")
            .await
            .map_err(|e| ConsensusError::Fatal(format!("catching up after start: {e}")))?;

        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let proposer = tokio::spawn(run_proposer(
            raft.clone(),
            rx,
            cfg.max_batch_cmds.max(1),
            cfg.max_batch_bytes.max(1),
            counters.clone(),
        ));

        tracing::debug!(
            dir = %cfg.data_dir.display(),
            open_ms = t_open.as_secs_f64() * 1e3,
            leader_ms = t_leader.as_secs_f64() * 1e3,
            ready_ms = t0.elapsed().as_secs_f64() * 1e3,
            restored_snapshot = ?restored,
            last_log_index = ?last,
            "consensus started"
        );
        Ok(Consensus {
            node_id: cfg.node_id,
            raft,
            tx,
            proposer: Mutex::new(Some(proposer)),
            leader_log,
            db: Mutex::new(Some(db)),
            committed,
            counters,
            stopping: AtomicBool::new(false),
        })
    }

    /// Append `cmd` to the log. Resolves Ok once the entry holding it is durable, committed and
    /// applied on this node (sm.apply has returned for it). Concurrent proposals are batched into
    /// one entry; commands keep the order in which they were queued.
    pub async fn propose(&self, cmd: Bytes) -> Result<(), ConsensusError> {
        self.submit(cmd).await
    }

    /// Like [`propose`](Self::propose), but queues `cmd` right away (before the returned future
    /// is first polled). A connection task can submit several requests in order and await the
    /// results later, without giving up their order.
    pub fn submit(
        &self,
        cmd: Bytes,
    ) -> impl Future<Output = Result<(), ConsensusError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let queued = if self.stopping.load(Ordering::Acquire) {
            Err(ConsensusError::ShuttingDown)
        } else {
            self.tx
                .send(Proposal { cmd, done })
                .map_err(|_| ConsensusError::ShuttingDown)
        };
        async move {
            queued?;
            rx.await.unwrap_or(Err(ConsensusError::ShuttingDown))
        }
    }

    /// Linearizable read barrier: confirms leadership with a quorum and waits until everything
    /// committed before the call is applied here. Returns the applied index it waited for.
    pub async fn read_barrier(&self) -> Result<Option<u64>, ConsensusError> {
        match self.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index)),
            Err(RaftError::Fatal(f)) => Err(f.into()),
            Err(RaftError::APIError(e)) => Err(ConsensusError::NotLeader {
                leader: match e {
                    openraft::error::CheckIsLeaderError::ForwardToLeader(f) => f.leader_id,
                    openraft::error::CheckIsLeaderError::QuorumNotEnough(_) => None,
                },
            }),
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
        ConsensusMetrics {
            node_id: self.node_id,
            term: m.current_term,
            leader: m.current_leader,
            is_leader: m.state == ServerState::Leader,
            last_log_index: m.last_log_index,
            commit_index: committed.checked_sub(1),
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            batches_proposed: self.counters.batches.load(Ordering::Relaxed),
            cmds_proposed: self.counters.cmds.load(Ordering::Relaxed),
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
        let proposer = self
            .proposer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = proposer {
            // Queued proposals are dropped with it; their callers see ShuttingDown.
            p.abort();
            let _ = p.await;
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
        if let Some(p) = self
            .proposer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            p.abort();
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let raft = self.raft.clone();
            rt.spawn(async move {
                let _ = raft.shutdown().await;
            });
        }
    }
}

/// Logs who leads whenever that changes: the first thing an operator asks of a cluster.
async fn log_leader_changes(
    node_id: u64,
    mut metrics: tokio::sync::watch::Receiver<
        openraft::metrics::RaftServerMetrics<NodeId, BasicNode>,
    >,
    mut known: Option<u64>,
) {
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
            Some(l) if l == node_id => tracing::info!(node_id, term, "this node is the leader"),
            Some(l) => tracing::info!(node_id, leader = l, term, "following the leader"),
            None => tracing::warn!(node_id, term, "no leader"),
        }
    }
}

/// Packs queued proposals into raft entries: takes everything queued (up to the batch limits)
/// whenever an in-flight slot frees up, so the batch size adapts to the load.
async fn run_proposer(
    raft: Raft<TypeConfig>,
    mut rx: mpsc::UnboundedReceiver<Proposal>,
    max_cmds: usize,
    max_bytes: usize,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(MAX_INFLIGHT));
    let mut carry: Option<Proposal> = None;
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut bytes = first.cmd.len();
        let mut cmds = vec![first.cmd];
        let mut waiters = vec![first.done];
        while cmds.len() < max_cmds {
            match rx.try_recv() {
                Ok(p) if bytes + p.cmd.len() > max_bytes => {
                    carry = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.cmd.len();
                    cmds.push(p.cmd);
                    waiters.push(p.done);
                }
                Err(_) => break,
            }
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .cmds
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        match raft.client_write_ff(Batch(cmds)).await {
            Err(f) => {
                let e = ConsensusError::from(f);
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
            }
            Ok(resp) => {
                tokio::spawn(async move {
                    let r = match resp.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(ClientWriteError::ForwardToLeader(f))) => {
                            Err(ConsensusError::NotLeader {
                                leader: f.leader_id,
                            })
                        }
                        Ok(Err(e)) => Err(ConsensusError::Fatal(e.to_string())),
                        Err(_) => Err(ConsensusError::ShuttingDown),
                    };
                    for w in waiters {
                        let _ = w.send(r.clone());
                    }
                    drop(permit);
                });
            }
        }
    }
}
