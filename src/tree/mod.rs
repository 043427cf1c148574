//! The znode tree and everything that changes it: the deterministic core.
//!
//! Same commands in, same tree, results and changes out, on every replica:
//! nothing in here reads a clock, draws a random number, does I/O or depends
//! on hash-map iteration order. Time and passwords arrive inside commands.

pub mod acl;
mod apply;
mod blob;
mod children;
mod nodes;
pub mod path;
mod read;
#[cfg(test)]
mod tests;
mod totals;
pub mod txn;
pub mod znode;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use std::sync::Arc;

use jute::Acl;
use serde::{Deserialize, Serialize};

pub use nodes::Node;
use nodes::Nodes;
use totals::Totals;
pub use txn::{
    Applied, Change, ChangeKind, Command, Origin, Outcome, Owner, Txn, WriteOp, WriteResult,
};
pub use znode::{AclList, Kind, Znode};

/// A session as every replica knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Negotiated timeout, ms.
    pub timeout: i32,
    pub passwd: [u8; 16],
    /// Paths of this session's ephemeral nodes.
    pub ephemerals: BTreeSet<String>,
    /// The connection the session is attached to (all zero when unknown:
    /// sessions from before owners were recorded, which any connection may use).
    pub owner: Owner,
}

/// The session layout in snapshots written before owners were recorded.
#[derive(Deserialize)]
struct SessionRecordV1 {
    timeout: i32,
    passwd: [u8; 16],
    ephemerals: BTreeSet<String>,
}

/// The tree layout in snapshots written before sessions had owners.
#[derive(Deserialize)]
struct TreeV1 {
    nodes: HashMap<String, ZnodeV2>,
    sessions: BTreeMap<i64, SessionRecordV1>,
    last_zxid: i64,
    next_session: i64,
    reapable: BTreeSet<String>,
}

/// First bytes of a snapshot in layout 2 (paths as keys). Older snapshots
/// start with the node count, a varint, which is never this sequence for a
/// tree that holds at least its four built-in nodes.
const SNAPSHOT_V2: &[u8; 4] = b"CRT\x02";
/// First bytes of a snapshot in the current layout: a header, then one
/// record per node (id, parent id, name), streamed.
const SNAPSHOT_V3: &[u8; 4] = b"CRT\x03";

/// The tree layout in snapshots of format 2.
#[derive(Deserialize)]
struct TreeV2 {
    nodes: HashMap<String, ZnodeV2>,
    sessions: BTreeMap<i64, SessionRecord>,
    last_zxid: i64,
    next_session: i64,
    reapable: BTreeSet<String>,
    origins: BTreeMap<u64, Vec<(u64, u64)>>,
}

/// A znode as formats 1 and 2 stored it: its children's names included.
/// Tests write it too, to check that old snapshots still restore.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct ZnodeV2 {
    data: Option<Bytes>,
    acl: Vec<Acl>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    owner: i64,
    #[cfg_attr(not(test), allow(dead_code))]
    children: BTreeSet<String>,
}

/// Format 3's header: everything but the nodes, and how many follow.
#[derive(Serialize, Deserialize)]
struct HeadV3 {
    sessions: BTreeMap<i64, SessionRecord>,
    last_zxid: i64,
    next_session: i64,
    reapable: BTreeSet<String>,
    origins: BTreeMap<u64, Vec<(u64, u64)>>,
    nodes: u64,
}

/// Format 3's record of one node, written from borrowed parts.
#[derive(Serialize)]
struct RecordOut<'a> {
    id: u32,
    parent: u32,
    name: &'a str,
    data: Option<Raw<'a>>,
    acl: &'a [Acl],
    stat: [i64; 6],
    versions: [i32; 3],
}

/// A record read in place: names, data and ACLs borrow the snapshot's
/// bytes, so a restore allocates only what the tree keeps.
#[derive(Deserialize)]
struct RecordIn<'a> {
    id: u32,
    parent: u32,
    name: &'a str,
    data: Option<&'a [u8]>,
    #[serde(borrow)]
    acl: Vec<AclIn<'a>>,
    stat: [i64; 6],
    versions: [i32; 3],
}

/// An [`Acl`] as a record holds it (the same fields, borrowed).
#[derive(Deserialize)]
struct AclIn<'a> {
    perms: i32,
    scheme: &'a str,
    id: &'a str,
}

impl AclIn<'_> {
    fn is(&self, acl: &Acl) -> bool {
        self.perms == acl.perms && self.scheme == acl.id.scheme && self.id == acl.id.id
    }
}

