//! Builds share nothing with the invoker (docs/sandbox.md, the threat model
//! and layer 6): not its terminal, not its file descriptors, and no process
//! of a build outlives it. Every check is made from the host: the invoker's
//! interactive shell did not run what a builder typed, no process with the
//! test's marker is left, the port is closed, the host file is unchanged.
//!
//! The terminal tests run forge the way a user does: under `script` (a real
//! pty) with an interactive shell that reads its next command from that
//! terminal after forge has exited.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{forge_bin, have_tool, oracle_present, write, Env};
use crate::sandbox::{assert_no_process_matching, hostile_layer, stdout};

/// An interactive `sh -i` on a pty of its own (`script`), driven from a
/// pipe, with everything the terminal showed collected.
struct Terminal {
    child: Child,
    input: std::process::ChildStdin,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn start(env: &Env) -> Option<Self> {
        if !oracle_present("script (util-linux)", have_tool("script")) {
            return None;
        }
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", "sh -i", "/dev/null"])
            .env("FORGE_ROOT", env.root())
            .env("PS1", "$ ")
            .current_dir(env.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Some(Terminal { child, input, seen })
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Types a line, as the user would.
    fn type_line(&mut self, line: &str) {
        self.input.write_all(line.as_bytes()).unwrap();
        self.input.write_all(b"\n").unwrap();
        self.input.flush().unwrap();
    }

    fn wait_for(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.seen().contains(text) {
            assert!(
                Instant::now() < deadline,
                "never saw {text:?} in {}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `command` in the shell, waits for it to end, gives the shell
    /// time to read whatever else is queued on its terminal, then exits.
    fn run_then_exit(mut self, command: &str) -> String {
        self.type_line(&format!("{command}; echo FORGE-ENDED-$?"));
        // `-ENDED-` is not in the echoed command line, only in its output.
        self.wait_for("FORGE-ENDED-", 60);
        std::thread::sleep(Duration::from_millis(700));
        self.type_line("exit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
        self.seen()
    }
}

/// A shell word for `path`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display())
}

#[test]
fn tiocsti_from_sandbox_run_never_reaches_the_invokers_shell() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let Some(term) = Terminal::start(&env) else {
        return;
    };
    let canary = env.path("canary-run");
    let cmd = format!(
        "{forge} sandbox run --root-layer {layer} -- /bin/forge-hostile tiocsti \"touch {canary}\n\"",
        forge = forge_bin(),
        layer = quoted(&layer),
        canary = canary.display(),
    );
    let seen = term.run_then_exit(&cmd);
    assert!(
        !canary.exists(),
        "the invoker's shell ran what the sandbox typed:\n{seen}"
    );
    assert!(!seen.contains("ESCAPED"), "{seen}");
    assert!(seen.contains("blocked: "), "{seen}");
}

/// A recipe whose build runs `script` (`sh -e`) with forge-hostile and
/// busybox as its root (`/bin/forge-hostile`, `/bin/sh`).
fn hostile_recipe(env: &Env, layer: &Path, name: &str, script: &str) {
    let _ = layer;
    write(
        &env.path(&format!("{name}/recipe.toml")),
        format!(
            "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nhl = {{ path = \"../hostile-layer\" }}\n\n[build]\nroot = [\"hl\"]\nscript = '''{script}'''\n"
        ),
    );
}

#[test]
fn tiocsti_and_tty_writes_from_a_build_never_reach_the_invokers_terminal() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let Some(term) = Terminal::start(&env) else {
        return;
    };
    let canary = env.path("canary-build");
    hostile_recipe(
        &env,
        &layer,
        "typist",
        &format!(
            "/bin/forge-hostile tiocsti \"touch {canary}\n\" || true; \
             for f in /dev/tty /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; do (echo BUILD-WROTE-TTY > $f) 2>/dev/null || true; done; \
             echo done > $out",
            canary = canary.display()
        ),
    );
    let cmd = format!("{} build --no-link typist", forge_bin());
    let seen = term.run_then_exit(&cmd);
    assert!(
        !canary.exists(),
        "the invoker's shell ran what the build typed:\n{seen}"
    );
    assert!(
        !seen.contains("BUILD-WROTE-TTY"),
        "the build wrote to the invoker's terminal:\n{seen}"
    );
    assert!(seen.contains("FORGE-ENDED-0"), "the build succeeds: {seen}");
}

/// Starts `forge sandbox run … -- forge-hostile no-pdeathsig MARKER [PORT]`
/// and returns once the builder said its daemon started.
fn start_survivor(
    env: &Env,
    layer: &Path,
    extra: &[&str],
    marker: &str,
    port: Option<u16>,
) -> Child {
    let mut cmd = env.forge();
    cmd.args(["sandbox", "run", "--root-layer"])
        .arg(layer)
        .args(extra)
        .args(["--", "/bin/forge-hostile", "no-pdeathsig", marker]);
    if let Some(p) = port {
        cmd.arg(p.to_string());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !String::from_utf8_lossy(&line).contains("daemon started") {
        match out.read(&mut b) {
            Ok(1) => line.push(b[0]),
            _ => panic!(
                "the builder never started: {}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    // Keep reading, as a user's terminal would, so the relay never blocks.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    child
}

/// Waits for `child` at most `secs` seconds; kills it and fails otherwise.
fn wait_bounded(mut child: Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: forge did not return within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn marker(what: &str) -> String {
    format!("forge-survivor-{what}-{}", std::process::id())
}

#[test]
fn a_builder_that_clears_its_pdeathsig_dies_at_the_timeout() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let m = marker("timeout");
    let child = start_survivor(&env, &layer, &["--timeout", "2"], &m, None);
    let status = wait_bounded(child, 15, "timeout");
    assert_eq!(status.code(), Some(137));
    assert_no_process_matching(&m);
}

#[test]
fn a_builder_that_clears_its_pdeathsig_dies_with_forge_on_sigterm_and_sigkill() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        let m = marker(&format!("{sig:?}"));
        let child = start_survivor(&env, &layer, &[], &m, None);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        wait_bounded(child, 10, &format!("{sig:?}"));
        assert_no_process_matching(&m);
    }
}

#[test]
fn a_build_that_clears_its_pdeathsig_dies_at_its_timeout_and_with_forge() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    for (i, sig) in [
        None,
        Some(nix::sys::signal::Signal::SIGTERM),
        Some(nix::sys::signal::Signal::SIGKILL),
    ]
    .into_iter()
    .enumerate()
    {
        let m = marker(&format!("build{i}"));
        let name = format!("survivor{i}");
        hostile_recipe(
            &env,
            &layer,
            &name,
            &format!("/bin/forge-hostile no-pdeathsig {m}"),
        );
        if sig.is_none() {
            let mut text = fs::read_to_string(env.path(&format!("{name}/recipe.toml"))).unwrap();
            text.push_str("\n[sandbox]\ntimeout = \"2s\"\n");
            write(&env.path(&format!("{name}/recipe.toml")), text);
        }
        let child = env
            .forge()
            .args(["build", "--no-link", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The builder is running once its daemon is.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !running(&format!("daemon {m}")) {
            assert!(Instant::now() < deadline, "the daemon never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(sig) = sig {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        }
        let status = wait_bounded(child, 15, &format!("forge build, {sig:?}"));
        assert!(!status.success());
        assert_no_process_matching(&m);
    }
}

/// Whether a host process has `needle` in its command line.
fn running(needle: &str) -> bool {
    fs::read_dir("/proc").unwrap().any(|e| {
        let Ok(e) = e else { return false };
        fs::read(e.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
            .unwrap_or(false)
    })
}

#[test]
fn a_fixed_output_survivor_does_not_keep_a_port_open() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let m = marker("port");
    let child = start_survivor(&env, &layer, &["--net", "--timeout", "2"], &m, Some(port));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the daemon listens on the host's network while the build runs"
    );
    let status = wait_bounded(child, 15, "--net timeout");
    assert_eq!(status.code(), Some(137));
    assert_no_process_matching(&m);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} is still served after the build"
    );
}

/// Runs `sh -c CMD` on the host with fd 7 reading `secret` and fd 8
/// appending to `hostfile`, as `forge … 7<secret 8>>hostfile` would.
fn with_fds(env: &Env, cmd: &str, secret: &Path, hostfile: &Path) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{cmd} 7<{} 8>>{}",
            quoted(secret),
            quoted(hostfile)
        ))
        .env("FORGE_ROOT", env.root())
        .current_dir(env.dir.path())
        .output()
        .unwrap()
}

#[test]
fn the_invokers_file_descriptors_do_not_reach_the_builder() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let secret = env.path("secret");
    let hostfile = env.path("hostfile");
    write(&secret, "TOP-SECRET-7\n");
    write(&hostfile, "unchanged\n");
    let o = with_fds(
        &env,
        &format!(
            "{} sandbox run --root-layer {} -- /bin/forge-hostile fds",
            forge_bin(),
            quoted(&layer)
        ),
        &secret,
        &hostfile,
    );
    let out = stdout(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!out.contains("TOP-SECRET"), "{out}");
    assert!(!out.contains("ESCAPED"), "{out}{err}");
    assert!(out.contains("blocked: EBADF"), "{out}{err}");
    assert_eq!(fs::read_to_string(&hostfile).unwrap(), "unchanged\n");

    hostile_recipe(
        &env,
        &layer,
        "fdlist",
        "/bin/forge-hostile fds > $out || true; cat $out",
    );
    let o = with_fds(
        &env,
        &format!("{} build --no-link -L fdlist", forge_bin()),
        &secret,
        &hostfile,
    );
    let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{all}");
    assert!(!all.contains("TOP-SECRET"), "{all}");
    assert!(!all.contains("ESCAPED"), "{all}");
    assert!(all.contains("blocked: EBADF"), "{all}");
    assert_eq!(fs::read_to_string(&hostfile).unwrap(), "unchanged\n");
}

#[test]
fn forge_shell_runs_on_a_pty_of_its_own_and_restores_the_terminal() {
    let env = Env::new();
    let Some(layer) = hostile_layer(&env) else {
        return;
    };
    let Some(mut term) = Terminal::start(&env) else {
        return;
    };
    let canary = env.path("canary-shell");
    hostile_recipe(&env, &layer, "dbg", "echo x > $out");
    term.type_line("stty -g > before.stty");
    term.type_line(&format!("{} shell dbg; echo SHELL-ENDED-$?", forge_bin()));
    term.wait_for("[forge shell dbg]", 60);
    // Inside: a terminal (forge's pty, the shell's controlling terminal),
    // and typing into it reaches only the shell in the sandbox.
    term.type_line("[ -t 0 ] && [ -t 1 ] && echo IN-SHELL-$((6*7))");
    term.wait_for("IN-SHELL-42", 20);
    term.type_line(&format!(
        "/bin/forge-hostile tiocsti 'touch {}\n'; exit 3",
        canary.display()
    ));
    // Typed only once forge is done: what forge read from its terminal
    // while the shell ran went to the shell.
    term.wait_for("SHELL-ENDED-3", 20);
    let seen = term.run_then_exit("stty -g > after.stty");
    assert!(
        !canary.exists(),
        "the invoker's shell ran what forge shell typed:\n{seen}"
    );
    assert_eq!(
        fs::read_to_string(env.path("before.stty")).unwrap(),
        fs::read_to_string(env.path("after.stty")).unwrap(),
        "the terminal is restored"
    );
}

/// Signal dispositions survive `execve`: the builder would inherit the
/// SIGPIPE that Rust's runtime (forge's) ignores, and whatever the invoker
/// ignored or blocked (`nohup`, `trap '' INT`). A builder that ignores
/// SIGPIPE behaves differently (`yes | head` never ends), and a build's
/// behaviour must not depend on how forge was started.
#[test]
fn the_builder_starts_with_default_signal_dispositions_and_an_empty_mask() {
    let Some(env) = crate::sandbox::ready() else {
        return;
    };
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' HUP INT QUIT TERM USR1; exec {} sandbox run --ro /bin/busybox -- \
             /bin/busybox grep -E '^Sig(Ign|Blk)' /proc/self/status",
            forge_bin()
        ))
        .env("FORGE_ROOT", env.root())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("SigIgn:\t0000000000000000") && text.contains("SigBlk:\t0000000000000000"),
        "the builder inherited ignored or blocked signals:\n{text}"
    );
}

