//! The block service under the fake kernel (feature `fake`, host tests
//! only): clients with their own badges calling one in-process [`Service`]
//! over a memory (or recording) disk, each call counted as the process's
//! loop counts it. Shared by the host tests of block-api and of the
//! filesystem, which count the calls a put makes.
extern crate std;

use core::cell::RefCell;

use abi::fake::{self, FakeCaller, Serve};
use abi::iface::{Dispatched, Transport};
use abi::{Error, Message};
use block::{BlockDevice, BlockStore, Config, MemDevice};
use block_api::{block_store, BlockClient};

use crate::Service;

/// The service on device `D`.
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

/// A store of `blocks` blocks formatted with `config`, served.
pub fn service_with(blocks: u64, config: Config) -> RefCell<Svc> {
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

/// A block client of `server` whose calls arrive with `badge`.
pub fn client<D: BlockDevice>(server: &RefCell<Svc<D>>, badge: u64) -> BlockClient<Badged<'_, D>> {
    BlockClient::connect_over(Badged { server, badge }).expect("connect")
}
