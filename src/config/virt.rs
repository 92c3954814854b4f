//! Virtualization, `[virt]` (issue 18): the machine runs its processes inside one virtual
//! machine, and translation is two-dimensional. Absent = a native machine (nothing else
//! in the config changes meaning, and no native result or config hash changes).
//!
//! What each section means when `[virt]` is present:
//! - `[os]` is the **guest** OS, running inside the VM: `os.phys_mem` is the VM's
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

use super::{OsConfig, PageTableConfig};
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
    /// Problems of `[virt]` for a guest whose OS is `guest_os`.
    pub fn validate(&self, guest_os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
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
        // The host model backs guest memory at first touch; it does not yet run a
        // replacement policy or demotion over it (they need a per-access host hook).
        if self.host.paging.replacement.is_some() {
            e.push((
                "virt.host.paging.replacement".into(),
                "host page replacement (swapping guest memory out) is not modelled yet".into(),
            ));
        }
        if self.mode == VirtMode::Shadow
            && matches!(
                self.host.huge_pages.policy,
                super::HugePolicy::Promote | super::HugePolicy::Reserve
            )
        {
            e.push((
                "virt.host.huge_pages.policy".into(),
                "a host collapse (promote, reserve) under shadow paging is not modelled: the shadow entries over the collapsed host pages would have to go too; use never, always or madvise".into(),
            ));
        }
        if self.host.huge_pages.demote {
            e.push((
                "virt.host.huge_pages.demote".into(),
                "host demotion is not modelled yet".into(),
            ));
        }
        let host_bits = self.host_table.design().va_bits();
        let guest_mem = guest_os.phys_mem.0;
        if host_bits < 64 && guest_mem > 1u64 << host_bits {
            e.push((
                "virt.host_table".into(),
                format!(
                    "maps {host_bits}-bit guest-physical addresses ({} bytes), less than the VM's memory (os.phys_mem = {})",
                    1u64 << host_bits,
                    guest_os.phys_mem
                ),
            ));
        }
        if self.host.phys_mem.0 < guest_mem {
            e.push((
                "virt.host.phys_mem".into(),
                format!(
                    "{} of host memory cannot back the VM's {} (os.phys_mem): host overcommit needs host paging, not modelled yet",
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
