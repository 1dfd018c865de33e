//! The driver's checks of a request before anything reaches the device:
//! ranges against the disk, lease lengths and permissions, batch tables.
//! Pure functions, so every refusal is tested on the host.
//!
//! Everything here is unverified input from a client: checks come before
//! arithmetic, and a refusal carries the values seen (`Refusal`).

use crate::{
    status, write_flags, BatchEntry, BatchOp, BATCH_ENTRY_SIZE, BLOCK_SIZE, MAX_BATCH_ENTRIES,
};
use abi::Lease;
use alloc::vec::Vec;

/// A refused request: the reply's status label and its words
/// `[entry, first, detail]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u64,
    pub entry: u64,
    pub first: u64,
    pub detail: u64,
}

impl Refusal {
    fn new(status: u64, entry: u64, first: u64, detail: u64) -> Refusal {
        Refusal {
            status,
            entry,
            first,
            detail,
        }
    }
}

/// What the checks need to know of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disk {
    pub block_count: u64,
    pub read_only: bool,
}

/// A checked transfer: `blocks` blocks at `first`, data at `offset` of
/// lease `lease` of the caller (which is long enough and has the needed
/// permission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub write: bool,
    pub first: u64,
    pub blocks: u64,
    pub lease: u64,
    pub offset: u64,
    /// Batch entry index (0 for single requests).
    pub entry: u64,
}

/// `blocks` blocks from `first` lie on a disk of `block_count` blocks.
/// Err((status, detail)).
pub fn check_range(first: u64, blocks: u64, block_count: u64) -> Result<(), (u64, u64)> {
    if blocks == 0 {
        return Err((status::BAD_LENGTH, 0));
    }
    match first.checked_add(blocks) {
        Some(end) if end <= block_count => Ok(()),
        _ => Err((status::OUT_OF_RANGE, block_count)),
    }
}

/// The lease permission the driver needs: it writes the caller's buffer for
/// a read and reads it for a write.
fn permission(write: bool) -> u64 {
    if write {
        abi::lease::READ
    } else {
        abi::lease::WRITE
    }
}

/// Checks a transfer whose data lies at `offset` of `lease` (as the server
/// sees it: length and flags, address zeroed).
fn check_one(disk: Disk, t: Transfer, lease: &Lease) -> Result<Transfer, Refusal> {
    check_range(t.first, t.blocks, disk.block_count)
        .map_err(|(code, detail)| Refusal::new(code, t.entry, t.first, detail))?;
    if t.write && disk.read_only {
        return Err(Refusal::new(status::READ_ONLY, t.entry, t.first, 0));
    }
    let len = t.blocks.checked_mul(BLOCK_SIZE as u64);
    let fits = len
        .and_then(|len| t.offset.checked_add(len))
        .is_some_and(|end| end <= lease.len);
    if !fits || lease.flags & permission(t.write) == 0 {
        return Err(Refusal::new(
            status::BAD_LENGTH,
            t.entry,
            t.first,
            lease.len,
        ));
    }
    Ok(t)
}

/// Checks a `Read` (`write` false) or `Write` request with its data in
/// lease 0.
pub fn check_request(
    disk: Disk,
    write: bool,
    first: u64,
    blocks: u64,
    flags: u64,
    lease0: &Lease,
) -> Result<Transfer, Refusal> {
    if flags & !write_flags::ALL != 0 || (!write && flags != 0) {
        return Err(Refusal::new(status::BAD_REQUEST, 0, first, flags));
    }
    let t = Transfer {
        write,
        first,
        blocks,
        lease: 0,
        offset: 0,
        entry: 0,
    };
    check_one(disk, t, lease0)
}

