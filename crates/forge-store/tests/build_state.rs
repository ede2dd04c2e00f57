#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! What the store keeps for the build engine beside its objects: the paths
//! are the ones forge always used (existing stores keep working), and the
//! typed action cache round-trips.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use forge_core::derivation::{ActionDigest, Derivation, FetchKey, OutputName};
use forge_core::hash::HashAlgo;
use forge_core::recipe::Recipe;
use forge_core::store_path::StorePathName;
use forge_store::gc::GcOptions;
use forge_store::tree::NoProgress;
use forge_store::{Layout, Store};

fn digest(seed: &str) -> ActionDigest {
    ActionDigest::from_hash(HashAlgo::Blake3.digest(seed.as_bytes())).unwrap()
}

/// The paths engine.rs and log.rs wrote by hand before the layout named them.
#[test]
fn the_layout_keeps_the_paths_existing_stores_have() {
    let root = Path::new("/var/lib/forge");
    let l = Layout::new(root);
    let d = digest("x");
    let hex = d.as_hash().to_hex();
    assert_eq!(l.build_lock(&d), root.join("locks/builds").join(&hex));
    let lock_file = Path::new("/src/recipes/hello/forge.lock");
    let key = blake3::hash(lock_file.as_os_str().as_encoded_bytes());
    assert_eq!(
        l.recipe_lock(lock_file),
        root.join("locks/recipe-locks").join(&key.to_hex()[..32])
    );
    let decl = Path::new("/src/seeds/busybox.toml");
    let mut h = blake3::Hasher::new();
    h.update(b"forge:seed-cache:v3\0");
    h.update(decl.as_os_str().as_encoded_bytes());
    assert_eq!(
        l.seed_cache_file(decl),
        root.join("cache/seeds")
            .join(format!("{}.json", &h.finalize().to_hex()[..32]))
    );
    assert_eq!(
        l.log_file(&hex),
        root.join("logs")
            .join(&hex[..2])
            .join(format!("{hex}.log.zst"))
    );
    assert_eq!(
        l.check_log_file(&hex),
        root.join("logs")
            .join(&hex[..2])
            .join(format!("{hex}.check.log.zst"))
    );
    let dir = Path::new("/src/recipes/hello");
    let key = blake3::hash(dir.as_os_str().as_encoded_bytes());
    assert_eq!(
        l.recipe_log_index(dir),
        root.join("logs/recipes").join(key.to_hex().as_str())
    );
    assert_eq!(l.check_dir(), root.join("check"));
}

#[test]
fn locks_are_taken_under_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("root")).unwrap();
    let d = digest("a build");
    let lock = store.build_state().build_lock(&d, |_| {}).unwrap();
    assert_eq!(lock.path(), store.layout().build_lock(&d));
    assert!(lock.path().exists());
    let guard = store
        .build_state()
        .recipe_lock_guard(Path::new("/x/forge.lock"))
        .unwrap();
    assert_eq!(
        guard.path(),
        store.layout().recipe_lock(Path::new("/x/forge.lock"))
    );
}

