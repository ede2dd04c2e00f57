#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! Behaviour of the store library on a real filesystem and a real SQLite
//! database (process-level crash and concurrency tests are in tests/e2e).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::assert_verifies_clean;
use forge_core::store_path::{StorePath, StorePathName};
use forge_store::gc::GcOptions;
use forge_store::tree::NoProgress;
use forge_store::verify::{Problem, VerifyOptions};
use forge_store::{Store, StoreError};
use tempfile::TempDir;

fn store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

fn write(path: &Path, contents: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// Adds a one-file tree whose contents are `text`.
fn add_text(store: &mut Store, tmp: &Path, name: &str, text: &str) -> StorePath {
    let src = tmp.join("src").join(name);
    write(&src, text);
    store
        .add_path(&src, Some(StorePathName::new(name).unwrap()), &NoProgress)
        .unwrap()
        .info
        .path
}

#[test]
fn adding_twice_is_a_no_op_and_paths_come_from_content() {
    let (tmp, mut store) = store();
    let src = tmp.path().join("tree");
    write(&src.join("a"), "hello");
    let first = store.add_path(&src, None, &NoProgress).unwrap();
    assert!(!first.already_valid);
    assert_eq!(first.info.path.name().as_str(), "tree");
    let second = store.add_path(&src, None, &NoProgress).unwrap();
    assert!(second.already_valid);
    assert_eq!(first.info.path, second.info.path);
    assert_eq!(first.info.nar_blake3, second.info.nar_blake3);

    // Same content elsewhere, same name: same path.
    let copy = tmp.path().join("other").join("tree");
    write(&copy.join("a"), "hello");
    assert_eq!(
        store.add_path(&copy, None, &NoProgress).unwrap().info.path,
        first.info.path
    );

    // Different content: different path.
    write(&src.join("a"), "hello!");
    assert_ne!(
        store.add_path(&src, None, &NoProgress).unwrap().info.path,
        first.info.path
    );
}

#[test]
fn added_objects_are_canonical() {
    let (tmp, mut store) = store();
    let src = tmp.path().join("tree");
    write(&src.join("setuid"), "x");
    write(&src.join("plain"), "y");
    write(&src.join("dir/inner"), "z");
    fs::set_permissions(src.join("setuid"), fs::Permissions::from_mode(0o6755)).unwrap();
    fs::set_permissions(src.join("plain"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(src.join("dir"), fs::Permissions::from_mode(0o777)).unwrap();
    // An extended attribute on the source must not reach the store (tmpfs
    // and ext4 both support user.* attributes; skip the check if not).
    let xattr_set = xattr::set(src.join("plain"), "user.forge-test", b"1").is_ok();

    let path = store.add_path(&src, None, &NoProgress).unwrap().info.path;
    let obj = store.physical(&path);
    let mode = |p: &str| fs::symlink_metadata(obj.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(
        mode("setuid"),
        0o555,
        "setuid/setgid dropped, executable kept"
    );
    assert_eq!(mode("plain"), 0o444);
    assert_eq!(mode("dir"), 0o555);
    assert_eq!(mode(""), 0o555);
    for p in ["setuid", "plain", "dir", "dir/inner", ""] {
        assert_eq!(fs::symlink_metadata(obj.join(p)).unwrap().mtime(), 1, "{p}");
    }
    if xattr_set {
        assert_eq!(xattr::list(obj.join("plain")).unwrap().count(), 0);
    }
    assert_verifies_clean(&store);
}

#[test]
fn special_files_are_refused_and_leave_nothing_behind() {
    let (tmp, mut store) = store();
    let src = tmp.path().join("tree");
    write(&src.join("a"), "x");
    nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = store.add_path(&src, None, &NoProgress).unwrap_err();
    assert!(
        matches!(&err, StoreError::SpecialFile { kind: "FIFO", path } if path.ends_with("fifo")),
        "{err}"
    );
    assert_eq!(fs::read_dir(store.layout().store_dir()).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.layout().tmp_dir()).unwrap().count(), 0);
    assert!(store.db().valid_paths().unwrap().is_empty());
}

#[test]
fn references_are_found_and_closures_sorted() {
    let (tmp, mut store) = store();
    let a = add_text(&mut store, tmp.path(), "a", "leaf");
    let b = add_text(&mut store, tmp.path(), "b", &format!("uses {a}/bin/x"));
    let c = add_text(
        &mut store,
        tmp.path(),
        "c",
        &format!("{b} and {}", a.hash_part()),
    );
    let d = add_text(&mut store, tmp.path(), "d", "mentions nothing");

    assert_eq!(store.path_info(&a).unwrap().references, BTreeSet::new());
    assert_eq!(
        store.path_info(&b).unwrap().references,
        [a.clone()].into_iter().collect()
    );
    assert_eq!(
        store.path_info(&c).unwrap().references,
        [a.clone(), b.clone()].into_iter().collect()
    );
    assert_eq!(
        store.db().referrers(&a).unwrap(),
        [b.clone(), c.clone()].into_iter().collect()
    );
    assert_eq!(
        store.closure(std::slice::from_ref(&c)).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(store.closure(std::slice::from_ref(&d)).unwrap(), vec![d]);
    // A path that refers to another gets a different digest than the same
    // bytes would without the reference being valid.
    assert_ne!(b.hash_part(), a.hash_part());
}

#[test]
fn gc_keeps_rooted_closures_and_deletes_the_rest() {
    let (tmp, mut store) = store();
    let lib = add_text(&mut store, tmp.path(), "lib", "library");
    let app = add_text(&mut store, tmp.path(), "app", &format!("links {lib}"));
    let junk = add_text(&mut store, tmp.path(), "junk", "unrooted");
    let junk_user = add_text(&mut store, tmp.path(), "junk-user", &format!("{junk}"));
    let linked = add_text(&mut store, tmp.path(), "linked", "kept by a symlink");
    let gone = add_text(&mut store, tmp.path(), "gone", "its link is removed");

    store.add_root("my-app", &app).unwrap();
    let result = tmp.path().join("result");
    std::os::unix::fs::symlink(store.physical(&linked), &result).unwrap();
    store.add_indirect_root(&result).unwrap();
    let result2 = tmp.path().join("result2");
    std::os::unix::fs::symlink(store.physical(&gone), &result2).unwrap();
    store.add_indirect_root(&result2).unwrap();
    fs::remove_file(&result2).unwrap();

    let dry = store
        .gc(
            &GcOptions {
                dry_run: true,
                max_freed: None,
                ..GcOptions::default()
            },
            |_| {},
        )
        .unwrap();
    let dry_paths: BTreeSet<_> = dry.deleted.iter().map(|d| d.path.clone()).collect();
    assert_eq!(
        dry_paths,
        [junk.clone(), junk_user.clone(), gone.clone()]
            .into_iter()
            .collect()
    );
    assert!(
        store.db().is_valid(&junk).unwrap(),
        "dry run deletes nothing"
    );

    let report = store.gc(&GcOptions::default(), |_| {}).unwrap();
    let deleted: Vec<_> = report.deleted.iter().map(|d| d.path.clone()).collect();
    // Referrers go before what they refer to.
    let pos = |p: &StorePath| deleted.iter().position(|d| d == p).unwrap();
    assert!(pos(&junk_user) < pos(&junk));
    assert_eq!(
        report.stale_roots,
        vec![result2.to_string_lossy().into_owned()]
    );
    for p in [&lib, &app, &linked] {
        assert!(store.db().is_valid(p).unwrap(), "{p} must survive");
        assert!(store.physical(p).exists());
    }
    for p in [&junk, &junk_user, &gone] {
        assert!(!store.db().is_valid(p).unwrap(), "{p} must go");
        assert!(!store.physical(p).exists());
    }
    assert!(report.freed_disk_bytes > 0);
    assert_eq!(fs::read_dir(store.layout().trash_dir()).unwrap().count(), 0);

    // Dropping the roots frees the rest.
    store.remove_root("my-app").unwrap();
    fs::remove_file(&result).unwrap();
    let report = store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert_eq!(report.deleted.len(), 3);
    assert!(store.db().valid_paths().unwrap().is_empty());
}

#[test]
fn gc_max_freed_never_breaks_the_reference_graph() {
    let (tmp, mut store) = store();
    let mut prev: Option<StorePath> = None;
    let mut chain = Vec::new();
    for i in 0..10 {
        let text = match &prev {
            Some(p) => format!("{i} {}", p),
            None => format!("{i} {}", "x".repeat(1000)),
        };
        let p = add_text(&mut store, tmp.path(), &format!("n{i}"), &text);
        chain.push(p.clone());
        prev = Some(p);
    }
    let first = store.path_info(&chain[9]).unwrap().nar_size;
    let report = store
        .gc(
            &GcOptions {
                dry_run: false,
                max_freed: Some(first + 1),
                ..GcOptions::default()
            },
            |_| {},
        )
        .unwrap();
    // Only the head of the chain may go first: everything else is referred to.
    assert_eq!(report.deleted.len(), 2);
    assert_eq!(report.deleted[0].path, chain[9]);
    assert_eq!(report.deleted[1].path, chain[8]);
    let v = store.verify(&VerifyOptions::default()).unwrap();
    assert!(v.is_clean());
}

#[test]
fn verify_reports_corruption_with_both_hashes() {
    let (tmp, mut store) = store();
    let p = add_text(&mut store, tmp.path(), "victim", "original");
    let file = store.physical(&p);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&file, "tampered").unwrap();
    let report = store
        .verify(&VerifyOptions {
            check_contents: true,
            paths: None,
        })
        .unwrap();
    let expected = store.path_info(&p).unwrap().nar_blake3;
    match &report.problems[0] {
        Problem::HashMismatch {
            path,
            expected: e,
            found,
        } => {
            assert_eq!(path, &p);
            assert_eq!(e, &expected);
            assert_ne!(found, &expected);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(report
        .problems
        .iter()
        .any(|pr| matches!(pr, Problem::NotCanonical { problem, .. } if problem.contains("mode"))));

    fs::remove_file(&file).unwrap();
    let report = store.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(report.problems, vec![Problem::Missing { path: p }]);
}

#[test]
fn invalid_leftovers_do_not_block_an_add() {
    let (tmp, mut store) = store();
    let src = tmp.path().join("tree");
    write(&src.join("f"), "content");
    let path = store.add_path(&src, None, &NoProgress).unwrap().info.path;
    // Simulate a crash between rename and commit: object present, not valid.
    let obj = store.physical(&path);
    store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert!(!obj.exists());
    fs::create_dir_all(&obj).unwrap();
    fs::write(obj.join("garbage"), "half-written").unwrap();
    let again = store.add_path(&src, None, &NoProgress).unwrap();
    assert!(!again.already_valid);
    assert_eq!(again.info.path, path);
    assert_eq!(fs::read(obj.join("f")).unwrap(), b"content");
    assert!(!obj.join("garbage").exists());
}

#[test]
fn newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    drop(Store::open(&root).unwrap());
    let conn = rusqlite::Connection::open(root.join("db/store.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", 42).unwrap();
    drop(conn);
    let err = Store::open(&root).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 42,
                supported: forge_store::db::SCHEMA_VERSION,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("schema version 42")
            && msg.contains(&format!("up to {}", forge_store::db::SCHEMA_VERSION)),
        "{msg}"
    );
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let s1 = Store::open(&root).unwrap();
    assert_eq!(
        s1.db().schema_version().unwrap(),
        forge_store::db::SCHEMA_VERSION
    );
    let s2 = Store::open(&root).unwrap();
    assert_eq!(
        s2.db().schema_version().unwrap(),
        forge_store::db::SCHEMA_VERSION
    );
}

#[test]
fn resolve_accepts_logical_physical_and_symlinks() {
    let (tmp, mut store) = store();
    let p = add_text(&mut store, tmp.path(), "x", "data");
    let logical = format!("{p}/sub/file");
    assert_eq!(
        store.resolve(Path::new(&logical)).unwrap(),
        (p.clone(), "sub/file".into())
    );
    assert_eq!(
        store.resolve(&store.physical(&p)).unwrap(),
        (p.clone(), "".into())
    );
    let link = tmp.path().join("result");
    std::os::unix::fs::symlink(p.to_string(), &link).unwrap();
    assert_eq!(store.resolve(&link).unwrap().0, p);
    assert!(matches!(
        store.resolve(Path::new("/etc/passwd")),
        Err(StoreError::OutsideStore { .. })
    ));
}

#[test]
fn references_are_found_even_among_many_digest_shaped_strings() {
    let (tmp, mut store) = store();
    let a = add_text(&mut store, tmp.path(), "a", "leaf");
    // 100,000 base32 characters in a row hold more distinct 32-character
    // windows than the scanner remembers, forcing the second, full scan.
    let alphabet = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % 32) as usize] as char
        })
        .collect();
    let b = add_text(&mut store, tmp.path(), "b", &format!("{noise} {a} {noise}"));
    assert_eq!(
        store.path_info(&b).unwrap().references,
        [a.clone()].into_iter().collect()
    );
    let c = add_text(&mut store, tmp.path(), "c", &noise);
    assert!(store.path_info(&c).unwrap().references.is_empty());
}

