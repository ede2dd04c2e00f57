//! PyPI's JSON simple API (PEP 691): `GET https://pypi.org/simple/<name>/`
//! with `Accept: application/vnd.pypi.simple.v1+json` answers
//! `{"name": …, "files": [{"filename", "url", "hashes": {"sha256"}, "size",
//! "yanked"}, …], "versions": […]}`. (The older `/pypi/<name>/<ver>/json`
//! API is not used: the simple API is the one every index mirror serves.)

use serde::Deserialize;

use super::{field_err, json_err, sha256_hex, RegistryError};

/// One file of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// `attrs-25.3.0-py3-none-any.whl`, `attrs-25.3.0.tar.gz`.
    pub filename: String,
    /// Where to download it.
    pub url: String,
    /// The sha256 PyPI lists.
    pub sha256: [u8; 32],
    /// Its size, when listed.
    pub size: Option<u64>,
    /// Yanked (PEP 592): still downloadable, but not to be picked by default.
    pub yanked: bool,
}

#[derive(Deserialize)]
struct Page {
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    size: Option<u64>,
    #[serde(default)]
    yanked: serde_json::Value,
}

/// The files of a project page; files without a sha256 are left out (there
/// is nothing to pin them by). `what` names the page in errors.
pub fn files(json: &str, what: &str) -> Result<Vec<File>, RegistryError> {
    let page: Page = serde_json::from_str(json).map_err(|e| json_err(what, &e))?;
    let mut out = Vec::new();
    for f in page.files {
        let Some(hex) = f.hashes.get("sha256") else {
            continue;
        };
        let sha256 = sha256_hex(hex).ok_or_else(|| {
            field_err(
                what,
                &format!("files[{}].hashes.sha256", f.filename),
                "not 64 hex digits",
            )
        })?;
        if !f.url.starts_with("https://") && !f.url.starts_with("http://") {
            return Err(field_err(
                what,
                &format!("files[{}].url", f.filename),
                "not an absolute http(s) URL",
            ));
        }
        out.push(File {
            filename: f.filename,
            url: f.url,
            sha256,
            size: f.size,
            // `false`, or `true`/a reason string (PEP 592).
            yanked: !matches!(
                f.yanked,
                serde_json::Value::Bool(false) | serde_json::Value::Null
            ),
        });
    }
    Ok(out)
}

/// A project name normalised as PEP 503 says (lower case, runs of `-`, `_`
/// and `.` as one `-`): the form in index URLs and comparisons.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The (normalised name, version) a file's name gives: a wheel's first two
/// fields (PEP 427), or an sdist's `name-version.tar.gz` / `.zip`. `None`
/// for other kinds (eggs, exe installers).
pub fn name_version(filename: &str) -> Option<(String, String)> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        // name-version(-build)?-python-abi-platform
        let rest = parts.count();
        if !(3..=4).contains(&rest) || name.is_empty() || version.is_empty() {
            return None;
        }
        return Some((normalize(name), version.to_owned()));
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    let (name, version) = stem.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty()).then(|| (normalize(name), version.to_owned()))
}

/// The files of `version` of project `name` (normalised comparison), sdist
/// first, then wheels in the page's order.
pub fn of_version<'a>(files: &'a [File], name: &str, version: &str) -> Vec<&'a File> {
    let want = normalize(name);
    let mut out: Vec<&File> = files
        .iter()
        .filter(|f| name_version(&f.filename).is_some_and(|(n, v)| n == want && v == version))
        .collect();
    out.sort_by_key(|f| !f.filename.ends_with(".tar.gz") && !f.filename.ends_with(".zip"));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const PAGE: &str = r#"{"meta": {"api-version": "1.1"}, "name": "attrs", "versions": ["25.3.0"],
      "files": [
        {"filename": "attrs-25.3.0-py3-none-any.whl", "hashes": {"sha256": "427318ce031701fea540783410126f03899a97ffc6f61596ad581ac2e40e3bc3"}, "requires-python": ">=3.8", "size": 63815, "upload-time": "2025-03-13T11:10:21.140999Z", "url": "https://files.pythonhosted.org/packages/77/06/bb80f5f86020c4551da315d78b3ab75e8228f89f0162f2c3a819e407941a/attrs-25.3.0-py3-none-any.whl", "yanked": false},
        {"filename": "attrs-25.3.0.tar.gz", "hashes": {"sha256": "75d7cefc7fb576747b2c81b4442d4d4a1ce0900973527c011d1030fd3bf4af1b"}, "requires-python": ">=3.8", "size": 812032, "upload-time": "2025-03-13T11:10:22.779106Z", "url": "https://files.pythonhosted.org/packages/5a/b0/1367933a8532ee6ff8d63537de4f1177af4bff9f3e829baf7331f595bb24/attrs-25.3.0.tar.gz", "yanked": false},
        {"filename": "attrs-15.0.0.tar.gz", "hashes": {}, "url": "https://files.pythonhosted.org/x/attrs-15.0.0.tar.gz", "yanked": "broken"}
      ]}"#;

    #[test]
    fn a_real_page_gives_the_files_of_a_version_sdist_first() {
        let files = files(PAGE, "attrs").unwrap();
        assert_eq!(files.len(), 2, "the file without a sha256 is left out");
        let v = of_version(&files, "Attrs", "25.3.0");
        assert_eq!(v[0].filename, "attrs-25.3.0.tar.gz");
        assert_eq!(v[1].filename, "attrs-25.3.0-py3-none-any.whl");
        assert_eq!(v[0].size, Some(812_032));
        assert_eq!(
            hex::encode(v[0].sha256),
            "75d7cefc7fb576747b2c81b4442d4d4a1ce0900973527c011d1030fd3bf4af1b"
        );
        assert!(of_version(&files, "attrs", "25.4.0").is_empty());
    }

    #[test]
    fn bad_answers_name_the_field() {
        let bad_hash = PAGE.replace("427318ce", "zz7318ce");
        let e = files(&bad_hash, "attrs").unwrap_err().to_string();
        assert!(
            e.contains("attrs-25.3.0-py3-none-any.whl") && e.contains("sha256"),
            "{e}"
        );
        let e = files(&PAGE.replace("https://files", "ftp://files"), "attrs").unwrap_err();
        assert!(e.to_string().contains(".url"), "{e}");
        assert!(matches!(
            files("[]", "attrs"),
            Err(RegistryError::Json { .. })
        ));
    }

    #[test]
    fn names_and_versions_from_file_names() {
        assert_eq!(normalize("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(
            name_version(
                "Cython-3.0.11-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
            ),
            Some(("cython".into(), "3.0.11".into()))
        );
        assert_eq!(
            name_version("zope.interface-6.0.tar.gz"),
            Some(("zope-interface".into(), "6.0".into()))
        );
        assert_eq!(
            name_version("a-1-2-py3-none-any.whl"),
            Some(("a".into(), "1".into()))
        );
        assert_eq!(name_version("x-1.egg"), None);
        assert_eq!(name_version("-1.tar.gz"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let _ = files(&s, "p");
            let _ = name_version(&s);
            let _ = normalize(&s);
        }

        #[test]
        fn normalize_is_idempotent(s in "[A-Za-z0-9._-]{0,30}") {
            prop_assert_eq!(normalize(&normalize(&s)), normalize(&s));
        }
    }
}
