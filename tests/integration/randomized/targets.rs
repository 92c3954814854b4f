//! The parsers under test, each through the library function the command line uses, with
//! its error contract: configs, workloads and `--set` give `FILE:LINE: key.path: why` (a
//! line or a key path, or both); reference strings a position; text traces `FILE:LINE:`;
//! binary traces `FILE: byte N:`; sweep specs and stores name their file.

use super::gen::{hostile_tokens, hostile_values, Shape};
use super::{never, seeds, Outcome, Target, CPU_LIMIT};
use mmusim::config::SystemConfig;
use mmusim::loader::{load, ConfigError, ConfigSource};
use mmusim::run::{load_inputs, load_system};
use mmusim::trace::{open_reader, TraceFormat, TraceOptions};
use mmusim::workload::{RefList, WorkloadSpec, MAX_REFS};
use std::io::{Cursor, Write};
use std::path::Path;
use std::time::Duration;

const TOML_ALPHABET: &[u8] = b"abcdefgikmnoprstuwxyz_0123456789 =.[]{}\"',#\n-+";

fn lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count() + 1
}

/// A loader error must name where: the file (one of `files`, a preset, or the `--set`
/// assignment) and a line of it or a key path.
fn config_error(e: &ConfigError, files: &[&str], text: &[u8]) -> Result<(), String> {
    // A file reached through `extends` (any path the input names, read from disk) is
    // named with the file and line that extend it.
    let extended = files
        .iter()
        .find(|f| e.msg.contains(&format!("(extended at {f}:")));
    let known = files.contains(&e.file.as_str())
        || e.file.starts_with("<preset ")
        || e.file.starts_with("--set ")
        || extended.is_some();
    if !known {
        return Err(format!("error names an unexpected file: {e}"));
    }
    // An assignment is its own location; a missing key at the top names itself.
    let names_key = e.file.starts_with("--set ") || e.msg.starts_with("missing field `");
    if e.line.is_none() && e.path.is_empty() && !names_key && extended.is_none() {
        return Err(format!("error names neither a line nor a key path: {e}"));
    }
    if let Some(l) = e.line {
        // Through `extends` the file on disk may be another input than `text` (the
        // in-memory path writes it only now and then): its lines are not `text`'s.
        if l == 0 || (e.file == files[0] && extended.is_none() && l > lines(text)) {
            return Err(format!("line {l} is not in the input: {e}"));
        }
    }
    Ok(())
}

fn config_errors(es: &[ConfigError], files: &[&str], text: &[u8]) -> Result<Outcome, String> {
    if es.is_empty() {
        return Ok(Outcome::Accepted);
    }
    for e in es {
        config_error(e, files, text)?;
    }
    Ok(Outcome::Refused)
}

fn validated(
    cfg: &SystemConfig,
    src: &ConfigSource,
    files: &[&str],
    text: &[u8],
) -> Result<Outcome, String> {
    let errs: Vec<ConfigError> = (cfg.validate().into_iter())
        .map(|(p, m)| src.error_at(&p, m))
        .collect();
    config_errors(&errs, files, text)
}

const TINY_WORKLOAD: &str =
    "accesses = 2000\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// System configs (TOML with `extends`): `run::load_system` and `validate`, as `run`
/// and `show` do; input that is not UTF-8 and every 16th accepted config go through
/// `load_inputs` from a file, with a small workload (reading, the checks that need both).
pub fn system_config() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    let sys = path_str(&dir.path().join("sys.toml"));
    let base = path_str(&dir.path().join("base.toml"));
    let lp = path_str(&dir.path().join("loop.toml"));
    let wl = path_str(&dir.path().join("w.toml"));
    std::fs::write(&base, seeds::PRESETS[4]).unwrap();
    std::fs::write(&lp, "extends = \"sys.toml\"\n").unwrap();
    std::fs::write(&wl, TINY_WORKLOAD).unwrap();
    let mut accepted = 0usize;
    Target {
        name: "system_config",
        shape: Shape::Toml,
        seeds: seeds::system_configs(),
        values: hostile_values(),
        tokens: hostile_tokens(),
        alphabet: TOML_ALPHABET.to_vec(),
        avoid: never,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| {
            let _keep = &dir;
            let files = [sys.as_str(), base.as_str(), lp.as_str(), wl.as_str()];
            let through_file = |bytes: &[u8]| {
                std::fs::write(&sys, bytes).unwrap();
                match load_inputs(Some(&sys), Some(&wl), &[]) {
                    Ok(_) => Ok(Outcome::Accepted),
                    Err(es) => config_errors(&es, &files, bytes),
                }
            };
            let Ok(text) = std::str::from_utf8(bytes) else {
                return through_file(bytes);
            };
            let out = match load_system(&sys, text, &[]) {
                Err(e) => return config_errors(&[e], &files, bytes),
                Ok((cfg, src)) => validated(&cfg, &src, &files, bytes)?,
            };
            if out == Outcome::Accepted {
                accepted += 1;
                if accepted % 16 == 0 {
                    return through_file(bytes);
                }
            }
            Ok(out)
        }),
    }
}

