//! The syscalls that carry out a [`Plan`](crate::plan::Plan).
//!
//! Everything that changes the system goes through the [`Syscalls`] trait:
//! [`Linux`] makes the real calls, [`Recorder`] (tests) writes down each
//! call with its exact flags, so the sequence the executor issues for a plan
//! is checked by ordinary unit tests (the approach of youki's `Syscall`).
//! The few calls the `nix` crate does not wrap safely (bringing `lo` up)
//! are the only `unsafe` code, each with its reason.
#![allow(unsafe_code)] // ioctl(SIOCSIFFLAGS) to bring up loopback; nothing else

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::plan::{Flags, Step, NEW_ROOT, OLD_ROOT};

/// The operations the executor needs.
pub trait Syscalls {
    /// mount(2).
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// A bind mount of `source` at `target` that never follows a symlink
    /// at `source` itself: the source must still be a directory (if
    /// `is_dir`) or a non-directory that is not a symlink, as it was when
    /// the runner looked. Not recursive. `via` says how the source's host
    /// path is kept out of the mount's entry in mountinfo.
    /// Returns the flags the new mount has when they are known without
    /// asking the kernel (a bind from forge's own overlay), else `None`.
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        is_dir: bool,
        via: Via,
    ) -> io::Result<Option<MsFlags>>;
    /// chmod(2), exactly (no umask).
    fn chmod(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// The flags the kernel reports for the mount holding `path`, as
    /// `MS_*` flags that a bind remount must keep.
    fn locked_flags(&mut self, path: &Path) -> io::Result<MsFlags>;
    /// mkdir -p with a mode for the last component.
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates an empty file (a bind-mount target).
    fn touch(&mut self, path: &Path) -> io::Result<()>;
    /// symlink(2).
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()>;
    /// Writes a file with a mode.
    fn write_file(&mut self, path: &Path, contents: &str, mode: u32) -> io::Result<()>;
    /// chdir(2).
    fn chdir(&mut self, path: &Path) -> io::Result<()>;
    /// pivot_root(2).
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// umount2(2) with MNT_DETACH.
    fn detach(&mut self, target: &Path) -> io::Result<()>;
}

/// How a bind reaches its source, so that the mount's root field in
/// mountinfo (the source's path within its filesystem: a store path's host
/// location) does not tell where the source is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Straight from the source (devices: an overlay in a user namespace
    /// cannot give access to device nodes).
    Direct,
    /// Read-only: from a read-only overlay of the source's parent
    /// directory, mounted with `lowerdir=.` from inside that directory, so
    /// the entry reads `/<name>` and `lowerdir=.:/.empty` wherever the
    /// source lies. A source that is a mount point of its own is bound
    /// directly (the parent's overlay would show what is under it).
    ParentOverlay,
    /// Writable directory: through an overlay with the source as its upper
    /// layer (`upperdir=<name>`, relative to the parent) and a work
    /// directory next to it ([`workdir_of`]), which the runner removes
    /// after the run. Only for a directory that is empty when the sandbox
    /// starts (a build's scratch store is): overlayfs refuses to rename a
    /// directory that was in its upper layer before. Falls back to a direct
    /// bind otherwise, or where the overlay is not possible (a parent the
    /// invoker cannot write).
    UpperOverlay,
}

/// Where the executor puts the tmpfs behind a [`Step::Tmpfs`] overlay, in
/// the setup root (gone with it when the sandbox enters its new root).
const HIDDEN: &str = "/.hidden";
/// Where the executor mounts the read-only overlays of bind sources'
/// parents, in the setup root.
const LOWER: &str = "/.lower";
/// An empty directory of the setup root: the second, empty lower layer of
/// those overlays (overlayfs needs two lower layers without an upper one).
const EMPTY: &str = "/.empty";

/// The work directory the executor makes next to a writable directory bind
/// `host` ([`Via::UpperOverlay`]): `.<name>.forge-work` in its parent.
pub fn workdir_of(host: &Path) -> Option<std::path::PathBuf> {
    let name = host.file_name()?;
    let mut w = std::ffi::OsString::from(".");
    w.push(name);
    w.push(".forge-work");
    Some(host.parent()?.join(w))
}

/// Removes the work directories [`Via::UpperOverlay`] left next to the
/// spec's writable directory binds (empty once the sandbox is gone). Best
/// effort: one that is not there, or not empty, stays.
pub fn remove_workdirs(spec: &crate::spec::SandboxSpec) {
    for b in spec.binds.iter().filter(|b| b.writable) {
        if let Some(w) = workdir_of(&b.host) {
            for sub in ["work", "index"] {
                let _ = fs::remove_dir(w.join(sub));
            }
            let _ = fs::remove_dir(&w);
        }
    }
}

