//! A node's children: their ids sorted by name (so getChildren needs no
//! sort and a lookup is a binary search), in blocks of at most [`BLOCK`],
//! so that adding or removing a child moves at most a block, not a list of
//! a million (as one sorted vector would: 150 µs per create at the front
//! of a million-child node, 300 ms for one 1,000-op multi). Names live in
//! the node records; callers lend a way to read them.

/// An insert moves at most 16 KiB; a list of a thousand is one block.
const BLOCK: usize = 4096;

#[derive(Debug, Clone, Default)]
pub(super) struct Children {
    /// Each non-empty; every name in a block sorts before the next block's.
    blocks: Vec<Vec<u32>>,
    len: u32,
}

/// A place in the list: (block, index in it).
pub(super) type At = (usize, usize);

impl Children {
    /// Sort `ids` by name into full blocks. Err: two children share a name
    /// (one of them is given).
    pub fn from_unsorted<'a>(
        mut ids: Vec<u32>,
        name_of: impl Fn(u32) -> &'a [u8],
    ) -> Result<Self, u32> {
        ids.sort_unstable_by(|&a, &b| name_of(a).cmp(name_of(b)));
        if let Some(w) = ids.windows(2).find(|w| name_of(w[0]) == name_of(w[1])) {
            return Err(w[0]);
        }
        let len = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let blocks = if ids.is_empty() {
            Vec::new()
        } else if ids.len() <= BLOCK {
            ids.shrink_to_fit();
            vec![ids]
        } else {
            ids.chunks(BLOCK).map(<[u32]>::to_vec).collect()
        };
        Ok(Children { blocks, len })
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks.iter().flatten().copied()
    }

    /// Where the child called `name` is (Ok), or would go (Err).
    pub fn find<'a>(&self, name: &[u8], name_of: impl Fn(u32) -> &'a [u8]) -> Result<At, At> {
        let Some(last) = self.blocks.len().checked_sub(1) else {
            return Err((0, 0));
        };
        let b = self
            .blocks
            .partition_point(|blk| blk.last().is_some_and(|&l| name_of(l) < name))
            .min(last);
        match self.blocks[b].binary_search_by(|&k| name_of(k).cmp(name)) {
            Ok(i) => Ok((b, i)),
            Err(i) => Err((b, i)),
        }
    }

    pub fn get(&self, (b, i): At) -> Option<u32> {
        self.blocks.get(b)?.get(i).copied()
    }

    /// Put `id` where [`Children::find`] said it would go.
    pub fn insert(&mut self, (b, i): At, id: u32) {
        if self.blocks.is_empty() {
            self.blocks.push(Vec::new());
        }
        let Some(block) = self.blocks.get_mut(b) else {
            return;
        };
        block.insert(i.min(block.len()), id);
        self.len += 1;
        if block.len() > BLOCK {
            let tail = block.split_off(block.len() / 2);
            // Grown by doubling past BLOCK: give back what half of it needs.
            block.shrink_to(BLOCK);
            self.blocks.insert(b + 1, tail);
        }
    }

    /// Take out the child at `at` (as [`Children::find`] gave it).
    pub fn remove(&mut self, (b, i): At) -> Option<u32> {
        let block = self.blocks.get_mut(b)?;
        if i >= block.len() {
            return None;
        }
        let id = block.remove(i);
        self.len -= 1;
        let left = block.len();
        if left == 0 {
            self.blocks.remove(b);
        } else if left < BLOCK / 4
            && self
                .blocks
                .get(b + 1)
                .is_some_and(|next| left + next.len() <= BLOCK)
        {
            // Keeps a list that shrank from holding many near-empty blocks.
            let next = self.blocks.remove(b + 1);
            self.blocks[b].extend(next);
        } else if let Some(block) = self.blocks.get_mut(b)
            && block.capacity() > 64
            && left < block.capacity() / 4
        {
            block.shrink_to(left * 2);
        }
        if self.blocks.is_empty() {
            self.blocks = Vec::new();
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a sorted vector, across block splits and merges.
    #[test]
    fn stays_sorted_across_splits_and_merges() {
        let names: Vec<String> = (0..50_000u32)
            .map(|i| format!("n{:05}", (i * 7919) % 50_000))
            .collect();
        let name_of = |id: u32| names[id as usize].as_bytes();
        let mut c = Children::default();
        let mut want: Vec<u32> = Vec::new();
        for id in 0..50_000u32 {
            let at = c.find(name_of(id), name_of).expect_err("new name");
            c.insert(at, id);
            want.push(id);
        }
        want.sort_by(|&a, &b| name_of(a).cmp(name_of(b)));
        assert_eq!(c.iter().collect::<Vec<_>>(), want);
        assert!(c.blocks.len() > 10 && c.blocks.iter().all(|b| b.len() <= BLOCK));
        for id in (0..50_000u32).filter(|i| i % 3 != 0) {
            let at = c.find(name_of(id), name_of).expect("present");
            assert_eq!(c.remove(at), Some(id));
        }
        want.retain(|i| i % 3 == 0);
        assert_eq!(c.iter().collect::<Vec<_>>(), want);
        assert_eq!(c.len() as usize, want.len());
        for &id in &want {
            assert_eq!(
                c.find(name_of(id), name_of).ok().and_then(|at| c.get(at)),
                Some(id)
            );
        }
        let rebuilt = Children::from_unsorted(want.clone(), name_of).expect("distinct");
        assert_eq!(rebuilt.iter().collect::<Vec<_>>(), want);
        assert!(Children::from_unsorted(vec![1, 1], name_of).is_err());
    }
}
