//! Virtualization, `[virt]` (issue 18): the machine runs its processes inside virtual
//! machines (`vms`, one by default), and translation is two-dimensional. Absent = a native machine (nothing else
//! in the config changes meaning, and no native result or config hash changes).
//!
//! What each section means when `[virt]` is present:
//! - `[os]` is the **guest** OS, running inside each VM: `os.phys_mem` is a VM's
//!   guest-physical memory, and its page size, huge pages, paging and scheduling are the
//!   guest's. `[page_table]` is the guest's page-table design (gVA → gPA).
//! - `[virt.host]` is the **hypervisor**'s OS (the same keys as `[os]`): the machine's
//!   host-physical memory, its fragmentation, the host's huge pages (host THP) and the
//!   cost of a host fault, which backs guest-physical memory on first touch.
//! - `[virt.host_table]` is the host table (EPT/NPT, stage 2; gPA → hPA): radix with 4
//!   or 5 levels, or elastic cuckoo (nested elastic cuckoo, Stojkovic et al., ASPLOS
//!   2022); the same keys as `[page_table]`.
//!
//! In: the decoded table. Out: [`VirtConfig`] for `crate::virt`, and its problems under
//! `virt.<key>`; the checks against the guest's sections are passed their values by
//! [`super::SystemConfig::validate`].

use super::{HugePolicy, OsConfig, PageTableConfig};
use serde::{Deserialize, Serialize};

/// How guest translations are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtMode {
    /// Two-dimensional walks: every guest page-table read, and the final guest-physical
    /// address, is translated by the host table (Intel EPT, AMD NPT).
    #[default]
    Nested,
    /// Shadow paging: the hypervisor keeps a table per guest address space mapping gVA
    /// → hPA directly, walked one-dimensionally by the native walker; guest page-table
    /// writes, guest page faults it must see and guest CR3 writes trap to it
    /// (`crate::virt::shadow`).
    Shadow,
}

/// The nested TLB (AMD's NTLB): a fully associative LRU cache of host translations
/// (gPA page → hPA), probed before each host walk of a nested walk, per core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtlbConfig {
    pub entries: u32,
    /// Probe cycles. Probed with the host walk caches in parallel once per host walk
    /// the nested walk attempts: each such probe costs the slowest of them.
    pub latency: u32,
}

/// Virtualization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtConfig {
    #[serde(default)]
    pub mode: VirtMode,
    /// Virtual machines (1 to [`MAX_VMS`]), each with its own guest OS (`[os]`, the same
    /// for all: its own guest-physical memory of `os.phys_mem`), its own host table and
    /// its processes: process i of P runs in VM `i * vms / P + 1` (consecutive blocks),
    /// a forked child in its parent's. A core whose processes belong to several VMs
    /// switches VMs when [os.sched] switches between them (a VM exit, the host's switch,
    /// and a VPID for the incoming VM: `vpids`). Left out of the serialised config at 1,
    /// so one-VM configs keep their hash.
    #[serde(default = "one_vm", skip_serializing_if = "is_one")]
    pub vms: u32,
    /// The hypervisor's OS: host-physical memory and how it backs the VM's memory.
    pub host: OsConfig,
    /// The host table (EPT/NPT): `kind = "radix"` (4 or 5 levels) or `"cuckoo"`.
    pub host_table: PageTableConfig,
    /// Cycles of a VM exit and the re-entry (the round trip), charged for every exit
    /// besides the work done in the hypervisor.
    #[serde(default)]
    pub exit_cycles: u64,
    /// The nested TLB; absent = none.
    #[serde(default)]
    pub ntlb: Option<NtlbConfig>,
    /// Host walk caches (EPT paging-structure caches), one per host-table level at most,
    /// tagged by VM: a hit at level L starts a host walk below L. The keys of
    /// `[[walker.psc]]`.
    #[serde(default)]
    pub host_psc: Vec<super::PscConfig>,
    /// Guest shootdowns between vCPUs: scheme and costs.
    #[serde(default)]
    pub shootdown: VirtShootdownConfig,
    /// The host scheduler that preempts vCPUs.
    #[serde(default)]
    pub host_sched: HostSchedConfig,
    /// Virtual-processor ids (Intel VPID, AMD ASID) a core tags TLB entries with, for the
    /// host threads sharing it (`host_sched.threads_per_core`, each another VM's vCPU or
    /// the host): a vCPU keeps its TLB entries across a preemption only if the core has a
    /// VPID for each of them (round robin: with fewer, its VPID was reused and its
    /// entries flushed). 0 = no VPIDs: every VM exit and entry flushes the guest's TLB
    /// entries and walk caches (processors before VPID, Intel SDM vol. 3C, 29.1).
    /// Default: 65,535, the 16-bit VPID space (SDM 3C 25.6.12), which KVM gives each
    /// vCPU for good: nothing is ever flushed for want of one.
    #[serde(default = "all_vpids")]
    pub vpids: u32,
    /// Shadow paging (`mode = "shadow"`): the hypervisor's work, besides the exit, to
    /// fill one shadow entry on a hidden fault (a shadow miss the guest's table maps):
    /// a software walk of the guest's table and one shadow-entry write. No public
    /// per-fault figure was found; the preset's value is an estimate composed from
    /// /work/notes/virt-facts.md sec. 1 (a cheap exit handled in KVM's fastpath takes
    /// ~1,100 cycles beyond the round trip, kvm-unit-tests, commit 26efe2fd92e5), doubled
    /// for the guest-table walk.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shadow_fill_cycles: u64,
    /// Shadow paging: the hypervisor's work, besides the exit, per trapped guest
    /// page-table write (emulating the write and updating or dropping one shadow
    /// entry); charged per page a guest map, unmap or protect changes. Preset value:
    /// one fastpath exit's handling, ~1,100 cycles (virt-facts sec. 1), an estimate.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shadow_update_cycles: u64,
}

