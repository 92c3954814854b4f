"""Bad input raises MmusimError naming the file, line and key, as the command line does."""

from __future__ import annotations

import pytest

import mmusim


def cli_error(cli, *args):
    p = cli(*args, check=False)
    assert p.returncode != 0
    return [l.removeprefix("error: ") for l in p.stderr.splitlines() if l.startswith("error: ")]


def test_is_a_value_error():
    assert issubclass(mmusim.MmusimError, ValueError)


def test_unknown_key_in_a_file_same_as_cli(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "skylake"\n[sim]\ncorez = 2\n')
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(config=str(bad))
    lines = str(e.value).splitlines()
    assert lines == cli_error(cli, "run", "--config", str(bad))
    assert f"{bad}:3" in lines[0] and "corez" in lines[0]
    (err,) = e.value.errors
    assert err["file"] == str(bad) and err["line"] == 3 and "corez" in err["key"]


def test_unknown_key_in_a_toml_string_names_its_line():
    text = 'extends = "skylake"\n\n[sim]\ncorez = 10\n'
    with pytest.raises(mmusim.MmusimError, match=r"<config TOML>:4: sim\.corez"):
        mmusim.run(config=text)


def test_bad_value_in_a_dict_names_the_key():
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(workload={"name": "w", "accesses": -5, "generator": {"kind": "uniform"}})
    assert "<workload dict>" in str(e.value) and "accesses" in str(e.value)


def test_none_in_a_dict_names_the_key():
    with pytest.raises(mmusim.MmusimError, match=r"generator\.footprint"):
        mmusim.run(workload={"name": "w", "generator": {"kind": "uniform", "footprint": None}})


def test_malformed_toml_names_the_line(cli, tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "w"\n[generator\nkind = "uniform"\n')
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(workload=str(bad))
    assert str(e.value).splitlines() == cli_error(cli, "run", "--workload", str(bad))
    assert f"{bad}:2" in str(e.value)


def test_missing_file_is_named(cli, tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(workload=str(missing))
    assert str(e.value).splitlines() == cli_error(cli, "run", "--workload", str(missing))
    assert str(missing) in str(e.value)


def test_missing_trace_is_named(tmp_path):
    with pytest.raises(mmusim.MmusimError, match="nope.mmt"):
        mmusim.run(trace=tmp_path / "nope.mmt")


def test_unknown_key_in_set_names_the_override(cli):
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(set={"tlb.stlb.entriez": 4})
    assert str(e.value).splitlines() == cli_error(cli, "run", "--set", "tlb.stlb.entriez=4")
    assert "entriez" in str(e.value)


def test_unknown_preset_suggests_one():
    with pytest.raises(mmusim.MmusimError, match="skylake"):
        mmusim.run(config="skylak")


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError):
        mmusim.run(config=42)
    with pytest.raises(mmusim.MmusimError):
        mmusim.run(addresses=[1, 2], workload="workloads/default.toml")


def test_errors_is_always_a_list():
    # An error without a file position still has .errors: an empty list.
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(timeline=0)
    assert e.value.errors == []
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.analyze("1 2 3", frames="0-x")
    assert e.value.errors == []


def test_compare_config_errors_are_structured(root, monkeypatch, tmp_path):
    monkeypatch.chdir(root)
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "skylake"\n[sim]\ncorez = 2\n')
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.compare([str(bad), "zen4"], ["workloads/belady.toml"])
    (err,) = e.value.errors
    assert err["file"] == str(bad) and err["line"] == 3 and "corez" in err["key"]
    assert err["of"] == f"system `{bad}`"
    assert str(e.value) == f"{err['of']}: {bad}:3: {err['key']}: {err['message']}"


def test_dict_errors_have_no_line():
    # The line numbers of a dict's errors are those of the TOML made of it: left out.
    w = {"name": "w", "generator": {"kind": "uniform", "footprintt": "1M"}}
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(workload=w)
    (err,) = e.value.errors
    assert err["file"] == "<workload dict>" and err["line"] is None
    assert str(e.value).startswith("<workload dict>: generator.footprintt")
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.compare("skylake", [w])
    (err,) = e.value.errors
    assert err["file"] == "<workload 1>" and err["line"] is None
    assert "<workload 1>: generator.footprintt" in str(e.value)


def _line_of(text, start):
    """The 1-based line of `text` that starts with `start`, counted here."""
    return next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith(start))


def test_sweep_spec_errors_are_structured(cli, root, tmp_path):
    # The spec's own key, an axis key no config has (blamed on the axis's line, not on
    # the `--set` made of it), a key twice: each with the spec's file, line and key.
    spec = tmp_path / "bad.toml"
    text = f"""name = "bad"
system = "skylake"

[[axis]]
key = "tlb.stlb.entriez"
values = [1]

[[workload]]
name = "belady"
file = "{root / 'workloads/belady.toml'}"
"""
    spec.write_text(text)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.sweep(spec, out=tmp_path / "o")
    assert str(e.value).splitlines() == cli_error(cli, "sweep", "plan", str(spec))
    (err,) = e.value.errors
    assert err["file"] == str(spec) and err["line"] == _line_of(text, 'key = "tlb.stlb.entriez"')
    assert err["key"] == "tlb.stlb.entriez" and err["message"] in str(e.value)

    text2 = text.replace("values = [1]", "valus = [1]")
    spec.write_text(text2)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.sweep(spec, out=tmp_path / "o")
    assert str(e.value).splitlines() == cli_error(cli, "sweep", "plan", str(spec))
    (err,) = e.value.errors
    assert err["file"] == str(spec) and err["line"] == _line_of(text2, "valus")
    assert err["key"] == "axis[0].valus"

    text3 = text.replace("entriez", "entries").replace("[1]", "[768]")
    text3 += '\n[[axis]]\nkey = "tlb.stlb.entries"\nvalues = [1536]\n'
    spec.write_text(text3)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.sweep(spec, out=tmp_path / "o")
    assert str(e.value).splitlines() == cli_error(cli, "sweep", "plan", str(spec))
    (err,) = e.value.errors
    second = [i for i, l in enumerate(text3.splitlines(), 1) if l.startswith("key =")][1]
    assert err["file"] == str(spec) and err["line"] == second and err["key"] == "axis[1].key"

    # A dict's errors: the key, no line.
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.sweep({"name": "d", "system": "skylake", "workload": [], "axiz": 1}, out=tmp_path / "d")
    (err,) = e.value.errors
    assert err["file"] == "<sweep dict>" and err["line"] is None and err["key"] == "axiz"


def test_explain_address_errors_name_the_parameter(cli):
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.explain("0xzz", warm=[0x1000, "nope"], core=7)
    errs = e.value.errors
    assert [(x["file"], x["line"], x["key"]) for x in errs] == [
        (None, None, "addr"),
        (None, None, "warm[1]"),
        (None, None, "core"),
    ]
    # The command line's lines, each with the CLI's flag where Python names its parameter.
    want = cli_error(cli, "explain", "0xzz", "--warm", "0x1000", "--warm", "nope", "--core", "7")
    flags = {"addr": "ADDR", "warm[1]": "--warm", "core": "--core"}
    assert want == [f"{flags[x['key']]} {x['message']}" for x in errs]
    assert str(e.value).splitlines() == [f"{x['key']} {x['message']}" for x in errs]
    # Beyond the virtual address space (48 bits on skylake).
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.explain(1 << 48, config="skylake")
    (err,) = e.value.errors
    assert err["key"] == "addr" and err["message"].startswith(hex(1 << 48))


def test_mva_file_errors_are_structured(cli, root, tmp_path):
    text = (root / "configs/mva/exam-thrashing.toml").read_text()
    text = text.replace("[disk]", "[disk]\nservice_tyme = 1.0")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.mva(str(bad))
    assert str(e.value).splitlines() == cli_error(cli, "mva", "--config", str(bad))
    (err,) = e.value.errors
    assert err["file"] == str(bad) and err["line"] == _line_of(text, "service_tyme")
    assert err["key"] == "disk.service_tyme"


def test_negative_and_too_large_integers_name_the_parameter(root, tmp_path):
    # A ValueError naming the Python parameter, not the bare OverflowError of the
    # conversion to an unsigned integer.
    model = root / "configs/mva/exam-thrashing.toml"
    calls = {
        "timeline": lambda: mmusim.run(timeline=-1),
        "limit": lambda: mmusim.read_trace(root / "workloads/traces/ls.mmt.xz", limit=-1),
        "threads": lambda: mmusim.compare(["skylake"], threads=-1),
        "core": lambda: mmusim.analyze("1 2 3", core=-1),
        "max_m": lambda: mmusim.analyze("1 2 3", max_m=-1),
        "ws_max": lambda: mmusim.analyze("1 2 3", ws_max=-1),
        "seed": lambda: mmusim.analyze("1 2 3", seed=-1),
        "frames[1]": lambda: mmusim.analyze("1 2 3", frames=[1, -2]),
        "ws_t[0]": lambda: mmusim.analyze("1 2 3", ws_t=[-1]),
        "n_max": lambda: mmusim.mva(model, n_max=-3),
        "addr": lambda: mmusim.explain(-1),
        "warm[1]": lambda: mmusim.explain(0x1000, warm=[0x2000, -5]),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as e:
            call()
        assert not isinstance(e.value, OverflowError), name
        assert str(e.value).startswith(f"{name}: -"), (name, str(e.value))
    with pytest.raises(ValueError, match=r"^n_max: 1099511627776 is too large"):
        mmusim.mva(model, n_max=2**40)
    with pytest.raises(ValueError, match=r"^addr: .* is too large"):
        mmusim.explain(2**64)
    with pytest.raises(ValueError, match="^threads: -1"):
        mmusim.sweep("name = 'x'", out=tmp_path / "s", threads=-1)


def test_messages_name_the_python_parameters(root):
    # analyze's and mva's limits are the library's; the names in the message are Python's.
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.analyze("1 2 3", ws_max=2**40)
    assert str(e.value).startswith("ws_max: ") and "--" not in str(e.value)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.analyze("1 2 3", frames="0-x")
    assert str(e.value).startswith("frames: ") and "--" not in str(e.value)
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.mva(root / "configs/mva/exam-thrashing.toml", n_max=0)
    assert str(e.value).startswith("n_max: 0: must be 1..=") and e.value.errors[0]["file"] == "n_max"


def test_the_readme_error_example_is_what_the_code_prints(root):
    with pytest.raises(mmusim.MmusimError) as e:
        mmusim.run(config='extends = "skylake"\n\n[sim]\ncorez = 2\n')
    readme = " ".join((root / "README.md").read_text().split())
    assert """mmusim.run(config='extends = "skylake"\\n\\n[sim]\\ncorez = 2\\n')""" in readme
    assert " ".join(str(e.value).split()) in readme


def test_explain_argument_types_are_named():
    with pytest.raises(TypeError, match="warm: a list of addresses"):
        mmusim.explain(0x1000, warm=0x2000)
    with pytest.raises(TypeError, match="addr: an address is an int or a string, not float"):
        mmusim.explain(4096.0)
    with pytest.raises(TypeError, match=r"warm\[1\]: an address"):
        mmusim.explain(0x1000, warm=[0x2000, 1.5])


def test_an_unknown_trace_format_names_the_parameter(cli, root):
    trace = str(root / "workloads/traces/gzip.mmt.xz")
    for call in (
        lambda: mmusim.run(trace=trace, format="mmt"),
        lambda: mmusim.read_trace(trace, format="mmt"),
        lambda: mmusim.analyze(trace=trace, format="mmt"),
    ):
        with pytest.raises(mmusim.MmusimError, match=r"^format: .mmt. is not a trace format: .*\"binary\""):
            call()
    # The names are the command line's, as its own error lists them.
    p = cli("trace", "stats", trace, "--format", "bogus", check=False)
    listed = p.stderr[p.stderr.index("[possible values: ") + 18 :].split("]")[0].split(", ")
    assert tuple(listed) == mmusim.TRACE_FORMATS
