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
