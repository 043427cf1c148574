//! The operations the tester sends, as readable one-line text (the same form
//! the scripted cases are written in and repros are printed in), and the
//! seeded random generator.
//!
//! A line is `sN VERB [PATH] [key=value ...] [watch]`, or `sleep MS`.
//! Paths starting with `/` live under the run's private root; `!/zookeeper`
//! is the literal `/zookeeper`; anything else is sent as written (bad paths).
//! `data=TEXT`, `data=null`, `data=@N` (N bytes of `x`). `acl=open|read|creator|none`
//! or `scheme:id:perms,...` where a digest id is the user name (the tester
//! hashes `user:user-pw`). Multi ops: `s0 multi [ create /a ; delete /a v=0 ]`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Create,
    Create2,
    Container,
    Ttl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Null,
    Text(String),
    /// N bytes of `x`.
    Size(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Connect {
        timeout: i32,
    },
    Close,
    /// Drop the connection without closing the session, wait for expiry.
    Expire,
    /// Drop the connection and resume the session on a new one.
    Reconnect,
    Auth {
        cred: String,
    },
    Create {
        api: Api,
        path: String,
        data: Data,
        mode: i32,
        acl: String,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Get {
        path: String,
        watch: bool,
    },
    Set {
        path: String,
        data: Data,
        version: i32,
    },
    Children {
        path: String,
        watch: bool,
    },
    Children2 {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: String,
        version: i32,
    },
    Sync {
        path: String,
    },
    Check {
        path: String,
        version: i32,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    RemoveWatches {
        path: String,
        wtype: i32,
    },
    CheckWatches {
        path: String,
        wtype: i32,
    },
    Ephemerals {
        path: String,
    },
    Count {
        path: String,
    },
    WhoAmI,
    Multi(Vec<Act>),
    MultiRead(Vec<Act>),
    /// An op code with an empty body.
    Raw {
        op: i32,
    },
    Sleep {
        ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub slot: usize,
    pub act: Act,
    /// Scripted cases may state the error code both servers must answer.
    pub expect: Option<i32>,
}

impl Act {
    /// Whether the op can change server state (and so fire watches or reap).
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Act::Exists { .. }
                | Act::Get { .. }
                | Act::Children { .. }
                | Act::Children2 { .. }
                | Act::GetAcl { .. }
                | Act::Ephemerals { .. }
                | Act::Count { .. }
                | Act::WhoAmI
                | Act::MultiRead(_)
                | Act::Auth { .. }
        )
    }
}

fn q(s: &str) -> String {
    if s.is_empty() {
        "\"\"".into()
    } else {
        s.escape_default().to_string()
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Null => write!(f, "null"),
            Data::Text(t) => write!(f, "{}", q(t)),
            Data::Size(n) => write!(f, "@{n}"),
        }
    }
}

