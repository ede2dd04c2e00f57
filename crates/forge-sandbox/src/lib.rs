//! forge's build sandbox.
//!
//! A build sees only what its recipe declared. This crate turns a
//! [`SandboxSpec`] (what to expose, the environment,
//! limits) into a [`Plan`](plan::Plan) by a pure function, carries the plan
//! out through a narrow syscall layer ([`sys`]), and runs the command under
//! an init of forge's own (pid 1) in fresh user, mount, pid, network
//! (unless the spec asks for the host's, as fixed-output builds do), uts,
//! ipc and cgroup namespaces ([`run`]), in a session of its own and with
//! forge's own streams ([`stdio`]). It works the same as root and as an unprivileged user: the
//! invoking user is mapped to the fixed build uid/gid 1000/100.
//!
//! One entry point on each side: a caller makes a [`Sandbox`] once
//! ([`Sandbox::new`] with the `forge` executable) and calls
//! [`Sandbox::run`] for each spec; the monitor process it starts calls
//! [`monitor::main`].
//!
//! Layers, outermost first: namespaces; a root assembled in a ramfs and
//! entered with `pivot_root` (binds read-only unless asked, everything
//! nosuid/nodev, the root itself read-only); then, in the process just
//! before `exec`, the restrictions of [`harden`] (rlimits, capabilities,
//! no_new_privs, landlock, seccomp). The defaults of a spec are the
//! built-in [`profile`]s' values; as root, [`cgroup`] bounds the number of
//! processes (and a spec's memory). See docs/sandbox.md for the threat model.
//!
//! Apart from builds, [`view`] is `forge run`'s view of the host with a
//! store at `/forge/store`: namespaces and mounts only, not a sandbox.

pub mod cgroup;
pub mod harden;
pub mod plan;
pub mod profile;
pub mod run;
pub mod spec;
pub mod stdio;
pub mod sys;
pub mod view;

pub use profile::{Profile, ProfileError};
pub use run::monitor;
pub use run::{Outcome, Output, RunOptions, Sandbox, SandboxError};
pub use spec::{Bind, Enforcement, Limits, SandboxSpec};
pub use view::{ViewError, ViewRequest};
