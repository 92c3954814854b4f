//! Working set, VMIN, lifetime curves and fixed-memory replacement against independent
//! brute force: WS by building every window W(t,T), VMIN by a tick-by-tick residency
//! simulation, each replacement policy by a plain vector implementation (O(frames) per
//! step), on hundreds of seeded random strings; plus hand-derived values (the exam string
//! of issue 5, Belady's anomaly, a lifetime knee).

use mmusim::analysis::lifetime::{knee, lifetime, lifetime_svg};
use mmusim::analysis::replace::{fault_svg, fault_table, faults, Policy};
use mmusim::analysis::ws::{distances, ws_vmin_all, ws_vmin_at};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::VecDeque;

/// A seeded random reference string with its alphabet size: uniform, phases of small
/// working sets, loops with jumps, or a random walk with jumps.
fn random_string(seed: u64, max_len: u64, max_alpha: u64) -> (Vec<u32>, usize) {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n = (r.next_u64() % (max_len + 1)) as usize;
    let alpha = 1 + r.next_u64() % max_alpha;
    let mut out = Vec::with_capacity(n);
    match seed % 4 {
        0 => (0..n).for_each(|_| out.push((r.next_u64() % alpha) as u32)),
        1 => {
            while out.len() < n {
                let w = 1 + r.next_u64() % alpha.min(6);
                let base = r.next_u64() % alpha;
                for _ in 0..5 + r.next_u64() % 30 {
                    out.push(((base + r.next_u64() % w) % alpha) as u32);
                }
            }
            out.truncate(n);
        }
        2 => {
            while out.len() < n {
                let len = 1 + r.next_u64() % alpha;
                let base = r.next_u64() % alpha;
                for _ in 0..1 + r.next_u64() % 4 {
                    (0..len).for_each(|i| out.push(((base + i) % alpha) as u32));
                }
            }
            out.truncate(n);
        }
        _ => {
            let mut cur = 0;
            for _ in 0..n {
                let x = r.next_u64();
                cur = if x % 5 == 0 {
                    x >> 8
                } else {
                    cur + (x >> 40) % 3
                } % alpha;
                out.push(cur as u32);
            }
        }
    }
    (out, alpha as usize)
}

