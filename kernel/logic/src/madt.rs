//! The CPUs the firmware lists: ACPI's RSDP -> RSDT/XSDT -> MADT ("APIC"),
//! whose processor-local-APIC entries give each CPU's APIC ID.
//!
//! Hand-written rather than the `acpi` crate: the kernel needs three
//! structures and one entry type, read once at boot through the direct
//! map; the crate wants an allocator-backed handler that maps and unmaps
//! regions, which is more machinery than the walk itself. Every length and
//! offset comes from firmware memory and is checked before use (checksums,
//! table lengths bounded by `MAX_TABLE`, entries inside their table), so a
//! corrupt table is an error, never a panic or a read out of bounds.
//!
//! ```text
//! RSDP (ACPI 1.0: 20 bytes; 2.0+: 36)   SDT header (36 bytes)     MADT body (after the header)
//!  0 "RSD PTR "                          0 signature (4)           36 local APIC address u32
//!  8 checksum (first 20 bytes sum 0)     4 length u32 (whole)      40 flags u32
//! 15 revision (0: 1.0, 2: 2.0+)          9 checksum (length sum 0) 44 entries: type u8, length u8, ...
//! 16 RSDT address u32                   36 RSDT: u32 addresses       type 0 (8 bytes): ACPI id u8 @2,
//! 20 length u32 (2.0+)                     XSDT: u64 addresses         APIC id u8 @3, flags u32 @4
//! 24 XSDT address u64 (2.0+)                                           (bit 0 enabled, bit 1 online-capable)
//! 32 extended checksum (length sum 0)
//! ```

/// Largest ACPI table the walk reads, on the boot stack (QEMU's MADT is
/// ~100 bytes for 4 CPUs, 8 more per CPU; a table claiming more is
/// treated as corrupt).
pub const MAX_TABLE: usize = 4096;

const SDT_HEADER: usize = 36;
const MADT_ENTRIES: usize = 44;
const LAPIC_ENTRY: u8 = 0;
const LAPIC_ENABLED: u32 = 1;

