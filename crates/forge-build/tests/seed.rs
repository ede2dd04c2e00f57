//! Seeds: the declaration parser, the ELF reader on this host's programs
//! (its pure tests are in forge-core), assembly on fake and real hosts. The real-host tests need busybox-static and gcc 12 (Debian); when
//! they are missing the tests fail, unless FORGE_SEED_ALLOW_MISSING_HOST=1.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use forge_build::seed::{
    assemble, assemble_from, decl::DeclErrorKind, find_seed, load, EntryKind, Reason, SeedDecl,
    SeedError,
};
use forge_core::elf::{machine, ElfClass, ElfError, ElfInfo, Endian};
use proptest::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the host lacks `path`; panics unless missing hosts are allowed.
fn host_lacks(path: &str) -> bool {
    if Path::new(path).exists() {
        return false;
    }
    if std::env::var_os("FORGE_SEED_ALLOW_MISSING_HOST").is_some_and(|v| v == "1") {
        eprintln!("note: {path} is missing; test skipped (FORGE_SEED_ALLOW_MISSING_HOST=1)");
        return true;
    }
    panic!(
        "{path} is missing on this host; install it (apt-get install busybox-static gcc-12) \
         or set FORGE_SEED_ALLOW_MISSING_HOST=1 to skip"
    );
}

// ---------------------------------------------------------------- parser

#[test]
fn parses_the_documented_example() {
    let text = r#"
[seed]
name = "busybox"
description = "busybox-static: /bin/sh and the core utilities"
paths = ["/bin/busybox"]           # host files or directories
exclude = ["/usr/share/doc/**"]
[seed.links]
"/bin/sh" = "busybox"
"#;
    let d = SeedDecl::parse(text, "busybox.toml").expect("parses");
    assert_eq!(d.name, "busybox");
    assert_eq!(d.paths, ["/bin/busybox"]);
    assert_eq!(d.exclude, ["/usr/share/doc/**"]);
    assert_eq!(d.links["/bin/sh"], "busybox");
    assert_eq!(d.store_name(), "seed-busybox");
    assert_eq!(
        SeedDecl::parse(&d.to_toml(), "again.toml").expect("canonical"),
        d
    );
}

