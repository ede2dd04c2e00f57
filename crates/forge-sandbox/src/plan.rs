//! From a spec to a plan: the exact mounts, files and rules, computed
//! without touching the system.
//!
//! [`plan`] is a pure function, so every mount flag and every landlock path
//! can be checked by ordinary unit tests without root or namespaces; the
//! [`crate::sys`] module then carries the plan out step by step. The plan
//! builds the new root in a tmpfs mounted at [`NEW_ROOT`], with the host's
//! root reachable at [`OLD_ROOT`] for the duration of the setup only (the
//! same two-step `pivot_root` that bubblewrap uses):
//!
//! ```text
//! /                 tmpfs, read-only at the end
//! ├── build/        writable: the build directory (cwd)
//! ├── tmp/          tmpfs, size-limited, 1777
//! ├── <binds>       host paths, read-only (or writable when asked); may
//! │                 lie below /tmp, /build or /etc, not replace them
//! ├── proc/         a fresh procfs of the sandbox's own pid namespace
//! ├── dev/          tmpfs: null zero full random urandom tty, fd links,
//! │                 a new devpts instance, shm tmpfs
//! └── etc/          passwd, group, hosts generated for the build user
//! ```

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::spec::SandboxSpec;

/// Where the new root is assembled, inside the setup tmpfs.
pub const NEW_ROOT: &str = "/newroot";
/// Where the host's root is reachable during setup.
pub const OLD_ROOT: &str = "/oldroot";

/// Device nodes bound from the host into `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

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
    /// A tmpfs at `target` with `mode` and an optional size.
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
    /// The command is empty or its program is not an absolute path.
    #[error("the command must start with an absolute program path inside the sandbox, got {0:?}")]
    BadCommand(Option<String>),
}

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

