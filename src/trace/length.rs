//! A `.mmt` trace's length without decoding it, for the run's automatic warm-up, which
//! needs each trace's length before the run starts (`run::auto_warmup`).
//!
//! In: a path and the trace format asked for. Out: the number of accesses the trace
//! holds, or `None` when it cannot be told cheaply and exactly, and the caller counts by
//! reading as before. `.mmt` records are one access each, so the length follows from the
//! decompressed size: a raw file's size (checked against its header's count), an xz
//! file's index (xz stores every block's decompressed size at the end of the stream,
//! read with liblzma). Counting by reading an xz trace decoded it twice per run, once
//! for the count and once for the run.
//!
//! Exactness: a length is only given when the reader, reading the whole file, would
//! deliver exactly that many accesses or fail: the header (decoded for xz) must be a
//! valid `.mmt` header whose count, if known, agrees with the size; any doubt (zstd and
//! gzip, which do not store the size; several xz streams; a size that is no whole number
//! of records; an empty trace, whose error the counting pass reports) gives `None`.

use super::binary::{self, HEADER, RECORD, UNKNOWN_COUNT};
use super::compress::Compression;
use super::{format_from_name, TraceFormat};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The number of accesses of the `.mmt` trace at `path`, if it can be told without
/// decoding it (see the module doc).
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
    let (bytes, header) = match Compression::from_magic(&head[..n]) {
        Compression::None => (file_len, head),
        Compression::Xz => {
            let size = xz_size(&mut f, file_len)?;
            // The decompressed header: only the start of the first block is decoded.
            f.seek(SeekFrom::Start(0)).ok()?;
            let mut dec = liblzma::read::XzDecoder::new(f);
            let mut h = [0u8; HEADER];
            dec.read_exact(&mut h).ok()?;
            (size, h)
        }
        Compression::Gzip | Compression::Zstd => return None,
    };
    records(bytes, &header)
}

/// The record count that `bytes` decompressed bytes starting with `header` hold, if the
/// header is a valid `.mmt` header that agrees with it and there is at least one.
fn records(bytes: u64, header: &[u8; HEADER]) -> Option<u64> {
    let word = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().unwrap());
    let ok_header = &header[..8] == binary::MAGIC
        && word(8) as u32 == binary::VERSION
        && (word(8) >> 32) <= 63
        && word(24) == 0;
    let body = bytes.checked_sub(HEADER as u64)?;
    let n = body / RECORD as u64;
    let count = word(16);
    (ok_header && body % RECORD as u64 == 0 && n > 0 && (count == UNKNOWN_COUNT || count == n))
        .then_some(n)
}

/// The decompressed size of an xz file made of one stream (no padding after it), from
/// the stream's index; `None` for anything else.
fn xz_size(f: &mut File, file_len: u64) -> Option<u64> {
    use liblzma_sys as sys;
    const FOOTER: u64 = 12;
    if file_len < 2 * FOOTER {
        return None;
    }
    let mut footer = [0u8; FOOTER as usize];
    f.seek(SeekFrom::Start(file_len - FOOTER)).ok()?;
    f.read_exact(&mut footer).ok()?;
    // SAFETY: an all-zero lzma_stream_flags is a valid value to be overwritten, and the
    // decoder reads exactly the 12 footer bytes it is given.
    let mut flags: sys::lzma_stream_flags = unsafe { std::mem::zeroed() };
    if unsafe { sys::lzma_stream_footer_decode(&mut flags, footer.as_ptr()) } != sys::LZMA_OK {
        return None;
    }
    let index_len = flags.backward_size;
    if index_len > (16 << 20) || index_len + FOOTER > file_len {
        return None;
    }
    let mut index = vec![0u8; index_len as usize];
    f.seek(SeekFrom::Start(file_len - FOOTER - index_len))
        .ok()?;
    f.read_exact(&mut index).ok()?;
    let mut idx: *mut sys::lzma_index = std::ptr::null_mut();
    let mut memlimit: u64 = 64 << 20;
    let mut pos = 0usize;
    // SAFETY: the decoder reads `index.len()` bytes from `index` and on success leaves
    // in `idx` an index that is freed below with the default allocator.
    let ret = unsafe {
        sys::lzma_index_buffer_decode(
            &mut idx,
            &mut memlimit,
            std::ptr::null(),
            index.as_ptr(),
            &mut pos,
            index.len(),
        )
    };
    if ret != sys::LZMA_OK || idx.is_null() {
        return None;
    }
    // SAFETY: `idx` is the valid index decoded above, freed once after these reads.
    let (size, total) = unsafe {
        let r = (
            sys::lzma_index_uncompressed_size(idx),
            sys::lzma_index_file_size(idx),
        );
        sys::lzma_index_end(idx, std::ptr::null());
        r
    };
    // The index describes the whole file only when the file is this one stream.
    (pos == index.len() && total == file_len).then_some(size)
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

    /// Raw and xz `.mmt` files of n records say n; what cannot be told cheaply and
    /// exactly says None.
    #[test]
    fn lengths_without_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in [1u64, 4095, 70_000] {
            for name in ["a.mmt", "a.mmt.xz"] {
                let p = d.join(name);
                write(&p, n);
                assert_eq!(mmt_length(&p, TraceFormat::Auto), Some(n), "{name} {n}");
            }
        }
        // zstd and gzip store no size; other formats are not counted here.
        for name in ["z.mmt.zst", "g.mmt.gz"] {
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
        // Two xz streams back to back: the last index covers only the second.
        let x = std::fs::read(d.join("a.mmt.xz")).unwrap();
        std::fs::write(d.join("two.mmt.xz"), [x.clone(), x].concat()).unwrap();
        assert_eq!(mmt_length(&d.join("two.mmt.xz"), TraceFormat::Auto), None);
    }
}