/// The error as the CLI shows it: the message, then the hint's line.
fn shown(e: &(impl std::fmt::Display + forge_core::diag::Hint)) -> String {
    match e.hint() {
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

fn err(text: &str) -> forge_build::seed::DeclError {
    SeedDecl::parse(text, "seeds/x.toml").expect_err("must fail")
}

#[test]
fn unknown_keys_point_at_the_key_with_a_suggestion() {
    let e = err("[seed]\nname = \"x\"\npath = [\"/bin/sh\"]\n");
    assert_eq!(
        (e.line, e.column, e.kind),
        (3, 1, DeclErrorKind::UnknownKey)
    );
    let shown = shown(&e);
    assert!(
        shown.starts_with("seeds/x.toml:3:1: unknown key `path`\nhint: did you mean `paths`?"),
        "{shown}"
    );
    let e = err("[seed]\nname = \"x\"\npaths = [\"/a\"]\n[other]\n");
    assert_eq!(e.kind, DeclErrorKind::UnknownKey);
    assert_eq!(e.line, 4);
}

#[test]
fn bad_values_point_at_the_value() {
    let e = err("[seed]\nname = \"x\"\npaths = [\"/bin/sh\", \"usr/bin\"]\n");
    assert_eq!((e.line, e.column), (3, 21));
    assert!(e.message.contains("\"usr/bin\"") && e.message.contains("not absolute"));
    assert!(e.hint.is_some());

    let e = err("[seed]\nname = \"a b\"\npaths = [\"/x\"]\n");
    assert_eq!((e.line, e.column), (2, 8));
    assert!(e.message.contains("invalid seed name"), "{e}");

    let e = err("[seed]\nname = \"x\"\npaths = [\"/a/../b\"]\n");
    assert!(e.message.contains("'..'"), "{e}");

    let e = err("[seed]\nname = \"x\"\npaths = [\"/a\", \"/a\"]\n");
    assert!(e.message.contains("twice"), "{e}");
    assert_eq!((e.line, e.column), (3, 16));

    let e = err("[seed]\nname = \"x\"\npaths = [\"/a\"]\nexclude = [\"/a/x**\"]\n");
    assert_eq!(e.line, 4);
    assert!(e.message.contains("`**`"), "{e}");

    let e = err("[seed]\nname = \"x\"\npaths = [\"/a\"]\n[seed.links]\n\"/a\" = \"b\"\n");
    assert_eq!((e.line, e.column), (5, 1));
    assert!(e.message.contains("also listed in `paths`"), "{e}");
}

#[test]
fn missing_keys_and_wrong_types() {
    let e = err("[seed]\nname = \"x\"\n");
    assert_eq!(
        (e.line, e.column, e.kind),
        (1, 1, DeclErrorKind::MissingKey)
    );
    assert!(e.message.contains("`paths`"));
    let e = err("");
    assert_eq!(e.kind, DeclErrorKind::MissingKey);
    let e = err("[seed]\nname = \"x\"\npaths = \"/bin/sh\"\n");
    assert_eq!((e.line, e.kind), (3, DeclErrorKind::WrongType));
    let e = err("[seed\n");
    assert_eq!(e.kind, DeclErrorKind::Syntax);
    assert!(e.message.starts_with("invalid TOML"));
}

#[test]
fn the_repository_seeds_parse_and_are_found_from_a_recipe() {
    let hello = repo().join("recipes/hello");
    for name in ["busybox", "gcc"] {
        let file = find_seed(&hello, name).expect("found");
        assert!(
            file.ends_with(format!("recipes/seeds/{name}.toml")),
            "{file:?}"
        );
        let d = load(&file).expect("loads");
        assert_eq!(d.name, name);
    }
    let e = find_seed(&hello, "no-such-seed").expect_err("absent");
    assert!(matches!(e, SeedError::NotFound { .. }));
    assert!(shown(&e).contains("hint: declare it in recipes/seeds/no-such-seed.toml"));
    assert!(matches!(
        find_seed(&hello, "../x"),
        Err(SeedError::BadName { .. })
    ));
}

#[test]
fn a_file_must_be_named_after_its_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("other.toml");
    fs::write(&f, "[seed]\nname = \"x\"\npaths = [\"/a\"]\n").expect("write");
    assert!(matches!(load(&f), Err(SeedError::NameMismatch { .. })));
}

fn arb_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_.+ é\"\\\\-]{1,8}", 1..4).prop_filter_map("normal", |c| {
        (!c.iter().any(|c| c == "." || c == "..")).then(|| format!("/{}", c.join("/")))
    })
}

