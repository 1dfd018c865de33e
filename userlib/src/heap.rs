//! The user heap: a `talc` allocator that starts empty and grows by
//! `MEM_ALLOC`.
//!
//! Why `talc`: allocation and free take constant time (segregated free lists
//! indexed by a bitmap, boundary tags to merge neighbours), and `realloc`
//! grows in place when the next chunk is free. The first-fit hole list of
//! `linked_list_allocator` used before was walked on every allocation and free;
//! the profiler put it at 10-12 % of the small puts' CPU work, more as the list
//! fragmented under four clients (docs/speed.md, issue #13).
//!
//! Growth is talc's out-of-memory handler: when no free chunk fits, it asks
//! the kernel for at least `GROW_STEP` bytes. The kernel hands out `MEM_ALLOC`
//! memory contiguously, so each new piece normally extends the heap's top
//! (`Talc::extend`, merging with a free top chunk); a piece that does not (some
//! other code called `MEM_ALLOC`) becomes a heap of its own (`Talc::claim`).
//! When the kernel refuses (the process's `mem=` budget), allocation returns
//! null: out of memory is an error for the caller, never a panic here.

use core::alloc::Layout;
use talc::{OomHandler, Span, Talc, Talck};

/// Smallest growth step.
const GROW_STEP: u64 = 256 * 1024;

/// Room beyond the request for talc's tags and alignment slack.
const GROW_SLACK: u64 = 4096;

/// Talc's out-of-memory handler: grows the heap through `MEM_ALLOC`.
struct GrowByMemAlloc {
    /// The heap the last piece went into, to extend; empty before the first.
    top: Span,
}

impl OomHandler for GrowByMemAlloc {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let need = (layout.size() as u64)
            .checked_add(layout.align() as u64)
            .and_then(|n| n.checked_add(GROW_SLACK))
            .ok_or(())?;
        // Near the `mem=` budget a full step may be refused where the bare
        // need still fits.
        let (base, size) = crate::sys::mem_alloc(need.max(GROW_STEP))
            .or_else(|_| crate::sys::mem_alloc(need))
            .map_err(|_| ())?;
        let base = base as *mut u8;
        let acme = base.wrapping_add(size as usize);
        let top = talc.oom_handler.top;
        talc.oom_handler.top = match top.get_base_acme() {
            // Safety: [base, acme) was just mapped for this process, is unused
            // and starts exactly at the top of `top`, a span talc returned.
            Some((top_base, top_acme)) if top_acme == base => unsafe {
                talc.extend(top, Span::new(top_base, acme))
            },
            // Safety: [base, acme) was just mapped for this process, is unused
            // and overlaps no heap (the kernel never maps a range twice).
            _ => unsafe { talc.claim(Span::new(base, acme))? },
        };
        Ok(())
    }
}

#[global_allocator]
static HEAP: Talck<spin::Mutex<()>, GrowByMemAlloc> =
    Talc::new(GrowByMemAlloc { top: Span::empty() }).lock();
