//! The script's variables: a `$name` or `${name}` that no input, output,
//! `[build] env` entry, forge variable or shell variable defines, and that
//! the script does not set itself, is a warning (builds run `/bin/sh -e`
//! without `set -u`, so it would expand to nothing). `${name:-…}` and the
//! other forms that say what an unset variable means are not reported.
//! The lexing is [`forge_core::recipe::script`]'s.

use std::fmt;

use forge_core::diag::did_you_mean;
use forge_core::recipe::{script, Build, Recipe};

use super::{quoted, Found, Problem, Severity};

/// Variables the shell itself sets (POSIX, and busybox ash's extras).
pub const SHELL_VARIABLES: &[&str] = &[
    "IFS", "LINENO", "OLDPWD", "OPTARG", "OPTIND", "PPID", "PS1", "PS2", "PS4", "PWD", "RANDOM",
    "SECONDS",
];

/// Every variable forge sets in a build besides inputs and outputs: the
/// sandbox's fixed environment ([`forge_sandbox::spec::DEFAULT_ENV`]) and
/// the engine's ([`crate::request::ENGINE_ENV`]), sorted.
pub fn forge_variables() -> Vec<&'static str> {
    let mut v: Vec<&str> = forge_sandbox::spec::DEFAULT_ENV
        .iter()
        .map(|(k, _)| *k)
        .chain(crate::request::ENGINE_ENV)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A variable the script expands and nothing sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeclared {
    /// Its name.
    pub name: String,
    /// The recipe's own names (inputs, outputs, `env`), sorted.
    pub known: Vec<String>,
    /// The closest known name, when one is close.
    pub suggestion: Option<String>,
}

impl fmt::Display for Undeclared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the script expands `${}`, which is not an input, an output or a variable forge or the script sets (it expands to nothing)",
            self.name
        )
    }
}

impl Undeclared {
    pub(super) fn hint(&self) -> String {
        let list = format!(
            "inputs, outputs and env: {}; forge sets {}",
            quoted(&self.known),
            forge_variables().join(", ")
        );
        match &self.suggestion {
            Some(s) => format!("did you mean `${s}`? {list}"),
            None => format!("write `${{{}:-}}` if empty is meant; {list}", self.name),
        }
    }
}

/// The warnings of `recipe`'s script.
pub(super) fn check(recipe: &Recipe) -> Vec<Found> {
    let Build::Script(text) = &recipe.build else {
        return Vec::new();
    };
    let scan = script::scan(text);
    let mut known: Vec<String> = recipe
        .inputs
        .keys()
        .chain(&recipe.outputs)
        .chain(recipe.env.keys())
        .cloned()
        .collect();
    known.sort();
    known.dedup();
    let forge = forge_variables();
    let mut candidates: Vec<&str> = known.iter().map(String::as_str).collect();
    candidates.extend(forge.iter().copied());
    candidates.extend(scan.assigned.iter().map(String::as_str));
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &scan.references {
        if r.guarded
            || candidates.contains(&r.name.as_str())
            || SHELL_VARIABLES.contains(&r.name.as_str())
            || !seen.insert(r.name.clone())
        {
            continue;
        }
        out.push((
            recipe.source.in_script(&r.token, r.nth),
            Severity::Warning,
            Problem::UndeclaredVariable(Undeclared {
                name: r.name.clone(),
                known: known.clone(),
                suggestion: did_you_mean(&r.name, &candidates).map(str::to_owned),
            }),
        ));
    }
    out
}
