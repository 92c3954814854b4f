//! The teaching view, `mmusim explain ADDR`: how a virtual address splits for the
//! configured page table, and the translation it causes, step by step.
//!
//! In: a system config (file or preset, `--set` overrides), an address, addresses to
//! access first (`--warm`, so that walk caches and data caches are warm), and a core.
//! Out: a text report.
//!
//! The walk shown is the simulator's own: the accesses run through
//! [`Simulator::access_recorded`] with a `Vec<Event>` recorder, so every line comes from
//! the TLBs, walker, memory system and OS as they ran (no second model), and the cycle
//! breakdown is the difference of the core's own counters before and after the access,
//! the same accounting `result.json` reports. Only the address split is computed here,
//! from the config (radix: bit fields) or by the design itself
//! ([`Teachable::index_parts`](crate::pagetable::Teachable::index_parts): hash indices).

use crate::addr::{AccessKind, PageSize, PhysAddr, VirtAddr};
use crate::config::SystemConfig;
use crate::os::frames::FrameAllocator;
use crate::pagetable::{with_design, DesignVisitor, PageTable, PageTableConfig, NO_NODE};
use crate::sim::record::Event;
use crate::sim::{CoreStats, Simulator};
use crate::workload::{Access, AccessSource, WorkloadError};
use crate::SimError;
use std::fmt::Write as _;

/// What to explain.
pub struct Request<'a> {
    /// Config file or preset name, or TOML text (default: the Skylake-like preset).
    pub config: Option<crate::run::Given<'a>>,
    pub sets: &'a [String],
    /// The address, hex (`0x...`) or decimal.
    pub addr: &'a str,
    /// Addresses to access first, in order; each argument may hold several, comma
    /// separated.
    pub warm: &'a [String],
    pub core: usize,
}

/// Parse an address: `0x` hex or decimal, `_` allowed between digits.
pub fn parse_addr(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// An argument of `explain` that was refused, and why (`msg` starts with its value).
#[derive(Clone, Debug)]
pub struct ArgError {
    pub arg: Arg,
    pub msg: String,
}

/// Which argument: the address, a warm-up address (its place among them, from 0), or
/// the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Addr,
    Warm(usize),
    Core,
}

impl Arg {
    /// The command line's name of the argument.
    pub fn flag(self) -> &'static str {
        match self {
            Arg::Addr => "ADDR",
            Arg::Warm(_) => "--warm",
            Arg::Core => "--core",
        }
    }
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.arg.flag(), self.msg)
    }
}

/// Why there is no report: config errors (file, line and key), refused arguments, or
/// a failed simulation.
#[derive(Clone, Debug)]
pub enum Failure {
    Config(Vec<crate::loader::ConfigError>),
    Args(Vec<ArgError>),
    Sim(String),
}

impl Failure {
    /// The lines the command line prints.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Failure::Config(es) => es.iter().map(|e| e.to_string()).collect(),
            Failure::Args(es) => es.iter().map(|e| e.to_string()).collect(),
            Failure::Sim(e) => vec![e.clone()],
        }
    }
}

/// Build the report, or every problem found (config errors name file, line and key;
/// address errors name the argument).
pub fn explain(req: &Request) -> Result<String, Vec<String>> {
    explain_checked(req).map_err(|f| f.lines())
}

