//! Shared by the end-to-end tests: start the real `corral` binary on a free
//! port, and a raw-protocol client for checks a client library would hide.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use jute::{
    ConnectRequest, ConnectResponse, FrameCodec, Inbound, OpCode, Reply, Request, RequestPacket,
    Role, decode_exact,
};
use tokio_util::codec::Framed;

/// A running `corral serve` child process.
pub struct Server {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Server {
    /// Start on a fresh data dir with extra flags.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut s = Server {
            addr,
            dir: dir.to_path_buf(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("corral.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_corral"))
            .arg("serve")
            .arg("--client-addr")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(&self.args)
            // Keep tests off the admin default (8080): a free port unless the test picks one.
            .args(admin_default(&self.args))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn corral");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if four_letter(self.addr, "ruok").as_deref() == Some("imok") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("corral did not start; log: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("corral.log")).unwrap_or_default()
    }

    /// kill -9 and start again on the same data and port.
    pub fn crash_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// SIGTERM, wait for a clean exit, return its status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc_kill(c.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn hosts(&self) -> String {
        self.addr.to_string()
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn admin_default(args: &[String]) -> Vec<&'static str> {
    if args
        .iter()
        .any(|a| a == "--admin-addr" || a == "--admin-server")
    {
        vec![]
    } else {
        vec!["--admin-addr", "127.0.0.1:0"]
    }
}

/// A free loopback port (another process may take it before it is used).
pub fn free_loopback_port() -> u16 {
    free_port()
}

/// A plain HTTP/1.1 GET: (status, content type, body).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, ctype, body.to_string()))
}

/// Send a four-letter word, return the whole answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A raw protocol client: every frame the server sends is visible.
pub struct Raw {
    framed: Framed<tokio::net::TcpStream, FrameCodec>,
    next_xid: i32,
    pub session: i64,
    pub passwd: Bytes,
    pub timeout: i32,
    /// Frames received while waiting for a reply (notifications).
    pub events: Vec<Reply>,
}

pub struct Connect {
    pub session: i64,
    pub passwd: Option<Bytes>,
    pub last_zxid: i64,
    pub timeout: i32,
    pub read_only: Option<bool>,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            session: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            last_zxid: 0,
            timeout: 10_000,
            read_only: Some(false),
        }
    }
}

impl Raw {
    pub async fn tcp(addr: SocketAddr) -> Framed<tokio::net::TcpStream, FrameCodec> {
        let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        Framed::new(s, FrameCodec::new(Role::Client, 16 << 20))
    }

    /// Handshake; the server's answer (None when it closed without one).
    pub async fn handshake(
        addr: SocketAddr,
        c: Connect,
    ) -> (Option<Raw>, Option<ConnectResponse>, usize) {
        let mut framed = Self::tcp(addr).await;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: c.last_zxid,
            timeout: c.timeout,
            session_id: c.session,
            passwd: c.passwd,
            read_only: c.read_only,
        };
        framed.send(&req).await.expect("send connect");
        let frame = match tokio::time::timeout(Duration::from_secs(10), framed.next()).await {
            Ok(Some(Ok(Inbound::Handshake(f)))) => f,
            _ => return (None, None, 0),
        };
        let len = frame.len();
        let rsp: ConnectResponse = decode_exact(&frame).expect("ConnectResponse");
        if rsp.timeout == 0 {
            return (None, Some(rsp), len);
        }
        let raw = Raw {
            framed,
            next_xid: 1,
            session: rsp.session_id,
            passwd: rsp.passwd.clone().unwrap_or_default(),
            timeout: rsp.timeout,
            events: Vec::new(),
        };
        (Some(raw), Some(rsp), len)
    }

    pub async fn connect(addr: SocketAddr) -> Raw {
        Self::handshake(addr, Connect::default())
            .await
            .0
            .expect("session")
    }

    pub async fn send(&mut self, request: Request) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.framed
            .send(&RequestPacket { xid, request })
            .await
            .expect("send request");
        xid
    }

    /// Send a request frame made of these bytes (header included), as
    /// they are: for bodies no encoder would produce.
    pub async fn send_bytes(&mut self, body: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let len = i32::try_from(body.len()).expect("frame length");
        let frame = [&len.to_be_bytes()[..], body].concat();
        self.framed
            .get_mut()
            .write_all(&frame)
            .await
            .expect("send bytes");
    }

    /// The next frame as it came; None when the server closed.
    pub async fn next_frame(&mut self) -> Option<Bytes> {
        match tokio::time::timeout(Duration::from_secs(10), self.framed.next()).await {
            Ok(Some(Ok(Inbound::Frame(f)))) => Some(f),
            _ => None,
        }
    }

    /// The server's last zxid, as a ping's reply carries it.
    pub async fn last_zxid(&mut self) -> i64 {
        let header = [(-2i32).to_be_bytes(), 11i32.to_be_bytes()].concat();
        self.send_bytes(&header).await;
        loop {
            let r = self.next(OpCode::Ping).await.expect("ping answered");
            if r.header.xid == jute::xid::PING {
                return r.header.zxid;
            }
            assert_eq!(r.header.xid, jute::xid::NOTIFICATION, "out of order: {r:?}");
            self.events.push(r);
        }
    }

    /// The next frame, decoded as a reply to `op`; None when the server closed.
    pub async fn next(&mut self, op: OpCode) -> Option<Reply> {
        match tokio::time::timeout(Duration::from_secs(10), self.framed.next()).await {
            Ok(Some(Ok(Inbound::Frame(f)))) => {
                Some(Reply::decode_frame(&f, op.code()).expect("reply"))
            }
            _ => None,
        }
    }

    /// Send and wait for the reply with this xid; notifications on the way go to `events`.
    pub async fn call(&mut self, request: Request) -> Reply {
        let op = OpCode::from_code(request.op_code()).expect("known op");
        let xid = self.send(request).await;
        loop {
            let reply = self
                .next(op)
                .await
                .expect("connection closed before the reply");
            if reply.header.xid == xid {
                return reply;
            }
            assert_eq!(
                reply.header.xid,
                jute::xid::NOTIFICATION,
                "reply out of order: {reply:?}"
            );
            self.events.push(reply);
        }
    }

    /// Whether the server has closed the connection (reads until EOF or timeout).
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.framed.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    pub fn into_framed(self) -> Framed<tokio::net::TcpStream, FrameCodec> {
        self.framed
    }
}
