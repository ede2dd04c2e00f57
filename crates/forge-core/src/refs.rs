//! Finding store-path references in bytes.
//!
//! An object refers to another store object when its bytes contain that
//! object's 32-character digest (the `hash_part`), exactly as Nix decides
//! references: by scanning, not by declaration. [`RefScanner`] is fed the
//! bytes in chunks of any size (a reference split across two chunks is still
//! found) and reports which of the candidate digests it saw.
//!
//! The scan is linear: at each position it checks whether the 32 bytes that
//! end there are all base32 characters, jumping past any byte that is not, and
//! only then looks the window up in the candidate set.
//!
//! When the candidates are too many to list (every valid path of a large
//! store), [`RefScanner::collect`] instead records every 32-character base32
//! window it sees, up to a limit, and the caller looks those up. Arbitrary
//! bytes rarely contain 32 base32 characters in a row, so the set stays
//! small while the cost stays independent of the store's size.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::base32::is_base32_char;
use crate::store_path::{StorePath, DIGEST_CHARS};

/// Streaming scanner for store-path digests.
#[derive(Debug, Clone)]
pub struct RefScanner {
    candidates: HashMap<[u8; DIGEST_CHARS], StorePath>,
    found: BTreeSet<StorePath>,
    /// In collect mode: every digest-shaped window seen, up to `limit`.
    collected: Option<Collected>,
    /// The last `DIGEST_CHARS - 1` bytes of the previous chunk.
    tail: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Collected {
    windows: HashSet<[u8; DIGEST_CHARS]>,
    limit: usize,
    overflowed: bool,
}

/// The windows a [`RefScanner::collect`] scanner saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collection {
    /// Every 32-character base32 window, as text.
    Windows(BTreeSet<String>),
    /// More distinct windows than the limit: the caller must scan again
    /// against its candidates.
    Overflowed,
}

impl RefScanner {
    /// A scanner that looks for the digests of `candidates`.
    pub fn new<'a>(candidates: impl IntoIterator<Item = &'a StorePath>) -> Self {
        let candidates = candidates
            .into_iter()
            .map(|p| {
                let mut key = [0u8; DIGEST_CHARS];
                key.copy_from_slice(p.hash_part().as_bytes());
                (key, p.clone())
            })
            .collect();
        RefScanner {
            candidates,
            found: BTreeSet::new(),
            collected: None,
            tail: Vec::with_capacity(2 * DIGEST_CHARS),
        }
    }

    /// A scanner that records every digest-shaped window (32 characters of
    /// the base32 alphabet), up to `limit` distinct ones; see
    /// [`RefScanner::finish_collection`].
    pub fn collect(limit: usize) -> Self {
        RefScanner {
            candidates: HashMap::new(),
            found: BTreeSet::new(),
            collected: Some(Collected {
                windows: HashSet::new(),
                limit,
                overflowed: false,
            }),
            tail: Vec::with_capacity(2 * DIGEST_CHARS),
        }
    }

    /// True when there is nothing to look for, so callers can skip feeding.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty() && self.collected.is_none()
    }

    /// Scans the next chunk of the stream.
    pub fn update(&mut self, chunk: &[u8]) {
        if self.is_empty() || chunk.is_empty() {
            return;
        }
        // Scan the seam between the previous chunk and this one on a small
        // joined buffer, then the chunk itself in place.
        if !self.tail.is_empty() {
            let take = chunk.len().min(DIGEST_CHARS - 1);
            let mut seam = [0u8; 2 * (DIGEST_CHARS - 1)];
            let len = self.tail.len() + take;
            seam[..self.tail.len()].copy_from_slice(&self.tail);
            seam[self.tail.len()..len].copy_from_slice(&chunk[..take]);
            self.scan(&seam[..len]);
        }
        self.scan(chunk);
        let keep = chunk.len().min(DIGEST_CHARS - 1);
        self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        if self.tail.len() > DIGEST_CHARS - 1 {
            let excess = self.tail.len() - (DIGEST_CHARS - 1);
            self.tail.drain(..excess);
        }
    }

    fn scan(&mut self, buf: &[u8]) {
        let mut i = 0;
        while i + DIGEST_CHARS <= buf.len() {
            // Find the last non-base32 byte in the window, if any, and jump past it.
            match buf[i..i + DIGEST_CHARS]
                .iter()
                .rposition(|&c| !is_base32_char(c))
            {
                Some(j) => i += j + 1,
                None => {
                    let window: &[u8; DIGEST_CHARS] = buf[i..i + DIGEST_CHARS]
                        .try_into()
                        .expect("window has DIGEST_CHARS bytes");
                    if let Some(c) = &mut self.collected {
                        if !c.overflowed && !c.windows.contains(window) {
                            if c.windows.len() >= c.limit {
                                c.overflowed = true;
                            } else {
                                c.windows.insert(*window);
                            }
                        }
                    } else if let Some(p) = self.candidates.get(window) {
                        self.found.insert(p.clone());
                    }
                    i += 1;
                }
            }
        }
    }

    /// The candidates seen so far.
    pub fn found(&self) -> &BTreeSet<StorePath> {
        &self.found
    }

    /// Finishes and returns the references found (empty in collect mode).
    pub fn finish(self) -> BTreeSet<StorePath> {
        self.found
    }

    /// Finishes a [`RefScanner::collect`] scanner. Returns `None` for a
    /// scanner made with [`RefScanner::new`].
    pub fn finish_collection(self) -> Option<Collection> {
        let c = self.collected?;
        Some(if c.overflowed {
            Collection::Overflowed
        } else {
            Collection::Windows(
                c.windows
                    .into_iter()
                    .map(|w| String::from_utf8(w.to_vec()).expect("base32 is ASCII"))
                    .collect(),
            )
        })
    }
}

