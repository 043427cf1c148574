//! The client-facing server: accepts connections, runs one task per
//! connection, and a housekeeping task that expires sessions and reaps
//! containers and TTL nodes (as txns through the log, like every change).

mod connection;
pub mod four_letter;
mod frame_reader;
mod read;
mod read_only;
pub mod reconfig;
pub mod request;
pub mod stats;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::consensus::{Consensus, ConsensusConfig, ConsensusError};
use crate::node::{Node, Outstanding};
use crate::tree::{Command, Origin, Txn};

pub use stats::Stats;

/// What every connection task shares.
pub struct Shared {
    pub config: Config,
    pub node: Arc<Node>,
    pub consensus: Arc<Consensus>,
    pub stats: Arc<Stats>,
    pub started: Instant,
    /// Requests in the log and not yet answered, across all connections.
    pub outstanding: Arc<Outstanding>,
    next_conn: AtomicU64,
    /// Connections accepted that have not finished their handshake.
    handshaking: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Sessions granted while read-only, known to this node alone.
    read_only_sessions: read_only::Sessions,
    shutdown: CancellationToken,
}

/// Wall-clock milliseconds, stamped into commands by the node that makes them.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Shared {
    /// Cancelled when the server shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Entries in the tables that hold per-connection and per-session state
    /// on this node, as (mntr key, help, count); `mntr` shows them as
    /// `zk_<key>` and /metrics as gauges `<key>`. Once every client has gone
    /// (and its sessions closed or expired) each is 0, except
    /// `corral_client_ips`, which counts the connection asking.
    pub fn table_sizes(&self) -> Vec<(&'static str, &'static str, usize)> {
        let mut out = {
            let state = self.node.lock();
            vec![
                (
                    "corral_connection_table",
                    "Client connections registered with the node",
                    state.conns.len(),
                ),
                (
                    "corral_session_table",
                    "Sessions held by a connection on this node",
                    state.sessions.len(),
                ),
                (
                    "corral_handshake_table",
                    "New sessions waiting to be granted",
                    state.handshakes.len(),
                ),
                (
                    "corral_sessions_tracked",
                    "Sessions whose expiry this node tracks",
                    state.tracker.len(),
                ),
                (
                    "corral_sessions_closing",
                    "Expired sessions whose close is proposed",
                    state.tracker.closing_len(),
                ),
                (
                    "corral_watching_connections",
                    "Connections holding at least one watch",
                    state.watches.connections(),
                ),
            ]
        };
        let ips = self.per_ip.lock().unwrap_or_else(|p| p.into_inner()).len();
        out.push((
            "corral_client_ips",
            "Client addresses counted for maxClientCnxns",
            ips,
        ));
        out.push((
            "corral_read_only_sessions",
            "Sessions granted here in read-only mode",
            self.read_only_sessions.len(),
        ));
        out.push((
            "corral_requests_timed",
            "Requests whose reply is awaited for latency stats",
            self.stats.requests_timed(),
        ));
        out
    }

    /// Send a command to the log on behalf of connection `conn` (0: nobody
    /// waits) and request `xid`. Its outcome is dispatched by apply; the
    /// future only says whether a leader took it.
    pub fn submit(
        &self,
        conn: u64,
        xid: i32,
        txn: Txn,
    ) -> impl std::future::Future<Output = Result<(), ConsensusError>> + Send + 'static {
        let (node, boot) = (self.node.id(), self.node.boot());
        let time = now_ms();
        self.consensus.submit(move |seq| {
            Command {
                origin: Origin {
                    node,
                    boot,
                    conn,
                    xid,
                    seq,
                },
                time,
                txn,
            }
            .encode()
        })
    }

    /// Whether this node may serve clients: it is a single node, or it has
    /// heard from a leader (the leader: from a quorum) within syncLimit
    /// ticks. A node cut off from the quorum must not answer pings or reads
    /// that would hide from its clients that the majority moved on.
    pub fn serving(&self) -> bool {
        if self.config.cluster.members.len() <= 1 {
            return true;
        }
        let m = self.consensus.metrics();
        // Not "a leader is known": an election is a few hundred ms without
        // one, and dropping every client for it would turn each leader change
        // into a reconnect storm. Writes meanwhile wait for the new leader.
        m.leader_contact
            .is_some_and(|age| age <= self.config.peer_timeout())
    }

    /// Whether this node is in read-only mode: it may serve read-only
    /// clients (readonlymode.enabled) and is cut off from the quorum. Not a
    /// member that lost its data and is still catching up: its tree is not
    /// one the cluster ever had.
    pub fn read_only(&self) -> bool {
        self.config.read_only_mode && !self.serving() && self.consensus.catching_up().is_none()
    }

    /// Log a leader's decision nobody waits on (expiry, reaping), only while
    /// this node leads (never resent to a later leader).
    fn propose_internal(&self, txn: Txn) {
        let cmd = Command {
            origin: Origin {
                node: self.node.id(),
                boot: self.node.boot(),
                ..Origin::default()
            },
            time: now_ms(),
            txn,
        };
        let fut = self.consensus.propose_as_leader(cmd.encode());
        tokio::spawn(async move {
            if let Err(e) = fut.await {
                warn!(error = %e, "internal proposal failed");
            }
        });
    }
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    /// The admin HTTP servers; aborted at shutdown (an idle keep-alive
    /// connection must not hold the shutdown up).
    admin_tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
