//! Downloading one URL to a file, hashing while writing, with retries and
//! resume. The policy is described in the [module docs](super).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use forge_core::hash::{Hash, HashAlgo, Hasher};

use super::{FetchError, FetchOptions, FetchProgress};

/// What [`download`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The hash of the file (equal to the expected one, when there was one).
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
    /// Requests made (1 when the first one succeeded).
    pub attempts: u32,
    /// Whether a later attempt continued a partial file with a `Range` request.
    pub resumed: bool,
}

/// The scheme of a URL forge fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    File,
}

fn scheme(url: &str) -> Result<Scheme, FetchError> {
    let bad = |reason: &str| FetchError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme (expected https://, http:// or file://)"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" if !rest.is_empty() => Ok(Scheme::Http),
        "http" | "https" => Err(bad("no host")),
        "file" => Ok(Scheme::File),
        _ => Err(bad(
            "unsupported scheme (expected https://, http:// or file://)",
        )),
    }
}

/// The local path of a `file://` URL: `file:///abs/path` or
/// `file://localhost/abs/path`, with `%XX` escapes decoded.
pub fn file_url_path(url: &str) -> Result<PathBuf, FetchError> {
    let bad = |reason: &str| FetchError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = &url["file://".len()..];
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err(bad("a file URL needs an absolute path (file:///path)"));
    }
    let mut bytes = Vec::with_capacity(rest.len());
    let raw = rest.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("invalid %-escape"))?;
            bytes.push(byte);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// Downloads `url` to `dest`, checking the bytes against `expected`. The
/// data goes to `dest.part` first and is renamed to `dest` (after an fsync)
/// only when the hash matches; on any error neither file is left behind.
pub fn download(
    url: &str,
    expected: &Hash,
    dest: &Path,
    progress: &dyn FetchProgress,
    opts: &FetchOptions,
) -> Result<Download, FetchError> {
    fetch_checked(url, expected.algo(), Some(expected), dest, progress, opts)
}

/// Downloads `url` to `dest` with nothing to check it against, hashing it
/// with `algo` (`forge prefetch`: the hash is what the user will pin). The
/// same `.part`, fsync and rename steps as [`download`].
pub fn download_unpinned(
    url: &str,
    algo: HashAlgo,
    dest: &Path,
    progress: &dyn FetchProgress,
    opts: &FetchOptions,
) -> Result<Download, FetchError> {
    fetch_checked(url, algo, None, dest, progress, opts)
}

