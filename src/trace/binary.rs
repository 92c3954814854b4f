//! mmusim's own binary trace format, `.mmt`: fixed records, decoded at memory speed.
//!
//! Owns the layout, [`BinaryReader`], [`BinaryWriter`] and [`BinaryFileWriter`]. In
//! (reading): decompressed bytes. Out: the stored accesses, exactly as written (no
//! splitting, no instruction re-accounting: whatever produced the file already did).
//!
//! Header, 32 bytes, little-endian:
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | magic `b"MMUTRACE"` |
//! | 8 | version `u32` = 1 |
//! | 12 | page-size hint `u32`: log2 bytes (12 = 4 KiB), informational |
//! | 16 | record count `u64`; `u64::MAX` = unknown (written while streaming) |
//! | 24 | reserved `u64` = 0 |
//!
//! Then 16-byte records: `vaddr: u64`, `instrs: u32`, `kind: u8` (0 load, 1 store,
//! 2 fetch), 3 zero bytes. The kind and its padding are read as one `u32` that must be
//! below 3, so one comparison checks both.
//!
//! Speed: records are decoded straight out of the 1 MiB read window. A first pass
//! over the window's records only checks kinds (a branch-free OR-reduction the compiler
//! vectorises), the second converts them with no error path, so the hot loop is a
//! load, a shift and two stores per access.

use super::compress::Sink;
use super::source::{Failure, Tally, TraceSource, Window, Wording};
use super::TraceError;
use crate::addr::AccessKind;
use crate::workload::Access;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"MMUTRACE";
pub const VERSION: u32 = 1;
pub const HEADER: usize = 32;
pub const RECORD: usize = 16;
/// Offset of the record count in the header (patched at the end of a seekable write).
pub const COUNT_OFFSET: u64 = 16;
/// The record count of a file written without knowing its length.
pub const UNKNOWN_COUNT: u64 = u64::MAX;

/// The 32-byte header.
pub fn header(page_shift: u32, count: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&page_shift.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    h
}

#[inline(always)]
fn encode(a: &Access) -> [u8; RECORD] {
    let kind: u64 = match a.kind {
        AccessKind::Load => 0,
        AccessKind::Store => 1,
        AccessKind::Fetch => 2,
    };
    let mut r = [0u8; RECORD];
    r[0..8].copy_from_slice(&a.vaddr.to_le_bytes());
    r[8..16].copy_from_slice(&(a.instrs as u64 | kind << 32).to_le_bytes());
    r
}

