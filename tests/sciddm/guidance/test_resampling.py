"""RePaint resampling: the forward jump q(x_t|x_s) composes with q(x_s|x_0), and jumping back harmonises
inpainting (Gaussian data with its exact denoiser, where the true conditional is known in closed form)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciddm.errors import ConfigError
from sciddm.fields import GaussianField
from sciddm.guidance.inpainting import Inpainting
from sciddm.paths.categorical import CategoricalPath, Cosine
from sciddm.paths.gaussian import GaussianPath
from sciddm.sampling import Sampler, sample_fields
from sciddm.schedules import EDM, VPCosine

RHO, KNOWN = 0.95, 1.5
COVARIANCE = torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)


@pytest.mark.parametrize("schedule", [VPCosine(), EDM()], ids=["vp", "edm"])
def test_gaussian_jump_back_gives_the_forward_marginal(schedule):
    path, n, x0 = GaussianPath(schedule), 200_000, 2.0
    generator = torch.Generator().manual_seed(0)
    s, t = 0.3, 0.7
    x = torch.full((n, 1), x0, dtype=torch.float64)
    x_s = path.corrupt(x, s, torch.randn(x.shape, generator=generator, dtype=torch.float64))
    x_t = path.renoise(x_s, s, t, torch.randn(x.shape, generator=generator, dtype=torch.float64))
    alpha_t, sigma_t = (float(v) for v in path.coefficients(t, x[:1]))
    assert abs(x_t.mean().item() - alpha_t * x0) < 4 * sigma_t / n**0.5
    assert x_t.std().item() == pytest.approx(sigma_t, rel=0.01)


@pytest.mark.parametrize("prior", ["mask", "marginal"])
def test_categorical_jump_back_gives_the_forward_marginal(prior):
    path = CategoricalPath(Cosine(), 3, prior, [0.2, 0.3, 0.5] if prior == "marginal" else None)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.ones(200_000, dtype=torch.long)
    x_t = path.renoise(path.sample(x0, 0.3, generator), 0.3, 0.7, generator)
    frequencies = torch.bincount(x_t, minlength=path.num_states).double() / len(x0)
    expected = path.marginal(x0[:1], 0.7)[0]
    assert (frequencies - expected).abs().max() < 4 * (0.25 / len(x0)) ** 0.5


class ExactGaussianDenoiser(nn.Module):
    r""":math:`E[x_0\mid x_t] = \alpha C(\alpha^2C+\sigma^2I)^{-1}x_t` for :math:`x_0\sim\mathcal N(0, C)`."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def forward(self, x_t, t, context):
        alpha = self.schedule.alpha(t.double())[:, None, None]
        sigma = self.schedule.sigma(t.double())[:, None, None]
        gain = alpha * COVARIANCE @ torch.linalg.inv(alpha**2 * COVARIANCE + sigma**2 * torch.eye(2).double())
        return {"x": (gain @ x_t["x"].double()[..., None]).squeeze(-1).float()}


def inpainted_samples(sampler: Sampler, n: int = 20_000) -> tuple[torch.Tensor, int]:
    fields = {"x": GaussianField(VPCosine(), prediction="x0")}
    context = {"observed": torch.tensor([KNOWN, 0.0]).expand(n, 2), "mask": torch.tensor([1.0, 0.0]).expand(n, 2)}
    samples, nfe = sample_fields(ExactGaussianDenoiser(VPCosine()), fields, {"x": torch.zeros(n, 2)}, context,
                                 sampler, torch.Generator().manual_seed(0), hooks=[Inpainting(fields, "x")])
    assert torch.equal(samples["x"][:, 0], torch.full((n,), KNOWN))
    return samples["x"], nfe


def inpainted_unknown_mean(resample: int, solver: str = "ddpm") -> tuple[float, int]:
    samples, nfe = inpainted_samples(Sampler(solver=solver, steps=10, grid="uniform", resample=resample))
    return samples[:, 1].double().mean().item(), nfe


def test_resampling_pulls_inpainting_towards_the_true_conditional():
    """x1 | x0 = y is N(rho y, 1 - rho^2). Plain replacement with 10 steps lags far behind rho y (the generated
    coordinate ignores the known one at high noise); each jump back lets it catch up."""
    errors = {}
    for resample in (1, 3, 10):
        mean, nfe = inpainted_unknown_mean(resample)
        assert nfe == 10 * resample + 1  # r evaluations per step + the final denoising
        errors[resample] = abs(mean - RHO * KNOWN)
    assert errors[1] > 0.3
    assert errors[10] < errors[3] < errors[1] and errors[10] < 0.1


def test_resample_window_repeats_only_the_steps_starting_inside_it():
    """NFE = steps + (r - 1) x (steps whose start time lies in the window) + the final denoising, counted on the
    grid itself; the full window is plain resampling and an empty one no resampling, draw for draw."""
    def sampler(window):
        return Sampler(solver="ddpm", steps=10, grid="uniform", resample=3, resample_window=window)

    starts = sampler((0, 1)).grid_for({"x": GaussianField(VPCosine())})[:-1]
    inside = int(((starts >= 0.5) & (starts <= 1.0)).sum())
    assert 0 < inside < 10
    _, nfe = inpainted_samples(sampler((0.5, 1.0)), n=16)
    assert nfe == 10 + 2 * inside + 1
    plain, _ = inpainted_samples(Sampler(solver="ddpm", steps=10, grid="uniform", resample=3), n=16)
    assert torch.equal(inpainted_samples(sampler((0.0, 1.0)), n=16)[0], plain)
    unresampled, _ = inpainted_samples(Sampler(solver="ddpm", steps=10, grid="uniform"), n=16)
    assert torch.equal(inpainted_samples(sampler((2.0, 3.0)), n=16)[0], unresampled)


def test_resampling_refuses_multistep_solvers_and_bad_counts():
    with pytest.raises(ConfigError, match="multistep solver 'dpmpp_2m'"):
        inpainted_unknown_mean(2, solver="dpmpp_2m")
    with pytest.raises(ConfigError, match="resample must be an integer >= 1"):
        Sampler(resample=0)
    for window in [(0.6, 0.4), (-0.1, 1.0), (0.5,), "ab"]:
        with pytest.raises(ConfigError, match="resample_window must be"):
            Sampler(resample=2, resample_window=window)
