//! Per-session and per-connection state goes when its sessions and
//! connections go, as an operator sees it: mntr, cons, the admin API and
//! /metrics all fall back to an idle server's numbers after thousands of
//! sessions came and went (closed, expired, or dropped mid-request).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Connect, Raw, Server, four_letter, free_loopback_port, http_get};
use jute::{
    Acl, AddWatchRequest, CreateMode, CreateRequest, Empty, ExistsRequest, GetDataRequest, OpCode,
    Request,
};

const SESSIONS: usize = 2000;
const AT_ONCE: usize = 200;

/// The tables behind the per-session and per-connection state (see
/// `Shared::table_sizes`), as mntr keys.
const TABLES: [&str; 8] = [
    "zk_corral_connection_table",
    "zk_corral_session_table",
    "zk_corral_handshake_table",
    "zk_corral_sessions_tracked",
    "zk_corral_sessions_closing",
    "zk_corral_watching_connections",
    "zk_corral_client_ips",
    "zk_corral_requests_timed",
];

fn mntr(addr: SocketAddr) -> HashMap<String, i64> {
    let text = four_letter(addr, "mntr").expect("mntr");
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

/// How a session ends.
#[derive(Clone, Copy)]
enum End {
    /// closeSession, then the connection goes.
    Close,
    /// The client just disconnects; the session expires.
    Expire,
    /// The client disconnects with requests in flight, replies unread.
    MidFlight,
}

async fn one_session(addr: SocketAddr, n: usize, end: End) {
    let connect = Connect {
        // The smallest the server grants (2 ticks): expiry comes quickly,
        // yet a 200-session batch on a loaded 2-core machine still gets its
        // replies within it (at tick 100, 200 ms sessions expired mid-write
        // under a load average of 8).
        timeout: 500,
        ..Connect::default()
    };
    let (raw, _, _) = Raw::handshake(addr, connect).await;
    let mut raw = raw.expect("session");
    let path = format!("/gone-{n}");
    let created = raw
        .call(Request::Create(CreateRequest {
            path: path.clone(),
            data: Some(bytes::Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            flags: CreateMode::Ephemeral.code(),
        }))
        .await;
    assert_eq!(created.header.err, 0, "create {path}");
    raw.call(Request::Exists(ExistsRequest {
        path: "/absent".into(),
        watch: true,
    }))
    .await;
    raw.call(Request::AddWatch(AddWatchRequest {
        path: "/gone-root".into(),
        mode: 1,
    }))
    .await;
    // A ping comes back with xid -2 whatever xid it was sent with.
    raw.send(Request::Ping(Empty {})).await;
    let pong = raw.next(OpCode::Ping).await.expect("ping reply");
    assert_eq!(pong.header.xid, jute::xid::PING);
    match end {
        End::Close => {
            raw.call(Request::CloseSession(Empty {})).await;
        }
        End::Expire => {}
        End::MidFlight => {
            for _ in 0..20 {
                raw.send(Request::GetData(GetDataRequest {
                    path: path.clone(),
                    watch: true,
                }))
                .await;
            }
        }
    }
}

/// mntr and /metrics.
fn snapshot(server: &Server, admin: SocketAddr) -> (HashMap<String, i64>, String) {
    let m = mntr(server.addr);
    let (status, _, body) = http_get(admin, "/metrics").expect("/metrics");
    assert_eq!(status, 200);
    (m, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_loopback_port())
        .parse()
        .expect("addr");
    let server = Server::start(
        dir.path(),
        &[
            "--max-client-cnxns",
            "0",
            "--tick-time",
            "250",
            "--admin-addr",
            &admin.to_string(),
        ],
    );
    let addr = server.addr;
    for key in TABLES {
        assert!(mntr(addr).contains_key(key), "mntr lacks {key}");
    }

    // While sessions are open the tables count them: a count that stays 0
    // would make the checks below pass for nothing.
    let mut held = Vec::new();
    for n in 0..AT_ONCE {
        let mut raw = Raw::connect(addr).await;
        raw.call(Request::Exists(ExistsRequest {
            path: format!("/held-{n}"),
            watch: true,
        }))
        .await;
        held.push(raw);
    }
    let (m, body) = snapshot(&server, admin);
    for key in [
        "zk_corral_connection_table",
        "zk_corral_session_table",
        "zk_corral_sessions_tracked",
        "zk_corral_watching_connections",
    ] {
        assert!(
            m[key] >= AT_ONCE as i64,
            "{key} = {} with sessions open",
            m[key]
        );
    }
    assert!(metric(&body, "corral_session_table").unwrap_or(0.0) >= AT_ONCE as f64);
    for raw in &mut held {
        raw.call(Request::CloseSession(Empty {})).await;
    }
    drop(held);

    // Many sessions come and go, AT_ONCE at a time.
    let started = Instant::now();
    for batch in 0..SESSIONS / AT_ONCE {
        let tasks: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let n = batch * AT_ONCE + i;
                let end = match n % 4 {
                    0 => End::Expire,
                    1 => End::MidFlight,
                    _ => End::Close,
                };
                tokio::spawn(one_session(addr, n, end))
            })
            .collect();
        for t in tasks {
            t.await.expect("session task");
        }
    }
    eprintln!("{SESSIONS} sessions in {:?}", started.elapsed());

    // Expired sessions need their timeout and a housekeeping tick.
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = |m: &HashMap<String, i64>| {
        m["zk_global_sessions"] == 0
            && m["zk_num_alive_connections"] == 1
            && TABLES
                .iter()
                .all(|k| m[*k] == i64::from(*k == "zk_corral_client_ips"))
    };
    let mut m = mntr(addr);
    while !settled(&m) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        m = mntr(addr);
    }

    // mntr: only the connection asking is left (it counts in
    // num_alive_connections and in the per-IP table, as in ZooKeeper).
    assert_eq!(m["zk_num_alive_connections"], 1, "{m:?}");
    assert_eq!(m["zk_global_sessions"], 0, "{m:?}");
    assert_eq!(m["zk_ephemerals_count"], 0, "{m:?}");
    assert_eq!(m["zk_watch_count"], 0, "{m:?}");
    assert_eq!(m["zk_outstanding_requests"], 0, "{m:?}");
    for key in TABLES {
        let idle = i64::from(key == "zk_corral_client_ips");
        assert_eq!(m[key], idle, "{key} after every session went: {m:?}");
    }

    // cons lists only itself.
    let cons = four_letter(addr, "cons").expect("cons");
    let listed: Vec<&str> = cons.lines().filter(|l| l.starts_with(" /")).collect();
    assert_eq!(listed.len(), 1, "{cons}");

    // The admin API and /metrics hold no client connection, so they see
    // none (once the four-letter-word connections above have finished
    // closing: the client sees EOF a moment before the server forgets them).
    let deadline = Instant::now() + Duration::from_secs(5);
    let (json, body) = loop {
        let (status, _, body) = http_get(admin, "/metrics").expect("/metrics");
        assert_eq!(status, 200);
        let (status, _, json) = http_get(admin, "/commands/connections").expect("connections");
        assert_eq!(status, 200);
        if metric(&body, "num_alive_connections") == Some(0.0) || Instant::now() > deadline {
            break (json, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["connections"].as_array().map(Vec::len), Some(0), "{json}");
    assert_eq!(metric(&body, "num_alive_connections"), Some(0.0));
    assert_eq!(metric(&body, "global_sessions"), Some(0.0));
    for key in TABLES {
        let name = key.trim_start_matches("zk_");
        assert_eq!(metric(&body, name), Some(0.0), "{name} in /metrics");
    }
}
