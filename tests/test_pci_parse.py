# ruff: noqa: E501  (real lspci lines are longer than the line limit)
"""parse_lspci forms, errors, lspci text it never saw, pci.ids lookups, and property tests.

The devices in the form tests are real: the Alder Lake-P iGPU (8086:46a6 rev 0c) and RTX A1000 Laptop GPU
(10de:25b9 rev a1, 3D controller) of the Dell Precision 5570 whose `lspci -nn` is the fixture
tests/fixtures/lspci/nixos-hardware/dell-precision-5570.txt. Their -n/-mm/-vmm renderings follow the
formats lspci(8) documents ("MACHINE READABLE OUTPUT"), because no public paste of those forms for this
machine exists; the parser must give the same answer for every form.
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwbench.detect.pci import classify_gpus, parse_lspci, split_vendor, vendor_id_for_name
from hwbench.detect.pciids import PciIds
from hwbench.errors import InputError
from hwbench.model import PciFunction

FIXTURES = Path(__file__).parent / "fixtures"
NIXOS = sorted((FIXTURES / "lspci" / "nixos-hardware").glob("*.txt"))
P5570 = FIXTURES / "sysfs_pci" / "dell-precision-5570-alder-lake-p-optimus"

EXPECTED_5570 = {"0000:00:02.0": ("intel", "integrated"), "0000:01:00.0": ("nvidia", "discrete")}

FORMS = {
    "plain": """00:02.0 VGA compatible controller: Intel Corporation Alder Lake-P GT2 [Iris Xe Graphics] (rev 0c)
01:00.0 3D controller: NVIDIA Corporation GA107GLM [RTX A1000 Laptop GPU] (rev a1)
""",
    "n": """00:02.0 0300: 8086:46a6 (rev 0c)
01:00.0 0302: 10de:25b9 (rev a1)
""",
    "nn-D": """0000:00:02.0 VGA compatible controller [0300]: Intel Corporation Alder Lake-P GT2 [Iris Xe Graphics] [8086:46a6] (rev 0c)
0000:01:00.0 3D controller [0302]: NVIDIA Corporation GA107GLM [RTX A1000 Laptop GPU] [10de:25b9] (rev a1)
""",
    "no-pci.ids": """00:02.0 Class 0300: Device 8086:46a6 (rev 0c)
01:00.0 Class 0302: Device 10de:25b9 (rev a1)
""",
    "vnnk": """00:02.0 VGA compatible controller [0300]: Intel Corporation Alder Lake-P GT2 [Iris Xe Graphics] [8086:46a6] (rev 0c) (prog-if 00 [VGA controller])
	DeviceName: Onboard IGD
	Subsystem: Dell Device [1028:0b19]
	Flags: bus master, fast devsel, latency 0, IRQ 160, IOMMU group 1
	Kernel driver in use: i915
	Kernel modules: i915

01:00.0 3D controller [0302]: NVIDIA Corporation GA107GLM [RTX A1000 Laptop GPU] [10de:25b9] (rev a1)
	Subsystem: Dell Device [1028:0b19]
	Kernel driver in use: nvidia
	Kernel modules: nouveau, nvidia_drm, nvidia
""",
    "mm": """00:02.0 "VGA compatible controller" "Intel Corporation" "Alder Lake-P GT2 [Iris Xe Graphics]" -r0c -p00 "Dell" "Device 0b19"
01:00.0 "3D controller" "NVIDIA Corporation" "GA107GLM [RTX A1000 Laptop GPU]" -ra1 -p00 "Dell" "Device 0b19"
""",
    "mm-nn": """00:02.0 "VGA compatible controller [0300]" "Intel Corporation [8086]" "Alder Lake-P GT2 [Iris Xe Graphics] [46a6]" -r0c -p00 "Dell [1028]" "Device [0b19]"
01:00.0 "3D controller [0302]" "NVIDIA Corporation [10de]" "GA107GLM [RTX A1000 Laptop GPU] [25b9]" -ra1 -p00 "Dell [1028]" "Device [0b19]"
""",
    "mm-n": """00:02.0 "0300" "8086" "46a6" -r0c -p00 "1028" "0b19"
01:00.0 "0302" "10de" "25b9" -ra1 -p00 "1028" "0b19"
""",
    "vmm-k": """Slot:	00:02.0
Class:	VGA compatible controller
Vendor:	Intel Corporation
Device:	Alder Lake-P GT2 [Iris Xe Graphics]
SVendor:	Dell
SDevice:	Device 0b19
Rev:	0c
ProgIf:	00
Driver:	i915
Module:	i915

