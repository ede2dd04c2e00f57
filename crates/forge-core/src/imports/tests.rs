//! Tests over the real fixtures, across formats, and for wheel selection.

use proptest::prelude::*;

use super::wheel_name::WheelTarget;
use super::*;
use crate::hash::HashAlgo;

const PYLOCK: &str = include_str!("../../tests/fixtures/imports/pylock.toml");
const UV_LOCK: &str = include_str!("../../tests/fixtures/imports/uv.lock");
const REQUIREMENTS: &str = include_str!("../../tests/fixtures/imports/requirements.txt");
const PIP_REPORT: &str = include_str!("../../tests/fixtures/imports/pip-report.json");
const CARGO_LOCK: &str = include_str!("../../tests/fixtures/imports/Cargo.lock");
const NPM_LOCK: &str = include_str!("../../tests/fixtures/imports/package-lock.json");

fn fixture(f: LockFormat) -> &'static str {
    match f {
        LockFormat::Pylock => PYLOCK,
        LockFormat::UvLock => UV_LOCK,
        LockFormat::Requirements => REQUIREMENTS,
        LockFormat::PipReport => PIP_REPORT,
        LockFormat::CargoLock => CARGO_LOCK,
        LockFormat::NpmLock => NPM_LOCK,
    }
}

#[test]
fn every_fixture_imports() {
    for f in LockFormat::ALL {
        let imp = f.parse(fixture(f)).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(
            !imp.artifacts.is_empty() || !imp.pending.is_empty(),
            "{f:?}"
        );
    }
}

#[test]
fn pylock_and_uv_lock_agree() {
    let a = parse_pylock(PYLOCK).unwrap();
    let b = parse_uv_lock(UV_LOCK).unwrap();
    let key = |i: &Import| {
        let mut v: Vec<_> = i
            .artifacts
            .iter()
            .map(|a| (a.file_name.clone(), a.hash, a.size))
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(
        a.artifacts.len(),
        2 + 2 + 7,
        "attrs, idna: sdist+wheel; charset: sdist+6"
    );
    assert!(b
        .skipped
        .iter()
        .any(|s| s.name == "sample" && s.reason == SkipReason::Workspace));
    let attrs = a
        .artifacts
        .iter()
        .find(|x| x.kind == ArtifactKind::Wheel && x.name == "attrs")
        .unwrap();
    assert_eq!(attrs.file_name, "attrs-26.1.0-py3-none-any.whl");
    assert_eq!(attrs.size, Some(67548));
    assert!(PYLOCK
        .lines()
        .nth(attrs.line - 1)
        .unwrap()
        .starts_with("[[packages]]"));
}

#[test]
fn requirements_give_pending_pins_covering_the_lock() {
    let r = parse_requirements(REQUIREMENTS).unwrap();
    let uv = parse_uv_lock(UV_LOCK).unwrap();
    assert_eq!(r.pending.len(), 3);
    assert!(r.artifacts.is_empty());
    let cn = r
        .pending
        .iter()
        .find(|p| p.name == "charset-normalizer")
        .unwrap();
    assert_eq!(cn.version, "3.4.0");
    assert_eq!(cn.line, 7);
    for a in &uv.artifacts {
        let p = r.pending.iter().find(|p| p.name == a.name).unwrap();
        assert!(p.hashes.contains(&a.hash), "{}", a.file_name);
    }
}

#[test]
fn requirements_errors() {
    let e = parse_requirements("a==1\n").unwrap_err();
    assert_eq!(e.to_string(), "line 1: package a 1: no `--hash`");
    let h = HashAlgo::Sha256.digest(b"");
    let e = parse_requirements(&format!("# c\nb>=1 --hash={h}\n")).unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::Invalid {
                line: 2,
                field: "version",
                ..
            }
        ),
        "{e}"
    );
    let e = parse_requirements("-e ./x\n").unwrap_err();
    assert!(e.to_string().contains("`-e`"), "{e}");
    let ok = format!(
        "--index-url https://x\nc[extra]==2.0 ; python_version >= \"3\" \\\n  --hash={h} # note\n"
    );
    let r = parse_requirements(&ok).unwrap();
    assert_eq!(
        (
            r.pending[0].name.as_str(),
            r.pending[0].line,
            r.pending[0].hashes[0]
        ),
        ("c", 2, h)
    );
}

#[test]
fn pip_report_entries() {
    let r = parse_pip_report(PIP_REPORT).unwrap();
    assert_eq!(r.artifacts.len(), 2);
    for a in &r.artifacts {
        assert_eq!(a.kind, ArtifactKind::Wheel);
        assert!(
            PIP_REPORT.lines().nth(a.line - 1).unwrap().contains(&a.url),
            "{a:?}"
        );
        assert!(PIP_REPORT.contains(&a.hash.to_hex()));
    }
    let e = parse_pip_report("{\"version\": \"1\", \"install\": [{\"metadata\": {\"name\": \"x\", \"version\": \"1\"}, \"download_info\": {\"url\": \"https://h/x-1.tar.gz\", \"archive_info\": {\"hashes\": {\"md5\": \"00\"}}}}]}").unwrap_err();
    assert!(matches!(e, ImportError::WeakHash { .. }), "{e}");
}

