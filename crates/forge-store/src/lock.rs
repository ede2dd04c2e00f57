//! Advisory file locks (`flock`), released when dropped or when the process dies.
//!
//! Locks are what make a crash harmless: the kernel drops a dead process's
//! locks, so the next process can tell a live addition from a leftover one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{IoContext, Result};

/// A held lock on a file.
#[derive(Debug)]
pub struct FileLock {
    _lock: Flock<File>,
    path: PathBuf,
}

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once.
    Shared,
    /// One holder.
    Exclusive,
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .ctx("opening lock file", path)
}

/// True if `lock`'s file is still the one at `path`: a holder may unlink a
/// lock file while others wait on it, and a lock on an unlinked file guards
/// nothing.
fn still_linked(lock: &Flock<File>, path: &Path) -> Result<bool> {
    let held = lock.metadata().ctx("reading lock file", path)?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).ctx("reading lock file", path),
    }
}

impl FileLock {
    /// Blocks until the lock is held.
    pub fn acquire(path: &Path, mode: LockMode) -> Result<Self> {
        let arg = match mode {
            LockMode::Shared => FlockArg::LockShared,
            LockMode::Exclusive => FlockArg::LockExclusive,
        };
        loop {
            let file = open(path)?;
            let lock = Flock::lock(file, arg)
                .map_err(|(_, e)| std::io::Error::from(e))
                .ctx("locking", path)?;
            if still_linked(&lock, path)? {
                return Ok(FileLock {
                    _lock: lock,
                    path: path.to_owned(),
                });
            }
        }
    }

    /// Takes the lock if nobody holds it, else returns `None`.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<Option<Self>> {
        let arg = match mode {
            LockMode::Shared => FlockArg::LockSharedNonblock,
            LockMode::Exclusive => FlockArg::LockExclusiveNonblock,
        };
        loop {
            let file = open(path)?;
            match Flock::lock(file, arg) {
                Ok(lock) => {
                    if still_linked(&lock, path)? {
                        return Ok(Some(FileLock {
                            _lock: lock,
                            path: path.to_owned(),
                        }));
                    }
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, e)) => return Err(std::io::Error::from(e)).ctx("locking", path),
            }
        }
    }

    /// Deletes the lock file, then releases the lock. Waiters notice the
    /// file is gone and start over on a fresh one.
    pub fn unlink_and_release(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx("removing lock file", &self.path),
        }
    }

    /// Writes this process's pid into the locked file, for
    /// [`FileLock::holder`] (an exclusive lock's holder says who it is).
    pub fn record_holder(&self) -> Result<()> {
        use std::io::{Seek, Write};
        let mut f: &File = &self._lock;
        f.set_len(0)
            .and_then(|()| f.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| f.write_all(std::process::id().to_string().as_bytes()))
            .ctx("recording the holder of", &self.path)
    }

    /// The pid the holder of the lock at `path` recorded, if any (it may
    /// be a previous holder's for an instant after a new one took it).
    pub fn holder(path: &Path) -> Option<u32> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
