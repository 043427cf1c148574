//! Answers that must be Apache ZooKeeper's, byte for byte in what a client
//! sees, for input ZooKeeper is lenient with: undecodable bodies, reads in
//! a multi, malformed UTF-8, every auth scheme, TTL nodes switched off,
//! refused requests, and the order in which all of those are answered.
//! The expected answers were measured against ZooKeeper 3.8 with raw frames
//! (compat/diff covers the same classes side by side with a real server).

mod common;

use bytes::Bytes;
use common::{Raw, Server};
use jute::{
    Acl, CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, ErrorCode,
    ExistsRequest, GetChildrenRequest, GetDataRequest, MultiOp, MultiRequest, OpCode, Request,
    RequestPacket, SetAclRequest, SetDataRequest, encode_to_bytes,
};

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), extra);
    (dir, server)
}

fn create(path: &str) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"x")),
        acl: Acl::open_unsafe(),
        flags: 0,
    }
}

fn ttl(path: &str, flags: i32) -> CreateTtlRequest {
    CreateTtlRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
        ttl: 100_000,
    }
}

fn get(path: &str) -> GetDataRequest {
    GetDataRequest {
        path: path.into(),
        watch: false,
    }
}

/// One valid request of every op a client sends with a body, and whether
/// ZooKeeper logs it as a txn (a write: it takes a zxid even when it fails).
fn every_request() -> Vec<(Request, bool)> {
    let watches = jute::SetWatches {
        relative_zxid: 0,
        data_watches: vec!["/a".into()],
        exist_watches: vec!["/b".into()],
        child_watches: vec!["/c".into()],
    };
    let watches2 = jute::SetWatches2 {
        relative_zxid: 0,
        data_watches: vec!["/a".into()],
        exist_watches: vec![],
        child_watches: vec![],
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec![],
    };
    let remove = jute::RemoveWatchesRequest {
        path: "/a".into(),
        watcher_type: 2,
    };
    vec![
        (Request::GetData(get("/a")), false),
        (
            Request::Exists(ExistsRequest {
                path: "/a".into(),
                watch: false,
            }),
            false,
        ),
        (
            Request::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: false,
            }),
            false,
        ),
        (
            Request::GetChildren2(GetChildrenRequest {
                path: "/".into(),
                watch: false,
            }),
            false,
        ),
        (
            Request::GetAcl(jute::PathRequest { path: "/".into() }),
            false,
        ),
        (
            Request::GetAllChildrenNumber(jute::PathRequest { path: "/".into() }),
            false,
        ),
        (
            Request::GetEphemerals(jute::GetEphemeralsRequest {
                prefix_path: "/".into(),
            }),
            false,
        ),
        (
            Request::AddWatch(jute::AddWatchRequest {
                path: "/a".into(),
                mode: 0,
            }),
            false,
        ),
        (Request::CheckWatches(remove.clone()), false),
        (Request::RemoveWatches(remove), false),
        (Request::SetWatches(watches), false),
        (Request::SetWatches2(watches2), false),
        (
            Request::MultiRead(MultiRequest {
                ops: vec![MultiOp::GetData(get("/"))],
            }),
            false,
        ),
        (Request::Sync(jute::PathRequest { path: "/".into() }), false),
        (
            Request::Check(CheckVersionRequest {
                path: "/".into(),
                version: -1,
            }),
            false,
        ),
        (
            Request::Reconfig(jute::ReconfigRequest {
                joining_servers: Some("server.2=127.0.0.2:2888:3888".into()),
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            }),
            false,
        ),
        (Request::Create(create("/t")), true),
        (Request::Create2(create("/t")), true),
        (Request::CreateContainer(create("/t")), true),
        (Request::CreateTtl(ttl("/t", 5)), true),
        (
            Request::Delete(DeleteRequest {
                path: "/t".into(),
                version: -1,
            }),
            true,
        ),
        (
            Request::SetData(SetDataRequest {
                path: "/t".into(),
                data: None,
                version: -1,
            }),
            true,
        ),
        (
            Request::SetAcl(SetAclRequest {
                path: "/t".into(),
                acl: Acl::open_unsafe(),
                version: -1,
            }),
            true,
        ),
        (
            Request::Multi(MultiRequest {
                ops: vec![
                    MultiOp::Create(create("/t")),
                    MultiOp::Delete(DeleteRequest {
                        path: "/t".into(),
                        version: -1,
                    }),
                ],
            }),
            true,
        ),
    ]
}

