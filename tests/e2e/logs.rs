//! `forge log`'s header and `forge shell`'s build script and PATH lookup
//! (issue 10, item 8).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::build::{recipe, tools};
use crate::common::{write, Env};

fn run(env: &Env, args: &[&str]) -> (String, String, Option<i32>) {
    let out = env.run(args);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn a_log_has_a_header_naming_its_build_and_says_when_it_is_empty() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "talk", &[], "echo hello; echo x > $out");
    recipe(&env, "quiet", &[], "echo x > $out");
    recipe(&env, "bad", &[], "exit 3");
    env.ok(&["build", "--no-link", "talk"]);
    let (out, err, code) = run(&env, &["log", "talk"]);
    assert_eq!(code, Some(0), "{err}");
    // stdout is the log, byte for byte; the header is on stderr.
    assert_eq!(out, "hello\n");
    assert!(
        err.starts_with("log of talk-1 (talk/recipe.toml), derivation blake3:"),
        "{err}"
    );
    assert!(err.contains("; the builder succeeded\n"), "{err}");
    assert!(err.contains("\nbuilt 20"), "a date: {err}");
    assert!(!err.contains("empty"), "{err}");
    env.ok(&["build", "--no-link", "quiet"]);
    let (out, err, _) = run(&env, &["log", "quiet"]);
    assert_eq!(out, "");
    assert!(
        err.contains("the log is empty: the builder printed nothing"),
        "{err}"
    );
    let _ = env.run(&["build", "bad"]);
    let (_, err, _) = run(&env, &["log", "bad"]);
    assert!(err.contains("the builder failed with exit code 3"), "{err}");
    // -q: the log alone.
    let (_, err, _) = run(&env, &["-q", "log", "talk"]);
    assert_eq!(err, "");
}

#[test]
fn the_log_of_a_result_after_an_early_cutoff_says_which_build_made_it() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "same", &[], "echo same > $out");
    env.ok(&["build", "same"]);
    // Another derivation (the script differs) with the same output bytes.
    recipe(&env, "same", &[], "echo same >$out");
    env.ok(&["build", "same"]);
    let (_, err, code) = run(&env, &["log", "./result"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("-same-1 was made by this build; the recipe's latest derivation (blake3:"),
        "{err}"
    );
    assert!(
        err.contains("gave the same bytes, its log is `forge log same`"),
        "{err}"
    );
    // The recipe's own log is the latest build's: no such line.
    let (_, err, _) = run(&env, &["log", "same"]);
    assert!(!err.contains("was made by"), "{err}");
}

#[test]
fn a_shell_has_the_build_script_and_finds_commands_on_the_sandbox_path() {
    let env = Env::new();
    // An input with a bin/ directory, so that its programs are on PATH.
    let sh = env.path("bintools/bin/sh");
    fs::create_dir_all(sh.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &sh).unwrap();
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o755)).unwrap();
    write(
        &env.path("s/recipe.toml"),
        "[recipe]\nname = \"s\"\nversion = \"1\"\n\n[inputs]\nt = { path = \"../bintools\" }\n\n[build]\ncommand = [\"${t}/bin/sh\", \"-c\", 'echo built-by-hand > $out']\n",
    );
    // `sh` has no slash: found on the sandbox's PATH (the input's bin/).
    let (out, err, code) = run(
        &env,
        &[
            "shell",
            "s",
            "--",
            "sh",
            "-c",
            "/forge-shell/build && read v < $out && echo got-$v",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "got-built-by-hand\n", "{err}");
    // The script is the build's command, quoted for sh.
    let (out, _, _) = run(
        &env,
        &[
            "shell",
            "s",
            "--",
            "sh",
            "-c",
            "while read l; do echo \"$l\"; done < /forge-shell/build",
        ],
    );
    assert!(
        out.contains("# The build command of s-1 (derivation blake3:"),
        "{out}"
    );
    assert!(
        out.contains("/bin/sh -c 'echo built-by-hand > $out'"),
        "{out}"
    );
    // Nothing was registered.
    let registered = fs::read_dir(env.root().join("store"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with("-s-1"));
    assert!(!registered, "a shell's build registered its output");
    let (_, err, code) = run(&env, &["shell", "s", "--", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error: `nosuch` is not on the sandbox's PATH (/forge/store/"),
        "{err}"
    );
}
