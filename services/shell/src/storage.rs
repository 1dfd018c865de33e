//! The shell's storage commands: files, registry, snapshots, maintenance,
//! all calls to the filesystem/registry service (`fs_api`, capability slot
//! [`FS_SLOT`]).
//!
//! Binary content crosses the serial line as base64 (the `base64` crate):
//! `put`, `blob put` and `manifest put` take `<length>` and then data lines,
//! each a whole number of 4-character groups (standard alphabet, `=`
//! padding only at the end; 76-character lines as `base64` prints them
//! work), until `<length>` bytes are decoded. `get` and `blob get` print 76-
//! character lines. Data is streamed in pieces of [`PIECE`] bytes, so a
//! blob of any size passes through bounded shell memory.
//!
//! `put` and `write` are put sessions (`PutBegin`/`PutWrite`/`PutFinish`):
//! the file keeps its old contents until the new ones are complete and
//! switched in by one transaction, so a crash never leaves it empty or
//! holding a prefix.
//!
//! `get`, `cat` and `blob get` print only verified bytes: the service
//! checks each chunk's BLAKE3 before any of its bytes leave it (and a blob's
//! SHA-256 at the end). If a chunk fails after some output, the last line
//! says how many bytes were printed and that the output is incomplete.
//!
//! Every failure prints one line through [`fail`], `error: <what>: <why>`,
//! and the shell goes on. The service's errors are typed
//! (`fs_api::FsError`) and read in plain words with the path or name the
//! command gave; a dead filesystem service is reported as unreachable.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use core::fmt::Display;

use fs_api::client::{Error as FsError, FsClient, TextReply};
use fs_api::WallTime;
use userlib::{println, sys};

use crate::Input;

mod quota;
mod registry;
mod transfer;

use transfer::{get_stream, incomplete, parse_length, read_base64};

/// Capability slot of the filesystem service.
pub const FS_SLOT: u64 = 1;
/// Bytes sent per service call while streaming data in or out.
const PIECE: usize = 48 * 1024;
/// Bytes per printed base64 line (76 characters).
const LINE_BYTES: usize = 57;
/// Buffer for text results (listings, reports).
const TEXT_MAX: usize = 64 * 1024;
/// Largest manifest the shell buffers.
const MANIFEST_MAX: u64 = 1 << 20;

const FS: FsClient = FsClient::new(FS_SLOT);

/// (name, usage) of every storage command, for `help`.
pub const HELP: &[(&str, &str)] = &[
    ("ls", "ls [path]: list a directory (d = directory)"),
    ("tree", "tree [path]: the directory tree below path"),
    ("stat", "stat <path>: kind, size, inode, mode, mtime"),
    ("cat", "cat <path>: print a file as text"),
    (
        "write",
        "write <path> <text>: replace a file's contents with text (all or nothing)",
    ),
    (
        "put",
        "put <path> <length>, then base64 lines: replace a file's contents (all or nothing)",
    ),
    (
        "get",
        "get <path>: print a file as base64 lines (only verified bytes; a bad chunk ends the output with an 'output incomplete' line)",
    ),
    (
        "rm",
        "rm [-r] <path>: remove a file or an empty directory (-r: a tree)",
    ),
    ("mkdir", "mkdir <path>: create a directory and its parents"),
    (
        "mv",
        "mv <from> <to>: rename (replaces a file or an empty directory)",
    ),
    (
        "truncate",
        "truncate <path> <size>: cut a file, or extend it with zeros (stored as a hole: any size, at once)",
    ),
    ("repos", "repos: list repositories"),
    ("tags", "tags <repo>: list a repository's tags"),
    (
        "blob",
        "blob put <repo> <digest> <length> + base64 lines | blob get|stat|rm <digest> (get prints only bytes whose chunk verified)",
    ),
    (
        "manifest",
        "manifest put <repo> <ref> <length> + base64 lines | manifest get|rm <repo> <ref>",
    ),
    (
        "uploads",
        "uploads [<repo>]: open upload sessions (id, bytes, idle seconds) | uploads rm <repo> <id>: remove one",
    ),
    (
        "snap",
        "snap create <name> | list (name, logical bytes, time taken) | space <name> (bytes it holds alone and shares, computed in bounded steps) | diff <a> [<b>] | restore <name> | rm <name>",
    ),
    (
        "gc",
        "gc [--dry-run] [--registry [--grace <seconds>]]: free what no tree or snapshot references; --registry first removes untagged manifests and blobs no manifest names, sparing what was written within the grace (default 3600 s: pushes in progress)",
    ),
    (
        "quota",
        "quota: limits with usage | quota set repo <name> <bytes> | quota set dir /<top> <bytes> (bytes: 500, 64K, 10M, 2G) | quota rm repo <name> | quota rm dir /<top>",
    ),
    ("fsck", "fsck: check every structure and verify every blob"),
    ("df", "df: logical vs stored bytes, dedup ratio, free space"),
    ("stats", "stats: cache, journal, I/O counts, recent events"),
    ("sync", "sync: make everything durable"),
];

