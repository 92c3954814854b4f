//! Unit tests for the workload module. Statistical checks use fixed seeds, so
//! each is deterministic; the bounds are the ones a correct generator meets with
//! overwhelming probability for a random seed too.

use super::*;
use crate::addr::{ByteSize, PageSize};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashSet;

const BASE: u64 = 0x10_0000_0000;

fn spec(accesses: u64, generator: Generator) -> WorkloadSpec {
    WorkloadSpec {
        name: "t".into(),
        accesses,
        write_fraction: 0.0,
        instrs_per_access: 1,
        seed: 42,
        base: BASE,
        generator,
        events: Vec::new(),
    }
}

/// Drains a source with batches of `batch`, checking the batch bound.
fn collect_batched(src: &mut dyn AccessSource, batch: usize) -> Vec<Access> {
    let mut all = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        src.fill(&mut buf, batch).unwrap();
        assert!(
            buf.len() <= batch,
            "fill appended {} > max {batch}",
            buf.len()
        );
        if buf.is_empty() {
            return all;
        }
        all.extend_from_slice(&buf);
    }
}

fn collect(s: &WorkloadSpec, core: usize) -> Vec<Access> {
    collect_batched(&mut *s.source(core), 4096)
}

fn pages(refs: &str) -> Vec<u64> {
    RefList::parse(refs).unwrap().0
}

#[test]
fn refs_run_length_string_expands() {
    assert_eq!(pages("(1 2)x2 3"), vec![1, 2, 1, 2, 3]);
    assert_eq!(pages("1, 2,3  4"), vec![1, 2, 3, 4]);
    assert_eq!(pages("5x3 (1 (2)x2)x2"), vec![5, 5, 5, 1, 2, 2, 1, 2, 2]);
    assert_eq!(pages("(7 8) x 2"), vec![7, 8, 7, 8]);
    assert_eq!(pages("1 (2 3)x0 4"), vec![1, 4]);
    let long = pages("(1 1 1 1 1)x20 (1 2 3 4 5)x80");
    assert_eq!(long.len(), 500);
    assert_eq!(&long[95..105], &[1, 1, 1, 1, 1, 1, 2, 3, 4, 5]);
    for bad in [
        "(1 2",
        "1 2)",
        "1 a",
        "(1)x",
        "(1)x99999999999999",
        "99999999999999999999",
    ] {
        assert!(RefList::parse(bad).is_err(), "`{bad}` should be refused");
    }
}

