//! Properties of apply as a whole: a failed multi leaves no trace, the
//! running totals always equal a count from scratch (also across a snapshot),
//! and neither undo nor monitoring costs the size of the tree.

use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{Acl, Id, OpCode, OpResult, perms};
use proptest::prelude::*;

use super::{Command, Origin, Outcome, Tree, Txn, WriteOp};

fn cmd(time: i64, txn: Txn) -> Command {
    Command {
        origin: Origin::default(),
        time,
        txn,
    }
}

fn open(tree: &mut Tree) -> i64 {
    match tree
        .apply(&cmd(
            1,
            Txn::CreateSession {
                timeout: 30_000,
                passwd: [3; 16],
            },
        ))
        .outcome
    {
        Outcome::SessionCreated { session, .. } => session,
        other => panic!("{other:?}"),
    }
}

fn create(path: String) -> WriteOp {
    WriteOp::Create {
        op: OpCode::Create,
        path,
        data: Some(Bytes::from_static(b"0123456789")),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl: -1,
    }
}

/// A tree with `/big` holding `children` children, made through apply.
fn tree_with_children(children: usize) -> (Tree, i64) {
    let mut tree = Tree::new();
    let session = open(&mut tree);
    let write = |op| Txn::Write {
        session,
        auth: vec![],
        op,
    };
    tree.apply(&cmd(1, write(create("/big".into()))));
    for i in 0..children {
        tree.apply(&cmd(1, write(create(format!("/big/c{i:07}")))));
    }
    (tree, session)
}

/// The fastest of three runs of a multi of `ops - 1` creates under `/big`
/// whose last op fails, so everything is undone.
fn failed_multi_time(tree: &mut Tree, session: i64, ops: usize) -> Duration {
    (0..3)
        .map(|rep| {
            let mut batch: Vec<WriteOp> = (0..ops - 1)
                .map(|i| create(format!("/big/m{rep}-{i}")))
                .collect();
            batch.push(WriteOp::Check {
                path: "/big".into(),
                version: 99,
            });
            let multi = cmd(
                2,
                Txn::Multi {
                    session,
                    auth: vec![],
                    ops: batch,
                },
            );
            let t = Instant::now();
            let applied = tree.apply(&multi);
            let took = t.elapsed();
            assert!(matches!(applied.outcome, Outcome::Multi(ref r) if r.len() == ops));
            took
        })
        .min()
        .unwrap_or_default()
}

/// Undoing a failed multi costs what its ops changed, not the size of the
/// parent they touched: the same multi under a parent with 100,000 children
/// takes about as long as under a parent with 10. (Copying the parent per op
/// made it thousands of times slower.) Generous bounds: machines are shared.
#[test]
fn failed_multi_undo_does_not_copy_the_parent() {
    const OPS: usize = 200;
    let (mut small, s) = tree_with_children(10);
    let small_time = failed_multi_time(&mut small, s, OPS);
    let (mut big, s) = tree_with_children(100_000);
    let before = big.clone();
    let big_time = failed_multi_time(&mut big, s, OPS);
    assert!(
        big_time < small_time * 20 + Duration::from_millis(50),
        "under 100,000 children {big_time:?}, under 10 {small_time:?}"
    );
    // And it left nothing behind but the three zxids.
    let mut expected = before;
    expected.last_zxid += 3;
    assert!(big == expected, "a failed multi changed the tree");
}

/// What mntr, hash and /metrics read is kept, not counted on demand: reading
/// it on a 100,000-node tree takes microseconds (a walk took ~100 ms each).
#[test]
fn monitoring_reads_do_not_walk_the_tree() {
    let (tree, _) = tree_with_children(100_000);
    let t = Instant::now();
    for _ in 0..20 {
        std::hint::black_box((
            tree.digest(),
            tree.approximate_data_size(),
            tree.ephemeral_count(),
            tree.node_count(),
        ));
    }
    let took = t.elapsed();
    assert!(took < Duration::from_millis(200), "20 reads took {took:?}");
    assert_eq!(tree.check_totals(), Ok(()));
}

// ---- random command streams ----

const NAMES: &[&str] = &["a", "b", "c", "s-"];

