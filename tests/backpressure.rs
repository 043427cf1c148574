//! One client that sends without reading its answers must not grow the
//! server's memory or take the others' turn: past its share of requests in
//! the log, or past a cap of unsent reply bytes, its connection is no longer
//! read, and TCP pushes back on it alone (ZooKeeper's globalOutstandingLimit
//! throttles the same way).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Raw, Server};
use jute::{GetDataRequest, Request, RequestPacket, SetDataRequest, encode_to_bytes};
use tokio::io::AsyncWriteExt;

/// A create request for an open node.
fn create(path: &str, data: Option<Bytes>) -> Request {
    Request::Create(jute::CreateRequest {
        path: path.into(),
        data,
        acl: jute::Acl::open_unsafe(),
        flags: 0,
    })
}

/// getData without a watch.
fn get_data(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

/// Pipeline `request` on its own session for `for_how_long`, reading
/// nothing back, while another session keeps asking; returns the other
/// session's slowest answer and how many requests the flood got written.
async fn flood(server: &Server, request: Request, for_how_long: Duration) -> (Duration, usize) {
    let flooder = Raw::connect(server.addr).await;
    let mut stream = flooder.into_framed().into_inner();
    let one = encode_to_bytes(&RequestPacket { xid: 1, request });
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend_from_slice(&(one.len() as i32).to_be_bytes());
        batch.extend_from_slice(&one);
    }
    let batch = Bytes::from(batch);
    let deadline = Instant::now() + for_how_long;
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        // Bounded: by time, and by count (10 million requests).
        while Instant::now() < deadline && sent < 10_000_000 {
            match tokio::time::timeout(Duration::from_millis(200), stream.write_all(&batch)).await {
                Ok(Ok(())) => sent += 1000,
                Ok(Err(_)) => break,
                // Pushed back: the server is not reading. Keep trying until the deadline.
                Err(_) => {}
            }
        }
        (sent, stream)
    });

    let mut other = Raw::connect(server.addr).await;
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let t = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(10), other.call(get_data("/")))
            .await
            .expect("another session was not answered during the flood");
        assert_eq!(r.header.err, 0);
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (sent, stream) = writer.await.expect("writer");
    drop(stream);
    (slowest, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_pushed_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let mut setup = Raw::connect(server.addr).await;
    let r = setup
        .call(create("/big", Some(Bytes::from(vec![b'x'; 1000]))))
        .await;
    assert_eq!(r.header.err, 0);
    let before = server.rss_kib().expect("server RSS");

    // Reads: answered at once, so only the unsent-bytes cap can stop them
    // (each answer is 1 KB, so unbounded queueing shows at once).
    let (slowest, sent) = flood(&server, get_data("/big"), Duration::from_secs(6)).await;
    let after_reads = server.rss_kib().expect("server RSS");
    println!(
        "getData flood: {sent} requests written, RSS {before} -> {after_reads} KiB, other session's slowest answer {slowest:?}"
    );

    // Writes: each waits for the log, so the outstanding limits stop them.
    let (slowest, sent) = flood(
        &server,
        Request::SetData(SetDataRequest {
            path: "/".into(),
            data: Some(Bytes::from_static(&[7; 64])),
            version: -1,
        }),
        Duration::from_secs(6),
    )
    .await;
    let after_writes = server.rss_kib().expect("server RSS");
    println!(
        "setData flood: {sent} requests written, RSS -> {after_writes} KiB, other session's slowest answer {slowest:?}"
    );

    // Unbounded queueing grew RSS by about 80 MiB a second here; bounded,
    // a flooding connection holds a few MiB of queued replies and buffers.
    let bound = 96 * 1024;
    assert!(
        after_reads.saturating_sub(before) < bound,
        "a getData flood grew RSS from {before} to {after_reads} KiB"
    );
    assert!(
        after_writes.saturating_sub(before) < bound,
        "a setData flood grew RSS from {before} to {after_writes} KiB"
    );
    // And the server still serves a new session.
    let mut late = Raw::connect(server.addr).await;
    assert_eq!(late.call(get_data("/")).await.header.err, 0);
}

