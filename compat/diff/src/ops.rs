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
//!
//! Raw bytes that are not UTF-8 are written `\xNN` in paths, ACL specs and auth
//! fields; in memory each such byte is the placeholder char U+10FF00 + NN
//! ([`placeholder`]), turned back into the single byte when the request is
//! encoded. `auth [scheme=S] CRED`: CRED `user` (digest `user:user-pw`),
//! `user:pw`, `=literal` (sent as written, `=` alone is empty) or `null`.
//! `malformed keep=N|drop=N|trail=HEX OP`: OP's frame cut to its first N
//! bytes (N < 8: shorter than the request header), its body without its last
//! N bytes, or with HEX bytes appended. `badresume`: a second connection
//! presents the slot's live session id with a wrong password.

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
        scheme: String,
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
    /// A request whose encoding is cut or extended.
    Malformed {
        cut: Cut,
        inner: Box<Act>,
    },
    /// A second connection resumes the slot's live session with a wrong password.
    BadResume,
    Sleep {
        ms: u64,
    },
}

/// How a [`Act::Malformed`] request is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// Keep only the first N bytes of the frame (header included); N < 8.
    Keep(usize),
    /// Drop the last N bytes of the body (all of it when N is larger).
    Drop(usize),
    /// Append these bytes after a valid body.
    Trail(Vec<u8>),
}

/// The char standing for raw byte `b` in paths and other strings.
pub fn placeholder(b: u8) -> char {
    char::from_u32(0x10_FF00 + u32::from(b)).expect("valid scalar")
}

/// The byte a placeholder char stands for.
pub fn placeholder_byte(c: char) -> Option<u8> {
    let n = u32::from(c);
    (0x10_FF00..=0x10_FFFF)
        .contains(&n)
        .then(|| (n - 0x10_FF00) as u8)
}

/// The wire bytes of a string that may hold placeholders.
pub fn raw_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match placeholder_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

pub fn has_placeholder(s: &str) -> bool {
    s.chars().any(|c| placeholder_byte(c).is_some())
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
        if let Act::Malformed { inner, .. } = self {
            return inner.is_write();
        }
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
                | Act::BadResume
                // No txn: the reply header carries the server's last zxid,
                // which background expiries and reaping move.
                | Act::AddWatch { .. }
                | Act::RemoveWatches { .. }
                | Act::CheckWatches { .. }
                | Act::Sync { .. }
        )
    }

    /// The paths the op names (multi ops included).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Act::Create { path, .. }
            | Act::Delete { path, .. }
            | Act::Exists { path, .. }
            | Act::Get { path, .. }
            | Act::Set { path, .. }
            | Act::Children { path, .. }
            | Act::Children2 { path, .. }
            | Act::GetAcl { path }
            | Act::SetAcl { path, .. }
            | Act::Sync { path }
            | Act::Check { path, .. }
            | Act::AddWatch { path, .. }
            | Act::RemoveWatches { path, .. }
            | Act::CheckWatches { path, .. }
            | Act::Ephemerals { path }
            | Act::Count { path } => vec![path.as_str()],
            Act::Multi(ops) | Act::MultiRead(ops) => ops.iter().flat_map(|o| o.paths()).collect(),
            Act::Malformed { inner, .. } => inner.paths(),
            _ => vec![],
        }
    }

    /// An op of the rarely-exercised classes whose zxid use is checked
    /// directly (the server's last zxid before and after): damaged requests,
    /// strings that are not UTF-8, reads inside multi or writes inside
    /// multiRead, auth, wrong-password resumes.
    pub fn is_odd(&self) -> bool {
        let mixed = |ops: &[Act], want_write: bool| ops.iter().any(|o| o.is_write() != want_write);
        match self {
            Act::Malformed { .. } | Act::Auth { .. } | Act::BadResume => true,
            Act::Multi(ops) if mixed(ops, true) => true,
            Act::MultiRead(ops) if mixed(ops, false) => true,
            Act::Create { acl, .. } | Act::SetAcl { acl, .. } if has_placeholder(acl) => true,
            _ => self
                .paths()
                .iter()
                .any(|p| has_placeholder(p) || !p.is_ascii()),
        }
    }
}