/// A path component naming `path` (any bytes but `/` and NUL), one to one.
fn flat_name(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'/' => out.push_str("%2f"),
            b'%' => out.push_str("%25"),
            b if b.is_ascii_alphanumeric() || b"-_.+@".contains(b) => out.push(char::from(*b)),
            b => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

fn ms(flags: Flags) -> MsFlags {
    let mut f = MsFlags::empty();
    f.set(MsFlags::MS_RDONLY, flags.rdonly);
    f.set(MsFlags::MS_NOSUID, flags.nosuid);
    f.set(MsFlags::MS_NODEV, flags.nodev);
    f.set(MsFlags::MS_NOEXEC, flags.noexec);
    f
}

fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Prepares the setup tmpfs: makes every mount private, mounts a tmpfs at
/// `base` (a directory that exists on the host, such as `/tmp`), and pivots
/// into it with the host root at [`OLD_ROOT`].
pub fn enter_setup_root(sys: &mut dyn Syscalls, base: &Path) -> io::Result<()> {
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(|e| ctx(e, "making mounts private".into()))?;
    sys.mount(
        Some(Path::new("tmpfs")),
        base,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=1m"),
    )
    .map_err(|e| ctx(e, format!("mounting the setup tmpfs on {}", base.display())))?;
    sys.chdir(base)?;
    sys.mkdir_all(&base.join(&NEW_ROOT[1..]), 0o755)?;
    sys.mkdir_all(&base.join(&OLD_ROOT[1..]), 0o755)?;
    sys.pivot_root(base, &base.join(&OLD_ROOT[1..]))
        .map_err(|e| ctx(e, "pivot_root into the setup tmpfs".into()))?;
    sys.chdir(Path::new("/"))
}

/// overlayfs's `lowerdir=` value: the directories joined with `:`, each
/// with `\\`, `:` and `,` escaped by a backslash (the separators of the
/// option and of the mount data).
pub fn overlay_lowerdir(lower: &[std::path::PathBuf]) -> String {
    let mut out = String::new();
    for (i, dir) in lower.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        for c in dir.to_string_lossy().chars() {
            if matches!(c, '\\' | ':' | ',') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The deepest directory that holds every one of `dirs` (`/` at worst).
fn common_dir(dirs: &[std::path::PathBuf]) -> std::path::PathBuf {
    let mut base = dirs
        .first()
        .and_then(|d| d.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| "/".into());
    while !dirs.iter().all(|d| d.starts_with(&base) && d != &base) {
        if !base.pop() {
            break;
        }
    }
    base
}

/// Carries out the plan's steps. Returns warnings about what was done
/// differently from the plan (an overlay the kernel refused, replaced by
/// its first layer).
pub fn apply_steps(sys: &mut dyn Syscalls, steps: &[Step]) -> io::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for step in steps {
        match step {
            Step::Ramfs { target, flags } => {
                sys.mkdir_all(target, 0o755)?;
                sys.mount(
                    Some(Path::new("ramfs")),
                    target,
                    Some("ramfs"),
                    ms(*flags),
                    None,
                )
                .map_err(|e| ctx(e, format!("mounting ramfs on {}", target.display())))?;
            }
            Step::Tmpfs {
                target,
                mode,
                size,
                flags,
            } => {
                // The tmpfs (whose options name the invoker's uid) out of
                // sight; an overlay with it as the upper layer at `target`.
                let backing = Path::new(HIDDEN).join(flat_name(target));
                sys.mkdir_all(&backing, 0o700)?;
                let mut data = String::from("mode=700");
                push_size(&mut data, *size);
                sys.mount(
                    Some(Path::new("tmpfs")),
                    &backing,
                    Some("tmpfs"),
                    ms(*flags),
                    Some(&data),
                )
                .map_err(|e| ctx(e, format!("mounting tmpfs for {}", target.display())))?;
                for (dir, m) in [("u", *mode), ("w", 0o700), ("e", 0o755)] {
                    sys.mkdir_all(&backing.join(dir), m)?;
                }
                // The umask may have taken bits of the overlay root's mode.
                sys.chmod(&backing.join("u"), *mode)?;
                sys.mkdir_all(target, 0o755)?;
                sys.chdir(&backing)?;
                let mounted = sys.mount(
                    Some(Path::new("overlay")),
                    target,
                    Some("overlay"),
                    ms(*flags),
                    Some("lowerdir=e,upperdir=u,workdir=w"),
                );
                sys.chdir(Path::new("/"))?;
                if let Err(e) = mounted {
                    // A kernel without unprivileged overlayfs (before 5.11):
                    // the tmpfs itself, whose options then name the uid.
                    let inside = target.strip_prefix(NEW_ROOT).unwrap_or(target);
                    warnings.push(format!(
                        "overlayfs refused for /{} ({e}); its tmpfs shows the invoker's uid in /proc/self/mountinfo",
                        inside.display()
                    ));
                    let mut data = format!("mode={mode:o}");
                    push_size(&mut data, *size);
                    sys.mount(
                        Some(Path::new("tmpfs")),
                        target,
                        Some("tmpfs"),
                        ms(*flags),
                        Some(&data),
                    )
                    .map_err(|e| ctx(e, format!("mounting tmpfs on {}", target.display())))?;
                }
            }
            Step::Bind {
                source,
                target,
                is_dir,
                flags,
            } => {
                if *is_dir {
                    sys.mkdir_all(target, 0o755)?;
                } else {
                    if let Some(parent) = target.parent() {
                        sys.mkdir_all(parent, 0o755)?;
                    }
                    sys.touch(target)?;
                }
                // Not recursive: mounts below a bound host path stay hidden
                // rather than appearing without the read-only flag.
                let via = if source.starts_with(Path::new(OLD_ROOT).join("dev")) {
                    Via::Direct
                } else if flags.rdonly {
                    Via::ParentOverlay
                } else if *is_dir {
                    Via::UpperOverlay
                } else {
                    Via::Direct
                };
                let known = sys.bind(source, target, *is_dir, via).map_err(|e| {
                    ctx(
                        e,
                        format!(
                            "binding {} to {}",
                            source.strip_prefix(OLD_ROOT).unwrap_or(source).display(),
                            target.strip_prefix(NEW_ROOT).unwrap_or(target).display()
                        ),
                    )
                })?;
                let keep = match known {
                    Some(f) => f,
                    None => sys.locked_flags(target)?,
                };
                sys.mount(
                    None,
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ms(*flags) | keep,
                    None,
                )
                .map_err(|e| ctx(e, format!("remounting {}", target.display())))?;
            }
            Step::Overlay {
                lower,
                target,
                flags,
            } => {
                sys.mkdir_all(target, 0o755)?;
                // Relative to the layers' common directory (the store), so
                // the options in mountinfo do not tell where it is.
                let base = common_dir(lower);
                let rel: Vec<std::path::PathBuf> = lower
                    .iter()
                    .map(|l| l.strip_prefix(&base).unwrap_or(l).to_owned())
                    .collect();
                let data = format!("lowerdir={}", overlay_lowerdir(&rel));
                sys.chdir(&base)?;
                let mounted = sys.mount(
                    Some(Path::new("overlay")),
                    target,
                    Some("overlay"),
                    ms(*flags),
                    Some(&data),
                );
                sys.chdir(Path::new("/"))?;
                if let Err(e) = mounted {
                    let inside = target.strip_prefix(NEW_ROOT).unwrap_or(target);
                    warnings.push(format!(
                        "overlayfs refused for /{} ({e}); using only its first root layer",
                        inside.display()
                    ));
                    let Some(first) = lower.first() else { continue };
                    let fallback = Step::Bind {
                        source: first.clone(),
                        target: target.clone(),
                        is_dir: true,
                        flags: *flags,
                    };
                    apply_steps(sys, std::slice::from_ref(&fallback))?;
                }
            }
            Step::Proc { target } => {
                sys.mkdir_all(target, 0o555)?;
                sys.mount(
                    Some(Path::new("proc")),
                    target,
                    Some("proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None,
                )
                .map_err(|e| ctx(e, "mounting /proc".into()))?;
                harden_proc(sys, target)?;
            }
            Step::Devpts { target } => {
                sys.mount(
                    Some(Path::new("devpts")),
                    target,
                    Some("devpts"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                    Some("newinstance,ptmxmode=0666,mode=620"),
                )
                .map_err(|e| ctx(e, "mounting /dev/pts".into()))?;
            }
            Step::Mkdir { path, mode } => sys.mkdir_all(path, *mode)?,
            Step::Symlink { target, link } => sys.symlink(target, link)?,
            Step::WriteFile {
                path,
                contents,
                mode,
            } => sys.write_file(path, contents, *mode)?,
            Step::RemountReadOnly { target } => {
                let keep = sys.locked_flags(target)?;
                sys.mount(
                    None,
                    target,
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
                    None,
                )
                .map_err(|e| ctx(e, format!("making {} read-only", target.display())))?;
            }
            Step::RemountRootReadOnly => {
                sys.mount(
                    None,
                    Path::new(NEW_ROOT),
                    None,
                    MsFlags::MS_REMOUNT
                        | MsFlags::MS_BIND
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV,
                    None,
                )
                .map_err(|e| ctx(e, "making the new root read-only".into()))?;
            }
        }
    }
    Ok(warnings)
}

/// A tmpfs's `size=` and `nr_inodes=` options: without an inode limit a
/// tmpfs takes about RAM/8K files whatever its size, each costing kernel
/// memory its size does not count (500,000 empty files in an 8 MiB /tmp
/// took half a gigabyte). One inode per 8 KiB of size, at least 1,024.
fn push_size(data: &mut String, size: Option<u64>) {
    if let Some(size) = size {
        data.push_str(&format!(",size={size},nr_inodes={}", inode_limit(size)));
    }
}

/// The inode limit of a tmpfs of `size` bytes.
pub fn inode_limit(size: u64) -> u64 {
    (size / 8192).max(1024)
}

/// procfs entries a build gets read-only: the kernel's tunables and
/// triggers. As root the build uid is the host's root, whose owner bits
/// on them would otherwise be held back by landlock alone.
pub const PROC_READ_ONLY: [&str; 6] = ["sys", "sysrq-trigger", "irq", "bus", "fs", "asound"];

/// procfs entries a build sees empty: what they tell is about the host,
/// its other users and its kernel's memory (timers with their owners' pids
/// and names, page flags, slab and vmalloc addresses, keyrings, the kernel
/// command line), and none of it belongs in a build. `true` for
/// directories.
pub const PROC_MASKED: [(&str, bool); 16] = [
    ("keys", false),
    ("pagetypeinfo", false),
    ("tty/driver", true),
    ("key-users", false),
    ("timer_list", false),
    ("sched_debug", false),
    ("slabinfo", false),
    ("vmallocinfo", false),
    ("kpagecount", false),
    ("kpageflags", false),
    ("kpagecgroup", false),
    ("kcore", false),
    ("latency_stats", false),
    ("cmdline", false),
    ("acpi", true),
    ("scsi", true),
];

/// Makes a fresh procfs at `proc` safe to show: [`PROC_READ_ONLY`] as
/// read-only binds of themselves, [`PROC_MASKED`] covered by an empty,
/// read-only file or directory of the setup root. Entries this kernel does
/// not have are skipped.
fn harden_proc(sys: &mut dyn Syscalls, proc: &Path) -> io::Result<()> {
    let ro = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    // On a ramfs of their own: the setup tmpfs's options would show the
    // invoker's uid in mountinfo, a ramfs's show nothing.
    let masks = Path::new(HIDDEN).join("proc-masks");
    sys.mkdir_all(&masks, 0o755)?;
    sys.mount(
        Some(Path::new("ramfs")),
        &masks,
        Some("ramfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
    .map_err(|e| ctx(e, "mounting the ramfs for /proc's masks".into()))?;
    let empty_file = masks.join("empty");
    let empty_dir = masks.join("empty.d");
    sys.mkdir_all(&empty_dir, 0o555)?;
    sys.touch(&empty_file)?;
    // Read-only once: a bind copies its source mount's flags, so the masks
    // need no remount each.
    sys.mount(None, &masks, None, ro, None)
        .map_err(|e| ctx(e, "making /proc's masks read-only".into()))?;
    // Entries this kernel does not have are skipped.
    let bind = |sys: &mut dyn Syscalls, source: &Path, target: &Path| -> io::Result<bool> {
        match sys.mount(Some(source), target, None, MsFlags::MS_BIND, None) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(ctx(e, format!("binding over {}", target.display()))),
            Ok(()) => Ok(true),
        }
    };
    for name in PROC_READ_ONLY {
        let target = proc.join(name);
        if bind(sys, &target, &target)? {
            sys.mount(None, &target, None, ro, None)
                .map_err(|e| ctx(e, format!("making {} read-only", target.display())))?;
        }
    }
    for (name, is_dir) in PROC_MASKED {
        let source = if is_dir { &empty_dir } else { &empty_file };
        bind(sys, source, &proc.join(name))?;
    }
    Ok(())
}

/// Moves into the assembled root for good and drops the host's root.
pub fn enter_new_root(sys: &mut dyn Syscalls, cwd: &Path) -> io::Result<()> {
    sys.chdir(Path::new(NEW_ROOT))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; a
    // lazy unmount of "." then removes it (and the host root under it).
    sys.pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| ctx(e, "pivot_root into the new root".into()))?;
    sys.detach(Path::new("."))
        .map_err(|e| ctx(e, "detaching the host root".into()))?;
    sys.chdir(Path::new("/"))?;
    sys.chdir(cwd)
}

/// The real kernel.
#[derive(Debug, Default)]
pub struct Linux;

impl Syscalls for Linux {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        mount(source, target, fstype, flags, data).map_err(io::Error::from)
    }

    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        is_dir: bool,
        via: Via,
    ) -> io::Result<Option<MsFlags>> {
        use std::os::fd::AsRawFd;
        let mut from = None;
        let mut known = None;
        // A source that is a mount of its own would be hidden by its
        // parent's overlay (which shows what is under it): bound directly.
        if via != Via::Direct && !is_mount_point(source) {
            if let (Some(parent), Some(name)) = (source.parent(), source.file_name()) {
                let hidden = match via {
                    Via::ParentOverlay => parent_overlay(parent, name, is_dir),
                    _ => upper_overlay(parent, name, target),
                };
                match hidden {
                    Ok(Some(fd)) => {
                        from = Some(fd);
                        known = Some(PARENT_OVERLAY_FLAGS);
                    }
                    Ok(None) => return Ok(None), // mounted at target already
                    // The direct bind below (which checks the source again).
                    Err(_) => {}
                }
            }
        }
        // O_PATH|O_NOFOLLOW pins what the runner looked at: a symlink
        // swapped in since then is opened as itself, and refused, instead of
        // being followed by mount(2) to wherever it points on the host.
        let from = match from {
            Some(fd) => fd,
            None => open_checked(source, is_dir)?,
        };
        // The host's /proc (under the old root) resolves the fd to exactly
        // the object opened, not to a path that could be resolved again.
        let by_fd = Path::new(OLD_ROOT)
            .join("proc/self/fd")
            .join(from.as_raw_fd().to_string());
        mount(
            Some(&by_fd),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        Ok(known)
    }

    fn chmod(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| ctx(e, format!("chmod {}", path.display())))
    }

    fn locked_flags(&mut self, path: &Path) -> io::Result<MsFlags> {
        let st = statvfs(path).map_err(io::Error::from)?;
        let f = st.flags();
        let mut out = MsFlags::empty();
        for (fs, msf) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                out |= msf;
            }
        }
        Ok(out)
    }

    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(ctx(e, format!("creating {}", path.display()))),
        }
    }

    fn touch(&mut self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o444)
            .open(path)
            .map(drop)
            .map_err(|e| ctx(e, format!("creating {}", path.display())))
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| ctx(e, format!("creating symlink {}", link.display())))
    }

    fn write_file(&mut self, path: &Path, contents: &str, mode: u32) -> io::Result<()> {
        fs::write(path, contents).map_err(|e| ctx(e, format!("writing {}", path.display())))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }

    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        nix::unistd::chdir(path)
            .map_err(io::Error::from)
            .map_err(|e| ctx(e, format!("chdir {}", path.display())))
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(io::Error::from)
    }

    fn detach(&mut self, target: &Path) -> io::Result<()> {
        umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
    }
}

