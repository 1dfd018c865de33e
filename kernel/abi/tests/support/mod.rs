//! A small interface (`demo`) with every operation shape, a server for it,
//! and a fake kernel: `Loopback` is the client's transport and calls the
//! dispatch directly; `FakeCaller` gives the server the client's leases
//! with the kernel's checks (bounds, permission).
#![allow(dead_code)] // each test file uses part of it

use std::cell::RefCell;
use std::rc::Rc;

use abi::iface::{Caller, Dispatched, LeaseIn, LeaseInOut, LeaseOut, Pending, Transport};
use abi::{Error, Lease, Message};

pub const MAX_IN: u64 = 64;

abi::words! {
    /// Three values of different types back.
    pub struct Triple { pub sum: u64, pub small: u8, pub flag: bool }
}

abi::errors! {
    #[derive(Copy)]
    pub enum DemoError {
        /// A value over the limit, with both values.
        TooBig = 1 { value: u64, max: u64 } => "{value} is more than {max}",
        /// A hash-sized value crosses whole.
        Named = 2 { hash: [u8; 32], at: u64 } => "named thing at {at}",
        Empty = 3 {} => "nothing to do",
    }
}

abi::interface! {
    /// Every shape: no arguments, typed arguments, a multi-word reply,
    /// leases of each direction, a deferred operation, an error.
    pub mod demo {
        fn ping = 1 () -> Result<(), core::convert::Infallible>;
        fn add = 2 (a: u32, b: u32, wrap: bool) -> Result<Triple, DemoError>;
        fn sum_bytes = 3 () [0 data: Read(MAX_IN)] -> Result<u64, DemoError>;
        fn fill = 4 (value: u8) [1 out: Write(MAX_IN)] -> Result<u64, DemoError>;
        fn increment = 5 () [0 buf: ReadWrite(MAX_IN)] -> Result<(), DemoError>;
        fn name = 6 (hash: [u8; 32]) -> Result<[u8; 32], DemoError>;
        fn later = 7 (value: u64) [0 data: Read(MAX_IN)] -> Result<u64, DemoError>, deferred;
    }
}

/// The server: implements the trait, never touches a word.
#[derive(Default)]
pub struct DemoServer {
    pub pending: Vec<(Pending<FakeCaller, u64, DemoError>, u64, Lease)>,
    pub calls: u64,
}

impl demo::Server<FakeCaller> for DemoServer {
    fn ping(&mut self, _badge: u64) -> Result<(), core::convert::Infallible> {
        self.calls += 1;
        Ok(())
    }

    fn add(&mut self, _badge: u64, a: u32, b: u32, wrap: bool) -> Result<Triple, DemoError> {
        self.calls += 1;
        let sum = u64::from(a) + u64::from(b);
        if sum > u64::from(u32::MAX) && !wrap {
            return Err(DemoError::TooBig {
                value: sum,
                max: u64::from(u32::MAX),
            });
        }
        Ok(Triple {
            sum,
            small: (sum & 0xFF) as u8,
            flag: wrap,
        })
    }

    fn sum_bytes(&mut self, _badge: u64, data: LeaseIn<'_, FakeCaller>) -> Result<u64, DemoError> {
        self.calls += 1;
        let mut buf = vec![0u8; data.len() as usize];
        let n = data.read(0, &mut buf).map_err(|_| DemoError::Empty {})?;
        Ok(buf[..n].iter().map(|&b| u64::from(b)).sum())
    }

    fn fill(
        &mut self,
        _badge: u64,
        value: u8,
        out: LeaseOut<'_, FakeCaller>,
    ) -> Result<u64, DemoError> {
        self.calls += 1;
        let bytes = vec![value; out.len() as usize];
        let n = out.write(0, &bytes).map_err(|_| DemoError::Empty {})?;
        Ok(n as u64)
    }

    fn increment(&mut self, _badge: u64, buf: LeaseInOut<'_, FakeCaller>) -> Result<(), DemoError> {
        self.calls += 1;
        let mut bytes = vec![0u8; buf.len() as usize];
        buf.read(0, &mut bytes).map_err(|_| DemoError::Empty {})?;
        for b in &mut bytes {
            *b = b.wrapping_add(1);
        }
        buf.write(0, &bytes).map_err(|_| DemoError::Empty {})?;
        Ok(())
    }

