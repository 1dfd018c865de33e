//! `chunk_store::Server` for the [`Service`]: one method per operation of
//! the interface, each on the store its request's frame brings, and the
//! findings of a check written into the reply's lease.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use block::Transactional;
use content::{
    ChunkMarks, ChunkWriter, ContentStore, Findings, GcEpoch, PagedCheck, Sweep, CHECK_PAGE_NODES,
};
use content_api::{
    chunk_store, frame_refs, CheckedPage, ContentError, Hash, SweepStepped, Text, Visited, Whole,
    EXTENT_LEN, MAX_WRITERS, VISIT_MAX,
};
use userlib::abi::iface::{LeaseIn, LeaseOut};
use userlib::ipc::ReplyToken;

use crate::{fail, Frame, Outcome, Service};

impl chunk_store::Server<ReplyToken> for Service {
    fn format(&mut self, _badge: u64, frame: Frame) -> Outcome<()> {
        // No root yet: the only request that brings none; images kept for
        // another store's root are no use.
        self.dev.forget_all();
        let mut store = ContentStore::create(&mut self.dev).map_err(fail)?;
        self.write_frame(&frame, &mut store, &[])
    }

    fn writer_start(&mut self, badge: u64, frame: Frame) -> Outcome<u64> {
        self.read_frame(&frame)?;
        let id = self.next_writer;
        let session = self.session(badge);
        if session.writers.len() >= MAX_WRITERS {
            return Err(ContentError::TooManyWriters {
                max: MAX_WRITERS as u64,
            });
        }
        session.writers.insert(id, ChunkWriter::new());
        self.next_writer += 1;
        Ok(id)
    }

    fn push(
        &mut self,
        badge: u64,
        writer: u64,
        frame: Frame,
        data: LeaseIn<'_, ReplyToken>,
    ) -> Outcome<u64> {
        self.write_chunks(badge, writer, frame, Some(data))
    }

    fn finish(&mut self, badge: u64, writer: u64, frame: Frame) -> Outcome<u64> {
        self.write_chunks(badge, writer, frame, None)
    }

    fn store_whole(
        &mut self,
        _badge: u64,
        frame: Frame,
        data: LeaseIn<'_, ReplyToken>,
    ) -> Outcome<u64> {
        self.write_whole(frame, data)
    }

    fn store_whole_forward(
        &mut self,
        _badge: u64,
        len: u64,
        frame: Frame,
        data: Frame,
    ) -> Outcome<Whole> {
        self.write_whole_forward(frame, len, data)
    }

    fn writer_drop(&mut self, badge: u64, writer: u64) -> Outcome<()> {
        // Its held piece (never stored) goes with it (rule 2).
        if let Some(mut w) = self.session(badge).writers.remove(&writer) {
            self.release(badge, writer, &mut w);
        }
        Ok(())
    }

    fn read_chunk(
        &mut self,
        _badge: u64,
        frame: Frame,
        out: LeaseOut<'_, ReplyToken>,
    ) -> Outcome<u64> {
        let store = self.read_frame(&frame)?;
        let r = self.frame_ref()?;
        let data = store
            .read_chunk(&mut self.dev, &r, &mut self.chunk)
            .map_err(fail)?;
        let n = out.write(0, data).map_err(|e| ContentError::lease(1, e))?;
        self.counters.lease_out += n as u64;
        Ok(n as u64)
    }

    fn locate(&mut self, _badge: u64, frame: Frame, out: LeaseOut<'_, ReplyToken>) -> Outcome<u64> {
        let store = self.read_frame(&frame)?;
        let mut refs = Vec::new();
        frame_refs(&self.frame, |r| refs.push(r))
            .map_err(|problem| ContentError::BadFrame { problem })?;
        let mut bytes: Vec<u8> = Vec::with_capacity(refs.len() * EXTENT_LEN);
        // Up to the first reference not found (or not readable): the caller
        // reads that one with `read_chunk`, whose error says what is wrong.
        store.locate_many(&mut self.dev, &refs, |e| {
            bytes.extend_from_slice(&e.start.to_le_bytes());
            bytes.extend_from_slice(&e.len.to_le_bytes());
        });
        if !bytes.is_empty() {
            out.write(0, &bytes)
                .map_err(|e| ContentError::lease(1, e))?;
        }
        self.counters.located += (bytes.len() / EXTENT_LEN) as u64;
        Ok((bytes.len() / EXTENT_LEN) as u64)
    }

