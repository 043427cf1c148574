//! Requests and responses of the node operations: create, delete, read,
//! write, children, ACLs, check, sync, and the 3.6+ listing ops.

use bytes::Bytes;

use crate::data::{Acl, Stat};

crate::record! {
    /// create, create2 and createContainer.
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        /// A [`crate::CreateMode`] number.
        pub flags: i32,
    }

    /// createTTL.
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        /// Milliseconds.
        pub ttl: i64,
    }

    /// create's answer: the created path (sequential suffix included).
    pub struct CreateResponse {
        pub path: String,
    }

    /// create2, createContainer and createTTL's answer.
    pub struct Create2Response {
        pub path: String,
        pub stat: Stat,
    }

    pub struct DeleteRequest {
        pub path: String,
        /// −1 matches any version.
        pub version: i32,
    }

    pub struct ExistsRequest {
        pub path: String,
        pub watch: bool,
    }

    /// exists, setData and setACL all answer with a Stat; one record serves all three.
    pub struct StatResponse {
        pub stat: Stat,
    }

    pub struct GetDataRequest {
        pub path: String,
        pub watch: bool,
    }

    /// getData's answer, and reconfig's (the new config as data).
    pub struct GetDataResponse {
        pub data: Option<Bytes>,
        pub stat: Stat,
    }

    pub struct SetDataRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }

    /// getChildren and getChildren2.
    pub struct GetChildrenRequest {
        pub path: String,
        pub watch: bool,
    }

    pub struct GetChildrenResponse {
        pub children: Vec<String>,
    }

    pub struct GetChildren2Response {
        pub children: Vec<String>,
        pub stat: Stat,
    }

    /// getAllChildrenNumber, getACL, sync: requests that carry only a path.
    pub struct PathRequest {
        pub path: String,
    }

    pub struct GetAllChildrenNumberResponse {
        pub total_number: i32,
    }

    /// check, alone (answered from 3.9 on) or inside a multi.
    pub struct CheckVersionRequest {
        pub path: String,
        pub version: i32,
    }

    pub struct SyncResponse {
        pub path: String,
    }

    pub struct GetAclResponse {
        pub acl: Vec<Acl>,
        pub stat: Stat,
    }

    pub struct SetAclRequest {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }

    /// getEphemerals: the session's ephemeral nodes under a prefix.
    pub struct GetEphemeralsRequest {
        pub prefix_path: String,
    }

    pub struct GetEphemeralsResponse {
        pub ephemerals: Vec<String>,
    }

    /// reconfig (answered ReconfigDisabled unless dynamic reconfig is on).
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

// zookeeper.jute declares these separately; their layouts are identical.
pub type GetChildren2Request = GetChildrenRequest;
pub type GetAllChildrenNumberRequest = PathRequest;
pub type GetAclRequest = PathRequest;
pub type SyncRequest = PathRequest;
pub type ExistsResponse = StatResponse;
pub type SetDataResponse = StatResponse;
pub type SetAclResponse = StatResponse;