fn q(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".into();
    }
    let mut out = String::new();
    for c in s.chars() {
        match placeholder_byte(c) {
            Some(b) => out.push_str(&format!("\\x{b:02x}")),
            None => out.extend(c.escape_default()),
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}")))
        .collect()
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Keep(n) => write!(f, "keep={n}"),
            Cut::Drop(n) => write!(f, "drop={n}"),
            Cut::Trail(b) => write!(f, "trail={}", hex(b)),
        }
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
            Act::Auth { scheme, cred } => {
                if scheme == "digest" {
                    write!(f, "auth {}", q(cred))
                } else {
                    write!(f, "auth scheme={} {}", q(scheme), q(cred))
                }
            }
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
                write!(
                    f,
                    "{verb} {} mode={mode} data={data} acl={}",
                    q(path),
                    q(acl)
                )?;
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
                write!(f, "setacl {} acl={} v={version}", q(path), q(acl))
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
            Act::Malformed { cut, inner } => write!(f, "malformed {cut} {inner}"),
            Act::BadResume => write!(f, "badresume"),
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
            Some('x') => {
                let h: String = it.by_ref().take(2).collect();
                let b = u8::from_str_radix(&h, 16).map_err(|e| format!("bad \\x{h}: {e}"))?;
                out.push(placeholder(b));
            }
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
            acl: unescape(a.get("acl").unwrap_or("open"))?,
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
            scheme: unescape(a.get("scheme").unwrap_or("digest"))?,
            cred: unescape(a.pos.first().ok_or("auth [scheme=S] CRED")?)?,
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
            acl: unescape(a.get("acl").unwrap_or("open"))?,
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
        "badresume" => Act::BadResume,
        "malformed" => {
            let (how, inner) = rest
                .split_first()
                .ok_or("malformed keep=N|drop=N|trail=HEX OP")?;
            let (k, v) = how
                .split_once('=')
                .ok_or("malformed keep=N|drop=N|trail=HEX OP")?;
            let n = || v.parse::<usize>().map_err(|_| format!("bad {how}"));
            let cut = match k {
                "keep" => Cut::Keep(n()?),
                "drop" => Cut::Drop(n()?),
                "trail" => Cut::Trail(unhex(v)?),
                _ => return Err(format!("bad malformed {how}")),
            };
            Act::Malformed {
                cut,
                inner: Box::new(parse_act(inner)?),
            }
        }
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

/// Byte sequences that are not UTF-8: lone and truncated leads, stray
/// continuations, overlong forms, encoded surrogates (where Java's decoder and
/// Rust's `from_utf8_lossy` replace differently), values above U+10FFFF.
const BAD_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xa0\xbd\xed\xb8\x80",
    b"\xed\xa0",
    b"\xed\xbf\xbf",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
    b"\x80\x80\x80",
    b"\xfe\xff",
    b"\xc1\xbf",
];
/// Valid chars ZooKeeper's path check refuses (supplementary, U+FFFD, private
/// use, C1 controls) or accepts (the last three).
const ODD_CHARS: &[char] = &[
    '\u{1F600}',
    '\u{FFFD}',
    '\u{E000}',
    '\u{85}',
    '\u{F8FF}',
    '\u{FFF0}',
    '\u{E9}',
    '\u{D7FF}',
    '\u{FFEF}',
];

/// A path with bytes that are not UTF-8 (or odd chars) at a random place.
fn gen_bad_utf8_path(r: &mut Rng) -> String {
    let base: Vec<char> = r.pick(NAMES).chars().collect();
    let insert: String = match r.below(20) {
        0..=14 => r.pick(BAD_UTF8).iter().map(|b| placeholder(*b)).collect(),
        15..=16 => (0..1 + r.below(3))
            .map(|_| placeholder(0x80 + r.below(0x80) as u8))
            .collect(),
        _ => r.pick(ODD_CHARS).to_string(),
    };
    let at = 1 + r.below(base.len());
    let mut out: String = base[..at].iter().collect();
    out.push_str(&insert);
    out.extend(&base[at..]);
    out
}

