//! The headers in front of every request, reply and multi op.

use crate::codes::ErrorCode;

crate::record! {
    /// In front of every request after the handshake.
    pub struct RequestHeader {
        pub xid: i32,
        /// The op code (see [`crate::OpCode`]); kept raw so unknown codes survive decoding.
        pub op: i32,
    }

    /// In front of every reply and notification.
    pub struct ReplyHeader {
        pub xid: i32,
        pub zxid: i64,
        /// The error code (see [`crate::ErrorCode`]); 0 is success.
        pub err: i32,
    }

    /// In front of each op of a multi request or result, and closing the list.
    pub struct MultiHeader {
        pub op: i32,
        pub done: bool,
        pub err: i32,
    }

    /// A failed op's result inside a multi reply.
    pub struct ErrorResponse {
        pub err: i32,
    }
}

impl ReplyHeader {
    /// The error as a known code, `None` when the number is not one of ours.
    pub fn error(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.err)
    }
}

impl MultiHeader {
    /// The header that closes a multi request or result.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}
