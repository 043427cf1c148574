//! What the tree benchmarks share: knobs from the environment, commands as
//! apply sees them, and a tree with a session to write with.

#![allow(dead_code)] // each benchmark uses its own part

use bytes::Bytes;
use corral::tree::{Command, Origin, Outcome, Tree, Txn, WriteOp};
use jute::{Acl, OpCode};

/// A size from the environment (`NODES=200000 cargo bench ...`), or the default.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn cmd(txn: Txn) -> Command {
    Command {
        origin: Origin::default(),
        time: 1_000,
        txn,
    }
}

/// An empty tree and a session of it.
pub fn tree_with_session() -> (Tree, i64) {
    let mut tree = Tree::new();
    let Outcome::SessionCreated { session, .. } = tree
        .apply(&cmd(Txn::CreateSession {
            timeout: 30_000,
            passwd: [1; 16],
        }))
        .outcome
    else {
        panic!("no session");
    };
    (tree, session)
}

/// Create an open persistent node holding `data`.
pub fn create(path: String, data: Bytes) -> WriteOp {
    WriteOp::Create {
        op: OpCode::Create,
        path,
        data: Some(data),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl: -1,
    }
}
