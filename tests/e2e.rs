//! End-to-end: the `corral` binary driven by a third-party Rust client
//! (zookeeper-client) and by raw frames where exact bytes matter.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Connect, Raw, Server, four_letter};
use jute::{
    CreateRequest, ErrorCode, EventType, GetDataRequest, OpCode, PathRequest, Request, Response,
    SetDataRequest,
};
use zookeeper_client as zk;

fn opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn mode(m: zk::CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(zk::Acls::anyone_all())
}

async fn client(server: &Server) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(&server.hosts())
        .await
        .expect("connect")
}

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), extra);
    (dir, server)
}

#[tokio::test]
async fn nodes_stats_and_errors() {
    let (_d, server) = start(&[]);
    let c = client(&server).await;

    let (stat, _) = c.create("/a", b"one", &opts()).await.unwrap();
    assert_eq!(
        (stat.version, stat.num_children, stat.data_length),
        (0, 0, 3)
    );
    assert_eq!(stat.czxid, stat.mzxid);
    assert!(matches!(
        c.create("/a", b"", &opts()).await,
        Err(zk::Error::NodeExists)
    ));
    assert!(matches!(
        c.create("/x/y", b"", &opts()).await,
        Err(zk::Error::NoNode)
    ));

    let (data, stat) = c.get_data("/a").await.unwrap();
    assert_eq!(data, b"one");
    let stat2 = c.set_data("/a", b"two", Some(stat.version)).await.unwrap();
    assert_eq!((stat2.version, stat2.czxid), (1, stat.czxid));
    assert!(stat2.mzxid > stat.mzxid);
    assert!(matches!(
        c.set_data("/a", b"x", Some(0)).await,
        Err(zk::Error::BadVersion)
    ));

    // Sequential names count the parent's child creations.
    let (_, s0) = c
        .create("/a/q-", b"", &mode(zk::CreateMode::PersistentSequential))
        .await
        .unwrap();
    c.create("/a/t", b"", &opts()).await.unwrap();
    c.delete("/a/t", None).await.unwrap();
    let (_, s2) = c
        .create("/a/q-", b"", &mode(zk::CreateMode::PersistentSequential))
        .await
        .unwrap();
    assert_eq!(
        (s0.to_string(), s2.to_string()),
        ("0000000000".into(), "0000000002".into())
    );
    let (children, stat) = c.get_children("/a").await.unwrap();
    assert_eq!(children.into_iter().collect::<BTreeSet<_>>().len(), 2);
    assert_eq!(
        (stat.num_children, stat.cversion),
        (2, 4),
        "cversion counts creations and deletions"
    );
    assert!(matches!(
        c.delete("/a", None).await,
        Err(zk::Error::NotEmpty)
    ));
    assert!(matches!(
        c.delete("/a/q-0000000000", Some(9)).await,
        Err(zk::Error::BadVersion)
    ));
    assert_eq!(c.count_descendants_number("/a").await.unwrap(), 2);

    // Ephemerals: listed per session, no children allowed.
    c.create("/e", b"", &mode(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    let (_, st) = c.get_data("/e").await.unwrap();
    assert_eq!(st.ephemeral_owner, c.session_id().0);
    assert!(matches!(
        c.create("/e/k", b"", &opts()).await,
        Err(zk::Error::NoChildrenForEphemerals)
    ));
    assert_eq!(
        c.list_ephemerals("/").await.unwrap(),
        vec!["/e".to_string()]
    );

    // Containers and TTL nodes answer with a Stat whose owner is 0.
    let (st, _) = c
        .create("/box", b"", &mode(zk::CreateMode::Container))
        .await
        .unwrap();
    assert_eq!(st.ephemeral_owner, 0);
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    let (st, _) = c.create("/ttl", b"", &ttl).await.unwrap();
    assert_eq!((st.ephemeral_owner, st.czxid > 0), (0, true));

    // The ZooKeeper system nodes are there and protected.
    assert_eq!(c.list_children("/zookeeper").await.unwrap().len(), 2);
    assert!(matches!(
        c.delete("/zookeeper", None).await,
        Err(zk::Error::BadArguments(_))
    ));

    // sync answers once everything before it is applied.
    c.sync("/a").await.unwrap();
}

#[tokio::test]
async fn acls_and_auth() {
    let (_d, server) = start(&[]);
    let alice = client(&server).await;
    let bob = client(&server).await;
    alice.auth("digest", b"alice:secret").await.unwrap();
    let mine = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::authed())];
    alice
        .create(
            "/secret",
            b"s",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&mine)),
        )
        .await
        .unwrap();
    assert!(matches!(
        bob.get_data("/secret").await,
        Err(zk::Error::NoAuth)
    ));
    assert!(matches!(
        bob.set_data("/secret", b"x", None).await,
        Err(zk::Error::NoAuth)
    ));
    assert_eq!(alice.get_data("/secret").await.unwrap().0, b"s");
    let (acl, _) = alice.get_acl("/secret").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert!(acl[0].id().starts_with("alice:"));
    // whoAmI lists the connection's ip identity and the digest one.
    let users = alice.list_auth_users().await.unwrap();
    let schemes: BTreeSet<_> = users.iter().map(|u| u.scheme().to_string()).collect();
    assert_eq!(
        schemes,
        BTreeSet::from(["digest".to_string(), "ip".to_string()])
    );
    // An empty ACL list is invalid; auth scheme with no identity too.
    let auth_only = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::authed())];
    assert!(matches!(
        bob.create(
            "/b",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&auth_only))
        )
        .await,
        Err(zk::Error::InvalidAcl)
    ));
}

