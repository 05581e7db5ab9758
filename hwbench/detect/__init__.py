"""`hwbench detect`: what is in this box and what PyTorch can use of it, in well under 0.15 s.

Facade over one collector per source (cpu, memory, pci, nvml, torchinfo). Every source runs in its own
try: one failure becomes a line in `System.warnings`, never a crash. `dump(dest)` records everything detect
reads into a folder laid out like the machine's root (proc/, sys/) plus `nvml.json` (an NVML call
recording) and `torch.json` (package metadata); `replay(src)` runs the very same code with root=src.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwbench.errors import InputError, one_line
from hwbench.model import Cpu, Gpu, Memory, NvmlGpu, PciFunction, System, TorchInfo

if TYPE_CHECKING:
    from hwbench.detect.macos import MacInventory
    from hwbench.detect.pciids import PciIds
    from hwbench.detect.torchinfo import TorchMetadata

NVIDIA = 0x10DE
WSL_VIRTUAL_GPU = (0x1414, 0x008E)  # Microsoft's paravirtual GPU: WSL2's stand-in for the host's GPUs
DUMP_MARKER = "hwbench-dump.json"
MAC_SYSCTL_FILE = "sysctl.txt"  # a Mac's recording (detect.macos.SYSCTL_FILE, which a test holds equal)
NVML_RECORDING = "nvml.json"
TORCH_METADATA = "torch.json"


def _read_user_file(path: Path, what: str) -> str:
    from hwbench.userfile import read_regular_bytes

    # saved command output may hold stray bytes (a non-UTF-8 locale): replaced, not refused
    return read_regular_bytes(Path(path), f"{what} file").decode("utf-8", errors="replace")


def _os_string(root: Path) -> str | None:
    try:
        version = (root / "proc/version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parts = version.split()
    if parts[:2] != ["Linux", "version"] or len(parts) < 3:
        return None
    wsl = " (WSL2)" if "WSL2" in version else (" (WSL)" if "microsoft" in version.lower() else "")
    return f"Linux {parts[2]}{wsl}"


def _join_nvml(gpus: list[Gpu], fields: dict[str, NvmlGpu]) -> list[Gpu]:
    """Attach NVML fields to PCI GPUs by bus id; GPUs NVML sees but PCI did not are added from NVML."""
    out = []
    seen = set()
    for g in gpus:
        f = fields.get(g.pci_slot)
        if f is None:
            out.append(g)
            continue
        seen.add(g.pci_slot)
        name: str = g.name
        nvml_name = f.name
        if isinstance(nvml_name, str) and nvml_name.strip():
            # NVML names the exact product ("NVIDIA GH200 480GB" where pci.ids says "GH200 120GB / 480GB");
            # the die comes from the PCI name
            from hwbench.detect.pciids import with_die

            name = with_die(nvml_name.strip(), g.name)
        out.append(dataclasses.replace(g, nvml=f, name=name))
    for bus, f in fields.items():
        if bus in seen:
            continue
        nname = f.name
        dev = f.pci_device_id
        out.append(
            Gpu(
                pci_slot=bus,
                vendor="nvidia",
                kind="discrete",
                name=nname if isinstance(nname, str) else "NVIDIA GPU",
                vendor_id="0x10de",
                device_id=dev if isinstance(dev, str) else "unknown",
                pci_class="unknown",
                kind_evidence="seen by NVML only (no PCI data): NVIDIA GPUs are discrete devices",
                nvml=f,
            )
        )
    return out


def detect_system(
    root: Path = Path("/"),
    lspci_file: Path | None = None,
    cpuinfo_file: Path | None = None,
    nvml: bool = True,
    *,
    nvml_module: Any = None,
    torch_meta: TorchMetadata | None = None,
    source: str | None = None,
) -> System:
    """The inventory. `lspci_file`/`cpuinfo_file` parse saved outputs instead of reading this machine
    (then only the given sources are reported); unreadable or non-lspci files raise InputError."""
    root = Path(root)
    warnings: list[str] = []
    saved = lspci_file is not None or cpuinfo_file is not None

    mac = _detect_mac(root, saved, warnings)
    if mac is not None:  # no /proc, sysfs or lspci: sysctl and the IORegistry say what there is
        cpu, memory, pci_seen = mac.cpu, mac.memory, False
        functions: list[PciFunction] = []
        gpus: list[Gpu] = [mac.gpu] if mac.gpu is not None else []
    else:
        cpu = _detect_cpu(root, cpuinfo_file, saved, warnings)
        memory = None if saved else _detect_memory(root, warnings)
        functions, gpus, pci_seen = _detect_pci(root, lspci_file, saved, warnings)

    # --- AMD telemetry (amdgpu's sysfs files beside the PCI device; amdsmi is for live sampling)
    if not saved and any(g.vendor == "amd" for g in gpus):
        gpus = _join_amdgpu(gpus, root)

    # --- torch package metadata: read before NVML, whose reading a CUDA build calls for
    if torch_meta is None and not saved:
        try:
            from hwbench.detect.torchinfo import read_torch_metadata

            torch_meta = read_torch_metadata()
        except Exception as e:
            warnings.append(f"torch metadata not read: {one_line(e)}")

    # --- NVML (only where an NVIDIA GPU may be: pynvml's import and nvmlInit cost time). /sys does not
    # show every NVIDIA GPU: WSL2 shows Microsoft's virtual GPU 1414:008e (and /dev/dxg), containers may
    # hide the PCI tree, and a CUDA build of torch says the user expects one.
    nvml_fields: dict[str, NvmlGpu] = {}
    nvidia_seen = any(f.vendor_id == NVIDIA for f in functions)
    wsl_gpu = any((f.vendor_id, f.device_id) == WSL_VIRTUAL_GPU for f in functions)
    wsl_gpu = wsl_gpu or (root / "dev/dxg").exists()
    no_gpu_seen = not any(g.kind in ("discrete", "integrated") for g in gpus)
    cuda_build = _is_cuda_build(torch_meta)
    maybe_nvidia = nvidia_seen or wsl_gpu or not pci_seen or (cuda_build and no_gpu_seen)
    driver_unusable: str | None = None
    if nvml and not saved and mac is None and maybe_nvidia:  # macOS has had no NVIDIA driver since 10.13
        if nvml_module is None and root != Path("/"):
            if nvidia_seen:
                warnings.append("no NVML recording in this dump: NVIDIA details not shown")
        else:
            nvml_fields, driver_unusable = _read_nvml(nvml_module, nvidia_seen, wsl_gpu, pci_seen, warnings)
        if nvml_fields:
            gpus = _join_nvml(gpus, nvml_fields)

    # --- torch, from package metadata
    try:
        from hwbench.detect.torchinfo import read_torch_info

        torch = read_torch_info(gpus, nvml_fields, torch_meta, driver_unusable=driver_unusable)
    except Exception as e:
        torch = TorchInfo(installed=False, messages=(f"torch build unknown: {one_line(e)}",))
        warnings.append(f"torch build not read: {one_line(e)}")
    if not torch.installed:
        warnings.append("torch not installed: what PyTorch could use is not known")

    if saved:
        given = " and ".join(
            f"--{n} {p}" for n, p in (("lspci", lspci_file), ("cpuinfo", cpuinfo_file)) if p is not None
        )
        src = f"saved outputs: {given}"
        missing = [w for w, p in (("CPU", cpuinfo_file), ("GPUs", lspci_file)) if p is None]
        if missing:
            warnings.append(f"{' and '.join(missing)} not shown: only the saved outputs given are parsed")
    else:
        src = source or ("this machine" if root == Path("/") else f"tree at {root}")
    return System(
        cpu=cpu,
        memory=memory,
        gpus=tuple(gpus),
        torch=torch,
        warnings=tuple(warnings),
        source=src,
        os=None if saved else mac.os if mac is not None else _os_string(root),
    )


def _read_nvml(
    nvml_module: Any, nvidia_seen: bool, wsl_gpu: bool, pci_seen: bool, warnings: list[str]
) -> tuple[dict[str, NvmlGpu], str | None]:
    """NVML's fields per bus id, and why no CUDA program can use the driver (None when it can, or
    when NVML cannot say); what could not be read goes into `warnings`, worded for where it was."""
    try:
        from hwbench.detect.nvml import read_nvml_reading

        reading = read_nvml_reading(nvml_module)
    except Exception as e:
        warnings.append(f"no NVML: {one_line(e)}")
        return {}, None
    if wsl_gpu and not reading.started:
        warnings.append(reading.warnings[0] + " (WSL2: the GPU is seen only through NVML)")
    elif nvidia_seen or reading.started:
        warnings.extend(reading.warnings)
    elif not pci_seen:
        warnings.append(reading.warnings[0] + " (no PCI data either: NVIDIA GPUs, if any, not seen)")
    return reading.fields, reading.driver_unusable


def _detect_mac(root: Path, saved: bool, warnings: list[str]) -> MacInventory | None:
    """On a Mac (or a recording of one) the inventory from sysctl and ioreg; None elsewhere."""
    if saved:
        return None
    # checked before importing the module: Linux runs of detect never pay for it
    if not (sys.platform == "darwin" and root == Path("/")) and not (root / MAC_SYSCTL_FILE).is_file():
        return None
    from hwbench.detect.macos import read_macos

    mac = read_macos(root)
    warnings.extend(mac.warnings)
    return mac


def this_cpu() -> Cpu:
    """This machine's CPU alone (what a CPU peak needs): sysctl on a Mac, else /proc/cpuinfo and sysfs,
    else py-cpuinfo."""
    from hwbench.detect.macos import is_macos, read_macos

    if is_macos(Path("/")):
        cpu = read_macos(Path("/")).cpu
        if cpu is not None:
            return cpu
    from hwbench.detect.cpu import read_cpu

    return read_cpu()


def _detect_cpu(root: Path, cpuinfo_file: Path | None, saved: bool, warnings: list[str]) -> Cpu | None:
    if cpuinfo_file is not None:
        from hwbench.detect.cpu import parse_cpu_text

        return parse_cpu_text(_read_user_file(cpuinfo_file, "--cpuinfo"), str(cpuinfo_file))
    if saved:
        return None
    try:
        from hwbench.detect.cpu import read_cpu

        return read_cpu(root)
    except OSError:
        warnings.append(f"no CPU information: {root / 'proc/cpuinfo'} unreadable")
    except Exception as e:
        warnings.append(f"no CPU information: {one_line(e)}")
    return None


def _detect_memory(root: Path, warnings: list[str]) -> Memory | None:
    try:
        from hwbench.detect.memory import read_memory

        return read_memory(root)
    except OSError:
        warnings.append(f"no memory information: {root / 'proc/meminfo'} unreadable")
    except Exception as e:
        warnings.append(f"no memory information: {one_line(e)}")
    return None


def _detect_pci(
    root: Path, lspci_file: Path | None, saved: bool, warnings: list[str]
) -> tuple[list[PciFunction], list[Gpu], bool]:
    """(PCI functions, GPUs among them, whether any PCI data was seen) from lspci text or sysfs."""
    if lspci_file is not None:
        from hwbench.detect.pci import classify_gpus, parse_lspci

        listed = parse_lspci(_read_user_file(lspci_file, "--lspci"))  # InputError on non-lspci text
        return listed, classify_gpus(listed, _pci_ids(root)), True
    if saved:
        return [], [], False
    functions: list[PciFunction] = []
    try:
        from hwbench.detect.pci import classify_gpus, read_sysfs_pci

        functions = read_sysfs_pci(root)
        if functions:
            return functions, classify_gpus(functions, _pci_ids(root)), True
        warnings.append(f"no sysfs: GPUs not seen ({root / 'sys/bus/pci/devices'} is empty or unreadable)")
    except Exception as e:  # the functions read before a failure still count as PCI data seen
        warnings.append(f"no sysfs: GPUs not seen ({one_line(e)})")
    return functions, [], bool(functions)


def wsl_or_cuda(root: Path, meta: TorchMetadata | None) -> bool:
    """Whether NVML should be asked although /sys shows no NVIDIA device: WSL2, or a CUDA build of torch."""
    return (root / "dev/dxg").exists() or _is_cuda_build(meta)


def _is_cuda_build(meta: TorchMetadata | None) -> bool:
    from hwbench.detect.torchinfo import NVIDIA_BUILDS, classify_build

    try:
        return meta is not None and classify_build(meta)[0] in NVIDIA_BUILDS
    except Exception:  # an odd version.py never stops detection: NVML is then asked only where /sys shows it
        return False


def _join_amdgpu(gpus: list[Gpu], root: Path) -> list[Gpu]:
    """Attach amdgpu's sysfs telemetry to the AMD GPUs that have it (the driver bound, files readable)."""
    from hwbench.detect.amdgpu import SYSFS_PCI, read_amdgpu

    out = []
    for g in gpus:
        dev = root / SYSFS_PCI / g.pci_slot
        if g.vendor == "amd" and ((dev / "pp_dpm_sclk").exists() or (dev / "mem_info_vram_total").exists()):
            g = dataclasses.replace(g, telemetry=read_amdgpu(g.pci_slot, root))
        out.append(g)
    return out


