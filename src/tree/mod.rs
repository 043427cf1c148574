//! The znode tree and everything that changes it: the deterministic core.
//!
//! Same commands in, same tree, results and changes out, on every replica:
//! nothing in here reads a clock, draws a random number, does I/O or depends
//! on hash-map iteration order. Time and passwords arrive inside commands.

pub mod acl;
mod apply;
pub mod path;
mod read;
#[cfg(test)]
mod tests;
mod totals;
pub mod txn;
pub mod znode;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jute::Acl;
use serde::{Deserialize, Serialize};

use totals::Totals;
pub use txn::{
    Applied, Change, ChangeKind, Command, Origin, Outcome, Owner, Txn, WriteOp, WriteResult,
};
pub use znode::{Kind, Znode};

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
    nodes: HashMap<String, Znode>,
    sessions: BTreeMap<i64, SessionRecordV1>,
    last_zxid: i64,
    next_session: i64,
    reapable: BTreeSet<String>,
}

/// First bytes of a snapshot in the current layout (format version 2).
/// Older snapshots start with the node count, a varint, which is never
/// this sequence for a tree that holds at least its four built-in nodes.
const SNAPSHOT_V2: &[u8; 4] = b"CRT\x02";

/// How many boots of each node the tree remembers sequence numbers for.
const BOOTS_KEPT: usize = 4;

/// The replicated state: znodes, sessions and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    nodes: HashMap<String, Znode>,
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
    #[serde(skip)]
    acls: AclTable,
    /// What monitoring reports, kept up to date by apply (see `totals`).
    /// Derived from the fields above, so snapshots leave it out.
    #[serde(skip)]
    totals: Totals,
}

/// Interned ACL lists. Memory only: equal lists behave the same whether
/// shared or not, so replicas need not agree on what is interned.
#[derive(Debug, Clone, Default)]
struct AclTable {
    lists: HashSet<Arc<[Acl]>>,
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
        let mut nodes = HashMap::new();
        let mut root = Znode::new(None, open.clone(), 0, 0, 0);
        root.data = Some(bytes::Bytes::new());
        root.children.insert("zookeeper".into());
        let mut zk = Znode::new(Some(bytes::Bytes::new()), open.clone(), 0, 0, 0);
        zk.children
            .extend(["config".to_string(), "quota".to_string()]);
        nodes.insert("/".to_string(), root);
        nodes.insert(ZOOKEEPER.to_string(), zk);
        nodes.insert(
            QUOTA.to_string(),
            Znode::new(Some(bytes::Bytes::new()), open, 0, 0, 0),
        );
        // ZooKeeper sets the config node's ACL with version -1, which leaves aversion at -1.
        let mut config = Znode::new(
            Some(bytes::Bytes::new()),
            acls.intern(Acl::read_unsafe()),
            0,
            0,
            0,
        );
        config.aversion = -1;
        nodes.insert(CONFIG.to_string(), config);
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
    pub(crate) fn intern(&mut self, acl: Vec<Acl>) -> Arc<[Acl]> {
        self.acls.intern(acl)
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    pub fn node(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The version of the membership in `/zookeeper/config` (the zxid of
    /// the reconfig that wrote it); None before any reconfig.
    pub fn config_version(&self) -> Option<i64> {
        let data = self.nodes.get(CONFIG)?.data.as_deref()?;
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
            .filter(|p| self.nodes.get(*p).is_some_and(|n| reapable(n, now)))
            .cloned()
            .collect()
    }

    /// The whole state, for a snapshot: a format version, then the tree.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut out = SNAPSHOT_V2.to_vec();
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let mut tree: Tree = match bytes.strip_prefix(SNAPSHOT_V2.as_slice()) {
            Some(rest) => postcard::from_bytes(rest)?,
            None => {
                let old: TreeV1 = postcard::from_bytes(bytes)?;
                Tree {
                    nodes: old.nodes,
                    sessions: old
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
                        .collect(),
                    last_zxid: old.last_zxid,
                    next_session: old.next_session,
                    reapable: old.reapable,
                    origins: BTreeMap::new(),
                    acls: AclTable::default(),
                    totals: Totals::default(),
                }
            }
        };
        // A snapshot stores each node's list; share them again.
        let mut acls = AclTable::default();
        for node in tree.nodes.values_mut() {
            node.acl = acls.intern(node.acl.to_vec());
        }
        tree.acls = acls;
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
        for (path, node) in &self.nodes {
            t.add_node(path, node);
        }
        t.ephemerals = self
            .sessions
            .values()
            .map(|s| s.ephemerals.len() as u64)
            .sum();
        t
    }
}

impl AclTable {
    fn intern(&mut self, acl: Vec<Acl>) -> Arc<[Acl]> {
        if let Some(shared) = self.lists.get(acl.as_slice()) {
            return shared.clone();
        }
        // Forget lists no node uses any more, once the table has doubled.
        if self.lists.len() >= (2 * self.swept_at).max(64) {
            self.lists.retain(|l| Arc::strong_count(l) > 1);
            self.swept_at = self.lists.len();
        }
        let shared: Arc<[Acl]> = acl.into();
        self.lists.insert(shared.clone());
        shared
    }
}

/// Whether a container or TTL node should go.
fn reapable(n: &Znode, now: i64) -> bool {
    n.children.is_empty()
        && match n.kind() {
            // Only containers that have had children: a new one is left alone.
            Kind::Container => n.cversion > 0,
            Kind::Ttl(ttl) => now.saturating_sub(n.mtime) > ttl,
            _ => false,
        }
}
