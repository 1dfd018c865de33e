//! `Net` through the declared interface to a small in-process service (the
//! fake kernel): typed replies and errors reach the client as the words and
//! status codes its callers compare with, deferred operations answer
//! through their `Pending`, and a read that lends no room is refused by the
//! dispatch as `BAD_LEASE`.

use abi::fake::{FakeCaller, Loopback};
use abi::iface::{Caller, Pending};
use abi::Lease;
use net_api::{sockets, status, Accepted, Counters, Info, Net, NetError, Ready, SocketError};

/// One listener (handle 1) on port 80 with one connection (handle 2) whose
/// stream holds `data`; writes are collected in `sent`.
#[derive(Default)]
struct Toy {
    listening: bool,
    data: Vec<u8>,
    sent: Vec<u8>,
}

impl sockets::Server<FakeCaller> for Toy {
    fn listen(&mut self, _b: u64, port: u16, _backlog: u32) -> Result<u64, NetError> {
        match (port, self.listening) {
            (0, _) => Err(NetError::BadPort {}),
            (_, true) => Err(NetError::PortInUse {}),
            _ => {
                self.listening = true;
                Ok(1)
            }
        }
    }
    fn accept(&mut self, _b: u64, p: Pending<FakeCaller, Accepted, NetError>, l: u64, f: u64) {
        let r = match (l, f & net_api::flags::NONBLOCK) {
            (1, 0) => Ok(Accepted {
                conn: 2,
                peer_ip: [10, 0, 2, 2],
                peer_port: 40000,
            }),
            (1, _) => Err(NetError::WouldBlock {}),
            _ => Err(NetError::BadHandle {}),
        };
        p.reply(r).unwrap();
    }
    fn read(
        &mut self,
        _b: u64,
        p: Pending<FakeCaller, u64, NetError>,
        _c: u64,
        _f: u64,
        buf: Lease,
    ) {
        let n = self.data.len().min(buf.len as usize);
        let copied = p.caller().lease_write(0, 0, &self.data[..n]).unwrap();
        self.data.drain(..copied);
        p.reply(Ok(copied as u64)).unwrap();
    }
    fn write(
        &mut self,
        _b: u64,
        p: Pending<FakeCaller, u64, NetError>,
        _c: u64,
        _f: u64,
        data: Lease,
    ) {
        let mut buf = vec![0u8; data.len as usize];
        let n = p.caller().lease_read(0, 0, &mut buf).unwrap();
        self.sent.extend_from_slice(&buf[..n]);
        p.reply(Ok(n as u64)).unwrap();
    }
    fn close(&mut self, _b: u64, handle: u64) -> Result<(), NetError> {
        match handle {
            1 | 2 => Ok(()),
            _ => Err(NetError::BadHandle {}),
        }
    }
    fn info(&mut self, _b: u64) -> Result<Info, NetError> {
        Ok(Info {
            ip: u32::from_be_bytes([10, 0, 2, 15]),
            mac: 0x0200_0000_0001,
            listeners: 1,
            connections: 1,
            frames_in: 5,
            frames_out: 6,
        })
    }
    fn poll(&mut self, _b: u64, p: Pending<FakeCaller, Ready, NetError>, flags: u64, ms: u64) {
        // A listener left out, after a timeout: nothing (the words crossed).
        if (flags, ms) == (net_api::flags::NO_ACCEPT, 250) {
            return p.reply(Ok(Ready::default())).unwrap();
        }
        p.reply(Ok(Ready {
            n: 7,
            handles: [2, 1, 0, 0, 0],
        }))
        .unwrap();
    }
    fn stats(&mut self, _b: u64) -> Result<Counters, NetError> {
        Ok(Counters([1, 2, 3, 4, 5, 6]))
    }
    fn driver_stats(&mut self, _b: u64) -> Result<Counters, NetError> {
        Err(NetError::NetDown {})
    }
}

abi::serve_with!(Toy, sockets);

#[test]
fn client_over_a_fake_service() {
    let lb = Loopback::new(Toy {
        data: b"hello".to_vec(),
        ..Toy::default()
    });
    let net = Net::new(&lb);

    assert_eq!(net.listen(0, 1), Err(SocketError::Status(status::BAD_PORT)));
    assert_eq!(net.listen(80, 4), Ok(1));
    assert_eq!(
        net.listen(80, 4),
        Err(SocketError::Status(status::PORT_IN_USE))
    );
    let e = net.accept_with(1, Net::NONBLOCK).unwrap_err();
    assert!(Net::would_block(&e));
    let a = net.accept(1).unwrap();
    assert_eq!((a.conn, a.peer_ip, a.peer_port), (2, [10, 0, 2, 2], 40000));

    let mut buf = [0u8; 16];
    assert_eq!(net.read(2, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    // A read lending no room is refused before the service sees it.
    assert_eq!(
        net.read_with(2, &mut [], 0),
        Err(SocketError::Status(status::BAD_LEASE))
    );
    net.write_all(2, b"echo").unwrap();
    assert_eq!(net.write(2, &[]), Ok(0));
    assert_eq!(lb.server.borrow().sent, b"echo");

    let mut ready = [0u64; net_api::POLL_MAX];
    assert_eq!(net.poll(&mut ready), Ok(net_api::POLL_MAX));
    assert_eq!(&ready[..2], &[2, 1]);
    assert_eq!(
        net.poll_with(&mut ready, net_api::flags::NO_ACCEPT, 250),
        Ok(0)
    );
    let info = net.info().unwrap();
    assert_eq!(info[0], u32::from_be_bytes([10, 0, 2, 15]) as u64);
    assert_eq!(info[4..], [5, 6]);
    assert_eq!(net.stats(), Ok([1, 2, 3, 4, 5, 6]));
    let down = net.driver_stats().unwrap_err();
    assert_eq!(down.to_string(), "network down (status 9)");
    assert_eq!(net.close(9), Err(SocketError::Status(status::BAD_HANDLE)));
    net.close(2).unwrap();
}
