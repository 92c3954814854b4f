//! Issue 17, items 12 to 14 (loading configs, workloads and specs): bounded error lists,
//! bounded input files, and messages that name what the user wrote. Each test was a
//! reproducer of the issue first; expected numbers are derived in the comments.

use std::path::Path;
use std::time::{Duration, Instant};

/// [`crate::mmusim_bounded`] here, killed after `limit`.
fn bounded(args: &[&str], stdin: &[u8], limit: Duration) -> (i32, String, String) {
    crate::mmusim_bounded(None, args, stdin, limit)
}

fn mmusim(args: &[&str]) -> (i32, String, String) {
    bounded(args, b"", Duration::from_secs(60))
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `n` level-1 data TLBs of 4K pages after `extends = "skylake"` (the file's `tlb`
/// replaces the preset's): every one after the first holds 4K pages of a level and
/// side the first already holds.
fn overlapping_tlbs(n: usize) -> String {
    let mut s = String::from("extends = \"skylake\"\n");
    for i in 0..n {
        s += &format!(
            "[[tlb]]\nname = \"t{i}\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n"
        );
    }
    s
}

/// Item 12: 1,000 overlapping TLBs printed 499,500 error lines (every pair), 2,000
/// exhausted memory. Now one error per structure that overlaps an earlier one (999 of
/// them: t1 to t999 each overlap t0), of which the first 10 are shown, then a line
/// saying how many more (999 - 10 = 989).
#[test]
fn overlapping_tlbs_give_a_capped_error_list() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "many.toml", overlapping_tlbs(1000));
    let t0 = Instant::now();
    let (code, _, err) = bounded(&["show", "-c", &f], b"", Duration::from_secs(30));
    assert_eq!(code, 2, "{}", &err[..err.len().min(2000)]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() <= 20,
        "{} lines: {:?}",
        lines.len(),
        &lines[..5]
    );
    let held: Vec<&&str> = (lines.iter())
        .filter(|l| l.contains("pages of this level and side are already held by tlb[0]"))
        .collect();
    assert_eq!(held.len(), 10, "{err}");
    // The first is the second structure's, on the line of its `page_sizes`: line 1 is
    // `extends`, each structure takes 8 lines starting at 2 + 8i, page_sizes its 7th.
    assert!(
        held[0].starts_with(&format!("error: {f}:16: tlb[1].page_sizes: 4K pages")),
        "{}",
        held[0]
    );
    assert!(
        err.contains("... and 989 more problems at tlb[*].page_sizes"),
        "{err}"
    );
    // 2,000 (4 times the pairs): still a handful of lines, still quick.
    let f = write(dir.path(), "more.toml", overlapping_tlbs(2000));
    let (code, _, err) = bounded(&["show", "-c", &f], b"", Duration::from_secs(30));
    assert_eq!(code, 2, "{}", &err[..err.len().min(2000)]);
    assert!(err.lines().count() <= 20);
    assert!(err.contains("... and 1989 more problems at tlb[*].page_sizes"));
    assert!(t0.elapsed() < Duration::from_secs(30));
}

/// Item 12, the cap is per kind: 30 structures with `ways = 0` and a duplicated name
/// give 10 of each kind, each kind followed by its count of the rest.
#[test]
fn error_cap_is_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("extends = \"skylake\"\n");
    for i in 0..30 {
        // Distinct levels 1..=30 would exceed 8; every structure at its own page size
        // is not possible either: so each is a level-1 structure of a distinct kind of
        // mistake only in `ways` and `name`.
        s += &format!(
            "[[tlb]]\nname = \"same\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 0\npage_sizes = [\"{}\"]\nlatency = 1\n",
            ["4K", "2M", "1G"][i % 3]
        );
    }
    let f = write(dir.path(), "ways.toml", s);
    let (code, _, err) = mmusim(&["show", "-c", &f]);
    assert_eq!(code, 2);
    let count = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
    // 30 zero-way structures: 10 shown, 20 more.
    assert_eq!(count(".ways: must be at least 1"), 10, "{err}");
    assert!(
        err.contains("... and 20 more problems at tlb[*].ways"),
        "{err}"
    );
    // 29 repeats of the name: 10 shown, 19 more.
    assert_eq!(count(".name: `same` is used twice"), 10, "{err}");
    assert!(
        err.contains("... and 19 more problems at tlb[*].name"),
        "{err}"
    );
    // Structures 3..29 each repeat the page size of structure i mod 3: 27, 17 more.
    assert!(
        err.contains("... and 17 more problems at tlb[*].page_sizes"),
        "{err}"
    );
}