fn wflag(w: bool) -> &'static str {
    if w { " watch" } else { "" }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Connect { timeout } => write!(f, "connect timeout={timeout}"),
            Act::Close => write!(f, "close"),
            Act::Expire => write!(f, "expire"),
            Act::Reconnect => write!(f, "reconnect"),
            Act::Auth { cred } => write!(f, "auth {cred}"),
            Act::Create {
                api,
                path,
                data,
                mode,
                acl,
                ttl,
            } => {
                let verb = match api {
                    Api::Create => "create",
                    Api::Create2 => "create2",
                    Api::Container => "createContainer",
                    Api::Ttl => "createTTL",
                };
                write!(f, "{verb} {} mode={mode} data={data} acl={acl}", q(path))?;
                if *api == Api::Ttl {
                    write!(f, " ttl={ttl}")?;
                }
                Ok(())
            }
            Act::Delete { path, version } => write!(f, "delete {} v={version}", q(path)),
            Act::Exists { path, watch } => write!(f, "exists {}{}", q(path), wflag(*watch)),
            Act::Get { path, watch } => write!(f, "get {}{}", q(path), wflag(*watch)),
            Act::Set {
                path,
                data,
                version,
            } => {
                write!(f, "set {} data={data} v={version}", q(path))
            }
            Act::Children { path, watch } => write!(f, "children {}{}", q(path), wflag(*watch)),
            Act::Children2 { path, watch } => {
                write!(f, "children2 {}{}", q(path), wflag(*watch))
            }
            Act::GetAcl { path } => write!(f, "getacl {}", q(path)),
            Act::SetAcl { path, acl, version } => {
                write!(f, "setacl {} acl={acl} v={version}", q(path))
            }
            Act::Sync { path } => write!(f, "sync {}", q(path)),
            Act::Check { path, version } => write!(f, "check {} v={version}", q(path)),
            Act::AddWatch { path, mode } => write!(f, "addwatch {} mode={mode}", q(path)),
            Act::RemoveWatches { path, wtype } => {
                write!(f, "removewatches {} type={wtype}", q(path))
            }
            Act::CheckWatches { path, wtype } => {
                write!(f, "checkwatches {} type={wtype}", q(path))
            }
            Act::Ephemerals { path } => write!(f, "ephemerals {}", q(path)),
            Act::Count { path } => write!(f, "count {}", q(path)),
            Act::WhoAmI => write!(f, "whoami"),
            Act::Multi(ops) | Act::MultiRead(ops) => {
                let verb = if matches!(self, Act::Multi(_)) {
                    "multi"
                } else {
                    "multiread"
                };
                write!(f, "{verb} [")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ;")?;
                    }
                    write!(f, " {op}")?;
                }
                write!(f, " ]")
            }
            Act::Raw { op } => write!(f, "raw op={op}"),
            Act::Sleep { ms } => write!(f, "sleep {ms}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Act::Sleep { .. } = self.act {
            write!(f, "{}", self.act)?;
        } else {
            write!(f, "s{} {}", self.slot, self.act)?;
        }
        if let Some(e) = self.expect {
            write!(f, " => {e}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- parsing

fn unescape(s: &str) -> Result<String, String> {
    if s == "\"\"" {
        return Ok(String::new());
    }
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('u') => {
                let rest: String = it.by_ref().take_while(|c| *c != '}').collect();
                let hex = rest.trim_start_matches('{');
                let n = u32::from_str_radix(hex, 16).map_err(|e| format!("bad \\u: {e}"))?;
                out.push(char::from_u32(n).ok_or("bad \\u")?);
            }
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_data(v: &str) -> Result<Data, String> {
    if v == "null" {
        Ok(Data::Null)
    } else if let Some(n) = v.strip_prefix('@') {
        Ok(Data::Size(n.parse().map_err(|e| format!("data=@N: {e}"))?))
    } else {
        Ok(Data::Text(unescape(v)?))
    }
}

struct Args<'a> {
    pos: Vec<&'a str>,
    kv: Vec<(&'a str, &'a str)>,
    flags: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn new(words: &[&'a str]) -> Self {
        let mut a = Args {
            pos: vec![],
            kv: vec![],
            flags: vec![],
        };
        for w in words {
            if let Some((k, v)) = w
                .split_once('=')
                .filter(|(k, _)| !k.is_empty() && !k.starts_with('/'))
            {
                a.kv.push((k, v));
            } else if *w == "watch" {
                a.flags.push(w);
            } else {
                a.pos.push(w);
            }
        }
        a
    }
    fn path(&self) -> Result<String, String> {
        unescape(self.pos.first().ok_or("missing path")?)
    }
    fn get(&self, k: &str) -> Option<&'a str> {
        self.kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("bad {k}={v}")),
        }
    }
    fn watch(&self) -> bool {
        !self.flags.is_empty()
    }
    fn data(&self) -> Result<Data, String> {
        self.get("data")
            .map_or(Ok(Data::Text(String::new())), parse_data)
    }
}

