//! The TCP transport between nodes: one long-lived connection from each node
//! to each peer it calls, multiplexing requests by id. Frames are a 4-byte
//! big-endian length and a postcard body, bounded in size. Outgoing
//! connections leave from this node's own peer address, so a partition made
//! with address rules on loopback cuts them too. A lost connection is dialled
//! again on the next call, with a backoff after failures. A member named by
//! host name is looked up again before each dial, and when a caller claiming
//! to be it comes from another IP: a restarted container may have a new IP.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::rpc::{BoxFuture, CallError, PeerRequest, PeerResponse, Service, Transport};
use super::types::NodeId;

/// The first frame on a connection: who is calling.
#[derive(Serialize, Deserialize)]
struct Hello {
    from: NodeId,
}

const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between dial attempts to a peer that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Longest wait for a host name lookup (getaddrinfo runs on a blocking thread).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

pub struct TcpTransport(Arc<Inner>);

/// Every member's peer address, this node's included, and the host names
/// of members configured by name, to look up again. Both are replaced when
/// the membership changes (reconfig).
struct Book {
    me: NodeId,
    addrs: Mutex<BTreeMap<NodeId, SocketAddr>>,
    hosts: Mutex<BTreeMap<NodeId, String>>,
}

impl Book {
    fn get(&self, id: NodeId) -> Option<SocketAddr> {
        self.addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied()
    }

    /// `id`'s addresses by its host name now (none if it has no name or the
    /// lookup fails), IPv4 first as at start; the first becomes its address.
    async fn look_up(&self, id: NodeId) -> Vec<SocketAddr> {
        let host = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        let (Some(host), Some(old)) = (host, self.get(id)) else {
            return Vec::new();
        };
        let found = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), old.port())),
        )
        .await;
        let mut addrs: Vec<SocketAddr> = match found {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                debug!(peer = id, host, error = %e, "peer host name does not resolve");
                return Vec::new();
            }
            Err(_) => {
                debug!(peer = id, host, "peer host name lookup timed out");
                return Vec::new();
            }
        };
        addrs.sort_by_key(|a| !a.is_ipv4());
        if let Some(new) = addrs.first().copied().filter(|new| *new != old) {
            info!(peer = id, host, %old, %new, "peer has a new address");
            self.set(id, new);
        }
        addrs
    }

    fn set(&self, id: NodeId, addr: SocketAddr) {
        self.addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, addr);
    }
}

struct Inner {
    me: NodeId,
    book: Arc<Book>,
    max_frame: usize,
    /// Longest wait for an answer (raft passes its own, shorter, deadlines).
    call_timeout: Duration,
    links: Mutex<HashMap<NodeId, Arc<tokio::sync::Mutex<LinkSlot>>>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct LinkSlot {
    link: Option<Arc<Link>>,
    /// When dialling may be tried again, and the backoff to use after that.
    retry_at: Option<(Instant, Duration)>,
}

struct Link {
    out: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<HashMap<u64, oneshot::Sender<PeerResponse>>>,
    next_id: AtomicU64,
    closed: CancellationToken,
}

impl TcpTransport {
    /// `hosts`: the host names of members configured by name (this node's
    /// is not looked up again: it listens where it started).
    pub fn new(
        me: NodeId,
        addrs: BTreeMap<NodeId, SocketAddr>,
        mut hosts: BTreeMap<NodeId, String>,
        max_frame: usize,
        call_timeout: Duration,
    ) -> Self {
        hosts.remove(&me);
        TcpTransport(Arc::new(Inner {
            me,
            book: Arc::new(Book {
                me,
                addrs: Mutex::new(addrs),
                hosts: Mutex::new(hosts),
            }),
            max_frame,
            call_timeout,
            links: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
        }))
    }
}

impl Inner {
    fn my_addr(&self) -> Result<SocketAddr, CallError> {
        self.book
            .get(self.me)
            .ok_or_else(|| CallError::Unreachable("this node has no peer address".into()))
    }

    async fn link(&self, to: NodeId) -> Result<Arc<Link>, CallError> {
        if to == self.me || self.book.get(to).is_none() {
            return Err(CallError::Unreachable(format!("node {to} is not a member")));
        }
        let slot = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(to)
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(l) = &slot.link
            && !l.closed.is_cancelled()
        {
            return Ok(l.clone());
        }
        slot.link = None;
        let now = Instant::now();
        if let Some((at, _)) = slot.retry_at
            && now < at
        {
            return Err(CallError::Unreachable(format!("node {to}: backing off")));
        }
        match self.dial(to).await {
            Ok(link) => {
                slot.retry_at = None;
                slot.link = Some(link.clone());
                Ok(link)
            }
            Err(e) => {
                let backoff = slot
                    .retry_at
                    .map_or(Duration::from_millis(50), |(_, b)| (b * 2).min(MAX_BACKOFF));
                slot.retry_at = Some((now + backoff, backoff));
                Err(e)
            }
        }
    }

