//! Store integrity against hostile builds: removal that never follows a
//! builder's symlinks, outputs that are symlinks out of the store, trees
//! deeper than PATH_MAX, sparse files, the output size limit, references
//! in fixed outputs, and a plain `forge store verify` that notices missing
//! or changed files.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::{write, Env};

/// Sets up `tools/sh` (busybox) in `env`.
fn tools(env: &Env) {
    let sh = env.path("tools/sh");
    fs::create_dir_all(sh.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &sh).expect("busybox-static is installed (scripts/test installs it)");
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes recipe `name` running `script` with busybox as `$sh`, and
/// `extra` appended to the recipe (e.g. an `[output]` table).
fn recipe(env: &Env, name: &str, script: &str, extra: &str) {
    let text = format!(
        "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", '''{script}''']\n{extra}"
    );
    write(&env.path(&format!("{name}/recipe.toml")), text);
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The entries of the store directory.
fn store_entries(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(env.root().join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn canary(env: &Env) -> PathBuf {
    let c = env.path("canary");
    fs::create_dir_all(&c).unwrap();
    for i in 0..16 {
        fs::write(c.join(format!("file{i}")), "precious").unwrap();
    }
    fs::set_permissions(&c, fs::Permissions::from_mode(0o755)).unwrap();
    c
}

fn assert_canary_intact(c: &Path) {
    assert_eq!(fs::read_dir(c).unwrap().count(), 16, "canary files deleted");
    let mode = fs::metadata(c).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "canary directory chmodded");
}

/// A failed build leaves symlinks to a host directory in `/build` and in
/// its scratch store (as directories' replacements, where removal would
/// descend): removing the scratch directory removes the links only.
#[test]
fn a_failed_builds_symlinks_to_host_directories_are_not_followed() {
    let env = Env::new();
    tools(&env);
    let c = canary(&env);
    let c = c.to_str().unwrap();
    recipe(
        &env,
        "linker",
        &format!(
            "mkdir -p $out/sub /build/sub; ln -s {c} $out/sub/link; ln -s {c} /build/sub/link; \
             ln -s {c} /build/top; ln -s {c} /forge/store/extra; exit 3"
        ),
        "",
    );
    let out = env.run(&["build", "linker"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_canary_intact(Path::new(c));
    assert_eq!(fs::read_dir(env.root().join("tmp")).unwrap().count(), 0);
}

/// A builder that leaves directories without any permission (`chmod 0`):
/// as an ordinary user, whom no capability lets read them, their scratch
/// directory must still go (a descriptor-based removal that opened a
/// directory before making it writable leaked it, and every later build
/// warned about it).
#[test]
fn a_failed_builds_unreadable_directories_are_removed() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "locked",
        "mkdir -p $out/a/b /build/c/d; echo x > $out/a/b/f; echo y > /build/c/d/g; \
         chmod 0 $out/a/b $out/a /build/c/d /build/c; exit 3",
        "",
    );
    let out = env.run(&["build", "locked"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let left: Vec<_> = fs::read_dir(env.root().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

/// `$out` as a relative symlink climbing out of the store to the host's
/// `/etc`: refused at registration, naming the output and the target.
#[test]
fn an_output_that_is_a_symlink_out_of_the_store_is_refused() {
    let env = Env::new();
    tools(&env);
    let up = "../".repeat(40);
    recipe(&env, "escape", &format!("ln -s {up}etc $out"), "");
    let out = env.run(&["build", "escape"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("output `out`"), "{err}");
    assert!(err.contains(&format!("{up}etc")), "{err}");
    assert!(err.contains("leads out of the store"), "{err}");
    assert_eq!(
        store_entries(&env).len(),
        1,
        "only the tools input is stored"
    );
    assert!(!env.path("result").exists());
    // An absolute one too; a symlink to another store path is fine.
    recipe(&env, "abs", "ln -s /etc $out", "");
    let out = env.run(&["build", "abs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("leads out of the store"));
    recipe(&env, "tostore", "ln -s $sh $out", "");
    env.ok(&["build", "--no-link", "tostore"]);
}

/// A 5000-deep directory chain in `$out` and in `/build` (deeper than
/// PATH_MAX): whatever becomes of that build, later builds and `gc` work.
#[test]
fn a_tree_deeper_than_path_max_does_not_wedge_the_store() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "deep",
        "mkdir $out; for top in $out /build; do cd $top; i=0; \
         while [ $i -lt 5000 ]; do mkdir dddddddddd; cd dddddddddd; i=$((i+1)); done; done; echo done",
        "",
    );
    let out = env.run(&["build", "--no-link", "deep"]);
    let err = stderr(&out);
    // Too deep to be stored: refused with the reason.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too deep"), "{err}");
    assert_eq!(fs::read_dir(env.root().join("tmp")).unwrap().count(), 0);
    recipe(&env, "after", "echo fine > $out", "");
    env.ok(&["build", "--no-link", "after"]);
    // A successful build that leaves a deep /build behind.
    recipe(
        &env,
        "deepbuild",
        "i=0; while [ $i -lt 5000 ]; do mkdir dddddddddd; cd dddddddddd; i=$((i+1)); done; echo ok > $out",
        "",
    );
    env.ok(&["build", "--no-link", "deepbuild"]);
    assert_eq!(fs::read_dir(env.root().join("tmp")).unwrap().count(), 0);
    // Deep leftovers in the store and in the trash are collected.
    deep_chain(
        &env.root()
            .join("store/00000000000000000000000000000000-leftover"),
    );
    deep_chain(&env.root().join("trash/leftover"));
    env.ok(&["store", "gc"]);
    assert!(!env
        .root()
        .join("store/00000000000000000000000000000000-leftover")
        .exists());
    assert_eq!(fs::read_dir(env.root().join("trash")).unwrap().count(), 0);
    env.ok(&["build", "--no-link", "after"]);
    env.ok(&["store", "verify"]);
}

/// Creates a 5000-deep chain of read-only directories at `top`, without
/// ever naming a long path.
fn deep_chain(top: &Path) {
    fs::create_dir_all(top).unwrap();
    let mut cur = fs::File::open(top).unwrap();
    let mut fds = Vec::new();
    for _ in 0..5000 {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&cur);
        let next = format!("/proc/self/fd/{fd}/dddddddddd");
        fs::create_dir(&next).unwrap();
        let opened = fs::File::open(&next).unwrap();
        fds.push(std::mem::replace(&mut cur, opened));
        let old = fds.pop().unwrap();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&old));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o555)).unwrap();
    }
}

/// 4 KiB naming `$out` inside a 256 MiB sparse file: rewritten to the final
/// path, stored sparse.
#[test]
fn a_sparse_file_with_a_self_reference_stays_sparse() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "sparse",
        "mkdir $out; echo $out > /build/me; dd if=/build/me of=$out/big bs=4096 seek=32768 conv=notrunc 2>/dev/null; \
         dd if=/dev/zero of=$out/big bs=1 count=0 seek=268435456 2>/dev/null; ls -ls $out",
        "",
    );
    let out = env.ok(&["build", "--json", "sparse"]);
    let path = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "result")
        .unwrap()["outputs"]["out"]
        .as_str()
        .unwrap()
        .to_owned();
    let big = env.path("result/big");
    let meta = fs::metadata(&big).unwrap();
    assert_eq!(meta.len(), 268_435_456);
    assert!(
        meta.blocks() * 512 < 16 << 20,
        "stored dense: {} bytes allocated",
        meta.blocks() * 512
    );
    let bytes = fs::read(&big).unwrap();
    let at = 32768 * 4096;
    assert_eq!(&bytes[at..at + path.len()], path.as_bytes());
    assert!(bytes[..at].iter().all(|&b| b == 0));
    env.ok(&["store", "verify", "--check-contents"]);
}

