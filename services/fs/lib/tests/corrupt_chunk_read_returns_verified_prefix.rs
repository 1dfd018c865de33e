//! Scenario: one chunk in the middle of a file (and of a blob) is damaged
//! on the disk. A sequential reader must get exactly the bytes before that
//! chunk, all verified, and then an error that names the chunk's offset;
//! never a byte of the damaged chunk, never anything after it in the same
//! stream. A read that starts past the damage still works.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::{noise, sha256};
use filesystem::{Fs, FsError, Registry, RegistryError};

const SIZE: usize = 400_000;
/// File offset whose chunk is damaged.
const DAMAGE_AT: usize = 200_000;
/// The shell's read size (a whole number of base64 lines).
const READ: usize = 57 * 1024;

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 256,
        group_commit_blocks: 32,
    }
}

/// An image holding `data` as a file and as a blob, with the stored bytes
/// around `data[DAMAGE_AT..]` flipped (chunks are stored as they are).
fn damaged_image(data: &[u8]) -> Vec<u8> {
    let store = BlockStore::format(MemDevice::new(2048), config()).unwrap();
    let mut reg = Registry::new(Fs::open(store, 0).unwrap());
    reg.fs().write_file("/f", data).unwrap();
    reg.put_blob(&sha256(data), &mut &data[..]).unwrap();
    let mut image = reg.into_fs().into_device().unmount().unwrap().into_image();
    // File and blob share the chunk (dedup): one damaged copy on the disk.
    let needle = &data[DAMAGE_AT..DAMAGE_AT + 64];
    let at = image
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("chunk bytes are on the disk");
    image[at + 10] ^= 0x40;
    assert!(
        image[at + 64..].windows(64).all(|w| w != needle),
        "stored twice"
    );
    image
}

fn mount(image: Vec<u8>) -> Registry<BlockStore<MemDevice>> {
    let store = BlockStore::mount(MemDevice::from_image(image), config()).unwrap();
    Registry::new(Fs::open(store, 0).unwrap())
}

#[test]
fn file_reads_stop_at_the_damaged_chunk_and_name_it() {
    let data = noise(7, SIZE);
    let mut reg = mount(damaged_image(&data));
    let fs = reg.fs();
    let ino = fs.stat("/f").unwrap().ino;
    let mut got = Vec::new();
    let mut buf = vec![0u8; READ];
    let err = loop {
        match fs.read_at(ino, got.len() as u64, &mut buf) {
            Ok(0) => panic!("read the whole file over a damaged chunk"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    // Everything returned is the file's own bytes.
    assert_eq!(got, data[..got.len()]);
    let FsError::ChunkUnreadable {
        offset,
        len,
        ino: bad_ino,
        ..
    } = &err
    else {
        panic!("not a chunk error: {err}");
    };
    // The verified prefix ends exactly where the damaged chunk starts, and
    // that chunk holds the damaged offset.
    assert_eq!(*offset, got.len() as u64);
    assert_eq!(*bad_ino, ino);
    assert!(*offset <= DAMAGE_AT as u64 && (DAMAGE_AT as u64) < offset + u64::from(*len));
    let text = err.to_string();
    assert!(
        text.contains(&format!("chunk at offset {offset}")) && text.contains("is corrupt"),
        "{text}"
    );
    // Past the damaged chunk the file reads (and verifies) again.
    let after = offset + u64::from(*len);
    let n = fs.read_at(ino, after, &mut buf).unwrap();
    assert!(n > 0);
    assert_eq!(buf[..n], data[after as usize..after as usize + n]);
}

#[test]
fn blob_reads_stop_at_the_damaged_chunk_and_name_it() {
    let data = noise(7, SIZE);
    let d = sha256(&data);
    let mut reg = mount(damaged_image(&data));
    let mut reader = reg.get_blob(&d).unwrap().expect("blob stored");
    let mut got = Vec::new();
    let mut buf = vec![0u8; READ];
    let err = loop {
        match reader.read(&mut buf) {
            Ok(0) => panic!("read the whole blob over a damaged chunk"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, data[..got.len()]);
    match err {
        RegistryError::Fs(FsError::ChunkUnreadable { offset, len, .. }) => {
            assert_eq!(offset, got.len() as u64);
            assert!(offset <= DAMAGE_AT as u64 && (DAMAGE_AT as u64) < offset + u64::from(len));
        }
        e => panic!("not a chunk error: {e}"),
    }
}
