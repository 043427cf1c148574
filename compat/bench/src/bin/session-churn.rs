//! `session-churn`: open and close many sessions in rounds and print the
//! server's resident memory after each round, to show whether per-session
//! state (or the allocator) keeps memory after the sessions are gone.
//!
//! Every session: handshake, an ephemeral create, an exists with a watch on
//! it, a getData, then closeSession, and the connection is dropped. Sessions
//! run `--batch` at a time so the client stays under its file-descriptor limit.
//! Loopback only, a fixed number of rounds, and every wait has a deadline.
//!
//! With `--flood N`, first one client sends N getData requests of a
//! `--flood-value-size` node without reading a reply, then disconnects: RSS is
//! printed while the replies are queued and after the connection is gone.
//!
//! Usually run through `compat/bench/session-churn.sh`, which starts the
//! release binary with `--max-client-cnxns 0`.

#[path = "../conn.rs"]
#[allow(dead_code)]
mod conn;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use conn::{Conn, frame_xid, is_reserved};
use jute::{Acl, CreateMode, CreateRequest, Empty, ExistsRequest, GetDataRequest, Request};

#[derive(Debug, Parser)]
#[command(about = "Open and close sessions in rounds; print the server's RSS after each")]
struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:2181")]
    addr: SocketAddr,
    /// Server pid, for VmRSS from /proc/PID/status.
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 8)]
    rounds: u32,
    /// Sessions opened and closed per round.
    #[arg(long, default_value_t = 10_000)]
    sessions: u32,
    /// Sessions open at once.
    #[arg(long, default_value_t = 1_000)]
    batch: u32,
    /// Wait after each round before reading RSS (lets closes finish).
    #[arg(long, default_value_t = 2.0)]
    settle_secs: f64,
    /// mntr keys printed after each round (when the server answers mntr).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "zk_num_alive_connections,zk_global_sessions,zk_watch_count,zk_corral_connection_table,zk_corral_session_table,zk_corral_sessions_tracked,zk_corral_requests_timed"
    )]
    mntr_keys: Vec<String>,
    /// Before the rounds: one client sends this many getData requests
    /// without reading, then disconnects (0: no flood).
    #[arg(long, default_value_t = 0)]
    flood: u32,
    /// Bytes of the node the flood reads.
    #[arg(long, default_value_t = 10_000)]
    flood_value_size: usize,
}

const STALL: Duration = Duration::from_secs(30);

/// One session's whole life; the connection closes when `conn` drops.
async fn one_session(addr: String, n: u64) -> Result<(), String> {
    let mut conn = Conn::open(&addr, 30_000, STALL).await?;
    let path = format!("/churn-{:x}-{n}", conn.session_id);
    conn.push(Request::Create(CreateRequest {
        path: path.clone(),
        data: Some(bytes::Bytes::from_static(b"x")),
        acl: Acl::open_unsafe(),
        flags: CreateMode::Ephemeral.code(),
    }))?;
    conn.push(Request::Exists(ExistsRequest {
        path: path.clone(),
        watch: true,
    }))?;
    conn.push(Request::GetData(GetDataRequest {
        path: "/".into(),
        watch: false,
    }))?;
    let close = conn.push(Request::CloseSession(Empty {}))?;
    conn.flush().await?;
    loop {
        let frame = conn.next_frame(STALL).await?;
        let xid = frame_xid(&frame)?;
        if xid == close {
            return Ok(());
        }
        if !is_reserved(xid) && xid > close {
            return Err(format!("reply xid {xid} after closeSession"));
        }
    }
}

