//! What an operator sees when `corral serve` starts, as a new user runs it:
//! the default log filter (no RUST_LOG), output redirected to a file, a stock
//! zoo.cfg, and the start-up failures a newcomer meets first (a busy port, a
//! data dir that cannot be created, one that another Corral holds).

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Connect, Raw, four_letter, free_loopback_port};
use jute::{CreateRequest, Request};

/// ZooKeeper 3.8's conf/zoo_sample.cfg as Debian ships it
/// (/etc/zookeeper/conf_example/zoo.cfg), byte for byte.
const ZOO_SAMPLE_CFG: &str = include_str!("data/zoo_sample.cfg");

/// A `corral serve` child with its stderr in a file.
struct Corral {
    child: Child,
    log: PathBuf,
}

impl Corral {
    /// Start with the user's defaults for logging: RUST_LOG and NO_COLOR unset.
    fn spawn(args: &[&str], log: &Path) -> Corral {
        let file = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_corral"))
            .arg("serve")
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn corral");
        Corral {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Until it answers ruok, or panics with its log if it exits or hangs.
    fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if four_letter(addr, "ruok").as_deref() == Some("imok") {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("corral exited with {st}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("corral did not start; log:\n{}", self.log());
    }

    /// Its exit status, or panics with its log if it is still running.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("corral did not exit; log:\n{}", self.log());
    }

    /// SIGTERM, as an init system stops it.
    fn stop(&mut self) -> ExitStatus {
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(st.success());
        self.wait_exit()
    }
}

impl Drop for Corral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Lines at WARN or above.
fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_startup_log_says_what_an_operator_needs_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = local(free_loopback_port());
    let metrics = local(free_loopback_port());
    let (addr_s, metrics_s) = (addr.to_string(), metrics.to_string());
    let args = [
        "--client-addr",
        &addr_s,
        "--data-dir",
        data.to_str().unwrap(),
        "--admin-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        &metrics_s,
    ];

    // Something to recover: a node, and a session holding an ephemeral. A
    // raw client, which (unlike a library) will not reconnect on its own.
    let mut first = Corral::spawn(&args, &dir.path().join("first.log"));
    first.wait_ready(addr);
    let mut raw = Raw::handshake(
        addr,
        Connect {
            timeout: 30_000,
            ..Connect::default()
        },
    )
    .await
    .0
    .expect("session");
    for (path, flags) in [("/app", 0), ("/app/e", 1)] {
        let create = Request::Create(CreateRequest {
            path: path.into(),
            data: None,
            acl: jute::Acl::open_unsafe(),
            flags,
        });
        assert_eq!(raw.call(create).await.header.err, 0, "create {path}");
    }
    drop(raw);
    assert!(first.stop().success(), "{}", first.log());

    let mut second = Corral::spawn(&args, &dir.path().join("second.log"));
    second.wait_ready(addr);
    assert!(second.stop().success(), "{}", second.log());
    let log = second.log();

    assert!(!log.contains('\x1b'), "colour codes in a file:\n{log}");
    for line in log.lines() {
        assert!(line.len() < 300, "a {}-char line:\n{line}", line.len());
    }
    assert!(warnings(&log).is_empty(), "{log}");
    // Raft and storage internals stay at debug.
    for noisy in ["openraft", "fjall", "lsm_tree"] {
        assert!(!log.contains(noisy), "{noisy} in the default log:\n{log}");
    }
    let expect = [
        format!("data_dir={}", data.display()),
        "this node is the leader node_id=1".to_string(),
        // Four system nodes (/, /zookeeper and two below it), /app, /app/e.
        "recovered znodes=6 sessions=1".to_string(),
        format!("serving clients addr={addr} node_id=1"),
        "admin server listening addr=127.0.0.1:".to_string(),
        format!("metrics server listening addr={metrics}"),
        "shutting down signal=SIGTERM".to_string(),
        "stopped".to_string(),
    ];
    for e in &expect {
        assert!(log.contains(e.as_str()), "no {e:?} in:\n{log}");
    }
    // Little else: the lines above, and the start.
    assert!(log.lines().count() <= expect.len() + 1, "{log}");
}

/// zoo.cfg lines that are commented out in the sample, switched on.
fn uncomment_settings(cfg: &str) -> String {
    cfg.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(kv) if kv.split_once('=').is_some_and(|(k, _)| !k.contains(' ')) => kv,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts on `cfg` (flags move the ports and data dir off the sample's
/// values) and returns the start-up log.
fn startup_log_with_config(cfg: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("zoo.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let addr = local(free_loopback_port());
    let metrics = local(free_loopback_port()).to_string();
    let addr_s = addr.to_string();
    let data = dir.path().join("data");
    let mut corral = Corral::spawn(
        &[
            "--config",
            cfg_path.to_str().unwrap(),
            "--client-addr",
            &addr_s,
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            &metrics,
        ],
        &dir.path().join("corral.log"),
    );
    corral.wait_ready(addr);
    assert!(corral.stop().success(), "{}", corral.log());
    corral.log()
}

#[test]
fn zookeepers_sample_config_starts_without_warnings() {
    let log = startup_log_with_config(ZOO_SAMPLE_CFG);
    assert!(warnings(&log).is_empty(), "{log}");

    // Its optional lines (maxClientCnxns, autopurge, the Prometheus
    // provider) are standard too.
    let all = uncomment_settings(ZOO_SAMPLE_CFG);
    assert!(
        all.contains("\nmetricsProvider.exportJvmInfo=true"),
        "{all}"
    );
    let log = startup_log_with_config(&all);
    assert!(warnings(&log).is_empty(), "{log}");

    // The copy installed on this machine, if any (compat/install-deps.sh).
    if let Ok(cfg) = std::fs::read_to_string("/etc/zookeeper/conf_example/zoo.cfg") {
        let log = startup_log_with_config(&cfg);
        assert!(warnings(&log).is_empty(), "{log}");
    }
}

#[test]
fn unknown_config_keys_still_warn_by_name() {
    let log = startup_log_with_config(&format!("{ZOO_SAMPLE_CFG}\ntickTme=1000\n"));
    let w = warnings(&log);
    assert_eq!(w.len(), 1, "{log}");
    assert!(
        w[0].contains("unknown config key") && w[0].contains("key=tickTme"),
        "{log}"
    );
}

#[test]
fn a_busy_client_port_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let mut corral = Corral::spawn(
        &[
            "--client-addr",
            &addr,
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-addr",
            "127.0.0.1:0",
        ],
        &dir.path().join("corral.log"),
    );
    let st = corral.wait_exit();
    let log = corral.log();
    assert!(!st.success(), "{log}");
    assert!(
        log.contains(&format!("cannot listen for clients on {addr}")),
        "{log}"
    );
    // It stopped storage before leaving: nothing else complains.
    assert_eq!(warnings(&log).len(), 1, "{log}");
}

#[test]
fn busy_admin_and_metrics_ports_are_named_and_clients_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = admin.local_addr().unwrap().to_string();
    let metrics = metrics.local_addr().unwrap().to_string();
    let addr = local(free_loopback_port());
    let addr_s = addr.to_string();
    let data = dir.path().join("data");
    let mut corral = Corral::spawn(
        &[
            "--client-addr",
            &addr_s,
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-addr",
            &admin,
            "--metrics-addr",
            &metrics,
        ],
        &dir.path().join("corral.log"),
    );
    corral.wait_ready(addr);
    let log = corral.log();
    let errors = warnings(&log);
    assert_eq!(errors.len(), 2, "{log}");
    assert!(
        errors[0].contains("admin server not started") && errors[0].contains(&admin),
        "{log}"
    );
    assert!(
        errors[1].contains("metrics server not started") && errors[1].contains(&metrics),
        "{log}"
    );
}

#[test]
fn a_data_dir_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let data = file.join("data");
    let mut corral = Corral::spawn(
        &[
            "--client-addr",
            &local(free_loopback_port()).to_string(),
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-addr",
            "127.0.0.1:0",
        ],
        &dir.path().join("corral.log"),
    );
    let st = corral.wait_exit();
    let log = corral.log();
    assert!(!st.success(), "{log}");
    assert!(
        log.contains(&format!("cannot create data directory {}", data.display())),
        "{log}"
    );
}

#[test]
fn a_data_dir_in_use_by_another_corral_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let first_addr = local(free_loopback_port());
    let mut first = Corral::spawn(
        &[
            "--client-addr",
            &first_addr.to_string(),
            "--data-dir",
            data_s,
            "--admin-addr",
            "127.0.0.1:0",
        ],
        &dir.path().join("first.log"),
    );
    first.wait_ready(first_addr);

    let mut second = Corral::spawn(
        &[
            "--client-addr",
            &local(free_loopback_port()).to_string(),
            "--data-dir",
            data_s,
            "--admin-addr",
            "127.0.0.1:0",
        ],
        &dir.path().join("second.log"),
    );
    let st = second.wait_exit();
    let log = second.log();
    assert!(!st.success(), "{log}");
    assert!(
        log.contains(&format!("data directory {} is locked", data.display()))
            && log.contains("another Corral"),
        "{log}"
    );
    // The first one did not notice.
    assert_eq!(four_letter(first_addr, "ruok").as_deref(), Some("imok"));
    assert!(first.stop().success(), "{}", first.log());
}
