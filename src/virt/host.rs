//! The host table of a VM (EPT/NPT, stage 2: gPA → hPA) as one type over the designs a
//! host table may be: radix (4 or 5 levels) or elastic cuckoo (nested elastic cuckoo,
//! Stojkovic et al., ASPLOS 2022).
//!
//! Why an enum rather than a second generic parameter of the simulator: the guest design
//! is already a type parameter chosen once per run; a second one would multiply the
//! monomorphised simulator by the host designs (build time on 2 cores). The variant
//! never changes during a run, so each host walk's `match` is a perfectly predicted
//! branch, like the replacement policies' enum, and no call is dynamic.
//!
//! In: the `[virt.host_table]` config and the hypervisor's frame allocator. Out: a table
//! with every view of [`crate::pagetable::PageTable`], forwarded to the design: the
//! nested walk walks it, the hypervisor's OS model maps guest-physical pages in it.

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::{OsConfig, PageTableConfig};
use crate::os::frames::FrameAllocator;
use crate::pagetable::{
    Cuckoo, IndexPart, MapOutcome, Mappable, Radix, Teachable, Translation, WalkStart, WalkStep,
    Walkable,
};
use crate::SimError;

/// A VM's host table. One per VM, so the variants' difference in size costs nothing
/// worth an indirection on every host walk.
#[allow(clippy::large_enum_variant)]
pub enum HostTable {
    Radix(Radix),
    Cuckoo(Cuckoo),
}

/// `$t.$call` on whichever design `$h` holds.
macro_rules! each {
    ($h:expr, $t:ident => $call:expr) => {
        match $h {
            HostTable::Radix($t) => $call,
            HostTable::Cuckoo($t) => $call,
        }
    };
}

impl HostTable {
    /// The host table `cfg` describes, its tables in the hypervisor's memory (`host`
    /// sizes a hashed one). Other designs are refused by the config's validation.
    pub fn new(
        cfg: &PageTableConfig,
        host: &OsConfig,
        frames: &mut FrameAllocator,
    ) -> Result<HostTable, SimError> {
        match cfg {
            PageTableConfig::Radix(c) => Ok(HostTable::Radix(Radix::new(&c.bits(), frames)?)),
            PageTableConfig::Cuckoo(c) => Ok(HostTable::Cuckoo(Cuckoo::new(c, host, frames)?)),
            _ => Err(SimError(
                "virt.host_table: only radix and cuckoo host tables are modelled".into(),
            )),
        }
    }
}

impl Walkable for HostTable {
    fn levels(&self) -> usize {
        each!(self, t => t.levels())
    }
    fn level_shift(&self, level: usize) -> u32 {
        each!(self, t => t.level_shift(level))
    }
    fn has_levels(&self) -> bool {
        each!(self, t => t.has_levels())
    }
    #[inline]
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        each!(self, t => t.walk(asid, vaddr, start, steps))
    }
    fn walk_cache_cycles(&self) -> u64 {
        each!(self, t => t.walk_cache_cycles())
    }
}

impl Mappable for HostTable {
    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        each!(self, t => t.translate(asid, vaddr))
    }
    fn map(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        each!(self, t => t.map(asid, vaddr, size, frame, frames))
    }
    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        each!(self, t => t.unmap(asid, vaddr))
    }
    fn restore(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        frames: &mut FrameAllocator,
    ) -> Result<Option<MapOutcome>, SimError> {
        each!(self, t => t.restore(asid, vaddr, frames))
    }
    fn mappings(&self, asid: u16) -> Option<Vec<(VirtAddr, PhysAddr, PageSize)>> {
        each!(self, t => t.mappings(asid))
    }
    fn table_bytes(&self) -> u64 {
        each!(self, t => t.table_bytes())
    }
    fn stats(&self) -> serde_json::Value {
        each!(self, t => t.stats())
    }
}

impl Teachable for HostTable {
    fn index_parts(&self, asid: u16, vaddr: VirtAddr, size: PageSize) -> Vec<IndexPart> {
        each!(self, t => t.index_parts(asid, vaddr, size))
    }
    fn node_paddr(&self, node: u32) -> Option<PhysAddr> {
        each!(self, t => t.node_paddr(node))
    }
}
