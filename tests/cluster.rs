//! Three-node clusters in one process: every node a real `Server` with its
//! own data directory and a real client port, peers talking over an
//! in-memory network (`MemNet`) the test can cut. Clients are
//! zookeeper-client and, where exact frames matter, the raw client from
//! tests/common. Each scenario ends with every live replica holding the
//! same tree.
//!
//! The tests run one at a time (`SERIAL`): several assert timings (expiry,
//! syncLimit) that two cores shared by nine clusters would blur.
//! RUST_LOG=info (or corral=debug) shows every node's logs.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Connect, Raw};
use corral::config::{Config, ServeArgs};
use corral::consensus::ConsensusMetrics;
use corral::consensus::memnet::MemNet;
use corral::server::{Server, Shared, four_letter};
use corral::tree::{SessionRecord, Tree};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use jute::{
    Acl, CreateMode, CreateRequest, ErrorCode, GetDataRequest, OpCode, Request, Response,
    SetDataRequest,
};
use zookeeper_client as zk;

/// tickTime, ms: sessions get 400 ms to 4 s; syncLimit (5 ticks) is 1 s.
const TICK: u64 = 200;
/// Raft election timeout, ms (randomised up to twice this; heartbeats every 30 ms).
const ELECTION: u64 = 150;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Run a scenario alone (see `SERIAL`) and within `secs`.
async fn scenario<F: Future<Output = ()>>(secs: u64, body: F) {
    let _alone = SERIAL.lock().await;
    init_logs();
    let started = Instant::now();
    if tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .is_err()
    {
        panic!("scenario did not finish within {secs} s");
    }
    eprintln!("scenario took {:.1} s", started.elapsed().as_secs_f64());
}

