//! Build logs: stored compressed, one per derivation, found by action digest
//! or by recipe.
//!
//! A build's standard output and error go, interleaved as they arrive, into
//! `<root>/logs/<aa>/<action digest hex>.log.zst` (the paths are the store's
//! [`Layout`]'s) (zstd, streamed while the
//! build runs, so a crash loses at most the last block). The last lines are
//! also kept in memory to print when the build fails. Each recipe's most
//! recent build attempt is recorded in `<root>/logs/recipes/<blake3 of its
//! directory>`, so `forge log recipes/x` finds the log of a build that failed
//! (and so has no output path to look up). Beside each build's log,
//! `<hex>.build.json` ([`BuildRecord`]) says which recipe it was, when it
//! ran and how the builder ended, for `forge log`'s header.
//!
//! A log is capped ([`LogOptions::max_size`], 16 MiB by default, `--max-log-size`
//! / `FORGE_MAX_LOG_SIZE`): its first half is written as it comes; past it, a
//! notice is written and the output goes to a ring buffer of the other half,
//! written when the build ends after a second notice saying how many bytes
//! were dropped in between. So a log never takes more than the cap (and two
//! short notices) on disk, nor more than half of it in memory. Lines printed
//! with `-L` and the tail kept for the failure report see everything.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use forge_core::derivation::ActionDigest;
use forge_core::store_path::StorePath;
use forge_store::Layout;

/// Lines kept for the failure report.
pub const TAIL_LINES: usize = 25;

/// The default cap of a stored log, in bytes.
pub const DEFAULT_MAX_LOG_SIZE: u64 = 16 << 20;

/// Receives each line of a log as it comes, prefixed (`-L`); the CLI
/// decides how to show it (it neutralises escape sequences on a terminal).
#[derive(Clone)]
pub struct Echo(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Echo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Echo")
    }
}

/// How a log is written.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Where lines are echoed (`-L`), each as `prefix` + line.
    pub echo: Option<Echo>,
    /// Put before each echoed line.
    pub prefix: String,
    /// The cap of the stored log in bytes (0: none); see the module docs.
    pub max_size: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            echo: None,
            prefix: String::new(),
            max_size: DEFAULT_MAX_LOG_SIZE,
        }
    }
}

/// Where logs live under a store root ([`Layout::logs_dir`]).
pub fn logs_dir(root: &Path) -> PathBuf {
    Layout::new(root).logs_dir()
}

/// The log file of the derivation with digest `hex` ([`Layout::log_file`]).
pub fn log_file(root: &Path, hex: &str) -> PathBuf {
    Layout::new(root).log_file(hex)
}

/// Where the log of a `--check` rebuild of derivation `hex` goes: beside
/// the build's own, which stays the log of what was registered
/// ([`Layout::check_log_file`]).
pub fn check_log_file(root: &Path, hex: &str) -> PathBuf {
    Layout::new(root).check_log_file(hex)
}

fn recipe_index(root: &Path, recipe_dir: &Path) -> PathBuf {
    Layout::new(root).recipe_log_index(recipe_dir)
}

/// What `forge log` says about the build a log is of.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildRecord {
    /// `name-version`.
    pub recipe: String,
    /// The recipe file, as the build named it.
    pub file: PathBuf,
    /// The recipe's directory, canonical (to compare with its last build).
    pub dir: PathBuf,
    /// The derivation's action digest (`blake3:<hex>`).
    pub action_digest: String,
    /// When the builder started, in Unix seconds.
    pub started: i64,
    /// How long it ran.
    pub seconds: f64,
    /// How it ended ([`crate::BuilderStatus::describe`]: `succeeded`,
    /// `failed with exit code 3`, …).
    pub status: String,
}

