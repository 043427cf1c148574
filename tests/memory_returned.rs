//! Memory a server freed goes back to the OS: after many large znodes are
//! created and deleted, the server's RSS falls back near where it started.
//! (With glibc's malloc most of it stayed resident in per-thread arenas.)

mod common;

use std::time::{Duration, Instant};

use common::{Raw, Server};
use jute::{Acl, CreateMode, CreateRequest, DeleteRequest, OpCode, Request};

const NODES: usize = 16_000;
const VALUE: usize = 8 * 1024;
const WINDOW: usize = 500;

/// Send `requests` WINDOW at a time, each window's replies read before the next.
async fn pipelined(raw: &mut Raw, op: OpCode, requests: impl Iterator<Item = Request>) {
    let mut requests = requests.peekable();
    while requests.peek().is_some() {
        let mut sent = 0;
        for r in requests.by_ref().take(WINDOW) {
            raw.send(r).await;
            sent += 1;
        }
        for _ in 0..sent {
            let reply = raw.next(op).await.expect("reply");
            assert_eq!(reply.header.err, 0, "{op:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freed_memory_is_given_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let mut raw = Raw::connect(server.addr).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = server.rss_kib().expect("rss");

    let value = bytes::Bytes::from(vec![b'v'; VALUE]);
    let path = |i: usize| format!("/big-{i}");
    pipelined(
        &mut raw,
        OpCode::Create,
        (0..NODES).map(|i| {
            Request::Create(CreateRequest {
                path: path(i),
                data: Some(value.clone()),
                acl: Acl::open_unsafe(),
                flags: CreateMode::Persistent.code(),
            })
        }),
    )
    .await;
    let peak = server.rss_kib().expect("rss");
    pipelined(
        &mut raw,
        OpCode::Delete,
        (0..NODES).map(|i| {
            Request::Delete(DeleteRequest {
                path: path(i),
                version: -1,
            })
        }),
    )
    .await;

    // The data alone is NODES × VALUE (125 MiB); the raft log's bounded
    // caches (a few tens of MiB) may stay. A third of the growth staying
    // means freed memory stayed resident. jemalloc's background thread
    // returns it over about 10 s.
    let grown = peak.saturating_sub(base);
    assert!(
        grown > 100 * 1024,
        "RSS {base} -> {peak} KiB: the nodes were not held"
    );
    let limit = base + grown / 3;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = server.rss_kib().expect("rss");
    while now > limit && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = server.rss_kib().expect("rss");
    }
    eprintln!("RSS KiB: start {base}, {NODES} nodes {peak}, deleted {now}");
    assert!(
        now <= limit,
        "RSS stayed at {now} KiB after deleting (start {base}, peak {peak})"
    );
}
