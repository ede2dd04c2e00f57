//! `forge run`'s view of the host: the host as it is, with a store mounted
//! at `/forge/store`, for running what forge built on a machine where
//! `/forge/store` does not exist (or is another store). The approach of
//! nix-user-chroot; see docs/sandbox.md ("forge run: a view, not a
//! sandbox") and docs/cli.md.
//!
//! This is not a sandbox: no seccomp, no landlock, the host's network,
//! home and `/tmp`. A forked child unshares a mount namespace (and, unless
//! it is root, a user namespace mapping the caller's uid and gid to
//! themselves, `setgroups` denied), then builds a new root in a tmpfs:
//! each entry of the host's `/` bound recursively (symlinks recreated as
//! symlinks), the store's physical directory bound read-only at
//! `/forge/store` (over a host `/forge/store` if there is one), and
//! enters it; the command starts in the caller's working directory with
//! the caller's environment.
//!
//! - [`plan`] is the pure part: from a listing of the host's root
//!   ([`HostRoot`], read by [`HostRoot::read`]) to the [`ViewStep`]s, which
//!   [`apply`] carries out through [`Syscalls`](crate::sys::Syscalls) (so the
//!   exact mounts are unit-tested with the recorder);
//! - `enter`: [`run`], the fork, the namespaces, the exec and the wait.

mod enter;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::sys::Syscalls;

pub use enter::run;

/// Where the host's root is while the view is assembled (a directory of
/// the view's tmpfs, removed before the command starts).
pub const HOST: &str = "/.forge-host";
/// Where the store appears in the view.
pub const STORE: &str = "/forge/store";

/// What `forge run` asks for.
#[derive(Debug, Clone)]
pub struct ViewRequest {
    /// The store's physical directory on the host (canonical).
    pub store_dir: PathBuf,
    /// The working directory of the command (the caller's).
    pub cwd: PathBuf,
    /// The program: a path, or a name looked up in `PATH` inside the view.
    pub program: OsString,
    /// Its arguments (without `argv[0]`, which is `program`).
    pub args: Vec<OsString>,
}

/// One entry of a host directory, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Its name in the directory.
    pub name: OsString,
    /// What it is.
    pub kind: EntryKind,
}

/// The kind of a [`HostEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory: bound recursively.
    Dir,
    /// Anything else but a symlink (a file, a device…): bound.
    File,
    /// A symlink: made again in the view, with this target.
    Symlink(PathBuf),
}

/// The host's root as [`plan`] needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRoot {
    /// The entries of `/`, sorted by name.
    pub entries: Vec<HostEntry>,
    /// The entries of `/forge`, when the host has that directory: the view
    /// keeps them but `store`.
    pub forge: Option<Vec<HostEntry>>,
}

impl HostRoot {
    /// Lists `/` (and `/forge`) of this host.
    pub fn read() -> Result<HostRoot, ViewError> {
        let entries = list(Path::new("/"))?;
        let forge = match entries.iter().find(|e| e.name == "forge") {
            Some(e) if e.kind == EntryKind::Dir => Some(list(Path::new("/forge"))?),
            _ => None,
        };
        Ok(HostRoot { entries, forge })
    }
}

