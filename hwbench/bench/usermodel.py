"""`hwbench mfu --model FILE.py:FACTORY`: the user's own model, one training step timed (imports torch).

The factory takes no arguments and returns `(model, inputs)` or `(model, inputs, loss_fn)`: `model` an
`nn.Module`, `inputs` a tensor, a tuple/list of positional arguments or a dict of keyword arguments,
`loss_fn(output) -> scalar tensor` (default: the output itself when it is a scalar, else its mean; see
`hwbench.api.default_loss`). A step is forward, loss, backward, gradient clipping at 1.0 and an AdamW step,
timed exactly as the built-in GPT's (`hwbench.bench.step.run_steps`). FLOPs per step are counted once per
batch size by `hwbench.api.flops_per_step` (torch's FlopCounterMode), not by a formula.

The factory runs again for every measurement (fresh weights, as the built-in GPT is rebuilt), so it
should be cheap and deterministic. An exception in the user's code is reported as one `error:` line with
the user's own file and line (exit 2), never a traceback through hwbench.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hwbench.bench.config import ModelConfig
from hwbench.devices import resolve
from hwbench.errors import HwbenchError, InputError, one_line

if TYPE_CHECKING:
    import torch

    from hwbench.bench.steploop import ProgressFn, StepOptions, StepResult

_SPEC_HINT = "use --model FILE.py:FACTORY or --model package.module:FACTORY"
_HWBENCH_DIR = str(Path(__file__).resolve().parents[1])


class UserCodeError(HwbenchError):
    """The user's model file or factory raised: the message names their file and line."""


@dataclass(frozen=True)
class Built:
    """What one call of the factory returned, checked."""

    model: torch.nn.Module
    inputs: object
    loss_fn: Callable[[object], torch.Tensor] | None


def _split_spec(spec: str) -> tuple[str, str]:
    where, sep, factory = spec.rpartition(":")
    if not sep or not where or not factory.isidentifier():
        raise InputError(
            f"--model {spec!r}: expected FILE.py:FACTORY or package.module:FACTORY", hint=_SPEC_HINT
        )
    return where, factory


def _user_frame(e: BaseException, user_file: str | None) -> str | None:
    """The traceback line in the user's file (the last one), else the last one outside hwbench."""
    if isinstance(e, SyntaxError) and e.filename:
        return f'File "{e.filename}", line {e.lineno}: {(e.text or "").strip()}'
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith("<frozen")]
    mine = [f for f in frames if user_file and Path(f.filename).resolve() == Path(user_file).resolve()]
    outside = [f for f in frames if not f.filename.startswith(_HWBENCH_DIR)]
    candidates = mine or outside
    if not candidates:
        return None
    pick = candidates[-1]
    return f'File "{pick.filename}", line {pick.lineno}, in {pick.name}: {(pick.line or "").strip()}'


def _user_error(spec: str, what: str, e: BaseException, user_file: str | None) -> UserCodeError:
    where = _user_frame(e, user_file)
    return UserCodeError(
        f"--model {spec}: {what} raised {one_line(e, None)}",
        hint=where or "run the factory on its own in Python to see the full traceback",
    )


@functools.lru_cache(maxsize=8)
def load_factory(spec: str) -> tuple[Callable[[], object], str | None]:
    """The factory named by `spec` and the user's file (for error lines); imports the file once."""
    where, name = _split_spec(spec)
    user_file: str | None = None
    is_file = where.endswith(".py") or "/" in where or "\\" in where
    try:
        if is_file:
            path = Path(where).expanduser()
            if not path.is_file():
                raise InputError(f"--model {spec}: no such file {where!r}", hint=_SPEC_HINT)
            user_file = str(path)
            mod_name = f"hwbench_user_model_{abs(hash(str(path.resolve())))}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise InputError(f"--model {spec}: cannot load {where!r} as Python", hint=_SPEC_HINT)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module  # dataclasses and pickling look their module up here
            parent = str(path.resolve().parent)
            if parent not in sys.path:
                sys.path.insert(0, parent)  # the file may import its neighbours
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # as `python -m` does: the project's own packages
            module = importlib.import_module(where)
            user_file = module.__file__
    except HwbenchError:
        raise
    except ModuleNotFoundError as e:
        if not is_file and e.name is not None and where.startswith(e.name):
            raise InputError(f"--model {spec}: no module named {e.name!r}", hint=_SPEC_HINT) from None
        raise _user_error(spec, f"importing {where}", e, user_file) from None
    except Exception as e:
        raise _user_error(spec, f"importing {where}", e, user_file) from None
    factory = module.__dict__.get(name)
    if not callable(factory):
        raise InputError(f"--model {spec}: {where} has no function {name!r}", hint=_SPEC_HINT)
    return factory, user_file