/// Opens `path` with O_PATH|O_NOFOLLOW and checks it is (still) a
/// directory if `is_dir`, else a non-directory, and not a symlink.
fn open_checked(path: &Path, is_dir: bool) -> io::Result<fs::File> {
    let mut flags = libc::O_PATH | libc::O_NOFOLLOW;
    if is_dir {
        // A symlink or a non-directory fails here (ELOOP, ENOTDIR).
        flags |= libc::O_DIRECTORY;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => changed(),
            _ => e,
        })?;
    if !is_dir {
        check_kind(file.metadata()?.file_type().into(), false)?;
    }
    Ok(file)
}

fn changed() -> io::Error {
    io::Error::other("it changed (or became a symlink) after it was listed")
}

/// What a bind source is, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

impl From<fs::FileType> for Kind {
    fn from(t: fs::FileType) -> Self {
        if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        }
    }
}

/// A symlink, or a directory where a non-directory was planned (or the
/// reverse), is refused.
fn check_kind(kind: Kind, is_dir: bool) -> io::Result<()> {
    if kind == Kind::Symlink || (kind == Kind::Dir) != is_dir {
        return Err(changed());
    }
    Ok(())
}

/// The flags of a bind from a parent's overlay: those forge mounted the
/// overlay with (and the default atime mode), which the bind copies.
const PARENT_OVERLAY_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_RELATIME);

