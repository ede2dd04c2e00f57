//! The sandbox against hostile builders. Each test is one attempt to get out
//! or to see what is not declared; it fails if the attempt succeeds. The
//! builder is busybox's shell (`busybox-static`, installed by scripts/test),
//! bound read-only at /bin/busybox, or, for what a shell cannot attempt,
//! `forge-hostile` (sandbox/hostile, built by scripts/test) in a root layer
//! with its shared libraries. The suite runs as root and, via
//! scripts/test, again as an unprivileged user.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::{oracle_present, write, Env};

const BUSYBOX: &str = "/bin/busybox";

/// Runs `script` with busybox sh in the sandbox, with extra forge args.
fn sandboxed(env: &Env, extra: &[&str], script: &str) -> Output {
    let mut cmd = env.forge();
    cmd.args(["sandbox", "run", "--ro", BUSYBOX])
        .args(extra)
        .args(["--", BUSYBOX, "sh", "-c"])
        .arg(format!("export PATH=/bin; alias_all() {{ :; }}; {script}"))
        .env("PATH", "/usr/bin:/bin");
    cmd.output().expect("running forge sandbox run")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts `text` contains every one of `wanted`.
fn assert_contains_all(text: &str, wanted: &[&str]) {
    for want in wanted {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
}

/// Asserts no process on the host has `needle` in its command line.
pub(crate) fn assert_no_process_matching(needle: &str) {
    std::thread::sleep(Duration::from_millis(300));
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let ps = stdout(&ps);
    let left: Vec<&str> = ps.lines().filter(|l| l.contains(needle)).collect();
    assert!(left.is_empty(), "survivors: {left:?}");
}

pub(crate) fn ready() -> Option<Env> {
    oracle_present("busybox-static (/bin/busybox)", Path::new(BUSYBOX).exists()).then(Env::new)
}

/// busybox applets by absolute path (there is no /bin/<applet> inside).
fn bb(applet: &str) -> String {
    format!("{BUSYBOX} {applet}")
}

#[test]
fn exit_status_and_output_pass_through() {
    let Some(env) = ready() else { return };
    let o = sandboxed(&env, &[], "echo out; echo err >&2; exit 7");
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"));
}

#[test]
fn host_files_are_not_there() {
    let Some(env) = ready() else { return };
    let db = env.root().join("db");
    std::fs::create_dir_all(&db).unwrap();
    write(&db.join("store.sqlite"), "secret db");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let script = format!(
        "for f in /etc/shadow /etc/hostname /root {home} {db} /usr/bin /var/lib /proc/1/root/etc/shadow /proc/self/root/etc/shadow; do \
           if {cat} $f >/dev/null 2>&1 || {ls} $f >/dev/null 2>&1; then echo LEAK $f; fi; done; \
         {cat} /proc/1/root/etc/passwd 2>/dev/null || echo PID1-HIDDEN; {cat} /proc/2/root/etc/passwd",
        db = db.display(),
        cat = bb("cat"),
        ls = bb("ls"),
    );
    let o = sandboxed(&env, &[], &script);
    let out = stdout(&o);
    assert!(!out.contains("LEAK"), "{out}");
    // pid 1 is forge's own init, which the builder cannot look into; the
    // builder's own root (pid 2) is the sandbox's.
    assert!(out.contains("PID1-HIDDEN"), "{out}");
    assert!(out.contains("forge:x:1000:100:"), "pid 2's root: {out}");
}

#[test]
fn symlinks_planted_in_inputs_resolve_inside() {
    let Some(env) = ready() else { return };
    let input = env.path("input");
    std::fs::create_dir_all(&input).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", input.join("shadow")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", input.join("up")).unwrap();
    let script = format!(
        "{cat} {i}/shadow && echo LEAK1; {cat} {i}/up | {grep} -q '^root:x:0:0:root:/root' && echo LEAK2; true",
        cat = bb("cat"),
        grep = bb("grep"),
        i = input.display()
    );
    let o = sandboxed(&env, &["--ro", input.to_str().unwrap()], &script);
    assert!(!stdout(&o).contains("LEAK"), "{}", stdout(&o));
}

#[test]
fn writes_go_only_to_build_tmp_and_writable_paths() {
    let Some(env) = ready() else { return };
    let input = env.path("input");
    let out = env.path("out");
    write(&input.join("f"), "input");
    std::fs::create_dir_all(&out).unwrap();
    let script = format!(
        "for f in {i}/f {i}/new /new /etc/passwd /bin/x /forge /dev/x; do \
           ( echo x > $f ) 2>/dev/null && echo WROTE $f; done; \
         echo ok > /build/a && echo ok > /tmp/b && echo ok > {o}/result && echo writable-ok",
        i = input.display(),
        o = out.display()
    );
    let o = sandboxed(
        &env,
        &[
            "--ro",
            input.to_str().unwrap(),
            "--rw",
            out.to_str().unwrap(),
        ],
        &script,
    );
    let s = stdout(&o);
    assert!(!s.contains("WROTE"), "{s}");
    assert!(s.contains("writable-ok"), "{s}");
    assert_eq!(std::fs::read_to_string(input.join("f")).unwrap(), "input");
    // What the build user (uid 1000 inside) wrote belongs to whoever ran forge.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(out.join("result")).unwrap();
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    assert_eq!(meta.gid(), nix::unistd::getegid().as_raw());
}

#[test]
fn the_host_network_is_unreachable() {
    let Some(env) = ready() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "{wget} -q -T 2 -O - http://127.0.0.1:{port}/ && echo CONNECTED; \
         echo hi | {nc} -w 1 127.0.0.1 {port} && echo CONNECTED; \
         echo hi | {nc} -u -w 1 127.0.0.1 {port}; true",
        wget = bb("wget"),
        nc = bb("nc"),
    );
    let o = sandboxed(&env, &[], &script);
    assert!(!stdout(&o).contains("CONNECTED"), "{}", stdout(&o));
    let mut accepted = 0;
    while let Ok((mut s, _)) = listener.accept() {
        let mut b = Vec::new();
        let _ = s.read_to_end(&mut b);
        accepted += 1;
    }
    assert_eq!(accepted, 0, "a connection reached the host");
}

