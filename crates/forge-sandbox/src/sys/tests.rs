use std::fs;
use std::path::Path;

use super::linux::{mount_points, unescape_mountinfo};
use super::*;
use crate::plan::{plan, Step};
use crate::spec::{Bind, SandboxSpec};

#[test]
fn read_only_binds_are_remounted_read_only_keeping_locked_flags() {
    let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
    spec.binds.push(Bind {
        host: "/h/in".into(),
        inside: "/forge/store/in".into(),
        writable: false,
    });
    let p = plan(&spec, &[true]).unwrap();
    let mut r = Recorder::default();
    apply_steps(&mut r, &p.steps).unwrap();
    let i = r
        .calls
        .iter()
        .position(|c| c.starts_with("mount Some(\"/oldroot/h/in\")"))
        .unwrap();
    assert_eq!(
        r.calls[i],
        "mount Some(\"/oldroot/h/in\") /newroot/forge/store/in None MS_BIND None"
    );
    assert_eq!(r.calls[i + 1], "  via ParentOverlay");
    assert_eq!(
        r.calls[i + 2],
        "mount None /newroot/forge/store/in None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
    );
    // Devices are bound directly (an overlay would make them unusable).
    let dev = r
        .calls
        .iter()
        .position(|c| c.starts_with("mount Some(\"/oldroot/dev/null\")"))
        .unwrap();
    assert_eq!(r.calls[dev + 1], "  via Direct");
    // The read-only trees are ramfs; every tmpfs is out of sight, behind
    // an overlay at its place (its options would name the invoker's uid).
    assert_eq!(
        r.calls[1],
        "mount Some(\"ramfs\") /newroot Some(\"ramfs\") MS_NOSUID | MS_NODEV None"
    );
    for c in r.calls.iter().filter(|c| c.contains("Some(\"tmpfs\")")) {
        assert!(c.contains(" /.hidden/"), "{c}");
    }
    let tmp = r
        .calls
        .iter()
        .position(|c| c == "chdir /.hidden/%2fnewroot%2ftmp")
        .unwrap();
    assert_eq!(
        r.calls[tmp + 1],
        "mount Some(\"overlay\") /newroot/tmp Some(\"overlay\") MS_NOSUID | MS_NODEV Some(\"lowerdir=e,upperdir=u,workdir=w\")"
    );
    assert!(r
        .calls
        .contains(&"chmod /.hidden/%2fnewroot%2ftmp/u 1777".to_owned()));
    assert!(r.calls.contains(
        &"mount Some(\"proc\") /newroot/proc Some(\"proc\") MS_NOSUID | MS_NODEV | MS_NOEXEC None"
            .to_owned()
    ));
    assert!(r.calls.contains(
        &"mount Some(\"devpts\") /newroot/dev/pts Some(\"devpts\") MS_NOSUID | MS_NOEXEC Some(\"newinstance,ptmxmode=0666,mode=620\")"
            .to_owned()
    ));
    assert_eq!(
        r.calls.last().unwrap(),
        "mount None /newroot None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND None"
    );
}

#[test]
fn a_bind_source_swapped_for_a_symlink_or_another_kind_is_refused_before_mounting() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let target = dir.path().join("target");
    fs::create_dir(&target).unwrap();
    // Planned as a directory or a file: a symlink is never followed.
    for is_dir in [true, false] {
        let e = Linux.bind(&link, &target, is_dir, Via::Direct).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
    }
    // A directory where the runner saw a file.
    let e = Linux
        .bind(dir.path(), &target, false, Via::Direct)
        .unwrap_err();
    assert!(e.to_string().contains("changed"), "{e}");
    assert_eq!(
        lstat_node(&link).unwrap(),
        crate::plan::Node::Symlink("/etc".into())
    );
    assert!(check_layer(&link).is_err());
    assert!(check_layer(dir.path()).is_ok());
}

#[test]
fn proc_gets_read_only_tunables_and_empty_masks_from_a_ramfs() {
    let mut r = Recorder::default();
    let proc = Path::new("/newroot/proc");
    apply_steps(
        &mut r,
        &[Step::Proc {
            target: proc.to_owned(),
        }],
    )
    .unwrap();
    let ro = "MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND";
    for name in PROC_READ_ONLY {
        let t = proc.join(name);
        let bind = format!("mount Some({t:?}) {} None MS_BIND None", t.display());
        let i = r.calls.iter().position(|c| *c == bind).expect(&bind);
        assert_eq!(
            r.calls[i + 1],
            format!("mount None {} None {ro} None", t.display())
        );
    }
    assert!(r.calls.contains(
        &"mount Some(\"ramfs\") /.hidden/proc-masks Some(\"ramfs\") MS_NOSUID | MS_NODEV | MS_NOEXEC None".to_owned()
    ));
    assert!(r
        .calls
        .contains(&format!("mount None /.hidden/proc-masks None {ro} None")));
    for (name, is_dir) in PROC_MASKED {
        let src = if is_dir { "empty.d" } else { "empty" };
        let bind = format!(
            "mount Some(\"/.hidden/proc-masks/{src}\") /newroot/proc/{name} None MS_BIND None"
        );
        assert!(r.calls.contains(&bind), "{bind} in {:#?}", r.calls);
    }
    assert_eq!(inode_limit(8 << 20), 1024);
    assert_eq!(inode_limit(1 << 30), 131072);
}