/// Issue 17 item 1: an empty group repeated 2^64 - 1 times is empty at once (it used to
/// loop 2^64 times copying nothing); limits are checked before expanding, and the
/// message names the limit.
#[test]
fn refs_empty_groups_and_the_expansion_limit() {
    let start = std::time::Instant::now();
    assert_eq!(pages("1 ()x18446744073709551615"), vec![1]);
    assert_eq!(pages("()x4000000000 2 (())x18446744073709551615"), vec![2]);
    assert_eq!(pages("((3)x0)x18446744073709551615 4"), vec![4]);
    assert_eq!(pages("(()x0 5)x2"), vec![5, 5]);
    // A group repeated 0 times is measured, not expanded then dropped (200 x 16 M
    // copies before).
    let zeros = format!("{}6", "((1)x16777216)x0 ( (2 3)x8388608 )x00 ".repeat(200));
    assert_eq!(pages(&zeros), vec![6]);
    // Still checked: syntax and the limit inside a group repeated 0 times.
    assert!(RefList::parse("(1 a)x0").is_err());
    assert!(RefList::parse("((1)x16777217)x0").is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let limit = format!("{MAX_REFS} references");
    for bad in [
        "(1 2)x9000000000",
        "(1 2)x18446744073709551615",
        "((1 2)x4096)x4096",
        "1x16777217",
        "1 2x16777216",
    ] {
        let e = RefList::parse(bad).unwrap_err();
        assert!(e.contains(&limit), "`{bad}`: {e}");
    }
}

#[test]
fn refs_array_equals_string_and_addresses_follow_pages() {
    let a = WorkloadSpec::from_toml(
        "[generator]\nkind = \"refs\"\nrefs = [1, 2, 1, 2, 3]\npage_size = \"2M\"\n",
    )
    .unwrap();
    let b = WorkloadSpec::from_toml(
        "[generator]\nkind = \"refs\"\nrefs = \"(1 2)x2 3\"\npage_size = \"2M\"\n",
    )
    .unwrap();
    assert_eq!(a, b);
    assert!(a.validate().is_empty(), "{:?}", a.validate());
    let v = collect(&a, 0);
    let want: Vec<u64> = [1u64, 2, 1, 2, 3]
        .iter()
        .map(|p| a.base + p * (2 << 20))
        .collect();
    assert_eq!(v.iter().map(|x| x.vaddr).collect::<Vec<_>>(), want);

    // accesses beyond the list length repeat it
    let mut c = a.clone();
    c.accesses = 12;
    let v = collect(&c, 0);
    assert_eq!(v.len(), 12);
    assert_eq!(v[5].vaddr, want[0]);
    assert_eq!(v[11].vaddr, want[1]);
}

#[test]
fn sequential_walks_then_wraps() {
    let s = spec(
        300,
        Generator::Sequential {
            footprint: ByteSize(8192),
            stride: 64,
        },
    );
    assert!(s.validate().is_empty());
    let v = collect(&s, 0);
    for (i, a) in v.iter().enumerate() {
        assert_eq!(a.vaddr, BASE + (i as u64 % 128) * 64, "access {i}");
    }
    assert_eq!(v[128].vaddr, BASE);
}

#[test]
fn strided_restarts_at_base_when_stride_does_not_divide() {
    let s = spec(
        5,
        Generator::Strided {
            footprint: ByteSize(4096),
            stride: 3000,
        },
    );
    let v: Vec<u64> = collect(&s, 0).iter().map(|a| a.vaddr - BASE).collect();
    assert_eq!(v, vec![0, 3000, 0, 3000, 0]);
}

#[test]
fn pointer_chase_visits_every_node_once_per_lap() {
    for (n, node_size) in [(1000u64, 4096u64), (1024, 64), (1, 4096), (3, 4096)] {
        let s = spec(
            2 * n,
            Generator::PointerChase {
                footprint: ByteSize(n * node_size),
                node_size,
            },
        );
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let v = collect(&s, 0);
        let nodes: Vec<u64> = v
            .iter()
            .map(|a| {
                assert_eq!((a.vaddr - BASE) % node_size, 0);
                (a.vaddr - BASE) / node_size
            })
            .collect();
        let lap1 = &nodes[..n as usize];
        let lap2 = &nodes[n as usize..];
        let distinct: HashSet<u64> = lap1.iter().copied().collect();
        assert_eq!(distinct.len() as u64, n, "n = {n}");
        assert!(lap1.iter().all(|&x| x < n));
        assert_eq!(lap1, lap2, "n = {n}");
        if n >= 1000 {
            // The order is scattered, not the identity walk.
            let in_order = lap1.windows(2).filter(|w| w[1] == w[0] + 1).count();
            assert!(in_order < (n / 10) as usize, "{in_order} sequential steps");
        }
    }
}

/// Exact Zipf probability check through the sampler itself.
#[test]
fn zipf_rank_frequencies_match_exact_probabilities() {
    const N: u64 = 1000;
    const SAMPLES: usize = 1_000_000;
    for s in [0.8, 1.0, 1.5] {
        let z = ZipfSampler::new(N, s);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut counts = vec![0u64; N as usize + 1];
        for _ in 0..SAMPLES {
            let r = z.sample(&mut rng);
            assert!((1..=N).contains(&r), "rank {r} out of range");
            counts[r as usize] += 1;
        }
        let h: f64 = (1..=N).map(|r| (r as f64).powf(-s)).sum();
        for r in 1..=10u64 {
            let p = (r as f64).powf(-s) / h;
            let se = (p * (1.0 - p) / SAMPLES as f64).sqrt();
            let f = counts[r as usize] as f64 / SAMPLES as f64;
            assert!(
                (f - p).abs() <= 3.0 * se,
                "s = {s}, rank {r}: frequency {f}, expected {p} ± {}",
                3.0 * se
            );
        }
    }
}

#[test]
fn zipf_sampler_degenerate_cases() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let one = ZipfSampler::new(1, 1.0);
    assert!((0..1000).all(|_| one.sample(&mut rng) == 1));
    // Huge n and a steep exponent stay in range.
    let big = ZipfSampler::new(1 << 54, 3.0);
    assert!((0..1000).all(|_| (1..=1u64 << 54).contains(&big.sample(&mut rng))));
    // Unvalidated parameters neither hang nor escape the range.
    for s in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e300, 1e-300] {
        let z = ZipfSampler::new(100, s);
        assert!((0..100).all(|_| (1..=100).contains(&z.sample(&mut rng))));
    }
}

