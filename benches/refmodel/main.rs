//! The reference model of issue 21 as a plain binary (`model.rs` is the model, `tuned.rs`
//! the same model written for speed): the walk-heavy and hit-heavy steady states that
//! `scripts/walk_speed.sh` measures mmusim against, a sanity check of the model's counts
//! against their derivations, and the check that both models count the same.
//!
//! ```text
//! cargo build --release --bench refmodel    (then run target/release/deps/refmodel-*)
//! refmodel walk N [FOOTPRINT]   uniform 8-byte reads over FOOTPRINT bytes (1 GiB), data through the caches
//! refmodel hits N               sequential, stride 64, over 64 KiB, translation only
//! refmodel walk-tuned N [FOOTPRINT], hits-tuned N   the same by the tuned model
//! refmodel check                the counts against their derivations, the tuned model's
//!                               Stats against the plain one's; exit 1 if off
//! ```
//!
//! Every page is mapped before the clock starts. Counts cover the second half of the
//! accesses (the first half warms the TLBs and caches, as mmusim's default warm-up);
//! the rate covers all of them. `cargo bench` (`--bench`) and `cargo test --benches`
//! (no arguments) run a short `walk` and `hits` by each model and compare them (exit 1
//! on a difference).

mod model;
mod tuned;

use model::{below, Lru, Model, PageTable, Stats};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::process::exit;
use std::time::Instant;
use tuned::{Assoc, Tag, Tuned};

/// mmusim's default workload base (64 GiB: 1 GiB aligned, PML4 entry 0, PDPT entry 64).
const BASE: u64 = 0x10_0000_0000;
const GIB: u64 = 1 << 30;

/// A model the runs drive: the plain one or the tuned one.
trait Sim {
    fn build(pt: PageTable, data_caches: bool) -> Self;
    fn access(&mut self, va: u64) -> u64;
    fn reset(&mut self);
    fn stats(&self) -> Stats;
}

impl Sim for Model {
    fn build(pt: PageTable, data_caches: bool) -> Model {
        Model::new(pt, data_caches)
    }
    #[inline(always)]
    fn access(&mut self, va: u64) -> u64 {
        Model::access(self, va)
    }
    fn reset(&mut self) {
        self.stats = Stats::default();
    }
    fn stats(&self) -> Stats {
        self.stats.clone()
    }
}

impl Sim for Tuned {
    fn build(pt: PageTable, data_caches: bool) -> Tuned {
        Tuned::new(&pt, data_caches)
    }
    #[inline(always)]
    fn access(&mut self, va: u64) -> u64 {
        Tuned::access(self, va)
    }
    fn reset(&mut self) {
        self.reset_stats();
    }
    fn stats(&self) -> Stats {
        Tuned::stats(self)
    }
}

/// Run `n` accesses from `next`, counting the second half only; (stats, seconds of
/// the access loop, seconds of the set-up).
/// The page table's seed is `seed`, the uniform stream's `seed + 6` (1 and 7 by default).
fn run<M: Sim>(
    bytes: u64,
    seed: u64,
    data_caches: bool,
    n: u64,
    mut next: impl FnMut() -> u64,
) -> (Stats, f64, f64) {
    let t0 = Instant::now();
    let mut m = M::build(PageTable::map(BASE, bytes, seed), data_caches);
    let t1 = Instant::now();
    for i in 0..n {
        if i == n / 2 {
            m.reset();
        }
        m.access(next());
    }
    let t2 = Instant::now();
    (m.stats(), (t2 - t1).as_secs_f64(), (t1 - t0).as_secs_f64())
}

fn uniform<M: Sim>(bytes: u64, seed: u64, n: u64) -> (Stats, f64, f64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + 6);
    run::<M>(bytes, seed, true, n, move || {
        BASE + (below(rng.next_u64(), bytes / 8) << 3)
    })
}

fn sequential<M: Sim>(bytes: u64, n: u64) -> (Stats, f64, f64) {
    let mut off = 0;
    run::<M>(bytes, 1, false, n, move || {
        let va = BASE + off;
        off = (off + 64) % bytes;
        va
    })
}

