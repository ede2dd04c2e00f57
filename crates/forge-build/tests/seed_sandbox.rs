//! The gcc seed, end to end: assemble it from this host, then compile and run
//! a C program in the forge sandbox with *only* the seed tree as its root
//! filesystem. Any file the toolchain needs and the seed lacks fails this.
//!
//! Not a libtest harness: the sandbox monitor is this same binary started
//! again with `__monitor SPEC OUTCOME` (it must be single-threaded).
//!
//! Needs gcc 12 on the host and a kernel that allows the sandbox; set
//! FORGE_SEED_ALLOW_MISSING_HOST=1 to turn a missing gcc into a skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use forge_build::seed::{assemble, load};
use forge_sandbox::{Bind, Enforcement, RunOptions, Sandbox, SandboxSpec};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "__monitor" {
        let code = forge_sandbox::monitor::main(Path::new(&args[2]), Path::new(&args[3]));
        return ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1));
    }
    // `cargo test -- FILTER` passes filters; this file has one test.
    if args.iter().skip(1).any(|a| a == "--list") {
        println!("gcc_seed_compiles_hello_world_in_the_sandbox: test");
        return ExitCode::SUCCESS;
    }
    println!("running 1 test");
    gcc_seed_compiles_hello_world_in_the_sandbox();
    println!("test gcc_seed_compiles_hello_world_in_the_sandbox ... ok");
    ExitCode::SUCCESS
}

/// The tree as the sandbox's root, read-only. Until the sandbox has root
/// layers (`--root-layer DIR`), each top-level entry of the tree is bound at
/// `/NAME`; a top-level symlink (`lib64 -> usr/lib64`) is bound as the
/// directory it points to, which gives the same view. With root layers this
/// becomes `spec.root_layers.push(tree)`.
/// The sandbox provides `/etc` itself, so the tree's `etc/` (here:
/// `etc/alternatives/cc`) is bound entry by entry below it.
fn root_layer(tree: &Path) -> Vec<Bind> {
    let real_tree = fs::canonicalize(tree).expect("tree");
    let mut binds = Vec::new();
    let mut todo = vec![PathBuf::from("/")];
    while let Some(inside) = todo.pop() {
        let mut names: Vec<_> = fs::read_dir(tree.join(inside.strip_prefix("/").expect("abs")))
            .expect("read tree")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        for n in names {
            let inside = inside.join(&n);
            if inside == Path::new("/etc") {
                todo.push(inside);
                continue;
            }
            let host = fs::canonicalize(tree.join(inside.strip_prefix("/").expect("abs")))
                .expect("top-level entry resolves");
            assert!(host.starts_with(&real_tree), "{n:?} leaves the tree");
            binds.push(Bind {
                host,
                inside,
                writable: false,
            });
        }
    }
    binds
}

fn run(tree: &Path, build: &Path, command: &[&str]) -> i32 {
    let mut spec = SandboxSpec::new(command.iter().map(|s| s.to_string()).collect());
    spec.binds = root_layer(tree);
    spec.build_dir = Some(build.to_owned());
    spec.enforcement = Enforcement::BestEffort;
    spec.limits.wall_timeout = Some(std::time::Duration::from_secs(120));
    let exe = std::env::current_exe().expect("test binary");
    let outcome = Sandbox::with_monitor(exe, &["__monitor"])
        .run(&spec, RunOptions::default())
        .expect("sandbox runs");
    outcome.exit_code()
}

fn gcc_seed_compiles_hello_world_in_the_sandbox() {
    if !Path::new("/usr/bin/gcc-12").exists() {
        if std::env::var_os("FORGE_SEED_ALLOW_MISSING_HOST").is_some_and(|v| v == "1") {
            eprintln!("note: no gcc-12 on this host; skipped (FORGE_SEED_ALLOW_MISSING_HOST=1)");
            return;
        }
        panic!("/usr/bin/gcc-12 is missing; install gcc-12 or set FORGE_SEED_ALLOW_MISSING_HOST=1");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let decl = load(&repo.join("recipes/seeds/gcc.toml")).expect("gcc seed loads");
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    let build = dir.path().join("build");
    fs::create_dir(&tree).expect("mkdir");
    fs::create_dir(&build).expect("mkdir");
    let manifest = assemble(&decl, &tree).expect("gcc seed assembles");
    eprintln!(
        "gcc seed: {} entries, {} MB",
        manifest.entries.len(),
        manifest.total_bytes() >> 20
    );
    fs::write(
        build.join("hello.c"),
        "#include <stdio.h>\n#include <math.h>\nint main(void) { printf(\"hello from the seed %d\\n\", (int)sqrt(16.0)); return 0; }\n",
    )
    .expect("write source");
    let code = run(
        &tree,
        &build,
        &[
            "/usr/bin/gcc",
            "-O2",
            "-o",
            "/build/hello",
            "/build/hello.c",
            "-lm",
        ],
    );
    assert_eq!(
        code, 0,
        "gcc failed inside the sandbox (see its output above)"
    );
    // The program runs against the seed's libc too. Its output goes to the
    // inherited stdout, so check its exit status here and its text on the
    // host.
    assert_eq!(
        run(&tree, &build, &["/build/hello"]),
        0,
        "hello failed inside the sandbox"
    );
    let text = std::process::Command::new(build.join("hello"))
        .output()
        .expect("hello runs on the host");
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "hello from the seed 4\n"
    );
}
