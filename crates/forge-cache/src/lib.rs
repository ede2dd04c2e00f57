//! Binary caches: where built store paths and realisations are shared
//! between machines (docs/cache.md).
//!
//! This crate is the layer above the store and the engine that speaks to
//! caches. Today it has the storage underneath: a [`Backend`] (a flat
//! namespace of [`Key`]s holding blobs: `nix-cache-info`, narinfos, NARs,
//! realisations), chosen by URL with [`open`] as snix chooses its services
//! by address:
//!
//! | URL | backend | writes |
//! |---|---|---|
//! | `file:///dir` | [`FileBackend`]: files under `dir` | yes, each published atomically |
//! | `http://host/prefix`, `https://…` | [`HttpBackend`]: GET and HEAD below the prefix | with a token (`FORGE_CACHE_TOKEN`), to forge's server |
//! | `s3://bucket/prefix?endpoint=…&region=…` | [`S3Backend`]: objects below the prefix, through object_store | yes, each object whole (multipart above 8 MiB) |
//!
//! The formats (narinfo, realisations) are forge-core's; [`narinfo_for`]
//! and [`claimed`] map the store's records to narinfos and back. On the
//! backends: [`push_paths`] and [`push_realisations`] publish (`forge copy`,
//! `forge push`), and [`CacheSubstituter`] is the engine's
//! [`forge_build::Substituter`] for a cache, returning only what it trusts.
//! [`serve`] is `forge cache serve`, a cache server over a directory or
//! the store. Every backend passes one conformance suite
//! (`tests/conformance.rs`).

mod backend;
mod error;
mod file;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod key;
mod lookup;
mod paths;
mod push;
mod s3;
pub mod serve;
mod substituter;
mod url;

pub use backend::Backend;
pub use error::CacheError;
pub use file::FileBackend;
pub use http::{HttpBackend, ATTEMPTS as HTTP_ATTEMPTS, TIMEOUT_ENV, TOKEN_ENV};
pub use key::{Key, KeyError};
pub use lookup::{Known, LookupCache, NEGATIVE_TTL, POSITIVE_TTL};
pub use paths::{claimed, narinfo_for, StoredNar};
pub use push::{
    push_paths, push_realisations, NoPushProgress, PushError, PushOptions, PushProgress, PushReport,
};
pub use s3::{
    ConfigError as S3ConfigError, S3Backend, S3Config, S3Url,
    CONNECT_TIMEOUT as S3_CONNECT_TIMEOUT, PART_SIZE as S3_PART_SIZE,
    READ_TIMEOUT as S3_READ_TIMEOUT, REQUEST_TIMEOUT as S3_REQUEST_TIMEOUT,
};
pub use substituter::{CacheSubstituter, MAX_NARINFO_BYTES, MAX_REALISATION_BYTES};
pub use url::open;
