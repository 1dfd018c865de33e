//! The fresh-write buffer: unjournaled (`write_fresh`) data of the open
//! transaction, held in memory and sent to the device as one batch.
//!
//! Writing each fresh extent as its own device request costs one round trip
//! per request on a device behind IPC (the virtio-blk service), with one
//! request in flight. Gathering them lets the store hand the device one
//! `submit` batch, adjacent extents merged into one request, all in flight
//! at once.
//!
//! The buffer holds no more than the bound its owner gives (`BlockStore`
//! sends it to the device before it would grow past it), and is empty
//! outside a transaction: the store sends it before the commit's ordered-data
//! flush, and drops it on abort.
//!
//! The buffer's memory stays initialized between transactions: `data`
//! only grows (its bytes past `filled` are stale), so a `push_with` fills
//! its lease read over old bytes instead of zeroing every byte first
//! (issue #13: that zero fill was a pass over every byte of a large put,
//! 1.3-2.9 % of its CPU). Each byte of the buffer is zeroed once, when the
//! buffer first grows over it ([`FreshBuffer::zeroed_bytes`]).
//!
//! # Invariants
//! - `extents` maps the first block of each buffered write to its length in
//!   blocks and its byte offset in `data`; no two extents overlap, and
//!   each lies inside `data[..filled]`.
//! - `filled` is the sum of the extents' lengths times BLOCK_SIZE, and at
//!   most `data.len()`; nothing reads `data[filled..]`.
//! - `tail`, when set, is the extent whose bytes end `data[..filled]`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::{IoRequest, BLOCK_SIZE};

#[derive(Default)]
pub(crate) struct FreshBuffer {
    extents: BTreeMap<u64, Span>,
    data: Vec<u8>,
    /// Bytes of `data` that are buffered writes (the rest is stale).
    filled: usize,
    tail: Option<u64>,
    /// Bytes of `data` zero-filled as it grew, over the buffer's life.
    #[cfg(test)]
    zeroed: u64,
}

/// What [`FreshBuffer::undo`] needs to take a push back.
#[derive(Clone, Copy)]
pub(crate) struct Pushed {
    first: u64,
    blocks: u64,
    /// It extended the extent that was the tail.
    extended: bool,
    /// The tail before it.
    tail: Option<u64>,
}

/// Where one buffered extent's bytes are.
#[derive(Clone, Copy)]
struct Span {
    blocks: u64,
    offset: usize,
}

