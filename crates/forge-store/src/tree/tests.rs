use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;

use forge_core::hash::HashAlgo;
use forge_core::nar::NarEncoder;

use crate::error::StoreError;

use super::walk::{with_contents, PREFETCH_MIN};
use super::*;

/// Whatever the size (inline or threaded SHA-256, one chunk or many,
/// writes of any length), the sink's digests are those of the bytes.
#[test]
fn sink_digests_match_direct_hashing() {
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        for write_len in [1000, 1 << 20, 3 << 20] {
            let mut sink = NarSink::new(true, None);
            for piece in data.chunks(write_len) {
                sink.write_all(piece).unwrap();
            }
            let d = sink.finish();
            assert_eq!(d.size, size as u64);
            assert_eq!(d.blake3, HashAlgo::Blake3.digest(&data), "size {size}");
            assert_eq!(
                d.sha256,
                Some(HashAlgo::Sha256.digest(&data)),
                "size {size}"
            );
        }
        let mut sink = NarSink::new(false, None);
        sink.write_all(&data).unwrap();
        let d = sink.finish();
        assert_eq!(d.blake3, HashAlgo::Blake3.digest(&data));
        assert_eq!(d.sha256, None);
    }
}

/// Whatever the write sizes and offsets, the file holds exactly the
/// bytes written, and long zero runs take no blocks.
#[test]
fn sparse_writer_keeps_bytes_and_holes() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 64 << 20];
    data[5000..5100].fill(7);
    data[(32 << 20) + 3] = 1;
    data.extend_from_slice(&[9u8; 4097]);
    data.extend_from_slice(&[0u8; 3 << 20]);
    for write_len in [1, 4095, 4096, 100_000, 1 << 20] {
        let p = dir.path().join(format!("f{write_len}"));
        let mut w = SparseWriter::new(File::create(&p).unwrap());
        let mut chunks = data.chunks(if write_len == 1 { 1 << 16 } else { write_len });
        if write_len == 1 {
            // Unaligned start: a few single bytes, then big pieces.
            let (head, rest) = data.split_at(3);
            for b in head {
                w.write_all(std::slice::from_ref(b)).unwrap();
            }
            chunks = rest.chunks(1 << 16);
        }
        for c in chunks {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(fs::read(&p).unwrap(), data, "write_len {write_len}");
        let blocks = fs::metadata(&p).unwrap().blocks() * 512;
        assert!(
            blocks < 1 << 20,
            "write_len {write_len}: {blocks} bytes allocated"
        );
    }
}

/// Files above the read-ahead threshold hash and copy exactly like
/// small ones, and a file that is not the size its metadata said fails.
#[test]
fn read_ahead_gives_the_same_archive() {
    use forge_core::nar::NarNode;
    let dir = tempfile::tempdir().unwrap();
    for size in [
        PREFETCH_MIN - 1,
        PREFETCH_MIN,
        PREFETCH_MIN + 5,
        3 * PREFETCH_MIN + 7,
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let f = dir.path().join(format!("f{size}"));
        fs::write(&f, &data).unwrap();
        let want = NarNode::Regular {
            executable: false,
            contents: data,
        }
        .to_nar();
        let d = hash_tree(&f, true, None, &NoProgress).unwrap();
        assert_eq!(d.blake3, HashAlgo::Blake3.digest(&want), "size {size}");
        assert_eq!(d.sha256, Some(HashAlgo::Sha256.digest(&want)));
        let copy = dir.path().join(format!("c{size}"));
        let mut enc = NarEncoder::new(Vec::new()).unwrap();
        dump_tree(
            &f,
            &mut enc,
            Some(CopyTo {
                dest: &copy,
                max_path_len: usize::MAX,
            }),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(enc.finish().unwrap(), want);
        assert_eq!(fs::read(&copy).unwrap(), fs::read(&f).unwrap());
    }
    // A reader given the wrong size notices.
    let f = dir.path().join(format!("f{PREFETCH_MIN}"));
    let file = File::open(&f).unwrap();
    let (res, exact) = with_contents(file, PREFETCH_MIN + 10, &f, &NoProgress, |r| {
        io::copy(r, &mut io::sink())
    });
    assert_eq!(res.unwrap(), PREFETCH_MIN);
    assert!(matches!(exact, Err(StoreError::SourceChanged { .. })));
    let file = File::open(&f).unwrap();
    let (_, exact) = with_contents(file, PREFETCH_MIN - 10, &f, &NoProgress, |r| {
        io::copy(r, &mut io::sink())
    });
    assert!(matches!(exact, Err(StoreError::SourceChanged { .. })));
}
