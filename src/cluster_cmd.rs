//! `corral cluster status|add|remove`: the membership, read and changed over
//! the ZooKeeper protocol itself (getData `/zookeeper/config`, `reconfig`,
//! `srvr`), so it works against any member of a Corral cluster, or of an
//! Apache ZooKeeper 3.5+ ensemble, with no other client installed.
//! `transfer-leader` has no ZooKeeper op: it goes to a member's admin HTTP
//! server.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use jute::{
    AuthPacket, ConnectRequest, ConnectResponse, ErrorCode, FrameCodec, GetDataRequest, Inbound,
    ReconfigRequest, Reply, Request, RequestPacket, Response, Role, decode_exact,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use corral::config::{ClusterArgs, ClusterCmd};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command; the process exit code.
pub async fn run(args: ClusterArgs) -> u8 {
    match go(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("corral cluster: {e}");
            1
        }
    }
}

async fn go(args: ClusterArgs) -> Result<(), String> {
    if let ClusterCmd::TransferLeader { id, admin } = &args.command {
        return transfer_leader(admin, *id).await;
    }
    let mut session = Session::open(&args.server).await?;
    if let Some(auth) = &args.auth {
        session.auth(auth).await?;
    }
    let (joining, leaving) = match args.command {
        ClusterCmd::Status => {
            let config = session.config().await?;
            return status(&config);
        }
        ClusterCmd::Add { servers } => (Some(servers.join(",")), None),
        ClusterCmd::Remove { ids } => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            (None, Some(ids.join(",")))
        }
        ClusterCmd::TransferLeader { .. } => unreachable!("handled above"),
    };
    let reply = session
        .call(Request::Reconfig(ReconfigRequest {
            joining_servers: joining,
            leaving_servers: leaving,
            new_members: None,
            cur_config_id: -1,
        }))
        .await?;
    match reply.body {
        Some(Response::Reconfig(d)) if reply.header.err == 0 => {
            println!(
                "{}",
                String::from_utf8_lossy(d.data.as_deref().unwrap_or_default())
            );
            Ok(())
        }
        _ => Err(refusal(reply.header.err)),
    }
}

/// `POST /cluster/transfer-leader/<id>` on a member's admin server; a plain
/// HTTP/1.1 exchange is all it takes, so no HTTP client crate.
async fn transfer_leader(admin: &str, id: u64) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(admin))
        .await
        .map_err(|_| format!("{admin}: connect timed out"))?
        .map_err(|e| format!("{admin}: {e} (is the admin server on? --admin HOST:PORT)"))?;
    let request = format!(
        "POST /cluster/transfer-leader/{id} HTTP/1.1\r\nHost: {admin}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tokio::time::timeout(
        TIMEOUT,
        (&mut stream).take(1 << 20).read_to_end(&mut answer),
    )
    .await
    .map_err(|_| "no answer in time: the outcome is not known".to_string())?
    .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let ok = head
        .lines()
        .next()
        .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"));
    let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
    if ok {
        println!("node {id} leads");
        return Ok(());
    }
    match json.get("error").and_then(|e| e.as_str()) {
        Some(why) => Err(why.to_string()),
        None => Err(format!(
            "{admin} answered: {}",
            head.lines().next().unwrap_or("nothing")
        )),
    }
}

/// Why a reconfig was refused, in an operator's words.
fn refusal(err: i32) -> String {
    match ErrorCode::from_code(err) {
        Some(ErrorCode::NoAuth) => {
            "not allowed: log in as the super user (--auth super:PASSWORD)".into()
        }
        Some(ErrorCode::ReconfigDisabled) => {
            "reconfig is off on this server (reconfigEnabled=true, --reconfig yes)".into()
        }
        Some(ErrorCode::NewConfigNoQuorum) => {
            "refused: the new participants would have no quorum in touch with the leader".into()
        }
        Some(ErrorCode::BadArguments) => {
            "not a member list ZooKeeper would take (server.N=host:port:port[:observer][;[host:]port])"
                .into()
        }
        Some(code) => format!("refused: {code:?}"),
        None => format!("refused: error {err}"),
    }
}

