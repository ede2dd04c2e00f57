use super::*;
use crate::recipe::tests::{arb_recipe, HELLO};
use proptest::prelude::*;

fn path(tag: &str, name: &str) -> StorePath {
    StorePath::from_fingerprint(tag, StorePathName::new(name).unwrap())
}

fn hello_resolved() -> BTreeMap<String, StorePath> {
    [
        ("src", "hello-2.12.1.tar.gz"),
        ("patch", "fix.patch"),
        ("busybox", "busybox"),
        ("zlib", "zlib-1.3.1-dev"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), path(k, n)))
    .collect()
}

fn hello() -> Derivation {
    let r = Recipe::parse(HELLO, "hello.toml").unwrap();
    Derivation::from_recipe(&r, &hello_resolved(), "x86_64-linux").unwrap()
}

#[test]
fn resolves_a_recipe() {
    let d = hello();
    let res = hello_resolved();
    assert_eq!(d.builder, "/bin/sh");
    assert_eq!(d.args[..2], ["-e", "-c"]);
    assert!(d.args[2].starts_with("cd $src\n"));
    assert_eq!(d.env["src"], res["src"].to_string());
    assert_eq!(d.env["out"], output_token("out"));
    assert_eq!(d.env["doc"], output_token("doc"));
    assert_eq!(d.env["CFLAGS"], format!("-I{}/include -O2", res["zlib"]));
    assert_eq!(d.env["DOCDIR"], format!("{}/share", output_token("doc")));
    assert_eq!(d.root, [res["busybox"].clone()]);
    assert_eq!(d.input_paths(), res.values().cloned().collect());
    assert_eq!(d.sandbox.timeout_secs, Some(3600));
    assert_eq!(d.sandbox.silence_timeout_secs, Some(600));
    assert_eq!(d.outputs, ["doc".to_owned(), "out".to_owned()].into());
}

#[test]
fn commands_expand_references_and_dollars() {
    let text = "[recipe]\nname = \"x\"\nversion = \"1\"\n[inputs]\ncc = { seed = \"gcc\" }\n[build]\ncommand = [\"${cc}/bin/gcc\", \"-o\", \"${out}/bin/x\", \"-Wl,-rpath,$ORIGIN\", \"$$${cc}\"]\n";
    let r = Recipe::parse(text, "x").unwrap();
    let cc = path("cc", "gcc");
    let d = Derivation::from_recipe(&r, &[("cc".to_owned(), cc.clone())].into(), "aarch64-linux")
        .unwrap();
    assert_eq!(d.builder, format!("{cc}/bin/gcc"));
    assert_eq!(
        d.args,
        [
            "-o".to_owned(),
            format!("{}/bin/x", output_token("out")),
            "-Wl,-rpath,$ORIGIN".to_owned(),
            format!("${cc}")
        ]
    );
    let inv = d.invocation();
    let out = d.placeholder("out").unwrap();
    assert_eq!(inv.args[1], format!("{out}/bin/x"));
    assert_eq!(inv.env["out"], out.to_string());
    assert_eq!(inv.env["cc"], cc.to_string());
}

#[test]
fn resolution_errors_name_the_input() {
    let r = Recipe::parse(HELLO, "h").unwrap();
    let mut res = hello_resolved();
    res.remove("zlib");
    let e = Derivation::from_recipe(&r, &res, "x86_64-linux").unwrap_err();
    assert_eq!(e.to_string(), "input `zlib` has no resolved store path");
    let mut res = hello_resolved();
    res.insert("extra".into(), path("e", "e"));
    let e = Derivation::from_recipe(&r, &res, "x86_64-linux").unwrap_err();
    assert_eq!(
        e.to_string(),
        "resolved input `extra` is not declared by the recipe"
    );
    let e = Derivation::from_recipe(&r, &hello_resolved(), "x86 linux").unwrap_err();
    assert!(matches!(e, DerivationError::InvalidSystem { .. }), "{e}");
}

