"""CPU detection on real /proc/cpuinfo and lscpu outputs (fixtures/cpu/README.md: where each is from)."""

# ruff: noqa: E501  (the fixture tables read best one machine per line)

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwbench.detect.cpu import (
    lookup_arm,
    lookup_x86,
    parse_cpu_text,
    parse_cpuinfo,
    parse_cpulist,
    parse_lscpu,
    read_cpu,
    uarch_table,
)
from hwbench.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "cpu"

# file -> (vendor, microarchitecture, logical, physical, sockets, flags it must have, flags it must not have)
CPUINFO = {
    "xeon-8480plus-sapphire-rapids.txt": (
        "GenuineIntel", "Sapphire Rapids", 112, 56, None, {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f"}, set()
    ),
    "ryzen9-9950x-zen5.txt": ("AuthenticAMD", "Zen 5", 32, 16, None, {"avx512f", "avx512_bf16"}, {"amx_tile"}),
    "ryzen9-5950x-zen3.txt": ("AuthenticAMD", "Zen 3", 32, 16, None, {"avx2", "fma"}, {"avx512f"}),
    "epyc-9654-genoa.txt": ("AuthenticAMD", "Zen 4", 96, 96, None, {"avx512f", "avx512_bf16"}, set()),
    "xeon-8260m-cascade-lake.txt": ("GenuineIntel", "Cascade Lake", 48, 24, None, {"avx512_vnni"}, {"avx512_bf16"}),
    "xeon-gold-6132-skylake-sp.txt": ("GenuineIntel", "Skylake-SP", 14, 14, None, {"avx512f"}, {"avx512_vnni"}),
    "core-ultra9-285-arrow-lake.txt": (
        "GenuineIntel", "Arrow Lake (Lion Cove + Skymont)", 24, 24, None, {"avx_vnni"}, {"avx512f"}
    ),
    "i7-1260p-alder-lake-p.txt": (
        "GenuineIntel", "Alder Lake (Golden Cove + Gracemont)", 16, 12, None, {"avx_vnni", "avx2"}, {"avx512f"}
    ),
    "i7-8565u-whiskey-lake.txt": ("GenuineIntel", "Whiskey Lake", 8, 4, None, {"avx2"}, set()),
    "xeon-e3-1245v2-ivy-bridge-prompt.txt": ("GenuineIntel", None, 8, 4, None, {"avx"}, {"avx2"}),
    "this-kvm-epyc-zen3.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, {"avx2", "fma", "hypervisor"}, {"avx512f"}),
    "graviton2-neoverse-n1.txt": ("ARM", "Neoverse-N1", 1, None, None, {"asimd", "asimddp"}, {"sve"}),
    "graviton3-neoverse-v1.txt": ("ARM", "Neoverse-V1", 1, None, None, {"sve", "bf16"}, set()),
    "graviton1-cortex-a72.txt": ("ARM", "Cortex-A72", 1, None, None, {"asimd"}, {"atomics"}),
    "neoverse-v2.txt": ("ARM", "Neoverse-V2", 1, None, None, {"sve2", "bf16", "i8mm"}, set()),
    "ampereone-a.txt": ("Ampere", "AmpereOne", 1, None, None, {"bf16"}, {"sve"}),
    "apple-m1-asahi.txt": ("Apple", "Apple M1 Icestorm", 1, None, None, {"asimd"}, {"sve"}),
    "apple-m2-asahi.txt": ("Apple", "Apple M2 Blizzard", 1, None, None, {"bf16"}, set()),
    "fujitsu-a64fx.txt": ("Fujitsu", "A64FX", 1, None, None, {"sve"}, set()),
    "raspberry-pi4-b-rev1.5-aarch64.txt": ("ARM", "Cortex-A72", 4, None, None, {"asimd", "crc32"}, {"atomics"}),
    "raspberry-pi4-b-rev1.2-armv7l.txt": ("ARM", "Cortex-A72", 4, None, None, {"neon", "vfpv4"}, {"asimd"}),
    "raspberry-pi3-b-rev1.2.txt": ("ARM", "Cortex-A53", 4, None, None, {"asimd"}, set()),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CPUINFO))
