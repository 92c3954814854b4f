"""`mmusim.run` against `mmusim run`: the same inputs give the same result.json."""

from __future__ import annotations

import threading
import time

try:
    import tomllib
except ModuleNotFoundError:  # CPython 3.10: the test extra's tomli
    import tomli as tomllib

import numpy as np
import pandas as pd
import pytest

import mmusim

SMALL = "workload.accesses=20000"

# (config, workload, trace, overrides) as the command line takes them.
CASES = [
    ("skylake", None, None, [SMALL]),
    ("zen4", "workloads/uniform-64g.toml", None, [SMALL, "tlb.stlb.entries=3072"]),
    ("configs/skylake-htab.toml", "workloads/sequential-hits.toml", None, [SMALL]),
    ("skylake", "workloads/belady.toml", None, []),
    ("icelake", None, "workloads/traces/ls.mmt.xz", ["workload.accesses=30000"]),
]


def cli_args(config, workload, trace, sets):
    args = ["--config", config]
    if workload:
        args += ["--workload", workload]
    if trace:
        args += ["--trace", trace]
    for s in sets:
        args += ["--set", s]
    return args


@pytest.mark.parametrize("config,workload,trace,sets", CASES)
def test_run_equals_cli(cli, root, monkeypatch, config, workload, trace, sets):
    monkeypatch.chdir(root)
    want = cli.run(*cli_args(config, workload, trace, sets))
    got = mmusim.run(config=config, workload=workload, trace=trace, set=sets)
    assert got.stats == want["json"]
    # The same text, not only the same values.
    assert got.json == want["json_text"]
    pd.testing.assert_frame_equal(got.summary(), want["csv"])
    assert got.timeline is None


def test_timeline_equals_cli(cli, root, monkeypatch):
    monkeypatch.chdir(root)
    want = cli.run("--set", SMALL, "--timeline", "2000")
    got = mmusim.run(set={"workload.accesses": 20000}, timeline=2000)
    assert got.stats == want["json"]
    expected = pd.read_csv(want["dir"] / "timeline.csv")
    pd.testing.assert_frame_equal(got.timeline, expected)
    # Windows cover the measured accesses (after the warm-up).
    assert len(got.timeline) == got.stats["stats"]["total"]["accesses"] // 2000


def test_dict_and_toml_string_equal_the_file(root):
    path = root / "configs" / "zen4.toml"
    text = path.read_text()
    as_dict = tomllib.loads(text)
    wl = {"name": "u", "accesses": 20000, "generator": {"kind": "uniform", "footprint": "1G"}}
    by_file = mmusim.run(config=str(path), workload=wl)
    by_text = mmusim.run(config=text, workload=wl)
    by_dict = mmusim.run(config=as_dict, workload=wl)
    assert by_text.stats == by_file.stats
    assert by_dict.stats == by_file.stats


def test_set_as_dict_equals_set_strings():
    a = mmusim.run(set={"workload.accesses": 20000, "tlb.stlb.entries": 768})
    b = mmusim.run(set=["workload.accesses=20000", "tlb.stlb.entries=768"])
    default = mmusim.run(set={"workload.accesses": 20000})
    assert a.stats == b.stats
    assert a.stats["config"] != default.stats["config"]
    assert any(t.get("entries") == 768 for t in a.stats["config"]["tlb"])


def test_addresses_equal_a_trace_file(cli, tmp_path):
    rng = np.random.default_rng(7)
    pages = rng.integers(0, 3000, size=40000, dtype=np.uint64)
    addrs = (np.uint64(0x7F0000000000) + pages * np.uint64(4096) + np.uint64(8)).astype(np.uint64)
    trace = tmp_path / "addrs.txt"
    trace.write_text("".join(f"R {a:#x}\n" for a in addrs.tolist()))
    want = cli.run("--config", "skylake", "--trace", str(trace))["json"]
    got = mmusim.run(config="skylake", addresses=addrs).stats
    # The workload is named differently (a file, an array); all the rest is the same.
    assert got["stats"] == want["stats"]
    assert got["config"] == want["config"]
    assert got["warmup"] == want["warmup"]
    warm = got["warmup"]["accesses_per_core"]
    assert got["stats"]["total"]["accesses"] == len(addrs) - warm


