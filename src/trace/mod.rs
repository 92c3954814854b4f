//! Memory traces: reading recorded access streams (and writing our own format).
//!
//! Owns the trace file formats and their selection: valgrind lackey output
//! ([`lackey`]), ChampSim binary traces ([`champsim`]), a plain text format
//! ([`text`]), page reference strings (`.refs`, parsed by
//! [`crate::workload::RefList::parse`]) and mmusim's own fixed-record binary format
//! `.mmt` ([`binary`]), each possibly compressed with gzip, xz or zstd ([`compress`], decoded on its own
//! thread by [`pipe`]).
//!
//! In: a path (`-` = stdin) and [`TraceOptions`]. Out: a
//! [`crate::workload::AccessSource`] that decodes the file in batches into the
//! caller's buffer, so a trace plugs into the simulator exactly like a synthetic
//! workload. Memory stays flat whatever the trace's size (one 1 MiB read window per
//! open trace; `.refs` files, which are small by nature, are read whole). Also here:
//! [`convert`] (any format → `.mmt` or text), [`stats`] (a trace's summary) and
//! [`detect`] (which format a file is).
//!
//! Conventions shared by every reader:
//! - `Access.instrs` counts instructions retired since the previous *emitted* access,
//!   including the access's own. With `fetches = true` each instruction fetch is an
//!   access (`instrs = 1`) and the data accesses of that instruction carry 0. With
//!   `fetches = false` fetches are only counted, and the next data access carries the
//!   count; instructions after the last data access of a trace are dropped.
//! - An access of `size` bytes that crosses a `page_size` boundary becomes two
//!   accesses (the second at the next page's base, `instrs = 0`): the MMU translates
//!   both pages. Sizes above `page_size` are errors (no real access is that wide).
//! - Errors name the file and a 1-based line (text formats) or a byte offset (binary
//!   formats; offsets count decompressed bytes). An error met in the middle of a
//!   `fill` is returned after the accesses decoded before it have been delivered, and
//!   then by every later call.
//! - A trace without a single access (an empty file, an empty gzip or xz stream, a
//!   file of comments, an `.mmt` header alone) is an error, "trace has no accesses",
//!   at its first batch ([`open`] wraps every reader so); an empty `.mmt` file has not
//!   even a header. Only `trace record` reads a possibly empty stream, and says why.
//! - Besides accesses, each reader counts its records and page-crossing splits (for
//!   [`stats`]: records, accesses and translations apart).

pub mod binary;
pub mod champsim;
pub mod compress;
pub mod lackey;
pub mod length;
pub mod predecode;
pub mod record;
pub mod text;

mod pipe;
mod source;
mod stats;

pub use binary::{BinaryFileWriter, BinaryWriter};
pub use stats::{stats, ReuseSummary, TraceStats};
pub use text::TextWriter;

use crate::workload::{Access, AccessSource, RefList, WorkloadError};
use serde::{Deserialize, Serialize};
pub use source::Wording;
use source::{Adapter, Tally, TraceSource};
use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

/// Which reader decodes a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// Decide by the file name (compression suffix stripped), else by the content.
    #[default]
    Auto,
    /// valgrind `--tool=lackey --trace-mem=yes` output.
    Lackey,
    /// ChampSim's 64-byte binary instruction records.
    ChampSim,
    /// One access per line: `R 0x1000`, `W 4096 8`, `F 0x400000`.
    Text,
    /// A page reference string (page numbers; `(1 2 3)x20` groups).
    Refs,
    /// mmusim's `.mmt` format.
    Binary,
}

impl std::str::FromStr for TraceFormat {
    type Err = String;

    /// A format by the name [`fmt::Display`] gives it (`auto`, `lackey`, `champsim`,
    /// `text`, `refs`, `binary`).
    fn from_str(s: &str) -> Result<TraceFormat, String> {
        use TraceFormat::*;
        let all = [Auto, Lackey, ChampSim, Text, Refs, Binary];
        all.into_iter().find(|f| f.to_string() == s).ok_or_else(|| {
            format!("unknown trace format `{s}` (auto, lackey, champsim, text, refs or binary)")
        })
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceFormat::Auto => "auto",
            TraceFormat::Lackey => "lackey",
            TraceFormat::ChampSim => "champsim",
            TraceFormat::Text => "text",
            TraceFormat::Refs => "refs",
            TraceFormat::Binary => "binary",
        })
    }
}

