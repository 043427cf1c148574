//! Running totals over the whole tree (digest, data size, ephemerals), kept
//! by apply as it changes nodes, so `mntr`, `hash` and /metrics read them in
//! O(1) instead of walking millions of nodes under the node lock.
//!
//! The digest is a wrapping sum of per-node hashes, as ZooKeeper's is: the
//! order nodes are visited in cannot matter, and a node's change is one
//! subtraction and one addition. A node's hash is split in two parts, one
//! over its path and data and one over its path and Stat fields, so a child
//! create or delete (which touches only the parent's counters) does not
//! rehash the parent's data.

use super::nodes::Node;

/// Derived entirely from the nodes and sessions: never stored, rebuilt on load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Wrapping sum of [`node_hash`] over every node.
    pub digest: u64,
    /// Sum of path length + data length, ZooKeeper's approximate data size.
    pub data_size: u64,
    /// Paths listed in sessions' ephemeral sets.
    pub ephemerals: u64,
}

impl Totals {
    /// A node appears (or gets back what it had).
    pub fn add_node(&mut self, path: &str, n: Node<'_>) {
        self.digest = self.digest.wrapping_add(node_hash(path, n));
        self.data_size = self.data_size.wrapping_add(size(path, n));
    }

    /// A node goes, or is about to change in more than its Stat fields.
    pub fn remove_node(&mut self, path: &str, n: Node<'_>) {
        self.digest = self.digest.wrapping_sub(node_hash(path, n));
        self.data_size = self.data_size.wrapping_sub(size(path, n));
    }

    /// Only the node's Stat fields are about to change (or just changed).
    pub fn remove_stat(&mut self, path: &str, n: Node<'_>) {
        self.digest = self.digest.wrapping_sub(stat_hash(path, n));
    }

    pub fn add_stat(&mut self, path: &str, n: Node<'_>) {
        self.digest = self.digest.wrapping_add(stat_hash(path, n));
    }
}

fn size(path: &str, n: Node<'_>) -> u64 {
    (path.len() + n.data().map_or(0, |d| d.len())) as u64
}

/// A node's share of the digest.
pub(crate) fn node_hash(path: &str, n: Node<'_>) -> u64 {
    data_hash(path, n).wrapping_add(stat_hash(path, n))
}

fn data_hash(path: &str, n: Node<'_>) -> u64 {
    let mut h = Mix::new(0x6461_7461_5f68_6173);
    h.bytes(path.as_bytes());
    match n.data() {
        Some(d) => h.bytes(d),
        // No data differs from empty data (no length is u64::MAX).
        None => h.word(u64::MAX),
    }
    h.finish()
}

/// The same fields the digest always covered; the ACL and child names are
/// left out (children are nodes with their own hashes).
fn stat_hash(path: &str, n: Node<'_>) -> u64 {
    let mut h = Mix::new(0x7374_6174_5f68_6173);
    h.bytes(path.as_bytes());
    for v in n.wide_fields() {
        h.word(v as u64);
    }
    for v in n.versions() {
        h.word(u64::from(v as u32));
    }
    h.finish()
}

/// One word into a hash state: a multiply spreads low bits up, the shift brings high bits down.
fn step(h: u64, w: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// A word-at-a-time multiplicative hash with a murmur3 finaliser: fixed
/// here, so it is the same on every build and platform (std's hashers are
/// not promised to be), and fast enough to hash a 1 MiB value in a fraction
/// of a millisecond.
struct Mix(u64);

impl Mix {
    fn new(seed: u64) -> Self {
        Mix(seed)
    }

    fn word(&mut self, w: u64) {
        self.0 = step(self.0, w);
    }

    /// Length first, so (path, data) pairs cannot run into each other.
    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        // Four independent lanes over 32-byte blocks: one lane is a chain of
        // dependent multiplies, four keep the core busy (~3x on large values).
        let mut blocks = b.chunks_exact(32);
        if b.len() >= 32 {
            let mut lanes = [
                self.0,
                self.0 ^ 0x243f_6a88_85a3_08d3,
                self.0 ^ 0x1319_8a2e_0370_7344,
                self.0 ^ 0xa409_3822_299f_31d0,
            ];
            for block in &mut blocks {
                for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(w);
                    *lane = step(*lane, u64::from_le_bytes(word));
                }
            }
            for lane in lanes {
                self.word(lane);
            }
        }
        let mut chunks = blocks.remainder().chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    fn finish(self) -> u64 {
        let mut z = self.0;
        z ^= z >> 33;
        z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^= z >> 33;
        z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}

#[cfg(test)]
mod tests {
    use crate::tree::AclList;
    use crate::tree::Znode;
    use crate::tree::nodes::Nodes;

    use super::*;

    /// The hash of a node at `path` holding `data`.
    fn hash(path: &str, data: Option<&[u8]>) -> u64 {
        let acl: AclList = jute::Acl::open_unsafe().into();
        let nodes = Nodes::new(Znode::new(data.map(Box::from), acl, 3, 4, 0));
        nodes.get("/").map_or(0, |n| node_hash(path, n))
    }

    /// Fixed values: the digest must not change between builds or machines.
    #[test]
    fn node_hashes_are_stable() {
        assert_eq!(hash("/a", None), 0xdfd7_2743_5e33_4609);
        assert_eq!(hash("/a", Some(b"")), 0xe7f0_e038_cbf0_668d);
        assert_eq!(hash("/a/b", Some(b"0123456789")), 0x5475_c3cc_b371_ca8d);
        let long: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        assert_eq!(hash("/a/b", Some(&long)), 0x2e4b_e529_d7b7_3b5c);
    }

    #[test]
    fn data_and_paths_do_not_run_together() {
        assert_ne!(hash("/ab", Some(b"c")), hash("/a", Some(b"bc")));
        assert_ne!(hash("/a", None), hash("/a", Some(b"")));
        // Every byte counts, in the four-lane blocks as in the tail.
        let long = vec![7u8; 100];
        for i in [0, 9, 31, 32, 63, 95, 96, 99] {
            let mut other = long.clone();
            other[i] ^= 1;
            assert_ne!(hash("/a", Some(&long)), hash("/a", Some(&other)));
        }
    }
}
