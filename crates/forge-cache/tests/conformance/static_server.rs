//! `python3 -m http.server` over a directory on 127.0.0.1, as a plain
//! static server serves a pushed cache; killed when dropped. Shared by
//! the conformance suite and the e2e substitution tests.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// Python's http.server over `dir` on 127.0.0.1, on a port of its own
/// choosing; stopped when dropped.
pub struct StaticServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl StaticServer {
    pub fn start(dir: &std::path::Path) -> StaticServer {
        // Port 0 makes the kernel choose; the server prints the port.
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is on every Debian machine");
        StaticServer::serving(child)
    }

    /// `child`, once it prints `Serving HTTP on 127.0.0.1 port N`.
    pub fn serving(mut child: Child) -> StaticServer {
        let mut out = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        let line = String::from_utf8(line).unwrap();
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        StaticServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
