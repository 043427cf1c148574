//! Settings: defaults, then a zoo.cfg-style file, then command-line flags.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};

#[derive(Parser, Debug)]
#[command(
    name = "corral",
    version,
    about = "A ZooKeeper-wire-compatible coordination server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a server with its data in --data-dir: a single node, or one member of a cluster.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(Box<ServeArgs>),
    /// Exit 0 if a server answers `ruok` (for container health checks: the image has no shell).
    Health(HealthArgs),
    /// Show or change the members of a running cluster (Corral, or ZooKeeper 3.5+), over the client protocol: /zookeeper/config, reconfig and srvr.
    Cluster(ClusterArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// A member's client address, or several, comma-separated (the first that answers is used).
    #[arg(long, value_name = "HOST:PORT[,...]", default_value = "127.0.0.1:2181")]
    pub server: String,
    /// Log in as this digest user first; changes need the super user (superDigest) [e.g. super:PASSWORD].
    #[arg(long, value_name = "USER:PASSWORD")]
    pub auth: Option<String>,
    #[command(subcommand)]
    pub command: ClusterCmd,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ClusterCmd {
    /// Every member with its role and addresses, and what it says of itself (srvr: mode, zxid).
    Status,
    /// Add members, or change a member's role or addresses: server lines as in zoo.cfg. A new participant votes only once it has caught up; start it first, with the members listed in its config.
    Add {
        #[arg(
            value_name = "server.N=HOST:PORT:PORT[:observer][;[HOST:]PORT]",
            required = true
        )]
        servers: Vec<String>,
    },
    /// Remove members by id (the leader too; a member that is down too). Refused if the participants left would have no quorum in touch.
    Remove {
        #[arg(value_name = "ID", required = true)]
        ids: Vec<u64>,
    },
    /// Hand leadership to voter ID (before taking the leader's machine down, say); writes pause for about one election timeout. Goes through a member's admin HTTP server, which forwards to the leader.
    TransferLeader {
        #[arg(value_name = "ID")]
        id: u64,
        /// A member's admin HTTP address.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
        admin: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct HealthArgs {
    /// The server's client address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2181")]
    pub addr: SocketAddr,
    /// Give up after this many ms.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub timeout: u64,
}

const SERVE_AFTER_HELP: &str = "\
Flags override the same setting in --config.
A cluster: list every member, this node included, as zoo.cfg lines
server.N=host:quorumPort:electionPort[:participant][;[clientHost:]clientPort] (ids 1-255),
or as --peer N=HOST:PORT[;[CLIENTHOST:]CLIENTPORT] flags, which replace those lines.
Quote --peer when it has a ';'. This node's id comes from --node-id or the myid file in dataDir.
Corral uses one peer port per member, the first (quorumPort), for raft and forwarded requests;
the election port is accepted and ignored. Observers are not supported yet.
An admin HTTP server starts too, on 127.0.0.1:8080: --admin-addr moves it, --admin-server no turns it off.
Logging: RUST_LOG (e.g. RUST_LOG=debug); by default info, with openraft and fjall at warn.
SIGINT or SIGTERM stops the server cleanly.";

#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// A ZooKeeper-style config file (zoo.cfg).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Client address [default: 127.0.0.1:2181; zoo.cfg: clientPortAddress + clientPort].
    #[arg(long, value_name = "HOST:PORT")]
    pub client_addr: Option<SocketAddr>,
    /// Where the log and snapshots live [default: ./corral-data; zoo.cfg: dataDir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The basic time unit in ms [default: 2000; zoo.cfg: tickTime].
    #[arg(long, value_name = "MS")]
    pub tick_time: Option<u64>,
    /// Smallest session timeout granted, ms [default: 2 × tickTime; zoo.cfg: minSessionTimeout].
    #[arg(long, value_name = "MS")]
    pub min_session_timeout: Option<u64>,
    /// Largest session timeout granted, ms [default: 20 × tickTime; zoo.cfg: maxSessionTimeout].
    #[arg(long, value_name = "MS")]
    pub max_session_timeout: Option<u64>,
    /// Most concurrent connections from one IP, 0 = unlimited [default: 60; zoo.cfg: maxClientCnxns].
    #[arg(long, value_name = "N")]
    pub max_client_cnxns: Option<usize>,
    /// Four-letter words allowed, comma-separated, or * [default: ruok,srvr,stat,mntr,conf,envi,dirs,isro,wchs,cons; zoo.cfg: 4lw.commands.whitelist].
    #[arg(long, value_name = "LIST")]
    pub four_letter_words: Option<String>,
    /// Largest request body in bytes [default: 1048575; zoo.cfg: jute.maxbuffer].
    #[arg(long, value_name = "BYTES")]
    pub max_buffer: Option<usize>,
    /// Requests in the log, server-wide, past which no connection is read until some are answered [default: 1000; zoo.cfg: globalOutstandingLimit].
    #[arg(long, value_name = "N")]
    pub global_outstanding_limit: Option<usize>,
    /// One connection's requests in the log past which it is not read until some are answered [default: a quarter of globalOutstandingLimit].
    #[arg(long, value_name = "N")]
    pub conn_outstanding_limit: Option<usize>,
    /// Reply bytes queued for one connection past which it is not read until the client takes them [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    pub conn_unsent_bytes: Option<usize>,
    /// Bytes queued for one connection (replies and notifications) past which the client is a slow consumer and its connection is closed [default: 32 MiB; at least --conn-unsent-bytes plus jute.maxbuffer].
    #[arg(long, value_name = "BYTES")]
    pub conn_max_queued_bytes: Option<usize>,
    /// How long a new connection may take to send its handshake, in ms [default: 10000; zoo.cfg: zookeeper.nio.sessionlessCnxnTimeout].
    #[arg(long, value_name = "MS")]
    pub handshake_timeout: Option<u64>,
    /// Connections still in their handshake, server-wide, past which new ones are closed at once [default: 1000; zoo.cfg: zookeeper.netty.server.outstandingHandshake.limit].
    #[arg(long, value_name = "N")]
    pub max_handshaking: Option<usize>,
    /// fsync each log append before acknowledging writes [default: yes; zoo.cfg: forceSync].
    #[arg(long, value_name = "yes|no")]
    pub force_sync: Option<String>,
    /// Super user as user:base64(sha1(user:password)) [zoo.cfg: superDigest].
    #[arg(long, value_name = "DIGEST")]
    pub super_digest: Option<String>,
    /// Log entries between snapshots [default: 100000; zoo.cfg: snapCount].
    #[arg(long, value_name = "N")]
    pub snap_count: Option<u64>,
    /// Allow TTL nodes (createTTL) [default: yes; zoo.cfg: extendedTypesEnabled].
    #[arg(long, value_name = "yes|no")]
    pub ttl_nodes: Option<String>,
    /// Read-only mode: a member cut off from the quorum serves reads to clients that allow it (canBeReadOnly) and refuses their writes with NotReadOnly [default: no; zoo.cfg: readonlymode.enabled, ZooKeeper's system property].
    #[arg(long, value_name = "yes|no")]
    pub read_only_mode: Option<String>,
    /// Allow the reconfig op (super user, or whoever may write /zookeeper/config), which changes the members [default: no; zoo.cfg: reconfigEnabled].
    #[arg(long, value_name = "yes|no")]
    pub reconfig: Option<String>,
    /// Run the admin HTTP server (/commands, /metrics, /ready, /health) [default: yes; zoo.cfg: admin.enableServer].
    #[arg(long, value_name = "yes|no")]
    pub admin_server: Option<String>,
    /// Admin HTTP address; port 0 picks a free one [default: 127.0.0.1:8080; zoo.cfg: admin.serverAddress + admin.serverPort].
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_addr: Option<SocketAddr>,
    /// Also serve /metrics alone on this address, like ZooKeeper's Prometheus provider [default: off; zoo.cfg: metricsProvider.httpHost + metricsProvider.httpPort].
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,
    /// Snapshots to keep; Corral keeps 1 and purges its log at each snapshot, so values above 1 are shown but change nothing [default: 3; zoo.cfg: autopurge.snapRetainCount].
    #[arg(long, value_name = "N")]
    pub snap_retain_count: Option<u64>,
    /// Hours between purges; Corral purges at each snapshot, so this is shown but changes nothing [default: 0; zoo.cfg: autopurge.purgeInterval].
    #[arg(long, value_name = "HOURS")]
    pub purge_interval: Option<u64>,
    /// This node's id among the cluster members, 1-255 [default: dataDir/myid, as ZooKeeper; a single node: 1].
    #[arg(long, value_name = "N")]
    pub node_id: Option<u64>,
    /// A cluster member: its id, its peer address (raft and forwarded requests), `:observer` for a member that does not vote, and optionally ;its client address. Repeat for every member, this node included; replaces zoo.cfg's server.N lines.
    #[arg(long = "peer", value_name = "N=HOST:PORT[:observer][;[HOST:]PORT]")]
    pub peers: Vec<String>,
    /// Raft election timeout in ms; the leader sends heartbeats every fifth of it [default: 250; zoo.cfg: corral.electionTimeout].
    #[arg(long, value_name = "MS")]
    pub election_timeout: Option<u64>,
    /// How long to wait at start for members' host names to resolve (in containers a peer's name exists only once it runs) [default: 60; zoo.cfg: corral.resolveTimeout].
    #[arg(long, value_name = "SECONDS")]
    pub resolve_timeout: Option<u64>,
    /// Configure from the official zookeeper Docker image's variables (ZOO_MY_ID, ZOO_SERVERS, ZOO_CFG_EXTRA, ...), as its entrypoint does: use $ZOO_CONF_DIR/zoo.cfg if it exists, else write one from them; write $ZOO_DATA_DIR/myid if missing. Defaults are then ZooKeeper's: client and admin servers listen on every interface, and the 4lw whitelist is srvr.
    #[arg(long, conflicts_with = "config")]
    pub zoo_env: bool,
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub client_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub tick_time: u64,
    pub min_session_timeout: u64,
    pub max_session_timeout: u64,
    pub max_client_cnxns: usize,
    pub four_letter_words: BTreeSet<String>,
    pub max_buffer: usize,
    pub limits: Limits,
    pub force_sync: bool,
    pub super_digest: Option<String>,
    pub snap_count: u64,
    pub ttl_nodes: bool,
    /// A member cut off from the quorum serves read-only clients.
    pub read_only_mode: bool,
    /// Clients may change the members (reconfig).
    pub reconfig: bool,
    /// None: the admin HTTP server is off.
    pub admin_addr: Option<SocketAddr>,
    /// Where /metrics is served on its own, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    pub snap_retain_count: u64,
    pub purge_interval: u64,
    /// zoo.cfg initLimit and syncLimit, in ticks: they bound a follower's
    /// initial sync and how long it may go without its leader (see
    /// `peer_timeout`). A single node has no followers.
    pub init_limit: Option<u32>,
    pub sync_limit: Option<u32>,
    /// Raft election timeout, ms; heartbeats go every fifth of it.
    pub election_timeout: u64,
    /// The members and which one this node is.
    pub cluster: Cluster,
}

