//! The plain text trace format: one access per line, easy to write by hand or by script.
//!
//! Owns the syntax, its reader and [`TextWriter`]. In: decompressed text, line by line
//! (no allocation per line). Out: accesses, following the conventions of [`super`].
//!
//! ```text
//! # comment; blank lines are ignored
//! R 0x7ffd1000        load  (address in 0x-hex or decimal)
//! W 4096 8            store of 8 bytes (split if it crosses a page)
//! F 0x400000          instruction fetch
//! R 0x1000 i=0        explicit instruction count (default 1)
//! munmap 0x7f0000000000 0x200000     OS event: unmap the range (address, length)
//! madvise 0x7f0000000000 0x40000000  OS event: MADV_HUGEPAGE over the range
//! fork                                OS event: fork (pages shared copy-on-write)
//! mmap 0x7f0000000000 0x400000 populate  OS event: map the range (`populate`: now)
//! mprotect 0x7f0000000000 0x1000 r    OS event: rights become none, r or rw
//! migrate 0x7f0000000000 0x200000     OS event: move the range's pages to new frames
//! exit                                OS event: the process ends here
//! ```
//!
//! Event lines apply between the accesses around them (the engine's OS events, as
//! `[[event]]` in a workload file). Converting a trace to another format drops them.
//!
//! Each line is one instruction unless it says `i=N`: the writer uses that to keep the
//! exact `instrs` of any access stream (a fetch's data accesses carry `i=0`), so that
//! converting to text and back is lossless. With `fetches = false`, `F` lines are
//! counted into the next `R`/`W` line's instructions.

use super::source::{
    parse_dec, parse_hex, push_sized, quote, trim, LineParser, LineSource, Pending, Tally, Wording,
};
use super::TraceOptions;
use crate::addr::AccessKind;
use crate::workload::{Access, EventKind, OsEvent};
use std::io::{self, BufWriter, Read, Write};

pub(crate) struct Text {
    fetches: bool,
    page_mask: u64,
    pending: Pending,
    /// The OS event the last line held (`munmap` / `madvise` lines).
    event: Option<OsEvent>,
    tally: Tally,
}

/// A text-trace reader over a decompressed stream.
pub(crate) fn reader(
    name: String,
    r: Box<dyn Read + Send>,
    opts: &TraceOptions,
) -> LineSource<Text> {
    LineSource::new(
        name,
        r,
        Text {
            fetches: opts.fetches,
            page_mask: opts.page_size - 1,
            pending: Pending::default(),
            event: None,
            tally: Tally::default(),
        },
    )
}

/// `0x`-prefixed hexadecimal or decimal.
fn parse_num(tok: &[u8]) -> Option<u64> {
    match tok {
        [b'0', b'x' | b'X', hex @ ..] => parse_hex(hex),
        _ => parse_dec(tok),
    }
}

impl LineParser for Text {
    fn take_event(&mut self) -> Option<OsEvent> {
        self.event.take()
    }

    fn tally(&self) -> Tally {
        self.tally
    }

