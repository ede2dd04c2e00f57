//! `[sandbox]` resources of a recipe: the sizes of `/tmp` and `/build`, a
//! disk-backed `/build`, the cores a build is told about, and the memory
//! limit (enforced as root, a warning otherwise).

use crate::build::{recipe, tools};
use crate::common::{write, Env};

/// A recipe `name` running `script` with `[sandbox]` `keys`.
fn with_sandbox(env: &Env, name: &str, keys: &str, script: &str) {
    recipe(env, name, &[], script);
    let file = env.path(&format!("{name}/recipe.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    write(&file, format!("{text}\n[sandbox]\n{keys}\n"));
}

#[test]
fn a_small_tmp_fills_up_and_the_failure_says_no_space() {
    let env = Env::new();
    tools(&env);
    with_sandbox(
        &env,
        "full",
        "tmp-size = \"1M\"",
        "dd if=/dev/zero of=/tmp/big bs=1M count=2 && mkdir $out",
    );
    let o = env.run(&["build", "full"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn a_disk_build_dir_holds_more_than_tmp_and_cores_are_exported() {
    let env = Env::new();
    tools(&env);
    with_sandbox(
        &env,
        "disk",
        "tmp-size = \"1M\"\nbuild-dir = \"disk\"\ncores = 3",
        "dd if=/dev/zero of=/build/big bs=1M count=3 && mkdir $out && echo $FORGE_BUILD_CORES > $out/cores && df -k /build | tail -n 1 > $out/df",
    );
    env.ok(&["build", "disk"]);
    assert_eq!(
        std::fs::read_to_string(env.path("result/cores")).unwrap(),
        "3\n"
    );
    // The store's disk, not a tmpfs of the default 1 GiB (the sizes are
    // in KiB).
    let kib = |file: &str| -> u64 {
        let df = std::fs::read_to_string(env.path(file)).unwrap();
        df.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert!(kib("result/df") > 1 << 20, "{}", kib("result/df"));
    with_sandbox(
        &env,
        "small",
        "build-size = \"2M\"",
        "mkdir $out && df -k /build | tail -n 1 > $out/df",
    );
    env.ok(&["build", "small"]);
    assert_eq!(kib("result/df"), 2048);
    // `--cores` (FORGE_BUILD_CORES) is the default a recipe's `cores` wins over.
    with_sandbox(
        &env,
        "plain",
        "",
        "mkdir $out && echo $FORGE_BUILD_CORES > $out/cores",
    );
    env.ok(&["build", "--cores", "5", "plain"]);
    assert_eq!(
        std::fs::read_to_string(env.path("result/cores")).unwrap(),
        "5\n"
    );
}

#[test]
fn a_build_over_its_memory_limit_is_killed_as_root_and_warned_about_otherwise() {
    let env = Env::new();
    tools(&env);
    // dd's 200 MiB buffer, filled from /dev/zero, is over the limit.
    with_sandbox(
        &env,
        "mem",
        "memory = \"64M\"",
        "dd if=/dev/zero of=/dev/null bs=200M count=1 && mkdir $out",
    );
    let o = env.run(&["build", "mem"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if is_root() {
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(
                "error: mem-1: builder was killed for exceeding its memory limit (`memory` in [sandbox])"
            ),
            "{stderr}"
        );
    } else {
        // Not enforced, said once; the build runs.
        assert!(o.status.success(), "{stderr}");
        assert_eq!(
            stderr
                .matches("the memory limit of 64M is not enforced: the memory cgroup needs forge to run as root")
                .count(),
            1,
            "{stderr}"
        );
    }
}

fn is_root() -> bool {
    let id = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// A disk-backed `/build` is the host's disk, like the scratch
/// `/forge/store`: what the build writes there counts against
/// `--max-output-size` (review finding: `build-dir = "disk"` had no limit
/// at all, so a hostile recipe could fill the store's disk).
#[test]
fn a_disk_build_dir_is_bounded_by_the_output_size_limit() {
    let env = Env::new();
    tools(&env);
    with_sandbox(
        &env,
        "fill",
        "build-dir = \"disk\"\ntimeout = \"120s\"",
        "i=0; while :; do dd if=/dev/zero of=/build/f$i bs=1M count=1 2>/dev/null || { echo stopped at $i; df -k /build; exit 1; }; i=$((i+1)); done",
    );
    let o = env.run(&["build", "--no-link", "--max-output-size", "8M", "fill"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/build"), "{stderr}");
    assert!(stderr.contains("exceeds the limit of 8 MiB"), "{stderr}");
    assert!(!stderr.contains("timed out"), "{stderr}");
    // A build that leaves more than the limit in /build fails too, after
    // it ends, before anything is registered.
    with_sandbox(
        &env,
        "left",
        "build-dir = \"disk\"",
        "dd if=/dev/zero of=/build/big bs=1M count=6 2>/dev/null; echo hi > $out",
    );
    let o = env.run(&["build", "--no-link", "--max-output-size", "4M", "left"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exceeds the limit of 4 MiB"), "{stderr}");
}