#[test]
fn zipf_addresses_in_range_and_hot_pages_scattered() {
    let granule = 4096;
    let n = 1000u64;
    let s = spec(
        200_000,
        Generator::Zipf {
            footprint: ByteSize(n * granule),
            exponent: 1.0,
            granule,
        },
    );
    assert!(s.validate().is_empty());
    let mut counts = vec![0u64; n as usize];
    for a in collect(&s, 0) {
        assert!(a.vaddr >= BASE && a.vaddr < BASE + n * granule);
        assert_eq!(a.vaddr % 8, 0);
        counts[((a.vaddr - BASE) / granule) as usize] += 1;
    }
    // The hottest page gets ~1/H(1000,1) ≈ 13.4 % of the accesses…
    let (hot, &max) = counts.iter().enumerate().max_by_key(|c| c.1).unwrap();
    assert!((max as f64 / 200_000.0 - 0.1336).abs() < 0.01, "{max}");
    // …and the ten hottest are not simply pages 0..10.
    let mut order: Vec<usize> = (0..n as usize).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    assert_eq!(order[0], hot);
    assert!(order[..10].iter().any(|&i| i >= 10), "{:?}", &order[..10]);
}

#[test]
fn uniform_in_range_aligned_and_centred() {
    let n_pages = 1u64 << 16;
    let samples = 200_000u64;
    let s = spec(
        samples,
        Generator::Uniform {
            footprint: ByteSize(n_pages * 4096),
        },
    );
    let v = collect(&s, 0);
    assert_eq!(v.len() as u64, samples);
    let mut sum = 0.0;
    for a in &v {
        assert!(a.vaddr >= BASE && a.vaddr < BASE + n_pages * 4096);
        assert_eq!(a.vaddr % 8, 0);
        sum += ((a.vaddr - BASE) / 4096) as f64;
    }
    let mean = sum / samples as f64;
    // Page index is uniform on 0..n: mean (n-1)/2, variance (n²-1)/12.
    let expect = (n_pages - 1) as f64 / 2.0;
    let sd = ((n_pages as f64).powi(2) / 12.0 / samples as f64).sqrt();
    assert!(
        (mean - expect).abs() < 5.0 * sd,
        "mean {mean}, expected {expect}"
    );
}

#[test]
fn hot_cold_share_matches() {
    let fp = 1u64 << 24;
    let samples = 200_000u64;
    let s = spec(
        samples,
        Generator::HotCold {
            footprint: ByteSize(fp),
            hot_fraction: 0.1,
            hot_access_fraction: 0.9,
        },
    );
    assert!(s.validate().is_empty());
    let hot_end = BASE + ((fp / 8) as f64 * 0.1) as u64 * 8;
    let v = collect(&s, 0);
    assert!(v
        .iter()
        .all(|a| a.vaddr >= BASE && a.vaddr < BASE + fp && a.vaddr % 8 == 0));
    let hot = v.iter().filter(|a| a.vaddr < hot_end).count() as f64;
    let p = 0.9;
    let sd = (p * (1.0 - p) / samples as f64).sqrt();
    assert!(
        (hot / samples as f64 - p).abs() < 5.0 * sd,
        "hot share {}",
        hot / samples as f64
    );
    // Both regions are actually used throughout.
    assert!(v.iter().any(|a| a.vaddr >= BASE + fp - fp / 10));
}