#[derive(Debug, Clone)]
enum OpSpec {
    Create {
        path: String,
        flags: i32,
        code: u8,
        data: Option<Vec<u8>>,
        acl: u8,
    },
    Delete(String, i32),
    Set(String, Option<Vec<u8>>, i32),
    SetAcl(String, u8, i32),
    Check(String, i32),
}

#[derive(Debug, Clone)]
enum Step {
    Open,
    Close(usize),
    Write(usize, OpSpec),
    /// Ops, and where to put an op that is sure to fail (if anywhere).
    Multi(usize, Vec<OpSpec>, Option<usize>),
    Reap(String),
    /// Time passes (TTL nodes expire).
    Tick(i64),
    /// Snapshot and restore.
    Restore,
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(0..NAMES.len(), 1..4)
        .prop_map(|ix| ix.iter().map(|i| format!("/{}", NAMES[*i])).collect())
}

fn version() -> impl Strategy<Value = i32> {
    prop_oneof![3 => Just(-1), 1 => 0..3]
}

fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..80))
}

fn op() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        4 => (path(), prop_oneof![4 => 0..7, 1 => Just(7), 1 => Just(-1)], 0..4u8, data(), 0..3u8)
            .prop_map(|(path, flags, code, data, acl)| OpSpec::Create { path, flags, code, data, acl }),
        2 => (path(), version()).prop_map(|(p, v)| OpSpec::Delete(p, v)),
        2 => (path(), data(), version()).prop_map(|(p, d, v)| OpSpec::Set(p, d, v)),
        1 => (path(), 0..3u8, version()).prop_map(|(p, a, v)| OpSpec::SetAcl(p, a, v)),
        1 => (path(), version()).prop_map(|(p, v)| OpSpec::Check(p, v)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Open),
        1 => (0..4usize).prop_map(Step::Close),
        6 => (0..4usize, op()).prop_map(|(s, o)| Step::Write(s, o)),
        6 => (0..4usize, prop::collection::vec(op(), 0..6), prop::option::of(0..6usize))
            .prop_map(|(s, ops, fail)| Step::Multi(s, ops, fail)),
        1 => path().prop_map(Step::Reap),
        1 => (0..200i64).prop_map(Step::Tick),
        1 => Just(Step::Restore),
    ]
}

fn acl(kind: u8) -> Vec<Acl> {
    match kind {
        0 => Acl::open_unsafe(),
        // Readable, but no WRITE or ADMIN: setData and setACL fail with NoAuth.
        1 => vec![Acl {
            perms: perms::READ | perms::CREATE | perms::DELETE,
            id: Id::new("world", "anyone"),
        }],
        // Only someone else may touch it.
        _ => vec![Acl {
            perms: perms::ALL,
            id: Id::new("digest", "someone:else"),
        }],
    }
}

fn to_op(spec: &OpSpec) -> WriteOp {
    let bytes = |d: &Option<Vec<u8>>| d.clone().map(Bytes::from);
    match spec {
        OpSpec::Create {
            path,
            flags,
            code,
            data,
            acl: a,
        } => {
            let op = match code {
                0 => OpCode::Create,
                1 => OpCode::Create2,
                2 => OpCode::CreateContainer,
                _ => OpCode::CreateTtl,
            };
            WriteOp::Create {
                op,
                path: path.clone(),
                data: bytes(data),
                acl: acl(*a),
                flags: *flags,
                ttl: if matches!(flags, 5 | 6) { 50 } else { -1 },
            }
        }
        OpSpec::Delete(path, version) => WriteOp::Delete {
            path: path.clone(),
            version: *version,
        },
        OpSpec::Set(path, data, version) => WriteOp::SetData {
            path: path.clone(),
            data: bytes(data),
            version: *version,
        },
        OpSpec::SetAcl(path, a, version) => WriteOp::SetAcl {
            path: path.clone(),
            acl: acl(*a),
            version: *version,
        },
        OpSpec::Check(path, version) => WriteOp::Check {
            path: path.clone(),
            version: *version,
        },
    }
}

/// The multi failed as a whole or at some op.
fn multi_failed(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Multi(results) => results
            .iter()
            .any(|r| matches!(r, OpResult::Error { err } if *err != 0)),
        Outcome::Write(Err(_)) => true,
        _ => false,
    }
}

