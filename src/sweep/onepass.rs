//! One pass for sweeps over the geometry (entries and ways) of one set-associative LRU
//! TLB.
//!
//! LRU within a set is a stack algorithm (Mattson, Gecsei, Slutz and Traiger 1970): a
//! set of `w` ways always holds the `w` most recently used pages that map to it, so a
//! reference misses exactly when its per-set stack distance exceeds `w`. One pass per
//! set count over the TLB's reference stream ([`crate::analysis::assoc::SetCurve`])
//! therefore answers its hits, misses, fills and evictions for every associativity of
//! that set count, where the sweep would otherwise simulate each geometry; the sets are
//! picked by the function the TLB itself uses ([`crate::tlb::set_of_key`]). The pass
//! tracks each set only as deep as the most ways the sweep asks of that set count, all
//! the set counts in one scan of the stream ([`crate::analysis::assoc_bounded`], up to
//! [`BOUNDED_DEPTH`] ways); deeper set counts, by the Fenwick pass
//! ([`SetCurve::of_classes`]), one pass each.
//!
//! The reference stream: a first-level TLB sees the workload's accesses of its side
//! (read from the workload, 4K pages); a TLB below level 1 sees the misses of the
//! levels above, which a simulation of one point records ([`crate::tlb::TlbRecord`]):
//! the sweep's guard run. That stream is the same at every geometry of the swept TLB
//! when nothing it holds feeds back into what reaches it: see [`eligible`], which
//! refuses (saying why) every configuration where something could.
//!
//! In: the planned jobs of a sweep. [`eligible`] says whether the points differ only in
//! the entries and ways of one such TLB; if not, why not. [`Curve::of`] makes the pass
//! for one workload (from its stream, or from its guard run's record and total);
//! [`Curve::total`] gives a geometry's record; [`Curve::check`] compares it with a full
//! simulation of one point, which the sweep runs per workload as a guard: a run that
//! invalidated TLB entries or routed accesses another way would disagree, and the
//! sweep then simulates every point instead.
//!
//! What a record of the pass holds (`method` = `stack`): for a first-level TLB, the
//! accesses, instructions and that TLB's counters. For a last-level TLB below level 1,
//! also what the swept TLB cannot change: every other TLB's counters, the loads,
//! stores, fetches, faults and compulsory misses (all fixed by the access stream, as
//! the guard run counted them), each level's counters (the swept level's moved by the
//! swept TLB's difference from the guard run), and the walks: a walk is made by each
//! access that misses every level, plus one more per fault (the replay), so walks minus
//! the last level's misses is fixed by the stream, and walks = guard walks + the
//! swept TLB's misses - its misses in the guard run. Cycles, walk latencies, walk
//! caches and data caches depend on the geometry through timing and what the walks
//! read: they stay out (empty in the report).

use super::Job;
use crate::addr::{AccessKind, PageSize};
use crate::analysis::assoc::{Keys, SetCurve};
use crate::analysis::assoc_bounded;
use crate::analysis::PageStream;
use crate::assoc::Replacement;
use crate::config::{HugePolicy, SystemConfig, TlbFill, TlbKind, TlbOrganisation};
use crate::report::TlbReport;
use crate::tlb::{TlbRecord, TlbStats};
use serde_json::Value;
use std::collections::BTreeMap;

/// The TLB a sweep varies, when one pass can answer it.
#[derive(Clone, Debug)]
pub struct OnePass {
    /// Its index in the system's `tlb` list.
    pub tlb: usize,
    pub name: String,
    /// Below level 1: its stream is recorded by the guard run (else read from the
    /// workload).
    pub recorded: bool,
}

fn serves(kind: TlbKind, a: AccessKind) -> bool {
    match a {
        AccessKind::Fetch => kind.serves_instructions(),
        _ => kind.serves_data(),
    }
}

