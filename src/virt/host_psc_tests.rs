//! Exact tests of which host reads the host walk caches (and the NTLB beside them) remove
//! from the nested walk, over the radix guest and host tables of `tests.rs`.
//!
//! How the expected values are derived: a nested walk of a 4-level guest makes 5 host
//! walks (the gPAs of the guest's 4 tables, from the root down, then the data's); a host
//! walk from the root of a 4-level host over 4K pages reads levels 4, 3, 2, 1. A host
//! walk-cache hit at level L hands over the level L - 1 table, so that walk reads levels
//! L - 1 down to 1: it removes `top - L + 1` reads; an NTLB hit removes all of them. A
//! cache at level L holds an entry per (VM, gPA >> shift(L)), shift(L) = 12 + 9 (L - 1):
//! 2M regions at level 2, 1G at 3, 512G at 4. Each case below writes, per host walk, the
//! level its reads start at (`from`: 4 from the root, L - 1 after a hit at L, 0 after an
//! NTLB hit), worked out by hand from which regions earlier walks filled; a completed
//! walk over 4K host pages then makes 4 guest reads + the sum of `from`, and any walk's
//! references are the uncached walk's (checked in `tests.rs` against the tables' own
//! walks) without the host reads above `from`.
//!
//! The layout (asserted): the guest's allocator put its four tables and the first data
//! page D1 in the first 2M of guest-physical memory, R0 = [0, 2M). The other data pages
//! are placed by hand, each under the same guest leaf table (gVA + k * 4K):
//! D2 in R0; D3 and D4 in R1 = [6M, 8M) (same 1G as R0, another 2M); D5 at 2G + 20K
//! (another 1G, same 512G); D6 at 512G + 28K (another 512G); Y at 3G + 4K, not backed by
//! the host (an EPT violation), in a 1G region whose level-2 host table exists (Z, 10M
//! further, is backed) but without a leaf table for Y's 2M; W at 1T + 8K, not backed, in
//! a 512G region with no host table at all.

use super::host_psc::{HostCaches, HostPsc};
use super::nested::{nested_walk_cached, Dimension, NestedFault, NestedRef, NestedScratch};
use super::ntlb::NestedTlb;
use super::ntlb_tests::{lookup_pages, walk_c};
use super::tests::{back, build, host_of, walk_at, Vm, GUEST, VM};
use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::assoc::Replacement;
use crate::config::{FrameAlloc, PscConfig};
use crate::os::frames::FrameAllocator;
use crate::pagetable::Mappable;

const R1: u64 = 6 << 20;
const D3: u64 = R1 + 0x3000;
const D4: u64 = R1 + 0x4000;
const D5: u64 = (2 << 30) + 0x5000;
const D6: u64 = (512 << 30) + 0x7000;
const Y: u64 = (3 << 30) + 0x1000;
const Z: u64 = (3 << 30) + (10 << 20);
const W: u64 = (1024 << 30) + 0x2000;

/// Host walk caches at `levels`, 16 entries, 4-way LRU each: at most 4 prefixes per
/// level appear below, all of which fit a 4-entry set, so nothing is evicted.
fn psc(levels: &[u32]) -> HostPsc {
    let cfgs: Vec<PscConfig> = levels
        .iter()
        .map(|&l| PscConfig {
            name: format!("host-l{l}"),
            level: l,
            entries: 16,
            ways: 4,
            latency: l,
            replacement: Replacement::Lru,
        })
        .collect();
    HostPsc::new(&cfgs, 3)
}

fn caches(ntlb: Option<usize>, levels: &[u32]) -> HostCaches {
    HostCaches::new(ntlb.map(NestedTlb::new), psc(levels))
}