#[tokio::test]
async fn super_user_bypasses_acls() {
    let (_d, server) = start(&["--super-digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU="]);
    let alice = client(&server).await;
    alice.auth("digest", b"alice:secret").await.unwrap();
    let mine = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::authed())];
    alice
        .create(
            "/locked",
            b"x",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&mine)),
        )
        .await
        .unwrap();
    let root = client(&server).await;
    assert!(matches!(
        root.get_data("/locked").await,
        Err(zk::Error::NoAuth)
    ));
    root.auth("digest", b"super:test").await.unwrap();
    assert_eq!(root.get_data("/locked").await.unwrap().0, b"x");
    root.delete("/locked", None).await.unwrap();
}

#[tokio::test]
async fn multi_is_atomic_with_per_op_results() {
    let (_d, server) = start(&[]);
    let c = client(&server).await;
    c.create("/m", b"0", &opts()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_check_version("/m", 0).unwrap();
    w.add_create("/m/a", b"", &opts()).unwrap();
    w.add_set_data("/m", b"1", Some(0)).unwrap();
    let results = w.commit().await.unwrap();
    assert_eq!(results.len(), 3);

    let mut w = c.new_multi_writer();
    w.add_create("/m/b", b"", &opts()).unwrap();
    w.add_set_data("/missing", b"", None).unwrap();
    w.add_create("/m/c", b"", &opts()).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed { index, source }) => {
            assert_eq!(index, 1);
            assert!(matches!(source, zk::Error::NoNode));
        }
        other => panic!("expected a failed multi, got {other:?}"),
    }
    assert_eq!(
        c.list_children("/m").await.unwrap(),
        vec!["a".to_string()],
        "nothing of the failed multi applied"
    );

    let mut r = c.new_multi_reader();
    r.add_get_data("/m").unwrap();
    r.add_get_children("/m").unwrap();
    r.add_get_data("/nope").unwrap();
    let results = r.commit().await.unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(
        results[2],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));
}

