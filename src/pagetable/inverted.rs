//! Classic inverted page table (IBM System/38, IBM 801 / RT PC): one entry per physical
//! frame, found through a hash anchor table (HAT).
//!
//! Owns one global table for every address space (`SHARED`), placed in simulated
//! physical memory as two [`PhysArray`]s:
//!
//! - the **frame table**: one 16-byte entry per 4 KiB frame of `os.phys_mem` (asid,
//!   virtual page number, page size, valid bit: 8 bytes; next-in-chain frame index: 4
//!   bytes; protection and reference/change bits: 4 bytes). Entry `i` lives at
//!   `frame_table + 16 i` and describes frame `i`: the translation *is* the entry's
//!   position, the defining property of an inverted table. A huge page is described by
//!   the entry of its first 4 KiB frame.
//! - the **HAT**: `anchors = next_pow2(ceil(anchor_ratio x frames))` entries of 4 bytes,
//!   entry `j` at `hat + 4 j`, holding the frame-table index of the first page of the
//!   collision chain of hash value `j` (or empty). Chains are threaded through the frame
//!   table's next fields, as in the RT PC's combined HAT/IPT (US patent 4,680,700, Hester,
//!   Simpson and Chang) and the System/38.
//!
//! Footprint: `frames x 16 + anchors x 4` bytes (tested exactly).
//!
//! In: `map`/`unmap`/`restore` from the OS model (keys (asid, vpn, size) and the frame),
//! `walk` from the walker. Out: one [`WalkStep`] per cache-line read (level 0, `next`
//! = [`NO_NODE`]): the anchor, then every chain entry up to the match, each its own
//! group because each read needs the previous one's next field. An inverted table never
//! evicts; it cannot hold two virtual pages in one frame (aliasing), so `map` refuses a
//! frame already mapped.
//!
//! Choices:
//! - `anchor_ratio` defaults to 1.0: one anchor per frame, as in the RT PC's combined
//!   table, where every frame-table entry carries a HAT field. With memory full the load
//!   factor is then at most 1 and a successful search reads 1 + a/2 <= 1.5 chain entries
//!   on average (Knuth, TAOCP vol. 3, 6.4, separate chaining).
//! - Chains are appended at the **tail**: the k-th page mapped into one chain costs the
//!   anchor + k reads. Head insertion gives the same mean successful search
//!   (1 + (n-1)/2m for n keys in m chains): only which page pays which position changes.
//! - Page sizes share **one HAT**, the size folded into the hashed key (a separate hash
//!   space per size): the HAT is sized by frames, and every mapping of any size takes one
//!   frame-table entry, so the load factor is bounded by frames / anchors whatever the mix
//!   of sizes; separate HATs per size would triple the anchor memory for nothing.
//! - Huge pages ([`HugeProbe`]): a walk probes only the sizes that hold at least one
//!   mapping (as the radix TLB probes only sizes in use); with none at all it reads the 4K
//!   anchor and finds it empty. `sequential`: 4K, then 2M, then 1G, stopping at the hit.
//!   `parallel`: the anchors of all probed sizes are read together (group 0); the walker
//!   cannot tell which size matches before it reads the matching entry, so it follows
//!   every chain in lockstep (round r = group r, the slowest read of the round) and stops
//!   after the round that finds the page, or when every chain has ended.
//! - Overlapping mappings (a 4K page inside a mapped 2M page, or the reverse) are refused
//!   as the radix table refuses them. Checking a huge page for smaller pages inside it
//!   scans those pages, only when some page of a smaller size is mapped (never in a run,
//!   where the OS maps one size).

use super::hashed::{
    fold, hash, hist_json, pack_key, phys_contains, probe_sizes, probed_sizes, unpack_key,
    HashKind, HugeProbe, HIST, HOST_LIMIT, VPN_BITS,
};
use super::{
    IndexPart, MapOutcome, Mappable, PhysArray, Teachable, Translation, WalkStart, WalkStep,
    Walkable, NO_NODE,
};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// Bytes of a frame-table entry.
pub const ENTRY_BYTES: u64 = 16;
/// Bytes of a hash-anchor-table entry.
pub const ANCHOR_BYTES: u64 = 4;

/// Configuration of this design (`[page_table]` with `kind = "inverted"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvertedConfig {
    #[serde(default)]
    pub hash: HashKind,
    #[serde(default)]
    pub huge: HugeProbe,
    /// Hash-anchor-table entries per physical frame (rounded up to a power of two).
    #[serde(default = "one")]
    pub anchor_ratio: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for InvertedConfig {
    fn default() -> Self {
        InvertedConfig {
            hash: HashKind::default(),
            huge: HugeProbe::default(),
            anchor_ratio: 1.0,
        }
    }
}

