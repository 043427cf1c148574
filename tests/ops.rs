//! The operator surface against the real binary: every four-letter word and
//! admin command in ZooKeeper's shapes (references from Apache ZooKeeper 3.8
//! are in compat/ops/reference/), the whitelist, /metrics read by a real
//! Prometheus text parser, and the admin server's failure mode.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, four_letter, free_loopback_port, http_get};
use serde_json::Value;
use zookeeper_client as zk;

fn start(extra: &[&str]) -> (tempfile::TempDir, Server, SocketAddr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_loopback_port())
        .parse()
        .expect("addr");
    let admin_s = admin.to_string();
    let mut args = vec!["--admin-addr", admin_s.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start(dir.path(), &args);
    (dir, server, admin)
}

/// A session with an ephemeral node and a data and a child watch on /ops
/// (the client drops a watch whose watcher is dropped, so those are kept).
struct Busy {
    _client: zk::Client,
    _watches: (zk::OneshotWatcher, zk::OneshotWatcher),
}

async fn busy_client(server: &Server) -> Busy {
    let c = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.hosts())
        .await
        .expect("connect");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create("/ops", b"", &open).await.expect("create");
    c.create("/ops/eph", b"x", &eph).await.expect("create");
    let (_, _, data) = c.get_and_watch_data("/ops").await.expect("watch");
    let (_, _, child) = c.get_and_watch_children("/ops").await.expect("watch");
    Busy {
        _client: c,
        _watches: (data, child),
    }
}

