//! multi and multiRead bodies: a list of typed ops, each behind a
//! `MultiHeader`, closed by the `done` header; the reply mirrors it with one
//! result per op.

use bytes::{BufMut, Bytes};

use crate::codes::{ErrorCode, OpCode};
use crate::data::Stat;
use crate::error::{DecodeError, JResult, fail};
use crate::header::{ErrorResponse, MultiHeader};
use crate::node::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    SetDataRequest, StatResponse,
};
use crate::primitive::{Encode, Jute};

/// One op of a multi (writes and check) or a multiRead (reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

/// The result of one op. Every success carries the op type it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// create: the created path.
    Create {
        path: String,
    },
    /// create2, createContainer or createTTL: the path and the new node's Stat.
    /// ZooKeeper (3.8 and 3.9) heads all three with type create2 (15).
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetChildren {
        children: Vec<String>,
    },
    GetData {
        data: Option<Bytes>,
        stat: Stat,
    },
    /// The op failed (or, after a failure, was rolled back with RuntimeInconsistency,
    /// or before it, reported as Ok).
    Error {
        err: i32,
    },
}

/// A multi or multiRead request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

/// A multi or multiRead reply body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<OpResult>,
}

impl MultiOp {
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// The path the op acts on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
        }
    }

    fn decode_body<'a>(op: i32, src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        fn wrap<'a, T: Jute>(
            src: &Bytes,
            i: &'a [u8],
            f: fn(T) -> MultiOp,
        ) -> JResult<'a, MultiOp> {
            let (i, body) = T::decode(src, i)?;
            Ok((i, f(body)))
        }
        match OpCode::from_code(op) {
            Some(OpCode::Create) => wrap(src, i, MultiOp::Create),
            Some(OpCode::Create2) => wrap(src, i, MultiOp::Create2),
            Some(OpCode::CreateContainer) => wrap(src, i, MultiOp::CreateContainer),
            Some(OpCode::CreateTtl) => wrap(src, i, MultiOp::CreateTtl),
            Some(OpCode::Delete) => wrap(src, i, MultiOp::Delete),
            Some(OpCode::SetData) => wrap(src, i, MultiOp::SetData),
            Some(OpCode::Check) => wrap(src, i, MultiOp::Check),
            Some(OpCode::GetChildren) => wrap(src, i, MultiOp::GetChildren),
            Some(OpCode::GetData) => wrap(src, i, MultiOp::GetData),
            _ => fail(DecodeError::InvalidMultiOp(op)),
        }
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.encode(buf),
            MultiOp::CreateTtl(r) => r.encode(buf),
            MultiOp::Delete(r) => r.encode(buf),
            MultiOp::SetData(r) => r.encode(buf),
            MultiOp::Check(r) => r.encode(buf),
            MultiOp::GetChildren(r) => r.encode(buf),
            MultiOp::GetData(r) => r.encode(buf),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                r.encoded_len()
            }
            MultiOp::CreateTtl(r) => r.encoded_len(),
            MultiOp::Delete(r) => r.encoded_len(),
            MultiOp::SetData(r) => r.encoded_len(),
            MultiOp::Check(r) => r.encoded_len(),
            MultiOp::GetChildren(r) => r.encoded_len(),
            MultiOp::GetData(r) => r.encoded_len(),
        }
    }
}

impl OpResult {
    /// The header in front of this result.
    fn header(&self) -> MultiHeader {
        let op = match self {
            OpResult::Create { .. } => OpCode::Create,
            OpResult::Create2 { .. } => OpCode::Create2,
            OpResult::Delete => OpCode::Delete,
            OpResult::SetData { .. } => OpCode::SetData,
            OpResult::Check => OpCode::Check,
            OpResult::GetChildren { .. } => OpCode::GetChildren,
            OpResult::GetData { .. } => OpCode::GetData,
            OpResult::Error { err } => {
                return MultiHeader {
                    op: OpCode::Error.code(),
                    done: false,
                    err: *err,
                };
            }
        };
        MultiHeader {
            op: op.code(),
            done: false,
            err: 0,
        }
    }

    /// The error code of this result (Ok for a success).
    pub fn err(&self) -> i32 {
        match self {
            OpResult::Error { err } => *err,
            _ => ErrorCode::Ok.code(),
        }
    }

