//! The znodes, stored compactly and addressed by path.
//!
//! A million znodes must fit in little more than their names and data, so
//! nothing here keeps a full path per node or a second copy of a name:
//! - records live in fixed-size chunks of an arena, addressed by a `u32` id,
//!   and each holds its own name (the last path component) and its parent's id;
//! - one hash table of ids finds a child by (parent id, name); it hashes and
//!   compares through the records, so it stores four bytes per node;
//! - a node with children has a list of their ids (and each child its place
//!   in it, so removal is a swap).
//!
//! Chunks are shared with snapshots: taking one clones a chunk list of
//! `Arc`s under the node lock, and a chunk is copied only when apply changes
//! it while a snapshot still reads it. Ids are memory only: replicas and a
//! restored tree may number nodes differently and still hold the same tree.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use super::znode::Znode;

type Id = u32;
const NONE: u32 = u32::MAX;
const ROOT: Id = 0;
/// Records per chunk: the unit a snapshot shares and apply copies.
const CHUNK: usize = 1024;

#[derive(Debug, Clone)]
struct Rec {
    node: Znode,
    name: Box<str>,
    parent: Id,
    /// This node's child list in `Nodes::lists`, or NONE.
    kids: u32,
    /// Where this node sits in its parent's child list.
    pos: u32,
}

type Chunk = Vec<Option<Rec>>;

/// Every znode, root included.
#[derive(Clone)]
pub struct Nodes {
    chunks: Vec<Arc<Chunk>>,
    free: Vec<Id>,
    /// Ids, found by (parent, name).
    index: HashTable<Id>,
    /// Random keys: names come from clients, who must not pick collisions.
    hasher: RandomState,
    lists: Vec<Vec<Id>>,
    free_lists: Vec<u32>,
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").field("len", &self.len()).finish()
    }
}

/// Same paths with equal nodes, however they are numbered.
impl PartialEq for Nodes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(path, n)| other.get(&path) == Some(n))
    }
}

impl Eq for Nodes {}

fn rec(chunks: &[Arc<Chunk>], id: Id) -> Option<&Rec> {
    let id = id as usize;
    chunks.get(id / CHUNK)?.get(id % CHUNK)?.as_ref()
}

fn rec_mut(chunks: &mut [Arc<Chunk>], id: Id) -> Option<&mut Rec> {
    let id = id as usize;
    Arc::make_mut(chunks.get_mut(id / CHUNK)?)
        .get_mut(id % CHUNK)?
        .as_mut()
}

fn key_hash(hasher: &RandomState, parent: Id, name: &str) -> u64 {
    hasher.hash_one((parent, name))
}

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

impl Nodes {
    /// A tree holding only the root.
    pub fn new(mut root: Znode) -> Self {
        root.num_children = 0;
        let mut first = Vec::with_capacity(CHUNK);
        first.push(Some(Rec {
            node: root,
            name: "".into(),
            parent: NONE,
            kids: NONE,
            pos: 0,
        }));
        Nodes {
            chunks: vec![Arc::new(first)],
            free: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
            lists: Vec::new(),
            free_lists: Vec::new(),
        }
    }

    /// Every node but the root is in the index.
    pub fn len(&self) -> usize {
        self.index.len() + 1
    }

    fn child(&self, parent: Id, name: &str) -> Option<Id> {
        let hash = key_hash(&self.hasher, parent, name);
        let chunks = &self.chunks;
        self.index
            .find(hash, |&id| {
                rec(chunks, id).is_some_and(|r| r.parent == parent && &*r.name == name)
            })
            .copied()
    }

    fn id(&self, path: &str) -> Option<Id> {
        let mut at = ROOT;
        for name in components(path)? {
            at = self.child(at, name)?;
        }
        Some(at)
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        rec(&self.chunks, self.id(path)?).map(|r| &r.node)
    }

    pub fn get_mut(&mut self, path: &str) -> Option<&mut Znode> {
        let id = self.id(path)?;
        rec_mut(&mut self.chunks, id).map(|r| &mut r.node)
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.id(path).is_some()
    }

    /// Child names, sorted (ZooKeeper's order is its hash set's; sorted is
    /// one every replica agrees on).
    pub fn children(&self, path: &str) -> Option<Vec<&str>> {
        let r = rec(&self.chunks, self.id(path)?)?;
        let mut names: Vec<&str> = self
            .kid_ids(r)
            .iter()
            .filter_map(|&c| rec(&self.chunks, c).map(|k| &*k.name))
            .collect();
        names.sort_unstable();
        Some(names)
    }

