"""`hwbench detect`: the inventory command (presentation only; the work is in hwbench.detect).

Two entry points with the same options: `fast_main(argv)` (argparse, used by cli.main for plain
invocations because importing typer alone costs ~0.1 s) and `command` (the typer function, built on first
access through the module's `__getattr__`, so the fast path never imports typer).

JSON (`--json`): `cpu`, `memory`, `gpus`, `torch`, `warnings`, plus `source` and `os`. A value a
source could not give is `null`, and the object holding it gets `na_reasons`: {field: reason}, e.g.
`"nvml": {"power_draw_w": null, ..., "na_reasons": {"power_draw_w": "not supported by this GPU/driver"}}`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwbench.jsonout import to_jsonable
from hwbench.model import (
    APPLE_PCI_VENDOR,
    NA,
    Cpu,
    Gpu,
    GpuTelemetry,
    NvmlGpu,
    System,
    TorchInfo,
    value_or_none,
)

if TYPE_CHECKING:
    from rich.table import Table


# cache type as sysfs names it -> the letter of "L1d", "L1i" ("Unified" caches have none)
_CACHE_LETTER = {"Data": "d", "Instruction": "i"}


def payload(system: System) -> dict[str, Any]:
    """The `detect` JSON payload (before the envelope)."""
    cpu = to_jsonable(system.cpu) if system.cpu is not None else None
    if cpu is not None:
        cpu["usable_cpu_count"] = len(system.cpu.usable_cpus) if system.cpu else None
    return {
        "source": system.source,
        "os": system.os,
        "cpu": cpu,
        "memory": to_jsonable(system.memory) if system.memory is not None else None,
        "gpus": [to_jsonable(g) for g in system.gpus],
        "torch": to_jsonable(system.torch),
        "warnings": list(system.warnings),
    }


# --------------------------------------------------------------------------------------------- run
def run(
    json_out: bool = False,
    lspci: Path | None = None,
    cpuinfo: Path | None = None,
    dump_dir: Path | None = None,
    replay_dir: Path | None = None,
    no_nvml: bool = False,
    details: bool = False,
) -> int:
    from hwbench.detect import detect_system, dump, replay

    if dump_dir is not None:
        from hwbench.console import log

        dump(dump_dir)
        log(
            f"hwbench detect: recorded this machine into {dump_dir} "
            f"(replay: hwbench detect --replay {dump_dir})"
        )
        system = replay(dump_dir, nvml=not no_nvml)
    elif replay_dir is not None:
        system = replay(replay_dir, nvml=not no_nvml)
    else:
        system = detect_system(lspci_file=lspci, cpuinfo_file=cpuinfo, nvml=not no_nvml)
    if json_out:
        from hwbench.jsonout import document, emit

        emit(document("detect", payload(system)))
    else:
        render(system, details)
    return 0


_FLAGS = {"--json": "json", "--no-nvml": "no_nvml", "--details": "details"}
_VALUED = {"--lspci": "lspci", "--cpuinfo": "cpuinfo", "--dump": "dump", "--replay": "replay"}


def fast_main(argv: Sequence[str]) -> int | None:
    """Serve `hwbench detect` without importing typer; None means 'let typer handle these args'.

    A hand-written parser of the same options as `command`: argparse would cost ~10 ms of imports
    (gettext, locale, shutil for its help formatter) in a command whose budget is 150 ms.
    """
    opts: dict[str, Any] = {"json": False, "no_nvml": False, "details": False}
    args = list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if a in _FLAGS:
            opts[_FLAGS[a]] = True
        elif name in _VALUED:
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    return None  # typer prints its usual "requires an argument" error
                i += 1
                value = args[i]
            if not value:
                return None
            opts[_VALUED[name]] = Path(value)
        else:
            return None  # --help, an unknown option, a stray argument: typer's job
        i += 1
    return run(
        opts["json"],
        opts.get("lspci"),
        opts.get("cpuinfo"),
        opts.get("dump"),
        opts.get("replay"),
        opts["no_nvml"],
        opts["details"],
    )


def _build_command() -> Callable[..., None]:
    import typer

    def command(
        json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
        lspci: Path | None = typer.Option(
            None,
            "--lspci",
            metavar="FILE",
            help="Parse a saved lspci output (any form) instead of this machine's sysfs.",
        ),
        cpuinfo: Path | None = typer.Option(
            None,
            "--cpuinfo",
            metavar="FILE",
            help="Parse a saved /proc/cpuinfo or lscpu output (any locale).",
        ),
        dump: Path | None = typer.Option(
            None,
            "--dump",
            metavar="DIR",
            help="Record everything detect reads into DIR (attach it to a bug report).",
        ),
        replay: Path | None = typer.Option(
            None, "--replay", metavar="DIR", help="Show the machine recorded in DIR by --dump."
        ),
        no_nvml: bool = typer.Option(False, "--no-nvml", help="Do not query NVIDIA's NVML."),
        details: bool = typer.Option(
            False, "--details", help="Also caches, NUMA, sources, PCI ids and evidence, NVML fields per GPU."
        ),
    ) -> None:
        """What hardware is in this box, and what PyTorch can use of it."""
        rc = run(json, lspci, cpuinfo, dump, replay, no_nvml, details)
        if rc:
            raise typer.Exit(rc)

    return command


def __getattr__(name: str) -> Any:
    if name == "command":
        cmd = _build_command()
        globals()["command"] = cmd
        return cmd
    raise AttributeError(name)


# --------------------------------------------------------------------------------------------- terminal
# Per architecture: the same flag name can mean different things ("sme" is Arm's Scalable Matrix
# Extension on arm64 but AMD's Secure Memory Encryption on x86).
_ISA_SHOWN_X86 = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "avx10",
)  # fmt: skip
_ISA_SHOWN_ARM = (
    "asimd",
    "asimdhp",
    "asimddp",
    "fphp",
    "sve",
    "sve2",
    "sme",
    "sme2",
    "bf16",
    "i8mm",
    "svebf16",
)


def _isa_shown(cpu: Cpu) -> list[str]:
    arm = "asimd" in cpu.isa or "neon" in cpu.isa or cpu.arm_implementer is not None
    return [f for f in (_ISA_SHOWN_ARM if arm else _ISA_SHOWN_X86) if f in cpu.isa]


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, NA):
        return f"n/a ({v.reason})"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        v = f"{v:.0f}" if v >= 100 else f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) if v else "none"
    return f"{v}{unit}"


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1024**3:.1f} GiB"


def _size(n: int) -> str:
    for unit, f in (("MiB", 1024**2), ("KiB", 1024)):
        if (n >= f and n % f == 0) or n >= 10 * f:
            return f"{n / f:g} {unit}"
    return f"{n} B"


def _cpulist(cpus: Sequence[int]) -> str:
    from hwbench.fmt import cpu_list

    return cpu_list(cpus) or "none"


def summary_line(system: System) -> str:
    """The inventory in one line: CPU, cores, memory, GPUs, what PyTorch can use."""
    from hwbench.fmt import plural

    parts = []
    cpu = system.cpu
    if cpu is not None:
        cores = f", {plural(cpu.physical_cores, 'core')}" if isinstance(cpu.physical_cores, int) else ""
        uarch = cpu.microarchitecture
        parts.append(f"{cpu.model}" + (f" ({uarch})" if uarch and uarch not in cpu.model else "") + cores)
    if system.memory is not None and system.memory.total_bytes:
        parts.append(f"{_gib(system.memory.total_bytes)}")
    names: dict[str, int] = {}
    for g in system.gpus:
        names[_display_name(g)] = names.get(_display_name(g), 0) + 1
    parts.append(
        "GPUs: " + ", ".join(f"{n}x {name}" if n > 1 else name for name, n in names.items())
        if names
        else "no GPU"
    )
    tor = system.torch
    parts.append(
        f"PyTorch {tor.version} can use {', '.join(tor.usable_devices) or 'nothing'}"
        if tor.installed
        else "PyTorch not installed"
    )
    return "; ".join(parts)


def render(system: System, details: bool = False) -> None:
    """The one-line answer first, then the CPU, memory, GPUs and PyTorch; `details` adds caches, NUMA,
    sources, PCI ids and evidence, and the NVML fields of each GPU."""
    from hwbench.console import stdout

    con = stdout()
    # never wrapped: the source may be a long path, and a path split over two lines cannot be pasted back
    con.print(
        f"[bold]hwbench detect[/bold]: {system.source}" + (f" ({system.os})" if system.os else ""),
        soft_wrap=True,
        highlight=False,
    )
    con.print(summary_line(system), highlight=False)
    if system.cpu is not None:
        con.print(_cpu_table(system.cpu, details))
    if system.memory is not None:
        m = system.memory
        con.print(
            f"[bold]Memory[/bold]: {_gib(m.total_bytes)} total, {_gib(m.available_bytes)} available "
            f"[dim]({m.source})[/dim]"
        )
    if system.gpus:
        con.print(_gpu_table(system.gpus, details))
        if details:
            for g in system.gpus:
                if g.nvml:
                    con.print(_nvml_table(g, g.nvml))
            for g in system.gpus:
                if g.telemetry:
                    con.print(_amd_table(g, g.telemetry))
    else:
        con.print("[bold]GPUs[/bold]: none seen")
    for line in _torch_lines(system.torch):
        con.print(line)
    for w in system.warnings:
        con.print(f"[yellow]warning:[/yellow] {w}")


def _field_table(title: str) -> Table:
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column("field", style="cyan")
    t.add_column("value")
    return t


def _cpu_table(cpu: Cpu, details: bool) -> Table:
    from hwbench.fmt import plural

    t = _field_table("CPU")
    t.add_row("model", f"{cpu.model} ({cpu.vendor})")
    uarch = cpu.microarchitecture or "unknown"
    ids = (
        f"family {cpu.family} model {cpu.model_number} stepping {cpu.stepping}"
        if cpu.family is not None
        else (f"implementer 0x{cpu.arm_implementer:02x} part 0x{cpu.arm_part or 0:03x}"
              if cpu.arm_implementer is not None else "")
    )  # fmt: skip
    t.add_row("micro-architecture", f"{uarch}" + (f"  [dim]({ids})[/dim]" if ids else ""))
    t.add_row(
        "topology",
        (plural(cpu.sockets, "socket") if isinstance(cpu.sockets, int) else "sockets n/a")
        + ", "
        + (
            plural(cpu.physical_cores, "core")
            if isinstance(cpu.physical_cores, int)
            else f"{_fmt(cpu.physical_cores)} cores"
        )
        + f", {plural(cpu.logical_cpus, 'logical CPU')}",
    )
    if cpu.p_cores is not None or cpu.e_cores is not None:
        t.add_row(
            "hybrid",
            f"{_role_cores(cpu.p_cores, 'P', cpu.p_core_cpus)}, "
            f"{_role_cores(cpu.e_cores, 'E', cpu.e_core_cpus)}",
        )
    usable = f"{len(cpu.usable_cpus)} (CPUs {_cpulist(cpu.usable_cpus)})"
    if cpu.cpu_quota is not None:
        usable += f", cgroup quota {cpu.cpu_quota:g} CPUs"
    t.add_row("usable by this process", usable)
    isa = _isa_shown(cpu)
    t.add_row("ISA (ML-relevant)", ", ".join(isa) or "none of the listed")
    # a VM's cpuinfo gives the TSC or current clock, and its source says so: no "max" label on it
    is_max = cpu.max_mhz_kind in ("cpufreq", "advertised")  # brand: a base clock; tsc: a VM's rate
    if cpu.max_mhz:
        t.add_row(
            "max clock" if is_max else "clock",
            f"{_fmt(cpu.max_mhz)} MHz [dim]({cpu.max_mhz_source})[/dim]",
        )
    else:
        t.add_row("max clock" if is_max else "clock", cpu.max_mhz_source)
    if details and cpu.caches:
        t.add_row(
            "caches",
            "; ".join(
                f"L{c.level}{_CACHE_LETTER.get(c.type, '')} "
                f"{_size(c.size_bytes)}"
                + (
                    (" per CPU" if c.shared_by_cpus == 1 else f" per {c.shared_by_cpus} CPUs")
                    if c.shared_by_cpus
                    else ""
                )
                for c in cpu.caches
            ),
        )
    virt = "yes" + (f" ({cpu.hypervisor})" if cpu.hypervisor else "") if cpu.virtualized else "no"
    t.add_row("virtualized", virt)
    if details:
        t.add_row("NUMA nodes", _fmt(cpu.numa_nodes))
        t.add_row("source", cpu.source)
    return t


def _gpu_table(gpus: tuple[Gpu, ...], details: bool) -> Table:
    from rich.table import Table

    t = Table(title="GPUs", title_justify="left", box=None, pad_edge=False)
    cols = ("slot", "vendor", "kind", "name", "ids", "evidence") if details else ("slot", "kind", "name")
    for col in cols:
        t.add_column(col)
    for g in gpus:
        row = {"slot": g.pci_slot, "vendor": g.vendor, "kind": g.kind, "name": g.name,
               "ids": _ids(g), "evidence": g.kind_evidence}  # fmt: skip
        row["name"] = _display_name(g)
        t.add_row(*(row[c] for c in cols))
    return t


def _boxed_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("field", style="cyan")
    t.add_column("value")
    for k, v in rows:
        t.add_row(k, v)
    return t


def _joined(template: str, *values: object) -> str:
    """Several fields in one row: "n/a (why)" when none was read, plain "n/a" for each one that was not."""
    if values and all(isinstance(v, NA) for v in values):
        return _fmt(values[0])
    shown = ["n/a" if isinstance(v, NA) else _fmt_bytes(v) if "{b}" in template else _fmt(v) for v in values]
    return template.replace("{b}", "{}").format(*shown)


def _link(f: NvmlGpu | GpuTelemetry) -> str:
    return _joined(
        "Gen{} x{} (max Gen{} x{})",
        f.pcie_gen_current,
        f.pcie_width_current,
        f.pcie_gen_max,
        f.pcie_width_max,
    )


def _role_cores(n: int | None, role: str, cpus: tuple[int, ...]) -> str:
    """ "4 P-cores (CPUs 0-7)"; without the CPU numbers where the source gives only the count (macOS)."""
    text = f"{_fmt(n)} {role}-core{'' if n == 1 else 's'}"
    return text + (f" (CPUs {_cpulist(cpus)})" if cpus else "")


def _ids(g: Gpu) -> str:
    """vendor:device as lspci prints them; "-" for a part without a PCI device id (an Apple SoC GPU)."""
    if g.vendor_id.startswith("0x") and g.device_id.startswith("0x"):
        return f"{g.vendor_id[2:]}:{g.device_id[2:]}"
    return "-"


def _display_name(g: Gpu) -> str:
    """The name, with an Apple GPU's core count (which tells a binned part from the full one)."""
    return f"{g.name} ({g.units}-core)" if g.units and g.vendor_id == APPLE_PCI_VENDOR else g.name