/// A POSIX ACL in the kernel's xattr format: version 2, then (tag, perm, id)
/// entries sorted by tag: user::rwx, user:1001:rwx, group::r-x, mask::rwx,
/// other::r-x.
fn default_acl() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 7u16, u32::MAX),
        (0x02, 7, 1001),
        (0x04, 5, u32::MAX),
        (0x10, 7, u32::MAX),
        (0x20, 5, u32::MAX),
    ] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

#[test]
fn inherited_default_acls_do_not_reach_objects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    if xattr::set(&root, "system.posix_acl_default", &default_acl()).is_err() {
        eprintln!("skipping: this filesystem has no POSIX ACLs");
        return;
    }
    let mut store = Store::open(&root).unwrap();
    let src = dir.path().join("tree");
    write(&src.join("d/f"), "x");
    let p = store.add_path(&src, None, &NoProgress).unwrap().info.path;
    for sub in ["", "d", "d/f"] {
        let attrs: Vec<_> = xattr::list(store.physical(&p).join(sub)).unwrap().collect();
        assert!(attrs.is_empty(), "{sub:?} has {attrs:?}");
    }
    assert_verifies_clean(&store);
}

#[test]
fn trees_too_deep_for_the_store_are_refused_up_front() {
    let (tmp, mut store) = store();
    // 20 levels of 200-byte names: 4,020 bytes below the source, which fits
    // below the staging area's prefix here but not once renamed into the
    // store under a 200-byte name (nor into trash/ when collected).
    let mut deep = tmp.path().join("deep");
    for i in 0..20 {
        deep.push(format!("{i:0>200}"));
    }
    let long_name = "n".repeat(200);
    if fs::create_dir_all(&deep).is_err() {
        eprintln!("skipping: cannot create deep trees here");
        return;
    }
    let err = store
        .add_path(
            &tmp.path().join("deep"),
            Some(StorePathName::new(&long_name).unwrap()),
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::PathTooLong { .. }), "{err}");
    assert!(store.db().valid_paths().unwrap().is_empty());
    assert_eq!(fs::read_dir(store.layout().tmp_dir()).unwrap().count(), 0);
    // A shallower part of it fits.
    let shallow = tmp
        .path()
        .join("deep")
        .join(format!("{:0>200}", 0))
        .join(format!("{:0>200}", 1));
    assert!(store.add_path(&shallow, None, &NoProgress).is_ok());
    store.gc(&GcOptions::default(), |_| {}).unwrap();
}