#[tokio::test]
async fn watches_one_shot_persistent_and_recursive() {
    let (_d, server) = start(&[]);
    let c = client(&server).await;
    let other = client(&server).await;
    c.create("/w", b"", &opts()).await.unwrap();

    let (_, _, data_watch) = c.get_and_watch_data("/w").await.unwrap();
    let (_, exist_watch) = c.check_and_watch_stat("/w/new").await.unwrap();
    let (_, child_watch) = c.list_and_watch_children("/w").await.unwrap();
    let mut recursive = c
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    let (st, _) = other.create("/w/new", b"", &opts()).await.unwrap();
    let e = exist_watch.changed().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeCreated, "/w/new")
    );
    assert_eq!(
        e.zxid, st.czxid,
        "3.9 notifications carry the zxid of the change"
    );
    assert_eq!(
        child_watch.changed().await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    let e = recursive.changed().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeCreated, "/w/new"),
        "recursive events name the changed node"
    );

    other.set_data("/w", b"v", None).await.unwrap();
    assert_eq!(
        data_watch.changed().await.event_type,
        zk::EventType::NodeDataChanged
    );
    assert_eq!(
        recursive.changed().await.event_type,
        zk::EventType::NodeDataChanged
    );
    other.delete("/w/new", None).await.unwrap();
    let e = recursive.changed().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDeleted, "/w/new")
    );
    drop(recursive);
}

/// A notification reaches the client before any reply that shows the change.
#[tokio::test]
async fn notification_precedes_the_reply_that_shows_the_change() {
    let (_d, server) = start(&[]);
    let mut a = Raw::connect(server.addr).await;
    let mut b = Raw::connect(server.addr).await;
    let create = Request::Create(CreateRequest {
        path: "/n".into(),
        data: Some(Bytes::from_static(b"0")),
        acl: jute::Acl::open_unsafe(),
        flags: 0,
    });
    assert_eq!(a.call(create).await.header.err, 0);
    let get = |watch| {
        Request::GetData(GetDataRequest {
            path: "/n".into(),
            watch,
        })
    };
    assert_eq!(a.call(get(true)).await.header.err, 0);
    let set = b
        .call(Request::SetData(SetDataRequest {
            path: "/n".into(),
            data: Some(Bytes::from_static(b"1")),
            version: -1,
        }))
        .await;
    // a asks again right away: the event must be read before the new data.
    let xid = a.send(get(false)).await;
    let first = a.next(OpCode::GetData).await.expect("frame");
    assert_eq!(
        first.header.xid,
        jute::xid::NOTIFICATION,
        "got {first:?} before the notification"
    );
    assert_eq!(first.header.zxid, set.header.zxid);
    match first.body {
        Some(Response::Notification(e)) => assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged.code(), "/n")
        ),
        other => panic!("{other:?}"),
    }
    let reply = a.next(OpCode::GetData).await.expect("reply");
    assert_eq!(reply.header.xid, xid);
    match reply.body {
        Some(Response::GetData(r)) => assert_eq!(r.data.as_deref(), Some(&b"1"[..])),
        other => panic!("{other:?}"),
    }
}

/// Pipelined requests are answered in order, and a read after a write sees it.
#[tokio::test]
async fn pipelined_replies_keep_request_order() {
    let (_d, server) = start(&[]);
    let mut a = Raw::connect(server.addr).await;
    let mut xids = Vec::new();
    for i in 0..50 {
        let path = format!("/p{i}");
        xids.push(
            a.send(Request::Create(CreateRequest {
                path: path.clone(),
                data: None,
                acl: jute::Acl::open_unsafe(),
                flags: 0,
            }))
            .await,
        );
        xids.push(
            a.send(Request::Exists(jute::ExistsRequest { path, watch: false }))
                .await,
        );
    }
    for (i, xid) in xids.iter().enumerate() {
        let op = if i % 2 == 0 {
            OpCode::Create
        } else {
            OpCode::Exists
        };
        let r = a.next(op).await.expect("reply");
        assert_eq!(r.header.xid, *xid, "reply {i} out of order");
        assert_eq!(
            r.header.err, 0,
            "exists right after create must find the node"
        );
    }
}

