//! Helpers shared by the store's integration tests.

use forge_store::verify::VerifyOptions;
use forge_store::Store;

/// Re-hashes everything and asserts there is no problem.
pub fn assert_verifies_clean(store: &Store) {
    let report = store
        .verify(&VerifyOptions {
            check_contents: true,
            paths: None,
        })
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
