"""compare, sweep, analyze, mva and explain: the command line's other commands.

Each returns what its command writes, as DataFrames, arrays and dicts: ``compare`` the
rows of ``compare.csv``, ``sweep`` those of ``report.csv`` (its store and counts in ``attrs``),
``analyze`` the curves of ``analysis.json`` and its CSV files, ``mva`` the rows of
``mva.csv`` and ``mva.json``, ``explain`` the steps of the walk it prints, typed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _native
from . import Source, _call, _csv, _dict_json, _format, _is_toml, _sets, _source, _unsigned, Sets


def _list(v: Union[str, Iterable[Any], None], name: str) -> Optional[str]:
    """A list argument as the command line writes it ("1-8,110"), or None; a negative
    number in a list is a ValueError naming ``name[i]``."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return ",".join(
        x if isinstance(x, str) else str(_unsigned(x, f"{name}[{i}]")) for i, x in enumerate(v)
    )


def _names(v: Any) -> list[Any]:
    return [v] if isinstance(v, (str, os.PathLike, Mapping)) else list(v)


def _given(items: Any, what: str, given: list) -> list[str]:
    """compare's systems or workloads as the command line names them; each dict or TOML
    string (``_is_toml``) is named ``<what N>`` (N its place, from 1) and its
    text added to ``given`` as (name, "json" or "toml", text)."""
    names = []
    for n, x in enumerate(_names(items), 1):
        if isinstance(x, Mapping):
            name = f"<{what} {n}>"
            given.append((name, "json", _dict_json(x, name)))
        elif isinstance(x, str) and _is_toml(x):
            name = f"<{what} {n}>"
            given.append((name, "toml", x))
        elif isinstance(x, (str, os.PathLike)):
            name = os.fspath(x)
        else:
            raise TypeError(
                f"{what}: a preset name, a file path, a TOML string or a dict, "
                f"not {type(x).__name__}"
            )
        names.append(name)
    return names


def compare(
    configs: Any,
    workloads: Any = None,
    baseline: Optional[str] = None,
    set: Sets = None,
    threads: Optional[int] = None,
    progress: Union[bool, Callable[[int, int], Any]] = False,
) -> pd.DataFrame:
    """Every system on every workload, as ``mmusim compare`` runs them.

    configs: presets or config files, each optionally with ``+key=value`` overrides
    ("skylake", "skylake+os.huge_pages.policy=always"), or configs as dicts or TOML
    strings (text of more than one line), named ``<config N>`` by their place N from 1.
    workloads: workload files (``.toml``) or trace files, with ``+key=value`` overrides
    of the workload, or workloads as dicts or TOML strings, named ``<workload N>``
    (default: the default workload); relative paths in a dict or string start at the
    current folder. baseline: the system the ratio columns are to (default the first).
    Returns ``compare.csv``: a row per (workload, system) pair.
    """
    given: list = []
    systems = _given(configs, "config", given)
    wls = [] if workloads is None else _given(workloads, "workload", given)
    text = _call(
        _native.compare,
        progress,
        "runs",
        systems=systems,
        workloads=wls,
        baseline=baseline,
        sets=_sets(set),
        threads=_unsigned(threads, "threads"),
        given=given,
    )
    return _csv(text)


# The keys of a sweep's DataFrame's ``attrs`` (documented in ``sweep``).
SWEEP_ATTRS = ("out", "records", "runs", "ran", "skipped", "note")


class Records(list):
    """A sweep's store, a dict per run: a list that the frames pandas derives from the
    sweep's (a filter, a selection) share instead of deep-copying with their ``attrs``,
    which for thousands of runs would cost seconds per operation. Treat it as read-only.
    """

    def __deepcopy__(self, memo: dict) -> "Records":
        return self


