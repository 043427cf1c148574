//! The znodes, stored compactly and addressed by path.
//!
//! A million znodes must fit in little more than their names and data, so
//! nothing here keeps a full path per node, a second copy of a name, or a
//! field most nodes leave at its default:
//! - records live in fixed-size chunks of an arena, addressed by a `u32` id;
//!   each holds its name and data in one block (a thin pointer), its
//!   parent's id and the Stat fields every node has (72 bytes);
//! - what only some nodes have sits in an extra record that the node points
//!   to: the child-list counters (pzxid, cversion) of a node that has or had
//!   children, and the owner of an ephemeral, container or TTL node; a leaf
//!   that never had children has pzxid = czxid and cversion 0;
//! - a node's children are ids sorted by name, found by binary search
//!   (about 4 bytes per node, and getChildren needs no sort; children.rs).
//!
//! Records and extras are shared with snapshots: taking one clones chunk
//! lists of `Arc`s under the node lock, and a chunk is copied only when
//! apply changes it while a snapshot still reads it. Child lists are not in
//! a snapshot (a record names its parent). Ids are memory only: replicas and
//! a restored tree may number nodes differently and still hold the same tree.

use std::sync::Arc;

use jute::Stat;

use super::blob::Blob;
use super::children::Children;
use super::znode::{AclList, Kind, Znode};

type Id = u32;
const NONE: u32 = u32::MAX;
const ROOT: Id = 0;
/// Records per chunk: the unit a snapshot shares and apply copies. 1,820
/// records of 72 bytes nearly fill a 128 KiB block; 1,024 would sit in an
/// 80 KiB size class with 8 bytes a record to spare.
const CHUNK: usize = 1820;
/// `Rec::flags`: the node has data (possibly empty), not null.
const HAS_DATA: u32 = 1;

#[derive(Debug, Clone)]
struct Rec {
    /// The name (`name_len` bytes), then the data.
    blob: Blob,
    acl: AclList,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    aversion: i32,
    name_len: u32,
    flags: u32,
    parent: Id,
    /// This node's extra record and child list, or NONE.
    ext: u32,
}

// The point of the layout; a field added here costs a million times over.
const _: () = assert!(size_of::<Option<Rec>>() == 72);

impl Rec {
    fn name(&self) -> &[u8] {
        self.blob
            .bytes()
            .get(..self.name_len as usize)
            .unwrap_or(&[])
    }

    fn data(&self) -> Option<&[u8]> {
        (self.flags & HAS_DATA != 0).then(|| {
            self.blob
                .bytes()
                .get(self.name_len as usize..)
                .unwrap_or(&[])
        })
    }
}

/// What a node has only when it differs from the default.
#[derive(Debug, Clone, Copy)]
struct Extra {
    pzxid: i64,
    /// A session id, a container or TTL mark, or 0 (see `Kind`).
    owner: i64,
    /// Child creations so far.
    cversion: i32,
}

/// Fixed-size chunks behind `Arc`s, shared with snapshots, copied on write.
#[derive(Clone)]
struct Chunks<T>(Vec<Arc<Vec<T>>>);

impl<T: Clone> Chunks<T> {
    fn get(&self, i: u32) -> Option<&T> {
        let i = i as usize;
        self.0.get(i / CHUNK)?.get(i % CHUNK)
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        let i = i as usize;
        Arc::make_mut(self.0.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    /// Append; the new item's index.
    fn push(&mut self, item: T) -> u32 {
        if self.0.last().is_none_or(|c| c.len() == CHUNK) {
            self.0.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = self.0.len() - 1;
        let chunk = Arc::make_mut(&mut self.0[last]);
        chunk.push(item);
        (last * CHUNK + chunk.len() - 1) as u32
    }
}

/// A node as stored, read in place.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    rec: &'a Rec,
    extra: Option<&'a Extra>,
    children: u32,
}

impl<'a> Node<'a> {
    pub fn data(&self) -> Option<&'a [u8]> {
        self.rec.data()
    }

    pub fn acl(&self) -> &'a AclList {
        &self.rec.acl
    }

    pub fn czxid(&self) -> i64 {
        self.rec.czxid
    }

    pub fn mzxid(&self) -> i64 {
        self.rec.mzxid
    }

