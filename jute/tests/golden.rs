//! Golden bytes: frames captured between Apache ZooKeeper and real clients
//! (see fixtures/README.md) decode, and re-encode to the identical bytes.

mod common;

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use common::{Dir, fixtures};
use jute::*;

/// What the fixtures as a whole exercised.
#[derive(Default)]
struct Seen {
    request_ops: BTreeSet<i32>,
    reply_ops: BTreeSet<i32>,
    handshake_lens: BTreeSet<usize>,
    failed_multi: bool,
    notifications: BTreeSet<i32>,
    error_codes: BTreeSet<i32>,
    expired_handshake: bool,
}

/// Split the length prefix off and check it.
fn body_of(name: &str, frame: &Bytes) -> Bytes {
    assert!(frame.len() >= 4, "{name}: frame shorter than its prefix");
    let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(len as usize, frame.len() - 4, "{name}: length prefix");
    frame.slice(4..)
}

fn check_connection(name: &str, frames: &[(Dir, Bytes)], seen: &mut Seen) {
    let mut pending: HashMap<i32, i32> = HashMap::new();
    let mut client_started = false;
    let mut server_started = false;
    for (n, (dir, frame)) in frames.iter().enumerate() {
        let at = format!("{name} frame {n}");
        let body = body_of(&at, frame);
        match dir {
            Dir::Client if !client_started => {
                client_started = true;
                let req: ConnectRequest =
                    decode_exact(&body).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(
                    frame_bytes(&req),
                    *frame,
                    "{at}: ConnectRequest re-encoding"
                );
                seen.handshake_lens.insert(body.len());
            }
            Dir::Server if !server_started => {
                server_started = true;
                let rsp: ConnectResponse =
                    decode_exact(&body).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(
                    frame_bytes(&rsp),
                    *frame,
                    "{at}: ConnectResponse re-encoding"
                );
                if rsp.timeout == 0 && rsp.session_id == 0 {
                    seen.expired_handshake = true;
                }
            }
            Dir::Client => {
                let packet =
                    RequestPacket::decode_frame(&body).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert!(
                    !matches!(packet.request, Request::Unknown { .. }),
                    "{at}: op {} is not in the request table",
                    packet.request.op_code()
                );
                assert_eq!(
                    frame_bytes(&packet),
                    *frame,
                    "{at}: request re-encoding ({packet:?})"
                );
                seen.request_ops.insert(packet.request.op_code());
                pending.insert(packet.xid, packet.request.op_code());
            }
            Dir::Server => {
                let xid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let op = pending.get(&xid).copied().unwrap_or(OpCode::Error.code());
                let reply = Reply::decode_frame(&body, op)
                    .unwrap_or_else(|e| panic!("{at} (op {op}): {e}"));
                assert_eq!(
                    frame_bytes(&reply),
                    *frame,
                    "{at}: reply re-encoding ({reply:?})"
                );
                if reply.header.err != 0 {
                    seen.error_codes.insert(reply.header.err);
                }
                match &reply.body {
                    Some(Response::Unknown { op, .. }) => {
                        panic!("{at}: reply to op {op} not decoded")
                    }
                    Some(Response::Notification(event)) => {
                        seen.notifications.insert(event.event_type);
                    }
                    Some(Response::Multi(m))
                        if m.results
                            .iter()
                            .any(|r| matches!(r, OpResult::Error { err } if *err != 0)) =>
                    {
                        seen.failed_multi = true;
                    }
                    _ => {}
                }
                if let Some(body) = &reply.body {
                    seen.reply_ops.insert(body.op_code());
                }
            }
        }
    }
}

#[test]
fn captured_frames_reencode_identically() {
    let files = fixtures();
    assert!(!files.is_empty(), "no fixtures found");
    let mut seen = Seen::default();
    for (name, frames) in &files {
        check_connection(name, frames, &mut seen);
    }

    eprintln!(
        "{} connections; request ops {:?}; reply ops {:?}; handshakes {:?}; events {:?}; errors {:?}",
        files.len(),
        seen.request_ops,
        seen.reply_ops,
        seen.handshake_lens,
        seen.notifications,
        seen.error_codes
    );
    // The fixtures must keep covering what issue #2 asks for.
    let required = [
        OpCode::Create,
        OpCode::Create2,
        OpCode::CreateContainer,
        OpCode::CreateTtl,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetAcl,
        OpCode::SetAcl,
        OpCode::GetChildren,
        OpCode::GetChildren2,
        OpCode::Sync,
        OpCode::Multi,
        OpCode::MultiRead,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::AddWatch,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::WhoAmI,
        OpCode::Sasl,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::SetWatches2,
        OpCode::Ping,
        OpCode::CloseSession,
    ];
    let missing: Vec<_> = required
        .iter()
        .filter(|op| !seen.request_ops.contains(&op.code()))
        .collect();
    assert!(missing.is_empty(), "fixtures lack requests for {missing:?}");
    assert!(
        seen.handshake_lens.contains(&44),
        "no 44-byte handshake: {:?}",
        seen.handshake_lens
    );
    assert!(
        seen.handshake_lens.contains(&45),
        "no 45-byte handshake: {:?}",
        seen.handshake_lens
    );
    assert!(seen.failed_multi, "no failed multi");
    assert!(seen.expired_handshake, "no refused (timeout 0) handshake");
    for event in [
        EventType::NodeCreated,
        EventType::NodeDeleted,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
    ] {
        assert!(
            seen.notifications.contains(&event.code()),
            "no {event:?} notification"
        );
    }
    for err in [
        ErrorCode::NoNode,
        ErrorCode::NodeExists,
        ErrorCode::BadVersion,
        ErrorCode::NoAuth,
    ] {
        assert!(seen.error_codes.contains(&err.code()), "no {err:?} reply");
    }
}
