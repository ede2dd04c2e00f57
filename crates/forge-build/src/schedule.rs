//! Running a DAG of jobs on N workers.
//!
//! [`run`] takes, for each job, the jobs it depends on, and a function that
//! runs one job. A job starts once all of its dependencies succeeded; among
//! the ready jobs, the one with the longest chain of dependents above it
//! goes first (the critical path: a long chain started late finishes last).
//! When a job fails, its dependents are never started; with `keep_going`
//! the others go on, without it nothing new starts and `run` returns once
//! the running jobs are done. Setting `cancel` stops new starts too (the
//! job function is expected to watch it for the running ones).

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// How a job ended, as seen by the scheduler.
#[derive(Debug)]
pub enum JobState<T, E> {
    /// Not run: a dependency failed (the index of the first that did), or
    /// the run stopped before it could start.
    Skipped(Option<usize>),
    /// Ran and succeeded.
    Done(T),
    /// Ran and failed.
    Failed(E),
}

struct State<T, E> {
    ready: BinaryHeap<(usize, std::cmp::Reverse<usize>)>,
    waiting_on: Vec<usize>,
    results: Vec<Option<JobState<T, E>>>,
    running: usize,
    stop: bool,
}

/// Runs `jobs` (job `i` depends on every index in `deps[i]`) on `workers`
/// threads; returns every job's state.
pub fn run<T, E, F>(
    deps: &[Vec<usize>],
    workers: usize,
    keep_going: bool,
    cancel: &AtomicBool,
    job: F,
) -> Vec<JobState<T, E>>
where
    T: Send,
    E: Send,
    F: Fn(usize) -> Result<T, E> + Sync,
{
    let n = deps.len();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let priority = critical_path(&dependents);
    let mut state = State {
        ready: BinaryHeap::new(),
        waiting_on: deps.iter().map(|d| d.len()).collect(),
        results: (0..n).map(|_| None).collect(),
        running: 0,
        stop: false,
    };
    for (i, &p) in priority.iter().enumerate() {
        if state.waiting_on[i] == 0 {
            state.ready.push((p, std::cmp::Reverse(i)));
        }
    }
    let shared = (Mutex::new(state), Condvar::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(n.max(1)) {
            s.spawn(|| worker(&shared, &dependents, &priority, keep_going, cancel, &job));
        }
    });
    let (state, _) = shared;
    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    state
        .results
        .into_iter()
        .map(|r| r.unwrap_or(JobState::Skipped(None)))
        .collect()
}

