//! `ContentClient`: `filesystem::Chunks` over IPC to the content service.
//!
//! The client keeps the store's root (96 bytes) as the filesystem's state:
//! cloning the client is how the filesystem undoes a failed operation.
//! Every request sends the root in the frame (lease 0); mutating ones take
//! the new root from it. `stats` and `begin_gc` need no I/O and are
//! answered from the root in-process.
//!
//! The caller must have delegated its open block transaction to the
//! content service before a mutating call (`block_api` `Delegate`): the
//! filesystem service's `BlockClient` does so after each `Begin`.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use abi::Message;
use block::{Extent, Transactional};
use content::{ChunkRef, ContentStats, ContentStore, GcEpoch, SweepReport, MAX_CHUNK};
use filesystem::{Chunks, FsError};
use userlib::ipc::{lend, lend_mut};
use userlib::sys;

use crate::{
    encode_frame, frame_refs, frame_root, status, ContentRequest, FRAME_LEN, PIECE, ROOT_LEN,
};
use abi::proto::Wire;

/// Extents fetched per `VisitBlocks` call.
const VISIT_BATCH: usize = 1024;

/// A connection to the content service through endpoint capability `slot`,
/// with the store's root as of the caller's state.
#[derive(Clone)]
pub struct ContentClient {
    slot: u64,
    root: [u8; ROOT_LEN],
}

/// The service's chunk writer session (the unfinished chunk is held
/// there), started by its first `push` or `finish`.
pub struct RemoteWriter {
    started: bool,
}

/// The service's collection session; the sweep totals so far.
pub struct RemoteGc {
    report: SweepReport,
}

/// The frame buffer: one per call, sized for the most references a call
/// returns.
fn frame() -> Box<[u8]> {
    vec![0u8; FRAME_LEN].into_boxed_slice()
}

impl ContentClient {
    /// A client of the service at `slot`; the root comes from
    /// [`Chunks::format`] or [`Chunks::load`].
    pub fn new(slot: u64) -> ContentClient {
        ContentClient {
            slot,
            root: [0; ROOT_LEN],
        }
    }

    fn local(&self) -> Result<ContentStore, FsError> {
        ContentStore::open(&self.root).map_err(FsError::BadContentRoot)
    }

    /// One call: `frame` as lease 0, `data` as lease 1.
    fn call(
        &mut self,
        request: ContentRequest,
        frame: &mut [u8],
        data: Option<abi::Lease>,
    ) -> Result<[u64; 6], FsError> {
        let mut msg = request.to_message();
        msg.leases[0] = lend_mut(frame);
        if let Some(l) = data {
            msg.leases[1] = l;
        }
        let mut reply = Message::default();
        sys::call(self.slot, &msg, &mut reply)
            .map_err(|e| FsError::ContentUnreachable { code: e as u64 })?;
        if reply.label != 0 {
            return Err(self.failure(reply.label));
        }
        Ok(reply.words)
    }

    /// The error of a failed call, with the service's text.
    fn failure(&mut self, code: u64) -> FsError {
        let mut text = vec![0u8; 512];
        let mut msg = ContentRequest::LastError {}.to_message();
        msg.leases[1] = lend_mut(&mut text);
        let mut reply = Message::default();
        let message = match sys::call(self.slot, &msg, &mut reply) {
            Ok(()) if reply.label == 0 => {
                let n = usize::try_from(reply.words[0]).unwrap_or(0).min(text.len());
                String::from_utf8_lossy(&text[..n]).into_owned()
            }
            Ok(()) => alloc::format!("(no text: status {})", reply.label),
            Err(e) => return FsError::ContentUnreachable { code: e as u64 },
        };
        FsError::ContentService { code, message }
    }

    /// Starts the service's writer session for `w` (once).
    fn start(&mut self, w: &mut RemoteWriter) -> Result<(), FsError> {
        if !w.started {
            self.call_with_ref(ContentRequest::WriterStart {}, None, None)?;
            w.started = true;
        }
        Ok(())
    }

    /// A request naming one chunk (or none) that does not change the root.
    fn call_with_ref(
        &mut self,
        request: ContentRequest,
        r: Option<&ChunkRef>,
        data: Option<abi::Lease>,
    ) -> Result<[u64; 6], FsError> {
        let mut f = frame();
        let refs: &[ChunkRef] = match r {
            Some(r) => core::slice::from_ref(r),
            None => &[],
        };
        encode_frame(&mut f, &self.root, refs).map_err(|e| FsError::ContentService {
            code: status::BAD_FRAME,
            message: alloc::format!("{e}"),
        })?;
        self.call(request, &mut f, data)
    }

    /// A request that changes the root: takes the new root and references.
    fn call_mutating(
        &mut self,
        request: ContentRequest,
        data: Option<abi::Lease>,
        refs: Option<&mut Vec<ChunkRef>>,
    ) -> Result<[u64; 6], FsError> {
        let mut f = frame();
        encode_frame(&mut f, &self.root, &[]).map_err(|e| FsError::ContentService {
            code: status::BAD_FRAME,
            message: alloc::format!("{e}"),
        })?;
        let words = self.call(request, &mut f, data)?;
        let bad = |e: crate::FrameError| FsError::ContentService {
            code: status::BAD_FRAME,
            message: alloc::format!("reply: {e}"),
        };
        let root = frame_root(&f).map_err(bad)?;
        if let Some(refs) = refs {
            frame_refs(&f, |r| refs.push(r)).map_err(bad)?;
        }
        self.root = root;
        Ok(words)
    }
}

