//! Exact tests of the nested walk over guest and host radix tables built by the radix
//! design's own `map`, checked against each table's own `walk` and `translate`.

use super::nested::{nested_walk, Dimension, NestedFault, NestedRef, NestedScratch};
use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::config::FrameAlloc;
use crate::os::frames::FrameAllocator;
use crate::pagetable::{Mappable, Radix, WalkStep, Walkable};

pub(super) const GUEST: u16 = 1;
pub(super) const VM: u16 = 7;

/// A guest table (gVA → gPA, its tables and pages in 4 GiB of guest-physical memory) and
/// a host table (gPA → hPA over 16 GiB of host memory) mapping every guest-physical page
/// the walk of `gva` touches (the guest's tables and the data page) with `hsize` pages.
pub(super) struct Vm {
    pub(super) guest: Radix,
    pub(super) host: Radix,
    pub(super) hframes: FrameAllocator,
    pub(super) gva: VirtAddr,
}

fn gva_for(glevels: usize) -> VirtAddr {
    // Every index non-zero and distinct; the 5-level one uses bits 48-56 too.
    VirtAddr(if glevels == 5 {
        0x01f2_7f12_3456_7abc
    } else {
        0x7f12_3456_7abc
    })
}

pub(super) fn build(glevels: usize, hlevels: usize, gsize: PageSize, hsize: PageSize) -> Vm {
    let mut gframes = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 11);
    let mut hframes = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 13);
    let mut guest = Radix::new(&vec![9; glevels], &mut gframes).unwrap();
    let host = Radix::new(&vec![9; hlevels], &mut hframes).unwrap();
    let gva = gva_for(glevels);
    let gframe = gframes.alloc(gsize).unwrap();
    guest
        .map(GUEST, gva, gsize, PhysAddr(gframe), &mut gframes)
        .unwrap();
    let mut vm = Vm {
        guest,
        host,
        hframes,
        gva,
    };
    // The guest-physical pages to back: each guest entry's (from the guest's own walk)
    // and the data's.
    let mut steps = Vec::new();
    let gt = vm.guest.walk(GUEST, gva, None, &mut steps).unwrap();
    let mut gpas: Vec<u64> = steps.iter().map(|s| s.pte_addr.0).collect();
    gpas.push(gt.frame.0 + (gva.0 & (gsize.bytes() - 1)));
    for gpa in gpas {
        back(&mut vm, gpa, hsize);
    }
    vm
}

/// Host-map the `hsize` page of guest-physical memory holding `gpa`, if not yet mapped.
pub(super) fn back(vm: &mut Vm, gpa: u64, hsize: PageSize) {
    if vm.host.translate(VM, VirtAddr(gpa)).is_none() {
        let base = gpa & !(hsize.bytes() - 1);
        let f = vm.hframes.alloc(hsize).unwrap();
        vm.host
            .map(VM, VirtAddr(base), hsize, PhysAddr(f), &mut vm.hframes)
            .unwrap();
    }
}

/// Entries a cold radix walk reads down to a leaf of `size` in a table of `levels` 9-bit
/// levels over 4K pages: leaf level 1 (4K), 2 (2M), 3 (1G), so `levels - leaf + 1`.
fn reads(levels: usize, size: PageSize) -> usize {
    levels - (size.shift() as usize - 12) / 9
}

/// The host table's own translation of a gPA (no nested code involved).
pub(super) fn host_of(vm: &Vm, gpa: u64) -> u64 {
    let t = vm.host.translate(VM, VirtAddr(gpa)).unwrap();
    t.frame.0 + (gpa & (t.size.bytes() - 1))
}

fn host_steps(vm: &Vm, gpa: u64) -> Vec<WalkStep> {
    let mut s = Vec::new();
    vm.host.walk(VM, VirtAddr(gpa), None, &mut s);
    s
}

fn walk(vm: &Vm) -> (Result<super::NestedWalk, NestedFault>, Vec<NestedRef>) {
    walk_at(vm, vm.gva)
}

/// The uncached nested walk of `gva` in the test VM: its result and references.
pub(super) fn walk_at(
    vm: &Vm,
    gva: VirtAddr,
) -> (Result<super::NestedWalk, NestedFault>, Vec<NestedRef>) {
    let mut refs = Vec::new();
    let r = nested_walk(
        &vm.guest,
        GUEST,
        &vm.host,
        VM,
        gva,
        None,
        &mut NestedScratch::default(),
        &mut refs,
    );
    (r, refs)
}

