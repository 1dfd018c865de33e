//! The driver's endpoint, resending a call that met a dead driver until a
//! restarted one answers (its supervisor restarts it in the same slot, so
//! the same endpoint reaches the new incarnation) or `RECONNECT_WAIT_MS`
//! pass.
//!
//! Every request of the interface is safe to send again: a read, a write
//! of the same data to the same blocks, a flush; what the dead driver had
//! acknowledged had reached the device, and writes are unordered until a
//! flush anyway, so resending loses and reorders nothing the block layer
//! relies on.

use abi::{Error, Message};
use userlib::ipc::Endpoint;

/// How long a request waits for a dead driver to come back before it
/// fails with `PeerDead`, in milliseconds.
pub const RECONNECT_WAIT_MS: u64 = 3000;

/// An endpoint to the driver with resend-on-death (see the module).
#[derive(Clone, Copy, Debug)]
pub struct Resending(pub Endpoint);

impl abi::iface::Transport for Resending {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        let mut dead_since: Option<u64> = None;
        loop {
            match abi::iface::Transport::call(&self.0, msg) {
                Err(Error::PeerDead) => {
                    let (now, hz) = userlib::sys::ticks();
                    let since = *dead_since.get_or_insert_with(|| {
                        userlib::println!(
                            "virtio-blk client: the driver died; resending the request until it is back (up to {RECONNECT_WAIT_MS} ms)"
                        );
                        now
                    });
                    if now.saturating_sub(since) * 1000 >= RECONNECT_WAIT_MS * hz.max(1) {
                        return Err(Error::PeerDead);
                    }
                    userlib::sys::yield_now();
                }
                other => {
                    if let Some(since) = dead_since {
                        let (now, hz) = userlib::sys::ticks();
                        userlib::println!(
                            "virtio-blk client: the driver is back; request resent after {} ms",
                            now.saturating_sub(since) * 1000 / hz.max(1)
                        );
                    }
                    return other;
                }
            }
        }
    }
}
