//! Two images sharing base layers: physical bytes grow only by the unique
//! data; a layer shared by several repositories is stored once.

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{Reference, RepoName};

#[test]
fn second_image_costs_only_its_unique_layer() {
    let mut reg = fresh_registry(32768);
    let base1 = noise(1, 3_000_000);
    let base2 = noise(2, 2_000_000);
    let app_a = noise(3, 500_000);
    let app_b = noise(4, 700_000);
    let push = |reg: &mut filesystem::Registry<common::Store>, repo: &str, layers: &[&Vec<u8>]| {
        let repo = RepoName::parse(repo).unwrap();
        let mut manifest = String::from("{\"layers\":[");
        for l in layers {
            let d = sha256(l);
            reg.put_blob(&d, &mut &l[..]).unwrap();
            reg.link_blob(&repo, &d).unwrap();
            manifest.push_str(&format!("\"{d}\","));
        }
        manifest.push_str("]}");
        let m = manifest.into_bytes();
        reg.put_manifest(&repo, &Reference::parse("latest").unwrap(), &m, &sha256(&m))
            .unwrap();
    };
    push(&mut reg, "team/a", &[&base1, &base2, &app_a]);
    let after_a = reg.fs().stats().unwrap();
    push(&mut reg, "team/b", &[&base1, &base2, &app_b]);
    let after_b = reg.fs().stats().unwrap();
    let grew = after_b.chunk_bytes - after_a.chunk_bytes;
    // Only app_b and the small manifest are new.
    assert!((700_000..700_000 + 4096).contains(&grew), "grew by {grew}");
    // Blobs are global: each base layer is one file.
    assert_eq!(reg.list_blobs().unwrap().len(), 6);
    // The same layer pushed into a third repository costs nothing.
    push(&mut reg, "other/c", &[&base1]);
    let after_c = reg.fs().stats().unwrap();
    assert!(after_c.chunk_bytes - after_b.chunk_bytes < 4096);
    // Uploads leave replaced tail chunks behind until a GC.
    reg.fs().gc(false).unwrap();
    let collected = reg.fs().stats().unwrap();
    assert!(collected.dedup_ratio >= 1.0, "{collected:?}");
    assert!(collected.chunk_bytes <= after_c.chunk_bytes);
    assert_eq!(
        reg.list_repositories().unwrap(),
        vec!["other/c", "team/a", "team/b"]
    );
}

#[test]
fn shifted_data_dedups_with_content_defined_chunks() {
    let mut reg = fresh_registry(16384);
    let body = noise(7, 2_000_000);
    let mut shifted = b"a small header that shifts everything".to_vec();
    shifted.extend_from_slice(&body);
    reg.put_blob(&sha256(&body), &mut &body[..]).unwrap();
    let before = reg.fs().stats().unwrap();
    reg.put_blob(&sha256(&shifted), &mut &shifted[..]).unwrap();
    let after = reg.fs().stats().unwrap();
    let grew = after.chunk_bytes - before.chunk_bytes;
    assert!(grew < 600_000, "a 37-byte shift cost {grew} new bytes");
}

#[test]
fn same_blob_dedups_whatever_pieces_it_came_in() {
    let mut reg = fresh_registry(16384);
    let data = noise(11, 1_500_000);
    reg.fs().write_file("/one-shot", &data).unwrap();
    let base = reg.fs().stats().unwrap().chunk_bytes;
    for (i, piece) in [4096usize, 65_536, 100_000, 333_333, 1 << 20]
        .into_iter()
        .enumerate()
    {
        let ino = reg.fs().create(&format!("/pieces{i}")).unwrap();
        for p in data.chunks(piece) {
            reg.fs().append(ino, p).unwrap();
        }
        assert_eq!(
            reg.fs()
                .read_file(&format!("/pieces{i}"), u64::MAX)
                .unwrap(),
            data
        );
    }
    // Appends leave their intermediate tail chunks as garbage; after a GC
    // the store holds exactly the one-shot chunks.
    reg.fs().gc(false).unwrap();
    assert_eq!(reg.fs().stats().unwrap().chunk_bytes, base);
}
