//! The codec of `block::Error`: a code and four words, every value kept
//! (only `&'static str` names become [`REMOTE_NAME`]). It crosses inside
//! [`BlockError::Store`](crate::BlockError) here and inside other services'
//! errors (the content service's `BlockFault`).

use block::{Corruption, DeviceError, Error, FaultOp, WriteFault};

/// Name given to `&'static str` fields that cannot cross the boundary.
pub const REMOTE_NAME: &str = "(named by the block service)";

// Codes (never 0).
const DEV_IO: u64 = 1;
const DEV_RANGE: u64 = 2;
const DEV_LENGTH: u64 = 3;
const DEV_POWERED_OFF: u64 = 4;
const DEV_SERVICE_DIED: u64 = 5;
const CORRUPT_CHECKSUM: u64 = 10;
const CORRUPT_MAGIC: u64 = 11;
const CORRUPT_FIELD: u64 = 12;
const CORRUPT_UPPER: u64 = 13;
const CORRUPT_JOURNAL_GAP: u64 = 14;
const NO_SPACE: u64 = 20;
const OUT_OF_RANGE: u64 = 21;
const BAD_LENGTH: u64 = 22;
const NO_TRANSACTION: u64 = 23;
const TRANSACTION_OPEN: u64 = 24;
const TOO_LARGE: u64 = 25;
const RESERVED: u64 = 26;
const NOT_ALLOCATED: u64 = 27;
const NOT_FRESH: u64 = 28;
const NOT_FORMATTED: u64 = 29;
const UNSUPPORTED_VERSION: u64 = 30;
const TOO_SMALL: u64 = 31;
const BAD_CONFIG: u64 = 32;
// 33 was `Failed` (the store stopped after any device error); retired.
const READ_ONLY: u64 = 34;
const REPLAY_TOO_LARGE: u64 = 35;

/// `error` as a code and up to four words.
pub fn encode_error(error: &Error) -> (u64, [u64; 4]) {
    match error {
        Error::Device(DeviceError::Io { first, code }) => (DEV_IO, [*first, *code as u64, 0, 0]),
        Error::Device(DeviceError::OutOfRange {
            first,
            blocks,
            block_count,
        }) => (DEV_RANGE, [*first, *blocks, *block_count, 0]),
        Error::Device(DeviceError::BadLength { len }) => (DEV_LENGTH, [*len as u64, 0, 0, 0]),
        Error::Device(DeviceError::PoweredOff) => (DEV_POWERED_OFF, [0; 4]),
        Error::Device(DeviceError::ServiceDied) => (DEV_SERVICE_DIED, [0; 4]),
        Error::Corrupt { block, detail } => match detail {
            Corruption::Checksum { stored, computed } => (
                CORRUPT_CHECKSUM,
                [*block, *stored as u64, *computed as u64, 0],
            ),
            Corruption::Magic { expected, found } => {
                (CORRUPT_MAGIC, [*block, *expected as u64, *found as u64, 0])
            }
            Corruption::Field { value, .. } => (CORRUPT_FIELD, [*block, *value, 0, 0]),
            Corruption::Upper { .. } => (CORRUPT_UPPER, [*block, 0, 0, 0]),
            Corruption::JournalGap { seq, later_seq } => {
                (CORRUPT_JOURNAL_GAP, [*block, *seq, *later_seq, 0])
            }
        },
        Error::NoSpace => (NO_SPACE, [0; 4]),
        Error::OutOfRange {
            first,
            blocks,
            block_count,
        } => (OUT_OF_RANGE, [*first, *blocks, *block_count, 0]),
        Error::BadLength { len } => (BAD_LENGTH, [*len as u64, 0, 0, 0]),
        Error::NoTransaction => (NO_TRANSACTION, [0; 4]),
        Error::TransactionOpen => (TRANSACTION_OPEN, [0; 4]),
        Error::TransactionTooLarge {
            journal_blocks_needed,
            journal_blocks,
        } => (TOO_LARGE, [*journal_blocks_needed, *journal_blocks, 0, 0]),
        Error::Reserved { block } => (RESERVED, [*block, 0, 0, 0]),
        Error::NotAllocated { block } => (NOT_ALLOCATED, [*block, 0, 0, 0]),
        Error::NotFresh { block } => (NOT_FRESH, [*block, 0, 0, 0]),
        Error::NotFormatted => (NOT_FORMATTED, [0; 4]),
        Error::UnsupportedVersion { found, supported } => (
            UNSUPPORTED_VERSION,
            [*found as u64, *supported as u64, 0, 0],
        ),
        Error::DeviceTooSmall {
            block_count,
            needed,
        } => (TOO_SMALL, [*block_count, *needed, 0, 0]),
        Error::BadConfig { value, .. } => (BAD_CONFIG, [*value, 0, 0, 0]),
        Error::ReplayTooLarge { blocks, limit } => (REPLAY_TOO_LARGE, [*blocks, *limit, 0, 0]),
        Error::ReadOnly(WriteFault { op, block, code }) => (
            READ_ONLY,
            [
                match op {
                    FaultOp::Write => 0,
                    FaultOp::Flush => 1,
                },
                *block,
                *code as u64,
                0,
            ],
        ),
    }
}

