//! The content-store service (ring 3): `content::ContentStore` over the
//! block service, implementing `content_api::chunk_store::Server` (the
//! interface's dispatch decodes and checks every call; a failure is a
//! `ContentError` with its values, in the reply).
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
//! Boot argument: 0, or (a fault-injection hook for the QEMU tests
//! `storage-content-dies` and `storage-content-restart`) the number of the
//! request at which the boot-time incarnation exits without answering, as a
//! crash would. A restarted incarnation needs nothing from the dead one: it
//! holds no root, and a lost session (an unfinished chunk writer) fails the
//! fs's operation once, which the fs's transaction abort undoes.
//!
//! # Invariants
//! - Memory is bounded: one layout buffer (`content::LAYOUT_BYTES`: a
//!   `PIECE` of data laid out chunk by chunk), one chunk buffer, one
//!   frame, the cache of index nodes (`content::INDEX_CACHE_BLOCKS` blocks,
//!   kept across requests by the rule of `content/lib/src/index_cache.rs`),
//!   and per client (at most [`MAX_SESSIONS`]) up to `MAX_WRITERS`
//!   writers (each under `MAX_CHUNK` bytes, allocated when it holds bytes)
//!   and one collection's marks (a bit per block).
//! - A writer id is never reused (ids count up over all clients), so a
//!   stale id (a writer dropped after an error) finds nothing rather than
//!   another upload's writer.
//! - A `store_whole`'s writer lives in that call only: no id, no session
//!   entry, never a held piece (it is fed as a synchronous push), so the
//!   call's answer or error leaves nothing of it in the service.
//!   `store_whole_forward` is the same call whose block writes go back
//!   to the caller in its lease instead of to the block service: it ends
//!   the request itself before answering (held index writes gathered,
//!   then handed over), so when it answers images nothing of the request
//!   is left in the block client, and the caller's transaction holds
//!   them either way (sent by it or by us).
//!
//! # Pieces answered before they are hashed and stored
//! A `push` of [`DEFER_MIN`] bytes or more is answered as soon as the
//! piece is in this process's memory: read from the lease into a layout
//! buffer and cut there (`ChunkWriter::take_with`; the cut search runs in
//! the read's windows, so that the chunks land in place with no copy).
//! Then, after the reply, the piece's chunks are BLAKE3-hashed
//! (`ChunkWriter::hash_held`), while the caller goes on (with a second
//! CPU: SHA-256es the same piece, `filesystem::stream`'s "Overlap"; the
//! reply says `CONTINUES`, so the kernel wakes a halted CPU for the
//! caller at once instead of at its next tick); they are stored by the
//! writer's next call (`push` or `finish`), in that call's transaction,
//! whose reply carries their references first. The rules:
//! 1. An early answer means only "the service holds these bytes": it was
//!    never a durability promise (the caller commits when `finish` or a
//!    later `push` has stored them, and a durable commit or an upload's
//!    finish comes after those), so nothing is acknowledged durable
//!    earlier than before.
//! 2. What can fail (allocation, the device, the index) happens in the
//!    writer's next call, which answers the error as a synchronous push
//!    did (the same `ContentError`); the writer is then dropped, so every
//!    later call on it answers `NoWriter`. The hashing after the reply
//!    does no I/O and cannot fail. Nothing of a held piece is in the
//!    index or allocated until it is stored: an aborted session frees
//!    what it stored as before, and a dropped writer gives its piece up.
//! 3. Memory: one held piece per writer, and one in the whole service
//!    ([`Service::spare`], the second layout buffer): a push of another
//!    writer meanwhile is stored before its answer, as before; the next
//!    call of the holding writer stores its piece before anything else.
//! 4. Other calls (reads, puts, collections, checks, any client) see the
//!    store as if the held piece had not come: it changes no root, index
//!    entry or allocation until its writer's next call, and the hashing
//!    (the only work between requests) touches only the piece's buffer.
//! 5. A crash (of this process or the machine) while a piece is held
//!    loses the held piece like a writer's unfinished chunk: bytes no
//!    reply called durable (the fs's streams commit only stored chunks;
//!    see `filesystem::stream`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;
use block_api::client::BlockClient;
use content::{
    ChunkBuf, ChunkMarks, ChunkRef, ChunkWriter, ContentStore, IndexCache, LayoutBuf, PagedCheck,
    Sweep,
};
use content_api::{
    chunk_store, encode_frame, frame_refs, frame_root, ContentError, RootProblem, Whole,
    FORWARD_IMAGES, FRAME_LEN, ROOT_LEN,
};
use userlib::abi::iface::{reply_message, Dispatched, LeaseIn, LeaseInOut};
use userlib::ipc::{recv, Incoming, ReplyToken};
use userlib::println;

