//! The terminal summary of a run ([`RunReport::to_table`]): what the run has, in
//! sections, within 100 columns.
//!
//! Always: the run's identity, cycles and translation latency by part, the TLBs (a
//! level's aggregate only when the level has several structures), the walks. Then only
//! what applies: walk caches for designs that use them (radix and flattened tables; the
//! hashed designs bypass them), the design's own counters and, for hashed designs, the
//! walks by page-table reads (probes, chain lengths); the OS's faults by kind, their share
//! of translation cycles, huge pages, paging and events when there were any; shootdowns
//! when any happened; for a virtualized run (`[virt]`), its nested walks, VM exits and
//! host memory. A section is a list of (label, value) fields, so adding a figure
//! is one line.

use super::columns::{Cell, StatsView};
use super::RunReport;
use crate::pagetable::PageTableConfig;
use std::fmt::Write as _;

/// The summary's width.
const WIDTH: usize = 100;

/// `title` then `label value` fields, two spaces apart, wrapped at [`WIDTH`] under an
/// indent; fields whose value is `None` are left out, and so is a section with none.
fn section(o: &mut String, title: &str, fields: &[(&str, Option<String>)]) {
    let items: Vec<String> = (fields.iter())
        .filter_map(|(l, v)| {
            v.as_ref().map(|v| {
                if l.is_empty() {
                    v.clone()
                } else {
                    format!("{l} {v}")
                }
            })
        })
        .collect();
    if items.is_empty() {
        return;
    }
    let mut line = title.to_string();
    for it in items {
        if line.len() + 2 + it.len() > WIDTH && line.len() > title.len() {
            let _ = writeln!(o, "{line}");
            line = " ".repeat(title.len().min(4)) + &it;
        } else {
            // One space after the title, two between fields.
            line.push_str(match line.len() {
                0 => "",
                n if n == title.len() => " ",
                _ => "  ",
            });
            line.push_str(&it);
        }
    }
    let _ = writeln!(o, "{line}");
}

/// Every VM exit a vCPU took: EPT violations (in translation and at OS events), IPI
/// sends and hypercalls of guest shootdowns, kicks out of the guest (for a guest
/// shootdown or a host-initiated flush), and shadow
/// paging's (#PF intercepts, trapped page-table writes, CR3 writes).
fn virt_exits(h: &crate::virt::VirtStats) -> u64 {
    let x = &h.shadow.exits;
    h.exits.ept_violation
        + h.event_ept_violations
        + h.vipi_send_exits
        + h.vipi_hypercall_exits
        + h.vipi_kicks
        + h.host_kicks
        + x.pf_intercept
        + x.pt_write
        + x.cr3_write
        + h.vm_switches
}

/// A count, shown only when not 0.
fn nz(n: u64) -> Option<String> {
    (n > 0).then(|| n.to_string())
}

fn some(x: impl ToString) -> Option<String> {
    Some(x.to_string())
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * part as f64 / whole as f64)
    }
}

/// Bytes for reading: KiB up to 10 MiB, MiB up to 10 GiB, then GiB (rounded down).
fn size(bytes: u64) -> String {
    match bytes {
        b if b < 10 << 20 => format!("{} KiB", b >> 10),
        b if b < 10 << 30 => format!("{} MiB", b >> 20),
        b => format!("{} GiB", b >> 30),
    }
}

/// A number for reading: integers whole, fractions to 4 significant decimals.
fn short(c: &Cell) -> String {
    match c {
        Cell::Float(x) if x.fract() != 0.0 => format!("{x:.4}"),
        c => c.to_string(),
    }
}

