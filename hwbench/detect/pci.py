"""PCI functions from sysfs or saved `lspci` text, and which of them are GPUs of what kind.

Collect: `read_sysfs_pci(root)` reads `root/sys/bus/pci/devices/*` (no subprocess; lspci is absent in
containers and WSL), `dump_sysfs_pci(root, dest)` records exactly those files so a user can attach them to
a bug report and the recording becomes a fixture. Parse: `parse_lspci(text)` takes lspci output in any
common form, as people paste it. Classify: `classify_gpus(functions)` decides vendor and kind.

Rules that the classic scripts get wrong, and why this module looks the way it does:
- The vendor comes from the numeric vendor ID only. `'ati' in line` calls every Intel iGPU "AMD" because
  "VGA comp-ati-ble controller" contains "ati". When only plain lspci text exists, the vendor is parsed as
  the field after the class and matched WHOLE against the names in data/pci_vendors.csv.
- Display classes are 0x0300 VGA, 0x0301 XGA, 0x0302 3D controller, 0x0380 display controller:
  `grep VGA` misses every datacenter GPU (A100/H100 are "3D controller").
- "Bus 00 means integrated" is false: cloud VMs put A100s on bus 00, AMD APUs sit on buses 03..c4.
  Kind is decided per vendor from evidence (slot, device-ID tables, the upstream bridge), and every
  decision says which evidence it used (`Gpu.kind_evidence`). Names are decoration; no decision reads them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from hwbench.datafile import read_table
from hwbench.detect.pciids import PciIds, bundled_ids, marketing_name
from hwbench.errors import InputError
from hwbench.model import Gpu, GpuKind, GpuVendor, PciFunction

DATA_DIR = Path(__file__).resolve().parent / "data"
SYSFS_PCI = "sys/bus/pci/devices"

# 16-bit class codes (base class << 8 | subclass) of display devices, and lspci's names for them.
DISPLAY_CLASSES: dict[int, str] = {
    0x0300: "VGA compatible controller",
    0x0301: "XGA compatible controller",
    0x0302: "3D controller",
    0x0380: "Display controller",
}
# lspci's names for the classes that matter as evidence (bridges) besides the display ones.
_CLASS_BY_NAME: dict[str, int] = {name.lower(): code for code, name in DISPLAY_CLASSES.items()} | {
    "host bridge": 0x0600,
    "isa bridge": 0x0601,
    "pci bridge": 0x0604,
    "processing accelerators": 0x1200,
}

# Files read per function; dump_sysfs_pci copies exactly these (plus the driver/physfn links).
SYSFS_FILES: tuple[str, ...] = (
    "class",
    "vendor",
    "device",
    "subsystem_vendor",
    "subsystem_device",
    "revision",
    "boot_vga",
)
SYSFS_LINKS: tuple[str, ...] = ("driver", "physfn")


class _LazyRe:
    """A regex compiled on first use: `detect` reads sysfs and need not pay for the lspci patterns."""

    __slots__ = ("_pattern", "_rx")

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._rx: re.Pattern[str] | None = None

    def _get(self) -> re.Pattern[str]:
        if self._rx is None:
            self._rx = re.compile(self._pattern)
        return self._rx

    def match(self, text: str) -> re.Match[str] | None:
        return self._get().match(text)

    def search(self, text: str) -> re.Match[str] | None:
        return self._get().search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._get().finditer(text)


# A PCI address: optional domain (4 hex digits; 5 behind Intel VMD: 10000:e1:00.0), bus, device, function.
_SLOT = r"(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]"
_SLOT_RE = _LazyRe(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$")
# Around pasted lines: indentation, e-mail/markdown quotes, table pipes, backticks, list bullets.
_PASTE_PREFIX = " \t>|*`-+\u2022\ufeff"
_HEADER_RE = _LazyRe(r"^(" + _SLOT + r")[ \t]+(\S.*)$")
_VMM_RE = _LazyRe(r"^([A-Za-z][A-Za-z ]{0,20}):[ \t]*(.*)$")
_HEX4 = _LazyRe(r"^[0-9a-fA-F]{4}$")
_NN_IDS_RE = _LazyRe(r"\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]\s*$")
_PAIR_RE = _LazyRe(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_UNNAMED_RE = _LazyRe(r"^(?:Device )?([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_DEVICE_ONLY_RE = _LazyRe(r"^Device ([0-9a-fA-F]{4})$")
_TRAILING_CODE_RE = _LazyRe(r"^(.*?)\s*\[([0-9a-fA-F]{2,4})\]$")
_REV_RE = _LazyRe(r"\(rev ([0-9a-fA-F]{1,2})\)")
_PROGIF_RE = _LazyRe(r"\(prog-if ([0-9a-fA-F]{1,2})")
_MM_TOKEN_RE = _LazyRe(r'"([^"]*)"|(\S+)')


def normalise_slot(text: str) -> str | None:
    """'00:02.0' / '0000:00:02.0' / '10000:e1:00.0' -> full lower-case form with domain, else None."""
    m = _SLOT_RE.match(text.strip())
    if m is None:
        return None
    domain, bus, dev, fn = m.groups()
    if int(dev, 16) > 0x1F:
        return None
    return f"{(domain or '0000').lower().rjust(4, '0')}:{bus.lower()}:{dev.lower()}.{fn}"


def slot_parts(slot: str) -> tuple[str, int, int, int] | None:
    """(domain, bus, device, function) of a full-form slot."""
    m = _SLOT_RE.match(slot)
    if m is None:
        return None
    return (m.group(1) or "0000").lower(), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))


# --------------------------------------------------------------------------------------------- data tables


class _Vendor:
    __slots__ = ("gpu_vendor", "kind", "vendor_id")

    def __init__(self, vendor_id: int, gpu_vendor: GpuVendor, kind: GpuKind | None) -> None:
        self.vendor_id = vendor_id
        self.gpu_vendor = gpu_vendor
        self.kind = kind  # fixed kind for every display device of this vendor (BMCs, hypervisors)


def _read_csv(name: str) -> list[dict[str, str]]:
    return read_table(DATA_DIR / name)


@lru_cache(maxsize=1)
def _vendor_tables() -> tuple[dict[int, _Vendor], dict[str, int]]:
    """(vendor by id, vendor id by lspci name). The first row for an id or a name wins."""
    by_id: dict[int, _Vendor] = {}
    by_name: dict[str, int] = {}
    for row in _read_csv("pci_vendors.csv"):
        vid = int(row["vendor_id"], 16)
        kind = row["kind"] or None
        by_id.setdefault(vid, _Vendor(vid, row["gpu_vendor"], kind))  # type: ignore[arg-type]
        if row["name"]:
            by_name.setdefault(row["name"], vid)
    return by_id, by_name


@lru_cache(maxsize=1)
def _vendor_names_longest_first() -> tuple[str, ...]:
    return tuple(sorted(_vendor_tables()[1], key=len, reverse=True))


@lru_cache(maxsize=1)
def _amd_apu_ids() -> dict[int, str]:
    return {int(r["device_id"], 16): r["codename"] for r in _read_csv("amd_apu_ids.csv")}


@lru_cache(maxsize=1)
def _amd_apu_codenames() -> frozenset[str]:
    return frozenset(_amd_apu_ids().values())


@lru_cache(maxsize=1)
def _amd_internal_bridges() -> dict[int, str]:
    return {int(r["device_id"], 16): r["name"] for r in _read_csv("amd_apu_bridges.csv")}


@lru_cache(maxsize=1)
def _nvidia_gpu_ids() -> dict[int, tuple[str, str]]:
    return {int(r["device_id"], 16): (r["kind"], r["name"]) for r in _read_csv("nvidia_gpu_ids.csv")}


@lru_cache(maxsize=1)
def _nvidia_integrated_codenames() -> frozenset[str]:
    return frozenset(r["codename"] for r in _read_csv("nvidia_gpu_ids.csv") if r["kind"] == "integrated")


@lru_cache(maxsize=1)
def _intel_gpu_ids() -> dict[int, tuple[str, str]]:
    return {int(r["device_id"], 16): (r["kind"], r["name"]) for r in _read_csv("intel_gpu_ids.csv")}


def vendor_id_for_name(name: str) -> int | None:
    """The PCI vendor ID for a vendor name exactly as lspci prints it (whole-field match), else None."""
    return _vendor_tables()[1].get(name.strip())


def split_vendor(text: str) -> tuple[str | None, str]:
    """Split lspci's 'Vendor Device name' into (known vendor name, rest).

    The vendor is a known name that the text starts with AND that ends at a word boundary: the whole
    field, never a substring ("VGA compatible controller" contains "ati"; "Corporation" is not a vendor).
    """
    for name in _vendor_names_longest_first():
        if text.startswith(name) and (len(text) == len(name) or text[len(name)] == " "):
            return name, text[len(name) :].strip()
    return None, text.strip()


# ------------------------------------------------------------------------------------------------- sysfs


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("ascii", errors="replace").strip()
    except (OSError, ValueError):
        return None


def _read_hex(path: str) -> int | None:
    text = _read_text(path)
    if not text:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path).rstrip("/")) or None
    except (OSError, ValueError):
        return None


def read_sysfs_pci(root: Path = Path("/")) -> list[PciFunction]:
    """Every PCI function under root/sys/bus/pci/devices (bridges too: they are evidence).

    Unreadable files give None fields; no sysfs at all gives [].
    """
    base = os.path.join(root, SYSFS_PCI)
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out: list[PciFunction] = []
    for name in names:
        slot = normalise_slot(name)
        if slot is None:
            continue
        d = os.path.join(base, name)
        boot_vga = _read_text(os.path.join(d, "boot_vga"))
        out.append(
            PciFunction(
                slot=slot,
                vendor_id=_read_hex(os.path.join(d, "vendor")),
                device_id=_read_hex(os.path.join(d, "device")),
                pci_class=_read_hex(os.path.join(d, "class")),
                subsystem_vendor_id=_read_hex(os.path.join(d, "subsystem_vendor")),
                subsystem_device_id=_read_hex(os.path.join(d, "subsystem_device")),
                revision=_read_hex(os.path.join(d, "revision")),
                driver=_link_name(os.path.join(d, "driver")),
                is_virtfn=os.path.lexists(os.path.join(d, "physfn")),
                boot_vga=None if boot_vga in (None, "") else boot_vga == "1",
                upstream_bridge=_parent_slot(d),
            )
        )
    return out


def _parent_slot(device_link: str) -> str | None:
    """The parent bridge's slot from the devices/<slot> link (../../../devices/pci0000:00/<bridge>/<slot>)."""
    try:
        target = os.readlink(device_link)
    except (OSError, ValueError):
        return None
    parts = [p for p in target.split("/") if p]
    if len(parts) < 2:
        return None
    return normalise_slot(parts[-2])


