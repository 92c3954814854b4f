//! Recency-based preloading: Saulsbury, Dahlgren and Stenström, "Recency-based TLB
//! preloading", ISCA 2000. Translations evicted from the last TLB level form an LRU
//! stack (most recently evicted on top), kept in the page table through pointers added
//! to the PTEs. Pages used together leave the TLB together, so on a miss to page Y the
//! pages next to Y in the stack are likely to be wanted next: they are prefetched, Y
//! leaves the stack (it is in the TLB again) and the entry Y's fill evicted goes on top.
//!
//! Owns the stack, held in host memory (the page table's pointers are not modelled as
//! bits in PTEs): an index-linked list in a preallocated node array with a free list,
//! and an open-addressing index by (address space, page) sized once, so nothing is
//! allocated per miss. In: the trigger level's misses and the last level's evictions
//! ([`Prefetcher::on_evict`]); out: candidates.
//!
//! What is prefetched is Virtuoso's (CMU-SAFARI/Virtuoso@8188baf,
//! `tlb_prefetching/RecencyTLBPrefetcher.cc`, l.237–308, and `mmu_base_prefetch.cfg`
//! l.110–117, all three on): Y.prev, the page evicted just after Y (its "same
//! recency", key `after`); Y.prev.prev (its "recency-1", `after2`); and Y.next, the page
//! evicted just before Y (its "recency+1", `before`), in that order. The paper's own
//! choice (facts file §2: its ±1 neighbours) is UNVERIFIED here. Order of updates as
//! Virtuoso's: the neighbours are read before Y is removed, and the victim of a miss is
//! on the stack when the next miss reads it.
//!
//! Cost: every stack update rewrites PTE pointers in memory (unlinking Y writes its
//! neighbours' and its own; pushing the victim writes its own and the old top's), and
//! reading Y.prev.prev reads Y.prev's PTE (Y's own comes with the demand walk). These
//! are **counted** (`recency_pointer_writes`, `recency_pointer_reads`) but **not
//! charged**: no cycles, no cache traffic. Virtuoso charges only the read, and only with
//! `model_pointer_chase = true` (its `mmu_recency.cfg`).
//!
//! The paper's stack spans every page; here it holds at most `capacity` pages, and a
//! push onto a full stack drops the bottom (the page evicted longest ago, least likely
//! to be predicted usefully): a simulator bound, not hardware. Evicted entries of pages
//! larger than 4K are not stacked (the trait's evictions are 4K pages). The stack does
//! not follow invalidations: an unmapped page stays stacked, and a prefetch of it finds
//! it unmapped and is dropped (no fault). Buffer hits are
//! misses here as in Virtuoso (it acts on every TLB miss, a PQ hit included): they
//! predict and update the stack.

use super::{Candidates, Miss, Prefetcher};
use serde::{Deserialize, Serialize};

/// `[prefetch.recency]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecencyConfig {
    /// Pages the stack holds at most (a simulator bound: 2^18 = 1 GiB of 4K pages).
    #[serde(default = "capacity")]
    pub capacity: u32,
    /// Prefetch the page evicted just after the missing one (Virtuoso: on).
    #[serde(default = "yes")]
    pub after: bool,
    /// And the one evicted two after it (on).
    #[serde(default = "yes")]
    pub after2: bool,
    /// And the one evicted just before it (on).
    #[serde(default = "yes")]
    pub before: bool,
}

fn capacity() -> u32 {
    1 << 18
}
fn yes() -> bool {
    true
}

impl Default for RecencyConfig {
    fn default() -> Self {
        RecencyConfig {
            capacity: capacity(),
            after: true,
            after2: true,
            before: true,
        }
    }
}

impl RecencyConfig {
    /// Problems of the table at key `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.capacity < 2 || self.capacity > 1 << 24 {
            e.push((
                format!("{path}.capacity"),
                format!("{}: 2 to 2^24 pages", self.capacity),
            ));
        }
        if !(self.after || self.after2 || self.before) {
            e.push((
                path.to_string(),
                "after, after2 and before are all off: nothing to prefetch".into(),
            ));
        }
        e
    }
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    asid: u16,
    vpn: u64,
    /// Toward the top (evicted later) and toward the bottom (evicted earlier); for a
    /// free node, `next` links the free list.
    prev: u32,
    next: u32,
}

const FREE: Node = Node {
    asid: 0,
    vpn: 0,
    prev: NIL,
    next: NIL,
};

/// The stack and its counters.
pub struct Recency {
    nodes: Vec<Node>,
    /// Open addressing, linear probing: node numbers (`NIL`: empty), at least twice
    /// as many slots as nodes.
    index: Vec<u32>,
    bits: u32,
    top: u32,
    bottom: u32,
    free: u32,
    len: usize,
    after: bool,
    after2: bool,
    before: bool,
    pushes: u64,
    found: u64,
    dropped_full: u64,
    pointer_writes: u64,
    pointer_reads: u64,
}

