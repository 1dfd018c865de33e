//! The shell's `quota` command: limits on a repository's or a top-level
//! directory's stored bytes, set, listed with their usage, and removed
//! (the filesystem service keeps them on disk: `filesystem::quota`).

use alloc::vec;

use fs_api::Size;
use userlib::println;

use super::{fail, report, usage, FS, TEXT_MAX};

/// `<n>[K|M|G|T]` (binary multiples: K = 1024) as bytes.
fn parse_bytes(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        b'T' | b't' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// `repo` or `dir` as the service's flag.
fn kind(word: &str) -> Option<bool> {
    match word {
        "repo" => Some(true),
        "dir" => Some(false),
        _ => None,
    }
}

pub(super) fn quota(words: &[&str]) {
    match words {
        [] => list(),
        ["set", k, name, bytes] => {
            let Some(repo) = kind(k) else {
                return usage("quota");
            };
            let Some(limit) = parse_bytes(bytes) else {
                return fail(
                    "quota set",
                    format_args!("{bytes:?} is not a number of bytes (e.g. 500, 64K, 10M, 2G)"),
                );
            };
            report("quota set", FS.quota_set(repo, name, limit));
        }
        ["rm", k, name] => match kind(k) {
            Some(repo) => report("quota rm", FS.quota_remove(repo, name)),
            None => usage("quota"),
        },
        _ => usage("quota"),
    }
}

/// Each limit: `repository library/alpine: 1.2 MiB of 10.0 MiB (12%)`.
fn list() {
    let mut out = vec![0u8; TEXT_MAX];
    let r = match FS.quotas(&mut out) {
        Ok(r) => r,
        Err(e) => return fail("quota", e),
    };
    let Ok(text) = core::str::from_utf8(&out[..r.written]) else {
        return fail("quota", "the service's answer is not UTF-8");
    };
    if text.is_empty() {
        println!("no quotas set");
    }
    for line in text.lines() {
        let fields: vec::Vec<&str> = line.split(' ').collect();
        let [k, name, limit, used] = fields[..] else {
            println!("{line}");
            continue;
        };
        let (Ok(limit), Ok(used)) = (limit.parse::<u64>(), used.parse::<u64>()) else {
            println!("{line}");
            continue;
        };
        let what = if k == "repo" {
            "repository"
        } else {
            "directory"
        };
        let percent = if limit == 0 {
            100
        } else {
            u128::from(used) * 100 / u128::from(limit)
        };
        println!(
            "{what} {name}: {} of {} ({percent}%), {used} of {limit} bytes",
            Size(used),
            Size(limit)
        );
    }
    if r.needed > r.written {
        println!("... ({} more bytes not shown)", r.needed - r.written);
    }
}
