//! The machine as a whole: `[sim]` (cores and timing model), `[topology]` (how the cores
//! are linked) and `[shootdown]` (what an inter-processor TLB invalidation costs).
//!
//! In: the decoded tables. Out: [`SimConfig`], [`TopologyConfig`] and
//! [`ShootdownConfig`] for the engine (`crate::sim`), and each one's problems as
//! `(key.path, message)`. The topology's are found by building it
//! (`crate::sim::topology::Topology::new`), for `sim.cores` cores: the one check here
//! that needs another section, passed in by [`super::SystemConfig::validate`].

use serde::{Deserialize, Serialize};

/// How the cores are linked (the graph IPIs travel): see `crate::sim::topology`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    #[serde(default)]
    pub kind: TopologyKind,
    /// `mesh`: cores per row (0: the smallest w with w x w >= cores).
    #[serde(default)]
    pub width: u32,
    /// `edges`: the links, as pairs of core ids.
    #[serde(default)]
    pub edges: Vec<[u32; 2]>,
    /// `edges`: each core's socket (default: all in socket 0).
    #[serde(default)]
    pub sockets: Vec<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// Every pair of cores one hop apart.
    #[default]
    Full,
    Ring,
    Mesh,
    /// Two sockets, each a ring of half the cores (the first ceil(n/2) in socket 0),
    /// linked between core 0 and core ceil(n/2).
    TwoSocket,
    Edges,
}

/// TLB shootdowns through inter-processor interrupts: what a change of a translation
/// that other cores may cache costs (see `crate::sim`'s module docs for the protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShootdownConfig {
    /// Cycles from sending an IPI to its arrival, before the hops of its path.
    #[serde(default)]
    pub ipi_base_cycles: u64,
    /// Further cycles per hop of the topology, and for crossing sockets.
    #[serde(default)]
    pub hop_cycles: u64,
    #[serde(default)]
    pub cross_socket_cycles: u64,
    /// `unicast`: one interrupt-command write per target, one after the other
    /// (`send_cycles` each); `broadcast`: one write reaches every target.
    #[serde(default)]
    pub delivery: Delivery,
    #[serde(default)]
    pub send_cycles: u64,
    /// A target's interrupt entry and exit.
    #[serde(default)]
    pub interrupt_cycles: u64,
    /// One page's invalidation (INVLPG), and a flush of an address space's entries.
    #[serde(default)]
    pub invlpg_cycles: u64,
    #[serde(default)]
    pub full_flush_cycles: u64,
    /// Pages one shootdown invalidates one by one; more, and it flushes the address
    /// space's entries instead (Linux's tlb_single_page_flush_ceiling, 33).
    #[serde(default = "ceiling")]
    pub flush_ceiling: u32,
    /// Gather the pages one OS operation removes (one munmap, one fault's evictions)
    /// into one shootdown, as Linux's mmu_gather does; false: one per page.
    #[serde(default = "yes")]
    pub gather: bool,
    #[serde(default)]
    pub scheme: ShootdownScheme,
}

fn ceiling() -> u32 {
    33
}

impl Default for ShootdownConfig {
    fn default() -> Self {
        ShootdownConfig {
            ipi_base_cycles: 0,
            hop_cycles: 0,
            cross_socket_cycles: 0,
            delivery: Delivery::Unicast,
            send_cycles: 0,
            interrupt_cycles: 0,
            invlpg_cycles: 0,
            full_flush_cycles: 0,
            flush_ceiling: 33,
            gather: true,
            scheme: ShootdownScheme::Sync,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Unicast,
    Broadcast,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShootdownScheme {
    /// Linux's: flush locally, send the IPIs, wait for every target to flush and
    /// acknowledge.
    #[default]
    Sync,
    /// Amit et al. 2020 ("Don't shoot down TLB shootdowns!", EuroSys): the initiator
    /// flushes while the IPIs travel (concurrent flushing), and each target
    /// acknowledges on interrupt entry, before its flush (early acknowledgement).
    EarlyAck,
}

/// Cores and timing model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Number of cores; each runs one workload stream in its own address space.
    #[serde(default = "super::one")]
    pub cores: u32,
    /// Cycles per instruction outside address translation.
    #[serde(default = "one_f")]
    pub base_cpi: f64,
    /// Seed for every random choice of the machine (replacement, frame shuffling).
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// Accesses per core after which its statistics restart (caches and TLBs stay warm);
    /// shared caches restart when the last core is past warm-up. `"auto"` (the default)
    /// is resolved by `run::load_inputs` once the workload is known: half of each
    /// stream for generators and traces, none for reference strings (see [`Warmup`]).
    #[serde(default)]
    pub warmup_accesses: Warmup,
    /// Whether the L1 TLB probe is hidden by the pipeline (true on current cores: the L1
    /// DTLB is looked up in parallel with the L1D tag check). Hidden on hits and misses
    /// alike: on a miss only the levels after L1 and the walk are stalled for.
    #[serde(default = "yes")]
    pub l1_tlb_overlapped: bool,
    /// Instructions a core may run past an outstanding page walk before it stalls on it.
    /// 0 = blocking: the core waits for every walk (in-order approximation).
    #[serde(default)]
    pub overlap_window: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cores: 1,
            base_cpi: 1.0,
            seed: 1,
            warmup_accesses: Warmup::Auto,
            l1_tlb_overlapped: true,
            overlap_window: 0,
        }
    }
}