fn one_vm() -> u32 {
    1
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

/// Most virtual machines on one machine: each has its own guest OS model and host table
/// (KVM's own limit is far higher; 64 keeps a mistyped count from building thousands).
pub const MAX_VMS: u32 = 64;

fn all_vpids() -> u32 {
    65_535
}

/// Shadow costs are left out of a config's serialised form when 0 (nested paging), so
/// nested runs' config echo and hash stay those of configs written before shadow paging.
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Most nested-TLB entries: it is fully associative, kept in recency order and searched
/// in full per host walk (4,096 entries made a run 15x slower); real ones are small
/// (AMD publishes no size; the studies use 32).
const MAX_NTLB_ENTRIES: u32 = 256;

impl VirtConfig {
    /// Problems of `[virt]` for a guest whose OS is `guest_os`, on `cores` cores.
    pub fn validate(&self, guest_os: &OsConfig, cores: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        e.extend(self.vm_problems(guest_os, cores));
        // The host's own keys, checked as `[os]` and `[page_table]` check theirs, under
        // this section's paths. One host "process" per VM: the VM's host table.
        let host_keys = (self.host.validate(1, &self.host_table).into_iter())
            .chain(self.host_table.validate(&self.host))
            .map(|(k, m)| (rebase(&k), m));
        e.extend(host_keys);
        match &self.host_table {
            PageTableConfig::Radix(_) | PageTableConfig::Cuckoo(_) => {}
            other => e.push((
                "virt.host_table.kind".into(),
                format!(
                    "\"{}\" is not a host table design: EPT/NPT are radix (4 or 5 levels); \"cuckoo\" is the nested elastic cuckoo table",
                    crate::pagetable::DesignConfig::kind(other.design())
                ),
            )),
        }
        e.extend(self.host_unmodelled());
        if self.mode == VirtMode::Shadow
            && matches!(
                self.host.huge_pages.policy,
                HugePolicy::Promote | HugePolicy::Reserve
            )
        {
            e.push((
                "virt.host.huge_pages.policy".into(),
                "a host collapse (promote, reserve) under shadow paging is not modelled: the shadow entries over the collapsed host pages would have to go too; use never or always".into(),
            ));
        }
        let host_bits = self.host_table.design().va_bits();
        let guest_mem = guest_os.phys_mem.0;
        if host_bits < 64 && guest_mem > 1u64 << host_bits {
            // Blamed on `levels` where the table has them (the key that fixes it).
            let key = match &self.host_table {
                PageTableConfig::Radix(_) => "virt.host_table.levels",
                _ => "virt.host_table",
            };
            e.push((
                key.into(),
                format!(
                    "maps {host_bits}-bit guest-physical addresses ({} bytes), less than the VM's memory (os.phys_mem = {})",
                    1u64 << host_bits,
                    guest_os.phys_mem
                ),
            ));
        }
        let all_guests = guest_mem.saturating_mul(self.vms.clamp(1, MAX_VMS) as u64);
        if self.host.phys_mem.0 < all_guests {
            let vms = match self.vms {
                1 => "the VM's".to_string(),
                n => format!("{n} VMs x"),
            };
            e.push((
                "virt.host.phys_mem".into(),
                format!(
                    "{} of host memory cannot back {vms} {} (os.phys_mem): host overcommit needs host paging, not modelled yet",
                    self.host.phys_mem, guest_os.phys_mem
                ),
            ));
        }
        if self.exit_cycles > 1 << 40 {
            e.push((
                "virt.exit_cycles".into(),
                format!(
                    "{} cycles is beyond any real VM exit (at most 2^40)",
                    self.exit_cycles
                ),
            ));
        }
        for (key, v) in [
            ("virt.shadow_fill_cycles", self.shadow_fill_cycles),
            ("virt.shadow_update_cycles", self.shadow_update_cycles),
        ] {
            if v > 1 << 40 {
                e.push((
                    key.into(),
                    format!("{v} cycles is beyond any real hypervisor handler (at most 2^40)"),
                ));
            }
        }
        // The host walk caches are checked as the guest's are, against the host table's
        // levels (a hashed host table has none to cache).
        let walker = super::WalkerConfig {
            max_concurrent_walks: 1,
            psc: self.host_psc.clone(),
        };
        let levels = self.host_table.design().walk_cache_levels();
        e.extend((walker.validate(levels).into_iter()).map(|(k, m)| {
            let k = k.replacen("walker.psc", "virt.host_psc", 1);
            (k, m.replace("the page table", "the host table"))
        }));
        for (key, v) in self.shootdown.costs() {
            if v > 1 << 40 {
                e.push((
                    format!("virt.shootdown.{key}"),
                    format!("{v} cycles is beyond any real system (at most 2^40)"),
                ));
            }
        }
        if self.vpids > 65_535 {
            e.push((
                "virt.vpids".into(),
                format!(
                    "VPIDs are 16 bits (0 is the host's): at most 65535, not {}",
                    self.vpids
                ),
            ));
        }
        let hs = &self.host_sched;
        if hs.threads_per_core == 0 || hs.threads_per_core > 1024 {
            e.push((
                "virt.host_sched.threads_per_core".into(),
                format!("must be 1 to 1024, not {}", hs.threads_per_core),
            ));
        }
        if hs.threads_per_core > 1 && hs.quantum_cycles == 0 {
            e.push((
                "virt.host_sched.quantum_cycles".into(),
                "a core shared by several host threads needs a quantum above 0".into(),
            ));
        }
        for (key, v) in [
            ("quantum_cycles", hs.quantum_cycles),
            ("switch_cycles", hs.switch_cycles),
        ] {
            if v > 1 << 40 {
                e.push((
                    format!("virt.host_sched.{key}"),
                    format!("{v} cycles is beyond any real system (at most 2^40)"),
                ));
            }
        }
        if let Some(n) = &self.ntlb {
            if n.entries == 0 || n.entries > MAX_NTLB_ENTRIES {
                e.push((
                    "virt.ntlb.entries".into(),
                    format!(
                        "must be 1 to {MAX_NTLB_ENTRIES} (fully associative), not {}",
                        n.entries
                    ),
                ));
            }
        }
        e
    }
}

impl VirtConfig {
    /// Problems of `vms`: each VM needs a process of its own, and the host threads of
    /// `host_sched` stand for VMs the model does not run, which several simulated VMs
    /// would have to share VPIDs with (not modelled).
    fn vm_problems(&self, guest_os: &OsConfig, cores: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.vms == 0 || self.vms > MAX_VMS {
            e.push((
                "virt.vms".into(),
                format!("must be 1 to {MAX_VMS}, not {}", self.vms),
            ));
            return e;
        }
        let procs = guest_os.processes(cores);
        if self.vms > procs {
            e.push((
                "virt.vms".into(),
                format!(
                    "{} VMs need at least as many processes, and the machine runs {procs} (raise os.sched.processes)",
                    self.vms
                ),
            ));
        }
        if self.vms > 1 && self.host_sched.threads_per_core > 1 {
            e.push((
                "virt.host_sched.threads_per_core".into(),
                "with several VMs their vCPUs share the cores through [os.sched] (a VM switch where it switches between VMs); host threads beside them stand for VMs not simulated, whose VPID use with the simulated ones is not modelled: use 1, or more processes per core".into(),
            ));
        }
        e
    }
}

/// What the hypervisor model reads of `[virt.host]`.
const HOST_KEYS: &str = "the hypervisor model uses only phys_mem, frame_alloc, fragmentation, page_size, minor_fault_cycles, zero_4k_cycles, cow_copy_4k_cycles (host migration's copy) and huge_pages.{policy, sizes, fallback, promote_threshold, copy_4k_cycles, collapse_cycles, promote_in_place_cycles}";

impl VirtConfig {
    /// `[virt.host]` keys the hypervisor model would silently ignore or cannot honour,
    /// each refused with its path rather than accepted and left without effect.
    ///
    /// The model (`crate::virt::hypervisor`) runs the host's OS at one place: an EPT
    /// violation, where it maps the guest-physical page as a native first touch maps a
    /// virtual page, with the host's huge-page policy (`never`, `always`, and `promote`
    /// or `reserve`, whose collapses become host-initiated flushes of the VM's cached
    /// translations). So it honours physical memory and how frames are handed out, the
    /// fault costs and those policies' parameters. Everything else belongs to machinery
    /// that never runs on the host side: no host processes (the VM's vCPUs are the
    /// cores; the host's sharing of them is `[virt.host_sched]`), no fork or mprotect
    /// of guest memory, no unmap or demotion (so no split), no host paging, and no
    /// madvise events.
    fn host_unmodelled(&self) -> Vec<(String, String)> {
        let h = &self.host;
        let hp = &h.huge_pages;
        let mut e = Vec::new();
        let mut refuse =
            |key: &str, why: &str| e.push((format!("virt.host.{key}"), why.to_string()));
        match hp.policy {
            // The host sees no madvise events for guest-physical ranges, so `madvise`
            // would back every guest page at the base size, exactly as `never`. On a
            // real KVM host it means the opposite: QEMU advises every RAM block of the
            // guest with MADV_HUGEPAGE (`ram_block_add`, exec.c / system/physmem.c), so
            // THP `madvise` backs guest memory as `always` does. Either reading would
            // be a silent surprise: ask for the one meant.
            HugePolicy::Madvise => refuse(
                "huge_pages.policy",
                "the hypervisor gets no madvise events for guest-physical memory, so \"madvise\" would back it all with base pages; on KVM, QEMU advises all guest RAM with MADV_HUGEPAGE, which makes THP madvise act as \"always\": write \"always\" or \"never\"",
            ),
            HugePolicy::Never | HugePolicy::Always | HugePolicy::Promote | HugePolicy::Reserve => {}
        }
        // Demotion picks the 2M page with the fewest written 4 KiB pieces and frees the
        // unwritten ones: it needs the stores to each host page, and the host model sees
        // none of the guest's (a per-store hook on the host side does not exist).
        if hp.demote {
            refuse(
                "huge_pages.demote",
                "host demotion is not modelled yet: it chooses and frees pieces of host pages by the stores made to them, and the host model does not track the guest's stores",
            );
        }
        // Splits happen at a demotion or a partial unmap; the host does neither.
        if hp.split_cycles != 0 {
            refuse(
                "huge_pages.split_cycles",
                &format!("the host never splits its huge pages (no demotion, no unmap of guest memory), so nothing uses this key ({HOST_KEYS})"),
            );
        }
        if h.paging.replacement.is_some() {
            refuse(
                "paging.replacement",
                "host page replacement (swapping guest memory out) is not modelled yet",
            );
        }
        let p = &h.paging;
        for (key, set) in [
            ("major_fault_cycles", p.major_fault_cycles != 0),
            ("writeback_cycles", p.writeback_cycles != 0),
            ("seed", p.seed.is_some()),
        ] {
            if set {
                refuse(&format!("paging.{key}"), "the host does not page guest memory out (no host replacement yet), so nothing uses this key");
            }
        }
        // (`cow_copy_4k_cycles` is the copy of a host page a `host_migrate` event moves.)
        if h.protection_fault_cycles != 0 {
            refuse("protection_fault_cycles", &format!("the host never write-protects guest memory, so nothing uses this key ({HOST_KEYS})"));
        }
        // The host runs no processes of its own: the VM's vCPUs are the machine's cores
        // (`sim.cores`, scheduled by the guest's `[os.sched]`); how the host shares
        // cores between vCPUs and its other threads is `[virt.host_sched]`'s.
        let s = super::SchedConfig::default();
        let sc = &h.sched;
        for (key, set) in [
            ("processes", sc.processes != s.processes),
            ("quantum_cycles", sc.quantum_cycles != s.quantum_cycles),
            ("switch_cycles", sc.switch_cycles != s.switch_cycles),
            ("threads", sc.threads != s.threads),
            ("asids_per_core", sc.asids_per_core != s.asids_per_core),
        ] {
            if set {
                refuse(&format!("sched.{key}"), "the hypervisor runs no processes of its own (the VM's vCPUs are the cores, scheduled by [os.sched]): host scheduling of vCPUs is [virt.host_sched], so nothing uses this key");
            }
        }
        e
    }
}

/// `os.x` / `page_table.x` as the host's `virt.host.x` / `virt.host_table.x`.
fn rebase(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("os.") {
        format!("virt.host.{rest}")
    } else if let Some(rest) = key.strip_prefix("page_table.") {
        format!("virt.host_table.{rest}")
    } else {
        format!("virt.{key}")
    }
}

/// How a guest TLB shootdown reaches the other vCPUs (`virt.shootdown.scheme`); see
/// `crate::virt::vipi` for each scheme's timing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VipiSchemeConfig {
    /// Each guest ICR write exits; posted-interrupt delivery; wait for every target.
    #[default]
    Exit,
    /// IPI virtualization (Intel IPIv): the ICR write does not exit.
    Ipiv,
    /// KVM's paravirtual send-IPI hypercall: one exit for all targets.
    PvIpi,
    /// KVM's paravirtual TLB flush: preempted vCPUs are flushed at their next entry and
    /// not waited for; running ones get IPIs sent as `pv_flush_send` says.
    PvFlush,
    /// A flush hypercall: the hypervisor kicks the running vCPUs and flushes each.
    Broadcast,
}

