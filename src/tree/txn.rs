//! What goes through the log, and what applying it produces. Everything a
//! replica needs to apply a txn identically is inside it: the leader's clock,
//! the new session's password, the requester's authenticated identities.

use bytes::Bytes;
use jute::{Acl, ErrorCode, Id, OpCode, OpResult, Stat};
use serde::{Deserialize, Serialize};

use super::AclList;

/// One replicated command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Who waits for the outcome (only the node holding that connection answers).
    pub origin: Origin,
    /// Wall-clock ms, stamped once when the command was made.
    pub time: i64,
    pub txn: Txn,
}

/// The request a command answers, unique forever: a node's connection ids
/// restart at every boot, so `boot` tells boots apart, and `seq` numbers
/// every command a node boot sends, so a batch sent again to a new leader is
/// applied once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    /// Raft id of the node that made the command (0 in logs written before
    /// boots were counted, for commands nobody waits on).
    pub node: u64,
    /// Random per start of that node's process; 0 in old logs.
    pub boot: u64,
    /// Connection id on that node (0 when nobody waits).
    pub conn: u64,
    pub xid: i32,
    /// 1, 2, 3... per (node, boot) in the order the node sent them; 0: not
    /// deduplicated (old logs).
    pub seq: u64,
}

impl Origin {
    /// Whether a client connection waits for this command's outcome.
    pub fn waits(&self) -> bool {
        self.conn != 0
    }

    /// The connection that made it, as sessions record their owner.
    pub fn owner(&self) -> Owner {
        Owner {
            node: self.node,
            boot: self.boot,
            conn: self.conn,
        }
    }
}

/// The connection a session is attached to. Writes from any other connection
/// get SessionMoved, as in ZooKeeper once a client reconnected elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Owner {
    pub node: u64,
    pub boot: u64,
    pub conn: u64,
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
    /// The session reconnected on the origin's connection, which becomes its
    /// owner. Fails (SessionExpired) if the session is gone or the password
    /// does not match. Kept after the older variants so old logs decode.
    MoveSession { session: i64, passwd: [u8; 16] },
    /// The leader writes `/zookeeper/config` for the membership the log
    /// holds (a cluster's first, or one a reconfig's own txn never wrote):
    /// as `WriteOp::Reconfig`, without a session to check. Kept last so older
    /// logs decode.
    Config { members: String },
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
    /// reconfig, once the membership is changed: `/zookeeper/config` gets
    /// `members` (ZooKeeper's server lines, each ending in a newline) and a
    /// `version=` line holding this txn's zxid. Fails (BadVersion) unless
    /// `from_version` is -1 or the current version, (NoAuth) unless the
    /// session may write `/zookeeper/config` (only the super user, by
    /// default). Kept last so older logs decode.
    Reconfig {
        members: String,
        from_version: i64,
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
    /// The session now belongs to the origin's connection (or could not be moved).
    Moved {
        session: i64,
        result: Result<i32, ErrorCode>,
    },
    /// The command was applied before (a batch sent again after a leader
    /// change): nothing happened, no zxid was used.
    Duplicate,
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
    /// The new /zookeeper/config, as getData would show it.
    Reconfigured {
        data: bytes::Bytes,
        stat: Stat,
    },
}

/// A change to the tree that watches may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    /// The ACL of the node at `path` (as it was, for a deleted node): a watcher
    /// is told only if it may read that node (ZooKeeper's fix for CVE-2024-23944).
    pub acl: AclList,
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
            WriteOp::Reconfig { .. } => super::CONFIG,
        }
    }
}

/// First byte of a command in the current encoding. Commands written before
/// it started with the origin node id (0 or 1), so old logs still decode.
const COMMAND_V2: u8 = 0xc2;

/// The command layout before origins had boots and sequence numbers.
#[derive(Deserialize)]
struct CommandV1 {
    origin: OriginV1,
    time: i64,
    txn: Txn,
}

#[derive(Deserialize)]
struct OriginV1 {
    node: u64,
    conn: u64,
    xid: i32,
}

impl Command {
    pub fn encode(&self) -> Bytes {
        let mut out = vec![COMMAND_V2];
        // Serializing plain owned data into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        Bytes::from(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        match bytes.split_first() {
            Some((&COMMAND_V2, rest)) => postcard::from_bytes(rest),
            _ => {
                let old: CommandV1 = postcard::from_bytes(bytes)?;
                Ok(Command {
                    origin: Origin {
                        node: old.origin.node,
                        boot: 0,
                        conn: old.origin.conn,
                        xid: old.origin.xid,
                        seq: 0,
                    },
                    time: old.time,
                    txn: old.txn,
                })
            }
        }
    }
}