/// Item 13: `show -c /dev/zero` grew to 5.3 GB. Non-regular files and files over
/// 1 MiB are refused before anything is read, with the limit and the size.
#[test]
fn inputs_must_be_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = bounded(&["show", "-c", "/dev/zero"], b"", Duration::from_secs(20));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
    // 1 MiB + 1 byte: one byte over the limit (sparse, so nothing is written).
    let big = d.join("big.toml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 20) + 1)
        .unwrap();
    let big = big.display().to_string();
    let over = "is 1048577 bytes, over the limit of 1048576 bytes (1 MiB) for configs, workloads and specs";
    let (code, _, err) = mmusim(&["show", "-c", &big]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{big}: {over}")), "{err}");
    // The same as a workload, a sweep spec, a study spec and an mva model.
    let (code, _, err) = mmusim(&["run", "-w", &big]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{big}: {over}")), "{err}");
    for args in [
        &["sweep", "plan", &big][..],
        &["study", &big],
        &["mva", "-c", &big],
        &["analyze", "-w", &big],
    ] {
        let (code, _, err) = mmusim(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(over), "{args:?}: {err}");
    }
    // Through `extends`: the error names the big file and the line that extends it.
    let top = write(d, "top.toml", "# top\nextends = \"big.toml\"\n");
    let (code, _, err) = mmusim(&["show", "-c", &top]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{big}: {over} (extended at {top}:2)")),
        "{err}"
    );
    // An mva model's lifetime table is an input too.
    let model = include_str!("../../configs/mva/exam-thrashing.toml").replace(
        "lifetime = \"min(0.5, 0.005*m^2)\"",
        "table = \"/dev/zero\"",
    );
    let m = write(d, "m.toml", model);
    let (code, _, err) = bounded(&["mva", "-c", &m], b"", Duration::from_secs(20));
    assert_eq!(code, 2);
    assert!(
        err.contains(": memory.table: /dev/zero: not a regular file"),
        "{err}"
    );
    let top = write(d, "dev.toml", "extends = \"/dev/zero\"\n");
    let (code, _, err) = bounded(&["show", "-c", &top], b"", Duration::from_secs(20));
    assert_eq!(code, 2);
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
}

/// Item 13: `extends` paths are relative to the file that says `extends` (a chain
/// across folders), and a cycle is refused whatever the spelling of the path.
#[test]
fn extends_chains_resolve_from_each_file_and_cycles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    let top = write(
        d,
        "top.toml",
        "extends = \"sub/mid.toml\"\n[sim]\ncores = 2\n",
    );
    write(
        d,
        "sub/mid.toml",
        "extends = \"base.toml\"\n[sim]\nseed = 9\n",
    );
    write(d, "sub/base.toml", "extends = \"zen4\"\n");
    let (code, out, err) = mmusim(&["show", "-c", &top]);
    assert_eq!(code, 0, "{err}");
    let v: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!(v["name"].as_str(), Some("zen4"));
    assert_eq!(v["sim"]["cores"].as_integer(), Some(2));
    assert_eq!(v["sim"]["seed"].as_integer(), Some(9));

    let a = write(d, "a.toml", "extends = \"sub/../b.toml\"\n");
    write(d, "b.toml", "\n\nextends = \"./a.toml\"\n");
    let (code, _, err) = mmusim(&["show", "-c", &a]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{d}/sub/../b.toml:3: extends: `./a.toml` closes a cycle: {a} extends {d}/sub/../b.toml, which extends {d}/sub/.././a.toml",
            d = d.display()
        )),
        "{err}"
    );
}