fn init_logs() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Poll `ok` every 10 ms until it holds; panic naming `what` after `within`.
async fn eventually(what: &str, within: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        if ok() {
            return t0.elapsed();
        }
        if t0.elapsed() > within {
            panic!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Member {
    dir: PathBuf,
    /// The client address, kept across restarts so clients find the node again.
    addr: SocketAddr,
    server: Option<Server>,
}

/// N in-process nodes on one MemNet.
struct Cluster {
    net: Arc<MemNet>,
    ids: Vec<u64>,
    members: BTreeMap<u64, Member>,
    snap_count: Option<u64>,
    read_only_mode: bool,
    /// Members that do not vote.
    observers: Vec<u64>,
    /// The members a node's configuration lists, where not all of `ids`
    /// (a node joining by reconfig, and those it joins).
    listed: BTreeMap<u64, Vec<u64>>,
    /// reconfigEnabled, with the super user `super:test`.
    reconfig: bool,
    _root: tempfile::TempDir,
}

impl Cluster {
    async fn start(n: u64) -> Cluster {
        Self::start_with(n, None).await
    }

    /// Start `n` nodes (ids 1..=n) and wait until they agree on a leader.
    async fn start_with(n: u64, snap_count: Option<u64>) -> Cluster {
        let mut c = Cluster::unstarted(n, snap_count);
        for id in c.ids.clone() {
            c.boot(id).await;
        }
        c.leader().await;
        c
    }

    /// `n` members (ids 1..=n) with data directories, none running yet.
    fn unstarted(n: u64, snap_count: Option<u64>) -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let ids: Vec<u64> = (1..=n).collect();
        let members = ids
            .iter()
            .map(|id| {
                let member = Member {
                    dir: root.path().join(format!("node{id}")),
                    addr: "127.0.0.1:0".parse().expect("addr"),
                    server: None,
                };
                (*id, member)
            })
            .collect();
        Cluster {
            net: MemNet::new(),
            ids,
            members,
            snap_count,
            read_only_mode: false,
            observers: Vec::new(),
            listed: BTreeMap::new(),
            reconfig: false,
            _root: root,
        }
    }

    fn config(&self, id: u64) -> Config {
        let m = &self.members[&id];
        let args = ServeArgs {
            node_id: Some(id),
            // Only names: MemNet carries the peer traffic.
            peers: self
                .listed
                .get(&id)
                .unwrap_or(&self.ids)
                .iter()
                .map(|i| {
                    let role = if self.observers.contains(i) {
                        ":observer"
                    } else {
                        ""
                    };
                    format!("{i}=127.0.0.1:{i}{role}")
                })
                .collect(),
            client_addr: Some(m.addr),
            data_dir: Some(m.dir.clone()),
            tick_time: Some(TICK),
            election_timeout: Some(ELECTION),
            admin_server: Some("no".into()),
            force_sync: Some("no".into()),
            // Above the default 20 ticks (4 s), for clients that ask for more.
            max_session_timeout: Some(20_000),
            snap_count: self.snap_count,
            read_only_mode: Some(if self.read_only_mode { "yes" } else { "no" }.into()),
            reconfig: Some(if self.reconfig { "yes" } else { "no" }.into()),
            // super:test
            super_digest: Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".into()),
            ..Default::default()
        };
        Config::load(&args).expect("config").0
    }

    async fn boot(&mut self, id: u64) {
        let config = self.config(id);
        let server = Server::start_with(config, Some(self.net.port(id)))
            .await
            .unwrap_or_else(|e| panic!("node {id} did not start: {e}"));
        let m = self.members.get_mut(&id).expect("member");
        m.addr = server.local_addr();
        m.server = Some(server);
    }

    fn server(&self, id: u64) -> &Server {
        self.members[&id]
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    fn shared(&self, id: u64) -> &Arc<Shared> {
        self.server(id).shared()
    }

    fn metrics(&self, id: u64) -> ConsensusMetrics {
        self.shared(id).consensus.metrics()
    }

    fn addr(&self, id: u64) -> SocketAddr {
        self.members[&id].addr
    }

    fn live(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|(_, m)| m.server.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    fn others(&self, id: u64) -> Vec<u64> {
        self.ids.iter().copied().filter(|i| *i != id).collect()
    }

    /// The leader every live node follows and serves for.
    async fn leader(&self) -> u64 {
        self.leader_of(&self.live()).await
    }

    /// The leader the nodes in `group` agree on, once each of them serves clients.
    async fn leader_of(&self, group: &[u64]) -> u64 {
        let mut found = None;
        eventually(
            &format!("one leader serving {group:?}"),
            Duration::from_secs(10),
            || {
                let ms: Vec<ConsensusMetrics> = group.iter().map(|id| self.metrics(*id)).collect();
                let Some(l) = ms[0].leader.filter(|l| group.contains(l)) else {
                    return false;
                };
                let agreed = ms.iter().all(|m| m.leader == Some(l));
                let serving = group.iter().all(|id| self.shared(*id).serving());
                found = Some(l);
                agreed && serving && self.metrics(l).is_leader
            },
        )
        .await;
        found.expect("leader")
    }

    /// Stop a node as a crash (kill -9) would, as the others see it: cut
    /// off at once, so nothing it has in flight gets through (its peers'
    /// requests to it go unanswered), then shut down; its data directory
    /// stays for a restart. Heals every link afterwards: not for use while
    /// a partition is in place.
    async fn crash(&mut self, id: u64) {
        let server = self
            .members
            .get_mut(&id)
            .and_then(|m| m.server.take())
            .unwrap_or_else(|| panic!("node {id} is already down"));
        self.net.isolate(id, &self.ids);
        server.shutdown().await;
        self.net.heal();
    }

    /// Stop a node cleanly (the end of a scenario).
    async fn stop_node(&mut self, id: u64) {
        if let Some(server) = self.members.get_mut(&id).and_then(|m| m.server.take()) {
            server.shutdown().await;
        }
    }

    /// Start a crashed node again on its data directory and client address.
    async fn restart(&mut self, id: u64) {
        assert!(self.members[&id].server.is_none(), "node {id} is running");
        self.boot(id).await;
    }

    fn isolate(&self, id: u64) {
        self.net.isolate(id, &self.ids);
    }

    fn heal(&self) {
        self.net.heal();
    }

    fn digest(&self, id: u64) -> (i64, u64) {
        four_letter::digest(self.shared(id))
    }

    /// Wait until every live node reports the same (last zxid, digest) and
    /// their whole trees (sessions and their owners included) are equal.
    /// Some txns take no zxid (a session moving), so equal digests alone
    /// can be a moment early: the trees are compared once the nodes have
    /// also applied the same log index.
    async fn wait_converged(&self) -> (i64, u64) {
        let live = self.live();
        let within = Duration::from_secs(15);
        let t0 = Instant::now();
        loop {
            let digests: Vec<(u64, (i64, u64))> =
                live.iter().map(|id| (*id, self.digest(*id))).collect();
            let applied: Vec<(u64, Option<u64>)> = live
                .iter()
                .map(|id| (*id, self.metrics(*id).applied_index))
                .collect();
            let mut differs = None;
            if digests.iter().all(|(_, d)| *d == digests[0].1)
                && applied.iter().all(|(_, a)| *a == applied[0].1)
            {
                let first = self.shared(live[0]).node.lock().tree.clone();
                differs = live[1..].iter().find_map(|id| {
                    let tree = self.shared(*id).node.lock().tree.clone();
                    (tree != first).then(|| tree_diff(live[0], &first, *id, &tree))
                });
                if differs.is_none() {
                    return digests[0].1;
                }
            }
            if t0.elapsed() > within {
                panic!(
                    "replicas did not converge within {within:?}: (zxid, digest) {digests:?}, \
                     applied {applied:?}; {}",
                    differs.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether node `id`'s replica holds `path`.
    fn has(&self, id: u64, path: &str) -> bool {
        self.shared(id).node.lock().tree.node(path).is_some()
    }

    /// The children of `path` on node `id`'s replica, with their data.
    fn children(&self, id: u64, path: &str) -> BTreeMap<String, Bytes> {
        let state = self.shared(id).node.lock();
        assert!(state.tree.node(path).is_some(), "parent exists");
        state
            .tree
            .child_names(path)
            .into_iter()
            .map(|c| {
                let data = state
                    .tree
                    .node(&format!("{path}/{c}"))
                    .and_then(|n| n.data().map(Bytes::copy_from_slice))
                    .unwrap_or_default();
                (c, data)
            })
            .collect()
    }

    fn last_zxid(&self, id: u64) -> i64 {
        self.shared(id).node.lock().tree.last_zxid()
    }

    /// Shut every live node down cleanly (the end of a scenario).
    async fn stop(mut self) {
        for id in self.live() {
            self.stop_node(id).await;
        }
    }
}

/// Where two replicas' trees differ, as far as the tree shows it.
fn tree_diff(a: u64, ta: &Tree, b: u64, tb: &Tree) -> String {
    let sessions = |t: &Tree| -> BTreeMap<i64, SessionRecord> {
        t.sessions().map(|(id, s)| (id, s.clone())).collect()
    };
    let (sa, sb) = (sessions(ta), sessions(tb));
    let ids: std::collections::BTreeSet<i64> = sa.keys().chain(sb.keys()).copied().collect();
    let mut out = format!(
        "nodes {a} and {b} hold different trees: zxid {:#x}/{:#x}, digest {}/{}, \
         znodes {}/{}, totals {:?}/{:?}",
        ta.last_zxid(),
        tb.last_zxid(),
        ta.digest(),
        tb.digest(),
        ta.node_count(),
        tb.node_count(),
        ta.check_totals(),
        tb.check_totals()
    );
    for id in ids {
        if sa.get(&id) != sb.get(&id) {
            out.push_str(&format!(
                "; session {id:#x}: {:?} / {:?}",
                sa.get(&id),
                sb.get(&id)
            ));
        }
    }
    out
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn mode(m: zk::CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(zk::Acls::anyone_all())
}

async fn client(addr: SocketAddr, timeout: Duration) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(timeout)
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

fn create(path: &str, data: &[u8], mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Acl::open_unsafe(),
        flags: mode.code(),
    })
}

fn set_data(path: &str, data: &[u8]) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        version: -1,
    })
}

/// The sequence number ZooKeeper appends to a sequential node's name.
fn seq_of(name: &str) -> i64 {
    name[name.len() - 10..]
        .parse()
        .unwrap_or_else(|_| panic!("not a sequential name: {name}"))
}

/// Resume a session on `addr` with a raw connection: Ok(the connection),
/// Err(Some(timeout 0 answer)) when told the session expired, Err(None)
/// when closed without an answer.
async fn resume(
    addr: SocketAddr,
    session: i64,
    passwd: &Bytes,
) -> Result<Raw, Option<jute::ConnectResponse>> {
    let (raw, rsp, _) = Raw::handshake(
        addr,
        Connect {
            session,
            passwd: Some(passwd.clone()),
            ..Connect::default()
        },
    )
    .await;
    match raw {
        Some(raw) => {
            assert_eq!(raw.session, session, "resumed as another session");
            Ok(raw)
        }
        None => Err(rsp),
    }
}

/// Crash follower `f` and write `n` nodes under `/backlog` one at a time
/// through node `via` (each its own log entry): restarted, `f` comes back
/// `n` entries behind.
async fn fall_behind(c: &mut Cluster, f: u64, via: u64, n: usize) {
    c.crash(f).await;
    let zk = client(c.addr(via), Duration::from_secs(4)).await;
    if zk.check_stat("/backlog").await.unwrap().is_none() {
        zk.create("/backlog", b"", &open()).await.unwrap();
    }
    for i in 0..n {
        zk.create(
            "/backlog/n-",
            &[7; 512],
            &mode(zk::CreateMode::PersistentSequential),
        )
        .await
        .unwrap_or_else(|e| panic!("backlog write {i}: {e}"));
    }
}

// ---------------------------------------------------------------------------

/// 1. Three nodes form one cluster: one leader, two followers; a client on
///    each node writes, and after sync every client reads every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_form_one_cluster_and_share_writes() {
    scenario(30, async {
        let c = Cluster::start(3).await;
        let leader = c.leader().await;
        let states: BTreeMap<u64, &str> = c
            .ids
            .iter()
            .map(|id| (*id, four_letter::server_state(c.shared(*id))))
            .collect();
        let leaders: Vec<u64> = c
            .ids
            .iter()
            .copied()
            .filter(|id| c.metrics(*id).is_leader)
            .collect();
        assert_eq!(
            leaders,
            vec![leader],
            "exactly one leader; states {states:?}"
        );
        for id in &c.ids {
            let want = if *id == leader { "leader" } else { "follower" };
            assert_eq!(states[id], want, "node {id}: states {states:?}");
            let m = c.metrics(*id);
            assert_eq!((m.voters, m.leader), (3, Some(leader)), "node {id}");
        }
        let lm = c.metrics(leader);
        assert_eq!(lm.followers, 2, "the leader replicates to both others");

        let mut clients = Vec::new();
        for id in &c.ids {
            clients.push((*id, client(c.addr(*id), Duration::from_secs(4)).await));
        }
        clients[0].1.create("/s1", b"", &open()).await.unwrap();
        for (id, zk) in &clients {
            let path = format!("/s1/from-{id}");
            zk.create(&path, format!("written on {id}").as_bytes(), &open())
                .await
                .unwrap_or_else(|e| panic!("create {path} on node {id}: {e}"));
        }
        for (reader, zk) in &clients {
            zk.sync("/s1").await.unwrap();
            for (writer, _) in &clients {
                let path = format!("/s1/from-{writer}");
                let (data, _) = zk
                    .get_data(&path)
                    .await
                    .unwrap_or_else(|e| panic!("node {reader} reading {path}: {e}"));
                assert_eq!(data, format!("written on {writer}").as_bytes());
            }
            let (children, _) = zk.get_children("/s1").await.unwrap();
            assert_eq!(children.len(), 3, "node {reader}: {children:?}");
        }
        c.wait_converged().await;
        drop(clients);
        c.stop().await;
    })
    .await;
}

/// 2. Writes through a follower are answered by that follower, in request
///    order: 200 pipelined sequential creates come back by xid, with
///    increasing zxids and increasing sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_answers_pipelined_writes_in_order() {
    scenario(30, async {
        let c = Cluster::start(3).await;
        let leader = c.leader().await;
        let f = c.others(leader)[0];
        let mut raw = Raw::connect(c.addr(f)).await;
        let r = raw.call(create("/q", b"", CreateMode::Persistent)).await;
        assert_eq!(r.header.err, 0);

        const N: usize = 200;
        let mut xids = Vec::with_capacity(N);
        for i in 0..N {
            xids.push(
                raw.send(create(
                    "/q/n-",
                    i.to_string().as_bytes(),
                    CreateMode::PersistentSequential,
                ))
                .await,
            );
        }
        let mut last_zxid = r.header.zxid;
        let mut last_seq = -1;
        for (i, xid) in xids.iter().enumerate() {
            let reply = raw
                .next(OpCode::Create)
                .await
                .unwrap_or_else(|| panic!("connection closed before reply {i}"));
            assert_eq!(reply.header.xid, *xid, "reply {i} out of order");
            assert_eq!(reply.header.err, 0, "create {i} failed");
            assert!(
                reply.header.zxid > last_zxid,
                "reply {i}: zxid {:#x} after {last_zxid:#x}",
                reply.header.zxid
            );
            last_zxid = reply.header.zxid;
            let Some(Response::Create(created)) = reply.body else {
                panic!("reply {i}: {:?}", reply.body);
            };
            let seq = seq_of(&created.path);
            assert_eq!(seq, last_seq + 1, "reply {i}: {}", created.path);
            last_seq = seq;
        }
        // The follower's own tree had each write when it answered.
        assert!(c.last_zxid(f) >= last_zxid);
        let (zxid, _) = c.wait_converged().await;
        assert!(zxid >= last_zxid);
        for id in &c.ids {
            assert_eq!(c.children(*id, "/q").len(), N, "node {id}");
        }
        drop(raw);
        c.stop().await;
    })
    .await;
}

/// 3. The leader crashes while a follower's client has creates in flight:
///    every acknowledged create exists exactly once on every replica,
///    sequence numbers have no gaps or duplicates and follow request order,
///    and the client's session survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_crash_with_writes_in_flight_applies_each_write_once() {
    scenario(40, async {
        let mut c = Cluster::start(3).await;
        let leader = c.leader().await;
        let f = c.others(leader)[0];
        let zk = client(c.addr(f), Duration::from_secs(4)).await;
        let session = zk.session_id();
        zk.create("/c", b"", &open()).await.unwrap();

        const N: usize = 600;
        const WINDOW: usize = 40;
        let acked = Arc::new(AtomicUsize::new(0));
        let writer = {
            let zk = zk.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                let mut results = Vec::with_capacity(N);
                let mut inflight = FuturesOrdered::new();
                let seq = mode(zk::CreateMode::PersistentSequential);
                let mut issued = 0;
                while results.len() < N {
                    while issued < N && inflight.len() < WINDOW {
                        let data = issued.to_string();
                        inflight.push_back(zk.create("/c/n-", data.as_bytes(), &seq));
                        issued += 1;
                    }
                    let r = inflight.next().await.expect("a create in flight");
                    if r.is_ok() {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    results.push(r.map(|(stat, s)| (stat.czxid, s.into_i64())));
                }
                results
            })
        };
        eventually("100 creates acknowledged", Duration::from_secs(10), || {
            acked.load(Ordering::Relaxed) >= 100
        })
        .await;
        // Crash while an entry is on a survivor but not yet applied by the
        // leader: the follower has not heard that its batch made it, and
        // sends it again to the new leader, which has it already.
        let survivors = c.others(leader);
        let caught = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let applied = c.metrics(leader).applied_index;
                if survivors
                    .iter()
                    .any(|g| c.metrics(*g).last_log_index > applied)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .is_ok();
        let at_crash = acked.load(Ordering::Relaxed);
        c.crash(leader).await;
        eprintln!("crashed mid-replication: {caught}");
        let results = writer.await.expect("writer");
        let new_leader = c.leader().await;
        assert_ne!(new_leader, leader);

        let failed: Vec<(usize, &zk::Error)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
            .collect();
        let ok: Vec<(usize, i64, i64)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|(zxid, seq)| (i, *zxid, *seq)))
            .collect();
        eprintln!(
            "{} acknowledged when the leader crashed; {} of {N} acknowledged in all, {} failed",
            at_crash,
            ok.len(),
            failed.len()
        );
        // A write may fail only as ZooKeeper's may when the leader goes:
        // ConnectionLoss (the follower closes its connections if it samples
        // the election's leaderless moment); its outcome is then unknown.
        assert!(
            failed
                .iter()
                .all(|(_, e)| matches!(e, zk::Error::ConnectionLoss)),
            "writes failed: {failed:?}"
        );
        // Acknowledged in request order: zxids and sequence numbers increase.
        for w in ok.windows(2) {
            let ((i, z1, s1), (j, z2, s2)) = (w[0], w[1]);
            assert!(
                z2 > z1 && s2 > s1,
                "request {i} got ({z1:#x}, {s1}), {j} got ({z2:#x}, {s2})"
            );
        }
        // The session survived the leader change (reconnected if it lost
        // its connection).
        zk.create("/c/after", b"", &open()).await.unwrap();
        assert_eq!(zk.session_id(), session);
        assert_eq!(zk.state(), zk::SessionState::SyncConnected);

        // The old leader comes back as a follower and catches up.
        c.restart(leader).await;
        c.leader().await;
        c.wait_converged().await;
        for id in &c.ids {
            let children = c.children(*id, "/c");
            let mut by_request: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
            let mut seqs = Vec::new();
            for (name, data) in &children {
                if name == "after" {
                    continue;
                }
                seqs.push(seq_of(name));
                let i: usize = std::str::from_utf8(data).unwrap().parse().unwrap();
                by_request.entry(i).or_default().push(name);
            }
            let dups: Vec<_> = by_request.iter().filter(|(_, v)| v.len() > 1).collect();
            assert!(
                dups.is_empty(),
                "node {id}: requests applied twice: {dups:?}"
            );
            seqs.sort_unstable();
            let contiguous: Vec<i64> = (0..seqs.len() as i64).collect();
            assert_eq!(seqs, contiguous, "node {id}: gaps in the sequence");
            assert!(
                (ok.len()..=N).contains(&seqs.len()),
                "node {id}: {} nodes for {N} requests, {} acknowledged",
                seqs.len(),
                ok.len()
            );
            for (i, _, seq) in &ok {
                let names = &by_request[i];
                assert_eq!(seq_of(names[0]), *seq, "node {id}: request {i}");
            }
            assert!(
                c.shared(*id).node.lock().tree.session(session.0).is_some(),
                "node {id} lost the session"
            );
        }
        drop(zk);
        c.stop().await;
    })
    .await;
}

