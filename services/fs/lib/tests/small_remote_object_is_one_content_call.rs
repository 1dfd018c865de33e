//! The filesystem's remote `Chunks` (the content service's client) stores
//! an object of at most `KEEP_MAX` bytes with ONE call (`store_whole_forward`)
//! instead of `writer_start`, `push` and `finish`; a larger one, or one
//! that grows past the bound, makes the calls it made before, the kept
//! bytes pushed first. Whatever the path, the references are those of the
//! in-process store fed the same pieces, and a writer dropped while it only
//! kept bytes makes no call.
//!
//! The content service here is a fake over the `content` library, served
//! through the interface's own dispatch (`abi::fake`), which records the
//! label of every call. It serves the writer operations only
//! (`chunk_store::PartialServer`): any other is refused as an operation
//! the service does not have, which the filesystem reports as such.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use abi::fake::{self, FakeCaller, Serve};
use abi::iface::{Dispatched, LeaseIn, LeaseInOut, PartialError, Refused, Transport};
use abi::{Error, Message};
use block::{BlockStore, Config, Durability, MemDevice, Transactional};
use content::{ChunkRef, ChunkWriter, ContentStore};
use content_api::{
    chunk_store, encode_frame, frame_root, ContentClient, ContentError, Whole, FRAME_LEN,
};
use filesystem::chunks::{ChunkStore, Chunks, Writer, KEEP_MAX};
use filesystem::FsError;

const KIB: usize = 1024;
const MIB: usize = 1 << 20;

const FORMAT: u64 = 1;
const WRITER_START: u64 = 2;
const PUSH: u64 = 3;
const FINISH: u64 = 4;
const WRITER_DROP: u64 = 12;
/// `store_whole_forward`: `store_whole` with the block writes handed back
/// to the caller (this fake, over a device of its own, sends none back).
const STORE_WHOLE_FORWARD: u64 = 28;

type Store = BlockStore<MemDevice>;

fn store() -> Store {
    BlockStore::format(MemDevice::new(16384), Config::default()).unwrap()
}

/// The content service's writer operations over the `content` library,
/// each request in a transaction of its own.
struct FakeContent {
    dev: Store,
    writers: BTreeMap<u64, ChunkWriter>,
    next_writer: u64,
    /// Labels of the calls received, in order.
    calls: Vec<u64>,
}

type Outcome<T> = Result<T, ContentError>;
/// A served operation's answer (`PartialServer`).
type Served<T> = Result<T, PartialError<ContentError>>;

fn fail(e: impl Into<content::Error>) -> ContentError {
    ContentError::from(e.into())
}

fn lease_bytes(data: &LeaseIn<'_, FakeCaller>) -> Vec<u8> {
    let mut bytes = vec![0u8; data.len() as usize];
    assert_eq!(data.read(0, &mut bytes).unwrap(), bytes.len());
    bytes
}

impl FakeContent {
    /// `f` on the store the frame's root names, inside a transaction; the
    /// new root and the references `f` emitted back into the frame.
    fn request(
        &mut self,
        frame: &LeaseInOut<'_, FakeCaller>,
        f: impl FnOnce(&mut ContentStore, &mut Store, &mut Vec<ChunkRef>) -> Outcome<()>,
    ) -> Outcome<u64> {
        let mut buf = vec![0u8; FRAME_LEN];
        frame.read(0, &mut buf).unwrap();
        let mut store = ContentStore::open(&frame_root(&buf).unwrap()).unwrap();
        let mut refs = Vec::new();
        self.dev.begin().unwrap();
        if let Err(e) = f(&mut store, &mut self.dev, &mut refs) {
            self.dev.abort();
            return Err(e);
        }
        self.dev.commit(Durability::Batched).unwrap();
        encode_frame(&mut buf, &store.encode_root(), &refs).unwrap();
        frame.write(0, &buf).unwrap();
        Ok(refs.len() as u64)
    }
}

