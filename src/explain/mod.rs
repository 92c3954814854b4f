//! The teaching view, `mmusim explain ADDR`: how a virtual address splits for the
//! configured page table, and the translation it causes, step by step.
//!
//! In: a system config (file or preset, `--set` overrides), an address, addresses to
//! access first (`--warm`, so that walk caches and data caches are warm), and a core.
//! Out: the report's steps ([`Step`], `step.rs`: each line typed, with its values), and
//! the text report rendered from them ([`render`]); the access's own steps come from the
//! simulator's events (`steps.rs`).
//!
//! The walk shown is the simulator's own: the accesses run through
//! [`Simulator::access_recorded`] with a `Vec<Event>` recorder, so every line comes from
//! the TLBs, walker, memory system and OS as they ran (no second model), and the cycle
//! breakdown is the difference of the core's own counters before and after the access,
//! the same accounting `result.json` reports. Only the address split is computed here,
//! from the config (radix: bit fields) or by the design itself
//! ([`Teachable::index_parts`](crate::pagetable::Teachable::index_parts): hash indices).

use crate::addr::{AccessKind, PageSize, VirtAddr};
use crate::config::SystemConfig;
use crate::os::frames::FrameAllocator;
use crate::pagetable::{with_design, DesignVisitor, PageTable, PageTableConfig};
use crate::sim::record::Event;
use crate::sim::{CoreStats, Simulator};
use crate::workload::{Access, AccessSource, WorkloadError};
use crate::SimError;
use serde_json::json;

mod step;
mod steps;
use step::Steps;
pub use step::{render, to_json, Kind, Step};

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
    explain_steps(req).map(|steps| render(&steps))
}

