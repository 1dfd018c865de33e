//! [`NodeView`]: a node verified in place, its entries located but not
//! copied, and the images built from it without decoding (a changed leaf,
//! a branch with one child replaced). The byte layout is the parent
//! module's.

use alloc::vec::Vec;

use super::{
    node_checksum, BranchEntry, Entries, LeafEntry, Node, NodeDecodeError, BRANCH_ENTRY_OVERHEAD,
    CAPACITY, HEADER_LEN, LEAF_ENTRY_OVERHEAD, MAGIC, MAX_KEY_LEN, MAX_LEVEL, MAX_VALUE_LEN,
    NODE_SIZE, OFF_COUNT, OFF_GENERATION, OFF_RESERVED1, OFF_RESERVED2, OFF_USED,
};

/// Where one entry's parts are in the image.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    /// Offset of the key; a branch's child pointer is the 8 bytes before it.
    pub key_at: u16,
    pub key_len: u8,
    /// Leaf only: the value follows the key.
    pub value_len: u16,
}

/// A node verified in place: the checks of [`Node::decode`] (checksum,
/// limits, key order, zero tail), with entries located but not copied.
/// Lookups use it to avoid allocating per entry.
pub struct NodeView<'a> {
    image: &'a [u8; NODE_SIZE],
    pub generation: u64,
    pub level: u8,
    spans: Vec<Span>,
}

/// A block of zeros to compare node tails against.
pub(super) static ZEROS: [u8; NODE_SIZE] = [0; NODE_SIZE];

/// A node's header, checked: everything [`NodeView::parse`] checks before
/// the entries (with the checksum when `verify`), shared with the probes
/// of one key ([`super::Probe`]) so both reject the same bytes alike.
pub(super) struct Header<'a> {
    pub image: &'a [u8; NODE_SIZE],
    pub generation: u64,
    pub level: u8,
    pub count: usize,
    /// Bytes of entries, at most [`CAPACITY`].
    pub used: usize,
}

/// The fewest bytes an entry takes at `level`: a leaf's key and value
/// lengths, or a branch's key length and child pointer.
pub(super) fn entry_overhead(level: u8) -> usize {
    if level == 0 {
        LEAF_ENTRY_OVERHEAD
    } else {
        BRANCH_ENTRY_OVERHEAD
    }
}

impl<'a> Header<'a> {
    pub fn parse(block: u64, bytes: &'a [u8], verify: bool) -> Result<Self, NodeDecodeError> {
        let image: &[u8; NODE_SIZE] = bytes
            .try_into()
            .map_err(|_| NodeDecodeError::WrongSize { len: bytes.len() })?;
        let mut r = Reader {
            bytes: image,
            at: 0,
        };
        let magic = r.array::<4>().unwrap_or_default();
        if magic != MAGIC {
            return Err(NodeDecodeError::BadMagic { found: magic });
        }
        let stored = u32::from_le_bytes(r.array::<4>().unwrap_or_default());
        if verify {
            let computed = node_checksum(block, image);
            if stored != computed {
                return Err(NodeDecodeError::ChecksumMismatch { stored, computed });
            }
        }
        let generation = u64::from_le_bytes(r.array::<8>().unwrap_or_default());
        let level = r.u8().unwrap_or_default();
        if level > MAX_LEVEL {
            return Err(NodeDecodeError::LevelTooHigh { level });
        }
        if r.u8() != Some(0) {
            return Err(NodeDecodeError::ReservedNotZero {
                offset: OFF_RESERVED1,
            });
        }
        let count = usize::from(u16::from_le_bytes(r.array::<2>().unwrap_or_default()));
        let used = usize::from(u16::from_le_bytes(r.array::<2>().unwrap_or_default()));
        for offset in OFF_RESERVED2..HEADER_LEN {
            if r.u8() != Some(0) {
                return Err(NodeDecodeError::ReservedNotZero { offset });
            }
        }
        if used > CAPACITY {
            return Err(NodeDecodeError::UsedTooLarge { used });
        }
        if level != 0 && count == 0 {
            return Err(NodeDecodeError::EmptyBranch);
        }
        Ok(Header {
            image,
            generation,
            level,
            count,
            used,
        })
    }
}

impl<'a> NodeView<'a> {
    /// Verifies the node stored at `block`. Never panics, whatever the bytes.
    pub fn parse(block: u64, bytes: &'a [u8]) -> Result<Self, NodeDecodeError> {
        Self::parse_checked(block, bytes, true)
    }

    /// Locates the entries of an image that [`NodeView::parse`] already
    /// verified as the node at `block` (a device's cache of verified nodes,
    /// [`block::Transactional::read_verified`]): the checksum, key order and
    /// zero tail are not checked again, every bound still is, so this never
    /// panics either.
    pub fn parse_verified(block: u64, bytes: &'a [u8]) -> Result<Self, NodeDecodeError> {
        Self::parse_checked(block, bytes, false)
    }

