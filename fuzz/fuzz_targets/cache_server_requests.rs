//! Fuzzes what `forge cache serve` reads from a client before it touches
//! a file: the request path (which key it names), the `Range` header, the
//! `Authorization: Bearer` header, the batch narinfo query's body, and
//! which store object `--store` mode would make for a key. The same bytes
//! go to each. None may panic, and:
//!
//! - a key from a request path stays inside the cache: relative, no empty,
//!   `.`-led or `..` component, not the server's `_forge/`, and opening it
//!   in a cache directory (with symlinks planted below it that lead out)
//!   yields only a regular file at exactly `<dir>/<key>`;
//! - a range is inside the object (`start <= end < len`), for any length;
//! - a bearer token is non-empty, unpadded, and admits exactly itself;
//! - a batch body names at most the limit of 32-character digests, each a
//!   narinfo key, which `--store` mode maps back to that digest;
//! - a key `--store` mode makes something for is the key that thing is
//!   published under, so a request is never answered from a different
//!   name (or made again on every request for an alias).
#![no_main]

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use forge_cache::fuzzing::{self, RangeAnswer, Root, StoreWanted};
use forge_cache::serve::UploadToken;
use forge_cache::Key;
use forge_core::cache::layout;
use libfuzzer_sys::fuzz_target;

const DIGEST: &str = "0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s";
const MAX_BATCH: usize = 16;

/// A cache directory with real objects, and symlinks below it leading
/// out to a secret (as whoever can write there could plant).
struct Tree {
    _tmp: tempfile::TempDir,
    root: Root,
    secret: PathBuf,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let outside = tmp.path().join("outside");
        let dir = tmp.path().join("cache");
        for d in [&outside, &dir.join("nar"), &dir.join("realisations")] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let secret = outside.join("secret");
        std::fs::write(&secret, b"secret").expect("write");
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
        write("nix-cache-info", "StoreDir: /nix/store\nPriority: 40\n");
        write(&format!("{DIGEST}.narinfo"), "StorePath: x\n");
        write("nar/1b2c.nar.zst", "nar");
        write(&format!("realisations/{}!out.doi", "ab".repeat(32)), "{}");
        let link = |to: &Path, at: &str| std::os::unix::fs::symlink(to, dir.join(at)).expect("ln");
        link(&secret, "x.narinfo");
        link(&outside, "nar/out");
        link(&dir.join("nix-cache-info"), "inside.narinfo");
        let root = Root::new(&dir).expect("the cache directory");
        Tree {
            _tmp: tmp,
            root,
            secret,
        }
    })
}

fn check_range(header: &[u8]) {
    let lens = [0, 1, 2, 7, 10, 4096, u64::MAX / 2, u64::MAX - 1, u64::MAX];
    for len in lens.into_iter().chain([header.len() as u64]) {
        match fuzzing::range(Some(header), len) {
            RangeAnswer::Part { start, end } => {
                assert!(start <= end && end < len, "{start}-{end} of {len}");
                // The length sent, end - start + 1, does not overflow.
                assert!(end - start < u64::MAX);
            }
            RangeAnswer::Unsatisfiable => {
                assert!(std::str::from_utf8(header).is_ok_and(|h| h.trim().starts_with("bytes=")))
            }
            RangeAnswer::Whole => {}
        }
    }
}

fn check_bearer(header: &[u8]) {
    let Some(token) = fuzzing::bearer(header) else {
        return;
    };
    assert!(!token.is_empty());
    assert!(token[0] != b' ' && token[token.len() - 1] != b' ');
    assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
    // A token as a token file holds it (printable ASCII) admits itself;
    // anything else in the header is refused by every token.
    if token.iter().all(u8::is_ascii_graphic) {
        let t = std::str::from_utf8(token).expect("ASCII");
        let upload = UploadToken::new(t).expect("a printable token");
        assert!(upload.admits(Some(header)), "a token admits itself");
    }
}

fn check_batch(body: &[u8]) {
    let Ok(digests) = fuzzing::batch_body(body, MAX_BATCH) else {
        return;
    };
    assert!(digests.len() <= MAX_BATCH);
    for d in digests {
        assert_eq!(d.len(), 32);
        let key = Key::new(&layout::narinfo_for_digest(&d)).expect("a digest names a narinfo key");
        assert_eq!(fuzzing::store_wanted(&key), Some(StoreWanted::Path(d)));
    }
}

fn check_path(path: &str) {
    let Some(key) = fuzzing::request_key(path) else {
        return;
    };
    let k = key.as_str();
    assert_eq!(Some(k), path.strip_prefix('/'));
    assert!(!k.contains('%'));
    assert!(k != "_forge" && !k.starts_with("_forge/"));
    let p = Path::new(k);
    assert!(p.is_relative());
    for c in p.components() {
        assert!(matches!(c, Component::Normal(_)), "{k}: {c:?}");
    }
    assert!(k.split('/').all(|c| !c.is_empty() && !c.starts_with('.')));

    let tree = tree();
    if let Some((mut file, len)) = tree.root.open(&key).expect("opening answers") {
        let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        assert_eq!(opened, tree.root.dir().join(k), "only the file at the key");
        assert!(opened != tree.secret);
        let mut text = Vec::new();
        file.read_to_end(&mut text).unwrap();
        assert_eq!(text.len() as u64, len);
        assert_ne!(text, b"secret");
    }
    let _ = tree.root.parents_are_real(&key);
    check_wanted(&key);
}

fn check_wanted(key: &Key) {
    match fuzzing::store_wanted(key) {
        None => {}
        Some(StoreWanted::Path(digest)) => {
            assert_eq!(layout::narinfo_for_digest(&digest), key.as_str());
        }
        Some(StoreWanted::Realisation(action, output)) => {
            assert_eq!(layout::realisation(&action, &output), key.as_str());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_range(data);
    check_bearer(data);
    check_batch(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_path(text);
    if let Ok(key) = Key::new(text) {
        check_wanted(&key);
    }
});
