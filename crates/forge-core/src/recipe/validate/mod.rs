//! The second pass of [`Recipe::parse`](super::Recipe::parse): raw values
//! checked table by table and made into the model. Each table has its
//! function ([`meta`], [`inputs::table`], [`build::table`], [`sandbox`]);
//! problems go into one [`Errors`] and the earliest in the file is
//! reported. The rules themselves are in docs/recipes.md.

mod build;
mod inputs;

use std::ops::Range;

use serde_spanned::Spanned;

use super::parse::{table_span, RawFile, RawHashes, RawMeta, RawSandbox, NAME_RULES};
use super::{duration, size, BuildDir, Recipe, SandboxNeeds, SourceMap};
use crate::diag::{Errors, Kind};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StorePathName, MAX_NAME_LEN};

pub(super) fn validate(cx: &mut Errors<'_>, raw: RawFile) -> Option<Recipe> {
    let mut source = SourceMap {
        file: cx.file().to_owned(),
        ..SourceMap::default()
    };
    let (name, version, description) = meta(cx, raw.recipe);

    // [output]; a recipe that has the table counts as fixed-output even when
    // its hash is invalid, so that one mistake is reported once.
    let fixed_output = raw.output.is_some();
    let output_hash = raw.output.and_then(|out| {
        let span = table_span(cx.text(), "output");
        let h = hash_pair(cx, out, "the output", &span, true)?;
        source.output_hash = Some(cx.location(&h.1));
        Some(h.0)
    });

    let (inputs, declared) = inputs::table(cx, raw.inputs.unwrap_or_default(), &mut source);

    let Some(raw_build) = raw.build else {
        cx.push_hint(
            &(0..0),
            Kind::MissingKey,
            "missing [build] table".to_owned(),
            "add [build] with script = \"…\" or command = [\"…\"]",
        );
        return None;
    };
    let named = match (&name, &version) {
        (Some(n), Some(v)) => Some((n.as_str(), v.as_str())),
        _ => None,
    };
    source.run = cx.location(&table_span(cx.text(), "build"));
    if let Some(s) = raw_build.script.as_ref().map(Spanned::span) {
        source.run = cx.location(&s);
        source.script = cx.text().get(s).map(str::to_owned);
    } else if let Some(c) = &raw_build.command {
        source.run = cx.location(&c.span());
    }
    source.root = raw_build.root.as_ref().map(|r| cx.location(&r.span()));
    let b = build::table(cx, raw_build, &declared, fixed_output, named);
    let sandbox = sandbox(cx, raw.sandbox, fixed_output);

    Some(Recipe {
        name: name?,
        version: version?,
        description,
        inputs,
        root: b.root,
        build: b.run?,
        env: b.env,
        outputs: b.outputs,
        sandbox,
        output_hash,
        source,
    })
}

