"""read_trace, run(kinds=), sweep and compare of dicts and TOML strings, compare's frame:
each against the command line's files or a derivation of its own."""

from __future__ import annotations

import glob
import gzip
import json
import lzma
import os
import tempfile

try:
    import tomllib
except ModuleNotFoundError:  # CPython 3.10: the test extra's tomli
    import tomli as tomllib
import warnings

import numpy as np
import pandas as pd
import pytest

import mmusim


def mmt_records(path):
    """A `.mmt` trace decoded here, from its documented layout (a 32-byte header, then
    16-byte records: vaddr u64, instrs u32, kind u8, 3 zero bytes)."""
    raw = lzma.open(path).read() if str(path).endswith(".xz") else open(path, "rb").read()
    assert raw[:8] == b"MMUTRACE"
    recs = np.frombuffer(
        raw[32:], dtype=np.dtype([("vaddr", "<u8"), ("instrs", "<u4"), ("kind", "u1"), ("pad", "V3")])
    )
    return recs


def test_read_trace_equals_the_file_decoded_here(root):
    path = root / "workloads/traces/ls.mmt.xz"
    df = mmusim.read_trace(path)
    recs = mmt_records(path)
    assert len(df) == len(recs)
    assert df["address"].dtype == np.uint64 and df["instrs"].dtype == np.uint32
    np.testing.assert_array_equal(df["address"].to_numpy(), recs["vaddr"])
    np.testing.assert_array_equal(df["instrs"].to_numpy(), recs["instrs"])
    np.testing.assert_array_equal(df["kind"].cat.codes.to_numpy(), recs["kind"])
    assert list(df["kind"].cat.categories) == ["load", "store", "fetch"]
    first = mmusim.read_trace(path, limit=1000)
    pd.testing.assert_frame_equal(first, df.iloc[:1000])


def test_read_trace_reads_text_lackey_and_gzip(tmp_path):
    # A text trace: a store of 8 bytes crossing a page is split in two accesses.
    text = "F 0x400000\nR 0x7f0000001000\nW 0x7f0000001ffc 8\nR 4096 i=3\n"
    t = tmp_path / "t.txt.gz"
    t.write_bytes(gzip.compress(text.encode()))
    df = mmusim.read_trace(t)
    assert df["address"].tolist() == [0x400000, 0x7F0000001000, 0x7F0000001FFC, 0x7F0000002000, 4096]
    assert df["kind"].tolist() == ["fetch", "load", "store", "store", "load"]
    assert df["instrs"].tolist() == [1, 1, 1, 0, 3]
    # Fetches counted into the next data access instead.
    no_f = mmusim.read_trace(t, fetches=False)
    assert no_f["kind"].tolist() == ["load", "store", "store", "load"]
    assert no_f["instrs"].tolist() == [2, 1, 0, 3]
    # valgrind lackey output, format named.
    lk = tmp_path / "lackey.out"
    lk.write_text("I  04000000,3\n L 7ff000000,8\n S 7ff000010,4\nI  04000003,2\n")
    lackey = mmusim.read_trace(lk, format="lackey")
    assert lackey["kind"].tolist() == ["fetch", "load", "store", "fetch"]
    with pytest.raises(mmusim.MmusimError, match="missing.mmt"):
        mmusim.read_trace(tmp_path / "missing.mmt")
    with pytest.raises(mmusim.MmusimError, match="format"):
        mmusim.read_trace(t, format="nope")