/// The next frame that is not a watch notification (SetWatches fires some).
async fn reply_frame(c: &mut Raw) -> Option<Bytes> {
    loop {
        let f = c.next_frame().await?;
        if f[..4] != jute::xid::NOTIFICATION.to_be_bytes() {
            return Some(f);
        }
    }
}

fn frame(xid: i32, request: Request) -> Bytes {
    encode_to_bytes(&RequestPacket { xid, request })
}

/// Every truncation of every request's body (the header kept) is answered
/// MarshallingError on a connection that stays open; writes take a zxid,
/// reads do not. Valid requests with bytes after them are answered as if
/// the bytes were not there.
#[tokio::test]
async fn undecodable_bodies_are_marshalling_errors_on_an_open_connection() {
    let (_d, server) = start(&[]);
    let mut c = Raw::connect(server.addr).await;
    let mut checked = 0;
    for (request, write) in every_request() {
        let op = request.op_code();
        let whole = frame(1000, request);
        // Cut points: every one for short bodies, a spread for long ones.
        let body = whole.len() - 8;
        let step = (body / 12).max(1);
        for keep in (0..body).step_by(step) {
            let before = c.last_zxid().await;
            c.send_bytes(&whole[..8 + keep]).await;
            let f = reply_frame(&mut c).await.unwrap_or_else(|| {
                panic!("op {op} cut to {keep} of {body} bytes: connection closed")
            });
            let r = jute::Reply::decode_frame(&f, op).expect("reply");
            assert_eq!(
                (r.header.xid, r.header.err, r.body.is_none()),
                (1000, ErrorCode::MarshallingError.code(), true),
                "op {op} cut to {keep} of {body} bytes"
            );
            let want = if write { before + 1 } else { before };
            assert_eq!(r.header.zxid, want, "op {op} cut to {keep}: zxid");
            assert_eq!(c.last_zxid().await, want, "op {op} cut to {keep}");
            checked += 1;
        }
        // The same request with trailing garbage is read and answered.
        let mut padded = whole.to_vec();
        padded.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        c.send_bytes(&padded).await;
        let f = reply_frame(&mut c).await.expect("answered");
        let r = jute::Reply::decode_frame(&f, op).expect("reply");
        assert_ne!(
            r.header.err,
            ErrorCode::MarshallingError.code(),
            "op {op} with trailing bytes"
        );
    }
    assert!(checked > 150, "only {checked} truncations");

    // A frame too short for a header, or an auth or SASL packet that cannot
    // be read, closes the connection without an answer, as in ZooKeeper.
    let auth = frame(
        -4,
        Request::Auth(jute::AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Some(Bytes::from_static(b"u:p")),
        }),
    );
    let sasl = frame(
        7,
        Request::Sasl(jute::GetSaslRequest {
            token: Some(Bytes::from_static(b"tok")),
        }),
    );
    for bad in [
        &[0u8, 0, 0, 1, 0, 0][..],
        &auth[..auth.len() - 1],
        &sasl[..9],
    ] {
        let mut c = Raw::connect(server.addr).await;
        c.send_bytes(bad).await;
        assert!(c.closed().await, "{bad:x?} left the connection open");
    }
}

