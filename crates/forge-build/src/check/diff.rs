//! Comparing two output trees, file by file (the differences `--check` lists).
//!
//! [`diff_trees`] walks both trees in name order and lists every
//! difference a person needs to start looking: a path present on one side
//! only, a changed type or executable bit, a changed symlink target, and for
//! regular files both sizes and the first differing byte offset. The
//! rebuild still names its placeholder paths (its own and its sibling
//! outputs') where the original names the final paths, in contents, symlink
//! targets and file names; the caller passes those pairs so they compare
//! equal.

use std::fs;
use std::io::{self, Read};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Lists the differences between `old` and `new` (empty: identical).
/// `rewrite`: pairs (digest in `new`, digest in `old`) treated as equal.
pub fn diff_trees(old: &Path, new: &Path, rewrite: &[(&str, &str)]) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(old, new, Path::new(""), rewrite, &mut out)?;
    Ok(out)
}

fn kind(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "file"
    } else {
        // Never opened: a FIFO would block the comparison.
        "special file"
    }
}

/// `bytes` with every `from` digest replaced by its `to` (same lengths).
fn rewritten(bytes: &[u8], rewrite: &[(&str, &str)]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for (from, to) in rewrite {
        if from.len() != to.len() || from.is_empty() {
            continue;
        }
        let hits: Vec<usize> = memchr::memmem::find_iter(&b, from.as_bytes()).collect();
        for h in hits {
            b[h..h + to.len()].copy_from_slice(to.as_bytes());
        }
    }
    b
}

fn show(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        rel.display().to_string()
    }
}

fn walk(
    old: &Path,
    new: &Path,
    rel: &Path,
    rewrite: &[(&str, &str)],
    out: &mut Vec<String>,
) -> io::Result<()> {
    let (mo, mn) = (fs::symlink_metadata(old)?, fs::symlink_metadata(new)?);
    if kind(&mo) != kind(&mn) {
        out.push(format!(
            "{}: was a {}, now a {}",
            show(rel),
            kind(&mo),
            kind(&mn)
        ));
        return Ok(());
    }
    if mo.is_dir() {
        use std::collections::BTreeMap;
        use std::ffi::OsString;
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        // Name as it compares (rewritten) -> name on disk.
        let names = |p: &Path, map: bool| -> io::Result<BTreeMap<OsString, OsString>> {
            fs::read_dir(p)?
                .map(|e| {
                    e.map(|e| {
                        let n = e.file_name();
                        let key = if map {
                            OsString::from_vec(rewritten(n.as_bytes(), rewrite))
                        } else {
                            n.clone()
                        };
                        (key, n)
                    })
                })
                .collect()
        };
        let (a, b) = (names(old, false)?, names(new, true)?);
        let all: std::collections::BTreeSet<&OsString> = a.keys().chain(b.keys()).collect();
        for n in all {
            let r = rel.join(n);
            match (a.get(n), b.get(n)) {
                (Some(_), None) => out.push(format!("{}: only in the first build", show(&r))),
                (None, Some(_)) => out.push(format!("{}: only in the rebuild", show(&r))),
                (Some(x), Some(y)) => walk(&old.join(x), &new.join(y), &r, rewrite, out)?,
                (None, None) => unreachable!("a name of either side"),
            }
        }
    } else if mo.file_type().is_symlink() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let (a, b) = (fs::read_link(old)?, fs::read_link(new)?);
        let b = std::path::PathBuf::from(std::ffi::OsString::from_vec(rewritten(
            b.as_os_str().as_bytes(),
            rewrite,
        )));
        if a != b {
            out.push(format!(
                "{}: symlink to {} in the first build, to {} in the rebuild",
                show(rel),
                a.display(),
                b.display()
            ));
        }
    } else if kind(&mo) == "file" {
        let (xo, xn) = (
            mo.permissions().mode() & 0o111 != 0,
            mn.permissions().mode() & 0o111 != 0,
        );
        if xo != xn {
            out.push(format!(
                "{}: executable in {} only",
                show(rel),
                if xo { "the first build" } else { "the rebuild" }
            ));
        }
        if let Some(at) = first_difference(old, new, rewrite)? {
            out.push(format!(
                "{}: {} bytes in the first build, {} in the rebuild; first difference at byte {at}",
                show(rel),
                mo.len(),
                mn.len()
            ));
        }
    }
    Ok(())
}

/// The buffer size of `first_difference`: memory is bounded by a few of
/// these whatever the file sizes.
pub const COMPARE_BUFFER: usize = 1 << 16;

fn first_difference(a: &Path, b: &Path, rewrite: &[(&str, &str)]) -> io::Result<Option<u64>> {
    first_difference_in(
        &mut fs::File::open(a)?,
        &mut fs::File::open(b)?,
        rewrite,
        COMPARE_BUFFER,
    )
}

