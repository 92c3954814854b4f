//! `[victima]`: TLB blocks in the L2 cache (Kanellopoulos, Nam, Bostanci, Bera,
//! Sadrosadati, Kumar, Bartolini and Mutlu, "Victima: Drastically Increasing Address
//! Translation Reach by Leveraging Underutilized Cache Resources", MICRO 2023).
//!
//! In: the decoded table and, for the checks spanning sections, the whole
//! [`super::SystemConfig`] (the cache levels, `[virt]`). Out: [`VictimaConfig`] for
//! `crate::sim::victima` and its problems as `(key.path, message)` under `victima`.
//!
//! Absent (the default), nothing changes: the key is left out of serialized configs, so
//! existing configs keep their hash and results.

use serde::{Deserialize, Serialize};

/// Which pages' TLB blocks go into the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VictimaPredictor {
    /// Every page's (the paper's behaviour when the L2 cache's MPKI is above 5; the
    /// Victima artifact's simulator, which has no predictor).
    Always,
    /// The paper's PTW-cost predictor (section 5; `crate::sim::victima`).
    #[default]
    PtwCp,
}

/// Victima's switches. The paper inserts a page's TLB block on a last-level TLB miss
/// (after the walk) and on a last-level TLB eviction (after a background walk), both
/// filtered by its PTW-cost predictor (section 5, Fig. 14; read through a summary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VictimaConfig {
    /// On unless set false (one key, `victima.enable = true`, turns it on beside any
    /// native preset).
    #[serde(default = "yes")]
    pub enable: bool,
    /// The cache level (`memory.cache[i].name`) that holds the blocks: the paper's L2.
    #[serde(default = "l2")]
    pub level: String,
    #[serde(default)]
    pub predictor: VictimaPredictor,
    /// Insert the walked page's block after a last-level TLB miss (the artifact's
    /// `victimize_on_ptw`, true in every paper run: `CMU-SAFARI/Victima@bdcbda5:
    /// scripts/launch_jobs.py` lines 58-104).
    #[serde(default = "yes")]
    pub insert_on_miss: bool,
    /// Insert the block of an entry evicted from the last TLB level, after a background
    /// walk (the artifact does this whenever Victima is on: `…/tlb.cc` lines 494-541).
    #[serde(default = "yes")]
    pub insert_on_eviction: bool,
}

fn yes() -> bool {
    true
}

fn l2() -> String {
    "l2".into()
}

impl Default for VictimaConfig {
    fn default() -> Self {
        VictimaConfig {
            enable: true,
            level: l2(),
            predictor: VictimaPredictor::default(),
            insert_on_miss: true,
            insert_on_eviction: true,
        }
    }
}

/// Every problem of `victima` against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let Some(v) = cfg.victima.as_ref().filter(|v| v.enable) else {
        return Vec::new();
    };
    let mut e = Vec::new();
    match cfg.memory.cache.iter().find(|c| c.name == v.level) {
        None => {
            let names: Vec<&str> = cfg.memory.cache.iter().map(|c| c.name.as_str()).collect();
            e.push((
                "victima.level".into(),
                format!(
                    "no cache level is named \"{}\" (levels: {}): TLB blocks live in a cache level",
                    v.level,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        Some(c) if c.shared => {
            // The paper's L2 is private to its core; blocks of a shared level would
            // follow one core's TLB invalidations only.
            e.push((
                "victima.level".into(),
                format!(
                    "\"{}\" is shared by the cores; TLB blocks go in a private level (the paper's L2)",
                    v.level
                ),
            ));
        }
        Some(_) => {}
    }
    if cfg.virt.is_some() {
        e.push((
            "victima".into(),
            "nested TLB blocks (the paper's virtualized mode) are not modelled: Victima needs a native machine (no [virt])".into(),
        ));
    }
    e
}
