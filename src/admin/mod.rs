//! The admin HTTP server: ZooKeeper's AdminServer commands at
//! `/commands/<name>` (JSON with ZooKeeper's field names), `/metrics` in
//! Prometheus text format, `/ready` and `/health` for orchestrators, and
//! `POST /cluster/transfer-leader/<id>` (`corral cluster transfer-leader`).
//! It listens apart from the client port; if it cannot bind, the server
//! logs an error and keeps serving clients, as ZooKeeper does when its
//! AdminServer fails to start.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tracing::warn;

use crate::server::Shared;
use crate::server::four_letter as fl;

/// The commands served, in the order /commands lists them.
pub const COMMANDS: &[&str] = &[
    "configuration",
    "connection_stat_reset",
    "connections",
    "dirs",
    "dump",
    "environment",
    "get_trace_mask",
    "hash",
    "is_read_only",
    "last_snapshot",
    "leader",
    "monitor",
    "ruok",
    "server_stats",
    "stat_reset",
    "stats",
    "voting_view",
    "watch_summary",
    "watches",
    "watches_by_path",
];

/// Serve the full admin API, or only /metrics (ZooKeeper's separate
/// Prometheus port, metricsProvider.httpPort).
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, metrics_only: bool) {
    let mut app = Router::new().route("/metrics", get(metrics));
    if !metrics_only {
        app = app
            .route("/commands", get(list))
            .route("/commands/", get(list))
            .route("/commands/{name}", get(command))
            .route("/ready", get(ready))
            .route("/health", get(health))
            .route("/cluster/transfer-leader/{id}", post(transfer_leader));
    }
    let app = app.with_state(shared.clone());
    let stop = shared.shutdown_token();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        warn!(error = %e, "admin server stopped");
    }
}

