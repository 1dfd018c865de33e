//! The driver's typed errors cross the fake kernel with their values and
//! become the block layer's `DeviceError`s the block service expects;
//! requests the driver refuses change nothing on the disk.
mod support;

use abi::iface::CallError;
use block::{BlockDevice, DeviceError, IoRequest};
use support::{client, pattern};
use virtio_blk_api::{blk, io_code, BlkError, BLOCK_SIZE};

#[test]
fn out_of_range_names_the_disk_size_from_the_client_and_the_driver() {
    let mut dev = client(16, false);
    let mut two = vec![0u8; 2 * BLOCK_SIZE];
    assert_eq!(
        dev.read(15, &mut two),
        Err(DeviceError::OutOfRange {
            first: 15,
            blocks: 2,
            block_count: 16
        })
    );
    // Past the client's own check: the raw stub, the driver's answer.
    let driver = blk::Client::new(abi::fake::Loopback::new(support::FakeDriver::new(
        16, false,
    )));
    assert_eq!(
        driver.read(16, 1, &mut two[..BLOCK_SIZE]),
        Err(CallError::Service(BlkError::OutOfRange {
            entry: 0,
            first: 16,
            block_count: 16
        }))
    );
    // A lease shorter than the blocks asked.
    assert!(matches!(
        driver.read(0, 4, &mut two),
        Err(CallError::Service(BlkError::BadLength { .. }))
    ));
}

#[test]
fn a_read_only_disk_refuses_writes_and_keeps_its_data() {
    let mut dev = client(8, true);
    assert!(dev.read_only());
    assert_eq!(
        dev.write(3, &pattern(1, 7)),
        Err(DeviceError::Io {
            first: 3,
            code: io_code::READ_ONLY
        })
    );
    let mut back = vec![1u8; BLOCK_SIZE];
    dev.read(3, &mut back).unwrap();
    assert_eq!(back, vec![0u8; BLOCK_SIZE]);
}

#[test]
fn a_device_error_in_a_batch_names_the_entry_that_failed() {
    let mut dev = client(64, false);
    let datas: Vec<Vec<u8>> = (0..4).map(|i| pattern(1, i)).collect();
    let firsts = [1u64, 2, 40, 3];
    let mut batch: Vec<IoRequest> = firsts
        .iter()
        .zip(&datas)
        .map(|(&first, data)| IoRequest::Write { first, data })
        .collect();
    dev.submit(&mut batch).unwrap();
    // The same batch on a disk whose block 40 fails.
    let mut dev = {
        let transport = abi::fake::Loopback::new(support::FakeDriver::new(64, false));
        transport.server.borrow_mut().bad_block = Some(40);
        virtio_blk_api::DiskClient::connect(transport).unwrap()
    };
    let mut batch: Vec<IoRequest> = firsts
        .iter()
        .zip(&datas)
        .map(|(&first, data)| IoRequest::Write { first, data })
        .collect();
    assert_eq!(
        dev.submit(&mut batch),
        Err(DeviceError::Io {
            first: 40,
            code: io_code::DEVICE
        })
    );
}

#[test]
fn errors_read_as_plain_words() {
    let e = BlkError::OutOfRange {
        entry: 0,
        first: 16,
        block_count: 16,
    };
    assert_eq!(
        e.to_string(),
        "request 0 at block 16 reaches past the end of the disk (16 blocks)"
    );
    let dead: CallError<BlkError> = CallError::Kernel(abi::Error::PeerDead);
    assert!(dead.to_string().starts_with("service unreachable"));
}