/// mntr as a map; every line must be `zk_<key>\t<value>`.
fn mntr(addr: SocketAddr) -> HashMap<String, String> {
    let text = four_letter(addr, "mntr").expect("mntr");
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or_else(|| panic!("line {l:?}"));
            assert!(k.starts_with("zk_") && !v.contains('\t'), "line {l:?}");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn is_number(v: &str) -> bool {
    v.parse::<f64>().is_ok()
}

#[tokio::test]
async fn every_four_letter_word_has_zookeepers_shape() {
    let (_d, server, _) = start(&["--four-letter-words", "*"]);
    let _c = busy_client(&server).await;
    let a = server.addr;

    assert_eq!(four_letter(a, "ruok").as_deref(), Some("imok"));
    assert_eq!(four_letter(a, "isro").as_deref(), Some("rw"));

    let srvr = four_letter(a, "srvr").unwrap();
    let keys: Vec<&str> = srvr.lines().map(|l| l.split(':').next().unwrap()).collect();
    // Same lines, same order as ZooKeeper 3.8's standalone srvr.
    assert_eq!(
        keys,
        [
            "Zookeeper version",
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ],
        "{srvr}"
    );
    let latency = srvr.lines().nth(1).unwrap().split(": ").nth(1).unwrap();
    let parts: Vec<&str> = latency.split('/').collect();
    assert!(
        parts.len() == 3 && parts[1].contains('.') && parts.iter().all(|p| is_number(p)),
        "{latency}"
    );
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");

    let stat = four_letter(a, "stat").unwrap();
    assert!(stat.contains("\nClients:\n /127.0.0.1:"), "{stat}");
    assert!(stat.contains("(queued=0,recved="), "{stat}");
    assert!(stat.contains(")\n\nLatency min/avg/max: "), "{stat}");

    let m = mntr(a);
    for key in [
        "zk_version",
        "zk_server_state",
        "zk_avg_latency",
        "zk_min_latency",
        "zk_max_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_uptime",
        "zk_global_sessions",
        "zk_corral_raft_term",
        "zk_corral_raft_commit_index",
        "zk_corral_raft_applied_index",
        "zk_corral_raft_log_entries",
        "zk_corral_raft_snapshot_index",
        "zk_corral_fsync_count",
        "zk_corral_fsync_avg_ms",
    ] {
        assert!(m.contains_key(key), "mntr lacks {key}: {m:?}");
    }
    for (k, v) in &m {
        if k != "zk_version" && k != "zk_server_state" {
            assert!(is_number(v), "{k}={v}");
        }
    }
    assert_eq!(m["zk_server_state"], "standalone");
    assert_eq!(m["zk_ephemerals_count"], "1");
    assert_eq!(m["zk_global_sessions"], "1");
    assert_eq!(m["zk_watch_count"], "2");
    assert_eq!(m["zk_znode_count"], "6");
    // The client's create/create/getData/getChildren were counted and timed.
    assert!(m["zk_packets_received"].parse::<u64>().unwrap() >= 5);
    assert!(m["zk_cnt_updatelatency"].parse::<u64>().unwrap() >= 2);
    // Every acknowledged write waited for an fsync (forceSync is on).
    assert!(m["zk_corral_fsync_count"].parse::<u64>().unwrap() >= 1);

    let conf = four_letter(a, "conf").unwrap();
    assert!(conf.lines().all(|l| l.contains('=')), "{conf}");
    assert!(
        conf.starts_with(&format!("clientPort={}\n", a.port())),
        "{conf}"
    );
    assert!(conf.contains("\ntickTime=2000\n") && conf.contains("\nmaxSessionTimeout=40000\n"));
    assert!(conf.contains("\n4lw.commands.whitelist=*\n"), "{conf}");

    let cons = four_letter(a, "cons").unwrap();
    let session_line = cons
        .lines()
        .find(|l| l.contains("sid=0x"))
        .unwrap_or_else(|| panic!("{cons}"));
    for field in [
        "[1](queued=",
        ",recved=",
        ",sent=",
        ",lop=GETC",
        ",est=",
        ",to=10000",
        ",lcxid=0x",
        ",lzxid=0x",
        ",lresp=",
        ",llat=",
        ",minlat=",
        ",avglat=",
        ",maxlat=",
    ] {
        assert!(session_line.contains(field), "{field} in {session_line}");
    }
    assert!(cons.ends_with(")\n\n"), "{cons:?}");

    let envi = four_letter(a, "envi").unwrap();
    assert!(
        envi.starts_with("Environment:\nzookeeper.version=3.9"),
        "{envi}"
    );
    assert!(envi.contains("\nos.name=Linux\n"), "{envi}");

    let dirs = four_letter(a, "dirs").unwrap();
    let lines: Vec<&str> = dirs.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with("datadir_size: ")
            && lines[1].starts_with("logdir_size: "),
        "{dirs}"
    );

    let wchs = four_letter(a, "wchs").unwrap();
    assert_eq!(wchs, "1 connections watching 1 paths\nTotal watches:2\n");
    let wchc = four_letter(a, "wchc").unwrap();
    let sid = session_line
        .split("sid=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(wchc, format!("{sid}\n\t/ops\n\n"));
    assert_eq!(
        four_letter(a, "wchp").unwrap(),
        format!("/ops\n\t{sid}\n\n")
    );

    let dump = four_letter(a, "dump").unwrap();
    assert!(
        dump.starts_with("SessionTracker dump:\nSession Sets (1)/(1):\n1 expire at "),
        "{dump}"
    );
    assert!(
        dump.contains(&format!(
            "ephemeral nodes dump:\nSessions with Ephemerals (1):\n{sid}:\n\t/ops/eph\n"
        )),
        "{dump}"
    );
    assert!(dump.contains("Connections dump:\n"), "{dump}");

    assert_eq!(four_letter(a, "gtmk").as_deref(), Some("306"));
    let hash = four_letter(a, "hash").unwrap();
    assert!(hash.ends_with('\n') && hash.contains(": "), "{hash}");

    assert_eq!(
        four_letter(a, "crst").as_deref(),
        Some("Connection stats reset.\n")
    );
    let cons = four_letter(a, "cons").unwrap();
    assert!(
        cons.contains("lop=NA") && cons.contains("lzxid=0xffffffffffffffff"),
        "{cons}"
    );
    assert_eq!(
        four_letter(a, "srst").as_deref(),
        Some("Server stats reset.\n")
    );
    let m = mntr(a);
    assert_eq!(m["zk_max_latency"], "0", "{m:?}");
}

#[tokio::test]
async fn stmk_sets_the_mask_gtmk_reads() {
    let (_d, server, _) = start(&["--four-letter-words", "ruok,gtmk,stmk"]);
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    // ZooKeeper takes the mask only when it arrives with the word.
    s.write_all(&[&b"stmk"[..], &0x1ffi64.to_be_bytes()].concat())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "511");
    assert_eq!(four_letter(server.addr, "gtmk").as_deref(), Some("511"));
}

#[tokio::test]
async fn default_whitelist_serves_health_checks_and_refuses_the_rest() {
    let (_d, server, _) = start(&[]);
    for w in [
        "ruok", "srvr", "stat", "mntr", "conf", "envi", "dirs", "isro", "wchs", "cons",
    ] {
        let out = four_letter(server.addr, w).unwrap();
        assert!(!out.contains("not executed"), "{w}: {out}");
    }
    for w in [
        "crst", "srst", "dump", "wchc", "wchp", "gtmk", "stmk", "hash",
    ] {
        assert_eq!(
            four_letter(server.addr, w),
            Some(format!(
                "{w} is not executed because it is not in the whitelist.\n"
            )),
        );
    }
}