def _pci_ids(root: Path) -> PciIds | None:
    """The pci.ids of the machine read: this host's, or the copy a recording carries. A recording is not
    named from the replaying host's file (that describes other software, and would make a replay differ
    from host to host); the GPU subset hwbench ships names what either lacks."""
    try:
        from hwbench.detect.pciids import PciIds

        return PciIds.find(root)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------ dump / replay
_CPU_DIR = "sys/devices/system/cpu"
_CPU_FILES = (
    "topology/physical_package_id",
    "topology/thread_siblings_list",
    "topology/core_cpus_list",
    "topology/core_id",
    "cpufreq/cpuinfo_max_freq",
)
_CACHE_FILES = ("level", "type", "size", "shared_cpu_list")


def _copy(root: Path, dest: Path, rel: str, transform: Any = None) -> bool:
    try:
        data = (root / rel).read_bytes()
    except OSError:
        return False
    if transform is not None:
        data = transform(data)
    out = dest / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return True


def _status_cpus_only(data: bytes) -> bytes:
    # /proc/self/status also holds uids and the process name: keep only what replay reads
    return b"".join(line + b"\n" for line in data.splitlines() if line.startswith(b"Cpus_allowed"))


def dump(dest: Path, root: Path = Path("/")) -> Path:
    """Record everything detect reads from `root` into `dest` (a folder that `replay` reads back).

    `dest` is a new or empty folder, or an earlier dump (replaced). The recording is written into a
    temporary folder beside it and renamed into place, so a failed write (read-only or full file
    system) leaves no partial dump; it is an InputError (exit 2), as is a `dest` that is a file or a
    folder holding anything else (its files would be silently replaced).
    """
    import os
    import shutil
    import tempfile

    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"--dump {dest}: exists and is not a folder", hint="give a new folder name")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / DUMP_MARKER).is_file():
        raise InputError(
            f"--dump {dest}: the folder is not empty and is not an hwbench dump",
            hint="give a new or empty folder (an earlier dump is replaced)",
        )
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=parent))
    except OSError as e:
        raise InputError(
            f"--dump {dest}: cannot write there ({e.strerror or e})",
            hint="check the path and its permissions, or choose another folder",
        ) from None
    try:
        _record(tmp, root)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the dump from whoever gets it
        if dest.is_dir():
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(
            f"--dump {dest}: could not write the recording ({e.strerror or e})",
            hint="free space on that file system or choose another folder",
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _record(dest: Path, root: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    from hwbench.detect.macos import dump_macos, is_macos

    mac = is_macos(root)
    if mac and root == Path("/"):
        dump_macos(dest)
    for rel in ("proc/cpuinfo", "proc/meminfo", "proc/version", "proc/self/cgroup"):
        _copy(root, dest, rel)
    _copy(root, dest, "proc/self/status", _status_cpus_only)
    cpu_root = root / _CPU_DIR
    for rel in ("online", "possible", "present"):
        _copy(root, dest, f"{_CPU_DIR}/{rel}")
    try:
        cpu_names = [p.name for p in cpu_root.iterdir() if re.fullmatch(r"cpu\d+", p.name)]
    except OSError:
        cpu_names = []
    for name in cpu_names:
        for rel in _CPU_FILES:
            _copy(root, dest, f"{_CPU_DIR}/{name}/{rel}")
        try:
            indices = [p.name for p in (cpu_root / name / "cache").iterdir() if p.name.startswith("index")]
        except OSError:
            indices = []
        for idx in indices:
            for rel in _CACHE_FILES:
                _copy(root, dest, f"{_CPU_DIR}/{name}/cache/{idx}/{rel}")
    try:
        nodes = [
            p.name for p in (root / "sys/devices/system/node").iterdir() if re.fullmatch(r"node\d+", p.name)
        ]
    except OSError:
        nodes = []
    for node in nodes:
        _copy(root, dest, f"sys/devices/system/node/{node}/cpulist")
    for rel in (
        "sys/devices/cpu_core/cpus",
        "sys/devices/cpu_atom/cpus",
        "sys/hypervisor/type",
        "sys/devices/virtual/dmi/id/sys_vendor",
        "sys/devices/virtual/dmi/id/product_name",
        "sys/devices/system/clocksource/clocksource0/available_clocksource",
    ):
        _copy(root, dest, rel)
    _dump_cgroup(root, dest)
    try:
        from hwbench.detect.pci import dump_sysfs_pci

        dump_sysfs_pci(root, dest)
    except Exception as e:
        (dest / "pci-dump-error.txt").write_text(one_line(e) + "\n", encoding="utf-8")
    notes: list[str] = []
    try:
        from hwbench.detect.pci import read_sysfs_pci

        functions = read_sysfs_pci(root)
        nvidia = any(f.vendor_id in (NVIDIA, WSL_VIRTUAL_GPU[0]) for f in functions)
        amd = [f.slot for f in functions if f.vendor_id == 0x1002]
    except Exception:
        nvidia, amd = True, []
    if (root / "dev/dxg").exists():  # WSL2's GPU paravirtualization device: replay must know it was there
        (dest / "dev").mkdir(exist_ok=True)
        (dest / "dev/dxg").write_bytes(b"")
    try:
        from hwbench.detect.amdgpu import dump_amdgpu

        dump_amdgpu(root, dest, amd)
    except Exception as e:
        notes.append(f"AMD telemetry not recorded: {one_line(e)}")
    from hwbench.detect.torchinfo import read_torch_metadata

    no_pci = not (root / "sys/bus/pci/devices").exists()
    if not mac and (nvidia or wsl_or_cuda(root, read_torch_metadata()) or no_pci):
        from hwbench.detect.nvml import read_nvml

        record: dict[str, Any] = {"source": "hwbench detect --dump"}
        _, nvml_warnings = read_nvml(None, record=record)
        notes.extend(nvml_warnings)
        (dest / NVML_RECORDING).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    from hwbench.detect.torchinfo import read_torch_metadata

    (dest / TORCH_METADATA).write_text(
        json.dumps(read_torch_metadata().to_json(), indent=1) + "\n", encoding="utf-8"
    )
    from hwbench import __version__

    marker = {
        "format": "hwbench-dump/1",
        "hwbench_version": __version__,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "root": str(root),
        "notes": notes,
    }
    (dest / DUMP_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def _dump_cgroup(root: Path, dest: Path) -> None:
    try:
        text = (root / "proc/self/cgroup").read_text(encoding="utf-8")
    except OSError:
        return
    for line in text.splitlines():
        if not line.startswith("0::"):
            continue
        parts = [p for p in line[3:].strip().split("/") if p and p != ".."]
        for depth in range(len(parts) + 1):
            d = "/".join(["sys/fs/cgroup", *parts[:depth]])
            for name in ("cpu.max", "cpuset.cpus.effective"):
                _copy(root, dest, f"{d}/{name}")


_REDUMP = "record the machine again with `hwbench detect --dump DIR`"


def replay(src: Path, nvml: bool = True) -> System:
    """The System that `dump` recorded in `src`, through the same code path (root=src)."""
    src = Path(src)
    if not (src / DUMP_MARKER).is_file() and not (src / "proc/cpuinfo").is_file():
        raise InputError(
            f"{src} is not an hwbench dump (no {DUMP_MARKER} nor proc/cpuinfo)",
            hint="make one with `hwbench detect --dump DIR`",
        )
    _only_regular_files(src)
    nvml_module = None
    rec = src / NVML_RECORDING
    if rec.is_file():
        from hwbench.detect.nvml import FakeNvml

        try:
            recording = json.loads(rec.read_text(encoding="utf-8"))
        except RecursionError:
            raise InputError(f"NVML recording {rec} is nested too deeply to be one", hint=_REDUMP) from None
        except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise InputError(f"cannot read NVML recording {rec}: {e}", hint=_REDUMP) from None
        if not isinstance(recording, dict):
            raise InputError(f"NVML recording {rec} is not a JSON object", hint=_REDUMP)
        nvml_module = FakeNvml(recording)
    from hwbench.detect.torchinfo import TorchMetadata

    meta_file = src / TORCH_METADATA
    try:
        raw = json.loads(meta_file.read_text(encoding="utf-8"))
    except OSError:
        raw = {}
    except RecursionError:
        raise InputError(f"{meta_file} is nested too deeply to be torch metadata", hint=_REDUMP) from None
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"cannot read {meta_file}: {e}", hint=_REDUMP) from None
    if not isinstance(raw, dict):
        raise InputError(f"{meta_file} is not a JSON object (it holds a {type(raw).__name__})", hint=_REDUMP)
    try:
        meta = TorchMetadata.from_json(raw)
    except (TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{meta_file} is not torch metadata ({type(e).__name__})", hint=_REDUMP) from None
    return detect_system(
        root=src,
        nvml=nvml,
        nvml_module=nvml_module,
        torch_meta=meta,
        source=f"replay of {src}",
    )


_MAX_DUMP_ENTRIES = 200_000  # a dump of a 256-CPU machine with 8 GPUs holds a few thousand


def _only_regular_files(src: Path) -> None:
    """Refuse a recording holding anything but folders and regular files (links may point at either,
    inside or outside it): a FIFO would block a read forever, a device never end one."""
    import os
    import stat

    from hwbench.userfile import DEFAULT_LIMIT

    seen = 0
    for folder, dirs, files in os.walk(src):
        for name in files + dirs:
            seen += 1
            path = os.path.join(folder, name)
            try:
                mode = os.stat(path).st_mode
            except OSError:  # a dangling link: detect treats it as missing, as on a live machine
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise InputError(
                    f"{path} in the recording is not a regular file (a FIFO, socket or device)",
                    hint="replay reads what `hwbench detect --dump DIR` wrote; remove that entry",
                )
            if stat.S_ISREG(mode) and os.stat(path).st_size > DEFAULT_LIMIT:
                raise InputError(
                    f"{path} in the recording is larger than any file a dump holds",
                    hint="replay reads what `hwbench detect --dump DIR` wrote; remove that file",
                )
        if seen > _MAX_DUMP_ENTRIES:
            raise InputError(
                f"{src} holds more than {_MAX_DUMP_ENTRIES} entries: not an hwbench dump",
                hint="give the folder `hwbench detect --dump DIR` wrote",
            )


__all__ = ["detect_system", "dump", "replay"]


class _CallableDetect(types.ModuleType):
    """This package is also the public `hwbench.detect()`: `import hwbench.detect` keeps working for
    its functions, and calling the module runs the inventory. Python binds `hwbench.detect` to this
    module whenever it is imported, so a separate function of the same name would be replaced by it."""

    def __call__(
        self,
        root: Path = Path("/"),
        lspci_file: Path | None = None,
        cpuinfo_file: Path | None = None,
        nvml: bool = True,
    ) -> System:
        return detect_system(root, lspci_file, cpuinfo_file, nvml)


sys.modules[__name__].__class__ = _CallableDetect
