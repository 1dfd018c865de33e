//! A stepped chunk GC (`gc_run`) with nothing between its steps collects
//! exactly what the one-call GC collects on the same state: the same
//! report, the same space left, the same trees, and no block left over.

mod common;

use common::{fresh_registry, noise, sha256, Store};
use filesystem::{fsck_blocks, GcSteps, Registry};

/// The same state each call: files over many pages, blobs deleted and
/// overwritten, a snapshot holding some of it, another deleted.
fn garbage_state() -> Registry<Store> {
    let mut reg = fresh_registry(32768);
    for i in 0..400u64 {
        reg.fs()
            .write_file(
                &format!("/d{}/f{i:03}", i % 4),
                &noise(i, 2000 + i as usize * 7),
            )
            .unwrap();
    }
    reg.fs().snapshot_create("kept").unwrap();
    let mut digests = Vec::new();
    for b in 0..5u64 {
        let data = noise(100 + b, 400_000);
        let d = sha256(&data);
        reg.put_blob(&d, &mut &data[..]).unwrap();
        digests.push(d);
    }
    reg.fs().snapshot_create("gone").unwrap();
    for d in &digests[..3] {
        assert!(reg.delete_blob(d).unwrap());
    }
    for i in (0..400u64).step_by(3) {
        reg.fs()
            .write_file(&format!("/d{}/f{i:03}", i % 4), &noise(1000 + i, 1500))
            .unwrap();
    }
    reg.fs().remove_all("/d1").unwrap();
    reg.fs().snapshot_delete("gone").unwrap();
    reg
}

#[test]
fn stepped_gc_with_nothing_between_steps_equals_one_call_gc() {
    let small = GcSteps {
        sweep: 8,
        free: 2,
        reach: 8,
    };
    let mut one = garbage_state();
    let whole = one.fs().gc_with(false, small).unwrap();

    let mut stepped = garbage_state();
    let mut run = stepped.fs().gc_start_with(false, small).unwrap();
    let mut steps = 1usize;
    while !stepped.fs().gc_step(&mut run, 1).unwrap() {
        steps += 1;
    }
    assert!(
        stepped.fs().gc_is_current(&run),
        "the run was not ended by another"
    );
    let report = stepped.fs().gc_finish(run);

    assert_eq!(report, whole);
    assert!(
        whole.sweep.chunks > 0 && whole.blocks_freed > 0,
        "{whole:?}"
    );
    // Marks page by page, a sweep step per 8 entries, a free per 2 runs.
    assert!(steps > 20, "only {steps} steps");
    assert_eq!(stepped.fs().stats().unwrap(), one.fs().stats().unwrap());
    assert_eq!(
        stepped.fs().walk(None).unwrap(),
        one.fs().walk(None).unwrap()
    );
    assert_eq!(
        stepped.fs().walk(Some("kept")).unwrap(),
        one.fs().walk(Some("kept")).unwrap()
    );
    for reg in [&mut one, &mut stepped] {
        let r = fsck_blocks(reg.fs(), true).unwrap();
        assert!(r.is_clean() && r.garbage_blocks == 0, "{r:?}");
    }

    // A dry run, stepped, reports what a one-call dry run does and frees
    // nothing.
    let mut dry_state = garbage_state();
    let before = dry_state.fs().stats().unwrap();
    let mut run = dry_state.fs().gc_start_with(true, small).unwrap();
    while !dry_state.fs().gc_step(&mut run, 3).unwrap() {}
    let dry = dry_state.fs().gc_finish(run);
    let dry_one = garbage_state().fs().gc_with(true, small).unwrap();
    assert_eq!(dry.sweep, dry_one.sweep);
    assert_eq!(dry.blocks_freed, dry_one.blocks_freed);
    assert_eq!(dry.sweep.chunks, whole.sweep.chunks);
    assert_eq!(dry_state.fs().stats().unwrap(), before);
}
