//! TLB prefetchers (issue 20): what to fetch ahead, given the TLB misses.
//!
//! Owns the prediction side only: each prefetcher watches the misses of the trigger TLB
//! level ([`Miss`]: the 4K page number, the address space, the program counter, whether
//! the prefetch buffer served it) and asks for pages ([`Candidates`], 4K page numbers,
//! most wanted first). The walks that fetch them, the prefetch buffer they wait in, the
//! walker slots they compete for and the counters are the simulator's
//! (`crate::sim::prefetch`); free prefetching of a walked leaf line's other PTEs is in
//! `crate::sim::prefetch` too. In: misses (and, for prefetchers that keep a recency
//! stack, last-level evictions); out: candidates.
//!
//! Adding a prefetcher is one file here (its state, its `XConfig` with defaults and
//! `problems`), one variant of [`crate::config::PrefetcherKind`] with its
//! `[prefetch.x]` field in [`crate::config::PrefetchConfig`], and one arm in
//! [`AnyPrefetcher::new`] and in `each!`. Prefetchers are chosen once per run: the
//! enum's match is a predicted branch, and nothing here allocates per miss.

mod asp;
mod atp;
mod distance;
mod recency;
pub mod sbfp;
mod sequential;
pub use asp::{Asp, AspConfig};
pub use atp::{Atp, AtpConfig};
pub use distance::{Dp, DpConfig};
pub use recency::{Recency, RecencyConfig};
pub use sbfp::{Sbfp, SbfpConfig};
pub use sequential::{Sequential, SequentialConfig};

use crate::config::{PrefetchConfig, PrefetcherKind};

/// The most pages one miss may ask for (more are ignored).
pub const MAX_CANDIDATES: usize = 32;

/// Pages a prefetcher asks for, most wanted first (no allocation: a fixed array).
#[derive(Clone, Debug)]
pub struct Candidates {
    vpns: [u64; MAX_CANDIDATES],
    len: usize,
}

impl Default for Candidates {
    fn default() -> Self {
        Candidates {
            vpns: [0; MAX_CANDIDATES],
            len: 0,
        }
    }
}

impl Candidates {
    /// Ask for 4K page `vpn` (ignored when full).
    #[inline(always)]
    pub fn push(&mut self, vpn: u64) {
        if self.len < MAX_CANDIDATES {
            self.vpns[self.len] = vpn;
            self.len += 1;
        }
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn as_slice(&self) -> &[u64] {
        &self.vpns[..self.len]
    }
}

/// One miss of the trigger level, as a prefetcher sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Miss {
    pub asid: u16,
    /// 4K page number of the address that missed.
    pub vpn: u64,
    /// The program counter of the access: the address of the core's last instruction
    /// fetch (traces interleave fetches with their loads and stores; a stream without
    /// fetches has 0 throughout, one "instruction").
    pub pc: u64,
    /// The prefetch buffer served this miss (a last-level miss that needs no walk).
    pub buffer_hit: bool,
}

/// A TLB prefetcher. Generic methods: chosen once per run, never a trait object.
pub trait Prefetcher {
    /// Train on miss `m` and push the 4K pages to prefetch into `out` (empty on entry).
    /// `mapped(vpn)` says whether a page is mapped now (an untimed look at the page
    /// table, for prefetchers that score predictions without fetching them).
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, mapped: &M, out: &mut Candidates);

    /// Whether it wants [`Prefetcher::on_evict`] calls (a recency stack).
    fn wants_evictions(&self) -> bool {
        false
    }

    /// A 4K translation of `asid` left the last TLB level.
    fn on_evict(&mut self, _asid: u16, _vpn: u64) {}

    /// The prefetcher's own counters and table sizes, for the report (`{}`: none).
    fn stats(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    /// The warm-up ended: zero the counters [`Prefetcher::stats`] reports (the
    /// learned state stays, as the TLBs stay warm).
    fn reset_stats(&mut self) {}
}

/// For the prefetchers' unit tests: what `p` asks for on a miss of 4K page `vpn` at
/// program counter `pc` of address space 1, not served by the buffer, the pages
/// `mapped` accepts mapped.
#[cfg(test)]
pub(crate) fn ask<P: Prefetcher, M: Fn(u64) -> bool>(
    p: &mut P,
    (vpn, pc): (u64, u64),
    mapped: &M,
) -> Vec<u64> {
    let mut out = Candidates::default();
    let m = Miss {
        asid: 1,
        vpn,
        pc,
        buffer_hit: false,
    };
    p.on_miss(&m, mapped, &mut out);
    out.as_slice().to_vec()
}

/// The prefetcher of a run.
pub enum AnyPrefetcher {
    /// Only free prefetching, if any.
    None,
    Sequential(Sequential),
    Atp(Box<Atp>),
    Asp(Asp),
    Dp(Dp),
    Recency(Recency),
}

impl AnyPrefetcher {
    /// The prefetcher `cfg.kind` names, with its parameters (validated); `seed` feeds
    /// any randomness it has.
    pub fn new(cfg: &PrefetchConfig, _seed: u64) -> AnyPrefetcher {
        match cfg.kind {
            PrefetcherKind::None => AnyPrefetcher::None,
            PrefetcherKind::Sequential => {
                AnyPrefetcher::Sequential(Sequential::new(&cfg.sequential))
            }
            PrefetcherKind::Atp => AnyPrefetcher::Atp(Box::new(Atp::new(&cfg.atp))),
            PrefetcherKind::Asp => AnyPrefetcher::Asp(Asp::new(&cfg.asp)),
            PrefetcherKind::Dp => AnyPrefetcher::Dp(Dp::new(&cfg.dp)),
            PrefetcherKind::Recency => AnyPrefetcher::Recency(Recency::new(&cfg.recency)),
        }
    }
}

macro_rules! each {
    ($s:expr, $p:ident => $e:expr, $none:expr) => {
        match $s {
            AnyPrefetcher::None => $none,
            AnyPrefetcher::Sequential($p) => $e,
            AnyPrefetcher::Atp($p) => $e,
            AnyPrefetcher::Asp($p) => $e,
            AnyPrefetcher::Dp($p) => $e,
            AnyPrefetcher::Recency($p) => $e,
        }
    };
}

impl Prefetcher for AnyPrefetcher {
    #[inline]
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, mapped: &M, out: &mut Candidates) {
        each!(self, p => p.on_miss(m, mapped, out), ())
    }
    fn wants_evictions(&self) -> bool {
        each!(self, p => p.wants_evictions(), false)
    }
    fn on_evict(&mut self, asid: u16, vpn: u64) {
        each!(self, p => p.on_evict(asid, vpn), ())
    }
    fn stats(&self) -> serde_json::Value {
        each!(self, p => p.stats(), serde_json::json!({}))
    }
    fn reset_stats(&mut self) {
        each!(self, p => p.reset_stats(), ())
    }
}
