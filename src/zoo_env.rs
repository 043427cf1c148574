//! The official `zookeeper` Docker image's environment (ZOO_MY_ID,
//! ZOO_SERVERS, ZOO_CFG_EXTRA, ...), read as that image's
//! docker-entrypoint.sh reads it, so a compose file written for
//! `zookeeper:3.9` runs Corral with only the image name changed. Corral's
//! image has no shell, so `corral serve --zoo-env` does the entrypoint's job:
//! - `$ZOO_CONF_DIR/zoo.cfg`, if it exists, is used as it is;
//! - otherwise one is written there from the variables, with the image's
//!   defaults for those unset (kept in memory if the directory is read-only);
//! - `$ZOO_DATA_DIR/myid` gets `$ZOO_MY_ID` (default 1) unless it exists.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::config::{CfgText, Config, ConfigError, Note, ServeArgs};

/// The image's defaults (the ENV lines of its Dockerfile).
const DEFAULTS: &[(&str, &str)] = &[
    ("ZOO_CONF_DIR", "/conf"),
    ("ZOO_DATA_DIR", "/data"),
    ("ZOO_DATA_LOG_DIR", "/datalog"),
    ("ZOO_TICK_TIME", "2000"),
    ("ZOO_INIT_LIMIT", "5"),
    ("ZOO_SYNC_LIMIT", "2"),
    ("ZOO_AUTOPURGE_PURGEINTERVAL", "0"),
    ("ZOO_AUTOPURGE_SNAPRETAINCOUNT", "3"),
    ("ZOO_MAX_CLIENT_CNXNS", "60"),
    ("ZOO_STANDALONE_ENABLED", "true"),
    ("ZOO_ADMINSERVER_ENABLED", "true"),
    ("ZOO_MY_ID", "1"),
    // The entrypoint's: a single node serving clients on 2181.
    ("ZOO_SERVERS", "server.1=localhost:2888:3888;2181"),
];

/// Reads one environment variable; None if unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable, else the image's default. Empty counts as unset: the
/// entrypoint would write `tickTime=`, which no server accepts.
fn var(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty()).or_else(|| {
        DEFAULTS
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

/// zoo.cfg as the entrypoint writes it: the same keys in the same order,
/// then the server lines, the 4lw whitelist if given, and ZOO_CFG_EXTRA;
/// ZOO_SERVERS and ZOO_CFG_EXTRA are split on whitespace, as the shell does.
pub fn zoo_cfg(env: Env) -> String {
    let get = |name: &str| var(env, name).unwrap_or_default();
    let mut out = String::from(
        "# Written by `corral serve --zoo-env` from the ZOO_* variables, as the zookeeper\n\
         # image's entrypoint does. Used as it is from now on: delete it to write it again.\n",
    );
    for (key, name) in [
        ("dataDir", "ZOO_DATA_DIR"),
        ("dataLogDir", "ZOO_DATA_LOG_DIR"),
        ("tickTime", "ZOO_TICK_TIME"),
        ("initLimit", "ZOO_INIT_LIMIT"),
        ("syncLimit", "ZOO_SYNC_LIMIT"),
        ("autopurge.snapRetainCount", "ZOO_AUTOPURGE_SNAPRETAINCOUNT"),
        ("autopurge.purgeInterval", "ZOO_AUTOPURGE_PURGEINTERVAL"),
        ("maxClientCnxns", "ZOO_MAX_CLIENT_CNXNS"),
        ("standaloneEnabled", "ZOO_STANDALONE_ENABLED"),
        ("admin.enableServer", "ZOO_ADMINSERVER_ENABLED"),
    ] {
        out.push_str(&format!("{key}={}\n", get(name)));
    }
    for server in get("ZOO_SERVERS").split_whitespace() {
        out.push_str(server);
        out.push('\n');
    }
    if let Some(words) = var(env, "ZOO_4LW_COMMANDS_WHITELIST") {
        out.push_str(&format!("4lw.commands.whitelist={words}\n"));
    }
    for extra in get("ZOO_CFG_EXTRA").split_whitespace() {
        out.push_str(extra);
        out.push('\n');
    }
    out
}

/// The configuration `--zoo-env` describes. Writes zoo.cfg and myid as the
/// entrypoint does; `args`' other flags still override the file.
pub fn load(args: &ServeArgs, env: Env) -> Result<(Config, Vec<Note>), ConfigError> {
    let conf_dir = PathBuf::from(var(env, "ZOO_CONF_DIR").unwrap_or_default());
    let path = conf_dir.join("zoo.cfg");
    let text = if path.is_file() {
        info!(path = %path.display(), "using the zoo.cfg found there; the ZOO_* variables other than ZOO_MY_ID are not read");
        None
    } else {
        let text = zoo_cfg(env);
        match write_new(&path, &text) {
            Ok(()) => {
                info!(path = %path.display(), "wrote zoo.cfg from the ZOO_* variables");
                None
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot write zoo.cfg; using it from memory");
                Some(CfgText {
                    name: format!("{} (not written)", path.display()),
                    text,
                })
            }
        }
    };
    let data_dir = PathBuf::from(var(env, "ZOO_DATA_DIR").unwrap_or_default());
    write_myid(&data_dir, var(env, "ZOO_MY_ID").unwrap_or_default().trim())?;
    let args = ServeArgs {
        config: Some(path),
        zoo_env: true,
        ..args.clone()
    };
    Config::load_with(&args, text.as_ref())
}

/// Writes a whole file or nothing, so a crash never leaves a half file
/// that later starts would use as it is.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("cfg.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `$ZOO_DATA_DIR/myid`, unless there is one: the id a data dir was first
/// given stays its id, as in the image.
fn write_myid(data_dir: &Path, id: &str) -> Result<(), ConfigError> {
    let path = data_dir.join("myid");
    if path.is_file() {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old.trim() != id {
            warn!(path = %path.display(), myid = %old.trim(), zoo_my_id = %id, "the data dir's myid is kept; ZOO_MY_ID is not used, as in the zookeeper image");
        }
        return Ok(());
    }
    // Checked before writing: a bad id written once would stay.
    match id.parse::<u64>() {
        Ok(n) if (1..=255).contains(&n) => {}
        _ => {
            return Err(ConfigError(format!(
                "ZOO_MY_ID={id}: expected this node's id, 1 to 255"
            )));
        }
    }
    std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(&path, format!("{id}\n")))
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))?;
    info!(path = %path.display(), id, "wrote myid from ZOO_MY_ID");
    Ok(())
}

