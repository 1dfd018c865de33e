//! A fake filesystem service for host tests of the client: it implements
//! `fs::Server` (every operation), keeps a sorted list of repository names
//! it pages through like the real service, records the text arguments and
//! data lengths it saw, and answers with a queued error when one is set.
//! It runs behind `abi::fake::Loopback` (the dispatch called in process,
//! leases checked like the kernel's).
#![allow(dead_code)] // each test file uses part of it

use std::collections::VecDeque;

use abi::fake::{FakeCaller, Loopback};
use abi::iface::{LeaseIn, LeaseOut};
use fs_api::{
    fs, split_args, At, Checked, DiffText, FsClient, FsError, FsckStepped, Listed, Read, Space,
    Stat, Stepped, Text,
};

type In<'a> = LeaseIn<'a, FakeCaller>;
type Out<'a> = LeaseOut<'a, FakeCaller>;

#[derive(Default)]
pub struct FakeFs {
    /// Answered (once each, in order) instead of the operation's result.
    pub errors: VecDeque<FsError>,
    /// Repository names, sorted.
    pub repos: Vec<String>,
    /// The text arguments of every call, as the service split them.
    pub seen: Vec<Vec<String>>,
    /// Data lengths the service was lent.
    pub data_lens: Vec<u64>,
    /// The badge each `stat` arrived with.
    pub stat_badges: Vec<u64>,
}

abi::serve_with!(FakeFs, fs);

pub type Client = FsClient<Loopback<FakeFs>>;

pub fn client(fake: FakeFs) -> Client {
    FsClient::over(Loopback::new(fake))
}

impl FakeFs {
    /// Reads and splits lease 0 into `N` arguments, records them.
    fn args<const N: usize>(&mut self, l0: &In<'_>) -> Result<[String; N], FsError> {
        let mut buf = vec![0u8; l0.len() as usize];
        l0.read(0, &mut buf).map_err(|e| FsError::lease(0, e))?;
        let parts = split_args::<N>(&buf).ok_or(FsError::BadArguments {})?;
        let owned = parts.map(String::from);
        self.seen.push(owned.to_vec());
        Ok(owned)
    }

