//! The coalesced TLB organisation (CoLT-SA: Pham, Vaidyanathan, Jaleel and Bhattacharjee,
//! "CoLT: Coalesced Large-Reach TLBs", MICRO 2012, Section 4): set-associative storage
//! whose entries each translate a run of up to N pages that are contiguous in both the
//! virtual and the physical address space.
//!
//! Owns the structure's tags, frames, runs and replacement state, and its own counters
//! (entries installed, how many of them covered several pages, pages installed). In:
//! page probes `(asid, vaddr, size)` and entries of `pages` pages (a run computed by the
//! miss path with [`run_around`], or a one-page entry evicted from a level above). Out:
//! the frame of the probed page on a hit, the displaced entry on an insert.
//!
//! Indexing: the N pages of an aligned group (page number with its low log2(N) bits
//! dropped) share a set and a tag, so any page of a run finds the run's entry in one set;
//! an entry holds its run as a first offset and a length inside the group. Runs never
//! cross a group: the coalescing logic sees only the PTE cache line the walk fetched
//! (8 PTEs of 8 bytes in a 64-byte line), and N divides 8. Several disjoint runs of one
//! group may sit in the set side by side (a group split by a physical discontinuity);
//! installing a run replaces the runs of its group it overlaps (they are parts of it).
//!
//! Invalidation of any page of a run drops the whole entry (the conservative choice: an
//! invalidation never shrinks an entry to the pages around the one that changed); pages
//! of the run that are still valid are walked again on their next miss.
//!
//! A repeated hit on one page leaves every policy's state as it is (as for the
//! set-associative organisation), so the hierarchy's repeat shortcut stays exact.

use super::{tag, untag, Entry, MemReads, Organisation, TlbStats};
use crate::addr::PageSize;
use crate::assoc::{Policy, ReplacementPolicy, INVALID};
use crate::config::{TlbConfig, TlbOrganisation};
use serde::Serialize;

/// A coalesced TLB structure.
pub struct Coalesced {
    sets: usize,
    ways: usize,
    /// log2 of the most pages per entry.
    shift: u32,
    /// `tag(group, asid, size)` per way, [`INVALID`] when empty.
    keys: Vec<u64>,
    /// Per way: the frame of the run's first page, with the run's first offset in its
    /// group in bits 4..8 and its length in bits 0..4 (frames are 4 KiB-aligned).
    vals: Vec<u64>,
    policy: Policy,
    /// Installs, multi-page installs, pages installed (kept small: the structure sits in
    /// the hierarchy's array beside the others).
    counts: [u64; 3],
}

/// What only a coalesced structure counts: how far coalescing extends its reach.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CoalescedStats {
    /// Entries installed (walk fills and victims taken).
    pub installs: u64,
    /// Installed entries that covered more than one page.
    pub coalesced_fills: u64,
    /// Pages the installed entries covered.
    pub installed_pages: u64,
    /// `installed_pages / installs`.
    pub mean_pages_per_fill: f64,
    /// Valid entries at the end, and the pages they cover (the structure's reach).
    pub entries_held: u64,
    pub pages_held: u64,
    /// `pages_held / entries_held`.
    pub mean_pages_per_entry: f64,
}

impl CoalescedStats {
    /// Add `o`'s counts (another core's structure) and recompute the means.
    pub fn merge(&mut self, o: &CoalescedStats) {
        self.installs += o.installs;
        self.coalesced_fills += o.coalesced_fills;
        self.installed_pages += o.installed_pages;
        self.entries_held += o.entries_held;
        self.pages_held += o.pages_held;
        self.means();
    }

    fn means(&mut self) {
        let r = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.mean_pages_per_fill = r(self.installed_pages, self.installs);
        self.mean_pages_per_entry = r(self.pages_held, self.entries_held);
    }
}

const META: u64 = 0xff;

#[inline(always)]
fn meta(v: u64) -> (u64, u64) {
    ((v >> 4) & 0xf, v & 0xf)
}

impl Coalesced {
    #[inline(always)]
    fn set_of(&self, group: u64) -> usize {
        (group & (self.sets as u64 - 1)) as usize
    }

    /// The way of `set` holding `key` whose run covers offset `off`, if any.
    #[inline(always)]
    fn find(&self, set: usize, key: u64, off: u64) -> Option<usize> {
        let base = set * self.ways;
        (0..self.ways).find(|&w| {
            let (first, n) = meta(self.vals[base + w]);
            self.keys[base + w] == key && off.wrapping_sub(first) < n
        })
    }

