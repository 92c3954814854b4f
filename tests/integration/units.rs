//! Units of byte sizes and page sizes, end to end: decimal KB/MB/GB/TB are powers of
//! ten (refused with a hint where a binary size is needed), KiB/MiB/GiB/TiB and the
//! short K/M/G/T powers of two, page sizes written either way.

use mmusim::run::load_inputs;
use std::process::Command;

fn mmusim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(args)
        .output()
        .expect("run mmusim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sets(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn run_refuses_16gb_of_physical_memory_with_the_binary_hint() {
    // 16 x 10^9 bytes is no multiple of 2 MiB (2^21 does not divide 2^13 x 5^9).
    let (code, out, err) = mmusim(&[
        "run",
        "--set",
        "os.phys_mem=\"16GB\"",
        "--set",
        "workload.accesses=1000",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(
            "os.phys_mem: must be a multiple of 2 MiB from 4 MiB to 64 TiB, not 16GB (16,000,000,000 bytes; did you mean 16GiB?)"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn decimal_sizes_mean_powers_of_ten_where_they_fit() {
    // 4096KB = 4,096,000 bytes = 1000 pages of 4 KiB: a valid footprint, of 10^3 KB.
    let wl = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/default.toml");
    let inp = load_inputs(
        Some("skylake"),
        Some(wl),
        &sets(&[
            "workload.generator={kind=\"uniform\", footprint=\"4096KB\"}",
            "os.phys_mem=\"16GiB\"",
        ]),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(inp.workload.generator.footprint(), Some(4_096_000));
    assert_eq!(inp.system.os.phys_mem.0, 16 * 1024 * 1024 * 1024);
    // Not a whole number of pages: refused, with what was probably meant.
    let e = load_inputs(
        Some("skylake"),
        Some(wl),
        &sets(&["workload.generator={kind=\"uniform\", footprint=\"100KB\"}"]),
    )
    .unwrap_err();
    let e = e[0].to_string();
    assert!(
        e.contains("got 100000 (100KB is 100,000 bytes; did you mean 100KiB?)"),
        "{e}"
    );
    // A 32KB cache has 500 lines of 64 bytes: no power-of-two set count.
    let e = load_inputs(
        Some("skylake"),
        None,
        &sets(&["memory.cache[0].size=\"32KB\""]),
    )
    .unwrap_err();
    let e = e[0].to_string();
    assert!(
        e.contains("(32KB is 32,000 bytes; did you mean 32KiB?)"),
        "{e}"
    );
}

#[test]
fn the_short_units_stay_binary_so_shipped_numbers_do_not_move() {
    let a = load_inputs(Some("skylake"), None, &sets(&["os.phys_mem=\"16G\""])).unwrap();
    let b = load_inputs(Some("skylake"), None, &sets(&["os.phys_mem=\"16GiB\""])).unwrap();
    assert_eq!(a.system.os.phys_mem.0, 17_179_869_184);
    assert_eq!(b.system.os.phys_mem, a.system.os.phys_mem);
    // No shipped input writes a decimal unit, so none changed meaning.
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = Vec::new();
    let mut dirs = vec![
        format!("{root}/configs"),
        format!("{root}/workloads"),
        format!("{root}/results"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p.display().to_string());
            } else if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for unit in ["KB\"", "MB\"", "GB\"", "TB\"", "kB\""] {
            assert!(!text.contains(unit), "{} writes {unit}", f.display());
        }
    }
}

#[test]
fn page_sizes_are_written_2mib_as_well_as_2m() {
    let dir = tempfile::tempdir().unwrap();
    let run = |size: &str| {
        let out = dir.path().join(size);
        let (code, o, err) = mmusim(&[
            "run",
            "-q",
            "--out",
            out.to_str().unwrap(),
            "--set",
            &format!("os.page_size=\"{size}\""),
            "--set",
            "workload.accesses=2000",
        ]);
        assert_eq!(code, 0, "{o}{err}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap())
                .unwrap();
        json
    };
    let a = run("2MiB");
    let b = run("2M");
    // The same config: written back as "2M", the same hash and the same numbers.
    assert_eq!(a["config"]["os"]["page_size"], "2M");
    assert_eq!(a["config_hash"], b["config_hash"]);
    assert_eq!(a["stats"], b["stats"]);
    // And not the 4K run's numbers: the setting took effect.
    assert_ne!(a["stats"], run("4KiB")["stats"]);

    // Wherever a page size is read: TLB structures, a workload's page size.
    let x = load_inputs(
        Some("skylake"),
        None,
        &sets(&[
            "tlb[0].page_sizes=[\"4KiB\"]",
            "workload.generator={kind=\"refs\", refs=\"1 2 3\", page_size=\"1GiB\"}",
        ]),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(x.system.tlb[0].page_sizes, [mmusim::addr::PageSize::Size4K]);
    assert_eq!(x.workload.generator.footprint(), Some(4 << 30));
    // A decimal page size is refused, naming both spellings and the binary one meant.
    let e = load_inputs(Some("skylake"), None, &sets(&["os.page_size=\"2MB\""])).unwrap_err();
    let e = e[0].to_string();
    assert!(
        e.contains("os.page_size")
            && e.contains("4K, 2M or 1G (also written 4KiB, 2MiB, 1GiB)")
            && e.contains("did you mean 2MiB?"),
        "{e}"
    );
    // The command line's --page-size too.
    let (c1, o1, _) = mmusim(&["analyze", "--refs", "1 2 3 1", "--page-size", "2MiB"]);
    let (c2, o2, _) = mmusim(&["analyze", "--refs", "1 2 3 1", "--page-size", "2M"]);
    assert_eq!((c1, c2), (0, 0));
    assert_eq!(o1, o2);
    assert!(o1.contains("2M pages"), "{o1}");
}