/// Bytes written as one byte string, not as a sequence of numbers.
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A node from a snapshot's fields: czxid, mzxid, pzxid, ctime, mtime and
/// owner; version, cversion and aversion (format 3's order).
fn stored(data: Option<Box<[u8]>>, acl: AclList, stat: [i64; 6], versions: [i32; 3]) -> Znode {
    let [czxid, mzxid, pzxid, ctime, mtime, owner] = stat;
    let mut node = Znode::new(data, acl, czxid, ctime, owner);
    node.mzxid = mzxid;
    node.pzxid = pzxid;
    node.mtime = mtime;
    [node.version, node.cversion, node.aversion] = versions;
    node
}

/// How many boots of each node the tree remembers sequence numbers for.
const BOOTS_KEPT: usize = 4;

/// The replicated state: znodes, sessions and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    nodes: Nodes,
    sessions: BTreeMap<i64, SessionRecord>,
    last_zxid: i64,
    /// The next session id to hand out; 0 until the first session.
    next_session: i64,
    /// Containers and TTL nodes: the reaper's candidates.
    reapable: BTreeSet<String>,
    /// Per node, its most recent boots and the last command sequence number
    /// applied from each: a command seen before is skipped (a batch that a
    /// node sent again to a new leader after the old one took it).
    origins: BTreeMap<u64, Vec<(u64, u64)>>,
    /// One copy of each distinct ACL list (most nodes share a handful).
    acls: AclTable,
    /// What monitoring reports, kept up to date by apply (see `totals`).
    /// Derived from the fields above, so snapshots leave it out.
    totals: Totals,
}

/// A consistent copy of the tree for a snapshot, sharing the node chunks.
pub struct SnapshotView {
    nodes: nodes::SharedNodes,
    head: HeadV3,
}

impl SnapshotView {
    /// The snapshot bytes: format 3.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = SNAPSHOT_V3.to_vec();
        // Roughly the size of the names and data, to grow the buffer rarely.
        out.reserve(self.nodes.len() * 64);
        let mut out = postcard::to_extend(&self.head, out).unwrap_or_default();
        for (id, parent, name, n) in self.nodes.records() {
            let record = RecordOut {
                id,
                parent,
                name,
                data: n.data().map(Raw),
                acl: n.acl(),
                stat: n.wide_fields(),
                versions: n.versions(),
            };
            out = postcard::to_extend(&record, out).unwrap_or_default();
        }
        out
    }
}

/// Interned ACL lists. Memory only: equal lists behave the same whether
/// shared or not, so replicas need not agree on what is interned.
#[derive(Debug, Clone, Default)]
struct AclTable {
    lists: HashSet<AclList>,
    /// Size after the last sweep; the next sweep runs at twice that.
    swept_at: usize,
}

impl PartialEq for AclTable {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AclTable {}

/// The nodes ZooKeeper creates itself.
pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> Self {
        let mut acls = AclTable::default();
        let open = acls.intern(Acl::open_unsafe());
        let empty = || Some(Box::<[u8]>::default());
        let mut nodes = Nodes::new(Znode::new(empty(), open.clone(), 0, 0, 0));
        nodes.insert(ZOOKEEPER, Znode::new(empty(), open.clone(), 0, 0, 0));
        nodes.insert(QUOTA, Znode::new(empty(), open, 0, 0, 0));
        // ZooKeeper sets the config node's ACL with version -1, which leaves aversion at -1.
        let mut config = Znode::new(empty(), acls.intern(Acl::read_unsafe()), 0, 0, 0);
        config.aversion = -1;
        nodes.insert(CONFIG, config);
        let mut tree = Tree {
            nodes,
            sessions: BTreeMap::new(),
            last_zxid: 0,
            next_session: 0,
            reapable: BTreeSet::new(),
            origins: BTreeMap::new(),
            acls,
            totals: Totals::default(),
        };
        tree.totals = tree.tally();
        tree
    }

    /// The shared copy of an ACL list.
    pub(crate) fn intern(&mut self, acl: Vec<Acl>) -> AclList {
        self.acls.intern(acl)
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    pub fn node(&self, path: &str) -> Option<Node<'_>> {
        self.nodes.get(path)
    }

