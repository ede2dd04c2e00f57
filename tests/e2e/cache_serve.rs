//! `forge cache serve`: the binary started on 127.0.0.1, port 0 (it prints
//! its URL), `forge copy --to http://…` through it with the upload token
//! in FORGE_CACHE_TOKEN, `--store` read back, and SIGTERM ending it with
//! exit code 0. Each server is killed when its guard drops.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use forge_cache::{Backend, HttpBackend, Key};

use crate::common::{write, Env};

/// A running `forge cache serve` and its URL; killed when dropped.
pub(crate) struct Serving {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(env: &Env, args: &[&str]) -> Serving {
    let mut child = env
        .forge()
        .args(["cache", "serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The URL is printed once the port is bound; a server that fails
    // exits, which closes stdout and ends the read.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    Serving { child, url }
}

/// Sends SIGTERM and waits (at most 10 s) for the exit code.
fn terminate(mut s: Serving) -> i32 {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(s.child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn forge_copy_goes_through_forge_s_server_with_the_token() {
    let env = Env::new();
    let path = env.add_text("hello", "hello, cache\n");
    write(&env.path("token"), "t0ken\n");
    let server = serve(&env, &["--dir", "cache", "--upload-token-file", "token"]);
    // Without the token: refused, and the message says what to set.
    let out = env.run(&["copy", "--to", &server.url, &path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FORGE_CACHE_TOKEN"), "{err}");
    // With a wrong one: the server's 401.
    let out = env
        .forge()
        .args(["copy", "--to", &server.url, &path])
        .env("FORGE_CACHE_TOKEN", "guess")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the server answered 401"), "{err}");
    let out = env
        .forge()
        .args(["copy", "--to", &server.url, &path])
        .env("FORGE_CACHE_TOKEN", "t0ken")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = &path["/forge/store/".len()..][..32];
    let narinfo = env.path(&format!("cache/{digest}.narinfo"));
    assert!(narinfo.is_file());
    // Read back over HTTP as a substituter reads it.
    let b = HttpBackend::new(&server.url).unwrap();
    let mut text = String::new();
    b.get(&Key::new(&format!("{digest}.narinfo")).unwrap())
        .unwrap()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, std::fs::read_to_string(&narinfo).unwrap());
    assert_eq!(terminate(server), 0, "a graceful stop is a success");
}

#[test]
fn the_store_is_served_as_a_cache() {
    let env = Env::new();
    let path = env.add_text("served", "from the store\n");
    let server = serve(&env, &["--store"]);
    let digest = &path["/forge/store/".len()..][..32];
    let b = HttpBackend::new(&server.url).unwrap();
    let text = b
        .get_small(&Key::new(&format!("{digest}.narinfo")).unwrap(), 65536)
        .unwrap()
        .unwrap();
    assert!(String::from_utf8(text).unwrap().contains(&path));
    assert!(env
        .root()
        .join("serve-cache")
        .join(format!("{digest}.narinfo"))
        .is_file());
    assert_eq!(terminate(server), 0);
}
