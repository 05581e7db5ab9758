"""GPT model configurations and presets (no torch import: the CLI validates before loading torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hwbench.errors import InputError


@dataclass(frozen=True)
class GPTConfig:
    """A nanoGPT-architecture model and the batch it trains on."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # T, sequence length
    batch_size: int  # B, sequences per step (no gradient accumulation)
    vocab_size: int
    bias: bool = False  # nanoGPT train.py default: bias = False
    dropout: float = 0.0

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size

    def validate(self) -> GPTConfig:
        for name in SIZES:
            check_size(name, getattr(self, name))
        if self.n_embd % self.n_head != 0:
            raise InputError(
                f"n_embd ({self.n_embd}) is not divisible by n_head ({self.n_head})",
                hint="each head gets n_embd / n_head channels; pick e.g. "
                f"--n-embd {self.n_head * max(1, round(self.n_embd / self.n_head))}",
            )
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(
                f"dropout must be in [0, 1), got {self.dropout}",
                hint="e.g. 0.0 (nanoGPT's setting for benchmarks) or 0.1",
            )
        return self

    def with_overrides(self, **overrides: Any) -> GPTConfig:
        """Replace the fields given (None values are ignored), then validate."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes).validate()

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_embd": self.n_embd,
            "block_size": self.block_size,
            "batch_size": self.batch_size,
            "vocab_size": self.vocab_size,
            "bias": self.bias,
            "dropout": self.dropout,
        }


SIZES = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "vocab_size")


def check_size(name: str, v: object) -> None:
    """InputError unless `v` is a positive integer; `name` is one of SIZES."""
    if not isinstance(v, int) or v < 1:
        flag = name.replace("_", "-")
        raise InputError(
            f"{flag} must be a positive integer, got {v!r}",
            hint=f"e.g. --{flag} {getattr(PRESETS['nanogpt-cpu'], name)} (the nanogpt-cpu preset's)",
        )


def divisor_near(n: int, k: int) -> int:
    """The divisor of `n` nearest `k` (the larger on a tie): a head count that fits n_embd `n`."""
    if n < 1:
        return 1
    k = min(max(k, 1), n)
    for delta in range(min(k, 10_000)):
        for d in (k + delta, k - delta):
            if 1 <= d <= n and n % d == 0:
                return d
    return 1


@dataclass(frozen=True)
class ModelConfig:
    """A user's model from `hwbench mfu --model FILE.py:FACTORY`, as the factory built it."""

    spec: str  # "examples/small_cnn.py:make", "package.module:factory"
    name: str  # the model's class name
    n_params: int  # trainable parameters
    batch_size: int | None  # dim 0 shared by every input tensor; None: no batch dimension known
    factory_batch_size: int | None  # the factory's own; batch_size differs under --batch-size/experiments
    inputs: tuple[str, ...]  # "float32[32, 3, 32, 32]" per input tensor
    loss: str  # "mean of the output", "the scalar output", "loss_fn from the factory"

    @property
    def tokens_per_step(self) -> int:
        """Samples per step (the batch), standing in for tokens where there are none."""
        return self.batch_size or 1

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.spec,
            "name": self.name,
            "n_params": self.n_params,
            "inputs": list(self.inputs),
            "loss": self.loss,
        }
        if self.batch_size is not None:  # absent (not null): no batch dimension to vary
            d["batch_size"] = self.batch_size
        return d


# Sources: nanoGPT README "I only have a macbook" CPU command (--block_size=64 --batch_size=12
# --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0) on shakespeare_char (vocab 65, from its meta.pkl);
# config/train_shakespeare_char.py (L6 H6 C384 T256 B64); config/train_gpt2.py (B12 T1024, vocab padded
# to 50304 in model.py). bias=False is train.py's default; GPT-2 checkpoints use bias=True, but the
# training-from-scratch default is what nanoGPT runs.
PRESETS: dict[str, GPTConfig] = {
    "nanogpt-cpu": GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, vocab_size=65),
    "shakespeare-char": GPTConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, vocab_size=65
    ),
    "gpt2-124m": GPTConfig(
        n_layer=12, n_head=12, n_embd=768, block_size=1024, batch_size=12, vocab_size=50304
    ),
}

PRESET_NOTES: dict[str, str] = {
    "nanogpt-cpu": "nanoGPT README CPU command (shakespeare_char, L4 H4 C128 T64 B12, vocab 65)",
    "shakespeare-char": "nanoGPT config/train_shakespeare_char.py (L6 H6 C384 T256 B64, vocab 65)",
    "gpt2-124m": "nanoGPT config/train_gpt2.py micro-batch (L12 H12 C768 T1024 B12, vocab 50304)",
}


def preset(name: str) -> GPTConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}", hint=f"choose one of: {', '.join(PRESETS)}") from None
