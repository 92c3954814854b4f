//! PowerPC-style hashed page table (HTAB): one global table of page-table-entry groups
//! (PTEGs) for every address space, as in the Power ISA (Book III-S, "Hashed Page
//! Table"; IBM, *PowerPC Microprocessor Family: The Programming Environments*, ch. 7).
//!
//! Owns the group array (placed in simulated physical memory with a [`PhysArray`]), the
//! frames of the translations it had to evict (the HTAB is a cache of the OS's own page
//! tables: an evicted page stays resident), a seeded RNG for victim choice, and its
//! counters. In: `map`/`unmap`/`restore` from the OS model; `walk` from the hardware
//! walker. Out: the cache-line reads of a walk ([`WalkStep`]s at their physical
//! addresses, `level` 0, grouped by what is issued together) and the translation, or
//! `None`; and, from `map`/`restore`, the translation evicted to make room.
//!
//! Layout and timing:
//! - A group is 8 entries x 16 bytes = 128 bytes = two 64-byte cache lines. Reading a group
//!   is modelled as its two line reads issued together (one `group` number, cost: the
//!   slower line), since the walker must compare all 8 tags.
//! - Primary group = `hash(kind, asid, page index, log2 groups)` (the asid stands in for
//!   the VSID; the page index is `vaddr >> page shift` of the size probed); secondary group
//!   = its one's complement masked to the table (as the Power ISA's secondary hash).
//! - A walk reads the primary group, and the secondary group only if the entry is not in
//!   the primary (a dependent read: next group number).
//! - Page sizes share the one table (as on Power, where the PTE names its page size); each
//!   size hashes its own page index, so each has its own hash space, and entries are tagged
//!   with their size. Only sizes that hold at least one entry are probed (the MMU is
//!   assumed to know which sizes are in use; if none is, the 4K groups are read):
//!   `huge = "parallel"` reads the primary groups of every such size together, then (on a
//!   miss in all of them) all their secondary groups together: at most 2 groups of reads;
//!   `huge = "sequential"` probes 4K (primary, then secondary), then 2M, then 1G, stopping
//!   at the hit: at most 2 groups per size. Reads of the same group within one issue
//!   group are made once.
//!
//! Insertion: the first empty slot of the primary group, else of the secondary group,
//! else a victim drawn uniformly from the 16 slots of both groups with a seeded
//! xoshiro256++ (`seed`, default a fixed constant). The victim's frame is remembered, and
//! a later fault on it `restore`s it (which may evict another entry).
//!
//! Size: `groups` (a power of two) or, by default, Linux's sizing on hash-MMU POWER
//! (`htab_shift_for_mem_size()` in `arch/powerpc/mm/book3s64/hash_utils.c`, formerly
//! `htab_get_table_size()`): round RAM up to a power of two, "aim for 2 pages / pteg"
//! (PTEGs = RAM / (2 x base page size)), at least 2^11 PTEGs (2^18 bytes, the
//! architectural minimum). With 4K base pages that is 1/64 of RAM (not 1/128); we use
//! `os.page_size` as the base page size. Footprint: `groups x 128` bytes.
//!
//! A huge page may not overlap a mapped smaller page and vice versa (`map` refuses, as the
//! radix table does).

use super::hashed::{
    hash, pack_key, probed_sizes, unpack_key, HashKind, HugeProbe, Nesting, VA_BITS,
};
use super::{
    Evicted, IndexPart, MapOutcome, Mappable, PhysArray, Teachable, Translation, WalkStart,
    WalkStep, Walkable,
};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;

/// Entries per group (PTEG).
pub const GROUP_ENTRIES: u64 = 8;
/// Bytes per entry (a 64-bit Power HPTE is two doublewords).
pub const ENTRY_BYTES: u64 = 16;
/// Bytes per group.
pub const GROUP_BYTES: u64 = GROUP_ENTRIES * ENTRY_BYTES;
/// Cache line the walker reads.
const LINE: u64 = 64;
/// Linux's (and the architecture's) minimum: 2^11 groups.
pub const MIN_DEFAULT_GROUPS: u64 = 1 << 11;
const DEFAULT_SEED: u64 = 0x4854_4142_5345_4544; // "HTABSEED"

/// Configuration of this design (`[page_table]` with `kind = "htab"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtabConfig {
    #[serde(default)]
    pub hash: HashKind,
    #[serde(default)]
    pub huge: HugeProbe,
    /// Number of groups (a power of two, at least 2); default: Linux's sizing from
    /// `os.phys_mem` (see the module docs).
    #[serde(default)]
    pub groups: Option<u64>,
    /// Seed of the victim choice; default a fixed constant.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Linux's default number of PTEGs for `phys_mem` bytes of RAM and a base page of