def test_run_with_kinds_equals_a_trace_file(cli, tmp_path):
    rng = np.random.default_rng(11)
    pages = rng.integers(0, 2000, size=30000, dtype=np.uint64)
    addrs = (np.uint64(0x7F0000000000) + pages * np.uint64(4096)).astype(np.uint64)
    codes = rng.choice(np.array([0, 0, 1, 2], dtype=np.uint8), size=len(addrs))
    letters = np.array(["R", "W", "F"])[codes]
    trace = tmp_path / "mixed.txt"
    trace.write_text("".join(f"{k} {a:#x}\n" for k, a in zip(letters.tolist(), addrs.tolist())))
    want = cli.run("--config", "skylake", "--trace", str(trace))["json"]
    names = np.array(["load", "store", "fetch"])[codes]
    for kinds in (codes, names, letters, pd.Categorical(names)):
        got = mmusim.run(config="skylake", addresses=addrs, kinds=kinds).stats
        assert got["stats"] == want["stats"]
        assert got["warmup"] == want["warmup"]
    # Stores and fetches count: not the loads-only result.
    loads = mmusim.run(config="skylake", addresses=addrs).stats
    assert loads["stats"] != want["stats"]
    with pytest.raises(ValueError, match="kinds"):
        mmusim.run(addresses=addrs[:3], kinds=["load", "jump", "store"])
    with pytest.raises(ValueError, match="kinds"):
        mmusim.run(addresses=addrs[:3], kinds=[0, 1])
    with pytest.raises(ValueError, match="kinds"):
        mmusim.run(addresses=addrs[:3], kinds=[0, 1, 3])
    with pytest.raises(mmusim.MmusimError, match="kinds"):
        mmusim.run(kinds=[0])


def test_sweep_of_a_toml_string_and_a_dict_equals_the_file(cli, root, monkeypatch, tmp_path, small_sweep):
    spec_toml = small_sweep
    monkeypatch.chdir(root)
    spec = tmp_path / "spec.toml"
    # The file's relative paths start at its folder; the string's at the current one.
    spec.write_text(spec_toml.replace('"workloads/', f'"{root}/workloads/'))
    p = cli("sweep", "run", "-q", str(spec), "--out", str(tmp_path / "cli"), "--report")
    assert p.returncode == 0, p.stderr
    want = pd.read_csv(tmp_path / "cli" / "report.csv", dtype={"config_hash": str, "workload": str})
    by_text = mmusim.sweep(spec_toml, out=tmp_path / "text")
    temps = set(glob.glob(os.path.join(tempfile.gettempdir(), "mmusim-sweep-*")))
    by_dict = mmusim.sweep(tomllib.loads(spec_toml))
    for got in (by_text, by_dict):
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        assert len(got.attrs["records"]) == 2
    # Given out, the folder stays (resumable, with its plots); without, the temporary
    # folder is gone and everything it held is in the DataFrame and its attrs.
    assert by_text.attrs["out"] == str(tmp_path / "text")
    assert (tmp_path / "text" / "results.jsonl").is_file()
    assert by_dict.attrs["out"] is None
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "mmusim-sweep-*"))) == temps
    store = (tmp_path / "cli" / "results.jsonl").read_text().splitlines()
    assert [r["total"] for r in by_dict.attrs["records"]] == [json.loads(l)["total"] for l in store]
    with pytest.raises(mmusim.MmusimError, match="sweep dict"):
        mmusim.sweep({**tomllib.loads(spec_toml), "axis": [{"key": "tlb.stlb.entries", "valus": [1]}]})


def test_compare_of_dicts_and_toml_strings_equals_the_files(cli, root, monkeypatch, tmp_path):
    monkeypatch.chdir(root)
    cfg_text = (root / "configs/zen4.toml").read_text()
    wl_text = (root / "workloads/belady.toml").read_text()
    out = tmp_path / "cmp"
    p = cli("compare", "-q", "-c", "skylake,configs/zen4.toml", "-w", "workloads/belady.toml", "--out", str(out))
    assert p.returncode == 0, p.stderr
    want = pd.read_csv(out / "compare.csv", dtype={"config_hash": str, "config": str, "workload": str})
    got = mmusim.compare(["skylake", tomllib.loads(cfg_text)], [wl_text])
    assert got["system"].tolist() == ["skylake", "<config 2>"]
    assert got["workload"].tolist() == ["<workload 1>"] * 2
    # The same numbers and names; only the labels of the given texts differ.
    names = ["system", "workload"]
    pd.testing.assert_frame_equal(got.drop(columns=names), want.drop(columns=names))
    by_text = mmusim.compare(["skylake", cfg_text], [tomllib.loads(wl_text)])
    pd.testing.assert_frame_equal(by_text.drop(columns=names), want.drop(columns=names))
    with pytest.raises(mmusim.MmusimError, match="<config 1>"):
        mmusim.compare([{"tlb": [{"name": "x", "entries": "many"}]}], [wl_text])