fn report(what: &str, n: u64, (s, secs, setup): &(Stats, f64, f64)) {
    let p = |x: u64| 100.0 * x as f64 / s.accesses.max(1) as f64;
    println!(
        "refmodel {what}: {n} accesses in {secs:.3} s = {:.2} M accesses/s (set-up {setup:.3} s)",
        n as f64 / secs / 1e6
    );
    println!(
        "  measured {} accesses: l1_misses {} ({:.2}%), stlb_misses {} ({:.3}%), walks {}",
        s.accesses,
        s.l1_misses,
        p(s.l1_misses),
        s.walks,
        p(s.walks),
        s.walks
    );
    println!(
        "  pte_reads L4 {} L3 {} L2 {} L1 {} ({:.4} per walk); psc hits pml4 {} pdpt {} pd {}",
        s.pte_reads[3],
        s.pte_reads[2],
        s.pte_reads[1],
        s.pte_reads[0],
        s.pte_reads.iter().sum::<u64>() as f64 / s.walks.max(1) as f64,
        s.psc_hits[2],
        s.psc_hits[1],
        s.psc_hits[0]
    );
    println!(
        "  reads served by L1D {} L2 {} L3 {} DRAM {}; cycles {} ({:.1} per access); data cycles {}",
        s.served[0],
        s.served[1],
        s.served[2],
        s.served[3],
        s.cycles,
        s.cycles as f64 / s.accesses.max(1) as f64,
        s.data_cycles
    );
}

/// `got` within `tol` of `want`; prints the comparison and returns whether it held.
fn near(what: &str, got: f64, want: f64, tol: f64) -> bool {
    let ok = (got - want).abs() <= tol;
    println!(
        "  {what}: {got:.5}, derived {want:.5} (+-{tol}) {}",
        if ok { "ok" } else { "OFF" }
    );
    ok
}

/// The counts of a 1 GiB uniform run and of a footprint the L1 DTLB holds, against
/// their derivations.
fn check() -> bool {
    let n = 2_000_000;
    let r = uniform::<Model>(GIB, 1, n);
    report("check walk (1 GiB)", n, &r);
    let s = &r.0;
    let frac = |x: u64| x as f64 / s.accesses as f64;
    // 1 GiB = 262,144 pages, 2,048 per STLB set (128 sets). Uniform accesses make the
    // next page independent of what the STLB holds: it hits iff it is one of the 12
    // pages its set holds, 12/2048 = 1536/262144 = 0.586% (plus at most the 64 L1 DTLB
    // pages the STLB lost, 0.024%). Standard deviation over 1 M accesses: 0.008%.
    let stlb_hits = 1536.0 / 262144.0;
    let mut ok = near("STLB hit fraction", 1.0 - frac(s.walks), stlb_hits, 0.0005);
    // The footprint spans one PML4 and one PDPT entry, so after warm-up every walk hits
    // those walk caches; its 512 PD entries fall 64 to each of the PD cache's 8 sets of
    // 4 ways: a walk starts at the PT with probability 4/64 (one read) and at the PD
    // otherwise (two reads).
    ok &= near(
        "PTE reads per walk",
        s.pte_reads.iter().sum::<u64>() as f64 / s.walks as f64,
        2.0 - 4.0 / 64.0,
        0.005,
    );
    ok &= near(
        "PDPT cache hits per walk",
        s.psc_hits[1] as f64 / s.walks as f64,
        1.0,
        0.0,
    );
    // 64 pages = the L1 DTLB's 16 sets x 4 ways exactly: after warm-up, no misses.
    let (s, _, _) = uniform::<Model>(64 * 4096, 1, 200_000);
    ok &= near(
        "64-page footprint: L1 DTLB misses",
        s.l1_misses as f64,
        0.0,
        0.0,
    );
    ok &= same(&r.0, 2_000_000, "walk 1 GiB", |n| {
        uniform::<Tuned>(GIB, 1, n)
    });
    ok &= same_as_plain(
        4_000_000,
        "hits 64 KiB",
        |n| sequential::<Model>(64 << 10, n),
        |n| sequential::<Tuned>(64 << 10, n),
    );
    for (bytes, seed, what) in [
        (64 << 20, 2, "walk 64 MiB seed 2"),
        (4 * GIB, 3, "walk 4 GiB seed 3"),
        (4 << 20, 4, "walk 4 MiB seed 4"),
        (GIB, 5, "walk 1 GiB seed 5"),
    ] {
        ok &= same_as_plain(
            1_000_000,
            what,
            |n| uniform::<Model>(bytes, seed, n),
            |n| uniform::<Tuned>(bytes, seed, n),
        );
    }
    ok & same_lru()
}

