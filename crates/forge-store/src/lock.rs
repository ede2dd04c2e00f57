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

    /// The processes holding a `flock` on the file at `path` (as
    /// `/proc/locks` lists them; empty where it cannot be read), each once,
    /// in ascending order. A shared lock's holders cannot record themselves
    /// in the file as an exclusive one's do ([`FileLock::record_holder`]).
    pub fn holders(path: &Path) -> Vec<u32> {
        let (Ok(meta), Ok(locks)) = (
            std::fs::metadata(path),
            std::fs::read_to_string("/proc/locks"),
        ) else {
            return Vec::new();
        };
        let mut pids = holders_in(&locks, meta.dev(), meta.ino());
        pids.retain(|&p| p != std::process::id());
        pids
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pids of the `FLOCK` entries of `/proc/locks` text `locks` on the
/// file `dev`:`ino`, each once, ascending. A line reads
/// `1: FLOCK  ADVISORY  READ  1234 fd:01:5678 0 EOF` (a waiter's has
/// `->` after its number), the device as `major:minor` in hex.
fn holders_in(locks: &str, dev: u64, ino: u64) -> Vec<u32> {
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    let mut pids: Vec<u32> = locks
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().skip(1);
            let kind = f.next()?;
            if kind != "FLOCK" {
                return None;
            }
            let (_advisory, _mode, pid, file) = (f.next()?, f.next()?, f.next()?, f.next()?);
            (file == want).then(|| pid.parse().ok()).flatten()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_read_by_file_and_waiters_are_skipped() {
        let dev = libc::makedev(0xfd, 1);
        let text = "1: FLOCK  ADVISORY  READ  42 fd:01:77 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 50 fd:01:77 0 EOF\n\
                    2: FLOCK  ADVISORY  READ  7 fd:01:77 0 EOF\n\
                    3: POSIX  ADVISORY  WRITE 9 fd:01:77 0 EOF\n\
                    4: FLOCK  ADVISORY  READ  42 fd:01:77 0 EOF\n\
                    5: FLOCK  ADVISORY  WRITE 8 fd:01:78 0 EOF\n";
        assert_eq!(holders_in(text, dev, 77), [7, 42]);
        assert_eq!(holders_in("garbage\n1:\n", dev, 77), Vec::<u32>::new());
    }

    #[test]
    fn the_holders_of_a_shared_lock_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let _held = FileLock::acquire(&path, LockMode::Shared).unwrap();
        // This process's own lock is left out; a child's is seen.
        assert_eq!(FileLock::holders(&path), Vec::<u32>::new());
        let mut child = std::process::Command::new("flock")
            .args(["-s", path.to_str().unwrap(), "sleep", "30"])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen = FileLock::holders(&path);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.len(), 1, "{seen:?}");
    }
}
