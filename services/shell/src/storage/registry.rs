//! The shell's registry commands: `blob` and `manifest` (put streams
//! base64 lines into the service; get prints only verified bytes), and
//! `uploads` (open upload sessions, listed a page at a time, removed).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use userlib::println;

use super::{
    fail, get_stream, paged_lines, parse_length, print_bytes, read_base64, report, usage, Input,
    FS, MANIFEST_MAX,
};

pub(super) fn blob(words: &[&str], input: &mut Input) {
    match words {
        ["put", repo, digest, length] => {
            let Some(length) = parse_length(length) else {
                return fail(
                    "blob put",
                    format_args!("length {length:?} is not a number"),
                );
            };
            let begun = FS.blob_begin(repo, digest, length);
            let r = read_base64(input, length, |piece| {
                begun.clone()?;
                FS.blob_write(piece).map(|_| ())
            });
            match (begun, r) {
                (Err(e), _) => fail("blob put", e),
                (Ok(()), Err(e)) => fail("blob put", e),
                (Ok(()), Ok(())) => match FS.blob_finish() {
                    Ok(size) => println!("stored blob {digest} ({size} bytes) in {repo}"),
                    Err(e) => fail("blob put", e),
                },
            }
        }
        ["get", digest] => get_stream("blob get", digest, |off, buf| {
            FS.blob_read(digest, off, buf)
        }),
        ["stat", digest] => match FS.blob_stat(digest) {
            Ok(size) => println!("{digest}: {size} bytes"),
            Err(e) => fail("blob stat", e),
        },
        ["rm", digest] => report("blob rm", FS.blob_remove(digest)),
        _ => usage("blob"),
    }
}

pub(super) fn manifest(words: &[&str], input: &mut Input) {
    match words {
        ["put", repo, reference, length] => {
            let Some(length) = parse_length(length) else {
                return fail(
                    "manifest put",
                    format_args!("length {length:?} is not a number"),
                );
            };
            if length > MANIFEST_MAX {
                fail(
                    "manifest put",
                    format_args!("{length} bytes, the shell takes at most {MANIFEST_MAX}"),
                );
                // Consume the data lines so they do not run as commands.
                let _ = read_base64(input, length, |_| Ok(()));
                return;
            }
            let mut content: Vec<u8> = Vec::new();
            let r = read_base64(input, length, |piece| {
                content.extend_from_slice(piece);
                Ok(())
            });
            if let Err(e) = r {
                return fail("manifest put", e);
            }
            match FS.manifest_put(repo, reference, &content) {
                Ok(d) => println!("stored manifest {d} as {repo}:{reference}"),
                Err(e) => fail("manifest put", e),
            }
        }
        ["get", repo, reference] => {
            let mut buf = vec![0u8; MANIFEST_MAX as usize];
            match FS.manifest_get(repo, reference, &mut buf) {
                Ok((n, size)) => {
                    print_bytes(&buf[..n]);
                    if n > 0 && buf[n - 1] != b'\n' {
                        println!();
                    }
                    if size > n as u64 {
                        println!("... ({} more bytes not shown)", size - n as u64);
                    }
                }
                Err(e) => fail("manifest get", e),
            }
        }
        ["rm", repo, reference] => report("manifest rm", FS.manifest_remove(repo, reference)),
        _ => usage("manifest"),
    }
}

/// `uploads [<repo>]`: open upload sessions (id, bytes, idle time), of one
/// repository or of each; `uploads rm <repo> <id>` removes one.
pub(super) fn uploads(words: &[&str]) {
    match words {
        [] => all_uploads(),
        ["rm", repo, id] => match filesystem_id(id) {
            Some(id) => report("uploads rm", FS.upload_cancel(repo, id)),
            None => fail(
                "uploads rm",
                format_args!("id {id:?} is not 16 hexadecimal digits"),
            ),
        },
        [repo] => {
            if let Some(n) = paged_lines("uploads", |after, out| FS.uploads_after(repo, after, out))
            {
                println!("{n} open upload sessions");
            }
        }
        _ => usage("uploads"),
    }
}

/// An upload id as listed: 16 hexadecimal digits.
fn filesystem_id(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// Every repository's sessions as "<repo> <id> ..." lines: a page of the
/// names of repositories holding sessions at a time (not the catalog: a
/// push that failed before its first blob, the disk full, leaves its
/// session in a repository without layers), each repository's sessions a
/// page at a time; then a count line, so that no sessions at all still
/// answers something.
fn all_uploads() {
    let mut sessions = 0u64;
    let mut names = vec![0u8; 16 * 1024];
    let mut out = vec![0u8; 16 * 1024];
    let mut after_repo = String::new();
    loop {
        let r = match FS.upload_repos_after(&after_repo, &mut names) {
            Ok(r) => r,
            Err(e) => return fail("uploads", e),
        };
        let page = String::from_utf8_lossy(&names[..r.written]).into_owned();
        for repo in page.lines() {
            let mut after = String::new();
            loop {
                let u = match FS.uploads_after(repo, &after, &mut out) {
                    Ok(u) => u,
                    Err(e) => return fail("uploads", e),
                };
                let text = String::from_utf8_lossy(&out[..u.written]);
                for line in text.lines() {
                    println!("{repo} {line}");
                    sessions += 1;
                }
                match text.lines().last() {
                    Some(last) if u.needed > u.written => {
                        after.clear();
                        after.push_str(last);
                    }
                    _ => break,
                }
            }
        }
        match page.lines().last() {
            Some(last) if r.needed > r.written => {
                after_repo.clear();
                after_repo.push_str(last);
            }
            _ => break,
        }
    }
    println!("{sessions} open upload sessions");
}