mod direct;
mod interface;

use direct::Direct;

userlib::entry!(main);

/// Smallest `push` answered before it is hashed and stored (rule list
/// above). A shorter one (a small put's) is stored before its answer, as
/// before: its hashing is short, and holding it would only move its
/// storing into the `finish` that follows at once.
pub const DEFER_MIN: usize = 256 * 1024;

/// Clients with a session at once (the filesystem service is the one
/// client in `boot.cfg`; a few more leave room for tests).
const MAX_SESSIONS: usize = 4;

type Frame<'a> = LeaseInOut<'a, ReplyToken>;
type Outcome<T> = Result<T, ContentError>;

#[derive(Default)]
struct Session {
    /// Open writers by id.
    writers: BTreeMap<u64, ChunkWriter>,
    gc: Option<(ChunkMarks, Sweep)>,
    /// A check in pages (`check_page`).
    check: Option<PagedCheck>,
}

/// Deterministic counters (the `stats` operation; issue #13).
#[derive(Default)]
struct Counters {
    /// Calls received.
    calls: u64,
    /// Bytes copied in from `push` leases.
    lease_in: u64,
    /// Bytes copied out to `read_chunk` leases.
    lease_out: u64,
    /// Bytes the chunk writers copied into their chunk buffers.
    chunk_buf: u64,
    /// Bytes of chunks' last blocks copied to pad them (`put_chunk`).
    pad: u64,
    /// Allocations for chunks (one per piece: `put_cuts`).
    allocations: u64,
    /// Chunks located for a reader that reads them itself (`locate`).
    located: u64,
    /// Pushes answered before their piece was hashed and stored (the
    /// crate doc's rules).
    held: u64,
    /// Block images handed back to the caller (`store_whole_forward`)
    /// instead of sent to the block service.
    handed_over: u64,
    /// Cycles scheduled to this process while handling requests (kernel
    /// `CPU_TIME`; not a deterministic count: kept out of the
    /// `counters content:` line).
    cycles: u64,
}

