//! Layer compression: block-parallel gzip and multi-threaded zstd.
//!
//! Gzip is written the way pigz writes it: the input is cut into fixed-size
//! blocks, each block is deflated on its own (primed with the previous
//! block's last 32 KiB as dictionary, so the ratio stays that of one
//! stream), non-final blocks end in a sync flush so that they end on a byte
//! boundary, and the pieces are concatenated into one gzip member whose
//! CRC-32 is combined from the blocks' CRCs. Block boundaries depend only on
//! the input, never on the number of threads, so the output bytes are the
//! same on any machine. The gzip header carries no name and no time, and a
//! fixed OS byte.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use flate2::{Compress, FlushCompress, Status};

/// How a layer's tar stream is stored.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// A compressing writer in front of `out`.
    pub fn writer<'a, W: Write + Send + 'a>(self, out: W) -> io::Result<Box<dyn Finish<W> + 'a>> {
        Ok(match self {
            Compression::Gzip => Box::new(ParallelGzip::new(out, GZIP_LEVEL)),
            Compression::Zstd => Box::new(ZstdWriter::new(out)?),
        })
    }
}

/// A compressing writer that must be finished to write its trailer.
pub trait Finish<W>: Write {
    fn finish(self: Box<Self>) -> io::Result<W>;
}

/// Level 6 is gzip's own default: the usual trade of size for speed.
pub const GZIP_LEVEL: u32 = 6;
/// Level 3 is zstd's default.
const ZSTD_LEVEL: i32 = 3;
/// Uncompressed bytes per zstd job.
const ZSTD_JOB_SIZE: u32 = 2 << 20;
/// Uncompressed bytes per gzip block. Large enough that the per-block sync
/// flush costs nothing measurable, small enough to keep memory flat.
const BLOCK_SIZE: usize = 256 * 1024;
/// Deflate's window: the most history a block can refer back to.
const DICT_SIZE: usize = 32 * 1024;
/// Fixed gzip header: magic, deflate, no flags, no mtime, no extra flags,
/// OS "unknown" (255) so the host does not show through.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

type Job = Box<dyn FnOnce() + Send>;

/// One pool of compression threads shared by every layer being built, so
/// that concurrent layers share the cores instead of oversubscribing them.
fn pool() -> &'static SyncSender<Job> {
    static POOL: OnceLock<SyncSender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (tx, rx) = mpsc::sync_channel::<Job>(threads * 4);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("deflate-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawning a compression thread");
        }
        tx
    })
}

struct Block {
    deflated: Vec<u8>,
    crc: crc32fast::Hasher,
}

/// A gzip writer that deflates blocks on every core (see the module docs).
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    block: Vec<u8>,
    dict: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Block>>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    total: u64,
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(out: W, level: u32) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParallelGzip {
            out,
            level,
            block: Vec::with_capacity(BLOCK_SIZE),
            dict: Vec::new(),
            pending: VecDeque::new(),
            max_pending: threads * 2,
            crc: crc32fast::Hasher::new(),
            total: 0,
        }
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        if self.total == self.block.len() as u64 {
            self.out.write_all(&GZIP_HEADER)?;
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
        let dict = std::mem::take(&mut self.dict);
        let tail = block.len().saturating_sub(DICT_SIZE);
        self.dict = block[tail..].to_vec();
        let level = self.level;
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(deflate_block(&block, &dict, level, last));
        });
        pool()
            .send(job)
            .map_err(|_| io::Error::other("compression threads have stopped"))?;
        self.pending.push_back(rx);
        while self.pending.len() > self.max_pending {
            self.collect_one()?;
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let block = rx
            .recv()
            .map_err(|_| io::Error::other("a compression thread failed"))??;
        self.crc.combine(&block.crc);
        self.out.write_all(&block.deflated)
    }
}

fn deflate_block(input: &[u8], dict: &[u8], level: u32, last: bool) -> io::Result<Block> {
    let mut compress = Compress::new(flate2::Compression::new(level), false);
    if !dict.is_empty() {
        compress.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut deflated = Vec::with_capacity(input.len() / 2 + 1024);
    loop {
        let consumed = compress.total_in() as usize;
        let status = compress
            .compress_vec(&input[consumed..], &mut deflated, flush)
            .map_err(io::Error::other)?;
        let all_in = compress.total_in() as usize == input.len();
        let room_left = deflated.len() < deflated.capacity();
        let done = match status {
            Status::StreamEnd => true,
            _ if last => false,
            _ => all_in && room_left,
        };
        if done {
            break;
        }
        deflated.reserve(deflated.capacity().max(4096));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(input);
    Ok(Block { deflated, crc })
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_SIZE - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        self.total += n as u64;
        if self.block.len() == BLOCK_SIZE {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Finish<W> for ParallelGzip<W> {
    fn finish(mut self: Box<Self>) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.collect_one()?;
        }
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the input length modulo 2^32, as RFC 1952 defines it.
        self.out.write_all(&(self.total as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

/// zstd in multi-threaded mode. Its output does not depend on the number of
/// worker threads (only on whether there is at least one), so every machine
/// writes the same bytes.
pub struct ZstdWriter<'a, W: Write> {
    encoder: zstd::stream::write::Encoder<'a, W>,
}

impl<W: Write> ZstdWriter<'_, W> {
    fn new(out: W) -> io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
        encoder.multithread(threads.max(1) as u32)?;
        // Each worker holds a job's input and output: a fixed, small job
        // keeps memory flat (and, being fixed, keeps the bytes the same on
        // every machine) at no measurable cost in ratio.
        encoder.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        encoder.include_checksum(false)?;
        Ok(ZstdWriter { encoder })
    }
}

impl<W: Write> Write for ZstdWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.encoder.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

impl<W: Write> Finish<W> for ZstdWriter<'_, W> {
    fn finish(self: Box<Self>) -> io::Result<W> {
        self.encoder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a slowly varying pseudo-random text.
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 7 == 0 {
                    b' '
                } else {
                    b'a' + (state % 8) as u8
                }
            })
            .collect()
    }

    fn gzip(input: &[u8]) -> Vec<u8> {
        let mut w: Box<dyn Finish<Vec<u8>>> = Box::new(ParallelGzip::new(Vec::new(), 6));
        for chunk in input.chunks(10_000) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn parallel_gzip_is_one_valid_stream() {
        for len in [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 12345] {
            let input = sample(len);
            let out = gzip(&input);
            assert_eq!(&out[..10], &GZIP_HEADER);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, input, "length {len}");
        }
    }

    #[test]
    fn parallel_gzip_is_deterministic_and_close_to_one_stream() {
        let input = sample(2 * 1024 * 1024);
        let a = gzip(&input);
        assert_eq!(a, gzip(&input));
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&input).unwrap();
        let single = single.finish().unwrap();
        assert!(
            a.len() as f64 <= single.len() as f64 * 1.01,
            "{} vs {}",
            a.len(),
            single.len()
        );
    }

    #[test]
    fn zstd_round_trips() {
        let input = sample(1024 * 1024);
        let mut w = Compression::Zstd.writer(Vec::new()).unwrap();
        w.write_all(&input).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(zstd::decode_all(&out[..]).unwrap(), input);
    }
}
