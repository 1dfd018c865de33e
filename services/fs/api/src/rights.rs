//! Rights per client, carried by the badge the boot configuration gives
//! (`ep=fs:<badge>`, which the kernel vouches for on every call):
//!
//! ```text
//!  bits 63..20   19     18        17     16     15..0
//!  [ reserved ][ADMIN][SNAPSHOT][WRITE][READ][ client number ]
//! ```
//!
//! - The client number (bits 0-15) names the client: its put and upload
//!   sessions are kept under it. The server's methods see only it.
//! - A right is a bit ([`Rights`]). A badge without rights bits has no
//!   rights: nothing is allowed by default.
//! - Which right each operation needs is said once, in [`needed`] (next
//!   to the interface declaration); [`dispatch`] checks it before the
//!   server's method runs and answers [`FsError::NotPermitted`] otherwise.
//!   An operation missing from the table is not served at all (a host
//!   test holds the table and the interface to the same operations).
//! - Reserved bits (20 and up) are ignored; keep them 0.

use core::fmt;

use abi::iface::{reply_message, Caller, Dispatched, Refused, Words};
use abi::Message;

use crate::{fs, needed, op_name, FsError};

/// Bits 0-15 of a badge: the client's number.
pub const CLIENT_MASK: u64 = 0xFFFF;

/// The client number a badge carries (what sessions are keyed by).
pub const fn client(badge: u64) -> u64 {
    badge & CLIENT_MASK
}

bitflags::bitflags! {
    /// What a client may do, as bits of its badge (bits 16-19).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rights: u64 {
        /// Look: stat, list, read files, blobs and manifests, the
        /// catalog, snapshot listings and diffs, df, stats.
        const READ = 1 << 16;
        /// Change files, blobs, manifests and upload sessions; sync.
        const WRITE = 1 << 17;
        /// Create, restore and remove snapshots.
        const SNAPSHOT = 1 << 18;
        /// Maintenance: gc, registry gc, fsck, shutdown.
        const ADMIN = 1 << 19;
    }
}

impl Rights {
    /// The rights a badge carries (its reserved bits ignored).
    pub const fn of_badge(badge: u64) -> Rights {
        Rights::from_bits_truncate(badge)
    }

    /// The badge of client `client` (bits 0-15) with these rights.
    pub const fn badge(self, client: u64) -> u64 {
        (client & CLIENT_MASK) | self.bits()
    }

    /// Each right with its name (as a noun) and what it lets a client
    /// do (as a verb phrase after "may not").
    const WORDS: [(Rights, &'static str, &'static str); 4] = [
        (Rights::READ, "read", "read"),
        (Rights::WRITE, "write", "write"),
        (
            Rights::SNAPSHOT,
            "snapshot",
            "create, restore or remove snapshots",
        ),
        (
            Rights::ADMIN,
            "admin",
            "run gc, registry gc, fsck, shutdown or set quotas",
        ),
    ];
}

/// Writes `items` as "a", "a and b", "a, b and c".
fn join<'a>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = &'a str> + Clone,
) -> fmt::Result {
    let n = items.clone().count();
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(if i + 1 == n { " and " } else { ", " })?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

/// The rights a client has, as nouns: "read only", "read and write",
/// "all rights", "no rights".
impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no rights");
        }
        if self.is_all() {
            return f.write_str("all rights");
        }
        let names = Rights::WORDS
            .iter()
            .filter(|(r, _, _)| self.contains(*r))
            .map(|(_, noun, _)| *noun);
        join(f, names)?;
        if self.bits().count_ones() == 1 {
            f.write_str(" only")?;
        }
        Ok(())
    }
}

impl Words for Rights {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.bits();
    }
    fn take(words: &[u64]) -> Option<Self> {
        Rights::from_bits(*words.first()?)
    }
}

/// The rights an operation needs, read as what the client may not do:
/// "write", "create, restore or remove snapshots".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needed(pub Rights);

impl fmt::Display for Needed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verbs = Rights::WORDS
            .iter()
            .filter(|(r, _, _)| self.0.contains(*r))
            .map(|(_, _, verb)| *verb);
        join(f, verbs)
    }
}

impl Words for Needed {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        self.0.put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        Rights::take(words).map(Needed)
    }
}

/// An operation, by its label; reads as its name in the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op(pub u64);

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match op_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "operation {}", self.0),
        }
    }
}

impl Words for Op {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.0;
    }
    fn take(words: &[u64]) -> Option<Self> {
        Some(Op(*words.first()?))
    }
}

