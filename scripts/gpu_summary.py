"""Print the short table that ends scripts/gpu_validate.sh, from the JSON documents it recorded.

Usage: python scripts/gpu_summary.py OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def documents(text: str) -> dict[str, Any]:
    """Split '### hwbench ARGS' sections into {args: parsed JSON or None}."""
    docs: dict[str, Any] = {}
    for block in re.split(r"^### hwbench ", text, flags=re.M)[1:]:
        header, _, body = block.partition("\n")
        body = re.sub(r"^### rc=.*$", "", body, flags=re.M).strip()
        try:
            docs[header.strip()] = json.loads(body) if body else None
        except json.JSONDecodeError:
            docs[header.strip()] = None
    return docs


def main(out: Path) -> None:
    docs_file, ref_file = out / "hwbench-json.txt", out / "reference-matmul.txt"
    text = docs_file.read_text() if docs_file.exists() else ""
    ref = ref_file.read_text().strip() if ref_file.exists() else "n/a"
    print(f"reference: {ref}")
    for args, doc in documents(text).items():
        if doc is None:
            print(f"{args:70s}  no JSON (see log.txt)")
        elif "mfu" in doc:
            mfu = doc.get("mfu")
            print(
                f"{args:70s}  achieved {doc.get('achieved_tflops')} TFLOP/s, mfu {mfu}, "
                f"ceiling {doc.get('matmul_ceiling_tflops')} TFLOP/s (peak {doc.get('peak_tflops')})"
            )
        elif "checks" in doc:
            statuses = ", ".join(f"{c.get('name')}={c.get('status')}" for c in doc["checks"])
            print(f"{args:70s}  {statuses}")
        else:
            print(f"{args:70s}  ok ({', '.join(list(doc)[:6])})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/gpu_validate"))
