//! `NetClient` through the declared interface to a small in-process driver
//! (the fake kernel): a deferred `send` answered through its `Pending`, a
//! `receive` into the lease, and typed errors as the status codes and
//! values its caller (the network service) compares with.

use abi::fake::{FakeCaller, Loopback};
use abi::iface::{Caller, LeaseOut, Pending};
use abi::Lease;
use virtio_net_api::{
    batch, frames, mac_to_word, status, Counters, DriverError, InfoWords, NetClient, NetError,
    Received,
};

/// Frames sent are kept; `receive` hands them back.
#[derive(Default)]
struct Toy {
    queued: Vec<Vec<u8>>,
}

impl frames::Server<FakeCaller> for Toy {
    fn info(&mut self, _b: u64) -> Result<InfoWords, DriverError> {
        Ok(InfoWords {
            mac: mac_to_word([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            max_frame: 1514,
            rx_buffers: 64,
            tx_buffers: 64,
        })
    }
    fn send(&mut self, _b: u64, p: Pending<FakeCaller, u64, DriverError>, count: u64, l: Lease) {
        let mut data = vec![0u8; l.len as usize];
        p.caller().lease_read(0, 0, &mut data).unwrap();
        let mut n = 0;
        for f in batch::frames(&data, count as usize) {
            match f {
                Ok(f) => self.queued.push(f.to_vec()),
                Err(bad) => {
                    let e = DriverError::BadBatch {
                        record: bad.index as u64,
                        len: bad.len as u64,
                    };
                    return p.reply(Err(e)).unwrap();
                }
            }
            n += 1;
        }
        p.reply(Ok(n)).unwrap();
    }
    fn receive(&mut self, _b: u64, buf: LeaseOut<'_, FakeCaller>) -> Result<Received, DriverError> {
        let mut out = vec![0u8; buf.len() as usize];
        let mut w = batch::Writer::new(&mut out);
        let mut frames = 0;
        while let Some(f) = self.queued.first() {
            if !w.push_frame(f) {
                break;
            }
            self.queued.remove(0);
            frames += 1;
        }
        let (_, bytes) = w.finish();
        buf.write(0, &out[..bytes]).unwrap();
        Ok(Received {
            frames,
            bytes: bytes as u64,
            waiting: self.queued.len() as u64,
        })
    }
    fn stats(&mut self, _b: u64) -> Result<Counters, DriverError> {
        Err(DriverError::NoDevice {})
    }
}

abi::serve_with!(Toy, frames);

#[test]
fn client_over_a_fake_driver() {
    let lb = Loopback::new(Toy::default());
    let nic = NetClient::new(&lb);
    assert_eq!(nic.info().unwrap().mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);

    let mut tx = vec![0u8; 4096];
    let mut w = batch::Writer::new(&mut tx);
    assert!(w.push_frame(&[1u8; 60]));
    assert!(w.push_frame(&[2u8; 100]));
    let (n, bytes) = w.finish();
    nic.send(&tx[..bytes], n).unwrap();

    let mut rx = vec![0u8; 4096];
    let (frames, got, waiting) = nic.receive(&mut rx).unwrap();
    assert_eq!((frames, waiting), (2, 0));
    let back: Vec<Vec<u8>> = batch::frames(&rx[..got], frames)
        .map(|f| f.unwrap().to_vec())
        .collect();
    assert_eq!(back, vec![vec![1u8; 60], vec![2u8; 100]]);

    // More frames announced than the batch holds: the second record is bad.
    assert!(matches!(
        nic.send(&tx[..bytes], 3),
        Err(NetError::Status(status::BAD_BATCH, [2, _]))
    ));
    assert_eq!(
        nic.stats(),
        Err(NetError::Status(status::NO_DEVICE, [0, 0]))
    );
}
