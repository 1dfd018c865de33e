//! Unit tests of the image slab: CLOCK's order, slots that cannot be
//! evicted, overwrites in place, the owed set, and the index against a
//! model after random operations.

use super::*;
use alloc::collections::BTreeMap;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    owed: bool,
    pinned: bool,
}

impl SlotState for State {
    fn owed(&self) -> bool {
        self.owed
    }
    fn evictable(&self) -> bool {
        !self.pinned
    }
}

const CLEAN: State = State {
    owed: false,
    pinned: false,
};
const PINNED: State = State {
    owed: true,
    pinned: true,
};

fn image(fill: u8) -> [u8; BLOCK_SIZE] {
    [fill; BLOCK_SIZE]
}

/// A slab holding blocks `blocks` in slot order, each image filled with
/// its block number.
fn slab_of(blocks: &[u64], state: State) -> ImageSlab<State> {
    let mut slab = ImageSlab::new(blocks.len());
    for &b in blocks {
        assert!(slab.push(b, &image(b as u8), state));
    }
    slab
}

/// The invariants of the module doc.
fn check_invariants(slab: &ImageSlab<State>) {
    assert_eq!(slab.index.len(), slab.slots.len(), "one index entry a slot");
    for (&b, &i) in &slab.index {
        assert_eq!(slab.slots[i].block, b, "index entry {b} -> slot {i}");
    }
    assert!(slab.len() <= slab.capacity());
    assert!(
        slab.hand < slab.len() || slab.hand == 0,
        "hand inside the slots"
    );
    let owed: BTreeSet<u64> = slab
        .slots
        .iter()
        .filter(|s| s.state.owed)
        .map(|s| s.block)
        .collect();
    assert_eq!(slab.owed, owed, "owed set follows the states");
}

#[test]
fn clock_gives_a_used_slot_a_second_chance() {
    let mut slab = slab_of(&[10, 11, 12], CLEAN);
    assert!(slab.hit(10).is_some());
    // The hand passes 10 (clearing its bit) and stops at 11.
    assert_eq!(slab.victim(), Some(11));
    assert!(slab.replace(11, 20, &image(20), CLEAN));
    assert_eq!(slab.victim(), Some(12));
    // 10 used its second chance; 20 was never used since it came.
    assert_eq!(slab.victim(), Some(10));
    assert_eq!(slab.victim(), Some(20));
    check_invariants(&slab);
}

#[test]
fn an_overwrite_counts_as_a_use() {
    let mut slab = slab_of(&[1, 2], CLEAN);
    assert!(slab.overwrite(1, &image(9), |_| {}));
    assert_eq!(slab.victim(), Some(2));
}

#[test]
fn slots_that_cannot_be_evicted_are_never_victims() {
    let mut slab = ImageSlab::new(4);
    for (b, state) in [(1, PINNED), (2, CLEAN), (3, PINNED), (4, PINNED)] {
        assert!(slab.push(b, &image(b as u8), state));
    }
    for _ in 0..8 {
        assert_eq!(slab.victim(), Some(2));
        slab.hit(2);
    }
    assert!(slab.update(2, |_, s| *s = PINNED).is_some());
    let hand = slab.hand;
    assert_eq!(slab.victim(), None, "every slot pinned");
    assert_eq!(slab.hand, hand, "two whole turns end where they started");
    // Unpinned, a slot is a victim again.
    assert!(slab.update(3, |_, s| *s = CLEAN).is_some());
    assert_eq!(slab.victim(), Some(3));
    check_invariants(&slab);
}

#[test]
fn an_overwrite_stays_in_its_slot() {
    let mut slab = slab_of(&[5, 6, 7], CLEAN);
    let at = slab.index[&6];
    assert!(slab.overwrite(6, &image(0xEE), |s| s.owed = true));
    assert_eq!(slab.index[&6], at);
    assert_eq!(slab.len(), 3);
    assert_eq!(slab.image(6), Some(&image(0xEE)));
    assert_eq!(
        slab.state(6),
        Some(&State {
            owed: true,
            pinned: false
        })
    );
    assert!(!slab.overwrite(8, &image(1), |_| {}), "8 is not held");
    assert!(!slab.contains(8));
    check_invariants(&slab);
}

#[test]
fn owed_blocks_come_in_block_order() {
    let mut slab = ImageSlab::new(5);
    for b in [9, 3, 7, 1, 5] {
        let owed = b != 7;
        assert!(slab.push(
            b,
            &image(0),
            State {
                owed,
                pinned: false
            }
        ));
    }
    let owed: Vec<u64> = slab.owed_blocks().collect();
    assert_eq!(owed, [1, 3, 5, 9]);
    slab.update_all(|s| s.owed = false);
    assert_eq!(slab.owed_len(), 0);
    check_invariants(&slab);
}

