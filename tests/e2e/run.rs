//! `forge run`: an output run on the host, with the store mounted at
//! `/forge/store` in a view of the host; outputs that name their own store
//! path work, the exit status passes through, and the errors say what to do.
//!
//! Meaningful as the unprivileged CI user on a host without `/forge`: the
//! tests check that the logical path the command sees is not there outside.

use std::path::Path;
use std::process::Output;

use crate::build::{recipe, tools};
use crate::common::Env;

/// `self`: bin/a, a script that runs its own store path's bin/sh, bin/b a
/// symlink to bin/a by its store path, and bin/sh (busybox).
fn built_self(env: &Env) -> String {
    tools(env);
    recipe(
        env,
        "self",
        &[],
        r#"mkdir -p $out/bin
cp ${sh}/sh $out/bin/sh
printf '#!%s/bin/sh\necho "hello from $0"\nexec %s/bin/sh -c "echo self-ok"\n' $out $out > $out/bin/a
chmod +x $out/bin/a
ln -s $out/bin/a $out/bin/b"#,
    );
    env.ok(&["build", "self"]).trim().to_owned()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn an_output_that_names_its_own_store_path_runs() {
    let env = Env::new();
    let out = built_self(&env);
    assert!(out.starts_with("/forge/store/"), "{out}");
    // What the command sees at its logical path is not on the host (unless
    // the host has a store there: then it is another one's).
    if !Path::new("/forge").exists() {
        assert!(!Path::new(&out).exists());
    }
    let o = env.run(&["run", "./result", "--", "b"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout, format!("hello from {out}/bin/b\nself-ok\n"));
    // The logical path as an argument, the store read-only, the cwd kept.
    let check = format!(
        "test -x {out}/bin/a && echo seen; touch {out}/x 2>/dev/null || echo read-only; pwd"
    );
    let o = env.run(&["run", &out, "--", "sh", "-c", &check]);
    let cwd = std::fs::canonicalize(env.dir.path()).unwrap();
    assert_eq!(text(&o).0, format!("seen\nread-only\n{}\n", cwd.display()));
    // The caller's own uid, mapped to itself (in a user namespace unless
    // root).
    let id = std::process::Command::new("id").arg("-u").output().unwrap();
    let o = env.run(&["run", "./result", "--", "id", "-u"]);
    assert_eq!(text(&o).0, String::from_utf8_lossy(&id.stdout));
    // A program path inside the output is run itself.
    let o = env.run(&["run", &format!("{out}/bin/a")]);
    assert_eq!(text(&o).0, format!("hello from {out}/bin/a\nself-ok\n"));
}

#[test]
fn the_exit_status_passes_through() {
    let env = Env::new();
    built_self(&env);
    let o = env.run(&["run", "./result", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{:?}", text(&o));
    let o = env.run(&["run", "./result", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15), "{:?}", text(&o));
}

#[test]
fn a_recipe_with_one_program_runs_it_by_default() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "one",
        &[],
        r#"mkdir -p $out/bin
printf '#!%s/sh\necho "the one: $*"\n' ${sh} > $out/bin/one
chmod +x $out/bin/one"#,
    );
    // Not built yet: says so, and how to build it.
    let o = env.run(&["run", "one"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("error: one has not been built in the store at "),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: build it first: `forge build one` (forge run does not build)"),
        "{stderr}"
    );
    env.ok(&["build", "one"]);
    assert_eq!(env.ok(&["run", "./result"]), "the one: \n");
    // The recipe names its last build's output; the arguments follow `--`
    // only with a command, so the default program is named.
    assert_eq!(
        env.ok(&["run", "one/recipe.toml", "--", "one", "x", "y"]),
        "the one: x y\n"
    );
    assert_eq!(env.ok(&["run", "one"]), "the one: \n");
}

#[test]
fn what_cannot_be_run_is_explained() {
    let env = Env::new();
    let out = built_self(&env);
    let o = env.run(&["run", "./result"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains(&format!(
            "error: {out}/bin has 3 programs (a, b, sh); forge run does not know which one to run"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: name the one to run: `forge run ./result -- a ARGS…`"),
        "{stderr}"
    );
    let o = env.run(&["run", "/etc/passwd"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("error: /etc/passwd is not in the store"),
        "{stderr}"
    );
    let tools = env.ok(&["store", "add", env.path("tools").to_str().unwrap()]);
    let o = env.run(&["run", tools.trim()]);
    let (_, stderr) = text(&o);
    assert!(
        stderr.contains(&format!(
            "error: {} has no programs in bin/ to run",
            tools.trim()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: name the command to run: `forge run "),
        "{stderr}"
    );
    let o = env.run(&["run", "./result", "--", "no-such-command"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr
            .contains("error: cannot run `no-such-command` in the view: No such file or directory"),
        "{stderr}"
    );
}
