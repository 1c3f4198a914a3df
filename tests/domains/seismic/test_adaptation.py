"""Test-time adaptation: it never reads the missing traces, it is reproducible, zero steps is the plain method,
it leaves the given model alone, it lowers its own self-supervised loss, and re-masked examples are what the
docstring says."""

import numpy as np
import pytest
import torch

from domains.seismic.adaptation import Adaptation, adapt_module, remasked_example, replayed_example
from domains.seismic.baselines import linear_interpolation
from domains.seismic.data import MaskSampler, SyntheticPatchDataset
from domains.seismic.masks import random_traces
from domains.seismic.preconditioning import GuessPreconditionedDenoiser
from domains.seismic.reconstruct import reconstruct
from domains.seismic.symmetry import GridSymmetry
from domains.seismic.synthetic import synthetic_volume
from domains.seismic.trace_grid import TraceGridDenoiser
from sciddm import DiffusionModule, GaussianField, VPCosine
from sciddm.errors import ConfigError

SHAPE = (12, 10, 8)
PATCH = (8, 8, 8)
ADAPTATION = Adaptation(steps=3, lr=1e-2, hidden_fraction=0.25, batch_size=2, seed=4)


def module() -> DiffusionModule:
    torch.manual_seed(0)
    inner = TraceGridDenoiser(SHAPE[2], channels=8, dilations=(1, 2), time_dim=8, output_init=0.1)
    network = GuessPreconditionedDenoiser(inner, VPCosine(), sigma_data=0.15)
    return DiffusionModule(network, {"volume": GaussianField(VPCosine(), prediction="x0")}, ema_decay=0.99)


@pytest.fixture(scope="module")
def survey() -> tuple[np.ndarray, np.ndarray]:
    return 2.0 * synthetic_volume(SHAPE, seed=3), random_traces(SHAPE[:2], 0.5, seed=2)


def weights(model: DiffusionModule) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.sampling_network.parameters()]


