//! What a user sees of a virtualized run (`[virt]`): the presets' nested walks counted
//! exactly, the summary's virtualization lines, and the CSV columns (a native file's
//! header exactly as before; a virtualized one's with the `virt_*` columns last).

use crate::runs::inputs;
use mmusim::report::columns::VIRT;
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// Two passes over 16384 pages (64 MiB, one access per page): the first touches every
/// page (guest faults, EPT violations), the second is measured (`warmup_accesses`) and
/// misses every TLB (each set of every TLB sees more pages, cyclically, than it has
/// ways). Without walk caches (guest and host), each of its walks is a full nested walk
/// of a mapped page.
const SEQ: &str = "name = \"seq\"\naccesses = 32768\n[generator]\nkind = \"sequential\"\nfootprint = \"64MiB\"\nstride = 4096\n";

fn warm_walks(preset: &str) -> RunReport {
    let config = format!("extends = \"{preset}\"\n[walker]\npsc = []\n[virt]\nhost_psc = []\n");
    let i = inputs(Some(&config), Some(SEQ), &["sim.warmup_accesses=16384"]);
    simulate(&i, &mut |_, _| {}).unwrap()
}

#[test]
fn the_virtualized_presets_make_the_walks_their_headers_say() {
    // (preset, guest levels, host levels): a radix x radix nested walk reads each of
    // the g guest entries after an h-level host walk of its gPA, then walks the final
    // gPA: g(h + 1) + h = (g + 1)(h + 1) - 1 references; 4 + 4: 24, 5 + 5: 35.
    for (preset, g, h) in [("skylake-vm", 4u64, 4u64), ("icelake-vm", 5, 5)] {
        let r = warm_walks(preset);
        let v = r.stats.total.virt.as_ref().expect("virtualized");
        assert_eq!(v.nested_walks, 16384, "{preset}");
        assert_eq!(v.refs_per_walk, ((g + 1) * (h + 1) - 1) as f64, "{preset}");
        assert_eq!(v.guest_entry_refs, g * 16384, "{preset}");
        assert_eq!(v.host_refs_for_data, h * 16384, "{preset}");
        assert_eq!(v.host_refs_for_guest_entries, g * h * 16384, "{preset}");
        // Every host walk done (no nested TLB): g + 1 per nested walk; no exits.
        assert_eq!(v.host_lookups, (g + 1) * 16384, "{preset}");
        assert_eq!(v.hypervisor.exits.ept_violation, 0, "{preset}");
    }
    // The cuckoo host table: each of the 4 + 1 host translations is one probe of the
    // 3 ways (one line each, in parallel; host THP is off, so only the 4K table is
    // probed), besides the 4 guest entries: 4 + 5 x 3 = 19 references.
    let r = warm_walks("skylake-vm-cuckoo");
    let v = r.stats.total.virt.as_ref().expect("virtualized");
    assert_eq!(v.nested_walks, 16384);
    assert_eq!(v.refs_per_walk, 19.0);
    assert_eq!(v.host_lookups, 5 * 16384);
}

/// A short zipf run of `config`, counted from the first access (`inputs` sets no
/// warm-up).
fn short(config: &str) -> RunReport {
    let wl = "name = \"z\"\naccesses = 20000\nseed = 3\n[generator]\nkind = \"zipf\"\nfootprint = \"256MiB\"\nexponent = 0.9\n";
    simulate(&inputs(Some(config), Some(wl), &[]), &mut |_, _| {}).unwrap()
}