def dump_sysfs_pci(root: Path, dest: Path) -> None:
    """Copy what read_sysfs_pci reads from root into dest, same layout, links kept as relative symlinks.

    read_sysfs_pci(dest) then gives the same functions as read_sysfs_pci(root). Files that cannot be
    read are left out (they read as None either way).
    """
    base = os.path.join(root, SYSFS_PCI)
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return
    dest_base = os.path.join(dest, SYSFS_PCI)
    os.makedirs(dest_base, exist_ok=True)
    root_abs = os.path.abspath(root)
    for name in names:
        if normalise_slot(name) is None:
            continue
        src = os.path.join(base, name)
        link: str | None
        try:
            link = os.readlink(src)
        except OSError:
            link = None
        target_rel: str | None = None
        if link is not None:
            real = os.path.normpath(os.path.join(os.path.abspath(base), link))
            rel = os.path.relpath(real, root_abs)
            if not rel.startswith(".."):
                target_rel = rel
        if target_rel is not None and link is not None:
            out_dir = os.path.join(dest, target_rel)
            entry = os.path.join(dest_base, name)
            rel_link = os.path.relpath(out_dir, dest_base)  # same text as the kernel's for a real tree
            if not os.path.lexists(entry):
                os.symlink(rel_link, entry)
        else:
            out_dir = os.path.join(dest_base, name)
        os.makedirs(out_dir, exist_ok=True)
        for fname in SYSFS_FILES:
            try:
                with open(os.path.join(src, fname), "rb") as f:
                    content = f.read(256)
            except OSError:
                continue
            with open(os.path.join(out_dir, fname), "wb") as f:
                f.write(content)
        for lname in SYSFS_LINKS:
            try:
                ltarget = os.readlink(os.path.join(src, lname))
            except OSError:
                continue
            out_link = os.path.join(out_dir, lname)
            if not os.path.lexists(out_link):
                os.symlink(ltarget, out_link)