impl std::io::Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paths() -> Vec<StorePath> {
        [
            "/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-a",
            "/forge/store/11bgd045z0d4icpbc2yyz4gx48ak44la-b",
            "/forge/store/22bgd045z0d4icpbc2yyz4gx48ak44la-c",
        ]
        .iter()
        .map(|s| StorePath::parse(s).unwrap())
        .collect()
    }

    #[test]
    fn finds_embedded_paths_only() {
        let ps = paths();
        let mut s = RefScanner::new(&ps);
        s.update(b"#!/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-a/bin/sh\n");
        s.update(b"x22bgd045z0d4icpbc2yyz4gx48ak44lay"); // inside a longer base32 run
        s.update(b"11bgd045z0d4icpbc2yyz4gx48ak44l"); // one char short
        assert_eq!(
            s.finish(),
            [ps[0].clone(), ps[2].clone()].into_iter().collect()
        );
    }

    #[test]
    fn collect_mode_records_digest_shaped_windows() {
        let ps = paths();
        let mut s = RefScanner::collect(100);
        s.update(b"see /forge/store/");
        s.update(&ps[1].hash_part().as_bytes()[..10]);
        s.update(&ps[1].hash_part().as_bytes()[10..]);
        s.update(b"-b and nothing else here");
        assert_eq!(
            s.finish_collection(),
            Some(Collection::Windows(
                [ps[1].hash_part().to_owned()].into_iter().collect()
            ))
        );

        // 40 base32 characters hold 9 windows; a limit of 5 overflows.
        let mut s = RefScanner::collect(5);
        s.update(&[b'a'; 40][..]);
        s.update(b"0123456789abcdfghijklmnpqrsvwxyz0123456789");
        assert_eq!(s.finish_collection(), Some(Collection::Overflowed));
        assert_eq!(RefScanner::new(&ps).finish_collection(), None);
    }

    proptest! {
        /// Splitting the stream anywhere never changes what is found.
        #[test]
        fn chunking_is_invisible(
            prefix in proptest::collection::vec(any::<u8>(), 0..100),
            suffix in proptest::collection::vec(any::<u8>(), 0..100),
            which in 0usize..3,
            cuts in proptest::collection::vec(0usize..300, 0..6),
        ) {
            let ps = paths();
            let mut data = prefix.clone();
            data.extend_from_slice(ps[which].hash_part().as_bytes());
            data.extend_from_slice(&suffix);

            let mut whole = RefScanner::new(&ps);
            whole.update(&data);
            let want = whole.finish();
            prop_assert!(want.contains(&ps[which]));

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort();
            let mut s = RefScanner::new(&ps);
            let mut last = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                s.update(&data[last..c]);
                last = c;
            }
            prop_assert_eq!(s.finish(), want);
        }
    }
}
