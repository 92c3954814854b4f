//! Test hooks at named write steps: one kills the process there (the kill matrix), one
//! makes a sync there fail (a full or failing disk).
//!
//! `MMUSIM_KILL_AT=<step>:<n>` makes the `n`-th call of [`at`] with that step name
//! (counting from 1) send SIGKILL to the process itself, as a power cut or `kill -9`
//! would stop it there. Tests use it to show that every step of a write leaves a
//! consistent result on disk.
//!
//! `MMUSIM_FAIL_AT=<step>:<n>` makes the `n`-th call of [`fail`] with that step name
//! return an I/O error instead of letting the sync it guards run, as a disk that
//! refuses the write (`EIO`, `ENOSPC` at `fsync`) would. Tests use it to show that a
//! failed write is reported, naming the file, and loses nothing already on disk.
//!
//! Each variable is read once per process; unset (always, outside tests) a hook is one
//! load of a `OnceLock` per call, and it is called per file written, never per access.
//! Step names are listed in `docs/OUTPUTS.md` (`run.*` for `run --out`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms the kill hook.
pub const VAR: &str = "MMUSIM_KILL_AT";

/// The environment variable that arms the failure hook.
pub const FAIL_VAR: &str = "MMUSIM_FAIL_AT";

/// The armed kill step and hit number, parsed from [`VAR`] once.
fn target() -> Option<&'static (String, u64)> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    TARGET.get_or_init(|| armed_by(VAR)).as_ref()
}

/// The step and hit number variable `var` names, if set.
fn armed_by(var: &str) -> Option<(String, u64)> {
    let v = std::env::var(var).ok()?;
    let parsed = parse(&v);
    if parsed.is_none() {
        // Said, not silently inert: a test that sets a bad value must not pass for the
        // wrong reason.
        eprintln!("warning: {var}={v} ignored: expected <step>:<n>, n >= 1");
    }
    parsed
}

/// `step:n` with a non-empty step and `n >= 1`.
fn parse(v: &str) -> Option<(String, u64)> {
    let (step, n) = v.rsplit_once(':')?;
    let n: u64 = n.trim().parse().ok()?;
    (!step.is_empty() && n >= 1).then(|| (step.to_string(), n))
}

/// A write step named `step` is reached: if [`VAR`] names it, count the hit and kill
/// the process (SIGKILL, nothing flushed or cleaned up) at the armed one.
pub fn at(step: &str) {
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some((name, n)) = target() else {
        return;
    };
    if name != step {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        kill_self();
    }
}

/// A sync at write step `step` is about to run: `Err` (an injected I/O error naming
/// the step) at the hit [`FAIL_VAR`] arms, else `Ok` and the caller syncs.
pub fn fail(step: &str) -> std::io::Result<()> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    match TARGET.get_or_init(|| armed_by(FAIL_VAR)) {
        Some((name, n)) if name == step && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n => {
            Err(std::io::Error::other(format!(
                "input/output error (injected at {step} by {FAIL_VAR})"
            )))
        }
        _ => Ok(()),
    }
}

/// Whether [`VAR`] names `step`: a writer may then split a write it otherwise makes
/// whole (a sweep record), so that the matrix can kill between its halves.
pub fn armed(step: &str) -> bool {
    target().is_some_and(|(name, _)| name == step)
}

fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: signalling our own process; SIGKILL cannot be caught, so nothing runs after.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_step_and_a_positive_hit_number() {
        assert_eq!(parse("run.swapped:2"), Some(("run.swapped".into(), 2)));
        // A step name may itself hold a colon: the number is after the last one.
        assert_eq!(parse("a:b:3"), Some(("a:b".into(), 3)));
        for bad in ["run.swapped", "run.swapped:0", ":1", "run.swapped:x", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
