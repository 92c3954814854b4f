//! One core's lean route as raw parts, for an engine that reads through it across a run
//! of accesses (`sim/fused.rs`): the levels' sets ([`LineView`]), latencies, and the
//! port's remembered line and counts, copied out or pointed to once, so that a read
//! loads no field of the memory system, its port or its levels.
//!
//! In: a physical address and whether it is a PTE's. Out: the latency of the level that
//! served it; the same sets, remembered line and `served` / DRAM counts as
//! [`MemorySystem::read_from`] leaves: it is that read's lean route, step for step
//! (checked against the general engine by
//! `sim::engine::tests::the_fused_path_equals_the_plain_copy_and_the_full_path`).

use super::lines::{line_fingerprint, LineView};
use super::{Array, MemorySystem};
use crate::addr::PhysAddr;
use crate::assoc::ranked::lanes::Lanes;

/// The most levels a lean port holds (the presets have three).
pub const LEAN_DEPTH: usize = 4;

/// A core's lean route ([`MemorySystem::lean_port`]). Valid while the memory system is
/// neither moved, dropped nor changed in shape (no level made to hold TLB blocks), and
/// only used while nothing else borrows it.
#[derive(Clone, Copy)]
pub struct LeanPort {
    /// The route's levels, nearest first; those from `n` on repeat the first (never read).
    levels: [LineView; LEAN_DEPTH],
    /// The latency of each depth: the levels', then DRAM's at `n`.
    latency: [u32; LEAN_DEPTH + 1],
    n: usize,
    line_shift: u32,
    /// The first level is private (the port's remembered line is kept).
    first_private: bool,
    data: bool,
    /// Bit `d` set for each depth whose sets are prefetched on the host (`Port::far`).
    far: u32,
    last_line: *mut u64,
    served: *mut u64,
    dram_pte_reads: *mut u64,
}

impl MemorySystem {
    /// `core`'s route as a [`LeanPort`], if reads take the lean route and the route has
    /// from one to [`LEAN_DEPTH`] levels.
    pub fn lean_port(&mut self, core: usize) -> Option<LeanPort> {
        let port = self.ports.get_mut(core)?;
        if !self.lean || port.route.is_empty() || port.route.len() > LEAN_DEPTH {
            return None;
        }
        let n = port.route.len();
        let mut latency = [self.dram_latency; LEAN_DEPTH + 1];
        let mut views = [None; LEAN_DEPTH];
        let mut far = 0;
        for (d, &ci) in port.route.iter().enumerate() {
            let c = &mut self.caches[ci];
            latency[d] = c.latency;
            far |= (port.far.contains(&ci) as u32) << d;
            match &mut c.array {
                Array::Lean(l) => views[d] = Some(l.view()),
                Array::Any(_) => return None,
            }
        }
        let first = views[0]?;
        Some(LeanPort {
            levels: views.map(|v| v.unwrap_or(first)),
            latency,
            n,
            line_shift: self.line_shift,
            first_private: self.first_private,
            data: self.data_through_caches,
            far,
            last_line: &mut port.last_line,
            served: port.served.as_mut_ptr(),
            dram_pte_reads: &mut port.dram_pte_reads,
        })
    }
}

impl LeanPort {
    /// [`MemorySystem::read_from`]`(core, paddr, is_pte)`'s latency.
    ///
    /// # Safety
    /// The port is valid (see [`LeanPort`]) and nothing else borrows the memory system.
    #[inline(always)]
    pub unsafe fn read(&self, paddr: u64, is_pte: bool) -> u32 {
        let kind = is_pte as usize;
        let line = paddr >> self.line_shift;
        // SAFETY (the pointers): the caller's; `served` has two counts per depth up to
        // DRAM's (`MemorySystem::new`), and `depth <= n`.
        unsafe {
            if line == *self.last_line {
                *self.served.add(kind) += 1;
                return self.latency[0];
            }
            if self.first_private {
                *self.last_line = line;
            }
            // Each level that misses takes the line as the read passes (as `visit`).
            // The fingerprint is made once; the presets' three levels have a copy of
            // their own, whose visits need no test of the route's end.
            let (fp, fp_lanes) = line_fingerprint(line);
            let depth = match self.n {
                3 => self.depth::<3>(line, fp, fp_lanes),
                _ => self.depth::<LEAN_DEPTH>(line, fp, fp_lanes),
            };
            *self.served.add(2 * depth + kind) += 1;
            if depth == self.n {
                *self.dram_pte_reads += kind as u64;
            }
            *self.latency.get_unchecked(depth)
        }
    }

    /// The depth that serves `line` (`n`, DRAM, when every level misses), each level
    /// visited taking it. `N` is the route's length `n`, or [`LEAN_DEPTH`] for any.
    /// The loop has a constant bound, so it is unrolled and each level's view sits at
    /// a constant place.
    ///
    /// # Safety
    /// As [`LeanPort::read`].
    #[inline(always)]
    unsafe fn depth<const N: usize>(&self, line: u64, fp: u8, fp_lanes: Lanes) -> usize {
        debug_assert!(N == self.n || N == LEAN_DEPTH);
        for d in 0..N {
            // SAFETY: the caller's.
            if (N == LEAN_DEPTH && d == self.n)
                || unsafe { self.levels[d].access_fp(line, fp, fp_lanes) }
            {
                return d;
            }
        }
        N
    }

    /// [`MemorySystem::data_access`].
    ///
    /// # Safety
    /// As [`LeanPort::read`].
    #[inline(always)]
    pub unsafe fn data_access(&self, paddr: PhysAddr) {
        if self.data {
            // SAFETY: the caller's.
            unsafe { self.read(paddr.0, false) };
        }
    }

    /// [`MemorySystem::prefetch`]: changes nothing the simulation can see.
    #[inline(always)]
    pub fn prefetch(&self, pte: PhysAddr, data: PhysAddr) {
        let mut far = self.far;
        while far != 0 {
            let d = far.trailing_zeros() as usize;
            far &= far - 1;
            let l = &self.levels[d & (LEAN_DEPTH - 1)];
            l.prefetch(pte.0 >> self.line_shift);
            if self.data {
                l.prefetch(data.0 >> self.line_shift);
            }
        }
    }
}
