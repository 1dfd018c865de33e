//! Tiny files held inline in their extent record (`records`: inline data):
//! what makes them, that every other path turns them into chunks first and
//! keeps the extent map tiling, and that reads, snapshots, diffs, fsck, GC
//! and the space counts see the same bytes. Each file is checked against a
//! model of its bytes, and whether it is inline against what stores no
//! chunk (`file_chunks` empty, the content store's chunk count unchanged).

mod common;

use common::{fresh_fs, fresh_registry, noise, read_all, sha256, Store};
use filesystem::records::INLINE_MAX;
use filesystem::{
    layout, parse_upload_id, Algorithm, ChangeKind, Fs, Reference, RegistryGcOptions, RepoName, Tag,
};

/// Whether `path` holds bytes but no chunk: its bytes are inline.
fn is_inline(fs: &mut Fs<Store>, path: &str) -> bool {
    let m = fs.stat(path).unwrap();
    m.size > 0 && fs.file_chunks(m.ino).unwrap().is_empty()
}

fn chunks(fs: &mut Fs<Store>) -> u64 {
    fs.stats().unwrap().chunks
}

fn assert_clean(fs: &mut Fs<Store>) {
    let r = fs.fsck(true).unwrap();
    assert!(r.is_clean(), "{r:?}");
}

#[test]
fn a_small_puts_link_is_inline_and_reads_back_byte_identical() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("bench/small").unwrap();
    let before = chunks(reg.fs());
    let data = common::small_blob(1);
    let d = sha256(&data);
    reg.put_blob_into(&d, &mut &data[..], Some(&repo)).unwrap();
    // The 4 KiB blob is one chunk; its link none.
    assert_eq!(chunks(reg.fs()), before + 1);
    let link = layout::layer_link(&repo, &d);
    assert!(is_inline(reg.fs(), &link), "the link is inline");
    assert_eq!(
        reg.fs().read_file(&link, 1 << 10).unwrap(),
        d.to_string().as_bytes()
    );
    assert!(reg.is_linked(&repo, &d).unwrap());
    assert_eq!(reg.read_blob(&d, 1 << 20).unwrap(), Some(data));
    // A blob no larger than INLINE_MAX is inline too, and served whole.
    let tiny = noise(7, 100);
    let t = sha256(&tiny);
    reg.put_blob_into(&t, &mut &tiny[..], Some(&repo)).unwrap();
    assert_eq!(chunks(reg.fs()), before + 1, "nothing chunked");
    assert_eq!(common::read_blob(&mut reg, &t), tiny);
    assert_eq!(reg.blob_size(&t).unwrap(), Some(100));
    assert_clean(reg.fs());
}

#[test]
fn whole_file_writes_are_inline_up_to_inline_max_and_chunked_past_it() {
    let mut fs = fresh_fs(4096);
    for n in [1, 71, INLINE_MAX] {
        let path = format!("/f{n}");
        let data = noise(n as u64, n);
        fs.write_file(&path, &data).unwrap();
        assert!(is_inline(&mut fs, &path), "{n} bytes");
        assert_eq!(read_all(&mut fs, &path), data);
    }
    fs.write_file("/big", &noise(1, INLINE_MAX + 1)).unwrap();
    assert!(!is_inline(&mut fs, "/big"));
    // Replacing: big by small is inline, small by big is chunked.
    fs.write_file("/big", b"small now").unwrap();
    assert!(is_inline(&mut fs, "/big"));
    assert_eq!(read_all(&mut fs, "/big"), b"small now");
    let big = noise(2, 10_000);
    fs.write_file("/f71", &big).unwrap();
    assert!(!is_inline(&mut fs, "/f71"));
    assert_eq!(read_all(&mut fs, "/f71"), big);
    // A put session whose bytes all arrive before its finish.
    let mut s = fs.put_begin("/put").unwrap();
    fs.put_write(&mut s, b"sha256:").unwrap();
    fs.put_write(&mut s, b"abc").unwrap();
    fs.put_finish(s).unwrap();
    assert!(is_inline(&mut fs, "/put"));
    assert_eq!(read_all(&mut fs, "/put"), b"sha256:abc");
    let logical: u64 =
        [1, 71, INLINE_MAX].iter().map(|&n| n as u64).sum::<u64>() - 71 + 9 + 10_000 + 10;
    assert_eq!(
        fs.logical_bytes(),
        logical,
        "inline bytes are logical bytes"
    );
    assert_clean(&mut fs);
}