/// Workload files: `loader::load::<WorkloadSpec>` and `validate`; input that is not
/// UTF-8 and every 8th accepted workload through `load_inputs` from a file (the checks
/// against the system, the trace a workload names: a small text trace `t.txt` is there).
pub fn workload() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    let wl = path_str(&dir.path().join("w.toml"));
    std::fs::write(dir.path().join("t.txt"), "R 0x1000\nW 0x2000\nF 0x400000\n").unwrap();
    let mut accepted = 0usize;
    Target {
        name: "workload",
        shape: Shape::Toml,
        seeds: seeds::workloads(),
        values: hostile_values(),
        tokens: hostile_tokens(),
        alphabet: TOML_ALPHABET.to_vec(),
        avoid: refs_costly,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| {
            let _keep = &dir;
            let files = [wl.as_str()];
            let through_file = |bytes: &[u8]| {
                std::fs::write(&wl, bytes).unwrap();
                match load_inputs(Some("skylake"), Some(&wl), &[]) {
                    Ok(_) => Ok(Outcome::Accepted),
                    Err(es) => config_errors(&es, &files, bytes),
                }
            };
            let Ok(text) = std::str::from_utf8(bytes) else {
                return through_file(bytes);
            };
            let out = match load::<WorkloadSpec>(&wl, text, &[]) {
                Err(e) => return config_errors(&[e], &files, bytes),
                Ok((w, src)) => {
                    let errs: Vec<ConfigError> = (w.validate().into_iter())
                        .map(|(p, m)| src.error_at(&p, m))
                        .collect();
                    config_errors(&errs, &files, bytes)?
                }
            };
            if out == Outcome::Accepted {
                accepted += 1;
                if accepted % 8 == 0 {
                    return through_file(bytes);
                }
            }
            Ok(out)
        }),
    }
}

/// `--set key.path=value` on the skylake preset and the default workload, as `run`
/// applies them (`workload.` keys to the workload): `ConfigSource::apply_override`, the
/// decode and `validate` on parsed copies; every 64th through `load_inputs` itself.
pub fn set_assignments() -> Target {
    let mut sys = ConfigSource::parse("<preset skylake>", seeds::PRESETS[0]).unwrap();
    sys.set_roles(mmusim::config::TLB_ROLES);
    let wl = ConfigSource::parse("<default workload>", seeds::WORKLOADS[0]).unwrap();
    let mut work = sys.clone();
    let mut k = 0usize;
    Target {
        name: "set_assignments",
        shape: Shape::Assign,
        seeds: seeds::assignments(),
        values: hostile_values(),
        tokens: hostile_tokens(),
        alphabet: b"abcdefgiklmnoprstuwxyz_.[]0123456789=\"{}, ".to_vec(),
        avoid: refs_costly,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| {
            // Arguments reach `--set` as UTF-8 (clap refuses anything else).
            let a = String::from_utf8_lossy(bytes).into_owned();
            let files = ["<preset skylake>", "<default workload>"];
            let sky = seeds::PRESETS[0].as_bytes();
            k += 1;
            if k % 64 == 0 {
                return match load_inputs(Some("skylake"), None, std::slice::from_ref(&a)) {
                    Ok(_) => Ok(Outcome::Accepted),
                    Err(es) => config_errors(&es, &files, sky),
                };
            }
            if let Some(w) = a.strip_prefix("workload.") {
                let (files, text) = (["<default workload>"], seeds::WORKLOADS[0].as_bytes());
                let mut src = wl.clone();
                if let Err(e) = src.apply_override(w) {
                    return config_errors(&[e], &files, text);
                }
                match src.decode::<WorkloadSpec>() {
                    Err(e) => config_errors(&[e], &files, text),
                    Ok(w) => {
                        let errs: Vec<ConfigError> = (w.validate().into_iter())
                            .map(|(p, m)| src.error_at(&p, m))
                            .collect();
                        config_errors(&errs, &files, text)
                    }
                }
            } else {
                // A refused assignment leaves the tree as it was (its contract), so the
                // copy is renewed only after one that applies: most are refused, and a
                // copy costs ~50 us.
                if let Err(e) = work.apply_override(&a) {
                    return config_errors(&[e], &files, sky);
                }
                let out = match work.decode::<SystemConfig>() {
                    Err(e) => config_errors(&[e], &files, sky),
                    Ok(cfg) => validated(&cfg, &work, &files, sky),
                };
                work = sys.clone();
                out
            }
        }),
    }
}

