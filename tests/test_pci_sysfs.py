"""read_sysfs_pci / dump_sysfs_pci on recorded sysfs trees (tests/fixtures/sysfs_pci/*/README.md)."""

from __future__ import annotations

from pathlib import Path

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
