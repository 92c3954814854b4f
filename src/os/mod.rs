//! The operating system the MMU runs under (minimal for now: demand mapping).
//!
//! Owns physical memory ([`frames::FrameAllocator`]) and the fault path: the first touch
//! of a page takes a minor fault, which maps the page at the configured size and costs
//! `os.minor_fault_cycles`. In: a faulting virtual address and the address space's page
//! table. Out: the fault's cycles (charged to translation by the core).

pub mod buddy;
pub mod frames;

use crate::addr::PageSize;
use crate::config::OsConfig;
use crate::pagetable::{Evicted, PageTable};
use crate::SimError;
use frames::FrameAllocator;
use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsStats {
    pub minor_faults: u64,
    /// Faults on pages whose translation the page table had evicted (hashed designs):
    /// the translation is put back, no frame is allocated.
    pub restore_faults: u64,
    /// Translations the page table evicted to make room.
    pub evictions: u64,
    pub fault_cycles: u64,
}

pub struct Os {
    pub frames: FrameAllocator,
    page_size: PageSize,
    minor_fault_cycles: u64,
}

impl Os {
    pub fn new(cfg: &OsConfig, seed: u64) -> Os {
        Os {
            frames: FrameAllocator::new(cfg.phys_mem.0, cfg.frame_alloc, seed),
            page_size: cfg.page_size,
            minor_fault_cycles: cfg.minor_fault_cycles,
        }
    }

    /// Handle a not-present fault at `vaddr`: put back an evicted translation, or map a
    /// new page. Returns the cycles it took and any translation evicted to make room
    /// (which the caller must drop from its TLBs).
    pub fn handle_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(u64, Option<Evicted>), SimError> {
        let outcome = match pt.restore(asid, vaddr, &mut self.frames)? {
            Some(o) => {
                stats.restore_faults += 1;
                o
            }
            None => {
                let size = self.page_size;
                let frame = self.frames.alloc(size)?;
                stats.minor_faults += 1;
                pt.map(
                    asid,
                    vaddr & !(size.bytes() - 1),
                    size,
                    frame,
                    &mut self.frames,
                )?
            }
        };
        stats.evictions += outcome.evicted.is_some() as u64;
        stats.fault_cycles += self.minor_fault_cycles;
        Ok((self.minor_fault_cycles, outcome.evicted))
    }
}
