//! Plumbing shared by the trace readers: the fixed read window over the decompressed
//! bytes, line splitting for the text formats, the carry-over queue that keeps `fill`
//! within `max`, instruction accounting and page-crossing splits.
//!
//! In: a decompressed byte stream. Out: raw bytes in a reused buffer (binary formats),
//! or one line at a time as a slice of that buffer (text formats; no allocation per
//! line). Memory is flat: one [`WINDOW`]-byte buffer per open trace, whatever its size.

use super::TraceError;
use crate::addr::AccessKind;
use crate::workload::{Access, OsEvent};
use std::io::{self, Read};

/// What every reader implements: [`crate::workload::AccessSource::fill`] with the
/// structured error (so [`super::convert`] and [`super::stats`] can pass it on as is).
pub(crate) trait TraceSource: Send {
    /// Appends up to `max` accesses to `buf`; appending nothing means the end.
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError>;

    /// OS events read so far, with their stream positions (text traces only).
    fn take_events(&mut self, _out: &mut Vec<(u64, OsEvent)>) {}

    /// What was read so far besides the accesses handed out (for `trace stats`).
    fn tally(&self) -> Tally;

    /// What the format's records are and what accesses they make, for `trace stats`.
    fn wording(&self) -> Wording;
}

impl TraceSource for Box<dyn TraceSource> {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        (**self).next_batch(buf, max)
    }

    fn take_events(&mut self, out: &mut Vec<(u64, OsEvent)>) {
        (**self).take_events(out)
    }

    fn tally(&self) -> Tally {
        (**self).tally()
    }

    fn wording(&self) -> Wording {
        (**self).wording()
    }
}

/// How `trace stats` names a format's records ("I, L, S and M lines") and the accesses
/// they make ("an M is a load and a store").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wording {
    pub records: &'static str,
    pub accesses: &'static str,
}

/// A reader's counts besides the accesses it emits: a trace has records (lines, fixed
/// records, page numbers), a record may make several accesses (a lackey `M` is a load
/// and a store, a ChampSim record an instruction's fetch and operands), and an access
/// that crosses a page becomes two translations. `trace stats` reports all three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Records that describe accesses (comments, blank lines, valgrind's `==` lines and
    /// event lines are not records), including instruction fetches left out by
    /// `fetches = false`.
    pub records: u64,
    /// Accesses split in two at a page boundary (each adds one translation).
    pub crossings: u64,
}

/// The [`crate::workload::AccessSource`] face of a [`TraceSource`].
pub(crate) struct Adapter<T>(pub T);

impl<T: TraceSource> crate::workload::AccessSource for Adapter<T> {
    fn fill(
        &mut self,
        buf: &mut Vec<Access>,
        max: usize,
    ) -> Result<(), crate::workload::WorkloadError> {
        self.0.next_batch(buf, max).map_err(Into::into)
    }

    fn take_events(&mut self, out: &mut Vec<(u64, OsEvent)>) {
        self.0.take_events(out)
    }
}

/// Size of the read buffer. Large enough that the read syscall and the copy out of
/// the page cache are amortised over ~64 K binary records; small enough to stay in L2.
pub(crate) const WINDOW: usize = 1 << 20;

/// A sliding window over a byte stream: `buf[pos..end]` is read but not yet consumed,
/// and `buf[0]` is byte `base` of the stream.
pub(crate) struct Window {
    src: Box<dyn Read + Send>,
    pub buf: Box<[u8]>,
    pub pos: usize,
    pub end: usize,
    base: u64,
    eof: bool,
}