/// Computes the plan for `spec`. `bind_is_dir` tells, for each bind,
/// whether its host path is a directory (the caller stats it; the plan stays
/// pure).
pub fn plan(spec: &SandboxSpec, bind_is_dir: &[bool]) -> Result<Plan, PlanError> {
    match spec.command.first() {
        Some(p) if p.starts_with('/') => {}
        other => return Err(PlanError::BadCommand(other.cloned())),
    }
    check_inside(&spec.cwd)?;
    let mut steps = vec![Step::Tmpfs {
        target: NEW_ROOT.into(),
        mode: 0o755,
        size: Some(64 << 20),
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
            size: Some(spec.limits.tmp_size),
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
        steps.push(Step::Bind {
            source: under_old_root(&b.host),
            target: under_new_root(&b.inside),
            is_dir: bind_is_dir.get(i).copied().unwrap_or(true),
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
    steps.push(Step::Tmpfs {
        target: dev.clone(),
        mode: 0o755,
        size: Some(1 << 20),
        flags: Flags::SAFE_NOEXEC,
    });
    for d in DEVICES {
        steps.push(Step::Bind {
            source: under_old_root(&Path::new("/dev").join(d)),
            target: dev.join(d),
            is_dir: false,
            flags: Flags {
                nodev: false,
                noexec: true,
                ..Flags::SAFE
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
mod tests {
    use super::*;
    use crate::spec::{Bind, SandboxSpec};

    fn spec() -> SandboxSpec {
        let mut s = SandboxSpec::new(vec!["/bin/sh".into()]);
        s.binds = vec![
            Bind {
                host: "/host/store/abc-x".into(),
                inside: "/forge/store/abc-x".into(),
                writable: false,
            },
            Bind {
                host: "/host/out".into(),
                inside: "/forge/store/out".into(),
                writable: true,
            },
            Bind {
                host: "/usr/bin/busybox".into(),
                inside: "/bin/sh".into(),
                writable: false,
            },
        ];
        s
    }

    #[test]
    fn inputs_are_read_only_outputs_writable_and_everything_nosuid_nodev() {
        let p = plan(&spec(), &[true, true, false]).unwrap();
        let bind = |t: &str| {
            p.steps
                .iter()
                .find_map(|s| match s {
                    Step::Bind {
                        target,
                        flags,
                        source,
                        is_dir,
                    } if target == Path::new(t) => Some((source.clone(), *flags, *is_dir)),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no bind at {t}"))
        };
        assert_eq!(
            bind("/newroot/forge/store/abc-x"),
            (PathBuf::from("/oldroot/host/store/abc-x"), Flags::RO, true)
        );
        assert_eq!(
            bind("/newroot/forge/store/out"),
            (PathBuf::from("/oldroot/host/out"), Flags::SAFE, true)
        );
        assert!(!bind("/newroot/bin/sh").2, "a file bind");
        // Device nodes keep dev (they are devices) but nothing else does.
        assert!(!bind("/newroot/dev/null").1.nodev);
        for s in &p.steps {
            match s {
                Step::Bind { target, flags, .. } if !target.starts_with("/newroot/dev") => {
                    assert!(flags.nosuid && flags.nodev, "{target:?}")
                }
                Step::Tmpfs { flags, .. } => assert!(flags.nosuid && flags.nodev),
                _ => {}
            }
        }
        assert_eq!(p.steps.last(), Some(&Step::RemountRootReadOnly));
        assert_eq!(
            p.steps.first(),
            Some(&Step::Tmpfs {
                target: NEW_ROOT.into(),
                mode: 0o755,
                size: Some(64 << 20),
                flags: Flags::SAFE
            })
        );
    }

    #[test]
    fn landlock_rules_follow_the_binds() {
        let p = plan(&spec(), &[true, true, false]).unwrap();
        let ro: Vec<_> = p
            .access
            .read_exec
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        let rw: Vec<_> = p
            .access
            .read_write
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        assert_eq!(ro, ["/", "/bin/sh", "/forge/store/abc-x", "/proc", "/etc"]);
        assert_eq!(rw, ["/build", "/tmp", "/forge/store/out", "/dev/shm"]);
        assert_eq!(p.access.devices, [PathBuf::from("/dev")]);
    }

    #[test]
    fn parents_are_bound_before_children() {
        let mut s = spec();
        s.binds.insert(
            0,
            Bind {
                host: "/h/deep".into(),
                inside: "/a/b/c".into(),
                writable: false,
            },
        );
        s.binds.push(Bind {
            host: "/h/top".into(),
            inside: "/a".into(),
            writable: false,
        });
        let p = plan(&s, &[true; 5]).unwrap();
        let pos = |t: &str| {
            p.steps
                .iter()
                .position(|s| matches!(s, Step::Bind { target, .. } if target == Path::new(t)))
                .unwrap()
        };
        assert!(pos("/newroot/a") < pos("/newroot/a/b/c"));
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut s = spec();
        s.binds[0].inside = "relative".into();
        assert!(matches!(plan(&s, &[]), Err(PlanError::BadInsidePath(_))));
        let mut s = spec();
        s.binds[0].inside = "/forge/../etc".into();
        assert!(matches!(plan(&s, &[]), Err(PlanError::BadInsidePath(_))));
        for reserved in ["/proc/x", "/dev", "/tmp", "/etc", "/build"] {
            let mut s = spec();
            s.binds[0].inside = reserved.into();
            assert!(
                matches!(plan(&s, &[]), Err(PlanError::Reserved(_))),
                "{reserved}"
            );
        }
        let mut s = spec();
        s.binds[0].inside = "/tmp/x".into();
        assert!(plan(&s, &[true, true, false]).is_ok());
        let mut s = spec();
        s.command = vec!["sh".into()];
        assert!(matches!(plan(&s, &[]), Err(PlanError::BadCommand(_))));
    }

    #[test]
    fn identity_files_name_the_fixed_build_user() {
        let p = plan(&spec(), &[true, true, false]).unwrap();
        let passwd = p
            .steps
            .iter()
            .find_map(|s| match s {
                Step::WriteFile { path, contents, .. } if path.ends_with("passwd") => {
                    Some(contents.clone())
                }
                _ => None,
            })
            .unwrap();
        assert!(passwd.contains("forge:x:1000:100:"), "{passwd}");
    }
}