/// 4. A client that vanished is expired by the new leader after roughly its
///    timeout (not at once, not never), and its ephemeral goes everywhere;
///    sessions that keep pinging followers through the leader change live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_leader_expires_silent_sessions_only() {
    scenario(40, async {
        let mut c = Cluster::start(3).await;
        let leader = c.leader().await;
        let followers = c.others(leader);
        let a = followers[0];
        const TIMEOUT: Duration = Duration::from_millis(2000);

        // A pinging session with an ephemeral on each follower: whichever
        // stays a follower after the change must keep telling the new leader.
        let mut alive = Vec::new();
        for id in &followers {
            let zk = client(c.addr(*id), TIMEOUT).await;
            let path = format!("/alive-{id}");
            zk.create(&path, b"", &mode(zk::CreateMode::Ephemeral))
                .await
                .unwrap();
            alive.push((*id, path, zk));
        }

        // A session on a that will go silent, with an ephemeral.
        let (raw, rsp, _) = Raw::handshake(
            c.addr(a),
            Connect {
                timeout: TIMEOUT.as_millis() as i32,
                ..Connect::default()
            },
        )
        .await;
        let mut raw = raw.expect("session");
        assert_eq!(rsp.unwrap().timeout, TIMEOUT.as_millis() as i32);
        let silent = raw.session;
        let r = raw
            .call(create("/silent", b"", CreateMode::Ephemeral))
            .await;
        assert_eq!(r.header.err, 0);
        c.wait_converged().await;

        // The client disappears without closing its session; then the leader crashes.
        drop(raw);
        let gone_at = Instant::now();
        c.crash(leader).await;
        let new_leader = c.leader().await;
        let elected = gone_at.elapsed();
        eprintln!("new leader {new_leader} after {elected:?}");

        // Not at once: the new leader gives every session a full timeout.
        // Not never: about a timeout after it took over.
        let latest = elected + TIMEOUT + Duration::from_secs(1);
        let mut expired_after = None;
        while gone_at.elapsed() <= latest {
            if c.live().iter().all(|id| !c.has(*id, "/silent")) {
                expired_after = Some(gone_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let expired_after =
            expired_after.unwrap_or_else(|| panic!("the silent session lived past {latest:?}"));
        eprintln!("silent session expired {expired_after:?} after its client went");
        // A full timeout from when the new leader took over (seen here a
        // heartbeat or a poll later, hence the slack).
        let earliest = elected + TIMEOUT - Duration::from_millis(150);
        assert!(
            expired_after >= earliest,
            "expired {expired_after:?} after the client went, the new leader took over \
             about {elected:?} after: not a full timeout ({TIMEOUT:?}) later"
        );
        for id in c.live() {
            assert!(
                c.shared(id).node.lock().tree.session(silent).is_none(),
                "node {id}"
            );
        }

        // The pinging sessions outlive another full timeout, the one on the
        // remaining follower included.
        tokio::time::sleep(TIMEOUT).await;
        for (on, path, zk) in &alive {
            for id in c.live() {
                assert!(
                    c.has(id, path),
                    "node {id} lost {path}, the ephemeral of a session pinging node {on} \
                     (the leader is {new_leader})"
                );
            }
            zk.set_data(path, b"still here", None).await.unwrap();
            assert_eq!(zk.state(), zk::SessionState::SyncConnected);
        }

        c.restart(leader).await;
        c.leader().await;
        c.wait_converged().await;
        for id in &c.ids {
            assert!(!c.has(*id, "/silent"), "node {id}");
            for (_, path, _) in &alive {
                assert!(c.has(*id, path), "node {id}: {path}");
            }
        }
        drop(alive);
        c.stop().await;
    })
    .await;
}

/// 5. A follower that missed more than the leader keeps in its log catches
///    up through a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_catches_up_by_snapshot() {
    scenario(40, async {
        let mut c = Cluster::start_with(3, Some(50)).await;
        let leader = c.leader().await;
        let f = c.others(leader)[0];
        let behind = c.metrics(f).last_log_index;
        fall_behind(&mut c, f, leader, 320).await;
        // The leader purges once its snapshot is taken and no replication
        // still reads the entries.
        eventually(
            "the leader purges the entries the follower needs",
            Duration::from_secs(5),
            || c.metrics(leader).purged_index > behind,
        )
        .await;
        let lm = c.metrics(leader);
        eprintln!(
            "follower log ended at {behind:?}; leader: last {:?}, snapshot {:?}, purged {:?}",
            lm.last_log_index, lm.snapshot_index, lm.purged_index
        );
        c.restart(f).await;
        c.leader().await;
        c.wait_converged().await;
        let fm = c.metrics(f);
        assert!(
            fm.snapshot_index >= lm.purged_index,
            "follower snapshot {:?}, leader purged {:?}",
            fm.snapshot_index,
            lm.purged_index
        );
        assert_eq!(c.children(f, "/backlog").len(), 320);
        c.stop().await;
    })
    .await;
}

/// 6. An isolated leader: the majority elects another and takes writes; the
///    old leader stops serving within syncLimit × tickTime and closes its
///    client connections; a write left on it is refused (SessionMoved) once
///    its session moved on; after healing all converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolated_leader_stops_serving_and_rejoins() {
    scenario(40, async {
        let c = Cluster::start(3).await;
        let old = c.leader().await;
        let majority = c.others(old);

        let mut raw = Raw::connect(c.addr(old)).await;
        let (session, passwd) = (raw.session, raw.passwd.clone());
        assert_eq!(
            raw.call(create("/x", b"before", CreateMode::Persistent))
                .await
                .header
                .err,
            0
        );
        c.wait_converged().await;

        // syncLimit × tickTime: how long a node may go without the quorum.
        let sync_limit = c.shared(old).config.peer_timeout();
        let cut_at = Instant::now();
        c.isolate(old);
        // A write that cannot commit while the old leader is cut off.
        raw.send(set_data("/x", b"stale")).await;

        let stopped = eventually("the isolated leader stops serving", sync_limit * 3, || {
            !c.shared(old).serving()
        })
        .await;
        eprintln!("isolated leader stopped serving after {stopped:?}");
        // syncLimit, plus heartbeats' and the check's granularity.
        assert!(
            stopped <= sync_limit + Duration::from_millis(300),
            "took {stopped:?}"
        );
        assert_eq!(four_letter::server_state(c.shared(old)), "looking");
        assert!(raw.closed().await, "client connection still open");
        let closed = cut_at.elapsed();
        assert!(
            closed <= sync_limit + Duration::from_millis(600),
            "connection closed {closed:?} after the cut"
        );
        // New clients are turned away too.
        assert!(
            resume(c.addr(old), session, &passwd).await.is_err(),
            "the isolated node took a session"
        );
        // Read-only clients as well: read-only mode is off.
        let (ro, _, _) = Raw::handshake(c.addr(old), read_only_connect(0, None, 0)).await;
        assert!(ro.is_none(), "read-only session without read-only mode");
        assert_eq!(four_letter::answer(c.shared(old), "isro", None), "null");

        let new = c.leader_of(&majority).await;
        assert_ne!(new, old);
        let zk = client(c.addr(majority[0]), Duration::from_secs(4)).await;
        zk.create("/during", b"", &open()).await.unwrap();
        // The session moves to the majority and writes there.
        let mut moved = resume(c.addr(majority[1]), session, &passwd)
            .await
            .expect("session resumed on the majority");
        assert_eq!(moved.call(set_data("/x", b"fresh")).await.header.err, 0);

        c.heal();
        c.leader().await;
        c.wait_converged().await;
        for id in &c.ids {
            assert!(c.has(*id, "/during"), "node {id}");
            let data = c
                .shared(*id)
                .node
                .lock()
                .tree
                .node("/x")
                .unwrap()
                .data()
                .map(<[u8]>::to_vec);
            assert_eq!(
                data.as_deref(),
                Some(&b"fresh"[..]),
                "node {id}: the write left on the isolated leader overwrote a later one"
            );
        }
        drop((zk, moved));
        c.stop().await;
    })
    .await;
}

