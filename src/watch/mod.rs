//! Watches registered by the connections of this node. Like ZooKeeper's,
//! they belong to a connection: they go when it closes, and a client that
//! reconnects registers them again with SetWatches.
//!
//! Tree changes come in from apply; out go (connection, event) pairs, at most
//! one event per connection per change, as ZooKeeper's WatchManager sends them.

use std::collections::{BTreeSet, HashMap};

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

#[derive(Default)]
pub struct Watches {
    by_path: HashMap<Kind, HashMap<String, BTreeSet<ConnId>>>,
    by_conn: HashMap<ConnId, BTreeSet<(Kind, String)>>,
    /// Paths with recursive watches, so a change only walks its ancestors when there are any.
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
    pub fn add(&mut self, conn: ConnId, kind: Kind, path: &str) {
        let added = self
            .by_path
            .entry(kind)
            .or_default()
            .entry(path.to_string())
            .or_default()
            .insert(conn);
        if added {
            self.by_conn
                .entry(conn)
                .or_default()
                .insert((kind, path.to_string()));
            if kind == Kind::Recursive {
                self.recursive_count += 1;
            }
        }
    }

    fn remove(&mut self, conn: ConnId, kind: Kind, path: &str) -> bool {
        let Some(table) = self.by_path.get_mut(&kind) else {
            return false;
        };
        let removed = table.get_mut(path).is_some_and(|set| set.remove(&conn));
        if removed {
            if table.get(path).is_some_and(BTreeSet::is_empty) {
                table.remove(path);
            }
            if let Some(mine) = self.by_conn.get_mut(&conn) {
                mine.remove(&(kind, path.to_string()));
                if mine.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
            if kind == Kind::Recursive {
                self.recursive_count -= 1;
            }
        }
        removed
    }

    /// Whether any connection holds a persistent-recursive watch.
    pub fn any_recursive(&self) -> bool {
        self.recursive_count > 0
    }

    pub fn has(&self, conn: ConnId, kind: Kind, path: &str) -> bool {
        self.by_path
            .get(&kind)
            .and_then(|t| t.get(path))
            .is_some_and(|s| s.contains(&conn))
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
            for (kind, path) in mine {
                if let Some(table) = self.by_path.get_mut(&kind)
                    && let Some(set) = table.get_mut(&path)
                {
                    set.remove(&conn);
                    if set.is_empty() {
                        table.remove(&path);
                    }
                }
                if kind == Kind::Recursive {
                    self.recursive_count -= 1;
                }
            }
        }
    }

    pub fn count(&self) -> usize {
        self.by_conn.values().map(BTreeSet::len).sum()
    }

    /// Connections holding at least one watch.
    pub fn connections(&self) -> usize {
        self.by_conn.len()
    }

    /// Connections, and the paths each watches, for `wchc`.
    pub fn by_conn(&self) -> impl Iterator<Item = (ConnId, &BTreeSet<(Kind, String)>)> {
        self.by_conn.iter().map(|(c, s)| (*c, s))
    }

    /// One-shot watches on `path` of `kind` fire once and go.
    fn take_one_shot(&mut self, kind: Kind, path: &str) -> BTreeSet<ConnId> {
        let conns = self
            .by_path
            .get_mut(&kind)
            .and_then(|t| t.remove(path))
            .unwrap_or_default();
        for conn in &conns {
            if let Some(mine) = self.by_conn.get_mut(conn) {
                mine.remove(&(kind, path.to_string()));
                if mine.is_empty() {
                    self.by_conn.remove(conn);
                }
            }
        }
        conns
    }

    fn holders(&self, kind: Kind, path: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.by_path
            .get(&kind)
            .and_then(|t| t.get(path))
            .into_iter()
            .flatten()
            .copied()
    }

    /// Recursive watchers on `path` or any ancestor of it.
    fn recursive_holders(&self, path: &str) -> BTreeSet<ConnId> {
        let mut out = BTreeSet::new();
        if self.recursive_count == 0 {
            return out;
        }
        let mut p = path;
        loop {
            out.extend(self.holders(Kind::Recursive, p));
            if p == "/" {
                return out;
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
            conns.extend(self.take_one_shot(*kind, path));
        }
        conns.extend(self.holders(Kind::Persistent, path));
        // Recursive watches see the node events below them, never child-list events.
        if change.kind != ChangeKind::ChildrenChanged {
            conns.extend(self.recursive_holders(path));
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
}