# ------------------------------------------------------------------------------------------------- lspci


class _Fn:
    """A PciFunction being assembled from lspci lines (mutable; frozen at the end)."""

    __slots__ = (
        "class16",
        "class_name",
        "device_id",
        "device_name",
        "driver",
        "pci_class",
        "prog_if",
        "revision",
        "slot",
        "subsystem_device_id",
        "subsystem_vendor_id",
        "vendor_id",
        "vendor_name",
    )

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.vendor_id: int | None = None
        self.device_id: int | None = None
        self.pci_class: int | None = None
        self.class_name: str | None = None
        self.vendor_name: str | None = None
        self.device_name: str | None = None
        self.subsystem_vendor_id: int | None = None
        self.subsystem_device_id: int | None = None
        self.revision: int | None = None
        self.driver: str | None = None
        self.prog_if: int | None = None
        self.class16: int | None = None


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _name_and_code(text: str) -> tuple[str, int | None]:
    """'Intel Corporation [8086]' -> ('Intel Corporation', 0x8086); '8086' -> ('', 0x8086)"""
    text = text.strip()
    if _HEX4.match(text):
        return "", int(text, 16)
    m = _TRAILING_CODE_RE.match(text)
    if m:
        return m.group(1).strip(), int(m.group(2), 16)
    return text, None


