//! The exit codes of docs/cli.md (and forge-cli's `main`), those not pinned
//! elsewhere. Where the others are tested:
//!
//! - 0 with a closed stdout: `store_cli::closed_stdout_is_not_an_error`;
//! - 1: `bad_input::not_a_store_path_gets_a_hint` and many more;
//! - 2: `bad_input::not_a_store_path_gets_a_hint`;
//! - 3: `bad_input::corrupted_store_file_is_reported_with_both_hashes`
//!   (`store verify`), `bad_input::malformed_recipe_reports_file_line_and_column`
//!   (`recipe check`), `build::check_finds_a_non_deterministic_recipe`
//!   (`build --check`); `sandbox check` exits 3 only on a kernel missing a
//!   layer, and `sandbox::sandbox_check_reports_every_layer_on_this_kernel`
//!   pins the 0 of a complete one;
//! - a command's own code: `sandbox::exit_status_and_output_pass_through`
//!   (`sandbox run`), `build::shell_enters_the_recipes_sandbox`
//!   (`forge shell`); 137 at a timeout:
//!   `sandbox::an_infinite_loop_dies_at_the_timeout_with_all_its_descendants`
//!   and `sandbox::a_silent_build_dies_at_the_silence_timeout_while_a_chatty_one_lives`.

use crate::common::Env;

#[test]
fn help_and_version_exit_0() {
    let env = Env::new();
    for flag in ["--help", "--version"] {
        let out = env.run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(!out.stdout.is_empty(), "{flag} prints on stdout");
    }
}

#[test]
fn a_sandboxed_command_killed_by_a_signal_exits_128_plus_the_signal() {
    let Some(env) = crate::sandbox::ready() else {
        return;
    };
    let out = env.run(&[
        "sandbox",
        "run",
        "--ro",
        "/bin/busybox",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "kill -TERM $$",
    ]);
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_sandbox_that_cannot_be_set_up_exits_1_with_the_reason() {
    let env = Env::new();
    let missing = env.path("no-such-dir");
    let out = env.run(&[
        "sandbox",
        "run",
        "--ro",
        missing.to_str().unwrap(),
        "--",
        "/bin/true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
}
