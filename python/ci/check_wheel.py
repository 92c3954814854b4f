"""Checks a built wheel of the package: one CPython 3.10+ stable-ABI wheel for Linux
x86_64 (``cp310-abi3-linux_x86_64``, or a manylinux tag of x86_64) holding the Python
layer and the native module, the latter a 64-bit x86-64 ELF shared object.

Usage: ``python python/ci/check_wheel.py DIR [--manylinux]``: DIR holds exactly one
``mmusim-*.whl``; prints its path on success (for the caller to install), exits 1 naming
the problem. ``--manylinux``: the platform must be a manylinux tag (PEP 600
``manylinux_X_Y_x86_64``, or a legacy ``manylinux1``/``2010``/``2014``), as CI builds it
(maturin's own auditwheel check has then passed: no glibc symbol newer than the tag's).
"""

from __future__ import annotations

import re
import struct
import sys
import zipfile
from pathlib import Path

ELF_X86_64 = 62  # e_machine of x86-64
ELF_SHARED = 3  # e_type of a shared object


MANYLINUX = re.compile(r"manylinux(_\d+_\d+|1|2010|2014)_x86_64")


def problems(wheel: Path, manylinux: bool = False) -> list[str]:
    out = []
    parts = wheel.name[: -len(".whl")].split("-")
    if len(parts) != 5:
        return [f"{wheel.name}: not NAME-VERSION-PYTHON-ABI-PLATFORM.whl"]
    _name, version, py, abi, platform = parts
    if (py, abi) != ("cp310", "abi3"):
        out.append(
            f"{wheel.name}: tags {py}-{abi}, not cp310-abi3 (one wheel for CPython 3.10+)"
        )
    plats = platform.split(".")
    x86_64 = [p == "linux_x86_64" or (p.startswith("manylinux") and p.endswith("_x86_64")) for p in plats]
    if not all(x86_64):
        out.append(f"{wheel.name}: platform {platform}, not Linux x86_64")
    elif manylinux and not all(MANYLINUX.fullmatch(p) for p in plats):
        out.append(f"{wheel.name}: platform {platform}, not a manylinux tag")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        for need in ("mmusim/__init__.py", "mmusim/_more.py"):
            if need not in names:
                out.append(f"{wheel.name}: {need} is missing")
        native = [n for n in names if n.startswith("mmusim/_native") and n.endswith(".so")]
        if native != ["mmusim/_native.abi3.so"]:
            out.append(f"{wheel.name}: native module(s) {native}, not mmusim/_native.abi3.so")
        else:
            head = z.read(native[0])[:20]
            if head[:4] != b"\x7fELF" or head[4] != 2:
                out.append(f"{native[0]}: not a 64-bit ELF file")
            else:
                e_type, e_machine = struct.unpack("<HH", head[16:20])
                if (e_type, e_machine) != (ELF_SHARED, ELF_X86_64):
                    out.append(
                        f"{native[0]}: ELF type {e_type}, machine {e_machine}, "
                        "not an x86-64 shared object"
                    )
        info = [n for n in names if n.endswith(".dist-info/WHEEL")]
        if len(info) != 1:
            out.append(f"{wheel.name}: {len(info)} .dist-info/WHEEL files, not one")
        else:
            lines = z.read(info[0]).decode().splitlines()
            tags = [l.split(":", 1)[1].strip() for l in lines if l.startswith("Tag:")]
            want = {f"{py}-{abi}-{p}" for p in plats}
            if set(tags) != want:
                out.append(f"{info[0]}: Tag {tags}, not the file name's {sorted(want)}")
        if not version:
            out.append(f"{wheel.name}: no version")
    return out


def main(argv: list[str]) -> int:
    manylinux = "--manylinux" in argv[2:]
    if len(argv) not in (2, 3) or len(argv) == 3 and not manylinux:
        print(__doc__, file=sys.stderr)
        return 2
    wheels = sorted(Path(argv[1]).glob("mmusim-*.whl"))
    if len(wheels) != 1:
        print(f"{argv[1]}: {len(wheels)} mmusim wheels, not one", file=sys.stderr)
        return 1
    found = problems(wheels[0], manylinux)
    for p in found:
        print(p, file=sys.stderr)
    if found:
        return 1
    print(wheels[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