impl Window {
    pub fn new(src: Box<dyn Read + Send>) -> Window {
        Window {
            src,
            buf: vec![0u8; WINDOW].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Unconsumed bytes.
    #[inline(always)]
    pub fn avail(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Stream offset of the first unconsumed byte.
    #[inline(always)]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Moves the unconsumed tail to the front and reads until the buffer is full or
    /// the stream ends. Returns the number of bytes added (0 only at end of stream or
    /// when the window is already full).
    pub fn refill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        let mut added = 0;
        // Keep reading until full: pipes and decoders return short reads, and a full
        // window means fewer trips through the parsers' refill path.
        while self.end < self.buf.len() && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    added += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(added)
    }

    /// The next line (without its `\n`) as a range of `buf`, consuming it; `None` at
    /// the end of the stream. A final line without `\n` counts. A line longer than the
    /// window is an error, which bounds memory on garbage input.
    pub fn next_line(&mut self) -> Result<Option<(usize, usize)>, LineError> {
        loop {
            if let Some(i) = self.avail().iter().position(|&b| b == b'\n') {
                let start = self.pos;
                self.pos += i + 1;
                return Ok(Some((start, start + i)));
            }
            if self.eof {
                if self.pos == self.end {
                    return Ok(None);
                }
                let start = self.pos;
                self.pos = self.end;
                return Ok(Some((start, self.end)));
            }
            if self.pos == 0 && self.end == self.buf.len() {
                return Err(LineError::TooLong(self.buf.len()));
            }
            self.refill().map_err(LineError::Io)?;
        }
    }
}

/// Why [`Window::next_line`] could not deliver a line.
#[derive(Debug)]
pub(crate) enum LineError {
    /// No newline within this many bytes.
    TooLong(usize),
    /// Reading (or decompressing) failed.
    Io(io::Error),
}

/// Accesses decoded beyond what the caller asked for in one `fill`, delivered first
/// by the next one. One trace record yields a handful of accesses at most (a ChampSim
/// record: 7; a lackey `M` crossing a page: 4), so this never grows past that.
#[derive(Default)]
pub(crate) struct Carry {
    items: Vec<Access>,
}

impl Carry {
    /// Moves up to `limit - buf.len()` carried accesses into `buf`.
    #[inline]
    pub fn drain_into(&mut self, buf: &mut Vec<Access>, limit: usize) {
        if !self.items.is_empty() {
            let n = self.items.len().min(limit.saturating_sub(buf.len()));
            buf.extend(self.items.drain(..n));
        }
    }

    /// Moves whatever `buf` holds beyond `limit` into the carry (order preserved).
    #[inline]
    pub fn take_excess(&mut self, buf: &mut Vec<Access>, limit: usize) {
        if buf.len() > limit {
            debug_assert!(self.items.is_empty());
            self.items.extend(buf.drain(limit..));
        }
    }
}

/// Instructions counted but not yet attached to an emitted access (fetches off).
#[derive(Default)]
pub(crate) struct Pending(u64);

impl Pending {
    #[inline(always)]
    pub fn add(&mut self, n: u64) {
        self.0 = self.0.saturating_add(n);
    }
    /// The count to put on the next emitted access; saturates at `u32::MAX` (a trace
    /// with four billion instructions between two data accesses loses the excess).
    #[inline(always)]
    pub fn take(&mut self) -> u32 {
        let n = self.0.min(u32::MAX as u64) as u32;
        self.0 = 0;
        n
    }
}

/// Appends an access of `size` bytes at `vaddr`; if it crosses a page boundary, also
/// the access to the next page (at that page's base, 0 instructions), because the MMU
/// translates both pages. Callers guarantee `1 <= size <= page size`, so at most two
/// pages are touched. Returns 1 if the access was split, else 0 (for [`Tally`]).
#[inline(always)]
pub(crate) fn push_sized(
    out: &mut Vec<Access>,
    vaddr: u64,
    size: u64,
    kind: AccessKind,
    instrs: u32,
    page_mask: u64,
) -> u64 {
    out.push(Access {
        vaddr,
        kind,
        instrs,
    });
    if (vaddr & page_mask) + size > page_mask + 1 {
        // At the very top of the address space there is no next page to touch.
        if let Some(next) = (vaddr | page_mask).checked_add(1) {
            out.push(Access {
                vaddr: next,
                kind,
                instrs: 0,
            });
            return 1;
        }
    }
    0
}

/// Error state shared by the readers: an error met after some accesses of a `fill` were
/// decoded is held back so those accesses are delivered first; it is then returned by
/// every later call (a failed trace stays failed).
#[derive(Default)]
pub(crate) struct Failure(Option<TraceError>);

impl Failure {
    /// Returns the held error, if any (without clearing it).
    pub fn check(&self) -> Result<(), TraceError> {
        match &self.0 {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Records the outcome of one decoding pass that started with `before` accesses
    /// in `buf`: with accesses to deliver, the error waits for the next call.
    pub fn settle(
        &mut self,
        r: Result<(), TraceError>,
        buf: &[Access],
        before: usize,
    ) -> Result<(), TraceError> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                self.0 = Some(e.clone());
                if buf.len() > before {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// Quotes (part of) a line for an error message: at most 40 characters, lossy UTF-8.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// Trims ASCII spaces, tabs and a trailing `\r` (files written on Windows).
#[inline]
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// Parses a decimal number (digits only) without overflow.
#[inline]
pub(crate) fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Parses hexadecimal digits (no prefix) without overflow.
#[inline]
pub(crate) fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        if v >> 60 != 0 {
            return None;
        }
        v = (v << 4) | d as u64;
    }
    Some(v)
}

/// A text format's per-line decoder.
pub(crate) trait LineParser: Send {
    /// Decodes one line (without its `\n`), appending the accesses it yields (possibly
    /// none) to `out`. On error nothing is appended; the message is completed with the
    /// file name and line number by the caller.
    fn line(&mut self, line: &[u8], out: &mut Vec<Access>) -> Result<(), String>;

    /// An OS event the last `line` call decoded instead of accesses, if any.
    fn take_event(&mut self) -> Option<OsEvent> {
        None
    }

    /// Records and page crossings decoded so far.
    fn tally(&self) -> Tally;

    /// See [`TraceSource::wording`].
    fn wording(&self) -> Wording;

    /// Fast path for the format's common line shapes: if `bytes` starts with a
    /// complete, well-formed line of such a shape (ending in `\n`), decodes it into
    /// `out` and returns its length including the `\n`. `None` (without touching
    /// `out`) sends the line to [`line`](Self::line), which handles everything else
    /// and reports errors; so the fast path only needs to be right when it says yes.
    #[inline(always)]
    fn fast(&mut self, _bytes: &[u8], _out: &mut Vec<Access>) -> Option<usize> {
        None
    }
}

/// A [`TraceSource`] over a line-oriented text trace.
pub(crate) struct LineSource<P> {
    name: String,
    win: Window,
    /// Lines consumed so far (the 1-based number of the last one).
    line_no: u64,
    parser: P,
    carry: Carry,
    fail: Failure,
    /// Accesses handed out in earlier batches, and events with their positions.
    delivered: u64,
    events: Vec<(u64, OsEvent)>,
}

impl<P: LineParser> LineSource<P> {
    pub fn new(name: String, src: Box<dyn Read + Send>, parser: P) -> Self {
        LineSource {
            name,
            win: Window::new(src),
            line_no: 0,
            parser,
            carry: Carry::default(),
            fail: Failure::default(),
            delivered: 0,
            events: Vec::new(),
        }
    }

    fn decode(
        &mut self,
        buf: &mut Vec<Access>,
        before: usize,
        limit: usize,
    ) -> Result<(), TraceError> {
        while buf.len() < limit {
            // Common lines are parsed in one pass straight from the window, without
            // first searching for the newline.
            if let Some(n) = self
                .parser
                .fast(&self.win.buf[self.win.pos..self.win.end], buf)
            {
                self.win.pos += n;
                self.line_no += 1;
                continue;
            }
            match self.win.next_line() {
                Ok(Some((s, e))) => {
                    self.line_no += 1;
                    if let Err(msg) = self.parser.line(&self.win.buf[s..e], buf) {
                        return Err(TraceError::at_line(&self.name, self.line_no, msg));
                    }
                    if let Some(ev) = self.parser.take_event() {
                        // Event lines yield no access: the event comes before the
                        // accesses of the lines after it.
                        let at = self.delivered + (buf.len() - before) as u64;
                        self.events.push((at, ev));
                    }
                }
                Ok(None) => break,
                Err(LineError::TooLong(n)) => {
                    return Err(TraceError::at_line(
                        &self.name,
                        self.line_no + 1,
                        format!("line longer than {n} bytes (is this a text trace?)"),
                    ))
                }
                Err(LineError::Io(e)) => return Err(TraceError::io(&self.name, &e)),
            }
        }
        Ok(())
    }
}

impl<P: LineParser> TraceSource for LineSource<P> {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        self.fail.check()?;
        let before = buf.len();
        let limit = before + max;
        self.carry.drain_into(buf, limit);
        let r = self.decode(buf, before, limit);
        self.carry.take_excess(buf, limit);
        let r = self.fail.settle(r, buf, before);
        self.delivered += (buf.len() - before) as u64;
        r
    }

    fn take_events(&mut self, out: &mut Vec<(u64, OsEvent)>) {
        out.append(&mut self.events);
    }

    fn tally(&self) -> Tally {
        self.parser.tally()
    }

    fn wording(&self) -> Wording {
        self.parser.wording()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn numbers() {
        assert_eq!(parse_hex(b"0023c790"), Some(0x23c790));
        assert_eq!(parse_hex(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_hex(b"10000000000000000"), None);
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"zz12"), None);
        assert_eq!(parse_dec(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_dec(b"18446744073709551616"), None);
        assert_eq!(parse_dec(b"1a"), None);
        assert_eq!(trim(b" \tR 1\r"), b"R 1");
        assert_eq!(trim(b"   "), b"");
    }

    #[test]
    fn splits_page_crossings() {
        let mut v = Vec::new();
        push_sized(&mut v, 0x1ffc, 4, AccessKind::Load, 3, 0xfff);
        push_sized(&mut v, 0x1ffc, 5, AccessKind::Store, 2, 0xfff);
        push_sized(&mut v, u64::MAX - 1, 8, AccessKind::Load, 1, 0xfff);
        let a = |vaddr, kind, instrs| Access {
            vaddr,
            kind,
            instrs,
        };
        assert_eq!(
            v,
            vec![
                a(0x1ffc, AccessKind::Load, 3),
                a(0x1ffc, AccessKind::Store, 2),
                a(0x2000, AccessKind::Store, 0),
                a(u64::MAX - 1, AccessKind::Load, 1),
            ]
        );
    }

    /// Lines split across refills come out whole; the last line needs no newline.
    #[test]
    fn lines_across_refills() {
        let mut text = Vec::new();
        for i in 0..200_000u32 {
            text.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        text.extend_from_slice(b"last");
        let mut w = Window::new(Box::new(Cursor::new(text)));
        let mut i = 0u32;
        while let Some((s, e)) = w.next_line().unwrap() {
            let line = &w.buf[s..e];
            if i < 200_000 {
                assert_eq!(line, format!("line {i}").as_bytes());
            } else {
                assert_eq!(line, b"last");
            }
            i += 1;
        }
        assert_eq!(i, 200_001);
        // A line longer than the window is an error, not unbounded growth.
        let mut w = Window::new(Box::new(Cursor::new(vec![b'x'; WINDOW + 10])));
        assert!(matches!(w.next_line(), Err(LineError::TooLong(WINDOW))));
    }
}