#[tokio::test]
async fn handshakes_resume_and_refusals() {
    let (_d, server) = start(&[]);
    // An old client (no readOnly byte) is answered without one: 36 bytes.
    let (old, rsp, len) = Raw::handshake(
        server.addr,
        Connect {
            read_only: None,
            ..Default::default()
        },
    )
    .await;
    assert!(old.is_some() && rsp.is_some_and(|r| r.read_only.is_none()));
    assert_eq!(len, 36);
    let (new, _, len) = Raw::handshake(server.addr, Connect::default()).await;
    assert_eq!(len, 37);
    let mut a = new.expect("session");
    a.call(Request::Create(CreateRequest {
        path: "/eph".into(),
        data: None,
        acl: jute::Acl::open_unsafe(),
        flags: 1,
    }))
    .await;
    let (id, pw) = (a.session, a.passwd.clone());
    drop(a);

    // Resume with id + password: same session, ephemeral still there.
    let (b, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            session: id,
            passwd: Some(pw.clone()),
            ..Default::default()
        },
    )
    .await;
    let mut b = b.expect("resumed");
    assert_eq!(rsp.unwrap().session_id, id);
    let r = b
        .call(Request::Exists(jute::ExistsRequest {
            path: "/eph".into(),
            watch: false,
        }))
        .await;
    assert_eq!(r.header.err, 0);

    // Wrong password: told the session expired (timeout 0, id 0), then closed.
    let (none, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            session: id,
            passwd: Some(Bytes::from_static(&[9; 16])),
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_none());
    let rsp = rsp.expect("an answer");
    assert_eq!(
        (rsp.timeout, rsp.session_id, rsp.passwd.as_deref()),
        (0, 0, Some(&[0u8; 16][..]))
    );
    // Unknown session id: the same.
    let (none, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            session: 0x1234,
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_none() && rsp.is_some_and(|r| r.timeout == 0));
    // A client that has seen a newer zxid than ours is refused without an answer.
    let (none, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            last_zxid: 1 << 40,
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_none() && rsp.is_none());
    // The resumed session still works after all that.
    assert_eq!(
        b.call(Request::GetChildren(jute::GetChildrenRequest {
            path: "/".into(),
            watch: false
        }))
        .await
        .header
        .err,
        0
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_others_keep_working() {
    let (_d, server) = start(&[]);
    let mut good = Raw::connect(server.addr).await;

    // Unknown op code: Unimplemented, then the connection closes.
    let mut bad = Raw::connect(server.addr).await;
    let xid = bad
        .send(Request::Unknown {
            op: 999,
            body: Bytes::new(),
        })
        .await;
    let r = bad.next(OpCode::Error).await.expect("an answer");
    assert_eq!(
        (r.header.xid, r.header.err),
        (xid, ErrorCode::Unimplemented.code())
    );
    assert!(bad.closed().await);

    // A frame over jute.maxbuffer closes the connection.
    // The server closes on reading the length, so the client may still be
    // writing the rest when the connection goes: a failed write is that
    // closing too.
    let mut big = Raw::connect(server.addr).await.into_framed();
    let sent = big
        .send(&jute::RequestPacket {
            xid: 1,
            request: Request::SetData(SetDataRequest {
                path: "/x".into(),
                data: Some(Bytes::from(vec![0; 1 << 20])),
                version: -1,
            }),
        })
        .await;
    if sent.is_ok() {
        let next =
            tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut big)).await;
        assert!(
            matches!(next, Ok(None | Some(Err(_)))),
            "not closed: {next:?}"
        );
    }
    // Exactly at the limit is fine (a 1,048,575-byte body).
    let mut edge = Raw::connect(server.addr).await;
    let empty = jute::RequestPacket {
        xid: 1,
        request: Request::Create(CreateRequest {
            path: "/x".into(),
            data: Some(Bytes::new()),
            acl: vec![],
            flags: 0,
        }),
    };
    let data_len = 1_048_575 - jute::Encode::encoded_len(&empty);
    let r = edge
        .call(Request::Create(CreateRequest {
            path: "/x".into(),
            data: Some(Bytes::from(vec![7; data_len])),
            acl: vec![],
            flags: 0,
        }))
        .await;
    assert_eq!(
        r.header.err,
        ErrorCode::InvalidAcl.code(),
        "the frame was read and answered"
    );

    // Invalid paths on writes: BadArguments.
    let r = good
        .call(Request::SetData(SetDataRequest {
            path: "bad".into(),
            data: None,
            version: -1,
        }))
        .await;
    assert_eq!(r.header.err, ErrorCode::BadArguments.code());
    let r = good
        .call(Request::Delete(jute::DeleteRequest {
            path: "/zookeeper".into(),
            version: -1,
        }))
        .await;
    assert_eq!(r.header.err, ErrorCode::BadArguments.code());

    // Garbage bytes instead of a request: closed.
    let mut framed = Raw::tcp(server.addr).await;
    use futures::SinkExt;
    framed
        .send(&jute::ConnectRequest {
            timeout: 10_000,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut s = framed.into_inner();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&[0, 0, 0, 3, 1, 2, 3]).await.unwrap();
    let mut buf = vec![0; 64];
    let mut total = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => total += n,
            other => panic!("connection not closed: {other:?}"),
        }
    }
    assert!(total > 0, "got the handshake answer before the close");

    // Through all of it the first session kept working.
    let r = good
        .call(Request::GetChildren(jute::GetChildrenRequest {
            path: "/".into(),
            watch: false,
        }))
        .await;
    assert_eq!(r.header.err, 0);
}

