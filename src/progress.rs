//! What a long command shows while it works, and how Ctrl-C stops it.
//!
//! Owns the progress display of every command that takes time (`run`, `study`,
//! `sweep run`, `analyze`, and any new one): a [`Progress`] counts units done (accesses
//! of a run, runs of a study or sweep) against a total, which may be unknown (a trace's
//! length), or shows the stage under way (`analyze`). How it shows them is chosen once, by [`Mode::detect`]:
//! - on a terminal, an `indicatif` bar: count, rate, elapsed, time left (a spinner with
//!   count and rate when the total is unknown);
//! - off a terminal (nohup, a batch job's log: standard error is not a terminal), a
//!   plain line every `MMUSIM_PROGRESS_SECS` seconds (default 10) and one at the end,
//!   so a log is never silent while a run goes on;
//! - with `-q`, nothing.
//!
//! Ctrl-C: [`catch_interrupts`] makes the first SIGINT set a process-wide flag
//! ([`stop_flag`]) and a second one exit at once with status 130. A run checks the
//! flag at each batch boundary (never per access) and ends with what it has, marked
//! partial; studies and sweeps stop taking runs and abandon the ones running. A
//! command that stopped so exits with [`EXIT_INTERRUPTED`].

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The environment variable that sets the seconds between plain progress lines.
pub const INTERVAL_VAR: &str = "MMUSIM_PROGRESS_SECS";

/// Seconds between plain progress lines when [`INTERVAL_VAR`] is not set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Nothing (`-q`).
    Off,
    /// An `indicatif` bar on standard error (a terminal).
    Bar,
    /// A plain line on standard error every so often, and one at the end.
    Lines(Duration),
}

impl Mode {
    /// The mode for a command: off with `quiet`, a bar when standard error is a
    /// terminal, plain lines otherwise. Errors name a bad [`INTERVAL_VAR`] (unless
    /// `quiet`: then it is not used).
    pub fn detect(quiet: bool) -> Result<Mode, String> {
        if quiet {
            return Ok(Mode::Off);
        }
        let every = interval(std::env::var(INTERVAL_VAR).ok().as_deref())?;
        Ok(if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines(every)
        })
    }
}

/// The interval of plain lines from the value of [`INTERVAL_VAR`] (unset: the default).
fn interval(var: Option<&str>) -> Result<Duration, String> {
    let Some(v) = var else {
        return Ok(DEFAULT_INTERVAL);
    };
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{INTERVAL_VAR}={v}: expected a positive number of seconds between progress lines, e.g. 10 or 0.5"
        )),
    }
}

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Simulated accesses (shown in millions per second).
    Accesses,
    /// Runs of a study, sweep or comparison.
    Runs,
    /// Nothing counted: the stage under way ([`Progress::set_message`]) and the time
    /// (`analyze`, whose curves are single passes).
    Stages,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Accesses => "accesses",
            Unit::Runs => "runs",
            Unit::Stages => "",
        }
    }
    /// `rate` units per second, readably.
    fn rate(self, rate: f64) -> String {
        format!("{} {}/s", Unit::number(self, rate), self.name())
    }
    /// The number of [`Unit::rate`] (`0.50`, `250`, `3.1 M`).
    fn number(self, rate: f64) -> String {
        match self {
            Unit::Runs => format!("{rate:.2}"),
            _ if rate >= 1e5 => format!("{:.1} M", rate / 1e6),
            _ => format!("{rate:.0}"),
        }
    }
}

/// A counter of work done against a total, shown as [`Mode`] says. Shared by the
/// threads of a study or sweep (`&self` everywhere).
pub struct Progress {
    unit: Unit,
    /// 0 while the total is unknown.
    total: AtomicU64,
    done: AtomicU64,
    start: Instant,
    /// What is under way, shown beside the count.
    message: Mutex<String>,
    out: Out,
}

enum Out {
    Off,
    Bar(ProgressBar),
    Lines {
        every: Duration,
        /// When the next line is due.
        next: Mutex<Instant>,
        /// A line was printed: the end gets one too.
        printed: AtomicBool,
    },
}

impl Progress {
    /// A counter of `unit`s out of `total` (0: unknown), shown as `mode` says.
    pub fn new(unit: Unit, total: u64, mode: Mode) -> Progress {
        let start = Instant::now();
        let out = match mode {
            Mode::Off => Out::Off,
            Mode::Bar => Out::Bar(bar(unit, total)),
            Mode::Lines(every) => Out::Lines {
                every,
                next: Mutex::new(start + every),
                printed: AtomicBool::new(false),
            },
        };
        Progress {
            unit,
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            start,
            message: Mutex::new(String::new()),
            out,
        }
    }

    /// Says what is under way (e.g. `analyze`'s current curve).
    pub fn set_message(&self, msg: &str) {
        *self.message.lock().unwrap_or_else(|e| e.into_inner()) = msg.to_string();
        if let Out::Bar(b) = &self.out {
            b.set_message(msg.to_string());
        }
    }