/// Who the members are, and which one this node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub my_id: u64,
    /// Every member, this node included.
    pub members: BTreeMap<u64, Member>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Raft and forwarded requests: the first port of a zoo.cfg server line.
    pub peer_addr: SocketAddr,
    /// Where the member serves clients, if its server line or --peer says
    /// (`;port` is 0.0.0.0:port). This node's own listening address is
    /// `Config::client_addr`, which may differ.
    pub client_addr: Option<SocketAddr>,
    /// An observer (`:observer`): it receives the log and serves clients
    /// but does not vote, so it adds no weight to a quorum.
    pub observer: bool,
    /// As ZooKeeper writes it in /zookeeper/config, without the role:
    /// `host:quorumPort:electionPort[;clientHost:clientPort]`.
    pub spec: String,
    /// The host name `peer_addr` was resolved from, if it was not an IP:
    /// the transport looks it up again when the member cannot be reached or
    /// calls from another IP (a container restarted with a new IP).
    pub host: Option<String>,
}

/// A single node's peer address: nobody dials it, but every member has one.
const SINGLE_PEER_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2888);

/// ZooKeeper's documented range for server ids (myid).
const IDS: std::ops::RangeInclusive<u64> = 1..=255;

/// syncLimit when zoo.cfg has none (ZooKeeper requires one in a cluster;
/// 5 is what its sample zoo.cfg sets).
/// syncLimit and initLimit when zoo.cfg gives none (ticks).
pub const DEFAULT_SYNC_LIMIT: u32 = 5;
pub const DEFAULT_INIT_LIMIT: u32 = 10;

impl Cluster {
    /// A one-member cluster that never talks to peers.
    pub fn single(my_id: u64) -> Cluster {
        Cluster {
            my_id,
            members: BTreeMap::from([(
                my_id,
                Member {
                    peer_addr: SINGLE_PEER_ADDR,
                    client_addr: None,
                    observer: false,
                    spec: String::new(),
                    host: None,
                },
            )]),
        }
    }

    /// The voting members' ids.
    pub fn voters(&self) -> impl Iterator<Item = u64> + '_ {
        self.members
            .iter()
            .filter(|(_, m)| !m.observer)
            .map(|(id, _)| *id)
    }

    /// Whether this node is an observer.
    pub fn observing(&self) -> bool {
        self.members.get(&self.my_id).is_some_and(|m| m.observer)
    }

    pub fn is_single(&self) -> bool {
        self.members.len() == 1
    }
}

impl Default for Cluster {
    /// A single node with id 1, as Corral runs without cluster settings.
    fn default() -> Cluster {
        Cluster::single(1)
    }
}

/// Something in the config file the operator may want to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// file:line
    pub at: String,
    pub key: String,
    pub kind: NoteKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Not a key Corral knows: probably a typo. Worth a warning.
    Unknown,
    /// A ZooKeeper key whose value Corral cannot honour. Worth a warning.
    Ignored(&'static str),
    /// A standard key with nothing to do on a single node (zoo_sample.cfg
    /// has some): accepted quietly so a stock zoo.cfg starts without noise.
    Harmless(&'static str),
}

impl Note {
    pub fn is_warning(&self) -> bool {
        !matches!(self.kind, NoteKind::Harmless(_))
    }
}

/// When a connection stops being read, so that TCP pushes back on a client
/// that sends faster than it takes its answers (ZooKeeper's
/// globalOutstandingLimit, plus a per-connection share of it and a cap on
/// unsent reply bytes, so one client cannot hold the whole budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub global_outstanding: usize,
    pub conn_outstanding: usize,
    pub conn_unsent_bytes: usize,
    /// Past this many queued bytes a connection is closed (slow consumer).
    pub conn_max_queued_bytes: usize,
    pub handshake_timeout: std::time::Duration,
    pub max_handshaking: usize,
}

/// The read-only commands health checks use; the rest must be enabled.
pub const DEFAULT_FOUR_LETTER_WORDS: &str = "ruok,srvr,stat,mntr,conf,envi,dirs,isro,wchs,cons";

/// zoo.cfg text that is not read from a file, and the name its notes give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgText {
    pub name: String,
    pub text: String,
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Raw values before defaults are applied (from the file, then flags on top).
#[derive(Default)]
struct Raw {
    args: ServeArgs,
    client_port: Option<u16>,
    client_host: Option<String>,
    admin_port: Option<u16>,
    admin_host: Option<String>,
    metrics_port: Option<u16>,
    metrics_host: Option<String>,
    /// Where dataLogDir was set, and to what: judged once dataDir is final.
    data_log_dir: Option<(String, PathBuf)>,
    init_limit: Option<u32>,
    sync_limit: Option<u32>,
    /// `server.N` lines, parsed but not yet resolved: --peer may replace them.
    servers: Vec<MemberSpec>,
    /// quorumListenOnAllIPs
    listen_all: bool,
}

/// A member as written in a server line or --peer, before its hostnames
/// are resolved.
struct MemberSpec {
    /// file:line, or "--peer": where notes point.
    at: String,
    /// `server.N`
    key: String,
    /// The line or flag, for errors.
    place: String,
    id: u64,
    host: String,
    port: u16,
    /// --peer has none: the peer port stands in.
    election_port: u16,
    /// Host ("0.0.0.0" when only a port was given) and port.
    client: Option<(String, u16)>,
    observer: bool,
}

impl MemberSpec {
    /// ZooKeeper's form, without the role.
    fn spec(&self) -> String {
        let client = self
            .client
            .as_ref()
            .map_or_else(String::new, |(h, p)| format!(";{h}:{p}"));
        format!("{}:{}:{}{client}", self.host, self.port, self.election_port)
    }
}

/// A server line's value (`host:quorumPort:electionPort[:role][;client]`)
/// as a reconfig names it: (is an observer, spec without the role).
pub fn parse_server_spec(id: &str, value: &str) -> Result<(u64, bool, String), ConfigError> {
    // ZooKeeper takes any id here; a member that runs Corral needs 1-255
    // (its myid), but naming another is the operator's business.
    let n: u64 = id
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("server id {id:?} is not a number")))?;
    if n == 0 {
        return Err(ConfigError("server id 0".into()));
    }
    let mut m = parse_member("reconfig", "1", value, true)?;
    m.id = n;
    Ok((m.id, m.observer, m.spec()))
}

/// ZooKeeper's ConfigUtils.getHostAndPort: split on ':', except that a
/// leading `[...]` (an IPv6 address) is one part, without its brackets.
fn host_and_ports(s: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(s.split(':').collect());
    };
    let (host, after) = rest
        .split_once(']')
        .ok_or_else(|| format!("{s} starts with '[' but has no ']'"))?;
    if after.is_empty() {
        return Ok(vec![host]);
    }
    let after = after
        .strip_prefix(':')
        .ok_or_else(|| format!("{s}: expected ':' after ']'"))?;
    Ok(std::iter::once(host).chain(after.split(':')).collect())
}