/// Run the steps, checking after each that the totals match a recount, that
/// a failed multi changed nothing (but the zxid), and that a snapshot
/// restores the same tree, totals included.
fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut tree = Tree::new();
    let mut sessions: Vec<i64> = Vec::new();
    let mut time = 1_000;
    let pick = |sessions: &[i64], i: usize| sessions.get(i).copied().unwrap_or(i as i64);
    for step in steps {
        let txn = match step {
            Step::Open => Txn::CreateSession {
                timeout: 30_000,
                passwd: [9; 16],
            },
            Step::Close(i) => Txn::CloseSession {
                session: pick(&sessions, *i),
            },
            Step::Write(i, op) => Txn::Write {
                session: pick(&sessions, *i),
                auth: vec![],
                op: to_op(op),
            },
            Step::Multi(i, ops, fail) => {
                let mut ops: Vec<WriteOp> = ops.iter().map(to_op).collect();
                if let Some(at) = fail {
                    let sure_to_fail = if at % 2 == 0 {
                        WriteOp::Check {
                            path: "/".into(),
                            version: 12_345,
                        }
                    } else {
                        create("/no/such/parent".into())
                    };
                    ops.insert((*at).min(ops.len()), sure_to_fail);
                }
                Txn::Multi {
                    session: pick(&sessions, *i),
                    auth: vec![],
                    ops,
                }
            }
            Step::Reap(path) => Txn::Reap { path: path.clone() },
            Step::Tick(ms) => {
                time += ms;
                continue;
            }
            Step::Restore => {
                let restored = Tree::from_snapshot(&tree.to_snapshot())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(restored.check_totals(), Ok(()));
                prop_assert!(restored == tree, "restore changed the tree");
                prop_assert_eq!(restored.digest(), tree.digest());
                tree = restored;
                continue;
            }
        };
        let is_multi = matches!(txn, Txn::Multi { .. });
        let before = tree.clone();
        let applied = tree.apply(&cmd(time, txn));
        if let Outcome::SessionCreated { session, .. } = applied.outcome {
            sessions.push(session);
        }
        prop_assert_eq!(tree.check_totals(), Ok(()));
        if is_multi && multi_failed(&applied.outcome) {
            prop_assert!(applied.changes.is_empty());
            prop_assert_eq!(tree.digest(), before.digest());
            prop_assert_eq!(tree.approximate_data_size(), before.approximate_data_size());
            prop_assert_eq!(tree.ephemeral_count(), before.ephemeral_count());
            for (path, node) in before.nodes.iter() {
                prop_assert_eq!(tree.nodes.get(&path).map(|n| n.stat()), Some(node.stat()));
            }
            let mut expected = before;
            expected.last_zxid += 1;
            prop_assert!(tree == expected, "a failed multi left a trace");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn totals_track_apply_and_failed_multis_leave_no_trace(
        steps in prop::collection::vec(step(), 1..80)
    ) {
        run(&steps)?;
    }
}

/// The nodes as snapshot formats 1 and 2 stored them (paths as keys).
fn old_nodes(tree: &Tree) -> std::collections::HashMap<String, super::ZnodeV2> {
    tree.nodes
        .iter()
        .map(|(path, n)| {
            let children = tree.child_names(&path);
            let old = super::ZnodeV2 {
                data: n.data().map(bytes::Bytes::copy_from_slice),
                acl: n.acl().to_vec(),
                czxid: n.czxid(),
                mzxid: n.mzxid(),
                pzxid: n.pzxid(),
                ctime: n.ctime(),
                mtime: n.mtime(),
                version: n.version(),
                cversion: n.cversion(),
                aversion: n.aversion(),
                owner: n.owner(),
                children: children.into_iter().collect(),
            };
            (path, old)
        })
        .collect()
}

/// A snapshot written in format 2 (before the compact tree) restores to the
/// same tree, Stat fields, child counts and digest included: a node upgraded
/// in place, or sent a snapshot by an older leader, reads it.
#[test]
fn format_2_snapshots_restore_to_the_same_tree() {
    let (mut tree, session) = tree_with_children(500);
    tree.apply(&cmd(
        2,
        Txn::Write {
            session,
            auth: vec![],
            op: WriteOp::Delete {
                path: "/big/c0000007".into(),
                version: -1,
            },
        },
    ));
    #[derive(serde::Serialize)]
    struct TreeV2<'a> {
        nodes: std::collections::HashMap<String, super::ZnodeV2>,
        sessions: &'a std::collections::BTreeMap<i64, super::SessionRecord>,
        last_zxid: i64,
        next_session: i64,
        reapable: &'a std::collections::BTreeSet<String>,
        origins: &'a std::collections::BTreeMap<u64, Vec<(u64, u64)>>,
    }
    let v2 = TreeV2 {
        nodes: old_nodes(&tree),
        sessions: &tree.sessions,
        last_zxid: tree.last_zxid,
        next_session: tree.next_session,
        reapable: &tree.reapable,
        origins: &tree.origins,
    };
    let mut bytes = b"CRT\x02".to_vec();
    bytes.extend(postcard::to_stdvec(&v2).unwrap());
    let restored = Tree::from_snapshot(&bytes).expect("format 2");
    assert!(restored == tree, "format 2 restore changed the tree");
    assert_eq!(restored.digest(), tree.digest());
    assert_eq!(
        restored.node("/big").map(|n| n.stat()),
        tree.node("/big").map(|n| n.stat())
    );
    let copy = Tree::from_snapshot(&tree.to_snapshot()).expect("format 3");
    assert_eq!(copy.digest_from_scratch(), tree.digest());
    assert!(copy == tree);
}