def _nvml_table(g: Gpu, f: NvmlGpu) -> Table:
    rows = (
        ("UUID", _fmt(f.uuid)),
        ("memory", _joined("{b} used of {b}", f.memory_used_bytes, f.memory_total_bytes)),
        ("driver / CUDA", _joined("{} / CUDA {}", f.driver_version, f.cuda_driver_version)),
        ("compute capability", _fmt(f.compute_capability)),
        ("SMs", _fmt(f.multiprocessor_count)),
        ("SM clock", _joined("{} of max {} MHz", f.sm_clock_mhz, f.sm_clock_max_mhz)),
        ("memory clock", _joined("{} of max {} MHz", f.memory_clock_mhz, f.memory_clock_max_mhz)),
        ("power", _joined("{} W of limit {} W", f.power_draw_w, f.power_limit_w)),
        ("temperature", _joined("{} C", f.temperature_c)),
        ("PCIe", _link(f)),
        ("clock event reasons", _fmt(f.clock_event_reasons)),
        ("ECC", _joined("{} (pending {}), uncorrected aggregate {}",
                        f.ecc_mode_current, f.ecc_mode_pending, f.ecc_uncorrected_aggregate)),
        ("MIG", _joined("{} (pending {})", f.mig_mode_current, f.mig_mode_pending)),
    )  # fmt: skip
    return _boxed_table(f"{f.source}: {g.pci_slot} {value_or_none(f.name) or ''}", rows)


