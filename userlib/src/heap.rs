//! The user heap: a `linked_list_allocator` heap that starts empty and grows
//! by `MEM_ALLOC`. The kernel hands out `MEM_ALLOC` memory contiguously, so
//! each new piece extends the heap's top (only this module may call
//! `MEM_ALLOC` for that to hold; a gap makes further growth fail cleanly).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;

/// Smallest growth step.
const GROW_STEP: u64 = 256 * 1024;

struct GrowingHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: GrowingHeap = GrowingHeap(Mutex::new(Heap::empty()));

fn grow(heap: &mut Heap, need: usize) -> bool {
    let want = (need as u64 + 4096).max(GROW_STEP);
    let Ok((base, size)) = crate::sys::mem_alloc(want) else {
        return false;
    };
    if heap.size() == 0 {
        // Safety: [base, base+size) was just mapped for us and is unused.
        unsafe { heap.init(base as *mut u8, size as usize) };
        true
    } else if heap.top() as u64 == base {
        // Safety: the new memory starts exactly at the heap's top.
        unsafe { heap.extend(size as usize) };
        true
    } else {
        false
    }
}

// Safety: allocation is serialized by the mutex; memory comes from the heap.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        loop {
            if let Ok(p) = heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            if !grow(&mut heap, layout.size() + layout.align()) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // Safety: `ptr` came from `alloc` with this layout (GlobalAlloc contract).
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}
