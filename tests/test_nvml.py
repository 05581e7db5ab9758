"""NVML reading, one field at a time, replayed from recordings of real nvidia-smi outputs (fixtures/nvml)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hwbench.detect.nvml import (
    FakeNvml,
    decode_clock_event_reasons,
    normalize_bus_id,
    read_nvml,
)
from hwbench.model import NA, NvmlGpu

FIX = Path(__file__).parent / "fixtures" / "nvml"


def replay(name: str) -> tuple[dict[str, NvmlGpu], list[str]]:
    return read_nvml(FakeNvml.from_file(FIX / name))


def test_h100_sxm() -> None:
    out, warnings = replay("h100-sxm-80gb.json")
    f = out["0000:18:00.0"]
    assert f.name == "NVIDIA H100 80GB HBM3"
    assert f.memory_total_bytes == 81559 * 1024**2
    assert (f.sm_clock_mhz, f.sm_clock_max_mhz) == (345, 1980)
    assert (f.power_draw_w, f.power_limit_w) == (100.89, 700.0)
    assert (f.pcie_gen_current, f.pcie_width_current) == (5, 16)
    assert f.compute_capability == "9.0" and f.cuda_driver_version == "12.7"
    assert f.driver_version == "565.57.01" and f.pci_device_id == "0x2330"
    assert f.clock_event_reasons == ("gpu_idle",)
    assert f.mig_mode_current is False and f.ecc_mode_current is True
    assert f.multiprocessor_count == NA("not supported by this GPU/driver")
    assert warnings == []


def test_geforce_not_supported_fields_are_na_with_reason() -> None:
    out, _ = replay("geforce-gt730-not-supported.json")
    f = out["0000:01:00.0"]
    assert f.name == "GeForce GT 730"
    assert f.mig_mode_current == NA("not supported by this GPU/driver")
    assert f.ecc_uncorrected_aggregate == NA("not supported by this GPU/driver")
    assert isinstance(f.power_draw_w, NA)  # not in the recording: still one field, not a crash


def test_throttled_v100_hw_slowdown_is_decoded_and_warned() -> None:
    out, warnings = replay("v100-sxm2-hw-power-brake.json")
    (f,) = out.values()
    assert f.clock_event_reasons == ("hw_slowdown", "hw_power_brake_slowdown")
    assert f.sm_clock_mhz == 382
    assert any("hw_slowdown" in w and "hw_power_brake_slowdown" in w for w in warnings)


def test_degraded_links() -> None:
    out, warnings = replay("a10g-x8-of-x16.json")
    assert out["0000:00:1e.0"].pcie_width_current == 8
    assert any("x8 of x16" in w for w in warnings)
    _, warnings = replay("quadro-rtx8000-degraded-link.json")
    assert any("x1 of x16" in w for w in warnings)
    # an idle GPU at Gen1 of Gen4 and full width is a downshift, said as such
    _, warnings = replay("a10-idle-gen1-of-gen4.json")
    assert warnings == [
        "GPU 0000:06:00.0: PCIe Gen1 of Gen4 now (idle GPUs downshift; a problem only under load)"
    ]


def test_ecc_errors_and_mig() -> None:
    out, warnings = replay("gh200-ecc-aggregate-uncorrectable.json")
    assert out["0000:dd:00.0"].ecc_uncorrected_aggregate == 1
    assert any("1 uncorrected ECC" in w for w in warnings)
    out, _ = replay("a100-40gb-mig.json")
    f = out["0000:07:00.0"]
    assert f.mig_mode_current is True and f.compute_capability == "8.0"


def test_driver_library_mismatch_is_a_warning() -> None:
    out, warnings = replay("driver-library-mismatch.json")
    assert out == {}
    assert len(warnings) == 1 and "driver/library version mismatch" in warnings[0]


def test_recording_round_trip() -> None:
    """What read_nvml records while reading a module replays to the same fields."""
    src = json.loads((FIX / "h100-sxm-80gb.json").read_text())
    record: dict[str, Any] = {}
    first, w1 = read_nvml(FakeNvml(src), record=record)
    second, w2 = read_nvml(FakeNvml(json.loads(json.dumps(record))))
    assert first == second and w1 == w2


class _Exploding:
    """A module whose every device query raises something NVML never would."""

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> object:
        return object()

    def __getattr__(self, name: str) -> Any:
        def boom(*args: Any) -> Any:
            raise RuntimeError(f"{name} exploded")

        return boom


def test_any_exception_is_one_na_field() -> None:
    out, _ = read_nvml(_Exploding())
    (f,) = out.values()
    assert isinstance(f.name, NA) and "exploded" in f.name.reason
    assert isinstance(f.temperature_c, NA)


def test_no_pynvml_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    out, warnings = read_nvml()
    assert out == {} and warnings and warnings[0].startswith("no NVML")


def test_real_pynvml_without_a_driver_is_a_warning() -> None:
    out, warnings = read_nvml()  # this machine has nvidia-ml-py but no libnvidia-ml
    if out:
        pytest.skip("an NVIDIA driver is present here")
    assert warnings and warnings[0].startswith("no NVML")


def test_bus_id_and_reasons() -> None:
    assert normalize_bus_id("00000000:17:00.0") == "0000:17:00.0"
    assert normalize_bus_id(b"00000001:DD:00.0\x00") == "0001:dd:00.0"
    assert decode_clock_event_reasons(0x1 | 0x40) == ["gpu_idle", "hw_thermal_slowdown"]
    assert decode_clock_event_reasons(0x1000) == ["other(0x1000)"]


def test_the_record_is_typed_whatever_its_source_gave() -> None:
    """NVML's and nvidia-smi's fields arrive as loose values (strings from text, ints from ctypes): each
    becomes its field's type, or NA saying what it was; a field the source lacks says which source."""
    from hwbench.jsonout import to_jsonable

    g = NvmlGpu.from_fields(
        {
            "name": "NVIDIA A10G",
            "temperature_c": 45,  # an int stays an int (printed 45, not 45.0)
            "power_draw_w": "N/A",  # text where a number belongs
            "ecc_mode_current": "Enabled",
            "mig_mode_current": NA("not supported by this GPU/driver"),
            "clock_event_reasons": ["gpu_idle"],
            "sm_clock_mhz": True,  # a bool is not a clock
        },
        source="nvidia-smi -q",
    )
    assert g.name == "NVIDIA A10G" and g.temperature_c == 45 and isinstance(g.temperature_c, int)
    assert g.ecc_mode_current is True and g.clock_event_reasons == ("gpu_idle",)
    assert isinstance(g.power_draw_w, NA) and "'N/A'" in g.power_draw_w.reason
    assert isinstance(g.sm_clock_mhz, NA) and isinstance(g.uuid, NA)
    assert g.uuid == NA("not given by nvidia-smi -q")
    doc = to_jsonable(g)
    assert doc["source"] == "nvidia-smi -q" and doc["power_draw_w"] is None
    assert doc["na_reasons"]["mig_mode_current"] == "not supported by this GPU/driver"
    failed = NvmlGpu.from_fields({"index": 3, "error": NA("GPU is lost")})
    assert failed.error == "GPU is lost" and failed.index == 3 and failed.name == NA("GPU is lost")


def test_identity_for_a_fleet_fingerprint_is_typed() -> None:
    from hwbench.detect.nvml import read_identity

    ident = read_identity("0000:18:00.0", FakeNvml.from_file(FIX / "h100-sxm-80gb.json"))
    assert ident.driver_version == "565.57.01" and ident.cuda_driver_version == "12.7"
    assert ident.gpu_uuid == "GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1"  # found by its PCI bus id
    none = read_identity(None, FakeNvml.from_file(FIX / "h100-sxm-80gb.json"))
    assert none.gpu_uuid == NA("no PCI bus id for this device")
    failed = read_identity("0000:18:00.0", FakeNvml.from_file(FIX / "driver-library-mismatch.json"))
    assert isinstance(failed.driver_version, NA) and "no NVML" in failed.driver_version.reason
