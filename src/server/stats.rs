//! Counters behind the four-letter words, the admin API and /metrics.
//!
//! Latency is measured as ZooKeeper measures it: from the moment a request
//! is read to the moment its reply is handed to the socket. The writer task
//! matches each outgoing reply to the oldest pending request with the same
//! xid, so reads, writes, pings and errors are all timed by the same code.
//! Matching is by xid, not by position, so a request that is never answered
//! (its connection closing) cannot shift every later match.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jute::OpCode;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::warn;

/// min/avg/max over a series of durations, in µs, reset by `srst`.
#[derive(Default)]
pub struct Latency {
    count: AtomicU64,
    total_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.min_us.store(us, Ordering::Relaxed);
        } else {
            self.min_us.fetch_min(us, Ordering::Relaxed);
        }
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// (min, avg, max, count, sum) in ms. ZooKeeper keeps whole ms for
    /// min/max/sum, so those are truncated; avg keeps the fraction.
    pub fn summary(&self) -> LatencySummary {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return LatencySummary::default();
        }
        let total = self.total_us.load(Ordering::Relaxed);
        LatencySummary {
            min: self.min_us.load(Ordering::Relaxed) / 1000,
            avg: total as f64 / 1000.0 / n as f64,
            max: self.max_us.load(Ordering::Relaxed) / 1000,
            count: n,
            sum: total / 1000,
        }
    }

    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total_us.store(0, Ordering::Relaxed);
        self.min_us.store(0, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
    }
}

#[derive(Default, Clone, Copy, Debug)]
pub struct LatencySummary {
    pub min: u64,
    pub avg: f64,
    pub max: u64,
    pub count: u64,
    pub sum: u64,
}

/// Prometheus collectors that need the request path (the rest are read at
/// scrape time from the tree and consensus, see `admin::metrics`).
pub struct Prom {
    pub registry: Registry,
    /// Corral's own: per op, in seconds, as Prometheus conventions want.
    request_seconds: HistogramVec,
    /// Per op and error code name ("ok" for success).
    requests: IntCounterVec,
    /// ZooKeeper's provider exports these two (in ms) as summaries; the
    /// prometheus crate has no summary, so they are histograms with the
    /// same name (the _sum and _count series are the same).
    readlatency: Histogram,
    updatelatency: Histogram,
}

impl Prom {
    fn new() -> Result<Prom, prometheus::Error> {
        let registry = Registry::new();
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "corral_request_duration_seconds",
                "Time from reading a request to sending its reply, by op",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5,
            ]),
            &["op"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "corral_requests_total",
                "Replies sent, by op and error code",
            ),
            &["op", "err"],
        )?;
        let ms_buckets = vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
        let readlatency = Histogram::with_opts(
            HistogramOpts::new("readlatency", "Read request latency in ms")
                .buckets(ms_buckets.clone()),
        )?;
        let updatelatency = Histogram::with_opts(
            HistogramOpts::new("updatelatency", "Update request latency in ms").buckets(ms_buckets),
        )?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(readlatency.clone()))?;
        registry.register(Box::new(updatelatency.clone()))?;
        Ok(Prom {
            registry,
            request_seconds,
            requests,
            readlatency,
            updatelatency,
        })
    }
}

pub struct Stats {
    /// Packets, as ZooKeeper counts them (reset by srst).
    pub received: AtomicU64,
    pub sent: AtomicU64,
    /// Bytes read from and written to client sockets (never reset).
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Every request, reset by srst.
    pub latency: Latency,
    /// Reads and updates apart (ZooKeeper's readlatency / updatelatency).
    pub read_latency: Latency,
    pub update_latency: Latency,
    conns: Mutex<BTreeMap<u64, Arc<ConnStats>>>,
    pub prom: Option<Prom>,
}

impl Default for Stats {
    fn default() -> Self {
        let prom = match Prom::new() {
            Ok(p) => Some(p),
            Err(e) => {
                // Only a programming error (a bad metric name) gets here; keep serving.
                warn!(error = %e, "prometheus metrics unavailable");
                None
            }
        };
        Stats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            latency: Latency::default(),
            read_latency: Latency::default(),
            update_latency: Latency::default(),
            conns: Mutex::new(BTreeMap::new()),
            prom,
        }
    }
}

