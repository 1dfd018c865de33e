//! The request loop and the interface's server trait:
//! `fs_api::rights::dispatch` checks the caller's rights (its badge) and
//! `fs_api::fs::dispatch` decodes and checks each call, `fs::Server` (one
//! method per operation, in [`interface`], called with the caller's client
//! number) reads the text arguments and runs the operation in its room:
//! [`files`], [`puts`], [`blobs`], [`manifests`], [`snapshots`],
//! [`admin`], [`gc`], [`uploads`], [`registry_gc`].
//!
//! # Invariants
//! - Bulk data moves between leases and the filesystem through `piece`
//!   (`fs_api::PIECE` bytes); nothing sized by a client is allocated except
//!   a manifest, bounded by `fs_api::MANIFEST_MAX`.
//! - A client's session holds at most one upload and one put; a new
//!   `blob_begin` drops the unfinished upload (its data, already in
//!   `_uploads`, is removed), a new `put_begin` the unfinished put (its
//!   staging file is removed).
//! - Reads send only verified bytes: a read that meets a bad chunk after
//!   sending some bytes answers with those (a short read); the next read,
//!   starting at the bad chunk, fails and names its offset.
//! - A blob is hashed with SHA-256 once, at upload (`finish_upload` checks
//!   the digest the client named). Reads verify each chunk's BLAKE3 against
//!   the id the tree holds, which those checked bytes fixed; they do not
//!   hash SHA-256 again. `fsck` re-checks every blob's SHA-256 in full.
//! - Without a mounted filesystem every operation that needs it fails with
//!   `FsError::NotMounted`, from one place ([`mounted`]).
//! - Group commit ([`group`], rules in `filesystem::group`): a reply is
//!   sent only once what it reports is durable. Operations promised durable
//!   commit batched and their replies are held, with every reply after them,
//!   until one sync closes the group: when nothing more is queued, the
//!   group is full, a long request is next, or the block service died. The
//!   loop looks one request ahead at a small request's commit: if the group
//!   closes after it, that commit is durable, and the group closes with no
//!   sync.
//! - A stepped run (fsck, registry GC, chunk GC, snap space) is its client's job, kept
//!   under its client number: the kernel tells the service of a client's
//!   death (`DEATH_WATCH`) and [`Service::client_died`] ends the dead
//!   client's runs, unpinning their views, so a dead client holds nothing
//!   another must wait for or restart.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::iface::{Dispatched, LeaseIn, LeaseOut};
use block_api::client::BlockClient;
use content_api::client::ContentClient;
use filesystem::group::{Group, Limits};
use filesystem::{Digest, PutSession, Registry, RepoName, Upload};
use fs_api::{split_args, FsError, MountStage, Text, ARGS_MAX, PIECE};
use userlib::abi::death_kind;
use userlib::ipc::{recv, try_recv, Incoming, ReplyToken};
use userlib::sys;

use crate::errors::Fail;
use job::Job;

mod admin;
mod blobs;
mod files;
mod gc;
mod group;
mod interface;
mod job;
mod manifests;
mod puts;
mod quotas;
mod registry_gc;
mod snapshots;
mod uploads;

pub type Reg = Registry<BlockClient, ContentClient>;
/// What the service's code returns; the reply's error is made at the end.
type Outcome<R> = Result<R, Fail>;
type In<'a> = LeaseIn<'a, ReplyToken>;
type Out<'a> = LeaseOut<'a, ReplyToken>;

/// Where the time goes, two kinds of cycles (the `stats` line names
/// which): `HANDLE_WALL` is TSC (wall) cycles from a request's start to
/// its end, other processes' time while this one waits or is preempted
/// included; with `block_api::client::CALL_CYCLES` (wall, waiting for the
/// block service). `HANDLE_CPU` and `LEASE_CPU` are this process's own
/// scheduled cycles (`sys::cpu_time`, the kernel's accounts): its code and
/// its syscalls only, whatever else ran meanwhile.
static HANDLE_WALL: AtomicU64 = AtomicU64::new(0);
static HANDLE_CPU: AtomicU64 = AtomicU64::new(0);
static LEASE_CPU: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Runs a lease copy, counting its scheduled cycles.
fn timed_lease<R>(f: impl FnOnce() -> R) -> R {
    let t0 = userlib::sys::cpu_time();
    let r = f();
    LEASE_CPU.fetch_add(userlib::sys::cpu_time().wrapping_sub(t0), Ordering::Relaxed);
    r
}

struct UploadState {
    upload: Upload,
    repo: RepoName,
    digest: Digest,
    length: u64,
}

/// A client's put in progress.
struct PutState {
    session: PutSession,
    length: u64,
}

#[derive(Default)]
struct Session {
    upload: Option<UploadState>,
    put: Option<PutState>,
}

