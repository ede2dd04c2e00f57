#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! `Store::import_nar`: a NAR stream with claimed metadata is registered only
//! when it is what was claimed, and never leaves anything behind otherwise.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::assert_verifies_clean;
use forge_core::derivation::ActionDigest;
use forge_core::hash::HashAlgo;
use forge_core::store_path::{StorePath, StorePathName};
use forge_store::outputs::BuiltOutput;
use forge_store::tree::NoProgress;
use forge_store::{ClaimedPath, PathInfo, Store, StoreError};
use proptest::prelude::*;
use tempfile::TempDir;

fn store(dir: &TempDir, name: &str) -> Store {
    Store::open(dir.path().join(name)).unwrap()
}

fn dump(store: &Store, path: &StorePath) -> Vec<u8> {
    let mut nar = Vec::new();
    store.dump(path, &mut nar).unwrap();
    nar
}

/// No object, no row, no staging area.
fn assert_untouched(store: &Store) {
    assert!(store.db().valid_paths().unwrap().is_empty());
    let objects: Vec<_> = fs::read_dir(store.layout().store_dir()).unwrap().collect();
    assert!(objects.is_empty(), "{objects:?}");
    let tmp: Vec<_> = fs::read_dir(store.layout().tmp_dir()).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

fn same_record(a: &PathInfo, b: &PathInfo) {
    let mut b = b.clone();
    b.registered_at = a.registered_at;
    b.listing = a.listing.clone();
    assert_eq!(*a, b);
}

/// A source store holding a small tree; returns its record.
fn source(dir: &TempDir) -> (Store, PathInfo) {
    let mut from = store(dir, "from");
    let src = dir.path().join("tree");
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::write(src.join("bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(src.join("bin/hello"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(src.join("README"), "hello").unwrap();
    std::os::unix::fs::symlink("bin/hello", src.join("run")).unwrap();
    let info = from.add_path(&src, None, &NoProgress).unwrap().info;
    (from, info)
}

#[test]
fn a_good_nar_registers_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let mut to = store(&dir, "to");
    let nar = dump(&from, &info.path);
    let imported = to
        .import_nar(&nar[..], &ClaimedPath::from_info(&info))
        .unwrap();
    same_record(&info, &imported);
    same_record(&info, &to.path_info(&info.path).unwrap());
    assert_verifies_clean(&to);
    assert_eq!(dump(&to, &info.path), nar);
    // Again: a no-op that does not even read the stream.
    let again = to
        .import_nar(std::io::empty(), &ClaimedPath::from_info(&info))
        .unwrap();
    same_record(&info, &again);
}

#[test]
fn one_claimed_hash_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let nar = dump(&from, &info.path);
    for (sha, b3) in [(true, false), (false, true)] {
        let mut to = store(&dir, &format!("to-{sha}"));
        let mut claim = ClaimedPath::from_info(&info);
        claim.nar_sha256 = claim.nar_sha256.filter(|_| sha);
        claim.nar_blake3 = claim.nar_blake3.filter(|_| b3);
        to.import_nar(&nar[..], &claim).unwrap();
        assert_verifies_clean(&to);
    }
    let mut to = store(&dir, "to-none");
    let mut claim = ClaimedPath::from_info(&info);
    claim.nar_sha256 = None;
    claim.nar_blake3 = None;
    let err = to.import_nar(&nar[..], &claim).unwrap_err();
    assert!(matches!(err, StoreError::NoClaimedHash { .. }), "{err}");
    assert_untouched(&to);
}

#[test]
fn a_wrong_nar_hash_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let nar = dump(&from, &info.path);
    for which in ["sha256", "blake3"] {
        let mut to = store(&dir, &format!("to-{which}"));
        let mut claim = ClaimedPath::from_info(&info);
        let wrong_sha = HashAlgo::Sha256.digest(b"not it");
        let wrong_b3 = HashAlgo::Blake3.digest(b"not it");
        if which == "sha256" {
            claim.nar_sha256 = Some(wrong_sha);
        } else {
            claim.nar_blake3 = Some(wrong_b3);
        }
        let err = to.import_nar(&nar[..], &claim).unwrap_err();
        match &err {
            StoreError::NarHashMismatch {
                path,
                expected,
                actual,
            } => {
                assert_eq!(path, &info.path);
                if which == "sha256" {
                    assert_eq!((&**expected, &**actual), (&wrong_sha, &info.nar_sha256));
                } else {
                    assert_eq!((&**expected, &**actual), (&wrong_b3, &info.nar_blake3));
                }
                let shown = err.to_string();
                assert!(shown.contains(&info.path.to_string()), "{shown}");
                assert!(shown.contains(&expected.to_string()), "{shown}");
            }
            e => panic!("{e}"),
        }
        assert_untouched(&to);
    }
}

