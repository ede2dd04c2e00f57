//! Comparing two output trees for `forge build --check`.
//!
//! [`diff_trees`] walks both trees in name order and lists every
//! difference a person needs to start looking: a path present on one side
//! only, a changed type or executable bit, a changed symlink target, and for
//! regular files both sizes and the first differing byte offset. The
//! rebuild still names its placeholder path where the original names its
//! final path; the caller passes that pair so those bytes compare equal.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Lists the differences between `old` and `new` (empty: identical).
/// `rewrite` = (digest in `new`, digest in `old`) treated as equal.
pub fn diff_trees(
    old: &Path,
    new: &Path,
    rewrite: Option<(&str, &str)>,
) -> io::Result<Vec<String>> {
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
    } else {
        "file"
    }
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
    rewrite: Option<(&str, &str)>,
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
        let names = |p: &Path| -> io::Result<std::collections::BTreeSet<std::ffi::OsString>> {
            fs::read_dir(p)?.map(|e| e.map(|e| e.file_name())).collect()
        };
        let (a, b) = (names(old)?, names(new)?);
        for n in a.union(&b) {
            let r = rel.join(n);
            match (a.contains(n), b.contains(n)) {
                (true, false) => out.push(format!("{}: only in the first build", show(&r))),
                (false, true) => out.push(format!("{}: only in the rebuild", show(&r))),
                _ => walk(&old.join(n), &new.join(n), &r, rewrite, out)?,
            }
        }
    } else if mo.file_type().is_symlink() {
        let (a, b) = (fs::read_link(old)?, fs::read_link(new)?);
        let b = match rewrite {
            Some((from, to)) => b.to_string_lossy().replace(from, to).into(),
            None => b,
        };
        if a != b {
            out.push(format!(
                "{}: symlink to {} in the first build, to {} in the rebuild",
                show(rel),
                a.display(),
                b.display()
            ));
        }
    } else {
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

fn first_difference(a: &Path, b: &Path, rewrite: Option<(&str, &str)>) -> io::Result<Option<u64>> {
    let mut fa = Vec::new();
    fs::File::open(a)?.read_to_end(&mut fa)?;
    let mut fb = Vec::new();
    fs::File::open(b)?.read_to_end(&mut fb)?;
    if let Some((from, to)) = rewrite {
        if from.len() == to.len() && !from.is_empty() {
            let finder = memchr::memmem::Finder::new(from.as_bytes());
            let hits: Vec<usize> = finder.find_iter(&fb).collect();
            for h in hits {
                fb[h..h + to.len()].copy_from_slice(to.as_bytes());
            }
        }
    }
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
        let diffs = diff_trees(&a, &b, Some(("BBBB", "AAAA"))).unwrap();
        assert_eq!(
            diffs,
            vec![
                "date: 15 bytes in the first build, 15 in the rebuild; first difference at byte 13",
                "link: symlink to t1 in the first build, to t2 in the rebuild",
                "only-a: only in the first build",
                "sub/only-b: only in the rebuild",
            ]
        );
        assert!(diff_trees(&a, &a, None).unwrap().is_empty());
    }
}
