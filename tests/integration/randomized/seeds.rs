//! Valid inputs the randomized tests mutate: the configs, workloads, sweep specs and
//! stores the project ships, the starts of its recorded traces, and hand-made samples of
//! each trace format (covering every record kind and event line).

use std::io::Read;

/// Keeps the text without comment lines: the parsers' cost grows with the size of an
/// input, and mutations of comments test little (both forms are kept as seeds).
fn without_comments(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

fn both(texts: &[&str]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for t in texts {
        let short = without_comments(t);
        v.push(short.clone().into_bytes());
        v.push(short.into_bytes());
        v.push(t.as_bytes().to_vec());
    }
    v
}

pub const PRESETS: &[&str] = &[
    include_str!("../../../configs/skylake.toml"),
    include_str!("../../../configs/icelake.toml"),
    include_str!("../../../configs/zen4.toml"),
    include_str!("../../../configs/skylake-inverted.toml"),
    include_str!("../../../configs/skylake-htab.toml"),
    include_str!("../../../configs/skylake-clustered.toml"),
    include_str!("../../../configs/skylake-cuckoo.toml"),
    include_str!("../../../configs/skylake-flattened.toml"),
    include_str!("../../../configs/skylake-vm.toml"),
];

pub fn system_configs() -> Vec<Vec<u8>> {
    let mut v = both(PRESETS);
    // Small files over a base: the `extends` chain (a file beside it, a preset, a
    // cycle through a second file), TLBs by name and by index, each design.
    for s in [
        "extends = \"base.toml\"\n[sim]\ncores = 2\n",
        "extends = \"skylake\"\n[os]\nphys_mem = \"1GiB\"\n",
        "extends = \"loop.toml\"\n",
        "extends = \"sys.toml\"\n",
        "extends = \"zen4\"\n[[tlb]]\nname = \"x\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n",
        "extends = \"skylake\"\n[page_table]\nkind = \"cuckoo\"\n",
        "extends = \"skylake\"\n[page_table]\nkind = \"htab\"\n",
        "extends = \"skylake\"\n[walker]\npsc = []\n",
        "extends = \"icelake\"\n[sim]\nwarmup_accesses = 1000\ncores = 4\n[os.sched]\nthreads = 4\n",
        "extends = \"skylake\"\n[os.huge_pages]\npolicy = \"promote\"\npromote_threshold = 1\n",
        "extends = \"skylake\"\n[topology]\nkind = \"two_socket\"\n[shootdown]\nscheme = \"early_ack\"\n",
        "extends = \"skylake-vm\"\n[virt.ntlb]\nentries = 16\nlatency = 2\n[virt.host_table]\nkind = \"cuckoo\"\n",
        "extends = \"skylake-vm\"\n[virt.shootdown]\nscheme = \"pv_flush\"\n[virt.host_sched]\nthreads_per_core = 2\n[virt.host.huge_pages]\npolicy = \"always\"\n",
        "extends = \"skylake-vm\"\n[sim]\ncores = 2\n[os.sched]\nprocesses = 4\n[virt]\nvms = 2\nvpids = 1\n[virt.host]\nphys_mem = \"32GiB\"\n",
    ] {
        v.push(s.as_bytes().to_vec());
    }
    v
}

pub const WORKLOADS: &[&str] = &[
    include_str!("../../../workloads/default.toml"),
    include_str!("../../../workloads/belady.toml"),
    include_str!("../../../workloads/exam-problem1.toml"),
    include_str!("../../../workloads/sequential-1g.toml"),
    include_str!("../../../workloads/sequential-hits.toml"),
    include_str!("../../../workloads/trace-2core.toml"),
    include_str!("../../../workloads/trace-ls.toml"),
    include_str!("../../../workloads/uniform-64g.toml"),
    include_str!("../../../results/shootdown/unmapper.toml"),
];

pub fn workloads() -> Vec<Vec<u8>> {
    let mut v = both(WORKLOADS);
    for s in [
        "accesses = 1000\n[generator]\nkind = \"strided\"\nfootprint = \"1MiB\"\nstride = 4096\n",
        "accesses = 1000\n[generator]\nkind = \"hot_cold\"\nfootprint = \"1GiB\"\nhot_fraction = 0.1\nhot_access_fraction = 0.9\n",
        "accesses = 1000\n[generator]\nkind = \"pointer_chase\"\nfootprint = \"1MiB\"\nnode_size = 64\n",
        "[generator]\nkind = \"refs\"\nrefs = [1, 2, 3, 1]\npage_size = \"2M\"\n",
        "[generator]\nkind = \"refs\"\nrefs = \"(1 2 (3 4)x2)x3, 5*2\"\n",
        "[generator]\nkind = \"trace\"\npath = \"t.txt\"\nformat = \"text\"\nfetches = false\n",
        "accesses = 100\n[generator]\nkind = \"uniform\"\nfootprint = \"1GiB\"\n[[event]]\nat = 10\nkind = \"fork\"\nchild_accesses = 5\n[[event]]\nat = 20\nkind = \"mprotect\"\noffset = \"0\"\nlen = \"4KiB\"\nprot = \"r\"\n[[event]]\nat = 30\nkind = \"madvise\"\naddr = 68719476736\nlen = \"2MiB\"\nevery = 10\n[[event]]\nat = 50\nkind = \"migrate\"\noffset = \"0\"\nlen = \"1MiB\"\ncore = 0\n[[event]]\nat = 60\nkind = \"exit\"\n",
    ] {
        v.push(s.as_bytes().to_vec());
    }
    v
}

/// `--set` assignments: every leaf of the presets and workloads as `key=value`, by
/// index and by component name, and those the shipped specs use.
pub fn assignments() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = Vec::new();
    for (text, prefix) in [
        (PRESETS[0], ""),
        (PRESETS[2], ""),
        (PRESETS[8], ""),
        (WORKLOADS[0], "workload."),
    ] {
        let t: toml::Table = toml::from_str(text).expect("seed parses");
        leaves(&toml::Value::Table(t), prefix.to_string(), &mut v);
    }
    v.extend(
        [
            "tlb.stlb.entries=2048",
            "tlb.l1d.ways=8",
            "walker.psc.pd.entries=64",
            "memory.cache.l2.size=\"1MiB\"",
            "tlb[0].replacement=plru",
            "walker.psc=[]",
            "os.huge_pages.policy=\"always\"",
            "page_table.kind=\"cuckoo\"",
            "workload.generator={kind=\"uniform\", footprint=\"256MiB\"}",
            "workload.event=[]",
            "workload.accesses=18446744073709551615",
            "labels.\"l1.d\"=1",
            "tlb=[{name=\"dtlb\", level=1, kind=\"data\", entries=1, ways=1, page_sizes=[\"4K\"], latency=1}]",
        ]
        .map(String::from),
    );
    v.into_iter().map(String::into_bytes).collect()
}