/// The test VM (4-level guest, `hlevels` host, `hsize` host pages) and its gVAs:
/// `g[0]` is `build`'s (data D1), `g[k]` = `g[0]` + k * 4K maps D2, D3, D4, D5, D6, Y, W
/// for k = 1..=7. Everything backed with `hsize` pages but Y and W (and Z backed).
fn layout(hlevels: usize, hsize: PageSize) -> (Vm, [VirtAddr; 8]) {
    let mut vm = build(4, hlevels, PageSize::Size4K, hsize);
    let g0 = vm.gva;
    let p = lookup_pages(&vm, g0, PageSize::Size4K);
    // Tables and D1 in R0.
    assert!(p.iter().all(|&a| a < 2 << 20), "{p:x?}");
    let d2 = (1..512u64)
        .map(|k| p[4] ^ (k << 12))
        .find(|d| !p.contains(d))
        .unwrap();
    let g: [VirtAddr; 8] = std::array::from_fn(|k| g0 + k as u64 * 0x1000);
    // The leaf table exists (indices 0x167..0x16e of it), so mapping allocates nothing.
    let mut none = FrameAllocator::new(1 << 21, FrameAlloc::Shuffled, 1);
    for (k, d) in [d2, D3, D4, D5, D6, Y, W].into_iter().enumerate() {
        let (gva, page) = (g[k + 1], d & !0xfff);
        vm.guest
            .map(GUEST, gva, PageSize::Size4K, PhysAddr(page), &mut none)
            .unwrap();
        assert_eq!(lookup_pages(&vm, gva, PageSize::Size4K)[..4], p[..4]);
        if d != Y && d != W {
            back(&mut vm, d, hsize);
        }
    }
    back(&mut vm, Z, hsize);
    (vm, g)
}

/// The uncached walk's references without the host reads above `from[i]` in host walk i
/// (host walk i: the host references after the i-th guest read, or before the first).
fn without_skipped(plain: &[NestedRef], from: &[u8]) -> Vec<NestedRef> {
    let mut out = Vec::new();
    let mut i = 0;
    for r in plain {
        if r.dim == Dimension::GuestPte {
            i += 1;
            out.push(*r);
        } else if r.host_level <= from[i] {
            out.push(*r);
        }
    }
    let last_is_host = plain.last().is_some_and(|r| r.dim != Dimension::GuestPte);
    assert_eq!(
        i + last_is_host as usize,
        from.len(),
        "one `from` per host walk"
    );
    out
}

/// One cached walk of `gva` as VM `vm_id`: same result as the uncached walk, the
/// uncached references without the reads `from` skips, `count` of them (for a completed
/// walk over 4K host pages, 4 + the sum of `from`), one cache probe per host walk.
fn check(vm: &Vm, vm_id: u16, gva: VirtAddr, c: &mut HostCaches, from: &[u8], count: usize) {
    let (r, refs) = walk_c(vm, vm_id, gva, c);
    let (p, plain) = walk_at(vm, gva);
    assert_eq!(r, p, "result");
    assert_eq!(refs, without_skipped(&plain, from), "from {from:?}");
    assert_eq!(refs.len(), count, "from {from:?}");
    if let Ok(w) = &r {
        // Over 4K host pages a completed host walk reads exactly its levels `from`..1.
        if w.host.size == PageSize::Size4K {
            assert_eq!(4 + from.iter().map(|&f| f as usize).sum::<usize>(), count);
        }
    }
    assert_eq!(
        c.walk_probes() as usize,
        from.len(),
        "one probe per host walk"
    );
}

/// (lookups, hits) of the host walk cache of `level`.
fn counts(c: &HostCaches, level: u32) -> (u64, u64) {
    let s = c.psc().stats().iter().find(|s| s.level == level).unwrap();
    (s.lookups, s.hits)
}