pub struct Service {
    /// The registry, or why the filesystem is not mounted.
    reg: Result<Reg, MountStage>,
    sessions: BTreeMap<u64, Session>,
    open_uploads: uploads::OpenUploads,
    /// Who started each upload session (`uploads::Owners`).
    upload_owners: uploads::Owners,
    piece: Vec<u8>,
    /// The content service's badge at the block service (for a remount).
    content_badge: u64,
    /// The request at which this process exits (fault injection; 0: never).
    die_at: u64,
    /// The block service died: mount again before the next request (until
    /// it succeeds: the restarted service may not be up yet).
    remount_due: bool,
    /// The replies held until the open group's sync.
    group: Group<group::Held>,
    /// The stepped fsck in progress (admin.rs).
    fsck_job: Option<admin::FsckJob>,
    /// The stepped registry GC in progress (registry_gc.rs).
    registry_gc_job: Option<registry_gc::RegistryGcJob>,
    /// The stepped chunk GC in progress (gc.rs).
    gc_job: Option<gc::GcJob>,
    /// The stepped `snap space` in progress (snapshots.rs).
    space_job: Option<snapshots::SpaceJob>,
}

/// The notification bit death notices are posted with.
const DEATH_BIT: u64 = 1;

impl Service {
    pub fn new(reg: Result<Reg, MountStage>, content_badge: u64, die_at: u64) -> Service {
        Service {
            reg,
            content_badge,
            die_at,
            remount_due: false,
            group: Group::new(Limits::default()),
            fsck_job: None,
            registry_gc_job: None,
            gc_job: None,
            space_job: None,
            sessions: BTreeMap::new(),
            open_uploads: uploads::OpenUploads::default(),
            upload_owners: uploads::Owners::default(),
            piece: vec![0u8; PIECE],
        }
    }