    /// The version of the membership in `/zookeeper/config` (the zxid of
    /// the reconfig that wrote it); None before any reconfig.
    pub fn config_version(&self) -> Option<i64> {
        let data = self.nodes.get(CONFIG)?.data()?;
        let text = std::str::from_utf8(data).ok()?;
        let hex = text.lines().last()?.strip_prefix("version=")?;
        i64::from_str_radix(hex, 16).ok()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of path and data lengths, as ZooKeeper's approximate data size counts them.
    pub fn approximate_data_size(&self) -> u64 {
        self.totals.data_size
    }

    pub fn session(&self, id: i64) -> Option<&SessionRecord> {
        self.sessions.get(&id)
    }

    /// Whether `session` lives and is attached to a connection other than
    /// `conn`: that connection's requests get SessionMoved. Sessions and
    /// connections from before owners were recorded (boot 0) never moved.
    pub fn moved_from(&self, session: i64, conn: Owner) -> bool {
        conn.boot != 0
            && self
                .sessions
                .get(&session)
                .is_some_and(|s| s.owner.boot != 0 && s.owner != conn)
    }

    pub fn sessions(&self) -> impl Iterator<Item = (i64, &SessionRecord)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn ephemeral_count(&self) -> usize {
        usize::try_from(self.totals.ephemerals).unwrap_or(usize::MAX)
    }

    /// Containers that lost their last child and TTL nodes past their TTL at `now`.
    pub fn reap_candidates(&self, now: i64) -> Vec<String> {
        self.reapable
            .iter()
            .filter(|p| self.nodes.get(p).is_some_and(|n| reapable(n, now)))
            .cloned()
            .collect()
    }

    /// The whole state, for a snapshot: a format version, then the tree.
    pub fn to_snapshot(&self) -> Vec<u8> {
        self.snapshot_view().encode()
    }

    /// What a snapshot needs, taken in O(chunks + sessions) so the node lock
    /// is held briefly; [`SnapshotView::encode`] then runs without it.
    pub fn snapshot_view(&self) -> SnapshotView {
        SnapshotView {
            nodes: self.nodes.share(),
            head: HeadV3 {
                sessions: self.sessions.clone(),
                last_zxid: self.last_zxid,
                next_session: self.next_session,
                reapable: self.reapable.clone(),
                origins: self.origins.clone(),
                nodes: self.nodes.len() as u64,
            },
        }
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, postcard::Error> {
        if let Some(rest) = bytes.strip_prefix(SNAPSHOT_V3.as_slice()) {
            return Self::from_v3(rest);
        }
        let old = match bytes.strip_prefix(SNAPSHOT_V2.as_slice()) {
            Some(rest) => postcard::from_bytes(rest)?,
            None => {
                let old: TreeV1 = postcard::from_bytes(bytes)?;
                let sessions = old
                    .sessions
                    .into_iter()
                    .map(|(id, s)| {
                        let record = SessionRecord {
                            timeout: s.timeout,
                            passwd: s.passwd,
                            ephemerals: s.ephemerals,
                            owner: Owner::default(),
                        };
                        (id, record)
                    })
                    .collect();
                TreeV2 {
                    nodes: old.nodes,
                    sessions,
                    last_zxid: old.last_zxid,
                    next_session: old.next_session,
                    reapable: old.reapable,
                    origins: BTreeMap::new(),
                }
            }
        };
        let mut acls = AclTable::default();
        let mut paths: Vec<(String, ZnodeV2)> = old.nodes.into_iter().collect();
        // A parent's path is a prefix of its child's, so it sorts first.
        paths.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut nodes: Option<Nodes> = None;
        for (path, z) in paths {
            let stat = [z.czxid, z.mzxid, z.pzxid, z.ctime, z.mtime, z.owner];
            let versions = [z.version, z.cversion, z.aversion];
            let data = z.data.map(|d| Vec::from(d).into_boxed_slice());
            let node = stored(data, acls.intern(z.acl), stat, versions);
            let placed = match nodes.as_mut() {
                None if path == "/" => {
                    nodes = Some(Nodes::new(node));
                    true
                }
                Some(n) => n.insert(&path, node),
                None => false,
            };
            if !placed {
                return Err(postcard::Error::DeserializeBadEncoding);
            }
        }
        let nodes = nodes.ok_or(postcard::Error::DeserializeBadEncoding)?;
        let mut tree = Tree {
            nodes,
            sessions: old.sessions,
            last_zxid: old.last_zxid,
            next_session: old.next_session,
            reapable: old.reapable,
            origins: old.origins,
            acls,
            totals: Totals::default(),
        };
        tree.totals = tree.tally();
        Ok(tree)
    }

    fn from_v3(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let (head, mut rest): (HeadV3, _) = postcard::take_from_bytes(bytes)?;
        let mut acls = AclTable::default();
        let count = usize::try_from(head.nodes).unwrap_or(usize::MAX);
        // Bounded by what the bytes can hold, not by a count from the disk.
        let mut records = Vec::with_capacity(count.min(rest.len() / 8));
        // Most nodes share one list: compare with the last one first.
        let mut last: Option<AclList> = None;
        for _ in 0..count {
            let (r, more): (RecordIn, _) = postcard::take_from_bytes(rest)?;
            rest = more;
            let acl = match &last {
                Some(l)
                    if l.len() == r.acl.len()
                        && r.acl.iter().zip(l.iter()).all(|(a, b)| a.is(b)) =>
                {
                    l.clone()
                }
                _ => {
                    let list = r
                        .acl
                        .iter()
                        .map(|a| Acl {
                            perms: a.perms,
                            id: jute::Id::new(a.scheme, a.id),
                        })
                        .collect();
                    let shared = acls.intern(list);
                    last = Some(shared.clone());
                    shared
                }
            };
            let node = stored(r.data.map(Box::from), acl, r.stat, r.versions);
            records.push(nodes::Record {
                id: r.id,
                parent: r.parent,
                name: r.name.into(),
                node,
            });
        }
        let nodes = Nodes::from_records(records).map_err(|e| {
            tracing::error!(error = %e, "snapshot nodes do not form a tree");
            postcard::Error::DeserializeBadEncoding
        })?;
        let mut tree = Tree {
            nodes,
            sessions: head.sessions,
            last_zxid: head.last_zxid,
            next_session: head.next_session,
            reapable: head.reapable,
            origins: head.origins,
            acls,
            totals: Totals::default(),
        };
        tree.totals = tree.tally();
        Ok(tree)
    }

    /// A digest of the nodes (paths, data, Stat fields), for comparing
    /// replicas: the sum of per-node hashes, kept up to date by apply. Like
    /// ZooKeeper's, it covers the nodes alone; `hash` reports the zxid beside it.
    pub fn digest(&self) -> u64 {
        self.totals.digest
    }

    /// The digest computed afresh from every node. O(nodes): for tests and
    /// for checking a suspect replica, never for monitoring.
    pub fn digest_from_scratch(&self) -> u64 {
        self.tally().digest
    }

    /// Whether the running totals (digest, data size, ephemerals) match a
    /// count from scratch. O(nodes + ephemerals): for tests and debugging.
    pub fn check_totals(&self) -> Result<(), String> {
        let fresh = self.tally();
        if fresh == self.totals {
            Ok(())
        } else {
            Err(format!("kept {:?}, counted {fresh:?}", self.totals))
        }
    }

    /// Whether a command is new; records its sequence number if so.
    fn first_time(&mut self, origin: &Origin) -> bool {
        if origin.seq == 0 {
            return true;
        }
        let boots = self.origins.entry(origin.node).or_default();
        if let Some((_, last)) = boots.iter_mut().find(|(b, _)| *b == origin.boot) {
            if origin.seq <= *last {
                return false;
            }
            *last = origin.seq;
            return true;
        }
        boots.push((origin.boot, origin.seq));
        if boots.len() > BOOTS_KEPT {
            boots.remove(0);
        }
        true
    }

    /// The totals counted from scratch.
    fn tally(&self) -> Totals {
        let mut t = Totals::default();
        self.nodes.for_each(|path, node| t.add_node(path, node));
        t.ephemerals = self
            .sessions
            .values()
            .map(|s| s.ephemerals.len() as u64)
            .sum();
        t
    }
}

impl AclTable {
    fn intern(&mut self, acl: Vec<Acl>) -> AclList {
        if let Some(shared) = self.lists.get(&acl) {
            return shared.clone();
        }
        // Forget lists no node uses any more, once the table has doubled.
        if self.lists.len() >= (2 * self.swept_at).max(64) {
            self.lists.retain(|l| Arc::strong_count(l) > 1);
            self.swept_at = self.lists.len();
        }
        let shared: AclList = acl.into();
        self.lists.insert(shared.clone());
        shared
    }
}

/// Whether a container or TTL node should go.
fn reapable(n: Node<'_>, now: i64) -> bool {
    n.num_children() == 0
        && match n.kind() {
            // Only containers that have had children: a new one is left alone.
            Kind::Container => n.cversion() > 0,
            Kind::Ttl(ttl) => now.saturating_sub(n.mtime()) > ttl,
            _ => false,
        }
}
