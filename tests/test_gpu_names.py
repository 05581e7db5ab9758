"""GPU names where the host has no pci.ids: the GPU subset of pci.ids that hwbench ships
(hwbench/detect/data/gpu_pci.ids), and the "product (die)" form of the name column."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwbench.detect import detect_system, replay
from hwbench.detect.pci import classify_gpus, parse_lspci
from hwbench.detect.pciids import BUNDLED, PciIds, bundled_ids, marketing_name
from hwbench.model import PciFunction

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures"
LSPCI = FIX / "lspci" / "issues"
P5570_IDS = FIX / "sysfs_pci/dell-precision-5570-alder-lake-p-optimus/usr/share/hwdata/pci.ids"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("AD102 [GeForce RTX 4090]", "GeForce RTX 4090 (AD102)"),
        ("Aqua Vanjaram [Instinct MI300X]", "Instinct MI300X (Aqua Vanjaram)"),
        ("Alder Lake-P GT2 [Iris Xe Graphics]", "Iris Xe Graphics (Alder Lake-P GT2)"),
        ("GB20B [GB10]", "GB10 (GB20B)"),
        (
            "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]",
            "Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M (Navi 31)",
        ),
        ("Kaveri", "Kaveri"),  # no product in brackets: as it is
        ("Virtio 1.0 GPU", "Virtio 1.0 GPU"),
        (
            "MGA G200e [Pilot] ServerEngines (SEP1)",
            "MGA G200e [Pilot] ServerEngines (SEP1)",
        ),  # not at the end
        ("Iris Plus Graphics G1 (Ice Lake)", "Iris Plus Graphics G1 (Ice Lake)"),
    ],
)
def test_marketing_name(raw: str, shown: str) -> None:
    assert marketing_name(raw) == shown


def test_the_shipped_table_says_what_it_is() -> None:
    """Provenance and licence in the file itself: which pci.ids snapshot, and the BSD-3-Clause choice."""
    head = BUNDLED.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "Version: 2026.08.22" in head
    assert "github.com/pciutils/pciids@c1c12547" in head
    assert "3-clause BSD License" in head and "scripts/gen_gpu_pci_ids.py" in head
    assert BUNDLED.stat().st_size < 150_000  # a subset, not the 1.3 MB pci.ids


def _device_lines_of(text: str) -> list[tuple[int, int, str]]:
    out, vendor = [], None
    for line in text.splitlines():
        if m := re.match(r"^([0-9a-f]{4})  ", line):
            vendor = int(m.group(1), 16)
        elif (d := re.match(r"^\t([0-9a-f]{4})  (.*)$", line)) and vendor is not None:
            out.append((vendor, int(d.group(1), 16), d.group(2)))
    return out


@pytest.mark.parametrize(
    ("vendor", "device", "name"),
    [
        (0x10DE, 0x2684, "AD102 [GeForce RTX 4090]"),
        (0x10DE, 0x2324, "GH100 [H800]"),
        (0x10DE, 0x2329, "GH100 [H20]"),
        (0x10DE, 0x2BB1, "GB202GL [RTX PRO 6000 Blackwell Workstation Edition]"),
        (0x10DE, 0x2E12, "GB20B [GB10]"),
        (0x1002, 0x74A1, "Aqua Vanjaram [Instinct MI300X]"),
        (0x1002, 0x74A0, "Aqua Vanjaram [Instinct MI300A]"),
        (0x8086, 0x46A6, "Alder Lake-P GT2 [Iris Xe Graphics]"),
        (0x8086, 0x0BD5, "Ponte Vecchio XT (2 Tile) [Data Center GPU Max 1550]"),
        (0x1AF4, 0x1050, "Virtio 1.0 GPU"),
        (0x1414, 0x008E, "Basic Render Driver"),
    ],
)
def test_shipped_table_names_gpus(vendor: int, device: int, name: str) -> None:
    assert bundled_ids().device_name(vendor, device) == name


def test_shipped_table_leaves_out_what_is_no_gpu() -> None:
    ids = bundled_ids()
    assert ids.device_name(0x10DE, 0x22BA) is None  # GA102 High Definition Audio Controller
    assert ids.device_name(0x8086, 0x1237) is None  # 440FX host bridge
    assert ids.device_name(0x1022, 0x1480) is None  # AMD's CPU/chipset vendor id is not taken at all
    assert ids.device_name(0x1234, 0x1111) is None  # QEMU stdvga: in no pci.ids


DEVICE_LINES = _device_lines_of(BUNDLED.read_text(encoding="utf-8"))


@given(st.sampled_from(DEVICE_LINES))
def test_every_shipped_line_is_found_by_the_pci_ids_reader(line: tuple[int, int, str]) -> None:
    vendor, device, name = line
    found = bundled_ids().device_name(vendor, device)
    assert found == name


@pytest.mark.parametrize(
    ("fixture", "before", "after"),
    [  # lspci printed these without names (no pci.ids on the machine, or an older one)
        ("geerlingguy-rpi-504-rtx4090-vvvv.txt", "Device 2684", "GeForce RTX 4090 (AD102)"),
        ("deepracer-t4-aws-bus00.txt", "Device 1eb8", "Tesla T4 (TU104GL)"),
        ("geerlingguy-rpi-677-rtx-a400-domain-0004.txt", "Device 25b2", "RTX A400 (GA107GL)"),
        ("bumblebee-old-499-nvidia-rev-no-space.txt", "Device [10de:0df2]", "GeForce GT 435M (GF108M)"),
        ("cloaks-cn-wsl2-gpu-pv.txt", "Device 008e", "Basic Render Driver"),
    ],
)
def test_unnamed_lspci_fixtures_are_named(fixture: str, before: str, after: str) -> None:
    text = (LSPCI / fixture).read_text(encoding="utf-8")
    assert before in text
    names = [g.name for g in classify_gpus(parse_lspci(text))]
    assert after in names


def test_eight_mi300x_are_named_instinct_mi300x() -> None:
    """An 8 x MI300X node as sysfs shows it: 1002:74a1, class 1200 (Processing accelerators), one per bus
    (the ids and class as apache/cloudstack#11701 records them for its sibling MI325X 1002:74a5)."""
    fns = [PciFunction(f"0000:{b:02x}:00.0", 0x1002, 0x74A1, 0x120000, driver="amdgpu") for b in range(8)]
    gpus = classify_gpus(fns)
    assert [g.name for g in gpus] == ["Instinct MI300X (Aqua Vanjaram)"] * 8
    assert {(g.vendor, g.kind) for g in gpus} == {("amd", "discrete")}


def test_the_8x_mi300x_recording_is_named_instinct_mi300x() -> None:
    """tests/fixtures/machines/rocm-8xmi300x (assembled from public reports; its README says how): no
    pci.ids in the recording, so the names come from the shipped table on any host."""
    system = replay(FIX / "machines" / "rocm-8xmi300x", nvml=False)
    assert [g.name for g in system.gpus] == ["Instinct MI300X (Aqua Vanjaram)"] * 8


def test_a_recording_is_named_without_the_replaying_hosts_pci_ids() -> None:
    """The Alder Lake laptop recording carries no pci.ids: its iGPU is named from the shipped table
    (it showed 8086:46a6 where the host had none), whatever this host has installed."""
    system = replay(FIX / "machines" / "alder-lake-p-laptop", nvml=False)
    assert [g.name for g in system.gpus] == ["Iris Xe Graphics (Alder Lake-P GT2)"]


def test_a_tree_without_pci_ids_is_named_from_the_shipped_table() -> None:
    """Live detect reads `root`'s sysfs and `root`'s pci.ids; the AWS g4dn recording has no pci.ids
    (lspci printed 'Device 1eb8' there), so its T4 is named from the shipped table."""
    system = detect_system(FIX / "sysfs_pci" / "aws-g4dn-t4-bus00", nvml=False)
    # Amazon's own display function 1d0f:1111 is in no pci.ids (lspci: "Device 1111"): it stays ids
    assert [g.name for g in system.gpus] == ["1d0f:1111", "Tesla T4 (TU104GL)"]


def test_lspci_text_names_come_from_the_hosts_pci_ids_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--lspci` on a host: the host's pci.ids (it may be newer than the shipped subset) names first, the
    shipped subset fills in what it lacks; with no host pci.ids the shipped subset names alone."""
    rtx4090 = LSPCI / "geerlingguy-rpi-504-rtx4090-vvvv.txt"
    monkeypatch.setattr(PciIds, "find", classmethod(lambda cls, root=Path("/"): None))
    (g,) = detect_system(lspci_file=rtx4090, nvml=False).gpus
    assert g.name == "GeForce RTX 4090 (AD102)"
    host = PciIds.from_text("#\n10de  NVIDIA Corporation\n\t2684  AD102 [a newer name]\n")
    monkeypatch.setattr(PciIds, "find", classmethod(lambda cls, root=Path("/"): host))
    (g,) = detect_system(lspci_file=rtx4090, nvml=False).gpus
    assert g.name == "a newer name (AD102)"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_gpu_pci_ids", ROOT / "scripts" / "gen_gpu_pci_ids.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generator_keeps_gpus_and_the_header(tmp_path: Path) -> None:
    """The generator on a real pci.ids excerpt (same snapshot): GPU lines kept, others dropped, and every
    kept line is the one the shipped table has."""
    gen = _generator()
    out = gen.subset(P5570_IDS.read_text(encoding="utf-8"), set(gen.vendors()), "test excerpt")
    assert "Version: 2026.08.22" in out and "3-clause BSD License" in out and "test excerpt" in out
    (tmp_path / "pci.ids").write_text(out, encoding="utf-8")
    sub = PciIds(tmp_path / "pci.ids")
    assert sub.device_name(0x10DE, 0x2684) == "AD102 [GeForce RTX 4090]"
    assert sub.device_name(0x8086, 0x46A6) == "Alder Lake-P GT2 [Iris Xe Graphics]"
    assert sub.device_name(0x10B9, 0x1681) is None  # ALi is no GPU vendor hwbench classifies
    for vendor, device, name in _device_lines_of(out):
        assert bundled_ids().device_name(vendor, device) == name
