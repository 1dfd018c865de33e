//! The kernel/user ABI, shared by the kernel and `userlib`: syscall numbers,
//! error codes, the IPC message layout and typed protocols on top of it.
//!
//! An IPC interface is declared once with [`interface!`] (operations, their
//! argument words, leases, reply and error types), [`words!`] (reply
//! structs) and [`errors!`] (typed errors): see [`iface`] for the scheme
//! and `docs/architecture.md` for a worked example. [`protocol!`](macro@crate::protocol) is the
//! older request-only encoding, kept until every service is converted.
//!
//! Design principles:
//! - One place defines every number that crosses the user/kernel boundary;
//!   both sides import it, so they cannot drift.
//! - Plain `repr(C)` data only: the kernel copies these structs out of and
//!   into user memory and checks every field before using it.
//! - Errors are numbers starting at 1 (0 means success), with a name each.
//!
//! The syscall calling convention and each call's arguments, results and
//! errors are documented in `kernel/SYSCALLS.md`.
#![cfg_attr(not(test), no_std)]

#[cfg(feature = "fake")]
pub mod fake;
pub mod iface;
mod iface_macros;
pub mod proto;

/// Syscall numbers (passed in `rax`). See `kernel/SYSCALLS.md`.
pub mod sys {
    pub const EXIT: u64 = 0;
    pub const YIELD: u64 = 1;
    pub const NOP: u64 = 2;
    pub const CONSOLE_WRITE: u64 = 3;
    pub const CONSOLE_READ: u64 = 4;
    pub const CALL: u64 = 5;
    pub const RECV: u64 = 6;
    pub const REPLY: u64 = 7;
    pub const REPLY_RECV: u64 = 8;
    pub const LEASE_READ: u64 = 9;
    pub const LEASE_WRITE: u64 = 10;
    pub const NOTIFY: u64 = 11;
    pub const MEM_ALLOC: u64 = 12;
    pub const CAP_MINT: u64 = 13;
    pub const CAP_DROP: u64 = 14;
    pub const POWEROFF: u64 = 15;
    pub const TICKS: u64 = 16;
    pub const MMIO_MAP: u64 = 17;
    pub const DMA_ALLOC: u64 = 18;
    pub const IRQ_BIND: u64 = 19;
    pub const IRQ_ACK: u64 = 20;
    pub const PORT_IN: u64 = 21;
    pub const PORT_OUT: u64 = 22;
    pub const VIRT_TO_PHYS: u64 = 23;
    pub const DMA_FREE: u64 = 24;
    pub const LEASE_PHYS: u64 = 25;
    pub const CAP_KEEP: u64 = 26;
    pub const DEATH_WATCH: u64 = 27;
    pub const DEATH_NEXT: u64 = 28;
    pub const RESTART: u64 = 29;
    pub const WHOAMI: u64 = 30;
    pub const KILL: u64 = 31;
    pub const CPU_TIME: u64 = 32;
    pub const CPU_TIMES: u64 = 33;
    /// One past the highest syscall number.
    pub const COUNT: u64 = 34;
}

/// Why a syscall failed (returned in `rax`; 0 is success).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The syscall number is not one of `sys::*`.
    BadSyscall = 1,
    /// A pointer/length is outside the caller's mapped user memory, or lacks
    /// the needed permission (read or write).
    BadAddress = 2,
    /// The capability slot is empty, out of range, or of the wrong kind.
    BadCap = 3,
    /// The peer (the server called, or the caller being replied to) has died.
    PeerDead = 4,
    /// The reply token names no caller waiting for this process's reply.
    BadToken = 5,
    /// The lease index, permission or range is invalid.
    BadLease = 6,
    /// Out of physical memory, or over the process's memory limit.
    NoMemory = 7,
    /// The boot configuration did not grant this process the right.
    NotPermitted = 8,
    /// An argument has a value outside its domain (flags, kinds).
    BadArgument = 9,
    /// Non-blocking receive found nothing to receive.
    WouldBlock = 10,
    /// The receiver's capability table is full.
    CapTableFull = 11,
}

