//! Exact tests of which host walks a nested TLB removes from the nested walk, over the
//! radix guest and host tables of `tests.rs`. Expected counts are derived by hand in the
//! comments from the walk's shape (`g (h + 1) + h`, every host walk `h` reads), the
//! order of the NTLB lookups (each guest entry's gPA page from the root down, then the
//! data's) and LRU; addresses are checked against the uncached walk and the tables' own
//! translations.

use super::nested::{
    nested_walk_cached, Dimension, HostCache, NestedFault, NestedRef, NestedScratch, NestedWalk,
};
use super::ntlb::NestedTlb;
use super::tests::{back, build, host_of, walk_at, Vm, GUEST, VM};
use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::config::FrameAlloc;
use crate::os::frames::FrameAllocator;
use crate::pagetable::{Mappable, Translation, Walkable};

pub(super) fn walk_c<C: HostCache>(
    vm: &Vm,
    vm_id: u16,
    gva: VirtAddr,
    cache: &mut C,
) -> (Result<NestedWalk, NestedFault>, Vec<NestedRef>) {
    let mut refs = Vec::new();
    let r = nested_walk_cached(
        &vm.guest,
        GUEST,
        &vm.host,
        vm_id,
        gva,
        None,
        cache,
        &mut NestedScratch::default(),
        &mut refs,
    );
    (r, refs)
}

/// The guest-physical 4K pages the NTLB is probed with, in order, for `gva`: each guest
/// entry's (from the guest's own walk, root first), then the data's.
pub(super) fn lookup_pages(vm: &Vm, gva: VirtAddr, size: PageSize) -> Vec<u64> {
    let mut s = Vec::new();
    let t = vm.guest.walk(GUEST, gva, None, &mut s).unwrap();
    let mut v: Vec<u64> = s
        .iter()
        .map(|s| s.pte_addr.0 & !(size.bytes() - 1))
        .collect();
    v.push((t.frame.0 + gva.offset(t.size)) & !(size.bytes() - 1));
    v
}

/// A 4+4-level guest and host (4K guest pages, `hsize` host pages) with two gVAs: the
/// one of `build` (gva1, data gPA D1) and gva1 + 4K (gva2): the next guest page, so the
/// same four guest tables (the level-1 index 0x167 becomes 0x168, same leaf table), mapped
/// by the guest to D2, a different data page in the same 2M of guest-physical memory as
/// D1 (so in D1's host page when the host maps 2M pages) and not a guest table page.
fn two_gvas(hsize: PageSize) -> (Vm, VirtAddr, VirtAddr) {
    let mut vm = build(4, 4, PageSize::Size4K, hsize);
    let gva1 = vm.gva;
    let gva2 = gva1 + 0x1000;
    assert_eq!((gva1.0 >> 12) & 0x1ff, 0x167);
    let d1 = vm.guest.translate(GUEST, gva1).unwrap().frame.0;
    // D2 must not be one of the guest's table pages (the allocator may put them next to
    // D1): the first D1 ^ (k * 4K), k = 1, 2, ..., that is not.
    let tables = lookup_pages(&vm, gva1, PageSize::Size4K)[..4].to_vec();
    let d2 = (1..512u64)
        .map(|k| d1 ^ (k << 12))
        .find(|d| !tables.contains(d))
        .unwrap();
    assert_eq!(d2 >> 21, d1 >> 21);
    // The leaf table exists, so the map allocates no guest table: an empty allocator.
    let mut none = FrameAllocator::new(1 << 21, FrameAlloc::Shuffled, 1);
    vm.guest
        .map(GUEST, gva2, PageSize::Size4K, PhysAddr(d2), &mut none)
        .unwrap();
    assert_eq!(
        lookup_pages(&vm, gva2, PageSize::Size4K)[..4],
        tables[..],
        "same guest tables"
    );
    back(&mut vm, d2, hsize);
    (vm, gva1, gva2)
}

