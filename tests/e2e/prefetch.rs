//! `forge prefetch`: one download into the store, a printed input line that
//! a recipe then builds with, without fetching again.

use std::fs;
use std::process::Command;

use crate::build::tools;
use crate::common::{demo_tarball, write, Env};

/// Builds recipe `name` made of the `tools` shell, the pasted input `line`
/// and `script`; asserts it builds without fetching anything.
fn build_pasted(env: &Env, name: &str, line: &str, script: &str) {
    write(
        &env.path(&format!("{name}/recipe.toml")),
        format!(
            "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n{line}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"{script}\"]\n"
        ),
    );
    let out = env.run(&["build", "--json", name]);
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
}

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
    build_pasted(&env, "demo", line, "cp -r $src $out");
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

/// `deb:NAME` against the real archive apt is configured with: the package
/// found in the verified indices, its `.deb` checked against the SHA-256
/// they list, unpacked; the printed line builds.
#[test]
fn a_debian_package_is_found_in_the_signed_indices_and_builds_from_the_printed_line() {
    if !crate::common::oracle_present("gpgv", crate::common::have_tool("gpgv")) {
        return;
    }
    let env = Env::new();
    tools(&env);
    let out = env.run(&["prefetch", "deb:hello", "--suite", "bookworm", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = json["url"].as_str().unwrap();
    assert!(
        url.contains("/pool/main/h/hello/hello_") && url.ends_with("_amd64.deb"),
        "{url}"
    );
    assert_eq!(json["unpack"], "deb");
    assert_eq!(json["package"]["name"], "hello");
    assert!(json["package"]["suite"]
        .as_str()
        .unwrap()
        .starts_with("bookworm"));
    let version = json["package"]["version"].as_str().unwrap().to_owned();
    assert!(
        url.contains(&format!("/hello_{version}_")),
        "{url} {version}"
    );
    let store_path = json["store_path"].as_str().unwrap();
    let physical = env
        .root()
        .join("store")
        .join(store_path.trim_start_matches("/forge/store/"));
    let elf = fs::read(physical.join("usr/bin/hello")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "the .deb's data, unpacked");

    // Again, an exact version: found, and already in the store.
    let again: serde_json::Value = serde_json::from_str(&env.ok(&[
        "prefetch",
        &format!("deb:hello={version}"),
        "--suite",
        "bookworm",
        "--name",
        "hello",
        "--json",
    ]))
    .unwrap();
    assert_eq!(again["store_path"], store_path);
    let line = again["input_line"].as_str().unwrap().to_owned();
    assert!(line.starts_with("hello = { fetch = "), "{line}");

    // The line in a recipe: the build sees the package's files.
    build_pasted(
        &env,
        "deb",
        &line,
        "cp $hello/usr/share/doc/hello/copyright $out",
    );
    assert!(fs::read_to_string(env.path("result"))
        .unwrap()
        .contains("hello"));

    // No such package, no such version: said, naming the suites.
    for spec in ["deb:no-such-package-forge", "deb:hello=0.0-0"] {
        let out = env.run(&["prefetch", spec, "--suite", "bookworm"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no package") && err.contains("bookworm-"),
            "{err}"
        );
    }
}

/// `pypi:`, `crate:` and `npm:` against the real registries: each artefact
/// is pinned to the hash its registry publishes (sha512 for npm), unpacked
/// as its kind is.
#[test]
fn registry_artefacts_are_pinned_to_the_hash_their_registry_publishes() {
    let env = Env::new();
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&env.ok(&[&["prefetch"], args, &["--json"]].concat())).unwrap()
    };
    // PyPI: the sdist by default (unpacked), a wheel when asked (kept).
    let sdist = json(&["pypi:attrs==25.3.0"]);
    assert_eq!(
        sdist["sha256"],
        "75d7cefc7fb576747b2c81b4442d4d4a1ce0900973527c011d1030fd3bf4af1b"
    );
    assert_eq!(sdist["unpack"], "tar.gz");
    assert_eq!(sdist["registry"]["file_name"], "attrs-25.3.0.tar.gz");
    assert!(sdist["registry"]["other_files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "attrs-25.3.0-py3-none-any.whl"));
    let wheel = json(&[
        "pypi:attrs==25.3.0",
        "--file",
        "attrs-25.3.0-py3-none-any.whl",
        "--name",
        "attrs",
    ]);
    assert_eq!(
        wheel["sha256"],
        "427318ce031701fea540783410126f03899a97ffc6f61596ad581ac2e40e3bc3"
    );
    assert!(wheel["unpack"].is_null());
    assert!(wheel["input_line"]
        .as_str()
        .unwrap()
        .starts_with("attrs = { fetch = \"https://files.pythonhosted.org/"));
    // crates.io: the .crate by its index checksum, unpacked.
    let krate = json(&["crate:log@0.4.22"]);
    assert_eq!(
        krate["url"],
        "https://static.crates.io/crates/log/log-0.4.22.crate"
    );
    let path = krate["store_path"].as_str().unwrap();
    let physical = env
        .root()
        .join("store")
        .join(path.trim_start_matches("/forge/store/"));
    assert!(physical.join("Cargo.toml").is_file(), "{path}");
    // npm: sha512, the key of the printed line too.
    let pad = json(&["npm:left-pad@1.3.0"]);
    assert_eq!(
        pad["sha256"],
        "5c8e4c3f354d0298c0ca1433a615fc06498ab0a5310f82ddc8adb88997901a29c137dc93413ddb165081cbf695c761eb35ca901ac768b7c821ae3cabbcc0a810"
    );
    assert!(
        pad["input_line"]
            .as_str()
            .unwrap()
            .contains(", sha512 = \""),
        "{}",
        pad["input_line"]
    );
    // Not there: the registry is named.
    let out = env.run(&["prefetch", "pypi:attrs==0.0.0-no-such"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("https://pypi.org/simple has no attrs 0.0.0-no-such"),
        "{err}"
    );
    // Options of one kind given to another: refused, not ignored.
    for (args, want) in [
        (
            &["prefetch", "crate:log@0.4.22", "--file", "x"][..],
            "--file applies to pypi",
        ),
        (
            &["prefetch", "npm:left-pad@1.3.0", "--suite", "bookworm"][..],
            "--suite applies to deb",
        ),
        (
            &["prefetch", "pypi:attrs", "--json"][..],
            "expected pypi:NAME==VERSION",
        ),
    ] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// A mirror that lists one hash and serves other bytes: refused, naming the
/// URL and both hashes; nothing registered under the listed hash.
#[test]
fn a_registry_mirror_serving_other_bytes_than_it_lists_is_refused() {
    let env = Env::new();
    let mirror = env.path("mirror");
    write(
        &mirror.join("files/demo-1.0.tar.gz"),
        b"not the listed bytes",
    );
    let listed = "0000000000000000000000000000000000000000000000000000000000000001";
    let server = crate::cache::static_server::StaticServer::start(&mirror);
    let page = format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "files": [{{"filename": "demo-1.0.tar.gz", "url": "{}/files/demo-1.0.tar.gz", "hashes": {{"sha256": "{listed}"}}, "yanked": false}}]}}"#,
        server.url
    );
    write(&mirror.join("simple/demo/index.html"), page);
    let out = env
        .forge()
        .args(["prefetch", "pypi:demo==1.0"])
        .env("FORGE_PYPI_URL", format!("{}/simple", server.url))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hash mismatch for")
            && err.contains("/files/demo-1.0.tar.gz")
            && err.contains(listed),
        "{err}"
    );
    let store = env.root().join("store");
    let kept: Vec<String> = fs::read_dir(&store)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(!kept.iter().any(|n| n.contains("demo-1.0")), "{kept:?}");
}