fn fetch_checked(
    url: &str,
    algo: HashAlgo,
    expected: Option<&Hash>,
    dest: &Path,
    progress: &dyn FetchProgress,
    opts: &FetchOptions,
) -> Result<Download, FetchError> {
    let part = part_path(dest);
    let result = match scheme(url)? {
        Scheme::File => copy_file(url, &part, algo, progress),
        Scheme::Http => http(url, &part, algo, progress, opts),
    };
    let result = result.and_then(|(hasher, size, attempts, resumed)| {
        let actual = hasher.finalize();
        if let Some(expected) = expected.filter(|e| **e != actual) {
            return Err(FetchError::HashMismatch {
                url: url.to_owned(),
                expected: Box::new(*expected),
                actual: Box::new(actual),
            });
        }
        fs::rename(&part, dest).map_err(write_err(dest))?;
        sync_parent(dest)?;
        Ok(Download {
            hash: actual,
            size,
            attempts,
            resumed,
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

/// `dest` with `.part` appended to its file name.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_parent(path: &Path) -> Result<(), FetchError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(write_err(parent))
}

type Done = (Hasher, u64, u32, bool);

fn copy_file(
    url: &str,
    part: &Path,
    algo: HashAlgo,
    progress: &dyn FetchProgress,
) -> Result<Done, FetchError> {
    let path = file_url_path(url)?;
    let read_err = |source| FetchError::ReadFile {
        url: url.to_owned(),
        path: path.clone(),
        source,
    };
    let mut src = File::open(&path).map_err(read_err)?;
    let total = src.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut out = File::create(part).map_err(write_err(part))?;
    let mut hasher = Hasher::new(algo);
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    progress.started(url, total);
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        out.write_all(&buf[..n]).map_err(write_err(part))?;
        hasher.update(&buf[..n]);
        done += n as u64;
        progress.bytes(done, total);
    }
    out.sync_all().map_err(write_err(part))?;
    Ok((hasher, done, 1, false))
}

/// How one HTTP attempt failed.
enum Fail {
    /// Worth retrying. `accept_ranges` is what the response said, if one came.
    Transient {
        reason: String,
        accept_ranges: Option<bool>,
        retry_after: Option<Duration>,
    },
    /// The server ignored or refused our `Range`: start again from zero now.
    Restart,
    /// Retrying would not help.
    Permanent(FetchError),
}

fn transient(reason: String, accept_ranges: Option<bool>) -> Fail {
    Fail::Transient {
        reason,
        accept_ranges,
        retry_after: None,
    }
}

/// The bits of a response that a later resume depends on.
#[derive(Default)]
struct Resume {
    /// The server said `Accept-Ranges: bytes`.
    ranges: bool,
    /// A strong `ETag` or a `Last-Modified`, for `If-Range`.
    validator: Option<String>,
}

/// Where hosts keep their CA bundle; `SSL_CERT_FILE` comes first.
const CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A TLS configuration trusting the host's CA bundle, when it has one (the
/// fixed-output sandbox exposes it): a host behind a TLS-inspecting proxy
/// trusts that proxy's CA there, and so must a fetch. Without a bundle,
/// ureq's compiled-in web PKI roots are used.
fn host_tls_config() -> Option<std::sync::Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(CA_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&file).ok()?.flatten() {
        // A certificate the parser rejects is skipped, as OpenSSL does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return None;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(std::sync::Arc::new(config))
}

/// The HTTP client forge uses for `url`: `opts`'s timeouts and redirect
/// limit, forge's user agent, the proxy from the environment unless
/// `NO_PROXY` exempts the host, and the host's CA bundle. Binary caches use
/// it too (forge-cache).
pub fn http_agent(url: &str, opts: &FetchOptions) -> ureq::Agent {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(opts.connect_timeout)
        .timeout_read(opts.read_timeout)
        .timeout_write(opts.read_timeout)
        .user_agent(concat!("forge/", env!("CARGO_PKG_VERSION")))
        .redirects(opts.max_redirects);
    if opts.proxy_from_env && !no_proxy(url) {
        builder = builder.try_proxy_from_env(true);
    }
    if let Some(config) = host_tls_config() {
        builder = builder.tls_config(config);
    }
    builder.build()
}

fn http(
    url: &str,
    part: &Path,
    algo: HashAlgo,
    progress: &dyn FetchProgress,
    opts: &FetchOptions,
) -> Result<Done, FetchError> {
    let agent = http_agent(url, opts);
    let mut resume = Resume::default();
    let mut attempts = 0u32;
    let mut resumed = false;
    loop {
        attempts += 1;
        let offset = if resume.ranges {
            fs::metadata(part).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        let asked = Asked {
            offset,
            accept: opts.accept,
        };
        match http_attempt(&agent, url, part, asked, &mut resume, algo, progress) {
            Ok((hasher, size, from_range)) => {
                resumed |= from_range;
                return Ok((hasher, size, attempts, resumed));
            }
            Err(Fail::Permanent(e)) => return Err(e),
            Err(Fail::Restart) => {
                // Only ever follows a ranged request; the next one is not, so
                // this cannot loop.
                resume.ranges = false;
                attempts -= 1;
            }
            Err(Fail::Transient {
                reason,
                accept_ranges,
                retry_after,
            }) => {
                if let Some(r) = accept_ranges {
                    resume.ranges = r;
                }
                if attempts > opts.retries {
                    return Err(FetchError::GaveUp {
                        url: url.to_owned(),
                        attempts,
                        last: reason,
                    });
                }
                let delay = backoff(opts, attempts, retry_after);
                progress.retrying(url, attempts, delay, &reason);
                tracing::debug!(url, attempts, ?delay, reason, "retrying download");
                std::thread::sleep(delay);
            }
        }
    }
}

/// `initial_backoff * 2^(attempt-1)`, at most `max_backoff`; a server's
/// `Retry-After` is honoured up to `max_backoff` too.
fn backoff(opts: &FetchOptions, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = opts
        .initial_backoff
        .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
    exp.max(retry_after.unwrap_or_default())
        .min(opts.max_backoff)
}

/// Whether `NO_PROXY`/`no_proxy` exempts the URL's host (ureq 2 ignores it).
fn no_proxy(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let list = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        !entry.is_empty()
            && (entry == "*"
                || host.eq_ignore_ascii_case(entry)
                || host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", entry.to_ascii_lowercase())))
    })
}

/// What one request asks beyond the URL: where to start, and the media
/// type wanted.
#[derive(Clone, Copy)]
struct Asked {
    offset: u64,
    accept: Option<&'static str>,
}

/// Parses `Content-Range: bytes <first>-<last>/<total|*>`.
fn content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let v = v.trim().strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?, total))
}