prop_compose! {
    fn arb_decl()(
        name in "[a-zA-Z0-9_+-][a-zA-Z0-9_.+-]{0,20}",
        description in proptest::option::of("[ -~\n\té]{0,30}"),
        paths in prop::collection::btree_set(arb_path(), 1..5),
        exclude in prop::collection::vec(arb_path(), 0..3),
        links in prop::collection::btree_map(arb_path(), "[ -~é]{1,12}", 0..3),
    ) -> SeedDecl {
        let paths: Vec<String> = paths.into_iter().collect();
        let links: BTreeMap<String, String> =
            links.into_iter().filter(|(k, _)| !paths.contains(k)).collect();
        SeedDecl { name, description, paths, exclude, links, file: String::new() }
    }
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_declaration(d in arb_decl()) {
        let text = d.to_toml();
        let back = SeedDecl::parse(&text, "p.toml")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_toml(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(\\[seed(\\.links)?\\]\n|name = |paths = \\[|\"/[a-z]*\"|, |\\]|\n|[ -~]){0,40}") {
        let _ = SeedDecl::parse(&text, "f.toml");
    }
}

// ------------------------------------------------------------ ELF, real

#[test]
fn elf_reader_on_static_busybox() {
    if host_lacks("/bin/busybox") {
        return;
    }
    let info = ElfInfo::parse(&fs::read("/bin/busybox").expect("read")).expect("parses");
    assert_eq!(info.interpreter, None, "busybox-static has no interpreter");
    assert!(info.needed.is_empty(), "{:?}", info.needed);
}

#[test]
fn elf_reader_on_dynamic_gcc() {
    if host_lacks("/usr/bin/gcc") {
        return;
    }
    let info = ElfInfo::parse(&fs::read("/usr/bin/gcc").expect("read")).expect("parses");
    assert_eq!(info.class, ElfClass::Elf64);
    assert_eq!(info.endian, Endian::Little);
    assert_eq!(info.machine, machine::X86_64);
    assert_eq!(
        info.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
    assert!(
        info.needed.iter().any(|n| n == "libc.so.6"),
        "{:?}",
        info.needed
    );
    let libc = ElfInfo::parse(&fs::read("/lib/x86_64-linux-gnu/libc.so.6").expect("libc"))
        .expect("parses");
    assert_eq!(libc.soname.as_deref(), Some("libc.so.6"));
}

#[test]
fn elf_reader_rejects_truncated_real_files_without_panicking() {
    if host_lacks("/usr/bin/gcc") {
        return;
    }
    let bytes = fs::read("/usr/bin/gcc").expect("read");
    for len in [0, 3, 4, 15, 16, 63, 64, 100, 600, 4096] {
        let r = ElfInfo::parse(&bytes[..len]);
        assert!(r.is_err() || len >= 600, "{len}: {r:?}");
    }
    assert!(matches!(
        ElfInfo::parse(&bytes[..40]),
        Err(ElfError::Truncated { .. })
    ));
}

// ---------------------------------------------------- assembly, fake host

const X64: fn() -> ElfInfo = || ElfInfo {
    class: ElfClass::Elf64,
    endian: Endian::Little,
    machine: machine::X86_64,
    kind: 3,
    interpreter: None,
    needed: vec![],
    runpath: None,
    rpath: None,
    soname: None,
};

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, bytes).expect("write");
}

fn decl(paths: &[&str], links: &[(&str, &str)], exclude: &[&str]) -> SeedDecl {
    SeedDecl {
        name: "t".into(),
        description: None,
        paths: paths.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        links: links
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        file: "seeds/t.toml".into(),
    }
}

/// A merged-/usr host: /bin, /lib, /lib64 symlinks, a loader, a libc found
/// through ld.so.conf, a library found through RUNPATH=$ORIGIN/../lib/app,
/// a 32-bit decoy of the same name earlier in the search path, a script.
fn fake_host() -> tempfile::TempDir {
    let host = tempfile::tempdir().expect("tempdir");
    let h = host.path();
    for d in [
        "usr/bin",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib64",
        "etc/ld.so.conf.d",
    ] {
        fs::create_dir_all(h.join(d)).expect("mkdir");
    }
    for (l, t) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        symlink(t, h.join(l)).expect("symlink");
    }
    write(
        h,
        "/etc/ld.so.conf",
        b"# comment\ninclude /etc/ld.so.conf.d/*.conf\n",
    );
    write(
        h,
        "/etc/ld.so.conf.d/multiarch.conf",
        b"/lib/x86_64-linux-gnu\n",
    );
    let loader = ElfInfo {
        soname: Some("ld-linux-x86-64.so.2".into()),
        ..X64()
    };
    write(
        h,
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        &loader.to_bytes(),
    );
    symlink(
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        h.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .expect("symlink");
    let libc = ElfInfo {
        soname: Some("libc.so.6".into()),
        ..X64()
    };
    write(h, "/usr/lib/x86_64-linux-gnu/libc.so.6", &libc.to_bytes());
    // A 32-bit libapp.so.1 where the default search would look first.
    let decoy = ElfInfo {
        class: ElfClass::Elf32,
        machine: machine::I386,
        ..X64()
    };
    write(h, "/usr/lib/libapp.so.1", &decoy.to_bytes());
    let libapp = ElfInfo {
        needed: vec!["libc.so.6".into()],
        ..X64()
    };
    write(h, "/usr/lib/app/libapp.so.1", &libapp.to_bytes());
    let app = ElfInfo {
        kind: 2,
        interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
        needed: vec!["libapp.so.1".into(), "libc.so.6".into()],
        runpath: Some("$ORIGIN/../lib/app".into()),
        ..X64()
    };
    write(h, "/usr/bin/app-1.0", &app.to_bytes());
    symlink("app-1.0", h.join("usr/bin/app")).expect("symlink");
    write(h, "/usr/bin/tool.sh", b"#!/bin/app -x\necho\n");
    write(h, "/usr/share/data/a.txt", b"a");
    write(h, "/usr/share/data/skip/b.txt", b"b");
    write(h, "/usr/share/data/c.txt", b"c");
    host
}

#[test]
fn assembles_the_closure_with_symlinked_components() {
    let host = fake_host();
    let tree = tempfile::tempdir().expect("tempdir");
    let t = tree.path();
    let d = decl(&["/bin/app"], &[("/bin/sh", "app")], &[]);
    let m = assemble_from(host.path(), &d, t).expect("assembles");

    // The symlinked components and the declared symlink are symlinks.
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib64", "usr/lib64"),
        ("usr/bin/app", "app-1.0"),
    ] {
        assert_eq!(fs::read_link(t.join(link)).expect(link), Path::new(target));
    }
    assert!(t.join("usr/bin/app-1.0").is_file());
    // Interpreter: /lib64 -> usr/lib64, then a symlink into the multiarch dir.
    assert!(t.join("lib64/ld-linux-x86-64.so.2").is_file());
    assert!(t
        .join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        .is_file());
    // RUNPATH $ORIGIN found the 64-bit libapp, not the 32-bit decoy.
    assert!(t.join("usr/lib/app/libapp.so.1").is_file());
    assert!(!t.join("usr/lib/libapp.so.1").exists());
    // libc through ld.so.conf's /lib/x86_64-linux-gnu: so /lib is a link.
    assert_eq!(
        fs::read_link(t.join("lib")).expect("lib"),
        Path::new("usr/lib")
    );
    assert!(t.join("lib/x86_64-linux-gnu/libc.so.6").is_file());
    // The declared link went through the bin symlink.
    assert_eq!(
        fs::read_link(t.join("usr/bin/sh")).expect("sh"),
        Path::new("app")
    );

    let e = m.get("/usr/lib/app/libapp.so.1").expect("in manifest");
    assert_eq!(
        e.reason,
        Reason::Needed {
            by: "/usr/bin/app-1.0".into(),
            name: "libapp.so.1".into()
        }
    );
    assert!(matches!(
        m.get("/usr/bin/app-1.0").expect("app").reason,
        Reason::SymlinkTarget { .. }
    ));
    assert_eq!(
        m.get("/usr/bin/app").expect("decl").reason,
        Reason::Declared
    );
    assert!(matches!(
        m.get("/lib").expect("lib").kind,
        EntryKind::Symlink { .. }
    ));
    let shown = m.to_string();
    assert!(
        shown
            .contains("file /usr/lib/app/libapp.so.1  (needed by /usr/bin/app-1.0 as libapp.so.1)"),
        "{shown}"
    );
    assert!(shown.contains("interpreter of /usr/bin/app-1.0"), "{shown}");
}

#[test]
fn directories_scripts_and_excludes() {
    let host = fake_host();
    let tree = tempfile::tempdir().expect("tempdir");
    let t = tree.path();
    let d = decl(
        &["/usr/share/data", "/usr/bin/tool.sh"],
        &[],
        &["/usr/share/data/skip", "/usr/**/c.*"],
    );
    let m = assemble_from(host.path(), &d, t).expect("assembles");
    assert!(t.join("usr/share/data/a.txt").is_file());
    assert!(!t.join("usr/share/data/skip").exists());
    assert!(!t.join("usr/share/data/c.txt").exists());
    // The script's interpreter and, through it, the ELF closure.
    assert!(matches!(
        m.get("/usr/bin/app").expect("interp").reason,
        Reason::ScriptInterpreter { .. }
    ));
    assert!(t.join("usr/lib/x86_64-linux-gnu/libc.so.6").is_file());
    assert_eq!(
        m.get("/usr/share/data/a.txt").expect("a").reason,
        Reason::InDirectory {
            dir: "/usr/share/data".into()
        }
    );
}

#[test]
fn assembly_is_deterministic() {
    let host = fake_host();
    let d = decl(
        &["/usr/share/data", "/bin/app"],
        &[("/usr/bin/x", "app")],
        &[],
    );
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let ma = assemble_from(host.path(), &d, a.path()).expect("a");
    let mb = assemble_from(host.path(), &d, b.path()).expect("b");
    assert_eq!(ma, mb);
    let list = |root: &Path| -> Vec<(PathBuf, bool)> {
        let mut v = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read") {
                let p = e.expect("entry").path();
                let meta = fs::symlink_metadata(&p).expect("meta");
                if meta.is_dir() {
                    stack.push(p.clone());
                }
                v.push((
                    p.strip_prefix(root).expect("in").to_owned(),
                    meta.is_symlink(),
                ));
            }
        }
        v.sort();
        v
    };
    assert_eq!(list(a.path()), list(b.path()));
}