/// Appends, overwrites and truncates of an inline file, each checked
/// against a model, crossing INLINE_MAX both ways.
#[test]
fn changing_an_inline_file_keeps_its_bytes_and_its_extent_map_whole() {
    let mut fs = fresh_fs(4096);
    let base = noise(3, 100);
    let reset = |fs: &mut Fs<Store>| {
        fs.write_file("/f", &base).unwrap();
        assert!(is_inline(fs, "/f"));
        fs.stat("/f").unwrap().ino
    };
    let check = |fs: &mut Fs<Store>, model: &[u8], what: &str| {
        assert_eq!(fs.stat("/f").unwrap().size, model.len() as u64, "{what}");
        assert!(read_all(fs, "/f") == model, "{what}: bytes differ");
        let r = fs.fsck(true).unwrap();
        assert!(r.is_clean(), "{what}: {r:?}");
    };

    // Append within INLINE_MAX, then across it.
    let ino = reset(&mut fs);
    fs.append(ino, b"0123456789").unwrap();
    let mut model = base.clone();
    model.extend_from_slice(b"0123456789");
    check(&mut fs, &model, "append within");
    fs.append(ino, &noise(4, 200)).unwrap();
    model.extend_from_slice(&noise(4, 200));
    check(&mut fs, &model, "append across");

    // Overwrite inside, overlapping its end, and past its end (a hole).
    for (offset, len) in [(0, 5), (40, 10), (95, 20), (90, 300), (1000, 7)] {
        let ino = reset(&mut fs);
        let data = noise(offset + len, len as usize);
        fs.write_at(ino, offset, &data).unwrap();
        let mut model = base.clone();
        let end = offset as usize + len as usize;
        if model.len() < end {
            model.resize(end, 0);
        }
        model[offset as usize..end].copy_from_slice(&data);
        check(&mut fs, &model, &format!("write {len} at {offset}"));
    }

    // Shrinking stays inline; growing (small or large) chunks the bytes
    // kept and stores a hole after them.
    reset(&mut fs);
    fs.truncate("/f", 30).unwrap();
    assert!(is_inline(&mut fs, "/f"), "shrunk, still inline");
    check(&mut fs, &base[..30], "shrink");
    fs.truncate("/f", 50).unwrap();
    let mut model = base[..30].to_vec();
    model.resize(50, 0);
    check(&mut fs, &model, "grow within INLINE_MAX");
    reset(&mut fs);
    fs.truncate("/f", 1 << 20).unwrap();
    let mut model = base.clone();
    model.resize(1 << 20, 0);
    check(&mut fs, &model, "grow across");
    reset(&mut fs);
    fs.truncate("/f", 0).unwrap();
    check(&mut fs, b"", "to empty");
    assert_eq!(fs.logical_bytes(), 0);
}

/// A resumable upload flushed after a tiny first piece holds it inline;
/// the next piece, in the same session or after a resume, takes it back.
#[test]
fn an_upload_resumed_over_an_inline_first_piece_finishes_byte_identical() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("team/app").unwrap();
    let data = noise(9, 70_000);
    for resume in [false, true] {
        let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
        reg.append_durable(&mut up, 0, &data[..50]).unwrap();
        let path = layout::upload_data(Some(&repo), up.id());
        assert!(is_inline(reg.fs(), &path), "the first piece is inline");
        let mut up = if resume {
            let id = parse_upload_id(up.id()).unwrap();
            drop(up);
            reg.resume_upload(&repo, id, Algorithm::Sha256).unwrap()
        } else {
            up
        };
        reg.append_durable(&mut up, 50, &data[50..]).unwrap();
        let d = sha256(&data);
        reg.finish_upload(up, &d).unwrap();
        assert!(common::read_blob(&mut reg, &d) == data, "resume {resume}");
        assert_clean(reg.fs());
    }
}

#[test]
fn snapshots_and_diffs_see_inline_files() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/a/link", b"sha256:one").unwrap();
    fs.write_file("/a/keep", b"kept").unwrap();
    fs.snapshot_create("s1").unwrap();
    fs.write_file("/a/link", b"sha256:two").unwrap();
    fs.write_file("/a/new", b"new").unwrap();
    fs.unlink("/a/keep").unwrap();
    fs.snapshot_create("s2").unwrap();
    let diff = fs.snapshot_diff(Some("s1"), Some("s2")).unwrap();
    let kinds: Vec<(String, ChangeKind)> = diff.iter().map(|c| (c.path.clone(), c.kind)).collect();
    assert!(
        kinds.contains(&("/a/link".to_string(), ChangeKind::Modified)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("/a/new".to_string(), ChangeKind::Added)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("/a/keep".to_string(), ChangeKind::Removed)),
        "{kinds:?}"
    );
    assert_eq!(
        fs.read_file_in(Some("s1"), "/a/link", 100).unwrap(),
        b"sha256:one"
    );
    assert_eq!(
        fs.read_file_in(Some("s1"), "/a/keep", 100).unwrap(),
        b"kept"
    );
    assert_eq!(
        fs.read_file_in(None, "/a/link", 100).unwrap(),
        b"sha256:two"
    );
    // A change to an inline file in the live tree leaves the snapshot's.
    let ino = fs.stat("/a/link").unwrap().ino;
    fs.append(ino, &[b'x'; 300]).unwrap();
    assert_eq!(
        fs.read_file_in(Some("s2"), "/a/link", 100).unwrap(),
        b"sha256:two"
    );
    fs.snapshot_restore("s1").unwrap();
    assert_eq!(read_all(&mut fs, "/a/link"), b"sha256:one");
    assert_clean(&mut fs);
}