fn leaves(v: &toml::Value, path: String, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                let p = if path.is_empty() || path.ends_with('.') {
                    format!("{path}{k}")
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, p, out);
            }
        }
        toml::Value::Array(a) if a.iter().all(|x| x.is_table()) && !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                // By index, and by name where the element has one.
                leaves(x, format!("{path}[{i}]"), out);
                if let Some(n) = x.get("name").and_then(|n| n.as_str()) {
                    leaves(x, format!("{path}.{n}"), out);
                }
            }
        }
        x => out.push(format!("{path}={x}")),
    }
}

pub fn refs() -> Vec<Vec<u8>> {
    [
        "1 2 3 4 1 2 5 1 2 3 4 5",
        "(1 2 3)x20 4, 5",
        "(1 (2 3)x3 4)x5 6*2 7X1 8x0",
        "0 18446744073709551615",
        "7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1",
        "# a comment\n1 2\n(3 4)x2 # another\n5\n",
        "1,2,3,,4\n\n(5\n6)x2\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

pub fn lackey() -> Vec<Vec<u8>> {
    [
        "==77== Lackey, an example Valgrind tool\n==77== Command: ls\nI  0040000c,3\n L 04222cac,8\n S 7ff000ff8,8\n M 0421f000,4\nI  00400010,2\n L 00001ffc,8\n==77== \n",
        "I  00400000,2\n L 1000,8\n S 2ff9,16\n M 3ffc,8\nI  00400002,15\n",
        "   I  0023c790,2\n  L 04222cac,8\n\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

pub fn text() -> Vec<Vec<u8>> {
    [
        "# a hand-made trace\nR 0x1000\nW 0x1008 8\nF 0x400000\nR 4096 i=3\nW 0x1ffc 8 i=0\n",
        "r 0x7f0000000000\nmunmap 0x7f0000000000 0x200000\nmadvise 0x7f0000000000 0x40000000\nfork\nmmap 0x7f0000000000 0x400000 populate\nmprotect 0x7f0000000000 0x1000 r\nmigrate 0x7f0000000000 0x200000\nw 0x7f0000000008\nexit\n",
        "R 0x1000\t8\nf 0x2000 i=0\n\n# end\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

pub fn champsim() -> Vec<Vec<u8>> {
    use mmusim::trace::champsim::encode_record;
    let mut a = Vec::new();
    a.extend(encode_record(0x40_0000, &[0x1000, 0], &[0x2000]));
    a.extend(encode_record(0x40_0004, &[], &[]));
    a.extend(encode_record(
        0x40_0008,
        &[0x7fff_0000_1000, 0x1ff8, 0x3000, 0x4000],
        &[0x5000, 0x6000],
    ));
    let b = encode_record(u64::MAX, &[1 << 57], &[]).to_vec();
    let mut v = vec![a, b];
    v.extend(recorded(
        |a| encode_record(0x40_0000, &[a], &[]).to_vec(),
        false,
    ));
    v
}

/// The starts of the recorded traces of workloads/traces (the first records).
fn recorded(encode: impl Fn(u64) -> Vec<u8>, as_mmt: bool) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for t in ["gzip", "ls"] {
        let path = format!("{}/workloads/traces/{t}.mmt.xz", env!("CARGO_MANIFEST_DIR"));
        let f = std::fs::File::open(&path).expect("shipped trace");
        let (mut r, _) = mmusim::trace::compress::wrap_read(Box::new(f)).expect("xz");
        let mut head = vec![0u8; 32 + 16 * 200];
        r.read_exact(&mut head).expect("200 records");
        if as_mmt {
            // The header promised the whole trace: say 200 records.
            head[16..24].copy_from_slice(&200u64.to_le_bytes());
            v.push(head);
        } else {
            let mut out = Vec::new();
            for rec in head[32..].chunks(16) {
                out.extend(encode(u64::from_le_bytes(rec[..8].try_into().unwrap())));
            }
            v.push(out);
        }
    }
    v
}

pub fn mmt() -> Vec<Vec<u8>> {
    use mmusim::trace::binary::header;
    let mut v = recorded(|_| Vec::new(), true);
    let mut small = header(12, 3).to_vec();
    for (addr, instrs, kind) in [(0x1000u64, 1u32, 0u8), (0x2008, 0, 1), (0x40_0000, 3, 2)] {
        small.extend(addr.to_le_bytes());
        small.extend(instrs.to_le_bytes());
        small.extend([kind, 0, 0, 0]);
    }
    v.push(small.clone());
    // Unknown count (written while streaming).
    small[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    v.push(small);
    v
}

pub fn sweep_specs() -> Vec<Vec<u8>> {
    let texts = [
        include_str!("../../../results/sweeps/fa-tlb-sizes/spec.toml"),
        include_str!("../../../results/sweeps/huge-pages/spec.toml"),
        include_str!("../../../results/sweeps/radix-vs-hashed/spec.toml"),
        include_str!("../../../results/sweeps/tlb-geometry/spec.toml"),
        include_str!("../../../configs/sweeps/stlb-geometry.toml"),
        "name = \"s\"\nsystem = \"skylake\"\nmode = \"zip\"\nbaseline = 1\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024]\n[[axis]]\nkey = \"system\"\nvalues = [\"skylake\", \"zen4\"]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\nset = [\"accesses=1000\"]\nsystem_set = [\"sim.cores=2\"]\n[[plot]]\nkind = \"line\"\nx = \"tlb.stlb.entries\"\nseries = \"system\"\nmetric = \"walks\"\nfile = \"p.svg\"\n",
    ];
    both(&texts)
}

/// Store lines: the shipped sweeps' first records, and the records of a failed run.
pub fn sweep_stores() -> Vec<Vec<u8>> {
    let stores = [
        include_str!("../../../results/sweeps/fa-tlb-sizes/results.jsonl"),
        include_str!("../../../results/sweeps/huge-pages/results.jsonl"),
        include_str!("../../../results/sweeps/tlb-geometry/results.jsonl"),
    ];
    let mut v: Vec<Vec<u8>> = Vec::new();
    for s in stores {
        let lines: Vec<&str> = s.lines().collect();
        v.push(lines[0].as_bytes().to_vec());
    }
    // Small records (the parser's cost grows with a line's length): two finished runs
    // of one sweep, with the counters a report reads, and a failed run.
    let small = |point: u32, cycles: u64| {
        format!(
            "{{\"sweep\":\"abc\",\"id\":\"{point}\",\"point\":{point},\"workload\":\"w\",\"axes\":[[\"tlb[0].entries\",\"{}\"]],\"total\":{{\"accesses\":1000,\"cycles\":{cycles},\"instructions\":900,\"walks\":12,\"tlb\":[{{\"name\":\"dtlb\",\"hits\":988,\"misses\":12}}]}}}}",
            1 << point
        )
    };
    v.push(format!("{}\n{}\n", small(0, 5000), small(1, 4000)).into_bytes());
    v.push(format!("{}\n", small(0, 5000)).into_bytes());
    v.push(
        b"{\"sweep\":\"abc\",\"id\":\"1\",\"point\":0,\"workload\":\"w\",\"axes\":[[\"k\",\"1\"]],\"error\":\"boom\"}\n"
            .to_vec(),
    );
    v
}