/// How much of each stream warms the machine before statistics start.
///
/// `Auto` stands for a number the simulator does not know until the workload is: the
/// run resolves it ([`Warmup::resolve`]) before anything is built, so a simulation only
/// ever sees `Accesses`. Written `"auto"` or a number in TOML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Warmup {
    #[default]
    Auto,
    Accesses(u64),
}

impl Warmup {
    /// The warm-up in accesses per core; `Auto` left unresolved (a simulator built
    /// directly from a config, as unit tests do) warms nothing.
    pub fn accesses(self) -> u64 {
        match self {
            Warmup::Auto => 0,
            Warmup::Accesses(n) => n,
        }
    }

    /// The rule behind `"auto"`: half of each core's stream when it is a generator's or
    /// a trace's (`per_core` accesses; 0 when unknown), so the second half measures
    /// structures that the first filled; none for a reference string (`refs`), whose
    /// faults are counted from the first reference by definition (Belady's anomaly, the
    /// classic fault counts).
    pub fn resolve(self, per_core: u64, refs: bool) -> Warmup {
        match self {
            Warmup::Auto if refs => Warmup::Accesses(0),
            Warmup::Auto => Warmup::Accesses(per_core / 2),
            w => w,
        }
    }
}

impl Serialize for Warmup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Warmup::Auto => s.serialize_str("auto"),
            Warmup::Accesses(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Warmup;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of accesses or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Warmup, E> {
                Ok(Warmup::Accesses(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Warmup, E> {
                u64::try_from(n).map(Warmup::Accesses).map_err(|_| {
                    E::custom(format!("{n} is negative: a number of accesses or \"auto\""))
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Warmup, E> {
                if v == "auto" {
                    Ok(Warmup::Auto)
                } else {
                    Err(E::custom(format!(
                        "`{v}`: a number of accesses or \"auto\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn one_u64() -> u64 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

impl SimConfig {
    /// Problems of `[sim]` on its own. (Whether the cores' structures fit in the host's
    /// memory spans sections: [`super::SystemConfig::validate`] checks it.)
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.cores == 0 || self.cores > 1024 {
            e.push((
                "sim.cores".into(),
                format!("must be 1 to 1024, not {}", self.cores),
            ));
        }
        if !(self.base_cpi.is_finite() && self.base_cpi >= 0.001 && self.base_cpi <= 1000.0) {
            e.push((
                "sim.base_cpi".into(),
                format!("must be from 0.001 to 1000, not {}", self.base_cpi),
            ));
        }
        e
    }
}

impl TopologyConfig {
    /// Problems of `[topology]` for a machine of `cores` cores; none for a core count out
    /// of the range `sim.cores` allows (reported once, there: building a 1024-core
    /// topology for it instead took 0.6 s of a debug build, found by issue 17's
    /// randomized test).
    pub fn validate(&self, cores: u32) -> Vec<(String, String)> {
        if !(1..=1024).contains(&cores) {
            return Vec::new();
        }
        match crate::sim::topology::Topology::new(self, cores as usize) {
            Ok(_) => Vec::new(),
            Err((k, m)) => vec![(k, m)],
        }
    }
}

impl ShootdownConfig {
    /// Problems of `[shootdown]`: costs beyond any real machine.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        for (key, v) in [
            ("ipi_base_cycles", self.ipi_base_cycles),
            ("hop_cycles", self.hop_cycles),
            ("cross_socket_cycles", self.cross_socket_cycles),
            ("send_cycles", self.send_cycles),
            ("interrupt_cycles", self.interrupt_cycles),
            ("invlpg_cycles", self.invlpg_cycles),
            ("full_flush_cycles", self.full_flush_cycles),
        ] {
            if v > 1 << 32 {
                e.push((
                    format!("shootdown.{key}"),
                    format!("{v} cycles is beyond any real machine (at most 2^32)"),
                ));
            }
        }
        e
    }
}
