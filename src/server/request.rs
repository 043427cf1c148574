//! Requests after the handshake, sorted into what they are: writes go to the
//! log (their reply comes from apply), reads are answered from the local
//! tree once this connection's earlier writes are applied, and the rest
//! (ping, auth, sync, ...) are answered here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    ErrorCode, Id, MultiOp, OpCode, Reply, ReplyHeader, Request, RequestPacket, Response,
    SyncResponse, frame_bytes, xid,
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Shared, now_ms, read};
use crate::node::{Inflight, Out};
use crate::tree::{Command, Origin, Txn, WriteOp, acl};

pub enum Flow {
    Continue,
    Close,
}

/// A connection's state once its session is established.
pub struct ConnCtx {
    pub shared: Arc<Shared>,
    pub conn: u64,
    pub session: i64,
    pub timeout: Duration,
    pub tx: mpsc::UnboundedSender<Out>,
    pub inflight: Arc<Inflight>,
}

impl ConnCtx {
    fn send(&self, reply: &Reply) {
        let _ = self.tx.send(Out::Frame(frame_bytes(reply)));
    }

    fn header(&self, xid: i32, err: ErrorCode) -> Reply {
        Reply {
            header: ReplyHeader {
                xid,
                zxid: self.shared.node.lock().tree.last_zxid(),
                err: err.code(),
            },
            body: None,
        }
    }

    pub async fn handle(&mut self, frame: Bytes) -> Flow {
        let packet = match RequestPacket::decode_frame(&frame) {
            Ok(p) => p,
            Err(e) => {
                // ZooKeeper drops a connection whose request it cannot read.
                debug!(error = %e, "undecodable request; closing");
                return Flow::Close;
            }
        };
        let started = Instant::now();
        let auth = {
            let mut state = self.shared.node.lock();
            state.tracker.touch(self.session, self.timeout, started);
            state.conns.get(&self.conn).map(|c| c.auth.clone())
        };
        let Some(auth) = auth else {
            // The node no longer knows this connection (its session was closed).
            return Flow::Close;
        };
        let xid = packet.xid;
        let session = self.session;
        let write = |op: WriteOp| Txn::Write {
            session,
            auth: auth.to_vec(),
            op,
        };
        let create = |op: OpCode, r: jute::CreateRequest| WriteOp::Create {
            op,
            path: r.path,
            data: r.data,
            acl: r.acl,
            flags: r.flags,
            // No TTL in the request: ZooKeeper treats it as -1.
            ttl: -1,
        };
        let create_ttl = |r: jute::CreateTtlRequest| WriteOp::Create {
            op: OpCode::CreateTtl,
            path: r.path,
            data: r.data,
            acl: r.acl,
            flags: r.flags,
            ttl: r.ttl,
        };
        let txn = match packet.request {
            Request::Ping(_) => {
                self.send(&self.header(xid::PING, ErrorCode::Ok));
                return Flow::Continue;
            }
            Request::Auth(packet) => return self.auth(xid, &auth, packet),
            Request::Sync(r) => {
                self.inflight.drained().await;
                if let Err(e) = self.shared.consensus.read_barrier().await {
                    warn!(error = %e, "sync failed; closing");
                    return Flow::Close;
                }
                let mut reply = self.header(xid, ErrorCode::Ok);
                reply.body = Some(Response::Sync(SyncResponse { path: r.path }));
                self.send(&reply);
                return Flow::Continue;
            }
            Request::Reconfig(_) => {
                // Dynamic reconfiguration is off, as in a default ZooKeeper.
                self.send(&self.header(xid, ErrorCode::ReconfigDisabled));
                return Flow::Continue;
            }
            Request::Sasl(_) => {
                // No SASL mechanism is configured: refuse, as ZooKeeper does, and close.
                self.send(&self.header(xid, ErrorCode::AuthFailed));
                return Flow::Close;
            }
            Request::Unknown { op, .. } => {
                debug!(op, "unknown op code");
                let mut reply = self.header(xid, ErrorCode::Unimplemented);
                reply.header.zxid = -1;
                self.send(&reply);
                return Flow::Close;
            }
            Request::CloseSession(_) => Txn::CloseSession { session },
            Request::Create(r) => write(create(OpCode::Create, r)),
            Request::Create2(r) => write(create(OpCode::Create2, r)),
            Request::CreateContainer(r) => write(create(OpCode::CreateContainer, r)),
            Request::CreateTtl(r) => {
                if !self.shared.config.ttl_nodes {
                    self.send(&self.header(xid, ErrorCode::Unimplemented));
                    return Flow::Continue;
                }
                write(create_ttl(r))
            }
            Request::Delete(r) => write(WriteOp::Delete {
                path: r.path,
                version: r.version,
            }),
            Request::SetData(r) => write(WriteOp::SetData {
                path: r.path,
                data: r.data,
                version: r.version,
            }),
            Request::SetAcl(r) => write(WriteOp::SetAcl {
                path: r.path,
                acl: r.acl,
                version: r.version,
            }),
            Request::Multi(m) => {
                let mut ops = Vec::with_capacity(m.ops.len());
                for op in m.ops {
                    ops.push(match op {
                        MultiOp::Create(r) => create(OpCode::Create, r),
                        MultiOp::Create2(r) => create(OpCode::Create2, r),
                        MultiOp::CreateContainer(r) => create(OpCode::CreateContainer, r),
                        MultiOp::CreateTtl(r) => create_ttl(r),
                        MultiOp::Delete(r) => WriteOp::Delete {
                            path: r.path,
                            version: r.version,
                        },
                        MultiOp::SetData(r) => WriteOp::SetData {
                            path: r.path,
                            data: r.data,
                            version: r.version,
                        },
                        MultiOp::Check(r) => WriteOp::Check {
                            path: r.path,
                            version: r.version,
                        },
                        // ZooKeeper refuses to read a multi that mixes reads into writes.
                        MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Flow::Close,
                    });
                }
                Txn::Multi {
                    session,
                    auth: auth.to_vec(),
                    ops,
                }
            }
            request => {
                // Everything else reads: after this connection's writes are applied.
                self.inflight.drained().await;
                let mut state = self.shared.node.lock();
                let reader = read::Reader {
                    conn: self.conn,
                    session,
                    auth: &auth,
                };
                let flow = match reader.answer(&mut state, xid, request) {
                    Some(reply) => {
                        let _ = self.tx.send(Out::Frame(frame_bytes(&reply)));
                        Flow::Continue
                    }
                    None => Flow::Close,
                };
                drop(state);
                return flow;
            }
        };
        self.propose(xid, txn);
        Flow::Continue
    }