/// A client that stops reading while notifications keep coming is a slow
/// consumer: once more than the cap waits for it, its connection is closed
/// and logged with its session; the writer's session is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_notifications_is_disconnected() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The cap cannot go below the throttle's bytes plus one largest reply:
    // here about 1.1 MB.
    let server = Server::start(
        dir.path(),
        &[
            "--conn-unsent-bytes",
            "65536",
            "--conn-max-queued-bytes",
            "1",
        ],
    );
    let name = format!("/{}", "n".repeat(200));
    let mut writer = Raw::connect(server.addr).await;
    let r = writer.call(create(&name, None)).await;
    assert_eq!(r.header.err, 0);

    let mut slow = Raw::connect(server.addr).await;
    let session = slow.session;
    let r = slow
        .call(Request::AddWatch(jute::AddWatchRequest {
            path: name.clone(),
            mode: jute::AddWatchMode::Persistent as i32,
        }))
        .await;
    assert_eq!(r.header.err, 0);

    // Each setData sends the slow client a ~240-byte notification it never
    // reads; kernel buffers take a few MB, then the server's queue fills.
    // Bounded: at most 200,000 writes.
    let mut written = 0usize;
    let mut closed_logged = false;
    while written < 200_000 && !closed_logged {
        for _ in 0..500 {
            writer
                .send(Request::SetData(SetDataRequest {
                    path: name.clone(),
                    data: None,
                    version: -1,
                }))
                .await;
        }
        for _ in 0..500 {
            let frame = writer
                .next_frame()
                .await
                .expect("the writer's session was not answered");
            let err = frame
                .get(12..16)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            assert_eq!(err, Some(0), "setData failed");
        }
        written += 500;
        closed_logged = server
            .log()
            .lines()
            .any(|l| l.contains("slow consumer") && l.contains(&format!("{session:#x}")));
    }
    assert!(
        closed_logged,
        "no slow consumer was closed after {written} notifications to it; log:\n{}",
        server.log()
    );
    println!("slow consumer closed after {written} notifications");

    // What reached the slow client's socket ends in a close, short of
    // everything that was sent to it.
    let mut received = 0usize;
    while slow.next_frame().await.is_some() {
        received += 1;
        assert!(received <= written, "more notifications than writes");
    }
    assert!(received < written, "all {written} notifications arrived");
    // And the others are still served.
    let r = writer.call(get_data("/")).await;
    assert_eq!(r.header.err, 0);
}

/// Slowloris: a connection that sends no handshake, or half of one, is
/// closed after the handshake timeout, while sessions keep being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_does_not_arrive_in_time_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--handshake-timeout", "500"]);
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut partial = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    // A length prefix promising 48 bytes, and 10 of them.
    partial
        .write_all(&[0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .await
        .expect("write");
    let mut other = Raw::connect(server.addr).await;
    for stream in [&mut silent, &mut partial] {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::AsyncReadExt::read(stream, &mut buf),
        )
        .await
        .expect("a connection without a handshake was kept open");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "got {read:?} instead of a close"
        );
    }
    let r = other.call(get_data("/")).await;
    assert_eq!(r.header.err, 0);
}

