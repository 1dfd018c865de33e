//! The block service's logic under the fake kernel: clients with their own
//! badges calling one in-process `Service` over a memory disk.
#![allow(dead_code)]

use std::cell::RefCell;

use abi::fake::{self, FakeCaller, Serve};
use abi::iface::{Dispatched, Transport};
use abi::{Error, Message};
use block::{BlockDevice, BlockStore, Config, MemDevice};
use block_api::{block_store, BlockClient};
use block_server::Service;

/// The service on device `D` (a memory disk, or a recording one for the
/// power-cut tests).
pub struct Svc<D: BlockDevice = MemDevice>(pub Service<D, FakeCaller>);

impl<D: BlockDevice> Serve for Svc<D> {
    fn dispatch(
        &mut self,
        badge: u64,
        caller: FakeCaller,
        msg: &Message,
    ) -> Dispatched<FakeCaller> {
        // As the process's loop does.
        self.0.count_call(badge, msg.label);
        block_store::dispatch(&mut self.0, badge, caller, msg)
    }
}

/// A formatted store of `blocks` blocks, served.
pub fn service(blocks: u64) -> RefCell<Svc> {
    let config = Config {
        cache_blocks: 256,
        journal_blocks: 256,
        group_commit_blocks: 64,
    };
    let store = BlockStore::format(MemDevice::new(blocks), config).expect("format");
    RefCell::new(Svc(Service::new(store, 1)))
}

/// One client's transport: its calls arrive with `badge`.
#[derive(Clone, Copy)]
pub struct Badged<'a, D: BlockDevice = MemDevice> {
    pub server: &'a RefCell<Svc<D>>,
    pub badge: u64,
}

impl<D: BlockDevice> Transport for Badged<'_, D> {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        fake::serve(&mut *self.server.borrow_mut(), self.badge, msg)
    }
}

pub fn client(server: &RefCell<Svc>, badge: u64) -> BlockClient<Badged<'_>> {
    BlockClient::connect_over(Badged { server, badge }).expect("connect")
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
