//! End-to-end and exact-value tests, compiled as one binary (faster builds on 2 cores).

mod allocs;
mod analysis;
mod asap;
mod bad_config;
mod bad_inputs;
mod coalesced;
mod compare;
mod compressed;
mod direct_segment;
mod explain;
mod flattened;
mod guarantees;
mod hardening_a;
mod hardening_c;
mod hardening_d;
mod hardening_sweep;
mod mva;
mod names;
mod onepass_geometry;
mod os;
mod plots;
mod pom_tlb;
mod prefetch;
mod procs;
mod progress;
mod randomized;
mod refmodel;
mod reports;
mod rmm;
mod runs;
mod shootdown;
mod speculation;
mod stack_distance;
mod steady;
mod study;
mod sweep;
mod timeline;
mod tlb_organisation;
mod traces;
mod units;
mod utopia;
mod victima;
mod virt;
mod virt_outputs;
mod virt_shadow;
mod virt_vms;
mod walk_alloc;
mod walk_latency;
mod ws_replace;

use mmusim::config::SystemConfig;
use mmusim::loader::load;

/// Counts each thread's allocations for `allocs` (the system allocator underneath; the
/// other tests see no difference).
#[global_allocator]
static ALLOCATOR: allocs::Counting = allocs::Counting;

/// Decode and validate a system config from TOML text; panics with the errors (tests only).
pub fn system(text: &str) -> SystemConfig {
    let (cfg, src) = load::<SystemConfig>("<test>", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let errs: Vec<String> = cfg
        .validate()
        .into_iter()
        .map(|(p, m)| src.error_at(&p, m).to_string())
        .collect();
    assert!(errs.is_empty(), "{errs:?}");
    cfg
}

/// Runs the binary with `stdin` fed in, in `dir` (or here), output to files (a pipe
/// could fill and stall it), killed after `limit`: a hang or a runaway allocation fails
/// the test instead of stalling the suite. Returns (exit code, stdout, stderr); the code
/// is -1 when killed or ended by a signal.
pub fn mmusim_bounded(
    dir: Option<&std::path::Path>,
    args: &[&str],
    stdin: &[u8],
    limit: std::time::Duration,
) -> (i32, String, String) {
    mmusim_bounded_env(dir, args, stdin, limit, &[])
}

/// [`mmusim_bounded`] with environment variables `env` set (test hooks).
pub fn mmusim_bounded_env(
    dir: Option<&std::path::Path>,
    args: &[&str],
    stdin: &[u8],
    limit: std::time::Duration,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let (out, err) = (tmp.path().join("out"), tmp.path().join("err"));
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mmusim"));
    c.args(args)
        .env("MMUSIM_PROGRESS_SECS", "1000")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let mut child = c.spawn().expect("mmusim starts");
    // A child that stops reading early closes the pipe: not an error here.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let t0 = std::time::Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if t0.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break -1;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let read =
        |p: &std::path::Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    (code, read(&out), read(&err))
}

/// Every file under `dir` (hidden ones too, sub-folders as `sub/name`) with its bytes:
/// what tests compare a result folder by.
pub fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            for (sub, body) in files(&e.path()) {
                out.insert(format!("{name}/{sub}"), body);
            }
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// The workload the reach designs' event tests share: uniform over an 8 MiB heap,
/// populated, then a migration, an munmap, an mprotect and a fork (`fork` is the fork
/// event's own lines, e.g. with `child_accesses`), each 10,000 accesses apart.
pub fn os_event_stress(fork: &str) -> String {
    let ev = |at: u64, rest: &str| format!("[[event]]\nat = {at}\n{rest}\n");
    [
        "name = \"stress\"\naccesses = 60000\nwrite_fraction = 0.5\nseed = 3\n\
         [generator]\nkind = \"uniform\"\nfootprint = \"8MiB\"\n"
            .to_string(),
        ev(
            0,
            "kind = \"mmap\"\noffset = \"0\"\nlen = \"8MiB\"\npopulate = true",
        ),
        ev(
            10000,
            "kind = \"migrate\"\noffset = \"64KiB\"\nlen = \"128KiB\"",
        ),
        ev(
            20000,
            "kind = \"munmap\"\noffset = \"256KiB\"\nlen = \"12KiB\"",
        ),
        ev(
            30000,
            "kind = \"mprotect\"\noffset = \"512KiB\"\nlen = \"8KiB\"\nprot = \"r\"",
        ),
        ev(40000, fork),
    ]
    .concat()
}

/// The accounting invariant as the report shows it: `translation_cycles.total` is the
/// sum of its parts (TLB, walk caches, PTE reads, waits, faults).
pub fn assert_parts_sum(t: &serde_json::Value) {
    let c = &t["translation_cycles"];
    let parts: u64 = ["tlb", "walk_cache", "pte", "wait", "fault"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum();
    assert_eq!(c["total"].as_u64().unwrap(), parts, "{c}");
}

/// A workload of explicit page references (`kind = "refs"`), one pass, with `events`
/// (`[[event]]` tables) appended.
pub fn refs_workload(refs: &[u64], events: &str) -> String {
    let s: Vec<String> = refs.iter().map(|p| p.to_string()).collect();
    format!(
        "name = \"r\"\nseed = 3\naccesses = {}\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n{events}",
        refs.len(),
        s.join(" ")
    )
}

/// `mmusim run -q` of `preset` on `workload` (written as `name.toml` in `dir`) with
/// `sets` and no warm-up, results in `dir/name/`: exit code, stderr and (on success)
/// the run's `stats`, else null.
pub fn run_cli(
    dir: &std::path::Path,
    name: &str,
    preset: &str,
    workload: &str,
    sets: &[&str],
) -> (i32, String, serde_json::Value) {
    let w = dir.join(format!("{name}.toml"));
    std::fs::write(&w, workload).unwrap();
    let out = dir.join(name);
    let mut args = vec!["run", "-q", "-c", preset, "-w", w.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(["--set", "sim.warmup_accesses=0"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    let (code, _, err) = analysis::mmusim(&args);
    let stats = std::fs::read_to_string(out.join("result.json"))
        .ok()
        .map_or(serde_json::Value::Null, |t| {
            serde_json::from_str::<serde_json::Value>(&t).unwrap()["stats"].clone()
        });
    (code, err, stats)
}

/// `simulate` of `preset` on a reference-string workload (`refs_workload(refs, events)`)
/// with `common`, then `sets`, applied; the accounting of the total and of every core
/// checked.
pub fn run_refs(
    preset: &str,
    (refs, events): (&[u64], &str),
    common: &[&str],
    sets: &[&str],
) -> mmusim::report::RunReport {
    let mut all: Vec<&str> = common.to_vec();
    all.extend_from_slice(sets);
    let w = refs_workload(refs, events);
    let r = mmusim::run::simulate(&runs::inputs(Some(preset), Some(&w), &all), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"));
    r.stats.total.check_accounting().unwrap();
    for c in &r.stats.cores {
        c.check_accounting().unwrap();
    }
    r
}
