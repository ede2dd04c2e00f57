use super::*;
use crate::spec::{Bind, SandboxSpec};

fn spec() -> SandboxSpec {
    let mut s = SandboxSpec::new(vec!["/bin/sh".into()]);
    s.binds = vec![
        Bind {
            host: "/host/store/abc-x".into(),
            inside: "/forge/store/abc-x".into(),
            writable: false,
        },
        Bind {
            host: "/host/out".into(),
            inside: "/forge/store/out".into(),
            writable: true,
        },
        Bind {
            host: "/usr/bin/busybox".into(),
            inside: "/bin/sh".into(),
            writable: false,
        },
    ];
    s
}

#[test]
fn inputs_are_read_only_outputs_writable_and_everything_nosuid_nodev() {
    let p = plan(&spec(), &[true, true, false]).unwrap();
    let bind = |t: &str| {
        p.steps
            .iter()
            .find_map(|s| match s {
                Step::Bind {
                    target,
                    flags,
                    source,
                    is_dir,
                } if target == Path::new(t) => Some((source.clone(), *flags, *is_dir)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no bind at {t}"))
    };
    assert_eq!(
        bind("/newroot/forge/store/abc-x"),
        (PathBuf::from("/oldroot/host/store/abc-x"), Flags::RO, true)
    );
    assert_eq!(
        bind("/newroot/forge/store/out"),
        (PathBuf::from("/oldroot/host/out"), Flags::SAFE, true)
    );
    assert!(!bind("/newroot/bin/sh").2, "a file bind");
    // Device nodes keep dev (they are devices) but nothing else does.
    assert!(!bind("/newroot/dev/null").1.nodev);
    for s in &p.steps {
        match s {
            Step::Bind { target, flags, .. } if !target.starts_with("/newroot/dev") => {
                assert!(flags.nosuid && flags.nodev, "{target:?}")
            }
            Step::Tmpfs { flags, .. } | Step::Ramfs { flags, .. } => {
                assert!(flags.nosuid && flags.nodev)
            }
            _ => {}
        }
    }
    assert_eq!(p.steps.last(), Some(&Step::RemountRootReadOnly));
    assert_eq!(
        p.steps.first(),
        Some(&Step::Ramfs {
            target: NEW_ROOT.into(),
            flags: Flags::SAFE
        })
    );
}

#[test]
fn landlock_rules_follow_the_binds() {
    let p = plan(&spec(), &[true, true, false]).unwrap();
    let ro: Vec<_> = p
        .access
        .read_exec
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let rw: Vec<_> = p
        .access
        .read_write
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    assert_eq!(ro, ["/", "/bin/sh", "/forge/store/abc-x", "/proc", "/etc"]);
    assert_eq!(rw, ["/build", "/tmp", "/forge/store/out", "/dev/shm"]);
    assert_eq!(p.access.devices, [PathBuf::from("/dev")]);
}

#[test]
fn a_bind_that_is_a_symlink_is_recreated_as_a_symlink_not_bound() {
    let mut s = spec();
    s.binds.push(Bind {
        host: "/host/store/evil".into(),
        inside: "/forge/store/evil".into(),
        writable: false,
    });
    let nodes = [
        Node::Dir,
        Node::Dir,
        Node::File,
        Node::Symlink("../../../../etc".into()),
    ];
    let p = plan_with_layers(&s, &nodes, &[]).unwrap();
    assert!(
        !p.steps.iter().any(|s| matches!(s, Step::Bind { source, .. }
            if source.starts_with("/oldroot/host/store/evil"))),
        "{:#?}",
        p.steps
    );
    assert!(p.steps.contains(&Step::Symlink {
        target: "../../../../etc".into(),
        link: "/newroot/forge/store/evil".into()
    }));
    assert!(!p
        .access
        .read_exec
        .contains(&PathBuf::from("/forge/store/evil")));
}

#[test]
fn parents_are_bound_before_children() {
    let mut s = spec();
    s.binds.insert(
        0,
        Bind {
            host: "/h/deep".into(),
            inside: "/a/b/c".into(),
            writable: false,
        },
    );
    s.binds.push(Bind {
        host: "/h/top".into(),
        inside: "/a".into(),
        writable: false,
    });
    let p = plan(&s, &[true; 5]).unwrap();
    let pos = |t: &str| {
        p.steps
            .iter()
            .position(|s| matches!(s, Step::Bind { target, .. } if target == Path::new(t)))
            .unwrap()
    };
    assert!(pos("/newroot/a") < pos("/newroot/a/b/c"));
}

#[test]
fn bad_specs_are_refused() {
    let mut s = spec();
    s.binds[0].inside = "relative".into();
    assert!(matches!(plan(&s, &[]), Err(PlanError::BadInsidePath(_))));
    let mut s = spec();
    s.binds[0].inside = "/forge/../etc".into();
    assert!(matches!(plan(&s, &[]), Err(PlanError::BadInsidePath(_))));
    for reserved in ["/proc/x", "/dev", "/tmp", "/etc", "/build"] {
        let mut s = spec();
        s.binds[0].inside = reserved.into();
        assert!(
            matches!(plan(&s, &[]), Err(PlanError::Reserved(_))),
            "{reserved}"
        );
    }
    let mut s = spec();
    s.binds[0].inside = "/tmp/x".into();
    assert!(plan(&s, &[true, true, false]).is_ok());
    let mut s = spec();
    s.command = vec!["sh".into()];
    assert!(matches!(plan(&s, &[]), Err(PlanError::BadCommand(_))));
}

#[test]
fn identity_files_name_the_fixed_build_user() {
    let p = plan(&spec(), &[true, true, false]).unwrap();
    let passwd = p
        .steps
        .iter()
        .find_map(|s| match s {
            Step::WriteFile { path, contents, .. } if path.ends_with("passwd") => {
                Some(contents.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(passwd.contains("forge:x:1000:100:"), "{passwd}");
}

fn listing(top: &[(&str, Node)], etc: &[(&str, Node)]) -> LayerListing {
    let map = |v: &[(&str, Node)]| {
        v.iter()
            .map(|(n, k)| (OsString::from(n), k.clone()))
            .collect()
    };
    LayerListing {
        top: map(top),
        etc: map(etc),
    }
}

/// Two layers: a Debian-like seed (merged /usr, its own etc) and an
/// extra tree.
fn layered() -> (SandboxSpec, Vec<LayerListing>) {
    let mut s = SandboxSpec::new(vec!["/bin/sh".into()]);
    s.binds = vec![Bind {
        host: "/etc/resolv.conf".into(),
        inside: "/etc/resolv.conf".into(),
        writable: false,
    }];
    s.root_layers = vec!["/store/a-seed".into(), "/store/b-extra".into()];
    let a = listing(
        &[
            ("bin", Node::Symlink("usr/bin".into())),
            ("usr", Node::Dir),
            ("lib", Node::Dir),
            ("VERSION", Node::File),
            ("proc", Node::Dir),
            ("tmp", Node::Dir),
            ("forge", Node::Dir),
            ("etc", Node::Dir),
            ("fifo", Node::Other),
            ("opt", Node::File),
        ],
        &[
            ("passwd", Node::File),
            ("resolv.conf", Node::File),
            ("os-release", Node::File),
            ("ssl", Node::Dir),
        ],
    );
    let b = listing(
        &[
            ("bin", Node::Dir),
            ("usr", Node::Dir),
            ("share", Node::Dir),
            ("opt", Node::Dir),
            ("etc", Node::Dir),
        ],
        &[("ssl", Node::Dir), ("hosts", Node::File)],
    );
    (s, vec![a, b])
}

#[test]
fn root_layers_become_symlinks_binds_and_overlays() {
    let (s, l) = layered();
    let p = plan_with_layers(&s, &[Node::File], &l).unwrap();
    let at = |t: &str| {
        p.steps
            .iter()
            .filter(|s| match s {
                Step::Symlink { link: x, .. }
                | Step::Bind { target: x, .. }
                | Step::Overlay { target: x, .. } => x == Path::new(t),
                _ => false,
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    // The earliest layer wins: its symlink hides b's bin directory.
    assert_eq!(
        at("/newroot/bin"),
        [Step::Symlink {
            target: "usr/bin".into(),
            link: "/newroot/bin".into()
        }]
    );
    // In both layers: a read-only overlay, earliest layer first.
    assert_eq!(
        at("/newroot/usr"),
        [Step::Overlay {
            lower: vec![
                "/oldroot/store/a-seed/usr".into(),
                "/oldroot/store/b-extra/usr".into()
            ],
            target: "/newroot/usr".into(),
            flags: Flags::RO
        }]
    );
    // In one layer: a read-only bind.
    for (t, src) in [
        ("/newroot/lib", "/oldroot/store/a-seed/lib"),
        ("/newroot/share", "/oldroot/store/b-extra/share"),
    ] {
        assert_eq!(
            at(t),
            [Step::Bind {
                source: src.into(),
                target: t.into(),
                is_dir: true,
                flags: Flags::RO
            }]
        );
    }
    // A top-level file; and a file in the first layer hides a directory.
    for (t, src) in [
        ("/newroot/VERSION", "/oldroot/store/a-seed/VERSION"),
        ("/newroot/opt", "/oldroot/store/a-seed/opt"),
    ] {
        assert_eq!(
            at(t),
            [Step::Bind {
                source: src.into(),
                target: t.into(),
                is_dir: false,
                flags: Flags::RO
            }]
        );
    }
    // The sandbox's own directories are not taken from layers; other
    // node kinds are ignored.
    for t in [
        "/newroot/proc",
        "/newroot/tmp",
        "/newroot/forge",
        "/newroot/fifo",
    ] {
        assert!(
            at(t).iter().all(
                |s| !matches!(s, Step::Bind { source, .. } if source.starts_with("/oldroot/store"))
            ),
            "{t}: {:?}",
            at(t)
        );
    }
    assert!(at("/newroot/fifo").is_empty());
}

#[test]
fn layers_etc_entries_join_the_generated_etc_which_wins() {
    let (s, l) = layered();
    let p = plan_with_layers(&s, &[Node::File], &l).unwrap();
    let sources = |t: &str| {
        p.steps
            .iter()
            .filter_map(|s| match s {
                Step::Bind { source, target, .. } if target == Path::new(t) => {
                    Some(vec![source.clone()])
                }
                Step::Overlay { lower, target, .. } if target == Path::new(t) => {
                    Some(lower.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Generated files win over the layers' passwd and hosts.
    assert!(sources("/newroot/etc/passwd").is_empty());
    assert!(sources("/newroot/etc/hosts").is_empty());
    // A bind wins over a layer's file.
    assert_eq!(
        sources("/newroot/etc/resolv.conf"),
        [vec![PathBuf::from("/oldroot/etc/resolv.conf")]]
    );
    assert_eq!(
        sources("/newroot/etc/os-release"),
        [vec![PathBuf::from("/oldroot/store/a-seed/etc/os-release")]]
    );
    assert_eq!(
        sources("/newroot/etc/ssl"),
        [vec![
            PathBuf::from("/oldroot/store/a-seed/etc/ssl"),
            PathBuf::from("/oldroot/store/b-extra/etc/ssl")
        ]]
    );
    // After forge's /etc exists and its files are written.
    let pos = |pred: &dyn Fn(&Step) -> bool| p.steps.iter().position(pred).unwrap();
    let passwd = pos(&|s| matches!(s, Step::WriteFile { path, .. } if path.ends_with("passwd")));
    let ssl = pos(&|s| matches!(s, Step::Overlay { target, .. } if target.ends_with("etc/ssl")));
    assert!(passwd < ssl);
    assert_eq!(p.steps.last(), Some(&Step::RemountRootReadOnly));
    assert_eq!(
        p.access.read_exec[0],
        PathBuf::from("/"),
        "layers are readable and executable"
    );
}

#[test]
fn binds_inside_layer_directories_and_bad_layers_are_refused() {
    let (mut s, l) = layered();
    s.binds.push(Bind {
        host: "/h/x".into(),
        inside: "/usr/local/x".into(),
        writable: false,
    });
    let e = plan_with_layers(&s, &[Node::File, Node::File], &l).unwrap_err();
    assert_eq!(
        e,
        PlanError::BindInLayer {
            bind: "/usr/local/x".into(),
            entry: "/usr".into()
        }
    );
    assert!(!e.to_string().contains("hint"), "{e}");
    assert!(
        e.hint().unwrap().contains("put the file into a layer"),
        "{e}"
    );
    let (mut s, l) = layered();
    s.root_layers[1] = "relative".into();
    assert_eq!(
        plan_with_layers(&s, &[Node::File], &l),
        Err(PlanError::BadLayer("relative".into()))
    );
    let (s, l) = layered();
    assert_eq!(
        plan(&s, &[false]),
        Err(PlanError::LayerListing {
            listed: 0,
            declared: 2
        })
    );
    assert!(plan_with_layers(&s, &[Node::File], &l[..1]).is_err());
}