#[test]
fn write_fraction_gives_store_share_and_keeps_addresses() {
    let samples = 200_000u64;
    let mut s = spec(
        samples,
        Generator::Uniform {
            footprint: ByteSize(1 << 20),
        },
    );
    let loads = collect(&s, 0);
    assert!(loads.iter().all(|a| a.kind == AccessKind::Load));
    for p in [0.3, 1.0] {
        s.write_fraction = p;
        let v = collect(&s, 0);
        let stores = v.iter().filter(|a| a.kind == AccessKind::Store).count() as f64;
        let sd = (p * (1.0 - p) / samples as f64).sqrt();
        assert!(
            (stores / samples as f64 - p).abs() <= 5.0 * sd,
            "p {p}: {stores}"
        );
        assert!(v.iter().all(|a| a.kind != AccessKind::Fetch));
        // The address stream is independent of the load/store choice.
        assert!(v.iter().zip(&loads).all(|(a, b)| a.vaddr == b.vaddr));
    }
}

fn all_generators() -> Vec<Generator> {
    let fp = ByteSize(1 << 20);
    vec![
        Generator::Sequential {
            footprint: fp,
            stride: 64,
        },
        Generator::Strided {
            footprint: fp,
            stride: 4096,
        },
        Generator::Uniform { footprint: fp },
        Generator::Zipf {
            footprint: fp,
            exponent: 0.9,
            granule: 4096,
        },
        Generator::HotCold {
            footprint: fp,
            hot_fraction: 0.2,
            hot_access_fraction: 0.8,
        },
        Generator::PointerChase {
            footprint: fp,
            node_size: 64,
        },
        Generator::Refs {
            refs: RefList(vec![3, 1, 4, 1, 5, 9, 2, 6]),
            page_size: PageSize::Size4K,
        },
    ]
}

#[test]
fn deterministic_per_core_and_cores_differ() {
    for g in all_generators() {
        let mut s = spec(10_000, g.clone());
        s.write_fraction = 0.25;
        assert!(s.validate().is_empty(), "{g:?}: {:?}", s.validate());
        let a = collect(&s, 0);
        assert_eq!(a, collect(&s, 0), "{g:?}");
        assert_eq!(collect(&s, 3), collect(&s, 3), "{g:?}");
        // Every stream's load/store pattern is per core, so all cores differ.
        assert_ne!(a, collect(&s, 1), "{g:?}");
        if !matches!(
            g,
            Generator::Sequential { .. } | Generator::Strided { .. } | Generator::Refs { .. }
        ) {
            let a1: Vec<u64> = collect(&s, 1).iter().map(|x| x.vaddr).collect();
            let a0: Vec<u64> = a.iter().map(|x| x.vaddr).collect();
            assert_ne!(a0, a1, "{g:?}: addresses should differ per core");
        }
        let mut t = s.clone();
        t.seed += 1;
        if !matches!(
            g,
            Generator::Sequential { .. } | Generator::Strided { .. } | Generator::Refs { .. }
        ) {
            assert_ne!(a, collect(&t, 0), "{g:?}: seed should matter");
        }
    }
}

#[test]
fn instrs_field_and_exact_count_with_odd_batches() {
    for g in all_generators() {
        let mut s = spec(10_007, g.clone());
        s.instrs_per_access = 7;
        for batch in [1, 3, 1000, 1 << 20] {
            let v = collect_batched(&mut *s.source(2), batch);
            assert_eq!(v.len(), 10_007, "{g:?}, batch {batch}");
            assert!(v.iter().all(|a| a.instrs == 7));
        }
        // An ended stream stays ended; max = 0 appends nothing.
        let mut src = s.source(0);
        let mut buf = Vec::new();
        src.fill(&mut buf, 0).unwrap();
        assert!(buf.is_empty());
        src.fill(&mut buf, 20_000).unwrap();
        assert_eq!(buf.len(), 10_007);
        buf.clear();
        src.fill(&mut buf, 20_000).unwrap();
        assert!(buf.is_empty());
    }
    // refs with accesses omitted: exactly one pass.
    let s =
        WorkloadSpec::from_toml("[generator]\nkind = \"refs\"\nrefs = \"(1 2 3)x4\"\n").unwrap();
    assert_eq!(s.accesses, 0);
    assert_eq!(collect(&s, 0).len(), 12);
}

