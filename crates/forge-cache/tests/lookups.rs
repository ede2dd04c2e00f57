//! The substituter's lookup cache: a "not there" answer is kept briefly, a
//! narinfo until its NAR turns out missing, and then it is asked again.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use forge_build::Substituter;
use forge_cache::{
    push_paths, CacheSubstituter, FileBackend, Known, LookupCache, NoPushProgress, PushOptions,
};
use forge_core::cache::Compression;
use forge_core::signing::{SecretKey, TrustedKeys};
use forge_store::Store;

#[test]
fn a_miss_is_kept_briefly_and_a_stale_narinfo_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"some bytes").unwrap();
    let mut store = Store::open(dir.path().join("root")).unwrap();
    let path = store
        .add_path(&src, None, &forge_store::tree::NoProgress)
        .unwrap()
        .info
        .path;
    let key = SecretKey::generate("t-1", [7; 32]).unwrap();
    let trusted = TrustedKeys::new([key.public()]);
    let cache = dir.path().join("cache");
    let lookups_file = dir.path().join("lookups.sqlite");
    let sub = |negative_ttl: Duration| {
        let l =
            LookupCache::with_ttls(&lookups_file, Duration::from_secs(3600), negative_ttl).unwrap();
        CacheSubstituter::new(Box::new(FileBackend::new(&cache)), trusted.clone())
            .with_lookups(Arc::new(l))
    };

    // Not there yet: the miss is kept.
    assert!(sub(Duration::from_secs(60))
        .path_info(&path)
        .unwrap()
        .is_none());
    let opts = |c| PushOptions {
        compression: c,
        secret_key: Some(key.clone()),
        ..PushOptions::default()
    };
    push_paths(
        &store,
        &FileBackend::new(&cache),
        std::slice::from_ref(&path),
        &opts(Compression::Zstd),
        &NoPushProgress,
    )
    .unwrap();
    let l = LookupCache::open(&lookups_file).unwrap();
    let name = FileBackend::new(&cache);
    let name = forge_cache::Backend::name(&name).to_owned();
    let narinfo_key = format!("{}.narinfo", path.hash_part());
    assert_eq!(l.get(&name, &narinfo_key), Known::Absent);
    assert!(
        sub(Duration::from_secs(60))
            .path_info(&path)
            .unwrap()
            .is_none(),
        "a fresh miss is believed"
    );
    // Expired: asked again, and found (and kept).
    assert!(sub(Duration::ZERO).path_info(&path).unwrap().is_some());
    assert!(matches!(l.get(&name, &narinfo_key), Known::Present(_)));

    // The cache is pushed again with another compression (the narinfo
    // now names another NAR file) and the old NAR is gone: the kept
    // narinfo is stale, found out when its NAR is missing, forgotten, and
    // the fresh one used.
    std::fs::remove_dir_all(&cache).unwrap();
    push_paths(
        &store,
        &FileBackend::new(&cache),
        std::slice::from_ref(&path),
        &opts(Compression::None),
        &NoPushProgress,
    )
    .unwrap();
    let s = sub(Duration::from_secs(60));
    let claim = s.path_info(&path).unwrap().unwrap();
    let mut nar = Vec::new();
    s.nar(&path).unwrap().read_to_end(&mut nar).unwrap();
    assert_eq!(nar.len() as u64, claim.nar_size);
    let mut expected = Vec::new();
    store.dump(&path, &mut expected).unwrap();
    assert_eq!(nar, expected);
    // What is kept now is the fresh narinfo.
    let Known::Present(kept) = l.get(&name, &narinfo_key) else {
        panic!("nothing kept")
    };
    assert!(String::from_utf8(kept)
        .unwrap()
        .contains("Compression: none"));
}