    fn name(&mut self, _badge: u64, hash: [u8; 32]) -> Result<[u8; 32], DemoError> {
        self.calls += 1;
        if hash == [0; 32] {
            return Err(DemoError::Named { hash, at: 7 });
        }
        let mut back = hash;
        back.reverse();
        Ok(back)
    }

    fn later(
        &mut self,
        _badge: u64,
        pending: Pending<FakeCaller, u64, DemoError>,
        value: u64,
        data: Lease,
    ) {
        self.calls += 1;
        self.pending.push((pending, value, data));
    }
}

impl DemoServer {
    /// Answers every deferred call, last first (any order is allowed).
    pub fn complete_all(&mut self) {
        while let Some((pending, value, lease)) = self.pending.pop() {
            let mut first = [0u8; 1];
            let result = match pending.caller().lease_read(0, 0, &mut first) {
                Ok(1) if value > 0 => Ok(value * 10 + u64::from(first[0]) + lease.len),
                _ => Err(DemoError::Empty {}),
            };
            pending.reply(result).expect("the caller waits");
        }
    }
}

/// The server's view of one call: the leases as the kernel checked them.
pub struct FakeCaller {
    leases: [Lease; abi::MAX_LEASES],
    reply: Rc<RefCell<Option<Message>>>,
}

impl FakeCaller {
    pub fn new(msg: &Message) -> (FakeCaller, Rc<RefCell<Option<Message>>>) {
        let slot = Rc::new(RefCell::new(None));
        let caller = FakeCaller {
            leases: msg.leases,
            reply: slot.clone(),
        };
        (caller, slot)
    }

    fn lease(&self, index: usize, need: u64) -> Result<Lease, Error> {
        let lease = *self.leases.get(index).ok_or(Error::BadLease)?;
        if lease.len == 0 || lease.flags & need == 0 {
            return Err(Error::BadLease);
        }
        Ok(lease)
    }
}

impl Caller for FakeCaller {
    fn lease_read(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let lease = self.lease(index, abi::lease::READ)?;
        let start = offset.min(lease.len) as usize;
        let n = buf.len().min(lease.len as usize - start);
        // Safety: the lease was made by `lend`/`lend_mut` from a slice the
        // client stub borrows for the whole (synchronous) call, and the
        // range lies inside it.
        let src =
            unsafe { std::slice::from_raw_parts(lease.addr as *const u8, lease.len as usize) };
        buf[..n].copy_from_slice(&src[start..start + n]);
        Ok(n)
    }

    fn lease_write(&self, index: usize, offset: u64, data: &[u8]) -> Result<usize, Error> {
        let lease = self.lease(index, abi::lease::WRITE)?;
        let start = offset.min(lease.len) as usize;
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

/// The client's transport: runs the dispatch in the same process, then
/// lets the server answer its deferred calls.
pub struct Loopback {
    pub server: RefCell<DemoServer>,
}

impl Loopback {
    pub fn new() -> Loopback {
        Loopback {
            server: RefCell::new(DemoServer::default()),
        }
    }
}

impl Transport for Loopback {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        Ok(serve(&mut self.server.borrow_mut(), msg))
    }
}

/// Dispatches `msg` on `server` as the kernel would deliver it (lease
/// addresses kept: the fake copies through them) and returns the reply.
pub fn serve(server: &mut DemoServer, msg: &Message) -> Message {
    let (caller, slot) = FakeCaller::new(msg);
    match demo::dispatch(server, 1, caller, msg) {
        Dispatched::Reply(caller, reply) => caller.reply(&reply).expect("fake reply"),
        Dispatched::Deferred => server.complete_all(),
    }
    let reply = slot.borrow_mut().take();
    reply.expect("every call is answered")
}

/// A client over a fresh loopback server.
pub fn client() -> demo::Client<Loopback> {
    demo::Client::new(Loopback::new())
}