def _set_class(fn: _Fn, text: str) -> None:
    text = text.strip()
    if text.startswith("Class "):  # lspci without pci.ids: "Class 0300" / "Class [0300]"
        text = text[6:].strip().strip("[]")
    name, code = _name_and_code(text)
    if name:
        fn.class_name = name
    if code is not None and code > 0xFF:
        fn.class16 = code  # only a numeric code sets class16: a name alone leaves pci_class unknown


def _set_vendor_device(fn: _Fn, vendor_text: str, device_text: str) -> None:
    """Fields from -mm / -vmm, where vendor and device are separate fields."""
    vname, vcode = _name_and_code(vendor_text)
    if vname.startswith("Vendor ") and _HEX4.match(vname[7:]):  # unnamed vendor: "Vendor 1234"
        vcode, vname = int(vname[7:], 16), ""
    if vcode is None and vname:
        vcode = vendor_id_for_name(vname)
    fn.vendor_id = vcode if vcode is not None else fn.vendor_id
    fn.vendor_name = vname or fn.vendor_name
    dname, dcode = _name_and_code(device_text)
    m = _DEVICE_ONLY_RE.match(dname)
    if m:  # pci.ids knows the vendor but not the device: "Device 46a6"
        dcode, dname = int(m.group(1), 16), ""
    fn.device_id = dcode if dcode is not None else fn.device_id
    fn.device_name = dname or fn.device_name


