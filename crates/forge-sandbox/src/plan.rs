//! From a spec to a plan: the exact mounts, files and rules, computed
//! without touching the system.
//!
//! [`plan`] is a pure function, so every mount flag and every landlock path
//! can be checked by ordinary unit tests without root or namespaces; the
//! [`crate::sys`] module then carries the plan out step by step. The plan
//! builds the new root in a ramfs mounted at [`NEW_ROOT`], with the host's
//! root reachable at [`OLD_ROOT`] for the duration of the setup only (the
//! same two-step `pivot_root` that bubblewrap uses):
//!
//! ```text
//! /                 ramfs, read-only at the end
//! ├── build/        writable: the build directory (cwd)
//! ├── tmp/          tmpfs, size-limited, 1777
//! ├── <binds>       host paths, read-only (or writable when asked); may
//! │                 lie below /tmp, /build or /etc, not replace them
//! ├── proc/         a fresh procfs of the sandbox's own pid namespace
//! ├── dev/          ramfs: null zero full random urandom, fd links,
//! │                 a new devpts instance, shm tmpfs
//! ├── etc/          passwd, group, hosts generated for the build user;
//! │                 the root layers' other etc/ entries next to them
//! └── <layers>      the root layers' other top-level entries (bin, usr,
//!                   lib…): read-only binds, or read-only overlayfs where
//!                   several layers have the same directory
//! ```
//!
//! **Root layers** ([`SandboxSpec::root_layers`]) are host directories that
//! together make a read-only FHS root; the earliest layer wins. For every
//! top-level name across the layers except the ones the sandbox provides
//! ([`LAYER_RESERVED`]): a symlink in the winning layer becomes the same
//! symlink (`bin -> usr/bin`), a file is bound read-only, and a directory is
//! bound read-only if one layer has it or becomes a read-only overlayfs
//! (`lowerdir=first:second:…`, no upper layer) of the layers that have it,
//! stopping at the first layer with a non-directory there (as overlayfs
//! itself would). A layer's `etc/` is merged the same way one level down,
//! into forge's own `/etc`: the generated `passwd`, `group` and `hosts`
//! win, and so does any bind under `/etc` (the network profile's
//! `resolv.conf`); a layer's `etc` must be a directory to count. Binds may
//! not go inside a top-level entry the layers provide (its directory is
//! read-only and may not have the mount point). The runner lists the layers
//! ([`LayerListing`]); this module only decides.

use std::borrow::Cow;

use forge_core::diag::Hint;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::spec::SandboxSpec;

/// Where the new root is assembled, inside the setup tmpfs.
pub const NEW_ROOT: &str = "/newroot";
/// Where the host's root is reachable during setup.
pub const OLD_ROOT: &str = "/oldroot";

/// Device nodes bound from the host into `/dev`. Not `tty`: a build has no terminal, and the
/// host's `/dev/tty` is the invoker's controlling terminal (input could be pushed into it).
pub const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// Mount flags the plan uses (a subset of the kernel's `MS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Flags {
    pub rdonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl Flags {
    /// nosuid + nodev: every mount in the sandbox has at least these.
    pub const SAFE: Flags = Flags {
        rdonly: false,
        nosuid: true,
        nodev: true,
        noexec: false,
    };
    /// nosuid + nodev + noexec: tmpfs for devices and shared memory.
    pub const SAFE_NOEXEC: Flags = Flags {
        rdonly: false,
        nosuid: true,
        nodev: true,
        noexec: true,
    };
    /// Read-only, nosuid, nodev.
    pub const RO: Flags = Flags {
        rdonly: true,
        nosuid: true,
        nodev: true,
        noexec: false,
    };
}

