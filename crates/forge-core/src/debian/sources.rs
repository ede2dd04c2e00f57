//! apt's sources: the deb822 `.sources` format (sources.list(5)) and the
//! one-line `.list` format, read into one list of [`SourceEntry`].
//!
//! ```text
//! Types: deb
//! URIs: http://deb.debian.org/debian
//! Suites: bookworm bookworm-updates
//! Components: main
//! Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
//! ```
//!
//! ```text
//! deb [arch=amd64 signed-by=/x.gpg] http://deb.debian.org/debian bookworm main
//! ```
//!
//! A stanza with several URIs and suites gives one entry per (URI, suite), in
//! the order written (URIs outer), as apt expands it. Only `deb` sources are
//! kept: `deb-src` entries (and the `deb-src` type of a stanza) are ignored,
//! and so is a stanza with `Enabled: no`. Options forge does not use
//! (`Trusted`, `Languages`, …) are ignored. `Signed-By` is kept as written:
//! key file paths or an inline armored key block.

use super::deb822;
use super::error::SourcesError;

/// One archive suite to read packages from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// The archive root, e.g. `http://deb.debian.org/debian`.
    pub uri: String,
    /// A suite or codename (`bookworm`), or an exact path ending in `/`.
    pub suite: String,
    /// Empty for an exact-path suite.
    pub components: Vec<String>,
    /// `Architectures` / `arch=`; empty means the caller's default.
    pub architectures: Vec<String>,
    /// `Signed-By` / `signed-by=`: key paths or an inline key, as written.
    pub signed_by: Option<String>,
    /// 1-based line of the stanza or the one-line entry.
    pub line: usize,
}

