//! Requests after the handshake, sorted into what they are: writes go to the
//! log (their reply comes from apply), reads are answered from the local
//! tree once this connection's earlier writes are applied, and the rest
//! (ping, auth, sync, ...) are answered here.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    ErrorCode, Id, MultiOp, OpCode, Reply, ReplyHeader, Request, RequestPacket, Response,
    SyncResponse, frame_bytes, xid,
};
use tracing::{debug, warn};

use super::{Shared, read, read_only, reconfig};
use crate::node::{Inflight, Outbox};
use crate::tree::{Txn, WriteOp, acl};

pub enum Flow {
    Continue,
    Close,
}

/// What `handle` made of a request.
pub enum Handled<'a> {
    Done(Flow),
    /// An answer that waits (for the connection's earlier writes, a sync
    /// or a reconfig): boxed, as it is rare and its future large.
    Waiting(Pin<Box<dyn Future<Output = Flow> + Send + 'a>>),
}

/// A connection's state once its session is established.
pub struct ConnCtx {
    pub shared: Arc<Shared>,
    pub conn: u64,
    pub session: i64,
    pub timeout: Duration,
    pub outbox: Outbox,
    pub inflight: Arc<Inflight>,
    /// Served in read-only mode (see read_only.rs).
    pub read_only: bool,
}

impl ConnCtx {
    fn send(&self, reply: &Reply) {
        self.outbox.frame(frame_bytes(reply));
    }

    /// A header-only reply carrying the last applied zxid.
    fn answer_error(&self, xid: i32, err: ErrorCode) {
        let reply = Reply {
            header: ReplyHeader {
                xid,
                zxid: self.shared.node.lock().tree.last_zxid(),
                err: err.code(),
            },
            body: None,
        };
        self.send(&reply);
    }

    /// Resolves when this connection may read another request: it has fewer
    /// than its share of requests in the log, its unsent replies are under
    /// the byte cap, and the whole server is under globalOutstandingLimit.
    pub async fn throttle(&self) {
        loop {
            let answered = self.inflight.changed();
            let written = self.outbox.written();
            let released = self.shared.outstanding.released();
            if !self.throttled() {
                return;
            }
            tokio::select! {
                _ = answered => {}
                _ = written => {}
                _ = released => {}
            }
        }
    }

    /// Whether this connection must wait before reading another request.
    pub fn throttled(&self) -> bool {
        let limits = &self.shared.config.limits;
        self.inflight.pending() >= limits.conn_outstanding
            || self.outbox.unsent() >= limits.conn_unsent_bytes
            || self.shared.outstanding.count() >= limits.global_outstanding
    }

