//! Recording the reference stream one TLB structure sees, for the one-pass geometry sweep
//! (`sweep/onepass.rs`): a second-level TLB's references are the first level's misses,
//! which a run of one point gives; the pass then answers every geometry from them.
//!
//! Owns [`TlbRecord`]: the structure's references in order, each the page key the
//! structure stores ([`super::page_key`]: page number, address space, page size),
//! whether it hit and whether an instruction fetch made it, and where the counted part begins (the last counter reset, i.e. the
//! warm-up's end). In: the hierarchy's fill path ([`super::Tlbs::complete`]) after every
//! access that missed level 1, which is where a hit or miss below level 1 is charged.
//! Out: [`super::Tlbs::take_record`].
//!
//! Only structures below level 1 are recorded: their every reference reaches
//! `complete_miss`, off the level-1 hit path, so a run that records nothing pays one
//! predicted branch per level-1 miss and allocates nothing.

/// The reference stream of one TLB structure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlbRecord {
    /// Index of the structure in the config's `tlb` list.
    pub structure: usize,
    /// Per reference: the page key, with [`HIT`] set when it hit and [`FETCH`] when it
    /// was an instruction fetch's.
    pub refs: Vec<u64>,
    /// Index in `refs` of the first counted reference (after the last counter reset).
    pub counted_from: usize,
}

/// The bit of a recorded key that says the reference hit: page keys keep page numbers
/// below 2^45 (shifted left 16), so bit 63 is never part of one.
pub const HIT: u64 = 1 << 63;
/// The bit of a recorded key that says the reference was an instruction fetch's.
pub const FETCH: u64 = 1 << 62;

impl TlbRecord {
    pub fn new(structure: usize) -> TlbRecord {
        TlbRecord {
            structure,
            ..Default::default()
        }
    }

    #[inline]
    pub(super) fn push(&mut self, key: u64, hit: bool, fetch: bool) {
        self.refs
            .push(key | if hit { HIT } else { 0 } | if fetch { FETCH } else { 0 });
    }

    /// The page key of a recorded reference.
    #[inline]
    pub fn key(r: u64) -> u64 {
        r & !(HIT | FETCH)
    }

    /// Whether a recorded reference was an instruction fetch's.
    #[inline]
    pub fn fetch(r: u64) -> bool {
        r & FETCH != 0
    }

    /// Whether a recorded reference hit.
    #[inline]
    pub fn hit(r: u64) -> bool {
        r & HIT != 0
    }
}

impl<O: super::Organisation> super::Tlbs<O> {
    /// Records the references of structure `structure` (its index in the config's
    /// `tlb` list) from now on; `Err` when it sits at level 1, whose hits never reach
    /// the fill path (see the module doc).
    pub fn record_structure(&mut self, structure: usize) -> Result<(), String> {
        let level = self.structs.get(structure).map(|s| s.stats.level);
        match level {
            None => Err(format!("there is no tlb[{structure}]")),
            Some(1) => Err(format!("tlb[{structure}] is at level 1: not recorded")),
            Some(_) => {
                self.record = Some(Box::new(TlbRecord::new(structure)));
                self.plain = false;
                self.fast = false;
                Ok(())
            }
        }
    }

    /// The recorded stream, leaving none (nothing is recorded after).
    pub fn take_record(&mut self) -> Option<TlbRecord> {
        self.record.take().map(|b| *b)
    }

    /// After an access that missed level 1 and was found at `hit_level` (the number of
    /// levels after a walk): the recorded structure's reference, if this access met it.
    /// The same events as its `hits` (the lookup) and `misses` (`complete_miss`).
    #[inline(never)]
    pub(super) fn record_below(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        size: crate::addr::PageSize,
        hit_level: usize,
    ) {
        let Some(r) = self.record.as_deref_mut() else {
            return;
        };
        let si = size.index();
        let key = super::tag(vaddr >> size.shift(), asid, si);
        for (l, lvl) in self.levels.iter().enumerate().take(hit_level + 1) {
            if lvl.slot[side][si] as usize == r.structure {
                r.push(key, l == hit_level, side == super::INSTR);
            }
        }
    }
}