/// GC has no chunk to mark for inline data: it keeps every chunk a file
/// still names, frees only what nothing names, and every file reads back.
#[test]
fn gc_keeps_every_reachable_byte_beside_inline_files() {
    let mut fs = fresh_fs(8192);
    let mut model = Vec::new();
    for i in 0..40u64 {
        let n = [10usize, 71, INLINE_MAX, INLINE_MAX + 1, 5000][i as usize % 5];
        let data = noise(100 + i, n);
        fs.write_file(&format!("/d/f{i}"), &data).unwrap();
        model.push((format!("/d/f{i}"), data));
    }
    fs.snapshot_create("s").unwrap();
    // Garbage: chunked files replaced by inline ones, removed files.
    for (i, (path, data)) in model.iter_mut().enumerate() {
        match i % 3 {
            0 => {
                *data = noise(i as u64, 20);
                fs.write_file(path, data).unwrap();
            }
            1 => {
                let ino = fs.stat(path).unwrap().ino;
                fs.append(ino, b"tail").unwrap();
                data.extend_from_slice(b"tail");
            }
            _ => {}
        }
    }
    fs.unlink("/d/f2").unwrap();
    model.retain(|(p, _)| p != "/d/f2");
    let first = fs.gc(false).unwrap();
    for (path, data) in &model {
        assert!(read_all(&mut fs, path) == *data, "{path}");
    }
    assert_clean(&mut fs);
    // Once the snapshot goes, what only it named is reclaimed; nothing else.
    fs.snapshot_delete("s").unwrap();
    let second = fs.gc(false).unwrap();
    assert!(second.blocks_freed > 0, "{first:?} {second:?}");
    for (path, data) in &model {
        assert!(read_all(&mut fs, path) == *data, "{path}");
    }
    assert_clean(&mut fs);
    assert_eq!(
        fs.gc(false).unwrap().blocks_freed,
        0,
        "nothing left to free"
    );
}

/// The registry's GC reads links and manifests (inline when small) to
/// know what is referenced: a tagged image's tiny config and its layer
/// stay, an untagged manifest's tiny blob goes.
#[test]
fn registry_gc_keeps_what_inline_links_and_manifests_name() {
    let mut reg = fresh_registry(8192);
    reg.fs().set_time(Some(0));
    let repo = RepoName::parse("team/app").unwrap();
    let put = |reg: &mut filesystem::Registry<Store>, data: &[u8]| {
        let d = sha256(data);
        reg.put_blob_into(&d, &mut &data[..], Some(&repo)).unwrap();
        d
    };
    let config = put(&mut reg, b"{\"os\":\"linux\"}");
    let layer_data = noise(1, 3000);
    let layer = put(&mut reg, &layer_data);
    let lonely = put(&mut reg, b"{\"os\":\"plan9\"}");
    let desc = |d: &filesystem::Digest| {
        format!(r#"{{"mediaType":"application/octet-stream","digest":"{d}","size":1}}"#)
    };
    let manifest = |config: &filesystem::Digest, layer: &filesystem::Digest| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
            desc(config),
            desc(layer)
        )
    };
    let tagged = manifest(&config, &layer);
    let td = sha256(tagged.as_bytes());
    let tag = Reference::Tag(Tag::parse("v1").unwrap());
    reg.put_manifest(&repo, &tag, tagged.as_bytes(), &td)
        .unwrap();
    let untagged = manifest(&lonely, &lonely);
    let ud = sha256(untagged.as_bytes());
    reg.put_manifest(
        &repo,
        &Reference::Digest(ud.clone()),
        untagged.as_bytes(),
        &ud,
    )
    .unwrap();
    let report = reg
        .registry_gc(&RegistryGcOptions {
            dry_run: false,
            delete_untagged: true,
            now: 1000,
            grace_secs: 100,
            upload_max_idle_secs: 500,
        })
        .unwrap();
    assert!(!reg.has_blob(&lonely).unwrap(), "{report:?}");
    assert!(!reg.has_blob(&ud).unwrap(), "{report:?}");
    assert_eq!(
        reg.read_blob(&config, 1 << 10).unwrap().as_deref(),
        Some(&b"{\"os\":\"linux\"}"[..])
    );
    assert_eq!(reg.read_blob(&layer, 1 << 20).unwrap(), Some(layer_data));
    assert!(reg.is_linked(&repo, &config).unwrap());
    assert_clean(reg.fs());
}