def test_cpuinfo_fixtures(name: str) -> None:
    vendor, uarch, logical, physical, sockets, has, lacks = CPUINFO[name]
    cpu = parse_cpu_text((FIX / "cpuinfo" / name).read_text(encoding="utf-8"), name)
    assert cpu.vendor == vendor
    assert cpu.microarchitecture == uarch
    assert cpu.logical_cpus == logical
    assert cpu.physical_cores == physical
    assert cpu.sockets == sockets
    assert has <= set(cpu.isa), has - set(cpu.isa)
    assert not (lacks & set(cpu.isa))
    assert "cpuinfo" in cpu.source


def test_isa_flags_are_whole_tokens() -> None:
    cpu = parse_cpuinfo((FIX / "cpuinfo" / "xeon-8480plus-sapphire-rapids.txt").read_text())
    # 'avx512' appears inside many flags but is not a flag itself; 'amx' neither
    assert "avx512" not in cpu.isa and "amx" not in cpu.isa
    assert all(f == f.lower() and " " not in f for f in cpu.isa)


def test_raspberry_pi_board_name_from_the_model_line() -> None:
    cpu = parse_cpuinfo((FIX / "cpuinfo" / "raspberry-pi4-b-rev1.5-aarch64.txt").read_text())
    assert cpu.model == "ARM Cortex-A72 (Raspberry Pi 4 Model B Rev 1.5)"
    assert (cpu.arm_implementer, cpu.arm_part) == (0x41, 0xD08)


def test_clock_sources_are_named() -> None:
    brand = parse_cpuinfo((FIX / "cpuinfo" / "xeon-8260m-cascade-lake.txt").read_text())
    assert brand.max_mhz == 2400.0 and "brand string" in brand.max_mhz_source
    vm = parse_cpuinfo((FIX / "cpuinfo" / "this-kvm-epyc-zen3.txt").read_text())
    assert vm.virtualized and vm.max_mhz == pytest.approx(2445.406)
    assert "not a max" in vm.max_mhz_source and "VM" in vm.max_mhz_source
    # bare metal, no '@ GHz' in the brand: the 'cpu MHz' line is a current clock, not reported as a max
    bare = parse_cpuinfo((FIX / "cpuinfo" / "core-ultra9-285-arrow-lake.txt").read_text())
    assert bare.max_mhz is None and "current clock" in bare.max_mhz_source
    # what each figure is travels typed, for the peak and the labels to decide on (never its wording)
    assert (brand.max_mhz_kind, vm.max_mhz_kind, bare.max_mhz_kind) == ("brand", "tsc", "none")


# file -> (vendor, microarchitecture, logical, physical, sockets, max_mhz, flags it must have)
LSCPU = {
    "this-kvm-epyc-zen3.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2", "hypervisor"}),
    "locale-de-this-kvm.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2"}),
    "locale-fr-this-kvm.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2"}),
    "locale-es-this-kvm.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2"}),
    "locale-zh_CN-this-kvm.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2"}),
    "locale-ja-this-kvm.txt": ("AuthenticAMD", "Zen 3", 2, 2, 1, None, {"avx2"}),
    "ru-a10-9620p-russian.txt": ("AuthenticAMD", None, 4, 2, 1, 2500.0, {"fma", "xop"}),
    "ampere-altra-azure-neoverse-n1.txt": ("ARM", "Neoverse-N1", 64, 64, 1, None, set()),
    "neoverse-n2-github-runner.txt": ("ARM", "Neoverse-N2", 4, 4, 1, None, {"sve2", "bf16"}),
    "grace-gh200-neoverse-v2.txt": ("ARM", "Neoverse-V2", 72, 72, 1, 3474.0, set()),
    "aws-m7i-xeon-8488c-sapphire-rapids.txt": ("GenuineIntel", None, 8, None, None, None, {"amx_bf16", "amx_tile"}),
    "epyc-8434p-siena.txt": ("AuthenticAMD", "Zen 4", 96, 48, 1, 3107.9099, {"rapl", "pclmulqdq"}),
    "snapdragon-8gen2-big-little.txt": ("ARM", "Cortex-A715 + Cortex-A510", 8, 8, 1, 2016.0, {"asimdfhm", "bf16"}),
    "i7-10700-comet-lake-wrapped.txt": ("GenuineIntel", "Comet Lake", 8, 8, 1, 2900.0, {"syscall", "ibrs", "bmi2"}),
    "i7-12700k-alder-lake.txt": (
        "GenuineIntel", "Alder Lake (Golden Cove + Gracemont)", 20, 12, 1, 5100.0, {"rep_good", "vpid"}
    ),
    "a64fx-quoted-cluster.txt": ("FUJITSU", "A64FX", 48, 48, None, None, {"sve"}),
    "i7-6700-skylake-old-format.txt": ("GenuineIntel", "Skylake", 8, 4, 1, 4000.0, set()),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LSCPU))