#[test]
fn toml_defaults_and_round_trip() {
    let s = WorkloadSpec::from_toml(
        "accesses = 100\n[generator]\nkind = \"zipf\"\nfootprint = \"64GiB\"\nexponent = 0.99\n",
    )
    .unwrap();
    assert_eq!(s.name, "workload");
    assert_eq!(s.base, 0x10_0000_0000);
    assert_eq!(s.instrs_per_access, 1);
    assert_eq!(s.write_fraction, 0.0);
    assert_eq!(
        s.generator,
        Generator::Zipf {
            footprint: ByteSize(64 << 30),
            exponent: 0.99,
            granule: 4096
        }
    );
    assert!(s.validate().is_empty());
    let back = WorkloadSpec::from_toml(&toml::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);

    let p = WorkloadSpec::from_toml(
        "accesses = 1\n[generator]\nkind = \"pointer_chase\"\nfootprint = 8192\n",
    )
    .unwrap();
    assert_eq!(
        p.generator,
        Generator::PointerChase {
            footprint: ByteSize(8192),
            node_size: 64
        }
    );
    let h = WorkloadSpec::from_toml(
        "accesses = 1\n[generator]\nkind = \"hot_cold\"\nfootprint = \"1MiB\"\nhot_fraction = 0.1\nhot_access_fraction = 0.9\n",
    )
    .unwrap();
    assert!(matches!(h.generator, Generator::HotCold { .. }));
}

#[test]
fn unknown_keys_are_refused() {
    let gen_key = "accesses = 1\n[generator]\nkind = \"uniform\"\nfootprint = 4096\nfoo = 1\n";
    let e = WorkloadSpec::from_toml(gen_key).unwrap_err();
    assert!(e.contains("foo"), "{e}");
    // Same for a variant with defaulted fields, and at the top level.
    let e = WorkloadSpec::from_toml(
        "accesses = 1\n[generator]\nkind = \"sequential\"\nfootprint = 4096\nstrde = 8\n",
    )
    .unwrap_err();
    assert!(e.contains("strde"), "{e}");
    let e =
        WorkloadSpec::from_toml("acesses = 1\n[generator]\nkind = \"uniform\"\nfootprint = 4096\n")
            .unwrap_err();
    assert!(e.contains("acesses"), "{e}");
    // A field that belongs to another generator kind is unknown here.
    assert!(WorkloadSpec::from_toml(
        "accesses = 1\n[generator]\nkind = \"uniform\"\nfootprint = 4096\nexponent = 1.0\n"
    )
    .is_err());
    assert!(WorkloadSpec::from_toml("accesses = 1\n[generator]\nkind = \"bogus\"\n").is_err());
    // The control: the same text without the stray key is accepted.
    assert!(WorkloadSpec::from_toml(
        "accesses = 1\n[generator]\nkind = \"uniform\"\nfootprint = 4096\n"
    )
    .is_ok());
}

fn errors_for(s: &WorkloadSpec) -> Vec<String> {
    s.validate().into_iter().map(|(k, _)| k).collect()
}

/// Turns a valid spec into one with exactly one bad field.
type Breaker = Box<dyn Fn(&mut WorkloadSpec)>;