#[test]
fn mountinfo_escapes_are_decoded() {
    assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
    assert_eq!(unescape_mountinfo(r"/plain\"), r"/plain\");
    assert!(mount_points().unwrap().contains(Path::new("/")));
}

#[test]
fn a_tmpfs_is_mounted_directly_where_overlayfs_is_refused() {
    let spec = SandboxSpec::new(vec!["/bin/sh".into()]);
    let p = plan(&spec, &[]).unwrap();
    let mut r = Recorder {
        refuse_fstype: Some("overlay".into()),
        refuse_at: Some("/newroot/tmp".into()),
        ..Recorder::default()
    };
    let warnings = apply_steps(&mut r, &p.steps).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("overlayfs refused for /tmp ("));
    assert!(r.calls.contains(
        &"mount Some(\"tmpfs\") /newroot/tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=1777,size=1073741824,nr_inodes=131072\")".to_owned()
    ), "{:#?}", r.calls);
}

#[test]
fn build_and_tmp_sizes_reach_their_tmpfs_mounts() {
    let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
    spec.limits.tmp_size = 1 << 20;
    spec.limits.build_size = Some(4 << 30);
    let p = plan(&spec, &[]).unwrap();
    let mut r = Recorder::default();
    apply_steps(&mut r, &p.steps).unwrap();
    let tmpfs: Vec<&String> = r
        .calls
        .iter()
        .filter(|c| c.starts_with("mount Some(\"tmpfs\") /.hidden/"))
        .collect();
    assert_eq!(
        tmpfs,
        [
            "mount Some(\"tmpfs\") /.hidden/%2fnewroot%2fbuild Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=700,size=4294967296,nr_inodes=524288\")",
            "mount Some(\"tmpfs\") /.hidden/%2fnewroot%2ftmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=700,size=1048576,nr_inodes=1024\")",
            // /dev/shm keeps its own size.
            "mount Some(\"tmpfs\") /.hidden/%2fnewroot%2fdev%2fshm Some(\"tmpfs\") MS_NOSUID | MS_NODEV | MS_NOEXEC Some(\"mode=700,size=67108864,nr_inodes=8192\")",
        ],
        "{:#?}",
        r.calls
    );
    // Without a build size, /build is as large as /tmp (the profiles' one
    // `tmp-size`).
    spec.limits.build_size = None;
    let p = plan(&spec, &[]).unwrap();
    let mut r = Recorder::default();
    apply_steps(&mut r, &p.steps).unwrap();
    assert!(r.calls.contains(
        &"mount Some(\"tmpfs\") /.hidden/%2fnewroot%2fbuild Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=700,size=1048576,nr_inodes=1024\")".to_owned()
    ));
}

#[test]
fn entering_the_root_pivots_then_detaches_the_host() {
    let mut r = Recorder::default();
    enter_setup_root(&mut r, Path::new("/tmp")).unwrap();
    enter_new_root(&mut r, Path::new("/build")).unwrap();
    assert_eq!(
        r.calls,
        [
            "mount None / None MS_REC | MS_PRIVATE None",
            "mount Some(\"tmpfs\") /tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=0755,size=1m\")",
            "chdir /tmp",
            "mkdir /tmp/newroot 755",
            "mkdir /tmp/oldroot 755",
            "pivot_root /tmp /tmp/oldroot",
            "chdir /",
            "chdir /newroot",
            "pivot_root . .",
            "detach .",
            "chdir /",
            "chdir /build",
        ]
    );
}

#[test]
fn overlays_are_mounted_read_only_or_fall_back_to_the_first_layer() {
    use crate::plan::{plan_with_layers, LayerListing, Node};
    let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
    spec.root_layers = vec!["/s/a".into(), "/s/b,c:d".into()];
    let l = LayerListing {
        top: [("usr".into(), Node::Dir)].into_iter().collect(),
        etc: Default::default(),
    };
    let p = plan_with_layers(&spec, &[], &[l.clone(), l]).unwrap();
    let mut r = Recorder::default();
    assert!(apply_steps(&mut r, &p.steps).unwrap().is_empty());
    // Relative to the layers' common directory: no host path in mountinfo.
    let i = r
        .calls
        .iter()
        .position(|c| c == "chdir /oldroot/s")
        .unwrap_or_else(|| panic!("{:#?}", r.calls));
    assert_eq!(
        r.calls[i + 1],
        "mount Some(\"overlay\") /newroot/usr Some(\"overlay\") MS_RDONLY | MS_NOSUID | MS_NODEV Some(\"lowerdir=a/usr:b\\\\,c\\\\:d/usr\")"
    );

    let mut r = Recorder {
        refuse_fstype: Some("overlay".into()),
        refuse_at: Some("/newroot/usr".into()),
        ..Recorder::default()
    };
    let warnings = apply_steps(&mut r, &p.steps).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("overlayfs refused for /usr ("),
        "{warnings:?}"
    );
    let i = r
        .calls
        .iter()
        .position(|c| c.starts_with("mount Some(\"/oldroot/s/a/usr\")"))
        .unwrap();
    assert_eq!(
        r.calls[i..i + 3],
        [
            "mount Some(\"/oldroot/s/a/usr\") /newroot/usr None MS_BIND None",
            "  via ParentOverlay",
            "mount None /newroot/usr None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
        ]
    );
}
