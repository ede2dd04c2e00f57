//! Progress display for long work: a spinner with bytes, rate and node count
//! on stderr when stderr is a terminal and `-q` is not given; nothing
//! otherwise (so logs and pipes stay clean).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display bound to the store's [`forge_store::tree::Progress`].
pub struct Bar {
    bar: Option<ProgressBar>,
    nodes: AtomicU64,
}

impl Bar {
    /// A spinner labelled `what`, or an inert value when stderr is not a
    /// terminal or `quiet` is set.
    pub fn new(what: &str, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar {
                bar: None,
                nodes: AtomicU64::new(0),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} {bytes} ({binary_bytes_per_sec}), {prefix} files and dirs",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_owned());
        bar.set_prefix("0");
        bar.enable_steady_tick(Duration::from_millis(100));
        Bar {
            bar: Some(bar),
            nodes: AtomicU64::new(0),
        }
    }

    /// Removes the display.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

impl forge_store::tree::Progress for Bar {
    fn bytes(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn node(&self) {
        if let Some(b) = &self.bar {
            let nodes = self.nodes.fetch_add(1, Ordering::Relaxed) + 1;
            // Formatting a number per node would cost more than the node.
            if nodes < 64 || nodes % 64 == 0 {
                b.set_prefix(nodes.to_string());
            }
        }
    }
}
