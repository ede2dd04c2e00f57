//! Every ```toml block in docs/recipes.md parses; every ```toml,error block
//! fails with exactly the message in the ```text block that follows it.

use forge_core::diag::Hint;
use forge_core::recipe::Recipe;

const DOC: &str = include_str!("../../../docs/recipes.md");

/// A fenced block: its info string, first line number and content.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in doc.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some(Block {
                    info: info.trim().to_owned(),
                    line: i + 2,
                    text: String::new(),
                })
            }
            (Some(_), Some("")) => out.extend(current.take()),
            (Some(b), _) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(
        current.is_none(),
        "unterminated code block in docs/recipes.md"
    );
    out
}

#[test]
fn every_toml_example_parses_and_every_error_example_fails_as_documented() {
    let blocks = blocks(DOC);
    let mut checked = (0, 0);
    for (i, b) in blocks.iter().enumerate() {
        match b.info.as_str() {
            "toml" => {
                if let Err(e) = Recipe::parse(&b.text, "recipe.toml") {
                    panic!("docs/recipes.md:{}: example does not parse:\n{e}", b.line);
                }
                checked.0 += 1;
            }
            "toml,error" => {
                let e = match Recipe::parse(&b.text, "recipe.toml") {
                    Ok(_) => panic!("docs/recipes.md:{}: error example parses", b.line),
                    Err(e) => e,
                };
                let shown = blocks
                    .get(i + 1)
                    .filter(|n| n.info == "text")
                    .unwrap_or_else(|| {
                        panic!(
                            "docs/recipes.md:{}: a toml,error block must be followed by a text block with the message",
                            b.line
                        )
                    });
                // As the CLI prints it: the message, then the hint's line.
                let printed = match e.hint() {
                    Some(h) => format!("{e}\nhint: {h}"),
                    None => e.to_string(),
                };
                assert_eq!(
                    printed,
                    shown.text.trim_end(),
                    "docs/recipes.md:{}: the documented message is out of date",
                    shown.line
                );
                checked.1 += 1;
            }
            _ => {}
        }
    }
    assert!(
        checked.0 >= 5 && checked.1 >= 3,
        "found {checked:?} examples"
    );
}

/// A block that starts `# recipes/NAME/recipe.toml` is that file, less the
/// comment lines it opens with: the page shows what the suite builds.
#[test]
fn examples_that_name_a_recipe_file_are_that_file() {
    let mut seen = 0;
    for b in blocks(DOC).iter().filter(|b| b.info == "toml") {
        let Some(name) = b
            .text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with("recipes/") && l.ends_with("/recipe.toml"))
        else {
            continue;
        };
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name);
        let real = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("docs/recipes.md:{}: {name}: {e}", b.line));
        let body: Vec<&str> = real
            .lines()
            .skip_while(|l| l.starts_with('#') || l.is_empty())
            .collect();
        let shown: Vec<&str> = b.text.lines().skip(1).collect();
        assert_eq!(
            shown, body,
            "docs/recipes.md:{}: the example differs from {name}",
            b.line
        );
        seen += 1;
    }
    assert!(
        seen >= 2,
        "docs/recipes.md shows recipes/hello and recipes/attrs-sdist"
    );
}
