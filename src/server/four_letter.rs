//! Four-letter words, in ZooKeeper's formats so existing health checks and
//! scrapers read them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::Shared;

/// The ZooKeeper version Corral answers as (kazoo and others parse it).
pub const ZK_VERSION: &str = "3.9.3";

pub fn answer(shared: &Shared, word: &str) -> String {
    if !shared.config.allows(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".to_string(),
        "isro" => "rw".to_string(),
        "srvr" => server_stats(shared, false),
        "stat" => server_stats(shared, true),
        "mntr" => monitor(shared),
        "envi" => environment(shared),
        // The rest of the set comes with the operator tooling.
        other => format!("{other} is not available in this version of Corral.\n"),
    }
}

fn version_line() -> String {
    format!(
        "{ZK_VERSION}-corral-{}, built on unknown",
        env!("CARGO_PKG_VERSION")
    )
}

fn server_stats(shared: &Shared, with_clients: bool) -> String {
    let state = shared.node.lock();
    let (min, avg, max) = shared.stats.latency_ms();
    let mut out = String::new();
    let _ = writeln!(out, "Zookeeper version: {}", version_line());
    if with_clients {
        let _ = writeln!(out, "Clients:");
        let mut peers: Vec<&str> = state.conns.values().map(|c| c.peer.as_str()).collect();
        peers.sort_unstable();
        for p in peers {
            let _ = writeln!(out, " /{p}[1](queued=0,recved=0,sent=0)");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Latency min/avg/max: {min:.0}/{avg:.4}/{max:.0}");
    let _ = writeln!(
        out,
        "Received: {}",
        shared.stats.received.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Sent: {}", shared.stats.sent.load(Ordering::Relaxed));
    let _ = writeln!(out, "Connections: {}", state.conns.len());
    let _ = writeln!(
        out,
        "Outstanding: {}",
        state
            .conns
            .values()
            .map(|c| c.inflight.pending())
            .sum::<usize>()
    );
    let _ = writeln!(out, "Zxid: {:#x}", state.tree.last_zxid());
    let _ = writeln!(out, "Mode: standalone");
    let _ = writeln!(out, "Node count: {}", state.tree.node_count());
    out
}

fn monitor(shared: &Shared) -> String {
    let state = shared.node.lock();
    let (min, avg, max) = shared.stats.latency_ms();
    let raft = shared.consensus.metrics();
    let idx = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let lines: Vec<(&str, String)> = vec![
        ("zk_version", version_line()),
        ("zk_server_state", "standalone".into()),
        ("zk_avg_latency", format!("{avg:.4}")),
        ("zk_max_latency", format!("{max:.0}")),
        ("zk_min_latency", format!("{min:.0}")),
        (
            "zk_packets_received",
            shared.stats.received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "zk_packets_sent",
            shared.stats.sent.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_num_alive_connections", state.conns.len().to_string()),
        (
            "zk_outstanding_requests",
            state
                .conns
                .values()
                .map(|c| c.inflight.pending())
                .sum::<usize>()
                .to_string(),
        ),
        ("zk_znode_count", state.tree.node_count().to_string()),
        ("zk_watch_count", state.watches.count().to_string()),
        (
            "zk_ephemerals_count",
            state.tree.ephemeral_count().to_string(),
        ),
        (
            "zk_approximate_data_size",
            state.tree.approximate_data_size().to_string(),
        ),
        ("zk_open_file_descriptor_count", open_fds().to_string()),
        ("zk_max_file_descriptor_count", max_fds().to_string()),
        (
            "zk_uptime",
            shared.started.elapsed().as_millis().to_string(),
        ),
        (
            "zk_global_sessions",
            state.tree.sessions().count().to_string(),
        ),
        ("corral_raft_term", raft.term.to_string()),
        (
            "corral_raft_commit_index",
            idx(raft.commit_index).to_string(),
        ),
        (
            "corral_raft_applied_index",
            idx(raft.applied_index).to_string(),
        ),
        (
            "corral_raft_last_log_index",
            idx(raft.last_log_index).to_string(),
        ),
        (
            "corral_raft_snapshot_index",
            idx(raft.snapshot_index).to_string(),
        ),
    ];
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k}\t{v}");
    }
    out
}

fn environment(shared: &Shared) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut out = String::from("Environment:\n");
    let _ = writeln!(out, "zookeeper.version={}", version_line());
    let _ = writeln!(out, "host.name={}", host.trim());
    let _ = writeln!(out, "corral.version={}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "os.name={}", std::env::consts::OS);
    let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
    let _ = writeln!(
        out,
        "user.dir={}",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    );
    let _ = writeln!(out, "data.dir={}", shared.config.data_dir.display());
    out
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
