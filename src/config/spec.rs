//! `[spectlb]` and `[size_prediction]`: speculative address translation (issue 20 items
//! 4 and 5).
//!
//! * `[spectlb]`: SpecTLB (Barr, Cox and Rixner, "SpecTLB: A Mechanism for Speculative
//!   Address Translation", ISCA 2011): inside a 2 MiB region the `reserve` huge-page
//!   policy has reserved, a last-level TLB miss predicts the frame (the reservation's
//!   base plus the page's offset in the region), the core continues, and the walk
//!   verifies ([`SpecTlbConfig`]; the mechanism is `crate::sim::spec`).
//! * `[size_prediction]`: page-size prediction for L1 TLBs split by page size
//!   (Papadopoulou, Tong, Seznec and Moshovos, "Prediction-based superpage-friendly TLB
//!   designs", HPCA 2015): the predicted size's structure is probed first, the others
//!   after it ([`SizePredictionConfig`]; the mechanism is `crate::tlb::size_predict`).
//!
//! In: the decoded tables and, for the checks spanning sections, the whole
//! [`super::SystemConfig`]. Out: the configs and their problems as `(key.path,
//! message)`. Absent (the default), nothing changes: both keys are left out of
//! serialized configs, so existing configs keep their hash and results.

use serde::{Deserialize, Serialize};

/// SpecTLB's geometry and costs. Defaults are Virtuoso's SpecTLB config (CMU-SAFARI/
/// Virtuoso @ 8188baf, `simulator/sniper/config/spec_engine_configs/
/// spec_engine_spectlb.cfg`: 64 entries, 4-way, 2 MB granularity, 12 cycles); the
/// paper's own sizes are not checked against its text here (assumed equal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecTlbConfig {
    /// On unless set false (`spectlb.enable = true` turns it on beside a preset with the
    /// `reserve` policy).
    #[serde(default = "yes")]
    pub enable: bool,
    /// Reservation entries, each (address space, 2 MiB region) -> reserved 2M frame.
    #[serde(default = "entries")]
    pub entries: u32,
    #[serde(default = "ways")]
    pub ways: u32,
    /// Cycles from the last-level TLB miss to the predicted translation.
    #[serde(default = "latency")]
    pub latency: u32,
    /// Cycles a misprediction adds after the walk (squashing the work done on the wrong
    /// frame). Virtuoso charges none; 20 is assumed (a pipeline flush of a
    /// Skylake-class core), not the paper's figure.
    #[serde(default = "squash")]
    pub squash_cycles: u32,
}

fn yes() -> bool {
    true
}
fn entries() -> u32 {
    64
}
fn ways() -> u32 {
    4
}
fn latency() -> u32 {
    12
}
fn squash() -> u32 {
    20
}

impl Default for SpecTlbConfig {
    fn default() -> Self {
        SpecTlbConfig {
            enable: true,
            entries: entries(),
            ways: ways(),
            latency: latency(),
            squash_cycles: squash(),
        }
    }
}

/// The page-size predictor of level-1 TLB lookups. The paper's table is "32-byte ...
/// indexed by base register values" (its abstract); 32 bytes read as 128 two-bit
/// counters is assumed. Traces carry no register values: the table is indexed by the
/// accessed address's 2 MiB region number instead (hashed into `entries`), the
/// stand-in this model uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizePredictionConfig {
    #[serde(default = "yes")]
    pub enable: bool,
    /// Two-bit counters in the table (a power of two).
    #[serde(default = "counters")]
    pub entries: u32,
}

fn counters() -> u32 {
    128
}

impl Default for SizePredictionConfig {
    fn default() -> Self {
        SizePredictionConfig {
            enable: true,
            entries: counters(),
        }
    }
}

