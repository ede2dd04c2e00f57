//! SeaweedFS (`weed server -s3`) on 127.0.0.1 for the S3 backend's tests:
//! every port it opens chosen free, static credentials, the whole process
//! group killed when the guard drops. The binary is `$FORGE_WEED`, `weed`
//! on PATH, or the venv scripts/lib.sh's `install_seaweedfs` makes; when
//! none is there the tests skip, unless FORGE_REQUIRE_ORACLES=1.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials weed accepts.
pub const ACCESS_KEY: &str = "forgetest";
pub const SECRET_KEY: &str = "forge-test-secret";

/// How long weed may take to answer S3 (it takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running weed; stopped (with its process group) when dropped.
pub struct Weed {
    child: Child,
    /// The Unix sockets weed makes for its gRPC ports, always in /tmp
    /// (a killed weed leaves them).
    grpc_sockets: [PathBuf; 4],
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
    filer: String,
    dir: tempfile::TempDir,
    /// How long S3 took to answer.
    pub started_in: Duration,
}

/// The weed binary, if there is one.
fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FORGE_WEED").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    // scripts/lib.sh's seaweedfs_venv.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    let venv = cache.join("forge/test-tools/seaweedfs/bin/weed");
    venv.is_file().then_some(venv)
}

/// Whether weed is here to test with; missing is a failure when the
/// oracles are required.
fn present(found: bool) -> bool {
    if !found {
        assert!(
            std::env::var("FORGE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "SeaweedFS (weed) is required (FORGE_REQUIRE_ORACLES=1) but missing: \
             run scripts/test, or set FORGE_WEED"
        );
        eprintln!("skipping: SeaweedFS (weed) not installed (scripts/lib.sh install_seaweedfs)");
    }
    found
}

/// `n` ports free now (each bound to 0 and released; weed binds them next).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Weed {
    /// weed with S3 answering, or `None` (skip) without the binary.
    pub fn start() -> Option<Weed> {
        let bin = binary();
        if !present(bin.is_some()) {
            return None;
        }
        let bin = bin.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"forge","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let p = free_ports(8);
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let t0 = Instant::now();
        let child = Command::new(&bin)
            .arg("server")
            .arg("-s3")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            // Ports weed would open on fixed defaults: none.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!(
                "-filer.localSocket={}",
                dir.path().join("filer.sock").display()
            ))
            .arg(format!(
                "-s3.localSocket={}",
                dir.path().join("s3.sock").display()
            ))
            .arg(format!("-s3.config={}", config.display()))
            // As AWS: writing to a missing bucket does not create it.
            .arg("-s3.autoCreateBucket=false")
            .arg("-master.telemetry=false")
            .arg("-master.volumeSizeLimitMB=64")
            // Its logs (glog's, under $TMPDIR) go with the temporary dir.
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group, so dropping kills whatever it started.
            .process_group(0)
            .spawn()
            .unwrap();
        let mut weed = Weed {
            child,
            grpc_sockets: [
                ("master", p[1]),
                ("volume", p[3]),
                ("filer", p[5]),
                ("s3", p[7]),
            ]
            .map(|(role, port)| PathBuf::from(format!("/tmp/seaweedfs-{role}-grpc-{port}.sock"))),
            endpoint: format!("http://127.0.0.1:{}", p[6]),
            filer: format!("http://127.0.0.1:{}", p[4]),
            dir,
            started_in: Duration::ZERO,
        };
        weed.wait_until(t0 + START_TIMEOUT, |w| {
            // Any HTTP answer (403 to an unsigned request) means S3 is up.
            match ureq::get(&format!("{}/", w.endpoint))
                .timeout(Duration::from_secs(2))
                .call()
            {
                Ok(_) | Err(ureq::Error::Status(..)) => true,
                Err(ureq::Error::Transport(_)) => false,
            }
        });
        weed.started_in = t0.elapsed();
        Some(weed)
    }

    /// Polls `ready` until it holds; panics with weed's log past
    /// `deadline` or if weed exits.
    fn wait_until(&mut self, deadline: Instant, ready: impl Fn(&Weed) -> bool) {
        loop {
            if ready(self) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("weed exited ({status}):\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "weed did not get ready in {START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates `bucket` (a directory under the filer's `/buckets`, which
    /// is what a bucket is to SeaweedFS).
    pub fn create_bucket(&mut self, bucket: &str) {
        let url = format!("{}/buckets/{bucket}/", self.filer);
        self.wait_until(Instant::now() + START_TIMEOUT, |_| {
            ureq::post(&url)
                .timeout(Duration::from_secs(5))
                .call()
                .is_ok()
        });
    }

    /// An `s3://` URL for `bucket/prefix` on this weed.
    pub fn url(&self, bucket_and_prefix: &str) -> String {
        format!("s3://{bucket_and_prefix}?endpoint={}", self.endpoint)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The environment weed's credentials make (with `secret` as the secret).
pub fn env(secret: &'static str) -> impl Fn(&str) -> Option<String> {
    move |name| match name {
        "AWS_ACCESS_KEY_ID" => Some(ACCESS_KEY.to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.to_owned()),
        _ => None,
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        // The whole group: weed and anything it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for socket in &self.grpc_sockets {
            let _ = std::fs::remove_file(socket);
        }
    }
}
