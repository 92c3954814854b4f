//! Recording a program's memory trace: `mmusim trace record -- CMD ARGS...`.
//!
//! Runs the program under valgrind's lackey tool (`--trace-mem=yes`) with lackey's log
//! sent into a named pipe, parses the log as it streams (the lackey reader of this
//! module) and writes mmusim's `.mmt` format, compressed by the output's suffix (zstd
//! for a name without one, see [`super::output_name`]), or raw to standard output
//! (`--out -`) for `mmusim run --trace -`. Nothing the size of the trace is held in
//! memory or written to a temporary text file.
//!
//! Speed: lackey writes one line per `write` system call. Into a pipe whose reader
//! waits in `read`, each of those wakes the reader, which made recording take 2x as
//! long as lackey writing to `/dev/null`. So the pipe is enlarged to 1 MiB and the
//! reader, after a short read, naps a few milliseconds and lets lines pile up
//! ([`Batched`]): lackey's writes then land in the pipe without waking anyone.
//!
//! In: a command line, an output path, an optional access limit. Out: the trace file and
//! a [`RecordSummary`]. Linux-only (named pipes and valgrind).

use super::source::TraceSource;
use super::{BinaryFileWriter, BinaryWriter, TraceError, TraceFormat, TraceOptions};
use crate::workload::Access;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSummary {
    pub accesses: u64,
    /// Whether the access limit stopped the recording early (the program was killed).
    pub truncated: bool,
    /// The program's exit code under valgrind, when it ran to its end.
    pub exit_code: Option<i32>,
}

fn err(file: &str, msg: impl Into<String>) -> TraceError {
    TraceError {
        file: file.to_string(),
        location: None,
        msg: msg.into(),
    }
}

