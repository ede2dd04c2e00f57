use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::diag::{Hint, Kind};

fn defaults() -> Settings {
    Settings::defaults(&Defaults {
        cores: 8,
        root: PathBuf::from("/home/u/.local/share/forge"),
    })
}

#[test]
fn a_full_file_parses() {
    let text = r#"
jobs = 3
cores = 2
root = "/srv/forge"
locked = true
keep-outputs = true
keep-going = false
substituters = ["https://cache.example.org"]
trusted-public-keys = ["cache.example.org-1:ws/0vW8CQHWh36rHlTEdNo9fpw1WACYX+wK5EhC98MQ="]
"#;
    let c = ConfigFile::parse(text, "/etc/forge/config.toml").unwrap();
    assert_eq!(c.jobs, NonZeroUsize::new(3));
    assert_eq!(c.root, AbsolutePath::new("/srv/forge"));
    assert_eq!(c.keep_outputs, Some(true));
    assert_eq!(
        c.substituters.as_deref(),
        Some(&["https://cache.example.org".to_owned()][..])
    );
    assert_eq!(ConfigFile::parse(&c.to_text(), "x").unwrap(), c);
}

#[test]
fn an_unknown_key_names_file_line_and_the_key_meant() {
    let e = ConfigFile::parse(
        "jobs = 2\nkeep-ouputs = true\n",
        "/home/u/.config/forge/config.toml",
    )
    .unwrap_err();
    assert_eq!(e.kind, Kind::UnknownKey);
    assert_eq!(
        e.to_string(),
        "/home/u/.config/forge/config.toml:2:1: unknown key `keep-ouputs`"
    );
    let hint = e.hint().unwrap();
    assert!(hint.starts_with("did you mean `keep-outputs`?"), "{hint}");
    assert!(hint.contains("`trusted-public-keys`"), "{hint}");
}

#[test]
fn a_bad_type_names_file_and_line() {
    let e = ConfigFile::parse("\njobs = \"four\"\n", "c.toml").unwrap_err();
    assert_eq!(e.kind, Kind::WrongType);
    assert_eq!((e.file.as_str(), e.line), ("c.toml", 2));
    assert!(
        e.message.contains("invalid type: string \"four\""),
        "{}",
        e.message
    );
    let e = ConfigFile::parse("jobs = 0\n", "c.toml").unwrap_err();
    assert_eq!((e.kind, e.line), (Kind::InvalidValue, 1));
    let e = ConfigFile::parse("root = \"relative/dir\"\n", "c.toml").unwrap_err();
    assert_eq!(e.kind, Kind::InvalidValue);
    assert!(
        e.message.contains("expected an absolute path"),
        "{}",
        e.message
    );
    let e = ConfigFile::parse("substituters = \"https://x\"\n", "c.toml").unwrap_err();
    assert_eq!(e.kind, Kind::WrongType);
}

#[test]
fn trusted_public_keys_are_parsed_and_a_bad_one_names_its_line() {
    let good = "cache.example.org-1:ws/0vW8CQHWh36rHlTEdNo9fpw1WACYX+wK5EhC98MQ=";
    let text = format!("trusted-public-keys = [\n  \"{good}\",\n  \"other-1:AAAA\",\n]\n");
    let e = ConfigFile::parse(&text, "/etc/forge/config.toml").unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("/etc/forge/config.toml", 3));
    assert_eq!(e.kind, Kind::InvalidValue);
    assert!(
        e.message
            .contains("public key `other-1`: 3 bytes after base64 decoding, expected 32"),
        "{}",
        e.message
    );
    let e = ConfigFile::parse("trusted-public-keys = [\"nocolon\"]", "c.toml").unwrap_err();
    assert!(e.message.contains("has no `:`"), "{}", e.message);

    let c = ConfigFile::parse(&format!("trusted-public-keys = [\"{good}\"]"), "c.toml").unwrap();
    let mut s = defaults();
    s.apply_file(&c, "c.toml");
    let keys = s.trusted_keys();
    assert_eq!(keys.keys().len(), 1);
    assert_eq!(keys.keys()[0].name(), "cache.example.org-1");
    // Shown as written.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["trusted-public-keys"]["value"][0], good);
}

