//! Durable storage: the fjall database that holds the raft log and raft metadata, and the
//! snapshot files.
//!
//! Everything here is synchronous and blocking (fjall has no async API); callers run it on
//! blocking threads (`tokio::task::spawn_blocking`). Nothing here knows about openraft: values
//! are opaque bytes, encoded by [`crate::consensus`].

mod snapshot;

use std::fmt;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Slice};

pub use snapshot::{SnapshotFiles, StoredSnapshot};

/// A storage fault (I/O error, corrupt data). Never a business error.
#[derive(Debug, Clone)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError(format!("fjall: {e}"))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError(format!("io: {e}"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Why [`RaftDb::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the database's lock: opening it twice would corrupt it.
    Locked,
    Store(StoreError),
}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        OpenError::Store(e)
    }
}

/// Keys of the `raft_meta` keyspace.
pub mod meta_key {
    pub const VOTE: &[u8] = b"vote";
    pub const COMMITTED: &[u8] = b"committed";
    pub const LAST_PURGED: &[u8] = b"last_purged";
}

/// Log indexes are stored as big-endian u64 so that key order is index order.
pub fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub fn decode_index_key(key: &[u8]) -> StoreResult<u64> {
    let arr: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError(format!("bad log key length {}", key.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// The raft log and raft metadata in one fjall database. One journal serves both keyspaces, so
/// a batch that touches both is atomic and a synced append also persists earlier buffered
/// metadata writes.
pub struct RaftDb {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
}

impl RaftDb {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<RaftDb, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        // The log is written once and read back at most once (the in-memory
        // cache serves apply), so a small memtable and block cache keep
        // memory for the tree rather than for copies of the log.
        let db = match Database::builder(dir).cache_size(8 << 20).open() {
            Ok(db) => db,
            Err(fjall::Error::Locked) => return Err(OpenError::Locked),
            Err(e) => {
                return Err(
                    StoreError(format!("cannot open {}: fjall: {e}", dir.display())).into(),
                );
            }
        };
        let log = db
            .keyspace("raft_log", || {
                KeyspaceCreateOptions::default().max_memtable_size(8 << 20)
            })
            .map_err(StoreError::from)?;
        let meta = db
            .keyspace("raft_meta", KeyspaceCreateOptions::default)
            .map_err(StoreError::from)?;
        Ok(RaftDb { db, log, meta })
    }

    fn mode(sync: bool) -> PersistMode {
        if sync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        }
    }

    /// Writes log entries `(index, value)` in one atomic batch; with `sync` it returns only after
    /// fdatasync.
    pub fn append(&self, entries: &[(u64, Vec<u8>)], sync: bool) -> StoreResult<()> {
        let mut batch = self.db.batch().durability(Some(Self::mode(sync)));
        for (index, value) in entries {
            batch.insert(&self.log, index_key(*index), value.as_slice());
        }
        let started = std::time::Instant::now();
        batch.commit()?;
        if sync {
            crate::metrics::observe_fsync(started.elapsed());
        }
        Ok(())
    }

    /// Entries with index in `start..end` (`end` exclusive; `None` = unbounded), in order.
    pub fn read_range(&self, start: u64, end: Option<u64>) -> StoreResult<Vec<(u64, Slice)>> {
        let iter = match end {
            Some(end) => self.log.range(index_key(start)..index_key(end)),
            None => self.log.range(index_key(start)..),
        };
        let mut out = Vec::new();
        for guard in iter {
            let (k, v) = guard.into_inner()?;
            out.push((decode_index_key(&k)?, v));
        }
        Ok(out)
    }

    /// The entry with the highest index.
    pub fn last_entry(&self) -> StoreResult<Option<(u64, Slice)>> {
        match self.log.last_key_value() {
            None => Ok(None),
            Some(guard) => {
                let (k, v) = guard.into_inner()?;
                Ok(Some((decode_index_key(&k)?, v)))
            }
        }
    }

    pub fn get_log(&self, index: u64) -> StoreResult<Option<Slice>> {
        Ok(self.log.get(index_key(index))?)
    }

    pub fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Slice>> {
        Ok(self.meta.get(key)?)
    }

    pub fn put_meta(&self, key: &[u8], value: &[u8], sync: bool) -> StoreResult<()> {
        let mut batch = self.db.batch().durability(Some(Self::mode(sync)));
        batch.insert(&self.meta, key, value);
        batch.commit()?;
        Ok(())
    }

    /// Deletes every entry with index >= `from` (one tombstone per key: fjall has no range
    /// delete).
    pub fn truncate_from(&self, from: u64, sync: bool) -> StoreResult<usize> {
        let mut batch = self.db.batch().durability(Some(Self::mode(sync)));
        let mut n = 0;
        for guard in self.log.range(index_key(from)..) {
            batch.remove(&self.log, guard.key()?);
            n += 1;
        }
        batch.commit()?;
        Ok(n)
    }

    /// Deletes every entry with index <= `upto` and records `purged_meta` under
    /// [`meta_key::LAST_PURGED`], atomically.
    pub fn purge_upto(&self, upto: u64, purged_meta: &[u8]) -> StoreResult<usize> {
        // Buffered is enough: losing a purge only leaves extra entries below the snapshot, and
        // the tombstones and the marker are in one batch so they can't disagree.
        let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
        let mut n = 0;
        for guard in self.log.range(..=index_key(upto)) {
            batch.remove(&self.log, guard.key()?);
            n += 1;
        }
        batch.insert(&self.meta, meta_key::LAST_PURGED, purged_meta);
        batch.commit()?;
        Ok(n)
    }

    /// Flushes the journal to disk (used on clean shutdown).
    pub fn persist_all(&self) -> StoreResult<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}
