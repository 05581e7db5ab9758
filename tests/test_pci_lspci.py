"""parse_lspci + classify_gpus on real lspci outputs (tests/fixtures/lspci/**).

Every fixture file names its source (`# source:` line) and the right answer for every GPU in it
(`# expect: <slot> <vendor> <kind>` lines, written by hand from the hardware, not from this code's output).
The table-driven test asserts vendor AND kind for every display device, and that no other GPU appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hwbench.detect.pci import classify_gpus, parse_lspci

FIXTURES = Path(__file__).parent / "fixtures" / "lspci"
FILES = sorted(p for p in FIXTURES.rglob("*.txt"))


def _expected(text: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("# expect:"):
            slot, vendor, kind = line.split()[2:5]
            out[slot] = (vendor, kind)
    return out


def test_fixture_set_is_big_enough() -> None:
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in FILES}
    assert [n for n, t in texts.items() if "# source:" not in t] == []
    devices = sum(len(_expected(t)) for t in texts.values())
    assert devices >= 40, devices


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_vendor_and_kind_of_every_gpu(path: Path) -> None:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    expected = _expected(raw)
    assert expected, f"{path.name} has no '# expect:' line"
    gpus = classify_gpus(parse_lspci(raw))
    got = {g.pci_slot: (g.vendor, g.kind) for g in gpus}
    assert got == expected, [(g.pci_slot, g.vendor, g.kind, g.kind_evidence) for g in gpus]