    /// The entry stored at way `i` of the arrays.
    fn entry(&self, i: usize) -> Entry {
        let (group, asid, si) = untag(self.keys[i]);
        let (first, pages) = meta(self.vals[i]);
        Entry {
            asid,
            size: PageSize::from_index(si),
            vpn: (group << self.shift) + first,
            frame: self.vals[i] & !META,
            pages,
        }
    }

    /// Remove every entry `pred` accepts, calling `removed` with each; returns how many.
    fn remove_where(
        &mut self,
        mut pred: impl FnMut(&Entry) -> bool,
        removed: &mut impl FnMut(&Entry),
    ) -> usize {
        let mut n = 0;
        for i in 0..self.keys.len() {
            if self.keys[i] != INVALID {
                let e = self.entry(i);
                if pred(&e) {
                    removed(&e);
                    self.keys[i] = INVALID;
                    n += 1;
                }
            }
        }
        n
    }
}

impl super::sealed::Sealed for Coalesced {}

impl Organisation for Coalesced {
    fn build(cfg: &TlbConfig, seed: u64) -> Option<Coalesced> {
        if cfg.organisation != TlbOrganisation::Coalesced {
            return None;
        }
        let (sets, ways) = ((cfg.entries / cfg.ways) as usize, cfg.ways as usize);
        Some(Coalesced {
            sets,
            ways,
            shift: cfg.organisation.pages_per_entry(cfg).trailing_zeros(),
            keys: vec![INVALID; sets * ways],
            vals: vec![0; sets * ways],
            policy: Policy::new(cfg.replacement, sets, ways, seed),
            counts: [0; 3],
        })
    }

    // Out of line: inlined into the hierarchy's probe loop beside the set-associative
    // arm, it would grow the loop every run pays for, coalescing or not.
    #[inline(never)]
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        _reads: &mut MemReads,
    ) -> Option<u64> {
        let vpn = vaddr >> size.shift();
        let (group, off) = (vpn >> self.shift, vpn & ((1 << self.shift) - 1));
        let set = self.set_of(group);
        let w = self.find(set, tag(group, asid, size.index()), off)?;
        self.policy.on_hit(set, w);
        let v = self.vals[set * self.ways + w];
        Some((v & !META) + ((off - meta(v).0) << size.shift()))
    }

    fn pages_per_entry(&self) -> u64 {
        1 << self.shift
    }

    #[inline(never)]
    fn insert(&mut self, e: Entry) -> Option<Entry> {
        let group = e.vpn >> self.shift;
        let first = e.vpn & ((1 << self.shift) - 1);
        debug_assert!(
            e.pages >= 1 && first + e.pages <= 1 << self.shift,
            "a run leaves its group: {e:?}"
        );
        let pages = e.pages.clamp(1, (1 << self.shift) - first);
        let (set, key) = (self.set_of(group), tag(group, e.asid, e.size.index()));
        let base = set * self.ways;
        // The ways of this group's runs that the new run overlaps (parts of it: runs
        // are maximal and disjoint while the table stands) are reused; the first of
        // them, else an empty way, else the policy's victim takes it.
        let mut reuse = None;
        for w in 0..self.ways {
            let (f, n) = meta(self.vals[base + w]);
            if self.keys[base + w] == key && f < first + pages && first < f + n {
                if reuse.is_none() {
                    reuse = Some(w);
                } else {
                    self.keys[base + w] = INVALID;
                }
            }
        }
        let free = || (0..self.ways).find(|&w| self.keys[base + w] == INVALID);
        let (way, evicted) = match reuse.or_else(free) {
            Some(w) => (w, None),
            None => {
                let w = self.policy.victim(set);
                (w, Some(self.entry(base + w)))
            }
        };
        self.keys[base + way] = key;
        self.vals[base + way] = e.frame | (first << 4) | pages;
        self.policy.on_fill(set, way);
        let c = &mut self.counts;
        c[0] += 1;
        c[1] += (pages > 1) as u64;
        c[2] += pages;
        evicted
    }

    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        let vpn = vaddr >> size.shift();
        let (group, off) = (vpn >> self.shift, vpn & ((1 << self.shift) - 1));
        let set = self.set_of(group);
        let key = tag(group, asid, size.index());
        let mut gone = false;
        // At most one run covers a page; the loop also clears any other.
        while let Some(w) = self.find(set, key, off) {
            self.keys[set * self.ways + w] = INVALID;
            gone = true;
        }
        gone
    }

    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        if end <= start {
            return 0;
        }
        self.remove_where(
            |e| {
                let b = e.vpn << e.size.shift();
                e.asid == asid && b < end && start < b + (e.pages << e.size.shift())
            },
            &mut |_| {},
        )
    }

    /// Names every page of each removed run (a later miss on any of them counts as one
    /// the flush caused).
    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize {
        self.remove_where(|e| which(e.asid), &mut |e| {
            for p in e.vpn..e.vpn + e.pages {
                removed(tag(p, e.asid, e.size.index()));
            }
        })
    }

    fn flush(&mut self) {
        self.keys.fill(INVALID);
    }

    fn occupancy(&self) -> usize {
        self.keys.iter().filter(|&&k| k != INVALID).count()
    }

    fn stats(&self, s: &mut TlbStats) {
        let [installs, coalesced_fills, installed_pages] = self.counts;
        let mut c = CoalescedStats {
            installs,
            coalesced_fills,
            installed_pages,
            ..Default::default()
        };
        for i in 0..self.keys.len() {
            if self.keys[i] != INVALID {
                c.entries_held += 1;
                c.pages_held += meta(self.vals[i]).1;
            }
        }
        c.means();
        s.coalesced = Some(c);
    }

    fn reset_stats(&mut self) {
        self.counts = [0; 3];
    }
}