impl InvertedConfig {
    /// Frames (4 KiB) and anchors for `os`.
    pub fn geometry(&self, os: &OsConfig) -> (u64, u64) {
        let frames = os.phys_mem.0 / 4096;
        let anchors = ((frames as f64 * self.anchor_ratio).ceil() as u64)
            .max(1)
            .next_power_of_two();
        (frames, anchors)
    }

    /// Problems as (key under `page_table.`, message).
    pub fn validate(&self, os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(self.anchor_ratio.is_finite() && (1.0 / 64.0..=64.0).contains(&self.anchor_ratio)) {
            e.push((
                "anchor_ratio".into(),
                format!(
                    "must be from 1/64 to 64 anchors per frame, not {}",
                    self.anchor_ratio
                ),
            ));
            return e;
        }
        let (frames, anchors) = self.geometry(os);
        if frames >= u32::MAX as u64 {
            e.push((
                "kind".into(),
                format!(
                    "an inverted table's 4-byte anchors and links hold frame numbers below 2^32: os.phys_mem must be below 16 TiB, not {}",
                    os.phys_mem
                ),
            ));
        }
        // Host side: an 8-byte key and a 4-byte link per frame, 4 bytes per anchor.
        let host = frames * 12 + anchors * 4;
        if host > HOST_LIMIT {
            e.push((
                "kind".into(),
                format!(
                    "an inverted table for {} of physical memory needs {} MiB of host memory to simulate; the limit is {} GiB",
                    os.phys_mem,
                    host >> 20,
                    HOST_LIMIT >> 30
                ),
            ));
        }
        e
    }
}

super::hashed::hashed_design_config!(InvertedConfig, "inverted", "inverted");

/// No next entry / empty anchor (links hold index + 1).
const END: u32 = 0;

pub struct Inverted {
    hash: HashKind,
    huge: HugeProbe,
    anchor_ratio: f64,
    frames: u64,
    /// log2 of the number of anchors.
    hat_bits: u32,
    /// Frame-table keys ([`pack_key`]; 0: frame not mapped), one per 4 KiB frame.
    keys: Vec<u64>,
    /// Frame-table next links (index + 1, or [`END`]).
    next: Vec<u32>,
    /// Anchors: index + 1 of the chain's first entry, or [`END`].
    hat: Vec<u32>,
    frame_table: PhysArray,
    hat_mem: PhysArray,
    /// Mappings per page size.
    mapped: [u64; 3],
    /// Inserts into a non-empty chain.
    collisions: u64,
    /// Successful walks by chain entries read (1-based position of the page in its chain).
    hit_hist: [Cell<u64>; HIST + 1],
    failed_walks: Cell<u64>,
}

impl Inverted {
    pub fn new(
        cfg: &InvertedConfig,
        os: &OsConfig,
        frames: &mut FrameAllocator,
    ) -> Result<Inverted, SimError> {
        if let Some((k, m)) = cfg.validate(os).into_iter().next() {
            return Err(SimError(format!("page_table.{k}: {m}")));
        }
        let (n_frames, anchors) = cfg.geometry(os);
        let frame_table = PhysArray::new(n_frames * ENTRY_BYTES, frames)?;
        let hat_mem = PhysArray::new(anchors * ANCHOR_BYTES, frames)?;
        Ok(Inverted {
            hash: cfg.hash,
            huge: cfg.huge,
            anchor_ratio: cfg.anchor_ratio,
            frames: n_frames,
            hat_bits: anchors.trailing_zeros(),
            keys: vec![0; n_frames as usize],
            next: vec![END; n_frames as usize],
            hat: vec![END; anchors as usize],
            frame_table,
            hat_mem,
            mapped: [0; 3],
            collisions: 0,
            hit_hist: std::array::from_fn(|_| Cell::new(0)),
            failed_walks: Cell::new(0),
        })
    }

    /// Number of hash-anchor-table entries.
    pub fn anchors(&self) -> u64 {
        self.hat.len() as u64
    }

    /// Physical address of frame-table entry `i`.
    pub fn entry_addr(&self, i: u64) -> u64 {
        self.frame_table.addr(i * ENTRY_BYTES)
    }