#[test]
fn a_zero_capacity_slab_keeps_nothing() {
    let mut slab: ImageSlab<State> = ImageSlab::new(0);
    assert!(slab.is_full());
    assert!(!slab.push(1, &image(1), CLEAN));
    assert_eq!(slab.victim(), None);
    assert!(slab.is_empty());
}

#[test]
fn drops_keep_the_slab_dense() {
    let mut slab = slab_of(&[1, 2, 3, 4, 5, 6], CLEAN);
    assert!(slab.update(4, |_, s| s.owed = true).is_some());
    assert_eq!(slab.remove_range(2..5), 3);
    assert!(!slab.remove(3), "already gone");
    assert_eq!(slab.retain(|s| !s.owed), 0);
    assert_eq!(slab.len(), 3);
    for b in [1, 5, 6] {
        assert_eq!(slab.image(b), Some(&image(b as u8)), "block {b}");
    }
    check_invariants(&slab);
    assert_eq!(slab.clear(), 3);
    check_invariants(&slab);
}

/// One random operation: (kind, block, fill, owed, pinned).
type Op = (u8, u64, u8, bool, bool);

/// Applies `op` to the slab and to the model (block -> (fill, state)).
fn apply(slab: &mut ImageSlab<State>, model: &mut BTreeMap<u64, (u8, State)>, op: Op) {
    let (kind, block, fill, owed, pinned) = op;
    let state = State { owed, pinned };
    match kind {
        0 => {
            let room = model.len() < slab.capacity() && !model.contains_key(&block);
            assert_eq!(slab.push(block, &image(fill), state), room);
            if room {
                model.insert(block, (fill, state));
            }
        }
        1 => {
            let held = model.contains_key(&block);
            assert_eq!(slab.overwrite(block, &image(fill), |s| *s = state), held);
            if held {
                model.insert(block, (fill, state));
            }
        }
        2 => match slab.victim() {
            Some(v) => {
                assert!(model[&v].1.evictable(), "victim {v} is evictable");
                if slab.replace(v, block, &image(fill), state) {
                    model.remove(&v);
                    model.insert(block, (fill, state));
                } else {
                    assert!(model.contains_key(&block));
                }
            }
            None => assert!(model.values().all(|(_, s)| s.pinned)),
        },
        3 => {
            let held = model.get(&block).map(|&(f, _)| image(f));
            assert_eq!(slab.hit(block), held.as_ref());
        }
        4 => assert_eq!(slab.remove(block), model.remove(&block).is_some()),
        5 => {
            let end = block + u64::from(fill % 4);
            let gone: Vec<u64> = model.range(block..end).map(|(&b, _)| b).collect();
            for b in &gone {
                model.remove(b);
            }
            assert_eq!(slab.remove_range(block..end), gone.len());
        }
        6 => {
            let before = model.len();
            model.retain(|_, (_, s)| s.owed != owed);
            assert_eq!(slab.retain(|s| s.owed != owed), before - model.len());
        }
        7 => {
            let r = slab.update(block, |img, s| {
                img.fill(fill);
                *s = state;
            });
            assert_eq!(r.is_some(), model.contains_key(&block));
            if let Some(m) = model.get_mut(&block) {
                *m = (fill, state);
            }
        }
        8 => {
            slab.update_all(|s| s.owed = owed);
            model.values_mut().for_each(|(_, s)| s.owed = owed);
        }
        _ => {
            assert_eq!(slab.clear(), model.len());
            model.clear();
        }
    }
}

proptest! {
    #[test]
    fn the_slab_matches_a_model_after_random_operations(
        capacity in 0usize..6,
        ops in proptest::collection::vec(
            (0u8..10, 0u64..10, any::<u8>(), any::<bool>(), any::<bool>()),
            1..200,
        ),
    ) {
        let mut slab = ImageSlab::new(capacity);
        let mut model = BTreeMap::new();
        for op in ops {
            apply(&mut slab, &mut model, op);
            check_invariants(&slab);
            prop_assert_eq!(slab.len(), model.len());
            for (&b, &(fill, state)) in &model {
                prop_assert_eq!(slab.image(b), Some(&image(fill)));
                prop_assert_eq!(slab.state(b), Some(&state));
            }
            let owed: Vec<u64> = model.iter().filter(|(_, (_, s))| s.owed).map(|(&b, _)| b).collect();
            prop_assert_eq!(slab.owed_blocks().collect::<Vec<_>>(), owed);
        }
    }
}
