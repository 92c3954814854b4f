//! The hardware page walker, `[walker]`: how many walks a core may have in flight, and
//! its paging-structure caches (`[[walker.psc]]`, one per radix level at most).
//!
//! In: the decoded table, and from the page-table design the highest level a walk
//! cache may hold (the one fact this section needs from another, passed in by
//! [`super::SystemConfig::validate`]). Out: [`WalkerConfig`] for `crate::walker`, and
//! its problems as `(key.path, message)` under `walker.<key>` / `walker.psc[i].<key>`.

use crate::assoc::Replacement;
use serde::{Deserialize, Serialize};

/// The hardware page walker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkerConfig {
    /// Walks a core may have in flight; a walk beyond that waits for the earliest to end.
    #[serde(default = "super::one")]
    pub max_concurrent_walks: u32,
    /// Paging-structure caches, at most one per page-table level.
    #[serde(default)]
    pub psc: Vec<PscConfig>,
}

impl Default for WalkerConfig {
    fn default() -> Self {
        WalkerConfig {
            max_concurrent_walks: 1,
            psc: Vec::new(),
        }
    }
}

/// A paging-structure cache for the entries of one radix level (5 = PML5, 4 = PML4,
/// 3 = PDPT, 2 = PD). A hit at level L supplies the table of level L-1, so the walk
/// skips the PTE reads of every level from the top down to L.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PscConfig {
    pub name: String,
    pub level: u32,
    pub entries: u32,
    pub ways: u32,
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
}

impl WalkerConfig {
    /// Problems of `[walker]`; a walk cache may hold levels 2 to `levels` (the design's
    /// `walk_cache_levels`).
    pub fn validate(&self, levels: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        for (i, c) in self.psc.iter().enumerate() {
            let p = format!("walker.psc[{i}]");
            let entries = super::Capacity::Entries(c.entries.into());
            super::check_geometry(&mut e, &p, entries, c.ways, c.replacement);
            if c.level < 2 || c.level > levels {
                e.push((
                    format!("{p}.level"),
                    format!(
                        "must be 2 to {levels} (the non-leaf levels of the page table), not {}",
                        c.level
                    ),
                ));
            }
            if self.psc[..i].iter().any(|d| d.level == c.level) {
                e.push((
                    format!("{p}.level"),
                    format!("level {} has two walk caches", c.level),
                ));
            }
        }
        if self.max_concurrent_walks == 0 || self.max_concurrent_walks > 64 {
            e.push((
                "walker.max_concurrent_walks".into(),
                "must be 1 to 64".into(),
            ));
        }
        e
    }
}
