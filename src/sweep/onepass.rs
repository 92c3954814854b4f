//! One pass for sweeps over the size of a fully-associative LRU TLB.
//!
//! LRU is a stack algorithm (Mattson, Gecsei, Slutz and Traiger 1970): a
//! fully-associative LRU TLB of n entries always holds the n most recently used pages,
//! so a reference misses exactly when its stack distance exceeds n. One LRU pass over a
//! workload's page stream ([`crate::analysis::lru::lru_with`]) therefore answers the
//! TLB's hits, misses, fills and evictions for every size at once, where the sweep would
//! otherwise simulate each size.
//!
//! In: the planned jobs of a sweep. [`eligible`] says whether the points differ only in
//! the entries (= ways) of one first-level, fully-associative (set-associative
//! organisation, one set), miss-filled LRU TLB of a
//! single-core, single-task, 4K-page system with no OS events; if not, why not.
//! [`Curve::of`] makes the pass for one workload; [`Curve::answer`] gives a size's
//! counters as the simulator reports them; [`Curve::check`] compares them with a full
//! simulation of one point, which the sweep runs per workload as a guard: a run that
//! invalidated TLB entries (a trace's event lines, a full page table evicting
//! translations) or routed accesses another way would disagree, and the sweep then
//! simulates every point instead. Page replacement (`os.paging`) is refused outright:
//! which pages it takes away depends on the TLB's size.
//! Only that TLB's counters come out of the pass: cycles, walks and the rest need the
//! simulation.

use super::Job;
use crate::addr::{AccessKind, PageSize};
use crate::analysis::{lru::lru_with, PageStream};
use crate::assoc::Replacement;
use crate::config::{HugePolicy, SystemConfig, TlbFill, TlbKind, TlbOrganisation};
use crate::report::TlbReport;
use crate::tlb::TlbStats;

/// The TLB a sweep varies, when one pass can answer it.
#[derive(Clone, Debug)]
pub struct OnePass {
    /// Its index in the system's `tlb` list.
    pub tlb: usize,
    pub name: String,
}

fn serves(kind: TlbKind, a: AccessKind) -> bool {
    match a {
        AccessKind::Fetch => kind.serves_instructions(),
        _ => kind.serves_data(),
    }
}

