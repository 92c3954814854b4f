//! The table of bad inputs (issue 17): configs, workloads, `--set` assignments, sweep
//! specs and traces, each run through the binary, each must exit with code 2 (never a
//! panic's 101) and say, on stderr, the file, the line or key path, and the reason.
//! Line numbers are counted by hand in each row's text; `{d}` stands for the row's
//! temporary folder. An error inside `[generator]` names the table's line and key (the
//! loader's known limit for internally tagged tables, see `loader`'s module doc).

use std::process::Command;

/// One row: the files to write (name, text), the command, and what stderr must hold.
struct Row {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    stderr: &'static [&'static str],
}

const SHOW: &[&str] = &["show", "-c", "{d}/c.toml"];
const RUN_W: &[&str] = &["run", "-q", "-w", "{d}/w.toml", "--out", "{d}/out"];
const PLAN: &[&str] = &["sweep", "plan", "{d}/s.toml"];

/// A TLB array of one structure; line 7 is `ways`, 8 `page_sizes`, 4 `level`.
macro_rules! one_tlb {
    ($level:literal, $entries:literal, $ways:literal, $sizes:literal) => {
        concat!(
            "extends = \"skylake\"\n[[tlb]]\nname = \"dtlb\"\nlevel = ",
            $level,
            "\nkind = \"data\"\nentries = ",
            $entries,
            "\nways = ",
            $ways,
            "\npage_sizes = ",
            $sizes,
            "\nlatency = 1\n"
        )
    };
}

