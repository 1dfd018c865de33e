//! The OCI registry API (the power of seed 000's `StorageDriver`) over the
//! filesystem, in the reference registry's tree ([`crate::layout`]).
//!
//! # Atomicity
//! - A blob is streamed into `_uploads/<id>/data` over many transactions
//!   while it is hashed; at the end the digest is checked and, in one
//!   transaction, the data file is renamed to `blobs/.../data` and the
//!   upload directory removed. A reader sees no blob or the whole blob. On a
//!   digest mismatch the upload directory is removed and nothing is left in
//!   the tree (its chunks are garbage for the next GC).
//! - A manifest put (blob, revisions link, tag current and index links) is
//!   one transaction; so is a manifest delete.
//! - An upload in progress is a file in the live tree, so GC keeps its
//!   chunks (the reference registry's GC deletes them: distribution #3045).
//!
//! Deleting something missing is not an error (returns `false`). Every blob
//! read is verified: each chunk's BLAKE3 by the content store, and the
//! whole blob's digest at the end of the stream.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

use crate::chunks::{ChunkStore, Chunks};
use crate::digest::{DigestMismatch, Hasher, Verifier};
use crate::error::FsError;
use crate::fs::{ChunkCache, Fs};
use crate::io::{read_full, Source};
use crate::layout;
use crate::link::{self, LinkError};
use crate::names::{Digest, DigestError, NameError, RepoName, Tag, TagError};
use crate::records::Kind;
use crate::stream::{AppendStream, StreamError};

/// Largest manifest accepted (the reference's limit is 4 MiB).
pub const MANIFEST_MAX: u64 = 4 << 20;
/// Bytes per upload transaction by default.
pub const DEFAULT_PIECE: usize = 1 << 20;

/// Everything a registry call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    Name(NameError),
    Tag(TagError),
    Digest(DigestError),
    /// The bytes do not hash to the digest they came with.
    Mismatch(DigestMismatch),
    /// A stored blob no longer hashes to its name.
    CorruptBlob(DigestMismatch),
    BadLink {
        path: String,
        problem: LinkError,
    },
    ManifestTooLarge {
        len: u64,
        max: u64,
    },
    /// An upload id that is not in progress.
    NoSuchUpload {
        id: String,
    },
    Fs(FsError),
}

