"""JUnit XML for CI systems (GitHub Actions reporters, GitLab, Jenkins): one testcase per check.

A failed check is a `<failure>`, a skipped one a `<skipped>`; the message attribute holds the check's
one-line message and the element text its measured and expected values. Built with ElementTree, so
the file is well-formed whatever the messages contain (characters XML 1.0 forbids are dropped).
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwbench import __version__
from hwbench.check.results import CheckResult
from hwbench.errors import InputError

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: Any) -> str:
    return _XML_BAD.sub("", str(text))


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def to_junit(
    results: Sequence[CheckResult], elapsed_s: float = 0.0, properties: dict[str, str] | None = None
) -> str:
    failures = sum(r.status == "fail" for r in results)
    skipped = sum(r.status == "skip" for r in results)
    counts = {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{elapsed_s:.3f}",
    }
    root = ET.Element("testsuites", {"name": "hwbench check", **counts})
    suite = ET.SubElement(
        root, "testsuite", {"name": "hwbench check", "hostname": _clean(socket.gethostname()), **counts}
    )
    props = ET.SubElement(suite, "properties")
    for k, v in {"hwbench_version": __version__, **(properties or {})}.items():
        ET.SubElement(props, "property", {"name": _clean(k), "value": _clean(v)})
    for r in results:
        attrs = {"classname": "hwbench.check", "name": _clean(r.name), "time": "0"}
        case = ET.SubElement(suite, "testcase", attrs)
        detail = f"measured: {_value(r.measured)}\nexpected: {r.op + ' ' if r.op else ''}{_value(r.expected)}"
        if r.unit:
            detail += f" {r.unit}"
        if r.source:
            detail += f"\nsource: {r.source}"
        if r.status == "fail":
            el = ET.SubElement(case, "failure", {"message": _clean(r.message), "type": "CheckFailed"})
            el.text = _clean(detail)
        elif r.status == "skip":
            ET.SubElement(case, "skipped", {"message": _clean(r.message)})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _clean(f"{r.message}\n{detail}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, xml: str) -> None:
    try:
        Path(path).write_text(xml, encoding="utf-8")
    except OSError as e:
        raise InputError(
            f"cannot write JUnit file {path}: {e.strerror or e}",
            hint="check the folder exists and is writable, and that its file system has space",
        ) from None