/// How to read a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceOptions {
    pub format: TraceFormat,
    /// Emit instruction fetches as `Fetch` accesses (they go to the ITLB); when false
    /// they are only counted into the next data access's `instrs`.
    pub fetches: bool,
    /// Page size in bytes (a power of two, at least 4096): the page a `.refs` number
    /// names, and the boundary at which a wide access is split in two.
    pub page_size: u64,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            format: TraceFormat::Auto,
            fetches: true,
            page_size: 4096,
        }
    }
}

/// A trace that cannot be read: which file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceError {
    pub file: String,
    /// A 1-based line number (`"17"`) or a byte offset (`"byte 6400"`).
    pub location: Option<String>,
    pub msg: String,
}

impl TraceError {
    pub(crate) fn new(file: &str, msg: impl Into<String>) -> TraceError {
        TraceError {
            file: file.to_string(),
            location: None,
            msg: msg.into(),
        }
    }
    pub(crate) fn at_line(file: &str, line: u64, msg: impl Into<String>) -> TraceError {
        TraceError {
            file: file.to_string(),
            location: Some(line.to_string()),
            msg: msg.into(),
        }
    }
    pub(crate) fn at_byte(file: &str, offset: u64, msg: impl Into<String>) -> TraceError {
        TraceError {
            file: file.to_string(),
            location: Some(format!("byte {offset}")),
            msg: msg.into(),
        }
    }
    /// A read failure; a decompressor's failure names its codec and is placed at the
    /// decompressed byte where decoding stopped.
    pub(crate) fn io(file: &str, e: &io::Error) -> TraceError {
        match e
            .get_ref()
            .and_then(|i| i.downcast_ref::<compress::CodecError>())
        {
            Some(c) => TraceError::at_byte(file, c.offset, c.to_string()),
            None => TraceError::new(file, e.to_string()),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            // Line numbers in the compiler style `file:17: msg`, which editors follow.
            Some(l) if l.bytes().all(|b| b.is_ascii_digit()) => {
                write!(f, "{}:{}: {}", self.file, l, self.msg)
            }
            Some(l) => write!(f, "{}: {}: {}", self.file, l, self.msg),
            None => write!(f, "{}: {}", self.file, self.msg),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<TraceError> for WorkloadError {
    fn from(e: TraceError) -> WorkloadError {
        WorkloadError { msg: e.to_string() }
    }
}

/// The name errors use for `path`.
fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// The format a file name promises, compression suffix stripped; `None` if the name
/// says nothing.
pub fn format_from_name(path: &Path) -> Option<TraceFormat> {
    let name = path.file_name()?.to_str()?;
    let lower = compress::strip_suffix(name).to_ascii_lowercase();
    let ends = |s: &str| lower.ends_with(s);
    // Longest suffixes first: `.lackey.txt` is lackey and `.trace.txt` text, although
    // `.txt` alone is text and `.trace` alone ChampSim.
    Some(if ends(".lackey") || ends(".lackey.txt") || ends(".log") {
        TraceFormat::Lackey
    } else if ends(".txt") {
        TraceFormat::Text
    } else if ends(".champsim") || ends(".champsimtrace") || ends(".trace") {
        TraceFormat::ChampSim
    } else if ends(".refs") {
        TraceFormat::Refs
    } else if ends(".mmt") {
        TraceFormat::Binary
    } else {
        return None;
    })
}

/// The format the first bytes of a (decompressed) trace reveal, if they do. ChampSim
/// traces have no signature, so they are never recognised here.
pub fn format_from_content(head: &[u8]) -> Option<TraceFormat> {
    if head.starts_with(binary::MAGIC) {
        return Some(TraceFormat::Binary);
    }
    for line in head.split(|&b| b == b'\n') {
        if line.starts_with(b"==")
            || line.starts_with(b"I  ")
            || line.starts_with(b" L ")
            || line.starts_with(b" S ")
            || line.starts_with(b" M ")
        {
            return Some(TraceFormat::Lackey);
        }
        let t = source::trim(line);
        if t.is_empty() || t[0] == b'#' {
            continue;
        }
        if t.len() >= 2 && matches!(t[0], b'R' | b'W' | b'F') && matches!(t[1], b' ' | b'\t') {
            return Some(TraceFormat::Text);
        }
        let refs_like = t.iter().all(|&b| {
            b.is_ascii_digit() || matches!(b, b' ' | b'\t' | b',' | b'(' | b')' | b'x' | b'*')
        });
        return refs_like.then_some(TraceFormat::Refs);
    }
    None
}

const CANNOT_TELL: &str = "cannot tell the trace format from the name or the content: name it \
     .lackey, .champsim, .txt, .refs or .mmt (optionally .gz/.xz/.zst), or give the format \
     (`--format`, or `format` in the workload's [generator])";

/// Standard input has no name to go by: only the format flag helps.
const CANNOT_TELL_STDIN: &str = "cannot tell the trace format of standard input from its \
     content: give it with `--format` (lackey, champsim, text, refs or binary), or \
     `format` in the workload's [generator]";

/// What to say when neither the name nor the content of `path` tells its format.
fn cannot_tell(path: &Path) -> &'static str {
    if path.as_os_str() == "-" {
        CANNOT_TELL_STDIN
    } else {
        CANNOT_TELL
    }
}

/// How many decompressed bytes content detection looks at.
const SNIFF: usize = 4096;

/// The format of the trace at `path`: by its name, else by its (decompressed) content.
/// Stdin (`-`) cannot be looked at without consuming it, so it is an error here;
/// [`open`] detects stdin's format by content.
pub fn detect(path: &Path) -> Result<TraceFormat, TraceError> {
    let name = display_name(path);
    if let Some(f) = format_from_name(path) {
        return Ok(f);
    }
    if path.as_os_str() == "-" {
        return Err(TraceError::new(
            &name,
            "the format of standard input cannot be detected without reading it: give it with `--format`",
        ));
    }
    let (mut r, _) = open_bytes(path, &name)?;
    let mut head = vec![0u8; SNIFF];
    let n = compress::read_up_to(&mut r, &mut head).map_err(|e| TraceError::io(&name, &e))?;
    format_from_content(&head[..n]).ok_or_else(|| TraceError::new(&name, CANNOT_TELL))
}

fn open_bytes(
    path: &Path,
    name: &str,
) -> Result<(Box<dyn Read + Send>, compress::Compression), TraceError> {
    compress::open_read(path).map_err(|e| TraceError::new(name, format!("cannot open: {e}")))
}

fn check_options(name: &str, opts: &TraceOptions) -> Result<(), TraceError> {
    if !opts.page_size.is_power_of_two() || opts.page_size < 4096 {
        return Err(TraceError::new(
            name,
            format!(
                "page size must be a power of two and at least 4096, got {}",
                opts.page_size
            ),
        ));
    }
    Ok(())
}

/// What a trace output without a suffix of its own is written as: mmusim's binary
/// format, zstd-compressed (written and read at several hundred MB/s, a small fraction
/// of the raw size).
pub const DEFAULT_SUFFIX: &str = ".mmt.zst";

/// The name `trace record` and `trace convert` write to: `out` itself when its file
/// name has a suffix, which then says exactly what the file holds (`t.mmt` is raw,
/// `t.mmt.zst`, `t.mmt.xz`, `t.txt.gz` ...); a bare name (`run1`) gets
/// [`DEFAULT_SUFFIX`]. `-` (standard output) stays as it is.
pub fn output_name(out: &Path) -> PathBuf {
    if out.as_os_str() == "-" || out.extension().is_some() || out.file_name().is_none() {
        return out.to_path_buf();
    }
    let mut s = out.as_os_str().to_os_string();
    s.push(DEFAULT_SUFFIX);
    PathBuf::from(s)
}

/// Checks that `out`'s name is one a `.mmt` file may have (`.mmt`, `.mmt.gz`, `.mmt.xz`,
/// `.mmt.zst`; `-` for standard output): a trace written under another format's name
/// would be read back as that format. For writers of `.mmt` that are not [`convert`]
/// (`trace record`), after [`output_name`].
pub fn check_mmt_name(out: &Path) -> Result<(), TraceError> {
    if out.as_os_str() == "-" || format_from_name(out) == Some(TraceFormat::Binary) {
        return Ok(());
    }
    let says = match format_from_name(out) {
        Some(f) => format!(" (this name would be read back as {f})"),
        None => String::new(),
    };
    Err(TraceError::new(
        &display_name(out),
        format!(
            "the trace is written in mmusim's binary format: name it .mmt, .mmt.gz, .mmt.xz or .mmt.zst (a name without a suffix gets .mmt.zst), or - for standard output{says}"
        ),
    ))
}

/// Opens a trace for streaming. `path` `-` reads stdin. The format is `opts.format`,
/// or for `Auto` the file name's (see [`format_from_name`]), else the content's.
pub fn open(path: &Path, opts: &TraceOptions) -> Result<Box<dyn AccessSource>, TraceError> {
    Ok(Box::new(Adapter(open_trace(path, opts)?)))
}

/// [`open`] with the structured error kept.
pub(crate) fn open_trace(
    path: &Path,
    opts: &TraceOptions,
) -> Result<Box<dyn TraceSource>, TraceError> {
    Ok(Box::new(NonEmpty {
        inner: open_maybe_empty(path, opts)?,
        name: display_name(path),
        fetches: opts.fetches,
        seen: false,
    }))
}

/// [`open`] over `path`'s bytes already decoded (by [`predecode`]): the same reader,
/// named after `path`, its format decided as [`open`] decides it.
pub fn open_decoded(
    path: &Path,
    decoded: Box<dyn Read + Send>,
    opts: &TraceOptions,
) -> Result<Box<dyn AccessSource>, TraceError> {
    Ok(Box::new(Adapter(NonEmpty {
        inner: open_bytes_as(path, Some(decoded), opts)?,
        name: display_name(path),
        fetches: opts.fetches,
        seen: false,
    })))
}

/// [`open_trace`] without the refusal of a trace that holds no access, for
/// `trace record`, which says itself why valgrind gave nothing.
pub(crate) fn open_maybe_empty(
    path: &Path,
    opts: &TraceOptions,
) -> Result<Box<dyn TraceSource>, TraceError> {
    open_bytes_as(path, None, opts)
}

/// The reader of `path` over `decoded`, or over the file opened here when `None`.
fn open_bytes_as(
    path: &Path,
    decoded: Option<Box<dyn Read + Send>>,
    opts: &TraceOptions,
) -> Result<Box<dyn TraceSource>, TraceError> {
    let name = display_name(path);
    check_options(&name, opts)?;
    let r = match decoded {
        Some(r) => r,
        None => open_bytes(path, &name)?.0,
    };
    let format = match opts.format {
        TraceFormat::Auto => format_from_name(path),
        f => Some(f),
    };
    open_sniffed(name, r, format, opts, cannot_tell(path))
}

/// A trace read from `raw` (plain, gzip or xz, told by its magic bytes) and named `name`
/// in errors: [`open`] for bytes that are not in a file. `opts.format` `Auto` decides by
/// the content. The fuzz targets and the randomized tests feed every reader this way.
pub fn open_reader(
    name: &str,
    raw: Box<dyn Read + Send>,
    opts: &TraceOptions,
) -> Result<Box<dyn AccessSource>, TraceError> {
    check_options(name, opts)?;
    let (r, _) = compress::wrap_read(raw).map_err(|e| TraceError::io(name, &e))?;
    let format = (opts.format != TraceFormat::Auto).then_some(opts.format);
    Ok(Box::new(Adapter(open_sniffed(
        name.to_string(),
        r,
        format,
        opts,
        CANNOT_TELL,
    )?)))
}

/// [`open_stream`] for `format`, or when `None` the format the start of `r` reveals.
fn open_sniffed(
    name: String,
    mut r: Box<dyn Read + Send>,
    format: Option<TraceFormat>,
    opts: &TraceOptions,
    cannot_tell: &'static str,
) -> Result<Box<dyn TraceSource>, TraceError> {
    let format = match format {
        Some(f) => f,
        None => {
            // Look at the start, then put it back in front of the stream.
            let mut head = vec![0u8; SNIFF];
            let n =
                compress::read_up_to(&mut r, &mut head).map_err(|e| TraceError::io(&name, &e))?;
            head.truncate(n);
            if n == 0 {
                // Nothing to tell the format by, and nothing to read either.
                return Err(TraceError::new(
                    &name,
                    "trace has no accesses (it is empty)",
                ));
            }
            let f =
                format_from_content(&head).ok_or_else(|| TraceError::new(&name, cannot_tell))?;
            r = Box::new(Cursor::new(head).chain(r));
            f
        }
    };
    open_stream(name, r, format, opts)
}

/// A reader of `format` over an already-decompressed stream.
fn open_stream(
    name: String,
    r: Box<dyn Read + Send>,
    format: TraceFormat,
    opts: &TraceOptions,
) -> Result<Box<dyn TraceSource>, TraceError> {
    Ok(match format {
        TraceFormat::Lackey => Box::new(lackey::reader(name, r, opts)),
        TraceFormat::Text => Box::new(text::reader(name, r, opts)),
        TraceFormat::ChampSim => Box::new(champsim::ChampSimReader::new(name, r, opts)),
        TraceFormat::Binary => Box::new(binary::BinaryReader::new(name, r)?),
        TraceFormat::Refs => Box::new(RefsReader::new(&name, r, opts)?),
        TraceFormat::Auto => unreachable!("resolved by the caller"),
    })
}

/// A page reference string file: `(1 2 3)x20 4, 5` as in a workload's `refs`, plus
/// `#` comments. Read whole (reference strings are small, and the `(...)xN` groups
/// need the whole text), expanded by [`RefList::parse`] (at most
/// [`crate::workload::MAX_REFS`] references).
struct RefsReader {
    pages: Vec<u64>,
    shift: u32,
    next: usize,
}

/// Largest `.refs` file read (its expansion is bounded separately).
const MAX_REFS_FILE: u64 = 64 << 20;

impl RefsReader {
    fn new(name: &str, r: Box<dyn Read + Send>, opts: &TraceOptions) -> Result<Self, TraceError> {
        let mut bytes = Vec::new();
        r.take(MAX_REFS_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| TraceError::io(name, &e))?;
        if bytes.len() as u64 > MAX_REFS_FILE {
            return Err(TraceError::new(
                name,
                format!("reference string file larger than {MAX_REFS_FILE} bytes"),
            ));
        }
        // Blank out comments in place so that byte positions (hence line numbers)
        // in the parser's messages still match the file.
        let mut in_comment = false;
        for b in bytes.iter_mut() {
            match *b {
                b'\n' => in_comment = false,
                b'#' => in_comment = true,
                _ => {}
            }
            if in_comment {
                *b = b' ';
            }
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = line_of(&bytes, e.valid_up_to());
            TraceError::at_line(name, line, "not UTF-8 text")
        })?;
        let list = RefList::parse(text).map_err(|msg| {
            // The parser reports "... at position N": turn N into a line number.
            match position_in(&msg) {
                Some(p) => TraceError::at_line(name, line_of(&bytes, p), msg),
                None => TraceError::new(name, msg),
            }
        })?;
        let shift = opts.page_size.trailing_zeros();
        if let Some(&max) = list.0.iter().max() {
            if max.checked_mul(opts.page_size).is_none() {
                let msg = format!(
                    "page {max} x page size {} does not fit in 64 bits",
                    opts.page_size
                );
                // The line of the first number that is that page (`007` is page 7).
                let mut at = None;
                let mut i = 0;
                while i < bytes.len() && at.is_none() {
                    let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let n = std::str::from_utf8(&bytes[i..i + run]).ok();
                    if n.and_then(|n| n.parse::<u64>().ok()) == Some(max) {
                        at = Some(i);
                    }
                    i += run.max(1);
                }
                return Err(match at {
                    Some(i) => TraceError::at_line(name, line_of(&bytes, i), msg),
                    None => TraceError::new(name, msg),
                });
            }
        }
        Ok(RefsReader {
            pages: list.0,
            shift,
            next: 0,
        })
    }
}

/// The 1-based line holding byte `pos` of `bytes`.
fn line_of(bytes: &[u8], pos: usize) -> u64 {
    1 + bytes[..pos.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// `N` from a message containing `position N`.
fn position_in(msg: &str) -> Option<usize> {
    let rest = &msg[msg.find("position ")? + "position ".len()..];
    let digits: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())];
    digits.parse().ok()
}

impl TraceSource for RefsReader {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        let end = self.pages.len().min(self.next.saturating_add(max));
        let shift = self.shift;
        buf.extend(self.pages[self.next..end].iter().map(|&p| Access {
            vaddr: p << shift,
            kind: crate::addr::AccessKind::Load,
            instrs: 1,
        }));
        self.next = end;
        Ok(())
    }