const ROWS: &[Row] = &[
    // ---- system configs
    Row {
        name: "unknown key",
        files: &[("c.toml", "extends = \"skylake\"\n[sim]\nbogus = 1\n")],
        args: SHOW,
        stderr: &["c.toml:3: sim.bogus", "unknown field `bogus`"],
    },
    Row {
        name: "wrong type",
        files: &[("c.toml", "extends = \"skylake\"\n[sim]\ncores = \"two\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: sim.cores", "invalid type: string \"two\""],
    },
    Row {
        name: "negative count",
        files: &[("c.toml", "extends = \"skylake\"\n[sim]\ncores = -1\n")],
        args: SHOW,
        stderr: &["c.toml:3: sim.cores", "-1"],
    },
    Row {
        name: "zero ways",
        files: &[("c.toml", one_tlb!("1", "64", "0", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:7: tlb[0].ways"],
    },
    Row {
        name: "entries not divisible by ways",
        files: &[("c.toml", one_tlb!("1", "64", "3", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:7: tlb[0].ways", "not divisible by ways (3)"],
    },
    Row {
        name: "coalesce not a power of two",
        files: &[(
            "c.toml",
            concat!(
                one_tlb!("1", "64", "4", "[\"4K\"]"),
                "organisation = \"coalesced\"\ncoalesce = 3\n"
            ),
        )],
        args: SHOW,
        stderr: &["c.toml:11: tlb[0].coalesce", "power of two from 2 to 8", "not 3"],
    },
    Row {
        name: "coalesce on a set-associative TLB",
        files: &[(
            "c.toml",
            concat!(one_tlb!("1", "64", "4", "[\"4K\"]"), "coalesce = 4\n"),
        )],
        args: SHOW,
        stderr: &["c.toml:10: tlb[0].coalesce", "only a coalesced TLB"],
    },
    // ---- TLB prefetching ([prefetch]; line 1 is `extends`, 2 `[prefetch]`)
    Row {
        name: "prefetch trigger level that does not exist",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch]\ntrigger_level = 3\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.trigger_level", "the TLB levels are 1 to 2"],
    },
    Row {
        name: "prefetch buffer of no power-of-two sets",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch]\nbuffer_entries = 96\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.buffer_entries", "power-of-two number of sets"],
    },
    Row {
        name: "prefetch buffer slower than the last level",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch]\nbuffer_latency = 10\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.buffer_latency", "fastest structure takes 9"],
    },
    Row {
        name: "prefetcher unknown",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch]\nkind = \"magic\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.kind", "unknown variant `magic`"],
    },
    Row {
        name: "sequential prefetcher of degree 0",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.sequential]\ndegree = 0\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.sequential.degree", "1 to 16 pages"],
    },
    Row {
        name: "ASP table of unequal sets",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.asp]\nentries = 6\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.asp.entries", "6 entries in 4 ways"],
    },
    Row {
        name: "DP rows of no slot",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.dp]\nslots = 0\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.dp.slots", "1 to 32 distances"],
    },
    Row {
        name: "recency stack of one page",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.recency]\ncapacity = 1\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.recency.capacity", "2 to 2^24 pages"],
    },
    Row {
        name: "free prefetching on a hashed table",
        files: &[("c.toml", "extends = \"skylake-htab\"\n[prefetch]\nfree = \"all\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.free", "the page table is htab"],
    },
    Row {
        name: "free prefetching with leaf tables of 4 entries",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[prefetch]\nfree = \"all\"\n[page_table]\nkind = \"radix\"\nlevels = 4\nbits_per_level = [9, 9, 9, 2]\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.free", "the leaf tables have 4 entries"],
    },
    Row {
        name: "prefetching on a virtualized machine",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[prefetch]\nkind = \"sequential\"\n")],
        args: SHOW,
        stderr: &["c.toml:2: prefetch", "not modelled together with [virt]"],
    },
    // ---- Victima ([victima]; line 1 is `extends`, 2 `[victima]`)
    Row {
        name: "victima level that does not exist",
        files: &[("c.toml", "extends = \"skylake\"\n[victima]\nlevel = \"l9\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: victima.level", "no cache level is named \"l9\""],
    },
    Row {
        name: "victima level shared by the cores",
        files: &[("c.toml", "extends = \"skylake\"\n[victima]\nlevel = \"l3\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: victima.level", "shared by the cores"],
    },
    Row {
        name: "victima on a virtualized machine",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[victima]\nenable = true\n")],
        args: SHOW,
        stderr: &["c.toml:2: victima", "native machine (no [virt])"],
    },
    Row {
        name: "victima predictor unknown",
        files: &[("c.toml", "extends = \"skylake\"\n[victima]\npredictor = \"oracle\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: victima.predictor", "unknown variant `oracle`"],
    },
    Row {
        name: "range TLB at level 1",
        files: &[(
            "c.toml",
            concat!(
                one_tlb!("1", "64", "64", "[\"4K\"]"),
                "organisation = \"range\"\n[os.rmm]\nrange_tlb_entries = 0\n"
            ),
        )],
        args: SHOW,
        stderr: &["c.toml:4: tlb[0].level", "beside the last-level TLB", "not at level 1"],
    },
    Row {
        name: "range TLB without eager paging",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[os.rmm]\neager_paging = false\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: os.rmm.eager_paging", "needs eager paging"],
    },
    Row {
        name: "eager paging with a hashed table that evicts",
        files: &[("c.toml", "extends = \"skylake-htab\"\n[os.rmm]\n")],
        args: SHOW,
        stderr: &["page_table.kind", "evicts translations its ranges still cover"],
    },
    Row {
        name: "ASAP on a hashed table",
        files: &[(
            "c.toml",
            "extends = \"skylake-inverted\"\n[page_table]\nasap = true\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: page_table.asap", "unknown field `asap`"],
    },
    Row {
        name: "ASAP on a virtualized machine",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[page_table]\nasap = true\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: page_table.asap", "not with [virt]"],
    },
    Row {
        // `[page_table]` is an internally tagged table: a type error names the table's
        // line and key (the loader's known limit, see the module doc).
        name: "ASAP not a boolean",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[page_table]\nasap = 1\n",
        )],
        args: SHOW,
        stderr: &["c.toml:2: page_table", "invalid type: integer `1`, expected a boolean"],
    },
    Row {
        name: "eager paging on a virtualized machine",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[os.rmm]\n")],
        args: SHOW,
        stderr: &["c.toml:2: os.rmm", "[virt]) is not supported"],
    },
    Row {
        // The range TLB would come after the POM-TLB's level, probed after its memory
        // read instead of beside the STLB: refused at the key that adds it.
        name: "range TLB with a POM-TLB",
        files: &[(
            "c.toml",
            "extends = \"skylake-pom\"\n[os.rmm]\nrange_tlb_entries = 32\n",
        )],
        args: SHOW,
        stderr: &[
            "c.toml:3: os.rmm.range_tlb_entries",
            "a POM-TLB (tlb[7])",
            "not supported",
        ],
    },
    Row {
        // The same from the other side: `[pom_tlb]` added to the RMM preset.
        name: "POM-TLB added to a machine with a range TLB",
        files: &[(
            "c.toml",
            "extends = \"skylake-rmm\"\n[pom_tlb]\nentries = 1024\n",
        )],
        args: SHOW,
        stderr: &["os.rmm.range_tlb_entries", "a POM-TLB (tlb[7])", "not supported"],
    },
    Row {
        // `[pom_tlb]` on a preset that has one: resizing is done on its structures.
        name: "a second POM-TLB",
        files: &[("c.toml", "extends = \"skylake-pom\"\n[pom_tlb]\nentries = 1024\n")],
        args: SHOW,
        stderr: &["c.toml:2: pom_tlb", "a POM-TLB already (`pom_4k`)", "tlb.pom_4k.entries"],
    },
    Row {
        name: "a POM-TLB with no partition",
        files: &[("c.toml", "extends = \"skylake\"\n[pom_tlb]\npage_sizes = []\n")],
        args: SHOW,
        stderr: &["c.toml:3: pom_tlb.page_sizes", "no page size"],
    },
    Row {
        // Victima follows the last TLB level, which the range TLB would be.
        name: "Victima with a range TLB",
        files: &[(
            "c.toml",
            "extends = \"skylake-victima\"\n[os.rmm]\nrange_tlb_entries = 32\n",
        )],
        args: SHOW,
        stderr: &["victima.enable", "range TLB (os.rmm)", "not supported"],
    },
    Row {
        // Both follow a last-level TLB miss, in an order neither paper gives.
        name: "Victima with a Utopia RestSeg",
        files: &[(
            "c.toml",
            "extends = \"skylake-utopia\"\n[victima]\nenable = true\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: victima.enable", "os.utopia", "not modelled"],
    },
    Row {
        // Eager paging places whole mappings itself; the RestSeg would split them.
        name: "RMM with a Utopia RestSeg",
        files: &[(
            "c.toml",
            "extends = \"skylake-utopia\"\n[os.rmm]\nrange_tlb_entries = 32\n",
        )],
        args: SHOW,
        stderr: &["c.toml:2: os.rmm", "cannot be combined with os.utopia"],
    },
    Row {
        name: "sets not a power of two",
        files: &[("c.toml", one_tlb!("1", "48", "4", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:", "tlb[0].", "12", "power of two"],
    },
    Row {
        name: "unknown page size",
        files: &[("c.toml", one_tlb!("1", "64", "4", "[\"3M\"]"))],
        args: SHOW,
        stderr: &["c.toml:8: tlb[0].page_sizes[0]", "3M"],
    },
    Row {
        name: "level 0",
        files: &[("c.toml", one_tlb!("0", "64", "4", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:4: tlb[0].level", "must be 1 to 8"],
    },
    Row {
        name: "level past the last one allowed",
        files: &[("c.toml", one_tlb!("4294967295", "64", "4", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:4: tlb[0].level", "must be 1 to 8"],
    },
    Row {
        name: "a gap between levels",
        files: &[("c.toml", one_tlb!("2", "64", "4", "[\"4K\"]"))],
        args: SHOW,
        stderr: &["c.toml:", "tlb", "no structure has level 1"],
    },
    Row {
        name: "overlapping TLBs",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[[tlb]]\nname = \"a\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n[[tlb]]\nname = \"b\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n",
        )],
        args: SHOW,
        // The second structure's page sizes, line 16.
        stderr: &["c.toml:16: tlb[1].page_sizes", "already held by tlb[0] (`a`)"],
    },
    Row {
        name: "a name used twice",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[[tlb]]\nname = \"a\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n[[tlb]]\nname = \"a\"\nlevel = 1\nkind = \"instruction\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\n",
        )],
        args: SHOW,
        stderr: &["c.toml:11: tlb[1].name", "`a` is used twice"],
    },
    Row {
        name: "a victim TLB at level 1",
        files: &[(
            "c.toml",
            "extends = \"skylake\"\n[[tlb]]\nname = \"a\"\nlevel = 1\nkind = \"data\"\nentries = 64\nways = 4\npage_sizes = [\"4K\"]\nlatency = 1\nfill = \"victim\"\n",
        )],
        args: SHOW,
        stderr: &["c.toml:10: tlb[0].fill", "no level above"],
    },
    Row {
        name: "an unknown page-table design",
        files: &[("c.toml", "extends = \"skylake\"\n[page_table]\nkind = \"btree\"\n")],
        args: SHOW,
        stderr: &["c.toml:", "page_table", "unknown variant `btree`"],
    },
    Row {
        name: "extends a preset that does not exist",
        files: &[("c.toml", "extends = \"skylke\"\n")],
        args: SHOW,
        stderr: &["c.toml:1: extends", "skylke", "skylake"],
    },
    Row {
        name: "extends itself through another file",
        files: &[
            ("c.toml", "extends = \"d.toml\"\n"),
            ("d.toml", "extends = \"c.toml\"\n"),
        ],
        args: SHOW,
        stderr: &["d.toml:1: extends", "closes a cycle", "c.toml extends"],
    },
    Row {
        name: "extends is not a name",
        files: &[("c.toml", "extends = 3\n")],
        args: SHOW,
        stderr: &["c.toml:1: extends", "must be a preset name or a file path"],
    },
    Row {
        name: "a TOML syntax error",
        files: &[("c.toml", "extends = \"skylake\"\n[sim\ncores = 2\n")],
        args: SHOW,
        stderr: &["c.toml:2"],
    },
    Row {
        name: "a key given twice",
        files: &[("c.toml", "extends = \"skylake\"\n[sim]\ncores = 1\ncores = 2\n")],
        args: SHOW,
        stderr: &["c.toml:4", "duplicate key"],
    },
    Row {
        name: "a config file that is not there",
        files: &[],
        args: SHOW,
        stderr: &["c.toml", "cannot read"],
    },
    // ---- ATP and SBFP ([prefetch.atp], [prefetch.sbfp]; line 1 is `extends`, 2 the table)
    Row {
        name: "SBFP threshold no counter can exceed",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.sbfp]\nthreshold = 1023\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.sbfp.threshold", "below the counters' maximum, 1023"],
    },
    Row {
        name: "SBFP sampler of no entries",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.sbfp]\nsampler_entries = 0\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.sbfp.sampler_entries", "1 to 4096 entries"],
    },
    Row {
        name: "ATP counter of 0 bits",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.atp]\nc0_bits = 0\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.atp.c0_bits", "1 to 16 bits"],
    },
    Row {
        name: "ATP MASP table of no whole sets",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch.atp]\nmasp_ways = 3\n")],
        args: SHOW,
        stderr: &["prefetch.atp.masp_entries", "64 entries in 3 ways"],
    },
    Row {
        name: "free prefetching mode unknown",
        files: &[("c.toml", "extends = \"skylake\"\n[prefetch]\nfree = \"some\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: prefetch.free", "unknown variant `some`", "sbfp"],
    },
    // ---- virtualization ([virt]; line 1 is `extends = "skylake-vm"`)
    Row {
        name: "virt: an unknown key",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt]\nbogus = 1\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.bogus", "unknown field `bogus`"],
    },
    Row {
        name: "virt: an unknown mode",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt]\nmode = \"agile\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.mode", "unknown variant `agile`"],
    },
    Row {
        name: "virt: no VM",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt]\nvms = 0\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.vms", "must be 1 to 64"],
    },
    Row {
        name: "virt: more VMs than processes",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt]\nvms = 3\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.vms", "3 VMs need at least as many processes"],
    },
    Row {
        name: "virt: several VMs beside host threads",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[os.sched]\nprocesses = 2\n[virt]\nvms = 2\n[virt.host_sched]\nthreads_per_core = 2\n",
        )],
        args: SHOW,
        stderr: &["c.toml:7: virt.host_sched.threads_per_core", "several VMs"],
    },
    Row {
        name: "virt: host memory short of every VM's",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[os.sched]\nprocesses = 2\n[virt]\nvms = 2\n[virt.host]\nphys_mem = \"12GiB\"\n",
        )],
        args: SHOW,
        stderr: &["c.toml:7: virt.host.phys_mem", "cannot back 2 VMs x 8GiB"],
    },
    Row {
        name: "virt: a host collapse under shadow paging",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm-shadow\"\n[virt.host.huge_pages]\npolicy = \"promote\"\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.huge_pages.policy", "under shadow paging"],
    },
    Row {
        name: "virt: an inverted host table",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[virt.host_table]\nkind = \"inverted\"\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.host_table.kind", "\"inverted\" is not a host table design"],
    },
    Row {
        name: "virt: less host memory than the guest's",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt.host]\nphys_mem = \"4GiB\"\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.phys_mem", "cannot back the VM's 8GiB"],
    },
    Row {
        // os.phys_mem stops at 64 TiB, within 4 levels' 2^48 bytes: 3 levels (2^39 =
        // 512 GiB) under a 1 TiB guest is what the check can meet.
        name: "virt: a host table too shallow for the guest's memory",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[os]\nphys_mem = \"1TiB\"\n[virt]\nhost_psc = []\n[virt.host]\nphys_mem = \"2TiB\"\n[virt.host_table]\nlevels = 3\n",
        )],
        args: SHOW,
        stderr: &["c.toml:9: virt.host_table.levels", "maps 39-bit guest-physical addresses"],
    },
    Row {
        name: "virt: a nested TLB of no entries",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[virt.ntlb]\nentries = 0\nlatency = 1\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.ntlb.entries", "must be 1 to 256"],
    },
    Row {
        name: "virt: an exit past 2^40 cycles",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt]\nexit_cycles = 1099511627777\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.exit_cycles", "at most 2^40"],
    },
    Row {
        name: "virt: host demotion",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[virt.host.huge_pages]\ndemote = true\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.huge_pages.demote", "host demotion is not modelled yet"],
    },
    Row {
        name: "virt: a host split cost",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[virt.host.huge_pages]\nsplit_cycles = 100\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.huge_pages.split_cycles", "never splits"],
    },
    Row {
        name: "virt: host madvise",
        files: &[(
            "c.toml",
            "extends = \"skylake-vm\"\n[virt.host.huge_pages]\npolicy = \"madvise\"\n",
        )],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.huge_pages.policy", "MADV_HUGEPAGE"],
    },
    Row {
        name: "virt: host scheduling",
        files: &[("c.toml", "extends = \"skylake-vm\"\n[virt.host.sched]\nthreads = 2\n")],
        args: SHOW,
        stderr: &["c.toml:3: virt.host.sched.threads", "runs no processes of its own"],
    },
    Row {
        name: "virt: --set an exit past 2^40 cycles",
        files: &[],
        args: &["show", "-c", "skylake-vm", "--set", "virt.exit_cycles=1099511627777"],
        stderr: &["--set virt.exit_cycles=1099511627777", "virt.exit_cycles", "at most 2^40"],
    },
    // ---- workloads
    Row {
        name: "a host migration on a native machine",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 1\nkind = \"host_migrate\"\noffset = 0\nlen = \"4KiB\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:7: event[0].kind", "native (no host)"],
    },
    Row {
        name: "an unknown generator",
        files: &[("w.toml", "accesses = 10\n[generator]\nkind = \"gaussian\"\n")],
        args: RUN_W,
        stderr: &["w.toml:", "generator", "unknown variant `gaussian`"],
    },
    Row {
        name: "a negative Zipf exponent",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"zipf\"\nfootprint = \"1MiB\"\nexponent = -1.0\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:5: generator.exponent"],
    },
    Row {
        name: "a hot fraction above 1",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"hot_cold\"\nfootprint = \"1MiB\"\nhot_fraction = 1.5\nhot_access_fraction = 0.9\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:5: generator.hot_fraction"],
    },
    Row {
        name: "a write fraction above 1",
        files: &[(
            "w.toml",
            "accesses = 10\nwrite_fraction = 2.0\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:2: write_fraction"],
    },
    Row {
        name: "a zero footprint",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = \"0KiB\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:4: generator.footprint"],
    },
    Row {
        name: "a generator without accesses",
        files: &[("w.toml", "[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n")],
        args: RUN_W,
        stderr: &["w.toml", "accesses"],
    },
    Row {
        name: "a base that is not 1 GiB aligned",
        files: &[(
            "w.toml",
            "accesses = 10\nbase = 4096\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:2: base"],
    },
    Row {
        name: "a reference string with a letter",
        files: &[("w.toml", "[generator]\nkind = \"refs\"\nrefs = \"1 2 z\"\n")],
        args: RUN_W,
        stderr: &["w.toml:1: generator", "unexpected `z` at position 4"],
    },
    Row {
        name: "a reference string with an unclosed group",
        files: &[("w.toml", "[generator]\nkind = \"refs\"\nrefs = \"1 (2 3\"\n")],
        args: RUN_W,
        stderr: &["w.toml:1: generator", "unclosed `(` at position 2"],
    },
    Row {
        name: "a repetition past the limit",
        files: &[("w.toml", "[generator]\nkind = \"refs\"\nrefs = \"(1 2)x18446744073709551615\"\n")],
        args: RUN_W,
        stderr: &["w.toml:1: generator", "expands beyond 16777216 references"],
    },
    Row {
        name: "a trace that is not there",
        files: &[("w.toml", "[generator]\nkind = \"trace\"\npath = \"nope.txt\"\n")],
        args: RUN_W,
        stderr: &["w.toml:3: generator.path", "cannot read trace", "nope.txt"],
    },
    Row {
        name: "an unknown event",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 1\nkind = \"explode\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:", "event[0]", "unknown variant `explode`"],
    },
    Row {
        name: "an mprotect without rights",
        files: &[(
            "w.toml",
            "accesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 1\nkind = \"mprotect\"\noffset = \"0\"\nlen = \"4KiB\"\n",
        )],
        args: RUN_W,
        stderr: &["w.toml:", "event[0]", "prot"],
    },
    // ---- --set
    Row {
        name: "--set: a component that does not exist",
        files: &[],
        args: &["show", "--set", "tlb.nosuch.entries=4"],
        stderr: &["--set tlb.nosuch.entries=4", "tlb.nosuch", "stlb"],
    },
    Row {
        name: "--set: an index past the end",
        files: &[],
        args: &["show", "--set", "tlb[99].entries=4"],
        stderr: &["--set tlb[99].entries=4", "tlb[99]"],
    },
    Row {
        name: "--set: no value",
        files: &[],
        args: &["show", "--set", "tlb.stlb.entries"],
        stderr: &["--set tlb.stlb.entries", "expected `key.path=value`"],
    },
    Row {
        name: "--set: zero ways",
        files: &[],
        args: &["show", "--set", "tlb.stlb.ways=0"],
        stderr: &["--set tlb.stlb.ways=0", "tlb.stlb.ways"],
    },
    Row {
        name: "--set: a TLB level past 8",
        files: &[],
        args: &["show", "--set", "tlb.stlb.level=4294967295"],
        stderr: &["--set tlb.stlb.level=4294967295", "tlb.stlb.level", "must be 1 to 8"],
    },
    Row {
        // Refused without building a 4294967295-core (formerly a 1024-core) topology.
        name: "--set: more cores than allowed",
        files: &[],
        args: &["show", "--set", "sim.cores=4294967295"],
        stderr: &["--set sim.cores=4294967295", "sim.cores", "must be 1 to 1024"],
    },
    Row {
        name: "--set: a word for a number",
        files: &[],
        args: &["show", "--set", "sim.cores=abc"],
        stderr: &["--set sim.cores=abc", "sim.cores", "invalid type"],
    },
    Row {
        name: "--set: an unknown key",
        files: &[],
        args: &["show", "--set", "sim.coress=2"],
        stderr: &["--set sim.coress=2", "sim.coress", "did you mean `cores`?"],
    },
    Row {
        name: "--set: negative accesses",
        files: &[],
        args: &["run", "-q", "--set", "workload.accesses=-5", "--out", "{d}/out"],
        stderr: &["--set workload.accesses=-5", "-5 is out of range", "0 to 9223372036854775807"],
    },
    // ---- sweep specs
    Row {
        name: "sweep: an axis without values",
        files: &[(
            "s.toml",
            "name = \"s\"\nsystem = \"skylake\"\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = []\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n",
        )],
        args: PLAN,
        stderr: &["s.toml", "axis `tlb.stlb.entries`: no values"],
    },
    Row {
        name: "sweep: zipped axes of different lengths",
        files: &[(
            "s.toml",
            "name = \"s\"\nsystem = \"skylake\"\nmode = \"zip\"\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024]\n[[axis]]\nkey = \"tlb.stlb.ways\"\nvalues = [4]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n",
        )],
        args: PLAN,
        stderr: &["s.toml", "axis `tlb.stlb.ways` has 1 values, the first has 2"],
    },
    Row {
        name: "sweep: a baseline past the points",
        files: &[(
            "s.toml",
            "name = \"s\"\nsystem = \"skylake\"\nbaseline = 5\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n",
        )],
        args: PLAN,
        stderr: &["s.toml", "baseline = 5", "2 points"],
    },
    Row {
        name: "sweep: an unknown key in the spec",
        files: &[(
            "s.toml",
            "name = \"s\"\nsystem = \"skylake\"\nbogus = 1\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n",
        )],
        args: PLAN,
        stderr: &["s.toml:3: bogus", "unknown field `bogus`"],
    },
    Row {
        name: "sweep: an axis over a key that does not exist",
        files: &[
            (
                "s.toml",
                "name = \"s\"\nsystem = \"skylake\"\n[[axis]]\nkey = \"tlb.nosuch.entries\"\nvalues = [512]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n",
            ),
            ("w.toml", "accesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n"),
        ],
        args: PLAN,
        stderr: &["tlb.nosuch", "workload `w`"],
    },
    Row {
        name: "sweep: a plot of an axis that is not swept",
        files: &[(
            "s.toml",
            "name = \"s\"\nsystem = \"skylake\"\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n[[plot]]\nkind = \"line\"\nx = \"tlb.stlb.ways\"\n",
        )],
        args: PLAN,
        stderr: &["s.toml", "tlb.stlb.ways"],
    },
    // ---- traces
    Row {
        name: "lackey: a line that is not lackey",
        files: &[("t.lackey", "I  00400000,2\nbogus\n")],
        args: &["trace", "stats", "{d}/t.lackey"],
        stderr: &["t.lackey:2:", "bogus"],
    },
    Row {
        name: "lackey: an access wider than a page",
        files: &[("t.lackey", "I  00400000,2\n L 1000,8192\n")],
        args: &["trace", "stats", "{d}/t.lackey"],
        stderr: &["t.lackey:2:", "wider than a page"],
    },
    Row {
        name: "lackey: a size of twenty digits",
        files: &[("t.lackey", "I  00400000,2\n L 1000,18446744073709551616\n")],
        args: &["trace", "stats", "{d}/t.lackey"],
        stderr: &["t.lackey:2:"],
    },
    Row {
        name: "text: an unknown operation",
        files: &[("t.txt", "R 0x1000\nQ 12\n")],
        args: &["trace", "stats", "{d}/t.txt"],
        stderr: &["t.txt:2:", "expected R, W, F"],
    },
    Row {
        name: "text: an event without its length",
        files: &[("t.txt", "R 0x1000\nmunmap 0x1000\n")],
        args: &["trace", "stats", "{d}/t.txt"],
        stderr: &["t.txt:2:", "needs an address and a length"],
    },
    Row {
        name: "text: an instruction count past 32 bits",
        files: &[("t.txt", "R 0x1000 i=4294967296\n")],
        args: &["trace", "stats", "{d}/t.txt"],
        stderr: &["t.txt:1:", "bad instruction count"],
    },
    Row {
        name: "refs: an unclosed group",
        files: &[("t.refs", "1\n(2 3\n")],
        args: &["trace", "stats", "{d}/t.refs"],
        stderr: &["t.refs:2:", "unclosed `(` at position 2"],
    },
    Row {
        name: "refs: a page past 64 bits of address",
        files: &[("t.refs", "1\n2 18446744073709551615\n")],
        args: &["trace", "stats", "{d}/t.refs"],
        stderr: &["t.refs:2:", "does not fit in 64 bits"],
    },
    Row {
        name: "mmt: no magic",
        files: &[("t.mmt", "NOTATRACE_AT_ALL_0123456789abcdef")],
        args: &["trace", "stats", "{d}/t.mmt"],
        stderr: &["t.mmt: byte 0:", "no MMUTRACE magic"],
    },
    Row {
        name: "mmt: a truncated header",
        files: &[("t.mmt", "MMUTRACE\x01\0\0\0")],
        args: &["trace", "stats", "{d}/t.mmt"],
        stderr: &["t.mmt: byte 0:", "truncated header (12 of 32 bytes)"],
    },
];