    /// Physical address of anchor `j`.
    pub fn anchor_addr(&self, j: u64) -> u64 {
        self.hat_mem.addr(j * ANCHOR_BYTES)
    }

    /// Whether `paddr` lies inside the frame table or the HAT.
    pub fn contains(&self, paddr: u64) -> bool {
        phys_contains(&self.frame_table, paddr) || phys_contains(&self.hat_mem, paddr)
    }

    /// The anchor of (asid, page number of `size`).
    #[inline(always)]
    fn anchor_of(&self, asid: u16, size: PageSize, vpn: u64) -> u64 {
        hash(self.hash, asid, fold(size, vpn), self.hat_bits)
    }

    /// Search the chain of one size on the host: (frame-table index, predecessor index).
    fn find(&self, asid: u16, vaddr: u64, size: PageSize) -> Option<(usize, Option<usize>)> {
        let vpn = vaddr >> size.shift();
        let key = pack_key(asid, size, vpn);
        let mut link = self.hat[self.anchor_of(asid, size, vpn) as usize];
        let mut prev = None;
        while link != END {
            let i = link as usize - 1;
            if self.keys[i] == key {
                return Some((i, prev));
            }
            prev = Some(i);
            link = self.next[i];
        }
        None
    }

    /// The mapping of `vaddr` at any size, as (size, frame-table index).
    fn lookup(&self, asid: u16, vaddr: u64) -> Option<(PageSize, usize)> {
        PageSize::ALL
            .into_iter()
            .filter(|s| self.mapped[s.index()] > 0)
            .find_map(|s| self.find(asid, vaddr, s).map(|(i, _)| (s, i)))
    }

    /// One size's probe as a walker issues it: the anchor, then the chain up to the match.
    #[inline(always)]
    fn probe(
        &self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let read = |steps: &mut Vec<WalkStep>, pte_addr| {
            steps.push(WalkStep {
                level: 0,
                pte_addr: PhysAddr(pte_addr),
                next: NO_NODE,
                group: 0,
            })
        };
        let vpn = vaddr >> size.shift();
        let key = pack_key(asid, size, vpn);
        let a = self.anchor_of(asid, size, vpn);
        read(steps, self.anchor_addr(a));
        let mut link = self.hat[a as usize];
        let mut pos = 0;
        while link != END {
            let i = link as usize - 1;
            pos += 1;
            read(steps, self.entry_addr(i as u64));
            if self.keys[i] == key {
                let h = &self.hit_hist[pos.min(HIST)];
                h.set(h.get() + 1);
                return Some(Translation {
                    frame: PhysAddr((i as u64) << 12),
                    size,
                });
            }
            link = self.next[i];
        }
        None
    }

    /// Chains by length (index = length; the last bucket holds 64 and more) and the
    /// summed 1-based positions of every mapped page in its chain.
    fn chains(&self) -> (Vec<u64>, u64) {
        let mut by_len = vec![0u64; HIST + 1];
        let mut positions = 0;
        for &head in &self.hat {
            let mut len = 0u64;
            let mut link = head;
            while link != END {
                len += 1;
                positions += len;
                link = self.next[link as usize - 1];
            }
            by_len[(len as usize).min(HIST)] += 1;
        }
        (by_len, positions)
    }

    /// Mean 1-based chain position of the mapped pages: the chain entries a successful
    /// search reads, on average over the pages (0 when nothing is mapped).
    pub fn mean_successful_search(&self) -> f64 {
        let n: u64 = self.mapped.iter().sum();
        if n == 0 {
            return 0.0;
        }
        self.chains().1 as f64 / n as f64
    }

    /// Whether mapping `size` at `vaddr` would overlap a page already mapped.
    fn overlaps(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        if self.lookup(asid, vaddr).is_some() {
            return true;
        }
        PageSize::ALL[..size.index()]
            .iter()
            .filter(|t| self.mapped[t.index()] > 0)
            .any(|&t| {
                (0..size.bytes() >> t.shift())
                    .any(|k| self.find(asid, vaddr + (k << t.shift()), t).is_some())
            })
    }
}

impl Mappable for Inverted {
    const SHARED: bool = true;