    fn tally(&self) -> Tally {
        Tally {
            records: self.next as u64,
            crossings: 0,
        }
    }

    fn wording(&self) -> Wording {
        Wording {
            records: "page numbers",
            accesses: "one per page number",
        }
    }
}

/// Ends a trace that has not a single access with an error at its first batch: an
/// empty trace would otherwise "run" with all-zero statistics (`run`, `analyze`,
/// `trace stats`, `trace convert` and workloads all read traces through this). One
/// branch per batch.
struct NonEmpty<T> {
    inner: T,
    name: String,
    fetches: bool,
    seen: bool,
}

impl<T: TraceSource> TraceSource for NonEmpty<T> {
    fn next_batch(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), TraceError> {
        let before = buf.len();
        self.inner.next_batch(buf, max)?;
        if !self.seen && max > 0 {
            if buf.len() == before {
                let records = self.inner.tally().records;
                let why = if records > 0 && !self.fetches {
                    let (n, are) = match records {
                        1 => ("its record".to_string(), "is an instruction fetch"),
                        n => (format!("all {n} records"), "are instruction fetches"),
                    };
                    format!(" ({n} {are}, left out without fetches: --no-fetches, fetches = false)")
                } else {
                    String::new()
                };
                return Err(TraceError::new(
                    &self.name,
                    format!("trace has no accesses{why}"),
                ));
            }
            self.seen = true;
        }
        Ok(())
    }

