//! Invalidation of the hierarchy: a page, a range, an address space, a VM's spaces or
//! everything leaves every structure; and what left, for a structure outside the TLBs
//! that must follow (Victima's TLB blocks in the L2 cache: the paper invalidates them
//! with the TLB's entries).
//!
//! Every invalidation reaches the prefetch buffer too (`prefetch_buffer.rs`): a
//! prefetched translation in flight or waiting is as stale as a TLB entry.
//!
//! Owns the [`Tlbs`] invalidation methods, a log of invalidations ([`Dropped`]) and the
//! last entry evicted from the last TLB level, both kept only when a run asks for them
//! ([`Tlbs::keep_dropped`]; the evictions alone: [`Tlbs::keep_evictions`]): off, the log stays empty and every invalidation pays one
//! predicted branch. In: the OS's and the scheduler's invalidations (through the core),
//! the hierarchy's last-level evictions. Out: entries removed; [`Tlbs::take_dropped`]
//! and [`Tlbs::take_evicted`], drained by the miss path (`crate::sim::victima`).

use super::{Entry, Organisation, Tlbs};
use crate::addr::{PageSize, VirtAddr};

/// One invalidation of the TLBs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Every translation of `asid` covering a byte of `[start, end)`.
    Range { asid: u16, start: u64, end: u64 },
    /// Every translation of one address space.
    Space(u16),
    /// Every translation (of several address spaces at once: a VM's or all).
    All,
}

/// The log: invalidations since the last drain, and the last entry evicted from the
/// last level since the last take.
#[derive(Default)]
pub(super) struct DropLog {
    pub(super) on: bool,
    /// Keep the last-level evictions (without the log: a recency stack needs only
    /// them, [`Tlbs::keep_evictions`]).
    pub(super) evictions: bool,
    pub(super) log: Vec<Dropped>,
    pub(super) evicted: Option<Entry>,
}

impl DropLog {
    #[inline(always)]
    pub(super) fn push(&mut self, d: Dropped) {
        if self.on {
            self.log.push(d);
        }
    }
}

impl<O: Organisation> Tlbs<O> {
    /// Remove the translation of `vaddr` (page of `size`) from every structure.
    pub fn invalidate_page(&mut self, asid: u16, vaddr: VirtAddr, size: PageSize) {
        if self.splinters && size != PageSize::Size4K {
            let base = vaddr.align_down(size).0;
            self.invalidate_range(asid, base, base + size.bytes());
            return;
        }
        let vaddr = vaddr.0;
        self.forget_memo();
        let start = vaddr & !(size.bytes() - 1);
        let end = start + size.bytes();
        self.dropped.push(Dropped::Range { asid, start, end });
        if let Some(b) = self.prefetched.as_deref_mut() {
            b.invalidate_range(asid, start, end);
        }
        for st in &mut self.structs {
            if st.sizes.contains(size) {
                st.org.invalidate_page(asid, vaddr, size);
            }
        }
    }

    /// Entries may translate part of a page (a virtualized machine's TLBs hold a guest
    /// huge page as the host's smaller pages when the host maps it with them): an
    /// invalidation of a huge page then removes every entry inside it.
    pub fn set_splinters(&mut self) {
        self.splinters = true;
    }