def test_compare_frame_is_not_fragmented(root, monkeypatch):
    monkeypatch.chdir(root)
    got = mmusim.compare(["skylake", "zen4"], ["workloads/belady.toml"])
    summary = mmusim.run(set={"workload.accesses": 20000}).summary()
    for df in (got, summary):
        # A block per dtype, not one per column (read_csv's, 200 of them).
        assert df._mgr.nblocks <= 10 < df.shape[1]
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.PerformanceWarning)
            df["extra"] = 1
            df.insert(0, "first", 0)


def test_timeline_of_every_access_with_no_warmup():
    r = mmusim.run(set={"workload.accesses": 20000, "sim.warmup_accesses": 0}, timeline=1000)
    assert r.stats["warmup"]["accesses_per_core"] == 0
    assert len(r.timeline) == 20
    assert "warm-up" in mmusim.Result.__doc__


def backward_distances(refs):
    """Each reference's distance back to the previous reference of its page (None for
    a first reference), by brute force."""
    last, out = {}, []
    for t, p in enumerate(refs, 1):
        out.append(t - last[p] if p in last else None)
        last[p] = t
    return out


def test_ws_histogram_is_the_backward_distances_and_gives_the_ws_faults(root):
    rng = np.random.default_rng(5)
    refs = np.concatenate([rng.integers(0, 12, 300), rng.integers(40, 60, 300)]).astype(np.uint64)
    a = mmusim.analyze(refs, ws_max=25)
    dist = backward_distances(refs.tolist())
    finite = [d for d in dist if d is not None]
    want = sorted((d, finite.count(d)) for d in set(finite) if d <= 25)
    assert a.ws_histogram.tolist() == [list(x) for x in want]
    assert a.ws_beyond == sum(d > 25 for d in finite)
    assert a.first_refs == dist.count(None)
    # WS(T) faults: first references and the distances above T.
    ws = a.curves["ws"]
    h = dict(want)
    for t, faults in zip(ws["T"], ws["faults"]):
        assert faults == a.first_refs + a.ws_beyond + sum(c for d, c in h.items() if d > t)
    # A list of windows keeps the histogram up to the largest; no WS, no histogram.
    b = mmusim.analyze(refs, ws_t=[3, 10])
    assert b.ws_histogram.tolist() == [list(x) for x in want if x[0] <= 10]
    none = mmusim.analyze(refs, curves="lru")
    assert none.ws_histogram.shape == (0, 2) and none.ws_beyond == 0


def test_read_trace_equals_trace_convert_to_text(cli, tmp_path):
    # lackey: a load, a store crossing a page (split in two), a modify (load + store).
    lk = tmp_path / "prog.lackey.gz"
    lk.write_bytes(gzip.compress(
        b"I  04000000,3\n L 7ff000000,8\n S 7ff000ffc,8\nI  04000003,2\n M 7ff000010,4\nI  04000005,2\n"
    ))
    for fetches in (True, False):
        txt = tmp_path / f"prog-{fetches}.txt"
        args = ["trace", "convert", "--format", "lackey", str(lk), str(txt)]
        p = cli(*(args if fetches else args[:2] + ["--no-fetches"] + args[2:]))
        assert p.returncode == 0, p.stderr
        want = []
        for line in txt.read_text().splitlines():
            if line.startswith("#"):
                continue
            f = line.split()
            i = next((int(x[2:]) for x in f[2:] if x.startswith("i=")), 1)
            want.append(({"R": "load", "W": "store", "F": "fetch"}[f[0]], int(f[1], 16), i))
        df = mmusim.read_trace(lk, format="lackey", fetches=fetches)
        assert list(zip(df["kind"], df["address"].tolist(), df["instrs"].tolist())) == want
        assert len(want) == (8 if fetches else 5)