/// A cached walk gives the uncached walk's result, and its references are the uncached
/// ones minus the host walks of the NTLB hits.
fn check_against_plain(vm: &Vm, gva: VirtAddr, r: &Result<NestedWalk, NestedFault>) {
    let (p, _) = walk_at(vm, gva);
    assert_eq!(*r, p);
}

fn pages4k(ntlb: &NestedTlb) -> Vec<u64> {
    ntlb.contents().map(|(_, g)| g.0).collect()
}

#[test]
fn a_large_ntlb_removes_the_host_walks_of_every_guest_physical_page_seen_before() {
    // 4+4, 4K host pages, NTLB of 8 entries.
    // Walk 1 (gva1), cold: 5 lookups (tables L4, L3, L2, L1, data D1: 5 distinct 4K gPA
    // pages), all miss: 4 * (4 + 1) + 4 = 24 references, 5 fills.
    // Walk 2 (gva2): the four guest tables hit (0 host reads each), the 4 guest entry
    // reads remain; D2 misses: 4 host reads. 4 + 4 = 8 (of 24).
    // Walk 3 (gva2 again): 5 hits: 4 references, the guest entries only.
    // Walk 4 (gva1 again): 6 entries held, nothing was evicted: 4.
    let (vm, gva1, gva2) = two_gvas(PageSize::Size4K);
    let p1 = lookup_pages(&vm, gva1, PageSize::Size4K);
    let mut distinct = p1.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);
    let mut ntlb = NestedTlb::new(8);

    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    check_against_plain(&vm, gva1, &r);
    assert_eq!(refs, walk_at(&vm, gva1).1);
    assert_eq!(refs.len(), 24);
    assert_eq!((ntlb.hits, ntlb.misses), (0, 5));
    assert_eq!(pages4k(&ntlb), p1);

    let (r, refs) = walk_c(&vm, VM, gva2, &mut ntlb);
    check_against_plain(&vm, gva2, &r);
    assert_eq!(refs.len(), 8);
    assert_eq!((ntlb.hits, ntlb.misses), (4, 6));
    // The uncached walk's guest entry reads, then its data host walk, unchanged.
    let plain = walk_at(&vm, gva2).1;
    let expected: Vec<NestedRef> = plain
        .iter()
        .copied()
        .filter(|r| r.dim != Dimension::HostForGuestPte)
        .collect();
    assert_eq!(refs, expected);
    assert_eq!(
        refs.iter().map(|r| r.dim).collect::<Vec<_>>(),
        [[Dimension::GuestPte; 4], [Dimension::HostForData; 4]].concat()
    );
    let d2 = vm.guest.translate(GUEST, gva2).unwrap().frame.0 + gva2.offset(PageSize::Size4K);
    assert_eq!(r.unwrap().hpa(gva2).0, host_of(&vm, d2));

    let (r, refs) = walk_c(&vm, VM, gva2, &mut ntlb);
    check_against_plain(&vm, gva2, &r);
    assert_eq!(refs.len(), 4);
    assert!(refs.iter().all(|r| r.dim == Dimension::GuestPte));
    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    check_against_plain(&vm, gva1, &r);
    assert_eq!(refs.len(), 4);
    assert_eq!((ntlb.hits, ntlb.misses), (4 + 5 + 5, 6));
    assert_eq!(ntlb.len(), 6);
}

