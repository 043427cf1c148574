//! A node's name and data in one heap block behind a thin pointer: 8 bytes
//! in a record where a `Box<str>` and a `Box<[u8]>` took 32, and one
//! allocation (one size-class rounding) instead of two. The block starts
//! with its length, so a blob frees and copies itself.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;

/// The length in front of the bytes.
const HEADER: usize = size_of::<u32>();

pub struct Blob(NonNull<u8>);

// SAFETY: a Blob owns its block outright, as a Box<[u8]> would; it has no
// interior mutability.
unsafe impl Send for Blob {}
unsafe impl Sync for Blob {}

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(HEADER.checked_add(len)?, 1).ok()
}

impl Blob {
    /// `parts` one after another; None when they total 4 GiB or more.
    pub fn new(parts: &[&[u8]]) -> Option<Blob> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let header = u32::try_from(len).ok()?.to_ne_bytes();
        let layout = layout(len)?;
        // SAFETY: the layout is at least HEADER bytes, never zero-sized.
        let Some(block) = NonNull::new(unsafe { alloc(layout) }) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the block holds HEADER + len bytes, written here in
        // order without overlap; alignment 1 suits byte copies.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), block.as_ptr(), HEADER);
            let mut at = block.as_ptr().add(HEADER);
            for p in parts {
                std::ptr::copy_nonoverlapping(p.as_ptr(), at, p.len());
                at = at.add(p.len());
            }
        }
        Some(Blob(block))
    }

    fn len(&self) -> usize {
        let mut header = [0u8; HEADER];
        // SAFETY: every block starts with its HEADER-byte length (new).
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr(), header.as_mut_ptr(), HEADER) };
        u32::from_ne_bytes(header) as usize
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the block holds len() initialised bytes after its header,
        // owned by self for as long as the borrow.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(HEADER), self.len()) }
    }
}

impl Clone for Blob {
    fn clone(&self) -> Self {
        // The same bytes fit again; a failure here would be an allocation
        // failure, which aborts as any allocation's does.
        match Blob::new(&[self.bytes()]) {
            Some(b) => b,
            None => handle_alloc_error(Layout::new::<u8>()),
        }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        if let Some(layout) = layout(self.len()) {
            // SAFETY: allocated in new with this very layout (same length).
            unsafe { dealloc(self.0.as_ptr(), layout) }
        }
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run under `cargo miri test blob` too: it checks the unsafe parts.
    #[test]
    fn holds_copies_and_frees_its_bytes() {
        let b = Blob::new(&[b"name", b"", b"data"]).expect("small");
        assert_eq!(b.bytes(), b"namedata");
        let c = b.clone();
        drop(b);
        assert_eq!(c.bytes(), b"namedata");
        let empty = Blob::new(&[]).expect("empty");
        assert_eq!(empty.bytes(), b"");
        assert_eq!(size_of::<Option<Blob>>(), 8);
    }
}