/// One member from `server.N=...` (`file` true) or `--peer N=...`.
///
/// ZooKeeper 3.8 (QuorumPeer.QuorumServer.initializeWithAddressString):
/// `host:quorumPort:electionPort[:type]`, then optionally `;clientPort`
/// (which it binds as 0.0.0.0:clientPort) or `;clientHost:clientPort`;
/// `|` separates several addresses per server (multiAddress, off by
/// default). Corral needs one port per member, so --peer gives only that.
fn parse_member(at: &str, id: &str, value: &str, file: bool) -> Result<MemberSpec, ConfigError> {
    let (place, form) = if file {
        (
            format!("{at}: server.{id}={value}"),
            "host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]",
        )
    } else {
        (
            format!("--peer {id}={value}"),
            "N=HOST:PORT[:observer][;[CLIENTHOST:]CLIENTPORT]",
        )
    };
    let bad = |why: &str| ConfigError(format!("{place}: {why} (expected {form})"));
    let id = id.trim();
    let id: u64 = id
        .parse()
        .map_err(|_| bad(&format!("server id {id:?} is not a number")))?;
    if !IDS.contains(&id) {
        return Err(bad(&format!(
            "server id {id} is out of range: ids are 1 to 255"
        )));
    }
    let (server, client) = match value.split(';').collect::<Vec<_>>()[..] {
        [server] => (server.trim(), None),
        [server, client] => (server.trim(), Some(client.trim())),
        _ => return Err(bad("more than one ';'")),
    };
    if server.contains('|') {
        return Err(bad(
            "several addresses for one server ('|') are not supported",
        ));
    }
    let parts = host_and_ports(server).map_err(|e| bad(&e))?;
    let port = |p: &str, what: &str| -> Result<u16, ConfigError> {
        p.trim()
            .parse()
            .map_err(|_| bad(&format!("{what} {:?} is not a port", p.trim())))
    };
    let (host, peer_port, election_port, kind) = match (file, &parts[..]) {
        (true, [host, quorum, election, kind @ ..]) if kind.len() <= 1 => {
            // Checked, so the line stays one ZooKeeper would accept, but
            // unused: Corral has no separate election channel.
            let election = port(election, "electionPort")?;
            (*host, port(quorum, "quorumPort")?, election, kind.first())
        }
        (false, [host, peer, kind @ ..]) if kind.len() <= 1 => {
            let p = port(peer, "port")?;
            (*host, p, p, kind.first())
        }
        _ => return Err(bad("wrong number of ':'-separated parts")),
    };
    // ZooKeeper's getType: trimmed, any case.
    let observer = match kind.map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(bad(&format!("unknown member type {other:?}"))),
    };
    let host = host.trim();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if peer_port == 0 {
        return Err(bad("peer port 0: other members could not find this one"));
    }
    let client = match client {
        // Java's split drops a trailing empty part: `...:3888;` has none.
        None | Some("") => None,
        Some(c) => match host_and_ports(c).map_err(|e| bad(&e))?[..] {
            // A bare port binds every interface, as in ZooKeeper.
            [p] => Some(("0.0.0.0".to_string(), port(p, "client port")?)),
            [h, p] if !h.trim().is_empty() => Some((h.trim().to_string(), port(p, "client port")?)),
            _ => return Err(bad("the client part is not port or host:port")),
        },
    };
    Ok(MemberSpec {
        at: at.to_string(),
        key: format!("server.{id}"),
        place,
        id,
        host: host.to_string(),
        port: peer_port,
        election_port,
        client,
        observer,
    })
}

/// A host (name or IP) and port as one address, resolved now so a typo
/// stops the start instead of a member that can never be reached.
fn resolve(place: &str, host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConfigError(format!("{place}: cannot resolve {host}: {e}")))?
        .collect();
    // ZooKeeper takes InetAddress.getByName's answer, which puts IPv4 first
    // by default: so localhost is 127.0.0.1 there, and here.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| ConfigError(format!("{place}: {host} resolves to no address")))
}

/// Every member's peer and client addresses, in `specs` order. A name that
/// does not resolve yet is tried again every second for up to `wait`: in
/// Docker a peer's name exists only while its container runs, and members
/// start in any order.
fn resolve_all(
    specs: &[MemberSpec],
    wait: Duration,
) -> Result<Vec<(SocketAddr, Option<SocketAddr>)>, ConfigError> {
    resolve_all_with(specs, wait, &resolve)
}

type Resolver<'a> = &'a dyn Fn(&str, &str, u16) -> Result<SocketAddr, ConfigError>;

fn resolve_all_with(
    specs: &[MemberSpec],
    wait: Duration,
    resolve: Resolver,
) -> Result<Vec<(SocketAddr, Option<SocketAddr>)>, ConfigError> {
    let start = Instant::now();
    let mut told = BTreeSet::new();
    let mut last_said = start;
    loop {
        let mut found = Vec::with_capacity(specs.len());
        let mut missing = Vec::new();
        for s in specs {
            let peer = resolve(&s.place, &s.host, s.port);
            let client = s
                .client
                .as_ref()
                .map(|(host, port)| resolve(&s.place, host, *port))
                .transpose();
            match (peer, client) {
                (Ok(p), Ok(c)) => found.push((p, c)),
                (Err(e), _) | (_, Err(e)) => missing.push(e),
            }
        }
        let waited = start.elapsed();
        let Some(first) = missing.first() else {
            if !told.is_empty() {
                info!(
                    waited_ms = waited.as_millis() as u64,
                    "every member's host name resolves now"
                );
            }
            return Ok(found);
        };
        if waited >= wait {
            return Err(ConfigError(if told.is_empty() {
                first.0.clone()
            } else {
                format!(
                    "{first} (waited {} s; --resolve-timeout or corral.resolveTimeout sets how long)",
                    waited.as_secs()
                )
            }));
        }
        for e in &missing {
            if told.insert(e.0.clone()) {
                warn!(error = %e, wait_s = wait.as_secs(), "waiting for a member's host name to resolve (its container may not run yet)");
            }
        }
        if last_said.elapsed() >= Duration::from_secs(10) {
            last_said = Instant::now();
            info!(
                unresolved = missing.len(),
                waited_s = waited.as_secs(),
                "still waiting for members' host names"
            );
        }
        std::thread::sleep((wait - waited).min(Duration::from_secs(1)));
    }
}

/// The myid file's id, if the file exists: ZooKeeper's format, a decimal
/// number (ZooKeeper reads its first line; surrounding whitespace is
/// forgiven here).
fn read_myid(path: &Path) -> Result<Option<u64>, ConfigError> {
    // As ZooKeeper: only a regular file counts.
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    let id = text.trim().parse::<u64>().map_err(|_| {
        ConfigError(format!(
            "{}: expected this node's id, a number, got {:?}",
            path.display(),
            text.trim()
        ))
    })?;
    if !IDS.contains(&id) {
        return Err(ConfigError(format!(
            "{}: id {id} is out of range: ids are 1 to 255",
            path.display()
        )));
    }
    Ok(Some(id))
}

/// host:port from zoo.cfg's split keys.
fn join_addr(what: &str, host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    // ZooKeeper accepts 0.0.0.0 and plain IPs; a bracketed IPv6 host works too.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| ConfigError(format!("bad {what} address {host}:{port}")))?;
    Ok(SocketAddr::new(ip, port))
}

impl Config {
    /// Resolve flags over the file over defaults. Returns notes about the
    /// file to log.
    pub fn load(args: &ServeArgs) -> Result<(Config, Vec<Note>), ConfigError> {
        Config::load_with(args, None)
    }

