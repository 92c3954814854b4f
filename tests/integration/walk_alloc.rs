//! A page walk allocates nothing (issue 15, point 8, the page-table half): every design,
//! built through the one dispatch, walks pages of every size it holds (so the hashed
//! designs probe several sizes, in parallel and one after another), hits and misses,
//! counted by the integration binary's counting global allocator (`allocs`).

use super::allocs::allocs;
use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::config::{FrameAlloc, OsConfig};
use mmusim::os::frames::FrameAllocator;
use mmusim::pagetable::{with_design, DesignVisitor, PageTable, PageTableConfig, WalkStep};
use mmusim::SimError;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = allocs();
    f();
    allocs() - before
}

/// Maps 4K, 2M and 1G pages, then counts the allocations of many walks after a first
/// round that lets the walk's buffer grow to its size.
struct Walks;

impl DesignVisitor for Walks {
    type Out = u64;
    fn visit<PT: PageTable>(
        self,
        mut make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> u64 {
        let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Shuffled, 5);
        let mut t = make(&mut f).unwrap();
        let mut vas = Vec::new();
        for (i, size) in [
            (0u64, PageSize::Size4K),
            (1, PageSize::Size4K),
            (2, PageSize::Size2M),
            (3, PageSize::Size1G),
        ] {
            let va = (1 << 40) + i * (1 << 30);
            let frame = f.alloc(size).unwrap();
            t.map(1, VirtAddr(va), size, PhysAddr(frame), &mut f)
                .unwrap();
            vas.push(va + 0x1234);
            // Unmapped pages next to it: walks that miss.
            vas.push(va + (size.bytes() << 4) + 0x40);
        }
        let mut steps: Vec<WalkStep> = Vec::new();
        let walk_all = |steps: &mut Vec<WalkStep>| {
            for &va in &vas {
                steps.clear();
                std::hint::black_box(t.walk(1, VirtAddr(va), None, steps));
            }
        };
        walk_all(&mut steps);
        allocations(|| {
            for _ in 0..200 {
                walk_all(&mut steps);
            }
        })
    }
}

#[test]
fn no_design_allocates_per_walk() {
    let os = OsConfig::with_memory(8 << 30);
    for kind in [
        "kind = \"radix\"\nlevels = 4",
        "kind = \"radix\"\nlevels = 5",
        "kind = \"inverted\"\nhuge = \"parallel\"",
        "kind = \"inverted\"\nhuge = \"sequential\"",
        "kind = \"htab\"\nhuge = \"parallel\"",
        "kind = \"htab\"\nhuge = \"sequential\"",
        "kind = \"clustered\"\nhuge = \"parallel\"",
        "kind = \"clustered\"\nhuge = \"sequential\"",
        "kind = \"cuckoo\"\nhuge = \"parallel\"",
        "kind = \"cuckoo\"\nhuge = \"sequential\"",
        "kind = \"cuckoo\"\nwalk_cache_entries = 64\nwalk_cache_ways = 4",
        "kind = \"flattened\"",
        "kind = \"flattened\"\nlevels = 5\nmerge = [\"L5+L4\", \"L3+L2\"]",
    ] {
        let cfg: PageTableConfig = toml::from_str(kind).unwrap();
        assert_eq!(cfg.validate(&os), vec![], "{kind}");
        assert_eq!(with_design(&cfg, &os, Walks), 0, "{kind}");
    }
}

#[test]
fn the_counter_counts() {
    // The check above is only as good as the counter: a Vec of Vecs, as multi-size
    // probes once built per walk, is 1 + 3 allocations.
    let n = allocations(|| {
        let v: Vec<Vec<u64>> = (0..3).map(|i| vec![i; 4]).collect();
        std::hint::black_box(v);
    });
    assert_eq!(n, 4);
}