/// 7. A session resumed on another node: the connection it left gets
///    SessionMoved for writes (and reads); the new one works.
fn read_only_connect(session: i64, passwd: Option<&Bytes>, last_zxid: i64) -> Connect {
    Connect {
        session,
        passwd: passwd.cloned().or(Some(Bytes::from_static(&[0; 16]))),
        last_zxid,
        read_only: Some(true),
        ..Connect::default()
    }
}

fn get_data(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

/// readonlymode.enabled: a member cut off from the quorum serves clients
/// that asked for read-only (ConnectResponse readOnly), from the tree it
/// has, and refuses their writes and sync with NotReadOnly; other clients
/// are turned away. Back in touch, its read-only connections close and
/// clients get read-write sessions again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_off_member_serves_read_only_clients() {
    scenario(40, async {
        let mut c = Cluster::unstarted(3, None);
        c.read_only_mode = true;
        for id in c.ids.clone() {
            c.boot(id).await;
        }
        let leader = c.leader().await;
        let cut = c.others(leader)[0];
        let majority = c.others(cut);

        // A session of the cluster, created on the majority before the cut.
        let mut real = Raw::connect(c.addr(majority[0])).await;
        assert_eq!(
            real.call(create("/x", b"before", CreateMode::Persistent))
                .await
                .header
                .err,
            0
        );
        c.wait_converged().await;
        assert_eq!(four_letter::answer(c.shared(cut), "isro", None), "rw");
        // A read-only client of a node in touch gets an ordinary session.
        let (rw, rsp, _) = Raw::handshake(c.addr(cut), read_only_connect(0, None, 0)).await;
        assert_eq!(rsp.and_then(|r| r.read_only), Some(false));
        let mut rw = rw.expect("session");

        c.isolate(cut);
        let sync_limit = c.shared(cut).config.peer_timeout();
        eventually("the cut-off member turns read-only", sync_limit * 3, || {
            c.shared(cut).read_only()
        })
        .await;
        assert!(rw.closed().await, "a read-write connection stayed open");
        assert_eq!(four_letter::server_state(c.shared(cut)), "read-only");
        assert_eq!(four_letter::answer(c.shared(cut), "isro", None), "ro");

        // Clients that did not ask for read-only are turned away.
        let (plain, _, _) = Raw::handshake(c.addr(cut), Connect::default()).await;
        assert!(plain.is_none(), "read-write session on a cut-off member");

        // A new read-only session reads the tree as the member last had it.
        let (ro, rsp, _) = Raw::handshake(c.addr(cut), read_only_connect(0, None, 0)).await;
        let rsp = rsp.expect("connect response");
        assert_eq!(rsp.read_only, Some(true));
        let mut ro = ro.expect("read-only session");
        assert_ne!(ro.session, 0);
        assert!(c.shared(cut).node.lock().tree.session(ro.session).is_none());
        let got = ro.call(get_data("/x")).await;
        assert_eq!(got.header.err, 0);
        match got.body {
            Some(Response::GetData(d)) => assert_eq!(d.data.as_deref(), Some(&b"before"[..])),
            other => panic!("getData answered {other:?}"),
        }
        let not_ro = ErrorCode::NotReadOnly.code();
        assert_eq!(
            ro.call(create("/y", b"", CreateMode::Persistent))
                .await
                .header
                .err,
            not_ro
        );
        assert_eq!(ro.call(set_data("/x", b"w")).await.header.err, not_ro);
        let sync = Request::Sync(jute::SyncRequest { path: "/x".into() });
        assert_eq!(ro.call(sync).await.header.err, not_ro);
        assert_eq!(
            ro.call(get_data("/nope")).await.header.err,
            ErrorCode::NoNode.code()
        );

        // The cluster's session resumes here read-only, and reads.
        let (moved, rsp, _) = Raw::handshake(
            c.addr(cut),
            read_only_connect(real.session, Some(&real.passwd), 0),
        )
        .await;
        assert_eq!(rsp.and_then(|r| r.read_only), Some(true));
        let mut moved = moved.expect("resumed read-only");
        assert_eq!(moved.session, real.session);
        assert_eq!(moved.call(get_data("/x")).await.header.err, 0);
        // Closing a session of the cluster is a write.
        let close = Request::CloseSession(jute::Empty {});
        assert_eq!(moved.call(close.clone()).await.header.err, not_ro);
        // A wrong password is an expired session.
        let wrong = Bytes::from_static(&[7; 16]);
        let (none, rsp, _) = Raw::handshake(
            c.addr(cut),
            read_only_connect(real.session, Some(&wrong), 0),
        )
        .await;
        assert!(none.is_none());
        assert_eq!(rsp.map(|r| r.timeout), Some(0));

        // The majority moves on; a client that saw it is refused here.
        let mut writer = Raw::connect(c.addr(majority[1])).await;
        let after = writer.call(set_data("/x", b"after")).await.header;
        assert_eq!(after.err, 0);
        let (ahead, _, _) =
            Raw::handshake(c.addr(cut), read_only_connect(0, None, after.zxid)).await;
        assert!(ahead.is_none(), "a client ahead of the replica was served");

        // A local session closes like any other.
        let mut brief = Raw::handshake(c.addr(cut), read_only_connect(0, None, 0))
            .await
            .0
            .expect("read-only session");
        assert_eq!(brief.call(close).await.header.err, 0);
        assert!(brief.closed().await);

        c.heal();
        eventually(
            "the member serves read-write again",
            Duration::from_secs(10),
            || c.shared(cut).serving(),
        )
        .await;
        assert!(
            ro.closed().await,
            "a read-only connection outlived read-only mode"
        );
        assert!(
            moved.closed().await,
            "a read-only connection outlived read-only mode"
        );
        assert_eq!(four_letter::answer(c.shared(cut), "isro", None), "rw");
        // The read-only session was this node's alone.
        let (gone, rsp, _) = Raw::handshake(
            c.addr(cut),
            read_only_connect(ro.session, Some(&ro.passwd), 0),
        )
        .await;
        assert!(gone.is_none());
        assert_eq!(
            rsp.map(|r| r.timeout),
            Some(0),
            "a read-only session outlived its mode"
        );
        let (back, rsp, _) =
            Raw::handshake(c.addr(cut), read_only_connect(0, None, after.zxid)).await;
        assert_eq!(rsp.and_then(|r| r.read_only), Some(false));
        drop(back);
        c.wait_converged().await;
        drop((real, writer));
        c.stop().await;
    })
    .await;
}

