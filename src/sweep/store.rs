//! A sweep's result store, `DIR/results.jsonl`, one JSON record per line.
//!
//! Owns reading it (line by line, as bytes: a torn last line, left by a kill
//! mid-write, is skipped even when it ends inside a multi-byte character; any other
//! line that is not a record is an error naming the store and the line), the rule for
//! a store holding a run more than once (a finished record supersedes a failure, then
//! the first record stands), the check that a store holds one sweep, the advisory lock
//! (`flock`) a `sweep run` or `sweep merge` holds on the folder while it writes (a
//! second one is refused, so two identical sweeps cannot both run every point), and
//! the rewrites under that lock: ending the store with a newline (a torn last line
//! cut, a complete one given its newline), dropping failed runs for `--retry-failed`.

use super::Record;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The store of the sweep in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("results.jsonl")
}

/// What a store holds.
pub struct Read {
    /// The records, in order, with their line numbers (from 1).
    pub records: Vec<(usize, Record)>,
    /// The length of the store without its torn last line, when it has one.
    pub torn_at: Option<u64>,
    /// The last line is a record without its newline (killed between the two, or
    /// edited): the next record appended must not stick onto it.
    pub unterminated: bool,
}

/// Reads `dir`'s store: each line a record (empty lines are skipped), except a last
/// line without its newline that is not one (a torn write), which is left out.
pub fn read(dir: &Path) -> Result<Read, String> {
    let p = path(dir);
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut records = Vec::new();
    let mut torn_at = None;
    let mut unterminated = false;
    let mut start = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let end = start + line.len();
        let last = end == bytes.len();
        let from = start;
        start = end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec = std::str::from_utf8(line)
            .map_err(|e| format!("not valid UTF-8 ({e})"))
            .and_then(|l| {
                serde_json::from_str::<Record>(l).map_err(|e| format!("not a record ({e})"))
            });
        match rec {
            Ok(r) => {
                unterminated = last;
                records.push((i + 1, r))
            }
            // No newline after it: the write was cut short.
            Err(_) if last => torn_at = Some(from as u64),
            Err(e) => {
                return Err(format!(
                    "{}:{}: {e}; only a torn last line is skipped: remove or repair this one",
                    p.display(),
                    i + 1
                ))
            }
        }
    }
    Ok(Read {
        records,
        torn_at,
        unterminated,
    })
}

/// Refuses a store holding runs of more than one sweep, or (given `this`, the sweep
/// about to run into it) runs of another sweep, naming the store, the line where the
/// other sweep's runs begin and both sweeps.
pub fn one_sweep(
    dir: &Path,
    records: &[(usize, Record)],
    this: Option<&str>,
) -> Result<(), String> {
    let Some(first) = this.or(records.first().map(|(_, r)| r.sweep.as_str())) else {
        return Ok(());
    };
    let Some((line, other)) = records.iter().find(|(_, r)| r.sweep != first) else {
        return Ok(());
    };
    let what = match this {
        Some(_) => format!(
            "runs of another sweep (id {}, this one {first})",
            other.sweep
        ),
        None => format!(
            "runs of two sweeps (ids {first} and {}, the second from this line)",
            other.sweep
        ),
    };
    Err(format!(
        "{}:{line}: holds {what}: give each sweep its own folder (another --out)",
        path(dir).display()
    ))
}