impl Stats {
    /// (min, avg, max) in ms, as ZooKeeper reports them.
    pub fn latency_ms(&self) -> (u64, f64, u64) {
        let s = self.latency.summary();
        (s.min, s.avg, s.max)
    }

    /// `srst`: latency and packet counts start over (Prometheus counters do not).
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.read_latency.reset();
        self.update_latency.reset();
    }

    /// A new client connection; it is listed until the handle is dropped.
    pub fn open_conn(self: &Arc<Self>, id: u64, peer: SocketAddr, now_ms: i64) -> ConnHandle {
        let c = Arc::new(ConnStats {
            id,
            peer,
            established_ms: now_ms,
            inner: Mutex::new(ConnInner::new()),
        });
        self.lock_conns().insert(id, c.clone());
        ConnHandle {
            stats: self.clone(),
            conn: c,
        }
    }

    fn lock_conns(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ConnStats>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every open connection, oldest first.
    pub fn conns(&self) -> Vec<Arc<ConnStats>> {
        self.lock_conns().values().cloned().collect()
    }

    /// Requests waiting for their reply to be timed, over every connection.
    pub fn requests_timed(&self) -> usize {
        self.conns().iter().map(|c| c.lock().pending.len()).sum()
    }

    /// `crst`.
    pub fn reset_conns(&self) {
        for c in self.conns() {
            c.reset();
        }
    }

    fn record(&self, done: &Done) {
        self.latency.record(done.latency);
        let name = op_name(done.op);
        if is_update(done.op) {
            self.update_latency.record(done.latency);
        } else {
            self.read_latency.record(done.latency);
        }
        if let Some(p) = &self.prom {
            let ms = done.latency.as_secs_f64() * 1000.0;
            if is_update(done.op) {
                p.updatelatency.observe(ms);
            } else {
                p.readlatency.observe(ms);
            }
            p.request_seconds
                .with_label_values(&[name])
                .observe(done.latency.as_secs_f64());
            p.requests
                .with_label_values(&[name, err_name(done.err)])
                .inc();
        }
    }
}

/// Keeps a connection listed while it lives.
pub struct ConnHandle {
    stats: Arc<Stats>,
    pub conn: Arc<ConnStats>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.stats.lock_conns().remove(&self.conn.id);
    }
}

impl ConnHandle {
    /// A request was read (also counts the server-wide packet).
    pub fn request(&self, xid: i32, op: i32, bytes: usize) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_in
            .fetch_add(bytes as u64, Ordering::Relaxed);
        let now = Instant::now();
        let mut c = self.conn.lock();
        c.recved += 1;
        c.last_heard = now;
        c.pending.push(xid, op, now);
    }

    /// The handshake (or a four-letter word) was read: a packet, not a request.
    pub fn packet_in(&self, bytes: usize) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_in
            .fetch_add(bytes as u64, Ordering::Relaxed);
        let mut c = self.conn.lock();
        c.recved += 1;
        c.last_heard = Instant::now();
    }

    /// The session this connection holds, once the handshake is done.
    pub fn established(&self, session: i64, timeout: i32) {
        let mut c = self.conn.lock();
        c.session = session;
        c.timeout = timeout;
        c.last_heard = Instant::now();
    }

    /// Frames handed to the socket, in one write.
    pub fn sent<'a>(&self, frames: impl Iterator<Item = &'a [u8]>, now_ms: i64) {
        let mut done = Vec::new();
        let mut n = 0u64;
        let mut bytes = 0u64;
        {
            let mut c = self.conn.lock();
            for f in frames {
                n += 1;
                bytes += f.len() as u64;
                if let Some(d) = c.reply(f, now_ms) {
                    done.push(d);
                }
            }
            c.sent += n;
        }
        self.stats.sent.fetch_add(n, Ordering::Relaxed);
        self.stats.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        for d in &done {
            self.stats.record(d);
        }
    }
}

