//! End-to-end and exact-value tests, compiled as one binary (faster builds on 2 cores).

mod allocs;
mod analysis;
mod bad_config;
mod bad_inputs;
mod compare;
mod explain;
mod flattened;
mod guarantees;
mod hardening_a;
mod hardening_c;
mod hardening_d;
mod hardening_sweep;
mod mva;
mod names;
mod os;
mod plots;
mod procs;
mod progress;
mod randomized;
mod reports;
mod runs;
mod shootdown;
mod stack_distance;
mod steady;
mod study;
mod sweep;
mod timeline;
mod tlb_organisation;
mod traces;
mod units;
mod walk_alloc;
mod walk_latency;
mod ws_replace;

use mmusim::config::SystemConfig;
use mmusim::loader::load;

/// Counts each thread's allocations for `allocs` (the system allocator underneath; the
/// other tests see no difference).
#[global_allocator]
static ALLOCATOR: allocs::Counting = allocs::Counting;

/// Decode and validate a system config from TOML text; panics with the errors (tests only).
pub fn system(text: &str) -> SystemConfig {
    let (cfg, src) = load::<SystemConfig>("<test>", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let errs: Vec<String> = cfg
        .validate()
        .into_iter()
        .map(|(p, m)| src.error_at(&p, m).to_string())
        .collect();
    assert!(errs.is_empty(), "{errs:?}");
    cfg
}
