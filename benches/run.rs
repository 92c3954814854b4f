//! Whole runs of the Skylake-like preset, in simulated accesses per second:
//! a TLB-hit-heavy run (sequential over 64 KiB) with and without data accesses going
//! through the simulated caches, and walk-heavy runs (uniform random over 4 GiB and
//! 64 GiB, nearly every access walks; the 64 GiB one also faults on most accesses).
//!
//! `cargo bench --bench run`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mmusim::run::{load_inputs, simulate};

fn case(c: &mut Criterion, name: &str, workload: &str, accesses: u64, sets: &[&str]) {
    let mut s: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
    s.push(format!("workload.accesses={accesses}"));
    let inputs = load_inputs(Some("skylake"), Some(workload), &s).expect("valid inputs");
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    g.throughput(Throughput::Elements(accesses));
    g.bench_function(name, |b| {
        b.iter(|| simulate(&inputs, &mut |_, _| {}).expect("runs"))
    });
    g.finish();
}

fn runs(c: &mut Criterion) {
    let hits = "workloads/sequential-hits.toml";
    let uniform = "workloads/uniform-64g.toml";
    case(
        c,
        "hit_heavy",
        hits,
        10_000_000,
        &["memory.data_through_caches=false"],
    );
    case(c, "hit_heavy_data_caches", hits, 10_000_000, &[]);
    case(
        c,
        "walk_heavy_4g",
        uniform,
        1_000_000,
        &["workload.generator.footprint=\"4GiB\""],
    );
    case(
        c,
        "walk_heavy_64g",
        uniform,
        1_000_000,
        &["os.phys_mem=\"128GiB\""],
    );
}

criterion_group!(benches, runs);
criterion_main!(benches);
