//! A `Packages` index: one deb822 paragraph per binary package, read into
//! typed [`Package`] records.
//!
//! A record must have `Package`, `Version`, `Architecture`, `Filename`,
//! `Size` and `SHA256` to be usable (forge pins every `.deb` by path, size
//! and SHA-256); a missing or malformed one is an error naming the package
//! and the line. The relation fields are parsed with
//! [`parse_relations`]; absent ones are empty. Other fields (Description,
//! Maintainer, MD5sum, …) are ignored.

use std::str::FromStr;

use super::deb822::{self, Paragraph};
use super::error::ControlError;
use super::relation::{parse_relations, Alternatives};
use super::version::Version;

/// `Multi-Arch` (multiarch spec): how a package may satisfy dependencies of
/// packages of other architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiArch {
    /// Absent or `no`.
    #[default]
    No,
    Same,
    Foreign,
    /// May satisfy `name:any` dependencies.
    Allowed,
}

/// One binary package of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub essential: bool,
    pub priority: Option<String>,
    pub section: Option<String>,
    /// `Source` as written (`name` or `name (version)`).
    pub source: Option<String>,
    pub depends: Vec<Alternatives>,
    pub pre_depends: Vec<Alternatives>,
    pub provides: Vec<Alternatives>,
    pub conflicts: Vec<Alternatives>,
    pub breaks: Vec<Alternatives>,
    /// Path of the `.deb` below the archive root (`pool/main/h/hello/hello_2.10-3_amd64.deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// 1-based line of the paragraph in its index.
    pub line: usize,
}

/// The packages of an index, in order; an item is an error for a record that
/// is not usable (the caller may skip it or stop).
pub fn records(text: &str) -> impl Iterator<Item = Result<Package, ControlError>> + '_ {
    deb822::paragraphs(text).map(|p| p.and_then(|p| from_paragraph(&p)))
}

/// All packages of an index; the first unusable record is the error.
pub fn parse(text: &str) -> Result<Vec<Package>, ControlError> {
    records(text).collect()
}

