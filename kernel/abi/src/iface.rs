//! Declared IPC interfaces: the types behind [`interface!`](crate::interface),
//! [`words!`](crate::words) and [`errors!`](crate::errors).
//!
//! One declaration per interface, in its `-api` crate, gives the client
//! stubs and the server's dispatch (see `docs/architecture.md`, "How to add
//! a service or an operation"). Everything a message carries is typed here:
//!
//! - **Arguments and replies** are [`Words`]: a fixed number of message
//!   words each, at most [`MSG_WORDS`] per message (checked at compile time).
//! - **Leases** are declared with their index, direction and maximum length;
//!   the dispatch checks presence, permission and length before the server
//!   sees them, and the server reads or writes them only through [`LeaseIn`],
//!   [`LeaseOut`] and [`LeaseInOut`] (for the kernel's checked copy).
//! - **Errors** cross in the same round trip as the call: the reply label is
//!   0 for success, else the error's code, and the words carry the error's
//!   values ([`ServiceError`]). Codes at and above [`REFUSED_BASE`] are the
//!   dispatch's own refusals ([`Refused`]: unknown operation, bad argument,
//!   bad lease), common to every interface. A client sees
//!   [`CallError`]: the service's typed error, a refusal, or the kernel's
//!   error (e.g. the server died); each has a `Display` in plain words.
//!
//! The transport is a trait ([`Transport`] for the client, [`Caller`] for
//! the server's side of one call), so a client stub and a dispatch run
//! together on the host with a fake (see this crate's `tests/`).
//!
//! Why a declarative macro rather than a build-time generator (Hubris's
//! idol) or a serialization crate: the messages are six fixed words and
//! two leases, so the encoding is a few lines per type; a `macro_rules!`
//! keeps the declaration next to the types it names, needs no build script
//! and no dependency, and its output is checked by the compiler like
//! hand-written code.

use core::fmt;
use core::marker::PhantomData;

use crate::proto::Word;
use crate::{Error, Lease, Message, MAX_LEASES, MSG_WORDS};

/// A value that travels as a fixed number of message words.
pub trait Words: Sized {
    /// Words it takes.
    const COUNT: usize;
    /// Writes the value into `out` (`COUNT` words).
    fn put(&self, out: &mut [u64]);
    /// `None` when the words are not a valid value (`words` holds `COUNT`).
    fn take(words: &[u64]) -> Option<Self>;
}

macro_rules! words_of_word {
    ($($t:ty),*) => {$(
        impl Words for $t {
            const COUNT: usize = 1;
            fn put(&self, out: &mut [u64]) {
                out[0] = Word::to_word(*self);
            }
            fn take(words: &[u64]) -> Option<Self> {
                <$t as Word>::from_word(*words.first()?)
            }
        }
    )*};
}
words_of_word!(u8, u16, u32, u64, usize, i64, bool);

impl Words for () {
    const COUNT: usize = 0;
    fn put(&self, _out: &mut [u64]) {}
    fn take(_words: &[u64]) -> Option<Self> {
        Some(())
    }
}

/// `N` words as themselves (a set of counters).
impl<const N: usize> Words for [u64; N] {
    const COUNT: usize = N;
    fn put(&self, out: &mut [u64]) {
        out[..N].copy_from_slice(self);
    }
    fn take(words: &[u64]) -> Option<Self> {
        words.get(..N)?.try_into().ok()
    }
}

/// 32 bytes (a hash) as four little-endian words.
impl Words for [u8; 32] {
    const COUNT: usize = 4;
    fn put(&self, out: &mut [u64]) {
        for (w, bytes) in out.iter_mut().zip(self.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            *w = u64::from_le_bytes(b);
        }
    }
    fn take(words: &[u64]) -> Option<Self> {
        let mut out = [0u8; 32];
        for (bytes, w) in out.chunks_exact_mut(8).zip(words.get(..4)?) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        Some(out)
    }
}

/// Reply labels from here up are the dispatch's own refusals; a service's
/// error codes lie in `1..REFUSED_BASE`.
pub const REFUSED_BASE: u64 = 0xFFFF_0000;

/// A service's typed error: the reply label is [`ServiceError::code`] and
/// the words carry its values. Declared with [`errors!`](crate::errors).
pub trait ServiceError: Sized {
    /// In `1..REFUSED_BASE`.
    fn code(&self) -> u64;
    fn put(&self, words: &mut [u64; MSG_WORDS]);
    /// `None` when `code` is not one of this type's or a value is invalid.
    fn take(code: u64, words: &[u64; MSG_WORDS]) -> Option<Self>;
}

