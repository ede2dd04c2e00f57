//! `[build]`: outputs, root layers, `script` or `command`, and `env`, with
//! the `${name}` references they make checked against inputs and outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde_spanned::Spanned;

use super::super::parse::{
    is_output_name, output_store_name, quoted_list, table_span, RawBuild, S,
};
use super::super::{template, Build, DEFAULT_OUTPUT, RESERVED_ENV};
use crate::diag::{did_you_mean, Errors, Kind};
use crate::store_path::MAX_NAME_LEN;

/// What `[build]` yields; `run` is `None` where it was invalid.
pub(super) struct BuildTable {
    pub(super) outputs: Vec<String>,
    pub(super) root: Vec<String>,
    pub(super) run: Option<Build>,
    pub(super) env: BTreeMap<String, String>,
}

/// Validates `[build]`. `named` is the recipe's name and version when both
/// are valid (output store names are checked against the length limit).
pub(super) fn table(
    cx: &mut Errors<'_>,
    build: RawBuild,
    declared: &BTreeSet<String>,
    fixed_output: bool,
    named: Option<(&str, &str)>,
) -> BuildTable {
    let build_span = table_span(cx.text(), "build");
    let outputs = outputs(cx, build.outputs, declared, named);
    if fixed_output && outputs != [DEFAULT_OUTPUT] {
        cx.push_hint(
            &build_span,
            Kind::Conflict,
            "a fixed-output recipe has exactly one output, `out`".to_owned(),
            "remove `outputs` from [build], or remove [output]",
        );
    }
    let root = root(cx, build.root, declared);
    let names = Names {
        declared,
        outputs: &outputs,
    };
    let run = run(cx, build.script, build.command, &build_span, &names);
    let env = env(cx, build.env.unwrap_or_default(), &names);
    BuildTable {
        outputs,
        root,
        run,
        env,
    }
}

