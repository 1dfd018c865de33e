//! The block service's logic under the fake kernel (`block_server::served`):
//! clients with their own badges calling one in-process `Service` over a
//! memory disk.
#![allow(dead_code, unused_imports)]

use std::cell::RefCell;

use abi::fake::{self, FakeCaller, Serve};
use abi::Message;
use block::Config;
use block_api::block_store;
pub use block_server::served::{client, Badged, Svc};

/// A formatted store of `blocks` blocks, served.
pub fn service(blocks: u64) -> RefCell<Svc> {
    let config = Config {
        cache_blocks: 256,
        journal_blocks: 256,
        group_commit_blocks: 64,
    };
    block_server::served::service_with(blocks, config)
}

pub fn stub(server: &RefCell<Svc>, badge: u64) -> block_store::Client<Badged<'_>> {
    block_store::Client::new(Badged { server, badge })
}

/// A `begin` from `badge` that may be deferred: the slot its answer lands
/// in (empty while it waits).
pub fn begin_call(server: &RefCell<Svc>, badge: u64) -> fake::ReplySlot {
    let msg = Message::new(block_store::label::begin, &[]);
    let (caller, slot) = FakeCaller::new(&msg);
    server.borrow_mut().dispatch(badge, caller, &msg).send();
    slot
}

/// `key=value` from the service's `counters block:` line.
pub fn counter(text: &str, key: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("counters block:"))
        .unwrap_or_else(|| panic!("no counters line in {text}"));
    line.split(' ')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}
