//! The database through a real store (here rather than in `tests/`: it
//! writes rows through [`Db`] directly, which only the store itself may).

use crate::gc::GcOptions;
use crate::tree::NoProgress;
use crate::{Realisation, Store};

#[test]
fn realisations_and_derivations_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path().join("root")).unwrap();
    let src = tmp.path().join("out");
    std::fs::write(&src, "built").unwrap();
    let out = store.add_path(&src, None, &NoProgress).unwrap().info.path;
    let digest = "blake3:".to_owned() + &"ab".repeat(32);
    store
        .db
        .register_derivation(&digest, "hello", b"{canonical}", &["out".to_owned()].into())
        .unwrap();
    let (bytes, outputs) = store.db().derivation(&digest).unwrap().unwrap();
    assert_eq!(bytes, b"{canonical}");
    assert_eq!(outputs, ["out".to_owned()].into());
    let r = Realisation {
        action_digest: digest.clone(),
        output: "out".into(),
        path: out.clone(),
        signatures: ["key:c2ln".to_owned()].into(),
    };
    store
        .db
        .register_realisations(std::slice::from_ref(&r))
        .unwrap();
    assert_eq!(store.db().realisation(&digest, "out").unwrap(), Some(r));
    assert_eq!(store.db().realisation(&digest, "dev").unwrap(), None);
    // Collecting the output drops its realisation with it.
    store.gc(&GcOptions::default(), |_| {}).unwrap();
    assert_eq!(store.db().realisation(&digest, "out").unwrap(), None);
}
