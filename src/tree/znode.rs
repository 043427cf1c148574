//! A znode and the Stat rules clients see.

use std::sync::Arc;

use jute::Acl;

/// `ephemeralOwner` of a container (ZooKeeper's `Long.MIN_VALUE` sentinel).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// The top byte marking a TTL in `ephemeralOwner`; the TTL sits in the low bits.
const TTL_MARK: i64 = 0xff << 56;
/// The largest TTL that fits beside the mark.
pub const MAX_TTL: i64 = (1 << 40) - 1;

/// An ACL list shared between nodes (see `Tree::intern`). A thin pointer:
/// 8 bytes in every record where `Arc<[Acl]>` takes 16.
pub type AclList = Arc<Vec<Acl>>;

/// A node as a value: what a create makes, a delete gives back and a
/// snapshot stores. The tree keeps it in a compact form (see `nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Znode {
    /// A box rather than `Bytes`: 16 bytes instead of 32 in a million records.
    pub data: Option<Box<[u8]>>,
    /// Shared between nodes with the same list (see `Tree::intern`).
    pub acl: AclList,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Child creations so far: the sequential counter. Clients are shown
    /// creations + deletions (see [`Znode::stat`]), as ZooKeeper does.
    pub cversion: i32,
    pub aversion: i32,
    /// A session id, [`CONTAINER_OWNER`], a TTL mark, or 0.
    pub owner: i64,
    /// Children now: kept by [`super::nodes::Nodes`], which holds the names.
    pub num_children: u32,
}

/// What kind of node `owner` says this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl Kind {
    pub fn of(owner: i64) -> Kind {
        match owner {
            0 => Kind::Persistent,
            CONTAINER_OWNER => Kind::Container,
            o if o & TTL_MARK == TTL_MARK => Kind::Ttl(o & !TTL_MARK),
            o => Kind::Ephemeral(o),
        }
    }
}

impl Znode {
    pub fn new(data: Option<Box<[u8]>>, acl: AclList, zxid: i64, time: i64, owner: i64) -> Self {
        Znode {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
            num_children: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        Kind::of(self.owner)
    }

    pub fn ttl_owner(ttl: i64) -> i64 {
        TTL_MARK | (ttl & MAX_TTL)
    }
}
