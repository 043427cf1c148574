//! Watches registered by the connections of this node. Like ZooKeeper's,
//! they belong to a connection: they go when it closes, and a client that
//! reconnects registers them again with SetWatches.
//!
//! Tree changes come in from apply; out go (connection, event) pairs, at most
//! one event per connection per change, as ZooKeeper's WatchManager sends them.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

use hashbrown::HashTable;
use jute::{EventType, WatcherType};

use crate::tree::path;
use crate::tree::{Change, ChangeKind};

/// A connection on this node.
pub type ConnId = u64;

/// The kinds of watch a connection can hold on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// One-shot, from getData or exists (ZooKeeper's data and exist watches share a table).
    Data,
    /// One-shot, from getChildren.
    Child,
    /// addWatch mode 0: data, create, delete and child events on the path, kept.
    Persistent,
    /// addWatch mode 1: data, create and delete events on the path and below, kept.
    Recursive,
}

const KINDS: [Kind; 4] = [Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive];

/// A watched path, by its id in `Paths`, and a kind: 8 bytes, so a
/// connection's set of watches costs little more than that per watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    path: u32,
    kind: Kind,
}

/// Watched paths, each stored once and named by a small id while any watch
/// is on it (a million watches on ten thousand paths hold ten thousand
/// strings, not two million).
#[derive(Default)]
struct Paths {
    /// Ids, hashed through their path (hashbrown: the table stores no key).
    index: HashTable<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    hasher: RandomState,
}

#[derive(Default)]
struct Slot {
    path: Box<str>,
    /// Watches on this path, of any kind and connection.
    watches: u32,
}

impl Paths {
    fn id(&self, path: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(path);
        self.index.find(hash, |&id| self.path(id) == path).copied()
    }

    fn path(&self, id: u32) -> &str {
        self.slots.get(id as usize).map_or("", |s| &s.path)
    }

    /// The path's id, taken for one more watch.
    fn hold(&mut self, path: &str) -> u32 {
        let id = match self.id(path) {
            Some(id) => id,
            None => {
                let slot = Slot {
                    path: path.into(),
                    watches: 0,
                };
                let id = match self.free.pop() {
                    Some(id) => {
                        self.slots[id as usize] = slot;
                        id
                    }
                    None => {
                        self.slots.push(slot);
                        u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
                    }
                };
                let hash = self.hasher.hash_one(path);
                let (slots, hasher) = (&self.slots, &self.hasher);
                self.index.insert_unique(hash, id, |&i| {
                    hasher.hash_one(slots.get(i as usize).map_or("", |s| &*s.path))
                });
                id
            }
        };
        if let Some(slot) = self.slots.get_mut(id as usize) {
            slot.watches += 1;
        }
        id
    }

    /// One watch on the path went; the path goes with its last one.
    fn release(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        slot.watches = slot.watches.saturating_sub(1);
        if slot.watches > 0 {
            return;
        }
        let path = std::mem::take(&mut slot.path);
        let hash = self.hasher.hash_one(&*path);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        self.free.push(id);
        // Given back when every watch is gone, as after a burst.
        if self.free.len() == self.slots.len() {
            *self = Paths {
                hasher: std::mem::take(&mut self.hasher),
                ..Paths::default()
            };
        }
    }
}

/// The connections holding one kind of watch on one path: most paths are
/// watched by one connection, which needs no set of its own.
enum Holders {
    One(ConnId),
    Many(BTreeSet<ConnId>),
}

impl Holders {
    /// Whether it was not there.
    fn insert(&mut self, conn: ConnId) -> bool {
        match self {
            Holders::One(c) if *c == conn => false,
            Holders::One(c) => {
                *self = Holders::Many(BTreeSet::from([*c, conn]));
                true
            }
            Holders::Many(set) => set.insert(conn),
        }
    }

    /// Whether it was there; the holders are then possibly empty.
    fn remove(&mut self, conn: ConnId) -> (bool, bool) {
        match self {
            Holders::One(c) => (*c == conn, *c == conn),
            Holders::Many(set) => {
                let removed = set.remove(&conn);
                (removed, set.is_empty())
            }
        }
    }

    fn contains(&self, conn: ConnId) -> bool {
        match self {
            Holders::One(c) => *c == conn,
            Holders::Many(set) => set.contains(&conn),
        }
    }