/// An output over `--max-output-size` ends the build with a message naming
/// the output and the limit, during the build and before registration.
#[test]
fn an_output_over_the_size_limit_fails_the_build() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "big",
        "mkdir $out; dd if=/dev/zero of=$out/blob bs=1048576 count=3 2>/dev/null",
        "",
    );
    let out = env
        .forge()
        .args(["build", "--no-link", "big"])
        .env("FORGE_MAX_OUTPUT_SIZE", "2M")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exceeds the limit of 2 MiB"), "{err}");
    assert!(err.contains("big-1"), "{err}");
    assert_eq!(store_entries(&env).len(), 1);
    // A builder that keeps writing is stopped while it runs.
    recipe(
        &env,
        "endless",
        "mkdir $out; i=0; while :; do dd if=/dev/zero of=$out/f$i bs=1048576 count=1 2>/dev/null; i=$((i+1)); done",
        "\n[sandbox]\ntimeout = \"120s\"\n",
    );
    let out = env
        .forge()
        .args(["build", "--no-link", "--max-output-size", "8M", "endless"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exceeds the limit of 8 MiB"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
    // Writing beside `$out`, into the scratch /forge/store, counts too: it
    // is the host's disk (red-team finding: 200 MiB past a 1 MiB limit).
    recipe(
        &env,
        "beside",
        "echo hi > $out; dd if=/dev/zero of=/forge/store/junk bs=1048576 count=6 2>/dev/null",
        "",
    );
    let out = env
        .forge()
        .args(["build", "--no-link", "--max-output-size", "4M", "beside"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/forge/store"), "{err}");
    assert!(err.contains("exceeds the limit of 4 MiB"), "{err}");
    // Under the limit it builds.
    let out = env
        .forge()
        .args(["build", "--no-link", "big"])
        .env("FORGE_MAX_OUTPUT_SIZE", "4M")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A fixed output that names one of its inputs' store paths is refused
/// (it would be registered without the reference, and gc would delete
/// what it points to).
#[test]
fn a_fixed_output_referring_to_an_input_is_refused() {
    let env = Env::new();
    tools(&env);
    let fixed = |hash: &str| {
        recipe(
            &env,
            "leaky",
            "echo $sh > $out",
            &format!("\n[output]\nsha256 = \"{hash}\"\n"),
        );
    };
    // Learn the output's hash from a mismatch.
    fixed(&"0".repeat(64));
    let out = env.run(&["build", "leaky"]);
    let err = stderr(&out);
    assert!(err.contains("hash mismatch"), "{err}");
    let actual = err
        .match_indices("sha256 = \"")
        .map(|(i, m)| &err[i + m.len()..i + m.len() + 64])
        .find(|h| *h != "0".repeat(64))
        .unwrap_or_else(|| panic!("no actual hash in {err}"))
        .to_owned();
    fixed(&actual);
    let out = env.run(&["build", "leaky"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("fixed output `out`"), "{err}");
    assert!(err.contains("-tools"), "{err}");
    assert!(err.contains("must not refer to other store paths"), "{err}");
    assert_eq!(store_entries(&env).len(), 1);
}

/// Plain (cheap) `forge store verify` compares every registered path's
/// file list, types, sizes and modes with what was registered.
#[test]
fn plain_verify_notices_missing_truncated_and_chmodded_files() {
    let env = Env::new();
    let src = env.path("tree");
    write(&src.join("a/one"), "one\n");
    write(&src.join("a/two"), "two two\n");
    write(&src.join("three"), "three\n");
    let path = env.ok(&["store", "add", src.to_str().unwrap()]);
    let path = path.trim();
    env.ok(&["store", "verify"]);
    let physical = env
        .root()
        .join("store")
        .join(path.trim_start_matches("/forge/store/"));
    let writable = |p: &Path| fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    let readonly = |p: &Path| fs::set_permissions(p, fs::Permissions::from_mode(0o555)).unwrap();
    // Missing file.
    writable(&physical.join("a"));
    fs::remove_file(physical.join("a/one")).unwrap();
    readonly(&physical.join("a"));
    let out = env.run(&["store", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(text.contains(path), "{text}");
    assert!(text.contains("/a/one"), "{text}");
    assert!(text.contains("missing"), "{text}");
    // Truncated, and made executable.
    let env2 = Env::new();
    let path = env2.ok(&["store", "add", src.to_str().unwrap()]);
    let path = path.trim();
    let physical = env2
        .root()
        .join("store")
        .join(path.trim_start_matches("/forge/store/"));
    fs::set_permissions(physical.join("three"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(physical.join("three"), "").unwrap();
    fs::set_permissions(physical.join("three"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(physical.join("a/two"), fs::Permissions::from_mode(0o555)).unwrap();
    let out = env2.run(&["store", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(text.contains("/three"), "{text}");
    assert!(text.contains("size"), "{text}");
    assert!(text.contains("/a/two"), "{text}");
    assert!(text.contains("executable"), "{text}");
}
