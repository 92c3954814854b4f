//! valgrind lackey traces (`valgrind --tool=lackey --trace-mem=yes --log-file=F prog`).
//!
//! Owns the lackey line syntax. In: the decompressed text, line by line (no allocation
//! per line). Out: accesses, following the module-wide conventions of [`super`]
//! (instruction accounting, page-crossing splits).
//!
//! Syntax: `I  0023c790,2` (instruction fetch of 2 bytes), ` L 04222cac,8` (load),
//! ` S addr,size` (store), ` M addr,size` (modify: a load then a store of the same
//! bytes). Addresses are hexadecimal without `0x` (valgrind pads to 8 digits; any
//! number of digits is accepted), sizes decimal. Lines starting `==` (valgrind's own
//! messages) and blank lines are skipped; anything else is an error naming the line.
//! Leading spaces are not significant (some tools re-indent lackey output).

use super::source::{push_sized, quote, trim, LineParser, LineSource, Pending, Tally, Wording};
use super::TraceOptions;
use crate::addr::AccessKind;
use crate::workload::Access;
use std::io::Read;

/// Decoder state: the options and the instructions not yet attached to an access.
pub(crate) struct Lackey {
    fetches: bool,
    page_mask: u64,
    pending: Pending,
    tally: Tally,
}

/// A lackey reader over a decompressed stream.
pub(crate) fn reader(
    name: String,
    r: Box<dyn Read + Send>,
    opts: &TraceOptions,
) -> LineSource<Lackey> {
    LineSource::new(
        name,
        r,
        Lackey {
            fetches: opts.fetches,
            page_mask: opts.page_size - 1,
            pending: Pending::default(),
            tally: Tally::default(),
        },
    )
}

/// Hex digit values; 0xFF for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl Lackey {
    /// Emits one access line's accesses (`op` already validated, `size` in range).
    #[inline(always)]
    fn emit(&mut self, op: u8, vaddr: u64, size: u64, out: &mut Vec<Access>) {
        let mask = self.page_mask;
        self.tally.records += 1;
        self.tally.crossings += match (op, self.fetches) {
            (b'I', true) => push_sized(out, vaddr, size, AccessKind::Fetch, 1, mask),
            (b'I', false) => {
                self.pending.add(1);
                0
            }
            // With fetches on, the instruction was counted by its fetch.
            (b'L', f) => {
                let n = if f { 0 } else { self.pending.take() };
                push_sized(out, vaddr, size, AccessKind::Load, n, mask)
            }
            (b'S', f) => {
                let n = if f { 0 } else { self.pending.take() };
                push_sized(out, vaddr, size, AccessKind::Store, n, mask)
            }
            (_, f) => {
                let n = if f { 0 } else { self.pending.take() };
                push_sized(out, vaddr, size, AccessKind::Load, n, mask)
                    + push_sized(out, vaddr, size, AccessKind::Store, 0, mask)
            }
        };
    }
}

impl LineParser for Lackey {
    fn tally(&self) -> Tally {
        self.tally
    }

    fn wording(&self) -> Wording {
        Wording {
            records: "I, L, S and M lines",
            accesses: "an M is a load and a store",
        }
    }

    /// Exactly `I  hex,dec\n` or ` L|S|M hex,dec\n` with 1-16 hex digits and 1-6
    /// decimal digits: what valgrind writes, i.e. nearly every line.
    #[inline(always)]
    fn fast(&mut self, b: &[u8], out: &mut Vec<Access>) -> Option<usize> {
        let op = match b {
            [b'I', b' ', b' ', ..] => b'I',
            [b' ', op @ (b'L' | b'S' | b'M'), b' ', ..] => *op,
            _ => return None,
        };
        let mut i = 3;
        let mut vaddr = 0u64;
        loop {
            let d = HEX[*b.get(i)? as usize];
            if d == 0xFF {
                break;
            }
            vaddr = vaddr << 4 | d as u64;
            i += 1;
        }
        if i == 3 || i > 3 + 16 || *b.get(i)? != b',' {
            return None;
        }
        i += 1;
        let s0 = i;
        let mut size = 0u64;
        loop {
            let d = b.get(i)?.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // Wrapping: a size of more than 6 digits leaves the fast path just below, and
            // 20 digits must not overflow on the way there (a panic in debug builds).
            size = size.wrapping_mul(10).wrapping_add(d as u64);
            i += 1;
        }
        if i == s0 || i > s0 + 6 || b[i] != b'\n' || size == 0 || size > self.page_mask + 1 {
            return None;
        }
        self.emit(op, vaddr, size, out);
        Some(i + 1)
    }