/// Strings whose expansion could pass 2^20 references (the product of every repetition
/// count times the numbers written): valid, but expanding them
/// takes time linear in their length (~100 ns a reference in a debug build), more
/// than the test's budget; long local campaigns (`MMUSIM_FUZZ_COSTLY=1`) keep them.
fn refs_costly(s: &[u8]) -> bool {
    if std::env::var_os("MMUSIM_FUZZ_COSTLY").is_some() {
        return false;
    }
    let (mut product, mut numbers, mut i) = (1u64, 1u64, 0);
    while i < s.len() {
        let run = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run > 0 {
            let n = std::str::from_utf8(&s[i..i + run])
                .ok()
                .and_then(|d| d.parse::<u64>().ok());
            let after_x = s[..i].iter().rev().find(|b| !b.is_ascii_whitespace());
            if matches!(after_x, Some(b'x' | b'X' | b'*')) {
                product = product.saturating_mul(n.unwrap_or(u64::MAX).max(1));
            } else {
                numbers += 1;
            }
        }
        i += run.max(1);
    }
    product.saturating_mul(numbers) > 1 << 20
}

/// Reference strings: `RefList::parse` (a workload's `refs`, `analyze --refs`) and the
/// `.refs` trace reader (comments, lines). Errors give a position (or line in a file).
pub fn refs() -> Target {
    let mut tokens = hostile_tokens();
    tokens.extend(
        [
            "x",
            "x0",
            "x1",
            "x16777217",
            "*",
            " ( ",
            " ) ",
            "(1)",
            "(1 2)x3",
        ]
        .map(|s| s.as_bytes().to_vec()),
    );
    Target {
        name: "reference_strings",
        shape: Shape::Lines,
        seeds: seeds::refs(),
        values: hostile_values(),
        tokens,
        alphabet: b"0123456789 ,()xX*#\n".to_vec(),
        avoid: refs_costly,
        // Valid strings expand to up to 2^24 references, in time linear in their number
        // (checked below, per reference): the flat limit is for the rest.
        cpu_limit: Duration::from_secs(5),
        check: Box::new(|bytes| {
            let t0 = super::cpu_time();
            let text = String::from_utf8_lossy(bytes);
            let uncommented: String = (text.lines())
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            match RefList::parse(&uncommented) {
                Ok(l) if l.0.len() > MAX_REFS => {
                    return Err(format!("{} references, above MAX_REFS", l.0.len()))
                }
                Ok(l) => {
                    let spent = super::cpu_time() - t0;
                    let allowed = CPU_LIMIT + Duration::from_nanos(150) * l.0.len() as u32;
                    if spent > allowed {
                        return Err(format!(
                            "{} references took {spent:?} of CPU (allowed {allowed:?})",
                            l.0.len()
                        ));
                    }
                }
                Err(m) => {
                    let pos = m
                        .split("position ")
                        .nth(1)
                        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|d| d.parse::<usize>().ok());
                    let whole = m.contains("more than 16777216 references");
                    match pos {
                        Some(p) if p > uncommented.len() => {
                            return Err(format!("position {p} is past the end: {m}"))
                        }
                        None if !whole => return Err(format!("no position: {m}")),
                        _ => {}
                    }
                }
            }
            trace_check("fuzz.refs", bytes, TraceFormat::Refs, u64::MAX)
        }),
    }
}

