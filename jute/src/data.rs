//! Records of `org.apache.zookeeper.data`: identities, ACLs and node stats.

crate::record! {
    /// An identity: a scheme and an id within it (`world:anyone`, `digest:user:hash`, `ip:10.0.0.0/8`).
    pub struct Id {
        pub scheme: String,
        pub id: String,
    }

    /// One ACL entry: permission bits (see [`crate::perms`]) granted to an identity.
    pub struct Acl {
        pub perms: i32,
        pub id: Id,
    }

    /// A node's metadata as clients see it.
    pub struct Stat {
        /// zxid of the create.
        pub czxid: i64,
        /// zxid of the last data change.
        pub mzxid: i64,
        /// Creation time, ms since the epoch.
        pub ctime: i64,
        /// Last data change time, ms since the epoch.
        pub mtime: i64,
        /// Number of data changes.
        pub version: i32,
        /// Number of child creations and deletions.
        pub cversion: i32,
        /// Number of ACL changes.
        pub aversion: i32,
        /// Owning session of an ephemeral node, else 0.
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        /// zxid of the last child creation or deletion.
        pub pzxid: i64,
    }

    /// One authenticated identity of a session, as whoAmI reports it.
    pub struct ClientInfo {
        pub auth_scheme: String,
        pub user: String,
    }
}

impl Id {
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Id::new("world", "anyone")
    }
}

impl Acl {
    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: everything for everyone.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: crate::perms::ALL,
            id: Id::anyone(),
        }]
    }

    /// `ZooDefs.Ids.READ_ACL_UNSAFE`: read for everyone.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: crate::perms::READ,
            id: Id::anyone(),
        }]
    }
}
