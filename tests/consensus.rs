//! Single-node consensus: ordering, restart, snapshots + purge, group commit, crash safety.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral::consensus::*;

/// Appends every command to a list; the snapshot is the list, length-prefixed.
#[derive(Default)]
struct VecSm {
    st: Mutex<VecState>,
}

#[derive(Default)]
struct VecState {
    cmds: Vec<Bytes>,
    last_index: Option<u64>,
    /// Entries with commands passed to apply (group-commit measure).
    entries: u64,
    restores: u64,
}

impl VecSm {
    fn cmds(&self) -> Vec<Bytes> {
        self.st.lock().unwrap().cmds.clone()
    }
    fn entries(&self) -> u64 {
        self.st.lock().unwrap().entries
    }
    fn restores(&self) -> u64 {
        self.st.lock().unwrap().restores
    }
}

impl StateMachine for VecSm {
    fn apply(&self, index: u64, cmds: &[Bytes]) -> Result<(), String> {
        if cmds.iter().any(|c| &c[..] == b"poison") {
            return Err("a command this replica cannot apply".into());
        }
        let mut st = self.st.lock().unwrap();
        assert!(
            st.last_index.is_none_or(|l| index > l),
            "apply out of order: {index} after {:?}",
            st.last_index
        );
        st.last_index = Some(index);
        st.entries += 1;
        st.cmds.extend_from_slice(cmds);
        Ok(())
    }

    fn snapshot(&self) -> corral::consensus::Encoder {
        let cmds = self.st.lock().unwrap().cmds.clone();
        Box::new(move || {
            let mut out = Vec::new();
            for c in &cmds {
                out.extend_from_slice(&(c.len() as u32).to_le_bytes());
                out.extend_from_slice(c);
            }
            out
        })
    }

