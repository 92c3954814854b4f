//! A plain radix table as raw parts ([`RadixView`]): what a walk's reads and the host
//! prefetch need, copied out once, for the fused walk (`walker/fused.rs`), which holds
//! it across accesses. In: a table node, a level and a virtual address. Out: the
//! entry and its physical address, as [`Radix::read_raw`] gives them; the host
//! prefetch's leaf entry and lines (the one implementation: [`Radix`]'s own prefetch
//! and hinted leaf lines go through it).

use super::{raw_table, Radix, MAX_LEVELS, SLOTS};
use crate::addr::{PageSize, PhysAddr};
use crate::pagetable::Translation;

impl Radix {
    /// The table as a [`RadixView`] (the fused walk's, `walker/fused.rs`).
    pub(crate) fn view(&self) -> RadixView {
        RadixView {
            levels: self.levels,
            shift: self.shift,
            mask: self.mask,
            size: self.size,
            entries: self.entries.as_ptr(),
            len: self.entries.len(),
            paddr: self.paddr.as_ptr(),
        }
    }
}

/// A plain radix table as raw parts: what a walk's reads need, copied out once, for
/// the fused walk (`walker/fused.rs`), which holds it across accesses. Valid while the
/// table is neither moved nor grown (a fault may add tables: the fused engine makes
/// its views again after one) and nothing changes it meanwhile.
#[derive(Clone, Copy)]
pub(crate) struct RadixView {
    pub(crate) levels: usize,
    shift: [u32; MAX_LEVELS],
    mask: [u64; MAX_LEVELS],
    size: [PageSize; MAX_LEVELS],
    entries: *const u64,
    len: usize,
    paddr: *const u64,
}

impl RadixView {
    /// Whether the view is still of `pt`'s arena as it is now (a fault may have grown it).
    #[inline(always)]
    pub(crate) fn holds(&self, pt: &Radix) -> bool {
        self.entries == pt.entries.as_ptr()
            && self.len == pt.entries.len()
            && self.paddr == pt.paddr.as_ptr()
    }

    /// [`Radix::level_shift`].
    #[inline(always)]
    pub(crate) fn level_shift(&self, level: usize) -> u32 {
        self.shift[level & (MAX_LEVELS - 1)]
    }

    /// [`Radix::read_raw`].
    ///
    /// # Safety
    /// The view is valid (see [`RadixView`]).
    #[inline(always)]
    pub(crate) unsafe fn read_raw(&self, node: usize, level: usize, vaddr: u64) -> (PhysAddr, u64) {
        let l = level & (MAX_LEVELS - 1);
        let idx = ((vaddr >> self.shift[l]) & self.mask[l]) as usize;
        let i = node * SLOTS + idx;
        // A node comes from an entry or a walk cache: checked once, as the table's
        // own read checks it (each table has `SLOTS` entries and one address).
        assert!(i < self.len, "radix node {node} out of the arena");
        // SAFETY: the caller's (the view is valid); `i` is inside the entries, so
        // `node` is one of the tables.
        unsafe {
            (
                PhysAddr(*self.paddr.add(node) + idx as u64 * 8),
                *self.entries.add(i),
            )
        }
    }

    /// [`Walkable::prefetch`] of a plain radix table: follow the upper levels (few
    /// tables, usually in the host's caches; the way to the level-2 table remembered in
    /// `upper` from the last call) and prefetch the leaf entry on the host; returns the
    /// leaf table + 1 (0: none), the hint of [`RadixView::leaf_lines_hinted`].
    #[inline(always)]
    pub(crate) fn prefetch_leaf(&self, vaddr: u64, upper: &mut (u64, u32)) -> u64 {
        let entry = |node: usize, level: usize| -> Option<u64> {
            let l = level & (MAX_LEVELS - 1);
            let i = node * SLOTS + ((vaddr >> self.shift[l]) & self.mask[l]) as usize;
            // SAFETY: the view is valid (its arena unchanged) and `i` inside it.
            (i < self.len).then(|| unsafe { *self.entries.add(i) })
        };
        let (mut node, mut level) = (0usize, self.levels);
        if level > 2 {
            let above = vaddr >> self.shift[3];
            if upper.0 == above {
                (node, level) = (upper.1 as usize, 2);
            } else {
                while level > 2 {
                    let Some(e) = entry(node, level) else {
                        return 0;
                    };
                    if e == 0 || e & 1 == 1 {
                        return 0;
                    }
                    node = raw_table(e) as usize;
                    level -= 1;
                }
                *upper = (above, node as u32);
            }
        }
        if level != 2 {
            return 0;
        }
        match entry(node, 2) {
            Some(e) if e != 0 && e & 1 == 0 => {
                let child = raw_table(e) as usize;
                let i = child * SLOTS + ((vaddr >> self.shift[1]) & self.mask[1]) as usize;
                // Only hints: never dereferenced, so no bounds check.
                crate::pagetable::prefetch_host(self.entries.wrapping_add(i));
                crate::pagetable::prefetch_host(self.paddr.wrapping_add(child));
                child as u64 + 1
            }
            _ => 0,
        }
    }

    /// [`Walkable::leaf_lines_hinted`] of a hint that names a leaf table (not 0): the
    /// leaf entry's address and the data's, if the entry maps a 4 KiB page.
    #[inline(always)]
    pub(crate) fn leaf_lines_hinted(&self, vaddr: u64, hint: u64) -> Option<(PhysAddr, PhysAddr)> {
        let node = (hint - 1) as usize;
        let idx = ((vaddr >> self.shift[1]) & self.mask[1]) as usize;
        let i = node * SLOTS + idx;
        if i >= self.len {
            return None;
        }
        // SAFETY: the view is valid and `i` inside its entries, so `node` is a table.
        let (e, table) = unsafe { (*self.entries.add(i), *self.paddr.add(node)) };
        if e & 1 == 0 {
            return None;
        }
        Some((
            PhysAddr(table + idx as u64 * 8),
            PhysAddr((e & !1) + (vaddr & 0xfff)),
        ))
    }

    /// [`Radix::raw_leaf`].
    #[inline(always)]
    pub(crate) fn raw_leaf(&self, e: u64, level: usize) -> Option<Translation> {
        (e & 1 == 1).then(|| Translation {
            frame: PhysAddr(e & !1),
            size: self.size[level & (MAX_LEVELS - 1)],
        })
    }
}
