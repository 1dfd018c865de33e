//! The request loop: decode, run on the registry, reply.
//!
//! # Invariants
//! - Bulk data moves between leases and the filesystem through `piece`
//!   (`fs_api::PIECE` bytes); nothing sized by a client is allocated except
//!   a manifest, bounded by `fs_api::MANIFEST_MAX`.
//! - A client's session holds at most one upload and one put; a new `BlobBegin` drops the unfinished upload
//!   (its data, already in `_uploads`, is removed), a new `PutBegin` the
//!   unfinished put (its staging file is removed).
//! - Reads send only verified bytes: a read that meets a bad chunk after
//!   sending some bytes answers with those (a short read); the next read,
//!   starting at the bad chunk, fails and names its offset.
//! - A blob is hashed with SHA-256 once, at upload (`finish_upload` checks
//!   the digest the client named). Reads verify each chunk's BLAKE3 against
//!   the id the tree holds, which those checked bytes fixed; they do not
//!   hash SHA-256 again. `fsck` re-checks every blob's SHA-256 in full.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};

use block_api::client::BlockClient;
use content_api::client::ContentClient;
use filesystem::digest::Hasher;
use filesystem::layout;
use filesystem::{
    Algorithm, ChangeKind, Digest, PutSession, Reference, Registry, RepoName, Source, SourceError,
    Upload,
};
use fs_api::{split_args, status, FsRequest, KIND_DIR, KIND_FILE, MANIFEST_MAX, PIECE};
use userlib::abi::Message;
use userlib::ipc::{recv, Incoming, ReplyToken};

use crate::errors::{lease_fail, Fail};

mod registry_gc;
mod uploads;

type Reg = Registry<BlockClient, ContentClient>;
type Outcome = Result<[u64; 6], Fail>;

/// TSC cycles spent handling requests and copying leases, and requests
/// served: with `block_api::client::CALL_CYCLES`, where the time goes.
static HANDLE_CYCLES: AtomicU64 = AtomicU64::new(0);
static LEASE_CYCLES: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Runs a lease copy, counting its cycles.
fn timed_lease<R>(f: impl FnOnce() -> R) -> R {
    let t0 = userlib::sys::rdtsc();
    let r = f();
    LEASE_CYCLES.fetch_add(userlib::sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
    r
}

/// Longest lease 0 (text arguments) accepted.
const MAX_ARGS: usize = 4096;

struct UploadState {
    upload: Upload,
    repo: RepoName,
    digest: Digest,
    length: u64,
}

#[derive(Default)]
struct Session {
    upload: Option<UploadState>,
    put: Option<PutState>,
    text: String,
}

pub struct Service {
    reg: Option<Reg>,
    unavailable: String,
    sessions: BTreeMap<u64, Session>,
    open_uploads: uploads::OpenUploads,
    piece: Vec<u8>,
}

/// A client's put in progress.
struct PutState {
    session: PutSession,
    length: u64,
}

/// Lease 1 of the caller as a byte source for streaming puts.
struct LeaseSource<'a> {
    token: &'a ReplyToken,
    pos: u64,
    len: u64,
}