/// One client that never reads: the server queues every reply. Returns once
/// everything is sent and the server had `settle` to read it, with the
/// connection still open (dropping the result closes it).
async fn flood(addr: String, n: u32, value_size: usize, settle: Duration) -> Result<Conn, String> {
    let mut conn = Conn::open(&addr, 30_000, STALL).await?;
    let path = "/churn-flood".to_string();
    let created = conn
        .call(
            Request::Create(CreateRequest {
                path: path.clone(),
                data: Some(bytes::Bytes::from(vec![b'f'; value_size])),
                acl: Acl::open_unsafe(),
                flags: CreateMode::Ephemeral.code(),
            }),
            STALL,
        )
        .await?;
    if created.header.err != 0 {
        return Err(format!("create {path}: error {}", created.header.err));
    }
    let mut sent = 0u32;
    let send_all = async {
        while sent < n {
            for _ in 0..1024.min(n - sent) {
                conn.push(Request::GetData(GetDataRequest {
                    path: path.clone(),
                    watch: false,
                }))?;
                sent += 1;
            }
            conn.flush().await?;
        }
        Ok::<(), String>(())
    };
    // A server with backpressure stops reading: that ends the flood early.
    if tokio::time::timeout(STALL, send_all).await.is_err() {
        println!("flood    the server stopped reading after about {sent} requests");
    }
    tokio::time::sleep(settle).await;
    Ok(conn)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mntr(addr: SocketAddr) -> String {
    let ask = || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"mntr")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    ask().unwrap_or_default()
}

/// `  key=value` for each of `keys` that mntr answers.
fn mntr_keys(addr: SocketAddr, keys: &[String]) -> String {
    let m = mntr(addr);
    let mut out = String::new();
    for key in keys {
        if let Some(v) = m.lines().find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k == key).then(|| v.trim().to_string())
        }) {
            out.push_str(&format!("  {key}={v}"));
        }
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!("session-churn: loopback addresses only");
        return ExitCode::from(2);
    }
    if args.batch == 0 || args.sessions == 0 {
        eprintln!("session-churn: --batch and --sessions must be at least 1");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("session-churn: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(start) = rss_kib(args.server_pid) else {
        eprintln!("session-churn: no VmRSS for pid {}", args.server_pid);
        return ExitCode::from(2);
    };
    println!("start    rss {:7.1} MiB", start as f64 / 1024.0);
    let addr = args.addr.to_string();
    let settle = Duration::from_secs_f64(args.settle_secs.max(0.0));
    if args.flood > 0 {
        // Give the server time to read the whole flood and queue its replies.
        let wait = settle + Duration::from_secs(5);
        match rt.block_on(flood(addr.clone(), args.flood, args.flood_value_size, wait)) {
            Ok(conn) => {
                let peak = rss_kib(args.server_pid).unwrap_or(0);
                println!(
                    "flood    rss {:7.1} MiB  ({} getData of {} B unread)",
                    peak as f64 / 1024.0,
                    args.flood,
                    args.flood_value_size
                );
                drop(conn);
                // An allocator may give memory back over time (decay), not at once.
                let t0 = Instant::now();
                for at in [2, 5, 10, 20] {
                    let at = Duration::from_secs(at);
                    std::thread::sleep(at.saturating_sub(t0.elapsed()));
                    let after = rss_kib(args.server_pid).unwrap_or(0);
                    println!(
                        "flood    rss {:7.1} MiB  ({}s after the client disconnected){}",
                        after as f64 / 1024.0,
                        at.as_secs(),
                        mntr_keys(args.addr, &args.mntr_keys)
                    );
                }
            }
            Err(e) => {
                eprintln!("session-churn: flood failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut failed = 0u64;
    let mut n = 0u64;
    for round in 1..=args.rounds {
        let t0 = Instant::now();
        let mut left = args.sessions;
        while left > 0 {
            let k = left.min(args.batch);
            left -= k;
            let results = rt.block_on(async {
                let tasks: Vec<_> = (0..k)
                    .map(|_| {
                        n += 1;
                        tokio::spawn(one_session(addr.clone(), n))
                    })
                    .collect();
                let mut out = Vec::with_capacity(tasks.len());
                for t in tasks {
                    out.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
                }
                out
            });
            for r in results {
                if let Err(e) = r {
                    failed += 1;
                    if failed <= 5 {
                        eprintln!("session-churn: session failed: {e}");
                    }
                }
            }
        }
        let took = t0.elapsed();
        std::thread::sleep(settle);
        let rss = rss_kib(args.server_pid).unwrap_or(0);
        let extra = mntr_keys(args.addr, &args.mntr_keys);
        println!(
            "round {round}  rss {:7.1} MiB  ({} sessions in {:.1}s){extra}",
            rss as f64 / 1024.0,
            args.sessions,
            took.as_secs_f64()
        );
    }
    if failed > 0 {
        eprintln!("session-churn: {failed} sessions failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
