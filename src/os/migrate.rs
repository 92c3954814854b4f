//! Page migration (`migrate` events): every mapped page of a range moves to a new frame
//! of its size, as NUMA balancing or compaction moves pages.
//!
//! In: a range of one address space. Out: the copies' cycles, and in [`Effects`] the old
//! translations. Shared pages stay, and so does a huge page no free block can take.

use super::{Effects, Os, OsStats};
use crate::addr::VirtAddr;
use crate::pagetable::PageTable;
use crate::SimError;

impl Os {
    /// Moves every mapped page of [start, end) to a new frame of its size: copied
    /// (`cow_copy_4k_cycles` per 4 KiB), remapped, the old frame freed, the old
    /// translation queued for invalidation. Returns the cycles.
    pub(super) fn migrate<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let mut cycles = 0u64;
        for (base, size) in self.mapped_in(pt, asid, start, end)? {
            let Some(old) = pt.translate(asid, VirtAddr(base)) else {
                continue;
            };
            if self.share.shared.contains_key(&old.frame.0) {
                continue;
            }
            // A page of a live reservation is a piece of a 2M block: break it first,
            // so the page's frame can go alone (the region is not promoted any more).
            let key = (asid, base >> 21);
            if let Some(r) = self.huge.regions.get_mut(&key) {
                if let Some(b) = r.reservation.take() {
                    r.done = true;
                    self.frames.break_reservation(b);
                }
            }
            let Some(new) = self.frames.try_alloc(size) else {
                continue;
            };
            pt.unmap(asid, VirtAddr(base));
            self.frames.free(old.frame.0, size)?;
            // A resident page stays resident (and keeps its recency) in its new frame.
            self.remap(pt, asid, (base, size), new, stats, fx)?;
            stats.migrated_pages += 1;
            cycles = cycles.saturating_add(size.bytes() / 4096 * self.costs.cow_copy_4k);
        }
        Ok(cycles)
    }
}