struct Service {
    /// The block service, through the cache of index nodes.
    dev: IndexCache<Direct>,
    counters: Counters,
    sessions: BTreeMap<u64, Session>,
    /// The next writer id (of any client: never reused).
    next_writer: u64,
    frame: Vec<u8>,
    /// A piece's chunks, laid out for one write (`ChunkWriter::write_with`).
    layout: LayoutBuf,
    /// The layout buffer of the one piece the service may hold (rule 3):
    /// here when no writer holds it, made on first use.
    spare: Option<LayoutBuf>,
    /// The writer (badge, id) holding a piece, to hash after the reply.
    holder: Option<(u64, u64)>,
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
                dev: IndexCache::new(Direct::new(dev)),
                counters: Counters::default(),
                sessions: BTreeMap::new(),
                next_writer: 1,
                frame: vec![0u8; FRAME_LEN],
                layout: LayoutBuf::new(),
                spare: None,
                holder: None,
                chunk: ChunkBuf::new(),
                received: 0,
                // Only the boot-time incarnation dies this way: one the
                // supervisor restarted serves on.
                die_at: if userlib::sys::whoami().1 == 0 {
                    userlib::boot_arg()
                } else {
                    0
                },
            }
            .run()
        }
        Err(e) => {
            println!("content: block service unreachable: {e}");
            let refusal = reply_message::<(), ContentError>(&Err(ContentError::NoBlockService {}));
            loop {
                // Answer every call with the reason instead of hanging.
                if let Ok(Incoming::Call { token, .. }) = recv(0) {
                    let _ = token.reply_message(&refusal);
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
            self.counters.calls += 1;
            if self.received == self.die_at {
                println!(
                    "content: exiting at request {} (boot argument)",
                    self.received
                );
                userlib::sys::exit(1);
            }
            // Scheduled cycles (kernel CPU_TIME): the content process's own
            // work, not the block service's or anyone else's meanwhile.
            let t0 = userlib::sys::cpu_time();
            let Dispatched::Reply(token, mut reply) =
                chunk_store::dispatch(&mut self, badge, token, &msg)
            else {
                continue; // no deferred operations
            };
            // The request's held index writes and the chunk data the block
            // client gathered must reach the block service before our
            // caller can commit; after a failure the caller aborts, and
            // they must never leak into a later transaction.
            let ok = reply.label == 0;
            let sent = self.dev.end(ok).and_then(|()| {
                if ok {
                    self.dev.dev.client.send_gathered()
                } else {
                    Ok(())
                }
            });
            if !ok || sent.is_err() {
                self.dev.dev.client.drop_gathered();
                self.dev.forget_all();
            }
            if let Err(e) = sent {
                reply = reply_message::<(), ContentError>(&Err(ContentError::block(e)));
            }
            // A caller that died meanwhile is not our problem. With a
            // piece to hash after the reply, the kernel is told this
            // process goes on computing: a halted second CPU runs the
            // caller now, not at its next tick.
            let _ = if self.hash_pending() {
                token.reply_and_continue(&reply)
            } else {
                token.reply_message(&reply)
            };
            // The held piece's hashing, after the reply (rule list above).
            self.hash_held();
            self.counters.cycles += userlib::sys::cpu_time().wrapping_sub(t0);
        }
    }

    /// Whether a held piece waits to be hashed after the reply.
    fn hash_pending(&self) -> bool {
        self.holder.is_some_and(|(badge, id)| {
            self.sessions
                .get(&badge)
                .and_then(|s| s.writers.get(&id))
                .is_some_and(|w| w.hash_pending())
        })
    }

    /// Hashes the held piece, if any (no I/O: rule 4).
    fn hash_held(&mut self) {
        let Some((badge, id)) = self.holder else {
            return;
        };
        match self
            .sessions
            .get_mut(&badge)
            .and_then(|s| s.writers.get_mut(&id))
        {
            Some(w) => w.hash_held(),
            None => self.holder = None,
        }
    }

    /// Writer `id` of `badge` is going: its held piece's buffer (if it
    /// holds the piece) comes back to the spare.
    fn release(&mut self, badge: u64, id: u64, w: &mut ChunkWriter) {
        if self.holder == Some((badge, id)) {
            self.holder = None;
            if let Some(buf) = w.release_held() {
                self.spare = Some(buf);
            }
        }
    }

    fn session(&mut self, badge: u64) -> &mut Session {
        if !self.sessions.contains_key(&badge) && self.sessions.len() >= MAX_SESSIONS {
            // Bounded: the oldest badge's session goes.
            if let Some(&old) = self.sessions.keys().next() {
                if let Some(mut gone) = self.sessions.remove(&old) {
                    for (id, w) in gone.writers.iter_mut() {
                        self.release(old, *id, w);
                    }
                }
            }
        }
        self.sessions.entry(badge).or_default()
    }

    /// Reads the frame; returns the store it names.
    fn read_frame(&mut self, frame: &Frame) -> Outcome<ContentStore> {
        let n = frame
            .read(0, &mut self.frame)
            .map_err(|e| ContentError::lease(0, e))?;
        let root =
            frame_root(&self.frame[..n]).map_err(|problem| ContentError::BadFrame { problem })?;
        // The cache of index nodes keeps its images only for the root it
        // last ended with (index_cache.rs).
        self.dev.start(&root);
        ContentStore::open(&root).map_err(|e| ContentError::BadRoot {
            problem: RootProblem::of(&e),
        })
    }

    /// The first reference of the frame last read.
    fn frame_ref(&self) -> Outcome<ChunkRef> {
        let mut first = None;
        frame_refs(&self.frame, |r| {
            if first.is_none() {
                first = Some(r)
            }
        })
        .map_err(|problem| ContentError::BadFrame { problem })?;
        first.ok_or(ContentError::BadFrame {
            problem: content_api::FrameError::BadRef { index: 0 },
        })
    }

    /// Writes the store's root and `refs` back into the frame.
    fn write_frame(
        &mut self,
        frame: &Frame,
        store: &mut ContentStore,
        refs: &[ChunkRef],
    ) -> Outcome<()> {
        // Marked changed if the request changed a block: the holder may
        // still abort, and the cache must not take the answered root for
        // the one the request came with (index_cache.rs).
        let root: [u8; ROOT_LEN] = self.dev.answer(store);
        encode_frame(&mut self.frame, &root, refs)
            .map_err(|problem| ContentError::BadFrame { problem })?;
        let len = ROOT_LEN + 4 + refs.len() * ChunkRef::ENCODED_LEN;
        frame
            .write(0, &self.frame[..len])
            .map_err(|e| ContentError::lease(0, e))?;
        Ok(())
    }

    /// `push` (with data) or `finish` (without) of writer `id`. A push's
    /// lease is read in windows straight into a layout buffer, where its
    /// chunks are cut, hashed and written from (`ChunkWriter::write_with`);
    /// a long one is answered before the hashing and the writing, which
    /// the writer's next call finishes (`ChunkWriter::take_with`, the
    /// crate doc's rules). Either begins by storing the piece the writer
    /// holds: the reply's references are those of every chunk stored in
    /// this call, in order.
    fn write_chunks(
        &mut self,
        badge: u64,
        id: u64,
        frame: Frame,
        data: Option<LeaseIn<'_, ReplyToken>>,
    ) -> Outcome<u64> {
        let mut store = self.read_frame(&frame)?;
        let Some(mut writer) = self.session(badge).writers.remove(&id) else {
            return Err(ContentError::NoWriter { writer: id });
        };
        let mut refs = Vec::new();
        let copied = writer.copied_bytes();
        // An error leaves the writer unusable: it stays dropped (and the
        // piece it held with it: rule 2).
        if self.holder == Some((badge, id)) {
            self.holder = None;
        }
        let (settled, buf) = writer.settle(&mut store, &mut self.dev, &mut |c| refs.push(c))?;
        if let Some(buf) = buf {
            self.spare = Some(buf);
        }
        self.counters.pad += settled.padded;
        self.counters.allocations += settled.allocations;
        match &data {
            None => self.finish_writer(&mut store, writer, &mut refs)?,
            Some(d) => {
                // The declaration bounds the lease at PIECE bytes.
                let len = usize::try_from(d.len()).unwrap_or(usize::MAX);
                // One held piece in the service (rule 3).
                if len >= DEFER_MIN && self.holder.is_none() {
                    let buf = self.spare.take().unwrap_or_default();
                    let done = writer.take_with(
                        &mut store,
                        &mut self.dev,
                        buf,
                        len,
                        lease_fill(d),
                        |c| refs.push(c),
                    )?;
                    if writer.holds_piece() {
                        self.holder = Some((badge, id));
                        self.counters.held += 1;
                    }
                    self.count_fed(len, done, writer.copied_bytes() - copied);
                } else {
                    self.write_piece(&mut store, &mut writer, d, &mut refs)?;
                }
                self.session(badge).writers.insert(id, writer);
            }
        }
        self.write_frame(&frame, &mut store, &refs)?;
        Ok(refs.len() as u64)
    }

    /// `store_whole`: a writer of this call only, fed the lease as a
    /// synchronous `push` (never held: everything is stored before the
    /// answer) and finished, so the chunks and references are those of
    /// `writer_start`, `push`, `finish` of the same bytes. The writer is
    /// in no session: an error drops it with the call.
    fn write_whole(&mut self, frame: Frame, data: LeaseIn<'_, ReplyToken>) -> Outcome<u64> {
        let mut store = self.read_frame(&frame)?;
        let mut writer = ChunkWriter::new();
        let mut refs = Vec::new();
        self.write_piece(&mut store, &mut writer, &data, &mut refs)?;
        self.finish_writer(&mut store, writer, &mut refs)?;
        self.write_frame(&frame, &mut store, &refs)?;
        Ok(refs.len() as u64)
    }

    /// `store_whole_forward`: `store_whole` of lease 1's first `len`
    /// bytes, then the request's block writes (the index nodes it rewrote,
    /// the chunk data) handed back over lease 1 instead of sent, when they
    /// fit (the interface's doc). The request is ended here (the held
    /// index writes gathered, the cache valid for the answered root) as
    /// the loop ends every request; the loop's own end then finds nothing
    /// left to send. A failure after this leaves the loop to drop what is
    /// still gathered, as for any failed request.
    fn write_whole_forward(&mut self, frame: Frame, len: u64, data: Frame) -> Outcome<Whole> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > usize::try_from(data.len()).unwrap_or(usize::MAX) {
            return Err(ContentError::lease(1, userlib::abi::Error::BadLease));
        }
        let mut store = self.read_frame(&frame)?;
        let mut writer = ChunkWriter::new();
        let mut refs = Vec::new();
        let fill = |off: usize, into: &mut [u8]| match data.read(off as u64, into) {
            Ok(n) if n == into.len() => Ok(()),
            Ok(_) => Err(ContentError::lease(1, userlib::abi::Error::BadLease)),
            Err(e) => Err(ContentError::lease(1, e)),
        };
        self.write_piece_with(&mut store, &mut writer, len, fill, &mut refs)?;
        self.finish_writer(&mut store, writer, &mut refs)?;
        self.write_frame(&frame, &mut store, &refs)?;
        self.dev.end(true).map_err(ContentError::block)?;
        // Nothing gathered (a chunk stored already: no block written) is
        // nothing to hand over; the kernel refuses an empty lease copy.
        let Some((images, numbers)) = self
            .dev
            .dev
            .client
            .handover(FORWARD_IMAGES)
            .filter(|(_, at)| !at.is_empty())
        else {
            return Ok(Whole {
                refs: refs.len() as u64,
                images: 0,
            });
        };
        let n = numbers.len();
        let at: Vec<u8> = numbers.iter().flat_map(|b| b.to_le_bytes()).collect();
        let written = data
            .write(0, images)
            .and_then(|i| Ok((i, data.write(images.len() as u64, &at)?)))
            .map_err(|e| ContentError::lease(1, e))?;
        if written != (images.len(), at.len()) {
            return Err(ContentError::lease(1, userlib::abi::Error::BadLease));
        }
        // Handed over: the caller sends them in its transaction.
        self.dev.dev.client.drop_gathered();
        self.counters.handed_over += n as u64;
        Ok(Whole {
            refs: refs.len() as u64,
            images: n as u64,
        })
    }

    /// Feeds lease `d` to `writer` through the layout buffer, storing
    /// every chunk it completes before the answer.
    fn write_piece(
        &mut self,
        store: &mut ContentStore,
        writer: &mut ChunkWriter,
        d: &LeaseIn<'_, ReplyToken>,
        refs: &mut Vec<ChunkRef>,
    ) -> Outcome<()> {
        let len = usize::try_from(d.len()).unwrap_or(usize::MAX);
        self.write_piece_with(store, writer, len, lease_fill(d), refs)
    }

    /// Feeds `len` bytes that `fill` reads to `writer` (as `write_piece`).
    fn write_piece_with(
        &mut self,
        store: &mut ContentStore,
        writer: &mut ChunkWriter,
        len: usize,
        fill: impl FnMut(usize, &mut [u8]) -> Outcome<()>,
        refs: &mut Vec<ChunkRef>,
    ) -> Outcome<()> {
        let copied = writer.copied_bytes();
        let done = writer.write_with(store, &mut self.dev, &mut self.layout, len, fill, |c| {
            refs.push(c)
        })?;
        self.count_fed(len, done, writer.copied_bytes() - copied);
        Ok(())
    }

    /// Stores `writer`'s last chunk (after its held piece) and ends it.
    fn finish_writer(
        &mut self,
        store: &mut ContentStore,
        writer: ChunkWriter,
        refs: &mut Vec<ChunkRef>,
    ) -> Outcome<()> {
        let from = refs.len();
        writer.finish(store, &mut self.dev, |c| refs.push(c))?;
        for r in &refs[from..] {
            // `put_chunk` copies a chunk's partial last block to pad it.
            self.counters.pad += u64::from(r.len) % block::BLOCK_SIZE as u64;
        }
        Ok(())
    }

    /// Counts a piece of `len` bytes fed to a writer.
    fn count_fed(&mut self, len: usize, done: content::PutCuts, copied: u64) {
        self.counters.lease_in += len as u64;
        self.counters.pad += done.padded;
        self.counters.allocations += done.allocations;
        self.counters.chunk_buf += copied;
    }
}

/// Reads lease `d` from an offset into a window, whole or an error.
fn lease_fill<'a>(
    d: &'a LeaseIn<'_, ReplyToken>,
) -> impl FnMut(usize, &mut [u8]) -> Outcome<()> + 'a {
    |off: usize, into: &mut [u8]| match d.read(off as u64, into) {
        Ok(n) if n == into.len() => Ok(()),
        Ok(_) => Err(ContentError::lease(1, userlib::abi::Error::BadLease)),
        Err(e) => Err(ContentError::lease(1, e)),
    }
}

/// `content::PutError` etc. convert through `ContentError::from`.
fn fail(e: impl Into<content::Error>) -> ContentError {
    ContentError::from(e.into())
}