#[test]
fn toml_errors_have_lines() {
    let e = parse_uv_lock(
        "version = 1\n\n[[package]]\nname = \"x\"\nversion = \"1\"\nsdist = { url = 3 }\n",
    )
    .unwrap_err();
    assert_eq!(e.line(), 6, "{e}");
    let e = parse_pylock("lock-version = \"1.0\"\n[[packages]]\nname = \"x\"\nversion = \"1\"\nwheels = [{ url = \"https://h/x-1-py3-none-any.whl\", hashes = { sha256 = \"zz\" } }]\n").unwrap_err();
    assert_eq!(e.line(), 2, "{e}");
    assert!(
        e.to_string().contains("package x 1: invalid `hashes`"),
        "{e}"
    );
    let e = parse_pylock("lock-version = \"2.0\"\n").unwrap_err();
    assert!(matches!(e, ImportError::Version { .. }), "{e}");
}

#[test]
fn selecting_wheels_for_cpython_311_manylinux() {
    let all = parse_uv_lock(UV_LOCK).unwrap().artifacts;
    let t = WheelTarget::cpython_manylinux(3, 11, "x86_64", 28);
    let chosen = select_wheels(all.clone(), &t);
    let names: Vec<&str> = chosen.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "attrs-26.1.0-py3-none-any.whl",
            "charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "idna-3.20-py3-none-any.whl",
        ]
    );
    // Windows on CPython 3.13: no cp313 wheel here, so the pure wheel.
    let win = select_wheels(all.clone(), &WheelTarget::cpython(3, 13, &["win_amd64"]));
    assert!(win
        .iter()
        .any(|a| a.file_name == "charset_normalizer-3.4.0-py3-none-any.whl"));
    // A target nothing fits falls back to the sdist.
    let odd = WheelTarget::cpython(2, 7, &["linux_x86_64"]);
    let sd = select_wheels(all, &odd);
    assert!(sd.iter().all(|a| a.kind == ArtifactKind::Sdist), "{sd:?}");
    assert_eq!(sd.len(), 3);
}

#[test]
fn formats_by_file_name() {
    assert_eq!(
        LockFormat::from_file_name("pylock.dev.toml"),
        Some(LockFormat::Pylock)
    );
    assert_eq!(
        LockFormat::from_file_name("requirements-dev.txt"),
        Some(LockFormat::Requirements)
    );
    assert_eq!(
        LockFormat::from_file_name("npm-shrinkwrap.json"),
        Some(LockFormat::NpmLock)
    );
    assert_eq!(LockFormat::from_file_name("report.json"), None);
}

#[test]
fn names_and_urls() {
    assert_eq!(
        python::normalize_name("Charset__Normalizer.x"),
        "charset-normalizer-x"
    );
    assert_eq!(
        python::url_file_name("https://h/p/torch-2.0%2Bcpu-cp311-none-any.whl#sha256=00")
            .as_deref(),
        Some("torch-2.0+cpu-cp311-none-any.whl")
    );
    assert_eq!(python::url_file_name("https://h/p/"), None);
    assert_eq!(python::url_file_name("https://h/a%2Fb"), None);
}

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_text(s in "(?s)\\PC{0,300}") {
        for f in LockFormat::ALL {
            let _ = f.parse(&s);
        }
    }

    #[test]
    fn no_parser_panics_on_mutated_fixtures(which in 0usize..6, cut in 0usize..5000, len in 0usize..40, junk in "(?s)\\PC{0,6}") {
        let f = LockFormat::ALL[which];
        let base = fixture(f);
        let base = &base[..(0..=5000.min(base.len())).rev().find(|&i| base.is_char_boundary(i)).unwrap()];
        let at = (0..=cut.min(base.len())).rev().find(|&i| base.is_char_boundary(i)).unwrap();
        let end = (at..=(at + len).min(base.len())).rev().find(|&i| base.is_char_boundary(i)).unwrap();
        let text = format!("{}{junk}{}", &base[..at], &base[end..]);
        for g in LockFormat::ALL {
            if let Err(e) = g.parse(&text) {
                prop_assert!(e.line() >= 1 && e.line() <= text.lines().count().max(1) + 1, "{e}");
            }
        }
    }

    #[test]
    fn requirements_round_trip(pins in proptest::collection::vec(("[a-z][a-z0-9_-]{0,8}[a-z0-9]", "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}", proptest::collection::vec(any::<[u8; 32]>(), 1..3)), 0..5)) {
        let mut text = String::new();
        for (n, v, hs) in &pins {
            text.push_str(&format!("{n}=={v}"));
            for h in hs {
                text.push_str(&format!(" \\\n    --hash={}", Hash::new(HashAlgo::Sha256, *h)));
            }
            text.push_str("\n    # via x\n");
        }
        let r = parse_requirements(&text).unwrap();
        prop_assert_eq!(r.pending.len(), pins.len());
        for (p, (n, v, hs)) in r.pending.iter().zip(&pins) {
            prop_assert_eq!(&p.name, n);
            prop_assert_eq!(&p.version, v);
            let want: Vec<Hash> = hs.iter().map(|h| Hash::new(HashAlgo::Sha256, *h)).collect();
            prop_assert_eq!(&p.hashes, &want);
        }
    }
}
