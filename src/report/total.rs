//! Machine totals of a run: the per-core counters ([`CoreStats`]) summed, for the
//! report's `total` (in: every core's stats; out: one `CoreStats` of the same shape,
//! TLB, level and walk-cache rows keeping their names and levels).

use crate::sim::CoreStats;
use crate::stats::Histogram;
use crate::tlb::{LevelStats, TlbStats};
use crate::walker::PscStats;

/// Sum per-core counters into machine totals.
pub(super) fn total(cores: &[CoreStats]) -> CoreStats {
    let mut t = CoreStats {
        counters: Default::default(),
        base_cycles: 0,
        tlb: cores[0].tlb.clone(),
        tlb_levels: cores[0].tlb_levels.clone(),
        walks: 0,
        pte_reads: 0,
        walker_psc_cycles: 0,
        walker_pte_cycles: 0,
        psc: cores[0].psc.clone(),
        walk_latency: Histogram::default(),
        reads_hist: vec![0; cores[0].reads_hist.len()],
        os: Default::default(),
        dram_pte_reads: 0,
        warm: cores.iter().all(|c| c.warm),
        virt: cores[0].virt.as_ref().map(|_| Default::default()),
        direct_segment: cores[0].direct_segment,
        tlb_memory: cores[0].tlb_memory.clone(),
        victima: cores[0].victima.map(|_| [0; 3]),
        range_tlb_hits: cores[0]
            .range_tlb_hits
            .map(|_| cores.iter().filter_map(|c| c.range_tlb_hits).sum()),
        utopia: cores[0].utopia.clone(),
        spectlb: cores[0].spectlb,
        size_prediction: cores[0]
            .size_prediction
            .as_ref()
            .map(|_| Default::default()),
        prefetch: (cores[0].prefetch.as_ref()).map(|_| serde_json::json!({})),
        asap: cores[0].asap.map(|_| Default::default()),
    };
    for x in t.tlb.iter_mut() {
        *x = TlbStats {
            name: x.name.clone(),
            level: x.level,
            coalesced: x.coalesced.as_ref().map(|_| Default::default()),
            ..Default::default()
        };
    }
    for x in t.tlb_levels.iter_mut() {
        *x = LevelStats {
            level: x.level,
            ..Default::default()
        };
    }
    for x in t.psc.iter_mut() {
        *x = PscStats {
            name: x.name.clone(),
            level: x.level,
            ..Default::default()
        };
    }
    for c in cores {
        let (a, b) = (&mut t.counters, &c.counters);
        a.accesses += b.accesses;
        a.loads += b.loads;
        a.stores += b.stores;
        a.fetches += b.fetches;
        a.instructions += b.instructions;
        a.stall_cycles += b.stall_cycles;
        a.compulsory_misses += b.compulsory_misses;
        a.compulsory_cycles += b.compulsory_cycles;
        a.direct_segment_hits += b.direct_segment_hits;
        a.direct_segment_cycles += b.direct_segment_cycles;
        for (x, y) in a.tlb_memory_reads.iter_mut().zip(b.tlb_memory_reads) {
            *x += y;
        }
        a.tlb_memory_cycles += b.tlb_memory_cycles;
        a.tlb_memory_lookups += b.tlb_memory_lookups;
        a.range_walks += b.range_walks;
        a.range_walk_hits += b.range_walk_hits;
        a.range_walk_reads += b.range_walk_reads;
        a.range_walk_cycles += b.range_walk_cycles;
        a.victima.merge(&b.victima);
        a.spectlb.merge(&b.spectlb);
        if let (Some(x), Some(y)) = (&mut t.size_prediction, &c.size_prediction) {
            x.merge(y);
        }
        a.prefetch.merge(&b.prefetch);
        super::reach::add_held(&mut t.victima, &c.victima);
        super::utopia::add(a, b);
        let (x, y) = (&mut a.translation, &b.translation);
        x.tlb += y.tlb;
        x.walk_cache += y.walk_cache;
        x.pte += y.pte;
        x.wait += y.wait;
        x.fault += y.fault;
        x.total += y.total;
        t.base_cycles += c.base_cycles;
        for (x, y) in t.tlb.iter_mut().zip(&c.tlb) {
            x.hits += y.hits;
            x.misses += y.misses;
            x.fills += y.fills;
            x.evictions += y.evictions;
            if let (Some(x), Some(y)) = (&mut x.coalesced, &y.coalesced) {
                x.merge(y);
            }
        }
        for (x, y) in t.tlb_levels.iter_mut().zip(&c.tlb_levels) {
            x.instruction_hits += y.instruction_hits;
            x.instruction_misses += y.instruction_misses;
            x.data_hits += y.data_hits;
            x.data_misses += y.data_misses;
            x.cycles += y.cycles;
        }
        for (x, y) in t.psc.iter_mut().zip(&c.psc) {
            x.lookups += y.lookups;
            x.hits += y.hits;
        }
        t.walks += c.walks;
        t.pte_reads += c.pte_reads;
        t.walker_psc_cycles += c.walker_psc_cycles;
        t.walker_pte_cycles += c.walker_pte_cycles;
        t.walk_latency.merge(&c.walk_latency);
        for (x, y) in t.reads_hist.iter_mut().zip(&c.reads_hist) {
            *x += y;
        }
        t.os.add(&c.os);
        t.dram_pte_reads += c.dram_pte_reads;
        if let (Some(ta), Some(a)) = (t.asap.as_mut(), c.asap.as_ref()) {
            ta.add(a);
        }
        if let (Some((tn, tv)), Some((n, v))) = (t.virt.as_mut(), c.virt.as_ref()) {
            tn.add(n);
            tv.add(v);
        }
    }
    t
}