/// Distinct pages among ids[lo..hi].
fn distinct_in(ids: &[u32], lo: usize, hi: usize) -> usize {
    let mut v = ids[lo..hi].to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// (faults, sum over t of |W(t,T)|) by building every window (t 0-based: the window
/// ending at t is ids[t+1-T ..= t], clipped at 0) and counting its distinct pages.
fn ws_brute(ids: &[u32], alpha: usize, t: usize) -> (u64, u64) {
    let mut faults = 0;
    let mut space = 0;
    let mut mark = vec![usize::MAX; alpha]; // mark[p] = i: p already counted in window i
    for i in 0..ids.len() {
        let prev = &ids[i.saturating_sub(t)..i]; // W(i-1, T)
        if !prev.contains(&ids[i]) {
            faults += 1;
        }
        for &p in &ids[(i + 1).saturating_sub(t)..=i] {
            if mark[p as usize] != i {
                mark[p as usize] = i;
                space += 1;
            }
        }
    }
    (faults, space)
}

/// (faults, resident page-time) of VMIN(T), tick by tick with a resident set.
fn vmin_brute(ids: &[u32], alpha: usize, t: usize) -> (u64, u64) {
    let mut resident = vec![false; alpha];
    let (mut faults, mut space) = (0, 0);
    for (i, &p) in ids.iter().enumerate() {
        if !resident[p as usize] {
            faults += 1;
            resident[p as usize] = true;
        }
        space += resident.iter().filter(|&&r| r).count() as u64;
        let next = ids[i + 1..].iter().position(|&q| q == p).map(|d| d + 1);
        if !matches!(next, Some(d) if d <= t) {
            resident[p as usize] = false;
        }
    }
    (faults, space)
}

#[test]
fn ws_and_vmin_equal_window_counting_and_residency_simulation_for_every_t() {
    for seed in 0..300 {
        let (ids, alpha) = random_string(seed, 90, 20);
        let k = ids.len();
        let t_max = k as u64 + 3;
        let c = ws_vmin_all(&ids, alpha, t_max);
        assert_eq!(c.t, (1..=t_max).collect::<Vec<_>>());
        for (i, &t) in c.t.iter().enumerate() {
            let (f, s) = ws_brute(&ids, alpha, t as usize);
            let (vf, vs) = vmin_brute(&ids, alpha, t as usize);
            let ctx = format!("seed {seed} K {k} T {t}");
            assert_eq!(c.faults[i], f, "WS faults, {ctx}");
            assert_eq!(c.ws_space_time[i], s, "WS space-time, {ctx}");
            assert_eq!(vf, f, "VMIN faults = WS faults, {ctx}");
            assert_eq!(c.vmin_space_time[i], vs, "VMIN space-time, {ctx}");
            if k > 0 {
                assert_eq!(c.ws_mean[i], s as f64 / k as f64, "{ctx}");
                assert_eq!(c.vmin_mean[i], vs as f64 / k as f64, "{ctx}");
                // Every reference holds at least its own page under VMIN.
                assert!(c.vmin_mean[i] >= 1.0, "{ctx}");
            }
            assert!(c.vmin_mean[i] <= c.ws_mean[i], "VMIN <= WS, {ctx}");
        }
    }
}

#[test]
fn a_list_of_window_sizes_agrees_with_brute_force_on_longer_strings() {
    for seed in 0..8 {
        let (ids, alpha) = random_string(1000 + seed, 1500, 200);
        let k = ids.len() as u64;
        // Unsorted, repeated, zero and beyond K.
        let ts = [100, 1, 0, 7, 600, 7, k, k + 50, 3];
        let c = ws_vmin_at(&ids, alpha, &ts);
        assert_eq!(c.t, ts);
        for (i, &t) in ts.iter().enumerate() {
            let (f, s) = ws_brute(&ids, alpha, t as usize);
            let (_, vs) = vmin_brute(&ids, alpha, t as usize);
            assert_eq!(
                (c.faults[i], c.ws_space_time[i], c.vmin_space_time[i]),
                (f, s, vs),
                "seed {seed} K {k} T {t}"
            );
        }
        // A histogram cut short answers every T up to its cap the same way.
        let d = distances(&ids, alpha, 50);
        let short: Vec<u64> = (0..=50).collect();
        let full = ws_vmin_at(&ids, alpha, &short);
        assert_eq!(d.curve(&short), full);
    }
}

#[test]
fn backward_distance_histogram_counts_every_reference_once() {
    for seed in 0..100 {
        let (ids, alpha) = random_string(seed, 200, 30);
        let d = distances(&ids, alpha, 40);
        // Brute force: distance to the previous occurrence, by scanning back.
        let mut want = vec![0u64; d.counts.len()];
        let (mut first, mut beyond) = (0, 0);
        for i in 0..ids.len() {
            match ids[..i].iter().rev().position(|&q| q == ids[i]) {
                None => first += 1,
                Some(j) if j < 40 => want[j + 1] += 1,
                Some(_) => beyond += 1,
            }
        }
        assert_eq!((d.first, d.beyond), (first, beyond), "seed {seed}");
        assert_eq!(d.counts, want, "seed {seed}");
        assert_eq!(
            d.tails.iter().sum::<u64>() + d.tails_beyond,
            d.first,
            "one tail per page, seed {seed}"
        );
    }
}

/// Issue 5's exam, Problem 1: 20 x "1 1 1 1 1", 40 x "1 2 3 4 5 1 2 3 4 5", 20 x
/// "1 1 1 1 1", 40 x "1 2 3 4 5 1 2 3 4 5"; K = 1000.
fn exam_string() -> Vec<u32> {
    let mut s = Vec::new();
    for _ in 0..2 {
        s.extend(std::iter::repeat_n(0u32, 100));
        for _ in 0..80 {
            s.extend([0u32, 1, 2, 3, 4]);
        }
    }
    s
}

#[test]
fn exam_problem_1_working_set_and_vmin_by_hand() {
    // Phases (t from 1): A = t 1..100 all page 1; B = 101..500 the cycle 1..5;
    // C = 501..600 all 1; D = 601..1000 the cycle.
    // Backward distances:
    //   A: t=1 first; t=2..100 d=1 (99).
    //   B: t=101 (page 1, last at 100) d=1; t=102..105 first refs of 2..5; 106..500 d=5 (395).
    //   C: t=501 page 1, last at 496 (the last 1 of B), d=5; 502..600 d=1 (99).
    //   D: t=601 d=1; t=602..605 pages 2..5, last at 497..500, d=105 (4); 606..1000 d=5
    //      (395).
    //   Histogram: first 5, d=1: 200, d=5: 791, d=105: 4 (sum 1000).
    // F(T) = refs with d > T: T=1..4: 5+791+4 = 800; T=5..104: 5+4 = 9; T>=105: 5.
    // Tails (K - t_last + 1): pages 1..5 last at 996..1000 -> 5,4,3,2,1.
    // S(T) = 200*min(1,T) + 791*min(5,T) + 4*min(105,T) + sum_e min(e,T):
    //   T=1: 200+791+4+5 = 1000            m = 1.000
    //   T=2: 200+1582+8+9 = 1799           m = 1.799  (check: 799 adjacent changes + 1000)
    //   T=3: 200+2373+12+12 = 2597         m = 2.597
    //   T=4: 200+3164+16+14 = 3394         m = 3.394
    //   T=5: 200+3955+20+15 = 4190         m = 4.190
    //   T=6: 4194, T=7: 4198, T=8: 4202    (only the four d=105 gaps still grow)
    //   T=110: 200+3955+420+15 = 4590      m = 4.590
    // VMIN V(T) = K + sum over d <= T of (d-1): T=1..4: 1000; T=5..104: 1000+791*4 = 4164;
    //   T=110: 4164 + 4*104 = 4580.
    let s = exam_string();
    assert_eq!(s.len(), 1000);
    let ts = [1, 2, 3, 4, 5, 6, 7, 8, 110];
    let c = ws_vmin_at(&s, 5, &ts);
    assert_eq!(c.faults, vec![800, 800, 800, 800, 9, 9, 9, 9, 5]);
    assert_eq!(
        c.ws_space_time,
        vec![1000, 1799, 2597, 3394, 4190, 4194, 4198, 4202, 4590]
    );
    assert_eq!(c.ws_mean[1], 1.799);
    assert_eq!(c.ws_mean[8], 4.59);
    assert_eq!(
        c.vmin_space_time,
        vec![1000, 1000, 1000, 1000, 4164, 4164, 4164, 4164, 4580]
    );
    let d = distances(&s, 5, 200);
    assert_eq!(
        (d.first, d.counts[1], d.counts[5], d.counts[105]),
        (5, 200, 791, 4)
    );
    assert_eq!(d.counts.iter().sum::<u64>() + d.first + d.beyond, 1000);

    // Fixed memory on the same string. LRU stack distances: first 5, 1 for the 200
    // immediate repeats, 5 for the other 795 (the cycles, t=501 and t=602..605 included),
    // so LRU faults 800 for m = 1..4 and 5 for m = 5. FIFO and Clock fault on exactly the
    // same references here: memory never holds the whole cycle for m < 5, and in the
    // runs of 1s the page stays.
    let frames = [1, 2, 3, 4, 5];
    let pol = [Policy::Lru, Policy::Fifo, Policy::Clock, Policy::Opt];
    let t = fault_table(&s, 5, &frames, &pol, 7);
    for row in &t[..3] {
        assert_eq!(row, &vec![800, 800, 800, 800, 5]);
    }
    // MIN faults fewer than LRU with 2..4 frames on the cycles, the same with 1 and 5.
    assert_eq!((t[3][0], t[3][4]), (800, 5));
    assert!(t[3][1..4].iter().all(|&f| f < 800));
}

// ---- fixed-memory replacement against naive vector implementations ----

fn fifo_naive(ids: &[u32], n: usize) -> u64 {
    let mut q: VecDeque<u32> = VecDeque::new();
    let mut f = 0;
    for &p in ids {
        if !q.contains(&p) {
            f += 1;
            if q.len() == n {
                q.pop_front();
            }
            q.push_back(p);
        }
    }
    f
}

fn lru_naive(ids: &[u32], n: usize) -> u64 {
    let mut v: Vec<u32> = Vec::new(); // least recent first
    let mut f = 0;
    for &p in ids {
        match v.iter().position(|&q| q == p) {
            Some(i) => {
                v.remove(i);
            }
            None => {
                f += 1;
                if v.len() == n {
                    v.remove(0);
                }
            }
        }
        v.push(p);
    }
    f
}

/// Second chance as a queue: the front page leaves if its bit is clear, otherwise it goes
/// to the back with the bit cleared (the queue formulation of the clock).
fn clock_naive(ids: &[u32], n: usize) -> u64 {
    let mut q: VecDeque<(u32, bool)> = VecDeque::new();
    let mut f = 0;
    for &p in ids {
        if let Some(e) = q.iter_mut().find(|e| e.0 == p) {
            e.1 = true;
            continue;
        }
        f += 1;
        if q.len() == n {
            loop {
                let (page, used) = q.pop_front().unwrap();
                if !used {
                    break;
                }
                q.push_back((page, false));
            }
        }
        q.push_back((p, true));
    }
    f
}

fn opt_naive(ids: &[u32], n: usize) -> u64 {
    let mut v: Vec<u32> = Vec::new();
    let mut f = 0;
    for (i, &p) in ids.iter().enumerate() {
        if v.contains(&p) {
            continue;
        }
        f += 1;
        if v.len() == n {
            // Farthest next use; never again counts as infinitely far.
            let far = |q: u32| {
                ids[i + 1..]
                    .iter()
                    .position(|&x| x == q)
                    .unwrap_or(usize::MAX)
            };
            let victim = (0..v.len()).max_by_key(|&j| far(v[j])).unwrap();
            v.swap_remove(victim);
        }
        v.push(p);
    }
    f
}

fn check_policies(ids: &[u32], alpha: usize, frames: &[usize], ctx: &str) {
    let k = ids.len() as u64;
    let distinct = distinct_in(ids, 0, ids.len()) as u64;
    let t = fault_table(ids, alpha, frames, &Policy::ALL, 42);
    for (j, &n) in frames.iter().enumerate() {
        let c = format!("{ctx} frames {n}");
        let [fifo, lru, clock, random, opt] = [0, 1, 2, 3, 4].map(|i| t[i][j]);
        assert_eq!(fifo, fifo_naive(ids, n), "FIFO {c}");
        assert_eq!(lru, lru_naive(ids, n), "LRU {c}");
        assert_eq!(clock, clock_naive(ids, n), "Clock {c}");
        assert_eq!(opt, opt_naive(ids, n), "OPT {c}");
        // Random: reproducible, never better than OPT, never more than K.
        assert_eq!(random, faults(ids, alpha, n, Policy::Random, 42), "{c}");
        assert!((opt..=k).contains(&random), "Random {random} {c}");
        for f in [fifo, lru, clock, random] {
            assert!(opt <= f, "OPT {opt} > {f} {c}");
        }
        if n >= alpha {
            // Every page fits: compulsory faults only, whatever the policy.
            assert!(
                [fifo, lru, clock, random, opt]
                    .iter()
                    .all(|&f| f == distinct),
                "{c}"
            );
        }
        // The table is the single calls.
        for (i, p) in Policy::ALL.iter().enumerate() {
            assert_eq!(t[i][j], faults(ids, alpha, n, *p, 42), "{p} {c}");
        }
        if j > 0 && frames[j - 1] <= n {
            // Stack algorithms: more frames never fault more.
            assert!(lru <= t[1][j - 1] && opt <= t[4][j - 1], "inclusion {c}");
        }
    }
}

#[test]
fn replacement_policies_equal_naive_implementations_on_random_strings() {
    for seed in 0..300 {
        let (ids, alpha) = random_string(seed, 300, 25);
        let frames: Vec<usize> = (1..=alpha + 1).collect();
        check_policies(&ids, alpha, &frames, &format!("seed {seed}"));
    }
}

#[test]
fn replacement_policies_equal_naive_implementations_on_long_strings() {
    // Long enough for OPT's heap to be rebuilt many times (it is rebuilt past
    // 2 x resident + 1024 entries) and for the clock hand to wrap often.
    for seed in 0..4 {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(5000 + seed);
        let mut cur = 0u64;
        let ids: Vec<u32> = (0..6000)
            .map(|_| {
                let x = r.next_u64();
                cur = if x % 7 == 0 {
                    x >> 8
                } else {
                    cur + (x >> 40) % 5
                } % 150;
                cur as u32
            })
            .collect();
        check_policies(
            &ids,
            150,
            &[1, 3, 10, 40, 100, 149, 150],
            &format!("long {seed}"),
        );
    }
}

#[test]
fn random_replacement_depends_only_on_the_seed() {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(9);
    let (ids, alpha): (Vec<u32>, usize) =
        ((0..2000).map(|_| (r.next_u64() % 40) as u32).collect(), 40);
    let a = faults(&ids, alpha, 10, Policy::Random, 1);
    assert_eq!(a, faults(&ids, alpha, 10, Policy::Random, 1));
    // Different seeds choose different victims (and here different counts).
    let others: Vec<u64> = (2..12)
        .map(|s| faults(&ids, alpha, 10, Policy::Random, s))
        .collect();
    assert!(others.iter().any(|&f| f != a), "{a} {others:?}");
}

#[test]
fn beladys_anomaly_fifo_faults_more_with_more_frames() {
    // Belady, Nelson and Shedler (1969): 1,2,3,4,1,2,5,1,2,3,4,5.
    let s: Vec<u32> = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5].map(|p| p - 1).to_vec();
    let t = fault_table(&s, 5, &[3, 4], &[Policy::Fifo, Policy::Lru], 0);
    assert_eq!(t[0], vec![9, 10]);
    // LRU is a stack algorithm and cannot show the anomaly: 10 with 3 frames, 8 with 4.
    assert_eq!(t[1], vec![10, 8]);
    let svg = fault_svg("Belady", &[3, 4], &[Policy::Fifo, Policy::Lru], &t);
    assert_eq!(svg.matches("<path").count(), 2);
    assert_eq!(svg.matches("<circle").count(), 4 + 2); // + the legend's dots
    assert!(svg.contains(">FIFO<") && svg.contains("FIFO: (4, 10)"));
}

