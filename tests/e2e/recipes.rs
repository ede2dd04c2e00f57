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
    assert!(!String::from_utf8_lossy(&again.stderr).contains("building"));
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
