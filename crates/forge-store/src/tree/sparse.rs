//! Writing files that keep their holes.

use std::fs::File;
use std::io::{self, Read, Write};

/// Writes a new file, leaving holes where aligned blocks are zero,
/// so that a sparse file copied through a stream (the placeholder rewrite)
/// stays sparse. [`SparseWriter::finish`] sets the final length, which
/// covers a trailing hole.
#[derive(Debug)]
pub struct SparseWriter {
    file: File,
    pos: u64,
}

/// The unit of holes: a page, the smallest block a filesystem allocates.
const HOLE_BLOCK: usize = 4096;

impl SparseWriter {
    /// Writes into `file`, which must be new and empty.
    pub fn new(file: File) -> Self {
        SparseWriter { file, pos: 0 }
    }

    /// Copies everything `r` yields.
    pub fn copy_from(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Sets the file's length to what was written and returns it.
    pub fn finish(self) -> io::Result<File> {
        self.file.set_len(self.pos)?;
        Ok(self.file)
    }
}

impl Write for SparseWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut i = 0; // start of the piece being looked at
        let mut run = 0; // start of the data not yet written
        while i < data.len() {
            let at = self.pos + i as u64;
            let to_boundary = HOLE_BLOCK - (at % HOLE_BLOCK as u64) as usize;
            let end = (i + to_boundary).min(data.len());
            let block = &data[i..end];
            // The file is new: what is not written reads as zeros, so a zero
            // piece of a block (whole or at either end of a write) is skipped.
            if block.iter().fold(0u8, |a, &b| a | b) == 0 {
                if run < i {
                    self.file
                        .write_all_at(&data[run..i], self.pos + run as u64)?;
                }
                run = end;
            }
            i = end;
        }
        if run < data.len() {
            self.file
                .write_all_at(&data[run..], self.pos + run as u64)?;
        }
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