/// An observer (`:observer`) gets the log and serves clients like any
/// member, but has no vote: two voters and an observer lose their quorum
/// with one voter down (with three votes they would not). A write through
/// the observer then waits, and is applied once when the voter is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn observer_serves_clients_without_voting() {
    scenario(50, async {
        let mut c = Cluster::unstarted(3, None);
        c.observers = vec![3];
        for id in c.ids.clone() {
            c.boot(id).await;
        }
        let leader = c.leader().await;
        assert_ne!(leader, 3);
        eventually(
            "the leader replicates to the observer",
            Duration::from_secs(10),
            || {
                let m = c.metrics(leader);
                m.followers == 1 && m.observers == 1 && m.synced_observers == 1
            },
        )
        .await;
        assert_eq!(four_letter::server_state(c.shared(3)), "observer");
        assert_eq!(four_letter::server_state(c.shared(leader)), "leader");
        // conf ends as a ZooKeeper quorum server's: role, then the members.
        let conf = four_letter::answer(c.shared(3), "conf", None);
        assert!(conf.contains("\npeerType=1\nmembership: \n"), "{conf}");
        assert!(
            conf.contains(
                "server.1=127.0.0.1:1:1:participant\nserver.2=127.0.0.1:2:2:participant\n\
                 server.3=127.0.0.1:3:3:observer\nversion="
            ),
            "{conf}"
        );
        let mntr = four_letter::answer(c.shared(leader), "mntr", None);
        for key in [
            "zk_synced_observers\t1",
            "zk_corral_peer_lag_3\t",
            "zk_corral_peer_rtt_us_3\t",
            "zk_corral_leader_changes\t",
        ] {
            assert!(mntr.contains(key), "{key} not in {mntr}");
        }

        // Writes through the observer are forwarded and answered in order;
        // reads and sync are served there.
        let mut raw = Raw::connect(c.addr(3)).await;
        assert_eq!(
            raw.call(create("/o", b"1", CreateMode::Persistent))
                .await
                .header
                .err,
            0
        );
        assert_eq!(raw.call(set_data("/o", b"2")).await.header.err, 0);
        let sync = Request::Sync(jute::SyncRequest { path: "/o".into() });
        assert_eq!(raw.call(sync).await.header.err, 0);
        match raw.call(get_data("/o")).await.body {
            Some(Response::GetData(d)) => assert_eq!(d.data.as_deref(), Some(&b"2"[..])),
            other => panic!("getData answered {other:?}"),
        }
        c.wait_converged().await;

        // The other voter down: the leader and the observer are no quorum.
        let voter = if leader == 1 { 2 } else { 1 };
        c.crash(voter).await;
        raw.send(set_data("/o", b"3")).await;
        let peer_timeout = c.shared(3).config.peer_timeout();
        eventually(
            "the observer stops serving",
            peer_timeout * 4 + Duration::from_secs(2),
            || !c.shared(3).serving() && !c.shared(leader).serving(),
        )
        .await;
        assert!(
            raw.closed().await,
            "a client of a quorum-less observer stayed connected"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        for id in [leader, 3] {
            assert!(
                !c.shared(id).serving(),
                "node {id} serves with one vote of two"
            );
            let data = c
                .shared(id)
                .node
                .lock()
                .tree
                .node("/o")
                .and_then(|n| n.data().map(<[u8]>::to_vec));
            assert_eq!(
                data.as_deref(),
                Some(&b"2"[..]),
                "node {id} applied a write with no quorum"
            );
        }
        assert!(!c.metrics(3).is_leader, "the observer leads");

        // The voter comes back: a leader again, and the observer serves.
        c.restart(voter).await;
        let new = c.leader().await;
        assert_ne!(new, 3);
        let zk = client(c.addr(3), Duration::from_secs(4)).await;
        zk.create("/after", b"", &open()).await.unwrap();
        c.wait_converged().await;
        // The write left when the quorum went applied at most once: never
        // answered, it may or may not have made it.
        let version = c.shared(3).node.lock().tree.node("/o").map(|n| n.version());
        assert!(
            matches!(version, Some(1 | 2)),
            "setData applied {version:?} times"
        );
        drop(zk);
        c.stop().await;
    })
    .await;
}

