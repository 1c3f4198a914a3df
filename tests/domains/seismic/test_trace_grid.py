"""The trace-grid denoiser: its receptive field is the docstring's, it commutes with grid shifts, it fits in
the residual wrapper (exact at the lowest noise), and it rejects volumes of the wrong length."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from domains.seismic.preconditioning import GuessPreconditionedDenoiser
from domains.seismic.trace_grid import TraceGridDenoiser
from sciddm import VPCosine
from sciddm.checkpoints import build_cli
from sciddm.errors import ConfigError

SAMPLES, GRID = 6, 16


def network(dilations=(1, 2)) -> TraceGridDenoiser:
    torch.manual_seed(0)
    return TraceGridDenoiser(SAMPLES, channels=8, dilations=dilations, time_dim=8, output_init=0.5).double()


def inputs(generator: torch.Generator, grid: int = GRID) -> tuple[dict, torch.Tensor, dict]:
    shape = (1, 1, grid, grid, SAMPLES)
    mask = (torch.rand(1, 1, grid, grid, 1, generator=generator) > 0.5).double().expand(shape)
    volume = torch.randn(shape, generator=generator, dtype=torch.float64)
    context = {"observed": volume * mask, "mask": mask,
               "interpolated": torch.randn(shape, generator=generator, dtype=torch.float64)}
    return {"volume": torch.randn(shape, generator=generator, dtype=torch.float64)}, torch.tensor([0.7]), context


def changed_traces(model: TraceGridDenoiser, trace: tuple[int, int]) -> torch.Tensor:
    """``[GRID, GRID]`` bool: output traces that move when every input of ``trace`` is perturbed."""
    x_t, t, context = inputs(torch.Generator().manual_seed(1))
    before = model(x_t, t, context)["volume"]
    bumped = {key: value.clone() for key, value in context.items()}
    bumped["observed"][0, 0, trace[0], trace[1]] += 1.0
    after = model(x_t, t, bumped)["volume"]
    return (after - before).abs().amax(dim=-1)[0, 0] > 1e-12


def test_a_trace_influences_exactly_the_traces_within_the_sum_of_the_dilations():
    """Dilations (1, 2): offsets reachable are sums of {-1, 0, 1} and {-2, 0, 2}, i.e. every integer in
    [-3, 3]; the perturbed trace (8, 8) moves the 7 x 7 block of traces around it and nothing else."""
    model = network((1, 2))
    assert model.reach == 3
    expected = torch.zeros(GRID, GRID, dtype=torch.bool)
    expected[5:12, 5:12] = True
    assert torch.equal(changed_traces(model, (8, 8)), expected)


def test_dilations_with_gaps_leave_holes_in_the_receptive_field():
    """A single block of dilation 2 reaches offsets {-2, 0, 2} only (the 1x1 layers do not mix traces)."""
    changed = changed_traces(network((2,)), (8, 8))
    expected = torch.zeros(GRID, GRID, dtype=torch.bool)
    for di in (-2, 0, 2):
        for dj in (-2, 0, 2):
            expected[8 + di, 8 + dj] = True
    assert torch.equal(changed, expected)


def test_shifting_the_grid_shifts_the_output_away_from_the_borders():
    model = network((1, 2))
    x_t, t, context = inputs(torch.Generator().manual_seed(2), grid=GRID + 4)
    crop = lambda v, i, j: v[:, :, i:i + GRID, j:j + GRID]  # noqa: E731
    first = model({"volume": crop(x_t["volume"], 0, 0)}, t, {k: crop(v, 0, 0) for k, v in context.items()})
    second = model({"volume": crop(x_t["volume"], 4, 2)}, t, {k: crop(v, 4, 2) for k, v in context.items()})
    interior = slice(model.reach + 4, GRID - model.reach)
    torch.testing.assert_close(first["volume"][:, :, interior, interior.start - 2:interior.stop - 2],
                               second["volume"][:, :, interior.start - 4:interior.stop - 4,
                                                interior.start - 4:interior.stop - 4])


def test_inside_the_residual_wrapper_the_lowest_noise_estimate_is_the_rescaled_input():
    """``t = 0``: ``x0_hat - x_t / alpha = (c_skip - 1) y + c_out F`` with ``1 - c_skip = s^2 / (s^2 + sd^2)``
    and ``c_out < s = exp(-7.5)``, so the gap is below ``s max|F| + (s / sd)^2 max|y|`` whatever the network."""
    schedule, sigma_data = VPCosine(), 0.15
    inner = network().float()
    wrapper = GuessPreconditionedDenoiser(inner, schedule, sigma_data)
    x_t, _, context = inputs(torch.Generator().manual_seed(3))
    x_t, context = {"volume": x_t["volume"].float()}, {k: v.float() for k, v in context.items()}
    t = torch.zeros(1)
    alpha, s = schedule.alpha(t), math.exp(-7.5)
    y = x_t["volume"] / alpha - context["interpolated"]
    raw = inner({"volume": y / math.hypot(s, sigma_data)}, t, context)["volume"]
    bound = s * raw.abs().max() + (s / sigma_data) ** 2 * y.abs().max() + 1e-6
    gap = (wrapper(x_t, t, context)["volume"] - x_t["volume"] / alpha).abs().max()
    assert gap <= bound < 0.01
    assert wrapper.condition_keys == ("observed", "interpolated", "mask")


def test_a_volume_of_the_wrong_length_is_rejected():
    x_t, t, context = inputs(torch.Generator().manual_seed(4))
    with pytest.raises(ConfigError, match="6 time samples"):
        network()({"volume": x_t["volume"][..., :5]}, t, context)


def test_trace_grid_config_builds_the_wrapper_around_the_trace_grid_network(tmp_path):
    """configs/seismic/trace_grid.yaml: one patch per 32^3 volume, 32 time channels, reach 15 traces."""
    config = yaml.safe_load(Path("configs/seismic/trace_grid.yaml").read_text())
    init = config["model"]["init_args"]
    assert init["network"]["init_args"]["schedule"] == init["fields"]["volume"]["init_args"]["schedule"]
    assert config["data"]["init_args"]["patch_shape"][2] == init["network"]["init_args"]["network"]["init_args"][
        "samples"]
    init["network"]["init_args"]["network"]["init_args"]["channels"] = 4
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    model = build_cli(["--config", str(path)]).model
    assert isinstance(model.network.network, TraceGridDenoiser)
    assert model.network.network.reach == 15
    assert model.network.condition_keys == ("observed", "interpolated", "mask")