#[test]
fn a_pde_cache_removes_the_three_upper_host_reads_of_walks_into_a_2m_region_seen_before() {
    // PDE cache only (level 2): a hit removes 4 - 2 + 1 = 3 reads (levels 4, 3, 2),
    // leaving the leaf read; only a host walk whose gPA's 2M region was walked before
    // (in this nested walk or an earlier one) hits.
    let (vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(None, &[2]);
    // g0, cold: host walks of T4, T3, T2, T1, D1, all in R0. T4 misses (4 reads) and
    // fills R0; the other four hit (1 read each): 4 + 4 + 4 = 12, against 24 uncached
    // (12 = 4 hits x 3 removed).
    assert_eq!(walk_at(&vm, g[0]).1.len(), 24);
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    assert_eq!(counts(&c, 2), (5, 4));
    // g0 again: every region seen, 5 hits: 4 + 5 = 9.
    check(&vm, VM, g[0], &mut c, &[1; 5], 9);
    // g2 (D3 in R1, new): the tables hit, D3 misses and fills R1: 4 + 4 + 4 = 12.
    check(&vm, VM, g[2], &mut c, &[1, 1, 1, 1, 4], 12);
    // g3 (D4, another 4K page of R1, walked by g2): the second walk of a gVA under the
    // same guest leaf table whose data shares D3's 2M region: every host walk hits,
    // 4 + 5 = 9; 24 - 9 = 15 = 5 host walks x 3.
    check(&vm, VM, g[3], &mut c, &[1; 5], 9);
    // g1 (D2 in R0): 9 as well.
    check(&vm, VM, g[1], &mut c, &[1; 5], 9);
    // 5 walks x 5 probes; misses: T4 in the first, D3 in the third.
    assert_eq!(counts(&c, 2), (25, 23));
    assert_eq!(c.lookups(), 25);
    assert_eq!((c.psc().occupancy(2, VM), c.psc().occupancy(3, VM)), (2, 0));
}

#[test]
fn pml4_pdpt_and_pde_caches_each_start_the_host_walk_below_their_level() {
    // Caches at 4, 3 and 2; the deepest hit wins: reads of a host walk = L - 1 after a
    // hit at L (2 = 4 - 3 + 1 removed by a PDPT hit, 1 by a PML4 hit), 4 on a miss.
    let (vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(None, &[4, 3, 2]);
    // g0 cold: T4 misses everything and fills PML4[0], PDPT[0], PDE[R0]; T3, T2, T1 and
    // D1 hit all three, the PDE hit wins: 4 + 4 + 4 x 1 = 12.
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    // g2: tables 1 each; D3 (R1, same 1G): PDE misses, PDPT hits: 2 reads (levels 2,
    // 1): 4 + 4 + 2 = 10. Fills PDE[R1].
    check(&vm, VM, g[2], &mut c, &[1, 1, 1, 1, 2], 10);
    // g4: D5 (another 1G, same 512G): only PML4 hits: 3 reads: 4 + 4 + 3 = 11.
    check(&vm, VM, g[4], &mut c, &[1, 1, 1, 1, 3], 11);
    // g5: D6 (another 512G): nothing hits: 4 + 4 + 4 = 12.
    check(&vm, VM, g[5], &mut c, &[1, 1, 1, 1, 4], 12);
    // g4 again: D5's 2M region is in the PDE cache now: 4 + 4 + 1 = 9.
    check(&vm, VM, g[4], &mut c, &[1; 5], 9);
    // Every cache probed on every host walk (25), each hit counted even when a deeper one
    // wins. Table host walks: T4 of g0 missed all three, the other 19 hit all three.
    // Data host walks: D1 hit all three; D3 PML4 and PDPT; D5 (first) PML4; D6 none; D5
    // again all three. PDE 19 + 2 = 21, PDPT 19 + 3 = 22, PML4 19 + 4 = 23.
    assert_eq!(counts(&c, 2), (25, 21));
    assert_eq!(counts(&c, 3), (25, 22));
    assert_eq!(counts(&c, 4), (25, 23));
    // Regions held: PDE R0, R1, D5's, D6's (D6's walk from the root filled all three
    // levels); PDPT 1G #0, #2, D6's; PML4 512G #0, #1. (16 entries in 4 sets of 4: the
    // prefixes fall in at most 3 per set, nothing evicted.)
    assert_eq!(c.psc().occupancy(2, VM), 4);
    assert_eq!(c.psc().occupancy(3, VM), 3);
    assert_eq!(c.psc().occupancy(4, VM), 2);
}

#[test]
fn a_hit_at_level_l_removes_top_minus_l_plus_1_reads_on_5_level_and_2m_hosts() {
    // 5-level host, 4K pages, caches at 5, 4, 3, 2: a cold host walk reads 5 (uncached
    // nested walk 4 x 6 + 5 = 29). g0: T4 misses (5), the other four hit PDE (5 - 2 + 1
    // = 4 removed, 1 read): 4 + 5 + 4 = 13 = 29 - 4 x 4.
    let vm = build(4, 5, PageSize::Size4K, PageSize::Size4K);
    assert!(
        lookup_pages(&vm, vm.gva, PageSize::Size2M) == [0; 5],
        "all in R0"
    );
    let mut c = caches(None, &[5, 4, 3, 2]);
    assert_eq!(walk_at(&vm, vm.gva).1.len(), 29);
    let (r, refs) = walk_c(&vm, VM, vm.gva, &mut c);
    assert_eq!(r, walk_at(&vm, vm.gva).0);
    assert_eq!(refs.len(), 13);
    assert_eq!(
        refs,
        without_skipped(&walk_at(&vm, vm.gva).1, &[5, 1, 1, 1, 1])
    );
    assert_eq!(counts(&c, 5), (5, 4));

    // 4-level host over 2M pages: a host walk reads levels 4, 3, 2 (the leaf), h = 3;
    // the level-2 entry is a leaf, never held, so the PDE cache stays empty. g0: T4
    // misses (3), fills PML4 and PDPT; the other four hit PDPT (4 - 3 + 1 = 2 removed,
    // the leaf read left): 4 + 3 + 4 = 11 = 19 - 4 x 2.
    let (vm, g) = layout(4, PageSize::Size2M);
    let mut c = caches(None, &[4, 3, 2]);
    assert_eq!(walk_at(&vm, g[0]).1.len(), 19);
    let (r, refs) = walk_c(&vm, VM, g[0], &mut c);
    assert_eq!(r, walk_at(&vm, g[0]).0);
    assert_eq!(
        refs,
        without_skipped(&walk_at(&vm, g[0]).1, &[4, 2, 2, 2, 2])
    );
    assert_eq!(refs.len(), 11);
    assert_eq!(counts(&c, 2), (5, 0));
    assert_eq!(c.psc().occupancy(2, VM), 0);

    // A level-5 cache on a 4-level host is never probed.
    let (vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(None, &[5, 2]);
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    assert_eq!(counts(&c, 5), (0, 0));
}

#[test]
fn an_ntlb_hit_makes_no_host_reads_and_a_miss_with_a_pde_hit_makes_one() {
    // NTLB of 8 entries (4K gPA pages here) probed with a PDE cache.
    let (vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(Some(8), &[2]);
    // g0 cold: T4 misses both (4 reads), fills the NTLB (T4's page) and PDE[R0]; T3,
    // T2, T1, D1: NTLB miss (other 4K pages), PDE hit: 1 read each. 4 + 4 + 4 = 12.
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    // g0 again: 5 NTLB hits, no host reads: the 4 guest reads.
    check(&vm, VM, g[0], &mut c, &[0; 5], 4);
    // g1 (D2: a 4K page of R0 not yet seen): the tables hit the NTLB, D2 misses it and
    // hits the PDE cache: 4 + 1 = 5.
    check(&vm, VM, g[1], &mut c, &[0, 0, 0, 0, 1], 5);
    let n = c.ntlb().unwrap();
    assert_eq!((n.hits, n.misses), (5 + 4, 5 + 1));
    // Probed in parallel: the PDE cache counts every probe and every hit, also those
    // the NTLB won. Misses: T4 in the first walk only.
    assert_eq!(counts(&c, 2), (15, 14));
    assert_eq!(c.lookups(), 15);
    assert_eq!(n.len(), 6);

    // A guest fault (g0 + 16 pages: no guest mapping in the same leaf table): the 4
    // guest tables' host walks (NTLB hits) and no data host walk: 4 probes, 4 refs.
    let (r, refs) = walk_c(&vm, VM, g[0] + 0x10000, &mut c);
    assert!(matches!(r, Err(NestedFault::Guest { .. })));
    assert_eq!(refs.len(), 4);
    assert_eq!(c.walk_probes(), 4);
    assert_eq!(c.lookups(), 19);
}

#[test]
fn host_walk_cache_entries_of_one_vm_never_serve_another_and_flush_vm_drops_only_its_own() {
    // PDE cache only. The radix host ignores the address space, so VM and VM + 1 walk
    // the same tables; only the tags differ.
    let (vm, g) = layout(4, PageSize::Size4K);
    let other = VM + 1;
    let mut c = caches(None, &[2]);
    // VM cold 12 (as in the PDE test); VM + 1 finds none of VM's entries: 12 too.
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, other, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, VM, g[0], &mut c, &[1; 5], 9);
    check(&vm, other, g[0], &mut c, &[1; 5], 9);
    assert_eq!(
        (c.psc().occupancy(2, VM), c.psc().occupancy(2, other)),
        (1, 1)
    );
    // Flushing VM: VM cold again (12), VM + 1 still warm (9).
    c.flush_vm(VM);
    assert_eq!(
        (c.psc().occupancy(2, VM), c.psc().occupancy(2, other)),
        (0, 1)
    );
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, other, g[0], &mut c, &[1; 5], 9);

    // A 1-entry PDE cache: the two VMs' R0 entries evict each other, so each VM's walk
    // after the other's is cold again: T4 misses (4) and refills, the rest hit: 12.
    let mut c = HostCaches::new(
        None,
        HostPsc::new(
            &[PscConfig {
                name: "pde".into(),
                level: 2,
                entries: 1,
                ways: 1,
                latency: 1,
                replacement: Replacement::Lru,
            }],
            1,
        ),
    );
    for id in [VM, other, VM, other] {
        check(&vm, id, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    }
    // With an NTLB too (16 entries: both VMs' 5 pages fit), flush_vm empties both for
    // that VM.
    let mut c = caches(Some(16), &[2]);
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, other, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    c.flush_vm(VM);
    assert!(c.ntlb().unwrap().contents().all(|(v, _)| v == other));
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, other, g[0], &mut c, &[0; 5], 4);
}

#[test]
fn an_ept_violation_keeps_the_tables_its_host_walk_found_and_nothing_else() {
    // The choice: a host walk that ends at a not-present entry fills the walk caches
    // with the tables it did find (present non-leaf entries: valid, and the hypervisor's
    // fix adds entries below them, so the retried walk starts under them) and fills the
    // NTLB with nothing (no translation). NTLB of 8 and caches at 4, 3, 2.
    let (mut vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(Some(8), &[4, 3, 2]);
    // g0 cold: 12 (T4 4 reads, the rest PDE hits); the NTLB holds T4, T3, T2, T1, D1.
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    // g6 (Y, 1G #3): tables NTLB hits (0); Y: NTLB miss, PDE and PDPT miss (1G #3 not
    // seen), PML4 hit: reads level 3 (present: Z's level-2 table) and level 2 (not
    // present): 2 reads, EPT violation at Y. 4 + 2 = 6.
    let violation = Err(NestedFault::Host {
        gpa: GuestPhysAddr(Y + g[6].offset(PageSize::Size4K)),
        guest_level: 0,
    });
    check(&vm, VM, g[6], &mut c, &[0, 0, 0, 0, 3], 6);
    assert_eq!(walk_c(&vm, VM, g[6], &mut caches(None, &[])).0, violation);
    // It found the level-2 table of 1G #3: PDPT now holds it; nothing else new.
    assert_eq!(c.psc().occupancy(3, VM), 2);
    assert_eq!(c.psc().occupancy(2, VM), 1);
    assert_eq!(c.ntlb().unwrap().len(), 5);
    // The same walk again, nothing fixed: the PDPT hit starts at level 2: 1 read, the
    // same violation. 4 + 1 = 5.
    check(&vm, VM, g[6], &mut c, &[0, 0, 0, 0, 2], 5);
    // The hypervisor backs Y: a leaf table under the level-2 entry the cache points to
    // (which is unchanged, so the entry stays right). Retry: PDPT hit, 2 reads (levels
    // 2, 1), the translation; fills PDE[Y's 2M] and the NTLB: 4 + 2 = 6.
    back(&mut vm, Y, PageSize::Size4K);
    check(&vm, VM, g[6], &mut c, &[0, 0, 0, 0, 2], 6);
    let w = walk_c(&vm, VM, g[6], &mut caches(None, &[])).0.unwrap();
    assert_eq!(
        w.hpa(g[6]).0,
        host_of(&vm, Y + g[6].offset(PageSize::Size4K))
    );
    assert_eq!(c.psc().occupancy(2, VM), 2);
    assert_eq!(c.ntlb().unwrap().len(), 6);
    // And again: every host walk an NTLB hit, the 4 guest reads.
    check(&vm, VM, g[6], &mut c, &[0; 5], 4);
}

#[test]
fn an_ept_violation_at_the_host_root_finds_no_table_and_fills_nothing() {
    // g7 (W, 512G #2, no host table under its PML4 entry). With caches at 4, 3, 2 and
    // an NTLB warmed by g0 (12, as above): the tables NTLB hits, W's host walk misses
    // every cache (prefixes 2, 1024, 512K never filled) and reads 1 entry, the
    // not-present PML4 entry: 4 + 1 = 5, a violation at W. No table found: the caches
    // hold what g0 left (one entry per level) and the NTLB its 5 pages; the retry is 5
    // again.
    let (vm, g) = layout(4, PageSize::Size4K);
    let mut c = caches(Some(8), &[4, 3, 2]);
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    for _ in 0..2 {
        check(&vm, VM, g[7], &mut c, &[0, 0, 0, 0, 4], 5);
        assert_eq!(
            walk_c(&vm, VM, g[7], &mut caches(None, &[])).0,
            Err(NestedFault::Host {
                gpa: GuestPhysAddr(W + g[7].offset(PageSize::Size4K)),
                guest_level: 0,
            })
        );
        for level in [4, 3, 2] {
            assert_eq!(c.psc().occupancy(level, VM), 1);
        }
        assert_eq!(c.ntlb().unwrap().len(), 5);
    }
}

#[test]
fn lru_keeps_the_guest_tables_region_and_lets_the_data_regions_evict_each_other() {
    // A PDE cache of 2 entries, one set (2 ways, LRU), so every region competes.
    // g0: T4 misses and fills R0; the rest hit: 12, holding [R0].
    // g2: tables hit R0 (1 each), D3 misses (4) and fills R1: 12, [R0 R1] (LRU first).
    // g4: tables hit R0, making R1 the LRU; D5 misses (4) and evicts R1: 12, [R0 R5].
    // g2: tables hit R0; D3 misses again (R1 gone) and evicts R5: 12, [R0 R1].
    // g3: D4 in R1: every host walk hits: 9.
    let (vm, g) = layout(4, PageSize::Size4K);
    let pde = PscConfig {
        name: "pde".into(),
        level: 2,
        entries: 2,
        ways: 2,
        latency: 1,
        replacement: Replacement::Lru,
    };
    let mut c = HostCaches::new(None, HostPsc::new(&[pde], 1));
    check(&vm, VM, g[0], &mut c, &[4, 1, 1, 1, 1], 12);
    check(&vm, VM, g[2], &mut c, &[1, 1, 1, 1, 4], 12);
    check(&vm, VM, g[4], &mut c, &[1, 1, 1, 1, 4], 12);
    check(&vm, VM, g[2], &mut c, &[1, 1, 1, 1, 4], 12);
    check(&vm, VM, g[3], &mut c, &[1; 5], 9);
    assert_eq!(counts(&c, 2), (25, 4 + 4 + 4 + 4 + 5));
}

#[test]
fn a_hashed_host_table_has_no_levels_to_cache_but_the_ntlb_still_serves_it() {
    use crate::pagetable::Walkable;
    // A 4-level radix guest (4K pages) over an inverted host table: the walk caches are
    // never probed (lookups stay 0) while every host walk is still one probe of the
    // NTLB (5 per nested walk). Cold: the uncached walk. Again: 5 NTLB hits, the 4
    // guest reads only.
    let gva = VirtAddr(0x7f12_3456_7abc);
    let (guest, mut host, mut hframes) = super::tests::radix_over_inverted(gva);
    let mut steps = Vec::new();
    let gt = guest.walk(GUEST, gva, None, &mut steps).unwrap();
    let mut gpas: Vec<u64> = steps.iter().map(|s| s.pte_addr.0).collect();
    gpas.push(gt.frame.0 + gva.offset(PageSize::Size4K));
    for p in gpas {
        if host.translate(VM, VirtAddr(p)).is_none() {
            let f = hframes.alloc(PageSize::Size4K).unwrap();
            host.map(
                VM,
                VirtAddr(p & !0xfff),
                PageSize::Size4K,
                PhysAddr(f),
                &mut hframes,
            )
            .unwrap();
        }
    }
    let walk = |c: &mut HostCaches| {
        let mut refs = Vec::new();
        let r = nested_walk_cached(
            &guest,
            GUEST,
            &host,
            VM,
            gva,
            None,
            c,
            &mut NestedScratch::default(),
            &mut refs,
        );
        (r, refs)
    };
    let (p, plain_refs) = walk(&mut caches(None, &[]));
    let mut c = caches(Some(8), &[4, 3, 2]);
    let (r, refs) = walk(&mut c);
    assert_eq!((&r, &refs), (&p, &plain_refs));
    assert_eq!(c.walk_probes(), 5);
    let (r, refs) = walk(&mut c);
    assert_eq!(r, p);
    assert_eq!(refs.len(), 4);
    assert!(refs.iter().all(|r| r.dim == Dimension::GuestPte));
    for level in [4, 3, 2] {
        assert_eq!(counts(&c, level), (0, 0));
    }
    assert_eq!(c.lookups(), 10);
}
