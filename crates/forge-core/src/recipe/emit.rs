//! [`Recipe::to_toml`](super::Recipe::to_toml): the canonical text.
//!
//! Sections come in a fixed order (`[recipe]`, `[inputs]`, `[build]`,
//! `[build.env]`, `[sandbox]`, `[output]`), keys in a fixed order within
//! them, inputs and env sorted by name, hashes as bare lowercase hex under
//! the key of their algorithm, durations in canonical form, and defaults
//! (`outputs = ["out"]`, `network = false`, `output = "out"`) left out.
//! Multi-line scripts are written as `'''` literal strings when they can be,
//! so `forge fmt` keeps them readable.

use std::fmt::Write as _;

use super::{duration, size, Build, BuildDir, Input, Recipe, Resources, DEFAULT_OUTPUT};
use crate::hash::Hash;

/// A TOML basic string: `"…"` with escapes.
fn basic(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string that may span lines: `'''` literal when nothing needs escaping.
fn multiline(s: &str) -> String {
    let literal_ok = s.contains('\n')
        && !s.contains("'''")
        && !s.ends_with('\'')
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if literal_ok {
        format!("'''\n{s}'''")
    } else {
        basic(s)
    }
}

fn list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| basic(s)).collect();
    format!("[{}]", v.join(", "))
}

fn hash_kv(h: &Hash) -> String {
    format!("{} = {}", h.algo(), basic(&h.to_hex()))
}

pub(super) fn to_toml(r: &Recipe) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "[recipe]");
    let _ = writeln!(out, "name = {}", basic(r.name.as_str()));
    let _ = writeln!(out, "version = {}", basic(&r.version));
    if let Some(d) = &r.description {
        let _ = writeln!(out, "description = {}", basic(d));
    }

    if !r.inputs.is_empty() {
        let _ = writeln!(out, "\n[inputs]");
        for (name, input) in &r.inputs {
            let mut parts = Vec::new();
            match input {
                Input::Fetch { url, hash, unpack } => {
                    parts.push(format!("fetch = {}", basic(url)));
                    parts.push(hash_kv(hash));
                    if let Some(u) = unpack {
                        parts.push(format!("unpack = {}", basic(u.as_str())));
                    }
                }
                Input::Path { path, hash } => {
                    parts.push(format!("path = {}", basic(path)));
                    if let Some(h) = hash {
                        parts.push(hash_kv(h));
                    }
                }
                Input::Seed { name } => parts.push(format!("seed = {}", basic(name))),
                Input::Recipe { dir, output } => {
                    parts.push(format!("recipe = {}", basic(dir)));
                    if output != DEFAULT_OUTPUT {
                        parts.push(format!("output = {}", basic(output)));
                    }
                }
            }
            let _ = writeln!(out, "{name} = {{ {} }}", parts.join(", "));
        }
    }

    let _ = writeln!(out, "\n[build]");
    if !r.root.is_empty() {
        let _ = writeln!(out, "root = {}", list(&r.root));
    }
    match &r.build {
        Build::Script(s) => {
            let _ = writeln!(out, "script = {}", multiline(s));
        }
        Build::Command(words) => {
            let _ = writeln!(out, "command = {}", list(words));
        }
    }
    if r.outputs != [DEFAULT_OUTPUT] {
        let _ = writeln!(out, "outputs = {}", list(&r.outputs));
    }
    if !r.env.is_empty() {
        let _ = writeln!(out, "\n[build.env]");
        for (k, v) in &r.env {
            let _ = writeln!(out, "{k} = {}", basic(v));
        }
    }

    let sb = &r.sandbox;
    let res = &sb.resources;
    if sb.network
        || sb.timeout.is_some()
        || sb.silence_timeout.is_some()
        || *res != Resources::default()
    {
        let _ = writeln!(out, "\n[sandbox]");
        if sb.network {
            let _ = writeln!(out, "network = true");
        }
        if let Some(t) = sb.timeout {
            let _ = writeln!(out, "timeout = {}", basic(&duration::format(t)));
        }
        if let Some(t) = sb.silence_timeout {
            let _ = writeln!(out, "silence-timeout = {}", basic(&duration::format(t)));
        }
        if let Some(n) = res.build_size {
            let _ = writeln!(out, "build-size = {}", basic(&size::format(n)));
        }
        if res.build_dir == BuildDir::Disk {
            let _ = writeln!(out, "build-dir = \"disk\"");
        }
        if let Some(n) = res.tmp_size {
            let _ = writeln!(out, "tmp-size = {}", basic(&size::format(n)));
        }
        if let Some(n) = res.cores {
            let _ = writeln!(out, "cores = {n}");
        }
        if let Some(n) = res.memory {
            let _ = writeln!(out, "memory = {}", basic(&size::format(n)));
        }
    }

    if let Some(h) = &r.output_hash {
        let _ = writeln!(out, "\n[output]");
        let _ = writeln!(out, "{}", hash_kv(h));
    }
    out
}
