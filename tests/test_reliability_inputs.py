"""Hostile and broken inputs: each is one InputError (exit 2, one `error:` line), never a traceback,
a hang or a memory blow-up. The cases are the attack set of a new-user / attacker pass over the
tool: binary and UTF-16 configs, nesting 5000 deep, duplicate keys in two spellings, 401-digit
numbers, FIFOs in a recording, cpuinfo claiming 10^20 CPUs (made from the recorded EPYC 9654
cpuinfo fixture), 200 KB device names, models larger than memory, bad write targets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwbench.errors import HwbenchError, InputError

FIX = Path(__file__).parent / "fixtures"
GENOA = (FIX / "cpu" / "cpuinfo" / "epyc-9654-genoa.txt").read_text()


def hwbench(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", *args], capture_output=True, text=True, timeout=timeout, **kw
    )  # type: ignore[call-overload]


def one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-1500:]
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


# --------------------------------------------------------------------------------- check --config


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (bytes(range(256)) * 4, "not UTF-8 text"),
        ("min-gpus = 1\n".encode("utf-16"), "UTF-16"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "nested too deeply|not valid TOML"),
        (b'require_isa = ["avx2"]\nrequire-isa = ["avx512f"]\n', "'require_isa' and 'require-isa'"),
        (b"[check]\nmin_gpus = 1\nmin-gpus = 2\n", "'min_gpus' and 'min-gpus'"),
    ],
)
def test_bad_config_is_one_input_error(tmp_path: Path, content: bytes, match: str) -> None:
    from hwbench.check.expectations import load_config

    f = tmp_path / "c.toml"
    f.write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_config(f)


def test_config_fifo_does_not_block(tmp_path: Path) -> None:
    from hwbench.check.expectations import load_config

    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        load_config(fifo)  # stat, never open: a FIFO with no writer would block the open forever


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_fuzzed_config_bytes_never_crash(data: bytes) -> None:
    import tempfile

    from hwbench.check.expectations import load_config

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "c.toml"
        f.write_bytes(data)
        with contextlib.suppress(HwbenchError):  # anything else (a traceback) fails the test
            load_config(f)


# --------------------------------------------------------------------------------- baselines


def _baseline_doc(value: str) -> str:
    return (
        '{"kind": "hwbench-check-baseline", "format_version": 1, "figures": '
        f'[{{"device": "cpu", "name": "fp32_tflops", "value": {value}}}]}}'
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_baseline_doc("9" * 401), "no positive number"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        (_baseline_doc("1e999"), "no positive number"),
    ],
)
def test_hostile_baseline(tmp_path: Path, text: str, match: str) -> None:
    from hwbench.check.baseline import load_baseline

    f = tmp_path / "b.json"
    f.write_text(text)
    with pytest.raises(InputError, match=match):
        load_baseline(f)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_baseline_honours_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    from hwbench.check.baseline import save_baseline
    from hwbench.check.checks import Figure

    old = os.umask(umask)
    try:
        save_baseline(tmp_path / "b.json", [Figure("cpu", "fp32_tflops", 0.1, "test")], {}, "quick")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == mode


# --------------------------------------------------------------------------------- merge


def _mfu_doc(host: str) -> dict[str, object]:
    return {"schema_version": 1, "command": "mfu", "host": host, "device": "cpu", "achieved_tflops": 0.1}


def test_merge_refuses_other_reports_and_mixed_commands() -> None:
    from hwbench.fleet.merge import merge_reports

    detect = {"schema_version": 1, "command": "detect", "cpu": {}}
    with pytest.raises(InputError, match="a `detect` report has no per-rank figures"):
        merge_reports([("a.json", _mfu_doc("a")), ("d.json", detect)])
    check = {"schema_version": 1, "command": "check", "checks": []}
    with pytest.raises(InputError, match="reports of one command"):
        merge_reports([("a.json", _mfu_doc("a")), ("c.json", check)])


def test_merge_warns_about_a_report_given_twice() -> None:
    from hwbench.fleet.merge import merge_reports

    out = merge_reports([("a.json", _mfu_doc("a")), ("b.json", _mfu_doc("b")), ("a2.json", _mfu_doc("a"))])
    assert out["warnings"] == ["a2.json is the same report as a.json: that node counts twice"]


def test_merge_cli_binary_and_deep_files(tmp_path: Path) -> None:
    binary = tmp_path / "bin.json"
    binary.write_bytes(bytes(range(256)) * 4)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    for f, match in ((binary, "not UTF-8 text"), (deep, "nested too deeply")):
        r = hwbench("merge", str(f))
        assert r.returncode == 2 and r.stdout == ""
        assert match in one_error(r.stderr)


# --------------------------------------------------------------------------------- detect


@pytest.mark.parametrize(
    ("siblings", "logical"), [("99999999999999999999", 1), ("100000000", 1), ("1000000", 1), ("192", 192)]
)
def test_cpuinfo_counts_are_capped(siblings: str, logical: int) -> None:
    from hwbench.detect.cpu import parse_cpuinfo

    block = GENOA.split("\n\n")[0]
    text = re.sub(r"(?m)^siblings\s*:.*$", f"siblings\t: {siblings}", block) + "\n"
    cpu = parse_cpuinfo(text)
    assert cpu.logical_cpus == logical and len(cpu.usable_cpus) == logical


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=-(10**30), max_value=10**30))
def test_fuzzed_cpuinfo_counts_stay_bounded(siblings: int, cores: int) -> None:
    from hwbench.detect.cpu import MAX_CPUS, parse_cpuinfo

    block = GENOA.split("\n\n")[0]
    block = re.sub(r"(?m)^siblings\s*:.*$", f"siblings\t: {siblings}", block)
    block = re.sub(r"(?m)^cpu cores\s*:.*$", f"cpu cores\t: {cores}", block)
    cpu = parse_cpuinfo(block + "\n")
    assert 1 <= cpu.logical_cpus <= MAX_CPUS
    assert cpu.physical_cores is None or 1 <= cpu.physical_cores <= MAX_CPUS


def test_long_device_name_is_cut_in_linear_time() -> None:
    from hwbench.detect.pci import parse_lspci

    fns = parse_lspci("00:02.0 VGA compatible controller: " + "word " * 40000 + "(rev 01)\n")
    assert len(fns) == 1 and len(fns[0].device_name or "") <= 513


def test_dump_refuses_a_file_and_a_foreign_folder(tmp_path: Path) -> None:
    from hwbench.detect import dump

    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        dump(f)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("do not replace me")
    with pytest.raises(InputError, match="not empty and is not an hwbench dump"):
        dump(folder)
    assert (folder / "thesis.tex").read_text() == "do not replace me"


def test_failed_dump_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hwbench.detect as det

    def full_disk(dest: Path, root: Path) -> None:
        (dest / "proc").mkdir()
        (dest / "proc" / "cpuinfo").write_text("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(det, "_record", full_disk)
    with pytest.raises(InputError, match="No space left on device"):
        det.dump(tmp_path / "d")
    assert list(tmp_path.iterdir()) == []  # neither the dump nor its temporary folder


def test_replay_refuses_fifo_and_bad_torch_json(tmp_path: Path) -> None:
    from hwbench.detect import dump, replay

    d = dump(tmp_path / "d")
    replay(d)  # the recording as written replays
    (d / "torch.json").write_text("[]")
    with pytest.raises(InputError, match="not a JSON object"):
        replay(d)
    (d / "torch.json").unlink()
    (d / "proc" / "meminfo").unlink()
    os.mkfifo(d / "proc" / "meminfo")
    with pytest.raises(InputError, match="not a regular file"):
        replay(d)


# --------------------------------------------------------------------------------- mfu sizes, threads


def test_model_larger_than_memory_is_refused_with_the_figures() -> None:
    from hwbench.bench.config import preset
    from hwbench.bench.fits import check_fits, training_bytes

    seed = preset("nanogpt-cpu")
    params, need = training_bytes(seed)
    assert params == 804096 and need > params * 16
    check_fits(seed, "cpu")  # the seed preset fits anywhere
    huge = seed.with_overrides(vocab_size=10_000_000_000)
    with pytest.raises(
        InputError, match=r"needs at least [\d.]+ [kMGTPE]?B to train: .* parameters \(16 bytes"
    ) as e:
        check_fits(huge, "cpu")
    assert "cpu has" in e.value.message and "of activations (12 x 64 tokens)" in e.value.message


def test_threads_bounded() -> None:
    from hwbench.bench.step import check_threads

    check_threads(None)
    check_threads(2)
    for bad in (0, -1, 9223372036854775807):
        with pytest.raises(InputError, match="--threads must be between 1 and"):
            check_threads(bad)


# --------------------------------------------------------------------------------- outputs


def test_output_targets_checked_before_measuring(tmp_path: Path) -> None:
    from hwbench.outputs import check_writable

    check_writable(tmp_path / "new.xml", "--junit")
    with pytest.raises(InputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.xml", "--junit")
    with pytest.raises(InputError, match="is a folder"):
        check_writable(tmp_path, "--junit")


def test_stdout_closed_full_and_a_closed_pipe() -> None:
    # stdout closed at start: the output goes nowhere, the command's own code
    cmd = [sys.executable, "-m", "hwbench", "detect", "--json"]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
                       preexec_fn=lambda: os.close(1))  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr
    with open("/dev/full", "w") as full:
        r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 2
    assert "could not write the output to stdout (No space left on device)" in one_error(r.stderr)
    # `hwbench detect | head -1`: the reader goes away after one line
    p = subprocess.Popen(
        [sys.executable, "-m", "hwbench", "detect", "--details"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0 and err == ""


def test_failed_junit_write_keeps_the_verdict() -> None:
    r = hwbench("check", "--min-gpus", "1", "--junit", "/dev/full")
    assert r.returncode == 1  # the failed check, not the write error
    assert "FAIL" in r.stdout and "min_gpus" in r.stdout
    assert "cannot write JUnit file /dev/full" in one_error(r.stderr)
    # issue 12's case 8 as written: said at once, then the verdict; the failing node is still drained
    r = hwbench("check", "--min-gpus", "1", "--junit", "/nonexistent/x.xml")
    assert r.returncode == 1 and "FAIL" in r.stdout and "min_gpus" in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert "the folder /nonexistent does not exist (the checks run anyway" in errors[0]
    assert "cannot write JUnit file /nonexistent/x.xml" in errors[-1] and "Traceback" not in r.stderr
    r = hwbench("check", "--torch-can-use", "cpu", "--junit", "/nonexistent/x.xml")
    assert r.returncode == 2 and "PASS" in r.stdout  # nothing failed: the write error decides


def test_a_baseline_never_replaces_a_device_or_fifo(tmp_path: Path) -> None:
    """A baseline is written by renaming a new file over its path: a device or FIFO there is refused,
    never swapped for a plain file (as root, /dev/full was)."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = hwbench("check", "--min-gpus", "1", "--save-baseline", str(fifo))
    assert r.returncode == 1 and "FAIL" in r.stdout
    assert "is not a regular file" in r.stderr and fifo.is_fifo()
    from hwbench.check.baseline import save_baseline
    from hwbench.errors import InputError

    with pytest.raises(InputError, match="not a regular file"):
        save_baseline(Path("/dev/full"), [], {}, "quick")
    assert not Path("/dev/full").is_file()
    # through a link, the file linked to is replaced and the link stays
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    save_baseline(link, [], {}, "quick")
    assert link.is_symlink() and '"figures"' in real.read_text()


