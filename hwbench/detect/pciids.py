"""Names for PCI ids from the system's pci.ids (pciutils/hwdata), looked up lazily, and from the GPU
subset of pci.ids that hwbench ships (data/gpu_pci.ids) where the host has none or an older one.

`hwbench detect` has a 0.15 s budget including Python start-up, so the 1.3+ MB file is never parsed
into dicts: it is read once as bytes on the first lookup, and each lookup scans for just the vendor
line and then the device line inside that vendor's block (a few `bytes.find` calls).

pci.ids format (https://pci-ids.ucw.cz/): a vendor line is `vvvv  Name` at the start of a line, its
devices follow as `\\tdddd  Name`, subsystems as `\\t\\tssss ssss  Name`; `#` starts a comment; the
device-class section at the end starts with `C xx  Name` lines. Ids are lower-case hex.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

# Where distributions install it: Debian/Ubuntu (pciutils) /usr/share/misc, Fedora/Arch (hwdata)
# /usr/share/hwdata, some others /usr/share. Compressed copies exist on a few (e.g. older SUSE).
CANDIDATES: tuple[str, ...] = (
    "usr/share/misc/pci.ids",
    "usr/share/hwdata/pci.ids",
    "usr/share/pci.ids",
    "usr/share/misc/pci.ids.gz",
    "usr/share/hwdata/pci.ids.gz",
    "usr/share/pci.ids.gz",
)

_VENDOR_LINE = rb"\n[0-9a-fA-F]{4}  |\nC [0-9a-fA-F]{2}  "  # compiled on first lookup (re caches it)

# The shipped subset: pci.ids' display/3D/accelerator devices of the GPU vendors hwbench classifies, in
# pci.ids' own format (its header says which snapshot, and the 3-clause BSD licence hwbench takes it
# under). scripts/gen_gpu_pci_ids.py regenerates it.
BUNDLED = Path(__file__).resolve().parent / "data" / "gpu_pci.ids"
# "AD102 [GeForce RTX 4090]": the die, then the marketing name in the final brackets.
_CHIP_AND_NAME = re.compile(r"^(?P<chip>[^\[\]]+?) \[(?P<name>[^\[\]]+)\]$")
_TRAILING_DIE = re.compile(r" \(([^()]+)\)$")  # what marketing_name put last: "... (GH100)"


class PciIds:
    """A pci.ids file; `vendor_name`/`device_name` return None for ids it does not list."""

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        self._data = data
        self._vendor_cache: dict[int, int | None] = {}

    @classmethod
    def find(cls, root: Path = Path("/")) -> PciIds | None:
        """The first pci.ids under `root` (a recorded tree or "/"); None when there is none."""
        for rel in CANDIDATES:
            path = root / rel
            if path.is_file():
                return cls(path)
        return None

    @classmethod
    def from_text(cls, text: str, path: Path = Path("<text>")) -> PciIds:
        return cls(path, text.encode("utf-8"))

    def _bytes(self) -> bytes:
        if self._data is None:
            try:
                raw = self.path.read_bytes()
                if self.path.suffix == ".gz":
                    import gzip  # only for the rare compressed copy

                    raw = gzip.decompress(raw)
            except (OSError, EOFError, ValueError):  # unreadable or corrupt: no names, never a crash
                raw = b""
            # A leading newline lets every line, the first included, be found as b"\n" + key.
            self._data = b"\n" + raw
        return self._data

    def _vendor_start(self, vendor_id: int) -> int | None:
        """Offset of the vendor's line (its leading newline), or None."""
        if vendor_id in self._vendor_cache:
            return self._vendor_cache[vendor_id]
        start: int | None = None
        if 0 <= vendor_id <= 0xFFFF:
            pos = self._bytes().find(b"\n%04x  " % vendor_id)
            start = pos if pos >= 0 else None
        self._vendor_cache[vendor_id] = start
        return start

    def _same_block(self, start: int, end: int) -> bool:
        """No vendor line (nor the class section) between start and end.

        Inside a vendor block every line starts with a tab or '#': counting newlines at C speed is exact
        and ~100x faster than scanning the block with a regex; only when the counts disagree (a blank line,
        or really another vendor) does the regex decide.
        """
        data = self._bytes()
        lines = data.count(b"\n", start + 1, end)
        if lines == data.count(b"\n\t", start + 1, end) + data.count(b"\n#", start + 1, end):
            return True
        return re.compile(_VENDOR_LINE).search(data, start + 1, end) is None

    def vendor_name(self, vendor_id: int) -> str | None:
        start = self._vendor_start(vendor_id)
        if start is None:
            return None
        data = self._bytes()
        end = data.find(b"\n", start + 7)  # b"\nvvvv  "
        return _decode(data[start + 7 : end if end >= 0 else len(data)])

    def device_name(self, vendor_id: int, device_id: int) -> str | None:
        start = self._vendor_start(vendor_id)
        if start is None or not 0 <= device_id <= 0xFFFF:
            return None
        data = self._bytes()
        # The first such line after the vendor's is either in its block or past it (then none is in it).
        pos = data.find(b"\n\t%04x  " % device_id, start + 1)
        if pos < 0 or not self._same_block(start, pos):
            return None
        end = data.find(b"\n", pos + 8)  # b"\n\tdddd  "
        return _decode(data[pos + 8 : end if end >= 0 else len(data)])


@lru_cache(maxsize=1)
def bundled_ids() -> PciIds:
    """The GPU subset hwbench ships (one instance: its bytes are read once, on the first lookup)."""
    return PciIds(BUNDLED)


@lru_cache(maxsize=1)
def known_dies() -> frozenset[str]:
    """The die names the shipped subset puts before a product ("GH100", "GA100GL", "Aqua Vanjaram"): what
    `marketing_name` moves into the trailing parentheses, and only that, is a die."""
    dies = set()
    for line in BUNDLED.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("\t") and not line.startswith("\t\t"):
            m = _CHIP_AND_NAME.match(line[1:].split(None, 1)[-1].strip())
            if m:
                dies.add(m.group("chip").strip())
    return frozenset(dies)


def split_die(name: str) -> tuple[str, str | None]:
    """("NVIDIA GH200 480GB (GH100)") -> ("NVIDIA GH200 480GB", "GH100"): the product and the die
    `marketing_name` put after it; a trailing parenthesis that is not a known die ("(Laptop)", "(12GB)")
    stays part of the name."""
    m = _TRAILING_DIE.search(name.strip())
    if m is None or m.group(1).strip() not in known_dies():
        return name, None
    return name.strip()[: m.start()], m.group(1).strip()


def marketing_name(name: str) -> str:
    """pci.ids writes the die first and the product in brackets ("AD102 [GeForce RTX 4090]",
    "Aqua Vanjaram [Instinct MI300X]"); people know the product: "GeForce RTX 4090 (AD102)". A name
    without a final bracketed part ("Kaveri", "Virtio 1.0 GPU") is returned as it is."""
    m = _CHIP_AND_NAME.match(name.strip())
    return f"{m.group('name').strip()} ({m.group('chip').strip()})" if m else name.strip()


def with_die(product: str, shown: str) -> str:
    """Another source's product name with the die of the name shown: ("NVIDIA GH200 480GB",
    "GH200 120GB / 480GB (GH100)") -> "NVIDIA GH200 480GB (GH100)"; the product alone when the name shown
    has no die ("10de:2342")."""
    m = _TRAILING_DIE.search(shown)
    return f"{product} ({m.group(1)})" if m else product


def _decode(raw: bytes) -> str | None:
    name = raw.decode("utf-8", errors="replace").strip()
    return name or None
