//! ChampSim binary traces (the `input_instr` records of ChampSim's tracer).
//!
//! Owns the record layout. In: decompressed bytes (ChampSim traces are usually
//! `.champsimtrace.xz`). Out: per record (= one instruction) the fetch of its `ip`, then
//! its loads (`source_memory`), then its stores (`destination_memory`), following the
//! conventions of [`super`]; a zero address marks an unused slot.
//!
//! Record: 64 bytes, little-endian.
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | `ip: u64` |
//! | 8 | `is_branch: u8` |
//! | 9 | `branch_taken: u8` |
//! | 10 | `destination_registers: [u8; 2]` |
//! | 12 | `source_registers: [u8; 4]` |
//! | 16 | `destination_memory: [u64; 2]` |
//! | 32 | `source_memory: [u64; 4]` |
//!
//! Records carry no access sizes, so nothing is split at page boundaries. A file whose
//! length is not a multiple of 64 ends in an error naming the truncated record's
//! offset; an empty file is an empty trace.

use super::source::{Carry, Failure, Pending, Tally, TraceSource, Window, Wording};
use super::{TraceError, TraceOptions};
use crate::addr::AccessKind;
use crate::workload::Access;
use std::io::Read;

/// Bytes per record.
pub const RECORD: usize = 64;
/// Offset of `destination_memory` (stores).
pub const DEST_MEM: usize = 16;
/// Offset of `source_memory` (loads).
pub const SRC_MEM: usize = 32;

pub(crate) struct ChampSimReader {
    name: String,
    win: Window,
    fetches: bool,
    pending: Pending,
    carry: Carry,
    fail: Failure,
    /// Records decoded.
    records: u64,
}

#[inline(always)]
fn u64_at(rec: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[off..off + 8]);
    u64::from_le_bytes(b)
}

impl ChampSimReader {
    pub fn new(name: String, r: Box<dyn Read + Send>, opts: &TraceOptions) -> Self {
        ChampSimReader {
            name,
            win: Window::new(r),
            fetches: opts.fetches,
            pending: Pending::default(),
            carry: Carry::default(),
            fail: Failure::default(),
            records: 0,
        }
    }

    /// Appends one record's accesses.
    #[inline(always)]
    fn record(&mut self, rec: &[u8], out: &mut Vec<Access>) {
        self.records += 1;
        let mut first = if self.fetches {
            out.push(Access {
                vaddr: u64_at(rec, 0),
                kind: AccessKind::Fetch,
                instrs: 1,
            });
            false
        } else {
            self.pending.add(1);
            true
        };
        // Loads before stores: an instruction reads its operands before it writes.
        for (base, n, kind) in [
            (SRC_MEM, 4, AccessKind::Load),
            (DEST_MEM, 2, AccessKind::Store),
        ] {
            for k in 0..n {
                let vaddr = u64_at(rec, base + 8 * k);
                if vaddr != 0 {
                    let instrs = if first { self.pending.take() } else { 0 };
                    first = false;
                    out.push(Access {
                        vaddr,
                        kind,
                        instrs,
                    });
                }
            }
        }
    }

    fn decode(&mut self, buf: &mut Vec<Access>, limit: usize) -> Result<(), TraceError> {
        while buf.len() < limit {
            if self.win.avail().len() < RECORD {
                if !self.win.at_eof() {
                    self.win
                        .refill()
                        .map_err(|e| TraceError::io(&self.name, &e))?;
                    continue;
                }
                let rest = self.win.avail().len();
                if rest > 0 {
                    return Err(TraceError::new(
                        &self.name,
                        format!(
                            "truncated record at byte {} ({rest} of {RECORD} bytes)",
                            self.win.offset()
                        ),
                    ));
                }
                return Ok(());
            }
            // Decode whole records until the batch is full or the window runs out.
            let mut pos = self.win.pos;
            while buf.len() < limit && self.win.end - pos >= RECORD {
                let mut rec = [0u8; RECORD];
                rec.copy_from_slice(&self.win.buf[pos..pos + RECORD]);
                self.record(&rec, buf);
                pos += RECORD;
            }
            self.win.pos = pos;
        }
        Ok(())
    }
}

