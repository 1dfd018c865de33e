//! The declaration macros of [`crate::iface`]: [`interface!`](crate::interface)
//! (operations → client stubs, server trait, dispatch), [`words!`](crate::words)
//! (a struct of words) and [`errors!`](crate::errors) (a typed error enum).
//! The `__iface_*` macros are their internals.

/// Declares an IPC interface as a module holding its client stub, its
/// server trait and its dispatch.
///
/// ```
/// abi::words! {
///     /// What `stat` answers.
///     pub struct Stat { pub size: u64, pub blocks: u32 }
/// }
/// abi::errors! {
///     pub enum EchoError {
///         /// The value is over the service's limit.
///         TooBig = 1 { value: u64, max: u64 } => "{value} is more than {max}",
///     }
/// }
/// abi::interface! {
///     /// An echo service.
///     pub mod echo {
///         /// Adds two numbers.
///         fn add = 1 (a: u32, b: u32) -> Result<u64, EchoError>;
///         /// Copies lease 0 (read by the server) into lease 1 (written).
///         fn copy = 2 () [0 from: Read(4096), 1 to: Write(4096)] -> Result<u64, EchoError>;
///         /// Answered later by the server (it keeps the caller).
///         fn wait = 3 (ticks: u64) -> Result<(), EchoError>, deferred;
///         fn stat = 4 () -> Result<Stat, core::convert::Infallible>;
///     }
/// }
/// # fn main() {}
/// ```
///
/// Each operation: `fn name = label (arguments) [leases] -> Result<Reply,
/// Error>` with an optional `, deferred`. Arguments and the reply are
/// [`Words`](crate::iface::Words) types; the error is a
/// [`ServiceError`](crate::iface::ServiceError) (from `errors!`). A lease is
/// `index name: Read|Write|ReadWrite(maximum bytes)`, the direction seen
/// from the server; every declared lease is required and non-empty, unless
/// declared `Read(maximum, may_be_empty)`: then an empty buffer (data of no
/// bytes) reaches the server as a lease of length 0 (it must not read it).
///
/// The module gets:
/// - `Client<T: Transport>` with one method per operation: the arguments,
///   then one slice per lease (`&[u8]` for `Read`, `&mut [u8]` otherwise),
///   returning `Result<Reply, CallError<Error>>`;
/// - `trait Server<C: Caller>` with one method per operation: `(&mut self,
///   badge, arguments.., leases..) -> Result<Reply, Error>`, the leases as
///   checked `LeaseIn`/`LeaseOut`/`LeaseInOut`. A `deferred` operation's
///   method returns nothing and gets a `Pending<C, Reply, Error>` after the
///   badge (to answer later) and its leases as the checked `abi::Lease`;
/// - `fn dispatch(server, badge, caller, msg) -> Dispatched<C>`: decodes
///   the message, checks the leases, calls the method, encodes the reply
///   or error; anything malformed is answered with a `Refused`;
/// - `mod label`: each operation's label;
/// - `trait PartialServer<C: Caller>`: the same methods, each with a default
///   that answers "not served" (below), and an impl of it for every `Server`.
///
/// # Partial servers (test fakes only)
///
/// A host-test fake that stands in for a service but serves only the
/// operations its test makes implements `PartialServer` instead of
/// `Server`, writing only those methods. The rules:
///
/// 1. **A real service implements `Server`** (`services/*/server`, and any
///    stand-in that must answer everything): then adding an operation to
///    the interface is a compile error until the server serves it.
///    `PartialServer` exists so that a fake is not padded with stubs; it
///    is never the way to leave an operation out of a running service.
/// 2. **"Not served" is the interface's answer for a label it does not
///    declare**: `Refused::UnknownOperation { label }`, so a client reports
///    `CallError::Refused` ("the service has no operation N"), exactly as
///    it would against an older service. It is neither a service error a
///    caller might act on nor a panic. A deferred operation's default
///    answers it through its `Pending` at once.
/// 3. **The call is checked first**: the dispatch decodes the arguments
///    and checks the leases as for any operation, so a malformed call to
///    an unserved operation gets its own refusal (`BadArgument`, ...).
/// 4. A served method returns `Result<Reply, PartialError<Error>>`: `?`
///    converts the service's error, and `Err(PartialError::NotServed)`
///    refuses one call as unserved. Deferred methods are unchanged.
/// 5. One type implements one of the two traits (every `Server` is already
///    a `PartialServer`, so implementing both does not compile); the one
///    `dispatch` takes either. For that reason a fake implements
///    `PartialServer` for one caller type (`abi::fake::FakeCaller`), not for
///    every `C`: the compiler cannot rule out another crate's `Server<C>`.
///
/// ```
/// abi::errors! { pub enum E { Full = 1 {} => "full" } }
/// abi::interface! {
///     pub mod kv {
///         fn put = 1 (key: u64, value: u64) -> Result<(), E>;
///         fn get = 2 (key: u64) -> Result<u64, E>;
///     }
/// }
/// /// A fake that only answers `get`.
/// struct Fake;
/// impl kv::PartialServer<abi::fake::FakeCaller> for Fake {
///     fn get(&mut self, _badge: u64, key: u64) -> Result<u64, abi::iface::PartialError<E>> {
///         Ok(key + 1)
///     }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! interface {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$ometa:meta])*
                fn $op:ident = $label:literal ( $( $arg:ident : $aty:ty ),* $(,)? )
                    $( [ $( $li:literal $lname:ident : $dir:ident ( $max:expr $(, $empty:ident)? ) ),* $(,)? ] )?
                    -> Result<$rty:ty, $ety:ty> $( , $defer:ident )? ;
            )*
        }
    ) => {
        $(#[$meta])*
        $vis mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::iface::{Caller, Dispatched, Refused, Transport};

            /// Each operation's label.
            #[allow(non_upper_case_globals)]
            pub mod label {
                $( pub const $op: u64 = $label; )*
            }

            const _: () = {
                let labels: &[u64] = &[$($label),*];
                let mut i = 0;
                while i < labels.len() {
                    assert!(labels[i] != 0, "label 0 is the success reply");
                    assert!(labels[i] < $crate::iface::REFUSED_BASE);
                    let mut j = i + 1;
                    while j < labels.len() {
                        assert!(labels[i] != labels[j], "two operations share a label");
                        j += 1;
                    }
                    i += 1;
                }
            };
            $(
                const _: () = assert!(
                    0 $( + <$aty as $crate::iface::Words>::COUNT )* <= $crate::MSG_WORDS,
                    concat!("the arguments of `", stringify!($op), "` exceed a message's words"),
                );
                const _: () = assert!(
                    <$rty as $crate::iface::Words>::COUNT <= $crate::MSG_WORDS,
                    concat!("the reply of `", stringify!($op), "` exceeds a message's words"),
                );
            )*

            /// The client stub: one method per operation.
            #[derive(Clone, Copy, Debug)]
            pub struct Client<T> {
                pub transport: T,
            }

            impl<T: Transport> Client<T> {
                pub const fn new(transport: T) -> Self {
                    Client { transport }
                }
                $(
                    $(#[$ometa])*
                    #[allow(clippy::too_many_arguments)]
                    pub fn $op(
                        &self,
                        $( $arg: $aty, )*
                        $($( $lname: $crate::__iface_slice!($dir), )*)?
                    ) -> Result<$rty, $crate::iface::CallError<$ety>> {
                        #[allow(unused_mut)]
                        let mut msg = $crate::Message::new($label, &[]);
                        let mut at = 0usize;
                        $( $crate::iface::put_arg(&mut msg.words, &mut at, &$arg); )*
                        let _ = at;
                        $($(
                            $crate::iface::check_buffer($li, $lname.len(), $max)?;
                            msg.leases[$li] = $crate::__iface_lend!($dir, $lname);
                        )*)?
                        let reply = self
                            .transport
                            .call(&msg)
                            .map_err($crate::iface::CallError::Kernel)?;
                        $crate::iface::reply_result(&reply)
                    }
                )*
            }

            /// What a server implements: one method per operation.
            pub trait Server<C: Caller> {
                $(
                    $crate::__iface_method! {
                        server [$($defer)?] $label, $(#[$ometa])* $op ( $( $arg : $aty ),* )
                        [ $($( $li $lname $dir ),*)? ] $rty, $ety
                    }
                )*
            }

            /// What a test fake implements when it serves only some
            /// operations: each method by default answers "not served"
            /// (`Refused::UnknownOperation`). Never for a real service:
            /// see "Partial servers" at `abi::interface!`.
            pub trait PartialServer<C: Caller> {
                $(
                    $crate::__iface_method! {
                        partial [$($defer)?] $label, $(#[$ometa])* $op ( $( $arg : $aty ),* )
                        [ $($( $li $lname $dir ),*)? ] $rty, $ety
                    }
                )*
            }

            /// A full server serves every operation; this impl also makes
            /// implementing both traits for one type a compile error.
            impl<C: Caller, S: Server<C> + ?Sized> PartialServer<C> for S {
                $(
                    $crate::__iface_method! {
                        forward [$($defer)?] $label, $op ( $( $arg : $aty ),* )
                        [ $($( $li $lname $dir ),*)? ] $rty, $ety
                    }
                )*
            }

            /// Decodes `msg` (a call from `badge`), checks it, runs the
            /// operation on `server` (a `Server`, or a `PartialServer`);
            /// returns the reply to send, or `Deferred` when a deferred
            /// operation took the caller.
            pub fn dispatch<C: Caller, S: PartialServer<C> + ?Sized>(
                server: &mut S,
                badge: u64,
                caller: C,
                msg: &$crate::Message,
            ) -> Dispatched<C> {
                match msg.label {
                    $(
                        $label => $crate::__iface_dispatch! {
                            [$($defer)?] server, badge, caller, msg,
                            $op ( $( $arg : $aty ),* )
                            [ $($( $li $lname $dir ($max $(, $empty)?) ),*)? ] $rty, $ety
                        },
                    )*
                    other => Dispatched::Reply(
                        caller,
                        Refused::UnknownOperation { label: other }.to_message(),
                    ),
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_slice {
    (Read) => {
        &[u8]
    };
    (Write) => {
        &mut [u8]
    };
    (ReadWrite) => {
        &mut [u8]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_lend {
    (Read, $buf:ident) => {
        $crate::iface::lend($buf)
    };
    (Write, $buf:ident) => {
        $crate::iface::lend_mut($buf)
    };
    (ReadWrite, $buf:ident) => {
        $crate::iface::lend_mut($buf)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_view {
    (Read) => { $crate::iface::LeaseIn<'_, C> };
    (Write) => { $crate::iface::LeaseOut<'_, C> };
    (ReadWrite) => { $crate::iface::LeaseInOut<'_, C> };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_view_new {
    (Read, $c:expr, $i:expr, $len:expr) => {
        $crate::iface::LeaseIn::checked($c, $i, $len)
    };
    (Write, $c:expr, $i:expr, $len:expr) => {
        $crate::iface::LeaseOut::checked($c, $i, $len)
    };
    (ReadWrite, $c:expr, $i:expr, $len:expr) => {
        $crate::iface::LeaseInOut::checked($c, $i, $len)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_may_be_empty {
    () => {
        false
    };
    (may_be_empty) => {
        true
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_method {
    // `Server`: every method required.
    (
        server [] $label:literal, $(#[$m:meta])* $op:ident $args:tt
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge) [] $(#[$m])* $op $args
            [ $( $lname $dir ),* ] -> Result<$rty, $ety>, ;
        }
    };
    (
        server [deferred] $label:literal, $(#[$m:meta])* $op:ident $args:tt
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge, pending) [deferred] $(#[$m])* $op $args
            [ $( $lname $dir ),* ] $rty, $ety, ;
        }
    };
    // `PartialServer`: the same arguments, every method answering "not
    // served" unless the fake implements it.
    (
        partial [] $label:literal, $(#[$m:meta])* $op:ident $args:tt
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge) [] $(#[$m])* $op $args [ $( $lname $dir ),* ]
            -> Result<$rty, $crate::iface::PartialError<$ety>>, {
                Err($crate::iface::PartialError::NotServed)
            }
        }
    };
    (
        partial [deferred] $label:literal, $(#[$m:meta])* $op:ident $args:tt
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge, pending) [deferred] $(#[$m])* $op $args
            [ $( $lname $dir ),* ] $rty, $ety, {
                // A caller that died meanwhile is not the server's error.
                let _ = pending.refuse($crate::iface::Refused::UnknownOperation { label: $label });
            }
        }
    };
    // A full `Server` as a `PartialServer` that serves everything.
    (
        forward [] $label:literal, $op:ident ( $( $arg:ident : $aty:ty ),* )
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge) [] #[inline] $op ( $( $arg : $aty ),* ) [ $( $lname $dir ),* ]
            -> Result<$rty, $crate::iface::PartialError<$ety>>, {
                Server::<C>::$op(self, badge, $( $arg, )* $( $lname, )*)
                    .map_err($crate::iface::PartialError::Service)
            }
        }
    };
    (
        forward [deferred] $label:literal, $op:ident ( $( $arg:ident : $aty:ty ),* )
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {
        $crate::__iface_fn! {
            (self, badge, pending) [deferred] #[inline] $op ( $( $arg : $aty ),* )
            [ $( $lname $dir ),* ] $rty, $ety, {
                Server::<C>::$op(self, badge, pending, $( $arg, )* $( $lname, )*)
            }
        }
    };
}

/// One operation's method: its signature (the same in `Server` and
/// `PartialServer`) and `;` or a body; the body's expansion names the
/// receiver, badge and pending call (macro hygiene).
#[doc(hidden)]
#[macro_export]
macro_rules! __iface_fn {
    (
        ($self:ident, $badge:ident) [] $(#[$m:meta])* $op:ident ( $( $arg:ident : $aty:ty ),* )
        [ $( $lname:ident $dir:ident ),* ] -> $ret:ty, $body:tt
    ) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments, unused_variables)]
        fn $op(
            &mut $self,
            $badge: u64,
            $( $arg: $aty, )*
            $( $lname: $crate::__iface_view!($dir), )*
        ) -> $ret $body
    };
    (
        ($self:ident, $badge:ident, $pending:ident)
        [deferred] $(#[$m:meta])* $op:ident ( $( $arg:ident : $aty:ty ),* )
        [ $( $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty, $body:tt
    ) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments, unused_variables)]
        fn $op(
            &mut $self,
            $badge: u64,
            $pending: $crate::iface::Pending<C, $rty, $ety>,
            $( $arg: $aty, )*
            $( $lname: $crate::Lease, )*
        ) $body
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_dispatch {
    (
        [$($defer:ident)?] $server:ident, $badge:ident, $caller:ident, $msg:ident,
        $op:ident ( $( $arg:ident : $aty:ty ),* )
        [ $( $li:literal $lname:ident $dir:ident ($max:expr $(, $empty:ident)?) ),* ] $rty:ty, $ety:ty
    ) => {{
        let mut at = 0usize;
        $(
            let $arg: $aty = match $crate::iface::take_arg(&$msg.words, &mut at) {
                Ok(v) => v,
                Err(r) => return $crate::iface::Dispatched::Reply($caller, r.to_message()),
            };
        )*
        let _ = at;
        $(
            let $lname = match $crate::iface::check_lease_of(
                $msg, $li, $crate::iface::Dir::$dir, $max, $crate::__iface_may_be_empty!($($empty)?),
            ) {
                Ok(len) => len,
                Err(r) => return $crate::iface::Dispatched::Reply($caller, r.to_message()),
            };
        )*
        $crate::__iface_call! {
            [$($defer)?] $server, $badge, $caller, $msg, $op ( $( $arg ),* )
            [ $( $li $lname $dir ),* ] $rty, $ety
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __iface_call {
    (
        [] $server:ident, $badge:ident, $caller:ident, $msg:ident, $op:ident ( $( $arg:ident ),* )
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {{
        let result = PartialServer::<C>::$op(
            $server,
            $badge,
            $( $arg, )*
            $( $crate::__iface_view_new!($dir, &$caller, $li, $lname), )*
        );
        let reply = $crate::iface::partial_reply_message::<$rty, $ety>($msg.label, result);
        $crate::iface::Dispatched::Reply($caller, reply)
    }};
    (
        [deferred] $server:ident, $badge:ident, $caller:ident, $msg:ident, $op:ident ( $( $arg:ident ),* )
        [ $( $li:literal $lname:ident $dir:ident ),* ] $rty:ty, $ety:ty
    ) => {{
        $( let _ = $lname; )*
        PartialServer::<C>::$op(
            $server,
            $badge,
            $crate::iface::Pending::new($caller),
            $( $arg, )*
            $( $msg.leases[$li], )*
        );
        $crate::iface::Dispatched::Deferred
    }};
}

/// Declares a struct of [`Words`](crate::iface::Words) fields that travels
/// as their words in order (a reply or an argument); or a newtype of one
/// `Words` value that travels as its words (e.g. `struct Counters(pub [u64; 6]);`).
#[macro_export]
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident ( $fvis:vis $fty:ty );
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name($fvis $fty);

        impl $crate::iface::Words for $name {
            const COUNT: usize = <$fty as $crate::iface::Words>::COUNT;
            fn put(&self, out: &mut [u64]) {
                $crate::iface::Words::put(&self.0, out);
            }
            fn take(words: &[u64]) -> Option<Self> {
                Some($name(<$fty as $crate::iface::Words>::take(words)?))
            }
        }

        const _: () = assert!(
            <$name as $crate::iface::Words>::COUNT <= $crate::MSG_WORDS,
            concat!("`", stringify!($name), "` exceeds a message's words"),
        );
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty ),*
        }

        impl $crate::iface::Words for $name {
            const COUNT: usize = 0 $( + <$fty as $crate::iface::Words>::COUNT )*;
            fn put(&self, out: &mut [u64]) {
                let mut at = 0usize;
                $(
                    let n = <$fty as $crate::iface::Words>::COUNT;
                    $crate::iface::Words::put(&self.$field, &mut out[at..at + n]);
                    at += n;
                )*
                let _ = (at, out);
            }
            fn take(words: &[u64]) -> Option<Self> {
                let mut at = 0usize;
                $(
                    let n = <$fty as $crate::iface::Words>::COUNT;
                    let $field = <$fty as $crate::iface::Words>::take(words.get(at..at + n)?)?;
                    at += n;
                )*
                let _ = (at, words);
                Some($name { $( $field ),* })
            }
        }

        const _: () = assert!(
            <$name as $crate::iface::Words>::COUNT <= $crate::MSG_WORDS,
            concat!("`", stringify!($name), "` exceeds a message's words"),
        );
    };
}

/// Declares a typed service error: each variant's code (the reply label,
/// `1..REFUSED_BASE`), its values (words, at most six in all) and the plain
/// words a user reads (a format string over the values). The enum derives
/// `Clone, Debug, PartialEq, Eq` (add `#[derive(Copy)]` when the values are).
///
/// ```
/// abi::errors! {
///     pub enum DiskError {
///         OutOfRange = 1 { first: u64, block_count: u64 }
///             => "block {first} is past the end of the disk ({block_count} blocks)",
///         ReadOnly = 2 {} => "the disk is read-only",
///     }
/// }
/// let e = DiskError::OutOfRange { first: 9, block_count: 8 };
/// assert_eq!(e.to_string(), "block 9 is past the end of the disk (8 blocks)");
/// assert_eq!(DiskError::name_of(2), Some("ReadOnly"));
/// ```
#[macro_export]
macro_rules! errors {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $code:literal { $( $field:ident : $fty:ty ),* $(,)? } => $text:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant { $( $field: $fty ),* } ),*
        }

        $(
            const _: () = assert!(
                $code >= 1 && $code < $crate::iface::REFUSED_BASE,
                "an error code lies in 1..REFUSED_BASE",
            );
            const _: () = assert!(
                0 $( + <$fty as $crate::iface::Words>::COUNT )* <= $crate::MSG_WORDS,
                concat!("the values of `", stringify!($variant), "` exceed a message's words"),
            );
        )*
        const _: () = {
            let codes: &[u64] = &[$($code),*];
            let mut i = 0;
            while i < codes.len() {
                let mut j = i + 1;
                while j < codes.len() {
                    assert!(codes[i] != codes[j], "two errors share a code");
                    j += 1;
                }
                i += 1;
            }
        };

        impl $crate::iface::ServiceError for $name {
            fn code(&self) -> u64 {
                match self {
                    $( $name::$variant { .. } => $code, )*
                }
            }
            #[allow(unused_variables, unused_mut)]
            fn put(&self, words: &mut [u64; $crate::MSG_WORDS]) {
                let mut at = 0usize;
                match self {
                    $( $name::$variant { $( $field ),* } => {
                        $( $crate::iface::put_arg(words, &mut at, $field); )*
                    } )*
                }
            }
            #[allow(unused_variables, unused_mut)]
            fn take(code: u64, words: &[u64; $crate::MSG_WORDS]) -> Option<Self> {
                let mut at = 0usize;
                match code {
                    $( $code => {
                        $( let $field = $crate::iface::take_arg::<$fty>(words, &mut at).ok()?; )*
                        Some($name::$variant { $( $field ),* })
                    } )*
                    _ => None,
                }
            }
        }

        impl $name {
            /// The name of the variant with `code` (`None`: not one of
            /// this type's): what a client that kept only the code, not
            /// the values, can still say.
            #[allow(dead_code)]
            pub fn name_of(code: u64) -> Option<&'static str> {
                match code {
                    $( $code => Some(stringify!($variant)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Display for $name {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    $( $name::$variant { $( $field ),* } => write!(f, $text), )*
                }
            }
        }
    };
}
