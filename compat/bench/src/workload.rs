//! The workloads: set-up, warm-up, the measured window, and `ruok` polling.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use jute::{
    Acl, CreateMode, CreateRequest, Empty, ErrorCode, GetDataRequest, Reply, Request,
    SetDataRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;

use crate::conn::{Conn, frame_xid, is_reserved};
use crate::report::{AddrStats, Cpu, Report, Stats, build, json_str};
use crate::{Args, Op, procfs};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Root of every run's nodes; each run gets a fresh child.
pub(crate) const ROOT: &str = "/corral-bench";
pub(crate) const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

struct Ctx {
    op: Op,
    pipeline: usize,
    write_percent: u64,
    stall: Duration,
    parent: String,
    value: Bytes,
    phase: AtomicU8,
    /// --op load: creates issued so far, and how many to issue.
    issued: AtomicU64,
    count: u64,
}

impl Ctx {
    fn key(&self, idx: usize) -> String {
        format!("{}/k{idx}", self.parent)
    }

    fn get(&self, path: &str) -> Request {
        Request::GetData(GetDataRequest {
            path: path.to_string(),
            watch: false,
        })
    }

    fn set(&self, path: &str) -> Request {
        Request::SetData(SetDataRequest {
            path: path.to_string(),
            data: Some(self.value.clone()),
            version: -1,
        })
    }

    fn create(&self) -> Request {
        Request::Create(CreateRequest {
            path: format!("{}/n", self.parent),
            data: Some(self.value.clone()),
            acl: Acl::open_unsafe(),
            flags: CreateMode::PersistentSequential.code(),
        })
    }

    /// The `n`-th request of a connection whose own node is `key`.
    fn request(&self, key: &str, n: u64) -> Request {
        match self.op {
            Op::Get | Op::LatencyGet => self.get(key),
            Op::Set => self.set(key),
            Op::Create | Op::LatencyCreate | Op::Load => self.create(),
            Op::Mixed => {
                // Spread the writes evenly: request n is a set when floor(n·p/100) steps.
                let p = self.write_percent;
                if (n + 1) * p / 100 != n * p / 100 {
                    self.set(key)
                } else {
                    self.get(key)
                }
            }
            Op::WaitRuok | Op::Sessions | Op::Watches => self.get(key),
        }
    }

    fn needs_key(&self) -> bool {
        matches!(self.op, Op::Get | Op::Set | Op::Mixed | Op::LatencyGet)
    }
}

/// Create `path`; NodeExists is fine when `may_exist`.
pub(crate) async fn ensure(
    conn: &mut Conn,
    ctx_stall: Duration,
    path: &str,
    data: Bytes,
) -> Result<(), String> {
    let reply = conn
        .call(
            Request::Create(CreateRequest {
                path: path.to_string(),
                data: Some(data),
                acl: Acl::open_unsafe(),
                flags: CreateMode::Persistent.code(),
            }),
            ctx_stall,
        )
        .await?;
    match reply.header.err {
        0 => Ok(()),
        e if e == ErrorCode::NodeExists.code() && path == ROOT => Ok(()),
        e => Err(format!("create {path}: error {e}")),
    }
}