#[test]
fn placeholders_are_per_derivation_and_output_and_as_long_as_final_paths() {
    let d = hello();
    let out = d.placeholder("out").unwrap();
    let doc = d.placeholder("doc").unwrap();
    assert_ne!(out.digest(), doc.digest());
    assert_eq!(out.name().as_str(), "hello-2.12.1");
    assert_eq!(doc.name().as_str(), "hello-2.12.1-doc");
    assert!(d.placeholder("dev").is_none());
    let mut other = d.clone();
    other.system = "aarch64-linux".into();
    assert_ne!(other.placeholder("out").unwrap(), out);
    // Same length as any content-addressed path with the same name.
    let final_path = StorePath::content_addressed(
        out.name().clone(),
        &HashAlgo::Blake3.digest(b"nar"),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(out.to_string().len(), final_path.to_string().len());
    assert_eq!(d.placeholders()["doc"], doc);
    let inv = d.invocation();
    assert_eq!(inv.env["DOCDIR"], format!("{doc}/share"));
    assert!(!inv.env.values().any(|v| v.contains(&output_token("out"))));
}

#[test]
fn every_field_changes_the_digest() {
    let base = hello();
    let p = path("new", "new");
    type Mutation = Box<dyn Fn(&mut Derivation)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("name", Box::new(|d| d.name = "hellp".into())),
        ("version", Box::new(|d| d.version = "2.12.2".into())),
        ("system", Box::new(|d| d.system = "aarch64-linux".into())),
        ("builder", Box::new(|d| d.builder = "/bin/bash".into())),
        ("args", Box::new(|d| d.args.push("x".into()))),
        ("args order", Box::new(|d| d.args.swap(0, 1))),
        (
            "env value",
            Box::new(|d| *d.env.get_mut("CFLAGS").unwrap() += " "),
        ),
        (
            "env key",
            Box::new(|d| {
                d.env.insert("NEW".into(), String::new());
            }),
        ),
        (
            "inputs",
            Box::new({
                let p = p.clone();
                move |d| {
                    d.inputs.insert("src".into(), p.clone());
                }
            }),
        ),
        (
            "input name",
            Box::new(|d| {
                let v = d.inputs.remove("patch").unwrap();
                d.inputs.insert("patch2".into(), v);
            }),
        ),
        (
            "root",
            Box::new(|d| {
                let z = d.inputs["zlib"].clone();
                d.root.push(z);
            }),
        ),
        (
            "root order",
            Box::new(|d| {
                let z = d.inputs["zlib"].clone();
                d.root.insert(0, z);
            }),
        ),
        (
            "outputs",
            Box::new(|d| {
                d.outputs.insert("dev".into());
            }),
        ),
        (
            "output_hash",
            Box::new(|d| d.output_hash = Some(HashAlgo::Sha256.digest(b""))),
        ),
        (
            "output_hash algo",
            Box::new(|d| d.output_hash = Some(HashAlgo::Blake3.digest(b""))),
        ),
        ("network", Box::new(|d| d.sandbox.network = true)),
        ("timeout", Box::new(|d| d.sandbox.timeout_secs = Some(3601))),
        ("timeout none", Box::new(|d| d.sandbox.timeout_secs = None)),
        (
            "silence timeout",
            Box::new(|d| d.sandbox.silence_timeout_secs = Some(1)),
        ),
    ];
    let mut seen = BTreeMap::new();
    seen.insert(base.action_digest(), "base");
    for (what, mutate) in mutations {
        let mut d = base.clone();
        mutate(&mut d);
        assert_ne!(d, base, "{what} did not change the derivation");
        if let Some(prev) = seen.insert(d.action_digest(), what) {
            panic!("{what} gives the same digest as {prev}");
        }
    }
    // Exhaustiveness: a new field must be added above (and to the wire form).
    let Derivation {
        name: _,
        version: _,
        system: _,
        builder: _,
        args: _,
        env: _,
        inputs: _,
        root: _,
        outputs: _,
        output_hash: _,
        sandbox:
            SandboxProfile {
                network: _,
                silence_timeout_secs: _,
                timeout_secs: _,
            },
    } = base;
}

#[test]
fn canonical_bytes_are_sorted_compact_json() {
    let d = hello();
    let bytes = d.to_canonical_bytes();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with("{\"args\":[\"-e\",\"-c\","), "{text}");
    assert!(text.contains(",\"format\":\"forge-derivation-v1\","));
    assert!(!text.contains(": ") && !text.contains(", "));
    // Keys of every object are sorted: compare with serde_json's own
    // sorted-map representation.
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(serde_json::to_vec(&v).unwrap(), bytes);
    assert_eq!(Derivation::from_canonical_bytes(&bytes).unwrap(), d);
}

#[test]
fn rejects_non_canonical_and_foreign_input() {
    let d = hello();
    let text = String::from_utf8(d.to_canonical_bytes()).unwrap();
    let reject = |s: String| Derivation::from_canonical_bytes(s.as_bytes()).unwrap_err();

    let e = reject(text.replacen("forge-derivation-v1", "forge-derivation-v2", 1));
    assert_eq!(
        e.to_string(),
        "unsupported derivation format \"forge-derivation-v2\" (expected \"forge-derivation-v1\")"
    );
    let e = reject(text.replacen("{\"args\"", "{\"extra\":1,\"args\"", 1));
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    assert!(matches!(
        reject(text.replacen(",", ", ", 1)),
        DerivationError::NotCanonical { .. }
    ));
    assert!(matches!(
        reject(format!("{text}\n")),
        DerivationError::NotCanonical { .. }
    ));
    assert!(matches!(
        reject(text.replacen("\"-e\"", "\"\\u002de\"", 1)),
        DerivationError::NotCanonical { .. }
    ));
    // Swap two members: same content, wrong order.
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&String> = v.keys().collect();
    keys.reverse();
    let reordered = format!(
        "{{{}}}",
        keys.iter()
            .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), v[*k]))
            .collect::<Vec<_>>()
            .join(",")
    );
    let e = reject(reordered);
    assert!(
        matches!(e, DerivationError::NotCanonical { offset: 2 }),
        "{e}"
    );
    // Canonical but breaking a rule.
    let mut bad = d.clone();
    bad.sandbox.network = true;
    let e = Derivation::from_canonical_bytes(&bad.to_canonical_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("network access without a fixed output hash"),
        "{e}"
    );
    assert!(matches!(reject("[]".into()), DerivationError::Json(_)));
}