/// Each run once, in the order of their first records: a finished record supersedes
/// a failure (a retried run), otherwise the first stands (two sweeps that ran at once
/// before the lock wrote every run twice, identically).
pub fn unique(records: Vec<Record>) -> Vec<Record> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Record> = Vec::new();
    for r in records {
        match at.get(&r.id) {
            Some(&i) => {
                if out[i].total.is_none() && r.total.is_some() {
                    out[i] = r;
                }
            }
            None => {
                at.insert(r.id.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// The advisory lock on a sweep's folder, held until dropped (the descriptor closes).
pub struct Lock(#[allow(dead_code)] Option<File>);

/// Takes the folder's lock without waiting; a folder another sweep holds is refused.
/// The folder itself is locked (no lock file among the results); where the file
/// system cannot lock a folder (some network file systems), the sweep goes on
/// unlocked, as before locks: a second sweep would then repeat runs, which readers
/// take once ([`unique`]).
pub fn lock(dir: &Path) -> Result<Lock, String> {
    use crate::util::{lock_folder, FolderLock};
    match lock_folder(dir, false).map_err(|e| format!("{}: {e}", dir.display()))? {
        FolderLock::Busy => Err(format!(
            "{}: another sweep holds this store (a `sweep run` or `sweep merge` writing to it is under way): wait for it to end, or give another --out",
            path(dir).display()
        )),
        FolderLock::Held(f) => Ok(Lock(Some(f))),
        FolderLock::Unsupported => Ok(Lock(None)),
    }
}

/// Removes the temporaries (`.NAME.PID.tmp`, see [`crate::report::write_atomic`]) that
/// a killed mmusim left in a sweep's folder: those whose process is gone (a live one,
/// a `sweep report` under way, keeps its own).
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = (name.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
            .filter(|&p| p > 0);
        if pid.is_some_and(|p| !crate::util::pid_alive(p)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Ends the store `read` read with a newline (under the lock), so the next record
/// starts a line of its own: a torn last line is cut off, a complete last record
/// without its newline gets one.
pub fn end_lines(dir: &Path, read: &Read) -> Result<(), String> {
    let p = path(dir);
    let io = |e: std::io::Error| format!("{}: {e}", p.display());
    if let Some(at) = read.torn_at {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(io)?;
        f.set_len(at).map_err(io)?;
        f.sync_data().map_err(io)?;
        crate::killpoint::at("sweep.truncate");
    } else if read.unterminated {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        f.sync_data().map_err(io)?;
    }
    Ok(())
}

/// Rewrites the store (atomically, under the lock) without the failed records of the
/// runs `retry` names and without a torn last line; the other lines stay as they were
/// (a complete last record given its newline: [`read`] counted it as done).
pub fn drop_failed(dir: &Path, retry: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let p = path(dir);
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut kept = Vec::with_capacity(bytes.len() + 1);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let ended = line.last() == Some(&b'\n');
        let rec = std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str::<Record>(l).ok());
        match rec {
            Some(r) if r.total.is_none() && retry(&r.id) => continue,
            // The last line, torn (or blank).
            None if !ended => continue,
            _ => {}
        }
        kept.extend_from_slice(line);
        if !ended {
            kept.push(b'\n');
        }
    }
    crate::report::write_atomic(&p, &kept).map_err(|e| format!("{}: {e}", p.display()))?;
    crate::killpoint::at("sweep.retry");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, ok: bool) -> Record {
        Record {
            sweep: "s".into(),
            id: id.into(),
            point: 0,
            workload: "w".into(),
            axes: Vec::new(),
            method: None,
            total: ok.then(|| serde_json::json!({"cycles": 1})),
            page_tables: None,
            error: (!ok).then(|| "bad".to_string()),
        }
    }

    #[test]
    fn a_finished_record_supersedes_a_failure_and_the_first_stands_otherwise() {
        let got = unique(vec![
            rec("a", false),
            rec("b", true),
            rec("a", true),
            rec("b", false),
            rec("c", false),
            rec("c", false),
        ]);
        let ids: Vec<(&str, bool)> = got
            .iter()
            .map(|r| (r.id.as_str(), r.total.is_some()))
            .collect();
        assert_eq!(ids, [("a", true), ("b", true), ("c", false)]);
    }

    #[test]
    fn lines_are_read_as_bytes_and_a_torn_last_line_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id| serde_json::to_string(&rec(id, true)).unwrap() + "\n";
        let good = format!("{}\n{}", line("a"), line("b"));
        // Torn inside a two-byte character, and a complete last line without its newline.
        for (tail, n, torn) in [(&b"{\"id\":\"\xc3"[..], 2, true), (b"", 2, false)] {
            let mut text = good.clone().into_bytes();
            text.extend_from_slice(tail);
            std::fs::write(path(dir.path()), &text).unwrap();
            let r = read(dir.path()).unwrap();
            assert_eq!(r.records.len(), n);
            assert_eq!(r.records[1].0, 3, "line numbers count the empty line");
            assert_eq!(r.torn_at, torn.then_some(good.len() as u64));
            assert!(!r.unterminated);
        }
        let mut last = good.clone();
        last.push_str(line("c").trim_end());
        std::fs::write(path(dir.path()), &last).unwrap();
        let r = read(dir.path()).unwrap();
        assert_eq!(
            (r.records.len(), r.torn_at, r.unterminated),
            (3, None, true)
        );
        std::fs::write(path(dir.path()), format!("{}x\n{}", line("a"), line("b"))).unwrap();
        let e = read(dir.path()).err().unwrap();
        assert!(e.contains("results.jsonl:2: not a record"), "{e}");
    }

    /// A complete last record without its newline is given one, by [`end_lines`] and
    /// by [`drop_failed`] (which keeps it unless it is a failure to retry); a torn one
    /// is cut.
    #[test]
    fn the_store_is_made_to_end_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id, ok| serde_json::to_string(&rec(id, ok)).unwrap() + "\n";
        let (a, b, c) = (line("a", false), line("b", true), line("c", false));
        let open = |l: &str| l.trim_end().to_string();
        let cases = [
            // (store, runs to retry, after end_lines, after drop_failed)
            (
                format!("{a}{}", open(&b)),
                "a",
                format!("{a}{b}"),
                b.clone(),
            ),
            (
                format!("{b}{}", open(&c)),
                "a",
                format!("{b}{c}"),
                format!("{b}{c}"),
            ),
            (
                format!("{b}{}", open(&c)),
                "c",
                format!("{b}{c}"),
                b.clone(),
            ),
            (format!("{a}{b}{{\"sw"), "a", format!("{a}{b}"), b.clone()),
            (format!("{a}{b}"), "-", format!("{a}{b}"), format!("{a}{b}")),
        ];
        for (store, retry, ended, dropped) in cases {
            std::fs::write(path(dir.path()), &store).unwrap();
            drop_failed(dir.path(), &|id| id == retry).unwrap();
            let got = std::fs::read_to_string(path(dir.path())).unwrap();
            assert_eq!(got, dropped, "drop_failed of {store:?}");
            std::fs::write(path(dir.path()), &store).unwrap();
            end_lines(dir.path(), &read(dir.path()).unwrap()).unwrap();
            let got = std::fs::read_to_string(path(dir.path())).unwrap();
            assert_eq!(got, ended, "end_lines of {store:?}");
        }
    }
}