/// How `pv_flush` sends its IPIs to running vCPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpiSendConfig {
    Exit,
    Ipiv,
    #[default]
    PvIpi,
}

/// Guest TLB shootdowns between vCPUs (`[virt.shootdown]`): the scheme and its costs, in
/// cycles at 4 GHz. Sources (docs/VIRTUALIZATION.md lists them): a VM exit and entry
/// round trip of 1,344-1,376 cycles on AMD (LKML, Dec 2020,
/// https://lkml.iu.edu/hypermail/linux/kernel/2012.2/00527.html), split evenly here; an
/// exit handled in KVM's fast path costs 2,495 cycles in all on Skylake-SP
/// (kvm-unit-tests, kernel commit 26efe2fd92e5), so 1,100 of handling; an IPI reaches a
/// running vCPU's handler about 5,700 cycles after the send, the sender's exit included
/// (kernel commit 4180bf1b655a, 80-vCPU guest), so 3,200 of posted-interrupt latency.
/// The guest handler's entry and exit, the acknowledgement and the host kick use the
/// native `[shootdown]` figures' sizes (interrupt 2,000, a host IPI 1,000, a flush 800);
/// the per-vCPU hypercall work (300), the IPIv write (50) and the preempted-flag check
/// (30) are assumed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VirtShootdownConfig {
    pub scheme: VipiSchemeConfig,
    pub pv_flush_send: IpiSendConfig,
    pub exit_cycles: u64,
    pub entry_cycles: u64,
    pub icr_cycles: u64,
    pub ipiv_send_cycles: u64,
    pub posted_latency_cycles: u64,
    pub interrupt_cycles: u64,
    pub ack_cycles: u64,
    pub pv_check_cycles: u64,
    pub hypercall_cycles: u64,
    pub per_vcpu_cycles: u64,
    pub kick_latency_cycles: u64,
    pub entry_flush_cycles: u64,
}