/// A multi with a read op anywhere in it fails whole, as one failed txn:
/// MarshallingError, no body, one zxid, nothing applied, connection open.
/// A multiRead with a write in it is MarshallingError without a zxid.
#[tokio::test]
async fn reads_inside_a_multi_fail_the_request() {
    let (_d, server) = start(&[]);
    let mut c = Raw::connect(server.addr).await;
    let writes = || {
        vec![
            MultiOp::Create(create("/m")),
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: None,
                version: -1,
            }),
            MultiOp::Create(create("/m/child")),
        ]
    };
    let reads = [
        MultiOp::GetData(get("/")),
        MultiOp::GetChildren(GetChildrenRequest {
            path: "/".into(),
            watch: false,
        }),
    ];
    for read in &reads {
        for at in 0..=writes().len() {
            let mut ops = writes();
            ops.insert(at, read.clone());
            let before = c.last_zxid().await;
            let r = c.call(Request::Multi(MultiRequest { ops })).await;
            assert_eq!(
                (r.header.err, r.header.zxid, r.body.is_none()),
                (ErrorCode::MarshallingError.code(), before + 1, true),
                "read at {at}"
            );
            let r = c.call(Request::GetData(get("/m"))).await;
            assert_eq!(r.header.err, ErrorCode::NoNode.code(), "applied");
        }
        // The read alone in a multi is refused the same way.
        let r = c
            .call(Request::Multi(MultiRequest {
                ops: vec![read.clone()],
            }))
            .await;
        assert_eq!(r.header.err, ErrorCode::MarshallingError.code());
    }

    // multiRead: only writes -> -5 with an empty result list (as measured
    // on ZooKeeper 3.8); reads and writes mixed -> -5 alone.
    let before = c.last_zxid().await;
    let r = c
        .call(Request::MultiRead(MultiRequest { ops: writes() }))
        .await;
    assert_eq!(r.header.err, ErrorCode::MarshallingError.code());
    assert_eq!(r.header.zxid, before);
    assert!(
        matches!(&r.body, Some(jute::Response::MultiRead(m)) if m.results.is_empty()),
        "{r:?}"
    );
    let mut mixed = writes();
    mixed.insert(1, reads[0].clone());
    let r = c
        .call(Request::MultiRead(MultiRequest { ops: mixed }))
        .await;
    assert_eq!(
        (r.header.err, r.body.is_none()),
        (ErrorCode::MarshallingError.code(), true)
    );
    assert_eq!(c.last_zxid().await, before, "a multiRead took a zxid");
}

/// `len` + bytes, for a ustring no encoder would produce.
fn ustring(bytes: &[u8]) -> Vec<u8> {
    [&(bytes.len() as i32).to_be_bytes()[..], bytes].concat()
}

fn raw_request(xid: i32, op: OpCode, body: &[&[u8]]) -> Vec<u8> {
    let mut out = [xid.to_be_bytes(), op.code().to_be_bytes()].concat();
    for part in body {
        out.extend_from_slice(part);
    }
    out
}

