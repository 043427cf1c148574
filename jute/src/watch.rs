//! Watch notifications and the requests that manage watches.

use crate::codes::{EventType, KeeperState};

crate::record! {
    /// The body of a notification (xid −1).
    pub struct WatcherEvent {
        /// An [`EventType`] number.
        pub event_type: i32,
        /// A [`KeeperState`] number.
        pub state: i32,
        pub path: String,
    }

    /// Sent on reconnect (xid −8) to re-register one-shot watches.
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }

    /// SetWatches plus persistent watches (3.6+).
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }

    pub struct AddWatchRequest {
        pub path: String,
        /// An [`crate::AddWatchMode`] number.
        pub mode: i32,
    }

    /// removeWatches and checkWatches.
    pub struct RemoveWatchesRequest {
        pub path: String,
        /// A [`crate::WatcherType`] number.
        pub watcher_type: i32,
    }
}

pub type CheckWatchesRequest = RemoveWatchesRequest;

impl WatcherEvent {
    /// A notification for a change at `path` seen by a connected client.
    pub fn new(event_type: EventType, path: impl Into<String>) -> Self {
        WatcherEvent {
            event_type: event_type.code(),
            state: KeeperState::SyncConnected.code(),
            path: path.into(),
        }
    }
}
