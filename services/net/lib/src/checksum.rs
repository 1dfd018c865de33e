//! Checksum verification of received IPv4 headers and TCP segments, done
//! here before a frame reaches smoltcp (whose receive-side checks for IPv4
//! and TCP are switched off in [`crate::device::QueueDevice`]).
//!
//! Why not smoltcp's own: `smoltcp::wire::ip::checksum::data` adds one
//! big-endian 16-bit word at a time. Under TCG every guest load is a
//! soft-TLB lookup, so a 1,460-byte segment cost ~730 of them; this sums
//! eight bytes per load (64-bit adds, carries counted apart, four per loop
//! turn) and folds once at the end. The Internet
//! checksum is byte-order independent (RFC 1071, 2.B): summing
//! little-endian words and swapping the folded result gives the same value.
//! No checksum crate is in this project's offline registry, hence by hand;
//! the host tests compare it with smoltcp's on every length and offset.
//!
//! Nothing is skipped: QEMU's user network offers no receive checksum
//! offload (`VIRTIO_NET_F_GUEST_CSUM` is not offered without a vnet-header
//! backend and `VIRTIO_NET_HDR_F_DATA_VALID` is never set), so every IPv4
//! header and every TCP segment is verified, here instead of in smoltcp.

/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERNET_HEADER: usize = 14;
const PROTO_TCP: u8 = 6;

/// A partial one's-complement sum of `data` as little-endian 16-bit
/// words, below 2^62 (not folded); [`fold`] finishes it, and two partial
/// sums may be added first. 64-bit words are added with their carries
/// counted apart (2^64 is 1 modulo 0xFFFF), four per loop turn: about
/// three instructions per 8 bytes and no overflow check.
fn partial(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut carries: u64 = 0;
    let mut add = |v: u64| {
        let (s, c) = acc.overflowing_add(v);
        acc = s;
        carries = carries.wrapping_add(c as u64);
    };
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        add(word(b, 0));
        add(word(b, 8));
        add(word(b, 16));
        add(word(b, 24));
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        add(word(w, 0));
    }
    let mut rest = words.remainder();
    while rest.len() >= 2 {
        add(u16::from_le_bytes([rest[0], rest[1]]) as u64);
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        add(b as u64); // the odd byte is the high byte of a big-endian word
    }
    // Each part is below 2^32 + a frame's count of carries.
    (acc & 0xFFFF_FFFF) + (acc >> 32) + carries
}

/// The little-endian word at `b[i..i + 8]` (callers pass 8-byte-aligned
/// offsets inside `chunks_exact` slices, so the checks fold away).
#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes([
        b[i],
        b[i + 1],
        b[i + 2],
        b[i + 3],
        b[i + 4],
        b[i + 5],
        b[i + 6],
        b[i + 7],
    ])
}

/// Folds a partial sum to 16 bits and returns it in network order.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    (acc as u16).swap_bytes()
}

/// The one's-complement sum of `data` as big-endian 16-bit words (what
/// RFC 1071 calls the checksum before its final complement). A header or
/// segment with a correct checksum field sums to `0xFFFF`.
pub fn sum(data: &[u8]) -> u16 {
    fold(partial(data))
}

/// What [`verify_frame`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not IPv4 (ARP): nothing to verify here.
    NotIpv4,
    /// IPv4 header verified; not TCP (smoltcp checks what it handles).
    Ipv4,
    /// IPv4 header and the whole TCP segment verified.
    Tcp,
    /// Drop it: a bad header checksum, bad lengths, a bad TCP checksum, or
    /// a TCP fragment (this stack does not reassemble, so a fragment's
    /// segment checksum cannot be checked).
    Bad,
}

/// Verifies an Ethernet frame's IPv4 header checksum and, for TCP, the
/// segment checksum over the pseudo-header.
pub fn verify_frame(frame: &[u8]) -> Verdict {
    let Some(ether) = frame.get(12..ETHERNET_HEADER) else {
        return Verdict::NotIpv4; // smoltcp drops runts itself
    };
    if u16::from_be_bytes([ether[0], ether[1]]) != ETHERTYPE_IPV4 {
        return Verdict::NotIpv4;
    }
    let ip = &frame[ETHERNET_HEADER..];
    let Some(&vihl) = ip.first() else {
        return Verdict::Bad;
    };
    let ihl = (vihl & 0x0F) as usize * 4;
    if vihl >> 4 != 4 || ihl < 20 || ip.len() < ihl {
        return Verdict::Bad;
    }
    if sum(&ip[..ihl]) != 0xFFFF {
        return Verdict::Bad;
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if total < ihl || total > ip.len() {
        return Verdict::Bad;
    }
    if ip[9] != PROTO_TCP {
        return Verdict::Ipv4;
    }
    let more_fragments = ip[6] & 0x20 != 0;
    let offset = u16::from_be_bytes([ip[6] & 0x1F, ip[7]]);
    if more_fragments || offset != 0 {
        return Verdict::Bad;
    }
    let segment = &ip[ihl..total];
    // Pseudo-header: source, destination, zero + protocol, TCP length.
    let len = segment.len() as u16;
    let pseudo = [
        ip[12],
        ip[13],
        ip[14],
        ip[15],
        ip[16],
        ip[17],
        ip[18],
        ip[19],
        0,
        PROTO_TCP,
        (len >> 8) as u8,
        len as u8,
    ];
    match fold(partial(&pseudo) + partial(segment)) {
        0xFFFF => Verdict::Tcp,
        _ => Verdict::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// RFC 1071 as written: big-endian 16-bit words, end-around carry.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            acc += (pair[0] as u32) << 8 | pair.get(1).copied().unwrap_or(0) as u32;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn sum_agrees_with_rfc1071_on_every_length_and_offset() {
        let data = bytes(1600, 7);
        for start in 0..8 {
            for len in 0..=300 {
                let d = &data[start..start + len];
                assert_eq!(sum(d), reference(d), "start {start} len {len}");
            }
        }
        for len in [1460, 1480, 1500, 1513, 1514] {
            assert_eq!(sum(&data[..len]), reference(&data[..len]), "len {len}");
        }
        // Every 64-bit add carries: the carries are counted right.
        for len in [1500, 65535] {
            let ones = vec![0xFFu8; len];
            assert_eq!(sum(&ones), reference(&ones), "len {len}");
        }
    }
}
