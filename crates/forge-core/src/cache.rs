//! The formats of a binary cache: the files a cache directory, static
//! server or object store holds, shaped like Nix's so its tools and habits
//! carry over (docs/cache.md, "Formats").
//!
//! - [`cache_info`]: `nix-cache-info`, the cache's store directory and hints.
//! - [`narinfo`]: `<digest>.narinfo`, what the cache says about a path, and
//!   the fingerprint its signatures cover.
//! - [`realisation`]: `realisations/<action digest>!<output>.doi`, which
//!   path a build's output realised to, signed.
//! - [`listing`]: `<digest>.ls`, the JSON listing of a NAR's files.
//! - [`layout`]: where each file lives, relative to the cache root.
//!
//! Pure code, like the rest of forge-core: texts in, values out. Fetching,
//! compression and checking signatures against keys happen in the crates
//! above.

pub mod cache_info;
pub mod layout;
pub mod listing;
pub mod narinfo;
pub mod realisation;
mod text;

pub use cache_info::CacheInfo;
pub use narinfo::{fingerprint, Compression, ContentAddress, NarInfo};
pub use realisation::{realisation_fingerprint, Realisation, RealisationError};
pub use text::{ParseError, ValueError};