impl RunReport {
    /// A readable summary for the terminal.
    pub fn to_table(&self) -> String {
        let t = &self.stats.total;
        let mut o = String::new();
        let design: Option<PageTableConfig> =
            serde_json::from_value(self.config["page_table"].clone()).ok();
        let title = design.as_ref().map(|d| d.design().title());
        // Designs without levels (the hashed ones) bypass the walk caches.
        let walk_caches_used = design
            .as_ref()
            .is_none_or(|d| !d.design().radix_bits().is_empty());
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
        section(
            &mut o,
            "",
            &[
                ("mmusim", some(self.mmusim_version)),
                ("config", some(text(&self.config["name"]))),
                ("workload", some(text(&self.workload["name"]))),
                ("design", title),
                ("seed", some(self.seed)),
                ("cores", some(self.stats.cores.len())),
                ("hash", some(&self.config_hash)),
            ],
        );
        section(
            &mut o,
            "",
            &[
                ("accesses", some(t.accesses)),
                ("instructions", some(t.instructions)),
                ("cycles", some(t.cycles)),
                (
                    "translation stall",
                    some(format!(
                        "{} ({:.2}% of cycles)",
                        t.stall_cycles,
                        100.0 * t.translation_share
                    )),
                ),
            ],
        );
        let tc = &t.translation_cycles;
        section(
            &mut o,
            "translation latency",
            &[
                (
                    "",
                    some(format!(
                        "{} cycles ({:.2}/access):",
                        tc.total, t.translation_cycles_per_access
                    )),
                ),
                ("TLB", some(tc.tlb)),
                (
                    "walk caches",
                    walk_caches_used.then(|| tc.walk_cache.to_string()),
                ),
                ("PTE reads", some(tc.pte)),
                ("walker wait", nz(tc.wait)),
                ("faults", some(tc.fault)),
            ],
        );
        self.steady_section(&mut o);
        self.tlb_table(&mut o);
        let w = &t.walks;
        let _ = writeln!(o);
        section(
            &mut o,
            "walks",
            &[
                ("", some(w.walks)),
                (
                    "PTE reads/walk",
                    some(format!("{:.3}", w.pte_reads_per_walk)),
                ),
                ("PTE reads from DRAM", some(w.dram_pte_reads)),
                ("latency mean", some(format!("{:.1}", w.latency.mean))),
                ("p50", some(w.latency.p50)),
                ("p90", some(w.latency.p90)),
                ("p99", some(w.latency.p99)),
                ("max", some(w.latency.max)),
            ],
        );
        if walk_caches_used {
            for p in &w.walk_caches {
                let _ = writeln!(
                    o,
                    "  walk cache {:<10} level {}  lookups {:>10}  hits {:>10}  hit rate {}",
                    p.counts.name,
                    p.counts.level,
                    p.counts.lookups,
                    p.counts.hits,
                    pct(p.counts.hits, p.counts.lookups)
                );
            }
        } else if !w.walk_caches.is_empty() {
            let _ = writeln!(o, "  walk caches: bypassed by this design");
        }
        if let Some(a) = &w.asap {
            let (n, c) = (a.predicted_reads, a.cycles_saved);
            let _ = writeln!(
                o,
                "  ASAP: {n} PTE reads prefetched at walk start, {c} cycles saved (serial - ASAP)"
            );
        }
        if let Some(d) = &self.stats.total.direct_segment {
            let _ = writeln!(
                o,
                "  direct segment: {} accesses ({:.1}% of all) translated by its registers, {} TLB lookups avoided",
                d.hits,
                d.share_of_accesses * 100.0,
                d.tlb_lookups_avoided
            );
        }
        super::rmm::summary(
            &mut o,
            self.stats.total.rmm.as_ref(),
            self.stats.rmm.as_ref(),
        );
        if let Some(m) = &self.stats.total.tlb_memory {
            let by: Vec<String> = (m.served_by.iter())
                .map(|s| format!("{} {}", s.level, s.reads))
                .collect();
            let _ = writeln!(
                o,
                "  TLB memory reads (POM-TLB): {} in {} lookups ({}), {} cycles ({:.1}/lookup, in the TLB cycles)",
                m.reads,
                m.lookups,
                by.join(", "),
                m.cycles,
                m.mean_cycles_per_lookup
            );
        }
        super::prefetch::summary(&mut o, self.stats.total.prefetch.as_ref());
        if let Some(v) = &self.stats.total.victima {
            let c = &v.counters;
            let _ = writeln!(
                o,
                "  victima: {} of {} STLB misses served by TLB blocks in the L2 ({:.1}%); blocks inserted {} on miss, {} on eviction ({} background walks); {} held at the end, reach {}",
                c.block_hits,
                c.probes,
                v.hit_rate * 100.0,
                c.inserted_on_miss,
                c.inserted_on_eviction,
                c.background_walks,
                v.blocks_held_4k + v.blocks_held_2m + v.blocks_held_1g,
                crate::addr::ByteSize(v.reach_bytes).describe()
            );
            let lines = |f: fn(&crate::memory::BlockStats) -> u64| -> u64 {
                (self.stats.caches.iter())
                    .filter_map(|c| c.tlb_blocks.as_ref().map(f))
                    .sum()
            };
            let _ = writeln!(
                o,
                "    lines the blocks evicted: {} data, {} PTE; blocks evicted by fills {}, dropped by TLB invalidations {}",
                lines(|b| b.evicted_data_lines),
                lines(|b| b.evicted_pte_lines),
                lines(|b| b.evicted_blocks),
                lines(|b| b.invalidated)
            );
        }
        super::spec::summary(
            &mut o,
            self.stats.total.spectlb.as_ref(),
            self.stats.total.size_prediction.as_ref(),
        );
        if let Some(u) = &self.stats.total.utopia {
            let by: Vec<String> = (u.tag_reads.iter())
                .map(|s| format!("{} {}", s.level, s.reads))
                .collect();
            let _ = writeln!(
                o,
                "  Utopia RestSeg: {} pages placed in it, {} in the FlexSeg (set full), {} freed; {} of {} ways in use ({:.1}%, peak {}); {} RestSeg walks, {} hits ({:.1}%: radix walks avoided); tag reads {} ({} cycles, in the TLB cycles)",
                u.restseg_pages,
                u.flexseg_pages,
                u.restseg_freed,
                u.occupied,
                u.ways,
                u.occupancy * 100.0,
                u.peak_occupied,
                u.restseg_walks,
                u.restseg_hits,
                u.hit_rate * 100.0,
                by.join(", "),
                u.cycles
            );
        }
        self.design_section(&mut o, walk_caches_used);
        self.virt_section(&mut o);
        self.os_section(&mut o);
        self.shootdown_section(&mut o);
        o
    }

