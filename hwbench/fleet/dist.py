"""The process group under torchrun: backend choice, timeouts, store-based arrival checks, fault hooks.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; hwbench
joins the group that torchrun describes and never launches processes itself.

No hangs: every wait has a deadline of HWBENCH_DIST_TIMEOUT_S seconds (default 60).
- the process group is created with that timeout, so a collective that a peer never joins raises on
  gloo and is aborted by NCCL's watchdog;
- before gathering results, ranks check in through the rendezvous store (`arrive`): a rank that has
  not checked in by the deadline is named (rank and host) in a one-line error, and the run ends;
- a rank that dies is seen by torchrun at once (its monitor polls every 0.1 s), which stops the other
  workers with SIGTERM and prints which rank failed on which host; rank 0 says why it stopped.
  Without torchrun (srun, a launcher of one's own), each rank records its process id in the store,
  so a rank waiting for a peer on the same host sees at once that the peer's process is gone and
  names it, rank and host, rather than waiting out the timeout.

Clean exits: a rank ends with `leave` once its output is flushed (see there for why).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from hwbench.devices import recorded
from hwbench.errors import HwbenchError, InputError

if TYPE_CHECKING:  # torch is imported only when a process group is joined
    from torch.distributed import ProcessGroup, Store

DEFAULT_TIMEOUT_S = 60.0
_POLL_S = 0.05
_EXPLICIT_FAULT_POINTS = ("collective",)


class FleetError(HwbenchError):
    """A rank died, stalled or disagreed: the fleet run cannot produce a report."""


@dataclass
class FleetContext:
    """This process's place in the torchrun world, and the handles to talk to the others."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    host: str
    backend: str  # "gloo" or "cpu:gloo,cuda:nccl"
    timeout_s: float
    cpus: tuple[int, ...] = ()  # the CPU share this rank is pinned to
    straggler_threshold: float = 0.10  # HWBENCH_STRAGGLER_THRESHOLD, parsed before measuring
    hosts: tuple[str, ...] = ()  # host of every rank, by rank
    store: Store | None = None  # the rendezvous store, None if unavailable
    object_group: ProcessGroup | None = None  # a gloo group for gather_object when the default group is NCCL
    _phase: int = field(default=0, repr=False)
    _step: int = field(default=-1, repr=False)  # last step announced with `step()` in this phase

    def device_for(self, requested: str) -> str:
        """A numbered GPU ('cuda', 'cuda:N', 'xpu') asked on the command line -> this rank's own one,
        cuda:LOCAL_RANK; the CPU and MPS as asked."""
        dev = recorded(requested)
        if dev is not None and dev.numbered:
            return type(dev)(self.local_rank).torch_name
        return requested

    def host_of(self, rank: int) -> str:
        return self.hosts[rank] if 0 <= rank < len(self.hosts) else "?"


def env_world_size(environ: Mapping[str, str] | None = None) -> int:
    env: Mapping[str, str] = os.environ if environ is None else environ
    try:
        return int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    env: Mapping[str, str] = os.environ if environ is None else environ
    text = env.get("HWBENCH_DIST_TIMEOUT_S")
    if text is None or not text.strip():
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1e7:
        raise InputError(
            f"HWBENCH_DIST_TIMEOUT_S={text!r} is not a positive number of seconds",
            hint="e.g. HWBENCH_DIST_TIMEOUT_S=120",
        )
    return value