    fn kid_ids(&self, r: &Rec) -> &[Id] {
        self.lists
            .get(r.kids as usize)
            .map_or(&[], |l| l.as_slice())
    }

    /// How many nodes lie below `path` (not counting it).
    pub fn descendants(&self, path: &str) -> Option<u64> {
        let mut stack = vec![self.id(path)?];
        let mut count = 0u64;
        while let Some(id) = stack.pop() {
            if let Some(r) = rec(&self.chunks, id) {
                let kids = self.kid_ids(r);
                count += kids.len() as u64;
                stack.extend_from_slice(kids);
            }
        }
        Some(count)
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
        if name.is_empty() || self.child(parent, name).is_some() {
            return false;
        }
        let id = self.store(node, name.into());
        self.attach(id, parent)
    }

    /// Put a record, not yet attached to a parent, in a free slot. Its
    /// child count starts at 0 and follows its children's `attach`.
    fn store(&mut self, mut node: Znode, name: Box<str>) -> Id {
        node.num_children = 0;
        let r = Some(Rec {
            node,
            name,
            parent: NONE,
            kids: NONE,
            pos: 0,
        });
        if let Some(id) = self.free.pop()
            && let Some(slot) =
                Arc::make_mut(&mut self.chunks[id as usize / CHUNK]).get_mut(id as usize % CHUNK)
        {
            *slot = r;
            return id;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = self.chunks.len() - 1;
        let chunk = Arc::make_mut(&mut self.chunks[last]);
        chunk.push(r);
        (last * CHUNK + chunk.len() - 1) as Id
    }

    /// Make stored record `id` a child of `parent` (stored too): its list,
    /// its child count and the index. False, and nothing changed, when the
    /// parent already has a child of that name or either id is not stored.
    fn attach(&mut self, id: Id, parent: Id) -> bool {
        let Some(r) = rec(&self.chunks, id) else {
            return false;
        };
        if rec(&self.chunks, parent).is_none() {
            return false;
        }
        let hash = key_hash(&self.hasher, parent, &r.name);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let name = &r.name;
        match self.index.entry(
            hash,
            |&k| rec(chunks, k).is_some_and(|o| o.parent == parent && o.name == *name),
            |&k| rec(chunks, k).map_or(0, |o| key_hash(hasher, o.parent, &o.name)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => return false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let Some(p) = rec_mut(&mut self.chunks, parent) else {
            return false;
        };
        if p.kids == NONE {
            // The parent's list, made on its first child.
            p.kids = self.free_lists.pop().unwrap_or_else(|| {
                self.lists.push(Vec::new());
                (self.lists.len() - 1) as u32
            });
        }
        p.node.num_children = p.node.num_children.saturating_add(1);
        let Some(list) = self.lists.get_mut(p.kids as usize) else {
            return false;
        };
        let pos = list.len() as u32;
        list.push(id);
        if let Some(r) = rec_mut(&mut self.chunks, id) {
            r.parent = parent;
            r.pos = pos;
        }
        true
    }

    /// Take out a childless node (the root and nodes with children stay).
    pub fn remove(&mut self, path: &str) -> Option<Znode> {
        let id = self.id(path)?;
        let r = rec(&self.chunks, id)?;
        if id == ROOT || r.node.num_children > 0 {
            return None;
        }
        let (parent, pos) = (r.parent, r.pos as usize);
        let hash = key_hash(&self.hasher, parent, &r.name);
        if let Ok(entry) = self.index.find_entry(hash, |&k| k == id) {
            entry.remove();
        }
        let chunk = Arc::make_mut(self.chunks.get_mut(id as usize / CHUNK)?);
        let taken = chunk.get_mut(id as usize % CHUNK)?.take()?;
        self.free.push(id);
        // Out of the parent's list: the last child takes its place.
        let p = rec_mut(&mut self.chunks, parent)?;
        p.node.num_children = p.node.num_children.saturating_sub(1);
        let slot = p.kids;
        let list = self.lists.get_mut(slot as usize)?;
        list.swap_remove(pos);
        let moved = list.get(pos).copied();
        if list.is_empty() {
            *list = Vec::new();
            self.free_lists.push(slot);
            p.kids = NONE;
        } else if list.capacity() > 64 && list.len() < list.capacity() / 4 {
            list.shrink_to(list.len() * 2);
        }
        if let Some(m) = moved
            && let Some(mr) = rec_mut(&mut self.chunks, m)
        {
            mr.pos = pos as u32;
        }
        Some(taken.node)
    }

    /// Every node with its path, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = (String, &Znode)> {
        let mut stack: Vec<(String, Id)> = vec![("/".to_string(), ROOT)];
        std::iter::from_fn(move || {
            let (path, id) = stack.pop()?;
            let r = rec(&self.chunks, id)?;
            for &k in self.kid_ids(r) {
                if let Some(kr) = rec(&self.chunks, k) {
                    stack.push((super::path::join(&path, &kr.name), k));
                }
            }
            Some((path, &r.node))
        })
    }

    /// Every node with its path, parents before children, building each
    /// path in one reused buffer (a restore tallies a million of them).
    pub fn for_each(&self, mut f: impl FnMut(&str, &Znode)) {
        let mut path = String::from("/");
        let Some(root) = rec(&self.chunks, ROOT) else {
            return;
        };
        f(&path, &root.node);
        // (node, length of its parent's path)
        let mut stack: Vec<(Id, usize)> = self.kid_ids(root).iter().map(|&k| (k, 0)).collect();
        while let Some((id, at)) = stack.pop() {
            let Some(r) = rec(&self.chunks, id) else {
                continue;
            };
            path.truncate(at);
            path.push('/');
            path.push_str(&r.name);
            f(&path, &r.node);
            let here = path.len();
            stack.extend(self.kid_ids(r).iter().map(|&k| (k, here)));
        }
    }

    /// What a snapshot reads: the chunks as they are now, shared.
    pub fn share(&self) -> SharedNodes {
        SharedNodes {
            chunks: self.chunks.clone(),
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
        // Sized once: growing a million-entry table rehashes it many times.
        let hasher = nodes.hasher.clone();
        nodes.index.reserve(count, |&k| {
            rec(&nodes.chunks, k).map_or(0, |r| key_hash(&hasher, r.parent, &r.name))
        });
        nodes.chunks.reserve(count / CHUNK + 1);
        let mut renumber = Renumber::new(count);
        renumber.insert(root.id, ROOT)?;
        let mut pending = Vec::with_capacity(count);
        for r in records {
            let id = nodes.store(r.node, r.name);
            renumber.insert(r.id, id)?;
            pending.push((id, r.parent));
        }
        for (id, old) in pending {
            let parent = renumber
                .get(old)
                .ok_or_else(|| format!("node {id} has no parent {old}"))?;
            if !nodes.attach(id, parent) {
                let name = rec(&nodes.chunks, id).map_or("", |r| &r.name);
                return Err(format!("two nodes named {name} under one parent"));
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
    chunks: Vec<Arc<Chunk>>,
    len: usize,
}

impl SharedNodes {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every node with its id and parent's id, root first.
    pub fn records(&self) -> impl Iterator<Item = (u32, u32, &str, &Znode)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, r)| {
                r.as_ref()
                    .map(|r| ((c * CHUNK + i) as u32, r.parent, &*r.name, &r.node))
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
        assert_eq!(n.get("/a").map(|z| z.num_children), Some(2));
        assert_eq!(n.children("/a"), Some(vec!["b", "c"]));
        assert!(n.get("/a//b").is_none() && n.get("a").is_none() && n.get("").is_none());
        assert!(n.remove("/a").is_none(), "has children");
        assert_eq!(n.remove("/a/b").map(|z| z.czxid), Some(2));
        assert_eq!(n.children("/a"), Some(vec!["c"]));
        assert_eq!(n.get("/a/c").map(|z| z.czxid), Some(3));
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
        if let Some(z) = n.get_mut("/n5") {
            z.version = 9;
        }
        n.remove("/n7");
        assert_eq!(snap.len(), 3001);
        let seen: Vec<_> = snap
            .records()
            .filter(|r| r.2 == "n5" || r.2 == "n7")
            .collect();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|r| r.3.version == 0));
        let records = snap
            .records()
            .map(|(id, parent, name, z)| Record {
                id,
                parent,
                name: name.into(),
                node: z.clone(),
            })
            .collect();
        let back = Nodes::from_records(records).expect("rebuild");
        assert_eq!(back.len(), 3001);
        assert!(back.get("/n7").is_some());
        assert_eq!(back.get("/").map(|z| z.num_children), Some(3000));
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
        assert_eq!(tree.get("/a/b").map(|z| z.czxid), Some(5));
        let mut changed = Nodes::from_records(good()).expect("same");
        assert!(changed == tree);
        if let Some(z) = changed.get_mut("/a/b") {
            z.version = 1;
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
}