/// An error in a key set only by a file of the `extends` chain names that file and the
/// key's line there; the top file was blamed at its nearest table line (review of
/// issue 17). Lines by hand: base.toml line 3 holds `cores`, mid.toml line 2 `seed`.
#[test]
fn errors_in_extended_files_name_the_file_that_sets_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let top = write(
        d,
        "top.toml",
        "# top\nextends = \"mid.toml\"\n\n[sim]\nseed = 3\n",
    );
    write(
        d,
        "mid.toml",
        "extends = \"base.toml\"\n[walker]\nwalkers = \"two\"\n",
    );
    let base = write(d, "base.toml", "extends = \"skylake\"\n[sim]\ncores = 0\n");
    let mid = d.join("mid.toml").display().to_string();
    let (code, _, err) = mmusim(&["show", "-c", &top]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{mid}:3: walker.walkers")), "{err}");
    // Fix the type error: the range error of `cores` is blamed on base.toml.
    write(d, "mid.toml", "extends = \"base.toml\"\n");
    let (code, _, err) = mmusim(&["show", "-c", &top]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{base}:3: sim.cores")), "{err}");
    // Set in the top file as well: the top file's line is the one that counts.
    write(d, "top.toml", "extends = \"mid.toml\"\n[sim]\ncores = 0\n");
    let (_, _, err) = mmusim(&["show", "-c", &top]);
    assert!(err.contains(&format!("{top}:3: sim.cores")), "{err}");
}

/// Item 14: `extends = "skylke"` named neither the file that says it nor the presets.
#[test]
fn misspelt_extends_names_the_file_line_presets_and_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "typo.toml",
        "# my machine\nextends = \"skylke\"\n",
    );
    let (code, _, err) = mmusim(&["show", "-c", &f]);
    assert_eq!(code, 2);
    let want = format!(
        "error: {f}:2: extends: `skylke` is neither a preset nor a file ({}: not found); the presets are skylake, icelake, zen4, skylake-inverted, skylake-htab, skylake-clustered, skylake-cuckoo, skylake-flattened, skylake-vm, skylake-vm-shadow, icelake-vm, skylake-vm-cuckoo, skylake-ds, skylake-colt, skylake-pom, skylake-victima, skylake-rmm, skylake-utopia, skylake-spectlb, skylake-asap; did you mean `skylake`?",
        dir.path().join("skylke").display()
    );
    assert_eq!(err.trim_end(), want);
}

/// Item 14: a cache of `size = 0` was blamed on `entries`, a key the user never wrote.
#[test]
fn cache_size_problems_blame_size() {
    let (code, _, err) = mmusim(&["show", "--set", "memory.cache.l2.size=0"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "error: --set memory.cache.l2.size=0: memory.cache.l2.size: 0 bytes hold no 64-byte line"
    );
    // In a file, on the line of `size`; 32 bytes are not one 64-byte line either.
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "c.toml",
        "extends = \"skylake\"\n[[memory.cache]]\nname = \"l1d\"\nsize = 32\nways = 1\nlatency = 4\n",
    );
    let (code, _, err) = mmusim(&["show", "-c", &f]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!("error: {f}:4: memory.cache[0].size: 32 bytes hold no 64-byte line")
    );
    // The lines, not entries, are what the ways must divide: 96 KiB / 64 = 1536 lines.
    let (code, _, err) = mmusim(&[
        "show",
        "--set",
        "memory.cache.l2.size=96KiB",
        "--set",
        "memory.cache.l2.ways=5",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "memory.cache.l2.ways: 1536 lines (96KiB / 64 bytes) are not divisible by 5 ways"
        ),
        "{err}"
    );
    assert!(!err.contains("entries"), "{err}");
}