/// `page_shift` bits (`htab_shift_for_mem_size`).
pub fn linux_default_groups(phys_mem: u64, page_shift: u32) -> u64 {
    let memshift = if phys_mem <= 1 {
        0
    } else {
        64 - (phys_mem - 1).leading_zeros()
    };
    let bytes_shift = (memshift.saturating_sub(page_shift + 1) + 7).max(18);
    1 << (bytes_shift - 7)
}

impl HtabConfig {
    /// Groups this config gives the table under `os`.
    pub fn groups_for(&self, os: &OsConfig) -> u64 {
        self.groups
            .unwrap_or_else(|| linux_default_groups(os.phys_mem.0, os.page_size.shift()))
    }

    /// Problems as (key under `page_table.`, message).
    pub fn validate(&self, os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let Some(g) = self.groups {
            if !g.is_power_of_two() || g < 2 {
                e.push((
                    "groups".into(),
                    format!("must be a power of two, at least 2, not {g}"),
                ));
                return e;
            }
            if g > 1 << 40 {
                e.push(("groups".into(), format!("{g} groups is too many")));
                return e;
            }
        }
        let bytes = self.groups_for(os) * GROUP_BYTES;
        if bytes > os.phys_mem.0 / 2 {
            e.push((
                "groups".into(),
                format!(
                    "a table of {} KiB leaves less than half of os.phys_mem ({} KiB) for pages",
                    bytes >> 10,
                    os.phys_mem.0 >> 10
                ),
            ));
        }
        e
    }
}

super::hashed::hashed_design_config!(HtabConfig, "htab", "hashed (PowerPC HTAB)");

/// Key of the page of `size` holding `vaddr` ([`pack_key`]), or a key no slot holds if
/// `vaddr` is out of range (size bits 3 never occur in a real key; 0, which `pack_key`
/// gives then, is an empty slot here).
#[inline(always)]
fn key_of(asid: u16, vaddr: u64, size: PageSize) -> u64 {
    if vaddr >> VA_BITS != 0 {
        return u64::MAX;
    }
    pack_key(asid, size, vaddr >> size.shift())
}

/// Where a key sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Found {
    slot: usize,
    secondary: bool,
}

pub struct Htab {
    kind: HashKind,
    huge: HugeProbe,
    bits: u32,
    mask: u64,
    /// Slot `g * 8 + i`: packed key (0 = empty) and frame.
    keys: Vec<u64>,
    frames: Vec<u64>,
    phys: PhysArray,
    rng: Xoshiro256PlusPlus,
    seed: u64,
    /// Evicted translations: packed key -> frame.
    evicted: HashMap<u64, u64>,
    nesting: Nesting,
    /// Entries in the table, per page size.
    resident: [u64; 3],
    inserts: u64,
    secondary_inserts: u64,
    evictions: u64,
    restores: u64,
    /// Walks by groups read (index = groups; at most 6).
    walk_groups: [Cell<u64>; 7],
}

impl Htab {
    pub fn new(
        cfg: &HtabConfig,
        os: &OsConfig,
        frames: &mut FrameAllocator,
    ) -> Result<Htab, SimError> {
        if let Some((k, m)) = cfg.validate(os).into_iter().next() {
            return Err(SimError(format!("page_table.{k}: {m}")));
        }
        Htab::with_groups(cfg, cfg.groups_for(os), frames)
    }

    fn with_groups(
        cfg: &HtabConfig,
        groups: u64,
        frames: &mut FrameAllocator,
    ) -> Result<Htab, SimError> {
        let slots = (groups * GROUP_ENTRIES) as usize;
        let seed = cfg.seed.unwrap_or(DEFAULT_SEED);
        Ok(Htab {
            kind: cfg.hash,
            huge: cfg.huge,
            bits: groups.trailing_zeros(),
            mask: groups - 1,
            keys: vec![0; slots],
            frames: vec![0; slots],
            phys: PhysArray::new(groups * GROUP_BYTES, frames)?,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            seed,
            evicted: HashMap::new(),
            nesting: Nesting::default(),
            resident: [0; 3],
            inserts: 0,
            secondary_inserts: 0,
            evictions: 0,
            restores: 0,
            walk_groups: Default::default(),
        })
    }

    /// Number of groups.
    pub fn groups(&self) -> u64 {
        self.mask + 1
    }

    /// Primary and secondary group of a packed key.
    #[inline(always)]
    fn groups_of(&self, key: u64) -> (u64, u64) {
        let (asid, _, vpn) = unpack_key(key);
        let p = hash(self.kind, asid, vpn, self.bits);
        (p, !p & self.mask)
    }