    fn stats(&mut self, _badge: u64, out: LeaseOut<'_, ReplyToken>) -> Outcome<Text> {
        let c = &self.counters;
        let b = self.dev.dev.client.counters();
        let direct = self.dev.dev.direct_bytes;
        let ix = self.dev.stats();
        let text = format!(
            "counters content: calls={} lease_in={} lease_out={} chunk_buf={} pad={} gathered={} direct={} allocations={} block_calls={} located={} held={} handed_over={}\ncontent calls to block: {}\ncontent service: {} Mcycles scheduled to the content process handling requests (its own code and syscalls), {} Mcycles wall waiting for the block service\ncontent index cache: hits={} misses={} root_changes={}\n",
            c.calls,
            c.lease_in,
            c.lease_out,
            c.chunk_buf,
            c.pad,
            b.gathered_bytes,
            direct,
            c.allocations,
            b.calls(),
            c.located,
            c.held,
            c.handed_over,
            b,
            c.cycles / 1_000_000,
            block_api::client::CALL_CYCLES.load(core::sync::atomic::Ordering::Relaxed) / 1_000_000,
            ix.hits,
            ix.misses,
            ix.root_changes,
        );
        let n = text
            .len()
            .min(usize::try_from(out.len()).unwrap_or(usize::MAX));
        out.write(0, &text.as_bytes()[..n])
            .map_err(|e| ContentError::lease(0, e))?;
        Ok(Text {
            written: n as u64,
            needed: text.len() as u64,
        })
    }

    fn contains(&mut self, _badge: u64, frame: Frame) -> Outcome<bool> {
        let store = self.read_frame(&frame)?;
        let r = self.frame_ref()?;
        store.contains(&mut self.dev, &r.hash).map_err(fail)
    }

    fn gc_start(
        &mut self,
        badge: u64,
        epoch: u64,
        dry_run: bool,
        block_count: u64,
        frame: Frame,
    ) -> Outcome<()> {
        let store = self.read_frame(&frame)?;
        if block_count != self.dev.block_count() {
            return Err(ContentError::WrongBlockCount {
                asked: block_count,
                has: self.dev.block_count(),
            });
        }
        let sweep = if dry_run {
            Sweep::dry_run(&store)
        } else {
            Sweep::new(GcEpoch(epoch))
        };
        let session = self.session(badge);
        session.gc = None; // the old marks go before the new ones come
        session.gc = Some((ChunkMarks::new(block_count), sweep));
        Ok(())
    }

    fn mark(&mut self, badge: u64, frame: Frame) -> Outcome<()> {
        let store = self.read_frame(&frame)?;
        let r = self.frame_ref()?;
        let Some((mut marks, sweep)) = self.session(badge).gc.take() else {
            return Err(ContentError::NoCollection {});
        };
        let marked = store.mark(&mut self.dev, &r, &mut marks);
        self.session(badge).gc = Some((marks, sweep));
        marked.map_err(fail)
    }

    fn sweep_step(&mut self, badge: u64, max_scan: u64, frame: Frame) -> Outcome<SweepStepped> {
        let mut store = self.read_frame(&frame)?;
        let Some((marks, mut sweep)) = self.session(badge).gc.take() else {
            return Err(ContentError::NoCollection {});
        };
        let max = usize::try_from(max_scan).unwrap_or(usize::MAX);
        let stepped = store.sweep_step(&mut self.dev, &marks, &mut sweep, max);
        let done = sweep.is_done();
        let report = sweep.report;
        self.session(badge).gc = Some((marks, sweep));
        stepped.map_err(fail)?;
        self.write_frame(&frame, &mut store, &[])?;
        Ok(SweepStepped {
            done,
            scanned: report.scanned,
            chunks: report.chunks,
            bytes: report.bytes,
            blocks: report.blocks,
        })
    }

