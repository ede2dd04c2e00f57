//! The CPUs a build may run on: its share of the host, as `FORGE_BUILD_CORES` says, so that
//! `nproc` and the tools that size their parallelism by it see that share.

use super::error::HardenError;

/// The number of CPUs a build is given: `FORGE_BUILD_CORES` of its environment, if it is a
/// positive integer.
pub fn build_cores(env: &std::collections::BTreeMap<String, String>) -> Option<usize> {
    env.get("FORGE_BUILD_CORES")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The first `n` CPUs of `allowed` (ascending), or all of them if there are fewer (pure).
pub fn first_cpus(allowed: &[usize], n: usize) -> Vec<usize> {
    let mut cpus = allowed.to_vec();
    cpus.sort_unstable();
    cpus.truncate(n);
    cpus
}

/// Restricts the calling thread, and so what it executes, to the first `n` CPUs of its allowed
/// set, so that `nproc`, `sched_getaffinity` and the tools that size their parallelism by them
/// see the build's share rather than the host's CPU count. Returns how many it has now.
pub fn restrict_cpus(n: usize) -> Result<usize, HardenError> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let me = Pid::from_raw(0);
    let current = sched_getaffinity(me).map_err(HardenError::Affinity)?;
    let allowed: Vec<usize> = (0..CpuSet::count())
        .filter(|&i| current.is_set(i).unwrap_or(false))
        .collect();
    let mut set = CpuSet::new();
    let chosen = first_cpus(&allowed, n);
    for &cpu in &chosen {
        set.set(cpu).map_err(HardenError::Affinity)?;
    }
    sched_setaffinity(me, &set).map_err(HardenError::Affinity)?;
    Ok(chosen.len())
}
