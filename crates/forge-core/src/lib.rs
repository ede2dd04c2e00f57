//! forge's pure formats.
//!
//! This crate is the bottom layer of forge: it knows the shapes of things and
//! how to write and read them, and nothing about where they live. It does no
//! filesystem, network or process I/O; functions that serialise or parse take
//! a [`std::io::Read`] or [`std::io::Write`] from the caller. Everything here
//! is deterministic, so every other crate can rely on it to give the same
//! bytes on every machine.
//!
//! - [`base32`]: Nix's base32 alphabet and byte order, used in store paths.
//! - [`hash`]: typed BLAKE3 and SHA-256 digests and their textual forms.
//! - [`store_path`]: `/forge/store/<digest>-<name>` and how a digest is made.
//! - [`refs`]: the streaming scanner that finds store-path references in bytes.
//! - [`nar`]: the Nix ARchive format, byte-identical to `nix-store --dump`.
//! - [`cache`]: the files of a binary cache: `nix-cache-info`, narinfo,
//!   realisations, listings, and where each lives.
//! - [`recipe`]: the recipe a person writes, and its TOML parser.
//! - [`derivation`]: the resolved, canonical form of a recipe and its action digest.
//! - [`signing`]: binary-cache keys and signatures in Nix's `name:base64`
//!   formats, and the set of trusted keys.
//! - [`debian`]: Debian archive formats (deb822, versions, relations, InRelease,
//!   Packages, apt sources) and a resolver that chooses packages as apt does.
//! - [`config`]: forge's configuration file and the layering of its settings.
//! - [`diag`]: locations in text files, located errors, hints and "did you mean", shared by every parser of a file a person writes.
//! - [`registry`]: what PyPI, crates.io and npm answer about one artefact
//!   (its URL and published hash), parsed.
//! - [`elf`]: the dynamic-linking facts of an ELF object (interpreter, needed
//!   libraries, search paths), read from its bytes.

pub mod base32;
pub mod cache;
pub mod config;
pub mod debian;
pub mod derivation;
pub mod diag;
pub mod elf;
pub mod hash;
pub mod imports;
pub mod nar;
pub mod recipe;
pub mod refs;
pub mod registry;
pub mod signing;
pub mod store_path;
