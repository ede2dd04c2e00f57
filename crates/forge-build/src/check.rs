//! Comparing two output trees for `forge build --check`.
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

fn first_difference(a: &Path, b: &Path, rewrite: &[(&str, &str)]) -> io::Result<Option<u64>> {
    let mut fa = Vec::new();
    fs::File::open(a)?.read_to_end(&mut fa)?;
    let mut fb = Vec::new();
    fs::File::open(b)?.read_to_end(&mut fb)?;
    let fb = rewritten(&fb, rewrite);
    let common = fa.iter().zip(&fb).position(|(x, y)| x != y);
    Ok(match common {
        Some(p) => Some(p as u64),
        None if fa.len() != fb.len() => Some(fa.len().min(fb.len()) as u64),
        None => None,
    })
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
}