impl Recency {
    pub fn new(c: &RecencyConfig) -> Recency {
        let n = c.capacity as usize;
        let slots = (2 * n).next_power_of_two();
        let mut nodes = vec![FREE; n];
        for (i, nd) in nodes.iter_mut().enumerate() {
            nd.next = if i + 1 < n { i as u32 + 1 } else { NIL };
        }
        Recency {
            nodes,
            index: vec![NIL; slots],
            bits: slots.trailing_zeros(),
            top: NIL,
            bottom: NIL,
            free: 0,
            len: 0,
            after: c.after,
            after2: c.after2,
            before: c.before,
            pushes: 0,
            found: 0,
            dropped_full: 0,
            pointer_writes: 0,
            pointer_reads: 0,
        }
    }

    #[inline]
    fn home(&self, asid: u16, vpn: u64) -> usize {
        let k = vpn ^ ((asid as u64) << 48);
        (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits)) as usize
    }

    /// The index slot and node of (`asid`, `vpn`), if stacked.
    fn find(&self, asid: u16, vpn: u64) -> Option<(usize, u32)> {
        let mask = self.index.len() - 1;
        let mut s = self.home(asid, vpn);
        loop {
            let n = self.index[s];
            if n == NIL {
                return None;
            }
            let nd = &self.nodes[n as usize];
            if nd.vpn == vpn && nd.asid == asid {
                return Some((s, n));
            }
            s = (s + 1) & mask;
        }
    }

    /// Empty index slot `hole`, moving later entries of its probe run back into it
    /// (backward-shift deletion: no tombstones, so lookups stay short).
    fn unindex(&mut self, mut hole: usize) {
        let mask = self.index.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let n = self.index[j];
            if n == NIL {
                break;
            }
            let nd = self.nodes[n as usize];
            let home = self.home(nd.asid, nd.vpn);
            // It may move to the hole if the hole lies between its home and j.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.index[hole] = n;
                hole = j;
            }
        }
        self.index[hole] = NIL;
    }

    /// Unlink node `n` (index slot `s`) and free it: its neighbours' pointers and its
    /// own are rewritten.
    fn remove(&mut self, s: usize, n: u32) {
        let Node { prev, next, .. } = self.nodes[n as usize];
        match prev {
            NIL => self.top = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.bottom = prev,
            q => self.nodes[q as usize].prev = prev,
        }
        self.pointer_writes += 1 + (prev != NIL) as u64 + (next != NIL) as u64;
        self.unindex(s);
        self.nodes[n as usize] = Node {
            next: self.free,
            ..FREE
        };
        self.free = n;
        self.len -= 1;
    }

    /// Put (`asid`, `vpn`) on top (it is not stacked); a full stack drops its bottom.
    fn push(&mut self, asid: u16, vpn: u64) {
        if self.free == NIL {
            let b = self.bottom;
            let nd = self.nodes[b as usize];
            if let Some((s, _)) = self.find(nd.asid, nd.vpn) {
                self.remove(s, b);
            }
            self.dropped_full += 1;
        }
        let n = self.free;
        self.free = self.nodes[n as usize].next;
        self.nodes[n as usize] = Node {
            asid,
            vpn,
            prev: NIL,
            next: self.top,
        };
        match self.top {
            NIL => self.bottom = n,
            t => self.nodes[t as usize].prev = n,
        }
        self.pointer_writes += 1 + (self.top != NIL) as u64;
        self.top = n;
        let mask = self.index.len() - 1;
        let mut s = self.home(asid, vpn);
        while self.index[s] != NIL {
            s = (s + 1) & mask;
        }
        self.index[s] = n;
        self.len += 1;
        self.pushes += 1;
    }

    /// The stacked page of node `n`, if it is one of `asid`'s.
    fn page(&self, n: u32, asid: u16) -> Option<u64> {
        let nd = self.nodes.get(n as usize)?;
        (nd.asid == asid).then_some(nd.vpn)
    }

    /// The stack from the top (tests).
    #[cfg(test)]
    fn pages(&self) -> Vec<u64> {
        let mut v = Vec::new();
        let mut n = self.top;
        while n != NIL {
            v.push(self.nodes[n as usize].vpn);
            n = self.nodes[n as usize].next;
        }
        v
    }
}

