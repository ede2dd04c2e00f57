//! Nix's own tools read a cache forge wrote: a narinfo with forge's extra
//! keys (`NarBlake3`, `ForgeDeriver`, `ForgeCA`) is listed by `nix path-info`
//! and its signature and contents pass `nix store verify` (docs/cache.md,
//! "Formats"). The path, its NAR and its Nix-made signature are the golden
//! files of crates/forge-core/tests/golden/cache/nix-2.8.

use std::process::Command;

use forge_core::cache::{layout, CacheInfo, Compression, ContentAddress, NarInfo};
use forge_core::derivation::ActionDigest;
use forge_core::hash::HashAlgo;

use crate::common::{have_tool, Env};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../forge-core/tests/golden/cache/nix-2.8/"
);

fn nix(env: &Env, args: &[&str]) -> std::process::Output {
    Command::new("nix")
        .args(["--extra-experimental-features", "nix-command"])
        .args(args)
        .env("XDG_CACHE_HOME", env.path("xdg-cache"))
        .output()
        .expect("running nix")
}

#[test]
fn nix_reads_a_forge_narinfo() {
    if !have_tool("nix") {
        return;
    }
    let env = Env::new();
    let read = |name: &str| std::fs::read(format!("{GOLDEN}{name}")).unwrap();
    let nar = read("f94vdi0v98a7qj4m88dwm0p8x06hrimg.nar");
    let nix_made = String::from_utf8(read("f94vdi0v98a7qj4m88dwm0p8x06hrimg.narinfo")).unwrap();
    let mut info = NarInfo::parse(&nix_made).unwrap();

    // What forge writes: an uncompressed NAR named by its BLAKE3 would not
    // be readable by Nix, so the file hash is SHA-256, as forge writes it.
    let file_hash = HashAlgo::Sha256.digest(&nar);
    info.compression = Compression::None;
    info.file_hash = Some(file_hash);
    info.file_size = Some(nar.len() as u64);
    info.url = layout::nar(&file_hash, &info.compression);
    info.nix_ca = None;
    let blake = HashAlgo::Blake3.digest(&nar);
    info.nar_blake3 = Some(blake);
    info.deriver = ActionDigest::from_hash(HashAlgo::Blake3.digest(b"some build"));
    info.content_address = Some(ContentAddress::Nar(blake));

    let cache = env.path("cache");
    std::fs::create_dir_all(cache.join(layout::NAR_DIR)).unwrap();
    std::fs::write(
        cache.join(layout::CACHE_INFO),
        CacheInfo::forge(40).to_text(),
    )
    .unwrap();
    std::fs::write(cache.join(&info.url), &nar).unwrap();
    std::fs::write(cache.join(layout::narinfo(&info.path)), info.to_text()).unwrap();

    let store = format!("file://{}?store=/forge/store", cache.display());
    let path = info.path.to_string();
    let out = nix(&env, &["path-info", "--store", &store, "--json", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["path"], path.as_str());
    assert_eq!(json[0]["narSize"], info.nar_size);
    assert_eq!(json[0]["narHash"], info.nar_sha256.to_sri().as_str());

    let key = String::from_utf8(read("forge-test-1.public")).unwrap();
    let out = nix(
        &env,
        &[
            "store",
            "verify",
            "--store",
            &store,
            "--trusted-public-keys",
            key.trim(),
            &path,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