#[test]
fn lifetime_is_k_over_faults_and_its_knee_is_the_tangent_from_the_origin() {
    // K = 1000. Faults at x = 1..6: 100, 50, 10, 9, 8, 0.
    // L = 10, 20, 100, 111.1.., 125, (infinite, dropped); L/x = 10, 10, 33.3.., 27.7..,
    // 25: the knee is (3, 100).
    let pts = [
        (1.0, 100),
        (2.0, 50),
        (3.0, 10),
        (4.0, 9),
        (5.0, 8),
        (6.0, 0),
    ];
    let l = lifetime(1000, &pts);
    assert_eq!(l.len(), 5);
    assert_eq!(&l[..3], &[(1.0, 10.0), (2.0, 20.0), (3.0, 100.0)]);
    assert_eq!(l[3], (4.0, 1000.0 / 9.0));
    assert_eq!(knee(&l), Some((3.0, 100.0)));
    // Order does not matter.
    let mut rev = l.clone();
    rev.reverse();
    assert_eq!(knee(&rev), Some((3.0, 100.0)));

    // WS on the exam string: points (m(T), F(T)) for T = 1..8 and 110 (hand values
    // above): L = 1000/800 = 1.25 for T <= 4, 1000/9 for T = 5..8, 200 at T = 110.
    // L/m: 1.25, 0.69, ..; 111.1/4.19 = 26.52 (T=5) beats 111.1/4.194 and 200/4.59 =
    // 43.57 beats both: the knee is T = 110, (4.59, 200).
    let c = ws_vmin_at(&exam_string(), 5, &[1, 2, 3, 4, 5, 6, 7, 8, 110]);
    let lw = lifetime(c.k, &c.ws_points());
    assert_eq!(lw[0], (1.0, 1.25));
    assert_eq!(knee(&lw), Some((4.59, 200.0)));
    let svg = lifetime_svg(
        "lifetime",
        &[
            ("WS", lw, false),
            ("VMIN", lifetime(c.k, &c.vmin_points()), false),
        ],
        true,
    );
    // Variable-space curves are points (9 each: circles for WS, squares for VMIN), no
    // joining line.
    assert_eq!(svg.matches("<path").count(), 0);
    // + the legend's WS swatch and one ring: the knees (4.59, 200) and (4.58, 200) are
    // under a pixel apart and share it.
    assert_eq!(svg.matches("<circle").count(), 9 + 1 + 1);
    assert!(svg.contains("WS knee (4.59, 200.00)"), "{svg}");
}