#[test]
fn a_wrong_size_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let nar = dump(&from, &info.path);
    let mut to = store(&dir, "to");
    let mut claim = ClaimedPath::from_info(&info);
    claim.nar_size += 8;
    let err = to.import_nar(&nar[..], &claim).unwrap_err();
    assert!(
        matches!(err, StoreError::NarSizeMismatch { expected, actual, .. }
            if expected == info.nar_size + 8 && actual == info.nar_size),
        "{err}"
    );
    assert_untouched(&to);
}

#[test]
fn a_truncated_or_padded_stream_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let nar = dump(&from, &info.path);
    for cut in [0, 1, 8, nar.len() / 2, nar.len() - 1] {
        let mut to = store(&dir, &format!("to-{cut}"));
        let err = to
            .import_nar(&nar[..cut], &ClaimedPath::from_info(&info))
            .unwrap_err();
        assert!(matches!(err, StoreError::NarRead { .. }), "{cut}: {err}");
        assert_untouched(&to);
    }
    // Bytes after the archive within the claimed size are an error; past
    // it, they are not read at all (the stream may go on with other data).
    let mut padded = nar.clone();
    padded.extend_from_slice(&[0; 8]);
    let mut to = store(&dir, "to-padded");
    let mut claim = ClaimedPath::from_info(&info);
    claim.nar_size += 8;
    let err = to.import_nar(&padded[..], &claim).unwrap_err();
    assert!(matches!(err, StoreError::NarRead { .. }), "{err}");
    assert_untouched(&to);
    let mut to = store(&dir, "to-stream");
    to.import_nar(&padded[..], &ClaimedPath::from_info(&info))
        .unwrap();
    assert_verifies_clean(&to);
}

#[test]
fn a_missing_reference_is_refused_and_references_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut from = store(&dir, "from");
    let dep_src = dir.path().join("dep");
    fs::write(&dep_src, "a dependency").unwrap();
    let dep = from.add_path(&dep_src, None, &NoProgress).unwrap().info;
    let user_src = dir.path().join("user");
    fs::write(&user_src, format!("uses {}", dep.path)).unwrap();
    let user = from.add_path(&user_src, None, &NoProgress).unwrap().info;
    assert!(user.references.contains(&dep.path));

    let mut to = store(&dir, "to");
    let err = to
        .import_nar(&dump(&from, &user.path)[..], &ClaimedPath::from_info(&user))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::MissingReference { path, reference }
            if *path == user.path && **reference == dep.path),
        "{err}"
    );
    assert_untouched(&to);
    // In closure order it works.
    for p in from.closure(std::slice::from_ref(&user.path)).unwrap() {
        let info = from.path_info(&p).unwrap();
        to.import_nar(&dump(&from, &p)[..], &ClaimedPath::from_info(&info))
            .unwrap();
    }
    same_record(&user, &to.path_info(&user.path).unwrap());
    assert_verifies_clean(&to);
}