impl Default for VirtShootdownConfig {
    fn default() -> Self {
        VirtShootdownConfig {
            scheme: VipiSchemeConfig::Exit,
            pv_flush_send: IpiSendConfig::PvIpi,
            exit_cycles: 700,
            entry_cycles: 700,
            icr_cycles: 1_100,
            ipiv_send_cycles: 50,
            posted_latency_cycles: 3_200,
            interrupt_cycles: 2_000,
            ack_cycles: 1_000,
            pv_check_cycles: 30,
            hypercall_cycles: 1_100,
            per_vcpu_cycles: 300,
            kick_latency_cycles: 1_000,
            entry_flush_cycles: 800,
        }
    }
}

impl VirtShootdownConfig {
    /// Each cost key with its value, for the range check.
    pub fn costs(&self) -> [(&'static str, u64); 12] {
        [
            ("exit_cycles", self.exit_cycles),
            ("entry_cycles", self.entry_cycles),
            ("icr_cycles", self.icr_cycles),
            ("ipiv_send_cycles", self.ipiv_send_cycles),
            ("posted_latency_cycles", self.posted_latency_cycles),
            ("interrupt_cycles", self.interrupt_cycles),
            ("ack_cycles", self.ack_cycles),
            ("pv_check_cycles", self.pv_check_cycles),
            ("hypercall_cycles", self.hypercall_cycles),
            ("per_vcpu_cycles", self.per_vcpu_cycles),
            ("kick_latency_cycles", self.kick_latency_cycles),
            ("entry_flush_cycles", self.entry_flush_cycles),
        ]
    }
}

/// The host scheduler the vCPUs run under (`[virt.host_sched]`): vCPU i runs on core i,
/// sharing it round-robin with `threads_per_core - 1` other host threads (other VMs'
/// vCPUs, host work), at position i mod `threads_per_core` of that core's runqueue, so
/// neighbouring vCPUs are preempted at different times. 1 = each vCPU has its core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSchedConfig {
    pub threads_per_core: u32,
    /// A host thread's slice: EEVDF's base slice, 0.75 ms x (1 + log2 of the CPUs, at
    /// most 8) = 3 ms on hosts of 8 CPUs or more (Linux 6.6-6.14, kernel/sched/fair.c):
    /// 12,000,000 cycles at 4 GHz.
    pub quantum_cycles: u64,
    /// A host context switch between two slices (2 us, as `os.sched.switch_cycles`).
    pub switch_cycles: u64,
}