def sweep(
    spec: Any,
    out: Union[str, "os.PathLike[str]", None] = None,
    threads: Optional[int] = None,
    progress: Union[bool, Callable[[int, int], Any]] = False,
    retry_failed: bool = False,
) -> pd.DataFrame:
    """``mmusim sweep run SPEC --out OUT --report``: every point of the spec, on all
    cores, resumably (runs already in OUT are not run again).

    spec: a spec file; or the spec as a TOML string (as ``run`` tells one) or a dict of
    the same keys, whose relative paths start at the current folder.
    out: the sweep's folder (its store ``results.jsonl``, ``report.csv`` and plots). By
    default ``SPEC.out`` beside a spec file, as for the command line. A string or dict
    spec without ``out`` runs in a temporary folder that is removed before ``sweep``
    returns: everything it held is in the returned DataFrame and its ``attrs`` (give
    ``out`` to keep the folder, its plots, and resume there).
    retry_failed: run again the failed runs the store holds (``--retry-failed``); a
    sweep with failed runs raises ``MmusimError`` naming the first.

    Returns ``report.csv`` as a DataFrame: a row per run (point, workload, the axes'
    values and the run's metrics) and a ``geomean`` row per point. ``df.attrs`` holds:
    ``out`` the folder (None for a removed temporary one), ``records`` the store
    ``results.jsonl`` (a dict per run, with its whole ``total`` statistics), ``runs``
    the sweep's runs in the plan, ``ran`` those run by this call, ``skipped`` those the
    store already held, ``note`` what the one-pass answer did (or None)."""
    kind = text = None
    if isinstance(spec, Mapping):
        kind, text = "json", _dict_json(spec, "spec")
    elif isinstance(spec, str) and _is_toml(spec):
        kind, text = "toml", spec
    elif not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec: a file path, a TOML string or a dict, not {type(spec).__name__}")
    temporary = text is not None and out is None
    if temporary:
        out = tempfile.mkdtemp(prefix="mmusim-sweep-")
    try:
        report, where, runs, ran, skipped, note = _call(
            _native.sweep,
            progress,
            "runs",
            spec="" if text is not None else os.fspath(spec),
            out=None if out is None else os.fspath(out),
            threads=_unsigned(threads, "threads"),
            spec_text=None if text is None else (kind, text),
            retry_failed=retry_failed,
        )
        with open(os.path.join(where, "results.jsonl"), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)
    df = _csv(report)
    df.attrs.update(
        out=None if temporary else where,
        records=Records(records),
        runs=runs,
        ran=ran,
        skipped=skipped,
        note=note,
    )
    return df


class Analysis:
    """What ``mmusim analyze`` computes.

    ``json``: ``analysis.json`` as a dict. ``curves``: each fault curve by name ("lru",
    "min", "ws", "vmin") as a DataFrame (m, faults, lifetime; T first for WS and VMIN).
    ``tlb``: ``tlb.csv`` (misses of fully-associative LRU TLBs per page size and
    entries). ``replacement``: faults per frame count and policy when ``frames`` was
    given. ``lru_histogram``, ``min_histogram``: stack distances as an array of (distance,
    count) rows. ``ws_histogram``: backward (inter-reference) distances, the same way, up
    to the largest window T analysed, whose WS fault count is
    ``first_refs + ws_beyond + (counts of distances above T)``; ``ws_beyond``: the
    references of a finite distance above the largest T. Both are empty (0) without the
    WS curve, and are not in ``analysis.json``.
    """

    def __init__(
        self,
        json_text: str,
        curves: list,
        tlb: str,
        replacement: Optional[str],
        ws: tuple = ((), 0),
    ):
        self.json: dict = json.loads(json_text)
        self.curves: dict[str, pd.DataFrame] = {
            name.removesuffix(".csv"): _csv(text) for name, text in curves
        }
        self.tlb = _csv(tlb)
        self.replacement = None if replacement is None else _csv(replacement)
        self.refs: int = self.json["refs"]
        self.distinct: int = self.json["distinct"]
        self.first_refs: int = self.json["first_refs"]
        self.ws_histogram = np.array(ws[0], dtype=np.uint64).reshape(-1, 2)
        self.ws_beyond: int = ws[1]

    @property
    def lru_histogram(self) -> np.ndarray:
        return np.array(self.json["lru_histogram"], dtype=np.uint64).reshape(-1, 2)

    @property
    def min_histogram(self) -> np.ndarray:
        return np.array(self.json["min_histogram"], dtype=np.uint64).reshape(-1, 2)

    def __repr__(self) -> str:
        return (
            f"<mmusim.Analysis {self.json['source']}: {self.refs} references, "
            f"{self.distinct} pages, curves {sorted(self.curves)}>"
        )


