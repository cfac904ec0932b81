//! Reading a snapshot file, plain or gzip, within limits: a compressed snapshot expands only so
//! far, and a run of whitespace no snapshot holds stops the read.

use std::path::Path;

/// How far a compressed snapshot may expand before reading stops: a few megabytes of gzip can
/// hold gigabytes of JSON (or whitespace), which would otherwise be parsed to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Expanded bytes at most (`KMSAUDIT_MAX_INFLATED_BYTES`; default 8 GiB).
    pub max_bytes: u64,
    /// Expanded bytes per compressed byte at most (`KMSAUDIT_MAX_INFLATE_RATIO`; default 50: a
    /// snapshot compresses about tenfold).
    pub max_ratio: u64,
}

impl Default for InflateLimits {
    fn default() -> Self {
        InflateLimits {
            max_bytes: 8 << 30,
            max_ratio: 50,
        }
    }
}

/// A run of whitespace longer than this is not a snapshot (kmsaudit writes compact JSON): a
/// whitespace bomb stops here instead of being parsed to its end.
const MAX_WHITESPACE_RUN: u64 = 1 << 20;

/// A reader that fails once more than `limit` bytes came through it, or a run of more than
/// [`MAX_WHITESPACE_RUN`] whitespace bytes.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
    why: String,
    whitespace_run: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(self.why.clone()));
        }
        for &b in &buf[..n] {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.whitespace_run += 1;
            } else {
                self.whitespace_run = 0;
            }
        }
        if self.whitespace_run > MAX_WHITESPACE_RUN {
            return Err(std::io::Error::other(format!(
                "more than {MAX_WHITESPACE_RUN} bytes of whitespace in a row: not a snapshot"
            )));
        }
        Ok(n)
    }
}

/// A reader of a snapshot file's JSON, plain or gzip-compressed (told apart by the gzip magic
/// number, not the file name), and whether it was compressed. The file is streamed: a large
/// snapshot is never held whole as text beside the records parsed from it. Only a regular file
/// is read (not a device or FIFO), and a compressed one expands within `limits`.
pub fn snapshot_reader(
    path: &Path,
    limits: InflateLimits,
) -> std::io::Result<(Box<dyn std::io::Read + Send>, bool)> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut file = std::io::BufReader::with_capacity(1 << 20, file);
    let compressed = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn std::io::Read + Send> = if compressed {
        let by_ratio = meta.len().saturating_mul(limits.max_ratio).max(1 << 20);
        let limit = limits.max_bytes.min(by_ratio);
        let why = format!(
            "the compressed snapshot expands past {limit} bytes (limits: {} bytes, \
             KMSAUDIT_MAX_INFLATED_BYTES; {}x its compressed size, KMSAUDIT_MAX_INFLATE_RATIO); \
             raise them if this snapshot is genuine",
            limits.max_bytes, limits.max_ratio
        );
        Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            Capped {
                inner: flate2::read::MultiGzDecoder::new(file),
                read: 0,
                limit,
                why,
                whitespace_run: 0,
            },
        ))
    } else {
        // A plain file is as large as it says: only the whitespace guard applies.
        Box::new(Capped {
            inner: file,
            read: 0,
            limit: u64::MAX,
            why: String::new(),
            whitespace_run: 0,
        })
    };
    Ok((reader, compressed))
}