/// Whether one LRU pass answers every point of `jobs`: `Err` says why not.
pub fn eligible(jobs: &[Job]) -> Result<OnePass, String> {
    let first = jobs.first().ok_or("the sweep has no runs")?;
    let sys0 = &first.inputs.system;
    if jobs.iter().all(|j| j.point == first.point) {
        return Err("the sweep has one point".into());
    }
    let i = (0..sys0.tlb.len())
        .find(|&i| {
            jobs.iter()
                .any(|j| j.inputs.system.tlb.get(i).map(|t| t.entries) != Some(sys0.tlb[i].entries))
        })
        .ok_or("no TLB's size varies between the points")?;
    let name = &sys0.tlb[i].name;
    let without_size = |s: &SystemConfig| {
        let mut s = s.clone();
        if let Some(t) = s.tlb.get_mut(i) {
            t.entries = 0;
            t.ways = 0;
        }
        s
    };
    let base = without_size(sys0);
    for j in jobs {
        if without_size(&j.inputs.system) != base {
            return Err(format!(
                "point {} changes more than the entries and ways of tlb[{i}] `{name}`",
                j.point
            ));
        }
        let t = &j.inputs.system.tlb[i];
        // The pass is a stack of page entries: one set of them. Each organisation says
        // when it is one (the match makes a new organisation decide; a range TLB's
        // entries are not pages).
        let one_set = match t.organisation {
            TlbOrganisation::SetAssociative => t.ways == t.entries,
            TlbOrganisation::Coalesced | TlbOrganisation::Range => false,
            // Its probes read memory: hits and misses alone do not give its cost.
            TlbOrganisation::Pom => false,
        };
        if !one_set {
            return Err(format!(
                "tlb[{i}] `{name}` is not fully associative at point {} ({} entries, {} ways)",
                j.point, t.entries, t.ways
            ));
        }
        let same_workload = jobs
            .iter()
            .find(|k| k.workload == j.workload)
            .is_some_and(|k| k.inputs.workload == j.inputs.workload);
        if !same_workload {
            return Err(format!(
                "workload `{}` differs between the points",
                j.workload
            ));
        }
        if !j.inputs.workload.events.is_empty() {
            return Err(format!("workload `{}` has OS events", j.workload));
        }
    }
    let t = &sys0.tlb[i];
    if t.replacement != Replacement::Lru {
        return Err(format!("tlb[{i}] `{name}` does not replace LRU"));
    }
    if t.fill != TlbFill::Miss {
        return Err(format!("tlb[{i}] `{name}` is not filled on its misses"));
    }
    if !t.page_sizes.contains(&PageSize::Size4K) {
        return Err(format!("tlb[{i}] `{name}` holds no 4K pages"));
    }
    let overlaps = |k: TlbKind| {
        (k.serves_data() && t.kind.serves_data())
            || (k.serves_instructions() && t.kind.serves_instructions())
    };
    if let Some(o) = sys0.tlb.iter().enumerate().find(|(k, o)| {
        *k != i
            && o.level <= t.level
            && overlaps(o.kind)
            && o.page_sizes.contains(&PageSize::Size4K)
    }) {
        return Err(format!(
            "tlb[{i}] `{name}` is not the first TLB its accesses meet (`{}` is at level {})",
            o.1.name, o.1.level
        ));
    }
    if sys0.sim.cores != 1 || sys0.os.tasks(1) != 1 {
        return Err("more than one core or task".into());
    }
    if sys0.os.page_size != PageSize::Size4K || sys0.os.huge_pages.policy != HugePolicy::Never {
        return Err("pages other than 4K (os.page_size, os.huge_pages)".into());
    }
    // Page replacement takes pages (and their TLB entries) away in an order that
    // depends on the TLB's size: what it invalidates is not the same at every size.
    if sys0.os.paging.replacement.is_some() || sys0.os.paging.resident_pages > 0 {
        return Err("os.paging replaces pages (their TLB entries go with them)".into());
    }
    // The pass would feed the TLB the accesses a direct segment translates without it.
    if sys0.os.direct_segment.is_some() {
        return Err("a direct segment (os.direct_segment) keeps its accesses from the TLBs".into());
    }
    // The pass counts the misses the walks follow; Victima answers some of them from
    // the L2's TLB blocks, which hold what the TLBs of each size evicted.
    if sys0.victima.as_ref().is_some_and(|v| v.enable) {
        return Err("Victima ([victima]) answers TLB misses from the L2's TLB blocks".into());
    }
    // The pass knows nothing of a range TLB below, nor of eager paging's faults.
    if sys0.os.rmm.is_some() {
        return Err("Redundant Memory Mappings (os.rmm) add a range TLB and eager paging the pass does not model".into());
    }
    // The RestSeg walk (os.utopia) turns some misses into no walk, by OS placement the
    // pass does not model.
    if sys0.os.utopia.is_some() {
        return Err(
            "a Utopia RestSeg (os.utopia) translates some TLB misses without a walk".into(),
        );
    }
    Ok(OnePass {
        tlb: i,
        name: name.clone(),
    })
}

/// The stack distances of one workload's references to the TLB, counted after warm-up.
pub struct Curve {
    name: String,
    level: u32,
    /// `tail[n]`: counted re-references with stack distance > n (n = 0..=distinct).
    tail: Vec<u64>,
    /// Counted first references (they miss at every size).
    first: u64,
    /// Counted references (the TLB's lookups).
    counted: u64,
    /// Distinct pages before and at the end of the counting.
    distinct_warm: u64,
    distinct: u64,
    instructions: u64,
    accesses: u64,
}

