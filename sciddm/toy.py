r"""The toy domain: a ring of Gaussians in 2-D, with an exact density to score samples against.

Data: :math:`p(x) = \frac1K\sum_k \mathcal N(x;\ r(\cos\tfrac{2\pi k}{K}, \sin\tfrac{2\pi k}{K}),\ s^2 I)` with
``K=8``, ``r=2``, ``s=0.15`` by default: multi-modal, so a sampler that blurs or drops modes shows it.

Metrics (all exact, no learned critic):

* ``log_likelihood``: mean :math:`\log p(x)` of the samples under the true density (the data itself scores
  about :math:`-\log(2\pi s^2) - 1` per sample);
* ``mode_precision``: fraction of samples within :math:`3s` of a mode centre;
* ``modes_covered``: number of modes holding at least :math:`1/(4K)` of the samples;
* ``energy_distance`` to a reference set: :math:`2E\|X-Y\| - E\|X-X'\| - E\|Y-Y'\|` (Szekely & Rizzo).

It exists to exercise the core end to end (training, sampling, the CLI, the quickstart) in seconds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sciddm.errors import DataError
from sciddm.io import atomic_path
from sciddm.lightning.data import DiffusionDataModule
from sciddm.nn import SinusoidalTimeEmbedding
from sciddm.self_conditioning import previous_estimate


class GaussianRing:
    """The ring mixture: sampling and exact log-density."""

    def __init__(self, modes: int = 8, radius: float = 2.0, std: float = 0.15):
        self.modes, self.radius, self.std = modes, radius, std
        angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
        self.centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        which = torch.randint(self.modes, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.centers[which] + self.std * noise).float()

    def log_prob(self, x: Tensor) -> Tensor:
        d2 = torch.cdist(x.double(), self.centers).pow(2)
        log_components = -d2 / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_components, dim=1) - math.log(self.modes)

    def metrics(self, x: Tensor, reference: Tensor | None = None) -> dict[str, float]:
        x = x.double()
        distance = torch.cdist(x, self.centers)
        nearest = distance.argmin(dim=1)
        counts = torch.bincount(nearest, minlength=self.modes)
        out = {
            "num_samples": int(len(x)),
            "log_likelihood": self.log_prob(x).mean().item(),
            "mode_precision": (distance.min(dim=1).values < 3 * self.std).double().mean().item(),
            "modes_covered": int((counts >= len(x) / (4 * self.modes)).sum()),
        }
        if reference is not None:
            out["energy_distance"] = energy_distance(x, reference.double())
        return out


def energy_distance(x: Tensor, y: Tensor) -> float:
    r""":math:`2E\|X-Y\| - E\|X-X'\| - E\|Y-Y'\|` with V-statistics (0 for identical sets)."""
    return (2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()).item()


class _Points(Dataset):
    def __init__(self, points: Tensor):
        self.points = points

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.points[i]}


class ToyDataModule(DiffusionDataModule):
    """Seeded draws from :class:`GaussianRing`: ``train_size`` for training, ``val_size`` for validation."""

    sample_suffix = ".npy"

    def __init__(self, train_size: int = 8192, val_size: int = 1024, modes: int = 8, radius: float = 2.0,
                 std: float = 0.15, batch_size: int = 256, num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.ring = GaussianRing(modes, radius, std)
        generator = torch.Generator().manual_seed(seed)
        self.train_points = self.ring.sample(train_size, generator)
        self.val_points = self.ring.sample(val_size, generator)

    def train_dataloader(self):
        return self._loader(_Points(self.train_points), shuffle=True)

    def val_dataloader(self):
        return self._loader(_Points(self.val_points), shuffle=False)

    def sample_template(self, num_samples, generator=None):
        return {"x": torch.zeros(num_samples, 2)}, {}

    def evaluate_samples(self, samples, context):
        return self.ring.metrics(samples["x"].cpu(), self.val_points)

    def write_samples(self, samples, context, path):
        path = Path(path)
        with atomic_path(path) as tmp:
            np.save(tmp, samples["x"].cpu().numpy())
        return path

    def render_samples(self, samples, context, path):
        import matplotlib.pyplot as plt

        from sciddm.plotting import save_figure

        fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
        for ax, points, title in ((axes[0], self.val_points, "data"), (axes[1], samples["x"].cpu(), "samples")):
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
            ax.set_title(f"{title} (n={len(points)})")
            ax.set_aspect("equal")
        fig.tight_layout()
        return save_figure(fig, path)


class MLPDenoiser(nn.Module):
    """An MLP denoiser for flat vectors: ``[x, time embedding] -> hidden^depth -> x``-shaped output.

    With ``self_conditioning`` the previous clean estimate (zeros if none) is appended to the input
    (:mod:`sciddm.self_conditioning`).
    """

    def __init__(self, field: str = "x", dim: int = 2, hidden: int = 256, depth: int = 3, time_dim: int = 64,
                 self_conditioning: bool = False):
        super().__init__()
        self.field = field
        self.self_conditioning = self_conditioning
        self.time = SinusoidalTimeEmbedding(time_dim)
        inputs = dim * (2 if self_conditioning else 1) + time_dim
        layers: list[nn.Module] = [nn.Linear(inputs, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        layers.append(nn.Linear(hidden, dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        x = x_t[self.field]
        if self.self_conditioning:
            x = torch.cat([x, previous_estimate(context, self.field, x.shape, x)], dim=-1)
        return {self.field: self.mlp(torch.cat([x, self.time(t)], dim=-1))}


def read_points(path: Path) -> Tensor:
    """Read an [N, 2] point set from ``.npy`` or ``.csv``/``.txt`` (comma or whitespace separated)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            text = path.read_text()
            array = np.loadtxt(text.splitlines(), delimiter="," if "," in text else None, ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read points: {error}") from None
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise DataError(path, f"expected a non-empty [N, 2] array, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        raise DataError(path, "non-finite coordinates", record=int(bad[0]))
    return torch.as_tensor(array, dtype=torch.float64)


def evaluate_file(path: Path, reference: Path | None = None, **options) -> dict[str, float]:
    """``sciddm evaluate toy FILE [--reference REF]``: ring metrics of a point file."""
    ring = GaussianRing(**{k: options[k] for k in ("modes", "radius", "std") if k in options})
    return ring.metrics(read_points(path), None if reference is None else read_points(reference))