/// Whether one pass per set count answers every point of `jobs`: `Err` says why not.
pub fn eligible(jobs: &[Job]) -> Result<OnePass, String> {
    let first = jobs.first().ok_or("the sweep has no runs")?;
    let sys0 = &first.inputs.system;
    if jobs.iter().all(|j| j.point == first.point) {
        return Err("the sweep has one point".into());
    }
    let geometry = |s: &SystemConfig, i: usize| s.tlb.get(i).map(|t| (t.entries, t.ways));
    let i = (0..sys0.tlb.len())
        .find(|&i| (jobs.iter()).any(|j| geometry(&j.inputs.system, i) != geometry(sys0, i)))
        .ok_or("no TLB's entries or ways vary between the points")?;
    let name = &sys0.tlb[i].name;
    let without_size = |s: &SystemConfig| {
        let mut s = s.clone();
        if let Some(t) = s.tlb.get_mut(i) {
            t.entries = 0;
            t.ways = 0;
        }
        s
    };
    // Each workload's points are compared with its first (the default warm-up, say,
    // depends on the workload).
    let first_of = |j: &Job| {
        (jobs.iter())
            .find(|k| k.workload == j.workload)
            .expect("a job's workload has a first job")
    };
    for j in jobs {
        // What refuses the pass whatever the points (before comparing them: validation
        // may settle some of these keys per geometry, which would hide the reason).
        common(&j.inputs.system)?;
        // Checked at every point: validation may settle a key per geometry.
        swept_tlb(&j.inputs.system.tlb[i], i)?;
        if without_size(&j.inputs.system) != without_size(&first_of(j).inputs.system) {
            return Err(format!(
                "point {} changes more than the entries and ways of tlb[{i}] `{name}`",
                j.point
            ));
        }
        if first_of(j).inputs.workload != j.inputs.workload {
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
    let recorded = t.level > 1;
    for j in jobs.iter().filter(|j| std::ptr::eq(*j, first_of(j))) {
        match recorded {
            true => below_level_1(&j.inputs.system, i)?,
            false => first_level(&j.inputs.system, i)?,
        }
    }
    Ok(OnePass {
        tlb: i,
        name: name.clone(),
        recorded,
    })
}

/// What the swept TLB itself must be: page entries in sets, LRU, filled on its misses.
fn swept_tlb(t: &crate::config::TlbConfig, i: usize) -> Result<(), String> {
    let name = &t.name;
    // The pass is of page entries in sets: each organisation says whether it is that
    // (the match makes a new organisation decide).
    match t.organisation {
        TlbOrganisation::SetAssociative => {}
        // An entry holds a run of pages, which the stack of pages does not model.
        TlbOrganisation::Coalesced => {
            return Err(format!(
                "tlb[{i}] `{name}` coalesces pages (organisation = \"coalesced\")"
            ))
        }
        // A range TLB's entries are not pages.
        TlbOrganisation::Range => return Err(format!("tlb[{i}] `{name}` holds ranges")),
        // Its probes read memory: hits and misses alone do not give its cost.
        TlbOrganisation::Pom => {
            return Err(format!(
                "tlb[{i}] `{name}` is a POM-TLB (its probes read memory)"
            ))
        }
    }
    if t.replacement != Replacement::Lru {
        return Err(format!("tlb[{i}] `{name}` does not replace LRU"));
    }
    // A victim level is filled by the evictions of the level above, not by its misses.
    if t.fill != TlbFill::Miss {
        return Err(format!("tlb[{i}] `{name}` is not filled on its misses"));
    }
    Ok(())
}

/// What refuses the pass wherever the TLB sits: anything that invalidates TLB entries
/// in a way that depends on the run (their holes differ between geometries), adds
/// fills the misses do not explain, or keeps accesses from the TLBs.
fn common(sys: &SystemConfig) -> Result<(), String> {
    if sys.sim.cores != 1 || sys.os.tasks(1) != 1 {
        return Err("more than one core or task".into());
    }
    // Page replacement takes pages (and their TLB entries) away in an order that
    // depends on the TLB's size: what it invalidates is not the same at every size.
    if sys.os.paging.replacement.is_some() || sys.os.paging.resident_pages > 0 {
        return Err("os.paging replaces pages (their TLB entries go with them)".into());
    }
    // The pass would feed the TLB the accesses a direct segment translates without it.
    if sys.os.direct_segment.is_some() {
        return Err("a direct segment (os.direct_segment) keeps its accesses from the TLBs".into());
    }
    // The pass counts the misses the walks follow; Victima answers some of them from
    // the L2's TLB blocks, which hold what the TLBs of each size evicted.
    if sys.victima.as_ref().is_some_and(|v| v.enable) {
        return Err("Victima ([victima]) answers TLB misses from the L2's TLB blocks".into());
    }
    // The pass knows nothing of a range TLB below, nor of eager paging's faults.
    if sys.os.rmm.is_some() {
        return Err("Redundant Memory Mappings (os.rmm) add a range TLB and eager paging the pass does not model".into());
    }
    // The RestSeg walk (os.utopia) turns some misses into no walk, by OS placement the
    // pass does not model.
    if sys.os.utopia.is_some() {
        return Err(
            "a Utopia RestSeg (os.utopia) translates some TLB misses without a walk".into(),
        );
    }
    // The prefetcher trains on the misses and its buffer answers some of them: the
    // walks (and what the buffer holds) follow the swept TLB's misses.
    if sys.prefetch.is_some() {
        return Err("TLB prefetching ([prefetch]) trains on the misses and answers some of them from its buffer".into());
    }
    // The hypervisor's flushes and EPT violations invalidate TLB entries, and nested
    // entries may be splinters of a guest page.
    if sys.virt.is_some() {
        return Err("virtualization ([virt]): host flushes and splintered entries".into());
    }
    // Collapses, reservations' promotions and demotions replace small pages' TLB
    // entries: holes the stack does not model.
    let huge = &sys.os.huge_pages;
    match huge.policy {
        HugePolicy::Never => {}
        HugePolicy::Always if !huge.demote => {}
        HugePolicy::Always => {
            return Err("os.huge_pages.demote splits huge pages (their TLB entries go)".into())
        }
        p => {
            return Err(format!(
                "os.huge_pages.policy = {p:?} promotes or collapses pages (the small pages' TLB entries go)"
            ))
        }
    }
    Ok(())
}

/// A first-level TLB: its stream is the workload's accesses of its side, read as 4K
/// pages, so it must be the first TLB they meet and every page must be 4K.
fn first_level(sys: &SystemConfig, i: usize) -> Result<(), String> {
    let t = &sys.tlb[i];
    let name = &t.name;
    if !t.page_sizes.contains(&PageSize::Size4K) {
        return Err(format!("tlb[{i}] `{name}` holds no 4K pages"));
    }
    let overlaps = |k: TlbKind| {
        (k.serves_data() && t.kind.serves_data())
            || (k.serves_instructions() && t.kind.serves_instructions())
    };
    if let Some(o) = sys.tlb.iter().enumerate().find(|(k, o)| {
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
    if sys.os.page_size != PageSize::Size4K || sys.os.huge_pages.policy != HugePolicy::Never {
        return Err("pages other than 4K (os.page_size, os.huge_pages)".into());
    }
    Ok(())
}

/// A TLB below level 1: its references are the misses of the levels above, which do not
/// depend on it when it is the last level (a level below could answer its misses
/// without filling it: a range TLB beside it) and no other structure of its level takes
/// its pages.
fn below_level_1(sys: &SystemConfig, i: usize) -> Result<(), String> {
    let t = &sys.tlb[i];
    let name = &t.name;
    if let Some(o) = sys.tlb.iter().find(|o| o.level > t.level) {
        return Err(format!(
            "tlb[{i}] `{name}` is not the last TLB level (`{}` is at level {})",
            o.name, o.level
        ));
    }
    let overlaps = |o: &crate::config::TlbConfig| {
        ((o.kind.serves_data() && t.kind.serves_data())
            || (o.kind.serves_instructions() && t.kind.serves_instructions()))
            && o.page_sizes.iter().any(|s| t.page_sizes.contains(s))
    };
    if let Some(o) =
        (sys.tlb.iter().enumerate()).find(|(k, o)| *k != i && o.level == t.level && overlaps(o))
    {
        return Err(format!(
            "tlb[{}] `{}` at the level of tlb[{i}] `{name}` serves some of the same pages",
            o.0, o.1.name
        ));
    }
    Ok(())
}

/// The passes of one workload, at every set count the sweep's points need.
pub struct Curve {
    name: String,
    level: u32,
    /// Per set count.
    by_sets: BTreeMap<u64, SetCurve>,
    instructions: u64,
    accesses: u64,
    /// Below level 1: the guard run's total and the swept TLB's counted misses in it
    /// per side (data, instruction), which the other counters are moved from.
    guard: Option<(Value, [u64; 2])>,
}

/// The set counts (entries / ways) of `op`'s TLB over `jobs`' points, each with the
/// most ways a point asks of it (how deep its pass must see).
pub fn set_counts<'a>(jobs: impl Iterator<Item = &'a Job>, op: &OnePass) -> Vec<(u64, u64)> {
    let mut deepest = BTreeMap::new();
    for j in jobs {
        let t = &j.inputs.system.tlb[op.tlb];
        let ways = deepest.entry(u64::from(t.entries / t.ways)).or_insert(0);
        *ways = u64::from(t.ways).max(*ways);
    }
    deepest.into_iter().collect()
}

impl Curve {
    /// The pass over a first-level TLB's stream: `job`'s workload (core 0's stream),
    /// its accesses of the TLB's side as 4K pages.
    pub fn of_workload(job: &Job, op: &OnePass, sets: &[(u64, u64)]) -> Result<Curve, String> {
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
        // The keys the TLB stores (one address space: the id does not pick the set), per
        // id of the stream.
        let keys: Vec<u64> = (stream.pages.iter())
            .map(|&p| crate::tlb::page_key(0, crate::addr::VirtAddr(p << 12), PageSize::Size4K))
            .collect();
        Ok(Curve {
            name: t.name.clone(),
            level: t.level,
            by_sets: passes(&stream.ids, |id| (keys[id as usize], 0), sets, from),
            instructions,
            accesses,
            guard: None,
        })
    }

    /// The pass over a recorded stream (a TLB below level 1), with the guard run's
    /// `total` (`stats.total` as JSON).
    pub fn of_record(
        rec: &TlbRecord,
        total: &Value,
        op: &OnePass,
        sets: &[(u64, u64)],
    ) -> Result<Curve, String> {
        let from = rec.counted_from;
        let mut misses = [0u64; 2];
        for &r in &rec.refs[from..] {
            if !TlbRecord::hit(r) {
                misses[TlbRecord::fetch(r) as usize] += 1;
            }
        }
        let got = &total["tlb"][op.tlb];
        let n = |k: &str| got[k].as_u64().unwrap_or(u64::MAX);
        let counted = (rec.refs.len() - from) as u64;
        if n("misses") != misses[0] + misses[1] || n("hits") != counted - misses[0] - misses[1] {
            return Err(format!(
                "the recorded stream of `{}` ({} references from {from}) does not match its counters",
                op.name,
                rec.refs.len()
            ));
        }
        let u = |k: &str| {
            total[k]
                .as_u64()
                .ok_or(format!("the guard run has no `{k}`"))
        };
        Ok(Curve {
            name: op.name.clone(),
            level: got["level"].as_u64().unwrap_or(0) as u32,
            by_sets: passes(
                &rec.refs,
                |r| (TlbRecord::key(r), TlbRecord::fetch(r) as usize),
                sets,
                from,
            ),
            instructions: u("instructions")?,
            accesses: u("accesses")?,
            guard: Some((total.clone(), misses)),
        })
    }

    fn pass(&self, entries: u32, ways: u32) -> &SetCurve {
        let sets = u64::from(entries / ways);
        self.by_sets
            .get(&sets)
            .unwrap_or_else(|| unreachable!("{sets} sets: a set count of the sweep's points"))
    }

    /// The TLB's counters at `entries` entries in `ways` ways, as a simulation reports
    /// them.
    pub fn answer(&self, entries: u32, ways: u32) -> TlbReport {
        let c = self.pass(entries, ways);
        let misses = c.misses(u64::from(ways));
        TlbReport::from_counts(
            TlbStats {
                name: self.name.clone(),
                level: self.level,
                hits: c.counted - misses,
                misses,
                fills: misses,
                evictions: c.evictions(u64::from(ways)),
                coalesced: None,
            },
            self.instructions,
        )
    }

    /// A stack record's statistics (`stats.total` in part: see the module doc).
    pub fn total(&self, entries: u32, ways: u32, tlb: usize) -> Value {
        let answer = self.answer(entries, ways);
        let Some((guard, was)) = &self.guard else {
            return serde_json::json!({
                "accesses": self.accesses,
                "instructions": self.instructions,
                "tlb": [answer],
            });
        };
        let c = self.pass(entries, ways);
        let now = [0, 1].map(|s| c.misses_of(s, u64::from(ways)));
        let mut t = serde_json::Map::new();
        for k in [
            "accesses",
            "instructions",
            "loads",
            "stores",
            "fetches",
            "minor_faults",
            "compulsory_misses",
        ] {
            t.insert(k.into(), guard[k].clone());
        }
        let mut tlbs = guard["tlb"].clone();
        tlbs[tlb] = serde_json::to_value(&answer).unwrap_or_default();
        t.insert("tlb".into(), tlbs);
        let mut levels = guard["tlb_levels"].clone();
        let moved =
            |v: &Value, by: i128| Value::from((v.as_u64().unwrap_or(0) as i128 + by) as u64);
        if let Some(l) = (levels.as_array_mut().into_iter().flatten())
            .find(|l| l["level"] == u64::from(self.level))
        {
            for (s, side) in [(0, "data"), (1, "instruction")] {
                let d = now[s] as i128 - was[s] as i128;
                l[format!("{side}_misses")] = moved(&l[format!("{side}_misses")], d);
                l[format!("{side}_hits")] = moved(&l[format!("{side}_hits")], -d);
            }
            let misses = l["data_misses"].as_u64().unwrap_or(0)
                + l["instruction_misses"].as_u64().unwrap_or(0);
            l["misses"] = misses.into();
            l["mpki"] = crate::report::per_kilo(misses, self.instructions).into();
        }
        t.insert("tlb_levels".into(), levels);
        let d = (now[0] + now[1]) as i128 - (was[0] + was[1]) as i128;
        t.insert(
            "walks".into(),
            serde_json::json!({ "walks": moved(&guard["walks"]["walks"], d) }),
        );
        t.insert("one_pass_tlb".into(), self.name.clone().into());
        Value::Object(t)
    }

    /// Compares the record at (`entries`, `ways`) with a simulation's `stats.total`
    /// (TLB `tlb`), and requires that nothing invalidated TLB entries in that run. What
    /// would (a full page table evicting translations, events, flushes) follows the
    /// faults, which are the same at every geometry, so none at one means none at any.
    pub fn check(
        &self,
        (entries, ways): (u32, u32),
        tlb: usize,
        total: &Value,
    ) -> Result<(), String> {
        let at = format!("{entries} entries, {ways} ways");
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
                    "the simulation of {at} had {n} {what}, which invalidate TLB entries"
                ));
            }
        }
        let mut mine = self.total(entries, ways, tlb);
        // The record's own mark, which no simulation has.
        if let Some(m) = mine.as_object_mut() {
            m.remove("one_pass_tlb");
        }
        let got = match &self.guard {
            // A first-level record holds the swept TLB alone, as `tlb[0]`.
            None => serde_json::json!({
                "accesses": total["accesses"],
                "instructions": total["instructions"],
                "tlb": [total["tlb"][tlb]],
            }),
            Some(_) => total.clone(),
        };
        match differs(&mine, &got, "") {
            Some(k) => Err(format!(
                "the simulation of {at} and the pass differ at `{k}`"
            )),
            None => Ok(()),
        }
    }
}

