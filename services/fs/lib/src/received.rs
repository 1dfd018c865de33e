//! Checks of what the content store hands back to the filesystem.
//!
//! Inside the system the content store is another process (the content
//! service): its answers cross a trust boundary like a user's input. The
//! filesystem stores the content root it returns in its own root block
//! (where a bad one would make the next mount fail or read garbage), and
//! returns the chunk bytes it reads to clients: both are checked here, on
//! the filesystem's side of the call, before use.

use block::BLOCK_SIZE;
use content::{ChunkRef, ContentRoot};

use crate::error::FsError;

/// Checks a content root before it is written into the root block: it must
/// decode (magic, checksum, reserved bytes, tree root) and be plausible for
/// a device of `block_count` blocks, and its GC epoch must not go back from
/// `previous` (the root as of the last commit, when there is one).
pub fn check_content_root(
    bytes: &[u8],
    previous: Option<&[u8]>,
    block_count: u64,
) -> Result<(), FsError> {
    let bad = |problem: alloc::string::String| FsError::ContentRootRejected { problem };
    let root = ContentRoot::decode(bytes).map_err(|e| bad(alloc::format!("{e}")))?;
    if root.index.block >= block_count {
        return Err(bad(alloc::format!(
            "chunk index root at block {}, the device has {block_count}",
            root.index.block
        )));
    }
    if root.data_blocks > block_count {
        return Err(bad(alloc::format!(
            "{} chunk data blocks on a device of {block_count}",
            root.data_blocks
        )));
    }
    if root.chunk_bytes > root.data_blocks.saturating_mul(BLOCK_SIZE as u64) {
        return Err(bad(alloc::format!(
            "{} chunk bytes in {} data blocks",
            root.chunk_bytes,
            root.data_blocks
        )));
    }
    if root.chunks > root.chunk_bytes {
        return Err(bad(alloc::format!(
            "{} chunks holding {} bytes",
            root.chunks,
            root.chunk_bytes
        )));
    }
    if let Some(prev) = previous.and_then(|p| ContentRoot::decode(p).ok()) {
        if root.epoch < prev.epoch {
            return Err(bad(alloc::format!(
                "GC epoch went back from {} to {}",
                prev.epoch,
                root.epoch
            )));
        }
    }
    Ok(())
}

/// Checks chunk bytes received for `r`: exactly `r.len` bytes whose BLAKE3
/// is `r.hash` (the store says it verified them; a length that matches is
/// not proof).
pub fn check_chunk(r: &ChunkRef, data: &[u8]) -> Result<(), FsError> {
    if data.len() != r.len as usize {
        return Err(FsError::ChunkRejected {
            hash: r.hash,
            problem: alloc::format!("{} bytes received, {} expected", data.len(), r.len),
        });
    }
    // The content store's chunk-id hash (blake3tcg, docs/speed.md).
    let got = blake3tcg::hash(data);
    if got != r.hash {
        return Err(FsError::ChunkRejected {
            hash: r.hash,
            problem: alloc::format!("received bytes hash to {}", content::Hex(&got)),
        });
    }
    Ok(())
}
