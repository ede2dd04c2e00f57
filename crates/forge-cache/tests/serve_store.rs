//! `forge cache serve --store` (forge_cache::serve with
//! `Source::Store`): a server in-process on 127.0.0.1, port 0, over a
//! fresh store, read with `HttpBackend` as a substituter reads it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Read;

use forge_cache::serve::{ServeConfig, Server, Source, StoreSource};
use forge_cache::{Backend, HttpBackend, Key};
use forge_core::cache::{layout, NarInfo, Realisation};
use forge_core::derivation::{ActionDigest, OutputName};
use forge_core::signing::{SecretKey, Signature, TrustedKeys};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn get(b: &dyn Backend, k: &Key) -> Option<Vec<u8>> {
    b.get(k).unwrap().map(|mut r| {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

#[test]
fn a_store_is_served_signed_and_each_nar_made_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), vec![b'a'; 100_000]).unwrap();
    let root = tmp.path().join("root");
    let mut store = forge_store::Store::open(&root).unwrap();
    let path = store
        .add_path(&src, None, &forge_store::tree::NoProgress)
        .unwrap()
        .info
        .path;
    let action: ActionDigest = format!("blake3:{}", "ab".repeat(32)).parse().unwrap();
    store
        .register_realisations(&action, [(&OutputName::out(), &path)])
        .unwrap();
    let mut expected_nar = Vec::new();
    store.dump(&path, &mut expected_nar).unwrap();
    drop(store);

    let secret = SecretKey::generate("test-1", [7; 32]).unwrap();
    let trusted = TrustedKeys::new([secret.public()]);
    let cache_dir = tmp.path().join("served");
    let config = ServeConfig {
        source: Source::Store(Box::new(StoreSource {
            root: root.clone(),
            cache_dir: Some(cache_dir.clone()),
            secret_key: Some(secret),
        })),
        ..ServeConfig::dir("/nonexistent", "127.0.0.1:0".parse().unwrap())
    };
    let server = Server::start(config).unwrap();
    let b = HttpBackend::new(&server.url()).unwrap();

    let info = String::from_utf8(get(&b, &key("nix-cache-info")).unwrap()).unwrap();
    assert_eq!(
        info,
        "StoreDir: /forge/store\nWantMassQuery: 1\nPriority: 50\n"
    );
    // The narinfo, made when asked for, signed by the server's key.
    let narinfo_key = key(&layout::narinfo(&path));
    assert!(!cache_dir.join(narinfo_key.as_str()).exists());
    let text = String::from_utf8(get(&b, &narinfo_key).unwrap()).unwrap();
    let narinfo = NarInfo::parse(&text).unwrap();
    assert_eq!(narinfo.path, path);
    let sigs: Vec<Signature> = narinfo
        .signatures
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(
        trusted
            .verify(narinfo.fingerprint().as_bytes(), &sigs)
            .unwrap(),
        "test-1"
    );
    // Its NAR, compressed once and then a file of the directory.
    let nar_key = key(&narinfo.url);
    assert!(cache_dir.join(nar_key.as_str()).is_file());
    let compressed = get(&b, &nar_key).unwrap();
    assert_eq!(compressed.len() as u64, narinfo.file_size.unwrap());
    assert_eq!(zstd::decode_all(&compressed[..]).unwrap(), expected_nar);
    let made = std::fs::metadata(cache_dir.join(nar_key.as_str()))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(get(&b, &narinfo_key).unwrap(), text.as_bytes());
    let again = std::fs::metadata(cache_dir.join(nar_key.as_str()))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(made, again, "the NAR is not made twice");
    // The realisation, signed.
    let r_key = key(&layout::realisation(&action, &OutputName::out()));
    let r = Realisation::parse(&String::from_utf8(get(&b, &r_key).unwrap()).unwrap()).unwrap();
    assert_eq!(r.path, path);
    assert_eq!(r.signatures.len(), 1);
    // Misses are misses.
    let missing = key("1rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s.narinfo");
    assert!(get(&b, &missing).is_none());
    let other: ActionDigest = format!("blake3:{}", "cd".repeat(32)).parse().unwrap();
    assert!(get(&b, &key(&layout::realisation(&other, &OutputName::out()))).is_none());
    // No uploads without a token, even in store mode.
    assert!(b.with_token("x").put(&key("y"), &mut &b"y"[..]).is_err());
}