impl Error {
    pub const ALL: [Error; 11] = [
        Error::BadSyscall,
        Error::BadAddress,
        Error::BadCap,
        Error::PeerDead,
        Error::BadToken,
        Error::BadLease,
        Error::NoMemory,
        Error::NotPermitted,
        Error::BadArgument,
        Error::WouldBlock,
        Error::CapTableFull,
    ];

    pub fn from_code(code: u64) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| *e as u64 == code)
    }
}

/// In plain words, for messages a user reads ("content service unreachable:
/// the service died").
impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::BadSyscall => "no such system call",
            Error::BadAddress => "a buffer outside the caller's memory",
            Error::BadCap => "no such capability",
            Error::PeerDead => "the service died",
            Error::BadToken => "no caller waiting for that reply",
            Error::BadLease => "a buffer lent without the needed access or size",
            Error::NoMemory => "out of memory",
            Error::NotPermitted => "not permitted by the boot configuration",
            Error::BadArgument => "an argument out of range",
            Error::WouldBlock => "nothing to receive",
            Error::CapTableFull => "the capability table is full",
        })
    }
}

/// A kernel error crosses in one word, its code.
impl iface::Words for Error {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        out[0] = *self as u64;
    }
    fn take(words: &[u64]) -> Option<Self> {
        Error::from_code(*words.first()?)
    }
}

/// Data words carried by a message besides its label.
pub const MSG_WORDS: usize = 6;
/// Leases a message may carry.
pub const MAX_LEASES: usize = 2;
/// `Message::cap` value meaning "no capability transferred".
pub const NO_CAP: u64 = u64::MAX;
/// Capability slots per process.
pub const CAP_SLOTS: usize = 64;

/// Lease permission bits.
pub mod lease {
    /// The server may read the lent buffer.
    pub const READ: u64 = 1;
    /// The server may write the lent buffer.
    pub const WRITE: u64 = 2;
}

/// A buffer of the caller's that the server may read and/or write through
/// the kernel while the call is outstanding. `len == 0` means no lease.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// Caller's address. The kernel zeroes it in the copy the server receives.
    pub addr: u64,
    pub len: u64,
    /// `lease::READ | lease::WRITE`.
    pub flags: u64,
}

/// The fixed-size IPC message (112 bytes), copied by the kernel from the
/// sender's memory into the receiver's.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request: the operation. Reply: 0 for success or a service error code.
    pub label: u64,
    pub words: [u64; MSG_WORDS],
    pub leases: [Lease; MAX_LEASES],
    /// Send: a capability slot to copy to the receiver, or `NO_CAP`.
    /// Receive: the slot the copy landed in, or `NO_CAP`.
    pub cap: u64,
}

pub const MESSAGE_SIZE: usize = 112;
const _: () = assert!(core::mem::size_of::<Message>() == MESSAGE_SIZE);

impl Default for Message {
    fn default() -> Self {
        Message {
            label: 0,
            words: [0; MSG_WORDS],
            leases: [Lease::default(); MAX_LEASES],
            cap: NO_CAP,
        }
    }
}

impl Message {
    pub fn new(label: u64, words: &[u64]) -> Message {
        let mut m = Message {
            label,
            ..Message::default()
        };
        for (dst, src) in m.words.iter_mut().zip(words) {
            *dst = *src;
        }
        m
    }
}

/// What `RECV` returned (`rdi` of the result).
pub mod recv_kind {
    /// A call: `rsi` = the badge of the capability used, `rdx` = reply token.
    pub const MESSAGE: u64 = 0;
    /// Notification bits (`rsi`), already cleared from the pending set.
    pub const NOTIFICATION: u64 = 1;
}

