//! Blob uploads: streamed into `_uploads/<id>/data` while hashed, checked
//! against their digest and renamed into `blobs/` in one transaction (with
//! the repository's link when asked); leftovers listed and removed.

use super::*;

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
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
        // Before the piece is taken: the session's bytes count toward its
        // repository's and /docker's quotas (crate::quota).
        let new_size = up.size().saturating_add(data.len() as u64);
        self.fs.check_quota_ino(up.stream.ino(), new_size)?;
        // Hashed as the bytes go to the chunk writer, not as they are
        // gathered (`crate::stream`, "Overlap").
        if !up.stream.gather(data) {
            self.upload_step(up, |fs, s, seen| fs.stream_push_seen(s, data, seen))?;
        }
        Ok(())
    }

    /// As [`Registry::upload_write`] of `n` bytes that `fill` writes
    /// straight into the upload's step buffer (the filesystem service's
    /// lease copy, with no buffer between: issue #13). When the step is
    /// full, the gathered bytes are stored first (one batched transaction,
    /// as `upload_write` does). `fill`'s error is the inner one; the upload
    /// is then as before the call.
    pub fn upload_write_with<E>(
        &mut self,
        up: &mut Upload,
        n: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, RegistryError> {
        if n == 0 {
            return Ok(Ok(()));
        }
        // Before the piece is taken, as in `upload_write`.
        let new_size = up.size().saturating_add(n as u64);
        self.fs.check_quota_ino(up.stream.ino(), new_size)?;
        if !up.stream.has_room(n) {
            self.upload_step(up, |fs, s, seen| fs.stream_push_seen(s, &[], seen))?;
        }
        if !up.stream.has_room(n) && !up.stream.is_broken() {
            // Larger than a step: through a buffer of its own.
            let mut data = alloc::vec![0u8; n];
            if let Err(e) = fill(&mut data) {
                return Ok(Err(e));
            }
            return self.upload_write(up, &data).map(Ok);
        }
        match up.stream.gather_with(n, fill) {
            // Hashed when the step goes (as in `upload_write`).
            Some(Ok(_)) => Ok(Ok(())),
            Some(Err(e)) => Ok(Err(e)),
            // Only a broken stream has no room after a step.
            None => Err(RegistryError::NoSuchUpload { id: up.id.clone() }),
        }
    }

    /// Runs `f` on the upload's stream in one batched transaction, with
    /// the hook that hashes what the stream pushes (`crate::stream`,
    /// "Overlap": the upload's hash covers every byte not still gathered);
    /// an error poisons the stream (its transaction was undone).
    pub(crate) fn upload_step(
        &mut self,
        up: &mut Upload,
        f: impl FnOnce(
            &mut Fs<T, C>,
            &mut AppendStream,
            &mut dyn FnMut(&[u8]),
        ) -> Result<(), StreamError>,
    ) -> Result<(), RegistryError> {
        let mode = self.fs.durability();
        self.fs.set_durability(Durability::Batched);
        let id = up.id.clone();
        let (stream, hasher) = (&mut up.stream, &mut up.hasher);
        let r = self
            .fs
            .atomically(|fs| match f(fs, stream, &mut |b| hasher.update(b)) {
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
            stream.poison();
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
        let size = up.stream.size();
        let dir = layout::upload_dir(up.repo.as_ref(), &up.id);
        let Upload {
            repo: up_repo,
            id,
            mut hasher,
            mut stream,
        } = up;
        // The gathered bytes are hashed as the flush pushes them
        // (`crate::stream`, "Overlap"), so the digest is known only after
        // it: a mismatch commits that flush (the upload's file gets its
        // last chunk) and then removes the upload, as before.
        let checked = self.fs.atomically(|fs| {
            // The held bytes: the blob's last chunk, with the rename.
            fs.stream_flush_seen(&mut stream, &mut |b| hasher.update(b))
                .map_err(|e| match e {
                    StreamError::Fs(e) => e,
                    StreamError::Stale => FsError::PutAbandoned {
                        path: alloc::format!("upload {id}"),
                    },
                })?;
            let got = hasher.finish();
            if &got != expected {
                return Ok(Err(got));
            }
            let data = layout::upload_data(up_repo.as_ref(), &id);
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
            Ok(Ok(()))
        })?;
        if let Err(got) = checked {
            self.fs.remove_all(&dir)?;
            self.fs
                .event(alloc::format!("upload {id} refused: {expected} != {got}"));
            return Err(RegistryError::Mismatch(DigestMismatch {
                expected: expected.clone(),
                got,
            }));
        }
        if repo.is_some() {
            self.gc_touch(expected);
        }
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
        // One byte more than a source that knows its size has (so a blob
        // that fits is seen to end), at most a piece: a 4 KiB put zeroes
        // 4 KiB, not 1 MiB. A wrong hint only changes the piece size.
        let want = src.size_hint().map_or(self.piece, |n| {
            n.saturating_add(1).min(self.piece as u64) as usize
        });
        let mut buf = vec![0u8; want];
        let first = read_full(src, &mut buf).map_err(FsError::Source)?;
        if first < buf.len() {
            self.check_blob_quota(repo, d, first as u64)?;
            let data = &buf[..first];
            let got = Hasher::digest_of(d.algorithm(), data);
            if &got != d {
                return Err(RegistryError::Mismatch(DigestMismatch {
                    expected: d.clone(),
                    got,
                }));
            }
            self.fs.atomically(|fs| {
                // One walk per path, the registry root's shared by both.
                let v2 = fs.mkdir_all_in(ROOT_INO, &components(layout::ROOT)?, layout::ROOT)?;
                let target = layout::blob_data(d);
                let (dir, name) = layout::below_root(&target)?;
                let at = fs.mkdir_all_in(v2.ino, &dir, &target)?;
                // Same digest already stored (anything at its path): keep it.
                if at.empty || fs.lookup(at.ino, name)?.is_none() {
                    fs.create_file_in(at.ino, name, data, &target)?;
                }
                if let Some(repo) = repo {
                    let path = layout::layer_link(repo, d);
                    let (dir, name) = layout::below_root(&path)?;
                    let at = fs.mkdir_all_in(v2.ino, &dir, &path)?;
                    fs.write_file_in(at, name, &link::encode(d), &path)?;
                }
                Ok(())
            })?;
            if repo.is_some() {
                self.gc_touch(d);
            }
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
}
