use super::*;

fn miss(vpn: u64, pc: u64) -> Miss {
    Miss {
        asid: 1,
        vpn,
        pc,
        buffer_hit: false,
    }
}

fn ask<M: Fn(u64) -> bool>(a: &mut Atp, m: Miss, mapped: &M) -> Vec<u64> {
    let mut out = Candidates::default();
    a.on_miss(&m, mapped, &mut out);
    out.as_slice().to_vec()
}

fn set(a: &mut Atp, c0: u32, c1: u32, c2: u32) {
    a.c0.v = c0;
    a.c1.v = c1;
    a.c2.v = c2;
}

/// Every row of the truth table (facts file §3, Virtuoso's `updateATPCounters`), from
/// C0 = 10, C1 = 10, C2 = 1 (none at a bound), as (pattern P0 P1 P2, C0, C1, C2 after):
/// MMM lowers C0 only; any hit raises C0, then MMH: C1-, C2+; MHM: C1-, C2-; MHH: C1-;
/// HMM: C1+; HMH: C2+; HHM: C2-; HHH: nothing more. Then the bounds: C0 at 0 stays 0 on
/// MMM; C2 (2 bits) at 3 stays 3 on MMH; C0 (8 bits) at 255 stays 255.
#[test]
fn atp_counters_follow_the_truth_table() {
    let (h, m) = (true, false);
    let rows = [
        ([m, m, m], 9, 10, 1),
        ([m, m, h], 11, 9, 2),
        ([m, h, m], 11, 9, 0),
        ([m, h, h], 11, 9, 1),
        ([h, m, m], 11, 11, 1),
        ([h, m, h], 11, 10, 2),
        ([h, h, m], 11, 10, 0),
        ([h, h, h], 11, 10, 1),
    ];
    let mut a = Atp::new(&AtpConfig::default());
    for (p, c0, c1, c2) in rows {
        set(&mut a, 10, 10, 1);
        a.update(p);
        assert_eq!((a.c0.v, a.c1.v, a.c2.v), (c0, c1, c2), "{p:?}");
    }
    set(&mut a, 0, 0, 3);
    a.update([m, m, m]);
    a.update([m, m, m]);
    assert_eq!(a.c0.v, 0);
    a.update([m, m, h]);
    assert_eq!((a.c0.v, a.c1.v, a.c2.v), (1, 0, 3));
    set(&mut a, 255, 63, 0);
    a.update([h, m, m]);
    assert_eq!((a.c0.v, a.c1.v), (255, 63));
}

/// Selection by the most significant bits (C0: 128 of 8 bits, C1: 32 of 6, C2: 2 of
/// 2): C0 below 128 is off whatever the others; then C1 >= 32 is H2P; else C2 >= 2 is
/// STP; else MASP.
#[test]
fn atp_chooses_by_the_counters_msbs() {
    let mut a = Atp::new(&AtpConfig::default());
    for (c0, c1, c2, want) in [
        (127, 63, 3, None),
        (128, 32, 0, Some(H2P)),
        (255, 31, 2, Some(STP)),
        (128, 31, 1, Some(MASP)),
        (128, 0, 3, Some(STP)),
    ] {
        set(&mut a, c0, c1, c2);
        assert_eq!(a.choose(), want, "{c0} {c1} {c2}");
    }
}

/// The children's predictions. H2P after misses 100, 103 on 104: 104 + 1 and
/// 104 + 3. MASP for PC 7: first miss 50 installs (nothing), second miss 53 predicts
/// 53 + 3 = 56 (no stride yet), third miss 54 predicts 54 + 3 (the stored stride) and
/// 54 + 1 (the new one); another PC predicts nothing. STP on 10: 8, 9, 11, 12; on 1:
/// no page below 0.
#[test]
fn atp_children_predict() {
    let mut a = Atp::new(&AtpConfig::default());
    a.h2p_a = Some(100);
    a.h2p_b = Some(103);
    assert_eq!(a.h2p(104).as_slice(), [105, 107]);
    assert_eq!(a.masp(50, 7).as_slice(), [] as [u64; 0]);
    a.train_masp(50, 7);
    assert_eq!(a.masp(53, 7).as_slice(), [56]);
    a.train_masp(53, 7);
    assert_eq!(a.masp(54, 7).as_slice(), [57, 55]);
    assert_eq!(a.masp(54, 8).as_slice(), [] as [u64; 0]);
    assert_eq!(stp(10).as_slice(), [8, 9, 11, 12]);
    assert_eq!(stp(1).as_slice(), [0, 2, 3]);
}