    /// What the summary says about cold start: the warm-up before these statistics,
    /// translation cycles without faults, compulsory misses, and the fault-share warning.
    fn steady_section(&self, o: &mut String) {
        let t = &self.stats.total;
        let title = if self.warmup.reached {
            "steady state:"
        } else {
            "COLD (warm-up not reached):"
        };
        section(
            o,
            title,
            &[
                (
                    "warm-up",
                    some(format!(
                        "{} accesses per core",
                        self.warmup.accesses_per_core
                    )),
                ),
                ("", some(format!("({})", self.warmup.rule))),
                (
                    "translation without faults",
                    some(format!(
                        "{} cycles ({:.2}/access)",
                        t.translation_cycles_excl_faults,
                        t.translation_cycles_excl_faults_per_access
                    )),
                ),
                (
                    "compulsory misses",
                    some(format!(
                        "{} ({} cycles)",
                        t.compulsory_misses, t.compulsory_cycles
                    )),
                ),
            ],
        );
        if !self.warmup.reached {
            let _ = writeln!(
                o,
                "WARNING: the run ended inside its warm-up of {} accesses per core: nothing was\n\
                 restarted, every figure below counts from the first access (a cold start).",
                self.warmup.accesses_per_core
            );
        }
        if let Some(w) = self.fault_warning() {
            let _ = writeln!(o, "{w}");
        }
    }

