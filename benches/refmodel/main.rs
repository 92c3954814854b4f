//! The reference model of issue 21 as a plain binary (`model.rs` is the model): the
//! walk-heavy and hit-heavy steady states that `scripts/walk_speed.sh` measures mmusim
//! against, and a sanity check of the model's counts against their derivations.
//!
//! ```text
//! cargo build --release --bench refmodel    (then run target/release/deps/refmodel-*)
//! refmodel walk N [FOOTPRINT]   uniform 8-byte reads over FOOTPRINT bytes (1 GiB), data through the caches
//! refmodel hits N               sequential, stride 64, over 64 KiB, translation only
//! refmodel check                the counts against their derivations; exit 1 if off
//! ```
//!
//! Every page is mapped before the clock starts. Counts cover the second half of the
//! accesses (the first half warms the TLBs and caches, as mmusim's default warm-up);
//! the rate covers all of them. `cargo bench` (`--bench`) and `cargo test --benches`
//! (no arguments) run a short `walk` and `hits`.

mod model;

use model::{below, Model, PageTable, Stats};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::process::exit;
use std::time::Instant;

/// mmusim's default workload base (64 GiB: 1 GiB aligned, PML4 entry 0, PDPT entry 64).
const BASE: u64 = 0x10_0000_0000;
const GIB: u64 = 1 << 30;

/// Run `n` accesses from `next`, counting the second half only; (stats, seconds of
/// the access loop, seconds of the set-up).
fn run(bytes: u64, data_caches: bool, n: u64, mut next: impl FnMut() -> u64) -> (Stats, f64, f64) {
    let t0 = Instant::now();
    let mut m = Model::new(PageTable::map(BASE, bytes, 1), data_caches);
    let t1 = Instant::now();
    for i in 0..n {
        if i == n / 2 {
            m.stats = Stats::default();
        }
        m.access(next());
    }
    let t2 = Instant::now();
    (m.stats, (t2 - t1).as_secs_f64(), (t1 - t0).as_secs_f64())
}

fn uniform(bytes: u64, n: u64) -> (Stats, f64, f64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    run(bytes, true, n, move || {
        BASE + (below(rng.next_u64(), bytes / 8) << 3)
    })
}

fn sequential(bytes: u64, n: u64) -> (Stats, f64, f64) {
    let mut off = 0;
    run(bytes, false, n, move || {
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
    let r = uniform(GIB, n);
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
    let (s, _, _) = uniform(64 * 4096, 200_000);
    ok &= near(
        "64-page footprint: L1 DTLB misses",
        s.l1_misses as f64,
        0.0,
        0.0,
    );
    ok
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
            report("walk", n, &uniform(num(2, GIB), n));
        }
        Some("hits") => {
            let n = num(1, 20_000_000);
            report("hits", n, &sequential(64 << 10, n));
        }
        Some("check") => exit(if check() { 0 } else { 1 }),
        None | Some("--bench") => {
            report("walk", 1_000_000, &uniform(GIB, 1_000_000));
            report("hits", 10_000_000, &sequential(64 << 10, 10_000_000));
        }
        Some(other) => {
            eprintln!("refmodel: unknown mode `{other}` (walk N [BYTES] | hits N | check)");
            exit(2)
        }
    }
}