/// Whether a client with `badge` may call the operation labelled `label`:
/// `Ok` to run it, else the refusal to answer with.
pub fn check(badge: u64, label: u64) -> Result<(), Message> {
    let has = Rights::of_badge(badge);
    match needed(label) {
        // Not in the table: not served (the interface's own answer to a
        // label it does not know).
        None => Err(Refused::UnknownOperation { label }.to_message()),
        Some(need) if has.contains(need) => Ok(()),
        Some(need) => Err(reply_message::<(), FsError>(&Err(FsError::NotPermitted {
            op: Op(label),
            needed: Needed(need),
            has,
        }))),
    }
}

/// The fs service's dispatch with the rights check in front: the one
/// place a call is checked. Runs `fs::dispatch` with the caller's client
/// number as its badge when its rights allow the operation.
pub fn dispatch<C: Caller, S: fs::Server<C> + ?Sized>(
    server: &mut S,
    badge: u64,
    caller: C,
    msg: &Message,
) -> Dispatched<C> {
    match check(badge, msg.label) {
        Ok(()) => fs::dispatch(server, client(badge), caller, msg),
        Err(refusal) => Dispatched::Reply(caller, refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::iface::{reply_result, CallError};
    use alloc::string::ToString;

    fn refusal(badge: u64, label: u64) -> Option<CallError<FsError>> {
        check(badge, label)
            .err()
            .map(|m| reply_result::<(), FsError>(&m).unwrap_err())
    }

    #[test]
    fn a_badge_splits_into_client_number_and_rights() {
        let badge = (Rights::READ | Rights::WRITE).badge(3);
        assert_eq!(badge, 0x3_0003);
        assert_eq!(client(badge), 3);
        assert_eq!(Rights::of_badge(badge), Rights::READ | Rights::WRITE);
        assert_eq!(Rights::of_badge(0xF_0001), Rights::all());
        // Reserved bits are ignored, not mistaken for rights.
        assert_eq!(Rights::of_badge(0xFFF0_0000_0001), Rights::empty());
    }

    #[test]
    fn a_badge_without_rights_bits_may_do_nothing() {
        for label in [fs::label::stat, fs::label::read, fs::label::df] {
            assert!(matches!(
                refusal(1, label),
                Some(CallError::Service(FsError::NotPermitted { .. }))
            ));
        }
    }

    #[test]
    fn each_right_allows_its_operations_and_no_others() {
        let read_only = Rights::READ.badge(2);
        assert_eq!(refusal(read_only, fs::label::stat), None);
        assert_eq!(refusal(read_only, fs::label::blob_read), None);
        assert_eq!(refusal(read_only, fs::label::snaps), None);
        for label in [
            fs::label::append,
            fs::label::put_begin,
            fs::label::blob_put,
            fs::label::snap_create,
            fs::label::snap_restore,
            fs::label::gc,
            fs::label::registry_gc,
            fs::label::fsck,
            fs::label::shutdown,
        ] {
            assert!(refusal(read_only, label).is_some(), "label {label}");
        }
        let registry = (Rights::READ | Rights::WRITE).badge(3);
        assert_eq!(refusal(registry, fs::label::upload_append), None);
        assert_eq!(refusal(registry, fs::label::sync), None);
        assert!(refusal(registry, fs::label::registry_gc).is_some());
        assert!(refusal(registry, fs::label::snap_remove).is_some());
        let shell = Rights::all().badge(1);
        assert_eq!(refusal(shell, fs::label::shutdown), None);
        assert_eq!(refusal(shell, fs::label::snap_restore), None);
    }

    #[test]
    fn a_refusal_reads_in_plain_words_and_crosses_intact() {
        let Some(CallError::Service(e)) = refusal(Rights::READ.badge(2), fs::label::append) else {
            panic!("append by a read-only client must be refused");
        };
        assert_eq!(
            e.to_string(),
            "not permitted: this client may not write (its boot configuration gives it \
             read only; append refused)"
        );
        let Some(CallError::Service(e)) = refusal(
            (Rights::READ | Rights::WRITE).badge(3),
            fs::label::snap_create,
        ) else {
            panic!("snap_create by a read-write client must be refused");
        };
        assert_eq!(
            e.to_string(),
            "not permitted: this client may not create, restore or remove snapshots (its boot \
             configuration gives it read and write; snap_create refused)"
        );
        let Some(CallError::Service(e)) = refusal(0x7_0000, fs::label::gc) else {
            panic!("gc without admin must be refused");
        };
        assert!(e.to_string().contains(
            "may not run gc, registry gc, fsck, shutdown or set quotas (its boot configuration \
             gives it read, write and snapshot; gc refused)"
        ));
        let Some(CallError::Service(e)) = refusal(4, fs::label::stat) else {
            panic!("a client without rights must be refused");
        };
        assert!(e.to_string().contains("gives it no rights; stat refused"));
    }

    #[test]
    fn a_label_outside_the_table_is_an_unknown_operation() {
        assert_eq!(
            refusal(Rights::all().badge(1), 33),
            Some(CallError::Refused(Refused::UnknownOperation { label: 33 }))
        );
    }
}
