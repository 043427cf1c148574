//! The ZooKeeper 3.9 client wire protocol.
//!
//! - [`primitive`]: the jute primitives and the [`Jute`]/[`Encode`] traits.
//! - Records, one module per family: [`data`] (Id, ACL, Stat), [`connect`]
//!   (handshake), [`header`], [`node`] (node ops), [`watch`], [`auth`], [`multi`].
//! - [`message`]: which record goes with which op code, for requests and replies.
//! - [`codes`]: op codes, error codes, event types, states, modes, perms, xids.
//! - [`codec`]: the length-prefixed frame codec with four-letter-word sniffing.
//!
//! Decoding works on complete frames and never panics: short, long or
//! malformed input is a [`DecodeError`], and no length field can make it
//! allocate more than the frame it came in.

mod error;
mod record;

pub mod auth;
pub mod codec;
pub mod codes;
pub mod connect;
pub mod data;
pub mod header;
pub mod message;
pub mod multi;
pub mod node;
pub mod primitive;
pub mod watch;

#[cfg(feature = "proptest")]
pub mod arbitrary;

pub use auth::*;
pub use codec::{
    CodecError, FOUR_LETTER_WORDS, FourLetterWord, FrameCodec, Inbound, Role, frame_bytes,
};
pub use codes::{
    AddWatchMode, CreateMode, DEFAULT_MAX_FRAME, ErrorCode, EventType, KeeperState, OpCode,
    WatcherType, perms, xid,
};
pub use connect::{ConnectRequest, ConnectResponse};
pub use data::{Acl, ClientInfo, Id, Stat};
pub use error::{DecodeError, JResult};
pub use header::{ErrorResponse, MultiHeader, ReplyHeader, RequestHeader};
pub use message::{Empty, Reply, Request, RequestPacket, Response};
pub use multi::{MultiOp, MultiRequest, MultiResponse, OpResult};
pub use node::*;
pub use primitive::{Encode, Jute, decode_exact, encode_to_bytes, java_lossy};
pub use watch::*;