#[test]
fn a_content_address_that_does_not_match_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (from, info) = source(&dir);
    let nar = dump(&from, &info.path);
    let mut to = store(&dir, "to");
    // Another name: the hashes match the stream, but the path is not the
    // address of these contents.
    let mut claim = ClaimedPath::from_info(&info);
    claim.path = StorePath::content_addressed(
        StorePathName::new("other").unwrap(),
        &info.nar_blake3,
        &BTreeSet::new(),
        false,
    );
    claim.content_address = Some(format!("nar:{}", HashAlgo::Blake3.digest(b"x")));
    let err = to.import_nar(&nar[..], &claim).unwrap_err();
    assert!(
        matches!(err, StoreError::ContentAddressMismatch { .. }),
        "{err}"
    );
    assert_untouched(&to);
}

/// A build output that refers to itself: its address is over the NAR with
/// its own digest masked, and the import checks that too.
#[test]
fn a_self_referring_build_output_imports() {
    let dir = tempfile::tempdir().unwrap();
    let mut from = store(&dir, "from");
    let digest: ActionDigest = HashAlgo::Blake3
        .digest(b"a derivation")
        .to_string()
        .parse()
        .unwrap();
    let placeholder =
        StorePath::from_fingerprint("test placeholder", StorePathName::new("hello-1").unwrap());
    let staged = dir.path().join("out");
    fs::create_dir_all(staged.join("bin")).unwrap();
    fs::write(
        staged.join("bin/hello"),
        format!("#!{placeholder}/bin/sh\n"),
    )
    .unwrap();
    let built = [BuiltOutput {
        output: "out".into(),
        staged: staged.clone(),
        placeholder,
    }];
    let regs = from
        .register_build_outputs(&digest, &built, &BTreeSet::new())
        .unwrap();
    let info = regs["out"].info.clone();
    let info = from.path_info(&info.path).unwrap();
    assert!(info.self_reference);
    let mut to = store(&dir, "to");
    let imported = to
        .import_nar(&dump(&from, &info.path)[..], &ClaimedPath::from_info(&info))
        .unwrap();
    same_record(&info, &imported);
    assert_verifies_clean(&to);
    // The same bytes claimed as another self-referring path are refused.
    let mut other = store(&dir, "other");
    let mut claim = ClaimedPath::from_info(&info);
    claim.references = BTreeSet::new();
    let err = other
        .import_nar(&dump(&from, &info.path)[..], &claim)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ContentAddressMismatch { .. }),
        "{err}"
    );
    assert_untouched(&other);
}

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>, bool),
    Link(String),
    Dir(Vec<(String, Node)>),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(b, x)| Node::File(b, x)),
        "[a-z./]{1,12}".prop_map(Node::Link),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        proptest::collection::btree_map("[a-zA-Z0-9_.-]{1,8}", inner, 0..5).prop_map(|m| {
            Node::Dir(
                m.into_iter()
                    .filter(|(k, _)| k != "." && k != "..")
                    .collect(),
            )
        })
    })
}

fn write_node(path: &Path, n: &Node) {
    match n {
        Node::File(bytes, exec) => {
            fs::write(path, bytes).unwrap();
            let mode = if *exec { 0o755 } else { 0o644 };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        Node::Link(target) => std::os::unix::fs::symlink(target, path).unwrap(),
        Node::Dir(entries) => {
            fs::create_dir(path).unwrap();
            for (name, child) in entries {
                write_node(&path.join(name), child);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Dump from one store, import into another: the same record, the same
    /// bytes, and a clean verify.
    #[test]
    fn dump_then_import_gives_the_same_path_info(tree in node().prop_filter(
        "a top-level symlink must stay in the store",
        |n| !matches!(n, Node::Link(_)),
    )) {
        let dir = tempfile::tempdir().unwrap();
        let mut from = store(&dir, "from");
        let src = dir.path().join("src");
        write_node(&src, &tree);
        let info = from.add_path(&src, None, &NoProgress).unwrap().info;
        let nar = dump(&from, &info.path);
        let mut to = store(&dir, "to");
        let imported = to.import_nar(&nar[..], &ClaimedPath::from_info(&info)).unwrap();
        same_record(&info, &imported);
        prop_assert_eq!(dump(&to, &info.path), nar);
        assert_verifies_clean(&to);
    }
}