fn parse_act(words: &[&str]) -> Result<Act, String> {
    let (verb, rest) = words.split_first().ok_or("empty op")?;
    let a = Args::new(rest);
    let create = |api: Api| -> Result<Act, String> {
        let default_mode = match api {
            Api::Container => 4,
            Api::Ttl => 5,
            _ => 0,
        };
        Ok(Act::Create {
            api,
            path: a.path()?,
            data: a.data()?,
            mode: a.num("mode", default_mode)?,
            acl: a.get("acl").unwrap_or("open").to_string(),
            ttl: a.num("ttl", 3_600_000)?,
        })
    };
    Ok(match *verb {
        "connect" => Act::Connect {
            timeout: a.num("timeout", 4000)?,
        },
        "close" => Act::Close,
        "expire" => Act::Expire,
        "reconnect" => Act::Reconnect,
        "auth" => Act::Auth {
            cred: a.pos.first().ok_or("auth USER[:PW]")?.to_string(),
        },
        "create" => create(Api::Create)?,
        "create2" => create(Api::Create2)?,
        "createContainer" => create(Api::Container)?,
        "createTTL" => create(Api::Ttl)?,
        "delete" => Act::Delete {
            path: a.path()?,
            version: a.num("v", -1)?,
        },
        "exists" => Act::Exists {
            path: a.path()?,
            watch: a.watch(),
        },
        "get" => Act::Get {
            path: a.path()?,
            watch: a.watch(),
        },
        "set" => Act::Set {
            path: a.path()?,
            data: a.data()?,
            version: a.num("v", -1)?,
        },
        "children" => Act::Children {
            path: a.path()?,
            watch: a.watch(),
        },
        "children2" => Act::Children2 {
            path: a.path()?,
            watch: a.watch(),
        },
        "getacl" => Act::GetAcl { path: a.path()? },
        "setacl" => Act::SetAcl {
            path: a.path()?,
            acl: a.get("acl").unwrap_or("open").to_string(),
            version: a.num("v", -1)?,
        },
        "sync" => Act::Sync { path: a.path()? },
        "check" => Act::Check {
            path: a.path()?,
            version: a.num("v", -1)?,
        },
        "addwatch" => Act::AddWatch {
            path: a.path()?,
            mode: a.num("mode", 0)?,
        },
        "removewatches" => Act::RemoveWatches {
            path: a.path()?,
            wtype: a.num("type", 3)?,
        },
        "checkwatches" => Act::CheckWatches {
            path: a.path()?,
            wtype: a.num("type", 3)?,
        },
        "ephemerals" => Act::Ephemerals { path: a.path()? },
        "count" => Act::Count { path: a.path()? },
        "whoami" => Act::WhoAmI,
        "raw" => Act::Raw {
            op: a.num("op", 99)?,
        },
        "multi" | "multiread" => {
            let inner = rest.join(" ");
            let inner = inner.trim();
            let inner = inner
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or("multi [ op ; op ]")?;
            let mut ops = Vec::new();
            for part in inner.split(" ; ") {
                let ws: Vec<&str> = part.split_whitespace().collect();
                if ws.is_empty() {
                    continue;
                }
                ops.push(parse_act(&ws)?);
            }
            if *verb == "multi" {
                Act::Multi(ops)
            } else {
                Act::MultiRead(ops)
            }
        }
        other => return Err(format!("unknown verb {other:?}")),
    })
}

/// Parse one op line (without comments).
pub fn parse_op(line: &str) -> Result<Op, String> {
    let (line, expect) = match line.rsplit_once(" => ") {
        Some((l, e)) => (
            l,
            Some(
                e.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("bad expectation {e:?}"))?,
            ),
        ),
        None => (line, None),
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let (first, rest) = words.split_first().ok_or("empty line")?;
    if *first == "sleep" {
        let ms = rest
            .first()
            .ok_or("sleep MS")?
            .parse()
            .map_err(|_| "sleep MS")?;
        return Ok(Op {
            slot: 0,
            act: Act::Sleep { ms },
            expect,
        });
    }
    let slot = first
        .strip_prefix('s')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < 16)
        .ok_or_else(|| format!("expected sN (N < 16), got {first:?}"))?;
    Ok(Op {
        slot,
        act: parse_act(rest)?,
        expect,
    })
}

/// A scripted case: a name and its ops.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub ops: Vec<Op>,
}