/// The typed record of one paragraph.
pub fn from_paragraph(p: &Paragraph<'_>) -> Result<Package, ControlError> {
    let name_field = p
        .field("Package")
        .ok_or_else(|| ControlError::MissingField {
            line: p.line,
            package: String::from("(unnamed)"),
            field: "Package",
        })?;
    let name = name_field.value.to_owned();
    let missing = |field: &'static str| ControlError::MissingField {
        line: p.line,
        package: name.clone(),
        field,
    };
    let invalid = |field: &'static str, line: usize, reason: String| ControlError::InvalidField {
        line,
        package: name.clone(),
        field,
        reason,
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(invalid(
            "Package",
            name_field.line,
            format!("{name:?} is not a package name"),
        ));
    }
    let required = |field: &'static str| p.field(field).ok_or_else(|| missing(field));
    let v = required("Version")?;
    let version =
        Version::from_str(v.value).map_err(|e| invalid("Version", v.line, e.to_string()))?;
    let architecture = required("Architecture")?.value.to_owned();
    let filename = required("Filename")?.value.to_owned();
    let s = required("Size")?;
    let size = s
        .value
        .parse::<u64>()
        .map_err(|_| invalid("Size", s.line, format!("{:?} is not a number", s.value)))?;
    let h = required("SHA256")?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(h.value, &mut sha256).map_err(|_| {
        invalid(
            "SHA256",
            h.line,
            format!("{:?} is not 64 hex digits", h.value),
        )
    })?;
    let multi_arch = match p.field("Multi-Arch") {
        None => MultiArch::No,
        Some(f) => match f.value {
            "no" => MultiArch::No,
            "same" => MultiArch::Same,
            "foreign" => MultiArch::Foreign,
            "allowed" => MultiArch::Allowed,
            other => {
                return Err(invalid(
                    "Multi-Arch",
                    f.line,
                    format!("expected no, same, foreign or allowed, found {other:?}"),
                ))
            }
        },
    };
    let essential = match p.field("Essential") {
        None => false,
        Some(f) => match f.value {
            "yes" => true,
            "no" => false,
            other => {
                return Err(invalid(
                    "Essential",
                    f.line,
                    format!("expected yes or no, found {other:?}"),
                ))
            }
        },
    };
    let relations = |field: &'static str| -> Result<Vec<Alternatives>, ControlError> {
        match p.field(field) {
            None => Ok(Vec::new()),
            Some(f) => parse_relations(f.value).map_err(|e| invalid(field, f.line, e.to_string())),
        }
    };
    let provides = relations("Provides")?;
    if provides.iter().any(|g| g.len() > 1) {
        let line = p.field("Provides").map_or(p.line, |f| f.line);
        return Err(invalid(
            "Provides",
            line,
            "alternatives (`|`) are not allowed".into(),
        ));
    }
    let opt = |field: &str| p.get(field).map(str::to_owned);
    Ok(Package {
        version,
        architecture,
        multi_arch,
        essential,
        priority: opt("Priority"),
        section: opt("Section"),
        source: opt("Source"),
        depends: relations("Depends")?,
        pre_depends: relations("Pre-Depends")?,
        provides,
        conflicts: relations("Conflicts")?,
        breaks: relations("Breaks")?,
        filename,
        size,
        sha256,
        line: p.line,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn index() -> String {
        format!(
            "Package: make\nVersion: 4.3-4.1\nInstalled-Size: 1500\nMaintainer: x <x@y>\n\
Architecture: amd64\nDepends: libc6 (>= 2.34)\nConflicts: make-guile\nSuggests: make-doc\n\
Description: utility\n more\nMulti-Arch: allowed\nPriority: optional\nSection: devel\n\
Filename: pool/main/m/make-dfsg/make_4.3-4.1_amd64.deb\nSize: 396\nSHA256: {HASH}\n\n\
Package: mawk\nSource: mawk (1.3.4)\nVersion: 1.3.4.20200120-3.1\nArchitecture: amd64\n\
Essential: yes\nPre-Depends: libc6 (>= 2.34)\nProvides: awk (= 1)\nPriority: required\n\
Filename: pool/main/m/mawk/mawk.deb\nSize: 1\nSHA256: {HASH}\n"
        )
    }

    #[test]
    fn parses_records() {
        let ps = parse(&index()).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].name, "make");
        assert_eq!(ps[0].multi_arch, MultiArch::Allowed);
        assert_eq!(ps[0].depends[0][0].name, "libc6");
        assert_eq!(ps[0].conflicts[0][0].name, "make-guile");
        assert_eq!(ps[0].size, 396);
        assert_eq!(ps[0].line, 1);
        assert!(ps[1].essential);
        assert_eq!(ps[1].line, 18);
        assert_eq!(ps[1].provides[0][0].name, "awk");
        assert_eq!(ps[1].source.as_deref(), Some("mawk (1.3.4)"));
        assert_eq!(ps[1].pre_depends.len(), 1);
    }

    #[test]
    fn errors_name_package_and_line() {
        let no_hash = index().replace(&format!("Size: 1\nSHA256: {HASH}\n"), "Size: 1\n");
        assert_eq!(
            parse(&no_hash),
            Err(ControlError::MissingField {
                line: 18,
                package: "mawk".into(),
                field: "SHA256"
            })
        );
        let bad = index().replace("Size: 396", "Size: big");
        assert!(matches!(
            parse(&bad),
            Err(ControlError::InvalidField { line: 15, field: "Size", ref package, .. }) if package == "make"
        ));
        let bad = index().replace("libc6 (>= 2.34)\nConflicts", "libc6 (>= 2.34\nConflicts");
        assert!(matches!(
            parse(&bad),
            Err(ControlError::InvalidField {
                line: 6,
                field: "Depends",
                ..
            })
        ));
        let bad = index().replace("awk (= 1)", "awk | nawk");
        assert!(matches!(
            parse(&bad),
            Err(ControlError::InvalidField {
                field: "Provides",
                ..
            })
        ));
        // The iterator gives the good record before the bad one.
        let items: Vec<_> = records(&bad).collect();
        assert!(items[0].is_ok() && items[1].is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "(?s)\\PC{0,300}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_mutated_records(pos in 0usize..700, byte in any::<u8>()) {
            let mut bytes = index().into_bytes();
            if let Some(b) = bytes.get_mut(pos) {
                *b = byte;
            }
            if let Ok(s) = String::from_utf8(bytes) {
                let _ = parse(&s);
            }
        }
    }
}
