"""`hwbench check`: expectations in, pass/fail/skip out, for CI runners and cluster nodes.

Layers as everywhere in hwbench: `expectations` parses flags and TOML, `checks` holds one pure function
per check (records in, `CheckResult` out), `measure` and `load` are the only parts that touch the
machine (matmul figures, NVML samples under load), `baseline`, `junit` and `summary` present or store
the results, and `run` ties them together for `hwbench/commands/check.py`.
"""

from hwbench.check.results import CheckResult, Status, Summary, apply_strict, exit_code, summarize

__all__ = ["CheckResult", "Status", "Summary", "apply_strict", "exit_code", "summarize"]
