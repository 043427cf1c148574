//! This node's view of the world: the replicated tree plus what is local to
//! it (connections, their watches, session liveness). Apply runs here: the
//! tree changes, then, under the same lock, notifications and the reply go
//! into the owning connections' queues. So a client sees a watch event before
//! any reply that could show the change, and replies leave in request order.

mod flow;
mod reply;

pub use flow::{Inflight, Outbox, Outstanding};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use jute::{ReplyHeader, WatcherEvent, frame_bytes};
use tokio::sync::oneshot;
use tracing::{debug, error};

use crate::consensus::StateMachine;
use crate::session::Tracker;
use crate::tree::{Command, Outcome, Tree, Txn};
use crate::watch::{ConnId, Watches};

/// A client connection on this node.
pub struct Conn {
    pub session: i64,
    pub outbox: Outbox,
    pub inflight: Arc<Inflight>,
    /// The client's address, for four-letter-word listings.
    pub peer: String,
    /// Identities the connection has proven (its IP, digests, super): the
    /// one copy, read by its requests and by notification delivery, which
    /// tells a connection only of nodes these may read.
    pub auth: Arc<[jute::Id]>,
    /// Served while this node is cut off, in read-only mode: closed when
    /// it is back in touch with the quorum.
    pub read_only: bool,
}

/// A session granted by apply, for the connection that asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub session: i64,
    pub timeout: i32,
    pub passwd: [u8; 16],
}

/// Everything behind the node's lock.
pub struct State {
    pub tree: Tree,
    pub watches: Watches,
    pub conns: HashMap<ConnId, Conn>,
    /// Which connection on this node holds each session.
    pub sessions: HashMap<i64, ConnId>,
    /// Connections waiting for their session to be created or moved here
    /// (None: it could not be, the session is gone).
    pub handshakes: HashMap<ConnId, oneshot::Sender<Option<Grant>>>,
    pub tracker: Tracker,
}

pub struct Node {
    id: u64,
    /// Random per process start: with `id` and a connection id it names a
    /// connection uniquely forever, so a command logged before a restart is
    /// never answered to a connection of the next boot.
    boot: u64,
    state: Mutex<State>,
}

impl Node {
    pub fn new(id: u64, boot: u64) -> Self {
        Node {
            id,
            boot,
            state: Mutex::new(State {
                tree: Tree::new(),
                watches: Watches::default(),
                conns: HashMap::new(),
                sessions: HashMap::new(),
                handshakes: HashMap::new(),
                tracker: Tracker::default(),
            }),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn boot(&self) -> u64 {
        self.boot
    }

    /// The owner a session has when it is attached to `conn` on this node.
    pub fn owner(&self, conn: ConnId) -> crate::tree::Owner {
        crate::tree::Owner {
            node: self.id,
            boot: self.boot,
            conn,
        }
    }

    /// The node's state. Hold it briefly: apply waits on it.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the tree as apply left it,
        // which is still a consistent prefix of the log: keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Queue a frame for a connection (dropped if it is gone).
    pub fn send(&self, conn: ConnId, frame: Bytes) {
        if let Some(c) = self.conns.get(&conn) {
            c.outbox.frame(frame);
        }
    }

    /// `session` is now held by `conn`; a connection on this node still
    /// holding it is closed (the client moved).
    pub fn attach(&mut self, session: i64, conn: ConnId) {
        if let Some(old) = self.sessions.insert(session, conn)
            && old != conn
        {
            self.close(old);
        }
    }

    pub fn close(&self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            c.outbox.close();
        }
    }

    /// A connection went away: its watches go with it; its session stays
    /// until it expires or the client resumes it elsewhere.
    pub fn unregister(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.sessions.get(&c.session) == Some(&conn)
        {
            self.sessions.remove(&c.session);
        }
        self.watches.remove_conn(conn);
        self.handshakes.remove(&conn);
    }

    fn dispatch(&mut self, node: u64, boot: u64, cmd: &Command, applied: crate::tree::Applied) {
        let zxid = applied.zxid;
        // Notifications first: they must reach clients before anything that shows the change.
        for change in &applied.changes {
            for fired in self.watches.trigger(change) {
                // As in ZooKeeper since CVE-2024-23944: a watch fires (and a
                // one-shot one is used up) but says nothing to a connection
                // that may not read the node, e.g. a child under a recursive watch.
                let readable = self.conns.get(&fired.conn).is_some_and(|c| {
                    crate::tree::acl::allowed(&change.acl, &c.auth, jute::perms::READ)
                });
                if readable {
                    let reply =
                        jute::Reply::notification(zxid, WatcherEvent::new(fired.event, fired.path));
                    self.send(fired.conn, frame_bytes(&reply));
                }
            }
        }
        let mine = cmd.origin.node == node && cmd.origin.boot == boot && cmd.origin.waits();
        if let Outcome::SessionClosed { session } = &applied.outcome {
            // Whoever holds the session on this node is done (an explicit
            // close gets its reply below first).
            if let Some(conn) = self.sessions.remove(session)
                && !(mine && conn == cmd.origin.conn)
            {
                self.close(conn);
            }
        }
        if !mine {
            return;
        }
        let conn = cmd.origin.conn;
        match &applied.outcome {
            Outcome::SessionCreated {
                session,
                timeout,
                passwd,
            } => {
                if let Some(tx) = self.handshakes.remove(&conn) {
                    let _ = tx.send(Some(Grant {
                        session: *session,
                        timeout: *timeout,
                        passwd: *passwd,
                    }));
                }
            }
            Outcome::Moved { session, result } => {
                if let Some(tx) = self.handshakes.remove(&conn) {
                    let grant = result.ok().map(|timeout| Grant {
                        session: *session,
                        timeout,
                        passwd: [0; 16],
                    });
                    let _ = tx.send(grant);
                }
            }
            Outcome::Duplicate => {}
            Outcome::SessionClosed { .. } => {
                let header = ReplyHeader {
                    xid: cmd.origin.xid,
                    zxid,
                    err: 0,
                };
                self.send(conn, frame_bytes(&header));
                self.close(conn);
                self.finish(conn);
            }
            Outcome::Write(_) | Outcome::Multi(_) => {
                if let Some(reply) = reply::for_write(cmd, &applied) {
                    self.send(conn, frame_bytes(&reply));
                }
                self.finish(conn);
            }
            Outcome::Reaped(_) => {}
        }
    }

    fn finish(&self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            c.inflight.end();
        }
    }
}

