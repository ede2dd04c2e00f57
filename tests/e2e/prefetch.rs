//! `forge prefetch`: one download into the store, a printed input line that
//! a recipe then builds with, without fetching again.

use std::fs;
use std::process::Command;

use crate::build::tools;
use crate::common::{demo_tarball, write, Env};

#[test]
fn a_prefetched_archive_builds_from_the_printed_line_without_fetching_again() {
    let env = Env::new();
    tools(&env);
    let tarball = demo_tarball(&env);
    let url = format!("file://{}", tarball.display());
    let out = env.run(&["prefetch", &url, "--unpack", "tar.gz"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let sha = lines.next().unwrap();
    let sha256sum = Command::new("sha256sum").arg(&tarball).output().unwrap();
    assert_eq!(
        sha,
        String::from_utf8_lossy(&sha256sum.stdout)
            .split_whitespace()
            .next()
            .unwrap(),
        "the hash of the file as downloaded, as a recipe pins it"
    );
    let line = lines.next().unwrap();
    assert_eq!(
        line,
        format!("src = {{ fetch = \"{url}\", sha256 = \"{sha}\", unpack = \"tar.gz\" }}")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("added: /forge/store/"), "{stderr}");

    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "prefetch", &url, "--unpack", "tar.gz", "--name", "tarball", "--json",
    ]))
    .unwrap();
    assert_eq!(json["sha256"], sha);
    assert_eq!(json["name"], "tarball");
    assert_eq!(json["unpack"], "tar.gz");
    assert_eq!(json["url"], url.as_str());
    assert!(json["input_line"]
        .as_str()
        .unwrap()
        .starts_with("tarball = { fetch = "));
    let store_path = json["store_path"].as_str().unwrap().to_owned();

    // The printed line, pasted into a recipe: it builds, and nothing is
    // downloaded (the URL no longer even leads anywhere).
    fs::rename(&tarball, env.path("moved.tar.gz")).unwrap();
    write(
        &env.path("demo/recipe.toml"),
        format!(
            "[recipe]\nname = \"demo\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n{line}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"cp -r $src $out\"]\n"
        ),
    );
    let out = env.run(&["build", "--json", "demo"]);
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{events}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !events.contains("\"event\":\"fetching\""),
        "fetched again: {events}"
    );
    assert_eq!(
        fs::read_to_string(env.path("result/hello.txt")).unwrap(),
        "hi from a tarball\n"
    );
    env.ok(&["store", "info", &store_path]);
}

#[test]
fn a_plain_file_prefetch_and_a_wrong_url() {
    let env = Env::new();
    write(&env.path("notes.txt"), "plain\n");
    let url = format!("file://{}", env.path("notes.txt").display());
    let first = env.run(&["prefetch", &url]);
    assert!(first.status.success());
    let line = String::from_utf8_lossy(&first.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        line.starts_with(&format!("src = {{ fetch = \"{url}\", sha256 = \"")),
        "{line}"
    );
    assert!(!line.contains("unpack"), "{line}");
    let again = env.run(&["prefetch", &url]);
    assert!(
        String::from_utf8_lossy(&again.stderr).starts_with("already in the store: /forge/store/"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let missing = env.path("nope.tar.gz");
    let out = env.run(&["prefetch", &format!("file://{}", missing.display())]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot read {} (from file://{})",
            missing.display(),
            missing.display()
        )),
        "{err}"
    );
    let out = env.run(&["prefetch", "ftp://example.org/x.tar.gz"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: cannot fetch ftp://example.org/x.tar.gz: unsupported scheme (expected https://, http:// or file://)")
            && err.contains("hint: fetch URLs are https://…, http://… or file:///absolute/path"),
        "{err}"
    );
    let out = env.run(&["prefetch", &url, "--unpack", "rar"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown unpack format; expected one of tar, tar.gz"));
    let out = env.run(&["prefetch", &url, "--name", "PATH"]);
    assert_eq!(out.status.code(), Some(2));
}
