//! [`ContentClient`]: the content service's client, over the `chunk_store`
//! stubs. It keeps the store's root (96 bytes) as its caller's state:
//! cloning the client is how the caller undoes a failed operation. Every
//! call sends the root in the frame (lease 0); mutating ones take the new
//! root from it. Generic over the transport, so it runs on the host.
//!
//! The caller must have delegated its open block transaction to the
//! content service before a mutating call (`block_api` `Delegate`).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use core::cell::RefCell;

use abi::iface::{CallError, Transport};
use content::{ChunkRef, MAX_CHUNK};

use crate::{
    chunk_store as stub, encode_frame, frame_refs, frame_root, ContentError, FrameError,
    SweepStepped, CHECK_TEXT_MAX, EXTENT_LEN, FORWARD_IMAGES, FORWARD_LEASE, FRAME_LEN, MAX_REFS,
    PIECE, ROOT_LEN, VISIT_MAX,
};

/// Takes the block images `store_whole_forward` handed back and their
/// block numbers into the caller's open transaction.
pub type TakeImages<'a> = dyn FnMut(&[u8], &[u8]) -> core::result::Result<(), block::Error> + 'a;

/// What a call returns: the value, or the service's typed error, a
/// refusal, or the kernel's error (the service died).
pub type Result<V> = core::result::Result<V, CallError<ContentError>>;

/// The transport `ContentClient` uses unless told otherwise: the IPC
/// endpoint in the system (the host has none; tests name their fake).
#[cfg(target_os = "none")]
pub type DefaultTransport = userlib::ipc::Endpoint;
#[cfg(not(target_os = "none"))]
pub type DefaultTransport = ();

/// A connection to the content service with the store's root as of the
/// caller's state.
#[derive(Clone, Debug)]
pub struct ContentClient<T = DefaultTransport> {
    stub: stub::Client<T>,
    root: [u8; ROOT_LEN],
    /// `store_whole_forward`'s lease, kept across calls (zeroing 128 KiB
    /// per call would cost about an IPC call's time under TCG). Clones
    /// share it: it holds nothing between calls, so sharing is not state.
    forward: Rc<RefCell<Vec<u8>>>,
}

#[cfg(target_os = "none")]
impl ContentClient<userlib::ipc::Endpoint> {
    /// A client of the service at capability `slot`; the root comes from
    /// `format` or `set_root`.
    pub fn new(slot: u64) -> Self {
        ContentClient::over(userlib::ipc::Endpoint(slot))
    }
}

/// The frame buffer: one per call, sized for the most references a call
/// returns.
fn frame() -> Box<[u8]> {
    vec![0u8; FRAME_LEN].into_boxed_slice()
}

fn bad_frame(problem: FrameError) -> CallError<ContentError> {
    CallError::Service(ContentError::BadFrame { problem })
}

impl<T: Transport> ContentClient<T> {
    pub fn over(transport: T) -> Self {
        ContentClient {
            stub: stub::Client::new(transport),
            root: [0; ROOT_LEN],
            forward: Rc::default(),
        }
    }

    /// The store's root as of the last call.
    pub fn root(&self) -> &[u8; ROOT_LEN] {
        &self.root
    }

    /// Takes a root the caller persisted (checked by the service on use).
    pub fn set_root(&mut self, root: [u8; ROOT_LEN]) {
        self.root = root;
    }

    /// A frame holding the root and `r` (if any).
    fn frame_with(&self, r: Option<&ChunkRef>) -> Result<Box<[u8]>> {
        let mut f = frame();
        let refs: &[ChunkRef] = r.map_or(&[], core::slice::from_ref);
        encode_frame(&mut f, &self.root, refs).map_err(bad_frame)?;
        Ok(f)
    }

    /// Takes the new root (and the references, if asked) from a frame the
    /// service returned.
    fn take_frame(&mut self, f: &[u8], refs: Option<&mut Vec<ChunkRef>>) -> Result<()> {
        let root = frame_root(f).map_err(bad_frame)?;
        if let Some(refs) = refs {
            frame_refs(f, |r| refs.push(r)).map_err(bad_frame)?;
        }
        self.root = root;
        Ok(())
    }

