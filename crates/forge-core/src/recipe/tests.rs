use super::*;
use crate::hash::HashAlgo;
use crate::store_path::StorePathName;
use proptest::prelude::*;

pub(crate) const HELLO: &str = r#"
[recipe]
name = "hello"
version = "2.12.1"
description = "GNU hello"

[inputs]
src = { fetch = "https://ftp.gnu.org/gnu/hello/hello-2.12.1.tar.gz", sha256 = "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20", unpack = "tar.gz" }
patch = { path = "fix.patch" }
busybox = { seed = "busybox" }
zlib = { recipe = "../zlib", output = "dev" }

[build]
root = ["busybox"]
script = """
cd $src
./configure --prefix=$out
make install
"""
env = { CFLAGS = "-I${zlib}/include -O2", DOCDIR = "${doc}/share" }
outputs = ["out", "doc"]

[sandbox]
timeout = "1h"
silence-timeout = "600s"
"#;

fn err(text: &str) -> RecipeError {
    match Recipe::parse(text, "r.toml") {
        Ok(r) => panic!("expected an error, parsed {r:?}"),
        Err(e) => e,
    }
}

const HEAD: &str = "[recipe]\nname = \"x\"\nversion = \"1\"\n";

#[test]
fn parses_a_full_recipe() {
    let r = Recipe::parse(HELLO, "recipes/hello/recipe.toml").unwrap();
    assert_eq!(r.name.as_str(), "hello");
    assert_eq!(r.store_name(), "hello-2.12.1");
    assert_eq!(
        r.inputs["src"],
        Input::Fetch {
            url: "https://ftp.gnu.org/gnu/hello/hello-2.12.1.tar.gz".into(),
            hash: Hash::parse_as(
                HashAlgo::Sha256,
                "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20"
            )
            .unwrap(),
            unpack: Some(Unpack::TarGz),
        }
    );
    assert_eq!(
        r.inputs["patch"],
        Input::Path {
            path: "fix.patch".into(),
            hash: None
        }
    );
    assert_eq!(
        r.inputs["zlib"],
        Input::Recipe {
            dir: "../zlib".into(),
            output: "dev".into()
        }
    );
    assert_eq!(r.outputs, ["out", "doc"]);
    assert_eq!(r.root, ["busybox"]);
    assert_eq!(r.sandbox.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(r.sandbox.silence_timeout, Some(Duration::from_secs(600)));
    assert!(!r.is_fixed_output());
    assert_eq!(
        r.input_location("src"),
        Location {
            line: 8,
            column: 17
        }
    );
    assert_eq!(r.input_hash_location("src").line, 8);
    assert_eq!(
        r.input_location("patch"),
        Location {
            line: 9,
            column: 18
        }
    );
    let e = r.error_at(
        r.input_hash_location("src"),
        RecipeErrorKind::InvalidValue,
        "mismatch",
    );
    assert!(
        e.to_string().starts_with("recipes/hello/recipe.toml:8:"),
        "{e}"
    );
}

#[test]
fn canonical_text_round_trips() {
    let r = Recipe::parse(HELLO, "a").unwrap();
    let text = r.to_toml();
    let again = Recipe::parse(&text, "b").unwrap();
    assert_eq!(again, r, "{text}");
    assert_eq!(again.to_toml(), text, "canonical text is a fixed point");
    assert!(text.contains("silence-timeout = \"10m\""), "{text}");
    assert!(text.contains("script = '''\ncd $src\n"), "{text}");
}

#[test]
fn key_order_and_table_style_do_not_matter() {
    let inline = format!(
        "{HEAD}[inputs]\nsh = {{ seed = \"busybox\" }}\n[build]\nscript = \"true\"\nenv = {{ A = \"1\", B = \"2\" }}\n"
    );
    let tables = "[build.env]\nB = \"2\"\nA = \"1\"\n[inputs.sh]\nseed = \"busybox\"\n[build]\nscript = \"true\"\n[recipe]\nversion = \"1\"\nname = \"x\"\n";
    let dotted = "recipe.name = \"x\"\nrecipe.version = \"1\"\ninputs.sh.seed = \"busybox\"\nbuild.script = \"true\"\nbuild.env.A = \"1\"\nbuild.env.B = \"2\"\n";
    let a = Recipe::parse(&inline, "a").unwrap();
    assert_eq!(a, Recipe::parse(tables, "b").unwrap());
    assert_eq!(a, Recipe::parse(dotted, "c").unwrap());
}

#[test]
fn hash_errors_point_at_the_value_and_name_the_forms() {
    let text = format!("{HEAD}[inputs]\nsrc = {{ fetch = \"https://x.org/a\", sha256 = \"abc\" }}\n[build]\nscript = \"x\"\n");
    let e = err(&text);
    assert_eq!(
        crate::diag::tests::shown(&e),
        "r.toml:5:45: invalid sha256 hash for input `src`: sha256 digest has 3 characters; \
         expected 64 (hex), 52 (nix base32) or 44 (base64)\n\
         hint: paste the hash as the publisher or forge printed it (hex, nix base32 or SRI)"
    );
    assert_eq!(e.kind, RecipeErrorKind::InvalidValue);
}

#[test]
fn every_error_is_located() {
    let b = "[build]\nscript = \"x\"\n";
    let cases: Vec<(String, u32, u32, RecipeErrorKind, &str)> = vec![
        (format!("{HEAD}colour = 1\n{b}"), 4, 1, RecipeErrorKind::UnknownKey, "unknown key `colour`"),
        (format!("{HEAD}{b}timeout = \"1h\"\n"), 6, 1, RecipeErrorKind::UnknownKey, "unknown key `timeout`"),
        (format!("{HEAD}{b}[sandbox]\nnetwork = true\n"), 7, 11, RecipeErrorKind::Conflict, "network access is only allowed for fixed-output recipes"),
        (format!("{HEAD}{b}[sandbox]\nnetwork = \"no\"\n"), 7, 11, RecipeErrorKind::WrongType, "invalid type: string \"no\", expected a boolean"),
        (format!("{HEAD}{b}[sandbox]\ntimeout = \"1y\"\n"), 7, 11, RecipeErrorKind::InvalidValue, "invalid `timeout`: duration \"1y\" has unknown unit 'y'"),
        (format!("{HEAD}{b}[sandbox]\ntmp-size = \"4GB\"\n"), 7, 12, RecipeErrorKind::InvalidValue, "invalid `tmp-size`: invalid size \"4GB\"; expected a size such as 512M, 4G or 1048576 (units K, M, G, T)"),
        (format!("{HEAD}{b}[sandbox]\nbuild-size = \"512K\"\n"), 7, 14, RecipeErrorKind::InvalidValue, "`build-size` must be at least 1M"),
        (format!("{HEAD}{b}[sandbox]\nmemory = \"lots\"\n"), 7, 10, RecipeErrorKind::InvalidValue, "invalid `memory`: invalid size \"lots\""),
        (format!("{HEAD}{b}[sandbox]\nbuild-dir = \"ssd\"\n"), 7, 13, RecipeErrorKind::InvalidValue, "invalid `build-dir` \"ssd\": expected \"tmpfs\" or \"disk\""),
        (format!("{HEAD}{b}[sandbox]\nbuild-size = \"2G\"\nbuild-dir = \"disk\"\n"), 8, 13, RecipeErrorKind::Conflict, "`build-size` does not apply to a `build-dir = \"disk\"`"),
        (format!("{HEAD}{b}[sandbox]\ncores = 0\n"), 7, 9, RecipeErrorKind::InvalidValue, "invalid `cores` 0: expected a number from 1 to 4096"),
        (format!("{HEAD}{b}[sandbox]\ncores = \"4\"\n"), 7, 9, RecipeErrorKind::WrongType, "invalid type: string \"4\", expected i64"),
        (format!("{HEAD}{b}[sandbox]\ntmp_size = \"1G\"\n"), 7, 1, RecipeErrorKind::UnknownKey, "unknown key `tmp_size`"),
        (format!("{HEAD}[build]\nscript = \"x\"\ncommand = [\"y\"]\n"), 6, 11, RecipeErrorKind::Conflict, "[build] has both `script` and `command`"),
        (format!("{HEAD}[build]\nroot = [\"sh\"]\nscript = \"x\"\n"), 5, 9, RecipeErrorKind::UndefinedReference, "root layer `sh` is not an input"),
        (format!("{HEAD}[build]\nscript = \"x\"\nenv = {{ A = \"${{src}}/x\" }}\n"), 6, 13, RecipeErrorKind::UndefinedReference, "env `A` refers to `${src}`, which is not an input or output"),
        (format!("{HEAD}[build]\ncommand = [\"make\", \"${{out\"]\n"), 5, 20, RecipeErrorKind::InvalidValue, "word 2 of `command`: unterminated `${`"),
        (format!("{HEAD}[build]\nenv = {{ A = \"1\" }}\n"), 4, 1, RecipeErrorKind::MissingKey, "[build] has neither `script` nor `command`"),
        (HEAD.to_owned(), 1, 1, RecipeErrorKind::MissingKey, "missing [build] table"),
        (format!("[recipe]\nname = \"x y\"\nversion = \"1\"\n{b}"), 2, 8, RecipeErrorKind::InvalidValue, "invalid recipe name \"x y\""),
        (format!("{HEAD}[inputs]\nsrc = {{ fetch = \"ftp://x/y\", sha256 = \"{}\" }}\n{b}", "0".repeat(64)), 5, 17, RecipeErrorKind::InvalidValue, "invalid url for input `src`: unsupported scheme `ftp`"),
        (format!("{HEAD}[inputs]\nsrc = {{ fetch = \"https://x/y\" }}\n{b}"), 5, 17, RecipeErrorKind::MissingKey, "input `src` has no hash"),
        (format!("{HEAD}[inputs]\nsrc = {{ fetch = \"https://x/y\", path = \"a\" }}\n{b}"), 5, 39, RecipeErrorKind::Conflict, "input `src` is both `fetch` and `path`"),
        (format!("{HEAD}[inputs]\nsh = {{ seed = \"busybox\", sha256 = \"x\" }}\n{b}"), 5, 35, RecipeErrorKind::Conflict, "`sha256` does not apply to a `seed` input"),
        (format!("{HEAD}[inputs]\nsrc = {{ fetch = \"https://x/y\", blake3 = \"{}\", unpack = \"tgz\" }}\n{b}", "0".repeat(64)), 5, 118, RecipeErrorKind::InvalidValue, "unknown unpack format \"tgz\" for input `src` (expected one of tar, tar.gz,"),
        (format!("{HEAD}[inputs]\nPATH = {{ seed = \"busybox\" }}\n{b}"), 5, 17, RecipeErrorKind::InvalidValue, "input name `PATH` is reserved"),
        (format!("{HEAD}[inputs]\np = {{ path = \"/etc/passwd\" }}\n{b}"), 5, 14, RecipeErrorKind::InvalidValue, "invalid path for input `p`: \"/etc/passwd\" is absolute"),
        (format!("{HEAD}[inputs]\nsrc = {{}}\n{b}"), 5, 1, RecipeErrorKind::MissingKey, "input `src` has no kind"),
        (format!("{HEAD}[build]\nscript = \"x\"\noutputs = [\"out\", \"out\"]\n"), 6, 19, RecipeErrorKind::Conflict, "output `out` is listed twice"),
        (format!("{HEAD}[build]\nscript = \"x\"\noutputs = [\"Dev\"]\n"), 6, 12, RecipeErrorKind::InvalidValue, "invalid output name \"Dev\""),
        (format!("{HEAD}[build]\nscript = \"x\"\nenv = {{ TZ = \"x\" }}\n"), 6, 14, RecipeErrorKind::Conflict, "`TZ` cannot be set"),
        (format!("{HEAD}[build]\nscript = \"x\"\nenv = {{ out = \"x\" }}\n"), 6, 15, RecipeErrorKind::Conflict, "`out` cannot be set in env"),
        (format!("{HEAD}[build]\nscript = \"x\"\noutputs = [\"out\", \"dev\"]\n[output]\nsha256 = \"{}\"\n", "0".repeat(64)), 4, 1, RecipeErrorKind::Conflict, "a fixed-output recipe has exactly one output"),
        (format!("{HEAD}{b}[output]\n"), 6, 1, RecipeErrorKind::MissingKey, "the output has no hash"),
        (format!("{HEAD}[build]\nscript = \"x\n"), 5, 12, RecipeErrorKind::Syntax, "invalid TOML"),
        (format!("{HEAD}[build]\nscript = 'x'\nscript = 'y'\n"), 6, 1, RecipeErrorKind::Syntax, "invalid TOML: duplicate key"),
    ];
    let mut wrong = Vec::new();
    for (i, (text, line, column, kind, msg)) in cases.into_iter().enumerate() {
        let e = err(&text);
        if !e.message.starts_with(msg) || (e.line, e.column, e.kind) != (line, column, kind) {
            wrong.push(format!(
                "case {i}: got {e} ({:?}); want {line}:{column} {kind:?} {msg:?}",
                e.kind
            ));
        }
        assert!(!e.message.ends_with('.'), "{e}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn sandbox_resources_are_read_and_a_typo_gets_its_key() {
    let r = Recipe::parse(
        &format!("{HEAD}[build]\nscript = \"x\"\n[sandbox]\ntmp-size = \"512M\"\nbuild-dir = \"disk\"\ncores = 3\nmemory = \"2G\"\n"),
        "r.toml",
    )
    .unwrap();
    assert_eq!(
        r.sandbox.resources,
        Resources {
            build_size: None,
            tmp_size: Some(512 << 20),
            build_dir: BuildDir::Disk,
            cores: Some(3),
            memory: Some(2 << 30),
        }
    );
    let text = r.to_toml();
    assert!(
        text.contains("tmp-size = \"512M\"\ncores = 3\nmemory = \"2G\""),
        "{text}"
    );
    assert_eq!(Recipe::parse(&text, "r.toml").unwrap(), r);
    let e = err(&format!(
        "{HEAD}[build]\nscript = \"x\"\n[sandbox]\ntmp_size = \"1G\"\n"
    ));
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean `tmp-size`?")),
        "{e}"
    );
}

#[test]
fn typos_get_suggestions() {
    let e = err(&format!("{HEAD}[build]\nscirpt = \"x\"\n"));
    assert_eq!(
        e.hint
            .as_deref()
            .map(|h| h.starts_with("did you mean `script`?")),
        Some(true),
        "{e}"
    );
    assert!(e
        .hint
        .unwrap()
        .contains("`root`, `script`, `command`, `env`, `outputs`"));
    let e = err(&format!("{HEAD}[build]\nscript = \"x\"\nenv = {{ A = \"${{sr}}\" }}\n[inputs]\nsrc = {{ seed = \"s\" }}\n"));
    assert!(e.hint.unwrap().starts_with("did you mean `${src}`?"));
    let e = err(&format!("{HEAD}[inputs]\nsrc = {{ fetch = \"https://x/y\", sha256 = \"{}\", unpack = \"tgz\" }}\n[build]\nscript = \"x\"\n", "0".repeat(64)));
    assert_eq!(e.hint.as_deref(), Some("did you mean unpack = \"tar.gz\"?"));
}

#[test]
fn the_earliest_problem_wins() {
    let text =
        "[recipe]\nname = \"x y\"\nversion = \"1\"\n[build]\nroot = [\"nope\"]\nscript = \"x\"\n";
    assert_eq!(err(text).line, 2);
}

#[test]
fn fixed_output_recipes_may_use_the_network() {
    let text = format!(
        "{HEAD}[build]\ncommand = [\"fetch\"]\n[sandbox]\nnetwork = true\n[output]\nblake3 = \"blake3:{}\"\n",
        "ab".repeat(32)
    );
    let r = Recipe::parse(&text, "r").unwrap();
    assert!(r.sandbox.network && r.is_fixed_output());
    assert_eq!(
        r.source.output_hash,
        Some(Location {
            line: 9,
            column: 10
        })
    );
    let e = err(&text.replace("blake3 = \"blake3:", "sha256 = \"blake3:"));
    assert!(
        e.message
            .contains("expected a sha256 hash, found a blake3 hash"),
        "{e}"
    );
}

#[test]
fn sri_and_nix32_hashes_are_accepted() {
    for h in [
        "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ] {
        let text = format!("{HEAD}[inputs]\ns = {{ fetch = \"https://x/y\", sha256 = \"{h}\" }}\n[build]\nscript = \"x\"\n");
        let r = Recipe::parse(&text, "r").unwrap();
        assert_eq!(r.inputs["s"].hash(), Some(&HashAlgo::Sha256.digest(b"")));
    }
}

#[test]
fn fetch_inputs_take_sha512_pins_and_outputs_do_not() {
    let sri = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==";
    let text = format!("{HEAD}[inputs]\ns = {{ fetch = \"https://x/y.tgz\", sha512 = \"{sri}\" }}\n[build]\nscript = \"x\"\n");
    let r = Recipe::parse(&text, "r").unwrap();
    assert_eq!(r.inputs["s"].hash(), Some(&HashAlgo::Sha512.digest(b"")));
    assert_eq!(Recipe::parse(&r.to_toml(), "r").unwrap(), r);
    let both = format!("{HEAD}[inputs]\ns = {{ fetch = \"https://x/y\", sha256 = \"{}\", sha512 = \"{sri}\" }}\n[build]\nscript = \"x\"\n", "0".repeat(64));
    let e = err(&both);
    assert!(e.to_string().contains("both `sha256` and `sha512`"), "{e}");
    let wrong = format!("{HEAD}[inputs]\ns = {{ fetch = \"https://x/y\", sha512 = \"{}\" }}\n[build]\nscript = \"x\"\n", "0".repeat(64));
    let e = err(&wrong);
    assert!(e.to_string().contains("128 (hex)"), "{e}");
    let path = format!(
        "{HEAD}[inputs]\ns = {{ path = \"a\", sha512 = \"{sri}\" }}\n[build]\nscript = \"x\"\n"
    );
    assert!(
        err(&path).to_string().contains("`sha512` does not apply"),
        "{}",
        err(&path)
    );
}

// ---- generators, shared with the derivation tests ----

fn arb_hash() -> impl Strategy<Value = Hash> {
    (any::<bool>(), any::<[u8; 32]>()).prop_map(|(b, bytes)| {
        Hash::new(
            if b {
                HashAlgo::Blake3
            } else {
                HashAlgo::Sha256
            },
            bytes,
        )
    })
}

fn arb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (
            "(https|http)://[a-z]{1,8}\\.org/[a-zA-Z0-9./_%?=-]{0,20}",
            arb_hash(),
            proptest::option::of(proptest::sample::select(Unpack::ALL.to_vec()))
        )
            .prop_map(|(url, hash, unpack)| Input::Fetch { url, hash, unpack }),
        (
            "[a-z0-9_.][a-zA-Z0-9 ./_\"'é-]{0,12}",
            proptest::option::of(arb_hash())
        )
            .prop_map(|(path, hash)| Input::Path { path, hash }),
        "[a-z0-9][a-z0-9+._-]{0,10}".prop_map(|name| Input::Seed { name }),
        ("\\.\\./[a-z][a-z0-9-]{0,8}", "(out|dev|lib|bin)")
            .prop_map(|(dir, output)| Input::Recipe { dir, output }),
    ]
}

