//! The errors of the Debian parsers and the resolver, one enum per format.
//!
//! Every error names the 1-based line it was found on (of the text handed to
//! the parser) and, where there is one, the field and the package involved.
//! Messages are lowercase with no trailing period; none holds a `hint:`.

/// An error in a deb822 control text (`Packages`, `Release`, `.sources`) or in
/// one of its typed records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A line that is neither `Name: value`, a continuation, a comment nor blank.
    #[error("line {line}: expected `Field: value`, found {found:?}")]
    NotAField { line: usize, found: String },
    /// A continuation line (leading space or tab) with no field before it.
    #[error("line {line}: continuation line before any field of the paragraph")]
    OrphanContinuation { line: usize },
    /// The same field twice in one paragraph (names compare case-insensitively).
    #[error("line {line}: field {field} appears twice in one paragraph")]
    DuplicateField { line: usize, field: String },
    /// A record lacks a field it must have.
    #[error("line {line}: package {package}: missing required field {field}")]
    MissingField {
        line: usize,
        package: String,
        field: &'static str,
    },
    /// A field's value does not have the form it must have.
    #[error("line {line}: package {package}: field {field}: {reason}")]
    InvalidField {
        line: usize,
        package: String,
        field: &'static str,
        reason: String,
    },
}

/// An error in a Debian version string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version is empty")]
    Empty,
    #[error("version {version:?}: epoch is not a number below 2^31")]
    BadEpoch { version: String },
    #[error("version {version:?}: upstream part is empty")]
    EmptyUpstream { version: String },
    #[error("version {version:?}: revision is empty")]
    EmptyRevision { version: String },
    #[error("version {version:?}: invalid character {found:?}")]
    BadChar { version: String, found: char },
}

/// An error in a relation field (`Depends`, `Provides`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column} of {field:?}: {reason}")]
pub struct RelationError {
    /// 1-based column (in characters) within the field value.
    pub column: usize,
    /// The whole field value.
    pub field: String,
    /// What was expected there.
    pub reason: String,
}

/// An error in an `InRelease` or `Release` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("line 1: not a clearsigned message: expected -----BEGIN PGP SIGNED MESSAGE-----")]
    NotClearsigned,
    #[error("line {line}: unexpected armor header {found:?} (only Hash: is allowed)")]
    BadArmorHeader { line: usize, found: String },
    #[error("line {line}: unescaped dash line {found:?} inside the signed text")]
    UnescapedDash { line: usize, found: String },
    #[error("the signed text is not followed by -----BEGIN PGP SIGNATURE-----")]
    MissingSignature,
    #[error("the signature block has no -----END PGP SIGNATURE----- line")]
    UnterminatedSignature,
    #[error("line {line}: text after the signature: {found:?}")]
    TrailingText { line: usize, found: String },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("line {line}: the release file has no paragraph")]
    Empty { line: usize },
    #[error("line {line}: field {field}: {reason}")]
    InvalidField {
        line: usize,
        field: &'static str,
        reason: String,
    },
}

/// An error in apt's sources (`.sources` or one-line `.list`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("line {line}: missing required field {field}")]
    MissingField { line: usize, field: &'static str },
    #[error("line {line}: {reason}")]
    Invalid { line: usize, reason: String },
}

/// Why a set of requests has no installable solution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A requested name has no package for the architecture (nor a single provider).
    #[error("no package {name} for architecture {arch}")]
    UnknownRequest { name: String, arch: String },
    /// A requested `name=version` that no index holds.
    #[error("package {name} has no version {version}")]
    UnknownVersion { name: String, version: String },
    /// A request for a virtual package that several packages provide.
    #[error("{name} is a virtual package provided by {providers:?}: request one of them")]
    AmbiguousVirtual {
        name: String,
        providers: Vec<String>,
    },
    /// A dependency none of whose alternatives can be satisfied; `chain` is
    /// the path from the request, e.g. `gcc-12 -> cpp-12 -> libmpc3 (>= 1.1)`.
    #[error("unsatisfiable dependency: {chain}")]
    Unsatisfiable { chain: String },
    /// Two chosen packages conflict (Conflicts or Breaks); `other` is the
    /// chosen package that satisfies `relation`.
    #[error("{package} {version} {kind} {relation}, which the chosen {other} satisfies")]
    Conflict {
        package: String,
        version: String,
        kind: &'static str,
        relation: String,
        other: String,
    },
    /// Two requests name the same package at different versions.
    #[error("package {name} requested at two versions: {first} and {second}")]
    ConflictingRequests {
        name: String,
        first: String,
        second: String,
    },
}