/// Item 14: `--set workload.accesses=18446744073709551615` said "invalid type: string".
/// Now: the assignment as written, the key, the value and the range. TOML integers
/// stop at 2^63 - 1 = 9223372036854775807, so that is where a u64 key's range ends.
#[test]
fn out_of_range_overrides_name_key_value_and_range() {
    let cases: [(&str, String); 5] = [
        (
            "workload.accesses=18446744073709551615",
            format!(
                "--set workload.accesses=18446744073709551615: workload.accesses: 18446744073709551615 is out of range: workload.accesses takes 0 to {}",
                i64::MAX
            ),
        ),
        (
            "sim.seed=9223372036854775808",
            format!(
                "--set sim.seed=9223372036854775808: sim.seed: 9223372036854775808 is out of range: sim.seed takes 0 to {}",
                i64::MAX
            ),
        ),
        (
            "sim.cores=4294967296",
            format!(
                "--set sim.cores=4294967296: sim.cores: 4294967296 is out of range: sim.cores takes 0 to {}",
                u32::MAX
            ),
        ),
        (
            "tlb.stlb.entries=-1",
            format!(
                "--set tlb.stlb.entries=-1: tlb.stlb.entries: -1 is out of range: tlb.stlb.entries takes 0 to {}",
                u32::MAX
            ),
        ),
        (
            "sim.seed=-99999999999999999999",
            format!(
                "--set sim.seed=-99999999999999999999: sim.seed: -99999999999999999999 is out of range: sim.seed takes 0 to {}",
                i64::MAX
            ),
        ),
    ];
    for (set, want) in cases {
        let (code, _, err) = mmusim(&["run", "-q", "--set", set]);
        assert_eq!(code, 2, "{set}: {err}");
        assert_eq!(err.trim_end(), format!("error: {want}"), "{set}");
    }
    // In a file, TOML itself refuses the number: the message gives TOML's range.
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        "name = \"x\"\naccesses = 18446744073709551615\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n",
    );
    let (code, _, err) = mmusim(&["run", "-q", "-w", &w]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {w}:2: accesses: integer number overflowed; TOML integers are {} to {}",
            i64::MIN,
            i64::MAX
        )
    );
}

