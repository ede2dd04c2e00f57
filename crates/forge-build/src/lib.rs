//! forge's build engine: from a recipe to realised store paths.
//!
//! This crate sits above `forge-store` and `forge-sandbox` and below the
//! CLI. It turns recipes into derivations, realises their inputs (fetches,
//! local paths, seeds, other recipes), runs each derivation in the sandbox
//! and registers its content-addressed outputs.

pub mod fetch;