    /// As `load`, but with zoo.cfg given as text (named for notes) rather
    /// than read from `args.config`.
    pub fn load_with(
        args: &ServeArgs,
        text: Option<&CfgText>,
    ) -> Result<(Config, Vec<Note>), ConfigError> {
        let mut raw = Raw::default();
        let mut notes = Vec::new();
        match (text, &args.config) {
            (Some(t), _) => parse_cfg(&t.name, &t.text, &mut raw, &mut notes)?,
            (None, Some(path)) => read_file(path, &mut raw, &mut notes)?,
            (None, None) => {}
        }
        overlay(&mut raw.args, args);
        let a = &raw.args;
        let tick_time = a.tick_time.unwrap_or(2000);
        let data_dir = a
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("corral-data"));
        let resolve_wait = Duration::from_secs(a.resolve_timeout.unwrap_or(60));
        let (cluster, my_client) = cluster(
            args,
            &data_dir,
            raw.servers,
            raw.listen_all,
            resolve_wait,
            &mut notes,
        )?;
        // ZooKeeper listens on every interface unless told otherwise; Corral
        // on loopback, except in the image (--zoo-env), where only every
        // interface makes a published port reach it.
        let any_host = if args.zoo_env { "0.0.0.0" } else { "127.0.0.1" };
        // Set explicitly, the client address wins over this node's server
        // line. ZooKeeper 3.8 (QuorumPeerConfig.setupClientPort) instead
        // refuses to start when clientPortAddress:clientPort and the line
        // disagree (a wildcard clientPortAddress only has to match the
        // port), and takes the line's address when they agree.
        let explicit =
            a.client_addr.is_some() || raw.client_host.is_some() || raw.client_port.is_some();
        let client_addr = match (a.client_addr, &my_client) {
            (Some(addr), _) => addr,
            (None, Some(line)) if !explicit => line.addr,
            (None, _) => {
                let host = raw.client_host.as_deref().unwrap_or(any_host);
                let port = raw.client_port.unwrap_or(2181);
                format!("{host}:{port}")
                    .parse()
                    .map_err(|_| ConfigError(format!("bad client address {host}:{port}")))?
            }
        };
        if let Some(line) = my_client.filter(|line| line.addr != client_addr) {
            notes.push(Note {
                at: line.at,
                key: line.key,
                kind: NoteKind::Ignored(
                    "this node's client address is overridden by clientPort, clientPortAddress or --client-addr",
                ),
            });
        }
        let admin_addr = if yes_no("admin.enableServer", a.admin_server.as_deref(), true)? {
            Some(match a.admin_addr {
                Some(addr) => addr,
                None => join_addr(
                    "admin",
                    raw.admin_host.as_deref().unwrap_or(any_host),
                    raw.admin_port.unwrap_or(8080),
                )?,
            })
        } else {
            None
        };
        let metrics_addr = match (a.metrics_addr, raw.metrics_port) {
            (Some(addr), _) => Some(addr),
            (None, Some(port)) => Some(join_addr(
                "metrics",
                raw.metrics_host.as_deref().unwrap_or("0.0.0.0"),
                port,
            )?),
            (None, None) => None,
        };
        let election_timeout = a.election_timeout.unwrap_or(250);
        // openraft needs a heartbeat shorter than the timeout, and not 0.
        if election_timeout < 5 {
            return Err(ConfigError(format!(
                "electionTimeout {election_timeout}: expected at least 5 ms (heartbeats go every fifth of it)"
            )));
        }
        let config = Config {
            client_addr,
            data_dir,
            tick_time,
            min_session_timeout: a.min_session_timeout.unwrap_or(2 * tick_time),
            max_session_timeout: a.max_session_timeout.unwrap_or(20 * tick_time),
            max_client_cnxns: a.max_client_cnxns.unwrap_or(60),
            four_letter_words: a
                .four_letter_words
                .as_deref()
                // ZooKeeper's own default, which the image keeps.
                .unwrap_or(if args.zoo_env {
                    "srvr"
                } else {
                    DEFAULT_FOUR_LETTER_WORDS
                })
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect(),
            max_buffer: a.max_buffer.unwrap_or(jute::DEFAULT_MAX_FRAME),
            limits: {
                let global = a.global_outstanding_limit.unwrap_or(1000).max(1);
                let conn_unsent_bytes = a.conn_unsent_bytes.unwrap_or(4 << 20).max(1);
                let max_buffer = a.max_buffer.unwrap_or(jute::DEFAULT_MAX_FRAME);
                Limits {
                    global_outstanding: global,
                    conn_outstanding: a.conn_outstanding_limit.unwrap_or(global / 4).max(1),
                    conn_unsent_bytes,
                    // Never below what a reader that keeps up can have queued:
                    // its unsent replies under the throttle plus one more reply.
                    conn_max_queued_bytes: a
                        .conn_max_queued_bytes
                        .unwrap_or(32 << 20)
                        .max(conn_unsent_bytes + max_buffer + 1024),
                    handshake_timeout: std::time::Duration::from_millis(
                        a.handshake_timeout.unwrap_or(10_000).max(1),
                    ),
                    max_handshaking: a.max_handshaking.unwrap_or(1000).max(1),
                }
            },
            force_sync: yes_no("forceSync", a.force_sync.as_deref(), true)?,
            super_digest: a.super_digest.clone(),
            snap_count: a.snap_count.unwrap_or(100_000),
            ttl_nodes: yes_no("extendedTypesEnabled", a.ttl_nodes.as_deref(), true)?,
            read_only_mode: yes_no("readonlymode.enabled", a.read_only_mode.as_deref(), false)?,
            reconfig: yes_no("reconfigEnabled", a.reconfig.as_deref(), false)?,
            admin_addr,
            metrics_addr,
            snap_retain_count: a.snap_retain_count.unwrap_or(3),
            purge_interval: a.purge_interval.unwrap_or(0),
            init_limit: raw.init_limit,
            sync_limit: raw.sync_limit,
            election_timeout,
            cluster,
        };
        if let Some((at, dir)) = raw.data_log_dir {
            let kind = if dir == config.data_dir {
                NoteKind::Harmless("same as dataDir")
            } else {
                NoteKind::Ignored("Corral keeps its log in dataDir")
            };
            notes.push(Note {
                at,
                key: "dataLogDir".into(),
                kind,
            });
        }
        if config.min_session_timeout > config.max_session_timeout {
            return Err(ConfigError(format!(
                "minSessionTimeout {} is above maxSessionTimeout {}",
                config.min_session_timeout, config.max_session_timeout
            )));
        }
        Ok((config, notes))
    }

    /// The settings in force, as `conf` prints them: ZooKeeper's keys
    /// first (same names and order as ZooKeeper 3.8's `conf`), then the
    /// zoo.cfg keys Corral honours beyond those.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let data_dir = self.data_dir.display().to_string();
        let dir_size = dir_size(&self.data_dir).to_string();
        let opt = |a: Option<SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
        let mut words: Vec<&str> = self.four_letter_words.iter().map(String::as_str).collect();
        words.sort_unstable();
        vec![
            ("clientPort", self.client_addr.port().to_string()),
            ("secureClientPort", "-1".into()),
            ("dataDir", data_dir.clone()),
            ("dataDirSize", dir_size.clone()),
            // One directory holds both the log and the snapshots.
            ("dataLogDir", data_dir),
            ("dataLogSize", dir_size),
            ("tickTime", self.tick_time.to_string()),
            ("maxClientCnxns", self.max_client_cnxns.to_string()),
            ("minSessionTimeout", self.min_session_timeout.to_string()),
            ("maxSessionTimeout", self.max_session_timeout.to_string()),
            ("clientPortListenBacklog", "-1".into()),
            // ZooKeeper shows 0 when it runs standalone (no server lines, or
            // one), and the id in a cluster.
            (
                "serverId",
                if self.cluster.is_single() {
                    "0".into()
                } else {
                    self.cluster.my_id.to_string()
                },
            ),
            ("clientPortAddress", self.client_addr.ip().to_string()),
            ("4lw.commands.whitelist", words.join(",")),
            ("jute.maxbuffer", self.max_buffer.to_string()),
            (
                "forceSync",
                if self.force_sync { "yes" } else { "no" }.into(),
            ),
            ("snapCount", self.snap_count.to_string()),
            ("extendedTypesEnabled", self.ttl_nodes.to_string()),
            ("readonlymode.enabled", self.read_only_mode.to_string()),
            ("reconfigEnabled", self.reconfig.to_string()),
            (
                "autopurge.snapRetainCount",
                self.snap_retain_count.to_string(),
            ),
            ("autopurge.purgeInterval", self.purge_interval.to_string()),
            ("admin.enableServer", self.admin_addr.is_some().to_string()),
            (
                "admin.serverAddress",
                self.admin_addr
                    .map_or_else(String::new, |a| a.ip().to_string()),
            ),
            (
                "admin.serverPort",
                self.admin_addr
                    .map_or_else(String::new, |a| a.port().to_string()),
            ),
            ("metricsProvider.httpAddress", opt(self.metrics_addr)),
        ]
    }

    /// How long a follower may go without hearing from its leader before it
    /// stops serving clients: syncLimit ticks, as in ZooKeeper, but never
    /// more than a third of the shortest session timeout. A cut-off node that
    /// kept answering pings longer would let a client believe in a session
    /// (and the ephemeral lock it holds) that the majority has expired: the
    /// client needs the rest of its timeout to notice and move.
    pub fn peer_timeout(&self) -> Duration {
        let ticks = u64::from(self.sync_limit.unwrap_or(DEFAULT_SYNC_LIMIT));
        let sync = ticks.saturating_mul(self.tick_time);
        Duration::from_millis(sync.min(self.min_session_timeout / 3).max(1))
    }

    /// Whether a four-letter word may run.
    pub fn allows(&self, word: &str) -> bool {
        self.four_letter_words.contains("*") || self.four_letter_words.contains(word)
    }

    /// Clamp a requested session timeout into [min, max], as ZooKeeper does.
    pub fn negotiate_timeout(&self, requested: i32) -> i32 {
        let requested = u64::try_from(requested).unwrap_or(0);
        let t = requested.clamp(self.min_session_timeout, self.max_session_timeout);
        i32::try_from(t).unwrap_or(i32::MAX)
    }
}

/// Where this node's server line says it serves clients.
struct LineClient {
    at: String,
    key: String,
    addr: SocketAddr,
}

