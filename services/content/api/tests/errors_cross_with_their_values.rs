//! Every `ContentError` variant crosses a reply and comes back equal, with
//! its values (hashes whole, nested block and index errors included), and
//! reads as plain words; the store's own errors map onto it.
use abi::iface::{reply_message, reply_result, CallError, ServiceError};
use content::{GetError, IndexEntryDecodeError, PutError};
use content_api::{
    BlockFault, ContentError, FrameError, Hash, IndexProblem, RootProblem, TreeFault,
};

fn every_variant() -> Vec<ContentError> {
    let hash = Hash(core::array::from_fn(|i| i as u8));
    vec![
        ContentError::EmptyChunk {},
        ContentError::ChunkTooLarge { len: 1 << 20 },
        ContentError::IndexEntryCorrupt {
            hash,
            problem: IndexProblem(Some(IndexEntryDecodeError::UnknownFlags { flags: 9 })),
        },
        ContentError::NotFound { hash },
        ContentError::LengthMismatch {
            hash,
            indexed: 10,
            referenced: 11,
        },
        ContentError::ChunkCorrupt { hash, block: 77 },
        ContentError::OffsetPastEnd { offset: 5, len: 4 },
        ContentError::IndexKeyCorrupt {
            key_len: 3,
            problem: IndexProblem(None),
        },
        ContentError::MarksWrongSize {
            marks_blocks: 1,
            store_blocks: 2,
        },
        ContentError::EpochOverflow {},
        ContentError::Index {
            fault: TreeFault {
                kind: 2,
                block: 9,
                a: 1,
                b: 3,
            },
        },
        ContentError::block(block::Error::TransactionTooLarge {
            journal_blocks_needed: 900,
            journal_blocks: 512,
        }),
        ContentError::BadFrame {
            problem: FrameError::TooShort { len: 3, need: 100 },
        },
        ContentError::BadRoot {
            problem: RootProblem {
                kind: 3,
                a: 1,
                b: 2,
            },
        },
        ContentError::NoWriter { writer: 3 },
        ContentError::TooManyWriters { max: 8 },
        ContentError::NoCollection {},
        ContentError::WrongBlockCount { asked: 1, has: 2 },
        ContentError::LeaseCopy {
            lease: 1,
            kernel: 2,
        },
        ContentError::NoBlockService {},
    ]
}

#[test]
fn every_variant_round_trips_through_a_reply() {
    let all = every_variant();
    let mut codes: Vec<u64> = all.iter().map(|e| e.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    for e in all {
        let reply = reply_message::<u64, ContentError>(&Err(e.clone()));
        assert_eq!(
            reply_result::<u64, ContentError>(&reply),
            Err(CallError::Service(e.clone())),
            "{e}"
        );
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn errors_read_as_plain_words_with_their_values() {
    let hash = Hash([0xAB; 32]);
    assert_eq!(
        ContentError::ChunkCorrupt { hash, block: 77 }.to_string(),
        format!(
            "chunk {} at block 77 is corrupt: its bytes do not hash to its name (run fsck)",
            "ab".repeat(32)
        )
    );
    let e = ContentError::Block {
        fault: BlockFault(block::Error::NoSpace),
    };
    // The block layer's own sentence, unprefixed: a failing disk reads
    // "the disk failed a write at block 95; ..." on the shell's error line.
    assert_eq!(e.to_string(), format!("{}", block::Error::NoSpace));
}

#[test]
fn the_stores_errors_map_with_their_values() {
    let hash = [7u8; 32];
    assert_eq!(
        ContentError::from(content::Error::from(GetError::ChunkCorrupt {
            hash,
            block: 12,
            computed: [0; 32],
        })),
        ContentError::ChunkCorrupt {
            hash: Hash(hash),
            block: 12
        }
    );
    assert_eq!(
        ContentError::from(PutError::Block(block::Error::NoSpace)),
        ContentError::block(block::Error::NoSpace)
    );
    assert_eq!(
        ContentError::from(GetError::Tree(cowbtree::TreeError::KeyTooLong { len: 300 })),
        ContentError::Index {
            fault: TreeFault {
                kind: 3,
                block: 0,
                a: 300,
                b: 0
            }
        }
    );
}