/// Checks a batch: `entries` entries, `table` their bytes as read from
/// lease 0, `data` lease 1. All entries are checked before any runs.
pub fn check_batch(
    disk: Disk,
    entries: u64,
    table: &[u8],
    data: &Lease,
) -> Result<Vec<Transfer>, Refusal> {
    if entries == 0 || entries > MAX_BATCH_ENTRIES as u64 {
        return Err(Refusal::new(status::BAD_LENGTH, 0, 0, entries));
    }
    let want = entries as usize * BATCH_ENTRY_SIZE;
    let Some(table) = table.get(..want) else {
        return Err(Refusal::new(status::BAD_LEASE, 0, 0, table.len() as u64));
    };
    let mut out = Vec::with_capacity(entries as usize);
    for (i, bytes) in table.chunks_exact(BATCH_ENTRY_SIZE).enumerate() {
        let i = i as u64;
        let entry =
            BatchEntry::decode(bytes).map_err(|_| Refusal::new(status::BAD_REQUEST, i, 0, 0))?;
        let t = Transfer {
            write: entry.op == BatchOp::Write,
            first: entry.first,
            blocks: entry.blocks,
            lease: 1,
            offset: entry.offset,
            entry: i,
        };
        out.push(check_one(disk, t, data)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: Disk = Disk {
        block_count: 100,
        read_only: false,
    };

    fn lease(len: u64, flags: u64) -> Lease {
        Lease {
            addr: 0,
            len,
            flags,
        }
    }

    const RW: u64 = abi::lease::READ | abi::lease::WRITE;

    #[test]
    fn requests_inside_the_disk_with_long_enough_leases_pass() {
        let t = check_request(DISK, false, 98, 2, 0, &lease(8192, abi::lease::WRITE)).unwrap();
        assert_eq!((t.first, t.blocks, t.lease, t.offset), (98, 2, 0, 0));
        assert!(check_request(
            DISK,
            true,
            0,
            1,
            write_flags::FUA,
            &lease(4096, abi::lease::READ)
        )
        .is_ok());
    }

    #[test]
    fn out_of_range_names_the_disk_size_and_overflow_is_out_of_range() {
        let r = check_request(DISK, false, 99, 2, 0, &lease(8192, RW)).unwrap_err();
        assert_eq!(r, Refusal::new(status::OUT_OF_RANGE, 0, 99, 100));
        let r = check_request(DISK, false, u64::MAX, 2, 0, &lease(8192, RW)).unwrap_err();
        assert_eq!(r.status, status::OUT_OF_RANGE);
        let r = check_request(DISK, false, 100, 1, 0, &lease(4096, RW)).unwrap_err();
        assert_eq!(r.status, status::OUT_OF_RANGE);
    }

    #[test]
    fn short_leases_wrong_permissions_zero_blocks_and_bad_flags_are_refused() {
        let r = check_request(DISK, false, 0, 2, 0, &lease(4096, RW)).unwrap_err();
        assert_eq!(r, Refusal::new(status::BAD_LENGTH, 0, 0, 4096));
        // A read needs a lease the driver may write, a write one it may read.
        assert!(check_request(DISK, false, 0, 1, 0, &lease(4096, abi::lease::READ)).is_err());
        assert!(check_request(DISK, true, 0, 1, 0, &lease(4096, abi::lease::WRITE)).is_err());
        assert_eq!(
            check_request(DISK, false, 0, 0, 0, &lease(4096, RW))
                .unwrap_err()
                .status,
            status::BAD_LENGTH
        );
        // Block counts whose byte length overflows.
        let huge = u64::MAX / 2;
        let disk = Disk {
            block_count: u64::MAX,
            read_only: false,
        };
        assert_eq!(
            check_request(disk, false, 0, huge, 0, &lease(u64::MAX, RW))
                .unwrap_err()
                .status,
            status::BAD_LENGTH
        );
        assert_eq!(
            check_request(DISK, true, 0, 1, 4, &lease(4096, RW)).unwrap_err(),
            Refusal::new(status::BAD_REQUEST, 0, 0, 4)
        );
        assert!(check_request(DISK, false, 0, 1, write_flags::FUA, &lease(4096, RW)).is_err());
    }

    #[test]
    fn writes_to_a_read_only_disk_are_refused_reads_pass() {
        let ro = Disk {
            block_count: 100,
            read_only: true,
        };
        assert_eq!(
            check_request(ro, true, 5, 1, 0, &lease(4096, RW)).unwrap_err(),
            Refusal::new(status::READ_ONLY, 0, 5, 0)
        );
        assert!(check_request(ro, false, 5, 1, 0, &lease(4096, RW)).is_ok());
    }

    fn table(entries: &[BatchEntry]) -> Vec<u8> {
        entries.iter().flat_map(|e| e.encode()).collect()
    }

    #[test]
    fn batches_are_checked_whole_and_name_the_bad_entry() {
        let ok = BatchEntry {
            op: BatchOp::Write,
            first: 10,
            blocks: 2,
            offset: 0,
        };
        let read = BatchEntry {
            op: BatchOp::Read,
            first: 50,
            blocks: 1,
            offset: 8192,
        };
        let data = lease(3 * 4096, RW);
        let t = check_batch(DISK, 2, &table(&[ok, read]), &data).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].write, t[1].lease, t[1].offset, t[1].entry),
            (false, 1, 8192, 1)
        );

        // Entry 1's data reaches past lease 1.
        let past = BatchEntry {
            offset: 8193,
            ..read
        };
        assert_eq!(
            check_batch(DISK, 2, &table(&[ok, past]), &data).unwrap_err(),
            Refusal::new(status::BAD_LENGTH, 1, 50, 3 * 4096)
        );
        // Entry 1 is past the disk end; an offset that overflows.
        let far = BatchEntry { first: 100, ..read };
        assert_eq!(
            check_batch(DISK, 2, &table(&[ok, far]), &data).unwrap_err(),
            Refusal::new(status::OUT_OF_RANGE, 1, 100, 100)
        );
        let wrap = BatchEntry {
            offset: u64::MAX - 10,
            ..read
        };
        assert_eq!(
            check_batch(DISK, 1, &table(&[wrap]), &data)
                .unwrap_err()
                .status,
            status::BAD_LENGTH
        );
        // A corrupt entry, too many entries, a table shorter than announced.
        let mut bytes = table(&[ok, read]);
        bytes[32] = 7;
        assert_eq!(
            check_batch(DISK, 2, &bytes, &data).unwrap_err(),
            Refusal::new(status::BAD_REQUEST, 1, 0, 0)
        );
        assert_eq!(
            check_batch(DISK, 65, &[], &data).unwrap_err().status,
            status::BAD_LENGTH
        );
        assert_eq!(
            check_batch(DISK, 0, &[], &data).unwrap_err().status,
            status::BAD_LENGTH
        );
        assert_eq!(
            check_batch(DISK, 2, &table(&[ok]), &data).unwrap_err(),
            Refusal::new(status::BAD_LEASE, 0, 0, 32)
        );
    }

    #[test]
    fn random_tables_never_panic() {
        let mut x = 0x1234_5678_9ABC_DEF1u64;
        let mut bytes = [0u8; MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE];
        for _ in 0..2000 {
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = if x.is_multiple_of(3) { x as u8 } else { 0 };
            }
            let entries = x % 70;
            let _ = check_batch(
                DISK,
                entries,
                &bytes[..(x as usize >> 8) % bytes.len()],
                &lease(x >> 40, x & 3),
            );
        }
    }
}
