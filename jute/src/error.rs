//! Decoding errors. Every way a frame can be wrong maps to one variant, so
//! callers can tell "close the connection" apart from "answer an error".

use std::fmt;

/// Why a frame or record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the record did.
    Short,
    /// The record was complete but `n` bytes were left over.
    Trailing(usize),
    /// A length or count field was negative (other than the −1 null marker).
    NegativeLength(i32),
    /// A length or count field claims more bytes than the frame holds.
    LengthOverrun { claimed: usize, available: usize },
    /// A ustring was not valid UTF-8.
    InvalidUtf8,
    /// A boolean byte was neither 0 nor 1.
    InvalidBool(u8),
    /// A multi carried an op type that cannot appear there.
    InvalidMultiOp(i32),
    /// Any other nom-level failure.
    Malformed(nom::error::ErrorKind),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short => write!(f, "input ended inside a record"),
            DecodeError::Trailing(n) => write!(f, "{n} trailing bytes after the record"),
            DecodeError::NegativeLength(n) => write!(f, "negative length {n}"),
            DecodeError::LengthOverrun { claimed, available } => {
                write!(f, "length {claimed} exceeds the {available} bytes left")
            }
            DecodeError::InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            DecodeError::InvalidBool(b) => write!(f, "boolean byte {b:#04x} is not 0 or 1"),
            DecodeError::InvalidMultiOp(t) => write!(f, "op type {t} cannot appear in a multi"),
            DecodeError::Malformed(kind) => write!(f, "malformed input ({kind:?})"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl<I> nom::error::ParseError<I> for DecodeError {
    fn from_error_kind(_input: I, kind: nom::error::ErrorKind) -> Self {
        // nom's `complete` number parsers report running out of input as Eof.
        match kind {
            nom::error::ErrorKind::Eof => DecodeError::Short,
            kind => DecodeError::Malformed(kind),
        }
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// The result type of every jute parser.
pub type JResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// Turn a nom result into a plain one (complete input: Incomplete cannot happen,
/// but if it did it means the input was short).
pub(crate) fn finish<T>(r: Result<T, nom::Err<DecodeError>>) -> Result<T, DecodeError> {
    r.map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => DecodeError::Short,
    })
}

/// Fail a parser with `e`.
pub(crate) fn fail<T>(e: DecodeError) -> Result<T, nom::Err<DecodeError>> {
    Err(nom::Err::Failure(e))
}
