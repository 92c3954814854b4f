//! Invalidations of the TLB hierarchy ([`Tlbs`]): a page, a range, an address space or
//! everything, from every structure that may hold it. In: what the OS changed (the
//! shootdown and scheduling paths); out: entries removed (counts, and the keys of those
//! a full flush took). Each forgets the repeated-hit shortcut first.

use super::{Organisation, Tlbs};
use crate::addr::{PageSize, VirtAddr};

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
        (self.structs.iter_mut())
            .map(|st| st.org.invalidate_range(asid, start, end))
            .sum()
    }

    /// [`Tlbs::flush_asid`], adding each removed entry's [`page_key`](super::page_key) to `out`.
    pub fn flush_asid_into(
        &mut self,
        asid: u16,
        out: &mut std::collections::HashSet<u64>,
    ) -> usize {
        self.forget_memo();
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
        self.flush_spaces(&|a| a == asid)
    }

    /// Remove every entry of the address spaces `which` accepts (a VM's, in one pass
    /// over each structure); returns how many went.
    pub fn flush_spaces(&mut self, which: &impl Fn(u16) -> bool) -> usize {
        self.forget_memo();
        (self.structs.iter_mut())
            .map(|st| st.org.invalidate_spaces(which, &mut |_| {}))
            .sum()
    }

    /// Remove every entry of every structure.
    pub fn flush_all(&mut self) {
        self.forget_memo();
        for st in &mut self.structs {
            st.org.flush();
        }
    }
}
