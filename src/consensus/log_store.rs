//! openraft log storage (storage-v2) on top of [`crate::storage::RaftDb`].
//!
//! Entries are postcard-encoded under big-endian index keys. Recent entries are also kept in a
//! bounded in-memory cache: openraft 0.9 reads every entry back from the log store right before
//! applying it, on its core task, so serving those reads from memory keeps fjall off the hot path.

// StorageError is openraft's type, fixed by the traits; boxing it here would only add conversions.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, EntryPayload, RaftLogReader, StorageIOError};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::storage::{RaftDb, StoreError, meta_key};

/// Most entries / payload bytes kept in the read cache. Apply trails append
/// by an entry or two on a healthy node, so a small cache serves it; a
/// larger one only holds memory that a big tree needs more.
const CACHE_MAX_ENTRIES: usize = 1024;
const CACHE_MAX_BYTES: usize = 8 << 20;

fn io_err(subject_write: bool, e: impl std::fmt::Display) -> StorageError {
    let src = AnyError::error(e.to_string());
    let e = if subject_write {
        StorageIOError::write_logs(src)
    } else {
        StorageIOError::read_logs(src)
    };
    StorageError::IO { source: e }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_allocvec(v).map_err(|e| io_err(true, format!("encode: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StorageError> {
    postcard::from_bytes(b).map_err(|e| io_err(false, format!("decode: {e}")))
}

fn entry_size(e: &Entry) -> usize {
    64 + match &e.payload {
        EntryPayload::Normal(b) => b.payload_bytes() + 16 * b.0.len(),
        _ => 0,
    }
}

/// Runs blocking fjall work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| io_err(true, e)),
        Err(e) => Err(io_err(true, format!("storage task failed: {e}"))),
    }
}

struct Mem {
    last_log_id: Option<LogId>,
    last_purged: Option<LogId>,
    cache: BTreeMap<u64, Entry>,
    cache_bytes: usize,
}

impl Mem {
    fn cache_insert(&mut self, e: Entry) {
        self.cache_bytes += entry_size(&e);
        if let Some(old) = self.cache.insert(e.log_id.index, e) {
            self.cache_bytes -= entry_size(&old);
        }
        while self.cache.len() > CACHE_MAX_ENTRIES || self.cache_bytes > CACHE_MAX_BYTES {
            match self.cache.pop_first() {
                Some((_, old)) => self.cache_bytes -= entry_size(&old),
                None => break,
            }
        }
    }

    fn cache_remove(&mut self, range: impl RangeBounds<u64>) {
        let keys: Vec<u64> = self.cache.range(range).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(old) = self.cache.remove(&k) {
                self.cache_bytes -= entry_size(&old);
            }
        }
    }
}

struct Inner {
    db: Arc<RaftDb>,
    fsync: bool,
    mem: Mutex<Mem>,
    /// Last committed index + 1 (0 = none), for metrics.
    committed: Arc<AtomicU64>,
    /// The newest committed log id not yet handed to the journal, and
    /// whether a blocking task is writing them (see `save_committed`).
    committed_unwritten: Mutex<Option<Vec<u8>>>,
    committed_writing: AtomicBool,
}

/// Cloneable handle; the clone is also the log reader.
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Inner>,
}

impl LogStore {
    /// Loads the log bounds from `db`. Blocking: call from a blocking thread.
    pub(crate) fn open(
        db: Arc<RaftDb>,
        fsync: bool,
        committed: Arc<AtomicU64>,
    ) -> Result<LogStore, StorageError> {
        let last_purged: Option<LogId> = match db
            .get_meta(meta_key::LAST_PURGED)
            .map_err(|e| io_err(false, e))?
        {
            Some(v) => decode(&v)?,
            None => None,
        };
        let last_log_id = match db.last_entry().map_err(|e| io_err(false, e))? {
            Some((_, v)) => Some(decode::<Entry>(&v)?.log_id),
            None => last_purged,
        };
        if let Some(v) = db
            .get_meta(meta_key::COMMITTED)
            .map_err(|e| io_err(false, e))?
        {
            let c: Option<LogId> = decode(&v)?;
            committed.store(c.map_or(0, |l| l.index + 1), Ordering::Relaxed);
        }
        tracing::debug!(?last_purged, ?last_log_id, "log store opened");
        Ok(LogStore {
            inner: Arc::new(Inner {
                db,
                fsync,
                mem: Mutex::new(Mem {
                    last_log_id,
                    last_purged,
                    cache: BTreeMap::new(),
                    cache_bytes: 0,
                }),
                committed,
                committed_unwritten: Mutex::new(None),
                committed_writing: AtomicBool::new(false),
            }),
        })
    }

