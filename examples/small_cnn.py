"""A small CNN on CIFAR-10-sized images, for `hwbench mfu --model examples/small_cnn.py:make`.

A model file for `hwbench mfu --model` defines a factory taking no arguments that returns
`(model, inputs)` or `(model, inputs, loss_fn)`. Here: a VGG-style stack of 3x3 convolutions, a batch of
32 random 3x32x32 images and their labels, and cross-entropy as the loss. The batch dimension is
dim 0 of every input tensor, so `hwbench mfu` can also try larger batches.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64 * 8 * 8, classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(images).flatten(1))
        return F.cross_entropy(logits, labels)


def make() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The model and one batch; the model returns the loss, so no loss_fn is needed."""
    g = torch.Generator().manual_seed(0)
    images = torch.randn(32, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (32,), generator=g)
    return SmallCNN(), (images, labels)
