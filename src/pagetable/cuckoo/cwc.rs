//! The cuckoo walk cache (CWC): per (asid, page size, cluster), the way holding the
//! cluster's line, or that there is none, so a walk reads one way (or none) instead of
//! all of them.
//!
//! In: ECPT keys and page sizes from [`super::Cuckoo`]'s walks and updates. Out: the
//! cached way, hit counters.

use super::ecpt::unpack;
use crate::addr::PageSize;
use crate::assoc::SetAssoc;
use std::cell::{Cell, RefCell};

/// Value of a cuckoo walk cache entry recording that the cluster has no line in any way.
pub(super) const CWC_ABSENT: u64 = u64::MAX;

/// The cuckoo walk cache: per (asid, page size, cluster), the way holding the cluster's
/// line, or [`CWC_ABSENT`]. Probed and filled during walks (`&self`), hence the cells.
pub(super) struct Cwc {
    pub(super) array: RefCell<SetAssoc>,
    pub(super) latency: u64,
    pub(super) lookups: Cell<u64>,
    pub(super) hits: Cell<u64>,
    /// Hits saying the cluster has no line (the size is skipped without a read).
    pub(super) absent_hits: Cell<u64>,
    pub(super) invalidations: u64,
}

/// The CWC's tag: the ECPT key (bit 63 set, asid, cluster) with the page size in bits
/// 61-62 (free: the asid ends at bit 60). Never `INVALID` (all ones).
#[inline(always)]
pub(super) fn cwc_key(key: u64, size: PageSize) -> u64 {
    key | (size.index() as u64) << 61
}

/// The CWC set of tag `ck`.
#[inline(always)]
pub(super) fn cwc_set(ck: u64, mask: u64) -> usize {
    let (asid, cluster) = unpack(ck & !(3 << 61));
    // Consecutive clusters of one space fill consecutive sets.
    let size = (ck >> 61) & 3;
    ((cluster ^ (asid as u64).wrapping_mul(0x9e37_79b9) ^ size.wrapping_mul(0x85eb_ca6b)) & mask)
        as usize
}

impl Cwc {
    /// The cached way (or `CWC_ABSENT`) of `key`'s line in the `size` table, if cached.
    pub(super) fn lookup(&self, key: u64, size: PageSize) -> Option<u64> {
        let ck = cwc_key(key, size);
        let mut a = self.array.borrow_mut();
        let set = cwc_set(ck, a.set_mask());
        self.lookups.set(self.lookups.get() + 1);
        let v = a.lookup(set, ck)?;
        self.hits.set(self.hits.get() + 1);
        if v == CWC_ABSENT {
            self.absent_hits.set(self.absent_hits.get() + 1);
        }
        Some(v)
    }

    pub(super) fn fill(&self, key: u64, size: PageSize, way: u64) {
        let ck = cwc_key(key, size);
        let mut a = self.array.borrow_mut();
        let set = cwc_set(ck, a.set_mask());
        a.insert(set, ck, way);
    }
}