    #[inline(always)]
    fn find_in(&self, group: u64, key: u64) -> Option<usize> {
        let base = (group * GROUP_ENTRIES) as usize;
        (base..base + GROUP_ENTRIES as usize).find(|&s| self.keys[s] == key)
    }

    fn find(&self, key: u64) -> Option<Found> {
        if key == u64::MAX {
            return None;
        }
        let (p, s) = self.groups_of(key);
        if let Some(slot) = self.find_in(p, key) {
            return Some(Found {
                slot,
                secondary: false,
            });
        }
        self.find_in(s, key).map(|slot| Found {
            slot,
            secondary: true,
        })
    }

    /// Put `key -> frame` in its primary or secondary group, evicting a random entry of
    /// the two if both are full.
    fn insert(&mut self, key: u64, frame: u64) -> Option<Evicted> {
        let (p, s) = self.groups_of(key);
        self.inserts += 1;
        let size = unpack_key(key).1;
        self.resident[size.index()] += 1;
        for (g, secondary) in [(p, false), (s, true)] {
            if let Some(slot) = self.find_in(g, 0) {
                self.keys[slot] = key;
                self.frames[slot] = frame;
                self.secondary_inserts += secondary as u64;
                return None;
            }
        }
        let r = self.rng.next_u64() % (2 * GROUP_ENTRIES);
        let g = if r < GROUP_ENTRIES { p } else { s };
        self.secondary_inserts += (r >= GROUP_ENTRIES) as u64;
        let slot = (g * GROUP_ENTRIES + r % GROUP_ENTRIES) as usize;
        let (victim, vframe) = (self.keys[slot], self.frames[slot]);
        self.keys[slot] = key;
        self.frames[slot] = frame;
        self.evicted.insert(victim, vframe);
        self.evictions += 1;
        let (vasid, vsize, vpn) = unpack_key(victim);
        self.resident[vsize.index()] -= 1;
        Some(Evicted {
            asid: vasid,
            vaddr: VirtAddr(vpn << vsize.shift()),
            size: vsize,
        })
    }

    /// Whether the page of `size` holding `vaddr` is mapped (in the table or evicted).
    fn known(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        let key = key_of(asid, vaddr, size);
        self.find(key).is_some() || self.evicted.contains_key(&key)
    }

    /// Append the two line reads of `group` (unless this issue group already has them).
    #[inline(always)]
    fn read_group(&self, group: u64, issue: u8, steps: &mut Vec<WalkStep>) {
        let base = self.phys.addr(group * GROUP_BYTES);
        if steps
            .iter()
            .any(|s| s.group == issue && s.pte_addr.0 == base)
        {
            return;
        }
        for line in 0..GROUP_BYTES / LINE {
            steps.push(WalkStep {
                level: 0,
                pte_addr: PhysAddr(base + line * LINE),
                next: super::NO_NODE,
                group: issue,
            });
        }
    }

    /// Translations evicted and not yet restored or unmapped.
    pub fn evicted_count(&self) -> usize {
        self.evicted.len()
    }

    /// The table's physical memory (for tests).
    #[cfg(test)]
    fn phys(&self) -> &PhysArray {
        &self.phys
    }
}

