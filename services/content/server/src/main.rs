//! The content-store service (ring 3): `content::ContentStore` over the
//! block service, serving `content_api::ContentRequest`.
//!
//! It never begins, commits or aborts a block transaction: its writes go
//! into the transaction its caller (the filesystem service) holds and has
//! delegated to this process's badge, so chunks, chunk index and the
//! caller's namespace change commit together. It keeps no root: each
//! request brings the store's root and mutating ones return the new one
//! (see the `content-api` crate doc).
//!
//! Capabilities (boot.cfg): slot 0 = the block service's endpoint (the
//! badge given there is the one the filesystem service delegates to).
//! Boot argument: 0, or (a fault-injection hook for the QEMU test
//! `storage-content-dies`) the number of the request at which the service
//! exits without answering, as a crash would.
//!
//! # Invariants
//! - Memory is bounded: one data piece (`PIECE`), one chunk buffer, one
//!   frame, and per client (at most [`MAX_SESSIONS`]) one writer (under
//!   `MAX_CHUNK` bytes) and one collection's marks (a bit per block).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;
use block_api::client::BlockClient;
use content::{ChunkBuf, ChunkMarks, ChunkRef, ChunkWriter, ContentStore, GcEpoch, Sweep};
use content_api::{
    encode_frame, frame_refs, frame_root, status, ContentRequest, EXTENT_LEN, FRAME_LEN, PIECE,
    ROOT_LEN,
};
use userlib::abi::proto::Wire;
use userlib::abi::Message;
use userlib::ipc::{recv, Incoming, ReplyToken};
use userlib::println;

userlib::entry!(main);

/// Clients with a session at once (the filesystem service is the one
/// client in `boot.cfg`; a few more leave room for tests).
const MAX_SESSIONS: usize = 4;

/// Extents returned per `VisitBlocks` call at most.
const VISIT_MAX: usize = 1024;

/// Error text kept per client.
const ERROR_TEXT_MAX: usize = 1024;

/// A failed request: status and the text `LastError` returns.
struct Fail(u64, String);

type Outcome = Result<[u64; 6], Fail>;

/// A failing disk in the block layer's own plain sentence ("the disk
/// failed a write at block 95; the store is read-only ..."), else `None`.
fn disk_failure(e: &block::Error) -> Option<String> {
    matches!(e, block::Error::ReadOnly(_) | block::Error::Device(_)).then(|| format!("{e}"))
}

fn content_fail(e: impl Into<content::Error>) -> Fail {
    let e = e.into();
    let block = match &e {
        content::Error::Put(content::PutError::Block(b))
        | content::Error::Get(content::GetError::Block(b))
        | content::Error::Gc(content::GcError::Block(b)) => disk_failure(b),
        _ => None,
    };
    Fail(status::CONTENT, block.unwrap_or_else(|| format!("{e}")))
}

fn content_fail_block(e: block::Error) -> Fail {
    let text = disk_failure(&e).unwrap_or_else(|| format!("block service: {e:?}"));
    Fail(status::CONTENT, text)
}

fn lease_fail(what: &str, e: userlib::Error) -> Fail {
    Fail(status::BAD_LEASE, format!("{what}: {e:?}"))
}

#[derive(Default)]
struct Session {
    writer: Option<ChunkWriter>,
    gc: Option<(ChunkMarks, Sweep)>,
    last_error: String,
}

struct Service {
    dev: BlockClient,
    sessions: BTreeMap<u64, Session>,
    frame: Vec<u8>,
    piece: Vec<u8>,
    chunk: ChunkBuf,
    /// Requests received; the service exits at number `die_at` (if not 0).
    received: u64,
    die_at: u64,
}

fn main() {
    match BlockClient::connect(0) {
        Ok(dev) => {
            println!("content: serving over {} blocks", dev.block_count());
            Service {
                dev,
                sessions: BTreeMap::new(),
                frame: vec![0u8; FRAME_LEN],
                piece: vec![0u8; PIECE],
                chunk: ChunkBuf::new(),
                received: 0,
                die_at: userlib::boot_arg(),
            }
            .run()
        }
        Err(e) => {
            println!("content: block service unreachable: {e}");
            loop {
                // Answer every call with the reason instead of hanging.
                if let Ok(Incoming::Call { token, .. }) = recv(0) {
                    let _ = token.reply_message(&Message::new(status::CONTENT, &[]));
                }
            }
        }
    }
}