impl Curve {
    /// The pass over `job`'s workload (core 0's stream) for the TLB `op` names.
    pub fn of(job: &Job, op: &OnePass) -> Result<Curve, String> {
        let sys = &job.inputs.system;
        let t = &sys.tlb[op.tlb];
        let warmup = sys.sim.warmup_accesses.accesses();
        let what = format!("workload `{}`", job.workload);
        let mut src = (job.inputs.workload)
            .open(0, &job.inputs.workload_dir)
            .map_err(|e| format!("{what}: {}", e.msg))?;
        let (mut counted_from, mut kept) = (None, 0usize);
        let (mut instructions, mut accesses) = (0u64, 0u64);
        let stream = PageStream::from_source_where(&mut *src, 12, &what, &mut |n, a| {
            if n >= warmup {
                instructions += u64::from(a.instrs);
                accesses += 1;
                counted_from.get_or_insert(kept);
            }
            let keep = serves(t.kind, a.kind);
            kept += keep as usize;
            keep
        })?;
        let mut events = Vec::new();
        src.take_events(&mut events);
        if !events.is_empty() {
            return Err(format!("{what}: its trace has OS events"));
        }
        let from = counted_from.unwrap_or(stream.len());
        let distinct = stream.distinct();
        let mut hist = vec![0u64; distinct + 2];
        let mut first = 0u64;
        lru_with(&stream.ids, distinct, |time, d| {
            if time >= from {
                if d == 0 {
                    first += 1;
                } else {
                    hist[d as usize] += 1;
                }
            }
        });
        // tail[n] = sum of hist[d] for d > n.
        let mut tail = vec![0u64; distinct + 1];
        for n in (0..distinct).rev() {
            tail[n] = tail[n + 1] + hist[n + 1];
        }
        // Ids are numbered in first-reference order: the prefix's largest id + 1 is
        // the number of distinct pages it holds.
        let distinct_warm = stream.ids[..from].iter().max().map_or(0, |&m| m as u64 + 1);
        Ok(Curve {
            name: t.name.clone(),
            level: t.level,
            tail,
            first,
            counted: (stream.len() - from) as u64,
            distinct_warm,
            distinct: distinct as u64,
            instructions,
            accesses,
        })
    }

    /// The TLB's counters at `entries` entries, as a simulation reports them.
    pub fn answer(&self, entries: u32) -> TlbReport {
        let n = entries as usize;
        let misses = self.first + self.tail.get(n).copied().unwrap_or(0);
        // Nothing is invalidated, so the TLB holds min(n, pages seen) entries; every
        // counted fill beyond the growth of that occupancy evicted one.
        let grown = self.distinct.min(entries as u64) - self.distinct_warm.min(entries as u64);
        TlbReport::from_counts(
            TlbStats {
                name: self.name.clone(),
                level: self.level,
                hits: self.counted - misses,
                misses,
                fills: misses,
                evictions: misses - grown,
                coalesced: None,
            },
            self.instructions,
        )
    }

    /// A stack record's statistics (`stats.total` in part).
    pub fn total(&self, entries: u32) -> serde_json::Value {
        serde_json::json!({
            "accesses": self.accesses,
            "instructions": self.instructions,
            "tlb": [self.answer(entries)],
        })
    }

    /// Compares the answer at `entries` with a simulation's `stats.total` (TLB `tlb`),
    /// and requires that nothing invalidated TLB entries in that run. What would (a
    /// full page table evicting translations, events, flushes) follows the faults,
    /// which are the same at every size, so none at one size means none at any.
    pub fn check(&self, entries: u32, tlb: usize, total: &serde_json::Value) -> Result<(), String> {
        for (what, ptr) in [
            ("page-table evictions", "/page_table_evictions"),
            ("page evictions", "/paging/evictions"),
            ("shootdowns", "/shootdown/shootdowns"),
            ("full flushes", "/sched/full_flushes"),
            ("entries flushed", "/shootdown/entries_flushed"),
            ("munmap calls", "/os_events/munmap_calls"),
            ("mprotect calls", "/os_events/mprotect_calls"),
            ("huge-page promotions", "/huge_pages/promotions"),
        ] {
            let n = total.pointer(ptr).and_then(|v| v.as_u64()).unwrap_or(0);
            if n > 0 {
                return Err(format!(
                    "the simulation of {entries} entries had {n} {what}, which invalidate TLB entries"
                ));
            }
        }
        let want = serde_json::to_value(self.answer(entries)).unwrap_or_default();
        let got = &total["tlb"][tlb];
        for k in ["hits", "misses", "fills", "evictions"] {
            if got[k] != want[k] {
                return Err(format!(
                    "the simulation of {entries} entries counted {k} {}, the pass {}",
                    got[k], want[k]
                ));
            }
        }
        for (k, mine) in [
            ("accesses", self.accesses),
            ("instructions", self.instructions),
        ] {
            if total[k].as_u64() != Some(mine) {
                return Err(format!("the simulation's {k} differ from the pass's"));
            }
        }
        Ok(())
    }
}
