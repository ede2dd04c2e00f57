//! The recipes in `recipes/` build, run, and rebuild as no-ops.
//!
//! They are copied to a temporary directory first and built with
//! `--update-locks`: their seeds are snapshots of a host, and this test is
//! about the recipes building, not about this host matching the one that
//! wrote `recipe.lock` (the lock mechanism has its own tests in build.rs).

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::Env;

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn recipes(env: &Env) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    copy_dir(&src, &env.path("recipes"));
}

#[test]
fn hello_builds_with_the_seeded_gcc_and_runs() {
    let env = Env::new();
    recipes(&env);
    let out = env.ok(&["build", "--update-locks", "recipes/hello"]);
    assert!(out.trim().ends_with("-hello-1.0"), "{out}");
    let run = Command::new(env.path("result/bin/hello")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "Hello, world!\n");
    // Nothing in the store refers to the seeds: the binary names no store path.
    assert_eq!(env.ok(&["store", "closure", "result"]).lines().count(), 1);
    let again = env.run(&["build", "-v", "recipes/hello"]);
    assert!(again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!err.contains("building"), "{err}");
    // The seeds are found in the seed cache, not imported again (their
    // fingerprint lists `/`, which is no place a seed copies from).
    assert!(!err.contains("importing seed"), "{err}");
}

#[test]
fn greeter_links_a_two_output_library_and_reads_words() {
    let env = Env::new();
    recipes(&env);
    env.ok(&["build", "--update-locks", "recipes/greeter"]);
    let run = Command::new(env.path("result/bin/greeter"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "Hello from a forge-built library\n"
    );
    // libgreet's dev output names its out output; out names nothing.
    let lib = env.ok(&["build", "-o", "lib", "recipes/libgreet"]);
    let paths: Vec<&str> = lib.lines().collect();
    assert_eq!(paths.len(), 2, "{lib}");
    let (dev, out) = if paths[0].ends_with("-dev") {
        (paths[0], paths[1])
    } else {
        (paths[1], paths[0])
    };
    let pc = fs::read_to_string(env.path("lib-dev/lib/pkgconfig/greet.pc")).unwrap();
    assert!(pc.contains(&format!("libdir={out}/lib")), "{pc}");
    assert!(pc.contains(&format!("includedir={dev}/include")), "{pc}");
    let closure = env.ok(&["store", "closure", "lib-dev"]);
    assert_eq!(closure.lines().collect::<Vec<_>>(), vec![out, dev]);
    assert_eq!(env.ok(&["store", "closure", "lib"]).trim(), out);
}

#[test]
fn attrs_sdist_is_fetched_from_pypi_checked_and_unpacked() {
    let env = Env::new();
    recipes(&env);
    let out = env.run(&["build", "--json", "--update-locks", "recipes/attrs-sdist"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Progress of the download reaches the event stream, up to the whole file.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"done\":812032,\"total\":812032"),
        "{stdout}"
    );
    let pyproject = fs::read_to_string(env.path("result/pyproject.toml")).unwrap();
    assert!(pyproject.contains("name = \"attrs\""), "{pyproject}");
}

/// busybox without applet links: a program that is not busybox and execs
/// `cat` by name (GNU xargs here, as make or Python's subprocess would)
/// finds no `cat` on PATH; with the `busybox-applets` layer it does.
#[test]
fn programs_exec_busybox_applets_by_name_with_the_applets_layer() {
    if !Path::new("/usr/bin/xargs").exists() {
        eprintln!("skipped: no /usr/bin/xargs (GNU findutils) on this host");
        return;
    }
    let env = Env::new();
    recipes(&env);
    fs::write(
        env.path("recipes/seeds/xargs.toml"),
        "[seed]\nname = \"xargs\"\npaths = [\"/usr/bin/xargs\"]\n",
    )
    .unwrap();
    let recipe = |root: &str| {
        let dir = env.path("recipes/uses-xargs");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("recipe.toml"),
            format!(
                "[recipe]\nname = \"uses-xargs\"\nversion = \"1\"\n\n[inputs]\nbusybox = {{ seed = \"busybox\" }}\nxargs = {{ seed = \"xargs\" }}\napplets = {{ recipe = \"../busybox-applets\" }}\n\n[build]\nroot = [{root}]\nscript = \"\"\"\necho words > a\necho a | /usr/bin/xargs cat > \"$out\"\nfind . -name a -exec cat {{}} + >> \"$out\"\n\"\"\"\n"
            ),
        )
        .unwrap();
    };
    recipe("\"busybox\", \"xargs\"");
    let out = env.run(&["build", "--update-locks", "recipes/uses-xargs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/usr/bin/xargs: cat: No such file or directory"),
        "{err}"
    );

    recipe("\"busybox\", \"xargs\", \"applets\"");
    env.ok(&["build", "--update-locks", "recipes/uses-xargs"]);
    assert_eq!(
        fs::read_to_string(env.path("result")).unwrap(),
        "words\nwords\n"
    );
    // The layer itself: a symlink per applet, not the seed's own two.
    let applets = env.ok(&["build", "-o", "applets", "recipes/busybox-applets"]);
    assert!(!applets.is_empty());
    let cat = fs::read_link(env.path("applets/usr/bin/cat")).unwrap();
    assert_eq!(cat, Path::new("/bin/busybox"));
    assert!(!env.path("applets/usr/bin/sh").exists());
}
