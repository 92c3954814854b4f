//! What the fuzz targets share: a scratch folder for the parsers that read other files
//! (`extends`, a workload's trace, a sweep's workloads and store), and the checks of each
//! parser's error contract. A contract broken is a panic, which libFuzzer reports as a
//! crash with the input; a refusal that names its place is not a finding.
//!
//! The same parsers and contracts run in CI, bounded, in
//! `tests/integration/randomized/` (keep the two in step).

use mmusim::loader::ConfigError;
use mmusim::trace::{open_reader, TraceFormat, TraceOptions};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const TINY_WORKLOAD: &str =
    "accesses = 2000\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";

/// A folder per process holding `base.toml` (a config over the skylake preset),
/// `loop.toml` (extends `sys.toml`: a cycle), `w.toml` (a small workload) and `t.txt`
/// (a small text trace).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let put = |n: &str, t: &str| std::fs::write(d.path().join(n), t).expect("write");
        put("base.toml", "extends = \"skylake\"\n[sim]\ncores = 2\n");
        put("loop.toml", "extends = \"sys.toml\"\n");
        put("w.toml", TINY_WORKLOAD);
        put("t.txt", "R 0x1000\nW 0x2000\nF 0x400000\n");
        d
    })
    .path()
}

pub fn scratch_file(name: &str) -> PathBuf {
    scratch().join(name)
}

/// A loader error names a file (the input, one it extends, a preset or the `--set`
/// assignment) and a line of it or a key path.
pub fn check_config_error(e: &ConfigError) {
    // A file reached through `extends` is named with the file and line that extend it.
    let names_key = e.file.starts_with("--set ")
        || e.msg.starts_with("missing field `")
        || e.msg.contains("(extended at ");
    assert!(!e.file.is_empty(), "no file: {e}");
    assert!(
        e.line.is_some() || !e.path.is_empty() || names_key,
        "error names neither a line nor a key path: {e}"
    );
    assert_ne!(e.line, Some(0), "line 0: {e}");
}

/// Reads a whole trace of `format` from `data` (plain, gzip or xz); an error must start
/// with the file's name and give a line (`name:N:`) or a byte offset (`byte N`), unless
/// it is about the whole file.
pub fn read_trace(name: &str, data: &[u8], format: TraceFormat) {
    let h = data
        .iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let opts = TraceOptions {
        format: if h % 7 == 0 {
            TraceFormat::Auto
        } else {
            format
        },
        fetches: h % 3 != 0,
        page_size: if h % 5 == 0 { 2 << 20 } else { 4096 },
    };
    let check = |msg: &str| {
        let rest = msg
            .strip_prefix(name)
            .unwrap_or_else(|| panic!("error does not start with the file name: {msg}"));
        let line = rest.strip_prefix(':').and_then(|r| r.split(':').next());
        let located =
            line.is_some_and(|l| l.parse::<u64>().is_ok_and(|l| l > 0)) || rest.contains("byte ");
        let whole = [
            "cannot tell the trace format",
            "gzip",
            "xz",
            "no accesses",
            "references",
        ]
        .iter()
        .any(|w| rest.contains(w));
        assert!(
            located || whole,
            "error names no line or byte offset: {msg}"
        );
    };
    let mut src = match open_reader(name, Box::new(Cursor::new(data.to_vec())), &opts) {
        Ok(s) => s,
        Err(e) => return check(&e.to_string()),
    };
    let (mut buf, mut events, mut n) = (Vec::new(), Vec::new(), 0usize);
    loop {
        buf.clear();
        if let Err(e) = src.fill(&mut buf, 4096) {
            return check(&e.msg);
        }
        src.take_events(&mut events);
        if buf.is_empty() {
            return;
        }
        n += buf.len();
        // Refs groups expand (and `Auto` may read the bytes as refs); every other format
        // makes at most 4 accesses a byte.
        assert!(
            opts.format == TraceFormat::Auto
                || format == TraceFormat::Refs
                || n <= 4 * (data.len() + 1),
            "{n} accesses from {} bytes",
            data.len()
        );
    }
}