/// The storage commands that take no argument.
const NO_ARGUMENTS: [&str; 5] = ["repos", "fsck", "df", "stats", "sync"];

/// The one place a failure is printed: one line, `error: <what>: <why>`.
pub fn fail(what: &str, why: impl Display) {
    println!("error: {what}: {why}");
}

fn usage(name: &str) {
    let text = HELP
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| *u)
        .unwrap_or("see help");
    fail("usage", text);
}

/// Runs storage command `name`; `false` if it is not one.
pub fn dispatch(name: &str, args: &str, input: &mut Input) -> bool {
    let words: Vec<&str> = args.split_whitespace().collect();
    // Commands that take no argument refuse one rather than ignore it
    // (`repos demo` listed every repository, as if it had filtered).
    if NO_ARGUMENTS.contains(&name) && !words.is_empty() {
        usage(name);
        return true;
    }
    match name {
        "ls" => ls(words.first().copied().unwrap_or("/")),
        "tree" => tree(words.first().copied().unwrap_or("/")),
        "stat" => one(name, &words, stat),
        "cat" => one(name, &words, cat),
        "write" => write(args),
        "put" => put(&words, input),
        "get" => one(name, &words, get),
        "rm" => rm(&words),
        "mkdir" => one(name, &words, |p| report("mkdir", FS.mkdir(p))),
        "mv" => match words[..] {
            [from, to] => report("mv", FS.rename(from, to)),
            _ => usage(name),
        },
        "truncate" => match words[..] {
            [path, size] => match size.parse::<u64>() {
                Ok(size) => report("truncate", FS.truncate(path, size)),
                Err(_) => fail("truncate", format_args!("size {size:?} is not a number")),
            },
            _ => usage(name),
        },
        "repos" => paged("repos", "no repositories", |after, out| {
            FS.repos_after(after, out)
        }),
        "tags" => one(name, &words, tags),
        "blob" => registry::blob(&words, input),
        "manifest" => registry::manifest(&words, input),
        "uploads" => registry::uploads(&words),
        "snap" => snap(&words),
        "gc" => gc(&words),
        "quota" => quota::quota(&words),
        // In bounded steps: the service answers other clients between them.
        "fsck" => {
            let mut steps = 0u64;
            text("fsck", |out| loop {
                steps += 1;
                if let Some(r) = FS.fsck_step(steps == 1, out)? {
                    return Ok(r);
                }
            });
            println!("(fsck ran in {})", requests(steps));
        }
        "df" => text("df", |out| FS.df(out)),
        "stats" => text("stats", |out| FS.stats(out)),
        "sync" => report("sync", FS.sync()),
        _ => return false,
    }
    true
}