    pub fn run(mut self) -> ! {
        if let Err(e) = sys::death_watch(DEATH_BIT) {
            userlib::println!(
                "fs: DEATH_WATCH refused ({e:?}): a dead client's stepped run stays until another client starts one"
            );
        }
        loop {
            // With a group open, take what is queued without waiting;
            // nothing queued closes the group (its clients wait on us).
            // First what the last request's look-ahead took.
            let peeked = group::take_peeked();
            let incoming = if let Some(incoming) = peeked {
                incoming
            } else if self.group.is_open() {
                match try_recv(DEATH_BIT) {
                    Ok(incoming) => incoming,
                    Err(_) => {
                        self.close_group();
                        continue;
                    }
                }
            } else {
                match recv(DEATH_BIT) {
                    Ok(incoming) => incoming,
                    Err(_) => continue,
                }
            };
            let (badge, token, msg) = match incoming {
                Incoming::Call { badge, token, msg } => (badge, token, msg),
                Incoming::Notification(_) => {
                    self.deaths();
                    continue;
                }
            };
            // A long request waits for the group, not the group for it.
            let this = group::next_of(&msg);
            if self.group.close_before(this) {
                self.close_group();
            }
            // Look one request ahead at this one's commit: when the group
            // closes right after it, that commit is durable and pays for
            // the group (`filesystem::group`: no sync call).
            let probe = self.group.close_rule(this).map(group::probe);
            let (t0, cpu0) = (userlib::sys::rdtsc(), userlib::sys::cpu_time());
            let n = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
            if n == self.die_at {
                userlib::println!("fs: exiting at request {n} (boot argument)");
                userlib::sys::exit(1);
            }
            if self.remount_due {
                self.remount();
            }
            // Files get wall-clock mtimes (registry GC's grace period
            // reads them); without a clock, the filesystem's logical one.
            if let Ok(reg) = self.reg.as_mut() {
                reg.fs().set_time(userlib::sys::unix_time());
                reg.fs().set_group_close_probe(probe);
            }
            // The rights the caller's badge carries are checked here, once,
            // before any operation runs; the operations see its client
            // number. A caller that died meanwhile gets nothing; we go on.
            let answer = fs_api::rights::dispatch(&mut self, badge, token, &msg);
            if let Ok(reg) = self.reg.as_mut() {
                reg.fs().set_group_close_probe(None);
            }
            if let Dispatched::Reply(token, reply) = answer {
                let owed = self.owed();
                if let Some((token, reply)) = self.group.after((token, reply), owed) {
                    let _ = token.reply_message(&reply);
                }
            }
            if block_api::client::service_died() {
                userlib::println!("fs: the block service died; mounting again");
                // Its sync fails: every held call gets the error.
                self.close_group();
                self.remount_due = true;
            } else if self.group.is_full() || (self.reg.is_ok() && self.owed() == 0) {
                // Full, or made durable by this request's commit.
                self.close_group();
            }
            HANDLE_CPU.fetch_add(
                userlib::sys::cpu_time().wrapping_sub(cpu0),
                Ordering::Relaxed,
            );
            HANDLE_WALL.fetch_add(userlib::sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        }
    }

    /// The block service died (and the supervisor restarted it): the
    /// mounted state was built on the dead incarnation, so mount again from
    /// what the new one replayed, and drop every client's put or upload in
    /// progress (their next call says there is none; uploads resume from
    /// their durable bytes) and every stepped run.
    fn remount(&mut self) {
        self.sessions.clear();
        // Runs pinned in the old mount are gone; the new mount's pin keys
        // start again, so a kept job could pass for a new run.
        self.fsck_job = None;
        self.registry_gc_job = None;
        self.gc_job = None;
        self.space_job = None;
        self.open_uploads = uploads::OpenUploads::default();
        self.reg = Err(MountStage::BlockService);
        self.reg = crate::mount(self.content_badge);
        // A call that found the dead service again is not a new death.
        let _ = block_api::client::service_died();
        self.remount_due = self.reg.is_err();
        if !self.remount_due {
            userlib::println!("fs: mounted again after the block service's restart");
        }
    }

    /// Takes every waiting death notice; ends what each dead client ran.
    fn deaths(&mut self) {
        loop {
            let notice = match sys::death_next() {
                Ok(n) => n,
                Err(userlib::Error::WouldBlock) => return,
                Err(e) => return userlib::println!("fs: DEATH_NEXT failed: {e:?}"),
            };
            if notice.lost > 0 {
                // Which clients died is unknown: their runs stay until
                // another client starts one, which ends them.
                userlib::println!("fs: {} death notices lost", notice.lost);
            }
            if notice.kind == death_kind::CLIENT {
                self.client_died(fs_api::rights::client(notice.value));
            }
        }
    }

    /// Client `client` is gone: its stepped runs end (their pins go).
    fn client_died(&mut self, client: u64) {
        let mut ended: Vec<&str> = Vec::new();
        if let Some(run) = Job::take_owned(&mut self.fsck_job, client) {
            if let Ok(reg) = self.reg.as_mut() {
                reg.fs().fsck_abandon(run);
            }
            ended.push("fsck");
        }
        if let Some((_, run)) = Job::take_owned(&mut self.registry_gc_job, client) {
            if let Ok(reg) = self.reg.as_mut() {
                reg.registry_gc_finish(run);
            }
            ended.push("registry gc");
        }
        if let Some(run) = Job::take_owned(&mut self.gc_job, client) {
            if let Ok(reg) = self.reg.as_mut() {
                reg.fs().gc_abandon(run);
            }
            ended.push("gc");
        }
        if let Some(run) = Job::take_owned(&mut self.space_job, client) {
            if let Ok(reg) = self.reg.as_mut() {
                reg.fs().snapshot_space_abandon(run);
            }
            ended.push("snap space");
        }
        for what in ended {
            userlib::println!(
                "fs: client {client} died during its {what} run: ended, its pin dropped"
            );
        }
        self.drop_uploads_of(client);
    }

    /// The registry (see [`mounted`]).
    fn reg(&mut self) -> Outcome<&mut Reg> {
        mounted(&mut self.reg)
    }

    /// Runs `f` with the call's `N` text arguments (lease 0); its failure
    /// becomes the reply's error, naming the argument it is about.
    fn with_args<const N: usize, R>(
        &mut self,
        l0: &In<'_>,
        f: impl FnOnce(&mut Self, [&str; N]) -> Outcome<R>,
    ) -> Result<R, FsError> {
        // The declaration bounds lease 0 at ARGS_MAX bytes.
        let mut buf = [0u8; ARGS_MAX as usize];
        let len = usize::try_from(l0.len()).unwrap_or(0).min(buf.len());
        let n = timed_lease(|| l0.read(0, &mut buf[..len])).map_err(|e| FsError::lease(0, e))?;
        let args = split_args::<N>(&buf[..n]).ok_or(FsError::BadArguments {})?;
        f(self, args).map_err(|e| e.into_api(&args))
    }

    /// Runs `f`, an operation without text arguments.
    fn bare<R>(&mut self, f: impl FnOnce(&mut Self) -> Outcome<R>) -> Result<R, FsError> {
        f(self).map_err(|e| e.into_api(&[]))
    }

    /// Copies `n` bytes of `data` from `offset` into `piece`.
    fn lease_in(&mut self, data: &In<'_>, offset: u64, n: usize) -> Outcome<()> {
        let piece = &mut self.piece[..n];
        let got = timed_lease(|| data.read(offset, piece)).map_err(|e| FsError::lease(1, e))?;
        blobs::count(&blobs::LEASE_IN_BYTES, got);
        if got != n {
            return Err(FsError::lease(1, abi::Error::BadLease).into());
        }
        Ok(())
    }
}

/// The registry; the one place an unmounted filesystem is an error. (A
/// function of the field, so a caller may hold `piece` at the same time.)
fn mounted(reg: &mut Result<Reg, MountStage>) -> Outcome<&mut Reg> {
    match reg {
        Ok(reg) => Ok(reg),
        Err(stage) => Err(Fail::Api(FsError::NotMounted { stage: *stage })),
    }
}

/// Writes `text` into `out` (cut to its length).
fn send_text(out: &Out<'_>, text: &str) -> Outcome<Text> {
    let n = text
        .len()
        .min(usize::try_from(out.len()).unwrap_or(usize::MAX));
    if n > 0 {
        out.write(0, &text.as_bytes()[..n])
            .map_err(|e| FsError::lease(1, e))?;
    }
    Ok(Text {
        written: n as u64,
        needed: text.len() as u64,
    })
}