    pub fn pzxid(&self) -> i64 {
        self.extra.map_or(self.rec.czxid, |e| e.pzxid)
    }

    pub fn ctime(&self) -> i64 {
        self.rec.ctime
    }

    pub fn mtime(&self) -> i64 {
        self.rec.mtime
    }

    pub fn version(&self) -> i32 {
        self.rec.version
    }

    /// Child creations so far: the sequential counter (see [`Node::stat`]).
    pub fn cversion(&self) -> i32 {
        self.extra.map_or(0, |e| e.cversion)
    }

    pub fn aversion(&self) -> i32 {
        self.rec.aversion
    }

    /// A session id, a container or TTL mark, or 0 (see [`Kind`]).
    pub fn owner(&self) -> i64 {
        self.extra.map_or(0, |e| e.owner)
    }

    pub fn kind(&self) -> Kind {
        Kind::of(self.owner())
    }

    pub fn num_children(&self) -> u32 {
        self.children
    }

    /// The 64-bit fields in the order snapshots store them (and the digest
    /// hashes them): czxid, mzxid, pzxid, ctime, mtime, owner.
    pub fn wide_fields(&self) -> [i64; 6] {
        [
            self.czxid(),
            self.mzxid(),
            self.pzxid(),
            self.ctime(),
            self.mtime(),
            self.owner(),
        ]
    }

    /// version, cversion (creations), aversion, in the same way.
    pub fn versions(&self) -> [i32; 3] {
        [self.version(), self.cversion(), self.aversion()]
    }

    /// The Stat clients see: containers and TTL nodes show owner 0.
    pub fn stat(&self) -> Stat {
        let children = i32::try_from(self.children).unwrap_or(i32::MAX);
        Stat {
            czxid: self.czxid(),
            mzxid: self.mzxid(),
            ctime: self.ctime(),
            mtime: self.mtime(),
            version: self.version(),
            // 2 × creations − live children = creations + deletions.
            cversion: self.cversion().wrapping_mul(2).wrapping_sub(children),
            aversion: self.aversion(),
            ephemeral_owner: match self.kind() {
                Kind::Ephemeral(s) => s,
                _ => 0,
            },
            data_length: self
                .data()
                .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX)),
            num_children: children,
            pzxid: self.pzxid(),
        }
    }

    /// The node as a value (its data copied).
    pub fn to_znode(&self) -> Znode {
        Znode {
            data: self.data().map(Box::from),
            acl: self.acl().clone(),
            czxid: self.czxid(),
            mzxid: self.mzxid(),
            pzxid: self.pzxid(),
            ctime: self.ctime(),
            mtime: self.mtime(),
            version: self.version(),
            cversion: self.cversion(),
            aversion: self.aversion(),
            owner: self.owner(),
            num_children: self.children,
        }
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_znode().fmt(f)
    }
}

/// A stored node, changed in place.
pub struct NodeMut<'a> {
    nodes: &'a mut Nodes,
    id: Id,
}

impl NodeMut<'_> {
    pub fn get(&self) -> Node<'_> {
        // The id was found a moment ago and nothing removed it since.
        self.nodes.node(self.id).unwrap_or_else(|| unreachable!())
    }

    fn rec(&mut self) -> Option<&mut Rec> {
        self.nodes.recs.get_mut(self.id)?.as_mut()
    }

    fn with_rec(&mut self, f: impl FnOnce(&mut Rec)) {
        if let Some(r) = self.rec() {
            f(r);
        }
    }

    /// Its extra record, made (with the defaults) if it has none.
    fn extra(&mut self) -> Option<&mut Extra> {
        let ext = self.nodes.ext_of(self.id)?;
        self.nodes.extras.get_mut(ext)
    }

    /// Replace the data, keeping the name.
    pub fn set_data(&mut self, data: Option<&[u8]>) {
        let Some(r) = self.rec() else { return };
        let blob = Blob::new(&[r.name(), data.unwrap_or(&[])]);
        match blob {
            Some(b) => {
                r.blob = b;
                r.flags = if data.is_some() {
                    r.flags | HAS_DATA
                } else {
                    r.flags & !HAS_DATA
                };
            }
            // Data is bounded by jute.maxbuffer long before 4 GiB.
            None => tracing::error!("node data over 4 GiB not stored"),
        }
    }

    pub fn set_mzxid(&mut self, v: i64) {
        self.with_rec(|r| r.mzxid = v);
    }

    pub fn set_mtime(&mut self, v: i64) {
        self.with_rec(|r| r.mtime = v);
    }

    pub fn set_version(&mut self, v: i32) {
        self.with_rec(|r| r.version = v);
    }

    pub fn set_acl(&mut self, acl: AclList) {
        self.with_rec(|r| r.acl = acl);
    }

    pub fn set_aversion(&mut self, v: i32) {
        self.with_rec(|r| r.aversion = v);
    }

    pub fn set_pzxid(&mut self, v: i64) {
        if let Some(e) = self.extra() {
            e.pzxid = v;
        }
    }

    pub fn set_cversion(&mut self, v: i32) {
        if let Some(e) = self.extra() {
            e.cversion = v;
        }
    }
}

