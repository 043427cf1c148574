//! Settings: defaults, then a zoo.cfg-style file, then command-line flags.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

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
    /// Run a one-node server with its data in --data-dir.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
}

const SERVE_AFTER_HELP: &str = "\
Flags override the same setting in --config.
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
    /// None: the admin HTTP server is off.
    pub admin_addr: Option<SocketAddr>,
    /// Where /metrics is served on its own, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    pub snap_retain_count: u64,
    pub purge_interval: u64,
    /// zoo.cfg initLimit and syncLimit, in ticks. Kept for the cluster, where
    /// they bound a follower's initial sync and its silence; a single node
    /// has no followers, so nothing reads them yet.
    pub init_limit: Option<u32>,
    pub sync_limit: Option<u32>,
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
}

/// The read-only commands health checks use; the rest must be enabled.
pub const DEFAULT_FOUR_LETTER_WORDS: &str = "ruok,srvr,stat,mntr,conf,envi,dirs,isro,wchs,cons";

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
    /// `server.N` keys seen, with where.
    servers: Vec<String>,
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
        let mut raw = Raw::default();
        let mut notes = Vec::new();
        if let Some(path) = &args.config {
            read_file(path, &mut raw, &mut notes)?;
        }
        // Several members would each start as a lone node with a tree of its
        // own: clients spread over them would see different data. Refuse
        // until Corral forms clusters, rather than run that split brain.
        if raw.servers.len() > 1 {
            return Err(ConfigError(format!(
                "{} name {} cluster members, but Corral does not form clusters yet; \
                 refusing to start {} unconnected single nodes (keep one server line, \
                 or none, to run a single node)",
                raw.servers.join(", "),
                raw.servers.len(),
                raw.servers.len()
            )));
        }
        overlay(&mut raw.args, args);
        let a = &raw.args;
        let tick_time = a.tick_time.unwrap_or(2000);
        let client_addr = match a.client_addr {
            Some(addr) => addr,
            None => {
                let host = raw.client_host.as_deref().unwrap_or("127.0.0.1");
                let port = raw.client_port.unwrap_or(2181);
                format!("{host}:{port}")
                    .parse()
                    .map_err(|_| ConfigError(format!("bad client address {host}:{port}")))?
            }
        };
        let admin_addr = if yes_no("admin.enableServer", a.admin_server.as_deref(), true)? {
            Some(match a.admin_addr {
                Some(addr) => addr,
                None => join_addr(
                    "admin",
                    raw.admin_host.as_deref().unwrap_or("127.0.0.1"),
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
        let config = Config {
            client_addr,
            data_dir: a
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("corral-data")),
            tick_time,
            min_session_timeout: a.min_session_timeout.unwrap_or(2 * tick_time),
            max_session_timeout: a.max_session_timeout.unwrap_or(20 * tick_time),
            max_client_cnxns: a.max_client_cnxns.unwrap_or(60),
            four_letter_words: a
                .four_letter_words
                .as_deref()
                .unwrap_or(DEFAULT_FOUR_LETTER_WORDS)
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect(),
            max_buffer: a.max_buffer.unwrap_or(jute::DEFAULT_MAX_FRAME),
            limits: {
                let global = a.global_outstanding_limit.unwrap_or(1000).max(1);
                Limits {
                    global_outstanding: global,
                    conn_outstanding: a.conn_outstanding_limit.unwrap_or(global / 4).max(1),
                    conn_unsent_bytes: a.conn_unsent_bytes.unwrap_or(4 << 20).max(1),
                }
            },
            force_sync: yes_no("forceSync", a.force_sync.as_deref(), true)?,
            super_digest: a.super_digest.clone(),
            snap_count: a.snap_count.unwrap_or(100_000),
            ttl_nodes: yes_no("extendedTypesEnabled", a.ttl_nodes.as_deref(), true)?,
            admin_addr,
            metrics_addr,
            snap_retain_count: a.snap_retain_count.unwrap_or(3),
            purge_interval: a.purge_interval.unwrap_or(0),
            init_limit: raw.init_limit,
            sync_limit: raw.sync_limit,
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
            ("serverId", "0".into()),
            ("clientPortAddress", self.client_addr.ip().to_string()),
            ("4lw.commands.whitelist", words.join(",")),
            ("jute.maxbuffer", self.max_buffer.to_string()),
            (
                "forceSync",
                if self.force_sync { "yes" } else { "no" }.into(),
            ),
            ("snapCount", self.snap_count.to_string()),
            ("extendedTypesEnabled", self.ttl_nodes.to_string()),
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
        force_sync,
        super_digest,
        snap_count,
        ttl_nodes,
        admin_server,
        admin_addr,
        metrics_addr,
        snap_retain_count,
        purge_interval
    );
}

/// Standard keys with nothing to do on a single node, and why.
const HARMLESS_KEYS: &[(&str, &str)] = &[
    ("standaloneEnabled", "a single node runs standalone anyway"),
    ("leaderServes", "a cluster setting; this is a single node"),
    (
        "quorumListenOnAllIPs",
        "a cluster setting; this is a single node",
    ),
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
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
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
            "initLimit" => {
                raw.init_limit = Some(ticks(&value)?);
                note(NoteKind::Harmless("kept for clustering"));
            }
            "syncLimit" => {
                raw.sync_limit = Some(ticks(&value)?);
                note(NoteKind::Harmless("kept for clustering"));
            }
            "dataLogDir" => raw.data_log_dir = Some((at(), PathBuf::from(value))),
            "reconfigEnabled" => note(if yes_no(key, Some(&value), false)? {
                NoteKind::Ignored("reconfig is not supported; clients get ReconfigDisabled")
            } else {
                NoteKind::Harmless("reconfig is off, as in Corral")
            }),
            "admin.commandURL" => note(if value == "/commands" {
                NoteKind::Harmless("the default")
            } else {
                NoteKind::Ignored("the admin commands are always under /commands")
            }),
            k if k.starts_with("server.") => {
                raw.servers.push(format!("{} ({k})", at()));
                note(NoteKind::Ignored(
                    "clusters are not supported yet; running as a single node",
                ))
            }
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

    #[test]
    fn several_members_are_refused_rather_than_split() {
        let text = "dataDir=/a\nserver.1=127.0.0.11:2888:3888\nserver.2=127.0.0.12:2888:3888\n\
                    server.3=127.0.0.13:2888:3888\n";
        let err = load_file(text, ServeArgs::default()).unwrap_err();
        assert!(err.0.contains("3 unconnected single nodes"), "{err}");
        assert!(err.0.contains("(server.2)"), "{err}");
        // One member is a single node, as in ZooKeeper.
        assert!(load_file("server.1=127.0.0.1:2888:3888\n", ServeArgs::default()).is_ok());
    }

    #[test]
    fn keys_corral_cannot_honour_still_warn() {
        let text = "dataDir=/a\ndataLogDir=/b\nreconfigEnabled=true\nserver.1=h:2888:3888\n\
                    admin.commandURL=/x\n";
        let (_, notes) = load_file(text, ServeArgs::default()).unwrap();
        let warned: Vec<&str> = notes
            .iter()
            .filter(|n| n.is_warning())
            .map(|n| n.key.as_str())
            .collect();
        assert_eq!(
            warned,
            [
                "reconfigEnabled",
                "server.1",
                "admin.commandURL",
                "dataLogDir"
            ],
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
