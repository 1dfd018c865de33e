//! A registry GC in bounded steps whose steps interleave with pushes: a
//! manifest pushed (in an already marked repository, and in a repository
//! created after the run started) that names an old, unreferenced blob
//! keeps it, as does a blob linked meanwhile; what was garbage when the
//! run started and stays untouched is still removed; the store stays
//! consistent. (Without the registry noting what pushes touch while a run
//! is open, the sweep would remove the newly referenced blobs: the marks
//! of a repository are taken in an earlier step.)

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{fsck_blocks, Digest, Reference, RegistryGcOptions, RepoName, Tag};

type Reg = filesystem::Registry<common::Store>;

fn blob(reg: &mut Reg, repo: &RepoName, data: &[u8]) -> Digest {
    let d = sha256(data);
    reg.put_blob(&d, &mut &data[..]).unwrap();
    reg.link_blob(repo, &d).unwrap();
    d
}

fn image(reg: &mut Reg, repo: &RepoName, tag: &str, layer: &Digest) -> Digest {
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{{"mediaType":"application/octet-stream","digest":"{layer}","size":1}}]}}"#
    );
    let d = sha256(body.as_bytes());
    let reference = Reference::Tag(Tag::parse(tag).unwrap());
    reg.put_manifest(repo, &reference, body.as_bytes(), &d)
        .unwrap();
    d
}

#[test]
fn stepped_registry_gc_keeps_what_is_pushed_between_steps() {
    let mut reg = fresh_registry(16_384);
    reg.fs().set_time(Some(1_000));
    let repos: Vec<RepoName> = (0..4)
        .map(|i| RepoName::parse(&format!("app{i}")).unwrap())
        .collect();
    let mut kept = Vec::new();
    for (i, repo) in repos.iter().enumerate() {
        let l = blob(&mut reg, repo, &noise(i as u64, 30_000));
        image(&mut reg, repo, "v1", &l);
        kept.push(l);
    }
    // Old blobs no manifest names: garbage when the run starts.
    let reused = blob(&mut reg, &repos[0], &noise(100, 40_000));
    let relinked = blob(&mut reg, &repos[1], &noise(101, 40_000));
    let garbage = blob(&mut reg, &repos[2], &noise(102, 40_000));

    let o = RegistryGcOptions {
        dry_run: false,
        delete_untagged: true,
        now: 5_000,
        grace_secs: 0,
        upload_max_idle_secs: 500,
    };
    let mut run = reg.registry_gc_start(&o).unwrap();
    let mut steps = 0;
    while !reg.registry_gc_step(&mut run, 1).unwrap() {
        steps += 1;
        match steps {
            // app0 is marked by now: a new image in it names `reused`.
            2 => {
                image(&mut reg, &repos[0], "v2", &reused);
            }
            // A repository the run did not list links `relinked`.
            3 => {
                let late = RepoName::parse("zz/late").unwrap();
                reg.link_blob(&late, &relinked).unwrap();
                image(&mut reg, &late, "v1", &relinked);
            }
            _ => {}
        }
    }
    let report = reg.registry_gc_finish(run);
    assert!(steps >= 5, "{steps} steps");
    assert!(reg.has_blob(&reused).unwrap(), "{:?}", report.lines);
    assert!(reg.has_blob(&relinked).unwrap(), "{:?}", report.lines);
    for l in &kept {
        assert!(reg.has_blob(l).unwrap());
    }
    assert!(!reg.has_blob(&garbage).unwrap(), "{:?}", report.lines);
    assert_eq!(report.blobs_removed, 1, "{:?}", report.lines);
    let v2 = reg
        .get_manifest(&repos[0], &Reference::Tag(Tag::parse("v2").unwrap()))
        .unwrap();
    assert!(v2.is_some());
    let check = fsck_blocks(reg.fs(), true).unwrap();
    assert!(check.is_clean(), "{:?}", check.problems);
}
