//! The PCI transport as the driver crate sees it: queue notifications
//! deferred to the end of a wake-up and counted, and
//! `VIRTIO_F_RING_EVENT_IDX` hidden.
//!
//! # Notifications are deferred to the end of a wake-up
//! virtio-drivers notifies the device after every buffer it adds whenever
//! the device asks to be notified. Under TCG, QEMU's transmit work runs in
//! another host thread at host speed: it has emptied the queue and asked
//! to be notified again before the driver adds the next frame, so nearly
//! every frame was an MMIO write (~650 per MiB of a pull, measured), and an
//! MMIO write stops the guest CPU until it gets QEMU's global lock, which
//! the network backend holds while it works through the frames already
//! queued. Here `notify` only records the queue; the driver calls
//! [`Shared::flush`] before it sleeps (its main loop), so the device learns
//! of all the buffers one wake-up added with one write per queue. No
//! buffer is left unannounced: nothing is added while the driver sleeps.
//!
//! # Why no event indices
//! virtio-drivers 0.13 decides whether to notify with `avail_idx >=
//! avail_event + 1` (`VirtQueue::should_notify`), where the spec's rule
//! (`vring_need_event`) notifies only when the index crosses `avail_event`
//! (and the `>=` breaks when the index wraps). Without event indices the
//! crate follows the device's `NO_NOTIFY` flag, which QEMU keeps set while
//! it has receive buffers and while transmit work is scheduled.
//!
//! Everything else is passed to [`PciTransport`] unchanged.

use core::cell::{Cell, UnsafeCell};
use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{PhysAddr, Result};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `VIRTIO_F_RING_EVENT_IDX` (virtio 1.2, 6: reserved feature bits).
const RING_EVENT_IDX: u64 = 1 << 29;

/// Queue notifications (MMIO writes) made, over the process's life.
pub static NOTIFIES: AtomicU64 = AtomicU64::new(0);

/// The device's features less `RING_EVENT_IDX` (see the module doc).
pub fn offered(device_features: u64) -> u64 {
    device_features & !RING_EVENT_IDX
}

/// The transport, shared by the device (through [`NoEventIdx`]) and the
/// driver's main loop (to flush), and the queues with a notification due.
pub struct Shared {
    transport: UnsafeCell<PciTransport>,
    /// Bit `q`: queue `q` has buffers the device was not told of.
    pending: Cell<u64>,
}

impl Shared {
    /// Leaked: the device lives as long as the driver process.
    pub fn new(transport: PciTransport) -> &'static Shared {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(Shared {
            transport: UnsafeCell::new(transport),
            pending: Cell::new(0),
        }))
    }

    /// The transport, for one call.
    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut PciTransport {
        // Safety: one thread; every use is a single call on the transport
        // that neither keeps the reference nor calls back into this type,
        // so no two references to it are alive at once.
        unsafe { &mut *self.transport.get() }
    }

    /// Notifies each queue with buffers added since the last flush: one
    /// MMIO write per queue, however many buffers.
    pub fn flush(&self) {
        let mut due = self.pending.replace(0);
        while due != 0 {
            let q = due.trailing_zeros();
            due &= due - 1;
            NOTIFIES.fetch_add(1, Ordering::Relaxed);
            self.get().notify(q as u16);
        }
    }
}

/// The transport as virtio-drivers sees it (see the module doc).
pub struct NoEventIdx(pub &'static Shared);

impl NoEventIdx {
    fn t(&self) -> &mut PciTransport {
        self.0.get()
    }
}

impl Transport for NoEventIdx {
    fn device_type(&self) -> DeviceType {
        self.t().device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        offered(self.t().read_device_features())
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.t().write_driver_features(offered(driver_features))
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.t().max_queue_size(queue)
    }
    fn notify(&mut self, queue: u16) {
        // Queues 0 and 1 (receive, transmit); a larger number would be a
        // bug of the crate: notify at once rather than lose it.
        if queue < 64 {
            self.0.pending.set(self.0.pending.get() | 1 << queue);
        } else {
            NOTIFIES.fetch_add(1, Ordering::Relaxed);
            self.t().notify(queue)
        }
    }
    fn get_status(&self) -> DeviceStatus {
        self.t().get_status()
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.t().set_status(status)
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.t().set_guest_page_size(guest_page_size)
    }
    fn requires_legacy_layout(&self) -> bool {
        self.t().requires_legacy_layout()
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.t()
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }
    fn queue_unset(&mut self, queue: u16) {
        self.t().queue_unset(queue)
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.t().queue_used(queue)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.t().ack_interrupt()
    }
    fn read_config_generation(&self) -> u32 {
        self.t().read_config_generation()
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T> {
        self.t().read_config_space(offset)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<()> {
        self.t().write_config_space(offset, value)
    }
}