def test_lscpu_fixtures(name: str) -> None:
    vendor, uarch, logical, physical, sockets, max_mhz, has = LSCPU[name]
    cpu = parse_cpu_text((FIX / "lscpu" / name).read_text(encoding="utf-8"), name)
    assert cpu.source.endswith("(lscpu)")
    assert cpu.vendor == vendor
    assert cpu.microarchitecture == uarch
    assert cpu.logical_cpus == logical
    assert cpu.physical_cores == physical
    assert cpu.sockets == sockets
    if max_mhz is not None:
        assert cpu.max_mhz == pytest.approx(max_mhz)
    assert has <= set(cpu.isa), has - set(cpu.isa)


def test_lscpu_wrapped_flags_rejoin_split_words() -> None:
    # "sysc" / "all" is one flag wrapped at 80 columns; " ibrs" (one column further in) starts a new one
    cpu = parse_lscpu((FIX / "lscpu" / "i7-10700-comet-lake-wrapped.txt").read_text())
    assert "syscall" in cpu.isa and "sysc" not in cpu.isa
    assert "ssbd" in cpu.isa and "ibrs" in cpu.isa and "ssbdibrs" not in cpu.isa


def test_lscpu_in_a_locale_reads_the_same_as_c_locale() -> None:
    c = parse_lscpu((FIX / "lscpu" / "this-kvm-epyc-zen3.txt").read_text())
    for lang in ("de", "fr", "es", "zh_CN", "ja"):
        other = parse_lscpu((FIX / "lscpu" / f"locale-{lang}-this-kvm.txt").read_text(encoding="utf-8"))
        assert (other.vendor, other.model, other.microarchitecture, other.isa, other.hypervisor) == (
            c.vendor, c.model, c.microarchitecture, c.isa, c.hypervisor
        ), lang  # fmt: skip


def test_not_a_cpu_file_is_an_input_error() -> None:
    with pytest.raises(InputError):
        parse_cpu_text("00:02.0 VGA compatible controller: Intel Corporation Device 46a6\n", "lspci.txt")
    with pytest.raises(InputError):
        parse_cpu_text("", "empty.txt")


def test_uarch_table_lookups() -> None:
    assert all(r.source and r.microarchitecture for r in uarch_table())
    assert lookup_x86("AuthenticAMD", 25, 1, 1).microarchitecture == "Zen 3"  # type: ignore[union-attr]
    assert lookup_x86("AuthenticAMD", 26, 2, 0).microarchitecture == "Zen 5"  # type: ignore[union-attr]
    assert lookup_x86("AuthenticAMD", 23, 8, 2).microarchitecture == "Zen+"  # type: ignore[union-attr]
    assert lookup_x86("AuthenticAMD", 23, 1, 1).microarchitecture == "Zen"  # type: ignore[union-attr]
    assert lookup_x86("GenuineIntel", 6, 85, 4).microarchitecture == "Skylake-SP"  # type: ignore[union-attr]
    assert lookup_x86("GenuineIntel", 6, 85, 7).microarchitecture == "Cascade Lake"  # type: ignore[union-attr]
    assert lookup_x86("GenuineIntel", 6, 173, 1).microarchitecture == "Granite Rapids"  # type: ignore[union-attr]
    assert lookup_x86("GenuineIntel", 6, 175, 3).microarchitecture == "Sierra Forest"  # type: ignore[union-attr]
    lunar = lookup_x86("GenuineIntel", 6, 189, 1)
    assert lunar is not None and lunar.core_types == "Lion Cove + Skymont"
    assert lookup_x86("GenuineIntel", 6, 58, 9) is None  # Ivy Bridge: not in the table, so unknown
    assert lookup_arm(0x41, 0xD0C).microarchitecture == "Neoverse-N1"  # type: ignore[union-attr]
    assert lookup_arm(0x41, 0xD4F).microarchitecture == "Neoverse-V2"  # type: ignore[union-attr]
    assert lookup_arm(0x41, 0xD0B).microarchitecture == "Cortex-A76"  # type: ignore[union-attr]