/// The first offset at which `a` and `b` (with `rewrite` applied) differ,
/// streaming through buffers of `buf` bytes. A rewrite that straddles two
/// reads is still seen: the last `longest - 1` bytes of each read are held
/// back and compared with the next one (rewrites keep lengths, so offsets
/// in `b` are offsets in the rewritten `b`).
pub fn first_difference_in(
    a: &mut impl Read,
    b: &mut impl Read,
    rewrite: &[(&str, &str)],
    buf: usize,
) -> io::Result<Option<u64>> {
    let keep = rewrite
        .iter()
        .map(|(f, _)| f.len())
        .max()
        .unwrap_or(0)
        .saturating_sub(1);
    let buf = buf.max(keep + 1);
    let mut pending: Vec<u8> = Vec::with_capacity(buf + keep);
    let mut chunk = vec![0u8; buf];
    let mut theirs = vec![0u8; buf + keep];
    let mut offset = 0u64;
    loop {
        let n = crate::util::read_full(b, &mut chunk)?;
        pending.extend_from_slice(&chunk[..n]);
        let eof = n < chunk.len();
        let mut ready = if eof {
            pending.len()
        } else {
            pending.len() - keep.min(pending.len())
        };
        // Same replacements, in the same order, as on a whole file; a match
        // that starts before the boundary is taken whole.
        for (from, to) in rewrite {
            if from.len() != to.len() || from.is_empty() {
                continue;
            }
            let hits: Vec<usize> = memchr::memmem::find_iter(&pending, from.as_bytes())
                .filter(|&h| h < ready)
                .collect();
            for h in hits {
                pending[h..h + to.len()].copy_from_slice(to.as_bytes());
                ready = ready.max(h + to.len());
            }
        }
        let m = crate::util::read_full(a, &mut theirs[..ready])?;
        if let Some(p) = theirs[..m]
            .iter()
            .zip(&pending[..ready])
            .position(|(x, y)| x != y)
        {
            return Ok(Some(offset + p as u64));
        }
        if m < ready {
            // `a` ended first.
            return Ok(Some(offset + m as u64));
        }
        offset += ready as u64;
        pending.drain(..ready);
        if eof {
            // `b` ended: equal unless `a` goes on.
            let more = crate::util::read_full(a, &mut theirs[..1])?;
            return Ok((more > 0).then_some(offset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_kind_of_difference() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        for p in [&a, &b] {
            fs::create_dir_all(p.join("sub")).unwrap();
            fs::write(p.join("same"), "x").unwrap();
        }
        fs::write(a.join("date"), "built at 10:00\n").unwrap();
        fs::write(b.join("date"), "built at 10:01\n").unwrap();
        fs::write(a.join("only-a"), "").unwrap();
        fs::write(b.join("sub/only-b"), "").unwrap();
        std::os::unix::fs::symlink("t1", a.join("link")).unwrap();
        std::os::unix::fs::symlink("t2", b.join("link")).unwrap();
        fs::write(a.join("self"), "/forge/store/AAAA-x").unwrap();
        fs::write(b.join("self"), "/forge/store/BBBB-x").unwrap();
        let diffs = diff_trees(&a, &b, &[("BBBB", "AAAA")]).unwrap();
        assert_eq!(
            diffs,
            vec![
                "date: 15 bytes in the first build, 15 in the rebuild; first difference at byte 13",
                "link: symlink to t1 in the first build, to t2 in the rebuild",
                "only-a: only in the first build",
                "sub/only-b: only in the rebuild",
            ]
        );
        assert!(diff_trees(&a, &a, &[]).unwrap().is_empty());
    }

    /// The whole-file comparison the streaming one replaces: the oracle.
    fn in_memory(a: &[u8], b: &[u8], rewrite: &[(&str, &str)]) -> Option<u64> {
        let b = rewritten(b, rewrite);
        match a.iter().zip(&b).position(|(x, y)| x != y) {
            Some(p) => Some(p as u64),
            None if a.len() != b.len() => Some(a.len().min(b.len()) as u64),
            None => None,
        }
    }

    #[test]
    fn streaming_finds_the_first_difference_past_the_buffer_and_across_rewrites() {
        let rw = [("BBBBBBBB", "AAAAAAAA"), ("CCCC", "DDDD")];
        // Digests at every position relative to a small buffer's edges.
        for buf in [9usize, 16, 64] {
            for at in 0..40 {
                let mut old = vec![b'.'; 300];
                let mut new = old.clone();
                old[at..at + 8].copy_from_slice(b"AAAAAAAA");
                new[at..at + 8].copy_from_slice(b"BBBBBBBB");
                old[200..204].copy_from_slice(b"DDDD");
                new[200..204].copy_from_slice(b"CCCC");
                let got = |o: &[u8], n: &[u8]| {
                    first_difference_in(&mut &o[..], &mut &n[..], &rw, buf).unwrap()
                };
                assert_eq!(got(&old, &new), None, "buf {buf} at {at}");
                for diff in [0, at, 150, 299] {
                    let mut n2 = new.clone();
                    n2[diff] = b'!';
                    assert_eq!(
                        got(&old, &n2),
                        in_memory(&old, &n2, &rw),
                        "buf {buf} at {at} diff {diff}"
                    );
                }
                assert_eq!(got(&old, &new[..250]), Some(250));
                assert_eq!(got(&old[..250], &new), Some(250));
            }
        }
    }

    /// Peak resident memory of this process (VmHWM), in KiB.
    fn peak_rss_kib() -> u64 {
        let s = fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn comparing_large_sparse_files_reads_through_a_bounded_buffer() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let size = 1u64 << 30;
        let at = size - 12_345;
        for (p, byte) in [(&a, b'x'), (&b, b'y')] {
            let f = fs::File::create(p).unwrap();
            f.set_len(size).unwrap();
            use std::os::unix::fs::FileExt;
            f.write_at(b"same start", 0).unwrap();
            f.write_at(&[byte], at).unwrap();
        }
        let before = peak_rss_kib();
        assert_eq!(first_difference(&a, &b, &[]).unwrap(), Some(at));
        let grew = peak_rss_kib().saturating_sub(before);
        assert!(
            grew < 64 << 10,
            "comparing two 1 GiB files took {grew} KiB more"
        );
    }
}
