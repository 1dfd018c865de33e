//! `ObjectReader`: streaming, verified reads of an object given its chunk
//! references.

use block::Transactional;

use crate::chunk_ref::ChunkRef;
use crate::error::GetError;
use crate::store::{ChunkBuf, ContentStore};

/// Reads byte ranges of one object (a sequence of [`ChunkRef`]s), bound at
/// construction so the position kept between calls always belongs to it.
///
/// Working set: one chunk buffer. Each chunk is read whole and its BLAKE3
/// verified before any of its bytes are returned; the last verified chunk is
/// kept, so sequential small reads read each chunk once.
pub struct ObjectReader<'a> {
    chunks: &'a [ChunkRef],
    buf: ChunkBuf,
    /// The chunk now in `buf`, verified.
    loaded: Option<ChunkRef>,
    /// Position cache for sequential reads: index of a chunk and the
    /// object offset where it starts.
    hint: (usize, u64),
}

impl<'a> ObjectReader<'a> {
    /// A reader of the object made of `chunks`, in order.
    pub fn new(chunks: &'a [ChunkRef]) -> Self {
        ObjectReader {
            chunks,
            buf: ChunkBuf::new(),
            loaded: None,
            hint: (0, 0),
        }
    }

    /// The object's length in bytes.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }

    /// True for an object without chunks (0 bytes).
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Reads the chunk `chunk` whole (verified) and returns its bytes.
    pub fn chunk<T: Transactional>(
        &mut self,
        store: &ContentStore,
        tx: &mut T,
        chunk: &ChunkRef,
    ) -> Result<&[u8], GetError> {
        self.loaded = None;
        let len = store.read_chunk(tx, chunk, &mut self.buf)?.len();
        self.loaded = Some(*chunk);
        Ok(&self.buf_bytes()[..len])
    }

    fn buf_bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// Copies bytes of the object starting at `offset` into `out`;
    /// returns how many (fewer only at the end of the object, 0 at its end).
    /// An offset past the end is an error.
    pub fn read_at<T: Transactional>(
        &mut self,
        store: &ContentStore,
        tx: &mut T,
        offset: u64,
        out: &mut [u8],
    ) -> Result<usize, GetError> {
        let chunks = self.chunks;
        // Find the chunk holding `offset`, from the hint when it is behind.
        let (mut i, mut start) = if self.hint.1 <= offset {
            self.hint
        } else {
            (0, 0)
        };
        while i < chunks.len() && start + u64::from(chunks[i].len) <= offset {
            start += u64::from(chunks[i].len);
            i += 1;
        }
        if i == chunks.len() {
            return if start == offset {
                Ok(0)
            } else {
                Err(GetError::OffsetPastEnd { offset, len: start })
            };
        }
        let mut done = 0;
        let mut within = (offset - start) as usize;
        while done < out.len() && i < chunks.len() {
            let chunk = chunks[i];
            if self.loaded != Some(chunk) {
                self.chunk(store, tx, &chunk)?;
            }
            let len = chunk.len as usize;
            let n = (len - within).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf_bytes()[within..within + n]);
            done += n;
            within += n;
            if within == len {
                start += u64::from(chunk.len);
                i += 1;
                within = 0;
            }
        }
        self.hint = (i, start);
        Ok(done)
    }
}
