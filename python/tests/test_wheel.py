"""python/ci/check_wheel.py, which CI runs on the wheel it builds and installs: a good
wheel passes, each kind of wrong one is named."""

from __future__ import annotations

import importlib.util
import struct
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "python/ci/check_wheel.py")
check_wheel = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_wheel)


def elf(machine: int = 62, e_type: int = 3) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", e_type, machine) + bytes(40)


def wheel(tmp: Path, name: str, so: str = "mmusim/_native.abi3.so", body: bytes = None, tag: str = None) -> Path:
    path = tmp / name
    tag = tag or "-".join(name[: -len(".whl")].split("-")[2:])
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mmusim/__init__.py", "")
        z.writestr("mmusim/_more.py", "")
        z.writestr(so, elf() if body is None else body)
        z.writestr("mmusim-0.1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nTag: {tag}\n")
    return path


GOOD = "mmusim-0.1.0-cp310-abi3-linux_x86_64.whl"


def test_a_good_wheel_passes(tmp_path, capsys):
    w = wheel(tmp_path, GOOD)
    assert check_wheel.problems(w) == []
    assert check_wheel.main(["check_wheel.py", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(w)


@pytest.mark.parametrize(
    "name,kw,says",
    [
        ("mmusim-0.1.0-cp311-cp311-linux_x86_64.whl", {}, "not cp310-abi3"),
        ("mmusim-0.1.0-cp310-abi3-linux_aarch64.whl", {}, "not Linux x86_64"),
        ("mmusim-0.1.0-cp310-abi3-macosx_11_0_x86_64.whl", {}, "not Linux x86_64"),
        (GOOD, {"body": elf(machine=183)}, "not an x86-64 shared object"),
        (GOOD, {"body": b"MZ"}, "not a 64-bit ELF"),
        (GOOD, {"so": "mmusim/_native.cpython-311-x86_64-linux-gnu.so"}, "not mmusim/_native.abi3.so"),
        (GOOD, {"tag": "py3-none-any"}, "not the file name's"),
    ],
)
def test_a_wrong_wheel_is_named(tmp_path, name, kw, says):
    w = wheel(tmp_path, name, **kw)
    found = check_wheel.problems(w)
    assert any(says in p for p in found), found
    assert check_wheel.main(["check_wheel.py", str(tmp_path)]) == 1


def test_no_wheel_or_two(tmp_path):
    assert check_wheel.main(["check_wheel.py", str(tmp_path)]) == 1
    wheel(tmp_path, GOOD)
    wheel(tmp_path, "mmusim-0.2.0-cp310-abi3-linux_x86_64.whl")
    assert check_wheel.main(["check_wheel.py", str(tmp_path)]) == 1


def test_test_extra_holds_what_the_tests_import():
    """README's and CI's `pip install './python[test]'` brings every test's imports."""
    try:
        import tomllib
    except ModuleNotFoundError:  # CPython 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "python/pyproject.toml").read_text())["project"]
    extra = {r.split(";")[0].strip() for r in project["optional-dependencies"]["test"]}
    assert {"pytest", "matplotlib", "nbclient", "ipykernel", "tomli"} <= extra
    assert project["requires-python"] == ">=3.10"
    assert "pip install './python[test]'" in (ROOT / "README.md").read_text()
    assert '"$WHEEL[test]"' in (ROOT / ".ci/run").read_text()


def test_manylinux_is_asserted_when_asked(tmp_path, capsys):
    # CI builds a manylinux wheel (README "Python") and asks the check to assert its tag.
    plain = wheel(tmp_path, GOOD)
    assert check_wheel.problems(plain) == []
    assert any("not a manylinux tag" in p for p in check_wheel.problems(plain, manylinux=True))
    assert check_wheel.main(["check_wheel.py", str(tmp_path), "--manylinux"]) == 1
    plain.unlink()
    for tag in ("manylinux_2_34_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"):
        w = wheel(tmp_path, f"mmusim-0.1.0-cp310-abi3-{tag}.whl")
        assert check_wheel.problems(w, manylinux=True) == [], tag
        w.unlink()
    for bad in ("manylinux_2_34_aarch64", "musllinux_1_2_x86_64"):
        w = wheel(tmp_path, f"mmusim-0.1.0-cp310-abi3-{bad}.whl")
        assert check_wheel.problems(w, manylinux=True), bad
        w.unlink()
    w = wheel(tmp_path, "mmusim-0.1.0-cp310-abi3-manylinux_2_34_x86_64.whl")
    assert check_wheel.main(["check_wheel.py", str(tmp_path), "--manylinux"]) == 0
    assert capsys.readouterr().out.strip() == str(w)
