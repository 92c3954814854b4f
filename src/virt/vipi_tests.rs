//! Hand-worked tests of the virtual-IPI shootdown model (`vipi.rs`): the issue's
//! two-vCPU stall test (vCPU 1 running, then preempted until now + X, under each scheme),
//! a four-vCPU case with mixed states, the edges of "preempted" around the posting time,
//! and the round-robin host runqueue against slices listed by hand and a brute-force
//! schedule. Every expected number is worked out in the comment above it from the costs
//! of `costs()`, each chosen distinct so that a misplaced term changes the sum.

use super::vipi::{
    virtual_shootdown, FlushScope, HostRunqueue, IpiSend, Reached, Target, TargetCost, VcpuState,
    VipiCosts, VipiOutcome, VipiRequest, VipiScheme, VmExits,
};

/// exit 700, entry 300, ICR emulation 200, IPIv send 50, posted latency 400, interrupt
/// 600, ack 100, PV check 30, hypercall 250, per vCPU 80, kick latency 500, entry flush
/// 900. With `WORK` = 120 the guest handler costs 600 + 120 = 720.
fn costs() -> VipiCosts {
    VipiCosts {
        exit_cycles: 700,
        entry_cycles: 300,
        icr_cycles: 200,
        ipiv_send_cycles: 50,
        posted_latency_cycles: 400,
        interrupt_cycles: 600,
        ack_cycles: 100,
        pv_check_cycles: 30,
        hypercall_cycles: 250,
        per_vcpu_cycles: 80,
        kick_latency_cycles: 500,
        entry_flush_cycles: 900,
    }
}

const NOW: u64 = 10_000;
const WORK: u64 = 120;
/// vCPU 1 preempted until NOW + X.
const X: u64 = 50_000;

fn run(scheme: VipiScheme, targets: &[Target]) -> VipiOutcome {
    virtual_shootdown(
        &costs(),
        &VipiRequest {
            scheme,
            now: NOW,
            targets,
            work: WORK,
        },
    )
}

fn running(vcpu: u16, free_at: u64) -> Target {
    Target {
        vcpu,
        state: VcpuState::Running { free_at },
        path_cycles: 0,
    }
}

fn preempted(vcpu: u16, resume: u64) -> Target {
    Target {
        vcpu,
        state: VcpuState::Preempted { resume },
        path_cycles: 0,
    }
}

fn exits(ipi_send: u64, hypercall: u64, kick: u64) -> VmExits {
    VmExits {
        ipi_send,
        hypercall,
        kick,
    }
}

fn ipi(vcpu: u16, at: u64, ack: u64) -> TargetCost {
    TargetCost {
        vcpu,
        reached: Reached::Ipi,
        at,
        cycles: 720,
        ack: Some(ack),
    }
}

/// A deferred flush at the target's next entry: 900 cycles, nobody waits.
fn on_entry(vcpu: u16, at: u64) -> TargetCost {
    TargetCost {
        vcpu,
        reached: Reached::FlushOnEntry,
        at,
        cycles: 900,
        ack: None,
    }
}

/// Broadcast's kicked target pays exit 700 + entry flush 900 + entry 300 = 1900.
fn kicked(vcpu: u16, at: u64, ack: u64) -> TargetCost {
    TargetCost {
        vcpu,
        reached: Reached::Kicked,
        at,
        cycles: 1900,
        ack: Some(ack),
    }
}

fn expect(out: &VipiOutcome, wait: u64, ex: VmExits, targets: &[TargetCost]) {
    assert_eq!(out.initiator_wait, wait, "initiator wait");
    assert_eq!(out.exits, ex, "exits");
    assert_eq!(out.targets, targets, "targets");
}

// Two vCPUs, the initiator on vCPU 0; vCPU 1 (a) running (free from NOW), (b) preempted
// until NOW + X = 60_000.

