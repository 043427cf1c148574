//! Hostile input: hundreds of thousands of random and mutated frames go
//! through every decoder and the frame codec. Nothing may panic, and whatever
//! does decode must re-encode to something that decodes to the same value.

mod common;

use bytes::{Bytes, BytesMut};
use jute::*;
use tokio_util::codec::Decoder;

/// splitmix64: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const INTERESTING: [i32; 10] = [-1, -2, 0, 1, 2, 4, 0x7f, i32::MAX, i32::MIN, 1 << 20];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Bytes]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if v.len() >= 4 => {
                let i = rng.below(v.len() - 3);
                let x = INTERESTING[rng.below(INTERESTING.len())];
                v[i..i + 4].copy_from_slice(&x.to_be_bytes());
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 => {
                let n = rng.below(16);
                v.extend(rng.bytes(n));
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                v.splice(at..at, other[from..to].iter().copied());
            }
            _ if v.len() >= 2 => {
                let from = rng.below(v.len());
                let to = from + rng.below(v.len() - from);
                let piece = v[from..to].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, piece);
            }
            _ => {}
        }
    }
    v
}

/// Decode `frame` every way a peer could mean it; check what decodes.
fn decode_all_ways(frame: &Bytes, op: i32) -> usize {
    let mut decoded = 0;
    if let Ok(v) = decode_exact::<ConnectRequest>(frame) {
        assert_eq!(decode_exact::<ConnectRequest>(&encode_to_bytes(&v)), Ok(v));
        decoded += 1;
    }
    if let Ok(v) = decode_exact::<ConnectResponse>(frame) {
        assert_eq!(decode_exact::<ConnectResponse>(&encode_to_bytes(&v)), Ok(v));
        decoded += 1;
    }
    if let Ok(v) = RequestPacket::decode_frame(frame) {
        let again = encode_to_bytes(&v);
        assert_eq!(again.len(), v.encoded_len());
        assert_eq!(RequestPacket::decode_frame(&again), Ok(v));
        decoded += 1;
    }
    if let Ok(v) = Reply::decode_frame(frame, op) {
        let again = encode_to_bytes(&v);
        assert_eq!(again.len(), v.encoded_len());
        assert_eq!(Reply::decode_frame(&again, op), Ok(v));
        decoded += 1;
    }
    if let Ok(v) = decode_exact::<MultiResponse>(frame) {
        assert_eq!(decode_exact::<MultiResponse>(&encode_to_bytes(&v)), Ok(v));
        decoded += 1;
    }
    decoded
}

/// Feed a byte stream to a server codec in random-sized pieces; it must end
/// in an error or run out of input, yielding only frames within the limit.
fn stream(rng: &mut Rng, bytes: &[u8], max: usize) {
    let mut codec = FrameCodec::new(Role::Server, max);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(Inbound::Handshake(f) | Inbound::Frame(f))) => {
                assert!(f.len() <= max);
                decode_all_ways(&f, OpCode::GetData.code());
            }
            Ok(Some(Inbound::FourLetterWord(w))) => {
                assert!(codec::FOUR_LETTER_WORDS.contains(&w.word));
                return;
            }
            Ok(None) if fed < bytes.len() => {
                let n = 1 + rng.below(64);
                let end = (fed + n).min(bytes.len());
                buf.extend_from_slice(&bytes[fed..end]);
                fed = end;
            }
            Ok(None) => return,
            Err(_) => return,
        }
    }
}

