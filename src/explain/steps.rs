//! The access's own steps, from the simulator's events: TLB probes, the structures
//! probed beside the walk, walks with their reads, faults, and a nested walk's reads.

use super::step::{Kind, Steps};
use super::{level_name, Job};
use crate::addr::{PageSize, PhysAddr};
use crate::pagetable::{PageTable, NO_NODE};
use crate::sim::record::Event;
use crate::sim::Simulator;
use serde_json::json;

impl Job<'_> {
    /// Every step of the access, from its events.
    pub(super) fn steps<PT: PageTable>(&self, o: &mut Steps, sim: &Simulator<PT>, ev: &[Event]) {
        let core = self.core;
        let radix = sim.page_table(core).has_levels();
        let lat = sim.tlb_latencies(core);
        let pscs = sim.walk_cache_names(core);
        let mem = sim.memory_levels(core);
        let pt = sim.page_table(core);
        let mut walk = 0;
        // The highest level the next read resolves: a read at a lower level resolved
        // several (a flattened table's merged node).
        let mut next_level = pt.levels();
        for (i, e) in ev.iter().enumerate() {
            match e {
                Event::Tlb {
                    hit_level, hidden, ..
                } => {
                    let probed = hit_level.map_or(lat.len(), |h| h + 1);
                    for (l, &cyc) in lat.iter().enumerate().take(probed) {
                        let names = sim.tlb_names(core, l).join(", ");
                        let hit = *hit_level == Some(l);
                        let hid = l == 0 && *hidden > 0;
                        o.push(
                            Kind::Tlb,
                            2,
                            format!(
                                "TLB level {} ({names}): {}, {cyc} cycle(s){}",
                                l + 1,
                                if hit { "hit" } else { "miss" },
                                if hid { " (hidden by the pipeline)" } else { "" }
                            ),
                            json!({
                                "structure": "tlb", "level": l + 1, "names": names, "hit": hit,
                                "cycles": cyc, "hidden": hid,
                            }),
                        );
                    }
                    // The lookup's memory reads (a POM-TLB's set lines), recorded just
                    // before it: the probe waits for the slowest.
                    let first = (ev[..i].iter())
                        .rposition(|e| {
                            !matches!(e, Event::TlbRead { .. } | Event::RestSegRead { .. })
                        })
                        .map_or(0, |k| k + 1);
                    for r in &ev[first..i] {
                        let Event::TlbRead {
                            paddr,
                            served_by,
                            cycles,
                        } = r
                        else {
                            continue;
                        };
                        let (name, _) = &mem[(*served_by).min(mem.len() - 1)];
                        o.push(
                            Kind::Tlb,
                            4,
                            format!("POM-TLB set line read at {paddr:#x}: {name} {cycles} cycles"),
                            json!({
                                "structure": "pom_tlb", "paddr": paddr, "served_by": name,
                                "cycles": cycles,
                            }),
                        );
                    }
                    // A RestSeg walk (os.utopia) after the last level missed.
                    for r in &ev[first..i] {
                        if let Event::RestSegRead {
                            paddr,
                            served_by,
                            cycles,
                            frame,
                        } = r
                        {
                            let (name, _) = &mem[(*served_by).min(mem.len() - 1)];
                            let found = match frame {
                                Some(f) => format!("a tag matches: frame {f:#x}, no radix walk"),
                                None => "no tag matches: the radix walk follows".into(),
                            };
                            o.push(
                                Kind::Walk,
                                2,
                                format!(
                                    "RestSeg walk (os.utopia): the set's tag line at {paddr:#x}: {name} {cycles} cycles; {found}"
                                ),
                                json!({
                                    "walk": "restseg", "paddr": paddr, "served_by": name,
                                    "cycles": cycles, "hit": frame.is_some(),
                                    "frame": frame,
                                }),
                            );
                        }
                    }
                }
                Event::TlbRead { .. } | Event::RestSegRead { .. } => {}
                Event::VictimaProbe { hit_cycles } => {
                    let text = match hit_cycles {
                        Some(c) => format!(
                            "Victima: the L2 holds the page's TLB block: translation read in {c} cycle(s), the walk aborted"
                        ),
                        None => "Victima: no TLB block holds the page in the L2 (probed beside the walk)".into(),
                    };
                    let fields = json!({
                        "structure": "victima", "hit": hit_cycles.is_some(), "cycles": hit_cycles,
                    });
                    o.push(Kind::Tlb, 2, text, fields);
                }
                Event::SpecTlb {
                    outcome,
                    frame,
                    cycles,
                } => {
                    let f = frame.map_or("no prediction".into(), |f| {
                        format!("frame {f:#x} predicted")
                    });
                    o.push(
                        Kind::Tlb,
                        2,
                        format!(
                            "SpecTLB (probed beside the walk): {f}; {outcome}; {cycles} cycle(s) added (a correct speculation's walk runs in the background)"
                        ),
                        json!({
                            "structure": "spec_tlb", "frame": frame,
                            "outcome": outcome.to_string(), "cycles": cycles,
                        }),
                    );
                }
                Event::PrefetchBuffer { late } => {
                    let text = match late {
                        Some(0) => "Prefetch buffer: holds the page (a prefetch walk fetched it): no walk".to_string(),
                        Some(c) => format!(
                            "Prefetch buffer: holds the page, its prefetch walk still {c} cycle(s) from done (late): waited for, no walk"
                        ),
                        None => "Prefetch buffer: does not hold the page".into(),
                    };
                    let fields = json!({"hit": late.is_some(), "late_cycles": late});
                    o.push(Kind::PrefetchBuffer, 2, text, fields);
                }
                Event::Wait { cycles } => {
                    let text = format!("Waiting for a free walker: {cycles} cycles");
                    o.push(Kind::Wait, 2, text, json!({"cycles": cycles}));
                }
                Event::DirectSegment {
                    base,
                    limit,
                    offset,
                    cycles,
                    hidden,
                } => {
                    let paddr = self.addr.wrapping_add(*offset);
                    o.push(
                        Kind::DirectSegment,
                        2,
                        format!(
                            "Direct segment [{base:#x}, {limit:#x}) -> physical from {:#x} holds the address: physical = va + OFFSET = {paddr:#x}, checked beside the L1 TLB probe in {cycles} cycle(s){}; no TLB lookup, no walk, no fill",
                            base.wrapping_add(*offset),
                            if *hidden > 0 { " (hidden by the pipeline)" } else { "" }
                        ),
                        json!({
                            "base": base, "limit": limit, "offset": offset, "paddr": paddr,
                            "cycles": cycles, "hidden": *hidden > 0,
                        }),
                    );
                }
                Event::WalkCache { .. } => {}
                Event::WalkStart {
                    start,
                    probe_cycles,
                } => {
                    walk += 1;
                    next_level = start.map_or(pt.levels(), |s| s.level as usize);
                    let probes: Vec<(String, u8, bool)> = ev[..i]
                        .iter()
                        .rev()
                        .take_while(|e| matches!(e, Event::WalkCache { .. }))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .filter_map(|e| match e {
                            Event::WalkCache { psc, level, hit } => {
                                Some((pscs[*psc].0.clone(), *level, *hit))
                            }
                            _ => None,
                        })
                        .collect();
                    let probe_text: Vec<String> = (probes.iter())
                        .map(|(name, level, hit)| {
                            format!(
                                "{name} (level {level}) {}",
                                if *hit { "hit" } else { "miss" }
                            )
                        })
                        .collect();
                    // The first node read may resolve several levels (a flattened table's
                    // merged node): name it by the levels down to its first read's.
                    let first = ev[i + 1..].iter().find_map(|e| match e {
                        Event::PteRead { step, .. } => Some(step.level as usize),
                        _ => None,
                    });
                    let table = |top: usize| {
                        crate::pagetable::flattened::node_name(
                            top,
                            first.unwrap_or(top).clamp(1, top),
                        )
                    };
                    let (from, start_level, start_table) = match start {
                        Some(s) => {
                            let levels = pt.levels();
                            let skipped: Vec<String> = ((s.level as usize + 1)..=levels)
                                .rev()
                                .map(level_name)
                                .collect();
                            // The deepest hit chose the start: the walk cache of the level above.
                            let by = pscs
                                .iter()
                                .find(|p| p.1 as usize == s.level as usize + 1)
                                .map_or("a", |p| p.0.as_str());
                            let at = pt.node_paddr(s.node).unwrap_or(PhysAddr(0));
                            let text = format!(
                                "the {by} walk-cache hit ({} entry) skips the {} read(s): start at the {} table {at:#x}",
                                level_name(s.level as usize + 1),
                                skipped.join(", "),
                                table(s.level as usize),
                            );
                            (text, Some(s.level as usize), Some(at.0))
                        }
                        None if radix => {
                            let at = pt.node_paddr(0).unwrap_or(PhysAddr(0));
                            let text = format!(
                                "start at the root ({} table {at:#x})",
                                table(pt.levels()),
                            );
                            (text, Some(pt.levels()), Some(at.0))
                        }
                        None => ("the reads start at the hash indices".into(), None, None),
                    };
                    let probed = if probes.is_empty() && *probe_cycles == 0 {
                        String::new()
                    } else if probes.is_empty() {
                        // A design's own walk cache (cuckoo's), inside its walk.
                        format!("the design's walk cache probed in {probe_cycles} cycle(s); ")
                    } else {
                        format!(
                            "walk caches probed in {probe_cycles} cycle(s): {}; ",
                            probe_text.join(", ")
                        )
                    };
                    let probes: Vec<_> = (probes.iter())
                        .map(|(name, level, hit)| json!({"name": name, "level": level, "hit": hit}))
                        .collect();
                    o.push(
                        Kind::Walk,
                        2,
                        format!("Walk {walk}: {probed}{from}"),
                        json!({
                            "walk": walk, "probe_cycles": probe_cycles, "walk_caches": probes,
                            "start_level": start_level, "start_table": start_table,
                        }),
                    );
                }
                Event::PteRead {
                    step,
                    served_by,
                    cycles,
                } => {
                    let (name, line) = &mem[(*served_by).min(mem.len() - 1)];
                    let level = step.level as usize;
                    let (what, table, index) = if radix && next_level > level {
                        // A merged node: 9 index bits per level it resolves.
                        let bytes = 4096u64 << (9 * (next_level - level));
                        let table = crate::pagetable::flattened::node_name(next_level, level);
                        let index = (step.pte_addr.0 & (bytes - 1)) >> 3;
                        (
                            format!("{table} index {index:#07x}"),
                            Some(table),
                            Some(index),
                        )
                    } else if radix {
                        // Radix tables are one 4 KiB frame of 8-byte entries each.
                        let index = step.pte_addr.offset(PageSize::Size4K) >> 3;
                        let table = level_name(level);
                        (
                            format!("{table:<5} index {index:#05x}"),
                            Some(table),
                            Some(index),
                        )
                    } else {
                        (format!("group {:<3}", step.group), None, None)
                    };
                    next_level = level.saturating_sub(1);
                    let next = (step.next != NO_NODE)
                        .then(|| pt.node_paddr(step.next))
                        .flatten();
                    let then = next.map_or(String::new(), |p| format!("  -> table {p:#x}"));
                    let line_addr = step.pte_addr.0 & !(line - 1);
                    o.push(
                        Kind::PteRead,
                        4,
                        format!(
                            "PTE read  {what}  at {:#x}  line {line_addr:#x}  {name} {cycles} cycles{then}",
                            step.pte_addr,
                        ),
                        json!({
                            "walk": walk, "level": level, "table": table, "index": index,
                            "group": (!radix).then_some(step.group), "paddr": step.pte_addr.0,
                            "line": line_addr, "served_by": name, "cycles": cycles,
                            "next_table": next.map(|p| p.0),
                        }),
                    );
                }
                Event::WalkEnd {
                    pte_cycles,
                    translation,
                } => {
                    let result = match translation {
                        Some(t) => format!("found a {} page at frame {:#x}", t.size, t.frame),
                        None => "not present".into(),
                    };
                    o.push(
                        Kind::WalkEnd,
                        2,
                        format!(
                            "Walk {walk} ends: {result}; PTE reads charged {pte_cycles} cycles{}",
                            if radix {
                                ""
                            } else {
                                " (reads of one group cost the slowest)"
                            }
                        ),
                        json!({
                            "walk": walk, "found": translation.is_some(),
                            "page_size": translation.map(|t| t.size.to_string()),
                            "frame": translation.map(|t| t.frame.0), "pte_cycles": pte_cycles,
                        }),
                    );
                }
                Event::NestedRead { .. }
                | Event::NestedWalkEnd { .. }
                | Event::HostFault { .. } => nested_step(o, e, &mem, walk),
                Event::Fault { cycles, evicted } => {
                    o.push(
                        Kind::Fault,
                        2,
                        format!(
                            "Page fault: the OS maps the page ({cycles} cycles){}; the access walks again",
                            evicted.map_or(String::new(), |e| format!(
                                ", evicting the translation of {:#x} (address space {})",
                                e.vaddr, e.asid
                            ))
                        ),
                        json!({
                            "fault": "page", "cycles": cycles,
                            "evicted": evicted.map(|e| json!({"vaddr": e.vaddr.0, "asid": e.asid})),
                        }),
                    );
                }
            }
        }
    }
}