/// Whether `path` (under the old root) is a mount point, by the mount
/// table read once (one read for every bind instead of a syscall each). A
/// path that reaches a mount point through a symlink is not recognised;
/// the sandbox's callers pass canonical host paths for host files. If the
/// table cannot be read, every path counts as one (bound directly: it
/// shows its host path, but what it shows is right).
fn is_mount_point(path: &Path) -> bool {
    thread_local! {
        static POINTS: Option<std::collections::BTreeSet<std::path::PathBuf>> = mount_points();
    }
    POINTS.with(|p| p.as_ref().is_none_or(|p| p.contains(path)))
}

/// The mount points this process sees. In the init, during setup, its
/// root is the setup tmpfs, which has no `/proc`: the host's is under the
/// old root, and its table names the host's mounts under the old root too,
/// as bind sources are named.
fn mount_points() -> Option<std::collections::BTreeSet<std::path::PathBuf>> {
    let table = fs::read_to_string(Path::new(OLD_ROOT).join("proc/self/mountinfo"))
        .or_else(|_| fs::read_to_string("/proc/self/mountinfo"))
        .ok()?;
    Some(
        table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| std::path::PathBuf::from(unescape_mountinfo(p)))
            .collect(),
    )
}

/// mountinfo's octal escapes (`\040` for a space…).
fn unescape_mountinfo(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// A directory opened O_PATH, for fchdir.
fn open_dir(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
}

/// [`Via::ParentOverlay`]: the read-only overlay of `parent` (mounted once
/// per parent, in the setup root) and `name` in it, opened and checked.
fn parent_overlay(
    parent: &Path,
    name: &std::ffi::OsStr,
    is_dir: bool,
) -> io::Result<Option<fs::File>> {
    thread_local! {
        /// The parents whose overlay this process has mounted.
        static MOUNTED: std::cell::RefCell<std::collections::BTreeSet<std::path::PathBuf>> =
            Default::default();
    }
    let ovl = Path::new(LOWER).join(flat_name(parent));
    if !MOUNTED.with(|m| m.borrow().contains(parent)) {
        fs::DirBuilder::new().recursive(true).create(EMPTY)?;
        fs::DirBuilder::new().recursive(true).create(&ovl)?;
        let dir = open_dir(parent)?;
        nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&dir)).map_err(io::Error::from)?;
        let mounted = mount(
            Some("overlay"),
            &ovl,
            Some("overlay"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("lowerdir=.:{EMPTY}").as_str()),
        );
        nix::unistd::chdir("/").map_err(io::Error::from)?;
        if let Err(e) = mounted {
            let _ = fs::remove_dir(&ovl);
            return Err(e.into());
        }
        MOUNTED.with(|m| m.borrow_mut().insert(parent.to_owned()));
    }
    open_checked(&ovl.join(name), is_dir).map(Some)
}