/// Parse a script file: `case NAME` starts a case, `#` starts a comment.
pub fn parse_script(text: &str) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("case ") {
            cases.push(Case {
                name: name.trim().to_string(),
                ops: vec![],
            });
            continue;
        }
        let case = cases
            .last_mut()
            .ok_or(format!("line {}: op before any `case`", n + 1))?;
        case.ops
            .push(parse_op(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(cases)
}

// ---------------------------------------------------------------- generator

/// splitmix64: tiny, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const NAMES: &[&str] = &[
    "/a",
    "/b",
    "/c",
    "/a/x",
    "/a/y",
    "/b/x",
    "/a/x/q",
    "/c/k",
    "/a/s-",
    "/a/s-0000000000",
    "/a/s-0000000001",
    "/a/s-0000000002",
    "/c/k0000000000",
    "/c/k0000000001",
];
const BAD_PATHS: &[&str] = &[
    "",
    "a",
    "/a/",
    "//a",
    "/a/./b",
    "/a/../b",
    "/a/\u{1}",
    "/a\u{0}b",
    "!/zookeeper",
    "!/zookeeper/config",
    "!/zookeeper/quota",
    "!/zookeeper/nope",
];
const USERS: &[&str] = &["alice", "bob"];
/// The slot whose sessions use a short timeout and may be expired.
pub const SHORT_SLOT: usize = 2;
pub const SESSIONS: usize = 3;

fn gen_path(r: &mut Rng) -> String {
    if r.chance(4) {
        r.pick(BAD_PATHS).to_string()
    } else if r.chance(3) {
        "/".into()
    } else {
        r.pick(NAMES).to_string()
    }
}

fn gen_data(r: &mut Rng) -> Data {
    match r.below(20) {
        0 => Data::Null,
        1 => Data::Size(*r.pick(&[1_048_000, 1_048_575, 1_100_000])),
        2 => Data::Size(2000),
        _ => Data::Text(r.pick(&["", "v1", "v2", "hello", "x"]).to_string()),
    }
}

fn gen_acl(r: &mut Rng) -> String {
    match r.below(30) {
        0..=19 => "open".into(),
        20..=21 => "read".into(),
        22..=23 => "creator".into(),
        24..=25 => format!("digest:{}:31", r.pick(USERS)),
        26 => format!("digest:{}:1,world:anyone:1", r.pick(USERS)),
        27 => "none".into(),
        28 => "ip:127.0.0.1:31".into(),
        _ => r
            .pick(&[
                "world:nobody:31",
                "digest:=nocolon:31",
                "ip:1.2.3:31",
                "world:anyone:0",
                "world:anyone:99",
            ])
            .to_string(),
    }
}

fn gen_version(r: &mut Rng) -> i32 {
    match r.below(4) {
        0 | 1 => -1,
        _ => r.below(3) as i32,
    }
}

fn gen_create(r: &mut Rng) -> Act {
    let api = *r.pick(&[
        Api::Create,
        Api::Create,
        Api::Create2,
        Api::Create2,
        Api::Container,
        Api::Ttl,
    ]);
    let mode = match api {
        Api::Container => {
            if r.chance(90) {
                4
            } else {
                r.below(7) as i32
            }
        }
        Api::Ttl => {
            if r.chance(90) {
                *r.pick(&[5, 6])
            } else {
                r.below(7) as i32
            }
        }
        _ => {
            if r.chance(93) {
                r.below(4) as i32
            } else {
                *r.pick(&[4, 5, 6, 7, -1])
            }
        }
    };
    let ttl = if r.chance(90) {
        3_600_000
    } else {
        *r.pick(&[0, -5, 1 << 40])
    };
    let ttl = if api == Api::Ttl { ttl } else { 3_600_000 };
    Act::Create {
        api,
        path: gen_path(r),
        data: gen_data(r),
        mode,
        acl: gen_acl(r),
        ttl,
    }
}

fn gen_sub(r: &mut Rng) -> Act {
    match r.below(10) {
        0..=3 => gen_create(r),
        4..=5 => Act::Delete {
            path: gen_path(r),
            version: gen_version(r),
        },
        6..=7 => Act::Set {
            path: gen_path(r),
            data: gen_data(r),
            version: gen_version(r),
        },
        _ => Act::Check {
            path: gen_path(r),
            version: gen_version(r),
        },
    }
}

fn gen_read_sub(r: &mut Rng) -> Act {
    if r.chance(50) {
        Act::Get {
            path: gen_path(r),
            watch: false,
        }
    } else {
        Act::Children {
            path: gen_path(r),
            watch: false,
        }
    }
}

