//! A small interface (`demo`) with every operation shape and a server for
//! it, run through `abi::fake` (the loopback transport calls the dispatch
//! directly; the fake caller gives the server the client's leases with the
//! kernel's checks).
#![allow(dead_code)] // each test file uses part of it

pub use abi::fake::{FakeCaller, Loopback, Serve};
use abi::iface::{Caller, Dispatched, LeaseIn, LeaseInOut, LeaseOut, Pending};
use abi::{Lease, Message};

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
        /// Data that may be empty: its length back.
        fn count = 20 () [1 data: Read(MAX_IN, may_be_empty)] -> Result<u64, DemoError>;
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

    fn count(&mut self, _badge: u64, data: LeaseIn<'_, FakeCaller>) -> Result<u64, DemoError> {
        self.calls += 1;
        if data.is_empty() {
            return Ok(0);
        }
        let mut buf = vec![0u8; data.len() as usize];
        let n = data.read(0, &mut buf).map_err(|_| DemoError::Empty {})?;
        Ok(n as u64)
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

impl Serve for DemoServer {
    fn dispatch(
        &mut self,
        badge: u64,
        caller: FakeCaller,
        msg: &Message,
    ) -> Dispatched<FakeCaller> {
        demo::dispatch(self, badge, caller, msg)
    }
    fn complete(&mut self) {
        self.complete_all()
    }
}

/// Dispatches `msg` on `server` as the kernel would deliver it (lease
/// addresses kept: the fake copies through them) and returns the reply.
pub fn serve(server: &mut DemoServer, msg: &Message) -> Message {
    abi::fake::serve(server, 1, msg).expect("every call is answered")
}

/// A client over a fresh loopback server.
pub fn client() -> demo::Client<Loopback<DemoServer>> {
    demo::Client::new(Loopback::new(DemoServer::default()))
}