impl Mappable for Htab {
    const SHARED: bool = true;

    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        PageSize::ALL.into_iter().find_map(|size| {
            self.find(key_of(asid, vaddr, size)).map(|f| Translation {
                frame: PhysAddr(self.frames[f.slot]),
                size,
            })
        })
    }

    fn map(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        _frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        let (vaddr, frame) = (vaddr.0, frame.0);
        if vaddr >> VA_BITS != 0 {
            return Err(SimError(format!(
                "{vaddr:#x} is beyond the {VA_BITS}-bit virtual addresses the htab maps"
            )));
        }
        if self.known(asid, vaddr, size) {
            return Err(SimError(format!(
                "{vaddr:#x}: the {size} page is already mapped"
            )));
        }
        if let Some(big) = PageSize::ALL
            .into_iter()
            .find(|b| b.shift() > size.shift() && self.known(asid, vaddr, *b))
        {
            return Err(SimError(format!(
                "{vaddr:#x} is already inside a {big} page"
            )));
        }
        if self.nesting.covers_smaller(asid, vaddr, size) {
            return Err(SimError(format!(
                "{vaddr:#x}: the {size} page would cover smaller mapped pages"
            )));
        }
        self.nesting.add(asid, vaddr, size);
        let evicted = self.insert(key_of(asid, vaddr, size), frame);
        Ok(MapOutcome {
            evicted,
            ..MapOutcome::default()
        })
    }

    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        for size in PageSize::ALL {
            let key = key_of(asid, vaddr, size);
            let frame = if let Some(f) = self.find(key) {
                self.keys[f.slot] = 0;
                self.resident[size.index()] -= 1;
                self.frames[f.slot]
            } else if let Some(frame) = self.evicted.remove(&key) {
                frame
            } else {
                continue;
            };
            self.nesting.remove(asid, vaddr, size);
            return Some(Translation {
                frame: PhysAddr(frame),
                size,
            });
        }
        None
    }

    fn table_bytes(&self) -> u64 {
        self.groups() * GROUP_BYTES
    }

    fn restore(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        _frames: &mut FrameAllocator,
    ) -> Result<Option<MapOutcome>, SimError> {
        let vaddr = vaddr.0;
        for size in PageSize::ALL {
            let key = key_of(asid, vaddr, size);
            if let Some(frame) = self.evicted.remove(&key) {
                self.restores += 1;
                let evicted = self.insert(key, frame);
                return Ok(Some(MapOutcome {
                    evicted,
                    ..MapOutcome::default()
                }));
            }
        }
        Ok(None)
    }

    fn stats(&self) -> serde_json::Value {
        let entries: u64 = self.resident.iter().sum();
        let slots = self.groups() * GROUP_ENTRIES;
        let mut in_secondary = 0u64;
        for (slot, &key) in self.keys.iter().enumerate() {
            if key != 0 {
                let (p, _) = self.groups_of(key);
                in_secondary += (slot as u64 / GROUP_ENTRIES != p) as u64;
            }
        }
        let walks_by_groups: Vec<u64> = self.walk_groups.iter().map(Cell::get).collect();
        serde_json::json!({
            "design": "htab",
            "groups": self.groups(),
            "entries": entries,
            "entries_4k": self.resident[0],
            "entries_2m": self.resident[1],
            "entries_1g": self.resident[2],
            "load_factor": entries as f64 / slots as f64,
            "inserts": self.inserts,
            "secondary_inserts": self.secondary_inserts,
            "in_secondary": in_secondary,
            "evictions": self.evictions,
            "evicted_outstanding": self.evicted.len(),
            "restores": self.restores,
            "walks_by_groups_read": walks_by_groups,
            "seed": self.seed,
            "bytes": self.table_bytes(),
        })
    }
}

impl Walkable for Htab {
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        _start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let vaddr = vaddr.0;
        let mut issue = 0u8;
        let mut result = None;
        match self.huge {
            HugeProbe::Parallel => {
                // Primary groups of every size in use, together.
                for size in probed_sizes(&self.resident) {
                    let key = key_of(asid, vaddr, size);
                    let (p, _) = self.groups_of(key);
                    self.read_group(p, issue, steps);
                    if result.is_none() {
                        result = self.find_in(p, key).map(|slot| Translation {
                            frame: PhysAddr(self.frames[slot]),
                            size,
                        });
                    }
                }
                if result.is_none() {
                    issue += 1;
                    for size in probed_sizes(&self.resident) {
                        let key = key_of(asid, vaddr, size);
                        let (_, s) = self.groups_of(key);
                        self.read_group(s, issue, steps);
                        if result.is_none() {
                            result = self.find_in(s, key).map(|slot| Translation {
                                frame: PhysAddr(self.frames[slot]),
                                size,
                            });
                        }
                    }
                }
                issue += 1;
            }
            HugeProbe::Sequential => {
                'sizes: for size in probed_sizes(&self.resident) {
                    let key = key_of(asid, vaddr, size);
                    let (p, s) = self.groups_of(key);
                    for g in [p, s] {
                        self.read_group(g, issue, steps);
                        issue += 1;
                        if let Some(slot) = self.find_in(g, key) {
                            result = Some(Translation {
                                frame: PhysAddr(self.frames[slot]),
                                size,
                            });
                            break 'sizes;
                        }
                    }
                }
            }
        }
        let c = &self.walk_groups[(issue as usize).min(6)];
        c.set(c.get() + 1);
        result
    }

    fn leaf_lines(&self, asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let vaddr = vaddr.0;
        PageSize::ALL.into_iter().find_map(|size| {
            let f = self.find(key_of(asid, vaddr, size))?;
            let pte = self.phys.addr(f.slot as u64 * ENTRY_BYTES);
            Some((
                PhysAddr(pte),
                PhysAddr(self.frames[f.slot] + (vaddr & (size.bytes() - 1))),
            ))
        })
    }
}