#[test]
fn seed_cache_entries_round_trip_by_resolved_declaration() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("root")).unwrap();
    let decl = tmp.path().join("busybox.toml");
    fs::write(&decl, "[seed]").unwrap();
    let link = tmp.path().join("link.toml");
    std::os::unix::fs::symlink(&decl, &link).unwrap();
    assert_eq!(store.build_state().seed_cache_entry(&decl), None);
    store
        .build_state()
        .set_seed_cache_entry(&link, b"{\"entry\":1}")
        .unwrap();
    assert_eq!(
        store.build_state().seed_cache_entry(&decl).as_deref(),
        Some(&b"{\"entry\":1}"[..])
    );
    let file = store
        .layout()
        .seed_cache_file(&fs::canonicalize(&decl).unwrap());
    assert!(file.exists());
    // Nothing but the entry is left in the cache directory.
    let names: Vec<_> = fs::read_dir(store.layout().seed_cache_dir())
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn a_kept_check_tree_is_canonical_and_has_no_special_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path().join("root")).unwrap();
    let src = tmp.path().join("out");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), "x").unwrap();
    let old = store.add_path(&src, None, &NoProgress).unwrap().info.path;
    let staged = tmp.path().join("rebuild");
    fs::create_dir(&staged).unwrap();
    fs::write(staged.join("f"), "y").unwrap();
    fs::set_permissions(staged.join("f"), fs::Permissions::from_mode(0o4777)).unwrap();
    nix::unistd::mkfifo(&staged.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // The second time replaces the first.
    for round in 0..2 {
        if round == 1 {
            fs::create_dir(&staged).unwrap();
            fs::write(staged.join("f"), "y").unwrap();
            fs::set_permissions(staged.join("f"), fs::Permissions::from_mode(0o4777)).unwrap();
        }
        let (kept, removed) = store.build_state().keep_check(&staged, &old).unwrap();
        assert_eq!(kept, store.layout().check_tree(&old));
        assert!(kept.starts_with(store.build_state().check_dir()));
        assert!(!kept.join("fifo").exists());
        let m = fs::metadata(kept.join("f")).unwrap();
        assert_eq!(
            m.permissions().mode() & 0o7777,
            0o555,
            "set-id bits dropped"
        );
        assert_eq!(m.mtime(), 1);
        assert!(!staged.exists());
        if round == 0 {
            assert_eq!(removed, [(Path::new("fifo").to_owned(), "FIFO")]);
        } else {
            assert!(removed.is_empty());
        }
    }
}

const RECIPE: &str = "[recipe]\nname = \"hello\"\nversion = \"1\"\n[build]\nscript = \"true\"\n";

#[test]
fn the_typed_action_cache_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path().join("root")).unwrap();
    let src = tmp.path().join("built");
    fs::write(&src, "built").unwrap();
    let out = store
        .add_path(
            &src,
            Some(StorePathName::new("hello-1").unwrap()),
            &NoProgress,
        )
        .unwrap()
        .info
        .path;
    let recipe = Recipe::parse(RECIPE, "hello.toml").unwrap();
    let drv = Derivation::from_recipe(&recipe, &BTreeMap::new(), "x86_64-linux").unwrap();
    let d = drv.action_digest();
    store.register_derivation(&drv, "hello-1").unwrap();
    store.register_derivation(&drv, "hello-1").unwrap();
    let (bytes, outputs) = store.db().derivation(&d.to_string()).unwrap().unwrap();
    assert_eq!(bytes, drv.to_canonical_bytes());
    assert_eq!(outputs, drv.outputs);
    let o = OutputName::out();
    assert_eq!(store.realisation(&d, &o).unwrap(), None);
    assert_eq!(store.realisations(&d, [&o]).unwrap(), None);
    // All or none: a path that is not valid fails the whole registration.
    let dev = OutputName::new("dev").unwrap();
    let nowhere = forge_core::store_path::StorePath::content_addressed(
        StorePathName::new("nowhere").unwrap(),
        &HashAlgo::Blake3.digest(b"never added"),
        &std::collections::BTreeSet::new(),
        false,
    );
    assert!(store
        .register_realisations(&d, [(&o, &out), (&dev, &nowhere)])
        .is_err());
    assert_eq!(store.realisation(&d, &o).unwrap(), None);
    store.register_realisations(&d, [(&o, &out)]).unwrap();
    assert_eq!(store.realisation(&d, &o).unwrap().unwrap().path, out);
    assert_eq!(
        store.realisations(&d, [&o]).unwrap(),
        Some(vec![(o.clone(), out.clone())])
    );
    // The same row the string API reads.
    assert_eq!(
        store
            .db()
            .realisation(&d.to_string(), "out")
            .unwrap()
            .unwrap()
            .path,
        out
    );

    let key = FetchKey::new(&HashAlgo::Sha256.digest(b"tarball"), None, "hello.tar");
    assert_eq!(store.fetched(&key).unwrap(), None);
    store.register_fetch(&key, &out).unwrap();
    assert_eq!(store.fetched(&key).unwrap(), Some(out.clone()));
    assert_eq!(
        store
            .db()
            .realisation(&format!("blake3:{}", key.to_hex()), "out")
            .unwrap()
            .unwrap()
            .path,
        out
    );
    store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert_eq!(store.realisation(&d, &o).unwrap(), None);
}