    const ALIASES: bool = false;

    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        self.lookup(asid, vaddr).map(|(size, i)| Translation {
            frame: PhysAddr((i as u64) << 12),
            size,
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
        let vaddr = vaddr & !(size.bytes() - 1);
        let vpn = vaddr >> size.shift();
        if vpn >> VPN_BITS != 0 {
            return Err(SimError(format!(
                "{vaddr:#x} is beyond the 57-bit virtual addresses an inverted table keys"
            )));
        }
        if frame % size.bytes() != 0 || frame >> 12 >= self.frames {
            return Err(SimError(format!(
                "frame {frame:#x} is not a {size} frame of the {} MiB of physical memory",
                (self.frames << 12) >> 20
            )));
        }
        let i = (frame >> 12) as usize;
        if self.keys[i] != 0 {
            let (a, s, v) = unpack_key(self.keys[i]);
            return Err(SimError(format!(
                "frame {frame:#x} already holds {:#x} ({s}) of address space {a}: an inverted table maps each frame once (no aliasing)",
                v << s.shift()
            )));
        }
        if self.overlaps(asid, vaddr, size) {
            return Err(SimError(format!(
                "{vaddr:#x} ({size}) overlaps a page already mapped in address space {asid}"
            )));
        }
        // Append at the tail of the chain.
        let a = self.anchor_of(asid, size, vpn) as usize;
        let mut link = self.hat[a];
        if link == END {
            self.hat[a] = i as u32 + 1;
        } else {
            self.collisions += 1;
            loop {
                let j = link as usize - 1;
                if self.next[j] == END {
                    self.next[j] = i as u32 + 1;
                    break;
                }
                link = self.next[j];
            }
        }
        self.keys[i] = pack_key(asid, size, vpn);
        self.next[i] = END;
        self.mapped[size.index()] += 1;
        Ok(MapOutcome::default())
    }

    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        let (size, (i, prev)) = PageSize::ALL
            .into_iter()
            .filter(|s| self.mapped[s.index()] > 0)
            .find_map(|s| self.find(asid, vaddr, s).map(|f| (s, f)))?;
        let after = self.next[i];
        match prev {
            Some(p) => self.next[p] = after,
            None => {
                let a = self.anchor_of(asid, size, vaddr >> size.shift()) as usize;
                self.hat[a] = after;
            }
        }
        self.keys[i] = 0;
        self.next[i] = END;
        self.mapped[size.index()] -= 1;
        Some(Translation {
            frame: PhysAddr((i as u64) << 12),
            size,
        })
    }

    fn table_bytes(&self) -> u64 {
        self.frame_table.bytes() + self.hat_mem.bytes()
    }

    fn stats(&self) -> serde_json::Value {
        let n: u64 = self.mapped.iter().sum();
        let m = self.anchors();
        let (by_len, positions) = self.chains();
        let end = by_len.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
        serde_json::json!({
            "design": "inverted",
            "hash": self.hash,
            "huge": self.huge,
            "frames": self.frames,
            "anchors": m,
            "anchor_ratio": self.anchor_ratio,
            "entry_bytes": ENTRY_BYTES,
            "anchor_bytes": ANCHOR_BYTES,
            "bytes": self.table_bytes(),
            "entries_used": n,
            "mapped": { "4K": self.mapped[0], "2M": self.mapped[1], "1G": self.mapped[2] },
            "load_factor": n as f64 / m as f64,
            "collisions": self.collisions,
            // Snapshot of the table now: chains by length, and the mean 1-based position
            // of a mapped page in its chain next to uniform hashing's 1 + (n-1)/2m.
            "chains_by_length": by_len[..end],
            "mean_successful_search": if n == 0 { 0.0 } else { positions as f64 / n as f64 },
            "uniform_successful_search": if n == 0 { 0.0 } else { 1.0 + (n - 1) as f64 / (2 * m) as f64 },
            // Walks since the start (warm-up included): successful ones by the chain
            // entries they read (index = entries; the last bucket 64 and more).
            "successful_walks_by_chain_reads": hist_json(&self.hit_hist),
            "failed_walks": self.failed_walks.get(),
        })
    }
}

impl Walkable for Inverted {
    #[inline]
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        _start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let vaddr = vaddr.0;
        let found = probe_sizes(self.huge, &self.mapped, steps, |s, st| {
            self.probe(asid, vaddr, s, st)
        });
        if found.is_none() {
            self.failed_walks.set(self.failed_walks.get() + 1);
        }
        found
    }

    #[inline(always)]
    fn leaf_lines(&self, asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let vaddr = vaddr.0;
        let (size, i) = self.lookup(asid, vaddr)?;
        Some((
            PhysAddr(self.entry_addr(i as u64)),
            PhysAddr(((i as u64) << 12) + (vaddr & (size.bytes() - 1))),
        ))
    }

    #[inline(always)]
    fn prefetch(&self, asid: u16, vaddr: VirtAddr) -> u64 {
        let vaddr = vaddr.0;
        if let Some(s) = probed_sizes(&self.mapped).next() {
            let a = self.anchor_of(asid, s, vaddr >> s.shift()) as usize;
            super::prefetch_host(&self.hat[a]);
        }
        0
    }
}

