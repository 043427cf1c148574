//! The handshake records. They have no header, and their trailing `readOnly`
//! byte is optional: clients older than 3.3 omit it (a 44-byte request), and
//! the server answers in the same style (see `Option<bool>`'s `Jute` impl).

use bytes::Bytes;

crate::record! {
    /// The first frame a client sends.
    pub struct ConnectRequest {
        pub protocol_version: i32,
        /// The newest zxid the client has seen; a server behind it must refuse.
        pub last_zxid_seen: i64,
        /// Requested session timeout in ms.
        pub timeout: i32,
        /// 0 for a new session, else the session to resume.
        pub session_id: i64,
        pub passwd: Option<Bytes>,
        /// `None` when the client sent no readOnly byte (an old client).
        pub read_only: Option<bool>,
    }

    /// The server's answer to the handshake.
    pub struct ConnectResponse {
        pub protocol_version: i32,
        /// Negotiated timeout in ms; 0 tells the client its session is expired.
        pub timeout: i32,
        pub session_id: i64,
        pub passwd: Option<Bytes>,
        /// `None` to answer an old client that sent no readOnly byte.
        pub read_only: Option<bool>,
    }
}
