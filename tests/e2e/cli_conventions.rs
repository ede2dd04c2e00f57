//! CLI conventions: shell completions, the manual page and the config file
//! with `forge config show`.

use std::process::Command;

use crate::common::{have_tool, write, Env};

#[test]
fn bash_completions_load_and_zsh_fish_name_build() {
    let env = Env::new();
    let bash = env.ok(&["completions", "bash"]);
    let script = env.path("forge.bash");
    write(&script, &bash);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p forge", script.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("forge"));
    for shell in ["zsh", "fish"] {
        let text = env.ok(&["completions", shell]);
        assert!(text.contains("build"), "{shell}: {text}");
    }
    let bad = env.run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_man_page_renders_and_names_every_command() {
    let env = Env::new();
    let roff = env.ok(&["man"]);
    assert!(roff.contains(".TH FORGE 1"), "{roff}");
    for sub in [
        "build",
        "shell",
        "lock",
        "log",
        "store",
        "hash",
        "nar",
        "recipe",
        "sandbox",
        "prefetch",
        "config",
        "cache",
        "completions",
        "man",
    ] {
        assert!(
            roff.contains(&format!("forge\\-{sub}(1)")),
            "no {sub} in {roff}"
        );
    }
    assert!(!roff.contains("__fetch"), "hidden commands stay hidden");
    env.ok(&["man", "-o", "pages"]);
    for page in [
        "forge.1",
        "forge-build.1",
        "forge-store-gc.1",
        "forge-config-show.1",
    ] {
        assert!(env.path("pages").join(page).is_file(), "{page} missing");
    }
    let page = env.path("pages/forge-store-gc.1");
    let rendered = if have_tool("man") {
        Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(&page)
            .env("MANWIDTH", "100")
            .output()
            .unwrap()
    } else {
        assert!(have_tool("groff"), "neither man nor groff is installed");
        Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(&page)
            .output()
            .unwrap()
    };
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("FORGE-STORE-GC(1)"), "{text}");
    assert!(text.contains("--keep-outputs"), "{text}");
}

#[test]
fn config_show_tells_where_each_value_came_from() {
    let env = Env::new();
    let user = env.path("config/forge/config.toml");
    write(
        &user,
        "jobs = 3\nkeep-outputs = true\nsubstituters = [\"https://cache.example.org\"]\n",
    );
    let shown = env.ok(&["config", "show"]);
    let user_s = user.display().to_string();
    assert!(shown.contains(&format!("jobs = 3  # {user_s}")), "{shown}");
    assert!(shown.contains("cores = "), "{shown}");
    assert!(shown.contains("  # env FORGE_ROOT"), "{shown}");
    assert!(shown.contains("locked = false  # default"), "{shown}");
    assert!(
        shown.contains(&format!(
            "substituters = [\"https://cache.example.org\"]  # {user_s}"
        )),
        "{shown}"
    );
    // The environment beats the file, a flag beats the environment.
    let out = env
        .forge()
        .args(["--root", "/srv/flag-root", "config", "show", "--json"])
        .env("FORGE_JOBS", "5")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["files"][0], user_s.as_str());
    let s = &json["settings"];
    assert_eq!(
        (s["jobs"]["value"].as_u64(), s["jobs"]["source"].as_str()),
        (Some(5), Some("env"))
    );
    assert_eq!(s["jobs"]["var"], "FORGE_JOBS");
    assert_eq!(s["keep-outputs"]["value"], true);
    assert_eq!(s["keep-outputs"]["file"], user_s.as_str());
    assert_eq!(s["root"]["value"], "/srv/flag-root");
    assert_eq!(s["root"]["flag"], "--root");
    assert_eq!(s["cores"]["source"], "default");
    assert_eq!(
        s["substituters"]["value"][0], "https://cache.example.org",
        "{s}"
    );

    // FORGE_CONFIG names the one file read.
    let named = env.path("ci.toml");
    write(&named, "keep-going = true\n");
    let out = env
        .forge()
        .args(["config", "show", "--json"])
        .env("FORGE_CONFIG", &named)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 1);
    assert_eq!(json["settings"]["keep-going"]["value"], true);
    assert_eq!(json["settings"]["jobs"]["source"], "default");
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let env = Env::new();
    let user = env.path("config/forge/config.toml");
    write(&user, "jobs = 2\nkeep-ouputs = true\n");
    let out = env.run(&["config", "show"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: {}:2:1: unknown key `keep-ouputs`",
            user.display()
        )),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `keep-outputs`?"), "{err}");
    // Every command that reads the configuration refuses a broken one.
    let out = env.run(&["store", "gc", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    // Those that use no setting are not stopped by it.
    let out = env.run(&["hash", "file", user.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    write(&user, "\n\njobs = \"many\"\n");
    let err = String::from_utf8_lossy(&env.run(&["config", "show"]).stderr).into_owned();
    assert!(
        err.contains(&format!(
            "error: {}:3:8: invalid type: string \"many\"",
            user.display()
        )),
        "{err}"
    );

    std::fs::remove_file(&user).unwrap();
    let out = env
        .forge()
        .args(["config", "show"])
        .env("FORGE_KEEP_GOING", "perhaps")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("error: environment variable FORGE_KEEP_GOING=\"perhaps\": expected 1, true, yes, on or 0, false, no, off"),
        "{err}"
    );
    let missing = env.path("nope.toml");
    let out = env
        .forge()
        .args(["config", "show"])
        .env("FORGE_CONFIG", &missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: reading the config file {} (named by FORGE_CONFIG)",
            missing.display()
        )),
        "{err}"
    );
}
