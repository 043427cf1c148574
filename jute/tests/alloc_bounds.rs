//! No length field may make the decoder allocate more than the frame it came
//! in could justify. Its own test binary: the counting allocator is global.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use jute::*;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn largest_allocation_while(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}

#[test]
fn length_fields_cannot_force_large_allocations() {
    let max = i32::MAX.to_be_bytes();
    let cases: Vec<Vec<u8>> = vec![
        // vector<ustring> of 2^31-1 elements.
        max.to_vec(),
        // getChildren2 with a huge children count.
        [&max[..], &[0; 68]].concat(),
        // create with a huge ACL count after a valid path and data.
        [
            &b"\x00\x00\x00\x01/\xff\xff\xff\xff"[..],
            &max[..],
            &[0; 64],
        ]
        .concat(),
        // SetWatches2 with huge vectors.
        [&[0u8; 8][..], &max[..]].concat(),
        // A request frame: header then a huge buffer length.
        [
            &[0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 2, b'/', b'a'][..],
            &max[..],
            &[0; 16],
        ]
        .concat(),
    ];
    let frames: Vec<Bytes> = cases.into_iter().map(Bytes::from).collect();

    let largest = largest_allocation_while(|| {
        for f in &frames {
            let _ = decode_exact::<GetChildrenResponse>(f);
            let _ = decode_exact::<GetChildren2Response>(f);
            let _ = decode_exact::<CreateRequest>(f);
            let _ = decode_exact::<SetWatches2>(f);
            let _ = RequestPacket::decode_frame(f);
            for op in OpCode::ALL {
                let _ = Reply::decode_frame(f, op.code());
            }
        }
    });
    assert!(
        largest < 4096,
        "a {}-byte allocation from frames of at most 100 bytes",
        largest
    );
}
