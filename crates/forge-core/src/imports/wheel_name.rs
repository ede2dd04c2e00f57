//! Wheel file names (PEP 427) and which wheels a target can install.
//!
//! A wheel is named `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
//! Each of the three tag fields may be a compressed set, `.`-separated
//! (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`): the wheel
//! supports every combination of one python, one abi and one platform tag.
//!
//! # Which wheel is kept
//!
//! A [`WheelTarget`] lists the tag triples it accepts in order of
//! preference, the most specific first, as pip's `packaging.tags` orders
//! them for CPython:
//!
//! 1. `cpXY-cpXY-<platform>` (the interpreter's own ABI), for each platform;
//! 2. `cpXY-abi3-<platform>`, then `cpXW-abi3-<platform>` for older minors
//!    down to `cp32` (the stable ABI);
//! 3. `cpXY-none-<platform>`;
//! 4. `pyXY-none-<platform>`, `pyX-none-<platform>`, older `pyXW`;
//! 5. `cpXY-none-any`, `pyXY-none-any`, `pyX-none-any`, older `pyXW-none-any`.
//!
//! Platforms are tried in the order the target gives them; for manylinux
//! [`WheelTarget::cpython_manylinux`] lists `manylinux_2_N_<arch>` from the
//! target's glibc down to 2.17 (and the legacy aliases `manylinux2014`,
//! `manylinux2010`, `manylinux1` at 2.17, 2.12 and 2.5, down to 2.5), then
//! `linux_<arch>`. A wheel's rank is the position of the best of its
//! triples; the wheel of lowest rank is kept ([`super::select_wheels`]), an
//! sdist only when no wheel is compatible.

use thiserror::Error;

/// Why a file name is not a wheel name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WheelNameError {
    /// The name does not end in `.whl`.
    #[error("{0:?} is not a wheel (no .whl)")]
    NotAWheel(String),
    /// Not 5 or 6 `-`-separated fields.
    #[error("wheel name {name:?} has {fields} fields; expected name-version(-build)-python-abi-platform.whl")]
    Fields {
        /// The file name.
        name: String,
        /// How many fields it has.
        fields: usize,
    },
    /// A field is empty, or the build tag does not start with a digit.
    #[error("wheel name {name:?}: invalid {field}")]
    Field {
        /// The file name.
        name: String,
        /// Which field.
        field: &'static str,
    },
}

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution name (with `_` for `-`, as wheels write it).
    pub distribution: String,
    /// The version.
    pub version: String,
    /// The optional build tag (starts with a digit).
    pub build: Option<String>,
    /// Python tags (`cp311`, `py3`).
    pub python: Vec<String>,
    /// ABI tags (`cp311`, `abi3`, `none`).
    pub abi: Vec<String>,
    /// Platform tags (`manylinux_2_17_x86_64`, `any`).
    pub platform: Vec<String>,
}

impl WheelName {
    /// Parses a wheel file name (not a path: no `/`).
    pub fn parse(file_name: &str) -> Result<Self, WheelNameError> {
        let stem = file_name
            .strip_suffix(".whl")
            .ok_or_else(|| WheelNameError::NotAWheel(file_name.to_owned()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let field = |field| WheelNameError::Field {
            name: file_name.to_owned(),
            field,
        };
        let (distribution, version, build, python, abi, platform) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
            _ => {
                return Err(WheelNameError::Fields {
                    name: file_name.to_owned(),
                    fields: parts.len(),
                })
            }
        };
        if distribution.is_empty() {
            return Err(field("name"));
        }
        if version.is_empty() {
            return Err(field("version"));
        }
        if build.is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
            return Err(field("build tag"));
        }
        let set = |s: &str, name| -> Result<Vec<String>, WheelNameError> {
            let v: Vec<String> = s.split('.').map(str::to_owned).collect();
            if v.iter().any(String::is_empty) {
                return Err(field(name));
            }
            Ok(v)
        };
        Ok(WheelName {
            distribution: distribution.to_owned(),
            version: version.to_owned(),
            build: build.map(str::to_owned),
            python: set(python, "python tag")?,
            abi: set(abi, "abi tag")?,
            platform: set(platform, "platform tag")?,
        })
    }

    /// The file name again: `parse(n.to_file_name()) == n`.
    pub fn to_file_name(&self) -> String {
        let mut s = format!("{}-{}", self.distribution, self.version);
        if let Some(b) = &self.build {
            s.push('-');
            s.push_str(b);
        }
        for set in [&self.python, &self.abi, &self.platform] {
            s.push('-');
            s.push_str(&set.join("."));
        }
        s.push_str(".whl");
        s
    }

    /// Every (python, abi, platform) triple the name covers.
    pub fn triples(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python.iter().flat_map(move |p| {
            self.abi.iter().flat_map(move |a| {
                self.platform
                    .iter()
                    .map(move |pl| (p.as_str(), a.as_str(), pl.as_str()))
            })
        })
    }
}

/// The tag triples an interpreter on a platform accepts, most preferred
/// first (see the module docs for the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelTarget {
    tags: Vec<(String, String, String)>,
}

impl WheelTarget {
    /// CPython `major.minor` on `platforms` (most specific first, without
    /// `any`, which is always accepted last).
    pub fn cpython(major: u32, minor: u32, platforms: &[&str]) -> Self {
        let cp = format!("cp{major}{minor}");
        let mut tags = Vec::new();
        let mut push = |p: &str, a: &str, pl: &str| {
            let t = (p.to_owned(), a.to_owned(), pl.to_owned());
            if !tags.contains(&t) {
                tags.push(t);
            }
        };
        for pl in platforms {
            push(&cp, &cp, pl);
        }
        if major == 3 {
            for m in (2..=minor).rev() {
                for pl in platforms {
                    push(&format!("cp3{m}"), "abi3", pl);
                }
            }
        }
        for pl in platforms {
            push(&cp, "none", pl);
        }
        let mut py = vec![format!("py{major}{minor}"), format!("py{major}")];
        py.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for p in &py {
            for pl in platforms {
                push(p, "none", pl);
            }
        }
        push(&cp, "none", "any");
        for p in &py {
            push(p, "none", "any");
        }
        WheelTarget { tags }
    }