    fn decode_body<'a>(header: &MultiHeader, src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let op = header.op;
        match OpCode::from_code(op) {
            Some(OpCode::Create) => {
                let (i, r) = CreateResponse::decode(src, i)?;
                Ok((i, OpResult::Create { path: r.path }))
            }
            Some(OpCode::Create2) => {
                let (i, r) = Create2Response::decode(src, i)?;
                Ok((
                    i,
                    OpResult::Create2 {
                        path: r.path,
                        stat: r.stat,
                    },
                ))
            }
            Some(OpCode::Delete) => Ok((i, OpResult::Delete)),
            Some(OpCode::SetData) => {
                let (i, r) = StatResponse::decode(src, i)?;
                Ok((i, OpResult::SetData { stat: r.stat }))
            }
            Some(OpCode::Check) => Ok((i, OpResult::Check)),
            Some(OpCode::GetChildren) => {
                let (i, r) = GetChildrenResponse::decode(src, i)?;
                Ok((
                    i,
                    OpResult::GetChildren {
                        children: r.children,
                    },
                ))
            }
            Some(OpCode::GetData) => {
                let (i, r) = GetDataResponse::decode(src, i)?;
                Ok((
                    i,
                    OpResult::GetData {
                        data: r.data,
                        stat: r.stat,
                    },
                ))
            }
            Some(OpCode::Error) => {
                let (i, r) = ErrorResponse::decode(src, i)?;
                Ok((i, OpResult::Error { err: r.err }))
            }
            _ => fail(DecodeError::InvalidMultiOp(op)),
        }
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B) {
        match self {
            OpResult::Create { path } => path.encode(buf),
            OpResult::Create2 { path, stat, .. } => {
                path.encode(buf);
                stat.encode(buf);
            }
            OpResult::Delete | OpResult::Check => {}
            OpResult::SetData { stat } => stat.encode(buf),
            OpResult::GetChildren { children } => children.encode(buf),
            OpResult::GetData { data, stat } => {
                data.encode(buf);
                stat.encode(buf);
            }
            OpResult::Error { err } => err.encode(buf),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            OpResult::Create { path } => path.encoded_len(),
            OpResult::Create2 { path, stat, .. } => path.encoded_len() + stat.encoded_len(),
            OpResult::Delete | OpResult::Check => 0,
            OpResult::SetData { stat } => stat.encoded_len(),
            OpResult::GetChildren { children } => children.encoded_len(),
            OpResult::GetData { data, stat } => data.encoded_len() + stat.encoded_len(),
            OpResult::Error { .. } => 4,
        }
    }
}

/// Read headers and bodies until the `done` header. Each round consumes at
/// least one 9-byte header, so the loop ends with the input.
fn decode_list<'a, T>(
    src: &Bytes,
    mut i: &'a [u8],
    body: impl Fn(&MultiHeader, &Bytes, &'a [u8]) -> JResult<'a, T>,
) -> JResult<'a, Vec<T>> {
    let mut items = Vec::new();
    loop {
        let (rest, header) = MultiHeader::decode(src, i)?;
        if header.done {
            return Ok((rest, items));
        }
        let (rest, item) = body(&header, src, rest)?;
        items.push(item);
        i = rest;
    }
}

const HEADER_LEN: usize = 4 + 1 + 4;

impl Jute for MultiRequest {
    const MIN_LEN: usize = HEADER_LEN;

    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (i, ops) = decode_list(src, i, |h, src, i| MultiOp::decode_body(h.op, src, i))?;
        Ok((i, MultiRequest { ops }))
    }
}

impl Encode for MultiRequest {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        for op in &self.ops {
            MultiHeader {
                op: op.op_code().code(),
                done: false,
                err: -1,
            }
            .encode(buf);
            op.encode_body(buf);
        }
        MultiHeader::END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self
                .ops
                .iter()
                .map(|op| HEADER_LEN + op.body_len())
                .sum::<usize>()
    }
}

impl Jute for MultiResponse {
    const MIN_LEN: usize = HEADER_LEN;

    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (i, results) = decode_list(src, i, OpResult::decode_body)?;
        Ok((i, MultiResponse { results }))
    }
}

impl Encode for MultiResponse {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        for result in &self.results {
            result.header().encode(buf);
            result.encode_body(buf);
        }
        MultiHeader::END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self
                .results
                .iter()
                .map(|r| HEADER_LEN + r.body_len())
                .sum::<usize>()
    }
}