/// The error of an operation that fails only by the dispatch's refusals.
impl ServiceError for core::convert::Infallible {
    fn code(&self) -> u64 {
        match *self {}
    }
    fn put(&self, _words: &mut [u64; MSG_WORDS]) {
        match *self {}
    }
    fn take(_code: u64, _words: &[u64; MSG_WORDS]) -> Option<Self> {
        None
    }
}

/// Which way a lease's data flows, seen from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The server reads the caller's buffer (the caller lends `&[u8]`).
    Read,
    /// The server writes the caller's buffer (`&mut [u8]`).
    Write,
    /// Both (`&mut [u8]`).
    ReadWrite,
}

impl Dir {
    /// The `abi::lease` permission bits the direction needs.
    pub const fn flags(self) -> u64 {
        match self {
            Dir::Read => crate::lease::READ,
            Dir::Write => crate::lease::WRITE,
            Dir::ReadWrite => crate::lease::READ | crate::lease::WRITE,
        }
    }

    pub fn from_flags(flags: u64) -> Option<Dir> {
        match flags {
            crate::lease::READ => Some(Dir::Read),
            crate::lease::WRITE => Some(Dir::Write),
            f if f == crate::lease::READ | crate::lease::WRITE => Some(Dir::ReadWrite),
            _ => None,
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Read => "readable",
            Dir::Write => "writable",
            Dir::ReadWrite => "readable and writable",
        })
    }
}

/// A lease of `buf` for the server to read, for one call.
pub fn lend(buf: &[u8]) -> Lease {
    Lease {
        addr: buf.as_ptr() as u64,
        len: buf.len() as u64,
        flags: crate::lease::READ,
    }
}

/// A lease of `buf` for the server to read and write, for one call.
pub fn lend_mut(buf: &mut [u8]) -> Lease {
    Lease {
        addr: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        flags: crate::lease::READ | crate::lease::WRITE,
    }
}

/// Why the dispatch (or the client stub, before sending) refused a call
/// without the service seeing it. Common to every interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No operation has this label.
    UnknownOperation { label: u64 },
    /// Argument word `index` holds `value`, which its type does not accept.
    BadArgument { index: u64, value: u64 },
    /// The operation needs lease `index` and the call has none there.
    MissingLease { index: u64 },
    /// Lease `index` is `len` bytes, more than the operation's `max`.
    LeaseTooLong { index: u64, len: u64, max: u64 },
    /// Lease `index` has permission bits `flags`; the operation needs `needs`.
    LeaseNotPermitted { index: u64, flags: u64, needs: u64 },
    /// The reply's label is no error the client knows (client side only).
    BadReply { label: u64 },
}

impl Refused {
    fn parts(&self) -> (u64, [u64; 3]) {
        match *self {
            Refused::UnknownOperation { label } => (0, [label, 0, 0]),
            Refused::BadArgument { index, value } => (1, [index, value, 0]),
            Refused::MissingLease { index } => (2, [index, 0, 0]),
            Refused::LeaseTooLong { index, len, max } => (3, [index, len, max]),
            Refused::LeaseNotPermitted {
                index,
                flags,
                needs,
            } => (4, [index, flags, needs]),
            Refused::BadReply { label } => (5, [label, 0, 0]),
        }
    }

    /// The reply message that carries this refusal.
    pub fn to_message(&self) -> Message {
        let (n, w) = self.parts();
        Message::new(REFUSED_BASE + n, &w)
    }

    /// The refusal a reply with `label` (at or above `REFUSED_BASE`) carries.
    pub fn from_reply(label: u64, w: &[u64; MSG_WORDS]) -> Refused {
        match label.wrapping_sub(REFUSED_BASE) {
            0 => Refused::UnknownOperation { label: w[0] },
            1 => Refused::BadArgument {
                index: w[0],
                value: w[1],
            },
            2 => Refused::MissingLease { index: w[0] },
            3 => Refused::LeaseTooLong {
                index: w[0],
                len: w[1],
                max: w[2],
            },
            4 => Refused::LeaseNotPermitted {
                index: w[0],
                flags: w[1],
                needs: w[2],
            },
            _ => Refused::BadReply { label },
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refused::UnknownOperation { label } => {
                write!(
                    f,
                    "the service has no operation {label} (client and service versions differ?)"
                )
            }
            Refused::BadArgument { index, value } => {
                write!(
                    f,
                    "argument word {index} holds {value}, which is not a valid value"
                )
            }
            Refused::MissingLease { index } => {
                write!(
                    f,
                    "the request lacks its buffer (lease {index}, empty or absent)"
                )
            }
            Refused::LeaseTooLong { index, len, max } => {
                write!(
                    f,
                    "buffer {index} is {len} bytes, at most {max} are allowed"
                )
            }
            Refused::LeaseNotPermitted { index, needs, .. } => match Dir::from_flags(needs) {
                Some(dir) => write!(f, "buffer {index} must be lent {dir}"),
                None => write!(f, "buffer {index} is lent with the wrong permissions"),
            },
            Refused::BadReply { label } => {
                write!(f, "the service answered with unknown status {label}")
            }
        }
    }
}

