//! `corral-bench`: a load generator that speaks the raw ZooKeeper client
//! protocol (through the `jute` crate) so Corral and Apache ZooKeeper can be
//! measured with exactly the same client.
//!
//! Each connection is one session. Up to `--pipeline` requests are kept in
//! flight per connection; ZooKeeper answers a session's requests in xid order,
//! so the oldest outstanding request is always the one being answered. Writes
//! are batched: after every read, all complete replies are processed and the
//! freed slots are refilled with a single `write`.
//!
//! The result is one JSON line on stdout; a human summary goes to stderr. The
//! exit status is 1 when any request failed (server error code, protocol
//! violation, lost connection or stall) and 2 when the run could not start.

mod conn;
mod procfs;
mod report;
mod scale;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// getData of a node per connection (pre-created, `--value-size` bytes).
    Get,
    /// setData (version -1) of a node per connection: durable writes.
    Set,
    /// create of persistent sequential nodes under a per-run parent.
    Create,
    /// get and set on a node per connection; `--write-percent` of them are sets.
    Mixed,
    /// One connection, one getData at a time: the synchronous read latency.
    LatencyGet,
    /// One connection, one create at a time: the synchronous write latency.
    LatencyCreate,
    /// Create exactly `--count` nodes as fast as possible, no warm-up, no time limit.
    Load,
    /// Poll `ruok` every millisecond until `imok`; prints the wall-clock time of the answer.
    WaitRuok,
    /// Hold `--count` idle, pinging sessions: server RSS per session, and a probe session's
    /// getData latency before and while they are held.
    Sessions,
    /// `--conns` sessions each watch `--count`/`--conns` nodes (`--watch-kind`): server RSS per
    /// watch, then one setData per node and the time until every notification arrived.
    Watches,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Create => "create",
            Op::Mixed => "mixed",
            Op::LatencyGet => "latency-get",
            Op::LatencyCreate => "latency-create",
            Op::Load => "load",
            Op::WaitRuok => "wait-ruok",
            Op::Sessions => "sessions",
            Op::Watches => "watches",
        }
    }
}

/// How `--op watches` watches each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchKind {
    /// getData with watch=true: a one-shot data watch.
    Data,
    /// addWatch (op 106) mode PERSISTENT on the node.
    Persistent,
    /// addWatch (op 106) mode PERSISTENT_RECURSIVE on the node.
    Recursive,
}

impl WatchKind {
    pub fn name(self) -> &'static str {
        match self {
            WatchKind::Data => "data",
            WatchKind::Persistent => "persistent",
            WatchKind::Recursive => "recursive",
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Args {
    /// Server address, or several separated by commas (the nodes of a cluster): connection i
    /// goes to address i mod N, so the sessions are spread evenly. The set-up session (which
    /// creates the run's parent node) and the latency-* ops use the first address; wait-ruok
    /// waits for every address in turn.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub addr: String,
    /// Workload.
    #[arg(long, value_enum)]
    pub op: Op,
    /// Sessions (TCP connections). Forced to 1 by the latency-* ops. For watches: the
    /// watching sessions.
    #[arg(long, default_value_t = 32)]
    pub conns: usize,
    /// Requests in flight per connection. Forced to 1 by the latency-* ops.
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// Measured seconds (after the warm-up). For wait-ruok: how long to keep trying. For
    /// sessions: how long the sessions are held once all are open.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Warm-up seconds: the same load, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Bytes of node data for get/set/create/load.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Percent of setData in --op mixed.
    #[arg(long, default_value_t = 10)]
    pub write_percent: u32,
    /// Nodes to create in --op load; sessions to hold in --op sessions; watches to set in
    /// --op watches (on --count / --conns nodes, each watched by every session).
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// sessions/watches: handshakes in flight at once while opening sessions (keeps the
    /// server's accept backlog, 50 on ZooKeeper, from overflowing).
    #[arg(long, default_value_t = 32)]
    pub open_concurrency: usize,
    /// sessions: synchronous getData requests of the probe session, before and while held.
    #[arg(long, default_value_t = 1000)]
    pub probe_requests: usize,
    /// sessions/watches: seconds to wait before reading the server's RSS.
    #[arg(long, default_value_t = 2.0)]
    pub settle_secs: f64,
    /// watches: how each session watches each node.
    #[arg(long, value_enum, default_value_t = WatchKind::Data)]
    pub watch_kind: WatchKind,
    /// Server pid(s), comma-separated for a cluster: reports their summed CPU time
    /// (utime+stime from /proc/PID/stat) per measured request.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Load-generator threads (1 = single-threaded runtime; the server needs the other core).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Requested session timeout, ms.
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: i32,
    /// A connection with requests in flight and no reply for this long is a stall (an error).
    #[arg(long, default_value_t = 10.0)]
    pub stall_secs: f64,
    /// Free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    pub label: String,
}

impl Args {
    fn normalized(mut self) -> Result<Self, String> {
        if matches!(self.op, Op::LatencyGet | Op::LatencyCreate) {
            self.conns = 1;
            self.pipeline = 1;
        }
        if self.conns == 0 || self.pipeline == 0 || self.threads == 0 {
            return Err("--conns, --pipeline and --threads must be at least 1".into());
        }
        if !(self.secs.is_finite() && self.secs > 0.0) {
            return Err("--secs must be positive".into());
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0) {
            return Err("--warmup must not be negative".into());
        }
        if !(self.stall_secs.is_finite() && self.stall_secs > 0.0) {
            return Err("--stall-secs must be positive".into());
        }
        if self.addrs().is_empty() {
            return Err("--addr names no address".into());
        }
        if matches!(self.op, Op::Sessions | Op::Watches) {
            if self.count == 0 || self.open_concurrency == 0 || self.probe_requests == 0 {
                return Err(
                    "--count, --open-concurrency and --probe-requests must be at least 1".into(),
                );
            }
            if self.op == Op::Watches && self.count < self.conns as u64 {
                return Err("--count must be at least --conns (one node per session)".into());
            }
            if !(self.settle_secs.is_finite() && self.settle_secs >= 0.0) {
                return Err("--settle-secs must not be negative".into());
            }
            if self.session_timeout_ms <= 0 {
                return Err("--session-timeout-ms must be positive".into());
            }
        }
        if self.write_percent > 100 {
            return Err("--write-percent is at most 100".into());
        }
        // Leave room for the rest of the frame under jute.maxbuffer.
        if self.value_size > jute::DEFAULT_MAX_FRAME - 4096 {
            return Err("--value-size is larger than jute.maxbuffer allows".into());
        }
        Ok(self)
    }

    /// The addresses of --addr, in order (empty entries dropped).
    pub fn addrs(&self) -> Vec<String> {
        self.addr
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect()
    }

    pub fn stall(&self) -> Duration {
        Duration::from_secs_f64(self.stall_secs)
    }
}

fn main() -> ExitCode {
    let args = match Args::parse().normalized() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("corral-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("corral-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(async {
        match args.op {
            Op::WaitRuok => workload::wait_ruok(&args).await,
            Op::Sessions => scale::sessions(&args).await,
            Op::Watches => scale::watches(&args).await,
            _ => workload::run(&args).await,
        }
    });
    match outcome {
        Ok(report) => {
            println!("{}", report.json);
            eprintln!("{}", report.human);
            if report.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            println!(
                "{{\"op\":{},\"label\":{},\"fatal\":{}}}",
                report::json_str(args.op.name()),
                report::json_str(&args.label),
                report::json_str(&e)
            );
            eprintln!("corral-bench: {e}");
            ExitCode::from(2)
        }
    }
}