/// [`explain`], its problems with their parts.
pub fn explain_checked(req: &Request) -> Result<String, Failure> {
    let inputs =
        crate::run::load_given_ahead(req.config, None, None, req.sets).map_err(Failure::Config)?;
    let sys = &inputs.system;
    let va_bits = sys.page_table.va_bits();
    let mut errors = Vec::new();
    let mut check = |arg: Arg, s: &str| -> Option<u64> {
        let Some(a) = parse_addr(s) else {
            let msg = format!("`{s}`: not an address (hex 0x... or decimal)");
            errors.push(ArgError { arg, msg });
            return None;
        };
        if va_bits < 64 && a >> va_bits != 0 {
            let msg = format!(
                "{a:#x}: beyond the {va_bits}-bit virtual address space of the {} page table (addresses below {:#x})",
                sys.page_table.design().title(),
                1u64 << va_bits
            );
            errors.push(ArgError { arg, msg });
            return None;
        }
        Some(a)
    };
    let addr = check(Arg::Addr, req.addr);
    let warm: Vec<Option<u64>> = req
        .warm
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|w| !w.trim().is_empty())
        .enumerate()
        .map(|(i, w)| check(Arg::Warm(i), w))
        .collect();
    if req.core >= sys.sim.cores as usize {
        errors.push(ArgError {
            arg: Arg::Core,
            msg: format!(
                "{}: the config has {} core(s) (sim.cores)",
                req.core, sys.sim.cores
            ),
        });
    }
    let (Some(addr), true) = (addr, errors.is_empty()) else {
        return Err(Failure::Args(errors));
    };
    let warm: Vec<u64> = warm.into_iter().flatten().collect();
    let job = Job {
        sys,
        core: req.core,
        addr,
        warm: &warm,
    };
    with_design(&sys.page_table, &sys.os, job).map_err(|e| Failure::Sim(e.0))
}

/// The conventional x86-64 name of radix level `level` (1 = leaf).
fn level_name(level: usize) -> String {
    match level {
        1 => "PT".into(),
        2 => "PD".into(),
        3 => "PDPT".into(),
        4 => "PML4".into(),
        5 => "PML5".into(),
        l => format!("L{l}"),
    }
}

/// The machine's cores get no workload: `explain` feeds accesses one at a time.
struct NoAccesses;

impl AccessSource for NoAccesses {
    fn fill(&mut self, _buf: &mut Vec<Access>, _max: usize) -> Result<(), WorkloadError> {
        Ok(())
    }
}

/// A core's counters that one access changes.
#[derive(Clone, Copy, Default)]
struct Counts {
    tlb: u64,
    walk_cache: u64,
    pte: u64,
    wait: u64,
    fault: u64,
    total: u64,
    stall: u64,
    walks: u64,
    pte_reads: u64,
    faults: u64,
}

impl Counts {
    fn of(c: &CoreStats) -> Counts {
        let t = &c.counters.translation;
        Counts {
            tlb: t.tlb,
            walk_cache: t.walk_cache,
            pte: t.pte,
            wait: t.wait,
            fault: t.fault,
            total: t.total,
            stall: c.counters.stall_cycles,
            walks: c.walks,
            pte_reads: c.pte_reads,
            faults: c.os.minor_faults + c.os.restore_faults,
        }
    }
    fn minus(&self, b: &Counts) -> Counts {
        Counts {
            tlb: self.tlb - b.tlb,
            walk_cache: self.walk_cache - b.walk_cache,
            pte: self.pte - b.pte,
            wait: self.wait - b.wait,
            fault: self.fault - b.fault,
            total: self.total - b.total,
            stall: self.stall - b.stall,
            walks: self.walks - b.walks,
            pte_reads: self.pte_reads - b.pte_reads,
            faults: self.faults - b.faults,
        }
    }
}

struct Job<'a> {
    sys: &'a SystemConfig,
    core: usize,
    addr: u64,
    warm: &'a [u64],
}

impl DesignVisitor for Job<'_> {
    type Out = Result<String, SimError>;
    fn visit<PT: PageTable>(
        self,
        make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> Self::Out {
        self.run(make)
    }
}

