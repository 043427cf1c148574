//! A blocking raw-protocol connection: frames in, frames out, nothing hidden.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use jute::{
    ConnectRequest, ConnectResponse, Empty, Reply, Request, RequestPacket, WatcherEvent,
    decode_exact, frame_bytes, xid,
};

pub struct Conn {
    s: TcpStream,
    next_xid: i32,
}

/// What came back for one request.
#[derive(Debug)]
pub enum Answer {
    Reply(Reply),
    /// The connection closed (or went silent) before the reply.
    Closed,
    /// A frame that does not decode as the expected reply.
    Bad(String),
}

fn other(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

impl Conn {
    /// Handshake. `Ok((None, rsp))` when the server refused the session (timeOut 0).
    pub fn handshake(
        addr: &str,
        session: i64,
        passwd: Bytes,
        timeout: i32,
    ) -> io::Result<(Option<Conn>, ConnectResponse)> {
        let (c, rsp) = Self::handshake_keep(addr, session, passwd, timeout)?;
        if rsp.timeout == 0 {
            return Ok((None, rsp));
        }
        Ok((Some(c), rsp))
    }

    /// Handshake that keeps the connection even when the session was refused,
    /// so the caller can see whether the server closes it.
    pub fn handshake_keep(
        addr: &str,
        session: i64,
        passwd: Bytes,
        timeout: i32,
    ) -> io::Result<(Conn, ConnectResponse)> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(8)))?;
        let mut c = Conn { s, next_xid: 1 };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout,
            session_id: session,
            passwd: Some(passwd),
            read_only: Some(false),
        };
        c.s.write_all(&frame_bytes(&req))?;
        let frame = c
            .read_frame()?
            .ok_or_else(|| io::Error::other("closed during the handshake"))?;
        let rsp: ConnectResponse = decode_exact(&frame).map_err(other)?;
        Ok((c, rsp))
    }

    /// Whether the server closes the connection within `ms` (without sending
    /// anything more).
    pub fn closed_within(&mut self, ms: u64) -> bool {
        let _ = self.s.set_read_timeout(Some(Duration::from_millis(ms)));
        let mut b = [0u8; 1];
        let closed = match self.s.read(&mut b) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        };
        let _ = self.s.set_read_timeout(Some(Duration::from_secs(8)));
        closed
    }

    /// One frame body; `None` on end of stream, reset or timeout.
    fn read_frame(&mut self) -> io::Result<Option<Bytes>> {
        let mut len = [0u8; 4];
        if self.s.read_exact(&mut len).is_err() {
            return Ok(None);
        }
        let n = i32::from_be_bytes(len);
        if !(0..=(64 << 20)).contains(&n) {
            return Err(io::Error::other(format!("bad frame length {n}")));
        }
        let mut buf = vec![0; n as usize];
        if self.s.read_exact(&mut buf).is_err() {
            return Ok(None);
        }
        Ok(Some(Bytes::from(buf)))
    }

    /// Send a request with the next xid (or a reserved one), return the xid.
    pub fn send(&mut self, request: Request, fixed_xid: Option<i32>) -> i32 {
        let xid = fixed_xid.unwrap_or_else(|| {
            let x = self.next_xid;
            self.next_xid += 1;
            x
        });
        // A failed write shows up as a closed connection on the read.
        let _ = self
            .s
            .write_all(&frame_bytes(&RequestPacket { xid, request }));
        xid
    }

    /// Send a request whose encoding `damage` may change (the payload after
    /// the length prefix: header and body); the reply is read as `request`'s.
    pub fn call_damaged(
        &mut self,
        request: Request,
        fixed_xid: Option<i32>,
        damage: impl FnOnce(Vec<u8>) -> Vec<u8>,
        events: &mut Vec<WatcherEvent>,
    ) -> Answer {
        let op = request.op_code();
        let xid = fixed_xid.unwrap_or_else(|| {
            let x = self.next_xid;
            self.next_xid += 1;
            x
        });
        let frame = frame_bytes(&RequestPacket { xid, request });
        let payload = damage(frame[4..].to_vec());
        let mut out = Vec::with_capacity(payload.len() + 4);
        out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        out.extend_from_slice(&payload);
        let _ = self.s.write_all(&out);
        self.wait(xid, op, events)
    }

    /// The server's last zxid, from a ping's reply header.
    pub fn last_zxid(&mut self) -> Option<i64> {
        match self.call(Request::Ping(Empty {}), Some(xid::PING), &mut Vec::new()) {
            Answer::Reply(r) => Some(r.header.zxid),
            _ => None,
        }
    }

    /// Read until the reply with `want_xid`; notifications on the way are
    /// appended to `events`.
    pub fn wait(&mut self, want_xid: i32, op: i32, events: &mut Vec<WatcherEvent>) -> Answer {
        loop {
            let frame = match self.read_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return Answer::Closed,
                Err(e) => return Answer::Bad(e.to_string()),
            };
            let reply = match Reply::decode_frame(&frame, op) {
                Ok(r) => r,
                Err(e) => return Answer::Bad(format!("undecodable reply {e:?}: {frame:02x?}")),
            };
            if reply.header.xid == xid::NOTIFICATION {
                match reply.body {
                    Some(jute::Response::Notification(ev)) => events.push(ev),
                    other => return Answer::Bad(format!("notification without event: {other:?}")),
                }
                continue;
            }
            if reply.header.xid == want_xid {
                return Answer::Reply(reply);
            }
            return Answer::Bad(format!(
                "reply with xid {} while waiting for {want_xid}",
                reply.header.xid
            ));
        }
    }

    /// Send and wait.
    pub fn call(
        &mut self,
        request: Request,
        fixed_xid: Option<i32>,
        events: &mut Vec<WatcherEvent>,
    ) -> Answer {
        let op = request.op_code();
        let x = self.send(request, fixed_xid);
        self.wait(x, op, events)
    }

    /// A ping round trip: every notification queued before it arrives first.
    /// False when the connection is gone.
    pub fn ping(&mut self, events: &mut Vec<WatcherEvent>) -> bool {
        matches!(
            self.call(Request::Ping(Empty {}), Some(xid::PING), events),
            Answer::Reply(_)
        )
    }
}
