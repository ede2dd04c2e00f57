//! The build's share of the CPUs.
use super::*;

#[test]
fn build_cores_come_from_the_environment_and_take_the_first_allowed_cpus() {
    let env = |v: &str| {
        [("FORGE_BUILD_CORES".to_owned(), v.to_owned())]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(build_cores(&env("3")), Some(3));
    assert_eq!(build_cores(&env("0")), None);
    assert_eq!(build_cores(&env("many")), None);
    assert_eq!(build_cores(&Default::default()), None);
    assert_eq!(first_cpus(&[5, 2, 7, 3], 2), [2, 3]);
    assert_eq!(first_cpus(&[1], 4), [1]);
}

#[test]
fn restrict_cpus_in_kernel_leaves_one_cpu() {
    check_in_child(|| {
        let n = restrict_cpus(1).map_err(|e| e.to_string())?;
        let seen = std::thread::available_parallelism().map_or(0, |n| n.get());
        if n != 1 || seen != 1 {
            return Err(format!("restricted to {n}, the process sees {seen} cpus"));
        }
        Ok(())
    });
}