    /// CPython on manylinux for `arch` (`x86_64`, `aarch64`) with glibc
    /// `2.glibc_minor`: `manylinux_2_N_<arch>` (and legacy aliases) from that
    /// glibc down, then `linux_<arch>`.
    pub fn cpython_manylinux(major: u32, minor: u32, arch: &str, glibc_minor: u32) -> Self {
        let mut platforms = Vec::new();
        for n in (5..=glibc_minor).rev() {
            platforms.push(format!("manylinux_2_{n}_{arch}"));
            let legacy = match n {
                17 => Some("manylinux2014"),
                12 => Some("manylinux2010"),
                5 => Some("manylinux1"),
                _ => None,
            };
            if let Some(l) = legacy {
                platforms.push(format!("{l}_{arch}"));
            }
        }
        platforms.push(format!("linux_{arch}"));
        let refs: Vec<&str> = platforms.iter().map(String::as_str).collect();
        Self::cpython(major, minor, &refs)
    }

    /// A pure-Python target: only `py3-none-any` style wheels (`pyX`,
    /// `pyXY` for every minor up to `minor`).
    pub fn pure_python(major: u32, minor: u32) -> Self {
        let mut py = vec![format!("py{major}{minor}"), format!("py{major}")];
        py.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        WheelTarget {
            tags: py
                .into_iter()
                .map(|p| (p, "none".to_owned(), "any".to_owned()))
                .collect(),
        }
    }

    /// The accepted triples, most preferred first.
    pub fn tags(&self) -> &[(String, String, String)] {
        &self.tags
    }

    /// The rank of `wheel` (0 is best), or `None` when no triple of it is
    /// accepted.
    pub fn rank(&self, wheel: &WheelName) -> Option<usize> {
        wheel
            .triples()
            .filter_map(|(p, a, pl)| {
                self.tags
                    .iter()
                    .position(|(tp, ta, tpl)| tp == p && ta == a && tpl == pl)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_compressed_tag_sets_and_build_tags() {
        let w = WheelName::parse(
            "charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(w.distribution, "charset_normalizer");
        assert_eq!(
            w.platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        let w = WheelName::parse("six-1.16.0-1local-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.build.as_deref(), Some("1local"));
        assert_eq!(w.python, ["py2", "py3"]);
        assert!(WheelName::parse("six-1.16.0-x-py2-none-any.whl").is_err());
        assert!(WheelName::parse("six-1.16.0.tar.gz").is_err());
        assert!(WheelName::parse("six-1.16.0-py3-none.whl").is_err());
        assert!(WheelName::parse("six-1.16.0-py3..x-none-any.whl").is_err());
    }

    #[test]
    fn the_most_specific_compatible_wheel_ranks_first() {
        let t = WheelTarget::cpython_manylinux(3, 11, "x86_64", 28);
        let rank = |n: &str| t.rank(&WheelName::parse(n).unwrap());
        let own = rank("c-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let abi3 = rank("c-1-cp39-abi3-manylinux_2_17_x86_64.whl");
        let pure = rank("c-1-py3-none-any.whl");
        assert!(
            own.is_some() && own < abi3 && abi3 < pure,
            "{own:?} {abi3:?} {pure:?}"
        );
        assert_eq!(rank("c-1-cp312-cp312-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(rank("c-1-cp311-cp311-manylinux_2_31_x86_64.whl"), None);
        assert_eq!(rank("c-1-cp311-cp311-musllinux_1_2_x86_64.whl"), None);
        assert_eq!(rank("c-1-cp311-cp311-win_amd64.whl"), None);
        assert!(rank("c-1-cp311-cp311-manylinux1_x86_64.whl").is_some());
        assert!(
            rank("c-1-cp311-cp311-manylinux_2_28_x86_64.whl")
                < rank("c-1-cp311-cp311-manylinux_2_17_x86_64.whl")
        );
        let pure_t = WheelTarget::pure_python(3, 11);
        assert!(pure_t
            .rank(&WheelName::parse("a-1-py2.py3-none-any.whl").unwrap())
            .is_some());
        assert_eq!(
            pure_t.rank(&WheelName::parse("a-1-cp311-cp311-linux_x86_64.whl").unwrap()),
            None
        );
    }

    fn tag() -> impl Strategy<Value = String> {
        "[a-z0-9_]{1,12}"
    }

    proptest! {
        #[test]
        fn file_names_round_trip(
            distribution in "[A-Za-z0-9_.]{1,12}",
            version in "[0-9][0-9.a-z+]{0,8}",
            build in proptest::option::of("[0-9][a-z0-9_]{0,4}"),
            python in proptest::collection::vec(tag(), 1..3),
            abi in proptest::collection::vec(tag(), 1..3),
            platform in proptest::collection::vec(tag(), 1..3),
        ) {
            let w = WheelName { distribution, version, build, python, abi, platform };
            prop_assert_eq!(WheelName::parse(&w.to_file_name()).unwrap(), w);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(w) = WheelName::parse(&s) {
                let _ = WheelTarget::cpython(3, 11, &["linux_x86_64"]).rank(&w);
            }
        }
    }
}
