//! The scale scenarios of issue 11: many held sessions and many watches.
//!
//! `--op sessions`: a probe session times `--probe-requests` synchronous getData of a 100 B
//! node; then `--count` more sessions are opened, `--open-concurrency` handshakes at a time,
//! and held: each pings every third of its negotiated timeout, the pings spread over that
//! interval. With all of them open the server's RSS is read (after `--settle-secs`) and the
//! probe times its getData again; the sessions are held until `--secs` after the last one
//! opened (the server's CPU over that quiet stretch is the cost of the heartbeats), then
//! closed with closeSession. Bytes per session = RSS delta ÷ sessions opened.
//!
//! `--op watches`: `--count / --conns` nodes of `--value-size` bytes under a fresh parent and
//! `--conns` watching sessions; RSS read; every session watches every node (`--watch-kind`),
//! `--pipeline` requests in flight each; RSS read again: bytes per watch = delta ÷ watches set.
//! Then a separate session sets every node (`--pipeline` in flight) and each watcher waits
//! for one NodeDataChanged per node: the wall clock from the first setData sent to the last
//! notification received, notifications/s, and each notification's delay after its setData
//! was sent.
//!
//! Sessions that sit idle between phases ping, so none expires however long a phase takes.
//! Every wait is bounded: a stall (`--stall-secs` without an expected reply or notification)
//! is an error, and the phases and joins have deadlines.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use jute::{
    Acl, AddWatchMode, AddWatchRequest, CreateMode, CreateRequest, Empty, EventType,
    GetDataRequest, Reply, Request, Response, SetDataRequest, xid,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::conn::{Conn, DEFAULT_BUF, frame_xid};
use crate::report::{Report, Stats, json_str, opt};
use crate::workload::{CONNECT_DEADLINE, ROOT, cpu_delta, ensure, settle};
use crate::{Args, WatchKind, procfs};

/// Phases, in order; idle sessions wait for the next one.
const OPEN: u8 = 0;
const WATCH: u8 = 1;
const TRIGGER: u8 = 2;
const STOP: u8 = 3;

/// Buffers of a held, idle session: pings and their answers only.
const HOLD_BUF: usize = 4 * 1024;
/// Nothing is expected while idle with no ping outstanding: wait this long.
const IDLE_READ: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on a phase (opening, watching, delivering, closing).
const PHASE_LIMIT: Duration = Duration::from_secs(600);
/// How long a closeSession may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// Ping a third of the negotiated timeout apart, as ZooKeeper's own clients do when idle.
fn ping_every(timeout_ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(timeout_ms / 3).unwrap_or(1000).max(100))
}

/// Session `idx`'s first ping: spread over one interval so the pings do not come in bursts.
fn ping_offset(every: Duration, idx: usize) -> Duration {
    every.mul_f64(((idx % 997) + 1) as f64 / 998.0)
}