Slot:	01:00.0
Class:	3D controller
Vendor:	NVIDIA Corporation
Device:	GA107GLM [RTX A1000 Laptop GPU]
SVendor:	Dell
SDevice:	Device 0b19
Rev:	a1
Driver:	nvidia
Module:	nouveau
Module:	nvidia
""",
    "vmm-nn-D": """Slot:	0000:00:02.0
Class:	VGA compatible controller [0300]
Vendor:	Intel Corporation [8086]
Device:	Alder Lake-P GT2 [Iris Xe Graphics] [46a6]
SVendor:	Dell [1028]
SDevice:	Device [0b19]
Rev:	0c

Slot:	0000:01:00.0
Class:	3D controller [0302]
Vendor:	NVIDIA Corporation [10de]
Device:	GA107GLM [RTX A1000 Laptop GPU] [25b9]
Rev:	a1
""",
    "vmm-n": """Slot:	00:02.0
Class:	0300
Vendor:	8086
Device:	46a6
Rev:	0c

Slot:	01:00.0
Class:	0302
Vendor:	10de
Device:	25b9
Rev:	a1
""",
    # pciutils before 2.2.4 began -vmm records with "Device:" (then "Device:" again for the name).
    "vmm-old-device-key": """Device:	00:02.0
Class:	VGA compatible controller [0300]
Vendor:	Intel Corporation [8086]
Device:	Alder Lake-P GT2 [Iris Xe Graphics] [46a6]

