//! Landlock: what each ABI misses (pure), and the rules enforced in a forked child.
use super::*;

#[test]
fn landlock_missing_by_abi() {
    assert!(landlock_missing(7, false).is_empty());
    assert!(landlock_missing(6, false).is_empty());
    assert_eq!(landlock_missing(5, false).len(), 2);
    assert!(landlock_missing(3, false).iter().any(|m| m.contains("tcp")));
    assert!(!landlock_missing(3, true).iter().any(|m| m.contains("tcp")));
    assert!(matches!(
        landlock_expected(None, false),
        LandlockStatus::NotEnforced { .. }
    ));
}

#[test]
fn landlock_in_kernel() {
    let Some(abi) = landlock_abi() else {
        eprintln!("skipped: landlock not available on this kernel");
        return;
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("input"), b"hello").unwrap();
    let secret = ["/etc/hostname", "/etc/passwd"]
        .into_iter()
        .find(|p| std::fs::read(p).is_ok())
        .unwrap();
    check_in_child(|| {
        let rules = LandlockRules {
            read_exec: vec![a.path().to_path_buf()],
            read_write: vec![b.path().to_path_buf()],
            devices: vec![],
            allow_network: false,
        };
        set_no_new_privs().map_err(|e| e.to_string())?;
        let status = apply_landlock(&rules).map_err(|e| e.to_string())?;
        let want = if abi >= 6 {
            LandlockStatus::FullyEnforced { abi }
        } else {
            LandlockStatus::PartiallyEnforced {
                abi,
                missing: landlock_missing(abi, false),
            }
        };
        if status != want {
            return Err(format!("status {status:?}, expected {want:?}"));
        }
        let text = ok(std::fs::read(a.path().join("input")), "read in A")?;
        if text != b"hello" {
            return Err("wrong content read from A".to_owned());
        }
        expect_errno(
            std::fs::write(a.path().join("new"), b"x"),
            "write in A",
            libc::EACCES,
        )?;
        expect_errno(
            std::fs::OpenOptions::new()
                .append(true)
                .open(a.path().join("input")),
            "open A/input for writing",
            libc::EACCES,
        )?;
        ok(std::fs::write(b.path().join("out"), b"x"), "write in B")?;
        ok(std::fs::create_dir(b.path().join("sub")), "mkdir in B")?;
        ok(
            std::os::unix::fs::symlink("out", b.path().join("link")),
            "symlink in B",
        )?;
        ok(std::fs::remove_file(b.path().join("link")), "unlink in B")?;
        expect_errno(std::fs::read(secret), secret, libc::EACCES)?;
        if abi >= 4 {
            expect_errno(
                std::net::TcpListener::bind("127.0.0.1:0"),
                "tcp bind",
                libc::EACCES,
            )?;
        }
        if abi >= 6 {
            // SAFETY: kill with signal 0 only checks permission; the parent is the test process,
            // outside the landlock domain.
            let r = raw(unsafe { libc::kill(libc::getppid(), 0) }.into());
            expect_errno(r, "signal to a process outside the domain", libc::EPERM)?;
        }
        Ok(())
    });
}