def _set_body(fn: _Fn, body: str) -> None:
    """The part after 'class:' of a plain/-n/-nn header line."""
    m = _REV_RE.search(body)
    if m:
        fn.revision = int(m.group(1), 16)
    m = _PROGIF_RE.search(body)
    if m:
        fn.prog_if = int(m.group(1), 16)
    # "(rev a1)" and "(prog-if 00 [VGA controller])" close the line; old lspci printed "[10de:0df2](rev a1)"
    # with no space, and pasted lines get cut ("(prog-i" at a line wrap, "(rev 15" without its paren).
    cut = min((i for i in (body.find("(rev "), body.find("(prog-i")) if i >= 0), default=len(body))
    body = body[:cut].strip()
    ids = _NN_IDS_RE.search(body)
    if ids:  # -nn: "... [8086:46a6]"
        fn.vendor_id, fn.device_id = int(ids.group(1), 16), int(ids.group(2), 16)
        body = body[: ids.start()].strip()
    else:
        m = _UNNAMED_RE.match(body)  # -n: "8086:46a6"; no pci.ids: "Device 8086:46a6"
        if m:
            fn.vendor_id, fn.device_id = int(m.group(1), 16), int(m.group(2), 16)
            return
    vname, rest = split_vendor(body)
    if vname is not None:
        fn.vendor_name = vname
        if fn.vendor_id is None:
            fn.vendor_id = vendor_id_for_name(vname)
        m = _DEVICE_ONLY_RE.match(rest)
        if m:
            if fn.device_id is None:
                fn.device_id = int(m.group(1), 16)
        elif rest and rest != "Device":
            fn.device_name = rest
    elif body and body != "Device":
        fn.device_name = body  # unknown vendor: keep the whole text as the name (decoration)


def _set_subsystem(fn: _Fn, text: str) -> None:
    text = text.strip()
    ids = _NN_IDS_RE.search(text)
    m = ids or _PAIR_RE.match(text)
    if m:
        fn.subsystem_vendor_id, fn.subsystem_device_id = int(m.group(1), 16), int(m.group(2), 16)


def _parse_mm(fn: _Fn, rest: str) -> None:
    """-mm: 00:02.0 "VGA compatible controller [0300]" "Intel Corporation [8086]" "Device [46a6]" -r0c -p00
    "Dell [1028]" "Device [0b19]" (with -nn; plain names without the codes; bare codes with -n)."""
    quoted: list[str] = []
    for m in _MM_TOKEN_RE.finditer(rest):
        if m.group(1) is not None:
            quoted.append(m.group(1))
        else:
            tok = m.group(2)
            if tok.startswith("-r"):
                fn.revision = _hex(tok[2:])
            elif tok.startswith("-p"):
                fn.prog_if = _hex(tok[2:])
    if quoted:
        _set_class(fn, quoted[0])
    if len(quoted) >= 3:
        _set_vendor_device(fn, quoted[1], quoted[2])
    if len(quoted) >= 5:
        _, sv = _name_and_code(quoted[3])
        _, sd = _name_and_code(quoted[4])
        fn.subsystem_vendor_id, fn.subsystem_device_id = sv, sd


def _apply_vmm(fn: _Fn, key: str, value: str) -> None:
    if key == "Class":
        _set_class(fn, value)
    elif key == "Vendor":
        _set_vendor_device(fn, value, "")
    elif key == "Device":
        dname, dcode = _name_and_code(value)
        m = _DEVICE_ONLY_RE.match(dname)
        if m:
            dcode, dname = int(m.group(1), 16), ""
        fn.device_id = dcode if dcode is not None else fn.device_id
        fn.device_name = dname or fn.device_name
    elif key == "SVendor":
        fn.subsystem_vendor_id = _name_and_code(value)[1]
    elif key == "SDevice":
        fn.subsystem_device_id = _name_and_code(value)[1]
    elif key == "Rev":
        fn.revision = _hex(value.strip())
    elif key == "ProgIf":
        fn.prog_if = _hex(value.strip())
    elif key == "Driver":
        fn.driver = value.strip() or None


_MAX_LINE = 512  # pci.ids' longest names are about 150 characters