fn get_json(admin: SocketAddr, path: &str) -> Value {
    let (status, ctype, body) = http_get(admin, path).unwrap_or_else(|| panic!("GET {path}"));
    assert_eq!(status, 200, "{path}: {body}");
    assert!(ctype.starts_with("application/json"), "{path}: {ctype}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[tokio::test]
async fn admin_commands_answer_with_zookeepers_fields() {
    let (_d, server, admin) = start(&[]);
    let _c = busy_client(&server).await;

    let c = get_json(admin, "/commands/connections");
    let conns = c["connections"].as_array().unwrap();
    let mine = conns
        .iter()
        .find(|c| c.get("session_id").is_some())
        .unwrap_or_else(|| panic!("{c}"));
    let session = mine["session_id"].as_i64().unwrap();
    assert_eq!(mine["session_timeout"], 10000);
    assert_eq!(mine["last_operation"], "GETC", "{c}");
    assert!(
        mine["remote_socket_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let (status, _, list) = http_get(admin, "/commands").unwrap();
    assert_eq!(status, 200);
    let expected = [
        "monitor",
        "ruok",
        "stats",
        "server_stats",
        "connections",
        "connection_stat_reset",
        "configuration",
        "environment",
        "dirs",
        "is_read_only",
        "watches",
        "watches_by_path",
        "watch_summary",
        "dump",
        "leader",
        "voting_view",
        "last_snapshot",
    ];
    for name in expected {
        assert!(
            list.contains(&format!("<a href=\"/commands/{name}\">{name}</a>")),
            "{list}"
        );
        let v = get_json(admin, &format!("/commands/{name}"));
        assert_eq!(v["command"], name, "{v}");
        assert!(v["error"].is_null(), "{name}: {v}");
    }

    let m = get_json(admin, "/commands/monitor");
    assert_eq!(m["server_state"], "standalone");
    assert_eq!(m["znode_count"], 6);
    assert_eq!(m["ephemerals_count"], 1);
    assert!(
        m["avg_latency"].is_f64() && m["packets_received"].is_u64(),
        "{m}"
    );

    let s = get_json(admin, "/commands/stats");
    assert_eq!(s["node_count"], 6);
    assert_eq!(s["read_only"], false);
    for k in [
        "packets_sent",
        "packets_received",
        "last_processed_zxid",
        "num_alive_client_connections",
        "uptime",
    ] {
        assert!(s["server_stats"][k].is_number(), "{k}: {s}");
    }
    assert!(s["connections"].is_array() && s["secure_connections"].is_array());

    let conf = get_json(admin, "/commands/configuration");
    assert_eq!(conf["client_port"], server.addr.port());
    assert_eq!(conf["tick_time"], 2000);
    assert_eq!(conf["max_session_timeout"], 40000);
    assert!(conf["data_dir"].is_string());

    let w = get_json(admin, "/commands/watches");
    assert_eq!(
        w["session_id_to_watched_paths"][session.to_string()],
        serde_json::json!(["/ops"])
    );
    let w = get_json(admin, "/commands/watches_by_path");
    assert_eq!(
        w["path_to_session_ids"]["/ops"],
        serde_json::json!([session])
    );
    let w = get_json(admin, "/commands/watch_summary");
    assert_eq!(
        (
            w["num_connections"].as_u64(),
            w["num_total_watches"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let d = get_json(admin, "/commands/dump");
    assert_eq!(
        d["session_id_to_ephemeral_paths"][session.to_string()],
        serde_json::json!(["/ops/eph"])
    );
    assert_eq!(
        get_json(admin, "/commands/is_read_only")["read_only"],
        false
    );
    assert_eq!(get_json(admin, "/commands/leader")["is_leader"], true);

    let unknown = get_json(admin, "/commands/nosuch");
    assert_eq!(unknown["error"], "Unknown command: nosuch");

    assert_eq!(http_get(admin, "/ready").unwrap().0, 200);
    assert_eq!(http_get(admin, "/health").unwrap().0, 200);
    // Not served on the client port.
    assert_ne!(admin.port(), server.addr.port());
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let (_d, server, admin) = start(&[]);
    let busy = busy_client(&server).await;
    let _ = busy._client.get_data("/missing").await;
    let (status, ctype, body) = http_get(admin, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{body}"));
        match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(value("znode_count", &[]), 6.0);
    assert_eq!(value("ephemerals_count", &[]), 1.0);
    assert_eq!(value("global_sessions", &[]), 1.0);
    assert_eq!(value("watch_count", &[]), 2.0);
    assert!(value("num_alive_connections", &[]) >= 1.0);
    assert!(value("bytes_received_count", &[]) > 0.0);
    assert!(value("corral_bytes_sent_total", &[]) > 0.0);
    assert_eq!(value("corral_raft_term", &[]), 1.0);
    assert!(value("corral_raft_applied_index", &[]) >= 3.0);
    assert_eq!(
        value("corral_requests_total", &[("op", "create2"), ("err", "ok")]),
        2.0
    );
    assert_eq!(
        value(
            "corral_requests_total",
            &[("op", "getData"), ("err", "NoNode")]
        ),
        1.0
    );
    let hist = |name: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && matches!(s.value, prometheus_parse::Value::Histogram(_)))
    };
    assert!(hist("corral_request_duration_seconds"), "{body}");
    assert!(hist("readlatency") && hist("updatelatency"), "{body}");
    assert!(hist("fsynctime") && hist("corral_apply_seconds"), "{body}");
}

#[tokio::test]
async fn metrics_port_serves_metrics_alone() {
    let port = free_loopback_port();
    let addr = format!("127.0.0.1:{port}");
    let (_d, _server, _) = start(&["--metrics-addr", &addr]);
    let metrics: SocketAddr = addr.parse().unwrap();
    let (status, _, body) = http_get(metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\nznode_count "), "{body}");
    assert_eq!(http_get(metrics, "/commands/ruok").unwrap().0, 404);
}

#[tokio::test]
async fn a_taken_admin_port_is_logged_and_clients_are_still_served() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--admin-addr", &addr]);
    assert_eq!(four_letter(server.addr, "ruok").as_deref(), Some("imok"));
    assert!(
        server.log().contains("admin server not started"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn admin_server_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    let admin_port = free_loopback_port();
    std::fs::write(
        &cfg,
        format!("admin.enableServer=false\nadmin.serverPort={admin_port}\nsomeUnknownKey=1\n"),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let server = Server::start(dir.path(), &["--config", &cfg]);
    let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    assert!(http_get(admin, "/commands/ruok").is_none());
    assert!(server.log().contains("someUnknownKey"), "{}", server.log());
    let conf = four_letter(server.addr, "conf").unwrap();
    assert!(conf.contains("\nadmin.enableServer=false\n"), "{conf}");
}

/// Every four-letter word, sent alone (four bytes, the connection left
/// open for writing), is answered or refused at once and the connection
/// closed, whether the word is whitelisted or not: a monitoring check that
/// sends only `stmk` must not hang (ZooKeeper never waits for more bytes).
#[tokio::test]
async fn every_word_alone_is_answered_without_waiting() {
    use std::io::{Read, Write};
    // (The harness needs ruok to see the server start.)
    for whitelist in ["*", "ruok"] {
        let (_d, server, _) = start(&["--four-letter-words", whitelist]);
        for word in jute::FOUR_LETTER_WORDS {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            s.write_all(word.as_bytes()).unwrap();
            let mut out = Vec::new();
            let read = s.read_to_end(&mut out);
            assert!(
                read.is_ok(),
                "{word} (whitelist {whitelist}): no answer and no close: {read:?}"
            );
            let out = String::from_utf8_lossy(&out);
            let allowed = whitelist == "*" || word == "ruok";
            if !allowed {
                assert_eq!(
                    out,
                    format!("{word} is not executed because it is not in the whitelist.\n")
                );
            } else if word == "stmk" {
                // No mask came with it: nothing said, nothing changed.
                assert_eq!(out, "", "stmk alone");
            } else {
                // wchc/wchp list watches, and there are none here.
                let may_be_empty = ["wchc", "wchp"].contains(&word);
                assert!(may_be_empty || !out.is_empty(), "{word}: empty answer");
                assert!(!out.contains("not executed"), "{word}: {out}");
            }
        }
        assert_eq!(
            four_letter(server.addr, "gtmk").as_deref(),
            Some(if whitelist == "*" {
                "306"
            } else {
                "gtmk is not executed because it is not in the whitelist.\n"
            })
        );
    }
}