impl From<FsError> for RegistryError {
    fn from(e: FsError) -> Self {
        RegistryError::Fs(e)
    }
}
impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        RegistryError::Name(e)
    }
}
impl From<TagError> for RegistryError {
    fn from(e: TagError) -> Self {
        RegistryError::Tag(e)
    }
}
impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        RegistryError::Digest(e)
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Name(e) => write!(f, "{e}"),
            RegistryError::Tag(e) => write!(f, "{e}"),
            RegistryError::Digest(e) => write!(f, "{e}"),
            RegistryError::Mismatch(e) => write!(f, "{e}"),
            RegistryError::CorruptBlob(e) => write!(f, "stored blob is corrupt: {e}"),
            RegistryError::BadLink { path, problem } => write!(f, "{path}: {problem}"),
            RegistryError::ManifestTooLarge { len, max } => {
                write!(f, "manifest of {len} bytes exceeds {max}")
            }
            RegistryError::NoSuchUpload { id } => write!(f, "upload {id} is not in progress"),
            RegistryError::Fs(e) => write!(f, "{e}"),
        }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference with a `:` is a digest, otherwise a tag (tags cannot
    /// contain `:`).
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        if s.contains(':') {
            Ok(Reference::Digest(Digest::parse(s)?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

/// An upload in progress: `_uploads/<id>/data` plus the running hash and
/// the data file's open chunk stream (`crate::stream`: each byte chunked
/// and written once).
pub struct Upload {
    repo: Option<RepoName>,
    id: String,
    hasher: Hasher,
    pub(crate) stream: AppendStream,
}

impl Upload {
    /// An upload reopened from its `data` file (see `upload_session`).
    pub(crate) fn from_parts(
        repo: Option<RepoName>,
        id: String,
        ino: u64,
        hasher: Hasher,
        size: u64,
    ) -> Upload {
        Upload {
            repo,
            id,
            hasher,
            stream: AppendStream::new(ino, size),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    /// Bytes received (stored, or held by the open chunk stream).
    pub fn size(&self) -> u64 {
        self.stream.size()
    }
    /// Starts over from a rebuilt hash and stream (`upload_session`).
    pub(crate) fn reset(&mut self, hasher: Hasher, stream: AppendStream) {
        self.hasher = hasher;
        self.stream = stream;
    }

    /// The algorithm of the running hash.
    pub fn algorithm(&self) -> crate::names::Algorithm {
        self.hasher.algorithm()
    }
}

/// The registry over a mounted filesystem.
pub struct Registry<T: Transactional, C: Chunks<T> = ChunkStore> {
    fs: Fs<T, C>,
    piece: usize,
}

pub(crate) fn is_not_found(e: &FsError) -> bool {
    matches!(e, FsError::NotFound { .. } | FsError::NotADirectory { .. })
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    pub fn new(fs: Fs<T, C>) -> Registry<T, C> {
        Registry {
            fs,
            piece: DEFAULT_PIECE,
        }
    }

    /// Bytes per upload transaction (memory held while streaming a put).
    pub fn set_piece_size(&mut self, bytes: usize) {
        self.piece = bytes.max(4096);
    }

    pub fn fs(&mut self) -> &mut Fs<T, C> {
        &mut self.fs
    }

    pub fn into_fs(self) -> Fs<T, C> {
        self.fs
    }

    // ---- blobs ----

    pub fn has_blob(&mut self, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self.fs.exists(&layout::blob_data(d))?)
    }

    pub fn blob_size(&mut self, d: &Digest) -> Result<Option<u64>, RegistryError> {
        match self.fs.stat(&layout::blob_data(d)) {
            Ok(m) if m.kind == Kind::File => Ok(Some(m.size)),
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A streaming reader over blob `d`, or `None` if absent.
    pub fn get_blob(&mut self, d: &Digest) -> Result<Option<BlobReader<'_, T, C>>, RegistryError> {
        let m = match self.fs.stat(&layout::blob_data(d)) {
            Ok(m) if m.kind == Kind::File => m,
            Ok(_) => return Ok(None),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let root = self.fs.state.live;
        Ok(Some(BlobReader {
            fs: &mut self.fs,
            root,
            ino: m.ino,
            size: m.size,
            pos: 0,
            cache: ChunkCache::default(),
            verifier: Some(Verifier::new(d.clone())),
        }))
    }

    /// Reads all of a small blob (a manifest, a config), verified.
    pub fn read_blob(&mut self, d: &Digest, max: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let Some(size) = self.blob_size(d)? else {
            return Ok(None);
        };
        if size > max {
            return Err(FsError::FileTooLarge {
                path: layout::blob_data(d),
                size,
                max,
            }
            .into());
        }
        let Some(mut r) = self.get_blob(d)? else {
            return Ok(None);
        };
        // Grown as bytes arrive: the stored size is not trusted with an
        // allocation up front.
        let mut out = Vec::new();
        let mut piece = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut piece)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&piece[..n]);
        }
        Ok(Some(out))
    }

    /// Starts an upload under `repo`'s `_uploads` (or the global one).
    pub fn begin_upload(
        &mut self,
        repo: Option<&RepoName>,
        algorithm: crate::names::Algorithm,
    ) -> Result<Upload, RegistryError> {
        let (id, ino) = self.fs.atomically(|fs| {
            let id = alloc::format!("{:016x}", fs.alloc_upload_id());
            let now = fs.now();
            fs.write_file(
                &layout::upload_startedat(repo, &id),
                now.to_string().as_bytes(),
            )?;
            let ino = fs.create(&layout::upload_data(repo, &id))?;
            Ok((id, ino))
        })?;
        Ok(Upload {
            repo: repo.cloned(),
            id,
            hasher: Hasher::new(algorithm),
            stream: AppendStream::new(ino, 0),
        })
    }

    /// Appends `data` to the upload: gathered in memory until a step of
    /// `stream::STREAM_STEP` bytes is due, then one (batched) transaction
    /// storing the chunks the step completes; the unfinished chunk waits in
    /// the upload's stream until the next step or the finish. After an error
    /// the upload cannot go on (abort it, or resume it from its file).
    pub fn upload_write(&mut self, up: &mut Upload, data: &[u8]) -> Result<(), RegistryError> {
        if data.is_empty() {
            return Ok(());
        }
        if !up.stream.gather(data) {
            self.upload_step(up, |fs, s| fs.stream_push(s, data))?;
        }
        up.hasher.update(data);
        Ok(())
    }

    /// Runs `f` on the upload's stream in one batched transaction; an
    /// error poisons the stream (its transaction was undone).
    pub(crate) fn upload_step(
        &mut self,
        up: &mut Upload,
        f: impl FnOnce(&mut Fs<T, C>, &mut AppendStream) -> Result<(), StreamError>,
    ) -> Result<(), RegistryError> {
        let mode = self.fs.durability();
        self.fs.set_durability(Durability::Batched);
        let id = up.id.clone();
        let stream = &mut up.stream;
        let r = self.fs.atomically(|fs| match f(fs, stream) {
            Ok(()) => Ok(Ok(())),
            Err(StreamError::Fs(e)) => Err(e),
            Err(StreamError::Stale) => Ok(Err(RegistryError::NoSuchUpload { id })),
        });
        self.fs.set_durability(mode);
        let r = match r {
            Ok(inner) => inner,
            Err(e) => Err(e.into()),
        };
        if r.is_err() {
            up.stream.poison();
        }
        r
    }

    /// Checks the digest and moves the upload into `blobs/` atomically; on
    /// a mismatch removes the upload and returns `Mismatch`.
    pub fn finish_upload(&mut self, up: Upload, expected: &Digest) -> Result<u64, RegistryError> {
        self.finish_upload_into(up, expected, None)
    }

    /// [`Registry::finish_upload`], linking the blob into `repo` in the same
    /// transaction: a crash leaves no stored blob that its repository
    /// does not list.
    pub fn finish_upload_into(
        &mut self,
        up: Upload,
        expected: &Digest,
        repo: Option<&RepoName>,
    ) -> Result<u64, RegistryError> {
        let got = up.hasher.finish();
        let dir = layout::upload_dir(up.repo.as_ref(), &up.id);
        if &got != expected {
            self.fs.remove_all(&dir)?;
            self.fs.event(alloc::format!(
                "upload {} refused: {expected} != {got}",
                up.id
            ));
            return Err(RegistryError::Mismatch(DigestMismatch {
                expected: expected.clone(),
                got,
            }));
        }
        let size = up.stream.size();
        let mut stream = up.stream;
        let id = up.id.clone();
        self.fs.atomically(|fs| {
            // The held bytes: the blob's last chunk, with the rename.
            fs.stream_flush(&mut stream).map_err(|e| match e {
                StreamError::Fs(e) => e,
                StreamError::Stale => FsError::PutAbandoned {
                    path: alloc::format!("upload {id}"),
                },
            })?;
            let data = layout::upload_data(up.repo.as_ref(), &up.id);
            let target = layout::blob_data(expected);
            fs.mkdir_all(&layout::blob_dir(expected))?;
            // Same digest already stored: same bytes, keep the old file.
            if !fs.exists(&target)? {
                fs.rename(&data, &target)?;
            }
            fs.remove_all(&dir)?;
            if let Some(repo) = repo {
                fs.write_file(&layout::layer_link(repo, expected), &link::encode(expected))?;
            }
            Ok(())
        })?;
        Ok(size)
    }

    /// Drops an upload and everything it wrote.
    pub fn abort_upload(&mut self, up: Upload) -> Result<(), RegistryError> {
        self.fs
            .remove_all(&layout::upload_dir(up.repo.as_ref(), &up.id))?;
        Ok(())
    }

    /// Upload ids left in `repo`'s (or the global) `_uploads`, e.g. by a crash.
    pub fn list_uploads(&mut self, repo: Option<&RepoName>) -> Result<Vec<String>, RegistryError> {
        self.list_names(&layout::uploads_dir(repo))
    }

    /// Removes a leftover upload by id; `false` if there was none.
    pub fn remove_upload(
        &mut self,
        repo: Option<&RepoName>,
        id: &str,
    ) -> Result<bool, RegistryError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::NoSuchUpload { id: id.to_string() });
        }
        Ok(self.fs.remove_all(&layout::upload_dir(repo, id))?)
    }

    /// Streams `src` into blob `d`, verifying the digest; returns its size.
    /// Memory: one piece (see [`Registry::set_piece_size`]). A blob that
    /// fits in one piece is verified in memory and written in a single
    /// transaction; a larger one goes through `_uploads/<id>/data`.
    pub fn put_blob<S: Source + ?Sized>(
        &mut self,
        d: &Digest,
        src: &mut S,
    ) -> Result<u64, RegistryError> {
        self.put_blob_into(d, src, None)
    }

    /// [`Registry::put_blob`], linking the blob into `repo` in the same
    /// transaction as it becomes visible.
    pub fn put_blob_into<S: Source + ?Sized>(
        &mut self,
        d: &Digest,
        src: &mut S,
        repo: Option<&RepoName>,
    ) -> Result<u64, RegistryError> {
        let mut buf = vec![0u8; self.piece];
        let first = read_full(src, &mut buf).map_err(FsError::Source)?;
        if first < buf.len() {
            let data = &buf[..first];
            let got = Hasher::digest_of(d.algorithm(), data);
            if &got != d {
                return Err(RegistryError::Mismatch(DigestMismatch {
                    expected: d.clone(),
                    got,
                }));
            }
            self.fs.atomically(|fs| {
                let target = layout::blob_data(d);
                if !fs.exists(&target)? {
                    fs.write_file(&target, data)?;
                }
                if let Some(repo) = repo {
                    fs.write_file(&layout::layer_link(repo, d), &link::encode(d))?;
                }
                Ok(())
            })?;
            return Ok(first as u64);
        }
        let mut up = self.begin_upload(None, d.algorithm())?;
        let mut n = first;
        while n > 0 {
            if let Err(e) = self.upload_write(&mut up, &buf[..n]) {
                self.abort_upload(up)?;
                return Err(e);
            }
            n = match read_full(src, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    self.abort_upload(up)?;
                    return Err(FsError::Source(e).into());
                }
            };
        }
        self.finish_upload_into(up, d, repo)
    }

    /// Deletes blob `d`; `false` if it was not there.
    pub fn delete_blob(&mut self, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self.fs.remove_all(&layout::blob_dir(d))?)
    }

    /// Every stored blob's digest (seed 002's `list`).
    pub fn list_blobs(&mut self) -> Result<Vec<Digest>, RegistryError> {
        let mut out = Vec::new();
        for alg in self.list_names(layout::BLOBS)? {
            let Some(algorithm) = crate::names::Algorithm::from_name(&alg) else {
                continue;
            };
            for prefix in self.list_names(&alloc::format!("{}/{alg}", layout::BLOBS))? {
                for hex in self.list_names(&alloc::format!("{}/{alg}/{prefix}", layout::BLOBS))? {
                    if let Ok(d) = Digest::from_hex(algorithm, &hex) {
                        if self.has_blob(&d)? {
                            out.push(d);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    // ---- repository links ----

    fn write_link(&mut self, path: &str, d: &Digest) -> Result<(), FsError> {
        self.fs.write_file(path, &link::encode(d))?;
        Ok(())
    }

    /// Reads a link; `None` if absent. `expect`: the digest its path names.
    fn read_link(
        &mut self,
        path: &str,
        expect: Option<&Digest>,
    ) -> Result<Option<Digest>, RegistryError> {
        let bytes = match self.fs.read_file(path, link::MAX_LINK_LEN as u64) {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(FsError::FileTooLarge { size, max, .. }) => {
                return Err(RegistryError::BadLink {
                    path: path.to_string(),
                    problem: LinkError::TooLong {
                        len: usize::try_from(size).unwrap_or(usize::MAX),
                        max: usize::try_from(max).unwrap_or(usize::MAX),
                    },
                })
            }
            Err(e) => return Err(e.into()),
        };
        let decoded = match expect {
            Some(d) => link::decode_expecting(&bytes, d),
            None => link::decode(&bytes),
        };
        decoded.map(Some).map_err(|problem| RegistryError::BadLink {
            path: path.to_string(),
            problem,
        })
    }

    /// Links blob `d` into `repo` (`_layers/<alg>/<hex>/link`).
    pub fn link_blob(&mut self, repo: &RepoName, d: &Digest) -> Result<(), RegistryError> {
        Ok(self.write_link(&layout::layer_link(repo, d), d)?)
    }

    /// Unlinks blob `d` from `repo`; `false` if it was not linked.
    pub fn unlink_blob(&mut self, repo: &RepoName, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self.fs.remove_all(&layout::layer_link_dir(repo, d))?)
    }

    /// Whether `repo` links blob `d` (blob access is scoped per repository).
    pub fn is_linked(&mut self, repo: &RepoName, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self
            .read_link(&layout::layer_link(repo, d), Some(d))?
            .is_some())
    }

    // ---- manifests ----

    /// Stores a manifest under `reference`: the blob, the revisions link
    /// and, for a tag, the tag's current and index links. One transaction.
    pub fn put_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
        content: &[u8],
        d: &Digest,
    ) -> Result<(), RegistryError> {
        if content.len() as u64 > MANIFEST_MAX {
            return Err(RegistryError::ManifestTooLarge {
                len: content.len() as u64,
                max: MANIFEST_MAX,
            });
        }
        let got = Hasher::digest_of(d.algorithm(), content);
        if &got != d {
            return Err(RegistryError::Mismatch(DigestMismatch {
                expected: d.clone(),
                got,
            }));
        }
        if let Reference::Digest(r) = reference {
            if r != d {
                return Err(RegistryError::Mismatch(DigestMismatch {
                    expected: r.clone(),
                    got: d.clone(),
                }));
            }
        }
        let fs = &mut self.fs;
        fs.atomically(|fs| {
            let blob = layout::blob_data(d);
            if !fs.exists(&blob)? {
                fs.write_file(&blob, content)?;
            }
            fs.write_file(&layout::revision_link(repo, d), &link::encode(d))?;
            if let Reference::Tag(tag) = reference {
                fs.write_file(&layout::tag_current_link(repo, tag), &link::encode(d))?;
                fs.write_file(&layout::tag_index_link(repo, tag, d), &link::encode(d))?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The digest `reference` names in `repo`, if the manifest is there
    /// (a revisions link is required, as in the reference).
    pub fn resolve(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<Digest>, RegistryError> {
        let d = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.read_link(&layout::tag_current_link(repo, t), None)? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        if self
            .read_link(&layout::revision_link(repo, &d), Some(&d))?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(d))
    }

    /// The manifest bytes and digest for `reference`, verified.
    pub fn get_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, Digest)>, RegistryError> {
        let Some(d) = self.resolve(repo, reference)? else {
            return Ok(None);
        };
        match self.read_blob(&d, MANIFEST_MAX)? {
            Some(bytes) => Ok(Some((bytes, d))),
            None => Ok(None),
        }
    }

    /// By digest: removes the revisions link and every tag whose current
    /// link names it (as the reference does). By tag: removes the tag only.
    /// `false` if there was nothing to delete. One transaction.
    pub fn delete_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        match reference {
            Reference::Tag(t) => Ok(self.fs.remove_all(&layout::tag_dir(repo, t))?),
            Reference::Digest(d) => {
                let tags = self.list_tags(repo)?;
                let mut doomed = Vec::new();
                for t in tags {
                    let Ok(tag) = Tag::parse(&t) else { continue };
                    if self
                        .read_link(&layout::tag_current_link(repo, &tag), None)?
                        .as_ref()
                        == Some(d)
                    {
                        doomed.push(tag);
                    }
                }
                let found = self.fs.atomically(|fs| {
                    let mut found = fs.remove_all(&layout::revision_link_dir(repo, d))?;
                    for tag in &doomed {
                        found |= fs.remove_all(&layout::tag_dir(repo, tag))?;
                    }
                    Ok(found)
                })?;
                Ok(found)
            }
        }
    }

    /// Names of `path`'s children, all pages.
    fn list_names(&mut self, path: &str) -> Result<Vec<String>, RegistryError> {
        let mut out: Vec<String> = Vec::new();
        loop {
            let page = match self.fs.list(path, out.last().map(String::as_str), 256) {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(out),
                Err(e) => return Err(e.into()),
            };
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page.into_iter().map(|e| e.name));
        }
    }

    /// Tags of `repo`, sorted.
    pub fn list_tags(&mut self, repo: &RepoName) -> Result<Vec<String>, RegistryError> {
        self.list_names(&layout::tags_dir(repo))
    }

    /// Every repository: each directory under `repositories/` that has a
    /// `_layers` child (the reference's catalog rule), nested names included.
    pub fn list_repositories(&mut self) -> Result<Vec<String>, RegistryError> {
        self.repositories_with(&["_layers"])
    }

    /// Every directory under `repositories/` with any of the registry's own
    /// children (`_layers`, `_manifests`, `_uploads`): what GC visits.
    pub(crate) fn repository_dirs(&mut self) -> Result<Vec<String>, RegistryError> {
        self.repositories_with(&["_layers", "_manifests", "_uploads"])
    }

    fn repositories_with(&mut self, markers: &[&str]) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut stack: Vec<String> = vec![String::new()];
        while let Some(name) = stack.pop() {
            let dir = if name.is_empty() {
                String::from(layout::REPOSITORIES)
            } else {
                alloc::format!("{}/{name}", layout::REPOSITORIES)
            };
            let children = self.list_names(&dir)?;
            let mut subdirs = Vec::new();
            let mut is_repo = false;
            for c in children {
                if markers.contains(&c.as_str()) {
                    is_repo = true;
                } else if !c.starts_with('_') {
                    subdirs.push(if name.is_empty() {
                        c
                    } else {
                        alloc::format!("{name}/{c}")
                    });
                }
            }
            if is_repo {
                out.push(name.clone());
            }
            stack.extend(subdirs.into_iter().rev());
        }
        out.sort();
        Ok(out)
    }

    /// Names of `path`'s children (none if it does not exist).
    pub(crate) fn child_names(&mut self, path: &str) -> Result<Vec<String>, RegistryError> {
        self.list_names(path)
    }

    /// The digest a link file names; `None` if absent.
    pub(crate) fn read_link_at(&mut self, path: &str) -> Result<Option<Digest>, RegistryError> {
        self.read_link(path, None)
    }
}

/// Streams a blob out. Every chunk is verified by the content store; at the
/// end of the stream the whole blob's digest is checked, and a mismatch is
/// returned instead of the end.
pub struct BlobReader<'a, T: Transactional, C: Chunks<T> = ChunkStore> {
    fs: &'a mut Fs<T, C>,
    root: TreeRoot,
    ino: u64,
    size: u64,
    pos: u64,
    cache: ChunkCache,
    verifier: Option<Verifier>,
}

impl<T: Transactional, C: Chunks<T>> BlobReader<'_, T, C> {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills a prefix of `buf`; `Ok(0)` at the verified end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, RegistryError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.size {
            if let Some(v) = self.verifier.take() {
                v.finish().map_err(RegistryError::CorruptBlob)?;
            }
            return Ok(0);
        }
        let root = self.root;
        let n = self
            .fs
            .read_at_in(&root, self.ino, self.pos, buf, &mut self.cache)?;
        if let Some(v) = self.verifier.as_mut() {
            v.update(&buf[..n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<T: Transactional, C: Chunks<T>> Source for BlobReader<'_, T, C> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, crate::io::SourceError> {
        BlobReader::read(self, buf).map_err(|e| crate::io::SourceError(e.to_string()))
    }
}