/// Reads a whole trace from memory; checks where its error points and how many
/// accesses it made of how many bytes (`per_byte_max` bounds the expansion).
fn trace_check(
    name: &str,
    bytes: &[u8],
    format: TraceFormat,
    per_byte_max: u64,
) -> Result<Outcome, String> {
    // The options vary with the input (deterministically).
    let h = bytes
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
    // Every 8th input goes through gzip, as `.gz` files are read.
    let data = if h % 8 == 1 && bytes.len() < 4096 {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    } else {
        bytes.to_vec()
    };
    let compressed = data.starts_with(b"\x1f\x8b")
        || data.starts_with(b"\xfd7zXZ")
        || data.starts_with(b"\x28\xb5\x2f\xfd");
    let located = |msg: &str| -> Result<Outcome, String> {
        let Some(rest) = msg.strip_prefix(name) else {
            return Err(format!("error does not start with the file name: {msg}"));
        };
        let line = rest
            .strip_prefix(':')
            .and_then(|r| r.split(':').next())
            .and_then(|d| d.parse::<usize>().ok());
        // `FILE: byte N: ...` or a message about the record `at byte N`.
        let byte = rest
            .split("byte ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<u64>().ok());
        match (line, byte) {
            // Lines and offsets of a compressed input count decompressed text.
            (Some(l), _) if l == 0 || (l > lines(bytes) && !compressed) => {
                Err(format!("line {l} is not in the input: {msg}"))
            }
            // Offsets count decompressed bytes.
            (_, Some(b)) if b > bytes.len() as u64 && !compressed => {
                Err(format!("byte {b} is past the end: {msg}"))
            }
            (Some(_), _) | (_, Some(_)) => Ok(Outcome::Refused),
            // Whole-file problems: the format, the compression, the header.
            _ if rest.contains("cannot tell the trace format")
                || rest.contains("gzip")
                || rest.contains("xz")
                || rest.contains("zstd")
                || rest.contains("no accesses")
                || rest.contains("references") =>
            {
                Ok(Outcome::Refused)
            }
            _ => Err(format!("error names no line or byte offset: {msg}")),
        }
    };
    let mut src = match open_reader(name, Box::new(Cursor::new(data)), &opts) {
        Ok(s) => s,
        Err(e) => return located(&e.to_string()),
    };
    let (mut buf, mut events, mut n) = (Vec::new(), Vec::new(), 0u64);
    loop {
        buf.clear();
        if let Err(e) = src.fill(&mut buf, 4096) {
            return located(&e.msg);
        }
        src.take_events(&mut events);
        if buf.is_empty() {
            break;
        }
        n += buf.len() as u64;
        // (With `Auto`, the content may read as a reference string, whose groups expand.)
        let bound = (bytes.len() as u64 + 1).saturating_mul(per_byte_max);
        if opts.format != TraceFormat::Auto && n > bound {
            return Err(format!("{n} accesses from {} bytes", bytes.len()));
        }
    }
    Ok(Outcome::Accepted)
}

fn trace_target(
    name: &'static str,
    file: &'static str,
    format: TraceFormat,
    shape: Shape,
    seeds: Vec<Vec<u8>>,
    tokens: &[&str],
    per_byte_max: u64,
) -> Target {
    let mut seeds = seeds;
    // Compressed seeds: mutations then corrupt the compressed stream itself.
    if let Some(s) = seeds.first().cloned() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&s).unwrap();
        seeds.push(e.finish().unwrap());
        let mut x = liblzma::write::XzEncoder::new(Vec::new(), 0);
        x.write_all(&s).unwrap();
        seeds.push(x.finish().unwrap());
        seeds.push(zstd::encode_all(&s[..], 1).unwrap());
    }
    let mut toks = hostile_tokens();
    toks.extend(tokens.iter().map(|t| t.as_bytes().to_vec()));
    Target {
        name,
        shape,
        seeds,
        values: hostile_values(),
        tokens: toks,
        alphabet: b"0123456789abcdefx ,\nILSMRWF=i".to_vec(),
        avoid: never,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| trace_check(file, bytes, format, per_byte_max)),
    }
}

pub fn lackey() -> Target {
    trace_target(
        "lackey_traces",
        "fuzz.lackey",
        TraceFormat::Lackey,
        Shape::Lines,
        seeds::lackey(),
        &[
            "I  ",
            " L ",
            " S ",
            " M ",
            "==1== ",
            ",0",
            ",4096",
            ",8",
            "ffffffffffffffff",
        ],
        // A line is at least 4 bytes and makes at most 4 accesses (M, split).
        2,
    )
}