pub async fn run(args: &Args) -> Result<Report, String> {
    let stall = args.stall();
    let addrs = args.addrs();
    let mut setup = Conn::open(&addrs[0], args.session_timeout_ms, CONNECT_DEADLINE).await?;
    ensure(&mut setup, stall, ROOT, Bytes::new()).await?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let parent = format!(
        "{ROOT}/{}-{}-{stamp}-{:x}",
        args.op.name(),
        std::process::id(),
        setup.session_id
    );
    ensure(&mut setup, stall, &parent, Bytes::new()).await?;
    let _ = setup.call(Request::CloseSession(Empty {}), stall).await;
    drop(setup);

    let ctx = Arc::new(Ctx {
        op: args.op,
        pipeline: args.pipeline,
        write_percent: u64::from(args.write_percent),
        stall,
        parent,
        value: Bytes::from(vec![b'x'; args.value_size]),
        phase: AtomicU8::new(if args.op == Op::Load { MEASURE } else { WARMUP }),
        issued: AtomicU64::new(0),
        count: args.count,
    });
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let mut workers = Vec::with_capacity(args.conns);
    for idx in 0..args.conns {
        let ctx = ctx.clone();
        let barrier = barrier.clone();
        // Connection idx goes to address idx mod N: the sessions are spread evenly.
        let addr = addrs[idx % addrs.len()].clone();
        let timeout = args.session_timeout_ms;
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            let key = ctx.key(idx);
            let opened = async {
                let mut conn = Conn::open(&addr, timeout, CONNECT_DEADLINE).await?;
                if ctx.needs_key() {
                    ensure(&mut conn, ctx.stall, &key, ctx.value.clone()).await?;
                }
                Ok::<Conn, String>(conn)
            }
            .await;
            // Everyone reaches the barrier, failed or not, so the run cannot hang here.
            barrier.wait().await;
            match opened {
                Ok(mut conn) => {
                    if let Err(e) = drive(&mut conn, &ctx, &key, &mut stats).await {
                        stats.conn_errors.push(format!("connection {idx}: {e}"));
                    } else {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            conn.call(Request::CloseSession(Empty {}), ctx.stall),
                        )
                        .await;
                    }
                }
                Err(e) => stats
                    .conn_errors
                    .push(format!("connection {idx} set-up: {e}")),
            }
            stats
        }));
    }
    barrier.wait().await;
    let mut per_addr: Vec<AddrStats> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| AddrStats {
            addr: a.clone(),
            // connections i, i+N, i+2N, ... of 0..conns
            conns: (args.conns + addrs.len() - 1 - i) / addrs.len(),
            stats: Stats::new(),
        })
        .collect();

    if args.op == Op::Load {
        let server0 = procfs::cpu_us_sum(&args.server_pid);
        let client0 = procfs::cpu_us(None);
        let t0 = Instant::now();
        join(&mut workers, &mut per_addr, None).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = cpu_delta(&args.server_pid, server0, client0);
        return Ok(build(args, &per_addr, elapsed, cpu));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let server0 = procfs::cpu_us_sum(&args.server_pid);
    let client0 = procfs::cpu_us(None);
    ctx.phase.store(MEASURE, Ordering::Release);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    ctx.phase.store(STOP, Ordering::Release);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_delta(&args.server_pid, server0, client0);
    join(
        &mut workers,
        &mut per_addr,
        Some(stall + Duration::from_secs(5)),
    )
    .await;
    Ok(build(args, &per_addr, elapsed, cpu))
}

pub(crate) fn cpu_delta(pids: &[u32], server0: Option<u64>, client0: Option<u64>) -> Cpu {
    let delta = |before: Option<u64>, now: Option<u64>| Some(now?.saturating_sub(before?));
    Cpu {
        server_us: delta(server0, procfs::cpu_us_sum(pids)),
        client_us: delta(client0, procfs::cpu_us(None)),
    }
}

/// Collect every connection's counters into the entry of the address it used (idx mod N).
async fn join(
    workers: &mut Vec<tokio::task::JoinHandle<Stats>>,
    per_addr: &mut [AddrStats],
    limit: Option<Duration>,
) {
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    let n = per_addr.len();
    for (idx, w) in workers.drain(..).enumerate() {
        let into = &mut per_addr[idx % n].stats;
        let abort = w.abort_handle();
        let res = match deadline {
            Some(d) => match tokio::time::timeout_at(d, w).await {
                Ok(r) => r,
                Err(_) => {
                    abort.abort();
                    into.conn_errors
                        .push(format!("connection {idx}: did not finish draining"));
                    continue;
                }
            },
            None => w.await,
        };
        match res {
            Ok(s) => into.merge(s),
            Err(e) => into.conn_errors.push(format!("connection {idx}: task {e}")),
        }
    }
}

/// Keep `pipeline` requests in flight until the phase is STOP (or, for load,
/// until `count` creates were issued), then drain what is outstanding.
async fn drive(conn: &mut Conn, ctx: &Ctx, key: &str, stats: &mut Stats) -> Result<(), String> {
    // (xid, op code, sent at)
    let mut inflight: VecDeque<(i32, i32, Instant)> = VecDeque::with_capacity(ctx.pipeline);
    let mut n: u64 = 0;
    let mut exhausted = false;
    loop {
        if ctx.phase.load(Ordering::Acquire) != STOP && !exhausted {
            while inflight.len() < ctx.pipeline {
                if ctx.op == Op::Load && ctx.issued.fetch_add(1, Ordering::Relaxed) >= ctx.count {
                    exhausted = true;
                    break;
                }
                let req = ctx.request(key, n);
                n += 1;
                let op = req.op_code();
                let xid = conn.push(req)?;
                inflight.push_back((xid, op, Instant::now()));
            }
        }
        if inflight.is_empty() {
            return Ok(());
        }
        conn.flush().await?;
        let mut frame = Some(conn.next_frame(ctx.stall).await?);
        let measuring = ctx.phase.load(Ordering::Acquire) == MEASURE;
        while let Some(f) = frame {
            settle(&f, &mut inflight, measuring, stats)?;
            frame = conn.try_frame()?;
        }
    }
}

