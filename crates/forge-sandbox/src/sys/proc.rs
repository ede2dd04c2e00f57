//! What a build's `/proc` hides: the kernel's tunables read-only, what
//! tells about the host masked (docs/sandbox.md, layer 2).

use std::io;
use std::path::Path;

use nix::mount::MsFlags;

use super::syscalls::{ctx, Syscalls, HIDDEN};

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
pub(super) fn harden_proc(sys: &mut dyn Syscalls, proc: &Path) -> io::Result<()> {
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
