"""Every notebook in examples/ runs from top to bottom without an error.

Each notebook checks its key numbers with `assert` against derivations of its own (a
brute-force simulator, a formula), so a failed assert fails here as any exception does.
The notebooks run in a fresh Jupyter kernel (nbclient, ipykernel) of this Python, with
examples/ as the working directory, as a reader opening them in Jupyter would.
Needs: nbclient, nbformat, ipykernel, matplotlib (and the package's numpy, pandas).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {ROOT / 'examples'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel draws plots inline, as in Jupyter (so drawing errors show here too).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,  # per cell
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{path.name}: a cell failed:\n{e}", pytrace=False)
    print(f"{path.name}: {time.monotonic() - start:.1f} s")
