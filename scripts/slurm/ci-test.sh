#!/usr/bin/env bash
# The real Slurm test: installs Debian's slurm-wlm daemons and munge where they are
# missing, starts munged, a single-node slurmctld and slurmd on this machine (their
# config, state and logs in a temporary folder), submits scripts/slurm/sweep.sbatch as
# a 4-task array job over scripts/slurm/ci-sweep.toml, waits for it, merges the
# shards, and checks the merged store equals a local `sweep run` of the same spec.
# It stops the daemons it started, whatever happens.
#
#   bash scripts/slurm/ci-test.sh [MMUSIM]      (default: target/debug/mmusim)
#
# Where Slurm cannot be installed or started, it says so and exits 0 (a skip), unless
# MMUSIM_SLURM_REQUIRED=1, which makes a skip a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=$(realpath "${1:-target/debug/mmusim}")
spec=$root/scripts/slurm/ci-sweep.toml
tasks=4

skip() {
    echo "SKIPPED: the Slurm test: $*"
    if [ "${MMUSIM_SLURM_REQUIRED:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
}

[ -x "$bin" ] || { echo "slurm test: $bin is not built" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || skip "no slurmctld/slurmd/munged and no apt-get to install them"
    [ "$(id -u)" = 0 ] || skip "installing slurm-wlm needs root"
    echo "== installing slurmctld, slurmd, slurm-client and munge (Debian's slurm-wlm)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends slurmctld slurmd slurm-client munge) >/dev/null 2>&1 \
        || skip "apt-get could not install slurmctld slurmd slurm-client munge"
fi
[ "$(id -u)" = 0 ] || skip "starting slurmd needs root"

work=$(mktemp -d /tmp/mmusim-slurm.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    # The daemons fork themselves; their pid files name the processes to stop.
    for f in "$work"/slurmctld.pid "$work"/slurmd.pid "$work"/munged.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 1
    if [ $rc != 0 ]; then
        for log in "$work"/*.log; do
            [ -f "$log" ] && { echo "--- $log"; tail -n 30 "$log"; }
        done
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

# munge: the authentication every Slurm message carries. Its own key, socket and
# state in the work folder, so a munged already running is left alone.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$work/munge"
chmod 400 "$work/munge/munge.key"
sock=$work/munge/munge.socket
munged --force --key-file="$work/munge/munge.key" --socket="$sock" \
    --pid-file="$work/munged.pid" --log-file="$work/munged.log" \
    --seed-file="$work/munge/seed" \
    || skip "munged would not start ($(tail -n 1 "$work/munged.log" 2>/dev/null))"

host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$work/state" "$work/spool"
cat >"$work/slurm.conf" <<CONF
ClusterName=mmusim-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf

slurmctld -f "$SLURM_CONF" || skip "slurmctld would not start ($(tail -n 1 "$work/slurmctld.log" 2>/dev/null))"
slurmd -f "$SLURM_CONF" || skip "slurmd would not start ($(tail -n 1 "$work/slurmd.log" 2>/dev/null))"

# Wait for the node to register as idle.
for _ in $(seq 60); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || skip "the node did not come up (sinfo says '${state:-nothing}')"
echo "== slurm up: $(sinfo -h -o '%P %D %t %C')"

out=$work/out
mkdir -p "$out"
echo "== sbatch --array=0-$((tasks - 1)) --wait scripts/slurm/sweep.sbatch"
MMUSIM=$bin sbatch --wait --array=0-$((tasks - 1)) --chdir="$work" \
    --output="$work/task-%a.log" --export=ALL \
    scripts/slurm/sweep.sbatch "$spec" "$out"
for i in $(seq 0 $((tasks - 1))); do
    [ -s "$out/shard-$i/results.jsonl" ] || { echo "shard $i wrote nothing" >&2; cat "$work/task-$i.log" >&2; exit 1; }
done
"$bin" sweep merge "$out/merged" "$out"/shard-*
"$bin" sweep run "$spec" --out "$work/local" --threads 2
"$bin" sweep merge "$work/local-sorted" "$work/local"
runs=$(wc -l <"$out/merged/results.jsonl")
want=$("$bin" sweep plan "$spec" | tail -n +2 | wc -l)
[ "$runs" = "$want" ] || { echo "the array job ran $runs runs, the plan has $want" >&2; exit 1; }
if ! cmp "$out/merged/results.jsonl" "$work/local-sorted/results.jsonl"; then
    echo "the merged shards differ from the local sweep" >&2
    diff "$out/merged/results.jsonl" "$work/local-sorted/results.jsonl" | head >&2
    exit 1
fi
echo "== slurm test passed: $tasks array tasks ran $runs runs; merged, they equal a local sweep byte for byte"