pub fn text() -> Target {
    trace_target(
        "text_traces",
        "fuzz.txt",
        TraceFormat::Text,
        Shape::Lines,
        seeds::text(),
        &[
            "R ",
            "W ",
            "F ",
            "i=",
            "i=4294967296",
            "munmap ",
            "mmap ",
            "fork",
            "exit",
            "populate",
            "0x",
        ],
        2,
    )
}

pub fn champsim() -> Target {
    trace_target(
        "champsim_traces",
        "fuzz.champsim",
        TraceFormat::ChampSim,
        Shape::Records {
            header: 0,
            record: 64,
        },
        seeds::champsim(),
        &[],
        1,
    )
}

pub fn mmt() -> Target {
    trace_target(
        "mmt_traces",
        "fuzz.mmt",
        TraceFormat::Binary,
        Shape::Records {
            header: 32,
            record: 16,
        },
        seeds::mmt(),
        &["MMUTRACE"],
        1,
    )
}

/// Sweep specs: `sweep::parse_spec` (decoding, axes, points, plots, baseline); every
/// 32nd accepted spec of at most 8 runs is planned in full (`sweep::plan`: every run's
/// inputs loaded) from a file beside a small workload `w.toml`.
pub fn sweep_spec() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = path_str(&dir.path().join("spec.toml"));
    std::fs::write(dir.path().join("w.toml"), TINY_WORKLOAD).unwrap();
    let mut accepted = 0usize;
    Target {
        name: "sweep_specs",
        shape: Shape::Toml,
        seeds: seeds::sweep_specs(),
        values: hostile_values(),
        tokens: hostile_tokens(),
        alphabet: TOML_ALPHABET.to_vec(),
        avoid: never,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| {
            let _keep = &dir;
            let named = |es: Vec<String>| {
                for e in &es {
                    // `plan` names the point and workload of a run it cannot load.
                    if !e.starts_with(&spec) && !e.starts_with("point") {
                        return Err(format!("error does not name the spec: {e}"));
                    }
                }
                Ok(Outcome::Refused)
            };
            let text = String::from_utf8_lossy(bytes);
            match mmusim::sweep::parse_spec(&spec, &text) {
                Err(es) => named(es),
                Ok((s, _, pts)) => {
                    accepted += 1;
                    if accepted % 32 == 0 && pts.len() * s.workload.len() <= 8 {
                        std::fs::write(&spec, bytes).unwrap();
                        return match mmusim::sweep::plan(Path::new(&spec), 1) {
                            Ok(_) => Ok(Outcome::Accepted),
                            Err(es) => named(es),
                        };
                    }
                    Ok(Outcome::Accepted)
                }
            }
        }),
    }
}

/// Sweep stores (`results.jsonl`): `sweep::read_store`, and on every 64th store that
/// holds finished runs `sweep::report::report` (which writes the report beside it).
pub fn sweep_store() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("results.jsonl");
    let mut k = 0usize;
    Target {
        name: "sweep_stores",
        shape: Shape::Lines,
        seeds: seeds::sweep_stores(),
        values: hostile_values(),
        tokens: hostile_tokens(),
        alphabet: b"{}[]\":,0123456789abcdefinrstu\n".to_vec(),
        avoid: never,
        cpu_limit: CPU_LIMIT,
        check: Box::new(move |bytes| {
            std::fs::write(&store, bytes).unwrap();
            let shown = store.display().to_string();
            let recs = match mmusim::sweep::read_store(dir.path()) {
                Ok(r) => r,
                Err(e) if e.contains(&shown) => return Ok(Outcome::Refused),
                Err(e) => return Err(format!("error does not name the store: {e}")),
            };
            k += 1;
            let finished = recs.iter().any(|r| r.total.is_some());
            if finished && k % 64 == 0 {
                if let Err(e) = mmusim::sweep::report::report(dir.path(), None) {
                    // Refused: the message names the sweep's folder (or its store).
                    let folder = dir.path().display().to_string();
                    if !e.contains(&folder) {
                        return Err(format!("report error does not name the sweep: {e}"));
                    }
                    return Ok(Outcome::Refused);
                }
            }
            Ok(Outcome::Accepted)
        }),
    }
}