#[test]
fn random_and_mutated_frames_never_panic() {
    let mut rng = Rng(0x5eed_c0de);
    let corpus: Vec<Bytes> = common::fixture_bodies()
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    assert!(
        corpus.len() > 100,
        "fixture corpus too small: {}",
        corpus.len()
    );
    let ops: Vec<i32> = OpCode::ALL.iter().map(|o| o.code()).collect();

    let mut decoded = 0usize;
    let rounds = 300_000;
    for round in 0..rounds {
        let frame: Vec<u8> = if round % 4 == 0 {
            let n = rng.below(96);
            rng.bytes(n)
        } else {
            let pick = rng.below(corpus.len());
            mutate(&mut rng, &corpus[pick], &corpus)
        };
        let op = ops[rng.below(ops.len())];
        decoded += decode_all_ways(&Bytes::from(frame.clone()), op);

        if round % 16 == 0 {
            // The same bytes as a stream, with and without a plausible length prefix.
            let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
            framed.extend_from_slice(&frame);
            let max = if rng.below(2) == 0 {
                DEFAULT_MAX_FRAME
            } else {
                64
            };
            stream(&mut rng, &framed, max);
            stream(&mut rng, &frame, max);
        }
    }
    // Mutation must leave much of the corpus decodable, or this test exercises
    // only the error paths.
    assert!(
        decoded > rounds / 4,
        "only {decoded} decodes in {rounds} rounds"
    );
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    // GetChildrenResponse claiming 2^31-1 children in a 4-byte body.
    let frame = Bytes::from(i32::MAX.to_be_bytes().to_vec());
    assert_eq!(
        decode_exact::<GetChildrenResponse>(&frame),
        Err(DecodeError::LengthOverrun {
            claimed: i32::MAX as usize,
            available: 0
        })
    );
    // A buffer claiming 2^31-1 bytes.
    let mut set = b"\x00\x00\x00\x02/a".to_vec();
    set.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        decode_exact::<SetDataRequest>(&Bytes::from(set)),
        Err(DecodeError::LengthOverrun { .. })
    ));
    // Negative lengths other than the null marker.
    assert_eq!(
        decode_exact::<CreateResponse>(&Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe])),
        Err(DecodeError::NegativeLength(-2))
    );
}

#[test]
fn malformed_records_get_typed_errors() {
    assert_eq!(
        decode_exact::<Stat>(&Bytes::from_static(&[0; 67])),
        Err(DecodeError::Short)
    );
    assert_eq!(
        decode_exact::<ErrorResponse>(&Bytes::from_static(&[0; 5])),
        Err(DecodeError::Trailing(1))
    );
    // Malformed UTF-8 is read as ZooKeeper's Java decoder reads it.
    assert_eq!(
        decode_exact::<CreateResponse>(&Bytes::from_static(&[0, 0, 0, 2, 0xff, 0xfe])),
        Ok(CreateResponse {
            path: "\u{FFFD}\u{FFFD}".into()
        })
    );
    // A multi op that cannot be in a multi (getACL, 6).
    let mut multi = Vec::new();
    multi.extend_from_slice(&6i32.to_be_bytes());
    multi.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff]);
    multi.extend_from_slice(b"\x00\x00\x00\x02/a");
    assert_eq!(
        decode_exact::<MultiRequest>(&Bytes::from(multi)),
        Err(DecodeError::InvalidMultiOp(6))
    );
    // A multi with no closing header.
    let open = encode_to_bytes(&MultiRequest { ops: vec![] });
    assert_eq!(
        decode_exact::<MultiRequest>(&open.slice(..8)),
        Err(DecodeError::Short)
    );
}

#[test]
fn unknown_op_codes_decode_for_an_unimplemented_answer() {
    let mut frame = 42i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&999i32.to_be_bytes());
    frame.extend_from_slice(b"anything");
    let packet = RequestPacket::decode_frame(&Bytes::from(frame.clone())).unwrap();
    assert_eq!(packet.xid, 42);
    assert_eq!(packet.request.op_code(), 999);
    assert!(matches!(&packet.request, Request::Unknown { body, .. } if &body[..] == b"anything"));
    assert_eq!(encode_to_bytes(&packet), Bytes::from(frame));
    // deleteContainer is server-internal: a client sending it is also answered as unknown.
    let mut internal = 1i32.to_be_bytes().to_vec();
    internal.extend_from_slice(&OpCode::DeleteContainer.code().to_be_bytes());
    let packet = RequestPacket::decode_frame(&Bytes::from(internal)).unwrap();
    assert!(matches!(packet.request, Request::Unknown { op: 20, .. }));
}
