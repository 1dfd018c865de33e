//! The block service (ring 3): mounts `block::BlockStore` on the disk that
//! the virtio-blk driver serves (mount replays the journal; a blank disk is
//! formatted) and serves `block::Transactional` over IPC
//! (`block_api::BlockRequest`).
//!
//! Capabilities (boot.cfg): slot 0 = the virtio-blk driver's endpoint (its
//! badge picks the disk). Clients call this process with their own badge.
#![no_std]
#![no_main]

extern crate alloc;

mod serve;

use block::{BlockStore, Config, Error};
use userlib::ipc::Endpoint;
use userlib::println;
use virtio_blk_api::BlkClient;

userlib::entry!(main);

/// Journal and cache sizes for the service: the journal (4 MiB) holds the
/// largest transaction the filesystem makes (an upload piece of 256 KiB is
/// written fresh, outside the journal; its index and tree updates are a few
/// dozen blocks); the cache is 8 MiB.
fn config() -> Config {
    Config {
        cache_blocks: 2048,
        journal_blocks: 1024,
        group_commit_blocks: 256,
    }
}

/// The disk the driver serves for our capability; with none, the error
/// clients get is a device of 0 blocks (what is there to mount).
fn connect() -> Result<BlkClient, Error> {
    BlkClient::connect(virtio_blk_api::Resending(Endpoint(0))).map_err(|e| {
        println!("block: no disk: {e:?}");
        Error::DeviceTooSmall {
            block_count: 0,
            needed: 1,
        }
    })
}

/// Mounts the store, formatting the disk first when it holds none (both
/// superblocks blank). Any other failure is reported and not "repaired" by
/// formatting: the data may still be recoverable.
fn open() -> Result<BlockStore<serve::Timed<BlkClient>>, Error> {
    let device = serve::Timed(connect()?);
    match BlockStore::mount(device, config()) {
        Ok(s) => {
            println!(
                "block: mounted {} blocks, {} transactions replayed",
                s.geometry().block_count,
                s.stats().transactions_replayed
            );
            // What mount found and repaired (a damaged superblock copy or
            // journal block) is said at boot, not left for fsck to find.
            for e in s.events() {
                println!("block: {e}");
            }
            Ok(s)
        }
        Err(Error::NotFormatted) => {
            let device = serve::Timed(connect()?);
            let s = BlockStore::format(device, config())?;
            println!(
                "block: formatted a blank disk of {} blocks",
                s.geometry().block_count
            );
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

fn main() {
    match open() {
        Ok(store) => serve::Service::new(store).run(),
        Err(e) => {
            println!("block: cannot open the store: {e}");
            serve::serve_failure(e)
        }
    }
}