/// A command from `node`'s boot `boot`, connection `conn`, numbered `seq`.
fn from(node: u64, boot: u64, conn: u64, seq: u64, txn: Txn) -> Command {
    Command {
        origin: Origin {
            node,
            boot,
            conn,
            xid: 1,
            seq,
        },
        time: 5,
        txn,
    }
}

fn session_of(applied: &crate::tree::Applied) -> i64 {
    match applied.outcome {
        Outcome::SessionCreated { session, .. } => session,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_command_sent_again_applies_once() {
    let mut tree = Tree::new();
    let s = session_of(&tree.apply(&from(
        2,
        7,
        1,
        1,
        Txn::CreateSession {
            timeout: 30_000,
            passwd: [1; 16],
        },
    )));
    let write = |seq: u64, name: &str| {
        from(
            2,
            7,
            1,
            seq,
            Txn::Write {
                session: s,
                auth: vec![],
                op: create(format!("/{name}")),
            },
        )
    };
    let first = tree.apply(&write(2, "a"));
    assert!(matches!(first.outcome, Outcome::Write(Ok(_))));
    let zxid = tree.last_zxid();
    // The same batch again (a new leader logged it too): skipped, no zxid.
    for again in [write(1, "x"), write(2, "a")] {
        let dup = tree.apply(&again);
        assert_eq!(dup.outcome, Outcome::Duplicate);
        assert!(dup.changes.is_empty());
        assert_eq!(tree.last_zxid(), zxid);
    }
    assert!(tree.node("/x").is_none());
    // The next number applies; another boot of the same node counts afresh.
    assert!(matches!(
        tree.apply(&write(3, "b")).outcome,
        Outcome::Write(Ok(_))
    ));
    let other_boot = from(
        2,
        8,
        1,
        1,
        Txn::Write {
            session: s,
            auth: vec![],
            op: create("/c".into()),
        },
    );
    // Another boot's connection does not own the session: SessionMoved, but applied once.
    assert_eq!(
        tree.apply(&other_boot).outcome,
        Outcome::Write(Err(jute::ErrorCode::SessionMoved))
    );
    assert_eq!(tree.apply(&other_boot).outcome, Outcome::Duplicate);
    // Old logs (sequence 0) are never deduplicated.
    let old = cmd(
        6,
        Txn::Write {
            session: s,
            auth: vec![],
            op: create("/d".into()),
        },
    );
    assert!(matches!(tree.apply(&old).outcome, Outcome::Write(Ok(_))));
    // The remembered numbers survive a snapshot.
    let mut restored = Tree::from_snapshot(&tree.to_snapshot()).unwrap();
    assert_eq!(restored.apply(&write(3, "b")).outcome, Outcome::Duplicate);
    assert_eq!(restored, tree);
}

#[test]
fn a_moved_session_refuses_its_old_connection() {
    let mut tree = Tree::new();
    let create_session = Txn::CreateSession {
        timeout: 30_000,
        passwd: [1; 16],
    };
    let s = session_of(&tree.apply(&from(1, 9, 4, 1, create_session)));
    let write = |node, boot, conn, seq, name: &str| {
        from(
            node,
            boot,
            conn,
            seq,
            Txn::Write {
                session: s,
                auth: vec![],
                op: create(format!("/{name}")),
            },
        )
    };
    assert!(matches!(
        tree.apply(&write(1, 9, 4, 2, "a")).outcome,
        Outcome::Write(Ok(_))
    ));
    // A wrong password does not move it.
    let wrong = tree.apply(&from(
        2,
        5,
        1,
        1,
        Txn::MoveSession {
            session: s,
            passwd: [2; 16],
        },
    ));
    assert_eq!(
        wrong.outcome,
        Outcome::Moved {
            session: s,
            result: Err(jute::ErrorCode::SessionExpired)
        }
    );
    let zxid = tree.last_zxid();
    let moved = tree.apply(&from(
        2,
        5,
        1,
        2,
        Txn::MoveSession {
            session: s,
            passwd: [1; 16],
        },
    ));
    assert_eq!(
        moved.outcome,
        Outcome::Moved {
            session: s,
            result: Ok(30_000)
        }
    );
    // A reconnect changes no znode and uses no zxid, as in ZooKeeper.
    assert_eq!(tree.last_zxid(), zxid);
    assert_eq!(
        tree.apply(&write(1, 9, 4, 3, "b")).outcome,
        Outcome::Write(Err(jute::ErrorCode::SessionMoved))
    );
    assert_eq!(
        tree.apply(&from(1, 9, 4, 4, Txn::CloseSession { session: s }))
            .outcome,
        Outcome::Write(Err(jute::ErrorCode::SessionMoved))
    );
    assert!(matches!(
        tree.apply(&write(2, 5, 1, 3, "c")).outcome,
        Outcome::Write(Ok(_))
    ));
    // Expiry (nobody waits) closes it whatever its owner.
    assert_eq!(
        tree.apply(&from(3, 1, 0, 1, Txn::CloseSession { session: s }))
            .outcome,
        Outcome::SessionClosed { session: s }
    );
    // A move after expiry fails: the client is told its session expired.
    let late = tree.apply(&from(
        2,
        5,
        1,
        4,
        Txn::MoveSession {
            session: s,
            passwd: [1; 16],
        },
    ));
    assert!(matches!(
        late.outcome,
        Outcome::Moved { result: Err(_), .. }
    ));
}

#[test]
fn old_commands_and_snapshots_still_decode() {
    // A command and a snapshot in the layout written before boots and owners.
    #[derive(serde::Serialize)]
    struct OriginV1 {
        node: u64,
        conn: u64,
        xid: i32,
    }
    #[derive(serde::Serialize)]
    struct CommandV1 {
        origin: OriginV1,
        time: i64,
        txn: Txn,
    }
    let old = CommandV1 {
        origin: OriginV1 {
            node: 1,
            conn: 3,
            xid: 9,
        },
        time: 77,
        txn: Txn::CreateSession {
            timeout: 4000,
            passwd: [5; 16],
        },
    };
    let bytes = postcard::to_stdvec(&old).unwrap();
    let cmd = Command::decode(&bytes).unwrap();
    assert_eq!(
        (cmd.origin.node, cmd.origin.boot, cmd.origin.conn),
        (1, 0, 3)
    );
    assert_eq!((cmd.origin.xid, cmd.origin.seq, cmd.time), (9, 0, 77));
    assert_eq!(Command::decode(&cmd.encode()).unwrap(), cmd);

    let mut tree = Tree::new();
    let s = session_of(&tree.apply(&cmd));
    #[derive(serde::Serialize)]
    struct SessionV1 {
        timeout: i32,
        passwd: [u8; 16],
        ephemerals: std::collections::BTreeSet<String>,
    }
    #[derive(serde::Serialize)]
    struct TreeV1 {
        nodes: std::collections::HashMap<String, super::ZnodeV2>,
        sessions: std::collections::BTreeMap<i64, SessionV1>,
        last_zxid: i64,
        next_session: i64,
        reapable: std::collections::BTreeSet<String>,
    }
    let v1 = TreeV1 {
        nodes: old_nodes(&tree),
        sessions: [(
            s,
            SessionV1 {
                timeout: 4000,
                passwd: [5; 16],
                ephemerals: Default::default(),
            },
        )]
        .into(),
        last_zxid: tree.last_zxid,
        next_session: tree.next_session,
        reapable: Default::default(),
    };
    let restored = Tree::from_snapshot(&postcard::to_stdvec(&v1).unwrap()).unwrap();
    assert_eq!(restored.session(s).map(|r| r.timeout), Some(4000));
    assert_eq!(restored.digest(), tree.digest());
    assert_eq!(restored.last_zxid(), tree.last_zxid());
}

/// The in-process cluster tests call replicas converged when their trees are
/// equal. Equality must see what the digest does not: a session's owner, and
/// the sequence numbers that deduplicate resent commands.
#[test]
fn replicas_that_differ_only_in_sessions_are_not_equal() {
    let session = Txn::CreateSession {
        timeout: 30_000,
        passwd: [1; 16],
    };
    let mut a = Tree::new();
    let s = session_of(&a.apply(&from(1, 9, 4, 1, session.clone())));
    let mut b = a.clone();
    assert_eq!(a, b);
    // Only `b` hears that the session moved: same znodes, same digest, same zxid.
    b.apply(&from(
        2,
        5,
        1,
        1,
        Txn::MoveSession {
            session: s,
            passwd: [1; 16],
        },
    ));
    assert_eq!((a.digest(), a.last_zxid()), (b.digest(), b.last_zxid()));
    assert_ne!(a, b, "a session's owner must count");
    // Two replicas that applied the same reap, one of them as an old-log
    // command (no sequence number): only the other remembers node 4's number.
    let mut d = a.clone();
    d.apply(&from(
        4,
        2,
        0,
        1,
        Txn::Reap {
            path: "/none".into(),
        },
    ));
    a.apply(&from(
        4,
        2,
        0,
        0,
        Txn::Reap {
            path: "/none".into(),
        },
    ));
    assert_eq!((a.digest(), a.last_zxid()), (d.digest(), d.last_zxid()));
    assert_ne!(a, d, "the remembered sequence numbers must count");
}

/// reconfig's txn: only whoever may write /zookeeper/config (the super
/// user), only from the current version; it writes the member lines and a
/// version line holding its own zxid, leaves the node's version at -1 (as
/// ZooKeeper shows it) and tells data watchers.
#[test]
fn reconfig_writes_the_config_node() {
    use super::{CONFIG, WriteResult};
    let mut tree = Tree::new();
    let session = open(&mut tree);
    let reconfig = |auth: Vec<Id>, from_version: i64| Txn::Write {
        session,
        auth,
        op: WriteOp::Reconfig {
            members: "server.1=a:1:2:participant\n".into(),
            from_version,
        },
    };
    let root = || vec![Id::new("super", "")];
    let anyone = vec![Id::new("world", "anyone")];
    let failed = tree.apply(&cmd(2, reconfig(anyone, -1)));
    assert_eq!(failed.outcome, Outcome::Write(Err(jute::ErrorCode::NoAuth)));
    assert_eq!(tree.config_version(), None);
    let done = tree.apply(&cmd(3, reconfig(root(), -1)));
    let zxid = done.zxid;
    let Outcome::Write(Ok(WriteResult::Reconfigured { data, stat })) = &done.outcome else {
        panic!("{:?}", done.outcome);
    };
    assert_eq!(
        &data[..],
        format!("server.1=a:1:2:participant\nversion={zxid:x}").as_bytes()
    );
    assert_eq!((stat.version, stat.mzxid, stat.mtime), (-1, zxid, 3));
    assert_eq!(tree.config_version(), Some(zxid));
    assert!(done.changes.iter().any(|c| c.path == CONFIG));
    let stale = tree.apply(&cmd(4, reconfig(root(), zxid + 1)));
    assert_eq!(
        stale.outcome,
        Outcome::Write(Err(jute::ErrorCode::BadVersion))
    );
    let next = tree.apply(&cmd(5, reconfig(root(), zxid)));
    assert!(
        matches!(next.outcome, Outcome::Write(Ok(_))),
        "{:?}",
        next.outcome
    );
    assert_eq!(tree.config_version(), Some(next.zxid));
    // A snapshot carries it.
    let copy = Tree::from_snapshot(&tree.to_snapshot()).expect("restore");
    assert_eq!(copy.config_version(), Some(next.zxid));
}