#[tokio::test]
async fn connections_per_ip_are_limited() {
    let (_d, server) = start(&["--max-client-cnxns", "3"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Raw::connect(server.addr).await);
    }
    let (refused, rsp, _) = Raw::handshake(server.addr, Connect::default()).await;
    assert!(
        refused.is_none() && rsp.is_none(),
        "a 4th connection must be closed unanswered"
    );
    // The sessions within the limit are unaffected, and a freed slot can be used again.
    let r = held[0]
        .call(Request::Exists(jute::ExistsRequest {
            path: "/".into(),
            watch: false,
        }))
        .await;
    assert_eq!(r.header.err, 0);
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        if let (Some(raw), _, _) = Raw::handshake(server.addr, Connect::default()).await {
            again = Some(raw);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        again.is_some(),
        "the slot of a closed connection was not released"
    );
}

#[tokio::test]
async fn four_letter_words_and_whitelist() {
    let (_d, server) = start(&["--four-letter-words", "ruok,srvr,mntr"]);
    assert_eq!(four_letter(server.addr, "ruok").as_deref(), Some("imok"));
    let srvr = four_letter(server.addr, "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: 3.9"), "{srvr}");
    assert!(
        srvr.contains("Mode: standalone") && srvr.contains("Node count: 4"),
        "{srvr}"
    );
    let mntr = four_letter(server.addr, "mntr").unwrap();
    assert!(mntr.lines().any(|l| l == "zk_znode_count\t4"), "{mntr}");
    assert_eq!(
        four_letter(server.addr, "stat").as_deref(),
        Some("stat is not executed because it is not in the whitelist.\n")
    );
}

#[tokio::test]
async fn session_expiry_removes_ephemerals_and_fires_watches() {
    let (_d, server) = start(&["--tick-time", "200"]);
    let watcher = client(&server).await;
    let (mut doomed, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            timeout: 800,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(rsp.unwrap().timeout, 800);
    let doomed_ref = doomed.as_mut().expect("session");
    doomed_ref
        .call(Request::Create(CreateRequest {
            path: "/lease".into(),
            data: None,
            acl: jute::Acl::open_unsafe(),
            flags: 1,
        }))
        .await;
    let (_, _, w) = watcher.get_and_watch_data("/lease").await.unwrap();
    // Go silent: no pings, no close. The session must expire on its own.
    let frozen = doomed.take().expect("session").into_framed();
    let e = tokio::time::timeout(Duration::from_secs(10), w.changed())
        .await
        .expect("expiry within 10 s");
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDeleted, "/lease")
    );
    assert!(watcher.check_stat("/lease").await.unwrap().is_none());
    drop(frozen);
}