fn gen_path(r: &mut Rng) -> String {
    if r.chance(2) {
        gen_bad_utf8_path(r)
    } else if r.chance(4) {
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
        _ if r.chance(20) => {
            let ff = placeholder(0xff);
            match r.below(3) {
                0 => format!("world:=anyon{ff}:31"),
                1 => format!("digest:=u{ff}:x1oAtyOyTd9Z2xMWsRCgdW3Fn0c=:31"),
                _ => format!("ip:=1.2.3.{ff}:31"),
            }
        }
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
    // ZooKeeper 3.8.0 lets a createTTL with a non-TTL mode and a negative TTL
    // through its checks, then dies applying it (and cannot restart on that
    // log): never send one.
    let ttl = if api == Api::Ttl && !matches!(mode, 5 | 6) && ttl < 0 {
        3_600_000
    } else {
        ttl
    };
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
    if r.chance(3) {
        // A read inside a multi: ZooKeeper refuses the whole request.
        return gen_read_sub(r);
    }
    gen_write_sub(r)
}

fn gen_write_sub(r: &mut Rng) -> Act {
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
    if r.chance(3) {
        // A write inside a multiRead: refused as a whole.
        return gen_write_sub(r);
    }
    gen_read_sub_plain(r)
}

fn gen_read_sub_plain(r: &mut Rng) -> Act {
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

/// Auth with any scheme and credential: digest good, wrong, malformed; ip with
/// anything; world, super, sasl, x509, unknown; strings that are not UTF-8.
fn gen_auth(r: &mut Rng) -> Act {
    let ff = placeholder(0xff);
    let (scheme, cred): (&str, String) = match r.below(14) {
        0..=3 => ("digest", r.pick(USERS).to_string()),
        4 => ("digest", format!("{}:wrong", r.pick(USERS))),
        5 => (
            "digest",
            r.pick(&["=nocolon", "=", "null", "=:", "=a:b:c"])
                .to_string(),
        ),
        6..=7 => (
            "ip",
            r.pick(&["=1.2.3.4", "=", "=garbage", "=127.0.0.1", "null"])
                .to_string(),
        ),
        8 => ("world", r.pick(&["=anyone", "="]).to_string()),
        9 => ("super", "=x".to_string()),
        10 => (
            *r.pick(&["sasl", "x509", "foo", "", "IP", "DIGEST"]),
            "=x".into(),
        ),
        11 => ("digest", format!("=u{ff}:p")),
        12 => (
            "digest",
            format!(
                "={}:p",
                r.pick(BAD_UTF8)
                    .iter()
                    .map(|b| placeholder(*b))
                    .collect::<String>()
            ),
        ),
        _ => {
            return Act::Auth {
                scheme: format!("dig{ff}est"),
                cred: "=u:p".into(),
            };
        }
    };
    Act::Auth {
        scheme: scheme.to_string(),
        cred,
    }
}

/// Any single request (not session control, not a lone check).
fn gen_request(r: &mut Rng) -> Act {
    match r.below(20) {
        0..=3 => gen_create(r),
        4 => Act::Delete {
            path: gen_path(r),
            version: gen_version(r),
        },
        5 => Act::Set {
            path: gen_path(r),
            data: gen_data(r),
            version: gen_version(r),
        },
        6 => Act::Exists {
            path: gen_path(r),
            watch: r.chance(50),
        },
        7 => Act::Get {
            path: gen_path(r),
            watch: r.chance(50),
        },
        8 => Act::Children {
            path: gen_path(r),
            watch: r.chance(50),
        },
        9 => Act::Children2 {
            path: gen_path(r),
            watch: false,
        },
        10 => Act::GetAcl { path: gen_path(r) },
        11 => Act::SetAcl {
            path: gen_path(r),
            acl: gen_acl(r),
            version: gen_version(r),
        },
        12 => Act::Sync { path: gen_path(r) },
        13 => Act::AddWatch {
            path: gen_path(r),
            mode: r.below(2) as i32,
        },
        14 => {
            let path = gen_path(r);
            let wtype = 1 + r.below(3) as i32;
            if r.chance(50) {
                Act::RemoveWatches { path, wtype }
            } else {
                Act::CheckWatches { path, wtype }
            }
        }
        15 => Act::Ephemerals {
            path: r.pick(&["/", "/a"]).to_string(),
        },
        16 => Act::Count { path: gen_path(r) },
        17 => {
            let k = 1 + r.below(3);
            refused_small(if r.chance(60) {
                Act::Multi((0..k).map(|_| gen_sub(r)).collect())
            } else {
                Act::MultiRead((0..k).map(|_| gen_read_sub(r)).collect())
            })
        }
        18 => gen_auth(r),
        _ => Act::WhoAmI,
    }
}

/// `act` with every data field of more than 2000 bytes cut to 2000.
/// ZooKeeper logs the whole request buffer in hex when it fails to decode or
/// process one (MarshallingError), which for a 1 MB request takes longer
/// than the short-timeout slot's session timeout.
fn small_data(act: Act) -> Act {
    let cut = |d: Data| match d {
        Data::Size(n) if n > 2000 => Data::Size(2000),
        d => d,
    };
    match act {
        Act::Create {
            api,
            path,
            data,
            mode,
            acl,
            ttl,
        } => Act::Create {
            api,
            path,
            data: cut(data),
            mode,
            acl,
            ttl,
        },
        Act::Set {
            path,
            data,
            version,
        } => Act::Set {
            path,
            data: cut(data),
            version,
        },
        Act::Multi(v) => Act::Multi(v.into_iter().map(small_data).collect()),
        Act::MultiRead(v) => Act::MultiRead(v.into_iter().map(small_data).collect()),
        a => a,
    }
}

/// A multi with a read or a multiRead with a write is refused as a whole
/// (MarshallingError): keep its data small (see [`small_data`]).
fn refused_small(act: Act) -> Act {
    let refused = match &act {
        Act::Multi(v) => v.iter().any(|a| !a.is_write()),
        Act::MultiRead(v) => v.iter().any(Act::is_write),
        _ => false,
    };
    if refused { small_data(act) } else { act }
}

/// A request whose encoding is cut short (inside the header or the body) or
/// carries trailing bytes.
fn gen_malformed(r: &mut Rng) -> Act {
    let inner = Box::new(small_data(gen_request(r)));
    let cut = match r.below(20) {
        0..=1 => Cut::Keep(r.below(8)),
        2..=12 => Cut::Drop(if r.chance(85) {
            1 + r.below(12)
        } else {
            10_000
        }),
        _ => Cut::Trail((0..1 + r.below(6)).map(|_| r.below(256) as u8).collect()),
    };
    Act::Malformed { cut, inner }
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
        // Ops that go right after this one on the same slot.
        let mut follow = Vec::new();
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
                refused_small(Act::Multi((0..k).map(|_| gen_sub(&mut r)).collect()))
            }
            65..=67 => {
                let k = 1 + r.below(3);
                refused_small(Act::MultiRead(
                    (0..k).map(|_| gen_read_sub(&mut r)).collect(),
                ))
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
                Act::Auth {
                    scheme: "digest".into(),
                    cred,
                }
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
            87..=88 => gen_malformed(&mut r),
            89..=90 => {
                // Then what the identities decide: whoAmI, an ACL-checked read.
                if r.chance(60) {
                    follow.push(Act::WhoAmI);
                }
                if r.chance(40) {
                    follow.push(Act::Get {
                        path: r.pick(NAMES).to_string(),
                        watch: false,
                    });
                }
                gen_auth(&mut r)
            }
            91 => {
                follow.push(Act::WhoAmI);
                Act::BadResume
            }
            92 => {
                // A multi with a read at a random place.
                let mut subs: Vec<Act> = (0..r.below(3)).map(|_| gen_write_sub(&mut r)).collect();
                let at = r.below(subs.len() + 1);
                subs.insert(at, gen_read_sub_plain(&mut r));
                small_data(Act::Multi(subs))
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
        for act in follow {
            ops.push(Op {
                slot,
                act,
                expect: None,
            });
        }
    }
    ops.truncate(n.max(SESSIONS));
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
    fn raw_bytes_round_trip_through_text() {
        let op = parse_op(r"s0 create /a\xff\xed\xa0\x80z acl=ip:=1.2.3.\xfe:31").unwrap();
        let Act::Create { path, acl, .. } = &op.act else {
            panic!("{op:?}")
        };
        assert_eq!(raw_bytes(path), b"/a\xff\xed\xa0\x80z");
        assert_eq!(raw_bytes(acl), b"ip:=1.2.3.\xfe:31");
        assert_eq!(
            op.to_string(),
            r#"s0 create /a\xff\xed\xa0\x80z mode=0 data="" acl=ip:=1.2.3.\xfe:31"#
        );
        assert!(op.act.is_odd());
        let auth = parse_op(r#"s1 auth scheme="" =u\xff:p"#).unwrap();
        assert_eq!(
            auth.act,
            Act::Auth {
                scheme: String::new(),
                cred: format!("=u{}:p", placeholder(0xff))
            }
        );
        let m = parse_op("s0 malformed trail=dead multi [ create /a ; get /a ]").unwrap();
        assert!(
            matches!(&m.act, Act::Malformed { cut: Cut::Trail(b), inner }
            if b == &[0xde, 0xad] && matches!(**inner, Act::Multi(ref v) if v.len() == 2))
        );
        assert_eq!(parse_op(&m.to_string()).unwrap(), m);
        assert_eq!(parse_op("s2 badresume").unwrap().act, Act::BadResume);
    }

    #[test]
    fn every_new_class_is_generated() {
        let ops: Vec<Op> = (1..=10).flat_map(|s| generate(s, 400)).collect();
        let any = |f: &dyn Fn(&Act) -> bool| ops.iter().any(|o| f(&o.act));
        let sub_read = |v: &[Act]| v.iter().any(|a| !a.is_write());
        assert!(any(&|a| matches!(
            a,
            Act::Malformed {
                cut: Cut::Drop(_),
                ..
            }
        )));
        assert!(any(&|a| matches!(
            a,
            Act::Malformed {
                cut: Cut::Trail(_),
                ..
            }
        )));
        assert!(any(&|a| matches!(
            a,
            Act::Malformed {
                cut: Cut::Keep(_),
                ..
            }
        )));
        assert!(any(&|a| matches!(a, Act::Multi(v) if sub_read(v))));
        assert!(any(
            &|a| matches!(a, Act::MultiRead(v) if v.iter().any(Act::is_write))
        ));
        assert!(any(&|a| a.paths().iter().any(|p| has_placeholder(p))));
        for scheme in ["digest", "ip", "world", "super"] {
            assert!(
                any(&|a| matches!(a, Act::Auth { scheme: s, .. } if s == scheme)),
                "{scheme}"
            );
        }
        assert!(any(&|a| matches!(a, Act::BadResume)));
    }

    #[test]
    fn never_a_create_ttl_that_kills_zookeeper() {
        fn bad(a: &Act) -> bool {
            match a {
                Act::Create {
                    api: Api::Ttl,
                    mode,
                    ttl,
                    ..
                } => !matches!(mode, 5 | 6) && *ttl < 0,
                Act::Multi(v) | Act::MultiRead(v) => v.iter().any(bad),
                Act::Malformed { inner, .. } => bad(inner),
                _ => false,
            }
        }
        for seed in 0..300 {
            assert!(
                !generate(seed, 400).iter().any(|o| bad(&o.act)),
                "seed {seed}"
            );
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