def build(spec: str) -> Built:
    """Call the factory and check what it returned."""
    import torch

    factory, user_file = load_factory(spec)
    try:
        out = factory()
    except Exception as e:
        raise _user_error(spec, "the factory", e, user_file) from None
    what = type(out).__name__
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise InputError(
            f"--model {spec}: the factory returned {what}, not (model, inputs) or (model, inputs, loss_fn)",
            hint="end the factory with `return model, inputs` (or `return model, inputs, loss_fn`)",
        )
    model, inputs = out[0], out[1]
    loss_fn = out[2] if len(out) == 3 else None
    if not isinstance(model, torch.nn.Module):
        raise InputError(
            f"--model {spec}: the factory's first value is {type(model).__name__}, not an nn.Module",
            hint="return the torch.nn.Module first: `return model, inputs`",
        )
    if loss_fn is not None and not callable(loss_fn):
        raise InputError(
            f"--model {spec}: the factory's third value (loss_fn) is not callable",
            hint="return loss_fn(output) -> scalar tensor third, or leave it out for the output's mean",
        )
    return Built(model, inputs, loss_fn)


def _tensors(inputs: object) -> list[torch.Tensor]:
    import torch

    if isinstance(inputs, torch.Tensor):
        return [inputs]
    values = (
        inputs.values()
        if isinstance(inputs, Mapping)
        else inputs
        if isinstance(inputs, (tuple, list))
        else ()
    )
    return [v for v in values if isinstance(v, torch.Tensor)]


def batch_dim(inputs: object) -> int | None:
    """Dim 0 when every input tensor has it and they agree (images, tokens, labels), else None."""
    sizes = {t.shape[0] for t in _tensors(inputs) if t.dim() >= 1}
    tensors = _tensors(inputs)
    if not tensors or any(t.dim() == 0 for t in tensors) or len(sizes) != 1:
        return None
    return int(next(iter(sizes)))


def _map(inputs: object, fn: Callable[[torch.Tensor], torch.Tensor]) -> object:
    import torch

    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if isinstance(inputs, Mapping):
        return {k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(fn(v) if isinstance(v, torch.Tensor) else v for v in inputs)
    return inputs


def with_batch(inputs: object, batch: int) -> object:
    """The inputs with `batch` rows: the factory's rows repeated (or the first `batch` of them)."""
    import torch

    def scale(t: torch.Tensor) -> torch.Tensor:
        reps = math.ceil(batch / t.shape[0])
        return torch.cat([t] * reps)[:batch] if reps > 1 else t[:batch]

    return _map(inputs, scale)


def _loss_name(built: Built, output: object) -> str:
    import torch

    if built.loss_fn is not None:
        return "loss_fn from the factory"
    if isinstance(output, torch.Tensor) and output.dim() == 0:
        return "the model's scalar output"
    return "mean of the model's output (hwbench.api.default_loss)"


def describe(spec: str, batch_size: int | None = None) -> ModelConfig:
    """Build once on the CPU and describe: parameters, inputs, the batch dimension and the loss."""
    import torch

    from hwbench.api import call_model

    built = build(spec)
    factory_batch = batch_dim(built.inputs)
    if batch_size is not None:
        if factory_batch is None:
            raise InputError(
                f"--model {spec}: --batch-size needs a batch dimension, and the factory's inputs have none "
                "(not every input tensor shares its first dimension)",
                hint="drop --batch-size, or give every input tensor the batch as its first dimension",
            )
        if batch_size < 1:
            raise InputError(
                f"--batch-size must be a positive integer, got {batch_size}", hint="e.g. --batch-size 8"
            )
    try:
        with torch.no_grad():
            output = call_model(built.model, built.inputs)
    except Exception as e:
        raise _user_error(spec, "the model's forward", e, load_factory(spec)[1]) from None
    inputs = tuple(f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)}" for t in _tensors(built.inputs))
    return ModelConfig(
        spec=spec,
        name=type(built.model).__name__,
        n_params=sum(p.numel() for p in built.model.parameters() if p.requires_grad),
        batch_size=batch_size or factory_batch,
        factory_batch_size=factory_batch,
        inputs=inputs,
        loss=_loss_name(built, output),
    )


