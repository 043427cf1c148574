//! The handshake records. They have no header, and their trailing `readOnly`
//! byte is optional: clients older than 3.3 omit it (a 44-byte request), and
//! the server answers in the same style.

use bytes::{BufMut, Bytes};

use crate::error::JResult;
use crate::primitive::{Encode, Jute};

/// The first frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// Negotiated timeout in ms; 0 tells the client its session is expired.
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Option<Bytes>,
    /// `None` to answer an old client that sent no readOnly byte.
    pub read_only: Option<bool>,
}

/// The optional trailing boolean: absent only when the frame ends here.
fn optional_bool<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Option<bool>> {
    if i.is_empty() {
        Ok((i, None))
    } else {
        let (i, b) = bool::decode(src, i)?;
        Ok((i, Some(b)))
    }
}

impl Jute for ConnectRequest {
    const MIN_LEN: usize = 4 + 8 + 4 + 8 + 4;

    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (i, protocol_version) = i32::decode(src, i)?;
        let (i, last_zxid_seen) = i64::decode(src, i)?;
        let (i, timeout) = i32::decode(src, i)?;
        let (i, session_id) = i64::decode(src, i)?;
        let (i, passwd) = Option::<Bytes>::decode(src, i)?;
        let (i, read_only) = optional_bool(src, i)?;
        Ok((
            i,
            ConnectRequest {
                protocol_version,
                last_zxid_seen,
                timeout,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

impl Encode for ConnectRequest {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.protocol_version.encode(buf);
        self.last_zxid_seen.encode(buf);
        self.timeout.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(b) = self.read_only {
            b.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        <Self as Jute>::MIN_LEN
            + self.passwd.as_ref().map_or(0, Bytes::len)
            + usize::from(self.read_only.is_some())
    }
}

impl Jute for ConnectResponse {
    const MIN_LEN: usize = 4 + 4 + 8 + 4;

    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (i, protocol_version) = i32::decode(src, i)?;
        let (i, timeout) = i32::decode(src, i)?;
        let (i, session_id) = i64::decode(src, i)?;
        let (i, passwd) = Option::<Bytes>::decode(src, i)?;
        let (i, read_only) = optional_bool(src, i)?;
        Ok((
            i,
            ConnectResponse {
                protocol_version,
                timeout,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

impl Encode for ConnectResponse {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.protocol_version.encode(buf);
        self.timeout.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(b) = self.read_only {
            b.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        <Self as Jute>::MIN_LEN
            + self.passwd.as_ref().map_or(0, Bytes::len)
            + usize::from(self.read_only.is_some())
    }
}

#[cfg(feature = "proptest")]
mod gen_impls {
    use super::*;
    use crate::arbitrary::Gen;
    use proptest::prelude::*;

    impl Gen for ConnectRequest {
        fn strategy() -> BoxedStrategy<Self> {
            (
                any::<i32>(),
                any::<i64>(),
                any::<i32>(),
                any::<i64>(),
                Option::<Bytes>::strategy(),
                any::<Option<bool>>(),
            )
                .prop_map(
                    |(protocol_version, last_zxid_seen, timeout, session_id, passwd, read_only)| {
                        ConnectRequest {
                            protocol_version,
                            last_zxid_seen,
                            timeout,
                            session_id,
                            passwd,
                            read_only,
                        }
                    },
                )
                .boxed()
        }
    }

    impl Gen for ConnectResponse {
        fn strategy() -> BoxedStrategy<Self> {
            (
                any::<i32>(),
                any::<i32>(),
                any::<i64>(),
                Option::<Bytes>::strategy(),
                any::<Option<bool>>(),
            )
                .prop_map(
                    |(protocol_version, timeout, session_id, passwd, read_only)| ConnectResponse {
                        protocol_version,
                        timeout,
                        session_id,
                        passwd,
                        read_only,
                    },
                )
                .boxed()
        }
    }
}
