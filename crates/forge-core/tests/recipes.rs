//! Every recipe shipped in `recipes/*/recipe.toml` parses, and its canonical
//! form parses back to the same recipe.

use std::path::Path;

use forge_core::recipe::Recipe;

#[test]
fn every_shipped_recipe_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    let mut count = 0;
    for entry in std::fs::read_dir(&root).expect("recipes/ exists") {
        let dir = entry.expect("readable recipes/ entry").path();
        let file = dir.join("recipe.toml");
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable recipe");
        let shown = format!(
            "recipes/{}/recipe.toml",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        let recipe = Recipe::parse(&text, &shown).unwrap_or_else(|e| panic!("{e}"));
        let again = Recipe::parse(&recipe.to_toml(), &shown).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, recipe, "{shown}: canonical form differs");
        count += 1;
    }
    assert!(count >= 1, "no recipes found under {}", root.display());
}