/// Every znode, root included.
#[derive(Clone)]
pub struct Nodes {
    recs: Chunks<Option<Rec>>,
    free: Vec<Id>,
    extras: Chunks<Extra>,
    /// Children by extra slot.
    lists: Vec<Children>,
    free_ext: Vec<u32>,
    len: usize,
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").field("len", &self.len()).finish()
    }
}

/// Same paths with equal nodes, however they are numbered.
impl PartialEq for Nodes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(path, n)| other.get(&path).map(|o| o.to_znode()) == Some(n.to_znode()))
    }
}

impl Eq for Nodes {}

/// The components of an absolute path; None for anything else. "/" has
/// none; "/a/" and "//a" have an empty one, which names no node.
fn components(path: &str) -> Option<std::str::Split<'_, char>> {
    let rest = path.strip_prefix('/')?;
    let mut parts = rest.split('/');
    if rest.is_empty() {
        parts.next();
    }
    Some(parts)
}

fn name_in(recs: &Chunks<Option<Rec>>, id: Id) -> &[u8] {
    recs.get(id)
        .and_then(Option::as_ref)
        .map_or(&[], |r| r.name())
}

/// A record for `node` named `name`, and its extra if it needs one. None
/// when the name and data do not fit in one block (4 GiB).
fn record(node: Znode, name: &str) -> Option<(Rec, Option<Extra>)> {
    let blob = Blob::new(&[name.as_bytes(), node.data.as_deref().unwrap_or(&[])])?;
    let extra =
        (node.pzxid != node.czxid || node.cversion != 0 || node.owner != 0).then_some(Extra {
            pzxid: node.pzxid,
            owner: node.owner,
            cversion: node.cversion,
        });
    let rec = Rec {
        blob,
        acl: node.acl,
        czxid: node.czxid,
        mzxid: node.mzxid,
        ctime: node.ctime,
        mtime: node.mtime,
        version: node.version,
        aversion: node.aversion,
        name_len: u32::try_from(name.len()).ok()?,
        flags: if node.data.is_some() { HAS_DATA } else { 0 },
        parent: NONE,
        ext: NONE,
    };
    Some((rec, extra))
}

impl Nodes {
    /// A tree holding only the root.
    pub fn new(root: Znode) -> Self {
        let mut nodes = Nodes {
            recs: Chunks(Vec::new()),
            free: Vec::new(),
            extras: Chunks(Vec::new()),
            lists: Vec::new(),
            free_ext: Vec::new(),
            len: 0,
        };
        let stored = nodes.store(root, "");
        debug_assert_eq!(stored, Some(ROOT));
        nodes
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn rec(&self, id: Id) -> Option<&Rec> {
        self.recs.get(id)?.as_ref()
    }

    fn kids(&self, r: &Rec) -> Option<&Children> {
        self.lists.get(r.ext as usize)
    }

    fn node(&self, id: Id) -> Option<Node<'_>> {
        let rec = self.rec(id)?;
        Some(Node {
            rec,
            extra: self.extras.get(rec.ext),
            children: self.kids(rec).map_or(0, Children::len),
        })
    }

    fn name_of(&self, id: Id) -> &[u8] {
        name_in(&self.recs, id)
    }

    fn child(&self, parent: Id, name: &str) -> Option<Id> {
        let kids = self.kids(self.rec(parent)?)?;
        let at = kids.find(name.as_bytes(), |k| self.name_of(k)).ok()?;
        kids.get(at)
    }

