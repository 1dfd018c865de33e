//! Files: stat, list, read, append, remove (create, mkdir, rename and
//! truncate are one library call each, in `serve.rs`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::ReadFail;
use fs_api::{At, FsError, Listed, Read, Stat, PIECE};

use super::{mounted, send_text, timed_lease, In, Out, Outcome, Service};

impl Service {
    pub(super) fn stat(&mut self, path: &str) -> Outcome<Stat> {
        let m = self.reg()?.fs().stat(path)?;
        Ok(Stat {
            is_dir: m.is_dir(),
            size: m.size,
            ino: m.ino,
            mtime: m.mtime,
            mode: u64::from(m.mode),
        })
    }

    pub(super) fn list(
        &mut self,
        path: &str,
        after: &str,
        limit: u64,
        out: &Out<'_>,
    ) -> Outcome<Listed> {
        let after = (!after.is_empty()).then_some(after);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).min(1024);
        let entries = self.reg()?.fs().list(path, after, limit)?;
        let mut text = String::new();
        for e in &entries {
            let k = if e.kind == filesystem::Kind::Dir {
                'd'
            } else {
                'f'
            };
            let _ = writeln!(text, "{k} {}", e.name);
        }
        let sent = send_text(out, &text)?;
        if sent.written < sent.needed {
            return Err(FsError::BufferTooSmall {
                needed: sent.needed,
                have: out.len(),
            }
            .into());
        }
        Ok(Listed {
            entries: entries.len() as u64,
            bytes: sent.written,
        })
    }

    pub(super) fn read(&mut self, path: &str, offset: u64, out: &Out<'_>) -> Outcome<Read> {
        let m = self.reg()?.fs().stat(path)?;
        if m.is_dir() {
            return Err(FsError::IsADirectory { at: At::arg(0) }.into());
        }
        let bytes = self.read_file(m.ino, offset, m.size, out)?;
        Ok(Read {
            bytes,
            size: m.size,
        })
    }

    pub(super) fn append(&mut self, path: &str, data: &In<'_>) -> Outcome<u64> {
        let m = self.reg()?.fs().stat(path)?;
        if m.is_dir() {
            return Err(FsError::IsADirectory { at: At::arg(0) }.into());
        }
        let len = data.len();
        self.reg()?.fs().check_request_length("append", len)?;
        self.reg()?.fs().check_quota(path, len)?;
        let mut done = 0u64;
        let mut size = m.size;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            self.lease_in(data, done, n)?;
            let reg = mounted(&mut self.reg)?;
            size = reg.fs().append(m.ino, &self.piece[..n])?;
            done += n as u64;
        }
        Ok(size)
    }

    pub(super) fn remove(&mut self, path: &str, recursive: bool) -> Outcome<()> {
        let fs = self.reg()?.fs();
        let m = fs.stat(path)?;
        match (m.is_dir(), recursive) {
            (true, true) => {
                fs.remove_all(path)?;
            }
            (true, false) => fs.rmdir(path)?,
            (false, _) => fs.unlink(path)?,
        }
        Ok(())
    }

    /// Streams file `ino` from `offset` into `out`, each chunk verified by
    /// the filesystem; returns the bytes sent. The verified bytes go from
    /// the filesystem's staging buffer straight into the client's lease
    /// (`Fs::read_to`: no copy through `piece`), one `PIECE` per step so
    /// the chunks of a step are located and read in one batch.
    pub(super) fn read_file(
        &mut self,
        ino: u64,
        offset: u64,
        size: u64,
        out: &Out<'_>,
    ) -> Outcome<u64> {
        let out_len = out.len();
        let mut sent = 0u64;
        let mut pos = offset;
        while sent < out_len && pos < size {
            let n = (out_len - sent).min(size - pos).min(PIECE as u64);
            let reg = mounted(&mut self.reg)?;
            let mut at = sent;
            let mut to_lease = |bytes: &[u8]| -> Result<(), abi::Error> {
                timed_lease(|| out.write(at, bytes))?;
                at += bytes.len() as u64;
                Ok(())
            };
            let got = match reg.fs().read_to(ino, pos, n, &mut to_lease) {
                Ok(got) => got,
                Err(ReadFail::Sink(e)) => return Err(FsError::lease(1, e).into()),
                // The verified bytes already sent go back first; the next
                // read starts at the bad chunk and gets its error.
                Err(ReadFail::Fs(_)) if sent > 0 => break,
                Err(ReadFail::Fs(e)) => return Err(e.into()),
            };
            if got == 0 {
                break;
            }
            super::blobs::count(&super::blobs::LEASE_OUT_BYTES, got as usize);
            sent += got;
            pos += got;
        }
        Ok(sent)
    }
}