impl Prefetcher for Recency {
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, _mapped: &M, out: &mut Candidates) {
        let Some((s, y)) = self.find(m.asid, m.vpn) else {
            return;
        };
        self.found += 1;
        let Node { prev, next, .. } = self.nodes[y as usize];
        let prev2 = match prev {
            NIL => NIL,
            p => self.nodes[p as usize].prev,
        };
        if self.after {
            if let Some(v) = self.page(prev, m.asid) {
                out.push(v);
            }
        }
        if self.after2 && prev != NIL {
            // Y.prev.prev is in Y.prev's PTE: one more read.
            self.pointer_reads += 1;
            if let Some(v) = self.page(prev2, m.asid) {
                out.push(v);
            }
        }
        if self.before {
            if let Some(v) = self.page(next, m.asid) {
                out.push(v);
            }
        }
        self.remove(s, y);
    }

    fn wants_evictions(&self) -> bool {
        true
    }

    fn on_evict(&mut self, asid: u16, vpn: u64) {
        if let Some((s, n)) = self.find(asid, vpn) {
            self.remove(s, n);
        }
        self.push(asid, vpn);
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "recency_stacked": self.len,
            "recency_pushes": self.pushes,
            "recency_misses_found": self.found,
            "recency_dropped_full": self.dropped_full,
            "recency_pointer_writes": self.pointer_writes,
            "recency_pointer_reads": self.pointer_reads,
        })
    }

    /// The counts restart; the stack (`recency_stacked`) stays.
    fn reset_stats(&mut self) {
        self.pushes = 0;
        self.found = 0;
        self.dropped_full = 0;
        self.pointer_writes = 0;
        self.pointer_reads = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(p: &mut Recency, vpn: u64) -> Vec<u64> {
        crate::prefetch::ask(p, (vpn, 0), &|_| true)
    }

    /// Evictions 1, 2, 3, 4, 5 stack as [5, 4, 3, 2, 1] (top first). A miss to 3:
    /// after = 4, after2 = 5, before = 2; 3 leaves: [5, 4, 2, 1]. A miss to 1 (the
    /// bottom): after 2, after2 4, no before; [5, 4, 2]. A miss to 5 (the top): only
    /// before = 4 (no after, and so no read for after2). A page never evicted: nothing.
    #[test]
    fn recency_predicts_stack_neighbours() {
        let mut p = Recency::new(&RecencyConfig::default());
        for v in 1..=5 {
            p.on_evict(1, v);
        }
        assert_eq!(p.pages(), [5, 4, 3, 2, 1]);
        assert_eq!(miss(&mut p, 3), [4, 5, 2]);
        assert_eq!(p.pages(), [5, 4, 2, 1]);
        assert_eq!(miss(&mut p, 1), [2, 4]);
        assert_eq!(miss(&mut p, 5), [4]);
        assert_eq!(p.pages(), [4, 2]);
        assert_eq!(miss(&mut p, 9), Vec::<u64>::new());
        // Writes: 5 pushes (1 + 4 with an old top) = 9; removals of 3 (3 writes), 1
        // (2), 5 (2) = 7. Reads: after2 looked up for 3 and 1 = 2.
        assert_eq!(p.pointer_writes, 16);
        assert_eq!(p.pointer_reads, 2);
    }

    /// A page evicted again moves to the top; a full stack drops its bottom; other
    /// address spaces' neighbours are not predicted.
    #[test]
    fn recency_moves_drops_and_keeps_spaces_apart() {
        let c = RecencyConfig {
            capacity: 3,
            ..RecencyConfig::default()
        };
        let mut p = Recency::new(&c);
        for v in [1, 2, 3, 1] {
            p.on_evict(1, v);
        }
        assert_eq!(p.pages(), [1, 3, 2]);
        p.on_evict(1, 4);
        assert_eq!(p.pages(), [4, 1, 3], "2 dropped");
        assert_eq!(p.dropped_full, 1);
        p.on_evict(2, 7);
        assert_eq!(p.pages(), [7, 4, 1]);
        // A miss to 4 of space 1: after = 7 is space 2's (skipped), after2 none,
        // before = 1.
        assert_eq!(miss(&mut p, 4), [1]);
        assert_eq!(p.pages(), [7, 1]);
    }

    /// The index survives many removals and reinsertions (backward-shift deletion):
    /// a 64-page stack churned by 10,000 evictions of pages 0..100 in a scrambled
    /// order finds exactly the pages a model list holds.
    #[test]
    fn recency_index_stays_consistent() {
        let c = RecencyConfig {
            capacity: 64,
            ..RecencyConfig::default()
        };
        let mut p = Recency::new(&c);
        let mut model: std::collections::VecDeque<u64> = Default::default();
        for i in 0..10_000u64 {
            let v = (i * 37 + i / 7) % 100;
            p.on_evict(1, v);
            model.retain(|&x| x != v);
            model.push_front(v);
            model.truncate(64);
        }
        assert_eq!(p.pages(), Vec::from(model.clone()));
        for v in 0..100 {
            assert_eq!(p.find(1, v).is_some(), model.contains(&v), "{v}");
        }
    }

    #[test]
    fn recency_problems() {
        assert!(RecencyConfig::default().problems("p").is_empty());
        let bad = RecencyConfig {
            capacity: 1,
            after: false,
            after2: false,
            before: false,
        };
        let keys: Vec<String> = bad.problems("p").into_iter().map(|e| e.0).collect();
        assert_eq!(keys, ["p.capacity", "p"]);
    }
}