#[test]
fn layers_apply_in_order_default_system_user_env_flag() {
    let mut s = defaults();
    assert_eq!(s.jobs.value, 8);
    assert_eq!(s.jobs.source, Source::Default);
    let system = ConfigFile::parse("jobs = 2\ncores = 2\nlocked = true\n", "sys").unwrap();
    let user = ConfigFile::parse("jobs = 3\n", "user").unwrap();
    s.apply_file(&system, "/etc/forge/config.toml");
    s.apply_file(&user, "/u/config.toml");
    assert_eq!(
        (s.jobs.value, s.jobs.source.to_string()),
        (3, "/u/config.toml".into())
    );
    assert_eq!(s.cores.source.to_string(), "/etc/forge/config.toml");
    let env: HashMap<&str, &str> = [
        ("FORGE_JOBS", "4"),
        ("FORGE_LOCKED", "0"),
        ("FORGE_ROOT", ""),
    ]
    .into_iter()
    .collect();
    s.apply_env(|v| env.get(v).map(|s| s.to_string())).unwrap();
    assert_eq!(
        (s.jobs.value, s.jobs.source.to_string()),
        (4, "env FORGE_JOBS".into())
    );
    assert_eq!(
        (s.locked.value, s.locked.source.to_string()),
        (false, "env FORGE_LOCKED".into())
    );
    // An empty variable counts as unset.
    assert_eq!(s.root.source, Source::Default);
    let jobs = s.jobs.clone().flag(Some(5), "--jobs");
    assert_eq!(
        (jobs.value, jobs.source.to_string()),
        (5, "flag --jobs".into())
    );
    let jobs = s.jobs.clone().flag(None, "--jobs");
    assert_eq!(jobs.value, 4);
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let mut s = defaults();
    let e = s
        .apply_env(|v| (v == "FORGE_KEEP_GOING").then(|| "maybe".to_owned()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable FORGE_KEEP_GOING=\"maybe\": expected 1, true, yes, on or 0, false, no, off"
    );
    let e = s
        .apply_env(|v| (v == "FORGE_JOBS").then(|| "0".to_owned()))
        .unwrap_err();
    assert_eq!(e.expected, "a whole number above 0");
}

#[test]
fn every_key_is_known_and_in_the_json() {
    let json = serde_json::to_value(defaults()).unwrap();
    for k in KEYS {
        assert!(json.get(k).is_some(), "{k} missing from {json}");
        assert_eq!(json[k]["source"], "default");
    }
    for (k, _) in ENV_VARS {
        assert!(KEYS.contains(k));
    }
}

fn arb_file() -> impl Strategy<Value = ConfigFile> {
    let n = proptest::option::of((1usize..1000).prop_map(|n| NonZeroUsize::new(n).unwrap()));
    let b = || proptest::option::of(any::<bool>());
    let list = || proptest::option::of(proptest::collection::vec(".*", 0..3));
    let keys = proptest::option::of(proptest::collection::vec(
        ("[a-z][a-z0-9.-]{0,12}", any::<[u8; 32]>()).prop_map(|(name, seed)| {
            crate::signing::SecretKey::generate(&name, seed)
                .unwrap()
                .public()
        }),
        0..3,
    ));
    let abs = || {
        proptest::option::of("/[a-z/ é\"\\\\]{0,12}".prop_map(|p| AbsolutePath::new(&p).unwrap()))
    };
    (n.clone(), n, (abs(), abs()), b(), b(), b(), list(), keys).prop_map(
        |(jobs, cores, (root, secret_key_file), locked, keep_outputs, keep_going, s, k)| {
            ConfigFile {
                jobs,
                cores,
                root,
                secret_key_file,
                locked,
                keep_outputs,
                keep_going,
                substituters: s,
                trusted_public_keys: k,
            }
        },
    )
}

proptest! {
    #[test]
    fn printed_files_parse_back_equal(c in arb_file()) {
        let text = c.to_text();
        prop_assert_eq!(ConfigFile::parse(&text, "c.toml").unwrap(), c);
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking(text in ".{0,200}") {
        if let Err(e) = ConfigFile::parse(&text, "c.toml") {
            prop_assert!(e.line >= 1);
        }
    }

    #[test]
    fn a_misspelt_key_is_always_reported_with_its_line(pad in 0usize..5, key in "[a-z]{3,12}") {
        prop_assume!(!KEYS.contains(&key.as_str()));
        let text = format!("{}{key} = 1\n", "\n".repeat(pad));
        let e = ConfigFile::parse(&text, "c.toml").unwrap_err();
        prop_assert_eq!(e.kind, Kind::UnknownKey);
        prop_assert_eq!(e.line as usize, pad + 1);
    }
}