def test_read_trace_then_run_equals_the_trace_run(root, monkeypatch):
    monkeypatch.chdir(root)
    trace = "workloads/traces/ls.mmt.xz"
    t = mmusim.read_trace(trace)
    got = mmusim.run(addresses=t["address"], kinds=t["kind"], instrs=t["instrs"]).stats
    want = mmusim.run(trace=trace).stats
    assert got["stats"] == want["stats"] and got["warmup"] == want["warmup"]
    # One instruction per access is another run (the trace's data accesses carry 0).
    ones = mmusim.run(addresses=t["address"], kinds=t["kind"]).stats
    assert ones["stats"]["total"]["instructions"] == len(t) - ones["warmup"]["accesses_per_core"]
    assert ones["stats"] != want["stats"]
    with pytest.raises(ValueError, match="instrs"):
        mmusim.run(addresses=[4096, 8192], instrs=[1])
    with pytest.raises(ValueError, match="instrs"):
        mmusim.run(addresses=[4096], instrs=[-1])


def test_one_line_toml_is_text_in_run_compare_and_sweep(root, monkeypatch, tmp_path):
    # One helper decides path/preset or TOML text for run, compare and sweep alike.
    monkeypatch.chdir(root)
    assert mmusim._is_toml('extends = "zen4"')
    assert mmusim._is_toml('sim.cores = 2')
    assert not mmusim._is_toml("skylake")
    assert not mmusim._is_toml("skylake+os.huge_pages.policy=always")
    assert not mmusim._is_toml("configs/zen4.toml")
    odd = tmp_path / "a=1.toml"
    odd.write_text('extends = "zen4"\n')
    assert mmusim._is_toml("a=1.toml") and not mmusim._is_toml(str(odd))
    wl = "workloads/belady.toml"
    one = 'extends = "zen4"'
    r = mmusim.run(config=one, workload=wl).stats
    assert r == mmusim.run(config="zen4", workload=wl).stats
    got = mmusim.compare(["skylake", one], [wl])
    assert got["system"].tolist() == ["skylake", "<config 2>"]
    with pytest.raises(mmusim.MmusimError, match="sweep TOML"):
        mmusim.sweep('name = "s"', out=tmp_path / "s")


def test_dict_inputs_refused_in_python(tmp_path):
    # NaN and infinities name the argument and key path.
    with pytest.raises(ValueError, match=r"config: tlb\.stlb\.x: nan is not a finite number"):
        mmusim.run(config={"extends": "skylake", "tlb": {"stlb": {"x": float("nan")}}})
    with pytest.raises(ValueError, match=r"workload: accesses: inf"):
        mmusim.run(workload={"name": "w", "accesses": float("inf")})
    with pytest.raises(ValueError, match=r"<config 1>: sim\.f: -inf"):
        mmusim.compare([{"sim": {"f": -np.inf}}], ["workloads/belady.toml"])
    with pytest.raises(ValueError, match=r"spec: axis\[0\]\.values\[1\]: nan"):
        mmusim.sweep({"axis": [{"key": "k", "values": [1.0, float("nan")]}]}, out=tmp_path / "s")
    # Empty addresses: refused before any trace file is written, list or array alike.
    for empty in (np.array([], np.uint64), []):
        with pytest.raises(ValueError, match="addresses: empty"):
            mmusim.run(addresses=empty)


def test_categorical_kinds_go_through_their_codes():
    # A categorical (read_trace's kind column, or any order of categories, R/W/F too)
    # runs as the same kinds given as names.
    addrs = np.arange(0x10000, 0x10000 + 64 * 4096, 4096, dtype=np.uint64)
    names = ["load", "store", "fetch", "store"] * 16
    want = mmusim.run(addresses=addrs, kinds=names).stats
    for cats in (["load", "store", "fetch"], ["store", "fetch", "load"]):
        cat = pd.Categorical(names, categories=cats)
        assert mmusim.run(addresses=addrs, kinds=cat).stats == want
        assert mmusim.run(addresses=addrs, kinds=pd.Series(cat)).stats == want
    rwf = pd.Categorical([{"load": "R", "store": "W", "fetch": "F"}[n] for n in names])
    assert mmusim.run(addresses=addrs, kinds=rwf).stats == want
    bad = pd.Categorical(["load", "jump"] + ["load"] * 62)
    with pytest.raises(ValueError, match=r"kinds\[1\]: 'jump'"):
        mmusim.run(addresses=addrs, kinds=bad)
    missing = pd.Categorical(["load", None] + ["load"] * 62, categories=["load"])
    with pytest.raises(ValueError, match=r"kinds\[1\]"):
        mmusim.run(addresses=addrs, kinds=missing)