/// Thousands of connections opened at once and never handshaking: past the
/// bound on connections in their handshake, new ones are closed at once;
/// the rest go at the handshake timeout; existing sessions are served all
/// along, and a client connects normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_leaves_sessions_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            "--max-client-cnxns",
            "0",
            "--max-handshaking",
            "100",
            "--handshake-timeout",
            "3000",
        ],
    );
    let mut existing = Raw::connect(server.addr).await;
    let flood = 3000usize;
    let mut streams = Vec::with_capacity(flood);
    for _ in 0..flood {
        // The accept backlog may refuse some outright; that is a close too.
        if let Ok(s) = tokio::net::TcpStream::connect(server.addr).await {
            streams.push(s);
        }
    }
    let opened = streams.len();
    let r = existing.call(get_data("/")).await;
    assert_eq!(r.header.err, 0, "the existing session was not served");

    // Every flood connection ends in a close, most at once, the rest by
    // the handshake timeout.
    let reads = streams.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut buf = [0u8; 4];
            let t = Instant::now();
            let r = tokio::time::timeout(
                Duration::from_secs(30),
                tokio::io::AsyncReadExt::read(&mut s, &mut buf),
            )
            .await;
            (matches!(r, Ok(Ok(0)) | Ok(Err(_))), t.elapsed())
        })
    });
    let mut closed = 0;
    let mut kept_to_timeout = 0;
    for read in futures::future::join_all(reads).await {
        let (was_closed, after) = read.expect("reader");
        if was_closed {
            closed += 1;
        }
        if after >= Duration::from_secs(1) {
            kept_to_timeout += 1;
        }
    }
    println!(
        "flood of {flood} ({opened} connected): {closed} closed, {kept_to_timeout} held until the handshake timeout"
    );
    assert_eq!(closed, opened, "some flood connections stayed open");
    assert!(
        kept_to_timeout <= 100 + 10,
        "{kept_to_timeout} connections waited for a handshake, over the bound of 100"
    );
    let mut late = Raw::connect(server.addr).await;
    assert_eq!(late.call(get_data("/")).await.header.err, 0);
    assert_eq!(existing.call(get_data("/")).await.header.err, 0);
}

/// getChildren of a node whose child list does not fit in jute.maxbuffer:
/// ZooKeeper 3.8 sends the whole reply (err 0; checked against a real
/// server: a Java client with the default limit then drops the connection
/// with "Packet len N is out of range", kazoo reads it). Corral does the
/// same, and keeps serving: the connection stays, and so do the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_list_larger_than_jute_maxbuffer_is_sent_whole_and_the_server_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let mut setup = Raw::connect(server.addr).await;
    let r = setup.call(create("/wide", None)).await;
    assert_eq!(r.header.err, 0);
    // 5,500 children of 200-byte names: a reply of about 1.1 MB, past the
    // default 1,048,575. Pipelined, 500 at a time.
    let names: Vec<String> = (0..5500).map(|i| format!("{i:0>200}")).collect();
    for batch in names.chunks(500) {
        for name in batch {
            setup.send(create(&format!("/wide/{name}"), None)).await;
        }
        for _ in batch {
            let r = setup
                .next(jute::OpCode::Create)
                .await
                .expect("create answered");
            assert_eq!(r.header.err, 0);
        }
    }

    let mut reader = Raw::connect(server.addr).await;
    let xid = reader
        .send(Request::GetChildren(jute::GetChildrenRequest {
            path: "/wide".into(),
            watch: false,
        }))
        .await;
    let frame = reader
        .next_frame()
        .await
        .expect("the reply, not a closed connection");
    assert!(
        frame.len() > jute::DEFAULT_MAX_FRAME,
        "reply of {} bytes",
        frame.len()
    );
    let reply = jute::Reply::decode_frame(&frame, jute::OpCode::GetChildren.code()).expect("reply");
    assert_eq!((reply.header.xid, reply.header.err), (xid, 0));
    let Some(jute::Response::GetChildren(children)) = reply.body else {
        panic!("not a child list: {:?}", reply.body);
    };
    let mut got = children.children;
    got.sort();
    assert_eq!(got, names);

    // The same connection, and everyone else, are still served.
    let r = reader
        .call(Request::Exists(jute::ExistsRequest {
            path: "/wide".into(),
            watch: false,
        }))
        .await;
    assert_eq!(r.header.err, 0);
    let mut other = Raw::connect(server.addr).await;
    let r = other.call(get_data("/wide")).await;
    assert_eq!(r.header.err, 0);
}
