//! The timing parameters fixed for a run ([`Timing`]) and the base cycles of a count of
//! instructions. In: the validated config (the engine builds `Timing` once). Out: what
//! the access path reads on every access, and, through [`Timing::plain`], which copy of
//! that path a run takes.

/// Timing parameters fixed for a run.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Timing {
    /// Base CPI in thousandths of a cycle (integer arithmetic keeps clocks exact).
    pub(super) cpi_milli: u64,
    pub(super) l1_overlapped: bool,
    pub(super) window: u64,
    /// First virtual address the page table cannot map (it would alias a lower one).
    pub(super) va_limit: u64,
    /// The largest count a core's cycle counters may reach (`overflow.rs`).
    pub(super) cycle_limit: u64,
    /// Processes have direct segments (`os.direct_segment`): accesses check the
    /// core's segment registers first. Off, the check is this one predicted branch.
    pub(super) direct_segment: bool,
    /// Eager paging is on (`os.rmm`): translations entering the TLBs below level 1
    /// mark their page touched, for eager paging's memory overhead.
    pub(super) eager: bool,
    /// Some TLB structure's probes read memory (a POM-TLB): after each lookup the core
    /// prices those reads through the caches and DRAM. Off, this one predicted branch.
    pub(super) tlb_reads_memory: bool,
    /// Victima is on (`[victima]`): last-level TLB misses probe the L2 for TLB blocks.
    pub(super) victima: bool,
    /// A Utopia RestSeg (`os.utopia`): a last-level TLB miss first walks the RestSeg.
    /// Off, one predicted branch.
    pub(super) utopia: bool,
    /// SpecTLB is on (`[spectlb]`): last-level misses settle its prediction.
    pub(super) spectlb: bool,
    /// TLB prefetching (`[prefetch]`): a last-level miss probes the prefetch buffer,
    /// and accesses train the prefetcher. Off, one predicted branch each.
    pub(super) prefetch: bool,
    /// Something runs after each fill (`victima`, `prefetch` or `eager`): one branch
    /// for the three when none is on (`reach::after_fill`).
    pub(super) after_fill: bool,
}

impl Timing {
    /// None of the designs with a test on the access path is on: no Victima, direct
    /// segment, memory-resident TLB, Utopia, SpecTLB, prefetching or eager paging.
    pub(super) fn is_plain(&self) -> bool {
        *self == self.plain::<true>()
    }

    /// These timings as a run that [`Timing::is_plain`] sees them: with `PLAIN`, the
    /// designs' switches are constants (off), so the copy of the access path made for
    /// such runs (chosen once per run) carries none of their tests.
    #[inline(always)]
    pub(super) fn plain<const PLAIN: bool>(&self) -> Timing {
        match PLAIN {
            true => Timing {
                direct_segment: false,
                eager: false,
                tlb_reads_memory: false,
                victima: false,
                utopia: false,
                spectlb: false,
                prefetch: false,
                after_fill: false,
                ..*self
            },
            false => *self,
        }
    }
}

/// instructions x CPI, in 128 bits when 64 would overflow (a 128-bit division is a
/// library call; the product fits 64 bits in any run shorter than ~10^15 instructions).
#[inline(always)]
pub(super) fn base_cycles(instructions: u64, cpi_milli: u64) -> u64 {
    match instructions.checked_mul(cpi_milli) {
        Some(p) => p / 1000,
        None => (instructions as u128 * cpi_milli as u128 / 1000) as u64,
    }
}

#[cfg(test)]
mod base_cycles_tests {
    use super::base_cycles;

    /// The 64-bit fast path agrees with the exact 128-bit product on both sides of the
    /// point where the product stops fitting 64 bits.
    #[test]
    fn base_cycles_is_exact_around_the_64_bit_limit() {
        for cpi in [1u64, 999, 1000, 1500, 123_456] {
            let edge = u64::MAX / cpi;
            for n in [
                0,
                1,
                999,
                1_000_001,
                edge - 1,
                edge,
                edge.saturating_add(1),
                u64::MAX,
            ] {
                let exact = (n as u128 * cpi as u128 / 1000) as u64;
                assert_eq!(base_cycles(n, cpi), exact, "n {n} cpi {cpi}");
            }
        }
    }
}