def test_recorded_dump_round_trip_json(tmp_path: Path) -> None:
    r = hwbench("detect", "--dump", str(tmp_path / "d"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "detect"
    r = hwbench("detect", "--dump", str(tmp_path / "d"), "--json")  # an earlier dump is replaced
    assert r.returncode == 0, r.stderr


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(_json)
def test_fuzzed_json_reports_merge_or_refuse(doc: object) -> None:
    from hwbench.fleet.merge import merge_reports

    rank = {"rank": 0, "host": "h", "result": doc, "fingerprint": doc, "exit_code": 0}
    for d in (
        doc,
        {"schema_version": 1, "command": "mfu", "extra": doc, "achieved_tflops": doc},
        {"schema_version": 1, "command": "check", "ranks": [rank, {"rank": 1, "host": doc}]},
        {"schema_version": 1, "command": "comm", "results": doc, "ranks": doc},
    ):
        with contextlib.suppress(HwbenchError):
            merge_reports([("a.json", d)])  # type: ignore[list-item]


@settings(max_examples=80, deadline=None)
@given(_json)
def test_fuzzed_baselines_load_or_refuse(figures: object) -> None:
    import tempfile

    from hwbench.check.baseline import load_baseline

    doc = {"kind": "hwbench-check-baseline", "format_version": 1, "figures": figures}
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "b.json"
        f.write_text(json.dumps(doc, allow_nan=True))
        with contextlib.suppress(HwbenchError):
            load_baseline(f)


def test_report_suffix_refused_before_measuring(tmp_path: Path) -> None:
    r = hwbench("mfu", "--quick", "--save-report", str(tmp_path / "report.txt"))
    assert r.returncode == 2 and r.stdout == ""
    assert "cannot write a report as .txt" in one_error(r.stderr) and "measuring" not in r.stderr
