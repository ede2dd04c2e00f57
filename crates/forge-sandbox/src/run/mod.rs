//! Running a command in the sandbox.
//!
//! Three processes do the work:
//!
//! 1. The **caller** ([`Sandbox::run`], in `caller`) starts the
//!    **monitor**: forge's own binary again (`forge-sandbox-exec`, or the
//!    hidden `forge sandbox __exec`), which calls [`monitor::main`]. It
//!    hands the monitor its spec and the runner's own state (a pids cgroup
//!    as root) and gets the outcome back through two pipes, fds 3 and 4 of
//!    the monitor (`wire`); the sandbox's streams are forge's own pipes or
//!    pty ([`crate::stdio`]), never the caller's descriptors. It enforces
//!    the timeouts and cancellation by sending the monitor SIGTERM.
//! 2. The **monitor** ([`monitor`]) creates the namespaces and forks the
//!    init, waits for it, and reports how the builder ended.
//! 3. The **init** (`init`) is pid 1 of the new pid namespace: it builds
//!    the root, forks the **builder** (pid 2, which applies the in-process
//!    layers and execs the command), reaps orphans, and ends when the
//!    builder does, which ends the namespace.
//!
//! The monitor and the init have a parent-death signal of SIGKILL, so forge
//! dying kills the whole sandbox. The monitor, asked to stop, kills the
//! init and exits once the init is reaped, which the kernel does only after
//! every process of the namespace is gone. See docs/sandbox.md.

mod caller;
mod fds;
mod init;
pub mod monitor;
mod outcome;
mod wire;

pub use caller::{Output, RunOptions, Sandbox, MONITOR_BINARY};
pub use outcome::{Outcome, SandboxError};
pub use wire::Failure;