#[test]
fn a_virtualized_summary_shows_its_lines_and_a_native_one_does_not() {
    let vm = short("skylake-vm").to_table();
    // Counted from the first access: every first touch of guest memory is an EPT
    // violation, so the run has exits and backs host memory.
    for line in [
        "\nnested walks ",
        "refs/walk ",
        "of them guest entries ",
        "host for guest entries ",
        "host for data ",
        "\n  host translations ",
        "\nVM exits ",
        "EPT violations ",
        "exit cycles ",
        "host fault cycles ",
        "\n  TLB fills after nested walks ",
        "splintered ",
        "\nhost memory backed ",
    ] {
        assert!(vm.contains(line), "missing {line:?} in\n{vm}");
    }
    // skylake-vm has host walk caches (its EPT PWCs, one line each) and no nested TLB
    // (no hit rate shown).
    assert!(
        vm.contains("\n  host walk cache epde  level 2  lookups "),
        "{vm}"
    );
    assert!(!vm.contains("nested TLB hits"), "{vm}");
    let with = short("extends = \"skylake-vm\"\n[virt.ntlb]\nentries = 16\nlatency = 1\n");
    assert!(with.to_table().contains("nested TLB hits "));
    // Shadow paging: one-dimensional walks (no nested-walk lines), its exits and work.
    let shadow = short("skylake-vm-shadow").to_table();
    for line in [
        "#PF intercepts ",
        // From the first access every miss is a guest fault: the guest's page-table
        // write traps (an update), no shadow miss is hidden.
        "page-table writes ",
        "\n  shadow paging updates ",
        "shadow tables ",
    ] {
        assert!(shadow.contains(line), "missing {line:?} in\n{shadow}");
    }
    assert!(!shadow.contains("nested walks"), "{shadow}");
    let native = short("skylake").to_table();
    for word in ["nested walks", "VM exits", "host memory", "splintered"] {
        assert!(!native.contains(word), "{word} in\n{native}");
    }
}

/// The header of a one-run CSV (`result.csv`).
fn header(r: &RunReport) -> Vec<String> {
    let csv = mmusim::report::csv_of(std::slice::from_ref(r));
    csv.lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect()
}

#[test]
fn a_native_csv_header_is_unchanged_and_a_virtualized_one_appends_the_virt_columns() {
    // The statistics columns of a sweep report committed before virtualization existed
    // (skylake-like presets; between the sweep's own columns): a native run's header
    // must hold exactly these, in this order, after the run's identity columns.
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/sweeps/radix-vs-hashed/report.csv"
    ))
    .unwrap();
    let committed: Vec<String> = committed
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let from = committed.iter().position(|c| c == "accesses").unwrap();
    let to = committed.iter().position(|c| c == "stale_hits").unwrap();
    let stable = &committed[from..=to];
    let native = header(&short("skylake"));
    let at = native.iter().position(|c| c == "accesses").unwrap();
    assert_eq!(native[at..], stable[..]);
    // A virtualized run: the same columns, then the virt ones, last.
    let vm = header(&short("skylake-vm"));
    assert_eq!(vm[..native.len()], native[..]);
    let tail: Vec<&str> = vm[native.len()..].iter().map(String::as_str).collect();
    assert_eq!(tail, VIRT.iter().map(|c| c.0).collect::<Vec<_>>());
}

#[test]
fn compare_adds_virt_rows_and_columns_for_a_virtualized_system() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let (code, table, err) = crate::analysis::mmusim(&[
        "compare",
        "-c",
        "skylake,skylake-vm",
        "-w",
        "workloads/default.toml",
        "--set",
        "workload.accesses=3000",
        // No populating mmap: the heap is touched page by page, so guest faults (and the
        // EPT violations inside them) go on after the warm-up.
        "--set",
        "workload.event=[]",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for row in [
        "nested walk: references per walk",
        "nested walk: host references per walk",
        "VM exits",
        "VM exit + host fault cycles",
    ] {
        let line = table.lines().find(|l| l.starts_with(row));
        // The native system has no such figure: `-` in its column.
        let line = line.unwrap_or_else(|| panic!("no {row:?} in\n{table}"));
        assert!(line.contains(" - "), "{line}");
    }
    // No nested TLB anywhere: its row is left out (no run has a value but 0).
    assert!(!table.contains("nested TLB hit rate"), "{table}");
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = (r.records())
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    let col = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (native, vm) = (&rows[0], &rows[1]);
    assert_eq!(native[col("virt_refs_per_walk")], "");
    assert_eq!(native[col("virt_exits")], "");
    // One vCPU and no populating event: every exit is an EPT violation at a first touch
    // (inside the guest's fault), and the zipf stream over 4 GiB still touches new pages
    // after warm-up.
    let exits: u64 = vm[col("virt_exits")].parse().unwrap();
    assert!(exits > 0);
    assert_eq!(vm[col("virt_exits_ept_violation")], vm[col("virt_exits")]);
    let rpw: f64 = vm[col("virt_refs_per_walk")].parse().unwrap();
    assert!(rpw > 1.0 && rpw <= 24.0, "{rpw}");
}
