//! `seed` inputs: a snapshot of host files declared in `seeds/NAME.toml`
//! ([`crate::seed`]), imported into the store and pinned in `recipe.lock`.
//!
//! Assembling a seed walks the host (every ELF file's libraries), so an
//! import is remembered in `<root>/cache/seeds/<key>.json` with an lstat
//! fingerprint of every host file it took and every directory a
//! reassembly would look in; while those are unchanged (and the store
//! path is valid) the import is not repeated.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::{StorePath, StorePathName};

use crate::error::BuildError;
use crate::event::Event;
use crate::session::Session;

impl Session<'_> {
    /// The store path of seed input `input` (the seed `seed`) of recipe `i`.
    pub fn realise_seed(&self, i: usize, input: &str, seed: &str) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let seed_err = |e: crate::seed::SeedError| {
            let loc = node.recipe.input_location(input);
            if let crate::seed::SeedError::Private { seed_file, problem } = e {
                return BuildError::HostPath {
                    at: format!(
                        "{}:{}:{}: seed input `{input}` ({})",
                        node.file.display(),
                        loc.line,
                        loc.column,
                        seed_file.display()
                    ),
                    problem,
                };
            }
            BuildError::Seed {
                at: format!(
                    "{}:{}:{}: seed input `{input}`",
                    node.file.display(),
                    loc.line,
                    loc.column
                ),
                source: Box::new(e),
            }
        };
        let file = crate::seed::find_seed(&node.dir, seed).map_err(seed_err)?;
        let text = crate::inputs::read_regular(&file).map_err(|source| BuildError::Io {
            what: format!("reading {}", file.display()),
            source,
        })?;
        let (path, hash) = match self.cached_seed(&file, &text)? {
            Some(hit) => hit,
            None => {
                self.reporter.event(&Event::ImportingSeed {
                    recipe: node.recipe.store_name(),
                    seed: seed.to_owned(),
                });
                let decl = crate::seed::load(&file).map_err(seed_err)?;
                let (path, manifest) = {
                    let mut store = self.store();
                    crate::seed::import(&mut store, &decl, &self.opts.host_access)
                        .map_err(seed_err)?
                };
                let hash = self.store().path_info(&path)?.nar_blake3;
                self.remember_seed(&file, &text, &manifest, &hash);
                (path, hash)
            }
        };
        self.check_pin(i, input, "seed", &file.display().to_string(), &hash)?;
        Ok(path)
    }

    /// A seed imported before from the same declaration and unchanged host
    /// files (by an lstat fingerprint of every file its manifest lists),
    /// whose store path is still valid: no need to assemble it again.
    fn cached_seed(
        &self,
        file: &Path,
        text: &[u8],
    ) -> Result<Option<(StorePath, Hash)>, BuildError> {
        let Some(bytes) = self.state.seed_cache_entry(file) else {
            return Ok(None);
        };
        let Ok(entry) = serde_json::from_slice::<SeedCacheEntry>(&bytes) else {
            return Ok(None);
        };
        if entry.declaration != blake3::hash(text).to_hex().as_str() || entry.copied.is_empty() {
            return Ok(None);
        }
        let Some(fp) = host_fingerprint(&entry.files) else {
            return Ok(None);
        };
        if fp != entry.fingerprint {
            return Ok(None);
        }
        // The seed trust rule holds for a cached import too (it may have
        // been made with --allow-private): anything private means a real
        // import, which checks and explains.
        // On what the seed copies (what it only watches, such as `/` or
        // the loader's directories, is no seed place).
        if crate::inputs::check_seed_places(
            entry.copied.iter().map(PathBuf::as_path),
            &self.opts.host_access.allow_paths,
        )
        .is_err()
        {
            return Ok(None);
        }
        if !self.opts.host_access.allow_private {
            let present: Vec<(PathBuf, bool)> = entry
                .copied
                .iter()
                .filter_map(|p| {
                    let m = fs::symlink_metadata(p).ok()?;
                    Some((p.clone(), m.file_type().is_symlink()))
                })
                .collect();
            if crate::inputs::check_seed_paths(present.iter().map(|(p, l)| (p.as_path(), *l)))
                .is_err()
            {
                return Ok(None);
            }
        }
        let (Ok(path), Ok(hash)) = (
            StorePath::parse(&entry.path),
            Hash::parse_as(HashAlgo::Blake3, &entry.nar_blake3),
        ) else {
            return Ok(None);
        };
        let valid = self.store().db().is_valid(&path)?;
        Ok(valid.then_some((path, hash)))
    }

    fn remember_seed(
        &self,
        file: &Path,
        text: &[u8],
        manifest: &crate::seed::SeedManifest,
        hash: &Hash,
    ) {
        let copied: Vec<PathBuf> = manifest.entries.iter().map(|e| e.path.clone()).collect();
        let files = seed_watch_list(copied.iter().cloned());
        let Some(fingerprint) = host_fingerprint(&files) else {
            return;
        };
        let name = StorePathName::new(&format!("seed-{}", manifest.seed));
        let Ok(name) = name else { return };
        let path = StorePath::content_addressed(name, hash, &BTreeSet::new(), false);
        let entry = SeedCacheEntry {
            declaration: blake3::hash(text).to_hex().to_string(),
            copied,
            files,
            fingerprint,
            path: path.to_string(),
            nar_blake3: hash.to_hex(),
        };
        // Only an optimisation: failures to write it are ignored.
        if let Ok(json) = serde_json::to_vec(&entry) {
            let _ = self.state.set_seed_cache_entry(file, &json);
        }
    }
}