#[inline(always)]
fn word(rec: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Reads `.mmt` records.
pub(crate) struct BinaryReader {
    name: String,
    win: Window,
    page_shift: u32,
    /// Records promised by the header (`None`: unknown).
    count: Option<u64>,
    read: u64,
    fail: Failure,
}

impl BinaryReader {
    /// Reads and checks the header.
    pub fn new(name: String, r: Box<dyn Read + Send>) -> Result<Self, TraceError> {
        let mut win = Window::new(r);
        while win.avail().len() < HEADER && !win.at_eof() {
            win.refill().map_err(|e| TraceError::io(&name, &e))?;
        }
        let h = win.avail();
        let at = |off: u64, msg: String| TraceError::at_byte(&name, off, msg);
        if h.is_empty() {
            return Err(at(0, "empty file: no MMUTRACE header".into()));
        }
        let m = h.len().min(MAGIC.len());
        if h[..m] != MAGIC[..m] {
            return Err(at(
                0,
                "not an mmusim binary trace (no MMUTRACE magic)".into(),
            ));
        }
        if h.len() < HEADER {
            return Err(at(
                0,
                format!("truncated header ({} of {HEADER} bytes)", h.len()),
            ));
        }
        let version = word(h, 8) as u32;
        if version != VERSION {
            return Err(at(
                8,
                format!("unsupported version {version} (this reader knows {VERSION})"),
            ));
        }
        let page_shift = (word(h, 8) >> 32) as u32;
        if page_shift > 63 {
            return Err(at(12, format!("bad page-size hint 2^{page_shift}")));
        }
        let count = word(h, 16);
        let reserved = word(h, 24);
        if reserved != 0 {
            return Err(at(24, format!("reserved field is {reserved:#x}, not 0")));
        }
        win.pos += HEADER;
        Ok(BinaryReader {
            name,
            win,
            page_shift,
            count: (count != UNKNOWN_COUNT).then_some(count),
            read: 0,
            fail: Failure::default(),
        })
    }

    /// The page size the file was written for (log2 bytes).
    #[allow(dead_code)]
    pub fn page_shift(&self) -> u32 {
        self.page_shift
    }

    fn decode(&mut self, buf: &mut Vec<Access>, limit: usize) -> Result<(), TraceError> {
        while buf.len() < limit {
            let avail = self.win.avail().len();
            if avail < RECORD {
                if !self.win.at_eof() {
                    self.win
                        .refill()
                        .map_err(|e| TraceError::io(&self.name, &e))?;
                    continue;
                }
                if avail > 0 {
                    return Err(TraceError::at_byte(
                        &self.name,
                        self.win.offset(),
                        format!("truncated record ({avail} of {RECORD} bytes)"),
                    ));
                }
                if let Some(c) = self.count.filter(|&c| c != self.read) {
                    return Err(TraceError::at_byte(
                        &self.name,
                        self.win.offset(),
                        format!(
                            "the header promises {c} records, the file ends after {}",
                            self.read
                        ),
                    ));
                }
                return Ok(());
            }
            let mut n = (avail / RECORD).min(limit - buf.len());
            if let Some(c) = self.count {
                if self.read == c {
                    return Err(TraceError::at_byte(
                        &self.name,
                        self.win.offset(),
                        format!("more records than the {c} the header promises"),
                    ));
                }
                n = n.min((c - self.read).min(usize::MAX as u64) as usize);
            }
            let bytes = &self.win.buf[self.win.pos..self.win.pos + n * RECORD];
            let bad = bytes
                .chunks_exact(RECORD)
                .fold(false, |bad, r| bad | ((word(r, 8) >> 32) > 2));
            let good = if bad {
                bytes
                    .chunks_exact(RECORD)
                    .position(|r| (word(r, 8) >> 32) > 2)
                    .unwrap_or(n)
            } else {
                n
            };
            buf.extend(bytes[..good * RECORD].chunks_exact(RECORD).map(|r| {
                let w = word(r, 8);
                Access {
                    vaddr: word(r, 0),
                    kind: match w >> 32 {
                        0 => AccessKind::Load,
                        1 => AccessKind::Store,
                        _ => AccessKind::Fetch,
                    },
                    instrs: w as u32,
                }
            }));
            self.win.pos += good * RECORD;
            self.read += good as u64;
            if good < n {
                let r = &self.win.avail()[..RECORD];
                let (kind, pad) = (r[12], [r[13], r[14], r[15]]);
                let msg = if kind > 2 {
                    format!("bad access kind {kind} (0 load, 1 store, 2 fetch)")
                } else {
                    format!("padding after the kind is {pad:?}, not zero")
                };
                return Err(TraceError::at_byte(&self.name, self.win.offset() + 12, msg));
            }
        }
        Ok(())
    }
}

impl TraceSource for BinaryReader {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        self.fail.check()?;
        let before = buf.len();
        let r = self.decode(buf, before + max);
        self.fail.settle(r, buf, before)
    }

    fn tally(&self) -> Tally {
        // One access per record, stored as written (already split).
        Tally {
            records: self.read,
            crossings: 0,
        }
    }

    fn wording(&self) -> Wording {
        Wording {
            records: "16-byte records",
            accesses: "one per record, split at pages when written",
        }
    }
}

/// Size of the writer's staging buffer.
const WRITE_CHUNK: usize = 1 << 20;

/// Writes `.mmt` records to any byte sink. The header's count is `u64::MAX`
/// (unknown), because a plain `Write` cannot go back; [`BinaryWriter::finish_seekable`]
/// and [`BinaryFileWriter`] patch it when they can.
pub struct BinaryWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
    count: u64,
}