impl Service {
    fn run(mut self) -> ! {
        loop {
            let Ok(Incoming::Call { badge, token, msg }) = recv(0) else {
                continue;
            };
            self.received += 1;
            if self.received == self.die_at {
                println!(
                    "content: exiting at request {} (boot argument)",
                    self.received
                );
                userlib::sys::exit(1);
            }
            let outcome = self.handle(badge, &token, &msg);
            // Chunk data the block client gathered must reach the block
            // service before our caller can commit; after a failure the
            // caller aborts, and the data must never leak into a later
            // transaction.
            let outcome = match outcome {
                Ok(words) => self
                    .dev
                    .send_gathered()
                    .map(|()| words)
                    .map_err(content_fail_block),
                Err(f) => {
                    self.dev.drop_gathered();
                    Err(f)
                }
            };
            let reply = match outcome {
                Ok(words) => Message::new(0, &words),
                Err(Fail(code, mut text)) => {
                    text.truncate(ERROR_TEXT_MAX);
                    self.session(badge).last_error = text;
                    Message::new(code, &[])
                }
            };
            // A caller that died meanwhile is not our problem.
            let _ = token.reply_message(&reply);
        }
    }

    fn session(&mut self, badge: u64) -> &mut Session {
        if !self.sessions.contains_key(&badge) && self.sessions.len() >= MAX_SESSIONS {
            // Bounded: the oldest badge's session goes.
            if let Some(&old) = self.sessions.keys().next() {
                self.sessions.remove(&old);
            }
        }
        self.sessions.entry(badge).or_default()
    }

    /// Reads the frame of lease 0; returns the store it names.
    fn read_frame(&mut self, token: &ReplyToken) -> Result<ContentStore, Fail> {
        let n = token
            .lease_read(0, 0, &mut self.frame)
            .map_err(|e| lease_fail("frame", e))?;
        let root =
            frame_root(&self.frame[..n]).map_err(|e| Fail(status::BAD_FRAME, format!("{e}")))?;
        ContentStore::open(&root).map_err(|e| Fail(status::BAD_FRAME, format!("root: {e}")))
    }

    /// The first reference of the frame.
    fn frame_ref(&self) -> Result<ChunkRef, Fail> {
        let mut first = None;
        frame_refs(&self.frame, |r| {
            if first.is_none() {
                first = Some(r)
            }
        })
        .map_err(|e| Fail(status::BAD_FRAME, format!("{e}")))?;
        first.ok_or_else(|| Fail(status::BAD_FRAME, String::from("the frame names no chunk")))
    }

    /// Writes the store's root and `refs` back into lease 0.
    fn write_frame(
        &mut self,
        token: &ReplyToken,
        store: &ContentStore,
        refs: &[ChunkRef],
    ) -> Result<(), Fail> {
        let root: [u8; ROOT_LEN] = store.encode_root();
        encode_frame(&mut self.frame, &root, refs)
            .map_err(|e| Fail(status::BAD_FRAME, format!("reply: {e}")))?;
        let len = ROOT_LEN + 4 + refs.len() * ChunkRef::ENCODED_LEN;
        token
            .lease_write(0, 0, &self.frame[..len])
            .map_err(|e| lease_fail("frame", e))?;
        Ok(())
    }

