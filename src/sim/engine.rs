//! The engine: global time order and the run loop.
//!
//! The core with the smallest clock runs next (ties go to the lower core id), and keeps
//! running until its clock passes the next core's, the end of its quantum or the arrival
//! of an IPI, so no core is more than one access ahead of another and cross-core events
//! see a global time order. Accesses arrive in batches of [`super::BATCH`]; the per-access
//! loop tests one position per access, at which the engine's bookkeeping waits: the end
//! of the batch, of warm-up or of a timeline window (`event_at`), or the next OS event
//! (`os_event_at`). After a core stops, the engine delivers its shootdowns, runs its
//! system call and switches processes (`after_run`).

use super::core::{step, Core, CoreCounters, Timing};
use super::fused::{self, Fused};
use super::record::NoRecord;
use super::shootdown::{apply, take_ipis};
use super::stats::timeline_point;
use super::{Shared, Simulator, BATCH};
use crate::addr::VirtAddr;
use crate::memory::MemorySystem;
use crate::os::OsStats;
use crate::pagetable::PageTable;
use crate::workload::Access;
use crate::SimError;
use std::ops::ControlFlow;

/// How far ahead in a batch page-table entries are prefetched on the host.
const PREFETCH_DISTANCE: usize = 6;
#[cfg(test)]
thread_local! {
    /// Tests run the general copy of the access loop (no `PLAIN` copy, no repeated-hit
    /// shortcut) on their thread, to check the shortcuts against it.
    static FULL_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tests run the `PLAIN` copy without the fused path on their thread, to check the
    /// fused path against it.
    static NO_FUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Accesses the fused path did on this thread (tests check that it ran).
    static FUSED_DONE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Hints kept between the two prefetch stages: more than the distance between them.
const HINTS: usize = 8;

/// What the bookkeeping at a stop position needs besides the core.
struct Books<'a> {
    warm_cores: &'a mut usize,
    n_cores: usize,
    window: u64,
    accesses_done: u64,
    /// The stop flag, if any (see [`Simulator::set_stop`]), and whether it was seen.
    stop: Option<&'a std::sync::atomic::AtomicBool>,
    interrupted: bool,
    /// A warm-up still being counted.
    late: Option<&'a dyn super::LateWarmup>,
}

impl<PT: PageTable> Simulator<PT> {
    /// Run every stream to its end, or until the stop flag is seen at a batch boundary
    /// ([`Simulator::interrupted`] then says so). `progress` is called after each batch
    /// with the accesses done so far.
    pub fn run(&mut self, progress: &mut dyn FnMut(u64)) -> Result<(), SimError> {
        self.start();
        loop {
            // The core with the smallest clock runs; the next-smallest clock bounds it.
            let mut best: Option<(u64, usize)> = None;
            let mut limit = u64::MAX;
            for c in &self.cores {
                if c.done {
                    continue;
                }
                let clk = c.clock(&self.timing);
                match best {
                    None => best = Some((clk, c.id)),
                    Some((b, _)) if clk < b => {
                        limit = b;
                        best = Some((clk, c.id));
                    }
                    Some(_) => limit = limit.min(clk),
                }
            }
            let Some((_, id)) = best else { break };
            let c = &self.cores[id];
            let limit = limit.min(c.slice_end).min(c.next_ipi).min(c.host_slice_end);
            let plain = self.timing.is_plain();
            #[cfg(test)]
            let plain = plain && !FULL_PATH.with(|f| f.get());
            match (plain, plain && self.fusable(id)) {
                (true, true) => self.run_core::<true, true>(id, limit, progress)?,
                (true, false) => self.run_core::<true, false>(id, limit, progress)?,
                (false, _) => self.run_core::<false, false>(id, limit, progress)?,
            }
            if self.interrupted {
                break;
            }
            self.after_run(id)?;
        }
        // The last batch (or the one the stop flag ended) counts too.
        progress(self.accesses_done);
        // Walks still in flight at the end stall their cores (they must complete).
        for c in &mut self.cores {
            c.drain_walks(&self.timing);
            if self.timeline_window > 0 && c.counters.accesses > 0 {
                // The last window ends with the run (the tail stall included).
                let p = timeline_point(c, &self.timing);
                match c.timeline.last_mut() {
                    Some(last) if last.accesses == p.accesses => *last = p,
                    _ => c.timeline.push(p),
                }
            }
        }
        // What the end added (the walks drained; the switches and IPIs since a core's
        // last batch), on every core, an interrupted run too.
        for c in &self.cores {
            super::overflow::check(c, &self.timing, 0)?;
        }
        Ok(())
    }