impl<W: Write> BinaryWriter<W> {
    /// Writes the header. `page_size_hint` is in bytes and must be a power of two.
    pub fn new(mut w: W, page_size_hint: u64) -> io::Result<Self> {
        if !page_size_hint.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("page size hint {page_size_hint} is not a power of two"),
            ));
        }
        w.write_all(&header(page_size_hint.trailing_zeros(), UNKNOWN_COUNT))?;
        Ok(BinaryWriter {
            w,
            buf: Vec::with_capacity(WRITE_CHUNK),
            count: 0,
        })
    }

    #[inline]
    pub fn write(&mut self, a: &Access) -> io::Result<()> {
        self.buf.extend_from_slice(&encode(a));
        self.count += 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    pub fn write_all_accesses(&mut self, accs: &[Access]) -> io::Result<()> {
        for a in accs {
            self.write(a)?;
        }
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered and returns the sink (the header's count stays unknown).
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_buf()?;
        self.w.flush()?;
        Ok(self.w)
    }
}

impl<W: Write + Seek> BinaryWriter<W> {
    /// Like [`finish`](Self::finish), then writes the record count into the header,
    /// which must be where this writer started (its end minus what it wrote).
    pub fn finish_seekable(self) -> io::Result<W> {
        let count = self.count;
        let mut w = self.finish()?;
        let end = w.stream_position()?;
        let start = end - (HEADER as u64 + count * RECORD as u64);
        w.seek(SeekFrom::Start(start + COUNT_OFFSET))?;
        w.write_all(&count.to_le_bytes())?;
        w.seek(SeekFrom::Start(end))?;
        Ok(w)
    }
}

/// A `.mmt` file being written, compressed by its name's suffix (`.mmt.gz`,
/// `.mmt.xz`). An uncompressed file gets its record count patched into the header at
/// [`finish`](Self::finish); a compressed one keeps "unknown" (the header is already
/// compressed by then).
pub struct BinaryFileWriter {
    inner: BinaryWriter<Sink>,
}

impl BinaryFileWriter {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path, page_size_hint: u64) -> io::Result<Self> {
        Self::from_file(File::create(path)?, path, page_size_hint)
    }

    /// Writes into an open file; `name`'s suffix chooses the compression.
    pub fn from_file(file: File, name: &Path, page_size_hint: u64) -> io::Result<Self> {
        Ok(BinaryFileWriter {
            inner: BinaryWriter::new(Sink::new(file, name)?, page_size_hint)?,
        })
    }

    #[inline]
    pub fn write(&mut self, a: &Access) -> io::Result<()> {
        self.inner.write(a)
    }

    pub fn write_all_accesses(&mut self, accs: &[Access]) -> io::Result<()> {
        self.inner.write_all_accesses(accs)
    }

    pub fn count(&self) -> u64 {
        self.inner.count()
    }

    /// Completes the file (compressed trailer, or the count patched in) and returns it.
    pub fn finish(self) -> io::Result<File> {
        let count = self.inner.count();
        let sink = self.inner.finish()?;
        let plain = sink.is_plain();
        let mut file = sink.finish()?;
        if plain {
            file.seek(SeekFrom::Start(COUNT_OFFSET))?;
            file.write_all(&count.to_le_bytes())?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, Adapter, TraceOptions};
    use super::*;
    use crate::workload::AccessSource;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use std::io::Cursor;

    fn random_accesses(n: usize, seed: u64) -> Vec<Access> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let r = rng.next_u64();
                Access {
                    vaddr: rng.next_u64(),
                    kind: [AccessKind::Load, AccessKind::Store, AccessKind::Fetch]
                        [(r % 3) as usize],
                    instrs: (r >> 32) as u32 >> (r % 32),
                }
            })
            .collect()
    }

    fn written(accs: &[Access]) -> Vec<u8> {
        let mut w = BinaryWriter::new(Vec::new(), 4096).unwrap();
        w.write_all_accesses(accs).unwrap();
        w.finish().unwrap()
    }

    fn read(bytes: Vec<u8>, max: usize) -> Result<Vec<Access>, String> {
        let mut src = Adapter(
            BinaryReader::new("t.mmt".into(), Box::new(Cursor::new(bytes)))
                .map_err(|e| e.to_string())?,
        );
        super::super::tests::drain(&mut src, max)
    }

    #[test]
    fn round_trip() {
        // More than one read window of records.
        let accs = random_accesses(150_000, 7);
        let bytes = written(&accs);
        assert_eq!(bytes.len(), HEADER + accs.len() * RECORD);
        assert_eq!(&bytes[16..24], &u64::MAX.to_le_bytes());
        assert_eq!(read(bytes.clone(), 4096).unwrap(), accs);
        assert_eq!(read(bytes, 7).unwrap(), accs);
        assert_eq!(read(written(&[]), 10).unwrap(), vec![]);
    }

    #[test]
    fn layout_is_as_documented() {
        let a = Access {
            vaddr: 0x1122_3344_5566_7788,
            kind: AccessKind::Fetch,
            instrs: 0x0a0b_0c0d,
        };
        let bytes = written(&[a]);
        assert_eq!(&bytes[..8], b"MMUTRACE");
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        assert_eq!(bytes[12..16], 12u32.to_le_bytes());
        assert_eq!(bytes[24..32], [0; 8]);
        assert_eq!(
            bytes[32..],
            [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x0d, 0x0c, 0x0b, 0x0a, 2, 0, 0, 0]
        );
    }

    #[test]
    fn count_is_patched() {
        let accs = random_accesses(1000, 1);
        // Seekable sink.
        let mut w = BinaryWriter::new(Cursor::new(Vec::new()), 1 << 21).unwrap();
        w.write_all_accesses(&accs).unwrap();
        let bytes = w.finish_seekable().unwrap().into_inner();
        assert_eq!(bytes[12..16], 21u32.to_le_bytes());
        assert_eq!(bytes[16..24], 1000u64.to_le_bytes());
        assert_eq!(read(bytes, 100).unwrap(), accs);
        // Files: plain ones are patched, compressed ones keep "unknown" and all read back.
        let dir = tempfile::tempdir().unwrap();
        for (name, patched) in [("a.mmt", true), ("a.mmt.gz", false), ("a.mmt.xz", false)] {
            let p = dir.path().join(name);
            let mut w = BinaryFileWriter::create(&p, 4096).unwrap();
            w.write_all_accesses(&accs).unwrap();
            assert_eq!(w.count(), 1000);
            w.finish().unwrap();
            let raw = std::fs::read(&p).unwrap();
            if patched {
                assert_eq!(raw[16..24], 1000u64.to_le_bytes());
            } else {
                assert_ne!(&raw[..8], b"MMUTRACE");
            }
            let mut src = open(&p, &TraceOptions::default()).unwrap();
            let mut all = Vec::new();
            loop {
                let mut buf = Vec::new();
                src.fill(&mut buf, 333).unwrap();
                if buf.is_empty() {
                    break;
                }
                all.extend(buf);
            }
            assert_eq!(all, accs, "{name}");
        }
        assert!(BinaryWriter::new(Vec::new(), 3000).is_err());
    }

    #[test]
    fn bad_files_name_the_byte() {
        let accs = random_accesses(10, 3);
        let good = {
            let mut w = BinaryWriter::new(Cursor::new(Vec::new()), 4096).unwrap();
            w.write_all_accesses(&accs).unwrap();
            w.finish_seekable().unwrap().into_inner()
        };
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            read(b, 4096).unwrap_err()
        };
        assert_eq!(
            read(Vec::new(), 1).unwrap_err(),
            "t.mmt: byte 0: empty file: no MMUTRACE header"
        );
        assert_eq!(
            edit(&|b| b[3] = b'x'),
            "t.mmt: byte 0: not an mmusim binary trace (no MMUTRACE magic)"
        );
        assert_eq!(
            edit(&|b| b.truncate(20)),
            "t.mmt: byte 0: truncated header (20 of 32 bytes)"
        );
        assert_eq!(
            edit(&|b| b[8] = 2),
            "t.mmt: byte 8: unsupported version 2 (this reader knows 1)"
        );
        assert_eq!(
            edit(&|b| b[12] = 64),
            "t.mmt: byte 12: bad page-size hint 2^64"
        );
        assert_eq!(
            edit(&|b| b[25] = 1),
            "t.mmt: byte 24: reserved field is 0x100, not 0"
        );
        // Record 3's kind byte is at 32 + 3*16 + 12 = 92.
        assert_eq!(
            edit(&|b| b[92] = 3),
            "t.mmt: byte 92: bad access kind 3 (0 load, 1 store, 2 fetch)"
        );
        assert_eq!(
            edit(&|b| b[93] = 1),
            "t.mmt: byte 92: padding after the kind is [1, 0, 0], not zero"
        );
        assert_eq!(
            edit(&|b| b[16] = 11),
            "t.mmt: byte 192: the header promises 11 records, the file ends after 10"
        );
        assert_eq!(
            edit(&|b| b[16] = 9),
            "t.mmt: byte 176: more records than the 9 the header promises"
        );
        assert_eq!(
            edit(&|b| b[16] = 12),
            "t.mmt: byte 192: the header promises 12 records, the file ends after 10"
        );
        assert_eq!(
            edit(&|b| b.truncate(32 + 16 * 4 + 5)),
            "t.mmt: byte 96: truncated record (5 of 16 bytes)"
        );
        // The records before a bad one are delivered before the error.
        let mut b = good.clone();
        b[92] = 7;
        let mut src = Adapter(BinaryReader::new("t.mmt".into(), Box::new(Cursor::new(b))).unwrap());
        let mut buf = Vec::new();
        src.fill(&mut buf, 100).unwrap();
        assert_eq!(buf, accs[..3]);
        assert!(src.fill(&mut Vec::new(), 100).is_err());
    }
}
