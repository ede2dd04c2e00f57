#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! Removing trees that a hostile process still changes: removal never
//! follows a symlink out of the tree, and deep trees can be removed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use forge_store::tree::remove_tree;

const CANARIES: usize = 16;

/// Rounds of the race: the old path-following removal lost it within the
/// first few rounds.
const ROUNDS: usize = 500;

fn canary(dir: &Path) -> PathBuf {
    let c = dir.join("canary");
    fs::create_dir(&c).unwrap();
    for i in 0..CANARIES {
        fs::write(c.join(format!("file{i}")), "precious").unwrap();
    }
    c
}

fn canaries_left(c: &Path) -> usize {
    fs::read_dir(c).map_or(0, |d| d.count())
}

/// A tree whose subdirectories `d0..d{n}` hold a few files each; some
/// directories are read-only, as store objects are.
fn make_tree(root: &Path, n: usize) {
    fs::create_dir(root).unwrap();
    for i in 0..n {
        let d = root.join(format!("d{i}"));
        fs::create_dir(&d).unwrap();
        // Named like the canary's files: a removal that lists a directory
        // and then removes its entries by path deletes the canary's once
        // the directory is swapped for a link to it.
        for j in 0..CANARIES {
            fs::write(d.join(format!("file{j}")), "x").unwrap();
        }
        if i % 2 == 0 {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).unwrap();
        }
    }
}

/// While `remove_tree` runs, another thread keeps swapping each
/// subdirectory for a symlink to a canary directory outside the tree (what
/// a builder that survived its build can do to its scratch directory).
/// The canary must survive every round.
#[test]
fn removal_never_follows_a_directory_swapped_for_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary(tmp.path());
    for round in 0..ROUNDS {
        let root = tmp.path().join(format!("tree{round}"));
        make_tree(&root, 1);
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicUsize::new(0));
        let swapper = {
            let (root, canary) = (root.clone(), canary.clone());
            let (stop, swaps) = (stop.clone(), swaps.clone());
            std::thread::spawn(move || {
                let aside = root.join("aside");
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..1 {
                        let d = root.join(format!("d{i}"));
                        if fs::rename(&d, &aside).is_ok() {
                            let _ = std::os::unix::fs::symlink(&canary, &d);
                            let _ = fs::remove_file(&d);
                            let _ = fs::rename(&aside, &d);
                            swaps.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        // Start removing only once the swapper is at work.
        while swaps.load(Ordering::Relaxed) < 1 {
            std::thread::yield_now();
        }
        let _ = remove_tree(&root);
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        let left = canaries_left(&canary);
        let mode = fs::metadata(&canary).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            left,
            CANARIES,
            "round {round}: removal followed a symlink and deleted {} canary files",
            CANARIES - left
        );
        assert_eq!(mode, 0o755, "round {round}: removal chmodded the canary");
        // Once nothing interferes, the rest goes.
        remove_tree(&root).unwrap();
        assert!(fs::symlink_metadata(&root).is_err());
    }
}

/// A symlink at the top, or anywhere inside, is removed as a link.
#[test]
fn symlinks_are_removed_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary(tmp.path());
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&canary, &link).unwrap();
    remove_tree(&link).unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    let root = tmp.path().join("tree");
    fs::create_dir_all(root.join("a/b")).unwrap();
    std::os::unix::fs::symlink(&canary, root.join("a/b/c")).unwrap();
    std::os::unix::fs::symlink(&canary, root.join("a/d")).unwrap();
    remove_tree(&root).unwrap();
    assert!(fs::symlink_metadata(&root).is_err());
    assert_eq!(canaries_left(&canary), CANARIES);
}

/// A chain of directories far deeper than PATH_MAX (and than the number of
/// file descriptors a process may hold) is removed.
#[test]
fn trees_deeper_than_path_max_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("deep");
    fs::create_dir(&root).unwrap();
    // Build it by descending with the current directory: no long paths.
    let mut cur = fs::File::open(&root).unwrap();
    for _ in 0..5000 {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&cur);
        let next = format!("/proc/self/fd/{fd}/dddddddddd");
        fs::create_dir(&next).unwrap();
        cur = fs::File::open(&next).unwrap();
    }
    drop(cur);
    remove_tree(&root).unwrap();
    assert!(fs::symlink_metadata(&root).is_err());
}