    /// Creates an empty store in the delegated transaction.
    pub fn format(&mut self) -> Result<()> {
        let mut f = self.frame_with(None)?;
        self.stub.format(&mut f)?;
        self.take_frame(&f, None)
    }

    /// Starts a chunk writer in the service; its id.
    pub fn writer_start(&mut self) -> Result<u64> {
        let mut f = self.frame_with(None)?;
        self.stub.writer_start(&mut f)
    }

    /// Feeds `data` to writer `id` in pieces; appends completed chunks'
    /// references to `refs`.
    pub fn push(&mut self, id: u64, data: &[u8], refs: &mut Vec<ChunkRef>) -> Result<()> {
        for piece in data.chunks(PIECE) {
            let mut f = self.frame_with(None)?;
            self.stub.push(id, &mut f, piece)?;
            self.take_frame(&f, Some(refs))?;
        }
        Ok(())
    }

    /// Stores writer `id`'s last chunk and ends the writer.
    pub fn finish(&mut self, id: u64, refs: &mut Vec<ChunkRef>) -> Result<()> {
        let mut f = self.frame_with(None)?;
        self.stub.finish(id, &mut f)?;
        self.take_frame(&f, Some(refs))
    }

    /// Stores the whole object `data` and appends its chunks' references
    /// to `refs`: one `store_whole` call when it fits one piece (nothing
    /// is left open, whatever the outcome), else a writer pushed piece by
    /// piece and finished (dropped after an error). Nothing for no bytes,
    /// as a writer that was never fed stores nothing.
    pub fn store_whole(&mut self, data: &[u8], refs: &mut Vec<ChunkRef>) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if data.len() <= PIECE {
            let mut f = self.frame_with(None)?;
            self.stub.store_whole(&mut f, data)?;
            return self.take_frame(&f, Some(refs));
        }
        let id = self.writer_start()?;
        let stored = self
            .push(id, data, refs)
            .and_then(|()| self.finish(id, refs));
        if stored.is_err() {
            // A failed push or finish dropped it already: this is for a
            // frame the client could not read (an unknown id is no error).
            let _ = self.writer_drop(id);
        }
        stored
    }

    /// [`Self::store_whole`] of at most [`FORWARD_LEASE`] bytes with the
    /// block writes handed back (`store_whole_forward`): `take` gets the
    /// images and their block numbers (little-endian u64 with `SCATTER_`
    /// flags) and must write them into the caller's open transaction
    /// (`block_api::client::write_handed_over`); its error fails the call
    /// (the caller aborts). A longer object is stored as `store_whole`
    /// stores it, sending its writes itself.
    pub fn store_whole_forward(
        &mut self,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
        take: &mut TakeImages<'_>,
    ) -> Result<()> {
        if data.is_empty() || data.len() > FORWARD_LEASE {
            return self.store_whole(data, refs);
        }
        let mut f = self.frame_with(None)?;
        let mut lease = self.forward.borrow_mut();
        if lease.len() != FORWARD_LEASE {
            // Once per client and its clones: the lease is lent whole.
            *lease = vec![0u8; FORWARD_LEASE];
        }
        lease[..data.len()].copy_from_slice(data);
        let whole = self
            .stub
            .store_whole_forward(data.len() as u64, &mut f, &mut lease[..])?;
        let n = usize::try_from(whole.images).unwrap_or(usize::MAX);
        if n > FORWARD_IMAGES {
            return Err(CallError::Service(ContentError::block(
                block::Error::BadLength { len: n },
            )));
        }
        let (images, rest) = lease.split_at(n * block::BLOCK_SIZE);
        if n > 0 {
            take(images, &rest[..n * 8]).map_err(|e| CallError::Service(ContentError::block(e)))?;
        }
        drop(lease);
        self.take_frame(&f, Some(refs))
    }

    /// Ends writer `id` without storing its unfinished chunk.
    pub fn writer_drop(&mut self, id: u64) -> Result<()> {
        self.stub.writer_drop(id)
    }

    /// Chunk `r` into `out` (replacing its contents), verified by the
    /// service.
    pub fn read_chunk(&mut self, r: &ChunkRef, out: &mut Vec<u8>) -> Result<()> {
        let len = (r.len as usize).min(MAX_CHUNK);
        out.clear();
        out.resize(len, 0);
        let mut f = self.frame_with(Some(r))?;
        let n = self.stub.read_chunk(&mut f, out)?;
        if n != u64::from(r.len) {
            return Err(CallError::Service(ContentError::LengthMismatch {
                hash: crate::Hash(r.hash),
                indexed: u32::try_from(n).unwrap_or(u32::MAX),
                referenced: r.len,
            }));
        }
        Ok(())
    }

    /// Where the chunks `refs` are stored: appends the extents (start
    /// block, blocks) of the longest prefix the service finds to `out`, at
    /// most `MAX_REFS` references per call. No data moves: the caller reads
    /// the blocks and verifies each chunk's BLAKE3 itself.
    pub fn locate(&mut self, refs: &[ChunkRef], out: &mut Vec<(u64, u64)>) -> Result<()> {
        let mut buf = vec![0u8; MAX_REFS * EXTENT_LEN];
        for group in refs.chunks(MAX_REFS) {
            let mut f = frame();
            encode_frame(&mut f, &self.root, group).map_err(bad_frame)?;
            let n = self.stub.locate(&mut f, &mut buf)?;
            let n = usize::try_from(n).unwrap_or(0).min(group.len());
            for e in buf[..n * EXTENT_LEN].chunks_exact(EXTENT_LEN) {
                let (s, l) = e.split_at(8);
                let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                out.push((word(s), word(l)));
            }
            if n < group.len() {
                break;
            }
        }
        Ok(())
    }

    /// Whether a chunk with this hash is stored.
    pub fn contains(&mut self, hash: &[u8; 32]) -> Result<bool> {
        // The length is not looked at: any non-zero one encodes.
        let r = ChunkRef {
            hash: *hash,
            len: 1,
        };
        let mut f = self.frame_with(Some(&r))?;
        self.stub.contains(&mut f)
    }

    /// Starts a collection over `block_count` blocks: of `epoch`, or a dry
    /// run.
    pub fn gc_start(&mut self, epoch: Option<u64>, block_count: u64) -> Result<()> {
        let mut f = self.frame_with(None)?;
        self.stub
            .gc_start(epoch.unwrap_or(0), epoch.is_none(), block_count, &mut f)
    }

    /// Marks chunk `r` in the collection.
    pub fn mark(&mut self, r: &ChunkRef) -> Result<()> {
        let mut f = self.frame_with(Some(r))?;
        self.stub.mark(&mut f)
    }

    /// One sweep step; the totals so far.
    pub fn sweep_step(&mut self, max_scan: u64) -> Result<SweepStepped> {
        let mut f = self.frame_with(None)?;
        let stepped = self.stub.sweep_step(max_scan, &mut f)?;
        self.take_frame(&f, None)?;
        Ok(stepped)
    }

    /// Calls `f(start, len)` with every extent the store occupies.
    pub fn visit_blocks(&mut self, f: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let mut buf = vec![0u8; VISIT_MAX * EXTENT_LEN];
        // The cursor: the last index key of the previous page.
        let mut after: Option<crate::Hash> = None;
        loop {
            let mut frame = self.frame_with(None)?;
            let v = self.stub.visit_blocks(
                after.is_some(),
                after.unwrap_or(crate::Hash([0; 32])),
                &mut frame,
                &mut buf,
            )?;
            let n = usize::try_from(v.written).unwrap_or(0).min(VISIT_MAX);
            for e in buf[..n * EXTENT_LEN].chunks_exact(EXTENT_LEN) {
                let (s, l) = e.split_at(8);
                let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                f(word(s), word(l));
            }
            if v.last {
                return Ok(());
            }
            if after == Some(v.next) {
                // A service that does not advance would loop forever.
                return Err(CallError::Service(ContentError::IndexKeyCorrupt {
                    key_len: 32,
                    problem: crate::IndexProblem(None),
                }));
            }
            after = Some(v.next);
        }
    }

    /// One page of [`ContentClient::visit_blocks`] of the store at `root`
    /// (not this client's: a pinned copy, `content::ContentStore::pin_index`):
    /// `f(start, len)` with at most `max` extents (at least one entry's)
    /// after index key `after`. The cursor of the next page, `None` when
    /// the walk is complete. For a walk spread over requests: pages of a
    /// pinned root never mix states.
    pub fn visit_blocks_page(
        &mut self,
        root: &[u8; ROOT_LEN],
        after: Option<crate::Hash>,
        max: usize,
        f: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<crate::Hash>> {
        let mut buf = vec![0u8; max.clamp(1, VISIT_MAX) * EXTENT_LEN];
        let mut frame = frame();
        encode_frame(&mut frame, root, &[]).map_err(bad_frame)?;
        let v = self.stub.visit_blocks(
            after.is_some(),
            after.unwrap_or(crate::Hash([0; 32])),
            &mut frame,
            &mut buf,
        )?;
        let n = usize::try_from(v.written)
            .unwrap_or(0)
            .min(buf.len() / EXTENT_LEN);
        for e in buf[..n * EXTENT_LEN].chunks_exact(EXTENT_LEN) {
            let (s, l) = e.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            f(word(s), word(l));
        }
        if v.last {
            return Ok(None);
        }
        if after == Some(v.next) {
            // A service that does not advance would loop forever.
            return Err(CallError::Service(ContentError::IndexKeyCorrupt {
                key_len: 32,
                problem: crate::IndexProblem(None),
            }));
        }
        Ok(Some(v.next))
    }

    /// The service's counters as text (see `chunk_store::stats`).
    pub fn stats(&mut self) -> Result<String> {
        let mut text = vec![0u8; 4096];
        let t = self.stub.stats(&mut text)?;
        let n = usize::try_from(t.written).unwrap_or(0).min(text.len());
        Ok(String::from_utf8_lossy(&text[..n]).into_owned())
    }

    /// The store's check: `None` when clean, else the problems as text
    /// (cut at `CHECK_TEXT_MAX` bytes).
    pub fn check(&mut self, verify_data: bool) -> Result<Option<String>> {
        let mut text = vec![0u8; CHECK_TEXT_MAX];
        let mut f = self.frame_with(None)?;
        let t = self.stub.check(verify_data, &mut f, &mut text)?;
        let n = usize::try_from(t.written).unwrap_or(0).min(text.len());
        Ok((n > 0).then(|| String::from_utf8_lossy(&text[..n]).into_owned()))
    }

    /// One page of a check of the store (`fresh`: the first); answers
    /// the page's problems, their count and whether it was the last page.
    pub fn check_page(
        &mut self,
        fresh: bool,
        verify_data: bool,
        block_count: u64,
    ) -> Result<(Vec<String>, u64, bool)> {
        let mut text = vec![0u8; CHECK_TEXT_MAX];
        let mut f = self.frame_with(None)?;
        let p = self
            .stub
            .check_page(fresh, verify_data, block_count, &mut f, &mut text)?;
        Ok((lines(&text, p.written), p.count, p.done))
    }

    /// Ends a check: the whole-store comparisons' problems and their
    /// count, or (the store changed meanwhile) a note.
    pub fn check_end(&mut self, unchanged: bool) -> Result<(Vec<String>, u64, Option<String>)> {
        let mut text = vec![0u8; CHECK_TEXT_MAX];
        let mut f = self.frame_with(None)?;
        let p = self.stub.check_end(unchanged, &mut f, &mut text)?;
        let lines = lines(&text, p.written);
        if p.note {
            return Ok((Vec::new(), 0, Some(lines.join(" "))));
        }
        Ok((lines, p.count, None))
    }
}

/// The lines of the first `written` bytes of `text`.
fn lines(text: &[u8], written: u64) -> Vec<String> {
    let n = usize::try_from(written).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[..n])
        .lines()
        .map(String::from)
        .collect()
}
