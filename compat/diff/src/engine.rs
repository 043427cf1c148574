//! Runs one op sequence against both servers, one op at a time: the op to
//! ZooKeeper, then to Corral, then a ping barrier on every session of both
//! (so each session's notifications so far have arrived), then the answers
//! and events are compared.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use jute::{
    Acl, AddWatchRequest, AuthPacket, CheckVersionRequest, CreateRequest, CreateTtlRequest,
    DeleteRequest, Empty, ExistsRequest, GetChildrenRequest, GetDataRequest, Id, MultiOp,
    MultiRequest, OpResult, PathRequest, RemoveWatchesRequest, Request, Response, SetAclRequest,
    SetDataRequest, Stat, WatcherEvent, xid,
};
use sha1::Digest;

use crate::compare::{Answer, Atom, Maps, side_by_side};
use crate::conn::{self, Conn};
use crate::ops::{Act, Api, Cut, Data, Op, has_placeholder, raw_bytes};

/// Differences that are intended, with the reason, from the allow-list file.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    pub rules: BTreeMap<String, String>,
}

/// The rules the engine knows how to apply.
pub const RULES: &[&str] = &[
    "multi-create2-stat",
    "lone-check",
    "watch-type-4-5",
    "notification-zxid",
    "checkwatches-other-session",
    "remove-persistent-by-type",
    "watch-mode-overlap",
    RESUME_RULE,
];

/// ZooKeeper closes a live session's connection when another connection
/// presents that session id with a wrong password; Corral keeps it.
pub const RESUME_RULE: &str = "resume-wrong-password";

impl Allow {
    pub fn parse(text: &str) -> Result<Allow, String> {
        let mut rules = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if !RULES.contains(&id) {
                return Err(format!("allow-list line {}: unknown rule {id:?}", n + 1));
            }
            if reason.trim().is_empty() {
                return Err(format!(
                    "allow-list line {}: rule {id} has no reason",
                    n + 1
                ));
            }
            rules.insert(id.to_string(), reason.trim().to_string());
        }
        Ok(Allow { rules })
    }
    pub fn has(&self, id: &str) -> bool {
        self.rules.contains_key(id)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub zk: String,
    pub corral: String,
    pub allow: Allow,
    pub tick_ms: u64,
    pub verbose: bool,
}

/// A difference between the servers.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub index: usize,
    pub op: String,
    pub reason: String,
    pub table: String,
}

struct Sess {
    id: i64,
    passwd: Bytes,
    timeout: i32,
    conn: Option<Conn>,
}

struct Side {
    addr: String,
    slots: Vec<Option<Sess>>,
    probe: Conn,
}

impl Side {
    /// The server's last zxid through the probe session. The probe is idle
    /// between rare ops and may have expired meanwhile (long `expire`
    /// waits): then a fresh probe session is opened. This is only called
    /// before an op is measured, so the session it creates is not counted.
    fn last_zxid(&mut self) -> Option<i64> {
        if let Some(z) = self.probe.last_zxid() {
            return Some(z);
        }
        if let Ok((Some(probe), _)) =
            Conn::handshake(&self.addr, 0, Bytes::from_static(&[0; 16]), 30_000)
        {
            self.probe = probe;
        }
        self.probe.last_zxid()
    }
}

/// One side's answer to one op, being built.
#[derive(Default)]
struct Out {
    atoms: Answer,
    err: Option<i32>,
}

impl Out {
    fn push(&mut self, label: impl Into<String>, a: Atom) {
        self.atoms.push((label.into(), a));
    }
}

pub struct Engine {
    cfg: Config,
    sides: Vec<Side>,
    root: String,
    maps: Maps,
    used: Vec<bool>,
    containers: Vec<String>,
    /// Per slot: paths the tester gave one-shot watches and paths it gave
    /// persistent ones (an over-approximation: cleared when the connection goes).
    watched: Vec<(BTreeSet<String>, BTreeSet<String>)>,
    /// How often each allow rule was applied.
    pub allowed_hits: BTreeMap<String, usize>,
}