def init(environ: Mapping[str, str] | None = None) -> FleetContext:
    """Join the torchrun process group (caller checked WORLD_SIZE > 1)."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from hwbench.fleet.local import hostname, pin_to_share

    env: Mapping[str, str] = os.environ if environ is None else environ
    try:
        rank = int(env["RANK"])
        world_size = int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", "0"))
        local_world_size = int(env.get("LOCAL_WORLD_SIZE", "1"))
    except (KeyError, ValueError) as e:
        raise HwbenchError(
            f"WORLD_SIZE is set but the torchrun environment is incomplete ({e})",
            hint="launch with torchrun, which sets RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT",
        ) from None
    timeout_s = timeout_from_env(env)
    from hwbench.fleet.stragglers import parse_threshold

    threshold = parse_threshold(env.get("HWBENCH_STRAGGLER_THRESHOLD"))  # bad values fail before measuring
    host = hostname()
    cpus: tuple[int, ...] = ()
    if env.get("HWBENCH_NO_AFFINITY", "") not in ("1", "true", "yes"):
        cpus = pin_to_share(local_rank, local_world_size)

    backend = env.get("HWBENCH_DIST_BACKEND", "")
    if not backend:
        backend = "gloo"
        if (
            torch.cuda.is_available()
            and dist.is_nccl_available()
            and local_world_size <= torch.cuda.device_count()
        ):
            backend = "cpu:gloo,cuda:nccl"
    if "nccl" in backend and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    except Exception as e:  # rendezvous timeout, bad backend, unreachable MASTER_ADDR
        raise FleetError(
            f"rank {rank} on {host}: could not join the process group ({_first_line(e)})",
            hint="check MASTER_ADDR/MASTER_PORT and that every node runs the same torchrun command",
        ) from None
    store = None
    try:
        from torch.distributed.distributed_c10d import _get_default_store

        store = _get_default_store()
    except Exception:  # private API moved: fall back to collective timeouts only
        store = None
    object_group = None
    if backend != "gloo":
        object_group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
    ctx = FleetContext(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        local_world_size=local_world_size,
        host=host,
        backend=backend,
        timeout_s=timeout_s,
        cpus=cpus,
        straggler_threshold=threshold,
        store=store,
        object_group=object_group,
    )
    _install_sigterm(ctx)
    if store is not None:
        store.set(f"{_attempt()}/pid/{rank}", f"{host} {os.getpid()}")
    hosts: list[Any] = [None] * world_size
    arrive(ctx, "hosts")
    dist.all_gather_object(hosts, host, group=object_group)
    ctx.hosts = tuple(str(h) for h in hosts)
    return ctx


def arrive(ctx: FleetContext, what: str) -> None:
    """Check in at a named point and wait until every rank has, or raise naming the missing ranks.

    Uses the rendezvous store, not a collective, so a rank that never comes is named rather than
    reported as an anonymous gloo/NCCL timeout: one counter; the last rank in sets a `done` key that
    the others wait on (in one-second slices, so that SIGTERM from torchrun is handled promptly).
    """
    from datetime import timedelta

    ctx._phase += 1
    ctx._step = -1
    if ctx.store is None:
        return
    prefix = f"{_prefix(ctx)}-{what}"
    done = f"{prefix}/done"
    ctx.store.set(f"{prefix}/{ctx.rank}", ctx.host)
    if int(ctx.store.add(f"{prefix}/count", 1)) >= ctx.world_size:
        ctx.store.set(done, "1")
        return
    deadline = time.monotonic() + ctx.timeout_s
    while (left := deadline - time.monotonic()) > 0:
        t0 = time.monotonic()
        try:
            ctx.store.wait([done], timedelta(seconds=min(1.0, left)))
            return
        except Exception:  # this slice timed out (DistStoreError); anything faster is an error: back off
            if time.monotonic() - t0 < 0.5 * min(1.0, left):
                time.sleep(_POLL_S)
        dead = [r for r in _missing(ctx, prefix) if r in _dead(ctx)]
        if dead:
            raise FleetError(
                f"{_name_ranks(ctx, dead)} died before reaching '{what}' (its process is gone); "
                "stopping the run",
                hint="look at that rank's stderr (killed by the OOM killer? `dmesg` says)",
            )
    missing = _missing(ctx, prefix)
    raise FleetError(
        f"{_name_ranks(ctx, missing)} did not reach '{what}' within {ctx.timeout_s:g} s (died or stalled); "
        "stopping the run",
        hint="look at that rank's stderr; raise HWBENCH_DIST_TIMEOUT_S if ranks legitimately differ "
        "by more than that",
    )


def _attempt() -> str:
    # torchrun --max-restarts reuses the store: keys of an earlier attempt must not count
    return f"hwbench/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def _prefix(ctx: FleetContext) -> str:
    return f"{_attempt()}/{ctx._phase}"


def _missing(ctx: FleetContext, prefix: str) -> list[int]:
    """Ranks that have not checked in at `prefix`."""
    store = ctx.store
    if store is None:
        return []
    try:
        return [r for r in range(ctx.world_size) if not store.check([f"{prefix}/{r}"])]
    except Exception:  # the store itself is gone (its host rank died): nobody can be told apart
        return []


def _dead(ctx: FleetContext) -> list[int]:
    """Ranks on this host whose process is gone (pids recorded in the store at init).

    Only same-host peers can be checked (a pid means nothing elsewhere); torchrun names the others.
    """
    if ctx.store is None:
        return []
    out: list[int] = []
    for r in range(ctx.world_size):
        key = f"{_attempt()}/pid/{r}"
        try:
            host, _, pid = (
                ctx.store.get(key).decode().partition(" ") if ctx.store.check([key]) else ("", "", "")
            )
        except Exception:
            return out
        if host != ctx.host or not pid.isdigit() or r == ctx.rank:
            continue
        if not _alive(int(pid)):
            out.append(r)
    return out


def _alive(pid: int) -> bool:
    """Whether process `pid` runs: it exists and is not a zombie (a killed rank stays one until its
    launcher reaps it, and signal 0 still reaches a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive under another user
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]  # the field after "(comm)"
    except OSError:  # no /proc (macOS): signal 0 is all there is
        return True
    return state not in ([b"Z"], [b"X"])


def _name_ranks(ctx: FleetContext, ranks: list[int]) -> str:
    named = ", ".join(f"rank {r} on {ctx.host_of(r)}" for r in ranks[:8])
    if len(ranks) > 8:
        named += f" and {len(ranks) - 8} more"
    return named or "a rank"