/// The members (from --peer, else the file's server lines) and this
/// node's id; also this node's client address from its line, if any.
fn cluster(
    flags: &ServeArgs,
    data_dir: &Path,
    file_lines: Vec<MemberSpec>,
    listen_all: bool,
    resolve_wait: Duration,
    notes: &mut Vec<Note>,
) -> Result<(Cluster, Option<LineClient>), ConfigError> {
    let specs = if flags.peers.is_empty() {
        for s in &file_lines {
            notes.push(Note {
                at: s.at.clone(),
                key: s.key.clone(),
                kind: NoteKind::Harmless(
                    "the election port is ignored: Corral uses the first port for raft and forwarded requests",
                ),
            });
        }
        file_lines
    } else {
        for s in &file_lines {
            notes.push(Note {
                at: s.at.clone(),
                key: s.key.clone(),
                kind: NoteKind::Harmless("replaced by --peer"),
            });
        }
        flags
            .peers
            .iter()
            .map(|p| {
                let (id, value) = p.split_once('=').ok_or_else(|| {
                    ConfigError(format!(
                        "--peer {p}: expected N=HOST:PORT[:observer][;[CLIENTHOST:]CLIENTPORT]"
                    ))
                })?;
                parse_member("--peer", id, value, false)
            })
            .collect::<Result<Vec<_>, _>>()?
    };

    // The flag wins over myid; a myid that disagrees is worth a warning,
    // since the data dir may belong to another member.
    let myid_path = data_dir.join("myid");
    let my_id = match (flags.node_id, read_myid(&myid_path)) {
        (Some(id), _) if !IDS.contains(&id) => {
            return Err(ConfigError(format!(
                "--node-id {id} is out of range: ids are 1 to 255"
            )));
        }
        (Some(id), Ok(None)) => Some(id),
        (Some(id), Ok(Some(file))) if file == id => Some(id),
        (Some(id), _) => {
            notes.push(Note {
                at: myid_path.display().to_string(),
                key: "myid".into(),
                kind: NoteKind::Ignored("--node-id wins over the myid file"),
            });
            Some(id)
        }
        (None, file) => file?,
    };
    if specs.is_empty() {
        return Ok((Cluster::single(my_id.unwrap_or(1)), None));
    }

    let mut members = BTreeMap::new();
    let mut places: BTreeMap<u64, String> = BTreeMap::new();
    for s in &specs {
        if let Some(first) = places.insert(s.id, s.place.clone()) {
            return Err(ConfigError(format!(
                "server id {} is given twice: {first} and {}",
                s.id, s.place
            )));
        }
    }
    let mut by_peer: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (s, (peer_addr, client_addr)) in specs.iter().zip(resolve_all(&specs, resolve_wait)?) {
        if let Some(first) = by_peer.insert(peer_addr, s.place.clone()) {
            return Err(ConfigError(format!(
                "{first} and {} have the same peer address {peer_addr}",
                s.place
            )));
        }
        let host = s
            .host
            .parse::<std::net::IpAddr>()
            .is_err()
            .then(|| s.host.clone());
        members.insert(
            s.id,
            Member {
                peer_addr,
                client_addr,
                observer: s.observer,
                spec: s.spec(),
                host,
            },
        );
    }
    if members.values().all(|m| m.observer) {
        return Err(ConfigError(
            "every member is an observer: at least one must be a participant (a voter)".into(),
        ));
    }
    let my_id = match (my_id, &specs[..]) {
        (Some(id), _) => id,
        // A lone line names this node: ZooKeeper runs it standalone, no
        // myid needed.
        (None, [only]) => only.id,
        (None, _) => {
            return Err(ConfigError(format!(
                "{} cluster members are configured, but not which one this node is: \
                 write its id to {} (as ZooKeeper expects) or pass --node-id",
                members.len(),
                myid_path.display()
            )));
        }
    };
    let Some(me) = members.get(&my_id) else {
        let ids: Vec<String> = members.keys().map(u64::to_string).collect();
        let from = if flags.node_id.is_some() {
            "--node-id".to_string()
        } else {
            myid_path.display().to_string()
        };
        return Err(ConfigError(format!(
            "this node's id is {my_id} (from {from}), but the members are {}",
            ids.join(", ")
        )));
    };
    let my_client = me.client_addr.and_then(|addr| {
        let s = specs.iter().find(|s| s.id == my_id)?;
        Some(LineClient {
            at: s.at.clone(),
            key: s.key.clone(),
            addr,
        })
    });
    // As ZooKeeper's quorumListenOnAllIPs: listen for peers on every
    // address. Calls then leave from whichever address the route picks,
    // which is what peers resolve this node's name to on a plain network.
    if listen_all && let Some(me) = members.get_mut(&my_id) {
        let any = if me.peer_addr.is_ipv4() {
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        me.peer_addr.set_ip(any);
    }
    Ok((Cluster { my_id, members }, my_client))
}

/// Bytes under a directory (ZooKeeper's dataDirSize), 0 if unreadable.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn yes_no(key: &str, value: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("yes" | "true" | "on") => Ok(true),
        Some("no" | "false" | "off") => Ok(false),
        Some(other) => Err(ConfigError(format!("{key}={other}: expected yes or no"))),
    }
}

/// Flags replace what the file said.
fn overlay(base: &mut ServeArgs, flags: &ServeArgs) {
    macro_rules! take {
        ($($f:ident),*) => { $( if flags.$f.is_some() { base.$f = flags.$f.clone(); } )* };
    }
    take!(
        client_addr,
        data_dir,
        tick_time,
        min_session_timeout,
        max_session_timeout,
        max_client_cnxns,
        four_letter_words,
        max_buffer,
        global_outstanding_limit,
        conn_outstanding_limit,
        conn_unsent_bytes,
        conn_max_queued_bytes,
        handshake_timeout,
        max_handshaking,
        force_sync,
        super_digest,
        snap_count,
        ttl_nodes,
        read_only_mode,
        reconfig,
        admin_server,
        admin_addr,
        metrics_addr,
        snap_retain_count,
        purge_interval,
        election_timeout,
        resolve_timeout
    );
}

/// Standard keys with nothing to do in Corral, and why.
const HARMLESS_KEYS: &[(&str, &str)] = &[
    (
        "standaloneEnabled",
        "a single node is a one-member cluster either way",
    ),
    ("electionAlg", "Corral elects leaders with raft"),
    ("preAllocSize", "Corral's log does not preallocate"),
    ("admin.idleTimeout", "not configurable in Corral"),
    (
        "metricsProvider.className",
        "Corral always provides Prometheus metrics",
    ),
    ("metricsProvider.exportJvmInfo", "there is no JVM"),
];

fn read_file(path: &Path, raw: &mut Raw, notes: &mut Vec<Note>) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    parse_cfg(&path.display().to_string(), &text, raw, notes)
}