/// Pins the format: if this fails, the canonical encoding (and so every
/// action digest, and every cache key) changed. Bump [`FORMAT`] instead.
#[test]
fn golden() {
    let text = "[recipe]\nname = \"hello\"\nversion = \"2.12.1\"\n[inputs]\nsrc = { fetch = \"https://ftp.gnu.org/gnu/hello/hello-2.12.1.tar.gz\", sha256 = \"8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20\", unpack = \"tar.gz\" }\nsh = { seed = \"busybox\" }\n[build]\nroot = [\"sh\"]\nscript = \"cd $src && ./configure --prefix=$out && make install\"\nenv = { CFLAGS = \"-O2\" }\n[sandbox]\ntimeout = \"1h\"\n";
    let r = Recipe::parse(text, "golden.toml").unwrap();
    let resolved = [
        (
            "src".to_owned(),
            StorePath::parse("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-hello-2.12.1.tar.gz")
                .unwrap(),
        ),
        (
            "sh".to_owned(),
            StorePath::parse("/forge/store/11bgd045z0d4icpbc2yyz4gx48ak44la-busybox").unwrap(),
        ),
    ]
    .into();
    let d = Derivation::from_recipe(&r, &resolved, "x86_64-linux").unwrap();
    let bytes = String::from_utf8(d.to_canonical_bytes()).unwrap();
    assert_eq!(bytes, GOLDEN_BYTES);
    assert_eq!(d.action_digest().to_string(), GOLDEN_DIGEST);
    assert_eq!(
        d.placeholder("out").unwrap().to_string(),
        GOLDEN_PLACEHOLDER
    );
    assert_eq!(output_token("out"), GOLDEN_TOKEN);
}

const GOLDEN_BYTES: &str = include_str!("../../tests/golden/hello.drv.json");
const GOLDEN_DIGEST: &str =
    "blake3:211d5607268d07663bc0f3e6ccc189e346cc5fc6096b6abb57b72c66f06e1441";
const GOLDEN_PLACEHOLDER: &str = "/forge/store/s2nidbacrxv81wh0k5as7algfwlcz2hc-hello-2.12.1";
const GOLDEN_TOKEN: &str = "/0k1fw42spjqmai057kpq7pfa2prym2hxgva1nf814ir2brd33w4j";

fn resolve_all(r: &Recipe) -> BTreeMap<String, StorePath> {
    r.inputs
        .keys()
        .map(|k| (k.clone(), path(k, &format!("{k}-input"))))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn canonical_bytes_round_trip(r in arb_recipe(), system in "(x86_64|aarch64|riscv64)-(linux|darwin)") {
        let d = Derivation::from_recipe(&r, &resolve_all(&r), &system).unwrap();
        let bytes = d.to_canonical_bytes();
        let back = Derivation::from_canonical_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_canonical_bytes(), bytes);
        prop_assert_eq!(back.action_digest(), d.action_digest());
    }

    #[test]
    fn insertion_order_does_not_matter(
        env in proptest::collection::vec(("E[A-Z0-9_]{0,4}", "[a-z ]{0,6}"), 0..6),
        inputs in proptest::collection::btree_set("i[a-z0-9]{0,4}", 0..6),
        seed in any::<u64>(),
    ) {
        // One recipe, its maps filled forwards and backwards.
        let build = |rev: bool| {
            let mut text = "[recipe]\nname = \"x\"\nversion = \"1\"\n[inputs]\n".to_owned();
            let mut ins: Vec<&String> = inputs.iter().collect();
            let mut envs: Vec<&(String, String)> = env.iter().collect();
            if rev { ins.reverse(); envs.reverse(); }
            for i in &ins { text += &format!("{i} = {{ seed = \"s{seed}\" }}\n"); }
            text += "[build]\nscript = \"true\"\n[build.env]\n";
            // Later duplicates win in a map; keep the first of each key so
            // both orders mean the same recipe.
            let mut seen = BTreeSet::new();
            let firsts: Vec<_> = env.iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            let mut firsts: Vec<_> = firsts.into_iter().filter(|p| envs.contains(p)).collect();
            if rev { firsts.reverse(); }
            for (k, v) in firsts { text += &format!("{k} = \"{v}\"\n"); }
            let r = Recipe::parse(&text, "x").unwrap();
            let mut resolved = BTreeMap::new();
            for i in ins { resolved.insert(i.clone(), path(i, "in")); }
            Derivation::from_recipe(&r, &resolved, "x86_64-linux").unwrap()
        };
        let a = build(false);
        let b = build(true);
        prop_assert_eq!(a.to_canonical_bytes(), b.to_canonical_bytes());
        prop_assert_eq!(a.action_digest(), b.action_digest());
    }

    #[test]
    fn from_canonical_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Derivation::from_canonical_bytes(&bytes);
    }
}