/// Why a call through a client stub failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The service's own typed error, with its values.
    Service(E),
    /// The request was refused before the service saw it.
    Refused(Refused),
    /// The kernel refused the call, or the service has died (`PeerDead`).
    Kernel(Error),
}

impl<E> From<Refused> for CallError<E> {
    fn from(r: Refused) -> Self {
        CallError::Refused(r)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Service(e) => e.fmt(f),
            CallError::Refused(r) => write!(f, "request refused: {r}"),
            CallError::Kernel(Error::PeerDead) => {
                f.write_str("service unreachable: it has stopped (restart the system)")
            }
            CallError::Kernel(e) => write!(f, "service unreachable: {e}"),
        }
    }
}

/// The client's side of the kernel: one call, waiting for its reply.
/// `userlib::ipc::Endpoint` implements it with the `CALL` syscall; host
/// tests implement it by calling a dispatch directly.
pub trait Transport {
    /// Sends `msg` (label, words and leases set) and returns the reply.
    fn call(&self, msg: &Message) -> Result<Message, Error>;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        (**self).call(msg)
    }
}

/// The server's side of one call: the caller's leases and the right to
/// answer once. `userlib::ipc::ReplyToken` implements it.
pub trait Caller {
    /// Copies lease `index` from `offset` into `buf`; returns bytes copied.
    fn lease_read(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize, Error>;
    /// Copies `data` into lease `index` at `offset`; returns bytes copied.
    fn lease_write(&self, index: usize, offset: u64, data: &[u8]) -> Result<usize, Error>;
    /// Answers the call.
    fn reply(self, msg: &Message) -> Result<(), Error>;
}

macro_rules! lease_view {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        pub struct $name<'a, C: Caller> {
            caller: &'a C,
            index: usize,
            len: u64,
        }

        impl<'a, C: Caller> $name<'a, C> {
            /// Used by the generated dispatch after its checks.
            #[doc(hidden)]
            pub fn checked(caller: &'a C, index: usize, len: u64) -> Self {
                $name { caller, index, len }
            }
            /// The lease's length in bytes (at most the declared maximum).
            pub fn len(&self) -> u64 {
                self.len
            }
            /// True only for a lease declared `may_be_empty` (the dispatch
            /// refuses other empty leases).
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }
        }
    };
}

lease_view!(
    /// A checked lease the server may read.
    LeaseIn
);
lease_view!(
    /// A checked lease the server may write.
    LeaseOut
);
lease_view!(
    /// A checked lease the server may read and write.
    LeaseInOut
);

impl<C: Caller> LeaseIn<'_, C> {
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        self.caller.lease_read(self.index, offset, buf)
    }
}

impl<C: Caller> LeaseOut<'_, C> {
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<usize, Error> {
        self.caller.lease_write(self.index, offset, data)
    }
}

impl<C: Caller> LeaseInOut<'_, C> {
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        self.caller.lease_read(self.index, offset, buf)
    }
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<usize, Error> {
        self.caller.lease_write(self.index, offset, data)
    }
}

/// A call of a `deferred` operation, answered later (in any order) with
/// its declared reply or error type.
pub struct Pending<C, R, E> {
    caller: C,
    _types: PhantomData<fn(R, E)>,
}

impl<C: Caller, R: Words, E: ServiceError> Pending<C, R, E> {
    #[doc(hidden)]
    pub fn new(caller: C) -> Self {
        Pending {
            caller,
            _types: PhantomData,
        }
    }
    /// The caller, for its leases (copies, physical runs).
    pub fn caller(&self) -> &C {
        &self.caller
    }
    /// Answers the call. A caller that died meanwhile is not an error of
    /// the server's: the kernel's error is returned for the record.
    pub fn reply(self, result: Result<R, E>) -> Result<(), Error> {
        self.caller.reply(&reply_message(&result))
    }
    /// Answers the call with one of the dispatch's refusals instead (what
    /// a [partial server](crate::interface#partial-servers-test-fakes-only)
    /// answers for a deferred operation it does not serve).
    pub fn refuse(self, refused: Refused) -> Result<(), Error> {
        self.caller.reply(&refused.to_message())
    }
}

/// The error of a `PartialServer`'s method (see
/// [`interface!`](crate::interface#partial-servers-test-fakes-only)): the
/// service's own error, or "this server does not serve the operation",
/// which the dispatch answers as [`Refused::UnknownOperation`], the same
/// answer as for a label the interface does not declare. `?` converts the
/// service's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialError<E> {
    Service(E),
    NotServed,
}

