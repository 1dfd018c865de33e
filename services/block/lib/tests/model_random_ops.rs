//! Random sequences of API calls against a reference model (proptest):
//! read-your-writes inside a transaction, abort restores everything,
//! commits in both modes, allocation never hands out a used block, and a
//! remount after `sync` shows exactly the committed model.

use std::collections::{BTreeMap, BTreeSet};

use block::{
    BlockStore, Config, Durability, Error, Extent, FormatOptions, MemDevice, Transactional,
    BLOCK_SIZE,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Begin,
    Allocate(u64),
    Write(usize, u8),
    WriteFresh(usize, u8),
    Free(usize),
    Read(usize),
    Commit(bool),
    Abort,
    SyncAndRemount,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Begin),
        3 => (1u64..5).prop_map(Op::Allocate),
        4 => (any::<usize>(), 1u8..255).prop_map(|(p, v)| Op::Write(p, v)),
        2 => (any::<usize>(), 1u8..255).prop_map(|(p, v)| Op::WriteFresh(p, v)),
        2 => any::<usize>().prop_map(Op::Free),
        3 => any::<usize>().prop_map(Op::Read),
        3 => any::<bool>().prop_map(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::SyncAndRemount),
    ]
}

#[derive(Clone, Default)]
struct View {
    allocated: BTreeSet<u64>,
    content: BTreeMap<u64, u8>,
}

fn config() -> Config {
    Config {
        cache_blocks: 16,
        journal_blocks: 32,
        group_commit_blocks: 8,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..80), data_checksums in any::<bool>()) {
        let mut s = BlockStore::format_with(MemDevice::new(160), config(), FormatOptions { data_checksums }).unwrap();
        let roots: Vec<u64> = (0..4).map(|i| s.root_block(i)).collect();
        let mut committed = View::default();
        for r in &roots { committed.content.insert(*r, 0); }
        let mut open: Option<(View, BTreeSet<u64>)> = None; // view, blocks allocated in this txn
        let mut buf = vec![0u8; BLOCK_SIZE];
        for op in ops {
            match op {
                Op::Begin => {
                    let r = s.begin();
                    if open.is_some() { prop_assert_eq!(r, Err(Error::TransactionOpen)); }
                    else { r.unwrap(); open = Some((committed.clone(), BTreeSet::new())); }
                }
                Op::Allocate(n) => match (&mut open, s.allocate(n)) {
                    (None, r) => prop_assert_eq!(r, Err(Error::NoTransaction)),
                    (Some((v, fresh)), Ok(e)) => {
                        prop_assert_eq!(e.len, n);
                        for b in e.start..e.end() {
                            prop_assert!(!v.allocated.contains(&b) && !roots.contains(&b), "block {} handed out twice", b);
                            v.allocated.insert(b);
                            v.content.remove(&b);
                            fresh.insert(b);
                        }
                    }
                    (Some(_), Err(e)) => prop_assert_eq!(e, Error::NoSpace),
                },
                Op::Write(pick, val) => {
                    let Some((v, _)) = &mut open else {
                        prop_assert_eq!(s.write(roots[0], &vec![val; BLOCK_SIZE]), Err(Error::NoTransaction));
                        continue;
                    };
                    let targets: Vec<u64> = roots.iter().copied().chain(v.allocated.iter().copied()).collect();
                    let b = targets[pick % targets.len()];
                    s.write(b, &vec![val; BLOCK_SIZE]).unwrap();
                    v.content.insert(b, val);
                }
                Op::WriteFresh(pick, val) => {
                    let Some((v, fresh)) = &mut open else { continue };
                    let live: Vec<u64> = fresh.iter().copied().filter(|b| v.allocated.contains(b)).collect();
                    if live.is_empty() {
                        let b = roots[0];
                        prop_assert_eq!(s.write_fresh(b, &vec![val; BLOCK_SIZE]), Err(Error::NotFresh { block: b }));
                        continue;
                    }
                    let b = live[pick % live.len()];
                    s.write_fresh(b, &vec![val; BLOCK_SIZE]).unwrap();
                    v.content.insert(b, val);
                }
                Op::Free(pick) => {
                    let Some((v, fresh)) = &mut open else { continue };
                    let old: Vec<u64> = v.allocated.iter().copied().filter(|b| !fresh.contains(b)).collect();
                    if old.is_empty() { continue; }
                    let b = old[pick % old.len()];
                    s.free(Extent::new(b, 1)).unwrap();
                    v.allocated.remove(&b);
                    v.content.remove(&b);
                    prop_assert_eq!(s.free(Extent::new(b, 1)), Err(Error::NotAllocated { block: b }));
                }
                Op::Read(pick) => {
                    let v = open.as_ref().map(|(v, _)| v).unwrap_or(&committed);
                    let known: Vec<(u64, u8)> = v.content.iter().map(|(b, x)| (*b, *x)).collect();
                    let (b, val) = known[pick % known.len()];
                    s.read(b, &mut buf).unwrap();
                    prop_assert!(buf.iter().all(|&x| x == val), "block {} expected {}", b, val);
                }
                Op::Commit(durable) => {
                    let r = s.commit(if durable { Durability::Durable } else { Durability::Batched });
                    match open.take() {
                        None => prop_assert_eq!(r, Err(Error::NoTransaction)),
                        Some((v, _)) => { r.unwrap(); committed = v; }
                    }
                }
                Op::Abort => { s.abort(); open = None; }
                Op::SyncAndRemount => {
                    s.abort();
                    open = None;
                    s.sync().unwrap();
                    s = BlockStore::mount(s.into_device(), config()).unwrap();
                }
            }
            let v = open.as_ref().map(|(v, _)| v).unwrap_or(&committed);
            for b in s.geometry().data_start..s.block_count() {
                prop_assert_eq!(s.is_allocated(b).unwrap(), v.allocated.contains(&b), "block {}", b);
            }
        }
        s.abort();
        let mut f = s.fsck().unwrap();
        for b in &committed.allocated { f.mark_used(Extent::new(*b, 1), "model"); }
        let report = f.finish();
        prop_assert!(report.is_clean(), "{}", report);
    }
}