    /// Send a write to the log. Its reply is queued by apply; here only a
    /// failure to get it logged is handled, by closing the connection so the
    /// client retries (never by answering for a write that may yet apply).
    fn propose(&self, xid: i32, txn: Txn) {
        let cmd = Command {
            origin: Origin {
                node: self.shared.node.id(),
                conn: self.conn,
                xid,
            },
            time: now_ms(),
            txn,
        };
        self.inflight.begin();
        let fut = self.shared.consensus.submit(cmd.encode());
        let (inflight, tx) = (self.inflight.clone(), self.tx.clone());
        tokio::spawn(async move {
            match fut.await {
                // Latency is recorded when the reply is written (stats.rs).
                Ok(()) => {}
                Err(e) => {
                    warn!(error = %e, "write not logged; closing connection");
                    inflight.end();
                    let _ = tx.send(Out::Close);
                }
            }
        });
    }

    /// addAuth: digest identities are added (a wrong password simply proves
    /// a different identity, as in ZooKeeper); unknown schemes fail and close.
    /// The answer carries the request's xid (−4 from the Java client, an
    /// ordinary one from others), as ZooKeeper's does.
    fn auth(&mut self, xid: i32, current: &[Id], packet: jute::AuthPacket) -> Flow {
        let credentials = packet.auth.as_deref().unwrap_or_default();
        match packet.scheme.as_str() {
            "digest" => {
                let text = String::from_utf8_lossy(credentials);
                let id = acl::digest_id(&text);
                let mut auth = current.to_vec();
                if self.shared.config.super_digest.as_deref() == Some(id.as_str()) {
                    auth.push(Id::new(acl::SUPER, ""));
                }
                let id = Id::new("digest", id);
                if !auth.contains(&id) {
                    auth.push(id);
                }
                if let Some(c) = self.shared.node.lock().conns.get_mut(&self.conn) {
                    c.auth = auth.into();
                }
                let mut reply = self.header(xid, ErrorCode::Ok);
                reply.header.zxid = 0;
                self.send(&reply);
                Flow::Continue
            }
            other => {
                debug!(scheme = other, "unsupported auth scheme");
                let mut reply = self.header(xid, ErrorCode::AuthFailed);
                reply.header.zxid = 0;
                self.send(&reply);
                Flow::Close
            }
        }
    }
}
