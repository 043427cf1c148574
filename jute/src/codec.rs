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
    TooLarge {
        len: usize,
        max: usize,
    },
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
        // stmk's 8-byte mask counts only if it came with the word: ZooKeeper
        // reads what is there and never waits, so neither does a check
        // that sends the word alone.
        if *word == "stmk" && src.len() >= 12 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Inbound>, CodecError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf)? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn first_frame_is_the_handshake_and_later_ones_are_frames() {
        let mut codec = FrameCodec::server();
        let bytes = [frame(b"hello"), frame(b""), frame(b"xy")].concat();
        let items = decode_all(&mut codec, &bytes).unwrap();
        assert_eq!(
            items,
            vec![
                Inbound::Handshake(Bytes::from_static(b"hello")),
                Inbound::Frame(Bytes::new()),
                Inbound::Frame(Bytes::from_static(b"xy")),
            ]
        );
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut codec = FrameCodec::server();
        let bytes = [frame(b"connect"), frame(&[7; 300])].concat();
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for b in bytes {
            buf.extend_from_slice(&[b]);
            if let Some(item) = codec.decode(&mut buf).unwrap() {
                items.push(item);
            }
        }
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Inbound::Frame(Bytes::from(vec![7; 300])));
        assert!(buf.is_empty());
    }

    #[test]
    fn maximum_body_is_accepted_and_one_more_byte_is_refused() {
        let mut codec = FrameCodec::new(Role::Server, 100);
        let ok = decode_all(&mut codec, &frame(&[1; 100])).unwrap();
        assert_eq!(ok.len(), 1);
        match decode_all(&mut codec, &frame(&[1; 101])) {
            Err(CodecError::TooLarge { len: 101, max: 100 }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // The default is jute.maxbuffer: 1,048,575 bytes.
        let mut codec = FrameCodec::server();
        let mut buf = BytesMut::from(&(DEFAULT_MAX_FRAME as i32 + 1).to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLarge { len: 1_048_576, .. })
        ));
    }

    #[test]
    fn negative_length_is_refused() {
        let mut codec = FrameCodec::server();
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::NegativeLength(-5))
        ));
    }

    #[test]
    fn a_large_announced_frame_does_not_reserve_its_whole_size() {
        let mut codec = FrameCodec::server();
        let mut buf = BytesMut::from(&1_000_000i32.to_be_bytes()[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(
            buf.capacity() <= 4 + RESERVE_AHEAD,
            "reserved {}",
            buf.capacity()
        );
    }

    #[test]
    fn four_letter_words_are_recognised_only_before_the_handshake() {
        for word in &FOUR_LETTER_WORDS {
            let mut codec = FrameCodec::server();
            let items = decode_all(&mut codec, word.as_bytes()).unwrap();
            assert_eq!(
                items,
                vec![Inbound::FourLetterWord(FourLetterWord { word, mask: None })]
            );
        }
        // After a handshake the same bytes are a (far too large) length.
        let mut codec = FrameCodec::server();
        let bytes = [frame(b"hi"), b"ruok".to_vec()].concat();
        assert!(matches!(
            decode_all(&mut codec, &bytes),
            Err(CodecError::TooLarge { .. })
        ));
        // A client-side codec never sniffs.
        let mut codec = FrameCodec::client();
        assert!(matches!(
            decode_all(&mut codec, b"ruok"),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn stmk_takes_a_mask_that_came_with_it() {
        let mut codec = FrameCodec::server();
        let mut buf = BytesMut::from(&b"stmk\0\0\0\0\0\0\x01\x42"[..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::FourLetterWord(FourLetterWord {
                word: "stmk",
                mask: Some(0x142)
            }))
        );
    }

    #[test]
    fn stmk_alone_does_not_wait_for_a_mask() {
        let mut codec = FrameCodec::server();
        let mut buf = BytesMut::from(&b"stmk"[..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::FourLetterWord(FourLetterWord {
                word: "stmk",
                mask: None
            }))
        );
    }

    #[test]
    fn encoder_writes_the_length_prefix() {
        let mut codec = FrameCodec::server();
        let mut dst = BytesMut::new();
        let header = crate::ReplyHeader {
            xid: 1,
            zxid: 2,
            err: 0,
        };
        codec.encode(&header, &mut dst).unwrap();
        assert_eq!(&dst[..4], &16i32.to_be_bytes());
        assert_eq!(dst.len(), 20);
        assert_eq!(frame_bytes(&header), dst.freeze());
    }
}