#[test]
fn a_tree_containing_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("root")).unwrap();
    write(&dir.path().join("other"), "x");
    let err = store.add_path(dir.path(), None, &NoProgress).unwrap_err();
    assert!(matches!(err, StoreError::ContainsStore { .. }), "{err}");
    let err = store
        .add_path(&dir.path().join("root"), None, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, StoreError::ContainsStore { .. }), "{err}");
}

#[test]
fn gc_clears_staging_left_by_dead_processes() {
    let (_tmp, mut store) = store();
    let stale = store.layout().tmp_dir().join("add-1-deadbeef0000");
    fs::create_dir_all(stale.join("object/sub")).unwrap();
    fs::set_permissions(stale.join("object/sub"), fs::Permissions::from_mode(0o555)).unwrap();
    store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert_eq!(fs::read_dir(store.layout().tmp_dir()).unwrap().count(), 0);
}

#[test]
fn an_indirect_root_lives_as_long_as_its_link() {
    let (tmp, mut store) = store();
    let a = add_text(&mut store, tmp.path(), "a", "first");
    let b = add_text(&mut store, tmp.path(), "b", "second");
    let link = tmp.path().join("result");
    std::os::unix::fs::symlink(store.physical(&a), &link).unwrap();
    store.add_indirect_root(&link).unwrap();
    // Point the link somewhere that is not a store path: nothing is rooted
    // now, but the root stays for when the link comes back.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
    let report = store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert!(report.stale_roots.is_empty());
    assert_eq!(report.deleted.len(), 2);
    assert_eq!(store.db().roots().unwrap().len(), 1);
    let c = add_text(&mut store, tmp.path(), "c", "third");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(store.physical(&c), &link).unwrap();
    let report = store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert!(report.deleted.is_empty());
    assert!(store.db().is_valid(&c).unwrap());
    let _ = b;
}

