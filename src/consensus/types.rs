//! openraft type configuration and the raft entry payload.

use std::fmt;
use std::io::Cursor;

use bytes::Bytes;
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Corral's raft types. `Node` is `BasicNode` (an address string) so a TCP network can be
    /// added without changing the log format.
    pub TypeConfig:
        D = Batch,
        R = (),
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// The payload of one raft entry: the commands of many proposals, applied in order.
///
/// Serialized by hand (a sequence of byte strings) because the `bytes` crate's serde feature is
/// not enabled in this workspace; decoding from an owned buffer avoids a copy per command.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Batch(pub Vec<Bytes>);

impl Batch {
    pub fn payload_bytes(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

impl fmt::Debug for Batch {
    // Entries are logged by openraft at debug level; never dump whole payloads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Batch({} cmds, {} bytes)",
            self.0.len(),
            self.payload_bytes()
        )
    }
}

struct BytesRef<'a>(&'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for b in &self.0 {
            seq.serialize_element(&BytesRef(b))?;
        }
        seq.end()
    }
}

struct OwnedBytes(Bytes);

impl<'de> Deserialize<'de> for OwnedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OwnedBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<OwnedBytes, E> {
                Ok(OwnedBytes(Bytes::copy_from_slice(v)))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<OwnedBytes, E> {
                Ok(OwnedBytes(Bytes::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OwnedBytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(OwnedBytes(Bytes::from(v)))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Batch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of byte strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
                // Cap the pre-allocation: the length comes from disk or the network.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(OwnedBytes(b)) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Batch(v))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_postcard_roundtrip() {
        let b = Batch(vec![
            Bytes::from_static(b""),
            Bytes::from_static(b"abc"),
            Bytes::from(vec![0u8; 1000]),
        ]);
        let enc = postcard::to_allocvec(&b).unwrap();
        let dec: Batch = postcard::from_bytes(&enc).unwrap();
        assert_eq!(b, dec);
    }
}