/// The `block::Error` that `label` and `w` stand for. An unknown label
/// becomes `Error::Device(DeviceError::Io { code: -(label) })`: the client
/// cannot tell more, and the store above treats it as a device failure.
pub fn decode_error(label: u64, w: [u64; 4]) -> Error {
    let u32_of = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    match label {
        DEV_IO => Error::Device(DeviceError::Io {
            first: w[0],
            code: w[1] as i32,
        }),
        DEV_RANGE => Error::Device(DeviceError::OutOfRange {
            first: w[0],
            blocks: w[1],
            block_count: w[2],
        }),
        DEV_LENGTH => Error::Device(DeviceError::BadLength {
            len: usize::try_from(w[0]).unwrap_or(usize::MAX),
        }),
        DEV_POWERED_OFF => Error::Device(DeviceError::PoweredOff),
        DEV_SERVICE_DIED => Error::Device(DeviceError::ServiceDied),
        CORRUPT_CHECKSUM => Error::Corrupt {
            block: w[0],
            detail: Corruption::Checksum {
                stored: u32_of(w[1]),
                computed: u32_of(w[2]),
            },
        },
        CORRUPT_MAGIC => Error::Corrupt {
            block: w[0],
            detail: Corruption::Magic {
                expected: u32_of(w[1]),
                found: u32_of(w[2]),
            },
        },
        CORRUPT_FIELD => Error::Corrupt {
            block: w[0],
            detail: Corruption::Field {
                name: REMOTE_NAME,
                value: w[1],
            },
        },
        CORRUPT_UPPER => Error::Corrupt {
            block: w[0],
            detail: Corruption::Upper { what: REMOTE_NAME },
        },
        CORRUPT_JOURNAL_GAP => Error::Corrupt {
            block: w[0],
            detail: Corruption::JournalGap {
                seq: w[1],
                later_seq: w[2],
            },
        },
        NO_SPACE => Error::NoSpace,
        OUT_OF_RANGE => Error::OutOfRange {
            first: w[0],
            blocks: w[1],
            block_count: w[2],
        },
        BAD_LENGTH => Error::BadLength {
            len: usize::try_from(w[0]).unwrap_or(usize::MAX),
        },
        NO_TRANSACTION => Error::NoTransaction,
        TRANSACTION_OPEN => Error::TransactionOpen,
        TOO_LARGE => Error::TransactionTooLarge {
            journal_blocks_needed: w[0],
            journal_blocks: w[1],
        },
        RESERVED => Error::Reserved { block: w[0] },
        NOT_ALLOCATED => Error::NotAllocated { block: w[0] },
        NOT_FRESH => Error::NotFresh { block: w[0] },
        NOT_FORMATTED => Error::NotFormatted,
        UNSUPPORTED_VERSION => Error::UnsupportedVersion {
            found: u32_of(w[0]),
            supported: u32_of(w[1]),
        },
        TOO_SMALL => Error::DeviceTooSmall {
            block_count: w[0],
            needed: w[1],
        },
        BAD_CONFIG => Error::BadConfig {
            name: REMOTE_NAME,
            value: w[0],
        },
        REPLAY_TOO_LARGE => Error::ReplayTooLarge {
            blocks: w[0],
            limit: w[1],
        },
        READ_ONLY => Error::ReadOnly(WriteFault {
            op: if w[0] == 1 {
                FaultOp::Flush
            } else {
                FaultOp::Write
            },
            block: w[1],
            code: w[2] as i32,
        }),
        other => Error::Device(DeviceError::Io {
            first: w[0],
            code: -(i32::try_from(other).unwrap_or(i32::MAX)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<Error> {
        vec![
            Error::Device(DeviceError::Io { first: 7, code: -5 }),
            Error::Device(DeviceError::OutOfRange {
                first: 1,
                blocks: 2,
                block_count: 3,
            }),
            Error::Device(DeviceError::BadLength { len: 100 }),
            Error::Device(DeviceError::PoweredOff),
            Error::Device(DeviceError::ServiceDied),
            Error::Corrupt {
                block: 9,
                detail: Corruption::Checksum {
                    stored: 1,
                    computed: 2,
                },
            },
            Error::Corrupt {
                block: 9,
                detail: Corruption::Magic {
                    expected: 3,
                    found: 4,
                },
            },
            Error::Corrupt {
                block: 9,
                detail: Corruption::Field {
                    name: REMOTE_NAME,
                    value: 77,
                },
            },
            Error::Corrupt {
                block: 9,
                detail: Corruption::Upper { what: REMOTE_NAME },
            },
            Error::Corrupt {
                block: 300,
                detail: Corruption::JournalGap {
                    seq: 12,
                    later_seq: 14,
                },
            },
            Error::NoSpace,
            Error::OutOfRange {
                first: 5,
                blocks: 6,
                block_count: 7,
            },
            Error::BadLength { len: 4095 },
            Error::NoTransaction,
            Error::TransactionOpen,
            Error::TransactionTooLarge {
                journal_blocks_needed: 900,
                journal_blocks: 64,
            },
            Error::Reserved { block: 1 },
            Error::NotAllocated { block: 2 },
            Error::NotFresh { block: 3 },
            Error::NotFormatted,
            Error::UnsupportedVersion {
                found: 2,
                supported: 1,
            },
            Error::DeviceTooSmall {
                block_count: 10,
                needed: 100,
            },
            Error::BadConfig {
                name: REMOTE_NAME,
                value: 0,
            },
            Error::ReplayTooLarge {
                blocks: 2049,
                limit: 2048,
            },
            Error::ReadOnly(WriteFault {
                op: FaultOp::Write,
                block: 95,
                code: 1,
            }),
            Error::ReadOnly(WriteFault {
                op: FaultOp::Flush,
                block: 0,
                code: -5,
            }),
        ]
    }

    #[test]
    fn every_error_round_trips_with_its_values() {
        for e in every_error() {
            let (label, words) = encode_error(&e);
            assert_ne!(label, 0, "{e:?} must not look like success");
            assert_eq!(decode_error(label, words), e);
        }
    }

    #[test]
    fn an_unknown_code_is_a_device_error_naming_it() {
        assert_eq!(
            decode_error(99, [4, 0, 0, 0]),
            Error::Device(DeviceError::Io {
                first: 4,
                code: -99
            })
        );
    }
}
