//! What goes through the log, and what applying it produces. Everything a
//! replica needs to apply a txn identically is inside it: the leader's clock,
//! the new session's password, the requester's authenticated identities.

use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, ErrorCode, Id, OpCode, OpResult, Stat};
use serde::{Deserialize, Serialize};

/// One replicated command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Who waits for the outcome (only the node holding that connection answers).
    pub origin: Origin,
    /// Wall-clock ms, stamped once when the command was made.
    pub time: i64,
    pub txn: Txn,
}

/// The request a command answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    /// Raft id of the node holding the connection; 0 when nobody waits.
    pub node: u64,
    /// Connection id on that node.
    pub conn: u64,
    pub xid: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Txn {
    /// A new session; its id is assigned by apply so every replica agrees.
    CreateSession { timeout: i32, passwd: [u8; 16] },
    /// closeSession, or expiry decided by the leader.
    CloseSession { session: i64 },
    /// A single write request.
    Write {
        session: i64,
        auth: Vec<Id>,
        op: WriteOp,
    },
    /// A multi: all ops or none, one zxid.
    Multi {
        session: i64,
        auth: Vec<Id>,
        ops: Vec<WriteOp>,
    },
    /// Remove an empty container or an expired TTL node, if it still qualifies.
    Reap { path: String },
}

/// A change request inside a Write or Multi.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    Create {
        /// create, create2, createContainer or createTTL: decides the reply's form.
        op: OpCode,
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        /// The raw flags; an unknown value is BadArguments at apply.
        flags: i32,
        /// Only for createTTL.
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// A request the connection layer already knows fails with `code`
    /// (undecodable body, TTL nodes off, reconfig off). ZooKeeper logs these
    /// as error txns, so they take a zxid and fail in their place. Kept last
    /// so logs written before it still decode.
    Refused {
        code: i32,
    },
}

/// What applying one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub zxid: i64,
    pub outcome: Outcome,
    /// Tree changes, in order, for the watch managers of every replica.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    SessionCreated {
        session: i64,
        timeout: i32,
        passwd: [u8; 16],
    },
    SessionClosed {
        session: i64,
    },
    Write(Result<WriteResult, ErrorCode>),
    Multi(Vec<OpResult>),
    Reaped(Result<String, ErrorCode>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    Created {
        op: OpCode,
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Checked,
}

/// A change to the tree that watches may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    /// The ACL of the node at `path` (as it was, for a deleted node): a watcher
    /// is told only if it may read that node (ZooKeeper's fix for CVE-2024-23944).
    pub acl: Arc<[Acl]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
}

impl WriteOp {
    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::Delete { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::SetAcl { path, .. }
            | WriteOp::Check { path, .. } => path,
            WriteOp::Refused { .. } => "",
        }
    }
}

impl Command {
    pub fn encode(&self) -> Bytes {
        // Serializing plain owned data into a Vec cannot fail.
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}