#[test]
fn validate_names_the_bad_key() {
    let cases: Vec<(Breaker, &str)> = vec![
        (Box::new(|s| s.accesses = 0), "accesses"),
        (Box::new(|s| s.write_fraction = 1.5), "write_fraction"),
        (Box::new(|s| s.write_fraction = f64::NAN), "write_fraction"),
        (Box::new(|s| s.instrs_per_access = 0), "instrs_per_access"),
        (Box::new(|s| s.base = 0x1000), "base"),
        (Box::new(|s| s.base = 1 << 57), "base"),
        (
            Box::new(|s| {
                s.generator = Generator::Uniform {
                    footprint: ByteSize(100),
                }
            }),
            "generator.footprint",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Uniform {
                    footprint: ByteSize(6000),
                }
            }),
            "generator.footprint",
        ),
        (
            Box::new(|s| {
                s.base = (1 << 57) - (1 << 30);
                s.generator = Generator::Uniform {
                    footprint: ByteSize(2 << 30),
                }
            }),
            "generator.footprint",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Uniform {
                    footprint: ByteSize(u64::MAX - 4095),
                }
            }),
            "generator.footprint",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Sequential {
                    footprint: ByteSize(4096),
                    stride: 0,
                }
            }),
            "generator.stride",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Strided {
                    footprint: ByteSize(4096),
                    stride: 8192,
                }
            }),
            "generator.stride",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Zipf {
                    footprint: ByteSize(1 << 20),
                    exponent: 0.0,
                    granule: 4096,
                }
            }),
            "generator.exponent",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Zipf {
                    footprint: ByteSize(1 << 20),
                    exponent: f64::INFINITY,
                    granule: 4096,
                }
            }),
            "generator.exponent",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Zipf {
                    footprint: ByteSize(1 << 20),
                    exponent: 1.0,
                    granule: 3000,
                }
            }),
            "generator.granule",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Zipf {
                    footprint: ByteSize(1 << 20),
                    exponent: 1.0,
                    granule: 4,
                }
            }),
            "generator.granule",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Zipf {
                    footprint: ByteSize(1 << 20),
                    exponent: 1.0,
                    granule: 1 << 21,
                }
            }),
            "generator.granule",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::HotCold {
                    footprint: ByteSize(1 << 20),
                    hot_fraction: 1.0,
                    hot_access_fraction: 0.5,
                }
            }),
            "generator.hot_fraction",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::HotCold {
                    footprint: ByteSize(1 << 20),
                    hot_fraction: 0.5,
                    hot_access_fraction: -0.1,
                }
            }),
            "generator.hot_access_fraction",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::PointerChase {
                    footprint: ByteSize(1 << 20),
                    node_size: 4,
                }
            }),
            "generator.node_size",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::PointerChase {
                    footprint: ByteSize(1 << 20),
                    node_size: 3000,
                }
            }),
            "generator.node_size",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::PointerChase {
                    footprint: ByteSize(1 << 20),
                    node_size: 0,
                }
            }),
            "generator.node_size",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Refs {
                    refs: RefList(vec![]),
                    page_size: PageSize::Size4K,
                }
            }),
            "generator.refs",
        ),
        (
            Box::new(|s| {
                s.generator = Generator::Refs {
                    refs: RefList(vec![1, u64::MAX]),
                    page_size: PageSize::Size4K,
                }
            }),
            "generator.refs",
        ),
    ];
    for (i, (break_it, key)) in cases.iter().enumerate() {
        let mut s = spec(
            10,
            Generator::Uniform {
                footprint: ByteSize(1 << 20),
            },
        );
        assert!(s.validate().is_empty());
        break_it(&mut s);
        assert_eq!(errors_for(&s), vec![key.to_string()], "case {i}");
        // Invalid specs still produce a stream without panicking or hanging.
        let mut src = s.source(0);
        let mut buf = Vec::new();
        src.fill(&mut buf, 100).unwrap();
    }
    // Every valid generator passes, and messages explain the footprint rule.
    for g in all_generators() {
        assert!(spec(1, g).validate().is_empty());
    }
    let s = spec(
        1,
        Generator::Uniform {
            footprint: ByteSize(100),
        },
    );
    assert!(s.validate()[0].1.contains("4096"));
}

/// Generation throughput, release mode: `cargo test --release -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    for g in all_generators() {
        let s = spec(100_000_000, g.clone());
        let mut src = s.source(0);
        let mut buf = Vec::with_capacity(4096);
        let t = std::time::Instant::now();
        let mut n = 0u64;
        let mut sink = 0u64;
        loop {
            buf.clear();
            src.fill(&mut buf, 4096).unwrap();
            if buf.is_empty() {
                break;
            }
            n += buf.len() as u64;
            sink ^= buf[buf.len() - 1].vaddr;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{:>60}: {:7.1} M accesses/s ({sink:x})",
            format!("{g:?}").chars().take(60).collect::<String>(),
            n as f64 / secs / 1e6
        );
    }
}
