//! `<digest>.narinfo`: what a cache says about one store path, and the
//! fingerprint its signatures cover (docs/cache.md, "Formats").
//!
//! The keys Nix defines keep Nix's meaning and spelling, so Nix's tools read
//! a forge narinfo and forge reads what `nix copy --to file://…` writes.
//! What forge knows and Nix cannot parse goes into keys of its own, which
//! Nix 2.8 ignores (its reader skips unknown keys, but throws on a `Deriver`
//! that is not a store path base name or a `CA` it cannot parse):
//!
//! - `NarBlake3`: the BLAKE3 of the NAR, forge's identity hash;
//! - `ForgeDeriver`: the action digest that built the path (`blake3:<hex>`),
//!   where Nix's `Deriver` would name a `.drv` path;
//! - `ForgeCA`: forge's content address, `nar:<blake3>` or
//!   `nar-masked:<blake3>`, where Nix's `CA` holds `fixed:…` / `text:…`.
//!
//! Parsing is strict: a single-use key twice, a missing required key, a bad
//! number, hash or store path, a reference that is not a base name: each is
//! an error naming the line and the key. Writing is canonical (a fixed key
//! order, Nix's first) and parses back to the same value.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use super::text::{self, Field, ParseError, Seen, ValueError};
use crate::derivation::ActionDigest;
use crate::hash::{Hash, HashAlgo, HashParseError};
use crate::store_path::StorePath;

/// What Nix writes as `Deriver` when it does not know the deriver.
const UNKNOWN_DERIVER: &str = "unknown-deriver";

/// Everything a cache says about one store path.
///
/// The fields hold what [`NarInfo::parse`] accepts; [`NarInfo::to_text`]
/// of other values (a BLAKE3 `nar_sha256`, a URL with a space) gives text
/// that does not parse back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    /// `StorePath`: the path described (under `/forge/store`).
    pub path: StorePath,
    /// `URL`: where the (compressed) NAR is, relative to the cache root.
    pub url: String,
    /// `Compression` of the file at `url` (Nix's default when absent: bzip2).
    pub compression: Compression,
    /// `FileHash`: hash of the file at `url`, as stored.
    pub file_hash: Option<Hash>,
    /// `FileSize`: length of the file at `url`.
    pub file_size: Option<u64>,
    /// `NarHash`: SHA-256 of the uncompressed NAR.
    pub nar_sha256: Hash,
    /// `NarSize`: length of the uncompressed NAR (never zero).
    pub nar_size: u64,
    /// `References`: the paths it refers to, written as base names; may
    /// contain `path` itself (a self-reference).
    pub references: BTreeSet<StorePath>,
    /// `Deriver`: the `.drv` that built it, in a narinfo Nix wrote.
    pub nix_deriver: Option<StorePath>,
    /// `System`: the platform it was built for, if the writer said.
    pub system: Option<String>,
    /// `Sig`: signatures `keyname:base64` over [`NarInfo::fingerprint`].
    pub signatures: BTreeSet<String>,
    /// `CA`: Nix's content address (`fixed:…`, `text:…`), as written.
    pub nix_ca: Option<String>,
    /// `NarBlake3`: BLAKE3 of the uncompressed NAR.
    pub nar_blake3: Option<Hash>,
    /// `ForgeDeriver`: the action digest of the derivation that built it.
    pub deriver: Option<ActionDigest>,
    /// `ForgeCA`: how its digest derives from its contents.
    pub content_address: Option<ContentAddress>,
}

/// How the file at a narinfo's `URL` is compressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `none`.
    None,
    /// `xz`.
    Xz,
    /// `zstd`.
    Zstd,
    /// `bzip2` (Nix's default when a narinfo says nothing).
    Bzip2,
    /// Another name Nix may write (`br`, `gzip`, `lz4`, …): readable, but
    /// forge may not decompress it.
    Other(String),
}