impl<T: Transactional> Chunks<T> for ContentClient {
    type Writer = RemoteWriter;
    type ReadBuf = ();
    type Gc = RemoteGc;

    fn format(&mut self, _dev: &mut T) -> Result<(), FsError> {
        self.call_mutating(ContentRequest::Format {}, None, None)?;
        Ok(())
    }

    fn load(&mut self, _dev: &mut T, root: &[u8]) -> Result<(), FsError> {
        // Checked here so a bad root is reported at mount, as in-process.
        let store = ContentStore::open(root).map_err(FsError::BadContentRoot)?;
        self.root = store.encode_root();
        Ok(())
    }

    fn encode_root(&self) -> Vec<u8> {
        self.root.to_vec()
    }

    fn stats(&self) -> ContentStats {
        self.local().map(|s| s.stats()).unwrap_or_default()
    }

    fn writer(&mut self) -> RemoteWriter {
        RemoteWriter { started: false }
    }

    fn push(
        &mut self,
        _dev: &mut T,
        w: &mut RemoteWriter,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        if data.is_empty() {
            return Ok(());
        }
        self.start(w)?;
        for piece in data.chunks(PIECE) {
            self.call_mutating(ContentRequest::Push {}, Some(lend(piece)), Some(refs))?;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        _dev: &mut T,
        mut w: RemoteWriter,
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        self.start(&mut w)?;
        self.call_mutating(ContentRequest::Finish {}, None, Some(refs))?;
        Ok(())
    }

    fn read_chunk(
        &mut self,
        _dev: &mut T,
        _rb: &mut (),
        r: &ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError> {
        let len = (r.len as usize).min(MAX_CHUNK);
        out.clear();
        out.resize(len, 0);
        let w = self.call_with_ref(ContentRequest::ReadChunk {}, Some(r), Some(lend_mut(out)))?;
        if w[0] != u64::from(r.len) {
            return Err(FsError::ContentService {
                code: status::BAD_LEASE,
                message: alloc::format!(
                    "chunk {} of {} bytes came back with {} bytes",
                    content::Hex(&r.hash),
                    r.len,
                    w[0]
                ),
            });
        }
        Ok(())
    }

    fn contains(&mut self, _dev: &mut T, hash: &[u8; 32]) -> Result<bool, FsError> {
        // The length is not looked at: any non-zero one encodes.
        let r = ChunkRef {
            hash: *hash,
            len: 1,
        };
        let w = self.call_with_ref(ContentRequest::Contains {}, Some(&r), None)?;
        Ok(w[0] == 1)
    }

    fn begin_gc(&mut self) -> Result<GcEpoch, FsError> {
        let mut store = self.local()?;
        let epoch = store.begin_gc().map_err(content::Error::from)?;
        self.root = store.encode_root();
        Ok(epoch)
    }

    fn gc(&mut self, epoch: Option<GcEpoch>, block_count: u64) -> Result<RemoteGc, FsError> {
        let request = ContentRequest::GcStart {
            epoch: epoch.map_or(0, |e| e.0),
            dry_run: epoch.is_none(),
            block_count,
        };
        self.call_with_ref(request, None, None)?;
        Ok(RemoteGc {
            report: SweepReport::default(),
        })
    }

    fn mark(&mut self, _dev: &mut T, _gc: &mut RemoteGc, r: &ChunkRef) -> Result<(), FsError> {
        self.call_with_ref(ContentRequest::Mark {}, Some(r), None)?;
        Ok(())
    }

    fn sweep_step(
        &mut self,
        _dev: &mut T,
        gc: &mut RemoteGc,
        max_scan: usize,
    ) -> Result<bool, FsError> {
        let w = self.call_mutating(
            ContentRequest::SweepStep {
                max_scan: max_scan as u64,
            },
            None,
            None,
        )?;
        gc.report = SweepReport {
            scanned: w[1],
            chunks: w[2],
            bytes: w[3],
            blocks: w[4],
        };
        Ok(w[0] == 1)
    }

    fn sweep_report(&self, gc: &RemoteGc) -> SweepReport {
        gc.report
    }

    fn visit_blocks(&mut self, _dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError> {
        let mut buf = vec![0u8; VISIT_BATCH * crate::EXTENT_LEN];
        let mut skip = 0u64;
        loop {
            let w = self.call_with_ref(
                ContentRequest::VisitBlocks { skip },
                None,
                Some(lend_mut(&mut buf)),
            )?;
            let n = usize::try_from(w[0]).unwrap_or(0).min(VISIT_BATCH);
            for e in buf[..n * crate::EXTENT_LEN].chunks_exact(crate::EXTENT_LEN) {
                let mut s = [0u8; 8];
                let mut l = [0u8; 8];
                s.copy_from_slice(&e[..8]);
                l.copy_from_slice(&e[8..]);
                f(Extent::new(u64::from_le_bytes(s), u64::from_le_bytes(l)));
            }
            skip += n as u64;
            if w[1] == 1 || n == 0 {
                return Ok(());
            }
        }
    }

    fn check(&mut self, _dev: &mut T, verify_data: bool) -> Result<Option<String>, FsError> {
        let mut text = vec![0u8; 4096];
        let w = self.call_with_ref(
            ContentRequest::Check { verify_data },
            None,
            Some(lend_mut(&mut text)),
        )?;
        let n = usize::try_from(w[0]).unwrap_or(0).min(text.len());
        Ok(if n == 0 {
            None
        } else {
            Some(String::from_utf8_lossy(&text[..n]).into_owned())
        })
    }
}