# (spec, batch size, device kind) -> FLOPs per step: counting is one extra step, and the experiments
# measure the same model many times
_FLOPS: dict[tuple[str, int | None, str], float] = {}


def count_flops(cfg: ModelConfig, device: str) -> float:
    """FlopCounterMode's count of one step at cfg.batch_size (once per spec, batch and device kind)."""
    from hwbench.api import flops_per_step

    key = (cfg.spec, cfg.batch_size, device.split(":")[0])
    cache = _FLOPS
    if key not in cache:
        built = build(cfg.spec)
        inputs = built.inputs if cfg.batch_size is None else with_batch(built.inputs, cfg.batch_size)
        model = built.model.to(device)
        try:
            cache[key] = flops_per_step(model, _map(inputs, lambda t: t.to(device)), built.loss_fn)
        except HwbenchError:
            raise
        except Exception as e:
            raise _user_error(cfg.spec, "a training step", e, load_factory(cfg.spec)[1]) from None
    return cache[key]


def measure_model_step(cfg: ModelConfig, opts: StepOptions, progress: ProgressFn | None = None) -> StepResult:
    """Build the user's model on opts.device, warm up and time training steps (as `measure_step`)."""
    import torch

    from hwbench.api import call_model, default_loss
    from hwbench.bench.steploop import autocast, check_options, precision, run_steps, step_result, sync_fn

    check_options(opts)
    if cfg.factory_batch_size is None and cfg.batch_size is not None:
        raise InputError(
            f"--model {cfg.spec}: the batch cannot be changed: the factory's inputs have no batch dimension "
            "(not every input tensor shares its first dimension)",
            hint="drop --batch-size, or give every input tensor the batch as its first dimension",
        )
    device = opts.device
    fps = count_flops(cfg, device)
    with precision(device, opts.dtype, opts.threads):
        torch.manual_seed(opts.seed)
        resolve(device).reset_peak_memory()
        built = build(cfg.spec)
        model = built.model.to(device)
        model.train()
        inputs = built.inputs if cfg.batch_size is None else with_batch(built.inputs, cfg.batch_size)
        inputs = _map(inputs, lambda t: t.to(device))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, fused=True if opts.fused_adamw else None)
        scaler = resolve(device).grad_scaler(enabled=opts.dtype == "fp16")
        fwd: Callable[..., object] = torch.compile(model) if opts.compile else model
        ctx = autocast(device, opts.dtype)
        loss_of = built.loss_fn or default_loss
        last_loss: list[torch.Tensor] = []

        def step(i: int) -> None:
            with ctx:
                loss = loss_of(call_model(fwd, inputs))
            scaler.scale(loss).backward()
            if opts.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, opts.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            last_loss[:] = [loss.detach()]

        try:
            loop = run_steps(step, sync_fn(device), opts, progress)
        except (HwbenchError, KeyboardInterrupt):
            raise
        except Exception as e:
            if "out of memory" in str(e).lower():
                raise  # the caller halves the batch
            raise _user_error(cfg.spec, "a training step", e, load_factory(cfg.spec)[1]) from None
    return step_result(cfg, opts, loop, fps, last_loss)