/// Reads physical memory (the kernel: its direct map; tests: a byte array).
pub trait PhysRead {
    /// Fills `buf` from physical address `phys`; false if that is not memory.
    fn read(&mut self, phys: u64, buf: &mut [u8]) -> bool;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP address (the boot protocol gave 0).
    NoRsdp,
    /// The named structure is outside readable memory.
    Unreadable(&'static str, u64),
    /// Wrong signature at an address.
    BadSignature(&'static str, u64),
    /// Bytes do not sum to zero.
    BadChecksum(&'static str, u64),
    /// A length field out of bounds (the structure, the value).
    BadLength(&'static str, u64),
    /// The RSDT/XSDT lists no "APIC" table.
    NoMadt,
}

/// The CPUs a MADT lists, in table order, as many as fit in `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpus<const N: usize> {
    /// APIC IDs of the enabled processors; `apic_ids[..count]` are valid.
    pub apic_ids: [u8; N],
    pub count: usize,
    /// Enabled processors listed in all (more than `N` when capped).
    pub listed: usize,
    /// The MADT's local APIC address (informational: the kernel uses the MSR).
    pub lapic_addr: u32,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | (u64::from(le32(b, at + 4)) << 32)
}

fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
}

/// Reads the whole table at `phys` (header checked: signature if given,
/// length within bounds, checksum) into `buf`; returns its length.
fn read_table(
    mem: &mut dyn PhysRead,
    phys: u64,
    sig: Option<&[u8; 4]>,
    what: &'static str,
    buf: &mut [u8; MAX_TABLE],
) -> Result<usize, AcpiError> {
    let mut head = [0u8; SDT_HEADER];
    if !mem.read(phys, &mut head) {
        return Err(AcpiError::Unreadable(what, phys));
    }
    if let Some(sig) = sig {
        if &head[..4] != sig {
            return Err(AcpiError::BadSignature(what, phys));
        }
    }
    let len = le32(&head, 4) as usize;
    if !(SDT_HEADER..=MAX_TABLE).contains(&len) {
        return Err(AcpiError::BadLength(what, len as u64));
    }
    if !mem.read(phys, &mut buf[..len]) {
        return Err(AcpiError::Unreadable(what, phys));
    }
    if !sums_to_zero(&buf[..len]) {
        return Err(AcpiError::BadChecksum(what, phys));
    }
    Ok(len)
}

/// Finds the MADT from the RSDP at `rsdp` and returns its enabled CPUs
/// (at most `N`, in table order; the boot CPU is listed first by
/// convention, but callers should match their own APIC ID).
pub fn find_cpus<const N: usize>(mem: &mut dyn PhysRead, rsdp: u64) -> Result<Cpus<N>, AcpiError> {
    if rsdp == 0 {
        return Err(AcpiError::NoRsdp);
    }
    let mut r = [0u8; 36];
    if !mem.read(rsdp, &mut r[..20]) {
        return Err(AcpiError::Unreadable("RSDP", rsdp));
    }
    if &r[..8] != b"RSD PTR " {
        return Err(AcpiError::BadSignature("RSDP", rsdp));
    }
    if !sums_to_zero(&r[..20]) {
        return Err(AcpiError::BadChecksum("RSDP", rsdp));
    }
    // ACPI 2.0+: the XSDT (64-bit addresses) when the extended part is sound.
    let (root, entry_size) = if r[15] >= 2 {
        if !mem.read(rsdp, &mut r) {
            return Err(AcpiError::Unreadable("RSDP", rsdp));
        }
        let len = le32(&r, 20) as usize;
        if len < 36 {
            return Err(AcpiError::BadLength("RSDP", len as u64));
        }
        if !sums_to_zero(&r) {
            return Err(AcpiError::BadChecksum("RSDP", rsdp));
        }
        match le64(&r, 24) {
            0 => (u64::from(le32(&r, 16)), 4),
            x => (x, 8),
        }
    } else {
        (u64::from(le32(&r, 16)), 4)
    };
    let mut buf = [0u8; MAX_TABLE];
    let (sig, what) = if entry_size == 8 {
        (b"XSDT", "XSDT")
    } else {
        (b"RSDT", "RSDT")
    };
    let len = read_table(mem, root, Some(sig), what, &mut buf)?;
    let mut madt = None;
    let mut at = SDT_HEADER;
    while at + entry_size <= len {
        let addr = if entry_size == 8 {
            le64(&buf, at)
        } else {
            u64::from(le32(&buf, at))
        };
        let mut sig = [0u8; 4];
        if mem.read(addr, &mut sig) && &sig == b"APIC" {
            madt = Some(addr);
            break;
        }
        at += entry_size;
    }
    let madt = madt.ok_or(AcpiError::NoMadt)?;
    let len = read_table(mem, madt, Some(b"APIC"), "MADT", &mut buf)?;
    parse_madt(&buf[..len])
}

/// The enabled processor-local-APIC entries of a MADT (the whole table,
/// header included; its checksum already checked).
pub fn parse_madt<const N: usize>(t: &[u8]) -> Result<Cpus<N>, AcpiError> {
    if t.len() < MADT_ENTRIES {
        return Err(AcpiError::BadLength("MADT", t.len() as u64));
    }
    let mut cpus = Cpus {
        apic_ids: [0; N],
        count: 0,
        listed: 0,
        lapic_addr: le32(t, 36),
    };
    let mut at = MADT_ENTRIES;
    while at + 2 <= t.len() {
        let (kind, len) = (t[at], t[at + 1] as usize);
        if len < 2 || at + len > t.len() {
            return Err(AcpiError::BadLength("MADT entry", len as u64));
        }
        if kind == LAPIC_ENTRY {
            if len < 8 {
                return Err(AcpiError::BadLength("MADT local APIC entry", len as u64));
            }
            if le32(t, at + 4) & LAPIC_ENABLED != 0 {
                cpus.listed += 1;
                if cpus.count < N {
                    cpus.apic_ids[cpus.count] = t[at + 3];
                    cpus.count += 1;
                }
            }
        }
        at += len;
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Physical memory as one byte array starting at address 0.
    struct Mem(Vec<u8>);

    impl PhysRead for Mem {
        fn read(&mut self, phys: u64, buf: &mut [u8]) -> bool {
            let Ok(start) = usize::try_from(phys) else {
                return false;
            };
            match start.checked_add(buf.len()) {
                Some(end) if end <= self.0.len() => {
                    buf.copy_from_slice(&self.0[start..end]);
                    true
                }
                _ => false,
            }
        }
    }

    fn fix_checksum(b: &mut [u8], at: usize) {
        b[at] = 0;
        let s = b.iter().fold(0u8, |s, &x| s.wrapping_add(x));
        b[at] = 0u8.wrapping_sub(s);
    }

    fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; SDT_HEADER];
        t[..4].copy_from_slice(sig);
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut t, 9);
        t
    }