impl Source for LeaseSource<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let want = (self.len - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = timed_lease(|| self.token.lease_read(1, self.pos, &mut buf[..want]))
            .map_err(|e| SourceError(format!("the client's data lease: {e:?}")))?;
        if n == 0 {
            return Err(SourceError(format!(
                "the client's data lease ended at {} of {} bytes",
                self.pos, self.len
            )));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn bad_args() -> Fail {
    Fail::new(
        status::BAD_REQUEST,
        "text arguments are not UTF-8 or have too many parts",
    )
}

fn parse_repo(s: &str) -> Result<RepoName, Fail> {
    RepoName::parse(s).map_err(|e| Fail::new(status::INVALID, format!("repository {s:?}: {e}")))
}

fn parse_digest(s: &str) -> Result<Digest, Fail> {
    Digest::parse(s).map_err(|e| Fail::new(status::INVALID, format!("digest {s:?}: {e}")))
}

fn parse_reference(s: &str) -> Result<Reference, Fail> {
    Reference::parse(s).map_err(|e| Fail::new(status::INVALID, format!("reference {s:?}: {e}")))
}

/// Writes `text` into lease 1; returns `[written, needed]` words.
fn send_text(token: &ReplyToken, lease_len: u64, text: &str) -> Result<[u64; 2], Fail> {
    let n = text
        .len()
        .min(usize::try_from(lease_len).unwrap_or(usize::MAX));
    if n > 0 {
        token
            .lease_write(1, 0, &text.as_bytes()[..n])
            .map_err(|e| lease_fail(1, e))?;
    }
    Ok([n as u64, text.len() as u64])
}

fn text_reply(token: &ReplyToken, msg: &Message, text: &str) -> Outcome {
    let [a, b] = send_text(token, msg.leases[1].len, text)?;
    Ok([a, b, 0, 0, 0, 0])
}

/// Names fetched per page of a listing.
const LIST_PAGE: usize = 128;

/// Answers a listing one page of names at a time: lines go into lease 1
/// while they fit; the rest are only counted (the reply's second word is
/// what the whole text needs). Nothing holds the whole list.
fn paged_reply(
    token: &ReplyToken,
    msg: &Message,
    after: &str,
    mut page: impl FnMut(Option<&str>) -> Result<Vec<String>, Fail>,
) -> Outcome {
    let room = msg.leases[1].len;
    let mut written = 0u64;
    let mut needed = 0u64;
    let mut after = (!after.is_empty()).then(|| String::from(after));
    loop {
        let names = page(after.as_deref())?;
        let Some(last) = names.last() else { break };
        let mut text = String::new();
        for n in &names {
            let line = n.len() as u64 + 1;
            if needed == written && written + line <= room {
                let _ = writeln!(text, "{n}");
                written += line;
            }
            needed += line;
        }
        if !text.is_empty() {
            token
                .lease_write(1, written - text.len() as u64, text.as_bytes())
                .map_err(|e| lease_fail(1, e))?;
        }
        after = Some(last.clone());
    }
    Ok([written, needed, 0, 0, 0, 0])
}

impl Service {
    pub fn new(reg: Option<Reg>, unavailable: String) -> Service {
        Service {
            reg,
            unavailable,
            sessions: BTreeMap::new(),
            open_uploads: uploads::OpenUploads::default(),
            piece: vec![0u8; PIECE],
        }
    }

    pub fn run(mut self) -> ! {
        loop {
            let Ok(Incoming::Call { badge, token, msg }) = recv(0) else {
                continue;
            };
            let t0 = userlib::sys::rdtsc();
            REQUESTS.fetch_add(1, Ordering::Relaxed);
            // Files get wall-clock mtimes (registry GC's grace period
            // reads them); without a clock, the filesystem's logical one.
            if let Some(reg) = self.reg.as_mut() {
                reg.fs().set_time(userlib::sys::unix_time());
            }
            let outcome = match Incoming::decode::<FsRequest>(&msg) {
                Ok(FsRequest::LastText {}) => {
                    let text = self
                        .sessions
                        .get(&badge)
                        .map(|s| s.text.clone())
                        .unwrap_or_default();
                    text_reply(&token, &msg, &text)
                }
                Ok(request) => self.handle(badge, request, &msg, &token),
                Err(e) => Err(Fail::new(
                    status::BAD_REQUEST,
                    format!("request does not decode: {e:?}"),
                )),
            };
            let reply = match outcome {
                Ok(words) => Message::new(0, &words),
                Err(fail) => {
                    let status = fail.status;
                    self.sessions.entry(badge).or_default().text = fail.text;
                    Message::new(status, &[])
                }
            };
            // A caller that died meanwhile gets nothing; we go on.
            let _ = token.reply_message(&reply);
            HANDLE_CYCLES.fetch_add(userlib::sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        }
    }

    fn handle(
        &mut self,
        badge: u64,
        request: FsRequest,
        msg: &Message,
        token: &ReplyToken,
    ) -> Outcome {
        if self.reg.is_none() {
            return Err(Fail::new(
                status::UNAVAILABLE,
                format!("the filesystem is not mounted: {}", self.unavailable),
            ));
        }
        // Text arguments (lease 0), read once.
        let args_len = msg.leases[0].len;
        if args_len > MAX_ARGS as u64 {
            return Err(Fail::new(
                status::BAD_REQUEST,
                format!("text arguments of {args_len} bytes (at most {MAX_ARGS})"),
            ));
        }
        let mut args_buf = [0u8; MAX_ARGS];
        let args_len = args_len as usize;
        if args_len > 0 {
            let n = token
                .lease_read(0, 0, &mut args_buf[..args_len])
                .map_err(|e| lease_fail(0, e))?;
            if n != args_len {
                return Err(lease_fail(0, userlib::Error::BadLease));
            }
        }
        let args = &args_buf[..args_len];
        let out_len = msg.leases[1].len;
        match request {
            FsRequest::Stat {} => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                let m = self.reg().fs().stat(path)?;
                let kind = if m.is_dir() { KIND_DIR } else { KIND_FILE };
                Ok([kind, m.size, m.ino, m.mtime, m.mode as u64, 0])
            }
            FsRequest::List { limit } => {
                let [path, after] = split_args::<2>(args).ok_or_else(bad_args)?;
                let after = if after.is_empty() { None } else { Some(after) };
                let limit = usize::try_from(limit).unwrap_or(usize::MAX).min(1024);
                let entries = self.reg().fs().list(path, after, limit)?;
                let mut text = String::new();
                for e in &entries {
                    let k = if e.kind == filesystem::Kind::Dir {
                        'd'
                    } else {
                        'f'
                    };
                    let _ = writeln!(text, "{k} {}", e.name);
                }
                let [written, _] = send_text(token, out_len, &text)?;
                if (written as usize) < text.len() {
                    return Err(Fail::new(
                        status::BAD_LEASE,
                        format!(
                            "listing needs {} bytes, the lease has {out_len}",
                            text.len()
                        ),
                    ));
                }
                Ok([entries.len() as u64, written, 0, 0, 0, 0])
            }
            FsRequest::Read { offset } => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                let m = self.reg().fs().stat(path)?;
                if m.is_dir() {
                    return Err(Fail::new(
                        status::IS_A_DIRECTORY,
                        format!("{path}: is a directory"),
                    ));
                }
                let n = self.read_file(token, m.ino, offset, m.size, out_len)?;
                Ok([n, m.size, 0, 0, 0, 0])
            }
            FsRequest::Create {} => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().write_file(path, &[])?;
                Ok([0; 6])
            }
            FsRequest::Append {} => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                let m = self.reg().fs().stat(path)?;
                if m.is_dir() {
                    return Err(Fail::new(
                        status::IS_A_DIRECTORY,
                        format!("{path}: is a directory"),
                    ));
                }
                let len = msg.leases[1].len;
                self.reg().fs().check_request_length("append", len)?;
                let mut done = 0u64;
                let mut size = m.size;
                while done < len {
                    let n = (len - done).min(PIECE as u64) as usize;
                    self.lease_in(token, done, n)?;
                    let reg = self.reg.as_mut().expect("checked above");
                    size = reg.fs().append(m.ino, &self.piece[..n])?;
                    done += n as u64;
                }
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::PutBegin { length } => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.drop_put(badge)?;
                self.reg().fs().check_request_length("put", length)?;
                let session = self.reg().fs().put_begin(path)?;
                self.sessions.entry(badge).or_default().put = Some(PutState { session, length });
                Ok([0; 6])
            }
            FsRequest::PutWrite {} => self.put_write(badge, msg, token),
            FsRequest::PutAbort {} => {
                self.drop_put(badge)?;
                Ok([0; 6])
            }
            FsRequest::PutFinish {} => {
                let put = self
                    .sessions
                    .get_mut(&badge)
                    .and_then(|s| s.put.take())
                    .ok_or_else(|| Fail::new(status::NO_UPLOAD, "no put in progress"))?;
                let fs = self.reg().fs();
                let got = put.session.size();
                if got != put.length {
                    let path = String::from(put.session.path());
                    fs.put_abort(put.session)?;
                    return Err(Fail::new(
                        status::NO_UPLOAD,
                        format!(
                            "put of {path} has {got} bytes, {} were announced; nothing changed",
                            put.length
                        ),
                    ));
                }
                let size = fs.put_finish(put.session)?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::Remove { recursive } => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                let fs = self.reg().fs();
                let m = fs.stat(path)?;
                match (m.is_dir(), recursive) {
                    (true, true) => {
                        fs.remove_all(path)?;
                    }
                    (true, false) => fs.rmdir(path)?,
                    (false, _) => fs.unlink(path)?,
                }
                Ok([0; 6])
            }
            FsRequest::Mkdir {} => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().mkdir_all(path)?;
                Ok([0; 6])
            }
            FsRequest::Rename {} => {
                let [from, to] = split_args::<2>(args).ok_or_else(bad_args)?;
                self.reg().fs().rename(from, to)?;
                Ok([0; 6])
            }
            FsRequest::Truncate { size } => {
                let [path] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().truncate(path, size)?;
                Ok([0; 6])
            }
            FsRequest::BlobPut {} => {
                let [repo, digest] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let d = parse_digest(digest)?;
                let mut src = LeaseSource {
                    token,
                    pos: 0,
                    len: msg.leases[1].len,
                };
                let reg = self.reg();
                reg.fs().check_request_length("blob put", src.len)?;
                let size = reg.put_blob_into(&d, &mut src, Some(&repo))?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::BlobBegin { length } => {
                let [repo, digest] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let digest = parse_digest(digest)?;
                self.drop_upload(badge)?;
                self.reg().fs().check_request_length("blob put", length)?;
                let upload = self.reg().begin_upload(Some(&repo), digest.algorithm())?;
                self.sessions.entry(badge).or_default().upload = Some(UploadState {
                    upload,
                    repo,
                    digest,
                    length,
                });
                Ok([0; 6])
            }
            FsRequest::BlobWrite {} => self.blob_write(badge, msg, token),
            FsRequest::BlobFinish {} => {
                let up = self
                    .sessions
                    .get_mut(&badge)
                    .and_then(|s| s.upload.take())
                    .ok_or_else(|| Fail::new(status::NO_UPLOAD, "no upload in progress"))?;
                let reg = self.reg();
                if up.upload.size() != up.length {
                    let got = up.upload.size();
                    reg.abort_upload(up.upload)?;
                    return Err(Fail::new(
                        status::NO_UPLOAD,
                        format!("upload has {got} bytes, {} were announced", up.length),
                    ));
                }
                let size = reg.finish_upload_into(up.upload, &up.digest, Some(&up.repo))?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::BlobRead { offset } => {
                let [digest] = split_args::<1>(args).ok_or_else(bad_args)?;
                let d = parse_digest(digest)?;
                let path = layout::blob_data(&d);
                let m = match self.reg().fs().stat(&path) {
                    Ok(m) if !m.is_dir() => m,
                    Ok(_) | Err(filesystem::FsError::NotFound { .. }) => {
                        return Err(Fail::new(
                            status::NOT_FOUND,
                            format!("blob {d} is not stored"),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                };
                // Chunks are verified (BLAKE3) as they are read; the
                // blob's SHA-256 was checked once, at upload (see the
                // invariants above).
                let n = self.read_file(token, m.ino, offset, m.size, out_len)?;
                Ok([n, m.size, 0, 0, 0, 0])
            }
            FsRequest::BlobStat {} => {
                let [digest] = split_args::<1>(args).ok_or_else(bad_args)?;
                let d = parse_digest(digest)?;
                match self.reg().blob_size(&d)? {
                    Some(size) => Ok([size, 0, 0, 0, 0, 0]),
                    None => Err(Fail::new(
                        status::NOT_FOUND,
                        format!("blob {d} is not stored"),
                    )),
                }
            }
            FsRequest::BlobRemove {} => {
                let [digest] = split_args::<1>(args).ok_or_else(bad_args)?;
                let d = parse_digest(digest)?;
                if self.reg().delete_blob(&d)? {
                    Ok([0; 6])
                } else {
                    Err(Fail::new(
                        status::NOT_FOUND,
                        format!("blob {d} is not stored"),
                    ))
                }
            }
            FsRequest::ManifestPut {} => {
                let [repo, reference] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let reference = parse_reference(reference)?;
                let len = msg.leases[1].len;
                if len > MANIFEST_MAX as u64 {
                    return Err(Fail::new(
                        status::TOO_LARGE,
                        format!("manifest of {len} bytes (at most {MANIFEST_MAX})"),
                    ));
                }
                let mut content = vec![0u8; len as usize];
                let n = token
                    .lease_read(1, 0, &mut content)
                    .map_err(|e| lease_fail(1, e))?;
                if n != content.len() {
                    return Err(lease_fail(1, userlib::Error::BadLease));
                }
                let d = Hasher::digest_of(Algorithm::Sha256, &content);
                self.reg().put_manifest(&repo, &reference, &content, &d)?;
                let text = d.to_string();
                let words = [text.len() as u64, 0, 0, 0, 0, 0];
                self.sessions.entry(badge).or_default().text = text;
                Ok(words)
            }
            FsRequest::ManifestGet {} => {
                let [repo, reference] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo_name = parse_repo(repo)?;
                let r = parse_reference(reference)?;
                let Some((content, _)) = self.reg().get_manifest(&repo_name, &r)? else {
                    return Err(Fail::new(
                        status::NOT_FOUND,
                        format!("no manifest {reference} in {repo}"),
                    ));
                };
                let n = content
                    .len()
                    .min(usize::try_from(out_len).unwrap_or(usize::MAX));
                token
                    .lease_write(1, 0, &content[..n])
                    .map_err(|e| lease_fail(1, e))?;
                Ok([n as u64, content.len() as u64, 0, 0, 0, 0])
            }
            FsRequest::ManifestRemove {} => {
                let [repo, reference] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo_name = parse_repo(repo)?;
                let r = parse_reference(reference)?;
                if self.reg().delete_manifest(&repo_name, &r)? {
                    Ok([0; 6])
                } else {
                    Err(Fail::new(
                        status::NOT_FOUND,
                        format!("no manifest {reference} in {repo}"),
                    ))
                }
            }
            FsRequest::Repos {} => {
                let [after] = split_args::<1>(args).ok_or_else(bad_args)?;
                let reg = self.reg();
                paged_reply(token, msg, after, |after| {
                    Ok(reg.list_repositories_page(after, LIST_PAGE)?)
                })
            }
            FsRequest::Tags {} => {
                let [repo, after] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let reg = self.reg();
                paged_reply(token, msg, after, |after| {
                    Ok(reg.list_tags_page(&repo, after, LIST_PAGE)?)
                })
            }
            FsRequest::SnapCreate {} => {
                let [name] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().snapshot_create(name)?;
                Ok([0; 6])
            }
            FsRequest::SnapList {} => {
                let mut text = String::new();
                for s in self.reg().fs().snapshot_list()? {
                    let _ = writeln!(
                        text,
                        "{} logical {} bytes, exclusive {} bytes, shared {} bytes (taken at time {})",
                        s.name, s.logical_bytes, s.exclusive_bytes, s.shared_bytes, s.created
                    );
                }
                text_reply(token, msg, &text)
            }
            FsRequest::SnapDiff {} => {
                let [a, b] = split_args::<2>(args).ok_or_else(bad_args)?;
                let b = if b.is_empty() { None } else { Some(b) };
                let changes = self.reg().fs().snapshot_diff(Some(a), b)?;
                let mut text = String::new();
                for c in &changes {
                    let k = match c.kind {
                        ChangeKind::Added => '+',
                        ChangeKind::Removed => '-',
                        ChangeKind::Modified => 'M',
                    };
                    let _ = writeln!(text, "{k} {}", c.path);
                }
                let _ = writeln!(text, "{} changes", changes.len());
                text_reply(token, msg, &text)
            }
            FsRequest::SnapRestore {} => {
                let [name] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().snapshot_restore(name)?;
                Ok([0; 6])
            }
            FsRequest::SnapRemove {} => {
                let [name] = split_args::<1>(args).ok_or_else(bad_args)?;
                self.reg().fs().snapshot_delete(name)?;
                Ok([0; 6])
            }
            FsRequest::Gc { dry_run } => {
                let r = self.reg().fs().gc(dry_run)?;
                let verb = if dry_run { "would free" } else { "freed" };
                let text = format!(
                    "gc{}: marked {} roots, {} extents ({} bytes); {verb} {} chunks ({} bytes, {} blocks) of {} scanned and {} unreachable blocks; {} blocks reachable\n",
                    if dry_run { " (dry run)" } else { "" },
                    r.roots,
                    r.extents_scanned,
                    r.bytes_scanned,
                    r.sweep.chunks,
                    r.sweep.bytes,
                    r.sweep.blocks,
                    r.sweep.scanned,
                    r.blocks_freed,
                    r.blocks_reachable
                );
                text_reply(token, msg, &text)
            }
            FsRequest::Fsck {} => {
                let fs = self.reg().fs();
                let r = fs.fsck(true)?;
                let mut text = format!(
                    "filesystem: {} trees, {} dirs, {} files, {} extents, {} blobs verified, {} links checked: {} problems\n",
                    r.trees, r.dirs, r.files, r.extents, r.blobs_verified, r.links_checked, r.problem_count
                );
                for p in &r.problems {
                    let _ = writeln!(text, "  {p}");
                }
                let mut block_text = vec![0u8; 8192];
                let n = fs
                    .device_mut()
                    .report(block_api::report::FSCK, &mut block_text)?;
                let block_text = String::from_utf8_lossy(&block_text[..n]);
                let block_clean = block_text.starts_with("block layer clean");
                if block_clean {
                    text.push_str("block layer: clean\n");
                } else {
                    text.push_str(&block_text);
                }
                let problems = r.problem_count + u64::from(!block_clean);
                if problems == 0 {
                    text.push_str("fsck: clean\n");
                } else {
                    let _ = writeln!(text, "fsck: {problems} problems");
                }
                let [a, b] = send_text(token, out_len, &text)?;
                Ok([a, b, problems, 0, 0, 0])
            }
            FsRequest::Df {} => {
                let s = self.reg().fs().stats()?;
                let ratio_x100 = (s.dedup_ratio * 100.0) as u64;
                let text = format!(
                    "logical {} bytes (file sizes)\nstored {} bytes in {} distinct chunks, {} bytes on disk\ndedup ratio {}.{:02}\nfree {} of {} bytes\n",
                    s.logical_bytes,
                    s.chunk_bytes,
                    s.chunks,
                    s.physical_bytes,
                    ratio_x100 / 100,
                    ratio_x100 % 100,
                    s.free_bytes,
                    s.total_bytes
                );
                // The block store's state line ("state: read-write" or
                // "state: read-only until the next boot: why").
                let mut buf = vec![0u8; 4096];
                let n = self
                    .reg()
                    .fs()
                    .device_mut()
                    .report(block_api::report::STATS, &mut buf)?;
                let mut text = text;
                if let Some(state) = String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .find(|l| l.starts_with("state: "))
                {
                    let _ = writeln!(text, "{state}");
                }
                let [a, b] = send_text(token, out_len, &text)?;
                Ok([
                    a,
                    b,
                    s.logical_bytes,
                    s.chunk_bytes,
                    s.physical_bytes,
                    s.free_bytes,
                ])
            }
            FsRequest::Stats {} => {
                let fs = self.reg().fs();
                let mut text = String::new();
                let mut buf = vec![0u8; 4096];
                let n = fs.device_mut().report(block_api::report::STATS, &mut buf)?;
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                text.push_str("recent events:\n");
                let n = fs
                    .device_mut()
                    .report(block_api::report::EVENTS, &mut buf)?;
                for line in String::from_utf8_lossy(&buf[..n]).lines() {
                    let _ = writeln!(text, "  block: {line}");
                }
                for e in fs.events() {
                    let _ = writeln!(text, "  fs: {e}");
                }
                let m = |c: &AtomicU64| c.load(Ordering::Relaxed) / 1_000_000;
                let total = m(&HANDLE_CYCLES);
                let block = m(&block_api::client::CALL_CYCLES);
                let lease = m(&LEASE_CYCLES);
                let _ = writeln!(
                    text,
                    "fs service: {} requests, {total} Mcycles handling them: {block} waiting for the block service ({} calls), {lease} copying leases, {} in the filesystem code (chunking, hashing, trees)",
                    REQUESTS.load(Ordering::Relaxed),
                    block_api::client::CALLS.load(Ordering::Relaxed),
                    total.saturating_sub(block + lease)
                );
                text_reply(token, msg, &text)
            }
            FsRequest::Sync {} => {
                self.reg().fs().sync()?;
                Ok([0; 6])
            }
            FsRequest::Shutdown {} => {
                let fs = self.reg().fs();
                fs.sync()?;
                fs.device_mut().checkpoint()?;
                Ok([0; 6])
            }
            FsRequest::LastText {} => Err(Fail::new(status::BAD_REQUEST, "handled by run")),
            FsRequest::UploadStart {}
            | FsRequest::UploadAppend { .. }
            | FsRequest::UploadStatus { .. }
            | FsRequest::UploadFinish { .. }
            | FsRequest::UploadCancel { .. }
            | FsRequest::BlobMount {}
            | FsRequest::BlobLinked {}
            | FsRequest::BlobUnlink {} => self.handle_upload(request, args, msg, token),
            FsRequest::RegistryGc {
                dry_run,
                grace_secs,
            } => self.registry_gc(dry_run, grace_secs, msg, token),
        }
    }

    fn reg(&mut self) -> &mut Reg {
        // `handle` returns UNAVAILABLE before any use when there is none.
        self.reg.as_mut().expect("registry mounted")
    }

    /// Copies `n` bytes of lease 1 from `offset` into `piece`.
    fn lease_in(&mut self, token: &ReplyToken, offset: u64, n: usize) -> Result<(), Fail> {
        let piece = &mut self.piece[..n];
        let got =
            timed_lease(|| token.lease_read(1, offset, piece)).map_err(|e| lease_fail(1, e))?;
        if got != n {
            return Err(lease_fail(1, userlib::Error::BadLease));
        }
        Ok(())
    }

    /// Streams file `ino` from `offset` into lease 1 (`out_len` bytes at
    /// most), each chunk verified by the filesystem; returns the bytes sent.
    fn read_file(
        &mut self,
        token: &ReplyToken,
        ino: u64,
        offset: u64,
        size: u64,
        out_len: u64,
    ) -> Result<u64, Fail> {
        let mut sent = 0u64;
        let mut pos = offset;
        while sent < out_len && pos < size {
            let n = (out_len - sent).min(size - pos).min(PIECE as u64) as usize;
            let reg = self.reg.as_mut().expect("checked by handle");
            let got = match reg.fs().read_at(ino, pos, &mut self.piece[..n]) {
                Ok(got) => got,
                // The verified bytes already sent go back first; the next
                // read starts at the bad chunk and gets its error.
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e.into()),
            };
            if got == 0 {
                break;
            }
            let piece = &self.piece[..got];
            timed_lease(|| token.lease_write(1, sent, piece)).map_err(|e| lease_fail(1, e))?;
            sent += got as u64;
            pos += got as u64;
        }
        Ok(sent)
    }

    fn blob_write(&mut self, badge: u64, msg: &Message, token: &ReplyToken) -> Outcome {
        let Some(mut up) = self.sessions.get_mut(&badge).and_then(|s| s.upload.take()) else {
            return Err(Fail::new(status::NO_UPLOAD, "no upload in progress"));
        };
        let len = msg.leases[1].len;
        let have = up.upload.size();
        if have.saturating_add(len) > up.length {
            let length = up.length;
            self.reg().abort_upload(up.upload)?;
            return Err(Fail::new(
                status::NO_UPLOAD,
                format!(
                    "{len} more bytes after {have} exceed the announced {length}; upload dropped"
                ),
            ));
        }
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            let step = self.lease_in(token, done, n).and_then(|()| {
                let reg = self.reg.as_mut().expect("checked by handle");
                reg.upload_write(&mut up.upload, &self.piece[..n])
                    .map_err(Fail::from)
            });
            if let Err(e) = step {
                // The client died or the store failed: the upload is dropped.
                let _ = self.reg().abort_upload(up.upload);
                return Err(e);
            }
            done += n as u64;
        }
        let received = up.upload.size();
        self.sessions.entry(badge).or_default().upload = Some(up);
        Ok([received, 0, 0, 0, 0, 0])
    }

    fn put_write(&mut self, badge: u64, msg: &Message, token: &ReplyToken) -> Outcome {
        let Some(mut put) = self.sessions.get_mut(&badge).and_then(|s| s.put.take()) else {
            return Err(Fail::new(status::NO_UPLOAD, "no put in progress"));
        };
        let len = msg.leases[1].len;
        let have = put.session.size();
        if have.saturating_add(len) > put.length {
            let length = put.length;
            self.reg().fs().put_abort(put.session)?;
            return Err(Fail::new(
                status::NO_UPLOAD,
                format!("{len} more bytes after {have} exceed the announced {length}; put dropped, nothing changed"),
            ));
        }
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            let step = self.lease_in(token, done, n).and_then(|()| {
                let reg = self.reg.as_mut().expect("checked by handle");
                reg.fs()
                    .put_write(&mut put.session, &self.piece[..n])
                    .map_err(Fail::from)
            });
            if let Err(e) = step {
                // The client died or the store failed: the put is dropped
                // and the file keeps its old contents.
                let _ = self.reg().fs().put_abort(put.session);
                return Err(e);
            }
            done += n as u64;
        }
        let received = put.session.size();
        self.sessions.entry(badge).or_default().put = Some(put);
        Ok([received, 0, 0, 0, 0, 0])
    }

    /// Drops `badge`'s unfinished put, if any.
    fn drop_put(&mut self, badge: u64) -> Result<(), Fail> {
        if let Some(put) = self.sessions.get_mut(&badge).and_then(|s| s.put.take()) {
            self.reg().fs().put_abort(put.session)?;
        }
        Ok(())
    }

    /// Drops `badge`'s unfinished upload, if any.
    fn drop_upload(&mut self, badge: u64) -> Result<(), Fail> {
        if let Some(up) = self.sessions.get_mut(&badge).and_then(|s| s.upload.take()) {
            self.reg().abort_upload(up.upload)?;
        }
        Ok(())
    }
}