    /// Whether core `id`'s run has the fused path's shape now: its views (`fused.rs`),
    /// kept from its last turn if they still hold, else made again.
    fn fusable(&mut self, id: usize) -> bool {
        #[cfg(test)]
        if NO_FUSED.with(|f| f.get()) {
            return false;
        }
        let t = self.timing.plain::<true>();
        let core = &mut self.cores[id];
        let pt = &self.spaces[Self::space_index(core.vm, core.asid)];
        fused::renew(&mut self.fused[id], core, pt, &mut self.sh, &t)
    }

    /// Core `id` runs until its clock passes `limit`, its stream ends, or the engine
    /// must act (a system call, a shootdown to deliver). `PLAIN`: the run has none of
    /// the designs [`Timing::is_plain`] names, and its access path none of their tests.
    /// `FUSED` (with `PLAIN`): accesses take the fused path (`fused.rs`) while its
    /// views hold, the general step out of line otherwise.
    fn run_core<const PLAIN: bool, const FUSED: bool>(
        &mut self,
        id: usize,
        limit: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), SimError> {
        // The designs' switches as constants in the `PLAIN` copy, made once per call:
        // `step` reads them through `t` (a copy made per access costs a dozen
        // instructions, which the compiler did not hoist out of the loop).
        let t = self.timing.plain::<PLAIN>();
        let n_cores = self.cores.len();
        let core = &mut self.cores[id];
        let pt = &mut self.spaces[Self::space_index(core.vm, core.asid)];
        let sh = &mut self.sh;
        for e in sh.mail.inboxes[id].drain(..) {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        let taken = core.os_stats.shootdown.ipis_received;
        take_ipis(core, &t);
        if core.os_stats.shootdown.ipis_received != taken {
            // Per IPI event, not per access: what they cost is counted exactly.
            super::overflow::check(core, &t, 0)?;
        }
        core.waiting_since = None;
        // The batch is taken out of the core while it runs, so the loop below keeps its
        // pointer and length, the position and the prefetch switch in registers.
        let mut buf = std::mem::take(&mut core.buf);
        let mut pos = core.pos;
        let mut prefetching = false;
        let mut hints = [0; HINTS];
        let mut walks_before = core.walker.stats.walks;
        let mut books = Books {
            warm_cores: &mut self.warm_cores,
            n_cores,
            window: self.timeline_window,
            accesses_done: self.accesses_done,
            stop: self.stop.as_deref(),
            interrupted: false,
            late: self.late.as_deref(),
        };
        // The loop stops at `stop`: the end of the batch or the access at which the
        // engine has bookkeeping to do, whichever comes first. So the per-access loop
        // tests one position, as it would for the batch end alone.
        let mut stop = pos;
        // Kept across the engine's turns (`fusable` made or checked them just now).
        let views = &mut self.fused[id];
        // The fused prefetch's way down to a level-2 table (`RadixView::prefetch_leaf`).
        let mut upper = (u64::MAX, 0);
        let res = loop {
            if pos == stop {
                books.accesses_done = self.accesses_done;
                let batch = (&mut buf, pos, &mut walks_before);
                match at_stop(core, pt, sh, &t, batch, &mut books, progress) {
                    ControlFlow::Continue(r) => {
                        (pos, stop) = (r.pos, r.stop);
                        if let Some(p) = r.prefetching {
                            prefetching = p;
                        }
                    }
                    ControlFlow::Break(r) => break r,
                }
                // The host prefetch's way down is found again after a stop (a table
                // may have been released).
                upper = (u64::MAX, 0);
                if FUSED && !fused::renew(views, core, pt, sh, &t) && n_cores == 1 {
                    // Out of the shape: one core's turn ends here, and the engine gives
                    // it the general copy of this loop, the step inlined (with several
                    // cores, ending a turn early could change whose turn is next).
                    break Ok(());
                }
            }
            debug_assert!(pos < stop && stop <= buf.len());
            // SAFETY: `at_stop` makes `stop` at most the batch's length, and the loop
            // stops at it before reading, so `pos < stop <= buf.len()`.
            let a = unsafe { *buf.get_unchecked(pos) };
            if prefetching {
                match (FUSED, views.as_ref()) {
                    (true, Some(v)) => prefetch(
                        (&buf, pos),
                        &mut hints,
                        |va| v.prefetch_leaf(va, &mut upper),
                        |va, hint| v.prefetch_lines(va, hint),
                    ),
                    _ => prefetch(
                        (&buf, pos),
                        &mut hints,
                        |va| pt.prefetch(core.asid, va),
                        |va, hint| {
                            if let Some((pte, data)) = pt.leaf_lines_hinted(core.asid, va, hint) {
                                sh.mem.prefetch(core.id, pte, data);
                            }
                        },
                    ),
                }
            }
            pos += 1;
            self.accesses_done += 1;
            if FUSED {
                let done = match views.as_ref() {
                    // SAFETY: the views are this core's, table's and machine's, and
                    // were checked (`renew`) at the last stop and after every access
                    // since that was handed back or changed something.
                    Some(v) => unsafe { fused::step(core, a, pt, sh, &t, v) },
                    None => Ok(Fused::General),
                };
                #[cfg(test)]
                if matches!(done, Ok(Fused::Done | Fused::Changed)) {
                    FUSED_DONE.with(|n| n.set(n.get() + 1));
                }
                match done {
                    Ok(Fused::Done) => {}
                    Ok(Fused::Changed) => {
                        if !fused::renew(views, core, pt, sh, &t) && n_cores == 1 {
                            break Ok(());
                        }
                    }
                    Ok(Fused::General) => {
                        if let Err(e) = general_step(core, a, pt, sh, &t) {
                            break Err(e);
                        }
                        let held = views.as_ref().is_some_and(|v| v.hold(core, pt));
                        if !held && !fused::renew(views, core, pt, sh, &t) && n_cores == 1 {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                }
            } else if let Err(e) = step::<_, _, PLAIN>(core, a, pt, sh, &t, &mut NoRecord) {
                break Err(e);
            }
            if (limit != u64::MAX && core.clock(&t) > limit) || sh.mail.pending {
                break Ok(());
            }
        };
        // The last access may have reached `event_at` just before the loop stopped: do
        // the bookkeeping before any other core runs (shared statistics restart then).
        if res.is_ok() && core.counters.accesses == core.event_at {
            core_event(core, &mut sh.mem, &mut books, &t);
        }
        self.interrupted |= books.interrupted;
        core.buf = buf;
        core.pos = pos;
        res
    }

    /// After core `id` stopped: run its system call, retire its process if the stream
    /// ended, switch at the end of a quantum.
    fn after_run(&mut self, id: usize) -> Result<(), SimError> {
        if self.sh.mail.pending {
            self.deliver_shootdowns(id)?;
        }
        if self.cores[id].syscall {
            self.syscall(id)?;
            if self.sh.mail.pending {
                self.deliver_shootdowns(id)?;
            }
        }
        // The host preempts a vCPU whose slice ended, after what its last access sent.
        super::vcpu::host_preempt(&mut self.cores[id], &self.timing);
        let core = &self.cores[id];
        if core.stream_ended {
            let p = &mut self.procs[core.proc];
            if p.state == super::ProcState::Ready {
                p.state = super::ProcState::Done;
            }
            self.schedule(id);
        } else if core.clock(&self.timing) >= core.slice_end {
            self.schedule(id);
        } else {
            return Ok(());
        }
        // A switch's cost, or the IPIs the core took on going idle (per event).
        super::overflow::check(&self.cores[id], &self.timing, 0)
    }
}

/// [`step`] of the `PLAIN` copy out of line: the fused loop's accesses that its path
/// hands back, rare enough that the loop keeps its registers for its own path.
#[inline(never)]
fn general_step<PT: PageTable>(
    core: &mut Core,
    a: Access,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
) -> Result<(), SimError> {
    step::<_, _, true>(core, a, pt, sh, t, &mut NoRecord)
}

/// Two stages of host prefetch: far ahead, the page-table entries; nearer, the simulated
/// cache sets of the leaf PTE and data lines those entries lead to. The first stage's
/// hint (radix: the leaf table it found) waits in `hints` for the second, which then
/// follows no upper level again.
/// `leaf(va)`: the first stage (returns the hint); `lines(va, hint)`: the second.
#[inline(always)]
fn prefetch(
    (buf, pos): (&[Access], usize),
    hints: &mut [u64; HINTS],
    leaf: impl FnOnce(VirtAddr) -> u64,
    lines: impl FnOnce(VirtAddr, u64),
) {
    if let Some(a) = buf.get(pos + 2 * PREFETCH_DISTANCE) {
        hints[(pos + 2 * PREFETCH_DISTANCE) % HINTS] = leaf(VirtAddr(a.vaddr));
    }
    if let Some(a) = buf.get(pos + PREFETCH_DISTANCE) {
        // The first stage saw this access only from this batch's start on.
        let hint = match pos >= PREFETCH_DISTANCE {
            true => hints[(pos + PREFETCH_DISTANCE) % HINTS],
            false => 0,
        };
        lines(VirtAddr(a.vaddr), hint);
    }
}

/// Where the per-access loop goes on after a stop: its position, the next stop, and
/// whether host prefetching changes (at a new batch).
struct Resume {
    pos: usize,
    stop: usize,
    prefetching: Option<bool>,
}

/// The engine's bookkeeping at a stop position: warm-up or timeline window end, OS
/// events, a new batch. Continues with the next stop position, or breaks the core's
/// run (a system call or shootdown for the engine, the stream's end, an error).
#[inline(never)]
fn at_stop<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    (buf, mut pos, walks_before): (&mut Vec<Access>, usize, &mut u64),
    books: &mut Books,
    progress: &mut dyn FnMut(u64),
) -> ControlFlow<Result<(), SimError>, Resume> {
    use ControlFlow::{Break, Continue};
    if core.counters.accesses == core.event_at {
        core_event(core, &mut sh.mem, books, t);
    }
    if core.counters.accesses == core.os_event_at {
        if let Err(e) = apply_os_events(core, pt, sh, t) {
            return Break(Err(e));
        }
        if core.syscall || sh.mail.pending {
            // A fork or exit, or a shootdown: the engine runs it, then this core goes on.
            return Break(Ok(()));
        }
    }
    let mut prefetching = None;
    if pos == buf.len() {
        if !core.stream_ended {
            // Once per batch: cycle counts stay where 64 bits count them exactly (a
            // batch that Ctrl-C ends too).
            if let Err(e) = super::overflow::check(core, t, 0) {
                return Break(Err(e));
            }
            if books
                .stop
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            {
                // Ctrl-C: the batch just run is the last; the engine ends the run.
                books.interrupted = true;
                return Break(Ok(()));
            }
            pos = 0;
            if let Err(e) = refill(core, pt, sh, buf, t) {
                return Break(Err(e));
            }
            if !buf.is_empty() {
                // Prefetch page-table entries in batches that follow a walk-heavy one.
                let walks = core.walker.stats.walks;
                prefetching = Some(walks.saturating_sub(*walks_before) * 8 > BATCH as u64);
                *walks_before = walks;
                progress(books.accesses_done);
            }
        }
        if core.syscall || core.stream_ended || sh.mail.pending {
            return Break(Ok(()));
        }
    }
    // Both are past the count here (the bookkeeping just moved them on).
    let until = core.event_at.min(core.os_event_at) - core.counters.accesses;
    let stop = pos + (buf.len() - pos).min(until.min(usize::MAX as u64) as usize);
    // The loop reads `buf` unchecked up to `stop`, testing for it by equality: it must
    // be ahead (a stop behind would run off the batch). Once per batch or event.
    assert!(
        stop > pos,
        "engine: the next stop {stop} is not past the batch position {pos}"
    );
    Continue(Resume {
        pos,
        stop,
        prefetching,
    })
}

/// The next batch of the running stream, and the event lines of a trace read with it.
fn refill<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    sh: &mut Shared,
    buf: &mut Vec<Access>,
    t: &Timing,
) -> Result<(), SimError> {
    buf.clear();
    core.source.fill(buf, BATCH).map_err(|e| {
        SimError(format!(
            "core {}, process {}: workload: {}",
            core.id, core.proc, e.msg
        ))
    })?;
    core.stream_ended = buf.is_empty();
    // Event lines of a trace read in this batch join the queue; one at the current
    // position applies before the batch's first access (or, at the end of the stream,
    // before it ends).
    let mut evs = Vec::new();
    core.source.take_events(&mut evs);
    if !evs.is_empty() {
        core.os_events.extend(evs);
        core.os_events.make_contiguous().sort_by_key(|e| e.0);
        core.os_event_at = core.os_events[0].0.wrapping_sub(core.stream_base);
        if core.counters.accesses == core.os_event_at {
            apply_os_events(core, pt, sh, t)?;
        }
    }
    Ok(())
}

/// The engine's bookkeeping when a core's access count reaches `event_at`: the end of
/// its warm-up (statistics restart; caches and TLBs stay warm), or the end of a timeline
/// window. Out of line: it runs once per warm-up or window, not per access.
#[cold]
#[inline(never)]
fn core_event(core: &mut Core, mem: &mut MemorySystem, books: &mut Books, t: &Timing) {
    if !core.warm {
        // A warm-up still being counted may end further on.
        match books.late.map(|l| l.after(core.counters.accesses)) {
            Some(super::WarmupStop::At(at)) => {
                core.event_at = at;
                return;
            }
            Some(super::WarmupStop::Never) => {
                core.event_at = u64::MAX;
                return;
            }
            Some(super::WarmupStop::Now) | None => {}
        }
        core.warm = true;
        // Stream positions go on across the restart of the counts.
        let consumed = core.counters.accesses;
        core.stream_base = core.stream_base.wrapping_add(consumed);
        if core.os_event_at != u64::MAX {
            core.os_event_at -= consumed;
        }
        core.counters = CoreCounters::default();
        // Resident bytes are a level, not a count: they carry over.
        core.virt = Default::default();
        core.vm_switches_in.iter_mut().for_each(|n| *n = 0);
        core.os_stats = OsStats {
            mapped_bytes: core.os_stats.mapped_bytes,
            ..OsStats::default()
        };
        core.tlbs.reset_stats();
        core.walker.reset_stats();
        if let Some(p) = core.prefetch.as_deref_mut() {
            p.reset_stats();
        }
        if let Some(b) = core.tlbs.prefetch_buffer() {
            b.mark_before_restart();
        }
        // Shared caches restart when the last core is past warm-up.
        *books.warm_cores += 1;
        mem.reset_stats(core.id, false);
        if *books.warm_cores == books.n_cores {
            mem.reset_shared_stats();
        }
        core.event_at = if books.window > 0 {
            books.window
        } else {
            u64::MAX
        };
    } else {
        let p = timeline_point(core, t);
        core.timeline.push(p);
        if core.timeline.len() >= crate::timeline::MAX_WINDOWS {
            // Memory stays bounded (issue 17 item 15: `--timeline 1` on 2 M accesses
            // took 535 MB): the points are cumulative, so every second one makes the
            // windows twice as wide, exactly.
            let mut odd = false;
            core.timeline.retain(|_| {
                odd = !odd;
                !odd
            });
            core.timeline_window *= 2;
        }
        core.event_at += core.timeline_window;
    }
}

/// Applies every OS event at the running process's current stream position and
/// schedules the next; stops at a fork or exit, which the engine runs (`syscall`).
/// What the events change reaches the cores through [`apply`]; their work (populating a
/// range, splits, copies) is the core's time, not translation.
fn apply_os_events<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
) -> Result<(), SimError> {
    use crate::workload::EventKind;
    let here = core.stream_base.wrapping_add(core.counters.accesses);
    while let Some(&(at, ev)) = core.os_events.front() {
        if at > here {
            break;
        }
        if matches!(ev.kind, EventKind::Fork | EventKind::Exit) {
            core.syscall = true;
            break;
        }
        core.os_events.pop_front();
        if ev.kind == EventKind::HostMigrate {
            host_migrate(core, pt, sh, t, ev)?;
            continue;
        }
        let os = &mut sh.os[super::vm_index(core.vm)];
        os.apply_event(pt, core.asid, ev, &mut core.os_stats, &mut sh.fx)?;
        let mut c = apply(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut());
        if let (Some(hv), EventKind::Mmap, true) = (sh.virt.as_deref_mut(), ev.kind, ev.populate) {
            // The guest zeroed the pages it populated: the host backs them now.
            let work = hv.back_guest_range(&*pt, core.asid, (ev.start, ev.end), &mut core.virt)?;
            let h = super::nested::host_event_work(core, hv, &mut sh.mail, work, work.0 > 0);
            c = c.saturating_add(h);
        }
        super::overflow::check(core, t, c)?;
        core.stall_total += c;
    }
    core.os_event_at =
        (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
    Ok(())
}

/// A `host_migrate` event: the host moves the host pages under the range (an exit and
/// the host's copies, the core's time), then, as after a host collapse, the VM's cached
/// translations go here now and on its other vCPUs after this access.
fn host_migrate<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    ev: crate::workload::OsEvent,
) -> Result<(), SimError> {
    let hv = (sh.virt.as_deref_mut()).filter(|hv| !hv.shadow_mode());
    let Some(hv) = hv else {
        return Err(SimError(format!(
            "core {}: a host_migrate event needs a virtualized machine with nested paging ([virt], mode = \"nested\"): natively there is no host, and shadow entries over the moved pages are not modelled",
            core.id
        )));
    };
    let work = hv.migrate_guest_range(&*pt, core.asid, (ev.start, ev.end), &mut core.virt)?;
    // The migration always exits (the host's work runs in the vCPU thread).
    let c = super::nested::host_event_work(core, hv, &mut sh.mail, work, true);
    super::overflow::check(core, t, c)?;
    core.stall_total += c;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FULL_PATH;
    use crate::run::{load_inputs, simulate};

    /// The `PLAIN` copy of the access loop and its repeated-hit shortcut give the bytes
    /// the general path gives, on runs that take them: one core and two with their IPIs
    /// and stale hits, an mprotect'ed range (guarded stores), page replacement tracking
    /// accesses, an L1 TLB probe not overlapped, data through the caches or not.
    #[test]
    fn the_plain_copy_and_its_shortcut_equal_the_full_path() {
        let events = r#"workload.event=[{at=0, kind="mmap", offset="0", len="64MiB", populate=true}, {at=4000, kind="mprotect", offset="0", len="8MiB", prot="r"}, {at=9000, kind="munmap", offset="8MiB", len="4MiB"}]"#;
        let cases: &[&[&str]] = &[
            &[],
            &["sim.cores=2", "os.sched.threads=2"],
            &[events],
            &["os.paging.replacement=\"clock\"", "os.phys_mem=\"48MiB\""],
            &[
                "sim.l1_tlb_overlapped=false",
                "memory.data_through_caches=false",
            ],
        ];
        for sets in cases {
            let mut sets: Vec<&str> = sets.to_vec();
            sets.extend([
                "workload.accesses=30000",
                "workload.generator.footprint=\"64MiB\"",
                "sim.warmup_accesses=0",
            ]);
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            let inputs = load_inputs(Some("skylake"), Some("workloads/default.toml"), &sets)
                .unwrap_or_else(|e| panic!("{sets:?}: {e:?}"));
            let run = |full: bool| {
                FULL_PATH.with(|f| f.set(full));
                let r = simulate(&inputs, &mut |_, _| {}).expect("runs");
                FULL_PATH.with(|f| f.set(false));
                (r.to_json(), r.to_csv())
            };
            assert_eq!(run(false), run(true), "{sets:?}");
        }
    }

    /// The fused path (`fused.rs`) gives the bytes of the `PLAIN` copy without it and of
    /// the full path, on runs that take it for most of their accesses: walks with
    /// faults (pages mapped as touched) and a warm-up; the hit-heavy run;
    /// a trace with instruction fetches; two cores with shootdowns (IPIs hand accesses
    /// back); `icelake`; an L1 TLB probe not overlapped and data not through the caches;
    /// faults that cost nothing (the table grows all the same: the views are checked
    /// after every fault, not only after costly ones); three processes switched on one
    /// core (another table each turn); and on one that leaves the shape mid-run (huge
    /// pages: the views end at the first 2 MiB fill).
    #[test]
    fn the_fused_path_equals_the_plain_copy_and_the_full_path() {
        use super::{FUSED_DONE, NO_FUSED};
        let munmap = r#"workload.event=[{at=0, kind="mmap", offset="0", len="64MiB", populate=true}, {at=9000, kind="munmap", offset="8MiB", len="4MiB"}]"#;
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "skylake",
                "workloads/uniform-64g.toml",
                &[
                    "workload.generator.footprint=\"256MiB\"",
                    "sim.warmup_accesses=5000",
                ],
            ),
            ("skylake", "workloads/sequential-hits.toml", &[]),
            ("skylake", "workloads/trace-ls.toml", &[]),
            (
                "skylake",
                "workloads/default.toml",
                &["sim.cores=2", "os.sched.threads=2", munmap],
            ),
            ("icelake", "workloads/default.toml", &[]),
            (
                "skylake",
                "workloads/default.toml",
                &[
                    "sim.l1_tlb_overlapped=false",
                    "memory.data_through_caches=false",
                ],
            ),
            (
                "skylake",
                "workloads/default.toml",
                &["os.huge_pages.policy=\"always\""],
            ),
            (
                "skylake",
                "workloads/uniform-64g.toml",
                &[
                    "workload.generator.footprint=\"256MiB\"",
                    "os.minor_fault_cycles=0",
                    "os.zero_4k_cycles=0",
                ],
            ),
            (
                "skylake",
                "workloads/default.toml",
                &["os.sched.processes=3", "os.sched.quantum_cycles=200000"],
            ),
        ];
        for (preset, workload, sets) in cases {
            let mut sets: Vec<&str> = sets.to_vec();
            sets.push("workload.accesses=40000");
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            let inputs = load_inputs(Some(preset), Some(workload), &sets)
                .unwrap_or_else(|e| panic!("{preset} {workload} {sets:?}: {e:?}"));
            let run = |fused: bool, full: bool| {
                NO_FUSED.with(|f| f.set(!fused));
                FULL_PATH.with(|f| f.set(full));
                FUSED_DONE.with(|n| n.set(0));
                let r = simulate(&inputs, &mut |_, _| {}).expect("runs");
                let done = FUSED_DONE.with(|n| n.get());
                NO_FUSED.with(|f| f.set(false));
                FULL_PATH.with(|f| f.set(false));
                (r.to_json(), r.to_csv(), done)
            };
            let (fused, plain, full) = (run(true, false), run(false, false), run(false, true));
            let what = format!("{preset} {workload} {sets:?}");
            // Huge pages end the fused shape at the run's first fill (its first access).
            let least = if what.contains("huge_pages") {
                1
            } else {
                4_000
            };
            assert!(
                fused.2 >= least,
                "{what}: the fused path did {} accesses",
                fused.2
            );
            assert_eq!(plain.2 + full.2, 0, "{what}");
            assert_eq!((&fused.0, &fused.1), (&plain.0, &plain.1), "{what}");
            assert_eq!((&fused.0, &fused.1), (&full.0, &full.1), "{what}");
        }
    }

    /// A warm-up counted while the run goes: reveals a lower bound `step` accesses past
    /// each count it is asked at, until it has revealed `w`.
    struct Revealing {
        w: u64,
        step: u64,
        asked: std::sync::Mutex<Vec<u64>>,
    }

    impl super::super::LateWarmup for Revealing {
        fn after(&self, at: u64) -> super::super::WarmupStop {
            use super::super::WarmupStop::{At, Now};
            self.asked.lock().unwrap().push(at);
            match at {
                _ if at == self.w => Now,
                _ if at + self.step < self.w => At(at + self.step),
                _ => At(self.w),
            }
        }
    }

    /// A warm-up learnt on the way ends at the same access as the same warm-up known at
    /// the start, however it is revealed: one core and two with two threads each, with
    /// a timeline; the report's statistics (and timeline) are byte-identical.
    #[test]
    fn a_late_warmup_ends_where_a_known_one_does() {
        use crate::report::RunReport;
        use crate::sim::Simulator;
        let w = 4_321;
        for sets in [&[][..], &["sim.cores=2", "os.sched.threads=2"][..]] {
            let mut sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            sets.push("workload.accesses=10000".into());
            sets.push("workload.generator.footprint=\"64MiB\"".into());
            sets.push(
                r#"workload.event=[{at=0, kind="mmap", offset="0", len="64MiB", populate=true}]"#
                    .into(),
            );
            sets.push(format!("sim.warmup_accesses={w}"));
            let inputs = load_inputs(Some("skylake"), Some("workloads/default.toml"), &sets)
                .unwrap_or_else(|e| panic!("{sets:?}: {e:?}"));
            let run = |late: Option<u64>| {
                let mut cfg = inputs.system.clone();
                if late.is_some() {
                    cfg.sim.warmup_accesses = crate::config::Warmup::Auto;
                }
                let procs = cfg.os.tasks(cfg.sim.cores) as usize;
                let sources = (0..procs)
                    .map(|c| inputs.workload.open(c, &inputs.workload_dir).unwrap())
                    .collect();
                let mut sim = Simulator::new_radix(&cfg, sources).unwrap();
                for p in 0..procs {
                    sim.set_events(p, inputs.workload.events_for(p));
                }
                let revealing = late.map(|step| {
                    std::sync::Arc::new(Revealing {
                        w,
                        step,
                        asked: Default::default(),
                    })
                });
                if let Some(r) = &revealing {
                    sim.set_late_warmup(r.clone());
                }
                sim.set_timeline(1000);
                sim.run(&mut |_| {}).unwrap();
                if let Some(r) = &revealing {
                    // Asked at each bound it gave, up to the warm-up, on every core.
                    let asked = r.asked.lock().unwrap();
                    let per_core = (w / late.unwrap()) as usize;
                    assert!(asked.len() > per_core, "{:?}", &asked[..]);
                    assert!(asked.iter().all(|&a| a <= w));
                }
                let report = RunReport::new(&inputs.system, &inputs.workload, 1, &sim.stats());
                (report.to_json(), format!("{:?}", sim.timeline()))
            };
            let known = run(None);
            let json: serde_json::Value = serde_json::from_str(&known.0).unwrap();
            assert_eq!(json["warmup"]["reached"], true, "{sets:?}");
            for step in [1, 777, 4096, 20_000] {
                assert!(run(Some(step)) == known, "{sets:?}, step {step}");
            }
        }
    }
}