impl Default for HostSchedConfig {
    fn default() -> Self {
        HostSchedConfig {
            threads_per_core: 1,
            quantum_cycles: 12_000_000,
            switch_cycles: 8_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::run::load_system;

    /// The problems of `skylake-vm` with `extra` appended (TOML, later keys win over the
    /// preset's through `extends`).
    fn problems(extra: &str) -> Vec<(String, String)> {
        let text = format!("extends = \"skylake-vm\"\n{extra}");
        let (cfg, _) = load_system("t.toml", &text, &[]).expect("decodes");
        cfg.validate()
    }

    fn keys(extra: &str) -> Vec<String> {
        problems(extra).into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn the_virtualized_presets_are_valid() {
        for p in [
            "skylake-vm",
            "skylake-vm-shadow",
            "icelake-vm",
            "skylake-vm-cuckoo",
        ] {
            let (cfg, _) = load_system("t.toml", &format!("extends = \"{p}\"\n"), &[]).unwrap();
            assert_eq!(cfg.validate(), Vec::<(String, String)>::new(), "{p}");
            assert!(cfg.virt.is_some(), "{p}");
        }
    }

    #[test]
    fn host_madvise_is_refused_and_the_other_policies_pass() {
        // madvise: no madvise events reach the host (QEMU's MADV_HUGEPAGE makes it
        // `always` on KVM): refused, the message saying so.
        let p = problems("[virt.host.huge_pages]\npolicy = \"madvise\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "virt.host.huge_pages.policy");
        assert!(p[0].1.contains("MADV_HUGEPAGE"), "{}", p[0].1);
        // First-touch sizes, and promotion and reservation (their collapses are
        // host-initiated flushes), with the parameters they read.
        for ok in ["never", "always", "promote", "reserve"] {
            assert_eq!(
                keys(&format!("[virt.host.huge_pages]\npolicy = \"{ok}\"\n")),
                Vec::<String>::new()
            );
        }
        let promote = "[virt.host.huge_pages]\npolicy = \"promote\"\npromote_threshold = 8\n\
                       copy_4k_cycles = 1\ncollapse_cycles = 1\npromote_in_place_cycles = 1\n";
        assert_eq!(keys(promote), Vec::<String>::new());
    }

    #[test]
    fn host_keys_the_hypervisor_never_reads_are_refused_by_their_full_path() {
        // One key at a time, each set to a value other than its default.
        let cases = [
            (
                "[virt.host.huge_pages]\ndemote = true\n",
                "huge_pages.demote",
            ),
            (
                "[virt.host.huge_pages]\nsplit_cycles = 1\n",
                "huge_pages.split_cycles",
            ),
            (
                "[virt.host.paging]\nreplacement = \"lru\"\n",
                "paging.replacement",
            ),
            (
                "[virt.host.paging]\nmajor_fault_cycles = 1\n",
                "paging.major_fault_cycles",
            ),
            (
                "[virt.host.paging]\nwriteback_cycles = 1\n",
                "paging.writeback_cycles",
            ),
            ("[virt.host.paging]\nseed = 3\n", "paging.seed"),
            (
                "[virt.host]\nprotection_fault_cycles = 1\n",
                "protection_fault_cycles",
            ),
            ("[virt.host.sched]\nprocesses = 2\n", "sched.processes"),
            (
                "[virt.host.sched]\nquantum_cycles = 1\n",
                "sched.quantum_cycles",
            ),
            (
                "[virt.host.sched]\nswitch_cycles = 1\n",
                "sched.switch_cycles",
            ),
            ("[virt.host.sched]\nthreads = 2\n", "sched.threads"),
            (
                "[virt.host.sched]\nasids_per_core = 1\n",
                "sched.asids_per_core",
            ),
        ];
        for (toml, key) in cases {
            assert_eq!(keys(toml), [format!("virt.host.{key}")], "{toml}");
        }
        // What the model honours passes: memory, frames, costs, first-touch huge pages.
        let ok = "[virt.host]\nfragmentation = 0.5\nframe_alloc = \"sequential\"\n\
                  [virt.host.huge_pages]\npolicy = \"always\"\nsizes = [\"1G\", \"2M\"]\nfallback = \"base\"\n";
        assert_eq!(keys(ok), Vec::<String>::new());
    }

    #[test]
    fn the_host_table_must_address_and_the_host_must_hold_the_guest_memory() {
        // A 3-level radix host table maps 12 + 3 x 9 = 39 bits: 2^39 bytes = 512 GiB,
        // less than a 1 TiB guest; the host's 2 TiB holds it.
        let p = problems(
            // (skylake-vm's host walk caches include a level-4 one: none here.)
            "[os]\nphys_mem = \"1TiB\"\n[virt]\nhost_psc = []\n[virt.host]\nphys_mem = \"2TiB\"\n[virt.host_table]\nlevels = 3\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "virt.host_table.levels");
        assert!(p[0]
            .1
            .starts_with("maps 39-bit guest-physical addresses (549755813888 bytes)"));
        // 4 levels map 48 bits (256 TiB), more than os.phys_mem may be (64 TiB): fine.
        assert_eq!(
            keys("[os]\nphys_mem = \"1TiB\"\n[virt.host]\nphys_mem = \"2TiB\"\n"),
            Vec::<String>::new()
        );
        // Host memory below the guest's (skylake-vm's guest has 8 GiB).
        assert_eq!(
            keys("[virt.host]\nphys_mem = \"4GiB\"\n"),
            ["virt.host.phys_mem"]
        );
    }

    #[test]
    fn other_virt_keys_are_checked_with_their_paths() {
        assert_eq!(
            keys("[virt.ntlb]\nentries = 0\nlatency = 1\n"),
            ["virt.ntlb.entries"]
        );
        assert_eq!(
            keys("[virt]\nexit_cycles = 1099511627777\n"),
            ["virt.exit_cycles"]
        );
        // 2^40 itself is the largest accepted.
        assert_eq!(
            keys("[virt]\nexit_cycles = 1099511627776\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            keys("[virt.host_table]\nkind = \"inverted\"\n"),
            ["virt.host_table.kind"]
        );
    }

    #[test]
    fn an_unknown_mode_is_refused_and_shadow_refuses_host_collapses() {
        let text = "extends = \"skylake-vm\"\n[virt]\nmode = \"agile\"\n";
        let e = load_system("t.toml", text, &[]).unwrap_err().to_string();
        assert!(e.contains("virt.mode"), "{e}");
        assert!(e.contains("unknown variant `agile`"), "{e}");
        // promote is allowed nested, not under shadow paging.
        let p =
            problems("[virt]\nmode = \"shadow\"\n[virt.host.huge_pages]\npolicy = \"promote\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "virt.host.huge_pages.policy");
        assert!(p[0].1.contains("under shadow paging"), "{}", p[0].1);
    }
}
