//! Random filesystem operations checked against a reference model (a map
//! of paths to contents): after every operation the tree, every file's
//! bytes and the logical size agree with the model; failed operations
//! change nothing. Seeded: a failure names the seed and step.

mod common;

use std::collections::BTreeMap;

use common::{fresh_fs, noise};
use filesystem::{Fs, Kind};
use testkit::SplitMix;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Dir,
    File(Vec<u8>),
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn random_path(rng: &mut SplitMix) -> String {
    let depth = 1 + rng.below(3);
    (0..depth)
        .map(|_| format!("/{}", NAMES[rng.below(4) as usize]))
        .collect()
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn check(fs: &mut Fs<common::Store>, model: &BTreeMap<String, Node>, ctx: &str) {
    let walked = fs.walk(None).unwrap();
    let got: Vec<&str> = walked.iter().map(|e| e.path.as_str()).collect();
    let want: Vec<&str> = model.keys().map(String::as_str).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort_unstable();
    assert_eq!(got_sorted, want, "{ctx}: paths");
    let mut logical = 0;
    for e in walked {
        match &model[&e.path] {
            Node::Dir => assert_eq!(e.kind, Kind::Dir, "{ctx}: {}", e.path),
            Node::File(bytes) => {
                assert_eq!(e.kind, Kind::File, "{ctx}: {}", e.path);
                assert_eq!(
                    &fs.read_file(&e.path, u64::MAX).unwrap(),
                    bytes,
                    "{ctx}: contents of {}",
                    e.path
                );
                logical += bytes.len() as u64;
            }
        }
    }
    assert_eq!(fs.logical_bytes(), logical, "{ctx}: logical bytes");
}

fn run(seed: u64, steps: usize, done: &mut [u32; 8]) {
    let mut fs = fresh_fs(16384);
    let mut model: BTreeMap<String, Node> = BTreeMap::new();
    let mut rng = SplitMix(seed);
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        let path = random_path(&mut rng);
        let parent_ok = parent(&path) == "/" || model.get(parent(&path)) == Some(&Node::Dir);
        let op = rng.below(8) as usize;
        let before = fs.walk(None).unwrap();
        match op {
            0 => {
                let r = fs.mkdir(&path);
                if parent_ok && !model.contains_key(&path) {
                    r.unwrap_or_else(|e| panic!("{ctx}: mkdir {path}: {e}"));
                    model.insert(path, Node::Dir);
                } else {
                    assert!(r.is_err(), "{ctx}: mkdir {path} should fail");
                }
            }
            1 | 2 => {
                // write_at a random offset (maybe past the end).
                let len = rng.below(150_000) as usize;
                let data = noise(rng.next_u64(), len);
                match model.get_mut(&path) {
                    Some(Node::File(bytes)) => {
                        let off = rng.below(bytes.len() as u64 + 70_000) as usize;
                        let ino = fs.stat(&path).unwrap().ino;
                        fs.write_at(ino, off as u64, &data)
                            .unwrap_or_else(|e| panic!("{ctx}: write {path}: {e}"));
                        if off > bytes.len() {
                            bytes.resize(off, 0);
                        }
                        let end = off + len;
                        if end > bytes.len() {
                            bytes.resize(end, 0);
                        }
                        bytes[off..end].copy_from_slice(&data);
                    }
                    Some(Node::Dir) => assert!(fs.write_file(&path, &data).is_err(), "{ctx}"),
                    None if parent_ok => {
                        fs.write_file(&path, &data)
                            .unwrap_or_else(|e| panic!("{ctx}: create {path}: {e}"));
                        model.insert(path, Node::File(data));
                    }
                    None => {
                        // write_file creates parents: only fails if a parent is a file.
                        let blocked = {
                            let mut p = parent(&path).to_string();
                            let mut blocked = false;
                            while p != "/" {
                                if matches!(model.get(&p), Some(Node::File(_))) {
                                    blocked = true;
                                }
                                p = parent(&p).to_string();
                            }
                            blocked
                        };
                        let r = fs.write_file(&path, &data);
                        if blocked {
                            assert!(r.is_err(), "{ctx}");
                        } else {
                            r.unwrap_or_else(|e| panic!("{ctx}: create {path}: {e}"));
                            let mut p = parent(&path).to_string();
                            while p != "/" {
                                model.entry(p.clone()).or_insert(Node::Dir);
                                p = parent(&p).to_string();
                            }
                            model.insert(path, Node::File(data));
                        }
                    }
                }
            }
            3 => {
                let size = rng.below(200_000);
                let r = fs.truncate(&path, size);
                match model.get_mut(&path) {
                    Some(Node::File(bytes)) => {
                        r.unwrap_or_else(|e| panic!("{ctx}: truncate {path}: {e}"));
                        bytes.resize(size as usize, 0);
                    }
                    _ => assert!(r.is_err(), "{ctx}"),
                }
            }
            4 => {
                let r = fs.unlink(&path);
                if matches!(model.get(&path), Some(Node::File(_))) {
                    r.unwrap_or_else(|e| panic!("{ctx}: unlink {path}: {e}"));
                    model.remove(&path);
                } else {
                    assert!(r.is_err(), "{ctx}");
                }
            }
            5 => {
                // Half the time aim at an empty directory, so rmdir succeeds.
                let empty_dirs: Vec<String> = model
                    .iter()
                    .filter(|(k, v)| {
                        **v == Node::Dir && !model.keys().any(|c| c.starts_with(&format!("{k}/")))
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let path = if !empty_dirs.is_empty() && rng.below(2) == 0 {
                    empty_dirs[rng.below(empty_dirs.len() as u64) as usize].clone()
                } else {
                    path
                };
                let r = fs.rmdir(&path);
                let prefix = format!("{path}/");
                let empty = !model.keys().any(|k| k.starts_with(&prefix));
                if model.get(&path) == Some(&Node::Dir) && empty {
                    r.unwrap_or_else(|e| panic!("{ctx}: rmdir {path}: {e}"));
                    model.remove(&path);
                } else {
                    assert!(r.is_err(), "{ctx}");
                }
            }
            _ => {
                let to = random_path(&mut rng);
                let r = fs.rename(&path, &to);
                let src = model.get(&path).cloned();
                let dst = model.get(&to).cloned();
                let to_parent_ok = parent(&to) == "/" || model.get(parent(&to)) == Some(&Node::Dir);
                let into_self = to.starts_with(&format!("{path}/"));
                let to_prefix = format!("{to}/");
                let dst_empty = !model.keys().any(|k| k.starts_with(&to_prefix));
                let ok = match (&src, &dst) {
                    (None, _) => false,
                    _ if !to_parent_ok => false,
                    _ if path == to => true,
                    (Some(Node::Dir), _) if into_self => false,
                    (Some(_), None) => true,
                    (Some(Node::File(_)), Some(Node::File(_))) => true,
                    (Some(Node::Dir), Some(Node::Dir)) => dst_empty,
                    _ => false,
                };
                if ok {
                    r.unwrap_or_else(|e| panic!("{ctx}: rename {path} {to}: {e}"));
                    if path != to {
                        let prefix = format!("{path}/");
                        let moved: Vec<(String, Node)> = model
                            .iter()
                            .filter(|(k, _)| **k == path || k.starts_with(&prefix))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        model.remove(&to);
                        for (k, _) in &moved {
                            model.remove(k);
                        }
                        for (k, v) in moved {
                            model.insert(format!("{to}{}", &k[path.len()..]), v);
                        }
                    }
                } else {
                    assert!(r.is_err(), "{ctx}: rename {path} -> {to} should fail");
                }
            }
        }
        check(&mut fs, &model, &ctx);
        let after = fs.walk(None).unwrap();
        if after != before || op == 1 || op == 2 {
            done[op] += 1;
        }
    }
    let report = fs.fsck(true).unwrap();
    assert!(report.is_clean(), "seed {seed}: {:?}", report.problems);
}

#[test]
fn random_operations_match_the_model() {
    let mut done = [0u32; 8];
    for seed in 1..=8 {
        run(seed, 150, &mut done);
    }
    // Every kind of operation changed the tree several times.
    println!("changes per operation kind: {done:?}");
    assert!(done.iter().all(|&n| n >= 3), "{done:?}");
}