    /// Remove every entry of `asid` covering any byte of `[start, end)` from every
    /// structure; returns how many went.
    pub fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        self.forget_memo();
        self.dropped.push(Dropped::Range { asid, start, end });
        if let Some(b) = self.prefetched.as_deref_mut() {
            b.invalidate_range(asid, start, end);
        }
        (self.structs.iter_mut())
            .map(|st| st.org.invalidate_range(asid, start, end))
            .sum()
    }

    /// [`Tlbs::flush_asid`], adding each removed entry's [`super::page_key`] to `out`.
    pub fn flush_asid_into(
        &mut self,
        asid: u16,
        out: &mut std::collections::HashSet<u64>,
    ) -> usize {
        self.forget_memo();
        self.dropped.push(Dropped::Space(asid));
        if let Some(b) = self.prefetched.as_deref_mut() {
            // Not a TLB entry: a miss on it later is not one the flush caused.
            b.invalidate_where(|e| e.asid == asid);
        }
        let mut n = 0;
        for st in &mut self.structs {
            n += st.org.invalidate_spaces(&|a| a == asid, &mut |k| {
                out.insert(k);
            });
        }
        n
    }

    /// Remove every entry of address space `asid` (its id is given to another, or its
    /// translations changed); returns how many went.
    pub fn flush_asid(&mut self, asid: u16) -> usize {
        self.dropped.push(Dropped::Space(asid));
        self.flush_quietly(&|a| a == asid)
    }

    /// Remove every entry of the address spaces `which` accepts (a VM's, in one pass
    /// over each structure); returns how many went.
    pub fn flush_spaces(&mut self, which: &impl Fn(u16) -> bool) -> usize {
        self.dropped.push(Dropped::All);
        self.flush_quietly(which)
    }

    /// [`Tlbs::flush_spaces`] without logging it (the caller logged it more exactly).
    fn flush_quietly(&mut self, which: &impl Fn(u16) -> bool) -> usize {
        self.forget_memo();
        if let Some(b) = self.prefetched.as_deref_mut() {
            b.invalidate_where(|e| which(e.asid));
        }
        (self.structs.iter_mut())
            .map(|st| st.org.invalidate_spaces(which, &mut |_| {}))
            .sum()
    }

    /// Remove every entry of every structure.
    pub fn flush_all(&mut self) {
        self.forget_memo();
        self.dropped.push(Dropped::All);
        if let Some(b) = self.prefetched.as_deref_mut() {
            b.invalidate_where(|_| true);
        }
        for st in &mut self.structs {
            st.org.flush();
        }
    }

    /// Keep the invalidations and last-level evictions for [`Tlbs::take_dropped`] and
    /// [`Tlbs::take_evicted`] (Victima's TLB blocks follow them).
    pub fn keep_dropped(&mut self) {
        self.dropped.on = true;
        self.keep_evictions();
    }

    /// Keep only the last-level evictions for [`Tlbs::take_evicted`], not the log of
    /// invalidations (TLB prefetching's recency stack follows evictions only; nobody
    /// would drain the log).
    pub fn keep_evictions(&mut self) {
        self.dropped.evictions = true;
        // The fast path keeps none (`plain.rs`).
        self.fast = false;
    }

    /// The invalidations since the last call, oldest first (empty unless kept).
    pub fn take_dropped(&mut self, out: &mut Vec<Dropped>) {
        out.clear();
        std::mem::swap(out, &mut self.dropped.log);
    }

    /// The entry the last fill evicted from the last TLB level, if it evicted one since
    /// the last call (a fill evicts at most one there).
    pub fn take_evicted(&mut self) -> Option<Entry> {
        self.dropped.evicted.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use crate::assoc::Replacement;
    use crate::config::{TlbConfig, TlbFill, TlbKind, TlbOrganisation};

    /// One level, 2 entries, fully associative, LRU: pages 1, 2, 3 filled in turn.
    fn two_entry_tlb_after_three_fills(keep: fn(&mut Tlbs)) -> Tlbs {
        let c = TlbConfig {
            name: "fa".into(),
            level: 1,
            kind: TlbKind::Unified,
            entries: 2,
            ways: 2,
            page_sizes: vec![PageSize::Size4K],
            latency: 1,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::SetAssociative,
            coalesce: None,
        };
        let mut t = Tlbs::new(&[c], 0);
        keep(&mut t);
        for p in 1..=3u64 {
            let va = VirtAddr(p << 12);
            t.complete(
                super::super::DATA,
                1,
                va,
                PhysAddr(p << 12),
                PageSize::Size4K,
                1,
            );
        }
        t
    }

    /// Evictions only (a recency stack's switch): the third fill's victim, page 1, is
    /// kept, and an invalidation is not logged (nobody drains the log). Without a
    /// switch nothing is kept; with Victima's both are.
    #[test]
    fn keep_evictions_keeps_no_invalidation_log() {
        let mut out = Vec::new();
        let mut t = two_entry_tlb_after_three_fills(|t| t.keep_evictions());
        assert_eq!(t.take_evicted().map(|e| e.vpn), Some(1));
        assert_eq!(t.take_evicted(), None, "taken once");
        t.invalidate_page(1, VirtAddr(2 << 12), PageSize::Size4K);
        t.take_dropped(&mut out);
        assert!(out.is_empty());
        let mut t = two_entry_tlb_after_three_fills(|_| {});
        assert_eq!(t.take_evicted(), None);
        let mut t = two_entry_tlb_after_three_fills(|t| t.keep_dropped());
        assert_eq!(t.take_evicted().map(|e| e.vpn), Some(1));
        t.invalidate_page(1, VirtAddr(2 << 12), PageSize::Size4K);
        t.take_dropped(&mut out);
        assert_eq!(out.len(), 1);
    }
}
