"""mmusim from Python: the simulator of a processor's memory-management unit.

Each function calls the library code that the ``mmusim`` command line calls and returns
what the command line writes, as Python objects: ``run`` gives the ``result.json`` of
``mmusim run`` as a dict (``Result.stats``), its ``result.csv`` as a DataFrame
(``Result.summary()``) and its ``timeline.csv`` as a DataFrame (``Result.timeline``).

Configs and workloads are given as the command line takes them (a preset name such as
``"skylake"`` or a file path), or as a TOML string, or as a dict of the same keys.
Overrides (``set=``) are a dict ``{"tlb.stlb.entries": 2048}`` or ``--set`` strings
``["tlb.stlb.entries=2048"]``. Bad input raises :class:`MmusimError` (a ``ValueError``)
whose message names the file, line and key, as the command line's errors do.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _native
from ._native import MmusimError

__all__ = [
    "EXPLAIN_KINDS",
    "MmusimError",
    "Result",
    "TRACE_FORMATS",
    "analyze",
    "compare",
    "explain",
    "mva",
    "presets",
    "read_trace",
    "run",
    "sweep",
]

__version__ = _native.__version__

Source = Union[str, "os.PathLike[str]", Mapping[str, Any], None]
Sets = Union[Mapping[str, Any], Iterable[str], str, None]

# Columns of result.csv (and of other CSVs) that are text even when they look like
# numbers: a config hash of sixteen decimal digits stays a string.
_TEXT_COLUMNS = {
    "config": str,
    "config_file": str,
    "design": str,
    "workload": str,
    "config_hash": str,
    "system": str,
    "label": str,
    "id": str,
}


def _csv(text: str) -> pd.DataFrame:
    """A CSV the library wrote, as a DataFrame (text columns kept as text).

    read_csv leaves a block per column (compare.csv has some 200): copied into one block
    per dtype, so that adding a column does not make pandas warn of a fragmented frame."""
    header = text.split("\n", 1)[0].split(",")
    dtype = {c: t for c, t in _TEXT_COLUMNS.items() if c in header}
    return pd.read_csv(io.StringIO(text), dtype=dtype).copy()


# A TOML line's start: a (dotted, quoted or bare) key and `=`.
_TOML_KEY = re.compile(r'\s*(?:"[^"]*"|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|[A-Za-z0-9_-]+))*\s*=')


def _is_toml(value: str) -> bool:
    """Whether a string given for a config, workload or spec is TOML text rather than a
    path or preset name (run, compare and sweep decide alike): text with a newline, or
    one line starting `key =`, and not an existing file (a file whose name holds `=` is
    still read as a file). compare's `skylake+key=value` is a name (`+` is in no key)."""
    if "\n" in value:
        return True
    return _TOML_KEY.match(value) is not None and not os.path.exists(value)


def _unsigned(value: Any, name: str, bits: int = 64) -> Optional[int]:
    """An integer argument that the library takes unsigned (a count, index, seed or
    address), or None: a negative or too large one is a ValueError naming ``name``, not
    the bare OverflowError of the conversion."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: an integer, not {type(value).__name__}")
    v = int(value)
    if v < 0:
        raise ValueError(f"{name}: {v} is negative (0 or more)")
    if v >> bits:
        raise ValueError(f"{name}: {v} is too large (below 2**{bits})")
    return v


def _finite(value: Any, where: str) -> None:
    """Refuses NaN and infinities in a dict (TOML has them, the simulator's keys do not
    take them), naming the key path."""
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a finite number")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
        i = int(np.flatnonzero(~np.isfinite(value.ravel()))[0])
        raise ValueError(f"{where}[{i}]: {value.ravel()[i]} is not a finite number")


def _dict_json(value: Mapping[str, Any], what: str) -> str:
    """A dict config, workload or spec as JSON for the native layer; NaN and infinities
    refused naming `what` and the key path."""
    for k, v in value.items():
        _finite(v, f"{what}: {k}")
    return json.dumps(value, default=_json_default, allow_nan=False)


def _source(value: Source, what: str) -> Optional[tuple[str, str]]:
    """A config or workload for the native layer: ("path" | "toml" | "json", text)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return ("json", _dict_json(value, what))
    if isinstance(value, os.PathLike):
        return ("path", os.fspath(value))
    if isinstance(value, str):
        return ("toml", value) if _is_toml(value) else ("path", value)
    raise TypeError(
        f"{what}: a preset name, a file path, a TOML string or a dict, not {type(value).__name__}"
    )