fn reconfig(joining: Option<&str>, leaving: Option<&str>, from: i64) -> Request {
    Request::Reconfig(jute::ReconfigRequest {
        joining_servers: joining.map(Into::into),
        leaving_servers: leaving.map(Into::into),
        new_members: None,
        cur_config_id: from,
    })
}

/// A raw session authenticated as the super user.
async fn super_user(addr: SocketAddr) -> Raw {
    let mut raw = Raw::connect(addr).await;
    let auth = Request::Auth(jute::AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(Bytes::from_static(b"super:test")),
    });
    assert_eq!(raw.call(auth).await.header.err, 0);
    raw
}

fn config_text(reply: &jute::Reply) -> String {
    match &reply.body {
        Some(Response::Reconfig(d)) => {
            String::from_utf8_lossy(d.data.as_deref().unwrap_or_default()).into()
        }
        other => panic!("reconfig answered {:?} {other:?}", reply.header),
    }
}

/// reconfig (reconfigEnabled): a fourth node joins as a participant (it
/// catches up before it votes), the leader is removed, and the rest go on;
/// /zookeeper/config shows each membership with its version. Refused: no
/// super user, a stale version, nonsense, and a change that would leave the
/// voters without a quorum in reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconfig_adds_and_removes_members() {
    scenario(90, async {
        let mut c = Cluster::unstarted(4, None);
        c.reconfig = true;
        for id in 1..=3 {
            c.listed.insert(id, vec![1, 2, 3]);
        }
        for id in 1..=3 {
            c.boot(id).await;
        }
        let leader = c.leader_of(&[1, 2, 3]).await;
        // The leader writes the first config, as ZooKeeper shows one.
        eventually("the first /zookeeper/config", Duration::from_secs(10), || {
            c.shared(leader).node.lock().tree.config_version().is_some()
        })
        .await;
        let first = c.shared(leader).node.lock().tree.node(corral::tree::CONFIG).and_then(|n| n.data().map(<[u8]>::to_vec));
        let first = String::from_utf8_lossy(first.as_deref().unwrap_or_default()).to_string();
        assert!(first.starts_with("server.1=127.0.0.1:1:1:participant\nserver.2=127.0.0.1:2:2:participant\nserver.3=127.0.0.1:3:3:participant\nversion="), "{first}");
        let mut admin = super_user(c.addr(leader)).await;
        assert_eq!(
            admin
                .call(create("/before", b"", CreateMode::Persistent))
                .await
                .header
                .err,
            0
        );

        // Not the super user: NoAuth; nonsense: BadArguments; a version
        // that is not the current one: BadVersion. ZooKeeper checks the
        // version and the arguments before the ACL.
        let mut plain = Raw::connect(c.addr(leader)).await;
        let join = "server.4=127.0.0.1:4:4:participant";
        let err = |r: jute::Reply| r.header.err;
        assert_eq!(
            err(plain.call(reconfig(Some(join), None, -1)).await),
            ErrorCode::NoAuth.code()
        );
        assert_eq!(
            err(admin.call(reconfig(Some("some thing"), None, -1)).await),
            ErrorCode::BadArguments.code()
        );
        assert_eq!(
            err(plain.call(reconfig(Some("some thing"), None, -1)).await),
            ErrorCode::BadArguments.code()
        );
        assert_eq!(
            err(plain.call(reconfig(Some(join), None, 12345)).await),
            ErrorCode::BadVersion.code()
        );
        assert_eq!(
            err(admin.call(reconfig(Some(join), None, 12345)).await),
            ErrorCode::BadVersion.code()
        );

        // Node 4 starts knowing the others; it joins when reconfig adds it.
        c.boot(4).await;
        let reply = admin.call(reconfig(Some(join), None, -1)).await;
        let text = config_text(&reply);
        assert!(
            text.contains("server.4=127.0.0.1:4:4:participant\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("version={:x}", reply.header.zxid)),
            "{text}"
        );
        let version = reply.header.zxid;
        assert_eq!(
            c.shared(1).consensus.membership().voters,
            [1, 2, 3, 4].into()
        );
        c.leader().await;
        c.wait_converged().await;
        assert!(c.has(4, "/before"), "the new member did not catch up");
        // Everyone reads the same config.
        let got = plain.call(get_data(corral::tree::CONFIG)).await;
        match got.body {
            Some(Response::GetData(d)) => {
                assert_eq!(
                    String::from_utf8_lossy(d.data.as_deref().unwrap_or_default()),
                    text
                );
                assert_eq!(d.stat.version, -1);
                assert_eq!(d.stat.mzxid, version);
            }
            other => panic!("getData answered {other:?}"),
        }

        // The leader leaves, asked through another member, from the version
        // just read.
        let other = c.others(leader)[0];
        // Its successor is elected once its lease is over, which here is
        // longer than a member may go without a leader (syncLimit), so the
        // asking client may see its connection lost instead of the answer;
        // the change is made either way.
        let mut admin2 = super_user(c.addr(other)).await;
        let xid = admin2
            .send(reconfig(None, Some(&leader.to_string()), version))
            .await;
        if let Some(reply) = admin2.next(OpCode::Reconfig).await {
            assert_eq!(reply.header.xid, xid);
            let text = config_text(&reply);
            assert!(!text.contains(&format!("server.{leader}=")), "{text}");
        }
        drop((admin, plain, admin2));
        let rest: Vec<u64> = c.others(leader);
        let new = c.leader_of(&rest).await;
        assert_ne!(new, leader);
        eventually(
            "the config without the old leader",
            Duration::from_secs(10),
            || {
                c.shared(new)
                    .node
                    .lock()
                    .tree
                    .config_version()
                    .is_some_and(|v| v > version)
            },
        )
        .await;
        c.stop_node(leader).await;
        let mut zk = Raw::connect(c.addr(new)).await;
        assert_eq!(
            zk.call(create("/after", b"", CreateMode::Persistent))
                .await
                .header
                .err,
            0
        );
        c.wait_converged().await;
        for id in &rest {
            assert!(
                !c.shared(*id)
                    .consensus
                    .membership()
                    .nodes
                    .contains_key(&leader)
            );
        }

        // Two of three voters down would be no quorum: refused, and nothing
        // changes.
        let down = rest
            .iter()
            .copied()
            .find(|id| *id != new && *id != other)
            .unwrap_or(other);
        c.crash(down).await;
        let keep = rest
            .iter()
            .copied()
            .find(|id| *id != down && *id != new)
            .unwrap_or(new);
        let voters_before = c.shared(new).consensus.membership().voters;
        let mut admin3 = super_user(c.addr(new)).await;
        let leaving = new.to_string();
        let reply = admin3.call(reconfig(None, Some(&leaving), -1)).await;
        assert_eq!(
            reply.header.err,
            ErrorCode::NewConfigNoQuorum.code(),
            "leaving {new} with {down} down (keep {keep})"
        );
        assert_eq!(c.shared(new).consensus.membership().voters, voters_before);
        drop((admin3, zk));
        c.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_moves_between_nodes() {
    scenario(30, async {
        let c = Cluster::start(3).await;
        let leader = c.leader().await;
        let f = c.others(leader)[0];
        for (i, (from, to)) in [(f, leader), (leader, f)].into_iter().enumerate() {
            let mut first = Raw::connect(c.addr(from)).await;
            let path = format!("/m{i}");
            assert_eq!(
                first
                    .call(create(&path, b"one", CreateMode::Persistent))
                    .await
                    .header
                    .err,
                0
            );
            let mut second = resume(c.addr(to), first.session, &first.passwd)
                .await
                .unwrap_or_else(|e| panic!("resume on {to}: {e:?}"));

            let w = first
                .call(set_data(&path, b"from the old connection"))
                .await;
            assert_eq!(
                w.header.err,
                ErrorCode::SessionMoved.code(),
                "write on node {from} after the session moved to {to}"
            );
            let r = first
                .call(Request::GetData(GetDataRequest {
                    path: path.clone(),
                    watch: false,
                }))
                .await;
            assert_eq!(
                r.header.err,
                ErrorCode::SessionMoved.code(),
                "read on {from}"
            );
            assert_eq!(second.call(set_data(&path, b"two")).await.header.err, 0);
            c.wait_converged().await;
            for id in &c.ids {
                let data = c
                    .shared(*id)
                    .node
                    .lock()
                    .tree
                    .node(&path)
                    .unwrap()
                    .data()
                    .map(<[u8]>::to_vec);
                assert_eq!(data.as_deref(), Some(&b"two"[..]), "node {id}");
            }
        }
        c.stop().await;
    })
    .await;
}

/// 8. A session created through one node and resumed at once on a node
///    that has not applied it yet is resumed, never called expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_resumes_on_a_lagging_follower() {
    scenario(40, async {
        let mut c = Cluster::start(3).await;
        let leader = c.leader().await;
        let others = c.others(leader);
        let mut lagged = 0;
        // At once after the grant: the other node may not have applied it yet.
        for (i, (a, b)) in [
            (leader, others[0]),
            (others[0], others[1]),
            (others[1], leader),
        ]
        .into_iter()
        .cycle()
        .take(30)
        .enumerate()
        {
            let first = Raw::connect(c.addr(a)).await;
            if c.shared(b)
                .node
                .lock()
                .tree
                .session(first.session)
                .is_none()
            {
                lagged += 1;
            }
            resume(c.addr(b), first.session, &first.passwd)
                .await
                .unwrap_or_else(|e| panic!("round {i}: resume on node {b}: {e:?}"));
        }
        // A follower far behind: restarted after missing 300 writes.
        let f = others[1];
        fall_behind(&mut c, f, leader, 300).await;
        c.restart(f).await;
        eventually(
            "the restarted follower serves",
            Duration::from_secs(10),
            || c.shared(f).serving(),
        )
        .await;
        let first = Raw::connect(c.addr(leader)).await;
        let (fz, lz) = (c.last_zxid(f), c.last_zxid(leader));
        eprintln!("restarted follower at {fz:#x}, leader at {lz:#x}");
        if c.shared(f)
            .node
            .lock()
            .tree
            .session(first.session)
            .is_none()
        {
            lagged += 1;
        }
        resume(c.addr(f), first.session, &first.passwd)
            .await
            .unwrap_or_else(|e| panic!("resume on the restarted follower: {e:?}"));
        eprintln!("{lagged} of 31 resumes reached a node that had not applied the session");
        assert!(
            lagged > 0,
            "no resume met a lagging node: the scenario tested nothing"
        );
        c.wait_converged().await;
        c.stop().await;
    })
    .await;
}

/// 9. Zxids keep increasing across leader changes, and a client that has
///    seen a newer zxid than a node's is refused there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zxids_increase_across_leader_changes() {
    scenario(40, async {
        let mut c = Cluster::start(3).await;
        let mut seen = Vec::new();
        for round in 0..3 {
            let leader = c.leader().await;
            let via = c.others(leader)[0];
            let zk = client(c.addr(via), Duration::from_secs(4)).await;
            let (stat, _) = zk
                .create(&format!("/z{round}"), b"", &open())
                .await
                .unwrap();
            seen.push((leader, c.metrics(leader).term, stat.czxid));
            drop(zk);
            c.crash(leader).await;
            c.leader().await;
            c.restart(leader).await;
        }
        eprintln!("(leader, term, czxid) by round: {seen:?}");
        for w in seen.windows(2) {
            assert!(w[1].1 > w[0].1 && w[1].2 > w[0].2, "{seen:?}");
        }

        // A client ahead of a node: that node sends it away without a session.
        let leader = c.leader().await;
        let (zxid, _) = c.wait_converged().await;
        let f = c.others(leader)[0];
        let (raw, rsp, _) = Raw::handshake(
            c.addr(f),
            Connect {
                last_zxid: zxid + 1,
                ..Connect::default()
            },
        )
        .await;
        assert!(
            raw.is_none() && rsp.is_none(),
            "node {f} at {zxid:#x} took a client at {:#x}",
            zxid + 1
        );
        assert!(c.shared(f).serving(), "refused for another reason");
        let (raw, _, _) = Raw::handshake(
            c.addr(f),
            Connect {
                last_zxid: zxid,
                ..Connect::default()
            },
        )
        .await;
        assert!(raw.is_some(), "a client at the node's own zxid is refused");

        // The same for a real lag: a follower restarted 300 writes behind
        // refuses a client that saw the latest write, or takes it only once
        // it has caught up.
        fall_behind(&mut c, f, leader, 300).await;
        c.restart(f).await;
        let latest = c.last_zxid(leader);
        eventually(
            "the restarted follower serves",
            Duration::from_secs(10),
            || c.shared(f).serving(),
        )
        .await;
        let behind_before = c.last_zxid(f) < latest;
        let (raw, _, _) = Raw::handshake(
            c.addr(f),
            Connect {
                last_zxid: latest,
                ..Connect::default()
            },
        )
        .await;
        match raw {
            None => eprintln!("lagging follower refused the client (behind: {behind_before})"),
            Some(_) => assert!(
                c.last_zxid(f) >= latest,
                "a follower behind the client's zxid took it"
            ),
        }
        c.wait_converged().await;
        c.stop().await;
    })
    .await;
}

/// 10. A member whose data directory was wiped comes back empty. It must not
///     vote until it holds a leader's log: its vote once helped commit writes
///     that the only other live member lacks, and lending that vote again
///     would elect a leader without them. So the cluster waits (no leader)
///     until a member holding the writes is back, then the wiped member
///     catches up and votes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wiped_member_does_not_vote_until_caught_up() {
    scenario(40, async {
        let mut c = Cluster::start(3).await;
        let leader = c.leader().await;
        let others = c.others(leader);
        let (behind, wiped) = (others[0], others[1]);
        // `behind` stops hearing from the leader: writes commit on leader + `wiped`.
        c.net.cut(leader, behind);
        let zk = client(c.addr(leader), Duration::from_secs(4)).await;
        for i in 0..20 {
            zk.create(&format!("/acked-{i}"), b"x", &open())
                .await
                .expect("acknowledged by leader and the member to be wiped");
        }
        assert!(!c.has(behind, "/acked-0"), "the cut member must lag");
        drop(zk);
        // The member that helped commit them loses its data; then the leader goes.
        c.stop_node(wiped).await;
        std::fs::remove_dir_all(&c.members[&wiped].dir).expect("wipe");
        c.stop_node(leader).await;
        c.heal();
        c.restart(wiped).await;
        // Only `behind` and the empty member are up. Neither may lead.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            for id in [behind, wiped] {
                assert!(
                    !c.metrics(id).is_leader,
                    "node {id} leads without the acknowledged writes"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            c.shared(wiped).consensus.catching_up(),
            Some(None),
            "the wiped member waits for a leader's log"
        );
        // The member with the writes returns: it leads, and the wiped one catches up.
        c.restart(leader).await;
        let l = c.leader().await;
        assert_eq!(l, leader, "only the member holding every write can win");
        eventually(
            "the wiped member votes again",
            Duration::from_secs(10),
            || c.shared(wiped).consensus.catching_up().is_none(),
        )
        .await;
        c.wait_converged().await;
        for id in c.ids.clone() {
            assert!(
                c.has(id, "/acked-19"),
                "node {id} lost an acknowledged write"
            );
        }
        c.stop().await;
    })
    .await;
}