def _amd_table(g: Gpu, f: GpuTelemetry) -> Table:
    rows = (
        ("busy", _joined("{} %", f.utilization_pct)),
        ("memory", _joined("{b} used of {b}", f.memory_used_bytes, f.memory_total_bytes)),
        ("GFX clock", _joined("{} of max {} MHz", f.sm_clock_mhz, f.sm_clock_max_mhz)),
        ("power", _joined("{} W of cap {} W", f.power_draw_w, f.power_limit_w)),
        ("temperature", _joined("{} C", f.temperature_c)),
        ("PCIe", _link(f)),
    )
    return _boxed_table(f"{f.source}: {g.pci_slot} {g.name}", rows)


def _torch_lines(tor: TorchInfo) -> list[str]:
    if tor.installed:
        build = tor.build or "?"
        if tor.cuda_version:
            build += f" {tor.cuda_version}"
        if tor.rocm_version:
            build += f" {tor.rocm_version}"
        lines = [
            f"[bold]PyTorch[/bold]: {tor.version} ({build} build, from {tor.source}); "
            f"can use: [bold]{', '.join(tor.usable_devices)}[/bold]"
        ]
    else:
        lines = ["[bold]PyTorch[/bold]: not installed"]
    return lines + [f"  - {msg}" for msg in tor.messages]


def _fmt_bytes(v: Any) -> str:
    if isinstance(v, NA) or v is None:
        return _fmt(v)
    return _gib(int(v))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(fast_main(sys.argv[1:]) or 0)