fn digest_id(user: &str, pw: &str) -> String {
    let hash = sha1::Sha1::digest(format!("{user}:{pw}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// An ACL spec from the op text as a list.
pub fn acl_list(spec: &str) -> Vec<Acl> {
    let acl = |perms: i32, scheme: &str, id: &str| Acl {
        perms,
        id: Id::new(scheme, id),
    };
    match spec {
        "open" => return vec![acl(31, "world", "anyone")],
        "read" => return vec![acl(1, "world", "anyone")],
        "creator" => return vec![acl(31, "auth", "")],
        "none" => return vec![],
        _ => {}
    }
    spec.split(',')
        .filter_map(|e| {
            let (scheme, rest) = e.split_once(':')?;
            let (id, perms) = rest.rsplit_once(':')?;
            let perms: i32 = perms.parse().ok()?;
            let id = match (scheme, id.strip_prefix('=')) {
                (_, Some(literal)) => literal.to_string(),
                ("digest", None) => digest_id(id, &format!("{id}-pw")),
                _ => id.to_string(),
            };
            Some(acl(perms, scheme, &id))
        })
        .collect()
}

/// A request with trailing bytes is still read as its inner op.
fn trailing_inner(act: &Act) -> &Act {
    match act {
        Act::Malformed {
            cut: Cut::Trail(_),
            inner,
        } => inner,
        a => a,
    }
}

/// Replace every jute ustring `s` (length prefix and UTF-8 bytes) in
/// `payload` with `s`'s raw bytes (placeholders turned into single bytes).
fn replace_ustring(payload: &[u8], s: &str) -> Vec<u8> {
    let enc = |b: &[u8]| {
        let mut v = (b.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(b);
        v
    };
    let from = enc(s.as_bytes());
    let to = enc(&raw_bytes(s));
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        if payload[i..].starts_with(&from) {
            out.extend_from_slice(&to);
            i += from.len();
        } else {
            out.push(payload[i]);
            i += 1;
        }
    }
    out
}

fn data_bytes(d: &Data) -> Option<Bytes> {
    match d {
        Data::Null => None,
        Data::Text(t) => Some(Bytes::from(t.clone().into_bytes())),
        Data::Size(n) => Some(Bytes::from(vec![b'x'; *n])),
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn show_data(d: &Option<Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.len() <= 40 => format!("{:?}", String::from_utf8_lossy(b)),
        Some(b) => format!("{} bytes fnv {:016x}", b.len(), fnv(b)),
    }
}

impl Engine {
    pub fn new(cfg: Config, tag: &str) -> Result<Engine, String> {
        let root = format!("/diff-{tag}x");
        let mut sides = Vec::new();
        for addr in [cfg.zk.clone(), cfg.corral.clone()] {
            // `ruok` answers before ZooKeeper serves sessions: retry a while.
            let mut tries = 0;
            let (probe, _) = loop {
                match Conn::handshake(&addr, 0, Bytes::from_static(&[0; 16]), 30_000) {
                    Ok(r) => break r,
                    Err(e) if tries >= 50 => return Err(format!("{addr}: {e}")),
                    Err(_) => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            };
            let mut probe = probe.ok_or(format!("{addr}: refused a new session"))?;
            let mut ev = Vec::new();
            let req = Request::Create(CreateRequest {
                path: root.clone(),
                data: None,
                acl: acl_list("open"),
                flags: 0,
            });
            match probe.call(req, None, &mut ev) {
                conn::Answer::Reply(r) if r.header.err == 0 => {}
                other => return Err(format!("{addr}: creating {root}: {other:?}")),
            }
            sides.push(Side {
                addr,
                slots: (0..16).map(|_| None).collect(),
                probe,
            });
        }
        Ok(Engine {
            cfg,
            sides,
            root,
            maps: Maps::default(),
            used: vec![false; 16],
            containers: vec![],
            watched: vec![Default::default(); 16],
            allowed_hits: BTreeMap::new(),
        })
    }

    fn path(&self, p: &str) -> String {
        if let Some(lit) = p.strip_prefix('!') {
            lit.to_string()
        } else if p == "/" {
            self.root.clone()
        } else if p.starts_with('/') {
            format!("{}{p}", self.root)
        } else {
            p.to_string()
        }
    }

    fn show(&self, p: &str) -> String {
        if p == self.root {
            "/".into()
        } else if let Some(rest) = p.strip_prefix(&self.root) {
            rest.to_string()
        } else {
            format!("!{p}")
        }
    }

    fn stat(&self, out: &mut Out, pre: &str, s: &Stat) {
        out.push(format!("{pre}czxid"), Atom::Zxid(s.czxid));
        out.push(format!("{pre}mzxid"), Atom::Zxid(s.mzxid));
        out.push(
            format!("{pre}ctime"),
            Atom::Time {
                t: s.ctime,
                zxid: s.czxid,
            },
        );
        out.push(
            format!("{pre}mtime"),
            Atom::Time {
                t: s.mtime,
                zxid: s.mzxid,
            },
        );
        out.push(format!("{pre}version"), Atom::I(s.version.into()));
        out.push(format!("{pre}cversion"), Atom::I(s.cversion.into()));
        out.push(format!("{pre}aversion"), Atom::I(s.aversion.into()));
        out.push(
            format!("{pre}ephemeralOwner"),
            Atom::Sess(s.ephemeral_owner),
        );
        out.push(format!("{pre}dataLength"), Atom::I(s.data_length.into()));
        out.push(format!("{pre}numChildren"), Atom::I(s.num_children.into()));
        out.push(format!("{pre}pzxid"), Atom::Zxid(s.pzxid));
    }

    fn list(&self, xs: &[String], paths: bool) -> Atom {
        let mut v: Vec<String> = xs
            .iter()
            .map(|x| if paths { self.show(x) } else { x.clone() })
            .collect();
        v.sort();
        Atom::S(v.join(","))
    }

    fn create_request(&self, a: &Act) -> Option<MultiOp> {
        Some(match a {
            Act::Create {
                api,
                path,
                data,
                mode,
                acl,
                ttl,
            } => {
                let c = CreateRequest {
                    path: self.path(path),
                    data: data_bytes(data),
                    acl: acl_list(acl),
                    flags: *mode,
                };
                match api {
                    Api::Create => MultiOp::Create(c),
                    Api::Create2 => MultiOp::Create2(c),
                    Api::Container => MultiOp::CreateContainer(c),
                    Api::Ttl => MultiOp::CreateTtl(CreateTtlRequest {
                        path: c.path,
                        data: c.data,
                        acl: c.acl,
                        flags: c.flags,
                        ttl: *ttl,
                    }),
                }
            }
            Act::Delete { path, version } => MultiOp::Delete(DeleteRequest {
                path: self.path(path),
                version: *version,
            }),
            Act::Set {
                path,
                data,
                version,
            } => MultiOp::SetData(SetDataRequest {
                path: self.path(path),
                data: data_bytes(data),
                version: *version,
            }),
            Act::Check { path, version } => MultiOp::Check(CheckVersionRequest {
                path: self.path(path),
                version: *version,
            }),
            Act::Get { path, .. } => MultiOp::GetData(GetDataRequest {
                path: self.path(path),
                watch: false,
            }),
            Act::Children { path, .. } => MultiOp::GetChildren(GetChildrenRequest {
                path: self.path(path),
                watch: false,
            }),
            _ => return None,
        })
    }

    fn request(&self, a: &Act) -> Option<Request> {
        let p = |x: &String| self.path(x);
        Some(match a {
            Act::Create { .. } | Act::Delete { .. } | Act::Set { .. } | Act::Check { .. } => {
                match self.create_request(a)? {
                    MultiOp::Create(c) => Request::Create(c),
                    MultiOp::Create2(c) => Request::Create2(c),
                    MultiOp::CreateContainer(c) => Request::CreateContainer(c),
                    MultiOp::CreateTtl(c) => Request::CreateTtl(c),
                    MultiOp::Delete(d) => Request::Delete(d),
                    MultiOp::SetData(s) => Request::SetData(s),
                    MultiOp::Check(c) => Request::Check(c),
                    _ => return None,
                }
            }
            Act::Exists { path, watch } => Request::Exists(ExistsRequest {
                path: p(path),
                watch: *watch,
            }),
            Act::Get { path, watch } => Request::GetData(GetDataRequest {
                path: p(path),
                watch: *watch,
            }),
            Act::Children { path, watch } => Request::GetChildren(GetChildrenRequest {
                path: p(path),
                watch: *watch,
            }),
            Act::Children2 { path, watch } => Request::GetChildren2(GetChildrenRequest {
                path: p(path),
                watch: *watch,
            }),
            Act::GetAcl { path } => Request::GetAcl(PathRequest { path: p(path) }),
            Act::SetAcl { path, acl, version } => Request::SetAcl(SetAclRequest {
                path: p(path),
                acl: acl_list(acl),
                version: *version,
            }),
            Act::Sync { path } => Request::Sync(PathRequest { path: p(path) }),
            Act::AddWatch { path, mode } => Request::AddWatch(AddWatchRequest {
                path: p(path),
                mode: *mode,
            }),
            Act::RemoveWatches { path, wtype } => Request::RemoveWatches(RemoveWatchesRequest {
                path: p(path),
                watcher_type: *wtype,
            }),
            Act::CheckWatches { path, wtype } => Request::CheckWatches(RemoveWatchesRequest {
                path: p(path),
                watcher_type: *wtype,
            }),
            Act::Ephemerals { path } => Request::GetEphemerals(jute::GetEphemeralsRequest {
                prefix_path: p(path),
            }),
            Act::Count { path } => Request::GetAllChildrenNumber(PathRequest { path: p(path) }),
            Act::WhoAmI => Request::WhoAmI(Empty {}),
            Act::Multi(ops) => Request::Multi(MultiRequest {
                ops: ops.iter().filter_map(|o| self.create_request(o)).collect(),
            }),
            Act::MultiRead(ops) => Request::MultiRead(MultiRequest {
                ops: ops.iter().filter_map(|o| self.create_request(o)).collect(),
            }),
            Act::Raw { op } => Request::Unknown {
                op: *op,
                body: Bytes::new(),
            },
            Act::Auth { scheme, cred } => {
                let auth = if cred == "null" {
                    None
                } else if let Some(literal) = cred.strip_prefix('=') {
                    Some(raw_bytes(literal))
                } else if cred.contains(':') {
                    Some(raw_bytes(cred))
                } else {
                    Some(format!("{cred}:{cred}-pw").into_bytes())
                };
                Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: scheme.clone(),
                    auth: auth.map(Bytes::from),
                })
            }
            Act::Malformed { inner, .. } => return self.request(inner),
            _ => return None,
        })
    }

    /// The strings of `act`'s request that hold placeholders for raw bytes.
    fn wire_strings(&self, act: &Act, out: &mut Vec<String>) {
        fn others(act: &Act, out: &mut Vec<String>) {
            match act {
                Act::Create { acl, .. } | Act::SetAcl { acl, .. } => {
                    for a in acl_list(acl) {
                        out.extend(
                            [a.id.scheme, a.id.id]
                                .into_iter()
                                .filter(|s| has_placeholder(s)),
                        );
                    }
                }
                Act::Auth { scheme, .. } if has_placeholder(scheme) => out.push(scheme.clone()),
                Act::Multi(ops) | Act::MultiRead(ops) => ops.iter().for_each(|o| others(o, out)),
                Act::Malformed { inner, .. } => others(inner, out),
                _ => {}
            }
        }
        out.extend(
            act.paths()
                .into_iter()
                .map(|p| self.path(p))
                .filter(|w| has_placeholder(w)),
        );
        others(act, out);
        out.sort();
        out.dedup();
    }

    fn response(&self, out: &mut Out, r: &Response, fold_create2: bool) {
        match r {
            Response::Create(c) => out.push("path", Atom::S(self.show(&c.path))),
            Response::Create2(c) | Response::CreateContainer(c) | Response::CreateTtl(c) => {
                out.push("path", Atom::S(self.show(&c.path)));
                self.stat(out, "", &c.stat);
            }
            Response::Exists(s) | Response::SetData(s) | Response::SetAcl(s) => {
                self.stat(out, "", &s.stat)
            }
            Response::GetData(d) => {
                out.push("data", Atom::S(show_data(&d.data)));
                self.stat(out, "", &d.stat);
            }
            Response::GetAcl(a) => {
                for (i, e) in a.acl.iter().enumerate() {
                    out.push(
                        format!("acl{i}"),
                        Atom::S(format!("{} {}:{}", e.perms, e.id.scheme, e.id.id)),
                    );
                }
                self.stat(out, "", &a.stat);
            }
            Response::GetChildren(c) => out.push("children", self.list(&c.children, false)),
            Response::GetChildren2(c) => {
                out.push("children", self.list(&c.children, false));
                self.stat(out, "", &c.stat);
            }
            Response::Sync(s) => out.push("path", Atom::S(self.show(&s.path))),
            Response::GetEphemerals(e) => out.push("ephemerals", self.list(&e.ephemerals, true)),
            Response::GetAllChildrenNumber(n) => out.push("total", Atom::I(n.total_number.into())),
            Response::WhoAmI(w) => {
                // ZooKeeper keeps a connection's identities in a hash set: unordered.
                let mut v: Vec<String> = w
                    .client_info
                    .iter()
                    .map(|c| format!("{}:{}", c.auth_scheme, c.user))
                    .collect();
                v.sort();
                out.push("whoami", Atom::S(v.join(",")));
            }
            Response::AddWatch(e) => out.push("body.err", Atom::I(e.err.into())),
            Response::Multi(m) | Response::MultiRead(m) => {
                for (i, res) in m.results.iter().enumerate() {
                    let pre = format!("r{i}.");
                    match res {
                        OpResult::Create { path } => {
                            out.push(format!("{pre}create"), Atom::S(self.show(path)))
                        }
                        OpResult::Create2 { path, stat } => {
                            if fold_create2 {
                                out.push(format!("{pre}create"), Atom::S(self.show(path)));
                            } else {
                                out.push(format!("{pre}create2"), Atom::S(self.show(path)));
                                self.stat(out, &pre, stat);
                            }
                        }
                        OpResult::Delete => out.push(format!("{pre}delete"), Atom::I(0)),
                        OpResult::Check => out.push(format!("{pre}check"), Atom::I(0)),
                        OpResult::SetData { stat } => {
                            out.push(format!("{pre}setData"), Atom::I(0));
                            self.stat(out, &pre, stat);
                        }
                        OpResult::GetChildren { children } => {
                            out.push(format!("{pre}children"), self.list(children, false))
                        }
                        OpResult::GetData { data, stat } => {
                            out.push(format!("{pre}data"), Atom::S(show_data(data)));
                            self.stat(out, &pre, stat);
                        }
                        OpResult::Error { err } => {
                            out.push(format!("{pre}error"), Atom::I((*err).into()))
                        }
                    }
                }
            }
            other => out.push("body", Atom::S(format!("{other:?}"))),
        }
    }

    fn event_atoms(&self, out: &mut Out, slot: usize, evs: &[(i64, WatcherEvent)]) {
        for (z, e) in evs {
            out.push(
                format!("s{slot}.event"),
                Atom::S(format!(
                    "type {} state {} {}",
                    e.event_type,
                    e.state,
                    self.show(&e.path)
                )),
            );
            if !self.cfg.allow.has("notification-zxid") {
                out.push(format!("s{slot}.event.zxid"), Atom::Zxid(*z));
            }
        }
    }

    /// Run `act` for `slot` on side `si`.
    fn exec(&mut self, si: usize, slot: usize, act: &Act, fold: bool) -> Out {
        let mut out = Out::default();
        match act {
            Act::Connect { timeout } => {
                if self.sides[si].slots[slot].is_some() {
                    out.push("connect", Atom::S("already connected".into()));
                    return out;
                }
                let addr = self.sides[si].addr.clone();
                match Conn::handshake(&addr, 0, Bytes::from_static(&[0; 16]), *timeout) {
                    Ok((Some(c), rsp)) => {
                        out.push("timeout", Atom::I(rsp.timeout.into()));
                        out.push("session", Atom::Sess(rsp.session_id));
                        out.push(
                            "passwd.len",
                            Atom::I(rsp.passwd.as_ref().map_or(-1, |p| p.len() as i64)),
                        );
                        self.sides[si].slots[slot] = Some(Sess {
                            id: rsp.session_id,
                            passwd: rsp.passwd.unwrap_or_default(),
                            timeout: rsp.timeout,
                            conn: Some(c),
                        });
                    }
                    Ok((None, rsp)) => out.push("refused", Atom::I(rsp.timeout.into())),
                    Err(e) => out.push("connect error", Atom::S(e.to_string())),
                }
                return out;
            }
            Act::Reconnect => {
                if let Some(s) = self.sides[si].slots[slot].as_mut() {
                    s.conn = None;
                }
                return out;
            }
            Act::BadResume => {
                self.bad_resume(si, slot, &mut out);
                return out;
            }
            _ => {}
        }
        let Some(request) = (match act {
            Act::Close => Some(Request::CloseSession(Empty {})),
            _ => self.request(act),
        }) else {
            out.push("unsupported", Atom::S(act.to_string()));
            return out;
        };
        // What the op does when its request is read as sent (a trailing-bytes
        // request is still the inner op).
        let eff = match act {
            Act::Malformed {
                cut: Cut::Trail(_),
                inner,
            } => inner.as_ref(),
            a => a,
        };
        let fixed = match act {
            Act::Auth { .. } => Some(xid::AUTH),
            Act::Malformed { inner, .. } if matches!(**inner, Act::Auth { .. }) => Some(xid::AUTH),
            _ => None,
        };
        let mut strings = Vec::new();
        self.wire_strings(act, &mut strings);
        let cut = match act {
            Act::Malformed { cut, .. } => Some(cut.clone()),
            _ => None,
        };
        let damage = move |mut payload: Vec<u8>| -> Vec<u8> {
            for s in &strings {
                payload = replace_ustring(&payload, s);
            }
            match cut {
                None => payload,
                Some(Cut::Keep(n)) => payload[..n.min(payload.len())].to_vec(),
                Some(Cut::Drop(n)) => {
                    let keep = payload.len().saturating_sub(n).max(8.min(payload.len()));
                    payload[..keep].to_vec()
                }
                Some(Cut::Trail(b)) => {
                    payload.extend_from_slice(&b);
                    payload
                }
            }
        };
        let raw = matches!(act, Act::Malformed { .. }) || act.is_odd();
        let is_container = |a: &Act| {
            matches!(
                a,
                Act::Create {
                    api: Api::Container,
                    ..
                }
            )
        };
        let mut evs = Vec::new();
        let answer = match self.sides[si].slots[slot]
            .as_mut()
            .and_then(|s| s.conn.as_mut())
        {
            Some(c) if raw => c.call_damaged(request, fixed, damage, &mut evs),
            Some(c) => c.call(request, fixed, &mut evs),
            None => conn::Answer::Closed,
        };
        let before: Vec<(i64, WatcherEvent)> = evs.into_iter().map(|e| (-1, e)).collect();
        self.event_atoms(&mut out, slot, &before);
        match answer {
            conn::Answer::Reply(r) => {
                out.err = Some(r.header.err);
                out.push("err", Atom::I(r.header.err.into()));
                // A read's header carries the server's last zxid, which
                // background txns (expiries, reaping, on each server's own
                // timers) move: only writes' zxids go through the mapping.
                // Stat zxids of reads are still compared.
                if act.is_write() {
                    out.push("zxid", Atom::Zxid(r.header.zxid));
                }
                if let Some(body) = &r.body {
                    self.response(&mut out, body, fold);
                }
                if si == 0 && r.header.err == 0 {
                    // Remember containers so reaping can be waited for.
                    let created: Vec<String> = match (eff, &r.body) {
                        (a, Some(Response::CreateContainer(c))) if is_container(a) => {
                            vec![c.path.clone()]
                        }
                        (Act::Multi(subs), Some(Response::Multi(m))) => subs
                            .iter()
                            .zip(&m.results)
                            .filter(|(a, _)| is_container(a))
                            .filter_map(|(_, res)| match res {
                                OpResult::Create { path } | OpResult::Create2 { path, .. } => {
                                    Some(path.clone())
                                }
                                _ => None,
                            })
                            .collect(),
                        _ => vec![],
                    };
                    self.containers.extend(created);
                }
            }
            conn::Answer::Closed => {
                out.push("reply", Atom::S("connection closed, no reply".into()));
                if let Some(s) = self.sides[si].slots[slot].as_mut() {
                    s.conn = None;
                }
            }
            conn::Answer::Bad(e) => {
                out.push("reply", Atom::S(format!("bad: {e}")));
                if let Some(s) = self.sides[si].slots[slot].as_mut() {
                    s.conn = None;
                }
            }
        }
        if matches!(act, Act::Close) {
            self.sides[si].slots[slot] = None;
        }
        out
    }

    /// A second connection presents `slot`'s live session id with a wrong
    /// password: what it gets, and whether the live connection survives.
    fn bad_resume(&mut self, si: usize, slot: usize, out: &mut Out) {
        let addr = self.sides[si].addr.clone();
        let Some(sess) = self.sides[si].slots[slot].as_ref() else {
            out.push("badresume", Atom::S("no session in this slot".into()));
            return;
        };
        let mut wrong = sess.passwd.to_vec();
        match wrong.first_mut() {
            Some(b) => *b ^= 0x5a,
            None => wrong.push(1),
        }
        match Conn::handshake_keep(&addr, sess.id, Bytes::from(wrong), sess.timeout) {
            Ok((mut second, rsp)) => {
                out.push("second.timeout", Atom::I(rsp.timeout.into()));
                out.push("second.session", Atom::Sess(rsp.session_id));
                out.push(
                    "second.passwd.len",
                    Atom::I(rsp.passwd.as_ref().map_or(-1, |p| p.len() as i64)),
                );
                let closed = second.closed_within(2000);
                out.push(
                    "second.conn",
                    Atom::S(if closed { "closed" } else { "open" }.into()),
                );
            }
            Err(e) => out.push("second", Atom::S(format!("error: {e}"))),
        }
        let mut evs = Vec::new();
        let sess = self.sides[si].slots[slot].as_mut().expect("checked above");
        let alive = sess.conn.as_mut().is_some_and(|c| c.ping(&mut evs));
        if !alive {
            sess.conn = None;
        }
        let evs: Vec<(i64, WatcherEvent)> = evs.into_iter().map(|e| (-1, e)).collect();
        self.event_atoms(out, slot, &evs);
        out.push(
            "live.conn",
            Atom::S(if alive { "open" } else { "closed" }.into()),
        );
    }

    /// Wait (up to 300 ms) until neither server's last zxid moves for 30 ms,
    /// so a background txn (an expiry, a container reaped) that is under way
    /// does not land inside a zxid.used measurement.
    fn quiet_zxids(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut last: Vec<Option<i64>> = self.sides.iter_mut().map(Side::last_zxid).collect();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(30));
            let now: Vec<Option<i64>> = self.sides.iter_mut().map(Side::last_zxid).collect();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Apply [`RESUME_RULE`]: only the live connection's fate, and only
    /// ZooKeeper closed vs Corral open, is excused; both then lose it.
    fn resume_rule(&mut self, slot: usize, main: &mut [Out; 2]) -> bool {
        if !self.cfg.allow.has(RESUME_RULE) {
            return false;
        }
        let at = |o: &Out, want: &str| {
            o.atoms
                .iter()
                .position(|(l, a)| l == "live.conn" && *a == Atom::S(want.into()))
        };
        let (Some(z), Some(c)) = (at(&main[0], "closed"), at(&main[1], "open")) else {
            return false;
        };
        let note = Atom::S(format!("allowed: {RESUME_RULE}"));
        main[0].atoms[z].1 = note.clone();
        main[1].atoms[c].1 = note;
        if let Some(s) = self.sides[1].slots[slot].as_mut() {
            s.conn = None;
        }
        self.watched[slot] = Default::default();
        *self
            .allowed_hits
            .entry(RESUME_RULE.to_string())
            .or_default() += 1;
        true
    }

    /// Ping every session of side `si`; resume sessions whose connection is gone.
    fn barrier(&mut self, si: usize, outs: &mut BTreeMap<usize, Out>) {
        for slot in 0..16 {
            let addr = self.sides[si].addr.clone();
            let Some(sess) = self.sides[si].slots[slot].as_mut() else {
                continue;
            };
            let mut evs = Vec::new();
            let alive = sess.conn.as_mut().is_some_and(|c| c.ping(&mut evs));
            let out = outs.entry(slot).or_default();
            let evs: Vec<(i64, WatcherEvent)> = evs.into_iter().map(|e| (-1, e)).collect();
            // Borrow dance: atoms need &self.
            let mut tmp = Out::default();
            self.event_atoms(&mut tmp, slot, &evs);
            out.atoms.extend(tmp.atoms);
            if alive {
                continue;
            }
            let Some(sess) = self.sides[si].slots[slot].as_mut() else {
                continue;
            };
            sess.conn = None;
            let resumed = Conn::handshake(&addr, sess.id, sess.passwd.clone(), sess.timeout);
            let what = match resumed {
                Ok((Some(c), _)) => {
                    sess.conn = Some(c);
                    "connection lost; session resumed".to_string()
                }
                Ok((None, _)) => {
                    self.sides[si].slots[slot] = None;
                    "connection lost; session expired".to_string()
                }
                Err(e) => {
                    self.sides[si].slots[slot] = None;
                    format!("connection lost; resume failed: {e}")
                }
            };
            out.push(format!("s{slot}.conn"), Atom::S(what));
        }
    }

    /// Sleep, pinging every session so none expires by accident.
    fn keepalive_sleep(&mut self, ms: u64, outs: &mut [BTreeMap<usize, Out>; 2]) {
        let end = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < end {
            std::thread::sleep(
                Duration::from_millis(150).min(end.saturating_duration_since(Instant::now())),
            );
            for (si, o) in outs.iter_mut().enumerate() {
                self.barrier(si, o);
            }
        }
    }

    /// Wait until neither server has an empty, used container left to reap.
    fn settle_containers(&mut self, outs: &mut [BTreeMap<usize, Out>; 2]) {
        if self.containers.is_empty() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(4);
        loop {
            let mut pending = false;
            let mut gone = vec![true; self.containers.len()];
            for side in self.sides.iter_mut() {
                for (i, path) in self.containers.iter().enumerate() {
                    let mut ev = Vec::new();
                    let req = Request::Exists(ExistsRequest {
                        path: path.clone(),
                        watch: false,
                    });
                    if let conn::Answer::Reply(r) = side.probe.call(req, None, &mut ev)
                        && let Some(Response::Exists(s)) = r.body
                    {
                        gone[i] = false;
                        if s.stat.num_children == 0 && s.stat.cversion > 0 {
                            pending = true;
                        }
                    }
                }
            }
            if !pending || Instant::now() > deadline {
                let mut i = 0;
                self.containers.retain(|_| {
                    i += 1;
                    !gone[i - 1]
                });
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for (si, o) in outs.iter_mut().enumerate() {
            self.barrier(si, o);
        }
    }

    fn session_count(&self, si: usize, slot: usize) -> bool {
        self.sides[si].slots[slot].is_some()
    }

    /// Run one op on both servers and compare.
    pub fn step(&mut self, index: usize, op: &Op) -> Result<(), Divergence> {
        if !matches!(op.act, Act::Sleep { .. } | Act::Connect { .. }) && !self.used[op.slot] {
            let connect = Op {
                slot: op.slot,
                act: Act::Connect { timeout: 4000 },
                expect: None,
            };
            self.step(index, &connect)?;
        }
        self.used[op.slot] = true;
        let mut outs: [BTreeMap<usize, Out>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut main: [Out; 2] = [Out::default(), Out::default()];
        let mut rule: Option<&'static str> = None;
        match &op.act {
            Act::Sleep { ms } => self.keepalive_sleep(*ms, &mut outs),
            Act::Expire => {
                let mut timeout = 0;
                for side in self.sides.iter_mut() {
                    if let Some(s) = side.slots[op.slot].as_mut() {
                        s.conn = None;
                        timeout = timeout.max(s.timeout);
                    }
                }
                let saved: Vec<Option<Sess>> = self
                    .sides
                    .iter_mut()
                    .map(|s| s.slots[op.slot].take())
                    .collect();
                if timeout > 0 {
                    let wait = timeout as u64 + 3 * self.cfg.tick_ms + 600;
                    self.keepalive_sleep(wait, &mut outs);
                }
                for (si, s) in saved.into_iter().enumerate() {
                    let what = match s {
                        None => "no session".to_string(),
                        Some(s) => match Conn::handshake(
                            &self.sides[si].addr,
                            s.id,
                            s.passwd.clone(),
                            s.timeout,
                        ) {
                            Ok((None, _)) => "expired".into(),
                            Ok((Some(c), _)) => {
                                self.sides[si].slots[op.slot] = Some(Sess { conn: Some(c), ..s });
                                "still alive after the timeout".into()
                            }
                            Err(e) => format!("resume failed: {e}"),
                        },
                    };
                    main[si].push("expire", Atom::S(what));
                }
            }
            act => {
                if self.session_count(0, op.slot)
                    || self.session_count(1, op.slot)
                    || matches!(act, Act::Connect { .. })
                {
                    let fold = self.cfg.allow.has("multi-create2-stat");
                    // For the rare classes, whether the op used a zxid is
                    // checked directly: the server's last zxid around it.
                    let odd = act.is_odd();
                    if odd {
                        self.quiet_zxids();
                    }
                    for (si, m) in main.iter_mut().enumerate() {
                        let before = if odd {
                            self.sides[si].last_zxid()
                        } else {
                            None
                        };
                        *m = self.exec(si, op.slot, act, fold);
                        if odd {
                            let after = self.sides[si].probe.last_zxid();
                            m.push(
                                "zxid.used",
                                match (before, after) {
                                    (Some(b), Some(a)) => Atom::I(a - b),
                                    _ => Atom::S("probe connection failed".into()),
                                },
                            );
                        }
                    }
                    if matches!(act, Act::BadResume) {
                        self.resume_rule(op.slot, &mut main);
                    }
                    rule = self
                        .allowed_rule(act, &main[0], &main[1])
                        .or_else(|| self.watch_overlap(op.slot, act));
                    self.note_watch(op.slot, act);
                    if let Some(r) = rule {
                        self.watched[op.slot] = Default::default();
                        // The reference closes the connection here; make both sides lose it.
                        for side in self.sides.iter_mut() {
                            if let Some(s) = side.slots[op.slot].as_mut() {
                                s.conn = None;
                            }
                        }
                        for m in main.iter_mut() {
                            *m = Out::default();
                            m.push("allowed", Atom::S(r.to_string()));
                        }
                        *self.allowed_hits.entry(r.to_string()).or_default() += 1;
                    }
                } else {
                    main[0].push("skipped", Atom::S("no session in this slot".into()));
                    main[1].push("skipped", Atom::S("no session in this slot".into()));
                }
            }
        }
        for (si, o) in outs.iter_mut().enumerate() {
            self.barrier(si, o);
        }
        if op.act.is_write() {
            self.settle_containers(&mut outs);
        }
        if matches!(op.act, Act::Close | Act::Expire) {
            // A session's ephemerals are deleted in an unspecified order
            // (ZooKeeper walks a HashSet), so the events of that one txn are
            // compared as a multiset per session.
            for o in outs.iter_mut().flat_map(|m| m.values_mut()) {
                o.atoms
                    .sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
            }
        }
        let mut answers: [Answer; 2] = [Vec::new(), Vec::new()];
        for si in 0..2 {
            answers[si].append(&mut main[si].atoms);
            for (_, o) in std::mem::take(&mut outs[si]) {
                answers[si].extend(o.atoms);
            }
        }
        let opname = op.to_string();
        if self.cfg.verbose {
            println!("[{index}] {opname}");
        }
        if let Err((at, why)) = self.maps.compare(&answers[0], &answers[1]) {
            return Err(Divergence {
                index,
                op: opname,
                reason: why,
                table: side_by_side(&answers[0], &answers[1], Some(at)),
            });
        }
        if let (Some(want), None) = (op.expect, rule) {
            let got = main[0].err.unwrap_or(i32::MIN);
            if got != want {
                return Err(Divergence {
                    index,
                    op: opname,
                    reason: format!("both servers answered {got}, the script expects {want}"),
                    table: side_by_side(&answers[0], &answers[1], None),
                });
            }
        }
        Ok(())
    }

    /// ZooKeeper 3.8 keeps one watch mode per connection and path, so a
    /// one-shot and a persistent watch, or a persistent and a recursive one,
    /// on the same path by the same session clobber each other
    /// (ZOOKEEPER-4466, fixed in 3.9; Corral keeps both).
    /// When an op is about to create that overlap, the op is compared as
    /// usual and then both connections are dropped, clearing the watches.
    fn watch_overlap(&self, slot: usize, act: &Act) -> Option<&'static str> {
        if !self.cfg.allow.has("watch-mode-overlap") {
            return None;
        }
        let act = trailing_inner(act);
        let (one_shot, persistent) = &self.watched[slot];
        let overlap = match act {
            Act::Exists { path, watch: true }
            | Act::Get { path, watch: true }
            | Act::Children { path, watch: true }
            | Act::Children2 { path, watch: true } => persistent.contains(path),
            // (A second addWatch of the same mode would be harmless; the
            // mode is not remembered, so any second one counts.)
            Act::AddWatch { path, .. } => one_shot.contains(path) || persistent.contains(path),
            _ => false,
        };
        overlap.then_some("watch-mode-overlap")
    }

    /// Remember which watches an op may have set.
    fn note_watch(&mut self, slot: usize, act: &Act) {
        let act = trailing_inner(act);
        let (one_shot, persistent) = &mut self.watched[slot];
        match act {
            Act::Exists { path, watch: true }
            | Act::Get { path, watch: true }
            | Act::Children { path, watch: true }
            | Act::Children2 { path, watch: true } => {
                one_shot.insert(path.clone());
            }
            Act::AddWatch { path, .. } => {
                persistent.insert(path.clone());
            }
            Act::Close => self.watched[slot] = Default::default(),
            _ => {}
        }
    }

    /// Whether ZooKeeper's answer is a listed, intended 3.8-vs-3.9 difference.
    fn allowed_rule(&self, act: &Act, zk: &Out, corral: &Out) -> Option<&'static str> {
        match (act, zk.err) {
            (Act::Check { .. }, Some(-6)) if self.cfg.allow.has("lone-check") => Some("lone-check"),
            (Act::RemoveWatches { wtype, .. } | Act::CheckWatches { wtype, .. }, Some(-5))
                if (*wtype == 4 || *wtype == 5) && self.cfg.allow.has("watch-type-4-5") =>
            {
                Some("watch-type-4-5")
            }
            (Act::CheckWatches { .. }, Some(0))
                if corral.err == Some(-121) && self.cfg.allow.has("checkwatches-other-session") =>
            {
                Some("checkwatches-other-session")
            }
            (Act::RemoveWatches { wtype, .. }, Some(0))
                if (*wtype == 1 || *wtype == 2)
                    && corral.err == Some(-121)
                    && self.cfg.allow.has("remove-persistent-by-type") =>
            {
                Some("remove-persistent-by-type")
            }
            _ => None,
        }
    }

    /// Close every session on both servers, also those whose connection is
    /// gone (resumed first): one left to expire would take a zxid in the
    /// middle of the next run's zxid.used measurement, on one server only.
    pub fn finish(mut self) {
        for side in self.sides.iter_mut() {
            for s in side.slots.iter_mut().filter_map(|s| s.as_mut()) {
                if s.conn.is_none()
                    && let Ok((Some(c), _)) =
                        Conn::handshake(&side.addr, s.id, s.passwd.clone(), s.timeout)
                {
                    s.conn = Some(c);
                }
                if let Some(c) = s.conn.as_mut() {
                    let _ = c.call(Request::CloseSession(Empty {}), None, &mut Vec::new());
                }
            }
            let _ = side
                .probe
                .call(Request::CloseSession(Empty {}), None, &mut Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_needs_known_rules_and_reasons() {
        let a = Allow::parse("# c\nlone-check 3.9 answers it\n\n").unwrap();
        assert!(a.has("lone-check"));
        assert!(!a.has("watch-type-4-5"));
        assert!(Allow::parse("lone-check").is_err());
        assert!(Allow::parse("made-up reason").is_err());
    }

    #[test]
    fn placeholder_strings_become_raw_bytes_with_their_length() {
        let s = format!("/r/a{}z", crate::ops::placeholder(0xff));
        let mut payload = vec![0, 0, 0, 7, 0, 0, 0, 4];
        payload.extend_from_slice(&(s.len() as i32).to_be_bytes());
        payload.extend_from_slice(s.as_bytes());
        payload.push(1);
        let out = replace_ustring(&payload, &s);
        let mut want = vec![0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 6];
        want.extend_from_slice(b"/r/a\xffz");
        want.push(1);
        assert_eq!(out, want);
    }

    #[test]
    fn acl_specs_expand_digest_ids() {
        let acl = acl_list("digest:alice:31,world:anyone:1");
        assert_eq!(acl.len(), 2);
        assert_eq!(acl[0].id.scheme, "digest");
        // base64(sha1("alice:alice-pw")), as ZooKeeper's DigestAuthenticationProvider computes it.
        assert!(acl[0].id.id.starts_with("alice:"));
        assert_eq!(acl[0].id.id.len(), "alice:".len() + 28);
        assert_eq!(acl_list("digest:=nocolon:31")[0].id.id, "nocolon");
        assert!(acl_list("none").is_empty());
        assert_eq!(acl_list("creator")[0].id.scheme, "auth");
    }
}
