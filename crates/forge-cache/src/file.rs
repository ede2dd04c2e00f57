//! `file:///dir`: a cache in a local directory, servable as it is by any
//! static file server.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;

/// A cache in a directory: the object `a/b` is the file `<dir>/a/b`.
/// Writes go to a temporary file in the target's directory, are synced,
/// then renamed into place, so a reader (or a crash) never sees half an
/// object.
#[derive(Debug)]
pub struct FileBackend {
    name: String,
    dir: PathBuf,
}

impl FileBackend {
    /// The cache in `dir` (created on the first write if missing).
    pub fn new(dir: impl Into<PathBuf>) -> FileBackend {
        let dir = dir.into();
        FileBackend {
            name: format!("file://{}", dir.display()),
            dir,
        }
    }

    /// The cache a `file://` URL names.
    pub fn from_url(url: &str) -> Result<FileBackend, CacheError> {
        let dir = forge_build::fetch::file_url_path(url).map_err(|e| CacheError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(FileBackend::new(dir))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.dir.join(key.as_str())
    }

    fn io(&self, what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
        let path = path.to_owned();
        move |source| CacheError::Io {
            cache: self.name.clone(),
            what,
            path,
            source,
        }
    }
}

impl Backend for FileBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError> {
        let path = self.path(key);
        match fs::File::open(&path) {
            Ok(f) => {
                let meta = f.metadata().map_err(self.io("reading", &path))?;
                if !meta.is_file() {
                    return Err(self.io("reading", &path)(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not a regular file",
                    )));
                }
                Ok(Some(Box::new(io::BufReader::new(f))))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", &path)(e)),
        }
    }

    fn exists(&self, key: &Key) -> Result<bool, CacheError> {
        let path = self.path(key);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io("looking at", &path)(e)),
        }
    }

    fn put(&self, key: &Key, data: &mut dyn Read) -> Result<u64, CacheError> {
        let path = self.path(key);
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        fs::create_dir_all(&parent).map_err(self.io("creating", &parent))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&parent)
            .map_err(self.io("creating a temporary file in", &parent))?;
        let n = io::copy(data, &mut tmp).map_err(self.io("writing", tmp.path()))?;
        tmp.flush().map_err(self.io("writing", &path))?;
        tmp.as_file()
            .sync_all()
            .map_err(self.io("syncing", &path))?;
        // Readable by a static server running as another user.
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
                .map_err(self.io("setting the mode of", &path))?;
        }
        tmp.persist(&path)
            .map_err(|e| self.io("renaming into place", &path)(e.error))?;
        Ok(n)
    }

    fn put_file(&self, key: &Key, file: &Path) -> Result<u64, CacheError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(key);
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        fs::create_dir_all(&parent).map_err(self.io("creating", &parent))?;
        let f = fs::File::open(file).map_err(self.io("reading", file))?;
        let meta = f.metadata().map_err(self.io("reading", file))?;
        f.sync_all().map_err(self.io("syncing", file))?;
        fs::set_permissions(file, fs::Permissions::from_mode(0o644))
            .map_err(self.io("setting the mode of", file))?;
        match fs::rename(file, &path) {
            Ok(()) => Ok(meta.len()),
            // Another file system: copy it in, atomically all the same.
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                let mut f = f;
                self.put(key, &mut f)
            }
            Err(e) => Err(self.io("renaming into place", &path)(e)),
        }
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}