def test_adaptation_never_reads_the_missing_traces(survey):
    volume, mask = survey
    other = np.where(mask[..., None], volume, 100.0 * np.random.default_rng(0).standard_normal(SHAPE))
    first = adapt_module(module(), volume, mask, PATCH, ADAPTATION, interpolate=True, symmetries=8, polarity=True)
    second = adapt_module(module(), other.astype(np.float32), mask, PATCH, ADAPTATION, interpolate=True,
                          symmetries=8, polarity=True)
    for a, b in zip(weights(first), weights(second), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_same_seed_same_weights_other_seed_other_weights_and_the_given_model_is_unchanged(survey):
    volume, mask = survey
    model = module()
    before = weights(model)
    runs = [adapt_module(model, volume, mask, PATCH, Adaptation(3, 1e-2, 0.25, 2, seed=seed), interpolate=True)
            for seed in (4, 4, 5)]
    assert all(torch.equal(a, b) for a, b in zip(weights(runs[0]), weights(runs[1]), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(runs[0]), weights(runs[2]), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(runs[0]), before, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(weights(model), before, strict=True))


def test_zero_steps_is_the_plain_reconstruction(survey):
    volume, mask = survey
    model = module()
    assert adapt_module(model, volume, mask, PATCH, Adaptation(steps=0)) is model
    options = {"overlap": 2, "interpolate": True, "symmetries": 4}
    plain = reconstruct(model, volume, mask, PATCH, "estimate", **options)
    zero = reconstruct(model, volume, mask, PATCH, "estimate", adaptation=Adaptation(steps=0), **options)
    np.testing.assert_array_equal(zero.mean, plain.mean)
    adapted = reconstruct(model, volume, mask, PATCH, "estimate", adaptation=ADAPTATION, **options)
    assert not np.allclose(adapted.mean, plain.mean)
    np.testing.assert_array_equal(adapted.mean[mask], volume[mask])


def self_supervised_loss(model: DiffusionModule, volume: np.ndarray, mask: np.ndarray) -> float:
    """The adaptation's loss on 16 fixed re-masked examples (hidden traces of the one-step estimate)."""
    rng, generator = np.random.default_rng(9), torch.Generator().manual_seed(9)
    scale = np.sqrt(np.mean(volume[mask] ** 2))
    known = np.where(mask[..., None], volume / scale, 0).astype(np.float32)
    total = 0.0
    for _ in range(16):
        context, patch, hidden = remasked_example(known, mask, PATCH, 0.25, GridSymmetry(False, False, False), 1.0,
                                                  True, rng)
        batch = {k: torch.from_numpy(v)[None, None] for k, v in context.items()}
        x_t = torch.randn((1, 1, *PATCH), generator=generator)
        with torch.no_grad():
            estimate = model.sampling_network({"volume": x_t}, torch.ones(1), batch)["volume"][0, 0].numpy()
        total += float(np.mean((estimate - patch)[hidden] ** 2))
    return total / 16


def test_adaptation_lowers_its_own_loss_on_held_out_re_maskings(survey):
    volume, mask = survey
    model = module()
    adapted = adapt_module(model, volume, mask, PATCH, Adaptation(100, 1e-2, 0.25, 4, seed=1), interpolate=True)
    before, after = self_supervised_loss(model, volume, mask), self_supervised_loss(adapted, volume, mask)
    assert after < 0.9 * before  # 0.0227 -> 0.0182 when written


def test_remasked_example_hides_a_fraction_of_the_observed_traces_of_a_mapped_patch():
    known = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3) + 1
    mask = np.zeros((4, 6), dtype=bool)
    mask[:, ::2] = True  # 12 observed traces
    known *= mask[..., None]
    flip = GridSymmetry(flip_inline=True, flip_crossline=False, transpose=False)
    context, patch, hidden = remasked_example(known, mask, (4, 6, 3), 0.25, flip, -1.0, True,
                                              np.random.default_rng(0))
    np.testing.assert_array_equal(patch, -known[::-1])
    assert hidden.sum() == 3 and np.all(mask[::-1][hidden])
    np.testing.assert_array_equal(context["mask"][..., 0], mask[::-1] & ~hidden)
    np.testing.assert_array_equal(context["observed"], np.where((mask[::-1] & ~hidden)[..., None], patch, 0))
    np.testing.assert_allclose(context["interpolated"], linear_interpolation(context["observed"],
                                                                             mask[::-1] & ~hidden))


def training_examples() -> SyntheticPatchDataset:
    return SyntheticPatchDataset(16, PATCH, seed=0, masks=MaskSampler("random", {"missing_fraction": 0.5}),
                                 interpolate=True)


def test_replayed_training_examples_hide_their_own_missing_traces_and_change_the_adapted_weights(survey):
    fields, context = training_examples()[3]
    conditions, target, hidden = replayed_example((fields, context))
    np.testing.assert_array_equal(target, fields["volume"][0].numpy())
    np.testing.assert_array_equal(hidden, context["mask"][0, ..., 0].numpy() == 0)
    assert set(conditions) == {"observed", "mask", "interpolated"} and 0 < hidden.sum() < hidden.size
    volume, mask = survey
    plain = adapt_module(module(), volume, mask, PATCH, ADAPTATION, interpolate=True)
    replaying = Adaptation(steps=3, lr=1e-2, hidden_fraction=0.25, batch_size=2, replay=2, seed=4)
    mixed = [adapt_module(module(), v, mask, PATCH, replaying, interpolate=True, replay_data=training_examples())
             for v in (volume, np.where(mask[..., None], volume, -7.0).astype(np.float32))]
    assert all(torch.equal(a, b) for a, b in zip(weights(mixed[0]), weights(mixed[1]), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(mixed[0]), weights(plain), strict=True))
    with pytest.raises(ConfigError, match="needs replay_data"):
        adapt_module(module(), volume, mask, PATCH, replaying, interpolate=True)


@pytest.mark.parametrize(("options", "message"), [
    ({"steps": -1}, "steps >= 0"),
    ({"replay": -1}, "replay >= 0"),
    ({"hidden_fraction": 1.0}, "0 < hidden_fraction < 1"),
    ({"lr": 0.0}, "lr > 0"),
])
def test_bad_adaptation_options(options, message):
    with pytest.raises(ConfigError, match=message):
        Adaptation(**{"steps": 1, **options})


def test_adaptation_needs_a_trace_mask(survey):
    volume, mask = survey
    with pytest.raises(ConfigError, match="needs a trace mask"):
        adapt_module(module(), volume, np.broadcast_to(mask[..., None], SHAPE), PATCH, ADAPTATION)


def test_adaptation_refuses_a_survey_smaller_than_the_patch(survey):
    volume, mask = survey
    with pytest.raises(ConfigError, match=r"patches \(8, 12, 8\) from the survey, which is smaller: \(12, 10, 8\)"):
        adapt_module(module(), volume, mask, (8, 12, 8), ADAPTATION)


def test_adaptation_refuses_an_unknown_symmetry_count(survey):
    volume, mask = survey
    with pytest.raises(ConfigError, match="unknown number of grid symmetries 2"):
        adapt_module(module(), volume, mask, PATCH, ADAPTATION, symmetries=2)


def test_cosine_schedule_decays_the_learning_rate_towards_zero_over_the_steps():
    cosine, constant = Adaptation(steps=4, lr=2.0, schedule="cosine"), Adaptation(steps=4, lr=2.0)
    expected = [2.0, 1 + np.cos(np.pi / 4), 1.0, 1 + np.cos(3 * np.pi / 4)]
    np.testing.assert_allclose([cosine.learning_rate(k) for k in range(4)], expected, rtol=1e-12)
    assert [constant.learning_rate(k) for k in range(4)] == [2.0] * 4


def test_cosine_schedule_changes_the_weights_only_after_its_first_step(survey):
    volume, mask = survey
    adapted = {(steps, schedule): adapt_module(module(), volume, mask, PATCH,
                                               Adaptation(steps, 1e-2, 0.25, 2, seed=4, schedule=schedule),
                                               interpolate=True)
               for steps in (1, 3) for schedule in ("constant", "cosine")}
    one_constant, one_cosine = weights(adapted[1, "constant"]), weights(adapted[1, "cosine"])
    assert all(torch.equal(a, b) for a, b in zip(one_constant, one_cosine, strict=True))
    three_constant, three_cosine = weights(adapted[3, "constant"]), weights(adapted[3, "cosine"])
    assert not all(torch.equal(a, b) for a, b in zip(three_constant, three_cosine, strict=True))


def test_unknown_adaptation_schedule():
    with pytest.raises(ConfigError, match="unknown adaptation schedule 'linear'; choose one of constant, cosine"):
        Adaptation(steps=1, schedule="linear")