impl Compression {
    /// The name as written in `Compression:`.
    pub fn name(&self) -> &str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Other(s) => s,
        }
    }

    /// The suffix of a NAR file compressed this way: `.nar`, `.nar.xz`,
    /// `.nar.zst`, `.nar.bz2` (Nix's spellings); other methods get `.nar.<name>`.
    pub fn nar_suffix(&self) -> String {
        match self {
            Compression::None => ".nar".to_owned(),
            Compression::Xz => ".nar.xz".to_owned(),
            Compression::Zstd => ".nar.zst".to_owned(),
            Compression::Bzip2 => ".nar.bz2".to_owned(),
            Compression::Other(s) => format!(".nar.{s}"),
        }
    }

    /// Reads a name: any token of ASCII letters, digits, `-`, `_`, `.` or `+`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Compression::None,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            "bzip2" => Compression::Bzip2,
            s if !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+')
                }) =>
            {
                Compression::Other(s.to_owned())
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// forge's content address of a path: the BLAKE3 of its NAR, from which its
/// digest is computed (docs/store.md, "Hashes and store paths").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentAddress {
    /// `nar:<blake3>`: a tree added by content, hashed as it is.
    Nar(Hash),
    /// `nar-masked:<blake3>`: a build output, hashed with its
    /// self-references masked.
    NarMasked(Hash),
}

impl ContentAddress {
    /// The BLAKE3 hash it names.
    pub fn hash(&self) -> &Hash {
        match self {
            ContentAddress::Nar(h) | ContentAddress::NarMasked(h) => h,
        }
    }

    /// Parses `nar:blake3:<hex>` or `nar-masked:blake3:<hex>` (the hash in
    /// any form [`Hash::parse`] reads, but BLAKE3).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let (make, hash): (fn(Hash) -> Self, _) = if let Some(h) = s.strip_prefix("nar-masked:") {
            (ContentAddress::NarMasked, h)
        } else if let Some(h) = s.strip_prefix("nar:") {
            (ContentAddress::Nar, h)
        } else {
            return Err(ValueError::invalid(
                s,
                "a forge content address (`nar:blake3:…` or `nar-masked:blake3:…`)",
            ));
        };
        Ok(make(blake3(hash)?))
    }
}

impl fmt::Display for ContentAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentAddress::Nar(h) => write!(f, "nar:{h}"),
            ContentAddress::NarMasked(h) => write!(f, "nar-masked:{h}"),
        }
    }
}

impl FromStr for ContentAddress {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The text Nix signs for a path, exactly as Nix computes it
/// (`ValidPathInfo::fingerprint`):
/// `1;<path>;<NarHash as sha256:nix32>;<NarSize>;<references, full paths, comma-separated>`.
///
/// `nar_sha256` should be SHA-256: no Nix signature covers another hash.
pub fn fingerprint(
    path: &StorePath,
    nar_sha256: &Hash,
    nar_size: u64,
    references: &BTreeSet<StorePath>,
) -> String {
    let mut s = format!("1;{path};{};{nar_size};", nar_sha256.to_nix_string());
    for (i, r) in references.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{r}");
    }
    s
}