/// One step of the setup, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A ramfs at `target` (mode 0755, its default, so that its options
    /// in mountinfo read `rw` for everyone): for the trees the plan fills
    /// and then makes read-only (the root, `/dev`), which need no size
    /// limit. Unlike a tmpfs, a ramfs does not show the uid of whoever
    /// mounted it, the invoker's host uid.
    Ramfs { target: PathBuf, flags: Flags },
    /// A tmpfs at `target` with `mode` and an optional size. The executor
    /// mounts it out of sight and shows it at `target` through an overlay
    /// with the tmpfs as its upper layer: a tmpfs mounted in a user
    /// namespace lists the invoker's host uid in its mount options.
    Tmpfs {
        target: PathBuf,
        mode: u32,
        size: Option<u64>,
        flags: Flags,
    },
    /// Bind `source` (a path under [`OLD_ROOT`]) to `target`; then remount
    /// with `flags` (keeping flags the kernel locked on the source mount).
    Bind {
        source: PathBuf,
        target: PathBuf,
        is_dir: bool,
        flags: Flags,
    },
    /// A fresh procfs.
    Proc { target: PathBuf },
    /// A new devpts instance.
    Devpts { target: PathBuf },
    /// A directory (and its parents) in the new root.
    Mkdir { path: PathBuf, mode: u32 },
    /// A symlink.
    Symlink { target: PathBuf, link: PathBuf },
    /// A read-only overlayfs of several host directories (paths under
    /// [`OLD_ROOT`], earliest first: it wins). If the kernel refuses the
    /// overlay, the executor binds `lower[0]` read-only instead and reports
    /// a warning.
    Overlay {
        lower: Vec<PathBuf>,
        target: PathBuf,
        flags: Flags,
    },
    /// A small generated file.
    WriteFile {
        path: PathBuf,
        contents: String,
        mode: u32,
    },
    /// Remount a tmpfs the plan filled read-only (its submounts keep their
    /// own flags).
    RemountReadOnly { target: PathBuf },
    /// Remount the new root's tmpfs read-only, once everything is in place.
    RemountRootReadOnly,
}

/// The paths landlock allows, as seen inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccessRules {
    /// Read and execute.
    pub read_exec: Vec<PathBuf>,
    /// Read, write, create and remove.
    pub read_write: Vec<PathBuf>,
    /// Device access (read, write, ioctl) without creating or removing.
    pub devices: Vec<PathBuf>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Mount-namespace setup, in order, with targets under [`NEW_ROOT`].
    pub steps: Vec<Step>,
    /// Landlock rules (paths inside).
    pub access: AccessRules,
    /// Hostname inside.
    pub hostname: String,
    /// Working directory inside.
    pub cwd: PathBuf,
}

/// Why a spec cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// A path inside is relative or has `..`.
    #[error("sandbox path {0:?} must be absolute, without `.` or `..` components")]
    BadInsidePath(PathBuf),
    /// A bind would cover a directory the sandbox provides itself.
    #[error("cannot bind over {0:?}: forge provides it in every sandbox")]
    Reserved(PathBuf),
    /// A bind would land inside a directory the root layers provide.
    #[error("cannot bind {bind:?}: {entry:?} comes from the root layers")]
    BindInLayer { bind: PathBuf, entry: PathBuf },
    /// The runner's listing of the root layers does not match the spec.
    #[error("the root layers were listed {listed} times for {declared} layers")]
    LayerListing { listed: usize, declared: usize },
    /// A root layer path is relative or has `..`.
    #[error("root layer {0:?} must be an absolute host path, without `.` or `..` components")]
    BadLayer(PathBuf),
    /// The command is empty or its program is not an absolute path.
    #[error("{}", match .0 {
        Some(program) => format!("the command must start with an absolute program path inside the sandbox, not `{program}`"),
        None => "the command is empty: it must start with an absolute program path inside the sandbox".to_owned(),
    })]
    BadCommand(Option<String>),
}

impl Hint for PlanError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            PlanError::BindInLayer { .. } => Some(
                "put the file into a layer, or bind it outside the layers' top-level directories"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// What a root layer has at a name, or a bind's host path is (the runner
/// looks, with lstat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symlink and its target, recreated as it is.
    Symlink(PathBuf),
    /// A socket, fifo or device: ignored in a layer, bound as a file.
    Other,
}

/// One root layer as the runner found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayerListing {
    /// Its top-level entries.
    pub top: BTreeMap<OsString, Node>,
    /// The entries of its `etc/` directory (empty if it has none).
    pub etc: BTreeMap<OsString, Node>,
}

