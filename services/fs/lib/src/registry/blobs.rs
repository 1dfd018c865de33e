//! Stored blobs (`blobs/<alg>/<ab>/<hex>/data`): presence, size, verified
//! streaming reads ([`BlobReader`]), deletion and listing.

use super::*;

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
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
        let n = self.fs.read_at_in(&root, self.ino, self.pos, buf)?;
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
