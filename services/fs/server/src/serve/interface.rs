//! `fs::Server` for [`Service`]: one method per operation, each reading
//! its text arguments and running in its room; nothing here decodes a word.

use fs_api::{
    fs, Checked, DiffText, FsError, FsckStepped, Listed, Read, Space, Stat, Stepped, Text,
};
use userlib::ipc::ReplyToken;

use super::{In, Out, Service};

/// The interface: each operation reads its text arguments and runs in its
/// room; nothing here decodes a word.
impl fs::Server<ReplyToken> for Service {
    // ---- files (files.rs) ----
    fn stat(&mut self, _: u64, args: In<'_>) -> Result<Stat, FsError> {
        self.with_args(&args, |s, [path]| s.stat(path))
    }
    fn list(&mut self, _: u64, limit: u64, args: In<'_>, out: Out<'_>) -> Result<Listed, FsError> {
        self.with_args(&args, |s, [path, after]| s.list(path, after, limit, &out))
    }
    fn read(&mut self, _: u64, offset: u64, args: In<'_>, out: Out<'_>) -> Result<Read, FsError> {
        self.with_args(&args, |s, [path]| s.read(path, offset, &out))
    }
    fn create(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [path]| {
            s.reg()?.fs().write_file(path, &[])?;
            Ok(())
        })
    }
    fn append(&mut self, _: u64, args: In<'_>, data: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [path]| s.append(path, &data))
    }
    fn remove(&mut self, _: u64, recursive: bool, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [path]| s.remove(path, recursive))
    }
    fn mkdir(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [path]| {
            s.reg()?.fs().mkdir_all(path)?;
            Ok(())
        })
    }
    fn rename(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [from, to]| Ok(s.reg()?.fs().rename(from, to)?))
    }
    fn truncate(&mut self, _: u64, size: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [path]| Ok(s.reg()?.fs().truncate(path, size)?))
    }

    // ---- puts (puts.rs) ----
    fn put_begin(&mut self, badge: u64, length: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [path]| s.put_begin(badge, path, length))
    }
    fn put_write(&mut self, badge: u64, data: In<'_>) -> Result<u64, FsError> {
        self.bare(|s| s.put_write(badge, &data))
    }
    fn put_finish(&mut self, badge: u64) -> Result<u64, FsError> {
        self.bare(|s| s.put_finish(badge))
    }
    fn put_abort(&mut self, badge: u64) -> Result<(), FsError> {
        self.bare(|s| s.drop_put(badge))
    }

    // ---- blobs (blobs.rs) ----
    fn blob_put(&mut self, _: u64, args: In<'_>, data: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo, digest]| s.blob_put(repo, digest, &data))
    }
    fn blob_begin(&mut self, badge: u64, length: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [repo, digest]| {
            s.blob_begin(badge, repo, digest, length)
        })
    }
    fn blob_write(&mut self, badge: u64, data: In<'_>) -> Result<u64, FsError> {
        self.bare(|s| s.blob_write(badge, &data))
    }
    fn blob_finish(&mut self, badge: u64) -> Result<u64, FsError> {
        self.bare(|s| s.blob_finish(badge))
    }
    fn blob_read(
        &mut self,
        _: u64,
        offset: u64,
        args: In<'_>,
        out: Out<'_>,
    ) -> Result<Read, FsError> {
        self.with_args(&args, |s, [digest]| s.blob_read(digest, offset, &out))
    }
    fn blob_stat(&mut self, _: u64, args: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [digest]| s.blob_stat(digest))
    }
    fn blob_remove(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [digest]| s.blob_remove(digest))
    }

    // ---- manifests and the catalog (manifests.rs) ----
    fn manifest_put(&mut self, _: u64, args: In<'_>, data: In<'_>) -> Result<[u8; 32], FsError> {
        self.with_args(&args, |s, [repo, reference]| {
            s.manifest_put(repo, reference, &data)
        })
    }
    fn manifest_get(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Read, FsError> {
        self.with_args(&args, |s, [repo, reference]| {
            s.manifest_get(repo, reference, &out)
        })
    }
    fn manifest_remove(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [repo, reference]| {
            s.manifest_remove(repo, reference)
        })
    }
    fn repos(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.with_args(&args, |s, [after]| s.repos(after, &out))
    }
    fn tags(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.with_args(&args, |s, [repo, after]| s.tags(repo, after, &out))
    }

    // ---- snapshots (snapshots.rs) ----
    fn snap_create(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [name]| {
            Ok(s.reg()?.fs().snapshot_create(name)?)
        })
    }
    fn snaps(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.with_args(&args, |s, [after]| s.snaps(after, &out))
    }
    fn snap_diff_page(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<DiffText, FsError> {
        self.with_args(&args, |s, [a, b, cursor]| {
            s.snap_diff_page(a, b, cursor, &out)
        })
    }
    fn snap_space_step(
        &mut self,
        badge: u64,
        restart: bool,
        args: In<'_>,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        self.with_args(&args, |s, [name]| {
            s.snap_space_step(badge, restart, name, &out)
        })
    }
    fn snap_restore(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [name]| {
            Ok(s.reg()?.fs().snapshot_restore(name)?)
        })
    }
    fn snap_remove(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [name]| {
            Ok(s.reg()?.fs().snapshot_delete(name)?)
        })
    }

    // ---- maintenance (admin.rs, registry_gc.rs) ----
    fn gc(&mut self, _: u64, dry_run: bool, out: Out<'_>) -> Result<Text, FsError> {
        self.bare(|s| s.gc(dry_run, &out))
    }
    fn gc_step(
        &mut self,
        badge: u64,
        restart: bool,
        dry_run: bool,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        self.bare(|s| s.gc_step(badge, restart, dry_run, &out))
    }
    fn fsck(&mut self, _: u64, out: Out<'_>) -> Result<Checked, FsError> {
        self.bare(|s| s.fsck(&out))
    }
    fn fsck_step(
        &mut self,
        badge: u64,
        restart: bool,
        out: Out<'_>,
    ) -> Result<FsckStepped, FsError> {
        self.bare(|s| s.fsck_step(badge, restart, &out))
    }
    fn df(&mut self, _: u64, out: Out<'_>) -> Result<Space, FsError> {
        self.bare(|s| s.df(&out))
    }
    fn stats(&mut self, _: u64, out: Out<'_>) -> Result<Text, FsError> {
        self.bare(|s| s.stats(&out))
    }
    fn sync(&mut self, _: u64) -> Result<(), FsError> {
        self.bare(|s| Ok(s.reg()?.fs().sync()?))
    }
    fn shutdown(&mut self, _: u64) -> Result<(), FsError> {
        self.bare(|s| s.shutdown())
    }
    fn registry_gc(
        &mut self,
        _: u64,
        dry_run: bool,
        grace_secs: u64,
        out: Out<'_>,
    ) -> Result<Text, FsError> {
        self.bare(|s| s.registry_gc(dry_run, grace_secs, &out))
    }
    fn registry_gc_step(
        &mut self,
        badge: u64,
        restart: bool,
        dry_run: bool,
        grace_secs: u64,
        out: Out<'_>,
    ) -> Result<Stepped, FsError> {
        self.bare(|s| s.registry_gc_step(badge, restart, dry_run, grace_secs, &out))
    }

    // ---- upload sessions and repository-scoped blobs (uploads.rs) ----
    fn upload_start(&mut self, badge: u64, args: In<'_>) -> Result<u64, FsError> {
        let client = fs_api::rights::client(badge);
        self.with_args(&args, |s, [repo]| s.upload_start(client, repo))
    }
    fn upload_append(
        &mut self,
        _: u64,
        id: u64,
        offset: u64,
        args: In<'_>,
        data: In<'_>,
    ) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo]| s.upload_append(repo, id, offset, &data))
    }
    fn upload_status(&mut self, _: u64, id: u64, args: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo]| s.upload_status(repo, id))
    }
    fn upload_finish(&mut self, _: u64, id: u64, args: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo, digest]| s.upload_finish(repo, id, digest))
    }
    fn upload_cancel(&mut self, _: u64, id: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [repo]| s.upload_cancel(repo, id))
    }
    fn uploads(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.with_args(&args, |s, [repo, after]| s.uploads(repo, after, &out))
    }
    fn upload_repos(&mut self, _: u64, args: In<'_>, out: Out<'_>) -> Result<Text, FsError> {
        self.with_args(&args, |s, [after]| s.upload_repos(after, &out))
    }
    fn blob_mount(&mut self, _: u64, args: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo, from, digest]| {
            s.blob_mount(repo, from, digest)
        })
    }
    fn blob_linked(&mut self, _: u64, args: In<'_>) -> Result<u64, FsError> {
        self.with_args(&args, |s, [repo, digest]| s.blob_linked(repo, digest))
    }
    fn blob_unlink(&mut self, _: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [repo, digest]| s.blob_unlink(repo, digest))
    }

    // ---- quotas (quotas.rs) ----
    fn quota_set(&mut self, _: u64, repo: bool, limit: u64, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [name]| s.quota_set(repo, name, limit))
    }
    fn quota_remove(&mut self, _: u64, repo: bool, args: In<'_>) -> Result<(), FsError> {
        self.with_args(&args, |s, [name]| s.quota_remove(repo, name))
    }
    fn quotas(&mut self, _: u64, out: Out<'_>) -> Result<Text, FsError> {
        self.bare(|s| s.quotas(&out))
    }
}
