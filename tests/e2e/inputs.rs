//! Hostile inputs to the build engine (issue 8): host files a recipe must
//! not reach (paths out of the repository, private files, seeds naming
//! secrets), input files that are not regular files (FIFOs that made forge
//! hang), logs without a size cap, `--check`'s kept rebuilds, and builder
//! escape sequences reaching the terminal. Each test checks the effect from
//! the host side: what the store holds, what the terminal got.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{have_tool, write, Env};

/// The test project: `<env>/proj`, a repository (it holds `.git`) with
/// `tools/sh` (busybox) and world-readable directories.
fn project(env: &Env) -> PathBuf {
    let proj = env.path("proj");
    fs::create_dir_all(proj.join(".git")).unwrap();
    let sh = proj.join("tools/sh");
    fs::create_dir_all(sh.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &sh).expect("busybox-static is installed");
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o755)).unwrap();
    for d in [&proj, &proj.join("tools")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    proj
}

/// `proj/NAME/recipe.toml` with the tools input, `extra` inputs, `script`.
fn recipe(proj: &Path, name: &str, extra: &str, script: &str) -> PathBuf {
    let text = format!(
        "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n{extra}\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", '''{script}''']\n"
    );
    let dir = proj.join(name);
    write(&dir.join("recipe.toml"), text);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Runs forge; kills it (and fails the test) if it has not ended after a
/// minute, so that a hang fails this test instead of the whole suite.
fn run_bounded(env: &Env, args: &[&str]) -> Output {
    let mut child = env
        .forge()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "forge {args:?} hung (killed after a minute); stderr so far:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every regular file under `dir` (not following symlinks).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                out.push(p);
            }
        }
    }
    out
}

/// Whether any file under the store root holds `needle`.
fn root_holds(env: &Env, needle: &[u8]) -> bool {
    files_under(&env.root()).iter().any(|f| {
        fs::read(f).is_ok_and(|b| find(&b, needle).is_some())
            // A log naming the path is fine; the bytes of the file are not.
            && !f.to_string_lossy().ends_with(".log.zst")
    })
}