/// Exit, running: the ICR write exits at 10_000; the hypervisor posts at
/// 10_000 + 700 + 200 = 10_900 and re-enters the sender at 10_900 + 300 = 11_200. The
/// notification arrives at 10_900 + 400 = 11_300, the handler runs 720, the ack lands at
/// 11_300 + 720 + 100 = 12_120. Wait: 12_120 - 10_000 = 2_120; one ipi_send exit.
#[test]
fn two_vcpus_exit_running() {
    let out = run(VipiScheme::Exit, &[running(1, NOW)]);
    expect(&out, 2_120, exits(1, 0, 0), &[ipi(1, 11_300, 12_120)]);
}

/// Exit, preempted: posted at 10_900 while vCPU 1 is off its core, so no notification; it
/// takes the interrupt at its entry, 60_000, and acks at 60_000 + 720 + 100 = 60_820.
/// Wait: 50_820 (X + 820: the whole preemption); still one ipi_send exit.
#[test]
fn two_vcpus_exit_preempted() {
    let out = run(VipiScheme::Exit, &[preempted(1, NOW + X)]);
    expect(&out, 50_820, exits(1, 0, 0), &[ipi(1, 60_000, 60_820)]);
}

/// IPIv, running: the ICR write costs 50, no exit: posted at 10_050, arrives 10_450, ack
/// 10_450 + 820 = 11_270. Wait 1_270, no exits.
#[test]
fn two_vcpus_ipiv_running() {
    let out = run(VipiScheme::Ipiv, &[running(1, NOW)]);
    expect(&out, 1_270, exits(0, 0, 0), &[ipi(1, 10_450, 11_270)]);
}

/// IPIv, preempted: posted at 10_050, taken at 60_000, ack 60_820: IPIv removes the exit
/// but not the wait. Wait 50_820, no exits.
#[test]
fn two_vcpus_ipiv_preempted() {
    let out = run(VipiScheme::Ipiv, &[preempted(1, NOW + X)]);
    expect(&out, 50_820, exits(0, 0, 0), &[ipi(1, 60_000, 60_820)]);
}

/// PvIpi, running: one hypercall: exit 700 + decode 250 + vCPU 1's post 80: posted at
/// 11_030, sender back 11_030 + 300 = 11_330; arrival 11_430, ack 11_430 + 820 = 12_250.
/// Wait 2_250; one ipi_send exit.
#[test]
fn two_vcpus_pv_ipi_running() {
    let out = run(VipiScheme::PvIpi, &[running(1, NOW)]);
    expect(&out, 2_250, exits(1, 0, 0), &[ipi(1, 11_430, 12_250)]);
}

/// PvIpi, preempted: posted at 11_030, taken at 60_000, ack 60_820. Wait 50_820; one
/// ipi_send exit.
#[test]
fn two_vcpus_pv_ipi_preempted() {
    let out = run(VipiScheme::PvIpi, &[preempted(1, NOW + X)]);
    expect(&out, 50_820, exits(1, 0, 0), &[ipi(1, 60_000, 60_820)]);
}

/// PvFlush over PvIpi, preempted: the check (30) marks it, nobody is left to IPI, so no
/// hypercall either: wait 30, no exits.
#[test]
fn two_vcpus_pv_flush_pv_ipi_preempted() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::PvIpi,
        },
        &[preempted(1, NOW + X)],
    );
    expect(&out, 30, exits(0, 0, 0), &[on_entry(1, 60_000)]);
}

/// PvFlush (IPIs with exits), running: the flag check costs 30 (10_030); then as Exit
/// from there: posted 10_030 + 900 = 10_930, sender back 11_230, arrival 11_330, ack
/// 11_330 + 820 = 12_150. Wait 2_150; one ipi_send exit.
#[test]
fn two_vcpus_pv_flush_running() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::Exit,
        },
        &[running(1, NOW)],
    );
    expect(&out, 2_150, exits(1, 0, 0), &[ipi(1, 11_330, 12_150)]);
}

/// PvFlush, preempted: the check (30) finds it preempted and marks it; no IPI, no exit,
/// no wait for it: wait 30. KVM flushes its whole guest TLB context (900) when it enters
/// at 60_000.
#[test]
fn two_vcpus_pv_flush_preempted() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::Exit,
        },
        &[preempted(1, NOW + X)],
    );
    expect(&out, 30, exits(0, 0, 0), &[on_entry(1, 60_000)]);
    assert_eq!(out.targets[0].flush_scope(), FlushScope::Vpid);
}