    /// The queued error, if any.
    fn fail(&mut self) -> Result<(), FsError> {
        match self.errors.pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn take<const N: usize>(&mut self, l0: &In<'_>) -> Result<[String; N], FsError> {
        let a = self.args::<N>(l0)?;
        self.fail()?;
        Ok(a)
    }

    fn data(&mut self, data: &In<'_>) -> Result<u64, FsError> {
        self.data_lens.push(data.len());
        if !data.is_empty() {
            let mut buf = vec![0u8; data.len() as usize];
            data.read(0, &mut buf).map_err(|e| FsError::lease(1, e))?;
        }
        self.fail()?;
        Ok(data.len())
    }

    fn text(&mut self, out: &Out<'_>, text: &str) -> Result<Text, FsError> {
        self.fail()?;
        let n = text.len().min(out.len() as usize);
        out.write(0, &text.as_bytes()[..n])
            .map_err(|e| FsError::lease(1, e))?;
        Ok(Text {
            written: n as u64,
            needed: text.len() as u64,
        })
    }
}

impl fs::Server<FakeCaller> for FakeFs {
    fn stat(&mut self, badge: u64, args: In<'_>) -> Result<Stat, FsError> {
        self.stat_badges.push(badge);
        let [path] = self.take(&args)?;
        Ok(Stat {
            is_dir: path == "/",
            size: path.len() as u64,
            ino: 7,
            mtime: 9,
            mode: 0o644,
        })
    }
    fn list(&mut self, _b: u64, limit: u64, args: In<'_>, out: Out<'_>) -> Result<Listed, FsError> {
        self.take::<2>(&args)?;
        let t = self.text(&out, "f a\n")?;
        Ok(Listed {
            entries: limit.min(1),
            bytes: t.written,
        })
    }
    fn read(&mut self, _b: u64, offset: u64, args: In<'_>, out: Out<'_>) -> Result<Read, FsError> {
        self.take::<1>(&args)?;
        let t = self.text(&out, "hello")?;
        Ok(Read {
            bytes: t.written,
            size: 5 + offset,
        })
    }
    fn create(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn append(&mut self, _b: u64, args: In<'_>, data: In<'_>) -> Result<u64, FsError> {
        self.take::<1>(&args)?;
        self.data(&data)
    }
    fn remove(&mut self, _b: u64, _recursive: bool, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn mkdir(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn rename(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<2>(&args).map(drop)
    }
    fn truncate(&mut self, _b: u64, _size: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn blob_put(&mut self, _b: u64, args: In<'_>, data: In<'_>) -> Result<u64, FsError> {
        self.take::<2>(&args)?;
        self.data(&data)
    }
    fn blob_begin(&mut self, _b: u64, _length: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<2>(&args).map(drop)
    }
    fn blob_write(&mut self, _b: u64, data: In<'_>) -> Result<u64, FsError> {
        self.data(&data)
    }
    fn blob_finish(&mut self, _b: u64) -> Result<u64, FsError> {
        self.fail().map(|()| 0)
    }
    fn blob_read(
        &mut self,
        _b: u64,
        _offset: u64,
        args: In<'_>,
        out: Out<'_>,
    ) -> Result<Read, FsError> {
        self.take::<1>(&args)?;
        let t = self.text(&out, "blob")?;
        Ok(Read {
            bytes: t.written,
            size: 4,
        })
    }
    fn blob_stat(&mut self, _b: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<1>(&args).map(|_| 4)
    }
    fn blob_remove(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn manifest_put(&mut self, _b: u64, args: In<'_>, data: In<'_>) -> Result<[u8; 32], FsError> {
        self.take::<2>(&args)?;
        self.data(&data)?;
        Ok(core::array::from_fn(|i| i as u8))
    }
    fn manifest_get(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Read, FsError> {
        self.take::<2>(&args)?;
        let t = self.text(&out, "{}")?;
        Ok(Read {
            bytes: t.written,
            size: 2,
        })
    }
    fn manifest_remove(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<2>(&args).map(drop)
    }
    fn repos(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        let [after] = self.take(&args)?;
        // As the service: whole lines while they fit, the rest counted.
        let (mut written, mut needed) = (0u64, 0u64);
        for name in self
            .repos
            .iter()
            .filter(|n| after.is_empty() || **n > after)
        {
            let line = format!("{name}\n");
            if needed == written && written + line.len() as u64 <= out.len() {
                out.write(written, line.as_bytes())
                    .map_err(|e| FsError::lease(1, e))?;
                written += line.len() as u64;
            }
            needed += line.len() as u64;
        }
        Ok(Text { written, needed })
    }
    fn tags(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.take::<2>(&args)?;
        self.text(&out, "latest\n")
    }
    fn snap_create(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn snap_restore(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn snap_remove(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn gc(&mut self, _b: u64, _dry_run: bool, out: Out<'_>) -> Result<Text, FsError> {
        self.text(&out, "gc\n")
    }
    fn fsck(&mut self, _b: u64, out: Out<'_>) -> Result<Checked, FsError> {
        let text = self.text(&out, "fsck: 2 problems\n")?;
        Ok(Checked { text, problems: 2 })
    }
    fn fsck_step(&mut self, _b: u64, _restart: bool, out: Out<'_>) -> Result<FsckStepped, FsError> {
        let text = self.text(&out, "fsck: 2 problems\n")?;
        Ok(FsckStepped {
            checked: Checked { text, problems: 2 },
            done: 1,
        })
    }
    fn gc_step(
        &mut self,
        _b: u64,
        _restart: bool,
        _dry_run: bool,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        let text = self.text(&out, "gc\n")?;
        Ok(Stepped { text, done: 1 })
    }
    fn registry_gc_step(
        &mut self,
        _b: u64,
        _restart: bool,
        _dry_run: bool,
        _grace_secs: u64,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        let text = self.text(&out, "registry gc\n")?;
        Ok(Stepped { text, done: 1 })
    }
    fn df(&mut self, _b: u64, out: Out<'_>) -> Result<Space, FsError> {
        let text = self.text(&out, "df\n")?;
        Ok(Space {
            text,
            logical_bytes: 1,
            chunk_bytes: 2,
            physical_bytes: 3,
            free_bytes: 4,
        })
    }
    fn stats(&mut self, _b: u64, out: Out<'_>) -> Result<Text, FsError> {
        self.text(&out, "stats\n")
    }
    fn sync(&mut self, _b: u64) -> Result<(), FsError> {
        self.fail()
    }
    fn shutdown(&mut self, _b: u64) -> Result<(), FsError> {
        self.fail()
    }
    fn put_begin(&mut self, _b: u64, _length: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn put_write(&mut self, _b: u64, data: In<'_>) -> Result<u64, FsError> {
        self.data(&data)
    }
    fn put_finish(&mut self, _b: u64) -> Result<u64, FsError> {
        self.fail().map(|()| 0)
    }
    fn put_abort(&mut self, _b: u64) -> Result<(), FsError> {
        self.fail()
    }
    fn upload_start(&mut self, _b: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<1>(&args).map(|_| 0x1234)
    }
    fn upload_append(
        &mut self,
        _b: u64,
        _id: u64,
        offset: u64,
        args: In<'_>,
        data: In<'_>,
    ) -> Result<u64, FsError> {
        self.take::<1>(&args)?;
        Ok(offset + self.data(&data)?)
    }
    fn upload_status(&mut self, _b: u64, _id: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<1>(&args).map(|_| 0)
    }
    fn upload_finish(&mut self, _b: u64, _id: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<2>(&args).map(|_| 0)
    }
    fn upload_cancel(&mut self, _b: u64, _id: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn blob_mount(&mut self, _b: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<3>(&args).map(|_| 0)
    }
    fn blob_linked(&mut self, _b: u64, args: In<'_>) -> Result<u64, FsError> {
        self.take::<2>(&args).map(|_| 0)
    }
    fn blob_unlink(&mut self, _b: u64, args: In<'_>) -> Result<(), FsError> {
        self.take::<2>(&args).map(drop)
    }
    fn registry_gc(
        &mut self,
        _b: u64,
        _dry_run: bool,
        _grace: u64,
        out: Out<'_>,
    ) -> Result<Text, FsError> {
        self.text(&out, "registry gc\n")
    }
    fn quota_set(
        &mut self,
        _b: u64,
        _repo: bool,
        _limit: u64,
        args: In<'_>,
    ) -> Result<(), FsError> {
        self.take::<1>(&args).map(drop)
    }
    fn quota_remove(&mut self, _b: u64, _repo: bool, args: In<'_>) -> Result<(), FsError> {
        self.take::<1>(&args)?;
        Err(FsError::QuotaNotSet { at: At::arg(0) })
    }
    fn quotas(&mut self, _b: u64, out: Out<'_>) -> Result<Text, FsError> {
        self.text(&out, "repo library/alpine 10485760 0\n")
    }
    fn uploads(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.take::<2>(&args)?;
        self.text(&out, "0000000000000001 0 bytes, idle 0 s\n")
    }
    fn upload_repos(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.take::<1>(&args)?;
        self.text(&out, "full/a\n")
    }
    fn snap_diff_page(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<DiffText, FsError> {
        self.take::<3>(&args)?;
        let t = self.text(&out, "M /a\n")?;
        Ok(DiffText {
            written: t.written,
            cursor: 0,
        })
    }
    fn snaps(&mut self, _b: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.take::<1>(&args)?;
        self.text(&out, "a\n")
    }
    fn snap_space_step(
        &mut self,
        _b: u64,
        _restart: bool,
        args: In<'_>,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        self.take::<1>(&args)?;
        let text = self.text(&out, "snapshot a: 0 chunks\n")?;
        Ok(Stepped { text, done: 1 })
    }
}