/// [`Via::UpperOverlay`]: an overlay at `target` whose upper layer is
/// `parent/name` and whose work directory is next to it.
fn upper_overlay(
    parent: &Path,
    name: &std::ffi::OsStr,
    target: &Path,
) -> io::Result<Option<fs::File>> {
    // Only an empty directory: overlayfs refuses (EXDEV) to rename a
    // directory that was in its upper layer before it was mounted, which
    // would break builds that move what they were given.
    // The upper layer is the directory the runner looked at, opened without
    // following a symlink and entered by its descriptor (`upperdir=.`): a
    // symlink swapped in since is refused, not mounted through.
    let upper = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(parent.join(name))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => changed(),
            _ => e,
        })?;
    let work = workdir_of(&parent.join(name)).ok_or_else(|| io::Error::other("no parent"))?;
    fs::DirBuilder::new().recursive(true).create(EMPTY)?;
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&upper)).map_err(io::Error::from)?;
    let empty = fs::read_dir(".").map(|mut d| d.next().is_none());
    if !matches!(empty, Ok(true)) {
        nix::unistd::chdir("/").map_err(io::Error::from)?;
        return Err(empty.err().unwrap_or_else(|| io::Error::other("not empty")));
    }
    match fs::create_dir(&work) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            nix::unistd::chdir("/").map_err(io::Error::from)?;
            return Err(e);
        }
    }
    let data = format!(
        "lowerdir={EMPTY},upperdir=.,workdir=../{}",
        overlay_lowerdir(&[work.file_name().map(Into::into).unwrap_or_default()])
    );
    let mounted = mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    );
    nix::unistd::chdir("/").map_err(io::Error::from)?;
    if let Err(e) = mounted {
        let _ = fs::remove_dir(&work);
        return Err(e.into());
    }
    // overlayfs makes its work/ directory mode 0: let the invoker remove it
    // after the run without privileges.
    for sub in ["work", "index"] {
        let _ = fs::set_permissions(work.join(sub), fs::Permissions::from_mode(0o700));
    }
    Ok(None)
}

