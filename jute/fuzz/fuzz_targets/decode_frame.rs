//! Feed arbitrary bytes to the server-side frame codec, then decode every
//! frame the way a connection would: the first as a `ConnectRequest`, later
//! ones as `RequestPacket`s, and (as if we were the client) each one also as a
//! `Reply` to the op chosen by the first input byte.
//!
//! A stream that starts with a frame has a first byte of 0 (a length prefix
//! above 0x00ff_ffff is over the maximum), so that choice would nearly always
//! be `Notification`. Each frame is therefore decoded as a reply to every op
//! in `OpCode::ALL`, the first-byte op first.
//!
//! Besides "never panics", every successful decode must survive a round trip:
//! encoding the value, framing it and decoding it again gives back an equal
//! value, the encoding is exactly `encoded_len()` bytes, and encoding is
//! canonical (the re-decoded value encodes to the same bytes). The codec must
//! also split a stream the same way whether it arrives at once or in pieces.

#![no_main]

use bytes::{Bytes, BytesMut};
use jute::{
    ConnectRequest, DecodeError, Encode, FrameCodec, Inbound, OpCode, Reply, RequestPacket,
    decode_exact, encode_to_bytes, frame_bytes,
};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let first = data
        .first()
        .map_or(0, |b| usize::from(*b) % OpCode::ALL.len());
    let reply_ops: Vec<i32> = OpCode::ALL[first..]
        .iter()
        .chain(&OpCode::ALL[..first])
        .map(|op| op.code())
        .collect();

    let (items, failed) = split_stream(data, data.len().max(1));

    // Arriving in small pieces must not change how the stream is split.
    let chunk = data.get(1).map_or(1, |b| usize::from(b % 16) + 1);
    let (chunked, chunked_failed) = split_stream(data, chunk);
    assert_eq!(
        items, chunked,
        "chunked ({chunk}) decode split the stream differently"
    );
    assert_eq!(
        failed, chunked_failed,
        "chunked ({chunk}) decode disagrees on the error"
    );

    for item in &items {
        match item {
            Inbound::Handshake(frame) => {
                if let Ok(req) = decode_exact::<ConnectRequest>(frame) {
                    check_round_trip(&req, frame, decode_exact::<ConnectRequest>);
                }
            }
            Inbound::Frame(frame) => {
                if let Ok(packet) = RequestPacket::decode_frame(frame) {
                    assert_eq!(packet.header().op, packet.request.op_code());
                    check_round_trip(&packet, frame, RequestPacket::decode_frame);
                }
                check_replies(frame, &reply_ops);
            }
            Inbound::FourLetterWord(_) => {}
        }
    }

    // The handshake decoded as a reply too: replies never come first on the
    // client side, but the decoder must cope with any bytes.
    if let Some(Inbound::Handshake(frame)) = items.first() {
        check_replies(frame, &reply_ops);
    }
});

/// Decode `frame` as the reply to each op in turn, round-tripping every success.
fn check_replies(frame: &Bytes, ops: &[i32]) {
    for &op in ops {
        if let Ok(reply) = Reply::decode_frame(frame, op) {
            check_round_trip(&reply, frame, |b| Reply::decode_frame(b, op));
        }
    }
}

/// Run the server codec over `data`, handing it `chunk` bytes at a time and
/// draining every complete item after each piece. Returns the items and
/// whether the codec stopped on an error.
fn split_stream(data: &[u8], chunk: usize) -> (Vec<Inbound>, bool) {
    let mut codec = FrameCodec::server();
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => {
                    if let Inbound::Handshake(_) | Inbound::Frame(_) = item {
                        assert!(codec.handshaken());
                    }
                    items.push(item);
                }
                Ok(None) => break,
                Err(_) => return (items, true),
            }
        }
    }
    (items, false)
}

/// `value` was decoded from `original`. Check that it encodes to exactly
/// `encoded_len()` bytes, that both framing paths agree, that decoding the
/// encoding gives an equal value, and that this value encodes identically.
fn check_round_trip<T, F>(value: &T, original: &Bytes, decode: F)
where
    T: Encode + PartialEq + std::fmt::Debug,
    F: Fn(&Bytes) -> Result<T, DecodeError>,
{
    let body = encode_to_bytes(value);
    assert_eq!(
        body.len(),
        value.encoded_len(),
        "encoded_len disagrees with encode for {value:?}"
    );
    // Decoding only normalises in place (a null vector or string reads as
    // empty, any non-zero bool byte as true), so the length never changes.
    assert_eq!(
        body.len(),
        original.len(),
        "re-encoding changed the length: {value:?}"
    );

    // frame_bytes and the codec's Encoder must produce the same frame.
    let framed = frame_bytes(value);
    let mut via_codec = BytesMut::new();
    FrameCodec::client()
        .encode(value, &mut via_codec)
        .expect("encoding a decoded value cannot fail");
    assert_eq!(framed, via_codec.freeze(), "frame_bytes and Encoder differ");
    assert_eq!(&framed[4..], &body[..]);
    let prefix = i32::from_be_bytes([framed[0], framed[1], framed[2], framed[3]]);
    assert_eq!(usize::try_from(prefix).ok(), Some(body.len()));

    // Split the frame back out with a client codec (no four-letter sniffing).
    let mut stream = BytesMut::from(&framed[..]);
    let reframed = match FrameCodec::client().decode(&mut stream) {
        Ok(Some(Inbound::Handshake(b))) => b,
        other => panic!("client codec did not return our frame: {other:?}"),
    };
    assert!(stream.is_empty());
    assert_eq!(reframed, body);

    let again = match decode(&reframed) {
        Ok(v) => v,
        Err(e) => panic!("re-encoded {value:?} does not decode: {e}\nbytes {reframed:02x?}"),
    };
    assert_eq!(&again, value, "round trip changed the value");
    assert_eq!(encode_to_bytes(&again), body, "encoding is not canonical");
}