/// Malformed UTF-8 in a path is read as Java reads it (U+FFFD), so every
/// op answers as for that path: creates and sets are BadArguments (U+FFFD
/// is not allowed in a name), reads and deletes NoNode, and a watch set on
/// the path is found under its decoded spelling. The connection stays open.
#[tokio::test]
async fn malformed_utf8_paths_are_read_leniently() {
    let (_d, server) = start(&[]);
    let mut c = Raw::connect(server.addr).await;
    c.call(Request::Create(create("/u"))).await;
    let malformed: &[&[u8]] = &[
        b"\xff",
        b"\xc3",
        b"\xc3\x78",
        b"\xc0\xaf",
        b"\xe0\x80\xaf",
        b"\xed\xa0\x80",
        b"\xed\xa0\xbd\xed\xb8\x80",
        b"\xe2\x82",
        b"\xf0\x9f\x98",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\x80",
        b"\xfe\xff",
    ];
    let flags = 0i32.to_be_bytes();
    let version = (-1i32).to_be_bytes();
    let no_data = (-1i32).to_be_bytes();
    let acl = encode_to_bytes(&Acl::open_unsafe());
    for (n, bad) in malformed.iter().enumerate() {
        let path = [&b"/u/a"[..], bad, b"z"].concat();
        let p = ustring(&path);
        let expect = |op: OpCode, body: &[&[u8]], err: ErrorCode, write: bool| {
            (raw_request(n as i32 + 1, op, body), err, write)
        };
        let cases = [
            expect(
                OpCode::Create,
                &[&p, &no_data, &acl, &flags],
                ErrorCode::BadArguments,
                true,
            ),
            expect(
                OpCode::SetData,
                &[&p, &no_data, &version],
                ErrorCode::BadArguments,
                true,
            ),
            expect(OpCode::Delete, &[&p, &version], ErrorCode::NoNode, true),
            expect(OpCode::GetData, &[&p, &[0]], ErrorCode::NoNode, false),
            expect(OpCode::GetChildren, &[&p, &[0]], ErrorCode::NoNode, false),
            expect(OpCode::Exists, &[&p, &[1]], ErrorCode::NoNode, false),
        ];
        for (frame, err, write) in cases {
            let before = c.last_zxid().await;
            c.send_bytes(&frame).await;
            let f = c.next_frame().await.expect("connection kept");
            let r = jute::Reply::decode_frame(&f, 0).expect("reply");
            assert_eq!(r.header.err, err.code(), "{path:x?}");
            assert_eq!(c.last_zxid().await, before + i64::from(write));
        }
        // The exists above left a data watch under the decoded path.
        let decoded = jute::java_lossy(&path).into_owned();
        let r = c
            .call(Request::CheckWatches(jute::RemoveWatchesRequest {
                path: decoded,
                watcher_type: 2,
            }))
            .await;
        assert_eq!(r.header.err, 0, "watch on {path:x?} not found");
    }
    // A name Java would hold as a surrogate pair is refused too.
    let r = c.call(Request::Create(create("/u/\u{1F600}"))).await;
    assert_eq!(r.header.err, ErrorCode::BadArguments.code());
    let r = c.call(Request::Create(create("/u/\u{e9}t\u{e9}"))).await;
    assert_eq!(r.header.err, 0);
}

fn auth(scheme: &str, credentials: Option<&'static [u8]>) -> Request {
    Request::Auth(jute::AuthPacket {
        auth_type: 0,
        scheme: scheme.into(),
        auth: credentials.map(Bytes::from_static),
    })
}

async fn who(c: &mut Raw) -> Vec<(String, String)> {
    let r = c.call(Request::WhoAmI(jute::Empty {})).await;
    let Some(jute::Response::WhoAmI(w)) = r.body else {
        panic!("whoAmI: {r:?}")
    };
    let mut ids: Vec<_> = w
        .client_info
        .into_iter()
        .map(|i| (i.auth_scheme, i.user))
        .collect();
    ids.sort();
    ids
}

/// addAuth per scheme, as ZooKeeper answers it: `ip` succeeds with any
/// credential and adds nothing; digest succeeds with any text; a digest
/// without credentials and every other scheme fail and close.
#[tokio::test]
async fn auth_schemes_answer_as_zookeeper() {
    let (_d, server) = start(&[]);
    let ip = ("ip".to_string(), "127.0.0.1".to_string());
    let mut c = Raw::connect(server.addr).await;
    for cred in [
        Some(&b"1.2.3.4"[..]),
        Some(b""),
        Some(b"garbage"),
        Some(b"\xff"),
        None,
    ] {
        let r = c.call(auth("ip", cred)).await;
        assert_eq!((r.header.err, r.header.zxid), (0, 0), "ip {cred:?}");
    }
    assert_eq!(who(&mut c).await, vec![ip.clone()]);
    for (cred, user) in [
        (&b"u:p"[..], "u"),
        (b"nocolon", "nocolon"),
        (b"a:b:c", "a"),
        (b"v\xff:p", "v\u{FFFD}"),
    ] {
        let r = c.call(auth("digest", Some(cred))).await;
        assert_eq!(r.header.err, 0, "digest {cred:x?}");
        assert!(
            who(&mut c)
                .await
                .contains(&("digest".to_string(), user.to_string())),
            "digest {cred:x?}"
        );
    }
    for (scheme, cred) in [
        ("digest", None),
        ("world", Some(&b"anyone"[..])),
        ("super", Some(b"x")),
        ("sasl", Some(b"x")),
        ("x509", Some(b"x")),
        ("foo", Some(b"x")),
        ("", Some(b"x")),
        ("IP", Some(b"x")),
    ] {
        let mut c = Raw::connect(server.addr).await;
        let r = c.call(auth(scheme, cred)).await;
        assert_eq!(
            r.header.err,
            ErrorCode::AuthFailed.code(),
            "{scheme} {cred:?}"
        );
        assert!(c.closed().await, "{scheme} left the connection open");
    }
}

