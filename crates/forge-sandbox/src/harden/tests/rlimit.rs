//! Resource limits, set in a forked child.
use super::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

#[test]
fn rlimits_in_kernel() {
    let dir = tempfile::tempdir().unwrap();
    check_in_child(|| {
        let (nproc, _) = ok(
            getrlimit(Resource::RLIMIT_NPROC).map_err(Into::into),
            "getrlimit",
        )?;
        let limits = Rlimits {
            max_processes: nproc,
            max_open_files: 16,
            max_file_size: Some(4096),
            core_dumps: false,
        };
        apply_rlimits(&limits).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        let mut failure = None;
        for i in 0..32 {
            match std::fs::File::create(dir.path().join(format!("f{i}"))) {
                Ok(f) => files.push(f),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match failure {
            Some(e) if e.raw_os_error() == Some(libc::EMFILE) => {}
            other => return Err(format!("opening 32 files with a limit of 16: {other:?}")),
        }
        drop(files);
        let core = ok(
            getrlimit(Resource::RLIMIT_CORE).map_err(Into::into),
            "getrlimit core",
        )?;
        if core != (0, 0) {
            return Err(format!("RLIMIT_CORE is {core:?}"));
        }
        // The hard limit is lowered too: the builder cannot raise it back.
        let raised = setrlimit(Resource::RLIMIT_NOFILE, 64, 64).map_err(Into::into);
        expect_errno(raised, "raising RLIMIT_NOFILE", libc::EPERM)?;
        // A write past RLIMIT_FSIZE fails with EFBIG once SIGXFSZ is ignored.
        // SAFETY: setting SIGXFSZ to SIG_IGN installs no handler code.
        unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::SIGXFSZ,
                nix::sys::signal::SigHandler::SigIgn,
            )
        }
        .map_err(|e| e.to_string())?;
        expect_errno(
            std::fs::write(dir.path().join("big"), vec![0u8; 8192]),
            "write 8 KiB",
            libc::EFBIG,
        )?;
        Ok(())
    });
}