fn store_names(env: &Env) -> Vec<String> {
    fs::read_dir(env.root().join("store"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn path_inputs_outside_the_repository_are_refused_unless_allowed() {
    let env = Env::new();
    let proj = project(&env);
    // /etc/shadow, by climbing out of the repository.
    let dir = recipe(
        &proj,
        "loot",
        "loot = { path = \"../../../../../../../../../../etc/shadow\" }\n",
        "cat $loot > $out",
    );
    let out = run_bounded(&env, &["build", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("loot/recipe.toml:7:") && err.contains("/etc/shadow"),
        "names the recipe line and the path: {err}"
    );
    assert!(err.contains("outside the repository"), "says why: {err}");
    assert!(
        err.contains("hint:") && err.contains("--allow-path"),
        "{err}"
    );
    assert!(
        !store_names(&env).iter().any(|n| n.ends_with("-shadow")),
        "{:?}",
        store_names(&env)
    );
    // `forge recipe check` says the same.
    let out = run_bounded(&env, &["recipe", "check", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("outside the repository"), "{err}");

    // A world-readable canary outside the repository: refused, then
    // allowed with --allow-path.
    let outside = env.path("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let canary = outside.join("canary.txt");
    fs::write(&canary, "readable-canary-4f1d\n").unwrap();
    fs::set_permissions(&canary, fs::Permissions::from_mode(0o644)).unwrap();
    let dir = recipe(
        &proj,
        "reader",
        "c = { path = \"../../outside/canary.txt\" }\n",
        "cat $c > $out",
    );
    let out = run_bounded(&env, &["build", "--no-link", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("outside the repository"), "{err}");
    assert!(!root_holds(&env, b"readable-canary-4f1d"));
    // A symlink inside the repository pointing out is outside too.
    std::os::unix::fs::symlink(&canary, proj.join("reader/inside-link")).unwrap();
    let dir2 = recipe(
        &proj,
        "linker",
        "c = { path = \"../reader/inside-link\" }\n",
        "cat $c > $out",
    );
    let out = run_bounded(&env, &["build", "--no-link", dir2.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("outside the repository"), "{err}");
    assert!(!root_holds(&env, b"readable-canary-4f1d"));
    // Opted in: built.
    let out = run_bounded(
        &env,
        &[
            "build",
            "--no-link",
            "--allow-path",
            outside.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(root_holds(&env, b"readable-canary-4f1d"));
}

#[test]
fn private_files_are_never_made_world_readable_silently() {
    let env = Env::new();
    let proj = project(&env);
    // A 0600 canary inside the repository, and a readable file in a 0700
    // directory of the repository.
    let secret = proj.join("secret.key");
    fs::write(&secret, "private-canary-9a7c\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let hidden = proj.join("hidden");
    fs::create_dir_all(&hidden).unwrap();
    fs::write(hidden.join("f"), "hidden-canary-77e1\n").unwrap();
    fs::set_permissions(hidden.join("f"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o700)).unwrap();
    let a = recipe(
        &proj,
        "a",
        "k = { path = \"../secret.key\" }\n",
        "cat $k > $out",
    );
    let b = recipe(
        &proj,
        "b",
        "k = { path = \"../hidden/f\" }\n",
        "cat $k > $out",
    );
    for (dir, canary) in [(&a, "private-canary-9a7c"), (&b, "hidden-canary-77e1")] {
        let out = run_bounded(&env, &["build", "--no-link", dir.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("not readable by other users"), "{err}");
        assert!(err.contains("--allow-private"), "{err}");
        assert!(!root_holds(&env, canary.as_bytes()), "{canary} was stored");
    }
    // `forge lock` refuses the same way.
    let out = run_bounded(&env, &["lock", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Opted in: built.
    let out = run_bounded(
        &env,
        &["build", "--no-link", "--allow-private", a.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_seed_naming_a_private_host_file_is_refused() {
    let env = Env::new();
    let proj = project(&env);
    write(
        &proj.join("recipes/seeds/loot.toml"),
        "[seed]\nname = \"loot\"\npaths = [\"/etc/shadow\"]\n",
    );
    let dir = proj.join("recipes/app");
    write(
        &dir.join("recipe.toml"),
        "[recipe]\nname = \"app\"\nversion = \"1\"\n\n[inputs]\nl = { seed = \"loot\" }\n\n[build]\ncommand = [\"/bin/sh\", \"-c\", \"true\"]\n",
    );
    let out = run_bounded(&env, &["build", "--no-link", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/etc/shadow"), "{err}");
    assert!(err.contains("not readable by other users"), "{err}");
    assert!(err.contains("--allow-private"), "{err}");
    assert!(
        !store_names(&env).iter().any(|n| n.contains("seed-loot")),
        "{:?}",
        store_names(&env)
    );
    // A private host tool (0700): imported with --allow-private only, and
    // a later build without the flag is refused again, though the import
    // is cached.
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let host = env.path("host/opt/busybox");
    fs::create_dir_all(host.parent().unwrap()).unwrap();
    for d in [env.path("host"), env.path("host/opt")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::copy("/bin/busybox", &host).unwrap();
    fs::set_permissions(&host, fs::Permissions::from_mode(0o700)).unwrap();
    write(
        &proj.join("recipes/seeds/tool.toml"),
        format!(
            "[seed]\nname = \"tool\"\npaths = [\"{}\"]\n",
            host.display()
        ),
    );
    let app = proj.join("recipes/tool-app");
    write(
        &app.join("recipe.toml"),
        format!(
            "[recipe]\nname = \"tool-app\"\nversion = \"1\"\n\n[inputs]\nt = {{ seed = \"tool\" }}\n\n[build]\ncommand = [\"${{t}}{}\", \"sh\", \"-c\", \"echo ok > $out\"]\n",
            host.display()
        ),
    );
    let a = app.to_str().unwrap();
    // A world-readable file outside the system's directories is refused
    // too (a seed would hand it to a recipe, whose fixed-output build has
    // the network): the test's "host" needs --allow-path.
    fs::set_permissions(&host, fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_bounded(&env, &["build", "--no-link", a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is outside the system's directories"), "{err}");
    assert!(err.contains("--allow-path"), "{err}");
    fs::set_permissions(&host, fs::Permissions::from_mode(0o700)).unwrap();
    let hostdir = env.path("host");
    let allow = hostdir.to_str().unwrap();
    let out = run_bounded(&env, &["build", "--no-link", "--allow-path", allow, a]);
    assert!(
        stderr(&out).contains("not readable by other users"),
        "{}",
        stderr(&out)
    );
    // The seed cache only remembers host files unchanged for a few
    // seconds: let them age, so that the next builds hit it.
    std::thread::sleep(Duration::from_secs(3));
    let out = run_bounded(
        &env,
        &[
            "build",
            "--no-link",
            "--allow-path",
            allow,
            "--allow-private",
            a,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_bounded(&env, &["build", "--no-link", "--allow-path", allow, a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not readable by other users"), "{err}");
    // Nor does the seed cache let it through without --allow-path.
    let out = run_bounded(&env, &["build", "--no-link", "--allow-private", a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is outside the system's directories"), "{err}");
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

#[test]
fn fifos_as_input_files_fail_promptly_with_a_message() {
    let env = Env::new();
    let proj = project(&env);
    // recipe.lock
    let dir = recipe(&proj, "lockfifo", "", "echo hi > $out");
    mkfifo(&dir.join("recipe.lock"));
    let out = run_bounded(&env, &["build", "--no-link", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lockfifo/recipe.lock") && err.contains("not a regular file"),
        "{err}"
    );
    // recipe.toml, by `forge build` and `forge recipe check`.
    let fifo_recipe = proj.join("tomlfifo");
    fs::create_dir_all(&fifo_recipe).unwrap();
    mkfifo(&fifo_recipe.join("recipe.toml"));
    for args in [
        vec!["build", "--no-link", fifo_recipe.to_str().unwrap()],
        vec!["recipe", "check", fifo_recipe.to_str().unwrap()],
    ] {
        let out = run_bounded(&env, &args);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.contains("tomlfifo/recipe.toml") && err.contains("not a regular file"),
            "{args:?}: {err}"
        );
    }
    // A path input that is a FIFO, and one inside a path input directory.
    mkfifo(&proj.join("pipe"));
    let d1 = recipe(&proj, "pathfifo", "p = { path = \"../pipe\" }\n", "true");
    fs::create_dir_all(proj.join("tree/sub")).unwrap();
    fs::write(proj.join("tree/ok"), "x").unwrap();
    mkfifo(&proj.join("tree/sub/pipe"));
    let d2 = recipe(&proj, "treefifo", "t = { path = \"../tree\" }\n", "true");
    for (d, shown) in [(&d1, "pipe"), (&d2, "tree/sub/pipe")] {
        let out = run_bounded(&env, &["build", "--no-link", d.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(shown) && err.contains("not a regular file"),
            "{shown}: {err}"
        );
    }
    // A seed declaration that is a FIFO.
    fs::create_dir_all(proj.join("recipes/seeds")).unwrap();
    mkfifo(&proj.join("recipes/seeds/piped.toml"));
    let sd = proj.join("recipes/app");
    write(
        &sd.join("recipe.toml"),
        "[recipe]\nname = \"app\"\nversion = \"1\"\n\n[inputs]\nl = { seed = \"piped\" }\n\n[build]\ncommand = [\"/bin/sh\", \"-c\", \"true\"]\n",
    );
    let out = run_bounded(&env, &["build", "--no-link", sd.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("seeds/piped.toml") && err.contains("not a regular file"),
        "{err}"
    );
}

/// The last `n` bytes' worth of a log check: head, tail and the notice.
#[test]
fn build_logs_are_capped_keeping_head_and_tail() {
    let env = Env::new();
    let proj = project(&env);
    let dir = recipe(
        &proj,
        "loud",
        "",
        "echo HEAD-MARKER; head -c 67108864 /dev/zero | tr '\\0' x; echo TAIL-MARKER; echo done > $out",
    );
    let out = run_bounded(&env, &["build", "--no-link", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = env
        .forge()
        .args(["log", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(log.status.success());
    let text = log.stdout;
    let cap = 16 << 20;
    assert!(
        text.len() <= cap + 1024,
        "the stored log is {} bytes, over the 16 MiB default cap",
        text.len()
    );
    assert!(text.starts_with(b"HEAD-MARKER\n"), "keeps the head");
    assert!(text.ends_with(b"TAIL-MARKER\n"), "keeps the tail");
    let s = String::from_utf8_lossy(&text);
    assert!(s.contains("bytes dropped"), "says it was cut");
    // Configurable.
    let dir = recipe(
        &proj,
        "loud2",
        "",
        "echo HEAD-MARKER; head -c 4000000 /dev/zero | tr '\\0' x; echo TAIL-MARKER; echo done > $out",
    );
    let out = run_bounded(
        &env,
        &[
            "build",
            "--no-link",
            "--max-log-size",
            "1M",
            dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let log = env
        .forge()
        .args(["log", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(log.stdout.len() <= (1 << 20) + 1024, "{}", log.stdout.len());
    assert!(log.stdout.ends_with(b"TAIL-MARKER\n"));
}

#[test]
fn check_keeps_its_rebuild_canonical_without_special_files() {
    // The rebuild differs from the first build through the cores forge
    // offers the builder (FORGE_BUILD_CORES follows forge's CPU affinity).
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 || !have_tool("taskset") {
        eprintln!("skipping: needs two cores and taskset");
        return;
    }
    let env = Env::new();
    let proj = project(&env);
    let dir = recipe(
        &proj,
        "unstable",
        "",
        "mkdir $out; echo $FORGE_BUILD_CORES > $out/cores; \
         if [ \"$FORGE_BUILD_CORES\" != 1 ]; then mkfifo $out/pipe; mkdir $out/open; chmod 777 $out/open; \
         echo x > $out/open/suid; chmod 755 $out/open/suid; chmod 4755 $out/open/suid || true; fi",
    );
    let run = |cpus: &str, extra: &[&str]| -> Output {
        let mut c = Command::new("taskset");
        c.args(["-c", cpus, crate::common::forge_bin(), "build", "--no-link"])
            .args(extra)
            .arg(&dir)
            .env("FORGE_ROOT", env.root())
            .env_remove("FORGE_FAILPOINTS");
        c.output().unwrap()
    };
    let first = run("0", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let check = run("0,1", &["--check"]);
    let err = stderr(&check);
    assert_eq!(check.status.code(), Some(3), "{err}");
    assert!(err.contains("NOT reproducible"), "{err}");
    let kept = fs::read_dir(env.root().join("check"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("the rebuild is kept");
    let mut bad = Vec::new();
    let mut stack = vec![kept.clone()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.mode() & 0o7777;
        let ft = m.file_type();
        if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
            bad.push(format!("{}: special file", p.display()));
        } else if ft.is_dir() {
            if mode != 0o555 {
                bad.push(format!("{}: directory mode {mode:o}", p.display()));
            }
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if ft.is_file() && mode != 0o444 && mode != 0o555 {
            bad.push(format!("{}: file mode {mode:o}", p.display()));
        }
    }
    assert!(bad.is_empty(), "kept rebuild not canonical: {bad:?}");
    assert!(kept.join("open/suid").is_file(), "the files are kept");
    // A second check replaces the kept tree (read-only as it is).
    let again = run("0,1", &["--check"]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
}

/// Runs `cmd` (a shell command line) under a pty with `script`; returns
/// everything the terminal received.
fn under_pty(env: &Env, cmd: &str) -> Vec<u8> {
    let out = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("FORGE_ROOT", env.root())
        .env("TERM", "xterm")
        .env_remove("FORGE_FAILPOINTS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out.stdout
}

#[test]
fn builder_escape_sequences_never_reach_the_terminal() {
    if !have_tool("script") {
        return;
    }
    let env = Env::new();
    let proj = project(&env);
    let dir = recipe(
        &proj,
        "rude",
        "",
        "printf 'title\\033]0;pwned-title\\007clear\\033[2Jend\\n'; printf 'csi\\302\\233[2J raw\\233[2J\\n'; exit 1",
    );
    let forge = crate::common::forge_bin();
    let d = dir.to_str().unwrap();
    for cmd in [
        format!("{forge} build -L --no-link {d}"),
        format!("{forge} build --no-link {d}"),
        format!("{forge} log {d}"),
    ] {
        let tty = under_pty(&env, &cmd);
        let shown = String::from_utf8_lossy(&tty);
        assert!(
            shown.contains("pwned-title"),
            "{cmd}: the line is shown: {shown:?}"
        );
        assert!(
            find(&tty, b"\x1b]0;").is_none()
                && find(&tty, b"\x1b[2J").is_none()
                && find(&tty, b"\x07").is_none()
                && find(&tty, b"\xc2\x9b").is_none()
                && std::str::from_utf8(&tty).is_ok(),
            "{cmd}: raw escape sequences reached the terminal: {shown:?}"
        );
    }
    // The stored log keeps the raw bytes (not a terminal: printed as is).
    let log = env.forge().args(["log", d]).output().unwrap();
    assert!(find(&log.stdout, b"\x1b]0;pwned-title\x07").is_some());
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
