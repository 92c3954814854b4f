//! The virtualization part of a run's report (`[virt]`): a core's nested walks and the
//! hypervisor's work for it, and the host's memory. Absent from native runs' JSON, so
//! their files are unchanged.
//!
//! In: a core's [`NestedStats`] (the walker's) and [`VirtStats`] (the hypervisor's work);
//! the hypervisor at the end of the run. Shadow paging's counters (`shadow`, in
//! [`VirtStats`]) and its tables' bytes appear only in shadow-paging runs. Out:
//! [`VirtReport`] under `stats.cores[i].virt`
//! and `stats.total.virt`, [`HostReport`] under `stats.host`.

use super::ratio;
use crate::os::PhysReport;
use crate::virt::VirtStats;
use crate::walker::NestedStats;
use serde::Serialize;

/// A core's nested walks and VM exits.
#[derive(Clone, Debug, Serialize)]
pub struct VirtReport {
    /// Nested walks (a faulting access walks again after each guest fault or EPT
    /// violation, as natively).
    pub nested_walks: u64,
    /// Memory references of the nested walks, by dimension: host reads translating a
    /// guest entry's gPA, the guest entries themselves, host reads translating the
    /// final gPA (`refs_per_walk` is their sum over `nested_walks`).
    pub host_refs_for_guest_entries: u64,
    pub guest_entry_refs: u64,
    pub host_refs_for_data: u64,
    pub refs_per_walk: f64,
    /// References by `[guest level][host level]`: column 0 is the guest entry's own
    /// read, row 0 the host walk of the final gPA.
    pub refs_by_level: Vec<Vec<u64>>,
    /// Host walks the nested walks needed (each probes the nested TLB, if any) and those
    /// the nested TLB answered without reading the host table.
    pub host_lookups: u64,
    pub ntlb_hits: u64,
    pub ntlb_hit_rate: f64,
    /// Host walk caches (EPT paging-structure caches): lookups, hits, hit rate.
    pub host_walk_caches: Vec<super::PscReport>,
    #[serde(flatten)]
    pub hypervisor: VirtStats,
}

impl VirtReport {
    pub fn new(n: &NestedStats, v: &VirtStats) -> VirtReport {
        let by_dim = n.by_dim;
        VirtReport {
            nested_walks: n.walks,
            host_refs_for_guest_entries: by_dim[0],
            guest_entry_refs: by_dim[1],
            host_refs_for_data: by_dim[2],
            refs_per_walk: ratio(by_dim.iter().sum(), n.walks),
            refs_by_level: n.refs.iter().map(|r| r.to_vec()).collect(),
            host_lookups: n.host_lookups,
            ntlb_hits: n.ntlb_hits,
            ntlb_hit_rate: ratio(n.ntlb_hits, n.host_lookups),
            host_walk_caches: (n.host_psc.iter())
                .map(|p| super::PscReport {
                    hit_rate: ratio(p.hits, p.lookups),
                    counts: p.clone(),
                })
                .collect(),
            hypervisor: v.clone(),
        }
    }
}

/// The host side of a virtualized run, at its end.
#[derive(Clone, Debug, Serialize)]
pub struct HostReport {
    /// Bytes of the host tables (EPT/NPT).
    pub host_table_bytes: u64,
    /// The host table design's own counters.
    pub host_tables: Vec<serde_json::Value>,
    /// Host-physical memory: free blocks by size, fragmentation.
    pub physical: PhysReport,
    /// Guest-physical memory the host backs, by host page size (bytes), since the
    /// start of the run (warm-up included: backing is a level, not a rate).
    pub backed_bytes: u64,
    pub backed_2m_pages: u64,
    pub backed_1g_pages: u64,
    /// Bytes of the shadow tables (shadow paging only), in host memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_table_bytes: Option<u64>,
    /// Each VM's share, on a machine of several VMs (left out with one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<VmReport>,
}

/// One VM of several, at the end of the run.
#[derive(Clone, Debug, Serialize)]
pub struct VmReport {
    pub vm: u16,
    /// Its guest address spaces (process address-space ids, forked children included).
    pub asids: Vec<u16>,
    /// Its guest OS's guest-physical memory in use, its free blocks and fragmentation
    /// (as `stats.physical`), and its guest page tables' bytes.
    pub guest_phys_bytes_in_use: u64,
    pub guest_physical: PhysReport,
    pub guest_page_table_bytes: u64,
    /// Bytes of its host table.
    pub host_table_bytes: u64,
    /// Switches of a core to this VM's vCPU from another VM's (all cores).
    pub vm_switches_in: u64,
}