/// What a bind's host path is, without following a symlink there (the
/// runner's look for [`crate::plan::plan_with_layers`]).
pub fn lstat_node(path: &Path) -> io::Result<crate::plan::Node> {
    use crate::plan::Node;
    let kind = fs::symlink_metadata(path)?.file_type();
    Ok(if kind.is_symlink() {
        Node::Symlink(fs::read_link(path)?)
    } else if kind.is_dir() {
        Node::Dir
    } else if kind.is_file() {
        Node::File
    } else {
        Node::Other
    })
}

/// As root: sets the supplementary groups to just `gid`, which the sandbox
/// maps to the build group, as an ordinary user's own group is. Without
/// it a build run by root would list none where one run by a user lists
/// the build group (`id` inside: `groups=100(forge)`). A user's other
/// groups stay visible as 65534: with `setgroups` denied, as it must be
/// for an unprivileged gid map, nobody can drop them.
pub fn same_groups(gid: nix::unistd::Gid) {
    let _ = nix::unistd::setgroups(&[gid]);
}

/// As root, before the sandbox's user namespace exists: gives this process
/// a mount namespace of its own whose `/dev` is a private tmpfs holding
/// copies of the host's [`DEVICES`](crate::plan::DEVICES) nodes (same
/// device numbers, modes and times) owned by 65534:65534, which the
/// sandbox then binds instead of the host's. The host's nodes belong to
/// root, and root is the host uid that a sandbox run by root maps to its
/// build user: a build would see `/dev/null` owned by 1000 as root and by
/// 65534 (unmapped) as anyone else. The tmpfs gets the host devtmpfs's
/// options and source name, so its mountinfo lines differ from an
/// ordinary user's only in the filesystem type (`tmpfs`, not
/// `devtmpfs`). Best effort: on any failure the host's `/dev` is used.
pub fn private_devices_as_root() -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(io::Error::from)?;
    let mut nodes = Vec::new();
    for d in crate::plan::DEVICES {
        let path = Path::new("/dev").join(d);
        let m = fs::metadata(&path)?;
        nodes.push((path, m));
    }
    let options = fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/dev") && l.contains(" - devtmpfs "))
        .and_then(|l| l.rsplit(' ').next())
        .map(|o| {
            o.split(',')
                .filter(|x| *x != "rw" && *x != "ro")
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "mode=755".into());
    mount(
        Some("devtmpfs"),
        "/dev",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(options.as_str()),
    )
    .map_err(io::Error::from)?;
    let made = (|| -> io::Result<()> {
        use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
        use nix::sys::time::TimeSpec;
        for (path, m) in &nodes {
            mknod(
                path,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(m.mode() & 0o777),
                m.rdev(),
            )
            .map_err(io::Error::from)?;
            // mknod applies the umask: the host's mode exactly.
            fs::set_permissions(path, fs::Permissions::from_mode(m.mode() & 0o777))?;
            nix::unistd::chown(
                path,
                Some(nix::unistd::Uid::from_raw(65534)),
                Some(nix::unistd::Gid::from_raw(65534)),
            )
            .map_err(io::Error::from)?;
            utimensat(
                None,
                path,
                &TimeSpec::new(m.atime(), m.atime_nsec()),
                &TimeSpec::new(m.mtime(), m.mtime_nsec()),
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(io::Error::from)?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        let _ = umount2("/dev", MntFlags::MNT_DETACH);
        return Err(e);
    }
    Ok(())
}

/// Refuses a root layer that is a symlink: its entries would be bound
/// through it, from wherever it points on the host.
pub fn check_layer(layer: &Path) -> io::Result<()> {
    if fs::symlink_metadata(layer)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a symlink (a root layer must be a directory)",
        ));
    }
    Ok(())
}

/// Brings the loopback interface up (in a fresh network namespace it exists
/// but is down).
pub fn loopback_up() -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let name = CString::new("lo").expect("no NUL");
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS reads into `req`, which outlives the call; the
    // socket fd is open for the whole call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS filled.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above, `req` is valid for SIOCSIFFLAGS.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A test double that records every call.
#[derive(Debug, Default)]
pub struct Recorder {
    /// One line per call, with its arguments and flags.
    pub calls: Vec<String>,
    /// Mounts of this filesystem type fail (EINVAL), to test fallbacks.
    pub refuse_fstype: Option<String>,
    /// With `refuse_fstype`: only mounts at this target fail.
    pub refuse_at: Option<std::path::PathBuf>,
}

