//! One `snap diff` page holds one page of changes, not the list: with a
//! counting global allocator, the peak heap of a page of 8 changes out of
//! 1500 with long paths stays far below what the whole diff holds, and
//! paging through all of them peaks no higher than one page.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::fresh_fs;
use filesystem::DiffCursor;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// Safety: every method forwards to the system allocator with the caller's
// arguments unchanged; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Safety: same contract as ours, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap above the current level while `f` runs.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

#[test]
fn a_page_of_a_long_diff_holds_one_page() {
    let mut fs = fresh_fs(32768);
    fs.snapshot_create("empty").unwrap();
    let long = "n".repeat(200);
    for i in 0..1500 {
        fs.write_file(&format!("/d{}/{long}{i:04}", i % 10), b"x")
            .unwrap();
    }
    // Warm the caches, so both measurements see the same cached nodes.
    let whole = fs.snapshot_diff(Some("empty"), None).unwrap();
    assert_eq!(whole.len(), 1510, "1500 files and 10 directories added");
    drop(whole);

    let (whole, whole_peak) = peak_of(|| fs.snapshot_diff(Some("empty"), None).unwrap());
    assert_eq!(whole.len(), 1510);
    let (page, page_peak) =
        peak_of(|| fs.snapshot_diff_page(Some("empty"), None, None, 8).unwrap());
    assert_eq!(page.changes().count(), 8);
    assert!(page.changes().all(|c| whole.contains(c)));
    let mut after: Option<DiffCursor> = page.next.clone();
    let mut seen = 8usize;
    let (_, paging_peak) = peak_of(|| loop {
        let p = fs
            .snapshot_diff_page(Some("empty"), None, after.as_ref(), 8)
            .unwrap();
        seen += p.changes().count();
        after = p.next;
        if after.is_none() {
            break;
        }
    });
    assert_eq!(seen, whole.len());
    eprintln!(
        "peak heap: whole diff {whole_peak} bytes, one page of 8 {page_peak} bytes, \
         paging through all {paging_peak} bytes"
    );
    // The whole list holds 1510 paths of ~210 bytes (over 300 KiB); a
    // page holds 8 of them and the 8 tree records they come from.
    assert!(
        page_peak * 3 < whole_peak,
        "a page peaked at {page_peak} bytes, the whole diff at {whole_peak}"
    );
    assert!(
        paging_peak * 3 < whole_peak,
        "paging peaked at {paging_peak} bytes, the whole diff at {whole_peak}"
    );
}