impl Teachable for Htab {
    fn index_parts(&self, asid: u16, vaddr: VirtAddr, size: PageSize) -> Vec<IndexPart> {
        let vaddr = vaddr.0;
        let key = key_of(asid, vaddr, size);
        if key == u64::MAX {
            return Vec::new();
        }
        let (p, s) = self.groups_of(key);
        let vpn = vaddr >> size.shift();
        let part = |name: &str, how: String, g: u64| IndexPart {
            name: format!("{name} group ({size} pages)"),
            how,
            value: g,
            of: self.groups(),
            paddr: PhysAddr(self.phys.addr(g * GROUP_BYTES)),
        };
        vec![
            part(
                "primary",
                format!(
                    "{:?} hash of (asid {asid}, VPN {vpn:#x}) to {} bits",
                    self.kind, self.bits
                ),
                p,
            ),
            part("secondary", "one's complement of the primary".into(), s),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::FrameAlloc;
    use crate::memory::MemorySystem;
    use crate::walker::Walker;
    use rand_core::Rng;
    use std::collections::{BTreeMap, BTreeSet};

    use crate::pagetable::hashed::testing::{inside, os};

    /// (asid, page number, size) of a key.
    fn unpack(key: u64) -> (u16, u64, PageSize) {
        let (asid, size, vpn) = unpack_key(key);
        (asid, vpn, size)
    }

    fn weak(groups: u64, seed: u64) -> (Htab, FrameAllocator) {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 7);
        let cfg = HtabConfig {
            hash: HashKind::Weak,
            groups: Some(groups),
            seed: Some(seed),
            ..Default::default()
        };
        let t = Htab::new(&cfg, &os(4 << 30), &mut f).unwrap();
        (t, f)
    }

    /// Distinct issue groups of a walk.
    fn groups_read(steps: &[WalkStep]) -> usize {
        let mut g: Vec<u8> = steps.iter().map(|s| s.group).collect();
        g.dedup();
        g.len()
    }

    fn walk(t: &Htab, asid: u16, va: u64) -> (Option<Translation>, Vec<WalkStep>) {
        let mut steps = Vec::new();
        let r = t.walk(asid, VirtAddr(va), None, &mut steps);
        (r, steps)
    }

    #[test]
    fn linux_default_size() {
        // 16 GiB of 4K pages: 2^34 / 2^13 = 2^21 groups (256 MiB, 1/64 of RAM).
        assert_eq!(linux_default_groups(16 << 30, 12), 1 << 21);
        // Not a power of two: rounded up (12 GiB -> 16 GiB).
        assert_eq!(linux_default_groups(12 << 30, 12), 1 << 21);
        // 64 MiB: 2^13 groups; 16 MiB and below: the 2^11-group minimum.
        assert_eq!(linux_default_groups(64 << 20, 12), 1 << 13);
        assert_eq!(linux_default_groups(16 << 20, 12), MIN_DEFAULT_GROUPS);
        assert_eq!(linux_default_groups(4 << 20, 12), MIN_DEFAULT_GROUPS);
        // 64K base pages: 16 GiB / 2^17 = 2^17 groups.
        assert_eq!(linux_default_groups(16 << 30, 16), 1 << 17);
        let cfg = HtabConfig::default();
        assert_eq!(cfg.groups_for(&os(1 << 30)), 1 << 17);
        assert!(cfg.validate(&os(1 << 30)).is_empty());
        let bad = HtabConfig {
            groups: Some(12),
            ..Default::default()
        };
        assert_eq!(bad.validate(&os(1 << 30))[0].0, "groups");
    }

    #[test]
    fn primary_then_secondary_then_eviction_with_restore() {
        // Weak hash, asid 1: page index v goes to primary group (v ^ 1) & 15, so pages
        // 1 + 16k all share primary group 0 and secondary group 15.
        let g = 16u64;
        let (mut t, mut f) = weak(g, 1);
        let va = |k: u64| (1 + g * k) << 12;
        for k in 0..8 {
            let out = t.map(
                1,
                VirtAddr(va(k)),
                PageSize::Size4K,
                PhysAddr((100 + k) << 12),
                &mut f,
            );
            assert_eq!(out.unwrap().evicted, None);
            let (tr, steps) = walk(&t, 1, va(k));
            assert_eq!(tr.unwrap().frame.0, (100 + k) << 12);
            // Found in the primary group: one group of two line reads, at group 0.
            assert_eq!(groups_read(&steps), 1);
            assert_eq!(steps.len(), 2);
            assert_eq!(steps[0].pte_addr.0, t.phys.addr(0));
            assert_eq!(steps[1].pte_addr.0, t.phys.addr(64));
        }
        assert_eq!(t.secondary_inserts, 0);
        // The 9th: primary full, so the secondary (group 15 = !0 & 15).
        t.map(
            1,
            VirtAddr(va(8)),
            PageSize::Size4K,
            PhysAddr(108 << 12),
            &mut f,
        )
        .unwrap();
        assert_eq!(t.secondary_inserts, 1);
        let (tr, steps) = walk(&t, 1, va(8));
        assert_eq!(tr.unwrap().frame.0, 108 << 12);
        assert_eq!(groups_read(&steps), 2);
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[2].pte_addr.0, t.phys.addr(15 * 128));
        assert_eq!((steps[0].group, steps[2].group), (0, 1));
        for k in 9..16 {
            let out = t.map(
                1,
                VirtAddr(va(k)),
                PageSize::Size4K,
                PhysAddr((100 + k) << 12),
                &mut f,
            );
            assert_eq!(out.unwrap().evicted, None);
        }
        // Both full: the 17th evicts one of the 16.
        let out = t
            .map(
                1,
                VirtAddr(va(16)),
                PageSize::Size4K,
                PhysAddr(116 << 12),
                &mut f,
            )
            .unwrap();
        let victim = out.evicted.expect("both groups are full");
        assert_eq!(victim.size, PageSize::Size4K);
        let k = ((victim.vaddr.0 >> 12) - 1) / g;
        assert!(k < 16 && va(k) == victim.vaddr.0);
        assert_eq!(walk(&t, 1, victim.vaddr.0).0, None);
        assert_eq!(t.translate(1, victim.vaddr), None);
        assert_eq!(t.translate(1, VirtAddr(va(16))).unwrap().frame.0, 116 << 12);
        // A miss reads both groups.
        assert_eq!(groups_read(&walk(&t, 1, victim.vaddr.0).1), 2);
        // Restore brings it back with its frame (evicting another).
        let again = t.restore(1, victim.vaddr, &mut f).unwrap().unwrap();
        assert!(again.evicted.is_some_and(|e| e != victim));
        assert_eq!(
            walk(&t, 1, victim.vaddr.0).0,
            Some(Translation {
                frame: PhysAddr((100 + k) << 12),
                size: PageSize::Size4K
            })
        );
        assert_eq!(t.restores, 1);
        assert_eq!(t.evictions, 2);
        assert_eq!(t.evicted_count(), 1);
        // A page that was never evicted is not restored.
        assert_eq!(t.restore(1, VirtAddr(0x7777_0000), &mut f).unwrap(), None);
    }

