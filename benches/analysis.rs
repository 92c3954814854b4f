//! Reference-behaviour analysis speed, in references per second: the one-pass LRU and
//! MIN stack analyses of a 10-million-reference stream over 100,000 distinct pages, and
//! for comparison a naive LRU simulation run once per memory size for a 100-point
//! curve (on a 1-million-reference stream).
//!
//! The `min` group: the MIN pass on the issue-21 streams (10^6 uniform and 10^6 Zipf
//! references over 2^20 pages, built by the workload generators `mmusim analyze -w`
//! uses), each with the LRU pass of the same stream as the reference; and the MIN pass
//! against the priority-stack pass it replaced (`opt_stack`, far too slow for the 2^20
//! streams: 23 s each) on 10^6 uniform references over 10^5 pages.
//!
//! `cargo bench --bench analysis -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mmusim::addr::PageSize;
use mmusim::analysis::lru::lru;
use mmusim::analysis::opt::opt;
use mmusim::analysis::opt_stack::opt_priority_stack;
use mmusim::analysis::PageStream;
use mmusim::workload::WorkloadSpec;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;

const PAGES: u64 = 100_000;

/// `n` references over `PAGES` pages. `uniform`: every reference uniform. Otherwise a
/// program-like stream: 90% of references fall in a 2,000-page window that drifts
/// forward (phases of locality), 10% anywhere.
fn stream(n: usize, uniform: bool, seed: u64) -> PageStream {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut pages = Vec::with_capacity(n);
    for i in 0..n {
        let x = r.next_u64();
        let p = if uniform || x % 10 == 0 {
            (x >> 16) % PAGES
        } else {
            let base = (i as u64 / 500) * 7 % PAGES;
            (base + (x >> 16) % 2000) % PAGES
        };
        pages.push(p);
    }
    PageStream::from_pages(&pages)
}

/// LRU with `m` frames simulated directly (O(1) per reference: a recency list threaded
/// through the page ids and a resident count); faults.
fn lru_sim(ids: &[u32], distinct: usize, m: usize) -> u64 {
    const NIL: u32 = u32::MAX;
    let mut prev = vec![NIL; distinct];
    let mut next = vec![NIL; distinct];
    let mut resident = vec![false; distinct];
    let (mut head, mut tail) = (NIL, NIL);
    let mut len = 0usize;
    let mut faults = 0;
    for &p in ids {
        let pi = p as usize;
        if resident[pi] {
            if head == p {
                continue;
            }
            // Unlink.
            let (a, b) = (prev[pi], next[pi]);
            next[a as usize] = b;
            if b != NIL {
                prev[b as usize] = a;
            } else {
                tail = a;
            }
        } else {
            faults += 1;
            if len == m {
                let v = tail;
                resident[v as usize] = false;
                tail = prev[v as usize];
                if tail != NIL {
                    next[tail as usize] = NIL;
                } else {
                    head = NIL;
                }
            } else {
                len += 1;
            }
            resident[pi] = true;
        }
        prev[pi] = NIL;
        next[pi] = head;
        if head != NIL {
            prev[head as usize] = p;
        } else {
            tail = p;
        }
        head = p;
    }
    faults
}

fn analysis(c: &mut Criterion) {
    let mut g = c.benchmark_group("analysis");
    g.sample_size(10);
    for (name, uniform) in [("locality", false), ("uniform", true)] {
        let s = stream(10_000_000, uniform, 1);
        assert!(s.distinct() > 99_000, "{}", s.distinct());
        g.throughput(Throughput::Elements(s.len() as u64));
        g.bench_with_input(BenchmarkId::new("lru_10M", name), &s, |b, s| {
            b.iter(|| lru(black_box(s)).first_refs)
        });
        g.bench_with_input(BenchmarkId::new("min_10M", name), &s, |b, s| {
            b.iter(|| opt(black_box(s)).unwrap().first_refs)
        });
    }
    // The comparison: a 100-point LRU curve by one simulation per size, against the
    // one-pass analysis of the same 1M references (which gives every size).
    let s = stream(1_000_000, false, 2);
    let sizes: Vec<usize> = (1..=100).map(|i| i * s.distinct() / 100).collect();
    let f = lru(&s).faults();
    for &m in &[sizes[0], sizes[49]] {
        assert_eq!(lru_sim(&s.ids, s.distinct(), m), f[m - 1]);
    }
    g.throughput(Throughput::Elements(s.len() as u64));
    g.bench_with_input(BenchmarkId::new("lru_1M", "one_pass"), &s, |b, s| {
        b.iter(|| lru(black_box(s)).first_refs)
    });
    g.bench_with_input(BenchmarkId::new("lru_1M", "100_simulations"), &s, |b, s| {
        b.iter(|| {
            sizes
                .iter()
                .map(|&m| lru_sim(black_box(&s.ids), s.distinct(), m))
                .sum::<u64>()
        })
    });
    g.finish();
}

/// The stream of a generated workload (4 KiB pages).
fn generated(accesses: u64, generator: &str) -> PageStream {
    let text = format!("accesses = {accesses}\nseed = 3\n[generator]\n{generator}\n");
    let spec = WorkloadSpec::from_toml(&text).unwrap();
    PageStream::from_workload(&spec, std::path::Path::new(""), 0, PageSize::Size4K, "w").unwrap()
}

fn min(c: &mut Criterion) {
    let mut g = c.benchmark_group("min");
    g.sample_size(10);
    let big = [
        (
            "uniform_1M_2^20",
            generated(1_000_000, "kind = \"uniform\"\nfootprint = \"4GiB\""),
        ),
        (
            "zipf_1M_2^20",
            generated(
                1_000_000,
                "kind = \"zipf\"\nfootprint = \"4GiB\"\nexponent = 0.99",
            ),
        ),
        ("uniform_10M_10^5", stream(10_000_000, true, 1)),
    ];
    for (name, s) in &big {
        eprintln!("{name}: {} references, {} pages", s.len(), s.distinct());
        g.throughput(Throughput::Elements(s.len() as u64));
        g.bench_with_input(BenchmarkId::new("lru", name), s, |b, s| {
            b.iter(|| lru(black_box(s)).first_refs)
        });
        g.bench_with_input(BenchmarkId::new("min", name), s, |b, s| {
            b.iter(|| opt(black_box(s)).unwrap().first_refs)
        });
    }
    let s = stream(1_000_000, true, 4);
    assert_eq!(opt(&s).unwrap(), opt_priority_stack(&s).unwrap());
    g.throughput(Throughput::Elements(s.len() as u64));
    g.bench_with_input(BenchmarkId::new("min", "uniform_1M_10^5"), &s, |b, s| {
        b.iter(|| opt(black_box(s)).unwrap().first_refs)
    });
    g.bench_with_input(
        BenchmarkId::new("min_priority_stack", "uniform_1M_10^5"),
        &s,
        |b, s| b.iter(|| opt_priority_stack(black_box(s)).unwrap().first_refs),
    );
    g.finish();
}

criterion_group!(benches, analysis, min);
criterion_main!(benches);
