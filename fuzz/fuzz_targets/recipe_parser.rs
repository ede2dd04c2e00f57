//! Fuzzes `Recipe::parse`: it must never panic (errors are fine), and any
//! recipe it accepts must survive `to_toml` and parse back equal.
#![no_main]

use forge_core::recipe::Recipe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(recipe) = Recipe::parse(text, "fuzz.toml") {
            let canonical = recipe.to_toml();
            match Recipe::parse(&canonical, "fuzz-canonical.toml") {
                Ok(again) => {
                    assert_eq!(again, recipe, "canonical form changed the recipe:\n{canonical}");
                    assert_eq!(again.to_toml(), canonical, "canonical form is not a fixed point");
                }
                Err(e) => panic!("canonical form does not parse: {e}\n{canonical}"),
            }
        }
    }
});
