//! The driver's typed error, [`BlkError`]: what crosses IPC (code in the
//! reply label, values in the words) and how it reads, plus its mappings
//! from the driver's checks (`check::Refusal`) and to the block layer's
//! `DeviceError`.

use crate::check::Refusal;
use crate::{io_code, status, BLOCK_SIZE};
use block::DeviceError;

abi::errors! {
    /// Why the driver refused or failed a request. `entry` is the batch
    /// entry (0 for a single request), `first` its first block.
    #[derive(Copy)]
    pub enum BlkError {
        BadRequest = 1 { entry: u64, first: u64, value: u64 }
            => "request {entry} at block {first} has an invalid field (value {value})",
        OutOfRange = 2 { entry: u64, first: u64, block_count: u64 }
            => "request {entry} at block {first} reaches past the end of the disk ({block_count} blocks)",
        BadLength = 3 { entry: u64, first: u64, detail: u64 }
            => "request {entry} at block {first} has a bad length: zero blocks, a batch of no or more than 64 entries, or a buffer too short (value seen: {detail})",
        IoError = 4 { entry: u64, first: u64 }
            => "the disk failed request {entry} at block {first} (I/O error)",
        ReadOnly = 5 { entry: u64, first: u64 }
            => "the disk is read-only (write at block {first})",
        Unsupported = 6 { entry: u64, first: u64 }
            => "the disk does not support this request",
        NoDevice = 7 { badge: u64 }
            => "no disk {badge} (check the ep=virtio-blk:<n> line of the boot configuration)",
        BadLease = 8 { entry: u64, first: u64, len: u64 }
            => "request {entry} at block {first}: its buffer could not be copied ({len} bytes)",
    }
}

impl BlkError {
    /// The typed error of a refusal of the driver's checks or scheduler.
    pub fn from_refusal(r: Refusal) -> BlkError {
        let (entry, first) = (r.entry, r.first);
        match r.status {
            status::BAD_REQUEST => BlkError::BadRequest {
                entry,
                first,
                value: r.detail,
            },
            status::OUT_OF_RANGE => BlkError::OutOfRange {
                entry,
                first,
                block_count: r.detail,
            },
            status::BAD_LENGTH => BlkError::BadLength {
                entry,
                first,
                detail: r.detail,
            },
            status::READ_ONLY => BlkError::ReadOnly { entry, first },
            status::UNSUPPORTED => BlkError::Unsupported { entry, first },
            status::NO_DEVICE => BlkError::NoDevice { badge: r.detail },
            status::BAD_LEASE => BlkError::BadLease {
                entry,
                first,
                len: r.detail,
            },
            _ => BlkError::IoError { entry, first },
        }
    }

    /// The batch entry the error is about (none for `NoDevice`).
    pub fn entry(self) -> Option<u64> {
        match self {
            BlkError::BadRequest { entry, .. }
            | BlkError::OutOfRange { entry, .. }
            | BlkError::BadLength { entry, .. }
            | BlkError::IoError { entry, .. }
            | BlkError::ReadOnly { entry, .. }
            | BlkError::Unsupported { entry, .. }
            | BlkError::BadLease { entry, .. } => Some(entry),
            BlkError::NoDevice { .. } => None,
        }
    }

    /// The block layer's error for a request of `blocks` blocks.
    pub fn to_device_error(self, blocks: u64) -> DeviceError {
        let io = |first, code| DeviceError::Io { first, code };
        match self {
            BlkError::OutOfRange {
                first, block_count, ..
            } => DeviceError::OutOfRange {
                first,
                blocks,
                block_count,
            },
            BlkError::BadLength { .. } => DeviceError::BadLength {
                len: usize::try_from(blocks)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(BLOCK_SIZE),
            },
            BlkError::IoError { first, .. } => io(first, io_code::DEVICE),
            BlkError::ReadOnly { first, .. } => io(first, io_code::READ_ONLY),
            BlkError::Unsupported { first, .. } => io(first, io_code::UNSUPPORTED),
            BlkError::BadRequest { first, .. } | BlkError::BadLease { first, .. } => {
                io(first, io_code::PROTOCOL)
            }
            BlkError::NoDevice { .. } => io(0, io_code::PROTOCOL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::iface::ServiceError;

    #[test]
    fn codes_are_the_status_codes_the_checks_use() {
        for (code, e) in [
            (
                status::BAD_REQUEST,
                BlkError::from_refusal(refusal(status::BAD_REQUEST)),
            ),
            (
                status::OUT_OF_RANGE,
                BlkError::from_refusal(refusal(status::OUT_OF_RANGE)),
            ),
            (
                status::BAD_LENGTH,
                BlkError::from_refusal(refusal(status::BAD_LENGTH)),
            ),
            (
                status::IO_ERROR,
                BlkError::from_refusal(refusal(status::IO_ERROR)),
            ),
            (
                status::READ_ONLY,
                BlkError::from_refusal(refusal(status::READ_ONLY)),
            ),
            (
                status::UNSUPPORTED,
                BlkError::from_refusal(refusal(status::UNSUPPORTED)),
            ),
            (
                status::NO_DEVICE,
                BlkError::from_refusal(refusal(status::NO_DEVICE)),
            ),
            (
                status::BAD_LEASE,
                BlkError::from_refusal(refusal(status::BAD_LEASE)),
            ),
        ] {
            assert_eq!(e.code(), code, "{e:?}");
        }
    }

    fn refusal(status: u64) -> Refusal {
        Refusal {
            status,
            entry: 3,
            first: 100,
            detail: 64,
        }
    }

    #[test]
    fn refusals_become_device_errors_with_the_values_seen() {
        let e = BlkError::from_refusal(refusal(status::OUT_OF_RANGE));
        assert_eq!(
            e.to_device_error(2),
            DeviceError::OutOfRange {
                first: 100,
                blocks: 2,
                block_count: 64
            }
        );
        assert_eq!(
            e.to_string(),
            "request 3 at block 100 reaches past the end of the disk (64 blocks)"
        );
        assert_eq!(
            BlkError::from_refusal(refusal(status::READ_ONLY)).to_device_error(1),
            DeviceError::Io {
                first: 100,
                code: io_code::READ_ONLY
            }
        );
        assert_eq!(
            BlkError::from_refusal(refusal(999)).to_device_error(1),
            DeviceError::Io {
                first: 100,
                code: io_code::DEVICE
            }
        );
    }
}