    /// A request read from the client: answered, sent to the log, or (for
    /// the few answers that must wait) a future that answers it. Not async
    /// itself: the connection's future, which lives as long as it does,
    /// would hold the largest of these waits inline.
    pub fn handle(&mut self, frame: Bytes) -> Handled<'_> {
        let (header, body) = match RequestPacket::decode_server(&frame) {
            Ok(parts) => parts,
            Err(e) => {
                // Without a header there is no xid to answer: ZooKeeper drops
                // the connection, and so do we.
                debug!(error = %e, "request without a header; closing");
                return Handled::Done(Flow::Close);
            }
        };
        let started = Instant::now();
        if self.read_only
            && let Some(flow) = self.read_only_refusal(header.xid, header.op)
        {
            return Handled::Done(flow);
        }
        let auth = {
            let mut state = self.shared.node.lock();
            // A read-only session is nothing the leader should keep alive.
            if !self.read_only {
                state.tracker.touch(self.session, self.timeout, started);
            }
            state.conns.get(&self.conn).map(|c| c.auth.clone())
        };
        let Some(auth) = auth else {
            // The node no longer knows this connection (its session was closed).
            return Handled::Done(Flow::Close);
        };
        let xid = header.xid;
        match self.route(header.op, body, &auth) {
            Route::Log(txn) => {
                self.propose(xid, txn);
                Handled::Done(Flow::Continue)
            }
            Route::Here(local) => {
                // Whatever is answered here waits for this connection's
                // earlier writes: replies leave in request order (the Java
                // client fails on "Xid out of order"), and reads see the
                // session's own writes.
                let slow = matches!(
                    local,
                    Local::Request(Request::Reconfig(_) | Request::Sync(_))
                );
                if !slow && self.inflight.pending() == 0 {
                    return Handled::Done(self.answer_here(xid, local, &auth));
                }
                Handled::Waiting(Box::pin(async move {
                    self.inflight.drained().await;
                    match local {
                        Local::Request(Request::Reconfig(r)) => self.reconfig(xid, r, &auth).await,
                        Local::Request(Request::Sync(r)) => self.sync(xid, r).await,
                        local => self.answer_here(xid, local, &auth),
                    }
                }))
            }
            Route::Close => Handled::Done(Flow::Close),
        }
    }

    /// On a read-only connection: what is answered without the tree. None:
    /// the request is served as on any connection.
    fn read_only_refusal(&self, xid: i32, op: i32) -> Option<Flow> {
        if !self.shared.read_only() {
            // Back in touch with the quorum: the client is to find a
            // read-write session (housekeeping closes the rest).
            return Some(Flow::Close);
        }
        if op == OpCode::CloseSession.code() && self.shared.read_only_sessions.close(self.session) {
            self.answer_error(xid, ErrorCode::Ok);
            return Some(Flow::Close);
        }
        // A session of the cluster cannot be closed from here (ZooKeeper:
        // NotReadOnly for a global session), nor can anything be written.
        if op == OpCode::CloseSession.code() || read_only::refuses(op) {
            self.answer_error(xid, ErrorCode::NotReadOnly);
            return Some(Flow::Continue);
        }
        None
    }

    /// Where a request is answered: a write (a refused one too, since
    /// ZooKeeper logs those as error txns) goes to the log; the rest here.
    fn route(&self, op: i32, body: Result<Request, jute::DecodeError>, auth: &[Id]) -> Route {
        let session = self.session;
        let write = |op: WriteOp| {
            Route::Log(Txn::Write {
                session,
                auth: auth.to_vec(),
                op,
            })
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
        // TTL nodes off (extendedTypesEnabled=false): a create in a TTL mode
        // is refused with Unimplemented as the first check of that create,
        // inside a multi too, and like any failed write it takes a zxid.
        let ttl_nodes = self.shared.config.ttl_nodes;
        let ttl_gate = |op: WriteOp| match op {
            WriteOp::Create { flags, .. } if !ttl_nodes && ttl_mode(flags) => {
                refused(ErrorCode::Unimplemented)
            }
            op => op,
        };
        let request = match body {
            Ok(request) => request,
            Err(e) => {
                debug!(error = %e, op, "undecodable request body");
                return match OpCode::from_code(op) {
                    // ZooKeeper reads these before its pipeline and drops
                    // the connection when it cannot.
                    Some(OpCode::Auth | OpCode::Sasl) => Route::Close,
                    // A write it cannot read becomes a failed txn: it takes a zxid.
                    Some(op) if op.is_write() => write(refused(ErrorCode::MarshallingError)),
                    // A read (or a lone check, a read since 3.9; or reconfig,
                    // which fails before it would log anything): no zxid.
                    _ => Route::Here(Local::Error(ErrorCode::MarshallingError)),
                };
            }
        };
        match request {
            // Dynamic reconfiguration off, as in a default ZooKeeper, which
            // refuses it as a failed txn (it takes a zxid). On, it changes
            // the members before its txn is logged (answer_here).
            Request::Reconfig(_) if !self.shared.config.reconfig => {
                write(refused(ErrorCode::ReconfigDisabled))
            }
            // Server-internal ops sent by a client fail as txns, as in ZooKeeper.
            Request::Unknown { op, .. } if op == OpCode::DeleteContainer.code() => {
                write(refused(ErrorCode::BadArguments))
            }
            Request::Unknown { op, .. } if op == OpCode::CreateSession.code() => {
                write(refused(ErrorCode::MarshallingError))
            }
            Request::CloseSession(_) => Route::Log(Txn::CloseSession { session }),
            Request::Create(r) => write(ttl_gate(create(OpCode::Create, r))),
            Request::Create2(r) => write(ttl_gate(create(OpCode::Create2, r))),
            Request::CreateContainer(r) => write(ttl_gate(create(OpCode::CreateContainer, r))),
            // A createTTL in a mode without a TTL and with a negative TTL
            // passes ZooKeeper's checks and then fails its apply (3.8 stops
            // the server; found by corral-diff). It is refused as the bad
            // argument it is, here, before it reaches the log.
            Request::CreateTtl(r) if !ttl_mode(r.flags) && r.ttl < 0 => {
                write(refused(ErrorCode::BadArguments))
            }
            Request::CreateTtl(r) => write(ttl_gate(create_ttl(r))),
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
                        MultiOp::CreateTtl(r) => ttl_gate(create_ttl(r)),
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
                        // ZooKeeper cannot read a multi with a read op in it:
                        // the whole request fails, as a txn of its own.
                        MultiOp::GetChildren(_) | MultiOp::GetData(_) => {
                            return write(refused(ErrorCode::MarshallingError));
                        }
                    });
                }
                Route::Log(Txn::Multi {
                    session,
                    auth: auth.to_vec(),
                    ops,
                })
            }
            // Reads, ping, auth, sync, SASL, unknown ops.
            request => Route::Here(Local::Request(request)),
        }
    }

    /// Reconfig: prepared here (it may wait seconds for new members to
    /// catch up), then logged.
    async fn reconfig(&self, xid: i32, r: jute::ReconfigRequest, auth: &[Id]) -> Flow {
        let Some(op) = self
            .alive_while(reconfig::prepare(&self.shared, r, auth))
            .await
        else {
            // Whether the members changed is not known: as a lost
            // connection, never as an answer.
            return Flow::Close;
        };
        self.propose(
            xid,
            Txn::Write {
                session: self.session,
                auth: auth.to_vec(),
                op,
            },
        );
        Flow::Continue
    }

    /// Sync: answered once this node has caught up with the leader.
    async fn sync(&self, xid: i32, r: jute::SyncRequest) -> Flow {
        let barrier = self.shared.consensus.read_barrier();
        if let Err(e) = self.alive_while(barrier).await {
            warn!(error = %e, "sync failed; closing");
            return Flow::Close;
        }
        let reply = Reply {
            header: ReplyHeader {
                xid,
                zxid: self.shared.node.lock().tree.last_zxid(),
                err: 0,
            },
            body: Some(Response::Sync(SyncResponse { path: r.path })),
        };
        self.send(&reply);
        Flow::Continue
    }

    /// Answer a request that does not go to the log and does not wait
    /// (after the connection's earlier writes are answered).
    fn answer_here(&mut self, xid: i32, local: Local, auth: &[Id]) -> Flow {
        let request = match local {
            Local::Error(err) => {
                self.answer_error(xid, err);
                return Flow::Continue;
            }
            Local::Request(request) => request,
        };
        match request {
            Request::Ping(_) => self.answer_error(xid::PING, ErrorCode::Ok),
            Request::Auth(packet) => return self.auth(xid, auth, packet),
            // No SASL mechanism is configured. ZooKeeper then answers a token
            // with no challenge (a null token, zxid 0) and keeps the
            // connection; the client's authentication goes nowhere.
            Request::Sasl(_) => self.send(&Reply {
                header: ReplyHeader {
                    xid,
                    zxid: 0,
                    err: 0,
                },
                body: Some(Response::Sasl(jute::SetSaslResponse { token: None })),
            }),
            Request::Unknown { op, .. } => {
                debug!(op, "unknown op code");
                self.send(&Reply {
                    header: ReplyHeader {
                        xid,
                        zxid: -1,
                        err: ErrorCode::Unimplemented.code(),
                    },
                    body: None,
                });
                return Flow::Close;
            }
            request => {
                let mut state = self.shared.node.lock();
                // The session reconnected elsewhere: this connection's reads
                // are refused as its writes are (SessionMoved).
                let mine = self.shared.node.owner(self.conn);
                if !self.read_only && state.tree.moved_from(self.session, mine) {
                    drop(state);
                    self.answer_error(xid, ErrorCode::SessionMoved);
                    return Flow::Continue;
                }
                let reader = read::Reader {
                    conn: self.conn,
                    session: self.session,
                    auth,
                };
                let Some(reply) = reader.answer(&mut state, xid, request) else {
                    return Flow::Close;
                };
                // Queued under the lock: a notification for a watch this read
                // set must not overtake the reply that set it.
                self.send(&reply);
                drop(state);
            }
        }
        Flow::Continue
    }

    /// Await `work`, which may take longer than the session timeout (a
    /// leader to be elected, new members to catch up), keeping the session
    /// alive meanwhile: this connection reads nothing until it is done, its
    /// client's pings included, and that client is waiting, not gone.
    async fn alive_while<F: std::future::Future>(&self, work: F) -> F::Output {
        tokio::pin!(work);
        let mut alive = tokio::time::interval((self.timeout / 3).max(Duration::from_millis(10)));
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = alive.tick() => {
                    let now = Instant::now();
                    self.shared.node.lock().tracker.touch(self.session, self.timeout, now);
                }
            }
        }
    }

    /// Send a write to the log. Its reply is queued by apply; here only a
    /// failure to get it logged is handled, by closing the connection so the
    /// client retries (never by answering for a write that may yet apply).
    fn propose(&self, xid: i32, txn: Txn) {
        self.inflight.begin();
        let fut = self.shared.submit(self.conn, xid, txn);
        let (inflight, outbox) = (self.inflight.clone(), self.outbox.clone());
        tokio::spawn(async move {
            match fut.await {
                // Latency is recorded when the reply is written (stats.rs).
                Ok(()) => {}
                Err(e) => {
                    warn!(error = %e, "write not logged; closing connection");
                    inflight.end();
                    outbox.close();
                }
            }
        });
    }

    /// addAuth: digest identities are added (a wrong password simply proves
    /// a different identity, as in ZooKeeper); `ip` succeeds without adding
    /// anything (ZooKeeper's ip provider ignores the credential and proves
    /// the connection's address, which every connection already holds);
    /// other schemes, and a digest without credentials, fail and close. The
    /// answer carries the request's xid (−4 from the Java client, an ordinary
    /// one from others) and zxid 0, as ZooKeeper's does.
    fn auth(&mut self, xid: i32, current: &[Id], packet: jute::AuthPacket) -> Flow {
        let (err, flow) = match (packet.scheme.as_str(), packet.auth.as_deref()) {
            ("digest", Some(credentials)) => {
                let text = jute::java_lossy(credentials);
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
                (ErrorCode::Ok, Flow::Continue)
            }
            ("ip", _) => (ErrorCode::Ok, Flow::Continue),
            (other, _) => {
                debug!(scheme = other, "unsupported auth scheme");
                (ErrorCode::AuthFailed, Flow::Close)
            }
        };
        self.send(&Reply {
            header: ReplyHeader {
                xid,
                zxid: 0,
                err: err.code(),
            },
            body: None,
        });
        flow
    }
}

/// Where a request is answered.
enum Route {
    Log(Txn),
    Here(Local),
    Close,
}

/// What is answered on this node without the log.
enum Local {
    /// A request refused before it could be read (no zxid).
    Error(ErrorCode),
    Request(Request),
}

fn refused(code: ErrorCode) -> WriteOp {
    WriteOp::Refused { code: code.code() }
}

/// CreateMode flags 5 and 6: persistent(-sequential) with a TTL.
fn ttl_mode(flags: i32) -> bool {
    matches!(flags, 5 | 6)
}