/// As root each sandbox gets a pids cgroup, removed when forge is done; a
/// forge killed with `kill -9` cannot, and its empty `forge-<pid>-…` cgroup
/// stayed for good (red-team finding: 90 of them on this machine). The
/// next forge to make one removes those of dead forge processes.
#[test]
fn the_cgroups_of_a_killed_forge_are_swept_by_the_next() {
    let Some(env) = crate::sandbox::ready() else {
        return;
    };
    if !nix_is_root() {
        eprintln!("skipped: pids cgroups are used only as root");
        return;
    }
    // The forge processes of this test run in a cgroup of their own, so that
    // the forges of tests running at the same time (each sweeps its own
    // parent cgroup once) cannot sweep this one's first.
    let Some(parent) = own_pids_cgroup("sweep") else {
        eprintln!("skipped: no cgroup v1 pids hierarchy");
        return;
    };
    let procs = parent.join("cgroup.procs");
    let in_parent = |args: &str| {
        env.forge_after(&format!(
            "echo $$ > {} && exec \"$FORGE\" {args}",
            procs.display()
        ))
    };
    let mut child = in_parent("sandbox run --ro /bin/busybox -- /bin/busybox sleep 30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("forge-{}-", child.id());
    let mine = || -> Vec<String> {
        fs::read_dir(&parent)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while mine().is_empty() {
        assert!(Instant::now() < deadline, "no cgroup {prefix}* appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !mine().is_empty(),
        "a killed forge cannot remove its cgroup"
    );
    let o = in_parent("sandbox run --ro /bin/busybox -- /bin/busybox true")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(mine(), Vec::<String>::new(), "the stale cgroup stayed");
    // Empty once its processes are gone.
    let _ = fs::remove_dir(&parent);
}

/// The sweep judges a cgroup by its forge's pid, which names a process
/// only in that forge's pid namespace: a forge running in another one (a
/// container, `unshare --pid`) under the same cgroup, alive, had its build
/// SIGKILLed by the next forge of the host whose `/proc/<pid>` did not
/// exist (review finding, from the kill added to the sweep).
#[test]
fn the_sweep_leaves_a_live_forge_of_another_pid_namespace_alone() {
    let Some(env) = crate::sandbox::ready() else {
        return;
    };
    if !nix_is_root() || !Path::new("/usr/bin/unshare").exists() {
        eprintln!("skipped: needs root and unshare");
        return;
    }
    let Some(parent) = own_pids_cgroup("pidns") else {
        eprintln!("skipped: no cgroup v1 pids hierarchy");
        return;
    };
    let procs = parent.join("cgroup.procs");
    // The inner forge's pid (in its namespace) is one the host has not.
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut last = pid_max - 500;
    while Path::new("/proc").join((last + 1).to_string()).exists() {
        last += 1;
    }
    let inner = env
        .forge_after(&format!(
            "echo $$ > {} && exec unshare --pid --fork --mount-proc sh -c 'echo {last} > /proc/sys/kernel/ns_last_pid; \"$FORGE\" sandbox run --ro /bin/busybox -- /bin/busybox sleep 4'",
            procs.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("forge-{}-", last + 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_dir(&parent)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .any(|n| n.starts_with(&prefix))
    {
        assert!(Instant::now() < deadline, "no cgroup {prefix}* appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = env
        .forge_after(&format!(
            "echo $$ > {} && exec \"$FORGE\" sandbox run --ro /bin/busybox -- /bin/busybox true",
            procs.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = inner.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the other namespace's build was killed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = fs::remove_dir(&parent);
}

/// A new pids cgroup (v1) under this test process's own, named after
/// `what`, for a test's forges to run in; `None` without a pids hierarchy.
fn own_pids_cgroup(what: &str) -> Option<std::path::PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrl.split(',')
            .any(|c| c == "pids")
            .then(|| path.to_owned())
    })?;
    let outer = Path::new("/sys/fs/cgroup/pids").join(rel.trim_start_matches('/'));
    let dir = outer.join(format!("forge-e2e-{what}-{}", std::process::id()));
    fs::create_dir(&dir).unwrap();
    Some(dir)
}

fn nix_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