/// PvFlush over IPIv, running: check 30, ICR write 50: posted 10_080, arrival 10_480, ack
/// 10_480 + 820 = 11_300. Wait 1_300, no exits.
#[test]
fn two_vcpus_pv_flush_ipiv_running() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::Ipiv,
        },
        &[running(1, NOW)],
    );
    expect(&out, 1_300, exits(0, 0, 0), &[ipi(1, 10_480, 11_300)]);
}

/// Broadcast, running: the hypercall exits (700) and decodes (250): 10_950; vCPU 1's
/// request and kick at 10_950 + 80 = 11_030; the kick reaches it at 11_030 + 500 =
/// 11_530, it exits (700) and the ack reaches the hypervisor at 11_530 + 700 + 100 =
/// 12_330; the sender re-enters 300 later: 12_630. Wait 2_630; exits: 1 hypercall and 1
/// kick. vCPU 1 pays 1_900 from 11_530 and flushes its VPID.
#[test]
fn two_vcpus_broadcast_running() {
    let out = run(VipiScheme::Broadcast, &[running(1, NOW)]);
    expect(&out, 2_630, exits(0, 1, 1), &[kicked(1, 11_530, 12_330)]);
    assert_eq!(out.targets[0].flush_scope(), FlushScope::Vpid);
}

/// Broadcast, preempted: exit 700 + decode 250 + one vCPU's request 80 = 11_030, no kick,
/// no wait; re-entry 300: 11_330. Wait 1_330; exits: 1 hypercall. vCPU 1 flushes at its
/// entry, 60_000.
#[test]
fn two_vcpus_broadcast_preempted() {
    let out = run(VipiScheme::Broadcast, &[preempted(1, NOW + X)]);
    expect(&out, 1_330, exits(0, 1, 0), &[on_entry(1, 60_000)]);
}

/// The stall the issue asks about, as one statement: with vCPU 1 preempted, the schemes
/// that IPI it wait X more than nothing, the others do not depend on X at all.
#[test]
fn preemption_stalls_only_the_ipi_schemes() {
    for (scheme, depends) in [
        (VipiScheme::Exit, true),
        (VipiScheme::Ipiv, true),
        (VipiScheme::PvIpi, true),
        (
            VipiScheme::PvFlush {
                send: IpiSend::PvIpi,
            },
            false,
        ),
        (
            VipiScheme::PvFlush {
                send: IpiSend::Exit,
            },
            false,
        ),
        (VipiScheme::Broadcast, false),
    ] {
        let a = run(scheme, &[preempted(1, NOW + X)]).initiator_wait;
        let b = run(scheme, &[preempted(1, NOW + 2 * X)]).initiator_wait;
        assert_eq!(b - a, if depends { X } else { 0 }, "{scheme:?}");
    }
}

// Four vCPUs, the initiator on vCPU 0; targets in this order: vCPU 1 running but its core
// ahead (free from 11_600), vCPU 2 preempted until 20_000, vCPU 3 running (free from NOW).
fn four() -> [Target; 3] {
    [running(1, 11_600), preempted(2, 20_000), running(3, NOW)]
}

/// Exit: each IPI costs the sender 700 + 200 + 300 = 1_200, posted 900 into it.
/// vCPU 1: posted 10_900, arrives 11_300, taken at its boundary 11_600, ack 12_420.
/// vCPU 2: posted 11_200 + 900 = 12_100 (preempted): taken at 20_000, ack 20_820.
/// vCPU 3: posted 12_400 + 900 = 13_300, arrives 13_700, ack 14_520; sender back 13_600.
/// Wait: 20_820 - 10_000 = 10_820 (vCPU 2's preemption); 3 ipi_send exits.
#[test]
fn four_vcpus_exit() {
    let out = run(VipiScheme::Exit, &four());
    let t = [
        ipi(1, 11_600, 12_420),
        ipi(2, 20_000, 20_820),
        ipi(3, 13_700, 14_520),
    ];
    expect(&out, 10_820, exits(3, 0, 0), &t);
}

