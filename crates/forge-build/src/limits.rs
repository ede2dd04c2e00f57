//! The output size limit: sizes as people write them, and the watcher that
//! stops a build whose outputs grow past the limit while it runs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The default limit on one output's size: generous for toolchains and
/// images, small enough that a runaway builder cannot fill the disk or keep
/// forge hashing for minutes.
pub const DEFAULT_MAX_OUTPUT_SIZE: u64 = 8 << 30;

/// How often the watcher measures the outputs.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// How often it looks at the global cancel flag.
const POLL: Duration = Duration::from_millis(50);

/// `2 MiB`, `8 GiB`, `1500 bytes`: exact, in the largest unit that divides.
pub fn format_size(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

/// A thread measuring a running build's outputs; it sets the build's own
/// cancel flag when one grows past the limit, or when the global one is set.
#[derive(Debug)]
pub struct Watcher {
    /// Dropped (or sent to) to stop the thread at once, without waiting
    /// for its poll interval.
    stop: Option<std::sync::mpsc::Sender<()>>,
    over: Arc<Mutex<Option<(String, u64)>>>,
    handle: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Watches `outputs` (name, host path) against `limit`, setting `cancel`
    /// when one exceeds it or when `global` is set.
    pub fn start(
        outputs: Vec<(String, PathBuf)>,
        limit: Option<u64>,
        cancel: Arc<AtomicBool>,
        global: Arc<AtomicBool>,
    ) -> Watcher {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let over = Arc::new(Mutex::new(None));
        let handle = {
            let over = over.clone();
            std::thread::spawn(move || {
                let mut next = Instant::now() + MEASURE_EVERY;
                loop {
                    if global.load(Ordering::Relaxed) {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    if let (Some(limit), true) = (limit, Instant::now() >= next) {
                        let started = Instant::now();
                        for (name, path) in &outputs {
                            // Errors (a tree changing, too deep) only mean a
                            // partial count: the check after the build is exact.
                            let size = forge_store::tree::apparent_size(path, limit)
                                .unwrap_or_else(|partial| partial);
                            if size > limit {
                                *over.lock().expect("watcher lock") = Some((name.clone(), size));
                                cancel.store(true, Ordering::Relaxed);
                                return;
                            }
                        }
                        // Never spend more than a tenth of the time measuring.
                        next = Instant::now() + MEASURE_EVERY.max(started.elapsed() * 10);
                    }
                    match stopped.recv_timeout(POLL) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })
        };
        Watcher {
            stop: Some(stop),
            over,
            handle: Some(handle),
        }
    }

    /// Stops the thread; returns the output that went over the limit and
    /// the size seen, if one did.
    pub fn finish(mut self) -> Option<(String, u64)> {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.over.lock().expect("watcher lock").take()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_exactly() {
        assert_eq!(format_size(2 << 20), "2 MiB");
        assert_eq!(format_size(8 << 30), "8 GiB");
        assert_eq!(format_size(1500), "1500 bytes");
        assert_eq!(format_size(3 << 10), "3 KiB");
    }
}
