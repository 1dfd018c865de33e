//! The live tree's registry files in a stepped fsck: blob paths queued
//! and hashed a piece per unit, links decoded against their paths.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;
use cowbtree::TreeRoot;

use super::{BlobCheck, FsckRun, VERIFY_PIECE};
use crate::chunks::Chunks;
use crate::digest::Verifier;
use crate::error::FsError;
use crate::fs::Fs;
use crate::layout;
use crate::link;
use crate::names::{Algorithm, Digest};

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// A file of the live tree: a blob verifies against its name (queued,
    /// hashed a piece per unit), a link decodes and matches its path.
    pub(super) fn check_registry_file(
        &mut self,
        run: &mut FsckRun<C::Check>,
        root: &TreeRoot,
        path: &str,
        ino: u64,
        size: u64,
    ) -> Result<(), FsError> {
        let blobs = format!("{}/", layout::BLOBS);
        let repos = format!("{}/", layout::REPOSITORIES);
        if let Some(rest) = path.strip_prefix(&blobs) {
            // <alg>/<2 hex>/<hex>/data
            let parts: Vec<&str> = rest.split('/').collect();
            let digest = match parts.as_slice() {
                [alg, pre, hex, "data"] => Algorithm::from_name(alg)
                    .and_then(|a| Digest::from_hex(a, hex).ok())
                    .filter(|d| d.hex().get(..2) == Some(*pre)),
                _ => None,
            };
            match digest {
                None => run.report.problem(format!("{path}: not a blob path")),
                Some(d) if run.verify_data => {
                    run.blobs.push_back((String::from(path), ino, size, d));
                }
                Some(_) => {}
            }
        } else if path.starts_with(&repos) && path.ends_with("/link") {
            run.report.links_checked += 1;
            let bytes = if size > link::MAX_LINK_LEN as u64 {
                Err(FsError::FileTooLarge {
                    path: String::from(path),
                    size,
                    max: link::MAX_LINK_LEN as u64,
                })
            } else {
                self.read_whole(root, ino, size)
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    run.report.problem(format!("{path}: {e}"));
                    return Ok(());
                }
            };
            let parts: Vec<&str> = path.rsplitn(4, '/').collect();
            // [link, hex, alg, ...] for digest-named links.
            let named = match parts.as_slice() {
                ["link", hex, alg, _] => {
                    Algorithm::from_name(alg).and_then(|a| Digest::from_hex(a, hex).ok())
                }
                _ => None,
            };
            let r = match &named {
                Some(d) => link::decode_expecting(&bytes, d),
                None => link::decode(&bytes),
            };
            if let Err(e) = r {
                run.report.problem(format!("{path}: {e}"));
            }
        }
        Ok(())
    }

    /// Hashes the next piece of the blob being verified (starting the next
    /// queued one if none is).
    pub(super) fn verify_piece(&mut self, run: &mut FsckRun<C::Check>) -> Result<(), FsError> {
        let mut b = match run.verifying.take() {
            Some(b) => b,
            None => {
                let Some((path, ino, size, d)) = run.blobs.pop_front() else {
                    return Ok(());
                };
                BlobCheck {
                    path,
                    ino,
                    size,
                    pos: 0,
                    verifier: Verifier::new(d),
                }
            }
        };
        let live = run.live;
        let mut buf = vec![0u8; VERIFY_PIECE];
        if b.pos < b.size {
            match self.read_at_in(&live, b.ino, b.pos, &mut buf) {
                Ok(0) => b.size = b.pos,
                Ok(n) => {
                    b.verifier.update(&buf[..n]);
                    b.pos += n as u64;
                }
                Err(e) => {
                    run.report.problem(format!("{}: {e}", b.path));
                    return Ok(());
                }
            }
        }
        if b.pos < b.size {
            run.verifying = Some(b);
            return Ok(());
        }
        match b.verifier.finish() {
            Ok(()) => run.report.blobs_verified += 1,
            Err(m) => run.report.problem(format!("{}: {m}", b.path)),
        }
        Ok(())
    }
}