/// IPIv: ICR writes at 10_050, 10_100, 10_150. vCPU 1: arrives 10_450, taken 11_600, ack
/// 12_420. vCPU 2: taken 20_000, ack 20_820. vCPU 3: arrives 10_550, ack 11_370.
/// Wait 10_820, no exits.
#[test]
fn four_vcpus_ipiv() {
    let out = run(VipiScheme::Ipiv, &four());
    let t = [
        ipi(1, 11_600, 12_420),
        ipi(2, 20_000, 20_820),
        ipi(3, 10_550, 11_370),
    ];
    expect(&out, 10_820, exits(0, 0, 0), &t);
}

/// PvIpi: one hypercall, the hypervisor from 10_950 posting at 11_030, 11_110, 11_190,
/// the sender back at 11_190 + 300 = 11_490. vCPU 1: arrives 11_430, taken 11_600, ack
/// 12_420. vCPU 2: taken 20_000, ack 20_820. vCPU 3: arrives 11_590, ack 12_410.
/// Wait 10_820 as Exit, but 1 ipi_send exit instead of 3.
#[test]
fn four_vcpus_pv_ipi() {
    let out = run(VipiScheme::PvIpi, &four());
    let t = [
        ipi(1, 11_600, 12_420),
        ipi(2, 20_000, 20_820),
        ipi(3, 11_590, 12_410),
    ];
    expect(&out, 10_820, exits(1, 0, 0), &t);
}

/// PvFlush over PvIpi: checks 90 (10_090), the hypercall 700 + 250 (11_040); vCPU 1
/// posted 11_120, arrives 11_520, taken 11_600, ack 12_420; vCPU 2 marked, flush at
/// 20_000; vCPU 3 posted 11_200, arrives 11_600, ack 12_420; sender back 11_500.
/// Wait 2_420; 1 ipi_send exit.
#[test]
fn four_vcpus_pv_flush_pv_ipi() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::PvIpi,
        },
        &four(),
    );
    let t = [
        ipi(1, 11_600, 12_420),
        on_entry(2, 20_000),
        ipi(3, 11_600, 12_420),
    ];
    expect(&out, 2_420, exits(1, 0, 0), &t);
}

/// PvFlush (exits): three checks, 90: 10_090. vCPU 1: posted 10_990, sender back 11_290,
/// arrives 11_390, taken 11_600, ack 12_420. vCPU 2 marked: flush at 20_000. vCPU 3:
/// posted 11_290 + 900 = 12_190, sender back 12_490, arrives 12_590, ack 13_410.
/// Wait 3_410; 2 ipi_send exits.
#[test]
fn four_vcpus_pv_flush() {
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::Exit,
        },
        &four(),
    );
    let t = [
        ipi(1, 11_600, 12_420),
        on_entry(2, 20_000),
        ipi(3, 12_590, 13_410),
    ];
    expect(&out, 3_410, exits(2, 0, 0), &t);
}

/// Broadcast: hypervisor from 10_950. vCPU 1: request 11_030, kick arrives 11_530, it
/// exits at its boundary 11_600, ack 11_600 + 800 = 12_400. vCPU 2: request 11_110,
/// flush at 20_000. vCPU 3: request 11_190, kick arrives 11_690, ack 12_490. Re-entry
/// after the last ack: 12_490 + 300 = 12_790. Wait 2_790; 1 hypercall and 2 kicks.
#[test]
fn four_vcpus_broadcast() {
    let out = run(VipiScheme::Broadcast, &four());
    let t = [
        kicked(1, 11_600, 12_400),
        on_entry(2, 20_000),
        kicked(3, 11_690, 12_490),
    ];
    expect(&out, 2_790, exits(0, 1, 2), &t);
}

