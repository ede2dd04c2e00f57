use super::*;
use forge_core::diag::Hint;
use proptest::prelude::*;

#[test]
fn the_embedded_profiles_hold_the_defaults() {
    let h = Profile::hermetic();
    assert_eq!(h.name, "hermetic");
    assert!(!h.network && h.host_files.is_empty());
    assert_eq!(
        (h.uid, h.gid),
        (crate::spec::BUILD_UID, crate::spec::BUILD_GID)
    );
    assert_eq!(h.hostname, "localhost");
    assert_eq!(h.enforcement, Enforcement::Hard);
    assert_eq!(h.limits.max_processes, 1024);
    assert_eq!(h.limits.max_open_files, 4096);
    assert_eq!(h.limits.tmp_size, 1 << 30);
    assert_eq!(h.limits.wall_timeout, None);
    for (k, v) in [
        ("HOME", "/homeless-shelter"),
        ("TMPDIR", "/tmp"),
        ("TZ", "UTC"),
        ("LANG", "C.UTF-8"),
        ("SOURCE_DATE_EPOCH", "1"),
        ("PATH", "/bin:/usr/bin"),
    ] {
        assert_eq!(h.env.get(k).map(String::as_str), Some(v), "{k}");
    }
    let f = Profile::fixed_output();
    assert_eq!(f.name, "fixed-output");
    assert!(f.network);
    assert_eq!(
        f.host_files,
        [
            PathBuf::from("/etc/resolv.conf"),
            "/etc/ssl/certs".into(),
            "/etc/pki/tls/certs".into()
        ]
    );
    // Only the network differs; the rest is the same hermetic build.
    assert_eq!(f.env, h.env);
    assert_eq!(f.limits, h.limits);
}