/// A reply matched to its request.
struct Done {
    op: i32,
    err: i32,
    latency: Duration,
}

/// One client connection, as `cons` and /commands/connections show it.
pub struct ConnStats {
    pub id: u64,
    pub peer: SocketAddr,
    pub established_ms: i64,
    inner: Mutex<ConnInner>,
}

/// A copy of a connection's counters.
#[derive(Clone, Debug)]
pub struct ConnSnapshot {
    /// 0 until the handshake is done.
    pub session: i64,
    pub established_ms: i64,
    pub timeout: i32,
    pub queued: usize,
    pub recved: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response_ms: i64,
    pub last_latency_ms: u64,
    pub latency: LatencySummary,
    /// When the session's deadline is, counting from its last request here.
    pub last_heard: Instant,
}

struct ConnInner {
    session: i64,
    timeout: i32,
    recved: u64,
    sent: u64,
    last_op: &'static str,
    last_cxid: i32,
    last_zxid: i64,
    last_response_ms: i64,
    last_latency_ms: u64,
    latency: Latency,
    last_heard: Instant,
    pending: Pending,
}

/// Most requests of one connection waiting for their reply that are timed.
/// Beyond it requests are still counted, just not timed, so a client that
/// pipelines without limit cannot grow this table without limit.
const MAX_PENDING: usize = 4096;

/// Requests read and not yet answered, keyed by the xid their reply will
/// carry: a reply finds its request in O(1) whatever order replies leave in,
/// and a notification (xid -1) finds nothing. Requests of a closed
/// connection go with its `ConnStats`.
#[derive(Default)]
struct Pending {
    /// The oldest request, while it is older than everything in `by_xid`: a
    /// client with one request at a time (most of them) never needs the map,
    /// which is a few hundred bytes per connection once allocated.
    first: Option<(i32, Waiting)>,
    by_xid: HashMap<i32, Waiting>,
    len: usize,
}

/// The requests waiting under one xid, oldest first. Clients use each xid
/// once, except -2 for pings and -4 for auth, so `more` rarely allocates.
struct Waiting {
    op: i32,
    started: Instant,
    more: VecDeque<(i32, Instant)>,
}