    async fn dial(&self, to: NodeId) -> Result<Arc<Link>, CallError> {
        let unreachable = |e: String| CallError::Unreachable(format!("node {to}: {e}"));
        self.book.look_up(to).await;
        let target = self
            .book
            .get(to)
            .ok_or_else(|| unreachable("no address".into()))?;
        let from = self.my_addr()?;
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| unreachable(e.to_string()))?;
        // Leave from our own address (port chosen by the OS), not whatever the
        // routing table picks: peers check it, and partitions rely on it.
        let mut local = from;
        local.set_port(0);
        if !local.ip().is_unspecified() {
            socket
                .bind(local)
                .map_err(|e| unreachable(format!("cannot bind {local}: {e}")))?;
        }
        let stream = tokio::time::timeout(DIAL_TIMEOUT, socket.connect(target))
            .await
            .map_err(|_| unreachable(format!("connect to {target} timed out")))?
            .map_err(|e| unreachable(format!("connect to {target}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        wr.write_all(&frame(&Hello { from: self.me }))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        debug!(peer = to, %target, "peer link up");
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let link = Arc::new(Link {
            out: tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
        });
        tokio::spawn(write_frames(wr, rx, link.closed.clone(), self.stop.clone()));
        let reader = link.clone();
        let max = self.max_frame;
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    f = read_frame::<_, (u64, PeerResponse)>(&mut rd, max) => f,
                    _ = reader.closed.cancelled() => break,
                    _ = stop.cancelled() => break,
                };
                match got {
                    Ok((id, rsp)) => {
                        let waiter = reader
                            .pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                        if let Some(w) = waiter {
                            let _ = w.send(rsp);
                        }
                    }
                    Err(e) => {
                        debug!(peer = to, error = %e, "peer link down");
                        break;
                    }
                }
            }
            reader.closed.cancel();
            // Callers waiting on this link get Unreachable (their sender drops).
            reader
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        });
        Ok(link)
    }
}

impl Transport for TcpTransport {
    fn serve(&self, service: Arc<dyn Service>) -> BoxFuture<std::io::Result<()>> {
        let inner = self.0.clone();
        Box::pin(async move {
            let addr = inner
                .my_addr()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let listener = TcpListener::bind(addr).await?;
            info!(%addr, "listening for peers");
            tokio::spawn(accept_peers(
                listener,
                service,
                inner.book.clone(),
                inner.max_frame,
                inner.stop.clone(),
            ));
            Ok(())
        })
    }

    fn call(&self, to: NodeId, req: PeerRequest) -> BoxFuture<Result<PeerResponse, CallError>> {
        let inner = self.0.clone();
        Box::pin(async move {
            let timeout = inner.call_timeout;
            match tokio::time::timeout(timeout, inner.call(to, req)).await {
                Ok(r) => r,
                Err(_) => Err(CallError::Unreachable(format!("node {to}: no answer"))),
            }
        })
    }

    fn close(&self) {
        self.0.stop.cancel();
    }

    fn set_members(
        &self,
        addrs: BTreeMap<NodeId, SocketAddr>,
        mut hosts: BTreeMap<NodeId, String>,
    ) {
        let book = &self.0.book;
        hosts.remove(&book.me);
        let mut current = book.addrs.lock().unwrap_or_else(|p| p.into_inner());
        let mut names = book.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if *current == addrs && *names == hosts {
            return;
        }
        info!(members = ?addrs, "peer addresses changed");
        // A member whose address changed is dialled anew.
        self.0
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| addrs.contains_key(id) && addrs.get(id) == current.get(id));
        *current = addrs;
        *names = hosts;
    }
}

impl Inner {
    async fn call(&self, to: NodeId, req: PeerRequest) -> Result<PeerResponse, CallError> {
        let link = self.link(to).await?;
        let id = link.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        link.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        if link.out.send(frame(&(id, &req))).is_err() {
            return Err(CallError::Unreachable(format!("node {to}: link closed")));
        }
        rx.await
            .map_err(|_| CallError::Unreachable(format!("node {to}: connection lost")))
    }
}

async fn accept_peers(
    listener: TcpListener,
    service: Arc<dyn Service>,
    book: Arc<Book>,
    max: usize,
    stop: CancellationToken,
) {
    loop {
        let (stream, from) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "peer accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        tokio::spawn(serve_peer(
            stream,
            from,
            service.clone(),
            book.clone(),
            max,
            stop.clone(),
        ));
    }
}