/// What `<root>/cache/seeds/<key>.json` remembers of a seed import.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SeedCacheEntry {
    /// BLAKE3 of the declaration file's text.
    declaration: String,
    /// Every host path the manifest listed: what the seed copies, for the
    /// trust rules checked again on each use (an entry without it, from an
    /// older forge, reads as empty and is not used).
    #[serde(default)]
    copied: Vec<PathBuf>,
    /// What the fingerprint covers: those, their directories and the
    /// loader's configuration ([`seed_watch_list`]).
    files: Vec<PathBuf>,
    /// [`host_fingerprint`] of those, at import time.
    fingerprint: String,
    /// The store path the seed was imported as.
    path: String,
    /// Its NAR hash.
    nar_blake3: String,
}

/// What a seed's cache entry must watch: every host path its manifest
/// lists, the directory of each (an entry created there, such as the target
/// of a symlink that dangled, or a library that now shadows another, changes
/// it), and the dynamic loader's configuration and search directories,
/// where a new library would be found first on reassembly.
fn seed_watch_list(manifest: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    for p in manifest {
        if let Some(parent) = p.parent() {
            out.insert(parent.to_owned());
        }
        out.insert(p);
    }
    let mut search = crate::seed::resolve::LibrarySearch::new(Path::new("/"));
    out.extend(search.conf_dirs().iter().cloned());
    for f in ["/etc/ld.so.conf", "/etc/ld.so.conf.d"] {
        out.insert(PathBuf::from(f));
    }
    if let Ok(d) = fs::read_dir("/etc/ld.so.conf.d") {
        out.extend(d.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    out.into_iter().collect()
}

/// An lstat fingerprint of host files (type, size, mode, inode, device,
/// mtime, ctime; a missing one counts as such); `None` if one changed in the
/// last seconds.
fn host_fingerprint(files: &[PathBuf]) -> Option<String> {
    fingerprint_at(files, unix_now())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// [`host_fingerprint`] as of `now` (seconds since the epoch).
fn fingerprint_at(files: &[PathBuf], now: i64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        let Ok(m) = fs::symlink_metadata(f) else {
            h.update(b"missing\0");
            continue;
        };
        if m.ctime() >= now - 2 || m.mtime() >= now - 2 {
            return None;
        }
        forge_store::source::hash_metadata(&mut h, &m);
    }
    Some(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_cache_watches_the_directories_of_its_files() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("tool"), "x").unwrap();
        let list = seed_watch_list([bin.join("tool")].into_iter());
        assert!(list.contains(&bin), "{list:?}");
        assert!(list.contains(&PathBuf::from("/etc/ld.so.conf")), "{list:?}");
        // As if a while later (changes just made are never cached).
        let later = unix_now() + 100;
        let before = fingerprint_at(&list, later).expect("old enough");
        assert_eq!(host_fingerprint(&list), None, "just changed: not cached");
        // A file appearing next to a listed one (the target of a symlink
        // that dangled, a library that now comes first) is a change.
        fs::write(bin.join("appeared"), "y").unwrap();
        let after = fingerprint_at(&list, later).expect("old enough");
        assert_ne!(before, after);
        // A missing path is part of the fingerprint, not a reason to fail.
        let with_missing = vec![d.path().join("nope")];
        assert!(fingerprint_at(&with_missing, later).is_some());
    }
}