impl Pending {
    fn push(&mut self, xid: i32, op: i32, started: Instant) {
        // Corral answers every ping with xid -2, whatever xid it came with.
        let xid = if op == OpCode::Ping.code() {
            jute::xid::PING
        } else {
            xid
        };
        // A reply with xid -1 cannot be told from a notification: not timed.
        if xid == jute::xid::NOTIFICATION || self.len >= MAX_PENDING {
            return;
        }
        self.len += 1;
        let waiting = Waiting {
            op,
            started,
            more: VecDeque::new(),
        };
        if self.first.is_none() && self.by_xid.is_empty() {
            self.first = Some((xid, waiting));
            return;
        }
        match self.by_xid.entry(xid) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                e.get_mut().more.push_back((op, started));
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(waiting);
            }
        }
    }

    /// The oldest request waiting for a reply with this xid: (op, when read).
    fn take(&mut self, xid: i32) -> Option<(i32, Instant)> {
        // `first` is older than anything in the map, so it goes first.
        if let Some((first_xid, w)) = &self.first
            && *first_xid == xid
        {
            let taken = (w.op, w.started);
            self.first = None;
            self.len -= 1;
            return Some(taken);
        }
        // Looked up before `entry`, which would allocate an empty map.
        if !self.by_xid.contains_key(&xid) {
            return None;
        }
        let std::collections::hash_map::Entry::Occupied(mut e) = self.by_xid.entry(xid) else {
            return None;
        };
        let w = e.get_mut();
        let taken = (w.op, w.started);
        match w.more.pop_front() {
            Some((op, started)) => {
                w.op = op;
                w.started = started;
            }
            None => {
                e.remove();
            }
        }
        self.len -= 1;
        // A burst left a big table behind: give the memory back once idle.
        if self.len == 0 && self.by_xid.capacity() > 64 {
            self.by_xid = HashMap::new();
        }
        Some(taken)
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl ConnInner {
    fn new() -> Self {
        ConnInner {
            session: 0,
            timeout: 0,
            recved: 0,
            sent: 0,
            last_op: "NA",
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            latency: Latency::default(),
            last_heard: Instant::now(),
            pending: Pending::default(),
        }
    }

    /// Match an outgoing frame (length prefix included) to its request.
    fn reply(&mut self, frame: &[u8], now_ms: i64) -> Option<Done> {
        // ReplyHeader: xid int, zxid long, err int, after the 4-byte length.
        let h = frame.get(4..20)?;
        let xid = i32::from_be_bytes(h[0..4].try_into().ok()?);
        let zxid = i64::from_be_bytes(h[4..12].try_into().ok()?);
        let err = i32::from_be_bytes(h[12..16].try_into().ok()?);
        let (op, started) = self.pending.take(xid)?;
        let latency = started.elapsed();
        self.last_op = last_op(op);
        self.last_cxid = xid;
        self.last_zxid = zxid;
        self.last_response_ms = now_ms;
        self.last_latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency.record(latency);
        Some(Done { op, err, latency })
    }
}

impl ConnStats {
    fn lock(&self) -> MutexGuard<'_, ConnInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> ConnSnapshot {
        let c = self.lock();
        ConnSnapshot {
            session: c.session,
            established_ms: self.established_ms,
            timeout: c.timeout,
            queued: c.pending.len(),
            recved: c.recved,
            sent: c.sent,
            last_op: c.last_op,
            last_cxid: c.last_cxid,
            last_zxid: c.last_zxid,
            last_response_ms: c.last_response_ms,
            last_latency_ms: c.last_latency_ms,
            latency: c.latency.summary(),
            last_heard: c.last_heard,
        }
    }

    fn reset(&self) {
        let mut c = self.lock();
        c.recved = 0;
        c.sent = 0;
        c.last_op = "NA";
        c.last_cxid = -1;
        c.last_zxid = -1;
        c.last_response_ms = 0;
        c.last_latency_ms = 0;
        c.latency.reset();
    }
}

/// Writes change the tree and go through the log; ZooKeeper times them as updates.
fn is_update(op: i32) -> bool {
    OpCode::from_code(op).is_some_and(|op| {
        op.is_write() || matches!(op, OpCode::CreateSession | OpCode::CloseSession)
    })
}

/// The label of an op in /metrics: ZooKeeper's method name.
pub fn op_name(op: i32) -> &'static str {
    match OpCode::from_code(op) {
        Some(OpCode::Create) => "create",
        Some(OpCode::Create2) => "create2",
        Some(OpCode::CreateContainer) => "createContainer",
        Some(OpCode::CreateTtl) => "createTTL",
        Some(OpCode::Delete) => "delete",
        Some(OpCode::Exists) => "exists",
        Some(OpCode::GetData) => "getData",
        Some(OpCode::SetData) => "setData",
        Some(OpCode::GetAcl) => "getACL",
        Some(OpCode::SetAcl) => "setACL",
        Some(OpCode::GetChildren) => "getChildren",
        Some(OpCode::GetChildren2) => "getChildren2",
        Some(OpCode::Sync) => "sync",
        Some(OpCode::Ping) => "ping",
        Some(OpCode::Check) => "check",
        Some(OpCode::Multi) => "multi",
        Some(OpCode::MultiRead) => "multiRead",
        Some(OpCode::Reconfig) => "reconfig",
        Some(OpCode::CheckWatches) => "checkWatches",
        Some(OpCode::RemoveWatches) => "removeWatches",
        Some(OpCode::Auth) => "auth",
        Some(OpCode::SetWatches) => "setWatches",
        Some(OpCode::SetWatches2) => "setWatches2",
        Some(OpCode::Sasl) => "sasl",
        Some(OpCode::GetEphemerals) => "getEphemerals",
        Some(OpCode::GetAllChildrenNumber) => "getAllChildrenNumber",
        Some(OpCode::AddWatch) => "addWatch",
        Some(OpCode::WhoAmI) => "whoAmI",
        Some(OpCode::CloseSession) => "closeSession",
        Some(OpCode::CreateSession) => "createSession",
        _ => "unknown",
    }
}