def parse_lspci(text: str) -> list[PciFunction]:
    """PCI functions from lspci output in any common form, as pasted into bug reports.

    Forms: plain, -n, -nn, -v/-vv/-vvv, -k, -mm, -vmm, with or without -D; indented, behind a shell
    prompt, cut down with grep (with `--` separators), CRLF line endings. A slot seen twice (two outputs
    pasted together) is merged. Raises InputError when the text holds no PCI device line at all.
    """
    parts: list[_Fn] = []
    current: _Fn | None = None
    in_vmm = False

    def start(slot: str) -> _Fn:
        fn = _Fn(slot)
        parts.append(fn)
        return fn

    for raw in text.splitlines():
        if len(raw) > _MAX_LINE:  # no real lspci line comes near; a 200 KB name is cut, in linear time
            raw = raw[:_MAX_LINE] + "…"
        line = raw.strip(_PASTE_PREFIX + "\r")
        if not line or line == "--":
            in_vmm = False if not line else in_vmm
            continue
        m = _HEADER_RE.match(line)
        if m:
            slot = normalise_slot(m.group(1))
            if slot is None:
                continue
            rest = m.group(2).strip()
            in_vmm = False
            if rest.startswith('"'):
                current = start(slot)
                _parse_mm(current, rest)
                continue
            colon = rest.find(": ")
            if colon < 0 and rest.endswith(":"):
                colon = len(rest) - 1
            if colon <= 0:
                current = None
                continue
            current = start(slot)
            _set_class(current, rest[:colon])
            _set_body(current, rest[colon + 1 :].strip())
            continue
        kv = _VMM_RE.match(line)
        if kv is None:
            continue
        key, value = kv.group(1), kv.group(2).strip()
        slot = normalise_slot(value) if key in ("Slot", "Device") else None
        if slot is not None:
            # -vmm starts a record with "Slot:"; pciutils before 2.2.4 (and facter's specs) used "Device:".
            current = start(slot)
            in_vmm = True
        elif current is None:
            continue
        elif in_vmm:
            _apply_vmm(current, key, value)
        elif key == "Subsystem":
            _set_subsystem(current, value)
        elif key == "Kernel driver in use":
            current.driver = value or None

    if not parts:
        raise InputError(
            "no PCI device line found in the lspci text",
            hint="expected lines such as '00:02.0 VGA compatible controller [0300]: ...' (run `lspci -nn`)",
        )
    merged: dict[str, _Fn] = {}
    for fn in parts:
        merged[fn.slot] = _merge(merged[fn.slot], fn) if fn.slot in merged else fn
    return [_freeze(fn) for fn in merged.values()]


def _merge(old: _Fn, new: _Fn) -> _Fn:
    for name in _Fn.__slots__:
        if getattr(old, name) is None:
            setattr(old, name, getattr(new, name))
    return old


def _freeze(fn: _Fn) -> PciFunction:
    # lspci -nn shows the 16-bit class; the programming interface only with -v/-mm (0 for GPUs in practice).
    pci_class = fn.class16 << 8 | (fn.prog_if or 0) if fn.class16 is not None else None
    return PciFunction(
        slot=fn.slot,
        vendor_id=fn.vendor_id,
        device_id=fn.device_id,
        pci_class=pci_class,
        class_name=fn.class_name or DISPLAY_CLASSES.get(fn.class16 or -1),
        vendor_name=fn.vendor_name,
        device_name=fn.device_name,
        subsystem_vendor_id=fn.subsystem_vendor_id,
        subsystem_device_id=fn.subsystem_device_id,
        revision=fn.revision,
        driver=fn.driver,
    )


# ---------------------------------------------------------------------------------------------- classify


def class16(fn: PciFunction) -> int | None:
    """The 16-bit class code (0x0300...), from the number or, for plain lspci text, the class name."""
    if fn.pci_class is not None:
        return fn.pci_class >> 8
    if fn.class_name:
        return _CLASS_BY_NAME.get(fn.class_name.strip().lower())
    return None


def is_display(fn: PciFunction) -> bool:
    """A display-class function, or an AMD Instinct MI300-series GPU, which is class 1200 "Processing
    accelerators" (e.g. 1002:74a5 MI325X, apache/cloudstack#11701), not display class."""
    c = class16(fn)
    return c in DISPLAY_CLASSES or (c == 0x1200 and fn.vendor_id == 0x1002)


def _vendor_of(fn: PciFunction) -> _Vendor | None:
    if fn.vendor_id is None:
        return None
    return _vendor_tables()[0].get(fn.vendor_id)


def _is_intel_igpu_slot(slot: str) -> bool:
    p = slot_parts(slot)
    return p is not None and p[1] == 0 and p[2] == 2


