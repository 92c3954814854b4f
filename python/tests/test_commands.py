"""compare, sweep, analyze, mva and explain against their commands' files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mmusim


def read_csv(path):
    return pd.read_csv(path, dtype={"config_hash": str, "config": str, "workload": str})


def test_compare_equals_cli(cli, root, monkeypatch, tmp_path):
    monkeypatch.chdir(root)
    out = tmp_path / "cmp"
    p = cli(
        "compare", "-q", "-c", "skylake,skylake-htab", "-w", "workloads/belady.toml,workloads/default.toml",
        "--set", "workload.accesses=20000", "--out", str(out),
    )
    assert p.returncode == 0, p.stderr
    want = read_csv(out / "compare.csv")
    got = mmusim.compare(
        ["skylake", "skylake-htab"],
        ["workloads/belady.toml", "workloads/default.toml"],
        set={"workload.accesses": 20000},
    )
    pd.testing.assert_frame_equal(got, want)
    assert len(got) == 4


def test_compare_baseline_and_errors(root, monkeypatch):
    monkeypatch.chdir(root)
    a = mmusim.compare("skylake,zen4", "workloads/belady.toml")
    b = mmusim.compare(["skylake", "zen4"], ["workloads/belady.toml"], baseline="zen4")
    assert a.drop(columns=[c for c in a.columns if "ratio" in c or "baseline" in c]).equals(
        b.drop(columns=[c for c in b.columns if "ratio" in c or "baseline" in c])
    )
    with pytest.raises(mmusim.MmusimError, match="skylak"):
        mmusim.compare(["skylak"], ["workloads/belady.toml"])


def test_analyze_equals_cli(cli, root, tmp_path):
    out = tmp_path / "an"
    refs = "1 2 3 4 1 2 5 1 2 3 4 5"
    p = cli("analyze", "-q", "--refs", refs, "--frames", "1-5", "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = mmusim.analyze(refs, frames=range(1, 6))
    assert got.json == json.loads((out / "analysis.json").read_text())
    for name, df in got.curves.items():
        pd.testing.assert_frame_equal(df, pd.read_csv(out / f"{name}.csv"))
    pd.testing.assert_frame_equal(got.tlb, pd.read_csv(out / "tlb.csv"))
    pd.testing.assert_frame_equal(got.replacement, pd.read_csv(out / "replacement.csv"))
    assert set(got.curves) == {"lru", "min", "ws", "vmin"}


def test_analyze_array_equals_string_and_belady():
    as_text = mmusim.analyze("1 2 3 4 1 2 5 1 2 3 4 5", frames=[3, 4], policies=["fifo"])
    as_array = mmusim.analyze(np.array([1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]), frames="3,4", policies="fifo")
    assert as_text.json == as_array.json
    # Belady's anomaly, as the workload file's comment says: 9 faults with 3 frames, 10 with 4.
    r = as_array.replacement
    assert list(r.iloc[:, -1]) == [9, 10] or list(r["fifo"] if "fifo" in r else r.iloc[:, 1]) == [9, 10]
    assert as_array.lru_histogram.shape[1] == 2
    assert as_array.lru_histogram[:, 1].sum() + as_array.first_refs == as_array.refs


def test_analyze_trace_equals_cli(cli, root, tmp_path):
    out = tmp_path / "an"
    trace = str(root / "workloads/traces/ls.mmt.xz")
    p = cli("analyze", "-q", "--trace", trace, "--curves", "lru,ws", "--max-m", "200", "--ws-max", "500", "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = mmusim.analyze(trace=trace, curves=["lru", "ws"], max_m=200, ws_max=500)
    assert got.json == json.loads((out / "analysis.json").read_text())


def test_analyze_errors():
    with pytest.raises(mmusim.MmusimError, match="frames"):
        mmusim.analyze("1 2 3", frames="0-x")
    with pytest.raises(mmusim.MmusimError, match="refs"):
        mmusim.analyze("1 2 (3")
    with pytest.raises(ValueError):
        mmusim.analyze()
    # Above the range cap: a clear error naming the option, not a panic.
    with pytest.raises(mmusim.MmusimError, match="^ws_max: .*10000000"):
        mmusim.analyze("1 2 3 1", ws_max=2**63)


def test_mva_equals_cli(cli, root, tmp_path):
    out = tmp_path / "mva"
    model = str(root / "configs/mva/exam-thrashing.toml")
    p = cli("mva", "--config", model, "--n-max", "40", "--set", "think_time=20", "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = mmusim.mva(model, n_max=40, set={"think_time": 20})
    assert got.json == json.loads((out / "mva.json").read_text())
    pd.testing.assert_frame_equal(got.table, pd.read_csv(out / "mva.csv"))
    assert len(got.table) == 40


def test_mva_error_names_the_key(root):
    with pytest.raises(mmusim.MmusimError, match="think_tim"):
        mmusim.mva(root / "configs/mva/exam-thrashing.toml", set={"think_tim": 3})


def test_explain_equals_cli(cli):
    p = cli("explain", "0x7f0000001234", "--warm", "0x7f0000000000", "--config", "skylake-htab")
    assert p.returncode == 0, p.stderr
    steps = mmusim.explain(0x7F0000001234, config="skylake-htab", warm=[0x7F0000000000])
    printed = [l.strip() for l in p.stdout.splitlines() if l.strip() and not l.endswith(":")]
    assert [s["text"] for s in steps] == printed
    access = [s["kind"] for s in steps if s["section"].startswith("Access")]
    assert access[:2] == ["tlb", "tlb"] and "pte_read" in access and "walk_end" in access
    assert [s["kind"] for s in steps if not s["section"]] == ["title", "address", "cycles", "counters"]
    assert "other" not in {s["kind"] for s in steps}
    radix = mmusim.explain("0x7f0000001234")
    assert [s["kind"] for s in radix if s["kind"] == "index"] == ["index"] * 4
    with pytest.raises(mmusim.MmusimError, match="not an address"):
        mmusim.explain("0xzz")


def test_sweep_equals_cli(cli, root, tmp_path, small_sweep):
    spec = tmp_path / "spec.toml"
    # The shared small sweep (conftest.py), its paths from the root, and a second workload.
    spec.write_text(
        small_sweep.replace('"workloads/', f'"{root}/workloads/')
        + f"""
