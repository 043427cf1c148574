//! The jute primitives: how ints, longs, booleans, buffers, strings and vectors
//! are laid out, as nom parsers over a complete frame and `BufMut` writers.
//!
//! Every value knows its exact encoded length so a writer sizes its buffer
//! once, and its minimum encoded length so a decoder can refuse a count that
//! the remaining bytes cannot possibly hold before allocating anything.

use bytes::{BufMut, Bytes};
use nom::number::complete::{be_i32, be_i64, u8 as be_u8};

use crate::error::{DecodeError, JResult, fail};

/// A value that can be written in jute form.
pub trait Encode {
    /// Append the encoding to `buf`.
    fn encode<B: BufMut>(&self, buf: &mut B);

    /// Exactly how many bytes `encode` writes.
    fn encoded_len(&self) -> usize;
}

/// A value that can also be read back without outside context.
pub trait Jute: Encode + Sized {
    /// The fewest bytes any value of this type encodes to (0 only for the
    /// optional trailing boolean).
    const MIN_LEN: usize;

    /// Parse one value from `i`. `src` is the frame `i` lies in; buffers are
    /// returned as slices of it rather than copies.
    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self>;
}

/// Decode a value that must fill `frame` exactly.
pub fn decode_exact<T: Jute>(frame: &Bytes) -> Result<T, DecodeError> {
    let (rest, value) = crate::error::finish(T::decode(frame, frame))?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::Trailing(rest.len()))
    }
}

/// Encode a value into a buffer allocated once at the exact size.
pub fn encode_to_bytes<T: Encode + ?Sized>(value: &T) -> Bytes {
    let mut buf = Vec::with_capacity(value.encoded_len());
    value.encode(&mut buf);
    Bytes::from(buf)
}

/// A zero-copy slice of `src` when `part` lies inside it, else a copy (so a
/// caller passing an unrelated `src` gets correct data, never a panic).
pub(crate) fn share(src: &Bytes, part: &[u8]) -> Bytes {
    let base = src.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if !part.is_empty() && start >= base && start + part.len() <= base + src.len() {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// A length or count field: −1 is null, other negatives are errors, and a
/// value that cannot fit in what is left of the frame (at `min_len` bytes per
/// element) is refused before anything is allocated.
pub(crate) fn length(i: &[u8], min_len: usize) -> JResult<'_, Option<usize>> {
    let (rest, n) = be_i32(i)?;
    match n {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(DecodeError::NegativeLength(n)),
        n => {
            // i32 to usize cannot fail for a non-negative value on 32/64-bit targets.
            let n = n as usize;
            if n.saturating_mul(min_len) > rest.len() {
                return fail(DecodeError::LengthOverrun {
                    claimed: n,
                    available: rest.len(),
                });
            }
            Ok((rest, Some(n)))
        }
    }
}

fn put_len<B: BufMut>(buf: &mut B, len: usize) {
    // Lengths come from values bounded by the frame size (≤ i32::MAX).
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

impl Jute for i32 {
    const MIN_LEN: usize = 4;
    fn decode<'a>(_: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        be_i32(i)
    }
}

impl Encode for i32 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(*self);
    }
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Jute for i64 {
    const MIN_LEN: usize = 8;
    fn decode<'a>(_: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        be_i64(i)
    }
}

impl Encode for i64 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i64(*self);
    }
    fn encoded_len(&self) -> usize {
        8
    }
}

impl Jute for bool {
    const MIN_LEN: usize = 1;
    /// Any non-zero byte is true, as Java's `DataInput.readBoolean` reads it.
    fn decode<'a>(_: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (rest, b) = be_u8(i)?;
        Ok((rest, b != 0))
    }
}

/// The optional trailing boolean of the handshake records (`readOnly`):
/// absent when the frame ends here, as old clients send it. It can only be a
/// record's last field, which is the one place ZooKeeper has it.
impl Jute for Option<bool> {
    const MIN_LEN: usize = 0;
    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        if i.is_empty() {
            return Ok((i, None));
        }
        let (rest, b) = bool::decode(src, i)?;
        Ok((rest, Some(b)))
    }
}

impl Encode for Option<bool> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        if let Some(b) = self {
            b.encode(buf);
        }
    }
    fn encoded_len(&self) -> usize {
        usize::from(self.is_some())
    }
}

impl Encode for bool {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

/// `buffer`: `None` is the −1 null, distinct from an empty buffer (ZooKeeper
/// keeps the difference: a node created with null data reads back as null).
impl Jute for Option<Bytes> {
    const MIN_LEN: usize = 4;
    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (rest, len) = length(i, 1)?;
        match len {
            None => Ok((rest, None)),
            Some(n) => {
                let (data, rest) = rest.split_at(n);
                Ok((rest, Some(share(src, data))))
            }
        }
    }
}

impl Encode for Option<Bytes> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            None => buf.put_i32(-1),
            Some(b) => {
                put_len(buf, b.len());
                buf.put_slice(b);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, Bytes::len)
    }
}

