//! The filesystem/registry service (ring 3): mounts `filesystem::Registry`
//! over the block service (`block_api::client::BlockClient`, root slot 0;
//! a never-written slot is formatted) and serves the `fs_api::fs`
//! interface (`serve.rs`: the server trait, one method per operation).
//!
//! The content store runs in its own process (`content-server`): the
//! filesystem is `Fs<BlockClient, ContentClient>`, and every block
//! transaction it begins is delegated to the content service's badge at
//! the block service (the boot argument), so the content service stores
//! chunks inside it and chunks, index and namespace commit together.
//!
//! Capabilities (boot.cfg): slot 0 = the block service's endpoint, slot 1 =
//! the content service's; boot argument = the content service's badge at
//! the block service (bits 0-15; bits 16 and up: a fault-injection hook for
//! tests, see `main`). When a call finds the block service dead (the
//! supervisor restarts it in the same slot), the filesystem is mounted again
//! before the next request: the new block service has replayed its
//! journal, and nothing built on the dead one (an open transaction, a put
//! or upload half-sent) is kept. Clients
//! (the shell, test clients, the benchmark) call with their own badge: a
//! client number and the rights the boot configuration gives it
//! (`fs_api::rights`), checked before each operation runs. The per-client
//! state (an upload in progress, a put in progress) is kept per client
//! number. A failed call answers with `fs_api::FsError` and its values in
//! the same reply (`errors.rs` maps the library's errors onto it).
//!
//! Clients are served one request at a time, each to completion, so several
//! clients interleave only between requests and every request sees the
//! filesystem as one operation left it. Replies of durable operations wait
//! for a group commit: one sync for all the requests queued meanwhile, or
//! none when the group's last request committed durably itself (the loop
//! looks one request ahead, `serve`). A client that dies mid-request
//! makes the lease copies fail: the request ends with an error (any upload
//! piece not yet committed is dropped) and the service goes on.
#![no_std]
#![no_main]

extern crate alloc;

mod errors;
mod serve;

use block_api::client::BlockClient;
use content_api::client::ContentClient;
use filesystem::{Fs, Registry};
use fs_api::MountStage;
use userlib::println;

userlib::entry!(main);

fn main() {
    let arg = userlib::boot_arg();
    // Fault injection for the QEMU test `storage-fs-restart`: bits 16 and up
    // of the boot argument are the request at which the boot-time
    // incarnation exits without answering, as a crash would (0: never); a
    // restarted one serves on.
    let die_at = if userlib::sys::whoami().1 == 0 {
        arg >> 16
    } else {
        0
    };
    let content_badge = arg & 0xFFFF;
    serve::Service::new(mount(content_badge), content_badge, die_at).run()
}

/// Mounts the filesystem over the block and content services (at boot, and
/// again after the block service was restarted); why not, as a mount stage.
pub fn mount(content_badge: u64) -> Result<serve::Reg, MountStage> {
    let mounted = BlockClient::connect(0)
        .map_err(|e| {
            (
                MountStage::BlockService,
                alloc::format!("block service: {e}"),
            )
        })
        .and_then(|mut dev| {
            dev.set_delegate(Some(content_badge));
            // Each commit arms the next transaction: a begin costs no call
            // (block_api `commit_armed`; the fs is the store's one holder).
            dev.set_armed_begin(true);
            Fs::open_with(dev, 0, ContentClient::new(1))
                .map_err(|e| (MountStage::Mount, alloc::format!("mount: {e}")))
        });
    match mounted {
        Ok(mut fs) => {
            // The content service is another process: its chunk bytes are
            // checked before they reach a client (its roots always are).
            fs.check_received_chunks(true);
            fs.set_request_limit(fs_api::REQUEST_MAX);
            // Durable operations share syncs (serve.rs, `filesystem::group`).
            fs.set_group_commit(true);
            for e in fs.events() {
                println!("fs: {e}");
            }
            let mut registry = Registry::new(fs);
            registry.set_piece_size(fs_api::PIECE);
            Ok(registry)
        }
        Err((stage, why)) => {
            // Every call is answered `NotMounted` from now on; the why is here.
            println!("fs: cannot mount the filesystem: {why}");
            Err(stage)
        }
    }
}
