//! Received checksums are verified by the service itself (smoltcp's own
//! receive checks are off, `checksum.rs`): a client sends 256 KiB over one
//! connection while every 40th frame it sends is corrupted in flight, in
//! the TCP payload or in the IPv4 header. Each corrupted frame is dropped
//! and counted, TCP retransmits it, and every byte arrives intact.

mod common;

use netstack::device::QueueDevice;
use netstack::smoltcp::iface::SocketSet;
use netstack::smoltcp::socket::tcp;
use netstack::smoltcp::time::Instant;
use netstack::smoltcp::wire::IpAddress;

const OWNER: u64 = 3;
const LEN: usize = 256 * 1024;

#[test]
fn corrupted_segments_are_dropped_and_retransmitted() {
    let mut server = common::server();
    let listener = server.listen(OWNER, 5000, 1).unwrap();
    let mut cdev = QueueDevice::default();
    let mut client = common::client(&mut cdev);
    let mut csockets = SocketSet::new(vec![]);
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 65536]),
        tcp::SocketBuffer::new(vec![0; 65536]),
    );
    s.connect(client.context(), (IpAddress::v4(10, 0, 2, 15), 5000), 40000)
        .unwrap();
    let h = csockets.add(s);
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 + i / 977) as u8).collect();
    let (mut sent, mut got, mut conn) = (0usize, Vec::new(), None);
    let (mut frames, mut corrupted) = (0u64, 0u64);
    for ms in 0..100_000u64 {
        let t = Instant::from_millis(ms as i64);
        client.poll(t, &mut cdev, &mut csockets);
        while let Some(mut f) = cdev.tx.pop_front() {
            frames += 1;
            // Data segments only (14 Ethernet + 20 IPv4 + 20 TCP + payload).
            if frames % 40 == 0 && f.len() > 100 {
                let at = if corrupted % 2 == 0 {
                    f.len() - 7
                } else {
                    14 + 8
                };
                f[at] ^= 0x10;
                corrupted += 1;
            }
            server.push_frame(&f);
        }
        server.poll(ms);
        while let Some(f) = server.pop_frame() {
            cdev.rx.push_back(f);
        }
        if conn.is_none() {
            conn = server.accept(OWNER, listener).unwrap().map(|(c, _)| c);
        }
        let sock = csockets.get_mut::<tcp::Socket>(h);
        if sock.can_send() && sent < LEN {
            sent += sock.send_slice(&data[sent..]).unwrap();
        }
        if let Some(c) = conn {
            let _ = server.read(OWNER, c, 1 << 20, |d| {
                got.extend_from_slice(d);
                d.len()
            });
        }
        if got.len() == LEN {
            break;
        }
    }
    assert!(corrupted >= 4, "only {corrupted} frames corrupted");
    assert_eq!(got.len(), LEN, "the data did not all arrive");
    assert!(got == data, "the data arrived changed");
    assert_eq!(server.stats.bad_checksums, corrupted);
    assert!(server.stats.tcp_verified >= (LEN / 1460) as u64);
}
