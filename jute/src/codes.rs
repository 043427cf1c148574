//! The numbers of the protocol: op codes, error codes, watch event types,
//! keeper states, watcher types, create modes, ACL permission bits and the
//! reserved xids. Values are ZooKeeper 3.9's (`ZooDefs`, `KeeperException`,
//! `Watcher.Event`, `CreateMode`).

crate::code_enum! {
    /// Request types (`ZooDefs.OpCode`).
    pub enum OpCode {
        Notification = 0,
        Create = 1,
        Delete = 2,
        Exists = 3,
        GetData = 4,
        SetData = 5,
        GetAcl = 6,
        SetAcl = 7,
        GetChildren = 8,
        Sync = 9,
        Ping = 11,
        GetChildren2 = 12,
        Check = 13,
        Multi = 14,
        Create2 = 15,
        Reconfig = 16,
        CheckWatches = 17,
        RemoveWatches = 18,
        CreateContainer = 19,
        /// Server-internal: the container reaper's delete. Never sent by clients.
        DeleteContainer = 20,
        CreateTtl = 21,
        MultiRead = 22,
        Auth = 100,
        SetWatches = 101,
        Sasl = 102,
        GetEphemerals = 103,
        GetAllChildrenNumber = 104,
        SetWatches2 = 105,
        AddWatch = 106,
        WhoAmI = 107,
        CreateSession = -10,
        CloseSession = -11,
        Error = -1,
    }
}

impl OpCode {
    /// A client request that changes the tree: ZooKeeper logs it as a txn
    /// (an error txn when it fails), so it takes a zxid whatever happens.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Multi
        )
    }
}

crate::code_enum! {
    /// `KeeperException.Code`.
    pub enum ErrorCode {
        Ok = 0,
        SystemError = -1,
        RuntimeInconsistency = -2,
        DataInconsistency = -3,
        ConnectionLoss = -4,
        MarshallingError = -5,
        Unimplemented = -6,
        OperationTimeout = -7,
        BadArguments = -8,
        UnknownSession = -12,
        NewConfigNoQuorum = -13,
        ReconfigInProgress = -14,
        ApiError = -100,
        NoNode = -101,
        NoAuth = -102,
        BadVersion = -103,
        NoChildrenForEphemerals = -108,
        NodeExists = -110,
        NotEmpty = -111,
        SessionExpired = -112,
        InvalidCallback = -113,
        InvalidAcl = -114,
        AuthFailed = -115,
        SessionMoved = -118,
        NotReadOnly = -119,
        EphemeralOnLocalSession = -120,
        NoWatcher = -121,
        RequestTimeout = -122,
        ReconfigDisabled = -123,
        SessionClosedRequireSaslAuth = -124,
        QuotaExceeded = -125,
        Throttled = -127,
    }
}

crate::code_enum! {
    /// `Watcher.Event.EventType`, the `type` of a `WatcherEvent`.
    pub enum EventType {
        None = -1,
        NodeCreated = 1,
        NodeDeleted = 2,
        NodeDataChanged = 3,
        NodeChildrenChanged = 4,
        DataWatchRemoved = 5,
        ChildWatchRemoved = 6,
        PersistentWatchRemoved = 7,
    }
}

crate::code_enum! {
    /// `Watcher.Event.KeeperState`, the `state` of a `WatcherEvent`.
    pub enum KeeperState {
        Disconnected = 0,
        SyncConnected = 3,
        AuthFailed = 4,
        ConnectedReadOnly = 5,
        SaslAuthenticated = 6,
        Closed = 7,
        Expired = -112,
    }
}

crate::code_enum! {
    /// `Watcher.WatcherType`, used by checkWatches and removeWatches.
    /// Persistent and PersistentRecursive are accepted by removeWatches from 3.9 on.
    pub enum WatcherType {
        Children = 1,
        Data = 2,
        Any = 3,
        Persistent = 4,
        PersistentRecursive = 5,
    }
}

crate::code_enum! {
    /// `AddWatchMode`, the `mode` of an addWatch request.
    pub enum AddWatchMode {
        Persistent = 0,
        PersistentRecursive = 1,
    }
}

crate::code_enum! {
    /// `CreateMode`, the `flags` of a create request.
    pub enum CreateMode {
        Persistent = 0,
        Ephemeral = 1,
        PersistentSequential = 2,
        EphemeralSequential = 3,
        Container = 4,
        PersistentWithTtl = 5,
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    /// The node's name gets the parent's counter appended.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// The node is deleted with its session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// The node is removed after its TTL.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 1 << 1;
    pub const CREATE: i32 = 1 << 2;
    pub const DELETE: i32 = 1 << 3;
    pub const ADMIN: i32 = 1 << 4;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Reserved xids: replies with these are not answers to a numbered request.
pub mod xid {
    /// A watch notification (`WatcherEvent` body).
    pub const NOTIFICATION: i32 = -1;
    /// A ping and its answer.
    pub const PING: i32 = -2;
    /// An auth packet and its answer.
    pub const AUTH: i32 = -4;
    /// SetWatches / SetWatches2 sent on reconnect, and their answer.
    pub const SET_WATCHES: i32 = -8;
}

/// `jute.maxbuffer`'s default: the largest frame body accepted (0xfffff).
pub const DEFAULT_MAX_FRAME: usize = 0xf_ffff;