    /// Shows the count again if a line is due, or animates the spinner: for a
    /// thread that ticks while a long step reports nothing.
    pub fn tick(&self) {
        match &self.out {
            Out::Bar(b) => b.tick(),
            _ => self.show(self.done()),
        }
    }

    /// Runs `work` while a second thread ticks the display (every 0.1 s, until `work`
    /// returns), so a step that reports nothing for a long time still shows progress.
    /// The ticker waits on a channel, not in a sleep: `work` returning (its sender
    /// dropped) wakes it at once, so the command does not wait up to 0.1 s for it to
    /// end (half a 200-run sweep's worth of a run on average, issue 21).
    pub fn ticking<R>(&self, work: impl FnOnce() -> R) -> R {
        let (over, ticks) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    ticks.recv_timeout(Duration::from_millis(100))
                {
                    self.tick();
                }
            });
            let r = work();
            drop(over);
            r
        })
    }

    /// What a long command starts with: the display [`Mode::detect`] picks for `quiet`,
    /// counting `unit`s out of `total` (0: unknown), and Ctrl-C caught
    /// ([`catch_interrupts`]) so the command can stop cleanly (check [`stop_flag`] or
    /// pass it to [`crate::run::RunOptions`]). Errors: a bad [`INTERVAL_VAR`], or no
    /// signal handler.
    pub fn for_command(unit: Unit, total: u64, quiet: bool) -> Result<Progress, String> {
        let mode = Mode::detect(quiet)?;
        catch_interrupts()?;
        Ok(Progress::new(unit, total, mode))
    }

    /// Sets the total (0: unknown), e.g. once a trace has been measured.
    pub fn set_total(&self, total: u64) {
        let was = self.total.swap(total, Relaxed);
        if let Out::Bar(b) = &self.out {
            if total > 0 {
                b.set_length(total);
            }
            if (was > 0) != (total > 0) {
                b.set_style(style(self.unit, total));
            }
        }
    }

    /// The total (0: unknown).
    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// `done` of `total` runs, the total learnt as it comes (the `progress(done,
    /// total)` callback of studies, sweeps and comparisons).
    pub fn runs(&self, done: usize, total: usize) {
        if self.total() != total as u64 {
            self.set_total(total as u64);
        }
        self.set(done as u64);
    }

    /// Sets the count done to `done`.
    pub fn set(&self, done: u64) {
        self.done.store(done, Relaxed);
        self.show(done);
    }

    /// Adds `n` to the count done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Relaxed) + n;
        self.show(done);
    }

    /// The count done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Relaxed)
    }

    fn show(&self, done: u64) {
        match &self.out {
            Out::Off => {}
            Out::Bar(b) => b.set_position(done),
            Out::Lines {
                every,
                next,
                printed,
            } => {
                let now = Instant::now();
                let mut due = next.lock().unwrap_or_else(|e| e.into_inner());
                if now >= *due {
                    *due = now + *every;
                    drop(due);
                    printed.store(true, Relaxed);
                    eprintln!("{}", self.line(done, now, ""));
                }
            }
        }
    }

    /// The plain progress line: `done/total unit (p%), rate, elapsed, left`.
    fn line(&self, done: u64, now: Instant, note: &str) -> String {
        let secs = now.duration_since(self.start).as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let total = self.total.load(Relaxed);
        let unit = self.unit.name();
        let msg = self
            .message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut s = if self.unit == Unit::Stages {
            format!("progress: {msg}, {} elapsed", duration(secs))
        } else if total > 0 {
            let left = total.saturating_sub(done) as f64 / rate.max(1e-12);
            format!(
                "progress: {}/{} {unit} ({:.1}%), {}, {} elapsed, {} left",
                group(done),
                group(total),
                100.0 * done as f64 / total as f64,
                self.unit.rate(rate),
                duration(secs),
                if done == 0 {
                    "?".to_string()
                } else {
                    duration(left)
                }
            )
        } else {
            format!(
                "progress: {} {unit}, {}, {} elapsed",
                group(done),
                self.unit.rate(rate),
                duration(secs)
            )
        };
        s.push_str(note);
        s
    }

    /// Prints `msg` on standard error without tearing the bar.
    pub fn println(&self, msg: &str) {
        match &self.out {
            Out::Bar(b) => b.suspend(|| eprintln!("{msg}")),
            _ => eprintln!("{msg}"),
        }
    }

    /// The work is over: the bar goes; off a terminal, a last line if any was printed
    /// (a log that showed progress also shows the end).
    pub fn finish(&self) {
        self.end("");
    }

    /// The work was stopped (Ctrl-C): as [`Progress::finish`], the last line saying so.
    pub fn interrupted(&self) {
        self.end(", interrupted");
    }

    fn end(&self, note: &str) {
        match &self.out {
            Out::Off => {}
            Out::Bar(b) => b.finish_and_clear(),
            Out::Lines { printed, .. } => {
                if printed.load(Relaxed) || !note.is_empty() {
                    eprintln!("{}", self.line(self.done(), Instant::now(), note));
                }
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error path that returned early must not leave a bar on the screen.
        if let Out::Bar(b) = &self.out {
            if !b.is_finished() {
                b.finish_and_clear();
            }
        }
    }
}

/// The bar: with a known total, bar, percent, count, rate, elapsed and time left; a
/// spinner with count and rate otherwise.
fn bar(unit: Unit, total: u64) -> ProgressBar {
    let b = ProgressBar::with_draw_target(
        (total > 0).then_some(total),
        ProgressDrawTarget::stderr_with_hz(10),
    );
    b.set_style(style(unit, total));
    b
}

fn style(unit: Unit, total: u64) -> ProgressStyle {
    let rate = move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let r = s.pos() as f64 / s.elapsed().as_secs_f64().max(1e-9);
        let _ = write!(w, "{}/s", unit.number(r));
    };
    let name = unit.name();
    let template = if unit == Unit::Stages {
        "{spinner} {msg}  {elapsed} elapsed".to_string()
    } else if total > 0 {
        format!("{{percent:>3}}% [{{bar:20}}] {{human_pos}}/{{human_len}} {name}  {{rate}}  {{elapsed}} elapsed, {{eta}} left")
    } else {
        format!("{{spinner}} {{human_pos}} {name}  {{rate}}  {{elapsed}} elapsed")
    };
    ProgressStyle::with_template(&template)
        .expect("the template is valid")
        .progress_chars("=> ")
        .with_key("rate", rate)
}

