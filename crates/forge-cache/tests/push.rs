//! Pushing to a cache: whatever the order of uploads, a failure midway or
//! several pushes at once, a reader never finds a narinfo whose NAR is
//! missing or wrong, or whose references are not published.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use forge_cache::{
    claimed, push_paths, Backend, CacheError, FileBackend, Key, NoPushProgress, PushOptions,
};
use forge_core::cache::{Compression, NarInfo};
use forge_core::hash::{HashAlgo, Hasher};
use forge_core::store_path::StorePath;
use forge_store::Store;

/// A store of 12 paths: each names the ones before it that `i % k == 0`
/// picks (so the graph has chains and diamonds), one of them 3 MiB.
fn store(dir: &Path) -> (Store, Vec<StorePath>) {
    let mut store = Store::open(dir.join("root")).unwrap();
    let mut paths: Vec<StorePath> = Vec::new();
    for i in 0..12usize {
        let src = dir.join(format!("src{i}"));
        std::fs::create_dir_all(&src).unwrap();
        let mut text = format!("path {i}\n");
        for (j, p) in paths.iter().enumerate() {
            if j % 3 == i % 3 || j + 1 == i {
                text.push_str(&format!("{p}\n"));
            }
        }
        std::fs::write(src.join("refs"), text).unwrap();
        if i == 5 {
            let big: Vec<u8> = (0..3u32 << 20)
                .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            std::fs::write(src.join("big"), big).unwrap();
        }
        let added = store
            .add_path(&src, None, &forge_store::tree::NoProgress)
            .unwrap();
        paths.push(added.info.path);
    }
    let closure = store.closure(&paths).unwrap();
    assert_eq!(closure.len(), 12);
    assert!(
        store.path_info(&paths[11]).unwrap().references.len() > 2,
        "the graph has references"
    );
    (store, paths)
}

/// Checks what a reader may rely on; returns the paths published.
fn assert_consistent(cache: &Path) -> BTreeSet<StorePath> {
    let b = FileBackend::new(cache);
    let mut published = BTreeSet::new();
    let mut infos = Vec::new();
    for e in std::fs::read_dir(cache).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(_digest) = name.strip_suffix(".narinfo") {
            let text = std::fs::read_to_string(cache.join(&name)).unwrap();
            let info = NarInfo::parse(&text).unwrap();
            published.insert(info.path.clone());
            infos.push(info);
        }
    }
    for info in &infos {
        // Its NAR is there, and is the NAR it describes.
        let mut file = b
            .get(&Key::new(&info.url).unwrap())
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "{}: narinfo published before its NAR {}",
                    info.path, info.url
                )
            });
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(Some(bytes.len() as u64), info.file_size);
        let mut h = Hasher::new(HashAlgo::Sha256);
        h.update(&bytes);
        assert_eq!(Some(h.finalize()), info.file_hash);
        let nar = match info.compression {
            Compression::Zstd => zstd::decode_all(&bytes[..]).unwrap(),
            Compression::None => bytes,
            Compression::Xz => {
                let mut v = Vec::new();
                xz2::read::XzDecoder::new(&bytes[..])
                    .read_to_end(&mut v)
                    .unwrap();
                v
            }
            ref other => panic!("unexpected compression {other}"),
        };
        assert_eq!(nar.len() as u64, info.nar_size);
        assert_eq!(HashAlgo::Sha256.digest(&nar), info.nar_sha256);
        // Its references are published too.
        for r in &info.references {
            assert!(
                published.contains(r),
                "{} published before its reference {r}",
                info.path
            );
        }
    }
    published
}

#[test]
fn every_compression_publishes_what_a_store_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, paths) = store(dir.path());
    let closure = store.closure(&paths).unwrap();
    for (name, compression, raw_if_incompressible) in [
        ("auto", Compression::Zstd, true),
        ("zstd", Compression::Zstd, false),
        ("xz", Compression::Xz, false),
        ("none", Compression::None, false),
    ] {
        let cache = dir.path().join(name);
        let b = FileBackend::new(&cache);
        let opts = PushOptions {
            compression,
            raw_if_incompressible,
            ..PushOptions::default()
        };
        let report = push_paths(&store, &b, &closure, &opts, &NoPushProgress).unwrap();
        assert_eq!(report.pushed.len(), 12, "{name}");
        assert!(report.present.is_empty());
        assert_eq!(assert_consistent(&cache).len(), 12);
        // No scratch files are left in the cache.
        assert!(std::fs::read_dir(&cache).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')));
        // Again: all present, nothing uploaded.
        let again = push_paths(&store, &b, &closure, &opts, &NoPushProgress).unwrap();
        assert_eq!((again.pushed.len(), again.present.len()), (0, 12));

        // A second store imports every path back from what was published,
        // references first.
        let other = tempfile::tempdir().unwrap();
        let mut b_store = Store::open(other.path().join("root")).unwrap();
        for p in &closure {
            let text = b
                .get_small(
                    &Key::new(&forge_core::cache::layout::narinfo(p)).unwrap(),
                    1 << 20,
                )
                .unwrap()
                .unwrap();
            let info = NarInfo::parse(std::str::from_utf8(&text).unwrap()).unwrap();
            let mut nar = Vec::new();
            store.dump(p, &mut nar).unwrap();
            b_store.import_nar(&nar[..], &claimed(&info)).unwrap();
        }
    }
}