/// `lop` in `cons`: the abbreviations ZooKeeper's FinalRequestProcessor uses.
fn last_op(op: i32) -> &'static str {
    match OpCode::from_code(op) {
        Some(OpCode::Ping) => "PING",
        Some(OpCode::CreateSession) => "SESS",
        Some(OpCode::Multi) => "MULT",
        Some(OpCode::MultiRead) => "MLTR",
        Some(OpCode::Create | OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer) => {
            "CREA"
        }
        Some(OpCode::Delete | OpCode::DeleteContainer) => "DELE",
        Some(OpCode::SetData) => "SETD",
        Some(OpCode::Reconfig) => "RECO",
        Some(OpCode::SetAcl) => "SETA",
        Some(OpCode::CloseSession) => "CLOS",
        Some(OpCode::Sync) => "SYNC",
        Some(OpCode::Check) => "CHEC",
        Some(OpCode::Exists) => "EXIS",
        Some(OpCode::GetData) => "GETD",
        Some(OpCode::SetWatches) => "SETW",
        Some(OpCode::SetWatches2) => "STW2",
        Some(OpCode::AddWatch) => "ADDW",
        Some(OpCode::GetAcl) => "GETA",
        Some(OpCode::GetChildren | OpCode::GetChildren2) => "GETC",
        Some(OpCode::GetAllChildrenNumber) => "GETACN",
        Some(OpCode::CheckWatches) => "CHKW",
        Some(OpCode::RemoveWatches) => "REMW",
        Some(OpCode::GetEphemerals) => "GETE",
        Some(OpCode::WhoAmI) => "HOMI",
        Some(OpCode::Auth) => "AUTH",
        _ => "NA",
    }
}

