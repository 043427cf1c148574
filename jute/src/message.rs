//! Whole messages after the handshake: a request is a `RequestHeader` and the
//! body its op code names; a reply is a `ReplyHeader` and the body of the op it
//! answers. The op-code-to-record tables below are the single place that says
//! which record goes with which op.

use bytes::{BufMut, Bytes};

use crate::auth::{AuthPacket, GetSaslRequest, SetSaslResponse, WhoAmIResponse};
use crate::codes::{OpCode, xid};
use crate::error::{DecodeError, JResult, finish};
use crate::header::{ErrorResponse, ReplyHeader, RequestHeader};
use crate::multi::{MultiRequest, MultiResponse};
use crate::node::*;
use crate::primitive::{Encode, Jute};
use crate::watch::{AddWatchRequest, RemoveWatchesRequest, SetWatches, SetWatches2, WatcherEvent};

crate::record! {
    /// The body of ops whose request or reply is the header alone.
    pub struct Empty {}
}

/// Declares an enum with one variant per op code and the record that goes
/// with it, plus `Unknown` for op codes the table does not list.
macro_rules! op_table {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $op:ident ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )*
            /// An op code this table does not know; the body is kept as it came.
            Unknown { op: i32, body: Bytes },
        }

        impl $name {
            /// The op code on the wire.
            pub fn op_code(&self) -> i32 {
                match self {
                    $( $name::$variant(_) => OpCode::$op.code(), )*
                    $name::Unknown { op, .. } => *op,
                }
            }

            /// Parse the body of op `op`. An unknown op takes the rest of the input.
            pub fn decode_body<'a>(op: i32, src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
                match OpCode::from_code(op) {
                    $( Some(OpCode::$op) => {
                        let (i, body) = <$ty as Jute>::decode(src, i)?;
                        Ok((i, $name::$variant(body)))
                    } )*
                    _ => Ok((&i[i.len()..], $name::Unknown { op, body: crate::primitive::share(src, i) })),
                }
            }
        }

        impl Encode for $name {
            fn encode<B: BufMut>(&self, buf: &mut B) {
                match self {
                    $( $name::$variant(body) => body.encode(buf), )*
                    $name::Unknown { body, .. } => buf.put_slice(body),
                }
            }

            fn encoded_len(&self) -> usize {
                match self {
                    $( $name::$variant(body) => body.encoded_len(), )*
                    $name::Unknown { body, .. } => body.len(),
                }
            }
        }

        #[cfg(feature = "proptest")]
        impl crate::arbitrary::Gen for $name {
            fn strategy() -> ::proptest::strategy::BoxedStrategy<Self> {
                use ::proptest::strategy::Strategy;
                ::proptest::strategy::Union::new(vec![
                    $( <$ty as crate::arbitrary::Gen>::strategy().prop_map($name::$variant).boxed(), )*
                ])
                .boxed()
            }
        }
    };
}

op_table! {
    /// A request body, by op code.
    pub enum Request {
        Create(CreateRequest) = Create,
        Create2(CreateRequest) = Create2,
        CreateContainer(CreateRequest) = CreateContainer,
        CreateTtl(CreateTtlRequest) = CreateTtl,
        Delete(DeleteRequest) = Delete,
        Exists(ExistsRequest) = Exists,
        GetData(GetDataRequest) = GetData,
        SetData(SetDataRequest) = SetData,
        GetAcl(GetAclRequest) = GetAcl,
        SetAcl(SetAclRequest) = SetAcl,
        GetChildren(GetChildrenRequest) = GetChildren,
        GetChildren2(GetChildren2Request) = GetChildren2,
        Sync(SyncRequest) = Sync,
        Check(CheckVersionRequest) = Check,
        Multi(MultiRequest) = Multi,
        MultiRead(MultiRequest) = MultiRead,
        Reconfig(ReconfigRequest) = Reconfig,
        CheckWatches(RemoveWatchesRequest) = CheckWatches,
        RemoveWatches(RemoveWatchesRequest) = RemoveWatches,
        AddWatch(AddWatchRequest) = AddWatch,
        GetEphemerals(GetEphemeralsRequest) = GetEphemerals,
        GetAllChildrenNumber(GetAllChildrenNumberRequest) = GetAllChildrenNumber,
        WhoAmI(Empty) = WhoAmI,
        Sasl(GetSaslRequest) = Sasl,
        Auth(AuthPacket) = Auth,
        SetWatches(SetWatches) = SetWatches,
        SetWatches2(SetWatches2) = SetWatches2,
        Ping(Empty) = Ping,
        CloseSession(Empty) = CloseSession,
    }
}