#[test]
fn cold_2d_walks_make_g_times_h_plus_1_plus_h_references_at_the_right_addresses() {
    // g guest entries are read; each needs a host walk of its gPA (h reads) and then the
    // read itself: g (h + 1); the final gPA needs one more host walk: + h. In all
    // g (h + 1) + h = (g + 1)(h + 1) - 1.
    // Hand-worked: 4+4: 4*5+4 = 24; 5+5: 5*6+5 = 35; 4 guest + 5 host: 4*6+5 = 29;
    // 5 guest + 4 host: 5*5+4 = 29; 4-level guest with 2M pages (g = 3) over 4K host
    // pages (h = 4): 3*5+4 = 19; both 2M (3, 3): 15; both 1G (2, 2): 8.
    let hand = [
        ((4, 4, PageSize::Size4K, PageSize::Size4K), 24),
        ((5, 5, PageSize::Size4K, PageSize::Size4K), 35),
        ((4, 5, PageSize::Size4K, PageSize::Size4K), 29),
        ((5, 4, PageSize::Size4K, PageSize::Size4K), 29),
        ((4, 4, PageSize::Size2M, PageSize::Size4K), 19),
        ((4, 4, PageSize::Size2M, PageSize::Size2M), 15),
        ((4, 4, PageSize::Size1G, PageSize::Size1G), 8),
    ];
    let mut checked = 0;
    for glevels in [4, 5] {
        for hlevels in [4, 5] {
            for gsize in PageSize::ALL {
                for hsize in PageSize::ALL {
                    let (g, h) = (reads(glevels, gsize), reads(hlevels, hsize));
                    let expected = (g + 1) * (h + 1) - 1;
                    assert_eq!(expected, g * (h + 1) + h);
                    if let Some(&(_, n)) = hand
                        .iter()
                        .find(|(k, _)| *k == (glevels, hlevels, gsize, hsize))
                    {
                        assert_eq!(expected, n);
                    }
                    let case = format!("guest {glevels}/{gsize}, host {hlevels}/{hsize}");
                    let vm = build(glevels, hlevels, gsize, hsize);
                    let (r, refs) = walk(&vm);
                    let w = r.unwrap_or_else(|e| panic!("{case}: {e:?}"));
                    assert_eq!(refs.len(), expected, "{case}");
                    check_refs(&vm, &refs, h, &case);
                    // Final address: host(guest(gva)), each table's own translation.
                    let gt = vm.guest.translate(GUEST, vm.gva).unwrap();
                    let gpa = gt.frame.0 + (vm.gva.0 & (gsize.bytes() - 1));
                    assert_eq!(w.hpa(vm.gva).0, host_of(&vm, gpa), "{case}");
                    assert_eq!((w.guest.size, w.host.size), (gsize, hsize), "{case}");
                    assert_eq!(w.page.size, gsize.min(hsize), "{case}");
                    assert_eq!(w.page.frame.0 % w.page.size.bytes(), 0, "{case}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 3 * 3);
}

/// The references in order: per guest level, the host walk of that entry's gPA (the
/// host table's own steps for it) then the entry at its hPA; then the host walk of the
/// final gPA.
fn check_refs(vm: &Vm, refs: &[NestedRef], h: usize, case: &str) {
    let mut gsteps = Vec::new();
    let gt = vm.guest.walk(GUEST, vm.gva, None, &mut gsteps).unwrap();
    let mut k = 0;
    for gs in &gsteps {
        let hs = host_steps(vm, gs.pte_addr.0);
        assert_eq!(hs.len(), h, "{case}");
        for s in &hs {
            let r = refs[k];
            assert_eq!(r.dim, Dimension::HostForGuestPte, "{case} ref {k}");
            assert_eq!((r.guest_level, r.host_level), (gs.level, s.level), "{case}");
            assert_eq!(r.hpa, s.pte_addr, "{case} ref {k}");
            k += 1;
        }
        let r = refs[k];
        assert_eq!(r.dim, Dimension::GuestPte, "{case} ref {k}");
        assert_eq!((r.guest_level, r.host_level), (gs.level, 0), "{case}");
        assert_eq!(r.hpa.0, host_of(vm, gs.pte_addr.0), "{case} ref {k}");
        k += 1;
    }
    let gpa = gt.frame.0 + (vm.gva.0 & (gt.size.bytes() - 1));
    for s in &host_steps(vm, gpa) {
        let r = refs[k];
        assert_eq!(r.dim, Dimension::HostForData, "{case} ref {k}");
        assert_eq!(
            (r.guest_level, r.host_level, r.hpa),
            (0, s.level, s.pte_addr)
        );
        k += 1;
    }
    assert_eq!(k, refs.len(), "{case}");
    // Guest levels from the root down, host levels from the host root down.
    let glevels: Vec<u8> = refs
        .iter()
        .filter(|r| r.dim == Dimension::GuestPte)
        .map(|r| r.guest_level)
        .collect();
    let top = vm.guest.levels() as u8;
    assert_eq!(
        glevels,
        (top + 1 - gsteps.len() as u8..=top)
            .rev()
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_guest_not_present_entry_ends_the_walk_as_a_guest_fault() {
    // 4+4, 4K pages. The next 4K page shares every guest table, so the guest walk reads
    // all 4 levels (the leaf entry not present), each after its host walk: 4 * (4 + 1) =
    // 20 references, and no host walk of a final gPA.
    let mut vm = build(4, 4, PageSize::Size4K, PageSize::Size4K);
    let leaf_gpa = {
        let mut s = Vec::new();
        vm.guest.walk(GUEST, vm.gva, None, &mut s).unwrap();
        s[3].pte_addr.0 + 8
    };
    vm.gva = VirtAddr(vm.gva.0 + 0x1000);
    let (r, refs) = walk(&vm);
    assert_eq!(
        r,
        Err(NestedFault::Guest {
            pte_gpa: Some(GuestPhysAddr(leaf_gpa))
        })
    );
    assert_eq!(refs.len(), 20);
    assert!(refs.iter().all(|r| r.dim != Dimension::HostForData));
    assert_eq!(refs.last().unwrap().hpa.0, host_of(&vm, leaf_gpa));
    // An address whose top guest entry is absent: one guest read after one host walk.
    vm.gva = VirtAddr(0x1000);
    let (r, refs) = walk(&vm);
    assert!(matches!(r, Err(NestedFault::Guest { .. })));
    assert_eq!(refs.len(), 4 + 1);
}

#[test]
fn a_host_not_present_entry_ends_the_walk_as_an_ept_violation_at_its_gpa() {
    // 4+4, 4K pages. The data page's host mapping removed: the guest walk completes,
    // 4 * (4 + 1) = 20, then the host walk of the data gPA reads its 4 levels (the host
    // leaf table stays, its entry not present): 24 references, an EPT violation at the
    // data gPA, guest level 0.
    let mut vm = build(4, 4, PageSize::Size4K, PageSize::Size4K);
    let gt = vm.guest.translate(GUEST, vm.gva).unwrap();
    let data_gpa = gt.frame.0 + (vm.gva.0 & 0xfff);
    vm.host.unmap(VM, VirtAddr(data_gpa)).unwrap();
    let (r, refs) = walk(&vm);
    assert_eq!(
        r,
        Err(NestedFault::Host {
            gpa: GuestPhysAddr(data_gpa),
            guest_level: 0
        })
    );
    assert_eq!(refs.len(), 24);
    assert_eq!(
        refs[20..]
            .iter()
            .filter(|r| r.dim == Dimension::HostForData)
            .count(),
        4
    );

    // The guest's leaf table page unbacked instead: guest levels 4, 3, 2 complete,
    // 3 * 5 = 15, then the host walk of the level-1 entry's gPA reads 4 and faults: 19,
    // and the guest leaf entry is never read.
    let mut vm = build(4, 4, PageSize::Size4K, PageSize::Size4K);
    let mut s = Vec::new();
    vm.guest.walk(GUEST, vm.gva, None, &mut s).unwrap();
    let pte_gpa = s[3].pte_addr;
    vm.host.unmap(VM, VirtAddr(pte_gpa.0)).unwrap();
    let (r, refs) = walk(&vm);
    assert_eq!(
        r,
        Err(NestedFault::Host {
            gpa: GuestPhysAddr(pte_gpa.0),
            guest_level: 1
        })
    );
    assert_eq!(refs.len(), 19);
    assert_eq!(
        refs.iter().filter(|r| r.dim == Dimension::GuestPte).count(),
        3
    );
    assert!(refs[15..]
        .iter()
        .all(|r| (r.dim, r.guest_level) == (Dimension::HostForGuestPte, 1)));
}

#[test]
fn reused_buffers_do_not_grow_on_a_second_walk() {
    let vm = build(5, 5, PageSize::Size4K, PageSize::Size4K);
    let (mut scratch, mut refs) = (NestedScratch::default(), Vec::new());
    let first = nested_walk(
        &vm.guest,
        GUEST,
        &vm.host,
        VM,
        vm.gva,
        None,
        &mut scratch,
        &mut refs,
    );
    let (ptr, cap) = (refs.as_ptr(), refs.capacity());
    let kept = refs.clone();
    refs.clear();
    let again = nested_walk(
        &vm.guest,
        GUEST,
        &vm.host,
        VM,
        vm.gva,
        None,
        &mut scratch,
        &mut refs,
    );
    assert_eq!(first, again);
    assert_eq!(refs, kept);
    assert_eq!((refs.as_ptr(), refs.capacity()), (ptr, cap));
}

/// Backs (with 4K host pages) every gPA the guest's own walk of `gva` reads and the
/// data's, then checks the nested walk against both tables' own walks: per guest read,
/// the host's reads of its gPA then the read at the host's translation; then the host's
/// reads of the final gPA. Returns the reference count.
/// A 4-level radix guest mapping the 4K page of `gva` over an empty inverted host table,
/// and the host's frames.
pub(super) fn radix_over_inverted(
    gva: VirtAddr,
) -> (Radix, crate::pagetable::Inverted, FrameAllocator) {
    use crate::config::OsConfig;
    use crate::pagetable::inverted::{Inverted, InvertedConfig};
    let mut gframes = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 7);
    let mut hframes = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 8);
    let mut guest = Radix::new(&[9, 9, 9, 9], &mut gframes).unwrap();
    let f = gframes.alloc(PageSize::Size4K).unwrap();
    guest
        .map(GUEST, gva, PageSize::Size4K, PhysAddr(f), &mut gframes)
        .unwrap();
    let cfg = (InvertedConfig::default(), OsConfig::with_memory(16 << 30));
    let host = Inverted::new(&cfg.0, &cfg.1, &mut hframes).unwrap();
    (guest, host, hframes)
}

fn generic_case<G: Walkable + Mappable, H: Walkable + Mappable>(
    guest: &G,
    host: &mut H,
    hframes: &mut FrameAllocator,
    gva: VirtAddr,
) -> usize {
    let mut gsteps = Vec::new();
    let gt = guest.walk(GUEST, gva, None, &mut gsteps).unwrap();
    let gpa = gt.frame.0 + (gva.0 & (gt.size.bytes() - 1));
    let mut need: Vec<u64> = gsteps.iter().map(|s| s.pte_addr.0).collect();
    need.push(gpa);
    for p in need {
        if host.translate(VM, VirtAddr(p)).is_none() {
            let f = hframes.alloc(PageSize::Size4K).unwrap();
            host.map(
                VM,
                VirtAddr(p & !0xfff),
                PageSize::Size4K,
                PhysAddr(f),
                hframes,
            )
            .unwrap();
        }
    }
    let hpa = |p: u64| {
        let t = host.translate(VM, VirtAddr(p)).unwrap();
        t.frame.0 + (p & (t.size.bytes() - 1))
    };
    let hwalk = |p: u64| {
        let mut s = Vec::new();
        host.walk(VM, VirtAddr(p), None, &mut s).unwrap();
        s.into_iter().map(|s| s.pte_addr.0)
    };
    let mut expected: Vec<(Dimension, u64)> = Vec::new();
    for s in &gsteps {
        expected.extend(hwalk(s.pte_addr.0).map(|a| (Dimension::HostForGuestPte, a)));
        expected.push((Dimension::GuestPte, hpa(s.pte_addr.0)));
    }
    expected.extend(hwalk(gpa).map(|a| (Dimension::HostForData, a)));
    let mut refs = Vec::new();
    let w = nested_walk(
        guest,
        GUEST,
        &*host,
        VM,
        gva,
        None,
        &mut NestedScratch::default(),
        &mut refs,
    )
    .unwrap();
    let got: Vec<(Dimension, u64)> = refs.iter().map(|r| (r.dim, r.hpa.0)).collect();
    assert_eq!(got, expected);
    assert_eq!(w.hpa(gva).0, hpa(gpa));
    refs.len()
}

#[test]
fn hashed_designs_work_in_either_dimension() {
    use crate::config::OsConfig;
    use crate::pagetable::inverted::{Inverted, InvertedConfig};
    let gva = VirtAddr(0x7f12_3456_7abc);
    // An inverted guest over a 4-level radix host (4K pages): each inverted read costs a
    // host walk of 4 and itself, the final gPA 4 more: (reads)(4 + 1) + 4.
    let mut gframes = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 5);
    let mut hframes = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 6);
    let mut guest = Inverted::new(
        &InvertedConfig::default(),
        &OsConfig::with_memory(4 << 30),
        &mut gframes,
    )
    .unwrap();
    let f = gframes.alloc(PageSize::Size4K).unwrap();
    guest
        .map(GUEST, gva, PageSize::Size4K, PhysAddr(f), &mut gframes)
        .unwrap();
    let mut s = Vec::new();
    guest.walk(GUEST, gva, None, &mut s).unwrap();
    let g = s.len();
    assert!(g >= 1);
    let mut host = Radix::new(&[9, 9, 9, 9], &mut hframes).unwrap();
    assert_eq!(
        generic_case(&guest, &mut host, &mut hframes, gva),
        g * 5 + 4
    );

    // A 4-level radix guest over an inverted host: 4 guest reads, each after a host
    // lookup, and one for the data.
    let (guest, mut host, mut hframes) = radix_over_inverted(gva);
    let n = generic_case(&guest, &mut host, &mut hframes, gva);
    assert!(n > 4 * 2, "at least one host read per host lookup: {n}");
}