/// Match one reply frame with the oldest outstanding request and count it.
pub(crate) fn settle(
    frame: &Bytes,
    inflight: &mut VecDeque<(i32, i32, Instant)>,
    measuring: bool,
    stats: &mut Stats,
) -> Result<(), String> {
    let got = frame_xid(frame)?;
    if is_reserved(got) {
        return Ok(()); // a ping answer or a notification: not ours to count
    }
    let Some((want, op, sent)) = inflight.pop_front() else {
        return Err(format!("reply xid {got} with nothing outstanding"));
    };
    if got != want {
        return Err(format!("reply xid {got}, expected {want} (out of order)"));
    }
    let reply = Reply::decode_frame(frame, op).map_err(|e| format!("bad reply: {e:?}"))?;
    if reply.header.err != 0 {
        *stats.errors.entry(reply.header.err).or_default() += 1;
    } else if measuring {
        stats.ok += 1;
        stats.record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(())
}

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Poll `ruok` every millisecond until a server answers `imok`, then poll a
/// session handshake plus getData("/") until that succeeds: ZooKeeper answers
/// `imok` before its database is loaded and refuses sessions until then.
/// With several addresses, each is waited for in turn (the times are those of the last one).
pub async fn wait_ruok(args: &Args) -> Result<Report, String> {
    let t0 = Instant::now();
    let limit = Duration::from_secs_f64(args.secs);
    let mut attempts: u64 = 0;
    let addrs = args.addrs();
    let mut imok_ns = 0;
    for addr in &addrs {
        imok_ns = loop {
            attempts += 1;
            if ruok_once(addr).await {
                break epoch_ns();
            }
            if t0.elapsed() > limit {
                return Err(format!(
                    "{addr} did not answer imok within {:.1}s",
                    args.secs
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
    }
    let imok_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut ready_ns = 0;
    for addr in &addrs {
        ready_ns = loop {
            attempts += 1;
            let attempt = async {
                let mut conn =
                    Conn::open(addr, args.session_timeout_ms, Duration::from_secs(1)).await?;
                let reply = conn
                    .call(
                        Request::GetData(GetDataRequest {
                            path: "/".into(),
                            watch: false,
                        }),
                        Duration::from_secs(1),
                    )
                    .await?;
                let _ = conn
                    .call(Request::CloseSession(Empty {}), Duration::from_secs(1))
                    .await;
                match reply.header.err {
                    0 => Ok(()),
                    e => Err(format!("getData(/) answered error {e}")),
                }
            };
            let last_error = match attempt.await {
                Ok(()) => break epoch_ns(),
                Err(e) => e,
            };
            if t0.elapsed() > limit {
                return Err(format!(
                    "{addr} answered imok but no session within {:.1}s: {last_error}",
                    args.secs
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
    }
    let ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(Report {
        json: format!(
            concat!(
                "{{\"op\":\"wait-ruok\",\"label\":{},\"addr\":{},\"imok_epoch_ns\":{},",
                "\"ready_epoch_ns\":{},\"imok_waited_ms\":{:.1},\"ready_waited_ms\":{:.1},",
                "\"attempts\":{}}}"
            ),
            json_str(&args.label),
            json_str(&args.addr),
            imok_ns,
            ready_ns,
            imok_ms,
            ready_ms,
            attempts
        ),
        human: format!(
            "{} answered imok after {imok_ms:.1} ms and served a session after {ready_ms:.1} ms",
            args.addr
        ),
        failed: false,
    })
}

async fn ruok_once(addr: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"ruok").await.ok()?;
        let mut buf = Vec::with_capacity(8);
        s.read_to_end(&mut buf).await.ok()?;
        Some(buf == b"imok")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}