    fn visit_blocks(
        &mut self,
        _badge: u64,
        resume: bool,
        after: Hash,
        frame: Frame,
        out: LeaseOut<'_, ReplyToken>,
    ) -> Outcome<Visited> {
        let store = self.read_frame(&frame)?;
        let cap = (usize::try_from(out.len()).unwrap_or(0) / EXTENT_LEN).min(VISIT_MAX);
        let mut bytes: Vec<u8> = Vec::with_capacity(cap * EXTENT_LEN);
        let next = store
            .visit_blocks_page(&mut self.dev, resume.then_some(&after.0), cap, |e| {
                bytes.extend_from_slice(&e.start.to_le_bytes());
                bytes.extend_from_slice(&e.len.to_le_bytes());
            })
            .map_err(fail)?;
        if !bytes.is_empty() {
            out.write(0, &bytes)
                .map_err(|e| ContentError::lease(1, e))?;
        }
        Ok(Visited {
            written: (bytes.len() / EXTENT_LEN) as u64,
            last: next.is_none(),
            next: Hash(next.unwrap_or([0; 32])),
        })
    }

    fn check(
        &mut self,
        _badge: u64,
        verify_data: bool,
        frame: Frame,
        out: LeaseOut<'_, ReplyToken>,
    ) -> Outcome<Text> {
        let store = self.read_frame(&frame)?;
        let report = store.check(&mut self.dev, verify_data);
        let text = if report.is_clean() {
            String::new()
        } else {
            format!("{report:?}")
        };
        let n = if text.is_empty() {
            0
        } else {
            out.write(0, text.as_bytes())
                .map_err(|e| ContentError::lease(1, e))?
        };
        Ok(Text {
            written: n as u64,
            needed: text.len() as u64,
        })
    }

    fn check_page(
        &mut self,
        badge: u64,
        fresh: bool,
        verify_data: bool,
        block_count: u64,
        frame: Frame,
        out: LeaseOut<'_, ReplyToken>,
    ) -> Outcome<CheckedPage> {
        let store = self.read_frame(&frame)?;
        if fresh {
            if block_count != self.dev.block_count() {
                return Err(ContentError::WrongBlockCount {
                    asked: block_count,
                    has: self.dev.block_count(),
                });
            }
            let session = self.session(badge);
            session.check = None; // the old marks go before the new ones come
            session.check = Some(PagedCheck::new(block_count, verify_data));
        }
        let Some(mut run) = self.session(badge).check.take() else {
            return Err(ContentError::NoCheck {});
        };
        let found = store.check_page(&mut self.dev, &mut run, CHECK_PAGE_NODES);
        let done = run.is_done();
        self.session(badge).check = Some(run);
        write_findings(&out, &found, done, false)
    }

    fn check_end(
        &mut self,
        badge: u64,
        unchanged: bool,
        frame: Frame,
        out: LeaseOut<'_, ReplyToken>,
    ) -> Outcome<CheckedPage> {
        let store = self.read_frame(&frame)?;
        let Some(run) = self.session(badge).check.take() else {
            return Err(ContentError::NoCheck {});
        };
        match store.check_end(&run, unchanged) {
            (_, Some(note)) => {
                let mut f = Findings::default();
                f.push(note);
                f.count = 0;
                write_findings(&out, &f, true, true)
            }
            (found, None) => write_findings(&out, &found, true, false),
        }
    }
}

/// `found`'s lines into lease 1 (those that fit).
fn write_findings(
    out: &LeaseOut<'_, ReplyToken>,
    found: &Findings,
    done: bool,
    note: bool,
) -> Outcome<CheckedPage> {
    let mut text = String::new();
    for t in &found.texts {
        text.push_str(t);
        text.push('\n');
    }
    let n = if text.is_empty() {
        0
    } else {
        out.write(0, text.as_bytes())
            .map_err(|e| ContentError::lease(1, e))?
    };
    Ok(CheckedPage {
        written: n as u64,
        needed: text.len() as u64,
        count: found.count,
        done,
        note,
    })
}
