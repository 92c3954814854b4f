//! A nested TLB (AMD's NTLB): a small fully associative LRU cache of host translations
//! (gPA → hPA), tagged by VM and guest-physical page, probed before each host walk of the
//! nested walk through [`HostCache`].
//!
//! An entry covers one host page (its size is the host translation's: 4K, 2M or 1G), so a
//! hit needs the same VM and the gPA inside the entry's host page; an entry of one VM
//! never hits for another. Replacement is least recently used: a hit or a fill makes the
//! entry the most recent, a fill into a full NTLB evicts the least recent one. Entries are
//! kept in recency order (most recent last), so a lookup is a scan of at most N entries
//! and a move, with no allocation after `new`.
//!
//! Used alone as the [`HostCache`] of a nested walk, or inside
//! [`super::HostCaches`] beside the host walk caches (the walker's, per core, timed
//! there); host-initiated flushes call [`NestedTlb::flush_vm`].

use super::nested::{HostCache, HostLookup};
use crate::addr::GuestPhysAddr;
use crate::pagetable::{Translation, WalkStep, Walkable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    vm: u16,
    /// gPA of the host page's base (aligned to `host.size`).
    gpa_base: u64,
    host: Translation,
}

/// A fully associative LRU nested TLB of `capacity` entries.
#[derive(Clone, Debug)]
pub struct NestedTlb {
    /// Most recently used last.
    entries: Vec<Entry>,
    capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

impl NestedTlb {
    /// An empty NTLB of `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> NestedTlb {
        assert!(capacity > 0, "a nested TLB needs at least one entry");
        NestedTlb {
            entries: Vec::with_capacity(capacity),
            capacity,
            hits: 0,
            misses: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry of `vm` (host-side invalidation).
    pub fn flush_vm(&mut self, vm: u16) {
        self.entries.retain(|e| e.vm != vm);
    }

    /// The gPA page bases held, least recently used first, with their VM.
    pub fn contents(&self) -> impl Iterator<Item = (u16, GuestPhysAddr)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.vm, GuestPhysAddr(e.gpa_base)))
    }

    fn position(&self, vm: u16, gpa: GuestPhysAddr) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.vm == vm && gpa.align_down(e.host.size).0 == e.gpa_base)
    }
}

impl NestedTlb {
    /// The host translation of the page holding `gpa` for `vm`, if held (a hit makes it
    /// the most recent entry); counts a hit or a miss.
    pub fn lookup(&mut self, vm: u16, gpa: GuestPhysAddr) -> Option<Translation> {
        match self.position(vm, gpa) {
            Some(i) => {
                self.hits += 1;
                let e = self.entries.remove(i);
                self.entries.push(e);
                Some(e.host)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Hold `host`, the host translation of the page holding `gpa`, as the most recent
    /// entry (evicting the least recent one if full).
    pub fn fill(&mut self, vm: u16, gpa: GuestPhysAddr, host: Translation) {
        if let Some(i) = self.position(vm, gpa) {
            self.entries.remove(i);
        } else if self.entries.len() == self.capacity {
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            vm,
            gpa_base: gpa.align_down(host.size).0,
            host,
        });
    }
}

/// Alone, the NTLB answers full translations or nothing, and learns only from host
/// walks that found a translation (an EPT violation fills nothing: the hypervisor is
/// about to change that mapping).
impl HostCache for NestedTlb {
    #[inline]
    fn lookup<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        _host: &H,
    ) -> HostLookup {
        match NestedTlb::lookup(self, vm, gpa) {
            Some(t) => HostLookup::Translation(t),
            None => HostLookup::Miss,
        }
    }

    #[inline]
    fn fill<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        _host: &H,
        _walked: &[WalkStep],
        found: Option<Translation>,
    ) {
        if let Some(t) = found {
            NestedTlb::fill(self, vm, gpa, t);
        }
    }
}
