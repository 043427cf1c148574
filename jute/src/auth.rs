//! Authentication: addAuth packets, SASL tokens and whoAmI.

use bytes::Bytes;

use crate::data::ClientInfo;

crate::record! {
    /// addAuthInfo (xid −4).
    pub struct AuthPacket {
        /// Unused by ZooKeeper; clients send 0.
        pub auth_type: i32,
        pub scheme: String,
        pub auth: Option<Bytes>,
    }

    /// A SASL token from the client (op 102).
    pub struct GetSaslRequest {
        pub token: Option<Bytes>,
    }

    /// A SASL token from the server.
    pub struct SetSaslResponse {
        pub token: Option<Bytes>,
    }

    pub struct WhoAmIResponse {
        pub client_info: Vec<ClientInfo>,
    }
}
