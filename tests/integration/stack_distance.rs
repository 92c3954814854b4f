//! A fully-associative LRU TLB of N entries misses exactly on the references whose LRU
//! stack distance exceeds N (Mattson et al. 1970). The stack distances here come from an
//! independent brute-force stack; the TLB is checked reference by reference, and the whole
//! simulator is checked to count the same misses.

use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::assoc::Replacement;
use mmusim::config::{TlbConfig, TlbFill, TlbKind, TlbOrganisation};
use mmusim::run::{load_inputs, simulate};
use mmusim::tlb::{Tlbs, DATA};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Stack distance of every reference (1 = re-reference of the most recent page);
/// `u64::MAX` for a first reference.
fn stack_distances(refs: &[u64]) -> Vec<u64> {
    let mut stack: Vec<u64> = Vec::new(); // most recent first
    refs.iter()
        .map(|&p| {
            let d = match stack.iter().position(|&x| x == p) {
                Some(i) => {
                    stack.remove(i);
                    i as u64 + 1
                }
                None => u64::MAX,
            };
            stack.insert(0, p);
            d
        })
        .collect()
}

/// Locality-rich random stream: mostly near recent pages, sometimes anywhere.
fn stream(seed: u64, n: usize, pages: u64) -> Vec<u64> {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut cur = 0u64;
    (0..n)
        .map(|_| {
            let x = r.next_u64();
            cur = if x % 4 == 0 {
                x >> 8
            } else {
                cur + (x >> 40) % 7
            } % pages;
            cur
        })
        .collect()
}

fn fa_tlb(entries: u32) -> Tlbs {
    Tlbs::new(
        &[TlbConfig {
            name: "fa".into(),
            level: 1,
            kind: TlbKind::Data,
            entries,
            ways: entries,
            page_sizes: vec![PageSize::Size4K],
            latency: 1,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::SetAssociative,
            coalesce: None,
        }],
        0,
    )
}

#[test]
fn fa_lru_tlb_misses_exactly_when_stack_distance_exceeds_entries() {
    for seed in 0..6 {
        let refs = stream(seed, 6000, 300);
        let dist = stack_distances(&refs);
        for n in [1u32, 2, 7, 16, 64, 100] {
            let mut t = fa_tlb(n);
            for (i, (&p, &d)) in refs.iter().zip(&dist).enumerate() {
                let va = VirtAddr(p << 12);
                let mut c = 0;
                let hit = t.lookup(DATA, 1, va, &mut c);
                t.complete(
                    DATA,
                    1,
                    va,
                    PhysAddr(va.0),
                    PageSize::Size4K,
                    hit.map_or(1, |h| h.level),
                );
                assert_eq!(
                    hit.is_none(),
                    d > n as u64,
                    "seed {seed}, N {n}, reference {i} (page {p}, distance {d})"
                );
            }
        }
    }
}

#[test]
fn the_whole_simulator_counts_the_same_misses() {
    let refs = stream(42, 5000, 200);
    let dist = stack_distances(&refs);
    let list: Vec<String> = refs.iter().map(|p| p.to_string()).collect();
    // A fresh folder (issue 17 item 16: no name shared with another test or process).
    let tmp = tempfile::tempdir().unwrap();
    let wl = tmp.path().join("refs.toml");
    std::fs::write(
        &wl,
        format!(
            "name = \"sd\"\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n",
            list.join(" ")
        ),
    )
    .unwrap();
    for n in [4u32, 32, 128] {
        let sets = vec![
            format!(
                "tlb=[{{name=\"fa\", level=1, kind=\"data\", entries={n}, ways={n}, page_sizes=[\"4K\"], latency=1}}]"
            ),
            "walker.psc=[]".to_string(),
            // The distances count every reference, the first ones included.
            "sim.warmup_accesses=0".to_string(),
        ];
        let inputs = load_inputs(Some("skylake"), Some(wl.to_str().unwrap()), &sets)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let rep = simulate(&inputs, &mut |_, _| {}).unwrap();
        let t = &rep.stats.total;
        let expect = dist.iter().filter(|&&d| d > n as u64).count() as u64;
        assert_eq!(t.tlb[0].counts.misses, expect, "N {n}");
        assert_eq!(t.tlb[0].counts.hits, refs.len() as u64 - expect);
        // Every miss walks; first touches walk twice (before and after the fault).
        let distinct = dist.iter().filter(|&&d| d == u64::MAX).count() as u64;
        assert_eq!(t.walks.walks, expect + distinct);
        assert_eq!(t.minor_faults, distinct);
        t.check_accounting().unwrap();
    }
}
