//! Read-only mode (`readonlymode.enabled`), as ZooKeeper's read-only server:
//! a member cut off from the quorum keeps answering clients that said they
//! can live with a read-only server (the `readOnly` flag of their
//! ConnectRequest). They read this replica's tree as it was when contact was
//! lost; writes and sync get NotReadOnly; nothing reaches the log. Clients
//! that did not ask are refused, so they move to a node in the majority.
//!
//! Sessions made here are this node's alone: the cluster never hears of
//! them, and a client that later reaches a read-write node with one is told
//! it expired (as with ZooKeeper, whose clients send session 0 until they
//! have seen a read-write server). A real session may be resumed here; it is
//! not kept alive at the leader while it is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{ConnectRequest, ConnectResponse, Id, OpCode, frame_bytes};
use tracing::{debug, warn};

use super::Shared;
use crate::node::{Conn, Inflight, Outbox};

/// Sessions created on this node while it was read-only.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<i64, Local>>,
}

struct Local {
    passwd: [u8; 16],
    timeout: i32,
    /// When its connection went away; None while one holds it.
    detached: Option<Instant>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Local>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Its connection closed: the session may be resumed for its timeout.
    pub fn detach(&self, session: i64) {
        if let Some(s) = self.lock().get_mut(&session) {
            s.detached = Some(Instant::now());
        }
    }

    /// A client asked to close it.
    pub fn close(&self, session: i64) -> bool {
        self.lock().remove(&session).is_some()
    }

    /// Forget sessions nobody resumed within their timeout.
    pub fn expire(&self, now: Instant) {
        self.lock().retain(|_, s| {
            s.detached.is_none_or(|at| {
                now.duration_since(at)
                    < Duration::from_millis(u64::try_from(s.timeout).unwrap_or(0))
            })
        });
    }

    /// Back in touch with the quorum: these sessions mean nothing there.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Requests a read-only server answers with NotReadOnly: every op that
/// changes the tree, plus sync and check (which ZooKeeper's read-only
/// processor lists with the writes, although 3.9 answers a lone check as a
/// read elsewhere).
pub fn refuses(op: i32) -> bool {
    matches!(
        OpCode::from_code(op),
        Some(
            OpCode::Create
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Sync
                | OpCode::Check
                | OpCode::Multi
                | OpCode::Create2
                | OpCode::Reconfig
                | OpCode::CreateContainer
                | OpCode::DeleteContainer
                | OpCode::CreateTtl
        )
    )
}

/// The handshake of a read-only client while this node is read-only: a new
/// local session, or one this replica knows (local or from the tree) resumed
/// with its password. Returns the session and its timeout, or None after
/// telling the client (an unknown session is expired) or not (it is ahead of
/// this replica and must look elsewhere).
pub fn handshake(
    shared: &Arc<Shared>,
    conn: u64,
    peer: SocketAddr,
    req: &ConnectRequest,
    outbox: &Outbox,
    inflight: &Arc<Inflight>,
) -> Option<(i64, i32)> {
    let timeout = shared.config.negotiate_timeout(req.timeout);
    let respond = |session: i64, timeout: i32, passwd: Bytes| {
        outbox.frame(frame_bytes(&ConnectResponse {
            protocol_version: 0,
            timeout,
            session_id: session,
            passwd: Some(passwd),
            read_only: Some(true),
        }));
    };
    let mut state = shared.node.lock();
    if req.last_zxid_seen > state.tree.last_zxid() {
        // The client saw a newer tree than this replica has.
        debug!(
            client_zxid = format_args!("{:#x}", req.last_zxid_seen),
            "read-only: refusing a client ahead of this server"
        );
        return None;
    }
    let (session, passwd) = if req.session_id != 0 {
        let given = req
            .passwd
            .as_deref()
            .and_then(|p| <[u8; 16]>::try_from(p).ok());
        let mut locals = shared.read_only_sessions.lock();
        let known = match locals.get_mut(&req.session_id) {
            Some(local) if given == Some(local.passwd) => {
                local.detached = None;
                true
            }
            Some(_) => false,
            None => state
                .tree
                .session(req.session_id)
                .is_some_and(|s| given == Some(s.passwd)),
        };
        drop(locals);
        let Some(passwd) = given.filter(|_| known) else {
            respond(0, 0, Bytes::from_static(&[0; 16]));
            return None;
        };
        state.attach(req.session_id, conn);
        (req.session_id, passwd)
    } else {
        let mut passwd = [0u8; 16];
        let mut raw = [0u8; 8];
        if getrandom::fill(&mut passwd).is_err() || getrandom::fill(&mut raw).is_err() {
            warn!("no randomness for a read-only session");
            return None;
        }
        // ZooKeeper's layout, the server id in the top byte; random below it
        // so that no restart repeats one.
        let id = ((shared.node.id() & 0xff) << 56) | (u64::from_be_bytes(raw) >> 8);
        let session = i64::from_be_bytes(id.to_be_bytes());
        let mut locals = shared.read_only_sessions.lock();
        if session == 0 || state.tree.session(session).is_some() || locals.contains_key(&session) {
            return None;
        }
        locals.insert(
            session,
            Local {
                passwd,
                timeout,
                detached: None,
            },
        );
        drop(locals);
        state.sessions.insert(session, conn);
        (session, passwd)
    };
    state.conns.insert(
        conn,
        Conn {
            session,
            outbox: outbox.clone(),
            inflight: inflight.clone(),
            peer: peer.to_string(),
            auth: vec![Id::new("ip", peer.ip().to_string())].into(),
            read_only: true,
        },
    );
    drop(state);
    respond(session, timeout, Bytes::copy_from_slice(&passwd));
    Some((session, timeout))
}