/// 11. Fresh members form one cluster whichever starts first: a lone member
///     waits (a majority is needed to form), the second forms it with the
///     first, and the last, starting into a cluster that already has a log,
///     joins it rather than forming another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fresh_members_form_one_cluster_in_any_order() {
    scenario(40, async {
        let mut c = Cluster::unstarted(3, None);
        c.boot(3).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let m = c.metrics(3);
        assert_eq!(m.leader, None, "a lone member must not form a cluster");
        assert!(!c.shared(3).serving(), "nor serve clients");
        c.boot(1).await;
        let first = c.leader_of(&[1, 3]).await;
        let zk = client(c.addr(first), Duration::from_secs(4)).await;
        zk.create("/before-2", b"", &open()).await.expect("write");
        c.boot(2).await;
        let leader = c.leader().await;
        assert_eq!(
            leader, first,
            "the late member joins, it does not elect anew"
        );
        zk.create("/after-2", b"", &open()).await.expect("write");
        c.wait_converged().await;
        for id in [1, 2, 3] {
            assert!(c.has(id, "/before-2") && c.has(id, "/after-2"), "node {id}");
            assert_eq!(c.metrics(id).voters, 3);
        }
        drop(zk);
        c.stop().await;
    })
    .await;
}

/// 12. Five members: two may fail and writes go on; both come back and catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_members_survive_two_failures() {
    scenario(40, async {
        let mut c = Cluster::start(5).await;
        let leader = c.leader().await;
        let follower = c.others(leader)[0];
        c.crash(leader).await;
        c.crash(follower).await;
        let new_leader = c.leader().await;
        assert!(new_leader != leader && new_leader != follower);
        let zk = client(c.addr(new_leader), Duration::from_secs(4)).await;
        for i in 0..50 {
            zk.create(&format!("/five-{i}"), b"x", &open())
                .await
                .expect("three of five commit");
        }
        drop(zk);
        c.restart(leader).await;
        c.restart(follower).await;
        c.leader().await;
        c.wait_converged().await;
        for id in c.ids.clone() {
            assert!(c.has(id, "/five-49"), "node {id}");
            assert_eq!(c.metrics(id).voters, 5);
        }
        c.stop().await;
    })
    .await;
}

