//! End-to-end tests of the `forge` binary.
//!
//! Everything here runs the real binary against real stores in temporary
//! directories, in one test binary so it is built once. Tests that need an
//! external oracle (Nix's `nix-store`) skip with a message when it is absent,
//! unless `FORGE_REQUIRE_ORACLES=1` (set by the CI script), which turns the
//! skip into a failure.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

mod bad_input;
mod build;
mod cache;
mod cache_hostile;
mod cache_oracle;
mod cache_serve;
mod cli_conventions;
mod concurrency;
mod crash;
mod exit_codes;
mod fetch;
mod gc;
mod inputs;
mod integrity;
mod isolation;
mod keys;
mod logs;
mod messages;
mod nar_oracle;
mod prefetch;
mod recipe_check;
mod recipes;
mod resources;
mod run;
mod sandbox;
mod store_cli;
mod targets;
