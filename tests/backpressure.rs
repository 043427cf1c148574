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
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            other.call(Request::GetData(GetDataRequest {
                path: "/".into(),
                watch: false,
            })),
        )
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
        .call(Request::Create(jute::CreateRequest {
            path: "/big".into(),
            data: Some(Bytes::from(vec![b'x'; 1000])),
            acl: jute::Acl::open_unsafe(),
            flags: 0,
        }))
        .await;
    assert_eq!(r.header.err, 0);
    let before = server.rss_kib().expect("server RSS");

    // Reads: answered at once, so only the unsent-bytes cap can stop them
    // (each answer is 1 KB, so unbounded queueing shows at once).
    let (slowest, sent) = flood(
        &server,
        Request::GetData(GetDataRequest {
            path: "/big".into(),
            watch: false,
        }),
        Duration::from_secs(6),
    )
    .await;
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
    assert_eq!(
        late.call(Request::GetData(GetDataRequest {
            path: "/".into(),
            watch: false,
        }))
        .await
        .header
        .err,
        0
    );
}
