//! One client connection: the handshake, then requests in order until the
//! client leaves or the server closes it. A separate writer task drains the
//! connection's queue, where apply and reads put frames in the order clients
//! must see them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{ConnectRequest, ConnectResponse, FrameCodec, Id, Inbound, Jute, Role, frame_bytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tracing::{Instrument, debug, info_span, warn};

use super::frame_reader::FrameReader;
use super::request::{ConnCtx, Flow, Handled};
use super::stats::ConnHandle;
use super::{Shared, four_letter, now_ms, read_only};
use crate::node::{Conn, Grant, Inflight, Outbox};
use crate::tree::Txn;

/// How long a resumed session may wait for the log (or a lagging replica
/// for the leader) before the client is left to try again.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts a connection as handshaking (server-wide) until dropped.
pub struct Handshaking(Arc<Shared>);

impl Handshaking {
    pub fn new(shared: Arc<Shared>) -> Self {
        shared.handshaking.fetch_add(1, Ordering::AcqRel);
        Handshaking(shared)
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Not an async fn: one would hold its arguments beside the future it awaits.
pub fn serve(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    conn: u64,
    handshaking: Handshaking,
) -> impl Future<Output = ()> {
    let span = info_span!("conn", conn, %peer, session = tracing::field::Empty);
    run(shared, socket, peer, conn, handshaking).instrument(span)
}

async fn run(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    conn: u64,
    handshaking: Handshaking,
) {
    // Listed in cons/stat/connections from accept on, as ZooKeeper lists them.
    let counters = Arc::new(shared.stats.open_conn(conn, peer, now_ms()));
    let (rd, wr) = socket.into_split();
    let mut frames = FrameReader::new(rd, FrameCodec::new(Role::Server, shared.config.max_buffer));
    // Everything before the first request, boxed: the connection's future
    // is held as long as it lives and is as large as the largest thing it
    // awaits inline, so the request loop below is all it should hold.
    let Some(est) = Box::pin(establish(&shared, &mut frames, wr, peer, conn, &counters)).await
    else {
        return;
    };
    let (session, timeout, read_only, outbox) =
        (est.session, est.timeout, est.read_only, est.outbox);
    drop(handshaking);
    tracing::Span::current().record("session", format_args!("{session:#x}"));
    counters.established(session, timeout);
    debug!(timeout, read_only, "session established");

    let mut ctx = ConnCtx {
        shared: shared.clone(),
        conn,
        session,
        timeout: Duration::from_millis(u64::try_from(timeout).unwrap_or(0)),
        outbox: outbox.clone(),
        inflight: est.inflight,
        read_only,
    };
    loop {
        // Read no more from a client that is behind on its replies or has
        // too much in the log: TCP then pushes back on it alone.
        if ctx.throttled() {
            let stop = Box::pin(async {
                tokio::select! {
                    _ = ctx.throttle() => false,
                    _ = outbox.finished() => true,
                    _ = shared.shutdown.cancelled() => true,
                }
            })
            .await;
            if stop {
                break;
            }
        }
        // Nothing else to wait for: when the writer stops (the connection
        // closed by the server, shutdown included, or a slow consumer) it
        // shuts the socket's receive side, which ends this read.
        let item = frames.next().await;
        match item {
            Some(Ok(Inbound::Frame(frame))) => {
                // RequestHeader {xid, type} leads every request; an undecodable
                // one is closed by handle() below, so -1/-1 only labels it.
                let word = |at: usize| {
                    frame
                        .get(at..at + 4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(-1, i32::from_be_bytes)
                };
                counters.request(word(0), word(4), frame.len() + 4);
                let flow = match ctx.handle(frame) {
                    Handled::Done(flow) => flow,
                    Handled::Waiting(answer) => answer.await,
                };
                if let Flow::Close = flow {
                    break;
                }
            }
            Some(Ok(_)) => break,
            Some(Err(e)) => {
                warn!(error = %e, "closing connection");
                break;
            }
            None => break,
        }
    }
    outbox.reader_stopped();
    if outbox.overflowed() {
        warn!(
            cap = shared.config.limits.conn_max_queued_bytes,
            "slow consumer: the client left too many bytes unread; closing its connection"
        );
    }
    shared.node.lock().unregister(conn);
    if read_only {
        shared.read_only_sessions.detach(session);
    }
    outbox.close();
    drop(ctx);
    drop(outbox);
    let _ = est.writer.await;
}

/// A connection with its session.
struct Established {
    session: i64,
    /// Negotiated, in ms.
    timeout: i32,
    read_only: bool,
    outbox: Outbox,
    writer: tokio::task::JoinHandle<()>,
    inflight: Arc<Inflight>,
}

/// The first frame and the session: a four-letter word is answered here and
/// the connection closed; a handshake gets a session (new or resumed) and
/// the writer that will send its replies. None: the connection is done.
async fn establish(
    shared: &Arc<Shared>,
    frames: &mut FrameReader,
    mut wr: OwnedWriteHalf,
    peer: SocketAddr,
    conn: u64,
    counters: &Arc<ConnHandle>,
) -> Option<Established> {
    // Slowloris: the whole first frame must arrive in time.
    let first = tokio::select! {
        f = frames.next() => f,
        _ = tokio::time::sleep(shared.config.limits.handshake_timeout) => {
            debug!("no handshake in time; closing");
            None
        }
        _ = shared.shutdown.cancelled() => None,
    };
    let frame = match first {
        Some(Ok(Inbound::Handshake(frame))) => frame,
        Some(Ok(Inbound::FourLetterWord(word))) => {
            counters.packet_in(4);
            // Answers read /proc and take the node lock: off the async workers,
            // as the admin API does.
            let answering = shared.clone();
            let text = match tokio::task::spawn_blocking(move || {
                four_letter::answer(&answering, word.word, word.mask)
            })
            .await
            {
                Ok(text) => text,
                Err(e) => {
                    warn!(error = %e, "four-letter word failed");
                    return None;
                }
            };
            shared
                .stats
                .bytes_out
                .fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let _ = wr.write_all(text.as_bytes()).await;
            let _ = wr.shutdown().await;
            return None;
        }
        Some(Ok(Inbound::Frame(_))) => return None,
        Some(Err(e)) => {
            debug!(error = %e, "bad first frame");
            return None;
        }
        None => return None,
    };
    counters.packet_in(frame.len() + 4);

    let outbox = Outbox::new(shared.config.limits.conn_max_queued_bytes);
    let writer = tokio::spawn(write_loop(wr, outbox.clone(), counters.clone()));
    let inflight = Arc::new(Inflight::new(shared.outstanding.clone()));

    // It takes the frame, so the read buffer it shares goes with it.
    // Shutdown closes every connection it finds registered; one registered
    // after it looked sees it cancelled here (checked after registering).
    let Some((session, timeout, read_only)) =
        handshake(shared, conn, peer, frame, &outbox, &inflight)
            .await
            .filter(|_| !shared.shutdown.is_cancelled())
    else {
        outbox.reader_stopped();
        outbox.close();
        drop(outbox);
        let _ = writer.await;
        shared.node.lock().unregister(conn);
        return None;
    };
    Some(Established {
        session,
        timeout,
        read_only,
        outbox,
        writer,
        inflight,
    })
}

/// New session or resume. Returns the session, its negotiated timeout and
/// whether it is served read-only, or None after telling the client (or not,
/// when ZooKeeper would not).
async fn handshake(
    shared: &Arc<Shared>,
    conn: u64,
    peer: SocketAddr,
    frame: Bytes,
    outbox: &Outbox,
    inflight: &Arc<Inflight>,
) -> Option<(i64, i32, bool)> {
    // ZooKeeper ignores bytes after the optional readOnly flag; so do we.
    let req = match ConnectRequest::decode(&frame, &frame) {
        Ok((_, req)) => req,
        Err(e) => {
            debug!(error = ?e, "malformed ConnectRequest");
            return None;
        }
    };
    let timeout = shared.config.negotiate_timeout(req.timeout);
    // Answer in the client's style: an old client sent no readOnly byte and expects none back.
    let respond = |session: i64, timeout: i32, passwd: Bytes| {
        let rsp = ConnectResponse {
            protocol_version: 0,
            timeout,
            session_id: session,
            passwd: Some(passwd),
            read_only: req.read_only.map(|_| false),
        };
        outbox.frame(frame_bytes(&rsp));
    };
    // A node out of touch with the quorum serves nobody, but in read-only
    // mode the clients that accept it: the others move on to another
    // server, as from a ZooKeeper server that is not running (or refusing
    // a client that is not read-only).
    if !shared.serving() {
        if shared.read_only() && req.read_only == Some(true) {
            return read_only::handshake(shared, conn, peer, &req, outbox, inflight)
                .map(|(session, timeout)| (session, timeout, true));
        }
        debug!("not serving (no leader in touch); closing");
        return None;
    }
    let (grant_tx, grant_rx) = oneshot::channel();
    if req.session_id != 0 {
        // A session this replica does not know yet may be one the leader
        // just created (this node lags): catch up to the leader before
        // calling it expired.
        let known = shared.node.lock().tree.session(req.session_id).is_some();
        if !known && !shared.config.cluster.is_single() {
            let barrier = shared.consensus.read_barrier();
            if !matches!(
                tokio::time::timeout(HANDSHAKE_TIMEOUT, barrier).await,
                Ok(Ok(_))
            ) {
                // Never "expired" for a session we could not look up: the
                // client tries again, here or elsewhere.
                debug!("could not catch up with the leader to look the session up");
                return None;
            }
        }
    }
    let txn = {
        let mut state = shared.node.lock();
        if req.last_zxid_seen > state.tree.last_zxid() {
            // The client has seen a newer state than ours: it must try another server.
            warn!(
                client_zxid = format_args!("{:#x}", req.last_zxid_seen),
                our_zxid = format_args!("{:#x}", state.tree.last_zxid()),
                "refusing a client ahead of this server"
            );
            return None;
        }
        let conn_entry = Conn {
            session: req.session_id,
            outbox: outbox.clone(),
            inflight: inflight.clone(),
            peer: peer.to_string(),
            auth: vec![Id::new("ip", peer.ip().to_string())].into(),
            read_only: false,
        };
        if req.session_id != 0 {
            let passwd = req
                .passwd
                .as_deref()
                .and_then(|p| <[u8; 16]>::try_from(p).ok());
            let valid = state.tree.session(req.session_id).is_some_and(|s| {
                passwd == Some(s.passwd) && !state.tracker.is_closing(req.session_id)
            });
            let Some(passwd) = passwd.filter(|_| valid) else {
                // Unknown, expired or wrong password: the client is told its session expired.
                respond(0, 0, Bytes::from_static(&[0; 16]));
                return None;
            };
            // The session moves here.
            state.attach(req.session_id, conn);
            state.conns.insert(conn, conn_entry);
            state.handshakes.insert(conn, grant_tx);
            Txn::MoveSession {
                session: req.session_id,
                passwd,
            }
        } else {
            let mut passwd = [0u8; 16];
            if getrandom::fill(&mut passwd).is_err() {
                warn!("no randomness for a session password");
                return None;
            }
            state.conns.insert(conn, conn_entry);
            state.handshakes.insert(conn, grant_tx);
            Txn::CreateSession { timeout, passwd }
        }
    };
    // Through the log either way: a new session gets its id there; a resumed
    // one becomes this connection's, so writes still queued on a connection
    // it left get SessionMoved.
    let logged = shared.submit(conn, 0, txn);
    // Some(None): apply refused it (the session is gone). None: no answer
    // from the log (no leader in time, shutting down, a snapshot overtook
    // it), which says nothing about the session.
    let granted: Option<Option<Grant>> = tokio::select! {
        r = async {
            logged.await.ok()?;
            grant_rx.await.ok()
        } => r,
        _ = tokio::time::sleep(HANDSHAKE_TIMEOUT) => {
            debug!("session not granted in time");
            None
        }
        _ = shared.shutdown.cancelled() => None,
    };
    let grant = match granted {
        Some(Some(grant)) => grant,
        refused => {
            shared.node.lock().sessions.remove(&req.session_id);
            // Only a refusal tells the client its session expired; otherwise
            // it just loses the connection and tries again.
            if refused.is_some() {
                respond(0, 0, Bytes::from_static(&[0; 16]));
            }
            return None;
        }
    };
    let (session, granted_timeout, passwd) = if req.session_id != 0 {
        (
            req.session_id,
            timeout,
            req.passwd.clone().unwrap_or_default(),
        )
    } else {
        (
            grant.session,
            grant.timeout,
            Bytes::copy_from_slice(&grant.passwd),
        )
    };
    {
        let mut state = shared.node.lock();
        if let Some(c) = state.conns.get_mut(&conn) {
            c.session = session;
        }
        state.sessions.insert(session, conn);
        let t = Duration::from_millis(u64::try_from(granted_timeout).unwrap_or(0));
        state.tracker.touch(session, t, Instant::now());
    }
    respond(session, granted_timeout, passwd);
    Some((session, granted_timeout, false))
}

/// Write queued frames, coalescing what is ready into one write. Stops at
/// once, mid-write, when the client falls past the queue's cap.
async fn write_loop(mut wr: OwnedWriteHalf, outbox: Outbox, counters: Arc<ConnHandle>) {
    // `buf` is grown only when several frames are ready at once and given
    // back after a burst; `frames` after every write: an idle connection
    // holds neither.
    let mut buf = BytesMut::new();
    let mut frames: Vec<Bytes> = Vec::new();
    loop {
        let taken = tokio::select! {
            t = outbox.take(&mut frames, 256 * 1024) => t,
            _ = outbox.overflow() => None,
        };
        if taken.is_none() {
            break;
        }
        let bytes: &[u8] = match frames.as_slice() {
            [] => &[],
            [one] => one,
            many => {
                for f in many {
                    buf.extend_from_slice(f);
                }
                &buf
            }
        };
        let len = bytes.len();
        let wrote = tokio::select! {
            r = wr.write_all(bytes) => r.is_ok(),
            _ = outbox.overflow() => false,
        };
        if !wrote {
            break;
        }
        outbox.wrote(len);
        counters.sent(frames.iter().map(|f| &f[..]), now_ms());
        frames = Vec::new();
        buf.clear();
        if buf.capacity() > 64 * 1024 {
            buf = BytesMut::new();
        }
    }
    outbox.discard();
    let _ = wr.shutdown().await;
    // The reader stops too: a read waiting on a socket whose receive side
    // is shut wakes with end of stream. Not when it stopped already: bytes
    // arriving on a shut receive side reset the connection, which can cost
    // the client replies it has not read yet.
    if outbox.reading() {
        let _ = socket2::SockRef::from(wr.as_ref()).shutdown(std::net::Shutdown::Read);
    }
    outbox.finish();
}

#[cfg(test)]
mod tests {
    fn future_size<A, B, C, D, E, F: std::future::Future>(
        _: impl FnOnce(A, B, C, D, E) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size3<A, B, C, F: std::future::Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// A connection's tasks live as long as it does and are most of what an
    /// idle session costs: the handshake's, reconfig's and sync's large
    /// futures are boxed and the request handler is not async, so they are
    /// not part of it (7 KB when they were; 600 bytes now).
    #[test]
    fn an_idle_connection_holds_small_futures() {
        let serve = future_size(super::serve);
        let writer = future_size3(super::write_loop);
        eprintln!("connection future {serve} bytes, writer {writer}");
        assert!(serve <= 768, "connection future is {serve} bytes");
        assert!(writer <= 512, "writer future is {writer} bytes");
    }
}
