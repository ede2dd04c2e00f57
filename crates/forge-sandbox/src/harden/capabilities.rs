//! Capabilities and `no_new_privs`: the builder holds no capability (even in its own user
//! namespace) and can never gain one by exec.

use serde::Serialize;

use super::error::HardenError;

/// What [`drop_capabilities`] cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CapabilityStatus {
    /// Effective, permitted, inheritable and ambient are empty.
    pub process_sets_cleared: bool,
    /// The bounding set is empty too (needs `CAP_SETPCAP`, which the sandbox's uid 0 in its own
    /// user namespace has; an unprivileged caller outside one cannot empty it).
    pub bounding_cleared: bool,
}

impl CapabilityStatus {
    /// Every set is empty.
    pub fn all_dropped(&self) -> bool {
        self.process_sets_cleared && self.bounding_cleared
    }
}

/// Drop every capability: bounding set (while `CAP_SETPCAP` is still effective, else skipped
/// and reported), ambient, inheritable, effective and permitted.
pub fn drop_capabilities() -> Result<CapabilityStatus, HardenError> {
    use caps::CapSet;
    let clear = |set: CapSet, name: &'static str| {
        caps::clear(None, set).map_err(|source| HardenError::Capabilities { set: name, source })
    };
    let can_drop_bounding =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if can_drop_bounding {
        clear(CapSet::Bounding, "bounding")?;
    }
    clear(CapSet::Ambient, "ambient")?;
    clear(CapSet::Inheritable, "inheritable")?;
    clear(CapSet::Effective, "effective")?;
    clear(CapSet::Permitted, "permitted")?;
    let empty = |set| caps::read(None, set).map(|s| s.is_empty()).unwrap_or(false);
    Ok(CapabilityStatus {
        process_sets_cleared: empty(CapSet::Effective)
            && empty(CapSet::Permitted)
            && empty(CapSet::Inheritable)
            && empty(CapSet::Ambient),
        bounding_cleared: empty(CapSet::Bounding),
    })
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: exec can never grant privileges again (setuid bits, file
/// capabilities). Irreversible.
pub fn set_no_new_privs() -> Result<(), HardenError> {
    nix::sys::prctl::set_no_new_privs().map_err(HardenError::NoNewPrivs)
}
