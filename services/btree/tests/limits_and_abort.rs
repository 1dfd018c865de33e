//! Size limits are errors that change nothing, and an aborted transaction
//! leaves the tree as the root saved before `begin` describes it.

mod common;

use block::{Durability, Transactional};
use cowbtree::{TreeError, MAX_KEY_LEN, MAX_VALUE_LEN};

#[test]
fn oversized_keys_and_values_are_refused() {
    let mut tx = common::new_store(2048);
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    let long_key = vec![b'k'; MAX_KEY_LEN + 1];
    let long_value = vec![0u8; MAX_VALUE_LEN + 1];
    let before = root;
    assert_eq!(
        cowbtree::insert(&mut tx, &mut root, &long_key, b"v"),
        Err(TreeError::KeyTooLong {
            len: MAX_KEY_LEN + 1
        })
    );
    assert_eq!(
        cowbtree::insert(&mut tx, &mut root, b"k", &long_value),
        Err(TreeError::ValueTooLong {
            len: MAX_VALUE_LEN + 1
        })
    );
    assert_eq!(
        cowbtree::get(&mut tx, &root, &long_key),
        Err(TreeError::KeyTooLong {
            len: MAX_KEY_LEN + 1
        })
    );
    assert_eq!(root, before);
    // The limits themselves are accepted, many times over (splits of
    // maximal entries always fit).
    for i in 0..50u8 {
        let mut key = vec![i; MAX_KEY_LEN];
        key[0] = i;
        cowbtree::insert(&mut tx, &mut root, &key, &[i; MAX_VALUE_LEN]).unwrap();
    }
    assert!(cowbtree::check(&mut tx, &root).is_clean());
    assert_eq!(root.entries, 50);
    tx.commit(Durability::Durable).unwrap();
}

#[test]
fn abort_returns_to_the_saved_root() {
    let mut tx = common::new_store(4096);
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    for i in 0..1000u32 {
        cowbtree::insert(&mut tx, &mut root, format!("{i:05}").as_bytes(), &[1; 50]).unwrap();
    }
    tx.commit(Durability::Durable).unwrap();
    let saved = root;
    let before = common::scan(&mut tx, &saved);

    tx.begin().unwrap();
    for i in 0..1000u32 {
        if i % 2 == 0 {
            cowbtree::remove(&mut tx, &mut root, format!("{i:05}").as_bytes()).unwrap();
        } else {
            cowbtree::insert(&mut tx, &mut root, format!("{i:05}x").as_bytes(), &[2; 80]).unwrap();
        }
    }
    tx.abort();
    assert_eq!(common::scan(&mut tx, &saved), before);
    let report = cowbtree::check(&mut tx, &saved);
    assert!(report.is_clean(), "{:?}", report.problems);
    // Nothing the aborted transaction allocated stays allocated.
    let mut nodes = 0u64;
    cowbtree::visit_node_blocks(&mut tx, &saved, |_| nodes += 1).unwrap();
    let data_start = tx.geometry().data_start;
    let allocated = (data_start..tx.block_count())
        .filter(|&b| tx.is_allocated(b).unwrap())
        .count() as u64;
    assert_eq!(allocated, nodes);
}