/// With TTL nodes off a create in a TTL mode fails with Unimplemented as a
/// txn of its own (zxid taken, connection kept), also inside a multi.
#[tokio::test]
async fn ttl_nodes_off_refuses_ttl_creates_everywhere() {
    let (_d, server) = start(&["--ttl-nodes", "no"]);
    let mut c = Raw::connect(server.addr).await;
    let unimplemented = ErrorCode::Unimplemented.code();
    let before = c.last_zxid().await;
    let r = c.call(Request::CreateTtl(ttl("/t", 5))).await;
    assert_eq!((r.header.err, r.header.zxid), (unimplemented, before + 1));
    let r = c.call(Request::CreateTtl(ttl("/t", 0))).await;
    assert_eq!(r.header.err, ErrorCode::BadArguments.code());
    let mut ttl_flags = create("/t");
    ttl_flags.flags = 6;
    let r = c.call(Request::Create2(ttl_flags)).await;
    assert_eq!(r.header.err, unimplemented);
    let r = c
        .call(Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(create("/a")),
                MultiOp::CreateTtl(ttl("/b", 5)),
                MultiOp::Create(create("/c")),
            ],
        }))
        .await;
    let Some(jute::Response::Multi(m)) = r.body else {
        panic!("{r:?}")
    };
    let errs: Vec<i32> = m
        .results
        .iter()
        .map(|r| match r {
            jute::OpResult::Error { err } => *err,
            _ => 0,
        })
        .collect();
    assert_eq!(errs, vec![0, unimplemented, -2]);
    let r = c.call(Request::GetData(get("/a"))).await;
    assert_eq!(r.header.err, ErrorCode::NoNode.code());
    let r = c.call(Request::CreateContainer(create("/k"))).await;
    assert_eq!(r.header.err, 0, "containers are not TTL nodes");
}

/// A createTTL whose mode has no TTL is BadArguments whatever its TTL
/// (ZooKeeper 3.8 refuses a TTL >= 0 and falls over on a negative one).
#[tokio::test]
async fn create_ttl_without_a_ttl_mode_is_refused() {
    let (_d, server) = start(&[]);
    let mut c = Raw::connect(server.addr).await;
    for (flags, ttl_ms) in [(0, -5), (0, -1), (0, 0), (0, 100), (1, -1), (2, -3)] {
        let mut r = ttl("/t", flags);
        r.ttl = ttl_ms;
        let before = c.last_zxid().await;
        let reply = c.call(Request::CreateTtl(r)).await;
        assert_eq!(
            (reply.header.err, reply.header.zxid),
            (ErrorCode::BadArguments.code(), before + 1),
            "flags {flags} ttl {ttl_ms}"
        );
    }
    let r = c.call(Request::GetData(get("/t"))).await;
    assert_eq!(r.header.err, ErrorCode::NoNode.code());
}