    fn id(&self, path: &str) -> Option<Id> {
        let mut at = ROOT;
        for name in components(path)? {
            at = self.child(at, name)?;
        }
        Some(at)
    }

    pub fn get(&self, path: &str) -> Option<Node<'_>> {
        self.node(self.id(path)?)
    }

    pub fn get_mut(&mut self, path: &str) -> Option<NodeMut<'_>> {
        let id = self.id(path)?;
        Some(NodeMut { nodes: self, id })
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.id(path).is_some()
    }

    /// Child names, sorted (ZooKeeper's order is its hash set's; sorted is
    /// one every replica agrees on).
    pub fn children(&self, path: &str) -> Option<Vec<&str>> {
        let r = self.rec(self.id(path)?)?;
        let Some(kids) = self.kids(r) else {
            return Some(Vec::new());
        };
        Some(
            kids.iter()
                .map(|c| std::str::from_utf8(self.name_of(c)).unwrap_or(""))
                .collect(),
        )
    }

    /// How many nodes lie below `path` (not counting it).
    pub fn descendants(&self, path: &str) -> Option<u64> {
        let mut stack = vec![self.id(path)?];
        let mut count = 0u64;
        while let Some(id) = stack.pop() {
            if let Some(kids) = self.rec(id).and_then(|r| self.kids(r)) {
                count += u64::from(kids.len());
                stack.extend(kids.iter());
            }
        }
        Some(count)
    }

    /// The extra slot of `id`, made with the defaults if it has none.
    fn ext_of(&mut self, id: Id) -> Option<u32> {
        let r = self.rec(id)?;
        if r.ext != NONE {
            return Some(r.ext);
        }
        let extra = Extra {
            pzxid: r.czxid,
            owner: 0,
            cversion: 0,
        };
        let ext = self.new_ext(extra);
        self.recs.get_mut(id)?.as_mut()?.ext = ext;
        Some(ext)
    }

    fn new_ext(&mut self, extra: Extra) -> u32 {
        if let Some(ext) = self.free_ext.pop()
            && let Some(slot) = self.extras.get_mut(ext)
        {
            *slot = extra;
            return ext;
        }
        let ext = self.extras.push(extra);
        self.lists.push(Children::default());
        ext
    }

    /// Add `node` at `path`. False (and nothing changes) when the parent is
    /// missing or the path is taken. The parent's child count follows.
    pub fn insert(&mut self, path: &str, node: Znode) -> bool {
        let Some((parent_path, name)) = path.rsplit_once('/') else {
            return false;
        };
        let parent_path = if parent_path.is_empty() {
            "/"
        } else {
            parent_path
        };
        let Some(parent) = self.id(parent_path) else {
            return false;
        };
        if name.is_empty() {
            return false;
        }
        let Some(ext) = self.ext_of(parent) else {
            return false;
        };
        let recs = &self.recs;
        let Some(Err(at)) = self
            .lists
            .get(ext as usize)
            .map(|kids| kids.find(name.as_bytes(), |k| name_in(recs, k)))
        else {
            return false;
        };
        let Some(id) = self.store(node, name) else {
            return false;
        };
        if let Some(list) = self.lists.get_mut(ext as usize) {
            list.insert(at, id);
        }
        if let Some(Some(r)) = self.recs.get_mut(id) {
            r.parent = parent;
        }
        true
    }

    /// Put a record, not yet attached to a parent, in a free slot.
    fn store(&mut self, node: Znode, name: &str) -> Option<Id> {
        let (mut rec, extra) = record(node, name)?;
        if let Some(e) = extra {
            rec.ext = self.new_ext(e);
        }
        self.len += 1;
        if let Some(id) = self.free.pop()
            && let Some(slot) = self.recs.get_mut(id)
        {
            *slot = Some(rec);
            return Some(id);
        }
        Some(self.recs.push(Some(rec)))
    }

    /// Take out a childless node (the root and nodes with children stay).
    pub fn remove(&mut self, path: &str) -> Option<Znode> {
        let id = self.id(path)?;
        let node = self.node(id)?;
        if id == ROOT || node.num_children() > 0 {
            return None;
        }
        let value = node.to_znode();
        let r = self.rec(id)?;
        let (parent, ext) = (r.parent, r.ext);
        let pext = self.rec(parent)?.ext;
        let recs = &self.recs;
        let list = self.lists.get_mut(pext as usize)?;
        let at = list.find(name_in(recs, id), |k| name_in(recs, k)).ok()?;
        list.remove(at);
        *self.recs.get_mut(id)? = None;
        self.free.push(id);
        self.len -= 1;
        if ext != NONE {
            if let Some(l) = self.lists.get_mut(ext as usize) {
                *l = Children::default();
            }
            self.free_ext.push(ext);
        }
        Some(value)
    }

    /// Every node with its path, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = (String, Node<'_>)> {
        let mut stack: Vec<(String, Id)> = vec![("/".to_string(), ROOT)];
        std::iter::from_fn(move || {
            let (path, id) = stack.pop()?;
            let r = self.rec(id)?;
            for k in self.kids(r).into_iter().flat_map(Children::iter) {
                let name = std::str::from_utf8(self.name_of(k)).unwrap_or("");
                stack.push((super::path::join(&path, name), k));
            }
            Some((path, self.node(id)?))
        })
    }

    /// Every node with its path, parents before children, building each
    /// path in one reused buffer (a restore tallies a million of them).
    pub fn for_each(&self, mut f: impl FnMut(&str, Node<'_>)) {
        let mut path = String::from("/");
        let (Some(root), Some(node)) = (self.rec(ROOT), self.node(ROOT)) else {
            return;
        };
        f(&path, node);
        // (node, length of its parent's path)
        let mut stack: Vec<(Id, usize)> = self
            .kids(root)
            .into_iter()
            .flat_map(Children::iter)
            .map(|k| (k, 0))
            .collect();
        while let Some((id, at)) = stack.pop() {
            let (Some(r), Some(node)) = (self.rec(id), self.node(id)) else {
                continue;
            };
            path.truncate(at);
            path.push('/');
            path.push_str(std::str::from_utf8(r.name()).unwrap_or(""));
            f(&path, node);
            let here = path.len();
            stack.extend(
                self.kids(r)
                    .into_iter()
                    .flat_map(Children::iter)
                    .map(|k| (k, here)),
            );
        }
    }

    /// What a snapshot reads: the records as they are now, shared.
    pub fn share(&self) -> SharedNodes {
        SharedNodes {
            recs: self.recs.clone(),
            extras: self.extras.clone(),
            len: self.len(),
        }
    }

    /// Rebuild from records as [`SharedNodes::records`] lists them (root
    /// first; a parent may come after its child). Records that do not form
    /// one tree are refused: they come from a disk or a peer.
    pub fn from_records(records: Vec<Record>) -> Result<Self, String> {
        let count = records.len();
        let mut records = records.into_iter();
        let root = records.next().ok_or("snapshot has no nodes")?;
        if root.parent != NONE {
            return Err("snapshot root is not first".into());
        }
        let mut nodes = Nodes::new(root.node);
        nodes.recs.0.reserve(count / CHUNK + 1);
        let mut renumber = Renumber::new(count);
        renumber.insert(root.id, ROOT)?;
        let mut pending = Vec::with_capacity(count);
        for r in records {
            let id = nodes
                .store(r.node, &r.name)
                .ok_or_else(|| format!("node {} too large", r.id))?;
            renumber.insert(r.id, id)?;
            pending.push((id, r.parent));
        }
        // Children in snapshot order first, each list sorted once after.
        let mut unsorted: Vec<Vec<Id>> = Vec::new();
        for (id, old) in pending {
            let parent = renumber
                .get(old)
                .ok_or_else(|| format!("node {id} has no parent {old}"))?;
            let ext = nodes
                .ext_of(parent)
                .ok_or_else(|| format!("node {id} has no parent {old}"))?;
            if unsorted.len() <= ext as usize {
                unsorted.resize_with(ext as usize + 1, Vec::new);
            }
            unsorted[ext as usize].push(id);
            if let Some(Some(r)) = nodes.recs.get_mut(id) {
                r.parent = parent;
            }
        }
        for (ext, ids) in unsorted.into_iter().enumerate() {
            let kids = Children::from_unsorted(ids, |k| nodes.name_of(k)).map_err(|twin| {
                let name = String::from_utf8_lossy(nodes.name_of(twin)).into_owned();
                format!("two nodes named {name} under one parent")
            })?;
            if let Some(list) = nodes.lists.get_mut(ext) {
                *list = kids;
            }
        }
        // A cycle of records would be stored but hang from nothing.
        if nodes.descendants("/") != Some(nodes.len() as u64 - 1) {
            return Err("snapshot nodes are not all below the root".into());
        }
        Ok(nodes)
    }
}