def _kind(
    fn: PciFunction, vendor: _Vendor | None, by_slot: dict[str, PciFunction], display: Sequence[PciFunction]
) -> tuple[GpuKind, str]:
    vid = fn.vendor_id
    did = fn.device_id
    vtxt = f"0x{vid:04x}" if vid is not None else "unknown"
    if fn.is_virtfn:
        return "virtual", "SR-IOV virtual function (sysfs physfn link)"
    if vid == 0x8086 and _is_intel_igpu_slot(fn.slot) and not fn.slot.endswith(".0"):
        pf = by_slot.get(fn.slot[:-1] + "0")
        if pf is not None and pf.vendor_id == vid and _same_device(pf, fn):
            # i915/xe SR-IOV VFs of an iGPU sit at 00:02.1-00:02.7 with the PF's device id (lspci text has no
            # physfn link; the i915-sriov-dkms reports show them so). A different id is a second function.
            return (
                "virtual",
                f"SR-IOV virtual function of the iGPU: same device as {pf.slot[5:]} at {fn.slot[5:]}",
            )
    if vendor is not None and vendor.kind is not None:
        if vendor.kind == "bmc":
            return "bmc", f"vendor {vtxt} ({vendor.gpu_vendor}) display is a server BMC console"
        return vendor.kind, f"vendor {vtxt} is an emulated/paravirtual display of a hypervisor"
    if vid == 0x8086:
        entry = _intel_gpu_ids().get(did) if did is not None else None
        if entry is not None:
            return entry[0], f"Intel device id table: 0x{did:04x} is {entry[0]} ({entry[1]})"  # type: ignore[return-value]
        if _is_intel_igpu_slot(fn.slot):
            return "integrated", f"Intel iGPU slot {fn.slot[5:]}"
        return "discrete", f"Intel GPU away from the iGPU slot 00:02 ({fn.slot[5:]}), id not in the table"
    if vid in (0x1002, 0x1022):
        code = _amd_apu_ids().get(did) if did is not None and vid == 0x1002 else None
        if code is not None:
            return "integrated", f"AMD APU device id table: 0x{did:04x} is {code}"
        bridge = by_slot.get(fn.upstream_bridge) if fn.upstream_bridge else None
        if bridge is not None and bridge.vendor_id == 0x1022 and bridge.device_id is not None:
            bname = _amd_internal_bridges().get(bridge.device_id)
            if bname is not None:
                return "integrated", (
                    f"behind AMD APU-internal bridge {bridge.slot} (1022:{bridge.device_id:04x} {bname})"
                )
        if did is None and fn.device_name:
            # Plain lspci text has no device ID, only pci.ids' name for the die ("Cezanne [Radeon Vega
            # Series / ...]", "Phoenix1"): match its code-name field WHOLE against the APU table.
            codename = fn.device_name.split(" [", 1)[0].strip()
            if codename in _amd_apu_codenames():
                return "integrated", f"AMD APU code-name table: '{codename}' (the input has no device id)"
        return "discrete", "AMD GPU not in the APU id table and not behind an APU-internal bridge"
    if vid == 0x10DE:
        nv = _nvidia_gpu_ids().get(did) if did is not None else None
        if nv is not None:
            return nv[0], f"NVIDIA device id table: 0x{did:04x} is {nv[0]} ({nv[1]})"  # type: ignore[return-value]
        if did is None and fn.device_name:
            codename = fn.device_name.split(" [", 1)[0].strip()
            if codename in _nvidia_integrated_codenames():
                return "integrated", f"NVIDIA code-name table: '{codename}' (the input has no device id)"
        why = "NVIDIA GPUs on PCI are discrete boards or modules"
        if class16(fn) in (0x0302, 0x0380) and any(
            o is not fn and o.vendor_id in (0x8086, 0x1002) and class16(o) == 0x0300 for o in display
        ):
            why += "; 3D/display controller beside a VGA iGPU: hybrid (Optimus) laptop dGPU"
        return "discrete", why
    return "discrete", f"no rule for vendor {vtxt}; assumed discrete"