/// zoo.cfg text; `name` (a path) is where notes and errors point.
fn parse_cfg(
    name: &str,
    text: &str,
    raw: &mut Raw,
    notes: &mut Vec<Note>,
) -> Result<(), ConfigError> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{name}:{}", n + 1);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError(format!(
                "{}: expected key=value, got {line:?}",
                at()
            )));
        };
        let (key, value) = (key.trim(), value.trim().to_string());
        let num = |v: &str| -> Result<u64, ConfigError> {
            v.parse()
                .map_err(|_| ConfigError(format!("{}: {key}={v}: not a number", at())))
        };
        let port = |v: &str| -> Result<u16, ConfigError> {
            v.parse()
                .map_err(|_| ConfigError(format!("{}: {key}={v}: not a port", at())))
        };
        let ticks = |v: &str| -> Result<u32, ConfigError> {
            match v.parse::<u32>() {
                Ok(t) if t > 0 => Ok(t),
                _ => Err(ConfigError(format!(
                    "{}: {key}={v}: expected a positive number of ticks",
                    at()
                ))),
            }
        };
        let mut note = |kind| {
            notes.push(Note {
                at: at(),
                key: key.to_string(),
                kind,
            })
        };
        let a = &mut raw.args;
        match key {
            "tickTime" => a.tick_time = Some(num(&value)?),
            "dataDir" => a.data_dir = Some(PathBuf::from(value)),
            "clientPort" => {
                raw.client_port = Some(value.parse().map_err(|_| {
                    ConfigError(format!("{}: clientPort={value}: not a port", at()))
                })?)
            }
            "clientPortAddress" => raw.client_host = Some(value),
            "minSessionTimeout" => a.min_session_timeout = Some(num(&value)?),
            "maxSessionTimeout" => a.max_session_timeout = Some(num(&value)?),
            "maxClientCnxns" => a.max_client_cnxns = Some(num(&value)? as usize),
            "4lw.commands.whitelist" => a.four_letter_words = Some(value),
            "jute.maxbuffer" => a.max_buffer = Some(num(&value)? as usize),
            "globalOutstandingLimit" | "zookeeper.globalOutstandingLimit" => {
                a.global_outstanding_limit = Some(num(&value)? as usize)
            }
            "zookeeper.nio.sessionlessCnxnTimeout" => a.handshake_timeout = Some(num(&value)?),
            "zookeeper.netty.server.outstandingHandshake.limit" => {
                a.max_handshaking = Some(num(&value)? as usize)
            }
            "forceSync" => {
                yes_no(key, Some(&value), true)?;
                a.force_sync = Some(value);
            }
            "superDigest" | "DigestAuthenticationProvider.superDigest" => {
                a.super_digest = Some(value)
            }
            "snapCount" => a.snap_count = Some(num(&value)?),
            "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                yes_no(key, Some(&value), true)?;
                a.ttl_nodes = Some(value);
            }
            "readonlymode.enabled" => {
                yes_no(key, Some(&value), false)?;
                a.read_only_mode = Some(value);
            }
            "admin.enableServer" => {
                yes_no(key, Some(&value), true)?;
                a.admin_server = Some(value);
            }
            "admin.serverAddress" => raw.admin_host = Some(value),
            "admin.serverPort" => raw.admin_port = Some(port(&value)?),
            "metricsProvider.httpHost" => raw.metrics_host = Some(value),
            "metricsProvider.httpPort" => raw.metrics_port = Some(port(&value)?),
            "autopurge.snapRetainCount" => a.snap_retain_count = Some(num(&value)?),
            "autopurge.purgeInterval" => a.purge_interval = Some(num(&value)?),
            "initLimit" => raw.init_limit = Some(ticks(&value)?),
            "syncLimit" => raw.sync_limit = Some(ticks(&value)?),
            "corral.electionTimeout" => a.election_timeout = Some(num(&value)?),
            "corral.resolveTimeout" => a.resolve_timeout = Some(num(&value)?),
            "dataLogDir" => raw.data_log_dir = Some((at(), PathBuf::from(value))),
            "reconfigEnabled" => {
                yes_no(key, Some(&value), false)?;
                a.reconfig = Some(value);
            }
            "admin.commandURL" => note(if value == "/commands" {
                NoteKind::Harmless("the default")
            } else {
                NoteKind::Ignored("the admin commands are always under /commands")
            }),
            k if k.starts_with("server.") => {
                let id = &k["server.".len()..];
                raw.servers.push(parse_member(&at(), id, &value, true)?);
            }
            // The members would be in that other file: running without them
            // would start a lone node beside the cluster.
            "dynamicConfigFile" => {
                return Err(ConfigError(format!(
                    "{}: dynamicConfigFile is not supported: put the server.N lines in this file",
                    at()
                )));
            }
            "peerType" => match value.to_ascii_lowercase().as_str() {
                // ZooKeeper too goes by the server lines when they disagree.
                "participant" | "observer" => note(NoteKind::Harmless(
                    "a member's role comes from its server.N line, as in ZooKeeper",
                )),
                _ => {
                    return Err(ConfigError(format!(
                        "{}: peerType={value}: expected participant or observer",
                        at()
                    )));
                }
            },
            "leaderServes" => note(if yes_no(key, Some(&value), true)? {
                NoteKind::Harmless("the leader serves clients, as in Corral")
            } else {
                NoteKind::Ignored("the leader always serves clients")
            }),
            "quorumListenOnAllIPs" => {
                raw.listen_all = yes_no(key, Some(&value), false)?;
                note(NoteKind::Harmless(if raw.listen_all {
                    "this node listens for peers on every address, and calls them from any"
                } else {
                    "the default"
                }));
            }
            k if k.starts_with("group.") || k.starts_with("weight.") => note(NoteKind::Ignored(
                "hierarchical quorums are not supported: every member has one vote",
            )),
            k => match HARMLESS_KEYS.iter().find(|(h, _)| *h == k) {
                Some((_, why)) => note(NoteKind::Harmless(why)),
                None => note(NoteKind::Unknown),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_file(text: &str, flags: ServeArgs) -> Result<(Config, Vec<Note>), ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoo.cfg");
        std::fs::write(&path, text).unwrap();
        Config::load(&ServeArgs {
            config: Some(path),
            ..flags
        })
    }

    #[test]
    fn defaults_are_zookeepers() {
        let (c, w) = Config::load(&ServeArgs::default()).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.client_addr, "127.0.0.1:2181".parse().unwrap());
        assert_eq!(
            (c.min_session_timeout, c.max_session_timeout),
            (4000, 40000)
        );
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.max_buffer, 1_048_575);
        assert!(c.force_sync && c.ttl_nodes);
        assert!(c.allows("ruok") && !c.allows("crst"));
        assert_eq!(c.negotiate_timeout(100), 4000);
        assert_eq!(c.negotiate_timeout(10_000), 10_000);
        assert_eq!(c.negotiate_timeout(1_000_000), 40_000);
    }

    #[test]
    fn file_then_flags() {
        let text = "# comment\ntickTime=1000\nclientPort=2999\nclientPortAddress=0.0.0.0\ndataDir=/tmp/x\n\
                    maxClientCnxns=0\n4lw.commands.whitelist=*\ninitLimit=5\nbogus=1\nforceSync=no\n";
        let (c, w) = load_file(
            text,
            ServeArgs {
                data_dir: Some("/tmp/flag".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.client_addr, "0.0.0.0:2999".parse().unwrap());
        assert_eq!(
            (c.tick_time, c.min_session_timeout, c.max_session_timeout),
            (1000, 2000, 20000)
        );
        assert_eq!(c.data_dir, PathBuf::from("/tmp/flag"));
        assert_eq!(c.max_client_cnxns, 0);
        assert!(c.allows("crst"));
        assert!(!c.force_sync);
        assert_eq!(c.init_limit, Some(5));
        let warnings: Vec<&Note> = w.iter().filter(|n| n.is_warning()).collect();
        assert_eq!(warnings.len(), 1, "{w:?}");
        assert_eq!(warnings[0].key, "bogus");
        assert_eq!(warnings[0].kind, NoteKind::Unknown);
        assert!(warnings[0].at.ends_with("zoo.cfg:9"), "{w:?}");
    }

    /// ZooKeeper's conf/zoo_sample.cfg, what Debian ships as
    /// /etc/zookeeper/conf_example/zoo.cfg, with its optional lines enabled.
    #[test]
    fn a_stock_zoo_cfg_has_nothing_to_warn_about() {
        let text = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zookeeper\nclientPort=2181\n\
                    maxClientCnxns=60\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n\
                    metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
                    metricsProvider.httpHost=0.0.0.0\nmetricsProvider.httpPort=7000\n\
                    metricsProvider.exportJvmInfo=true\nstandaloneEnabled=true\nreconfigEnabled=false\n\
                    dataLogDir=/tmp/zookeeper\nadmin.commandURL=/commands\n";
        let (c, notes) = load_file(text, ServeArgs::default()).unwrap();
        assert!(notes.iter().all(|n| !n.is_warning()), "{notes:?}");
        assert_eq!((c.init_limit, c.sync_limit), (Some(10), Some(5)));
        assert_eq!(c.metrics_addr, Some("0.0.0.0:7000".parse().unwrap()));
    }

    /// A data dir, with a myid file if given.
    fn data_dir(myid: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(id) = myid {
            std::fs::write(dir.path().join("myid"), id).unwrap();
        }
        dir
    }

    /// zoo.cfg text with dataDir first.
    fn with_dir(dir: &tempfile::TempDir, lines: &str) -> String {
        format!("dataDir={}\n{lines}", dir.path().display())
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A member without its spec, which tests check on their own.
    fn bare(m: &Member) -> Member {
        Member {
            spec: String::new(),
            ..m.clone()
        }
    }

    fn bare_all(ms: &BTreeMap<u64, Member>) -> BTreeMap<u64, Member> {
        ms.iter().map(|(id, m)| (*id, bare(m))).collect()
    }

    fn member(peer: &str, client: Option<&str>) -> Member {
        Member {
            peer_addr: addr(peer),
            client_addr: client.map(addr),
            observer: false,
            spec: String::new(),
            host: None,
        }
    }

    const THREE: &str = "server.1=127.0.0.11:2888:3888\nserver.2=127.0.0.12:2888:3888:participant\n\
                         server.3=127.0.0.13:2888:3888\n";

    #[test]
    fn a_three_member_cluster_from_zoo_cfg_and_myid() {
        let dir = data_dir(Some("2\n"));
        let text = with_dir(&dir, &format!("tickTime=1000\nsyncLimit=3\n{THREE}"));
        let (c, notes) = load_file(&text, ServeArgs::default()).unwrap();
        assert_eq!(c.cluster.my_id, 2);
        assert!(!c.cluster.is_single());
        assert_eq!(
            bare_all(&c.cluster.members),
            BTreeMap::from([
                (1, member("127.0.0.11:2888", None)),
                (2, member("127.0.0.12:2888", None)),
                (3, member("127.0.0.13:2888", None)),
            ])
        );
        // No client part and no clientPort: the usual default.
        assert_eq!(c.client_addr, addr("127.0.0.1:2181"));
        // syncLimit × tickTime is 3 s, but a third of the 2 s minimum session
        // timeout is shorter: a cut-off node stops serving within that.
        assert_eq!(c.peer_timeout(), Duration::from_millis(666));
        assert_eq!(c.election_timeout, 250);
        let server_id = c.effective().into_iter().find(|(k, _)| *k == "serverId");
        assert_eq!(server_id, Some(("serverId", "2".to_string())));
        // The election port is worth a debug line, not a warning.
        assert!(notes.iter().all(|n| !n.is_warning()), "{notes:?}");
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.key.starts_with("server."))
                .count(),
            3
        );
    }

    #[test]
    fn a_single_node_is_a_one_member_cluster() {
        let (c, _) = Config::load(&ServeArgs::default()).unwrap();
        assert_eq!(c.cluster, Cluster::single(1));
        assert_eq!(c.cluster, Cluster::default());
        assert!(c.cluster.is_single());
        assert_eq!(c.cluster.members[&1].peer_addr, addr("127.0.0.1:2888"));
        assert_eq!(c.peer_timeout(), Duration::from_millis(4000 / 3));
        // myid names a single node too; --node-id wins over it, with a warning.
        let dir = data_dir(Some("7"));
        let (c, _) = load_file(&with_dir(&dir, ""), ServeArgs::default()).unwrap();
        assert_eq!(c.cluster, Cluster::single(7));
        let flags = ServeArgs {
            node_id: Some(4),
            ..Default::default()
        };
        let (c, notes) = load_file(&with_dir(&dir, ""), flags).unwrap();
        assert_eq!(c.cluster, Cluster::single(4));
        assert!(
            notes.iter().any(|n| n.key == "myid" && n.is_warning()),
            "{notes:?}"
        );
        // One server line needs no myid: it is this node, as in ZooKeeper.
        let dir = data_dir(None);
        let text = with_dir(&dir, "server.3=127.0.0.1:2888:3888;2181\n");
        let (c, _) = load_file(&text, ServeArgs::default()).unwrap();
        assert_eq!(c.cluster.my_id, 3);
        assert!(c.cluster.is_single());
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        let server_id = c.effective().into_iter().find(|(k, _)| *k == "serverId");
        assert_eq!(server_id, Some(("serverId", "0".to_string())));
    }

    #[test]
    fn ids_out_of_range_are_errors() {
        let dir = data_dir(Some("1"));
        for line in [
            "server.0=127.0.0.1:2888:3888",
            "server.256=127.0.0.1:2888:3888",
            "server.-1=127.0.0.1:2888:3888",
        ] {
            let e = load_file(&with_dir(&dir, line), ServeArgs::default()).unwrap_err();
            assert!(
                e.0.contains("out of range") || e.0.contains("not a number"),
                "{e}"
            );
            assert!(e.0.contains("zoo.cfg:2"), "{e}");
        }
        let e = load_file(
            &with_dir(&dir, "server.x=127.0.0.1:2888:3888"),
            ServeArgs::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("\"x\" is not a number"), "{e}");
        // 255 is the top of the range.
        let text = with_dir(
            &dir,
            "server.1=127.0.0.1:2888:3888\nserver.255=127.0.0.2:2888:3888",
        );
        assert!(load_file(&text, ServeArgs::default()).is_ok());
        let flags = ServeArgs {
            node_id: Some(0),
            ..Default::default()
        };
        let e = load_file(&with_dir(&dir, THREE), flags).unwrap_err();
        assert!(e.0.contains("--node-id 0 is out of range"), "{e}");
        let dir = data_dir(Some("300"));
        let e = load_file(&with_dir(&dir, THREE), ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("myid") && e.0.contains("out of range"), "{e}");
    }

    #[test]
    fn duplicate_ids_are_errors() {
        let dir = data_dir(Some("1"));
        let text = with_dir(
            &dir,
            "server.1=127.0.0.11:2888:3888\nserver.2=127.0.0.12:2888:3888\nserver.1=127.0.0.13:2888:3888\n",
        );
        let e = load_file(&text, ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("server id 1 is given twice"), "{e}");
        assert!(
            e.0.contains("zoo.cfg:2") && e.0.contains("zoo.cfg:4"),
            "{e}"
        );
        let flags = ServeArgs {
            peers: vec!["1=127.0.0.1:9001".into(), "1=127.0.0.1:9002".into()],
            ..Default::default()
        };
        let e = load_file(&with_dir(&dir, ""), flags).unwrap_err();
        assert!(e.0.contains("given twice"), "{e}");
    }

    #[test]
    fn duplicate_peer_addresses_are_errors() {
        let dir = data_dir(Some("1"));
        // Equal once resolved: localhost is 127.0.0.1.
        let text = with_dir(
            &dir,
            "server.1=127.0.0.1:2888:3888\nserver.2=localhost:2888:3889\n",
        );
        let e = load_file(&text, ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("same peer address 127.0.0.1:2888"), "{e}");
        assert!(e.0.contains("server.1") && e.0.contains("server.2"), "{e}");
    }

    #[test]
    fn observers_from_server_lines_and_peers() {
        let dir = data_dir(Some("4"));
        let text = with_dir(
            &dir,
            &format!("{THREE}server.4=127.0.0.14:2888:3888:observer;2181\n"),
        );
        let (c, _) = load_file(&text, ServeArgs::default()).unwrap();
        assert!(c.cluster.observing());
        assert_eq!(c.cluster.voters().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(!c.cluster.members[&2].observer, "`:participant` is a voter");
        // As /zookeeper/config shows a member, less its role.
        assert_eq!(
            c.cluster.members[&4].spec,
            "127.0.0.14:2888:3888;0.0.0.0:2181"
        );
        assert_eq!(c.cluster.members[&1].spec, "127.0.0.11:2888:3888");
        // Any case, as ZooKeeper reads the type; peerType defers to the lines.
        let text = with_dir(
            &dir,
            &format!("{THREE}server.4=127.0.0.14:2888:3888:Observer\npeerType=participant\n"),
        );
        let (c, _) = load_file(&text, ServeArgs::default()).unwrap();
        assert!(c.cluster.observing());
        let flags = ServeArgs {
            node_id: Some(1),
            peers: vec![
                "1=127.0.0.11:2888".into(),
                "2=127.0.0.12:2888:observer;2181".into(),
            ],
            ..ServeArgs::default()
        };
        let (c, _) = Config::load(&flags).unwrap();
        assert!(!c.cluster.observing());
        assert!(c.cluster.members[&2].observer);
        assert_eq!(
            c.cluster.members[&2].client_addr,
            Some(addr("0.0.0.0:2181"))
        );
        // Somebody has to vote.
        let text = with_dir(&dir, "server.4=127.0.0.1:2888:3888:observer\n");
        let e = load_file(&text, ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("at least one must be a participant"), "{e}");
        let text = with_dir(&dir, "server.1=127.0.0.1:2888:3888:voter\n");
        let e = load_file(&text, ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("unknown member type"), "{e}");
    }

    #[test]
    fn several_members_need_to_know_which_is_this_node() {
        let dir = data_dir(None);
        let e = load_file(&with_dir(&dir, THREE), ServeArgs::default()).unwrap_err();
        let myid = dir.path().join("myid");
        assert!(e.0.contains(&myid.display().to_string()), "{e}");
        assert!(e.0.contains("--node-id"), "{e}");
        // The flag does instead.
        let flags = ServeArgs {
            node_id: Some(3),
            ..Default::default()
        };
        let (c, _) = load_file(&with_dir(&dir, THREE), flags).unwrap();
        assert_eq!(c.cluster.my_id, 3);
    }

    #[test]
    fn an_id_that_is_not_a_member_is_an_error() {
        let dir = data_dir(Some("4"));
        let e = load_file(&with_dir(&dir, THREE), ServeArgs::default()).unwrap_err();
        assert!(
            e.0.contains("id is 4") && e.0.contains("members are 1, 2, 3"),
            "{e}"
        );
        assert!(e.0.contains("myid"), "{e}");
        let flags = ServeArgs {
            node_id: Some(9),
            ..Default::default()
        };
        let e = load_file(&with_dir(&dir, THREE), flags).unwrap_err();
        assert!(e.0.contains("id is 9 (from --node-id)"), "{e}");
        // Even a lone line must be this node when an id is given.
        let text = with_dir(&dir, "server.1=127.0.0.1:2888:3888\n");
        assert!(load_file(&text, ServeArgs::default()).is_err());
    }

    #[test]
    fn a_myid_that_is_not_a_number_is_an_error_naming_the_file() {
        let dir = data_dir(Some("two\n"));
        let e = load_file(&with_dir(&dir, THREE), ServeArgs::default()).unwrap_err();
        let myid = dir.path().join("myid");
        assert!(e.0.contains(&myid.display().to_string()), "{e}");
        assert!(e.0.contains("\"two\""), "{e}");
        // Whitespace around the number is fine.
        let dir = data_dir(Some("  3 \n"));
        let (c, _) = load_file(&with_dir(&dir, THREE), ServeArgs::default()).unwrap();
        assert_eq!(c.cluster.my_id, 3);
    }

    #[test]
    fn peer_flags_replace_the_server_lines() {
        let dir = data_dir(Some("1"));
        let flags = ServeArgs {
            node_id: Some(2),
            peers: vec![
                "1=127.0.0.1:9001".into(),
                "2=127.0.0.1:9002;127.0.0.1:2182".into(),
                "3=[::1]:9003;[::1]:2183".into(),
            ],
            ..Default::default()
        };
        let (c, notes) = load_file(&with_dir(&dir, THREE), flags).unwrap();
        assert_eq!(c.cluster.my_id, 2);
        assert_eq!(
            bare_all(&c.cluster.members),
            BTreeMap::from([
                (1, member("127.0.0.1:9001", None)),
                (2, member("127.0.0.1:9002", Some("127.0.0.1:2182"))),
                (3, member("[::1]:9003", Some("[::1]:2183"))),
            ])
        );
        // This node's client part is where it listens.
        assert_eq!(c.client_addr, addr("127.0.0.1:2182"));
        let replaced = notes
            .iter()
            .filter(|n| n.kind == NoteKind::Harmless("replaced by --peer"))
            .count();
        assert_eq!(replaced, 3, "{notes:?}");
        // The flag form has one port: the zoo.cfg form is an error there.
        for bad in [
            "1=127.0.0.1:9001:9002",
            "127.0.0.1:9001",
            "1=127.0.0.1",
            "1=:9001",
        ] {
            let flags = ServeArgs {
                node_id: Some(1),
                peers: vec![bad.into()],
                ..Default::default()
            };
            let e = load_file(&with_dir(&dir, ""), flags).unwrap_err();
            assert!(e.0.contains("--peer"), "{e}");
        }
    }

    #[test]
    fn client_parts_of_server_lines() {
        // ;port binds every interface, as in ZooKeeper.
        let dir = data_dir(Some("1"));
        let text = with_dir(
            &dir,
            "server.1=127.0.0.11:2888:3888;2181\nserver.2=127.0.0.12:2888:3888:participant;127.0.0.12:2181\n\
             server.3=[::1]:2888:3888;[::1]:2181\n",
        );
        let (c, notes) = load_file(&text, ServeArgs::default()).unwrap();
        assert_eq!(
            bare_all(&c.cluster.members),
            BTreeMap::from([
                (1, member("127.0.0.11:2888", Some("0.0.0.0:2181"))),
                (2, member("127.0.0.12:2888", Some("127.0.0.12:2181"))),
                (3, member("[::1]:2888", Some("[::1]:2181"))),
            ])
        );
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        assert!(notes.iter().all(|n| !n.is_warning()), "{notes:?}");
        // host:port on this node's line.
        let dir = data_dir(Some("2"));
        let text2 = with_dir(
            &dir,
            "server.1=127.0.0.11:2888:3888;2181\nserver.2=127.0.0.12:2888:3888;127.0.0.11:2181\n",
        );
        let (c, _) = load_file(&text2, ServeArgs::default()).unwrap();
        assert_eq!(c.client_addr, addr("127.0.0.11:2181"));
        // clientPort and --client-addr win over the line, with a warning.
        let (c, notes) =
            load_file(&format!("{text2}clientPort=2999\n"), ServeArgs::default()).unwrap();
        assert_eq!(c.client_addr, addr("127.0.0.1:2999"));
        assert!(
            notes.iter().any(|n| n.key == "server.2" && n.is_warning()),
            "{notes:?}"
        );
        let flags = ServeArgs {
            client_addr: Some(addr("127.0.0.1:3000")),
            ..Default::default()
        };
        let (c, _) = load_file(&text2, flags).unwrap();
        assert_eq!(c.client_addr, addr("127.0.0.1:3000"));
        // An empty client part is none, as ZooKeeper splits it.
        let dir = data_dir(None);
        let text = with_dir(&dir, "server.1=127.0.0.1:2888:3888;\n");
        let (c, _) = load_file(&text, ServeArgs::default()).unwrap();
        assert_eq!(bare(&c.cluster.members[&1]), member("127.0.0.1:2888", None));
        // Malformed client parts.
        for line in [
            "server.1=127.0.0.1:2888:3888;a:b:2181",
            "server.1=127.0.0.1:2888:3888;2181;2182",
            "server.1=127.0.0.1:2888:3888;port",
            "server.1=127.0.0.1:2888:3888;:2181",
        ] {
            let dir = data_dir(None);
            assert!(
                load_file(&with_dir(&dir, line), ServeArgs::default()).is_err(),
                "{line}"
            );
        }
    }

    #[test]
    fn hostnames_are_resolved_at_load() {
        let dir = data_dir(Some("1"));
        let text = with_dir(
            &dir,
            "server.1=localhost:2888:3888;localhost:2181\nserver.2=127.0.0.2:2888:3888\n",
        );
        let (c, _) = load_file(&text, ServeArgs::default()).unwrap();
        // IPv4 first, as Java's InetAddress.getByName answers; the name is
        // kept for the transport to look up again.
        assert_eq!(
            bare(&c.cluster.members[&1]),
            Member {
                host: Some("localhost".into()),
                ..member("127.0.0.1:2888", Some("127.0.0.1:2181"))
            }
        );
        assert_eq!(c.cluster.members[&2].host, None);
        assert_eq!(c.client_addr, addr("127.0.0.1:2181"));
        let text = with_dir(
            &dir,
            "server.1=localhost:2888:3888\nserver.2=no-such-host.invalid:2888:3888\n",
        );
        let no_wait = || ServeArgs {
            resolve_timeout: Some(0),
            ..Default::default()
        };
        let e = load_file(&text, no_wait()).unwrap_err();
        assert!(e.0.contains("cannot resolve no-such-host.invalid"), "{e}");
        assert!(e.0.contains("server.2"), "{e}");
        // A name that does not resolve yet is waited for, up to the limit.
        let t0 = Instant::now();
        let e = load_file(
            &format!("{text}corral.resolveTimeout=2\n"),
            ServeArgs::default(),
        )
        .unwrap_err();
        assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(
            e.0.contains("cannot resolve no-such-host.invalid") && e.0.contains("waited 2 s"),
            "{e}"
        );
        // The flag wins over the file.
        let t0 = Instant::now();
        let e = load_file(&format!("{text}corral.resolveTimeout=30\n"), no_wait()).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10), "{e}");
    }

    #[test]
    fn a_name_that_resolves_later_is_waited_for() {
        // A peer container that starts later: its name resolves from the
        // third round on.
        let spec = |id: u64, host: &str| MemberSpec {
            at: "zoo.cfg:1".into(),
            key: format!("server.{id}"),
            place: format!("server.{id}={host}:2888:3888"),
            id,
            host: host.into(),
            port: 2888,
            election_port: 3888,
            client: Some((host.into(), 2181)),
            observer: false,
        };
        let specs = [spec(1, "zoo1"), spec(2, "zoo2")];
        let tries = std::cell::Cell::new(0);
        let dns = |place: &str, host: &str, port: u16| match host {
            "zoo1" => Ok(SocketAddr::from(([10, 0, 0, 1], port))),
            // Two lookups a round: the peer and the client address.
            _ if tries.replace(tries.get() + 1) >= 4 => Ok(SocketAddr::from(([10, 0, 0, 2], port))),
            _ => Err(ConfigError(format!(
                "{place}: cannot resolve {host}: not yet"
            ))),
        };
        let t0 = Instant::now();
        let found = resolve_all_with(&specs, Duration::from_secs(10), &dns).unwrap();
        assert_eq!(
            found,
            [
                (addr("10.0.0.1:2888"), Some(addr("10.0.0.1:2181"))),
                (addr("10.0.0.2:2888"), Some(addr("10.0.0.2:2181"))),
            ]
        );
        // Two rounds failed, a second apart.
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        // Never resolving: an error once the wait is over.
        let never = |place: &str, host: &str, _| {
            Err(ConfigError(format!("{place}: cannot resolve {host}: no")))
        };
        let e = resolve_all_with(&specs, Duration::from_millis(1500), &never).unwrap_err();
        assert!(
            e.0.contains("server.1=zoo1") && e.0.contains("waited 1 s"),
            "{e}"
        );
    }

    #[test]
    fn malformed_server_lines_are_errors() {
        let dir = data_dir(Some("1"));
        for (line, why) in [
            // ZooKeeper requires the election port, though Corral ignores it.
            ("server.1=127.0.0.1:2888", "wrong number"),
            ("server.1=127.0.0.1:2888:3888:participant:x", "wrong number"),
            ("server.1=127.0.0.1:2888:x", "electionPort"),
            ("server.1=127.0.0.1:99999:3888", "quorumPort"),
            ("server.1=127.0.0.1:0:3888", "peer port 0"),
            ("server.1=:2888:3888", "no host"),
            ("server.1=[::1:2888:3888", "no ']'"),
            (
                "server.1=127.0.0.1:2888:3888|127.0.0.2:2888:3888",
                "several addresses",
            ),
            (
                "dynamicConfigFile=/etc/zoo.cfg.dynamic",
                "dynamicConfigFile",
            ),
        ] {
            let e = load_file(&with_dir(&dir, line), ServeArgs::default()).unwrap_err();
            assert!(e.0.contains(why), "{line}: {e}");
            assert!(e.0.contains("zoo.cfg:2"), "{line}: {e}");
        }
    }

    #[test]
    fn election_timeout_from_file_and_flag() {
        let (c, _) = load_file("corral.electionTimeout=3000\n", ServeArgs::default()).unwrap();
        assert_eq!(c.election_timeout, 3000);
        let flags = ServeArgs {
            election_timeout: Some(500),
            ..Default::default()
        };
        let (c, _) = load_file("corral.electionTimeout=3000\n", flags).unwrap();
        assert_eq!(c.election_timeout, 500);
        let e = load_file("corral.electionTimeout=4\n", ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("at least 5"), "{e}");
    }

    #[test]
    fn keys_corral_cannot_honour_still_warn() {
        let text = "dataDir=/a\ndataLogDir=/b\nleaderServes=no\n\
                    admin.commandURL=/x\n";
        let (_, notes) = load_file(text, ServeArgs::default()).unwrap();
        let warned: Vec<&str> = notes
            .iter()
            .filter(|n| n.is_warning())
            .map(|n| n.key.as_str())
            .collect();
        assert_eq!(
            warned,
            ["leaderServes", "admin.commandURL", "dataLogDir"],
            "{notes:?}"
        );
        // A flag that moves dataDir onto dataLogDir makes it agree.
        let (_, notes) = load_file(
            "dataLogDir=/b\n",
            ServeArgs {
                data_dir: Some("/b".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(notes.iter().all(|n| !n.is_warning()), "{notes:?}");
    }

    #[test]
    fn malformed_values_are_errors() {
        let e = load_file("tickTime=fast\n", ServeArgs::default()).unwrap_err();
        assert!(e.0.contains("tickTime=fast"), "{e}");
        assert!(load_file("forceSync=maybe\n", ServeArgs::default()).is_err());
        assert!(load_file("just words\n", ServeArgs::default()).is_err());
        assert!(load_file("minSessionTimeout=50000\n", ServeArgs::default()).is_err());
        let e = load_file("initLimit=0\n", ServeArgs::default()).unwrap_err();
        assert!(
            e.0.contains("initLimit=0") && e.0.contains("positive"),
            "{e}"
        );
        assert!(load_file("syncLimit=-1\n", ServeArgs::default()).is_err());
        assert!(load_file("syncLimit=five\n", ServeArgs::default()).is_err());
    }
}