/// The table: each member's role and addresses from the config, and what
/// the member itself says (`srvr`) where its client address answers.
fn status(config: &str) -> Result<(), String> {
    let members: Vec<(&str, &str)> = config
        .lines()
        .filter_map(|l| l.strip_prefix("server.")?.split_once('='))
        .collect();
    if members.is_empty() {
        return Err("no members in /zookeeper/config (a standalone server?)".into());
    }
    println!(
        "{:<4} {:<12} {:<28} {:<22} {:<10} zxid",
        "id", "role", "peer", "client", "mode"
    );
    for (id, value) in members {
        let (server, client) = value.split_once(';').unwrap_or((value, ""));
        let (peer, role) = server.rsplit_once(':').unwrap_or((server, "?"));
        // A wildcard client address is reached at the member's own host.
        let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let reach = match client.rsplit_once(':') {
            Some(("0.0.0.0" | "::" | "[::]", port)) => format!("{host}:{port}"),
            Some(_) => client.to_string(),
            None if !client.is_empty() => format!("{host}:{client}"),
            None => String::new(),
        };
        let (mode, zxid) = srvr(&reach).unwrap_or_else(|| ("-".into(), "-".into()));
        println!("{id:<4} {role:<12} {peer:<28} {client:<22} {mode:<10} {zxid}");
    }
    Ok(())
}

/// (Mode, Zxid) from a member's `srvr`, if it answers.
fn srvr(addr: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let to: SocketAddr = addr.to_socket_addrs().ok()?.next()?;
    let t = Duration::from_secs(2);
    let mut s = std::net::TcpStream::connect_timeout(&to, t).ok()?;
    s.set_read_timeout(Some(t)).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut text = String::new();
    s.take(4096).read_to_string(&mut text).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Some((field("Mode:")?, field("Zxid:").unwrap_or_default()))
}

struct Session {
    framed: Framed<TcpStream, FrameCodec>,
    xid: i32,
}

impl Session {
    async fn open(server: &str) -> Result<Session, String> {
        let mut last = format!("{server}: no address");
        let addrs: Vec<SocketAddr> = server
            .split(',')
            .filter_map(|s| s.trim().to_socket_addrs().ok())
            .flatten()
            .collect();
        for addr in addrs {
            match Self::open_one(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(last)
    }

    async fn open_one(addr: SocketAddr) -> Result<Session, String> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let mut framed = Framed::new(stream, FrameCodec::new(Role::Client, 16 << 20));
        let hello = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 30_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
        };
        framed.send(&hello).await.map_err(|e| e.to_string())?;
        let frame = match tokio::time::timeout(TIMEOUT, framed.next()).await {
            Ok(Some(Ok(Inbound::Handshake(f)))) => f,
            _ => return Err("no session (the server refused or closed)".into()),
        };
        let rsp: ConnectResponse = decode_exact(&frame).map_err(|e| e.to_string())?;
        if rsp.timeout <= 0 {
            return Err("no session".into());
        }
        Ok(Session { framed, xid: 1 })
    }

    async fn call(&mut self, request: Request) -> Result<Reply, String> {
        let op = request.op_code();
        let xid = self.xid;
        self.xid += 1;
        self.framed
            .send(&RequestPacket { xid, request })
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let frame = match tokio::time::timeout(TIMEOUT, self.framed.next()).await {
                Ok(Some(Ok(Inbound::Frame(f)))) => f,
                Ok(_) => return Err("connection lost: the outcome is not known".into()),
                Err(_) => return Err("no answer in time: the outcome is not known".into()),
            };
            let reply = Reply::decode_frame(&frame, op).map_err(|e| e.to_string())?;
            if reply.header.xid == xid {
                return Ok(reply);
            }
        }
    }

    async fn auth(&mut self, credentials: &str) -> Result<(), String> {
        let reply = self
            .call(Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Some(Bytes::copy_from_slice(credentials.as_bytes())),
            }))
            .await?;
        if reply.header.err != 0 {
            return Err("authentication failed".into());
        }
        Ok(())
    }

    async fn config(&mut self) -> Result<String, String> {
        let reply = self
            .call(Request::GetData(GetDataRequest {
                path: "/zookeeper/config".into(),
                watch: false,
            }))
            .await?;
        match reply.body {
            Some(Response::GetData(d)) if reply.header.err == 0 => {
                Ok(String::from_utf8_lossy(d.data.as_deref().unwrap_or_default()).into())
            }
            _ => Err(format!(
                "cannot read /zookeeper/config: error {}",
                reply.header.err
            )),
        }
    }
}