/// A seeded workload of `n` ops over a small namespace, on [`SESSIONS`] slots.
pub fn generate(seed: u64, n: usize) -> Vec<Op> {
    let mut r = Rng::new(seed);
    let mut ops = Vec::with_capacity(n + SESSIONS);
    let mut live = [false; SESSIONS];
    let timeout = |slot: usize| if slot == SHORT_SLOT { 800 } else { 4000 };
    for (slot, l) in live.iter_mut().enumerate() {
        ops.push(Op {
            slot,
            act: Act::Connect {
                timeout: timeout(slot),
            },
            expect: None,
        });
        *l = true;
    }
    while ops.len() < n {
        let slot = r.below(SESSIONS);
        if !live[slot] {
            ops.push(Op {
                slot,
                act: Act::Connect {
                    timeout: timeout(slot),
                },
                expect: None,
            });
            live[slot] = true;
            continue;
        }
        let act = match r.below(100) {
            0..=17 => gen_create(&mut r),
            18..=25 => Act::Delete {
                path: gen_path(&mut r),
                version: gen_version(&mut r),
            },
            26..=33 => Act::Set {
                path: gen_path(&mut r),
                data: gen_data(&mut r),
                version: gen_version(&mut r),
            },
            34..=38 => Act::Exists {
                path: gen_path(&mut r),
                watch: r.chance(60),
            },
            39..=43 => Act::Get {
                path: gen_path(&mut r),
                watch: r.chance(60),
            },
            44..=47 => Act::Children {
                path: gen_path(&mut r),
                watch: r.chance(60),
            },
            48..=50 => Act::Children2 {
                path: gen_path(&mut r),
                watch: r.chance(60),
            },
            51..=53 => Act::AddWatch {
                path: gen_path(&mut r),
                mode: if r.chance(95) { r.below(2) as i32 } else { 7 },
            },
            54..=55 => Act::RemoveWatches {
                path: gen_path(&mut r),
                wtype: r.below(4) as i32,
            },
            56 => Act::CheckWatches {
                path: gen_path(&mut r),
                wtype: 1 + r.below(3) as i32,
            },
            57..=64 => {
                let k = 1 + r.below(4);
                Act::Multi((0..k).map(|_| gen_sub(&mut r)).collect())
            }
            65..=67 => {
                let k = 1 + r.below(3);
                Act::MultiRead((0..k).map(|_| gen_read_sub(&mut r)).collect())
            }
            68..=70 => Act::GetAcl {
                path: gen_path(&mut r),
            },
            71..=73 => Act::SetAcl {
                path: gen_path(&mut r),
                acl: gen_acl(&mut r),
                version: gen_version(&mut r),
            },
            74..=75 => {
                let u = *r.pick(USERS);
                let cred = if r.chance(80) {
                    u.to_string()
                } else {
                    format!("{u}:wrong")
                };
                Act::Auth { cred }
            }
            76 => Act::Sync {
                path: gen_path(&mut r),
            },
            77..=78 => Act::Ephemerals {
                path: r.pick(&["/", "/a", "/a/", "/b"]).to_string(),
            },
            79..=80 => Act::Count {
                path: gen_path(&mut r),
            },
            81 => Act::WhoAmI,
            82 => Act::Multi(vec![]),
            83 => Act::Raw {
                op: *r.pick(&[10, 23, 99, 108, 1000, -3]),
            },
            84 => Act::Reconnect,
            85 => {
                live[slot] = false;
                Act::Close
            }
            86 if slot == SHORT_SLOT && r.chance(25) => {
                live[slot] = false;
                Act::Expire
            }
            _ => Act::Exists {
                path: gen_path(&mut r),
                watch: false,
            },
        };
        ops.push(Op {
            slot,
            act,
            expect: None,
        });
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ops_print_and_parse_back() {
        for seed in 0..20 {
            for op in generate(seed, 300) {
                let text = op.to_string();
                let back = parse_op(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(back, op, "{text}");
            }
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(generate(7, 200), generate(7, 200));
        assert_ne!(generate(7, 200), generate(8, 200));
    }

    #[test]
    fn scripts_parse_with_cases_comments_and_expectations() {
        let text = "# c\ncase one\ns0 create /a data=x => 0\ns0 multi [ create /a/b ; delete /a/b ] # both\nsleep 10\ncase two\ns1 get /a watch\n";
        let cases = parse_script(text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].ops.len(), 3);
        assert_eq!(cases[0].ops[0].expect, Some(0));
        assert!(matches!(&cases[0].ops[1].act, Act::Multi(v) if v.len() == 2));
        assert_eq!(cases[1].ops[0].slot, 1);
    }
}
