//! Helpers shared by the end-to-end tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The forge binary under test.
pub fn forge_bin() -> &'static str {
    env!("CARGO_BIN_EXE_forge")
}

/// A temporary store root and scratch directory, removed when dropped.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Drop for Env {
    /// Store directories are read-only (0555): an unprivileged user cannot
    /// delete what is in them, so the temporary directory would stay behind
    /// (hundreds of MiB per test run as the CI user). Make every directory
    /// writable again first; the removal itself is `TempDir`'s.
    fn drop(&mut self) {
        fn writable(dir: &Path) {
            let Ok(meta) = fs::symlink_metadata(dir) else {
                return;
            };
            if !meta.is_dir() {
                return;
            }
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
            if let Ok(entries) = fs::read_dir(dir) {
                for e in entries.flatten() {
                    writable(&e.path());
                }
            }
        }
        writable(self.dir.path());
    }
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The scratch directory is a repository: recipes in it may name
        // `path` inputs anywhere in it (`../tools`), as in a checkout.
        fs::create_dir(dir.path().join(".git")).expect("mkdir .git");
        Env { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A `forge` command bound to this store.
    pub fn forge(&self) -> Command {
        self.bound(Command::new(forge_bin()))
    }

    /// `/bin/sh -c SCRIPT` with forge's environment bound to this store
    /// (`$FORGE` is the forge binary), for tests that must set something up
    /// in the process before it becomes forge (`… && exec "$FORGE" …`).
    pub fn forge_after(&self, script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]).env("FORGE", forge_bin());
        self.bound(c)
    }

    fn bound(&self, mut c: Command) -> Command {
        c.env("FORGE_ROOT", self.root())
            // No config file of the host's user (tests name theirs with
            // FORGE_CONFIG).
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env_remove("FORGE_CONFIG")
            .env_remove("FORGE_FAILPOINTS")
            .env_remove("FORGE_LOG")
            .current_dir(self.dir.path());
        c
    }

    /// Runs forge with `args`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.forge().args(args).output().expect("running forge");
        assert!(
            out.status.success(),
            "forge {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Writes `text` to a file named `name` and adds it; returns its store path.
    pub fn add_text(&self, name: &str, text: impl AsRef<[u8]>) -> String {
        let src = self.path(&format!("src/{name}"));
        write(&src, text);
        self.ok(&["store", "add", src.to_str().unwrap()])
            .trim()
            .to_owned()
    }

    /// Runs forge with `args` and returns the whole output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.forge().args(args).output().expect("running forge")
    }
}

/// Runs `cmd` to the end and returns its output, or kills it and fails the
/// test, naming `what`, if it has not ended after `limit`: a guard against
/// hanging, not a speed check (keep `limit` far above the expected time).
pub fn output_or_hang(cmd: &mut Command, limit: std::time::Duration, what: &str) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting forge");
    // Drained on threads of their own, so a full pipe cannot stall it.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for forge") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}, killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Writes a file, creating parents.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, contents).expect("write");
}

/// A tree with every kind of node the NAR format has: nested and empty
/// directories, empty and executable files, relative, absolute and dangling
/// symlinks, and unicode names; file sizes cover every padding length.
pub fn make_rich_tree(root: &Path) {
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::create_dir_all(root.join("a/b/c/d")).unwrap();
    write(&root.join("a/b/c/d/deep"), "deep\n");
    write(&root.join("empty-file"), "");
    for n in 1..=9 {
        write(&root.join(format!("pad/{n}")), "x".repeat(n));
    }
    write(&root.join("bin/tool"), "#!/bin/sh\necho tool\n");
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    write(&root.join("bin/readonly-exec"), "#!/bin/sh\n");
    fs::set_permissions(
        root.join("bin/readonly-exec"),
        fs::Permissions::from_mode(0o500),
    )
    .unwrap();
    std::os::unix::fs::symlink("../a/b/c/d/deep", root.join("bin/relative")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("bin/absolute")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", root.join("bin/dangling")).unwrap();
    write(&root.join("unicode/héllo wörld"), "grüße\n");
    write(&root.join("unicode/日本語.txt"), "こんにちは\n");
    write(&root.join("unicode/emoji-🦀"), "crab\n");
    write(&root.join("big"), vec![7u8; 200_000]);
}

/// Whether an external tool is on PATH; see [`oracle_present`].
pub fn have_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    oracle_present(name, found)
}

/// Returns `present`; when it is false and FORGE_REQUIRE_ORACLES=1 (as in
/// CI), panics instead of letting the caller skip.
pub fn oracle_present(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var("FORGE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{what} is required (FORGE_REQUIRE_ORACLES=1) but missing"
        );
        eprintln!("skipping: {what} not installed");
    }
    present
}

/// `demo-1.0.tar.gz` holding `demo-1.0/hello.txt`.
pub fn demo_tarball(env: &Env) -> PathBuf {
    write(&env.path("pkg/demo-1.0/hello.txt"), "hi from a tarball\n");
    let tarball = env.path("demo-1.0.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(env.path("pkg"))
        .arg("demo-1.0")
        .status()
        .unwrap();
    assert!(st.success());
    tarball
}
