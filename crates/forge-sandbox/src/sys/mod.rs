//! The syscalls that carry out a [`Plan`](crate::plan::Plan).
//!
//! Everything that changes the system goes through the [`Syscalls`] trait:
//! [`Linux`] makes the real calls, [`Recorder`] (tests) writes down each
//! call with its exact flags, so the sequence the executor issues for a plan
//! is checked by ordinary unit tests (the approach of youki's `Syscall`).
//!
//! - `syscalls`: the trait, how a bind reaches its source ([`Via`]);
//! - `steps`: the executor ([`apply_steps`], entering the setup and the new
//!   root); `proc`: what a build's `/proc` hides;
//! - `linux`: the real kernel; `recorder`: the test double;
//! - `host`: the monitor's look at the host and its root-only preparation;
//! - `net`: loopback, the only `unsafe` code here (ioctls nix does not
//!   wrap), each block with its reason.

mod host;
mod linux;
mod net;
mod proc;
mod recorder;
mod steps;
mod syscalls;

pub use host::{check_layer, lstat_node, map_ids, private_devices_as_root, same_groups};
pub use linux::{remove_workdirs, Linux};
pub use net::loopback_up;
pub use proc::{PROC_MASKED, PROC_READ_ONLY};
pub use recorder::Recorder;
pub use steps::{apply_steps, enter_new_root, enter_setup_root, inode_limit, overlay_lowerdir};
pub use syscalls::{workdir_of, Syscalls, Via};

#[cfg(test)]
mod tests;
