use std::path::Path;

use super::*;
use crate::sys::Recorder;

fn entry(name: &str, kind: EntryKind) -> HostEntry {
    HostEntry {
        name: name.into(),
        kind,
    }
}

fn host() -> HostRoot {
    HostRoot {
        entries: vec![
            entry("bin", EntryKind::Symlink("usr/bin".into())),
            entry("etc", EntryKind::Dir),
            entry("swapfile", EntryKind::File),
            entry("tmp", EntryKind::Dir),
        ],
        forge: None,
    }
}

#[test]
fn every_host_entry_is_bound_recursively_and_the_store_read_only() {
    let steps = plan(&host(), Path::new("/home/u/.local/share/forge/store")).unwrap();
    let mut r = Recorder::default();
    apply(&mut r, &steps).unwrap();
    assert_eq!(
        r.calls,
        [
            "mount None / None MS_REC | MS_PRIVATE None",
            "mount Some(\"tmpfs\") /tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=0755,size=1m\")",
            "mkdir /tmp/.forge-host 755",
            "pivot_root /tmp /tmp/.forge-host",
            "chdir /",
            "symlink /bin -> usr/bin",
            "mkdir /etc 755",
            "mount Some(\"/.forge-host/etc\") /etc None MS_BIND | MS_REC None",
            "touch /swapfile",
            "mount Some(\"/.forge-host/swapfile\") /swapfile None MS_BIND | MS_REC None",
            "mkdir /tmp 755",
            "mount Some(\"/.forge-host/tmp\") /tmp None MS_BIND | MS_REC None",
            "mkdir /forge 755",
            "mkdir /forge/store 755",
            "mount Some(\"/.forge-host/home/u/.local/share/forge/store\") /forge/store None MS_BIND None",
            // The recorder's locked flags: MS_RELATIME, kept.
            "mount None /forge/store None MS_RDONLY | MS_REMOUNT | MS_BIND | MS_RELATIME None",
            "detach /.forge-host",
            "rmdir /.forge-host",
            "mount None / None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND None",
        ]
    );
}

#[test]
fn a_host_forge_store_is_covered_and_the_rest_of_forge_kept() {
    let mut h = host();
    h.entries.push(entry("forge", EntryKind::Dir));
    h.forge = Some(vec![
        entry("etc", EntryKind::Dir),
        entry("store", EntryKind::Dir),
        entry("link", EntryKind::Symlink("/x".into())),
    ]);
    let steps = plan(&h, Path::new("/srv/forge/store")).unwrap();
    // The host's /forge is not bound as a whole (its store would show),
    // its other entries are.
    assert!(!steps.iter().any(|s| matches!(s,
        ViewStep::BindTree { target, .. } if target == Path::new("/forge"))));
    assert!(steps.contains(&ViewStep::BindTree {
        source: "/.forge-host/forge/etc".into(),
        target: "/forge/etc".into(),
        is_dir: true,
    }));
    assert!(steps.contains(&ViewStep::Symlink {
        target: "/x".into(),
        link: "/forge/link".into(),
    }));
    assert!(!steps.iter().any(|s| matches!(s,
        ViewStep::BindTree { source, .. } if source.ends_with("forge/store"))));
    assert!(steps.contains(&ViewStep::BindStore {
        source: "/.forge-host/srv/forge/store".into(),
        target: "/forge/store".into(),
    }));
}

#[test]
fn without_tmp_the_view_is_mounted_on_another_directory() {
    let h = HostRoot {
        entries: vec![
            entry("bin", EntryKind::Symlink("usr/bin".into())),
            entry("usr", EntryKind::Dir),
        ],
        forge: None,
    };
    let steps = plan(&h, Path::new("/s")).unwrap();
    assert_eq!(steps[1], ViewStep::RootTmpfs { on: "/usr".into() });
    let none = HostRoot {
        entries: vec![entry("bin", EntryKind::Symlink("usr/bin".into()))],
        forge: None,
    };
    assert!(matches!(
        plan(&none, Path::new("/s")),
        Err(ViewError::NoDirectory)
    ));
}

#[test]
fn the_host_root_is_listed_with_its_symlinks() {
    let h = HostRoot::read().unwrap();
    assert!(h
        .entries
        .iter()
        .any(|e| e.name == "proc" && e.kind == EntryKind::Dir));
    assert!(h.entries.windows(2).all(|w| w[0].name < w[1].name));
}
