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
//! Invalidation of any page of a run drops the whole entry, the conservative choice
//! CoLT describes (an invalidation does not split a coalesced entry); pages of the run
//! that are still valid are simply walked again on their next miss.
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
    counts: CoalescedStats,
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
            counts: CoalescedStats::default(),
        })
    }

    #[inline(always)]
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
        c.installs += 1;
        c.coalesced_fills += (pages > 1) as u64;
        c.installed_pages += pages;
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
        let mut c = self.counts.clone();
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
        self.counts = CoalescedStats::default();
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