/// Parses a deb822 `.sources` file.
pub fn parse_sources(text: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut out = Vec::new();
    for p in deb822::paragraphs(text) {
        let p = p?;
        let words = |name: &str| -> Vec<String> {
            p.get(name)
                .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        if let Some(f) = p.field("Enabled") {
            match f.value.to_ascii_lowercase().as_str() {
                "no" | "false" | "0" => continue,
                "yes" | "true" | "1" => {}
                other => {
                    return Err(SourcesError::Invalid {
                        line: f.line,
                        reason: format!("Enabled: expected yes or no, found {other:?}"),
                    })
                }
            }
        }
        let types = words("Types");
        if types.is_empty() {
            return Err(SourcesError::MissingField {
                line: p.line,
                field: "Types",
            });
        }
        if let Some(t) = types.iter().find(|t| *t != "deb" && *t != "deb-src") {
            return Err(SourcesError::Invalid {
                line: p.line,
                reason: format!("unknown type {t:?} (expected deb or deb-src)"),
            });
        }
        let uris = words("URIs");
        let suites = words("Suites");
        if uris.is_empty() {
            return Err(SourcesError::MissingField {
                line: p.line,
                field: "URIs",
            });
        }
        if suites.is_empty() {
            return Err(SourcesError::MissingField {
                line: p.line,
                field: "Suites",
            });
        }
        let components = words("Components");
        let signed_by = p
            .field("Signed-By")
            .map(|f| f.lines().collect::<Vec<_>>().join("\n"));
        if !types.iter().any(|t| t == "deb") {
            continue;
        }
        for uri in &uris {
            for suite in &suites {
                out.push(entry(
                    uri,
                    suite,
                    components.clone(),
                    words("Architectures"),
                    signed_by.clone(),
                    p.line,
                )?);
            }
        }
    }
    Ok(out)
}

fn entry(
    uri: &str,
    suite: &str,
    components: Vec<String>,
    architectures: Vec<String>,
    signed_by: Option<String>,
    line: usize,
) -> Result<SourceEntry, SourcesError> {
    if !uri.contains(':') {
        return Err(SourcesError::Invalid {
            line,
            reason: format!("{uri:?} is not a URI"),
        });
    }
    let exact = suite.ends_with('/');
    if exact != components.is_empty() {
        return Err(SourcesError::Invalid {
            line,
            reason: if exact {
                format!("suite {suite:?} is an exact path, so no components may follow")
            } else {
                format!("suite {suite:?} needs at least one component")
            },
        });
    }
    Ok(SourceEntry {
        uri: uri.trim_end_matches('/').to_owned(),
        suite: suite.to_owned(),
        components,
        architectures,
        signed_by,
        line,
    })
}

/// Parses a one-line `.list` file (`deb [options] uri suite [component...]`).
pub fn parse_list(text: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.split('#').next().unwrap_or_default().trim();
        if l.is_empty() {
            continue;
        }
        let (kind, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let rest = rest.trim_start();
        let keep = match kind {
            "deb" => true,
            "deb-src" => false,
            other => {
                return Err(SourcesError::Invalid {
                    line,
                    reason: format!("unknown type {other:?} (expected deb or deb-src)"),
                })
            }
        };
        let mut architectures = Vec::new();
        let mut signed_by = None;
        let rest = if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                return Err(SourcesError::Invalid {
                    line,
                    reason: "unterminated `[` option list".into(),
                });
            };
            for opt in opts.split_ascii_whitespace() {
                let Some((k, v)) = opt.split_once('=') else {
                    return Err(SourcesError::Invalid {
                        line,
                        reason: format!("option {opt:?} is not key=value"),
                    });
                };
                match k {
                    "arch" => architectures = v.split(',').map(str::to_owned).collect(),
                    "signed-by" => signed_by = Some(v.replace(',', "\n")),
                    _ => {}
                }
            }
            after
        } else {
            rest
        };
        let mut words = rest.split_ascii_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(SourcesError::Invalid {
                line,
                reason: "expected `deb [options] uri suite [component...]`".into(),
            });
        };
        let components = words.map(str::to_owned).collect();
        let e = entry(uri, suite, components, architectures, signed_by, line)?;
        if keep {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOST: &str = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
Types: deb deb-src\nURIs: http://deb.debian.org/debian-security/\nSuites: bookworm-security\n\
Components: main contrib\nArchitectures: amd64\n\n\
Types: deb-src\nURIs: http://x/\nSuites: s\nComponents: main\n\n\
Types: deb\nEnabled: no\nURIs: http://y/\nSuites: s\nComponents: main\n";

    #[test]
    fn expands_stanzas() {
        let es = parse_sources(HOST).unwrap();
        assert_eq!(es.len(), 3);
        assert_eq!(es[0].suite, "bookworm");
        assert_eq!(es[1].suite, "bookworm-updates");
        assert_eq!(es[1].line, 1);
        assert_eq!(
            es[0].signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        assert_eq!(es[2].uri, "http://deb.debian.org/debian-security");
        assert_eq!(es[2].components, ["main", "contrib"]);
        assert_eq!(es[2].architectures, ["amd64"]);
        assert_eq!(es[2].line, 8);
    }

    #[test]
    fn one_line_format() {
        let es = parse_list(
            "# comment\ndeb [arch=amd64,arm64 signed-by=/x.gpg] http://deb.debian.org/debian bookworm main contrib\n\
deb-src http://deb.debian.org/debian bookworm main\ndeb http://h/ ./ # trailing\n",
        )
        .unwrap();
        assert_eq!(es.len(), 2);
        assert_eq!(es[0].architectures, ["amd64", "arm64"]);
        assert_eq!(es[0].signed_by.as_deref(), Some("/x.gpg"));
        assert_eq!(es[0].components, ["main", "contrib"]);
        assert_eq!(es[1].suite, "./");
        assert_eq!(es[1].line, 4);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse_list("\ndeb http://h bookworm\n"),
            Err(SourcesError::Invalid {
                line: 2,
                reason: "suite \"bookworm\" needs at least one component".into()
            })
        );
        assert!(matches!(
            parse_list("rpm http://h s main"),
            Err(SourcesError::Invalid { line: 1, .. })
        ));
        assert!(matches!(
            parse_list("deb [arch=amd64 http://h s main"),
            Err(SourcesError::Invalid { .. })
        ));
        assert_eq!(
            parse_sources("\nTypes: deb\nSuites: s\n"),
            Err(SourcesError::MissingField {
                line: 2,
                field: "URIs"
            })
        );
    }

    proptest! {
        #[test]
        fn list_round_trips(
            uri in "https?://[a-z]{1,8}(/[a-z]{1,5})?",
            suite in "[a-z]{1,8}",
            comps in proptest::collection::vec("[a-z]{1,6}", 1..4),
            arch in proptest::collection::vec("[a-z0-9]{1,6}", 0..3),
        ) {
            let opts = if arch.is_empty() { String::new() } else { format!("[arch={}] ", arch.join(",")) };
            let text = format!("deb {opts}{uri} {suite} {}\n", comps.join(" "));
            let es = parse_list(&text).unwrap();
            prop_assert_eq!(es.len(), 1);
            prop_assert_eq!(&es[0].uri, &uri);
            prop_assert_eq!(&es[0].components, &comps);
            prop_assert_eq!(&es[0].architectures, &arch);
            // The same entry through the deb822 format.
            let mut s = format!("Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: {}\n", comps.join(" "));
            if !arch.is_empty() {
                s.push_str(&format!("Architectures: {}\n", arch.join(" ")));
            }
            prop_assert_eq!(parse_sources(&s).unwrap(), es);
        }

        #[test]
        fn never_panics(s in "(?s)\\PC{0,200}") {
            let _ = parse_list(&s);
            let _ = parse_sources(&s);
        }
    }
}
