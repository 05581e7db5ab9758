"""What PyTorch can use here, from package metadata alone: this module never imports torch.

The build comes from the installed version's local tag ("2.13.0+cpu", "+cu121", "+rocm6.2", "+xpu"); a plain
version is the PyPI wheel: a CUDA build on Linux x86_64 (its CUDA from the `nvidia-cuda-runtime(-cu12)`
dependency), MPS on macOS arm64, CPU-only elsewhere. That build is then held against the GPUs detect saw
and the driver's CUDA version from NVML.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hwbench.model import Gpu, NvmlGpu, TorchInfo

# The message that says torch has no accelerator here (the explanation words that fact its own way).
NO_ACCELERATOR = "no accelerator PyTorch can use: training runs on the CPU"
# Which torch builds drive which vendor's GPUs (a ROCm build drives AMD's through torch's "cuda" API).
NVIDIA_BUILDS = frozenset({"cuda"})
AMD_GPU_BUILDS = frozenset({"rocm"})
INTEL_GPU_BUILDS = frozenset({"xpu"})
APPLE_GPU_BUILDS = frozenset({"mps"})

_CUDA_RUNTIME_PACKAGES = (
    "nvidia-cuda-runtime-cu12",
    "nvidia-cuda-runtime-cu11",
    "nvidia-cuda-runtime",
    "nvidia-cuda-runtime-cu13",
)


class TorchMetadata:
    """What package metadata says (recordable: detect's dump writes it as JSON).

    A plain class, not a dataclass: creating a dataclass runs generated code at import time, a few ms of
    detect's budget on a loaded machine.
    """

    __slots__ = ("build_strings", "machine", "packages", "requires", "system", "version")

    def __init__(
        self,
        version: str | None,  # None: torch is not installed
        requires: tuple[str, ...] = (),  # Requires-Dist lines of torch
        packages: Mapping[str, str] | None = None,  # installed nvidia-cuda-runtime* versions
        system: str = sys.platform,  # "linux", "darwin", "win32"
        machine: str = "",  # "x86_64", "aarch64", "arm64"
        build_strings: Mapping[str, str | None] | None = None,  # torch/version.py: cuda, hip, xpu
    ) -> None:
        self.version = version
        # None: version.py was not read (older dumps); else its `cuda`/`hip`/`xpu` strings, None when unset
        self.build_strings: dict[str, str | None] | None = (
            dict(build_strings) if build_strings is not None else None
        )
        self.requires = tuple(requires)
        self.packages: Mapping[str, str] = dict(packages or {})
        self.system = system
        self.machine = machine

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TorchMetadata) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"TorchMetadata({self.to_json()!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requires": list(self.requires),
            "packages": dict(self.packages),
            "system": self.system,
            "machine": self.machine,
            "build_strings": self.build_strings,
        }

    @property
    def hip(self) -> str | None:
        """The HIP version a ROCm build was made with ("6.2.41133"), from torch/version.py."""
        return (self.build_strings or {}).get("hip")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TorchMetadata:
        return cls(
            version=d.get("version"),
            requires=tuple(d.get("requires") or ()),
            packages=dict(d.get("packages") or {}),
            system=str(d.get("system") or "linux"),
            machine=str(d.get("machine") or ""),
            build_strings=d.get("build_strings"),
        )


def _dist_infos(names: Iterable[str]) -> dict[str, Path]:
    """name -> the first `<name>-<version>.dist-info` (or .egg-info) directory on sys.path.

    A directory scan instead of importlib.metadata, whose import alone (email, zipfile, csv...) costs
    tens of milliseconds of detect's 150 ms budget.
    """
    want = {n.lower().replace("-", "_"): n for n in names}
    found: dict[str, Path] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            base = item.rsplit(".", 1)[0]
            dist = base.split("-", 1)[0].lower().replace("-", "_").replace(".", "_")
            if dist in want and want[dist] not in found:
                found[want[dist]] = Path(entry or ".") / item
        if len(found) == len(want):
            break
    return found


def _metadata_headers(path: Path) -> tuple[str | None, tuple[str, ...]]:
    """Version and Requires-Dist lines of a dist-info METADATA / egg-info PKG-INFO file."""
    meta = path / ("METADATA" if path.name.endswith(".dist-info") else "PKG-INFO")
    try:
        text = meta.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, ()
    header = text.split("\n\n", 1)[0]
    version = None
    requires = []
    for line in header.splitlines():
        if line.startswith("Version:") and version is None:
            version = line.split(":", 1)[1].strip()
        elif line.startswith("Requires-Dist:"):
            requires.append(line.split(":", 1)[1].strip())
    return version, tuple(requires)


_BUILD_STRING = re.compile(r"^(cuda|hip|xpu)\s*(?::[^=]*)?=\s*(?:'([^']*)'|\"([^\"]*)\"|None)\s*$")


def parse_version_py(text: str) -> dict[str, str | None]:
    """torch/version.py's `cuda`, `hip` and `xpu` assignments ("cuda: Optional[str] = '12.6'"): what the
    build was compiled against, whatever its version tag says (NGC's "2.5.0a0+872d972e41.nv24.08")."""
    out: dict[str, str | None] = {"cuda": None, "hip": None, "xpu": None}
    for line in text.splitlines():
        m = _BUILD_STRING.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def _version_py(dist_info: Path) -> dict[str, str | None] | None:
    """torch/version.py beside torch's dist-info (a wheel or an NGC/source install); None when absent."""
    try:
        text = (dist_info.parent / "torch" / "version.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return parse_version_py(text)


def read_torch_metadata() -> TorchMetadata:
    """The installed torch's version and dependencies from its METADATA file (no torch import)."""
    machine = os.uname().machine if hasattr(os, "uname") else ""
    found = _dist_infos(("torch", *_CUDA_RUNTIME_PACKAGES))
    if "torch" not in found:
        return TorchMetadata(version=None, machine=machine)
    version, requires = _metadata_headers(found["torch"])
    packages = {}
    for name in _CUDA_RUNTIME_PACKAGES:
        if name in found:
            v, _ = _metadata_headers(found[name])
            if v:
                packages[name] = v
    return TorchMetadata(
        version=version,
        requires=requires,
        packages=packages,
        machine=machine,
        build_strings=_version_py(found["torch"]),
    )


def _major_minor(v: str) -> tuple[int, int] | None:
    parts = v.strip().split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    minor = ""
    for ch in parts[1]:
        if not ch.isdigit():
            break
        minor += ch
    return (int(parts[0]), int(minor)) if minor else None


def classify_build(meta: TorchMetadata) -> tuple[str | None, str | None, str | None]:
    """(build, cuda_version, rocm_version): from torch/version.py's cuda/hip/xpu strings when recorded (NGC
    and source builds carry no +cuXYZ tag), else from the version's local tag and the platform."""
    if meta.version is None:
        return None, None, None
    strings = meta.build_strings
    if strings is not None:
        if strings.get("hip"):
            return "rocm", None, _rocm_from_hip(str(strings["hip"]), meta.version)
        if strings.get("cuda"):
            mm = _major_minor(str(strings["cuda"]))
            return "cuda", f"{mm[0]}.{mm[1]}" if mm else strings["cuda"], None
        if strings.get("xpu"):
            return "xpu", None, None
        if meta.system == "darwin" and meta.machine == "arm64":
            return "mps", None, None
        return "cpu", None, None
    _, _, local = meta.version.partition("+")
    local = local.lower()
    for plain in ("cpu", "xpu"):  # "+cpu", "+cpu.cxx11.abi", "+xpu"
        if local.startswith(plain):
            return plain, None, None
    if local.startswith("cu") and local[2:].isdigit() and len(local) >= 4:  # cu121 -> 12.1, cu118 -> 11.8
        return "cuda", f"{int(local[2:-1])}.{local[-1]}", None
    if local.startswith("rocm"):
        return "rocm", None, local[4:] or None
    if local:
        return local, None, None
    # a plain version: the PyPI wheel for this platform
    cuda = _cuda_from_packages(meta)
    if meta.system.startswith("linux") and (meta.machine in ("x86_64", "amd64", "") or cuda):
        return "cuda", cuda, None
    if meta.system == "darwin" and meta.machine == "arm64":
        return "mps", None, None
    return "cpu", None, None


def _rocm_from_hip(hip: str, version: str) -> str | None:
    """The ROCm release: the wheel tag's ("+rocm6.2") when there is one, else HIP's major.minor (HIP and
    ROCm share them: HIP 6.2.41133 ships in ROCm 6.2)."""
    local = version.partition("+")[2].lower()
    if local.startswith("rocm") and local[4:]:
        return local[4:]
    mm = _major_minor(hip)
    return f"{mm[0]}.{mm[1]}" if mm else None


def _cuda_from_packages(meta: TorchMetadata) -> str | None:
    for name in _CUDA_RUNTIME_PACKAGES:
        if name in meta.packages:
            mm = _major_minor(meta.packages[name])
            if mm:
                return f"{mm[0]}.{mm[1]}"
    for req in meta.requires:  # "nvidia-cuda-runtime-cu12==12.4.127; platform_system == 'Linux' ..."
        m = re.match(r"\s*(nvidia-cuda-runtime(?:-cu\d+)?)\s*==\s*([0-9.]+)", req)
        if m:
            mm = _major_minor(m.group(2))
            if mm:
                return f"{mm[0]}.{mm[1]}"
    return None


def _driver_cuda(nvml_fields: Mapping[str, NvmlGpu] | str | None) -> str | None:
    if isinstance(nvml_fields, str):  # the driver's CUDA version itself ("12.2"), as docs/internals.md has it
        return nvml_fields
    for f in (nvml_fields or {}).values():
        v = f.cuda_driver_version
        if isinstance(v, str):
            return v
    return None


def read_torch_info(
    gpus: Sequence[Gpu],
    nvml_fields: Mapping[str, NvmlGpu] | str | None = None,
    meta: TorchMetadata | None = None,
    *,
    driver_unusable: str | None = None,
) -> TorchInfo:
    """The torch build held against the hardware: what it can use here, and why not more."""
    if meta is None:
        meta = read_torch_metadata()
    build, cuda, rocm = classify_build(meta)
    if meta.version is None:
        return TorchInfo(
            installed=False,
            usable_devices=(),
            messages=("torch not installed: `pip install torch` (detect still reports the hardware)",),
        )
    msgs: list[str] = []
    usable = ["cpu"]
    real = [g for g in gpus if g.kind != "virtual" and g.kind != "bmc"]
    nvidia = [g for g in real if g.vendor == "nvidia"]
    amd = [g for g in real if g.vendor == "amd"]
    intel = [g for g in real if g.vendor == "intel"]

    if nvidia:
        if build in NVIDIA_BUILDS and driver_unusable is not None:
            msgs.append(f"CUDA cannot start here: {driver_unusable}; reboot, or reload the driver")
        elif build in NVIDIA_BUILDS:
            driver = _driver_cuda(nvml_fields)
            need, have = _major_minor(cuda or ""), _major_minor(driver or "")
            if need and have and have < need:
                if have[0] < need[0]:
                    msgs.append(
                        f"the driver supports CUDA {driver} but this torch needs {cuda}: "
                        f"update the NVIDIA driver, or install a torch built for CUDA {driver}"
                    )
                else:
                    usable.append("cuda")
                    msgs.append(
                        f"the driver supports CUDA {driver} but this torch needs {cuda}: it may run through "
                        "CUDA minor-version compatibility (no PTX JIT); updating the driver is safer"
                    )
            else:
                usable.append("cuda")
                if not have:
                    msgs.append(
                        f"NVIDIA GPU present; CUDA {cuda or '?'} build; driver CUDA version unknown (no NVML)"
                    )
                else:
                    msgs.append(
                        f"CUDA {cuda or '?'} build; the driver supports CUDA {driver}: torch can use the GPU"
                    )
        elif build in AMD_GPU_BUILDS:
            msgs.append("NVIDIA GPU present but this torch is a ROCm (AMD) build: install a CUDA build")
        else:
            msgs.append(
                f"NVIDIA GPU present but this torch is {'CPU-only' if build == 'cpu' else f'{build}-only'}: "
                "install a CUDA build (see pytorch.org/get-started)"
            )
    if amd:
        discrete = [g for g in amd if g.kind == "discrete"]
        if build in AMD_GPU_BUILDS:
            if discrete:
                if "cuda" not in usable:
                    usable.append("cuda")
                msgs.append(f"ROCm {rocm} build: AMD GPUs appear to torch as 'cuda' devices")
            else:
                msgs.append(
                    f"{amd[0].name} is integrated: ROCm supports few APUs; "
                    "torch may not see it (HSA_OVERRIDE_GFX_VERSION is unsupported territory)"
                )
        else:
            for g in amd:
                what = "integrated" if g.kind == "integrated" else "discrete"
                msgs.append(
                    f"{g.name} is an AMD {what} GPU: PyTorch can use it only through a ROCm build (Linux)"
                )
    for g in intel:
        label = g.name if not re.fullmatch(r"[0-9a-f?]{4}:[0-9a-f?]{4}", g.name) else f"Intel GPU {g.name}"
        if build in INTEL_GPU_BUILDS:
            if "xpu" not in usable:
                usable.append("xpu")
            msgs.append(f"{label}: usable through this XPU build if Intel's GPU driver supports it")
        elif g.kind == "integrated":
            msgs.append(f"{label} is integrated: PyTorch can use it only through an XPU build")
        else:
            msgs.append(f"{label} is an Intel discrete GPU: PyTorch can use it only through an XPU build")
    if build in APPLE_GPU_BUILDS and meta.system == "darwin":
        usable.append("mps")
    if usable == ["cpu"]:
        msgs.append(NO_ACCELERATOR)
    return TorchInfo(
        installed=True,
        version=meta.version,
        build=build,
        cuda_version=cuda,
        rocm_version=rocm,
        usable_devices=tuple(usable),
        messages=tuple(_dedupe(msgs)),
    )


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