#[test]
fn lru_decides_which_host_walks_remain_in_a_small_ntlb() {
    let (vm, gva1, gva2) = two_gvas(PageSize::Size4K);
    let p1 = lookup_pages(&vm, gva1, PageSize::Size4K);
    let p2 = lookup_pages(&vm, gva2, PageSize::Size4K);
    let (l4, l3, l2, l1, d1, d2) = (p1[0], p1[1], p1[2], p1[3], p1[4], p2[4]);

    // 5 entries, LRU first. After walk 1: [L4 L3 L2 L1 D1]. Walk 2 hits L4..L1 (each
    // moved to the end: [D1 L4 L3 L2 L1]), D2 misses and evicts D1: 4 + 4 = 8,
    // [L4 L3 L2 L1 D2]. Walk 1 again: the same with D1 evicting D2: 8.
    let mut ntlb = NestedTlb::new(5);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
    assert_eq!(pages4k(&ntlb), [l4, l3, l2, l1, d1]);
    assert_eq!(walk_c(&vm, VM, gva2, &mut ntlb).1.len(), 8);
    assert_eq!(pages4k(&ntlb), [l4, l3, l2, l1, d2]);
    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    check_against_plain(&vm, gva1, &r);
    assert_eq!(refs.len(), 8);
    assert_eq!(pages4k(&ntlb), [l4, l3, l2, l1, d1]);

    // 4 entries: after walk 1, [L3 L2 L1 D1] (L4 evicted by D1's fill). Walk 2 probes
    // L4 (miss, evicts L3: [L2 L1 D1 L4]), L3 (miss, evicts L2: [L1 D1 L4 L3]), L2
    // (miss, evicts L1), L1 (miss, evicts D1: [L4 L3 L2 L1]), D2 (miss, evicts L4):
    // each page is evicted just before it is needed, the cyclic pattern LRU loses on.
    // All 5 host walks remain: 24, as cold.
    let mut ntlb = NestedTlb::new(4);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
    assert_eq!(pages4k(&ntlb), [l3, l2, l1, d1]);
    let (r, refs) = walk_c(&vm, VM, gva2, &mut ntlb);
    check_against_plain(&vm, gva2, &r);
    assert_eq!(refs, walk_at(&vm, gva2).1);
    assert_eq!(refs.len(), 24);
    assert_eq!(pages4k(&ntlb), [l3, l2, l1, d2]);
    assert_eq!((ntlb.hits, ntlb.misses), (0, 10));

    // 1 entry: after walk 1 it holds D1 only; walk 2 probes L4 first (miss, evicts D1),
    // and every later probe is of another page than the one just filled: 24 again, and
    // it ends holding D2. Walk 1 again: 24 (D1 was the last thing held, and gone by the
    // time it is probed).
    let mut ntlb = NestedTlb::new(1);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
    assert_eq!(pages4k(&ntlb), [d1]);
    assert_eq!(walk_c(&vm, VM, gva2, &mut ntlb).1.len(), 24);
    assert_eq!(pages4k(&ntlb), [d2]);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
    assert_eq!((ntlb.hits, ntlb.misses), (0, 15));
}

#[test]
fn an_entry_covers_its_host_page_so_2m_host_pages_share_entries() {
    // 4+4, 4K guest pages over 2M host pages: a host walk reads 3 entries (h = 3), cold
    // 4 * 4 + 3 = 19 references without an NTLB. With one, a probe hits when its gPA's
    // 2M page was probed before in the same walk (the shuffled guest allocator decides
    // how many of the 5 pages share a 2M page: k, counted from the guest's own walk), so
    // walk 1 makes 19 - 3k. Walk 2 (gva2): D2 lies in D1's 2M page, filled by
    // walk 1, and so do the tables: every probe hits, 4 references (the guest entries).
    let (vm, gva1, gva2) = two_gvas(PageSize::Size2M);
    let p1 = lookup_pages(&vm, gva1, PageSize::Size2M);
    let k = (0..p1.len()).filter(|&i| p1[..i].contains(&p1[i])).count();
    // Here the guest's allocator put the four tables and D1 in the same first 2M of
    // guest-physical memory: L4 misses (3 host reads), the other four probes hit, k = 4,
    // walk 1 = 3 + 4 guest reads = 7.
    assert_eq!(p1, [0; 5]);
    assert_eq!(k, 4);
    let mut ntlb = NestedTlb::new(8);
    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    check_against_plain(&vm, gva1, &r);
    assert_eq!(walk_at(&vm, gva1).1.len(), 19);
    assert_eq!(refs.len(), 19 - 3 * k);
    assert_eq!(refs.len(), 7);
    assert_eq!(ntlb.len(), 5 - k);
    let (r, refs) = walk_c(&vm, VM, gva2, &mut ntlb);
    check_against_plain(&vm, gva2, &r);
    assert_eq!(refs.len(), 4);
    assert!(refs.iter().all(|r| r.dim == Dimension::GuestPte));
    let d2 = vm.guest.translate(GUEST, gva2).unwrap().frame.0 + gva2.offset(PageSize::Size4K);
    let w = r.unwrap();
    assert_eq!(w.hpa(gva2).0, host_of(&vm, d2));
    assert_eq!(
        (w.host.size, w.page.size),
        (PageSize::Size2M, PageSize::Size4K)
    );
}