fn worker<T, E, F>(
    shared: &(Mutex<State<T, E>>, Condvar),
    dependents: &[Vec<usize>],
    priority: &[usize],
    keep_going: bool,
    cancel: &AtomicBool,
    job: &F,
) where
    F: Fn(usize) -> Result<T, E>,
{
    let (lock, cv) = shared;
    loop {
        let i = {
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if st.stop || cancel.load(Ordering::Relaxed) {
                    st.stop = true;
                    cv.notify_all();
                    return;
                }
                if let Some((_, std::cmp::Reverse(i))) = st.ready.pop() {
                    st.running += 1;
                    break i;
                }
                if st.running == 0 {
                    // Nothing ready and nothing running: done.
                    cv.notify_all();
                    return;
                }
                st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = job(i);
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        st.running -= 1;
        match result {
            Ok(v) => {
                st.results[i] = Some(JobState::Done(v));
                for &d in &dependents[i] {
                    st.waiting_on[d] -= 1;
                    if st.waiting_on[d] == 0 && st.results[d].is_none() {
                        st.ready.push((priority[d], std::cmp::Reverse(d)));
                    }
                }
            }
            Err(e) => {
                st.results[i] = Some(JobState::Failed(e));
                skip_dependents(&mut st, dependents, i);
                if !keep_going {
                    st.stop = true;
                }
            }
        }
        cv.notify_all();
    }
}

fn skip_dependents<T, E>(st: &mut State<T, E>, dependents: &[Vec<usize>], failed: usize) {
    let mut stack = dependents[failed].clone();
    while let Some(d) = stack.pop() {
        if st.results[d].is_none() {
            st.results[d] = Some(JobState::Skipped(Some(failed)));
            stack.extend(dependents[d].iter().copied());
        }
    }
}

/// For each job, the length of the longest chain of dependents above it.
fn critical_path(dependents: &[Vec<usize>]) -> Vec<usize> {
    let n = dependents.len();
    let mut memo: Vec<Option<usize>> = vec![None; n];
    for start in 0..n {
        // Iterative post-order to stay safe on deep chains.
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if memo[i].is_some() {
                continue;
            }
            if expanded {
                let best = dependents[i]
                    .iter()
                    .map(|&d| memo[d].unwrap_or(0) + 1)
                    .max()
                    .unwrap_or(0);
                memo[i] = Some(best);
            } else {
                stack.push((i, true));
                for &d in &dependents[i] {
                    if memo[d].is_none() {
                        stack.push((d, false));
                    }
                }
            }
        }
    }
    memo.into_iter().map(|m| m.unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_dependencies_first_and_everything_once() {
        // 0 <- 1 <- 3, 0 <- 2 <- 3
        let deps = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let order = Mutex::new(Vec::new());
        let cancel = AtomicBool::new(false);
        let res = run(&deps, 2, false, &cancel, |i| -> Result<usize, ()> {
            order.lock().unwrap().push(i);
            Ok(i * 10)
        });
        let order = order.into_inner().unwrap();
        assert_eq!(order.len(), 4);
        let pos = |x| order.iter().position(|&y| y == x).unwrap();
        assert!(pos(0) < pos(1) && pos(0) < pos(2));
        assert!(pos(1) < pos(3) && pos(2) < pos(3));
        for (i, r) in res.iter().enumerate() {
            assert!(matches!(r, JobState::Done(v) if *v == i * 10));
        }
    }

    #[test]
    fn a_failure_skips_dependents_and_keep_going_runs_the_rest() {
        // 0 fails; 1 depends on 0; 2 and 3 are independent.
        let deps = vec![vec![], vec![0], vec![], vec![2]];
        let cancel = AtomicBool::new(false);
        let res = run(&deps, 1, true, &cancel, |i| {
            if i == 0 {
                Err("boom")
            } else {
                Ok(())
            }
        });
        assert!(matches!(res[0], JobState::Failed("boom")));
        assert!(matches!(res[1], JobState::Skipped(Some(0))));
        assert!(matches!(res[2], JobState::Done(())));
        assert!(matches!(res[3], JobState::Done(())));
    }

    #[test]
    fn without_keep_going_nothing_new_starts_after_a_failure() {
        let deps = vec![vec![], vec![], vec![], vec![]];
        let ran = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let res = run(&deps, 1, false, &cancel, |_| {
            ran.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("first fails")
        });
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(
            res.iter()
                .filter(|r| matches!(r, JobState::Skipped(None)))
                .count(),
            3
        );
    }

    #[test]
    fn the_critical_path_goes_first() {
        // Job 0 heads a chain 0 <- 1 <- 2; job 3 is alone. One worker must
        // start 0 (two dependents above it) before 3.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let order = Mutex::new(Vec::new());
        let cancel = AtomicBool::new(false);
        run(&deps, 1, false, &cancel, |i| -> Result<(), ()> {
            order.lock().unwrap().push(i);
            Ok(())
        });
        assert_eq!(order.into_inner().unwrap()[0], 0);
        assert_eq!(
            critical_path(&[vec![1], vec![2], vec![], vec![]]),
            vec![2, 1, 0, 0]
        );
    }

    #[test]
    fn cancel_stops_new_jobs() {
        let deps = vec![vec![], vec![], vec![]];
        let cancel = AtomicBool::new(false);
        let res = run(&deps, 1, true, &cancel, |_| -> Result<(), ()> {
            cancel.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert_eq!(
            res.iter()
                .filter(|r| matches!(r, JobState::Done(())))
                .count(),
            1
        );
    }
}