    #[test]
    fn victim_is_deterministic_per_seed() {
        let victim = |seed: u64| {
            let (mut t, mut f) = weak(16, seed);
            let mut out = None;
            for k in 0..17u64 {
                let o = t
                    .map(
                        1,
                        VirtAddr((1 + 16 * k) << 12),
                        PageSize::Size4K,
                        PhysAddr((k + 1) << 12),
                        &mut f,
                    )
                    .unwrap();
                assert_eq!(o.evicted.is_some(), k == 16);
                out = o.evicted;
            }
            out.unwrap()
        };
        for seed in 0..8 {
            assert_eq!(victim(seed), victim(seed));
        }
        let first = victim(0);
        assert!((1..8).any(|s| victim(s) != first), "seeds should differ");
    }

    #[test]
    fn huge_probes_parallel_and_sequential() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 7);
        for huge in [HugeProbe::Parallel, HugeProbe::Sequential] {
            let cfg = HtabConfig {
                groups: Some(1 << 10),
                huge,
                ..Default::default()
            };
            let mut t = Htab::new(&cfg, &os(4 << 30), &mut f).unwrap();
            // Empty: a miss reads the 4K primary and secondary.
            assert_eq!(groups_read(&walk(&t, 1, 0x1000).1), 2);
            t.map(
                1,
                VirtAddr(0x1000),
                PageSize::Size4K,
                PhysAddr(0x5000),
                &mut f,
            )
            .unwrap();
            t.map(
                1,
                VirtAddr(0x4000_0000),
                PageSize::Size1G,
                PhysAddr(1 << 30),
                &mut f,
            )
            .unwrap();
            // Overlaps are refused both ways.
            assert!(t
                .map(
                    1,
                    VirtAddr(0x4000_1000),
                    PageSize::Size4K,
                    PhysAddr(0),
                    &mut f
                )
                .is_err());
            assert!(t
                .map(1, VirtAddr(0), PageSize::Size2M, PhysAddr(0), &mut f)
                .is_err());
            assert!(t
                .map(1, VirtAddr(0), PageSize::Size1G, PhysAddr(0), &mut f)
                .is_err());
            let (tr, steps) = walk(&t, 1, 0x4000_0123);
            assert_eq!(tr.unwrap().frame.0, 1 << 30);
            match huge {
                // 4K and 1G primaries together: one group, 4 lines (2 if they coincide).
                HugeProbe::Parallel => assert_eq!(groups_read(&steps), 1),
                // 4K primary, 4K secondary, then 1G primary.
                HugeProbe::Sequential => assert_eq!(groups_read(&steps), 3),
            }
            let (tr, steps) = walk(&t, 1, 0x1000);
            assert_eq!(tr.unwrap().size, PageSize::Size4K);
            assert_eq!(groups_read(&steps), 1);
            // A miss: 2 groups in parallel, 2 per size in use sequentially.
            let miss = groups_read(&walk(&t, 1, 0x9000_0000_0000).1);
            assert_eq!(miss, if huge == HugeProbe::Parallel { 2 } else { 4 });
            assert_eq!(
                t.unmap(1, VirtAddr(0x4000_0000)).unwrap().size,
                PageSize::Size1G
            );
            // 1G no longer in use: not probed.
            let miss = groups_read(&walk(&t, 1, 0x9000_0000_0000).1);
            assert_eq!(miss, 2);
        }
    }

    #[test]
    fn footprint_is_groups_times_128() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 7);
        let cfg = HtabConfig {
            groups: Some(1 << 12),
            ..Default::default()
        };
        let mut t = Htab::new(&cfg, &os(4 << 30), &mut f).unwrap();
        for i in 0..1000u64 {
            t.map(
                2,
                VirtAddr(i << 12),
                PageSize::Size4K,
                PhysAddr(i << 12),
                &mut f,
            )
            .unwrap();
        }
        assert_eq!(t.table_bytes(), 4096 * 128);
        assert_eq!(t.stats()["bytes"], 4096 * 128);
        assert_eq!(t.stats()["entries"], 1000);
        assert_eq!(t.stats()["load_factor"], 1000.0 / (4096.0 * 8.0));
        // Default size under 1 GiB of 4K pages: 2^30 / 2^13 groups of 128 bytes = 16 MiB.
        let t = Htab::new(&HtabConfig::default(), &os(1 << 30), &mut f).unwrap();
        assert_eq!(t.table_bytes(), 16 << 20);
    }

    #[test]
    fn random_operations_agree_with_a_hashmap() {
        for (huge, hash) in [
            (HugeProbe::Parallel, HashKind::Multiplicative),
            (HugeProbe::Sequential, HashKind::Weak),
        ] {
            let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 3);
            let cfg = HtabConfig {
                groups: Some(64), // 512 slots: evictions happen
                huge,
                hash,
                seed: Some(9),
            };
            let mut t = Htab::new(&cfg, &os(64 << 30), &mut f).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
            // (asid, size, vpn) -> frame; and the ones evicted.
            let mut model: BTreeMap<(u16, PageSize, u64), u64> = BTreeMap::new();
            let mut gone: BTreeSet<(u16, PageSize, u64)> = BTreeSet::new();
            let overlaps =
                |m: &BTreeMap<(u16, PageSize, u64), u64>, a: u16, va: u64, s: PageSize| {
                    m.keys().any(|&(b, s2, v)| {
                        let lo = v << s2.shift();
                        b == a && lo < va + s.bytes() && va < lo + s2.bytes()
                    })
                };
            let expect = |m: &BTreeMap<_, u64>, g: &BTreeSet<_>, a: u16, va: u64| {
                PageSize::ALL.into_iter().find_map(|s| {
                    let k = (a, s, va >> s.shift());
                    m.get(&k)
                        .filter(|_| !g.contains(&k))
                        .map(|&frame| Translation {
                            frame: PhysAddr(frame),
                            size: s,
                        })
                })
            };
            let mut steps = Vec::new();
            for op in 0..6000 {
                let asid = 1 + (rng.next_u64() % 3) as u16;
                let size = match rng.next_u64() % 10 {
                    0 => PageSize::Size1G,
                    1 | 2 => PageSize::Size2M,
                    _ => PageSize::Size4K,
                };
                // Addresses in a 16 GiB window, so sizes meet and overlap.
                let va = (rng.next_u64() % (16 << 30)) & !(size.bytes() - 1);
                match rng.next_u64() % 4 {
                    0 | 1 => {
                        let frame = (rng.next_u64() % (1 << 30)) << 12;
                        let r = t.map(asid, VirtAddr(va), size, PhysAddr(frame), &mut f);
                        if overlaps(&model, asid, va, size) {
                            assert!(r.is_err(), "op {op}: overlapping map accepted");
                        } else {
                            let out = r.unwrap();
                            model.insert((asid, size, va >> size.shift()), frame);
                            if let Some(e) = out.evicted {
                                assert!(gone.insert(victim_of(&t, e, &gone)));
                            }
                        }
                    }
                    2 => {
                        let got = t.unmap(asid, VirtAddr(va));
                        let k = PageSize::ALL
                            .into_iter()
                            .map(|s| (asid, s, va >> s.shift()))
                            .find(|k| model.contains_key(k));
                        assert_eq!(got.map(|t| t.frame.0), k.map(|k| model[&k]), "op {op}");
                        if let Some(k) = k {
                            model.remove(&k);
                            gone.remove(&k);
                        }
                    }
                    _ => {
                        // Restore a random evicted page, as a fault on it would.
                        if let Some(&(a, s, v)) = gone.iter().next() {
                            let out = t
                                .restore(a, VirtAddr(v << s.shift()), &mut f)
                                .unwrap()
                                .unwrap();
                            gone.remove(&(a, s, v));
                            if let Some(e) = out.evicted {
                                assert!(gone.insert(victim_of(&t, e, &gone)));
                            }
                        }
                    }
                }
                // Probe a few addresses: mapped ones and random ones.
                for _ in 0..4 {
                    let probe = if rng.next_u64() % 2 == 0 && !model.is_empty() {
                        let n = (rng.next_u64() % model.len() as u64) as usize;
                        let &(a, s, v) = model.keys().nth(n).unwrap();
                        (a, (v << s.shift()) + rng.next_u64() % s.bytes())
                    } else {
                        (1 + (rng.next_u64() % 3) as u16, rng.next_u64() % (16 << 30))
                    };
                    let want = expect(&model, &gone, probe.0, probe.1);
                    assert_eq!(t.translate(probe.0, VirtAddr(probe.1)), want, "op {op}");
                    steps.clear();
                    assert_eq!(
                        t.walk(probe.0, VirtAddr(probe.1), None, &mut steps),
                        want,
                        "op {op}"
                    );
                    assert!(!steps.is_empty());
                    for s in &steps {
                        assert!(
                            inside(t.phys(), s.pte_addr.0),
                            "op {op}: {:#x}",
                            s.pte_addr.0
                        );
                        assert_eq!(s.level, 0);
                    }
                }
            }
            assert_eq!(t.evicted_count(), gone.len());
            assert!(t.evictions > 0, "the small table must have evicted");
            assert_eq!(
                t.resident.iter().sum::<u64>() as usize,
                model.len() - gone.len()
            );
        }
    }

    /// The evicted page `e` names, with its asid (which `Evicted` does not carry): the
    /// one entry of the table's evicted record not already known to be gone.
    fn victim_of(
        t: &Htab,
        e: Evicted,
        gone: &BTreeSet<(u16, PageSize, u64)>,
    ) -> (u16, PageSize, u64) {
        let found: Vec<_> = t
            .evicted
            .keys()
            .map(|&k| unpack(k))
            .filter(|&(a, v, s)| {
                v << s.shift() == e.vaddr.0 && s == e.size && !gone.contains(&(a, s, v))
            })
            .collect();
        assert_eq!(found.len(), 1);
        let (a, v, s) = found[0];
        (a, s, v)
    }

    #[test]
    fn walk_latency_is_groups_times_dram() {
        const DRAM: u64 = 100;
        let mut m = MemorySystem::dram_only(DRAM as u32);
        let mut w = Walker::new(&[], 0);
        let (mut t, mut f) = weak(16, 1);
        for k in 0..9u64 {
            t.map(
                1,
                VirtAddr((1 + 16 * k) << 12),
                PageSize::Size4K,
                PhysAddr((k + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        // Primary hit: two lines in parallel, one DRAM latency.
        let r = w.walk(0, 1, VirtAddr(1 << 12), &t, &mut m);
        assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (2, DRAM, 0));
        // Secondary hit: two dependent groups.
        let r = w.walk(0, 1, VirtAddr((1 + 16 * 8) << 12), &t, &mut m);
        assert_eq!((r.reads, r.pte_cycles), (4, 2 * DRAM));
        assert_eq!(r.translation.unwrap().frame.0, 9 << 12);
        // Miss: both groups.
        let r = w.walk(0, 1, VirtAddr(0x3000), &t, &mut m);
        assert_eq!((r.reads, r.pte_cycles, r.translation), (4, 2 * DRAM, None));
    }
}