#[test]
fn indirect_roots_need_utf8_link_paths() {
    use std::os::unix::ffi::OsStrExt;
    let (tmp, mut store) = store();
    let a = add_text(&mut store, tmp.path(), "a", "x");
    let link = tmp.path().join(std::ffi::OsStr::from_bytes(b"res\xff"));
    std::os::unix::fs::symlink(store.physical(&a), &link).unwrap();
    let err = store.add_indirect_root(&link).unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

/// Regression: the content address of `add_path` once ignored the
/// references it found (the collecting scanner leaves its own list empty),
/// contrary to docs/store.md.
#[test]
fn references_are_part_of_an_added_paths_identity() {
    let (dir, mut with) = store();
    let dep_src = dir.path().join("dep");
    write(&dep_src, "a dependency\n");
    let dep = with
        .add_path(&dep_src, None, &NoProgress)
        .unwrap()
        .info
        .path;
    let user_src = dir.path().join("user");
    write(&user_src, &format!("uses {dep}\n"));
    let in_with = with.add_path(&user_src, None, &NoProgress).unwrap().info;
    assert_eq!(in_with.references, BTreeSet::from([dep.clone()]));
    // The same bytes in a store where `dep` is not valid: no reference, so
    // another path.
    let other = TempDir::new().unwrap();
    let mut without = Store::open(other.path().join("root")).unwrap();
    let in_without = without.add_path(&user_src, None, &NoProgress).unwrap().info;
    assert!(in_without.references.is_empty());
    assert_ne!(in_with.path, in_without.path);
    let expected = StorePath::content_addressed(
        StorePathName::new("user").unwrap(),
        &in_with.nar_blake3,
        &BTreeSet::from([dep]),
        false,
    );
    assert_eq!(in_with.path, expected);
}

#[test]
fn a_symlink_out_of_the_store_is_refused_naming_its_target() {
    use forge_store::symlink_stays_in_store as stays;
    for ok in [
        "/forge/store/abc-x",
        "/forge/store/abc-x/bin",
        "abc-x",
        "../store/abc-x",
        "./abc-x/../def-y",
    ] {
        assert!(stays(Path::new(ok)), "{ok}");
    }
    for bad in [
        "/etc",
        "../../../../etc",
        "..",
        ".",
        "/forge/store",
        "/forge/store/../../etc",
        "abc-x/../../../etc",
        "/forge/storeroom/x",
    ] {
        assert!(!stays(Path::new(bad)), "{bad}");
    }
    let (tmp, mut store) = store();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink("../../../../../../etc", &link).unwrap();
    let err = store.add_path(&link, None, &NoProgress).unwrap_err();
    assert!(matches!(err, StoreError::SymlinkOutOfStore { .. }), "{err}");
    assert!(err.to_string().contains("../../../../../../etc"), "{err}");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/forge/store/00000000000000000000000000000000-x", &link).unwrap();
    store.add_path(&link, None, &NoProgress).unwrap();
}