def step(ctx: FleetContext, i: int) -> None:
    """Announce that this rank starts step `i` of the current phase (one store write, untimed), so
    that when a collective fails the ranks that are behind can be named."""
    ctx._step = i
    if ctx.store is not None:
        ctx.store.set(f"{_prefix(ctx)}/step/{ctx.rank}", str(i))


def _behind(ctx: FleetContext) -> list[int]:
    """Ranks whose announced step in this phase is earlier than this rank's (or never announced)."""
    if ctx.store is None or ctx._step < 0:
        return []
    out = []
    for r in range(ctx.world_size):
        key = f"{_prefix(ctx)}/step/{r}"
        try:
            i = int(ctx.store.get(key)) if ctx.store.check([key]) else -1
        except Exception:
            continue
        if i < ctx._step:
            out.append(r)
    return out


@contextlib.contextmanager
def collective(ctx: FleetContext, what: str) -> Iterator[None]:
    """Turn a failed or timed-out collective (gloo/NCCL RuntimeError) into a one-line FleetError
    naming the ranks that fell behind (see `step`) when they can be told apart."""
    try:
        yield
    except HwbenchError:
        raise
    except RuntimeError as e:  # DistBackendError, DistNetworkError and gloo timeouts are RuntimeErrors
        dead = _dead(ctx)
        behind = _behind(ctx)
        if dead:
            who = f"{_name_ranks(ctx, dead)} died (its process is gone)"
        elif behind:
            who = f"{_name_ranks(ctx, behind)} fell behind (died or stalled)"
        else:
            others = [r for r in range(ctx.world_size) if r != ctx.rank]
            who = f"one of {_name_ranks(ctx, others)} died or stalled"
        raise FleetError(
            f"rank {ctx.rank} on {ctx.host}: {what} failed ({_first_line(e)}); {who}",
            hint=f"each wait is bounded by HWBENCH_DIST_TIMEOUT_S (now {ctx.timeout_s:g} s); "
            "torchrun's report names the rank that failed first",
        ) from None


def fault_point(ctx: FleetContext, where: str) -> None:
    """Test hook: HWBENCH_TEST_KILL_RANK=R kills rank R here (SIGKILL), HWBENCH_TEST_STALL_RANK=R
    makes it sleep for an hour; HWBENCH_TEST_FAULT_AT names the point (default: the first one, except
    'collective', inside a comm size after the check-in, which exercises the process-group timeout
    and must be named)."""
    at = os.environ.get("HWBENCH_TEST_FAULT_AT", "")
    if (at and at != where) or (not at and where in _EXPLICIT_FAULT_POINTS):
        return
    if os.environ.get("HWBENCH_TEST_KILL_RANK") == str(ctx.rank):
        sys.stderr.write(f"hwbench: test hook: killing rank {ctx.rank} on {ctx.host} at '{where}'\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("HWBENCH_TEST_STALL_RANK") == str(ctx.rank):
        sys.stderr.write(f"hwbench: test hook: stalling rank {ctx.rank} on {ctx.host} at '{where}'\n")
        sys.stderr.flush()
        time.sleep(3600)


def _install_sigterm(ctx: FleetContext) -> None:
    """torchrun stops the surviving workers with SIGTERM when one fails: leave with one line, fast.

    SIGINT too ends the rank at once (exit 130): a rank that kept its partial results would wait
    for peers at the gather, and a signal on any rank must end every rank without a hang (torchrun
    stops the others as soon as this one exits non-zero). A fleet run keeps no partial report.
    """

    def handler(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            sys.stderr.write(
                f"error: rank {ctx.rank} on {ctx.host}: interrupted (SIGINT); the fleet run stops\n"
            )
        elif ctx.rank == 0:
            sys.stderr.write(
                f"error: rank 0 on {ctx.host}: stopped by SIGTERM (the launcher stops every rank when "
                "one failed, and a preemption stops the job); torchrun's report names a failed rank\n"
            )
        leave(128 + signum)

    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def destroy(ctx: FleetContext) -> None:
    import torch.distributed as dist

    try:
        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:
        pass


def leave(code: int) -> NoReturn:
    """End this rank's process with `code` once stdout and stderr are flushed, skipping finalization.

    gloo's worker threads can outlive `destroy_process_group` (a DDP reducer keeps the group alive from
    C++), and such a thread may still be dropping the last reference to a finished gather_object's
    tensors, which takes the GIL. If the main thread is finalizing the interpreter by then, Python
    ends that thread; the unwind crosses a noexcept destructor and the process aborts (SIGABRT,
    "terminate called without an active exception") after it printed a valid report, and torchrun
    reports the job failed. Once the results are gathered and printed there is nothing left to
    finalize, so the rank ends here without it.
    """
    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing more to say
            f.flush()
    os._exit(code)


def _first_line(e: BaseException) -> str:
    """The message's first line, without gloo's "[/path/to/file.cc:78] " source prefix, cut at a
    word boundary when long."""
    text = str(e).strip().splitlines()
    line = re.sub(r"^\[[^\]]*\]\s*", "", text[0]) if text else ""
    if len(line) > 200:
        line = line[:200].rsplit(" ", 1)[0] + " ..."
    return line or type(e).__name__
