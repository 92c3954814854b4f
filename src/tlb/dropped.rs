//! What left the TLBs, for a structure outside them that must follow (Victima's TLB
//! blocks in the L2 cache: the paper invalidates them with the TLB's entries).
//!
//! Owns a log of invalidations ([`Dropped`]) and the last entry evicted from the last
//! TLB level, both kept only when a run asks for them ([`super::Tlbs::keep_dropped`]):
//! off, the log stays empty and every invalidation pays one predicted branch. In: the
//! hierarchy's invalidations and last-level evictions. Out: [`super::Tlbs::take_dropped`]
//! and [`super::Tlbs::take_evicted`], drained by the miss path (`crate::sim::victima`).

use super::Entry;

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
