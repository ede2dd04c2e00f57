//! forge's build sandbox.
//!
//! The crate will hold three parts, from pure to impure:
//!
//! - a pure plan: a sandbox spec (inputs, writable dirs, outputs, env, limits, network yes/no)
//!   turned into the mounts, landlock rules, seccomp program and rlimits to apply, checkable in
//!   unit tests without root;
//! - a small syscall module that executes the plan (namespaces, mounts, `pivot_root`, exec);
//! - [`harden`]: the in-process restrictions applied last in the sandboxed child, just before
//!   `execve` (rlimits, capabilities, `no_new_privs`, landlock, seccomp), each reporting what it
//!   actually enforced on the running kernel.

pub mod harden;