def analyze(
    refs: Any = None,
    trace: Union[str, "os.PathLike[str]", None] = None,
    workload: Source = None,
    *,
    format: Optional[str] = None,
    page_size: str = "4K",
    core: int = 0,
    max_m: Optional[int] = None,
    ws_t: Union[str, Iterable[int], None] = None,
    ws_max: Optional[int] = None,
    frames: Union[str, Iterable[int], None] = None,
    policies: Union[str, Iterable[str], None] = None,
    seed: int = 1,
    curves: Union[str, Iterable[str]] = "lru,min,ws",
) -> Analysis:
    """Exact fault curves of a page reference stream, as ``mmusim analyze`` computes them.

    refs: page numbers (an array or list, pages of ``page_size``) or a reference string
    ("1 2 3 1", "(1 2 3 4 5)x40"), or the path of a trace file (a path object, or a
    string naming an existing file); or ``trace``: a trace file; or ``workload``: a
    workload file, TOML string or dict, as ``run`` takes it (core ``core``'s stream).
    frames: frame counts for FIFO, LRU, Clock, Random and OPT ("1-7" or a list);
    policies: only these.
    """
    if trace is None and (
        isinstance(refs, os.PathLike) or (isinstance(refs, str) and os.path.isfile(refs))
    ):
        # A trace file given where the reference string goes (``analyze("t.mmt.xz")``):
        # a reference string is never the name of an existing file.
        refs, trace = None, refs
    given = [x is not None for x in (refs, trace, workload)]
    if sum(given) != 1:
        raise ValueError("analyze: give one of refs, trace or workload")
    refs_bytes = refs_text = None
    if isinstance(refs, str):
        refs_text = refs
    elif refs is not None:
        a = np.asarray(refs)
        if a.ndim != 1 or a.dtype.kind not in "ui":
            raise TypeError("refs: a one-dimensional array of page numbers (integers)")
        if a.dtype.kind == "i" and a.size and a.min() < 0:
            raise ValueError("refs: page numbers are not negative")
        refs_bytes = a.astype("<u8", copy=False).tobytes()
    if not isinstance(curves, str):
        curves = ",".join(curves)
    if policies is not None and not isinstance(policies, str):
        policies = ",".join(policies)
    out = _native.analyze(
        workload=_source(workload, "workload"),
        trace=None if trace is None else os.fspath(trace),
        format=_format(format),
        refs=refs_bytes,
        refs_text=refs_text,
        page_size=page_size,
        core=_unsigned(core, "core"),
        max_m=_unsigned(max_m, "max_m"),
        ws_t=_list(ws_t, "ws_t"),
        ws_max=_unsigned(ws_max, "ws_max"),
        frames=_list(frames, "frames"),
        policies=policies,
        seed=_unsigned(seed, "seed"),
        curves=curves,
    )
    return Analysis(*out)


class Mva:
    """``mmusim mva``: ``table`` is ``mva.csv`` (a row per N: throughput, response time,
    utilisations, exact and Schweitzer), ``json`` is ``mva.json`` as a dict (the model,
    bounds, optimum, knee and balance point)."""

    def __init__(self, json_text: str, csv_text: str):
        self.json: dict = json.loads(json_text)
        self.table = _csv(csv_text)

    def __repr__(self) -> str:
        return f"<mmusim.Mva {len(self.table)} populations>"