#[test]
fn errors_name_the_path_who_needs_it_and_the_seed() {
    let host = fake_host();
    let h = host.path();
    let tree = tempfile::tempdir().expect("tempdir");
    let e =
        assemble_from(h, &decl(&["/usr/bin/nope"], &[], &[]), tree.path()).expect_err("missing");
    assert!(matches!(e, SeedError::MissingPath { .. }));
    let shown = shown(&e);
    assert!(
        shown.contains("/usr/bin/nope")
            && shown.contains("seeds/t.toml")
            && shown.contains("\nhint: "),
        "{shown}"
    );

    let lonely = ElfInfo {
        kind: 2,
        needed: vec!["libmissing.so.3".into()],
        ..X64()
    };
    write(h, "/usr/bin/lonely", &lonely.to_bytes());
    let tree = tempfile::tempdir().expect("tempdir");
    let e = assemble_from(h, &decl(&["/usr/bin/lonely"], &[], &[]), tree.path())
        .expect_err("unresolved");
    let shown = e.to_string();
    assert!(
        shown.starts_with("cannot find library libmissing.so.3 needed by /usr/bin/lonely (64-bit, machine 62); searched /lib/x86_64-linux-gnu, /lib, /usr/lib"),
        "{shown}"
    );

    let tree = tempfile::tempdir().expect("tempdir");
    let e = assemble_from(
        h,
        &decl(&["/usr/share/data"], &[("/usr/bin/x", "nothing")], &[]),
        tree.path(),
    )
    .expect_err("dangling");
    assert!(matches!(e, SeedError::LinkDangling { .. }), "{e}");
    let tree = tempfile::tempdir().expect("tempdir");
    let e = assemble_from(
        h,
        &decl(&["/bin/app"], &[("/usr/bin/app-1.0", "app")], &[]),
        tree.path(),
    )
    .expect_err("collision");
    assert!(matches!(e, SeedError::LinkCollision { .. }), "{e}");
}