    /// The TLB structures, and a level's aggregate where the level has several.
    fn tlb_table(&self, o: &mut String) {
        let t = &self.stats.total;
        let _ = writeln!(
            o,
            "\n{:<14} {:>5} {:>12} {:>12} {:>9} {:>9}",
            "TLB", "level", "hits", "misses", "miss %", "MPKI"
        );
        let rate = |m: u64, h: u64| {
            if m + h == 0 {
                "-".to_string()
            } else {
                format!("{:.3}", 100.0 * m as f64 / (m + h) as f64)
            }
        };
        for s in &t.tlb {
            let c = &s.counts;
            let _ = writeln!(
                o,
                "{:<14} {:>5} {:>12} {:>12} {:>9} {:>9.3}",
                c.name,
                c.level,
                c.hits,
                c.misses,
                rate(c.misses, c.hits),
                s.mpki
            );
        }
        for l in &t.tlb_levels {
            let n = t
                .tlb
                .iter()
                .filter(|s| s.counts.level == l.counts.level)
                .count();
            if n < 2 {
                continue;
            }
            let hits = l.counts.instruction_hits + l.counts.data_hits;
            let _ = writeln!(
                o,
                "{:<14} {:>5} {:>12} {:>12} {:>9} {:>9.3}",
                format!("(level {})", l.counts.level),
                l.counts.level,
                hits,
                l.misses,
                rate(l.misses, hits),
                l.mpki
            );
        }
        // Coalesced structures (CoLT): how many pages their entries reach.
        for s in &t.tlb {
            if let Some(c) = &s.counts.coalesced {
                let _ = writeln!(
                    o,
                    "  {} coalesced: installs {}  multi-page {}  pages/install {:.3}  \
                     held {} entries covering {} pages ({:.3} per entry)",
                    s.counts.name,
                    c.installs,
                    c.coalesced_fills,
                    c.mean_pages_per_fill,
                    c.entries_held,
                    c.pages_held,
                    c.mean_pages_per_entry
                );
            }
        }
    }