    /// Write the newest committed id handed over, then any newer one,
    /// until none is left. One such task runs at a time.
    fn write_committed(inner: &Inner) {
        loop {
            let next = inner
                .committed_unwritten
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            match next {
                Some(v) => {
                    if let Err(e) = inner.db.put_meta(meta_key::COMMITTED, &v, false) {
                        tracing::warn!(error = %e, "could not record the committed index");
                    }
                }
                None => {
                    inner.committed_writing.store(false, Ordering::Release);
                    // One handed over after the take above, with this task
                    // still marked as writing, would wait for the next commit.
                    let more = inner
                        .committed_unwritten
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some();
                    if !more || inner.committed_writing.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
            }
        }
    }

    fn mem(&self) -> MutexGuard<'_, Mem> {
        // A panic while holding this lock leaves only a cache behind; keep going.
        self.inner.mem.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => Some(e.saturating_add(1)),
        Bound::Excluded(e) => Some(*e),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        let end = {
            let mem = self.mem();
            let last = mem.last_log_id.map(|l| l.index + 1).unwrap_or(0);
            let end = end.map_or(last, |e| e.min(last));
            if start >= end {
                return Ok(Vec::new());
            }
            // Serve from the cache only if it holds the whole range.
            if mem.cache.contains_key(&start) && mem.cache.contains_key(&(end - 1)) {
                let out: Vec<Entry> = mem
                    .cache
                    .range(start..end)
                    .map(|(_, e)| e.clone())
                    .collect();
                if out.len() as u64 == end - start {
                    return Ok(out);
                }
            }
            end
        };
        let db = self.inner.db.clone();
        let raw = blocking(move || db.read_range(start, Some(end))).await?;
        raw.iter().map(|(_, v)| decode::<Entry>(v)).collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let mem = self.mem();
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: mem.last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let v = encode(vote)?;
        let db = self.inner.db.clone();
        let sync = self.inner.fsync;
        blocking(move || db.put_meta(meta_key::VOTE, &v, sync)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let db = self.inner.db.clone();
        match blocking(move || db.get_meta(meta_key::VOTE)).await? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Buffered: it shares the journal with the entries, so it can never be durable while the
        // entries it points at are not; it only lets a restart re-apply before serving. Not
        // awaited either: openraft applies a commit only after saving it, and a thread hand-off
        // and a journal write there were a tenth of a synchronous write's latency. It may lag
        // (a restart then re-applies a little less before serving, the rest once it leads).
        let v = encode(&committed)?;
        self.inner
            .committed
            .store(committed.map_or(0, |l| l.index + 1), Ordering::Relaxed);
        *self
            .inner
            .committed_unwritten
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(v);
        if !self.inner.committed_writing.swap(true, Ordering::AcqRel) {
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || LogStore::write_committed(&inner));
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let db = self.inner.db.clone();
        match blocking(move || db.get_meta(meta_key::COMMITTED)).await? {
            Some(v) => decode(&v),
            None => Ok(None),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        {
            // Readable as soon as append returns (openraft's contract), durable at the callback.
            let mut mem = self.mem();
            for e in &entries {
                mem.cache_insert(e.clone());
            }
            mem.last_log_id = Some(last);
        }
        let db = self.inner.db.clone();
        let sync = self.inner.fsync;
        let res = tokio::task::spawn_blocking(move || {
            let mut kv = Vec::with_capacity(entries.len());
            for e in &entries {
                let v = postcard::to_allocvec(e).map_err(|e| StoreError(format!("encode: {e}")))?;
                kv.push((e.log_id.index, v));
            }
            db.append(&kv, sync)
        })
        .await;
        match res {
            Ok(Ok(())) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Ok(Err(e)) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_err(true, e))
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_err(true, format!("storage task failed: {e}")))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncate log");
        let db = self.inner.db.clone();
        let sync = self.inner.fsync;
        let from = log_id.index;
        blocking(move || db.truncate_from(from, sync)).await?;
        // The new last entry is the one before `from`, or the purge point.
        let prev = if from == 0 {
            None
        } else {
            let cached = self.mem().cache.get(&(from - 1)).map(|e| e.log_id);
            match cached {
                Some(l) => Some(l),
                None => {
                    let db = self.inner.db.clone();
                    match blocking(move || db.get_log(from - 1)).await? {
                        Some(v) => Some(decode::<Entry>(&v)?.log_id),
                        None => None,
                    }
                }
            }
        };
        let mut mem = self.mem();
        mem.cache_remove(from..);
        mem.last_log_id = prev.or(mem.last_purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let v = encode(&Some(log_id))?;
        let db = self.inner.db.clone();
        let upto = log_id.index;
        let n = blocking(move || db.purge_upto(upto, &v)).await?;
        tracing::debug!(%log_id, removed = n, "purged log");
        let mut mem = self.mem();
        mem.cache_remove(..=upto);
        mem.last_purged = Some(log_id);
        if mem.last_log_id < Some(log_id) {
            mem.last_log_id = Some(log_id);
        }
        Ok(())
    }
}
