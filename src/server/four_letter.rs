//! Four-letter words, in ZooKeeper's formats so existing health checks and
//! scrapers read them (compared with Apache ZooKeeper 3.8's output; the
//! references are in compat/ops/reference/). The admin API reuses the
//! gathering functions here, so both surfaces report the same numbers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use super::stats::ConnSnapshot;

/// The ZooKeeper version Corral answers as (kazoo and others parse it).
pub const ZK_VERSION: &str = "3.9.3";

/// `stmk`/`gtmk`: ZooKeeper's default trace mask. Corral has no trace
/// logging of its own (it uses RUST_LOG), so the mask is only stored and
/// reported back, which is what tools that set and read it check.
pub static TRACE_MASK: AtomicI64 = AtomicI64::new(306);

/// The answer to a word; `arg` is stmk's 8-byte mask.
pub fn answer(shared: &Shared, word: &str, arg: Option<i64>) -> String {
    if !shared.config.allows(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".to_string(),
        // ZooKeeper: "null" when no server runs (a member electing, without
        // read-only mode), "ro" from its read-only server.
        "isro" => if shared.read_only() {
            "ro"
        } else if shared.serving() {
            "rw"
        } else {
            "null"
        }
        .to_string(),
        "srvr" => server_stats(shared, false),
        "stat" => server_stats(shared, true),
        "mntr" => {
            let mut out = String::new();
            for (k, v) in monitor(shared) {
                let _ = writeln!(out, "zk_{k}\t{}", plain(&v));
            }
            for (k, v) in peer_lags(shared) {
                let _ = writeln!(out, "zk_{k}\t{v}");
            }
            out
        }
        "conf" => {
            let mut out = String::new();
            for (k, v) in shared.config.effective() {
                let _ = writeln!(out, "{k}={v}");
            }
            quorum_conf(shared, &mut out);
            out
        }
        "envi" => {
            let mut out = String::from("Environment:\n");
            for (k, v) in environment(shared) {
                let _ = writeln!(out, "{k}={v}");
            }
            out
        }
        "cons" => {
            let mut out = String::new();
            for (peer, s) in connections(shared) {
                let _ = writeln!(out, " /{peer}{}", cons_detail(&s));
            }
            out.push('\n');
            out
        }
        "crst" => {
            shared.stats.reset_conns();
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            shared.stats.reset();
            "Server stats reset.\n".to_string()
        }
        "dump" => dump(shared),
        "wchs" => {
            let (conns, paths, total) = watch_summary(shared);
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        "wchc" => {
            let mut out = String::new();
            for (session, paths) in watches_by_session(shared) {
                let _ = writeln!(out, "{session:#x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
            out
        }
        "wchp" => {
            let mut out = String::new();
            for (path, sessions) in watches_by_path(shared) {
                let _ = writeln!(out, "{path}");
                for s in sessions {
                    let _ = writeln!(out, "\t{s:#x}");
                }
            }
            out.push('\n');
            out
        }
        "dirs" => {
            let size = crate::config::dir_size(&shared.config.data_dir);
            format!("datadir_size: {size}\nlogdir_size: {size}\n")
        }
        "gtmk" => TRACE_MASK.load(Ordering::Relaxed).to_string(),
        // ZooKeeper reads the mask only if it came with the word, and says
        // nothing (and changes nothing) when it did not.
        "stmk" => match arg {
            Some(mask) => {
                TRACE_MASK.store(mask, Ordering::Relaxed);
                mask.to_string()
            }
            None => String::new(),
        },
        "hash" => {
            let (zxid, digest) = digest(shared);
            format!("{zxid:x}: {digest}\n")
        }
        other => format!("{other} is not executed because it is not in the whitelist.\n"),
    }
}

/// A JSON value as mntr prints it: strings bare, numbers as they are.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn version_line() -> String {
    format!(
        "{ZK_VERSION}-corral-{}, built on unknown",
        env!("CARGO_PKG_VERSION")
    )
}

/// ZooKeeper rounds average latency to 4 decimals and prints it with Java's
/// Double.toString: "0.0", "1.25", "2.1429".
pub fn java_avg(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    let s = format!("{r}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// A member's `conf` ends as ZooKeeper's quorum servers' does: its limits,
/// ports and role, then `membership:` and the members as /zookeeper/config
/// shows them.
fn quorum_conf(shared: &Shared, out: &mut String) {
    let cluster = &shared.config.cluster;
    if cluster.is_single() {
        return;
    }
    let c = &shared.config;
    let me = cluster.members.get(&cluster.my_id);
    let ports = |at: usize| {
        me.and_then(|m| {
            m.spec
                .split(';')
                .next()?
                .rsplit(':')
                .nth(at)?
                .parse::<u16>()
                .ok()
        })
        .map_or_else(String::new, |p| p.to_string())
    };
    let _ = writeln!(
        out,
        "initLimit={}",
        c.init_limit.unwrap_or(crate::config::DEFAULT_INIT_LIMIT)
    );
    let _ = writeln!(
        out,
        "syncLimit={}",
        c.sync_limit.unwrap_or(crate::config::DEFAULT_SYNC_LIMIT)
    );
    // ZooKeeper's only election algorithm since 3.4 (fast leader election).
    let _ = writeln!(out, "electionAlg=3");
    let _ = writeln!(out, "electionPort={}", ports(0));
    let _ = writeln!(out, "quorumPort={}", ports(1));
    let observer = shared.consensus.metrics().observer;
    let _ = writeln!(out, "peerType={}", u8::from(observer));
    let _ = writeln!(out, "membership: ");
    let m = shared.consensus.membership();
    out.push_str(&super::reconfig::render(&m));
    let version = shared.node.lock().tree.config_version().unwrap_or(0);
    let _ = write!(out, "version={version:x}");
}

/// The server state ZooKeeper would report: a one-voter cluster is a
/// standalone server; a member is the leader, a follower, an observer, or (with no leader
/// in touch) "read-only" in read-only mode, else "looking", as a ZooKeeper
/// server that is electing.
pub fn server_state(shared: &Shared) -> &'static str {
    if shared.config.cluster.is_single() {
        return "standalone";
    }
    let m = shared.consensus.metrics();
    if shared.read_only() {
        "read-only"
    } else if !shared.serving() {
        "looking"
    } else if m.is_leader {
        "leader"
    } else if m.observer {
        "observer"
    } else {
        "follower"
    }
}

fn outstanding(shared: &Shared) -> usize {
    let state = shared.node.lock();
    state.conns.values().map(|c| c.inflight.pending()).sum()
}

/// Every open connection with its counters, oldest first.
pub fn connections(shared: &Shared) -> Vec<(std::net::SocketAddr, ConnSnapshot)> {
    shared
        .stats
        .conns()
        .iter()
        .map(|c| (c.peer, c.snapshot()))
        .collect()
}

fn cons_detail(s: &ConnSnapshot) -> String {
    let interest = u8::from(s.session != 0);
    if s.session == 0 {
        // Before a session, ZooKeeper prints only the packet counts.
        return format!(
            "[{interest}](queued={},recved={},sent={})",
            s.queued, s.recved, s.sent
        );
    }
    format!(
        "[{interest}](queued={},recved={},sent={},sid={:#x},lop={},est={},to={},lcxid={:#x},lzxid={:#x},lresp={},llat={},minlat={},avglat={},maxlat={})",
        s.queued,
        s.recved,
        s.sent,
        s.session,
        s.last_op,
        s.established_ms,
        s.timeout,
        s.last_cxid,
        s.last_zxid,
        s.last_response_ms,
        s.last_latency_ms,
        s.latency.min,
        // cons prints the average as a whole number of ms, as ZooKeeper does.
        s.latency.avg as u64,
        s.latency.max,
    )
}

fn server_stats(shared: &Shared, with_clients: bool) -> String {
    let (min, avg, max) = shared.stats.latency_ms();
    let conns = connections(shared);
    let mut out = String::new();
    let _ = writeln!(out, "Zookeeper version: {}", version_line());
    if with_clients {
        let _ = writeln!(out, "Clients:");
        for (peer, s) in &conns {
            let interest = u8::from(s.session != 0);
            let _ = writeln!(
                out,
                " /{peer}[{interest}](queued={},recved={},sent={})",
                s.queued, s.recved, s.sent
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Latency min/avg/max: {min}/{}/{max}", java_avg(avg));
    let _ = writeln!(
        out,
        "Received: {}",
        shared.stats.received.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Sent: {}", shared.stats.sent.load(Ordering::Relaxed));
    let _ = writeln!(out, "Connections: {}", conns.len());
    let _ = writeln!(out, "Outstanding: {}", outstanding(shared));
    let state = shared.node.lock();
    let _ = writeln!(out, "Zxid: {:#x}", state.tree.last_zxid());
    let _ = writeln!(out, "Mode: {}", server_state(shared));
    let _ = writeln!(out, "Node count: {}", state.tree.node_count());
    out
}

/// `mntr` and /commands/monitor: ZooKeeper's keys (without the zk_ prefix),
/// in ZooKeeper's order, then Corral's own. Only values Corral measures are
/// here: ZooKeeper's JVM- and pipeline-specific keys (request throttling,
/// commit processor queues, TLS, ...) have no counterpart and are left out.
/// On the leader, per other member: how many log entries it lacks, as
/// `corral_peer_lag_<id>`, and its last heartbeat round trip in
/// microseconds, as `corral_peer_rtt_us_<id>` (Corral's own; ZooKeeper has
/// no per-peer figures).
pub fn peer_lags(shared: &Shared) -> Vec<(String, u64)> {
    let raft = shared.consensus.metrics();
    let lags = raft
        .peer_lag
        .into_iter()
        .map(|(id, lag)| (format!("corral_peer_lag_{id}"), lag));
    let rtts = raft.peer_rtt.into_iter().map(|(id, rtt)| {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        (format!("corral_peer_rtt_us_{id}"), us)
    });
    lags.chain(rtts).collect()
}

pub fn monitor(shared: &Shared) -> Vec<(&'static str, Value)> {
    let stats = &shared.stats;
    let (min, avg, max) = stats.latency_ms();
    let raft = shared.consensus.metrics();
    let conns = stats.conns().len();
    let outstanding = outstanding(shared);
    let state = shared.node.lock();
    let idx = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let mut out: Vec<(&'static str, Value)> = vec![
        ("version", json!(version_line())),
        ("server_state", json!(server_state(shared))),
        ("ephemerals_count", json!(state.tree.ephemeral_count())),
        ("num_alive_connections", json!(conns)),
        ("avg_latency", json!(avg_4(avg))),
        ("outstanding_requests", json!(outstanding)),
        ("znode_count", json!(state.tree.node_count())),
        ("global_sessions", json!(state.tree.session_count())),
        ("packets_sent", json!(stats.sent.load(Ordering::Relaxed))),
        (
            "packets_received",
            json!(stats.received.load(Ordering::Relaxed)),
        ),
        ("watch_count", json!(state.watches.count())),
        ("min_latency", json!(min)),
        ("max_file_descriptor_count", json!(max_fds())),
        (
            "approximate_data_size",
            json!(state.tree.approximate_data_size()),
        ),
        ("open_file_descriptor_count", json!(open_fds())),
        // Every Corral session is global (replicated); none are local.
        ("local_sessions", json!(0)),
        (
            "uptime",
            json!(u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        ),
        ("max_latency", json!(max)),
        (
            "bytes_received_count",
            json!(stats.bytes_in.load(Ordering::Relaxed)),
        ),
        (
            "response_bytes",
            json!(stats.bytes_out.load(Ordering::Relaxed)),
        ),
    ];
    drop(state);
    for (name, lat) in [
        ("readlatency", &stats.read_latency),
        ("updatelatency", &stats.update_latency),
    ] {
        let s = lat.summary();
        let (avg_k, min_k, max_k, cnt_k, sum_k) = match name {
            "readlatency" => (
                "avg_readlatency",
                "min_readlatency",
                "max_readlatency",
                "cnt_readlatency",
                "sum_readlatency",
            ),
            _ => (
                "avg_updatelatency",
                "min_updatelatency",
                "max_updatelatency",
                "cnt_updatelatency",
                "sum_updatelatency",
            ),
        };
        out.push((avg_k, json!(avg_4(s.avg))));
        out.push((min_k, json!(s.min)));
        out.push((max_k, json!(s.max)));
        out.push((cnt_k, json!(s.count)));
        out.push((sum_k, json!(s.sum)));
    }
    // Corral's own: the Raft log behind every write.
    let log_size = match (raft.last_log_index, raft.purged_index) {
        (Some(last), Some(purged)) => last.saturating_sub(purged),
        (Some(last), None) => last + 1,
        (None, _) => 0,
    };
    out.extend([
        ("corral_raft_term", json!(raft.term)),
        ("corral_raft_commit_index", json!(idx(raft.commit_index))),
        ("corral_raft_applied_index", json!(idx(raft.applied_index))),
        (
            "corral_raft_last_log_index",
            json!(idx(raft.last_log_index)),
        ),
        ("corral_raft_log_entries", json!(log_size)),
        (
            "corral_raft_snapshot_index",
            json!(idx(raft.snapshot_index)),
        ),
        ("corral_raft_is_leader", json!(u8::from(raft.is_leader))),
        ("corral_raft_unconfirmed", json!(raft.unconfirmed)),
        ("corral_leader_changes", json!(raft.leader_changes)),
        ("corral_last_election_ms", json!(raft.last_election_ms)),
    ]);
    // ZooKeeper shows these on the leader only.
    if raft.is_leader && !shared.config.cluster.is_single() {
        out.extend([
            ("followers", json!(raft.followers)),
            ("synced_followers", json!(raft.synced_followers)),
            ("synced_observers", json!(raft.synced_observers)),
            // Corral has no learner sync queue: a lagging follower catches up
            // from the log or a snapshot through raft.
            ("pending_syncs", json!(0)),
        ]);
    }
    // The log's fsync, timed where storage makes an append durable.
    let (fsyncs, fsync_avg) = crate::metrics::fsync_summary();
    out.extend([
        ("corral_fsync_count", json!(fsyncs)),
        ("corral_fsync_avg_ms", json!(avg_4(fsync_avg))),
    ]);
    for (k, _, n) in shared.table_sizes() {
        out.push((k, json!(n)));
    }
    out
}

/// A float rounded as ZooKeeper rounds averages, kept as a JSON number.
fn avg_4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// `envi` and /commands/environment: Java's property names where Corral has
/// the same fact; the java.* and JVM memory keys have no counterpart.
pub fn environment(shared: &Shared) -> Vec<(&'static str, String)> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    // Java names the OS and arch this way; keep scripts that match on them working.
    let os = match std::env::consts::OS {
        "linux" => "Linux".to_string(),
        other => other.to_string(),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64".to_string(),
        other => other.to_string(),
    };
    let mut out = vec![
        ("zookeeper.version", version_line()),
        ("host.name", read("/proc/sys/kernel/hostname")),
        ("corral.version", env!("CARGO_PKG_VERSION").to_string()),
        ("os.name", os),
        ("os.arch", arch),
        ("os.version", read("/proc/sys/kernel/osrelease")),
    ];
    if let Ok(user) = std::env::var("USER") {
        out.push(("user.name", user));
    }
    if let Ok(home) = std::env::var("HOME") {
        out.push(("user.home", home));
    }
    out.push((
        "user.dir",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    ));
    out.push(("data.dir", shared.config.data_dir.display().to_string()));
    out
}

/// (connections with watches, paths watched, watches). Counting distinct
/// paths still visits every watch under the node lock, but borrows the paths
/// instead of copying them into the by-session and by-path maps.
pub fn watch_summary(shared: &Shared) -> (usize, usize, usize) {
    let state = shared.node.lock();
    let mut paths: HashSet<&str> = HashSet::new();
    let mut conns = 0;
    for (_, watched) in state.watches.by_conn() {
        conns += 1;
        paths.extend(watched);
    }
    (conns, paths.len(), state.watches.count())
}

/// Session id → watched paths (the kind of watch is not shown, as in ZooKeeper).
pub fn watches_by_session(shared: &Shared) -> BTreeMap<i64, BTreeSet<String>> {
    let state = shared.node.lock();
    let mut out: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (conn, watched) in state.watches.by_conn() {
        let session = state.conns.get(&conn).map_or(0, |c| c.session);
        out.entry(session)
            .or_default()
            .extend(watched.map(str::to_string));
    }
    out
}

/// Path → sessions watching it.
pub fn watches_by_path(shared: &Shared) -> BTreeMap<String, BTreeSet<i64>> {
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (session, paths) in watches_by_session(shared) {
        for p in paths {
            out.entry(p).or_default().insert(session);
        }
    }
    out
}

/// Sessions held by connections here, by when they expire (wall-clock ms),
/// counted from the last request each sent, as the session tracker does.
/// Sessions with no connection on this node have no deadline here and are
/// not listed.
pub fn sessions_by_expiry(shared: &Shared) -> BTreeMap<i64, Vec<i64>> {
    let now = Instant::now();
    let wall = super::now_ms();
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (_, s) in connections(shared) {
        if s.session == 0 {
            continue;
        }
        let deadline = s.last_heard + Duration::from_millis(u64::try_from(s.timeout).unwrap_or(0));
        let left = i64::try_from(deadline.saturating_duration_since(now).as_millis()).unwrap_or(0);
        out.entry(wall + left).or_default().push(s.session);
    }
    out
}

/// Session → its ephemeral nodes.
pub fn ephemerals(shared: &Shared) -> BTreeMap<i64, Vec<String>> {
    let state = shared.node.lock();
    state
        .tree
        .sessions()
        .filter(|(_, s)| !s.ephemerals.is_empty())
        .map(|(id, s)| (id, s.ephemerals.iter().cloned().collect()))
        .collect()
}

/// ZooKeeper's Date.toString(): "Thu Nov 26 06:54:26 UTC 2026".
fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        [usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = months[usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday} {mon} {d:02} {h:02}:{m:02}:{s:02} UTC {year}")
}

fn dump(shared: &Shared) -> String {
    let by_expiry = sessions_by_expiry(shared);
    let total: usize = by_expiry.values().map(Vec::len).sum();
    let mut out = String::from("SessionTracker dump:\n");
    let _ = writeln!(out, "Session Sets ({})/({total}):", by_expiry.len());
    for (at, sessions) in &by_expiry {
        let _ = writeln!(out, "{} expire at {}:", sessions.len(), java_date(*at));
        for s in sessions {
            let _ = writeln!(out, "\t{s:#x}");
        }
    }
    let eph = ephemerals(shared);
    let _ = writeln!(out, "ephemeral nodes dump:");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
    for (s, paths) in &eph {
        let _ = writeln!(out, "{s:#x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    let conns = connections(shared);
    let _ = writeln!(out, "Connections dump:");
    let _ = writeln!(out, "Connections Sets (1)/({}):", conns.len());
    let _ = writeln!(
        out,
        "{} expire at {}:",
        conns.len(),
        java_date(super::now_ms())
    );
    for (peer, s) in &conns {
        let _ = writeln!(out, "\tip: /{peer} sessionId: {:#x}", s.session);
    }
    out
}

/// (last zxid, digest of the tree at it), for `hash`.
pub fn digest(shared: &Shared) -> (i64, u64) {
    let state = shared.node.lock();
    (state.tree.last_zxid(), state.tree.digest())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_print_like_java_doubles() {
        assert_eq!(java_avg(0.0), "0.0");
        assert_eq!(java_avg(1.25), "1.25");
        assert_eq!(java_avg(15.0 / 7.0), "2.1429");
        assert_eq!(java_avg(3.0), "3.0");
    }

    #[test]
    fn dates_print_like_java() {
        // 2026-11-26T06:54:26Z, a Thursday (from ZooKeeper's own dump).
        assert_eq!(java_date(1_795_676_066_000), "Thu Nov 26 06:54:26 UTC 2026");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
    }
}