/// Serves the writer operations only: the rest answer "not served"
/// (`PartialServer`'s default), which no test here but the last asks for.
impl chunk_store::PartialServer<FakeCaller> for FakeContent {
    fn writer_start(&mut self, _: u64, _: LeaseInOut<'_, FakeCaller>) -> Served<u64> {
        let id = self.next_writer;
        self.next_writer += 1;
        self.writers.insert(id, ChunkWriter::new());
        Ok(id)
    }
    fn push(
        &mut self,
        _: u64,
        writer: u64,
        frame: LeaseInOut<'_, FakeCaller>,
        data: LeaseIn<'_, FakeCaller>,
    ) -> Served<u64> {
        let bytes = lease_bytes(&data);
        let mut w = self
            .writers
            .remove(&writer)
            .ok_or(ContentError::NoWriter { writer })?;
        let n = self.request(&frame, |s, dev, refs| {
            w.write(s, dev, &bytes, |r| refs.push(r)).map_err(fail)
        })?;
        self.writers.insert(writer, w);
        Ok(n)
    }
    fn finish(&mut self, _: u64, writer: u64, frame: LeaseInOut<'_, FakeCaller>) -> Served<u64> {
        let w = self
            .writers
            .remove(&writer)
            .ok_or(ContentError::NoWriter { writer })?;
        Ok(self.request(&frame, |s, dev, refs| {
            w.finish(s, dev, |r| refs.push(r)).map(|_| ()).map_err(fail)
        })?)
    }
    fn store_whole_forward(
        &mut self,
        _: u64,
        len: u64,
        frame: LeaseInOut<'_, FakeCaller>,
        data: LeaseInOut<'_, FakeCaller>,
    ) -> Served<Whole> {
        let mut bytes = vec![0u8; len as usize];
        assert_eq!(data.read(0, &mut bytes).unwrap(), bytes.len());
        let refs = self.request(&frame, |s, dev, refs| {
            let mut w = ChunkWriter::new();
            w.write(s, dev, &bytes, |r| refs.push(r)).map_err(fail)?;
            w.finish(s, dev, |r| refs.push(r)).map(|_| ()).map_err(fail)
        })?;
        Ok(Whole { refs, images: 0 })
    }
    fn writer_drop(&mut self, _: u64, writer: u64) -> Served<()> {
        self.writers.remove(&writer);
        Ok(())
    }
}

impl Serve for FakeContent {
    fn dispatch(
        &mut self,
        badge: u64,
        caller: FakeCaller,
        msg: &Message,
    ) -> Dispatched<FakeCaller> {
        self.calls.push(msg.label);
        chunk_store::dispatch(self, badge, caller, msg)
    }
}

/// The client's transport: the fake, shared with the test.
#[derive(Clone)]
struct Fake(Rc<RefCell<FakeContent>>);

impl Transport for Fake {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        fake::serve(&mut *self.0.borrow_mut(), 1, msg)
    }
}

/// A remote store over a fresh fake service, and the service.
fn remote() -> (ContentClient<Fake>, Fake) {
    let mut dev = store();
    dev.begin().unwrap();
    let root = ContentStore::create(&mut dev).unwrap().encode_root();
    dev.commit(Durability::Durable).unwrap();
    let service = Fake(Rc::new(RefCell::new(FakeContent {
        dev,
        writers: BTreeMap::new(),
        next_writer: 1,
        calls: Vec::new(),
    })));
    let mut client = ContentClient::over(service.clone());
    client.set_root(root);
    (client, service)
}

/// `pieces` pushed to a new writer of `chunks` and finished; the
/// references.
fn put<C: Chunks<Store>>(chunks: &mut C, dev: &mut Store, pieces: &[&[u8]]) -> Vec<ChunkRef> {
    let mut refs = Vec::new();
    let mut w = chunks.writer();
    dev.begin().unwrap();
    for p in pieces {
        chunks.push(dev, &mut w, p, &mut refs).unwrap();
    }
    chunks.finish(dev, w, &mut refs).unwrap();
    dev.commit(Durability::Batched).unwrap();
    refs
}

/// The references of the in-process store fed the same pieces.
fn local_refs(pieces: &[&[u8]]) -> Vec<ChunkRef> {
    let mut dev = store();
    let mut local = ChunkStore::default();
    dev.begin().unwrap();
    Chunks::<Store>::format(&mut local, &mut dev).unwrap();
    dev.commit(Durability::Durable).unwrap();
    put(&mut local, &mut dev, pieces)
}

/// Puts `pieces` through a remote store: its references (checked equal to
/// the in-process store's) and the labels of the calls it made.
fn remote_put(pieces: &[&[u8]]) -> Vec<u64> {
    let (mut client, service) = remote();
    // The remote store ignores the caller's device: the service has its own.
    let mut unused = store();
    let refs = put(&mut client, &mut unused, pieces);
    assert_eq!(refs, local_refs(pieces), "the references of a plain store");
    let bytes: usize = pieces.iter().map(|p| p.len()).sum();
    assert_eq!(
        refs.iter().map(|r| r.len as usize).sum::<usize>(),
        bytes,
        "the references cover every byte"
    );
    let fake = service.0.borrow();
    assert!(fake.writers.is_empty(), "nothing stays open in the service");
    fake.calls.clone()
}

#[test]
fn a_small_put_is_one_call() {
    let data = testkit::noise(1, 4 * KIB);
    assert_eq!(remote_put(&[&data]), [STORE_WHOLE_FORWARD]);
}