/// Top-level names the sandbox provides itself; root layers' entries with
/// these names are not used (a layer's `etc/` is merged into forge's).
pub const LAYER_RESERVED: [&str; 6] = ["proc", "dev", "tmp", "build", "forge", "etc"];

/// The files forge writes into `/etc`; the root layers' copies are ignored.
pub const GENERATED_ETC: [&str; 3] = ["passwd", "group", "hosts"];

/// Trees the sandbox provides whole; binds may not go in them.
const RESERVED: [&str; 2] = ["/proc", "/dev"];

/// Directories the sandbox provides that binds may go below but not replace.
const NOT_REPLACEABLE: [&str; 3] = ["/etc", "/tmp", "/build"];

fn check_inside(p: &Path) -> Result<(), PlanError> {
    let ok = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !ok {
        return Err(PlanError::BadInsidePath(p.to_owned()));
    }
    Ok(())
}

/// `/newroot` + an inside path.
pub fn under_new_root(inside: &Path) -> PathBuf {
    let rel = inside.strip_prefix("/").unwrap_or(inside);
    Path::new(NEW_ROOT).join(rel)
}

/// `/oldroot` + a host path.
pub fn under_old_root(host: &Path) -> PathBuf {
    let rel = host.strip_prefix("/").unwrap_or(host);
    Path::new(OLD_ROOT).join(rel)
}

/// Merges one directory level of the root layers into `inside` (a
/// directory of the new root): `entries(i)` lists layer `i` at `rel` (a
/// path relative to each layer). Names for which `skip` holds are left
/// out. Returns the names it created.
fn merge_layers<'a>(
    layers: &[PathBuf],
    entries: impl Fn(usize) -> &'a BTreeMap<OsString, Node>,
    rel: &Path,
    inside: &Path,
    skip: impl Fn(&OsStr) -> bool,
    steps: &mut Vec<Step>,
) -> BTreeSet<OsString> {
    let names: BTreeSet<&OsString> = (0..layers.len()).flat_map(|i| entries(i).keys()).collect();
    let mut made = BTreeSet::new();
    for name in names {
        if skip(name) {
            continue;
        }
        let host = |i: usize| under_old_root(&layers[i].join(rel).join(name));
        let target = under_new_root(&inside.join(name));
        let Some(first) = (0..layers.len()).find(|&i| entries(i).contains_key(name)) else {
            continue;
        };
        match &entries(first)[name] {
            Node::Symlink(to) => steps.push(Step::Symlink {
                target: to.clone(),
                link: target,
            }),
            Node::File => steps.push(Step::Bind {
                source: host(first),
                target,
                is_dir: false,
                flags: Flags::RO,
            }),
            Node::Dir => {
                let mut lower = Vec::new();
                for i in first..layers.len() {
                    match entries(i).get(name) {
                        Some(Node::Dir) => lower.push(host(i)),
                        Some(_) => break, // a non-directory hides what is below
                        None => {}
                    }
                }
                if lower.len() == 1 {
                    steps.push(Step::Bind {
                        source: lower.remove(0),
                        target,
                        is_dir: true,
                        flags: Flags::RO,
                    });
                } else {
                    steps.push(Step::Overlay {
                        lower,
                        target,
                        flags: Flags::RO,
                    });
                }
            }
            Node::Other => continue,
        }
        made.insert(name.clone());
    }
    made
}

/// Computes the plan for `spec`, which must have no root layers and no
/// symlink binds (see [`plan_with_layers`]). `bind_is_dir` tells, for each
/// bind, whether its host path is a directory (the caller stats it; the
/// plan stays pure).
pub fn plan(spec: &SandboxSpec, bind_is_dir: &[bool]) -> Result<Plan, PlanError> {
    let nodes: Vec<Node> = bind_is_dir
        .iter()
        .map(|&d| if d { Node::Dir } else { Node::File })
        .collect();
    plan_with_layers(spec, &nodes, &[])
}

