"""`hwbench check`: expectations in, pass/fail/skip out, for CI runners and cluster nodes.

Layers as everywhere in hwbench: `registry` declares each expectation once (flag, help, parser, stage
and the function that judges it), `parse` and `expectations` read flags and TOML into it, `checks`
holds one pure function per check (records in, `CheckResult` out), `measure`, `load` and `underload`
are the only parts that touch the machine (matmul figures, NVML samples under load), `state` shares
the measurements between checks, `run` ties them together (inventory, measured stages, baseline,
save), `payload` builds the --json document, and `baseline`, `junit` and `summary` present or store
the results for `hwbench/commands/check.py`.
"""

from hwbench.check.results import CheckResult, Status, Summary, apply_strict, exit_code, summarize

__all__ = ["CheckResult", "Status", "Summary", "apply_strict", "exit_code", "summarize"]