/// `gc [--dry-run] [--registry [--grace <seconds>]]`.
fn gc(words: &[&str]) {
    let (mut dry_run, mut registry, mut grace) = (false, false, None);
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match *w {
            "--dry-run" => dry_run = true,
            "--registry" => registry = true,
            "--grace" => match it.next().and_then(|g| g.parse::<u64>().ok()) {
                Some(g) => grace = Some(g),
                None => return usage("gc"),
            },
            _ => return usage("gc"),
        }
    }
    match (registry, grace) {
        (false, Some(_)) => usage("gc"),
        // In bounded steps: the service answers other clients between them.
        (false, None) => {
            let mut steps = 0u64;
            text("gc", |out| loop {
                steps += 1;
                if let Some(r) = FS.gc_step(steps == 1, dry_run, out)? {
                    return Ok(r);
                }
            });
            println!("(gc ran in {})", requests(steps));
        }
        // In bounded steps: the service answers other clients between them.
        (true, g) => {
            let grace = g.unwrap_or(fs_api::REGISTRY_GC_GRACE_SECS);
            let mut steps = 0u64;
            text("gc", |out| loop {
                steps += 1;
                if let Some(r) = FS.registry_gc_step(steps == 1, dry_run, grace, out)? {
                    return Ok(r);
                }
            });
            println!("(registry gc ran in {})", requests(steps));
        }
    }
}

/// `tags <repo>`. The fs service lists a missing repository as no tags;
/// a mistyped name must not read as an empty repository (HTTP answers it
/// NAME_UNKNOWN), so an empty listing looks the repository up.
fn tags(repo: &str) {
    if paged_lines("tags", |after, out| FS.tags_after(repo, after, out)) != Some(0) {
        return;
    }
    // The fs service checked the name's grammar for the listing above.
    match FS.stat(&alloc::format!("/docker/registry/v2/repositories/{repo}")) {
        Ok(_) => println!("(no tags)"),
        Err(e) if e.service().is_some_and(|e| e.is_not_found()) => {
            fail("tags", format_args!("no repository {repo}"))
        }
        Err(e) => fail("tags", e),
    }
}

/// "1 request", "N requests".
fn requests(n: u64) -> String {
    alloc::format!("{n} request{}", if n == 1 { "" } else { "s" })
}

/// Before `poweroff`: makes everything durable and empties the journal.
pub fn shutdown() {
    match FS.shutdown() {
        Ok(()) => println!("storage: synced and checkpointed"),
        Err(e) => fail("storage shutdown", e),
    }
}

fn one(name: &str, words: &[&str], f: impl FnOnce(&str)) {
    match words {
        [x] => f(x),
        _ => usage(name),
    }
}

fn report(what: &str, r: Result<(), FsError>) {
    match r {
        Ok(()) => println!("ok"),
        Err(e) => fail(what, e),
    }
}

fn print_bytes(bytes: &[u8]) {
    let _ = sys::console_write(bytes);
}

/// Runs a call that returns text into a buffer and prints it.
fn text(what: &str, f: impl FnOnce(&mut [u8]) -> Result<TextReply, FsError>) {
    let mut out = vec![0u8; TEXT_MAX];
    match f(&mut out) {
        Ok(r) => {
            print_bytes(&out[..r.written]);
            if r.needed > r.written {
                println!("... ({} more bytes not shown)", r.needed - r.written);
            }
        }
        Err(e) => fail(what, e),
    }
}

/// Prints a listing page by page (each call: the lines after `after`, as
/// many whole lines as the buffer holds), so no list is held whole;
/// `(none)` when there is not one line.
fn paged(what: &str, none: &str, f: impl FnMut(&str, &mut [u8]) -> Result<TextReply, FsError>) {
    if paged_lines(what, f) == Some(0) {
        println!("({none})");
    }
}

/// [`paged`], answering the number of lines printed (`None`: it failed).
fn paged_lines(
    what: &str,
    mut f: impl FnMut(&str, &mut [u8]) -> Result<TextReply, FsError>,
) -> Option<u64> {
    let mut out = vec![0u8; 16 * 1024];
    let mut after = String::new();
    let mut lines = 0u64;
    loop {
        let r = match f(&after, &mut out) {
            Ok(r) => r,
            Err(e) => {
                fail(what, e);
                return None;
            }
        };
        let page = &out[..r.written];
        print_bytes(page);
        let text = String::from_utf8_lossy(page);
        lines += text.lines().count() as u64;
        match text.lines().last() {
            Some(last) if r.needed > r.written => {
                after.clear();
                after.push_str(last);
            }
            _ => return Some(lines),
        }
    }
}