/// The tuned model's Stats of `n` accesses equal `plain`'s (the plain model's run of them).
fn same(plain: &Stats, n: u64, what: &str, tuned: impl Fn(u64) -> (Stats, f64, f64)) -> bool {
    let t = tuned(n).0;
    let ok = &t == plain;
    println!(
        "  tuned = plain, {what} x {n}: {} ({} walks)",
        if ok { "ok" } else { "OFF" },
        t.walks
    );
    if !ok {
        println!("    plain {plain:?}\n    tuned {t:?}");
    }
    ok
}

fn same_as_plain(
    n: u64,
    what: &str,
    plain: impl Fn(u64) -> (Stats, f64, f64),
    tuned: impl Fn(u64) -> (Stats, f64, f64),
) -> bool {
    same(&plain(n).0, n, what, tuned)
}

/// The tuned sets against the plain LRU, access for access, on every geometry the models
/// use, keys from a range of three times the entries (hits, misses, evictions of every
/// rank), first while the sets fill.
fn same_lru() -> bool {
    fn one<T: Tag, const W: usize, const S: usize>(rng: &mut Xoshiro256PlusPlus) -> bool {
        let mut t = Assoc::<T, (), W, S>::new();
        let mut p = Lru::<()>::new(W * S, W);
        (0..200_000).all(|_| {
            let k = below(rng.next_u64(), 3 * (W * S) as u64);
            t.access(k) == p.access(k)
        })
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let ok = one::<u32, 4, 16>(&mut rng)
        && one::<u32, 12, 128>(&mut rng)
        && one::<u32, 2, 1>(&mut rng)
        && one::<u32, 4, 1>(&mut rng)
        && one::<u32, 4, 8>(&mut rng)
        && one::<u32, 8, 64>(&mut rng)
        && one::<u32, 4, 1024>(&mut rng)
        && one::<u16, 16, 8192>(&mut rng)
        && one::<u32, 16, 4>(&mut rng)
        && one::<u32, 3, 2>(&mut rng);
    println!(
        "  tuned sets = plain LRU, access for access: {}",
        if ok { "ok" } else { "OFF" }
    );
    ok
}

/// A footprint both models can map: 8-byte aligned, at least a word, within the 16 GiB
/// of frames with room for the tables (and so every tag fits its width).
fn footprint(bytes: u64) -> u64 {
    if bytes < 8 || bytes % 8 != 0 || bytes > 15 * GIB {
        eprintln!("refmodel: footprint {bytes} is not a multiple of 8 bytes in [8, 15 GiB]");
        exit(2)
    }
    bytes
}

fn main() {
    // Quiet on a closed pipe (`refmodel walk N | head -1`), as mmusim.
    // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |a| {
            a.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("refmodel: `{a}` is not a number");
                exit(2)
            })
        })
    };
    match args.first().map(String::as_str) {
        Some("walk") => {
            let n = num(1, 2_000_000);
            report("walk", n, &uniform::<Model>(footprint(num(2, GIB)), 1, n));
        }
        Some("walk-tuned") => {
            let n = num(1, 2_000_000);
            report(
                "walk-tuned",
                n,
                &uniform::<Tuned>(footprint(num(2, GIB)), 1, n),
            );
        }
        Some("hits") => {
            let n = num(1, 20_000_000);
            report("hits", n, &sequential::<Model>(64 << 10, n));
        }
        Some("hits-tuned") => {
            let n = num(1, 20_000_000);
            report("hits-tuned", n, &sequential::<Tuned>(64 << 10, n));
        }
        Some("check") => exit(if check() { 0 } else { 1 }),
        None | Some("--bench") => {
            let w = uniform::<Model>(GIB, 1, 1_000_000);
            report("walk", 1_000_000, &w);
            let h = sequential::<Model>(64 << 10, 10_000_000);
            report("hits", 10_000_000, &h);
            let mut ok = same(&w.0, 1_000_000, "walk", |n| uniform::<Tuned>(GIB, 1, n));
            ok &= same(&h.0, 10_000_000, "hits", |n| {
                sequential::<Tuned>(64 << 10, n)
            });
            if !(ok && same_lru()) {
                exit(1)
            }
        }
        Some(other) => {
            eprintln!(
                "refmodel: unknown mode `{other}` (walk N [BYTES] | hits N | walk-tuned N [BYTES] | hits-tuned N | check)"
            );
            exit(2)
        }
    }
}