    #[inline]
    fn line(&mut self, line: &[u8], out: &mut Vec<Access>) -> Result<(), String> {
        let mut i = 0;
        while i < line.len() && line[i] == b' ' {
            i += 1;
        }
        let rest = trim(&line[i..]);
        if rest.is_empty() || line.starts_with(b"==") {
            return Ok(());
        }
        let op = rest[0];
        let well_formed_op =
            matches!(op, b'I' | b'L' | b'S' | b'M') && rest.len() > 1 && rest[1] == b' ';
        if !well_formed_op {
            return Err(format!("expected I, L, S or M, found {}", quote(rest)));
        }
        let mut j = 1;
        while j < rest.len() && rest[j] == b' ' {
            j += 1;
        }
        let operand = &rest[j..];
        let (addr_tok, size_tok) = match operand.iter().position(|&b| b == b',') {
            Some(c) => (&operand[..c], Some(&operand[c + 1..])),
            None => (operand, None),
        };
        let vaddr = super::source::parse_hex(addr_tok)
            .ok_or_else(|| format!("bad address {}", quote(addr_tok)))?;
        let size_tok = size_tok.ok_or_else(|| {
            format!(
                "missing \",size\" after the address in {}",
                quote(trim(line))
            )
        })?;
        let size = super::source::parse_dec(size_tok)
            .filter(|&s| s >= 1)
            .ok_or_else(|| format!("bad size {}", quote(size_tok)))?;
        if size > self.page_mask + 1 {
            return Err(format!(
                "access of {size} bytes is wider than a page ({} bytes)",
                self.page_mask + 1
            ));
        }
        self.emit(op, vaddr, size, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, TraceFormat, TraceOptions};
    use super::*;
    use crate::workload::AccessSource;
    use std::path::Path;

    fn acc(vaddr: u64, kind: AccessKind, instrs: u32) -> Access {
        Access {
            vaddr,
            kind,
            instrs,
        }
    }

    fn read_all(src: &mut dyn AccessSource, max: usize) -> Result<Vec<Access>, String> {
        super::super::tests::drain(src, max)
    }

    fn parse(text: &str, fetches: bool) -> Result<Vec<Access>, String> {
        let opts = TraceOptions {
            format: TraceFormat::Lackey,
            fetches,
            page_size: 4096,
        };
        let mut src = super::super::Adapter(reader(
            "t.lackey".into(),
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &opts,
        ));
        read_all(&mut src, 3)
    }

    const SNIPPET: &str = "==4242== Lackey, an example Valgrind tool\n\
==4242== Command: /bin/true\n\
\n\
I  0040100a,3\n\
 L 7ff0001000,8\n\
I  0040100d,2\n\
I  0040100f,4\n\
 S 7ff0001ffc,8\n\
 M 00602000,4\n\
I  00400ffe,5\n\
 M 00601ffe,4\n\
I  00401013,2\n\
==4242== \n";

    #[test]
    fn snippet_with_fetches() {
        use AccessKind::*;
        let got = parse(SNIPPET, true).unwrap();
        assert_eq!(
            got,
            vec![
                acc(0x40100a, Fetch, 1),
                acc(0x7ff0001000, Load, 0),
                acc(0x40100d, Fetch, 1),
                acc(0x40100f, Fetch, 1),
                // 8 bytes at ...ffc cross into the next page.
                acc(0x7ff0001ffc, Store, 0),
                acc(0x7ff0002000, Store, 0),
                acc(0x602000, Load, 0),
                acc(0x602000, Store, 0),
                // A 5-byte instruction at ...ffe crosses too.
                acc(0x400ffe, Fetch, 1),
                acc(0x401000, Fetch, 0),
                // Modify crossing a page: load (2 pages) then store (2 pages).
                acc(0x601ffe, Load, 0),
                acc(0x602000, Load, 0),
                acc(0x601ffe, Store, 0),
                acc(0x602000, Store, 0),
                acc(0x401013, Fetch, 1),
            ]
        );
    }

    /// Issue 17 (found by the randomized test): a size of 20 digits overflowed the fast
    /// path's accumulator (a panic in debug builds) before its 6-digit check.
    #[test]
    fn a_size_of_twenty_digits_is_an_error_not_an_overflow() {
        for size in ["18446744073709551616", "99999999999999999999999999"] {
            let e = parse(&format!("I  00400000,2\n L 1000,{size}\n"), true).unwrap_err();
            assert!(e.starts_with("t.lackey:2:"), "{e}");
        }
    }

    /// CRLF line ends and extra spaces send every line through the general parser; it
    /// must agree with the fast path.
    #[test]
    fn general_and_fast_paths_agree() {
        for fetches in [true, false] {
            let fast = parse(SNIPPET, fetches).unwrap();
            let crlf = SNIPPET.replace('\n', "\r\n");
            assert_eq!(parse(&crlf, fetches).unwrap(), fast);
            let spaced = SNIPPET.replace(" L ", "  L  ").replace("I  ", "I   ");
            assert_eq!(parse(&spaced, fetches).unwrap(), fast);
        }
    }

    #[test]
    fn snippet_without_fetches() {
        use AccessKind::*;
        let got = parse(SNIPPET, false).unwrap();
        // Instructions are counted into the next data access; the trailing I line has
        // no access after it and is dropped.
        assert_eq!(
            got,
            vec![
                acc(0x7ff0001000, Load, 1),
                acc(0x7ff0001ffc, Store, 2),
                acc(0x7ff0002000, Store, 0),
                acc(0x602000, Load, 0),
                acc(0x602000, Store, 0),
                acc(0x601ffe, Load, 1),
                acc(0x602000, Load, 0),
                acc(0x601ffe, Store, 0),
                acc(0x602000, Store, 0),
            ]
        );
        let instrs: u32 = got.iter().map(|a| a.instrs).sum();
        assert_eq!(instrs, 4); // of the 5 I lines, the last is dropped
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("I  00400000,2\n\n L 1000,8\nXq 1234,8\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:4: expected I, L, S or M, found \"Xq 1234,8\"");
        let e = parse("I  00400000,2\n L zz12,8\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:2: bad address \"zz12\"");
        let e = parse(" L 1000\n", true).unwrap_err();
        assert_eq!(
            e,
            "t.lackey:1: missing \",size\" after the address in \"L 1000\""
        );
        let e = parse(" L 1000,\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:1: bad size \"\"");
        let e = parse(" L 1000,8x\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:1: bad size \"8x\"");
        let e = parse(" L 1000,8192\n", true).unwrap_err();
        assert_eq!(
            e,
            "t.lackey:1: access of 8192 bytes is wider than a page (4096 bytes)"
        );
        let e = parse(" L,8\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:1: expected I, L, S or M, found \"L,8\"");
        let e = parse("I  ,8\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:1: bad address \"\"");
        // Seventeen hex digits do not fit in 64 bits.
        let e = parse(" S 10000000000000000,8\n", true).unwrap_err();
        assert_eq!(e, "t.lackey:1: bad address \"10000000000000000\"");
    }

    #[test]
    fn empty_and_blank_files_are_empty_traces() {
        assert_eq!(parse("", true).unwrap(), vec![]);
        assert_eq!(parse("\n  \n\r\n==1== hi\n", true).unwrap(), vec![]);
        // CRLF line ends and a missing final newline are fine.
        assert_eq!(
            parse(" L 10,4\r\n S 20,4", true).unwrap(),
            vec![
                acc(0x10, AccessKind::Load, 0),
                acc(0x20, AccessKind::Store, 0)
            ]
        );
    }

    /// Counts `I` lines of a lackey log independently of the parser.
    fn count_i_lines(text: &str) -> usize {
        text.lines().filter(|l| l.starts_with("I ")).count()
    }

    /// Runs the real valgrind on /bin/true and checks the parse against the raw text.
    #[test]
    fn real_valgrind_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("true.lackey");
        let status = std::process::Command::new("valgrind")
            .args(["--tool=lackey", "--trace-mem=yes"])
            .arg(format!("--log-file={}", log.display()))
            .arg("/bin/true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("valgrind failed: {s}"),
            Err(_) => {
                println!("skipped: valgrind not found");
                return;
            }
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let i_lines = count_i_lines(&text);
        let data_lines = text
            .lines()
            .filter(|l| l.starts_with(" L ") || l.starts_with(" S ") || l.starts_with(" M "))
            .count();
        let mut src = open(
            &log,
            &TraceOptions {
                format: TraceFormat::Auto,
                fetches: true,
                page_size: 4096,
            },
        )
        .unwrap();
        let got = read_all(&mut *src, 4096).unwrap();
        assert!(got.len() > 1000, "only {} accesses", got.len());
        // Every I line became a fetch carrying its instruction (page-crossing second
        // halves carry 0 and are not counted here).
        let fetches_with_instr = got
            .iter()
            .filter(|a| a.kind == AccessKind::Fetch && a.instrs == 1)
            .count();
        assert_eq!(fetches_with_instr, i_lines);
        assert!(got
            .iter()
            .all(|a| (a.kind == AccessKind::Fetch) == (a.instrs == 1) || a.instrs == 0));
        let loads = got.iter().filter(|a| a.kind == AccessKind::Load).count();
        let stores = got.iter().filter(|a| a.kind == AccessKind::Store).count();
        assert!(loads + stores >= data_lines.max(1));
        // Without fetches the instruction total is the I lines minus those after the
        // last data access.
        let mut src = open(
            Path::new(&log),
            &TraceOptions {
                format: TraceFormat::Lackey,
                fetches: false,
                page_size: 4096,
            },
        )
        .unwrap();
        let data = read_all(&mut *src, 4096).unwrap();
        assert_eq!(data.len(), loads + stores);
        let all_lines: Vec<&str> = text.lines().collect();
        let last_data = all_lines
            .iter()
            .rposition(|l| l.starts_with(" L ") || l.starts_with(" S ") || l.starts_with(" M "))
            .unwrap();
        let counted = count_i_lines(&all_lines[..last_data].join("\n"));
        let total: u64 = data.iter().map(|a| a.instrs as u64).sum();
        assert_eq!(total, counted as u64);
    }
}