impl Teachable for Inverted {
    fn index_parts(&self, asid: u16, vaddr: VirtAddr, size: PageSize) -> Vec<IndexPart> {
        let vaddr = vaddr.0;
        let vpn = vaddr >> size.shift();
        let j = self.anchor_of(asid, size, vpn);
        vec![IndexPart {
            name: format!("HAT anchor ({size} pages)"),
            how: format!(
                "{:?} hash of (asid {asid}, VPN {vpn:#x}, size) to {} bits",
                self.hash, self.hat_bits
            ),
            value: j,
            of: self.anchors(),
            paddr: PhysAddr(self.anchor_addr(j)),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::FrameAlloc;
    use crate::pagetable::hashed::testing::{os, property};
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn cfg(hash: HashKind, huge: HugeProbe, anchor_ratio: f64) -> InvertedConfig {
        InvertedConfig {
            hash,
            huge,
            anchor_ratio,
        }
    }

    fn walk(t: &Inverted, asid: u16, va: u64) -> (Option<Translation>, Vec<WalkStep>) {
        let mut steps = Vec::new();
        let r = t.walk(asid, VirtAddr(va), None, &mut steps);
        (r, steps)
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: InvertedConfig = toml::from_str("").unwrap();
        assert_eq!(c, InvertedConfig::default());
        assert_eq!(c.anchor_ratio, 1.0);
        assert!(toml::from_str::<InvertedConfig>("anchors = 3").is_err());
        let c: InvertedConfig =
            toml::from_str("hash = \"weak\"\nhuge = \"sequential\"\nanchor_ratio = 2.0").unwrap();
        assert_eq!(c.anchor_ratio, 2.0);
        assert!(c.validate(&os(1 << 30)).is_empty());
        let bad = cfg(HashKind::Weak, HugeProbe::Parallel, 0.0);
        assert_eq!(bad.validate(&os(1 << 30))[0].0, "anchor_ratio");
        // 16 TiB of 4 KiB frames do not fit 32-bit links (and would not fit the host).
        let big = InvertedConfig::default().validate(&os(16 << 40));
        assert!(big.iter().any(|(k, m)| k == "kind" && m.contains("2^32")));
    }

    #[test]
    fn footprint_is_frames_x16_plus_anchors_x4() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 1);
        // 1 GiB: 262144 frames; ratio 0.3 -> ceil(78643.2) = 78644 -> 131072 anchors.
        let mut t = Inverted::new(
            &cfg(HashKind::Multiplicative, HugeProbe::Parallel, 0.3),
            &os(1 << 30),
            &mut f,
        )
        .unwrap();
        assert_eq!(t.anchors(), 131072);
        assert_eq!(t.table_bytes(), 262144 * 16 + 131072 * 4);
        // The tables take frames of physical memory: 4 MiB + 512 KiB -> three 2 MiB blocks.
        assert_eq!(f.bytes_in_use, 3 << 21);
        for k in 0..100u64 {
            let fr = f.alloc(PageSize::Size4K).unwrap();
            t.map(1, VirtAddr(k << 12), PageSize::Size4K, PhysAddr(fr), &mut f)
                .unwrap();
        }
        // The footprint does not depend on what is mapped.
        assert_eq!(t.table_bytes(), 262144 * 16 + 131072 * 4);
        let s = t.stats();
        assert_eq!(s["bytes"], 262144 * 16 + 131072 * 4);
        assert_eq!(s["entries_used"], 100);
        assert_eq!(s["load_factor"], 100.0 / 131072.0);
        let one = Inverted::new(&InvertedConfig::default(), &os(1 << 30), &mut f).unwrap();
        assert_eq!(one.table_bytes(), 262144 * 16 + 262144 * 4);
    }

    #[test]
    fn kth_colliding_page_costs_anchor_plus_k_reads() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 2);
        let mut t = Inverted::new(
            &cfg(HashKind::Weak, HugeProbe::Parallel, 1.0),
            &os(1 << 30),
            &mut f,
        )
        .unwrap();
        let m = t.anchors();
        assert_eq!(m, 1 << 18);
        // Weak hash: (vpn ^ asid) mod m, so vpns m apart share an anchor.
        let v0 = 0x1234u64;
        let anchor = (v0 ^ 7) % m;
        let mut frames = Vec::new();
        for k in 0..6u64 {
            let fr = f.alloc(PageSize::Size4K).unwrap();
            frames.push(fr);
            t.map(
                7,
                VirtAddr((v0 + k * m) << 12),
                PageSize::Size4K,
                PhysAddr(fr),
                &mut f,
            )
            .unwrap();
        }
        assert_eq!(t.collisions, 5);
        for k in 1..=6u64 {
            let (tr, steps) = walk(&t, 7, ((v0 + (k - 1) * m) << 12) + 0x123);
            assert_eq!(
                tr,
                Some(Translation {
                    frame: PhysAddr(frames[k as usize - 1]),
                    size: PageSize::Size4K
                })
            );
            assert_eq!(steps.len() as u64, 1 + k, "page {k}");
            assert_eq!(steps[0].pte_addr.0, t.anchor_addr(anchor));
            for (j, s) in steps.iter().enumerate() {
                assert_eq!(s.group as usize, j, "dependent reads: one group each");
                assert_eq!((s.level, s.next), (0, NO_NODE));
                if j > 0 {
                    assert_eq!(s.pte_addr.0, t.entry_addr(frames[j - 1] >> 12));
                }
            }
        }
        // A page hashing there but not mapped reads the anchor and the whole chain.
        let (tr, steps) = walk(&t, 7, (v0 + 6 * m) << 12);
        assert_eq!((tr, steps.len()), (None, 7));
        // Another asid changes the weak hash (vpn ^ asid): a different, empty anchor.
        let (tr, steps) = walk(&t, 6, v0 << 12);
        assert_eq!((tr, steps.len()), (None, 1));
        // Unlinking the first page moves every later one up by one.
        assert_eq!(t.unmap(7, VirtAddr(v0 << 12)).unwrap().frame.0, frames[0]);
        for k in 2..=6u64 {
            let (_, steps) = walk(&t, 7, (v0 + (k - 1) * m) << 12);
            assert_eq!(steps.len() as u64, k);
        }
        // Unlinking from the middle too.
        t.unmap(7, VirtAddr((v0 + 3 * m) << 12)).unwrap();
        let (_, steps) = walk(&t, 7, (v0 + 5 * m) << 12);
        assert_eq!(steps.len(), 1 + 4, "the last of four");
        assert_eq!(t.mean_successful_search(), (1 + 2 + 3 + 4) as f64 / 4.0);
        // Successful walks so far by chain reads: 1..6 once each, then 1..5, then 4.
        assert_eq!(
            t.stats()["successful_walks_by_chain_reads"],
            serde_json::json!([0, 2, 2, 2, 3, 2, 1])
        );
    }

    #[test]
    fn frames_are_positions_no_aliasing_and_no_overlaps() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Sequential, 0);
        let mut t = Inverted::new(&InvertedConfig::default(), &os(4 << 30), &mut f).unwrap();
        let fr = f.alloc(PageSize::Size2M).unwrap();
        t.map(
            1,
            VirtAddr(0x4000_0000),
            PageSize::Size2M,
            PhysAddr(fr),
            &mut f,
        )
        .unwrap();
        let tr = t.translate(1, VirtAddr(0x401f_f123)).unwrap();
        assert_eq!(
            tr,
            Translation {
                frame: PhysAddr(fr),
                size: PageSize::Size2M
            }
        );
        assert!(t.translate(2, VirtAddr(0x4000_0000)).is_none());
        // One frame, one virtual page.
        assert!(t
            .map(
                2,
                VirtAddr(0x4000_0000),
                PageSize::Size2M,
                PhysAddr(fr),
                &mut f
            )
            .is_err());
        // Not inside a mapped 2M page, not around a mapped 4K page.
        let g = f.alloc(PageSize::Size4K).unwrap();
        assert!(t
            .map(
                1,
                VirtAddr(0x4010_0000),
                PageSize::Size4K,
                PhysAddr(g),
                &mut f
            )
            .is_err());
        t.map(
            1,
            VirtAddr(0x8000_0000),
            PageSize::Size4K,
            PhysAddr(g),
            &mut f,
        )
        .unwrap();
        let h = f.alloc(PageSize::Size1G).unwrap();
        assert!(t
            .map(
                1,
                VirtAddr(0x8000_0000),
                PageSize::Size1G,
                PhysAddr(h),
                &mut f
            )
            .is_err());
        assert!(t
            .map(
                1,
                VirtAddr(0x4000_0000),
                PageSize::Size1G,
                PhysAddr(h),
                &mut f
            )
            .is_err());
        t.map(
            1,
            VirtAddr(0xc000_0000),
            PageSize::Size1G,
            PhysAddr(h),
            &mut f,
        )
        .unwrap();
        // Frames outside memory or misaligned.
        assert!(t
            .map(1, VirtAddr(0), PageSize::Size4K, PhysAddr(4 << 30), &mut f)
            .is_err());
        assert!(t
            .map(1, VirtAddr(0), PageSize::Size2M, PhysAddr(0x1000), &mut f)
            .is_err());
        assert_eq!(
            t.unmap(1, VirtAddr(0x4000_1000)).unwrap().size,
            PageSize::Size2M
        );
        assert!(t.unmap(1, VirtAddr(0x4000_1000)).is_none());
        t.map(
            1,
            VirtAddr(0x4010_0000),
            PageSize::Size4K,
            PhysAddr(fr),
            &mut f,
        )
        .unwrap();
    }

    #[test]
    fn random_map_unmap_agrees_with_a_hash_map() {
        for (hash, huge, ratio, seed) in [
            (HashKind::Multiplicative, HugeProbe::Parallel, 1.0, 1),
            (HashKind::Weak, HugeProbe::Sequential, 1.0 / 64.0, 2),
            (HashKind::Weak, HugeProbe::Parallel, 1.0 / 64.0, 3),
            (
                HashKind::Multiplicative,
                HugeProbe::Sequential,
                1.0 / 64.0,
                4,
            ),
        ] {
            let mut f = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, seed);
            let mut t = Inverted::new(&cfg(hash, huge, ratio), &os(16 << 30), &mut f).unwrap();
            property(&mut t, &mut f, 4000, seed, |t, a| t.contains(a));
            let n: u64 = t.mapped.iter().sum();
            assert_eq!(t.stats()["entries_used"], n);
        }
    }

    #[test]
    fn mean_successful_search_is_one_plus_half_the_load_factor() {
        // 65536 anchors; n = a x 65536 pages at random addresses of 4 address spaces.
        for a in [0.25, 0.5, 1.0, 2.0] {
            let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 5);
            let mut t = Inverted::new(
                &cfg(HashKind::Multiplicative, HugeProbe::Parallel, 0.25),
                &os(1 << 30),
                &mut f,
            )
            .unwrap();
            let m = t.anchors();
            assert_eq!(m, 65536);
            let n = (a * m as f64) as u64;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.to_bits());
            let mut pages = Vec::new();
            while (pages.len() as u64) < n {
                let asid = 1 + (rng.next_u64() % 4) as u16;
                let va = (rng.next_u64() % (1 << 47)) & !0xfff;
                if t.translate(asid, VirtAddr(va)).is_some() {
                    continue;
                }
                let fr = f.alloc(PageSize::Size4K).unwrap();
                t.map(asid, VirtAddr(va), PageSize::Size4K, PhysAddr(fr), &mut f)
                    .unwrap();
                pages.push((asid, va));
            }
            // Through walks: each successful walk reads the anchor and `position` entries.
            let mut steps = Vec::new();
            let mut chain_reads = 0;
            for &(asid, va) in &pages {
                steps.clear();
                assert!(t.walk(asid, VirtAddr(va), None, &mut steps).is_some());
                chain_reads += steps.len() as u64 - 1;
            }
            let mean = chain_reads as f64 / n as f64;
            let theory = 1.0 + a / 2.0;
            assert!(
                (mean / theory - 1.0).abs() < 0.05,
                "a = {a}: mean {mean}, 1 + a/2 = {theory}"
            );
            assert_eq!(t.mean_successful_search(), mean);
            let s = t.stats();
            assert_eq!(s["load_factor"], a);
            assert_eq!(s["mean_successful_search"], mean);
        }
    }

    #[test]
    fn walk_latency_is_reads_times_dram_without_caches_and_sizes_probe_as_configured() {
        use crate::memory::MemorySystem;
        use crate::walker::Walker;
        const DRAM: u64 = 100;
        let mem = || MemorySystem::dram_only(DRAM as u32);
        for huge in [HugeProbe::Parallel, HugeProbe::Sequential] {
            let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 9);
            let mut t =
                Inverted::new(&cfg(HashKind::Weak, huge, 1.0), &os(4 << 30), &mut f).unwrap();
            assert_eq!(t.anchors(), 1 << 20);
            let mut m = mem();
            let mut w = Walker::new(&[], 0);
            // Three 4K pages in one chain (anchor (5 ^ 1) = 4; vpns 2^20 apart): the
            // third costs the anchor + 3 reads.
            let base = 0x10_0000_5000u64;
            for k in 0..3u64 {
                let fr = f.alloc(PageSize::Size4K).unwrap();
                t.map(
                    1,
                    VirtAddr(base + (k << 32)),
                    PageSize::Size4K,
                    PhysAddr(fr),
                    &mut f,
                )
                .unwrap();
            }
            let r = w.walk(0, 1, VirtAddr(base + (2 << 32)), &t, &mut m);
            assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (4, 4 * DRAM, 0));
            // A 2M page B (2M anchor 0x10000 ^ 1) and a 4K page A = B + 4 GiB: A's 4K
            // anchor (1) is the 4K anchor of B's first 4K page, A's 2M anchor is empty.
            let b = 0x20_0000_0000u64;
            let a = b + (1 << 32);
            let fa = f.alloc(PageSize::Size4K).unwrap();
            let fb = f.alloc(PageSize::Size2M).unwrap();
            t.map(1, VirtAddr(a), PageSize::Size4K, PhysAddr(fa), &mut f)
                .unwrap();
            t.map(1, VirtAddr(b), PageSize::Size2M, PhysAddr(fb), &mut f)
                .unwrap();
            let ra = w.walk(0, 1, VirtAddr(a), &t, &mut m);
            let rb = w.walk(0, 1, VirtAddr(b + 0x234), &t, &mut m);
            assert_eq!(ra.translation.unwrap().frame.0, fa);
            assert_eq!(rb.translation.unwrap().frame.0 + 0x234, fb + 0x234);
            // Not mapped, and hashing onto A's 4K chain and B's 2M chain.
            let rn = w.walk(0, 1, VirtAddr(b + (1 << 41)), &t, &mut m);
            assert_eq!(rn.translation, None);
            match huge {
                // A: both anchors together, then A's entry (the 2M chain is empty).
                // B: both anchors, then A's entry and B's entry together. Not mapped: the
                // same, and both chains end.
                HugeProbe::Parallel => {
                    assert_eq!((ra.reads, ra.pte_cycles), (3, 2 * DRAM));
                    assert_eq!((rb.reads, rb.pte_cycles), (4, 2 * DRAM));
                    assert_eq!((rn.reads, rn.pte_cycles), (4, 2 * DRAM));
                }
                // A: 4K anchor, A's entry. B: 4K anchor, A's entry (no match, end of
                // chain), 2M anchor, B's entry. Not mapped: the same four reads.
                HugeProbe::Sequential => {
                    assert_eq!((ra.reads, ra.pte_cycles), (2, 2 * DRAM));
                    assert_eq!((rb.reads, rb.pte_cycles), (4, 4 * DRAM));
                    assert_eq!((rn.reads, rn.pte_cycles), (4, 4 * DRAM));
                }
            }
            assert_eq!(
                w.stats.pte_cycles,
                4 * DRAM + ra.pte_cycles + rb.pte_cycles + rn.pte_cycles
            );
        }
    }

    #[test]
    fn whole_run_with_the_inverted_design() {
        let sets: Vec<String> = [
            "page_table={kind=\"inverted\"}",
            "workload.accesses=40000",
            // The default workload's 4 GiB heap, unpopulated and cut to fit 1 GiB.
            "workload.event=[]",
            // Every fault counted: the table's mapped pages equal the faults.
            "sim.warmup_accesses=0",
            "workload.generator.footprint=\"512MiB\"",
            "os.phys_mem=\"1GiB\"",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let inputs = crate::run::load_inputs(None, None, &sets).unwrap();
        let report = crate::run::simulate(&inputs, &mut |_, _| {}).unwrap();
        let j = serde_json::to_value(&report).unwrap();
        let stats = &j["stats"];
        assert_eq!(stats["page_table_bytes"], 262144 * 16 + 262144 * 4);
        let pt = &stats["page_tables"][0];
        assert_eq!(pt["design"], "inverted");
        // One shared table: every first touch is one entry.
        assert_eq!(pt["entries_used"], stats["total"]["minor_faults"]);
        assert!(stats["total"]["minor_faults"].as_u64().unwrap() > 1000);
    }
}