/// Every entry of directory `path` as (is_dir, name), page by page.
fn entries(path: &str, mut each: impl FnMut(bool, &str)) -> Result<(), FsError> {
    // 128 entries of names up to 255 bytes, as "d name\n" lines.
    let mut out = vec![0u8; 128 * 260];
    let mut after = String::new();
    loop {
        let (count, bytes) = FS.list(path, &after, 128, &mut out)?;
        let text = String::from_utf8_lossy(&out[..bytes]);
        for line in text.lines() {
            if let Some((kind, name)) = line.split_once(' ') {
                each(kind == "d", name);
                after.clear();
                after.push_str(name);
            }
        }
        if count < 128 {
            return Ok(());
        }
    }
}

fn ls(path: &str) {
    let mut n = 0u64;
    let r = entries(path, |dir, name| {
        n += 1;
        if dir {
            println!("{name}/");
        } else {
            println!("{name}");
        }
    });
    match r {
        Ok(()) => println!("{n} entries"),
        Err(e) => fail("ls", e),
    }
}

fn tree(path: &str) {
    fn walk(path: &str, depth: usize) -> Result<(), FsError> {
        entries(path, |dir, name| {
            println!(
                "{:indent$}{name}{}",
                "",
                if dir { "/" } else { "" },
                indent = 2 * depth
            );
        })?;
        // Then into each subdirectory, listing again a few at a time: a
        // directory may hold any number of them, so they are not collected
        // (each level of the walk holds at most 8 names). Depth is bounded
        // by the path length limit of the filesystem.
        const PAGE: u64 = 8;
        let mut after = String::new();
        loop {
            let (count, dirs) = {
                let mut out = vec![0u8; PAGE as usize * 260];
                let (count, bytes) = FS.list(path, &after, PAGE, &mut out)?;
                let text = String::from_utf8_lossy(&out[..bytes]);
                let mut dirs: Vec<String> = Vec::new();
                for line in text.lines() {
                    if let Some((kind, d)) = line.split_once(' ') {
                        after.clear();
                        after.push_str(d);
                        if kind == "d" {
                            dirs.push(String::from(d));
                        }
                    }
                }
                (count, dirs)
            };
            for d in dirs {
                let child = if path == "/" {
                    alloc::format!("/{d}")
                } else {
                    alloc::format!("{path}/{d}")
                };
                println!("{:indent$}{d}:", "", indent = 2 * depth);
                walk(&child, depth + 1)?;
            }
            if count < PAGE {
                return Ok(());
            }
        }
    }
    println!("{path}");
    if let Err(e) = walk(path, 1) {
        fail("tree", e);
    }
}

fn stat(path: &str) {
    match FS.stat(path) {
        Ok(s) => println!(
            "{path}: {}, {} bytes, inode {}, mode {:o}, mtime {}",
            if s.is_dir { "directory" } else { "file" },
            s.size,
            s.ino,
            s.mode,
            WallTime(s.mtime)
        ),
        Err(e) => fail("stat", e),
    }
}

fn cat(path: &str) {
    let mut buf = vec![0u8; PIECE];
    let mut offset = 0u64;
    let mut last = b'\n';
    let mut total = 0u64;
    let failed = loop {
        match FS.read(path, offset, &mut buf) {
            Ok((0, _)) => break None,
            Ok((n, size)) => {
                print_bytes(&buf[..n]);
                last = buf[n - 1];
                offset += n as u64;
                total = size;
            }
            Err(e) => break Some(e),
        }
    };
    if last != b'\n' {
        println!();
    }
    if let Some(e) = failed {
        incomplete("cat", path, offset, total, e);
    }
}