impl NarInfo {
    /// The fingerprint its `Sig` lines sign (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.path,
            &self.nar_sha256,
            self.nar_size,
            &self.references,
        )
    }

    /// Parses a narinfo (see the module docs). Unknown keys are ignored.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut seen = Seen::default();
        let mut path = None;
        let mut url = None;
        let mut compression = None;
        let mut file_hash = None;
        let mut file_size = None;
        let mut nar_sha256 = None;
        let mut nar_size = None;
        let mut references = BTreeSet::new();
        let mut nix_deriver = None;
        let mut system = None;
        let mut signatures = BTreeSet::new();
        let mut nix_ca = None;
        let mut nar_blake3 = None;
        let mut deriver = None;
        let mut content_address = None;
        for f in text::fields(text)? {
            let bad = |p: ValueError| ParseError::value(&f, p);
            let v = f.value;
            match f.key {
                "StorePath" => {
                    seen.once("StorePath", &f)?;
                    path = Some(StorePath::parse(v).map_err(|e| bad(e.into()))?);
                }
                "URL" => {
                    seen.once("URL", &f)?;
                    if !text::is_token(v) {
                        return Err(bad(ValueError::invalid(v, "a URL without spaces")));
                    }
                    url = Some(v.to_owned());
                }
                "Compression" => {
                    seen.once("Compression", &f)?;
                    compression = Some(Compression::parse(v).ok_or_else(|| {
                        bad(ValueError::invalid(
                            v,
                            "a compression method (`xz`, `zstd`, `none`, …)",
                        ))
                    })?);
                }
                "FileHash" => {
                    seen.once("FileHash", &f)?;
                    file_hash = Some(Hash::parse(v).map_err(|e| bad(e.into()))?);
                }
                "FileSize" => {
                    seen.once("FileSize", &f)?;
                    file_size = Some(text::number(&f)?);
                }
                "NarHash" => {
                    seen.once("NarHash", &f)?;
                    nar_sha256 = Some(prefixed(&f, HashAlgo::Sha256)?);
                }
                "NarSize" => {
                    seen.once("NarSize", &f)?;
                    match text::number(&f)? {
                        0 => return Err(bad(ValueError::Zero)),
                        n => nar_size = Some(n),
                    }
                }
                "References" => {
                    seen.once("References", &f)?;
                    if !v.is_empty() {
                        for r in v.split(' ') {
                            let r = base_name(&f, r)?;
                            if references.contains(&r) {
                                return Err(bad(ValueError::Repeated(r.base_name())));
                            }
                            references.insert(r);
                        }
                    }
                }
                "Deriver" => {
                    seen.once("Deriver", &f)?;
                    if v != UNKNOWN_DERIVER {
                        nix_deriver = Some(base_name(&f, v)?);
                    }
                }
                "System" => {
                    seen.once("System", &f)?;
                    if !text::is_token(v) {
                        return Err(bad(ValueError::invalid(
                            v,
                            "a system such as `x86_64-linux`",
                        )));
                    }
                    system = Some(v.to_owned());
                }
                "Sig" => {
                    if !text::is_signature(v) {
                        return Err(bad(ValueError::invalid(v, "a signature `keyname:base64`")));
                    }
                    if !signatures.insert(v.to_owned()) {
                        return Err(bad(ValueError::Repeated(v.to_owned())));
                    }
                }
                "CA" => {
                    seen.once("CA", &f)?;
                    let ok =
                        (v.starts_with("fixed:") || v.starts_with("text:")) && text::is_token(v);
                    if !ok {
                        return Err(bad(ValueError::invalid(
                            v,
                            "a Nix content address (`fixed:…` or `text:…`)",
                        )));
                    }
                    nix_ca = Some(v.to_owned());
                }
                "NarBlake3" => {
                    seen.once("NarBlake3", &f)?;
                    nar_blake3 = Some(prefixed(&f, HashAlgo::Blake3)?);
                }
                "ForgeDeriver" => {
                    seen.once("ForgeDeriver", &f)?;
                    let h = prefixed(&f, HashAlgo::Blake3)?;
                    deriver = ActionDigest::from_hash(h);
                }
                "ForgeCA" => {
                    seen.once("ForgeCA", &f)?;
                    content_address = Some(ContentAddress::parse(v).map_err(bad)?);
                }
                _ => {}
            }
        }
        Ok(NarInfo {
            path: path.ok_or(ParseError::Missing { key: "StorePath" })?,
            url: url.ok_or(ParseError::Missing { key: "URL" })?,
            compression: compression.unwrap_or(Compression::Bzip2),
            file_hash,
            file_size,
            nar_sha256: nar_sha256.ok_or(ParseError::Missing { key: "NarHash" })?,
            nar_size: nar_size.ok_or(ParseError::Missing { key: "NarSize" })?,
            references,
            nix_deriver,
            system,
            signatures,
            nix_ca,
            nar_blake3,
            deriver,
            content_address,
        })
    }

    /// The canonical text: Nix's keys in Nix's order (`StorePath`, `URL`,
    /// `Compression`, `FileHash`, `FileSize`, `NarHash`, `NarSize`,
    /// `References`, `Deriver`, `System`, `Sig`…, `CA`), then forge's
    /// (`NarBlake3`, `ForgeDeriver`, `ForgeCA`); absent values are left out,
    /// but `References` is always written, as Nix does.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for NarInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "StorePath: {}", self.path)?;
        writeln!(f, "URL: {}", self.url)?;
        writeln!(f, "Compression: {}", self.compression)?;
        if let Some(h) = &self.file_hash {
            writeln!(f, "FileHash: {}", hash_text(h))?;
        }
        if let Some(n) = self.file_size {
            writeln!(f, "FileSize: {n}")?;
        }
        writeln!(f, "NarHash: {}", hash_text(&self.nar_sha256))?;
        writeln!(f, "NarSize: {}", self.nar_size)?;
        f.write_str("References: ")?;
        for (i, r) in self.references.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&r.base_name())?;
        }
        f.write_str("\n")?;
        if let Some(d) = &self.nix_deriver {
            writeln!(f, "Deriver: {}", d.base_name())?;
        }
        if let Some(s) = &self.system {
            writeln!(f, "System: {s}")?;
        }
        for s in &self.signatures {
            writeln!(f, "Sig: {s}")?;
        }
        if let Some(ca) = &self.nix_ca {
            writeln!(f, "CA: {ca}")?;
        }
        if let Some(h) = &self.nar_blake3 {
            writeln!(f, "NarBlake3: {h}")?;
        }
        if let Some(d) = &self.deriver {
            writeln!(f, "ForgeDeriver: {d}")?;
        }
        if let Some(ca) = &self.content_address {
            writeln!(f, "ForgeCA: {ca}")?;
        }
        Ok(())
    }
}