#[cfg(test)]
mod config_tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use super::*;

    /// A conf dir and a data dir, and the variables that point at them.
    struct Image {
        conf: tempfile::TempDir,
        data: tempfile::TempDir,
        vars: BTreeMap<String, String>,
    }

    impl Image {
        fn new(vars: &[(&str, &str)]) -> Image {
            let conf = tempfile::tempdir().unwrap();
            let data = tempfile::tempdir().unwrap();
            let mut all: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            all.insert("ZOO_CONF_DIR".into(), conf.path().display().to_string());
            all.insert("ZOO_DATA_DIR".into(), data.path().display().to_string());
            Image {
                conf,
                data,
                vars: all,
            }
        }

        fn load(&self) -> Result<(Config, Vec<Note>), ConfigError> {
            load(&ServeArgs::default(), &|k| self.vars.get(k).cloned())
        }

        fn written(&self) -> String {
            std::fs::read_to_string(self.conf.path().join("zoo.cfg")).unwrap()
        }

        fn myid(&self) -> String {
            std::fs::read_to_string(self.data.path().join("myid")).unwrap()
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn no_variables_give_the_images_single_node() {
        let img = Image::new(&[]);
        let (c, notes) = img.load().unwrap();
        assert!(c.cluster.is_single());
        assert_eq!(c.cluster.my_id, 1);
        assert_eq!(img.myid(), "1\n");
        // `server.1=localhost:2888:3888;2181`: every interface, as ZooKeeper.
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        assert_eq!(c.admin_addr, Some(addr("0.0.0.0:8080")));
        assert_eq!(
            (c.tick_time, c.init_limit, c.sync_limit),
            (2000, Some(5), Some(2))
        );
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!((c.snap_retain_count, c.purge_interval), (3, 0));
        assert_eq!(c.data_dir, img.data.path());
        // ZooKeeper's own default whitelist: srvr alone.
        assert!(c.allows("srvr") && !c.allows("ruok") && !c.allows("mntr"));
        let text = img.written();
        for line in [
            "dataLogDir=/datalog",
            "standaloneEnabled=true",
            "admin.enableServer=true",
            "server.1=localhost:2888:3888;2181",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("4lw"), "{text}");
        // Only the unused dataLogDir is worth a warning.
        let warned: Vec<&str> = notes
            .iter()
            .filter(|n| n.is_warning())
            .map(|n| n.key.as_str())
            .collect();
        assert_eq!(warned, ["dataLogDir"], "{notes:?}");
    }

    #[test]
    fn a_three_node_compose_service() {
        let img = Image::new(&[
            ("ZOO_MY_ID", "2"),
            (
                "ZOO_SERVERS",
                "server.1=127.0.0.11:2888:3888;2181 server.2=localhost:2888:3888;2181\n\tserver.3=127.0.0.13:2888:3888;2181",
            ),
            ("ZOO_TICK_TIME", "1000"),
            ("ZOO_SYNC_LIMIT", "3"),
            ("ZOO_INIT_LIMIT", "7"),
            ("ZOO_MAX_CLIENT_CNXNS", "0"),
            ("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok,mntr,hash"),
            ("ZOO_ADMINSERVER_ENABLED", "false"),
            ("ZOO_AUTOPURGE_PURGEINTERVAL", "1"),
            ("ZOO_AUTOPURGE_SNAPRETAINCOUNT", "5"),
            ("ZOO_STANDALONE_ENABLED", "false"),
        ]);
        let (c, _) = img.load().unwrap();
        assert_eq!(c.cluster.my_id, 2);
        assert_eq!(img.myid(), "2\n");
        let peers: Vec<SocketAddr> = c.cluster.members.values().map(|m| m.peer_addr).collect();
        assert_eq!(
            peers,
            [
                addr("127.0.0.11:2888"),
                addr("127.0.0.1:2888"),
                addr("127.0.0.13:2888")
            ]
        );
        // A name is kept for looking it up again; an IP is not.
        assert_eq!(c.cluster.members[&2].host.as_deref(), Some("localhost"));
        assert_eq!(c.cluster.members[&1].host, None);
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        assert_eq!(
            (c.tick_time, c.init_limit, c.sync_limit),
            (1000, Some(7), Some(3))
        );
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!(c.admin_addr, None);
        assert_eq!((c.snap_retain_count, c.purge_interval), (5, 1));
        assert!(c.allows("hash") && c.allows("ruok") && !c.allows("cons"));
    }

    #[test]
    fn cfg_extra_lines_come_last_and_win() {
        let img = Image::new(&[(
            "ZOO_CFG_EXTRA",
            "metricsProvider.httpPort=7000 admin.serverPort=9090  maxClientCnxns=7 clientPortAddress=127.0.0.1",
        )]);
        let (c, notes) = img.load().unwrap();
        assert_eq!(c.metrics_addr, Some(addr("0.0.0.0:7000")));
        assert_eq!(c.admin_addr, Some(addr("0.0.0.0:9090")));
        assert_eq!(c.max_client_cnxns, 7);
        // Set explicitly, the client address wins over the server line's.
        assert_eq!(c.client_addr.ip().to_string(), "127.0.0.1");
        let text = img.written();
        let tail: Vec<&str> = text.lines().rev().take(4).collect();
        assert_eq!(
            tail,
            [
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=7",
                "admin.serverPort=9090",
                "metricsProvider.httpPort=7000"
            ]
        );
        // Notes point into the written file.
        let conf = img.conf.path().join("zoo.cfg").display().to_string();
        assert!(
            notes
                .iter()
                .all(|n| n.at.starts_with(&conf) || n.key == "myid"),
            "{notes:?}"
        );
    }

    #[test]
    fn an_existing_zoo_cfg_is_used_as_it_is() {
        let img = Image::new(&[
            ("ZOO_MY_ID", "3"),
            ("ZOO_TICK_TIME", "500"),
            ("ZOO_SERVERS", "server.1=127.0.0.1:2888:3888;2181"),
        ]);
        let mine = format!(
            "dataDir={}\ntickTime=3000\nclientPort=2999\n",
            img.data.path().display()
        );
        std::fs::write(img.conf.path().join("zoo.cfg"), &mine).unwrap();
        let (c, _) = img.load().unwrap();
        assert_eq!(img.written(), mine, "left alone");
        assert_eq!(c.tick_time, 3000);
        // clientPort alone listens everywhere, as ZooKeeper's does.
        assert_eq!(c.client_addr, addr("0.0.0.0:2999"));
        // myid is still written, from ZOO_MY_ID.
        assert_eq!(img.myid(), "3\n");
        assert_eq!(c.cluster.my_id, 3);
    }

    #[test]
    fn a_written_zoo_cfg_and_myid_are_kept_on_restart() {
        let mut img = Image::new(&[
            ("ZOO_MY_ID", "4"),
            ("ZOO_TICK_TIME", "1500"),
            ("ZOO_SERVERS", "server.4=localhost:2888:3888;2181"),
        ]);
        img.load().unwrap();
        // The container restarts with other variables: what was written stays.
        img.vars.insert("ZOO_MY_ID".into(), "5".into());
        img.vars.insert("ZOO_TICK_TIME".into(), "900".into());
        img.vars.insert(
            "ZOO_SERVERS".into(),
            "server.5=localhost:2888:3888;2181".into(),
        );
        let (c, _) = img.load().unwrap();
        assert_eq!(c.tick_time, 1500);
        assert_eq!(c.cluster.my_id, 4);
        assert_eq!(img.myid(), "4\n");
    }

    #[test]
    fn flags_still_override() {
        let img = Image::new(&[("ZOO_TICK_TIME", "1500")]);
        let flags = ServeArgs {
            tick_time: Some(100),
            admin_server: Some("no".into()),
            ..Default::default()
        };
        let (c, _) = load(&flags, &|k| img.vars.get(k).cloned()).unwrap();
        assert_eq!(c.tick_time, 100);
        assert_eq!(c.admin_addr, None);
    }

    #[test]
    fn empty_variables_take_the_default() {
        let img = Image::new(&[
            ("ZOO_TICK_TIME", ""),
            ("ZOO_SERVERS", "  "),
            ("ZOO_MY_ID", ""),
        ]);
        let (c, _) = img.load().unwrap();
        assert_eq!(c.tick_time, 2000);
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        assert_eq!(img.myid(), "1\n");
    }

    #[test]
    fn a_bad_id_is_refused_and_not_written() {
        for id in ["0", "256", "two"] {
            let img = Image::new(&[("ZOO_MY_ID", id)]);
            let e = img.load().unwrap_err();
            assert!(e.0.contains(&format!("ZOO_MY_ID={id}")), "{e}");
            assert!(!img.data.path().join("myid").exists());
        }
    }

    #[test]
    fn a_read_only_conf_dir_is_read_from_memory() {
        let img = Image::new(&[("ZOO_TICK_TIME", "1234")]);
        // A file where the directory should be: nothing can be written under it.
        let blocker = img.conf.path().join("ro");
        std::fs::write(&blocker, "").unwrap();
        let mut vars = img.vars.clone();
        vars.insert("ZOO_CONF_DIR".into(), blocker.display().to_string());
        let (c, notes) = load(&ServeArgs::default(), &|k| vars.get(k).cloned()).unwrap();
        assert_eq!(c.tick_time, 1234);
        assert!(
            notes.iter().any(|n| n.at.contains("(not written)")),
            "{notes:?}"
        );
    }

    #[test]
    fn the_own_line_may_listen_on_every_address() {
        // Some compose files give this node's own line as 0.0.0.0; others
        // keep its name and set quorumListenOnAllIPs, as ZooKeeper allows.
        let servers = "server.1=0.0.0.0:2888:3888;2181 server.2=127.0.0.12:2888:3888;2181";
        let img = Image::new(&[("ZOO_SERVERS", servers)]);
        let (c, _) = img.load().unwrap();
        assert_eq!(c.cluster.members[&1].peer_addr, addr("0.0.0.0:2888"));
        // The 3.4-era example: no client part, so 2181 on every interface.
        let img = Image::new(&[(
            "ZOO_SERVERS",
            "server.1=0.0.0.0:2888:3888 server.2=127.0.0.12:2888:3888",
        )]);
        let (c, _) = img.load().unwrap();
        assert_eq!(c.cluster.members[&1].peer_addr, addr("0.0.0.0:2888"));
        assert_eq!(c.client_addr, addr("0.0.0.0:2181"));
        let img = Image::new(&[
            ("ZOO_MY_ID", "2"),
            ("ZOO_SERVERS", servers),
            ("ZOO_CFG_EXTRA", "quorumListenOnAllIPs=true"),
        ]);
        let (c, notes) = img.load().unwrap();
        assert_eq!(c.cluster.members[&2].peer_addr, addr("0.0.0.0:2888"));
        assert!(
            notes
                .iter()
                .any(|n| n.key == "quorumListenOnAllIPs" && !n.is_warning()),
            "{notes:?}"
        );
    }
}
