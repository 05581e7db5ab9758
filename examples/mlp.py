"""A 3-layer MLP with an explicit loss_fn, for `hwbench mfu --model examples/mlp.py:make`.

The factory's third value is the loss: it receives the model's output and returns a scalar tensor. It
must not assume the batch size, because `hwbench mfu` also tries larger batches (it repeats the rows of
every input tensor along dim 0).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def loss_fn(output: torch.Tensor) -> torch.Tensor:
    """Regression of every output towards 1 (a stand-in for a real target)."""
    return (output.float() - 1.0).pow(2).mean()


def make() -> tuple[nn.Module, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(512, 1024), nn.GELU(), nn.Linear(1024, 1024), nn.GELU(), nn.Linear(1024, 1)
    )
    return model, torch.randn(256, 512), loss_fn
