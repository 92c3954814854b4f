//! The memory hierarchy, `[memory]`: DRAM latency and the cache levels
//! (`[[memory.cache]]`, nearest first) that PTE reads, and optionally data accesses, go
//! through.
//!
//! In: the decoded table. Out: [`MemoryConfig`] for `crate::memory`, and its problems
//! as `(key.path, message)` under `memory.cache[i].<key>`.

use crate::addr::ByteSize;
use crate::assoc::Replacement;
use serde::{Deserialize, Serialize};

/// The memory hierarchy that PTE reads (and optionally data accesses) go through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Load-to-use latency of a read that misses every cache level.
    pub dram_latency: u32,
    /// Whether data accesses also go through (and pollute) the caches PTE reads use.
    #[serde(default)]
    pub data_through_caches: bool,
    /// Cache levels, nearest first.
    #[serde(default)]
    pub cache: Vec<CacheConfig>,
}

/// One cache level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub name: String,
    pub size: ByteSize,
    pub ways: u32,
    #[serde(default = "line64")]
    pub line: u32,
    /// Load-to-use latency of a hit at this level.
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
    /// One instance shared by all cores (else one per core).
    #[serde(default)]
    pub shared: bool,
}

fn line64() -> u32 {
    64
}

impl MemoryConfig {
    /// Problems of `[memory]`: each level's line and geometry, and shared levels
    /// behind private ones only.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        for (i, c) in self.cache.iter().enumerate() {
            let p = format!("memory.cache[{i}]");
            if !c.line.is_power_of_two() || c.line < 8 || c.line > 4096 {
                e.push((
                    format!("{p}.line"),
                    format!(
                        "must be a power of two from 8 to 4096 bytes, not {}",
                        c.line
                    ),
                ));
                continue;
            }
            if c.size.0 < c.line as u64 {
                e.push((
                    format!("{p}.size"),
                    format!("{} bytes hold no {}-byte line", c.size.0, c.line),
                ));
                continue;
            }
            if c.size.0 % c.line as u64 != 0 {
                e.push((
                    format!("{p}.size"),
                    format!(
                        "{} is not a multiple of the {}-byte line",
                        c.size.describe(),
                        c.line
                    ),
                ));
                continue;
            }
            let before = e.len();
            let lines = super::Capacity::Lines {
                size: c.size,
                line: c.line,
            };
            super::check_geometry(&mut e, &p, lines, c.ways, c.replacement);
            // A decimal size ("32KB") gives sets that are no power of two: say so.
            let hint = c.size.decimal_hint();
            if !hint.is_empty() {
                for (_, msg) in &mut e[before..] {
                    msg.push_str(&format!("; size = {}{hint}", c.size.0));
                }
            }
            if i > 0 && self.cache[i - 1].shared && !c.shared {
                e.push((
                    format!("{p}.shared"),
                    "a private level cannot sit behind a shared one".into(),
                ));
            }
        }
        e
    }
}