/// The report's steps, from which [`explain`] renders the printout.
pub fn explain_steps(req: &Request) -> Result<Vec<Step>, Failure> {
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
    type Out = Result<Vec<Step>, SimError>;
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
    ) -> Result<Vec<Step>, SimError> {
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
        let mut o = Steps::default();
        let asid = sim.asid(core);
        let (addr, name) = (self.addr, &self.sys.name);
        o.push(
            Kind::Title,
            0,
            format!(
                "mmusim explain: virtual address {addr:#x}, core {core} (address space {asid}), config {name}"
            ),
            json!({"address": addr, "core": core, "asid": asid, "config": name}),
        );

        if !self.warm.is_empty() {
            o.section("Warm-up accesses, in order".into());
        }
        for &w in self.warm {
            // Ctrl-C in the Python package (the command line sets no stop here).
            if crate::progress::stop_requested() {
                return Err(SimError("interrupted".into()));
            }
            let before = counts(&sim);
            let mut ev = Vec::new();
            sim.access_recorded(core, load(w), &mut ev)?;
            let d = counts(&sim).minus(&before);
            let (tlb, hit_level, direct) = match ev.first() {
                Some(Event::Tlb {
                    hit_level: Some(l), ..
                }) => (format!("TLB level {} hit", l + 1), Some(l + 1), false),
                Some(Event::DirectSegment { .. }) => {
                    ("direct segment (no TLB lookup)".into(), None, true)
                }
                _ => ("TLB miss".into(), None, false),
            };
            o.push(
                Kind::Warm,
                2,
                format!(
                    "{w:#x}: {tlb}, {} walk(s), {} PTE read(s), {} page fault(s); {} translation cycles",
                    d.walks, d.pte_reads, d.faults, d.total
                ),
                json!({
                    "address": w, "tlb_hit_level": hit_level, "direct_segment": direct,
                    "walks": d.walks, "pte_reads": d.pte_reads, "page_faults": d.faults,
                    "cycles": d.total,
                }),
            );
        }

        self.split(&mut o, sim.page_table(core), asid);

        let before = counts(&sim);
        let mut ev = Vec::new();
        sim.access_recorded(core, load(self.addr), &mut ev)?;
        let d = counts(&sim).minus(&before);
        o.section(format!("Access {:#x} (a load)", self.addr));
        self.steps(&mut o, &sim, &ev);

        o.section(String::new());
        let pt = sim.page_table(core);
        match pt.translate(asid, VirtAddr(self.addr)) {
            Some(tr) => {
                let off = self.addr & (tr.size.bytes() - 1);
                let gpa = crate::addr::GuestPhysAddr(tr.frame.0 + off);
                match sim.host_translation(asid, gpa) {
                    // A virtualized machine: the guest's frame is guest-physical.
                    Some(h) => {
                        let hoff = gpa.0 & (h.size.bytes() - 1);
                        let guest = ("Guest-physical", "guest ", "guest-physical");
                        address_step(&mut o, guest, gpa.0, tr.frame.0, tr.size, off);
                        let host = ("Host-physical", "host ", "host-physical");
                        address_step(&mut o, host, h.frame.0 + hoff, h.frame.0, h.size, hoff);
                    }
                    None => {
                        let plain = ("Physical", "", "physical");
                        address_step(&mut o, plain, tr.frame.0 + off, tr.frame.0, tr.size, off);
                    }
                }
            }
            None => {
                o.push(
                    Kind::Address,
                    0,
                    "No translation (not mapped after the access)".into(),
                    json!({"space": null}),
                );
            }
        }
        o.push(
            Kind::Cycles,
            0,
            format!(
                "Translation cycles: TLB {} + walk caches {} + PTE reads {} + wait {} + fault {} = {}",
                d.tlb, d.walk_cache, d.pte, d.wait, d.fault, d.total
            ),
            json!({
                "tlb": d.tlb, "walk_caches": d.walk_cache, "pte_reads": d.pte, "wait": d.wait,
                "fault": d.fault, "total": d.total,
            }),
        );
        let hidden = d.total - d.stall;
        o.push(
            Kind::Counters,
            0,
            format!(
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
            ),
            json!({
                "walks": d.walks, "pte_reads": d.pte_reads, "page_faults": d.faults,
                "stall": d.stall, "hidden": hidden,
            }),
        );
        Ok(o.steps)
    }

    /// How the address splits: radix bit fields from the config, page numbers and
    /// offsets per page size, and a hashed design's own indices.
    fn split<PT: PageTable>(&self, o: &mut Steps, pt: &PT, asid: u16) {
        let va = self.addr;
        let va_bits = self.sys.page_table.va_bits();
        let top = va_bits - 1;
        let os_size = self.sys.os.page_size;
        let digits = (va_bits as usize).div_ceil(4);
        o.section(format!(
            "How {va:#0w$x} splits ({} page table, {va_bits}-bit virtual addresses)",
            self.sys.page_table.design().title(),
            w = digits + 2
        ));
        if let PageTableConfig::Flattened(c) = &self.sys.page_table {
            for l in crate::pagetable::flattened::Flattened::split_lines(c, va) {
                o.push(Kind::Index, 2, l, json!({"design": "flattened"}));
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
                o.push(
                    Kind::Index,
                    2,
                    format!(
                        "{:<5} index  bits [{}:{}] = {idx:#05x} ({idx})",
                        level_name(level),
                        shift + b - 1,
                        shift
                    ),
                    json!({
                        "level": level, "table": level_name(level), "high_bit": shift + b - 1,
                        "low_bit": shift, "index": idx,
                    }),
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
            let (vpn, off) = (va >> sh, va & (s.bytes() - 1));
            o.push(
                Kind::PageSplit,
                2,
                format!(
                    "{} page: VPN bits [{top}:{sh}] = {vpn:#x}, offset bits [{}:0] = {off:#x}{}",
                    s,
                    sh - 1,
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", notes.join("; "))
                    }
                ),
                json!({
                    "page_size": s.to_string(), "vpn": vpn, "offset": off,
                    "offset_bits": sh, "first_touch": *s == os_size,
                }),
            );
        }
        for p in pt.index_parts(asid, VirtAddr(va), os_size) {
            o.push(
                Kind::Index,
                2,
                format!(
                    "{} = {:#x} ({}) of {}: {}; at {:#x}",
                    p.name, p.value, p.value, p.of, p.how, p.paddr
                ),
                json!({
                    "name": p.name, "index": p.value, "of": p.of, "how": p.how,
                    "paddr": p.paddr.0,
                }),
            );
        }
    }
}

/// The step of the address an access ends at: `label` ("Physical", ...) and `of` (the
/// page's owner before its size, "guest " ...) in the text, `space` in the fields.
fn address_step(
    o: &mut Steps,
    (label, of, space): (&str, &str, &str),
    address: u64,
    frame: u64,
    size: PageSize,
    offset: u64,
) {
    o.push(
        Kind::Address,
        0,
        format!("{label} address {address:#x}: frame {frame:#x} of a {of}{size} page + offset {offset:#x}"),
        json!({
            "space": space, "address": address, "frame": frame,
            "page_size": size.to_string(), "offset": offset,
        }),
    );
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
