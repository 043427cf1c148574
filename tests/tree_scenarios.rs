//! Scenario tests for the deterministic tree: each file under
//! tests/scenarios/ is a script of commands (`> ...`), each followed by the
//! output it must produce: results, Stats and the changes watches would see.
//! Run with UPDATE_SCENARIOS=1 to rewrite the expected output after a
//! deliberate change (then read the diff: it is the review).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::Bytes;
use corral::tree::{
    Applied, ChangeKind, Command, Origin, Outcome, Tree, Txn, WriteOp, WriteResult, acl,
};
use jute::{Acl, ErrorCode, Id, OpCode, OpResult, Stat};

struct Runner {
    tree: Tree,
    time: i64,
    sessions: BTreeMap<String, i64>,
    auth: BTreeMap<String, Vec<Id>>,
}

fn line(out: &mut String, text: impl std::fmt::Display) {
    let _ = writeln!(out, "{text}");
}

impl Runner {
    fn new() -> Self {
        Runner {
            tree: Tree::new(),
            time: 1000,
            sessions: BTreeMap::new(),
            auth: BTreeMap::new(),
        }
    }

    fn session_name(&self, id: i64) -> String {
        self.sessions
            .iter()
            .find(|(_, v)| **v == id)
            .map_or_else(|| format!("{id:#x}"), |(k, _)| k.clone())
    }

    fn stat(&self, s: &Stat) -> String {
        let owner = if s.ephemeral_owner == 0 {
            "0".to_string()
        } else {
            self.session_name(s.ephemeral_owner)
        };
        format!(
            "czxid={} mzxid={} pzxid={} ctime={} mtime={} version={} cversion={} aversion={} owner={} len={} children={}",
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime,
            s.mtime,
            s.version,
            s.cversion,
            s.aversion,
            owner,
            s.data_length,
            s.num_children
        )
    }

    fn apply(&mut self, txn: Txn) -> Applied {
        self.tree.apply(&Command {
            origin: Origin::default(),
            time: self.time,
            txn,
        })
    }

    fn sid(&self, name: &str) -> i64 {
        self.sessions.get(name).copied().unwrap_or(-1)
    }

    fn auth_of(&self, name: &str) -> Vec<Id> {
        self.auth.get(name).cloned().unwrap_or_default()
    }

    fn run(&mut self, cmd: &str) -> String {
        // `""` stands for the empty path.
        let words: Vec<&str> = cmd
            .split_whitespace()
            .map(|w| if w == "\"\"" { "" } else { w })
            .collect();
        let (opts, args): (Vec<&str>, Vec<&str>) = words[1..].iter().partition(|w| w.contains('='));
        let opt = |k: &str| {
            opts.iter()
                .find_map(|o| o.strip_prefix(&format!("{k}=")[..]))
        };
        let mut out = String::new();
        match words[0] {
            "time" => self.time = args[0].parse().expect("time"),
            "open" => {
                let timeout = opt("timeout").map_or(30000, |t| t.parse().expect("timeout"));
                let a = self.apply(Txn::CreateSession {
                    timeout,
                    passwd: [7; 16],
                });
                if let Outcome::SessionCreated { session, .. } = a.outcome {
                    self.sessions.insert(args[0].to_string(), session);
                }
                line(
                    &mut out,
                    format!("zxid={} session {} opened", a.zxid, args[0]),
                );
            }
            "close" => {
                let a = self.apply(Txn::CloseSession {
                    session: self.sid(args[0]),
                });
                self.report(&mut out, &a);
            }
            // auth NAME user:pass: the digest id the server layer would attach.
            "auth" => self
                .auth
                .entry(args[0].to_string())
                .or_default()
                .push(Id::new("digest", acl::digest_id(args[1]))),
            "super" => self
                .auth
                .entry(args[0].to_string())
                .or_default()
                .push(Id::new(acl::SUPER, "")),
            "multi" => {
                let body = cmd
                    .split_once('{')
                    .and_then(|(_, r)| r.rsplit_once('}'))
                    .map_or("", |(b, _)| b);
                let ops = body
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(parse_op)
                    .collect();
                let a = self.apply(Txn::Multi {
                    session: self.sid(args[0]),
                    auth: self.auth_of(args[0]),
                    ops,
                });
                self.report(&mut out, &a);
            }
            "create" | "delete" | "set" | "setacl" | "check" => {
                let without_session: Vec<&str> =
                    words[..1].iter().chain(&words[2..]).copied().collect();
                let op = parse_op(&without_session.join(" "));
                let a = self.apply(Txn::Write {
                    session: self.sid(args[0]),
                    auth: self.auth_of(args[0]),
                    op,
                });
                self.report(&mut out, &a);
            }
            "reap" => {
                let a = self.apply(Txn::Reap {
                    path: args[0].to_string(),
                });
                self.report(&mut out, &a);
            }
            "get" => {
                let auth = opt("as").map(|n| self.auth_of(n)).unwrap_or_default();
                match self.tree.get_data(args[0], &auth) {
                    Ok((data, stat)) => line(
                        &mut out,
                        format!("data={} {}", show(&data), self.stat(&stat)),
                    ),
                    Err(e) => line(&mut out, format!("error {e:?}")),
                }
            }
            "stat" => match self.tree.exists(args[0]) {
                Ok(stat) => line(&mut out, self.stat(&stat)),
                Err(e) => line(&mut out, format!("error {e:?}")),
            },
            "ls" => match self.tree.get_children(args[0], &[]) {
                Ok((children, _)) => line(&mut out, format!("[{}]", children.join(" "))),
                Err(e) => line(&mut out, format!("error {e:?}")),
            },
            "acl" => {
                let auth = opt("as").map(|n| self.auth_of(n)).unwrap_or_default();
                match self.tree.get_acl(args[0], &auth) {
                    Ok((acl, stat)) => line(
                        &mut out,
                        format!("{} aversion={}", show_acl(&acl), stat.aversion),
                    ),
                    Err(e) => line(&mut out, format!("error {e:?}")),
                }
            }
            "count" => line(
                &mut out,
                format!("{:?}", self.tree.all_children_number(args[0], &[])),
            ),
            "ephemerals" => {
                let list = self
                    .tree
                    .ephemerals(self.sid(args[0]), args.get(1).copied().unwrap_or("/"));
                line(&mut out, format!("[{}]", list.join(" ")));
            }
            "candidates" => line(
                &mut out,
                format!("[{}]", self.tree.reap_candidates(self.time).join(" ")),
            ),
            other => panic!("unknown command {other}"),
        }
        out
    }

