//! Crash injection for tests.
//!
//! `FORGE_FAILPOINTS=name[,name…]` makes the process kill itself with
//! SIGKILL when it reaches a named point, so tests can crash an operation at
//! exactly the moments that matter (after the rename, before the commit)
//! instead of hoping a random kill lands there. Unset, a failpoint costs one
//! environment lookup. Release builds compile them out.
//!
//! Points: `add-after-copy`, `add-after-rename`, `add-after-commit`,
//! `gc-after-invalidate`.

/// Dies by SIGKILL if `name` is listed in `FORGE_FAILPOINTS`. Compiled only
/// into debug builds (which the tests use); a no-op in release builds.
#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    if let Some(list) = std::env::var_os("FORGE_FAILPOINTS") {
        if list.to_string_lossy().split(',').any(|p| p.trim() == name) {
            tracing::warn!(failpoint = name, "failpoint hit: killing this process");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Release builds have no failpoints.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str) {}
