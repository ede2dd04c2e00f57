use super::*;

#[test]
fn explore() {
    let cases = [
        "[recipe]\nname = \"x\"\nversion = \"1\"\nfoo = 1\n[build]\nscript = \"x\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[inputs.src]\nfetch = \"https://a/b\"\nsha256 = \"abc\"\n[build]\nscript = \"x\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[inputs]\nsrc = { fetch = \"https://a/b\", shaa256 = \"abc\" }\n[build]\nscript = \"x\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[inputs]\nsrc = \"https://a/b\"\n[build]\nscript = \"x\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"x\"\n[sandbox]\nnetwork = \"yes\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"x\"\n[sandbox]\nnetwork = true\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"x\n",
        "[recipe]\nname = \"x\"\n[build]\nscript = \"x\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"x\"\nenv = { A = \"${nope}\" }\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"x\"\n[sandbox]\nsilence_timeout = \"1h\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build.env]\nA = \"1\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"s\"\n[build.env]\nA = \"1\"\n",
        "recipe.name = \"x\"\nrecipe.version = \"1\"\nbuild.script = \"s\"\nbuild.env.A = \"1\"\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[build]\nscript = \"s\"\n[inputs.a.b]\n",
        "[recipe]\nname = \"x\"\nversion = \"1\"\n[[build]]\nscript = \"s\"\n",
    ];
    for c in cases {
        match Recipe::parse(c, "r.toml") {
            Ok(r) => println!("OK {r:?}\n{}", r.to_toml()),
            Err(e) => println!("{e}\n  kind={:?}\n", e.kind),
        }
    }
}
