//! Manifests and the catalog: manifests stored by tag or digest, the
//! repositories and tags listed one page at a time.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use filesystem::digest::Hasher;
use filesystem::Algorithm;
use fs_api::{FsError, Read, Text, MANIFEST_MAX};

use super::blobs::{parse_reference, parse_repo};
use super::{In, Out, Outcome, Service};
use crate::errors::hash_of;

/// Names fetched per page of a listing.
const LIST_PAGE: usize = 128;

/// Answers a listing one page of names at a time: lines go into `out`
/// while they fit; the rest are only counted (`needed` is what the whole
/// text needs). Nothing holds the whole list.
fn paged_reply(
    out: &Out<'_>,
    after: &str,
    mut page: impl FnMut(Option<&str>) -> Outcome<Vec<String>>,
) -> Outcome<Text> {
    let room = out.len();
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
            out.write(written - text.len() as u64, text.as_bytes())
                .map_err(|e| FsError::lease(1, e))?;
        }
        after = Some(last.clone());
    }
    Ok(Text { written, needed })
}

impl Service {
    pub(super) fn manifest_put(
        &mut self,
        repo: &str,
        reference: &str,
        data: &In<'_>,
    ) -> Outcome<[u8; 32]> {
        let repo = parse_repo(repo, 0)?;
        let reference = parse_reference(reference, 1)?;
        let len = data.len();
        if len > MANIFEST_MAX as u64 {
            return Err(FsError::ManifestTooLarge {
                len,
                max: MANIFEST_MAX as u64,
            }
            .into());
        }
        let mut content = vec![0u8; len as usize];
        if len > 0 {
            let n = data
                .read(0, &mut content)
                .map_err(|e| FsError::lease(1, e))?;
            if n != content.len() {
                return Err(FsError::lease(1, abi::Error::BadLease).into());
            }
        }
        let d = Hasher::digest_of(Algorithm::Sha256, &content);
        self.reg()?.put_manifest(&repo, &reference, &content, &d)?;
        Ok(hash_of(&d).bytes)
    }

    pub(super) fn manifest_get(
        &mut self,
        repo: &str,
        reference: &str,
        out: &Out<'_>,
    ) -> Outcome<Read> {
        let repo = parse_repo(repo, 0)?;
        let r = parse_reference(reference, 1)?;
        let Some((content, _)) = self.reg()?.get_manifest(&repo, &r)? else {
            return Err(FsError::ManifestNotFound {}.into());
        };
        let n = content
            .len()
            .min(usize::try_from(out.len()).unwrap_or(usize::MAX));
        out.write(0, &content[..n])
            .map_err(|e| FsError::lease(1, e))?;
        Ok(Read {
            bytes: n as u64,
            size: content.len() as u64,
        })
    }

    pub(super) fn manifest_remove(&mut self, repo: &str, reference: &str) -> Outcome<()> {
        let repo = parse_repo(repo, 0)?;
        let r = parse_reference(reference, 1)?;
        if self.reg()?.delete_manifest(&repo, &r)? {
            Ok(())
        } else {
            Err(FsError::ManifestNotFound {}.into())
        }
    }

    pub(super) fn repos(&mut self, after: &str, out: &Out<'_>) -> Outcome<Text> {
        let reg = self.reg()?;
        paged_reply(out, after, |after| {
            Ok(reg.list_repositories_page(after, LIST_PAGE)?)
        })
    }

    /// The repositories holding upload sessions, paged like `repos`.
    pub(super) fn upload_repos(&mut self, after: &str, out: &Out<'_>) -> Outcome<Text> {
        let reg = self.reg()?;
        paged_reply(out, after, |after| {
            Ok(reg.list_upload_repositories_page(after, LIST_PAGE)?)
        })
    }

    pub(super) fn tags(&mut self, repo: &str, after: &str, out: &Out<'_>) -> Outcome<Text> {
        let repo = parse_repo(repo, 0)?;
        let reg = self.reg()?;
        paged_reply(out, after, |after| {
            Ok(reg.list_tags_page(&repo, after, LIST_PAGE)?)
        })
    }
}
