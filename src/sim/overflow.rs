//! Cycle counts that would pass what 64-bit counters hold stop the run with an error
//! (issue 17 item 7): a release build used to wrap them silently (16.8 M major faults of
//! 2^40 cycles reported 2.5e16 cycles) and a debug build panicked.
//!
//! The rule: every cycle counter of a core (its stall, translation, instruction and
//! base cycles, instructions x CPI included, and its OS counters) stays at most
//! [`limit`]`(cores)` = 2^60 / cores. [`check`] compares each counter, the stall with
//! the cost about to be added to it (saturating), with the limit. It runs where large costs enter
//! (a fault, a guard fault, an OS event: their slow paths, before the cost is added);
//! after what is added without a check of its own (a context switch, the IPIs a core
//! takes, a shootdown's wait, each checked once per event); at every batch boundary,
//! before the Ctrl-C test; and once on every core when the run ends (interrupted or
//! not: the walks drained at the end). Between two checks only the per-access path
//! adds, at most a batch (4096 accesses) of it: `u32` latencies (under 2^44 in all),
//! and instructions of up to `u32::MAX` per access (an `.mmt` record's `instrs`) at a
//! CPI of at most 1000 (under 2^54 of base cycles). So no counter passes 2^61 per
//! core, and the report's sums over cores and over the parts of a core's cycles (at
//! most 6 counters) stay below 2^64. No check is made per access.

use super::core::{base_cycles, Core, Timing};
use crate::SimError;

/// The largest cycle count a core's counters may reach on a run of `cores` cores.
pub(super) fn limit(cores: usize) -> u64 {
    (1u64 << 60) / cores.max(1) as u64
}

/// Whether `core`'s counters, with `extra` cycles about to be added, are within the
/// limit; an error naming the costs that can be lowered otherwise. Out of line: it runs
/// on slow paths only, and inlined into the guard-fault branch of `step` it grew the
/// per-access loop (2 more host instructions per TLB hit, by callgrind).
#[inline(never)]
pub(super) fn check(core: &Core, t: &Timing, extra: u64) -> Result<(), SimError> {
    let s = &core.os_stats;
    // The cost goes into the stall (and translation, a part of it); the OS counters
    // already hold it (the OS counts a fault's or event's cycles as it runs it).
    let worst = [
        core.stall_total.saturating_add(extra),
        core.counters.translation.total,
        core.instr_total,
        base_cycles(core.instr_total, t.cpi_milli),
        s.fault_cycles,
        s.event_cycles,
        s.switch_cycles,
        s.shootdown.initiator_cycles,
        s.shootdown.remote_cycles,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    if worst <= t.cycle_limit {
        return Ok(());
    }
    Err(too_many(core, t, worst))
}

#[cold]
#[inline(never)]
fn too_many(core: &Core, t: &Timing, worst: u64) -> SimError {
    SimError(format!(
        "core {}: a cycle count reached {worst} after {} accesses, beyond the {} (2^60 / cores) that 64-bit counters hold exactly; the run is stopped rather than report wrapped numbers. Lower the costs (os.minor_fault_cycles, os.zero_4k_cycles, os.paging.major_fault_cycles, os.paging.writeback_cycles, os.sched.switch_cycles, the shootdown costs) or the accesses",
        core.id, core.counters.accesses, t.cycle_limit
    ))
}