    fn parse_checked(block: u64, bytes: &'a [u8], verify: bool) -> Result<Self, NodeDecodeError> {
        let Header {
            image,
            generation,
            level,
            count,
            used,
        } = Header::parse(block, bytes, verify)?;
        let end = HEADER_LEN + used;
        let area = image
            .get(..end)
            .ok_or(NodeDecodeError::UsedTooLarge { used })?;
        let mut r = Reader {
            bytes: area,
            at: HEADER_LEN,
        };
        let leaf = level == 0;
        // Each entry takes at least its overhead, so `count` is bounded by
        // `used` before anything is allocated from it.
        let overhead = entry_overhead(level);
        let mut spans: Vec<Span> = Vec::with_capacity(count.min(used / overhead));
        let mut prev: Option<&[u8]> = None;
        for index in 0..count {
            let offset = r.at;
            let overrun = NodeDecodeError::EntryOverrun { index, offset };
            let key_len = r.u8().ok_or(overrun.clone())?;
            let value_len = if leaf {
                let len = u16::from_le_bytes(r.array::<2>().ok_or(overrun.clone())?);
                if usize::from(len) > MAX_VALUE_LEN {
                    return Err(NodeDecodeError::ValueTooLong {
                        index,
                        len: usize::from(len),
                    });
                }
                len
            } else {
                r.array::<8>().ok_or(overrun.clone())?;
                0
            };
            let key_at = r.at as u16;
            let key = r.take(usize::from(key_len)).ok_or(overrun.clone())?;
            r.take(usize::from(value_len)).ok_or(overrun)?;
            if !leaf && index == 0 && !key.is_empty() {
                return Err(NodeDecodeError::FirstBranchKeyNotEmpty {
                    len: usize::from(key_len),
                });
            }
            if verify && prev.is_some_and(|p| p >= key) {
                return Err(NodeDecodeError::KeysOutOfOrder { index });
            }
            prev = Some(key);
            spans.push(Span {
                key_at,
                key_len,
                value_len,
            });
        }
        if r.at != end {
            return Err(NodeDecodeError::CountMismatch {
                count,
                used,
                consumed: r.at - HEADER_LEN,
            });
        }
        // Bytes past the entries must be zero: the encoder writes them so, and
        // anything else means the node was not written by us.
        let tail = image.get(end..).unwrap_or_default();
        if verify && tail != ZEROS.get(..tail.len()).unwrap_or_default() {
            let at = tail.iter().position(|&b| b != 0).unwrap_or(0);
            return Err(NodeDecodeError::ReservedNotZero { offset: end + at });
        }
        Ok(NodeView {
            image,
            generation,
            level,
            spans,
        })
    }

    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn bytes(&self, at: usize, len: usize) -> &'a [u8] {
        // Spans were bounds-checked by `parse`.
        self.image.get(at..at + len).unwrap_or_default()
    }

    /// Key of entry `i` (`i < len()`).
    pub fn key(&self, i: usize) -> &'a [u8] {
        let s = self.spans[i];
        self.bytes(usize::from(s.key_at), usize::from(s.key_len))
    }

    /// Value of leaf entry `i` (`i < len()`).
    pub fn value(&self, i: usize) -> &'a [u8] {
        let s = self.spans[i];
        self.bytes(
            usize::from(s.key_at) + usize::from(s.key_len),
            usize::from(s.value_len),
        )
    }

    /// Child of branch entry `i` (`i < len()`).
    pub fn child(&self, i: usize) -> u64 {
        let at = usize::from(self.spans[i].key_at) - 8;
        u64::from_le_bytes(self.bytes(at, 8).try_into().unwrap_or_default())
    }

    /// Number of entries whose key is <= `key` (leaf or branch).
    pub fn count_at_or_below(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes of entries (the header's `USED`).
    fn used(&self) -> usize {
        self.spans.last().map_or(HEADER_LEN, |s| {
            usize::from(s.key_at) + usize::from(s.key_len) + usize::from(s.value_len)
        }) - HEADER_LEN
    }

    /// Where entry `i` starts (its length byte); the end of the entries
    /// for `i == len()`.
    fn entry_start(&self, i: usize) -> usize {
        let overhead = entry_overhead(self.level);
        self.spans.get(i).map_or(HEADER_LEN + self.used(), |s| {
            usize::from(s.key_at) - overhead
        })
    }

    /// This leaf's image with `key` = `value` put at entry `i` (replacing
    /// entry `i` when `replace`, else inserted before it), stamped with
    /// `generation`, to be [`seal`]ed; `None` when it would not fit (the
    /// caller splits through [`Node`]). The bytes around the entry are
    /// copied as they are: a change costs no allocation per entry, where
    /// decoding into a [`Node`] and encoding again allocates two per entry
    /// (issue #13). The caller keeps `i` in `0..=len()` (`< len()` when
    /// replacing) and the key order.
    pub fn leaf_with(
        &self,
        i: usize,
        replace: bool,
        key: &[u8],
        value: &[u8],
        generation: u64,
    ) -> Option<[u8; NODE_SIZE]> {
        if !self.is_leaf() || i > self.len() || (replace && i >= self.len()) {
            return None;
        }
        let start = self.entry_start(i);
        let end = if replace {
            self.entry_start(i + 1)
        } else {
            start
        };
        let (count, used) = (self.len(), self.used());
        let mut out = [0u8; NODE_SIZE];
        splice_leaf(
            &mut out,
            self.image,
            count,
            used,
            start..end,
            key,
            value,
            generation,
        )
        .then_some(out)
    }

    /// This branch's image with child `i` (`< len()`) pointing at `child`,
    /// stamped with `generation`, to be [`seal`]ed.
    pub fn branch_with_child(&self, i: usize, child: u64, generation: u64) -> [u8; NODE_SIZE] {
        let mut out = [0u8; NODE_SIZE];
        let at = self
            .spans
            .get(i)
            .filter(|_| !self.is_leaf())
            .map(|s| usize::from(s.key_at) - 8);
        patch_child(
            &mut out,
            self.image,
            at,
            child,
            generation,
            self.len(),
            self.used(),
        );
        out
    }

    /// This leaf with the entries of `run` (keys in non-decreasing order,
    /// each within the key and value limits) put in one after the other,
    /// as that many single inserts would leave it, written into `out`
    /// (every byte of it) in one pass, stamped with `generation`, to be
    /// [`super::seal`]ed. Stops before the first entry that would not fit
    /// (a single insert would split the leaf there): [`Merged::taken`]
    /// entries of `run` are in. An entry equal to what the leaf holds
    /// already changes nothing, as a single insert leaves such a leaf
    /// alone; `out` is written only when [`Merged::changed`]. A key given
    /// twice ends with its last value. The batched insert's leaf step
    /// (`tree::batch`): one image per leaf and run, not one per entry.
    pub(crate) fn merge_run_into<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        out: &mut [u8; NODE_SIZE],
        run: &[(K, V)],
        generation: u64,
    ) -> Merged {
        let mut merged = Merged::default();
        if !self.is_leaf() {
            return merged;
        }
        let n = self.len();
        let mut used = self.used();
        let mut count = n;
        // Entries before `copied` are in `out` (or replaced); `next` is the
        // first entry whose key is at or above the run's current key.
        let (mut copied, mut next) = (0, 0);
        let mut at = HEADER_LEN;
        // Where the last entry written from the run starts in `out`, and
        // its index in `run` (a repeated key replaces it there).
        let mut last: Option<(usize, usize)> = None;
        for (t, (key, value)) in run.iter().enumerate() {
            let (key, value) = (key.as_ref(), value.as_ref());
            if key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
                break;
            }
            next += self.spans[next..].partition_point(|s| {
                let k = usize::from(s.key_at);
                self.image[k..k + usize::from(s.key_len)] < *key
            });
            let repeated = last.filter(|&(_, lt)| run[lt].0.as_ref() == key);
            let existing = (next < n && self.key(next) == key).then_some(next);
            let current = match (repeated, existing) {
                (Some((_, lt)), _) => Some(run[lt].1.as_ref()),
                (None, Some(e)) => Some(self.value(e)),
                (None, None) => None,
            };
            if current == Some(value) {
                merged.taken += 1;
                continue;
            }
            let size = LEAF_ENTRY_OVERHEAD + key.len() + value.len();
            let now = match current {
                Some(c) => used - (LEAF_ENTRY_OVERHEAD + key.len() + c.len()) + size,
                None => used + size,
            };
            if now > CAPACITY {
                break;
            }
            used = now;
            match repeated {
                // The run's entry for this key is the last one in `out`.
                Some((start, _)) => at = start,
                None => {
                    let (from, to) = (self.entry_start(copied), self.entry_start(next));
                    if !merged.changed {
                        out[..HEADER_LEN].copy_from_slice(&self.image[..HEADER_LEN]);
                    }
                    out[at..at + (to - from)].copy_from_slice(&self.image[from..to]);
                    at += to - from;
                    copied = next + usize::from(existing.is_some());
                    if existing.is_none() {
                        count += 1;
                        merged.new_keys += 1;
                    }
                }
            }
            last = Some((at, t));
            out[at] = key.len() as u8;
            out[at + 1..at + LEAF_ENTRY_OVERHEAD]
                .copy_from_slice(&(value.len() as u16).to_le_bytes());
            at += LEAF_ENTRY_OVERHEAD;
            out[at..at + key.len()].copy_from_slice(key);
            at += key.len();
            out[at..at + value.len()].copy_from_slice(value);
            at += value.len();
            merged.taken += 1;
            merged.changed = true;
        }
        if merged.changed {
            let (from, to) = (self.entry_start(copied), self.entry_start(n));
            out[at..at + (to - from)].copy_from_slice(&self.image[from..to]);
            at += to - from;
            debug_assert_eq!(at, HEADER_LEN + used);
            out[at..].fill(0);
            stamp(out, generation, count, used);
        }
        merged
    }

    /// Copies the entries out.
    pub fn to_node(&self) -> Node {
        let n = self.len();
        let entries = if self.is_leaf() {
            Entries::Leaf(
                (0..n)
                    .map(|i| LeafEntry {
                        key: self.key(i).to_vec(),
                        value: self.value(i).to_vec(),
                    })
                    .collect(),
            )
        } else {
            Entries::Branch(
                (0..n)
                    .map(|i| BranchEntry {
                        key: self.key(i).to_vec(),
                        child: self.child(i),
                    })
                    .collect(),
            )
        };
        Node {
            generation: self.generation,
            level: self.level,
            entries,
        }
    }
}

