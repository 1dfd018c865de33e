//! Fault injection through the device trait: whenever the device starts
//! failing writes and flushes, the store turns read-only (refuses every
//! change until remounted, reads still work), and a remount shows a
//! consistent state with every returned Durable commit.

use block::{
    BlockDevice, BlockStore, Config, DeviceError, Durability, Error, MemDevice, Transactional,
    BLOCK_SIZE,
};

/// Fails every write and flush once `budget` of them have succeeded.
struct Failing {
    inner: MemDevice,
    budget: u64,
}

impl BlockDevice for Failing {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.inner.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        if self.budget == 0 {
            return Err(DeviceError::Io { first, code: 5 });
        }
        self.budget -= 1;
        self.inner.write(first, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.budget == 0 {
            return Err(DeviceError::Io { first: 0, code: 5 });
        }
        self.budget -= 1;
        Ok(())
    }
}

#[test]
fn failing_device_stops_the_store_and_remount_recovers() {
    let config = Config {
        cache_blocks: 16,
        journal_blocks: 24,
        group_commit_blocks: 8,
    };
    let base = BlockStore::format(MemDevice::new(128), config)
        .unwrap()
        .unmount()
        .unwrap();
    for budget in 0..120 {
        let dev = Failing {
            inner: base.clone(),
            budget,
        };
        let Ok(mut s) = BlockStore::mount(dev, config) else {
            continue;
        };
        let root = s.root_block(0);
        let mut durable = 0u8;
        let mut failed = false;
        for v in 1..=30u8 {
            let r = (|| {
                s.begin()?;
                let e = s.allocate(1)?;
                s.write_fresh(e.start, &vec![v; BLOCK_SIZE])?;
                s.write(root, &vec![v; BLOCK_SIZE])?;
                s.commit(if v % 2 == 0 {
                    Durability::Durable
                } else {
                    Durability::Batched
                })
            })();
            match r {
                Ok(()) if v % 2 == 0 => durable = v,
                Ok(()) => {}
                Err(Error::ReadOnly(fault)) if fault.code == 5 => {
                    failed = true;
                    break;
                }
                Err(e) => panic!("budget {budget}: unexpected {e}"),
            }
        }
        if failed {
            assert!(
                matches!(s.begin(), Err(Error::ReadOnly(_))),
                "budget {budget}"
            );
            // Reads still serve the committed state.
            let mut buf = vec![0u8; BLOCK_SIZE];
            s.read(root, &mut buf).unwrap();
            assert!(buf[0] >= durable, "budget {budget}");
        }
        let image = s.into_device().inner;
        let mut s = BlockStore::mount(image, config).unwrap();
        let mut buf = vec![0u8; BLOCK_SIZE];
        s.read(root, &mut buf).unwrap();
        assert!(
            buf[0] >= durable,
            "budget {budget}: root {} but commit {durable} returned",
            buf[0]
        );
        assert!(s.check().unwrap().is_clean(), "budget {budget}");
    }
}
