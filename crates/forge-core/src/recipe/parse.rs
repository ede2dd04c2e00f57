//! The two passes of [`Recipe::parse`](super::Recipe::parse): TOML into raw,
//! spanned structs, then validation into the model.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::{Location, RecipeError, RecipeErrorKind as Kind};
use super::{
    duration, template, Build, Input, Recipe, SandboxNeeds, SourceMap, Unpack, DEFAULT_OUTPUT,
    RESERVED_ENV,
};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StorePathName, MAX_NAME_LEN};

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a recipe document")]
struct RawFile {
    // Tables are not wrapped in `Spanned`: the `toml` crate cannot give a
    // span to a table written with dotted keys (`build.script = "…"`) or
    // implied by a header (`[inputs.src]` implies `inputs`), and fails on
    // them. Their locations come from their values, or from `table_span`.
    recipe: Option<RawMeta>,
    inputs: Option<BTreeMap<String, RawInput>>,
    build: Option<RawBuild>,
    sandbox: Option<RawSandbox>,
    output: Option<RawHashes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [recipe] table")]
struct RawMeta {
    name: Option<S<String>>,
    version: Option<S<String>>,
    description: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an input table such as { fetch = \"https://…\", sha256 = \"…\" }"
)]
struct RawInput {
    fetch: Option<S<String>>,
    path: Option<S<String>>,
    seed: Option<S<String>>,
    recipe: Option<S<String>>,
    sha256: Option<S<String>>,
    blake3: Option<S<String>>,
    unpack: Option<S<String>>,
    output: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [build] table")]
struct RawBuild {
    root: Option<S<Vec<S<String>>>>,
    script: Option<S<String>>,
    command: Option<S<Vec<S<String>>>>,
    env: Option<BTreeMap<String, S<String>>>,
    outputs: Option<S<Vec<S<String>>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [sandbox] table"
)]
struct RawSandbox {
    network: Option<S<bool>>,
    timeout: Option<S<String>>,
    silence_timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [output] table with sha256 or blake3"
)]
struct RawHashes {
    sha256: Option<S<String>>,
    blake3: Option<S<String>>,
}

const NAME_RULES: &str =
    "names are 1 to 211 characters of A-Z a-z 0-9 + - . _ ? = and do not start with '.'";

/// Collects errors; the one earliest in the file wins.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<RecipeError>,
}

impl<'a> Ctx<'a> {
    fn loc(&self, span: &Range<usize>) -> Location {
        Location::of_span(self.text, span)
    }

    fn err(&mut self, span: &Range<usize>, kind: Kind, message: String) -> &mut RecipeError {
        let e = RecipeError::new(self.file, self.loc(span), kind, message);
        self.errors.push(e);
        self.errors.last_mut().expect("just pushed")
    }

    fn hint(&mut self, span: &Range<usize>, kind: Kind, message: String, hint: impl Into<String>) {
        self.err(span, kind, message).hint = Some(hint.into());
    }
}

pub(super) fn parse(text: &str, file: &str) -> Result<Recipe, RecipeError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
    let mut cx = Ctx {
        text,
        file,
        errors: Vec::new(),
    };
    let recipe = validate(&mut cx, raw);
    let first = cx.errors.into_iter().min_by_key(|e| (e.line, e.column));
    match (first, recipe) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => Ok(r),
        (None, None) => Err(RecipeError::new(
            file,
            Location::START,
            Kind::InvalidValue,
            "invalid recipe",
        )),
    }
}