#[test]
fn the_spec_api_comes_from_the_profiles() {
    let s = SandboxSpec::new(vec!["/bin/sh".into()]);
    assert_eq!(s, Profile::hermetic().spec(vec!["/bin/sh".into()]));
    assert_eq!(s.env, crate::spec::default_env());
    assert_eq!(Limits::default(), Profile::hermetic().limits);
    let want: Vec<_> = ["/etc/resolv.conf", "/etc/ssl/certs", "/etc/pki/tls/certs"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .map(PathBuf::from)
        .collect();
    let got: Vec<_> = crate::spec::network_binds()
        .into_iter()
        .map(|b| {
            assert!(!b.writable && b.host == b.inside);
            b.host
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn the_spec_defaults_are_the_builtin_profiles() {
    // spec.rs holds the defaults as plain values; the embedded files must
    // say the same.
    let h = Profile::hermetic();
    let s = SandboxSpec::new(vec!["/bin/sh".into()]);
    assert_eq!(
        (
            &s.env,
            s.network,
            &s.hostname,
            s.uid,
            s.gid,
            &s.limits,
            s.enforcement
        ),
        (
            &h.env,
            h.network,
            &h.hostname,
            h.uid,
            h.gid,
            &h.limits,
            h.enforcement
        )
    );
    assert!(h.host_files.is_empty() && s.binds.is_empty());
    assert_eq!(h.hostname, crate::spec::HOSTNAME);
    let f = Profile::fixed_output();
    let files: Vec<PathBuf> = crate::spec::NETWORK_HOST_FILES
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(f.host_files, files);
    assert_eq!(f.host_binds(), crate::spec::network_binds());
}

#[test]
fn unknown_profiles_and_their_hint() {
    let e = Profile::resolve("nope").unwrap_err();
    assert_eq!(e.to_string(), "unknown sandbox profile \"nope\"");
    assert_eq!(
        e.hint().as_deref(),
        Some("use hermetic, fixed-output, or the path of a .toml file")
    );
}

#[test]
fn apply_keeps_binds_and_sets_the_rest() {
    let mut s = SandboxSpec::new(vec!["/bin/sh".into()]);
    s.binds.push(Bind {
        host: "/h".into(),
        inside: "/in".into(),
        writable: true,
    });
    s.env.insert("EXTRA".into(), "x".into());
    let mut p = Profile::fixed_output().clone();
    p.host_files = vec![std::env::temp_dir()];
    p.hostname = "fetcher".into();
    p.apply(&mut s);
    assert!(s.network);
    assert_eq!(s.hostname, "fetcher");
    assert!(
        !s.env.contains_key("EXTRA"),
        "the profile's env is complete"
    );
    assert_eq!(s.binds.len(), 2);
    assert_eq!(s.binds[1].inside, std::env::temp_dir());
    p.apply(&mut s);
    assert_eq!(s.binds.len(), 2, "host files are added once");
}

/// The error as the CLI shows it: the message, then the hint's line.
fn err(text: &str) -> String {
    let e = Profile::parse(text, "p.toml").unwrap_err();
    match e.hint() {
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

#[test]
fn errors_name_the_file_line_and_column() {
    let ok = HERMETIC_TOML;
    // An unknown key, with the known ones as a hint.
    let bad = ok.replace("network = false", "network = false\nnetwrok = true");
    let line = bad.lines().position(|l| l.starts_with("netwrok")).unwrap() + 1;
    let e = err(&bad);
    assert!(
        e.starts_with(&format!("p.toml:{line}:1: unknown key `netwrok`\nhint: ")),
        "{e}"
    );
    assert!(e.contains("`host-files`"), "{e}");
    // A bad value points at the value.
    let bad = ok.replace("hostname = \"localhost\"", "hostname = \"-x\"");
    let line = bad.lines().position(|l| l.starts_with("hostname")).unwrap() + 1;
    assert!(err(&bad).starts_with(&format!(
        "p.toml:{line}:12: invalid hostname \"-x\"\nhint: "
    )));
    let bad = ok.replace("tmp-size = \"1G\"", "tmp-size = \"1Q\"");
    let line = bad.lines().position(|l| l.starts_with("tmp-size")).unwrap() + 1;
    assert!(err(&bad).starts_with(&format!("p.toml:{line}:12: invalid size \"1Q\"")));
    let bad = ok.replace("uid = 1000", "uid = -1");
    assert!(err(&bad).contains(": uid must be between 0 and 4294967294, got -1"));
    let bad = ok.replace("enforcement = \"hard\"", "enforcement = \"soft\"");
    assert!(err(&bad).contains("unknown enforcement \"soft\"\nhint: use \"hard\""));
    let bad = ok.replace("host-files = []", "host-files = [\"etc/x\"]");
    assert!(err(&bad).contains("host file \"etc/x\" must be an absolute path"));
    let bad = ok.replace("max-processes = 1024", "max-processes = 0");
    assert!(err(&bad).contains("max-processes must be a positive integer, got 0"));
    // The earliest problem wins.
    let bad = ok
        .replace("uid = 1000", "uid = -1")
        .replace("hostname = \"localhost\"", "hostname = \"\"");
    assert!(err(&bad).contains("invalid hostname"), "{}", err(&bad));
    // Syntax, a wrong type, a missing table.
    assert!(
        err("[profile\n").starts_with("p.toml:1:"),
        "{}",
        err("[profile\n")
    );
    assert!(err("[profile\n").contains("invalid TOML"));
    let bad = ok.replace("network = false", "network = \"no\"");
    assert!(err(&bad).contains("invalid type"), "{}", err(&bad));
    assert!(err("").contains("missing field `profile`"), "{}", err(""));
}

#[test]
fn sizes_read_back_in_their_shortest_exact_form() {
    for (n, s) in [
        (1 << 30, "1G"),
        (3 << 20, "3M"),
        (3072, "3K"),
        (1536, "1536"),
        (1000, "1000"),
        (5 << 40, "5T"),
    ] {
        assert_eq!(format_size(n), s);
        assert_eq!(parse_size(s), Some(n));
    }
    assert_eq!(parse_size("1g"), None);
    assert_eq!(parse_size("99999999999999T"), None, "overflow");
}

fn arb_profile() -> impl Strategy<Value = Profile> {
    let limits = (
        1u64..1 << 40,
        1u64..1 << 20,
        1u64..1 << 50,
        proptest::option::of(1u64..1 << 32),
        proptest::option::of(1u64..1 << 32),
    )
        .prop_map(|(p, f, t, w, s)| Limits {
            max_processes: p,
            max_open_files: f,
            tmp_size: t,
            build_size: None,
            memory: None,
            wall_timeout: w.map(Duration::from_secs),
            silence_timeout: s.map(Duration::from_secs),
        });
    (
        "[a-z0-9-]{1,20}",
        "\\PC{0,30}",
        any::<bool>(),
        proptest::collection::vec("(/[a-z0-9_ ]{1,6}){1,4}", 0..4),
        "[a-z0-9][a-zA-Z0-9.-]{0,20}",
        0u32..u32::MAX,
        0u32..u32::MAX,
        any::<bool>(),
        limits,
        proptest::collection::btree_map("[^=\\x00]{1,10}", "[^\\x00]{0,20}", 0..6),
    )
        .prop_map(
            |(name, description, network, files, hostname, uid, gid, hard, limits, env)| Profile {
                name,
                description,
                network,
                host_files: files.into_iter().map(PathBuf::from).collect(),
                hostname,
                uid,
                gid,
                enforcement: if hard {
                    Enforcement::Hard
                } else {
                    Enforcement::BestEffort
                },
                limits,
                env,
            },
        )
}

proptest! {
    #[test]
    fn printed_profiles_parse_back_equal(p in arb_profile()) {
        let text = p.to_toml();
        let again = Profile::parse(&text, "gen.toml")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&again, &p);
        prop_assert_eq!(again.to_toml(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Profile::parse(&text, "any.toml");
    }

    #[test]
    fn mangled_profiles_never_panic(cut in 0usize..2000, junk in "[\\[\\]=\"a-z0-9 \\n.-]{0,20}") {
        let mut text = HERMETIC_TOML.to_owned();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &junk);
        let _ = Profile::parse(&text, "mangled.toml");
    }
}
