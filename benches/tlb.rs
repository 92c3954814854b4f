//! The TLB lookup path of a Skylake-like hierarchy, in lookups per second.
//!
//! `cargo bench --bench tlb`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::run::load_inputs;
use mmusim::tlb::{Tlbs, DATA};
use std::hint::black_box;

fn lookups(c: &mut Criterion) {
    let cfg = load_inputs(Some("skylake"), None, &[])
        .expect("preset")
        .system;
    let mut g = c.benchmark_group("tlb_lookup");
    // Pages visited round-robin: 8 pages hit the L1 DTLB on every lookup but never the
    // same page twice in a row (so the repeated-hit shortcut does not apply); 1024 pages
    // miss L1 and hit the STLB; the same page repeatedly takes the shortcut.
    for (name, pages, stride) in [
        ("l1_hit", 8u64, 4096u64),
        ("stlb_hit", 1024, 4096),
        ("same_page", 1, 8),
    ] {
        let mut tlbs = Tlbs::new(&cfg.tlb, 1);
        let addrs: Vec<VirtAddr> = (0..4096u64)
            .map(|i| VirtAddr(0x7f00_0000_0000 + (i % (pages * 4096 / stride)) * stride))
            .collect();
        for &va in &addrs {
            let mut cyc = 0;
            let h = tlbs.lookup(DATA, 1, va, &mut cyc);
            tlbs.complete(
                DATA,
                1,
                va,
                PhysAddr(va.0),
                PageSize::Size4K,
                h.map_or(tlbs.num_levels(), |h| h.level),
            );
        }
        g.throughput(Throughput::Elements(addrs.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &addrs, |b, addrs| {
            b.iter(|| {
                let mut cyc = 0u64;
                for &va in addrs {
                    let h = tlbs.lookup(DATA, 1, black_box(va), &mut cyc);
                    let lvl = h.map_or(tlbs.num_levels(), |h| h.level);
                    tlbs.complete(DATA, 1, va, PhysAddr(va.0), PageSize::Size4K, lvl);
                }
                cyc
            })
        });
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
