//! A pids cgroup around a sandbox, for when forge runs as root, and the
//! memory cgroup of a spec with a memory limit ([`MemoryCgroup`]; cgroup
//! v1, root only). See docs/sandbox.md and docs/build.md ("Resources").
//!
//! `RLIMIT_NPROC` is not enforced for processes whose real uid is the host's
//! root (the kernel exempts `INIT_USER`), and a sandbox started by root maps
//! its build user to root. So when forge runs as root it also puts the
//! sandbox in a cgroup of its own with `pids.max`, which holds whatever the
//! uid. Unprivileged users rely on `RLIMIT_NPROC`, which holds for them.
//!
//! Both cgroup v1 (a `pids` hierarchy) and v2 (the pids controller enabled
//! in the parent's `cgroup.subtree_control`) are handled; when neither is
//! writable, [`PidsCgroup::create`] returns `None` and the caller reports the
//! gap (as it does when [`MemoryCgroup::create`] fails).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A cgroup that limits the number of processes; removed on drop.
#[derive(Debug)]
pub struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    /// Creates `forge-<name>` with `pids.max = max`, or `None` if this
    /// process cannot.
    pub fn create(name: &str, max: u64) -> Option<Self> {
        let parent = Self::parent()?;
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(|| sweep_stale(&parent));
        let dir = parent.join(format!("forge-{name}"));
        fs::create_dir(&dir).ok()?;
        let cg = PidsCgroup { dir };
        fs::write(cg.dir.join("pids.max"), max.to_string()).ok()?;
        Some(cg)
    }

    fn parent() -> Option<PathBuf> {
        if let Some(v1) = v1_parent("pids") {
            return Some(v1);
        }
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
        let parent = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
        let controls = fs::read_to_string(parent.join("cgroup.subtree_control")).ok()?;
        controls
            .split_whitespace()
            .any(|c| c == "pids")
            .then_some(parent)
    }

    /// Moves a process (and so its future children) into the cgroup.
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Whether the limit was hit at least once (`pids.events` max > 0).
    pub fn limit_hit(&self) -> bool {
        fs::read_to_string(self.dir.join("pids.events"))
            .ok()
            .and_then(|e| {
                e.lines()
                    .find_map(|l| l.strip_prefix("max ").map(|n| n.trim().parse::<u64>()))
            })
            .and_then(Result::ok)
            .is_some_and(|n| n > 0)
    }
}

/// Our own place in the cgroup v1 hierarchy of `controller`, if this
/// machine has that hierarchy.
fn v1_parent(controller: &str) -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    if !v1.join("cgroup.procs").exists() {
        return None;
    }
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrl.split(',')
            .any(|c| c == controller)
            .then(|| path.to_owned())
    })?;
    Some(v1.join(rel.trim_start_matches('/')))
}

/// A cgroup v1 memory cgroup that limits a sandbox's memory (root only);
/// removed on drop. cgroup v2 is not handled yet (a process is in one v2
/// cgroup: the limit would go into the pids cgroup's).
#[derive(Debug)]
pub struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    /// Creates `forge-<name>` in the memory hierarchy with
    /// `memory.limit_in_bytes = limit` (and the same for memory plus swap,
    /// where the kernel counts swap). The error says why not.
    pub fn create(name: &str, limit: u64) -> Result<Self, String> {
        let parent =
            v1_parent("memory").ok_or("this machine has no cgroup v1 memory controller")?;
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(|| sweep_stale(&parent));
        let dir = parent.join(format!("forge-{name}"));
        fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cg = MemoryCgroup { dir };
        let file = cg.dir.join("memory.limit_in_bytes");
        fs::write(&file, limit.to_string())
            .map_err(|e| format!("writing {}: {e}", file.display()))?;
        let swap = cg.dir.join("memory.memsw.limit_in_bytes");
        if swap.exists() {
            let _ = fs::write(swap, limit.to_string());
        }
        Ok(cg)
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Whether the kernel's OOM killer killed a process of the cgroup
    /// (`oom_kill` in `memory.oom_control`, kernels from 4.13).
    pub fn oom_killed(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.oom_control"))
            .ok()
            .and_then(|e| {
                e.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ").map(|n| n.trim().parse::<u64>()))
            })
            .and_then(Result::ok)
            .is_some_and(|n| n > 0)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        remove_when_empty(&self.dir);
    }
}

/// Removes the cgroups of forge processes that died without removing theirs
/// (`kill -9`): `forge-<pid>-<n>` whose pid is gone, once per process. What
/// is still inside one is a dead forge's sandbox on its way out (its
/// parent-death signal is delivered, but a pid namespace can take a while
/// to empty on a busy machine): it is killed, and the removal retried for
/// up to a second.
///
/// Only a cgroup whose name says its forge was in this process's pid
/// namespace (see [`owner`]) is judged by its pid, and only when this
/// process's `/proc` is of its own pid namespace: a live forge in another
/// pid namespace sharing the hierarchy (a container, `unshare --pid`) has
/// a pid that means nothing here, and its build was killed (review
/// finding). Others are left alone.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let Some(ours) = pid_namespace().filter(|_| own_proc()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, ns)) = name
            .to_str()
            .and_then(|n| n.strip_prefix("forge-"))
            .and_then(|n| {
                let mut parts = n.split('-');
                let pid = parts.next()?.parse::<u32>().ok()?;
                let ns = parts.next()?.strip_prefix("ns")?.parse::<u64>().ok()?;
                Some((pid, ns))
            })
        else {
            continue;
        };
        if ns == ours && !Path::new("/proc").join(pid.to_string()).exists() {
            remove_orphan(&entry.path());
        }
    }
}

/// How a forge process names its cgroups, `<pid>-ns<pid namespace inode>`
/// (then `-<unique>`): what [`sweep_stale`] needs to tell whether the
/// process is gone.
pub fn owner() -> String {
    format!("{}-ns{}", std::process::id(), pid_namespace().unwrap_or(0))
}

/// The inode of this process's pid namespace.
fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Whether `/proc` is of this process's pid namespace (its `self` is our
/// pid), so that `/proc/<pid>` answers for the pids of that namespace.
fn own_proc() -> bool {
    fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// Kills what is left in the cgroup `dir` of a dead forge and removes it.
fn remove_orphan(dir: &Path) {
    for _ in 0..100 {
        if fs::remove_dir(dir).is_ok() {
            return;
        }
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        remove_when_empty(&self.dir);
    }
}

/// Removes a cgroup. The processes die asynchronously after pid 1 exits;
/// an rmdir of a cgroup that still has members fails with EBUSY, so this
/// retries briefly.
fn remove_when_empty(dir: &Path) {
    for _ in 0..100 {
        if fs::remove_dir(dir).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