/// Hands leadership to voter `id`; answers once it leads. POST only: it
/// changes the cluster, so a stray GET (a browser, a crawler) cannot.
async fn transfer_leader(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    use crate::consensus::TransferError as E;
    let (status, body) = match shared.consensus.transfer_leader(id).await {
        Ok(()) => (StatusCode::OK, json!({"leader": id, "error": null})),
        Err(e) => {
            let status = match e {
                E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                E::NotVoter(_) | E::Behind(_) | E::Unreachable(_) | E::NotElected { .. } => {
                    StatusCode::CONFLICT
                }
            };
            let leader = shared.consensus.metrics().leader;
            (status, json!({"leader": leader, "error": e.to_string()}))
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn list() -> Html<String> {
    // ZooKeeper answers /commands with a page of links, one per command.
    let mut out = String::new();
    for c in COMMANDS {
        out.push_str(&format!("<a href=\"/commands/{c}\">{c}</a>\n<br/>\n"));
    }
    Html(out)
}

async fn health() -> &'static str {
    "imok\n"
}

/// Log entries apply may trail commit by and still count as caught up.
const CAUGHT_UP_SLACK: u64 = 100;

/// Ready when this node serves clients: it is in touch with a leader (so
/// writes can commit) and has applied what was committed (so its reads are
/// not far behind), and it is not still catching up after joining empty.
async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let m = shared.consensus.metrics();
    if !shared.serving() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no leader in touch\n").into_response();
    }
    // Under load apply always trails commit by a few entries; far behind is catching up.
    if m.applied_index.unwrap_or(0) + CAUGHT_UP_SLACK < m.commit_index.unwrap_or(0) {
        return (StatusCode::SERVICE_UNAVAILABLE, "catching up\n").into_response();
    }
    match shared.consensus.catching_up() {
        None => {}
        Some(None) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "joined with an empty data directory: waiting for a leader's log\n",
            )
                .into_response();
        }
        Some(Some(to)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("catching up to log index {to}\n"),
            )
                .into_response();
        }
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn command(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    // The handlers take the node lock briefly; that is a blocking mutex,
    // so run them off the async workers' hot path.
    let body = match tokio::task::spawn_blocking(move || run(&shared, &name)).await {
        Ok(v) => v,
        Err(e) => json!({"command": null, "error": format!("internal error: {e}")}),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}

/// One command's JSON, with ZooKeeper's trailing "command" and "error".
pub fn run(shared: &Shared, name: &str) -> Value {
    let mut out = Map::new();
    let error: Option<String> = match name {
        "ruok" => None,
        "monitor" => {
            for (k, v) in fl::monitor(shared) {
                out.insert(k.to_string(), v);
            }
            for (k, v) in fl::peer_lags(shared) {
                out.insert(k, json!(v));
            }
            None
        }
        "stats" | "server_stats" => {
            server_stats(shared, &mut out);
            if name == "stats" {
                out.insert("connections".into(), connections(shared, false));
                out.insert("secure_connections".into(), json!([]));
            }
            None
        }
        "connections" => {
            out.insert("connections".into(), connections(shared, true));
            out.insert("secure_connections".into(), json!([]));
            None
        }
        "connection_stat_reset" => {
            shared.stats.reset_conns();
            None
        }
        "stat_reset" => {
            shared.stats.reset();
            None
        }
        "configuration" => {
            for (k, v) in shared.config.effective() {
                out.insert(snake(k), typed(&v));
            }
            None
        }
        "environment" => {
            for (k, v) in fl::environment(shared) {
                out.insert(k.to_string(), json!(v));
            }
            None
        }
        "dirs" => {
            let size = crate::config::dir_size(&shared.config.data_dir);
            out.insert("datadir_size".into(), json!(size));
            out.insert("logdir_size".into(), json!(size));
            None
        }
        "is_read_only" => {
            out.insert("read_only".into(), json!(shared.read_only()));
            None
        }
        "watches" => {
            let m: Map<String, Value> = fl::watches_by_session(shared)
                .into_iter()
                .map(|(s, paths)| (s.to_string(), json!(paths)))
                .collect();
            out.insert("session_id_to_watched_paths".into(), Value::Object(m));
            None
        }
        "watches_by_path" => {
            let m: Map<String, Value> = fl::watches_by_path(shared)
                .into_iter()
                .map(|(p, sessions)| (p, json!(sessions)))
                .collect();
            out.insert("path_to_session_ids".into(), Value::Object(m));
            None
        }
        "watch_summary" => {
            let (conns, paths, total) = fl::watch_summary(shared);
            out.insert("num_connections".into(), json!(conns));
            out.insert("num_paths".into(), json!(paths));
            out.insert("num_total_watches".into(), json!(total));
            None
        }
        "dump" => {
            let expiry: Map<String, Value> = fl::sessions_by_expiry(shared)
                .into_iter()
                .map(|(at, s)| (at.to_string(), json!(s)))
                .collect();
            let eph: Map<String, Value> = fl::ephemerals(shared)
                .into_iter()
                .map(|(s, p)| (s.to_string(), json!(p)))
                .collect();
            out.insert("expiry_time_to_session_ids".into(), Value::Object(expiry));
            out.insert("session_id_to_ephemeral_paths".into(), Value::Object(eph));
            None
        }
        "leader" => {
            let m = shared.consensus.metrics();
            out.insert("is_leader".into(), json!(m.is_leader));
            out.insert("leader_id".into(), json!(m.leader));
            // ZooKeeper gives the leader's address: its client address from
            // the member list, else its peer host (ours when we lead alone).
            let ip = m.leader.and_then(|id| {
                if m.is_leader && shared.config.cluster.is_single() {
                    return Some(shared.config.client_addr.ip());
                }
                let member = shared.config.cluster.members.get(&id)?;
                let client = member.client_addr.filter(|a| !a.ip().is_unspecified());
                Some(client.map_or(member.peer_addr.ip(), |a| a.ip()))
            });
            if let Some(ip) = ip {
                out.insert("leader_ip".into(), json!(ip.to_string()));
            }
            None
        }
        "voting_view" => {
            // A standalone server has no voting view; ZooKeeper answers {} too.
            // A member lists the participants as their server lines say.
            let view: Map<String, Value> = if shared.config.cluster.is_single() {
                Map::new()
            } else {
                let m = shared.consensus.membership();
                crate::server::reconfig::render(&m)
                    .lines()
                    .filter(|l| l.ends_with(":participant") || l.contains(":participant;"))
                    .filter_map(|l| {
                        let (key, value) = l.split_once('=')?;
                        Some((key.strip_prefix("server.")?.to_string(), json!(value)))
                    })
                    .collect()
            };
            out.insert("current_config".into(), Value::Object(view));
            None
        }
        "last_snapshot" => {
            // Corral's snapshots are indexed by Raft log position, not zxid:
            // report that, under Corral's own name, rather than a made-up zxid.
            let m = shared.consensus.metrics();
            out.insert("corral_raft_snapshot_index".into(), json!(m.snapshot_index));
            None
        }
        "hash" => {
            let (zxid, digest) = fl::digest(shared);
            out.insert("digests".into(), json!([{"zxid": zxid, "digest": digest}]));
            None
        }
        "get_trace_mask" => {
            out.insert(
                "tracemask".into(),
                json!(fl::TRACE_MASK.load(Ordering::Relaxed)),
            );
            None
        }
        other => Some(format!("Unknown command: {other}")),
    };
    out.insert("command".into(), json!(name));
    out.insert("error".into(), json!(error));
    Value::Object(out)
}

fn server_stats(shared: &Shared, out: &mut Map<String, Value>) {
    let (min, avg, max) = shared.stats.latency_ms();
    let size = crate::config::dir_size(&shared.config.data_dir);
    let (zxid, nodes) = {
        let state = shared.node.lock();
        (state.tree.last_zxid(), state.tree.node_count())
    };
    let outstanding: usize = {
        let state = shared.node.lock();
        state.conns.values().map(|c| c.inflight.pending()).sum()
    };
    out.insert("version".into(), json!(fl::version_line()));
    out.insert("read_only".into(), json!(false));
    out.insert(
        "server_stats".into(),
        json!({
            "packets_sent": shared.stats.sent.load(Ordering::Relaxed),
            "packets_received": shared.stats.received.load(Ordering::Relaxed),
            "data_dir_size": size,
            "log_dir_size": size,
            "provider_null": false,
            "server_state": fl::server_state(shared),
            "last_processed_zxid": zxid,
            "outstanding_requests": outstanding,
            "avg_latency": (avg * 10_000.0).round() / 10_000.0,
            "max_latency": max,
            "min_latency": min,
            "num_alive_client_connections": shared.stats.conns().len(),
            "uptime": u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    );
    out.insert("node_count".into(), json!(nodes));
}

fn connections(shared: &Shared, full: bool) -> Value {
    let list: Vec<Value> = fl::connections(shared)
        .into_iter()
        .map(|(peer, s)| {
            let mut c = json!({
                "remote_socket_address": peer.to_string(),
                "interest_ops": u8::from(s.session != 0),
                "outstanding_requests": s.queued,
                "packets_received": s.recved,
                "packets_sent": s.sent,
            });
            if full && s.session != 0 {
                let extra = json!({
                    "session_id": s.session,
                    "last_operation": s.last_op,
                    "established": s.established_ms,
                    "session_timeout": s.timeout,
                    "last_cxid": s.last_cxid,
                    "last_zxid": s.last_zxid,
                    "last_response_time": s.last_response_ms,
                    "last_latency": s.last_latency_ms,
                    "min_latency": s.latency.min,
                    "avg_latency": s.latency.avg as u64,
                    "max_latency": s.latency.max,
                });
                if let (Some(c), Value::Object(e)) = (c.as_object_mut(), extra) {
                    c.extend(e);
                }
            }
            c
        })
        .collect();
    Value::Array(list)
}

/// zoo.cfg's camelCase keys become ZooKeeper's JSON snake_case
/// (clientPort → client_port); dotted keys stay as they are.
fn snake(key: &str) -> String {
    if key.contains('.') {
        return key.to_string();
    }
    let mut out = String::new();
    for ch in key.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Numbers and booleans as JSON numbers and booleans, the rest as strings.
fn typed(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        json!(n)
    } else if let Ok(b) = v.parse::<bool>() {
        json!(b)
    } else {
        json!(v)
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = match tokio::task::spawn_blocking(move || render_metrics(&shared)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(Debug)]
pub struct MetricsError(String);

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<prometheus::Error> for MetricsError {
    fn from(e: prometheus::Error) -> Self {
        MetricsError(e.to_string())
    }
}

/// The Prometheus text page. State (znodes, sessions, raft indexes) is read
/// at scrape time into a fresh registry; request histograms and counters
/// live in `Stats` and are gathered alongside. Names are those of
/// ZooKeeper's Prometheus provider where it has one, `corral_*` otherwise.
pub fn render_metrics(shared: &Shared) -> Result<String, MetricsError> {
    let now = Registry::new();
    let gauge = |name: &str, help: &str, v: i64| -> Result<(), MetricsError> {
        let g = IntGauge::new(name, help)?;
        g.set(v);
        now.register(Box::new(g))?;
        Ok(())
    };
    let counter = |name: &str, help: &str, v: u64| -> Result<(), MetricsError> {
        let c = IntCounter::new(name, help)?;
        c.inc_by(v);
        now.register(Box::new(c))?;
        Ok(())
    };
    let i = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let u = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (nodes, eph, data, sessions, watches, zxid, outstanding) = {
        let s = shared.node.lock();
        (
            s.tree.node_count(),
            s.tree.ephemeral_count(),
            s.tree.approximate_data_size(),
            s.tree.session_count(),
            s.watches.count(),
            s.tree.last_zxid(),
            s.conns
                .values()
                .map(|c| c.inflight.pending())
                .sum::<usize>(),
        )
    };
    let st = &shared.stats;
    gauge("znode_count", "Number of znodes", i(nodes))?;
    gauge("ephemerals_count", "Number of ephemeral znodes", i(eph))?;
    gauge(
        "approximate_data_size",
        "Bytes of znode data and paths",
        u(data),
    )?;
    gauge("global_sessions", "Open sessions", i(sessions))?;
    gauge("watch_count", "Watches registered", i(watches))?;
    gauge(
        "num_alive_connections",
        "Open client connections",
        i(st.conns().len()),
    )?;
    gauge(
        "outstanding_requests",
        "Writes in the log awaiting their reply",
        i(outstanding),
    )?;
    gauge(
        "uptime",
        "Milliseconds since the server started",
        i64::try_from(shared.started.elapsed().as_millis()).unwrap_or(i64::MAX),
    )?;
    gauge("last_zxid", "Zxid of the last applied change", zxid)?;
    // ZooKeeper exports these as gauges because srst resets them.
    gauge(
        "packets_received",
        "Packets received (reset by srst)",
        u(st.received.load(Ordering::Relaxed)),
    )?;
    gauge(
        "packets_sent",
        "Packets sent (reset by srst)",
        u(st.sent.load(Ordering::Relaxed)),
    )?;
    counter(
        "bytes_received_count",
        "Bytes read from client connections",
        st.bytes_in.load(Ordering::Relaxed),
    )?;
    counter(
        "corral_bytes_sent_total",
        "Bytes written to client connections",
        st.bytes_out.load(Ordering::Relaxed),
    )?;
    for (name, help, n) in shared.table_sizes() {
        gauge(name, help, i(n))?;
    }
    let raft = shared.consensus.metrics();
    let idx = |v: Option<u64>| v.map_or(-1, u);
    gauge("corral_raft_term", "Current Raft term", u(raft.term))?;
    gauge(
        "corral_raft_commit_index",
        "Highest committed log index",
        idx(raft.commit_index),
    )?;
    gauge(
        "corral_raft_applied_index",
        "Highest applied log index",
        idx(raft.applied_index),
    )?;
    gauge(
        "corral_raft_last_log_index",
        "Last log index",
        idx(raft.last_log_index),
    )?;
    gauge(
        "corral_raft_snapshot_index",
        "Log index of the last snapshot",
        idx(raft.snapshot_index),
    )?;
    gauge(
        "corral_raft_is_leader",
        "1 if this node leads",
        i64::from(raft.is_leader),
    )?;
    counter(
        "corral_raft_batches_proposed_total",
        "Raft entries proposed (each a batch of commands)",
        raft.batches_proposed,
    )?;
    counter(
        "corral_raft_commands_proposed_total",
        "Commands proposed",
        raft.cmds_proposed,
    )?;
    counter(
        "corral_leader_changes_total",
        "Times a leader became known (the first included)",
        raft.leader_changes,
    )?;
    gauge(
        "corral_last_election_ms",
        "How long the last election left this node without a leader",
        u(raft.last_election_ms),
    )?;
    // On the leader: per member, the log entries it lacks.
    let lag = IntGaugeVec::new(
        Opts::new(
            "corral_peer_lag",
            "Log entries a member lacks (on the leader)",
        ),
        &["peer"],
    )?;
    for (id, n) in &raft.peer_lag {
        lag.with_label_values(&[id.to_string().as_str()]).set(u(*n));
    }
    now.register(Box::new(lag))?;
    let rtt = prometheus::GaugeVec::new(
        Opts::new(
            "corral_peer_heartbeat_rtt_seconds",
            "The last heartbeat round trip to a member (on the leader)",
        ),
        &["peer"],
    )?;
    for (id, d) in &raft.peer_rtt {
        rtt.with_label_values(&[id.to_string().as_str()])
            .set(d.as_secs_f64());
    }
    now.register(Box::new(rtt))?;
    let mut families = now.gather();
    families.extend(crate::metrics::REGISTRY.gather());
    if let Some(p) = &st.prom {
        families.extend(p.registry.gather());
    }
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut buf = Vec::new();
    TextEncoder::new().encode(&families, &mut buf)?;
    String::from_utf8(buf).map_err(|e| MetricsError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_become_zookeeper_json_names() {
        assert_eq!(snake("clientPort"), "client_port");
        assert_eq!(snake("maxClientCnxns"), "max_client_cnxns");
        assert_eq!(snake("4lw.commands.whitelist"), "4lw.commands.whitelist");
        assert_eq!(typed("2000"), json!(2000));
        assert_eq!(typed("true"), json!(true));
        assert_eq!(typed("/tmp/x"), json!("/tmp/x"));
    }
}