pub enum StartError {
    Consensus(ConsensusError),
    /// The client address could not be bound.
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Consensus errors name their path or cause themselves.
            StartError::Consensus(e) => write!(f, "{e}"),
            StartError::Bind { addr, error } => {
                write!(f, "cannot listen for clients on {addr}: {error}")?;
                if error.kind() == std::io::ErrorKind::AddrInUse {
                    // The usual cause for a newcomer: a second server, or ZooKeeper itself.
                    write!(
                        f,
                        " (is another Corral or ZooKeeper running? --client-addr picks another)"
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Consensus(e) => Some(e),
            StartError::Bind { error, .. } => Some(error),
        }
    }
}

impl Server {
    /// Open storage, recover the tree, and start listening.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        Self::start_with(config, None).await
    }

    /// [`start`](Self::start) with peers reached through `transport` rather
    /// than TCP (in-process cluster tests).
    pub async fn start_with(
        config: Config,
        transport: Option<Arc<dyn crate::consensus::rpc::Transport>>,
    ) -> Result<Server, StartError> {
        let mut boot = [0u8; 8];
        if let Err(e) = getrandom::fill(&mut boot) {
            return Err(StartError::Consensus(ConsensusError::Fatal(format!(
                "no randomness for this boot's id: {e}"
            ))));
        }
        // Never 0: boot 0 marks commands from logs written before boots existed.
        let boot = u64::from_le_bytes(boot).max(1);
        let cluster = &config.cluster;
        let node = Arc::new(Node::new(cluster.my_id, boot));
        node.lock()
            .tracker
            .set_tick(Duration::from_millis(config.tick_time), Instant::now());
        let mut cc = ConsensusConfig::new(config.data_dir.clone());
        cc.node_id = node.id();
        cc.members = cluster
            .members
            .iter()
            .map(|(id, m)| (*id, m.peer_addr))
            .collect();
        cc.specs = cluster
            .members
            .iter()
            .map(|(id, m)| (*id, m.spec.clone()))
            .collect();
        cc.observers = cluster
            .members
            .iter()
            .filter(|(_, m)| m.observer)
            .map(|(id, _)| *id)
            .collect();
        cc.member_hosts = cluster
            .members
            .iter()
            .filter_map(|(id, m)| Some((*id, m.host.clone()?)))
            .collect();
        cc.election_timeout_ms = config.election_timeout;
        cc.transport = transport;
        cc.fsync = config.force_sync;
        cc.snapshot_every = config.snap_count.max(1);
        let consensus = Consensus::start(cc, node.clone())
            .await
            .map_err(StartError::Consensus)?;
        {
            let state = node.lock();
            info!(
                znodes = state.tree.node_count(),
                sessions = state.tree.sessions().count(),
                last_zxid = format_args!("{:#x}", state.tree.last_zxid()),
                "recovered"
            );
        }
        let addr = config.client_addr;
        let bound = TcpListener::bind(addr).await.and_then(|l| {
            let a = l.local_addr()?;
            Ok((l, a))
        });
        let (listener, local_addr) = match bound {
            Ok(b) => b,
            Err(error) => {
                // Stop storage cleanly rather than drop it: the log is synced
                // and openraft's tasks end without errors of their own.
                if let Err(e) = consensus.shutdown().await {
                    warn!(error = %e, "storage did not shut down cleanly");
                }
                return Err(StartError::Bind { addr, error });
            }
        };
        let shared = Arc::new(Shared {
            config,
            node,
            consensus: Arc::new(consensus),
            stats: Arc::new(Stats::default()),
            started: Instant::now(),
            outstanding: Arc::new(Outstanding::default()),
            next_conn: AtomicU64::new(1),
            handshaking: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            read_only_sessions: read_only::Sessions::default(),
            shutdown: CancellationToken::new(),
        });
        info!(addr = %local_addr, node_id = shared.node.id(), "serving clients");
        let tasks = vec![
            tokio::spawn(accept_loop(shared.clone(), listener)),
            tokio::spawn(housekeeping(shared.clone())),
        ];
        let mut admin_tasks = Vec::new();
        let mut admin_addr = None;
        let http = [
            (
                shared.config.admin_addr,
                false,
                "admin server",
                "--admin-addr moves it, --admin-server no turns it off",
            ),
            (
                shared.config.metrics_addr,
                true,
                "metrics server",
                "--metrics-addr moves it",
            ),
        ];
        for (addr, metrics_only, what, hint) in http {
            let Some(addr) = addr else { continue };
            // As ZooKeeper does when its AdminServer cannot start: log it and
            // keep serving clients, who matter more than the dashboards.
            match TcpListener::bind(addr).await.and_then(|l| {
                let a = l.local_addr()?;
                Ok((l, a))
            }) {
                Ok((l, bound)) => {
                    info!(addr = %bound, "{what} listening");
                    if !metrics_only {
                        admin_addr = Some(bound);
                    }
                    admin_tasks.push(tokio::spawn(crate::admin::serve(
                        shared.clone(),
                        l,
                        metrics_only,
                    )));
                }
                Err(e) => error!(
                    %addr,
                    error = %e,
                    hint,
                    "{what} not started: cannot listen; still serving clients"
                ),
            }
        }
        Ok(Server {
            shared,
            local_addr,
            admin_addr,
            tasks,
            admin_tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the server's tasks share: its tree, consensus and settings (for
    /// in-process cluster tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Where the admin HTTP server listens, if it started.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Resolves only if consensus stops on its own (a replica that cannot
    /// apply a committed entry, a fatal storage error): the server must not
    /// go on answering from a tree that no longer follows the log.
    pub async fn failed(&self) -> String {
        self.shared.consensus.failed().await
    }

    /// Stop accepting, close connections (sessions survive, to be resumed
    /// after a restart), and stop storage cleanly.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        for t in self.admin_tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        {
            let state = self.shared.node.lock();
            for conn in state.conns.keys() {
                state.close(*conn);
            }
        }
        if let Err(e) = self.shared.consensus.shutdown().await {
            warn!(error = %e, "storage did not shut down cleanly");
        }
        info!("stopped");
    }
}

/// Releases a connection's slot in the per-IP count when it ends.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut last_refusal_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Connections that never finish a handshake hold a socket and a
        // buffer until the handshake timeout; past a bound, new ones are
        // closed at once (clients retry) so a flood cannot pile them up.
        let limit = shared.config.limits.max_handshaking;
        if shared.handshaking.load(Ordering::Acquire) >= limit {
            if last_refusal_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                warn!(%peer, limit, "too many connections in their handshake; closing new ones");
                last_refusal_logged = Some(Instant::now());
            }
            continue;
        }
        let max = shared.config.max_client_cnxns;
        {
            let mut per_ip = shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let n = per_ip.entry(peer.ip()).or_insert(0);
            if max != 0 && *n >= max {
                warn!(%peer, max, "too many connections from this address; closing");
                continue;
            }
            *n += 1;
        }
        let slot = IpSlot {
            shared: shared.clone(),
            ip: peer.ip(),
        };
        let _ = socket.set_nodelay(true);
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let handshaking = connection::Handshaking::new(shared.clone());
        let shared = shared.clone();
        tokio::spawn(async move {
            connection::serve(shared, socket, peer, id, handshaking).await;
            drop(slot);
        });
    }
}

