//! Splitting a byte stream into frames: a big-endian i32 length, then that
//! many bytes. On the server side, the four bytes where the first frame's
//! length would be may instead spell a four-letter word.

use std::fmt;
use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::codes::DEFAULT_MAX_FRAME;
use crate::primitive::Encode;

/// The four-letter words ZooKeeper 3.9 knows.
pub const FOUR_LETTER_WORDS: [&str; 18] = [
    "ruok", "stat", "srvr", "mntr", "conf", "cons", "crst", "srst", "dump", "envi", "wchs", "wchc",
    "wchp", "dirs", "isro", "gtmk", "stmk", "hash",
];

/// A four-letter word sent instead of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourLetterWord {
    /// One of [`FOUR_LETTER_WORDS`].
    pub word: &'static str,
    /// `stmk` is followed by an 8-byte trace mask.
    pub mask: Option<i64>,
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// The first frame of the connection (ConnectRequest or ConnectResponse).
    Handshake(Bytes),
    /// Any later frame.
    Frame(Bytes),
    /// A four-letter word before the handshake (server side only).
    FourLetterWord(FourLetterWord),
}

/// Why the stream cannot go on; the connection should be closed.
#[derive(Debug)]
pub enum CodecError {
    Io(io::Error),
    /// The length field was negative.
    NegativeLength(i32),
    /// The length field exceeded the configured maximum (`jute.maxbuffer`).
    TooLarge { len: usize, max: usize },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Io(e) => write!(f, "i/o error: {e}"),
            CodecError::NegativeLength(n) => write!(f, "negative frame length {n}"),
            CodecError::TooLarge { len, max } => {
                write!(f, "frame length {len} is greater than jute.maxbuffer {max}")
            }
        }
    }
}

impl std::error::Error for CodecError {}

impl From<io::Error> for CodecError {
    fn from(e: io::Error) -> Self {
        CodecError::Io(e)
    }
}

/// Which end of the connection this codec serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts four-letter words before the handshake.
    Server,
    Client,
}

/// Length-prefixed frame codec with a maximum body size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max: usize,
    role: Role,
    handshaken: bool,
}

/// Bytes reserved ahead for a partly received frame: the buffer grows with
/// what actually arrives, so a peer that announces a large frame and sends
/// nothing more cannot make us allocate it.
const RESERVE_AHEAD: usize = 64 * 1024;

impl FrameCodec {
    pub fn new(role: Role, max: usize) -> Self {
        FrameCodec {
            max,
            role,
            handshaken: false,
        }
    }

    /// A server-side codec with ZooKeeper's default maximum.
    pub fn server() -> Self {
        Self::new(Role::Server, DEFAULT_MAX_FRAME)
    }

    /// A client-side codec with ZooKeeper's default maximum.
    pub fn client() -> Self {
        Self::new(Role::Client, DEFAULT_MAX_FRAME)
    }

    pub fn max_frame(&self) -> usize {
        self.max
    }

    /// Whether the handshake frame has been seen.
    pub fn handshaken(&self) -> bool {
        self.handshaken
    }

    fn four_letter_word(&self, src: &mut BytesMut) -> Option<Option<FourLetterWord>> {
        if self.handshaken || self.role != Role::Server || src.len() < 4 {
            return None;
        }
        let word = FOUR_LETTER_WORDS
            .iter()
            .find(|w| w.as_bytes() == &src[..4])?;
        if *word == "stmk" {
            if src.len() < 12 {
                src.reserve(12 - src.len());
                return Some(None);
            }
            src.advance(4);
            let mask = src.get_i64();
            return Some(Some(FourLetterWord {
                word,
                mask: Some(mask),
            }));
        }
        src.advance(4);
        Some(Some(FourLetterWord { word, mask: None }))
    }
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if let Some(word) = self.four_letter_word(src) {
            return Ok(word.map(Inbound::FourLetterWord));
        }
        if src.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let len = usize::try_from(len).map_err(|_| CodecError::NegativeLength(len))?;
        if len > self.max {
            return Err(CodecError::TooLarge { len, max: self.max });
        }
        if src.len() < 4 + len {
            src.reserve((4 + len - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(len).freeze();
        if self.handshaken {
            Ok(Some(Inbound::Frame(frame)))
        } else {
            self.handshaken = true;
            Ok(Some(Inbound::Handshake(frame)))
        }
    }
}

impl<T: Encode + ?Sized> Encoder<&T> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &T, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = item.encoded_len();
        let prefix = i32::try_from(len).map_err(|_| CodecError::TooLarge { len, max: self.max })?;
        dst.reserve(4 + len);
        dst.put_i32(prefix);
        item.encode(dst);
        Ok(())
    }
}

/// One frame with its length prefix, allocated once at the exact size.
pub fn frame_bytes<T: Encode + ?Sized>(item: &T) -> Bytes {
    let len = item.encoded_len();
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
    item.encode(&mut buf);
    buf.freeze()
}
