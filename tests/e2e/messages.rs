//! The wording of messages a newcomer met (issue 10, item 7): each names
//! the file, recipe or path involved, says what to do, and says it once.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::build::{processes_with, recipe, start_build, tools};
use crate::common::{write, Env};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_failed_build_is_reported_once_with_a_hint_naming_its_recipe() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "bad", &[], "echo oops; exit 3");
    let out = env.run(&["build", "bad"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // The live line names the recipe; the message is the error's alone.
    assert!(err.lines().any(|l| l == "failed bad-1"), "{err}");
    assert_eq!(
        err.matches("builder failed with exit code 3").count(),
        1,
        "said more than once:\n{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(
        err.contains("hint: see the whole log with `forge log bad`"),
        "{err}"
    );
    assert!(!err.contains("RECIPE"), "a placeholder in:\n{err}");
    // --check of a recipe never built names it too.
    recipe(&env, "fresh", &[], "echo fresh > $out");
    let out = env.run(&["build", "--check", "fresh/recipe.toml"]);
    let err = stderr(&out);
    assert!(
        err.contains("hint: build it first (`forge build fresh`), then check"),
        "{err}"
    );
}

#[test]
fn a_relative_command_is_quoted_not_debug_printed() {
    let env = Env::new();
    tools(&env);
    write(
        &env.path("rel/recipe.toml"),
        "[recipe]\nname = \"rel\"\nversion = \"1\"\n\n[inputs]\nsh = { path = \"../tools\" }\n\n[build]\ncommand = [\"sh\", \"-c\", \"true\"]\n",
    );
    let out = env.run(&["build", "rel"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("must start with an absolute program path inside the sandbox, not `sh`"),
        "{err}"
    );
    assert!(!err.contains("Some("), "Rust debug text in:\n{err}");
}

#[test]
fn ctrl_c_of_the_process_group_is_an_interruption_with_exit_130() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "hang",
        &[],
        "mkdir $out; echo started; sleep 4244; echo never > $out/x",
    );
    // As a terminal does: forge in a process group of its own, and the
    // SIGINT sent to the whole group (forge and its sandboxes alike).
    let child = env
        .forge()
        .args(["build", "hang"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with("sleep 4244").is_empty() {
        assert!(Instant::now() < deadline, "the builder never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("error: interrupted"), "{err}");
    assert!(!err.contains("monitor"), "{err}");
    assert!(!err.contains("failed hang"), "{err}");
}

#[test]
fn a_missing_result_link_is_said_to_be_missing() {
    let env = Env::new();
    let out = env.run(&["log", "./result"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: ./result does not exist"), "{err}");
    assert!(
        err.contains("hint: a result link is made by `forge build"),
        "{err}"
    );
    assert!(!err.contains("not in the store"), "{err}");
}

#[test]
fn gc_dry_run_says_it_would_drop_a_stale_root_and_keeps_it() {
    let env = Env::new();
    let p = env.add_text("rooted", "x");
    let link = env.path("gone-link");
    std::os::unix::fs::symlink(&p, &link).unwrap();
    env.ok(&["store", "root", "add", "--indirect", link.to_str().unwrap()]);
    fs::remove_file(&link).unwrap();
    let dry = env.run(&["store", "gc", "--dry-run"]);
    let err = stderr(&dry);
    assert!(err.contains("would drop stale root"), "{err}");
    assert!(!err.contains("dropped"), "{err}");
    // It is still there for the real collection, which drops it.
    let real = env.run(&["store", "gc"]);
    assert!(
        stderr(&real).contains("dropped stale root"),
        "{}",
        stderr(&real)
    );
}

#[test]
fn keep_going_does_not_count_skipped_builds_as_failed() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "bad", &[], "exit 3");
    recipe(&env, "needs_bad", &["bad"], "cat $bad > $out");
    recipe(&env, "top", &["needs_bad"], "cat $needs_bad > $out");
    let out = env.run(&["build", "--keep-going", "top"]);
    let err = stderr(&out);
    assert!(
        err.contains("error: 1 build failed, 2 not built because of it:"),
        "{err}"
    );
}

#[test]
fn usage_lines_do_not_show_the_store_root_from_the_environment() {
    let env = Env::new();
    // env.forge() sets FORGE_ROOT.
    let out = env.run(&["build"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Usage: forge build <RECIPE>...\n"), "{err}");
    assert!(!err.contains("--root <DIR>"), "{err}");
}

#[test]
fn gc_says_it_waits_for_running_builds() {
    use std::io::BufRead;
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "slow",
        &[],
        "mkdir $out; echo started; sleep 4245; echo never > $out/x",
    );
    let mut build = start_build(&env, "slow");
    let mut gc = env
        .forge()
        .args(["store", "gc"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(gc.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(
        first,
        format!(
            "gc: waiting for 1 running build (pid {}) to finish",
            build.id()
        )
    );
    // It waits: the build's paths are safe until it ends.
    std::thread::sleep(Duration::from_millis(300));
    assert!(gc.try_wait().unwrap().is_none(), "gc did not wait");
    build.kill().unwrap();
    build.wait().unwrap();
    assert!(gc.wait().unwrap().success());
}