def _json_default(v: Any) -> Any:
    """numpy scalars and arrays inside a dict config."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} has no TOML form")


def _toml_value(v: Any) -> str:
    """A Python value written as the right-hand side of a TOML `key = value`."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"set: {type(v).__name__} has no TOML form")


def _sets(sets: Sets) -> list[str]:
    """Overrides as the command line's `--set KEY=VALUE` strings."""
    if sets is None:
        return []
    if isinstance(sets, str):
        return [sets]
    if isinstance(sets, Mapping):
        return [f"{k}={_toml_value(v)}" for k, v in sets.items()]
    return [str(s) for s in sets]


class _Bar:
    """``progress=True``: a tqdm bar where tqdm is installed (in a notebook, its widget),
    else a counter on stderr. Called with (done, total) at most every 100 ms."""

    def __init__(self, unit: str):
        self.unit = unit
        self.bar = None
        self.shown = False
        try:
            from tqdm.auto import tqdm  # optional: not a dependency
        except ImportError:
            tqdm = None
        self.tqdm = tqdm

    def __call__(self, done: int, total: int) -> None:
        if self.tqdm is not None:
            if self.bar is None:
                # Accesses in millions read better scaled (k, M); runs are few, whole.
                scale = self.unit != "runs"
                self.bar = self.tqdm(total=total or None, unit=f" {self.unit}", unit_scale=scale)
            self.bar.update(done - self.bar.n)
            return
        of = f" of {total:,}" if total else ""
        sys.stderr.write(f"\r{done:,}{of} {self.unit}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.shown:
            sys.stderr.write("\n")


def _progress(progress: Union[bool, Callable[[int, int], Any], None], unit: str):
    """A callback `f(done, total)` for the native layer (with a `close()`), or None."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    return _Bar(unit)


def _call(native: Callable[..., Any], progress: Any, unit: str, **kwargs: Any) -> Any:
    """`native(**kwargs, progress=...)`, the bar closed however it ends."""
    p = _progress(progress, unit)
    try:
        return native(**kwargs, progress=p)
    finally:
        if isinstance(p, _Bar):
            p.close()


_KIND_CODES = {"load": 0, "store": 1, "fetch": 2, "r": 0, "w": 1, "f": 2}
KINDS = ("load", "store", "fetch")


def _kinds(kinds: Any, n: int) -> bytes:
    """Access kinds as one byte each (0 load, 1 store, 2 fetch): names ("load",
    "store", "fetch", or the text trace's "R", "W", "F") or those codes."""
    if isinstance(getattr(kinds, "dtype", None), pd.CategoricalDtype):
        # A categorical (read_trace's kind column): each category's code looked up once.
        cat = kinds.cat if isinstance(kinds, pd.Series) else kinds
        codes = np.asarray(cat.codes)
        if len(codes) != n:
            raise ValueError(f"kinds: {len(codes)} kinds for {n} addresses (one each)")
        lut = np.array([_KIND_CODES.get(str(c).lower(), 255) for c in cat.categories] + [255], "u1")
        out = lut[codes]  # code -1 (a missing value) takes the last entry, 255
        if out.size and out.max() == 255:
            bad = int(np.flatnonzero(out == 255)[0])
            raise ValueError(f"kinds[{bad}]: {np.asarray(kinds)[bad]!r} is not a kind (load, store or fetch)")
        return out.tobytes()
    k = np.asarray(kinds)
    if k.ndim != 1:
        raise ValueError(f"kinds: a one-dimensional array, not {k.ndim}-dimensional")
    if len(k) != n:
        raise ValueError(f"kinds: {len(k)} kinds for {n} addresses (one each)")
    if k.dtype.kind in "ui":
        if k.size and (k.min() < 0 or k.max() > 2):
            bad = int(np.flatnonzero((k < 0) | (k > 2))[0])
            raise ValueError(f"kinds[{bad}]: {k[bad]} is not a kind (0 load, 1 store, 2 fetch)")
        return k.astype("u1").tobytes()
    if k.dtype.kind in "OUS":
        codes = bytearray(n)
        for i, x in enumerate(k.tolist()):
            c = _KIND_CODES.get(str(x).lower())
            if c is None:
                raise ValueError(f"kinds[{i}]: {x!r} is not a kind (load, store or fetch)")
            codes[i] = c
        return bytes(codes)
    raise TypeError(f"kinds: names (load, store, fetch) or codes (0, 1, 2), not {k.dtype}")


def _instrs(instrs: Any, n: int) -> bytes:
    """Instruction counts as little-endian u32 bytes, one per address."""
    a = np.asarray(instrs)
    if a.ndim != 1 or a.dtype.kind not in "ui":
        raise TypeError("instrs: a one-dimensional array of integers")
    if len(a) != n:
        raise ValueError(f"instrs: {len(a)} counts for {n} addresses (one each)")
    if a.size and (a.min() < 0 or a.max() > 0xFFFFFFFF):
        raise ValueError("instrs: counts are 0 to 2**32 - 1")
    return a.astype("<u4").tobytes()


#: The trace formats ``format=`` takes (``binary`` is mmusim's ``.mmt``).
TRACE_FORMATS = ("auto", "lackey", "champsim", "text", "refs", "binary")


def _format(format: Optional[str]) -> Optional[str]:
    """``format`` checked here, so that its error names the parameter, not an override."""
    if format is None or format in TRACE_FORMATS:
        return format
    hint = " (mmusim's .mmt is \"binary\")" if str(format).lower() == "mmt" else ""
    raise MmusimError(f"format: {format!r} is not a trace format: one of {', '.join(TRACE_FORMATS)}{hint}")


def read_trace(
    path: Union[str, "os.PathLike[str]"],
    limit: Optional[int] = None,
    format: Optional[str] = None,
    fetches: bool = True,
    page_size: str = "4K",
) -> pd.DataFrame:
    """A trace file's accesses as ``mmusim run --trace`` reads them, through the same
    reader: every format (``.mmt``, lackey, ChampSim, text, ``.refs``) and compression
    (gzip, xz, zstd) the command line reads, wide accesses split at pages of
    ``page_size`` as the run splits them.

    Returns a DataFrame of one row per access: ``address`` (uint64 virtual address),
    ``kind`` (a categorical of load, store and fetch; ``.cat.codes`` gives 0, 1, 2) and
    ``instrs`` (uint32: instructions retired since the previous access, its own
    included). ``limit``: the first this many accesses only. ``format`` names the format
    when the file's name does not; ``fetches=False`` counts instruction fetches into the
    next data access instead of listing them. ``df["address"].to_numpy()`` is the array.
    """
    a, k, i = _native.read_trace(
        path=os.fspath(path),
        limit=_unsigned(limit, "limit"), format=_format(format), fetches=fetches, page_size=page_size
    )
    return pd.DataFrame(
        {
            "address": np.frombuffer(a, dtype="<u8").astype(np.uint64),
            "kind": pd.Categorical.from_codes(np.frombuffer(k, dtype="u1"), categories=KINDS),
            "instrs": np.frombuffer(i, dtype="<u4").astype(np.uint32),
        }
    )


def _addresses(addresses: Any) -> bytes:
    """Virtual addresses as little-endian u64 bytes."""
    a = np.asarray(addresses)
    if a.size == 0:
        raise ValueError("addresses: empty: give at least one address to run")
    if a.ndim != 1:
        raise ValueError(f"addresses: a one-dimensional array, not {a.ndim}-dimensional")
    if a.dtype.kind not in "ui":
        raise TypeError(f"addresses: an array of integers, not {a.dtype}")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise ValueError("addresses: negative values are not addresses")
    return a.astype("<u8", copy=False).tobytes()


class Result:
    """One run's results, as ``mmusim run`` writes them.

    ``stats`` is ``result.json`` as a dict, ``json`` its text; ``summary()`` is
    ``result.csv`` (one row) as a DataFrame; ``timeline`` is ``timeline.csv`` (one row
    per core and window: TLB hit rates, walks, faults, resident memory) as a DataFrame
    when the run was given ``timeline=W``, else None.

    The timeline, like ``stats``, covers the measured accesses only: the warm-up
    (``sim.warmup_accesses``; by default "auto", half of the shortest core's accesses)
    runs first and is in no window. For a timeline of every access, run with no
    warm-up: ``run(..., set={"sim.warmup_accesses": 0}, timeline=W)``.
    """

    def __init__(self, json_text: str, csv_text: str, timeline_csv: Optional[str]):
        self.json = json_text
        self.csv = csv_text
        self.stats: dict = json.loads(json_text)
        self.timeline: Optional[pd.DataFrame] = (
            None if timeline_csv is None else _csv(timeline_csv)
        )

    def summary(self) -> pd.DataFrame:
        """``result.csv``: one row of the run's key numbers."""
        return _csv(self.csv)

    @property
    def partial(self) -> bool:
        return bool(self.stats.get("partial", False))

    def __repr__(self) -> str:
        total = self.stats.get("stats", {}).get("total", {})
        return (
            f"<mmusim.Result {self.stats['config'].get('name', '?')} x "
            f"{self.stats['workload'].get('name', '?')}: {total.get('accesses', '?')} accesses, "
            f"{total.get('cycles', '?')} cycles>"
        )


def run(
    config: Source = "skylake",
    workload: Source = None,
    trace: Union[str, "os.PathLike[str]", None] = None,
    set: Sets = None,
    addresses: Any = None,
    timeline: Optional[int] = None,
    progress: Union[bool, Callable[[int, int], Any]] = False,
    format: Optional[str] = None,
    kinds: Any = None,
    instrs: Any = None,
) -> Result:
    """Simulate a workload on a system, as ``mmusim run`` does.

    config: a preset name, a config file, a TOML string or a dict (default skylake).
    workload: a workload file, a TOML string or a dict (default: workloads/default.toml's
    built-in copy); or ``trace``: a trace file (``format`` names its format when its
    name does not); or ``addresses``: an array of virtual addresses, one instruction
    each, run as loads, or as the access ``kinds`` given (an array as long: "load",
    "store", "fetch" or "R", "W", "F", or the codes 0, 1, 2) and the instruction counts
    ``instrs`` given (an array as long: instructions retired since the previous access,
    its own included; a data access of a fetched instruction carries 0); the same
    result as a trace file of those accesses. ``read_trace``'s columns fit:
    ``run(addresses=t.address, kinds=t.kind, instrs=t.instrs)`` runs trace ``t``.
    set: overrides, ``{"tlb.stlb.entries": 2048, "workload.accesses": 10000}``.
    timeline: record TLB hit rates per window of this many accesses per core.
    progress: True for a bar (tqdm's where installed, else a counter on stderr), or a
    callable ``f(done, total)``; either is called at most every 100 ms.
    """
    if addresses is not None and (workload is not None or trace is not None):
        raise MmusimError("give addresses, a workload or a trace: one stream to run")
    if (kinds is not None or instrs is not None) and addresses is None:
        raise MmusimError("kinds, instrs: of the accesses of `addresses`, and none are given")
    addr_bytes = None if addresses is None else _addresses(addresses)
    kind_bytes = None if kinds is None else _kinds(kinds, len(addr_bytes) // 8)
    instr_bytes = None if instrs is None else _instrs(instrs, len(addr_bytes) // 8)
    json_text, csv_text, timeline_csv = _call(
        _native.run,
        progress,
        "accesses",
        config=_source(config, "config"),
        workload=_source(workload, "workload"),
        trace=None if trace is None else os.fspath(trace),
        format=_format(format),
        sets=_sets(set),
        addresses=addr_bytes,
        kinds=kind_bytes,
        instrs=instr_bytes,
        timeline=_unsigned(timeline, "timeline"),
    )
    return Result(json_text, csv_text, timeline_csv)


def presets() -> pd.DataFrame:
    """The built-in system presets: name and what each models."""
    return pd.DataFrame(_native.presets(), columns=["name", "description"])


from ._more import EXPLAIN_KINDS, analyze, compare, explain, mva, sweep  # noqa: E402
