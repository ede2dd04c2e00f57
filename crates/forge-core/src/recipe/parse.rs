//! The first pass of [`Recipe::parse`](super::Recipe::parse): TOML into
//! raw, spanned structs (every value remembers the bytes it came from, and
//! unknown keys are refused), then [`validate`](super::validate) into the
//! model. Also the name rules shared with [`crate::derivation`] and where
//! tables and inputs are written, for errors about them as a whole.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{validate, Recipe, RecipeError, DEFAULT_OUTPUT};
use crate::diag::{Errors, Kind, Located, Location, Suggest};

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a recipe document")]
pub(super) struct RawFile {
    // Tables are not wrapped in `Spanned`: the `toml` crate cannot give a
    // span to a table written with dotted keys (`build.script = "…"`) or
    // implied by a header (`[inputs.src]` implies `inputs`), and fails on
    // them. Their locations come from their values, or from `table_span`.
    pub(super) recipe: Option<RawMeta>,
    pub(super) inputs: Option<BTreeMap<String, RawInput>>,
    pub(super) build: Option<RawBuild>,
    pub(super) sandbox: Option<RawSandbox>,
    pub(super) output: Option<RawHashes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [recipe] table")]
pub(super) struct RawMeta {
    pub(super) name: Option<S<String>>,
    pub(super) version: Option<S<String>>,
    pub(super) description: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an input table such as { fetch = \"https://…\", sha256 = \"…\" }"
)]
pub(super) struct RawInput {
    pub(super) fetch: Option<S<String>>,
    pub(super) path: Option<S<String>>,
    pub(super) seed: Option<S<String>>,
    pub(super) recipe: Option<S<String>>,
    pub(super) sha256: Option<S<String>>,
    pub(super) sha512: Option<S<String>>,
    pub(super) blake3: Option<S<String>>,
    pub(super) unpack: Option<S<String>>,
    pub(super) output: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [build] table")]
pub(super) struct RawBuild {
    pub(super) root: Option<S<Vec<S<String>>>>,
    pub(super) script: Option<S<String>>,
    pub(super) command: Option<S<Vec<S<String>>>>,
    pub(super) env: Option<BTreeMap<String, S<String>>>,
    pub(super) outputs: Option<S<Vec<S<String>>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [sandbox] table"
)]
pub(super) struct RawSandbox {
    pub(super) network: Option<S<bool>>,
    pub(super) timeout: Option<S<String>>,
    pub(super) silence_timeout: Option<S<String>>,
    pub(super) build_size: Option<S<String>>,
    pub(super) tmp_size: Option<S<String>>,
    pub(super) build_dir: Option<S<String>>,
    pub(super) cores: Option<S<i64>>,
    pub(super) memory: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [output] table with sha256 or blake3"
)]
pub(super) struct RawHashes {
    pub(super) sha256: Option<S<String>>,
    /// Fetch inputs only: an `[output]` table refuses `sha512`.
    #[serde(skip)]
    pub(super) sha512: Option<S<String>>,
    pub(super) blake3: Option<S<String>>,
}

pub(super) const NAME_RULES: &str =
    "names are 1 to 211 characters of A-Z a-z 0-9 + - . _ ? = and do not start with '.'";

pub(super) fn parse(text: &str, file: &str) -> Result<Recipe, RecipeError> {
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| Located::from_toml(text, file, &e, Suggest::Closest(&[])))?;
    let mut cx = Errors::new(text, file);
    let recipe = validate::validate(&mut cx, raw);
    match (cx.first(), recipe) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => Ok(r),
        (None, None) => Err(Located::new(
            file,
            Location::START,
            Kind::InvalidValue,
            "invalid recipe",
        )),
    }
}

pub(super) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// Whether `s` is a valid output name: `[a-z][a-z0-9_]*`.
pub(crate) fn is_output_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `name-version` for `out`, `name-version-output` for the others.
pub(crate) fn output_store_name(name: &str, version: &str, output: &str) -> String {
    if output == DEFAULT_OUTPUT {
        format!("{name}-{version}")
    } else {
        format!("{name}-{version}-{output}")
    }
}

/// Where table `name` is written: its `[name]` header, else the first line
/// that sets a dotted key `name.…`, else the start of the file.
pub(super) fn table_span(text: &str, name: &str) -> Range<usize> {
    let header = format!("[{name}]");
    let dotted = format!("{name}.");
    let mut offset = 0;
    let mut found = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let at = offset + (line.len() - trimmed.len());
        if trimmed.starts_with(&header) {
            return at..at;
        }
        if found.is_none() && trimmed.starts_with(&dotted) {
            found = Some(at..at);
        }
        offset += line.len();
    }
    found.unwrap_or(0..0)
}

/// Where input `name` is written: its first value, else its key.
pub(super) fn input_span(text: &str, name: &str, raw: &RawInput) -> Range<usize> {
    [
        &raw.fetch,
        &raw.path,
        &raw.seed,
        &raw.recipe,
        &raw.sha256,
        &raw.sha512,
        &raw.blake3,
        &raw.unpack,
        &raw.output,
    ]
    .into_iter()
    .flatten()
    .map(Spanned::span)
    .min_by_key(|s| s.start)
    .unwrap_or_else(|| {
        let header = format!("[inputs.{name}]");
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let at = offset + (line.len() - trimmed.len());
            let rest = trimmed.strip_prefix(name).map(str::trim_start);
            if trimmed.starts_with(&header)
                || rest.is_some_and(|r| r.starts_with('=') || r.starts_with('.'))
            {
                return at..at;
            }
            offset += line.len();
        }
        table_span(text, "inputs")
    })
}
