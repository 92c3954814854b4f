//! The OS model's entry points, driven directly on a radix table: what each call hands
//! back to the engine.

use super::*;
use crate::pagetable::{Mappable, Radix};
use crate::workload::{EventKind, OsEvent};

const A: u64 = 0x1000;
const B: u64 = 0x2000;
const HUGE: u64 = 0x4000_0000;

fn os_with_ws(window: u64) -> (Os, Radix) {
    let cfg: OsConfig = toml::from_str(&format!(
        "phys_mem = \"1GiB\"\n[paging]\nreplacement = \"ws\"\nwindow = {window}\n"
    ))
    .unwrap();
    let mut os = Os::new(&cfg, 1);
    let pt = Radix::new(&[9, 9, 9, 9], &mut os.frames).unwrap();
    (os, pt)
}

/// A munmap that splits a 2M page leaves walk caches to flush; a later working-set trim
/// frees no table and must not say that it did (before effects were values, the split's
/// flag stayed set in the OS, and the engine read it as "tables freed" at the trim,
/// widening the trim's shootdown to lazy cores).
#[test]
fn a_working_set_trim_reports_no_tables_freed_after_a_split() {
    let (mut os, mut pt) = os_with_ws(2);
    let mut st = OsStats::default();
    let mut fx = Effects::default();
    for va in [A, B] {
        os.handle_fault(&mut pt, 1, VirtAddr(va), &mut st, &mut fx)
            .unwrap();
        assert!(!fx.flush_walk_caches && !fx.tables_freed);
        fx.clear();
    }
    // A 2M page mapped by hand (page replacement maps only 4K pages itself).
    let f = os.frames.alloc(PageSize::Size2M).unwrap();
    pt.map(
        1,
        VirtAddr(HUGE),
        PageSize::Size2M,
        PhysAddr(f),
        &mut os.frames,
    )
    .unwrap();
    let ev = OsEvent::new(EventKind::Munmap, HUGE, HUGE + 4096);
    os.apply_event(&mut pt, 1, ev, &mut st, &mut fx).unwrap();
    assert!(
        fx.flush_walk_caches,
        "the split asks for a walk-cache flush"
    );
    assert!(!fx.tables_freed, "a split frees no table");
    assert_eq!(fx.trigger, Trigger::Munmap);
    fx.clear();
    // A is touched until B falls out of the two-access window (at the second touch).
    os.on_access(&mut pt, (1, VirtAddr(A)), (false, false), &mut st, &mut fx)
        .unwrap();
    assert!(fx.is_clear());
    os.on_access(&mut pt, (1, VirtAddr(A)), (false, false), &mut st, &mut fx)
        .unwrap();
    assert_eq!(
        fx.invalidate,
        vec![Evicted {
            asid: 1,
            vaddr: VirtAddr(B),
            size: PageSize::Size4K
        }]
    );
    assert_eq!(fx.trigger, Trigger::Eviction);
    assert!(
        !fx.flush_walk_caches && !fx.tables_freed,
        "the trim freed no table, yet it says so"
    );
}

/// An OS with `policy` huge pages, 1000 cycles per minor fault and 50,000 per in-place
/// promotion (so that the two cannot be mistaken for each other), on a 4-level radix.
fn os_with_policy(policy: &str) -> (Os, Radix) {
    let cfg: OsConfig = toml::from_str(&format!(
        "phys_mem = \"64MiB\"\nminor_fault_cycles = 1000\n\
         [huge_pages]\npolicy = \"{policy}\"\npromote_in_place_cycles = 50000\n"
    ))
    .unwrap();
    let mut os = Os::new(&cfg, 1);
    let pt = Radix::new(&[9, 9, 9, 9], &mut os.frames).unwrap();
    (os, pt)
}

/// The sequence of `reserve` with several threads (a 4-core run exited with "… is
/// already inside a 2M page"): thread 0 touches the 512th page of a reserved region, which
/// is promoted in place (the leaf table freed, a 2M entry in its place); thread 1's walk,
/// through a walk-cache entry for that freed table whose shootdown has not reached its
/// core, reads not-present and faults at a page inside the new 2M page. The handler must
/// find the page mapped and change nothing, where it used to map a 4K page into the 2M
/// page and fail.
#[test]
fn a_fault_inside_a_page_promoted_by_another_thread_is_spurious() {
    let (mut os, mut pt) = os_with_policy("reserve");
    let mut st = OsStats::default();
    let mut fx = Effects::default();
    for i in 0..512 {
        os.handle_fault(&mut pt, 1, VirtAddr(HUGE + i * 4096), &mut st, &mut fx)
            .unwrap();
        fx.clear();
    }
    // 512 first touches of one region: one reservation, and the last touch promotes it
    // in place: 512 faults x 1000 + 50,000 cycles.
    assert_eq!((st.reservations, st.promotions), (1, 1));
    assert_eq!(st.fault_cycles, 512 * 1000 + 50_000);
    let huge = pt.translate(1, VirtAddr(HUGE)).unwrap();
    assert_eq!(huge.size, PageSize::Size2M);
    let free = os.frames.free_bytes();
    // The stale walk's fault, at page 5 of the region.
    let va = VirtAddr(HUGE + 5 * 4096);
    let evicted = os.handle_fault(&mut pt, 1, va, &mut st, &mut fx).unwrap();
    assert_eq!(evicted, None);
    // A trap that finds the entry present: the minor fault's 1000 cycles, no zeroing,
    // no promotion; counted as a minor fault (Linux's min_flt counts it too).
    assert_eq!(fx.cycles, 1000);
    assert_eq!((st.minor_faults, st.spurious_faults), (513, 1));
    assert_eq!(st.fault_cycles, 512 * 1000 + 50_000 + 1000);
    // The fault drops the core's walk caches (so the replayed walk reads the 2M entry);
    // nothing was mapped or unmapped, so no translation leaves a TLB, no table went.
    assert!(fx.flush_walk_caches);
    assert!(fx.invalidate.is_empty() && !fx.tables_freed && !fx.flush_space);
    assert_eq!(pt.translate(1, va), Some(huge));
    assert_eq!(os.frames.free_bytes(), free, "no frame allocated or freed");
}

/// The same at a page mapped at the base size (whatever walk read not-present there):
/// the handler changes nothing, where the table used to refuse the second map ("the 4K
/// entry is already in use").
#[test]
fn a_fault_at_a_mapped_4k_page_maps_nothing() {
    let (mut os, mut pt) = os_with_policy("never");
    let mut st = OsStats::default();
    let mut fx = Effects::default();
    os.handle_fault(&mut pt, 1, VirtAddr(A), &mut st, &mut fx)
        .unwrap();
    assert!(!fx.flush_walk_caches, "a first touch flushes no walk cache");
    fx.clear();
    let before = pt.translate(1, VirtAddr(A)).unwrap();
    let free = os.frames.free_bytes();
    os.handle_fault(&mut pt, 1, VirtAddr(A + 8), &mut st, &mut fx)
        .unwrap();
    assert_eq!(fx.cycles, 1000);
    assert_eq!((st.minor_faults, st.spurious_faults), (2, 1));
    assert_eq!(st.fault_cycles, 2000);
    assert!(fx.flush_walk_caches && fx.invalidate.is_empty());
    assert_eq!(pt.translate(1, VirtAddr(A)), Some(before));
    assert_eq!(os.frames.free_bytes(), free);
}