impl FreshBuffer {
    /// Bytes buffered.
    pub(crate) fn bytes(&self) -> usize {
        self.filled
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Bytes zero-filled as the buffer grew (a deterministic count for
    /// tests: at most its largest size, not once per byte pushed).
    #[cfg(test)]
    pub(crate) fn zeroed_bytes(&self) -> u64 {
        self.zeroed
    }

    /// `data[filled..filled + len]`, grown (zeroed) where `data` is
    /// shorter; `capacity` is reserved once so the buffer never
    /// reallocates past it.
    fn room(&mut self, len: usize, capacity: usize) -> &mut [u8] {
        let end = self.filled + len;
        if self.data.len() < end {
            self.data
                .reserve_exact(capacity.max(end).saturating_sub(self.data.len()));
            #[cfg(test)]
            {
                self.zeroed += (end - self.data.len()) as u64;
            }
            self.data.resize(end, 0);
        }
        &mut self.data[self.filled..end]
    }

    /// True when any block of `first..first + blocks` is buffered.
    pub(crate) fn overlaps(&self, first: u64, blocks: u64) -> bool {
        let end = first.saturating_add(blocks);
        // The extent starting at or before `first`, and any starting inside.
        let before = self
            .extents
            .range(..=first)
            .next_back()
            .is_some_and(|(start, span)| start + span.blocks > first);
        before || self.extents.range(first..end).next().is_some()
    }

    /// Buffers `data` (whole blocks) for blocks `first..`. The caller has
    /// checked that they overlap nothing buffered (`overlaps`) and that the
    /// bound allows them; `capacity` is that bound in bytes, reserved once
    /// so the buffer never reallocates past it.
    pub(crate) fn push(&mut self, first: u64, data: &[u8], capacity: usize) {
        debug_assert!(data.len().is_multiple_of(BLOCK_SIZE) && !data.is_empty());
        self.room(data.len(), capacity).copy_from_slice(data);
        self.filled += data.len();
        self.record(first, (data.len() / BLOCK_SIZE) as u64);
    }

    /// As [`FreshBuffer::push`] of `len` bytes that `fill` writes straight
    /// into the buffer (no copy through the caller's own buffer). When
    /// `fill` fails the buffer is as before and its error is returned.
    pub(crate) fn push_with<E>(
        &mut self,
        first: u64,
        len: usize,
        capacity: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Pushed, E> {
        debug_assert!(len.is_multiple_of(BLOCK_SIZE) && len > 0);
        // A failed fill leaves stale bytes past `filled`: nothing.
        fill(self.room(len, capacity))?;
        self.filled += len;
        let tail = self.tail;
        let extended = self.record(first, (len / BLOCK_SIZE) as u64);
        Ok(Pushed {
            first,
            blocks: (len / BLOCK_SIZE) as u64,
            extended,
            tail,
        })
    }

    /// Takes back the last push (`pushed`, from [`FreshBuffer::push_with`]
    /// with nothing pushed since): the buffer is as before it.
    pub(crate) fn undo(&mut self, pushed: Pushed) {
        let len = pushed.blocks as usize * BLOCK_SIZE;
        self.filled = self.filled.saturating_sub(len);
        if pushed.extended {
            if let Some(span) = pushed.tail.and_then(|t| self.extents.get_mut(&t)) {
                span.blocks -= pushed.blocks;
            }
        } else {
            self.extents.remove(&pushed.first);
        }
        self.tail = pushed.tail;
    }

    /// Records the `blocks` blocks just appended to `data` as the image of
    /// `first..`; true when they extended the last extent.
    fn record(&mut self, first: u64, blocks: u64) -> bool {
        debug_assert!(!self.overlaps(first, blocks));
        // A write that continues the last one on disk and in memory extends
        // it: one request instead of two, without copying.
        if let Some(span) = self
            .tail
            .and_then(|t| self.extents.get_mut(&t).map(|s| (t, s)))
            .filter(|(t, s)| t + s.blocks == first)
            .map(|(_, s)| s)
        {
            span.blocks += blocks;
            true
        } else {
            let offset = self.filled - blocks as usize * BLOCK_SIZE;
            self.extents.insert(first, Span { blocks, offset });
            self.tail = Some(first);
            false
        }
    }

    /// The buffered image of `block`, if it is buffered.
    pub(crate) fn get(&self, block: u64) -> Option<&[u8]> {
        let (start, span) = self.extents.range(..=block).next_back()?;
        if block >= start + span.blocks {
            return None;
        }
        let at = span.offset + (block - start) as usize * BLOCK_SIZE;
        self.data[..self.filled].get(at..at + BLOCK_SIZE)
    }

    /// The buffered writes as device requests in block order; extents that
    /// follow each other both on disk and in the buffer are one request.
    pub(crate) fn requests(&self) -> Vec<IoRequest<'_>> {
        let mut runs: Vec<(u64, u64, usize)> = Vec::new();
        for (&start, span) in &self.extents {
            match runs.last_mut() {
                Some((first, blocks, offset))
                    if *first + *blocks == start
                        && *offset + *blocks as usize * BLOCK_SIZE == span.offset =>
                {
                    *blocks += span.blocks
                }
                _ => runs.push((start, span.blocks, span.offset)),
            }
        }
        runs.into_iter()
            .map(|(first, blocks, offset)| IoRequest::Write {
                first,
                data: &self.data[..self.filled][offset..offset + blocks as usize * BLOCK_SIZE],
            })
            .collect()
    }

    /// Forgets everything buffered (after it was written, or on abort). The
    /// memory, initialized, stays for the next transaction.
    pub(crate) fn clear(&mut self) {
        self.extents.clear();
        self.filled = 0;
        self.tail = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn image(v: u8, blocks: usize) -> Vec<u8> {
        vec![v; blocks * BLOCK_SIZE]
    }

    #[test]
    fn adjacent_writes_become_one_request() {
        let mut b = FreshBuffer::default();
        b.push(10, &image(1, 2), 64 * BLOCK_SIZE);
        b.push(12, &image(2, 1), 64 * BLOCK_SIZE);
        b.push(20, &image(3, 1), 64 * BLOCK_SIZE);
        // Out of order but adjacent on disk and in memory to nothing: its own.
        b.push(5, &image(4, 1), 64 * BLOCK_SIZE);
        let r = b.requests();
        let shape: Vec<(u64, u64)> = r.iter().map(|r| (r.first(), r.blocks())).collect();
        assert_eq!(shape, vec![(5, 1), (10, 3), (20, 1)]);
        assert_eq!(b.bytes(), 5 * BLOCK_SIZE);
        assert_eq!(b.get(11).unwrap()[0], 1);
        assert_eq!(b.get(12).unwrap()[0], 2);
        assert_eq!(b.get(5).unwrap()[0], 4);
        assert!(b.get(13).is_none() && b.get(4).is_none() && b.get(21).is_none());
    }

    #[test]
    fn a_filled_push_is_a_push_and_undo_takes_it_back() {
        let mut b = FreshBuffer::default();
        b.push(10, &image(1, 2), 64 * BLOCK_SIZE);
        // Continues the tail on disk and in memory: extends it.
        let p = b
            .push_with(12, 2 * BLOCK_SIZE, 64 * BLOCK_SIZE, |buf| {
                buf.fill(2);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(b.get(13).unwrap()[0], 2);
        assert_eq!(b.requests().len(), 1);
        b.undo(p);
        assert!(b.get(12).is_none() && b.bytes() == 2 * BLOCK_SIZE);
        // Elsewhere: its own extent; undone, the old tail is extended again.
        let p = b
            .push_with(30, BLOCK_SIZE, 64 * BLOCK_SIZE, |buf| {
                buf.fill(3);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(b.get(30).unwrap()[0], 3);
        b.undo(p);
        assert!(b.get(30).is_none());
        b.push(12, &image(4, 1), 64 * BLOCK_SIZE);
        let shape: Vec<(u64, u64)> = b
            .requests()
            .iter()
            .map(|r| (r.first(), r.blocks()))
            .collect();
        assert_eq!(shape, vec![(10, 3)]);
        // A failed fill leaves nothing behind.
        assert_eq!(
            b.push_with(40, BLOCK_SIZE, 64 * BLOCK_SIZE, |_| Err("lease gone"))
                .err(),
            Some("lease gone")
        );
        assert!(b.get(40).is_none() && b.bytes() == 3 * BLOCK_SIZE);
    }

    #[test]
    fn memory_is_zeroed_once_not_per_push() {
        let cap = 8 * BLOCK_SIZE;
        let mut b = FreshBuffer::default();
        for round in 0..3u8 {
            for i in 0..4u64 {
                b.push_with(i * 2, 2 * BLOCK_SIZE, cap, |buf| {
                    buf.fill(round * 10 + i as u8);
                    Ok::<(), ()>(())
                })
                .unwrap();
            }
            assert_eq!(b.bytes(), cap);
            for i in 0..8u64 {
                assert!(b
                    .get(i)
                    .unwrap()
                    .iter()
                    .all(|&x| x == round * 10 + i as u8 / 2));
            }
            let shape: Vec<(u64, u64)> = b
                .requests()
                .iter()
                .map(|r| (r.first(), r.blocks()))
                .collect();
            assert_eq!(shape, vec![(0, 8)]);
            b.clear();
            assert!(b.is_empty() && b.get(0).is_none() && b.requests().is_empty());
        }
        // Three transactions of 8 blocks each: the memory was zeroed once
        // (every push zeroed its bytes before: 24 blocks).
        assert_eq!(b.zeroed_bytes(), cap as u64);
        // Stale bytes past what is buffered are never served.
        b.push(3, &image(7, 1), cap);
        assert!(b.get(4).is_none() && b.bytes() == BLOCK_SIZE);
        assert_eq!(b.requests().len(), 1);
        assert_eq!(b.requests()[0].blocks(), 1);
    }

    #[test]
    fn overlap_is_seen_from_either_side() {
        let mut b = FreshBuffer::default();
        b.push(10, &image(1, 4), 16 * BLOCK_SIZE);
        assert!(b.overlaps(13, 1));
        assert!(b.overlaps(8, 3));
        assert!(b.overlaps(9, 10));
        assert!(!b.overlaps(14, 2));
        assert!(!b.overlaps(6, 4));
        b.clear();
        assert!(b.is_empty() && !b.overlaps(10, 4) && b.requests().is_empty());
    }
}
