//! The kill matrix's test hook: `MMUSIM_KILL_AT=<step>:<n>` makes the process kill
//! itself (SIGKILL, as `kill -9` would) the n-th time it reaches the write step named
//! `<step>` (n defaults to 1). Compiled in and inert unless the variable is set: the
//! tests drive every write step of `run --out` (`run.*`) and of a sweep (`sweep.*`)
//! this way and check that a rerun completes the results. Steps are listed in
//! docs/OUTPUTS.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The step named by `MMUSIM_KILL_AT` and on which hit to die, read once.
fn target() -> Option<&'static (String, u64)> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let v = std::env::var("MMUSIM_KILL_AT").ok()?;
            Some(match v.rsplit_once(':') {
                Some((step, n)) => (step.to_string(), n.parse().ok()?),
                None => (v, 1),
            })
        })
        .as_ref()
}

/// A write step named `step`: dies here if `MMUSIM_KILL_AT` names it and this is the
/// n-th time it is reached.
pub fn at(step: &str) {
    static HITS: AtomicU64 = AtomicU64::new(0);
    if let Some((name, n)) = target() {
        if name == step && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            // SAFETY: signalling this process; SIGKILL cannot be caught, nothing runs on.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}