    /// The design's own counters (flattened as in the CSV) and, for designs without
    /// levels, the walks by page-table reads: probes and chain lengths.
    fn design_section(&self, o: &mut String, has_levels: bool) {
        let empty = serde_json::Value::Null;
        let view = StatsView {
            total: &empty,
            page_tables: &self.stats.page_tables,
        };
        let counters = view.design_counters();
        let fields: Vec<(&str, Option<String>)> = (counters.iter())
            .map(|(k, c)| (k.as_str(), Some(short(c))))
            .collect();
        // The table's own counters cover the whole run, warm-up included.
        let title = format!("page table {} (whole run):", view.design().unwrap_or("?"));
        section(o, &title, &fields);
        let h = &self.stats.total.walks.reads_per_walk_histogram;
        if !has_levels && !h.is_empty() {
            let fields: Vec<(String, Option<String>)> = (h.iter().enumerate())
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (format!("{i}:"), some(n)))
                .collect();
            let fields: Vec<(&str, Option<String>)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            section(o, "  walks by page-table lines read", &fields);
        }
    }

    /// A virtualized run's nested walks (references per walk by dimension, the nested
    /// TLB), VM exits by cause and their cycles, gVA → hPA fills, and the host's memory.
    /// Nothing for a native run, whose summary stays as it was.
    fn virt_section(&self, o: &mut String) {
        let Some(v) = &self.stats.total.virt else {
            return;
        };
        // Under shadow paging the walks are one-dimensional (the native walker's lines
        // above): no nested walk, host translation or host walk cache to show.
        let nested = self.config["virt"]["mode"].as_str() != Some("shadow");
        if nested {
            let per_walk = |n: u64| {
                some(if v.nested_walks == 0 {
                    "-".to_string()
                } else {
                    format!("{:.3}", n as f64 / v.nested_walks as f64)
                })
            };
            section(
                o,
                "nested walks",
                &[
                    ("", some(v.nested_walks)),
                    (
                        "refs/walk",
                        per_walk(
                            v.host_refs_for_guest_entries
                                + v.guest_entry_refs
                                + v.host_refs_for_data,
                        ),
                    ),
                    ("of them guest entries", per_walk(v.guest_entry_refs)),
                    (
                        "host for guest entries",
                        per_walk(v.host_refs_for_guest_entries),
                    ),
                    ("host for data", per_walk(v.host_refs_for_data)),
                ],
            );
            // The nested TLB's line only where the config has one (`virt.ntlb`).
            let ntlb = !self.config["virt"]["ntlb"].is_null();
            section(
                o,
                "  host translations",
                &[
                    ("", some(v.host_lookups)),
                    ("nested TLB hits", ntlb.then(|| v.ntlb_hits.to_string())),
                    ("hit rate", ntlb.then(|| pct(v.ntlb_hits, v.host_lookups))),
                ],
            );
            for p in &v.host_walk_caches {
                let _ = writeln!(
                    o,
                    "  host walk cache {:<5} level {}  lookups {:>10}  hits {:>10}  hit rate {}",
                    p.counts.name,
                    p.counts.level,
                    p.counts.lookups,
                    p.counts.hits,
                    pct(p.counts.hits, p.counts.lookups)
                );
            }
        }
        let h = &v.hypervisor;
        section(
            o,
            "VM exits",
            &[
                ("", some(virt_exits(h))),
                ("EPT violations", nz(h.exits.ept_violation)),
                ("of them spurious", nz(h.spurious_ept_violations)),
                ("at OS events", nz(h.event_ept_violations)),
                ("IPI sends", nz(h.vipi_send_exits)),
                ("hypercalls", nz(h.vipi_hypercall_exits)),
                ("kicks", nz(h.vipi_kicks)),
                ("host-flush kicks", nz(h.host_kicks)),
                ("#PF intercepts", nz(h.shadow.exits.pf_intercept)),
                ("page-table writes", nz(h.shadow.exits.pt_write)),
                ("CR3 writes", nz(h.shadow.exits.cr3_write)),
                ("VM switches", nz(h.vm_switches)),
                ("exit cycles", some(h.exit_cycles)),
                ("host fault cycles", some(h.host_fault_cycles)),
                ("event cycles", nz(h.event_cycles)),
            ],
        );
        section(
            o,
            "  vCPU",
            &[
                ("preemptions", nz(h.preemptions)),
                ("preempted cycles", nz(h.preempted_cycles)),
                ("guest shootdowns", nz(h.vipi_shootdowns)),
                ("flushes at entry", nz(h.vipi_entry_flushes)),
                ("host flushes started", nz(h.host_flushes)),
                ("host flush cycles", nz(h.host_flush_cycles)),
                ("host flushes taken", nz(h.host_flushes_taken)),
                ("their cycles", nz(h.host_flush_remote_cycles)),
                ("VPID flushes", nz(h.vpid_flushes)),
                ("VM switch cycles", nz(h.vm_switch_cycles)),
            ],
        );
        let sh = &h.shadow;
        section(
            o,
            "  shadow paging",
            &[
                ("hidden faults filled", nz(sh.fills)),
                ("updates", nz(sh.updates)),
                ("host faults", nz(sh.host_faults)),
                ("work cycles", nz(sh.work_cycles)),
                ("page-table writes at events", nz(sh.event_pt_writes)),
                ("event cycles", nz(sh.event_cycles)),
                ("CR3 cycles", nz(sh.cr3_cycles)),
            ],
        );
        if nested {
            section(
                o,
                "  TLB fills after nested walks",
                &[
                    ("", some(h.nested_fills)),
                    ("splintered", some(h.splintered_fills)),
                ],
            );
        }
        self.host_section(o);
    }

    /// The host's memory and, on a machine of several VMs, each VM's share.
    fn host_section(&self, o: &mut String) {
        if let Some(host) = &self.stats.host {
            section(
                o,
                "host memory",
                &[
                    ("backed", some(size(host.backed_bytes))),
                    ("2M pages", nz(host.backed_2m_pages)),
                    ("1G pages", nz(host.backed_1g_pages)),
                    ("host tables", some(size(host.host_table_bytes))),
                    ("shadow tables", host.shadow_table_bytes.map(size)),
                    ("free", some(size(host.physical.free_bytes))),
                ],
            );
            for vm in &host.vms {
                let asids: Vec<String> = vm.asids.iter().map(|a| a.to_string()).collect();
                section(
                    o,
                    &format!("  VM {}", vm.vm),
                    &[
                        ("address spaces", some(asids.join(","))),
                        ("guest memory", some(size(vm.guest_phys_bytes_in_use))),
                        ("guest tables", some(size(vm.guest_page_table_bytes))),
                        ("host table", some(size(vm.host_table_bytes))),
                        ("switched in", some(vm.vm_switches_in)),
                    ],
                );
            }
        }
    }

    /// Faults by kind and their share of translation, memory, huge pages, paging,
    /// workload events, context switches.
    fn os_section(&self, o: &mut String) {
        let t = &self.stats.total;
        let (h, pg, ev, sc) = (&t.huge_pages, &t.paging, &t.os_events, &t.sched);
        let tc = &t.translation_cycles;
        section(
            o,
            "faults",
            &[
                ("minor", some(t.minor_faults)),
                ("of them 2M", nz(h.faults_2m)),
                ("1G", nz(h.faults_1g)),
                ("major", nz(pg.major_faults)),
                ("restore", nz(t.restore_faults)),
                ("COW", nz(ev.cow_faults)),
                ("protection", nz(ev.protection_faults)),
                ("fault cycles", some(tc.fault)),
                ("share of translation", some(pct(tc.fault, tc.total))),
            ],
        );
        section(
            o,
            "memory",
            &[
                ("page tables", some(size(self.stats.page_table_bytes))),
                ("physical in use", some(size(self.stats.phys_bytes_in_use))),
                ("mapped by faults", some(size(h.mapped_bytes))),
                ("page-table evictions", nz(t.page_table_evictions)),
            ],
        );
        let phys = &self.stats.physical;
        if h.faults_2m
            + h.faults_1g
            + h.fallbacks
            + h.promotions
            + h.reservations
            + h.splits
            + phys.pinned_frames
            > 0
        {
            section(
                o,
                "huge pages",
                &[
                    ("2M", some(h.faults_2m)),
                    ("1G", some(h.faults_1g)),
                    ("fallbacks", some(h.fallbacks)),
                    ("alloc failures", nz(h.alloc_failures)),
                    ("promotions", nz(h.promotions)),
                    ("collapse failures", nz(h.collapse_failures)),
                    ("pages copied", nz(h.copied_4k)),
                    ("promotion cycles", nz(h.promotion_cycles)),
                    ("reservations", nz(h.reservations)),
                    ("broken", nz(phys.reservations_broken)),
                    ("splits", nz(h.splits)),
                    ("demotions", nz(h.demotions)),
                    ("pinned frames", nz(phys.pinned_frames)),
                    ("free 2M blocks", some(phys.free_2m_blocks)),
                ],
            );
        }
        section(
            o,
            "paging",
            &[
                ("major faults", nz(pg.major_faults)),
                ("evictions", nz(pg.evictions)),
                ("write-backs", nz(pg.writebacks)),
            ],
        );
        section(
            o,
            "events",
            &[
                ("mmap", nz(ev.mmap_calls)),
                ("munmap", nz(ev.munmap_calls)),
                ("madvise", nz(ev.madvise_calls)),
                ("mprotect", nz(ev.mprotect_calls)),
                ("fork", nz(ev.fork_calls)),
                ("exit", nz(ev.exits)),
                ("migrate", nz(ev.migrate_calls)),
                ("pages unmapped", nz(ev.unmapped_pages)),
                ("populated", nz(ev.populated_pages)),
                ("migrated", nz(ev.migrated_pages)),
                ("COW reuses", nz(ev.cow_reuses)),
                ("event cycles", nz(ev.event_cycles)),
            ],
        );
        if sc.context_switches > 0 {
            section(
                o,
                "context switches",
                &[
                    ("", some(sc.context_switches)),
                    ("cycles", some(sc.switch_cycles)),
                    ("ASID flushes", nz(sc.asid_flushes)),
                    ("full flushes", nz(sc.full_flushes)),
                ],
            );
        }
    }

    /// Shootdowns, when any happened.
    fn shootdown_section(&self, o: &mut String) {
        let s = &self.stats.total.shootdown;
        if s.shootdowns == 0 && s.ipis_received == 0 && s.deferred_flushes == 0 {
            return;
        }
        let triggers: Vec<String> = (s.by_trigger.iter())
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        section(
            o,
            "shootdowns",
            &[
                ("", some(s.shootdowns)),
                ("IPIs", some(s.ipis_sent)),
                (
                    "initiator stall",
                    some(format!("{} cycles", s.initiator_cycles)),
                ),
                ("remote stall", some(format!("{} cycles", s.remote_cycles))),
                (
                    "share of cycles",
                    some(format!("{:.2}%", 100.0 * s.share_of_cycles)),
                ),
                ("stale hits", some(s.stale_hits)),
                ("deferred flushes", nz(s.deferred_flushes)),
                (
                    "by trigger:",
                    (!triggers.is_empty()).then(|| triggers.join(", ")),
                ),
            ],
        );
    }
}