    /// A MADT body: local APIC address, flags, then (apic id, flags) CPUs
    /// and an I/O APIC entry in between (type 1, 12 bytes) to be skipped.
    fn madt_body(cpus: &[(u8, u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for (i, &(id, flags)) in cpus.iter().enumerate() {
            b.extend_from_slice(&[LAPIC_ENTRY, 8, i as u8, id]);
            b.extend_from_slice(&flags.to_le_bytes());
            if i == 0 {
                b.extend_from_slice(&[1, 12, 0, 0, 0, 0, 0xC0, 0xFE, 0, 0, 0, 0]);
            }
        }
        b
    }

    /// Memory with an RSDP at 0x100 (revision `rev`), the root table at
    /// 0x1000 (an "FACP" dummy at 0x2000 listed first) and the MADT at 0x3000.
    fn machine(rev: u8, madt: Vec<u8>) -> Mem {
        let mut m = vec![0u8; 0x4000];
        let xsdt = rev >= 2;
        let facp = sdt(b"FACP", &[0; 8]);
        m[0x2000..0x2000 + facp.len()].copy_from_slice(&facp);
        m[0x3000..0x3000 + madt.len()].copy_from_slice(&madt);
        let mut body = Vec::new();
        for addr in [0x2000u64, 0x3000] {
            if xsdt {
                body.extend_from_slice(&addr.to_le_bytes());
            } else {
                body.extend_from_slice(&(addr as u32).to_le_bytes());
            }
        }
        let root = sdt(if xsdt { b"XSDT" } else { b"RSDT" }, &body);
        m[0x1000..0x1000 + root.len()].copy_from_slice(&root);
        let mut r = [0u8; 36];
        r[..8].copy_from_slice(b"RSD PTR ");
        r[15] = rev;
        if xsdt {
            r[16..20].copy_from_slice(&0xDEADu32.to_le_bytes()); // unused with an XSDT
            r[20..24].copy_from_slice(&36u32.to_le_bytes());
            r[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
        } else {
            r[16..20].copy_from_slice(&0x1000u32.to_le_bytes());
        }
        fix_checksum(&mut r[..20], 8);
        if xsdt {
            fix_checksum(&mut r, 32);
        }
        m[0x100..0x100 + 36].copy_from_slice(&r);
        Mem(m)
    }

    #[test]
    fn two_cpus_through_the_xsdt_and_the_rsdt() {
        for rev in [0, 2] {
            let mut m = machine(rev, sdt(b"APIC", &madt_body(&[(0, 1), (1, 1)])));
            let c = find_cpus::<4>(&mut m, 0x100).unwrap();
            assert_eq!((c.count, c.listed, &c.apic_ids[..2]), (2, 2, &[0u8, 1][..]));
            assert_eq!(c.lapic_addr, 0xFEE0_0000);
        }
    }

    #[test]
    fn disabled_cpus_are_skipped_and_the_count_is_capped() {
        let cpus = [(0, 1), (2, 0), (4, 1), (6, 3), (8, 1), (10, 1)];
        let mut m = machine(2, sdt(b"APIC", &madt_body(&cpus)));
        let c = find_cpus::<4>(&mut m, 0x100).unwrap();
        assert_eq!(c.listed, 5);
        assert_eq!(c.count, 4);
        assert_eq!(c.apic_ids, [0, 4, 6, 8]);
    }

    #[test]
    fn corrupt_tables_are_errors() {
        assert_eq!(find_cpus::<4>(&mut Mem(vec![]), 0), Err(AcpiError::NoRsdp));
        // RSDP checksum.
        let mut m = machine(0, sdt(b"APIC", &madt_body(&[(0, 1)])));
        m.0[0x100 + 9] ^= 1;
        assert!(matches!(
            find_cpus::<4>(&mut m, 0x100),
            Err(AcpiError::BadChecksum("RSDP", _))
        ));
        // MADT checksum.
        let mut m = machine(2, sdt(b"APIC", &madt_body(&[(0, 1)])));
        m.0[0x3000 + 40] ^= 1;
        assert!(matches!(
            find_cpus::<4>(&mut m, 0x100),
            Err(AcpiError::BadChecksum("MADT", _))
        ));
        // A table claiming more than MAX_TABLE, or running off memory.
        let mut m = machine(2, sdt(b"APIC", &madt_body(&[(0, 1)])));
        m.0[0x3004..0x3008].copy_from_slice(&(MAX_TABLE as u32 + 1).to_le_bytes());
        assert!(matches!(
            find_cpus::<4>(&mut m, 0x100),
            Err(AcpiError::BadLength("MADT", _))
        ));
        let mut m = machine(2, sdt(b"APIC", &madt_body(&[(0, 1)])));
        m.0[0x3004..0x3008].copy_from_slice(&0x0F00u32.to_le_bytes());
        m.0.truncate(0x3800);
        assert!(matches!(
            find_cpus::<4>(&mut m, 0x100),
            Err(AcpiError::Unreadable("MADT", _))
        ));
        // No MADT listed.
        let mut m = machine(2, sdt(b"APIC", &madt_body(&[(0, 1)])));
        m.0[0x3000] = b'X';
        assert_eq!(find_cpus::<4>(&mut m, 0x100), Err(AcpiError::NoMadt));
        // The root pointer off the end of memory.
        assert!(matches!(
            find_cpus::<4>(&mut machine(0, sdt(b"APIC", &[])), 0x3FF0),
            Err(AcpiError::Unreadable("RSDP", _))
        ));
    }

    #[test]
    fn madt_entries_with_bad_lengths_are_errors() {
        let mut body = madt_body(&[(0, 1)]);
        body.extend_from_slice(&[LAPIC_ENTRY, 0]); // zero length: would loop
        assert!(matches!(
            parse_madt::<4>(&sdt(b"APIC", &body)),
            Err(AcpiError::BadLength("MADT entry", 0))
        ));
        let mut body = madt_body(&[(0, 1)]);
        body.extend_from_slice(&[LAPIC_ENTRY, 4, 1, 1]); // too short for its fields
        assert!(matches!(
            parse_madt::<4>(&sdt(b"APIC", &body)),
            Err(AcpiError::BadLength("MADT local APIC entry", 4))
        ));
        let mut body = madt_body(&[(0, 1)]);
        body.extend_from_slice(&[LAPIC_ENTRY, 200, 1]); // past the table's end
        assert!(matches!(
            parse_madt::<4>(&sdt(b"APIC", &body)),
            Err(AcpiError::BadLength("MADT entry", 200))
        ));
        assert!(parse_madt::<4>(&[0u8; 10]).is_err());
    }

    #[test]
    fn random_corruptions_never_panic() {
        let good = machine(2, sdt(b"APIC", &madt_body(&[(0, 1), (1, 1), (2, 1)])));
        let mut seed = 0x1234_5678_9ABC_DEF0u64;
        for _ in 0..20_000 {
            let mut m = Mem(good.0.clone());
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at =
                    [0x100usize, 0x1000, 0x3000][(seed % 3) as usize] + (seed >> 8) as usize % 64;
                m.0[at] = (seed >> 32) as u8;
            }
            let _ = find_cpus::<4>(&mut m, 0x100);
        }
    }
}