/// Records `record` beside the log of `hex`. A failure only loses
/// `forge log`'s header: the caller may ignore it.
pub fn write_record(root: &Path, hex: &str, record: &BuildRecord) -> io::Result<()> {
    let f = Layout::new(root).build_record_file(hex);
    if let Some(parent) = f.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = f.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, serde_json::to_vec(record).map_err(io::Error::other)?)?;
    fs::rename(&tmp, &f)
}

/// The record of the build of `hex`, if one was written (builds by a forge
/// before records were kept have none).
pub fn read_record(root: &Path, hex: &str) -> Option<BuildRecord> {
    let bytes = fs::read(Layout::new(root).build_record_file(hex)).ok()?;
    serde_json::from_slice(&bytes).ok()
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

/// The derivation the recipe at `arg` (as typed: a directory or its recipe
/// file) was last built as, if it was; `forge log RECIPE` and `forge run
/// RECIPE` start from it.
pub fn last_build(root: &Path, arg: &Path) -> Result<Option<ActionDigest>, crate::BuildError> {
    let (dir, _) = crate::graph::locate(arg)?;
    let dir = fs::canonicalize(&dir).map_err(|source| crate::BuildError::Io {
        what: format!("resolving {}", dir.display()),
        source,
    })?;
    Ok(last_build_of(root, &dir).and_then(|hex| hex.parse().ok()))
}

/// If the recipe of `record` has been built since as another derivation
/// whose output is `path` too (the same bytes: early cutoff), that
/// derivation. `forge log PATH` then says the log is of the build that
/// made `path`, not of the latest one.
pub fn rebuilt_to_same_path(
    root: &Path,
    record: &BuildRecord,
    path: &StorePath,
) -> Option<ActionDigest> {
    let latest: ActionDigest = last_build_of(root, &record.dir)?.parse().ok()?;
    if latest.to_string() == record.action_digest {
        return None;
    }
    let store = forge_store::Store::open(root).ok()?;
    store
        .realised_paths(&latest)
        .ok()?
        .contains(path)
        .then_some(latest)
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
    opts: LogOptions,
    /// Bytes of output stored so far (the head, while not cut).
    stored: u64,
    /// Whether the last byte stored was a newline.
    at_line_start: bool,
    /// Past the head: the last bytes, at most the tail budget.
    ring: Option<VecDeque<u8>>,
    /// Bytes that fell out of the ring.
    dropped: u64,
    /// Something was stored since the last flush.
    dirty: bool,
}

impl Inner {
    fn head_budget(&self) -> u64 {
        self.opts.max_size / 2
    }

    fn tail_budget(&self) -> u64 {
        self.opts.max_size - self.head_budget()
    }

    fn store(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(enc) = self.encoder.as_mut() {
            enc.write_all(bytes)?;
        }
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
            self.dirty = true;
        }
        Ok(())
    }

    fn notice(&mut self, text: &str) -> io::Result<()> {
        let nl = if self.at_line_start { "" } else { "\n" };
        self.store(format!("{nl}[forge: {text}]\n").as_bytes())
    }

    /// Stores `buf` within the cap.
    fn capped(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.opts.max_size == 0 {
            return self.store(buf);
        }
        let mut rest = buf;
        if self.ring.is_none() {
            let room = (self.head_budget() - self.stored).min(rest.len() as u64) as usize;
            let (now, later) = rest.split_at(room);
            self.store(now)?;
            self.stored += room as u64;
            rest = later;
            if rest.is_empty() {
                return Ok(());
            }
            let (max, head, tail) = (self.opts.max_size, self.head_budget(), self.tail_budget());
            self.notice(&format!(
                "this log is capped at {max} bytes: after its first {head} bytes, only its last {tail} bytes are kept, written when the build ends"
            ))?;
            self.ring = Some(VecDeque::new());
        }
        let budget = self.tail_budget() as usize;
        let ring = self.ring.as_mut().expect("cut");
        if rest.len() >= budget {
            self.dropped += (ring.len() + rest.len() - budget) as u64;
            ring.clear();
            ring.extend(&rest[rest.len() - budget..]);
        } else {
            ring.extend(rest);
            let over = ring.len().saturating_sub(budget);
            if over > 0 {
                ring.drain(..over);
                self.dropped += over as u64;
            }
        }
        Ok(())
    }

    /// Writes the ring (after a notice if something was dropped).
    fn flush_ring(&mut self) -> io::Result<()> {
        let Some(ring) = self.ring.take() else {
            return Ok(());
        };
        if self.dropped > 0 {
            let (dropped, max, kept) = (self.dropped, self.opts.max_size, ring.len());
            self.notice(&format!(
                "{dropped} bytes dropped here (the log passed its cap of {max} bytes); its last {kept} bytes follow"
            ))?;
        }
        let (a, b) = ring.as_slices();
        self.store(a)?;
        self.store(b)
    }
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
    /// Starts the log at `file` (replacing an older one), written as
    /// `opts` says, calling `hook` (if any) with each line.
    pub fn create(file: &Path, opts: LogOptions, hook: Option<LineHook>) -> io::Result<LogWriter> {
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
            opts,
            stored: 0,
            at_line_start: true,
            ring: None,
            dropped: 0,
            dirty: false,
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
        inner.flush_ring()?;
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
    if let Some(echo) = &inner.opts.echo {
        (echo.0)(&format!("{}{}", inner.opts.prefix, line));
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
        inner.capped(buf)?;
        if std::mem::take(&mut inner.dirty) {
            if let Some(enc) = inner.encoder.as_mut() {
                // Each chunk reaches the file at once: `forge log` of a
                // running build shows it, and a crash loses nothing written.
                enc.flush()?;
            }
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
        let log = LogWriter::create(&f, LogOptions::default(), None).unwrap();
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
    fn a_log_past_its_cap_keeps_its_head_and_tail_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let f = log_file(dir.path(), "cafe");
        let opts = LogOptions {
            max_size: 1000,
            ..LogOptions::default()
        };
        let log = LogWriter::create(&f, opts, None).unwrap();
        let mut w = log.clone();
        let mut all = Vec::new();
        for i in 0..2000 {
            all.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        for chunk in all.chunks(333) {
            w.write_all(chunk).unwrap();
        }
        let tail = log.finish().unwrap();
        assert_eq!(
            tail.last().unwrap(),
            "line 1999",
            "the failure tail sees all"
        );
        let stored = read_log(&f).unwrap();
        assert!(stored.len() <= 1000 + 400, "{}", stored.len());
        assert!(stored.starts_with(&all[..500]), "the head");
        assert!(stored.ends_with(&all[all.len() - 500..]), "the tail");
        let text = String::from_utf8(stored).unwrap();
        let dropped = all.len() - 1000;
        assert!(
            text.contains(&format!("[forge: {dropped} bytes dropped here")),
            "{text}"
        );
        // Under the cap: stored whole, no notice.
        let g = log_file(dir.path(), "beef");
        let opts = LogOptions {
            max_size: 1 << 20,
            ..LogOptions::default()
        };
        let log = LogWriter::create(&g, opts, None).unwrap();
        log.clone().write_all(&all).unwrap();
        log.finish().unwrap();
        assert_eq!(read_log(&g).unwrap(), all);
        // Past half the cap but not past the cap: nothing dropped.
        let h = log_file(dir.path(), "f00d");
        let opts = LogOptions {
            max_size: all.len() as u64 + 10,
            ..LogOptions::default()
        };
        let log = LogWriter::create(&h, opts, None).unwrap();
        log.clone().write_all(&all).unwrap();
        log.finish().unwrap();
        let stored = String::from_utf8(read_log(&h).unwrap()).unwrap();
        assert!(!stored.contains("dropped"), "{stored}");
        let half = all.len() / 2 + 5;
        assert!(stored.as_bytes().starts_with(&all[..half]), "{stored}");
        assert!(stored.as_bytes().ends_with(&all[half..]), "{stored}");
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
