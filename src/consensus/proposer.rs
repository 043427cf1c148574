//! The leader's proposer: packs queued commands into raft entries, taking
//! everything queued (up to the batch limits) whenever the previous entry is
//! done, because openraft 0.9 appends and fsyncs one entry at a time. The
//! batch size thus follows the load (group commit). It takes this node's own
//! commands and those forwarded by followers alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use openraft::Raft;
use openraft::error::ClientWriteError;
use tokio::sync::{RwLock, Semaphore, mpsc, oneshot};

use super::ConsensusError;
use super::types::{Batch, TypeConfig};

/// Raft entries in flight at once. openraft 0.9 appends (and fsyncs) one entry at a time anyway,
/// so a second in-flight entry only splits the queue into smaller batches: measured with 64
/// writers, 1 gave ~63 cmds/entry and ~100k cmds/s, 2 gave ~21 cmds/entry and ~47k cmds/s.
const MAX_INFLIGHT: usize = 1;

pub(crate) struct Proposal {
    pub cmd: Bytes,
    pub done: oneshot::Sender<Result<(), ConsensusError>>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub batches: AtomicU64,
    pub cmds: AtomicU64,
}

pub(crate) async fn run(
    raft: Raft<TypeConfig>,
    mut rx: mpsc::UnboundedReceiver<Proposal>,
    max_cmds: usize,
    max_bytes: usize,
    counters: Arc<Counters>,
    // A leader handing over takes it for writing to stop new entries (transfer.rs).
    gate: Arc<RwLock<()>>,
) {
    let slots = Arc::new(Semaphore::new(MAX_INFLIGHT));
    let mut carry: Option<Proposal> = None;
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut bytes = first.cmd.len();
        let mut cmds = vec![first.cmd];
        let mut waiters = vec![first.done];
        while cmds.len() < max_cmds {
            match rx.try_recv() {
                Ok(p) if bytes + p.cmd.len() > max_bytes => {
                    carry = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.cmd.len();
                    cmds.push(p.cmd);
                    waiters.push(p.done);
                }
                Err(_) => break,
            }
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .cmds
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        let submitted = {
            let _open = gate.read().await;
            raft.client_write_ff(Batch(cmds)).await
        };
        match submitted {
            Err(f) => {
                let e = ConsensusError::from(f);
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
            }
            Ok(resp) => {
                tokio::spawn(async move {
                    let r = match resp.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(ClientWriteError::ForwardToLeader(f))) => {
                            Err(ConsensusError::NotLeader {
                                leader: f.leader_id,
                            })
                        }
                        // Lost leadership some other way: the sender tries the next leader.
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "entry not committed here");
                            Err(ConsensusError::NotLeader { leader: None })
                        }
                        Err(_) => Err(ConsensusError::ShuttingDown),
                    };
                    for w in waiters {
                        let _ = w.send(r.clone());
                    }
                    drop(permit);
                });
            }
        }
    }
}