def _same_device(a: PciFunction, b: PciFunction) -> bool:
    """Same device id (or, without ids, same name) and same class: how an SR-IOV VF looks beside its PF.

    The older iGPUs' second function differs: 945GM 00:02.1 is 8086:27a6 next to 27a2, and GM45 00:02.1
    is class 0380 next to 0300 while plain lspci prints both with one name.
    """
    if class16(a) != class16(b):
        return False
    if a.device_id is not None and b.device_id is not None:
        return a.device_id == b.device_id
    return (
        a.device_id is None
        and b.device_id is None
        and a.device_name is not None
        and a.device_name == b.device_name
    )


def _fmt_id(value: int | None, width: int) -> str:
    return f"0x{value:0{width}x}" if value is not None else "unknown"


def _name(fn: PciFunction, ids: PciIds | None) -> str:
    """The product name with its die, "GeForce RTX 4090 (AD102)": from the given pci.ids (the host's or
    the recording's), else the name lspci printed, else the GPU subset hwbench ships, else the ids."""
    name: str | None = None
    if ids is not None and fn.vendor_id is not None and fn.device_id is not None:
        name = ids.device_name(fn.vendor_id, fn.device_id)
    name = name or fn.device_name
    if not name and fn.vendor_id is not None and fn.device_id is not None:
        name = bundled_ids().device_name(fn.vendor_id, fn.device_id)
    if name:
        return marketing_name(name)
    v = f"{fn.vendor_id:04x}" if fn.vendor_id is not None else "????"
    d = f"{fn.device_id:04x}" if fn.device_id is not None else "????"
    return f"{v}:{d}"


def classify_gpus(functions: Sequence[PciFunction], ids: PciIds | None = None) -> list[Gpu]:
    """The GPUs among `functions` (display classes), with vendor from the numeric ID and kind from evidence.

    A further display function of the same device (e.g. 00:02.1 next to 00:02.0) is folded into the first
    (`Gpu.functions`) unless it is an SR-IOV virtual function, which is a `virtual` GPU of its own.
    """
    by_slot = {f.slot: f for f in functions}
    display = display_functions(functions)
    primary: dict[tuple[str, int | None], PciFunction] = {}
    folded: dict[str, list[str]] = {}
    gpus_fns: list[PciFunction] = []
    for f in display:
        key = (f.slot[: f.slot.rfind(".")], f.vendor_id)
        pf = primary.get(key)
        is_vf = f.is_virtfn or (
            pf is not None and f.vendor_id == 0x8086 and _is_intel_igpu_slot(f.slot) and _same_device(pf, f)
        )
        if pf is not None and not is_vf:
            folded[pf.slot].append(f.slot)
            continue
        if not is_vf:
            primary[key] = f
        folded[f.slot] = []
        gpus_fns.append(f)
    out: list[Gpu] = []
    for f in gpus_fns:
        vendor = _vendor_of(f)
        kind, evidence = _kind(f, vendor, by_slot, display)
        cls = f.pci_class if f.pci_class is not None else ((class16(f) or 0) << 8)
        out.append(
            Gpu(
                pci_slot=f.slot,
                vendor=vendor.gpu_vendor if vendor is not None else "other",
                kind=kind,
                name=_name(f, ids),
                vendor_id=_fmt_id(f.vendor_id, 4),
                device_id=_fmt_id(f.device_id, 4),
                pci_class=f"0x{cls:06x}",
                kind_evidence=evidence,
                driver=f.driver,
                functions=tuple(folded[f.slot]),
            )
        )
    return out


def display_functions(functions: Iterable[PciFunction]) -> list[PciFunction]:
    """The GPU functions (classes 0300/0301/0302/0380, and AMD's 1200), in slot order, one per slot."""
    seen: dict[str, PciFunction] = {}
    for f in functions:
        if is_display(f):
            seen.setdefault(f.slot, f)
    return sorted(seen.values(), key=lambda f: f.slot)


__all__ = [
    "DISPLAY_CLASSES",
    "PciIds",
    "class16",
    "classify_gpus",
    "display_functions",
    "dump_sysfs_pci",
    "is_display",
    "normalise_slot",
    "parse_lspci",
    "read_sysfs_pci",
    "split_vendor",
    "vendor_id_for_name",
]