op_table! {
    /// A reply body, by the op code of the request it answers.
    pub enum Response {
        Notification(WatcherEvent) = Notification,
        Create(CreateResponse) = Create,
        Create2(Create2Response) = Create2,
        CreateContainer(Create2Response) = CreateContainer,
        CreateTtl(Create2Response) = CreateTtl,
        Delete(Empty) = Delete,
        Exists(ExistsResponse) = Exists,
        GetData(GetDataResponse) = GetData,
        SetData(SetDataResponse) = SetData,
        GetAcl(GetAclResponse) = GetAcl,
        SetAcl(SetAclResponse) = SetAcl,
        GetChildren(GetChildrenResponse) = GetChildren,
        GetChildren2(GetChildren2Response) = GetChildren2,
        Sync(SyncResponse) = Sync,
        Check(Empty) = Check,
        Multi(MultiResponse) = Multi,
        MultiRead(MultiResponse) = MultiRead,
        /// The new configuration, as data.
        Reconfig(GetDataResponse) = Reconfig,
        CheckWatches(Empty) = CheckWatches,
        RemoveWatches(Empty) = RemoveWatches,
        /// ZooKeeper answers addWatch with an ErrorResponse holding 0.
        AddWatch(ErrorResponse) = AddWatch,
        GetEphemerals(GetEphemeralsResponse) = GetEphemerals,
        GetAllChildrenNumber(GetAllChildrenNumberResponse) = GetAllChildrenNumber,
        WhoAmI(WhoAmIResponse) = WhoAmI,
        Sasl(SetSaslResponse) = Sasl,
        Auth(Empty) = Auth,
        SetWatches(Empty) = SetWatches,
        SetWatches2(Empty) = SetWatches2,
        Ping(Empty) = Ping,
        CloseSession(Empty) = CloseSession,
    }
}

/// A request frame after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPacket {
    pub xid: i32,
    pub request: Request,
}

impl RequestPacket {
    pub fn header(&self) -> RequestHeader {
        RequestHeader {
            xid: self.xid,
            op: self.request.op_code(),
        }
    }

    /// Decode a whole frame body (without its length prefix).
    pub fn decode_frame(frame: &Bytes) -> Result<Self, DecodeError> {
        crate::primitive::decode_exact(frame)
    }

    /// Read a request as ZooKeeper's server does: the header must be there
    /// (without it the request cannot even be answered), then the op's
    /// record, ignoring any bytes after it. A body that cannot be read is
    /// returned as the inner error, to be answered with MarshallingError.
    pub fn decode_server(
        frame: &Bytes,
    ) -> Result<(RequestHeader, Result<Request, DecodeError>), DecodeError> {
        let (rest, header) = finish(RequestHeader::decode(frame, frame))?;
        let body = finish(Request::decode_body(header.op, frame, rest)).map(|(_, r)| r);
        Ok((header, body))
    }
}

impl Jute for RequestPacket {
    const MIN_LEN: usize = 8;

    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (i, header) = RequestHeader::decode(src, i)?;
        let (i, request) = Request::decode_body(header.op, src, i)?;
        Ok((
            i,
            RequestPacket {
                xid: header.xid,
                request,
            },
        ))
    }
}

impl Encode for RequestPacket {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.header().encode(buf);
        self.request.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        8 + self.request.encoded_len()
    }
}

/// A reply or notification frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub header: ReplyHeader,
    /// `None` for a failed request: ZooKeeper sends the header alone.
    pub body: Option<Response>,
}

impl Reply {
    /// Decode a reply frame body. `op` is the op code of the request with
    /// this xid; reserved xids (notification, ping, auth, SetWatches) imply
    /// their own op and `op` is then ignored.
    pub fn decode_frame(frame: &Bytes, op: i32) -> Result<Self, DecodeError> {
        let (rest, header) = finish(ReplyHeader::decode(frame, frame))?;
        let op = match header.xid {
            xid::NOTIFICATION => OpCode::Notification.code(),
            xid::PING => OpCode::Ping.code(),
            xid::AUTH => OpCode::Auth.code(),
            xid::SET_WATCHES => OpCode::SetWatches.code(),
            _ => op,
        };
        let body = if header.err != 0 && rest.is_empty() {
            None
        } else {
            let (rest, body) = finish(Response::decode_body(op, frame, rest))?;
            if !rest.is_empty() {
                return Err(DecodeError::Trailing(rest.len()));
            }
            Some(body)
        };
        Ok(Reply { header, body })
    }

    /// A watch notification. From 3.9 on the header carries the zxid of the change.
    pub fn notification(zxid: i64, event: WatcherEvent) -> Self {
        Reply {
            header: ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid,
                err: 0,
            },
            body: Some(Response::Notification(event)),
        }
    }
}

impl Encode for Reply {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.header.encode(buf);
        if let Some(body) = &self.body {
            body.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        16 + self.body.as_ref().map_or(0, Encode::encoded_len)
    }
}
