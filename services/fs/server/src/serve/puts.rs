//! Puts: a file's contents replaced all or nothing, over several calls of
//! one client (staged in a put session of the filesystem, switched in by
//! one transaction).

use fs_api::{FsError, PIECE};

use super::{mounted, In, Outcome, PutState, Reg, Service};

impl Service {
    pub(super) fn put_begin(&mut self, badge: u64, path: &str, length: u64) -> Outcome<()> {
        self.drop_put(badge)?;
        let fs = self.reg()?.fs();
        fs.check_request_length("put", length)?;
        let old = match fs.stat(path) {
            Ok(m) if !m.is_dir() => m.size,
            _ => 0,
        };
        fs.check_quota(path, length.saturating_sub(old))?;
        let session = fs.put_begin(path)?;
        self.sessions.entry(badge).or_default().put = Some(PutState { session, length });
        Ok(())
    }

    pub(super) fn put_write(&mut self, badge: u64, data: &In<'_>) -> Outcome<u64> {
        let Some(mut put) = self.sessions.get_mut(&badge).and_then(|s| s.put.take()) else {
            return Err(FsError::NoPut {}.into());
        };
        let len = data.len();
        let have = put.session.size();
        if have.saturating_add(len) > put.length {
            let announced = put.length;
            self.reg()?.fs().put_abort(put.session)?;
            return Err(FsError::PutOverrun {
                more: len,
                have,
                announced,
            }
            .into());
        }
        let step = self.write_pieces(data, |reg, piece| {
            Ok(reg.fs().put_write(&mut put.session, piece)?)
        });
        if let Err(e) = step {
            // The client died or the store failed: the put is dropped
            // and the file keeps its old contents.
            if let Ok(reg) = self.reg() {
                let _ = reg.fs().put_abort(put.session);
            }
            return Err(e);
        }
        let received = put.session.size();
        self.sessions.entry(badge).or_default().put = Some(put);
        Ok(received)
    }

    pub(super) fn put_finish(&mut self, badge: u64) -> Outcome<u64> {
        let put = self
            .sessions
            .get_mut(&badge)
            .and_then(|s| s.put.take())
            .ok_or(FsError::NoPut {})?;
        let fs = self.reg()?.fs();
        let got = put.session.size();
        if got != put.length {
            fs.put_abort(put.session)?;
            return Err(FsError::PutShort {
                got,
                announced: put.length,
            }
            .into());
        }
        Ok(fs.put_finish(put.session)?)
    }

    /// Copies all of `data` into the store through `write`, a piece
    /// (`PIECE` bytes at most) at a time: the loop of a put and of a blob
    /// upload. On failure the caller drops its session.
    pub(super) fn write_pieces(
        &mut self,
        data: &In<'_>,
        mut write: impl FnMut(&mut Reg, &[u8]) -> Outcome<()>,
    ) -> Outcome<()> {
        let len = data.len();
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            self.lease_in(data, done, n)?;
            write(mounted(&mut self.reg)?, &self.piece[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    /// Drops `badge`'s unfinished put, if any.
    pub(super) fn drop_put(&mut self, badge: u64) -> Outcome<()> {
        if let Some(put) = self.sessions.get_mut(&badge).and_then(|s| s.put.take()) {
            self.reg()?.fs().put_abort(put.session)?;
        }
        Ok(())
    }
}