    fn restore(&self, mut data: &[u8]) -> Result<(), String> {
        let mut cmds = Vec::new();
        while !data.is_empty() {
            if data.len() < 4 {
                return Err("truncated".into());
            }
            let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
            data = &data[4..];
            if data.len() < n {
                return Err("truncated".into());
            }
            cmds.push(Bytes::copy_from_slice(&data[..n]));
            data = &data[n..];
        }
        let mut st = self.st.lock().unwrap();
        st.cmds = cmds;
        st.restores += 1;
        Ok(())
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn cfg(dir: &Path, fsync: bool, snapshot_every: u64) -> ConsensusConfig {
    ConsensusConfig {
        fsync,
        snapshot_every,
        ..ConsensusConfig::new(dir)
    }
}

async fn start(c: ConsensusConfig) -> (Consensus, Arc<VecSm>, Duration) {
    let sm = Arc::new(VecSm::default());
    let t = Instant::now();
    let cons = Consensus::start(c, sm.clone()).await.expect("start");
    (cons, sm, t.elapsed())
}

fn cmd(i: usize) -> Bytes {
    Bytes::from(format!("cmd-{i}"))
}

/// A replica that cannot apply a committed entry stops instead of skipping
/// it: consensus reports the failure and takes no more writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_entry_that_cannot_be_applied_stops_consensus() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (cons, sm, _) = start(cfg(dir.path(), false, 0)).await;
    cons.propose(cmd(1)).await.unwrap();
    let poisoned = cons.propose(Bytes::from_static(b"poison")).await;
    assert!(poisoned.is_err(), "a failed apply was acknowledged");
    let why = tokio::time::timeout(Duration::from_secs(10), cons.failed())
        .await
        .expect("consensus did not report the failure");
    assert!(why.contains("cannot apply"), "reason: {why}");
    assert!(
        cons.propose(cmd(2)).await.is_err(),
        "wrote after a failed apply"
    );
    assert_eq!(sm.cmds(), vec![cmd(1)]);
    let _ = cons.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequential_proposals_apply_in_order() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (cons, sm, took) = start(cfg(dir.path(), true, 0)).await;
    println!("time to ready (empty dir): {took:?}");
    let t = Instant::now();
    for i in 0..200 {
        cons.propose(cmd(i)).await.unwrap();
        // propose resolves only after apply, so the command is visible at once.
        assert_eq!(sm.cmds().len(), i + 1);
    }
    println!(
        "sequential (fsync on): {:?} per proposal",
        t.elapsed() / 200
    );
    assert_eq!(sm.cmds(), (0..200).map(cmd).collect::<Vec<_>>());
    let m = cons.metrics();
    assert!(m.is_leader);
    assert_eq!(m.leader, Some(1));
    assert!(m.term >= 1);
    assert_eq!(m.applied_index, m.last_log_index);
    assert_eq!(m.commit_index, m.last_log_index);
    // index 0 membership + 1 blank leader entry + 200 single-command entries.
    assert!(m.last_log_index.unwrap() >= 200);
    assert_eq!(m.snapshot_index, None);
    assert_eq!(m.purged_index, None);
    assert_eq!(m.cmds_proposed, 200);
    cons.shutdown().await.unwrap();
    assert_eq!(
        cons.propose(cmd(0)).await,
        Err(ConsensusError::ShuttingDown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_reapplies_log() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (cons, sm, took) = start(cfg(dir.path(), true, 0)).await;
    println!("time to ready (empty dir): {took:?}");
    for i in 0..50 {
        cons.propose(cmd(i)).await.unwrap();
    }
    let before = sm.cmds();
    let m1 = cons.metrics();
    cons.shutdown().await.unwrap();
    drop(cons);

    let (cons, sm2, took) = start(cfg(dir.path(), true, 0)).await;
    println!("time to ready (restart, 50 entries in log): {took:?}");
    assert!(took < Duration::from_secs(1), "restart took {took:?}");
    assert_eq!(sm2.cmds(), before, "state after restart");
    assert_eq!(sm2.restores(), 0, "no snapshot was taken");
    let m2 = cons.metrics();
    assert!(m2.is_leader);
    assert!(m2.term >= m1.term);
    assert!(m2.applied_index >= m1.applied_index);
    for i in 50..60 {
        cons.propose(cmd(i)).await.unwrap();
    }
    assert_eq!(sm2.cmds(), (0..60).map(cmd).collect::<Vec<_>>());
    cons.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshot_and_purge() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (cons, sm, _) = start(cfg(dir.path(), false, 10)).await;
    let mut next = 0;
    while next < 100 {
        cons.propose(cmd(next)).await.unwrap();
        next += 1;
    }
    // Snapshots are built in the background, and openraft considers one only
    // when it applies an entry: on a busy machine the last build may still
    // be running when the 100th entry applies, so keep writing (slowly)
    // until a snapshot near the end and the purge after it are there.
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let m = cons.metrics();
        if m.snapshot_index >= Some(90) && m.purged_index >= Some(80) {
            break m;
        }
        assert!(Instant::now() < deadline, "no snapshot/purge: {m:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        cons.propose(cmd(next)).await.unwrap();
        next += 1;
    };
    println!("after 100 proposals: {m:?}");
    assert!(m.purged_index <= m.snapshot_index);
    // A build still under way (its .tmp file) is not a kept snapshot: the
    // writes above can start one just before this looks.
    let snaps: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".tmp"))
        .collect();
    assert_eq!(
        snaps.len(),
        1,
        "only the newest snapshot is kept: {snaps:?}"
    );
    let before = sm.cmds();
    cons.shutdown().await.unwrap();
    drop(cons);

    let (cons, sm2, took) = start(cfg(dir.path(), false, 10)).await;
    println!("time to ready (restart from snapshot): {took:?}");
    assert_eq!(sm2.restores(), 1, "restored from the snapshot");
    assert!(
        sm2.entries() < 100,
        "only entries after the snapshot are re-applied ({})",
        sm2.entries()
    );
    assert_eq!(sm2.cmds(), before);
    for i in next..next + 30 {
        cons.propose(cmd(i)).await.unwrap();
    }
    assert_eq!(sm2.cmds(), (0..next + 30).map(cmd).collect::<Vec<_>>());
    cons.shutdown().await.unwrap();
}

/// Checks every `(task, seq)` command appears exactly once and in per-task order.
fn check_tasks(cmds: &[Bytes], expect: Option<(usize, usize)>) -> HashMap<String, usize> {
    let mut next: HashMap<String, usize> = HashMap::new();
    for c in cmds {
        let s = std::str::from_utf8(c).unwrap();
        let (t, i) = s.split_once(':').unwrap();
        let i: usize = i.parse().unwrap();
        let n = next.entry(t.to_string()).or_insert(0);
        assert_eq!(i, *n, "task {t}: got seq {i}, expected {n}");
        *n += 1;
    }
    if let Some((tasks, per)) = expect {
        assert_eq!(next.len(), tasks);
        assert!(next.values().all(|n| *n == per));
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_proposals_are_group_committed() {
    init_tracing();
    const TASKS: usize = 64;
    const PER: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let (cons, sm, _) = start(cfg(dir.path(), true, 0)).await;
    let cons = Arc::new(cons);
    let entries_before = sm.entries();
    let t = Instant::now();
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let cons = cons.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..PER {
                cons.propose(Bytes::from(format!("t{task}:{i}")))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let took = t.elapsed();
    let cmds = sm.cmds();
    assert_eq!(cmds.len(), TASKS * PER);
    check_tasks(&cmds, Some((TASKS, PER)));
    let entries = sm.entries() - entries_before;
    let total = (TASKS * PER) as f64;
    println!(
        "group commit (fsync on): {} cmds in {entries} entries = {:.1} cmds/entry, {:.0} cmds/s, {:?} total",
        TASKS * PER,
        total / entries as f64,
        total / took.as_secs_f64(),
        took
    );
    assert!(
        entries < (TASKS * PER / 4) as u64,
        "expected batching, got {entries} entries"
    );
    let m = cons.metrics();
    assert_eq!(m.cmds_proposed, (TASKS * PER) as u64);
    cons.shutdown().await.unwrap();
}

const CRASH_ENV: &str = "CORRAL_CONSENSUS_CRASH_DIR";
const CRASH_RUN_ENV: &str = "CORRAL_CONSENSUS_CRASH_RUN";

/// Child side of `acknowledged_writes_survive_kill9`: proposes until killed and reports every
/// acknowledged command on stdout. Does nothing in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_ENV) else {
        return;
    };
    let run = std::env::var(CRASH_RUN_ENV).unwrap_or_default();
    let (cons, _sm, _) = start(cfg(Path::new(&dir), true, 50)).await;
    let cons = Arc::new(cons);
    let mut handles = Vec::new();
    for task in 0..8 {
        let cons = cons.clone();
        let run = run.clone();
        handles.push(tokio::spawn(async move {
            for i in 0.. {
                let c = format!("{run}t{task}:{i}");
                cons.propose(Bytes::from(c.clone())).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {c}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill9() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CRASH_ENV, dir.path())
            .env(CRASH_RUN_ENV, format!("r{round}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = tokio::task::spawn_blocking(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(c) = line.strip_prefix("ACK ") {
                    acked.push(c.to_string());
                    if acked.len() == 500 {
                        break;
                    }
                }
            }
            acked
        })
        .await
        .unwrap();
        // SIGKILL mid-write: no shutdown, no flush, nothing after the last fsync survives.
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(acked.len(), 500, "child stopped early");

        let (cons, sm, took) = start(cfg(dir.path(), true, 50)).await;
        println!("round {round}: time to ready after kill -9: {took:?}");
        let cmds = sm.cmds();
        let present: std::collections::HashSet<&[u8]> = cmds.iter().map(|c| c.as_ref()).collect();
        for a in &acked {
            assert!(present.contains(a.as_bytes()), "acknowledged {a} lost");
        }
        // No duplicates, no gaps, per-task order.
        check_tasks(&cmds, None);
        println!(
            "round {round}: {} acknowledged, {} present after restart",
            acked.len(),
            cmds.len()
        );
        cons.shutdown().await.unwrap();
    }
}
