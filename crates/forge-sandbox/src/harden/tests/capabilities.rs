//! Capabilities and no_new_privs, dropped in a forked child.
use super::*;

fn cap_field(name: &str) -> Result<u64, String> {
    let status = ok(std::fs::read_to_string("/proc/self/status"), "read status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .ok_or(format!("{name} missing from /proc/self/status"))?;
    u64::from_str_radix(line.trim(), 16).map_err(|e| format!("{name}: {e}"))
}

fn check_caps_cleared(report: CapabilityStatus) -> Result<(), String> {
    for f in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let v = cap_field(f)?;
        if v != 0 {
            return Err(format!("{f} is {v:#x} after drop_capabilities"));
        }
    }
    if !report.process_sets_cleared {
        return Err("report says process sets not cleared".to_owned());
    }
    let bnd = cap_field("CapBnd")?;
    if report.bounding_cleared != (bnd == 0) {
        return Err(format!("report {report:?} disagrees with CapBnd {bnd:#x}"));
    }
    Ok(())
}

#[test]
fn capabilities_dropped_in_current_context() {
    let root = nix::unistd::geteuid().is_root();
    check_in_child(|| {
        let report = drop_capabilities().map_err(|e| e.to_string())?;
        check_caps_cleared(report)?;
        if root && !report.all_dropped() {
            return Err(format!("as root every set must be empty: {report:?}"));
        }
        Ok(())
    });
}

#[test]
fn capabilities_dropped_in_user_namespace() {
    // The real sandbox case: uid 0 in a fresh user namespace holds every capability there,
    // so all five sets, bounding included, must end empty.
    check_in_child(|| {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            child_say(&format!(
                "skipped: cannot create a user namespace here ({e})"
            ));
            return Ok(());
        }
        if cap_field("CapBnd")? == 0 || cap_field("CapEff")? == 0 {
            return Err("no capabilities in the new user namespace to begin with".to_owned());
        }
        let report = drop_capabilities().map_err(|e| e.to_string())?;
        check_caps_cleared(report)?;
        if !report.all_dropped() || cap_field("CapBnd")? != 0 {
            return Err(format!("bounding set not emptied: {report:?}"));
        }
        Ok(())
    });
}

#[test]
fn no_new_privs_in_kernel() {
    check_in_child(|| {
        set_no_new_privs().map_err(|e| e.to_string())?;
        let status = ok(std::fs::read_to_string("/proc/self/status"), "read status")?;
        if status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NoNewPrivs:", "1"])
        {
            Ok(())
        } else {
            Err("NoNewPrivs is not 1".to_owned())
        }
    });
}
