//! What the manifest says of each file of the pack: its bytes, counted and hashed as they are
//! written.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::FileEntry;

/// A writer that hashes and counts what passes through it.
pub(crate) struct Hashing<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) bytes: usize,
}

impl<W> Hashing<W> {
    pub(crate) fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// What the manifest says of the file written through it.
    pub(crate) fn entry(&mut self, name: &str) -> FileEntry {
        FileEntry {
            path: name.to_string(),
            bytes: self.bytes,
            sha256: std::mem::take(&mut self.hasher)
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
