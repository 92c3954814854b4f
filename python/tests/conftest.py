"""Shared fixtures: the repository's folders and the command line binary.

The tests compare the package with the command line: `mmusim` from $MMUSIM_BIN, else the
repository's target/release or target/debug build (CI has built target/debug with
`cargo test` before pytest runs), else one built here with `cargo build`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

# The small sweep test_commands.py and test_gaps.py run: two STLB sizes on
# workloads/belady.toml (a relative path: from the repository root).
SMALL_SWEEP = """name = "small"
system = "skylake"
baseline = 0

[[axis]]
key = "tlb.stlb.entries"
values = [768, 1536]

[[workload]]
name = "belady"
file = "workloads/belady.toml"
"""


@pytest.fixture(scope="session")
def small_sweep() -> str:
    """The small sweep's TOML (`SMALL_SWEEP`), its paths relative to the root."""
    return SMALL_SWEEP


def _binary() -> Path:
    if os.environ.get("MMUSIM_BIN"):
        return Path(os.environ["MMUSIM_BIN"])
    for profile in ("release", "debug"):
        b = ROOT / "target" / profile / "mmusim"
        if b.is_file():
            return b
    subprocess.run(["cargo", "build", "--bin", "mmusim"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "mmusim"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    return _binary()


class Cli:
    """Runs the command line in the repository's root folder."""

    def __init__(self, binary: Path, tmp: Path):
        self.binary = binary
        self.tmp = tmp
        self.count = 0

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary), *args], cwd=ROOT, capture_output=True, text=True, check=check
        )

    def run(self, *args: str) -> dict:
        """`mmusim run ARGS --out DIR`: result.json as a dict, the folder beside it."""
        self.count += 1
        out = self.tmp / f"run{self.count}"
        p = self(*["run", "-q", *args, "--out", str(out)], check=False)
        assert p.returncode == 0, p.stderr
        return {
            "json": json.loads((out / "result.json").read_text()),
            "json_text": (out / "result.json").read_text(),
            "csv": pd.read_csv(out / "result.csv", dtype={"config_hash": str}),
            "dir": out,
        }


@pytest.fixture
def cli(cli_bin: Path, tmp_path: Path) -> Cli:
    return Cli(cli_bin, tmp_path)