/// `RECV` flags.
pub mod recv_flags {
    /// Return `Error::WouldBlock` instead of waiting.
    pub const NONBLOCKING: u64 = 1;
    /// Take notifications only: calls stay queued (a driver waiting for its
    /// device's interrupt in the middle of serving a call).
    pub const NOTIFICATIONS_ONLY: u64 = 2;
}

/// `REPLY` flags.
pub mod reply_flags {
    /// The replier goes on computing after the reply (it does not block
    /// at once): with more than one CPU, a halted one is woken to run the
    /// caller now rather than at its next tick. Without it a reply wakes
    /// no CPU (a server that receives next lets the caller run where it
    /// is; kernel/SYSCALLS.md, "Several CPUs").
    pub const CONTINUES: u64 = 1;
}

/// What a `DEATH_NEXT` notice is about (`rdi` of the result).
pub mod death_kind {
    /// A process that held an endpoint capability to the caller ended:
    /// `rsi` = that capability's badge (the client's identity).
    pub const CLIENT: u64 = 0;
    /// A process the caller supervises (`supervise=` in the boot
    /// configuration) ended: `rsi` = its process slot, for `RESTART`.
    pub const WATCHED: u64 = 1;
}

/// Death notices a process can have waiting; beyond it they are counted as
/// lost (`DEATH_NEXT` reports the count) and the server must treat every
/// client as suspect.
pub const DEATH_QUEUE: usize = 32;

/// `CAP_MINT` kinds.
pub mod mint_kind {
    /// An endpoint capability to the caller itself with badge `value`.
    pub const ENDPOINT: u64 = 0;
    /// A notification capability that sets bits `value` on the caller.
    pub const NOTIFICATION: u64 = 1;
}

/// Most bytes one `CONSOLE_WRITE` prints; a longer write is short (the
/// result says how many went out) and the caller writes the rest in a next
/// call. The kernel runs with interrupts off, so this bounds how long one
/// process's printing can hold them off (256 bytes are ~22 ms at 115200 baud
/// on a real UART); between calls the process is preemptible.
pub const CONSOLE_WRITE_MAX: u64 = 256;

/// One process slot's line of `CPU_TIMES`: the TSC cycles the kernel has
/// had that slot scheduled on the CPU (its code and its syscalls, every
/// incarnation) and its name from the boot configuration (NUL-padded,
/// cut at `CPU_NAME_LEN` bytes). The record of slot `i` is at index `i`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub cycles: u64,
    pub name: [u8; CPU_NAME_LEN],
}

/// Bytes of a process name in a [`CpuTime`] record.
pub const CPU_NAME_LEN: usize = 24;
pub const CPU_TIME_SIZE: usize = 32;
const _: () = assert!(core::mem::size_of::<CpuTime>() == CPU_TIME_SIZE);

impl CpuTime {
    /// The name as text (up to the first NUL; `?` if not UTF-8).
    pub fn name(&self) -> &str {
        let n = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(CPU_NAME_LEN);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }
}

/// Notification bit the kernel sets on the console-owning process when
/// serial input arrives.
pub const CONSOLE_INPUT_BIT: u64 = 1 << 63;

/// `POWEROFF` code meaning a clean shutdown (QEMU exits with status 0).
/// Any other value `v` is written to the isa-debug-exit port and QEMU exits
/// with status `2v + 1`.
pub const POWEROFF_CLEAN: u64 = 0;
/// Test verdict codes used by the QEMU test images (exit status 33 / 35).
pub const POWEROFF_TEST_PASS: u64 = 0x10;
pub const POWEROFF_TEST_FAIL: u64 = 0x11;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_and_start_at_one() {
        for e in Error::ALL {
            assert!(e as u64 >= 1);
            assert_eq!(Error::from_code(e as u64), Some(e));
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(999), None);
    }

    #[test]
    fn message_new_copies_at_most_msg_words() {
        let m = Message::new(7, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(m.label, 7);
        assert_eq!(m.words, [1, 2, 3, 4, 5, 6]);
        assert_eq!(m.cap, NO_CAP);
    }
}