impl StateMachine for Node {
    fn apply(&self, index: u64, cmds: &[Bytes]) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut state = self.lock();
        for raw in cmds {
            // Every replica has the same bytes: one that cannot read them has
            // a bug or a corrupt log. Skipping would let it diverge silently,
            // so it stops instead, loudly.
            let cmd = Command::decode(raw).map_err(|e| {
                error!(index, error = %e, "cannot decode a committed command; stopping this replica");
                format!("undecodable command: {e}")
            })?;
            let applied = state.tree.apply(&cmd);
            if let Txn::CreateSession { .. } | Txn::CloseSession { .. } = cmd.txn {
                debug!(index, zxid = applied.zxid, outcome = ?applied.outcome, "session txn");
            }
            state.dispatch(self.id, self.boot, &cmd, applied);
        }
        drop(state);
        crate::metrics::observe_apply(started.elapsed());
        Ok(())
    }

    fn snapshot(&self) -> crate::consensus::Encoder {
        // Only the view is taken under the lock (it shares the node chunks);
        // encoding a million nodes runs while apply and reads go on.
        let view = self.lock().tree.snapshot_view();
        Box::new(move || view.encode())
    }

    fn restore(&self, data: &[u8]) -> Result<(), String> {
        let tree = Tree::from_snapshot(data).map_err(|e| e.to_string())?;
        let mut state = self.lock();
        state.tree = tree;
        // The entries the snapshot replaces were never dispatched here: a
        // connection waiting for a write or a session among them would wait
        // forever. Close those; their clients retry (ConnectionLoss).
        let waiting: Vec<ConnId> = state
            .conns
            .iter()
            .filter(|(id, c)| c.inflight.pending() > 0 || state.handshakes.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        for conn in waiting {
            debug!(
                conn,
                "closing a connection whose writes a snapshot overtook"
            );
            state.close(conn);
        }
        state.handshakes.clear();
        Ok(())
    }

    fn reconfigured(&self) -> bool {
        self.lock().tree.config_version().is_some()
    }

    fn touched(&self, sessions: &[i64]) {
        let now = std::time::Instant::now();
        let mut state = self.lock();
        for id in sessions {
            let Some(timeout) = state.tree.session(*id).map(|s| s.timeout) else {
                continue;
            };
            let t = std::time::Duration::from_millis(u64::try_from(timeout).unwrap_or(0));
            state.tracker.heard(*id, t, now);
        }
    }
}