/// The most ways a set count's pass tracks by scanning its sets' recent keys
/// ([`assoc_bounded`], O(ways) per reference); deeper, the Fenwick pass (O(log n) per
/// reference, whatever the ways). A TLB's sets have 1 to 16 ways.
pub const BOUNDED_DEPTH: u64 = 64;

/// The passes of the set counts (each with the most ways asked of it) over `refs`, each
/// a key and its class by `key_class`: those of at most [`BOUNDED_DEPTH`] ways in one
/// bounded scan, the others by the Fenwick pass over the stream renamed once for all
/// of them.
fn passes<R: Copy>(
    refs: &[R],
    key_class: impl Fn(R) -> (u64, usize) + Copy,
    sets: &[(u64, u64)],
    from: usize,
) -> BTreeMap<u64, SetCurve> {
    let set_of = |k, n| crate::tlb::set_of_key(k, n);
    let (shallow, deep): (Vec<_>, Vec<_>) = sets
        .iter()
        .copied()
        .partition(|s: &(u64, u64)| s.1 <= BOUNDED_DEPTH);
    let shallow: Vec<(u64, usize)> = shallow.iter().map(|&(n, w)| (n, w as usize)).collect();
    let mut by_sets: BTreeMap<u64, SetCurve> = (shallow.iter().map(|g| g.0))
        .zip(assoc_bounded::passes(
            refs, key_class, set_of, &shallow, from,
        ))
        .collect();
    if !deep.is_empty() {
        let keys = Keys::new(&refs.iter().map(|&r| key_class(r).0).collect::<Vec<_>>());
        for (n, _) in deep {
            let c =
                SetCurve::of_classes(&keys, n, |k| set_of(k, n), |t| key_class(refs[t]).1, from);
            by_sets.insert(n, c);
        }
    }
    by_sets
}

/// The first leaf of `mine` that `got` does not hold equal (its JSON pointer).
fn differs(mine: &Value, got: &Value, at: &str) -> Option<String> {
    match mine {
        Value::Object(m) => (m.iter()).find_map(|(k, v)| differs(v, &got[k], &format!("{at}/{k}"))),
        Value::Array(a) => {
            (a.iter().enumerate()).find_map(|(i, v)| differs(v, &got[i], &format!("{at}/{i}")))
        }
        _ if mine == got => None,
        _ => Some(at.to_string()),
    }
}