/// Item 14 (and the `--set` paths): every integer key of the skylake preset and the
/// default workload, set to values around the ends of the u32 and TOML integer ranges
/// (also on 64 cores, which multiplies per-core sizes: the host-memory estimate
/// overflowed), is refused or accepted quickly (`tlb[0].level = 4294967295` looked
/// for gaps below it for minutes);
/// never a panic (an overflow in a debug build), never "invalid type".
#[test]
fn every_integer_key_takes_extreme_overrides_without_panic() {
    fn walk(v: &toml::Value, path: String, keys: &mut Vec<String>) {
        match v {
            toml::Value::Integer(_) => keys.push(path),
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, p, keys);
                }
            }
            // One element of each array is enough: they share a type.
            toml::Value::Array(a) if !a.is_empty() => walk(&a[0], format!("{path}[0]"), keys),
            _ => {}
        }
    }
    // (preset, key): every key of skylake as resolved (defaults written out), the
    // page-table keys of the other presets (one per design), the default workload's.
    let mut keys = Vec::new();
    for (i, (name, _)) in mmusim::run::PRESETS.iter().enumerate() {
        let sys = mmusim::run::load_inputs(Some(name), None, &[])
            .unwrap()
            .system;
        let mut ks = Vec::new();
        walk(
            &toml::Value::try_from(&sys).unwrap(),
            String::new(),
            &mut ks,
        );
        keys.extend(
            (ks.into_iter())
                .filter(|k| i == 0 || k.starts_with("page_table"))
                .map(|k| (*name, k)),
        );
    }
    let (wl, _) =
        mmusim::loader::load::<toml::Table>("wl", mmusim::run::DEFAULT_WORKLOAD, &[]).unwrap();
    let mut ks = Vec::new();
    walk(&toml::Value::Table(wl), "workload".into(), &mut ks);
    keys.extend(ks.into_iter().map(|k| ("skylake", k)));
    keys.push(("skylake", "page_table.bits_per_level[0]".into()));
    // The generators' and events' integer keys the default workload leaves out.
    for k in [
        "generator.granule",
        "generator.stride",
        "generator.node_size",
        "generator.footprint",
        "event[0].every",
        "event[0].addr",
        "event[0].core",
        "event[0].child_accesses",
        "event[0].len",
        "event[0].offset",
    ] {
        keys.push(("skylake", format!("workload.{k}")));
    }
    assert!(keys.len() > 60, "{keys:?}");
    let values = [
        "9223372036854775808",
        "9223372036854775807",
        "4294967296",
        "4294967295",
        "-1",
        "0",
    ];
    for (preset, k) in &keys {
        for v in values {
            // 64 cores multiply what each core builds (TLBs, walk caches, caches).
            let per_core = ["tlb", "walker", "memory"].iter().any(|p| k.starts_with(p));
            let cores: &[&str] = if per_core {
                &["sim.cores=1", "sim.cores=64"]
            } else {
                &["sim.cores=1"]
            };
            for cores in cores {
                // An array element needs the array: bits_per_level has no default.
                let mut sets = vec![cores.to_string()];
                if k.starts_with("page_table.bits_per_level") {
                    sets.push("page_table.bits_per_level=[9,9,9,9]".into());
                }
                let generator = match k.as_str() {
                    "workload.generator.stride" => Some("sequential"),
                    "workload.generator.node_size" => Some("pointer_chase"),
                    _ => None,
                };
                if let Some(g) = generator {
                    sets.push(format!(
                        "workload.generator={{kind=\"{g}\", footprint=\"1MiB\"}}"
                    ));
                }
                sets.push(format!("{k}={v}"));
                let t0 = Instant::now();
                if let Err(errs) = mmusim::run::load_inputs(Some(preset), None, &sets) {
                    for e in errs {
                        let e = e.to_string();
                        assert!(!e.contains("invalid type"), "{preset} {sets:?}: {e}");
                    }
                }
                let took = t0.elapsed();
                assert!(
                    took < Duration::from_secs(10),
                    "{preset} {sets:?}: {took:?}"
                );
            }
        }
    }
}

const TEXT_TRACE: &[u8] = b"R 0x1000\nW 0x2000\nR 0x1008\n";