    fn wording(&self) -> Wording {
        Wording {
            records: "R, W and F lines",
            accesses: "one per line",
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Access>) -> Result<(), String> {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(c) => &line[..c],
            None => line,
        };
        let line = trim(line);
        if line.is_empty() {
            return Ok(());
        }
        let mut toks = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        // Not empty after trimming, so there is a first token.
        let op = toks.next().unwrap_or_default();
        if op == b"fork" || op == b"exit" {
            if let Some(t) = toks.next() {
                return Err(format!("unexpected {} after {}", quote(t), quote(op)));
            }
            let kind = if op == b"fork" {
                EventKind::Fork
            } else {
                EventKind::Exit
            };
            self.event = Some(OsEvent::new(kind, 0, 0));
            return Ok(());
        }
        let event = match op {
            b"munmap" => Some(EventKind::Munmap),
            b"madvise" => Some(EventKind::Madvise),
            b"mmap" => Some(EventKind::Mmap),
            b"mprotect" => Some(EventKind::Mprotect),
            b"migrate" => Some(EventKind::Migrate),
            _ => None,
        };
        if let Some(kind) = event {
            let mut num = |what: &str| -> Result<u64, String> {
                let t = toks
                    .next()
                    .ok_or_else(|| format!("{} needs an address and a length", quote(op)))?;
                parse_num(t).ok_or_else(|| format!("bad {what} {}", quote(t)))
            };
            let addr = num("address")?;
            let len = num("length")?;
            if len == 0 {
                return Err("an event's length must be at least 1".into());
            }
            let end = addr
                .checked_add(len)
                .filter(|&e| e <= crate::workload::VA_LIMIT)
                .ok_or_else(|| {
                    format!("the range {addr:#x} + {len:#x} leaves the 57-bit address space")
                })?;
            let mut ev = OsEvent::new(kind, addr & !0xfff, end.div_ceil(4096) * 4096);
            match (kind, toks.next()) {
                (EventKind::Mprotect, Some(t)) => {
                    ev.prot = match t {
                        b"none" => crate::workload::Prot::None,
                        b"r" => crate::workload::Prot::R,
                        b"rw" => crate::workload::Prot::Rw,
                        _ => return Err(format!("bad rights {}: none, r or rw", quote(t))),
                    }
                }
                (EventKind::Mprotect, None) => {
                    return Err("mprotect needs the rights after the length: none, r or rw".into())
                }
                (EventKind::Mmap, Some(b"populate")) => ev.populate = true,
                (_, None) => {}
                (_, Some(t)) => {
                    return Err(format!("unexpected {} after the length", quote(t)));
                }
            }
            if let Some(t) = toks.next() {
                return Err(format!("unexpected {} at the end", quote(t)));
            }
            self.event = Some(ev);
            return Ok(());
        }
        let kind = match op {
            b"R" | b"r" => AccessKind::Load,
            b"W" | b"w" => AccessKind::Store,
            b"F" | b"f" => AccessKind::Fetch,
            _ => {
                return Err(format!(
                    "expected R, W, F, munmap, madvise, mmap, mprotect, migrate, fork or exit, found {}",
                    quote(line)
                ))
            }
        };
        let addr_tok = toks.next().ok_or("missing address")?;
        let vaddr =
            parse_num(addr_tok).ok_or_else(|| format!("bad address {}", quote(addr_tok)))?;
        let mut size = 1;
        let mut instrs = 1u64;
        let mut seen_size = false;
        let mut seen_instrs = false;
        for t in toks {
            if let Some(n) = t.strip_prefix(b"i=") {
                if seen_instrs {
                    return Err("`i=` given twice".into());
                }
                seen_instrs = true;
                instrs = parse_dec(n)
                    .filter(|&n| n <= u32::MAX as u64)
                    .ok_or_else(|| format!("bad instruction count {}", quote(t)))?;
            } else if !seen_size && !seen_instrs {
                seen_size = true;
                size = parse_num(t)
                    .filter(|&s| s >= 1)
                    .ok_or_else(|| format!("bad size {}", quote(t)))?;
            } else {
                return Err(format!("unexpected {} after the access", quote(t)));
            }
        }
        if size > self.page_mask + 1 {
            return Err(format!(
                "access of {size} bytes is wider than a page ({} bytes)",
                self.page_mask + 1
            ));
        }
        self.tally.records += 1;
        if kind == AccessKind::Fetch && !self.fetches {
            self.pending.add(instrs);
            return Ok(());
        }
        let n = if self.fetches {
            instrs as u32
        } else {
            self.pending.add(instrs);
            self.pending.take()
        };
        self.tally.crossings += push_sized(out, vaddr, size, kind, n, self.page_mask);
        Ok(())
    }
}

/// Writes accesses in the text format (`R 0x1000`, `i=N` when `instrs` is not 1).
pub struct TextWriter<W: Write> {
    w: BufWriter<W>,
}

impl<W: Write> TextWriter<W> {
    /// Starts a text trace with a comment line describing the syntax.
    pub fn new(w: W) -> io::Result<Self> {
        let mut w = BufWriter::with_capacity(1 << 16, w);
        w.write_all(b"# mmusim text trace: R|W|F address [size] [i=instructions, default 1]\n")?;
        Ok(TextWriter { w })
    }

