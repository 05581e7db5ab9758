"""Running the A/B experiments: chunks of training steps, interleaved, each in a fresh process.

`ExperimentRunner` schedules the rounds within the time budget (what to run is `planner`'s, what the
steps mean is `abstats`'); a chunk runner measures one chunk: `ForkedChunkRunner` in a fresh process
forked from a server that has already imported torch (~50 ms a chunk instead of a new interpreter's
seconds), `measure_step_runner` in this process (where the platform cannot fork, and for tests).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection

from hwbench.bench.config import GPTConfig
from hwbench.bench.oom import is_oom
from hwbench.bench.step import StepOptions
from hwbench.errors import one_line
from hwbench.report.abstats import half_range_pct, interval, is_precise
from hwbench.report.experiments import (
    CONTAMINATED_FACTOR,
    DECIDED_RATIO,
    METHOD_FORKED,
    METHOD_IN_PROCESS,
    ArmSample,
    ChunkRecord,
    ChunkRunner,
    ChunkTimeout,
    ExperimentResult,
    ExperimentsReport,
    result_from_chunks,
    round_obs,
)
from hwbench.report.planner import (
    BASELINE,
    Variant,
    apply_variant,
    batch_variant,
    chunk_plan,
    combine,
    next_batch,
)

# the batch sweep goes on while the largest batch beats the one before it by more than this
SWEEP_GAIN = 0.03
# share of the budget kept for measuring the best combination of gains
COMBO_RESERVE = 0.15
# a variant stops taking rounds once its interval is precise, but not before this many
SETTLE_ROUNDS = 3
# a variant decided after one round (far slower) gets its second chunk this short
DECIDED_STEPS = 3
DECIDED_WARMUP = 2
# modules the fork server imports once, so that a chunk's process starts with them loaded
PRELOAD = ["torch", "hwbench.bench.gpt", "hwbench.bench.step"]
# a variant's first chunk is stopped when it runs this many times as long as predicted
STOP_FACTOR = 3.0
# ... unless it still fits this share of the budget (a large budget can afford a slow variant's chunk)
FIRST_CHUNK_SHARE = 0.3
# a chunk's time beyond its steps (forking its process, building the model, the first step's setup)
# until the first baseline chunk measures it; never assumed below this
CHUNK_OVERHEAD_S = 0.2
# a chunk may run this far past what is left of the budget before it is stopped
TIMEOUT_GRACE_S = 2.0
# a chunk's process that has not answered after this long (beyond its own timed seconds) is stopped
CHUNK_TIMEOUT_S = 180.0


class ChunkFailed(RuntimeError):
    """A chunk's failure as its process reported it: the message, and whether it ran out of memory
    (decided in the process that raised it, where the exception's type is known)."""

    def __init__(self, message: str, oom: bool = False) -> None:
        super().__init__(message)
        self.oom = oom

    def __reduce__(self) -> tuple[type, tuple[str, bool]]:  # crosses the pipe with its flag
        return (ChunkFailed, (str(self), self.oom))


# -- measuring one chunk -------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned(cpus: Sequence[int]) -> Iterator[None]:
    """Pin every thread of this process to `cpus` for the block (like taskset -c), then restore."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved: dict[int, set[int]] = {}
    try:
        for tid in (int(x) for x in os.listdir("/proc/self/task")):
            with contextlib.suppress(OSError):
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, set(cpus))
        yield
    finally:
        for tid, mask in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def _measure(cfg: GPTConfig, opts: StepOptions) -> ArmSample:
    from hwbench.bench.step import measure_step

    t0 = time.perf_counter()
    res = measure_step(cfg, opts)
    return ArmSample(
        step_times_s=tuple(res.timing.samples_s),
        flops_per_step=float(res.flops_per_step),
        wall_s=time.perf_counter() - t0,
        peak_memory_bytes=res.peak_memory_bytes,
        compile_time_s=res.compile_time_s,
    )


def measure_step_runner(
    cfg: GPTConfig, opts: StepOptions, variant: Variant | None, timeout_s: float | None = None
) -> ArmSample:
    """One chunk in this process, through bench.step.measure_step (pinned like taskset when asked).
    `timeout_s` cannot be enforced in-process: the chunk always runs to its end."""
    with pinned(variant.cpus if variant else ()):
        return _measure(cfg, opts)


def _chunk_in_child(conn: Connection, cfg: GPTConfig, opts: StepOptions, cpus: tuple[int, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent stops this process (SIGTERM), so the child
    # leaves SIGINT to it instead of printing a second traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # torch's warnings from a chunk would land in the middle of the user's report; failures come back
    # through the pipe instead
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    try:
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(cpus))  # before torch starts its threads: what taskset -c does
        conn.send(("ok", _measure(cfg, opts)))
    except Exception as e:  # OOM, an unsupported dtype: reported to the parent as the chunk's failure
        conn.send(("error", ChunkFailed(one_line(e), oom=is_oom(e))))
    finally:
        conn.close()


def _ready() -> None:
    """A child that does nothing: starting one waits until the fork server has imported PRELOAD."""


def forking_available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def start_fork_server() -> None:
    """Start the fork server without waiting for its imports, so that they overlap whatever runs next
    (the profile); importing torch takes 1-3 s on a small CPU, several times that when it is busy."""
    if forking_available():
        from multiprocessing import forkserver

        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()


class ForkedChunkRunner:
    """One chunk per fresh process, forked from a server that imported torch once (PRELOAD)."""

    method = METHOD_FORKED

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)

    def start(self) -> None:
        """Start the fork server and wait for its imports (1-3 s once), so that no chunk's time, and no
        estimate of how slow the machine is, includes them."""
        proc = self._ctx.Process(target=_ready, daemon=True)
        proc.start()
        proc.join(CHUNK_TIMEOUT_S)

    def __call__(
        self, cfg: GPTConfig, opts: StepOptions, variant: Variant | None, timeout_s: float | None = None
    ) -> ArmSample:
        recv, send = self._ctx.Pipe(duplex=False)
        cpus = variant.cpus if variant else ()
        proc = self._ctx.Process(target=_chunk_in_child, args=(send, cfg, opts, cpus), daemon=True)
        proc.start()
        send.close()
        try:
            if timeout_s is not None and not recv.poll(timeout_s):
                raise ChunkTimeout(f"stopped after {timeout_s:.1f} s")
            if not recv.poll(CHUNK_TIMEOUT_S + (opts.max_seconds or 0.0)):
                raise TimeoutError(f"the chunk's process gave no result in {CHUNK_TIMEOUT_S:.0f} s")
            try:
                status, payload = recv.recv()
            except EOFError:
                proc.join(5)
                raise RuntimeError(
                    f"the chunk's process ended without a result (exit code {proc.exitcode}; "
                    f"-9: killed, often out of memory)"
                ) from None
        finally:
            recv.close()
            if proc.is_alive():
                proc.join(2)
            if proc.is_alive():  # interrupted or timed out: stop it
                proc.terminate()
                proc.join(5)
        if isinstance(payload, ChunkFailed):
            raise payload
        if status != "ok" or not isinstance(payload, ArmSample):
            raise RuntimeError(str(payload))
        return payload


# -- scheduling ----------------------------------------------------------------------------------------


@dataclass
class Arm:
    variant: Variant
    chunks: dict[int, ArmSample] = field(default_factory=dict)  # round -> chunk
    error: str | None = None
    oom: bool = False  # its error was running out of memory (bench.oom.is_oom, decided where it was raised)
    decided: bool = False  # far slower after one round: no more rounds
    settled: bool = False  # its interval is already precise: no more rounds
    priced_out: bool = False  # two rounds of it would not fit the budget: not run at all
    stopped: str = ""  # why a chunk of it was stopped (ChunkTimeout)
    last_wall_s: float | None = None

    @property
    def open(self) -> bool:
        return not self.decided and not self.settled and not self.priced_out and self.error is None


class ExperimentRunner:
    """Interleaved rounds of chunks within a time budget; `run` returns the ExperimentsReport."""

    def __init__(
        self,
        base_cfg: GPTConfig,
        base_opts: StepOptions,
        *,
        baseline_step_s: float,
        runner: ChunkRunner | None = None,
        budget_s: float = 30.0,
        max_rounds: int = 8,
        chunk_s: float = 0.5,
        clock: Callable[[], float] = time.perf_counter,
        progress: Callable[[str], None] | None = None,
        max_batch_factor: int = 16,
    ) -> None:
        self.base_cfg, self.base_opts = base_cfg, base_opts
        self.baseline_step_s = baseline_step_s
        self.budget_s, self.max_rounds, self.chunk_s = budget_s, max_rounds, chunk_s
        self.clock, self.progress = clock, progress
        self.max_batch_factor = max_batch_factor
        self.base_batch = base_cfg.batch_size
        self.t_start = clock()
        self.run_chunk: ChunkRunner = runner or measure_step_runner
        self.method = METHOD_IN_PROCESS
        if runner is None and forking_available():
            forked = ForkedChunkRunner()
            forked.start()  # inside the budget: its time is the experiments'
            self.run_chunk, self.method = forked, METHOD_FORKED
        self.slowdown = 1.0  # how much slower than the measured run chunks are here and now
        self.overhead_s = CHUNK_OVERHEAD_S  # a chunk's wall time beyond its steps, measured on round 0
        self.base = Arm(BASELINE)
        self.bad: set[int] = set()  # rounds whose baseline chunk was contaminated
        self.arms: list[Arm] = []
        self.records: list[ChunkRecord] = []
        self.notes: list[str] = []
        self.rounds = 0
        self.base_wall_s: float | None = None  # the last baseline chunk's wall time, as it was

    # budget ---------------------------------------------------------------------------------------------

    def left(self) -> float:
        return self.budget_s - (self.clock() - self.t_start)

    def predicted_wall(self, arm: Arm) -> float:
        return chunk_plan(arm.variant, self.base_batch, self.baseline_step_s, self.chunk_s).predicted_wall_s

    def est_wall(self, arm: Arm) -> float:
        if arm.decided and arm.chunks:  # its next chunk is the short one (see `chunk`)
            return arm.chunks[max(arm.chunks)].median_s * (DECIDED_STEPS + DECIDED_WARMUP) + 0.2
        if arm.last_wall_s is not None and arm.chunks:
            # its typical step, not its wall time: one stalled step must not price a variant out
            last = arm.chunks[max(arm.chunks)]
            plan = chunk_plan(arm.variant, self.base_batch, self.baseline_step_s, self.chunk_s)
            typical = (len(last.step_times_s) + plan.warmup) * last.median_s + self.overhead_s
            return min(arm.last_wall_s, typical)
        return self.predicted_wall(arm) * self.slowdown + self.overhead_s

    def fits(self, *arms: Arm, reserve: float = 0.0) -> bool:
        return sum(self.est_wall(a) for a in arms) <= self.left() - reserve

    # one chunk ------------------------------------------------------------------------------------------

    def chunk(self, arm: Arm, rnd: int, bounded: bool = True) -> bool:
        """Run one chunk of `arm` in round `rnd`; `bounded`: stop it when it runs past the budget (a
        variant far slower than predicted), and leave its arm not measured. False when it gave nothing."""
        plan = chunk_plan(arm.variant, self.base_batch, self.baseline_step_s, self.chunk_s)
        cfg, opts = apply_variant(self.base_cfg, self.base_opts, arm.variant, plan)
        if arm.decided:  # far slower: a few steps show it again, and a full chunk would cost seconds
            opts = replace(opts, warmup=DECIDED_WARMUP, steps=DECIDED_STEPS, min_steps=DECIDED_STEPS)
        if self.progress:
            self.progress(f"experiment {arm.variant.key} (round {rnd + 1})")
        t0 = self.clock()
        timeout = max(1.0, self.left() + TIMEOUT_GRACE_S) if bounded else None
        first = arm is not self.base and not arm.chunks
        if timeout is not None and first:
            # a first chunk far longer than predicted is a variant several times slower (bf16 without
            # bf16 arithmetic: ~0.1x); it is stopped rather than let it take the others' time
            allowed = max(STOP_FACTOR * self.est_wall(arm) + 1.0, FIRST_CHUNK_SHARE * self.budget_s)
            timeout = min(timeout, allowed)
        try:
            sample = self.run_chunk(cfg, opts, None if arm is self.base else arm.variant, timeout)
        except ChunkTimeout as e:
            arm.priced_out = True
            arm.stopped = (
                f"not measured: its first chunk ran over {STOP_FACTOR:g}x as long as predicted from the "
                f"baseline and over {FIRST_CHUNK_SHARE:.0%} of the budget ({e}): far slower, or a burst of "
                f"interference"
                if first
                else f"not measured: a chunk ran past the budget ({e})"
            )
            return False
        except Exception as e:  # OOM, an unsupported dtype: the variant failed, the others go on
            arm.error = str(e) if isinstance(e, ChunkFailed) else one_line(e)
            arm.oom = e.oom if isinstance(e, ChunkFailed) else is_oom(e)
            return False
        arm.chunks[rnd] = sample
        arm.last_wall_s = self.clock() - t0
        if arm is self.base:
            self.base_wall_s = arm.last_wall_s
        self.records.append(ChunkRecord(arm.variant.key, rnd, sample.flops_per_step, sample.step_times_s))
        if arm is self.base and sample.median_s > CONTAMINATED_FACTOR * self.baseline_step_s:
            self.bad.add(rnd)
            arm.last_wall_s = self.predicted_wall(arm)  # a burst of interference does not predict the next
        elif arm is self.base and rnd == 0:
            # from the chunk's median step, which a single stalled step does not move
            self.slowdown = max(1.0, sample.median_s / max(self.baseline_step_s, 1e-6))
            # and what a chunk costs beyond its steps here (a fresh process, the model built, the first
            # step's setup): assumed small, it priced variants in that then got one round, no interval
            # (the timed steps as they ran: a stalled step is a step's time, not the chunk's overhead)
            steps_s = sum(sample.step_times_s) + plan.warmup * sample.median_s
            self.overhead_s = max(CHUNK_OVERHEAD_S, arm.last_wall_s - steps_s)
        return True

    # rounds ---------------------------------------------------------------------------------------------

    def _span(self, arm: Arm) -> float:
        iv = interval(round_obs(arm.chunks, self.base.chunks, self.bad))
        return iv[1] / iv[0] if iv else float("inf")

    def play_round(self, rnd: int) -> bool:
        """One round: a baseline chunk, then the open variants (least precise first) that fit.
        False when no round could be started."""
        open_arms = sorted((a for a in self.arms if a.open), key=self._span, reverse=True)
        # time is kept for the best combination only once two kinds of change gain
        combo_ahead = rnd > 0 and combine([self.result(a) for a in self.arms]) is not None
        reserve = COMBO_RESERVE * self.budget_s if combo_ahead else 0.0
        cheapest = min(open_arms, key=self.est_wall, default=None)
        if rnd > 0 and (cheapest is None or not self.fits(self.base, cheapest, reserve=reserve)):
            return False
        if not self.chunk(self.base, rnd):
            self.notes.append(f"experiments stopped: the baseline failed ({self.base.error})")
            return False
        if rnd == 0:
            open_arms = self.affordable(open_arms)
        for a in open_arms:
            if self.fits(a, reserve=reserve):
                self.chunk(a, rnd)
        if rnd == 1:
            # a variant decided after one round (far slower) gets a second chunk from left-over time:
            # one chunk must not set its figure alone
            for a in self.arms:
                if a.decided and a.error is None and len(a.chunks) == 1 and self.fits(a, reserve=reserve):
                    self.chunk(a, rnd)
        return True

    def affordable(self, arms: list[Arm]) -> list[Arm]:
        """The arms of which two rounds fit what is left (cheapest first); the others are priced out:
        one round gives no interval, so it would spend the budget on an inconclusive figure."""
        keep: list[Arm] = []
        cost = self.est_wall(self.base)
        for a in sorted(arms, key=self.est_wall):
            if 2 * (cost + self.est_wall(a)) <= self.left():
                keep.append(a)
                cost += self.est_wall(a)
            else:
                a.priced_out = True
        return [a for a in arms if a in keep]

    def after_round(self, rnd: int) -> None:
        for a in self.arms:
            obs = round_obs(a.chunks, self.base.chunks, self.bad)
            if rnd == 0 and obs and obs[-1].ratio() < 1.0 / DECIDED_RATIO:
                a.decided = True
            iv = interval(obs) if len(obs) >= SETTLE_ROUNDS else None
            a.settled = iv is not None and is_precise(iv)
        self.extend_batch_sweep()

    def extend_batch_sweep(self) -> None:
        measured: list[tuple[int, float]] = []
        for a in self.arms:
            if a.variant.kind != "batch" or a.error is not None:
                continue
            ratios = [o.ratio() for o in round_obs(a.chunks, self.base.chunks, self.bad)]
            if ratios:  # the median (with two rounds their mean), not the upper one of the middle pair
                measured.append((int(a.variant.config["batch_size"]), statistics.median(ratios)))
        nxt = next_batch(measured, self.base_batch, self.max_batch_factor, SWEEP_GAIN)
        if nxt is None or any(a.variant.config.get("batch_size") == nxt for a in self.arms):
            return
        unit = "tokens" if isinstance(self.base_cfg, GPTConfig) else "samples"
        arm = Arm(batch_variant(self.base_batch, nxt, unit))
        # the predicted step time must still fit a chunk, and two chunks of it what is left
        fits_a_chunk = self.baseline_step_s * nxt / self.base_batch <= max(2.0, 4 * self.chunk_s)
        if fits_a_chunk and 2 * (self.est_wall(arm) + self.est_wall(self.base)) <= self.left():
            self.arms.append(arm)

    # results --------------------------------------------------------------------------------------------

    def result(self, arm: Arm) -> ExperimentResult:
        return result_from_chunks(
            arm.variant,
            arm.chunks,
            self.base.chunks,
            self.bad,
            error=arm.error,
            oom=arm.oom,
            method=self.method,
        )

    def results(self) -> list[ExperimentResult]:
        out = [self.result(a) for a in self.arms]
        if self.base_wall_s is not None:
            busy = f"one baseline chunk took {self.base_wall_s:.1f} s"
            out = [
                _with_note(
                    r,
                    a.stopped
                    or f"not measured: the {self.budget_s:.0f} s experiment budget ran out ({busy})",
                )
                if r.verdict == "not measured"
                else r
                for r, a in zip(out, self.arms, strict=True)
            ]
        if self.bad:
            self.notes.append(
                f"{len(self.bad)} baseline chunk(s) ran over {CONTAMINATED_FACTOR:g}x slower than the "
                f"measured run (other processes or the hypervisor had the CPUs): the rounds they anchor "
                f"were left out"
            )
        return out

    def measure_combination(self, results: list[ExperimentResult]) -> ExperimentResult | None:
        combo = combine(results)
        if combo is None:
            return None
        arm = Arm(combo)
        start = self.rounds + 1  # after the closing baseline chunk
        for extra in range(SETTLE_ROUNDS):
            if not self.fits(self.base, arm):
                if extra == 0:
                    self.notes.append("best combination: not measured (over the time budget)")
                break
            self.chunk(self.base, start + extra)
            self.chunk(arm, start + extra)
        if not arm.chunks:
            return None
        if self.fits(self.base):
            self.chunk(self.base, start + len(arm.chunks))  # brackets the last combination chunk
        return self.result(arm)

    def measure_compile(self, arm: Arm) -> ExperimentResult:
        """Asked for explicitly: measured whatever the budget, two rounds (one is no interval)."""
        start = self.rounds + 10
        for extra in range(2):
            if self.progress:
                self.progress("experiment torch.compile (compiling)")
            self.chunk(self.base, start + extra, bounded=False)
            if not self.chunk(arm, start + extra, bounded=False):
                break
        self.chunk(self.base, start + 2, bounded=False)
        return self.result(arm)

    def run(
        self,
        variants: Sequence[Variant],
        skipped: Sequence[str] = (),
        compile_not_measured: str | None = None,
    ) -> ExperimentsReport:
        self.notes = list(skipped)
        compile_arms = [Arm(v) for v in variants if v.kind == "compile"]
        self.arms = [Arm(v) for v in variants if v.kind != "compile"]
        for rnd in range(self.max_rounds):
            if not self.play_round(rnd):
                if rnd == 1 and any(a.chunks for a in self.arms) and self.fits(self.base):
                    self.chunk(self.base, rnd)  # a second baseline chunk still brackets round 1's
                break
            self.rounds = rnd + 1
            self.after_round(rnd)
        measured = any(a.chunks for a in self.arms)
        if measured and self.rounds not in self.base.chunks and self.fits(self.base):
            self.chunk(self.base, self.rounds)  # closes the last round: its variants are bracketed too
        results = self.results()
        combo = self.measure_combination(results)
        if combo is not None:
            results.append(combo)
        results += [self.measure_compile(a) for a in compile_arms]
        clean = [c.median_s for r, c in sorted(self.base.chunks.items()) if r not in self.bad]
        return ExperimentsReport(
            results=tuple(results),
            baseline_chunk_s=tuple(c.median_s for _, c in sorted(self.base.chunks.items())),
            run_to_run_spread_pct=half_range_pct(clean),
            rounds=self.rounds,
            wall_s=self.clock() - self.t_start,
            budget_s=self.budget_s,
            skipped=tuple(self.notes),
            method=self.method,
            compiled=self.base_opts.compile,
            chunks=tuple(self.records),
            compile_not_measured=compile_not_measured,
        )


def _with_note(r: ExperimentResult, note: str) -> ExperimentResult:
    return replace(r, note=note)


# -- the entry point -----------------------------------------------------------------------------------


def run_experiments(
    base_cfg: GPTConfig,
    base_opts: StepOptions,
    variants: Sequence[Variant],
    *,
    baseline_step_s: float,
    runner: ChunkRunner | None = None,
    budget_s: float = 30.0,
    max_rounds: int = 8,
    chunk_s: float = 0.5,
    skipped: Sequence[str] = (),
    compile_not_measured: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
    max_batch_factor: int = 16,
) -> ExperimentsReport:
    """Run the variants interleaved with the baseline within `budget_s`; see the module docstring.

    `runner` measures one chunk (default: a fresh forked process per chunk, in-process where the
    platform cannot fork). A variant that does not fit the budget is "not measured", never guessed.
    """
    return ExperimentRunner(
        base_cfg,
        base_opts,
        baseline_step_s=baseline_step_s,
        runner=runner,
        budget_s=budget_s,
        max_rounds=max_rounds,
        chunk_s=chunk_s,
        clock=clock,
        progress=progress,
        max_batch_factor=max_batch_factor,
    ).run(variants, skipped, compile_not_measured)
