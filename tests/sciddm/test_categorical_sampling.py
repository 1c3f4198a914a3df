"""Discrete solvers: sampling with the exact denoiser of a known distribution reproduces it; the cached sampler
reuses outputs exactly and counts its evaluations; ReMDM keeps the forward marginals; symmetric edge fields."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.paths.categorical import Cosine, LogLinear
from sciddm.sampling import Sampler, sample_fields
from sciddm.solvers.categorical import Remasking, make_categorical_solver, tempered
from tests.sciddm.categorical_targets import ExactDenoiser, ToySequences
from tests.sciddm.guidance.test_categorical_gradient import product_target

TARGET = ToySequences(num_classes=3, length=3, concentration=0.5, seed=0)
MARGINAL = [0.2, 0.5, 0.3]


def toy_field(prior: str, schedule=None) -> CategoricalField:
    return CategoricalField(3, prior, schedule or LogLinear(), MARGINAL if prior == "marginal" else None)


def draw(field, network, solver: str, n: int, steps: int, seed: int = 0):
    sampler = Sampler(steps=steps, categorical_solver=solver)
    template = {"x": torch.zeros(n, TARGET.length, dtype=torch.long)}
    with torch.no_grad():
        samples, nfe = sample_fields(network, {"x": field}, template, {}, sampler, torch.Generator().manual_seed(seed))
    return samples["x"], nfe


def total_variation(samples: torch.Tensor) -> float:
    return float(0.5 * (TARGET.histogram(samples) - TARGET.probs).abs().sum())


@pytest.mark.parametrize(("prior", "solver", "schedule"), [
    ("mask", "ancestral", LogLinear()),
    ("mask", "cached", LogLinear()),
    ("mask", "remdm:eta=0.05", LogLinear()),
    ("mask", "remdm:eta=0.5,strategy=rescale", Cosine()),
    ("uniform", "ancestral", LogLinear()),
    ("marginal", "ancestral:final=greedy", Cosine()),
])
def test_exact_denoiser_reproduces_the_distribution(prior, solver, schedule):
    """6000 draws over the 27 sequences: sampling noise alone gives TV ~ 0.02; the per-token factorised steps
    add a small bias that vanishes with the step size. A denoiser that ignores correlations fails the same bound."""
    field = toy_field(prior, schedule)
    samples, nfe = draw(field, ExactDenoiser(TARGET, field.path), solver, 6000, 200)
    assert total_variation(samples) < 0.045
    if solver.startswith(("ancestral", "remdm")):
        assert nfe == 200


def test_a_denoiser_without_correlations_is_detected():
    field = toy_field("mask")
    exact = ExactDenoiser(TARGET, field.path)
    all_masked = {"x": F.one_hot(torch.full((1, 3), 3), 4).float()}
    independent = exact(all_masked, torch.ones(1), {})["x"]  # per-token marginals, whatever x_t is
    samples, _ = draw(field, lambda inputs, t, context: {"x": independent.expand(len(t), -1, -1)}, "ancestral", 6000,
                      200)
    assert total_variation(samples) > 0.1


class Recorder(torch.nn.Module):
    """Wraps a network and records the inputs of every call."""

    def __init__(self, network):
        super().__init__()
        self.network, self.inputs = network, []

    def forward(self, inputs, t, context):
        self.inputs.append(inputs["x"].argmax(-1))
        return self.network(inputs, t, context)


def test_cached_sampler_skips_exactly_the_unchanged_samples():
    """The exact mask-prior denoiser does not depend on t, so caching changes nothing in the samples; the cached
    run evaluates exactly the rows whose tokens changed since the previous step (and nothing when none did)."""
    field = toy_field("mask")
    plain, cached = Recorder(ExactDenoiser(TARGET, field.path)), Recorder(ExactDenoiser(TARGET, field.path))
    x_plain, nfe_plain = draw(field, plain, "ancestral", 16, 300, seed=3)
    x_cached, nfe_cached = draw(field, cached, "cached", 16, 300, seed=3)
    assert torch.equal(x_plain, x_cached)
    assert nfe_plain == 300 == len(plain.inputs)
    states = torch.stack(plain.inputs)  # [steps, B, L]: the state at every step
    changed = (states[1:] != states[:-1]).any(-1)  # [steps - 1, B]
    assert nfe_cached == len(cached.inputs) == 1 + int(changed.any(-1).sum())
    assert sum(len(x) for x in cached.inputs) == 16 + int(changed.sum())
    assert nfe_cached < 300 / 3


def test_greedy_single_step_takes_the_most_likely_class_per_token():
    field = toy_field("mask")
    network = ExactDenoiser(TARGET, field.path)
    marginals = network({"x": F.one_hot(torch.full((1, 3), 3), 4).float()}, torch.ones(1), {})["x"][0]
    samples, nfe = draw(field, network, "ancestral:final=greedy", 5, 1)
    assert nfe == 1 and torch.equal(samples, marginals.argmax(-1).expand(5, -1))


@pytest.mark.parametrize(("eta", "strategy"), [(0.05, "cap"), (0.9, "cap"), (0.5, "rescale"), (1.0, "rescale")])
def test_remasking_keeps_the_forward_marginals(eta, strategy):
    """sum_{x_t} q(x_t|x0) T(x_s|x_t, x0) = q(x_s|x0) for the ReMDM transition with the true x0 (Wang et al. 2025)."""
    field = toy_field("mask", Cosine())
    path = field.path
    solver = Remasking(eta=eta, strategy=strategy)
    for t, s in ((0.9, 0.6), (0.4, 0.1), (1.0, 0.5)):
        for x0 in range(3):
            probs = F.one_hot(torch.tensor([x0] * 4), 3).double()
            states = torch.arange(4)
            transition = solver.transition(path, states, t, s, probs)  # [4, M]
            torch.testing.assert_close(transition.sum(-1), torch.ones(4, dtype=torch.float64))
            q_t = path.marginal(torch.tensor(x0), t)
            torch.testing.assert_close(q_t @ transition, path.marginal(torch.tensor(x0), s))


def test_tempering_closed_forms():
    probs = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]], dtype=torch.float64)
    torch.testing.assert_close(tempered(probs, 0.5)[0], torch.tensor([0.04, 0.64, 0.0], dtype=torch.float64) / 0.68)
    root = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64).sqrt()
    torch.testing.assert_close(tempered(probs, 2.0)[1], root / root.sum())
    assert tempered(probs, 1.0) is probs
    torch.testing.assert_close(tempered(probs, 0.01), F.one_hot(probs.argmax(-1), 3).double())
    tiny = torch.tensor([1e-30, 1e-30], dtype=torch.float32)  # no underflow of the normaliser
    torch.testing.assert_close(tempered(tiny, 0.05), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize(("prior", "solver", "steps"), [
    ("mask", "ancestral:temperature=0.5", 50),
    ("mask", "remdm:eta=0.05,temperature=0.5", 50),
    ("marginal", "ancestral:temperature=0.5", 1),
    ("uniform", "ancestral:temperature=2", 1),
])
def test_tempered_sampling_of_a_product_target_draws_the_tempered_marginals(prior, solver, steps):
    """For a product distribution the exact posterior of a token still hidden by the path is its marginal
    pi_i, so every token is drawn from tempered(pi_i): under the mask prior at any step count (ReMDM remasks, but
    its re-draws come from the same tempered marginal), and in one step from pure noise under any prior."""
    target, marginals = product_target(seed=4)
    field = CategoricalField(3, prior, LogLinear(), MARGINAL if prior == "marginal" else None)
    samples, _ = draw(field, ExactDenoiser(target, field.path), solver, 6000, steps)
    temperature = float(solver.rpartition("temperature=")[2])
    expected = tempered(marginals, temperature)
    frequencies = F.one_hot(samples, 3).double().mean(0)
    torch.testing.assert_close(frequencies, expected, atol=0.025, rtol=0)  # 6000 draws: s.e. <= 0.0065
    assert (expected - marginals).abs().max() > 0.05  # the tempering is visible at this tolerance


@pytest.mark.parametrize(("spec", "message"), [
    ("gibbs", "unknown categorical solver 'gibbs'"),
    ("remdm:eta", "must be written key=value"),
    ("ancestral:eta=0.1", "unknown option(s) ['eta']"),
    ("ancestral:final=mode", "final step must be one of sample, greedy"),
    ("ancestral:temperature=0", "sampling temperature must be finite and > 0, got 0.0"),
    ("ancestral:temperature=inf", "sampling temperature must be finite and > 0, got inf"),
    ("remdm:strategy=loop", "unknown remasking strategy 'loop'"),
])
def test_bad_solver_specs(spec, message):
    with pytest.raises(ConfigError) as error:
        make_categorical_solver(spec)
    assert message in str(error.value)


def test_mask_only_solvers_refuse_other_priors():
    with pytest.raises(ConfigError, match="'cached' needs the mask prior"):
        toy_field("uniform").make_solver(Sampler(categorical_solver="cached"))


# ------------------------------------------------------------------------------------------- symmetric fields
def edge_batch(generator):
    node_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    upper = torch.randint(3, (2, 5, 5), generator=generator).triu(1)
    x0 = upper + upper.transpose(1, 2)
    pair = node_mask[:, :, None] & node_mask[:, None, :]
    return torch.where(pair, x0, 2), {"node_mask": node_mask}, pair & ~torch.eye(5, dtype=torch.bool)


def assert_symmetric_edges(x, like, real):
    """Symmetric, and the diagonal and padded pairs hold their original values."""
    assert torch.equal(x, x.transpose(1, 2))
    assert torch.equal(x[~real], like[~real])


@pytest.mark.parametrize("prior", ["mask", "uniform"])
def test_symmetric_edge_fields_stay_symmetric(prior):
    generator = torch.Generator().manual_seed(0)
    field = CategoricalField(3, prior, symmetric=True, mask_key="node_mask")
    x0, context, real = edge_batch(generator)
    for t in (0.2, 0.7, 1.0):
        x_t, _ = field.corrupt(x0, torch.full((2,), t), context, generator)
        assert_symmetric_edges(x_t, x0, real)
    assert_symmetric_edges(field.prior(x0, context, generator), x0, real)

    weights = torch.randn(field.path.num_states, 5, 5, 3, generator=generator)  # deliberately not symmetric

    def network(inputs, t, context):
        return {"e": torch.einsum("bijm,mijk->bijk", inputs["e"], weights)}

    samples, nfe = sample_fields(network, {"e": field}, {"e": x0}, context, Sampler(steps=25), generator)
    assert nfe == 25
    assert_symmetric_edges(samples["e"], x0, real)
    assert (samples["e"][real] < 3).all()


def test_symmetric_loss_scores_each_real_pair_once():
    generator = torch.Generator().manual_seed(1)
    field = CategoricalField(3, "mask", symmetric=True, mask_key="node_mask")
    x0, context, real = edge_batch(generator)
    t = torch.tensor([0.6, 0.9])
    x_t, aux = field.corrupt(x0, t, context, generator)
    logits = torch.randn(2, 5, 5, 4, generator=generator)
    loss = field.loss(logits, x0, x_t, aux, t, context)
    per_token = field.token_losses(logits, x0, x_t, t)
    upper = real & torch.ones(5, 5, dtype=torch.bool).triu(1)
    expected = torch.stack([per_token[b][upper[b]].mean() for b in range(2)])
    torch.testing.assert_close(loss, expected)
    # logits on the diagonal and on padded pairs do not matter
    noise = torch.randn(2, 5, 5, 4, generator=generator) * (~real)[..., None]
    torch.testing.assert_close(field.loss(logits + noise, x0, x_t, aux, t, context), loss)