/// Maps a `toml` error (syntax or serde) to a located [`RecipeError`].
fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> RecipeError {
    let location = e
        .span()
        .map_or(Location::START, |s| Location::of_span(text, &s));
    let msg = e.message().trim_end().trim_end_matches('.');
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        if let Some((key, known)) = names.split_first() {
            let err = RecipeError::new(
                file,
                location,
                Kind::UnknownKey,
                format!("unknown key `{key}`"),
            );
            let list = known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match did_you_mean(key, known) {
                Some(best) => format!("did you mean `{best}`? the keys known here are {list}"),
                None if known.is_empty() => "this table takes no keys".to_owned(),
                None => format!("the keys known here are {list}"),
            };
            return err.with_hint(hint);
        }
    }
    let kind = if msg.starts_with("invalid type") {
        Kind::WrongType
    } else if msg.starts_with("missing field") {
        Kind::MissingKey
    } else if msg.starts_with("unknown variant") || msg.starts_with("invalid value") {
        Kind::InvalidValue
    } else {
        Kind::Syntax
    };
    let message = msg.replace('\n', "; ");
    let message = if kind == Kind::Syntax {
        format!("invalid TOML: {message}")
    } else {
        message
    };
    RecipeError::new(file, location, kind, message)
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    candidates
        .iter()
        .map(|c| {
            let d = if norm(c) == norm(word) {
                0
            } else {
                edit_distance(word, c)
            };
            (d, *c)
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
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

fn validate(cx: &mut Ctx<'_>, raw: RawFile) -> Option<Recipe> {
    let mut source = SourceMap {
        file: cx.file.to_owned(),
        ..SourceMap::default()
    };

    // [recipe]
    let whole = 0..0;
    let (name, version, description) = match raw.recipe {
        None => {
            cx.hint(
                &whole,
                Kind::MissingKey,
                "missing [recipe] table".to_owned(),
                "start the file with [recipe], name = \"…\" and version = \"…\"",
            );
            (None, None, None)
        }
        Some(meta) => {
            let span = table_span(cx.text, "recipe");
            let name = match meta.name {
                None => {
                    cx.hint(
                        &span,
                        Kind::MissingKey,
                        "missing key `name` in [recipe]".to_owned(),
                        "add name = \"…\", the package name",
                    );
                    None
                }
                Some(n) => match StorePathName::new(n.get_ref()) {
                    Ok(name) => Some(name),
                    Err(e) => {
                        cx.hint(
                            &n.span(),
                            Kind::InvalidValue,
                            format!("invalid recipe name {:?}: {e}", n.get_ref()),
                            NAME_RULES,
                        );
                        None
                    }
                },
            };
            let version = match meta.version {
                None => {
                    cx.hint(
                        &span,
                        Kind::MissingKey,
                        "missing key `version` in [recipe]".to_owned(),
                        "add version = \"…\", the upstream version",
                    );
                    None
                }
                Some(v) => {
                    let ok = !v.get_ref().is_empty()
                        && StorePathName::new(&format!("x-{}", v.get_ref())).is_ok();
                    if ok {
                        Some(v.into_inner())
                    } else {
                        cx.hint(
                            &v.span(),
                            Kind::InvalidValue,
                            format!(
                                "invalid version {:?}: versions are part of store path names",
                                v.get_ref()
                            ),
                            "use 1 or more characters of A-Z a-z 0-9 + - . _ ? =",
                        );
                        None
                    }
                }
            };
            if let (Some(n), Some(v)) = (&name, &version) {
                if StorePathName::new(&format!("{n}-{v}")).is_err() {
                    cx.err(
                        &span,
                        Kind::InvalidValue,
                        format!("`{n}-{v}` is longer than the {MAX_NAME_LEN} bytes a store path name may have"),
                    );
                }
            }
            (name, version, meta.description.map(Spanned::into_inner))
        }
    };

    // [output]; a recipe that has the table counts as fixed-output even when
    // its hash is invalid, so that one mistake is reported once.
    let fixed_output = raw.output.is_some();
    let output_hash = raw.output.and_then(|out| {
        let span = table_span(cx.text, "output");
        let h = hash_pair(cx, out, "the output", &span, true)?;
        source.output_hash = Some(cx.loc(&h.1));
        Some(h.0)
    });

    // [inputs]
    let mut inputs = BTreeMap::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for (name, value) in raw.inputs.unwrap_or_default() {
        // Map keys carry no span in every TOML form; the value's is close.
        let key_span = input_span(cx.text, &name, &value);
        declared.insert(name.clone());
        if !template::is_identifier(&name) {
            cx.hint(
                &key_span,
                Kind::InvalidValue,
                format!("invalid input name {name:?}: input names become environment variables"),
                "use letters, digits and _, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            );
            continue;
        }
        if RESERVED_ENV.contains(&name.as_str()) {
            cx.hint(
                &key_span,
                Kind::InvalidValue,
                format!("input name `{name}` is reserved: forge sets ${name} in every build"),
                "rename the input",
            );
            continue;
        }
        source.inputs.insert(name.clone(), cx.loc(&key_span));
        if let Some((input, hash_span)) = validate_input(cx, &name, value) {
            if let Some(hs) = hash_span {
                source.input_hashes.insert(name.clone(), cx.loc(&hs));
            }
            inputs.insert(name, input);
        }
    }

    // [build]
    let Some(build) = raw.build else {
        cx.hint(
            &whole,
            Kind::MissingKey,
            "missing [build] table".to_owned(),
            "add [build] with script = \"…\" or command = [\"…\"]",
        );
        return None;
    };
    let build_span = table_span(cx.text, "build");

    let mut outputs = Vec::new();
    match build.outputs {
        None => outputs.push(DEFAULT_OUTPUT.to_owned()),
        Some(list) => {
            if list.get_ref().is_empty() {
                cx.hint(
                    &list.span(),
                    Kind::InvalidValue,
                    "`outputs` is empty".to_owned(),
                    "leave `outputs` out to get the single output `out`",
                );
            }
            for o in list.into_inner() {
                let span = o.span();
                let o = o.into_inner();
                if !is_output_name(&o) {
                    cx.hint(
                        &span,
                        Kind::InvalidValue,
                        format!("invalid output name {o:?}"),
                        "output names match [a-z][a-z0-9_]*",
                    );
                } else if outputs.contains(&o) {
                    cx.err(
                        &span,
                        Kind::Conflict,
                        format!("output `{o}` is listed twice"),
                    );
                } else if declared.contains(&o) {
                    cx.hint(
                        &span,
                        Kind::Conflict,
                        format!("output `{o}` has the same name as an input"),
                        "inputs and outputs share one namespace (${name} references and environment variables); rename one",
                    );
                } else {
                    if let (Some(n), Some(v)) = (&name, &version) {
                        if output_store_name(n.as_str(), v, &o).len() > MAX_NAME_LEN {
                            cx.err(
                                &span,
                                Kind::InvalidValue,
                                format!("the store name of output `{o}` would be longer than {MAX_NAME_LEN} bytes"),
                            );
                        }
                    }
                    outputs.push(o);
                }
            }
        }
    }
    if fixed_output && outputs != [DEFAULT_OUTPUT] {
        cx.hint(
            &build_span,
            Kind::Conflict,
            "a fixed-output recipe has exactly one output, `out`".to_owned(),
            "remove `outputs` from [build], or remove [output]",
        );
    }
    let names_known = |n: &str| declared.contains(n) || outputs.iter().any(|o| o == n);
    let known_list = || {
        quoted_list(
            declared
                .iter()
                .map(String::as_str)
                .chain(outputs.iter().map(String::as_str)),
        )
    };

    let mut root = Vec::new();
    for r in build.root.map(Spanned::into_inner).unwrap_or_default() {
        let span = r.span();
        let r = r.into_inner();
        if !declared.contains(&r) {
            cx.hint(
                &span,
                Kind::UndefinedReference,
                format!("root layer `{r}` is not an input"),
                format!(
                    "declared inputs: {}",
                    quoted_list(declared.iter().map(String::as_str))
                ),
            );
        } else if root.contains(&r) {
            cx.err(
                &span,
                Kind::Conflict,
                format!("root layer `{r}` is listed twice"),
            );
        } else {
            root.push(r);
        }
    }

    let check_template = |cx: &mut Ctx<'_>, what: &str, value: &S<String>| {
        if value.get_ref().contains('\0') {
            cx.err(
                &value.span(),
                Kind::InvalidValue,
                format!("{what} contains a NUL character, which programs cannot receive"),
            );
            return;
        }
        match template::parse(value.get_ref()) {
            Err(e) => {
                cx.hint(
                    &value.span(),
                    Kind::InvalidValue,
                    format!("{what}: {}", e.message),
                    "write `$${` for a literal `${`",
                );
            }
            Ok(pieces) => {
                for p in pieces {
                    if let template::Piece::Ref(n) = p {
                        if !names_known(n) {
                            let mut cands: Vec<&str> =
                                declared.iter().map(String::as_str).collect();
                            cands.extend(outputs.iter().map(String::as_str));
                            let hint = match did_you_mean(n, &cands) {
                                Some(b) => format!(
                                    "did you mean `${{{b}}}`? inputs and outputs: {}",
                                    known_list()
                                ),
                                None => format!("inputs and outputs: {}", known_list()),
                            };
                            cx.hint(
                                &value.span(),
                                Kind::UndefinedReference,
                                format!(
                                    "{what} refers to `${{{n}}}`, which is not an input or output"
                                ),
                                hint,
                            );
                        }
                    }
                }
            }
        }
    };

    let run = match (build.script, build.command) {
        (Some(_), Some(c)) => {
            cx.hint(
                &c.span(),
                Kind::Conflict,
                "[build] has both `script` and `command`".to_owned(),
                "keep one: `script` runs in /bin/sh -e, `command` runs a program directly",
            );
            None
        }
        (None, None) => {
            cx.hint(
                &build_span,
                Kind::MissingKey,
                "[build] has neither `script` nor `command`".to_owned(),
                "add script = \"…\" (run by /bin/sh -e) or command = [\"program\", \"arg\"]",
            );
            None
        }
        (Some(s), None) => {
            if s.get_ref().trim().is_empty() {
                cx.err(
                    &s.span(),
                    Kind::InvalidValue,
                    "`script` is empty".to_owned(),
                );
                None
            } else if s.get_ref().contains('\0') {
                cx.err(
                    &s.span(),
                    Kind::InvalidValue,
                    "`script` contains a NUL character, which /bin/sh cannot receive".to_owned(),
                );
                None
            } else {
                Some(Build::Script(s.into_inner()))
            }
        }
        (None, Some(c)) => {
            let span = c.span();
            let words = c.into_inner();
            if words.is_empty() || words[0].get_ref().is_empty() {
                cx.hint(
                    &span,
                    Kind::InvalidValue,
                    "`command` needs a program as its first word".to_owned(),
                    "command = [\"/bin/make\", \"install\"]",
                );
                None
            } else {
                for (i, w) in words.iter().enumerate() {
                    check_template(cx, &format!("word {} of `command`", i + 1), w);
                }
                Some(Build::Command(
                    words.into_iter().map(Spanned::into_inner).collect(),
                ))
            }
        }
    };

    let mut env = BTreeMap::new();
    for (k, v) in build.env.unwrap_or_default() {
        let span = v.span();
        if !template::is_identifier(&k) {
            cx.hint(
                &span,
                Kind::InvalidValue,
                format!("invalid environment variable name {k:?}"),
                "use letters, digits and _, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            );
            continue;
        }
        if k != "PATH" && RESERVED_ENV.contains(&k.as_str()) {
            cx.hint(
                &span,
                Kind::Conflict,
                format!("`{k}` cannot be set: forge fixes it in every build"),
                format!(
                    "forge sets {}",
                    quoted_list(RESERVED_ENV.iter().copied().filter(|e| *e != "PATH"))
                ),
            );
            continue;
        }
        if names_known(&k) {
            cx.hint(
                &span,
                Kind::Conflict,
                format!("`{k}` cannot be set in env: it is the name of an input or output, and forge sets it to that path"),
                format!("refer to it as ${{{k}}} instead"),
            );
            continue;
        }
        check_template(cx, &format!("env `{k}`"), &v);
        env.insert(k, v.into_inner());
    }

    // [sandbox]
    let mut sandbox = SandboxNeeds::default();
    if let Some(sb) = raw.sandbox {
        if let Some(net) = sb.network {
            if *net.get_ref() && !fixed_output {
                cx.hint(
                    &net.span(),
                    Kind::Conflict,
                    "network access is only allowed for fixed-output recipes".to_owned(),
                    "declare the hash of the result in an [output] table (sha256 = \"…\"), so forge can check what the network gave; or fetch through an input",
                );
            }
            sandbox.network = net.into_inner();
        }
        for (field, key, slot) in [
            (sb.timeout, "timeout", &mut sandbox.timeout),
            (
                sb.silence_timeout,
                "silence-timeout",
                &mut sandbox.silence_timeout,
            ),
        ] {
            if let Some(t) = field {
                match duration::parse(t.get_ref()) {
                    Ok(d) => *slot = Some(d),
                    Err(e) => {
                        cx.err(
                            &t.span(),
                            Kind::InvalidValue,
                            format!("invalid `{key}`: {e}"),
                        );
                    }
                }
            }
        }
    }

    Some(Recipe {
        name: name?,
        version: version?,
        description,
        inputs,
        root,
        build: run?,
        env,
        outputs,
        sandbox,
        output_hash,
        source,
    })
}

/// Reads `sha256` / `blake3`: at most one (exactly one when `required`).
/// Returns the hash and the span of its value.
fn hash_pair(
    cx: &mut Ctx<'_>,
    raw: RawHashes,
    what: &str,
    span: &Range<usize>,
    required: bool,
) -> Option<(Hash, Range<usize>)> {
    let (algo, value) = match (raw.sha256, raw.blake3) {
        (Some(_), Some(b)) => {
            cx.hint(
                &b.span(),
                Kind::Conflict,
                format!("{what} has both `sha256` and `blake3`"),
                "give one hash",
            );
            return None;
        }
        (None, None) => {
            if required {
                cx.hint(
                    span,
                    Kind::MissingKey,
                    format!("{what} has no hash"),
                    "add sha256 = \"…\" or blake3 = \"…\"",
                );
            }
            return None;
        }
        (Some(s), None) => (HashAlgo::Sha256, s),
        (None, Some(b)) => (HashAlgo::Blake3, b),
    };
    match Hash::parse_as(algo, value.get_ref()) {
        Ok(h) => Some((h, value.span())),
        Err(e) => {
            cx.hint(
                &value.span(),
                Kind::InvalidValue,
                format!("invalid {algo} hash for {what}: {e}"),
                "paste the hash as the publisher or forge printed it (hex, nix base32 or SRI)",
            );
            None
        }
    }
}

fn validate_input(
    cx: &mut Ctx<'_>,
    name: &str,
    raw: RawInput,
) -> Option<(Input, Option<Range<usize>>)> {
    let span = input_span(cx.text, name, &raw);
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
            cx.hint(
                &span,
                Kind::MissingKey,
                format!("{what} has no kind (expected one of `fetch`, `path`, `seed`, `recipe`)"),
                "for example { fetch = \"https://…\", sha256 = \"…\" }, { path = \"file.patch\" }, { seed = \"busybox\" } or { recipe = \"../zlib\" }",
            );
            return None;
        }
        [(k, _)] => *k,
        [(a, _), (b, second), ..] => {
            cx.hint(
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
        "fetch" => &["sha256", "blake3", "unpack"],
        "path" => &["sha256", "blake3"],
        "seed" => &[],
        _ => &["output"],
    };
    let mut ok = true;
    for (key, v) in [
        ("sha256", &raw.sha256),
        ("blake3", &raw.blake3),
        ("unpack", &raw.unpack),
        ("output", &raw.output),
    ] {
        if let Some(v) = v {
            if !allowed.contains(&key) {
                let hint = match (kind, key) {
                    ("seed", "sha256" | "blake3") => {
                        "a seed's hash is kept where the seed is declared, not in recipes"
                            .to_owned()
                    }
                    ("recipe", "sha256" | "blake3") => {
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
                cx.hint(
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
                cx.hint(
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
                        cx.hint(&u.span(), Kind::InvalidValue, e, hint);
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
                cx.hint(
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
                cx.hint(
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
                cx.hint(
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
                        cx.hint(
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

/// Where table `name` is written: its `[name]` header, else the first line
/// that sets a dotted key `name.…`, else the start of the file.
fn table_span(text: &str, name: &str) -> Range<usize> {
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
fn input_span(text: &str, name: &str, raw: &RawInput) -> Range<usize> {
    [
        &raw.fetch,
        &raw.path,
        &raw.seed,
        &raw.recipe,
        &raw.sha256,
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
