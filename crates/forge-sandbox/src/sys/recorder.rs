//! [`Recorder`]: a test double of [`Syscalls`] that writes down each call
//! with its exact flags, so the sequence the executor issues for a plan is
//! checked by ordinary unit tests.

use std::io;
use std::path::Path;

use nix::mount::MsFlags;

use super::syscalls::{Syscalls, Via};

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
    fn remove_dir(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("rmdir {}", path.display()))
    }
}