/// `outputs`: `["out"]` when absent.
fn outputs(
    cx: &mut Errors<'_>,
    raw: Option<S<Vec<S<String>>>>,
    declared: &BTreeSet<String>,
    named: Option<(&str, &str)>,
) -> Vec<String> {
    let mut outputs = Vec::new();
    match raw {
        None => outputs.push(DEFAULT_OUTPUT.to_owned()),
        Some(list) => {
            if list.get_ref().is_empty() {
                cx.push_hint(
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
                    cx.push_hint(
                        &span,
                        Kind::InvalidValue,
                        format!("invalid output name {o:?}"),
                        "output names match [a-z][a-z0-9_]*",
                    );
                } else if outputs.contains(&o) {
                    cx.push(
                        &span,
                        Kind::Conflict,
                        format!("output `{o}` is listed twice"),
                    );
                } else if declared.contains(&o) {
                    cx.push_hint(
                        &span,
                        Kind::Conflict,
                        format!("output `{o}` has the same name as an input"),
                        "inputs and outputs share one namespace (${name} references and environment variables); rename one",
                    );
                } else {
                    if let Some((n, v)) = named {
                        if output_store_name(n, v, &o).len() > MAX_NAME_LEN {
                            cx.push(
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
    outputs
}

/// `root`: layers that must be declared inputs, each once.
fn root(
    cx: &mut Errors<'_>,
    raw: Option<S<Vec<S<String>>>>,
    declared: &BTreeSet<String>,
) -> Vec<String> {
    let mut root = Vec::new();
    for r in raw.map(Spanned::into_inner).unwrap_or_default() {
        let span = r.span();
        let r = r.into_inner();
        if !declared.contains(&r) {
            cx.push_hint(
                &span,
                Kind::UndefinedReference,
                format!("root layer `{r}` is not an input"),
                format!(
                    "declared inputs: {}",
                    quoted_list(declared.iter().map(String::as_str))
                ),
            );
        } else if root.contains(&r) {
            cx.push(
                &span,
                Kind::Conflict,
                format!("root layer `{r}` is listed twice"),
            );
        } else {
            root.push(r);
        }
    }
    root
}

/// The names `${…}` may refer to: inputs and outputs.
struct Names<'a> {
    declared: &'a BTreeSet<String>,
    outputs: &'a [String],
}

impl Names<'_> {
    fn known(&self, n: &str) -> bool {
        self.declared.contains(n) || self.outputs.iter().any(|o| o == n)
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        self.declared
            .iter()
            .map(String::as_str)
            .chain(self.outputs.iter().map(String::as_str))
    }

    fn list(&self) -> String {
        quoted_list(self.all())
    }

    /// Checks a value that may contain `${name}` references.
    fn check_template(&self, cx: &mut Errors<'_>, what: &str, value: &S<String>) {
        if value.get_ref().contains('\0') {
            cx.push(
                &value.span(),
                Kind::InvalidValue,
                format!("{what} contains a NUL character, which programs cannot receive"),
            );
            return;
        }
        match template::parse(value.get_ref()) {
            Err(e) => {
                cx.push_hint(
                    &value.span(),
                    Kind::InvalidValue,
                    format!("{what}: {}", e.message),
                    "write `$${` for a literal `${`",
                );
            }
            Ok(pieces) => {
                for p in pieces {
                    if let template::Piece::Ref(n) = p {
                        if !self.known(n) {
                            let cands: Vec<&str> = self.all().collect();
                            let hint = match did_you_mean(n, &cands) {
                                Some(b) => format!(
                                    "did you mean `${{{b}}}`? inputs and outputs: {}",
                                    self.list()
                                ),
                                None => format!("inputs and outputs: {}", self.list()),
                            };
                            cx.push_hint(
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
    }
}

/// `script` or `command`: exactly one.
fn run(
    cx: &mut Errors<'_>,
    script: Option<S<String>>,
    command: Option<S<Vec<S<String>>>>,
    build_span: &Range<usize>,
    names: &Names<'_>,
) -> Option<Build> {
    match (script, command) {
        (Some(_), Some(c)) => {
            cx.push_hint(
                &c.span(),
                Kind::Conflict,
                "[build] has both `script` and `command`".to_owned(),
                "keep one: `script` runs in /bin/sh -e, `command` runs a program directly",
            );
            None
        }
        (None, None) => {
            cx.push_hint(
                build_span,
                Kind::MissingKey,
                "[build] has neither `script` nor `command`".to_owned(),
                "add script = \"…\" (run by /bin/sh -e) or command = [\"program\", \"arg\"]",
            );
            None
        }
        (Some(s), None) => {
            if s.get_ref().trim().is_empty() {
                cx.push(
                    &s.span(),
                    Kind::InvalidValue,
                    "`script` is empty".to_owned(),
                );
                None
            } else if s.get_ref().contains('\0') {
                cx.push(
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
                cx.push_hint(
                    &span,
                    Kind::InvalidValue,
                    "`command` needs a program as its first word".to_owned(),
                    "command = [\"/bin/make\", \"install\"]",
                );
                None
            } else {
                for (i, w) in words.iter().enumerate() {
                    names.check_template(cx, &format!("word {} of `command`", i + 1), w);
                }
                Some(Build::Command(
                    words.into_iter().map(Spanned::into_inner).collect(),
                ))
            }
        }
    }
}

/// `env`: names that are neither reserved nor inputs or outputs.
fn env(
    cx: &mut Errors<'_>,
    raw: BTreeMap<String, S<String>>,
    names: &Names<'_>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in raw {
        let span = v.span();
        if !template::is_identifier(&k) {
            cx.push_hint(
                &span,
                Kind::InvalidValue,
                format!("invalid environment variable name {k:?}"),
                "use letters, digits and _, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            );
            continue;
        }
        if k != "PATH" && RESERVED_ENV.contains(&k.as_str()) {
            cx.push_hint(
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
        if names.known(&k) {
            cx.push_hint(
                &span,
                Kind::Conflict,
                format!("`{k}` cannot be set in env: it is the name of an input or output, and forge sets it to that path"),
                format!("refer to it as ${{{k}}} instead"),
            );
            continue;
        }
        names.check_template(cx, &format!("env `{k}`"), &v);
        env.insert(k, v.into_inner());
    }
    env
}
