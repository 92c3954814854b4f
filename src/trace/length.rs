//! A raw `.mmt` trace's length without reading it, for the run's automatic warm-up,
//! which needs each trace's length before the run starts (`run::auto_warmup`).
//!
//! In: a path and the trace format asked for. Out: the number of accesses the trace
//! holds, or `None` when it cannot be told from the file's size and header, and the
//! caller counts by reading as before. `.mmt` records are one access each, so a raw
//! file's length follows from its size (checked against the header's count).
//!
//! Exactness: a length is only given when the reader, reading the whole file, would
//! deliver exactly that many accesses or fail on a record of its own (a bad kind, named
//! with the file and offset either way): the header must be a valid `.mmt` header whose
//! count, if known, agrees with the size; a size that is no whole number of records, or
//! an empty trace, gives `None` and the counting pass reports it as before.
//!
//! Compressed traces are counted by decoding them: a `run` counts a whole compressed
//! `.mmt` by its decoded size and header ([`records`]) on the thread that decodes it
//! once for the count and the run ([`super::predecode`]). An xz file's index holds its
//! decompressed size, and taking the length from it instead saved decoding the trace
//! twice, but then a corrupt stream was first met by the run itself: xz (like gzip and
//! zstd) verifies its checksum only at the end of a block, so corrupted bytes decoded
//! before it reached the simulation, and the error could be the simulator's ("address
//! beyond the page table's reach") instead of the codec's, naming the file (issue 21).
//! The decode that counts meets the codec's error, and the run waits for its count.

use super::binary::{self, HEADER, RECORD, UNKNOWN_COUNT};
use super::compress::Compression;
use super::{format_from_name, TraceFormat};
use std::fs::File;
use std::path::Path;

/// The number of accesses of the raw `.mmt` trace at `path`, if its size and header
/// tell it (see the module doc).
pub fn mmt_length(path: &Path, format: TraceFormat) -> Option<u64> {
    let is_mmt = match format {
        TraceFormat::Auto => format_from_name(path) == Some(TraceFormat::Binary),
        f => f == TraceFormat::Binary,
    };
    if !is_mmt || path.as_os_str() == "-" {
        return None;
    }
    let mut f = File::open(path).ok()?;
    let file_len = f.metadata().ok()?.len();
    let mut head = [0u8; HEADER];
    let n = super::compress::read_up_to(&mut f, &mut head).ok()?;
    if Compression::from_magic(&head[..n]) != Compression::None {
        return None;
    }
    records(file_len, &head)
}

/// The record count that `bytes` decompressed bytes starting with `header` hold, if the
/// header is a valid `.mmt` header that agrees with it and there is at least one.
pub(super) fn records(bytes: u64, header: &[u8; HEADER]) -> Option<u64> {
    let word = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().unwrap());
    let ok_header = header_ok(header);
    let body = bytes.checked_sub(HEADER as u64)?;
    let n = body / RECORD as u64;
    let count = word(16);
    (ok_header && body % RECORD as u64 == 0 && n > 0 && (count == UNKNOWN_COUNT || count == n))
        .then_some(n)
}

/// Whether `header` is one the `.mmt` reader accepts (it reads the count, but checks it
/// only against the records it finds).
pub(super) fn header_ok(header: &[u8; HEADER]) -> bool {
    let word = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().unwrap());
    &header[..8] == binary::MAGIC
        && word(8) as u32 == binary::VERSION
        && (word(8) >> 32) <= 63
        && word(24) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::BinaryFileWriter;
    use crate::workload::Access;

    fn write(p: &Path, n: u64) {
        let mut w = BinaryFileWriter::create(p, 4096).unwrap();
        let a = Access {
            vaddr: 0x1000,
            kind: crate::addr::AccessKind::Load,
            instrs: 1,
        };
        for _ in 0..n {
            w.write(&a).unwrap();
        }
        w.finish().unwrap();
    }

    /// Raw `.mmt` files of n records say n; what cannot be told exactly from the size
    /// says None.
    #[test]
    fn lengths_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in [1u64, 4095, 70_000] {
            let p = d.join("a.mmt");
            write(&p, n);
            assert_eq!(mmt_length(&p, TraceFormat::Auto), Some(n), "{n}");
            // The same bytes under a name of no format, read as binary when asked.
            std::fs::copy(&p, d.join("a.bin")).unwrap();
            assert_eq!(mmt_length(&d.join("a.bin"), TraceFormat::Binary), Some(n));
            assert_eq!(mmt_length(&d.join("a.bin"), TraceFormat::Auto), None);
        }
        // Compressed traces are counted by reading (see the module doc).
        for name in ["x.mmt.xz", "z.mmt.zst", "g.mmt.gz"] {
            write(&d.join(name), 10);
            assert_eq!(mmt_length(&d.join(name), TraceFormat::Auto), None, "{name}");
        }
        std::fs::write(d.join("t.txt"), "R 0x1000\n").unwrap();
        assert_eq!(mmt_length(&d.join("t.txt"), TraceFormat::Auto), None);
        // An .mmt with a header alone holds no access: the counting pass says why.
        write(&d.join("e.mmt"), 0);
        assert_eq!(mmt_length(&d.join("e.mmt"), TraceFormat::Auto), None);
        // A half record at the end, or a header count that disagrees: None.
        write(&d.join("h.mmt"), 3);
        let mut b = std::fs::read(d.join("h.mmt")).unwrap();
        b.extend_from_slice(&[0; 8]);
        std::fs::write(d.join("h.mmt"), &b).unwrap();
        assert_eq!(mmt_length(&d.join("h.mmt"), TraceFormat::Auto), None);
        b.truncate(HEADER + 3 * RECORD);
        b[16..24].copy_from_slice(&5u64.to_le_bytes());
        std::fs::write(d.join("c.mmt"), &b).unwrap();
        assert_eq!(mmt_length(&d.join("c.mmt"), TraceFormat::Auto), None);
    }
}