    pub fn write(&mut self, a: &Access) -> io::Result<()> {
        let op = match a.kind {
            AccessKind::Load => 'R',
            AccessKind::Store => 'W',
            AccessKind::Fetch => 'F',
        };
        if a.instrs == 1 {
            writeln!(self.w, "{op} {:#x}", a.vaddr)
        } else {
            writeln!(self.w, "{op} {:#x} i={}", a.vaddr, a.instrs)
        }
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Adapter, TraceFormat};
    use super::*;
    use AccessKind::*;

    fn acc(vaddr: u64, kind: AccessKind, instrs: u32) -> Access {
        Access {
            vaddr,
            kind,
            instrs,
        }
    }

    fn parse(text: &str, fetches: bool) -> Result<Vec<Access>, String> {
        let opts = TraceOptions {
            format: TraceFormat::Text,
            fetches,
            page_size: 4096,
        };
        let mut src = Adapter(reader(
            "t.txt".into(),
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            &opts,
        ));
        super::super::tests::drain(&mut src, 2)
    }

    const SAMPLE: &str = "# a comment\n\
R 0x7ffd1000\n\
\n\
W 4096\n\
F 0x400000   # trailing comment\n\
r 0x1ffc 8\n\
  w\t0X10 4 i=0\n\
F 0x400004 i=3\n\
R 5 i=2\n";

    #[test]
    fn exact_parse() {
        assert_eq!(
            parse(SAMPLE, true).unwrap(),
            vec![
                acc(0x7ffd1000, Load, 1),
                acc(4096, Store, 1),
                acc(0x400000, Fetch, 1),
                acc(0x1ffc, Load, 1),
                acc(0x2000, Load, 0),
                acc(0x10, Store, 0),
                acc(0x400004, Fetch, 3),
                acc(5, Load, 2),
            ]
        );
        // Fetches off: F lines add their instructions to the next access.
        assert_eq!(
            parse(SAMPLE, false).unwrap(),
            vec![
                acc(0x7ffd1000, Load, 1),
                acc(4096, Store, 1),
                acc(0x1ffc, Load, 2),
                acc(0x2000, Load, 0),
                acc(0x10, Store, 0),
                acc(5, Load, 5),
            ]
        );
        assert_eq!(parse("", true).unwrap(), vec![]);
        assert_eq!(parse("# only\n\n", true).unwrap(), vec![]);
    }

    #[test]
    fn errors_with_line_numbers() {
        let cases = [
            (
                "R 1\nX 0x10\n",
                "t.txt:2: expected R, W, F, munmap, madvise, mmap, mprotect, migrate, fork or exit, found \"X 0x10\"",
            ),
            ("R 0xzz\n", "t.txt:1: bad address \"0xzz\""),
            ("R 12a\n", "t.txt:1: bad address \"12a\""),
            ("\n\nW\n", "t.txt:3: missing address"),
            ("R 1 0\n", "t.txt:1: bad size \"0\""),
            ("R 1 8 9\n", "t.txt:1: unexpected \"9\" after the access"),
            ("R 1 i=x\n", "t.txt:1: bad instruction count \"i=x\""),
            ("R 1 i=1 i=2\n", "t.txt:1: `i=` given twice"),
            (
                "R 1 i=4294967296\n",
                "t.txt:1: bad instruction count \"i=4294967296\"",
            ),
            (
                "R 1 5000\n",
                "t.txt:1: access of 5000 bytes is wider than a page (4096 bytes)",
            ),
            (
                "R 0x10000000000000000\n",
                "t.txt:1: bad address \"0x10000000000000000\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, true).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn writer_round_trip() {
        let accs = vec![
            acc(0, Load, 1),
            acc(u64::MAX, Store, 0),
            acc(0x400000, Fetch, 7),
            acc(0x1234, Load, u32::MAX),
        ];
        let mut w = TextWriter::new(Vec::new()).unwrap();
        for a in &accs {
            w.write(a).unwrap();
        }
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(parse(&text, true).unwrap(), accs);
    }
}
