//! A client interface (plain smoltcp, 10.0.2.2) wired back to back with the
//! service's `Stack` (10.0.2.15): three connections at once each send 1 MiB
//! of pseudo-random bytes; the service side echoes through `read`/`write`
//! exactly as the server does; every byte comes back in order.

mod common;

use netstack::device::QueueDevice;
use netstack::smoltcp::iface::SocketSet;
use netstack::smoltcp::socket::tcp;
use netstack::smoltcp::time::Instant;
use netstack::SockError;

const OWNER: u64 = 7;
const LEN: usize = 1 << 20;

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn three_connections_echo_a_mebibyte_each() {
    let mut server = common::server();
    let listener = server.listen(OWNER, 5000, 4).unwrap();
    assert_eq!(server.listen(OWNER, 5000, 4), Err(SockError::PortInUse));
    assert_eq!(
        server.accept(OWNER + 1, listener),
        Err(SockError::BadHandle)
    );

    let mut cdev = QueueDevice::default();
    let mut client = common::client(&mut cdev);
    let mut csockets = SocketSet::new(vec![]);
    let data: Vec<Vec<u8>> = (0..3).map(|i| pattern(i + 11, LEN)).collect();
    let mut handles = vec![];
    for i in 0..3u16 {
        handles.push(common::connect(
            &mut client,
            &mut csockets,
            40000 + i,
            65536,
        ));
    }
    let mut sent = [0usize; 3];
    let mut got: Vec<Vec<u8>> = vec![vec![]; 3];
    let mut conns = vec![];
    let mut buf = vec![0u8; 8192];
    let mut end = 0;
    for ms in 0..200_000u64 {
        end = ms;
        let t = Instant::from_millis(ms as i64);
        common::exchange(ms, &mut client, &mut cdev, &mut csockets, &mut server);
        while let Some((c, remote)) = server.accept(OWNER, listener).unwrap() {
            assert_eq!(remote.ip, [10, 0, 2, 2]);
            conns.push(c);
        }
        // The service side: echo whatever arrived.
        for &c in &conns {
            let n = server
                .read(OWNER, c, buf.len(), |d| {
                    buf[..d.len()].copy_from_slice(d);
                    d.len()
                })
                .unwrap();
            if let Some(n) = n.filter(|&n| n > 0) {
                let mut off = 0;
                while off < n {
                    match server.write(OWNER, c, n - off, |room| {
                        room.copy_from_slice(&buf[off..off + room.len()]);
                        room.len()
                    }) {
                        Ok(Some(w)) => off += w,
                        _ => {
                            server.poll(ms);
                            while let Some(f) = server.pop_frame() {
                                cdev.rx.push_back(f);
                            }
                            client.poll(t, &mut cdev, &mut csockets);
                            while let Some(f) = cdev.tx.pop_front() {
                                server.push_frame(&f);
                            }
                        }
                    }
                }
            }
        }
        for i in 0..3 {
            let s = csockets.get_mut::<tcp::Socket>(handles[i]);
            if s.can_send() && sent[i] < LEN {
                sent[i] += s.send_slice(&data[i][sent[i]..]).unwrap();
            }
            while s.can_recv() {
                s.recv(|d| {
                    got[i].extend_from_slice(d);
                    (d.len(), ())
                })
                .unwrap();
            }
        }
        if got.iter().all(|g| g.len() == LEN) {
            break;
        }
    }
    assert_eq!(conns.len(), 3);
    for i in 0..3 {
        assert_eq!(
            got[i].len(),
            LEN,
            "connection {i} echoed {} bytes",
            got[i].len()
        );
        assert!(got[i] == data[i], "connection {i}: echo differs");
    }
    // Close: the client sees end of stream after the service closes.
    for &c in &conns {
        server.close(OWNER, c).unwrap();
        assert_eq!(server.close(OWNER, c), Err(SockError::BadHandle));
    }
    for ms in end..end + 50 {
        client.poll(Instant::from_millis(ms as i64), &mut cdev, &mut csockets);
        while let Some(f) = cdev.tx.pop_front() {
            server.push_frame(&f);
        }
        server.poll(ms);
        while let Some(f) = server.pop_frame() {
            cdev.rx.push_back(f);
        }
    }
    for &h in &handles {
        let s = csockets.get::<tcp::Socket>(h);
        assert!(!s.may_recv(), "client socket still open: {}", s.state());
    }
    assert_eq!(server.counts().1, 0);
}