/// Item 14: `run --trace -` suggested a format flag `run` did not have. `run` and
/// `analyze` take `--format` now, and the message for standard input says to use it.
#[test]
fn stdin_traces_take_a_format_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let out = out.to_str().unwrap();
    // Bytes that are no format's: detection fails on stdin.
    let (code, _, err) = bounded(
        &["run", "-q", "--trace", "-", "--out", out],
        b"\x01\x02zz\n",
        Duration::from_secs(30),
    );
    assert_eq!(code, 2);
    assert!(err.contains("--format"), "{err}");
    assert!(!err.contains("name it"), "{err}");
    // With the format given, the text trace runs: 3 accesses.
    let (code, _, err) = bounded(
        &[
            "run", "-q", "--trace", "-", "--format", "text", "--out", out,
        ],
        TEXT_TRACE,
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/result.json")).unwrap()).unwrap();
    assert_eq!(json["stats"]["total"]["accesses"], 3);
    // The format overrides detection: text read as lackey fails on its first line.
    let (code, _, err) = bounded(
        &[
            "run", "-q", "--trace", "-", "--format", "lackey", "--out", out,
        ],
        TEXT_TRACE,
        Duration::from_secs(30),
    );
    assert_eq!(code, 2, "{err}");
    // --format without a trace is refused by the argument parser.
    let (code, _, _) = mmusim(&["run", "--format", "text"]);
    assert_eq!(code, 2);
    // analyze reads the same way.
    let (code, stdout, err) = bounded(
        &["analyze", "-q", "--trace", "-", "--format", "text"],
        TEXT_TRACE,
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    // "references K     3": the trace's 3 accesses.
    let refs = stdout.lines().find(|l| l.starts_with("references"));
    assert_eq!(
        refs.and_then(|l| l.split_whitespace().last()),
        Some("3"),
        "{stdout}"
    );
}

/// Item 14: a missing trace named the trace but not the workload file that names it.
#[test]
fn missing_trace_names_the_workload_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "wl.toml",
        "name = \"t\"\n[generator]\nkind = \"trace\"\npath = \"nope.mmt\"\n",
    );
    let (code, _, err) = mmusim(&["run", "-q", "-w", &w]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {w}:4: generator.path: cannot read trace {}: No such file or directory (os error 2)",
            dir.path().join("nope.mmt").display()
        )
    );
    // One of several: its element's line.
    write(dir.path(), "there.txt", TEXT_TRACE);
    let w = write(
        dir.path(),
        "two.toml",
        "name = \"t\"\n[generator]\nkind = \"trace\"\npaths = [\n  \"there.txt\",\n  \"gone.txt\",\n]\n",
    );
    let (code, _, err) = mmusim(&["run", "-q", "--set", "sim.cores=2", "-w", &w]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{w}:6: generator.paths[1]: cannot read trace")),
        "{err}"
    );
    // `--trace FILE` has no workload file: the message names the flag.
    let gone = dir.path().join("gone.mmt");
    let (code, _, err) = mmusim(&["run", "-q", "--trace", gone.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("--trace {}: cannot read trace", gone.display())),
        "{err}"
    );
}

/// Item 14: invalid UTF-8 in a config said "stream did not contain valid UTF-8", no
/// line. Now file, line and column (of the first bad byte, counted in characters).
#[test]
fn invalid_utf8_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Line 3, after `# café ` (7 characters, é is two bytes): column 8.
    let f = write(
        dir.path(),
        "u.toml",
        b"extends = \"skylake\"\n\n# caf\xc3\xa9 \xff\xfe\n",
    );
    let (code, _, err) = mmusim(&["show", "-c", &f]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!("error: {f}:3: column 8: not UTF-8 (byte 0xff); the file must be UTF-8 text")
    );
    let (code, _, err) = mmusim(&["run", "-w", &f]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{f}:3: column 8: not UTF-8")),
        "{err}"
    );
}

/// Item 14: a sweep spec whose axes set the same key twice was accepted (the last
/// value won). Refused, naming the key and both lines.
#[test]
fn duplicate_axis_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "s.toml",
        "name = \"dup\"\nsystem = \"skylake\"\n[[workload]]\nname = \"d\"\nfile = \"w.toml\"\n\
         [[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024]\n\
         [[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [2048]\n",
    );
    write(
        dir.path(),
        "w.toml",
        "name = \"w\"\naccesses = 1000\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n",
    );
    let (code, _, err) = mmusim(&["sweep", "plan", &spec]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{spec}:10: axis[1].key: `tlb.stlb.entries` is already an axis (axis[0], line 7)"
        )),
        "{err}"
    );
    // Spelt differently, the same key: `tlb.stlb.entries` and `tlb."stlb".entries`.
    let spec2 = write(
        dir.path(),
        "s2.toml",
        std::fs::read_to_string(&spec).unwrap().replacen(
            "key = \"tlb.stlb.entries\"\nvalues = [2048]",
            "key = 'tlb.\"stlb\".entries'\nvalues = [2048]",
            1,
        ),
    );
    let (code, _, err) = mmusim(&["sweep", "plan", &spec2]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is already an axis (axis[0], line 7)"),
        "{err}"
    );
}
