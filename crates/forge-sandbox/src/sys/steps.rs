//! The executor: carries out a [`Plan`](crate::plan::Plan)'s steps through
//! [`Syscalls`], from the setup root (a tmpfs the init pivots into first)
//! to the new root it enters for good.

use std::io;
use std::path::Path;

use nix::mount::MsFlags;

use super::proc::harden_proc;
use super::syscalls::{ctx, flat_name, Syscalls, Via, HIDDEN};
use crate::plan::{Flags, Step, NEW_ROOT, OLD_ROOT};

/// The mount flags of a plan's [`Flags`].
pub(super) fn ms(flags: Flags) -> MsFlags {
    let mut f = MsFlags::empty();
    f.set(MsFlags::MS_RDONLY, flags.rdonly);
    f.set(MsFlags::MS_NOSUID, flags.nosuid);
    f.set(MsFlags::MS_NODEV, flags.nodev);
    f.set(MsFlags::MS_NOEXEC, flags.noexec);
    f
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