/// Replaces the file's contents with the text: a put session, so a crash
/// leaves the old contents or the new, never an empty file or a prefix.
fn write(args: &str) {
    let Some((path, text)) = args.split_once(' ') else {
        return usage("write");
    };
    let begun = FS.put_begin(path, text.len() as u64);
    let r = begun.clone().and_then(|()| {
        if !text.is_empty() {
            FS.put_write(text.as_bytes())?;
        }
        FS.put_finish()
    });
    match r {
        Ok(size) => println!("wrote {size} bytes"),
        Err(e) => {
            if begun.is_ok() {
                // Already dropped after most failures; this makes sure.
                let _ = FS.put_abort();
            }
            fail("write", e)
        }
    }
}

fn get(path: &str) {
    get_stream("get", path, |off, buf| FS.read(path, off, buf));
}

fn put(words: &[&str], input: &mut Input) {
    let [path, length] = words else {
        return usage("put");
    };
    let Some(length) = parse_length(length) else {
        return fail("put", format_args!("length {length:?} is not a number"));
    };
    // A put session: the file keeps its old contents until the finish
    // switches the new ones in, whole. The data lines follow whatever the
    // service says: consume them.
    let begun = FS.put_begin(path, length);
    let r = read_base64(input, length, |piece| {
        begun.clone()?;
        FS.put_write(piece).map(|_| ())
    });
    match (begun, r) {
        (Err(e), _) => fail("put", e),
        (Ok(()), Err(e)) => {
            let _ = FS.put_abort();
            fail("put", format_args!("{e}; {path} is unchanged"))
        }
        (Ok(()), Ok(())) => match FS.put_finish() {
            Ok(size) => println!("stored {size} bytes in {path}"),
            Err(e) => fail("put", e),
        },
    }
}

fn rm(words: &[&str]) {
    match words {
        ["-r", path] => report("rm", FS.remove(path, true)),
        [path] => report("rm", FS.remove(path, false)),
        _ => usage("rm"),
    }
}

fn snap(words: &[&str]) {
    match words {
        ["create", name] => report("snap create", FS.snap_create(name)),
        ["list"] => paged("snap list", "no snapshots", |after, out| {
            FS.snaps_after(after, out)
        }),
        ["space", name] => snap_space(name),
        ["diff", a] => snap_diff(a, ""),
        ["diff", a, b] => snap_diff(a, b),
        ["restore", name] => report("snap restore", FS.snap_restore(name)),
        ["rm", name] => report("snap rm", FS.snap_remove(name)),
        _ => usage("snap"),
    }
}

/// `snap space <name>`: in bounded steps (the service answers other
/// clients between them), then the report and the number of requests.
fn snap_space(name: &str) {
    let mut out = vec![0u8; TEXT_MAX];
    let mut steps = 0u64;
    let r = loop {
        steps += 1;
        match FS.snap_space_step(steps == 1, name, &mut out) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(e) => return fail("snap space", e),
        }
    };
    print_bytes(&out[..r.written]);
    println!("(snap space ran in {})", requests(steps));
}

/// The changes page by page (in the tree's key order: entries added,
/// removed or replaced by directory, then files modified), then their count.
fn snap_diff(a: &str, b: &str) {
    let mut out = vec![0u8; 16 * 1024];
    let mut cursor = String::new();
    let mut lines = 0u64;
    loop {
        let (written, next) = match FS.snap_diff_page(a, b, &cursor, &mut out) {
            Ok((written, next)) => (written, next.map(String::from)),
            Err(e) => return fail("snap diff", e),
        };
        let page = &out[..written];
        print_bytes(page);
        lines += page.iter().filter(|&&c| c == b'\n').count() as u64;
        match next {
            // A cursor that does not move would repeat the page forever.
            Some(n) if n != cursor => cursor = n,
            Some(_) => return fail("snap diff", "the service answered the same page again"),
            None => break,
        }
    }
    println!("{lines} changes");
}