/// Around the posting time (Exit, posted at 10_900, notification 11_300): resumed at
/// 11_000, after the post, it finds the interrupt at entry and takes it at 11_000 (ack
/// 11_820); resumed at 10_800, before the post, it was running when posted and takes the
/// notification at 11_300 (ack 12_120, as the running case); resumed at or before NOW it
/// counts as running, so PvFlush sends it an IPI (as `two_vcpus_pv_flush_running`).
#[test]
fn preempted_around_the_post() {
    let out = run(VipiScheme::Exit, &[preempted(1, 11_000)]);
    expect(&out, 1_820, exits(1, 0, 0), &[ipi(1, 11_000, 11_820)]);
    let out = run(VipiScheme::Exit, &[preempted(1, 10_800)]);
    expect(&out, 2_120, exits(1, 0, 0), &[ipi(1, 11_300, 12_120)]);
    let out = run(
        VipiScheme::PvFlush {
            send: IpiSend::Exit,
        },
        &[preempted(1, NOW)],
    );
    expect(&out, 2_150, exits(1, 0, 0), &[ipi(1, 11_330, 12_150)]);
}

/// vCPU 1 on a core 250 cycles further away (`path_cycles`), both ways. Exit, running:
/// posted 10_900, arrives 10_900 + 400 + 250 = 11_550, ack 11_550 + 720 + 100 + 250 =
/// 12_620: wait 2_620. Exit, preempted: taken at 60_000 (the interrupt does not travel),
/// ack 60_000 + 820 + 250 = 61_070: wait 51_070. Broadcast, running: kick sent 11_030,
/// arrives 11_030 + 500 + 250 = 11_780, ack 11_780 + 700 + 100 + 250 = 12_830, re-entry
/// 13_130: wait 3_130.
#[test]
fn a_farther_target() {
    let far = |mut t: Target| {
        t.path_cycles = 250;
        [t]
    };
    let out = run(VipiScheme::Exit, &far(running(1, NOW)));
    expect(&out, 2_620, exits(1, 0, 0), &[ipi(1, 11_550, 12_620)]);
    let out = run(VipiScheme::Exit, &far(preempted(1, NOW + X)));
    expect(&out, 51_070, exits(1, 0, 0), &[ipi(1, 60_000, 61_070)]);
    let out = run(VipiScheme::Broadcast, &far(running(1, NOW)));
    expect(&out, 3_130, exits(0, 1, 1), &[kicked(1, 11_780, 12_830)]);
}

/// No targets: nothing sent, nothing waited for, except Broadcast's hypercall (still
/// made: exit 700 + decode 250 + entry 300 = 1_250).
#[test]
fn no_targets() {
    for s in [
        VipiScheme::Exit,
        VipiScheme::Ipiv,
        VipiScheme::PvIpi,
        VipiScheme::PvFlush {
            send: IpiSend::Ipiv,
        },
    ] {
        expect(&run(s, &[]), 0, exits(0, 0, 0), &[]);
    }
    expect(&run(VipiScheme::Broadcast, &[]), 1_250, exits(0, 1, 0), &[]);
}

/// Three threads on a core, quantum 1000, no switch cost: position 0 runs [0, 1000),
/// [3000, 4000), …; position 1 [1000, 2000), [4000, 5000), …; position 2 [2000, 3000),
/// [5000, 6000), ….
#[test]
fn runqueue_hand_worked() {
    let rq = HostRunqueue {
        quantum: 1000,
        switch_cycles: 0,
        threads: 3,
    };
    let cases = [
        (0, 500, 500), // in its slice
        (1, 500, 1000),
        (2, 500, 2000),
        (0, 1000, 3000), // a slice's end is not in it
        (1, 1000, 1000),
        (0, 2500, 3000),
        (1, 2500, 4000),
        (2, 2500, 2500),
        (2, 5999, 5999),
        (2, 6000, 8000),
    ];
    for (p, now, want) in cases {
        assert_eq!(rq.resume_at(p, now), want, "position {p} at {now}");
    }
    assert_eq!(rq.state(0, 500), VcpuState::Running { free_at: 500 });
    assert_eq!(rq.state(1, 500), VcpuState::Preempted { resume: 1000 });
}