fn http_attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    asked: Asked,
    resume: &mut Resume,
    algo: HashAlgo,
    progress: &dyn FetchProgress,
) -> Result<(Hasher, u64, bool), Fail> {
    let Asked { offset, accept } = asked;
    let mut req = agent.get(url);
    if let Some(a) = accept {
        req = req.set("Accept", a);
    }
    if offset > 0 {
        req = req.set("Range", &format!("bytes={offset}-"));
        if let Some(v) = &resume.validator {
            req = req.set("If-Range", v);
        }
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(status, r)) => {
            let ranges = r
                .header("Accept-Ranges")
                .map(|v| v.trim().eq_ignore_ascii_case("bytes"));
            return Err(match status {
                416 if offset > 0 => Fail::Restart,
                429 | 500..=599 => Fail::Transient {
                    reason: format!("HTTP {status} {}", r.status_text()),
                    accept_ranges: ranges,
                    retry_after: r
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse().ok())
                        .map(Duration::from_secs),
                },
                _ => Fail::Permanent(FetchError::HttpStatus {
                    url: url.to_owned(),
                    status,
                    reason: r.status_text().to_owned(),
                }),
            });
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(match t.kind() {
                ureq::ErrorKind::InvalidUrl
                | ureq::ErrorKind::UnknownScheme
                | ureq::ErrorKind::InvalidProxyUrl
                | ureq::ErrorKind::InsecureRequestHttpsOnly => {
                    Fail::Permanent(FetchError::BadUrl {
                        url: url.to_owned(),
                        reason: t.to_string(),
                    })
                }
                _ => transient(t.to_string(), None),
            });
        }
    };
    let status = resp.status();
    let ranges = resp
        .header("Accept-Ranges")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
    resume.validator = resp
        .header("ETag")
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| resp.header("Last-Modified"))
        .map(str::to_owned);
    let length: Option<u64> = resp
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let (start, total) = match status {
        200 => (0, length),
        206 if offset > 0 => match resp.header("Content-Range").and_then(content_range) {
            Some((first, _, total)) if first == offset => {
                (offset, total.or(length.map(|l| l + offset)))
            }
            _ => return Err(Fail::Restart),
        },
        _ => {
            return Err(Fail::Permanent(FetchError::HttpStatus {
                url: url.to_owned(),
                status,
                reason: resp.status_text().to_owned(),
            }))
        }
    };
    // A ranged response is only as good as the partial file it continues.
    let resumed = start > 0;
    let permanent = |e: FetchError| Fail::Permanent(e);
    let mut hasher = Hasher::new(algo);
    let mut file = if resumed {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(part)
            .map_err(|e| permanent(write_err(part)(e)))?;
        // Hash what is there already, so the hash covers the whole file.
        let n = io::copy(&mut (&mut f).take(start), &mut hasher)
            .map_err(|e| permanent(write_err(part)(e)))?;
        if n != start {
            return Err(Fail::Restart);
        }
        f.set_len(start)
            .and_then(|()| f.seek(SeekFrom::Start(start)))
            .map_err(|e| permanent(write_err(part)(e)))?;
        f
    } else {
        File::create(part).map_err(|e| permanent(write_err(part)(e)))?
    };
    progress.started(url, total);
    let mut out = BufWriter::with_capacity(256 * 1024, &mut file);
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = start;
    let read_result = loop {
        match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                out.write_all(&buf[..n])
                    .map_err(|e| permanent(write_err(part)(e)))?;
                hasher.update(&buf[..n]);
                done += n as u64;
                progress.bytes(done, total);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    // Keep what arrived, for a resume.
    out.flush().map_err(|e| permanent(write_err(part)(e)))?;
    drop(out);
    if let Err(e) = read_result {
        return Err(transient(
            format!("connection lost after {done} bytes: {e}"),
            Some(ranges),
        ));
    }
    if let Some(total) = total.filter(|&t| done < t) {
        return Err(transient(
            format!("body ended after {done} of {total} bytes"),
            Some(ranges),
        ));
    }
    file.sync_all().map_err(|e| permanent(write_err(part)(e)))?;
    Ok((hasher, done, resumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 10-19/20"), Some((10, 19, Some(20))));
        assert_eq!(content_range("bytes 0-0/*"), Some((0, 0, None)));
        assert_eq!(content_range("items 0-1/2"), None);
        assert_eq!(content_range("bytes x-1/2"), None);
    }

    #[test]
    fn file_urls() {
        assert_eq!(
            file_url_path("file:///tmp/a%20b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert_eq!(
            file_url_path("file://localhost/x").unwrap(),
            PathBuf::from("/x")
        );
        assert!(file_url_path("file://relative").is_err());
        assert!(file_url_path("file:///bad%2").is_err());
        assert!(matches!(scheme("ftp://x"), Err(FetchError::BadUrl { .. })));
        assert!(matches!(scheme("https://"), Err(FetchError::BadUrl { .. })));
        assert_eq!(scheme("HTTPS://x").unwrap(), Scheme::Http);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let opts = FetchOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..FetchOptions::default()
        };
        assert_eq!(backoff(&opts, 1, None), Duration::from_millis(100));
        assert_eq!(backoff(&opts, 3, None), Duration::from_millis(400));
        assert_eq!(backoff(&opts, 30, None), Duration::from_secs(1));
        assert_eq!(
            backoff(&opts, 1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            backoff(&opts, 1, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
    }
}