impl Recorder {
    fn record(&mut self, call: String) -> io::Result<()> {
        self.calls.push(call);
        Ok(())
    }
}

impl Syscalls for Recorder {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let flags = format!("{flags:?}");
        let flags = flags
            .strip_prefix("MsFlags(")
            .and_then(|f| f.strip_suffix(')'))
            .unwrap_or(&flags);
        if fstype.is_some()
            && fstype == self.refuse_fstype.as_deref()
            && self.refuse_at.as_deref().is_none_or(|t| t == target)
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.record(format!(
            "mount {:?} {} {:?} {flags} {:?}",
            source.map(Path::to_path_buf),
            target.display(),
            fstype,
            data
        ))
    }
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        _is_dir: bool,
        via: Via,
    ) -> io::Result<Option<MsFlags>> {
        self.mount(Some(source), target, None, MsFlags::MS_BIND, None)?;
        self.record(format!("  via {via:?}"))?;
        Ok(None)
    }
    fn chmod(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(format!("chmod {} {mode:o}", path.display()))
    }
    fn locked_flags(&mut self, _path: &Path) -> io::Result<MsFlags> {
        Ok(MsFlags::MS_RELATIME)
    }
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(format!("mkdir {} {mode:o}", path.display()))
    }
    fn touch(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("touch {}", path.display()))
    }
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        self.record(format!(
            "symlink {} -> {}",
            link.display(),
            target.display()
        ))
    }
    fn write_file(&mut self, path: &Path, _contents: &str, mode: u32) -> io::Result<()> {
        self.record(format!("write {} {mode:o}", path.display()))
    }
    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("chdir {}", path.display()))
    }
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.record(format!(
            "pivot_root {} {}",
            new_root.display(),
            put_old.display()
        ))
    }
    fn detach(&mut self, target: &Path) -> io::Result<()> {
        self.record(format!("detach {}", target.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;
    use crate::spec::{Bind, SandboxSpec};

    #[test]
    fn read_only_binds_are_remounted_read_only_keeping_locked_flags() {
        let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
        spec.binds.push(Bind {
            host: "/h/in".into(),
            inside: "/forge/store/in".into(),
            writable: false,
        });
        let p = plan(&spec, &[true]).unwrap();
        let mut r = Recorder::default();
        apply_steps(&mut r, &p.steps).unwrap();
        let i = r
            .calls
            .iter()
            .position(|c| c.starts_with("mount Some(\"/oldroot/h/in\")"))
            .unwrap();
        assert_eq!(
            r.calls[i],
            "mount Some(\"/oldroot/h/in\") /newroot/forge/store/in None MS_BIND None"
        );
        assert_eq!(r.calls[i + 1], "  via ParentOverlay");
        assert_eq!(
            r.calls[i + 2],
            "mount None /newroot/forge/store/in None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
        );
        // Devices are bound directly (an overlay would make them unusable).
        let dev = r
            .calls
            .iter()
            .position(|c| c.starts_with("mount Some(\"/oldroot/dev/null\")"))
            .unwrap();
        assert_eq!(r.calls[dev + 1], "  via Direct");
        // The read-only trees are ramfs; every tmpfs is out of sight, behind
        // an overlay at its place (its options would name the invoker's uid).
        assert_eq!(
            r.calls[1],
            "mount Some(\"ramfs\") /newroot Some(\"ramfs\") MS_NOSUID | MS_NODEV None"
        );
        for c in r.calls.iter().filter(|c| c.contains("Some(\"tmpfs\")")) {
            assert!(c.contains(" /.hidden/"), "{c}");
        }
        let tmp = r
            .calls
            .iter()
            .position(|c| c == "chdir /.hidden/%2fnewroot%2ftmp")
            .unwrap();
        assert_eq!(
            r.calls[tmp + 1],
            "mount Some(\"overlay\") /newroot/tmp Some(\"overlay\") MS_NOSUID | MS_NODEV Some(\"lowerdir=e,upperdir=u,workdir=w\")"
        );
        assert!(r
            .calls
            .contains(&"chmod /.hidden/%2fnewroot%2ftmp/u 1777".to_owned()));
        assert!(r.calls.contains(
            &"mount Some(\"proc\") /newroot/proc Some(\"proc\") MS_NOSUID | MS_NODEV | MS_NOEXEC None"
                .to_owned()
        ));
        assert!(r.calls.contains(
            &"mount Some(\"devpts\") /newroot/dev/pts Some(\"devpts\") MS_NOSUID | MS_NOEXEC Some(\"newinstance,ptmxmode=0666,mode=620\")"
                .to_owned()
        ));
        assert_eq!(
            r.calls.last().unwrap(),
            "mount None /newroot None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND None"
        );
    }

    #[test]
    fn a_bind_source_swapped_for_a_symlink_or_another_kind_is_refused_before_mounting() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        // Planned as a directory or a file: a symlink is never followed.
        for is_dir in [true, false] {
            let e = Linux.bind(&link, &target, is_dir, Via::Direct).unwrap_err();
            assert!(e.to_string().contains("symlink"), "{e}");
        }
        // A directory where the runner saw a file.
        let e = Linux
            .bind(dir.path(), &target, false, Via::Direct)
            .unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
        assert_eq!(
            lstat_node(&link).unwrap(),
            crate::plan::Node::Symlink("/etc".into())
        );
        assert!(check_layer(&link).is_err());
        assert!(check_layer(dir.path()).is_ok());
    }

    #[test]
    fn proc_gets_read_only_tunables_and_empty_masks_from_a_ramfs() {
        let mut r = Recorder::default();
        let proc = Path::new("/newroot/proc");
        apply_steps(
            &mut r,
            &[Step::Proc {
                target: proc.to_owned(),
            }],
        )
        .unwrap();
        let ro = "MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND";
        for name in PROC_READ_ONLY {
            let t = proc.join(name);
            let bind = format!("mount Some({t:?}) {} None MS_BIND None", t.display());
            let i = r.calls.iter().position(|c| *c == bind).expect(&bind);
            assert_eq!(
                r.calls[i + 1],
                format!("mount None {} None {ro} None", t.display())
            );
        }
        assert!(r.calls.contains(
            &"mount Some(\"ramfs\") /.hidden/proc-masks Some(\"ramfs\") MS_NOSUID | MS_NODEV | MS_NOEXEC None".to_owned()
        ));
        assert!(r
            .calls
            .contains(&format!("mount None /.hidden/proc-masks None {ro} None")));
        for (name, is_dir) in PROC_MASKED {
            let src = if is_dir { "empty.d" } else { "empty" };
            let bind = format!(
                "mount Some(\"/.hidden/proc-masks/{src}\") /newroot/proc/{name} None MS_BIND None"
            );
            assert!(r.calls.contains(&bind), "{bind} in {:#?}", r.calls);
        }
        assert_eq!(inode_limit(8 << 20), 1024);
        assert_eq!(inode_limit(1 << 30), 131072);
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain\"), r"/plain\");
        assert!(mount_points().unwrap().contains(Path::new("/")));
    }

    #[test]
    fn a_tmpfs_is_mounted_directly_where_overlayfs_is_refused() {
        let spec = SandboxSpec::new(vec!["/bin/sh".into()]);
        let p = plan(&spec, &[]).unwrap();
        let mut r = Recorder {
            refuse_fstype: Some("overlay".into()),
            refuse_at: Some("/newroot/tmp".into()),
            ..Recorder::default()
        };
        let warnings = apply_steps(&mut r, &p.steps).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("overlayfs refused for /tmp ("));
        assert!(r.calls.contains(
            &"mount Some(\"tmpfs\") /newroot/tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=1777,size=1073741824,nr_inodes=131072\")".to_owned()
        ), "{:#?}", r.calls);
    }

    #[test]
    fn entering_the_root_pivots_then_detaches_the_host() {
        let mut r = Recorder::default();
        enter_setup_root(&mut r, Path::new("/tmp")).unwrap();
        enter_new_root(&mut r, Path::new("/build")).unwrap();
        assert_eq!(
            r.calls,
            [
                "mount None / None MS_REC | MS_PRIVATE None",
                "mount Some(\"tmpfs\") /tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=0755,size=1m\")",
                "chdir /tmp",
                "mkdir /tmp/newroot 755",
                "mkdir /tmp/oldroot 755",
                "pivot_root /tmp /tmp/oldroot",
                "chdir /",
                "chdir /newroot",
                "pivot_root . .",
                "detach .",
                "chdir /",
                "chdir /build",
            ]
        );
    }

    #[test]
    fn overlays_are_mounted_read_only_or_fall_back_to_the_first_layer() {
        use crate::plan::{plan_with_layers, LayerListing, Node};
        let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
        spec.root_layers = vec!["/s/a".into(), "/s/b,c:d".into()];
        let l = LayerListing {
            top: [("usr".into(), Node::Dir)].into_iter().collect(),
            etc: Default::default(),
        };
        let p = plan_with_layers(&spec, &[], &[l.clone(), l]).unwrap();
        let mut r = Recorder::default();
        assert!(apply_steps(&mut r, &p.steps).unwrap().is_empty());
        // Relative to the layers' common directory: no host path in mountinfo.
        let i = r
            .calls
            .iter()
            .position(|c| c == "chdir /oldroot/s")
            .unwrap_or_else(|| panic!("{:#?}", r.calls));
        assert_eq!(
            r.calls[i + 1],
            "mount Some(\"overlay\") /newroot/usr Some(\"overlay\") MS_RDONLY | MS_NOSUID | MS_NODEV Some(\"lowerdir=a/usr:b\\\\,c\\\\:d/usr\")"
        );

        let mut r = Recorder {
            refuse_fstype: Some("overlay".into()),
            refuse_at: Some("/newroot/usr".into()),
            ..Recorder::default()
        };
        let warnings = apply_steps(&mut r, &p.steps).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("overlayfs refused for /usr ("),
            "{warnings:?}"
        );
        let i = r
            .calls
            .iter()
            .position(|c| c.starts_with("mount Some(\"/oldroot/s/a/usr\")"))
            .unwrap();
        assert_eq!(
            r.calls[i..i + 3],
            [
                "mount Some(\"/oldroot/s/a/usr\") /newroot/usr None MS_BIND None",
                "  via ParentOverlay",
                "mount None /newroot/usr None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
            ]
        );
    }
}