/// What [`NodeView::merge_run_into`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Entries of the run that are in the leaf now (a prefix of it).
    pub taken: usize,
    /// Whether any of them changed the leaf (then `out` holds its image).
    pub changed: bool,
    /// How many of them were keys the leaf did not hold.
    pub new_keys: u64,
}

/// Writes into `out` the leaf `image` of `count` entries in `used` bytes
/// with the entry bytes `old` replaced by (or, when empty, `key` = `value`
/// inserted at) it, stamped with `generation`; `false` (and `out` as it
/// was) when it would not fit. The caller gives entry boundaries within
/// the used bytes and keeps the key order. Every byte of `out` is written
/// (the tail past the entries zeroed): any buffer will do, and the entries
/// are copied once, not zeroed first.
#[allow(clippy::too_many_arguments)]
pub(super) fn splice_leaf(
    out: &mut [u8; NODE_SIZE],
    image: &[u8; NODE_SIZE],
    count: usize,
    used: usize,
    old: core::ops::Range<usize>,
    key: &[u8],
    value: &[u8],
    generation: u64,
) -> bool {
    let (start, end) = (old.start, old.end);
    let old_end = HEADER_LEN + used;
    if start > end || end > old_end || start < HEADER_LEN {
        return false;
    }
    let added = LEAF_ENTRY_OVERHEAD + key.len() + value.len();
    let used = used - (end - start) + added;
    if used > CAPACITY || key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
        return false;
    }
    let count = count + usize::from(start == end);
    out[..start].copy_from_slice(&image[..start]);
    let mut at = start;
    out[at] = key.len() as u8;
    out[at + 1..at + 3].copy_from_slice(&(value.len() as u16).to_le_bytes());
    at += LEAF_ENTRY_OVERHEAD;
    out[at..at + key.len()].copy_from_slice(key);
    at += key.len();
    out[at..at + value.len()].copy_from_slice(value);
    at += value.len();
    out[at..at + (old_end - end)].copy_from_slice(&image[end..old_end]);
    out[HEADER_LEN + used..].fill(0);
    stamp(out, generation, count, used);
    true
}

/// Writes into `out` the branch `image` of `count` entries in `used` bytes
/// with the child pointer at byte `at` (if any) set to `child`, stamped
/// with `generation`. Every byte of `out` is written.
pub(super) fn patch_child(
    out: &mut [u8; NODE_SIZE],
    image: &[u8; NODE_SIZE],
    at: Option<usize>,
    child: u64,
    generation: u64,
    count: usize,
    used: usize,
) {
    out.copy_from_slice(image);
    if let Some(at) = at {
        out[at..at + 8].copy_from_slice(&child.to_le_bytes());
    }
    stamp(out, generation, count, used);
}

/// Writes the header fields a change moves (the magic and level stay).
pub(super) fn stamp(out: &mut [u8; NODE_SIZE], generation: u64, count: usize, used: usize) {
    out[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&generation.to_le_bytes());
    out[OFF_COUNT..OFF_COUNT + 2].copy_from_slice(&(count as u16).to_le_bytes());
    out[OFF_USED..OFF_USED + 2].copy_from_slice(&(used as u16).to_le_bytes());
}

/// Bounds-checked cursor over bytes from the disk.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|s| s.first().copied())
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }
}
