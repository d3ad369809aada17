//! Progress for people: the library says what it is doing through a
//! [`Reporter`]; the binary decides how to show it (bars on a terminal,
//! one line per step otherwise, nothing under `-q`). Libraries that embed
//! the builder get [`Silent`] unless they ask for more.

use std::io::{self, Write};

/// Receives steps and byte counts. Every method has a do-nothing default.
pub trait Reporter: Send + Sync {
    /// A step in the words of a Dockerfile user (`FROM …`, `layer …`).
    fn step(&self, _text: &str) {}
    /// Starts a byte-counted task (`total` when known); `id` names it in
    /// later calls.
    fn start(&self, _id: &str, _text: &str, _total: Option<u64>) {}
    /// `bytes` more bytes of task `id` are done.
    fn advance(&self, _id: &str, _bytes: u64) {}
    /// Task `id` is done.
    fn finish(&self, _id: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Reporter for Silent {}

/// A writer that reports every byte passing through it as progress of
/// task `id`.
pub struct CountingWriter<'a, W> {
    inner: W,
    reporter: &'a dyn Reporter,
    id: &'a str,
}

impl<'a, W: Write> CountingWriter<'a, W> {
    pub fn new(inner: W, reporter: &'a dyn Reporter, id: &'a str) -> Self {
        CountingWriter {
            inner,
            reporter,
            id,
        }
    }
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.reporter.advance(self.id, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that reports every byte read through it as progress of task
/// `id`; owned, so that it can be an HTTP request body.
pub struct CountingReader<R> {
    inner: R,
    reporter: std::sync::Arc<dyn Reporter>,
    id: String,
}

impl<R: io::Read> CountingReader<R> {
    pub fn new(inner: R, reporter: std::sync::Arc<dyn Reporter>, id: String) -> Self {
        CountingReader {
            inner,
            reporter,
            id,
        }
    }
}

impl<R: io::Read> io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.reporter.advance(&self.id, n as u64);
        Ok(n)
    }
}

/// The task id under which the upload of blob `hex` is reported.
pub fn upload_id(hex: &str) -> String {
    format!("upload {hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Tally(Mutex<u64>);

    impl Reporter for Tally {
        fn advance(&self, _id: &str, bytes: u64) {
            *self.0.lock().unwrap() += bytes;
        }
    }

    #[test]
    fn counting_writer_reports_every_byte() {
        let tally = Tally::default();
        let mut out = CountingWriter::new(Vec::new(), &tally, "x");
        out.write_all(b"hello world").unwrap();
        assert_eq!(*tally.0.lock().unwrap(), 11);
    }
}