    fn handle(&mut self, badge: u64, token: &ReplyToken, msg: &Message) -> Outcome {
        let request = <ContentRequest as Wire>::decode(msg)
            .map_err(|e| Fail(status::BAD_REQUEST, format!("{e:?}")))?;
        if let ContentRequest::LastError {} = request {
            let text = core::mem::take(&mut self.session(badge).last_error);
            let n = token
                .lease_write(1, 0, text.as_bytes())
                .map_err(|e| lease_fail("text", e))?;
            return Ok([n as u64, text.len() as u64, 0, 0, 0, 0]);
        }
        if let ContentRequest::Format {} = request {
            // No root yet: the only request that brings none.
            let store = ContentStore::create(&mut self.dev).map_err(content_fail)?;
            self.write_frame(token, &store, &[])?;
            return Ok([0; 6]);
        }
        let mut store = self.read_frame(token)?;
        match request {
            ContentRequest::Format {} => Ok([0; 6]),
            ContentRequest::WriterStart {} => {
                self.session(badge).writer = Some(ChunkWriter::new());
                Ok([0; 6])
            }
            ContentRequest::Push {} | ContentRequest::Finish {} => {
                let finish = matches!(request, ContentRequest::Finish {});
                let len = usize::try_from(msg.leases[1].len).unwrap_or(usize::MAX);
                if !finish && len > PIECE {
                    return Err(Fail(
                        status::BAD_LEASE,
                        format!("piece of {len} bytes, at most {PIECE}"),
                    ));
                }
                let got = if finish {
                    0
                } else {
                    token
                        .lease_read(1, 0, &mut self.piece[..len])
                        .map_err(|e| lease_fail("data", e))?
                };
                let Some(mut writer) = self.session(badge).writer.take() else {
                    return Err(Fail(
                        status::NO_SESSION,
                        String::from("no chunk writer started"),
                    ));
                };
                let mut refs = Vec::new();
                // An error leaves the writer unusable: it stays dropped.
                if finish {
                    writer
                        .finish(&mut store, &mut self.dev, |c| refs.push(c))
                        .map_err(content_fail)?;
                } else {
                    writer
                        .write(&mut store, &mut self.dev, &self.piece[..got], |c| {
                            refs.push(c)
                        })
                        .map_err(content_fail)?;
                    self.session(badge).writer = Some(writer);
                }
                self.write_frame(token, &store, &refs)?;
                Ok([refs.len() as u64, 0, 0, 0, 0, 0])
            }
            ContentRequest::ReadChunk {} => {
                let r = self.frame_ref()?;
                let data = store
                    .read_chunk(&mut self.dev, &r, &mut self.chunk)
                    .map_err(content_fail)?;
                let n = token
                    .lease_write(1, 0, data)
                    .map_err(|e| lease_fail("chunk", e))?;
                Ok([n as u64, 0, 0, 0, 0, 0])
            }
            ContentRequest::Contains {} => {
                let r = self.frame_ref()?;
                let found = store
                    .contains(&mut self.dev, &r.hash)
                    .map_err(content_fail)?;
                Ok([u64::from(found), 0, 0, 0, 0, 0])
            }
            ContentRequest::GcStart {
                epoch,
                dry_run,
                block_count,
            } => {
                if block_count != self.dev.block_count() {
                    return Err(Fail(
                        status::BAD_REQUEST,
                        format!(
                            "collection over {block_count} blocks, the store has {}",
                            self.dev.block_count()
                        ),
                    ));
                }
                let sweep = if dry_run {
                    Sweep::dry_run(&store)
                } else {
                    Sweep::new(GcEpoch(epoch))
                };
                let session = self.session(badge);
                session.gc = None; // the old marks go before the new ones come
                session.gc = Some((ChunkMarks::new(block_count), sweep));
                Ok([0; 6])
            }
            ContentRequest::Mark {} => {
                let r = self.frame_ref()?;
                let Some((mut marks, sweep)) = self.session(badge).gc.take() else {
                    return Err(Fail(
                        status::NO_SESSION,
                        String::from("no collection started"),
                    ));
                };
                let marked = store.mark(&mut self.dev, &r, &mut marks);
                self.session(badge).gc = Some((marks, sweep));
                marked.map_err(content_fail)?;
                Ok([0; 6])
            }
            ContentRequest::SweepStep { max_scan } => {
                let Some((marks, mut sweep)) = self.session(badge).gc.take() else {
                    return Err(Fail(
                        status::NO_SESSION,
                        String::from("no collection started"),
                    ));
                };
                let max = usize::try_from(max_scan).unwrap_or(usize::MAX);
                let stepped = store.sweep_step(&mut self.dev, &marks, &mut sweep, max);
                let done = sweep.is_done();
                let report = sweep.report;
                self.session(badge).gc = Some((marks, sweep));
                stepped.map_err(content_fail)?;
                self.write_frame(token, &store, &[])?;
                Ok([
                    u64::from(done),
                    report.scanned,
                    report.chunks,
                    report.bytes,
                    report.blocks,
                    0,
                ])
            }
            ContentRequest::VisitBlocks { skip } => {
                let cap =
                    (usize::try_from(msg.leases[1].len).unwrap_or(0) / EXTENT_LEN).min(VISIT_MAX);
                let mut out: Vec<u8> = Vec::with_capacity(cap * EXTENT_LEN);
                let mut seen = 0u64;
                let mut written = 0usize;
                store
                    .visit_blocks(&mut self.dev, |e| {
                        if seen >= skip && written < cap {
                            out.extend_from_slice(&e.start.to_le_bytes());
                            out.extend_from_slice(&e.len.to_le_bytes());
                            written += 1;
                        }
                        seen += 1;
                    })
                    .map_err(content_fail)?;
                if !out.is_empty() {
                    token
                        .lease_write(1, 0, &out)
                        .map_err(|e| lease_fail("extents", e))?;
                }
                let last = seen <= skip + written as u64;
                Ok([written as u64, u64::from(last), 0, 0, 0, 0])
            }
            ContentRequest::Check { verify_data } => {
                let report = store.check(&mut self.dev, verify_data);
                let text = if report.is_clean() {
                    String::new()
                } else {
                    format!("{report:?}")
                };
                let n = if text.is_empty() {
                    0
                } else {
                    token
                        .lease_write(1, 0, text.as_bytes())
                        .map_err(|e| lease_fail("text", e))?
                };
                Ok([n as u64, text.len() as u64, 0, 0, 0, 0])
            }
            ContentRequest::LastError {} => Ok([0; 6]),
        }
    }
}
