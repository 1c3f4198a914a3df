"""A small CNN oracle ``sequence -> activity`` (e.g. ARS log2 enrichment), usable as a reward later.

:class:`SequenceCNN` reads one-hot or probability tensors [B, L, K] (so it is differentiable in the input,
as gradient guidance and DRAKES-style fine-tuning need) or token indices [B, L]. Architecture: ``depth``
same-padded 1-D convolutions with GELU (the first of width ``kernel_size``, later ones of width 3 dilated by
2, 4, ...), then masked max- and mean-pooling over positions and a linear head. :func:`fit_oracle` trains
it by mean-squared error with Adam, seeded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SequenceCNN(nn.Module):
    """Convolutional regressor over [B, L, K] inputs, returning [B] (one output) or [B, num_outputs]."""

    def __init__(
        self,
        vocab_size: int = 4,
        channels: int = 64,
        kernel_size: int = 9,
        depth: int = 3,
        num_outputs: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        layers, in_channels = [], vocab_size
        for i in range(depth):
            width, dilation = (kernel_size, 1) if i == 0 else (3, 2**i)
            layers.append(nn.Conv1d(in_channels, channels, width, padding="same", dilation=dilation))
            in_channels = channels
        self.convolutions = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * channels, num_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if x.dtype == torch.long:
            x = F.one_hot(x, self.vocab_size).float()
        keep = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask
        h = x[..., : self.vocab_size].transpose(1, 2) * keep[:, None, :]
        for convolution in self.convolutions:
            h = self.dropout(F.gelu(convolution(h))) * keep[:, None, :]
        largest = h.masked_fill(~keep[:, None, :], float("-inf")).amax(dim=-1)
        mean = h.sum(dim=-1) / keep.sum(dim=-1, keepdim=True)
        out = self.head(torch.cat([largest, mean], dim=-1))
        return out.squeeze(-1) if out.shape[-1] == 1 else out


def fit_oracle(
    model: SequenceCNN,
    tokens: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` by MSE on ``tokens`` [N, L] -> ``targets`` [N]; returns the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    tokens_t = torch.as_tensor(tokens, dtype=torch.long)
    targets_t = torch.as_tensor(targets, dtype=torch.float32)
    mask_t = None if mask is None else torch.as_tensor(mask, dtype=torch.bool)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(tokens_t), generator=generator)
        losses = []
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            prediction = model(tokens_t[rows], None if mask_t is None else mask_t[rows])
            loss = F.mse_loss(prediction, targets_t[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    model.eval()
    return history
