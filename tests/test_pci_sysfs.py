"""read_sysfs_pci / dump_sysfs_pci on recorded sysfs trees (tests/fixtures/sysfs_pci/*/README.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hwbench.detect.pci import classify_gpus, dump_sysfs_pci, read_sysfs_pci

FIXTURES = Path(__file__).parent / "fixtures" / "sysfs_pci"


def test_kvm_this_machine_has_virtio_and_no_gpu() -> None:
    fns = read_sysfs_pci(FIXTURES / "kvm-epyc-this-machine")
    assert [f.slot for f in fns] == [f"0000:00:0{i}.0" for i in range(6)]
    assert {f.vendor_id for f in fns[1:]} == {0x1AF4}
    blk = fns[2]
    assert (blk.device_id, blk.pci_class, blk.driver) == (0x1042, 0x018000, "virtio-pci")
    assert fns[0].driver is None and fns[0].pci_class == 0x060000
    assert classify_gpus(fns) == []


def test_no_sysfs_gives_empty_list(tmp_path: Path) -> None:
    assert read_sysfs_pci(tmp_path) == []
    assert read_sysfs_pci(tmp_path / "does-not-exist") == []


def test_dump_round_trip(tmp_path: Path) -> None:
    for src in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        dest = tmp_path / src.name
        dump_sysfs_pci(src, dest)
        assert read_sysfs_pci(dest) == read_sysfs_pci(src), src.name


# Expected answers, one tree each (tests/fixtures/sysfs_pci/README.md says where every tree comes from).
EXPECTED = {
    "dell-precision-5570-alder-lake-p-optimus": {
        "0000:00:02.0": ("intel", "integrated"),
        "0000:01:00.0": ("nvidia", "discrete"),
    },
    "minisforum-um690-rembrandt-apu": {"0000:35:00.0": ("amd", "integrated")},
    "aws-g4dn-t4-bus00": {"0000:00:03.0": ("virtual", "virtual"), "0000:00:1e.0": ("nvidia", "discrete")},
    "alder-lake-n-xe-sriov-7-vfs": {
        "0000:00:02.0": ("intel", "integrated"),
        **{f"0000:00:02.{i}": ("intel", "virtual") for i in range(1, 8)},
    },
    "kvm-epyc-this-machine": {},
}


def test_every_tree_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_vendor_and_kind_from_sysfs(tree: str) -> None:
    gpus = classify_gpus(read_sysfs_pci(FIXTURES / tree))
    assert {g.pci_slot: (g.vendor, g.kind) for g in gpus} == EXPECTED[tree]


def test_sysfs_fields_of_the_rembrandt_tree() -> None:
    fns = {f.slot: f for f in read_sysfs_pci(FIXTURES / "minisforum-um690-rembrandt-apu")}
    gpu = fns["0000:35:00.0"]
    assert (gpu.vendor_id, gpu.device_id, gpu.pci_class, gpu.revision) == (0x1002, 0x1681, 0x030000, 0xC7)
    assert (gpu.driver, gpu.boot_vga, gpu.upstream_bridge, gpu.is_virtfn) == (
        "amdgpu",
        True,
        "0000:00:08.1",
        False,
    )
    assert gpu.subsystem_vendor_id is None  # not in the lspci -nn record: the file is absent, read as None
    assert fns["0000:00:08.1"].upstream_bridge is None  # on the root bus
    vf = next(f for f in read_sysfs_pci(FIXTURES / "alder-lake-n-xe-sriov-7-vfs") if f.slot.endswith("02.3"))
    assert vf.is_virtfn and vf.driver == "xe" and vf.boot_vga is None


def test_apu_internal_bridge_is_evidence_for_an_id_not_in_the_table() -> None:
    """A future APU whose id the table lacks is still integrated when it sits behind the on-die bridge."""
    fns = read_sysfs_pci(FIXTURES / "minisforum-um690-rembrandt-apu")
    fns = [replace(f, device_id=0xFFF0) if f.slot == "0000:35:00.0" else f for f in fns]
    (gpu,) = classify_gpus(fns)
    assert gpu.kind == "integrated" and "0000:00:08.1" in gpu.kind_evidence and "14b9" in gpu.kind_evidence
    # The same unknown id behind a GPP bridge (external slot) is a discrete card.
    moved = [replace(f, upstream_bridge="0000:00:01.2") if f.slot == "0000:35:00.0" else f for f in fns]
    assert classify_gpus(moved)[0].kind == "discrete"


def test_unreadable_files_give_none_not_a_crash(tmp_path: Path) -> None:
    dev = tmp_path / "sys/bus/pci/devices/0000:00:02.0"
    dev.mkdir(parents=True)
    (dev / "class").write_text("garbage\n")
    (dev / "vendor").write_bytes(b"\xff\xfe")
    (dev / "device").mkdir()  # a directory where a file should be
    (dev / "driver").symlink_to("../nowhere")  # dangling: the name is still read
    (tmp_path / "sys/bus/pci/devices/not-a-slot").mkdir()
    (fn,) = read_sysfs_pci(tmp_path)
    assert (fn.slot, fn.vendor_id, fn.device_id, fn.pci_class, fn.driver) == (
        "0000:00:02.0",
        None,
        None,
        None,
        "nowhere",
    )
    assert classify_gpus([fn]) == []
