//! `[inputs]`: each input's name, kind (`fetch`, `path`, `seed`, `recipe`)
//! and the keys that kind takes.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::super::parse::is_output_name;
use super::super::parse::{input_span, RawHashes, RawInput, NAME_RULES, S};
use super::super::{template, Input, SourceMap, Unpack, DEFAULT_OUTPUT, RESERVED_ENV};
use super::hash_pair;
use crate::diag::{Errors, Kind};
use crate::store_path::StorePathName;

/// Validates every input; returns the valid ones and the names of all
/// declared (valid or not), which later tables may refer to.
pub(super) fn table(
    cx: &mut Errors<'_>,
    raw: BTreeMap<String, RawInput>,
    source: &mut SourceMap,
) -> (BTreeMap<String, Input>, BTreeSet<String>) {
    let mut inputs = BTreeMap::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for (name, value) in raw {
        // Map keys carry no span in every TOML form; the value's is close.
        let key_span = input_span(cx.text(), &name, &value);
        declared.insert(name.clone());
        if !template::is_identifier(&name) {
            cx.push_hint(
                &key_span,
                Kind::InvalidValue,
                format!("invalid input name {name:?}: input names become environment variables"),
                "use letters, digits and _, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            );
            continue;
        }
        if RESERVED_ENV.contains(&name.as_str()) {
            cx.push_hint(
                &key_span,
                Kind::InvalidValue,
                format!("input name `{name}` is reserved: forge sets ${name} in every build"),
                "rename the input",
            );
            continue;
        }
        source.inputs.insert(name.clone(), cx.location(&key_span));
        if let Some((input, hash_span)) = one(cx, &name, value) {
            if let Some(hs) = hash_span {
                source.input_hashes.insert(name.clone(), cx.location(&hs));
            }
            inputs.insert(name, input);
        }
    }
    (inputs, declared)
}

/// One input: its kind, the keys that kind takes, its hash and its value.
/// Returns it with the span of its hash, when it has one.
fn one(cx: &mut Errors<'_>, name: &str, raw: RawInput) -> Option<(Input, Option<Range<usize>>)> {
    let span = input_span(cx.text(), name, &raw);
    let what = format!("input `{name}`");
    let kinds: Vec<(&str, &S<String>)> = [
        ("fetch", &raw.fetch),
        ("path", &raw.path),
        ("seed", &raw.seed),
        ("recipe", &raw.recipe),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let kind = match kinds.as_slice() {
        [] => {
            cx.push_hint(
                &span,
                Kind::MissingKey,
                format!("{what} has no kind (expected one of `fetch`, `path`, `seed`, `recipe`)"),
                "for example { fetch = \"https://…\", sha256 = \"…\" }, { path = \"file.patch\" }, { seed = \"busybox\" } or { recipe = \"../zlib\" }",
            );
            return None;
        }
        [(k, _)] => *k,
        [(a, _), (b, second), ..] => {
            cx.push_hint(
                &second.span(),
                Kind::Conflict,
                format!("{what} is both `{a}` and `{b}`"),
                "an input has exactly one of `fetch`, `path`, `seed`, `recipe`",
            );
            return None;
        }
    };
    // Keys that make sense only for some kinds.
    let allowed: &[&str] = match kind {
        "fetch" => &["sha256", "sha512", "blake3", "unpack"],
        "path" => &["sha256", "blake3"],
        "seed" => &[],
        _ => &["output"],
    };
    let mut ok = true;
    for (key, v) in [
        ("sha256", &raw.sha256),
        ("sha512", &raw.sha512),
        ("blake3", &raw.blake3),
        ("unpack", &raw.unpack),
        ("output", &raw.output),
    ] {
        if let Some(v) = v {
            if !allowed.contains(&key) {
                let hint = match (kind, key) {
                    ("seed", "sha256" | "sha512" | "blake3") => {
                        "a seed's hash is kept where the seed is declared, not in recipes"
                            .to_owned()
                    }
                    ("recipe", "sha256" | "sha512" | "blake3") => {
                        "another recipe's output is pinned by that recipe, not here".to_owned()
                    }
                    _ => format!(
                        "keys of a `{kind}` input: `{kind}`{}",
                        allowed
                            .iter()
                            .map(|k| format!(", `{k}`"))
                            .collect::<String>()
                    ),
                };
                cx.push_hint(
                    &v.span(),
                    Kind::Conflict,
                    format!("`{key}` does not apply to a `{kind}` input ({what})"),
                    hint,
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let hash = if allowed.contains(&"sha256") {
        let pair = RawHashes {
            sha256: raw.sha256,
            sha512: raw.sha512,
            blake3: raw.blake3,
        };
        let required = kind == "fetch";
        let h = hash_pair(cx, pair, &what, &span, required);
        if required && h.is_none() {
            return None;
        }
        h
    } else {
        None
    };
    let hash_span = hash.as_ref().map(|h| h.1.clone());
    let (_, value) = kinds[0];
    let text = value.get_ref().as_str();
    let vspan = value.span();
    let input = match kind {
        "fetch" => {
            if let Err(e) = check_url(text) {
                cx.push_hint(
                    &vspan,
                    Kind::InvalidValue,
                    format!("invalid url for {what}: {e}"),
                    "fetch takes http://, https:// or file:// URLs",
                );
                return None;
            }
            let unpack = match raw.unpack {
                None => None,
                Some(u) => match u.get_ref().parse::<Unpack>() {
                    Ok(u) => Some(u),
                    Err(_) => {
                        let formats: Vec<&str> = Unpack::ALL.iter().map(|u| u.as_str()).collect();
                        let e = format!(
                            "unknown unpack format {:?} for {what} (expected one of {})",
                            u.get_ref(),
                            formats.join(", ")
                        );
                        let hint = match Unpack::from_alias(u.get_ref()) {
                            Some(a) => format!("did you mean unpack = \"{a}\"?"),
                            None => "leave `unpack` out to keep the file as downloaded".to_owned(),
                        };
                        cx.push_hint(&u.span(), Kind::InvalidValue, e, hint);
                        return None;
                    }
                },
            };
            let (hash, _) = hash?;
            Input::Fetch {
                url: text.to_owned(),
                hash,
                unpack,
            }
        }
        "path" => {
            if let Err(e) = check_relative(text) {
                cx.push_hint(
                    &vspan,
                    Kind::InvalidValue,
                    format!("invalid path for {what}: {e}"),
                    "paths are relative to the recipe's directory, like \"fix.patch\" or \"files/\"",
                );
                return None;
            }
            Input::Path {
                path: text.to_owned(),
                hash: hash.as_ref().map(|h| h.0),
            }
        }
        "seed" => {
            if let Err(e) = StorePathName::new(text) {
                cx.push_hint(
                    &vspan,
                    Kind::InvalidValue,
                    format!("invalid seed name for {what}: {e}"),
                    NAME_RULES,
                );
                return None;
            }
            Input::Seed {
                name: text.to_owned(),
            }
        }
        _ => {
            if let Err(e) = check_relative(text) {
                cx.push_hint(
                    &vspan,
                    Kind::InvalidValue,
                    format!("invalid recipe directory for {what}: {e}"),
                    "name the other recipe's directory relative to this one, like \"../zlib\"",
                );
                return None;
            }
            let output = match raw.output {
                None => DEFAULT_OUTPUT.to_owned(),
                Some(o) => {
                    if !is_output_name(o.get_ref()) {
                        cx.push_hint(
                            &o.span(),
                            Kind::InvalidValue,
                            format!("invalid output name {:?} for {what}", o.get_ref()),
                            "output names match [a-z][a-z0-9_]*",
                        );
                        return None;
                    }
                    o.into_inner()
                }
            };
            Input::Recipe {
                dir: text.to_owned(),
                output,
            }
        }
    };
    Some((input, hash_span))
}

/// Accepts `http://host…`, `https://host…` and `file:///abs…`.
fn check_url(url: &str) -> Result<(), String> {
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} contains {c:?}"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?} is not a URL (expected scheme://…)"));
    };
    match scheme {
        "http" | "https" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() {
                return Err(format!("{url:?} has no host"));
            }
            Ok(())
        }
        "file" => {
            if rest.starts_with('/') && rest.len() > 1 {
                Ok(())
            } else {
                Err(format!(
                    "{url:?} is not an absolute file URL (expected file:///path)"
                ))
            }
        }
        other => Err(format!(
            "unsupported scheme `{other}` (expected http, https or file)"
        )),
    }
}

/// Accepts a non-empty relative path.
fn check_relative(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if p.starts_with('/') {
        return Err(format!("{p:?} is absolute"));
    }
    if p.contains('\0') || p.contains('\\') {
        return Err(format!("{p:?} contains a NUL or a backslash"));
    }
    Ok(())
}
