"""EDM preconditioning around a first guess: closed-form coefficients, exact low-noise limit, Gaussian MMSE."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from domains.seismic.denoisers import UNet3dDenoiser
from domains.seismic.preconditioning import GuessPreconditionedDenoiser
from sciddm import VPCosine
from sciddm.checkpoints import build_cli
from sciddm.errors import ConfigError

SHAPE = (2, 1, 4, 4, 8)


def unet(zero_output: bool) -> UNet3dDenoiser:
    torch.manual_seed(0)
    return UNet3dDenoiser(channels=(4, 8), time_dim=8, groups=2, condition_keys=("observed", "mask"),
                          zero_output=zero_output)


def context(generator: torch.Generator) -> dict[str, torch.Tensor]:
    mask = (torch.rand(SHAPE[0], 1, 4, 4, 1, generator=generator) > 0.5).float().expand(SHAPE)
    volume = torch.randn(SHAPE, generator=generator)
    return {"observed": volume * mask, "mask": mask, "interpolated": torch.randn(SHAPE, generator=generator)}


def test_with_a_zero_network_the_estimate_is_guess_plus_half_the_residual_when_noise_equals_sigma_data():
    """``s = sigma / alpha = sd`` gives ``c_skip = 1/2``: ``x0_hat = g + (x_t / alpha - g) / 2``."""
    schedule, sigma_data = VPCosine(), 0.3
    # alpha^2 / sigma^2 = 1 / sd^2
    t = schedule.t_from_log_snr(torch.full((SHAPE[0],), -2 * math.log(sigma_data))).float()
    wrapper = GuessPreconditionedDenoiser(unet(zero_output=True), schedule, sigma_data)
    generator = torch.Generator().manual_seed(1)
    given = context(generator)
    x_t = torch.randn(SHAPE, generator=generator)
    alpha = schedule.alpha(t).reshape(-1, 1, 1, 1, 1)
    expected = given["interpolated"] + (x_t / alpha - given["interpolated"]) / 2
    torch.testing.assert_close(wrapper({"volume": x_t}, t, given)["volume"], expected, rtol=1e-5, atol=1e-5)


def test_at_the_lowest_noise_any_network_reproduces_its_rescaled_input():
    """``x0_hat - x_t / alpha = (c_skip - 1) y + c_out F`` with ``c_out ~ s = exp(-15 / 2)`` at ``t = 0``."""
    schedule = VPCosine()
    wrapper = GuessPreconditionedDenoiser(unet(zero_output=False), schedule, 0.15).eval()
    generator = torch.Generator().manual_seed(2)
    given, x_t, t = context(generator), torch.randn(SHAPE, generator=generator), torch.zeros(SHAPE[0])
    alpha = schedule.alpha(t).reshape(-1, 1, 1, 1, 1)
    s = math.exp(-7.5)
    torch.testing.assert_close(wrapper({"volume": x_t}, t, given)["volume"], x_t / alpha, rtol=0, atol=2 * s)
    mid = torch.full((SHAPE[0],), 0.5)
    assert (wrapper({"volume": x_t}, mid, given)["volume"] - x_t / schedule.alpha(mid)[0]).abs().max() > 0.1


def test_untrained_estimate_has_the_gaussian_posterior_error():
    """Residual ``r ~ N(0, sd^2)``, ``y = r + s eps``: the error of ``c_skip y`` has variance
    ``sd^2 s^2 / (s^2 + sd^2)`` (the MMSE), here with ``s = 2 sd``: ``0.8 sd^2``."""
    schedule, sigma_data = VPCosine(), 0.2
    t = schedule.t_from_log_snr(torch.full((SHAPE[0],), -2 * math.log(2 * sigma_data))).float()
    wrapper = GuessPreconditionedDenoiser(unet(zero_output=True), schedule, sigma_data)
    generator = torch.Generator().manual_seed(3)
    errors = []
    for _ in range(200):
        given = context(generator)
        x0 = given["interpolated"] + sigma_data * torch.randn(SHAPE, generator=generator)
        alpha, sigma = schedule.alpha(t).reshape(-1, 1, 1, 1, 1), schedule.sigma(t).reshape(-1, 1, 1, 1, 1)
        x_t = alpha * x0 + sigma * torch.randn(SHAPE, generator=generator)
        errors.append(wrapper({"volume": x_t}, t, given)["volume"] - x0)
    variance = torch.cat(errors).pow(2).mean().item()
    assert variance == pytest.approx(0.8 * sigma_data**2, rel=0.03)


def test_condition_keys_add_the_guess_and_sigma_data_must_be_positive():
    wrapper = GuessPreconditionedDenoiser(unet(zero_output=True), VPCosine())
    assert wrapper.condition_keys == ("observed", "mask", "interpolated")
    with pytest.raises(ConfigError, match="sigma_data"):
        GuessPreconditionedDenoiser(unet(zero_output=True), VPCosine(), sigma_data=0.0)


def test_benchmark_config_builds_the_wrapper_with_the_fields_schedule(tmp_path):
    config = yaml.safe_load(Path("configs/seismic/random_traces.yaml").read_text())
    network = config["model"]["init_args"]["network"]["init_args"]
    assert network["schedule"] == config["model"]["init_args"]["fields"]["volume"]["init_args"]["schedule"]
    network["network"]["init_args"].update(channels=[4, 8], time_dim=8, groups=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    model = build_cli(["--config", str(path)]).model
    assert isinstance(model.network, GuessPreconditionedDenoiser)
    assert model.network.sigma_data == 0.15
    assert torch.count_nonzero(model.network.network.output[-1].weight) == 0