/// One step of a nested walk (a virtualized machine), for [`Job::steps`]: a reference by
/// dimension and level, the walk's end, or an EPT violation.
fn nested_step(o: &mut Steps, e: &Event, mem: &[(String, u64)], walk: usize) {
    match e {
        Event::NestedRead {
            r,
            served_by,
            cycles,
        } => {
            let (name, line) = &mem[(*served_by).min(mem.len() - 1)];
            let level = |l: u8| {
                if l == 0 {
                    "entry".to_string()
                } else {
                    level_name(l as usize).to_string()
                }
            };
            let (what, dim) = match r.dim {
                crate::virt::Dimension::HostForGuestPte => (
                    format!(
                        "host {:<5} for the guest {} table's gPA",
                        level(r.host_level),
                        level(r.guest_level)
                    ),
                    "host_for_guest_pte",
                ),
                crate::virt::Dimension::GuestPte => (
                    format!("guest {:<5} entry", level(r.guest_level)),
                    "guest_pte",
                ),
                crate::virt::Dimension::HostForData => (
                    format!("host {:<5} for the data's gPA", level(r.host_level)),
                    "host_for_data",
                ),
            };
            let line_addr = r.hpa.0 & !(line - 1);
            o.push(
                Kind::PteRead,
                4,
                format!(
                    "read  {what}  at hPA {:#x}  line {line_addr:#x}  {name} {cycles} cycles",
                    r.hpa,
                ),
                json!({
                    "walk": walk, "dimension": dim, "host_level": r.host_level,
                    "guest_level": r.guest_level, "paddr": r.hpa.0, "line": line_addr,
                    "served_by": name, "cycles": cycles,
                }),
            );
        }
        Event::NestedWalkEnd {
            pte_cycles,
            host_probes,
            host_probe_cycles,
            outcome,
        } => {
            let (result, found) = match outcome {
                crate::walker::NestedOutcome::Done(w) => (format!(
                    "gPA page {:#x} ({}), host page {:#x} ({}): the TLB takes a {} page at hPA {:#x}",
                    w.guest.frame.0, w.guest.size, w.host.frame, w.host.size, w.page.size, w.page.frame
                ), Some((w.page.size.to_string(), w.page.frame.0))),
                crate::walker::NestedOutcome::GuestFault => {
                    ("the guest table does not map it (a guest page fault)".into(), None)
                }
                crate::walker::NestedOutcome::HostFault(gpa) => (format!(
                    "the host table does not map gPA {:#x} (an EPT violation)",
                    gpa.0
                ), None),
            };
            o.push(
                Kind::WalkEnd,
                2,
                format!(
                    "Nested walk {walk} ends: {result}; {host_probes} host walk(s), host caches probed in {host_probe_cycles} cycle(s); reads charged {pte_cycles} cycles"
                ),
                json!({
                    "walk": walk, "nested": true, "found": found.is_some(),
                    "page_size": found.as_ref().map(|f| &f.0), "frame": found.as_ref().map(|f| f.1),
                    "host_walks": host_probes, "host_probe_cycles": host_probe_cycles,
                    "pte_cycles": pte_cycles,
                }),
            );
        }
        Event::HostFault {
            gpa,
            exit_cycles,
            host_cycles,
        } => {
            o.push(
                Kind::Fault,
                2,
                format!(
                    "EPT violation: a VM exit ({exit_cycles} cycles) and the host backs gPA {:#x} ({host_cycles} cycles)",
                    gpa.0
                ),
                json!({
                    "fault": "ept_violation", "gpa": gpa.0, "exit_cycles": exit_cycles,
                    "cycles": host_cycles,
                }),
            );
        }
        _ => {}
    }
}