fn utf8(i: &[u8]) -> JResult<'_, Option<String>> {
    let (rest, len) = length(i, 1)?;
    match len {
        None => Ok((rest, None)),
        Some(n) => {
            let (text, rest) = rest.split_at(n);
            Ok((rest, Some(java_lossy(text).into_owned())))
        }
    }
}

/// Text as ZooKeeper's Java decoder reads it: malformed UTF-8 becomes
/// U+FFFD instead of failing the request (path validation then refuses the
/// replacement character where a name would be made of it). Java counts one
/// malformed sequence where Rust's lossy decoder counts several in one case,
/// an encoded surrogate (ED A0..BF, then a continuation byte): followed here,
/// since the decoded text is echoed (sync) and used as a key (watches, ids).
pub fn java_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let first = match std::str::from_utf8(bytes) {
        Ok(text) => return std::borrow::Cow::Borrowed(text),
        Err(e) => e,
    };
    let mut out = String::with_capacity(bytes.len() + 2);
    let mut rest = bytes;
    let mut error = Some(first);
    loop {
        let Some(e) = error else {
            out.push_str(std::str::from_utf8(rest).unwrap_or_default());
            break;
        };
        let (good, bad) = rest.split_at(e.valid_up_to());
        out.push_str(std::str::from_utf8(good).unwrap_or_default());
        let surrogate = bad.len() > 1 && bad[0] == 0xED && (0xA0..=0xBF).contains(&bad[1]);
        let skip = if surrogate {
            if bad.len() > 2 && (0x80..=0xBF).contains(&bad[2]) {
                3
            } else {
                2
            }
        } else {
            e.error_len().unwrap_or(bad.len())
        };
        out.push('\u{FFFD}');
        rest = &bad[skip..];
        error = std::str::from_utf8(rest).err();
    }
    std::borrow::Cow::Owned(out)
}

/// `ustring` where null carries meaning (e.g. reconfig's optional fields).
impl Jute for Option<String> {
    const MIN_LEN: usize = 4;
    fn decode<'a>(_: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        utf8(i)
    }
}

impl Encode for Option<String> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            None => buf.put_i32(-1),
            Some(s) => s.encode(buf),
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, String::len)
    }
}

/// `ustring` where null has no meaning of its own (paths, schemes, names):
/// null reads as the empty string, which every path check already rejects.
impl Jute for String {
    const MIN_LEN: usize = 4;
    fn decode<'a>(_: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        let (rest, s) = utf8(i)?;
        Ok((rest, s.unwrap_or_default()))
    }
}

impl Encode for String {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_len(buf, self.len());
        buf.put_slice(self.as_bytes());
    }
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
}

/// `vector<T>`: null reads as empty (no record on the client wire gives a
/// null vector a meaning of its own).
impl<T: Jute> Jute for Vec<T> {
    const MIN_LEN: usize = 4;
    fn decode<'a>(src: &Bytes, i: &'a [u8]) -> JResult<'a, Self> {
        // At least a byte per element, so no element type can make a count
        // pass the bound without the bytes to back it.
        let (mut rest, count) = length(i, T::MIN_LEN.max(1))?;
        let count = count.unwrap_or(0);
        // `length` already proved count * MIN_LEN <= remaining bytes.
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let (r, item) = T::decode(src, rest)?;
            items.push(item);
            rest = r;
        }
        Ok((rest, items))
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_len(buf, self.len());
        for item in self {
            item.encode(buf);
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.iter().map(Encode::encoded_len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::java_lossy;

    /// Replacement counts measured against ZooKeeper 3.8's Java decoder
    /// (the name a bad path decodes to, read back through a watch).
    #[test]
    fn malformed_text_decodes_as_java_does() {
        let cases: &[(&[u8], &str)] = &[
            (b"/a", "/a"),
            (b"\xff", "\u{FFFD}"),
            (b"\xc3", "\u{FFFD}"),
            (b"\xc0\xaf", "\u{FFFD}\u{FFFD}"),
            (b"\xe0\x80\xaf", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xe2\x82", "\u{FFFD}"),
            (b"\xe2\x82x", "\u{FFFD}x"),
            (b"\xf0\x9f\x98", "\u{FFFD}"),
            (b"\xf4\x90\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\x80\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xfe\xff", "\u{FFFD}\u{FFFD}"),
            // Encoded surrogates: one replacement per sequence in Java.
            (b"\xed\xa0\x80", "\u{FFFD}"),
            (b"\xed\xbf\xbf", "\u{FFFD}"),
            (b"\xed\xa0", "\u{FFFD}"),
            (b"\xed\xa0A", "\u{FFFD}A"),
            (b"\xed\xa0\x80\x80", "\u{FFFD}\u{FFFD}"),
            (b"\xed\xb0\x80\xed", "\u{FFFD}\u{FFFD}"),
            (b"\xed\xa0\xbd\xed\xb8\x80", "\u{FFFD}\u{FFFD}"),
            (b"/u/a\xffz", "/u/a\u{FFFD}z"),
            ("/\u{1F600}".as_bytes(), "/\u{1F600}"),
        ];
        for (bytes, want) in cases {
            assert_eq!(java_lossy(bytes), *want, "{bytes:x?}");
        }
    }
}
