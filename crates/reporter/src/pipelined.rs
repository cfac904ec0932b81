//! Making a file's bytes on one thread while another hashes and stores them: access.csv, the
//! pack's largest file by far (gigabytes at organization scale), is otherwise one core's work
//! from its first row to its last hash, long after every other file is written.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// What one hand-over carries.
const CHUNK: usize = 1 << 20;
/// Chunks made but not yet stored, at most: the memory this costs is a few of them.
const QUEUED: usize = 4;

/// Runs `produce` with a writer whose bytes reach `inner`, in order, on a thread of its own.
/// An error of `inner` (a full disk) is the one returned, turned by `io_error`, even when
/// `produce` then failed for it.
pub(crate) fn on_two_threads<W: Write + Send, T, E>(
    inner: &mut W,
    produce: impl FnOnce(&mut dyn Write) -> Result<T, E>,
    io_error: impl FnOnce(std::io::Error) -> E,
) -> Result<T, E> {
    let (full, to_store) = sync_channel::<Vec<u8>>(QUEUED);
    let (emptied, to_reuse) = sync_channel::<Vec<u8>>(QUEUED);
    std::thread::scope(|scope| {
        let storing = scope.spawn(move || -> std::io::Result<()> {
            for mut chunk in to_store {
                inner.write_all(&chunk)?;
                chunk.clear();
                // A chunk not taken back is simply freed.
                let _ = emptied.try_send(chunk);
            }
            Ok(())
        });
        let mut front = Front {
            chunk: Vec::with_capacity(CHUNK),
            full,
            to_reuse,
        };
        let produced = produce(&mut front);
        let handed_over = front.hand_over();
        drop(front);
        let stored = storing
            .join()
            .expect("the thread storing a file's bytes does not panic");
        match (stored, produced, handed_over) {
            (Err(e), _, _) => Err(io_error(e)),
            (Ok(()), Err(e), _) => Err(e),
            (Ok(()), Ok(_), Err(e)) => Err(io_error(e)),
            (Ok(()), Ok(t), Ok(())) => Ok(t),
        }
    })
}

/// The making side: gathers bytes into chunks and hands each over when full.
struct Front {
    chunk: Vec<u8>,
    /// Dropped with the front, which ends the storing thread's loop.
    full: SyncSender<Vec<u8>>,
    to_reuse: Receiver<Vec<u8>>,
}

impl Front {
    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = self
            .to_reuse
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.chunk, next);
        if chunk.is_empty() {
            return Ok(());
        }
        self.full
            .send(chunk)
            .map_err(|_| std::io::Error::other("the file's writer stopped"))
    }
}

impl Write for Front {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(bytes.len())
    }

    /// Bytes reach the file when their chunk is full or `produce` returns.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arrive_whole_and_in_order() {
        let mut stored = Vec::new();
        let lines = on_two_threads(
            &mut stored,
            |out| -> std::io::Result<usize> {
                for i in 0..300_000 {
                    writeln!(out, "row {i}")?;
                }
                Ok(300_000)
            },
            |e| e,
        )
        .unwrap();
        assert_eq!(lines, 300_000);
        let expected: String = (0..300_000).map(|i| format!("row {i}\n")).collect();
        assert!(stored.len() > 2 * CHUNK);
        assert!(stored == expected.as_bytes());
    }

    /// A writer that fails after some bytes, as a full disk does.
    struct FillsUp(usize);

    impl Write for FillsUp {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0 < bytes.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            self.0 -= bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_stores_error_is_the_one_returned() {
        for (room, rows) in [(3 * CHUNK, 1_000_000), (10, 10)] {
            let err = on_two_threads(
                &mut FillsUp(room),
                |out| {
                    for i in 0..rows {
                        writeln!(out, "row {i}").map_err(|e| e.to_string())?;
                    }
                    Ok(())
                },
                |e| format!("store: {e}"),
            )
            .unwrap_err();
            assert_eq!(err, "store: No space left on device");
        }
        let err =
            on_two_threads(&mut Vec::new(), |_| Err::<(), _>("made"), |_| "stored").unwrap_err();
        assert_eq!(err, "made");
    }
}