#[tokio::test]
async fn close_session_deletes_ephemerals_now() {
    let (_d, server) = start(&[]);
    let a = client(&server).await;
    let b = client(&server).await;
    a.create("/mine", b"", &mode(zk::CreateMode::EphemeralSequential))
        .await
        .unwrap();
    let (_, w) = b.list_and_watch_children("/").await.unwrap();
    drop(a);
    let e = tokio::time::timeout(Duration::from_secs(5), w.changed())
        .await
        .expect("event");
    assert_eq!(e.event_type, zk::EventType::NodeChildrenChanged);
    assert_eq!(
        b.list_children("/").await.unwrap(),
        vec!["zookeeper".to_string()]
    );
}

/// Every acknowledged write survives kill -9; counters and session ids go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let (_d, mut server) = start(&[]);
    let c = client(&server).await;
    c.create("/d", b"", &opts()).await.unwrap();
    let (mut live, _, _) = Raw::handshake(
        server.addr,
        Connect {
            timeout: 30_000,
            ..Default::default()
        },
    )
    .await;
    let live_ref = live.as_mut().expect("session");
    live_ref
        .call(Request::Create(CreateRequest {
            path: "/d/live".into(),
            data: None,
            acl: jute::Acl::open_unsafe(),
            flags: 1,
        }))
        .await;
    let (live_id, live_pw) = (live_ref.session, live_ref.passwd.clone());

    // Writers create sequential nodes until the server dies under them, or
    // (a writer between requests at the crash reconnects and goes on) until
    // the restarted server has served them a while.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let hosts = server.hosts();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let Ok(c) = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&hosts)
                .await
            else {
                return acked;
            };
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let path = format!("/d/w{w}-");
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    c.create(
                        &path,
                        format!("{i}").as_bytes(),
                        &mode(zk::CreateMode::PersistentSequential),
                    ),
                )
                .await
                {
                    Ok(Ok((_, seq))) => acked.push(format!("/d/w{w}-{seq}")),
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(c);
    server.crash_and_restart();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(
        acked.len() > 50,
        "too few writes before the crash: {}",
        acked.len()
    );

    let c = client(&server).await;
    let present: BTreeSet<String> = c
        .list_children("/d")
        .await
        .unwrap()
        .into_iter()
        .map(|n| format!("/d/{n}"))
        .collect();
    let lost: Vec<_> = acked.iter().filter(|p| !present.contains(*p)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );

    // The sequential counter goes on from where it was: no name reused.
    let (_, seq) = c
        .create("/d/w0-", b"", &mode(zk::CreateMode::PersistentSequential))
        .await
        .unwrap();
    let newest = present
        .iter()
        .filter_map(|p| p.rsplit('-').next()?.parse::<i64>().ok())
        .max()
        .unwrap_or(0);
    assert!(seq.to_string().parse::<i64>().unwrap() > newest);
    // A live session resumes after the restart, its ephemeral intact.
    let (back, rsp, _) = Raw::handshake(
        server.addr,
        Connect {
            session: live_id,
            passwd: Some(live_pw),
            ..Default::default()
        },
    )
    .await;
    assert!(back.is_some(), "session not resumed: {rsp:?}");
    assert!(c.check_stat("/d/live").await.unwrap().is_some());
    // New sessions never reuse an id.
    assert_ne!(c.session_id().0, live_id);
}

#[tokio::test]
async fn clean_restart_keeps_everything() {
    let (_d, mut server) = start(&[]);
    let c = client(&server).await;
    for i in 0..20 {
        c.create(&format!("/r{i}"), format!("{i}").as_bytes(), &opts())
            .await
            .unwrap();
    }
    let (_, before) = c.get_data("/r19").await.unwrap();
    drop(c);
    let status = server.stop().expect("stopped");
    assert!(status.success(), "SIGTERM should exit cleanly: {status:?}");
    server.restart();
    let c = client(&server).await;
    let (data, after) = c.get_data("/r19").await.unwrap();
    assert_eq!((data.as_slice(), after), (&b"19"[..], before));
    assert_eq!(c.list_children("/").await.unwrap().len(), 21);
}