/// The label of an error code in /metrics: KeeperException.Code's name.
fn err_name(err: i32) -> &'static str {
    use jute::ErrorCode as E;
    match E::from_code(err) {
        Some(E::Ok) => "ok",
        Some(E::NoNode) => "NoNode",
        Some(E::NodeExists) => "NodeExists",
        Some(E::BadVersion) => "BadVersion",
        Some(E::NoAuth) => "NoAuth",
        Some(E::NotEmpty) => "NotEmpty",
        Some(E::NoChildrenForEphemerals) => "NoChildrenForEphemerals",
        Some(E::InvalidAcl) => "InvalidACL",
        Some(E::BadArguments) => "BadArguments",
        Some(E::Unimplemented) => "Unimplemented",
        Some(E::AuthFailed) => "AuthFailed",
        Some(E::SessionExpired) => "SessionExpired",
        Some(E::NoWatcher) => "NoWatcher",
        Some(E::ReconfigDisabled) => "ReconfigDisabled",
        Some(_) => "other",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_frame(xid: i32, zxid: i64, err: i32) -> Vec<u8> {
        let mut f = 16i32.to_be_bytes().to_vec();
        f.extend(xid.to_be_bytes());
        f.extend(zxid.to_be_bytes());
        f.extend(err.to_be_bytes());
        f
    }

    #[test]
    fn replies_are_matched_to_requests_in_order() {
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(7, "127.0.0.1:1".parse().unwrap(), 0);
        h.request(1, OpCode::GetData.code(), 20);
        h.request(2, OpCode::Create.code(), 30);
        h.request(-2, OpCode::Ping.code(), 8);
        let notification = reply_frame(-1, 5, 0);
        let r1 = reply_frame(1, 4, -101);
        let r2 = reply_frame(2, 5, 0);
        h.sent([&notification[..], &r1[..], &r2[..]].into_iter(), 1234);
        let s = h.conn.snapshot();
        assert_eq!((s.recved, s.sent, s.queued), (3, 3, 1));
        assert_eq!((s.last_op, s.last_cxid, s.last_zxid), ("CREA", 2, 5));
        assert_eq!(s.latency.count, 2);
        assert_eq!(stats.received.load(Ordering::Relaxed), 3);
        assert_eq!(stats.update_latency.summary().count, 1);
        assert_eq!(stats.read_latency.summary().count, 1);
        assert_eq!(stats.conns().len(), 1);
        drop(h);
        assert!(stats.conns().is_empty());
    }

    #[test]
    fn a_reply_ahead_of_earlier_writes_leaves_them_timed() {
        // A ping is answered at once while the writes before it are still in the log.
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(1, "127.0.0.1:1".parse().unwrap(), 0);
        h.request(1, OpCode::Create.code(), 30);
        h.request(2, OpCode::SetData.code(), 30);
        h.request(-2, OpCode::Ping.code(), 8);
        let (ping, r1, r2) = (
            reply_frame(-2, 0, 0),
            reply_frame(1, 4, 0),
            reply_frame(2, 5, 0),
        );
        h.sent([&ping[..]].into_iter(), 1);
        h.sent([&r1[..], &r2[..]].into_iter(), 2);
        let s = h.conn.snapshot();
        assert_eq!((s.queued, s.latency.count), (0, 3));
        assert_eq!(stats.update_latency.summary().count, 2);
    }

    #[test]
    fn a_ping_is_matched_whatever_xid_it_came_with() {
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(1, "127.0.0.1:1".parse().unwrap(), 0);
        for _ in 0..3 {
            // Corral answers every ping with xid -2.
            h.request(7, OpCode::Ping.code(), 8);
            let ping = reply_frame(-2, 0, 0);
            h.sent([&ping[..]].into_iter(), 1);
        }
        let s = h.conn.snapshot();
        assert_eq!((s.queued, s.latency.count, s.last_op), (0, 3, "PING"));
    }

    #[test]
    fn notifications_match_no_request() {
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(1, "127.0.0.1:1".parse().unwrap(), 0);
        h.request(3, OpCode::GetData.code(), 20);
        // A request sent with xid -1 would be answered like a notification: not timed.
        h.request(-1, OpCode::GetData.code(), 20);
        let n = reply_frame(-1, 9, 0);
        h.sent([&n[..], &n[..]].into_iter(), 1);
        assert_eq!(h.conn.snapshot().queued, 1);
        let r = reply_frame(3, 9, 0);
        h.sent([&r[..]].into_iter(), 2);
        let s = h.conn.snapshot();
        assert_eq!((s.queued, s.latency.count, s.sent), (0, 1, 3));
    }

    #[test]
    fn requests_waiting_for_replies_are_bounded() {
        // A client that pipelines without reading must not grow the table without limit.
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(1, "127.0.0.1:1".parse().unwrap(), 0);
        for xid in 1..=100_000 {
            h.request(xid, OpCode::GetData.code(), 20);
        }
        let s = h.conn.snapshot();
        assert_eq!(s.recved, 100_000, "every request is still counted");
        assert!(s.queued <= 10_000, "{} requests kept", s.queued);
        for xid in 1..=100_000 {
            let r = reply_frame(xid, 1, 0);
            h.sent([&r[..]].into_iter(), 1);
        }
        let s = h.conn.snapshot();
        assert_eq!(s.queued, 0);
        assert!(s.latency.count > 0 && s.latency.count <= 10_000);
    }

    #[test]
    fn an_idle_connection_gives_a_burst_table_back() {
        let stats = Arc::new(Stats::default());
        let h = stats.open_conn(1, "127.0.0.1:1".parse().unwrap(), 0);
        for xid in 1..=1000 {
            h.request(xid, OpCode::GetData.code(), 20);
        }
        assert!(h.conn.lock().pending.by_xid.capacity() >= 1000);
        for xid in 1..=1000 {
            let r = reply_frame(xid, 1, 0);
            h.sent([&r[..]].into_iter(), 1);
        }
        assert!(h.conn.lock().pending.by_xid.capacity() <= 64);
    }
}