fn run_parent(op: &str, session_id: i64) -> String {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{ROOT}/{op}-{}-{stamp}-{session_id:x}", std::process::id())
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Ping every `every` (the first after `first`) until `phase` reaches `target`. Only ping
/// answers may arrive; a ping unanswered for `stall` is an error. Returns the pings sent.
async fn idle_until(
    conn: &mut Conn,
    phase: &mut watch::Receiver<u8>,
    target: u8,
    every: Duration,
    first: Duration,
    stall: Duration,
) -> Result<u64, String> {
    let mut pings = 0u64;
    let mut next_ping = tokio::time::Instant::now() + first;
    let mut waiting: Option<Instant> = None;
    loop {
        let limit = waiting.map_or(IDLE_READ, |t| stall.saturating_sub(t.elapsed()));
        tokio::select! {
            reached = async { phase.wait_for(|p| *p >= target).await.map(|_| ()) } => {
                return reached.map(|()| pings).map_err(|_| "the run was abandoned".to_string());
            }
            () = tokio::time::sleep_until(next_ping) => {
                conn.push_ping()?;
                conn.flush().await?;
                pings += 1;
                waiting.get_or_insert_with(Instant::now);
                next_ping += every;
            }
            frame = conn.next_frame(limit) => {
                match frame_xid(&frame?)? {
                    xid::PING => waiting = None,
                    x => return Err(format!("unexpected frame (xid {x}) while idle")),
                }
            }
        }
    }
}

/// `n` requests made by `make(i)`, up to `depth` in flight; `pushed(i)` runs as request `i`
/// is queued for sending. Replies are counted (and timed) in `Stats`; error replies by code.
async fn pipelined(
    conn: &mut Conn,
    n: usize,
    depth: usize,
    stall: Duration,
    mut make: impl FnMut(usize) -> Request,
    mut pushed: impl FnMut(usize),
) -> Result<Stats, String> {
    let mut stats = Stats::new();
    let mut inflight: VecDeque<(i32, i32, Instant)> = VecDeque::with_capacity(depth);
    let mut next = 0;
    loop {
        while next < n && inflight.len() < depth {
            let req = make(next);
            let op = req.op_code();
            let x = conn.push(req)?;
            pushed(next);
            inflight.push_back((x, op, Instant::now()));
            next += 1;
        }
        if inflight.is_empty() {
            return Ok(stats);
        }
        conn.flush().await?;
        let mut frame = Some(conn.next_frame(stall).await?);
        while let Some(f) = frame {
            settle(&f, &mut inflight, true, &mut stats)?;
            frame = conn.try_frame()?;
        }
    }
}

/// `n` synchronous getData of `path`, one at a time.
async fn sync_gets(
    conn: &mut Conn,
    path: &str,
    n: usize,
    stall: Duration,
) -> Result<Stats, String> {
    let mut stats = Stats::new();
    for _ in 0..n {
        let t = Instant::now();
        let reply = conn
            .call(
                Request::GetData(GetDataRequest {
                    path: path.to_string(),
                    watch: false,
                }),
                stall,
            )
            .await?;
        if reply.header.err != 0 {
            *stats.errors.entry(reply.header.err).or_default() += 1;
        } else {
            stats.ok += 1;
            stats.record(ns(t.elapsed()));
        }
    }
    Ok(stats)
}

/// The main task's own session (the probe, the setter), pinged while the main task waits
/// for something else, whenever it has been quiet for a third of its timeout.
struct KeepAlive {
    every: Duration,
    stall: Duration,
    last: Instant,
}

impl KeepAlive {
    fn new(conn: &Conn, stall: Duration) -> KeepAlive {
        KeepAlive {
            every: ping_every(conn.timeout_ms),
            stall,
            last: Instant::now(),
        }
    }

    /// The session was just used.
    fn touched(&mut self) {
        self.last = Instant::now();
    }

    async fn during<F: Future>(&mut self, conn: &mut Conn, fut: F) -> Result<F::Output, String> {
        tokio::pin!(fut);
        loop {
            let due = tokio::time::Instant::from_std(self.last + self.every);
            tokio::select! {
                out = &mut fut => return Ok(out),
                () = tokio::time::sleep_until(due) => {
                    conn.ping(self.stall).await?;
                    self.last = Instant::now();
                }
            }
        }
    }

    async fn sleep(&mut self, conn: &mut Conn, d: Duration) -> Result<(), String> {
        self.during(conn, tokio::time::sleep(d)).await
    }
}

/// Poll `done()` every 10 ms until it is true; false after `limit`.
async fn wait_until(done: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// One `mntr` key, when the server answers mntr and has it.
async fn mntr_value(addr: &str, key: &str) -> Option<i64> {
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"mntr").await.ok()?;
        let mut buf = Vec::new();
        s.take(1 << 20).read_to_end(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()??;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

fn json_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// Bytes per item from two RSS readings (KiB); negative when RSS fell.
fn per_item(before: Option<u64>, after: Option<u64>, items: u64) -> Option<f64> {
    let (b, a) = (before?, after?);
    (items > 0).then(|| (a as f64 - b as f64) * 1024.0 / items as f64)
}

fn us_at(s: &Stats, q: f64) -> Option<f64> {
    (!s.hist.is_empty()).then(|| s.hist.value_at_quantile(q) as f64 / 1000.0)
}

/// Latency summary of `s` as a JSON object.
fn lat_json(s: &Stats) -> String {
    format!(
        concat!(
            "{{\"n\":{},\"mean_us\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},",
            "\"max_us\":{},\"errors\":{}}}"
        ),
        s.ok,
        opt((!s.hist.is_empty()).then(|| s.hist.mean() / 1000.0)),
        opt(us_at(s, 0.5)),
        opt(us_at(s, 0.99)),
        opt(us_at(s, 0.999)),
        opt((!s.hist.is_empty()).then(|| s.hist.max() as f64 / 1000.0)),
        s.error_total()
    )
}

fn lat_human(s: &Stats) -> String {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}µs"));
    format!(
        "p50 {} p99 {} max {}",
        f(us_at(s, 0.5)),
        f(us_at(s, 0.99)),
        f(us_at(s, 1.0))
    )
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_string(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

// ---------------------------------------------------------------------------------------
// --op sessions

/// What the held sessions share with the main task.
#[derive(Default)]
struct Held {
    opened: AtomicUsize,
    open_failed: AtomicUsize,
    /// Sessions whose connection failed while held.
    lost: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Held {
    fn note(&self, e: String) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }
}

struct HolderOut {
    pings: u64,
    closed: bool,
}

/// One held session: open, ping until STOP, closeSession.
async fn holder(
    idx: usize,
    addr: String,
    timeout_ms: i32,
    stall: Duration,
    permit: OwnedSemaphorePermit,
    mut phase: watch::Receiver<u8>,
    held: Arc<Held>,
) -> HolderOut {
    let mut out = HolderOut {
        pings: 0,
        closed: false,
    };
    let opened = Conn::open_with(&addr, timeout_ms, CONNECT_DEADLINE, HOLD_BUF).await;
    drop(permit);
    let mut conn = match opened {
        Ok(c) => {
            held.opened.fetch_add(1, Ordering::AcqRel);
            c
        }
        Err(e) => {
            held.open_failed.fetch_add(1, Ordering::AcqRel);
            held.note(format!("session {idx} set-up: {e}"));
            return out;
        }
    };
    let every = ping_every(conn.timeout_ms);
    let first = ping_offset(every, idx);
    match idle_until(&mut conn, &mut phase, STOP, every, first, stall).await {
        Ok(p) => out.pings = p,
        Err(e) => {
            held.lost.fetch_add(1, Ordering::AcqRel);
            held.note(format!("session {idx} while held: {e}"));
            return out;
        }
    }
    let closed = tokio::time::timeout(
        CLOSE_LIMIT,
        conn.call(Request::CloseSession(Empty {}), stall),
    )
    .await;
    out.closed = matches!(closed, Ok(Ok(r)) if r.header.err == 0);
    out
}

pub async fn sessions(args: &Args) -> Result<Report, String> {
    let stall = args.stall();
    let addrs = args.addrs();
    let pids = &args.server_pid;
    let n = usize::try_from(args.count).map_err(|_| "--count is too large".to_string())?;
    let settle_for = Duration::from_secs_f64(args.settle_secs);

    let mut probe = Conn::open(&addrs[0], args.session_timeout_ms, CONNECT_DEADLINE).await?;
    let mut keep = KeepAlive::new(&probe, stall);
    ensure(&mut probe, stall, ROOT, Bytes::new()).await?;
    let parent = run_parent("sessions", probe.session_id);
    ensure(&mut probe, stall, &parent, Bytes::new()).await?;
    let key = format!("{parent}/probe");
    ensure(
        &mut probe,
        stall,
        &key,
        Bytes::from(vec![b'x'; args.value_size]),
    )
    .await?;
    // Warm-up (ZooKeeper's JIT), not measured.
    sync_gets(&mut probe, &key, args.probe_requests / 2 + 1, stall).await?;
    let before = sync_gets(&mut probe, &key, args.probe_requests, stall).await?;
    keep.touched();
    keep.sleep(&mut probe, settle_for).await?;
    let rss_before = procfs::rss_kib_sum(pids);
    let conns_before = mntr_value(&addrs[0], "zk_num_alive_connections").await;

    // Open the sessions, at most --open-concurrency handshakes at a time.
    let held = Arc::new(Held::default());
    let (phase_tx, phase_rx) = watch::channel(OPEN);
    let gate = Arc::new(Semaphore::new(args.open_concurrency));
    let gate_all =
        u32::try_from(args.open_concurrency).map_err(|_| "--open-concurrency is too large")?;
    let mut tasks: Vec<JoinHandle<HolderOut>> = Vec::with_capacity(n);
    let server0 = procfs::cpu_us_sum(pids);
    let client0 = procfs::cpu_us(None);
    let t_open = Instant::now();
    for idx in 0..n {
        let permit = keep
            .during(&mut probe, gate.clone().acquire_owned())
            .await?
            .map_err(|_| "open gate closed".to_string())?;
        tasks.push(tokio::spawn(holder(
            idx,
            addrs[idx % addrs.len()].clone(),
            args.session_timeout_ms,
            stall,
            permit,
            phase_rx.clone(),
            held.clone(),
        )));
    }
    // Every permit back: every handshake has finished, one way or the other.
    drop(
        keep.during(&mut probe, gate.acquire_many(gate_all))
            .await?
            .map_err(|_| "open gate closed".to_string())?,
    );
    let open_s = t_open.elapsed().as_secs_f64();
    let open_cpu = cpu_delta(pids, server0, client0);
    let all_open = Instant::now();
    let opened = held.opened.load(Ordering::Acquire);
    let open_failed = held.open_failed.load(Ordering::Acquire);

    keep.sleep(&mut probe, settle_for).await?;
    let rss_held = procfs::rss_kib_sum(pids);
    let conns_held = mntr_value(&addrs[0], "zk_num_alive_connections").await;
    let during = sync_gets(&mut probe, &key, args.probe_requests, stall).await?;
    keep.touched();

    // Hold until --secs after the last one opened; the server's CPU meanwhile is the
    // heartbeats' cost.
    let hold_for = Duration::from_secs_f64(args.secs).saturating_sub(all_open.elapsed());
    let server_h0 = procfs::cpu_us_sum(pids);
    let t_hold = Instant::now();
    keep.sleep(&mut probe, hold_for).await?;
    let hold_window = t_hold.elapsed().as_secs_f64();
    let hold_cpu_pct = cpu_delta(pids, server_h0, None)
        .server_us
        .and_then(|us| (hold_window > 0.5).then(|| us as f64 / 1e4 / hold_window));
    let held_s = all_open.elapsed().as_secs_f64();
    let rss_end = procfs::rss_kib_sum(pids);
    let lost = held.lost.load(Ordering::Acquire);

    // Close them all.
    phase_tx.send_replace(STOP);
    let t_close = Instant::now();
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    let mut pings = 0u64;
    let mut closed = 0usize;
    let mut unfinished = 0usize;
    let joined = keep
        .during(&mut probe, async {
            for t in tasks.drain(..) {
                let abort = t.abort_handle();
                match tokio::time::timeout_at(deadline, t).await {
                    Ok(Ok(out)) => {
                        pings += out.pings;
                        closed += usize::from(out.closed);
                    }
                    Ok(Err(_)) => unfinished += 1,
                    Err(_) => {
                        abort.abort();
                        unfinished += 1;
                    }
                }
            }
        })
        .await;
    joined?;
    let close_s = t_close.elapsed().as_secs_f64();
    keep.sleep(&mut probe, settle_for).await?;
    let rss_closed = procfs::rss_kib_sum(pids);
    let _ = tokio::time::timeout(
        CLOSE_LIMIT,
        probe.call(Request::CloseSession(Empty {}), stall),
    )
    .await;

    let per_session = per_item(rss_before, rss_held, opened as u64);
    let close_failed = opened.saturating_sub(lost + closed);
    let first_error = held.first_error.lock().ok().and_then(|e| e.clone());
    let probe_errors = before.error_total() + during.error_total();
    let per_open =
        |us: Option<u64>| us.and_then(|t| (opened > 0).then(|| t as f64 / opened as f64));
    let json = format!(
        concat!(
            "{{\"op\":\"sessions\",\"label\":{},\"addr\":{},\"count\":{},\"opened\":{},",
            "\"open_failed\":{},\"open_concurrency\":{},\"open_s\":{:.3},\"opens_per_sec\":{:.1},",
            "\"server_cpu_us_per_open\":{},\"client_cpu_us_per_open\":{},",
            "\"negotiated_timeout_ms\":{},\"ping_ms\":{},\"held_s\":{:.1},\"hold_cpu_pct\":{},",
            "\"lost\":{},\"pings\":{},\"closed\":{},\"close_failed\":{},\"close_s\":{:.3},",
            "\"rss_before_kb\":{},\"rss_held_kb\":{},\"rss_end_kb\":{},\"rss_closed_kb\":{},",
            "\"bytes_per_session\":{},\"mntr_connections_before\":{},\"mntr_connections_held\":{},",
            "\"probe_before\":{},\"probe_held\":{},\"first_error\":{}}}"
        ),
        json_str(&args.label),
        json_str(&args.addr),
        n,
        opened,
        open_failed,
        args.open_concurrency,
        open_s,
        if open_s > 0.0 {
            opened as f64 / open_s
        } else {
            0.0
        },
        opt(per_open(open_cpu.server_us)),
        opt(per_open(open_cpu.client_us)),
        probe.timeout_ms,
        keep.every.as_millis(),
        held_s,
        opt(hold_cpu_pct),
        lost,
        pings,
        closed,
        close_failed,
        close_s,
        json_opt(rss_before),
        json_opt(rss_held),
        json_opt(rss_end),
        json_opt(rss_closed),
        opt(per_session),
        json_opt(conns_before),
        json_opt(conns_held),
        lat_json(&before),
        lat_json(&during),
        first_error
            .as_deref()
            .map_or_else(|| "null".to_string(), json_str),
    );
    let mut human = format!(
        "sessions {}: {opened}/{n} opened in {open_s:.1}s ({} at a time), held {held_s:.0}s \
         (ping every {}ms), {lost} lost, {closed} closed in {close_s:.1}s; RSS {} -> {} \
         (end of hold {}, after closing {}) = {} B/session; probe getData before: {}; held: {}",
        args.addr,
        args.open_concurrency,
        keep.every.as_millis(),
        mib(rss_before),
        mib(rss_held),
        mib(rss_end),
        mib(rss_closed),
        per_session.map_or_else(|| "?".to_string(), |b| format!("{b:.0}")),
        lat_human(&before),
        lat_human(&during),
    );
    if let Some(e) = &first_error {
        let _ = write!(human, "\n  first error: {e}");
    }
    let failed = opened == 0
        || open_failed > 0
        || lost > 0
        || close_failed > 0
        || unfinished > 0
        || probe_errors > 0;
    Ok(Report {
        json,
        human,
        failed,
    })
}

// ---------------------------------------------------------------------------------------
// --op watches

struct WatchCtx {
    parent: String,
    nodes: usize,
    kind: WatchKind,
    pipeline: usize,
    stall: Duration,
    /// Origin of `sent_ns`.
    epoch: Instant,
    /// When node i's setData was queued, ns after `epoch`, plus 1 (0: not yet).
    sent_ns: Vec<AtomicU64>,
    /// Watchers that have set all their watches, and those that failed before that.
    watching: AtomicUsize,
    failed_early: AtomicUsize,
}

impl WatchCtx {
    fn node(&self, i: usize) -> String {
        format!("{}/w{i}", self.parent)
    }

    /// The node number of a notification's path.
    fn index(&self, path: &str) -> Option<usize> {
        let i: usize = path
            .strip_prefix(self.parent.as_str())?
            .strip_prefix("/w")?
            .parse()
            .ok()?;
        (i < self.nodes).then_some(i)
    }

    fn watch_request(&self, i: usize) -> Request {
        let path = self.node(i);
        let add = |mode: AddWatchMode| {
            Request::AddWatch(AddWatchRequest {
                path: path.clone(),
                mode: mode.code(),
            })
        };
        match self.kind {
            WatchKind::Data => Request::GetData(GetDataRequest {
                path: path.clone(),
                watch: true,
            }),
            WatchKind::Persistent => add(AddWatchMode::Persistent),
            WatchKind::Recursive => add(AddWatchMode::PersistentRecursive),
        }
    }
}

struct WatcherOut {
    /// The session, kept open for the main task to close once every watcher is done.
    conn: Option<Conn>,
    /// Replies to the watch requests (errors by code).
    set: Stats,
    received: u64,
    unexpected: u64,
    last: Option<Instant>,
    /// Delay of each notification after its setData was queued.
    delay: Stats,
    error: Option<String>,
}

/// One watching session: open, watch every node at WATCH, receive every notification
/// after TRIGGER.
async fn watcher(
    idx: usize,
    addr: String,
    timeout_ms: i32,
    ctx: Arc<WatchCtx>,
    permit: OwnedSemaphorePermit,
    mut phase: watch::Receiver<u8>,
) -> WatcherOut {
    let mut out = WatcherOut {
        conn: None,
        set: Stats::new(),
        received: 0,
        unexpected: 0,
        last: None,
        delay: Stats::new(),
        error: None,
    };
    let opened = Conn::open_with(&addr, timeout_ms, CONNECT_DEADLINE, DEFAULT_BUF).await;
    drop(permit);
    let mut conn = match opened {
        Ok(c) => c,
        Err(e) => {
            ctx.failed_early.fetch_add(1, Ordering::AcqRel);
            out.error = Some(format!("watcher {idx} set-up: {e}"));
            return out;
        }
    };
    let every = ping_every(conn.timeout_ms);
    let mut counted = false;
    let result = async {
        idle_until(
            &mut conn,
            &mut phase,
            WATCH,
            every,
            ping_offset(every, idx),
            ctx.stall,
        )
        .await?;
        out.set = pipelined(
            &mut conn,
            ctx.nodes,
            ctx.pipeline,
            ctx.stall,
            |i| ctx.watch_request(i),
            |_| {},
        )
        .await?;
        ctx.watching.fetch_add(1, Ordering::AcqRel);
        counted = true;
        idle_until(&mut conn, &mut phase, TRIGGER, every, every, ctx.stall).await?;
        receive(&mut conn, &ctx, every, &mut out).await
    }
    .await;
    if let Err(e) = result {
        if !counted {
            ctx.failed_early.fetch_add(1, Ordering::AcqRel);
        }
        out.error = Some(format!("watcher {idx}: {e}"));
        return out;
    }
    out.conn = Some(conn);
    out
}

/// Take notifications until one per node has arrived; ping meanwhile. A stall is
/// `ctx.stall` without a notification.
async fn receive(
    conn: &mut Conn,
    ctx: &WatchCtx,
    every: Duration,
    out: &mut WatcherOut,
) -> Result<(), String> {
    let expected = ctx.nodes as u64;
    let mut next_ping = tokio::time::Instant::now() + every;
    let mut progress = Instant::now();
    let take = |frame: Bytes, out: &mut WatcherOut, progress: &mut Instant| match frame_xid(&frame)?
    {
        xid::PING => Ok(()),
        xid::NOTIFICATION => {
            let now = Instant::now();
            *progress = now;
            let reply =
                Reply::decode_frame(&frame, 0).map_err(|e| format!("bad notification: {e:?}"))?;
            match reply.body {
                Some(Response::Notification(ev))
                    if ev.event_type == EventType::NodeDataChanged.code() =>
                {
                    out.received += 1;
                    out.last = Some(now);
                    if let Some(i) = ctx.index(&ev.path) {
                        let sent = ctx.sent_ns[i].load(Ordering::Acquire);
                        if sent > 0 {
                            let at = ns(now.duration_since(ctx.epoch));
                            out.delay.ok += 1;
                            out.delay.record(at.saturating_sub(sent - 1));
                        }
                    } else {
                        out.unexpected += 1;
                    }
                }
                _ => out.unexpected += 1,
            }
            Ok(())
        }
        x => Err(format!(
            "unexpected reply xid {x} while waiting for notifications"
        )),
    };
    while out.received < expected {
        // Everything already buffered first: no timers per notification.
        while out.received < expected {
            match conn.try_frame()? {
                Some(f) => take(f, out, &mut progress)?,
                None => break,
            }
        }
        if out.received >= expected {
            break;
        }
        let limit = ctx.stall.saturating_sub(progress.elapsed());
        if limit.is_zero() {
            return Err(format!(
                "stall: {} of {expected} notifications, none for {:.1}s",
                out.received,
                ctx.stall.as_secs_f64()
            ));
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_ping) => {
                conn.push_ping()?;
                conn.flush().await?;
                next_ping += every;
            }
            frame = conn.next_frame(limit) => take(frame?, out, &mut progress)?,
        }
    }
    Ok(())
}

pub async fn watches(args: &Args) -> Result<Report, String> {
    let stall = args.stall();
    let addrs = args.addrs();
    let pids = &args.server_pid;
    let conns = args.conns;
    let nodes = usize::try_from(args.count / conns as u64)
        .map_err(|_| "--count is too large".to_string())?;
    let settle_for = Duration::from_secs_f64(args.settle_secs);

    // The setter: creates the nodes now, sets them later.
    let mut setter = Conn::open(&addrs[0], args.session_timeout_ms, CONNECT_DEADLINE).await?;
    let mut keep = KeepAlive::new(&setter, stall);
    ensure(&mut setter, stall, ROOT, Bytes::new()).await?;
    let parent = run_parent(
        &format!("watches-{}", args.watch_kind.name()),
        setter.session_id,
    );
    ensure(&mut setter, stall, &parent, Bytes::new()).await?;
    let ctx = Arc::new(WatchCtx {
        parent,
        nodes,
        kind: args.watch_kind,
        pipeline: args.pipeline,
        stall,
        epoch: Instant::now(),
        sent_ns: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
        watching: AtomicUsize::new(0),
        failed_early: AtomicUsize::new(0),
    });
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let t = Instant::now();
    let created = pipelined(
        &mut setter,
        nodes,
        args.pipeline,
        stall,
        |i| {
            Request::Create(CreateRequest {
                path: ctx.node(i),
                data: Some(value.clone()),
                acl: Acl::open_unsafe(),
                flags: CreateMode::Persistent.code(),
            })
        },
        |_| {},
    )
    .await?;
    keep.touched();
    if created.error_total() > 0 {
        return Err(format!(
            "creating {nodes} nodes: error replies {:?}",
            created.errors
        ));
    }
    let create_s = t.elapsed().as_secs_f64();

    // The watching sessions, --open-concurrency handshakes at a time.
    let (phase_tx, phase_rx) = watch::channel(OPEN);
    let gate = Arc::new(Semaphore::new(args.open_concurrency));
    let gate_all =
        u32::try_from(args.open_concurrency).map_err(|_| "--open-concurrency is too large")?;
    let mut tasks: Vec<JoinHandle<WatcherOut>> = Vec::with_capacity(conns);
    let t = Instant::now();
    for idx in 0..conns {
        let permit = keep
            .during(&mut setter, gate.clone().acquire_owned())
            .await?
            .map_err(|_| "open gate closed".to_string())?;
        tasks.push(tokio::spawn(watcher(
            idx,
            addrs[idx % addrs.len()].clone(),
            args.session_timeout_ms,
            ctx.clone(),
            permit,
            phase_rx.clone(),
        )));
    }
    drop(
        keep.during(&mut setter, gate.acquire_many(gate_all))
            .await?
            .map_err(|_| "open gate closed".to_string())?,
    );
    let open_s = t.elapsed().as_secs_f64();

    keep.sleep(&mut setter, settle_for).await?;
    let rss_before = procfs::rss_kib_sum(pids);
    let mntr_before = mntr_value(&addrs[0], "zk_watch_count").await;

    // Every watcher watches every node.
    let server0 = procfs::cpu_us_sum(pids);
    let t = Instant::now();
    phase_tx.send_replace(WATCH);
    let all_set = keep
        .during(
            &mut setter,
            wait_until(
                || {
                    ctx.watching.load(Ordering::Acquire) + ctx.failed_early.load(Ordering::Acquire)
                        >= conns
                },
                PHASE_LIMIT,
            ),
        )
        .await?;
    if !all_set {
        return Err(format!(
            "the watches were not all set within {}s",
            PHASE_LIMIT.as_secs()
        ));
    }
    let watch_s = t.elapsed().as_secs_f64();
    let watch_cpu = cpu_delta(pids, server0, None).server_us;
    let watchers = ctx.watching.load(Ordering::Acquire);
    keep.sleep(&mut setter, settle_for).await?;
    let rss_watched = procfs::rss_kib_sum(pids);
    let mntr_watched = mntr_value(&addrs[0], "zk_watch_count").await;

    // Trigger: one setData per node from the setter.
    phase_tx.send_replace(TRIGGER);
    let server0 = procfs::cpu_us_sum(pids);
    let client0 = procfs::cpu_us(None);
    let t0 = Instant::now();
    let sets = pipelined(
        &mut setter,
        nodes,
        args.pipeline,
        stall,
        |i| {
            Request::SetData(SetDataRequest {
                path: ctx.node(i),
                data: Some(value.clone()),
                version: -1,
            })
        },
        |i| ctx.sent_ns[i].store(ns(ctx.epoch.elapsed()) + 1, Ordering::Release),
    )
    .await?;
    keep.touched();
    let sets_s = t0.elapsed().as_secs_f64();

    // Every watcher finishes (all its notifications, or an error).
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    let mut outs: Vec<WatcherOut> = Vec::with_capacity(conns);
    let mut lost_tasks: Vec<String> = Vec::new();
    let joined = keep
        .during(&mut setter, async {
            for (idx, t) in tasks.drain(..).enumerate() {
                let abort = t.abort_handle();
                match tokio::time::timeout_at(deadline, t).await {
                    Ok(Ok(out)) => outs.push(out),
                    Ok(Err(e)) => lost_tasks.push(format!("watcher {idx}: task {e}")),
                    Err(_) => {
                        abort.abort();
                        lost_tasks.push(format!("watcher {idx}: not done after the deadline"));
                    }
                }
            }
        })
        .await;
    joined?;
    let cpu = cpu_delta(pids, server0, client0);
    let rss_triggered = procfs::rss_kib_sum(pids);

    // Close every session.
    phase_tx.send_replace(STOP);
    let mut closers = Vec::new();
    for out in &mut outs {
        if let Some(mut conn) = out.conn.take() {
            closers.push(tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    CLOSE_LIMIT,
                    conn.call(Request::CloseSession(Empty {}), stall),
                )
                .await;
            }));
        }
    }
    for c in closers {
        let _ = c.await;
    }
    let _ = tokio::time::timeout(
        CLOSE_LIMIT,
        setter.call(Request::CloseSession(Empty {}), stall),
    )
    .await;

    // Totals.
    let mut set = Stats::new();
    let mut delay = Stats::new();
    let (mut received, mut unexpected) = (0u64, 0u64);
    let mut last: Option<Instant> = None;
    let mut conn_errors: Vec<String> = lost_tasks;
    for out in outs {
        set.merge(out.set);
        delay.merge(out.delay);
        received += out.received;
        unexpected += out.unexpected;
        last = last.max(out.last);
        if let Some(e) = out.error {
            conn_errors.push(e);
        }
    }
    let watches_set = set.ok;
    let expected = watches_set;
    let wall_s = last.map(|l| l.duration_since(t0).as_secs_f64());
    let rate = wall_s.and_then(|w| (w > 0.0).then(|| received as f64 / w));
    let per_watch = per_item(rss_before, rss_watched, watches_set);
    let per_n = |us: Option<u64>, n: u64| us.and_then(|t| (n > 0).then(|| t as f64 / n as f64));
    let errors = set.error_total() + sets.error_total();
    let json = format!(
        concat!(
            "{{\"op\":\"watches\",\"kind\":{},\"label\":{},\"addr\":{},\"conns\":{},",
            "\"nodes\":{},\"watches\":{},\"watchers\":{},\"pipeline\":{},\"value_size\":{},",
            "\"create_s\":{:.3},\"open_s\":{:.3},\"watch_s\":{:.3},\"watches_per_sec\":{:.1},",
            "\"server_cpu_us_per_watch\":{},\"rss_before_kb\":{},\"rss_watched_kb\":{},",
            "\"rss_triggered_kb\":{},\"bytes_per_watch\":{},\"mntr_watch_count_before\":{},",
            "\"mntr_watch_count\":{},\"sets_s\":{:.3},\"notify_wall_s\":{},\"notifications\":{},",
            "\"expected\":{},\"notifications_per_sec\":{},\"notify_delay\":{},",
            "\"unexpected_events\":{},\"server_cpu_us_per_notification\":{},",
            "\"client_cpu_us_per_notification\":{},\"errors\":{},\"conn_errors\":{},",
            "\"first_conn_error\":{}}}"
        ),
        json_str(args.watch_kind.name()),
        json_str(&args.label),
        json_str(&args.addr),
        conns,
        nodes,
        watches_set,
        watchers,
        args.pipeline,
        args.value_size,
        create_s,
        open_s,
        watch_s,
        if watch_s > 0.0 {
            watches_set as f64 / watch_s
        } else {
            0.0
        },
        opt(per_n(watch_cpu, watches_set)),
        json_opt(rss_before),
        json_opt(rss_watched),
        json_opt(rss_triggered),
        opt(per_watch),
        json_opt(mntr_before),
        json_opt(mntr_watched),
        sets_s,
        opt(wall_s),
        received,
        expected,
        opt(rate),
        lat_json(&delay),
        unexpected,
        opt(per_n(cpu.server_us, received)),
        opt(per_n(cpu.client_us, received)),
        errors,
        conn_errors.len(),
        conn_errors
            .first()
            .map_or_else(|| "null".to_string(), |e| json_str(e)),
    );
    let mut human = format!(
        "watches {} ({}): {watches_set} watches ({conns} sessions × {nodes} nodes) set in \
         {watch_s:.1}s; RSS {} -> {} = {} B/watch (mntr watch count {} -> {}); {nodes} \
         setData in {sets_s:.2}s, {received}/{expected} notifications in {} = {}/s, delay {}; \
         errors {errors}, connection errors {}",
        args.addr,
        args.watch_kind.name(),
        mib(rss_before),
        mib(rss_watched),
        per_watch.map_or_else(|| "?".to_string(), |b| format!("{b:.0}")),
        json_opt(mntr_before),
        json_opt(mntr_watched),
        wall_s.map_or_else(|| "?".to_string(), |w| format!("{w:.2}s")),
        rate.map_or_else(|| "?".to_string(), |r| format!("{r:.0}")),
        lat_human(&delay),
        conn_errors.len(),
    );
    for e in conn_errors.iter().take(5) {
        let _ = write!(human, "\n  connection error: {e}");
    }
    let failed = errors > 0
        || !conn_errors.is_empty()
        || unexpected > 0
        || watches_set == 0
        || received != expected
        || watchers != conns;
    Ok(Report {
        json,
        human,
        failed,
    })
}