#[tokio::test]
async fn lone_check_is_answered() {
    let (_d, server) = start(&[]);
    let mut a = Raw::connect(server.addr).await;
    a.call(Request::Create(CreateRequest {
        path: "/c".into(),
        data: None,
        acl: jute::Acl::open_unsafe(),
        flags: 0,
    }))
    .await;
    let check = |version| {
        Request::Check(jute::CheckVersionRequest {
            path: "/c".into(),
            version,
        })
    };
    let ok = a.call(check(0)).await;
    assert_eq!(
        (ok.header.err, ok.body),
        (0, Some(Response::Check(jute::Empty {})))
    );
    assert_eq!(
        a.call(check(3)).await.header.err,
        ErrorCode::BadVersion.code()
    );
    // As in ZooKeeper 3.9 it is a read: it takes no zxid.
    let again = a.call(check(-1)).await;
    assert_eq!(again.header.zxid, ok.header.zxid);
    let missing = Request::Check(jute::CheckVersionRequest {
        path: "/none".into(),
        version: 0,
    });
    assert_eq!(a.call(missing).await.header.err, ErrorCode::NoNode.code());
    let r = a
        .call(Request::GetAcl(PathRequest {
            path: "/nope".into(),
        }))
        .await;
    assert_eq!(r.header.err, ErrorCode::NoNode.code());
}

/// Empty containers and idle TTL nodes are removed by the server itself.
#[tokio::test]
async fn containers_and_ttl_nodes_are_reaped() {
    let (_d, server) = start(&["--tick-time", "200"]);
    let c = client(&server).await;
    c.create("/box", b"", &mode(zk::CreateMode::Container))
        .await
        .unwrap();
    c.create("/box/item", b"", &opts()).await.unwrap();
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_millis(300));
    c.create("/short", b"", &ttl).await.unwrap();
    let long = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(3600));
    c.create("/long", b"", &long).await.unwrap();
    // A container is kept while it has a child, and a new empty one is kept too.
    c.create("/fresh", b"", &mode(zk::CreateMode::Container))
        .await
        .unwrap();
    let (_, box_watch) = c.check_and_watch_stat("/box").await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), box_watch.changed())
        .await
        .expect("container reaped");
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDeleted, "/box")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while c.check_stat("/short").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "TTL node not reaped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.check_stat("/long").await.unwrap().is_some());
    assert!(
        c.check_stat("/fresh").await.unwrap().is_some(),
        "a container that never had children stays"
    );
}

/// A recursive watch tells nothing about nodes the watcher may not read
/// (ZooKeeper's fix for CVE-2024-23944); a watcher that may read is told.
#[tokio::test]
async fn watch_events_respect_read_acls() {
    let (_d, server) = start(&[]);
    let alice = client(&server).await;
    alice.auth("digest", b"alice:secret").await.unwrap();
    let outsider = client(&server).await;
    let mut outsider_watch = outsider
        .watch("/", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let mut alice_watch = alice
        .watch("/", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let mine = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::authed())];
    alice
        .create(
            "/private",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&mine)),
        )
        .await
        .unwrap();
    alice.delete("/private", None).await.unwrap();
    // Then a public node, which both may see.
    alice.create("/public", b"", &opts()).await.unwrap();

    let e = alice_watch.changed().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeCreated, "/private")
    );
    let e = alice_watch.changed().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDeleted, "/private")
    );
    let e = tokio::time::timeout(Duration::from_secs(5), outsider_watch.changed())
        .await
        .expect("an event");
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeCreated, "/public"),
        "the outsider must not hear of /private"
    );
}