    fn iter(&self) -> impl Iterator<Item = ConnId> + '_ {
        let (one, many) = match self {
            Holders::One(c) => (Some(*c), None),
            Holders::Many(set) => (None, Some(set.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[derive(Default)]
pub struct Watches {
    paths: Paths,
    by_path: HashMap<Key, Holders>,
    by_conn: HashMap<ConnId, HashSet<Key>>,
    count: usize,
    /// Recursive watches, so a change only walks its ancestors when there are any.
    recursive_count: usize,
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub conn: ConnId,
    pub event: EventType,
    pub path: String,
}

impl Watches {
    fn key(&self, kind: Kind, path: &str) -> Option<Key> {
        self.paths.id(path).map(|path| Key { path, kind })
    }

    pub fn add(&mut self, conn: ConnId, kind: Kind, path: &str) {
        if self.has(conn, kind, path) {
            return;
        }
        let key = Key {
            path: self.paths.hold(path),
            kind,
        };
        match self.by_path.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                e.get_mut().insert(conn);
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Holders::One(conn));
            }
        }
        self.by_conn.entry(conn).or_default().insert(key);
        self.count += 1;
        if kind == Kind::Recursive {
            self.recursive_count += 1;
        }
    }

    /// Take one watch out of the tables (the connection's set excepted).
    fn forget(&mut self, conn: ConnId, key: Key) -> bool {
        let Some(holders) = self.by_path.get_mut(&key) else {
            return false;
        };
        let (removed, empty) = holders.remove(conn);
        if !removed {
            return false;
        }
        if empty {
            self.by_path.remove(&key);
        }
        self.paths.release(key.path);
        self.count -= 1;
        if key.kind == Kind::Recursive {
            self.recursive_count -= 1;
        }
        true
    }

    fn remove(&mut self, conn: ConnId, kind: Kind, path: &str) -> bool {
        let Some(key) = self.key(kind, path) else {
            return false;
        };
        if !self.forget(conn, key) {
            return false;
        }
        if let Some(mine) = self.by_conn.get_mut(&conn) {
            mine.remove(&key);
            if mine.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        true
    }

    /// Whether any connection holds a persistent-recursive watch.
    pub fn any_recursive(&self) -> bool {
        self.recursive_count > 0
    }

    pub fn has(&self, conn: ConnId, kind: Kind, path: &str) -> bool {
        self.key(kind, path)
            .and_then(|key| self.by_path.get(&key))
            .is_some_and(|h| h.contains(conn))
    }

    /// The kinds a removeWatches/checkWatches watcher type covers. From 3.9 on
    /// Data and Children mean one-shot watches only, and the persistent kinds
    /// can be named.
    fn kinds_of(watcher_type: WatcherType) -> &'static [Kind] {
        match watcher_type {
            WatcherType::Children => &[Kind::Child],
            WatcherType::Data => &[Kind::Data],
            WatcherType::Any => &KINDS,
            WatcherType::Persistent => &[Kind::Persistent],
            WatcherType::PersistentRecursive => &[Kind::Recursive],
        }
    }

    /// checkWatches: does the connection hold such a watch?
    pub fn check(&self, conn: ConnId, watcher_type: WatcherType, path: &str) -> bool {
        Self::kinds_of(watcher_type)
            .iter()
            .any(|k| self.has(conn, *k, path))
    }

    /// removeWatches: remove them; false when there was none (NoWatcher).
    pub fn remove_type(&mut self, conn: ConnId, watcher_type: WatcherType, path: &str) -> bool {
        let mut any = false;
        for kind in Self::kinds_of(watcher_type) {
            any |= self.remove(conn, *kind, path);
        }
        any
    }

    /// Forget everything a closed connection registered.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(mine) = self.by_conn.remove(&conn) {
            for key in mine {
                self.forget(conn, key);
            }
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Connections holding at least one watch.
    pub fn connections(&self) -> usize {
        self.by_conn.len()
    }

    /// Connections, and the paths each watches (a path once per kind), for `wchc`.
    pub fn by_conn(&self) -> impl Iterator<Item = (ConnId, impl Iterator<Item = &str>)> {
        self.by_conn
            .iter()
            .map(|(c, keys)| (*c, keys.iter().map(|k| self.paths.path(k.path))))
    }

    /// One-shot watches on `path` of `kind` fire once and go.
    fn take_one_shot(&mut self, kind: Kind, path: &str, into: &mut BTreeSet<ConnId>) {
        let Some(key) = self.key(kind, path) else {
            return;
        };
        let Some(holders) = self.by_path.remove(&key) else {
            return;
        };
        for conn in holders.iter() {
            into.insert(conn);
            if let Some(mine) = self.by_conn.get_mut(&conn) {
                mine.remove(&key);
                if mine.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
            self.paths.release(key.path);
            self.count -= 1;
        }
    }

    fn holders(&self, kind: Kind, path: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.key(kind, path)
            .and_then(|key| self.by_path.get(&key))
            .into_iter()
            .flat_map(Holders::iter)
    }

    /// Recursive watchers on `path` or any ancestor of it.
    fn recursive_holders(&self, path: &str, into: &mut BTreeSet<ConnId>) {
        if self.recursive_count == 0 {
            return;
        }
        let mut p = path;
        loop {
            into.extend(self.holders(Kind::Recursive, p));
            if p == "/" {
                return;
            }
            p = path::parent(p);
        }
    }

    /// The notifications a tree change causes, removing the one-shot watches it fires.
    pub fn trigger(&mut self, change: &Change) -> Vec<Fired> {
        let path = change.path.as_str();
        let (event, one_shot): (EventType, &[Kind]) = match change.kind {
            ChangeKind::Created => (EventType::NodeCreated, &[Kind::Data]),
            ChangeKind::Deleted => (EventType::NodeDeleted, &[Kind::Data, Kind::Child]),
            ChangeKind::DataChanged => (EventType::NodeDataChanged, &[Kind::Data]),
            ChangeKind::ChildrenChanged => (EventType::NodeChildrenChanged, &[Kind::Child]),
        };
        let mut conns = BTreeSet::new();
        for kind in one_shot {
            self.take_one_shot(*kind, path, &mut conns);
        }
        conns.extend(self.holders(Kind::Persistent, path));
        // Recursive watches see the node events below them, never child-list events.
        if change.kind != ChangeKind::ChildrenChanged {
            self.recursive_holders(path, &mut conns);
        }
        conns
            .into_iter()
            .map(|conn| Fired {
                conn,
                event,
                path: path.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(kind: ChangeKind, path: &str) -> Change {
        Change {
            kind,
            path: path.into(),
            acl: jute::Acl::open_unsafe().into(),
        }
    }

    fn fired(w: &mut Watches, c: Change) -> Vec<(ConnId, EventType)> {
        w.trigger(&c)
            .into_iter()
            .map(|f| (f.conn, f.event))
            .collect()
    }

    #[test]
    fn one_shot_watches_fire_once() {
        let mut w = Watches::default();
        w.add(1, Kind::Data, "/a");
        w.add(2, Kind::Child, "/a");
        assert_eq!(
            fired(&mut w, ch(ChangeKind::DataChanged, "/a")),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert_eq!(fired(&mut w, ch(ChangeKind::DataChanged, "/a")), vec![]);
        assert_eq!(
            fired(&mut w, ch(ChangeKind::ChildrenChanged, "/a")),
            vec![(2, EventType::NodeChildrenChanged)]
        );
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn delete_fires_data_and_child_watches_once_per_connection() {
        let mut w = Watches::default();
        w.add(1, Kind::Data, "/a");
        w.add(1, Kind::Child, "/a");
        w.add(2, Kind::Child, "/a");
        assert_eq!(
            fired(&mut w, ch(ChangeKind::Deleted, "/a")),
            vec![(1, EventType::NodeDeleted), (2, EventType::NodeDeleted)]
        );
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = Watches::default();
        w.add(1, Kind::Persistent, "/a");
        w.add(2, Kind::Recursive, "/a");
        assert_eq!(
            fired(&mut w, ch(ChangeKind::ChildrenChanged, "/a")),
            vec![(1, EventType::NodeChildrenChanged)]
        );
        let deep = w.trigger(&ch(ChangeKind::Created, "/a/b/c"));
        assert_eq!(deep.len(), 1);
        assert_eq!((deep[0].conn, deep[0].path.as_str()), (2, "/a/b/c"));
        assert_eq!(fired(&mut w, ch(ChangeKind::DataChanged, "/a")).len(), 2);
        assert_eq!(
            fired(&mut w, ch(ChangeKind::DataChanged, "/a")).len(),
            2,
            "persistent watches stay"
        );
        assert!(
            !w.remove_type(1, WatcherType::Data, "/a"),
            "Data names one-shot watches only"
        );
        assert!(w.remove_type(1, WatcherType::Persistent, "/a"));
        assert!(w.check(2, WatcherType::Any, "/a"));
        w.remove_conn(2);
        assert_eq!(w.count(), 0);
        assert!(fired(&mut w, ch(ChangeKind::Created, "/a/x")).is_empty());
    }

    /// Every sequence of adds, removals, closes and changes leaves the
    /// table as a plain set of (connection, kind, path) would be, and an
    /// empty table holds no paths.
    mod against_a_model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Add(ConnId, usize, usize),
            Remove(ConnId, usize, usize),
            Close(ConnId),
            Change(usize, usize),
        }

        const PATHS: [&str; 6] = ["/", "/a", "/a/b", "/a/b/c", "/b", "/b/a"];
        const CHANGES: [ChangeKind; 4] = [
            ChangeKind::Created,
            ChangeKind::Deleted,
            ChangeKind::DataChanged,
            ChangeKind::ChildrenChanged,
        ];

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u64..4, 0usize..4, 0usize..6).prop_map(|(c, k, p)| Op::Add(c, k, p)),
                1 => (0u64..4, 0usize..4, 0usize..6).prop_map(|(c, k, p)| Op::Remove(c, k, p)),
                1 => (0u64..4).prop_map(Op::Close),
                2 => (0usize..4, 0usize..6).prop_map(|(c, p)| Op::Change(c, p)),
            ]
        }

        fn under(path: &str, ancestor: &str) -> bool {
            ancestor == "/"
                || path == ancestor
                || path
                    .strip_prefix(ancestor)
                    .is_some_and(|r| r.starts_with('/'))
        }

        proptest! {
            #[test]
            fn behaves_as_a_set(ops in prop::collection::vec(op(), 1..80)) {
                let mut w = Watches::default();
                let mut model: BTreeSet<(ConnId, Kind, &str)> = BTreeSet::new();
                for op in ops {
                    match op {
                        Op::Add(c, k, p) => {
                            w.add(c, KINDS[k], PATHS[p]);
                            model.insert((c, KINDS[k], PATHS[p]));
                        }
                        Op::Remove(c, k, p) => {
                            let t = [WatcherType::Data, WatcherType::Children,
                                WatcherType::Persistent, WatcherType::PersistentRecursive][k];
                            let had = model.remove(&(c, KINDS[k], PATHS[p]));
                            prop_assert_eq!(w.remove_type(c, t, PATHS[p]), had);
                        }
                        Op::Close(c) => {
                            w.remove_conn(c);
                            model.retain(|(m, _, _)| *m != c);
                        }
                        Op::Change(k, p) => {
                            let (kind, path) = (CHANGES[k], PATHS[p]);
                            let one_shot: &[Kind] = match kind {
                                ChangeKind::Created | ChangeKind::DataChanged => &[Kind::Data],
                                ChangeKind::Deleted => &[Kind::Data, Kind::Child],
                                ChangeKind::ChildrenChanged => &[Kind::Child],
                            };
                            let mut expect = BTreeSet::new();
                            for (c, wk, wp) in &model {
                                let hit = ((one_shot.contains(wk) || *wk == Kind::Persistent)
                                    && *wp == path)
                                    || (*wk == Kind::Recursive
                                        && kind != ChangeKind::ChildrenChanged
                                        && under(path, wp));
                                if hit {
                                    expect.insert(*c);
                                }
                            }
                            model.retain(|(_, wk, wp)| !(one_shot.contains(wk) && *wp == path));
                            let got: BTreeSet<ConnId> =
                                w.trigger(&ch(kind, path)).into_iter().map(|f| f.conn).collect();
                            prop_assert_eq!(got, expect);
                        }
                    }
                    prop_assert_eq!(w.count(), model.len());
                    for (c, k, p) in &model {
                        prop_assert!(w.has(*c, *k, p));
                    }
                    let listed: usize = w.by_conn().map(|(_, paths)| paths.count()).sum();
                    prop_assert_eq!(listed, model.len());
                }
                for c in 0..4 {
                    w.remove_conn(c);
                }
                prop_assert_eq!(w.count(), 0);
                prop_assert!(w.paths.slots.is_empty() && w.paths.index.is_empty());
                prop_assert!(!w.any_recursive());
            }
        }
    }
}
