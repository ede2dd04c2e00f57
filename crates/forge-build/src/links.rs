//! Result symlinks (`./result`, `--out-link`): one per output of each
//! requested recipe (`<link>` for the first output, `<link>-<output>` for
//! the others; the second recipe's `<link>` is `result-2`, see
//! [`numbered`]), each replaced atomically and registered as an indirect
//! GC root.

use std::fs;
use std::path::{Path, PathBuf};

use forge_store::Store;

use crate::error::BuildError;
use crate::graph::Node;
use crate::report::Realised;

/// Points `link` (and its siblings) at the outputs of `real`, the result of
/// `node`; returns the links made, absolute. The caller holds the GC lock,
/// so the outputs cannot go away between their registration and their
/// rooting.
pub fn make_links(
    store: &mut Store,
    node: &Node,
    real: &Realised,
    link: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    let mut links = Vec::new();
    for output in &node.recipe.outputs {
        let Some(path) = real.outputs.get(output) else {
            continue;
        };
        let l = if *output == node.recipe.outputs[0] {
            link.to_owned()
        } else {
            let mut s = link.as_os_str().to_owned();
            s.push(format!("-{output}"));
            PathBuf::from(s)
        };
        replace_symlink(&store.physical(path), &l)?;
        links.push(store.add_indirect_root(&l)?);
    }
    Ok(links)
}

/// The link of the `n`th target (from 0) of a build: `link` itself for
/// the first, `<link>-<n+1>` for the others (`result`, `result-2`, …).
pub fn numbered(link: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return link.to_owned();
    }
    let mut s = link.as_os_str().to_owned();
    s.push(format!("-{}", n + 1));
    PathBuf::from(s)
}

/// Points `link` at `target`, replacing an existing symlink atomically.
fn replace_symlink(target: &Path, link: &Path) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        what: format!("creating {}", link.display()),
        source,
    };
    if let Ok(meta) = fs::symlink_metadata(link) {
        if !meta.file_type().is_symlink() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a symlink; remove it or choose another --out-link",
            )));
        }
    }
    let mut tmp = link.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io)?;
    fs::rename(&tmp, link).map_err(io)
}
