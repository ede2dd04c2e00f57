//! One module per top-level command.

pub mod build;
pub mod cache;
pub mod config;
pub mod copy;
pub mod docs;
pub mod fetch;
pub mod hash;
pub mod key;
pub mod log;
pub mod nar;
pub mod prefetch;
pub mod recipe;
pub mod run;
pub mod sandbox;
pub mod store;