[[workload]]
name = "zipf"
file = "{root / 'workloads/default.toml'}"
set = ["accesses=20000"]
"""
    )
    p = cli("sweep", "run", "-q", str(spec), "--out", str(tmp_path / "cli"), "--report")
    assert p.returncode == 0, p.stderr
    got = mmusim.sweep(spec, out=tmp_path / "py")
    # A DataFrame (the issue: sweep returns one): report.csv, a row per run and one
    # geometric mean per point; the store and the counts in attrs.
    assert isinstance(got, pd.DataFrame)
    assert set(got.attrs) == set(mmusim._more.SWEEP_ATTRS)
    assert len(got[got.workload != "geomean"]) == len(got.attrs["records"]) == 4
    pd.testing.assert_frame_equal(got, read_csv(tmp_path / "cli" / "report.csv"))
    store = (tmp_path / "cli" / "results.jsonl").read_text().splitlines()
    assert got.attrs["records"] == [json.loads(l) for l in store]
    # A frame derived from the sweep's shares its records (no deep copy per operation).
    assert got[got.workload != "geomean"].attrs["records"] is got.attrs["records"]
    assert got.attrs["out"] == str(tmp_path / "py") and (tmp_path / "py" / "report.csv").is_file()
    assert (got.attrs["runs"], got.attrs["ran"], got.attrs["skipped"]) == (4, 4, 0)
    # Resumed: nothing is run again, the same table comes back.
    again = mmusim.sweep(spec, out=tmp_path / "py")
    pd.testing.assert_frame_equal(again, got)
    assert (again.attrs["ran"], again.attrs["skipped"]) == (0, 4)


def test_sweep_retry_failed_reruns_the_failed_runs(cli, tmp_path):
    # A text trace with a bad line fails its runs at run time (not at plan time); fixed,
    # `retry_failed=True` runs them again as `sweep run --retry-failed` does.
    def trace(bad_at=None):
        return "".join(
            "bogus line\n" if i == bad_at else f"R {0x100000 + (i * 7 % 256) * 4096:#x}\n"
            for i in range(3000)
        )

    (tmp_path / "seq.toml").write_text(
        'name = "seq"\naccesses = 3000\nseed = 1\n[generator]\nkind = "sequential"\n'
        'footprint = "4MiB"\nstride = 4096\n'
    )
    (tmp_path / "tr.toml").write_text('name = "tr"\n[generator]\nkind = "trace"\npath = "t.txt"\n')
    (tmp_path / "t.txt").write_text(trace(2000))
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "tiny"\nsystem = "skylake"\nset = ["sim.warmup_accesses=0"]\n'
        '[[workload]]\nname = "seq"\nfile = "seq.toml"\n[[workload]]\nname = "tr"\nfile = "tr.toml"\n'
        '[[axis]]\nkey = "tlb[0].entries"\nvalues = [16, 32]\n'
    )
    out = tmp_path / "py"
    with pytest.raises(mmusim.MmusimError, match="2 of the sweep's runs failed"):
        mmusim.sweep(spec, out=out)
    with pytest.raises(mmusim.MmusimError, match="2 of the sweep's runs failed"):
        mmusim.sweep(spec, out=out)
    (tmp_path / "t.txt").write_text(trace())
    got = mmusim.sweep(spec, out=out, retry_failed=True)
    assert (got.attrs["ran"], got.attrs["skipped"]) == (2, 2)
    p = cli("sweep", "run", "-q", str(spec), "--out", str(tmp_path / "cli"), "--report")
    assert p.returncode == 0, p.stderr
    pd.testing.assert_frame_equal(got, read_csv(tmp_path / "cli" / "report.csv"))


def test_explain_takes_dicts_and_toml_strings(root):
    # config= as run takes it: a preset, a file, a TOML string or a dict.
    want = mmusim.explain(0x7F0000001234, config="zen4")
    text = (root / "configs/zen4.toml").read_text()
    assert mmusim.explain(0x7F0000001234, config=text) == want
    assert mmusim.explain(0x7F0000001234, config='extends = "zen4"') == want
    assert mmusim.explain(0x7F0000001234, config={"extends": "zen4"}) == want
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.explain(0x1000, config={"extends": "zen4", "sim": {"corez": 2}})
    (err,) = e.value.errors
    assert err["file"] == "<config dict>" and err["line"] is None and "corez" in err["key"]


def test_mva_takes_dicts_and_toml_strings(root):
    try:
        import tomllib
    except ModuleNotFoundError:  # CPython 3.10
        import tomli as tomllib
    path = root / "configs/mva/exam-thrashing.toml"
    want = mmusim.mva(path, n_max=12)
    text = path.read_text()
    for given in (text, tomllib.loads(text)):
        got = mmusim.mva(given, n_max=12)
        assert got.json == want.json
        pd.testing.assert_frame_equal(got.table, want.table)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.mva({**tomllib.loads(text), "think_tim": 3})
    (err,) = e.value.errors
    assert err["file"] == "<config dict>" and err["line"] is None and err["key"] == "think_tim"


def test_analyze_workload_takes_dicts_and_toml_strings(root):
    try:
        import tomllib
    except ModuleNotFoundError:  # CPython 3.10
        import tomli as tomllib
    path = root / "workloads/belady.toml"
    want = mmusim.analyze(workload=path, frames="1-5")
    text = path.read_text()
    for given in (text, tomllib.loads(text)):
        got = mmusim.analyze(workload=given, frames="1-5")
        for name, df in want.curves.items():
            pd.testing.assert_frame_equal(got.curves[name], df)
        pd.testing.assert_frame_equal(got.replacement, want.replacement)
    with pytest.raises(mmusim.MmusimError, match="<workload dict>"):
        mmusim.analyze(workload={**tomllib.loads(text), "bogus": 1})


def test_explain_kinds_every_preset(cli):
    # Every step of every preset's report has a known kind (nested walks, POM-TLB,
    # Victima, Utopia's RestSeg and SpecTLB included), and the steps' lines are the
    # command line's printout, line for line.
    for name in mmusim.presets()["name"]:
        steps = mmusim.explain(0x7F0000001234, config=name, warm=[0x7F0000000000])
        unknown = [(s["kind"], s["text"]) for s in steps if s["kind"] not in mmusim.EXPLAIN_KINDS]
        assert not unknown, (name, unknown)
        p = cli("explain", "0x7f0000001234", "--warm", "0x7f0000000000", "--config", name)
        printed = [l.strip() for l in p.stdout.splitlines() if l.strip() and not l.endswith(":")]
        assert [s["text"] for s in steps] == printed, name
        assert [s["step"] for s in steps] == list(range(len(steps)))


def test_explain_steps_agree_with_a_walk_by_hand():
    # skylake: 4-level radix, 9 index bits per level above the 12 offset bits. The
    # address is touched first, so the access faults, maps the page and walks again.
    va = 0x7F3A9BCDF123
    steps = mmusim.explain(va, config="skylake")
    names = {1: "PT", 2: "PD", 3: "PDPT", 4: "PML4"}
    by_hand = {lvl: (va >> (12 + 9 * (lvl - 1))) & 0x1FF for lvl in names}
    split = [s for s in steps if s["kind"] == "index"]
    assert [(s["level"], s["table"], s["index"]) for s in split] == [
        (lvl, names[lvl], by_hand[lvl]) for lvl in (4, 3, 2, 1)
    ]
    for s in split:
        assert (s["high_bit"], s["low_bit"]) == (12 + 9 * s["level"] - 1, 12 + 9 * (s["level"] - 1))
    pages = {s["page_size"]: s for s in steps if s["kind"] == "page_split"}
    for size, shift in (("4K", 12), ("2M", 21), ("1G", 30)):
        assert (pages[size]["vpn"], pages[size]["offset"]) == (va >> shift, va & ((1 << shift) - 1))
    # The TLB levels all miss (nothing is cached), then walks: the last walk reads one
    # entry per level, top down, each at the index by hand, each entry 8 bytes into its
    # 4 KiB table, and the table the entry points to is the next read's.
    access = [s for s in steps if s["section"].startswith("Access")]
    tlb = [s for s in access if s["kind"] == "tlb"]
    assert tlb and not any(s["hit"] for s in tlb) and [s["level"] for s in tlb] == list(
        range(1, len(tlb) + 1)
    )
    walks = [s["walk"] for s in access if s["kind"] == "walk"]
    last = walks[-1]
    reads = [s for s in access if s["kind"] == "pte_read" and s["walk"] == last]
    assert [(r["level"], r["table"], r["index"]) for r in reads] == [
        (lvl, names[lvl], by_hand[lvl]) for lvl in (4, 3, 2, 1)
    ]
    for r, nxt in zip(reads, reads[1:]):
        assert r["paddr"] % 4096 == 8 * r["index"]
        assert r["next_table"] == nxt["paddr"] - 8 * nxt["index"]
    assert reads[-1]["next_table"] is None
    assert any(s["kind"] == "fault" and s["fault"] == "page" for s in access)
    end = [s for s in access if s["kind"] == "walk_end" and s["walk"] == last][0]
    assert end["found"] and end["page_size"] == "4K"
    # The physical address: the frame the walk found, plus the 12 offset bits.
    (addr,) = [s for s in steps if s["kind"] == "address"]
    assert addr["frame"] == end["frame"] and addr["address"] == end["frame"] + (va & 0xFFF)
    # The cycles add up; the walk's start is the root table the first read is in.
    (cyc,) = [s for s in steps if s["kind"] == "cycles"]
    assert cyc["total"] == sum(cyc[k] for k in ("tlb", "walk_caches", "pte_reads", "wait", "fault"))
    start = [s for s in access if s["kind"] == "walk" and s["walk"] == last][0]
    first = reads[0]
    assert start["start_table"] == first["paddr"] - 8 * first["index"]


def test_analyze_of_a_trace_path_given_first_equals_trace(root):
    path = root / "workloads/traces/gzip.mmt.xz"
    want = mmusim.analyze(trace=str(path), curves="lru").json
    assert mmusim.analyze(str(path), curves="lru").json == want
    assert mmusim.analyze(path, curves="lru").json == want
    # A reference string is still one.
    by_string = mmusim.analyze("1 2 3 1", curves="lru").json
    assert by_string == mmusim.analyze(np.array([1, 2, 3, 1]), curves="lru").json