def test_parse_cpulist() -> None:
    assert parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpulist("0,1") == (0, 1)
    assert parse_cpulist("") == ()
    assert parse_cpulist("x,3-1,5") == (5,)


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_read_cpu_cgroup_quota_and_cpuset(tmp_path: Path) -> None:
    _write(tmp_path, "proc/cpuinfo", (FIX / "cpuinfo" / "this-kvm-epyc-zen3.txt").read_text())
    _write(tmp_path, "sys/devices/system/cpu/online", "0-1\n")
    _write(tmp_path, "proc/self/status", "Name:\tx\nCpus_allowed_list:\t0-1\n")
    _write(tmp_path, "proc/self/cgroup", "0::/kubepods/pod1\n")
    _write(tmp_path, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n")
    _write(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n")
    _write(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpuset.cpus.effective", "1\n")
    cpu = read_cpu(tmp_path)
    assert cpu.cpu_quota == pytest.approx(1.5)
    assert cpu.usable_cpus == (1,)
    assert cpu.logical_cpus == 2


def test_read_cpu_hybrid_split_from_sysfs() -> None:
    cpu = read_cpu(Path(__file__).parent / "fixtures" / "machines" / "alder-lake-p-laptop")
    assert (cpu.p_cores, cpu.e_cores) == (4, 8)
    assert cpu.p_core_cpus == tuple(range(8)) and cpu.e_core_cpus == tuple(range(8, 16))
    assert cpu.physical_cores == 12 and cpu.logical_cpus == 16
    assert cpu.max_mhz == 4700.0 and cpu.max_mhz_source == "cpufreq cpuinfo_max_freq"
    assert cpu.max_mhz_kind == "cpufreq"
    assert cpu.smt_siblings[0] == (0, 1) and (15,) in cpu.smt_siblings


def test_read_cpu_this_machine_matches_its_dump() -> None:
    live = read_cpu(Path("/"))
    assert live.logical_cpus >= 1 and live.usable_cpus
    assert set(live.usable_cpus) <= set(range(live.logical_cpus))


def test_wsl_is_virtualized(tmp_path: Path) -> None:
    _write(tmp_path, "proc/cpuinfo", (FIX / "cpuinfo" / "ryzen9-5950x-zen3.txt").read_text())
    _write(tmp_path, "proc/version", "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1)\n")
    cpu = read_cpu(tmp_path)
    assert cpu.virtualized and cpu.hypervisor == "WSL2"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000))
def test_parsers_never_crash_on_text(text: str) -> None:
    parse_cpuinfo(text)
    parse_lscpu(text)
    with contextlib.suppress(InputError):
        parse_cpu_text(text, "x")


_LINE = st.tuples(
    st.sampled_from(["processor", "vendor_id", "cpu family", "model", "flags", "CPU part", "CPU implementer",
                     "Model name", "Flags", "CPU(s)", "Socket(s)", "siblings", "core id", "physical id", "cpu MHz"]),
    st.text(max_size=40),
).map(lambda kv: f"{kv[0]}\t: {kv[1]}")  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=40))
def test_parsers_never_crash_on_cpu_like_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    parse_cpuinfo(text)
    parse_lscpu(text)


def test_hypervisor_named_from_the_paravirtual_clock() -> None:
    cpu = read_cpu(Path(__file__).parent / "fixtures" / "machines" / "this-kvm-epyc")
    assert cpu.virtualized and cpu.hypervisor == "KVM"  # recorded 'available_clocksource: tsc kvm-clock'


def test_py_cpuinfo_only_without_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux (no /proc), py-cpuinfo answers; here a stand-in with py-cpuinfo 9's keys for a Mac mini (M1)."""
    import sys
    import types

    from hwbench.detect import cpu as cpu_mod

    fake = types.ModuleType("cpuinfo")
    fake.get_cpu_info = lambda: {  # type: ignore[attr-defined]
        "arch": "ARM_8", "brand_raw": "Apple M1", "count": 8, "flags": ["asimd", "fp"], "hz_advertised": None,
    }  # fmt: skip
    monkeypatch.setitem(sys.modules, "cpuinfo", fake)
    cpu = cpu_mod._read_cpu_pycpuinfo()
    assert (cpu.model, cpu.logical_cpus, cpu.source, cpu.max_mhz) == ("Apple M1", 8, "py-cpuinfo", None)
    assert "asimd" in cpu.isa