#[test]
fn an_entry_of_one_vm_never_hits_for_another() {
    // Direct: a 4K entry of VM 1 covers its own 4K gPA page for VM 1 only; a 2M entry
    // its whole 2M page.
    let t4 = Translation {
        frame: PhysAddr(0x1234_5000),
        size: PageSize::Size4K,
    };
    let t2 = Translation {
        frame: PhysAddr(0x4000_0000),
        size: PageSize::Size2M,
    };
    let mut ntlb = NestedTlb::new(4);
    ntlb.fill(1, GuestPhysAddr(0x8000_1abc), t4);
    ntlb.fill(1, GuestPhysAddr(0x9020_0000), t2);
    assert_eq!(ntlb.lookup(2, GuestPhysAddr(0x8000_1abc)), None);
    assert_eq!(ntlb.lookup(2, GuestPhysAddr(0x9020_0000)), None);
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x8000_1000)), Some(t4));
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x8000_1fff)), Some(t4));
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x8000_2000)), None);
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x8000_0fff)), None);
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x903f_ffff)), Some(t2));
    assert_eq!(ntlb.lookup(1, GuestPhysAddr(0x9040_0000)), None);
    assert_eq!((ntlb.hits, ntlb.misses), (3, 5));

    // In a walk: an NTLB warmed by VM's walk of gva1 (5 entries) saves nothing for
    // VM + 1 walking the same addresses (the radix host ignores the address space, so
    // the tables are the same): 24, 5 more entries; VM again: 4 (all 5 probes hit).
    let (vm, gva1, _) = two_gvas(PageSize::Size4K);
    let mut ntlb = NestedTlb::new(16);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
    let (r, refs) = walk_c(&vm, VM + 1, gva1, &mut ntlb);
    assert_eq!(refs.len(), 24);
    assert_eq!(r, walk_at(&vm, gva1).0);
    assert_eq!(ntlb.len(), 10);
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 4);
    assert_eq!(walk_c(&vm, VM + 1, gva1, &mut ntlb).1.len(), 4);
    // Flushing VM leaves VM + 1's entries.
    ntlb.flush_vm(VM);
    assert_eq!(ntlb.len(), 5);
    assert!(ntlb.contents().all(|(v, _)| v == VM + 1));
    assert_eq!(walk_c(&vm, VM, gva1, &mut ntlb).1.len(), 24);
}

#[test]
fn an_ept_violation_fills_nothing_for_the_page_that_faulted() {
    // The data page's host mapping removed: walk 1 fills the 4 table pages and faults at
    // D1 after its 4 host reads (24 references, as uncached); D1 is not in the NTLB. A
    // second walk: tables hit (4 guest reads), D1 probed and walked again: 4 + 4 = 8,
    // the same fault.
    let (mut vm, gva1, _) = two_gvas(PageSize::Size4K);
    let p1 = lookup_pages(&vm, gva1, PageSize::Size4K);
    vm.host.unmap(VM, VirtAddr(p1[4])).unwrap();
    let mut ntlb = NestedTlb::new(8);
    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    let fault = Err(NestedFault::Host {
        gpa: GuestPhysAddr(p1[4] + gva1.offset(PageSize::Size4K)),
        guest_level: 0,
    });
    assert_eq!(r, fault);
    assert_eq!(refs.len(), 24);
    assert_eq!(pages4k(&ntlb), p1[..4]);
    let (r, refs) = walk_c(&vm, VM, gva1, &mut ntlb);
    assert_eq!(r, fault);
    assert_eq!(refs.len(), 8);
}