#[test]
fn one_byte_and_the_bound_itself_are_one_call() {
    let data = testkit::noise(2, KEEP_MAX);
    assert_eq!(remote_put(&[&data[..1]]), [STORE_WHOLE_FORWARD]);
    assert_eq!(remote_put(&[&data]), [STORE_WHOLE_FORWARD]);
}

#[test]
fn an_empty_object_makes_no_call() {
    assert_eq!(remote_put(&[]), [] as [u64; 0]);
    assert_eq!(remote_put(&[&[]]), [] as [u64; 0]);
}

#[test]
fn pieces_within_the_bound_together_are_one_call() {
    let data = testkit::noise(3, KEEP_MAX);
    let (a, b) = data.split_at(10 * KIB);
    assert_eq!(remote_put(&[a, b]), [STORE_WHOLE_FORWARD]);
}

#[test]
fn an_object_ending_exactly_at_a_chunk_boundary_is_one_call() {
    // A seed whose first content-defined chunk fits the bound: the object
    // is that chunk, its end where the content cuts.
    let (data, first) = (0..64)
        .map(|seed| testkit::noise(seed, 4 * 256 * KIB))
        .find_map(|d| {
            let first = local_refs(&[&d])[0].len as usize;
            (first < KEEP_MAX).then_some((d, first))
        })
        .expect("some seed cuts a chunk under the bound");
    let whole = &data[..first];
    assert_eq!(remote_put(&[whole]), [STORE_WHOLE_FORWARD]);
    assert_eq!(local_refs(&[whole]).len(), 1);
}

#[test]
fn one_byte_over_the_bound_makes_the_calls_it_made_before() {
    let data = testkit::noise(4, KEEP_MAX + 1);
    assert_eq!(remote_put(&[&data]), [WRITER_START, PUSH, FINISH]);
}

#[test]
fn a_writer_growing_past_the_bound_pushes_what_it_kept_first() {
    let data = testkit::noise(5, 100 * KIB);
    let (a, b) = data.split_at(40 * KIB);
    assert_eq!(remote_put(&[a, b]), [WRITER_START, PUSH, PUSH, FINISH]);
}

#[test]
fn a_large_upload_makes_the_calls_it_made_before() {
    let data = testkit::noise(6, 3 * MIB + 77);
    let pieces: Vec<&[u8]> = data.chunks(MIB).collect();
    assert_eq!(
        remote_put(&pieces),
        [WRITER_START, PUSH, PUSH, PUSH, PUSH, FINISH]
    );
}

#[test]
fn a_writer_dropped_while_it_only_kept_bytes_makes_no_call() {
    let (mut client, service) = remote();
    let mut unused = store();
    let data = testkit::noise(7, 8 * KIB);
    let mut refs = Vec::new();
    let mut w: Writer = Chunks::<Store>::writer(&mut client);
    Chunks::<Store>::push(&mut client, &mut unused, &mut w, &data, &mut refs).unwrap();
    drop(w);
    assert_eq!(service.0.borrow().calls, [] as [u64; 0]);

    // One started in the service is ended there.
    let big = testkit::noise(8, KEEP_MAX + 1);
    let mut w: Writer = Chunks::<Store>::writer(&mut client);
    Chunks::<Store>::push(&mut client, &mut unused, &mut w, &big, &mut refs).unwrap();
    drop(w);
    let fake = service.0.borrow();
    assert_eq!(fake.calls, [WRITER_START, PUSH, WRITER_DROP]);
    assert!(fake.writers.is_empty());
}

#[test]
fn the_clients_whole_store_of_more_than_a_piece_goes_in_pieces() {
    let (mut client, service) = remote();
    let data = testkit::noise(9, MIB + 1);
    let mut refs = Vec::new();
    client.store_whole(&data, &mut refs).unwrap();
    assert_eq!(refs, local_refs(&[&data]));
    let fake = service.0.borrow();
    assert_eq!(fake.calls, [WRITER_START, PUSH, PUSH, FINISH]);
    assert!(fake.writers.is_empty());
}

#[test]
fn an_operation_the_fake_does_not_serve_is_refused_not_answered() {
    // `format` is not the fake's: the content service's client reports
    // the interface's unknown-operation refusal, as against an older
    // service, and the fake saw the call but changed nothing.
    let (mut client, service) = remote();
    let mut unused = store();
    let root = *client.root();
    let refused = Refused::UnknownOperation { label: FORMAT };
    assert_eq!(
        Chunks::<Store>::format(&mut client, &mut unused),
        Err(FsError::ContentService {
            code: refused.to_message().label,
            message: format!("request refused: {refused}"),
        })
    );
    assert_eq!(*client.root(), root);
    assert_eq!(service.0.borrow().calls, [FORMAT]);
}