// ---------------------------------------------------- assembly, real host

#[test]
fn busybox_seed_is_the_binary_and_the_sh_link() {
    if host_lacks("/bin/busybox") {
        return;
    }
    let d = load(&repo().join("recipes/seeds/busybox.toml")).expect("loads");
    let tree = tempfile::tempdir().expect("tempdir");
    let t = tree.path();
    let m = assemble(&d, t).expect("assembles");
    assert!(t.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(t.join("bin/sh")).expect("sh link"),
        Path::new("busybox")
    );
    assert_eq!(
        m.get("/bin/busybox")
            .map(|e| &e.reason)
            .or(m.get("/usr/bin/busybox").map(|e| &e.reason)),
        Some(&Reason::Declared)
    );
    // Static: nothing but the binary and the link (and /bin -> usr/bin).
    let files = m
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .count();
    assert_eq!(files, 1, "{m}");
    // The tree's busybox sh runs applets without applet symlinks.
    let out = Command::new(t.join("bin/busybox"))
        .args([
            "sh",
            "-c",
            "d=$(mktemp -d) && mkdir $d/x && echo ok > $d/x/f && cat $d/x/f && rm -r $d",
        ])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

/// Assembles the repository's gcc seed into `dir`.
pub fn gcc_tree(dir: &Path) -> forge_build::seed::SeedManifest {
    let d = load(&repo().join("recipes/seeds/gcc.toml")).expect("loads");
    assemble(&d, dir).expect("the gcc seed assembles on this host")
}

#[test]
fn gcc_seed_closure_is_complete_under_its_own_loader() {
    if host_lacks("/usr/bin/gcc-12") {
        return;
    }
    let tree = tempfile::tempdir().expect("tempdir");
    let t = tree.path();
    let m = gcc_tree(t);
    eprintln!(
        "gcc seed: {} entries, {} bytes",
        m.entries.len(),
        m.total_bytes()
    );
    for needed in [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libisl.so.23",
        "/usr/lib/x86_64-linux-gnu/libbfd-2.40-system.so",
    ] {
        assert!(
            matches!(
                m.get(needed).map(|e| &e.reason),
                Some(Reason::Needed { .. }) | Some(Reason::Declared)
            ),
            "{needed} not in the manifest"
        );
    }
    // Compile and link with the seed's own loader and only the seed's
    // libraries: any library missing from the closure fails here. Paths
    // gcc computes from its own location (cc1, crt*.o) resolve inside the
    // tree via -B and --sysroot.
    let ld = t.join("lib64/ld-linux-x86-64.so.2");
    let libs = format!("{0}/usr/lib/x86_64-linux-gnu", t.display());
    for prog in [
        "usr/lib/gcc/x86_64-linux-gnu/12/cc1",
        "usr/bin/x86_64-linux-gnu-as",
        "usr/bin/x86_64-linux-gnu-ld.bfd",
        "usr/bin/x86_64-linux-gnu-gcc-12",
    ] {
        let out = Command::new(&ld)
            .args(["--library-path", &libs])
            .arg(t.join(prog))
            .arg("--version")
            .env_clear()
            .output()
            .expect("the seed's loader runs");
        assert!(
            out.status.success(),
            "{prog} does not run with only the seed's libraries: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn import_adds_the_tree_to_the_store_as_seed_name() {
    if host_lacks("/bin/busybox") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let mut store = forge_store::Store::open(root.path()).expect("store");
    let d = load(&repo().join("recipes/seeds/busybox.toml")).expect("loads");
    let (path, manifest) =
        forge_build::seed::import(&mut store, &d, &Default::default()).expect("imports");
    assert_eq!(path.name().as_str(), "seed-busybox");
    let phys = store.physical(&path);
    assert!(phys.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(phys.join("bin/sh")).expect("sh"),
        Path::new("busybox")
    );
    // Same host, same tree: the second import is the same path.
    let (again, manifest2) =
        forge_build::seed::import(&mut store, &d, &Default::default()).expect("again");
    assert_eq!((again, manifest2), (path, manifest));
    // The staging area is gone.
    let left: Vec<_> = fs::read_dir(store.layout().tmp_dir())
        .expect("tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