#[test]
fn every_bad_input_exits_2_naming_file_place_and_reason() {
    assert!(ROWS.len() >= 40, "{} rows", ROWS.len());
    let mut failures = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        for (name, text) in row.files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let args: Vec<String> = row.args.iter().map(|a| a.replace("{d}", &d)).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
            .args(&args)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let missing: Vec<&&str> = (row.stderr.iter())
            .filter(|s| !stderr.contains(&s.replace("{d}", &d)))
            .collect();
        if code != Some(2) || !missing.is_empty() {
            failures.push(format!(
                "row {i} ({}): exit {code:?}, missing {missing:?} in stderr:\n{stderr}",
                row.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A named pipe given as a trace file: refused before anything opens it (exit 2, naming
/// the file and the way that works, standard input), where it waited for ever: a trace
/// is opened more than once (its format, its length, the run), and the check's open
/// took the writer's bytes and left the next open waiting for a writer that was gone.
#[test]
fn a_named_pipe_as_a_trace_is_refused_pointing_at_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("t.mmt.xz");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (code, _, err) = crate::mmusim_bounded(
        Some(dir.path()),
        &["run", "-q", "--trace", "t.mmt.xz"],
        b"",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("t.mmt.xz") && err.contains("a pipe or device") && err.contains("--trace -"),
        "{err}"
    );
}