    fn report(&self, out: &mut String, a: &Applied) {
        match &a.outcome {
            Outcome::Write(Ok(r)) => line(out, format!("zxid={} ok {}", a.zxid, self.result(r))),
            Outcome::Write(Err(e)) => line(out, format!("zxid={} error {e:?}", a.zxid)),
            Outcome::Multi(results) => {
                line(out, format!("zxid={} multi", a.zxid));
                for r in results {
                    let text = match r {
                        OpResult::Create { path } => format!("create {path}"),
                        OpResult::Create2 { path, stat } => {
                            format!("create2 {path} {}", self.stat(stat))
                        }
                        OpResult::Delete => "delete".into(),
                        OpResult::SetData { stat } => format!("set {}", self.stat(stat)),
                        OpResult::Check => "check".into(),
                        OpResult::Error { err } => format!(
                            "error {:?}",
                            ErrorCode::from_code(*err).unwrap_or(ErrorCode::SystemError)
                        ),
                        other => format!("{other:?}"),
                    };
                    line(out, format!("  {text}"));
                }
            }
            Outcome::SessionClosed { session } => line(
                out,
                format!(
                    "zxid={} session {} closed",
                    a.zxid,
                    self.session_name(*session)
                ),
            ),
            Outcome::Reaped(r) => line(out, format!("zxid={} reaped {r:?}", a.zxid)),
            Outcome::SessionCreated { .. } => {}
            Outcome::Moved { session, result } => line(
                out,
                format!(
                    "zxid={} session {} moved {result:?}",
                    a.zxid,
                    self.session_name(*session)
                ),
            ),
            Outcome::Duplicate => line(out, format!("zxid={} duplicate", a.zxid)),
        }
        for c in &a.changes {
            let kind = match c.kind {
                ChangeKind::Created => "created",
                ChangeKind::Deleted => "deleted",
                ChangeKind::DataChanged => "data",
                ChangeKind::ChildrenChanged => "children",
            };
            line(out, format!("  change {kind} {}", c.path));
        }
    }

    fn result(&self, r: &WriteResult) -> String {
        match r {
            WriteResult::Created { path, stat, .. } => {
                format!("created {path} {}", self.stat(stat))
            }
            WriteResult::Deleted => "deleted".into(),
            WriteResult::DataSet(stat) => format!("set {}", self.stat(stat)),
            WriteResult::AclSet(stat) => format!("acl set {}", self.stat(stat)),
            WriteResult::Checked => "checked".into(),
            WriteResult::Reconfigured { data, stat } => format!(
                "reconfigured {:?} {}",
                String::from_utf8_lossy(data),
                self.stat(stat)
            ),
        }
    }
}

