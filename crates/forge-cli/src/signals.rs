//! Ctrl-C and SIGTERM during a build: they set the engine's cancel flag
//! (running builders are killed, nothing new starts) and are remembered,
//! so that `main` exits with 128 + the signal, as a shell reports a
//! process the signal ended (130 for Ctrl-C, 143 for SIGTERM).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

/// The last of SIGINT / SIGTERM received (0: none), once handlers are in.
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// A flag set on SIGINT or SIGTERM, for [`forge_build::Engine::cancel_on`].
pub fn cancel_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, cancel.clone()).context("installing signal handlers")?;
        signal_hook::flag::register_usize(sig, received.clone(), sig as usize)
            .context("installing signal handlers")?;
    }
    Ok(cancel)
}

/// The signal that interrupted this run, if one did.
pub fn received() -> Option<i32> {
    let sig = RECEIVED.get()?.load(Ordering::Relaxed);
    i32::try_from(sig).ok().filter(|&s| s != 0)
}
