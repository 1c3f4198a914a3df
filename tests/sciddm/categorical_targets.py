"""A known distribution over short token sequences and its exact denoiser, for categorical path/solver tests."""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from sciddm.paths.categorical import CategoricalPath


class ToySequences:
    """An arbitrary distribution ``probs`` over all ``K**L`` sequences of ``L`` tokens (seeded Dirichlet)."""

    def __init__(self, num_classes: int = 3, length: int = 3, concentration: float = 0.5, seed: int = 0):
        self.num_classes, self.length = num_classes, length
        self.states = torch.tensor(list(itertools.product(range(num_classes), repeat=length)))  # [S, L]
        generator = torch.Generator().manual_seed(seed)
        gamma = torch._standard_gamma(torch.full((len(self.states),), concentration, dtype=torch.float64),
                                      generator=generator)
        self.probs = gamma / gamma.sum()

    @property
    def entropy(self) -> float:
        """H(p) in nats."""
        p = self.probs[self.probs > 0]
        return float(-(p * p.log()).sum())

    def index(self, x: Tensor) -> Tensor:
        """Row index in ``states`` of each sequence ``x`` [B, L]."""
        weights = self.num_classes ** torch.arange(self.length - 1, -1, -1)
        return (x.long() * weights).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.states[torch.multinomial(self.probs, n, replacement=True, generator=generator)]

    def histogram(self, x: Tensor) -> Tensor:
        return torch.bincount(self.index(x), minlength=len(self.states)).double() / len(x)

    def posterior_marginals(self, path: CategoricalPath, x_t: Tensor, t: Tensor) -> Tensor:
        """Exact :math:`q(x_0^i\\mid x_t)` [B, L, K] under the path at per-sample times ``t`` [B]."""
        classes = torch.arange(self.num_classes)
        q = path.marginal(classes.expand(len(x_t), -1), t.double()).double()  # [B, K, M]: q(x_t = m | x0 = k)
        token = torch.gather(q.transpose(1, 2), 1, x_t.long()[..., None].expand(-1, -1, self.num_classes))
        likelihood = torch.stack([token[:, i, self.states[:, i]] for i in range(self.length)], -1).prod(-1)
        posterior = likelihood * self.probs
        posterior = posterior / posterior.sum(-1, keepdim=True)
        one_hot = nn.functional.one_hot(self.states, self.num_classes).double()  # [S, L, K]
        return torch.einsum("bs,slk->blk", posterior, one_hot)


class ExactDenoiser(nn.Module):
    """The network ``{field: one-hot x_t} -> {field: log q(x_0|x_t)}`` of a :class:`ToySequences` target."""

    def __init__(self, target: ToySequences, path: CategoricalPath, field: str = "x"):
        super().__init__()
        self.target, self.path, self.field = target, path, field

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        states = x_t[self.field].argmax(-1)
        marginals = self.target.posterior_marginals(self.path, states, t)
        return {self.field: marginals.clamp_min(1e-300).log()}
