//! A shadow-paging machine's TLB miss (`virt.mode = "shadow"`): the native walker walks
//! the hypervisor's shadow table of the address space (gVA → hPA) one-dimensionally,
//! with the native walk caches, so a cold walk reads one entry per level. A
//! not-present shadow entry exits to the hypervisor (the #PF intercept), which fills
//! the entry if the guest maps the address (a hidden fault), or injects the fault: the
//! guest OS handles it exactly as a native fault (its effects through
//! [`super::shootdown::apply_fault`], which also brings them to the shadow tables), and
//! its write of the new entry traps, an exit and a shadow update. After either, the
//! access walks again, as hardware replays it. Every walk and exit is counted.
//!
//! In: the core, the gVA, the guest table (read by the hypervisor in software, never
//! walked), the shared machine with its [`Hypervisor`](crate::virt::Hypervisor). Out:
//! the shadow entry's translation for the TLBs (the smaller of the guest's and the
//! host's page) and the walk-cache, read and fault cycles, as the native path returns
//! them (fault: guest faults, exits, the hypervisor's fills and updates, host faults).

use super::core::{Core, Timing};
use super::record::NoRecord;
use super::shootdown::{apply_effects, apply_fault};
use super::Shared;
use crate::addr::VirtAddr;
use crate::pagetable::{PageTable, Translation};
use crate::virt::Intercept;
use crate::SimError;

/// Most walks one access may need: 2 (a miss, then the walk after its fill or after the
/// injected fault's trapped write filled the entry); the bound, with room to spare,
/// keeps a model error from looping.
const MAX_WALKS: usize = 4;

/// The shadow-walk miss path; returns the translation and its walk-cache, read and
/// fault cycles.
#[inline(never)]
pub(super) fn walk_shadow<PT: PageTable>(
    core: &mut Core,
    va: VirtAddr,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
) -> Result<(Translation, u64, u64, u64), SimError> {
    let (mut psc, mut pte, mut fault) = (0, 0, 0);
    for _ in 0..MAX_WALKS {
        let hv = (sh.virt.as_deref_mut()).expect("a virtualized machine");
        let table = hv.shadow_table(core.asid)?;
        let r =
            (core.walker).walk_recorded(core.id, core.asid, va, table, &mut sh.mem, &mut NoRecord);
        psc += r.psc_cycles;
        pte += r.pte_cycles;
        if let Some(tr) = r.translation {
            return Ok((tr, psc, pte, fault));
        }
        match hv.shadow_intercept(&*pt, core.asid, va, &mut core.virt)? {
            Intercept::Filled { cycles } => {
                super::overflow::check(core, t, cycles)?;
                fault += cycles;
            }
            Intercept::Inject { cycles } => {
                // The guest OS takes the #PF; its changes reach the shadow tables.
                let os = &mut sh.os[super::vm_index(core.vm)];
                os.handle_fault(pt, core.asid, va, &mut core.os_stats, &mut sh.fx)?;
                let os = apply_fault(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut());
                // Its write of the new entry traps: the shadow entry is filled from it.
                let hv = (sh.virt.as_deref_mut()).expect("a virtualized machine");
                let write = hv.shadow_guest_write(&*pt, core.asid, va, &mut core.virt)?;
                let c = cycles.saturating_add(os).saturating_add(write);
                super::overflow::check(core, t, c)?;
                fault += c;
            }
        }
        let hv = (sh.virt.as_deref_mut()).expect("a virtualized machine");
        if hv.shadow_freed_tables() {
            // A shadow table went: it leaves every core's walk caches (and, with them,
            // the address space's TLB entries), here and by shootdown elsewhere.
            sh.fx.flush_space = true;
            sh.fx.trigger = crate::os::Trigger::Collapse;
            apply_effects(core, &mut sh.fx, &mut sh.mail, None);
        }
    }
    Err(SimError(format!(
        "{va:#x}: still not mapped after {MAX_WALKS} shadow walks and their faults"
    )))
}