/// MASP's set of 4 ways (64 entries, 16 sets): PCs 0, 16, 32, 48 fill set 0; PC 64
/// replaces way 0 (PC 0, round robin), so PC 0 is forgotten and PC 16 is kept.
#[test]
fn atp_masp_replaces_round_robin() {
    let mut a = Atp::new(&AtpConfig::default());
    for pc in [0, 16, 32, 48, 64] {
        a.train_masp(1000, pc);
    }
    assert!(a.masp(1001, 0).as_slice().is_empty());
    assert_eq!(a.masp(1001, 16).as_slice(), [1002]);
    assert_eq!(a.masp(1001, 64).as_slice(), [1002]);
}

/// The warm-up on the page stream 0, 1, 2, … (one PC, every page mapped). All
/// counters start at 0. Miss 0: FPQs empty (MMM, C0 stays 0). Miss 1: only STP
/// predicted it (at miss 0: 1, 2): MMH, C0 = 1, C1 stays 0, C2 = 1. Miss 2: MASP (at
/// miss 1: 1 + (1 - 0)) and STP predicted it, H2P had no history then: MHH, C0 = 2.
/// From miss 3 on H2P (2 + 1) too: HHH, C0 = k after miss k. C0's MSB (128 of 8 bits)
/// first sets at miss 128: no candidate before it (128 misses with prefetching off),
/// then, with C1 = 0 and C2 = 1 (MSBs clear), MASP: 128 + 1 (stride and last delta
/// agree: one page). Unmapped pages never enter the FPQs.
#[test]
fn atp_warms_up_for_128_misses_then_prefetches() {
    let mut a = Atp::new(&AtpConfig::default());
    for k in 0..128 {
        assert_eq!(
            ask(&mut a, miss(k, 0), &|_| true),
            [] as [u64; 0],
            "miss {k}"
        );
        assert_eq!(a.c0.v, k as u32);
    }
    assert_eq!((a.c1.v, a.c2.v), (0, 1));
    assert_eq!(ask(&mut a, miss(128, 0), &|_| true), [129]);
    assert_eq!(a.choices, [128, 0, 1, 0]);
    assert_eq!(a.fpq_hits, [126, 127, 128]);
    // Nothing mapped: the FPQs stay empty, every miss is MMM and C0 stays 0.
    let mut b = Atp::new(&AtpConfig::default());
    for k in 0..10 {
        ask(&mut b, miss(k, 0), &|_| false);
    }
    assert_eq!((b.c0.v, b.fpq_hits), (0, [0, 0, 0]));
}

/// With `on_buffer_hits = false` a miss the buffer served is not seen at all.
#[test]
fn atp_may_skip_buffer_hits() {
    let c = AtpConfig {
        on_buffer_hits: false,
        ..AtpConfig::default()
    };
    let mut a = Atp::new(&c);
    let mut m = miss(5, 0);
    m.buffer_hit = true;
    ask(&mut a, m, &|_| true);
    assert_eq!((a.misses, a.h2p_b), (0, None));
    assert!(AtpConfig::default().problems("p").is_empty());
    let bad = AtpConfig {
        c1_bits: 0,
        masp_ways: 3,
        ..AtpConfig::default()
    };
    let keys: Vec<String> = bad.problems("p").into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["p.c1_bits", "p.masp_entries"]);
}