/// Every problem of `[spectlb]` and `[size_prediction]` against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let mut e = Vec::new();
    if let Some(p) = cfg.size_prediction.as_ref().filter(|p| p.enable) {
        if !p.entries.is_power_of_two() || p.entries > 1 << 20 {
            e.push((
                "size_prediction.entries".into(),
                format!("{} is not a power of two up to 2^20", p.entries),
            ));
        }
    }
    let Some(s) = cfg.spectlb.as_ref().filter(|s| s.enable) else {
        return e;
    };
    let mut refuse = |k: &str, m: &str| e.push((k.to_string(), m.to_string()));
    if s.ways == 0 || s.entries == 0 || s.entries % s.ways != 0 {
        refuse(
            "spectlb.ways",
            "entries must be a positive multiple of ways",
        );
    } else if !(s.entries / s.ways).is_power_of_two() || s.entries > 1 << 20 {
        refuse(
            "spectlb.entries",
            "entries / ways must be a power of two, entries at most 2^20",
        );
    }
    if cfg.os.huge_pages.policy != super::HugePolicy::Reserve {
        refuse("spectlb", "SpecTLB predicts frames inside 2 MiB reservations: it needs os.huge_pages.policy = \"reserve\"");
    }
    if cfg.virt.is_some() {
        refuse("spectlb", "speculation over a nested walk is not modelled: SpecTLB needs a native machine (no [virt])");
    }
    if cfg.victima.as_ref().is_some_and(|v| v.enable) {
        refuse("spectlb", "Victima's L2 probe and SpecTLB both answer a last-level TLB miss beside the walk, in an order neither paper gives (not modelled)");
    }
    if cfg
        .tlb
        .iter()
        .any(|t| t.organisation != super::TlbOrganisation::SetAssociative)
    {
        refuse("spectlb", "SpecTLB is modelled behind set-associative TLBs only (a POM-TLB's, coalesced or range TLB's interplay with it is not modelled)");
    }
    if cfg.prefetch.is_some() {
        refuse("spectlb", "a prefetch buffer also answers a last-level miss beside the walk: its interplay with SpecTLB is not modelled");
    }
    if cfg.os.utopia.is_some() || cfg.os.rmm.is_some() {
        refuse("spectlb", "a RestSeg (os.utopia) or range TLB (os.rmm) also answers a last-level miss: not modelled with SpecTLB");
    }
    if cfg.sim.overlap_window > 0 {
        // The window already runs the core past a walk; a correct speculation's work
        // cannot retire before it is verified either, so the two overlap the same
        // instructions and combining them needs a reorder-buffer model.
        refuse("spectlb", "sim.overlap_window > 0 already runs the core past its walks; SpecTLB is modelled with blocking walks only (overlap_window = 0)");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::super::{HugePolicy, SystemConfig};
    use super::*;

    fn skylake_reserve() -> SystemConfig {
        let mut c: SystemConfig =
            toml::from_str(include_str!("../../configs/skylake.toml")).unwrap();
        c.os.huge_pages.policy = HugePolicy::Reserve;
        c
    }

    /// The defaults are Virtuoso's SpecTLB (64 x 4-way, 12 cycles), the assumed 20-cycle
    /// squash and the 128 counters of a 32-byte table; a section with only `enable` is
    /// the default.
    #[test]
    fn defaults_are_the_cited_ones() {
        let s: SpecTlbConfig = toml::from_str("enable = true").unwrap();
        assert_eq!(s, SpecTlbConfig::default());
        assert_eq!(
            (s.entries, s.ways, s.latency, s.squash_cycles),
            (64, 4, 12, 20)
        );
        let p: SizePredictionConfig = toml::from_str("").unwrap();
        assert_eq!((p.enable, p.entries), (true, 128));
    }

    /// Each refusal names its key; a valid SpecTLB over `reserve` has no problem, and
    /// `enable = false` switches every check off.
    #[test]
    fn each_problem_names_its_key() {
        let mut c = skylake_reserve();
        c.spectlb = Some(SpecTlbConfig::default());
        assert_eq!(problems(&c), Vec::<(String, String)>::new());
        let keys =
            |c: &SystemConfig| -> Vec<String> { problems(c).into_iter().map(|e| e.0).collect() };
        let mut bad = c.clone();
        bad.spectlb.as_mut().unwrap().ways = 3;
        assert_eq!(keys(&bad), ["spectlb.ways"]);
        bad.spectlb.as_mut().unwrap().ways = 4;
        bad.spectlb.as_mut().unwrap().entries = 48;
        assert_eq!(keys(&bad), ["spectlb.entries"]);
        let mut never = c.clone();
        never.os.huge_pages.policy = HugePolicy::Never;
        assert_eq!(keys(&never), ["spectlb"]);
        never.spectlb.as_mut().unwrap().enable = false;
        assert!(problems(&never).is_empty());
        let mut w = c.clone();
        w.sim.overlap_window = 4;
        assert_eq!(keys(&w), ["spectlb"]);
        let mut p = skylake_reserve();
        p.size_prediction = Some(SizePredictionConfig {
            enable: true,
            entries: 96,
        });
        assert_eq!(keys(&p), ["size_prediction.entries"]);
    }
}