/// Record `cmd` (program and arguments) into `out` (`-` for standard output; a name
/// without a suffix gets `.mmt.zst`), stopping after `limit` accesses when given.
pub fn record(cmd: &[String], out: &Path, limit: Option<u64>) -> Result<RecordSummary, TraceError> {
    let out = &super::output_name(out);
    // Before valgrind runs: a wrong name is known now, not after the recording.
    super::check_mmt_name(out)?;
    let prog = cmd
        .first()
        .ok_or_else(|| err("record", "no command to record"))?;
    if Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        return Err(err(
            "valgrind",
            "valgrind is not installed (Debian: apt-get install valgrind); recording needs its lackey tool",
        ));
    }
    let dir = std::env::temp_dir().join(format!("mmusim-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir.display().to_string(), e.to_string()))?;
    let fifo = dir.join("lackey.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map_err(|e| err("mkfifo", e.to_string()))?;
    if !made.success() {
        return Err(err(
            "mkfifo",
            format!("could not create {}", fifo.display()),
        ));
    }
    let result = run(prog, cmd, &fifo, out, limit);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(
    prog: &str,
    cmd: &[String],
    fifo: &Path,
    out: &Path,
    limit: Option<u64>,
) -> Result<RecordSummary, TraceError> {
    let to_stdout = out == Path::new("-");
    let mut child = Command::new("valgrind")
        .arg("--tool=lackey")
        .arg("--trace-mem=yes")
        .arg(format!("--log-file={}", fifo.display()))
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        // The program's own output must not mix into a trace written to stdout.
        .stdout(if to_stdout {
            Stdio::from(std::io::stderr())
        } else {
            Stdio::inherit()
        })
        .spawn()
        .map_err(|e| err(prog, format!("cannot start valgrind: {e}")))?;

    let reader_fifo = fifo.to_path_buf();
    let out_path = out.to_path_buf();
    let reader = std::thread::spawn(move || convert_stream(&reader_fifo, &out_path, limit));

    // Wait for the program, or stop it once the reader has what it wants.
    let mut killed = false;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| err(prog, e.to_string()))? {
            break Some(st);
        }
        if reader.is_finished() {
            let _ = child.kill();
            killed = true;
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // If valgrind died before opening the pipe, the reader is blocked opening it (or is
    // about to be): open the write end without blocking and close it, so the reader
    // sees the end of an empty stream. The open fails (ENXIO) while no reader has the
    // pipe open yet, so it is retried until the reader has opened it or has finished: a
    // single try could come before the reader's open and leave it waiting for ever.
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000; // Linux
        while !reader.is_finished() {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(fifo);
            if opened.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let (accesses, truncated) = reader
        .join()
        .map_err(|_| err(prog, "the trace reader stopped unexpectedly"))??;
    let exit_code = status.and_then(|s| s.code());
    if accesses == 0 && !killed {
        return Err(err(
            prog,
            format!(
                "valgrind produced no trace (exit code {}); is `{prog}` a program valgrind can run?",
                exit_code.map_or("none".into(), |c| c.to_string())
            ),
        ));
    }
    Ok(RecordSummary {
        accesses,
        truncated: truncated || killed,
        exit_code: if killed { None } else { exit_code },
    })
}

/// Parse lackey output from `fifo` and write `.mmt` to `out`; returns (accesses, hit limit).
fn convert_stream(fifo: &Path, out: &Path, limit: Option<u64>) -> Result<(u64, bool), TraceError> {
    let opts = TraceOptions {
        format: TraceFormat::Lackey,
        fetches: true,
        ..Default::default()
    };
    let name = fifo.display().to_string();
    // Blocks until valgrind opens its end.
    let pipe = File::open(fifo).map_err(|e| err(&name, format!("cannot open: {e}")))?;
    let mut src = super::open_stream(
        name,
        Box::new(Batched::new(pipe)),
        TraceFormat::Lackey,
        &opts,
    )?;
    let limit = limit.unwrap_or(u64::MAX);
    let mut buf: Vec<Access> = Vec::with_capacity(4096);
    let out_name = out.display().to_string();
    let io = |e: std::io::Error| err(&out_name, e.to_string());
    let mut n = 0u64;
    let mut pump =
        |write: &mut dyn FnMut(&[Access]) -> std::io::Result<()>| -> Result<bool, TraceError> {
            loop {
                buf.clear();
                let want = (limit - n).min(4096) as usize;
                if want == 0 {
                    return Ok(true);
                }
                src.next_batch(&mut buf, want)?;
                if buf.is_empty() {
                    return Ok(false);
                }
                write(&buf).map_err(io)?;
                n += buf.len() as u64;
            }
        };
    let hit_limit = if out == Path::new("-") {
        let stdout = std::io::stdout();
        let mut w = BinaryWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, stdout.lock()),
            4096,
        )
        .map_err(io)?;
        let hit = pump(&mut |a| w.write_all_accesses(a))?;
        w.finish().map_err(io)?.flush().map_err(io)?;
        hit
    } else {
        // Written beside the target and renamed at the end: a stopped recording never
        // leaves half a trace under the final name.
        let tmp = tmp_path(out);
        let mut w = BinaryFileWriter::create(&tmp, 4096).map_err(io)?;
        let hit = match pump(&mut |a| w.write_all_accesses(a)) {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        w.finish().map_err(io)?.sync_all().map_err(io)?;
        if n == 0 {
            // Nothing recorded (valgrind failed): leave no file behind.
            let _ = std::fs::remove_file(&tmp);
            return Ok((0, false));
        }
        std::fs::rename(&tmp, out).map_err(io)?;
        hit
    };
    Ok((n, hit_limit))
}

/// Capacity asked for the pipe: 1 MiB, Linux's default `/proc/sys/fs/pipe-max-size`,
/// some 20 ms of lackey's output, so lackey never waits for the reader's naps.
const PIPE_BYTES: i32 = 1 << 20;
/// A read shorter than this means the pipe was nearly drained: nap before the next.
const SHORT_READ: usize = 128 << 10;
/// The nap: long enough for a few hundred KB of lines to pile up.
const NAP: Duration = Duration::from_millis(5);

/// The reading end of lackey's pipe, read in large batches (see the module doc).
struct Batched {
    pipe: File,
    nap: bool,
}

impl Batched {
    fn new(pipe: File) -> Batched {
        use std::os::unix::io::AsRawFd;
        // SAFETY: F_SETPIPE_SZ on a file descriptor we own; on failure (not a pipe, a
        // lower limit) the pipe keeps its size and recording is only slower.
        unsafe {
            libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
        }
        Batched { pipe, nap: false }
    }
}

impl Read for Batched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.nap {
            std::thread::sleep(NAP);
        }
        let n = self.pipe.read(buf)?;
        // At the end (0) there is nothing to wait for.
        self.nap = n > 0 && n < SHORT_READ.min(buf.len());
        Ok(n)
    }
}

/// A temporary name beside `out` that keeps its compression suffix.
fn tmp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace.mmt".into());
    out.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}