/// A backend that fails every write after the first `ok` ones.
struct FailAfter {
    inner: FileBackend,
    ok: usize,
    puts: AtomicUsize,
}

impl Backend for FailAfter {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError> {
        self.inner.get(key)
    }
    fn exists(&self, key: &Key) -> Result<bool, CacheError> {
        self.inner.exists(key)
    }
    fn put(&self, key: &Key, data: &mut dyn Read) -> Result<u64, CacheError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(CacheError::Transport {
                cache: self.name().to_owned(),
                key: key.to_string(),
                message: "injected failure".to_owned(),
            });
        }
        self.inner.put(key, data)
    }
}

#[test]
fn a_push_that_fails_midway_leaves_a_consistent_cache_and_a_retry_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, paths) = store(dir.path());
    let closure = store.closure(&paths).unwrap();
    // 1 (nix-cache-info) + 12 NARs + 12 narinfos writes in all.
    for ok in [0, 1, 2, 5, 9, 13, 17, 24] {
        let cache = dir.path().join(format!("fail-{ok}"));
        let b = FailAfter {
            inner: FileBackend::new(&cache),
            ok,
            puts: AtomicUsize::new(0),
        };
        let err = push_paths(
            &store,
            &b,
            &closure,
            &PushOptions::default(),
            &NoPushProgress,
        )
        .unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        if cache.exists() {
            assert_consistent(&cache);
        }
        // The same push again, to a working cache: complete.
        let b = FileBackend::new(&cache);
        push_paths(
            &store,
            &b,
            &closure,
            &PushOptions::default(),
            &NoPushProgress,
        )
        .unwrap();
        assert_eq!(assert_consistent(&cache).len(), 12, "after {ok} writes");
    }
}

#[test]
fn concurrent_pushes_of_overlapping_closures_leave_one_consistent_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (store, paths) = store(dir.path());
    let cache = dir.path().join("cache");
    // Four closures that share most of their paths, each pushed by its own
    // thread (each with its own connection to the store).
    let closures: Vec<Vec<StorePath>> = [11, 10, 8, 6]
        .iter()
        .map(|&i| store.closure(&[paths[i].clone()]).unwrap())
        .collect();
    let root = dir.path().join("root");
    std::thread::scope(|s| {
        for c in &closures {
            let (root, cache) = (&root, &cache);
            s.spawn(move || {
                let store = Store::open(root).unwrap();
                let b = FileBackend::new(cache);
                for _ in 0..3 {
                    push_paths(&store, &b, c, &PushOptions::default(), &NoPushProgress).unwrap();
                }
            });
        }
    });
    let all: BTreeSet<StorePath> = closures.into_iter().flatten().collect();
    assert_eq!(assert_consistent(&cache), all);
}

/// `n` bytes no compressor shrinks (xorshift64*).
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        v.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(n);
    v
}

#[test]
fn auto_compression_stores_incompressible_nars_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("root")).unwrap();
    let mut add = |name: &str, data: Vec<u8>| {
        let src = dir.path().join(name);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("data"), data).unwrap();
        store
            .add_path(&src, None, &forge_store::tree::NoProgress)
            .unwrap()
            .info
            .path
    };
    // Past the probe: random, and text; under it: random, and text.
    let text = |n: usize| {
        (0..n)
            .map(|i| format!("line {} of a log\n", i % 977))
            .collect::<String>()
            .into_bytes()
    };
    let big_random = add("big-random", random_bytes(9 << 20, 1));
    let big_text = add("big-text", text(400_000));
    let small_random = add("small-random", random_bytes(100_000, 2));
    let small_text = add("small-text", text(5_000));
    let paths = [&big_random, &big_text, &small_random, &small_text].map(|p| p.clone());
    let info = |cache: &Path, p: &StorePath| {
        let text =
            std::fs::read_to_string(cache.join(forge_core::cache::layout::narinfo(p))).unwrap();
        NarInfo::parse(&text).unwrap()
    };

    let auto = dir.path().join("auto");
    let report = push_paths(
        &store,
        &FileBackend::new(&auto),
        &paths,
        &PushOptions::default(),
        &NoPushProgress,
    )
    .unwrap();
    assert_eq!(report.pushed.len(), 4);
    assert_consistent(&auto);
    for (p, want) in [
        (&big_random, Compression::None),
        (&big_text, Compression::Zstd),
        (&small_random, Compression::None),
        (&small_text, Compression::Zstd),
    ] {
        let i = info(&auto, p);
        assert_eq!(i.compression, want, "{p}");
        match want {
            // Stored as it is: named by its NAR hash, the file is the NAR.
            Compression::None => {
                assert_eq!(i.file_hash, Some(i.nar_sha256), "{p}");
                assert_eq!(i.file_size, Some(i.nar_size), "{p}");
                assert!(i.url.ends_with(".nar"), "{}", i.url);
            }
            _ => assert!(i.file_size.unwrap() * 4 < i.nar_size, "{p}: {i:?}"),
        }
    }

    // Asked for zstd, every NAR is zstd.
    let zstd = dir.path().join("zstd");
    let opts = PushOptions {
        raw_if_incompressible: false,
        ..PushOptions::default()
    };
    push_paths(
        &store,
        &FileBackend::new(&zstd),
        &paths,
        &opts,
        &NoPushProgress,
    )
    .unwrap();
    assert_consistent(&zstd);
    for p in &paths {
        assert_eq!(info(&zstd, p).compression, Compression::Zstd, "{p}");
    }
}
