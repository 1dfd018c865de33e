//! A fake kernel for host tests of declared interfaces (feature `fake`):
//! [`Loopback`] is a client stub's transport that runs the server's
//! dispatch in the same process, and [`FakeCaller`] gives the server the
//! client's leases with the kernel's checks (present, permission, bounds).
//! Test code only: it reads and writes the client's buffers through the
//! lease addresses, which is sound only while the stub's call borrows them.
extern crate std;

use std::cell::RefCell;
use std::rc::Rc;

use crate::iface::{Caller, Dispatched, Transport};
use crate::{Error, Lease, Message, MAX_LEASES};

/// Where a call's answer lands.
pub type ReplySlot = Rc<RefCell<Option<Message>>>;

/// The server's side of one call.
pub struct FakeCaller {
    leases: [Lease; MAX_LEASES],
    reply: ReplySlot,
}

impl FakeCaller {
    /// The caller of `msg` (leases as the client set them) and the slot
    /// its answer lands in.
    pub fn new(msg: &Message) -> (FakeCaller, ReplySlot) {
        let slot = Rc::new(RefCell::new(None));
        let caller = FakeCaller {
            leases: msg.leases,
            reply: slot.clone(),
        };
        (caller, slot)
    }

    /// Lease `index` if it is present and has permission `need`; the range
    /// `offset..` clipped to it.
    fn lease(&self, index: usize, need: u64, offset: u64) -> Result<(Lease, usize), Error> {
        let lease = *self.leases.get(index).ok_or(Error::BadLease)?;
        if lease.len == 0 || lease.flags & need == 0 {
            return Err(Error::BadLease);
        }
        Ok((lease, offset.min(lease.len) as usize))
    }
}

impl Caller for FakeCaller {
    fn lease_read(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let (lease, start) = self.lease(index, crate::lease::READ, offset)?;
        let n = buf.len().min(lease.len as usize - start);
        // Safety: the lease was made by `lend`/`lend_mut` from a slice the
        // client stub borrows for the whole (synchronous) call, and
        // `start..start + n` lies inside it.
        let src =
            unsafe { std::slice::from_raw_parts(lease.addr as *const u8, lease.len as usize) };
        buf[..n].copy_from_slice(&src[start..start + n]);
        Ok(n)
    }

    fn lease_write(&self, index: usize, offset: u64, data: &[u8]) -> Result<usize, Error> {
        let (lease, start) = self.lease(index, crate::lease::WRITE, offset)?;
        let n = data.len().min(lease.len as usize - start);
        // Safety: a WRITE lease comes only from `lend_mut` of a `&mut [u8]`
        // the client stub borrows for the whole call; the range lies inside.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(lease.addr as *mut u8, lease.len as usize) };
        dst[start..start + n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn reply(self, msg: &Message) -> Result<(), Error> {
        *self.reply.borrow_mut() = Some(*msg);
        Ok(())
    }
}

/// A server the loopback can call: its interface's `dispatch`, and (for
/// deferred operations) answering what it kept, after the dispatch.
pub trait Serve {
    fn dispatch(&mut self, badge: u64, caller: FakeCaller, msg: &Message)
        -> Dispatched<FakeCaller>;
    /// Answers the deferred calls it holds (called after each dispatch).
    fn complete(&mut self) {}
}

/// Implements [`Serve`] for a fake server by its interface's generated
/// `dispatch` (`serve_with!(FakeDriver, blk)`): every fake's same glue,
/// written once. The interface macro cannot implement `Serve` itself: the
/// trait and the server type are both foreign to the crate that declares
/// the interface (Rust's orphan rule).
#[macro_export]
macro_rules! serve_with {
    ($server:ty, $($iface:ident)::+) => {
        impl $crate::fake::Serve for $server {
            fn dispatch(
                &mut self,
                badge: u64,
                caller: $crate::fake::FakeCaller,
                msg: &$crate::Message,
            ) -> $crate::iface::Dispatched<$crate::fake::FakeCaller> {
                $($iface)::+::dispatch(self, badge, caller, msg)
            }
        }
    };
}

/// Dispatches `msg` from `badge` on `server` and returns its answer; a
/// call left unanswered is `PeerDead` (as if the server had died).
pub fn serve<S: Serve>(server: &mut S, badge: u64, msg: &Message) -> Result<Message, Error> {
    let (caller, slot) = FakeCaller::new(msg);
    match server.dispatch(badge, caller, msg) {
        Dispatched::Reply(caller, reply) => caller.reply(&reply)?,
        Dispatched::Deferred => server.complete(),
    }
    let reply = slot.borrow_mut().take();
    reply.ok_or(Error::PeerDead)
}

/// A client stub's transport to an in-process server.
pub struct Loopback<S> {
    pub server: RefCell<S>,
    /// The badge calls arrive with.
    pub badge: u64,
}

impl<S> Loopback<S> {
    pub fn new(server: S) -> Loopback<S> {
        Loopback {
            server: RefCell::new(server),
            badge: 1,
        }
    }
}

impl<S: Serve> Transport for Loopback<S> {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        serve(&mut *self.server.borrow_mut(), self.badge, msg)
    }
}
