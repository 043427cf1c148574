//! One client session over raw TCP: handshake, request encoding into a write
//! buffer, and reply frames decoded from a read buffer. Nothing here trusts
//! the peer: every malformed or unexpected input is an `Err`, never a panic.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jute::{
    ConnectRequest, ConnectResponse, Empty, FrameCodec, Inbound, Reply, Request, RequestPacket,
    decode_exact, xid,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

pub struct Conn {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    next_xid: i32,
    /// Read-buffer growth step; the buffer grows by this much when less than a quarter is free.
    buf_size: usize,
    pub session_id: i64,
    /// The session timeout the server granted, ms.
    pub timeout_ms: i32,
}

/// Buffer size of [`Conn::open`]: room for a deep pipeline of replies.
pub const DEFAULT_BUF: usize = 64 * 1024;

impl Conn {
    /// Connect and open a new session.
    pub async fn open(addr: &str, timeout_ms: i32, deadline: Duration) -> Result<Conn, String> {
        Conn::open_with(addr, timeout_ms, deadline, DEFAULT_BUF).await
    }

    /// [`Conn::open`] with read and write buffers of `buf_size` bytes (the scale scenarios
    /// hold thousands of mostly idle sessions and keep their buffers small).
    pub async fn open_with(
        addr: &str,
        timeout_ms: i32,
        deadline: Duration,
        buf_size: usize,
    ) -> Result<Conn, String> {
        let buf_size = buf_size.max(64);
        let stream = tokio::time::timeout(deadline, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        let mut conn = Conn {
            stream,
            codec: FrameCodec::client(),
            rbuf: BytesMut::with_capacity(buf_size),
            wbuf: BytesMut::with_capacity(buf_size),
            next_xid: 1,
            buf_size,
            session_id: 0,
            timeout_ms: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: timeout_ms,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
        };
        conn.codec
            .encode(&req, &mut conn.wbuf)
            .map_err(|e| format!("encode handshake: {e}"))?;
        conn.flush().await?;
        let inbound = tokio::time::timeout(deadline, conn.read_inbound())
            .await
            .map_err(|_| "no handshake answer".to_string())??;
        let frame = match inbound {
            Inbound::Handshake(f) => f,
            other => return Err(format!("expected a handshake answer, got {other:?}")),
        };
        let resp: ConnectResponse =
            decode_exact(&frame).map_err(|e| format!("bad ConnectResponse: {e:?}"))?;
        if resp.timeout <= 0 {
            return Err("server refused the session (negotiated timeout 0)".into());
        }
        conn.session_id = resp.session_id;
        conn.timeout_ms = resp.timeout;
        Ok(conn)
    }

    /// Encode a request into the write buffer; returns its xid.
    pub fn push(&mut self, request: Request) -> Result<i32, String> {
        let xid = self.next_xid;
        // Positive xids only; wrapping past i32::MAX would collide with reserved ones.
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        let packet = RequestPacket { xid, request };
        self.codec
            .encode(&packet, &mut self.wbuf)
            .map_err(|e| format!("encode request: {e}"))?;
        Ok(xid)
    }

    /// Encode a ping (xid −2, as ZooKeeper's clients send it: the answer carries xid −2 too).
    pub fn push_ping(&mut self) -> Result<(), String> {
        let packet = RequestPacket {
            xid: xid::PING,
            request: Request::Ping(Empty {}),
        };
        self.codec
            .encode(&packet, &mut self.wbuf)
            .map_err(|e| format!("encode ping: {e}"))
    }

    /// Send a ping and wait for its answer (other reserved frames skipped); a reply to a
    /// numbered request here is an error, since nothing else may be outstanding.
    pub async fn ping(&mut self, stall: Duration) -> Result<(), String> {
        self.push_ping()?;
        self.flush().await?;
        loop {
            let frame = self.next_frame(stall).await?;
            match frame_xid(&frame)? {
                xid::PING => return Ok(()),
                x if is_reserved(x) => {}
                x => return Err(format!("reply xid {x} while only a ping was outstanding")),
            }
        }
    }

    pub async fn flush(&mut self) -> Result<(), String> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.wbuf.clear();
        Ok(())
    }

    /// A complete frame already in the read buffer, if any.
    pub fn try_frame(&mut self) -> Result<Option<Bytes>, String> {
        match self.codec.decode(&mut self.rbuf) {
            Ok(None) => Ok(None),
            Ok(Some(Inbound::Frame(f))) => Ok(Some(f)),
            Ok(Some(other)) => Err(format!("unexpected inbound {other:?}")),
            Err(e) => Err(format!("bad frame: {e}")),
        }
    }

    async fn read_inbound(&mut self) -> Result<Inbound, String> {
        loop {
            match self.codec.decode(&mut self.rbuf) {
                Ok(Some(item)) => return Ok(item),
                Ok(None) => {}
                Err(e) => return Err(format!("bad frame: {e}")),
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        if self.rbuf.capacity() - self.rbuf.len() < self.buf_size / 4 {
            self.rbuf.reserve(self.buf_size);
        }
        let n = self
            .stream
            .read_buf(&mut self.rbuf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        Ok(())
    }

    /// The next frame, reading from the socket if needed; a stall after `stall`.
    pub async fn next_frame(&mut self, stall: Duration) -> Result<Bytes, String> {
        loop {
            if let Some(f) = self.try_frame()? {
                return Ok(f);
            }
            tokio::time::timeout(stall, self.fill())
                .await
                .map_err(|_| format!("stall: no reply for {:.1}s", stall.as_secs_f64()))??;
        }
    }

    /// One request, waiting for its reply (pings and notifications skipped).
    pub async fn call(&mut self, request: Request, stall: Duration) -> Result<Reply, String> {
        let op = request.op_code();
        let want = self.push(request)?;
        self.flush().await?;
        loop {
            let frame = self.next_frame(stall).await?;
            let got = frame_xid(&frame)?;
            if is_reserved(got) {
                continue;
            }
            if got != want {
                return Err(format!("reply xid {got}, expected {want}"));
            }
            return Reply::decode_frame(&frame, op).map_err(|e| format!("bad reply: {e:?}"));
        }
    }
}

/// The xid of a reply frame (its first four bytes).
pub fn frame_xid(frame: &Bytes) -> Result<i32, String> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(format!("reply frame of {} bytes", frame.len())),
    }
}

/// Replies that do not answer a numbered request (notification, ping, auth, SetWatches).
pub fn is_reserved(x: i32) -> bool {
    matches!(
        x,
        xid::NOTIFICATION | xid::PING | xid::AUTH | xid::SET_WATCHES
    )
}