/// `corral cluster transfer-leader`: leadership moves to the voter asked
/// for, asked through a follower (forwarded to the leader) and through the
/// leader itself, while clients on every node keep writing. No write fails
/// or is lost and no session is replaced: the hand-over only pauses writes.
/// A target that is not a voter, or is down, is refused and the leader stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_leader_moves_leadership_without_losing_writes() {
    use corral::consensus::TransferError;
    scenario(60, async {
        let mut c = Cluster::start(3).await;
        let first = c.leader().await;
        let zk = client(c.addr(first), Duration::from_secs(4)).await;
        zk.create("/t", b"", &open()).await.unwrap();
        drop(zk);

        // A writer on each node: sequential creates, each acknowledged one recorded.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        // Writes pause for about a lease during each hand-over (350 ms
        // here), and a client's pings wait behind its pending write, as in
        // ZooKeeper. This client gives up on a connection that is silent
        // for 2/5 of its session timeout: 10 s leaves it 4 s, so only a
        // write error, not a slow machine, fails the test.
        for id in c.ids.clone() {
            let zk = client(c.addr(id), Duration::from_secs(10)).await;
            let session = zk.session_id();
            zk.create(&format!("/t/e{id}"), b"", &mode(zk::CreateMode::Ephemeral))
                .await
                .unwrap();
            let stop = stop.clone();
            writers.push(tokio::spawn(async move {
                let (mut acked, mut failed) = (Vec::new(), Vec::new());
                for i in 0..5_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let path = format!("/t/w{id}-{i:05}");
                    let asked = Instant::now();
                    match zk.create(&path, b"x", &open()).await {
                        Ok(_) => acked.push(path),
                        Err(e) => failed.push(format!("{path}: {e} after {:?}", asked.elapsed())),
                    }
                }
                (zk, session, acked, failed)
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Asked through a follower, which forwards to the leader.
        let target = c.others(first)[0];
        let via = c.others(first)[1];
        let r = c.shared(via).consensus.transfer_leader(target).await;
        assert_eq!(r, Ok(()), "transfer to {target} asked on {via}");
        for id in c.ids.clone() {
            eventually(
                &format!("node {id} follows {target}"),
                Duration::from_secs(5),
                || c.metrics(id).leader == Some(target),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Asked on the leader itself: back to the first.
        let r = c.shared(target).consensus.transfer_leader(first).await;
        assert_eq!(r, Ok(()), "transfer back to {first}");
        assert_eq!(c.leader().await, first);

        // Not a member; a member that is down: refused, and the leader stays.
        let r = c.shared(first).consensus.transfer_leader(9).await;
        assert_eq!(r, Err(TransferError::NotVoter(9)));
        let down = c.others(first)[0];
        c.crash(down).await;
        let r = c.shared(first).consensus.transfer_leader(down).await;
        // Whether the leader noticed before or only when it asked it to campaign.
        assert!(
            matches!(r, Err(TransferError::Behind(d) | TransferError::Unreachable(d)) if d == down),
            "transfer to a member that is down: {r:?}"
        );
        assert_eq!(c.leader().await, first);
        c.restart(down).await;

        stop.store(true, Ordering::Relaxed);
        let mut acked = Vec::new();
        let mut clients = Vec::new();
        for w in writers {
            let (zk, session, a, failed) = w.await.unwrap();
            let from = a
                .first()
                .and_then(|p| p.split('-').next())
                .unwrap_or("?")
                .to_string();
            // The writer on the member that was down lost its connection, as
            // with any crash; the others must not have seen an error at all.
            if !from.ends_with(&down.to_string()) {
                assert!(failed.is_empty(), "{from}: writes failed: {failed:?}");
            }
            assert!(!a.is_empty(), "{from}: nothing acknowledged");
            acked.extend(a);
            clients.push((zk, session));
        }
        for (zk, session) in &clients {
            zk.sync("/t").await.unwrap();
            assert_eq!(zk.session_id(), *session, "session replaced");
        }
        c.wait_converged().await;
        for id in c.ids.clone() {
            let have = c.children(id, "/t");
            let lost: Vec<&String> = acked
                .iter()
                .filter(|p| !have.contains_key(p.trim_start_matches("/t/")))
                .collect();
            assert!(lost.is_empty(), "node {id} lacks acknowledged {lost:?}");
            for e in c.ids.clone() {
                assert!(
                    have.contains_key(&format!("e{e}")),
                    "node {id}: ephemeral e{e} gone"
                );
            }
        }
        drop(clients);
        c.stop().await;
    })
    .await;
}