/// The entries of `dir`, sorted by name.
fn list(dir: &Path) -> Result<Vec<HostEntry>, ViewError> {
    let err = |source| ViewError::ListHost {
        dir: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let kind = match entry.file_type().map_err(err)? {
            t if t.is_symlink() => {
                EntryKind::Symlink(std::fs::read_link(entry.path()).map_err(err)?)
            }
            t if t.is_dir() => EntryKind::Dir,
            _ => EntryKind::File,
        };
        out.push(HostEntry {
            name: entry.file_name(),
            kind,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One step of assembling the view, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewStep {
    /// Every mount private (nothing done here reaches the host).
    MakePrivate,
    /// The view's root: a small tmpfs mounted on this host directory.
    RootTmpfs { on: PathBuf },
    /// A directory of the view's root.
    Mkdir { path: PathBuf },
    /// Into the view's root (at `new_root`), the host's at `put_old`.
    PivotRoot { new_root: PathBuf, put_old: PathBuf },
    /// A host entry bound with everything mounted under it (`MS_REC`).
    BindTree {
        source: PathBuf,
        target: PathBuf,
        is_dir: bool,
    },
    /// A symlink, as the host has it.
    Symlink { target: PathBuf, link: PathBuf },
    /// The store: a bind of its physical directory, then read-only.
    BindStore { source: PathBuf, target: PathBuf },
    /// The host's root let go (its binds stay), and its directory removed.
    DropHost { path: PathBuf },
    /// The view's root tmpfs made read-only, like the host's `/` to a user.
    RootReadOnly,
}

/// The steps that assemble the view of `host` with the store directory
/// `store_dir` (a canonical host path) at [`STORE`]. Pure.
pub fn plan(host: &HostRoot, store_dir: &Path) -> Result<Vec<ViewStep>, ViewError> {
    let on = host
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .find(|e| e.name == "tmp")
        .or_else(|| host.entries.iter().find(|e| e.kind == EntryKind::Dir))
        .map(|e| Path::new("/").join(&e.name))
        .ok_or(ViewError::NoDirectory)?;
    let old = on.join(&HOST[1..]);
    let mut steps = vec![
        ViewStep::MakePrivate,
        ViewStep::RootTmpfs { on: on.clone() },
        ViewStep::Mkdir { path: old.clone() },
        ViewStep::PivotRoot {
            new_root: on,
            put_old: old,
        },
    ];
    let hidden = &HOST[1..];
    for e in host
        .entries
        .iter()
        .filter(|e| e.name != "forge" && e.name != hidden)
    {
        entry_steps(&mut steps, Path::new("/"), e);
    }
    steps.push(ViewStep::Mkdir {
        path: "/forge".into(),
    });
    for e in host.forge.iter().flatten().filter(|e| e.name != "store") {
        entry_steps(&mut steps, Path::new("/forge"), e);
    }
    steps.push(ViewStep::Mkdir { path: STORE.into() });
    steps.push(ViewStep::BindStore {
        source: in_host(store_dir),
        target: STORE.into(),
    });
    steps.push(ViewStep::DropHost { path: HOST.into() });
    steps.push(ViewStep::RootReadOnly);
    Ok(steps)
}

/// Where the host's `path` is while the view is assembled.
fn in_host(path: &Path) -> PathBuf {
    Path::new(HOST).join(path.strip_prefix("/").unwrap_or(path))
}

/// The steps for one entry of the host's directory `dir`.
fn entry_steps(steps: &mut Vec<ViewStep>, dir: &Path, e: &HostEntry) {
    let target = dir.join(&e.name);
    match &e.kind {
        EntryKind::Symlink(to) => steps.push(ViewStep::Symlink {
            target: to.clone(),
            link: target,
        }),
        kind => steps.push(ViewStep::BindTree {
            source: in_host(&target),
            target,
            is_dir: *kind == EntryKind::Dir,
        }),
    }
}

/// Carries out `steps` through `sys`.
pub fn apply(sys: &mut dyn Syscalls, steps: &[ViewStep]) -> io::Result<()> {
    let ctx = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    for step in steps {
        match step {
            ViewStep::MakePrivate => sys
                .mount(
                    None,
                    Path::new("/"),
                    None,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None,
                )
                .map_err(ctx("making mounts private".into()))?,
            ViewStep::RootTmpfs { on } => sys
                .mount(
                    Some(Path::new("tmpfs")),
                    on,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("mode=0755,size=1m"),
                )
                .map_err(ctx(format!(
                    "mounting the view's tmpfs on {}",
                    on.display()
                )))?,
            ViewStep::Mkdir { path } => sys.mkdir_all(path, 0o755)?,
            ViewStep::PivotRoot { new_root, put_old } => {
                sys.pivot_root(new_root, put_old)
                    .map_err(ctx("pivot_root into the view".into()))?;
                sys.chdir(Path::new("/"))?;
            }
            ViewStep::BindTree {
                source,
                target,
                is_dir,
            } => {
                if *is_dir {
                    sys.mkdir_all(target, 0o755)?;
                } else {
                    sys.touch(target)?;
                }
                sys.mount(
                    Some(source),
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(ctx(format!("binding {}", target.display())))?;
            }
            ViewStep::Symlink { target, link } => sys.symlink(target, link)?,
            ViewStep::BindStore { source, target } => {
                let shown = source.strip_prefix(HOST).unwrap_or(source);
                sys.mount(Some(source), target, None, MsFlags::MS_BIND, None)
                    .map_err(ctx(format!(
                        "binding the store /{} to {}",
                        shown.display(),
                        target.display()
                    )))?;
                // In a user namespace the flags the host mount has are
                // locked: a remount must keep them.
                let keep = sys.locked_flags(target)?;
                sys.mount(
                    None,
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
                    None,
                )
                .map_err(ctx(format!("making {} read-only", target.display())))?;
            }
            ViewStep::DropHost { path } => {
                sys.detach(path)
                    .map_err(ctx("detaching the host's root".into()))?;
                sys.remove_dir(path)?;
            }
            ViewStep::RootReadOnly => sys
                .mount(
                    None,
                    Path::new("/"),
                    None,
                    MsFlags::MS_REMOUNT
                        | MsFlags::MS_BIND
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV,
                    None,
                )
                .map_err(ctx("making the view's root read-only".into()))?,
        }
    }
    Ok(())
}

/// Why `forge run` could not run its command.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Listing a host directory failed.
    #[error("listing {dir}: {source}")]
    ListHost {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The host's `/` has no directory to mount the view's root on.
    #[error("the host's / has no directory to mount the view's root on")]
    NoDirectory,
    /// The view must be made from a single-threaded process (the child of
    /// a fork may only make async-signal-safe calls otherwise).
    #[error(
        "the view must be made from a single-threaded process (this one has {threads} threads)"
    )]
    Threaded { threads: usize },
    /// A program or argument holds a NUL byte.
    #[error("`{}` holds a NUL byte", .0.to_string_lossy())]
    Nul(OsString),
    /// fork(2) or waitpid(2) failed.
    #[error("{what}: {source}")]
    Process {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    /// Creating the namespaces failed.
    #[error("cannot create the namespaces of the view ({0})")]
    Namespaces(String),
    /// Assembling the view failed; the message says which step.
    #[error("setting up the view failed: {0}")]
    Setup(String),
    /// The command could not be started in the view.
    #[error("cannot run `{}` in the view: {source}", program.to_string_lossy())]
    Exec {
        program: OsString,
        #[source]
        source: io::Error,
    },
}

impl forge_core::diag::Hint for ViewError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            ViewError::Namespaces(_) => Some(
                "unprivileged user namespaces must be enabled (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or run forge as root"
                    .into(),
            ),
            ViewError::Exec { source, .. } if source.kind() == io::ErrorKind::NotFound => Some(
                "a command without a slash is looked up in the output's bin/, then in PATH; give its full path"
                    .into(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