/// A snapshot's ids to this arena's. The saved ids are the saving arena's
/// slots, so they are dense unless it had many free slots: a vector then,
/// a map for ids too sparse to index (they come from a disk or a peer).
enum Renumber {
    /// New ids by old, and the largest old id it may grow to.
    Dense(Vec<Id>, usize),
    Sparse(std::collections::HashMap<Id, Id>),
}

impl Renumber {
    fn new(count: usize) -> Self {
        Renumber::Dense(
            Vec::with_capacity(count),
            count.max(1 << 16).saturating_mul(4),
        )
    }

    fn insert(&mut self, old: Id, new: Id) -> Result<(), String> {
        if old == NONE {
            return Err("a node without an id".into());
        }
        if let Renumber::Dense(v, limit) = self {
            let at = old as usize;
            if at >= v.len() && at < *limit {
                v.resize(at + 1, NONE);
            }
            match v.get_mut(at) {
                Some(slot) if *slot != NONE => return Err(format!("two nodes with id {old}")),
                Some(slot) => {
                    *slot = new;
                    return Ok(());
                }
                None => {
                    let map = v
                        .iter()
                        .enumerate()
                        .filter(|&(_, &n)| n != NONE)
                        .map(|(o, &n)| (o as Id, n))
                        .collect();
                    *self = Renumber::Sparse(map);
                }
            }
        }
        if let Renumber::Sparse(m) = self
            && m.insert(old, new).is_some()
        {
            return Err(format!("two nodes with id {old}"));
        }
        Ok(())
    }