impl TraceSource for ChampSimReader {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        self.fail.check()?;
        let before = buf.len();
        let limit = before + max;
        self.carry.drain_into(buf, limit);
        let r = self.decode(buf, limit);
        self.carry.take_excess(buf, limit);
        self.fail.settle(r, buf, before)
    }

    fn tally(&self) -> Tally {
        // Records carry no sizes: nothing is split.
        Tally {
            records: self.records,
            crossings: 0,
        }
    }

    fn wording(&self) -> Wording {
        Wording {
            records: "64-byte instruction records",
            accesses: "a record's fetch and its memory operands",
        }
    }
}

/// Builds one ChampSim record (for tests and benchmarks): `loads` go to
/// `source_memory`, `stores` to `destination_memory` (at most 4 and 2; unused slots 0).
pub fn encode_record(ip: u64, loads: &[u64], stores: &[u64]) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..8].copy_from_slice(&ip.to_le_bytes());
    for (k, &a) in stores.iter().take(2).enumerate() {
        r[DEST_MEM + 8 * k..DEST_MEM + 8 * k + 8].copy_from_slice(&a.to_le_bytes());
    }
    for (k, &a) in loads.iter().take(4).enumerate() {
        r[SRC_MEM + 8 * k..SRC_MEM + 8 * k + 8].copy_from_slice(&a.to_le_bytes());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::super::{open, TraceFormat};
    use super::*;
    use crate::workload::AccessSource;
    use std::io::Write;
    use AccessKind::*;

    fn acc(vaddr: u64, kind: AccessKind, instrs: u32) -> Access {
        Access {
            vaddr,
            kind,
            instrs,
        }
    }

    /// Records written field by field at the documented offsets (independently of
    /// `encode_record`).
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        // (ip, is_branch, taken, dest regs, src regs, dest mem, src mem)
        type Fields = (u64, u8, u8, [u8; 2], [u8; 4], [u64; 2], [u64; 4]);
        let recs: [Fields; 4] = [
            (
                0x401000,
                0,
                0,
                [1, 0],
                [2, 3, 0, 0],
                [0, 0],
                [0x7000_0010, 0, 0x7000_2000, 0],
            ),
            (0x401004, 1, 1, [26, 0], [25, 26, 0, 0], [0, 0], [0; 4]),
            (
                0x401008,
                0,
                0,
                [0, 0],
                [4, 0, 0, 0],
                [0, 0xdead_b000],
                [0x5000, 0x6000, 0x7000, 0x8000],
            ),
            (0x40100c, 0, 0, [0, 0], [0; 4], [0x9000, 0xa000], [0; 4]),
        ];
        for (ip, br, tk, dr, sr, dm, sm) in recs {
            let mut r = vec![0u8; 64];
            r[0..8].copy_from_slice(&ip.to_le_bytes());
            r[8] = br;
            r[9] = tk;
            r[10..12].copy_from_slice(&dr);
            r[12..16].copy_from_slice(&sr);
            for (k, a) in dm.iter().enumerate() {
                r[16 + 8 * k..24 + 8 * k].copy_from_slice(&a.to_le_bytes());
            }
            for (k, a) in sm.iter().enumerate() {
                r[32 + 8 * k..40 + 8 * k].copy_from_slice(&a.to_le_bytes());
            }
            out.extend_from_slice(&r);
        }
        out
    }

    fn read(bytes: Vec<u8>, fetches: bool, max: usize) -> Result<Vec<Access>, String> {
        let opts = TraceOptions {
            format: TraceFormat::ChampSim,
            fetches,
            page_size: 4096,
        };
        let mut src = super::super::Adapter(ChampSimReader::new(
            "t.champsim".into(),
            Box::new(std::io::Cursor::new(bytes)),
            &opts,
        ));
        super::super::tests::drain(&mut src, max)
    }

    #[test]
    fn exact_stream() {
        let want = vec![
            acc(0x401000, Fetch, 1),
            acc(0x7000_0010, Load, 0),
            acc(0x7000_2000, Load, 0),
            acc(0x401004, Fetch, 1),
            acc(0x401008, Fetch, 1),
            acc(0x5000, Load, 0),
            acc(0x6000, Load, 0),
            acc(0x7000, Load, 0),
            acc(0x8000, Load, 0),
            acc(0xdead_b000, Store, 0),
            acc(0x40100c, Fetch, 1),
            acc(0x9000, Store, 0),
            acc(0xa000, Store, 0),
        ];
        for max in [1, 3, 7, 4096] {
            assert_eq!(read(sample(), true, max).unwrap(), want);
        }
        // Fetches off: the branch (no memory operand) is counted into the next record.
        assert_eq!(
            read(sample(), false, 2).unwrap(),
            vec![
                acc(0x7000_0010, Load, 1),
                acc(0x7000_2000, Load, 0),
                acc(0x5000, Load, 2),
                acc(0x6000, Load, 0),
                acc(0x7000, Load, 0),
                acc(0x8000, Load, 0),
                acc(0xdead_b000, Store, 0),
                acc(0x9000, Store, 1),
                acc(0xa000, Store, 0),
            ]
        );
        // The helper agrees with the hand-built records.
        let mut helper = Vec::new();
        helper.extend_from_slice(&encode_record(
            0x401000,
            &[0x7000_0010, 0, 0x7000_2000],
            &[],
        ));
        assert_eq!(
            read(helper, true, 10).unwrap(),
            read(sample()[..64].to_vec(), true, 10).unwrap()
        );
        assert_eq!(read(Vec::new(), true, 10).unwrap(), vec![]);
    }

    #[test]
    fn truncated_record_names_its_offset() {
        let mut bytes = Vec::new();
        for _ in 0..26 {
            bytes.extend_from_slice(&sample());
        }
        bytes.truncate(100 * 64 + 40);
        let e = read(bytes.clone(), true, 4096).unwrap_err();
        assert_eq!(
            e,
            "t.champsim: truncated record at byte 6400 (40 of 64 bytes)"
        );
        // The accesses before the bad record are delivered first.
        let mut src = super::super::Adapter(ChampSimReader::new(
            "t.champsim".into(),
            Box::new(std::io::Cursor::new(bytes)),
            &TraceOptions::default(),
        ));
        let mut buf = Vec::new();
        src.fill(&mut buf, 1 << 20).unwrap();
        assert_eq!(buf.len(), 25 * 13);
        buf.clear();
        assert!(src.fill(&mut buf, 10).is_err());
        assert!(src.fill(&mut buf, 10).is_err());
    }

    #[test]
    fn compressed_and_lying_suffix_decode_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let raw = sample().repeat(50);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&raw).unwrap();
        let xz = xz.finish().unwrap();
        let files = [
            ("t.champsim", &raw),
            ("t.champsim.gz", &gz),
            ("t.champsim.xz", &xz),
            ("lies.champsim", &gz),    // gzip data without the suffix
            ("lies.champsim.gz", &xz), // xz data behind a gzip suffix
            ("600.perlbench.champsimtrace.xz", &xz),
        ];
        let opts = TraceOptions::default();
        let want = read(raw.clone(), true, 4096).unwrap();
        assert_eq!(want.len(), 50 * 13);
        for (name, bytes) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let mut src = open(&p, &opts).unwrap();
            let mut all = Vec::new();
            loop {
                let mut buf = Vec::new();
                src.fill(&mut buf, 999).unwrap();
                if buf.is_empty() {
                    break;
                }
                all.extend(buf);
            }
            assert_eq!(all, want, "{name}");
        }
    }
}