Device:	01:00.0
Class:	3D controller [0302]
Vendor:	NVIDIA Corporation [10de]
Device:	GA107GLM [RTX A1000 Laptop GPU] [25b9]
""",
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_every_form_gives_the_same_answer(form: str, newline: str) -> None:
    fns = parse_lspci(FORMS[form].replace("\n", newline))
    gpus = classify_gpus(fns)
    assert {g.pci_slot: (g.vendor, g.kind) for g in gpus} == EXPECTED_5570
    by_slot = {f.slot: f for f in fns}
    igpu, dgpu = by_slot["0000:00:02.0"], by_slot["0000:01:00.0"]
    assert igpu.vendor_id == 0x8086 and dgpu.vendor_id == 0x10DE
    if form not in ("plain", "mm", "vmm-k"):  # forms that carry numeric ids
        assert (igpu.device_id, dgpu.device_id) == (0x46A6, 0x25B9)
        assert (igpu.pci_class, dgpu.pci_class) == (0x030000, 0x030200)
    if form not in ("vmm-old-device-key",):
        assert (igpu.revision, dgpu.revision) == (0x0C, 0xA1)


def test_fields_of_the_verbose_forms() -> None:
    (igpu, dgpu) = parse_lspci(FORMS["vnnk"])
    assert (igpu.driver, dgpu.driver) == ("i915", "nvidia")
    assert (igpu.subsystem_vendor_id, igpu.subsystem_device_id) == (0x1028, 0x0B19)
    assert (
        igpu.device_name == "Alder Lake-P GT2 [Iris Xe Graphics]" and igpu.vendor_name == "Intel Corporation"
    )
    assert igpu.class_name == "VGA compatible controller"
    (mm_igpu, _) = parse_lspci(FORMS["mm-nn"])
    assert (mm_igpu.subsystem_vendor_id, mm_igpu.subsystem_device_id, mm_igpu.revision) == (
        0x1028,
        0x0B19,
        0x0C,
    )
    (vmm_igpu, vmm_dgpu) = parse_lspci(FORMS["vmm-k"])
    assert (vmm_igpu.driver, vmm_dgpu.driver) == ("i915", "nvidia")


def test_two_outputs_pasted_together_are_merged_per_slot() -> None:
    fns = parse_lspci(FORMS["plain"] + "\n" + FORMS["n"])
    assert len(fns) == 2
    igpu = fns[0]
    assert (igpu.device_id, igpu.device_name) == (0x46A6, "Alder Lake-P GT2 [Iris Xe Graphics]")


def test_plain_text_takes_the_vendor_as_a_whole_field() -> None:
    """The classic bug: 'ati' in "VGA compatible controller"; "Corporation" is not a vendor either."""
    (fn,) = parse_lspci("00:02.0 VGA compatible controller: Intel Corporation Device 46a6\n")
    assert (fn.vendor_id, fn.device_id) == (0x8086, 0x46A6)
    assert split_vendor("Intel Corporationx Foo") == (None, "Intel Corporationx Foo")  # no prefix match
    assert split_vendor("ATI Technologies Inc Rage 128") == ("ATI Technologies Inc", "Rage 128")
    assert vendor_id_for_name("Corporation") is None
    assert vendor_id_for_name("NVIDIA Corporation") == 0x10DE
    # An unknown vendor is not guessed.
    (other,) = classify_gpus(
        parse_lspci("05:00.0 VGA compatible controller: Quux Graphics Ltd. Q9 (rev 01)\n")
    )
    assert (other.vendor, other.vendor_id, other.kind) == ("other", "unknown", "discrete")


@given(
    st.text(alphabet=st.characters(blacklist_characters="[]:\r\n\x1c\x1d\x1e\x85\u2028\u2029"), max_size=60)
)
def test_intel_is_never_amd_whatever_the_device_name(name: str) -> None:
    text = f"00:02.0 VGA compatible controller: Intel Corporation {name} (rev 0c)\n"
    gpus = classify_gpus(parse_lspci(text))
    assert [(g.vendor, g.kind) for g in gpus] == [("intel", "integrated")]


# -------------------------------------------------------------------------------- text it never saw


def _variants(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    shuffled = lines[:]
    rng.shuffle(shuffled)
    prefixes = ["    ", "\t", "> ", "| ", "  > ", "* "]
    indented = [rng.choice(prefixes) + ln for ln in lines]

    def upper_ids(ln: str) -> str:
        head, sep, tail = ln.rpartition(" [")
        return head + sep + tail.upper() if sep and ":" in tail else ln

    return [
        "\n".join(shuffled),  # another order
        "\r\n".join(indented),  # quoted, indented, CRLF
        "\n".join(upper_ids(ln) for ln in lines),  # upper-case hex ids
        "\n".join(f"$ lspci | grep -A1 VGA\n{ln}\n--" for ln in lines),  # grep separators around every line
        "```\n" + "\n\n".join(lines) + "\n```",  # fenced, blank line between lines
    ]


@pytest.mark.parametrize("path", NIXOS, ids=lambda p: p.stem)
def test_never_seen_variations_keep_vendor_and_kind(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    expected = {
        ln.split()[2]: (ln.split()[3], ln.split()[4]) for ln in raw.splitlines() if ln.startswith("# expect:")
    }
    for i, text in enumerate(_variants(raw, seed=len(raw))):
        got = {g.pci_slot: (g.vendor, g.kind) for g in classify_gpus(parse_lspci(text))}
        assert got == expected, i


# --------------------------------------------------------------------------------------- bad input

NOT_LSPCI = {
    "empty": "",
    "whitespace": "  \n\t\r\n",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00\xff\xdb\x00C\x00\x08".decode(
        "latin-1"
    ),
    # this machine's /proc/cpuinfo, first lines
    "cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
    "model name\t: AMD EPYC\nstepping\t: 1\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic\n",
    # dmesg lines name slots, but they are not lspci device lines
    "dmesg": "[    0.316164] pci 0000:00:02.0: [8086:0166] type 00 class 0x030000\n"
    "[    0.316183] pci 0000:00:02.0: reg 0x10: [mem 0xf0000000-0xf03fffff 64bit]\n",
    "not-found": "bash: lspci: command not found\n",
    "pcilib": "pcilib: Cannot open /proc/bus/pci\nlspci: Cannot find any working access method.\n",
    "tree": "-[0000:00]-+-00.0\n           +-02.0\n           \\-1f.3\n",
}


@pytest.mark.parametrize("name", sorted(NOT_LSPCI))
def test_text_without_a_device_line_is_an_input_error(name: str) -> None:
    with pytest.raises(InputError) as info:
        parse_lspci(NOT_LSPCI[name])
    assert "\n" not in info.value.message


# --------------------------------------------------------------------------------- property tests

FRAGMENTS = [
    "00:02.0 ",
    "0000:01:00.0 ",
    "10000:e1:00.0 ",
    "ff:1f.7 ",
    "VGA compatible controller",
    "3D controller",
    "Display controller",
    "Class 0300",
    " [0300]",
    ": ",
    ":",
    "Intel Corporation ",
    "Advanced Micro Devices, Inc. [AMD/ATI] ",
    "NVIDIA Corporation ",
    "Device ",
    "46a6",
    " [8086:46a6]",
    "[10de:",
    "(rev a1)",
    "(prog-i",
    '"',
    '" "',
    "-r",
    "-p0",
    "Slot:\t",
    "Device:\t",
    "Class:\t",
    "Vendor:\t",
    "Rev:\t",
    "Subsystem: ",
    "Kernel driver in use: ",
    "\n",
    "\t",
    "\r\n",
    "--\n",
    "> ",
    "`",
    "[",
    "]",
    "x",
    "\u0660",  # Arabic-Indic digit zero: int() accepts it, the hex regexes must not
    "\udcff",
]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)))
def test_parse_lspci_raises_nothing_but_input_error(text: str) -> None:
    try:
        fns = parse_lspci(text)
    except InputError:
        return
    assert fns
    for g in classify_gpus(fns):
        assert g.vendor in ("intel", "nvidia", "amd", "aspeed", "matrox", "virtual", "other")
        assert g.kind in ("integrated", "discrete", "virtual", "bmc")


_ids = st.one_of(st.none(), st.integers(min_value=0, max_value=0xFFFF))
_slots = st.builds(
    "{:04x}:{:02x}:{:02x}.{}".format,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.integers(0, 0x1F),
    st.integers(0, 7),
)
_functions = st.builds(
    PciFunction,
    slot=_slots,
    vendor_id=st.one_of(st.none(), st.sampled_from([0x8086, 0x1002, 0x1022, 0x10DE, 0x1AF4, 0x102B]), _ids),
    device_id=_ids,
    pci_class=st.one_of(st.none(), st.sampled_from([0x030000, 0x030200, 0x038000, 0x120000, 0x060400])),
    class_name=st.one_of(st.none(), st.sampled_from(["VGA compatible controller", "3D controller", "x"])),
    device_name=st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["Cezanne", "GB20B [GB10]"])),
    is_virtfn=st.booleans(),
    upstream_bridge=st.one_of(st.none(), _slots),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_functions, max_size=12))
def test_classify_never_crashes(functions: list[PciFunction]) -> None:
    gpus = classify_gpus(functions)
    slots = [g.pci_slot for g in gpus] + [s for g in gpus for s in g.functions]
    assert len(slots) == len(set(slots))  # each function is one GPU or folded into one, never both


# ---------------------------------------------------------------------------------------- pci.ids


def test_pci_ids_lookups_on_a_real_excerpt() -> None:
    ids = PciIds.find(P5570)
    assert ids is not None and ids.path.name == "pci.ids"
    assert ids.vendor_name(0x10DE) == "NVIDIA Corporation"
    assert ids.device_name(0x8086, 0x46A6) == "Alder Lake-P GT2 [Iris Xe Graphics]"
    assert ids.device_name(0x1002, 0x1681) == "Rembrandt [Radeon 680M]"
    assert ids.device_name(0x10B9, 0x1681) == "M1681 P4 Northbridge [AGP8X,HyperTransport and SDR/DDR]"
    assert ids.device_name(0x1003, 0x1681) is None  # a vendor with no devices must not see its neighbour's
    assert ids.device_name(0x10DF, 0x46A6) is None
    assert ids.device_name(0xFFFF, 0x0300) is None  # the class section is not a device list
    assert ids.vendor_name(0x1234) is None and ids.device_name(0x1234, 0x1111) is None
    assert ids.device_name(0x1002, 0x103C) is None  # subsystem lines are not devices


def test_names_come_from_pci_ids_then_lspci_then_ids() -> None:
    ids = PciIds.find(P5570)
    gpus = classify_gpus(parse_lspci(FORMS["no-pci.ids"]), ids)
    # pci.ids writes "die [product]"; the name shown is "product (die)"
    assert [g.name for g in gpus] == [
        "Iris Xe Graphics (Alder Lake-P GT2)",
        "RTX A1000 Laptop GPU (GA107GLM)",
    ]
    # no pci.ids given: the GPU subset hwbench ships names them (never the host's file)
    assert [g.name for g in classify_gpus(parse_lspci(FORMS["no-pci.ids"]))] == [
        "Iris Xe Graphics (Alder Lake-P GT2)",
        "RTX A1000 Laptop GPU (GA107GLM)",
    ]
    (plain,) = classify_gpus(parse_lspci(FORMS["plain"].splitlines()[0]), ids)
    assert plain.name == "Iris Xe Graphics (Alder Lake-P GT2)"  # lspci's own name: no id to look up
    # ids that no table knows stay ids (QEMU's stdvga 1234:1111 is in no pci.ids)
    (stdvga,) = classify_gpus([PciFunction("0000:00:02.0", 0x1234, 0x1111, 0x030000)])
    assert stdvga.name == "1234:1111"


def test_pci_ids_gz_and_missing(tmp_path: Path) -> None:
    assert PciIds.find(tmp_path) is None
    dest = tmp_path / "usr/share/misc"
    dest.mkdir(parents=True)
    src = P5570 / "usr/share/hwdata/pci.ids"
    (dest / "pci.ids.gz").write_bytes(gzip.compress(src.read_bytes()))
    ids = PciIds.find(tmp_path)
    assert ids is not None and ids.device_name(0x10DE, 0x2684) == "AD102 [GeForce RTX 4090]"
    (dest / "pci.ids").write_bytes(b"\xff\x00 not a pci.ids")
    broken = PciIds.find(tmp_path)  # the plain file wins; garbage gives no names, no crash
    assert broken is not None and broken.vendor_name(0x8086) is None
    shutil.rmtree(dest)
    (dest.parent / "hwdata").mkdir()
    (dest.parent / "hwdata" / "pci.ids").mkdir()  # a directory is not a pci.ids
    assert PciIds.find(tmp_path) is None


# ------------------------------------------------------------------- datacenter accelerators (records)


def test_instinct_and_other_accelerators_from_recorded_ids() -> None:
    """Ids and classes as recorded in public reports (JSON from GPU-discovery tools, not lspci text).

    MI325X: apache/cloudstack#11701 (05:00.0 1002:74a5 "Processing accelerators [1200]", driver amdgpu).
    MI50/MI60: akash-network/provider-configs#40 (84:00.0 1002:66a1 class 03 subclass 80, driver amdgpu).
    ASPEED: akash-network/provider-configs#7 (12:00.0 1a03:2000 class 03 subclass 00, driver ast).
    A Habana Gaudi (vendor 1da3) is also class 1200 but not a GPU: only AMD's 1200 devices are taken.
    """
    fns = [
        PciFunction("0000:05:00.0", 0x1002, 0x74A5, 0x120000, driver="amdgpu"),
        PciFunction("0000:84:00.0", 0x1002, 0x66A1, 0x038000, driver="amdgpu"),
        PciFunction("0000:12:00.0", 0x1A03, 0x2000, 0x030000, driver="ast"),
        PciFunction("0000:33:00.0", 0x1DA3, 0x1020, 0x120000, driver="habanalabs"),
    ]
    got = {g.pci_slot: (g.vendor, g.kind, g.pci_class) for g in classify_gpus(fns)}
    assert got == {
        "0000:05:00.0": ("amd", "discrete", "0x120000"),
        "0000:84:00.0": ("amd", "discrete", "0x038000"),
        "0000:12:00.0": ("aspeed", "bmc", "0x030000"),
    }


@pytest.mark.parametrize(
    ("vendor_id", "device_id", "vendor", "kind"),
    [  # hypervisor and BMC display devices, ids as pci.ids (pciutils/pciids@c1c12547) names them
        (0x15AD, 0x0405, "virtual", "virtual"),  # VMware SVGA II Adapter
        (0x1414, 0x5353, "virtual", "virtual"),  # Microsoft Corporation Hyper-V virtual VGA
        (0x80EE, 0xBEEF, "virtual", "virtual"),  # InnoTek VirtualBox Graphics Adapter
        (0x1B36, 0x0100, "virtual", "virtual"),  # Red Hat QXL paravirtual graphic card
        (0x1AB8, 0x4005, "virtual", "virtual"),  # Parallels Accelerated Virtual Video Adapter
        (0x1AF4, 0x1050, "virtual", "virtual"),  # Red Hat Virtio 1.0 GPU
        (0x1013, 0x00B8, "virtual", "virtual"),  # Cirrus Logic GD 5446 (QEMU's emulation)
        (0x102B, 0x0536, "matrox", "bmc"),  # Integrated Matrox G200eW3 Graphics Controller
        (0x1A03, 0x2000, "aspeed", "bmc"),  # ASPEED Graphics Family
    ],
)
def test_hypervisor_and_bmc_displays_by_id(vendor_id: int, device_id: int, vendor: str, kind: str) -> None:
    (gpu,) = classify_gpus([PciFunction("0000:00:02.0", vendor_id, device_id, 0x030000)])
    assert (gpu.vendor, gpu.kind) == (vendor, kind)  # at the Intel iGPU slot: the vendor id decides