/// Computes the plan for `spec`. `nodes` tells, for each bind, what its
/// host path is without following a symlink there (the caller looks with
/// lstat), and `layers` lists each of `spec.root_layers` in order (the
/// caller looks; the plan stays pure).
///
/// A bind whose host path is a symlink is not bound (a mount would follow
/// it, to wherever it points on the host, while the host's root is still
/// reachable): the same symlink is made inside, where it resolves against
/// the sandbox's own tree. A store path that is a symlink out of the store
/// so shows nothing of the host.
pub fn plan_with_layers(
    spec: &SandboxSpec,
    nodes: &[Node],
    layers: &[LayerListing],
) -> Result<Plan, PlanError> {
    if layers.len() != spec.root_layers.len() {
        return Err(PlanError::LayerListing {
            listed: layers.len(),
            declared: spec.root_layers.len(),
        });
    }
    for l in &spec.root_layers {
        if check_inside(l).is_err() {
            return Err(PlanError::BadLayer(l.clone()));
        }
    }
    match spec.command.first() {
        Some(p) if p.starts_with('/') => {}
        other => return Err(PlanError::BadCommand(other.cloned())),
    }
    check_inside(&spec.cwd)?;
    let mut steps = vec![Step::Ramfs {
        target: NEW_ROOT.into(),
        flags: Flags::SAFE,
    }];
    // The root itself is readable (not writable): directories have to be
    // listable, and everything in it is either generated or declared.
    let mut access = AccessRules {
        read_exec: vec!["/".into()],
        ..AccessRules::default()
    };

    // /build
    match &spec.build_dir {
        Some(host) => steps.push(Step::Bind {
            source: under_old_root(host),
            target: under_new_root(Path::new("/build")),
            is_dir: true,
            flags: Flags::SAFE,
        }),
        None => steps.push(Step::Tmpfs {
            target: under_new_root(Path::new("/build")),
            mode: 0o755,
            size: Some(spec.limits.build_size.unwrap_or(spec.limits.tmp_size)),
            flags: Flags::SAFE,
        }),
    }
    access.read_write.push("/build".into());

    // /tmp
    steps.push(Step::Tmpfs {
        target: under_new_root(Path::new("/tmp")),
        mode: 0o1777,
        size: Some(spec.limits.tmp_size),
        flags: Flags::SAFE,
    });
    access.read_write.push("/tmp".into());

    // The root layers' top-level entries, before the binds so that a bind
    // inside one of them is caught. Landlock's read-execute on "/" covers
    // them.
    let from_layers = merge_layers(
        &spec.root_layers,
        |i| &layers[i].top,
        Path::new(""),
        Path::new("/"),
        |name| LAYER_RESERVED.iter().any(|r| OsStr::new(r) == name),
        &mut steps,
    );

    // Binds, after /build and /tmp (a host path under /tmp appears inside
    // the sandbox's /tmp), parents first so that a nested bind lands inside
    // its parent.
    let mut binds: Vec<(usize, &crate::spec::Bind)> = spec.binds.iter().enumerate().collect();
    binds.sort_by_key(|(_, b)| b.inside.components().count());
    for (i, b) in binds {
        check_inside(&b.inside)?;
        if b.inside == Path::new("/") {
            return Err(PlanError::BadInsidePath(b.inside.clone()));
        }
        let reserved = RESERVED.iter().any(|r| b.inside.starts_with(r))
            || NOT_REPLACEABLE.iter().any(|r| b.inside == Path::new(r));
        if reserved {
            return Err(PlanError::Reserved(b.inside.clone()));
        }
        if let Some(Component::Normal(top)) = b.inside.components().nth(1) {
            if from_layers.contains(top) {
                return Err(PlanError::BindInLayer {
                    bind: b.inside.clone(),
                    entry: Path::new("/").join(top),
                });
            }
        }
        let is_dir = match nodes.get(i).unwrap_or(&Node::Dir) {
            Node::Symlink(to) => {
                // Landlock needs no rule: the link is part of the read-only
                // root, and what it points to has rules of its own.
                let link = under_new_root(&b.inside);
                if let Some(parent) = link.parent() {
                    steps.push(Step::Mkdir {
                        path: parent.to_owned(),
                        mode: 0o755,
                    });
                }
                steps.push(Step::Symlink {
                    target: to.clone(),
                    link,
                });
                continue;
            }
            Node::Dir => true,
            Node::File | Node::Other => false,
        };
        steps.push(Step::Bind {
            source: under_old_root(&b.host),
            target: under_new_root(&b.inside),
            is_dir,
            flags: if b.writable { Flags::SAFE } else { Flags::RO },
        });
        if b.writable {
            access.read_write.push(b.inside.clone());
        } else {
            access.read_exec.push(b.inside.clone());
        }
    }

    // /proc
    steps.push(Step::Proc {
        target: under_new_root(Path::new("/proc")),
    });
    access.read_exec.push("/proc".into());

    // /dev
    let dev = under_new_root(Path::new("/dev"));
    steps.push(Step::Ramfs {
        target: dev.clone(),
        flags: Flags::SAFE_NOEXEC,
    });
    for d in DEVICES {
        steps.push(Step::Bind {
            source: under_old_root(&Path::new("/dev").join(d)),
            target: dev.join(d),
            is_dir: false,
            // Read-only: I/O on a device node ignores it, while chmod and
            // utimes of the host's node fail (as root the build uid owns
            // the host's devices).
            flags: Flags {
                nodev: false,
                noexec: true,
                ..Flags::RO
            },
        });
    }
    for (target, link) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ] {
        steps.push(Step::Symlink {
            target: target.into(),
            link: dev.join(link),
        });
    }
    steps.push(Step::Mkdir {
        path: dev.join("pts"),
        mode: 0o755,
    });
    steps.push(Step::Devpts {
        target: dev.join("pts"),
    });
    steps.push(Step::Mkdir {
        path: dev.join("shm"),
        mode: 0o1777,
    });
    steps.push(Step::Tmpfs {
        target: dev.join("shm"),
        mode: 0o1777,
        size: Some(64 << 20),
        flags: Flags::SAFE_NOEXEC,
    });
    steps.push(Step::RemountReadOnly {
        target: dev.clone(),
    });
    // Device nodes stay writable on a read-only mount; /dev/shm and
    // /dev/pts are mounts of their own.
    access.devices.push("/dev".into());
    access.read_write.push("/dev/shm".into());

    // /etc
    let etc = under_new_root(Path::new("/etc"));
    steps.push(Step::Mkdir {
        path: etc.clone(),
        mode: 0o755,
    });
    let (uid, gid) = (spec.uid, spec.gid);
    for (name, contents) in [
        (
            "passwd",
            format!(
                "root:x:0:0:root:/homeless-shelter:/noshell\n\
                 forge:x:{uid}:{gid}:forge build user:/homeless-shelter:/noshell\n\
                 nobody:x:65534:65534:nobody:/homeless-shelter:/noshell\n"
            ),
        ),
        (
            "group",
            format!("root:x:0:\nforge:x:{gid}:\nnogroup:x:65534:\n"),
        ),
        (
            "hosts",
            format!("127.0.0.1 localhost {}\n::1 localhost\n", spec.hostname),
        ),
    ] {
        steps.push(Step::WriteFile {
            path: etc.join(name),
            contents,
            mode: 0o444,
        });
    }
    // The layers' etc/ entries: the generated files and binds win.
    let etc_inside = Path::new("/etc");
    merge_layers(
        &spec.root_layers,
        |i| &layers[i].etc,
        Path::new("etc"),
        etc_inside,
        |name| {
            GENERATED_ETC.iter().any(|g| OsStr::new(g) == name)
                || spec
                    .binds
                    .iter()
                    .any(|b| b.inside.starts_with(etc_inside.join(name)))
        },
        &mut steps,
    );
    access.read_exec.push("/etc".into());

    steps.push(Step::RemountRootReadOnly);
    Ok(Plan {
        steps,
        access,
        hostname: spec.hostname.clone(),
        cwd: spec.cwd.clone(),
    })
}

#[cfg(test)]
mod tests;
