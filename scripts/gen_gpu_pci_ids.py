"""Regenerate hwbench/detect/data/gpu_pci.ids: the GPU subset of pci.ids that names GPUs where the host
has no pci.ids of its own (containers, minimal images) or an older one.

Usage: python scripts/gen_gpu_pci_ids.py PATH/TO/pci.ids SOURCE [OUT]
  SOURCE says where that pci.ids came from (e.g. "github.com/pciutils/pciids@c1c12547"), for the header.

Take pci.ids from https://github.com/pciutils/pciids (file pci.ids) or https://pci-ids.ucw.cz/. The output
keeps pci.ids' own format (vendor lines, device lines; no subsystems), so hwbench reads it with the same
parser as the host's file, and it keeps the file's header (version, date, maintainers, licence).

pci.ids lists no device classes, so the subset is chosen by name, per vendor:
- the vendors of hwbench/detect/data/pci_vendors.csv except AMD's CPU/chipset id 1022;
- NVIDIA (10de): devices whose name starts with a GPU die code (NV.., G8x, GT2xx, GF/GK/GM/GP/GV/TU/GA/AD/
  GH/GB.., the nForce IGPs C51..C89, MCP IGPs named in brackets);
- AMD/ATI (1002): every device; Intel (8086) and the other vendors: names that say graphics/GPU/display;
- then, for all: no audio, USB, bus, bridge, storage or network functions of those vendors.
A function outside this subset is only missing a name: no decision in hwbench reads names.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "hwbench" / "detect" / "data"

_NVIDIA_DIE = re.compile(
    r"^(NV\d|G\d|GT\d|GF\d|GK\d|GM\d|GP\d|GV\d|TU\d|GA\d|AD\d|GH\d|GB\d|GN\d|C\d\d|MCP\w* \[|"
    r"nForce .*\[GeForce)"
)
_GRAPHICS = re.compile(
    r"Graphics|GPU|VGA|Display|Video|3D|Accelerat|Render|\bGT\d|\bIris\b|\bUHD\b|\bArc\b|\bXe\b|\bGMA\b|"
    r"\bDG\d\b|Battlemage|Alchemist|Ponte Vecchio|Data Center GPU|\bMGA\b|Millennium|Mystique|Parhelia|"
    r"\bG[2-5][05]0|QXL|SVGA|Savage|Trio|ViRGE|Chrome|Volari|Voodoo|Banshee|Velocity|\bGD ?5\d{3}|"
    r"\bMTT\b|\bDCU\b|Basic Render",
    re.IGNORECASE,
)
_NOT_GPU = re.compile(
    r"Audio|\bHDMI\b.*Audio|\bUSB\b|UCSI|\bSerial\b|SMBus|\bLPC\b|\bSATA\b|\bIDE\b|AHCI|RAID|Ethernet|"
    r"Network|Wireless|Wi-?Fi|Bluetooth|Bridge|Root (Port|Complex)|Upstream|Downstream|\bSwitch\b|"
    r"Memory Controller|\bDRAM\b|Thermal|Power Management|\bISA\b|Modem|\bSound\b|Reserved|Host Controller|"
    r"\bNVMe\b|\bSCSI\b|Crypto|Encryption|\bPCIe? Port\b|Virtio (?!1\.0 GPU|GPU)|Azalia|\bHDA\b|Xilleon|"
    r"Dummy Function|\bGNA\b",
    re.IGNORECASE,
)
_LINE_VENDOR = re.compile(r"^([0-9a-f]{4})  (.*)$")
_LINE_DEVICE = re.compile(r"^\t([0-9a-f]{4})  (.*)$")


def vendors() -> list[int]:
    """The vendor ids hwbench classifies, in pci_vendors.csv's order, without AMD's CPU id 1022."""
    with open(DATA / "pci_vendors.csv", encoding="utf-8", newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        ids = [int(r["vendor_id"], 16) for r in rows]
    return sorted({v for v in ids if v != 0x1022})


def keep(vendor_id: int, name: str) -> bool:
    if _NOT_GPU.search(name):
        return False
    if vendor_id == 0x10DE:
        return bool(_NVIDIA_DIE.match(name))
    if vendor_id == 0x1002:
        return True
    return bool(_GRAPHICS.search(name))


def subset(text: str, wanted: set[int], source: str) -> str:
    header: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    out = [*header]
    out += [
        "#",
        "#\tSubset for hwbench: the display, 3D and accelerator devices of the GPU vendors",
        "#\tthat hwbench classifies, no subsystems; made by scripts/gen_gpu_pci_ids.py",
        f"#\tfrom the pci.ids of {source}.",
        "#\thwbench takes this file under the 3-clause BSD License (one of the two",
        "#\tlicences offered above); copyright Martin Mares and Albert Pool.",
        "",
    ]
    vendor: int | None = None
    vendor_line = ""
    devices: list[str] = []

    def flush() -> None:
        if vendor is not None and devices:
            out.append(vendor_line)
            out.extend(devices)

    for line in text.splitlines():
        if line.startswith("C "):  # the device-class section ends the vendor list
            break
        m = _LINE_VENDOR.match(line)
        if m:
            flush()
            vendor, vendor_line, devices = int(m.group(1), 16), line, []
            if vendor not in wanted:
                vendor = None
            continue
        d = _LINE_DEVICE.match(line)
        if d and vendor is not None and keep(vendor, d.group(2)):
            devices.append(line)
    flush()
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    src = Path(argv[1])
    dest = Path(argv[3]) if len(argv) == 4 else DATA / "gpu_pci.ids"
    text = src.read_text(encoding="utf-8", errors="replace")
    dest.write_text(subset(text, set(vendors()), argv[2]), encoding="utf-8")
    print(f"wrote {dest} ({dest.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
