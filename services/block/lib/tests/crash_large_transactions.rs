//! Transactions larger than one descriptor (more than 508 images, several
//! descriptor blocks, wrapping the journal) are all or nothing at every
//! crash point too.

use block::crash::{CutMode, RecordingDevice, SplitMix};
use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

const IMAGES: u64 = 700;

fn config() -> Config {
    Config {
        cache_blocks: 256,
        journal_blocks: 1100,
        group_commit_blocks: 2048,
    }
}

/// Which transaction's value every block of the area holds, if they agree.
fn uniform_value(s: &mut BlockStore<MemDevice>, start: u64) -> Result<u8, String> {
    let mut buf = vec![0u8; IMAGES as usize * BLOCK_SIZE];
    s.read(start, &mut buf).map_err(|e| e.to_string())?;
    let v = buf[0];
    match buf.iter().position(|&b| b != v) {
        None => Ok(v),
        Some(at) => Err(format!(
            "block {} holds {} but block {start} holds {v}",
            start + (at / BLOCK_SIZE) as u64,
            buf[at]
        )),
    }
}

#[test]
fn multi_descriptor_transactions_are_atomic() {
    let base = BlockStore::format(MemDevice::new(2200), config()).unwrap();
    let mut s = base;
    s.begin().unwrap();
    let area = s.allocate(IMAGES).unwrap();
    s.write_fresh(area.start, &vec![0u8; IMAGES as usize * BLOCK_SIZE])
        .unwrap();
    s.commit(Durability::Durable).unwrap();
    let base = s.unmount().unwrap().into_image();

    let mut s = BlockStore::mount(RecordingDevice::new(base), config()).unwrap();
    // (value, durable, start op, end op)
    let mut commits = Vec::new();
    for (v, mode) in [
        (1u8, Durability::Durable),
        (2, Durability::Batched),
        (3, Durability::Durable),
        (4, Durability::Batched),
    ] {
        s.begin().unwrap();
        s.write(area.start, &vec![v; IMAGES as usize * BLOCK_SIZE])
            .unwrap();
        let start = s.device().ops().len();
        s.commit(mode).unwrap();
        commits.push((
            v,
            mode == Durability::Durable,
            start,
            s.device().ops().len(),
        ));
    }
    let start = s.device().ops().len();
    s.sync().unwrap();
    commits.push((4, true, start, s.device().ops().len()));
    let dev = s.into_device();

    let n = dev.ops().len();
    let mut rng = SplitMix(5);
    let mut cuts: Vec<usize> = dev.flush_points();
    cuts.extend((0..40).map(|_| rng.below(n as u64 + 1) as usize));
    let mut checked = 0;
    for cut in cuts {
        let min = commits
            .iter()
            .filter(|c| c.1 && c.3 <= cut)
            .map(|c| c.0)
            .max()
            .unwrap_or(0);
        let max = commits
            .iter()
            .filter(|c| c.2 < cut)
            .map(|c| c.0)
            .max()
            .unwrap_or(0)
            .max(min);
        for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
            let rseed = rng.next_u64();
            let image = dev.crash_image(cut, mode, &mut SplitMix(rseed));
            let mut m = BlockStore::mount(MemDevice::from_image(image), config()).unwrap();
            let v = uniform_value(&mut m, area.start)
                .unwrap_or_else(|e| panic!("cut {cut} {mode:?} {rseed}: {e}"));
            assert!(
                (min..=max).contains(&v),
                "cut {cut} {mode:?} {rseed}: value {v} outside {min}..={max}"
            );
            assert!(m.check().unwrap().is_clean());
            checked += 1;
        }
    }
    println!("large-transaction crash states checked: {checked}");
}