/// A template over `names`: text, `$$`, `$ORIGIN` and `${name}` pieces.
fn arb_template(names: Vec<String>) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9/ .=:\"'\\\\é-]{1,6}",
        Just("$$".to_owned()),
        Just("$ORIGIN".to_owned()),
        proptest::sample::select(names).prop_map(|n| format!("${{{n}}}")),
    ];
    proptest::collection::vec(piece, 0..5).prop_map(|v| v.concat())
}

pub(crate) fn arb_recipe() -> impl Strategy<Value = Recipe> {
    let inputs = proptest::collection::btree_map("i[a-z0-9_]{0,5}", arb_input(), 0..5);
    let outputs = proptest::collection::btree_set("[a-h][a-z0-9_]{0,4}", 0..3);
    let fixed = proptest::option::of(arb_hash());
    (inputs, outputs, fixed).prop_flat_map(|(inputs, extra_outputs, output_hash)| {
        let mut outputs = vec![DEFAULT_OUTPUT.to_owned()];
        if output_hash.is_none() {
            outputs.extend(extra_outputs.into_iter().filter(|o| o != DEFAULT_OUTPUT));
        }
        let input_names: Vec<String> = inputs.keys().cloned().collect();
        let mut names = input_names.clone();
        names.extend(outputs.iter().cloned());
        let root = Just(input_names.clone())
            .prop_shuffle()
            .prop_flat_map(|v| {
                let n = v.len();
                (Just(v), 0..=n)
            })
            .prop_map(|(v, k)| v[..k].to_vec());
        let build = prop_oneof![
            "(?s).{0,40}[a-z](?s).{0,40}"
                .prop_filter("no NUL", |s| !s.contains('\0'))
                .prop_map(Build::Script),
            (
                "[a-z/]{1,10}",
                proptest::collection::vec(arb_template(names.clone()), 0..4)
            )
                .prop_map(|(p, mut args)| {
                    args.insert(0, p);
                    Build::Command(args)
                }),
        ];
        let env = proptest::collection::btree_map("E[A-Z0-9_]{0,5}", arb_template(names), 0..4);
        let sandbox = (
            any::<bool>(),
            proptest::option::of(1u64..10_000_000),
            proptest::option::of(1u64..10_000_000),
            proptest::option::of(1u64 << 20..1 << 40),
            any::<bool>(),
            proptest::option::of(1u32..4096),
        )
            .prop_map(move |(net, t, s, size, disk, cores)| SandboxNeeds {
                network: net && output_hash.is_some(),
                timeout: t.map(Duration::from_secs),
                silence_timeout: s.map(Duration::from_secs),
                resources: Resources {
                    build_size: size.filter(|_| !disk),
                    tmp_size: size,
                    build_dir: if disk {
                        BuildDir::Disk
                    } else {
                        BuildDir::Tmpfs
                    },
                    cores,
                    memory: size.map(|n| n * 2),
                },
            });
        (
            "[a-zA-Z0-9_+][a-zA-Z0-9+._?=-]{0,12}",
            "[0-9][a-z0-9.+_-]{0,8}",
            proptest::option::of("(?s).{0,30}"),
            Just(inputs),
            root,
            build,
            env,
            Just(outputs),
            sandbox,
            Just(output_hash),
        )
            .prop_map(
                |(
                    name,
                    version,
                    description,
                    inputs,
                    root,
                    build,
                    env,
                    outputs,
                    sandbox,
                    output_hash,
                )| Recipe {
                    name: StorePathName::new(&name).expect("generated valid"),
                    version,
                    description,
                    inputs,
                    root,
                    build,
                    env,
                    outputs,
                    sandbox,
                    output_hash,
                    source: SourceMap::default(),
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn to_toml_parses_back_equal(r in arb_recipe()) {
        let text = r.to_toml();
        let parsed = Recipe::parse(&text, "gen.toml");
        prop_assert!(parsed.is_ok(), "{}\n---\n{}", parsed.unwrap_err(), text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &r, "{}", text);
        prop_assert_eq!(parsed.to_toml(), text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in "(?s).{0,200}") {
        let _ = Recipe::parse(&s, "x.toml");
    }

    #[test]
    fn parse_never_panics_on_mutated_recipes(
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, "(?s).{0,3}"), 1..6)
    ) {
        let mut text = HELLO.to_owned();
        for (at, op, s) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) { i -= 1; }
            match op {
                0 => text.insert_str(i, &s),
                1 => { let end = text[i..].chars().next().map_or(i, |c| i + c.len_utf8()); text.replace_range(i..end, ""); }
                _ => { let end = text[i..].char_indices().nth(s.chars().count()).map_or(text.len(), |(j, _)| i + j); text.replace_range(i..end, &s); }
            }
        }
        match Recipe::parse(&text, "m.toml") {
            Ok(r) => {
                let again = Recipe::parse(&r.to_toml(), "m2.toml");
                prop_assert_eq!(again.ok(), Some(r));
            }
            Err(e) => {
                prop_assert!(e.line >= 1 && e.column >= 1);
                let lines = text.split('\n').count() as u32;
                prop_assert!(e.line <= lines, "{} past the end ({} lines)", e, lines);
            }
        }
    }
}

#[test]
fn script_references_are_located_in_the_file() {
    let text = "[recipe]\nname = \"a\"\nversion = \"1\"\n\n[build]\nscript = \"\"\"\necho $out\n  cp $src $out\n\"\"\"\n";
    let r = Recipe::parse(text, "r.toml").unwrap();
    assert_eq!(
        r.source.run,
        Location {
            line: 6,
            column: 10
        }
    );
    assert_eq!(
        r.source.in_script("$src", 0),
        Location { line: 8, column: 6 }
    );
    assert_eq!(
        r.source.in_script("$out", 1),
        Location {
            line: 8,
            column: 11
        }
    );
    let one = Recipe::parse(
        "[recipe]\nname = \"a\"\nversion = \"1\"\n[build]\nscript = 'x $y'\n",
        "r",
    )
    .unwrap();
    assert_eq!(
        one.source.in_script("$y", 0),
        Location {
            line: 5,
            column: 13
        }
    );
}