def test_addresses_from_a_list_and_signed_ints():
    a = mmusim.run(addresses=np.array([4096, 8192, 4096], dtype=np.uint64))
    b = mmusim.run(addresses=[4096, 8192, 4096])
    assert a.stats == b.stats
    with pytest.raises(ValueError, match="negative"):
        mmusim.run(addresses=np.array([-1]))


def test_deterministic():
    a = mmusim.run(config="skylake-cuckoo", set={"workload.accesses": 20000})
    b = mmusim.run(config="skylake-cuckoo", set={"workload.accesses": 20000})
    assert a.json == b.json


def test_gil_released_while_simulating():
    done = threading.Event()
    ticks = 0

    def work():
        mmusim.run(set={"workload.accesses": 400000})
        done.set()

    t = threading.Thread(target=work)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    # A run that held the GIL would leave this loop no turn until it ended.
    elapsed = time.perf_counter() - start
    assert ticks >= min(20, elapsed / 0.005), (ticks, elapsed)


def test_progress_callback_and_its_exception():
    seen = []
    mmusim.run(set={"workload.accesses": 400000}, progress=lambda d, t: seen.append((d, t)))
    assert seen, "the callback was never called"
    assert all(t == 400000 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Stop(Exception):
        pass

    def stop(d, t):
        raise Stop

    with pytest.raises(Stop):
        mmusim.run(set={"workload.accesses": 5000000}, progress=stop)


def test_presets():
    p = mmusim.presets()
    assert "skylake" in set(p["name"])
    assert len(p) == len(set(p["name"]))


def test_progress_true_shows_a_counter_and_ends_its_line(capfd, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    quiet = mmusim.run(set={"workload.accesses": 400000})
    shown = mmusim.run(set={"workload.accesses": 400000}, progress=True)
    assert shown.stats == quiet.stats
    err = capfd.readouterr().err
    assert "of 400,000 accesses" in err and err.endswith("\n")


def test_progress_ends_at_the_last_count():
    seen = []
    r = mmusim.run(set={"workload.accesses": 300000}, progress=lambda d, t: seen.append((d, t)))
    # Every access of the stream, the warm-up's too, was counted by the end.
    assert seen[-1] == (300000, 300000), seen[-3:]
    assert r.stats["stats"]["total"]["accesses"] == 150000


def _interrupt_after(seconds):
    import os
    import signal

    t = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_stops_a_run():
    # 50 M accesses take many seconds; Ctrl-C ends the run at its next batch.
    t = _interrupt_after(0.5)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        mmusim.run(set={"workload.accesses": 50_000_000})
    t.join()
    assert time.perf_counter() - start < 5
    # The next run is whole: nothing of the stop is left behind.
    again = mmusim.run(set={"workload.accesses": 20000})
    assert not again.partial


def test_ctrl_c_stops_a_compare(root, monkeypatch):
    monkeypatch.chdir(root)
    t = _interrupt_after(0.5)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        mmusim.compare(["skylake", "zen4"], ["workloads/default.toml+accesses=50000000"])
    t.join()
    assert time.perf_counter() - start < 5
    after = mmusim.compare(["skylake"], ["workloads/belady.toml"])
    assert len(after) == 1


def test_ctrl_c_stops_a_long_analyze():
    # The LRU and MIN passes over 30 M references take many seconds; Ctrl-C ends them
    # within 65,536 references (the interrupt comes once the references are handed over).
    refs = np.random.default_rng(1).integers(0, 1 << 17, 30_000_000, dtype=np.uint64)
    start = time.perf_counter()
    t = _interrupt_after(1.5)
    with pytest.raises(KeyboardInterrupt):
        mmusim.analyze(refs, curves="lru,min")
    t.join()
    assert time.perf_counter() - start < 3.5
    # The next analysis is whole: nothing of the stop is left behind.
    again = mmusim.analyze("1 2 3 4 1 2 5 1 2 3 4 5", curves="lru,min")
    assert again.refs == 12 and again.first_refs == 5


def test_compare_progress_counts_runs(root, monkeypatch):
    monkeypatch.chdir(root)
    seen = []
    mmusim.compare(["skylake", "zen4", "icelake"], ["workloads/belady.toml"], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
