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
    len: usize,
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").field("len", &self.len).finish()
    }
}

/// Same paths with equal nodes, however they are numbered.
impl PartialEq for Nodes {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(path, n)| other.get(&path) == Some(n))
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
    pub fn new(root: Znode) -> Self {
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
            len: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.len
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
    pub fn insert(&mut self, path: &str, mut node: Znode) -> bool {
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
        node.num_children = 0;
        let id = self.alloc();
        // The parent's list, made on its first child.
        let Some(p) = rec_mut(&mut self.chunks, parent) else {
            return false;
        };
        if p.kids == NONE {
            p.kids = match self.free_lists.pop() {
                Some(slot) => slot,
                None => {
                    self.lists.push(Vec::new());
                    (self.lists.len() - 1) as u32
                }
            };
        }
        p.node.num_children = p.node.num_children.saturating_add(1);
        let list_slot = p.kids as usize;
        let Some(list) = self.lists.get_mut(list_slot) else {
            return false;
        };
        let pos = list.len() as u32;
        list.push(id);
        let r = Rec {
            node,
            name: name.into(),
            parent,
            kids: NONE,
            pos,
        };
        let (c, i) = (id as usize / CHUNK, id as usize % CHUNK);
        if let Some(chunk) = self.chunks.get_mut(c) {
            let chunk = Arc::make_mut(chunk);
            if i < chunk.len() {
                chunk[i] = Some(r);
            } else {
                chunk.push(Some(r));
            }
        }
        let hash = key_hash(&self.hasher, parent, name);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, id, |&k| {
            rec(chunks, k).map_or(0, |r| key_hash(hasher, r.parent, &r.name))
        });
        self.len += 1;
        true
    }

    /// A free id, with room for it in the last chunk.
    fn alloc(&mut self) -> Id {
        if let Some(id) = self.free.pop() {
            return id;
        }
        let total = self.chunks.len() * CHUNK;
        let used = self.chunks.last().map_or(0, |c| c.len());
        if used == CHUNK || self.chunks.is_empty() {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
            return total as Id;
        }
        (total - CHUNK + used) as Id
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
        self.len -= 1;
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

    /// What a snapshot reads: the chunks as they are now, shared.
    pub fn share(&self) -> SharedNodes {
        SharedNodes {
            chunks: self.chunks.clone(),
            len: self.len,
        }
    }

    /// Rebuild from records as [`SharedNodes::records`] lists them.
    pub fn from_records(records: Vec<Record>) -> Result<Self, String> {
        let mut renumber = std::collections::HashMap::with_capacity(records.len());
        for (new, r) in records.iter().enumerate() {
            renumber.insert(r.id, new as Id);
        }
        let root = records
            .iter()
            .position(|r| r.parent == NONE)
            .ok_or("snapshot has no root")?;
        if root != 0 {
            return Err("snapshot root is not first".into());
        }
        let mut nodes: Option<Nodes> = None;
        let mut parents = Vec::with_capacity(records.len());
        for r in records {
            let parent = if r.parent == NONE {
                NONE
            } else {
                *renumber
                    .get(&r.parent)
                    .ok_or_else(|| format!("node {} has no parent {}", r.name, r.parent))?
            };
            let mut node = r.node;
            node.num_children = 0;
            match nodes.as_mut() {
                None => nodes = Some(Nodes::new(node)),
                Some(n) => {
                    let id = n.alloc();
                    let rec = Rec {
                        node,
                        name: r.name,
                        parent,
                        kids: NONE,
                        pos: 0,
                    };
                    if let Some(chunk) = n.chunks.get_mut(id as usize / CHUNK) {
                        Arc::make_mut(chunk).push(Some(rec));
                    }
                    n.len += 1;
                }
            }
            parents.push(parent);
        }
        let mut nodes = nodes.ok_or("empty snapshot")?;
        // Link every node to its parent now that all exist.
        for (id, parent) in parents.into_iter().enumerate().skip(1) {
            nodes.link(id as Id, parent)?;
        }
        Ok(nodes)
    }

    /// Enter an already stored record into its parent's list and the index.
    fn link(&mut self, id: Id, parent: Id) -> Result<(), String> {
        let name: Box<str> = rec(&self.chunks, id).ok_or("no record")?.name.clone();
        if self.child(parent, &name).is_some() {
            return Err(format!("two nodes named {name} under one parent"));
        }
        let p = rec_mut(&mut self.chunks, parent).ok_or("missing parent")?;
        if p.kids == NONE {
            self.lists.push(Vec::new());
            p.kids = (self.lists.len() - 1) as u32;
        }
        p.node.num_children = p.node.num_children.saturating_add(1);
        let list = self.lists.get_mut(p.kids as usize).ok_or("no list")?;
        let pos = list.len() as u32;
        list.push(id);
        if let Some(r) = rec_mut(&mut self.chunks, id) {
            r.pos = pos;
        }
        let hash = key_hash(&self.hasher, parent, &name);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, id, |&k| {
            rec(chunks, k).map_or(0, |r| key_hash(hasher, r.parent, &r.name))
        });
        Ok(())
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
}
