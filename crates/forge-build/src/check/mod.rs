//! `forge build --check` (the derivation check): a realised derivation is
//! built again and its outputs compared with the recorded ones. A rebuild
//! that differs is kept at `<root>/check/<path>.check` (made as canonical as
//! a store object, without special files) beside its log, and the
//! differences are reported ([`Event::Checked`]); nothing is registered.

pub mod diff;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use forge_core::store_path::StorePath;
use forge_store::outputs::BuiltOutput;

pub use self::diff::{diff_trees, first_difference_in, COMPARE_BUFFER};
use crate::error::BuildError;
use crate::event::Event;
use crate::session::Session;

/// A special file removed from a kept `--check` rebuild: (path relative to
/// the output, kind).
type Removed = (PathBuf, &'static str);

impl Session<'_> {
    /// `--check`: the rebuild's outputs against the realised ones.
    pub fn compare(
        &self,
        name: &str,
        built: &[BuiltOutput],
        log: &Path,
        previous: &BTreeMap<String, StorePath>,
    ) -> Result<(BTreeMap<String, StorePath>, Option<bool>), BuildError> {
        let mut detail = Vec::new();
        let mut same = true;
        // Every output's placeholder (an output may name its siblings) maps
        // to the recorded path, so that only real differences remain.
        let pairs: Vec<(&str, &str)> = built
            .iter()
            .map(|b| (b.placeholder.hash_part(), previous[&b.output].hash_part()))
            .collect();
        for b in built {
            let old = &previous[&b.output];
            let old_physical = self.layout.physical(old);
            let diffs =
                diff_trees(&old_physical, &b.staged, &pairs).map_err(|source| BuildError::Io {
                    what: format!("comparing {} with its rebuild", old),
                    source,
                })?;
            if !diffs.is_empty() {
                same = false;
                let (kept, removed) = self.keep_check_tree(&b.staged, old)?;
                detail.push(format!(
                    "output `{}` differs from {old} (rebuild kept at {}, its log at {}):",
                    b.output,
                    kept.display(),
                    log.display()
                ));
                detail.extend(diffs.into_iter().map(|d| format!("  {d}")));
                detail.extend(
                    removed
                        .into_iter()
                        .map(|(p, kind)| format!("  {}: a {kind}, not kept", p.display())),
                );
            }
        }
        self.reporter.event(&Event::Checked {
            recipe: name.to_owned(),
            reproducible: same,
            detail,
        });
        Ok((previous.clone(), Some(same)))
    }

    /// Moves a `--check` rebuild to `<root>/check/<path>.check`, as canonical
    /// as a store object (modes 0444/0555, mtime 1, no set-id bits, no
    /// extended attributes), without its special files, which are removed
    /// and returned (relative path, kind): nothing a builder leaves there
    /// is a FIFO to block on, a world-writable directory or a set-id file.
    fn keep_check_tree(
        &self,
        staged: &Path,
        old: &StorePath,
    ) -> Result<(PathBuf, Vec<Removed>), BuildError> {
        let dir = self.root.join("check");
        fs::create_dir_all(&dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let dest = dir.join(format!("{}.check", old.base_name()));
        if fs::symlink_metadata(&dest).is_ok() {
            let _ = forge_store::tree::remove_tree(&dest);
        }
        fs::rename(staged, &dest).map_err(|source| BuildError::Io {
            what: format!("keeping the rebuild at {}", dest.display()),
            source,
        })?;
        let mut removed = Vec::new();
        remove_special_files(&dest, Path::new(""), &mut removed).map_err(|source| {
            BuildError::Io {
                what: format!("removing special files from {}", dest.display()),
                source,
            }
        })?;
        // (Unless the output itself was a special file, now gone.)
        if fs::symlink_metadata(&dest).is_ok() {
            forge_store::tree::canonicalise_in_place(&dest, usize::MAX)?;
        }
        Ok((dest, removed))
    }
}

/// Unlinks every FIFO, socket and device under `path` (never following a
/// symlink); records each as (path relative to the top, kind).
fn remove_special_files(
    path: &Path,
    rel: &Path,
    removed: &mut Vec<Removed>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        // Whatever mode the builder left: readable while it is walked
        // (canonicalised right after).
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(path)? {
            let name = entry?.file_name();
            remove_special_files(&path.join(&name), &rel.join(&name), removed)?;
        }
    } else if !ft.is_file() && !ft.is_symlink() {
        fs::remove_file(path)?;
        let shown = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        removed.push((shown.to_owned(), forge_store::tree::kind_name(ft)));
    }
    Ok(())
}
