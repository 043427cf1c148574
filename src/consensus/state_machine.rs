//! openraft state machine (storage-v2) wrapping the app's [`StateMachine`].
//!
//! The app state lives in memory and is not made durable by apply; durability comes from the log
//! plus snapshot files. A snapshot is written, fsynced and renamed before openraft hears about it,
//! so the log is never purged past state that exists only in memory.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, StorageIOError};

use super::StateMachine;
use super::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::storage::{SnapshotFiles, StoreError};

fn sm_err(write: bool, e: impl std::fmt::Display) -> StorageError {
    let src = AnyError::error(e.to_string());
    let e = if write {
        StorageIOError::write_state_machine(src)
    } else {
        StorageIOError::read_state_machine(src)
    };
    StorageError::IO { source: e }
}

fn snap_err(write: bool, e: impl std::fmt::Display) -> StorageError {
    let src = AnyError::error(e.to_string());
    let e = if write {
        StorageIOError::write_snapshot(None, src)
    } else {
        StorageIOError::read_snapshot(None, src)
    };
    StorageError::IO { source: e }
}

/// The durable snapshot files plus what we know about the newest one.
pub(crate) struct SnapshotStore {
    files: SnapshotFiles,
    /// Meta of the newest durable snapshot. Also serializes writers (builder vs. install).
    current: Mutex<Option<SnapshotMeta>>,
    /// Counter that makes snapshot ids unique even when rebuilt at the same index.
    seq: AtomicU64,
}

impl SnapshotStore {
    /// Writes the snapshot unless a newer one is already durable. Blocking.
    fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StoreError> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cur.as_ref()
            && c.last_log_id > meta.last_log_id
        {
            return Ok(());
        }
        let enc = postcard::to_allocvec(meta).map_err(|e| StoreError(format!("encode: {e}")))?;
        self.files
            .save(meta.last_log_id.map_or(0, |l| l.index), &enc, data)?;
        *cur = Some(meta.clone());
        Ok(())
    }

    fn load(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        match self.files.load_latest()? {
            None => Ok(None),
            Some(s) => {
                let meta: SnapshotMeta = postcard::from_bytes(&s.meta)
                    .map_err(|e| StoreError(format!("decode snapshot meta: {e}")))?;
                Ok(Some((meta, s.data)))
            }
        }
    }
}

pub(crate) struct SmStore {
    app: Arc<dyn StateMachine>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snaps: Arc<SnapshotStore>,
    /// Commands applied since the last snapshot. openraft counts log entries,
    /// and one entry holds a whole batch of commands: snapCount is commands.
    since_snapshot: AtomicU64,
    /// snapCount (0: never by count).
    every: u64,
    /// Told when `since_snapshot` reaches `every`.
    pub(crate) due: Arc<tokio::sync::Notify>,
}

impl SmStore {
    /// Opens the snapshot directory and restores the newest snapshot into `app`. Blocking.
    pub(crate) fn open(
        app: Arc<dyn StateMachine>,
        snap_dir: &std::path::Path,
        every: u64,
    ) -> Result<SmStore, StoreError> {
        let files = SnapshotFiles::open(snap_dir)?;
        let snaps = Arc::new(SnapshotStore {
            files,
            current: Mutex::new(None),
            seq: AtomicU64::new(0),
        });
        let mut sm = SmStore {
            app,
            last_applied: None,
            membership: StoredMembership::default(),
            snaps,
            since_snapshot: AtomicU64::new(0),
            every,
            due: Arc::default(),
        };
        if let Some((meta, data)) = sm.snaps.load()? {
            sm.app
                .restore(&data)
                .map_err(|e| StoreError(format!("restore snapshot: {e}")))?;
            tracing::debug!(last_log_id = ?meta.last_log_id, bytes = data.len(), "restored snapshot");
            sm.last_applied = meta.last_log_id;
            sm.membership = meta.last_membership.clone();
            *sm.snaps.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(meta);
        }
        Ok(sm)
    }

    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }
}

/// A snapshot taken on the apply path, encoded and made durable by
/// `build_snapshot` (which openraft runs in a task of its own).
pub(crate) struct SnapBuilder {
    snaps: Arc<SnapshotStore>,
    meta: SnapshotMeta,
    encode: Option<super::Encoder>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let snaps = self.snaps.clone();
        let meta = self.meta.clone();
        let encode = self.encode.take();
        let t = std::time::Instant::now();
        let res = tokio::task::spawn_blocking(move || {
            // An empty file would restore as no tree at all.
            let data = encode.ok_or_else(|| StoreError("snapshot built twice".into()))?();
            snaps.save(&meta, &data).map(|()| (meta, data))
        })
        .await;
        let (meta, data) = match res {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(snap_err(true, e)),
            Err(e) => return Err(snap_err(true, format!("snapshot task failed: {e}"))),
        };
        tracing::debug!(
            last_log_id = ?meta.last_log_id,
            bytes = data.len(),
            elapsed_ms = t.elapsed().as_millis() as u64,
            "snapshot durable"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for SmStore {
    type SnapshotBuilder = SnapBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    self.app
                        .apply(log_id.index, &batch.0)
                        .map_err(|e| sm_err(true, format!("entry {}: {e}", log_id.index)))?;
                    let n = batch.0.len() as u64;
                    let before = self.since_snapshot.fetch_add(n, Ordering::Relaxed);
                    if self.every > 0 && before < self.every && before + n >= self.every {
                        self.due.notify_one();
                    }
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                }
            }
            self.last_applied = Some(log_id);
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Called on the apply path (openraft's state machine worker, which waits for it), so
        // the app state matches `last_applied`. Only a view is taken here (the tree shares
        // its node chunks with it); encoding and writing run in the builder, while apply and
        // reads go on.
        let t = std::time::Instant::now();
        let encode = self.app.snapshot();
        self.since_snapshot.store(0, Ordering::Relaxed);
        let seq = self.snaps.seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, seq),
            None => format!("none-{seq}"),
        };
        tracing::debug!(last_applied = ?self.last_applied, took_us = t.elapsed().as_micros() as u64, "snapshot view taken");
        SnapBuilder {
            snaps: self.snaps.clone(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id,
            },
            encode: Some(encode),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        tracing::debug!(last_log_id = ?meta.last_log_id, bytes = data.len(), "installing snapshot");
        // Decoding a large tree: off the async workers, as above.
        let app = self.app.clone();
        let (data, restored) = tokio::task::spawn_blocking(move || {
            let r = app.restore(&data);
            (data, r)
        })
        .await
        .map_err(|e| sm_err(true, format!("restore task failed: {e}")))?;
        restored.map_err(|e| sm_err(true, e))?;
        let snaps = self.snaps.clone();
        let m = meta.clone();
        match tokio::task::spawn_blocking(move || snaps.save(&m, &data)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(snap_err(true, e)),
            Err(e) => return Err(snap_err(true, format!("snapshot task failed: {e}"))),
        }
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.since_snapshot.store(0, Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let snaps = self.snaps.clone();
        match tokio::task::spawn_blocking(move || snaps.load()).await {
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some((meta, data)))) => Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            })),
            Ok(Err(e)) => Err(snap_err(false, e)),
            Err(e) => Err(sm_err(false, format!("snapshot task failed: {e}"))),
        }
    }
}
