//! Unpacking: every format, the single-top-directory rule, and hostile
//! archives (path escapes, writes through symlinks, special files).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use forge_build::fetch::ar::write_ar;
use forge_build::fetch::{unpack, Unpack, UnpackError, UnpackOptions};
use proptest::prelude::*;

/// One entry of a test tar, written with raw header fields so that hostile
/// names get through (the tar crate's own setters refuse them).
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Special(&'a str, tar::EntryType),
}

fn tar_bytes(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, ty, data, mode, link): (&str, _, &[u8], u32, Option<&str>) = match e {
            E::Dir(n) => (n, tar::EntryType::Directory, b"", 0o755, None),
            E::File(n, d, m) => (n, tar::EntryType::Regular, d, *m, None),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", 0o777, Some(t)),
            E::HardLink(n, t) => (n, tar::EntryType::Link, b"", 0o644, Some(t)),
            E::Special(n, ty) => (n, *ty, b"", 0o644, None),
        };
        assert!(
            name.len() < 100,
            "long names are tested with the tar crate's writer"
        );
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            let raw = &mut h.as_old_mut().linkname;
            raw[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress(kind: Unpack, tar: &[u8]) -> Vec<u8> {
    match kind {
        Unpack::Tar => tar.to_vec(),
        Unpack::TarGz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Unpack::TarXz => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Unpack::TarZst => zstd::encode_all(tar, 1).unwrap(),
        Unpack::TarBz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Unpack::Deb => write_ar(&[
            (b"debian-binary", b"2.0\n"),
            (b"control.tar.xz", &compress(Unpack::TarXz, &tar_bytes(&[]))),
            (b"data.tar.zst", &compress(Unpack::TarZst, tar)),
        ]),
        Unpack::Zip | Unpack::Whl => panic!("zip archives are built with zip_bytes"),
    }
}

enum Z<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

fn zip_bytes(entries: &[Z<'_>]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for e in entries {
        match e {
            Z::Dir(n) => w.add_directory(*n, SimpleFileOptions::default()).unwrap(),
            Z::File(n, d, mode) => {
                w.start_file(*n, SimpleFileOptions::default().unix_permissions(*mode))
                    .unwrap();
                w.write_all(d).unwrap();
            }
            Z::Symlink(n, t) => w.add_symlink(*n, *t, SimpleFileOptions::default()).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

struct Case {
    _tmp: tempfile::TempDir,
    archive: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

fn case(bytes: &[u8]) -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    fs::write(&archive, bytes).unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    Case {
        dest: tmp.path().join("out"),
        archive,
        outside,
        _tmp: tmp,
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The sample project every format carries, in `pkg-1.0/`.
const SAMPLE_TAR: &[E<'static>] = &[
    E::Dir("pkg-1.0/"),
    E::File("pkg-1.0/README", b"hello\n", 0o664),
    E::Dir("pkg-1.0/bin/"),
    E::File("pkg-1.0/bin/tool", b"#!/bin/sh\n", 0o4775),
    E::Symlink("pkg-1.0/link", "README"),
    E::HardLink("pkg-1.0/copy", "pkg-1.0/README"),
];

fn check_sample(root: &Path) {
    assert_eq!(fs::read(root.join("README")).unwrap(), b"hello\n");
    assert_eq!(mode(&root.join("README")), 0o644);
    assert_eq!(mode(&root.join("bin/tool")), 0o755, "setuid is dropped");
    assert_eq!(mode(&root.join("bin")), 0o755);
    assert_eq!(
        fs::read_link(root.join("link")).unwrap(),
        PathBuf::from("README")
    );
    let copy = root.join("copy");
    assert_eq!(fs::read(&copy).unwrap(), b"hello\n");
    assert!(fs::symlink_metadata(&copy).unwrap().is_file());
}

#[test]
fn every_tar_kind_unpacks_and_strips_the_top_dir() {
    for kind in [
        Unpack::Tar,
        Unpack::TarGz,
        Unpack::TarXz,
        Unpack::TarZst,
        Unpack::TarBz2,
    ] {
        let c = case(&compress(kind, &tar_bytes(SAMPLE_TAR)));
        let out = unpack(&c.archive, kind, &c.dest, &UnpackOptions::default())
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(out.stripped.as_deref(), Some("pkg-1.0"), "{kind}");
        assert_eq!(out.entries, 6, "{kind}");
        check_sample(&c.dest);
        // Nothing but the result remains next to it.
        let names: Vec<_> = fs::read_dir(c.dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["archive", "out", "outside"], "{kind}");
    }
}

#[test]
fn deb_unpacks_its_data_tar_without_stripping() {
    let data = tar_bytes(&[
        E::Dir("./"),
        E::Dir("./usr/"),
        E::Dir("./usr/bin/"),
        E::File("./usr/bin/hello", b"\x7fELF", 0o755),
    ]);
    for (member, kind) in [
        (&b"data.tar"[..], Unpack::Tar),
        (b"data.tar.gz", Unpack::TarGz),
        (b"data.tar.xz", Unpack::TarXz),
        (b"data.tar.zst", Unpack::TarZst),
        (b"data.tar.bz2", Unpack::TarBz2),
    ] {
        let deb = write_ar(&[
            (b"debian-binary", b"2.0\n"),
            (b"control.tar.gz", &compress(Unpack::TarGz, &tar_bytes(&[]))),
            (member, &compress(kind, &data)),
        ]);
        let c = case(&deb);
        let out = unpack(&c.archive, Unpack::Deb, &c.dest, &UnpackOptions::default()).unwrap();
        assert_eq!(out.stripped, None);
        assert_eq!(fs::read(c.dest.join("usr/bin/hello")).unwrap(), b"\x7fELF");
        assert_eq!(mode(&c.dest.join("usr/bin/hello")), 0o755);
    }
}

#[test]
fn deb_without_data_tar_names_its_members() {
    let c = case(&write_ar(&[(b"debian-binary", b"2.0\n")]));
    let e = unpack(&c.archive, Unpack::Deb, &c.dest, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(e, UnpackError::NoDataTar { .. }), "{e}");
    assert!(e.to_string().contains("debian-binary"), "{e}");
    assert!(!c.dest.exists());
}

fn sample_zip() -> Vec<u8> {
    zip_bytes(&[
        Z::Dir("pkg-1.0/"),
        Z::File("pkg-1.0/README", b"hello\n", 0o664),
        Z::Dir("pkg-1.0/bin/"),
        Z::File("pkg-1.0/bin/tool", b"#!/bin/sh\n", 0o4775),
        Z::Symlink("pkg-1.0/link", "README"),
        Z::File("pkg-1.0/copy", b"hello\n", 0o644),
    ])
}

#[test]
fn zip_unpacks_and_strips_but_a_wheel_keeps_its_layout() {
    let c = case(&sample_zip());
    let out = unpack(&c.archive, Unpack::Zip, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(out.stripped.as_deref(), Some("pkg-1.0"));
    check_sample(&c.dest);

    let c = case(&sample_zip());
    let out = unpack(&c.archive, Unpack::Whl, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(out.stripped, None);
    check_sample(&c.dest.join("pkg-1.0"));
}

#[test]
fn no_strip_for_several_top_entries_or_a_lone_file() {
    let c = case(&tar_bytes(&[
        E::File("a/x", b"1", 0o644),
        E::File("b", b"2", 0o644),
    ]));
    let out = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(out.stripped, None);
    assert_eq!(fs::read(c.dest.join("a/x")).unwrap(), b"1");
    assert_eq!(fs::read(c.dest.join("b")).unwrap(), b"2");

    let c = case(&tar_bytes(&[E::File("only", b"1", 0o644)]));
    unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(c.dest.join("only")).unwrap(), b"1");

    // A directory implied by its entries (no entry of its own) still counts.
    let c = case(&tar_bytes(&[E::File("top/a", b"1", 0o644)]));
    let out = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(out.stripped.as_deref(), Some("top"));
    assert_eq!(fs::read(c.dest.join("a")).unwrap(), b"1");

    // The rule can be turned off.
    let c = case(&tar_bytes(&[E::File("top/a", b"1", 0o644)]));
    let opts = UnpackOptions {
        strip_single_top_dir: Some(false),
        ..UnpackOptions::default()
    };
    unpack(&c.archive, Unpack::Tar, &c.dest, &opts).unwrap();
    assert_eq!(fs::read(c.dest.join("top/a")).unwrap(), b"1");
}

#[test]
fn long_names_survive() {
    let long = format!("top/{}/file", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, &long, &b"hi"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "top/l", "x".repeat(120)).unwrap();
    let c = case(&b.into_inner().unwrap());
    unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(
        fs::read(c.dest.join(long.strip_prefix("top/").unwrap())).unwrap(),
        b"hi"
    );
    assert_eq!(
        fs::read_link(c.dest.join("l")).unwrap(),
        PathBuf::from("x".repeat(120))
    );
}

#[test]
fn pax_paths_are_read() {
    // A pax header giving the next entry a long path.
    let path = format!("top/{}", "p".repeat(200));
    let record_body = format!(" path={path}\n");
    let mut len = record_body.len() + 3;
    if format!("{len}{record_body}").len() != len {
        len += 1;
    }
    let record = format!("{len}{record_body}");
    assert_eq!(record.len(), len);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_size(record.len() as u64);
    h.set_cksum();
    b.append(&h, record.as_bytes()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("short").unwrap();
    h.set_size(3);
    h.set_mode(0o755);
    h.set_cksum();
    b.append(&h, &b"abc"[..]).unwrap();
    let c = case(&b.into_inner().unwrap());
    let out = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(out.stripped.as_deref(), Some("top"));
    let f = c.dest.join("p".repeat(200));
    assert_eq!(fs::read(&f).unwrap(), b"abc");
    assert_eq!(mode(&f), 0o755);
}

fn assert_refused(c: &Case, kind: Unpack, want: impl Fn(&UnpackError) -> bool, needle: &str) {
    let e = unpack(&c.archive, kind, &c.dest, &UnpackOptions::default()).unwrap_err();
    assert!(want(&e), "{kind}: unexpected error: {e:?}");
    assert!(
        e.to_string().contains(needle),
        "{kind}: {e} lacks {needle:?}"
    );
    assert!(!c.dest.exists(), "{kind}: nothing may be left at dest");
    assert_eq!(
        fs::read_dir(&c.outside).unwrap().count(),
        0,
        "{kind}: nothing may be written outside"
    );
    let leftovers: Vec<_> = fs::read_dir(c.dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "archive" && n != "outside")
        .collect();
    assert!(leftovers.is_empty(), "{kind}: left behind {leftovers:?}");
}

fn all_tar_kinds() -> [Unpack; 6] {
    [
        Unpack::Tar,
        Unpack::TarGz,
        Unpack::TarXz,
        Unpack::TarZst,
        Unpack::TarBz2,
        Unpack::Deb,
    ]
}

#[test]
fn dotdot_and_absolute_paths_are_refused() {
    for kind in all_tar_kinds() {
        for (name, reason) in [
            ("../x", "`..` components"),
            ("a/../../x", "`..` components"),
            ("/etc/x", "absolute paths"),
        ] {
            let c = case(&compress(kind, &tar_bytes(&[E::File(name, b"x", 0o644)])));
            assert_refused(
                &c,
                kind,
                |e| matches!(e, UnpackError::UnsafePath { entry, .. } if entry == name),
                reason,
            );
        }
    }
    for name in ["../x", "/abs"] {
        let c = case(&zip_bytes(&[Z::File(name, b"x", 0o644)]));
        assert_refused(
            &c,
            Unpack::Zip,
            |e| matches!(e, UnpackError::UnsafePath { .. }),
            name,
        );
    }
}

#[test]
fn nothing_is_written_through_a_symlink() {
    for kind in all_tar_kinds() {
        let c = case(b"");
        let target = c.outside.to_str().unwrap().to_owned();
        fs::write(
            &c.archive,
            compress(
                kind,
                &tar_bytes(&[
                    E::Symlink("a", &target),
                    E::File("a/passwd", b"root::0:0::/:/bin/sh\n", 0o644),
                ]),
            ),
        )
        .unwrap();
        assert_refused(
            &c,
            kind,
            |e| matches!(e, UnpackError::ThroughSymlink { link, .. } if link == "a"),
            "below the symlink `a`",
        );

        // Replacing the symlink's own name with a file is fine (the symlink
        // goes, the file is written in its place, not through it).
        let c = case(b"");
        let target = c.outside.join("victim");
        fs::write(
            &c.archive,
            compress(
                kind,
                &tar_bytes(&[
                    E::Symlink("top/f", target.to_str().unwrap()),
                    E::File("top/f", b"later wins", 0o644),
                ]),
            ),
        )
        .unwrap();
        unpack(&c.archive, kind, &c.dest, &UnpackOptions::default()).unwrap();
        // A deb keeps its top directory.
        let top = if kind == Unpack::Deb {
            c.dest.join("top")
        } else {
            c.dest.clone()
        };
        assert_eq!(fs::read(top.join("f")).unwrap(), b"later wins");
        assert!(!target.exists());

        // Hard links may not reach through symlinks either.
        let c = case(b"");
        fs::write(c.outside.join("secret"), b"s").unwrap();
        fs::write(
            &c.archive,
            compress(
                kind,
                &tar_bytes(&[
                    E::Symlink("a", c.outside.to_str().unwrap()),
                    E::HardLink("b", "a/secret"),
                ]),
            ),
        )
        .unwrap();
        let e = unpack(&c.archive, kind, &c.dest, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(e, UnpackError::BadHardLink { .. }), "{e}");
        assert!(!c.dest.exists());
    }
    let c = case(b"");
    fs::write(
        &c.archive,
        zip_bytes(&[
            Z::Symlink("a", c.outside.to_str().unwrap()),
            Z::File("a/passwd", b"x", 0o644),
        ]),
    )
    .unwrap();
    assert_refused(
        &c,
        Unpack::Zip,
        |e| matches!(e, UnpackError::ThroughSymlink { .. }),
        "a/passwd",
    );
}

#[test]
fn special_files_are_refused() {
    for kind in all_tar_kinds() {
        for (ty, what) in [
            (tar::EntryType::Char, "character device"),
            (tar::EntryType::Block, "block device"),
            (tar::EntryType::Fifo, "fifo"),
        ] {
            let c = case(&compress(kind, &tar_bytes(&[E::Special("dev/null", ty)])));
            assert_refused(
                &c,
                kind,
                |e| matches!(e, UnpackError::SpecialFile { entry, .. } if entry == "dev/null"),
                what,
            );
        }
    }
    // A zip entry whose unix mode says "fifo" (the zip writer only writes
    // permission bits, so the central directory is patched by hand).
    let mut z = zip_bytes(&[Z::File("p", b"", 0o644)]);
    let cd = z
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("a central directory header");
    z[cd + 38..cd + 42].copy_from_slice(&(0o010_644u32 << 16).to_le_bytes());
    let c = case(&z);
    assert_refused(
        &c,
        Unpack::Zip,
        |e| matches!(e, UnpackError::SpecialFile { .. }),
        "fifo",
    );
}

#[test]
fn hard_links_become_copies_inside_dest_only() {
    let c = case(&tar_bytes(&[
        E::File("f", b"data", 0o755),
        E::HardLink("g", "f"),
    ]));
    unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    let (f, g) = (c.dest.join("f"), c.dest.join("g"));
    assert_eq!(fs::read(&g).unwrap(), b"data");
    assert_eq!(mode(&g), 0o755);
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        fs::metadata(&f).unwrap().ino(),
        fs::metadata(&g).unwrap().ino()
    );

    for target in ["../../etc/passwd", "/etc/passwd", "missing", "dir"] {
        let c = case(&tar_bytes(&[E::Dir("dir/"), E::HardLink("g", target)]));
        let e = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap_err();
        assert!(
            matches!(
                e,
                UnpackError::BadHardLink { .. } | UnpackError::UnsafePath { .. }
            ),
            "{target}: {e}"
        );
        assert!(!c.dest.exists());
    }
}

#[test]
fn duplicates_later_file_wins_and_dir_file_conflicts() {
    let c = case(&tar_bytes(&[
        E::File("a", b"first", 0o644),
        E::File("a", b"second", 0o644),
        E::Dir("d/"),
        E::Dir("d/"),
        E::File("d/x", b"x", 0o644),
    ]));
    unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(c.dest.join("a")).unwrap(), b"second");
    assert_eq!(fs::read(c.dest.join("d/x")).unwrap(), b"x");

    for entries in [
        vec![E::Dir("a/"), E::File("a", b"", 0o644)],
        vec![E::File("a", b"", 0o644), E::Dir("a/")],
        vec![E::File("a", b"", 0o644), E::File("a/b", b"", 0o644)],
    ] {
        let c = case(&tar_bytes(&entries));
        let e = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(e, UnpackError::Conflict { .. }), "{e}");
        assert!(!c.dest.exists());
    }
}

#[test]
fn dest_must_not_exist() {
    let c = case(&tar_bytes(&[E::File("a", b"", 0o644)]));
    fs::create_dir(&c.dest).unwrap();
    let e = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(e, UnpackError::DestExists { .. }), "{e}");
}

#[test]
fn size_limit_stops_a_bomb() {
    // 64 MiB of zeros compress to a few KiB.
    let zeros = vec![0u8; 64 << 20];
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(zeros.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "bomb", &zeros[..]).unwrap();
    let gz = compress(Unpack::TarZst, &b.into_inner().unwrap());
    assert!(gz.len() < 1 << 20);
    let c = case(&gz);
    let opts = UnpackOptions {
        max_bytes: Some(1 << 20),
        ..UnpackOptions::default()
    };
    let e = unpack(&c.archive, Unpack::TarZst, &c.dest, &opts).unwrap_err();
    assert!(
        matches!(e, UnpackError::TooLarge { limit, .. } if limit == 1 << 20),
        "{e}"
    );
    assert!(!c.dest.exists());
}

/// The error as the CLI shows it: the message, then the hint's line.
fn shown(e: &(impl std::fmt::Display + forge_core::diag::Hint)) -> String {
    match e.hint() {
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

#[test]
fn wrong_kind_is_a_read_error_with_a_hint() {
    let c = case(&tar_bytes(&[E::File("a", b"", 0o644)]));
    let e = unpack(
        &c.archive,
        Unpack::TarXz,
        &c.dest,
        &UnpackOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, UnpackError::Read { .. }), "{e}");
    assert!(
        shown(&e).contains("hint: check that `unpack = \"tar.xz\"`"),
        "{e}"
    );
    assert!(!c.dest.exists());
}

fn valid_archive(kind: Unpack) -> Vec<u8> {
    match kind {
        Unpack::Zip | Unpack::Whl => sample_zip(),
        k => compress(k, &tar_bytes(SAMPLE_TAR)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_bytes_never_panic(kind in proptest::sample::select(Unpack::ALL.to_vec()),
                                   bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let c = case(&bytes);
        if unpack(&c.archive, kind, &c.dest, &UnpackOptions::default()).is_err() {
            prop_assert!(!c.dest.exists());
        }
    }

    #[test]
    fn damaged_archives_never_panic(kind in proptest::sample::select(Unpack::ALL.to_vec()),
                                    flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                    cut in any::<prop::sample::Index>()) {
        let mut bytes = valid_archive(kind);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if cut.index(4) == 0 {
            bytes.truncate(cut.index(bytes.len()));
        }
        let c = case(&bytes);
        match unpack(&c.archive, kind, &c.dest, &UnpackOptions::default()) {
            Ok(_) => prop_assert!(c.dest.is_dir()),
            Err(_) => prop_assert!(!c.dest.exists()),
        }
        prop_assert_eq!(fs::read_dir(&c.outside).unwrap().count(), 0);
    }
}

/// The fuzz seeds were made by the real tools (GNU tar, gzip, xz, zstd,
/// bzip2, Info-ZIP zip, binutils ar): they must unpack to the tree they
/// were made from. Each seed starts with the fuzzer's selector byte.
#[test]
fn archives_made_by_the_usual_tools_unpack() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/unpack");
    let seed = |name: &str| fs::read(seeds.join(name)).unwrap()[1..].to_vec();
    for (name, kind) in [
        ("0-tar", Unpack::Tar),
        ("1-tar.gz", Unpack::TarGz),
        ("2-tar.xz", Unpack::TarXz),
        ("3-tar.zst", Unpack::TarZst),
        ("4-tar.bz2", Unpack::TarBz2),
        ("5-zip", Unpack::Zip),
    ] {
        let c = case(&seed(name));
        let out = unpack(&c.archive, kind, &c.dest, &UnpackOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.stripped.as_deref(), Some("pkg-1.0"), "{name}");
        assert_eq!(fs::read(c.dest.join("README")).unwrap(), b"hello\n");
        assert_eq!(fs::read(c.dest.join("hard")).unwrap(), b"hello\n");
        assert_eq!(mode(&c.dest.join("bin/tool")), 0o755, "{name}");
        assert_eq!(mode(&c.dest.join("README")), 0o644, "{name}");
        assert_eq!(
            fs::read_link(c.dest.join("link")).unwrap(),
            PathBuf::from("README"),
            "{name}"
        );
    }

    let c = case(&seed("7-deb"));
    unpack(&c.archive, Unpack::Deb, &c.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(
        fs::read(c.dest.join("usr/bin/tool")).unwrap(),
        b"#!/bin/sh\n"
    );

    for name in ["0-pax-long-names", "0-gnu-long-names"] {
        let c = case(&seed(name));
        let out = unpack(&c.archive, Unpack::Tar, &c.dest, &UnpackOptions::default()).unwrap();
        assert_eq!(out.stripped.as_deref(), Some("long"), "{name}");
        assert!(c.dest.join("n".repeat(150)).is_file(), "{name}");
        // A symlink to /etc is data: created, never followed.
        assert_eq!(
            fs::read_link(c.dest.join("etc")).unwrap(),
            PathBuf::from("/etc")
        );
    }
}
