//! Cycle counts that would pass what 64-bit counters hold stop the run with an error
//! (issue 17 item 7): a release build used to wrap them silently (16.8 M major faults of
//! 2^40 cycles reported 2.5e16 cycles) and a debug build panicked.
//!
//! The rule: every cycle counter of a core stays at most [`limit`]`(cores)` = 2^60 /
//! cores, checked where large costs enter (a fault, a guard fault, an OS event: their
//! slow paths) and at every batch boundary; between two checks the fast path adds at
//! most a batch of latencies (`u32` each, under 2^50 in all). So no counter passes
//! 2^61 per core, and the report's sums over cores and over the parts of a core's
//! cycles (at most 6 counters) stay below 2^64. No check is made per access.

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
    let worst = [
        extra,
        core.stall_total,
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