pub use crate::util::group;

/// Seconds as `42 s`, `3m07s` or `2h05m`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Prints each error as `error: ...` and gives exit code 2 (bad input), as every
/// command does.
pub fn fail(errors: &[impl std::fmt::Display]) -> std::process::ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    std::process::ExitCode::from(2)
}

/// [`Progress::for_command`] for a command line: counting `unit`s, total learnt later;
/// a bad progress setting is the command's exit code.
pub fn long_command(unit: Unit, quiet: bool) -> Result<Progress, std::process::ExitCode> {
    Progress::for_command(unit, 0, quiet).map_err(|e| fail(&[e]))
}

/// The process-wide stop flag: set by the first Ctrl-C once [`catch_interrupts`] ran.
pub fn stop_flag() -> Arc<AtomicBool> {
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Whether a stop was asked for (Ctrl-C).
pub fn stop_requested() -> bool {
    stop_flag().load(Relaxed)
}

/// SIGINT sets [`stop_flag`]; a second SIGINT, with the flag already set, exits at
/// once with status 130. Call once, before the long work starts.
pub fn catch_interrupts() -> Result<(), String> {
    use signal_hook::consts::SIGINT;
    use signal_hook::flag;
    let stop = stop_flag();
    // Registered first so it sees the flag as the previous signal left it.
    flag::register_conditional_shutdown(SIGINT, EXIT_INTERRUPTED.into(), stop.clone())
        .and_then(|_| flag::register(SIGINT, stop))
        .map(|_| ())
        .map_err(|e| format!("cannot catch Ctrl-C: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(16_000_000_000), "16,000,000,000");
        assert_eq!(duration(0.4), "0 s");
        assert_eq!(duration(59.4), "59 s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(7500.0), "2h05m");
        assert_eq!(Unit::Accesses.rate(3_140_000.0), "3.1 M accesses/s");
        assert_eq!(Unit::Accesses.rate(250.0), "250 accesses/s");
        assert_eq!(Unit::Runs.rate(0.5), "0.50 runs/s");
    }

    #[test]
    fn the_interval_comes_from_the_environment_value() {
        assert_eq!(interval(None), Ok(DEFAULT_INTERVAL));
        assert_eq!(interval(Some("0.25")), Ok(Duration::from_millis(250)));
        assert_eq!(interval(Some(" 3 ")), Ok(Duration::from_secs(3)));
        for bad in ["0", "-1", "soon", "inf", "NaN", ""] {
            let e = interval(Some(bad)).unwrap_err();
            assert!(e.starts_with(INTERVAL_VAR), "{bad}: {e}");
        }
    }

    #[test]
    fn a_line_says_done_total_percent_rate_and_time_left() {
        let p = Progress::new(Unit::Accesses, 1_000_000, Mode::Off);
        // 250,000 done in 2 s: 125,000/s, 750,000 left take 6 s.
        let l = p.line(250_000, p.start + Duration::from_secs(2), "");
        assert_eq!(
            l,
            "progress: 250,000/1,000,000 accesses (25.0%), 0.1 M accesses/s, 2 s elapsed, 6 s left"
        );
        let p = Progress::new(Unit::Runs, 0, Mode::Off);
        p.inc(3);
        p.inc(1);
        assert_eq!(p.done(), 4);
        let l = p.line(4, p.start + Duration::from_secs(8), ", interrupted");
        assert_eq!(l, "progress: 4 runs, 0.50 runs/s, 8 s elapsed, interrupted");
        p.set_total(10);
        let l = p.line(0, p.start + Duration::from_secs(1), "");
        assert!(
            l.ends_with("(0.0%), 0.00 runs/s, 1 s elapsed, ? left"),
            "{l}"
        );
    }
}
