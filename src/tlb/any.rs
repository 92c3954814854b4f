//! [`AnyOrganisation`]: every TLB organisation as one type, a variant each, for a
//! hierarchy whose structures mix organisations. The variant is chosen when the
//! hierarchy is built and never changes, so each call's `match` is a perfectly predicted
//! branch and no call is dynamic. Adding an organisation: one variant, one arm of
//! `each!` and of `build`.

use super::{Coalesced, Entry, MemReads, Organisation, Pom, RangeTlb, SetAssociative, TlbStats};
use crate::addr::PageSize;
use crate::config::{TlbConfig, TlbOrganisation};

/// Every organisation, one variant each; a structure's variant is chosen when the
/// hierarchy is built and never changes.
pub enum AnyOrganisation {
    SetAssociative(SetAssociative),
    Coalesced(Coalesced),
    Pom(Pom),
    Range(RangeTlb),
}

/// `$body` with `$o` bound to the organisation inside `$any` (one arm per variant).
macro_rules! each {
    ($any:expr, $o:ident => $body:expr) => {
        match $any {
            AnyOrganisation::SetAssociative($o) => $body,
            AnyOrganisation::Coalesced($o) => $body,
            AnyOrganisation::Pom($o) => $body,
            AnyOrganisation::Range($o) => $body,
        }
    };
}

impl AnyOrganisation {
    /// [`Organisation::lookup`] of the organisations other than set-associative, out of
    /// line: inlined, their code crowded the registers of the hierarchy's probe loop,
    /// which every set-associative probe then paid for in spills.
    #[inline(never)]
    fn lookup_other(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        reads: &mut MemReads,
    ) -> Option<u64> {
        each!(self, o => o.lookup(asid, vaddr, size, reads))
    }

    /// [`Organisation::insert`] of the others, out of line likewise.
    #[inline(never)]
    fn insert_other(&mut self, e: Entry) -> Option<Entry> {
        each!(self, o => o.insert(e))
    }
}

impl super::sealed::Sealed for AnyOrganisation {}

impl Organisation for AnyOrganisation {
    fn build(cfg: &TlbConfig, seed: u64) -> Option<Self> {
        match cfg.organisation {
            TlbOrganisation::SetAssociative => {
                SetAssociative::build(cfg, seed).map(AnyOrganisation::SetAssociative)
            }
            TlbOrganisation::Coalesced => {
                Coalesced::build(cfg, seed).map(AnyOrganisation::Coalesced)
            }
            TlbOrganisation::Pom => Pom::build(cfg, seed).map(AnyOrganisation::Pom),
            TlbOrganisation::Range => RangeTlb::build(cfg, seed).map(AnyOrganisation::Range),
        }
    }
    #[inline(always)]
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        reads: &mut MemReads,
    ) -> Option<u64> {
        match self {
            AnyOrganisation::SetAssociative(o) => o.lookup(asid, vaddr, size, reads),
            _ => self.lookup_other(asid, vaddr, size, reads),
        }
    }
    fn holds(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        each!(self, o => o.holds(asid, vaddr, size))
    }
    #[inline(always)]
    fn repeats_hit_silently(&self) -> bool {
        each!(self, o => o.repeats_hit_silently())
    }
    fn reads_memory(&self) -> bool {
        each!(self, o => o.reads_memory())
    }
    fn memory_bytes(&self) -> u64 {
        each!(self, o => o.memory_bytes())
    }
    fn place(&mut self, base: u64) {
        each!(self, o => o.place(base))
    }
    #[inline(always)]
    fn pages_per_entry(&self) -> u64 {
        each!(self, o => o.pages_per_entry())
    }
    #[inline(always)]
    fn holds_ranges(&self) -> bool {
        each!(self, o => o.holds_ranges())
    }
    #[inline(always)]
    fn pages(&mut self) -> Option<&mut SetAssociative> {
        match self {
            AnyOrganisation::SetAssociative(o) => Some(o),
            _ => None,
        }
    }
    #[inline(always)]
    fn insert(&mut self, e: Entry) -> Option<Entry> {
        match self {
            AnyOrganisation::SetAssociative(o) => o.insert(e),
            _ => self.insert_other(e),
        }
    }
    #[inline(always)]
    fn insert_evicts(&mut self, e: Entry) -> bool {
        match self {
            AnyOrganisation::SetAssociative(o) => o.insert_evicts(e),
            _ => self.insert_other(e).is_some(),
        }
    }
    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        each!(self, o => o.invalidate_page(asid, vaddr, size))
    }
    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        each!(self, o => o.invalidate_range(asid, start, end))
    }
    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize {
        each!(self, o => o.invalidate_spaces(which, removed))
    }
    fn flush(&mut self) {
        each!(self, o => o.flush())
    }
    fn occupancy(&self) -> usize {
        each!(self, o => o.occupancy())
    }
    fn stats(&self, s: &mut TlbStats) {
        each!(self, o => o.stats(s))
    }
    fn reset_stats(&mut self) {
        each!(self, o => o.reset_stats())
    }
}
