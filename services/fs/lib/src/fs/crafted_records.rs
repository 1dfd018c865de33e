//! Records with valid node checksums but lying contents (what a bug or
//! a crafted image could leave): every operation must return an error
//! or a result, never panic or loop.
use alloc::vec::Vec;

use block::{BlockStore, Config, MemDevice};
use testkit::XorShift64;

use super::Fs;
use crate::records::{
    dirent_key, extent_key, inode_key, ChunkRef, DirentValue, Extent, InlineData, Inode, Kind,
    INLINE_MAX,
};

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 256,
        group_commit_blocks: 32,
    }
}

fn crafted(rng: &mut XorShift64) -> (Vec<u8>, Vec<u8>) {
    let ino = 1 + rng.below(12);
    let other = 1 + rng.below(12);
    let key = match rng.below(3) {
        0 => inode_key(ino).to_vec(),
        1 => dirent_key(
            ino,
            ["a", "b", "x", "data"][rng.below(4) as usize].as_bytes(),
        ),
        _ => extent_key(ino, rng.below(300_000)).to_vec(),
    };
    let value = match rng.below(7) {
        0 => {
            let kind = if rng.below(2) == 0 {
                Kind::Dir
            } else {
                Kind::File
            };
            Inode {
                kind,
                mode: 0o644,
                parent: other,
                size: rng.below(400_000),
                mtime: 0,
                ctime: 0,
                name: b"x".to_vec(),
            }
            .encode()
        }
        1 => DirentValue {
            ino: other,
            kind: if rng.below(2) == 0 {
                Kind::Dir
            } else {
                Kind::File
            },
        }
        .encode()
        .to_vec(),
        2 => ChunkRef {
            hash: [rng.below(256) as u8; 32],
            len: rng.below(300_000) as u32,
        }
        .encode()
        .to_vec(),
        // Well-formed inline data, anywhere (not at offset 0, beside other
        // extents, shorter or longer than its file).
        3 => {
            let data: Vec<u8> = (0..1 + rng.below(INLINE_MAX as u64))
                .map(|_| rng.next_u64() as u8)
                .collect();
            Extent::Inline(InlineData::new(&data).unwrap()).encode()
        }
        // Inline data with one byte changed (marker, length, padding).
        4 => {
            let data: Vec<u8> = (0..1 + rng.below(40))
                .map(|_| rng.next_u64() as u8)
                .collect();
            let mut v = Extent::Inline(InlineData::new(&data).unwrap()).encode();
            let at = rng.below(v.len() as u64) as usize;
            v[at] = rng.next_u64() as u8;
            v
        }
        _ => (0..rng.below(60)).map(|_| rng.next_u64() as u8).collect(),
    };
    (key, value)
}

#[test]
fn lying_records_give_errors_not_panics() {
    let store = BlockStore::format(MemDevice::new(2048), config()).unwrap();
    let mut fs = Fs::open(store, 0).unwrap();
    fs.write_file("/a/data", &[7u8; 100_000]).unwrap();
    fs.write_file("/a/b", b"small").unwrap();
    fs.mkdir_all("/x/a").unwrap();
    fs.snapshot_create("s").unwrap();
    let image = fs.into_device().unmount().unwrap().into_image();
    let mut rng = XorShift64(0x1234_5678_9abc_def1);
    for _round in 0..400 {
        let store = BlockStore::mount(MemDevice::from_image(image.clone()), config()).unwrap();
        let mut fs = Fs::open(store, 0).unwrap();
        let n = 1 + rng.below(3);
        fs.atomically(|fs| {
            // Behind `insert_dirent`'s back: the directory cache forgets.
            fs.dirs.clear();
            for _ in 0..n {
                let (k, v) = crafted(&mut rng);
                cowbtree::insert(&mut fs.dev, &mut fs.state.live, &k, &v)?;
            }
            Ok(())
        })
        .unwrap();
        let _ = fs.walk(None);
        let _ = fs.fsck(true);
        let _ = fs.read_file("/a/data", u64::MAX);
        let _ = fs.read_file("/a/b", u64::MAX);
        if let Ok(m) = fs.stat("/a/b") {
            let _ = fs.append(m.ino, b"more");
            let _ = fs.write_at(m.ino, 2, &[9u8; 300]);
        }
        let _ = fs.truncate("/a/b", 3);
        let _ = fs.truncate("/a/b", 70_000);
        let _ = fs.list("/a", None, 100);
        let _ = fs.snapshot_diff(Some("s"), None);
        let _ = fs.snapshot_list();
        let _ = fs.gc(true);
        let _ = fs.rename("/x", "/a/x");
        let _ = fs.write_at(3, 50_000, b"overwrite");
        let _ = fs.truncate("/a/data", 10);
        let _ = fs.remove_all("/a");
        let _ = fs.unlink("/a/b");
        let _ = fs.rmdir("/x/a");
    }
}

/// Records to write (an empty value: remove the key) into file `ino`'s map.
type Craft = fn(u64) -> Vec<(Vec<u8>, Vec<u8>)>;

/// fsck names what is wrong with an inline extent a crafted record breaks:
/// a malformed value, inline data beside other extents, inline data not
/// covering the file's size. Reads refuse, never panic.
#[test]
fn fsck_reports_crafted_bad_inline_extents() {
    let cases: [(&str, Craft); 4] = [
        ("malformed value", |ino| {
            let mut v = Extent::Inline(InlineData::new(b"hello").unwrap()).encode();
            v[0] ^= 0xff;
            vec![(extent_key(ino, 5).to_vec(), v)]
        }),
        ("not its only extent", |ino| {
            vec![(extent_key(ino, 10).to_vec(), Extent::Hole(5).encode())]
        }),
        ("not at offset 0", |ino| {
            vec![
                (extent_key(ino, 5).to_vec(), Vec::new()),
                (extent_key(ino, 10).to_vec(), Extent::Hole(10).encode()),
                (
                    extent_key(ino, 15).to_vec(),
                    Extent::Inline(InlineData::new(b"world").unwrap()).encode(),
                ),
            ]
        }),
        ("shorter than the file", |ino| {
            vec![
                (extent_key(ino, 5).to_vec(), Vec::new()),
                (
                    extent_key(ino, 3).to_vec(),
                    Extent::Inline(InlineData::new(b"hel").unwrap()).encode(),
                ),
            ]
        }),
    ];
    for (what, records) in cases {
        let store = BlockStore::format(MemDevice::new(2048), config()).unwrap();
        let mut fs = Fs::open(store, 0).unwrap();
        fs.write_file("/a/link", b"hello").unwrap();
        assert!(fs.fsck(true).unwrap().is_clean(), "{what}: clean before");
        let ino = fs.stat("/a/link").unwrap().ino;
        fs.atomically(|fs| {
            // Behind `insert_dirent`'s back: the directory cache forgets.
            fs.dirs.clear();
            for (k, v) in records(ino) {
                if v.is_empty() {
                    cowbtree::remove(&mut fs.dev, &mut fs.state.live, &k)?;
                } else {
                    cowbtree::insert(&mut fs.dev, &mut fs.state.live, &k, &v)?;
                }
            }
            Ok(())
        })
        .unwrap();
        let r = fs.fsck(true).unwrap();
        assert!(!r.is_clean(), "{what}: fsck saw nothing");
        let listed = r.problems.join("\n");
        assert!(listed.contains(&format!("inode {ino}")), "{what}: {listed}");
        let _ = fs.read_file("/a/link", 1 << 10);
        let _ = fs.append(ino, b"x");
        let _ = fs.truncate("/a/link", 2);
    }
}