/// How long /zookeeper/config may differ from the log's membership before
/// the leader writes it.
const CONFIG_DRIFT: Duration = Duration::from_secs(2);

/// Expire sessions and reap containers/TTL nodes, every half tick.
async fn housekeeping(shared: Arc<Shared>) {
    let tick = Duration::from_millis(shared.config.tick_time.max(2) / 2);
    let mut reaping: HashMap<String, Instant> = HashMap::new();
    let mut interval = tokio::time::interval(tick);
    // The term this node last led in: a new one restarts every session's clock.
    let mut led_term = None;
    let mut was_serving = true;
    // Member lines /zookeeper/config lacks, and since when.
    let mut drift: Option<(String, Instant)> = None;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let m = shared.consensus.metrics();
        let now = Instant::now();
        let (recent, live) = {
            let mut state = shared.node.lock();
            let live: Vec<(i64, i32)> = state
                .tree
                .sessions()
                .map(|(id, s)| (id, s.timeout))
                .collect();
            state.tracker.sync(live.iter().copied(), now);
            (state.tracker.take_recent(), live.len())
        };
        // Tell the leader which sessions this node's clients kept alive.
        if !m.is_leader {
            shared.consensus.touch(recent);
        }
        let serving = shared.serving();
        if serving != was_serving {
            was_serving = serving;
            if serving {
                info!(leader = ?m.leader, "in touch with the leader; serving clients");
            } else {
                // Clients must move to a node in the majority, as ZooKeeper's
                // do when their follower loses its leader.
                let state = shared.node.lock();
                warn!(
                    leader = ?m.leader,
                    clients = state.conns.len(),
                    read_only = shared.config.read_only_mode,
                    "no contact with a leader; closing client connections until there is \
                     (read-only clients are served meanwhile when read-only mode is on)"
                );
                for conn in state.conns.keys() {
                    state.close(*conn);
                }
            }
            if serving {
                // Read-only sessions and connections end with read-only
                // mode: their clients go on to a read-write session.
                shared.read_only_sessions.clear();
                let state = shared.node.lock();
                for (id, conn) in &state.conns {
                    if conn.read_only {
                        state.close(*id);
                    }
                }
            }
        }
        if !serving && !shared.read_only_sessions.is_empty() {
            shared.read_only_sessions.expire(now);
        }
        // A leader cut off from the majority decides nothing: its successor
        // may be hearing from these sessions' clients right now.
        if !m.is_leader || !serving {
            led_term = None;
            continue;
        }
        if led_term != Some(m.term) {
            led_term = Some(m.term);
            shared.node.lock().tracker.restart_all(now);
            // Worth saying in a cluster, after a leader change; a single
            // node does it once, at start.
            if m.voters > 1 {
                info!(
                    term = m.term,
                    sessions = live,
                    "leading: every session gets a full timeout"
                );
            } else {
                debug!(
                    term = m.term,
                    sessions = live,
                    "every session gets a full timeout"
                );
            }
        }
        // Only a lasting difference: a reconfig's own txn follows its
        // membership change within moments, and must not meet a newer version.
        match reconfig::drift(&shared) {
            Some(want) => match &drift {
                Some((seen, since)) if *seen == want => {
                    if now.duration_since(*since) >= CONFIG_DRIFT {
                        info!("writing the membership to /zookeeper/config");
                        shared.propose_internal(Txn::Config {
                            members: want.clone(),
                        });
                        // Not again until this one has had time to apply.
                        drift = Some((want, now + CONFIG_DRIFT));
                    }
                }
                _ => drift = Some((want, now)),
            },
            None => drift = None,
        }
        let (expired, candidates) = {
            let mut state = shared.node.lock();
            let expired = state
                .tracker
                .expired(now, Duration::from_millis(shared.config.tick_time * 2));
            (expired, state.tree.reap_candidates(now_ms()))
        };
        for session in expired {
            info!(session = format_args!("{session:#x}"), "session expired");
            shared.propose_internal(Txn::CloseSession { session });
        }
        reaping.retain(|_, at| now.duration_since(*at) < Duration::from_secs(10));
        for path in candidates {
            if !reaping.contains_key(&path) {
                reaping.insert(path.clone(), now);
                shared.propose_internal(Txn::Reap { path });
            }
        }
    }
}