#[test]
fn loopback_works_inside() {
    let Some(env) = ready() else { return };
    let script = format!(
        "{sleep} 3 | {nc} -l -p 5555 > /tmp/got & server=$!; \
         for i in $({seq} 50); do echo ping | {nc} -w 1 127.0.0.1 5555 2>/dev/null && break; {sleep} 0.1; done; \
         wait $server; {cat} /tmp/got",
        seq = bb("seq"),
        nc = bb("nc"),
        sleep = bb("sleep"),
        cat = bb("cat"),
    );
    let o = sandboxed(&env, &[], &script);
    assert_eq!(
        stdout(&o),
        "ping\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn host_processes_are_invisible_and_unsignalable() {
    let Some(env) = ready() else { return };
    let me = std::process::id();
    let script = format!(
        "{ls} /proc | {grep} -c '^[0-9]'; {kill} -0 {me} 2>/dev/null && echo SIGNALLED; true",
        ls = bb("ls"),
        grep = bb("grep"),
        kill = bb("kill"),
    );
    let o = sandboxed(&env, &[], &script);
    let s = stdout(&o);
    assert!(!s.contains("SIGNALLED"), "{s}");
    let visible: u32 = s.lines().next().unwrap().trim().parse().unwrap();
    assert!(visible <= 5, "sees {visible} processes: {s}");
}

#[test]
fn mount_and_chroot_are_refused() {
    let Some(env) = ready() else { return };
    let script = format!(
        "{mount} -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; \
         {mount} -o remount,rw / 2>/dev/null && echo REMOUNTED; \
         {chroot} / /bin/busybox true 2>/dev/null && echo CHROOTED; true",
        mount = bb("mount"),
        chroot = bb("chroot"),
    );
    let o = sandboxed(&env, &[], &script);
    let s = stdout(&o);
    for bad in ["MOUNTED", "REMOUNTED", "CHROOTED"] {
        assert!(!s.contains(bad), "{s}");
    }
}

#[test]
fn nothing_of_the_invoking_environment_leaks() {
    let Some(env) = ready() else { return };
    let o = env
        .forge()
        .env("FORGE_TEST_SECRET", "hunter2")
        .env("TZ", "America/New_York")
        .env("LANG", "fr_FR.UTF-8")
        .args(["sandbox", "run", "--ro", BUSYBOX, "--", BUSYBOX, "sh", "-c"])
        .arg(format!(
            "{env}; echo host=$({hostname}) uid=$({id} -u) gid=$({id} -g) pwd=$(pwd); {date} +%Z",
            env = bb("env"),
            hostname = bb("hostname"),
            id = bb("id"),
            date = bb("date"),
        ))
        .output()
        .unwrap();
    let s = stdout(&o);
    assert!(!s.contains("hunter2"), "{s}");
    assert_contains_all(
        &s,
        &[
            "TZ=UTC",
            "LANG=C.UTF-8",
            "HOME=/homeless-shelter",
            "TMPDIR=/tmp",
            "SOURCE_DATE_EPOCH=",
            "host=localhost uid=1000 gid=100 pwd=/build",
            "\nUTC\n",
        ],
    );
}

#[test]
fn an_infinite_loop_dies_at_the_timeout_with_all_its_descendants() {
    let Some(env) = ready() else { return };
    let marker = format!("forge-loop-{}", std::process::id());
    let start = Instant::now();
    let o = sandboxed(
        &env,
        &["--timeout", "1"],
        &format!(
            "{sh} -c 'while :; do :; done' {marker} & {setsid} {sh} -c 'exec {sleep} 1000' & while :; do :; done",
            sh = bb("sh"),
            setsid = bb("setsid"),
            sleep = bb("sleep"),
        ),
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(137));
    assert!(String::from_utf8_lossy(&o.stderr).contains("timeout"));
    assert_no_process_matching(&marker);
    assert_no_process_matching("sleep 1000");
}

#[test]
fn a_daemon_does_not_outlive_the_build() {
    let Some(env) = ready() else { return };
    let o = sandboxed(
        &env,
        &[],
        &format!(
            "{setsid} {nohup} {sleep} 777 >/dev/null 2>&1 & echo started",
            setsid = bb("setsid"),
            nohup = bb("nohup"),
            sleep = bb("sleep"),
        ),
    );
    assert!(o.status.success());
    assert_no_process_matching("sleep 777");
}

#[test]
fn a_silent_build_dies_at_the_silence_timeout_while_a_chatty_one_lives() {
    let Some(env) = ready() else { return };
    let start = Instant::now();
    let o = sandboxed(
        &env,
        &["--silence-timeout", "1"],
        &format!(
            "for i in 1 2 3 4; do echo tick; {sleep} 0.4; done; {sleep} 60",
            sleep = bb("sleep")
        ),
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(137));
    assert_eq!(stdout(&o), "tick\ntick\ntick\ntick\n", "output is relayed");
    assert!(String::from_utf8_lossy(&o.stderr).contains("without output"));
}

#[test]
fn every_in_process_layer_is_on() {
    let Some(env) = ready() else { return };
    let o = sandboxed(
        &env,
        &[],
        &format!(
            "{} -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status",
            bb("grep")
        ),
    );
    let s = stdout(&o);
    assert_contains_all(
        &s,
        &[
            "CapInh:\t0000000000000000",
            "CapPrm:\t0000000000000000",
            "CapEff:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "CapAmb:\t0000000000000000",
            "NoNewPrivs:\t1",
            "Seccomp:\t2",
        ],
    );
}

#[test]
fn setuid_bits_and_new_namespaces_are_refused() {
    let Some(env) = ready() else { return };
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let f = format!("{}/tool", out.display());
    let script = format!(
        "echo x > {f}; {chmod} 4755 {f} && echo SETUID; {chmod} 2755 {f} && echo SETGID; \
         {chmod} 755 {f} && echo plain-ok; \
         {unshare} -U {bb} true && echo USERNS; {unshare} -m {bb} true && echo MOUNTNS; true",
        chmod = bb("chmod"),
        unshare = bb("unshare"),
        bb = BUSYBOX,
    );
    let o = sandboxed(&env, &["--rw", out.to_str().unwrap()], &script);
    let s = stdout(&o);
    for bad in ["SETUID", "SETGID", "USERNS", "MOUNTNS"] {
        assert!(!s.contains(bad), "{s}");
    }
    assert!(s.contains("plain-ok"), "{s}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn a_fork_bomb_hits_the_process_limit_and_dies_with_the_build() {
    let Some(env) = ready() else { return };
    let marker = format!("forge-bomb-{}", std::process::id());
    let start = Instant::now();
    let o = sandboxed(
        &env,
        &["--max-processes", "64", "--timeout", "3"],
        &format!(
            ": {marker}; bomb() {{ bomb | bomb & }}; bomb; {sleep} 2",
            sleep = bb("sleep")
        ),
    );
    // pid 1 tries to live two seconds (its own fork of `sleep` may fail
    // at the limit too), then its exit or the timeout ends everything;
    // meanwhile the bomb runs into the limit. Any exit status of the
    // builder is fine; forge itself must not fail.
    assert!(start.elapsed() < Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("error: sandbox"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("can't fork"),
        "the limit was hit"
    );
    assert_no_process_matching(&marker);
}

#[test]
fn a_filled_tmp_fails_cleanly_at_its_size() {
    let Some(env) = ready() else { return };
    let o = sandboxed(
        &env,
        &["--tmp-size", "8M"],
        &format!(
            "{dd} if=/dev/zero of=/tmp/fill bs=1M count=64 2>/tmp/err; echo dd=$?; {grep} -c 'No space' /tmp/err; {du} -m /tmp/fill",
            dd = bb("dd"),
            grep = bb("grep"),
            du = bb("du")
        ),
    );
    let s = stdout(&o);
    assert!(s.contains("dd=1"), "{s}");
    let used: u64 = s
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(used <= 8, "{s}");
}

#[test]
fn sandbox_check_reports_every_layer_on_this_kernel() {
    let env = Env::new();
    let out = env.run(&["sandbox", "check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // CI's machines have landlock ABI >= 6, seccomp and user namespaces:
    // anything less here is a regression, not a skip.
    assert_eq!(v["sandbox_ran"], true, "{v:#}");
    assert_eq!(
        v["enforced"]["landlock"]["status"], "fully_enforced",
        "{v:#}"
    );
    assert_eq!(v["enforced"]["seccomp"], true);
    assert_eq!(v["enforced"]["capabilities_dropped"], true);
    assert_eq!(v["hard_mode_ok"], true);
    assert!(out.status.success());
    let human = env.ok(&["sandbox", "check"]);
    assert!(human.contains("landlock       fully enforced"), "{human}");
}

#[test]
fn the_fixed_output_profile_has_network_but_still_no_host_filesystem() {
    let Some(env) = ready() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = String::new();
        let _ = s.read_to_string(&mut b);
        b
    });
    let script = format!(
        "echo fetched | {nc} -w 2 127.0.0.1 {port}; \
         {cat} /etc/shadow >/dev/null 2>&1 && echo LEAK; {ls} /root >/dev/null 2>&1 && echo LEAK; \
         {cat} /etc/resolv.conf 2>/dev/null | {md5}",
        nc = bb("nc"),
        cat = bb("cat"),
        ls = bb("ls"),
        md5 = bb("md5sum"),
    );
    let o = sandboxed(&env, &["--net"], &script);
    assert_eq!(
        server.join().unwrap(),
        "fetched\n",
        "the host server got the data"
    );
    let s = stdout(&o);
    assert!(!s.contains("LEAK"), "{s}");
    if let Ok(host) = std::fs::read("/etc/resolv.conf") {
        let want = std::process::Command::new("md5sum")
            .arg("/etc/resolv.conf")
            .output()
            .unwrap();
        let want = stdout(&want);
        let want = want.split_whitespace().next().unwrap();
        assert!(
            !host.is_empty() && s.contains(want),
            "resolv.conf is the host's: {s}"
        );
    }
}

/// Layer A: busybox as /bin/sh, its own etc; layer B: /usr/share/x and a
/// /bin of its own (so /bin is an overlay of both).
fn two_root_layers(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let a = env.path("layer-a");
    let b = env.path("layer-b");
    std::fs::create_dir_all(a.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, a.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", a.join("bin/sh")).unwrap();
    write(&a.join("etc/os-release"), "ID=forge-seed\n");
    write(&a.join("etc/passwd"), "root:x:0:0:LAYER:/:/bin/sh\n");
    write(&b.join("usr/share/x"), "from layer b\n");
    write(&b.join("bin/extra"), "extra from layer b\n");
    write(&b.join("bin/sh"), "layer a's symlink wins\n");
    (a, b)
}

#[test]
fn root_layers_form_a_read_only_root() {
    let Some(env) = ready() else { return };
    let (a, b) = two_root_layers(&env);
    let o = env
        .forge()
        .args(["sandbox", "run", "--root-layer"])
        .arg(&a)
        .arg("--root-layer")
        .arg(&b)
        .args(["--", "/bin/sh", "-c"])
        .arg(
            "cat /usr/share/x; cat /bin/extra; cat /etc/os-release; grep -c LAYER /etc/passwd; \
             for f in /bin/new /bin/busybox /usr/share/new /usr/share/x /new /etc/new; do \
               ( echo x > $f ) 2>/dev/null && echo WROTE $f; done; echo done",
        )
        .output()
        .unwrap();
    let s = stdout(&o);
    assert_eq!(
        s,
        "from layer b\nextra from layer b\nID=forge-seed\n0\ndone\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "no warning (the overlay worked): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(b.join("usr/share/x")).unwrap(),
        "from layer b\n"
    );
    assert!(!b.join("bin/new").exists() && !a.join("bin/new").exists());
}

#[test]
fn a_bind_inside_a_root_layer_directory_is_refused_with_a_hint() {
    let Some(env) = ready() else { return };
    let (a, b) = two_root_layers(&env);
    let o = env
        .forge()
        .args(["sandbox", "run", "--root-layer"])
        .arg(&a)
        .arg("--root-layer")
        .arg(&b)
        .args(["--ro", "/bin/busybox", "--", "/bin/sh", "-c", "echo RAN"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!stdout(&o).contains("RAN"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_contains_all(&err, &["\"/bin/busybox\"", "root layers", "hint:"]);
}

#[test]
fn a_profile_file_sets_the_environment_identity_and_limits() {
    let Some(env) = ready() else { return };
    let text = forge_sandbox_profile_text(&env, "hermetic")
        .replace("name = \"hermetic\"", "name = \"custom\"")
        .replace("hostname = \"localhost\"", "hostname = \"custom-host\"")
        .replace(
            "TZ = \"UTC\"",
            "TZ = \"UTC\"\nCUSTOM = \"from the profile\"",
        )
        .replace("max-processes = 1024", "max-processes = 77");
    let file = env.path("custom.toml");
    write(&file, &text);
    let o = sandboxed(
        &env,
        &["--profile", file.to_str().unwrap()],
        &format!(
            "echo $CUSTOM; {hostname}; ulimit -u",
            hostname = bb("hostname")
        ),
    );
    assert_eq!(
        stdout(&o),
        "from the profile\ncustom-host\n77\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A mistake is reported at its line and column, with a hint.
    write(
        &file,
        text.replace("network = false", "network = false\nnetowrk = 1"),
    );
    let o = sandboxed(&env, &["--profile", file.to_str().unwrap()], "echo RAN");
    assert!(!o.status.success());
    assert!(!stdout(&o).contains("RAN"));
    let line = text.lines().position(|l| l.starts_with("network")).unwrap() + 2;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_contains_all(
        &err,
        &[
            &format!("custom.toml:{line}:1: unknown key `netowrk`"),
            "\nhint: the keys known here are",
        ],
    );
}

/// `forge sandbox profiles --show NAME`: the embedded file.
fn forge_sandbox_profile_text(env: &Env, name: &str) -> String {
    env.ok(&["sandbox", "profiles", "--show", name])
}

#[test]
fn the_built_in_profiles_are_the_files_in_sandbox_profiles() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox/profiles");
    for name in ["hermetic", "fixed-output"] {
        let file = std::fs::read_to_string(root.join(format!("{name}.toml"))).unwrap();
        assert_eq!(forge_sandbox_profile_text(&env, name), file);
    }
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["sandbox", "profiles", "--json"])).unwrap();
    assert_eq!(v[0]["name"], "hermetic");
    assert_eq!(v[0]["network"], false);
    assert_eq!(v[1]["name"], "fixed-output");
    assert_eq!(v[1]["network"], true);
    assert_eq!(v[1]["host_files"][0], "/etc/resolv.conf");
    let human = env.ok(&["sandbox", "profiles"]);
    assert_contains_all(
        &human,
        &["hermetic  (sandbox/profiles/hermetic.toml)", "network yes"],
    );
}

// ---------------------------------------------------------------------------
// The hostile-builder corpus: sandbox/hostile (`forge-hostile`), one attack
// per test. Each test fails if the attack prints ESCAPED.

/// `forge-hostile`, built next to `forge` by `cargo build -p forge-hostile`.
pub(crate) fn hostile_bin() -> Option<std::path::PathBuf> {
    let bin = Path::new(crate::common::forge_bin()).with_file_name("forge-hostile");
    oracle_present(
        &format!(
            "the hostile builder {} (build it with `cargo build -p forge-hostile`; scripts/test does)",
            bin.display()
        ),
        bin.is_file(),
    )
    .then_some(bin)
}

/// A root layer holding forge-hostile at /bin/forge-hostile, the shared
/// libraries it needs (as `ldd` lists them) at their paths, and busybox as
/// /bin/sh; nothing else of the host.
pub(crate) fn hostile_layer(env: &Env) -> Option<std::path::PathBuf> {
    let bin = hostile_bin()?;
    if !oracle_present("busybox-static (/bin/busybox)", Path::new(BUSYBOX).exists()) {
        return None;
    }
    let layer = env.path("hostile-layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    std::fs::copy(&bin, layer.join("bin/forge-hostile")).unwrap();
    std::fs::copy(BUSYBOX, layer.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", layer.join("bin/sh")).unwrap();
    let ldd = std::process::Command::new("ldd")
        .arg(&bin)
        .output()
        .unwrap();
    for line in stdout(&ldd).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = line
            .split("=>")
            .last()
            .and_then(|s| s.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(lib) = path {
            let dest = layer.join(&lib[1..]);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(lib, &dest).unwrap();
        }
    }
    Some(layer)
}

/// Runs `forge-hostile ARGS` in the sandbox with extra forge args.
fn attack(env: &Env, layer: &Path, extra: &[&str], args: &[&str]) -> Output {
    env.forge()
        .args(["sandbox", "run", "--root-layer"])
        .arg(layer)
        .args(extra)
        .args(["--", "/bin/forge-hostile"])
        .args(args)
        .output()
        .unwrap()
}

/// Runs a shell script (busybox, with forge-hostile on PATH) in the sandbox.
fn attack_sh(env: &Env, layer: &Path, extra: &[&str], script: &str) -> Output {
    attack_argv(env, layer, extra, &["/bin/sh", "-c", script])
}

fn attack_argv(env: &Env, layer: &Path, extra: &[&str], argv: &[&str]) -> Output {
    env.forge()
        .args(["sandbox", "run", "--root-layer"])
        .arg(layer)
        .args(extra)
        .arg("--")
        .args(argv)
        .output()
        .unwrap()
}

/// The attack ran and the kernel refused it: `blocked: <errno>`, exit 1.
fn assert_blocked(o: &Output, errno: &[&str]) {
    let out = stdout(o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!out.contains("ESCAPED"), "{out}{err}");
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        errno
            .iter()
            .any(|e| out.starts_with(&format!("blocked: {e}"))),
        "expected blocked: one of {errno:?}, got {out}{err}"
    );
}

macro_rules! hostile {
    ($env:ident, $layer:ident) => {
        let $env = Env::new();
        let Some($layer) = hostile_layer(&$env) else {
            return;
        };
    };
}

#[test]
fn hostile_open_by_handle_of_a_host_file_is_refused() {
    hostile!(env, layer);
    // A host file the build did not declare, next to one it did (same
    // filesystem): the "shocker" attack opens it by its handle.
    write(&env.path("secret/key"), "TOP SECRET\n");
    write(&env.path("input/f"), "declared\n");
    let handle = std::process::Command::new(hostile_bin().unwrap())
        .arg("handle-of")
        .arg(env.path("secret/key"))
        .output()
        .unwrap();
    assert!(handle.status.success(), "handle-of works on the host");
    let handle = stdout(&handle);
    let input = env.path("input");
    let input = input.to_str().unwrap();
    let o = attack(
        &env,
        &layer,
        &["--ro", input],
        &["open-by-handle", input, handle.trim()],
    );
    assert_blocked(&o, &["EPERM"]);
    assert!(!stdout(&o).contains("TOP SECRET"));
    // Its own files' handles too.
    let o = attack(&env, &layer, &[], &["open-by-handle", "/bin/busybox"]);
    assert_blocked(&o, &["EPERM"]);
}

#[test]
fn hostile_ptrace_of_pid_1_a_sibling_or_a_host_process_is_refused() {
    hostile!(env, layer);
    let mut host = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let host_pid = host.id().to_string();
    for (what, script) in [
        ("pid 1", "exec /bin/forge-hostile ptrace 1".to_owned()),
        ("parent", "/bin/forge-hostile ptrace 1".to_owned()),
        (
            "sibling",
            "sleep 30 & /bin/forge-hostile ptrace $!; r=$?; kill $!; exit $r".to_owned(),
        ),
        ("host", format!("/bin/forge-hostile ptrace {host_pid}")),
    ] {
        let o = attack_sh(&env, &layer, &[], &script);
        assert_blocked(&o, &["EPERM", "ESRCH"]);
        if what != "host" {
            assert_blocked(&o, &["EPERM"]); // seccomp, before any pid lookup
        }
    }
    let _ = host.kill();
    let _ = host.wait();
}

/// A non-blocking host listener on a unix socket address.
fn unix_listener_at(addr: &std::os::unix::net::SocketAddr) -> std::os::unix::net::UnixListener {
    let l = std::os::unix::net::UnixListener::bind_addr(addr).unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

#[test]
fn hostile_connect_to_a_host_abstract_socket_is_refused_even_with_network() {
    use std::os::linux::net::SocketAddrExt;
    hostile!(env, layer);
    let name = format!("forge-hostile-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = unix_listener_at(&addr);
    // Hermetic: another network namespace, so another abstract namespace.
    let o = attack(&env, &layer, &[], &["abstract-connect", &name]);
    assert_blocked(&o, &["ECONNREFUSED"]);
    // Fixed-output shares the host's network namespace: landlock's
    // abstract-socket scope is what stops it.
    let o = attack(&env, &layer, &["--net"], &["abstract-connect", &name]);
    assert_blocked(&o, &["EPERM"]);
    assert!(listener.accept().is_err(), "a connection reached the host");
}

#[test]
fn hostile_connect_to_an_undeclared_host_unix_socket_is_refused() {
    hostile!(env, layer);
    std::fs::create_dir_all(env.path("run")).unwrap();
    let sock = env.path("run/host.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let o = attack(&env, &layer, &[], &["unix-connect", sock.to_str().unwrap()]);
    assert_blocked(&o, &["ENOENT"]);
    let o = attack(
        &env,
        &layer,
        &["--net"],
        &["unix-connect", sock.to_str().unwrap()],
    );
    assert_blocked(&o, &["ENOENT"]);
    assert!(listener.accept().is_err(), "a connection reached the host");
}

#[test]
fn hostile_xattrs_and_file_capabilities_are_refused() {
    hostile!(env, layer);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let f = out.join("tool");
    let o = attack(
        &env,
        &layer,
        &["--rw", out.to_str().unwrap()],
        &["setxattr", f.to_str().unwrap()],
    );
    assert_blocked(&o, &["EOPNOTSUPP"]);
    let o = attack(
        &env,
        &layer,
        &["--rw", out.to_str().unwrap()],
        &["setcap", f.to_str().unwrap()],
    );
    assert_blocked(&o, &["EOPNOTSUPP"]);
    let o = attack(&env, &layer, &[], &["setcap", "/build/tool"]);
    assert_blocked(&o, &["EOPNOTSUPP"]);
    assert!(f.is_file(), "the attack made its file");
    let listed = std::process::Command::new("getfattr")
        .args(["-d", "-m", "-"])
        .arg(&f)
        .output();
    if let Ok(l) = listed {
        assert!(!stdout(&l).contains("user.forge"), "{}", stdout(&l));
    }
}

#[test]
fn hostile_setuid_chmod_is_refused() {
    hostile!(env, layer);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let f = out.join("suid");
    let o = attack(
        &env,
        &layer,
        &["--rw", out.to_str().unwrap()],
        &["setuid-chmod", f.to_str().unwrap()],
    );
    assert_blocked(&o, &["EPERM"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&f).unwrap().permissions().mode();
    assert_eq!(mode & 0o7000, 0, "{mode:o}");
}

#[test]
fn hostile_namespace_and_mount_calls_are_refused() {
    hostile!(env, layer);
    for args in [
        &["unshare-user"][..],
        &["setns", "/proc/self/ns/mnt"],
        &["setns", "/proc/self/ns/user"],
        &["mount-tmpfs", "/tmp"],
        &["mount-tmpfs", "/build"],
        &["pivot-root"],
        &["chroot-out"],
    ] {
        let o = attack(&env, &layer, &[], args);
        assert_blocked(&o, &["EPERM"]);
    }
    // pid 1 (forge's init) is not even open to inspection.
    for ns in ["/proc/1/ns/mnt", "/proc/1/ns/user"] {
        let o = attack(&env, &layer, &[], &["setns", ns]);
        assert_blocked(&o, &["EPERM", "EACCES"]);
    }
}

#[test]
fn hostile_keyring_io_uring_and_personality_are_refused() {
    hostile!(env, layer);
    for args in [&["keyctl"][..], &["io-uring-setup"], &["personality"]] {
        let o = attack(&env, &layer, &[], args);
        assert_blocked(&o, &["EPERM"]);
    }
}

#[test]
fn hostile_32_bit_syscalls_kill_the_process() {
    hostile!(env, layer);
    let o = attack_sh(
        &env,
        &layer,
        &[],
        "/bin/forge-hostile int80; echo status=$?",
    );
    let s = stdout(&o);
    assert!(!s.contains("ESCAPED"), "{s}");
    // seccomp's architecture check kills it with SIGSYS (31): 128 + 31.
    assert!(s.contains("status=159"), "{s}");
}

// ---------------------------------------------------------------------------
// Issue 8, sandbox side (items 4, 14, 16): set-id bits without chmod, vsock,
// binds through symlinks out of the store, what a build can see of who runs
// it and where the store is.

#[test]
fn hostile_setuid_bits_from_open_mkdir_and_mknod_are_refused() {
    use std::os::unix::fs::MetadataExt;
    hostile!(env, layer);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let f = out.join("suid");
    let o = attack(
        &env,
        &layer,
        &["--rw", out.to_str().unwrap()],
        &["setuid-create", f.to_str().unwrap()],
    );
    // From the host: nothing the build made has a set-id bit.
    for p in [f.clone(), out.join("suid.d"), out.join("suid.node")] {
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            assert_eq!(m.mode() & 0o6000, 0, "{} is {:o}", p.display(), m.mode());
        }
    }
    assert_blocked(&o, &["EPERM"]);
    // In the sandbox's own /build and /tmp as well.
    for f in ["/build/suid", "/tmp/suid"] {
        let o = attack(&env, &layer, &[], &["setuid-create", f]);
        assert_blocked(&o, &["EPERM"]);
    }
}

#[test]
fn hostile_vsock_sockets_are_refused_with_and_without_network() {
    hostile!(env, layer);
    for extra in [&[][..], &["--net"]] {
        let o = attack(&env, &layer, extra, &["vsock"]);
        assert_blocked(&o, &["EAFNOSUPPORT", "EPERM"]);
    }
}

/// The builder shares its uid with forge's init (pid 1), and no capability
/// check guards another process's rlimits: `prlimit64(1, NOFILE, 0)` left
/// the init unable to report, and forge called the build killed (red-team
/// finding). seccomp refuses prlimit64 on any pid but the caller's own.
#[test]
fn hostile_prlimit_of_forges_init_is_refused() {
    hostile!(env, layer);
    let o = attack(&env, &layer, &[], &["prlimit-init"]);
    assert_blocked(&o, &["EPERM"]);
    // The builder's own status (1, blocked) is what forge reports.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// As many `../` as climb from `dir` to `/`: exactly (the sandbox's setup
/// sees the host root at /oldroot, so a longer climb would end above it).
fn climb(dir: &Path) -> String {
    "../".repeat(dir.components().count() - 1)
}

#[test]
fn hostile_a_bind_that_is_a_symlink_out_of_its_directory_shows_no_host_file() {
    use std::os::unix::fs::PermissionsExt;
    hostile!(env, layer);
    // A store-like directory whose entries are symlinks climbing out of it:
    // to the host's /etc, to a private (0600) file of the invoker, and to a
    // directory holding a host unix socket.
    let store = env.path("store");
    std::fs::create_dir_all(&store).unwrap();
    write(&env.path("private/key"), "TOP SECRET\n");
    std::fs::set_permissions(
        env.path("private/key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir_all(env.path("run")).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(env.path("run/host.sock")).unwrap();
    listener.set_nonblocking(true).unwrap();
    let links = [
        ("etc-link", format!("{}etc", climb(&store))),
        ("key-link", "../private/key".to_owned()),
        ("private-link", "../private".to_owned()),
        ("run-link", "../run".to_owned()),
    ];
    for (name, to) in &links {
        std::os::unix::fs::symlink(to, store.join(name)).unwrap();
    }
    let s = store.display();
    let mut extra = Vec::new();
    for (name, _) in &links {
        extra.push("--ro".to_owned());
        extra.push(format!("{s}/{name}"));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let script = format!(
        "cat {s}/etc-link/shadow 2>/dev/null && echo LEAK-shadow; \
         cat {s}/etc-link/passwd 2>/dev/null | grep -q '^root:x:0:0:root:/root:' && echo LEAK-passwd; \
         cat {s}/key-link 2>/dev/null; cat {s}/private-link/key 2>/dev/null; \
         /bin/forge-hostile unix-connect {s}/run-link/host.sock; \
         readlink {s}/key-link; echo done"
    );
    let o = attack_sh(&env, &layer, &extra, &script);
    let out = stdout(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!out.contains("LEAK"), "{out}{err}");
    assert!(!out.contains("TOP SECRET"), "{out}{err}");
    assert!(!out.contains("ESCAPED"), "{out}{err}");
    assert!(listener.accept().is_err(), "a connection reached the host");
    // The symlink is there, as a symlink, with its target.
    assert!(out.contains("../private/key\ndone"), "{out}{err}");
}

#[test]
fn a_root_layer_that_is_a_symlink_is_refused() {
    let Some(env) = ready() else { return };
    let store = env.path("store");
    std::fs::create_dir_all(&store).unwrap();
    // Climbs to the host's root and down to a tree of the host (standing
    // for /: its /usr, /etc… would become the build's).
    let host_tree = env.path("host-tree");
    std::fs::create_dir_all(host_tree.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, host_tree.join("bin/sh")).unwrap();
    let to = format!(
        "{}{}",
        climb(&store),
        host_tree.strip_prefix("/").unwrap().display()
    );
    std::os::unix::fs::symlink(to, store.join("layer")).unwrap();
    let o = env
        .forge()
        .args(["sandbox", "run", "--root-layer"])
        .arg(store.join("layer"))
        .args(["--", "/bin/sh", "-c", "echo RAN"])
        .output()
        .unwrap();
    let out = stdout(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!out.contains("RAN"), "{out}{err}");
    assert!(err.contains("symlink"), "{err}");
}

/// What a builder can see of who runs it and where the store is, with what
/// differs from run to run anyway cut: mountinfo without its mount ids and
/// device numbers, owners and modes without times.
const OBSERVE: &str = "cut -d' ' -f4- /proc/self/mountinfo; \
    stat -c '%n %A %u %g' /dev/* /tmp /build / /forge/store /forge/store/*-tools; \
    stat -c '%n %Y' /dev/null /dev/zero /dev/full /dev/random /dev/urandom; \
    id; nproc; echo cores=$FORGE_BUILD_CORES";

/// A recipe in `dir` whose output is what its builder observed.
fn observing_recipe(dir: &Path) {
    let sh = dir.join("tools/sh");
    std::fs::create_dir_all(sh.parent().unwrap()).unwrap();
    std::fs::copy(BUSYBOX, &sh).unwrap();
    write(
        &dir.join("observe/recipe.toml"),
        format!(
            "[recipe]\nname = \"observe\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n\n\
             [build]\ncommand = [\"${{sh}}/sh\", \"-c\", '''export PATH=${{sh}}; {{ {OBSERVE}; }} > $out''']\n"
        ),
    );
}

/// Builds the observing recipe with `forge` (as `user` if given) in the
/// store `root`; returns what the builder saw.
fn observe_build(dir: &Path, root: &Path, user: Option<&str>) -> String {
    let mut cmd = match user {
        Some(u) => {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", u, "--", "env", "-i", "PATH=/usr/bin:/bin"])
                .arg(format!("FORGE_ROOT={}", root.display()))
                .arg(crate::common::forge_bin());
            c
        }
        None => {
            let mut c = std::process::Command::new(crate::common::forge_bin());
            c.env("FORGE_ROOT", root);
            c
        }
    };
    let o = cmd
        .args(["build", "--json", "--no-link", "observe"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .next_back()
        .unwrap();
    let text = v.to_string();
    let hash = text
        .split("/forge/store/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no store path in {text}"));
    std::fs::read_to_string(root.join("store").join(hash)).unwrap()
}

/// The facts that must not depend on the invoker or the store's place.
fn assert_nothing_of_the_invoker(seen: &str, roots: &[&Path]) {
    for root in roots {
        assert!(
            !seen.contains(root.to_str().unwrap()),
            "the store's host path {} is visible:\n{seen}",
            root.display()
        );
    }
    for line in seen.lines().filter(|l| l.contains(" - tmpfs ")) {
        assert!(
            !line.contains("uid="),
            "the invoker's uid is visible: {line}"
        );
    }
    assert!(seen.contains("uid=1000(forge) gid=100(forge)"), "{seen}");
}

#[test]
fn builds_see_the_same_sandbox_from_any_store_root_and_as_any_user() {
    let Some(env) = ready() else { return };
    let dir = env.path("w");
    observing_recipe(&dir);
    let a = env.path("a");
    let b = env.path("b/a/much/deeper/store/root");
    let seen_a = observe_build(&dir, &a, None);
    let seen_b = observe_build(&dir, &b, None);
    assert_nothing_of_the_invoker(&seen_a, &[&a, &b]);
    assert_eq!(seen_a, seen_b, "two store roots");
    // The same recipe as the unprivileged CI user (when run as root).
    let ci = nix_is_root()
        && std::process::Command::new("id")
            .arg("forge-ci")
            .output()
            .is_ok_and(|o| o.status.success());
    if ci {
        use std::os::unix::fs::PermissionsExt;
        let mut d = env.dir.path().to_owned();
        loop {
            let m = std::fs::metadata(&d).unwrap().permissions().mode();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m | 0o005)).unwrap();
            if !d.pop() || d == Path::new("/") {
                break;
            }
        }
        for sub in ["w", "w/tools", "w/observe"] {
            std::fs::set_permissions(env.path(sub), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let c = env.path("ci");
        std::fs::create_dir_all(&c).unwrap();
        assert!(std::process::Command::new("chown")
            .args(["forge-ci:"])
            .arg(&c)
            .status()
            .unwrap()
            .success());
        let root_c = c.join("store-root");
        let seen_c = observe_build(&dir, &root_c, Some("forge-ci"));
        assert_nothing_of_the_invoker(&seen_c, &[&root_c]);
        // The one difference left (docs/sandbox.md, "What a build can still
        // see"): as root the device nodes are forge's own copies, owned like
        // the host's are for anyone else, on a tmpfs, not the devtmpfs.
        let as_user = seen_a.replace(" - tmpfs devtmpfs ", " - devtmpfs devtmpfs ");
        assert_eq!(as_user, seen_c, "root and forge-ci");
    } else {
        eprintln!("note: not root (or no forge-ci user): root and the CI user are compared only in the root run");
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn sandbox_run_sees_the_same_from_two_host_directories_and_its_build_cores() {
    let Some(env) = ready() else { return };
    // The same input at two host places, bound at one path inside (as
    // forge build binds the store): forge sandbox run binds a path at the
    // same path, so the two places are symlinked to one inside name.
    let mut seen = Vec::new();
    for place in ["one", "two/much/deeper"] {
        let input = env.path(&format!("{place}/abc-input"));
        write(&input.join("f"), "same\n");
        let script = format!(
            "{cut} -d' ' -f4- /proc/self/mountinfo | {grep} abc-input; {nproc}",
            cut = bb("cut"),
            grep = bb("grep"),
            nproc = bb("nproc")
        );
        let o = sandboxed(
            &env,
            &[
                "--ro",
                input.to_str().unwrap(),
                "--env",
                "FORGE_BUILD_CORES=1",
            ],
            &script,
        );
        let out = stdout(&o);
        assert!(
            o.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The mount's root field (what it is within its filesystem) is the
        // input's name, not its host path.
        let line = out.lines().next().unwrap_or("");
        let root_field = line.split(' ').next().unwrap_or("");
        assert_eq!(root_field, "/abc-input", "{out}");
        assert_eq!(
            out.lines().last(),
            Some("1"),
            "nproc with FORGE_BUILD_CORES=1: {out}"
        );
        seen.push(out.replace(env.path(place).to_str().unwrap(), "PLACE"));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn the_invokers_terminal_is_not_in_the_sandbox() {
    let Some(env) = ready() else { return };
    let o = sandboxed(
        &env,
        &[],
        &format!(
            "if [ -e /dev/tty ]; then echo LEAK-tty; fi; {ls} /dev",
            ls = bb("ls")
        ),
    );
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.contains("LEAK"), "{out}");
    assert!(out.contains("null"), "{out}");
}

/// As root the build uid maps to the host's root, which owns the host's
/// device nodes: a bind that is not read-only let a builder `chmod 000
/// /dev/null` or change its times on the host (red-team finding).
#[test]
fn device_nodes_cannot_be_changed_from_inside() {
    let Some(env) = ready() else { return };
    let stat = |p: &str| {
        let m = std::fs::metadata(p).unwrap();
        use std::os::unix::fs::MetadataExt;
        (m.mode(), m.mtime(), m.mtime_nsec(), m.uid())
    };
    let before: Vec<_> = ["/dev/null", "/dev/full", "/dev/zero"].map(stat).into();
    let o = sandboxed(
        &env,
        &[],
        &format!(
            "{chmod} 0600 /dev/full; {chmod} 000 /dev/null; {touch} -d 2001-01-01 /dev/zero; \
             echo written > /dev/null && echo WRITE-OK; {head} -c 4 /dev/zero | {wc} -c",
            chmod = bb("chmod"),
            touch = bb("touch"),
            head = bb("head"),
            wc = bb("wc"),
        ),
    );
    let s = stdout(&o);
    let after: Vec<_> = ["/dev/null", "/dev/full", "/dev/zero"].map(stat).into();
    assert_eq!(
        before, after,
        "a builder changed the host's device nodes:\n{s}"
    );
    assert!(
        s.contains("WRITE-OK") && s.contains('4'),
        "devices still work: {s}"
    );
}

/// procfs is the kernel's own window: as root (the build uid mapped to the
/// host's root) the owner bits of /proc/sys and /proc/sysrq-trigger are the
/// builder's, held back only by landlock; /proc/timer_list, /proc/kpage*,
/// /proc/slabinfo, /proc/keys tell about the host and other users. The
/// writable ones are read-only mounts (EROFS, which the kernel checks
/// before landlock's EACCES), the revealing ones are empty.
#[test]
fn proc_sys_is_read_only_and_revealing_proc_files_are_empty() {
    let Some(env) = ready() else { return };
    let host = std::fs::read_to_string("/proc/sys/kernel/printk_ratelimit").unwrap();
    let o = sandboxed(
        &env,
        &[],
        &format!(
            "{{ echo 7 > /proc/sys/kernel/printk_ratelimit; }} 2>/tmp/e; {cat} /tmp/e; \
             for f in keys key-users timer_list slabinfo vmallocinfo kpagecount kpageflags kpagecgroup sched_debug cmdline pagetypeinfo tty/driver/serial; do \
               [ -e /proc/$f ] && echo \"$f $({cat} /proc/$f 2>/dev/null | {wc} -c)\"; done; echo END",
            cat = bb("cat"),
            wc = bb("wc"),
        ),
    );
    let s = stdout(&o);
    assert!(
        s.contains("END"),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        s.contains("Read-only file system"),
        "/proc/sys is not a read-only mount:\n{s}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/printk_ratelimit").unwrap(),
        host
    );
    let revealing: Vec<&str> = s
        .lines()
        .filter(|l| l.split_whitespace().count() == 2)
        .filter(|l| l.split_whitespace().nth(1) != Some("0"))
        .collect();
    assert!(revealing.is_empty(), "readable inside: {revealing:?}\n{s}");
}

/// A tmpfs without `nr_inodes` allows about RAM/8K files whatever its size:
/// 500,000 empty files in an 8 MiB /tmp took half a gigabyte of kernel
/// memory (red-team finding). The inode count follows the size.
#[test]
fn a_small_tmp_also_limits_its_number_of_files() {
    let Some(env) = ready() else { return };
    let o = sandboxed(
        &env,
        &["--tmp-size", "8M"],
        &format!(
            "i=0; while [ $i -lt 5000 ]; do true > /tmp/f$i 2>/dev/null || break; i=$((i+1)); done; echo made=$i; {rm} -f /tmp/f*",
            rm = bb("rm")
        ),
    );
    let s = stdout(&o);
    let made: u64 = s
        .trim()
        .strip_prefix("made=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{s}{}", String::from_utf8_lossy(&o.stderr)));
    assert!(made < 5000, "8 MiB of /tmp held {made} files");
}
