//! Debian's archive formats and a dependency resolver, all pure: the caller
//! fetches and verifies the files and hands their text in.
//!
//! How a Debian package set is locked, and where each module fits:
//!
//! 1. [`sources`]: apt's configuration (`.sources`, `.list`) names the archive
//!    URIs, suites and components.
//! 2. [`release`]: a suite's `InRelease` is clearsigned; the caller checks
//!    the signature (the host's `gpgv`), [`release::signed_text`] takes out
//!    the signed text, and [`release::Release`] lists each index file's size
//!    and SHA-256.
//! 3. [`packages`]: a `Packages` index, fetched by that hash, read into
//!    [`packages::Package`] records (each `.deb`'s path, size, SHA-256 and
//!    relations).
//! 4. [`resolve`]: the records of several indices and the requested names
//!    give the closure to install, chosen the way `apt-get install
//!    --no-install-recommends` chooses from an empty status.
//!
//! Underneath: [`deb822`] splits control paragraphs (borrowing from the
//! text), [`version`] orders versions as dpkg does, [`relation`] parses
//! `Depends`-style fields, and [`error`] holds one error enum per format,
//! each naming the line.

pub mod deb822;
pub mod error;
pub mod packages;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod sources;
pub mod version;

pub use error::{
    ControlError, RelationError, ReleaseError, ResolveError, SourcesError, VersionError,
};
pub use packages::Package;
pub use relation::{parse_relations, Alternatives, Op, Relation};
pub use release::{signed_text, IndexFile, Release};
pub use resolve::{resolve, IndexId, Request, Resolution, Universe};
pub use sources::SourceEntry;
pub use version::Version;