/// With a switch of 100 between slices (slot 1100, period 3300): position 0 runs
/// [0, 1000), [3300, 4300); position 1 [1100, 2100), [4400, 5400); position 2
/// [2200, 3200), [5500, 6500). During a switch nobody runs.
#[test]
fn runqueue_with_switch_cost() {
    let rq = HostRunqueue {
        quantum: 1000,
        switch_cycles: 100,
        threads: 3,
    };
    let cases = [
        (1, 1050, 1100),
        (0, 1050, 3300),
        (2, 3250, 5500),
        (0, 3250, 3300),
        (1, 4300, 4400),
        (1, 4400, 4400),
    ];
    for (p, now, want) in cases {
        assert_eq!(rq.resume_at(p, now), want, "position {p} at {now}");
    }
}

/// A thread alone on its core runs all the time, whatever the quantum.
#[test]
fn runqueue_alone_never_waits() {
    for quantum in [0, 1, 1000] {
        let rq = HostRunqueue {
            quantum,
            switch_cycles: 10,
            threads: 1,
        };
        assert_eq!(rq.resume_at(0, 123_456), 123_456);
    }
}

/// Against a brute-force schedule: walk the round robin slice by slice (quantum, then
/// switch, next position) and, for each sampled time, take the first slice of the
/// position that ends after it.
#[test]
fn runqueue_matches_a_listed_schedule() {
    for (q, s, n) in [(700u64, 0u64, 4u32), (500, 37, 3), (1, 1, 2)] {
        let rq = HostRunqueue {
            quantum: q,
            switch_cycles: s,
            threads: n,
        };
        let mut slices = Vec::new(); // (position, start, end)
        let (mut t, mut p) = (0u64, 0u32);
        while t < 20_000 {
            slices.push((p, t, t + q));
            t += q + s;
            p = (p + 1) % n;
        }
        for now in (0..15_000).step_by(13) {
            for pos in 0..n {
                let &(_, start, _) = slices
                    .iter()
                    .find(|&&(sp, _, end)| sp == pos && end > now)
                    .unwrap();
                assert_eq!(
                    rq.resume_at(pos, now),
                    start.max(now),
                    "{q} {s} {n} {pos} {now}"
                );
            }
        }
    }
}

/// The two pieces together: vCPU 1 shares its core with one other thread (position 1,
/// quantum 50_000): at NOW = 10_000 it next runs at 50_000, so under Exit the initiator
/// waits until 50_000 + 720 + 100 = 50_820: 40_820.
#[test]
fn stall_from_the_runqueue() {
    let rq = HostRunqueue {
        quantum: 50_000,
        switch_cycles: 0,
        threads: 2,
    };
    let t = [Target {
        vcpu: 1,
        state: rq.state(1, NOW),
        path_cycles: 0,
    }];
    assert_eq!(run(VipiScheme::Exit, &t).initiator_wait, 40_820);
}

/// A host-initiated flush (inside the initiator's exit: no hypercall exit, decode or
/// re-entry), vCPU 1 running from NOW: the hypervisor takes 80 for the vCPU, kicks at
/// 10_080; the kick lands at 10_080 + 500 = 10_580, where vCPU 1 exits; its exit (700)
/// and the ack (100) reach the hypervisor at 11_380. Wait 1_380; the target pays exit
/// 700 + flush 900 + entry 300 = 1_900 from 10_580. No exit is counted on the initiator.
/// Preempted until 60_000: 80 cycles for the vCPU, a flush at its entry, no wait beyond.
#[test]
fn a_host_flush_kicks_running_vcpus_and_defers_preempted_ones() {
    let req = |targets: &[Target]| {
        super::vipi::host_flush(
            &costs(),
            &VipiRequest {
                scheme: VipiScheme::Broadcast,
                now: NOW,
                targets,
                work: 0,
            },
        )
    };
    let out = req(&[running(1, NOW)]);
    expect(&out, 1_380, exits(0, 0, 1), &[kicked(1, 10_580, 11_380)]);
    let out = req(&[preempted(1, NOW + X)]);
    expect(&out, 80, exits(0, 0, 0), &[on_entry(1, NOW + X)]);
}