impl Job<'_> {
    fn run<PT: PageTable>(
        &self,
        make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> Result<String, SimError> {
        let n = self.sys.os.tasks(self.sys.sim.cores) as usize;
        let sources: Vec<Box<dyn AccessSource>> = (0..n)
            .map(|_| Box::new(NoAccesses) as Box<dyn AccessSource>)
            .collect();
        let mut sim = Simulator::build(self.sys, sources, make)?;
        let core = self.core;
        let load = |vaddr| Access {
            vaddr,
            kind: AccessKind::Load,
            instrs: 1,
        };
        let counts = |sim: &Simulator<PT>| Counts::of(&sim.stats().cores[core]);
        let mut o = String::new();
        let asid = sim.asid(core);
        let _ = writeln!(
            o,
            "mmusim explain: virtual address {:#x}, core {core} (address space {asid}), config {}",
            self.addr, self.sys.name
        );

        if !self.warm.is_empty() {
            let _ = writeln!(o, "\nWarm-up accesses, in order:");
        }
        for &w in self.warm {
            let before = counts(&sim);
            let mut ev = Vec::new();
            sim.access_recorded(core, load(w), &mut ev)?;
            let d = counts(&sim).minus(&before);
            let tlb = match ev.first() {
                Some(Event::Tlb {
                    hit_level: Some(l), ..
                }) => format!("TLB level {} hit", l + 1),
                Some(Event::DirectSegment { .. }) => "direct segment (no TLB lookup)".into(),
                _ => "TLB miss".into(),
            };
            let _ = writeln!(
                o,
                "  {w:#x}: {tlb}, {} walk(s), {} PTE read(s), {} page fault(s); {} translation cycles",
                d.walks, d.pte_reads, d.faults, d.total
            );
        }

        self.split(&mut o, sim.page_table(core), asid);

        let before = counts(&sim);
        let mut ev = Vec::new();
        sim.access_recorded(core, load(self.addr), &mut ev)?;
        let d = counts(&sim).minus(&before);
        let _ = writeln!(o, "\nAccess {:#x} (a load):", self.addr);
        self.steps(&mut o, &sim, &ev);

        let pt = sim.page_table(core);
        match pt.translate(asid, VirtAddr(self.addr)) {
            Some(tr) => {
                let off = self.addr & (tr.size.bytes() - 1);
                let gpa = crate::addr::GuestPhysAddr(tr.frame.0 + off);
                match sim.host_translation(asid, gpa) {
                    // A virtualized machine: the guest's frame is guest-physical.
                    Some(h) => {
                        let hoff = gpa.0 & (h.size.bytes() - 1);
                        let _ = writeln!(
                            o,
                            "\nGuest-physical address {:#x}: frame {:#x} of a guest {} page + offset {off:#x}\nHost-physical address {:#x}: frame {:#x} of a host {} page + offset {hoff:#x}",
                            gpa.0,
                            tr.frame,
                            tr.size,
                            h.frame + hoff,
                            h.frame,
                            h.size
                        );
                    }
                    None => {
                        let _ = writeln!(
                            o,
                            "\nPhysical address {:#x}: frame {:#x} of a {} page + offset {off:#x}",
                            tr.frame + off,
                            tr.frame,
                            tr.size
                        );
                    }
                }
            }
            None => {
                let _ = writeln!(o, "\nNo translation (not mapped after the access)");
            }
        }
        let _ = writeln!(
            o,
            "Translation cycles: TLB {} + walk caches {} + PTE reads {} + wait {} + fault {} = {}",
            d.tlb, d.walk_cache, d.pte, d.wait, d.fault, d.total
        );
        let hidden = d.total - d.stall;
        let _ = writeln!(
            o,
            "Simulator counters for this access: walks {}, PTE reads {}, page faults {}; the core stalled {} cycles{}",
            d.walks,
            d.pte_reads,
            d.faults,
            d.stall,
            if hidden > 0 {
                format!(" ({hidden} hidden: the pipeline overlaps the L1 TLB probe)")
            } else {
                String::new()
            }
        );
        Ok(o)
    }

    /// How the address splits: radix bit fields from the config, page numbers and
    /// offsets per page size, and a hashed design's own indices.
    fn split<PT: PageTable>(&self, o: &mut String, pt: &PT, asid: u16) {
        let va = self.addr;
        let va_bits = self.sys.page_table.va_bits();
        let top = va_bits - 1;
        let os_size = self.sys.os.page_size;
        let digits = (va_bits as usize).div_ceil(4);
        let _ = writeln!(
            o,
            "\nHow {va:#0w$x} splits ({} page table, {va_bits}-bit virtual addresses):",
            self.sys.page_table.design().title(),
            w = digits + 2
        );
        if let PageTableConfig::Flattened(c) = &self.sys.page_table {
            for l in crate::pagetable::flattened::Flattened::split_lines(c, va) {
                let _ = writeln!(o, "  {l}");
            }
        }
        let bits = self.sys.page_table.radix_bits();
        let mut sizes: Vec<(PageSize, Option<String>)> = Vec::new();
        if bits.is_empty() {
            // Hashed designs hold every page size.
            sizes.extend(PageSize::ALL.into_iter().map(|s| (s, None)));
        } else {
            // Levels top first; the index of level l starts at 12 + the bits below it.
            let n = bits.len();
            let mut shift = 12 + bits.iter().sum::<u32>();
            for (i, b) in bits.iter().enumerate() {
                shift -= b;
                let level = n - i;
                let idx = (va >> shift) & ((1u64 << b) - 1);
                let _ = writeln!(
                    o,
                    "  {:<5} index  bits [{}:{}] = {idx:#05x} ({idx})",
                    level_name(level),
                    shift + b - 1,
                    shift
                );
                // A leaf at this level maps a page of the size of the bits below it.
                if let Some(s) = PageSize::ALL.into_iter().find(|s| s.shift() == shift) {
                    let ends = if level == 1 {
                        None
                    } else {
                        Some(format!("the walk ends at the {} entry", level_name(level)))
                    };
                    sizes.push((s, ends));
                }
            }
            sizes.push((PageSize::Size4K, None));
            sizes.sort_by_key(|(s, _)| s.shift());
            sizes.dedup_by_key(|(s, _)| s.shift());
        }
        for (s, note) in &sizes {
            let sh = s.shift();
            let mut notes: Vec<String> = note.iter().cloned().collect();
            if *s == os_size {
                notes.push("the size this config maps on first touch".into());
            }
            let _ = writeln!(
                o,
                "  {} page: VPN bits [{top}:{sh}] = {:#x}, offset bits [{}:0] = {:#x}{}",
                s,
                va >> sh,
                sh - 1,
                va & (s.bytes() - 1),
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join("; "))
                }
            );
        }
        for p in pt.index_parts(asid, VirtAddr(va), os_size) {
            let _ = writeln!(
                o,
                "  {} = {:#x} ({}) of {}: {}; at {:#x}",
                p.name, p.value, p.value, p.of, p.how, p.paddr
            );
        }
    }

    /// Every step of the access, from its events.
    fn steps<PT: PageTable>(&self, o: &mut String, sim: &Simulator<PT>, ev: &[Event]) {
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
                        let _ = writeln!(
                            o,
                            "  TLB level {} ({names}): {}, {cyc} cycle(s){}",
                            l + 1,
                            if *hit_level == Some(l) { "hit" } else { "miss" },
                            if l == 0 && *hidden > 0 {
                                " (hidden by the pipeline)"
                            } else {
                                ""
                            }
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
                        let _ = writeln!(
                            o,
                            "    POM-TLB set line read at {paddr:#x}: {name} {cycles} cycles"
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
                            let _ = writeln!(
                                o,
                                "  RestSeg walk (os.utopia): the set's tag line at {paddr:#x}: {name} {cycles} cycles; {found}"
                            );
                        }
                    }
                }
                Event::TlbRead { .. } | Event::RestSegRead { .. } => {}
                Event::VictimaProbe { hit_cycles } => {
                    let _ = match hit_cycles {
                        Some(c) => writeln!(
                            o,
                            "  Victima: the L2 holds the page's TLB block: translation read in {c} cycle(s), the walk aborted"
                        ),
                        None => writeln!(
                            o,
                            "  Victima: no TLB block holds the page in the L2 (probed beside the walk)"
                        ),
                    };
                }
                Event::SpecTlb {
                    outcome,
                    frame,
                    cycles,
                } => {
                    let f = frame.map_or("no prediction".into(), |f| {
                        format!("frame {f:#x} predicted")
                    });
                    let _ = writeln!(
                        o,
                        "  SpecTLB (probed beside the walk): {f}; {outcome}; {cycles} cycle(s) added (a correct speculation's walk runs in the background)"
                    );
                }
                Event::PrefetchBuffer { late } => {
                    let _ = match late {
                        Some(0) => writeln!(
                            o,
                            "  Prefetch buffer: holds the page (a prefetch walk fetched it): no walk"
                        ),
                        Some(c) => writeln!(
                            o,
                            "  Prefetch buffer: holds the page, its prefetch walk still {c} cycle(s) from done (late): waited for, no walk"
                        ),
                        None => writeln!(o, "  Prefetch buffer: does not hold the page"),
                    };
                }
                Event::Wait { cycles } => {
                    let _ = writeln!(o, "  Waiting for a free walker: {cycles} cycles");
                }
                Event::DirectSegment {
                    base,
                    limit,
                    offset,
                    cycles,
                    hidden,
                } => {
                    let _ = writeln!(
                        o,
                        "  Direct segment [{base:#x}, {limit:#x}) -> physical from {:#x} holds the address: physical = va + OFFSET = {:#x}, checked beside the L1 TLB probe in {cycles} cycle(s){}; no TLB lookup, no walk, no fill",
                        base.wrapping_add(*offset),
                        self.addr.wrapping_add(*offset),
                        if *hidden > 0 { " (hidden by the pipeline)" } else { "" }
                    );
                }
                Event::WalkCache { .. } => {}
                Event::WalkStart {
                    start,
                    probe_cycles,
                } => {
                    walk += 1;
                    next_level = start.map_or(pt.levels(), |s| s.level as usize);
                    let probes: Vec<String> = ev[..i]
                        .iter()
                        .rev()
                        .take_while(|e| matches!(e, Event::WalkCache { .. }))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .filter_map(|e| match e {
                            Event::WalkCache { psc, level, hit } => Some(format!(
                                "{} (level {level}) {}",
                                pscs[*psc].0,
                                if *hit { "hit" } else { "miss" }
                            )),
                            _ => None,
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
                    let from = match start {
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
                            format!(
                                "the {by} walk-cache hit ({} entry) skips the {} read(s): start at the {} table {:#x}",
                                level_name(s.level as usize + 1),
                                skipped.join(", "),
                                table(s.level as usize),
                                pt.node_paddr(s.node).unwrap_or(PhysAddr(0))
                            )
                        }
                        None if radix => format!(
                            "start at the root ({} table {:#x})",
                            table(pt.levels()),
                            pt.node_paddr(0).unwrap_or(PhysAddr(0))
                        ),
                        None => "the reads start at the hash indices".into(),
                    };
                    let probed = if probes.is_empty() && *probe_cycles == 0 {
                        String::new()
                    } else if probes.is_empty() {
                        // A design's own walk cache (cuckoo's), inside its walk.
                        format!("the design's walk cache probed in {probe_cycles} cycle(s); ")
                    } else {
                        format!(
                            "walk caches probed in {probe_cycles} cycle(s): {}; ",
                            probes.join(", ")
                        )
                    };
                    let _ = writeln!(o, "  Walk {walk}: {probed}{from}");
                }
                Event::PteRead {
                    step,
                    served_by,
                    cycles,
                } => {
                    let (name, line) = &mem[(*served_by).min(mem.len() - 1)];
                    let level = step.level as usize;
                    let what = if radix && next_level > level {
                        // A merged node: 9 index bits per level it resolves.
                        let bytes = 4096u64 << (9 * (next_level - level));
                        format!(
                            "{} index {:#07x}",
                            crate::pagetable::flattened::node_name(next_level, level),
                            (step.pte_addr.0 & (bytes - 1)) >> 3
                        )
                    } else if radix {
                        // Radix tables are one 4 KiB frame of 8-byte entries each.
                        format!(
                            "{:<5} index {:#05x}",
                            level_name(level),
                            step.pte_addr.offset(PageSize::Size4K) >> 3
                        )
                    } else {
                        format!("group {:<3}", step.group)
                    };
                    next_level = level.saturating_sub(1);
                    let then = if step.next != NO_NODE {
                        pt.node_paddr(step.next)
                            .map_or(String::new(), |p| format!("  -> table {p:#x}"))
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        o,
                        "    PTE read  {what}  at {:#x}  line {:#x}  {name} {cycles} cycles{then}",
                        step.pte_addr,
                        step.pte_addr.0 & !(line - 1)
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
                    let _ = writeln!(
                        o,
                        "  Walk {walk} ends: {result}; PTE reads charged {pte_cycles} cycles{}",
                        if radix {
                            ""
                        } else {
                            " (reads of one group cost the slowest)"
                        }
                    );
                }
                Event::NestedRead { .. }
                | Event::NestedWalkEnd { .. }
                | Event::HostFault { .. } => nested_step(o, e, &mem, walk),
                Event::Fault { cycles, evicted } => {
                    let _ = writeln!(
                        o,
                        "  Page fault: the OS maps the page ({cycles} cycles){}; the access walks again",
                        evicted.map_or(String::new(), |e| format!(
                            ", evicting the translation of {:#x} (address space {})",
                            e.vaddr, e.asid
                        ))
                    );
                }
            }
        }
    }
}