    fn get(&self, old: Id) -> Option<Id> {
        match self {
            Renumber::Dense(v, _) => v.get(old as usize).copied().filter(|&n| n != NONE),
            Renumber::Sparse(m) => m.get(&old).copied(),
        }
    }
}

/// A node as a snapshot stores it.
#[derive(Debug)]
pub struct Record {
    pub id: u32,
    /// `u32::MAX` for the root.
    pub parent: u32,
    pub name: Box<str>,
    pub node: Znode,
}

/// The nodes as they were when a snapshot was taken, readable without the
/// node lock while apply goes on.
pub struct SharedNodes {
    recs: Chunks<Option<Rec>>,
    extras: Chunks<Extra>,
    len: usize,
}

impl SharedNodes {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every node with its id and parent's id, root first. Child counts are
    /// not in a snapshot: these nodes show none.
    pub fn records(&self) -> impl Iterator<Item = (u32, u32, &str, Node<'_>)> {
        self.recs.0.iter().enumerate().flat_map(move |(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, r)| {
                let r = r.as_ref()?;
                let node = Node {
                    rec: r,
                    extra: self.extras.get(r.ext),
                    children: 0,
                };
                let name = std::str::from_utf8(r.name()).unwrap_or("");
                Some(((c * CHUNK + i) as u32, r.parent, name, node))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn node(zxid: i64) -> Znode {
        Znode::new(None, Arc::from(Vec::new()), zxid, 0, 0)
    }

    #[test]
    fn for_each_gives_the_paths_iter_gives() {
        let mut n = Nodes::new(node(0));
        for p in ["/a", "/a/b", "/a/b/c", "/d", "/a/e"] {
            assert!(n.insert(p, node(1)));
        }
        let mut seen = Vec::new();
        n.for_each(|p, _| seen.push(p.to_string()));
        let mut want: Vec<String> = n.iter().map(|(p, _)| p).collect();
        want.sort();
        seen.sort();
        assert_eq!(seen, want);
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn insert_find_remove_and_reuse() {
        let mut n = Nodes::new(node(0));
        assert!(n.insert("/a", node(1)));
        assert!(n.insert("/a/b", node(2)));
        assert!(n.insert("/a/c", node(3)));
        assert!(!n.insert("/a/b", node(4)), "taken");
        assert!(!n.insert("/x/y", node(4)), "no parent");
        assert!(!n.insert("/a/", node(4)), "empty name");
        assert_eq!(n.len(), 4);
        assert_eq!(n.get("/a").map(|z| z.num_children()), Some(2));
        assert_eq!(n.children("/a"), Some(vec!["b", "c"]));
        assert!(n.get("/a//b").is_none() && n.get("a").is_none() && n.get("").is_none());
        assert!(n.remove("/a").is_none(), "has children");
        assert_eq!(n.remove("/a/b").map(|z| z.czxid), Some(2));
        assert_eq!(n.children("/a"), Some(vec!["c"]));
        assert_eq!(n.get("/a/c").map(|z| z.czxid()), Some(3));
        assert!(n.insert("/a/d", node(5)));
        assert_eq!(n.children("/a"), Some(vec!["c", "d"]));
        assert_eq!(n.descendants("/"), Some(3));
        let paths: Vec<String> = n.iter().map(|(p, _)| p).collect();
        assert_eq!(paths.len(), 4);
        assert!(paths.contains(&"/a/d".to_string()));
    }

    #[test]
    fn a_shared_snapshot_keeps_what_it_saw() {
        let mut n = Nodes::new(node(0));
        for i in 0..3000 {
            assert!(n.insert(&format!("/n{i}"), node(i)));
        }
        let snap = n.share();
        if let Some(mut z) = n.get_mut("/n5") {
            z.set_version(9);
        }
        n.remove("/n7");
        assert_eq!(snap.len(), 3001);
        let seen: Vec<_> = snap
            .records()
            .filter(|r| r.2 == "n5" || r.2 == "n7")
            .collect();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|r| r.3.version() == 0));
        let records = snap
            .records()
            .map(|(id, parent, name, z)| Record {
                id,
                parent,
                name: name.into(),
                node: z.to_znode(),
            })
            .collect();
        let back = Nodes::from_records(records).expect("rebuild");
        assert_eq!(back.len(), 3001);
        assert!(back.get("/n7").is_some());
        assert_eq!(back.get("/").map(|z| z.num_children()), Some(3000));
    }

    /// Records that are not one tree (from a damaged disk or a bad peer) are
    /// refused rather than restored as a tree missing nodes; and equality sees
    /// a single changed field.
    #[test]
    fn records_that_do_not_form_a_tree_are_refused() {
        let r = |id, parent, name: &str| Record {
            id,
            parent,
            name: name.into(),
            node: node(i64::from(id)),
        };
        let good = || vec![r(0, NONE, ""), r(5, 9, "b"), r(9, 0, "a")];
        let tree = Nodes::from_records(good()).expect("a parent after its child is fine");
        assert_eq!(tree.get("/a/b").map(|z| z.czxid()), Some(5));
        let mut changed = Nodes::from_records(good()).expect("same");
        assert!(changed == tree);
        if let Some(mut z) = changed.get_mut("/a/b") {
            z.set_version(1);
        }
        assert!(changed != tree, "equality must see a changed version");
        let cycle = vec![r(0, NONE, ""), r(1, 2, "x"), r(2, 1, "y")];
        assert!(Nodes::from_records(cycle).is_err());
        let twins = vec![r(0, NONE, ""), r(1, 0, "x"), r(2, 0, "x")];
        assert!(Nodes::from_records(twins).is_err());
        let orphan = vec![r(0, NONE, ""), r(1, 7, "x")];
        assert!(Nodes::from_records(orphan).is_err());
        assert!(
            Nodes::from_records(vec![r(1, 0, "x")]).is_err(),
            "no root first"
        );
    }

    /// Every sequence of inserts, removals and changes leaves the compact
    /// store as a map of path to node would be: the same nodes with the
    /// same fields (defaults kept out of line included), children in name
    /// order, and a snapshot of it rebuilds the same.
    mod against_a_model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            Insert(usize, Option<Vec<u8>>, i64),
            Remove(usize),
            Data(usize, Option<Vec<u8>>),
            Counters(usize, i64, i32),
            Version(usize, i32),
        }

        // Names that sort by bytes, not by length or case, and one that
        // is a prefix of another.
        const PATHS: [&str; 10] = [
            "/a", "/a/b", "/a/B", "/a/b0", "/a/b/c", "/é", "/é/x", "/z", "/z/a", "/a/b/c/d",
        ];

        fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
            prop_oneof![
                Just(None),
                Just(Some(Vec::new())),
                prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            let p = 0..PATHS.len();
            prop_oneof![
                4 => (p.clone(), data(), prop_oneof![Just(0i64), Just(7), Just(i64::MIN)])
                    .prop_map(|(p, d, o)| Op::Insert(p, d, o)),
                2 => p.clone().prop_map(Op::Remove),
                1 => (p.clone(), data()).prop_map(|(p, d)| Op::Data(p, d)),
                1 => (p.clone(), any::<i64>(), any::<i32>()).prop_map(|(p, z, c)| Op::Counters(p, z, c)),
                1 => (p, any::<i32>()).prop_map(|(p, v)| Op::Version(p, v)),
            ]
        }

        fn parent(path: &str) -> &str {
            match path.rsplit_once('/') {
                Some(("", _)) => "/",
                Some((p, _)) => p,
                None => "/",
            }
        }

        fn check(n: &Nodes, model: &BTreeMap<String, Znode>) -> Result<(), TestCaseError> {
            prop_assert_eq!(n.len(), model.len());
            for (path, want) in model {
                let mut want = want.clone();
                let kids: Vec<&str> = model
                    .keys()
                    .filter(|k| *k != "/" && parent(k) == path)
                    .map(|k| k.rsplit('/').next().unwrap_or(""))
                    .collect();
                want.num_children = kids.len() as u32;
                let got = n.get(path).map(|g| g.to_znode());
                prop_assert_eq!(got.as_ref(), Some(&want), "{}", path);
                let mut sorted = kids.clone();
                sorted.sort_unstable();
                prop_assert_eq!(n.children(path), Some(sorted));
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn behaves_as_a_map(ops in prop::collection::vec(op(), 1..60)) {
                let mut n = Nodes::new(node(0));
                let mut model: BTreeMap<String, Znode> = BTreeMap::new();
                model.insert("/".into(), node(0));
                for (zxid, op) in (1i64..).zip(ops) {
                    match op {
                        Op::Insert(p, data, owner) => {
                            let path = PATHS[p];
                            let mut z = node(zxid);
                            z.data = data.map(Vec::into_boxed_slice);
                            z.owner = owner;
                            let ok = model.contains_key(parent(path)) && !model.contains_key(path);
                            prop_assert_eq!(n.insert(path, z.clone()), ok);
                            if ok {
                                model.insert(path.into(), z);
                            }
                        }
                        Op::Remove(p) => {
                            let path = PATHS[p];
                            let leaf = !model.keys().any(|k| k != "/" && parent(k) == path);
                            let want = if leaf { model.remove(path) } else { None };
                            let got = n.remove(path);
                            prop_assert_eq!(got.map(|g| (g.czxid, g.data)), want.map(|w| (w.czxid, w.data)));
                        }
                        Op::Data(p, data) => {
                            if let (Some(mut g), Some(w)) = (n.get_mut(PATHS[p]), model.get_mut(PATHS[p])) {
                                g.set_data(data.as_deref());
                                w.data = data.map(Vec::into_boxed_slice);
                            }
                        }
                        Op::Counters(p, pzxid, cversion) => {
                            if let (Some(mut g), Some(w)) = (n.get_mut(PATHS[p]), model.get_mut(PATHS[p])) {
                                g.set_pzxid(pzxid);
                                g.set_cversion(cversion);
                                w.pzxid = pzxid;
                                w.cversion = cversion;
                            }
                        }
                        Op::Version(p, v) => {
                            if let (Some(mut g), Some(w)) = (n.get_mut(PATHS[p]), model.get_mut(PATHS[p])) {
                                g.set_version(v);
                                w.version = v;
                            }
                        }
                    }
                    check(&n, &model)?;
                }
                let snap = n.share();
                let records = snap
                    .records()
                    .map(|(id, parent, name, z)| Record { id, parent, name: name.into(), node: z.to_znode() })
                    .collect();
                let back = Nodes::from_records(records).map_err(TestCaseError::fail)?;
                check(&back, &model)?;
            }
        }
    }
}
