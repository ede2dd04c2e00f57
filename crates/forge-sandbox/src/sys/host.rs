//! What the monitor does on the host before the sandbox exists: its look
//! at bind sources and root layers (for the plan), and, as root, the
//! groups and device nodes that make a root run look like a user's.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

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

/// Right after `unshare(CLONE_NEWUSER)`: maps `inside` uid and gid of the
/// new namespace to this process's `outside` ones, one id each, with
/// `setgroups` denied first (the kernel requires it of an unprivileged gid
/// map). The error names the `/proc/self` file that could not be written.
pub fn map_ids(inside: (u32, u32), outside: (u32, u32)) -> Result<(), (&'static str, io::Error)> {
    let (uid, gid) = inside;
    let (host_uid, host_gid) = outside;
    for (file, text) in [
        ("/proc/self/setgroups", "deny".to_owned()),
        ("/proc/self/uid_map", format!("{uid} {host_uid} 1\n")),
        ("/proc/self/gid_map", format!("{gid} {host_gid} 1\n")),
    ] {
        fs::write(file, text).map_err(|e| (file, e))?;
    }
    Ok(())
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