/// `create PATH [DATA] [mode=M] [ttl=N] [acl=...] [op=...]`, `delete PATH [v=N]`,
/// `set PATH DATA [v=N]`, `setacl PATH ACL [v=N]`, `check PATH v=N`.
fn parse_op(s: &str) -> WriteOp {
    let words: Vec<&str> = s.split_whitespace().collect();
    let (opts, args): (Vec<&str>, Vec<&str>) = words[1..]
        .iter()
        .partition(|w| w.contains('=') && !w.starts_with('"'));
    let opt = |k: &str| {
        opts.iter()
            .find_map(|o| o.strip_prefix(&format!("{k}=")[..]))
    };
    let version = opt("v").map_or(-1, |v| v.parse().expect("version"));
    let path = args[0].to_string();
    let data = args.get(1).map(|d| {
        if *d == "null" {
            None
        } else {
            Some(Bytes::from(d.trim_matches('"').to_string()))
        }
    });
    match words[0] {
        "create" => {
            let (flags, op) = match opt("mode").unwrap_or("persistent") {
                "persistent" => (0, OpCode::Create),
                "ephemeral" => (1, OpCode::Create),
                "sequential" => (2, OpCode::Create),
                "ephemeral_sequential" => (3, OpCode::Create),
                "container" => (4, OpCode::CreateContainer),
                "ttl" => (5, OpCode::CreateTtl),
                "ttl_sequential" => (6, OpCode::CreateTtl),
                other => panic!("mode {other}"),
            };
            let op = match opt("op") {
                Some("create2") => OpCode::Create2,
                Some("create") => OpCode::Create,
                Some("container") => OpCode::CreateContainer,
                Some("ttl") => OpCode::CreateTtl,
                _ => op,
            };
            WriteOp::Create {
                op,
                path,
                data: data.unwrap_or_else(|| Some(Bytes::new())),
                acl: opt("acl").map_or_else(Acl::open_unsafe, parse_acl),
                flags,
                // Only createTTL carries a TTL; the others send none (-1).
                ttl: if op == OpCode::CreateTtl {
                    opt("ttl").map_or(0, |t| t.parse().expect("ttl"))
                } else {
                    -1
                },
            }
        }
        "delete" => WriteOp::Delete { path, version },
        "set" => WriteOp::SetData {
            path,
            data: data.unwrap_or(None),
            version,
        },
        "setacl" => WriteOp::SetAcl {
            path,
            acl: parse_acl(args[1]),
            version,
        },
        "check" => WriteOp::Check { path, version },
        other => panic!("op {other}"),
    }
}

/// `world:anyone:31,digest:user:pass:1,auth::31`, or `none` for an empty list.
/// A digest id given as `user:pass` is hashed as ZooKeeper would.
fn parse_acl(s: &str) -> Vec<Acl> {
    if s == "none" {
        return vec![];
    }
    s.split(',')
        .map(|e| {
            let (rest, perms) = e.rsplit_once(':').expect("acl perms");
            let (scheme, id) = rest.split_once(':').expect("acl scheme");
            let id = if scheme == "digest" {
                acl::digest_id(id)
            } else {
                id.to_string()
            };
            Acl {
                perms: perms.parse().expect("perms"),
                id: Id::new(scheme, id),
            }
        })
        .collect()
}

fn show(data: &Option<Bytes>) -> String {
    match data {
        None => "null".into(),
        Some(d) => format!("{:?}", String::from_utf8_lossy(d)),
    }
}

fn show_acl(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let update = std::env::var_os("UPDATE_SCENARIOS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .map(|e| e.expect("entry").path())
        .filter(|f| f.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read scenario");
        let mut runner = Runner::new();
        let (mut rewritten, mut expected, mut actual) =
            (String::new(), String::new(), String::new());
        for l in text.lines() {
            if let Some(cmd) = l.strip_prefix("> ") {
                let out = runner.run(cmd);
                for s in [&mut rewritten, &mut actual] {
                    s.push_str(l);
                    s.push('\n');
                    s.push_str(&out);
                }
                expected.push_str(l);
                expected.push('\n');
            } else if l.starts_with('#') || l.trim().is_empty() {
                rewritten.push_str(l);
                rewritten.push('\n');
            } else {
                expected.push_str(l);
                expected.push('\n');
            }
        }
        if update {
            std::fs::write(file, rewritten).expect("write scenario");
        } else if expected != actual {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                file.display()
            ));
        }
    }
    assert!(files.len() > 1, "no scenarios found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