impl<E> From<E> for PartialError<E> {
    fn from(e: E) -> Self {
        PartialError::Service(e)
    }
}

/// What the dispatch did with a call.
pub enum Dispatched<C> {
    /// Answer `C` with this message (the server loop sends it, possibly
    /// after work of its own, e.g. flushing data it gathered).
    Reply(C, Message),
    /// A deferred operation took the caller: it answers later.
    Deferred,
}

impl<C: Caller> Dispatched<C> {
    /// Sends the reply, if any. A caller that died meanwhile is ignored.
    pub fn send(self) {
        if let Dispatched::Reply(caller, msg) = self {
            let _ = caller.reply(&msg);
        }
    }
}

/// The reply message of a typed result.
pub fn reply_message<R: Words, E: ServiceError>(result: &Result<R, E>) -> Message {
    let mut msg = Message::default();
    match result {
        Ok(r) => r.put(&mut msg.words[..R::COUNT]),
        Err(e) => {
            msg.label = e.code();
            e.put(&mut msg.words);
        }
    }
    msg
}

/// The reply message of a partial server's result for the operation
/// labelled `label`: [`reply_message`], or the unknown-operation refusal
/// when the operation is not served.
#[doc(hidden)]
pub fn partial_reply_message<R: Words, E: ServiceError>(
    label: u64,
    result: Result<R, PartialError<E>>,
) -> Message {
    match result {
        Ok(r) => reply_message::<R, E>(&Ok(r)),
        Err(PartialError::Service(e)) => reply_message::<R, E>(&Err(e)),
        Err(PartialError::NotServed) => Refused::UnknownOperation { label }.to_message(),
    }
}

/// The typed result a reply carries (client side).
pub fn reply_result<R: Words, E: ServiceError>(reply: &Message) -> Result<R, CallError<E>> {
    match reply.label {
        0 => R::take(&reply.words[..R::COUNT])
            .ok_or(CallError::Refused(Refused::BadReply { label: 0 })),
        l if l >= REFUSED_BASE => Err(CallError::Refused(Refused::from_reply(l, &reply.words))),
        l => Err(E::take(l, &reply.words)
            .map(CallError::Service)
            .unwrap_or(CallError::Refused(Refused::BadReply { label: l }))),
    }
}

/// Decodes the argument of type `T` at word `*at` and moves past it.
#[doc(hidden)]
pub fn take_arg<T: Words>(words: &[u64; MSG_WORDS], at: &mut usize) -> Result<T, Refused> {
    let start = *at;
    *at += T::COUNT;
    T::take(&words[start..start + T::COUNT]).ok_or(Refused::BadArgument {
        index: start as u64,
        value: words[start],
    })
}

/// Writes argument `value` at word `*at` and moves past it.
#[doc(hidden)]
pub fn put_arg<T: Words>(words: &mut [u64; MSG_WORDS], at: &mut usize, value: &T) {
    let start = *at;
    *at += T::COUNT;
    value.put(&mut words[start..start + T::COUNT]);
}

/// Checks lease `index` of a received call against its declaration:
/// present, permitted as `dir`, at most `max` bytes. Returns its length.
#[doc(hidden)]
pub fn check_lease(msg: &Message, index: usize, dir: Dir, max: u64) -> Result<u64, Refused> {
    check_lease_of(msg, index, dir, max, false)
}

/// [`check_lease`], where `may_be_empty` lets an empty lease through as
/// length 0 (a lease declared `may_be_empty`: data of no bytes).
#[doc(hidden)]
pub fn check_lease_of(
    msg: &Message,
    index: usize,
    dir: Dir,
    max: u64,
    may_be_empty: bool,
) -> Result<u64, Refused> {
    let Some(lease) = msg.leases.get(index).filter(|_| index < MAX_LEASES) else {
        return Err(Refused::MissingLease {
            index: index as u64,
        });
    };
    if lease.len == 0 && may_be_empty {
        return Ok(0);
    }
    if lease.len == 0 {
        return Err(Refused::MissingLease {
            index: index as u64,
        });
    }
    if lease.flags & dir.flags() != dir.flags() {
        return Err(Refused::LeaseNotPermitted {
            index: index as u64,
            flags: lease.flags,
            needs: dir.flags(),
        });
    }
    if lease.len > max {
        return Err(Refused::LeaseTooLong {
            index: index as u64,
            len: lease.len,
            max,
        });
    }
    Ok(lease.len)
}

/// The client's check of a buffer against its declaration before sending
/// (the same refusal the service would give, without the round trip).
#[doc(hidden)]
pub fn check_buffer(index: usize, len: usize, max: u64) -> Result<(), Refused> {
    if len as u64 > max {
        return Err(Refused::LeaseTooLong {
            index: index as u64,
            len: len as u64,
            max,
        });
    }
    Ok(())
}
