//! Working set and VMIN for every T up to 10,000 on 10 million references over 100,000
//! pages, and each fixed-memory replacement policy on 1 million references with 1,000
//! frames, in references per second.
//!
//! `cargo bench --bench ws -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mmusim::analysis::replace::{faults, Policy};
use mmusim::analysis::ws::ws_vmin_all;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;

const PAGES: u64 = 100_000;

/// A stream with locality: three references in four step a little from the current page,
/// the fourth jumps anywhere among `PAGES`.
fn stream(n: usize, seed: u64) -> Vec<u32> {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut cur = 0u64;
    (0..n)
        .map(|_| {
            let x = r.next_u64();
            cur = if x % 4 == 0 {
                x >> 16
            } else {
                cur + (x >> 40) % 16
            } % PAGES;
            cur as u32
        })
        .collect()
}

fn ws(c: &mut Criterion) {
    let ids = stream(10_000_000, 1);
    let mut g = c.benchmark_group("ws_vmin");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("all_t_to_10000", |b| {
        b.iter(|| ws_vmin_all(black_box(&ids), PAGES as usize, 10_000))
    });
    g.finish();
}

fn replace(c: &mut Criterion) {
    let ids = stream(1_000_000, 2);
    let mut g = c.benchmark_group("replace_1000_frames");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ids.len() as u64));
    for p in Policy::ALL {
        g.bench_with_input(BenchmarkId::from_parameter(p), &ids, |b, ids| {
            b.iter(|| faults(black_box(ids), PAGES as usize, 1000, p, 1))
        });
    }
    g.finish();
}

criterion_group!(benches, ws, replace);
criterion_main!(benches);
