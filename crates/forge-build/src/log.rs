//! Build logs: stored compressed, one per derivation, found by action digest
//! or by recipe.
//!
//! A build's standard output and error go, interleaved as they arrive, into
//! `<root>/logs/<aa>/<action digest hex>.log.zst` (zstd, streamed while the
//! build runs, so a crash loses at most the last block). The last lines are
//! also kept in memory to print when the build fails. Each recipe's most
//! recent build attempt is recorded in `<root>/logs/recipes/<blake3 of its
//! directory>`, so `forge log recipes/x` finds the log of a build that failed
//! (and so has no output path to look up).

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Lines kept for the failure report.
pub const TAIL_LINES: usize = 25;

/// Where logs live under a store root.
pub fn logs_dir(root: &Path) -> PathBuf {
    root.join("logs")
}

/// The log file of the derivation with digest `hex`.
pub fn log_file(root: &Path, hex: &str) -> PathBuf {
    logs_dir(root)
        .join(&hex[..2.min(hex.len())])
        .join(format!("{hex}.log.zst"))
}

fn recipe_index(root: &Path, recipe_dir: &Path) -> PathBuf {
    let key = blake3::hash(recipe_dir.as_os_str().as_encoded_bytes());
    logs_dir(root).join("recipes").join(key.to_hex().as_str())
}

/// Records that `recipe_dir` was last built as derivation `hex`.
pub fn record_recipe(root: &Path, recipe_dir: &Path, hex: &str) -> io::Result<()> {
    let f = recipe_index(root, recipe_dir);
    // The common case, a no-op rebuild, writes nothing.
    if fs::read_to_string(&f).is_ok_and(|s| s.trim() == hex) {
        return Ok(());
    }
    if let Some(parent) = f.parent() {
        fs::create_dir_all(parent)?;
    }
    // Written in place: a torn write only makes `forge log RECIPE` miss,
    // and a rename would allocate an inode per build.
    fs::write(&f, hex)
}

/// The digest of the last build of `recipe_dir`, if any.
pub fn last_build_of(root: &Path, recipe_dir: &Path) -> Option<String> {
    fs::read_to_string(recipe_index(root, recipe_dir))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Reads a stored log back. The log of a build still running (or of one
/// whose forge was killed) ends mid-frame; what is there is returned.
pub fn read_log(file: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = zstd::stream::read::Decoder::new(fs::File::open(file)?)?;
    let mut buf = [0u8; 16 << 10];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || !out.is_empty() => {
                return Ok(out)
            }
            Err(e) => return Err(e),
        }
    }
}

/// Called with every complete line of a log as it arrives.
pub type LineHook = Box<dyn FnMut(&str) + Send>;

struct Inner {
    encoder: Option<zstd::stream::write::Encoder<'static, fs::File>>,
    hook: Option<LineHook>,
    tail: VecDeque<String>,
    partial: Vec<u8>,
    echo: bool,
    prefix: String,
}

/// A log being written; clones share it (the sandbox's two relays).
#[derive(Clone)]
pub struct LogWriter(Arc<Mutex<Inner>>);

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogWriter")
    }
}

impl LogWriter {
    /// Starts the log at `file` (replacing an older one). With `echo`,
    /// lines are also printed on stderr, prefixed by `prefix`.
    pub fn create(file: &Path, echo: bool, prefix: &str) -> io::Result<LogWriter> {
        Self::with_hook(file, echo, prefix, None)
    }

    /// [`LogWriter::create`], also calling `hook` with each line.
    pub fn with_hook(
        file: &Path,
        echo: bool,
        prefix: &str,
        hook: Option<LineHook>,
    ) -> io::Result<LogWriter> {
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        let f = fs::File::create(file)?;
        let encoder = zstd::stream::write::Encoder::new(f, 3)?;
        Ok(LogWriter(Arc::new(Mutex::new(Inner {
            encoder: Some(encoder),
            hook,
            tail: VecDeque::new(),
            partial: Vec::new(),
            echo,
            prefix: prefix.to_owned(),
        }))))
    }

    /// Finishes the file; returns the last lines.
    pub fn finish(&self) -> io::Result<Vec<String>> {
        let mut inner = self
            .0
            .lock()
            .map_err(|_| io::Error::other("log poisoned"))?;
        if !inner.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut inner.partial)).into_owned();
            push_line(&mut inner, line);
        }
        if let Some(enc) = inner.encoder.take() {
            enc.finish()?;
        }
        Ok(inner.tail.iter().cloned().collect())
    }
}

fn push_line(inner: &mut Inner, line: String) {
    if let Some(hook) = inner.hook.as_mut() {
        hook(&line);
    }
    if inner.echo {
        eprintln!("{}{}", inner.prefix, line);
    }
    if inner.tail.len() == TAIL_LINES {
        inner.tail.pop_front();
    }
    inner.tail.push_back(line);
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self
            .0
            .lock()
            .map_err(|_| io::Error::other("log poisoned"))?;
        if let Some(enc) = inner.encoder.as_mut() {
            enc.write_all(buf)?;
            // Each chunk reaches the file at once: `forge log` of a running
            // build shows it, and a crash loses nothing written.
            enc.flush()?;
        }
        inner.partial.extend_from_slice(buf);
        while let Some(pos) = inner.partial.iter().position(|&b| b == b'\n') {
            let rest = inner.partial.split_off(pos + 1);
            let mut line = std::mem::replace(&mut inner.partial, rest);
            line.pop();
            let line = String::from_utf8_lossy(&line).into_owned();
            push_line(&mut inner, line);
        }
        // A builder printing one enormous line must not grow memory.
        if inner.partial.len() > 64 << 10 {
            inner.partial.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_everything_and_keeps_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let f = log_file(dir.path(), "abcdef");
        let log = LogWriter::create(&f, false, "").unwrap();
        let mut w1 = log.clone();
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!("line {i}\n"));
        }
        text.push_str("no newline at the end");
        for chunk in text.as_bytes().chunks(7) {
            w1.write_all(chunk).unwrap();
        }
        let partial = read_log(&f).unwrap();
        assert!(text.as_bytes().starts_with(&partial) && partial.len() > 600);
        let tail = log.finish().unwrap();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().unwrap(), "no newline at the end");
        assert_eq!(tail[0], format!("line {}", 100 - TAIL_LINES + 1));
        assert_eq!(read_log(&f).unwrap(), text.as_bytes());
    }

    #[test]
    fn recipe_index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_build_of(dir.path(), Path::new("/r/a")), None);
        record_recipe(dir.path(), Path::new("/r/a"), "beef").unwrap();
        assert_eq!(
            last_build_of(dir.path(), Path::new("/r/a")).as_deref(),
            Some("beef")
        );
        assert_eq!(last_build_of(dir.path(), Path::new("/r/b")), None);
    }
}