impl FromStr for NarInfo {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A hash as a narinfo writes it: SHA-256 as Nix does (`sha256:<nix32>`),
/// BLAKE3 as forge does (`blake3:<hex>`).
fn hash_text(h: &Hash) -> String {
    match h.algo() {
        HashAlgo::Sha256 | HashAlgo::Sha512 => h.to_nix_string(),
        HashAlgo::Blake3 => h.to_string(),
    }
}

/// A hash of `algo` with its algorithm written (`sha256:…`, `sha256-…`).
fn prefixed(f: &Field<'_>, algo: HashAlgo) -> Result<Hash, ParseError> {
    let h = Hash::parse(f.value).map_err(|e| ParseError::value(f, e))?;
    if h.algo() != algo {
        let e = HashParseError::WrongAlgorithm {
            expected: algo,
            found: h.algo(),
        };
        return Err(ParseError::value(f, e));
    }
    Ok(h)
}

/// A BLAKE3 hash with its algorithm written.
fn blake3(s: &str) -> Result<Hash, ValueError> {
    let h = Hash::parse(s)?;
    if h.algo() != HashAlgo::Blake3 {
        return Err(HashParseError::WrongAlgorithm {
            expected: HashAlgo::Blake3,
            found: h.algo(),
        }
        .into());
    }
    Ok(h)
}

/// A store path written as its base name, `<digest>-<name>`.
fn base_name(f: &Field<'_>, s: &str) -> Result<StorePath, ParseError> {
    if s.contains('/') {
        return Err(ParseError::value(
            f,
            ValueError::invalid(
                s,
                "a store path base name (`<digest>-<name>`, no directory)",
            ),
        ));
    }
    StorePath::from_base_name(s).map_err(|e| ParseError::value(f, e))
}

#[cfg(test)]
#[path = "narinfo_tests.rs"]
mod tests;