/// The run a coalescing fill installs for page `vpn` (of `size`, at frame `frame`, of
/// `asid`): the pages around it inside its aligned group of `n` that `translate` (a
/// virtual address to its frame and page size, `None` when unmapped or not coalescible)
/// maps to the same page size at frames contiguous with `frame` (virtual page `vpn + i`
/// at `frame + i` pages, both ways from `vpn`). No allocation: `n` probes at most.
pub fn run_around(
    asid: u16,
    vpn: u64,
    frame: u64,
    size: PageSize,
    n: u64,
    mut translate: impl FnMut(u64) -> Option<(u64, PageSize)>,
) -> Entry {
    let group = vpn & !(n - 1);
    let shift = size.shift();
    let mut joins = |v: u64| {
        let want = if v < vpn {
            frame.checked_sub((vpn - v) << shift)
        } else {
            Some(frame + ((v - vpn) << shift))
        };
        want.is_some() && translate(v << shift) == want.map(|f| (f, size))
    };
    let mut first = vpn;
    while first > group && joins(first - 1) {
        first -= 1;
    }
    let mut last = vpn;
    while last + 1 < group + n && joins(last + 1) {
        last += 1;
    }
    Entry {
        asid,
        size,
        vpn: first,
        frame: frame - ((vpn - first) << shift),
        pages: last - first + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{PhysAddr, VirtAddr};
    use crate::assoc::Replacement;
    use crate::config::{TlbFill, TlbKind};
    use crate::tlb::{page_key, Tlbs, DATA};
    use std::collections::HashMap;

    const K4: PageSize = PageSize::Size4K;

    fn cfg(name: &str, level: u32, entries: u32, ways: u32, n: u32) -> TlbConfig {
        TlbConfig {
            name: name.into(),
            level,
            kind: TlbKind::Unified,
            entries,
            ways,
            page_sizes: vec![K4],
            latency: 1,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::Coalesced,
            coalesce: Some(n),
        }
    }

    /// The hand-made mappings (virtual page -> frame page, both in 4 KiB pages):
    /// pages 8..=15: one run contiguous in both spaces (frames 100..=107);
    /// pages 16..=20 at frames 200..=204, 21 unmapped, 22..=23 at 206..=207 (as if 21
    /// were there: contiguous frames but a virtual hole);
    /// pages 24..=26 at 300..=302, 27..=31 at 400..=404 (a physical break);
    /// pages 36..=43 at 500..=507 (contiguous in both, across the groups of 8 at 40).
    fn table() -> HashMap<u64, u64> {
        let mut m = HashMap::new();
        let mut run = |v: std::ops::RangeInclusive<u64>, f: u64| {
            let v0 = *v.start();
            for p in v {
                m.insert(p, f + p - v0);
            }
        };
        run(8..=15, 100);
        run(16..=20, 200);
        run(22..=23, 206);
        run(24..=26, 300);
        run(27..=31, 400);
        run(36..=43, 500);
        m
    }

    /// (first page, pages) of the run around `vpn` in groups of `n`.
    fn run(m: &HashMap<u64, u64>, vpn: u64, n: u64) -> (u64, u64) {
        let e = run_around(1, vpn, m[&vpn] << 12, K4, n, |va| {
            m.get(&(va >> 12)).map(|&f| (f << 12, K4))
        });
        // The run's frame is its first page's.
        assert_eq!(e.frame, m[&e.vpn] << 12);
        (e.vpn, e.pages)
    }

    #[test]
    fn a_run_covers_exactly_the_contiguous_pages_of_its_group() {
        let m = table();
        // Eight contiguous pages: the whole group from any page of it.
        for k in 8..=15 {
            assert_eq!(run(&m, k, 8), (8, 8));
        }
        // Groups of 4 split them in two.
        assert_eq!(run(&m, 9, 4), (8, 4));
        assert_eq!(run(&m, 14, 4), (12, 4));
        // Five, then a hole: 16..=20; the two after the hole on their own.
        assert_eq!(run(&m, 18, 8), (16, 5));
        assert_eq!(run(&m, 23, 8), (22, 2));
        // A physical break between 26 and 27.
        assert_eq!(run(&m, 24, 8), (24, 3));
        assert_eq!(run(&m, 29, 8), (27, 5));
        assert_eq!(run(&m, 26, 4), (24, 3));
        assert_eq!(run(&m, 27, 4), (27, 1));
        // Contiguous across the boundary of the groups of 8 at page 40: cut there.
        assert_eq!(run(&m, 38, 8), (36, 4));
        assert_eq!(run(&m, 40, 8), (40, 4));
        // And at the boundary of the groups of 2.
        assert_eq!(run(&m, 37, 2), (36, 2));
    }

    #[test]
    fn a_run_needs_the_same_page_size_and_stops_below_frame_zero() {
        // Pages 0..=3 at frames 0..=3 but page 2 reported as a 2M page's piece: cut.
        let t = |va: u64| {
            let p = va >> 12;
            (p < 4).then_some((p << 12, if p == 2 { PageSize::Size2M } else { K4 }))
        };
        let e = run_around(1, 1, 1 << 12, K4, 4, t);
        assert_eq!((e.vpn, e.pages, e.frame), (0, 2, 0));
        // Page 1 at frame 0: page 0 would need frame -1.
        let e = run_around(1, 1, 0, K4, 4, |va| Some((va.wrapping_sub(4096), K4)));
        assert_eq!((e.vpn, e.pages, e.frame), (1, 3, 0));
    }

    /// Install the run around `vpn` of the table in `t` after a walk (level 2 of 2).
    fn walk_fill(t: &mut Tlbs, m: &HashMap<u64, u64>, vpn: u64, n: u64) {
        let r = run_around(1, vpn, m[&vpn] << 12, K4, n, |va| {
            m.get(&(va >> 12)).map(|&f| (f << 12, K4))
        });
        let frame = PhysAddr(m[&vpn] << 12);
        t.complete_run(DATA, VirtAddr(vpn << 12), frame, 2, r);
    }

    /// A miss on page k fills the coalesced STLB with k's run; every other page of the
    /// run then hits there (no walk) at its own frame, and the pages beside the run do
    /// not. The set-associative L1 took the page alone.
    #[test]
    fn a_miss_then_hits_on_the_rest_of_its_run() {
        let m = table();
        let mut l1 = cfg("l1", 1, 4, 4, 4);
        l1.organisation = TlbOrganisation::SetAssociative;
        l1.coalesce = None;
        let mut t = Tlbs::new(&[l1, cfg("stlb", 2, 64, 4, 8)], 0);
        assert_eq!(t.coalesce(), 8);
        walk_fill(&mut t, &m, 18, 8);
        let probe = |t: &mut Tlbs, p: u64| {
            t.lookup(DATA, 1, VirtAddr((p << 12) | 0x123), &mut 0)
                .map(|h| (h.level, h.frame.0 >> 12))
        };
        assert_eq!(probe(&mut t, 18), Some((0, m[&18])));
        for p in [16, 17, 19, 20] {
            assert_eq!(probe(&mut t, p), Some((1, m[&p])), "page {p}");
        }
        for p in [15, 21, 22, 23, 24] {
            assert_eq!(probe(&mut t, p), None, "page {p}");
        }
        let s = &t.stats()[1];
        let c = s.coalesced.as_ref().unwrap();
        assert_eq!((s.hits, c.installs, c.coalesced_fills), (4, 1, 1));
        assert_eq!((c.entries_held, c.pages_held, c.installed_pages), (1, 5, 5));
        // The L1 holds page entries only.
        assert!(t.stats()[0].coalesced.is_none());
        assert_eq!(t.occupancy(), vec![1, 1]);
    }

    /// The storage itself: disjoint runs of one group side by side; a run replaces the
    /// parts of it already held; invalidating any page drops its whole run; ranges and
    /// address spaces drop what they overlap, naming every page.
    #[test]
    fn runs_of_a_group_coexist_and_go_whole() {
        let mut c = Coalesced::build(&cfg("c", 1, 8, 4, 8), 0).unwrap();
        let e = |asid: u16, vpn: u64, pages: u64| Entry {
            asid,
            size: K4,
            vpn,
            frame: (vpn + 1000) << 12,
            pages,
        };
        let hit = |c: &mut Coalesced, asid: u16, p: u64| {
            c.lookup(asid, p << 12, K4, &mut MemReads::default())
        };
        // Group 3 (pages 24..=31): 24..=26 and 27..=31.
        assert_eq!(c.insert(e(1, 24, 3)), None);
        assert_eq!(c.insert(e(1, 27, 5)), None);
        assert_eq!(c.occupancy(), 2);
        for p in 24..=31 {
            assert_eq!(hit(&mut c, 1, p), Some((p + 1000) << 12), "page {p}");
        }
        assert_eq!(hit(&mut c, 2, 25), None);
        assert_eq!(hit(&mut c, 1, 32), None);
        // A part first (24..=25), then the whole (24..=26): one entry.
        let mut d = Coalesced::build(&cfg("c", 1, 8, 4, 8), 0).unwrap();
        d.insert(e(1, 24, 2));
        d.insert(e(1, 25, 1));
        d.insert(e(1, 24, 3));
        assert_eq!(d.occupancy(), 1);
        // Invalidating page 29 drops 27..=31, not 24..=26.
        assert!(c.invalidate_page(1, 29 << 12, K4));
        assert!(!c.invalidate_page(1, 29 << 12, K4));
        for p in 27..=31 {
            assert_eq!(hit(&mut c, 1, p), None, "page {p}");
        }
        assert!(hit(&mut c, 1, 26).is_some());
        // A range of one byte in page 26 drops 24..=26.
        c.insert(e(1, 27, 5));
        c.insert(e(2, 8, 8));
        assert_eq!(c.invalidate_range(1, (26 << 12) + 5, (26 << 12) + 6), 1);
        assert_eq!(c.occupancy(), 2);
        // Address space 2: one entry, eight pages named.
        let mut keys = Vec::new();
        assert_eq!(c.invalidate_spaces(&|a| a == 2, &mut |k| keys.push(k)), 1);
        let want: Vec<u64> = (8..16)
            .map(|p| page_key(2, VirtAddr(p << 12), K4))
            .collect();
        assert_eq!(keys, want);
        assert_eq!(c.occupancy(), 1);
    }

    /// Groups index the sets (page number without its low log2(N) bits): the 2 sets of
    /// a 4-entry 2-way structure with N = 4 take groups 0, 2, 4 in set 0. The third
    /// evicts the least recently used of the set, whole.
    #[test]
    fn groups_choose_the_set_and_evictions_are_whole_runs() {
        let mut c = Coalesced::build(&cfg("c", 1, 4, 2, 4), 0).unwrap();
        let e = |vpn: u64, pages: u64| Entry {
            asid: 1,
            size: K4,
            vpn,
            frame: vpn << 12,
            pages,
        };
        assert_eq!(c.insert(e(0, 4)), None); // group 0, set 0
        assert_eq!(c.insert(e(4, 3)), None); // group 1, set 1
        assert_eq!(c.insert(e(9, 2)), None); // group 2, set 0
                                             // Touch group 0 (page 3): group 2 is now the older of set 0.
        assert!(c.lookup(1, 3 << 12, K4, &mut MemReads::default()).is_some());
        assert_eq!(c.insert(e(16, 4)), Some(e(9, 2))); // group 4, set 0
        assert_eq!(c.insert(e(5, 1)), None); // overlaps 4..=6 in group 1: replaces it
        assert_eq!(c.occupancy(), 3);
        let mut s = TlbStats::default();
        c.stats(&mut s);
        let st = s.coalesced.unwrap();
        assert_eq!(
            (st.installs, st.coalesced_fills, st.installed_pages),
            (5, 4, 14)
        );
        assert_eq!((st.entries_held, st.pages_held), (3, 9));
        assert_eq!(st.mean_pages_per_entry, 3.0);
    }
}