    fn take_events(&mut self, out: &mut Vec<(u64, crate::workload::OsEvent)>) {
        self.inner.take_events(out)
    }

    fn tally(&self) -> Tally {
        self.inner.tally()
    }

    fn wording(&self) -> Wording {
        self.inner.wording()
    }
}

/// What [`convert`] writes, decided by the output's name.
enum OutKind {
    Binary,
    Text,
}

/// Converts any readable trace to `.mmt` (binary) or `.txt` (text), each optionally
/// `.gz`/`.xz`/`.zst`, as the output's name says; a name without a suffix is written as
/// `.mmt.zst` ([`output_name`]). The output is written to a temporary file in the same
/// folder and renamed into place once complete, so a failed conversion never leaves a
/// partial trace under the final name. Returns the number of accesses.
pub fn convert(input: &Path, in_opts: &TraceOptions, output: &Path) -> Result<u64, TraceError> {
    let output = &output_name(output);
    let out_name = display_name(output);
    let file_name = output
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| TraceError::new(&out_name, "output needs a file name"))?;
    // The name decides the format, exactly as a reader will decide it when the file
    // is read back: `t.lackey.txt` ends in `.txt` but reads as lackey, so it is refused.
    let kind = match format_from_name(output) {
        Some(TraceFormat::Binary) => OutKind::Binary,
        Some(TraceFormat::Text) => OutKind::Text,
        other => {
            let says = match other {
                Some(f) => format!("; `{file_name}` would be read back as {f}"),
                None => String::new(),
            };
            return Err(TraceError::new(
                &out_name,
                format!(
                    "output must be named .mmt or .txt (optionally followed by .gz, .xz or .zst), or have no suffix (then .mmt.zst){says}"
                ),
            ));
        }
    };
    let mut src = open_trace(input, in_opts)?;
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let werr = |e: io::Error| TraceError::new(&out_name, format!("cannot write: {e}"));
    let result = (|| -> Result<u64, TraceError> {
        let file = File::create(&tmp).map_err(werr)?;
        let mut buf = Vec::with_capacity(4096);
        let mut n = 0u64;
        let file = match kind {
            OutKind::Binary => {
                let mut w =
                    BinaryFileWriter::from_file(file, output, in_opts.page_size).map_err(werr)?;
                loop {
                    buf.clear();
                    src.next_batch(&mut buf, 4096)?;
                    if buf.is_empty() {
                        break;
                    }
                    w.write_all_accesses(&buf).map_err(werr)?;
                    n += buf.len() as u64;
                }
                w.finish().map_err(werr)?
            }
            OutKind::Text => {
                let sink = compress::Sink::new(file, output).map_err(werr)?;
                let mut w = TextWriter::new(sink).map_err(werr)?;
                loop {
                    buf.clear();
                    src.next_batch(&mut buf, 4096)?;
                    if buf.is_empty() {
                        break;
                    }
                    for a in &buf {
                        w.write(a).map_err(werr)?;
                    }
                    n += buf.len() as u64;
                }
                w.finish().map_err(werr)?.finish().map_err(werr)?
            }
        };
        file.sync_all().map_err(werr)?;
        Ok(n)
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, output).map_err(werr)?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod robust_tests;
#[cfg(test)]
mod tests;