def mva(
    config: Source,
    n_max: Optional[int] = None,
    set: Sets = None,
) -> Mva:
    """The thrashing model of a model file (e.g. configs/mva/exam-thrashing.toml), or of
    its keys as a TOML string or a dict (as ``run`` tells them), solved for N = 1..n_max
    (default: the model's)."""
    n_max = _unsigned(n_max, "n_max", bits=32)
    return Mva(*_native.mva(config=_source(config, "config"), sets=_sets(set), n_max=n_max))


# The kinds of explain's steps (src/explain/step.rs, `Kind`).
EXPLAIN_KINDS = (
    "title",
    "warm",
    "index",
    "page_split",
    "tlb",
    "prefetch_buffer",
    "direct_segment",
    "wait",
    "walk",
    "pte_read",
    "walk_end",
    "fault",
    "address",
    "cycles",
    "counters",
)


def explain(
    addr: Union[int, str],
    config: Source = None,
    set: Sets = None,
    warm: Union[Iterable[Union[int, str]], None] = None,
    core: int = 0,
) -> list[dict]:
    """The walk that one access causes, as ``mmusim explain ADDR`` prints it: a list of
    steps, each a line of the printout as a dict, built by the library (its printout is
    rendered from these same steps).

    Every step has ``section`` (the printout's heading it is under: the warm-up
    accesses, how the address splits, the access itself; empty for the title and the
    closing lines), ``step`` (its place from 0), ``kind`` (one of ``EXPLAIN_KINDS``:
    title, warm, index, page_split, tlb, prefetch_buffer, direct_segment, wait, walk,
    pte_read, walk_end, fault, address, cycles, counters) and ``text`` (the line as
    printed), and the values of its kind, for example: ``index`` a radix level's
    ``level`` (1 = PT), ``table`` (PT, PD, PDPT, PML4, PML5), ``high_bit``, ``low_bit``,
    ``index`` (a hashed design's: ``name``, ``index``, ``of``, ``how``, ``paddr``);
    ``page_split`` ``page_size``, ``vpn``, ``offset``; ``tlb`` ``structure`` ("tlb",
    "pom_tlb", "victima", "spec_tlb"), ``level``, ``names``, ``hit``, ``cycles``;
    ``walk`` ``walk`` (its number), ``start_level``, ``start_table``, ``walk_caches``;
    ``pte_read`` ``walk``, ``level``, ``table``, ``index`` (radix) or ``group``
    (hashed), ``paddr``, ``line``, ``served_by``, ``cycles``, ``next_table`` (a nested
    walk's reads: ``dimension``, ``host_level``, ``guest_level``); ``walk_end``
    ``found``, ``page_size``, ``frame``, ``pte_cycles``; ``fault`` ``fault`` ("page" or
    "ept_violation"), ``cycles``; ``address`` ``space``, ``address``, ``frame``,
    ``page_size``, ``offset``; ``cycles`` ``tlb``, ``walk_caches``, ``pte_reads``,
    ``wait``, ``fault``, ``total``; ``counters`` ``walks``, ``pte_reads``,
    ``page_faults``, ``stall``. Absent values are None. ``config``: as ``run`` takes it
    (a preset name, a file path, a TOML string or a dict)."""
    def as_text(a: Any, name: str) -> str:
        if isinstance(a, (float, np.floating)):
            raise TypeError(f"{name}: an address is an int or a string, not {type(a).__name__}")
        if isinstance(a, (int, np.integer)):
            return hex(_unsigned(a, name))
        return str(a)

    if isinstance(warm, (int, str, np.integer)):
        raise TypeError("warm: a list of addresses (ints or strings), not one address")
    addr_s = as_text(addr, "addr")
    warm_s = [as_text(w, f"warm[{i}]") for i, w in enumerate(warm or [])]
    text = _native.explain(
        addr=addr_s,
        config=_source(config, "config"),
        sets=_sets(set),
        warm=warm_s,
        core=_unsigned(core, "core"),
    )
    steps = json.loads(text)
    for i, s in enumerate(steps):
        s["step"] = i
    return steps