/// Refused and early-answered requests: reconfig (off) is a failed txn,
/// SASL with no mechanism gets a null token on an open connection, and the
/// server-internal ops a client may not send fail as txns.
#[tokio::test]
async fn refusals_answer_as_zookeeper() {
    let (_d, server) = start(&[]);
    let mut c = Raw::connect(server.addr).await;
    let before = c.last_zxid().await;
    let r = c
        .call(Request::Reconfig(jute::ReconfigRequest {
            joining_servers: None,
            leaving_servers: Some("2".into()),
            new_members: None,
            cur_config_id: -1,
        }))
        .await;
    assert_eq!(
        (r.header.err, r.header.zxid),
        (ErrorCode::ReconfigDisabled.code(), before + 1)
    );
    let r = c
        .call(Request::Sasl(jute::GetSaslRequest {
            token: Some(Bytes::from_static(b"token")),
        }))
        .await;
    assert_eq!((r.header.err, r.header.zxid), (0, 0));
    assert_eq!(
        r.body,
        Some(jute::Response::Sasl(jute::SetSaslResponse { token: None }))
    );
    for (op, err) in [
        (OpCode::DeleteContainer, ErrorCode::BadArguments),
        (OpCode::CreateSession, ErrorCode::MarshallingError),
    ] {
        let before = c.last_zxid().await;
        c.send_bytes(&raw_request(50, op, &[&ustring(b"/")])).await;
        let f = c.next_frame().await.expect("connection kept");
        let r = jute::Reply::decode_frame(&f, 0).expect("reply");
        assert_eq!(
            (r.header.err, r.header.zxid),
            (err.code(), before + 1),
            "{op:?}"
        );
    }
    assert_eq!(c.call(Request::GetData(get("/"))).await.header.err, 0);
}

/// Every reply leaves in request order: a request answered without the
/// log, pipelined behind writes, waits for their replies.
#[tokio::test]
async fn early_answers_never_overtake_writes() {
    let (_d, server) = start(&["--ttl-nodes", "no"]);
    let truncated_get = {
        let f = frame(0, Request::GetData(get("/")));
        f[8..f.len() - 1].to_vec()
    };
    type Early = (&'static str, Box<dyn Fn(i32) -> Vec<u8>>);
    let early: Vec<Early> = vec![
        ("ping", Box::new(|_| raw_request(-2, OpCode::Ping, &[]))),
        (
            "auth ip",
            Box::new(|xid| frame(xid, auth("ip", Some(b"x"))).to_vec()),
        ),
        (
            "sasl",
            Box::new(|xid| {
                frame(
                    xid,
                    Request::Sasl(jute::GetSaslRequest {
                        token: Some(Bytes::from_static(b"t")),
                    }),
                )
                .to_vec()
            }),
        ),
        (
            "reconfig",
            Box::new(|xid| {
                frame(
                    xid,
                    Request::Reconfig(jute::ReconfigRequest {
                        joining_servers: None,
                        leaving_servers: Some("2".into()),
                        new_members: None,
                        cur_config_id: -1,
                    }),
                )
                .to_vec()
            }),
        ),
        (
            "createTTL (off)",
            Box::new(|xid| frame(xid, Request::CreateTtl(ttl("/ttl", 5))).to_vec()),
        ),
        (
            "undecodable getData",
            Box::new(move |xid| raw_request(xid, OpCode::GetData, &[&truncated_get])),
        ),
        (
            "multiRead with a write",
            Box::new(|xid| {
                frame(
                    xid,
                    Request::MultiRead(MultiRequest {
                        ops: vec![MultiOp::Create(create("/mr"))],
                    }),
                )
                .to_vec()
            }),
        ),
        (
            "sync",
            Box::new(|xid| {
                frame(xid, Request::Sync(jute::PathRequest { path: "/".into() })).to_vec()
            }),
        ),
        (
            "whoAmI",
            Box::new(|xid| frame(xid, Request::WhoAmI(jute::Empty {})).to_vec()),
        ),
    ];
    let mut c = Raw::connect(server.addr).await;
    for (round, (name, make)) in (0i32..).zip(&early) {
        let mut sent = Vec::new();
        for i in 0..20 {
            let xid = 10_000 + round * 100 + i;
            let path = format!("/w{round}-{i}");
            c.send_bytes(&frame(xid, Request::Create(create(&path))))
                .await;
            sent.push(xid);
        }
        let xid = 10_000 + round * 100 + 99;
        let bytes = make(xid);
        let early_xid = i32::from_be_bytes(bytes[..4].try_into().expect("xid"));
        c.send_bytes(&bytes).await;
        sent.push(early_xid);
        for want in sent {
            let f = c
                .next_frame()
                .await
                .unwrap_or_else(|| panic!("{name}: closed"));
            let got = i32::from_be_bytes(f[..4].try_into().expect("xid"));
            assert_eq!(got, want, "{name}: reply out of request order");
        }
    }
}