/// One step of a nested walk (a virtualized machine), for [`Request::steps`]: a
/// reference by dimension and level, the walk's end, or an EPT violation.
fn nested_step(o: &mut String, e: &Event, mem: &[(String, u64)], walk: usize) {
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
            let what = match r.dim {
                crate::virt::Dimension::HostForGuestPte => format!(
                    "host {:<5} for the guest {} table's gPA",
                    level(r.host_level),
                    level(r.guest_level)
                ),
                crate::virt::Dimension::GuestPte => {
                    format!("guest {:<5} entry", level(r.guest_level))
                }
                crate::virt::Dimension::HostForData => {
                    format!("host {:<5} for the data's gPA", level(r.host_level))
                }
            };
            let _ = writeln!(
                o,
                "    read  {what}  at hPA {:#x}  line {:#x}  {name} {cycles} cycles",
                r.hpa,
                r.hpa.0 & !(line - 1)
            );
        }
        Event::NestedWalkEnd {
            pte_cycles,
            host_probes,
            host_probe_cycles,
            outcome,
        } => {
            let result = match outcome {
                crate::walker::NestedOutcome::Done(w) => format!(
                    "gPA page {:#x} ({}), host page {:#x} ({}): the TLB takes a {} page at hPA {:#x}",
                    w.guest.frame.0, w.guest.size, w.host.frame, w.host.size, w.page.size, w.page.frame
                ),
                crate::walker::NestedOutcome::GuestFault => {
                    "the guest table does not map it (a guest page fault)".into()
                }
                crate::walker::NestedOutcome::HostFault(gpa) => format!(
                    "the host table does not map gPA {:#x} (an EPT violation)",
                    gpa.0
                ),
            };
            let _ = writeln!(
                o,
                "  Nested walk {walk} ends: {result}; {host_probes} host walk(s), host caches probed in {host_probe_cycles} cycle(s); reads charged {pte_cycles} cycles"
            );
        }
        Event::HostFault {
            gpa,
            exit_cycles,
            host_cycles,
        } => {
            let _ = writeln!(
                o,
                "  EPT violation: a VM exit ({exit_cycles} cycles) and the host backs gPA {:#x} ({host_cycles} cycles)",
                gpa.0
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_hex_and_decimal() {
        assert_eq!(parse_addr("0x1f"), Some(31));
        assert_eq!(parse_addr("0X7f_0000"), Some(0x7f_0000));
        assert_eq!(parse_addr("4096"), Some(4096));
        assert_eq!(parse_addr("0xg"), None);
        assert_eq!(parse_addr("-1"), None);
        assert_eq!(parse_addr(""), None);
    }
}
