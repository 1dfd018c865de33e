//! Device rights a boot configuration gives a driver process: physical MMIO
//! windows it may map, I/O ports it may use, interrupt lines it may bind, and
//! whether it may allocate DMA memory. The kernel grants nothing else: a
//! process without a right gets `NotPermitted`.
//!
//! Hardware the kernel itself drives can never be granted: the PIT and PICs
//! (IRQ 0, the IRQ 2 cascade), COM1 (IRQ 4, ports 0x3F8..0x400), the PIC/PIT
//! ports and the power-off ports.

use alloc::vec::Vec;

/// Interrupt lines (legacy PIC, 0..16) the kernel keeps for itself.
pub const KERNEL_IRQS: [u8; 3] = [0, 2, 4];
/// Port ranges (start, end exclusive) the kernel keeps for itself.
pub const KERNEL_PORTS: [(u32, u32); 6] = [
    (0x20, 0x22),
    (0x40, 0x44),
    (0xA0, 0xA2),
    (0x3F8, 0x400),
    (0xF4, 0xF8),
    (0x604, 0x606),
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// (physical start, length), page aligned.
    pub mmio: Vec<(u64, u64)>,
    /// (first port, count).
    pub ports: Vec<(u16, u16)>,
    pub irqs: Vec<u8>,
    pub dma: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// MMIO window empty, not page aligned, or wrapping.
    BadMmio { start: u64, len: u64 },
    /// Port range empty, past 0xFFFF, or touching a kernel port.
    BadPorts { first: u32, count: u32 },
    /// Not a legacy line (0..16) or one the kernel drives.
    BadIrq(u64),
}

impl Grants {
    pub fn add_mmio(&mut self, start: u64, len: u64) -> Result<(), GrantError> {
        let aligned = start.is_multiple_of(4096) && len.is_multiple_of(4096);
        if len == 0 || !aligned || start.checked_add(len).is_none() {
            return Err(GrantError::BadMmio { start, len });
        }
        self.mmio.push((start, len));
        Ok(())
    }

    pub fn add_ports(&mut self, first: u32, count: u32) -> Result<(), GrantError> {
        let end = first.saturating_add(count);
        let kernel = KERNEL_PORTS.iter().any(|&(s, e)| first < e && s < end);
        if count == 0 || end > 0x1_0000 || kernel {
            return Err(GrantError::BadPorts { first, count });
        }
        self.ports.push((first as u16, count as u16));
        Ok(())
    }

    pub fn add_irq(&mut self, irq: u64) -> Result<(), GrantError> {
        if irq >= 16 || KERNEL_IRQS.contains(&(irq as u8)) {
            return Err(GrantError::BadIrq(irq));
        }
        self.irqs.push(irq as u8);
        Ok(())
    }

    /// True when `[start, start + len)` lies inside one granted window.
    pub fn mmio_allows(&self, start: u64, len: u64) -> bool {
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        len > 0 && self.mmio.iter().any(|&(s, l)| start >= s && end <= s + l)
    }

    /// True when the `width` bytes at `port` are all granted.
    pub fn port_allows(&self, port: u64, width: u64) -> bool {
        let Some(end) = port.checked_add(width) else {
            return false;
        };
        self.ports
            .iter()
            .any(|&(s, c)| port >= s as u64 && end <= s as u64 + c as u64)
    }

    pub fn irq_allowed(&self, irq: u64) -> bool {
        irq < 16 && self.irqs.contains(&(irq as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmio_windows_are_checked_whole() {
        let mut g = Grants::default();
        g.add_mmio(0xFED0_0000, 0x1000).unwrap();
        assert!(g.mmio_allows(0xFED0_0000, 0x1000));
        assert!(g.mmio_allows(0xFED0_0800, 0x10));
        assert!(!g.mmio_allows(0xFED0_0800, 0x1000));
        assert!(!g.mmio_allows(0xFECF_F000, 0x2000));
        assert!(!g.mmio_allows(u64::MAX, 2));
        assert!(!g.mmio_allows(0xFED0_0000, 0));
        assert_eq!(
            g.add_mmio(0x1001, 0x1000),
            Err(GrantError::BadMmio {
                start: 0x1001,
                len: 0x1000
            })
        );
        assert_eq!(
            g.add_mmio(0x1000, 0),
            Err(GrantError::BadMmio {
                start: 0x1000,
                len: 0
            })
        );
        assert!(g.add_mmio(u64::MAX - 0xFFF, 0x2000).is_err());
    }

    #[test]
    fn ports_and_irqs_exclude_the_kernels_own() {
        let mut g = Grants::default();
        g.add_ports(0x70, 2).unwrap();
        assert!(g.port_allows(0x70, 1) && g.port_allows(0x71, 1) && g.port_allows(0x70, 2));
        assert!(!g.port_allows(0x71, 2) && !g.port_allows(0x6F, 1));
        assert!(!g.port_allows(u64::MAX, 1));
        for (first, count) in [
            (0x3F8, 1),
            (0x3F0, 0x10),
            (0x20, 1),
            (0xF4, 1),
            (0x604, 2),
            (0xFFFF, 2),
            (0x80, 0),
            (u32::MAX, 2),
        ] {
            assert_eq!(
                g.add_ports(first, count),
                Err(GrantError::BadPorts { first, count })
            );
        }
        g.add_irq(8).unwrap();
        assert!(g.irq_allowed(8) && !g.irq_allowed(9) && !g.irq_allowed(u64::MAX));
        for irq in [0, 2, 4, 16, 99] {
            assert_eq!(g.add_irq(irq), Err(GrantError::BadIrq(irq)));
        }
    }
}