/// `[recipe]`: name, version and description.
fn meta(
    cx: &mut Errors<'_>,
    raw: Option<RawMeta>,
) -> (Option<StorePathName>, Option<String>, Option<String>) {
    let whole = 0..0;
    match raw {
        None => {
            cx.push_hint(
                &whole,
                Kind::MissingKey,
                "missing [recipe] table".to_owned(),
                "start the file with [recipe], name = \"…\" and version = \"…\"",
            );
            (None, None, None)
        }
        Some(meta) => {
            let span = table_span(cx.text(), "recipe");
            let name = match meta.name {
                None => {
                    cx.push_hint(
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
                        cx.push_hint(
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
                    cx.push_hint(
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
                        cx.push_hint(
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
                    cx.push(
                        &span,
                        Kind::InvalidValue,
                        format!("`{n}-{v}` is longer than the {MAX_NAME_LEN} bytes a store path name may have"),
                    );
                }
            }
            (name, version, meta.description.map(Spanned::into_inner))
        }
    }
}

/// `[sandbox]`: network (fixed-output recipes only) and timeouts.
fn sandbox(cx: &mut Errors<'_>, raw: Option<RawSandbox>, fixed_output: bool) -> SandboxNeeds {
    let mut sandbox = SandboxNeeds::default();
    if let Some(sb) = raw {
        if let Some(net) = sb.network {
            if *net.get_ref() && !fixed_output {
                cx.push_hint(
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
                        cx.push(
                            &t.span(),
                            Kind::InvalidValue,
                            format!("invalid `{key}`: {e}"),
                        );
                    }
                }
            }
        }
        resources(
            cx,
            &mut sandbox,
            sb.build_size,
            sb.tmp_size,
            sb.build_dir,
            sb.cores,
            sb.memory,
        );
    }
    sandbox
}

/// `[sandbox]`'s resource keys: `build-size`, `tmp-size`, `build-dir`,
/// `cores`, `memory`.
fn resources(
    cx: &mut Errors<'_>,
    sandbox: &mut SandboxNeeds,
    build_size: Option<Spanned<String>>,
    tmp_size: Option<Spanned<String>>,
    build_dir: Option<Spanned<String>>,
    cores: Option<Spanned<i64>>,
    memory: Option<Spanned<String>>,
) {
    let r = &mut sandbox.resources;
    for (field, key, slot) in [
        (build_size, "build-size", &mut r.build_size),
        (tmp_size, "tmp-size", &mut r.tmp_size),
        (memory, "memory", &mut r.memory),
    ] {
        let Some(v) = field else { continue };
        let message = match size::parse(v.get_ref()) {
            Ok(n) if n >= 1 << 20 => {
                *slot = Some(n);
                continue;
            }
            Ok(_) => format!("`{key}` must be at least 1M"),
            Err(e) => format!("invalid `{key}`: {e}"),
        };
        cx.push(&v.span(), Kind::InvalidValue, message);
    }
    if let Some(d) = build_dir {
        match d.get_ref().as_str() {
            "tmpfs" => r.build_dir = BuildDir::Tmpfs,
            "disk" => r.build_dir = BuildDir::Disk,
            other => {
                cx.push(
                    &d.span(),
                    Kind::InvalidValue,
                    format!("invalid `build-dir` {other:?}: expected \"tmpfs\" or \"disk\""),
                );
            }
        }
        if r.build_dir == BuildDir::Disk && r.build_size.is_some() {
            cx.push_hint(
                &d.span(),
                Kind::Conflict,
                "`build-size` does not apply to a `build-dir = \"disk\"`".to_owned(),
                "remove `build-size`: a disk-backed /build is bounded by the store's disk",
            );
        }
    }
    if let Some(c) = cores {
        match u32::try_from(*c.get_ref()) {
            Ok(n) if (1..=4096).contains(&n) => r.cores = Some(n),
            _ => {
                cx.push(
                    &c.span(),
                    Kind::InvalidValue,
                    format!(
                        "invalid `cores` {}: expected a number from 1 to 4096",
                        c.get_ref()
                    ),
                );
            }
        }
    }
}

/// Reads `sha256` / `sha512` / `blake3`: at most one (exactly one when
/// `required`). `sha512` is set only for fetch inputs (npm publishes it).
fn hash_pair(
    cx: &mut Errors<'_>,
    raw: RawHashes,
    what: &str,
    span: &Range<usize>,
    required: bool,
) -> Option<(Hash, Range<usize>)> {
    let given: Vec<(HashAlgo, Spanned<String>)> = [
        (HashAlgo::Sha256, raw.sha256),
        (HashAlgo::Sha512, raw.sha512),
        (HashAlgo::Blake3, raw.blake3),
    ]
    .into_iter()
    .filter_map(|(a, v)| v.map(|v| (a, v)))
    .collect();
    let (algo, value) = match given.as_slice() {
        [] => {
            if required {
                cx.push_hint(
                    span,
                    Kind::MissingKey,
                    format!("{what} has no hash"),
                    "add sha256 = \"…\" or blake3 = \"…\"",
                );
            }
            return None;
        }
        [(a, v)] => (*a, v.clone()),
        [(first, _), (second, v), ..] => {
            cx.push_hint(
                &v.span(),
                Kind::Conflict,
                format!("{what} has both `{first}` and `{second}`"),
                "give one hash",
            );
            return None;
        }
    };
    match Hash::parse_as(algo, value.get_ref()) {
        Ok(h) => Some((h, value.span())),
        Err(e) => {
            cx.push_hint(
                &value.span(),
                Kind::InvalidValue,
                format!("invalid {algo} hash for {what}: {e}"),
                "paste the hash as the publisher or forge printed it (hex, nix base32 or SRI)",
            );
            None
        }
    }
}