async fn serve_peer(
    stream: TcpStream,
    from: SocketAddr,
    service: Arc<dyn Service>,
    book: Arc<Book>,
    max: usize,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame::<_, Hello>(&mut rd, 64)).await;
    let peer = match hello {
        Ok(Ok(h)) => h.from,
        _ => {
            debug!(%from, "peer connection without a greeting; closed");
            return;
        }
    };
    // Only members, from their own address, may talk raft to us; a member
    // named by host may have come back under a new address.
    let member = match book.get(peer) {
        Some(a) => a.ip() == from.ip() || a.ip().is_unspecified(),
        None => false,
    } || book.look_up(peer).await.iter().any(|a| a.ip() == from.ip());
    if !member {
        warn!(%from, claimed = peer, "peer connection from an unknown member or address; closed");
        return;
    }
    debug!(peer, %from, "peer connected");
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let closed = CancellationToken::new();
    let writer = tokio::spawn(write_frames(wr, rx, closed.clone(), stop.clone()));
    loop {
        let got = tokio::select! {
            f = read_frame::<_, (u64, PeerRequest)>(&mut rd, max) => f,
            _ = closed.cancelled() => break,
            _ = stop.cancelled() => break,
        };
        let (id, req) = match got {
            Ok(x) => x,
            Err(e) => {
                debug!(peer, error = %e, "peer connection ended");
                if !stop.is_cancelled() {
                    service.peer_lost(peer);
                }
                break;
            }
        };
        // handle() queues a forwarded batch before returning: arrival order kept.
        let answer = service.handle(peer, req);
        let tx = tx.clone();
        tokio::spawn(async move {
            let rsp = answer.await;
            let _ = tx.send(frame(&(id, rsp)));
        });
    }
    drop(tx);
    writer.abort();
}

/// Write queued frames to one peer connection, coalescing what is ready
/// into one write, until the queue closes, a write fails, or `closed`/`stop`
/// is cancelled; then cancels `closed` so the reading side stops too.
async fn write_frames(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    closed: CancellationToken,
    stop: CancellationToken,
) {
    let mut buf = BytesMut::new();
    loop {
        let first = tokio::select! {
            f = rx.recv() => f,
            _ = closed.cancelled() => None,
            _ = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        buf.extend_from_slice(&first);
        while buf.len() < 1 << 20 {
            match rx.try_recv() {
                Ok(f) => buf.extend_from_slice(&f),
                Err(_) => break,
            }
        }
        if wr.write_all(&buf).await.is_err() {
            break;
        }
        buf.clear();
    }
    closed.cancel();
}

/// Length-prefixed postcard.
fn frame<T: Serialize>(msg: &T) -> Bytes {
    let body = postcard::to_stdvec(msg).unwrap_or_default();
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(&body);
    out.freeze()
}

async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    rd: &mut R,
    max: usize,
) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    rd.read_exact(&mut len).await?;
    let len = (&len[..]).get_u32() as usize;
    if len > max {
        return Err(std::io::Error::other(format!(
            "peer frame of {len} bytes is over the {max}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::other(format!("bad peer frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request the same way.
    struct Answer;

    impl Service for Answer {
        fn handle(&self, _from: NodeId, _req: PeerRequest) -> BoxFuture<PeerResponse> {
            Box::pin(async { PeerResponse::Touched })
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    }

    fn at(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    async fn node(
        me: NodeId,
        addrs: [(NodeId, SocketAddr); 2],
        hosts: &[(NodeId, &str)],
    ) -> TcpTransport {
        let hosts = hosts.iter().map(|(id, h)| (*id, h.to_string())).collect();
        let t = TcpTransport::new(
            me,
            BTreeMap::from(addrs),
            hosts,
            1 << 20,
            Duration::from_secs(5),
        );
        t.serve(Arc::new(Answer)).await.unwrap();
        t
    }

    /// A restarted container comes back under its name with a new IP: each
    /// side still has the old one (127.0.0.99 here), and finds the member
    /// by looking its name up again, when dialling and when called.
    #[tokio::test]
    async fn members_named_by_host_are_looked_up_again() {
        let (p1, p2) = (free_port(), free_port());
        let old = [127, 0, 0, 99];
        let one = node(
            1,
            [(1, at([127, 0, 0, 1], p1)), (2, at(old, p2))],
            &[(2, "localhost")],
        )
        .await;
        let two = node(
            2,
            [(1, at(old, p1)), (2, at([127, 0, 0, 1], p2))],
            &[(1, "localhost")],
        )
        .await;
        // 2 dials 1 at its new address; 1 takes the call from 127.0.0.1.
        let r = two.call(1, PeerRequest::ReadIndex).await;
        assert!(matches!(r, Ok(PeerResponse::Touched)), "{r:?}");
        let r = one.call(2, PeerRequest::ReadIndex).await;
        assert!(matches!(r, Ok(PeerResponse::Touched)), "{r:?}");
        assert_eq!(one.0.book.get(2), Some(at([127, 0, 0, 1], p2)));
        one.close();
        two.close();

        // Known by IP only, a caller from another address is turned away.
        let (p1, p2) = (free_port(), free_port());
        let one = node(1, [(1, at([127, 0, 0, 1], p1)), (2, at(old, p2))], &[]).await;
        let two = node(
            2,
            [(1, at([127, 0, 0, 1], p1)), (2, at([127, 0, 0, 1], p2))],
            &[],
        )
        .await;
        let r = two.call(1, PeerRequest::ReadIndex).await;
        assert!(r.is_err(), "{r:?}");
        one.close();
        two.close();
    }
}
