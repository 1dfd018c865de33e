//! Scenario: `truncate /f 1125899906842624` (1 PiB) on a small disk. Before
//! holes this hashed and wrote a petabyte of zeros (hours, then a journal
//! overflow); now it must store one hole record and return at once. Reads
//! of the hole give zeros, writes into the middle of it and past its end
//! store only their own bytes, shrinking cuts it, and fsck, GC, snapshots
//! and a remount all agree.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::{fresh_fs, noise};
use filesystem::fsck_blocks;

const PIB: u64 = 1 << 50;

#[test]
fn truncate_to_a_pebibyte_stores_a_hole() {
    let mut fs = fresh_fs(8192);
    let head = noise(1, 100_000);
    fs.write_file("/f", &head).unwrap();
    let ino = fs.stat("/f").unwrap().ino;
    let free_before = fs.stats().unwrap().free_bytes;

    fs.truncate("/f", PIB).unwrap();
    assert_eq!(fs.stat("/f").unwrap().size, PIB);
    let used = free_before - fs.stats().unwrap().free_bytes;
    assert!(
        used < 64 * 4096,
        "growing to 1 PiB used {used} bytes of the disk"
    );

    // The old bytes, then zeros across the old end of file.
    let mut buf = vec![0xAAu8; 200_000];
    assert_eq!(fs.read_at(ino, 0, &mut buf).unwrap(), buf.len());
    assert_eq!(&buf[..head.len()], &head[..]);
    assert!(buf[head.len()..].iter().all(|&b| b == 0));
    // Zeros deep inside and at the very end.
    let mut tail = vec![0xAAu8; 4096];
    assert_eq!(fs.read_at(ino, PIB - 4096, &mut tail).unwrap(), 4096);
    assert!(tail.iter().all(|&b| b == 0));

    // A write in the middle of the hole splits it; a write past the end
    // makes a new hole, not zeros.
    let mid = noise(2, 70_000);
    fs.write_at(ino, 1 << 40, &mid).unwrap();
    let end_bytes = noise(3, 5_000);
    fs.write_at(ino, 2 * PIB, &end_bytes).unwrap();
    assert_eq!(fs.stat("/f").unwrap().size, 2 * PIB + 5_000);
    let mut around = vec![0xAAu8; 80_000];
    fs.read_at(ino, (1 << 40) - 5_000, &mut around).unwrap();
    assert!(around[..5_000].iter().all(|&b| b == 0));
    assert_eq!(&around[5_000..75_000], &mid[..]);
    assert!(around[75_000..].iter().all(|&b| b == 0));
    let mut last = vec![0u8; 5_000];
    fs.read_at(ino, 2 * PIB, &mut last).unwrap();
    assert_eq!(last, end_bytes);
    let used = free_before - fs.stats().unwrap().free_bytes;
    assert!(used < 256 * 4096, "two small writes used {used} bytes");

    // fsck tiles holes like chunks; a snapshot keeps the sparse file.
    let report = fsck_blocks(&mut fs, true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    fs.snapshot_create("s").unwrap();

    // Shrinking into a hole keeps the part before the cut.
    fs.truncate("/f", PIB / 2).unwrap();
    let mut z = vec![0xAAu8; 10];
    assert_eq!(fs.read_at(ino, PIB / 2 - 10, &mut z).unwrap(), 10);
    assert!(z.iter().all(|&b| b == 0));
    fs.read_at(ino, 1 << 40, &mut z).unwrap();
    assert_eq!(&z[..], &mid[..10]);

    let gc = fs.gc(false).unwrap();
    assert!(gc.bytes_scanned < 1 << 30, "GC counted holes as data");
    let report = fsck_blocks(&mut fs, true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);

    // After a remount everything reads the same.
    let image = fs.into_device().unmount().unwrap().into_image();
    let store = BlockStore::mount(MemDevice::from_image(image), Config::default()).unwrap();
    let mut fs = filesystem::Fs::open(store, 0).unwrap();
    let mut again = vec![0u8; head.len()];
    fs.read_at(ino, 0, &mut again).unwrap();
    assert_eq!(again, head);
    assert_eq!(fs.stat("/f").unwrap().size, PIB / 2);
    let report = fsck_blocks(&mut fs, true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
